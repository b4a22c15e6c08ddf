//! The messages that cross the boundary between Cairn's desktop shell
//! (`src-tauri`, native) and its UI (`ui`, WebAssembly in the webview).
//!
//! Both sides depend on this crate, so a renamed field is a compile error on both
//! sides instead of a silent `undefined` at run time. It depends on serde alone so
//! that it builds for `wasm32-unknown-unknown`. Field names are serialised in
//! snake_case; Tauri command *arguments* are camelCase on the JavaScript side, which
//! the UI's invoke wrapper takes care of.

use serde::{Deserialize, Serialize};

pub mod view;

/// Names of the events the shell emits to the window.
pub mod events {
    /// Payload: [`super::IngestEvent`].
    pub const INGEST: &str = "cairn://ingest";
    /// Payload: [`super::ModelState`].
    pub const MODEL: &str = "cairn://model";
    /// Payload: [`super::LibraryChanged`]; the document list should be reloaded.
    pub const LIBRARY: &str = "cairn://library";
    /// Payload: [`super::IndexUpgrade`]; the index is being re-embedded at start-up.
    pub const UPGRADE: &str = "cairn://upgrade";
}

/// What the window shows at start-up and after each change of state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    pub data_dir: String,
    pub models_dir: String,
    /// Set when the index could not be opened (for example another Cairn process
    /// holds it); the UI shows it instead of the library.
    pub engine_error: Option<String>,
    pub documents: usize,
    pub chunks: usize,
    pub model: ModelState,
    pub watched: Vec<String>,
    /// An ingest job is running or queued.
    pub busy: bool,
    pub version: String,
    /// The on-disk index format this build reads and writes.
    pub index_format: u32,
    /// The embedding model the index is built with (`name@dimensions`), once
    /// the engine is open.
    pub embedding_model: Option<String>,
    /// The engine's answer defaults, shown where a setting is left at default.
    pub defaults: AnswerDefaults,
}

/// The answer settings the engine uses when the user has not set them (its
/// calibrated defaults; the window only displays them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerDefaults {
    pub passages: usize,
    pub answer_tokens: usize,
}

/// The answer model's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelState {
    /// No GGUF model in the models folder.
    #[default]
    Missing,
    /// Installed, loaded when a question is being typed (keeps the idle app small).
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

/// One row of the library view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRow {
    pub path: String,
    /// File name, for display.
    pub name: String,
    pub format: String,
    pub size: u64,
    pub pages: u32,
    pub chunks: u32,
    /// "indexed" or "pending" (a write in progress or interrupted).
    pub status: String,
    pub indexed_at_ms: i64,
}

/// Progress of one ingest job, streamed as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IngestEvent {
    /// A job was queued (from a drop, the folder picker, a re-index or a watched folder).
    Queued {
        job: u64,
        roots: Vec<String>,
    },
    /// The job started; `files` candidate files were found.
    Scanned {
        job: u64,
        files: usize,
    },
    /// One file is done.
    File {
        job: u64,
        path: String,
        outcome: FileOutcome,
        done: usize,
        total: usize,
        /// Milliseconds since the job started, for the rate and ETA.
        elapsed_ms: u64,
    },
    /// A file's scanned pages or image are being read by OCR (seconds a
    /// page): `done` of its `pages` pages are read. Its `File` event follows.
    Ocr {
        job: u64,
        path: String,
        done: u32,
        pages: u32,
        /// Milliseconds since the job started.
        elapsed_ms: u64,
    },
    /// Compacting the index after a large batch.
    Optimizing {
        job: u64,
    },
    Finished {
        job: u64,
        summary: IngestSummary,
    },
    /// The job could not run at all (per-file problems are `File` outcomes).
    Failed {
        job: u64,
        error: String,
    },
    Cancelled {
        job: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileOutcome {
    Indexed { chunks: usize },
    Unchanged,
    Failed { error: String },
}

/// A file that was not indexed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblem {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestSummary {
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub chunks: usize,
    pub pages: usize,
    pub failed: Vec<FileProblem>,
    /// Files the walk passed over on purpose (unsupported type, hidden, too large).
    pub skipped: Vec<FileProblem>,
    pub total_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryChanged {
    pub documents: usize,
}

/// The index was built with another embedding model and its passages are being
/// embedded again with the installed one (once, after an upgrade of Cairn).
/// Sent after every batch; a [`LibraryChanged`] follows when the index is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexUpgrade {
    pub from_model: String,
    pub to_model: String,
    pub done: usize,
    pub total: usize,
}

/// Streamed while an answer is produced, over the channel passed to `ask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AskEvent {
    /// The query searched: the question, or a follow-up rewritten to stand alone.
    Searched {
        query: String,
    },
    /// The evidence found, before the model runs: shown at once under the
    /// question. `answerable` false means no model will be asked.
    Evidence {
        evidence: Vec<Citation>,
        answerable: bool,
    },
    /// The model is being loaded (first question after start or a model change).
    LoadingModel {
        name: String,
    },
    Token {
        text: String,
    },
    Done {
        turn: ChatTurn,
    },
    Error {
        message: String,
    },
}

