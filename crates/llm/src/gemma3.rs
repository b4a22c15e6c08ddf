//! Gemma 3 text decoder over quantized GGUF weights.
//!
//! Written for Cairn after reading candle's `quantized_gemma3` and llama.cpp's
//! graph for the same family. It differs from candle 0.11's version where that
//! one misbehaves:
//!
//! - rotary tables are built once per frequency base (local and global) and
//!   only for the context we will actually use, not 131k positions per layer
//!   (that alone cost gigabytes of RSS for a 270M model);
//! - the token embedding stays quantized and rows are looked up on demand
//!   (the vocabulary is 262k × hidden; dequantizing it costs hundreds of MB);
//! - masks are additive `f32` tensors built for any mix of cached and new
//!   positions, so prefill can continue from a KV cache (chunked prefill);
//! - the sliding window is honoured during decoding too: sliding layers keep
//!   only the last `window - 1` positions in their cache;
//! - the cache can be cut back to a shared prompt prefix
//!   ([`Gemma3::truncate_kv`]) while every sliding layer still holds what the
//!   next position sees, so a question after a short one reuses the system
//!   prompt and template;
//! - the feed-forward activation is GELU (tanh approximation), as in the
//!   reference implementations, not SiLU.

use std::sync::Arc;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use crate::linear::{Embedding, Linear};
use crate::parts::{embedding_and_head, ensure_room, metadata, Rotary};

const DEFAULT_SLIDING_PATTERN: usize = 6;
const DEFAULT_ROPE_BASE: f32 = 1_000_000.;
const DEFAULT_ROPE_BASE_LOCAL: f32 = 10_000.;

#[derive(Debug)]
struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    attn_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    post_ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    /// `Some(w)` for sliding-window layers: a query sees keys less than `w` positions back.
    window: Option<usize>,
    rotary: Arc<Rotary>,
    /// Cached keys and values and the absolute position of their first entry.
    cache: Option<(Tensor, Tensor)>,
    cache_start: usize,
}

