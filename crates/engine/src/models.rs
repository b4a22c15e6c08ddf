//! The models folder: where it is, what is in it, which answer model to use,
//! and the one loaded answer model shared by every question.
//!
//! Layout (written by `models/fetch.sh`, read only here):
//!
//! ```text
//! all-minilm-l6-v2/   the embedder's ONNX graph and tokenizer
//! onnxruntime/        the ONNX Runtime library the embedder loads
//! *.gguf              answer models (any file a user drops in counts)
//! cache/              re-quantized copies of answer models, made on first load
//! ```
//!
//! An installed package adds a second, read-only folder with the same layout
//! beside the binaries (`/usr/lib/cairn/models` for `/usr/bin/cairn`, see
//! [`system_models_dir`]): the user's folder is searched first, the package's
//! second, and nothing is ever written there (added models and re-quantized
//! copies go to the user's folder).
//!
//! Every rule about that folder lives in this module: its default location
//! ([`default_models_dir`]), which GGUF files are usable answer models
//! ([`ModelsDir::answer_models`]), the default choice
//! ([`ModelsDir::default_answer_model`]), and how a model is loaded
//! ([`ModelsDir::load_answer_model`]). The CLI and the desktop app only name a
//! folder and, optionally, a file.

use crate::{EngineError, Result};
use cairn_core::Embedder;
use cairn_llm::{LocalModel, ModelInfo};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Answer models in order of preference, as installed by `models/fetch.sh`.
/// The order was chosen by measurement on the public evaluation set (answer
/// quality against time to first token; see docs/BENCHMARKS.md, "Answers").
pub const DEFAULT_ANSWER_MODELS: &[&str] = &[
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
];

/// The models folder: `$CAIRN_MODELS_DIR` if set and not empty, else
/// `~/.cache/cairn/models` (where `models/fetch.sh` installs).
pub fn default_models_dir() -> PathBuf {
    match std::env::var_os("CAIRN_MODELS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::home_dir()
            .unwrap_or_default()
            .join(".cache")
            .join("cairn")
            .join("models"),
    }
}

/// The read-only models folder of an installed package: `../lib/cairn/models`
/// next to the running binary (`/usr/lib/cairn/models` for `/usr/bin/cairn`),
/// if it exists. A binary run from a build folder has none.
pub fn system_models_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let dir = exe
        .parent()?
        .parent()?
        .join("lib")
        .join("cairn")
        .join("models");
    dir.is_dir().then_some(dir)
}

/// Switches ONNX Runtime's own telemetry off and caps the C allocator's arenas
/// (`cairn_kernels::limit_heap_arenas`). Call it first thing in `main`, before
/// any thread exists (it sets an environment variable and allocator tuning).
pub fn prepare_process() {
    cairn_embed::disable_runtime_telemetry();
    cairn_kernels::limit_heap_arenas();
}

/// A GGUF file in the models folder and whether it can answer questions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    /// File name inside the models folder.
    pub file: String,
    pub path: PathBuf,
    /// What its header says; `None` when the header cannot be read.
    pub info: Option<ModelInfo>,
    /// Why it cannot answer questions (unreadable, unsupported family, or a base
    /// model without a chat template); `None` for a usable model.
    pub problem: Option<String>,
}

impl ModelEntry {
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }
}

/// A models folder: the user's (writable), and the installed package's
/// (read-only) behind it when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelsDir {
    root: PathBuf,
    system: Option<PathBuf>,
}

impl Default for ModelsDir {
    fn default() -> Self {
        ModelsDir::new(default_models_dir())
    }
}

