//! Every tier against the scalar reference (to the bit), the scalar reference
//! against dequantized weights and activations (to rounding), and packing
//! against the GGUF blocks it came from, over random data and shapes.

use crate::format::{decode_block, dequantize_block, Decoded};
use crate::{matmul, Activations, Format, Isa, Packed, Pool};

const ALL: [Format; 8] = [
    Format::Q4_0,
    Format::Q4_1,
    Format::Q5_0,
    Format::Q5_1,
    Format::Q8_0,
    Format::Q4K,
    Format::Q5K,
    Format::Q6K,
];

/// xorshift64*: deterministic test data without dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A finite f16 of magnitude 2^-12 .. 2^-4, either sign (or zero, rarely).
fn random_scale(rng: &mut Rng, positive: bool) -> u16 {
    if rng.below(50) == 0 {
        return 0;
    }
    let exp = 3 + rng.below(8) as u16; // biased exponent: 2^-12 .. 2^-5
    let frac = rng.below(1024) as u16;
    let sign = if !positive && rng.below(2) == 0 {
        0x8000
    } else {
        0
    };
    sign | (exp << 10) | frac
}

/// `rows × k` values of GGUF data with random codes and sane scales.
fn random_gguf(format: Format, rows: usize, k: usize, rng: &mut Rng) -> Vec<u8> {
    let blocks = rows * k / format.block_values();
    let bb = format.block_bytes();
    let mut out = vec![0u8; blocks * bb];
    for block in out.chunks_exact_mut(bb) {
        for b in block.iter_mut() {
            *b = rng.next() as u8;
        }
        let mut put = |at: usize, v: u16| block[at..at + 2].copy_from_slice(&v.to_le_bytes());
        match format {
            Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => put(0, random_scale(rng, false)),
            Format::Q4_1 | Format::Q5_1 => {
                put(0, random_scale(rng, true));
                put(2, random_scale(rng, false));
            }
            Format::Q4K | Format::Q5K => {
                put(0, random_scale(rng, true));
                put(2, random_scale(rng, true));
            }
            Format::Q6K => put(208, random_scale(rng, false)),
        }
    }
    out
}

