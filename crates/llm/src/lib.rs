//! Local answer generation: GGUF language models run with candle.
//!
//! - [`LocalModel`]: loads one GGUF file, picks the decoder from
//!   `general.architecture` (qwen2, qwen3, llama and phi3 through our own
//!   [`dense`] module, gemma3 through [`gemma3`], mixture-of-experts llama and
//!   phi3 with long-context or partial rotary embeddings through candle's
//!   quantized models), and streams a chat answer token by token with
//!   [`LocalModel::chat`]. With Cairn's own decoders the KV cache of a prompt
//!   prefix shared with the previous call (system prompt, template) is reused.
//! - [`TextTokenizer`]: the tokenizer rebuilt from the file's own
//!   `tokenizer.ggml.*` metadata (ids match llama.cpp's).
//! - [`TemplateFamily`]: ChatML, Llama 3, Gemma and Phi-3 chat layouts and
//!   their stop tokens.
//! - [`inspect`]: a cheap metadata read for model listings.
//! - [`requant`]: converting Q4_1/Q5_x weights, which candle runs without
//!   SIMD, to Q8_0.
//!
//! Generation is synchronous and CPU-bound: call it from a blocking thread.
//! Grounded prompt building and citation parsing live in
//! [`cairn_core::prompt`]; this crate only runs the messages it is given.

mod attention;
mod bpe;
pub mod dense;
pub mod gemma3;
mod gguf;
mod linear;
mod model;
mod parts;
pub mod requant;
pub mod template;
pub mod tokenizer;

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use serde::{Deserialize, Serialize};

pub use cairn_core::prompt::{ChatMessage, Role};
pub use linear::kernel_isa;
pub use template::TemplateFamily;
pub use tokenizer::{TextTokenizer, TokenStream, TokenizerKind};

use crate::gguf::Header;
use crate::model::Decoder;
use crate::template::Segment;

/// Errors from loading or running a local model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// No file at the given path.
    #[error("model file not found at {path}")]
    ModelNotFound { path: PathBuf },
    /// Reading or writing a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a GGUF we can use (corrupt, truncated, missing keys).
    #[error("{path} is not a usable model: {reason}")]
    BadModel { path: PathBuf, reason: String },
    /// The file's architecture has no decoder here.
    #[error("unsupported model architecture {architecture:?} in {path} (supported: llama, qwen2, qwen3, phi3, gemma3)")]
    UnsupportedArchitecture { architecture: String, path: PathBuf },
    /// The vocabulary could not be turned into a tokenizer.
    #[error("cannot build the tokenizer for {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    /// The prompt plus the requested answer length exceeds the context window:
    /// pack fewer passages or ask for fewer new tokens.
    #[error("prompt of {prompt_tokens} tokens plus {max_new_tokens} new tokens exceeds the context of {context_length} tokens")]
    ContextTooLong {
        prompt_tokens: usize,
        max_new_tokens: usize,
        context_length: usize,
    },
    /// A tensor operation failed while running the model.
    #[error("inference failed: {0}")]
    Runtime(String),
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        Self::Runtime(e.to_string())
    }
}

pub type Result<T, E = LlmError> = std::result::Result<T, E>;

/// How to load a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Upper bound on the context window, whatever the file allows. Keeps the
    /// KV cache and rotary tables small; 8192 is plenty for grounded answers.
    pub max_context: usize,
    /// Convert Q4_1/Q5_0/Q5_1 weights to Q8_0 while loading; candle has no
    /// SIMD kernels for those types and runs them several times slower.
    pub requantize_slow: bool,
    /// Where to keep re-quantized copies of models (`NAME.q8_0.gguf`). With a
    /// folder, the conversion happens once and later loads read the copy
    /// directly (no conversion time, no second copy in memory); without one,
    /// every load converts in memory.
    pub requantized_dir: Option<PathBuf>,
    /// Use the GPU when the crate was built with `cuda` or `metal`.
    pub use_gpu: bool,
    /// When the file holds a tied model's matrix twice (a token table and a
    /// larger output head, as Qwen2.5 files do), keep only the table in memory
    /// and score each token's best 64 candidates again with the head's rows,
    /// read from the file: 49 MiB less for Qwen2.5-Coder 0.5B and a faster
    /// decode, with the head's own logits for the tokens that matter. `false`
    /// keeps the head in memory as stored.
    pub refine_head: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_context: 8192,
            requantize_slow: true,
            requantized_dir: None,
            use_gpu: false,
            refine_head: true,
        }
    }
}

