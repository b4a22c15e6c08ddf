//! Sentence embeddings for Cairn, computed locally with fastembed on ONNX Runtime.
//!
//! - [`FastEmbedder`]: implements [`cairn_core::Embedder`] and [`cairn_core::TokenCounter`] for
//!   all-MiniLM-L6-v2 (384 dimensions, mean pooling, unit-length vectors, 256 tokens at most).
//!   By default it runs the int8 graph ([`INT8_GRAPH`], built by `models/fetch.sh` from the fp32
//!   export): 1.3-1.9x the fp32 graph's speed, a quarter of its size (~70 MiB less resident), with retrieval quality
//!   unchanged on `tests/eval`. The two graphs give slightly different vectors, so each has its
//!   own [`Embedder::model_id`] and an index records which one built it.
//! - [`EmbedderConfig`]: where the model and the ONNX Runtime library are, and how to run them.
//!
//! Nothing here downloads anything: the model files and `libonnxruntime.so` must already be
//! installed by `models/fetch.sh`, and a missing file is reported as
//! [`EmbedError::ModelNotFound`] naming that file. ONNX Runtime is loaded from the given library
//! path once per process and shared by every embedder.
//!
//! Embedding is synchronous and CPU-bound, and uses every core through ONNX Runtime's intra-op
//! threads; call it from a blocking thread, never directly on an async executor.

mod runtime;

pub use runtime::disable_runtime_telemetry;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

pub use cairn_core::EmbedError;
use cairn_core::{Embedder, TokenCounter, WordCounter};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use tokenizers::Tokenizer;

/// Result type of this crate.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// Folder of the default embedding model inside the models directory.
pub const MODEL_DIR_NAME: &str = "all-minilm-l6-v2";
/// The model's canonical name, used in [`Embedder::model_id`].
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The fp32 graph written by `models/export_minilm_onnx.py`.
pub const FP32_GRAPH: &str = "model.onnx";
/// The int8 graph (weights int8 per output channel, activations quantized per call) that
/// `models/fetch.sh` derives from the fp32 one; what Cairn runs by default.
pub const INT8_GRAPH: &str = "model-int8.onnx";
/// all-MiniLM-L6-v2 was trained on sequences of at most 256 tokens; longer inputs are truncated.
pub const DEFAULT_MAX_LENGTH: usize = 256;
/// Texts per ONNX Runtime call with the int8 graph: one. Its activations are quantized with one
/// scale per call, computed over every text (and padding) in it, so a text's vector would
/// depend on what it was batched with; alone, it is the same whenever it is embedded. One per
/// call was also the fastest measured (~205-token texts, 2 threads: 105.8 chunks/s, 99.4 with 8).
pub const DEFAULT_BATCH_SIZE: usize = 1;
/// Texts per call that suit the fp32 graph ([`FP32_GRAPH`]): batches are length-sorted, so
/// padding waste stays small, and 8 per call measured fastest (35.5 chunks/s against 29.6 for 32).
pub const FP32_BATCH_SIZE: usize = 8;

/// Files the embedder reads from the model directory besides the graph (fastembed's
/// user-defined model needs all).
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// How to open a [`FastEmbedder`].
///
/// Start from [`EmbedderConfig::new`] and override fields with struct update syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderConfig {
    /// Folder with the graph, `tokenizer.json`, `config.json`, `special_tokens_map.json`
    /// and `tokenizer_config.json`.
    pub model_dir: PathBuf,
    /// The ONNX graph's file name inside `model_dir` ([`INT8_GRAPH`] by default). Any graph
    /// but [`FP32_GRAPH`] gets its own model id (`all-MiniLM-L6-v2/model-int8@384`), since
    /// its vectors differ.
    pub graph: String,
    /// The ONNX Runtime shared library (`libonnxruntime.so` on Linux).
    pub ort_library: PathBuf,
    /// Longest input in tokens, special tokens included; longer texts are truncated.
    pub max_length: usize,
    /// ONNX Runtime intra-op threads; `None` uses every available core.
    pub threads: Option<usize>,
    /// Texts per ONNX Runtime call.
    pub batch_size: usize,
}

