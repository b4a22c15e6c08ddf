//! Activations quantized to int8, once per input.
//!
//! Each row of `x` is cut into blocks (32 values for the 32-value weight
//! formats, 256 for K-quants); a block keeps its scale `d = max|x| / 127`, its
//! values `round(x / d)` in `-127..=127`, and the sums of those values per 16
//! (what the offset, minimum and Q6_K terms need). The rounding uses the
//! float "magic number" trick, so it is fast without SSE4.1 and the same on
//! every CPU.

use crate::format::Format;

/// One block size's quantization of every row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Quantized {
    /// Values per block (32 or 256).
    pub block: usize,
    /// `m × k` values.
    pub qs: Vec<i8>,
    /// `m × k / block` scales.
    pub d: Vec<f32>,
    /// `m × k / 16` sums of 16 values.
    pub sum16: Vec<i32>,
}

/// Activations `x` (`m × k`) quantized for the weight formats they meet.
#[derive(Debug, Clone, Default)]
pub struct Activations {
    m: usize,
    k: usize,
    pub(crate) b32: Option<Quantized>,
    pub(crate) b256: Option<Quantized>,
}

/// Rounds to the nearest integer (ties to even) for |v| < 2^22, in float ops.
#[inline(always)]
fn round(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    (v + MAGIC) - MAGIC
}

fn quantize(x: &[f32], m: usize, k: usize, block: usize, q: &mut Quantized) {
    q.block = block;
    q.qs.resize(m * k, 0);
    q.d.resize(m * k / block, 0.0);
    q.sum16.resize(m * k / 16, 0);
    for (b, (xs, qs)) in x
        .chunks_exact(block)
        .zip(q.qs.chunks_exact_mut(block))
        .enumerate()
    {
        let amax = xs.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        for (o, v) in qs.iter_mut().zip(xs) {
            *o = round(v * id).clamp(-127.0, 127.0) as i8;
        }
        q.d[b] = d;
        for (s, chunk) in qs.chunks_exact(16).enumerate() {
            q.sum16[b * block / 16 + s] = chunk.iter().map(|&v| v as i32).sum();
        }
    }
}

impl Activations {
    /// Quantizes `x` (`m` rows of `k`) for multiplying with weights of the
    /// given formats (one quantization per block size among them).
    ///
    /// # Panics
    /// If `x` is not `m × k` or `k` is not a multiple of the block sizes.
    pub fn quantize(x: &[f32], m: usize, k: usize, formats: &[Format]) -> Activations {
        let mut a = Activations::default();
        a.requantize(x, m, k, formats);
        a
    }

    /// [`Activations::quantize`] into this value's buffers (no allocation when
    /// the shape repeats).
    pub fn requantize(&mut self, x: &[f32], m: usize, k: usize, formats: &[Format]) {
        assert_eq!(x.len(), m * k, "activations are not m × k");
        self.m = m;
        self.k = k;
        let need32 = formats.iter().any(|f| !f.is_k());
        let need256 = formats.iter().any(|f| f.is_k());
        if need32 {
            assert!(k.is_multiple_of(32), "k = {k} is not a multiple of 32");
            quantize(x, m, k, 32, self.b32.get_or_insert_with(Default::default));
        } else {
            self.b32 = None;
        }
        if need256 {
            assert!(k.is_multiple_of(256), "k = {k} is not a multiple of 256");
            quantize(x, m, k, 256, self.b256.get_or_insert_with(Default::default));
        } else {
            self.b256 = None;
        }
    }

    /// Tokens (rows).
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.k
    }

    /// Whether these activations were quantized for weights of `format`.
    pub fn has_blocks_for(&self, format: Format) -> bool {
        if format.is_k() {
            self.b256.is_some()
        } else {
            self.b32.is_some()
        }
    }

    pub(crate) fn for_format(&self, format: Format) -> &Quantized {
        let q = if format.is_k() { &self.b256 } else { &self.b32 };
        q.as_ref().expect("checked by matmul")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_to_their_block_scale_and_sums_add_up() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.5).collect();
        let a = Activations::quantize(&x, 2, 32, &[Format::Q8_0]);
        let q = a.b32.as_ref().unwrap();
        assert_eq!(q.d.len(), 2);
        assert!((q.d[0] - 10.0 / 127.0).abs() < 1e-7);
        assert_eq!(q.qs[0], -127);
        for b in 0..4 {
            let s: i32 = q.qs[b * 16..b * 16 + 16].iter().map(|&v| v as i32).sum();
            assert_eq!(q.sum16[b], s);
        }
        for (i, &v) in x.iter().enumerate() {
            let back = q.qs[i] as f32 * q.d[i / 32];
            assert!(
                (back - v).abs() <= q.d[i / 32] * 0.5 + 1e-6,
                "{i}: {v} vs {back}"
            );
        }
        assert!(a.b256.is_none());
    }

    #[test]
    fn zeros_quantize_to_zeros() {
        let a = Activations::quantize(&[0.0; 256], 1, 256, &[Format::Q4K]);
        let q = a.b256.as_ref().unwrap();
        assert!(q.qs.iter().all(|&v| v == 0) && q.d[0] == 0.0);
    }
}
