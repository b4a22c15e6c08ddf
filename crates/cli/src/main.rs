//! `cairn`: index local files and search them from the command line.
//!
//! The command-line contract (flags, JSON shapes, exit codes) is stable: scripts and
//! tests rely on it. See `cairn --help`.

mod bench;

use anyhow::{Context, Result};
use cairn_engine::{
    eval::EvalSet, CancelFlag, Engine, EngineConfig, IngestReport, OpenMode, Progress, SearchMode,
};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Private question answering over your own files"
)]
struct Cli {
    /// Where the index lives (default: the OS data directory, e.g. ~/.local/share/cairn).
    #[arg(long, global = true, env = "CAIRN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where model files are installed (default: ~/.cache/cairn/models).
    #[arg(long, global = true, env = "CAIRN_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index files and folders (folders are synced: deleted files are removed).
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
        /// Chunks embedded and written per batch (tests use small batches to get many
        /// commits from a small corpus).
        #[arg(long, hide = true)]
        batch_chunks: Option<usize>,
    },
    /// Find the passages that best match a query.
    Search {
        query: String,
        #[arg(short, default_value_t = 5)]
        k: usize,
        #[arg(long)]
        json: bool,
        /// Retrieval mode.
        #[arg(long, value_enum, default_value = "hybrid")]
        mode: ModeArg,
    },
    /// Answer a question from your documents with a local model, citing sources.
    Ask {
        question: String,
        /// A GGUF model file (default: the default answer model in the models folder).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Passages retrieved for the answer.
        #[arg(short, default_value_t = cairn_engine::ask::AskOptions::default().k)]
        k: usize,
        #[arg(long)]
        json: bool,
    },
    /// List the GGUF models in the models folder.
    Models {
        #[arg(long)]
        json: bool,
    },
    /// List indexed documents.
    Docs {
        #[arg(long)]
        json: bool,
    },
    /// Remove files or folders from the index (the files themselves are untouched).
    Remove {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate retrieval on a BEIR-style set (qrels.tsv beside queries.jsonl and corpus/).
    Eval {
        #[arg(long)]
        qrels: PathBuf,
        /// Also try a grid of fusion settings and print each.
        #[arg(long)]
        sweep: bool,
        /// Grade generated answers instead of retrieval: expected facts, citations,
        /// "not in your documents" on unanswerable questions, speed.
        #[arg(long)]
        answers: bool,
        /// Answer model for --answers (default: the default answer model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// With --answers, take every Nth question (1 = all) to bound the run time.
        #[arg(long, default_value_t = 1)]
        every: usize,
        /// With --answers, passages retrieved per question.
        #[arg(short, default_value_t = cairn_engine::ask::AskOptions::default().k)]
        k: usize,
        #[arg(long)]
        json: bool,
    },
    /// Check that the stores agree and repair an interrupted write.
    Repair {
        #[arg(long)]
        json: bool,
    },
    /// Check, changing nothing, that the catalogue, vector store and keyword index agree
    /// (exit status 1 when they do not; `cairn repair` fixes leftovers of a crash).
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (see docs/BENCHMARKS.md for the method).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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

pub(crate) struct App {
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
}

impl App {
    pub fn embedder(&self) -> Result<Arc<dyn cairn_core::Embedder>> {
        let e = cairn_embed::FastEmbedder::open(&self.models_dir).with_context(|| {
            format!(
                "cannot load the embedding model from {}",
                self.models_dir.display()
            )
        })?;
        Ok(Arc::new(e))
    }

    pub async fn engine(&self, mode: OpenMode) -> Result<Engine> {
        self.engine_at(self.data_dir.clone(), mode).await
    }

    pub async fn engine_at(&self, data_dir: PathBuf, mode: OpenMode) -> Result<Engine> {
        self.engine_with(EngineConfig::new(&data_dir), mode).await
    }

    pub async fn engine_with(&self, cfg: EngineConfig, mode: OpenMode) -> Result<Engine> {
        let data_dir = cfg.data_dir.clone();
        Engine::open(cfg, self.embedder()?, mode)
            .await
            .with_context(|| format!("cannot open the index in {}", data_dir.display()))
    }
}

fn main() -> std::process::ExitCode {
    // Before any thread exists: ONNX Runtime's own telemetry must be off from the moment
    // it loads (see `cairn_embed::disable_runtime_telemetry`).
    cairn_embed::disable_runtime_telemetry();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let ctx = App {
        data_dir: cli.data_dir.unwrap_or_else(cairn_engine::default_data_dir),
        models_dir: cli
            .models_dir
            .unwrap_or_else(cairn_embed::default_models_dir),
    };
    match cli.command {
        Command::Ingest {
            paths,
            json,
            batch_chunks,
        } => ingest(&ctx, paths, json, batch_chunks).await,
        Command::Search {
            query,
            k,
            json,
            mode,
        } => search(&ctx, &query, k, json, mode.into()).await,
        Command::Docs { json } => docs(&ctx, json).await,
        Command::Ask {
            question,
            model,
            k,
            json,
        } => ask(&ctx, &question, model, k, json).await,
        Command::Models { json } => models(&ctx, json),
        Command::Remove { paths, json } => {
            let engine = ctx.engine(OpenMode::Write).await?;
            let n = engine.remove(&paths).await?;
            if json {
                println!("{}", serde_json::json!({ "removed": n }));
            } else {
                println!("removed {n} document(s)");
            }
            Ok(())
        }
        Command::Eval {
            qrels,
            answers: true,
            model,
            every,
            k,
            json,
            ..
        } => eval_answers(&ctx, &qrels, model, every, k, json).await,
        Command::Eval {
            qrels, sweep, json, ..
        } => eval(&ctx, &qrels, sweep, json).await,
        Command::Repair { json } => {
            let (engine, report) =
                Engine::open_for_repair(EngineConfig::new(&ctx.data_dir), ctx.embedder()?)
                    .await
                    .with_context(|| {
                        format!("cannot repair the index in {}", ctx.data_dir.display())
                    })?;
            let stats = engine.stats().await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "repair": report, "stats": stats })
                );
            } else {
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
                for p in report.dropped_pending.iter().chain(&report.mismatched) {
                    println!("dropped, ingest again to restore: {p}");
                }
            }
            Ok(())
        }
        Command::Verify { json } => verify(&ctx, json).await,
        Command::Bench(cmd) => bench::run(&ctx, cmd).await,
    }
}