fn random_x(m: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    (0..m * k)
        .map(|i| {
            // Mostly small values with the occasional outlier, like real activations.
            let v = rng.unit() * 2.0 - 1.0;
            if i % 97 == 0 {
                v * 20.0
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn packed_rows_dequantize_like_the_gguf_blocks() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for f in ALL {
        let (n, k) = (19, 2 * f.block_values());
        let data = random_gguf(f, n, k, &mut rng);
        let w = Packed::from_gguf(f, n, k, &data).expect("pack");
        let mut dec = Decoded::default();
        let mut want = vec![0f32; f.block_values()];
        let mut row = vec![0f32; k];
        for r in 0..n {
            w.dequantize_row(r, &mut row);
            for b in 0..k / f.block_values() {
                let at = (r * (k / f.block_values()) + b) * f.block_bytes();
                decode_block(f, &data[at..at + f.block_bytes()], &mut dec);
                dequantize_block(f, &dec, &mut want);
                let got = &row[b * f.block_values()..(b + 1) * f.block_values()];
                assert_eq!(got, &want[..], "{f:?} row {r} block {b}");
            }
        }
    }
}

/// y = x · Wᵀ in f64 from dequantized weights and the quantized activations'
/// own values: what the integer kernels compute, up to float rounding.
fn reference(w: &Packed, x: &Activations, m: usize) -> Vec<f64> {
    let (n, k) = (w.rows(), w.cols());
    let q = x.for_format(w.format());
    let xs: Vec<f64> = (0..m * k)
        .map(|i| q.qs[i] as f64 * q.d[i / q.block] as f64)
        .collect();
    let mut row = vec![0f32; k];
    let mut y = vec![0f64; m * n];
    for r in 0..n {
        w.dequantize_row(r, &mut row);
        for t in 0..m {
            y[t * n + r] = (0..k).map(|i| row[i] as f64 * xs[t * k + i]).sum();
        }
    }
    y
}

#[test]
fn every_tier_matches_the_reference_over_random_shapes() {
    let mut rng = Rng(42);
    let pools = [Pool::new(1), Pool::new(3)];
    for f in ALL {
        for case in 0..6 {
            let n = [1, 15, 16, 17, 33, 48][case];
            let k = f.block_values() * [1, 3, 2, 5, 1, 7][case];
            let m = [1, 2, 5, 8, 9, 19][(case + f as usize) % 6];
            let data = random_gguf(f, n, k, &mut rng);
            let w = Packed::from_gguf(f, n, k, &data).expect("pack");
            let xf = random_x(m, k, &mut rng);
            let x = Activations::quantize(&xf, m, k, &[f]);
            let want = reference(&w, &x, m);
            let mut scalar = vec![0f32; m * n];
            matmul(&pools[0], Isa::Scalar, &w, &x, &mut scalar);
            for (i, (&g, &r)) in scalar.iter().zip(&want).enumerate() {
                let tol = 1e-4 * r.abs().max(1e-3) + 1e-6;
                assert!(
                    (g as f64 - r).abs() <= tol,
                    "{f:?} {m}×{n}×{k} y[{i}] = {g}, reference {r}"
                );
            }
            for isa in Isa::available() {
                for pool in &pools {
                    let mut got = vec![f32::NAN; m * n];
                    matmul(pool, isa, &w, &x, &mut got);
                    assert_eq!(
                        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        scalar.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{isa:?} differs from the scalar reference for {f:?} {m}×{n}×{k}, {} threads",
                        pool.threads()
                    );
                }
            }
        }
    }
}

#[test]
fn quantized_activations_stay_close_to_the_float_product() {
    let mut rng = Rng(7);
    for f in ALL {
        let (m, n, k) = (3, 20, 2 * f.block_values());
        let data = random_gguf(f, n, k, &mut rng);
        let w = Packed::from_gguf(f, n, k, &data).expect("pack");
        let xf = random_x(m, k, &mut rng);
        let x = Activations::quantize(&xf, m, k, &[f]);
        let mut y = vec![0f32; m * n];
        matmul(&Pool::new(2), Isa::detect(), &w, &x, &mut y);
        let mut row = vec![0f32; k];
        for r in 0..n {
            w.dequantize_row(r, &mut row);
            let norm: f64 = row.iter().map(|v| (*v as f64).abs()).sum();
            for t in 0..m {
                let exact: f64 = (0..k).map(|i| row[i] as f64 * xf[t * k + i] as f64).sum();
                let xmax = xf[t * k..(t + 1) * k]
                    .iter()
                    .fold(0f32, |a, v| a.max(v.abs())) as f64;
                // Each activation is off by at most half a step of its block (max/254).
                let bound = norm * xmax / 254.0 + 1e-5;
                let got = y[t * n + r] as f64;
                assert!(
                    (got - exact).abs() <= bound,
                    "{f:?} y[{t},{r}] = {got}, exact {exact}, bound {bound}"
                );
            }
        }
    }
}

#[test]
fn bad_shapes_and_sizes_are_errors() {
    assert!(Packed::from_gguf(Format::Q4K, 2, 300, &[]).is_err());
    assert!(Packed::from_gguf(Format::Q8_0, 2, 64, &[0; 10]).is_err());
    let ok = Packed::from_gguf(Format::Q8_0, 2, 64, &[0; 4 * 34]).expect("pack");
    assert_eq!((ok.rows(), ok.cols()), (2, 64));
}

#[test]
fn ggml_type_ids_map_to_formats() {
    assert_eq!(Format::from_ggml_type(8), Some(Format::Q8_0));
    assert_eq!(Format::from_ggml_type(14), Some(Format::Q6K));
    assert_eq!(Format::from_ggml_type(0), None);
    let _ = decode_block;
}

/// `softmax(q · kᵀ · scale) · v` in f64, straight from the definition
/// (the arguments of `attend`).
#[allow(clippy::too_many_arguments)]
fn attend_reference(
    q: &[f32],
    group: usize,
    hd: usize,
    k: &[f32],
    v: &[f32],
    stride: usize,
    len: usize,
    scale: f32,
) -> Vec<f64> {
    let mut out = vec![0f64; group * hd];
    for g in 0..group {
        let scores: Vec<f64> = (0..len)
            .map(|p| {
                (0..hd)
                    .map(|i| q[g * hd + i] as f64 * k[p * stride + i] as f64)
                    .sum::<f64>()
                    * scale as f64
            })
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        for (p, e) in exps.iter().enumerate() {
            for i in 0..hd {
                out[g * hd + i] += e / total * v[p * stride + i] as f64;
            }
        }
    }
    out
}

#[test]
fn attention_of_one_position_matches_the_definition_on_every_tier() {
    let mut rng = Rng(0x5eed_a77e);
    let mut scores = Vec::new();
    for case in 0..60 {
        let group = 1 + rng.below(8);
        // Head sizes around the 16-value lanes, with and without remainders.
        let hd = [8, 16, 40, 64, 72, 128][rng.below(6)];
        let len = 1 + rng.below(300);
        // Rows spaced as in a cache with room to grow.
        let stride = hd * (1 + rng.below(3));
        let mut value = |spread: f32| (rng.unit() * 2.0 - 1.0) * spread;
        let q: Vec<f32> = (0..group * hd).map(|_| value(2.0)).collect();
        let k: Vec<f32> = (0..len * stride).map(|_| value(2.0)).collect();
        let v: Vec<f32> = (0..len * stride).map(|_| value(1.0)).collect();
        let scale = 1.0 / (hd as f32).sqrt();
        let want = attend_reference(&q, group, hd, &k, &v, stride, len, scale);
        for isa in Isa::available() {
            let mut out = vec![f32::NAN; group * hd];
            crate::attend(
                isa,
                &q,
                group,
                hd,
                crate::KvRows { data: &k, stride },
                crate::KvRows { data: &v, stride },
                len,
                scale,
                &mut scores,
                &mut out,
            );
            for (i, (got, want)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (*got as f64 - want).abs() < 1e-5,
                    "case {case} {isa:?} (group {group}, hd {hd}, len {len}): value {i} is {got}, not {want}"
                );
            }
        }
    }
}
