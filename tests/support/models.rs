//! Where `models/fetch.sh` installed the models, for the tests and benchmarks of
//! the crates below the engine (`cairn-embed`, `cairn-llm`), which cannot ask the
//! engine. The rule is the engine's (`cairn_engine::models::default_models_dir`,
//! the one that the app and the CLI follow): `$CAIRN_MODELS_DIR`, else
//! `~/.cache/cairn/models`. The engine's own tests check that the two agree.

use std::path::PathBuf;

/// The installed models folder.
pub fn installed_models_dir() -> PathBuf {
    match std::env::var_os("CAIRN_MODELS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::home_dir()
            .expect("HOME or CAIRN_MODELS_DIR must be set to find the models")
            .join(".cache/cairn/models"),
    }
}
