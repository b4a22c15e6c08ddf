//! x86-64 kernels: AVX-512 VNNI and AVX2.
//!
//! Both compute, for a panel of 16 rows and a tile of tokens, exactly what
//! `scalar::panel` computes: per block the integer dot product of codes and
//! activations (AVX-512 VNNI: `vpdpbusd`, 16 rows × 4 values × 1 token per
//! instruction; AVX2: `vpmaddubsw` + `vpmaddwd` over 8 rows), the same integer
//! corrections, then the same fused multiply-adds in the same order. Weights
//! are unpacked once per block and reused for every token of the tile.
//!
//! Every function here is only called after `Isa::detect` or
//! `Isa::available` confirmed the features it enables (see `lib.rs`).

use crate::act::{Activations, Quantized};
use crate::format::Format;
use crate::pack::{Layout, Packed, PANEL};
use std::arch::x86_64::*;

/// Reads 4 activation bytes as one little-endian i32 (for broadcasting).
#[inline(always)]
fn a4(a: &[i8], at: usize) -> i32 {
    i32::from_le_bytes([
        a[at] as u8,
        a[at + 1] as u8,
        a[at + 2] as u8,
        a[at + 3] as u8,
    ])
}

/// The record of block `b` of panel `p`, checked to be whole.
#[inline(always)]
fn record<'a>(w: &'a Packed, l: &Layout, p: usize, b: usize) -> &'a [u8] {
    let rec = w.record(p, b);
    assert_eq!(rec.len(), l.record);
    rec
}

// ---------------------------------------------------------------------------
// AVX-512 VNNI

const AVX512: &str = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c";

/// # Safety
/// The CPU must have AVX-512 F, BW, VL, VNNI, AVX2, FMA and F16C.
pub(crate) unsafe fn panel_avx512(w: &Packed, x: &Activations, p: usize, tile: &mut [f32]) {
    // SAFETY: the caller checked the features (this function's contract).
    unsafe { panel_avx512_impl(w, x, p, tile) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn panel_avx512_impl(w: &Packed, x: &Activations, p: usize, tile: &mut [f32]) {
    let _ = AVX512;
    let m = x.rows();
    let mut t0 = 0;
    if w.format().is_k() {
        while m - t0 >= 4 {
            k_tile_512::<4>(w, x, p, t0, tile);
            t0 += 4;
        }
        while t0 < m {
            k_tile_512::<1>(w, x, p, t0, tile);
            t0 += 1;
        }
    } else {
        while m - t0 >= 8 {
            b32_tile_512::<8>(w, x, p, t0, tile);
            t0 += 8;
        }
        if m - t0 >= 4 {
            b32_tile_512::<4>(w, x, p, t0, tile);
            t0 += 4;
        }
        while t0 < m {
            b32_tile_512::<1>(w, x, p, t0, tile);
            t0 += 1;
        }
    }
}

/// 16 f16 values at `rec[at..at + 32]` as f32.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn half16(rec: &[u8], at: usize) -> __m512 {
    let s = &rec[at..at + 32];
    // SAFETY: `s` is 32 readable bytes (sliced above); the load is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(s.as_ptr().cast()) })
}

/// 16 u8 (or i8) at `rec[at..at + 16]` widened to i32.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn bytes16(rec: &[u8], at: usize, signed: bool) -> __m512i {
    let s = &rec[at..at + 16];
    // SAFETY: `s` is 16 readable bytes; the load is unaligned.
    let v = unsafe { _mm_loadu_si128(s.as_ptr().cast()) };
    if signed {
        _mm512_cvtepi8_epi32(v)
    } else {
        _mm512_cvtepu8_epi32(v)
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn load512(s: &[u8], at: usize) -> __m512i {
    let s = &s[at..at + 64];
    // SAFETY: `s` is 64 readable bytes; the load is unaligned.
    unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
}

/// The 8 code vectors (16 rows × 4 values each) of one 32-value sub-block,
/// as unsigned bytes ready for `vpdpbusd` (Q8_0: value + 128).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn unpack_512(f: Format, l: &Layout, codes: &[u8]) -> [__m512i; 8] {
    let mut w = [_mm512_setzero_si512(); 8];
    match f.code_bits() {
        4..=6 => {
            let low = _mm512_set1_epi8(0x0F);
            for c in 0..4 {
                let v = load512(codes, 64 * c);
                w[2 * c] = _mm512_and_si512(v, low);
                w[2 * c + 1] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low);
            }
            if f.code_bits() == 5 {
                let sixteen = _mm512_set1_epi8(16);
                for (g, wg) in w.iter_mut().enumerate() {
                    let at = l.hb + 8 * g;
                    let bits = u64::from_le_bytes(codes[at..at + 8].try_into().expect("8 bytes"));
                    *wg = _mm512_mask_add_epi8(*wg, bits, *wg, sixteen);
                }
            }
            if f.code_bits() == 6 {
                let two = _mm512_set1_epi8(0x30);
                for h in 0..2 {
                    let v = load512(codes, l.hb + 64 * h);
                    // Bits 2q..2q+2 of each byte to bits 4..6. The 16-bit
                    // shifts carry bits between the bytes of a pair; the
                    // mask drops them.
                    let shifted = [
                        _mm512_slli_epi16::<4>(v),
                        _mm512_slli_epi16::<2>(v),
                        v,
                        _mm512_srli_epi16::<2>(v),
                    ];
                    for (q, s) in shifted.into_iter().enumerate() {
                        let g = 4 * h + q;
                        w[g] = _mm512_or_si512(w[g], _mm512_and_si512(s, two));
                    }
                }
            }
        }
        _ => {
            let flip = _mm512_set1_epi8(0x80u8 as i8);
            for (g, wg) in w.iter_mut().enumerate() {
                let v = load512(codes, 64 * g);
                *wg = if f == Format::Q8_0 {
                    _mm512_xor_si512(v, flip)
                } else {
                    v
                };
            }
        }
    }
    w
}