/// Renders ingest progress: a bar on a terminal, one line per file otherwise.
type Renderer = Box<dyn Fn(&Progress) + Send + Sync>;

fn progress_renderer(quiet: bool) -> (Renderer, Option<ProgressBar>) {
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
                if let cairn_engine::ingest::FileOutcome::Failed { error } = outcome {
                    b.println(format!("failed: {error}"));
                }
                b.set_message(path.clone());
                b.inc(1);
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
                    cairn_engine::ingest::FileOutcome::Indexed { chunks } => {
                        format!("indexed ({chunks} chunks)")
                    }
                    cairn_engine::ingest::FileOutcome::Unchanged => "unchanged".to_string(),
                    cairn_engine::ingest::FileOutcome::Failed { error } => {
                        format!("failed: {error}")
                    }
                };
                eprintln!("[{done}/{total}] {path}: {what}");
            }
            Progress::Optimizing => eprintln!("optimizing index"),
            Progress::Finished => {}
        };
        (Box::new(f), None)
    }
}

async fn ingest(
    ctx: &App,
    paths: Vec<PathBuf>,
    json: bool,
    batch_chunks: Option<usize>,
) -> Result<()> {
    let mut cfg = EngineConfig::new(&ctx.data_dir);
    if let Some(n) = batch_chunks {
        cfg.batch_chunks = n.max(1);
    }
    let engine = ctx.engine_with(cfg, OpenMode::Write).await?;
    let cancel: CancelFlag = Arc::default();
    let (render, _bar) = progress_renderer(false);
    let report = engine.ingest(&paths, render.as_ref(), &cancel).await?;
    print_ingest(&report, json);
    Ok(())
}

