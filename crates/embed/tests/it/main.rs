//! Integration tests with the real installed model and ONNX Runtime (installed by
//! `models/fetch.sh`). They fail, with instructions, when the models are not installed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cairn_core::{Embedder, TokenCounter};
use cairn_embed::{EmbedError, EmbedderConfig, FastEmbedder, FP32_GRAPH, INT8_GRAPH};

#[path = "../../../../tests/support/models.rs"]
mod models;

/// Cosine every reference sentence must reach with the fp32 graph (the export itself
/// reaches 0.9999999).
const MIN_COSINE: f32 = 0.9999;
/// The same for the int8 graph: 0.987-0.997 on the sentences, 0.972 on the empty text.
const MIN_COSINE_INT8: f32 = 0.97;

fn models_dir() -> PathBuf {
    let dir = models::installed_models_dir();
    let config = EmbedderConfig::new(&dir);
    assert!(
        config.model_dir.join(FP32_GRAPH).is_file()
            && config.model_dir.join(INT8_GRAPH).is_file()
            && config.ort_library.is_file(),
        "the embedding model is not installed under {}: run `models/fetch.sh` \
         (or set CAIRN_MODELS_DIR to an installed models directory)",
        dir.display()
    );
    dir
}

/// One embedder shared by the tests, to pay the model load once.
fn embedder() -> &'static FastEmbedder {
    static EMBEDDER: OnceLock<FastEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| FastEmbedder::open(&models_dir()).expect("open installed model"))
}

struct Reference {
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
    tokens_with_special: Vec<usize>,
}

fn reference() -> Reference {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/reference/all-minilm-l6-v2.json");
    let text = std::fs::read_to_string(&path).expect("read reference vectors");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse reference vectors");
    let strings = |key: &str| -> Vec<String> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    Reference {
        sentences: strings("sentences"),
        vectors: json["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect(),
        tokens_with_special: json["tokens_with_special"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap() as usize)
            .collect(),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// The fp32 graph's embedder.
fn fp32_embedder() -> &'static FastEmbedder {
    static EMBEDDER: OnceLock<FastEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        FastEmbedder::open_with(EmbedderConfig {
            graph: FP32_GRAPH.into(),
            ..EmbedderConfig::new(&models_dir())
        })
        .expect("open installed fp32 model")
    })
}

fn check_against_reference(e: &FastEmbedder, min_cosine: f32) -> f32 {
    let reference = reference();
    let texts: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
    let vectors = e.embed_passages(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    let mut lowest = f32::INFINITY;
    for ((text, got), want) in texts.iter().zip(&vectors).zip(&reference.vectors) {
        let c = cosine(got, want);
        lowest = lowest.min(c);
        assert!(
            c >= min_cosine,
            "{}: cosine {c} < {min_cosine} against sentence-transformers for {text:?}",
            e.model_id()
        );
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "vector not unit length: {norm}");
    }
    lowest
}

#[test]
fn reference_sentences_match_sentence_transformers() {
    let lowest = check_against_reference(fp32_embedder(), MIN_COSINE);
    eprintln!("fp32: lowest cosine against sentence-transformers: {lowest:.7}");
    let lowest = check_against_reference(embedder(), MIN_COSINE_INT8);
    eprintln!("int8: lowest cosine against sentence-transformers: {lowest:.7}");
    // The int8 graph really is another graph: its vectors are close, not equal.
    assert!(lowest < 0.9999, "int8 vectors identical to fp32: {lowest}");
}

#[test]
fn model_id_and_dimension_describe_minilm() {
    assert_eq!(fp32_embedder().model_id(), "all-MiniLM-L6-v2@384");
    let e = embedder();
    assert_eq!(e.model_id(), "all-MiniLM-L6-v2/model-int8@384");
    assert_eq!(e.dimension(), 384);
    assert_eq!(e.embed_query("what is a cairn?").unwrap().len(), 384);
}

