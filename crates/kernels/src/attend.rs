//! Attention of one new position over cached keys and values (f32).
//!
//! Decoding asks, per layer and KV head, for `softmax(q · kᵀ · scale) · v`
//! where `q` holds the few query heads that share the KV head and `k`, `v` the
//! cached positions. Each cached key row is read once for every query head of
//! the group; the value rows, a few hundred KB per KV head, are summed per
//! query head with the sums held in registers (read once per head, from
//! cache). One body, over each tier's dot product and
//! multiply-add of a row: AVX-512, AVX2 + FMA (both chosen at run time) and
//! portable Rust.

use crate::Isa;

/// Rows of one KV head in a cache: row `p` is `data[p * stride..][..hd]`.
#[derive(Debug, Clone, Copy)]
pub struct KvRows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
}

impl KvRows<'_> {
    /// Values `from..from + n` of row `p`.
    #[inline(always)]
    fn part(&self, p: usize, from: usize, n: usize) -> &[f32] {
        let at = p * self.stride + from;
        &self.data[at..at + n]
    }
}

/// Attention of `group` query heads (`q`: `group × hd`, row-major) over `len`
/// cached positions, written to `out` (`group × hd`). `scores` is scratch
/// space, reused between calls. Panics if a slice is shorter than the shapes
/// say.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    isa: Isa,
    q: &[f32],
    group: usize,
    hd: usize,
    keys: KvRows<'_>,
    values: KvRows<'_>,
    len: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    assert!(isa <= Isa::best_supported(), "this CPU cannot run {isa:?}");
    assert!(q.len() >= group * hd && out.len() >= group * hd);
    assert!(len == 0 || (keys.stride >= hd && values.stride >= hd));
    scores.clear();
    scores.resize(group * len, 0.0);
    let args = Args {
        q,
        group,
        hd,
        keys,
        values,
        len,
        scale,
    };
    match isa {
        // SAFETY: the assert above checked that the CPU has AVX-512 F (and
        // every feature of that tier).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { x86::attend_avx512(&args, scores, out) },
        // SAFETY: as above, for AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::attend_avx2(&args, scores, out) },
        _ => attend_portable(&args, scores, out),
    }
}

struct Args<'a> {
    q: &'a [f32],
    group: usize,
    hd: usize,
    keys: KvRows<'a>,
    values: KvRows<'a>,
    len: usize,
    scale: f32,
}

/// Columns of the output summed in one pass over the value rows.
const COLUMNS: usize = 64;

/// The body of every tier, over that tier's `dot(a, b) -> f32` and
/// `wsum(out, rows, column, weights)` (`out = Σ_p weights[p] · rows[p][column..]`).
macro_rules! attend_body {
    ($a:expr, $scores:expr, $out:expr, $dot:expr, $wsum:expr) => {{
        let a: &Args<'_> = $a;
        let (scores, out): (&mut [f32], &mut [f32]) = ($scores, $out);
        let (group, hd, len) = (a.group, a.hd, a.len);
        for p in 0..len {
            let key = a.keys.part(p, 0, hd);
            for g in 0..group {
                scores[g * len + p] = $dot(&a.q[g * hd..(g + 1) * hd], key) * a.scale;
            }
        }
        for row in scores.chunks_exact_mut(len.max(1)).take(group) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for s in row.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|s| *s *= inv);
        }
        // Per query head, the weighted sum of the value rows, a few columns
        // at a time so the sums stay in registers (the rows come from cache:
        // one KV head's values are a few hundred KB).
        for (g, out) in out[..group * hd].chunks_exact_mut(hd).enumerate() {
            let weights = &scores[g * len..(g + 1) * len];
            for (c, out) in out.chunks_mut(COLUMNS).enumerate() {
                $wsum(out, a.values, c * COLUMNS, weights);
            }
        }
    }};
}

