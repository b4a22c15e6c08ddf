//! The window's layout, shared state and the subscriptions to shell events.

use crate::{api, chat, library, settings, source};
use cairn_ipc::view::{count, duration, eta_during_ocr, eta_ms, file_name};
use cairn_ipc::{
    events, AppStatus, ChatTurn, DocumentRow, FileOutcome, FileProblem, IndexUpgrade, IngestEvent,
    IngestSummary, LibraryChanged, ModelState, Settings, Theme,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Chat,
    Library,
    Settings,
}

/// The answer being streamed right now.
#[derive(Debug, Clone, Default)]
pub struct Streaming {
    pub question: String,
    pub text: String,
    /// What the shell is doing before the first token.
    pub phase: String,
    /// The query searched, when it differs from the question (a follow-up).
    pub searched_for: Option<String>,
    /// The evidence, shown as soon as it is found.
    pub evidence: Vec<cairn_ipc::Citation>,
}

/// Progress of the ingest job on screen.
#[derive(Debug, Clone, Default)]
pub struct IngestView {
    pub running: bool,
    pub total: usize,
    pub done: usize,
    pub elapsed_ms: u64,
    pub current: String,
    /// The current file's OCR, while it runs.
    pub ocr: Option<OcrView>,
    /// Per-file failures of the running or last job, with reasons.
    pub failures: Vec<FileProblem>,
    pub summary: Option<IngestSummary>,
    pub error: Option<String>,
    pub cancelled: bool,
}

/// OCR of the file being indexed: `done` of `pages` pages, started
/// `started_ms` into the job, last heard of at `elapsed_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcrView {
    pub done: u32,
    pub pages: u32,
    pub started_ms: u64,
    pub elapsed_ms: u64,
}

/// The window's state, shared by every component through the context.
#[derive(Clone, Copy)]
pub struct Store {
    pub status: RwSignal<AppStatus>,
    pub docs: RwSignal<Vec<DocumentRow>>,
    pub turns: RwSignal<Vec<ChatTurn>>,
    pub streaming: RwSignal<Option<Streaming>>,
    pub ingest: RwSignal<IngestView>,
    pub source: RwSignal<Option<source::Open>>,
    pub settings: RwSignal<Settings>,
    pub view: RwSignal<View>,
    pub error: RwSignal<Option<String>>,
    pub dragging: RwSignal<bool>,
    /// Bumped to ask the question box to take the focus.
    pub focus_question: RwSignal<u32>,
    /// The index is being re-embedded for a new embedding model (at start-up).
    pub upgrade: RwSignal<Option<IndexUpgrade>>,
}

impl Store {
    /// Shows an error in the banner at the top of the window.
    pub fn fail(&self, e: impl Into<String>) {
        self.error.set(Some(e.into()));
    }

    pub fn refresh_status(&self) {
        let s = *self;
        spawn_local(async move {
            match api::status().await {
                Ok(st) => s.status.set(st),
                Err(e) => s.fail(e),
            }
        });
    }

    pub fn refresh_docs(&self) {
        let s = *self;
        spawn_local(async move {
            match api::documents().await {
                Ok(d) => s.docs.set(d),
                Err(e) => s.fail(e),
            }
        });
    }

    /// Queues paths for indexing, as a drop does.
    pub fn add(&self, paths: Vec<String>) {
        if paths.is_empty() {
            return;
        }
        let s = *self;
        spawn_local(async move {
            if let Err(e) = api::add_paths(paths).await {
                s.fail(e);
            }
        });
    }
}

pub fn store() -> Store {
    expect_context::<Store>()
}

#[derive(serde::Deserialize)]
struct DropPayload {
    paths: Vec<String>,
}

