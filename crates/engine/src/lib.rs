//! Cairn's engine: everything between "here are some files" and "here is the
//! answer, with its sources", with no UI dependency. It is the whole API of the
//! shells: the `cairn` CLI and the desktop app depend on this crate (and the
//! desktop on `cairn-ipc` for its window's messages), never on the crates below.
//!
//! - [`Engine`]: opens a data directory ([`Engine::open_with_models`]);
//!   [`Engine::ingest`], [`Engine::search`], [`Engine::ask`],
//!   [`Engine::documents`], [`Engine::remove`].
//! - [`models`]: the models folder (location, listing, default answer model,
//!   loading) and [`AnswerModel`], the one loaded answer model of a process.
//! - [`ask`]: grounded answers with citations, and the calibrated answer
//!   defaults ([`ask::AskOptions`]).
//! - [`library`]: what the index holds, read back only for catalogued documents
//!   (source pages, the files themselves, re-indexing).
//! - [`ingest`]: incremental sync of files and folders (unchanged files are skipped
//!   by size/mtime and content hash, changed ones replaced, deleted ones removed).
//! - [`search`]: hybrid retrieval, BM25 and vectors in parallel, fused.
//! - [`verify`]: read-only consistency check of the catalogue against both stores.
//!
//! The engine is async at its boundary because LanceDB is; CPU-bound work (loading,
//! chunking, embedding, generation) runs on blocking threads, and so does every
//! blocking store operation (inside `cairn-store`).

pub mod answerability;
pub mod ask;
pub mod evidence;
pub mod ingest;
pub mod library;
pub mod models;
pub mod search;
pub mod upgrade;
pub mod verify;

pub use cairn_core::fusion::{FusionConfig, FusionMethod};
pub use cairn_core::prompt::{Citation, Passage};
pub use cairn_core::support;
pub use cairn_core::{now_ms, Chunk, ChunkConfig, Embedder, Format, SearchHit};
pub use cairn_llm::{FinishReason, ModelInfo};
pub use cairn_store::{
    write_atomic, DocEntry, DocStatus, OpenMode, RepairReport, StoreError, StoreStats, INDEX_FORMAT,
};
pub use ingest::{CancelFlag, FileFailure, FileOutcome, IngestReport, Progress};
pub use library::SourcePage;
pub use models::{system_models_dir, AnswerModel, ModelEntry, ModelStatus, ModelsDir};
pub use search::SearchMode;
pub use upgrade::UpgradeProgress;

