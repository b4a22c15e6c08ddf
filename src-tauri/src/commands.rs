//! The commands the window calls. Each returns a sentence for the user on error.
//!
//! File access: the window can only name paths to index (what the user dropped
//! or chose); reading a page back or opening a file is only allowed for
//! documents already in the index.

use crate::jobs::Jobs;
use crate::state::{ensure_model, lock, AppState, SETTINGS_FILE};
use crate::watch::Watcher;
use crate::{models, persist};
use cairn_engine::ask::{self, AskOptions};
use cairn_engine::Engine;
use cairn_ipc::{
    AppStatus, AskEvent, ChatTurn, Citation, DocumentRow, ModelRow, Settings, SourcePage,
    TurnStatus,
};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

type Reply<T> = Result<T, String>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[tauri::command]
pub async fn get_status(st: State<'_, AppState>, jobs: State<'_, Jobs>) -> Reply<AppStatus> {
    // The UI asks for the status as soon as it is mounted: the window is usable.
    static FIRST: std::sync::Once = std::sync::Once::new();
    FIRST.call_once(|| {
        tracing::info!("window ready: {} ms after start", crate::since_start_ms());
    });
    let mut status = AppStatus {
        data_dir: st.data_dir.display().to_string(),
        models_dir: st.models_dir.display().to_string(),
        model: lock(&st.model_state).clone(),
        watched: lock(&st.watched)
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        busy: jobs.busy(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..AppStatus::default()
    };
    match st.engine().await {
        Ok(engine) => {
            let docs = engine.documents();
            status.documents = docs.len();
            status.chunks = docs.iter().map(|d| d.chunks as usize).sum();
        }
        Err(e) => status.engine_error = Some(e),
    }
    Ok(status)
}

#[tauri::command]
pub async fn list_documents(st: State<'_, AppState>) -> Reply<Vec<DocumentRow>> {
    let engine = st.engine().await?;
    Ok(engine
        .documents()
        .into_iter()
        .map(|d| DocumentRow {
            name: Path::new(&d.path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.path.clone()),
            path: d.path,
            format: d.format,
            size: d.size,
            pages: d.pages,
            chunks: d.chunks,
            status: match d.status {
                cairn_engine::DocStatus::Indexed => "indexed".into(),
                cairn_engine::DocStatus::Pending => "pending".into(),
            },
            indexed_at_ms: d.indexed_at_ms,
        })
        .collect())
}

/// Queues files and folders for indexing: what a drop on the window does.
#[tauri::command]
pub fn add_paths(app: AppHandle, jobs: State<'_, Jobs>, paths: Vec<String>) -> Reply<u64> {
    let roots: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    if roots.is_empty() {
        return Err("nothing to add".into());
    }
    if let Some(relative) = roots.iter().find(|p| !p.is_absolute()) {
        return Err(format!("{} is not an absolute path", relative.display()));
    }
    jobs.ingest(&app, roots, false)
}

/// Opens the system file chooser and queues what the user picks. With `watch`,
/// a chosen folder is also kept in sync from then on.
#[tauri::command]
pub async fn pick_and_add(
    app: AppHandle,
    st: State<'_, AppState>,
    jobs: State<'_, Jobs>,
    watcher: State<'_, Watcher>,
    folder: bool,
    watch: bool,
) -> Reply<Vec<String>> {
    let dialog = app.dialog().file().set_title(if watch {
        "Choose a folder to keep in sync"
    } else if folder {
        "Choose a folder to index"
    } else {
        "Choose files to index"
    });
    // The blocking pickers must not run on the main thread; async commands don't.
    let picked: Vec<PathBuf> = if folder || watch {
        dialog
            .blocking_pick_folder()
            .and_then(|p| p.into_path().ok())
            .into_iter()
            .collect()
    } else {
        dialog
            .blocking_pick_files()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.into_path().ok())
            .collect()
    };
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    if watch {
        for f in &picked {
            watcher.add(f)?;
            let mut w = lock(&st.watched);
            if !w.contains(f) {
                w.push(f.clone());
            }
        }
        st.save_watched()?;
    }
    let shown = picked.iter().map(|p| p.display().to_string()).collect();
    jobs.ingest(&app, picked, false)?;
    Ok(shown)
}

