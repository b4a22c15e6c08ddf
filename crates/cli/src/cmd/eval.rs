//! `cairn eval --qrels FILE`: retrieval quality on a BEIR-style set, and with
//! `--answers`, the quality of generated answers.

use crate::cmd::ingest::progress_renderer;
use crate::App;
use anyhow::{Context, Result};
use cairn_engine::ask::AskOptions;
use cairn_engine::{CancelFlag, Engine, FusionConfig, FusionMethod, OpenMode, SearchMode};
use cairn_eval::retrieval::{evaluate, EvalReport};
use cairn_eval::set::EvalSet;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
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
    #[arg(short, default_value_t = AskOptions::default().k)]
    k: usize,
    /// With --answers, which parts of the set (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "answerable,unanswerable,conversations"
    )]
    parts: Vec<Part>,
    /// With --answers: give the model whole passages instead of evidence sentences.
    #[arg(long)]
    whole_passages: bool,
    /// With --answers: words of evidence per question.
    #[arg(long)]
    evidence_words: Option<usize>,
    /// With --answers: also read the model's own "is it answerable" judgement
    /// (one more prefill per question; off in the app).
    #[arg(long)]
    check: bool,
    /// With --answers: compute the answerability signals of every question and
    /// stop before generating (for calibration; facts are not graded).
    #[arg(long)]
    signals: bool,
    /// With --answers: answerability probability below which to refuse.
    #[arg(long)]
    min_answerable: Option<f32>,
    /// With --answers: stop after retrieval and evidence (no model): measures
    /// what reaches the model (facts and gold units in the evidence) in seconds.
    #[arg(long)]
    retrieval_only: bool,
    /// With --answers: add the prompt rule that lets the model itself reply
    /// "not in your documents" (off in the app).
    #[arg(long)]
    model_refusal: bool,
    /// With --answers: keep answers none of whose sentences is supported
    /// instead of withdrawing them.
    #[arg(long)]
    keep_unsupported: bool,
    /// With --answers: how follow-ups become search queries.
    #[arg(long, value_enum)]
    follow_up: Option<FollowUpArg>,
    /// With --answers: how the earlier turn reaches the model for a follow-up
    /// (as chat messages, or the earlier question named in the new one).
    #[arg(long, value_enum)]
    follow_up_context: Option<FollowUpContextArg>,
    /// Also write the whole JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Part {
    Answerable,
    Unanswerable,
    Conversations,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FollowUpContextArg {
    Chat,
    InQuestion,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FollowUpArg {
    AsAsked,
    Append,
    Rewrite,
}

pub async fn run(app: &App, args: Args) -> Result<()> {
    if args.answers {
        answers(app, args).await
    } else {
        retrieval(app, args).await
    }
}

/// Opens the index for writing and brings the evaluation corpus into it.
async fn eval_engine(app: &App, set: &EvalSet, quiet: bool) -> Result<Engine> {
    let engine = app.engine(OpenMode::Write).await?;
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

/// One row of `eval --json`.
#[derive(Serialize)]
struct Row {
    name: String,
    fusion: FusionConfig,
    report: EvalReport,
}

fn sweep_grid() -> Vec<FusionConfig> {
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
    grid
}

async fn retrieval(app: &App, args: Args) -> Result<()> {
    let set = EvalSet::load(&args.qrels)?;
    let engine = eval_engine(app, &set, args.json).await?;
    let default = engine.config().fusion;
    let mut rows = Vec::new();
    for mode in [SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid] {
        let report = evaluate(&engine, &set, mode, &default).await?;
        rows.push(Row {
            name: format!("{mode:?}").to_lowercase(),
            fusion: default,
            report,
        });
    }
    if args.sweep {
        for f in sweep_grid() {
            let report = evaluate(&engine, &set, SearchMode::Hybrid, &f).await?;
            let name = match f.method {
                FusionMethod::Rrf => format!("rrf k={} wv={}", f.rrf_k, f.vector_weight),
                FusionMethod::Convex => format!("convex wb={}", f.bm25_weight),
            };
            rows.push(Row {
                name,
                fusion: f,
                report,
            });
        }
    }
    if args.json {
        return crate::print_json_pretty(&rows);
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
    for r in &rows {
        let m = r.report.overall;
        println!(
            "| {:<22} | {:>7.3} | {:>8.3} | {:>9.3} | {:>6.3} |",
            r.name, m.ndcg_at_10, m.recall_at_5, m.recall_at_10, m.mrr_at_10
        );
    }
    println!();
    println!("nDCG@10 by query kind:");
    for r in rows.iter().take(3) {
        let kinds: Vec<String> = r
            .report
            .by_kind
            .iter()
            .map(|(k, m)| format!("{k} {:.3}", m.ndcg_at_10))
            .collect();
        println!("  {:<8} {}", r.name, kinds.join(", "));
    }
    Ok(())
}

/// Answers the set's questions with one model and grades the answers (see
/// `cairn_eval::answers`).
async fn answers(app: &App, args: Args) -> Result<()> {
    use cairn_engine::ask::{FollowUp, FollowUpContext};
    use cairn_eval::answers::{AnswerReport, CategoryReport, RunOptions};
    let set = EvalSet::load(&args.qrels)?;
    let model = app.answer_model(args.model.clone())?;
    let path = model.path();
    let engine = eval_engine(app, &set, true).await?;
    let defaults = AskOptions::default();
    let mut opts = AskOptions {
        k: args.k,
        check_answerable: args.check || defaults.check_answerable,
        ..defaults.clone()
    };
    if args.whole_passages {
        opts.evidence = None;
    } else if let (Some(words), Some(eo)) = (args.evidence_words, opts.evidence.as_mut()) {
        eo.max_words = words;
    }
    if let Some(t) = args.min_answerable {
        opts.min_answerable = t;
    }
    if args.model_refusal {
        opts.model_may_refuse = true;
    }
    if args.keep_unsupported {
        opts.refuse_unsupported = false;
    }
    if args.retrieval_only {
        // Every question stops at the off-topic gate, after its evidence.
        opts.min_vector_score = f32::INFINITY;
    }
    if args.signals {
        // Every question stops right after its answerability signals are read.
        opts.check_answerable = true;
        opts.min_answerable = f32::INFINITY;
    }
    if let Some(f) = args.follow_up {
        opts.follow_up = match f {
            FollowUpArg::AsAsked => FollowUp::AsAsked,
            FollowUpArg::Append => FollowUp::Append,
            FollowUpArg::Rewrite => FollowUp::Rewrite,
        };
    }
    if let Some(c) = args.follow_up_context {
        opts.follow_up_context = match c {
            FollowUpContextArg::Chat => FollowUpContext::Chat,
            FollowUpContextArg::InQuestion => FollowUpContext::InQuestion,
        };
    }
    let which = RunOptions {
        every: args.every,
        answerable: args.parts.contains(&Part::Answerable),
        unanswerable: args.parts.contains(&Part::Unanswerable),
        conversations: args.parts.contains(&Part::Conversations),
    };
    let report = cairn_eval::answers::run(&engine, &set, &model, &opts, which, &|i, n, g| {
        eprintln!(
            "[{i}/{n}] {} facts={} cited_ok={} refused={} unsupported={}/{} ttft={:.0}ms{}: {}",
            g.id,
            g.facts_found,
            g.cited_correct,
            g.refusal.as_deref().unwrap_or("no"),
            g.unsupported_sentences,
            g.sentences,
            g.ms_to_first_token,
            if g.searched_for != g.question {
                format!(" searched={:?}", g.searched_for)
            } else {
                String::new()
            },
            g.answer
                .replace('\n', " ")
                .chars()
                .take(160)
                .collect::<String>()
        )
    })
    .await?;
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        return crate::print_json_pretty(&report);
    }
    print_answer_report(&report, args.every, path.as_deref());
    fn row(name: &str, c: &CategoryReport) {
        if c.questions == 0 {
            return;
        }
        println!(
            "| {name:<20} | {:>4} | {:>5.3} | {:>5.3} | {:>5.3} | {:>5.3} | {:>5.3} |",
            c.questions,
            c.facts,
            c.cited_correct,
            c.refused,
            c.facts_in_evidence,
            c.gold_in_evidence
        );
    }
    fn print_answer_report(r: &AnswerReport, every: usize, path: Option<&std::path::Path>) {
        println!(
            "model {} ({}), every {}",
            r.model,
            path.map(|p| p.display().to_string()).unwrap_or_default(),
            every.max(1)
        );
        println!("| part                 |    n | facts | cited | refused | facts in evidence | gold in evidence |");
        println!("|----------------------|------|-------|-------|---------|-------------------|------------------|");
        row("answerable", &r.answerable);
        row("unanswerable", &r.unanswerable);
        row("conversation start", &r.conversation_start);
        row("follow-up", &r.follow_up);
        println!(
            "unsupported sentences {:.3} (answers with one: {:.3})",
            r.unsupported_sentence_share, r.answers_with_unsupported_share
        );
        println!(
            "time to evidence: median {:.0} ms, p95 {:.0} ms",
            r.time_to_evidence.median_ms, r.time_to_evidence.p95_ms
        );
        println!(
            "time to first token: median {:.0} ms, p95 {:.0} ms (answers written by the model: median {:.0} ms, p95 {:.0} ms)",
            r.time_to_first_token.median_ms,
            r.time_to_first_token.p95_ms,
            r.time_to_first_token_model.median_ms,
            r.time_to_first_token_model.p95_ms
        );
        println!(
            "mean prompt / answer {:.0} / {:.0} tokens, decode {:.1} tokens/s",
            r.mean_prompt_tokens, r.mean_generated_tokens, r.mean_tokens_per_s
        );
    }
    Ok(())
}
