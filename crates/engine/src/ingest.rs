//! Incremental ingestion: walk, diff against the catalogue, load, chunk, embed, write.

use crate::{io_err, Engine, EngineError, Result};
use cairn_core::{chunk_document, now_ms, Chunk, Document};
use cairn_store::{doc_id_for, DocEntry, DocStatus, DocWrite};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set to true to stop an ingest between files; what was written stays consistent.
pub type CancelFlag = Arc<AtomicBool>;

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFailure {
    pub path: String,
    pub error: String,
}

/// A file or folder that was deliberately not indexed (unsupported type, hidden,
/// ignored), with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// Where the time went, to show that ingestion is bound by embedding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    pub walk_ms: u64,
    pub diff_ms: u64,
    pub load_ms: u64,
    pub chunk_ms: u64,
    pub embed_ms: u64,
    pub write_ms: u64,
    pub optimize_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub failed: Vec<FileFailure>,
    pub skipped: Vec<Skipped>,
    pub chunks: usize,
    pub pages: usize,
    #[serde(rename = "timings_ms")]
    pub timings: Timings,
}

/// Progress events, in order: `Scanned` once, then one `File` per candidate file
/// (preceded by `Ocr` events while a file's scanned pages or image are read),
/// then `Finished`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    Scanned {
        files: usize,
    },
    File {
        path: String,
        outcome: FileOutcome,
        done: usize,
        total: usize,
    },
    /// A file is being read by OCR, which takes seconds a page: `done` of its
    /// `pages` pages that need it are read. Its `File` event follows.
    Ocr {
        path: String,
        done: u32,
        pages: u32,
    },
    Optimizing,
    Finished,
}

/// Forwards a loader's OCR progress to the ingest's progress callback (on
/// the async side, through a channel) and its cancel flag to the loader.
struct LoadWatch {
    progress: tokio::sync::mpsc::UnboundedSender<(u32, u32)>,
    cancel: CancelFlag,
}

