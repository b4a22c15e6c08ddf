//! Embedding throughput: chunks per second for N texts of about 205 tokens.
//!
//! The texts are windows of `--words` consecutive words from `--file`, built exactly as
//! `models/bench_st.py` builds them, so the two numbers can be put side by side.
//!
//! ```text
//! cargo run --release -p cairn-embed --example embed_bench -- --threads 2 --n 256
//! ```
//! Options: `--n N` (256), `--threads T` (all cores), `--words W` (168), `--batch B` (the
//! embedder's default for the graph: 1 for int8, 8 for fp32), `--graph FILE` (`model-int8.onnx`;
//! `model.onnx` is the fp32 graph), `--file PATH` (/usr/share/common-licenses/GPL-3),
//! `--models DIR` (default models dir).

use std::path::PathBuf;
use std::time::Instant;

use cairn_core::{Embedder, TokenCounter};
use cairn_embed::{
    EmbedderConfig, FastEmbedder, DEFAULT_BATCH_SIZE, FP32_BATCH_SIZE, FP32_GRAPH, INT8_GRAPH,
};

#[path = "../../../tests/support/models.rs"]
mod models;

struct Args {
    n: usize,
    threads: Option<usize>,
    words: usize,
    batch: Option<usize>,
    graph: String,
    file: PathBuf,
    models: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 256,
        threads: None,
        words: 168,
        batch: None,
        graph: INT8_GRAPH.to_owned(),
        file: PathBuf::from("/usr/share/common-licenses/GPL-3"),
        models: models::installed_models_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--n" => args.n = number()?,
            "--threads" => args.threads = Some(number()?),
            "--words" => args.words = number()?,
            "--batch" => args.batch = Some(number()?),
            "--graph" => args.graph = value.clone(),
            "--file" => args.file = PathBuf::from(&value),
            "--models" => args.models = PathBuf::from(&value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

/// Text `i` is the `words`-word window starting at word `(i * words) % (len - words)`.
fn make_texts(source: &str, n: usize, words: usize) -> Result<Vec<String>, String> {
    let all: Vec<&str> = source.split_whitespace().collect();
    if all.len() <= words {
        return Err(format!("source has only {} words", all.len()));
    }
    let span = all.len() - words;
    Ok((0..n)
        .map(|i| {
            let start = (i * words) % span;
            all[start..start + words].join(" ")
        })
        .collect())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let source = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let texts = make_texts(&source, args.n, args.words)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    let batch = args.batch.unwrap_or(if args.graph == FP32_GRAPH {
        FP32_BATCH_SIZE
    } else {
        DEFAULT_BATCH_SIZE
    });
    let config = EmbedderConfig {
        threads: args.threads,
        batch_size: batch,
        graph: args.graph.clone(),
        ..EmbedderConfig::new(&args.models)
    };
    let embedder = FastEmbedder::open_with(config).map_err(|e| e.to_string())?;
    let tokens: usize = refs.iter().map(|t| embedder.count_tokens(t) + 2).sum();

    // Warm up: the first run pays ONNX Runtime's allocation and kernel selection.
    embedder
        .embed_passages(&refs[..refs.len().min(batch.max(8))])
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let vectors = embedder.embed_passages(&refs).map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), refs.len());

    let threads = args
        .threads
        .map_or_else(|| "all".to_owned(), |t| t.to_string());
    println!(
        "cairn-embed (fastembed + ONNX Runtime, {}): {} texts, mean {:.0} tokens, threads {threads}, batch {batch}",
        args.graph,
        refs.len(),
        tokens as f64 / refs.len() as f64,
    );
    println!(
        "{:.2} s, {:.1} chunks/s, {:.1} ms/chunk",
        secs,
        refs.len() as f64 / secs,
        secs * 1000.0 / refs.len() as f64
    );
    Ok(())
}