#[tauri::command]
pub fn unwatch_folder(
    st: State<'_, AppState>,
    watcher: State<'_, Watcher>,
    path: String,
) -> Reply<Vec<String>> {
    let p = PathBuf::from(&path);
    watcher.remove(&p);
    lock(&st.watched).retain(|w| w != &p);
    st.save_watched()?;
    Ok(lock(&st.watched)
        .iter()
        .map(|p| p.display().to_string())
        .collect())
}

/// Whether `path` is a document in the index: the only files the window may
/// read back or open.
fn indexed(engine: &Engine, path: &str) -> Reply<()> {
    if engine.documents().iter().any(|d| d.path == path) {
        Ok(())
    } else {
        Err(format!("{path} is not in your library"))
    }
}

#[tauri::command]
pub async fn remove_document(
    st: State<'_, AppState>,
    jobs: State<'_, Jobs>,
    path: String,
) -> Reply<usize> {
    let engine = st.engine().await?;
    indexed(&engine, &path)?;
    jobs.remove(vec![PathBuf::from(path)]).await
}

#[tauri::command]
pub async fn reindex(
    app: AppHandle,
    st: State<'_, AppState>,
    jobs: State<'_, Jobs>,
    path: String,
) -> Reply<u64> {
    let engine = st.engine().await?;
    indexed(&engine, &path)?;
    jobs.ingest(&app, vec![PathBuf::from(path)], true)
}

#[tauri::command]
pub fn cancel_ingest(jobs: State<'_, Jobs>) -> Reply<()> {
    jobs.cancel();
    Ok(())
}