impl cairn_load::LoadObserver for LoadWatch {
    fn ocr_progress(&self, done: u32, total: u32) {
        let _ = self.progress.send((done, total));
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileOutcome {
    Indexed { chunks: usize },
    Unchanged,
    Failed { error: String },
}

struct Prepared {
    entry: DocEntry,
    chunks: Vec<Chunk>,
}

fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Content hash of a regular file. Opening goes through the loader's
/// `open_regular`, so a file replaced by a named pipe after the scan is refused
/// instead of blocking the whole ingest on a pipe nobody writes to.
fn hash_file(path: &Path) -> Result<String, cairn_load::LoadError> {
    let mut hasher = blake3::Hasher::new();
    let (file, _) = cairn_load::open_regular(path)?;
    hasher
        .update_reader(file)
        .map_err(|source| cairn_load::LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// `path` made absolute against the current directory (not resolved: it may not exist).
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .map_err(|e| io_err(path, e))?
        .join(path))
}

/// Whether the document at `doc_path` is `key` itself or lies in the folder `key`.
fn is_under(doc_path: &str, key: &str) -> bool {
    doc_path
        .strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn path_key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Engine {
    /// Indexes files and folders. Folders are synced: files that disappeared from a
    /// folder since its last ingest are removed from the index.
    ///
    /// Per-file problems never abort the run; they are listed in
    /// [`IngestReport::failed`]. An `Err` means nothing could be done (for example the
    /// store is unwritable) or the run was cancelled.
    pub async fn ingest(
        &self,
        roots: &[PathBuf],
        progress: &(dyn Fn(&Progress) + Send + Sync),
        cancel: &CancelFlag,
    ) -> Result<IngestReport> {
        self.sync(roots, false, progress, cancel).await
    }

    /// Ingest with `force`: files are read again even when unchanged.
    pub(crate) async fn sync(
        &self,
        roots: &[PathBuf],
        force: bool,
        progress: &(dyn Fn(&Progress) + Send + Sync),
        cancel: &CancelFlag,
    ) -> Result<IngestReport> {
        let started = Instant::now();
        let mut report = IngestReport::default();

        // Resolve roots. A root that does not exist any more is a removal of whatever
        // was indexed under it, not a failure, if it was known; otherwise a failure.
        let t = Instant::now();
        let mut existing_roots = Vec::new();
        let mut removals: Vec<String> = Vec::new();
        let catalogue = self.store.documents();
        for root in roots {
            let absolute = absolute(root)?;
            match std::fs::canonicalize(&absolute) {
                Ok(p) => existing_roots.push(p),
                Err(e) => {
                    let key = path_key(&absolute);
                    let gone: Vec<String> = catalogue
                        .iter()
                        .filter(|d| is_under(&d.path, &key))
                        .map(|d| d.path.clone())
                        .collect();
                    if gone.is_empty() {
                        report.failed.push(FileFailure {
                            path: key,
                            error: format!("cannot read: {e}"),
                        });
                    } else {
                        removals.extend(gone);
                    }
                }
            }
        }
        let walked = cairn_load::walk(&existing_roots, &self.cfg.walk);
        report.skipped = walked
            .skipped
            .iter()
            .map(|s| Skipped {
                path: path_key(&s.path),
                reason: s.reason.clone(),
            })
            .collect();
        let files = walked.files;
        report.timings.walk_ms = ms(t.elapsed());

        // Files that vanished from a synced folder.
        let seen: HashSet<String> = files.iter().map(|p| path_key(p)).collect();
        for root in existing_roots.iter().filter(|r| r.is_dir()) {
            let key = path_key(root);
            for d in &catalogue {
                if is_under(&d.path, &key) && !seen.contains(&d.path) {
                    removals.push(d.path.clone());
                }
            }
        }
        removals.sort();
        removals.dedup();

        progress(&Progress::Scanned { files: files.len() });
        let total = files.len();
        let mut pending: Vec<Prepared> = Vec::new();
        let mut pending_chunks = 0usize;
        let mut touched: Vec<DocEntry> = Vec::new();

        for (i, file) in files.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                // Keep what is complete: flush prepared documents before stopping.
                self.flush(&mut pending, &mut report).await?;
                self.store.touch(std::mem::take(&mut touched)).await?;
                return Err(EngineError::Cancelled);
            }
            let key = path_key(file);
            let prepared = self
                .prepare(file, &key, force, &mut report, progress, cancel)
                .await;
            if prepared.is_err() && cancel.load(Ordering::Relaxed) {
                // The file's load was stopped (OCR is cancelled mid-file): it
                // is not a failure, and is read again by the next run.
                self.flush(&mut pending, &mut report).await?;
                self.store.touch(std::mem::take(&mut touched)).await?;
                return Err(EngineError::Cancelled);
            }
            let outcome = match prepared {
                Ok(Step::Unchanged(touch)) => {
                    report.unchanged += 1;
                    if let Some(e) = touch {
                        touched.push(e);
                    }
                    FileOutcome::Unchanged
                }
                Ok(Step::Changed(p)) => {
                    let n = p.chunks.len();
                    pending_chunks += n;
                    pending.push(p);
                    FileOutcome::Indexed { chunks: n }
                }
                Err(error) => {
                    report.failed.push(FileFailure {
                        path: key.clone(),
                        error: error.clone(),
                    });
                    FileOutcome::Failed { error }
                }
            };
            if pending_chunks >= self.cfg.batch_chunks {
                self.flush(&mut pending, &mut report).await?;
                pending_chunks = 0;
            }
            progress(&Progress::File {
                path: key,
                outcome,
                done: i + 1,
                total,
            });
        }
        self.flush(&mut pending, &mut report).await?;
        self.store.touch(touched).await?;

        if !removals.is_empty() {
            let t = Instant::now();
            self.store.write_batch(Vec::new(), &removals).await?;
            report.removed = removals.len();
            report.timings.write_ms += ms(t.elapsed());
        }
        if report.indexed > 0 || report.removed > 0 {
            progress(&Progress::Optimizing);
            let t = Instant::now();
            self.store.optimize().await?;
            report.timings.optimize_ms = ms(t.elapsed());
        }
        progress(&Progress::Finished);
        report.timings.total_ms = ms(started.elapsed());
        Ok(report)
    }

    /// Decides whether a file needs indexing and, if so, loads and chunks it.
    /// Errors are returned as display strings naming the file.
    async fn prepare(
        &self,
        file: &Path,
        key: &str,
        force: bool,
        report: &mut IngestReport,
        progress: &(dyn Fn(&Progress) + Send + Sync),
        cancel: &CancelFlag,
    ) -> std::result::Result<Step, String> {
        let t = Instant::now();
        let meta = std::fs::metadata(file).map_err(|e| format!("{key}: cannot read: {e}"))?;
        if !meta.is_file() {
            // Replaced by a folder, a pipe or a device since the scan.
            return Err(format!("{key}: cannot read: not a regular file any more"));
        }
        let size = meta.len();
        let mtime = mtime_ms(&meta);
        let previous = self.store.entry(key).filter(|_| !force);
        if let Some(prev) = &previous {
            if prev.status == DocStatus::Indexed && prev.size == size && prev.mtime_ms == mtime {
                report.timings.diff_ms += ms(t.elapsed());
                return Ok(Step::Unchanged(None));
            }
        }
        // Oversized and empty files are refused before hashing reads them.
        cairn_load::check_size(file, size, &self.cfg.load).map_err(|e| e.to_string())?;
        let owned = file.to_path_buf();
        let hash = tokio::task::spawn_blocking(move || hash_file(&owned))
            .await
            .map_err(|e| format!("{key}: {e}"))?
            .map_err(|e| e.to_string())?;
        report.timings.diff_ms += ms(t.elapsed());
        if let Some(prev) = previous {
            if prev.status == DocStatus::Indexed && prev.content_hash == hash {
                let mut e = prev;
                e.mtime_ms = mtime;
                return Ok(Step::Unchanged(Some(e)));
            }
        }

        let t = Instant::now();
        let owned = file.to_path_buf();
        let opts = self.cfg.load.clone();
        let (tx, mut ocr_pages) = tokio::sync::mpsc::unbounded_channel();
        let watch = LoadWatch {
            progress: tx,
            cancel: cancel.clone(),
        };
        let mut loading =
            tokio::task::spawn_blocking(move || cairn_load::load_observed(&owned, &opts, &watch));
        let loaded = loop {
            tokio::select! {
                Some((done, pages)) = ocr_pages.recv() => progress(&Progress::Ocr {
                    path: key.to_string(),
                    done,
                    pages,
                }),
                loaded = &mut loading => break loaded,
            }
        };
        let doc: Document = loaded
            .map_err(|e| format!("{key}: loader crashed: {e}"))?
            .map_err(|e| e.to_string())?;
        report.timings.load_ms += ms(t.elapsed());

        let t = Instant::now();
        let embedder = self.embedder.clone();
        let cfg = self.cfg.chunk;
        let (doc, chunks) = tokio::task::spawn_blocking(move || {
            let chunks = chunk_document(&doc, embedder.as_ref(), &cfg);
            (doc, chunks)
        })
        .await
        .map_err(|e| format!("{key}: chunker crashed: {e}"))?;
        report.timings.chunk_ms += ms(t.elapsed());
        if chunks.is_empty() {
            return Err(format!("{key}: no text to index"));
        }
        Ok(Step::Changed(Prepared {
            entry: DocEntry {
                path: key.to_string(),
                doc_id: doc_id_for(key),
                content_hash: hash,
                size,
                mtime_ms: mtime,
                format: doc.format.as_str().to_string(),
                pages: doc.pages.len() as u32,
                chunks: chunks.len() as u32,
                status: DocStatus::Pending,
                indexed_at_ms: now_ms(),
            },
            chunks,
        }))
    }

    /// Embeds and writes the prepared documents as one batch.
    async fn flush(&self, pending: &mut Vec<Prepared>, report: &mut IngestReport) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(pending);
        let texts: Vec<String> = batch
            .iter()
            .flat_map(|p| p.chunks.iter().map(|c| c.text.clone()))
            .collect();
        let t = Instant::now();
        let embedder = self.embedder.clone();
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed_passages(&refs)
        })
        .await??;
        report.timings.embed_ms += ms(t.elapsed());

        let mut vectors = vectors.into_iter();
        let mut writes = Vec::with_capacity(batch.len());
        for p in batch {
            let vecs: Vec<Vec<f32>> = vectors.by_ref().take(p.chunks.len()).collect();
            report.indexed += 1;
            report.chunks += p.chunks.len();
            report.pages += p.entry.pages as usize;
            writes.push(DocWrite::new(p.entry, &p.chunks, vecs));
        }
        let t = Instant::now();
        self.store.write_batch(writes, &[]).await?;
        report.timings.write_ms += ms(t.elapsed());
        Ok(())
    }

    /// Removes documents (files, or everything under a folder) from the index.
    /// Returns how many documents were removed.
    pub async fn remove(&self, paths: &[PathBuf]) -> Result<usize> {
        let docs = self.store.documents();
        let mut removals = Vec::new();
        for p in paths {
            let absolute = absolute(p)?;
            let key = std::fs::canonicalize(&absolute)
                .map(|c| path_key(&c))
                .unwrap_or_else(|_| path_key(&absolute));
            removals.extend(
                docs.iter()
                    .filter(|d| is_under(&d.path, &key))
                    .map(|d| d.path.clone()),
            );
        }
        removals.sort();
        removals.dedup();
        self.store.write_batch(Vec::new(), &removals).await?;
        if !removals.is_empty() {
            // Deletion only hides rows; removing a file must also erase its text from
            // disk (LanceDB fragments, tantivy segments, old versions).
            self.store.purge_deleted().await?;
        }
        Ok(removals.len())
    }
}

