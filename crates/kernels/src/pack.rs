//! Weights repacked into panels of 16 rows.
//!
//! A panel holds 16 consecutive output rows; along `k` it is a sequence of
//! block records (one per 32 values, or per 256 for K-quants). A record holds
//! the 16 rows' scales, then their codes in vectors of 16 rows × 4 values
//! ("group" `g` holds values `4g..4g+4` of the 32-value sub-block):
//!
//! ```text
//! record, 32-value formats:  d[16] f16 | m[16] f16 (Q4_1, Q5_1) | codes
//! record, Q4_K / Q5_K:       d[16] f16 | dmin[16] f16 | scales[8][16] u8 | mins[8][16] u8 | codes × 8
//! record, Q6_K:              d[16] f16 | scales[16][16] i8 | codes × 8
//! codes, 4-bit:  4 vectors of 64 bytes; byte 4r+j of vector c = code(r, 8c+j) | code(r, 8c+4+j) << 4
//! codes, 5-bit:  the 4-bit part, then per group a u64 whose bit 4r+j is bit 4 of code(r, 4g+j)
//! codes, 6-bit:  the 4-bit part, then 2 vectors of 64 bytes; bits 2q..2q+2 of byte 4r+j of
//!                vector h = bits 4..6 of code(r, 4(4h+q)+j)
//! codes, 8-bit:  8 vectors of 64 bytes; byte 4r+j of vector g = code(r, 4g+j)
//! ```
//!
//! Every format keeps the file's bits per value (Q6_K's 6 bits stay 6 bits,
//! not a byte): decoding streams every weight once per token, so the bytes
//! read are the time taken.
//!
//! Rows past `n` in the last panel are zero (scale 0), so they add nothing.

use crate::format::{decode_block, Decoded, Format};
use crate::KernelError;

/// Rows per panel.
pub(crate) const PANEL: usize = 16;

/// Byte offsets inside one block record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub record: usize,
    pub d: usize,
    pub m: usize,
    pub scales: usize,
    pub mins: usize,
    pub codes: usize,
    /// Bytes of the codes of one 32-value sub-block.
    pub sub: usize,
    /// Offset of the high bits inside a sub-block's codes (5- and 6-bit formats).
    pub hb: usize,
}

impl Layout {
    pub fn of(format: Format) -> Layout {
        let sub = match format.code_bits() {
            4 => 256,
            5 => 256 + 64,
            6 => 256 + 128,
            _ => 512,
        };
        let d = 0;
        let (m, scales, mins, codes) = match format {
            Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => (0, 0, 0, 32),
            Format::Q4_1 | Format::Q5_1 => (32, 0, 0, 64),
            Format::Q4K | Format::Q5K => (32, 64, 64 + 128, 64 + 256),
            Format::Q6K => (0, 32, 0, 32 + 256),
        };
        let subs = format.block_values() / 32;
        Layout {
            record: codes + subs * sub,
            d,
            m,
            scales,
            mins,
            codes,
            sub,
            hb: 256,
        }
    }
}

/// An `n × k` weight matrix in panels.
#[derive(Debug, Clone)]
pub struct Packed {
    format: Format,
    n: usize,
    k: usize,
    layout: Layout,
    data: Vec<u8>,
}