impl Layer {
    fn attention(&mut self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (b, len, _) = x.dims3()?;
        let q = self
            .wq
            .forward(x)?
            .reshape((b, len, self.n_head, self.head_dim))?
            .transpose(1, 2)?;
        let k = self
            .wk
            .forward(x)?
            .reshape((b, len, self.n_kv_head, self.head_dim))?
            .transpose(1, 2)?;
        let v = self
            .wv
            .forward(x)?
            .reshape((b, len, self.n_kv_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = self.q_norm.forward(&q.contiguous()?)?;
        let k = self.k_norm.forward(&k.contiguous()?)?;
        let q = self.rotary.apply(&q, pos)?;
        let k = self.rotary.apply(&k, pos)?;

        if pos == 0 {
            self.cache = None;
            self.cache_start = 0;
        }
        let (k, v) = match &self.cache {
            Some((ck, cv)) => (Tensor::cat(&[ck, &k], 2)?, Tensor::cat(&[cv, &v], 2)?),
            None => (k, v),
        };
        let kv_start = self.cache_start;
        let kv_len = k.dim(2)?;

        let group = self.n_head / self.n_kv_head;
        let kr = candle_transformers::utils::repeat_kv(k.clone(), group)?.contiguous()?;
        let vr = candle_transformers::utils::repeat_kv(v.clone(), group)?.contiguous()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut att = (q.contiguous()?.matmul(&kr.t()?)? * scale)?;
        if let Some(mask) = attention_mask(self.window, len, pos, kv_start, kv_len, x.device())? {
            att = att.broadcast_add(&mask)?;
        }
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&vr)?;
        let y = y
            .transpose(1, 2)?
            .reshape((b, len, self.n_head * self.head_dim))?;

        // Keep only what a later query can see: sliding layers need the last
        // `window - 1` positions, global layers everything.
        let (k, v, start) = match self.window {
            Some(w) if kv_len > w.saturating_sub(1) => {
                let keep = w.saturating_sub(1);
                let drop = kv_len - keep;
                (
                    k.narrow(2, drop, keep)?.contiguous()?,
                    v.narrow(2, drop, keep)?.contiguous()?,
                    kv_start + drop,
                )
            }
            _ => (k, v, kv_start),
        };
        self.cache = Some((k, v));
        self.cache_start = start;
        self.wo.forward(&y)
    }

    /// Whether the cache can be cut back to positions `0..len` and still hold
    /// every key a query at position `len` sees (a sliding layer has dropped
    /// the positions more than `window - 1` behind its last one).
    fn can_keep(&self, len: usize) -> bool {
        let Some((k, _)) = &self.cache else {
            return len == 0;
        };
        let end = self.cache_start + k.dim(2).unwrap_or(0);
        let first_seen = match self.window {
            Some(w) => len.saturating_sub(w.saturating_sub(1)),
            None => 0,
        };
        len <= end && self.cache_start <= first_seen
    }

    /// Cuts the cache back to positions before `len` (checked by [`Layer::can_keep`]).
    fn keep(&mut self, len: usize) -> Result<()> {
        if let Some((k, v)) = &self.cache {
            let n = len - self.cache_start;
            self.cache = if n == 0 {
                None
            } else {
                Some((
                    k.narrow(2, 0, n)?.contiguous()?,
                    v.narrow(2, 0, n)?.contiguous()?,
                ))
            };
            if self.cache.is_none() {
                self.cache_start = len;
            }
        }
        Ok(())
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let gate = self.gate.forward(x)?.gelu()?;
        let up = self.up.forward(x)?;
        self.down.forward(&(gate * up)?)
    }
}

/// Additive mask for `len` queries at absolute positions `pos..pos+len`
/// against keys at `kv_start..kv_start+kv_len`; `None` when nothing is masked.
fn attention_mask(
    window: Option<usize>,
    len: usize,
    pos: usize,
    kv_start: usize,
    kv_len: usize,
    dev: &Device,
) -> Result<Option<Tensor>> {
    let mut any = false;
    let mut m = Vec::with_capacity(len * kv_len);
    for i in 0..len {
        let q = pos + i;
        for j in 0..kv_len {
            let k = kv_start + j;
            let visible = k <= q && window.is_none_or(|w| q - k < w);
            any |= !visible;
            m.push(if visible { 0f32 } else { f32::NEG_INFINITY });
        }
    }
    if !any {
        return Ok(None);
    }
    Tensor::from_vec(m, (1, 1, len, kv_len), dev).map(Some)
}

/// Gemma 3 weights plus per-layer KV caches.
#[derive(Debug)]
pub struct Gemma3 {
    embed: Embedding,
    embed_scale: f64,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    max_positions: usize,
}

impl Gemma3 {
    /// Loads the weights; rotary tables cover `max_positions` positions.
    /// `file`, the GGUF itself, lets an untied token table stay on disk.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        max_positions: usize,
        file: Option<&std::fs::File>,
        refine_head: bool,
    ) -> Result<Self> {
        let prefix = ["gemma3", "gemma2", "gemma"]
            .into_iter()
            .find(|p| {
                ct.metadata
                    .contains_key(&format!("{p}.attention.head_count"))
            })
            .unwrap_or("gemma3");
        let md = |key: &str| metadata(ct, prefix, key);
        let n_head = md("attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("attention.head_count_kv")?.to_u32()? as usize;
        let n_layer = md("block_count")?.to_u32()? as usize;
        let hidden = md("embedding_length")?.to_u32()? as usize;
        let head_dim = md("attention.key_length")?.to_u32()? as usize;
        let eps = f64::from(md("attention.layer_norm_rms_epsilon")?.to_f32()?);
        let window = md("attention.sliding_window")?.to_u32()? as usize;
        let pattern = md("attention.sliding_window_type")
            .and_then(|v| v.to_u32())
            .map(|v| v as usize)
            .unwrap_or(DEFAULT_SLIDING_PATTERN)
            .max(1);
        let base = md("rope.freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(DEFAULT_ROPE_BASE);
        let base_local = md("rope.local_freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(DEFAULT_ROPE_BASE_LOCAL);
        let linear_factor = match md("rope.scaling.type").and_then(|v| Ok(v.to_string()?.clone())) {
            Ok(t) if t == "linear" => md("rope.scaling.factor")
                .and_then(|v| v.to_f32())
                .unwrap_or(1.0),
            _ => 1.0,
        };

        let global = Arc::new(Rotary::new(
            head_dim,
            base,
            1.0 / linear_factor,
            None,
            max_positions,
            device,
        )?);
        let local = Arc::new(Rotary::new(
            head_dim,
            base_local,
            1.0,
            None,
            max_positions,
            device,
        )?);

        let (embed, output) = embedding_and_head(ct, reader, device, file, refine_head)?;
        let norm = RmsNorm::from_qtensor(ct.tensor(reader, "output_norm.weight", device)?, eps)?;

        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut t = |name: &str| ct.tensor(reader, &format!("blk.{i}.{name}.weight"), device);
            let sliding = (i + 1) % pattern != 0;
            layers.push(Layer {
                wq: Linear::from_qtensor(t("attn_q")?)?,
                wk: Linear::from_qtensor(t("attn_k")?)?,
                wv: Linear::from_qtensor(t("attn_v")?)?,
                wo: Linear::from_qtensor(t("attn_output")?)?,
                q_norm: RmsNorm::from_qtensor(t("attn_q_norm")?, eps)?,
                k_norm: RmsNorm::from_qtensor(t("attn_k_norm")?, eps)?,
                attn_norm: RmsNorm::from_qtensor(t("attn_norm")?, eps)?,
                post_attn_norm: RmsNorm::from_qtensor(t("post_attention_norm")?, eps)?,
                ffn_norm: RmsNorm::from_qtensor(t("ffn_norm")?, eps)?,
                post_ffn_norm: RmsNorm::from_qtensor(t("post_ffw_norm")?, eps)?,
                gate: Linear::from_qtensor(t("ffn_gate")?)?,
                up: Linear::from_qtensor(t("ffn_up")?)?,
                down: Linear::from_qtensor(t("ffn_down")?)?,
                n_head,
                n_kv_head,
                head_dim,
                window: sliding.then_some(window),
                rotary: if sliding {
                    local.clone()
                } else {
                    global.clone()
                },
                cache: None,
                cache_start: 0,
            });
        }
        Ok(Self {
            embed,
            embed_scale: (hidden as f64).sqrt(),
            layers,
            norm,
            output,
            max_positions,
        })
    }

    /// Runs `ids` (shape `(1, len)`) at absolute position `pos`; returns the
    /// logits of the last position, shape `(1, vocab)`.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, len) = ids.dims2()?;
        ensure_room(pos, len, self.max_positions)?;
        let mut x = (self.embed.forward(ids)? * self.embed_scale)?;
        for layer in &mut self.layers {
            let h = layer.attn_norm.forward(&x)?;
            let h = layer.attention(&h, pos)?;
            let h = layer.post_attn_norm.forward(&h)?;
            let x1 = (h + &x)?;
            let h = layer.ffn_norm.forward(&x1)?;
            let h = layer.mlp(&h)?;
            let h = layer.post_ffn_norm.forward(&h)?;
            x = (h + x1)?;
        }
        let last = x.narrow(1, len - 1, 1)?.squeeze(1)?;
        let last = self.norm.forward(&last)?;
        self.output.forward(&last)
    }

    /// Keeps the cached keys and values of positions `0..len` only, so a
    /// prompt that starts like the previous one continues from there. Fails,
    /// and forgets the cache, when a sliding-window layer no longer holds the
    /// keys the next position would see (the previous prompt ran more than a
    /// window past `len`).
    pub fn truncate_kv(&mut self, len: usize) -> Result<()> {
        if !self.layers.iter().all(|l| l.can_keep(len)) {
            self.clear_kv_cache();
            candle_core::bail!("cannot keep {len} cached positions");
        }
        for l in &mut self.layers {
            l.keep(len)?;
        }
        Ok(())
    }

    /// Forgets the KV cache.
    pub fn clear_kv_cache(&mut self) {
        for l in &mut self.layers {
            l.cache = None;
            l.cache_start = 0;
        }
    }

    /// Number of positions the rotary tables cover.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(mask: Option<Tensor>, len: usize, kv: usize) -> Vec<Vec<u8>> {
        match mask {
            None => vec![vec![1; kv]; len],
            Some(m) => m
                .reshape((len, kv))
                .and_then(|m| m.to_vec2::<f32>())
                .expect("mask values")
                .into_iter()
                .map(|row| row.into_iter().map(|v| u8::from(v == 0.0)).collect())
                .collect(),
        }
    }

    #[test]
    fn causal_mask_continues_from_cache() {
        // Two new queries at positions 3 and 4 against cached keys 0..3 plus themselves.
        let m = attention_mask(None, 2, 3, 0, 5, &Device::Cpu).expect("mask");
        assert_eq!(
            visible(m, 2, 5),
            vec![vec![1, 1, 1, 1, 0], vec![1, 1, 1, 1, 1]]
        );
    }

    #[test]
    fn sliding_window_hides_keys_window_or_more_back() {
        let m = attention_mask(Some(2), 3, 0, 0, 3, &Device::Cpu).expect("mask");
        assert_eq!(
            visible(m, 3, 3),
            vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]
        );
    }

    #[test]
    fn single_query_within_trimmed_window_needs_no_mask() {
        // Cache trimmed to window-1 = 2 entries starting at position 5; query at 7.
        let m = attention_mask(Some(3), 1, 7, 5, 3, &Device::Cpu).expect("mask");
        assert!(m.is_none());
    }
}
