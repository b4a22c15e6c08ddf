//! `cairn ingest PATH...`: index files and folders, with progress on stderr.

use crate::App;
use anyhow::Result;
use cairn_engine::{CancelFlag, EngineConfig, FileOutcome, IngestReport, OpenMode, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
    /// Chunks embedded and written per batch (tests use small batches to get many
    /// commits from a small corpus).
    #[arg(long, hide = true)]
    batch_chunks: Option<usize>,
}

pub async fn run(app: &App, args: Args) -> Result<()> {
    let mut cfg = EngineConfig::new(&app.data_dir);
    if let Some(n) = args.batch_chunks {
        cfg.batch_chunks = n.max(1);
    }
    let engine = app.engine_with(cfg, OpenMode::Write).await?;
    let cancel: CancelFlag = Arc::default();
    let (render, _bar) = progress_renderer(false);
    let report = engine.ingest(&args.paths, render.as_ref(), &cancel).await?;
    if args.json {
        return crate::print_json(&report);
    }
    print_summary(&report);
    Ok(())
}

fn print_summary(report: &IngestReport) {
    println!(
        "indexed {} file(s) ({} chunks, {} pages), {} unchanged, {} removed, {} failed, {} skipped in {:.1} s",
        report.indexed,
        report.chunks,
        report.pages,
        report.unchanged,
        report.removed,
        report.failed.len(),
        report.skipped.len(),
        report.timings.total_ms as f64 / 1000.0
    );
    for f in &report.failed {
        println!("  failed: {}", f.error);
    }
}

/// Renders ingest progress: a bar on a terminal, one line per file otherwise.
pub type Renderer = Box<dyn Fn(&Progress) + Send + Sync>;

pub fn progress_renderer(quiet: bool) -> (Renderer, Option<ProgressBar>) {
    if quiet {
        return (Box::new(|_| {}), None);
    }
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} files {per_sec} eta {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let b = bar.clone();
        let f = move |p: &Progress| match p {
            Progress::Scanned { files } => b.set_length(*files as u64),
            Progress::File { path, outcome, .. } => {
                if let FileOutcome::Failed { error } = outcome {
                    b.println(format!("failed: {error}"));
                }
                b.set_message(path.clone());
                b.inc(1);
            }
            Progress::Ocr { path, done, pages } => {
                b.set_message(format!("{path}: OCR, page {done}/{pages}"))
            }
            Progress::Optimizing => b.set_message("optimizing index"),
            Progress::Finished => b.finish_and_clear(),
        };
        (Box::new(f), Some(bar))
    } else {
        let f = |p: &Progress| match p {
            Progress::Scanned { files } => eprintln!("found {files} file(s)"),
            Progress::File {
                path,
                outcome,
                done,
                total,
            } => {
                let what = match outcome {
                    FileOutcome::Indexed { chunks } => format!("indexed ({chunks} chunks)"),
                    FileOutcome::Unchanged => "unchanged".to_string(),
                    FileOutcome::Failed { error } => format!("failed: {error}"),
                };
                eprintln!("[{done}/{total}] {path}: {what}");
            }
            Progress::Ocr { path, done, pages } => {
                if *done == 0 {
                    eprintln!("{path}: reading {pages} page(s) without text by OCR");
                } else {
                    eprintln!("{path}: OCR page {done}/{pages} done");
                }
            }
            Progress::Optimizing => eprintln!("optimizing index"),
            Progress::Finished => {}
        };
        (Box::new(f), None)
    }
}