impl EmbedderConfig {
    /// The default model and runtime inside `models_dir`, as installed by `models/fetch.sh`.
    pub fn new(models_dir: &Path) -> Self {
        let library = format!(
            "{}onnxruntime{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        Self {
            model_dir: models_dir.join(MODEL_DIR_NAME),
            graph: INT8_GRAPH.to_owned(),
            ort_library: models_dir.join("onnxruntime").join(library),
            max_length: DEFAULT_MAX_LENGTH,
            threads: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// all-MiniLM-L6-v2 through fastembed and ONNX Runtime.
///
/// Inputs are sorted by token length before batching, so each batch pads to a similar length,
/// and the vectors are returned in input order. One call runs at a time per embedder (ONNX
/// Runtime sessions are used mutably); each call already uses all configured threads.
///
/// A long-lived process can drop the session while it sits unused
/// ([`Embedder::unload_if_idle`]): the next call opens it again from the same files.
pub struct FastEmbedder {
    model: Mutex<Slot>,
    /// The same tokenizer without truncation or padding, for counting tokens and sorting.
    counter: Tokenizer,
    model_id: String,
    dimension: usize,
    batch_size: usize,
    /// What the session was opened with, to open it again ([`FastEmbedder::release_memory`]).
    config: EmbedderConfig,
    /// Length and modification time of the graph file when it was opened.
    onnx_identity: (u64, Option<std::time::SystemTime>),
}

/// The ONNX Runtime session, when loaded, and when a call last used it.
struct Slot {
    session: Option<TextEmbedding>,
    last_used: Instant,
}

impl std::fmt::Debug for FastEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastEmbedder")
            .field("model_id", &self.model_id)
            .field("dimension", &self.dimension)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl FastEmbedder {
    /// Opens the default model installed in `models_dir` with default settings.
    pub fn open(models_dir: &Path) -> Result<Self> {
        Self::open_with(EmbedderConfig::new(models_dir))
    }

    /// Opens a model as configured.
    pub fn open_with(config: EmbedderConfig) -> Result<Self> {
        if config.batch_size == 0 || config.max_length == 0 || config.threads == Some(0) {
            return Err(EmbedError::Runtime(format!(
                "invalid embedder configuration: batch size, max length and threads must be positive ({config:?})"
            )));
        }
        // Check every file first, so the user learns about a missing install before a cryptic
        // runtime error, and reads which file is missing.
        require_file(&config.ort_library)?;
        let graph = graph_path(&config)?;
        require_file(&graph)?;
        for name in TOKENIZER_FILES {
            require_file(&config.model_dir.join(name))?;
        }
        let dimension = read_dimension(&config.model_dir.join("config.json"))?;
        let onnx_identity = file_identity(&graph)?;
        let embedding = session(&config)?;

        let mut counter = embedding.tokenizer.clone();
        counter.with_padding(None);
        counter
            .with_truncation(None)
            .map_err(|e| EmbedError::Runtime(format!("cannot configure the token counter: {e}")))?;

        let mut name = match config.model_dir.file_name().and_then(|n| n.to_str()) {
            Some(MODEL_DIR_NAME) | None => MODEL_NAME.to_owned(),
            Some(other) => other.to_owned(),
        };
        if config.graph != FP32_GRAPH {
            let stem = config.graph.strip_suffix(".onnx").unwrap_or(&config.graph);
            name = format!("{name}/{stem}");
        }
        tracing::debug!(model = %name, dimension, threads = ?config.threads, "opened embedder");
        Ok(Self {
            model: Mutex::new(Slot {
                session: Some(embedding),
                last_used: Instant::now(),
            }),
            counter,
            model_id: format!("{name}@{dimension}"),
            dimension,
            batch_size: config.batch_size,
            config,
            onnx_identity,
        })
    }

    /// Gives back the working memory of earlier calls. ONNX Runtime keeps its
    /// buffers (its arena) at the size of the largest batch it has run, 124–146
    /// MiB more than a fresh session after indexing `tests/eval/corpus`; reopening the
    /// session from the model files frees them. Takes a few hundred
    /// milliseconds; meant for after an ingest, not between queries. On failure
    /// the current session stays in use.
    pub fn release_memory(&self) -> Result<()> {
        if self.slot().session.is_none() {
            return Ok(());
        }
        let fresh = self.reopen()?;
        let old = {
            let mut slot = self.slot();
            // Unloaded meanwhile: stay unloaded (`fresh` is dropped below).
            if slot.session.is_some() {
                slot.session.replace(fresh)
            } else {
                Some(fresh)
            }
        };
        drop(old);
        Ok(())
    }

    /// Drops the session if no call has used it for `idle` (and none is using
    /// it now): about 40 MiB given back. The next call opens it again, a few
    /// hundred milliseconds ([`FastEmbedder::warm_up`] does it ahead). A session
    /// whose graph file was replaced since (a package upgrade) is kept: it could
    /// not be opened again, and searches go on working until a restart.
    pub fn unload_if_idle(&self, idle: Duration) -> Result<bool> {
        let mut slot = match self.model.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(false),
        };
        if slot.session.is_none() || slot.last_used.elapsed() < idle {
            return Ok(false);
        }
        if self.graph_unchanged().is_err() {
            tracing::debug!(model = %self.model_id, "the graph file changed: keeping the loaded embedder");
            return Ok(false);
        }
        let old = slot.session.take();
        drop(slot);
        drop(old);
        tracing::debug!(model = %self.model_id, "unloaded the idle embedder");
        Ok(true)
    }

    /// Opens the session again if it was unloaded.
    pub fn warm_up(&self) -> Result<()> {
        let mut slot = self.slot();
        self.load_into(&mut slot)
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        // A panic inside a previous call leaves nothing half-updated that a later call reads.
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn load_into(&self, slot: &mut Slot) -> Result<()> {
        if slot.session.is_none() {
            slot.session = Some(self.reopen()?);
            tracing::debug!(model = %self.model_id, "loaded the embedder again");
        }
        slot.last_used = Instant::now();
        Ok(())
    }

    /// A new session from the files the first one was opened from.
    fn reopen(&self) -> Result<TextEmbedding> {
        self.graph_unchanged()?;
        session(&self.config)
    }

    /// An error unless the graph file is the one the first session was opened
    /// from: it may have been replaced since (a package upgrade), and only the
    /// model the index was built with may be opened again.
    fn graph_unchanged(&self) -> Result<()> {
        let onnx = graph_path(&self.config)?;
        if file_identity(&onnx)? != self.onnx_identity {
            return Err(EmbedError::Runtime(format!(
                "{} changed since it was opened; open the embedder again (restart) to use the new model",
                onnx.display()
            )));
        }
        Ok(())
    }

    /// Embeds `texts` in length-sorted batches and returns one vector per text, in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let lengths: Vec<usize> = texts.iter().map(|t| self.count_tokens(t)).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| lengths[i]);

        let mut vectors = vec![Vec::new(); texts.len()];
        let mut slot = self.slot();
        self.load_into(&mut slot)?;
        let model = slot.session.as_mut().expect("loaded above");
        for batch in order.chunks(self.batch_size) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let out = model
                .embed(&batch_texts, Some(batch_texts.len()))
                .map_err(|e| EmbedError::Runtime(e.to_string()))?;
            if out.len() != batch.len() {
                return Err(EmbedError::Runtime(format!(
                    "model returned {} vectors for {} texts",
                    out.len(),
                    batch.len()
                )));
            }
            for (&i, vector) in batch.iter().zip(out) {
                if vector.len() != self.dimension {
                    return Err(EmbedError::Runtime(format!(
                        "model returned a vector of {} dimensions, expected {}",
                        vector.len(),
                        self.dimension
                    )));
                }
                vectors[i] = vector;
            }
        }
        slot.last_used = Instant::now();
        Ok(vectors)
    }
}

impl TokenCounter for FastEmbedder {
    fn count_tokens(&self, text: &str) -> usize {
        match self.counter.encode_fast(text, false) {
            Ok(encoding) => encoding.len(),
            Err(e) => {
                // The BERT tokenizer does not fail on valid UTF-8; estimate rather than panic.
                tracing::warn!(error = %e, "tokenizer failed; estimating the token count");
                WordCounter.count_tokens(text)
            }
        }
    }
}

impl Embedder for FastEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed(texts)
    }

    fn release_memory(&self) -> Result<()> {
        FastEmbedder::release_memory(self)
    }

    fn unload_if_idle(&self, idle: Duration) -> Result<bool> {
        FastEmbedder::unload_if_idle(self, idle)
    }

    fn warm_up(&self) -> Result<()> {
        FastEmbedder::warm_up(self)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        // all-MiniLM-L6-v2 is symmetric: queries and passages need no different prefixes.
        self.embed(&[text])?
            .pop()
            .ok_or_else(|| EmbedError::Runtime("model returned no vector for the query".into()))
    }
}