fn apply_ingest(view: &mut IngestView, e: IngestEvent) {
    match e {
        IngestEvent::Queued { roots, .. } => {
            if !view.running {
                let names: Vec<&str> = roots.iter().map(|r| file_name(r)).collect();
                *view = IngestView {
                    running: true,
                    current: format!("Looking for documents in {}…", names.join(", ")),
                    ..IngestView::default()
                };
            }
        }
        IngestEvent::Scanned { files, .. } => {
            view.running = true;
            view.total = files;
            view.done = 0;
            view.current = format!("Found {files} files");
        }
        IngestEvent::File {
            path,
            outcome,
            done,
            total,
            elapsed_ms,
            ..
        } => {
            view.done = done;
            view.total = total;
            view.elapsed_ms = elapsed_ms;
            if let FileOutcome::Failed { error } = outcome {
                view.failures.push(FileProblem {
                    path: path.clone(),
                    reason: error,
                });
            }
            view.current = path;
            view.ocr = None;
        }
        IngestEvent::Ocr {
            path,
            done,
            pages,
            elapsed_ms,
            ..
        } => {
            let started_ms = match view.ocr {
                Some(o) if done > 0 => o.started_ms,
                _ => elapsed_ms,
            };
            view.ocr = Some(OcrView {
                done,
                pages,
                started_ms,
                elapsed_ms,
            });
            view.current = path;
        }
        IngestEvent::Optimizing { .. } => view.current = "Compacting the index…".into(),
        IngestEvent::Finished { summary, .. } => {
            view.running = false;
            view.failures = summary.failed.clone();
            view.summary = Some(summary);
        }
        IngestEvent::Failed { error, .. } => {
            view.running = false;
            view.error = Some(error);
        }
        IngestEvent::Cancelled { .. } => {
            view.running = false;
            view.cancelled = true;
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let s = Store {
        status: RwSignal::new(AppStatus::default()),
        docs: RwSignal::new(Vec::new()),
        turns: RwSignal::new(Vec::new()),
        streaming: RwSignal::new(None),
        ingest: RwSignal::new(IngestView::default()),
        source: RwSignal::new(None),
        settings: RwSignal::new(Settings::default()),
        view: RwSignal::new(View::Chat),
        error: RwSignal::new(None),
        dragging: RwSignal::new(false),
        focus_question: RwSignal::new(0),
        upgrade: RwSignal::new(None),
    };
    provide_context(s);

    // Initial state.
    s.refresh_status();
    s.refresh_docs();
    spawn_local(async move {
        match api::history().await {
            Ok(t) => s.turns.set(t),
            Err(e) => s.fail(e),
        }
        match api::settings().await {
            Ok(v) => s.settings.set(v),
            Err(e) => s.fail(e),
        }
    });

    // Shell events.
    api::listen::<IngestEvent>(events::INGEST, move |e| {
        let finished = matches!(
            e,
            IngestEvent::Finished { .. }
                | IngestEvent::Failed { .. }
                | IngestEvent::Cancelled { .. }
        );
        s.ingest.update(|v| apply_ingest(v, e));
        if finished {
            s.refresh_status();
            s.refresh_docs();
        }
    });
    api::listen::<IndexUpgrade>(events::UPGRADE, move |u| s.upgrade.set(Some(u)));
    api::listen::<LibraryChanged>(events::LIBRARY, move |_| {
        s.upgrade.set(None);
        s.refresh_docs();
        s.refresh_status();
    });
    api::listen::<ModelState>(events::MODEL, move |m| s.status.update(|st| st.model = m));
    api::listen::<serde::de::IgnoredAny>("tauri://drag-enter", move |_| s.dragging.set(true));
    api::listen::<serde::de::IgnoredAny>("tauri://drag-leave", move |_| s.dragging.set(false));
    api::listen::<DropPayload>("tauri://drag-drop", move |p| {
        s.dragging.set(false);
        s.add(p.paths);
    });

    // Theme: "system" follows the OS through the stylesheet's media query.
    Effect::new(move |_| {
        let theme = s.settings.with(|v| v.theme);
        if let Some(root) = document().document_element() {
            let _ = match theme {
                Theme::System => root.remove_attribute("data-theme"),
                Theme::Light => root.set_attribute("data-theme", "light"),
                Theme::Dark => root.set_attribute("data-theme", "dark"),
            };
        }
    });

    // Keyboard: Ctrl+K focuses the question, Esc stops an answer or closes the
    // source pane.
    let _keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("k") {
            ev.prevent_default();
            s.view.set(View::Chat);
            s.focus_question.update(|n| *n += 1);
        } else if ev.key() == "Escape" {
            if s.streaming.with_untracked(|x| x.is_some()) {
                spawn_local(async move {
                    if let Err(e) = api::stop_answer().await {
                        s.fail(e);
                    }
                });
            } else {
                s.source.set(None);
            }
        }
    });

    view! {
        <div class="app" class:dragging=move || s.dragging.get()>
            <Sidebar/>
            <main class="main">
                <ErrorBanner/>
                <UpgradePanel/>
                <IngestPanel/>
                {move || match s.view.get() {
                    View::Chat => chat::ChatView().into_any(),
                    View::Library => library::LibraryView().into_any(),
                    View::Settings => settings::SettingsView().into_any(),
                }}
            </main>
            <source::SourcePane/>
            <div class="drop-overlay" aria-hidden="true">
                <div class="drop-card">"Drop files or folders to index them"</div>
            </div>
        </div>
    }
}

