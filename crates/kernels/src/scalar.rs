//! The portable reference kernel: for every token and row, the integer dot
//! product of each block and the same float steps, in the same order, as the
//! SIMD tiers. Tests require the SIMD tiers to match it to the bit.

use crate::act::{Activations, Quantized};
use crate::format::{f16_to_f32, Format};
use crate::pack::{code, Layout, Packed, PANEL};

fn u16_at(rec: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([rec[at], rec[at + 1]])
}

/// Integer dot product of row `r`'s codes `from..to` of a record with the
/// activations `a` (the record's values, `from..to` of them).
fn idot(format: Format, l: &Layout, rec: &[u8], r: usize, a: &[i8], from: usize, to: usize) -> i32 {
    let signed = format == Format::Q8_0;
    (from..to)
        .map(|i| {
            let c = code(format, l, rec, r, i);
            let w = if signed { c as i8 as i32 } else { c as i32 };
            w * a[i] as i32
        })
        .sum()
}

/// Accumulates panel `p` for every token into `tile` (`m × 16`).
pub(crate) fn panel(w: &Packed, x: &Activations, p: usize, tile: &mut [f32]) {
    let f = w.format();
    let l = *w.layout();
    let q: &Quantized = x.for_format(f);
    let (k, bv) = (w.cols(), f.block_values());
    for t in 0..x.rows() {
        for b in 0..w.blocks() {
            let rec = w.record(p, b);
            let a = &q.qs[t * k + b * bv..t * k + (b + 1) * bv];
            let da = q.d[(t * k) / bv + b];
            let s16 = &q.sum16[(t * k + b * bv) / 16..(t * k + (b + 1) * bv) / 16];
            for r in 0..PANEL {
                let acc = &mut tile[t * PANEL + r];
                let d = f16_to_f32(u16_at(rec, l.d + 2 * r));
                match f {
                    Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => {
                        let asum = s16[0] + s16[1];
                        let isum = idot(f, &l, rec, r, a, 0, 32) - f.offset() * asum;
                        *acc = (isum as f32).mul_add(d * da, *acc);
                    }
                    Format::Q4_1 | Format::Q5_1 => {
                        let asum = s16[0] + s16[1];
                        let m = f16_to_f32(u16_at(rec, l.m + 2 * r));
                        let isum = idot(f, &l, rec, r, a, 0, 32);
                        *acc = (isum as f32).mul_add(d * da, *acc);
                        *acc = (asum as f32).mul_add(m * da, *acc);
                    }
                    Format::Q4K | Format::Q5K => {
                        let dmin = f16_to_f32(u16_at(rec, l.m + 2 * r));
                        let mut ksum = 0i32;
                        let mut msum = 0i32;
                        for j in 0..8 {
                            let sc = rec[l.scales + j * PANEL + r] as i32;
                            let mn = rec[l.mins + j * PANEL + r] as i32;
                            ksum += sc * idot(f, &l, rec, r, a, 32 * j, 32 * j + 32);
                            msum += mn * (s16[2 * j] + s16[2 * j + 1]);
                        }
                        *acc = (ksum as f32).mul_add(d * da, *acc);
                        *acc = (msum as f32).mul_add(-(dmin * da), *acc);
                    }
                    Format::Q6K => {
                        let mut ksum = 0i32;
                        for j in 0..16 {
                            let sc = rec[l.scales + j * PANEL + r] as i8 as i32;
                            let isum = idot(f, &l, rec, r, a, 16 * j, 16 * j + 16) - 32 * s16[j];
                            ksum += sc * isum;
                        }
                        *acc = (ksum as f32).mul_add(d * da, *acc);
                    }
                }
            }
        }
    }
}
