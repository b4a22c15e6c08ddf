//! Integration tests with the real model files installed by `models/fetch.sh`
//! (into `~/.cache/cairn/models`, or `$CAIRN_MODELS_DIR`).

mod conformance;
mod generation;
#[path = "../../../../tests/support/models.rs"]
mod models;
mod tokenizer;

use std::path::PathBuf;

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const QWEN2: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
pub const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";

/// Path of an installed model; panics with set-up instructions when missing.
pub fn model_path(file: &str) -> PathBuf {
    let path = models::installed_models_dir().join(file);
    assert!(
        path.is_file(),
        "model {file} is not installed at {}: run models/fetch.sh (or set CAIRN_MODELS_DIR)",
        path.display()
    );
    path
}

/// Folder of committed test data.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