fn attend_portable(a: &Args<'_>, scores: &mut [f32], out: &mut [f32]) {
    attend_body!(a, scores, out, dot_portable, wsum_portable)
}

/// `a · b` in 8 lanes summed as a tree (no long chain of dependent adds).
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let mut sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (x, y) in ar.iter().zip(br) {
        sum += x * y;
    }
    sum
}

fn wsum_portable(out: &mut [f32], rows: KvRows<'_>, column: usize, weights: &[f32]) {
    out.iter_mut().for_each(|o| *o = 0.0);
    for (p, w) in weights.iter().enumerate() {
        let row = rows.part(p, column, out.len());
        for (o, x) in out.iter_mut().zip(row) {
            *o += x * w;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Args, KvRows, COLUMNS};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn attend_avx512(a: &Args<'_>, scores: &mut [f32], out: &mut [f32]) {
        attend_body!(a, scores, out, dot_avx512, wsum_avx512)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn attend_avx2(a: &Args<'_>, scores: &mut [f32], out: &mut [f32]) {
        attend_body!(a, scores, out, dot_avx2, wsum_avx2)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n`, within both slices; the loads are unaligned.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_ps(a.as_ptr().add(i)),
                    _mm512_loadu_ps(b.as_ptr().add(i)),
                )
            };
            acc = _mm512_fmadd_ps(x, y, acc);
            i += 16;
        }
        let mut sum = _mm512_reduce_add_ps(acc);
        for j in i..n {
            sum = a[j].mul_add(b[j], sum);
        }
        sum
    }

    /// As `wsum_portable`: whole 64-column chunks in four registers, any
    /// other width through the portable code.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn wsum_avx512(out: &mut [f32], rows: KvRows<'_>, column: usize, weights: &[f32]) {
        if out.len() != COLUMNS {
            return super::wsum_portable(out, rows, column, weights);
        }
        let mut acc = [_mm512_setzero_ps(); 4];
        for (p, w) in weights.iter().enumerate() {
            let row = rows.part(p, column, COLUMNS);
            let wv = _mm512_set1_ps(*w);
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `row` holds 64 values; lane group `i` reads 16 of them.
                let x = unsafe { _mm512_loadu_ps(row.as_ptr().add(16 * i)) };
                *acc = _mm512_fmadd_ps(x, wv, *acc);
            }
        }
        for (i, acc) in acc.into_iter().enumerate() {
            // SAFETY: `out` holds 64 values (checked above).
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), acc) };
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n`, within both slices; the loads are unaligned.
            unsafe {
                acc0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(a.as_ptr().add(i)),
                    _mm256_loadu_ps(b.as_ptr().add(i)),
                    acc0,
                );
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(a.as_ptr().add(i + 8)),
                    _mm256_loadu_ps(b.as_ptr().add(i + 8)),
                    acc1,
                );
            }
            i += 16;
        }
        let acc = _mm256_add_ps(acc0, acc1);
        let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let mut sum = _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
        for j in i..n {
            sum = a[j].mul_add(b[j], sum);
        }
        sum
    }

    /// As `wsum_avx512`, in eight 8-lane registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn wsum_avx2(out: &mut [f32], rows: KvRows<'_>, column: usize, weights: &[f32]) {
        if out.len() != COLUMNS {
            return super::wsum_portable(out, rows, column, weights);
        }
        let mut acc = [_mm256_setzero_ps(); 8];
        for (p, w) in weights.iter().enumerate() {
            let row = rows.part(p, column, COLUMNS);
            let wv = _mm256_set1_ps(*w);
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `row` holds 64 values; lane group `i` reads 8 of them.
                let x = unsafe { _mm256_loadu_ps(row.as_ptr().add(8 * i)) };
                *acc = _mm256_fmadd_ps(x, wv, *acc);
            }
        }
        for (i, acc) in acc.into_iter().enumerate() {
            // SAFETY: `out` holds 64 values (checked above).
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(8 * i), acc) };
        }
    }
}