#[component]
fn Sidebar() -> impl IntoView {
    let s = store();
    let nav = move |v: View, label: &'static str, key: &'static str| {
        view! {
            <button class="nav" class:active=move || s.view.get() == v
                data-testid=key on:click=move |_| s.view.set(v)>{label}</button>
        }
    };
    let pick = move |folder: bool| {
        spawn_local(async move {
            if let Err(e) = api::pick(folder, false).await {
                s.fail(e);
            }
        });
    };
    view! {
        <aside class="sidebar">
            <div class="brand">
                <span class="logo" aria-hidden="true"></span>
                <span>"Cairn"</span>
            </div>
            <nav>
                {nav(View::Chat, "Chat", "nav-chat")}
                {nav(View::Library, "Library", "nav-library")}
                {nav(View::Settings, "Settings", "nav-settings")}
            </nav>
            <div class="add">
                <button class="secondary" on:click=move |_| pick(false)>"Add files…"</button>
                <button class="secondary" on:click=move |_| pick(true)>"Add folder…"</button>
            </div>
            <div class="side-status">
                <div data-testid="doc-count">{move || {
                    let st = s.status.get();
                    format!("{} · {}", count(st.documents, "document", "documents"), count(st.chunks, "passage", "passages"))
                }}</div>
                <div class="model-state">{move || match s.status.get().model {
                    ModelState::Missing => "No answer model installed".to_string(),
                    ModelState::Idle { name } => format!("Model: {name} (loads when you ask)"),
                    ModelState::Loading { name } => format!("Loading {name}…"),
                    ModelState::Ready { name, .. } => format!("Model: {name}"),
                    ModelState::Failed { name, .. } => format!("{name} failed to load"),
                }}</div>
                <div class="offline">"Offline · nothing leaves this computer"</div>
            </div>
        </aside>
    }
}

#[component]
fn ErrorBanner() -> impl IntoView {
    let s = store();
    move || {
        let engine_error = s.status.with(|st| st.engine_error.clone());
        let error = s.error.get();
        engine_error.or(error).map(|e| {
            view! {
                <div class="banner error" role="alert">
                    <span>{e}</span>
                    <button class="link" on:click=move |_| s.error.set(None)>"Dismiss"</button>
                </div>
            }
        })
    }
}

/// Progress of the one-time re-embedding of an index built with another
/// embedding model; gone when the index is open.
#[component]
fn UpgradePanel() -> impl IntoView {
    let s = store();
    move || {
        s.upgrade.get().map(|u| {
            let pct = if u.total == 0 {
                100.0
            } else {
                u.done as f64 * 100.0 / u.total as f64
            };
            view! {
                <div class="ingest" data-testid="upgrade" role="status">
                    <div class="ingest-head">
                        <strong>{format!(
                            "Updating your index for the new embedding model: {} of {}",
                            u.done,
                            count(u.total, "passage", "passages")
                        )}</strong>
                    </div>
                    <div class="bar"><div class="fill" style=format!("width: {pct:.1}%")></div></div>
                    <div class="current">{format!(
                        "Once, after an update: {} → {}. Your documents and chats are kept; searching waits until this is done.",
                        u.from_model, u.to_model
                    )}</div>
                </div>
            }
        })
    }
}