/// `cairn verify`: prints the consistency report; fails when the stores disagree.
async fn verify(ctx: &App, json: bool) -> Result<()> {
    let engine = ctx.engine(OpenMode::Read).await?;
    let report = engine.verify().await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "consistent": report.consistent(),
                "visible_consistent": report.visible_consistent(),
                "report": report,
            })
        );
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
    if !json {
        println!("consistent");
    }
    Ok(())
}

fn print_ingest(report: &IngestReport, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "indexed": report.indexed,
                "unchanged": report.unchanged,
                "removed": report.removed,
                "failed": report.failed,
                "skipped": report.skipped,
                "chunks": report.chunks,
                "pages": report.pages,
                "timings_ms": report.timings,
            })
        );
        return;
    }
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

async fn search(ctx: &App, query: &str, k: usize, json: bool, mode: SearchMode) -> Result<()> {
    let engine = ctx.engine(OpenMode::Read).await?;
    let fusion = engine.config().fusion;
    let hits = engine.search_with(query, k, mode, &fusion).await?;
    if json {
        let out: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| {
                serde_json::json!({
                    "path": h.path,
                    "page": h.page,
                    "start": h.start,
                    "end": h.end,
                    "score": h.score,
                    "bm25_rank": h.bm25_rank,
                    "vector_rank": h.vector_rank,
                    "bm25_score": h.bm25_score,
                    "vector_score": h.vector_score,
                    "heading": h.heading_path,
                    "text": h.text,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
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

async fn docs(ctx: &App, json: bool) -> Result<()> {
    let engine = ctx.engine(OpenMode::Read).await?;
    let docs = engine.documents();
    if json {
        println!("{}", serde_json::to_string_pretty(&docs)?);
        return Ok(());
    }
    if docs.is_empty() {
        println!("no documents indexed yet; try: cairn ingest PATH");
    }
    for d in docs {
        println!(
            "{:<8} {:>5} pages {:>6} chunks  {:?}  {}",
            d.format, d.pages, d.chunks, d.status, d.path
        );
    }
    Ok(())
}

/// Opens the index for writing and brings the evaluation corpus into it.
async fn eval_engine(ctx: &App, set: &EvalSet, quiet: bool) -> Result<Engine> {
    let engine = ctx.engine(OpenMode::Write).await?;
    let cancel: CancelFlag = Arc::default();
    let (render, _bar) = progress_renderer(quiet);
    let report = engine
        .ingest(std::slice::from_ref(&set.corpus), render.as_ref(), &cancel)
        .await?;
    if !report.failed.is_empty() {
        eprintln!(
            "warning: {} corpus file(s) failed to index",
            report.failed.len()
        );
    }
    Ok(engine)
}

async fn eval(ctx: &App, qrels: &std::path::Path, sweep: bool, json: bool) -> Result<()> {
    use cairn_core::fusion::{FusionConfig, FusionMethod};
    let set = EvalSet::load(qrels)?;
    let engine = eval_engine(ctx, &set, json).await?;
    let default = engine.config().fusion;
    let mut rows = Vec::new();
    for mode in [SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid] {
        let r = engine.evaluate(&set, mode, &default).await?;
        rows.push((format!("{mode:?}").to_lowercase(), default, r));
    }
    if sweep {
        let mut grid = Vec::new();
        for k in [10.0, 30.0, 60.0] {
            for wv in [1.0, 1.5, 2.0, 3.0] {
                grid.push(FusionConfig {
                    method: FusionMethod::Rrf,
                    rrf_k: k,
                    bm25_weight: 1.0,
                    vector_weight: wv,
                });
            }
        }
        for wb in [0.2, 0.3, 0.4, 0.5, 0.6] {
            grid.push(FusionConfig {
                method: FusionMethod::Convex,
                rrf_k: 60.0,
                bm25_weight: wb,
                vector_weight: 1.0 - wb,
            });
        }
        for f in grid {
            let r = engine.evaluate(&set, SearchMode::Hybrid, &f).await?;
            let name = match f.method {
                FusionMethod::Rrf => format!("rrf k={} wv={}", f.rrf_k, f.vector_weight),
                FusionMethod::Convex => format!("convex wb={}", f.bm25_weight),
            };
            rows.push((name, f, r));
        }
    }
    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, f, r)| serde_json::json!({ "name": name, "fusion": f, "report": r }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} queries over {}",
        set.queries.len(),
        set.corpus.display()
    );
    println!(
        "| {:<22} | {:>7} | {:>8} | {:>9} | {:>6} |",
        "retriever", "nDCG@10", "recall@5", "recall@10", "MRR@10"
    );
    println!(
        "|{:-<24}|{:->9}|{:->10}|{:->11}|{:->8}|",
        "", "", "", "", ""
    );
    for (name, _, r) in &rows {
        let m = r.overall;
        println!(
            "| {:<22} | {:>7.3} | {:>8.3} | {:>9.3} | {:>6.3} |",
            name, m.ndcg_at_10, m.recall_at_5, m.recall_at_10, m.mrr_at_10
        );
    }
    println!();
    println!("nDCG@10 by query kind:");
    for (name, _, r) in rows.iter().take(3) {
        let kinds: Vec<String> = r
            .by_kind
            .iter()
            .map(|(k, m)| format!("{k} {:.3}", m.ndcg_at_10))
            .collect();
        println!("  {name:<8} {}", kinds.join(", "));
    }
    Ok(())
}

/// Answers every `every`-th answerable and unanswerable question of the set with
/// one model and grades the answers (see `cairn_engine::eval::grade_answer`).
async fn eval_answers(
    ctx: &App,
    qrels: &std::path::Path,
    model: Option<PathBuf>,
    every: usize,
    k: usize,
    json: bool,
) -> Result<()> {
    use cairn_engine::eval::{grade_answer, AnswerReport};
    let set = EvalSet::load(qrels)?;
    let path = answer_model_path(ctx, model)?;
    let engine = eval_engine(ctx, &set, true).await?;
    let opts = cairn_engine::ask::AskOptions {
        k,
        ..Default::default()
    };
    let load = cairn_llm::LoadOptions {
        requantized_dir: Some(ctx.models_dir.join("cache")),
        ..Default::default()
    };
    let mut llm = tokio::task::block_in_place(|| cairn_llm::LocalModel::load(&path, &load))
        .with_context(|| format!("cannot load the model {}", path.display()))?;
    let step = every.max(1);
    let picked: Vec<(&cairn_engine::eval::EvalQuery, bool)> = set
        .queries
        .iter()
        .step_by(step)
        .map(|q| (q, true))
        .chain(set.unanswerable.iter().step_by(step).map(|q| (q, false)))
        .collect();
    let mut grades = Vec::new();
    for (i, (q, answerable)) in picked.iter().enumerate() {
        let retrieved = engine.retrieve_for_answer(&q.text, &opts).await?;
        let answer = tokio::task::block_in_place(|| {
            cairn_engine::ask::answer(&mut llm, &q.text, &retrieved, &opts, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
        })?;
        let g = grade_answer(&set, q, *answerable, &answer);
        eprintln!(
            "[{}/{}] {} facts={} cited_ok={} no_answer={} ttft={:.0}ms: {}",
            i + 1,
            picked.len(),
            g.id,
            g.facts_found,
            g.cited_correct,
            g.said_no_answer,
            g.ms_to_first_token,
            g.answer
                .replace('\n', " ")
                .chars()
                .take(160)
                .collect::<String>()
        );
        grades.push(g);
    }
    let report = AnswerReport::new(llm.info().name.clone(), grades);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} answerable + {} unanswerable questions (every {step}) with {}",
        report.answerable,
        report.unanswerable,
        path.display()
    );
    println!("facts in answer            {:.3}", report.facts_share);
    println!(
        "facts in a packed passage  {:.3}",
        report.facts_in_passages_share
    );
    println!(
        "correct citation           {:.3}",
        report.cited_correct_share
    );
    println!("any citation               {:.3}", report.cited_share);
    println!(
        "markers only, no words     {:.3}",
        report.markers_only_share
    );
    println!(
        "false 'not in documents'   {:.3}",
        report.false_no_answer_share
    );
    println!("unanswerable -> no-answer  {:.3}", report.no_answer_share);
    println!(
        "mean time to first token   {:.0} ms",
        report.mean_ms_to_first_token
    );
    println!(
        "mean decode speed          {:.1} tokens/s",
        report.mean_tokens_per_s
    );
    println!(
        "mean prompt / answer       {:.0} / {:.0} tokens",
        report.mean_prompt_tokens, report.mean_generated_tokens
    );
    Ok(())
}

/// The model `ask` and `eval --answers` use: `--model`, else the default answer
/// model installed in the models folder.
fn answer_model_path(ctx: &App, model: Option<PathBuf>) -> Result<PathBuf> {
    match model {
        Some(p) => Ok(p),
        None => cairn_llm::default_answer_model(&ctx.models_dir).with_context(|| {
            format!(
                "no answer model in {}; run models/fetch.sh or pass --model FILE.gguf",
                ctx.models_dir.display()
            )
        }),
    }
}

async fn ask(
    ctx: &App,
    question: &str,
    model: Option<PathBuf>,
    k: usize,
    json: bool,
) -> Result<()> {
    use std::io::Write;
    let path = answer_model_path(ctx, model)?;
    let engine = ctx.engine(OpenMode::Read).await?;
    let opts = cairn_engine::ask::AskOptions {
        k,
        ..Default::default()
    };
    let retrieved = engine.retrieve_for_answer(question, &opts).await?;
    let load = cairn_llm::LoadOptions {
        requantized_dir: Some(ctx.models_dir.join("cache")),
        ..Default::default()
    };
    let answer = tokio::task::block_in_place(|| -> Result<_> {
        let mut llm = cairn_llm::LocalModel::load(&path, &load)
            .with_context(|| format!("cannot load the model {}", path.display()))?;
        let mut stdout = std::io::stdout();
        let answer =
            cairn_engine::ask::answer(&mut llm, question, &retrieved, &opts, &mut |piece| {
                if !json {
                    let _ = stdout.write_all(piece.as_bytes());
                    let _ = stdout.flush();
                }
                std::ops::ControlFlow::Continue(())
            })?;
        Ok(answer)
    })?;
    if json {
        let citations: Vec<serde_json::Value> = answer
            .citations
            .iter()
            .map(|c| {
                serde_json::json!({
                    "n": c.n, "path": c.path, "page": c.page,
                    "start": c.start, "end": c.end, "text": c.text,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "answer": answer.answer,
                "citations": citations,
                "model": answer.model,
                "grounded": answer.grounded,
                "prompt_tokens": answer.prompt_tokens,
                "generated_tokens": answer.generated_tokens,
                "ms_to_first_token": answer.ms_to_first_token.round() as u64,
                "tokens_per_s": answer.tokens_per_s,
            })
        );
        return Ok(());
    }
    println!();
    if !answer.citations.is_empty() {
        println!();
        for c in &answer.citations {
            let page = c.page.map(|p| format!(", page {p}")).unwrap_or_default();
            println!("[{}] {}{}", c.n, c.path, page);
        }
    }
    Ok(())
}

fn models(ctx: &App, json: bool) -> Result<()> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(&ctx.models_dir)
        .with_context(|| format!("cannot read {}", ctx.models_dir.display()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().and_then(|e| e.to_str()) == Some("gguf") {
            match cairn_llm::inspect(&p) {
                Ok(info) => found.push(info),
                Err(e) => eprintln!("skipping {}: {e}", p.display()),
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    if found.is_empty() {
        println!("no GGUF models in {}", ctx.models_dir.display());
    }
    for m in found {
        println!(
            "{:<44} {:<8} {:<8} ctx {:>6} {:>6.0} MiB {}",
            m.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            m.architecture,
            m.quantization,
            m.context_length,
            m.file_size as f64 / 1_048_576.0,
            if m.supported { "" } else { "(unsupported)" }
        );
    }
    Ok(())
}
