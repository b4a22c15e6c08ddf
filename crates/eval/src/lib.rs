//! Cairn's measurement harness, built only on the engine's public API (the
//! same API the CLI and the desktop app use), so what it measures is what
//! people get:
//!
//! - [`set`]: a BEIR-style evaluation set on disk (`tests/eval`).
//! - [`retrieval`]: nDCG@10, recall and MRR of the engine's rankings.
//! - [`answers`]: grading generated answers (expected facts, citations,
//!   "not in your documents") and running a whole set through
//!   [`cairn_engine::Engine::ask`].
//! - [`synthetic`]: generated corpora for search benchmarks at scale.
//!
//! `cairn eval` and `cairn bench` are the front ends.

pub mod answers;
pub mod retrieval;
pub mod set;
pub mod synthetic;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error(transparent)]
    Engine(#[from] cairn_engine::EngineError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The evaluation set is malformed.
    #[error("evaluation set {path}: {reason}")]
    Set { path: PathBuf, reason: String },
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> EvalError {
    EvalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn set_err(path: &Path, reason: impl Into<String>) -> EvalError {
    EvalError::Set {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
