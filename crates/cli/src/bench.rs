//! `cairn bench …`: reproducible measurements for docs/BENCHMARKS.md.
//!
//! - `bench ingest PATH...` indexes into a fresh temporary data directory and prints
//!   throughput (files, PDF pages, chunks and embedded chunks per second), the time
//!   breakdown by stage, and peak RSS.
//! - `bench search` fills a fresh index with synthetic chunks (see
//!   `cairn_eval::synthetic`) and times hybrid, BM25-only and vector-only searches with
//!   real query embeddings, reporting p50/p95/p99.
//! - `bench during-ingest` searches an index from this process while a separate
//!   `cairn ingest` process writes to it, and compares latency before, during and after.
//! - `bench memory PATH...` follows this process's resident memory through what the
//!   desktop app does in one session: open the index, ingest, load the answer model,
//!   answer a question, then sit idle.

use crate::App;
use anyhow::{Context, Result};
use cairn_engine::{CancelFlag, EngineConfig, OpenMode, SearchMode};
use cairn_eval::synthetic::{populate, word, zipf, Rng, Synthetic};
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
        /// Parse PDF and the zip formats in this process instead of in
        /// `cairn-load-worker`, to measure what the worker costs.
        #[arg(long)]
        in_process: bool,
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
    /// Search latency while another process ingests into the same index.
    DuringIngest {
        /// Files or folders indexed first; the searches run against them.
        #[arg(long, required = true)]
        base: Vec<PathBuf>,
        /// Files or folders a separate `cairn ingest` process adds while searches run.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Searches timed before and after the ingest.
        #[arg(long, default_value_t = 100)]
        idle_queries: usize,
    },
    /// Resident memory after each step of a session: open, ingest, model loaded,
    /// an answer, idle.
    Memory {
        /// Files or folders indexed into a fresh temporary index.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The question answered once the model is loaded.
        #[arg(
            long,
            default_value = "How do I tell the shared MIME database about a new file type?"
        )]
        question: String,
        /// Answer model file; default: the default model of the models folder.
        #[arg(long)]
        model: Option<PathBuf>,
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
        BenchCommand::Ingest { paths, in_process } => ingest(app, paths, in_process).await,
        BenchCommand::Search {
            chunks,
            queries,
            k,
            index,
        } => search(app, chunks, queries, k, index).await,
        BenchCommand::DuringIngest {
            base,
            paths,
            k,
            idle_queries,
        } => during_ingest(app, base, paths, k, idle_queries).await,
        BenchCommand::Memory {
            paths,
            question,
            model,
        } => memory(app, paths, &question, model).await,
    }
}

/// `VmRSS`, `RssAnon`, `RssFile` and `VmHWM` of this process in MiB (Linux).
fn memory_now() -> Option<[f64; 4]> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some([
        field("VmRSS:")?,
        field("RssAnon:")?,
        field("RssFile:")?,
        field("VmHWM:")?,
    ])
}

async fn memory(
    app: &App,
    paths: Vec<PathBuf>,
    question: &str,
    model: Option<PathBuf>,
) -> Result<()> {
    let row = |step: &str| {
        let [rss, anon, file, peak] = memory_now().unwrap_or([f64::NAN; 4]);
        println!("{step:<28} {rss:>8.0} {anon:>8.0} {file:>8.0} {peak:>8.0}");
    };
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}",
        "step (MiB)", "RSS", "anon", "file", "peak"
    );
    row("start");
    let tmp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let engine = app
        .engine_with(EngineConfig::new(tmp.path()), OpenMode::Write)
        .await?;
    row("index open, embedder loaded");
    let cancel: CancelFlag = Arc::default();
    let report = engine.ingest(&paths, &|_| {}, &cancel).await?;
    row(&format!("ingested {} chunks", report.chunks));
    let t = Instant::now();
    engine.release_memory().await?;
    row(&format!("memory released ({} ms)", t.elapsed().as_millis()));
    let answer_model = app.answer_model(model)?;
    {
        let m = answer_model.clone();
        tokio::task::spawn_blocking(move || m.ensure(&mut |_| {}).map(|_| ()))
            .await
            .context("the model loader panicked")??;
    }
    row("answer model loaded");
    let answer = engine
        .ask(
            question,
            &[],
            &cairn_engine::ask::AskOptions::default(),
            &answer_model,
            Box::new(|_| {}),
        )
        .await?;
    row(&format!(
        "answered ({} bytes{})",
        answer.answer.len(),
        if answer.refusal.is_some() {
            ", refused"
        } else {
            ""
        }
    ));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    row("idle 2 s later");
    Ok(())
}

async fn ingest(app: &App, paths: Vec<PathBuf>, in_process: bool) -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let mut cfg = EngineConfig::new(tmp.path());
    if in_process {
        cfg.load.worker = None;
    }
    println!(
        "parser             {}",
        match &cfg.load.worker {
            Some(worker) => format!("worker {}", worker.display()),
            None => "in-process".to_string(),
        }
    );
    let engine = app.engine_with(cfg, OpenMode::Write).await?;
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
        populate(&engine, &spec, &|n| eprintln!("  wrote {n} chunks")).await?;
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

