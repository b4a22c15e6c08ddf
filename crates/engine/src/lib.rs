//! Cairn's engine: everything between "here are some files" and "here are the
//! passages that answer the question", with no UI dependency.
//!
//! - [`Engine`]: opens a data directory and an embedder; [`Engine::ingest`],
//!   [`Engine::search`], [`Engine::documents`], [`Engine::remove`].
//! - [`ingest`]: incremental sync of files and folders (unchanged files are skipped
//!   by size/mtime and content hash, changed ones replaced, deleted ones removed).
//! - [`search`]: hybrid retrieval, BM25 and vectors in parallel, fused.
//! - [`eval`]: BEIR-style evaluation (nDCG@10, recall@5/10, MRR) used to tune fusion.
//! - [`verify`]: read-only consistency check of the catalogue against both stores.
//!
//! The engine is async at its boundary because LanceDB is; CPU-bound work (loading,
//! chunking, embedding, BM25) runs on blocking threads.

pub mod ask;
pub mod bench;
pub mod eval;
pub mod ingest;
pub mod search;
pub mod verify;

pub use cairn_core::{fusion::FusionConfig, ChunkConfig, SearchHit};
pub use cairn_store::{DocEntry, DocStatus, OpenMode, RepairReport, StoreStats};
pub use ingest::{CancelFlag, FileFailure, IngestReport, Progress};
pub use search::SearchMode;

use cairn_core::Embedder;
use cairn_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] cairn_core::EmbedError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("background task failed: {0}")]
    Task(String),
    #[error("answer generation failed: {0}")]
    Answer(String),
    #[error("evaluation set {path}: {reason}")]
    EvalSet { path: PathBuf, reason: String },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the index lives and how documents are cut and searched.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub chunk: ChunkConfig,
    pub fusion: FusionConfig,
    pub load: cairn_load::LoadOptions,
    pub walk: cairn_load::WalkOptions,
    /// Chunks embedded and written together; larger batches amortise commits.
    pub batch_chunks: usize,
    /// Candidates taken from each retriever before fusion.
    pub candidates: usize,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            chunk: ChunkConfig::default(),
            fusion: FusionConfig::default(),
            load: cairn_load::LoadOptions::default(),
            walk: cairn_load::WalkOptions::default(),
            batch_chunks: 512,
            candidates: 50,
        }
    }
}

/// The default data directory: `$CAIRN_DATA_DIR`, else the OS data dir
/// (`~/.local/share/cairn` on Linux).
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("cairn")
}

/// An open index plus the embedder that built it.
pub struct Engine {
    cfg: EngineConfig,
    embedder: Arc<dyn Embedder>,
    store: Store,
}

impl Engine {
    /// Opens the data directory with the given embedder. `OpenMode::Write` takes the
    /// writer lock and repairs any interrupted write.
    pub async fn open(
        cfg: EngineConfig,
        embedder: Arc<dyn Embedder>,
        mode: OpenMode,
    ) -> Result<Self> {
        let store = Store::open(
            &cfg.data_dir,
            embedder.model_id(),
            embedder.dimension(),
            mode,
        )
        .await?;
        Ok(Engine {
            cfg,
            embedder,
            store,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// All documents in the catalogue, sorted by path.
    pub fn documents(&self) -> Vec<DocEntry> {
        self.store.documents()
    }

    pub async fn stats(&self) -> Result<StoreStats> {
        Ok(self.store.stats().await?)
    }

    /// Runs the consistency check and repair explicitly.
    pub async fn repair(&self) -> Result<RepairReport> {
        Ok(self.store.repair().await?)
    }

    /// Picks up changes written by another process.
    pub async fn refresh(&self) -> Result<()> {
        Ok(self.store.refresh().await?)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
