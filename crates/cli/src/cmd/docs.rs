//! `cairn docs`: what is indexed.

use crate::App;
use anyhow::Result;
use cairn_engine::OpenMode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, args: Args) -> Result<()> {
    let engine = app.engine(OpenMode::Read).await?;
    let docs = engine.documents();
    if args.json {
        return crate::print_json_pretty(&docs);
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