/// What a model file is, read from its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `general.name`, or the file stem when the file has none.
    pub name: String,
    pub path: PathBuf,
    /// `general.architecture`, e.g. `llama`, `qwen2`, `gemma3`.
    pub architecture: String,
    /// Whether [`LocalModel::load`] can run this architecture.
    pub supported: bool,
    /// Context window we will use: the file's, capped by the decoder and the load options.
    pub context_length: usize,
    /// Context window the file declares.
    pub trained_context_length: Option<usize>,
    pub file_size: u64,
    /// Weight type as llama.cpp names the file type, e.g. `Q4_K_M`.
    pub quantization: String,
    /// Type the slow tensors (Q4_1/Q5_0/Q5_1) were converted to when loading, if any.
    pub runtime_quantization: Option<String>,
    pub template: TemplateFamily,
    /// Whether the file embeds a chat template (base models do not).
    pub has_chat_template: bool,
    pub parameters: u64,
}

/// Sampling and length settings for one answer.
#[derive(Debug, Clone)]
pub struct GenParams {
    pub max_new_tokens: usize,
    /// 0 means greedy decoding.
    pub temperature: f64,
    /// Nucleus sampling threshold, used when `temperature > 0`.
    pub top_p: Option<f64>,
    /// Penalty for repeating recently generated tokens; 1.0 turns it off.
    /// Only generated tokens count, so quoting the passages is not penalised.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
    /// Set from another thread to stop generation (checked between tokens and
    /// between prefill chunks); the callback's `Break` does the same.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Keep generating through stop tokens (benchmarks want a fixed length).
    pub ignore_stop_tokens: bool,
}

impl Default for GenParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 512,
            temperature: 0.0,
            top_p: None,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 299_792_458,
            cancel: None,
            ignore_stop_tokens: false,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// The model produced a stop token.
    Stop,
    /// `max_new_tokens` were generated.
    Length,
    /// The callback returned `Break` or the cancel flag was set.
    Cancelled,
}

/// Measurements of one [`LocalModel::chat`] call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenStats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the previous call
    /// (a shared prefix), so prefill ran only the rest.
    pub cached_prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the call to the first generated token (tokenizing + prefill + one step).
    pub ms_to_first_token: f64,
    pub prefill_ms: f64,
    pub prefill_tokens_per_s: f64,
    /// Decode speed over the tokens after the first.
    pub tokens_per_s: f64,
    pub finish: FinishReason,
}

/// Prompt positions fed to the model per forward pass. Bounded so that the
/// attention scores of a long prompt never need gigabytes at once.
const PREFILL_CHUNK: usize = 256;

/// A loaded GGUF model with its tokenizer and chat template.
pub struct LocalModel {
    decoder: Decoder,
    tokenizer: TextTokenizer,
    info: ModelInfo,
    stop_ids: Vec<u32>,
    device: Device,
    /// The token ids whose keys and values are in the decoder's KV cache, in order.
    cached: Vec<u32>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("info", &self.info)
            .field("stop_ids", &self.stop_ids)
            .finish()
    }
}

/// The kernels' instruction set and what candle was compiled with, e.g.
/// `kernels=Avx512Vnni avx=true neon=false f16c=true threads=2`.
pub fn cpu_features() -> String {
    format!(
        "kernels={:?} avx={} neon={} simd128={} f16c={} threads={}",
        kernel_isa(),
        candle_core::utils::with_avx(),
        candle_core::utils::with_neon(),
        candle_core::utils::with_simd128(),
        candle_core::utils::with_f16c(),
        candle_core::utils::get_num_threads()
    )
}

/// Reads a model's metadata without loading its weights.
pub fn inspect(path: &Path) -> Result<ModelInfo> {
    inspect_with(path, &LoadOptions::default())
}