#[test]
fn order_is_preserved_across_length_sorted_batches() {
    // Small batches force several runs, and the lengths are mixed so sorting reorders them.
    // The fp32 graph: its vectors do not depend on batch-mates, so batching can be
    // checked to the last digit (the int8 graph runs one text per call, see below).
    let config = EmbedderConfig {
        batch_size: 3,
        threads: Some(1),
        graph: FP32_GRAPH.into(),
        ..EmbedderConfig::new(&models_dir())
    };
    let small = FastEmbedder::open_with(config).unwrap();
    let long = "word ".repeat(300);
    let texts = [
        "a much longer sentence about configuring the firewall on a home router",
        "short",
        long.as_str(),
        "medium length text on gardening",
        "x",
        "the quarterly report shows revenue growth in three regions and a loss in one",
        "",
    ];
    let batched = small.embed_passages(&texts).unwrap();
    for (text, got) in texts.iter().zip(&batched) {
        let alone = fp32_embedder().embed_query(text).unwrap();
        let c = cosine(got, &alone);
        assert!(
            c > 0.99999,
            "vector for {text:?} moved in batching: cosine {c}"
        );
    }
}

#[test]
fn an_int8_vector_does_not_depend_on_what_it_is_embedded_with() {
    // The int8 graph quantizes activations with one scale per call; one text per
    // call keeps each vector the same however the texts arrive.
    let long = "the harbour wall was rebuilt after the storm of 1953 ".repeat(12);
    let texts = ["short text", long.as_str(), "a medium sentence about tides"];
    let together = embedder().embed_passages(&texts).unwrap();
    for (text, got) in texts.iter().zip(&together) {
        let alone = embedder().embed_query(text).unwrap();
        let c = cosine(got, &alone);
        assert!(c > 0.99999, "vector for {text:?} moved: cosine {c}");
    }
}

#[test]
fn paraphrase_is_closer_than_unrelated_sentence() {
    let v = embedder()
        .embed_passages(&[
            "How do I change my account password?",
            "What are the steps to reset the password of my account?",
            "The recipe needs two cups of flour and a pinch of salt.",
        ])
        .unwrap();
    let paraphrase = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    assert!(
        paraphrase > unrelated + 0.3,
        "paraphrase {paraphrase} vs unrelated {unrelated}"
    );
}

#[test]
fn token_counts_match_the_reference_tokenizer() {
    let reference = reference();
    for (text, with_special) in reference
        .sentences
        .iter()
        .zip(&reference.tokens_with_special)
    {
        // The reference counts include [CLS] and [SEP]; count_tokens excludes them and does not
        // truncate (the long sentence has more than 256 tokens).
        assert_eq!(
            embedder().count_tokens(text),
            with_special - 2,
            "token count for {text:?}"
        );
    }
}

#[test]
fn empty_input_gives_no_vectors() {
    assert!(embedder().embed_passages(&[]).unwrap().is_empty());
}

#[test]
fn opening_twice_in_one_process_works() {
    let dir = models_dir();
    let a = FastEmbedder::open(&dir).unwrap();
    let b = FastEmbedder::open(&dir).unwrap();
    let va = a.embed_query("same runtime, two sessions").unwrap();
    let vb = b.embed_query("same runtime, two sessions").unwrap();
    assert!(cosine(&va, &vb) > 0.99999);
}

/// An embedder opened on a copy of the model folder made in `dir`, so that a
/// test can replace or take away its files; and the copy's path.
fn embedder_on_a_private_copy(dir: &Path) -> (FastEmbedder, PathBuf) {
    let config = EmbedderConfig::new(&models_dir());
    let copy = dir.join("all-minilm-l6-v2");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&config.model_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let e = FastEmbedder::open_with(EmbedderConfig {
        model_dir: copy.clone(),
        ..config
    })
    .unwrap();
    (e, copy)
}

/// Replaces `file` with itself plus one byte, as an upgrade would replace it.
fn grow(file: &Path) {
    let mut grown = std::fs::read(file).unwrap();
    grown.push(0);
    std::fs::write(file, grown).unwrap();
}

