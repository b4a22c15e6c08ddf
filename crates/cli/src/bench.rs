//! `cairn bench …`: reproducible measurements for docs/BENCHMARKS.md.
//!
//! - `bench ingest PATH...` indexes into a fresh temporary data directory and prints
//!   throughput (files, PDF pages, chunks and embedded chunks per second), the time
//!   breakdown by stage, and peak RSS.
//! - `bench search` fills a fresh index with synthetic chunks (see
//!   `cairn_engine::bench`) and times hybrid, BM25-only and vector-only searches with
//!   real query embeddings, reporting p50/p95/p99.

use crate::App;
use anyhow::{Context, Result};
use cairn_engine::bench::{word, zipf, Rng, Synthetic};
use cairn_engine::{CancelFlag, OpenMode, SearchMode};
use clap::Subcommand;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Ingestion throughput on real files, into a fresh temporary index.
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Search latency at scale on synthetic chunks.
    Search {
        /// Number of synthetic chunks to index.
        #[arg(long, default_value_t = 100_000)]
        chunks: usize,
        /// Number of timed queries per mode.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Reuse (or keep) the synthetic index in this folder instead of a temporary one.
        #[arg(long)]
        index: Option<PathBuf>,
    },
}

/// Peak resident set size of this process in MiB (Linux), from /proc.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let idx = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[idx.min(sorted_ms.len() - 1)]
}

pub async fn run(app: &App, cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Ingest { paths } => ingest(app, paths).await,
        BenchCommand::Search {
            chunks,
            queries,
            k,
            index,
        } => search(app, chunks, queries, k, index).await,
    }
}

async fn ingest(app: &App, paths: Vec<PathBuf>) -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let engine = app
        .engine_at(tmp.path().to_path_buf(), OpenMode::Write)
        .await?;
    let cancel: CancelFlag = Arc::default();
    let t = Instant::now();
    let report = engine.ingest(&paths, &|_| {}, &cancel).await?;
    let secs = t.elapsed().as_secs_f64();
    let tm = report.timings;
    let per_s = |n: usize, ms: u64| n as f64 / (ms.max(1) as f64 / 1000.0);
    println!("files indexed      {}", report.indexed);
    println!("failed             {}", report.failed.len());
    println!("pages              {}", report.pages);
    println!("chunks             {}", report.chunks);
    println!("wall time          {secs:.2} s");
    println!(
        "throughput         {:.1} files/s, {:.1} pages/s, {:.1} chunks/s (end to end)",
        report.indexed as f64 / secs,
        report.pages as f64 / secs,
        report.chunks as f64 / secs
    );
    println!(
        "load               {:.1} pages/s ({} ms)",
        per_s(report.pages, tm.load_ms),
        tm.load_ms
    );
    println!(
        "embedding          {:.1} chunks/s ({} ms)",
        per_s(report.chunks, tm.embed_ms),
        tm.embed_ms
    );
    println!(
        "breakdown (ms)     walk {} | diff+hash {} | load {} | chunk {} | embed {} | write {} | optimize {}",
        tm.walk_ms, tm.diff_ms, tm.load_ms, tm.chunk_ms, tm.embed_ms, tm.write_ms, tm.optimize_ms
    );
    if let Some(rss) = peak_rss_mib() {
        println!("peak RSS           {rss:.0} MiB");
    }
    Ok(())
}

async fn search(
    app: &App,
    chunks: usize,
    queries: usize,
    k: usize,
    index: Option<PathBuf>,
) -> Result<()> {
    let tmp;
    let dir = match index {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().context("cannot create a temporary data directory")?;
            tmp.path().to_path_buf()
        }
    };
    let engine = app.engine_at(dir.clone(), OpenMode::Write).await?;
    let existing = engine.stats().await?.catalogue_chunks as usize;
    let spec = Synthetic {
        chunks,
        ..Synthetic::default()
    };
    if existing != chunks {
        if existing != 0 {
            anyhow::bail!(
                "{} already holds {existing} chunks; use an empty folder",
                dir.display()
            );
        }
        let t = Instant::now();
        engine
            .populate_synthetic(&spec, &|n| eprintln!("  wrote {n} chunks"))
            .await?;
        eprintln!(
            "indexed {chunks} synthetic chunks in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    // Queries of 3-8 words drawn from the same vocabulary as the corpus.
    let mut rng = Rng::new(99);
    let texts: Vec<String> = (0..queries)
        .map(|_| {
            let n = 3 + (rng.next_u64() % 6) as usize;
            (0..n)
                .map(|_| word(zipf(&mut rng, spec.vocab / 10)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let fusion = engine.config().fusion;
    println!("{} chunks, {} queries per mode, k={}", chunks, queries, k);
    println!("| mode   | p50 ms | p95 ms | p99 ms |");
    println!("|--------|--------|--------|--------|");
    for mode in [SearchMode::Hybrid, SearchMode::Bm25, SearchMode::Vector] {
        // Warm caches (index pages, ONNX session) before timing.
        for q in texts.iter().take(10) {
            engine.search_with(q, k, mode, &fusion).await?;
        }
        let mut times = Vec::with_capacity(texts.len());
        for q in &texts {
            let t = Instant::now();
            let hits = engine.search_with(q, k, mode, &fusion).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(hits);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {:<6} | {:>6.2} | {:>6.2} | {:>6.2} |",
            format!("{mode:?}").to_lowercase(),
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 0.99)
        );
    }
    // The query embedding alone, to separate model time from index time.
    let embedder = engine.embedder().clone();
    let mut times = Vec::new();
    for q in &texts {
        let t = Instant::now();
        std::hint::black_box(embedder.embed_query(q)?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "query embedding alone: p50 {:.2} ms, p95 {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
    if let Some(rss) = peak_rss_mib() {
        println!("peak RSS {rss:.0} MiB");
    }
    Ok(())
}