/// A question and its answer, as kept in the chat history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatTurn {
    pub id: u64,
    pub question: String,
    /// The answer text with `[n]` markers that point into `citations`.
    pub answer: String,
    pub citations: Vec<Citation>,
    pub status: TurnStatus,
    pub model: String,
    pub grounded: bool,
    pub ms_to_first_token: u64,
    pub tokens_per_s: f64,
    pub asked_at_ms: i64,
    /// What was searched, when it differs from the question (a follow-up
    /// rewritten to stand alone), so a wrong rewrite is visible.
    #[serde(default)]
    pub searched_for: Option<String>,
    /// The evidence the answer was written from; for a "not in your
    /// documents" reply, the nearest sources.
    #[serde(default)]
    pub evidence: Vec<Citation>,
    /// The answer sentence by sentence, with whether its source supports it
    /// (empty for replies that are not answers).
    #[serde(default)]
    pub sentences: Vec<AnswerSentence>,
    /// The model wrote an answer that none of its sources supports, so the
    /// reply became "not in your documents".
    #[serde(default)]
    pub withdrawn: bool,
}

/// One sentence of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerSentence {
    /// The sentence, with its `[n]` markers.
    pub text: String,
    /// False when the passage it cites does not say it: the window marks it.
    pub supported: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    #[default]
    Done,
    /// The user pressed Stop; `answer` holds what was generated until then.
    Stopped,
    Failed,
}

/// A cited passage: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub n: usize,
    pub path: String,
    pub page: Option<u32>,
    /// Character offsets of the passage within its page's text, end exclusive.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// The text of one page of an indexed document, for the source pane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePage {
    pub path: String,
    pub page: Option<u32>,
    pub pages: u32,
    pub text: String,
}

/// A GGUF file in the models folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub file: String,
    pub name: String,
    pub architecture: String,
    pub quantization: String,
    pub size_bytes: u64,
    pub parameters: u64,
    pub context_length: usize,
    pub supported: bool,
    /// Why the file cannot be used, when `supported` is false.
    pub problem: Option<String>,
    pub selected: bool,
}

/// User settings, persisted in the data folder. A number left at `None` follows
/// the engine's default ([`AnswerDefaults`]), so a better calibrated default
/// reaches people who never changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Format of the settings file; files without it were written before
    /// `None` meant "the engine's default" (missing: 0).
    #[serde(default)]
    pub version: u32,
    /// File name of the answer model in the models folder; `None` picks the default.
    pub model: Option<String>,
    /// Upper bound on the answer's length, in tokens.
    pub answer_tokens: Option<usize>,
    /// 0 answers deterministically (greedy decoding).
    pub temperature: f64,
    /// Passages retrieved for each question.
    pub passages: Option<usize>,
    pub theme: Theme,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: Settings::VERSION,
            model: None,
            answer_tokens: None,
            temperature: 0.0,
            passages: None,
            theme: Theme::System,
        }
    }
}

impl Settings {
    pub const VERSION: u32 = 1;

    /// Settings read from a file of an older version, brought to this one:
    /// version 0 files stored every number, and the values that were the app's
    /// own defaults then (6 passages, 384 tokens) become "the engine's default".
    pub fn upgraded(mut self) -> Self {
        if self.version == 0 {
            if self.passages == Some(6) {
                self.passages = None;
            }
            if self.answer_tokens == Some(384) {
                self.answer_tokens = None;
            }
            self.version = Settings::VERSION;
        }
        self
    }

    /// The settings with every number brought into its allowed range, so a
    /// hand-edited settings file cannot ask for a zero-length answer or a
    /// thousand passages.
    pub fn clamped(mut self) -> Self {
        self.answer_tokens = self.answer_tokens.map(|n| n.clamp(32, 2048));
        self.temperature = if self.temperature.is_finite() {
            self.temperature.clamp(0.0, 2.0)
        } else {
            0.0
        };
        self.passages = self.passages.map(|n| n.clamp(1, 20));
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_a_partial_file_keep_defaults_and_are_clamped() {
        let s: Settings =
            serde_json::from_str(r#"{"version": 1, "passages": 500, "temperature": -1}"#).unwrap();
        let s = s.upgraded().clamped();
        assert_eq!(s.passages, Some(20));
        assert_eq!(s.temperature, 0.0);
        assert_eq!(s.answer_tokens, None, "left to the engine's default");
        assert_eq!(s.theme, Theme::System);
    }

    #[test]
    fn old_settings_files_stop_overriding_the_engine_defaults() {
        // Written by the first desktop release, which stored its own defaults.
        let old: Settings =
            serde_json::from_str(r#"{"model": null, "answer_tokens": 384, "temperature": 0.0, "passages": 6, "theme": "dark"}"#)
                .unwrap();
        let s = old.upgraded();
        assert_eq!((s.passages, s.answer_tokens), (None, None));
        assert_eq!(s.theme, Theme::Dark);
        // A value the person chose is kept.
        let chosen: Settings = serde_json::from_str(r#"{"passages": 3}"#).unwrap();
        assert_eq!(chosen.upgraded().passages, Some(3));
        // A current file is taken as it is.
        let current: Settings = serde_json::from_str(r#"{"version": 1, "passages": 6}"#).unwrap();
        assert_eq!(current.upgraded().passages, Some(6));
    }

    #[test]
    fn events_are_tagged_for_the_ui() {
        let e = IngestEvent::File {
            job: 3,
            path: "/d/a.pdf".into(),
            outcome: FileOutcome::Failed {
                error: "encrypted".into(),
            },
            done: 1,
            total: 2,
            elapsed_ms: 10,
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "file");
        assert_eq!(v["outcome"]["kind"], "failed");
        assert_eq!(v["outcome"]["error"], "encrypted");
        let back: IngestEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
