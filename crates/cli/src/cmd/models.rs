//! `cairn models`: the GGUF files in the models folder; `cairn models add FILE`.

use crate::App;
use anyhow::Result;
use cairn_engine::ModelInfo;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Copy a GGUF answer model into the models folder, after checking that its
    /// family is supported, that it has a chat template and that it loads.
    Add { file: PathBuf },
}

pub fn run(app: &App, args: Args) -> Result<()> {
    if let Some(Action::Add { file }) = args.action {
        let entry = app.models.add(&file)?;
        println!("added {} to {}", entry.file, app.models.path().display());
        return Ok(());
    }
    let entries = app.models.answer_models();
    if args.json {
        let infos: Vec<&ModelInfo> = entries.iter().filter_map(|e| e.info.as_ref()).collect();
        return crate::print_json_pretty(&infos);
    }
    let folders = app.models.describe();
    if entries.is_empty() {
        println!("no GGUF models in {folders}");
    } else {
        println!("models in {folders}:");
    }
    let default = app.models.default_answer_model();
    for e in entries {
        let mark = if default.as_deref() == Some(e.path.as_path()) {
            " (default)"
        } else {
            ""
        };
        match &e.info {
            Some(m) => println!(
                "{:<44} {:<8} {:<8} ctx {:>6} {:>6.0} MiB{mark}{}",
                e.file,
                m.architecture,
                m.quantization,
                m.context_length,
                m.file_size as f64 / 1_048_576.0,
                e.problem
                    .as_ref()
                    .map(|p| format!(" (unusable: {p})"))
                    .unwrap_or_default()
            ),
            None => println!(
                "{:<44} unreadable: {}",
                e.file,
                e.problem.as_deref().unwrap_or("")
            ),
        }
    }
    Ok(())
}
