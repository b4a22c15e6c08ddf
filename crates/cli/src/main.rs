//! `cairn`: index local files, search them and ask questions about them from the
//! command line.
//!
//! The command-line contract (flags, JSON shapes, exit codes) is stable: scripts and
//! tests rely on it. See `cairn --help`. Each command lives in its own module under
//! `cmd/`; everything they do goes through `cairn_engine`.

mod bench;
mod cmd;

use anyhow::{Context, Result};
use cairn_engine::{AnswerModel, Engine, EngineConfig, ModelsDir, OpenMode};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    Ingest(cmd::ingest::Args),
    /// Find the passages that best match a query.
    Search(cmd::search::Args),
    /// Answer a question from your documents with a local model, citing sources.
    Ask(cmd::ask::Args),
    /// A conversation: one question per line on stdin; follow-ups use the earlier turns.
    Chat(cmd::ask::ChatArgs),
    /// List the GGUF models in the models folder.
    Models(cmd::models::Args),
    /// List indexed documents.
    Docs(cmd::docs::Args),
    /// Remove files or folders from the index (the files themselves are untouched).
    Remove(cmd::index::RemoveArgs),
    /// Evaluate retrieval on a BEIR-style set (qrels.tsv beside queries.jsonl and corpus/).
    Eval(cmd::eval::Args),
    /// Check that the stores agree and repair an interrupted write.
    Repair(cmd::index::RepairArgs),
    /// Check, changing nothing, that the catalogue, vector store and keyword index agree
    /// (exit status 1 when they do not; `cairn repair` fixes leftovers of a crash).
    Verify(cmd::index::VerifyArgs),
    /// Benchmarks (see docs/BENCHMARKS.md for the method).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// What every command needs: where the index and the models are.
pub(crate) struct App {
    pub data_dir: PathBuf,
    pub models: ModelsDir,
}

impl App {
    pub async fn engine(&self, mode: OpenMode) -> Result<Engine> {
        self.engine_with(EngineConfig::new(&self.data_dir), mode)
            .await
    }

    pub async fn engine_at(&self, data_dir: PathBuf, mode: OpenMode) -> Result<Engine> {
        self.engine_with(EngineConfig::new(data_dir), mode).await
    }

    pub async fn engine_with(&self, cfg: EngineConfig, mode: OpenMode) -> Result<Engine> {
        let data_dir = cfg.data_dir.clone();
        // An index built with another embedding model is re-embedded once, before
        // anything else; say so on stderr (stdout may be JSON).
        let progress = |p: &cairn_engine::UpgradeProgress| {
            if p.done == 0 {
                eprintln!(
                    "updating the index for the embedding model {} (it was built with {}): {} passages to embed again",
                    p.to_model, p.from_model, p.total
                );
            } else {
                eprintln!("  {} of {} passages", p.done, p.total);
            }
        };
        Engine::open_with_models_and_progress(cfg, &self.models, mode, &progress)
            .await
            .with_context(|| format!("cannot open the index in {}", data_dir.display()))
    }

    /// The answer model: `--model FILE.gguf` if given (it must exist), else the
    /// models folder's default. It loads on first use.
    pub fn answer_model(&self, model: Option<PathBuf>) -> Result<Arc<AnswerModel>> {
        let chosen = match model {
            Some(p) => {
                let p = std::path::absolute(&p)
                    .with_context(|| format!("cannot resolve {}", p.display()))?;
                if !p.is_file() {
                    anyhow::bail!("model file not found: {}", p.display());
                }
                Some(p.to_string_lossy().into_owned())
            }
            None => None,
        };
        Ok(Arc::new(AnswerModel::new(self.models.clone(), chosen)))
    }
}

/// What `cairn --version` prints: the version, the index format it reads and
/// writes, and the models it would use (from `CAIRN_MODELS_DIR` or the default
/// folder, and an installed package's folder).
fn long_version() -> String {
    let models = cairn_engine::ModelsDir::default();
    let answer = models
        .default_answer_model()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none installed".to_string());
    format!(
        "{}\nindex format: {}\nanswer model: {answer}\nmodels folders: {}",
        env!("CARGO_PKG_VERSION"),
        cairn_engine::INDEX_FORMAT,
        models.describe()
    )
}

fn main() -> std::process::ExitCode {
    // Before any thread exists: ONNX Runtime's own telemetry must be off from the
    // moment it loads.
    cairn_engine::models::prepare_process();
    let mut command = Cli::command();
    // Looking for the models costs file-system work: only for `--version`.
    if std::env::args_os().skip(1).any(|a| a == "--version") {
        // Built once, for clap, which keeps it for the rest of the process.
        command = command.long_version(&*Box::leak(long_version().into_boxed_str()));
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
    let app = App {
        data_dir: cli.data_dir.unwrap_or_else(cairn_engine::default_data_dir),
        models: cli.models_dir.map(ModelsDir::new).unwrap_or_default(),
    };
    match cli.command {
        Command::Ingest(args) => cmd::ingest::run(&app, args).await,
        Command::Search(args) => cmd::search::run(&app, args).await,
        Command::Ask(args) => cmd::ask::run(&app, args).await,
        Command::Chat(args) => cmd::ask::chat(&app, args).await,
        Command::Models(args) => cmd::models::run(&app, args),
        Command::Docs(args) => cmd::docs::run(&app, args).await,
        Command::Remove(args) => cmd::index::remove(&app, args).await,
        Command::Eval(args) => cmd::eval::run(&app, args).await,
        Command::Repair(args) => cmd::index::repair(&app, args).await,
        Command::Verify(args) => cmd::index::verify(&app, args).await,
        Command::Bench(cmd) => bench::run(&app, cmd).await,
    }
}

/// Prints `value` as one line of JSON (the compact form scripts read).
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Prints `value` as indented JSON.
pub(crate) fn print_json_pretty<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
