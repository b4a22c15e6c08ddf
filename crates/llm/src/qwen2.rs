//! Qwen2 / Qwen2.5 text decoder over quantized GGUF weights.
//!
//! Cairn's default answer model is a Qwen2.5, so this decoder is ours rather
//! than candle 0.11's `quantized_qwen2`, which it follows in structure (GQA
//! attention with q/k/v biases, RMSNorm, rotary embeddings, SwiGLU). It
//! differs where that matters on a laptop:
//!
//! - the token embedding stays quantized and only the looked-up rows are
//!   dequantized; candle dequantizes the whole table to `f32`
//!   (151,936 × 896 × 4 B ≈ 545 MB for Qwen2.5-0.5B), and with tied
//!   embeddings the output head reads the same quantized tensor;
//! - the KV cache can be cut back to a prefix ([`Qwen2::truncate_kv`]), so a
//!   prompt that starts like the previous one (same system prompt and chat
//!   template) continues from the cached keys and values instead of
//!   recomputing them;
//! - masks are built per call, not kept in a map that grows with every new
//!   (length, position) pair over a long-running session.

use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use std::sync::Arc;

use crate::parts::{embedding_and_head, ensure_room, metadata, Rotary};

const DEFAULT_ROPE_BASE: f32 = 10_000.;

#[derive(Debug)]
struct Layer {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    bq: Tensor,
    bk: Tensor,
    bv: Tensor,
    wo: QMatMul,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
    /// Keys and values of positions `0..len`, shape `(1, n_kv_head, len, head_dim)`.
    cache: Option<(Tensor, Tensor)>,
}

/// Qwen2 weights plus per-layer KV caches.
#[derive(Debug)]
pub struct Qwen2 {
    embed: Arc<QTensor>,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    rotary: Rotary,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    max_positions: usize,
}

/// Additive causal mask for `len` new queries at absolute positions
/// `pos..pos + len` over keys `0..pos + len`: 0 where visible, -inf after.
fn causal_mask(len: usize, pos: usize, dev: &Device) -> Result<Tensor> {
    let kv = pos + len;
    let mut m = vec![0f32; len * kv];
    for i in 0..len {
        for j in (pos + i + 1)..kv {
            m[i * kv + j] = f32::NEG_INFINITY;
        }
    }
    Tensor::from_vec(m, (1, 1, len, kv), dev)
}

