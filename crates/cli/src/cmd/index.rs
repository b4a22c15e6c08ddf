//! Commands that look after the index itself: `remove`, `repair`, `verify`.

use crate::App;
use anyhow::{Context, Result};
use cairn_engine::verify::VerifyReport;
use cairn_engine::{Engine, EngineConfig, OpenMode, RepairReport, StoreStats};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RemoveArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Removed {
    removed: usize,
}

pub async fn remove(app: &App, args: RemoveArgs) -> Result<()> {
    let engine = app.engine(OpenMode::Write).await?;
    let removed = engine.remove(&args.paths).await?;
    if args.json {
        return crate::print_json(&Removed { removed });
    }
    println!("removed {removed} document(s)");
    Ok(())
}

#[derive(clap::Args)]
pub struct RepairArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Repaired<'a> {
    repair: &'a RepairReport,
    stats: &'a StoreStats,
}

pub async fn repair(app: &App, args: RepairArgs) -> Result<()> {
    let embedder = app.models.embedder()?;
    let (engine, report) = Engine::open_for_repair(EngineConfig::new(&app.data_dir), embedder)
        .await
        .with_context(|| format!("cannot repair the index in {}", app.data_dir.display()))?;
    let stats = engine.stats().await?;
    if args.json {
        return crate::print_json(&Repaired {
            repair: &report,
            stats: &stats,
        });
    }
    println!(
        "{} documents, {} chunks (vectors {}, keyword {}); dropped pending: {}, orphans removed: {}, mismatched: {}",
        stats.documents,
        stats.catalogue_chunks,
        stats.vector_rows,
        stats.keyword_docs,
        report.dropped_pending.len(),
        report.orphans_removed,
        report.mismatched.len()
    );
    for p in &report.quarantined {
        println!("moved a damaged part aside: {}", p.display());
    }
    if report.meta_rewritten {
        println!("wrote meta.json again for the configured embedding model");
    }
    if report.catalogue_rebuilt {
        println!("rebuilt the catalogue from the vector store");
    }
    if report.keyword_index_rebuilt {
        println!("rebuilt the keyword index from the vector store");
    }
    if report.vector_store_reset {
        println!(
            "the vector store was unreadable and is now empty: ingest your files again to restore their passages"
        );
    }
    for p in report.dropped_pending.iter().chain(&report.mismatched) {
        println!("dropped, ingest again to restore: {p}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Verified<'a> {
    consistent: bool,
    visible_consistent: bool,
    report: &'a VerifyReport,
}

/// Prints the consistency report; fails when the stores disagree.
pub async fn verify(app: &App, args: VerifyArgs) -> Result<()> {
    // A check changes nothing: an index that another embedding model built
    // would be re-embedded (and repaired) by opening it, so say so instead.
    let embedder = app.models.embedder()?;
    let cfg = EngineConfig::new(&app.data_dir);
    if cairn_engine::upgrade::needs_reembedding(&cfg, embedder.as_ref()) {
        anyhow::bail!(
            "the index in {} was built with another embedding model than {}; it is re-embedded \
             the next time Cairn opens it (the app, `cairn ingest`, `cairn search` or `cairn repair`), \
             then it can be verified",
            app.data_dir.display(),
            embedder.model_id()
        );
    }
    // The embedder loaded for the check above, not a second copy.
    let engine = Engine::open(cfg, embedder, OpenMode::Read)
        .await
        .with_context(|| format!("cannot open the index in {}", app.data_dir.display()))?;
    let report = engine.verify().await?;
    if args.json {
        crate::print_json(&Verified {
            consistent: report.consistent(),
            visible_consistent: report.visible_consistent(),
            report: &report,
        })?;
    } else {
        let s = report.stats;
        println!(
            "{} documents ({} pending), {} chunks in the catalogue, {} vector rows, {} keyword documents",
            s.documents,
            report.pending.len(),
            s.catalogue_chunks,
            s.vector_rows,
            s.keyword_docs
        );
        for p in &report.mismatched {
            println!("  chunk counts disagree: {p}");
        }
        for p in &report.pending {
            println!("  write not finished: {p}");
        }
        for o in &report.orphans {
            println!(
                "  orphan chunks of unknown document {}: {} vector, {} keyword",
                o.doc_id, o.vector_chunks, o.keyword_chunks
            );
        }
        for id in &report.duplicate_chunk_ids {
            println!("  duplicate chunk id: {id}");
        }
        if report.dirty {
            println!("  a write is running or was interrupted");
        }
    }
    if !report.consistent() {
        anyhow::bail!(if report.visible_consistent() {
            "the index holds leftovers of an interrupted write; `cairn repair` (or the next ingest) removes them"
        } else {
            "the index is inconsistent; run `cairn repair`, then ingest again"
        });
    }
    if !args.json {
        println!("consistent");
    }
    Ok(())
}