#[component]
fn IngestPanel() -> impl IntoView {
    let s = store();
    move || {
        let v = s.ingest.get();
        if !v.running && v.summary.is_none() && v.error.is_none() && !v.cancelled {
            return None;
        }
        let pct = if v.total == 0 {
            0.0
        } else {
            v.done as f64 * 100.0 / v.total as f64
        };
        let headline = if v.running {
            let eta = match v.ocr {
                // OCR takes seconds a page: the estimate follows its pages.
                Some(o) => eta_during_ocr(
                    (v.done, v.total, o.started_ms),
                    (o.done, o.pages, o.elapsed_ms.saturating_sub(o.started_ms)),
                ),
                None => eta_ms(v.done, v.total, v.elapsed_ms),
            }
            .map(|ms| format!(" · about {} left", duration(ms)))
            .unwrap_or_default();
            format!("Indexing {} of {} files{eta}", v.done, v.total)
        } else if let Some(e) = &v.error {
            format!("Indexing failed: {e}")
        } else if v.cancelled {
            "Indexing cancelled; what was finished is kept.".to_string()
        } else if let Some(sum) = &v.summary {
            let mut parts = vec![format!(
                "Indexed {} ({})",
                count(sum.indexed, "file", "files"),
                count(sum.chunks, "passage", "passages")
            )];
            if sum.unchanged > 0 {
                parts.push(format!("{} unchanged", sum.unchanged));
            }
            if sum.removed > 0 {
                parts.push(format!("{} removed", sum.removed));
            }
            if !sum.failed.is_empty() {
                parts.push(format!("{} could not be read", sum.failed.len()));
            }
            if !sum.skipped.is_empty() {
                parts.push(format!("{} skipped", sum.skipped.len()));
            }
            format!("{} in {}", parts.join(", "), duration(sum.total_ms))
        } else {
            String::new()
        };
        let skipped = v
            .summary
            .as_ref()
            .map(|x| x.skipped.clone())
            .unwrap_or_default();
        let running = v.running;
        Some(view! {
            <section class="ingest" data-testid="ingest-panel" data-state=if running { "running" } else { "done" }>
                <div class="ingest-head">
                    <strong data-testid="ingest-headline">{headline}</strong>
                    {if running {
                        view! { <button class="link" on:click=move |_| spawn_local(async move {
                            if let Err(e) = api::cancel_ingest().await { s.fail(e) }
                        })>"Cancel"</button> }.into_any()
                    } else {
                        view! { <button class="link" on:click=move |_| s.ingest.set(IngestView::default())>"Dismiss"</button> }.into_any()
                    }}
                </div>
                {running.then(|| view! {
                    <div class="bar"><div class="fill" style:width=format!("{pct:.1}%")></div></div>
                    <div class="current" title=v.current.clone()>{file_name(&v.current).to_string()}
                        {v.ocr.map(|o| format!(" — reading scanned page {} of {} (OCR)", (o.done + 1).min(o.pages), o.pages))}</div>
                })}
                {(!v.failures.is_empty()).then(|| view! {
                    <ul class="problems" data-testid="ingest-failures">
                        {v.failures.iter().map(|f| view! {
                            <li><span class="file" title=f.path.clone()>{file_name(&f.path).to_string()}</span>
                                " — " <span class="reason">{f.reason.clone()}</span></li>
                        }).collect_view()}
                    </ul>
                })}
                {(!skipped.is_empty()).then(|| view! {
                    <details class="skipped"><summary>{format!("{} skipped", count(skipped.len(), "file", "files"))}</summary>
                        <ul class="problems">
                            {skipped.iter().map(|f| view! {
                                <li><span class="file" title=f.path.clone()>{file_name(&f.path).to_string()}</span>
                                    " — " <span class="reason">{f.reason.clone()}</span></li>
                            }).collect_view()}
                        </ul>
                    </details>
                })}
            </section>
        })
    }
}