/// The 32 activation bytes of a sub-block as 8 little-endian i32 (one per group).
#[inline(always)]
fn groups(a: &[i8]) -> [i32; 8] {
    let a: &[i8; 32] = a[..32].try_into().expect("32 activation bytes");
    std::array::from_fn(|g| a4(a, 4 * g))
}

/// For each token `t`: Σ over groups `from..to` of `w[g] · a[t][g]` per row.
/// Tokens are the inner loop, so the `vpdpbusd` chains of different tokens
/// overlap instead of waiting on each other.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn dot_512<const T: usize>(
    w: &[__m512i; 8],
    a: &[[i32; 8]; T],
    from: usize,
    to: usize,
) -> [__m512i; T] {
    let mut acc = [_mm512_setzero_si512(); T];
    for g in from..to {
        for t in 0..T {
            acc[t] = _mm512_dpbusd_epi32(acc[t], w[g], _mm512_set1_epi32(a[t][g]));
        }
    }
    acc
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn neg_512(v: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(v),
        _mm512_set1_epi32(i32::MIN),
    ))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn store_512(tile: &mut [f32], t: usize, v: __m512) {
    let s = &mut tile[t * PANEL..t * PANEL + PANEL];
    // SAFETY: `s` is 16 writable f32; the store is unaligned.
    unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
}

/// Tokens `t0..t0 + T` of a 32-value-block panel.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn b32_tile_512<const T: usize>(
    w: &Packed,
    x: &Activations,
    p: usize,
    t0: usize,
    tile: &mut [f32],
) {
    let f = w.format();
    let l = *w.layout();
    let q: &Quantized = x.for_format(f);
    let k = w.cols();
    let offset = if f == Format::Q8_0 { 128 } else { f.offset() };
    let mut acc = [_mm512_setzero_ps(); T];
    for b in 0..w.blocks() {
        let rec = record(w, &l, p, b);
        let dv = half16(rec, l.d);
        let mv = if f.has_min() {
            half16(rec, l.m)
        } else {
            _mm512_setzero_ps()
        };
        let wv = unpack_512(f, &l, &rec[l.codes..l.codes + l.sub]);
        let a: [[i32; 8]; T] = std::array::from_fn(|t| groups(&q.qs[(t0 + t) * k + 32 * b..]));
        let isums = dot_512(&wv, &a, 0, 8);
        for (t, acc) in acc.iter_mut().enumerate() {
            let row = t0 + t;
            let isum = isums[t];
            let da = q.d[row * k / 32 + b];
            let s = (row * k + 32 * b) / 16;
            let asum = q.sum16[s] + q.sum16[s + 1];
            let dd = _mm512_mul_ps(dv, _mm512_set1_ps(da));
            if f.has_min() {
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dd, *acc);
                let md = _mm512_mul_ps(mv, _mm512_set1_ps(da));
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(asum as f32), md, *acc);
            } else {
                let corr = _mm512_sub_epi32(isum, _mm512_set1_epi32(offset * asum));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(corr), dd, *acc);
            }
        }
    }
    for (t, v) in acc.into_iter().enumerate() {
        store_512(tile, t0 + t, v);
    }
}

