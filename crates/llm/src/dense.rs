//! Dense decoder for the qwen2 (Qwen2, Qwen2.5), qwen3, llama (Llama 2/3,
//! SmolLM2, Mistral-style) and phi3 (Phi-3 mini 4k) families over quantized
//! GGUF weights.
//!
//! Cairn's default answer model is a Qwen2.5 and its fallback a SmolLM2, so
//! this decoder is ours rather than candle 0.11's `quantized_qwen2` /
//! `quantized_llama` / `quantized_qwen3`, which it follows in structure (GQA
//! attention, q/k/v biases where the file has them, RMSNorm, rotary
//! embeddings, SwiGLU). qwen3 adds an RMSNorm over each query and key head
//! before the rotation (`attn_q_norm`, `attn_k_norm`) and may have heads wider
//! than `hidden / heads` (`attention.key_length`). The families differ in the
//! rotary layout: qwen2 and qwen3 rotate the two halves of a head (NeoX
//! style), llama rotates adjacent pairs (llama.cpp's "norm"). phi3 is llama
//! with NeoX rotation and its projections stacked: one `attn_qkv` matrix and
//! one `ffn_up` holding the gate's rows then the up projection's.
//! It differs from candle where that matters on a laptop:
//!
//! - the token embedding stays quantized and only the looked-up rows are
//!   dequantized; candle dequantizes the whole table to `f32`
//!   (151,936 × 896 × 4 B ≈ 545 MB for Qwen2.5-0.5B, 1 GB for Llama 3.2 1B),
//!   and with tied embeddings the output head reads the same quantized tensor;
//! - the KV cache can be cut back to a prefix ([`Dense::truncate_kv`]), so a
//!   prompt that starts like the previous one (same system prompt and chat
//!   template) continues from the cached keys and values instead of
//!   recomputing them;
//! - masks are built per call, not kept in a map that grows with every new
//!   (length, position) pair over a long-running session.
//!
//! Llama 3.1+ rotary frequency factors (`rope_freqs.weight`) are applied.
//! Mixture-of-experts llama files, partial rotary dimensions and phi3's
//! long-context rotary factors are left to candle's `quantized_llama` /
//! `quantized_phi3` ([`Dense::supports`]).

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use crate::attention;
use crate::linear::{forward_many, Embedding, Linear};
use crate::parts::{embedding_and_head, ensure_room, metadata, Rotary};

const DEFAULT_ROPE_BASE: f32 = 10_000.;

/// The query, key and value projections: three matrices, or one whose rows
/// are the three stacked (phi3's `attn_qkv`).
#[derive(Debug)]
enum Qkv {
    Split { q: Linear, k: Linear, v: Linear },
    Fused(Linear),
}

/// The MLP's gate and up projections: two matrices, or one whose rows are the
/// gate's then the up projection's (phi3's `ffn_up`).
#[derive(Debug)]
enum GateUp {
    Split { gate: Linear, up: Linear },
    Fused(Linear),
}

#[derive(Debug)]
struct Layer {
    qkv: Qkv,
    bq: Option<Tensor>,
    bk: Option<Tensor>,
    bv: Option<Tensor>,
    /// qwen3: RMSNorm over each query / key head before the rotation.
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    wo: Linear,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate_up: GateUp,
    down: Linear,
    cache: KvCache,
}

/// Keys and values of positions `0..len`, in buffers with room to grow
/// (`(1, n_kv_head, capacity, head_dim)`), so a new position is written in
/// place instead of copying the whole cache for every token.
#[derive(Debug, Default)]
struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
}

/// Positions a cache grows by at a time.
const KV_STEP: usize = 256;

impl KvCache {
    fn capacity(&self) -> usize {
        self.k.as_ref().and_then(|k| k.dim(2).ok()).unwrap_or(0)
    }