/// Answers a question from the documents, streaming events over `on_event`, and
/// returns the finished turn (also kept in the chat history).
#[tauri::command]
pub async fn ask(
    app: AppHandle,
    st: State<'_, AppState>,
    question: String,
    on_event: Channel<AskEvent>,
) -> Reply<ChatTurn> {
    let question = question.trim().to_string();
    if question.is_empty() {
        return Err("the question is empty".into());
    }
    let engine = st.engine().await?;
    let settings = st.settings();
    let stop = st.stop_answer.clone();
    stop.store(false, Ordering::Relaxed);
    let mut opts = AskOptions {
        k: settings.passages,
        answer_tokens: settings.answer_tokens,
        ..AskOptions::default()
    };
    opts.gen.max_new_tokens = settings.answer_tokens;
    opts.gen.temperature = settings.temperature;
    opts.gen.seed = now_ms() as u64;
    opts.gen.cancel = Some(stop.clone());

    let retrieved = engine
        .retrieve_for_answer(&question, &opts)
        .await
        .map_err(|e| format!("search failed: {e}"))?;
    let _ = on_event.send(AskEvent::Retrieved {
        passages: retrieved.hits.len(),
        answerable: retrieved.answerable,
    });

    let asked_at_ms = now_ms();
    let id = st.id();
    if !retrieved.answerable {
        // Nothing relevant was found: the fixed reply, without loading a model.
        let _ = on_event.send(AskEvent::Token {
            text: ask::NOT_IN_DOCUMENTS.to_string(),
        });
        let turn = ChatTurn {
            id,
            question,
            answer: ask::NOT_IN_DOCUMENTS.to_string(),
            grounded: false,
            asked_at_ms,
            ..ChatTurn::default()
        };
        return Ok(finish_turn(&st, &on_event, turn));
    }
    let worker_app = app.clone();
    let q = question.clone();
    let events = on_event.clone();
    let answered = tauri::async_runtime::spawn_blocking(move || {
        use tauri::Manager;
        let st = worker_app.state::<AppState>();
        ensure_model(&worker_app, &st, &mut |name| {
            let _ = events.send(AskEvent::LoadingModel {
                name: name.to_string(),
            });
        })?;
        let mut slot = lock(&st.model);
        let loaded = slot
            .as_mut()
            .ok_or_else(|| "the answer model is not loaded".to_string())?;
        ask::answer(&mut loaded.model, &q, &retrieved, &opts, &mut |piece| {
            let _ = events.send(AskEvent::Token {
                text: piece.to_string(),
            });
            ControlFlow::Continue(())
        })
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the answer task failed: {e}"))?;

    let stopped = stop.load(Ordering::Relaxed);
    let turn = match answered {
        Ok(a) => ChatTurn {
            id,
            question,
            answer: a.answer,
            citations: a
                .citations
                .into_iter()
                .map(|c| Citation {
                    n: c.n,
                    path: c.path,
                    page: c.page,
                    start: c.start,
                    end: c.end,
                    text: c.text,
                })
                .collect(),
            status: if stopped {
                TurnStatus::Stopped
            } else {
                TurnStatus::Done
            },
            model: a.model,
            grounded: a.grounded,
            ms_to_first_token: a.ms_to_first_token.round() as u64,
            tokens_per_s: a.tokens_per_s,
            asked_at_ms,
        },
        Err(e) => {
            let _ = on_event.send(AskEvent::Error { message: e.clone() });
            ChatTurn {
                id,
                question,
                answer: e,
                status: TurnStatus::Failed,
                asked_at_ms,
                ..ChatTurn::default()
            }
        }
    };
    Ok(finish_turn(&st, &on_event, turn))
}

/// Keeps a finished turn in the chat history and tells the window.
fn finish_turn(st: &AppState, on_event: &Channel<AskEvent>, turn: ChatTurn) -> ChatTurn {
    lock(&st.chat).push(turn.clone());
    st.save_chat();
    let _ = on_event.send(AskEvent::Done { turn: turn.clone() });
    turn
}

#[tauri::command]
pub fn stop_answer(st: State<'_, AppState>) -> Reply<()> {
    st.stop_answer.store(true, Ordering::Relaxed);
    Ok(())
}

#[tauri::command]
pub fn chat_history(st: State<'_, AppState>) -> Reply<Vec<ChatTurn>> {
    Ok(lock(&st.chat).clone())
}

#[tauri::command]
pub fn new_chat(st: State<'_, AppState>) -> Reply<()> {
    lock(&st.chat).clear();
    st.save_chat();
    Ok(())
}

/// The text of one page of an indexed document, read from the file again so
/// the source pane shows the passage in its context.
#[tauri::command]
pub async fn source_page(
    st: State<'_, AppState>,
    path: String,
    page: Option<u32>,
) -> Reply<SourcePage> {
    let engine = st.engine().await?;
    indexed(&engine, &path)?;
    let load = engine.config().load.clone();
    let file = PathBuf::from(&path);
    let doc = tauri::async_runtime::spawn_blocking(move || cairn_load::load(&file, &load))
        .await
        .map_err(|e| format!("reading {path} failed: {e}"))?
        .map_err(|e| format!("cannot read {path} any more: {e}"))?;
    let pages = doc.pages.len() as u32;
    let found = match page {
        Some(n) => doc.pages.into_iter().find(|p| p.number == Some(n)),
        None => doc.pages.into_iter().next(),
    };
    let found = found.ok_or_else(|| {
        format!(
            "{path} has no page {} any more; re-index it",
            page.unwrap_or(1)
        )
    })?;
    Ok(SourcePage {
        path,
        page: found.number,
        pages,
        text: found.text,
    })
}

/// Opens an indexed document with the system's default application.
#[tauri::command]
pub async fn open_document(st: State<'_, AppState>, path: String) -> Reply<()> {
    let engine = st.engine().await?;
    indexed(&engine, &path)?;
    open_with_system(Path::new(&path)).map_err(|e| format!("cannot open {path}: {e}"))
}

fn open_with_system(path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "macos")]
    let mut cmd = std::process::Command::new("open");
    #[cfg(target_os = "windows")]
    let mut cmd = {
        let mut c = std::process::Command::new("explorer");
        c.arg("/open,");
        c
    };
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let mut cmd = std::process::Command::new("xdg-open");
    let mut child = cmd
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Reap the launcher in the background so it does not linger as a zombie.
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[tauri::command]
pub fn list_models(st: State<'_, AppState>) -> Reply<Vec<ModelRow>> {
    let chosen = st.chosen_model();
    Ok(models::list(&st.models_dir, chosen.as_deref()))
}

#[tauri::command]
pub fn get_settings(st: State<'_, AppState>) -> Reply<Settings> {
    Ok(st.settings())
}

#[tauri::command]
pub fn save_settings(
    app: AppHandle,
    st: State<'_, AppState>,
    settings: Settings,
) -> Reply<Settings> {
    let settings = settings.clamped();
    let model_changed = lock(&st.settings).model != settings.model;
    persist::save(&st.data_dir, SETTINGS_FILE, &settings).map_err(|e| format!("{e:#}"))?;
    *lock(&st.settings) = settings.clone();
    if model_changed {
        crate::state::load_model_in_background(app);
    }
    Ok(settings)
}
