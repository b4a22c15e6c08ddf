//! Writes a copy of a GGUF with the tensor types candle runs slowly (Q4_1,
//! Q5_0, Q5_1) converted to Q8_0 (or another type), for an install step.
//!
//! ```text
//! cargo run --release -p cairn-llm --example requantize -- IN.gguf OUT.gguf [q8_0]
//! ```

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (src, dst) = match (args.first(), args.get(1)) {
        (Some(s), Some(d)) => (PathBuf::from(s), PathBuf::from(d)),
        _ => return Err("usage: requantize IN.gguf OUT.gguf [q8_0|q4_0|q4_k|...]".into()),
    };
    let name = args.get(2).map(String::as_str).unwrap_or("q8_0");
    let target = cairn_llm::requant::parse_dtype(name).ok_or(format!("unknown type {name}"))?;
    let started = Instant::now();
    let changed = cairn_llm::requant::requantize_file(&src, &dst, target)?;
    println!(
        "{changed} tensors converted to {target:?} in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        dst.display()
    );
    Ok(())
}