impl Packed {
    /// Repacks GGUF data (`n` rows of `k` values, row-major blocks, as in the
    /// file) into panels.
    pub fn from_gguf(
        format: Format,
        n: usize,
        k: usize,
        bytes: &[u8],
    ) -> Result<Packed, KernelError> {
        let bv = format.block_values();
        if k == 0 || !k.is_multiple_of(bv) {
            return Err(KernelError::Shape {
                format,
                n,
                k,
                reason: "the row length is not a multiple of the block size",
            });
        }
        let blocks = k / bv;
        let expected = n * blocks * format.block_bytes();
        if bytes.len() != expected {
            return Err(KernelError::DataSize {
                format,
                expected,
                found: bytes.len(),
            });
        }
        let layout = Layout::of(format);
        let panels = n.div_ceil(PANEL);
        let panel_bytes = blocks * layout.record;
        let mut data = vec![0u8; panels * panel_bytes];
        // Panels are independent: pack them on every core (a model has
        // hundreds of millions of values, and loading should take seconds). A
        // few rows (an output head's rescored candidates, every token) are
        // packed on the calling thread: starting threads would cost more.
        const PANELS_PER_THREAD_AT_LEAST: usize = 64;
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .min(panels.div_ceil(PANELS_PER_THREAD_AT_LEAST))
            .max(1);
        let per_thread = panels.div_ceil(threads).max(1);
        let pack_chunk = |first: usize, chunk: &mut [u8]| {
            let mut dec = Decoded::default();
            for (j, panel) in chunk.chunks_mut(panel_bytes).enumerate() {
                let p = first + j;
                for r in 0..PANEL.min(n - p * PANEL) {
                    let row = p * PANEL + r;
                    for b in 0..blocks {
                        let at = (row * blocks + b) * format.block_bytes();
                        decode_block(format, &bytes[at..at + format.block_bytes()], &mut dec);
                        let rec = &mut panel[b * layout.record..(b + 1) * layout.record];
                        write_row(format, &layout, rec, r, &dec);
                    }
                }
            }
        };
        if threads == 1 {
            pack_chunk(0, &mut data);
        } else {
            std::thread::scope(|scope| {
                for (i, chunk) in data.chunks_mut(per_thread * panel_bytes).enumerate() {
                    let pack_chunk = &pack_chunk;
                    scope.spawn(move || pack_chunk(i * per_thread, chunk));
                }
            });
        }
        Ok(Packed {
            format,
            n,
            k,
            layout,
            data,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Output rows (`n`).
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Values per row (`k`).
    pub fn cols(&self) -> usize {
        self.k
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    pub(crate) fn blocks(&self) -> usize {
        self.k / self.format.block_values()
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The record of block `b` of panel `p`.
    pub(crate) fn record(&self, p: usize, b: usize) -> &[u8] {
        let at = (p * self.blocks() + b) * self.layout.record;
        &self.data[at..at + self.layout.record]
    }

    /// Row `row` dequantized to f32 (for embedding lookups and tests).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(row < self.n && out.len() == self.k);
        let (p, r) = (row / PANEL, row % PANEL);
        let bv = self.format.block_values();
        for b in 0..self.blocks() {
            let rec = self.record(p, b);
            for (i, y) in out[b * bv..(b + 1) * bv].iter_mut().enumerate() {
                *y = value(self.format, &self.layout, rec, r, i);
            }
        }
    }
}

fn put_u16(dst: &mut [u8], at: usize, v: u16) {
    dst[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes row `r`'s part of one record.
fn write_row(format: Format, l: &Layout, rec: &mut [u8], r: usize, dec: &Decoded) {
    put_u16(rec, l.d + 2 * r, dec.d);
    if format.has_min() {
        put_u16(rec, l.m + 2 * r, dec.m);
    }
    match format {
        Format::Q4K | Format::Q5K => {
            for j in 0..8 {
                rec[l.scales + j * PANEL + r] = dec.scales[j];
                rec[l.mins + j * PANEL + r] = dec.mins[j];
            }
        }
        Format::Q6K => {
            for j in 0..16 {
                rec[l.scales + j * PANEL + r] = dec.scales[j];
            }
        }
        _ => {}
    }
    let subs = format.block_values() / 32;
    for s in 0..subs {
        let codes = &mut rec[l.codes + s * l.sub..l.codes + (s + 1) * l.sub];
        let c = &dec.codes[32 * s..32 * s + 32];
        match format.code_bits() {
            4..=6 => {
                for chunk in 0..4 {
                    for j in 0..4 {
                        let lo = c[8 * chunk + j] & 0xF;
                        let hi = c[8 * chunk + 4 + j] & 0xF;
                        codes[64 * chunk + 4 * r + j] = lo | (hi << 4);
                    }
                }
                if format.code_bits() == 5 {
                    for g in 0..8 {
                        let at = l.hb + 8 * g;
                        let mut bits =
                            u64::from_le_bytes(codes[at..at + 8].try_into().expect("8 bytes"));
                        for j in 0..4 {
                            if c[4 * g + j] & 0x10 != 0 {
                                bits |= 1 << (4 * r + j);
                            }
                        }
                        codes[at..at + 8].copy_from_slice(&bits.to_le_bytes());
                    }
                }
                if format.code_bits() == 6 {
                    for g in 0..8 {
                        for j in 0..4 {
                            let high = (c[4 * g + j] >> 4) & 0x3;
                            codes[l.hb + 64 * (g / 4) + 4 * r + j] |= high << (2 * (g % 4));
                        }
                    }
                }
            }
            _ => {
                for g in 0..8 {
                    for j in 0..4 {
                        codes[64 * g + 4 * r + j] = c[4 * g + j];
                    }
                }
            }
        }
    }
}

/// The code of row `r`, value `i` of a record (as stored: Q8_0 signed bits).
pub(crate) fn code(format: Format, l: &Layout, rec: &[u8], r: usize, i: usize) -> u8 {
    let (s, e) = (i / 32, i % 32);
    let codes = &rec[l.codes + s * l.sub..];
    let (g, j) = (e / 4, e % 4);
    match format.code_bits() {
        4..=6 => {
            let byte = codes[64 * (g / 2) + 4 * r + j];
            let mut c = if g % 2 == 0 { byte & 0xF } else { byte >> 4 };
            if format.code_bits() == 5 {
                let bits = u64::from_le_bytes(
                    codes[l.hb + 8 * g..l.hb + 8 * g + 8]
                        .try_into()
                        .expect("8 bytes"),
                );
                c |= (((bits >> (4 * r + j)) & 1) as u8) << 4;
            }
            if format.code_bits() == 6 {
                let byte = codes[l.hb + 64 * (g / 4) + 4 * r + j];
                c |= ((byte >> (2 * (g % 4))) & 0x3) << 4;
            }
            c
        }
        _ => codes[64 * g + 4 * r + j],
    }
}

fn u16_at(rec: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([rec[at], rec[at + 1]])
}

/// The weight of row `r`, value `i` of a record.
fn value(format: Format, l: &Layout, rec: &[u8], r: usize, i: usize) -> f32 {
    use crate::format::f16_to_f32;
    let c = code(format, l, rec, r, i);
    let d = f16_to_f32(u16_at(rec, l.d + 2 * r));
    match format {
        Format::Q8_0 => d * (c as i8) as f32,
        Format::Q4_0 | Format::Q5_0 => d * (c as i32 - format.offset()) as f32,
        Format::Q4_1 | Format::Q5_1 => d * c as f32 + f16_to_f32(u16_at(rec, l.m + 2 * r)),
        Format::Q4K | Format::Q5K => {
            let j = i / 32;
            let sc = rec[l.scales + j * PANEL + r] as f32;
            let mn = rec[l.mins + j * PANEL + r] as f32;
            d * sc * c as f32 - f16_to_f32(u16_at(rec, l.m + 2 * r)) * mn
        }
        Format::Q6K => {
            let j = i / 16;
            let sc = rec[l.scales + j * PANEL + r] as i8 as f32;
            d * sc * (c as i32 - 32) as f32
        }
    }
}