    /// Appends `k` and `v` (`(1, n_kv, len, hd)`) and returns the whole cache
    /// so far, as views of the buffers.
    fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let add = k.dim(2)?;
        let need = self.len + add;
        if need > self.capacity() {
            let cap = need.div_ceil(KV_STEP) * KV_STEP;
            let (b, n_kv, _, hd) = k.dims4()?;
            let grow = |old: &Option<Tensor>| -> Result<Tensor> {
                let t = Tensor::zeros((b, n_kv, cap, hd), k.dtype(), k.device())?;
                if let Some(old) = old {
                    if self.len > 0 {
                        t.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                    }
                }
                Ok(t)
            };
            self.k = Some(grow(&self.k)?);
            self.v = Some(grow(&self.v)?);
        }
        let (ck, cv) = (
            self.k.as_ref().expect("grown"),
            self.v.as_ref().expect("grown"),
        );
        ck.slice_set(&k.contiguous()?, 2, self.len)?;
        cv.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len = need;
        // Views into the buffers, not copies: attention's matmuls read the
        // strided positions directly (a copy would move the whole cache,
        // every layer, every token).
        Ok((ck.narrow(2, 0, need)?, cv.narrow(2, 0, need)?))
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn clear(&mut self) {
        *self = KvCache::default();
    }
}

/// Decoder weights plus per-layer KV caches.
#[derive(Debug)]
pub struct Dense {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    rotary: Rotary,
    /// Adjacent-pair rotation (llama) instead of half-split (qwen2).
    interleaved: bool,
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
        // q, k and v share one quantization of `x`.
        let projected = match &self.qkv {
            Qkv::Split { q, k, v } => forward_many(x, &[q, k, v])?,
            Qkv::Fused(w) => {
                let y = w.forward(x)?;
                let (nq, nkv) = (m.n_head * m.head_dim, m.n_kv_head * m.head_dim);
                vec![
                    y.narrow(2, 0, nq)?,
                    y.narrow(2, nq, nkv)?,
                    y.narrow(2, nq + nkv, nkv)?,
                ]
            }
        };
        let mut qkv = projected.into_iter();
        let mut project = |b: &Option<Tensor>| -> Result<Tensor> {
            let y = qkv.next().expect("three projections");
            match b {
                Some(b) => y.broadcast_add(b),
                None => Ok(y),
            }
        };
        let q = heads(project(&self.bq)?, m.n_head)?;
        let k = heads(project(&self.bk)?, m.n_kv_head)?;
        let v = heads(project(&self.bv)?, m.n_kv_head)?;
        let per_head = |t: Tensor, norm: &Option<RmsNorm>| -> Result<Tensor> {
            match norm {
                Some(norm) => {
                    let shape = t.dims().to_vec();
                    norm.forward(&t.flatten(0, 2)?)?.reshape(shape)
                }
                None => Ok(t),
            }
        };
        let q = per_head(q, &self.q_norm)?;
        let k = per_head(k, &self.k_norm)?;
        let (q, k) = if m.interleaved {
            (
                m.rotary.apply_interleaved(&q, pos)?,
                m.rotary.apply_interleaved(&k, pos)?,
            )
        } else {
            (m.rotary.apply(&q, pos)?, m.rotary.apply(&k, pos)?)
        };

        if pos == 0 {
            self.cache.truncate(0);
        }
        let (k, v) = self.cache.append(&k, &v)?;
        let kv_len = k.dim(2)?;

