//! Pieces shared by Cairn's own decoders ([`crate::dense`], [`crate::gemma3`]).

use std::fs::File;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{DType, Device, Result, Tensor};

use crate::linear::{pack, packable, Embedding, FileRows, Linear};

/// cos/sin tables for one frequency base, shared by every layer that uses it.
#[derive(Debug, Clone)]
pub(crate) struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    /// Tables for `positions` positions; `scale` multiplies positions (linear
    /// rope scaling divides them by its factor, llama.cpp's freq_scale).
    /// `factors`, one per rotated pair, divide the frequencies (Llama 3.1+
    /// files carry them as `rope_freqs.weight`).
    pub fn new(
        head_dim: usize,
        base: f32,
        scale: f32,
        factors: Option<&[f32]>,
        positions: usize,
        dev: &Device,
    ) -> Result<Self> {
        if let Some(f) = factors {
            if f.len() != head_dim / 2 {
                candle_core::bail!(
                    "{} rope frequency factors for a head of {head_dim}",
                    f.len()
                );
            }
        }
        let inv: Vec<f32> = (0..head_dim)
            .step_by(2)
            .enumerate()
            .map(|(n, i)| {
                let factor = factors.map_or(1.0, |f| f[n]);
                1f32 / base.powf(i as f32 / head_dim as f32) / factor
            })
            .collect();
        let half = inv.len();
        let inv = Tensor::from_vec(inv, (1, half), dev)?;
        let pos = (Tensor::arange(0u32, positions as u32, dev)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?
            * f64::from(scale))?;
        let freqs = pos.matmul(&inv)?;
        Ok(Self {
            cos: freqs.cos()?,
            sin: freqs.sin()?,
        })
    }

    /// Rotates `x` (shape `(batch, heads, len, head_dim)`) for positions `offset..offset + len`.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, _, len, _) = x.dims4()?;
        let cos = self.cos.narrow(0, offset, len)?;
        let sin = self.sin.narrow(0, offset, len)?;
        candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
    }

    /// Like [`Rotary::apply`] but rotating adjacent pairs `(2i, 2i + 1)`, the
    /// layout of llama-family GGUF files.
    pub fn apply_interleaved(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, _, len, _) = x.dims4()?;
        let cos = self.cos.narrow(0, offset, len)?;
        let sin = self.sin.narrow(0, offset, len)?;
        candle_nn::rotary_emb::rope_i(&x.contiguous()?, &cos, &sin)
    }
}

/// `{prefix}.{key}` from the GGUF metadata, or an error naming the key.
pub(crate) fn metadata<'a>(
    ct: &'a gguf_file::Content,
    prefix: &str,
    key: &str,
) -> Result<&'a Value> {
    let full = format!("{prefix}.{key}");
    ct.metadata
        .get(&full)
        .ok_or_else(|| candle_core::Error::Msg(format!("cannot find {full} in metadata")))
}

/// The token-embedding table, kept quantized (rows are dequantized when looked
/// up), and the output head: `output.weight`, or the same table when the
/// embeddings are tied (then one copy serves both). With a head of its own and
/// `file` (the GGUF `ct` was read from) on the CPU, the table stays in the file
/// and rows are read from it when looked up ([`Embedding::File`]).
pub(crate) fn embedding_and_head<R: std::io::Seek + std::io::Read>(
    ct: &gguf_file::Content,
    reader: &mut R,
    device: &Device,
    file: Option<&File>,
) -> Result<(Embedding, Linear)> {
    let own_head = match (
        ct.tensor(reader, "output.weight", device).ok(),
        file,
        device,
    ) {
        (Some(head), Some(file), Device::Cpu) => {
            let info = ct
                .tensor_infos
                .get("token_embd.weight")
                .ok_or_else(|| candle_core::Error::Msg("cannot find token_embd.weight".into()))?;
            let (rows, cols) = info.shape.dims2()?;
            let offset = ct
                .tensor_data_offset
                .checked_add(info.offset)
                .ok_or_else(|| {
                    candle_core::Error::Msg("token_embd.weight's offset overflows".into())
                })?;
            let rows = FileRows::new(file.try_clone()?, offset, info.ggml_dtype, rows, cols)?;
            return Ok((Embedding::File(Arc::new(rows)), Linear::from_qtensor(head)?));
        }
        (head, _, _) => head,
    };
    let table = ct.tensor(reader, "token_embd.weight", device)?;
    if let Some(head) = own_head {
        let embed = if packable(&table) {
            Embedding::Packed(Arc::new(pack(&table)?))
        } else {
            Embedding::Candle(Arc::new(table))
        };
        return Ok((embed, Linear::from_qtensor(head)?));
    }
    // Tied: one quantized copy is both the table and the head.
    Ok(if packable(&table) {
        let p = Arc::new(pack(&table)?);
        (Embedding::Packed(p.clone()), Linear::Packed(p))
    } else {
        let q = Arc::new(table);
        (
            Embedding::Candle(q.clone()),
            Linear::Candle(candle_core::quantized::QMatMul::from_arc(q)?),
        )
    })
}

/// Fails when positions `pos..pos + len` go past the `max` the tables cover.
pub(crate) fn ensure_room(pos: usize, len: usize, max: usize) -> Result<()> {
    if pos + len > max {
        candle_core::bail!(
            "position {} is beyond the {max} positions this model was loaded for",
            pos + len
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_factors_slow_their_pair_down() {
        let dev = Device::Cpu;
        let plain = Rotary::new(4, 10_000., 1.0, None, 9, &dev).unwrap();
        let scaled = Rotary::new(4, 10_000., 1.0, Some(&[1.0, 2.0]), 9, &dev).unwrap();
        let p: Vec<Vec<f32>> = plain.cos.to_vec2().unwrap();
        let s: Vec<Vec<f32>> = scaled.cos.to_vec2().unwrap();
        // Pair 0 is untouched; pair 1 at position 8 turns like it did at position 4.
        assert_eq!(p[8][0], s[8][0]);
        assert!(
            (s[8][1] - p[4][1]).abs() < 1e-6,
            "{} vs {}",
            s[8][1],
            p[4][1]
        );
        assert!(Rotary::new(4, 10_000., 1.0, Some(&[1.0]), 9, &dev).is_err());
    }
}