fn inspect_with(path: &Path, opts: &LoadOptions) -> Result<ModelInfo> {
    let header = read_header(path)?;
    let tokenizer_spellings = |t: &str| {
        header
            .array("tokenizer.ggml.tokens")
            .is_some_and(|v| v.iter().any(|x| x.to_string().is_ok_and(|s| s == t)))
    };
    info_from_header(&header, path, opts, tokenizer_spellings)
}

fn read_header(path: &Path) -> Result<Header> {
    if !path.is_file() {
        return Err(LlmError::ModelNotFound {
            path: path.to_path_buf(),
        });
    }
    Header::read(path)
}

fn info_from_header(
    h: &Header,
    path: &Path,
    opts: &LoadOptions,
    has_token: impl Fn(&str) -> bool,
) -> Result<ModelInfo> {
    let architecture = h
        .architecture()
        .ok_or_else(|| LlmError::BadModel {
            path: path.to_path_buf(),
            reason: "no general.architecture in metadata".into(),
        })?
        .to_string();
    let file_size = std::fs::metadata(path)
        .map_err(|source| LlmError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let trained = h.context_length();
    let mut context_length = trained.unwrap_or(2048).min(opts.max_context);
    if let Some(cap) = model::architecture_cap(&architecture) {
        context_length = context_length.min(cap);
    }
    let chat_template = h.string("tokenizer.chat_template");
    let parameters = h
        .content
        .tensor_infos
        .values()
        .map(|t| t.shape.elem_count() as u64)
        .sum();
    Ok(ModelInfo {
        name: h
            .string("general.name")
            .map(str::to_string)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default(),
        path: path.to_path_buf(),
        supported: model::SUPPORTED.contains(&architecture.as_str()),
        template: TemplateFamily::detect(chat_template, &architecture, has_token),
        has_chat_template: chat_template.is_some(),
        architecture,
        context_length,
        trained_context_length: trained,
        file_size,
        quantization: quantization_name(h),
        runtime_quantization: None,
        parameters,
    })
}

/// llama.cpp's `general.file_type` names; falls back to the commonest tensor type.
fn quantization_name(h: &Header) -> String {
    let named = h.uint("general.file_type").and_then(|t| {
        Some(match t {
            0 => "F32",
            1 => "F16",
            2 => "Q4_0",
            3 => "Q4_1",
            7 => "Q8_0",
            8 => "Q5_0",
            9 => "Q5_1",
            10 => "Q2_K",
            11 => "Q3_K_S",
            12 => "Q3_K_M",
            13 => "Q3_K_L",
            14 => "Q4_K_S",
            15 => "Q4_K_M",
            16 => "Q5_K_S",
            17 => "Q5_K_M",
            18 => "Q6_K",
            32 => "BF16",
            _ => return None,
        })
    });
    if let Some(n) = named {
        return n.to_string();
    }
    let mut by_type: std::collections::HashMap<String, usize> = Default::default();
    for t in h.content.tensor_infos.values() {
        *by_type.entry(format!("{:?}", t.ggml_dtype)).or_default() += t.shape.elem_count();
    }
    by_type
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(t, _)| t.to_uppercase())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg_attr(not(any(feature = "cuda", feature = "metal")), allow(unused_variables))]
fn pick_device(opts: &LoadOptions) -> Result<Device> {
    #[cfg(feature = "cuda")]
    if opts.use_gpu {
        return Ok(Device::new_cuda(0)?);
    }
    #[cfg(feature = "metal")]
    if opts.use_gpu {
        return Ok(Device::new_metal(0)?);
    }
    Ok(Device::Cpu)
}

