//! The ingest queue. Every write to the index (ingest, re-index, remove) goes
//! through this one worker, in order, so writes never interleave; searches and
//! answers read concurrently.

use crate::state::{lock, AppState};
use cairn_engine::{CancelFlag, EngineError, IngestReport, Progress};
use cairn_ipc::{events, FileOutcome, FileProblem, IngestEvent, IngestSummary, LibraryChanged};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::{mpsc, oneshot};

pub enum JobKind {
    /// Index files and folders; `force` re-reads files even if unchanged.
    Ingest { roots: Vec<PathBuf>, force: bool },
    Remove {
        paths: Vec<PathBuf>,
        reply: oneshot::Sender<Result<usize, String>>,
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
    /// Starts the worker; it runs until the app exits.
    pub fn start(app: &AppHandle) -> Jobs {
        let (tx, rx) = mpsc::unbounded_channel();
        tauri::async_runtime::spawn(worker(app.clone(), rx));
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
    pub fn ingest(&self, app: &AppHandle, roots: Vec<PathBuf>, force: bool) -> Result<u64, String> {
        let shown: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
        let job = self.push(JobKind::Ingest { roots, force })?;
        let _ = app.emit(events::INGEST, IngestEvent::Queued { job, roots: shown });
        Ok(job)
    }

    /// Removes documents (or everything under folders) and waits for it.
    pub async fn remove(&self, paths: Vec<PathBuf>) -> Result<usize, String> {
        let (reply, rx) = oneshot::channel();
        self.push(JobKind::Remove { paths, reply })?;
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

async fn worker(app: AppHandle, mut rx: mpsc::UnboundedReceiver<Job>) {
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
                JobKind::Ingest { .. } => emit(IngestEvent::Failed { job: id, error }),
            }
            return;
        }
    };
    match job.kind {
        JobKind::Remove { paths, reply } => {
            let result = engine.remove(&paths).await.map_err(|e| e.to_string());
            let _ = reply.send(result);
        }
        JobKind::Ingest { roots, force } => {
            if id <= jobs.cancelled_upto.load(Ordering::Relaxed) {
                emit(IngestEvent::Cancelled { job: id });
                return;
            }
            if force {
                if let Err(e) = engine.remove(&roots).await {
                    emit(IngestEvent::Failed {
                        job: id,
                        error: e.to_string(),
                    });
                    return;
                }
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
                    Progress::Optimizing => IngestEvent::Optimizing { job: id },
                    Progress::Finished => return,
                };
                let _ = handle.emit(events::INGEST, e);
            };
            let result = engine.ingest(&roots, &progress, &cancel).await;
            *lock(&jobs.running) = None;
            match result {
                Ok(report) => emit(IngestEvent::Finished {
                    job: id,
                    summary: summary(&report),
                }),
                Err(EngineError::Cancelled) => emit(IngestEvent::Cancelled { job: id }),
                Err(e) => emit(IngestEvent::Failed {
                    job: id,
                    error: e.to_string(),
                }),
            }
        }
    }
}
