//! Cairn's desktop app: a thin Tauri v2 shell around the engine.
//!
//! - [`commands`]: what the window can call (status, library, ask, settings…).
//! - [`jobs`]: the ingest queue; every index write goes through its one worker.
//! - [`watch`]: watched folders kept in sync with file-system notifications.
//! - [`state`]: the open engine, the answer model, settings and chat history.
//! - [`persist`]: the app's small JSON files.
//!
//! Everything the app does with documents and models goes through
//! `cairn_engine` (and only the window's messages through `cairn_ipc`).
//!
//! The UI lives in `ui/` (Leptos, compiled to WebAssembly by trunk) and is
//! embedded in the binary from `ui/dist`. The messages between the two are the
//! types of the `cairn-ipc` crate.

pub mod commands;
pub mod jobs;
pub mod persist;
pub mod state;
pub mod watch;

use cairn_engine::ModelsDir;
use state::AppState;
use std::sync::OnceLock;
use std::time::Instant;
use tauri::Manager;

/// When the process started; start-up times in the log are measured from here
/// (scripts/bench-desktop.sh reads them).
pub(crate) static STARTED: OnceLock<Instant> = OnceLock::new();

pub(crate) fn since_start_ms() -> u128 {
    STARTED.get().map_or(0, |t| t.elapsed().as_millis())
}

/// Whether [`draw_the_page_on_the_cpu`] set `WEBKIT_DISABLE_DMABUF_RENDERER`
/// (then programs the app starts, such as a document viewer, do not inherit it).
pub(crate) static DMABUF_OFF_BY_US: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// WebKitGTK draws the page on the GPU and hands it over in DMA-BUF buffers: on
/// Mesa that is an OpenGL context in the page's process (with no GPU, an
/// llvmpipe one), 83 MiB more there than drawing it on the CPU, which a page of
/// text and a few controls does just as well (docs/BENCHMARKS.md); it also
/// avoids the blank windows some drivers give with DMA-BUF. Sets
/// `WEBKIT_DISABLE_DMABUF_RENDERER=1` unless the environment has a value (the
/// person's wins). Call before any thread exists (`main`).
pub fn draw_the_page_on_the_cpu() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
        DMABUF_OFF_BY_US.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Builds and runs the app until its window closes.
pub fn run() {
    STARTED.get_or_init(Instant::now);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| "info,tantivy=warn,lance=warn,lancedb=warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let data_dir = cairn_engine::default_data_dir();
    let models = ModelsDir::default();

    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            let handle = app.handle().clone();
            let (state, engine_tx) = AppState::new(&handle, data_dir, models);
            let answer = state.answer.clone();
            app.manage(state);
            // The jobs worker opens the index (repairing an interrupted write, so it
            // is the index's only writer from the start) while the window shows.
            app.manage(jobs::Jobs::start(&handle, engine_tx));
            app.manage(watch::Watcher::start(&handle));
            state::unload_idle_embedder_periodically(handle.clone());
            // The answer model (about 500 MB resident) loads when a question is
            // being typed (`warm_up_model`), not at start, so an idle window stays
            // small. CAIRN_PRELOAD_MODEL=1 loads it at start instead.
            if std::env::var_os("CAIRN_PRELOAD_MODEL").is_some_and(|v| v == "1") {
                state::load_model_in_background(answer);
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_status,
            commands::list_documents,
            commands::add_paths,
            commands::pick_and_add,
            commands::remove_document,
            commands::reindex,
            commands::cancel_ingest,
            commands::unwatch_folder,
            commands::ask,
            commands::stop_answer,
            commands::chat_history,
            commands::new_chat,
            commands::source_page,
            commands::open_document,
            commands::list_models,
            commands::get_settings,
            commands::save_settings,
            commands::warm_up_model,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("cairn-desktop: {e}");
        std::process::exit(1);
    }
}
