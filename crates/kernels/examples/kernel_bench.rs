//! Throughput of the quantized matmul on the shapes of Cairn's answer models.
//!
//! `cargo run --release -p cairn-kernels --example kernel_bench [THREADS]`
//! prints, per format, shape and token count, the time per product and the
//! multiply-adds per second, for every instruction set this CPU runs.

use cairn_kernels::{matmul, Activations, Format, Isa, Packed, Pool};
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let pool = Pool::new(threads);
    let mut seed = 0x1234_5678_9ABC_DEF0u64;
    let mut next = move || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    // (format, n, k): Qwen2.5-0.5B's attention, MLP up and down projections.
    let shapes = [
        (Format::Q5_0, 896, 896),
        (Format::Q5_0, 4864, 896),
        (Format::Q8_0, 4864, 896),
        (Format::Q4K, 896, 4864),
        (Format::Q6K, 896, 4864),
        (Format::Q4K, 8960, 1536),
    ];
    println!("threads {threads}");
    println!("| format | n × k | tokens | isa | ms | GMAC/s |");
    println!("|---|---|---:|---|---:|---:|");
    for (f, n, k) in shapes {
        let blocks = n * k / f.block_values();
        let mut data = vec![0u8; blocks * f.block_bytes()];
        for b in data.iter_mut() {
            *b = next() as u8;
        }
        // Sane f16 scales (0x1000 ≈ 2^-11) where the format keeps them.
        for block in data.chunks_exact_mut(f.block_bytes()) {
            let at = if f == Format::Q6K { 208 } else { 0 };
            block[at..at + 2].copy_from_slice(&0x1000u16.to_le_bytes());
            if matches!(f, Format::Q4K | Format::Q5K) {
                block[2..4].copy_from_slice(&0x1000u16.to_le_bytes());
            }
        }
        let w = Packed::from_gguf(f, n, k, &data).expect("pack");
        for m in [1usize, 64, 256] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let act = Activations::quantize(&x, m, k, &[f]);
            let mut y = vec![0f32; m * n];
            for isa in Isa::available() {
                if isa == Isa::Scalar && m > 1 {
                    continue;
                }
                matmul(&pool, isa, &w, &act, &mut y);
                let reps = (2e9 / (m * n * k) as f64).clamp(3.0, 2000.0) as usize;
                let t = Instant::now();
                for _ in 0..reps {
                    matmul(&pool, isa, &w, &act, &mut y);
                }
                let s = t.elapsed().as_secs_f64() / reps as f64;
                println!(
                    "| {f:?} | {n} × {k} | {m} | {isa:?} | {:.3} | {:.1} |",
                    s * 1e3,
                    (m * n * k) as f64 / s / 1e9
                );
            }
        }
    }
}
