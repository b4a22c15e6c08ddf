//! Attention of one new position over the KV cache, on the CPU.
//!
//! Decoding runs one query position per step against every cached position.
//! As two general matrix products (`q · kᵀ`, then `p · v`) the `gemm` crate
//! packs the whole cache into its own layout twice per layer and token, for a
//! product of a handful of rows: 8.5 % of a decode step at about a thousand
//! cached positions (measured with perf, docs/BENCHMARKS.md). Here the cache is
//! read where it lies: each key row once for every query head that shares it,
//! the value rows once per query head with the sums held in registers
//! (`cairn_kernels::attend`, which picks AVX-512 or AVX2 at run time).

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `softmax(q · kᵀ · scale) · v` for one query position. Shapes: `q`
/// `(1, n_kv, group, hd)` (the `group` query heads of each KV head, one
/// position), `k` and `v` `(1, n_kv, len, hd)` with unit stride along `hd`
/// (views into the cache are fine). Returns `(1, n_kv, group, hd)`.
pub(crate) fn decode_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f32) -> Result<Tensor> {
    q.contiguous()?
        .apply_op3_no_bwd(k, v, &DecodeAttention { scale })
}

struct DecodeAttention {
    scale: f32,
}

/// Element offsets of a rank-4 f32 view: its start, and its strides along
/// heads and positions (the last dimension must be contiguous).
fn strides4(l: &Layout, what: &str) -> Result<(usize, usize, usize)> {
    let s = l.stride();
    if s.len() != 4 || s[3] != 1 {
        candle_core::bail!("decode attention: {what} needs a unit stride along its last dimension");
    }
    Ok((l.start_offset(), s[1], s[2]))
}

fn f32s<'a>(s: &'a CpuStorage, what: &str) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => Ok(v),
        _ => candle_core::bail!("decode attention: {what} is not f32"),
    }
}

impl CustomOp3 for DecodeAttention {
    fn name(&self) -> &'static str {
        "cairn-decode-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (q, k, v) = (f32s(qs, "q")?, f32s(ks, "k")?, f32s(vs, "v")?);
        let (b, n_kv, group, hd) = ql.shape().dims4()?;
        let (kb, k_heads, len, k_hd) = kl.shape().dims4()?;
        if b != 1 || kb != 1 || k_heads != n_kv || k_hd != hd || vl.shape() != kl.shape() {
            candle_core::bail!(
                "decode attention: q {:?} does not fit k {:?} / v {:?}",
                ql.shape(),
                kl.shape(),
                vl.shape()
            );
        }
        if !ql.is_contiguous() {
            candle_core::bail!("decode attention: q must be contiguous");
        }
        let q = &q[ql.start_offset()..ql.start_offset() + n_kv * group * hd];
        let (k0, k_head, k_pos) = strides4(kl, "k")?;
        let (v0, v_head, v_pos) = strides4(vl, "v")?;
        let isa = cairn_kernels::Isa::detect();
        let mut out = vec![0f32; n_kv * group * hd];
        out.par_chunks_mut(group * hd)
            .zip(q.par_chunks(group * hd))
            .enumerate()
            .for_each(|(h, (out, q))| {
                let keys = cairn_kernels::KvRows {
                    data: &k[k0 + h * k_head..],
                    stride: k_pos,
                };
                let values = cairn_kernels::KvRows {
                    data: &v[v0 + h * v_head..],
                    stride: v_pos,
                };
                let mut scores = Vec::new();
                cairn_kernels::attend(
                    isa,
                    q,
                    group,
                    hd,
                    keys,
                    values,
                    len,
                    self.scale,
                    &mut scores,
                    out,
                );
            });
        Ok((CpuStorage::F32(out), Shape::from((1, n_kv, group, hd))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    /// The reference: the two matrix products and candle's softmax.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Tensor {
        let att = (q.matmul(&k.contiguous().unwrap().t().unwrap()).unwrap() * scale).unwrap();
        let att = candle_nn::ops::softmax(&att, D::Minus1).unwrap();
        att.matmul(&v.contiguous().unwrap()).unwrap()
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_the_matrix_products_on_cache_views() {
        let dev = Device::Cpu;
        // Qwen2.5 0.5B's shape (2 KV heads of 7 query heads, 64 values), a
        // head size with a remainder past the 16 lanes, and a single head.
        for (n_kv, group, hd, len, cap) in [(2, 7, 64, 37, 64), (3, 3, 72, 5, 8), (1, 1, 8, 1, 1)] {
            let q =
                Tensor::from_vec(values(n_kv * group * hd, 1), (1, n_kv, group, hd), &dev).unwrap();
            // Buffers with room to grow, viewed up to `len`, as the cache is.
            let kbuf =
                Tensor::from_vec(values(n_kv * cap * hd, 2), (1, n_kv, cap, hd), &dev).unwrap();
            let vbuf =
                Tensor::from_vec(values(n_kv * cap * hd, 3), (1, n_kv, cap, hd), &dev).unwrap();
            let (k, v) = (
                kbuf.narrow(2, 0, len).unwrap(),
                vbuf.narrow(2, 0, len).unwrap(),
            );
            let scale = 1.0 / (hd as f64).sqrt();
            let got = decode_attention(&q, &k, &v, scale as f32).unwrap();
            let want = reference(&q, &k, &v, scale);
            assert_eq!(got.dims(), want.dims());
            let diff = (got - want)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                diff < 1e-5,
                "n_kv {n_kv} group {group} hd {hd} len {len}: off by {diff}"
            );
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        let dev = Device::Cpu;
        let q = Tensor::zeros((1, 2, 7, 64), candle_core::DType::F32, &dev).unwrap();
        let k = Tensor::zeros((1, 2, 5, 32), candle_core::DType::F32, &dev).unwrap();
        assert!(decode_attention(&q, &k, &k, 1.0).is_err());
    }
}
