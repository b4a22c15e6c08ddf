//! The app's state: the open engine, the answer model, settings, chat history and
//! watched folders, shared by the commands and the background tasks.

use crate::{models, persist};
use cairn_engine::{Engine, EngineConfig, OpenMode};
use cairn_ipc::{events, ChatTurn, ModelState, Settings};
use cairn_llm::LocalModel;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tauri::{AppHandle, Emitter};
use tokio::sync::watch;

pub const SETTINGS_FILE: &str = "settings.json";
pub const WATCHED_FILE: &str = "watched.json";
pub const CHAT_FILE: &str = "chat.json";

/// The engine is opened in the background at start-up so the window appears at
/// once; commands wait for it.
#[derive(Clone)]
pub enum EngineSlot {
    Opening,
    Ready(Arc<Engine>),
    Failed(String),
}

/// The loaded answer model and the file it came from.
pub struct LoadedModel {
    pub path: PathBuf,
    pub model: LocalModel,
}

pub struct AppState {
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    engine: watch::Receiver<EngineSlot>,
    /// Only the answer thread and the loader lock this (never an async task).
    pub model: Arc<Mutex<Option<LoadedModel>>>,
    pub model_state: Mutex<ModelState>,
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

impl AppState {
    pub fn new(data_dir: PathBuf, models_dir: PathBuf) -> (Self, watch::Sender<EngineSlot>) {
        let (tx, rx) = watch::channel(EngineSlot::Opening);
        let settings: Settings = persist::load::<Settings>(&data_dir, SETTINGS_FILE).clamped();
        let watched: Vec<PathBuf> = persist::load(&data_dir, WATCHED_FILE);
        let chat: Vec<ChatTurn> = persist::load(&data_dir, CHAT_FILE);
        let next_id = chat.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        let state = AppState {
            data_dir,
            models_dir,
            engine: rx,
            model: Arc::new(Mutex::new(None)),
            model_state: Mutex::new(ModelState::Missing),
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

    pub fn set_model_state(&self, app: &AppHandle, state: ModelState) {
        *lock(&self.model_state) = state.clone();
        let _ = app.emit(events::MODEL, state);
    }

    /// The model file the settings point at (or the default).
    pub fn chosen_model(&self) -> Option<PathBuf> {
        let chosen = lock(&self.settings).model.clone();
        models::choose(&self.models_dir, chosen.as_deref())
    }
}

/// Opens the index with the embedder from the models folder.
pub async fn open_engine(data_dir: &Path, models_dir: &Path) -> Result<Engine, String> {
    let embedder = cairn_embed::FastEmbedder::open(models_dir).map_err(|e| {
        format!(
            "cannot load the embedding model from {}: {e}. Run scripts/setup.sh (or models/fetch.sh) to install it.",
            models_dir.display()
        )
    })?;
    Engine::open(
        EngineConfig::new(data_dir),
        Arc::new(embedder),
        OpenMode::Write,
    )
    .await
    .map_err(|e| format!("cannot open the index in {}: {e}", data_dir.display()))
}

/// Loads the chosen answer model on a background thread (it takes seconds) so
/// the first question does not wait for it.
pub fn load_model_in_background(app: AppHandle) {
    std::thread::spawn(move || {
        use tauri::Manager;
        let st = app.state::<AppState>();
        if let Err(e) = ensure_model(&app, &st, &mut |_| {}) {
            tracing::warn!("{e}");
        }
    });
}

/// Makes sure the chosen model is loaded, loading or switching it if needed.
/// Blocking: call from a blocking thread. `on_loading` hears the model's name
/// when a load starts.
pub fn ensure_model(
    app: &AppHandle,
    st: &AppState,
    on_loading: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let Some(path) = st.chosen_model() else {
        st.set_model_state(app, ModelState::Missing);
        return Err(format!(
            "No answer model is installed. Run models/fetch.sh, or copy a GGUF model file into {}.",
            st.models_dir.display()
        ));
    };
    let mut slot = lock(&st.model);
    if slot.as_ref().is_some_and(|m| m.path == path) {
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    on_loading(&name);
    st.set_model_state(app, ModelState::Loading { name: name.clone() });
    // Free the old model first: two in memory at once is what a laptop notices.
    *slot = None;
    let started = std::time::Instant::now();
    match models::load(&st.models_dir, &path) {
        Ok(model) => {
            let info = model.info();
            tracing::info!(
                "model ready: {} ({} ms to load, {} ms after start)",
                info.name,
                started.elapsed().as_millis(),
                crate::since_start_ms()
            );
            st.set_model_state(
                app,
                ModelState::Ready {
                    name: info.name.clone(),
                    architecture: info.architecture.clone(),
                    load_ms: started.elapsed().as_millis() as u64,
                },
            );
            *slot = Some(LoadedModel { path, model });
            Ok(())
        }
        Err(error) => {
            st.set_model_state(
                app,
                ModelState::Failed {
                    name,
                    error: error.clone(),
                },
            );
            Err(error)
        }
    }
}