impl Layer {
    fn attention(
        &mut self,
        x: &Tensor,
        pos: usize,
        mask: Option<&Tensor>,
        m: &Dims,
    ) -> Result<Tensor> {
        let (b, len, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((b, len, n, m.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(self.wq.forward(x)?.broadcast_add(&self.bq)?, m.n_head)?;
        let k = heads(self.wk.forward(x)?.broadcast_add(&self.bk)?, m.n_kv_head)?;
        let v = heads(self.wv.forward(x)?.broadcast_add(&self.bv)?, m.n_kv_head)?;
        let q = m.rotary.apply(&q, pos)?;
        let k = m.rotary.apply(&k, pos)?;

        let (k, v) = match self.cache.take() {
            Some((ck, cv)) if pos > 0 => (Tensor::cat(&[&ck, &k], 2)?, Tensor::cat(&[&cv, &v], 2)?),
            _ => (k, v),
        };
        self.cache = Some((k.clone(), v.clone()));

        let group = m.n_head / m.n_kv_head;
        let k = candle_transformers::utils::repeat_kv(k, group)?.contiguous()?;
        let v = candle_transformers::utils::repeat_kv(v, group)?.contiguous()?;
        let att = (q.matmul(&k.t()?)? / (m.head_dim as f64).sqrt())?;
        let att = match mask {
            Some(mask) => att.broadcast_add(mask)?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, len, m.n_head * m.head_dim))?;
        self.wo.forward(&y)
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

/// The shape facts every layer needs, borrowed from the model during a pass.
struct Dims<'a> {
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    rotary: &'a Rotary,
}

impl Qwen2 {
    /// Loads the weights; rotary tables cover `max_positions` positions.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        max_positions: usize,
    ) -> Result<Self> {
        let md = |key: &str| metadata(ct, "qwen2", key);
        let n_head = md("attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("attention.head_count_kv")?.to_u32()? as usize;
        let hidden = md("embedding_length")?.to_u32()? as usize;
        let n_layer = md("block_count")?.to_u32()? as usize;
        let eps = f64::from(md("attention.layer_norm_rms_epsilon")?.to_f32()?);
        let base = md("rope.freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(DEFAULT_ROPE_BASE);
        if n_head == 0
            || n_kv_head == 0
            || !n_head.is_multiple_of(n_kv_head)
            || !hidden.is_multiple_of(n_head)
        {
            candle_core::bail!(
                "inconsistent qwen2 shape: {n_head} heads, {n_kv_head} KV heads, hidden size {hidden}"
            );
        }
        let head_dim = hidden / n_head;

        let rotary = Rotary::new(head_dim, base, 1.0, max_positions, device)?;

        // With tied embeddings the head multiplies by the same quantized table.
        let (embed, output) = embedding_and_head(ct, reader, device)?;
        let norm = RmsNorm::from_qtensor(ct.tensor(reader, "output_norm.weight", device)?, eps)?;

        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut t = |name: &str| ct.tensor(reader, &format!("blk.{i}.{name}"), device);
            layers.push(Layer {
                wq: QMatMul::from_qtensor(t("attn_q.weight")?)?,
                wk: QMatMul::from_qtensor(t("attn_k.weight")?)?,
                wv: QMatMul::from_qtensor(t("attn_v.weight")?)?,
                bq: t("attn_q.bias")?.dequantize(device)?,
                bk: t("attn_k.bias")?.dequantize(device)?,
                bv: t("attn_v.bias")?.dequantize(device)?,
                wo: QMatMul::from_qtensor(t("attn_output.weight")?)?,
                attn_norm: RmsNorm::from_qtensor(t("attn_norm.weight")?, eps)?,
                ffn_norm: RmsNorm::from_qtensor(t("ffn_norm.weight")?, eps)?,
                gate: QMatMul::from_qtensor(t("ffn_gate.weight")?)?,
                up: QMatMul::from_qtensor(t("ffn_up.weight")?)?,
                down: QMatMul::from_qtensor(t("ffn_down.weight")?)?,
                cache: None,
            });
        }
        Ok(Self {
            embed,
            layers,
            norm,
            output,
            rotary,
            n_head,
            n_kv_head,
            head_dim,
            max_positions,
        })
    }

    /// Runs `ids` (shape `(1, len)`) at absolute position `pos`, after the
    /// `pos` positions held in the KV cache; returns the logits of the last
    /// position, shape `(1, vocab)`.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, len) = ids.dims2()?;
        ensure_room(pos, len, self.max_positions)?;
        if pos != self.cached_len() {
            candle_core::bail!(
                "the KV cache holds {} positions but the input starts at {pos}",
                self.cached_len()
            );
        }
        let mask = if len > 1 {
            Some(causal_mask(len, pos, ids.device())?)
        } else {
            None
        };
        let shape = Dims {
            n_head: self.n_head,
            n_kv_head: self.n_kv_head,
            head_dim: self.head_dim,
            rotary: &self.rotary,
        };
        let mut x = self.embed.embedding(ids)?;
        for layer in &mut self.layers {
            let h = layer.attn_norm.forward(&x)?;
            let h = layer.attention(&h, pos, mask.as_ref(), &shape)?;
            let x1 = (h + &x)?;
            let h = layer.mlp(&layer.ffn_norm.forward(&x1)?)?;
            x = (h + x1)?;
        }
        let last = x.narrow(1, len - 1, 1)?.squeeze(1)?;
        self.output.forward(&self.norm.forward(&last)?)
    }

    /// Positions currently held in the KV cache.
    pub fn cached_len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.cache.as_ref())
            .and_then(|(k, _)| k.dim(2).ok())
            .unwrap_or(0)
    }

    /// Keeps the cached keys and values of the first `len` positions only.
    pub fn truncate_kv(&mut self, len: usize) -> Result<()> {
        for l in &mut self.layers {
            l.cache = match l.cache.take() {
                Some((k, v)) if len > 0 && k.dim(2)? >= len => {
                    Some((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?))
                }
                _ => None,
            };
        }
        if self.cached_len() != len {
            self.clear_kv_cache();
            candle_core::bail!("cannot keep {len} cached positions");
        }
        Ok(())
    }

    /// Forgets the KV cache.
    pub fn clear_kv_cache(&mut self) {
        for l in &mut self.layers {
            l.cache = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_only_future_positions() {
        let m = causal_mask(2, 3, &Device::Cpu).unwrap();
        let rows: Vec<Vec<f32>> = m.squeeze(0).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(rows[0], vec![0., 0., 0., 0., inf]);
        assert_eq!(rows[1], vec![0., 0., 0., 0., 0.]);
    }
}