use cairn_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] cairn_core::EmbedError),
    /// The embedding model is not installed (or does not load) in the models folder.
    #[error("cannot load the embedding model from {models_dir}: {source}. Run scripts/setup.sh (or models/fetch.sh) to install it")]
    EmbedderMissing {
        models_dir: PathBuf,
        #[source]
        source: cairn_core::EmbedError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file in the index could not be read again (for the source pane).
    #[error(transparent)]
    Load(#[from] cairn_load::LoadError),
    /// A path that is not a document of the index.
    #[error("{path} is not in your library")]
    NotInLibrary { path: String },
    /// A document has no such page any more (the file changed since indexing).
    #[error("{path} has no page {page} any more; re-index it")]
    NoSuchPage { path: String, page: u32 },
    #[error("cancelled")]
    Cancelled,
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the question is empty")]
    EmptyQuestion,
    /// No usable answer model is installed.
    #[error(
        "no answer model in {models_dir}: run models/fetch.sh, or copy a GGUF model file there"
    )]
    NoAnswerModel { models_dir: PathBuf },
    /// An answer model failed to load.
    #[error("cannot load the model {path}: {source}")]
    Model {
        path: PathBuf,
        #[source]
        source: cairn_llm::LlmError,
    },
    /// A GGUF file that cannot answer questions.
    #[error("{path} cannot be used as an answer model: {problem}")]
    UnusableModel { path: PathBuf, problem: String },
    /// The question does not fit the model's context.
    #[error("answer generation failed: {0}")]
    Prompt(#[from] cairn_core::prompt::PackError),
    #[error("answer generation failed: {source}")]
    Generation {
        #[source]
        source: cairn_llm::LlmError,
    },
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
            load: cairn_load::LoadOptions {
                // PDF and the zip formats are parsed in `cairn-load-worker`
                // when it is installed beside the running program.
                worker: std::env::current_exe()
                    .ok()
                    .and_then(|exe| cairn_load::worker::find_worker(&exe)),
                ..cairn_load::LoadOptions::default()
            },
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

/// How long the embedding model stays loaded with nothing to embed, in a
/// process that calls [`Engine::unload_idle_embedder`] (the desktop app): a
/// conversation's questions come closer together than this, and typing a new
/// question loads it again ahead of the search ([`Engine::warm_up_embedder`]).
pub const EMBEDDER_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(60);

/// An open index plus the embedder that built it: the API of the CLI and the
/// desktop app. It owns every policy they share (see the crate docs).
pub struct Engine {
    cfg: EngineConfig,
    embedder: Arc<dyn Embedder>,
    store: Store,
}

impl Engine {
    /// Opens the data directory with the given embedder. `OpenMode::Write` takes the
    /// writer lock and repairs any interrupted write. An index built with another
    /// embedding model is re-embedded first ([`Engine::open_with_progress`] reports
    /// how far that is).
    pub async fn open(
        cfg: EngineConfig,
        embedder: Arc<dyn Embedder>,
        mode: OpenMode,
    ) -> Result<Self> {
        Self::open_with_progress(cfg, embedder, mode, &|_| {}).await
    }

    async fn open_store(
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

    /// Opens the data directory with the embedder installed in `models`: what
    /// the CLI and the desktop app do.
    pub async fn open_with_models(
        cfg: EngineConfig,
        models: &ModelsDir,
        mode: OpenMode,
    ) -> Result<Self> {
        Self::open_with_models_and_progress(cfg, models, mode, &|_| {}).await
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

    /// Gives working memory back to the operating system: the embedder's buffers
    /// (sized by the largest batch it ran) and the heap pages freed since. For
    /// long-lived processes once an ingest is over: the desktop app calls it when
    /// an indexing job of 64 or more passages ends (124–146 MiB given back after
    /// the 746 passages of `tests/eval/corpus`, `cairn bench memory`). Takes
    /// 260–330 ms there.
    pub async fn release_memory(&self) -> Result<()> {
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || {
            let reopened = embedder.release_memory();
            cairn_kernels::release_free_memory();
            reopened
        })
        .await??;
        Ok(())
    }

    /// Drops the embedding model when no search or ingest has used it for
    /// [`EMBEDDER_KEEP_ALIVE`], and gives the heap pages freed back to the
    /// system: about 40 MiB of an idle window (docs/BENCHMARKS.md). For long-lived
    /// processes, on a timer; returns whether it dropped it. The next search or
    /// ingest opens it again (260-330 ms), or [`Engine::warm_up_embedder`] does
    /// ahead of it.
    pub async fn unload_idle_embedder(&self) -> Result<bool> {
        let embedder = self.embedder.clone();
        let dropped = tokio::task::spawn_blocking(move || {
            let dropped = embedder.unload_if_idle(EMBEDDER_KEEP_ALIVE)?;
            if dropped {
                cairn_kernels::release_free_memory();
            }
            Ok::<_, cairn_core::EmbedError>(dropped)
        })
        .await??;
        Ok(dropped)
    }

    /// Opens the embedding model again if [`Engine::unload_idle_embedder`]
    /// dropped it: the desktop app calls it when a question is being typed.
    pub async fn warm_up_embedder(&self) -> Result<()> {
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || embedder.warm_up()).await??;
        Ok(())
    }

    /// Compaction, old-version pruning and vector index upkeep; ingest runs it
    /// after every change, so callers only need it after [`Engine::write_embedded`].
    pub async fn optimize(&self) -> Result<()> {
        Ok(self.store.optimize().await?)
    }
}
