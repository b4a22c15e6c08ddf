//! Conformance with llama.cpp on every family Cairn claims (llama, Llama 3 rope
//! frequency factors, qwen2, qwen3, phi3, gemma3), on small random-weight GGUF
//! files with real tensor names, metadata and block types.
//!
//! `tests/conformance/make_models.py` writes the files (deterministically, with
//! numpy and gguf from the models venv); `tests/conformance/reference.json` holds
//! llama.cpp's logits and greedy tokens on them, recorded by `reference.py`
//! with llama-cpp-python. This test regenerates the files, checks they are the
//! ones the reference was computed on (sha256), and holds Cairn to llama.cpp:
//! the logits after the prompt within a small tolerance, and the greedy tokens
//! wherever llama.cpp's choice is clear.

use cairn_llm::{GenParams, LoadOptions, LocalModel};
use std::path::{Path, PathBuf};
use std::process::Command;

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The Python that has numpy and gguf: the models venv scripts/setup.sh makes,
/// or `$CAIRN_CONFORMANCE_PYTHON`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_CONFORMANCE_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::home_dir().expect("HOME");
    home.join(".cache/cairn/venv/bin/python")
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The token ids under `key` of a reference entry.
fn ids(r: &serde_json::Value, key: &str) -> Vec<u32> {
    r[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|v| v.as_u64().expect("a token id") as u32)
        .collect()
}

/// The numbers under `key` of a reference entry.
fn floats(r: &serde_json::Value, key: &str) -> Vec<f32> {
    r[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|v| v.as_f64().expect("a number") as f32)
        .collect()
}

#[test]
fn every_family_matches_llama_cpp_on_small_random_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let py = python();
    let made = Command::new(&py)
        .arg(here().join("make_models.py"))
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{} (run scripts/setup.sh): {e}", py.display()));
    assert!(
        made.status.success(),
        "make_models.py failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(here().join("reference.json")).expect("reference.json"),
    )
    .expect("reference JSON");
    let models = reference["models"].as_object().expect("models");
    assert_eq!(models.len(), 6, "every claimed family has a reference");
    for (family, r) in models {
        let path = dir.path().join(r["file"].as_str().expect("file"));
        assert_eq!(
            sha256(&path),
            r["sha256"].as_str().expect("sha256"),
            "{family}: the generated file differs from the one llama.cpp was run on \
             (numpy or gguf version?); run reference.py again"
        );
        let mut model = LocalModel::load(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        let prompt = ids(r, "prompt");
        let want = floats(r, "logits");
        let got = model
            .logits(&prompt)
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        assert_eq!(got.len(), want.len(), "{family}: vocabulary size");
        let spread = want.iter().cloned().fold(f32::MIN, f32::max)
            - want.iter().cloned().fold(f32::MAX, f32::min);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("{family}: logits within {worst:.4} of llama.cpp's (spread {spread:.1})");
        assert!(
            worst <= 0.03 * spread,
            "{family}: a logit differs from llama.cpp's by {worst} (spread {spread})"
        );
        // Greedy continuation, teacher-forced on llama.cpp's tokens.
        let greedy = ids(r, "greedy");
        let margins = floats(r, "margins");
        let mut ids = prompt.clone();
        for (step, (&next, &margin)) in greedy.iter().zip(&margins).enumerate() {
            let logits = model.logits(&ids).expect("logits");
            let best = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .expect("a vocabulary");
            if margin > 0.05 * spread {
                assert_eq!(
                    best, next,
                    "{family}: greedy token {step} differs from llama.cpp's"
                );
            }
            ids.push(next);
        }
        // The teacher-forced steps above each continued from the cached
        // prefix: the cache holds `ids` but its last token, so only that token
        // runs, in every family Cairn's own decoders run.
        let shared = ids.len() - 1;
        let params = GenParams {
            max_new_tokens: 1,
            temperature: 0.0,
            ignore_stop_tokens: true,
            ..GenParams::default()
        };
        let stats = model
            .generate(&ids, &params, &mut |_| std::ops::ControlFlow::Continue(()))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        assert_eq!(stats.cached_prompt_tokens, shared, "{family}: prefix reuse");
        // A prompt sharing only two tokens keeps those two, except where a
        // sliding-window layer (gemma3's, 4 positions here) no longer holds
        // them: then it starts over.
        let mut other = prompt[..2].to_vec();
        other.push(prompt[2] ^ 1);
        other.extend(prompt[3..].iter().rev());
        let stats = model
            .generate(
                &other,
                &params,
                &mut |_| std::ops::ControlFlow::Continue(()),
            )
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        let expected = if family == "gemma3" { 0 } else { 2 };
        assert_eq!(
            stats.cached_prompt_tokens, expected,
            "{family}: a short shared prefix"
        );
    }
}