impl ModelsDir {
    /// The user's folder `root`, with the installed package's folder
    /// ([`system_models_dir`]) behind it.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelsDir::with_system(root, system_models_dir())
    }

    /// The user's folder `root` with `system` behind it.
    pub fn with_system(root: impl Into<PathBuf>, system: Option<PathBuf>) -> Self {
        ModelsDir {
            root: root.into(),
            system,
        }
    }

    /// The user's folder: where models are added and listed first.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The installed package's read-only folder, if any.
    pub fn system_path(&self) -> Option<&Path> {
        self.system.as_deref()
    }

    /// The folders searched, for a person: the user's, then the installed
    /// package's when there is one.
    pub fn describe(&self) -> String {
        match &self.system {
            Some(system) => format!(
                "{} (then the installed {})",
                self.root.display(),
                system.display()
            ),
            None => self.root.display().to_string(),
        }
    }

    /// The folders searched, user's first.
    fn folders(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.root.as_path()).chain(self.system.as_deref())
    }

    /// Where re-quantized copies of answer models are kept.
    fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Opens the embedding model installed here (the user's folder if it has
    /// a complete one, else the package's). A user's folder installed by an
    /// earlier Cairn lacks the int8 graph; the package's is used then.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>> {
        let dir = self
            .folders()
            .find(|d| {
                let c = cairn_embed::EmbedderConfig::new(d);
                c.model_dir.join(&c.graph).is_file() && c.ort_library.is_file()
            })
            .unwrap_or(&self.root);
        let e = cairn_embed::FastEmbedder::open(dir).map_err(|source| {
            EngineError::EmbedderMissing {
                models_dir: self.root.clone(),
                source,
            }
        })?;
        Ok(Arc::new(e))
    }

    /// Every GGUF file in the folders, sorted by file name, with whether it is
    /// a usable answer model; a file in the user's folder hides one of the same
    /// name in the package's. A missing folder lists nothing.
    pub fn answer_models(&self) -> Vec<ModelEntry> {
        let mut out: Vec<ModelEntry> = Vec::new();
        for dir in self.folders() {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut here: Vec<ModelEntry> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("gguf"))
                .map(|path| entry_for(&path))
                .filter(|e| !out.iter().any(|o| o.file == e.file))
                .collect();
            out.append(&mut here);
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        out
    }

    /// The file `name` in the user's folder, else in the package's.
    fn find(&self, name: &str) -> Option<PathBuf> {
        self.folders().map(|d| d.join(name)).find(|p| p.is_file())
    }

    /// The answer model to use when none is chosen: the first of
    /// [`DEFAULT_ANSWER_MODELS`] that is here, else the first usable GGUF file.
    pub fn default_answer_model(&self) -> Option<PathBuf> {
        DEFAULT_ANSWER_MODELS
            .iter()
            .find_map(|f| self.find(f))
            .or_else(|| {
                self.answer_models()
                    .into_iter()
                    .find(ModelEntry::usable)
                    .map(|m| m.path)
            })
    }

    /// The model to answer with: `chosen` (a file name in the folders, or a
    /// path) if it exists, else the default.
    pub fn resolve(&self, chosen: Option<&str>) -> Option<PathBuf> {
        if let Some(p) = chosen.filter(|c| !c.is_empty()).and_then(|c| self.find(c)) {
            return Some(p);
        }
        self.default_answer_model()
    }

    /// Loads a GGUF answer model (re-quantized copies are cached in the user's
    /// `cache/`, never beside a package's file).
    /// Blocking: seconds of work.
    pub fn load_answer_model(&self, path: &Path) -> Result<LocalModel> {
        let opts = cairn_llm::LoadOptions {
            requantized_dir: Some(self.cache_dir()),
            ..Default::default()
        };
        LocalModel::load(path, &opts).map_err(|source| EngineError::Model {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Copies a GGUF file into the user's folder after checking that it is a
    /// supported chat model that loads. Returns its entry. Blocking.
    pub fn add(&self, file: &Path) -> Result<ModelEntry> {
        let entry = entry_for(file);
        if let Some(problem) = entry.problem {
            return Err(EngineError::UnusableModel {
                path: file.to_path_buf(),
                problem,
            });
        }
        self.load_answer_model(file)?;
        let name = file.file_name().ok_or_else(|| EngineError::UnusableModel {
            path: file.to_path_buf(),
            problem: "not a file name".into(),
        })?;
        std::fs::create_dir_all(&self.root).map_err(|e| crate::io_err(&self.root, e))?;
        let target = self.root.join(name);
        if target.exists() {
            return Err(EngineError::UnusableModel {
                path: file.to_path_buf(),
                problem: format!("{} already exists", target.display()),
            });
        }
        let partial = self
            .root
            .join(format!(".{}.partial", name.to_string_lossy()));
        std::fs::copy(file, &partial).map_err(|e| crate::io_err(&partial, e))?;
        std::fs::rename(&partial, &target).map_err(|e| crate::io_err(&target, e))?;
        Ok(entry_for(&target))
    }
}

fn entry_for(path: &Path) -> ModelEntry {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match cairn_llm::inspect(path) {
        Ok(info) => {
            let problem = if !info.supported {
                Some(format!(
                    "architecture {} is not supported (supported: llama, qwen2, qwen3, phi3, gemma3)",
                    info.architecture
                ))
            } else if !info.has_chat_template {
                Some("a base model without a chat template: it cannot answer questions".into())
            } else {
                None
            };
            ModelEntry {
                file,
                path: path.to_path_buf(),
                info: Some(info),
                problem,
            }
        }
        Err(e) => ModelEntry {
            file,
            path: path.to_path_buf(),
            info: None,
            problem: Some(e.to_string()),
        },
    }
}

/// Where the answer model stands, for a status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelStatus {
    /// No usable model in the folder.
    Missing,
    /// Installed and chosen, not loaded yet: it loads when asked for
    /// ([`AnswerModel::ensure`]).
    Idle {
        name: String,
    },
    Loading {
        name: String,
    },
    Ready {
        name: String,
        architecture: String,
        load_ms: u64,
    },
    Failed {
        name: String,
        error: String,
    },
}

struct Loaded {
    path: PathBuf,
    model: LocalModel,
}

type StatusObserver = Box<dyn Fn(&ModelStatus) + Send + Sync>;

/// The answer model of a process: loaded on first use (or ahead of time with
/// [`AnswerModel::ensure`] on a background thread), kept for every later
/// question, and switched when another file is chosen. At most one model is in
/// memory: the old one is dropped before the new one loads.
pub struct AnswerModel {
    models: ModelsDir,
    chosen: Mutex<Option<String>>,
    loaded: Mutex<Option<Loaded>>,
    status: Mutex<ModelStatus>,
    observer: Option<StatusObserver>,
}

/// A loaded answer model, locked for one use.
pub struct ModelGuard<'a>(MutexGuard<'a, Option<Loaded>>);

