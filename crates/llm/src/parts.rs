//! Pieces shared by Cairn's own decoders ([`crate::dense`], [`crate::gemma3`]).

use std::fs::File;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{DType, Device, Result, Tensor};

use crate::linear::{kernel_format, pack, packable, Embedding, FileRows, Linear, RefinedHead};

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
/// `file` (the GGUF `ct` was read from) on the CPU: if the table is a smaller
/// copy of the head's matrix and `refine` allows, the table is resident and
/// the head's rows stay in the file ([`RefinedHead`]); otherwise the head is
/// resident and the table stays in the file, its rows read when looked up
/// ([`Embedding::File`]).
pub(crate) fn embedding_and_head<R: std::io::Seek + std::io::Read>(
    ct: &gguf_file::Content,
    reader: &mut R,
    device: &Device,
    file: Option<&File>,
    refine: bool,
) -> Result<(Embedding, Linear)> {
    let has_head = ct.tensor_infos.contains_key("output.weight");
    if let (true, Some(file), Device::Cpu) = (has_head, file, device) {
        if refine {
            if let Some(pair) = refined_head(ct, reader, file)? {
                return Ok(pair);
            }
        }
        let head = ct.tensor(reader, "output.weight", device)?;
        let rows = file_rows(ct, "token_embd.weight", file)?;
        return Ok((Embedding::File(Arc::new(rows)), Linear::from_qtensor(head)?));
    }
    let own_head = ct.tensor(reader, "output.weight", device).ok();
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

/// The rows of the 2-D tensor `name`, left in `file`.
fn file_rows(ct: &gguf_file::Content, name: &str, file: &File) -> Result<FileRows> {
    let info = ct
        .tensor_infos
        .get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("cannot find {name}")))?;
    let (rows, cols) = info.shape.dims2()?;
    let offset = ct
        .tensor_data_offset
        .checked_add(info.offset)
        .ok_or_else(|| candle_core::Error::Msg(format!("{name}'s offset overflows")))?;
    FileRows::new(file.try_clone()?, offset, info.ggml_dtype, rows, cols)
}

/// The token table (resident) and a head scored with it ([`RefinedHead`]),
/// when the table is the head's matrix stored smaller; `None` otherwise (the
/// formats are not the kernels', the table is not smaller, or its rows are not
/// the head's: an untied model).
fn refined_head<R: std::io::Seek + std::io::Read>(
    ct: &gguf_file::Content,
    reader: &mut R,
    file: &File,
) -> Result<Option<(Embedding, Linear)>> {
    let infos = &ct.tensor_infos;
    let (Some(head), Some(table)) = (infos.get("output.weight"), infos.get("token_embd.weight"))
    else {
        return Ok(None);
    };
    let Ok((_, cols)) = head.shape.dims2() else {
        return Ok(None);
    };
    let (Some(head_format), Some(table_format)) = (
        kernel_format(head.ggml_dtype, cols),
        kernel_format(table.ggml_dtype, cols),
    ) else {
        return Ok(None);
    };
    let bytes = |f: cairn_kernels::Format| cols / f.block_values() * f.block_bytes();
    if table.shape.dims() != head.shape.dims() || bytes(table_format) >= bytes(head_format) {
        return Ok(None);
    }
    let head_rows = file_rows(ct, "output.weight", file)?;
    // Compared in the file first: an untied table is never loaded here.
    if !same_matrix(&file_rows(ct, "token_embd.weight", file)?, &head_rows)? {
        tracing::debug!("the token table is not the output head's matrix: both kept as stored");
        return Ok(None);
    }
    let table = Arc::new(pack(&ct.tensor(
        reader,
        "token_embd.weight",
        &Device::Cpu,
    )?)?);
    let head = RefinedHead::new(table.clone(), head_rows, head_format)?;
    Ok(Some((
        Embedding::Packed(table),
        Linear::Refined(Arc::new(head)),
    )))
}

/// Whether `table` and `head` (of one shape) hold one matrix quantized twice:
/// sixteen rows spread over the vocabulary agree to within rounding (a few
/// percent of their length for 4- to 8-bit formats; two different matrices
/// differ by more than their length).
fn same_matrix(table: &FileRows, head: &FileRows) -> Result<bool> {
    const SAMPLES: usize = 16;
    let rows = head.rows().min(table.rows());
    let ids: Vec<u32> = (0..SAMPLES)
        .map(|i| ((i * rows + rows / 2) / SAMPLES) as u32)
        .filter(|&i| (i as usize) < rows)
        .collect();
    let exact: Vec<Vec<f32>> = head.lookup(&ids)?.to_vec2()?;
    let cheap: Vec<Vec<f32>> = table.lookup(&ids)?.to_vec2()?;
    let mut compared = 0;
    for (row, b) in cheap.iter().zip(&exact) {
        let norm: f32 = b.iter().map(|v| v * v).sum::<f32>().sqrt();
        let diff: f32 = row
            .iter()
            .zip(b)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        if norm == 0.0 {
            // An unused (padding) entry: zero in both copies or proof they differ.
            if diff > 0.0 {
                return Ok(false);
            }
            continue;
        }
        if diff > 0.2 * norm {
            return Ok(false);
        }
        compared += 1;
    }
    Ok(compared >= SAMPLES / 2)
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
    use crate::linear::tests::{matrix, rows_in_a_file};

    #[test]
    fn a_table_is_the_head_s_matrix_only_when_their_rows_agree() {
        use candle_core::quantized::{GgmlDType, QTensor};
        let (vocab, hidden) = (200, 64);
        let w = matrix(vocab, hidden, 3);
        let head = rows_in_a_file(&QTensor::quantize(&w, GgmlDType::Q8_0).unwrap());
        let tied = rows_in_a_file(&QTensor::quantize(&w, GgmlDType::Q5_0).unwrap());
        assert!(same_matrix(&tied, &head).unwrap());
        let coarse = rows_in_a_file(&QTensor::quantize(&w, GgmlDType::Q4_0).unwrap());
        assert!(same_matrix(&coarse, &head).unwrap());
        let other = matrix(vocab, hidden, 4);
        let untied = rows_in_a_file(&QTensor::quantize(&other, GgmlDType::Q5_0).unwrap());
        assert!(!same_matrix(&untied, &head).unwrap());
        // One sampled row of another matrix is enough to tell them apart
        // (the first sample is row (vocab / 2) / 16).
        let mut rows: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
        let swapped = vocab / 2 / 16;
        let theirs: Vec<f32> = other.get(swapped).unwrap().to_vec1().unwrap();
        rows[swapped * hidden..(swapped + 1) * hidden].copy_from_slice(&theirs);
        let w2 = Tensor::from_vec(rows, (vocab, hidden), &Device::Cpu).unwrap();
        let one_off = rows_in_a_file(&QTensor::quantize(&w2, GgmlDType::Q5_0).unwrap());
        assert!(!same_matrix(&one_off, &head).unwrap());
    }

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
