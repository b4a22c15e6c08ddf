//! Encoding speed and memory of a GGUF file's tokenizer: the compact
//! byte-level BPE Cairn uses against the `tokenizers` crate's BPE, on the
//! same text, alternated. Build with `--release`.
//!
//! ```text
//! cargo run --release -p cairn-llm --example tokenizer_bench -- MODEL.gguf TEXT_FILE... [--runs N]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use cairn_llm::TextTokenizer;

/// Resident memory of this process, in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(
        args.next()
            .expect("usage: tokenizer_bench MODEL.gguf TEXT_FILE..."),
    );
    let mut files = Vec::new();
    let mut runs = 5;
    while let Some(a) = args.next() {
        if a == "--runs" {
            runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N");
        } else {
            files.push(PathBuf::from(a));
        }
    }
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect::<Vec<_>>()
        .join("\n");

    // Memory: each tokenizer built alone, RSS before and after (its own heap).
    let before = rss_kib();
    let compact = TextTokenizer::from_gguf(&model).expect("tokenizer");
    let compact_kib = rss_kib().saturating_sub(before);
    let before = rss_kib();
    let reference = TextTokenizer::from_gguf_with_crate_bpe(&model)
        .expect("tokenizer")
        .expect("a byte-level BPE vocabulary");
    let reference_kib = rss_kib().saturating_sub(before);
    println!(
        "{{\"text_bytes\": {}, \"compact_rss_mib\": {:.1}, \"crate_rss_mib\": {:.1}}}",
        text.len(),
        compact_kib as f64 / 1024.0,
        reference_kib as f64 / 1024.0
    );
    for run in 0..runs {
        for (name, tok) in [("compact", &compact), ("crate", &reference)] {
            let t = Instant::now();
            let ids = tok.encode(&text).expect("encode");
            let s = t.elapsed().as_secs_f64();
            println!(
                "{{\"run\": {run}, \"bpe\": \"{name}\", \"tokens\": {}, \"ms\": {:.1}, \"mb_per_s\": {:.2}}}",
                ids.len(),
                s * 1e3,
                text.len() as f64 / s / 1e6
            );
        }
    }
}
