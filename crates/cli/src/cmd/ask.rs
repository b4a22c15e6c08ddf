//! `cairn ask QUESTION` and `cairn chat`: grounded answers streamed to stdout,
//! with the evidence first and the sources after.
//!
//! `cairn chat` reads one question per line from stdin and keeps the
//! conversation, so a follow-up ("and for decompression?") is understood in
//! the context of the previous turns; each follow-up shows what was searched
//! for. `/new` starts a fresh conversation. With `--json` every turn is one
//! line of JSON, the same object `cairn ask --json` prints.

use crate::App;
use anyhow::Result;
use cairn_engine::ask::{Answer, AskEvent, AskOptions, Refusal, Turn};
use cairn_engine::evidence::Evidence;
use cairn_engine::support::SentenceSupport;
use cairn_engine::{AnswerModel, Citation, Engine, OpenMode};
use serde::Serialize;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    question: String,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct Common {
    /// A GGUF model file (default: the default answer model in the models folder).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Passages retrieved for the answer.
    #[arg(short, default_value_t = AskOptions::default().k)]
    k: usize,
    #[arg(long)]
    json: bool,
}

/// `ask --json` and each line of `chat --json` (the documented contract).
#[derive(Serialize)]
struct AnswerOut<'a> {
    answer: &'a str,
    citations: &'a [Citation],
    model: &'a str,
    /// False when the reply is "not in your documents".
    grounded: bool,
    prompt_tokens: usize,
    generated_tokens: usize,
    ms_to_first_token: u64,
    tokens_per_s: f64,
    /// Why it was refused, when it was.
    refusal: Option<Refusal>,
    /// The query searched (for a follow-up, the question rewritten to stand alone).
    searched_for: &'a str,
    /// The evidence the answer was written from; for a refusal, the nearest sources.
    evidence: &'a [Evidence],
    /// Each sentence of the answer, with whether its evidence supports it.
    sentences: &'a [SentenceSupport],
    ms_to_evidence: u64,
}

impl<'a> From<&'a Answer> for AnswerOut<'a> {
    fn from(a: &'a Answer) -> Self {
        AnswerOut {
            answer: &a.answer,
            citations: &a.citations,
            model: &a.model,
            grounded: a.grounded,
            prompt_tokens: a.prompt_tokens,
            generated_tokens: a.generated_tokens,
            ms_to_first_token: a.ms_to_first_token.round() as u64,
            tokens_per_s: a.tokens_per_s,
            refusal: a.refusal,
            searched_for: &a.searched_for,
            evidence: &a.evidence,
            sentences: &a.sentences,
            ms_to_evidence: a.ms_to_evidence.round() as u64,
        }
    }
}

pub async fn run(app: &App, args: Args) -> Result<()> {
    let model = app.answer_model(args.common.model.clone())?;
    let engine = app.engine(OpenMode::Read).await?;
    turn(&engine, &model, &args.common, &args.question, &[]).await?;
    Ok(())
}

pub async fn chat(app: &App, args: ChatArgs) -> Result<()> {
    let model = app.answer_model(args.common.model.clone())?;
    let engine = app.engine(OpenMode::Read).await?;
    let mut history: Vec<Turn> = Vec::new();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive && !args.common.json {
        eprintln!("Ask about your documents; follow-up questions use the conversation. /new starts over, Ctrl+D ends.");
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive && !args.common.json {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        let question = line.trim();
        if question.is_empty() {
            continue;
        }
        if question == "/new" {
            history.clear();
            if !args.common.json {
                println!("(new conversation)");
            }
            continue;
        }
        let a = turn(&engine, &model, &args.common, question, &history).await?;
        history.push(Turn {
            question: question.to_string(),
            answer: a.answer.clone(),
            searched_for: a.searched_for.clone(),
        });
        if !args.common.json {
            println!();
        }
    }
    Ok(())
}

/// One question: events printed as they come (text mode), the answer returned.
async fn turn(
    engine: &Engine,
    model: &Arc<AnswerModel>,
    common: &Common,
    question: &str,
    history: &[Turn],
) -> Result<Answer> {
    let opts = AskOptions {
        k: common.k,
        ..AskOptions::default()
    };
    let json = common.json;
    let follow_up = !history.is_empty();
    let asked = question.to_string();
    let on_event = Box::new(move |e: AskEvent| {
        if json {
            return;
        }
        let mut out = std::io::stdout();
        match e {
            AskEvent::Searched { query } if follow_up && query != asked => {
                let _ = writeln!(out, "searched for: {query}");
            }
            AskEvent::Evidence { evidence, .. } if !evidence.is_empty() => {
                let _ = writeln!(out, "evidence:");
                for ev in evidence.iter().take(4) {
                    let _ = writeln!(
                        out,
                        "  [{}] {}: {}",
                        ev.n,
                        source(&ev.path, ev.page),
                        one_line(&ev.text, 160)
                    );
                }
                let _ = writeln!(out);
            }
            AskEvent::Token { text } => {
                let _ = out.write_all(text.as_bytes());
            }
            _ => {}
        }
        let _ = out.flush();
    });
    let answer = engine
        .ask(question, history, &opts, model, on_event)
        .await?;
    if json {
        crate::print_json(&AnswerOut::from(&answer))?;
        return Ok(answer);
    }
    println!();
    let unsupported: Vec<&SentenceSupport> =
        answer.sentences.iter().filter(|s| !s.supported).collect();
    if answer.refusal == Some(Refusal::Unsupported) {
        // The streamed text is on screen already: say plainly that it is withdrawn.
        println!();
        println!("(withdrawn: no sentence of it is supported by the passages it cites)");
        println!("{}", answer.answer);
    } else if !unsupported.is_empty() {
        println!();
        for s in unsupported {
            println!(
                "(not supported by its source: \"{}\")",
                one_line(&s.text, 120)
            );
        }
    }
    if !answer.citations.is_empty() {
        println!();
        for c in &answer.citations {
            println!("[{}] {}", c.n, source(&c.path, c.page));
        }
    } else if !answer.grounded && !answer.evidence.is_empty() {
        println!();
        println!("nearest sources:");
        for ev in answer.evidence.iter().take(3) {
            println!("  {}", source(&ev.path, ev.page));
        }
    }
    Ok(answer)
}

fn source(path: &str, page: Option<u32>) -> String {
    match page {
        Some(p) => format!("{path}, page {p}"),
        None => path.to_string(),
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}
