//! `cairn search QUERY`: hybrid retrieval, printed or as JSON.

use crate::App;
use anyhow::Result;
use cairn_engine::{OpenMode, SearchHit, SearchMode};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    query: String,
    #[arg(short, default_value_t = 5)]
    k: usize,
    #[arg(long)]
    json: bool,
    /// Retrieval mode.
    #[arg(long, value_enum, default_value = "hybrid")]
    mode: ModeArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Hybrid,
    Bm25,
    Vector,
}

impl From<ModeArg> for SearchMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Hybrid => SearchMode::Hybrid,
            ModeArg::Bm25 => SearchMode::Bm25,
            ModeArg::Vector => SearchMode::Vector,
        }
    }
}

/// One hit of `search --json` (the documented contract).
#[derive(Serialize)]
struct HitOut<'a> {
    path: &'a str,
    /// Null for unpaged formats.
    page: Option<u32>,
    /// Character offsets into that page's text.
    start: usize,
    end: usize,
    score: f32,
    bm25_rank: Option<u32>,
    vector_rank: Option<u32>,
    bm25_score: Option<f32>,
    vector_score: Option<f32>,
    heading: &'a [String],
    text: &'a str,
}

impl<'a> From<&'a SearchHit> for HitOut<'a> {
    fn from(h: &'a SearchHit) -> Self {
        HitOut {
            path: &h.path,
            page: h.page,
            start: h.start,
            end: h.end,
            score: h.score,
            bm25_rank: h.bm25_rank,
            vector_rank: h.vector_rank,
            bm25_score: h.bm25_score,
            vector_score: h.vector_score,
            heading: &h.heading_path,
            text: &h.text,
        }
    }
}

pub async fn run(app: &App, args: Args) -> Result<()> {
    let engine = app.engine(OpenMode::Read).await?;
    let fusion = engine.config().fusion;
    let hits = engine
        .search_with(&args.query, args.k, args.mode.into(), &fusion)
        .await?;
    if args.json {
        let out: Vec<HitOut> = hits.iter().map(HitOut::from).collect();
        return crate::print_json_pretty(&out);
    }
    if hits.is_empty() {
        println!("no matching passages");
    }
    for (i, h) in hits.iter().enumerate() {
        let page = h.page.map(|p| format!(" p.{p}")).unwrap_or_default();
        let rank = |r: Option<u32>| r.map_or("-".to_string(), |r| r.to_string());
        println!(
            "{}. {}{} [{}..{}] score {:.4} (bm25 #{}, vector #{})",
            i + 1,
            h.path,
            page,
            h.start,
            h.end,
            h.score,
            rank(h.bm25_rank),
            rank(h.vector_rank)
        );
        let snippet: String = h.text.chars().take(240).collect();
        println!("   {}", snippet.replace('\n', " "));
    }
    Ok(())
}