/// A document whose chunks are already embedded (benchmarks, imports).
#[derive(Debug, Clone)]
pub struct EmbeddedDocument {
    /// The document's key: an absolute path (it need not exist).
    pub path: String,
    pub format: cairn_core::Format,
    pub pages: u32,
    /// Identifies the content; a later ingest of a real file at `path` replaces it.
    pub content_hash: String,
    pub chunks: Vec<Chunk>,
    /// One vector per chunk, from this engine's embedder's space.
    pub vectors: Vec<Vec<f32>>,
}

impl Engine {
    /// Writes documents that come with their vectors, through the normal write
    /// path (catalogue, both stores, crash safety). Call [`Engine::optimize`]
    /// after the last batch.
    pub async fn write_embedded(&self, docs: Vec<EmbeddedDocument>) -> Result<()> {
        let dim = self.embedder.dimension();
        let mut writes = Vec::with_capacity(docs.len());
        for d in docs {
            if let Some(v) = d.vectors.iter().find(|v| v.len() != dim) {
                return Err(cairn_store::StoreError::DimensionMismatch {
                    expected: dim,
                    found: v.len(),
                }
                .into());
            }
            assert_eq!(d.chunks.len(), d.vectors.len(), "one vector per chunk");
            let entry = DocEntry {
                doc_id: doc_id_for(&d.path),
                path: d.path,
                content_hash: d.content_hash,
                size: 0,
                mtime_ms: 0,
                format: d.format.as_str().to_string(),
                pages: d.pages,
                chunks: d.chunks.len() as u32,
                status: DocStatus::Pending,
                indexed_at_ms: now_ms(),
            };
            writes.push(DocWrite::new(entry, &d.chunks, d.vectors));
        }
        Ok(self.store.write_batch(writes, &[]).await?)
    }
}

enum Step {
    /// Nothing to do; `Some` carries a catalogue entry to refresh (new mtime).
    Unchanged(Option<DocEntry>),
    Changed(Prepared),
}

#[cfg(test)]
mod tests {
    use super::is_under;

    #[test]
    fn is_under_matches_the_path_itself_and_its_folder_only() {
        for (doc, key, expected) in [
            ("/a/b", "/a/b", true),
            ("/a/b/c.txt", "/a/b", true),
            ("/a/bc/d.txt", "/a/b", false),
            ("/a/bc", "/a/b", false),
            ("/a", "/a/b", false),
        ] {
            assert_eq!(is_under(doc, key), expected, "{doc} under {key}");
        }
    }
}