/// Tokens `t0..t0 + T` of a K-quant panel.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn k_tile_512<const T: usize>(w: &Packed, x: &Activations, p: usize, t0: usize, tile: &mut [f32]) {
    let f = w.format();
    let l = *w.layout();
    let q: &Quantized = x.for_format(f);
    let k = w.cols();
    let mut acc = [_mm512_setzero_ps(); T];
    for b in 0..w.blocks() {
        let rec = record(w, &l, p, b);
        let dv = half16(rec, l.d);
        let mut ksum = [_mm512_setzero_si512(); T];
        for j in 0..8 {
            let wv = unpack_512(f, &l, &rec[l.codes + j * l.sub..l.codes + (j + 1) * l.sub]);
            let a: [[i32; 8]; T] =
                std::array::from_fn(|t| groups(&q.qs[(t0 + t) * k + 256 * b + 32 * j..]));
            if f == Format::Q6K {
                let sc_lo = bytes16(rec, l.scales + (2 * j) * PANEL, true);
                let sc_hi = bytes16(rec, l.scales + (2 * j + 1) * PANEL, true);
                let los = dot_512(&wv, &a, 0, 4);
                let his = dot_512(&wv, &a, 4, 8);
                for (t, ks) in ksum.iter_mut().enumerate() {
                    let s = ((t0 + t) * k + 256 * b) / 16 + 2 * j;
                    let lo = _mm512_sub_epi32(los[t], _mm512_set1_epi32(32 * q.sum16[s]));
                    let hi = _mm512_sub_epi32(his[t], _mm512_set1_epi32(32 * q.sum16[s + 1]));
                    *ks = _mm512_add_epi32(*ks, _mm512_mullo_epi32(lo, sc_lo));
                    *ks = _mm512_add_epi32(*ks, _mm512_mullo_epi32(hi, sc_hi));
                }
            } else {
                let sc = bytes16(rec, l.scales + j * PANEL, false);
                let isums = dot_512(&wv, &a, 0, 8);
                for (ks, isum) in ksum.iter_mut().zip(isums) {
                    *ks = _mm512_add_epi32(*ks, _mm512_mullo_epi32(isum, sc));
                }
            }
        }
        for (t, acc) in acc.iter_mut().enumerate() {
            let row = t0 + t;
            let da = q.d[row * k / 256 + b];
            *acc = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(ksum[t]),
                _mm512_mul_ps(dv, _mm512_set1_ps(da)),
                *acc,
            );
            if f != Format::Q6K {
                let s = (row * k + 256 * b) / 16;
                let mut msum = _mm512_setzero_si512();
                for j in 0..8 {
                    let mn = bytes16(rec, l.mins + j * PANEL, false);
                    let bsum = q.sum16[s + 2 * j] + q.sum16[s + 2 * j + 1];
                    msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(mn, _mm512_set1_epi32(bsum)));
                }
                let dmin = neg_512(_mm512_mul_ps(half16(rec, l.m), _mm512_set1_ps(da)));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), dmin, *acc);
            }
        }
    }
    for (t, v) in acc.into_iter().enumerate() {
        store_512(tile, t0 + t, v);
    }
}

// ---------------------------------------------------------------------------
// AVX2: the same, over the two 8-row halves of a panel.