        // Grouped-query attention without copying keys and values per query
        // head: the `group` query heads that share a KV head are stacked along
        // the position axis, so one matmul serves them all.
        let group = m.n_head / m.n_kv_head;
        let q = q.reshape((b, m.n_kv_head, group * len, m.head_dim))?;
        if len == 1 && b == 1 && q.device().is_cpu() && q.dtype() == DType::F32 {
            let scale = 1.0 / (m.head_dim as f32).sqrt();
            let y = attention::decode_attention(&q, &k, &v, scale)?.reshape((
                b,
                len,
                m.n_head * m.head_dim,
            ))?;
            return self.wo.forward(&y);
        }
        let att = (q.matmul(&k.t()?)? / (m.head_dim as f64).sqrt())?;
        let att = match mask {
            Some(mask) => att
                .reshape((b, m.n_kv_head, group, len, kv_len))?
                .broadcast_add(&mask.unsqueeze(0)?)?
                .reshape((b, m.n_kv_head, group * len, kv_len))?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att
            .matmul(&v)?
            .reshape((b, m.n_head, len, m.head_dim))?
            .transpose(1, 2)?
            .reshape((b, len, m.n_head * m.head_dim))?;
        self.wo.forward(&y)
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let [gate, up]: [Tensor; 2] = match &self.gate_up {
            GateUp::Split { gate, up } => forward_many(x, &[gate, up])?
                .try_into()
                .expect("two projections"),
            GateUp::Fused(w) => {
                let y = w.forward(x)?;
                let half = y.dim(2)? / 2;
                [y.narrow(2, 0, half)?, y.narrow(2, half, half)?]
            }
        };
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

/// The shape facts every layer needs, borrowed from the model during a pass.
struct Dims<'a> {
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    rotary: &'a Rotary,
    interleaved: bool,
}

impl Dense {
    /// Whether this decoder runs `arch` files like `ct`: qwen2, qwen3, llama
    /// without experts and phi3 without long-context rotary factors, the last
    /// two with rotary embeddings over whole heads.
    pub fn supports(arch: &str, ct: &gguf_file::Content) -> bool {
        match arch {
            "qwen2" | "qwen3" => true,
            "llama" | "phi3" => {
                if arch == "phi3"
                    && ["rope_factors_long.weight", "rope_factors_short.weight"]
                        .iter()
                        .any(|t| ct.tensor_infos.contains_key(*t))
                {
                    return false;
                }
                let md = |key: &str| metadata(ct, arch, key).and_then(|v| v.to_u32()).ok();
                let whole_heads = match (
                    md("rope.dimension_count"),
                    md("embedding_length"),
                    md("attention.head_count"),
                ) {
                    (Some(rope), Some(hidden), Some(heads)) if heads > 0 => {
                        let head = md("attention.key_length").unwrap_or(hidden / heads);
                        rope == head
                    }
                    (None, _, _) => true,
                    _ => false,
                };
                md("expert_count").unwrap_or(0) <= 1 && whole_heads
            }
            _ => false,
        }
    }

