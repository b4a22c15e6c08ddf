//! Cairn's core: the types every other crate speaks, and the pure logic that
//! needs no backend.
//!
//! - [`Document`] / [`Page`] / [`Heading`]: what a loader produces from a file.
//! - [`Chunk`] and [`chunk::chunk_document`]: token-aware passages that remember
//!   their file, page, character span and heading path.
//! - [`Embedder`] and [`TokenCounter`]: the traits model backends implement.
//! - [`fusion`]: reciprocal rank fusion of keyword and vector result lists.
//! - [`text`]: the sentence splitter shared by chunking and answer handling.
//! - [`prompt`]: grounded prompts, citations, attribution.
//! - [`support`]: whether the cited evidence supports each sentence of an answer.
//! - [`SearchHit`]: one fused retrieval result, with both component ranks.
//!
//! This crate knows nothing of LanceDB, tantivy, ONNX Runtime or candle.

pub mod chunk;
pub mod fusion;
pub mod prompt;
pub mod support;
pub mod text;
mod types;

pub use chunk::{chunk_document, ChunkConfig};
pub use types::*;

/// Milliseconds since the Unix epoch (0 if the clock is before it): the one
/// timestamp format of catalogue entries, chat turns and file names.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Errors raised by model backends behind the core traits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The model files are missing or unreadable.
    #[error("embedding model not found at {path}: {reason}")]
    ModelNotFound { path: String, reason: String },
    /// The runtime failed while computing embeddings.
    #[error("embedding failed: {0}")]
    Runtime(String),
}

/// Computes dense vectors for passages and queries.
///
/// Implementations are synchronous and CPU-bound: callers run them on a
/// blocking thread, never directly on an async executor.
pub trait Embedder: TokenCounter + Send + Sync {
    /// A stable identifier of the model (stored with the index so that a
    /// different model is detected instead of silently mixing vector spaces).
    fn model_id(&self) -> &str;
    /// Length of every vector this embedder returns.
    fn dimension(&self) -> usize;
    /// Embeds passages. The output has one unit-length vector per input, in order.
    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Embeds a search query.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
    /// Gives back working memory kept from earlier calls (buffers sized by the
    /// largest batch), for long-lived processes after an ingest. Nothing by default.
    fn release_memory(&self) -> Result<(), EmbedError> {
        Ok(())
    }
    /// Drops the loaded model if no call has used it for `idle`, giving its
    /// memory back; the next call loads it again. Returns whether it did. A
    /// model in use is left alone. Nothing by default.
    fn unload_if_idle(&self, idle: std::time::Duration) -> Result<bool, EmbedError> {
        let _ = idle;
        Ok(false)
    }
    /// Loads the model now if [`Embedder::unload_if_idle`] dropped it, so that
    /// the next call does not wait for it. Nothing by default.
    fn warm_up(&self) -> Result<(), EmbedError> {
        Ok(())
    }
}

/// Counts tokens the way a model's tokenizer would, so that chunks fit its window.
pub trait TokenCounter: Send + Sync {
    /// Number of tokens in `text`, excluding special tokens such as `[CLS]`.
    fn count_tokens(&self, text: &str) -> usize;
}

/// A crude counter for tests and fallbacks: one token per word or punctuation mark,
/// scaled up slightly because sub-word tokenizers split long words.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn count_tokens(&self, text: &str) -> usize {
        let mut n = 0usize;
        let mut in_word = false;
        for c in text.chars() {
            if c.is_alphanumeric() || c == '_' {
                if !in_word {
                    n += 1;
                    in_word = true;
                }
            } else {
                in_word = false;
                if !c.is_whitespace() {
                    n += 1;
                }
            }
        }
        n + n / 4
    }
}