/// A session over the model and runtime `config` names.
fn session(config: &EmbedderConfig) -> Result<TextEmbedding> {
    let environment = runtime::environment(&config.ort_library)?;
    let tokenizer_files = TokenizerFiles {
        tokenizer_file: read(&config.model_dir.join("tokenizer.json"))?,
        config_file: read(&config.model_dir.join("config.json"))?,
        special_tokens_map_file: read(&config.model_dir.join("special_tokens_map.json"))?,
        tokenizer_config_file: read(&config.model_dir.join("tokenizer_config.json"))?,
    };
    let onnx = read(&graph_path(config)?)?;
    let model = UserDefinedEmbeddingModel::new(onnx, tokenizer_files).with_pooling(Pooling::Mean);
    let mut options = InitOptionsUserDefined::new()
        .with_environment(environment)
        .with_max_length(config.max_length);
    if let Some(threads) = config.threads {
        options = options.with_intra_threads(threads);
    }
    TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| {
        EmbedError::Runtime(format!(
            "cannot load the embedding model from {}: {e}",
            config.model_dir.display()
        ))
    })
}

/// The graph file `config` names; a name with a path in it is refused.
fn graph_path(config: &EmbedderConfig) -> Result<PathBuf> {
    let plain = Path::new(&config.graph)
        .file_name()
        .is_some_and(|n| n == config.graph.as_str());
    if !plain {
        return Err(EmbedError::Runtime(format!(
            "the embedding graph must be a file name inside {}, not {:?}",
            config.model_dir.display(),
            config.graph
        )));
    }
    Ok(config.model_dir.join(&config.graph))
}