    /// Loads the weights of a `qwen2`, `qwen3`, `llama` or `phi3` file; rotary tables cover
    /// `max_positions` positions. `file`, the GGUF itself, lets an untied
    /// token table stay on disk (see [`embedding_and_head`]).
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        arch: &str,
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        max_positions: usize,
        file: Option<&std::fs::File>,
        refine_head: bool,
    ) -> Result<Self> {
        let md = |key: &str| metadata(ct, arch, key);
        let n_head = md("attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("attention.head_count_kv")?.to_u32()? as usize;
        let hidden = md("embedding_length")?.to_u32()? as usize;
        let n_layer = md("block_count")?.to_u32()? as usize;
        let eps = f64::from(md("attention.layer_norm_rms_epsilon")?.to_f32()?);
        let base = md("rope.freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(DEFAULT_ROPE_BASE);
        // Heads are `hidden / heads` wide unless the file says otherwise (qwen3).
        let key_length = md("attention.key_length")
            .and_then(|v| v.to_u32())
            .ok()
            .map(|n| n as usize);
        let value_length = md("attention.value_length")
            .and_then(|v| v.to_u32())
            .ok()
            .map(|n| n as usize);
        if n_head == 0
            || n_kv_head == 0
            || !n_head.is_multiple_of(n_kv_head)
            || (key_length.is_none() && !hidden.is_multiple_of(n_head))
            || key_length.is_some_and(|k| k == 0 || value_length.is_some_and(|v| v != k))
        {
            candle_core::bail!(
                "inconsistent {arch} shape: {n_head} heads, {n_kv_head} KV heads, hidden size {hidden}, head size {key_length:?}/{value_length:?}"
            );
        }
        let head_dim = key_length.unwrap_or(hidden / n_head);

        // Llama 3.1+ scale some rotary frequencies down (llama.cpp's freq_factors).
        let factors = match ct.tensor(reader, "rope_freqs.weight", device) {
            Ok(t) => Some(t.dequantize(device)?.flatten_all()?.to_vec1::<f32>()?),
            Err(_) => None,
        };
        let rotary = Rotary::new(
            head_dim,
            base,
            1.0,
            factors.as_deref(),
            max_positions,
            device,
        )?;

        // With tied embeddings the head multiplies by the same quantized table.
        let (embed, output) = embedding_and_head(ct, reader, device, file, refine_head)?;
        let norm = RmsNorm::from_qtensor(ct.tensor(reader, "output_norm.weight", device)?, eps)?;

        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut t = |name: &str| ct.tensor(reader, &format!("blk.{i}.{name}"), device);
            // Stacked projections (phi3) are told apart by which tensors exist,
            // so a damaged tensor is reported as such, not as a missing one.
            let has = |name: &str| ct.tensor_infos.contains_key(&format!("blk.{i}.{name}"));
            layers.push(Layer {
                qkv: match has("attn_qkv.weight") {
                    true => Qkv::Fused(Linear::from_qtensor(t("attn_qkv.weight")?)?),
                    false => Qkv::Split {
                        q: Linear::from_qtensor(t("attn_q.weight")?)?,
                        k: Linear::from_qtensor(t("attn_k.weight")?)?,
                        v: Linear::from_qtensor(t("attn_v.weight")?)?,
                    },
                },
                bq: t("attn_q.bias")
                    .ok()
                    .map(|b| b.dequantize(device))
                    .transpose()?,
                bk: t("attn_k.bias")
                    .ok()
                    .map(|b| b.dequantize(device))
                    .transpose()?,
                bv: t("attn_v.bias")
                    .ok()
                    .map(|b| b.dequantize(device))
                    .transpose()?,
                q_norm: t("attn_q_norm.weight")
                    .ok()
                    .map(|w| RmsNorm::from_qtensor(w, eps))
                    .transpose()?,
                k_norm: t("attn_k_norm.weight")
                    .ok()
                    .map(|w| RmsNorm::from_qtensor(w, eps))
                    .transpose()?,
                wo: Linear::from_qtensor(t("attn_output.weight")?)?,
                attn_norm: RmsNorm::from_qtensor(t("attn_norm.weight")?, eps)?,
                ffn_norm: RmsNorm::from_qtensor(t("ffn_norm.weight")?, eps)?,
                gate_up: match has("ffn_gate.weight") {
                    true => GateUp::Split {
                        gate: Linear::from_qtensor(t("ffn_gate.weight")?)?,
                        up: Linear::from_qtensor(t("ffn_up.weight")?)?,
                    },
                    false => GateUp::Fused(Linear::from_qtensor(t("ffn_up.weight")?)?),
                },
                down: Linear::from_qtensor(t("ffn_down.weight")?)?,
                cache: KvCache::default(),
            });
        }
        Ok(Self {
            embed,
            layers,
            norm,
            output,
            rotary,
            interleaved: arch == "llama",
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
            interleaved: self.interleaved,
        };
        let mut x = self.embed.forward(ids)?;
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
        self.layers.first().map_or(0, |l| l.cache.len)
    }

    /// Keeps the cached keys and values of the first `len` positions only.
    pub fn truncate_kv(&mut self, len: usize) -> Result<()> {
        if len > self.cached_len() {
            self.clear_kv_cache();
            candle_core::bail!("cannot keep {len} cached positions");
        }
        for l in &mut self.layers {
            l.cache.truncate(len);
        }
        Ok(())
    }

    /// Forgets the KV cache.
    pub fn clear_kv_cache(&mut self) {
        for l in &mut self.layers {
            l.cache.clear();
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