/// Questions of the kinds people ask of manuals and notes; identifiers included.
const READER_QUERIES: &[&str] = &[
    "how do I configure the network interface",
    "license terms for redistribution",
    "what does the installer do with existing partitions",
    "asn1_der_coding",
    "where are configuration files stored",
    "how to report a bug",
    "difference between stable and testing",
    "compress files with bzip2",
    "set up a printer",
    "environment variables that change the behaviour",
    "mime type detection rules",
    "upgrade to a new release",
];

#[derive(Default)]
struct Phase {
    times_ms: Vec<f64>,
    errors: Vec<String>,
}

impl Phase {
    async fn search(&mut self, engine: &cairn_engine::Engine, q: &str, k: usize) {
        let t = Instant::now();
        match engine.search(q, k).await {
            Ok(hits) => {
                self.times_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(hits);
            }
            Err(e) => self.errors.push(e.to_string()),
        }
    }

    fn row(&mut self, name: &str) {
        self.times_ms.sort_by(f64::total_cmp);
        let t = &self.times_ms;
        println!(
            "| {:<15} | {:>5} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6} |",
            name,
            t.len(),
            percentile(t, 0.5),
            percentile(t, 0.95),
            percentile(t, 0.99),
            t.last().copied().unwrap_or(0.0),
            self.errors.len()
        );
    }
}

/// Indexes `base`, then times hybrid searches from this process before, during and
/// after a separate `cairn ingest PATHS` process writes to the same data directory.
/// During the ingest the reader refreshes its view once a second, as a long-running
/// app would; refresh time is reported separately. Fails if any search failed.
async fn during_ingest(
    app: &App,
    base: Vec<PathBuf>,
    paths: Vec<PathBuf>,
    k: usize,
    idle_queries: usize,
) -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let dir = tmp.path().to_path_buf();
    {
        let writer = app.engine_at(dir.clone(), OpenMode::Write).await?;
        let cancel: CancelFlag = Arc::default();
        let r = writer.ingest(&base, &|_| {}, &cancel).await?;
        eprintln!("base index: {} files, {} chunks", r.indexed, r.chunks);
    }
    let reader = app.engine_at(dir.clone(), OpenMode::Read).await?;
    let queries = READER_QUERIES.iter().cycle();
    for q in queries.clone().take(10) {
        reader.search(q, k).await?;
    }
    let mut before = Phase::default();
    for q in queries.clone().take(idle_queries) {
        before.search(&reader, q, k).await;
    }

    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let t = Instant::now();
    let mut child = std::process::Command::new(exe)
        .arg("--data-dir")
        .arg(&dir)
        .arg("--models-dir")
        .arg(app.models.path())
        .arg("ingest")
        .args(&paths)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start the ingest process")?;
    let mut during = Phase::default();
    let mut refresh_ms: Vec<f64> = Vec::new();
    let mut last_refresh = Instant::now();
    let mut cycle = queries.clone();
    while child.try_wait()?.is_none() {
        if last_refresh.elapsed().as_secs_f64() >= 1.0 {
            let r = Instant::now();
            if let Err(e) = reader.refresh().await {
                during.errors.push(format!("refresh: {e}"));
            }
            refresh_ms.push(r.elapsed().as_secs_f64() * 1000.0);
            last_refresh = Instant::now();
        }
        let q = cycle.next().copied().unwrap_or("license");
        during.search(&reader, q, k).await;
    }
    let ingest_s = t.elapsed().as_secs_f64();
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!("the ingest process failed");
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();

    reader.refresh().await?;
    let mut after = Phase::default();
    for q in queries.take(idle_queries) {
        after.search(&reader, q, k).await;
    }
    println!(
        "ingest in another process: {} files, {} chunks in {ingest_s:.1} s; k={k}",
        report["indexed"], report["chunks"]
    );
    println!("| phase           |     n | p50 ms | p95 ms | p99 ms | max ms | errors |");
    println!("|-----------------|-------|--------|--------|--------|--------|--------|");
    before.row("before ingest");
    during.row("during ingest");
    after.row("after ingest");
    refresh_ms.sort_by(f64::total_cmp);
    println!(
        "reader refresh during ingest: {} times, p50 {:.1} ms, max {:.1} ms",
        refresh_ms.len(),
        percentile(&refresh_ms, 0.5),
        refresh_ms.last().copied().unwrap_or(0.0)
    );
    let errors: Vec<&String> = before
        .errors
        .iter()
        .chain(&during.errors)
        .chain(&after.errors)
        .collect();
    for e in errors.iter().take(5) {
        eprintln!("error: {e}");
    }
    if !errors.is_empty() {
        anyhow::bail!("{} searches failed", errors.len());
    }
    Ok(())
}
