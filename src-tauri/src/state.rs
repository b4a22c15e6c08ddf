//! The app's state: the open engine, the answer model, settings, chat history and
//! watched folders, shared by the commands and the background tasks.

use crate::persist;
use cairn_engine::{AnswerModel, Engine, ModelStatus, ModelsDir};
use cairn_ipc::{events, ChatTurn, ModelState, Settings};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::watch;

pub const SETTINGS_FILE: &str = "settings.json";
pub const WATCHED_FILE: &str = "watched.json";
pub const CHAT_FILE: &str = "chat.json";

/// The engine is opened in the background at start-up (by the jobs worker, the
/// only writer) so the window appears at once; commands wait for it.
#[derive(Clone)]
pub enum EngineSlot {
    Opening,
    Ready(Arc<Engine>),
    Failed(String),
}

pub struct AppState {
    pub data_dir: PathBuf,
    pub models: ModelsDir,
    engine: watch::Receiver<EngineSlot>,
    /// The answer model: loaded in the background at start, then on demand.
    pub answer: Arc<AnswerModel>,
    pub settings: Mutex<Settings>,
    pub chat: Mutex<Vec<ChatTurn>>,
    pub watched: Mutex<Vec<PathBuf>>,
    /// Set by `stop_answer`; cleared when a new answer starts.
    pub stop_answer: Arc<AtomicBool>,
    pub next_id: AtomicU64,
}

/// Locks a mutex, carrying on after a panic elsewhere: every value behind these
/// locks is replaced whole, so it is never left half-updated.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The window's view of the answer model's status.
pub fn model_state(status: ModelStatus) -> ModelState {
    match status {
        ModelStatus::Missing => ModelState::Missing,
        ModelStatus::Idle { name } => ModelState::Idle { name },
        ModelStatus::Loading { name } => ModelState::Loading { name },
        ModelStatus::Ready {
            name,
            architecture,
            load_ms,
        } => ModelState::Ready {
            name,
            architecture,
            load_ms,
        },
        ModelStatus::Failed { name, error } => ModelState::Failed { name, error },
    }
}

impl AppState {
    pub fn new(
        app: &AppHandle,
        data_dir: PathBuf,
        models: ModelsDir,
    ) -> (Self, watch::Sender<EngineSlot>) {
        let (tx, rx) = watch::channel(EngineSlot::Opening);
        let settings: Settings = persist::load::<Settings>(&data_dir, SETTINGS_FILE)
            .upgraded()
            .clamped();
        let watched: Vec<PathBuf> = persist::load(&data_dir, WATCHED_FILE);
        let chat: Vec<ChatTurn> = persist::load(&data_dir, CHAT_FILE);
        let next_id = chat.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        let handle = app.clone();
        let answer =
            AnswerModel::new(models.clone(), settings.model.clone()).with_observer(move |status| {
                if let ModelStatus::Ready { name, load_ms, .. } = status {
                    tracing::info!(
                        "model ready: {name} ({load_ms} ms to load, {} ms after start)",
                        crate::since_start_ms()
                    );
                }
                let _ = handle.emit(events::MODEL, model_state(status.clone()));
            });
        let state = AppState {
            data_dir,
            models,
            engine: rx,
            answer: Arc::new(answer),
            settings: Mutex::new(settings),
            chat: Mutex::new(chat),
            watched: Mutex::new(watched),
            stop_answer: Arc::new(AtomicBool::new(false)),
            next_id: AtomicU64::new(next_id),
        };
        (state, tx)
    }

    /// The open engine, waiting while it is still opening.
    pub async fn engine(&self) -> Result<Arc<Engine>, String> {
        let mut rx = self.engine.clone();
        let slot = rx
            .wait_for(|s| !matches!(s, EngineSlot::Opening))
            .await
            .map_err(|_| "the index is closed".to_string())?
            .clone();
        match slot {
            EngineSlot::Ready(e) => Ok(e),
            EngineSlot::Failed(e) => Err(e),
            EngineSlot::Opening => Err("the index is still opening".into()),
        }
    }

    /// The engine if it is open now, without waiting.
    pub fn engine_now(&self) -> EngineSlot {
        self.engine.borrow().clone()
    }

    pub fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn save_chat(&self) {
        let chat = lock(&self.chat).clone();
        if let Err(e) = persist::save(&self.data_dir, CHAT_FILE, &chat) {
            tracing::warn!("cannot save the chat: {e:#}");
        }
    }

    pub fn save_watched(&self) -> Result<(), String> {
        let watched = lock(&self.watched).clone();
        persist::save(&self.data_dir, WATCHED_FILE, &watched).map_err(|e| format!("{e:#}"))
    }
}

/// Loads the chosen answer model on a background thread (it takes seconds) so
/// the first question does not wait for it.
pub fn load_model_in_background(answer: Arc<AnswerModel>) {
    std::thread::spawn(move || {
        if let Err(e) = answer.ensure(&mut |_| {}) {
            tracing::warn!("{e}");
        }
    });
}

/// How often the embedding model is checked for idleness: it is dropped
/// between [`cairn_engine::EMBEDDER_KEEP_ALIVE`] and that plus this after its
/// last use.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// Drops the embedding model whenever it sits unused ([`Engine::unload_idle_embedder`]),
/// for as long as the app runs.
pub fn unload_idle_embedder_periodically(app: tauri::AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(IDLE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let EngineSlot::Ready(engine) = app.state::<AppState>().engine_now() else {
                continue;
            };
            match engine.unload_idle_embedder().await {
                Ok(true) => tracing::info!("unloaded the idle embedding model"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not unload the embedding model"),
            }
        }
    });
}