#[test]
fn a_reopened_session_gives_the_same_vectors_and_a_refused_reopen_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (e, copy) = embedder_on_a_private_copy(dir.path());
    let texts = [
        "a long passage about tides ".repeat(40),
        "short".to_string(),
    ];
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let before = e.embed_passages(&refs).unwrap();
    Embedder::release_memory(&e).unwrap();
    let after = e.embed_passages(&refs).unwrap();
    for (a, b) in before.iter().zip(&after) {
        assert!(cosine(a, b) > 0.99999);
    }
    // A model file replaced since the start is not reopened (an index's vectors
    // must all come from one model), nor is a missing one.
    grow(&copy.join(INT8_GRAPH));
    let err = e.release_memory().unwrap_err();
    assert!(
        err.to_string().contains("changed since it was opened"),
        "{err}"
    );
    std::fs::remove_file(copy.join(INT8_GRAPH)).unwrap();
    let err = e.release_memory().unwrap_err();
    assert!(err.to_string().contains(INT8_GRAPH), "{err}");
    // The session in use is untouched.
    let still = e.embed_query("short").unwrap();
    assert!(cosine(&still, &after[1]) > 0.99999);
}

#[test]
fn an_idle_session_is_unloaded_and_the_next_call_loads_it_again() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (e, copy) = embedder_on_a_private_copy(dir.path());
    let before = e.embed_query("the tide comes in twice a day").unwrap();
    // Used just now: kept for a keep-alive of a minute, dropped for none.
    assert!(!Embedder::unload_if_idle(&e, Duration::from_secs(60)).unwrap());
    assert!(Embedder::unload_if_idle(&e, Duration::ZERO).unwrap());
    assert!(
        !e.unload_if_idle(Duration::ZERO).unwrap(),
        "nothing left to drop"
    );
    // Counting tokens does not need the session.
    assert_eq!(e.count_tokens("the sea"), 2);
    let after = e.embed_query("the tide comes in twice a day").unwrap();
    assert!(cosine(&before, &after) > 0.99999);
    // Warming up loads it ahead of a call; an already loaded one is kept.
    assert!(e.unload_if_idle(Duration::ZERO).unwrap());
    Embedder::warm_up(&e).unwrap();
    Embedder::warm_up(&e).unwrap();
    assert!(
        e.unload_if_idle(Duration::ZERO).unwrap(),
        "warm_up loaded it"
    );
    // A loaded session whose graph file was replaced (a package upgrade) is
    // kept: it could not be opened again, and searches go on working.
    e.warm_up().unwrap();
    grow(&copy.join(INT8_GRAPH));
    assert!(!e.unload_if_idle(Duration::ZERO).unwrap());
    let still = e.embed_query("the tide comes in twice a day").unwrap();
    assert!(cosine(&still, &before) > 0.99999);
}

#[test]
fn missing_model_dir_gives_model_not_found() {
    let empty = tempfile::tempdir().unwrap();
    let err = FastEmbedder::open(empty.path()).unwrap_err();
    match err {
        EmbedError::ModelNotFound { path, reason } => {
            assert!(
                path.starts_with(&empty.path().display().to_string()),
                "{path}"
            );
            assert!(reason.contains("models/fetch.sh"), "{reason}");
        }
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
}

#[test]
fn missing_onnx_file_is_named() {
    // A model folder with everything but the graph: the error must name that file.
    let dir = tempfile::tempdir().unwrap();
    let installed = EmbedderConfig::new(&models_dir());
    let model_dir = dir.path().join("all-minilm-l6-v2");
    std::fs::create_dir(&model_dir).unwrap();
    for name in [
        "tokenizer.json",
        "config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(installed.model_dir.join(name), model_dir.join(name)).unwrap();
    }
    let config = EmbedderConfig {
        model_dir,
        ..installed
    };
    match FastEmbedder::open_with(config).unwrap_err() {
        EmbedError::ModelNotFound { path, .. } => assert!(path.ends_with(INT8_GRAPH), "{path}"),
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
}