/// A file's length and modification time, to notice it was replaced.
fn file_identity(path: &Path) -> Result<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path).map_err(|e| EmbedError::ModelNotFound {
        path: path.display().to_string(),
        reason: format!("cannot read it: {e}"),
    })?;
    Ok((meta.len(), meta.modified().ok()))
}

fn require_file(path: &Path) -> Result<()> {
    if path.is_file() {
        return Ok(());
    }
    Err(EmbedError::ModelNotFound {
        path: path.display().to_string(),
        reason: "file is missing; install the models with `models/fetch.sh` \
                 (or point CAIRN_MODELS_DIR at an installed models directory)"
            .into(),
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| EmbedError::ModelNotFound {
        path: path.display().to_string(),
        reason: format!("cannot read it: {e}"),
    })
}

/// Reads the embedding width (`hidden_size`) from the model's `config.json`.
fn read_dimension(path: &Path) -> Result<usize> {
    let config: serde_json::Value =
        serde_json::from_slice(&read(path)?).map_err(|e| EmbedError::ModelNotFound {
            path: path.display().to_string(),
            reason: format!("not valid JSON: {e}; reinstall with `models/fetch.sh`"),
        })?;
    config["hidden_size"]
        .as_u64()
        .and_then(|d| usize::try_from(d).ok())
        .ok_or_else(|| EmbedError::ModelNotFound {
            path: path.display().to_string(),
            reason: "has no numeric `hidden_size`; reinstall with `models/fetch.sh`".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_points_into_the_models_dir() {
        let config = EmbedderConfig::new(Path::new("/m"));
        assert_eq!(config.model_dir, Path::new("/m/all-minilm-l6-v2"));
        assert!(config.ort_library.starts_with("/m/onnxruntime"));
        assert_eq!(config.max_length, 256);
        assert_eq!(config.graph, INT8_GRAPH);
    }

    #[test]
    fn a_graph_outside_the_model_dir_is_refused() {
        for graph in ["../model.onnx", "/tmp/model.onnx", ""] {
            let config = EmbedderConfig {
                graph: graph.into(),
                ..EmbedderConfig::new(Path::new("/m"))
            };
            assert!(graph_path(&config).is_err(), "{graph:?}");
        }
    }

    #[test]
    fn zero_batch_size_is_rejected_before_touching_files() {
        let config = EmbedderConfig {
            batch_size: 0,
            ..EmbedderConfig::new(Path::new("/nonexistent"))
        };
        let err = FastEmbedder::open_with(config).unwrap_err();
        assert!(
            matches!(err, EmbedError::Runtime(ref m) if m.contains("batch size")),
            "{err}"
        );
    }

    #[test]
    fn dimension_comes_from_hidden_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"hidden_size": 384}"#).unwrap();
        assert_eq!(read_dimension(&path).unwrap(), 384);
        std::fs::write(&path, r#"{"hidden_size": "wide"}"#).unwrap();
        assert!(matches!(
            read_dimension(&path),
            Err(EmbedError::ModelNotFound { .. })
        ));
    }
}