impl LocalModel {
    /// Loads a GGUF file: metadata, tokenizer, then weights.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Self> {
        let started = Instant::now();
        let header = read_header(path)?;
        // Refuse unknown families before the (possibly slow) tokenizer build.
        if let Some(arch) = header.architecture() {
            if !model::SUPPORTED.contains(&arch) {
                return Err(LlmError::UnsupportedArchitecture {
                    architecture: arch.to_string(),
                    path: path.to_path_buf(),
                });
            }
        }
        let tokenizer = TextTokenizer::from_header(&header, path)?;
        let mut info = info_from_header(&header, path, opts, |t| tokenizer.token_id(t).is_some())?;
        tracing::info!(features = %cpu_features(), "candle cpu features");
        let device = pick_device(opts)?;
        let bad = |e: candle_core::Error| LlmError::BadModel {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = File::open(path).map_err(|source| LlmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(bad)?;
        let arch = info.architecture.clone();
        // Cairn's kernels run Q4_1/Q5_x as stored; only candle's own decoders
        // (mixture-of-experts llama, long-context phi3) need them converted.
        let slow = opts.requantize_slow
            && !model::uses_kernels(&arch, &content)
            && requant::has_slow_tensors(&content);
        let cached = match (&opts.requantized_dir, slow) {
            (Some(dir), true) => Some(requant::cached_copy(path, dir, &content, &mut reader)?),
            _ => None,
        };
        // From a file on disk, the decoder keeps a handle on it (an untied
        // token table is read from there; see `Decoder::load`).
        let context_length = info.context_length;
        let from_file = |content: Content, mut reader: BufReader<File>, at: &Path| {
            let file = reader
                .get_ref()
                .try_clone()
                .map_err(|source| LlmError::Io {
                    path: at.to_path_buf(),
                    source,
                })?;
            Decoder::load(
                &arch,
                content,
                &mut reader,
                &device,
                context_length,
                Some(&file),
                opts.refine_head,
            )
            .map_err(bad)
        };
        let decoder = if let Some(copy) = cached {
            drop(content);
            let mut reader = BufReader::new(File::open(&copy).map_err(|source| LlmError::Io {
                path: copy.clone(),
                source,
            })?);
            let content = Content::read(&mut reader).map_err(bad)?;
            info.runtime_quantization = Some("Q8_0".into());
            from_file(content, reader, &copy)?
        } else if slow {
            let t = Instant::now();
            let bytes = requant::requantize_in_memory(&content, &mut reader, GgmlDType::Q8_0)
                .map_err(bad)?;
            drop(content);
            let mut cursor = Cursor::new(bytes);
            let content = Content::read(&mut cursor).map_err(bad)?;
            tracing::info!(
                ms = t.elapsed().as_millis() as u64,
                "re-quantized slow tensors to Q8_0"
            );
            info.runtime_quantization = Some("Q8_0".into());
            Decoder::load(
                &arch,
                content,
                &mut cursor,
                &device,
                context_length,
                None,
                opts.refine_head,
            )
            .map_err(bad)?
        } else {
            from_file(content, reader, path)?
        };
        let stop_ids = stop_ids(&tokenizer, info.template);
        // Every tensor was read into a buffer that is freed once repacked.
        cairn_kernels::release_free_memory();
        tracing::info!(
            model = %info.name,
            arch = %info.architecture,
            ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(Self {
            decoder,
            tokenizer,
            info,
            stop_ids,
            device,
            cached: Vec::new(),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Forgets the KV cache, so the next call runs its whole prompt.
    pub fn clear_cache(&mut self) {
        self.cached.clear();
        self.decoder.clear();
    }

    /// Token ids that end generation.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Tokens in plain text (no template, no BOS). If the tokenizer fails,
    /// which it should not, the byte length is returned as an upper bound.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text)
            .map(|ids| ids.len())
            .unwrap_or(text.len())
    }

    /// Tokens of a whole conversation as [`LocalModel::chat`] would feed it.
    pub fn count_chat_tokens(&self, messages: &[ChatMessage]) -> usize {
        self.prompt_ids(messages)
            .map(|ids| ids.len())
            .unwrap_or_else(|_| messages.iter().map(|m| m.content.len() + 16).sum())
    }

    /// The token ids of a templated conversation, ending with the assistant's turn opener.
    pub fn prompt_ids(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.tokenizer.add_bos() {
            if let Some(bos) = self.tokenizer.bos() {
                ids.push(bos);
            }
        }
        // Adjacent text is joined before encoding so token boundaries match a
        // tokenizer that saw the whole rendered string.
        let mut text = String::new();
        for seg in self.info.template.render(messages) {
            match seg {
                Segment::Text(t) => text.push_str(&t),
                Segment::Control(c) => match self.tokenizer.token_id(c) {
                    Some(id) if self.tokenizer.is_control(c) => {
                        ids.extend(self.tokenizer.encode(&text)?);
                        text.clear();
                        ids.push(id);
                    }
                    // A family marker this vocabulary lacks is spelled out as text.
                    _ => text.push_str(c),
                },
            }
        }
        ids.extend(self.tokenizer.encode(&text)?);
        Ok(ids)
    }

    /// Streams an answer to `messages`. `on_token` receives each new piece of
    /// text (always whole UTF-8) and may return `Break` to stop.
    pub fn chat(
        &mut self,
        messages: &[ChatMessage],
        params: &GenParams,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenStats> {
        let prompt = self.prompt_ids(messages)?;
        self.generate(&prompt, params, on_token)
    }

    /// The probability of each of `candidates` being the next token after
    /// `prompt` (a softmax over the whole vocabulary), from one prefill and no
    /// generation. The prompt's keys and values stay cached, so a following
    /// [`LocalModel::generate`] or [`LocalModel::chat`] on a prompt sharing its
    /// prefix only runs the rest.
    pub fn next_token_probs(&mut self, prompt: &[u32], candidates: &[u32]) -> Result<Vec<f32>> {
        let logits = self.logits(prompt)?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        Ok(candidates
            .iter()
            .map(|&id| {
                logits
                    .get(id as usize)
                    .map_or(0.0, |&l| (f64::from(l - max).exp() / total) as f32)
            })
            .collect())
    }

    /// The logits of the token after `prompt` (one per vocabulary entry), from
    /// one prefill that continues from the cached prefix, like
    /// [`LocalModel::next_token_probs`]. For conformance tests and diagnostics.
    pub fn logits(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
        if prompt.is_empty() || prompt.len() >= self.info.context_length {
            return Err(LlmError::ContextTooLong {
                prompt_tokens: prompt.len(),
                max_new_tokens: 0,
                context_length: self.info.context_length,
            });
        }
        let (logits, _) = self
            .prefill(prompt, &|| false)?
            .expect("a prefill that cannot be cancelled runs");
        Ok(logits.to_dtype(candle_core::DType::F32)?.to_vec1()?)
    }

    /// Runs `prompt` through the model, continuing from the cached prefix it
    /// shares with what the cache holds (at least the last prompt token is always
    /// run, for its logits). Returns the last position's logits and where the run
    /// started, or `None` when `cancelled` said so between chunks.
    fn prefill(
        &mut self,
        prompt: &[u32],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<(Tensor, usize)>> {
        let shared = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        let start = if self.decoder.keep_prefix(shared) {
            shared
        } else {
            0
        };
        self.cached.truncate(start);
        let mut logits = None;
        for chunk in prompt[start..].chunks(PREFILL_CHUNK) {
            if cancelled() {
                return Ok(None);
            }
            let input = Tensor::new(chunk, &self.device)?.unsqueeze(0)?;
            let pos = self.cached.len();
            logits = Some(self.forward_cached(&input, pos, chunk)?);
        }
        Ok(Some((
            logits.expect("at least one prompt token is run"),
            start,
        )))
    }

    /// Streams a continuation of raw prompt ids (no template applied).
    pub fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenParams,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenStats> {
        let started = Instant::now();
        let context_length = self.info.context_length;
        if prompt.is_empty() || prompt.len() + params.max_new_tokens > context_length {
            return Err(LlmError::ContextTooLong {
                prompt_tokens: prompt.len(),
                max_new_tokens: params.max_new_tokens,
                context_length,
            });
        }
        let cancelled = || {
            params
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
        };
        let mut stats = GenStats {
            prompt_tokens: prompt.len(),
            cached_prompt_tokens: 0,
            generated_tokens: 0,
            ms_to_first_token: 0.0,
            prefill_ms: 0.0,
            prefill_tokens_per_s: 0.0,
            tokens_per_s: 0.0,
            finish: FinishReason::Cancelled,
        };

        let Some((mut logits, start)) = self.prefill(prompt, &cancelled)? else {
            return Ok(stats);
        };
        stats.cached_prompt_tokens = start;
        let prefill_s = started.elapsed().as_secs_f64();
        stats.prefill_ms = prefill_s * 1e3;
        stats.prefill_tokens_per_s = (prompt.len() - start) as f64 / prefill_s.max(1e-9);

        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match params.top_p {
                Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP {
                    p,
                    temperature: params.temperature,
                },
                _ => Sampling::All {
                    temperature: params.temperature,
                },
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
        let mut generated: Vec<u32> = Vec::new();
        let mut stream = TokenStream::new();
        let mut first_at: Option<Instant> = None;
        let mut decode_steps = 0usize;
        let finish = loop {
            let logits_f32 = logits.to_dtype(candle_core::DType::F32)?;
            let logits_f32 = if params.repeat_penalty != 1.0 && !generated.is_empty() {
                let from = generated.len().saturating_sub(params.repeat_last_n);
                candle_transformers::utils::apply_repeat_penalty(
                    &logits_f32,
                    params.repeat_penalty,
                    &generated[from..],
                )?
            } else {
                logits_f32
            };
            let next = sampler.sample(&logits_f32)?;
            if first_at.is_none() {
                first_at = Some(Instant::now());
                stats.ms_to_first_token = started.elapsed().as_secs_f64() * 1e3;
            }
            if !params.ignore_stop_tokens && self.stop_ids.contains(&next) {
                break FinishReason::Stop;
            }
            generated.push(next);
            if let Some(text) = stream.push(&self.tokenizer, next)? {
                if on_token(&text).is_break() {
                    break FinishReason::Cancelled;
                }
            }
            if cancelled() {
                break FinishReason::Cancelled;
            }
            if generated.len() >= params.max_new_tokens {
                break FinishReason::Length;
            }
            let pos = prompt.len() + generated.len() - 1;
            let input = Tensor::new(&[next], &self.device)?.unsqueeze(0)?;
            logits = self.forward_cached(&input, pos, &[next])?;
            decode_steps += 1;
        };
        if finish != FinishReason::Cancelled {
            if let Some(rest) = stream.finish(&self.tokenizer)? {
                // The answer is complete; a Break here has nothing left to stop.
                let _ = on_token(&rest);
            }
        }
        stats.generated_tokens = generated.len();
        stats.finish = finish;
        if let Some(first) = first_at {
            // Each decode step is one forward pass plus sampling.
            let decode_s = first.elapsed().as_secs_f64();
            if decode_steps > 0 {
                stats.tokens_per_s = decode_steps as f64 / decode_s.max(1e-9);
            }
        }
        // The prompt's activations are freed; give their pages back while the
        // person reads (after the last token, so no word waits for it).
        cairn_kernels::release_free_memory();
        Ok(stats)
    }
}

impl LocalModel {
    /// One forward pass that keeps `cached` equal to what the KV cache holds:
    /// `ids` are recorded after the pass succeeds; a failed pass forgets the
    /// cache, since some layers may have appended and others not.
    fn forward_cached(&mut self, input: &Tensor, pos: usize, ids: &[u32]) -> Result<Tensor> {
        let decoder = &mut self.decoder;
        match linear::run_in_decode_pool(|| decoder.forward(input, pos)) {
            Ok(logits) => {
                self.cached.extend_from_slice(ids);
                Ok(logits)
            }
            Err(e) => {
                self.cached.clear();
                self.decoder.clear();
                Err(e.into())
            }
        }
    }
}

/// EOS, the metadata's end-of-turn token and the family's end-of-turn
/// spellings that exist in this vocabulary.
fn stop_ids(tok: &TextTokenizer, family: TemplateFamily) -> Vec<u32> {
    let mut ids: Vec<u32> = [tok.eos(), tok.eot()].into_iter().flatten().collect();
    for s in family.stop_spellings() {
        if let Some(id) = tok.token_id(s) {
            if tok.is_control(s) && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

impl cairn_core::TokenCounter for TextTokenizer {
    fn count_tokens(&self, text: &str) -> usize {
        self.encode(text).map(|ids| ids.len()).unwrap_or(text.len())
    }
}
