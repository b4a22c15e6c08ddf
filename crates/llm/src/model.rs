//! Architecture dispatch: one enum over candle's quantized decoders and ours.

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Result, Tensor};
use candle_transformers::models::{quantized_llama, quantized_phi3};

use crate::dense::Dense;
use crate::gemma3::Gemma3;

/// Architectures [`crate::LocalModel`] can run, by `general.architecture`.
pub const SUPPORTED: &[&str] = &["llama", "qwen2", "qwen3", "phi3", "gemma3"];

pub(crate) enum Decoder {
    /// Mixture-of-experts llama files and others [`Dense`] does not take.
    Llama(quantized_llama::ModelWeights),
    /// qwen2, qwen3, llama and phi3 files: Cairn's own decoder.
    Dense(Dense),
    /// phi3 files with long-context rotary factors (Phi-3 128k) or partial
    /// rotary embeddings (Phi-4-mini).
    Phi3(quantized_phi3::ModelWeights),
    Gemma3(Gemma3),
}

/// Whether `arch` files like `content` run on Cairn's own decoders, whose
/// matrix products use Cairn's kernels (which run every GGUF block type the
/// shipped models have, as stored).
pub(crate) fn uses_kernels(arch: &str, content: &Content) -> bool {
    matches!(arch, "llama" | "qwen2" | "qwen3" | "phi3") && Dense::supports(arch, content)
        || arch == "gemma3"
}

/// Longest context each decoder can address whatever the file says:
/// candle's llama precomputes rotary tables for 4096 positions only.
pub(crate) fn architecture_cap(arch: &str) -> Option<usize> {
    match arch {
        "llama" => Some(quantized_llama::MAX_SEQ_LEN),
        _ => None,
    }
}

impl Decoder {
    /// Builds the decoder for `arch`; `max_positions` bounds the tables we size
    /// ourselves. `file` is the GGUF `content` came from, when there is one on
    /// disk: Cairn's decoders then leave an untied token table there.
    pub fn load<R: Read + Seek>(
        arch: &str,
        content: Content,
        reader: &mut R,
        device: &Device,
        max_positions: usize,
        file: Option<&std::fs::File>,
        refine_head: bool,
    ) -> Result<Self> {
        Ok(match arch {
            "llama" | "qwen2" | "qwen3" | "phi3" if Dense::supports(arch, &content) => {
                Self::Dense(Dense::from_gguf(
                    arch,
                    &content,
                    reader,
                    device,
                    max_positions,
                    file,
                    refine_head,
                )?)
            }
            "llama" => Self::Llama(quantized_llama::ModelWeights::from_gguf(
                content, reader, device,
            )?),
            "phi3" => Self::Phi3(quantized_phi3::ModelWeights::from_gguf(
                false, content, reader, device,
            )?),
            "gemma3" => Self::Gemma3(Gemma3::from_gguf(
                &content,
                reader,
                device,
                max_positions,
                file,
                refine_head,
            )?),
            other => candle_core::bail!("unsupported architecture {other}"),
        })
    }

    /// Logits for the last of `ids` (shape `(1, len)`) fed at position `pos`, as a `(vocab,)` tensor.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let logits = match self {
            Self::Llama(m) => m.forward(ids, pos)?,
            Self::Dense(m) => m.forward(ids, pos)?,
            Self::Phi3(m) => m.forward(ids, pos)?,
            Self::Gemma3(m) => m.forward(ids, pos)?,
        };
        logits.flatten_all()
    }

    /// Keeps the cached keys and values of the first `len` positions, so the
    /// next forward pass can start there. Returns `false` (and clears the cache)
    /// for decoders that cannot cut their cache; the caller then starts at 0.
    pub fn keep_prefix(&mut self, len: usize) -> bool {
        match self {
            Self::Dense(m) if len > 0 => m.truncate_kv(len).is_ok(),
            Self::Gemma3(m) if len > 0 => m.truncate_kv(len).is_ok(),
            _ => {
                self.clear();
                false
            }
        }
    }

    /// Drops cached keys and values before an unrelated prompt. (phi3 resets
    /// its cache itself whenever it is fed position 0.)
    pub fn clear(&mut self) {
        match self {
            Self::Llama(m) => m.clear_kv_cache(),
            Self::Dense(m) => m.clear_kv_cache(),
            Self::Phi3(_) => {}
            Self::Gemma3(m) => m.clear_kv_cache(),
        }
    }
}