/// # Safety
/// The CPU must have AVX2, FMA and F16C.
pub(crate) unsafe fn panel_avx2(w: &Packed, x: &Activations, p: usize, tile: &mut [f32]) {
    // SAFETY: the caller checked the features (this function's contract).
    unsafe { panel_avx2_impl(w, x, p, tile) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn panel_avx2_impl(w: &Packed, x: &Activations, p: usize, tile: &mut [f32]) {
    let m = x.rows();
    for half in 0..2 {
        let mut t0 = 0;
        if w.format().is_k() {
            while m - t0 >= 2 {
                k_tile_256::<2>(w, x, p, half, t0, tile);
                t0 += 2;
            }
            while t0 < m {
                k_tile_256::<1>(w, x, p, half, t0, tile);
                t0 += 1;
            }
        } else {
            while m - t0 >= 4 {
                b32_tile_256::<4>(w, x, p, half, t0, tile);
                t0 += 4;
            }
            while t0 < m {
                b32_tile_256::<1>(w, x, p, half, t0, tile);
                t0 += 1;
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn half8(rec: &[u8], at: usize) -> __m256 {
    let s = &rec[at..at + 16];
    // SAFETY: `s` is 16 readable bytes; the load is unaligned.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(s.as_ptr().cast()) })
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn bytes8(rec: &[u8], at: usize, signed: bool) -> __m256i {
    let s = &rec[at..at + 8];
    // SAFETY: `s` is 8 readable bytes; the load reads exactly 8.
    let v = unsafe { _mm_loadl_epi64(s.as_ptr().cast()) };
    if signed {
        _mm256_cvtepi8_epi32(v)
    } else {
        _mm256_cvtepu8_epi32(v)
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load256(s: &[u8], at: usize) -> __m256i {
    let s = &s[at..at + 32];
    // SAFETY: `s` is 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// Spreads 32 bits over 32 bytes: byte i is 0x10 where bit i is set.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn bits_to_0x10(bits: u32) -> __m256i {
    let v = _mm256_set1_epi32(bits as i32);
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
        3, 3,
    );
    let v = _mm256_shuffle_epi8(v, spread);
    let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// The 8 code vectors (8 rows of `half` × 4 values) of one sub-block. Q8_0
/// stays signed here (the dot product uses the sign trick).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn unpack_256(f: Format, l: &Layout, codes: &[u8], half: usize) -> [__m256i; 8] {
    let mut w = [_mm256_setzero_si256(); 8];
    match f.code_bits() {
        4..=6 => {
            let low = _mm256_set1_epi8(0x0F);
            for c in 0..4 {
                let v = load256(codes, 64 * c + 32 * half);
                w[2 * c] = _mm256_and_si256(v, low);
                w[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            }
            if f.code_bits() == 5 {
                for (g, wg) in w.iter_mut().enumerate() {
                    let at = l.hb + 8 * g;
                    let bits = u64::from_le_bytes(codes[at..at + 8].try_into().expect("8 bytes"));
                    *wg = _mm256_or_si256(*wg, bits_to_0x10((bits >> (32 * half)) as u32));
                }
            }
            if f.code_bits() == 6 {
                let two = _mm256_set1_epi8(0x30);
                for h in 0..2 {
                    let v = load256(codes, l.hb + 64 * h + 32 * half);
                    // As in `unpack_512`: bits 2q..2q+2 to bits 4..6, the
                    // bits carried between bytes masked off.
                    let shifted = [
                        _mm256_slli_epi16::<4>(v),
                        _mm256_slli_epi16::<2>(v),
                        v,
                        _mm256_srli_epi16::<2>(v),
                    ];
                    for (q, s) in shifted.into_iter().enumerate() {
                        let g = 4 * h + q;
                        w[g] = _mm256_or_si256(w[g], _mm256_and_si256(s, two));
                    }
                }
            }
        }
        _ => {
            for (g, wg) in w.iter_mut().enumerate() {
                *wg = load256(codes, 64 * g + 32 * half);
            }
        }
    }
    w
}

/// For each token: Σ over groups `from..to` of `w[g] · a[t][g]` per row
/// (tokens inner, as in `dot_512`). Q8_0 (`signed`) uses the sign trick so
/// that `vpmaddubsw` sees an unsigned first operand.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_256<const T: usize>(
    w: &[__m256i; 8],
    a: &[[i32; 8]; T],
    from: usize,
    to: usize,
    signed: bool,
) -> [__m256i; T] {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_si256(); T];
    for g in from..to {
        let wg = w[g];
        let wabs = _mm256_abs_epi8(wg);
        for t in 0..T {
            let av = _mm256_set1_epi32(a[t][g]);
            let pairs = if signed {
                _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(av, wg))
            } else {
                _mm256_maddubs_epi16(wg, av)
            };
            acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(pairs, ones));
        }
    }
    acc
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn store_256(tile: &mut [f32], t: usize, half: usize, v: __m256) {
    let s = &mut tile[t * PANEL + 8 * half..t * PANEL + 8 * half + 8];
    // SAFETY: `s` is 8 writable f32; the store is unaligned.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn neg_256(v: __m256) -> __m256 {
    _mm256_xor_ps(v, _mm256_set1_ps(-0.0))
}

#[target_feature(enable = "avx2,fma,f16c")]
fn b32_tile_256<const T: usize>(
    w: &Packed,
    x: &Activations,
    p: usize,
    half: usize,
    t0: usize,
    tile: &mut [f32],
) {
    let f = w.format();
    let l = *w.layout();
    let q: &Quantized = x.for_format(f);
    let k = w.cols();
    let signed = f == Format::Q8_0;
    let mut acc = [_mm256_setzero_ps(); T];
    for b in 0..w.blocks() {
        let rec = record(w, &l, p, b);
        let dv = half8(rec, l.d + 16 * half);
        let wv = unpack_256(f, &l, &rec[l.codes..l.codes + l.sub], half);
        let a: [[i32; 8]; T] = std::array::from_fn(|t| groups(&q.qs[(t0 + t) * k + 32 * b..]));
        let isums = dot_256(&wv, &a, 0, 8, signed);
        for (t, acc) in acc.iter_mut().enumerate() {
            let row = t0 + t;
            let isum = isums[t];
            let da = q.d[row * k / 32 + b];
            let s = (row * k + 32 * b) / 16;
            let asum = q.sum16[s] + q.sum16[s + 1];
            let dd = _mm256_mul_ps(dv, _mm256_set1_ps(da));
            if f.has_min() {
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), dd, *acc);
                let md = _mm256_mul_ps(half8(rec, l.m + 16 * half), _mm256_set1_ps(da));
                *acc = _mm256_fmadd_ps(_mm256_set1_ps(asum as f32), md, *acc);
            } else {
                let corr = _mm256_sub_epi32(isum, _mm256_set1_epi32(f.offset() * asum));
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr), dd, *acc);
            }
        }
    }
    for (t, v) in acc.into_iter().enumerate() {
        store_256(tile, t0 + t, half, v);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn k_tile_256<const T: usize>(
    w: &Packed,
    x: &Activations,
    p: usize,
    half: usize,
    t0: usize,
    tile: &mut [f32],
) {
    let f = w.format();
    let l = *w.layout();
    let q: &Quantized = x.for_format(f);
    let k = w.cols();
    let mut acc = [_mm256_setzero_ps(); T];
    for b in 0..w.blocks() {
        let rec = record(w, &l, p, b);
        let dv = half8(rec, l.d + 16 * half);
        let mut ksum = [_mm256_setzero_si256(); T];
        for j in 0..8 {
            let wv = unpack_256(
                f,
                &l,
                &rec[l.codes + j * l.sub..l.codes + (j + 1) * l.sub],
                half,
            );
            let a: [[i32; 8]; T] =
                std::array::from_fn(|t| groups(&q.qs[(t0 + t) * k + 256 * b + 32 * j..]));
            if f == Format::Q6K {
                let sc_lo = bytes8(rec, l.scales + (2 * j) * PANEL + 8 * half, true);
                let sc_hi = bytes8(rec, l.scales + (2 * j + 1) * PANEL + 8 * half, true);
                let los = dot_256(&wv, &a, 0, 4, false);
                let his = dot_256(&wv, &a, 4, 8, false);
                for (t, ks) in ksum.iter_mut().enumerate() {
                    let s = ((t0 + t) * k + 256 * b) / 16 + 2 * j;
                    let lo = _mm256_sub_epi32(los[t], _mm256_set1_epi32(32 * q.sum16[s]));
                    let hi = _mm256_sub_epi32(his[t], _mm256_set1_epi32(32 * q.sum16[s + 1]));
                    *ks = _mm256_add_epi32(*ks, _mm256_mullo_epi32(lo, sc_lo));
                    *ks = _mm256_add_epi32(*ks, _mm256_mullo_epi32(hi, sc_hi));
                }
            } else {
                let sc = bytes8(rec, l.scales + j * PANEL + 8 * half, false);
                let isums = dot_256(&wv, &a, 0, 8, false);
                for (ks, isum) in ksum.iter_mut().zip(isums) {
                    *ks = _mm256_add_epi32(*ks, _mm256_mullo_epi32(isum, sc));
                }
            }
        }
        for (t, acc) in acc.iter_mut().enumerate() {
            let row = t0 + t;
            let da = q.d[row * k / 256 + b];
            *acc = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(ksum[t]),
                _mm256_mul_ps(dv, _mm256_set1_ps(da)),
                *acc,
            );
            if f != Format::Q6K {
                let s = (row * k + 256 * b) / 16;
                let mut msum = _mm256_setzero_si256();
                for j in 0..8 {
                    let mn = bytes8(rec, l.mins + j * PANEL + 8 * half, false);
                    let bsum = q.sum16[s + 2 * j] + q.sum16[s + 2 * j + 1];
                    msum = _mm256_add_epi32(msum, _mm256_mullo_epi32(mn, _mm256_set1_epi32(bsum)));
                }
                let dmin = neg_256(_mm256_mul_ps(
                    half8(rec, l.m + 16 * half),
                    _mm256_set1_ps(da),
                ));
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dmin, *acc);
            }
        }
    }
    for (t, v) in acc.into_iter().enumerate() {
        store_256(tile, t0 + t, half, v);
    }
}
