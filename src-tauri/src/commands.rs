//! The commands the window calls. Each returns a sentence for the user on error.
//!
//! File access: the window can only name paths to index (what the user dropped
//! or chose); reading a page back, opening a file, re-indexing and removing go
//! through the engine's library methods, which refuse anything that is not a
//! document in the index.

use crate::jobs::Jobs;
use crate::persist;
use crate::state::{lock, model_state, AppState, EngineSlot, SETTINGS_FILE};
use crate::watch::Watcher;
use cairn_engine::ask::{self, AskOptions, Refusal};
use cairn_engine::now_ms;
use cairn_ipc::{
    AnswerDefaults, AnswerSentence, AppStatus, AskEvent, ChatTurn, Citation, DocumentRow, ModelRow,
    Settings, SourcePage, TurnStatus,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

type Reply<T> = Result<T, String>;

#[tauri::command]
pub async fn get_status(st: State<'_, AppState>, jobs: State<'_, Jobs>) -> Reply<AppStatus> {
    // The UI asks for the status as soon as it is mounted: the window is usable.
    static FIRST: std::sync::Once = std::sync::Once::new();
    FIRST.call_once(|| {
        tracing::info!("window ready: {} ms after start", crate::since_start_ms());
    });
    let defaults = AskOptions::default();
    let mut status = AppStatus {
        data_dir: st.data_dir.display().to_string(),
        models_dir: st.models.describe(),
        model: model_state(st.answer.status()),
        watched: lock(&st.watched)
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        busy: jobs.busy(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        index_format: cairn_engine::INDEX_FORMAT,
        defaults: AnswerDefaults {
            passages: defaults.k,
            answer_tokens: defaults.answer_tokens,
        },
        ..AppStatus::default()
    };
    match st.engine().await {
        Ok(engine) => {
            let docs = engine.documents();
            status.embedding_model = Some(engine.embedder().model_id().to_string());
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
    jobs.ingest(&app, roots)
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
    jobs.ingest(&app, picked)?;
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

#[tauri::command]
pub async fn remove_document(jobs: State<'_, Jobs>, path: String) -> Reply<()> {
    jobs.remove(path).await
}

#[tauri::command]
pub fn reindex(app: AppHandle, jobs: State<'_, Jobs>, path: String) -> Reply<u64> {
    jobs.reindex(&app, vec![path])
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
    let defaults = AskOptions::default();
    let opts = AskOptions {
        k: settings.passages.unwrap_or(defaults.k),
        answer_tokens: settings.answer_tokens.unwrap_or(defaults.answer_tokens),
        temperature: settings.temperature,
        seed: now_ms() as u64,
        cancel: Some(stop.clone()),
        ..defaults
    };
    let events = on_event.clone();
    let forward = Box::new(move |e: ask::AskEvent| {
        let e = match e {
            ask::AskEvent::Searched { query } => AskEvent::Searched { query },
            ask::AskEvent::Evidence {
                evidence,
                answerable,
            } => AskEvent::Evidence {
                evidence: evidence.iter().map(evidence_view).collect(),
                answerable,
            },
            ask::AskEvent::LoadingModel { name } => AskEvent::LoadingModel { name },
            ask::AskEvent::Token { text } => AskEvent::Token { text },
        };
        let _ = events.send(e);
    });
    // The conversation so far (since "New chat"): follow-ups are understood
    // in its context. Failed turns are not part of it.
    let history: Vec<ask::Turn> = lock(&st.chat)
        .iter()
        .filter(|t| t.status != TurnStatus::Failed)
        .map(|t| ask::Turn {
            question: t.question.clone(),
            answer: t.answer.clone(),
            searched_for: t.searched_for.clone().unwrap_or_else(|| t.question.clone()),
        })
        .collect();
    let asked_at_ms = now_ms();
    let id = st.id();
    let answered = engine
        .ask(&question, &history, &opts, &st.answer, forward)
        .await;
    let stopped = stop.load(Ordering::Relaxed);
    let turn = match answered {
        Ok(a) => ChatTurn {
            id,
            searched_for: (a.searched_for != question).then(|| a.searched_for.clone()),
            question,
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
            evidence: a.evidence.iter().map(evidence_view).collect(),
            withdrawn: a.refusal == Some(Refusal::Unsupported),
            sentences: if a.refusal == Some(Refusal::Unsupported) {
                Vec::new()
            } else {
                a.sentences
            }
            .into_iter()
            .map(|s| AnswerSentence {
                text: s.text,
                supported: s.supported,
            })
            .collect(),
            answer: a.answer,
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
            let message = e.to_string();
            let _ = on_event.send(AskEvent::Error {
                message: message.clone(),
            });
            ChatTurn {
                id,
                question,
                answer: message,
                status: TurnStatus::Failed,
                asked_at_ms,
                ..ChatTurn::default()
            }
        }
    };
    Ok(finish_turn(&st, &on_event, turn))
}

/// An evidence span as the window shows it (a citation of its sentences).
fn evidence_view(e: &cairn_engine::evidence::Evidence) -> Citation {
    Citation {
        n: e.n,
        path: e.path.clone(),
        page: e.page,
        start: e.start,
        end: e.end,
        text: e.text.clone(),
    }
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
    let p = engine
        .source_page(&path, page)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SourcePage {
        path: p.path,
        page: p.page,
        pages: p.pages,
        text: p.text,
    })
}

/// Opens an indexed document with the system's default application.
#[tauri::command]
pub async fn open_document(st: State<'_, AppState>, path: String) -> Reply<()> {
    let engine = st.engine().await?;
    let file = engine.document_file(&path).map_err(|e| e.to_string())?;
    open_with_system(&file).map_err(|e| format!("cannot open {path}: {e}"))
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
    if crate::DMABUF_OFF_BY_US.load(Ordering::Relaxed) {
        cmd.env_remove("WEBKIT_DISABLE_DMABUF_RENDERER");
    }
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
    let chosen = st.answer.path();
    Ok(st
        .models
        .answer_models()
        .into_iter()
        .map(|m| {
            let info = m.info.as_ref();
            ModelRow {
                name: info.map_or_else(|| m.file.clone(), |i| i.name.clone()),
                architecture: info.map(|i| i.architecture.clone()).unwrap_or_default(),
                quantization: info.map(|i| i.quantization.clone()).unwrap_or_default(),
                size_bytes: info
                    .map(|i| i.file_size)
                    .unwrap_or_else(|| std::fs::metadata(&m.path).map_or(0, |md| md.len())),
                parameters: info.map_or(0, |i| i.parameters),
                context_length: info.map_or(0, |i| i.context_length),
                supported: m.usable(),
                selected: chosen.as_deref() == Some(m.path.as_path()),
                problem: m.problem,
                file: m.file,
            }
        })
        .collect())
}

#[tauri::command]
pub fn get_settings(st: State<'_, AppState>) -> Reply<Settings> {
    Ok(st.settings())
}

/// Starts loading the answer model in the background if it is not loaded
/// yet, and the embedding model if it was unloaded while idle: the window
/// calls it when the person starts typing a question, so both are ready by the
/// time they press Enter, and an idle window does not hold them.
#[tauri::command]
pub fn warm_up_model(st: State<'_, AppState>) {
    if !st.answer.is_loaded_or_loading() {
        crate::state::load_model_in_background(st.answer.clone());
    }
    // The embedding model too, if it was unloaded while the window sat idle.
    if let EngineSlot::Ready(engine) = st.engine_now() {
        tauri::async_runtime::spawn(async move {
            if let Err(e) = engine.warm_up_embedder().await {
                tracing::warn!(error = %e, "could not load the embedding model");
            }
        });
    }
}

#[tauri::command]
pub fn save_settings(st: State<'_, AppState>, settings: Settings) -> Reply<Settings> {
    let settings = Settings {
        version: Settings::VERSION,
        ..settings
    }
    .clamped();
    let model_changed = lock(&st.settings).model != settings.model;
    persist::save(&st.data_dir, SETTINGS_FILE, &settings).map_err(|e| format!("{e:#}"))?;
    *lock(&st.settings) = settings.clone();
    if model_changed {
        st.answer.choose(settings.model.clone());
        crate::state::load_model_in_background(st.answer.clone());
    }
    Ok(settings)
}
