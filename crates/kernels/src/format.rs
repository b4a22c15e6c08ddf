//! GGUF block formats, read into integer codes and scales.
//!
//! Every supported format stores a weight as `scale · (code − offset)` or
//! `scale · code + min`, with small unsigned integer codes. [`decode_block`]
//! reads one GGUF block into its codes and per-sub-block parameters; the
//! packer lays those out in panels. Layouts follow ggml's (and candle's)
//! `block_q*` structs byte for byte.

/// A GGUF weight format these kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum Format {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl Format {
    /// The format of a ggml type id (`GgmlDType as u32` in candle), if supported.
    pub fn from_ggml_type(id: u32) -> Option<Format> {
        Some(match id {
            2 => Format::Q4_0,
            3 => Format::Q4_1,
            6 => Format::Q5_0,
            7 => Format::Q5_1,
            8 => Format::Q8_0,
            12 => Format::Q4K,
            13 => Format::Q5K,
            14 => Format::Q6K,
            _ => return None,
        })
    }

    /// Values per GGUF block.
    pub fn block_values(self) -> usize {
        match self {
            Format::Q4_0 | Format::Q4_1 | Format::Q5_0 | Format::Q5_1 | Format::Q8_0 => 32,
            Format::Q4K | Format::Q5K | Format::Q6K => 256,
        }
    }

    /// Bytes per GGUF block.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
            Format::Q4K => 144,
            Format::Q5K => 176,
            Format::Q6K => 210,
        }
    }

    /// Bits of a code as stored in a panel.
    pub(crate) fn code_bits(self) -> u32 {
        match self {
            Format::Q4_0 | Format::Q4_1 | Format::Q4K => 4,
            Format::Q5_0 | Format::Q5_1 | Format::Q5K => 5,
            Format::Q6K => 6,
            Format::Q8_0 => 8,
        }
    }

    /// K-quants use 256-value activation blocks, like llama.cpp's Q8_K.
    pub(crate) fn is_k(self) -> bool {
        matches!(self, Format::Q4K | Format::Q5K | Format::Q6K)
    }

    /// Weight = `d · code + m` (a minimum) rather than `d · (code − offset)`.
    pub(crate) fn has_min(self) -> bool {
        matches!(
            self,
            Format::Q4_1 | Format::Q5_1 | Format::Q4K | Format::Q5K
        )
    }

    /// The code subtracted before scaling, for formats without a minimum.
    /// Q8_0 codes are the signed values themselves (offset 0).
    pub(crate) fn offset(self) -> i32 {
        match self {
            Format::Q4_0 => 8,
            Format::Q5_0 => 16,
            Format::Q6K => 32,
            _ => 0,
        }
    }
}

/// One GGUF block read into codes and parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decoded {
    /// One code per value: unsigned, except Q8_0's signed values (as `u8` bits).
    pub codes: Vec<u8>,
    /// 32-value formats: the block scale. K-quants: the super-block's `d`.
    pub d: u16,
    /// 32-value formats with a minimum: `m`. Q4_K/Q5_K: `dmin`.
    pub m: u16,
    /// K-quants: the sub-block scales (8 for Q4_K/Q5_K, 16 signed for Q6_K).
    pub scales: Vec<u8>,
    /// Q4_K/Q5_K: the sub-block minimums (8).
    pub mins: Vec<u8>,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// Q4_K / Q5_K sub-block scale and min (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Reads one GGUF block of `format` (exactly `format.block_bytes()` bytes).