impl ModelGuard<'_> {
    pub fn model(&mut self) -> &mut LocalModel {
        &mut self
            .0
            .as_mut()
            .expect("a guard is only made over a loaded model")
            .model
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: every value behind these
/// locks is replaced whole, so it is never left half-updated.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AnswerModel {
    /// The answer model of `models`; `chosen` is a file in that folder (or
    /// `None` for the default).
    pub fn new(models: ModelsDir, chosen: Option<String>) -> Self {
        AnswerModel {
            models,
            chosen: Mutex::new(chosen),
            loaded: Mutex::new(None),
            status: Mutex::new(ModelStatus::Missing),
            observer: None,
        }
    }

    /// Calls `observer` on every status change (loading, ready, failed).
    pub fn with_observer(
        mut self,
        observer: impl Fn(&ModelStatus) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    pub fn models(&self) -> &ModelsDir {
        &self.models
    }

    /// Chooses another file (or the default with `None`); it loads on next use.
    pub fn choose(&self, chosen: Option<String>) {
        *lock(&self.chosen) = chosen;
    }

    /// The file that will answer: the chosen one if present, else the default.
    pub fn path(&self) -> Option<PathBuf> {
        self.models.resolve(lock(&self.chosen).as_deref())
    }

    pub fn status(&self) -> ModelStatus {
        match lock(&self.status).clone() {
            ModelStatus::Missing => match self.path() {
                Some(path) => ModelStatus::Idle {
                    name: path
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                },
                None => ModelStatus::Missing,
            },
            other => other,
        }
    }

    /// Whether the chosen model is loaded (or loading) already.
    pub fn is_loaded_or_loading(&self) -> bool {
        matches!(
            *lock(&self.status),
            ModelStatus::Ready { .. } | ModelStatus::Loading { .. }
        )
    }

    fn set_status(&self, status: ModelStatus) {
        *lock(&self.status) = status.clone();
        if let Some(observe) = &self.observer {
            observe(&status);
        }
    }

    /// The model, loading (or switching to) the chosen file first if needed.
    /// Blocking: loading takes seconds. `on_loading` hears the file name when a
    /// load starts.
    pub fn ensure(&self, on_loading: &mut dyn FnMut(&str)) -> Result<ModelGuard<'_>> {
        let Some(path) = self.path() else {
            self.set_status(ModelStatus::Missing);
            return Err(EngineError::NoAnswerModel {
                models_dir: self.models.path().to_path_buf(),
            });
        };
        let mut slot = lock(&self.loaded);
        if slot.as_ref().is_some_and(|l| l.path == path) {
            return Ok(ModelGuard(slot));
        }
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        on_loading(&name);
        self.set_status(ModelStatus::Loading { name: name.clone() });
        // Free the old model first: two in memory at once is what a laptop notices.
        *slot = None;
        let started = Instant::now();
        match self.models.load_answer_model(&path) {
            Ok(model) => {
                let info = model.info();
                self.set_status(ModelStatus::Ready {
                    name: info.name.clone(),
                    architecture: info.architecture.clone(),
                    load_ms: started.elapsed().as_millis() as u64,
                });
                *slot = Some(Loaded { path, model });
                Ok(ModelGuard(slot))
            }
            Err(e) => {
                self.set_status(ModelStatus::Failed {
                    name,
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `name` in `dir` (not a real model: listing reads headers and
    /// marks it unusable, which is all these tests need).
    fn touch(dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).expect("mkdir");
        let p = dir.join(name);
        std::fs::write(&p, b"not a gguf").expect("write");
        p
    }

    #[test]
    fn the_users_folder_comes_first_and_the_package_folder_fills_in() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (user, system) = (tmp.path().join("user"), tmp.path().join("system"));
        let packaged_default = touch(&system, DEFAULT_ANSWER_MODELS[0]);
        touch(&system, "shared.gguf");
        let own = touch(&user, "shared.gguf");
        let dir = ModelsDir::with_system(&user, Some(system.clone()));

        // The package's default model is the default while the user has none.
        assert_eq!(dir.default_answer_model(), Some(packaged_default));
        // A file of the same name in the user's folder hides the package's.
        let listed: Vec<(String, PathBuf)> = dir
            .answer_models()
            .into_iter()
            .map(|e| (e.file, e.path))
            .collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.contains(&("shared.gguf".to_string(), own.clone())));
        assert_eq!(dir.resolve(Some("shared.gguf")), Some(own));
        // The user's own copy of the default wins over the package's.
        let users_default = touch(&user, DEFAULT_ANSWER_MODELS[0]);
        assert_eq!(dir.default_answer_model(), Some(users_default));
        // Nothing is ever looked up in a missing package folder.
        let alone = ModelsDir::with_system(&user, None);
        assert_eq!(alone.system_path(), None);
        assert_eq!(alone.answer_models().len(), 2);
    }
}
