//! Quantized matrix multiplication for Cairn's answer models, on the CPU.
//!
//! A decoder multiplies activations `x` (`m` tokens × `k`, f32) by weight
//! matrices `W` (`n` × `k`, quantized as in GGUF files) into `y` (`m` × `n`).
//! candle computes one dot product per (row, token) pair; here:
//!
//! - **Weights are repacked once at load** ([`Packed::from_gguf`]) into panels
//!   of 16 rows: for every 32 columns, the 16 rows' 4-column groups lie side
//!   by side, so one 64-byte vector holds 16 rows × 4 columns. The panel is no
//!   bigger than the GGUF data for 4-, 5- and 6-bit types (nibbles stay
//!   nibbles, Q6_K's two high bits stay two bits), which matters because
//!   decoding one token reads every weight once.
//! - **Activations are quantized once per input** ([`Activations`]) to int8
//!   with a scale per 32 values (per 256 for K-quants, as llama.cpp does) and
//!   the sums the offset and minimum terms need.
//! - **The inner loop reuses every load**: a weight vector (16 rows × 4
//!   columns) is multiplied with up to 8 tokens' columns, each broadcast, in
//!   int8 with int32 sums (AVX-512 VNNI `vpdpbusd`: 64 multiply-adds per
//!   instruction; AVX2 `vpmaddubsw`/`vpmaddwd`), and the scales are applied
//!   once per 32-column block.
//! - **The instruction set is chosen at run time** ([`Isa::detect`]): AVX-512
//!   VNNI, AVX2, or the portable reference ([`Isa::Scalar`]), which every other
//!   tier is tested against (they compute the same integers in the same order,
//!   so their results are equal to the bit). `CAIRN_KERNELS_ISA` forces a tier.
//! - **Threads** come from a small pool of its own ([`Pool`]), which splits the
//!   panels of one product between them with one hand-off per product.
//!
//! Formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32-value blocks) and Q4_K, Q5_K,
//! Q6_K (256-value super-blocks). Anything else stays with candle.
//!
//! Also here, because it needs the same run-time choice of instruction set:
//! [`attend`], the attention of one new position over a KV cache (f32), which
//! decoding runs once per layer and token.
//!
//! This is the only crate of Cairn that uses `unsafe`: for SIMD intrinsics
//! (in `x86`, and in `attend`, which also calls the functions it compiled
//! for AVX2 / AVX-512), for handing a borrowed job to the pool's threads (in `pool`)
//! and for the two calls into the C allocator ([`release_free_memory`],
//! [`limit_heap_arenas`]).

mod act;
mod attend;
mod format;
mod heap;
mod pack;
mod pool;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use act::Activations;
pub use attend::{attend, KvRows};
pub use format::Format;
pub use heap::{limit_heap_arenas, release_free_memory};
pub use pack::Packed;
pub use pool::Pool;

/// Errors from packing weights or multiplying.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// `k` is not a multiple of the format's block size.
    Shape {
        format: Format,
        n: usize,
        k: usize,
        reason: &'static str,
    },
    /// The GGUF data is not `n × k` values of the format.
    DataSize {
        format: Format,
        expected: usize,
        found: usize,
    },
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelError::Shape {
                format,
                n,
                k,
                reason,
            } => write!(f, "cannot pack a {n}×{k} {format:?} matrix: {reason}"),
            KernelError::DataSize {
                format,
                expected,
                found,
            } => write!(
                f,
                "{format:?} data of {found} bytes where {expected} were expected"
            ),
        }
    }
}

impl std::error::Error for KernelError {}

/// The instruction set the kernels run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust: the reference the others are tested against.
    Scalar,
    /// x86-64 with AVX2, FMA and F16C (most laptops since 2013).
    Avx2,
    /// x86-64 with AVX-512 F/BW/VL and VNNI (recent Intel and AMD Zen 4/5).
    Avx512Vnni,
}

impl Isa {
    /// The best tier this CPU runs, unless `CAIRN_KERNELS_ISA` (`scalar`,
    /// `avx2`, `avx512`) asks for a lower one. Detected once.
    pub fn detect() -> Isa {
        static DETECTED: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| {
            let best = Isa::best_supported();
            match std::env::var("CAIRN_KERNELS_ISA").ok().as_deref() {
                Some("scalar") => Isa::Scalar,
                Some("avx2") if best >= Isa::Avx2 => Isa::Avx2,
                _ => best,
            }
        })
    }

    /// Every tier this CPU can run, lowest first (the tests run them all).
    pub fn available() -> Vec<Isa> {
        let best = Isa::best_supported();
        [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni]
            .into_iter()
            .filter(|i| *i <= best)
            .collect()
    }

    fn best_supported() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c");
            let avx512 = avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512vnni");
            if avx512 {
                return Isa::Avx512Vnni;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }
}

/// `y = x · Wᵀ`: `x` is `m × k` quantized activations, `w` an `n × k` packed
/// matrix, `y` is `m × n` (row-major, overwritten). The panels are split
/// between the pool's threads.
///
/// # Panics
/// If the shapes disagree, the activations were not quantized for `w`'s
/// format, or this CPU cannot run `isa`.
pub fn matmul(pool: &Pool, isa: Isa, w: &Packed, x: &Activations, y: &mut [f32]) {
    assert!(
        isa <= Isa::best_supported(),
        "this CPU cannot run the {isa:?} kernels"
    );
    let (m, n) = (x.rows(), w.rows());
    assert_eq!(x.cols(), w.cols(), "activations and weights disagree on k");
    assert_eq!(y.len(), m * n, "output is not m × n");
    assert!(
        x.has_blocks_for(w.format()),
        "activations were not quantized for {:?}",
        w.format()
    );
    let panels = w.panels();
    if m == 0 || panels == 0 {
        return;
    }
    let out = pool::SharedOut::new(y);
    let work = |range: std::ops::Range<usize>| {
        let mut tile = vec![0f32; pack::PANEL * m];
        for p in range {
            tile.iter_mut().for_each(|v| *v = 0.0);
            run_panel(isa, w, x, p, &mut tile);
            // The panel's 16 columns of every token row.
            let rows = pack::PANEL.min(n - p * pack::PANEL);
            for t in 0..m {
                out.write(
                    t * n + p * pack::PANEL,
                    &tile[t * pack::PANEL..t * pack::PANEL + rows],
                );
            }
        }
    };
    pool.split(panels, &work);
}

/// Computes one panel for every token into `tile` (`m × 16`, zeroed). `isa`
/// must be one this CPU runs (checked by [`matmul`]).
fn run_panel(isa: Isa, w: &Packed, x: &Activations, panel: usize, tile: &mut [f32]) {
    match isa {
        // SAFETY: `matmul` checked that the CPU has every feature of this tier.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { x86::panel_avx512(w, x, panel, tile) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::panel_avx2(w, x, panel, tile) },
        _ => scalar::panel(w, x, panel, tile),
    }
}

#[cfg(test)]
mod tests;
