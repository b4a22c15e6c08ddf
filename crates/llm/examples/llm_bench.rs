//! Measures one GGUF model as Cairn runs it (candle with Cairn's kernels):
//! prefill and decode speed, time to first token and peak RSS, on a fixed
//! prompt. One model per process so the RSS is its own. Pair with
//! `bench/llama_cpp_bench.py` (same prompt, same thread count); build with
//! `--release` and no target-cpu flags, as shipped (`bench/side_by_side.sh`).
//!
//! ```text
//! cargo run --release -p cairn-llm --example llm_bench -- MODEL.gguf [--prompt-words N] [--gen N] [--runs N] [--no-requant] [--requant-dir DIR]
//! ```
//! Prints one JSON object per run.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use cairn_llm::{GenParams, LoadOptions, LocalModel};

/// The same filler the Python bench uses: plain English prose, repeated.
const FILLER: &str = "The committee reviewed the annual report on water quality in the northern district. \
It found that nitrate levels had fallen for the third year in a row, while phosphate levels stayed flat. \
The report recommends more frequent sampling near the two treatment plants and a public summary every quarter. ";

fn prompt_text(words: usize) -> String {
    FILLER
        .split_whitespace()
        .cycle()
        .take(words)
        .collect::<Vec<_>>()
        .join(" ")
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut model: Option<PathBuf> = None;
    let (mut words, mut gen, mut runs, mut requant) = (400usize, 64usize, 3usize, true);
    let mut requant_dir: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--prompt-words" => words = args.next().ok_or("--prompt-words N")?.parse()?,
            "--gen" => gen = args.next().ok_or("--gen N")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            "--no-requant" => requant = false,
            "--requant-dir" => requant_dir = Some(args.next().ok_or("--requant-dir DIR")?.into()),
            _ => model = Some(PathBuf::from(a)),
        }
    }
    let model = model.ok_or(
        "usage: llm_bench MODEL.gguf [--prompt-words N] [--gen N] [--runs N] [--no-requant]",
    )?;
    eprintln!("cairn: {}", cairn_llm::cpu_features());
    let load_start = Instant::now();
    let opts = LoadOptions {
        requantize_slow: requant,
        requantized_dir: requant_dir,
        ..LoadOptions::default()
    };
    let mut m = LocalModel::load(&model, &opts)?;
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;
    let tok = m.tokenizer();
    let mut ids: Vec<u32> = Vec::new();
    if tok.add_bos() {
        ids.extend(tok.bos());
    }
    ids.extend(tok.encode(&prompt_text(words))?);
    let params = GenParams {
        max_new_tokens: gen,
        ignore_stop_tokens: true,
        repeat_penalty: 1.0,
        ..GenParams::default()
    };
    for run in 0..runs {
        // Every run prefills the whole prompt: the same prompt again would
        // otherwise come from the KV cache (qwen2).
        m.clear_cache();
        let stats = m.generate(&ids, &params, &mut |_| ControlFlow::Continue(()))?;
        println!(
            "{}",
            serde_json::json!({
                "engine": "cairn",
                "threads": candle_core::utils::get_num_threads(),
                "kernels": format!("{:?}", cairn_llm::kernel_isa()),
                "model": model.file_name().map(|f| f.to_string_lossy().into_owned()),
                "run": run,
                "requantized": m.info().runtime_quantization,
                "load_ms": load_ms,
                "prompt_tokens": stats.prompt_tokens,
                "generated_tokens": stats.generated_tokens,
                "prefill_tok_s": stats.prefill_tokens_per_s,
                "decode_tok_s": stats.tokens_per_s,
                "ttft_ms": stats.ms_to_first_token,
                "peak_rss_mb": peak_rss_mb(),
            })
        );
    }
    Ok(())
}
