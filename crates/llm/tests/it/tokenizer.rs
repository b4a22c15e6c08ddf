//! Our GGUF-built tokenizers against llama.cpp's ids
//! (recorded by `tests/data/make_reference_tokens.py`).

use std::path::Path;

use cairn_llm::{TextTokenizer, TokenizerKind};

use crate::{data_dir, model_path, GEMMA3, QWEN2, SMOLLM2};

fn check_against_llama_cpp(model: &str) {
    let tok = TextTokenizer::from_gguf(&model_path(model)).expect("tokenizer builds");
    let stem = Path::new(model)
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("model name has a stem");
    let json_path = data_dir()
        .join("reference_tokens")
        .join(format!("{stem}.json"));
    let json = std::fs::read_to_string(&json_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", json_path.display()));
    let record: serde_json::Value = serde_json::from_str(&json).expect("valid json");
    let cases = record["cases"].as_array().expect("cases array");
    assert!(
        cases.len() >= 40,
        "too few reference cases: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let special = case["special"].as_bool().expect("special flag");
        let want: Vec<u32> = case["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        let got = if special {
            tok.encode_with_specials(text)
        } else {
            tok.encode(text)
        }
        .expect("encode");
        if got != want {
            failures.push(format!(
                "{text:?} (special={special}):\n  llama.cpp {want:?}\n  ours      {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{model}: {} of {} strings differ from llama.cpp:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn smollm2_tokenizer_matches_llama_cpp() {
    check_against_llama_cpp(SMOLLM2);
}

#[test]
fn qwen2_tokenizer_matches_llama_cpp() {
    check_against_llama_cpp(QWEN2);
}

#[test]
fn gemma3_tokenizer_matches_llama_cpp() {
    check_against_llama_cpp(GEMMA3);
}

#[test]
fn tokenizer_families_are_detected() {
    let smol = TextTokenizer::from_gguf(&model_path(SMOLLM2)).expect("smollm2 tokenizer");
    assert_eq!(smol.kind(), TokenizerKind::ByteLevelBpe);
    let gemma = TextTokenizer::from_gguf(&model_path(GEMMA3)).expect("gemma tokenizer");
    assert_eq!(gemma.kind(), TokenizerKind::SentencePiece);
}

#[test]
fn decoding_round_trips_text() {
    let text = "Grüße, 世界! 👍🏽  code:\n\tx = 1";
    for model in [SMOLLM2, QWEN2, GEMMA3] {
        let tok = TextTokenizer::from_gguf(&model_path(model)).expect("tokenizer");
        let ids = tok.encode(text).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), text, "{model}");
    }
}

#[test]
fn streaming_detokenizer_never_splits_characters() {
    // Emoji and CJK take several byte tokens in byte-level BPE; every piece
    // handed out must be valid text and together they must rebuild the input.
    let text = "🎉 日本語 ok 👨‍👩‍👧";
    let tok = TextTokenizer::from_gguf(&model_path(SMOLLM2)).expect("tokenizer");
    let ids = tok.encode(text).expect("encode");
    assert!(ids.len() > text.chars().count(), "expected byte tokens");
    let mut stream = cairn_llm::TokenStream::new();
    let mut pieces = Vec::new();
    for id in ids {
        if let Some(p) = stream.push(&tok, id).expect("push") {
            assert!(!p.contains('\u{FFFD}'), "broken piece {p:?}");
            pieces.push(p);
        }
    }
    if let Some(p) = stream.finish(&tok).expect("finish") {
        pieces.push(p);
    }
    assert_eq!(pieces.concat(), text);
}

/// The compact byte-level BPE gives the ids (and the text back) of the
/// `tokenizers` crate's BPE on whole documents: HTML, Markdown, licences,
/// Rust, and text in other scripts.
fn check_compact_against_crate_bpe(model: &str) {
    let path = model_path(model);
    let compact = TextTokenizer::from_gguf(&path).expect("compact tokenizer");
    let reference = TextTokenizer::from_gguf_with_crate_bpe(&path)
        .expect("crate tokenizer")
        .expect("a byte-level vocabulary");
    assert_eq!(compact.vocab_size(), reference.vocab_size());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut texts: Vec<String> = [
        "tests/eval/corpus/jansson-conformance.html",
        "tests/eval/corpus/sqlite-autoinc.html",
        "assets/samples/apache-2.0.txt",
        "assets/samples/welcome.md",
        "ARCHITECTURE.md",
        "docs/BENCHMARKS.md",
        "crates/llm/src/tokenizer.rs",
        "crates/kernels/src/x86.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("read {f}: {e}")))
    .collect();
    texts.extend(
        [
            "Grüße aus Köln — naïve café, 東京都の人口は約1400万人です。Привет, мир! مرحبا 👋🏽🇫🇷",
            "    indented\n\n\n\t\ttabs   and   spaces    \r\n",
            "1234567890 3.14159 1e-10 0x1F ===========++++++++------------",
            "<|im_start|>user\nnot a control token<|im_end|>",
            "don't won't I'LL we'Re it's 'quoted'",
        ]
        .map(String::from),
    );
    texts.push("-".repeat(5000));
    let mut tokens = 0;
    for text in &texts {
        let want = reference.encode(text).expect("encode");
        let got = compact.encode(text).expect("encode");
        assert_eq!(
            got,
            want,
            "{model}: ids differ on {:?}…",
            &text[..text.len().min(60)]
        );
        assert_eq!(
            compact.decode(&got).expect("decode"),
            reference.decode(&want).expect("decode")
        );
        tokens += got.len();
    }
    assert!(tokens > 50_000, "{tokens} tokens compared");
    for spelling in ["hello", "Ġthe", "<|im_end|>", "not-a-token-at-all"] {
        assert_eq!(compact.token_id(spelling), reference.token_id(spelling));
    }
}

#[test]
fn qwen2_compact_bpe_matches_the_crate_bpe() {
    check_compact_against_crate_bpe(QWEN2);
}

#[test]
fn smollm2_compact_bpe_matches_the_crate_bpe() {
    check_compact_against_crate_bpe(SMOLLM2);
}
