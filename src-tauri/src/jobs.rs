//! The ingest queue. Every write to the index goes through this one worker, in
//! order, so writes never interleave: opening the index at start-up (which
//! repairs an interrupted write), ingest, re-index and remove. Searches and
//! answers read concurrently.

use crate::state::{lock, AppState, EngineSlot};
use cairn_engine::{
    CancelFlag, Engine, EngineConfig, EngineError, IngestReport, OpenMode, Progress,
};
use cairn_ipc::{
    events, FileOutcome, FileProblem, IndexUpgrade, IngestEvent, IngestSummary, LibraryChanged,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::{mpsc, oneshot, watch};

/// Passages an indexing job must have embedded before the embedder's working
/// memory is given back at its end (`Engine::release_memory`).
const RELEASE_AFTER_CHUNKS: usize = 64;

pub enum JobKind {
    /// Index files and folders (folders are synced).
    Ingest { roots: Vec<PathBuf> },
    /// Read indexed documents again even if unchanged.
    Reindex { paths: Vec<String> },
    /// Remove one indexed document.
    Remove {
        path: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

pub struct Job {
    pub id: u64,
    pub kind: JobKind,
}

pub struct Jobs {
    tx: mpsc::UnboundedSender<Job>,
    next: AtomicU64,
    /// Jobs with an id up to this one were cancelled before they started.
    cancelled_upto: AtomicU64,
    running: Mutex<Option<CancelFlag>>,
    /// Jobs queued or running.
    pending: AtomicUsize,
}

impl Jobs {
    /// Starts the worker: it opens the index, publishes it through `engine`, then
    /// runs jobs until the app exits.
    pub fn start(app: &AppHandle, engine: watch::Sender<EngineSlot>) -> Jobs {
        let (tx, rx) = mpsc::unbounded_channel();
        tauri::async_runtime::spawn(worker(app.clone(), engine, rx));
        Jobs {
            tx,
            next: AtomicU64::new(1),
            cancelled_upto: AtomicU64::new(0),
            running: Mutex::new(None),
            pending: AtomicUsize::new(0),
        }
    }

    pub fn busy(&self) -> bool {
        self.pending.load(Ordering::Relaxed) > 0
    }

    fn push(&self, kind: JobKind) -> Result<u64, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.tx.send(Job { id, kind }).map_err(|_| {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            "the indexing worker has stopped".to_string()
        })?;
        Ok(id)
    }

    /// Queues files and folders for indexing and tells the window.
    pub fn ingest(&self, app: &AppHandle, roots: Vec<PathBuf>) -> Result<u64, String> {
        let shown: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
        let job = self.push(JobKind::Ingest { roots })?;
        let _ = app.emit(events::INGEST, IngestEvent::Queued { job, roots: shown });
        Ok(job)
    }

    /// Queues indexed documents to be read again and tells the window.
    pub fn reindex(&self, app: &AppHandle, paths: Vec<String>) -> Result<u64, String> {
        let job = self.push(JobKind::Reindex {
            paths: paths.clone(),
        })?;
        let _ = app.emit(events::INGEST, IngestEvent::Queued { job, roots: paths });
        Ok(job)
    }

    /// Removes an indexed document and waits for it.
    pub async fn remove(&self, path: String) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.push(JobKind::Remove { path, reply })?;
        rx.await
            .map_err(|_| "the indexing worker has stopped".to_string())?
    }

    /// Stops the running ingest (what it finished is kept) and drops queued ones.
    pub fn cancel(&self) {
        let newest = self.next.load(Ordering::Relaxed).saturating_sub(1);
        self.cancelled_upto.store(newest, Ordering::Relaxed);
        if let Some(flag) = lock(&self.running).as_ref() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

fn summary(report: &IngestReport) -> IngestSummary {
    IngestSummary {
        indexed: report.indexed,
        unchanged: report.unchanged,
        removed: report.removed,
        chunks: report.chunks,
        pages: report.pages,
        failed: report
            .failed
            .iter()
            .map(|f| FileProblem {
                path: f.path.clone(),
                reason: f.error.clone(),
            })
            .collect(),
        skipped: report
            .skipped
            .iter()
            .map(|s| FileProblem {
                path: s.path.clone(),
                reason: s.reason.clone(),
            })
            .collect(),
        total_ms: report.timings.total_ms,
    }
}

fn outcome(o: &cairn_engine::ingest::FileOutcome) -> FileOutcome {
    use cairn_engine::ingest::FileOutcome as E;
    match o {
        E::Indexed { chunks } => FileOutcome::Indexed { chunks: *chunks },
        E::Unchanged => FileOutcome::Unchanged,
        E::Failed { error } => FileOutcome::Failed {
            error: error.clone(),
        },
    }
}

/// Opens the index for writing with the embedder from the models folder. An
/// index built with another embedding model is re-embedded first; the window
/// follows that through [`events::UPGRADE`].
async fn open_engine(app: &AppHandle, st: &AppState) -> EngineSlot {
    let progress = |p: &cairn_engine::UpgradeProgress| {
        let _ = app.emit(
            events::UPGRADE,
            IndexUpgrade {
                from_model: p.from_model.clone(),
                to_model: p.to_model.clone(),
                done: p.done,
                total: p.total,
            },
        );
    };
    match Engine::open_with_models_and_progress(
        EngineConfig::new(&st.data_dir),
        &st.models,
        OpenMode::Write,
        &progress,
    )
    .await
    {
        Ok(engine) => {
            tracing::info!(
                "index open: {} ({} documents)",
                st.data_dir.display(),
                engine.documents().len()
            );
            EngineSlot::Ready(Arc::new(engine))
        }
        Err(e) => {
            let e = format!("cannot open the index in {}: {e}", st.data_dir.display());
            tracing::error!("{e}");
            EngineSlot::Failed(e)
        }
    }
}

async fn worker(
    app: AppHandle,
    engine_tx: watch::Sender<EngineSlot>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let slot = open_engine(&app, &app.state::<AppState>()).await;
    let documents = match &slot {
        EngineSlot::Ready(e) => e.documents().len(),
        _ => 0,
    };
    let _ = engine_tx.send(slot);
    let _ = app.emit(events::LIBRARY, LibraryChanged { documents });
    while let Some(job) = rx.recv().await {
        run(&app, job).await;
        app.state::<Jobs>().pending.fetch_sub(1, Ordering::Relaxed);
        let documents = match app.state::<AppState>().engine_now() {
            crate::state::EngineSlot::Ready(e) => e.documents().len(),
            _ => 0,
        };
        let _ = app.emit(events::LIBRARY, LibraryChanged { documents });
    }
}

async fn run(app: &AppHandle, job: Job) {
    let jobs = app.state::<Jobs>();
    let id = job.id;
    let emit = |e: IngestEvent| {
        let _ = app.emit(events::INGEST, e);
    };
    let engine = match app.state::<AppState>().engine().await {
        Ok(e) => e,
        Err(error) => {
            match job.kind {
                JobKind::Remove { reply, .. } => {
                    let _ = reply.send(Err(error));
                }
                JobKind::Ingest { .. } | JobKind::Reindex { .. } => {
                    emit(IngestEvent::Failed { job: id, error })
                }
            }
            return;
        }
    };
    let (roots, reindex) = match job.kind {
        JobKind::Remove { path, reply } => {
            let result = engine
                .remove_document(&path)
                .await
                .map_err(|e| e.to_string());
            let _ = reply.send(result);
            return;
        }
        JobKind::Ingest { roots } => (roots, None),
        JobKind::Reindex { paths } => (Vec::new(), Some(paths)),
    };
    if id <= jobs.cancelled_upto.load(Ordering::Relaxed) {
        emit(IngestEvent::Cancelled { job: id });
        return;
    }
    let cancel = CancelFlag::default();
    *lock(&jobs.running) = Some(cancel.clone());
    let started = Instant::now();
    let handle = app.clone();
    let progress = move |p: &Progress| {
        let e = match p {
            Progress::Scanned { files } => IngestEvent::Scanned {
                job: id,
                files: *files,
            },
            Progress::File {
                path,
                outcome: o,
                done,
                total,
            } => IngestEvent::File {
                job: id,
                path: path.clone(),
                outcome: outcome(o),
                done: *done,
                total: *total,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
            Progress::Ocr { path, done, pages } => IngestEvent::Ocr {
                job: id,
                path: path.clone(),
                done: *done,
                pages: *pages,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
            Progress::Optimizing => IngestEvent::Optimizing { job: id },
            Progress::Finished => return,
        };
        let _ = handle.emit(events::INGEST, e);
    };
    let result = match &reindex {
        Some(paths) => engine.reindex(paths, &progress, &cancel).await,
        None => engine.ingest(&roots, &progress, &cancel).await,
    };
    *lock(&jobs.running) = None;
    match result {
        Ok(report) => {
            emit(IngestEvent::Finished {
                job: id,
                summary: summary(&report),
            });
            if report.chunks >= RELEASE_AFTER_CHUNKS {
                // The window stays open for hours: give back what embedding the
                // job's batches took (a query embeds one text). Not after every
                // saved file of a watched folder: reopening costs ~300 ms.
                if let Err(e) = engine.release_memory().await {
                    tracing::warn!(error = %e, "could not release the embedder's memory");
                }
            }
        }
        Err(EngineError::Cancelled) => emit(IngestEvent::Cancelled { job: id }),
        Err(e) => emit(IngestEvent::Failed {
            job: id,
            error: e.to_string(),
        }),
    }
}