pub(crate) fn decode_block(format: Format, b: &[u8], out: &mut Decoded) {
    let n = format.block_values();
    out.codes.clear();
    out.codes.resize(n, 0);
    out.scales.clear();
    out.mins.clear();
    let c = &mut out.codes;
    match format {
        Format::Q4_0 | Format::Q4_1 => {
            let qs = if format == Format::Q4_0 { 2 } else { 4 };
            out.d = u16_at(b, 0);
            out.m = if format == Format::Q4_1 {
                u16_at(b, 2)
            } else {
                0
            };
            for j in 0..16 {
                c[j] = b[qs + j] & 0xF;
                c[j + 16] = b[qs + j] >> 4;
            }
        }
        Format::Q5_0 | Format::Q5_1 => {
            let (qh_at, qs) = if format == Format::Q5_0 {
                (2, 6)
            } else {
                (4, 8)
            };
            out.d = u16_at(b, 0);
            out.m = if format == Format::Q5_1 {
                u16_at(b, 2)
            } else {
                0
            };
            let qh = u32::from_le_bytes([b[qh_at], b[qh_at + 1], b[qh_at + 2], b[qh_at + 3]]);
            for j in 0..16 {
                c[j] = (b[qs + j] & 0xF) | ((((qh >> j) & 1) as u8) << 4);
                c[j + 16] = (b[qs + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
            }
        }
        Format::Q8_0 => {
            out.d = u16_at(b, 0);
            c.copy_from_slice(&b[2..34]);
        }
        Format::Q4K | Format::Q5K => {
            out.d = u16_at(b, 0);
            out.m = u16_at(b, 2);
            let scales = &b[4..16];
            for j in 0..8 {
                let (sc, mn) = scale_min_k4(j, scales);
                out.scales.push(sc);
                out.mins.push(mn);
            }
            let (qh, qs) = if format == Format::Q5K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            for chunk in 0..4 {
                for l in 0..32 {
                    let byte = qs[32 * chunk + l];
                    let mut lo = byte & 0xF;
                    let mut hi = byte >> 4;
                    if let Some(qh) = qh {
                        lo |= ((qh[l] >> (2 * chunk)) & 1) << 4;
                        hi |= ((qh[l] >> (2 * chunk + 1)) & 1) << 4;
                    }
                    c[64 * chunk + l] = lo;
                    c[64 * chunk + 32 + l] = hi;
                }
            }
        }
        Format::Q6K => {
            let (ql, qh) = (&b[0..128], &b[128..192]);
            out.scales.extend_from_slice(&b[192..208]);
            out.d = u16_at(b, 208);
            for half in 0..2 {
                let (ql, qh) = (&ql[64 * half..], &qh[32 * half..]);
                let base = 128 * half;
                for l in 0..32 {
                    c[base + l] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
                    c[base + l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                    c[base + l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                    c[base + l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                }
            }
        }
    }
}

/// IEEE half to f32 (exact), for the scalar reference and packing.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1F) as u32;
    let frac = (h & 0x3FF) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3FF) << 13)
        }
        (0x1F, 0) => sign | 0x7F80_0000,
        (0x1F, f) => sign | 0x7FC0_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The value a code stands for, from the decoded parameters (the reference
/// dequantization the tests compare with).
#[cfg(test)]
pub(crate) fn dequantize_block(format: Format, d: &Decoded, out: &mut [f32]) {
    let df = f16_to_f32(d.d);
    let mf = f16_to_f32(d.m);
    for (i, y) in out.iter_mut().enumerate() {
        let c = d.codes[i];
        *y = match format {
            Format::Q8_0 => df * (c as i8) as f32,
            Format::Q4_0 | Format::Q5_0 => df * (c as i32 - format.offset()) as f32,
            Format::Q4_1 | Format::Q5_1 => df * c as f32 + mf,
            Format::Q4K | Format::Q5K => {
                let j = i / 32;
                df * d.scales[j] as f32 * c as f32 - mf * d.mins[j] as f32
            }
            Format::Q6K => {
                let j = i / 16;
                df * (d.scales[j] as i8) as f32 * (c as i32 - 32) as f32
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_convert_exactly() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7BFF), 65504.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x7C00).is_infinite());
    }

    #[test]
    fn q4_0_codes_follow_ggml() {
        // d = 1.0, values 0..15 then 15..0 in the high nibbles.
        let mut b = vec![0u8; 18];
        b[0..2].copy_from_slice(&0x3C00u16.to_le_bytes());
        for j in 0..16 {
            b[2 + j] = (j as u8) | ((15 - j as u8) << 4);
        }
        let mut d = Decoded::default();
        decode_block(Format::Q4_0, &b, &mut d);
        assert_eq!(d.codes[3], 3);
        assert_eq!(d.codes[16 + 3], 12);
        let mut y = vec![0f32; 32];
        dequantize_block(Format::Q4_0, &d, &mut y);
        assert_eq!(y[0], -8.0);
        assert_eq!(y[16], 7.0);
    }
}
