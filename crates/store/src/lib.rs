//! Cairn's on-disk index: a [`Store`] ties together
//! - [`vector::VectorTable`]: chunk rows and embeddings in LanceDB,
//! - [`keyword::KeywordIndex`]: BM25 over chunk text in tantivy,
//! - [`catalogue::Catalogue`]: one [`DocEntry`] per file (hash, size, mtime, status),
//! - [`StoredChunk`]: the stored form of a chunk; chunk ids and the on-disk form of
//!   heading paths are decided there and nowhere else.
//!
//! # Consistency
//! The two stores cannot share a transaction, so every change follows one order
//! ([`Store::write_batch`]):
//! 1. a `DIRTY` marker file is created;
//! 2. the affected catalogue entries are saved as `Pending`;
//! 3. their old rows are deleted from LanceDB and the new rows appended;
//! 4. the same happens in tantivy, then tantivy commits;
//! 5. the catalogue is saved with the entries `Indexed` (or removed);
//! 6. the marker is deleted.
//!
//! Readers only return chunks whose document is `Indexed` in the catalogue, so a
//! half-written batch is never visible. A crash anywhere leaves the marker behind;
//! the next writer to open the store runs [`Store::repair`], which deletes chunks of
//! pending or unknown documents from both stores and drops pending entries, so a
//! re-run of the ingest re-indexes exactly those files.
//!
//! One process writes at a time: writers take an exclusive lock on `LOCK` and
//! record their PID in it, and a second writer gets [`StoreError::Busy`].
//!
//! # Errors
//! Backend errors keep their source; [`StoreError::kind`] classifies them, and
//! retries and repairs act on that class only (see the `error` module): a
//! permissions problem or a full disk is reported, never "repaired".
//!
//! # Threads
//! The store is async at its boundary because LanceDB is. tantivy and the
//! catalogue's fsyncs are blocking, so they run on tokio's blocking threads
//! (never on the executor that serves the callers).

pub mod catalogue;
mod chunk;
mod error;
pub mod keyword;
mod reembed;
pub mod vector;

pub use catalogue::{Catalogue, DocEntry, DocStatus};
pub use chunk::StoredChunk;
pub use error::{ErrorKind, Result, StoreError};
pub use reembed::Reembedding;
pub use vector::IdScan;

pub(crate) use error::io_err;

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new
/// content, never a mix: temp file, fsync, rename, fsync of the folder. Every
/// small file Cairn keeps (catalogue, meta.json, the desktop app's settings and
/// chat) is written through this.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        // Persist the rename itself; not every platform can open a folder for this.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Runs blocking work (tantivy, catalogue fsyncs) off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// The stable id of a document, derived from its absolute path.
pub fn doc_id_for(path: &str) -> String {
    let hash = blake3::hash(path.as_bytes());
    hash.to_hex()[..32].to_string()
}

/// Identity of the embedding space an index was built in (`meta.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub version: u32,
    pub embed_model: String,
    pub dimension: usize,
    /// The LanceDB folder inside the index that holds the vectors. Format 1 had
    /// no such field and always used `lance`; a re-embedding writes a new folder
    /// and switches to it in one write of this file.
    #[serde(default = "default_vectors_dir")]
    pub vectors: String,
    /// A re-embedding that started and has not finished ([`Store::reembed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reembed: Option<ReembedTarget>,
}

/// Where a re-embedding writes, and for which model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReembedTarget {
    pub embed_model: String,
    pub dimension: usize,
    pub vectors: String,
}

fn default_vectors_dir() -> String {
    "lance".to_owned()
}

/// Whether `name` is a vector folder name Cairn writes (`lance`, `lance-<digits>`):
/// `meta.json` must never point outside the index.
fn is_vectors_dir_name(name: &str) -> bool {
    name == "lance"
        || name
            .strip_prefix("lance-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The on-disk format this Cairn writes and reads (`meta.json`'s `version`,
/// and the catalogue's). An index of a newer format is refused with
/// [`StoreError::NewerFormat`] and never repaired; a change of format must
/// come with an in-place upgrade of older indexes on their first write open.
///
/// - 1: vectors in `lance/`.
/// - 2: `meta.json` names the vector folder (`vectors`) and records a
///   re-embedding in progress (`reembed`), so an index can move to another
///   embedding model without losing what it holds. Format 1 is read as is.
pub const INDEX_FORMAT: u32 = 2;
const META_VERSION: u32 = INDEX_FORMAT;

/// Whether the caller intends to change the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Search and list only; never blocks on or disturbs a writer.
    Read,
    /// Takes the exclusive writer lock and repairs interrupted writes.
    Write,
}

/// A document to (re)write: its catalogue entry and all its chunks with vectors.
#[derive(Debug, Clone)]
pub struct DocWrite {
    pub entry: DocEntry,
    pub chunks: Vec<StoredChunk>,
    pub vectors: Vec<Vec<f32>>,
}

impl DocWrite {
    /// The write of a document's chunks (in order, one vector each), keyed by the
    /// entry's document id.
    pub fn new(entry: DocEntry, chunks: &[cairn_core::Chunk], vectors: Vec<Vec<f32>>) -> Self {
        let chunks = chunks
            .iter()
            .map(|c| StoredChunk::new(&entry.doc_id, &entry.path, c))
            .collect();
        DocWrite {
            entry,
            chunks,
            vectors,
        }
    }
}

/// What [`Store::repair`] and [`Store::open_for_repair`] found and fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Documents whose write had not completed; they will be re-indexed by the next ingest.
    pub dropped_pending: Vec<String>,
    /// Document ids found in a store but unknown to the catalogue.
    pub orphans_removed: usize,
    /// Documents whose chunk counts disagreed between the stores. They were dropped
    /// from the index; ingesting them again restores them.
    pub mismatched: Vec<String>,
    /// Damaged files or folders moved aside (renamed with a `.damaged-<ms>` suffix,
    /// never read again) before rebuilding.
    pub quarantined: Vec<PathBuf>,
    /// The catalogue could not be read and was rebuilt from the vector store's rows.
    pub catalogue_rebuilt: bool,
    /// The keyword index could not be read and was rebuilt from the vector store's rows.
    pub keyword_index_rebuilt: bool,
    /// The vector store could not be read and was emptied; its documents are listed
    /// in `mismatched` and must be ingested again (vectors cannot be rebuilt without
    /// the embedding model).
    pub vector_store_reset: bool,
    /// `meta.json` (which embedding model built the index) could not be read and was
    /// written again for the configured model; the vector store's dimension was
    /// checked against it.
    pub meta_rewritten: bool,
}

impl RepairReport {
    pub fn is_clean(&self) -> bool {
        self.dropped_pending.is_empty()
            && self.orphans_removed == 0
            && self.mismatched.is_empty()
            && self.quarantined.is_empty()
    }
}

/// One document as each store sees it, from [`Store::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocCheck {
    pub path: String,
    pub doc_id: String,
    pub status: DocStatus,
    /// Chunks the catalogue says the document has.
    pub catalogue_chunks: u32,
    /// Rows of this document in LanceDB.
    pub vector_chunks: usize,
    /// Documents of this document in tantivy.
    pub keyword_chunks: usize,
}

/// Chunks in a store whose document the catalogue does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanCheck {
    pub doc_id: String,
    pub vector_chunks: usize,
    pub keyword_chunks: usize,
}

/// What [`Store::verify`] found: totals, per-document counts and every disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub stats: StoreStats,
    /// The `DIRTY` marker exists: a write is running or was interrupted.
    pub dirty: bool,
    /// Every catalogue entry with its counts in both stores, sorted by path.
    pub documents: Vec<DocCheck>,
    /// Paths of entries still `Pending` (a write is running or was interrupted).
    pub pending: Vec<String>,
    /// Paths of `Indexed` entries whose chunk counts disagree between the catalogue,
    /// LanceDB and tantivy. Readers would see a wrong document: never acceptable.
    pub mismatched: Vec<String>,
    pub orphans: Vec<OrphanCheck>,
    /// Chunk ids stored more than once in LanceDB or in tantivy.
    pub duplicate_chunk_ids: Vec<String>,
}

impl VerifyReport {
    /// What readers can see is right: every indexed document has exactly its chunks in
    /// both stores, once. Holds at every moment, even while a write runs or after a crash.
    pub fn visible_consistent(&self) -> bool {
        self.mismatched.is_empty() && self.duplicate_chunk_ids.is_empty()
    }

    /// Nothing is left over from an interrupted write either: no marker, no pending
    /// entry, no orphan chunk. True after any completed write or repair.
    pub fn consistent(&self) -> bool {
        self.visible_consistent()
            && !self.dirty
            && self.pending.is_empty()
            && self.orphans.is_empty()
    }
}

pub struct Store {
    dir: PathBuf,
    vectors: vector::VectorTable,
    keywords: Arc<keyword::KeywordIndex>,
    catalogue: Arc<RwLock<Catalogue>>,
    /// An unfinished re-embedding this store was opened beside; a write with the
    /// index's own model abandons it (its copies of changed documents would be stale).
    reembed: std::sync::Mutex<Option<ReembedTarget>>,
    _lock: Option<std::fs::File>,
}

/// Counts of what the stores hold, for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub documents: usize,
    pub catalogue_chunks: u64,
    pub vector_rows: usize,
    pub keyword_docs: u64,
}

/// Reads the catalogue. A panic while holding the lock leaves consistent data
/// (every mutation is a single map operation), so a poisoned lock is safe to use.
fn cat_read(c: &RwLock<Catalogue>) -> std::sync::RwLockReadGuard<'_, Catalogue> {
    c.read().unwrap_or_else(|p| p.into_inner())
}

fn cat_write(c: &RwLock<Catalogue>) -> std::sync::RwLockWriteGuard<'_, Catalogue> {
    c.write().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens the index in `dir` for an embedder `model_id` producing `dim`-sized vectors.
    pub async fn open(dir: &Path, model_id: &str, dim: usize, mode: OpenMode) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock = match mode {
            OpenMode::Write => Some(acquire_lock(&dir.join("LOCK"))?),
            OpenMode::Read => None,
        };
        let meta = {
            let (d, m) = (dir.to_path_buf(), model_id.to_string());
            blocking(move || check_meta(&d, &m, dim, mode)).await?
        };
        if mode == OpenMode::Write {
            remove_stale_vectors(dir, &meta);
            ensure_marker(dir, &meta)?;
        }
        let vectors = vector::VectorTable::open(&dir.join(&meta.vectors), dim).await?;
        let kw_dir = dir.join("tantivy");
        let keywords = blocking(move || keyword::KeywordIndex::open(&kw_dir)).await?;
        let cat_path = dir.join("catalogue.json");
        let catalogue = blocking(move || Catalogue::load(&cat_path)).await?;
        let store = Store {
            dir: dir.to_path_buf(),
            vectors,
            keywords: Arc::new(keywords),
            catalogue: Arc::new(RwLock::new(catalogue)),
            reembed: std::sync::Mutex::new(meta.reembed.clone()),
            _lock: lock,
        };
        if mode == OpenMode::Write {
            let report = store.repair().await?;
            if !report.is_clean() {
                tracing::warn!(?report, "repaired an interrupted write");
            }
        }
        Ok(store)
    }

    /// Opens the index for writing like [`Store::open`], but first checks every part
    /// deeply and rebuilds what is damaged, as far as the data allows:
    /// - a damaged LanceDB table is moved aside and replaced by an empty one (its
    ///   documents must be ingested again: vectors need the embedding model);
    /// - a damaged catalogue is moved aside and rebuilt from the LanceDB rows (paths
    ///   and chunk counts; the next ingest re-hashes those files and refreshes them);
    /// - a damaged tantivy index is moved aside and rebuilt from the LanceDB rows,
    ///   which hold every chunk's text and position.
    ///
    /// Then the stores are compared document by document, whatever the marker says.
    /// Only errors that are damage ([`StoreError::is_damage`]) lead to a rebuild;
    /// the rest (lock held, wrong model, permissions, a full disk, too many open
    /// files) are returned, and nothing is moved.
    pub async fn open_for_repair(
        dir: &Path,
        model_id: &str,
        dim: usize,
    ) -> Result<(Self, RepairReport)> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock = acquire_lock(&dir.join("LOCK"))?;
        let mut report = RepairReport::default();
        let meta = match check_meta(dir, model_id, dim, OpenMode::Write) {
            Err(StoreError::Corrupt { reason, .. }) => {
                // Rebuilt from the vector folders' markers; if that names another
                // model, the check below says so (the engine re-embeds first).
                tracing::warn!(%reason, "meta.json is unreadable; rebuilding it");
                report.quarantined.extend(recover_meta_locked(dir, dim)?);
                report.meta_rewritten = true;
                check_meta(dir, model_id, dim, OpenMode::Write)?
            }
            other => other?,
        };
        remove_stale_vectors(dir, &meta);
        ensure_marker(dir, &meta)?;

        let lance_dir = dir.join(&meta.vectors);
        let vectors = match open_readable_vectors(&lance_dir, dim).await {
            Ok(v) => v,
            Err(e) if e.is_damage() => {
                tracing::warn!(error = %e, "the vector store is damaged; resetting it");
                report.quarantined.push(quarantine(&lance_dir)?);
                report.vector_store_reset = true;
                vector::VectorTable::open(&lance_dir, dim).await?
            }
            Err(e) => return Err(e),
        };

        let cat_path = dir.join("catalogue.json");
        let loaded = {
            let p = cat_path.clone();
            blocking(move || Catalogue::load(&p)).await
        };
        let catalogue = match loaded {
            Ok(c) => c,
            Err(e) if e.is_damage() => {
                tracing::warn!(error = %e, "the catalogue is damaged; rebuilding it");
                report.quarantined.push(quarantine(&cat_path)?);
                report.catalogue_rebuilt = true;
                let entries = vectors.catalogue_entries(cairn_core::now_ms()).await?;
                let p = cat_path.clone();
                blocking(move || {
                    let mut c = Catalogue::load(&p)?;
                    for entry in entries {
                        c.upsert(entry);
                    }
                    c.save()?;
                    Ok(c)
                })
                .await?
            }
            Err(e) => return Err(e),
        };

        let kw_dir = dir.join("tantivy");
        let opened = {
            let d = kw_dir.clone();
            blocking(move || {
                let k = keyword::KeywordIndex::open(&d)?;
                k.check_readable()?;
                Ok(k)
            })
            .await
        };
        let keywords = match opened {
            Ok(k) => k,
            Err(e) if e.is_damage() => {
                tracing::warn!(error = %e, "the keyword index is damaged; rebuilding it");
                if kw_dir.exists() {
                    report.quarantined.push(quarantine(&kw_dir)?);
                }
                report.keyword_index_rebuilt = true;
                let chunks = vectors.all_chunks().await?;
                blocking(move || {
                    let k = keyword::KeywordIndex::open(&kw_dir)?;
                    k.add(&chunks)?;
                    k.commit()?;
                    Ok(k)
                })
                .await?
            }
            Err(e) => return Err(e),
        };

        let store = Store {
            dir: dir.to_path_buf(),
            vectors,
            keywords: Arc::new(keywords),
            catalogue: Arc::new(RwLock::new(catalogue)),
            reembed: std::sync::Mutex::new(meta.reembed.clone()),
            _lock: Some(lock),
        };
        let found = store.repair_inner(true).await?;
        report.dropped_pending = found.dropped_pending;
        report.orphans_removed = found.orphans_removed;
        report.mismatched = found.mismatched;
        Ok((store, report))
    }

    fn dirty_marker(&self) -> PathBuf {
        self.dir.join("DIRTY")
    }

    /// The catalogue entry for an absolute path.
    pub fn entry(&self, path: &str) -> Option<DocEntry> {
        cat_read(&self.catalogue).get(path).cloned()
    }

    /// All catalogue entries, sorted by path.
    pub fn documents(&self) -> Vec<DocEntry> {
        cat_read(&self.catalogue).iter().cloned().collect()
    }

    pub async fn stats(&self) -> Result<StoreStats> {
        let (documents, catalogue_chunks) = {
            let c = cat_read(&self.catalogue);
            (c.len(), c.indexed_chunks())
        };
        Ok(StoreStats {
            documents,
            catalogue_chunks,
            vector_rows: self.vectors.count().await?,
            keyword_docs: self.keywords.num_chunks(),
        })
    }

    /// Updates catalogue entries whose content did not change (e.g. a newer mtime).
    pub async fn touch(&self, entries: Vec<DocEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let catalogue = self.catalogue.clone();
        blocking(move || {
            let mut c = cat_write(&catalogue);
            for e in entries {
                c.upsert(e);
            }
            c.save()
        })
        .await
    }

    /// Runs `change` on the catalogue and saves it, off the async executor.
    async fn change_catalogue(
        &self,
        change: impl FnOnce(&mut Catalogue) + Send + 'static,
    ) -> Result<()> {
        let catalogue = self.catalogue.clone();
        blocking(move || {
            let mut c = cat_write(&catalogue);
            change(&mut c);
            c.save()
        })
        .await
    }

    /// Runs `op` on the keyword index off the async executor.
    async fn with_keywords<T: Send + 'static>(
        &self,
        op: impl FnOnce(&keyword::KeywordIndex) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let keywords = self.keywords.clone();
        blocking(move || op(&keywords)).await
    }

    /// Replaces the chunks of `writes` and deletes the documents at `removals`, following
    /// the commit order described in the crate docs.
    pub async fn write_batch(&self, writes: Vec<DocWrite>, removals: &[String]) -> Result<()> {
        if writes.is_empty() && removals.is_empty() {
            return Ok(());
        }
        self.abandon_reembedding().await?;
        let marker = self.dirty_marker();
        std::fs::write(&marker, b"").map_err(|e| io_err(&marker, e))?;

        let mut doc_ids: Vec<String> = Vec::new();
        let mut pending: Vec<DocEntry> = Vec::new();
        {
            let c = cat_read(&self.catalogue);
            for w in &writes {
                let mut e = w.entry.clone();
                e.status = DocStatus::Pending;
                doc_ids.push(e.doc_id.clone());
                pending.push(e);
            }
            for path in removals {
                if let Some(mut e) = c.get(path).cloned() {
                    e.status = DocStatus::Pending;
                    doc_ids.push(e.doc_id.clone());
                    pending.push(e);
                }
            }
        }
        self.change_catalogue(move |c| {
            for e in pending {
                c.upsert(e);
            }
        })
        .await?;

        let mut chunks: Vec<StoredChunk> = Vec::new();
        let mut vectors: Vec<Vec<f32>> = Vec::new();
        let mut done: Vec<DocEntry> = Vec::with_capacity(writes.len());
        for w in writes {
            chunks.extend(w.chunks);
            vectors.extend(w.vectors);
            let mut e = w.entry;
            e.status = DocStatus::Indexed;
            done.push(e);
        }
        self.vectors.delete_docs(&doc_ids).await?;
        self.vectors.add(&chunks, &vectors).await?;
        self.with_keywords(move |k| {
            k.delete_docs(&doc_ids)?;
            k.add(&chunks)?;
            k.commit()
        })
        .await?;

        let removed = removals.to_vec();
        self.change_catalogue(move |c| {
            for e in done {
                c.upsert(e);
            }
            for path in &removed {
                c.remove(path);
            }
        })
        .await?;
        std::fs::remove_file(&marker).map_err(|e| io_err(&marker, e))?;
        Ok(())
    }

    /// Drops an unfinished re-embedding before the index changes under it: its
    /// folder would keep vectors of the documents as they were. The next open with
    /// the other model starts it again.
    async fn abandon_reembedding(&self) -> Result<()> {
        let target = self
            .reembed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(target) = target else {
            return Ok(());
        };
        let dir = self.dir.clone();
        blocking(move || {
            if let Some(mut meta) = read_meta(&dir)? {
                meta.reembed = None;
                write_meta(&dir, &meta)?;
            }
            // meta.json no longer records it; removing the folder is best
            // effort (writers remove unused folders at every open anyway).
            let folder = dir.join(&target.vectors);
            if folder.exists() {
                if let Err(e) = remove_vectors_dir(&folder) {
                    tracing::warn!(folder = %folder.display(), error = %e, "cannot remove an abandoned re-embedding's folder yet");
                }
            }
            tracing::info!(model = %target.embed_model, "abandoned an unfinished re-embedding");
            Ok(())
        })
        .await?;
        *self.reembed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Brings the stores back into agreement with the catalogue after an interrupted
    /// write. Cheap when nothing is wrong: a full comparison only runs when the dirty
    /// marker exists or the total counts disagree.
    pub async fn repair(&self) -> Result<RepairReport> {
        self.repair_inner(false).await
    }

    /// `full`: compare document by document even when nothing suggests a problem.
    async fn repair_inner(&self, full: bool) -> Result<RepairReport> {
        let mut report = RepairReport::default();
        let marker = self.dirty_marker();
        let stats = self.stats().await?;
        let counts_agree = stats.vector_rows as u64 == stats.catalogue_chunks
            && stats.keyword_docs == stats.catalogue_chunks;
        let has_pending = cat_read(&self.catalogue)
            .iter()
            .any(|e| e.status == DocStatus::Pending);
        if !full && !marker.exists() && counts_agree && !has_pending {
            return Ok(report);
        }
        let in_vectors = self.vectors.doc_counts().await?;
        let in_keywords = self.with_keywords(|k| k.doc_counts()).await?;
        let mut to_delete: HashSet<String> = HashSet::new();
        let mut drop_paths: Vec<String> = Vec::new();
        {
            let c = cat_read(&self.catalogue);
            let mut known: HashSet<String> = HashSet::new();
            for e in c.iter() {
                let v = in_vectors.get(&e.doc_id).copied().unwrap_or(0);
                let k = in_keywords.get(&e.doc_id).copied().unwrap_or(0);
                if e.status == DocStatus::Pending {
                    report.dropped_pending.push(e.path.clone());
                    to_delete.insert(e.doc_id.clone());
                    drop_paths.push(e.path.clone());
                } else if v != e.chunks as usize || k != e.chunks as usize {
                    report.mismatched.push(e.path.clone());
                    to_delete.insert(e.doc_id.clone());
                    drop_paths.push(e.path.clone());
                } else {
                    known.insert(e.doc_id.clone());
                }
            }
            let orphans: HashSet<&String> = in_vectors
                .keys()
                .chain(in_keywords.keys())
                .filter(|id| !known.contains(*id) && !to_delete.contains(*id))
                .collect();
            report.orphans_removed = orphans.len();
            let orphans: Vec<String> = orphans.into_iter().cloned().collect();
            to_delete.extend(orphans);
        }
        self.change_catalogue(move |c| {
            for p in &drop_paths {
                c.remove(p);
            }
        })
        .await?;
        let ids: Vec<String> = to_delete.into_iter().collect();
        if !ids.is_empty() {
            self.vectors.delete_docs(&ids).await?;
            self.with_keywords(move |k| {
                k.delete_docs(&ids)?;
                k.commit()
            })
            .await?;
        }
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| io_err(&marker, e))?;
        }
        Ok(report)
    }

    /// Compares the catalogue with both stores without changing anything (safe in
    /// [`OpenMode::Read`]): counts per document, orphans and duplicate chunk ids. It
    /// reads every chunk id once, so it costs a scan of two columns.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let dirty = self.dirty_marker().exists();
        let stats = self.stats().await?;
        let vector_ids = self.vectors.scan_ids().await?;
        let (in_keywords, keyword_duplicates) = self
            .with_keywords(|k| Ok((k.doc_counts()?, k.duplicate_chunk_ids()?)))
            .await?;
        let mut duplicates = vector_ids.duplicates;
        duplicates.extend(keyword_duplicates);
        duplicates.sort();
        duplicates.dedup();

        let entries = self.documents();
        let mut report = VerifyReport {
            stats,
            dirty,
            documents: Vec::with_capacity(entries.len()),
            pending: Vec::new(),
            mismatched: Vec::new(),
            orphans: Vec::new(),
            duplicate_chunk_ids: duplicates,
        };
        let known: HashSet<&str> = entries.iter().map(|e| e.doc_id.as_str()).collect();
        for e in &entries {
            let check = DocCheck {
                path: e.path.clone(),
                doc_id: e.doc_id.clone(),
                status: e.status,
                catalogue_chunks: e.chunks,
                vector_chunks: vector_ids.per_doc.get(&e.doc_id).copied().unwrap_or(0),
                keyword_chunks: in_keywords.get(&e.doc_id).copied().unwrap_or(0),
            };
            match e.status {
                DocStatus::Pending => report.pending.push(e.path.clone()),
                DocStatus::Indexed => {
                    let n = e.chunks as usize;
                    if check.vector_chunks != n || check.keyword_chunks != n {
                        report.mismatched.push(e.path.clone());
                    }
                }
            }
            report.documents.push(check);
        }
        let mut orphan_ids: Vec<&String> = vector_ids
            .per_doc
            .keys()
            .chain(in_keywords.keys())
            .filter(|id| !known.contains(id.as_str()))
            .collect();
        orphan_ids.sort();
        orphan_ids.dedup();
        report.orphans = orphan_ids
            .into_iter()
            .map(|id| OrphanCheck {
                doc_id: id.clone(),
                vector_chunks: vector_ids.per_doc.get(id).copied().unwrap_or(0),
                keyword_chunks: in_keywords.get(id).copied().unwrap_or(0),
            })
            .collect();
        Ok(report)
    }

    /// Keeps only hits whose document is fully indexed, looking up just the hits'
    /// own documents rather than building a set of every indexed document per query.
    fn retain_indexed(&self, hits: &mut Vec<(StoredChunk, f32)>) {
        let c = cat_read(&self.catalogue);
        hits.retain(|(chunk, _)| {
            c.get(&chunk.path)
                .is_some_and(|e| e.status == DocStatus::Indexed && e.doc_id == chunk.doc_id)
        });
    }

    /// BM25 search over chunks of fully indexed documents.
    pub async fn search_keyword(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        let q = query.to_string();
        let mut hits = self.with_keywords(move |k| k.search(&q, limit)).await?;
        self.retain_indexed(&mut hits);
        Ok(hits)
    }

    /// Vector search (cosine similarity) over chunks of fully indexed documents.
    pub async fn search_vector(
        &self,
        query: &[f32],
        limit: usize,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        let mut hits = self.vectors.search(query, limit).await?;
        self.retain_indexed(&mut hits);
        Ok(hits)
    }

    /// Re-reads everything another process may have committed.
    pub async fn refresh(&self) -> Result<()> {
        self.vectors.refresh().await?;
        let cat_path = self.dir.join("catalogue.json");
        let fresh = self
            .with_keywords(move |k| {
                k.reload()?;
                Catalogue::load(&cat_path)
            })
            .await?;
        *cat_write(&self.catalogue) = fresh;
        Ok(())
    }

    /// Physically removes what deletions only hid: rewrites LanceDB fragments and
    /// tantivy segments that still hold deleted chunks and deletes old versions and
    /// unused files. Called after the user removes documents, so "remove" means gone
    /// from disk. Only call this while holding the write lock.
    pub async fn purge_deleted(&self) -> Result<()> {
        self.vectors.purge_deleted().await?;
        self.with_keywords(|k| k.purge_deleted()).await
    }

    /// Post-ingest upkeep: vector index maintenance, compaction, old-version pruning.
    pub async fn optimize(&self) -> Result<()> {
        self.vectors.compact().await?;
        self.vectors.maintain_index().await?;
        Ok(())
    }
}

fn acquire_lock(path: &Path) -> Result<std::fs::File> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::Busy {
                holder: if holder.is_empty() {
                    "another process".to_string()
                } else {
                    format!("process {holder}")
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(path, e)),
    }
    file.set_len(0).map_err(|e| io_err(path, e))?;
    file.rewind().map_err(|e| io_err(path, e))?;
    write!(file, "{}", std::process::id()).map_err(|e| io_err(path, e))?;
    file.flush().map_err(|e| io_err(path, e))?;
    Ok(file)
}

/// What `meta.json` in the index `dir` says: `None` for a folder with no index yet.
/// A newer format than this Cairn reads is [`StoreError::NewerFormat`]; a file
/// that does not parse, or names a vector folder outside the index, is
/// [`StoreError::Corrupt`].
pub fn read_meta(dir: &Path) -> Result<Option<IndexMeta>> {
    let path = dir.join("meta.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path, e)),
    };
    let meta: IndexMeta = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if meta.version > META_VERSION {
        return Err(StoreError::NewerFormat {
            path,
            found: meta.version,
            supported: META_VERSION,
        });
    }
    let names_ok = is_vectors_dir_name(&meta.vectors)
        && meta
            .reembed
            .as_ref()
            .is_none_or(|t| is_vectors_dir_name(&t.vectors) && t.vectors != meta.vectors);
    if !names_ok {
        return Err(StoreError::Corrupt {
            path,
            reason: "names a vector folder Cairn does not write".into(),
        });
    }
    Ok(Some(meta))
}

/// Writes `meta.json` atomically (a crash leaves the old or the new file).
pub(crate) fn write_meta(dir: &Path, meta: &IndexMeta) -> Result<()> {
    let path = dir.join("meta.json");
    let bytes = serde_json::to_vec_pretty(meta).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&path, &bytes)
}

fn check_meta(dir: &Path, model_id: &str, dim: usize, mode: OpenMode) -> Result<IndexMeta> {
    match read_meta(dir)? {
        Some(meta) => {
            if meta.embed_model != model_id || meta.dimension != dim {
                return Err(StoreError::ModelMismatch {
                    index_model: format!("{} ({} dims)", meta.embed_model, meta.dimension),
                    configured: format!("{model_id} ({dim} dims)"),
                });
            }
            Ok(meta)
        }
        None => {
            let meta = IndexMeta {
                version: META_VERSION,
                embed_model: model_id.to_string(),
                dimension: dim,
                vectors: default_vectors_dir(),
                reembed: None,
            };
            // A reader of an empty directory writes nothing; the first writer records
            // the model.
            if mode == OpenMode::Write {
                write_meta(dir, &meta)?;
            }
            Ok(meta)
        }
    }
}

/// The vector folders Cairn wrote in `dir`, by name.
fn vectors_dirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_vectors_dir_name(n))
        .collect()
}

/// A vector folder's place in the order they were started: `lance` is 0,
/// `lance-<n>` is n.
fn vectors_dir_number(name: &str) -> u128 {
    name.strip_prefix("lance-")
        .and_then(|n| n.parse::<u128>().ok())
        .unwrap_or(0)
}

/// The vector folder started first.
fn oldest_vectors_dir(dir: &Path) -> String {
    vectors_dirs(dir)
        .into_iter()
        .min_by_key(|n| vectors_dir_number(n))
        .unwrap_or_else(default_vectors_dir)
}

/// A name for a new vector folder that sorts after every existing one (the
/// time in milliseconds, or one more than the newest if the clock went back).
pub(crate) fn next_vectors_dir(dir: &Path) -> String {
    let newest = vectors_dirs(dir)
        .iter()
        .map(|n| vectors_dir_number(n))
        .max()
        .unwrap_or(0);
    let now = u128::try_from(cairn_core::now_ms()).unwrap_or(0);
    format!("lance-{}", now.max(newest + 1))
}

/// The file inside each vector folder that names the model its vectors came
/// from, so that a damaged `meta.json` can be rebuilt without guessing (and
/// vectors of two models are never taken for one).
const MARKER: &str = "embedding.json";

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    embed_model: String,
    dimension: usize,
    /// Every document has all its rows here: true for the folder in use, false
    /// for a re-embedding's folder until it is finished. (Markers without the
    /// field were written for folders in use.)
    #[serde(default = "complete_by_default")]
    complete: bool,
}

fn complete_by_default() -> bool {
    true
}

/// Records in `folder` which model its vectors come from, and whether they
/// are all there.
pub(crate) fn write_marker(
    folder: &Path,
    model_id: &str,
    dim: usize,
    complete: bool,
) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| io_err(folder, e))?;
    let marker = Marker {
        embed_model: model_id.to_owned(),
        dimension: dim,
        complete,
    };
    let path = folder.join(MARKER);
    let bytes = serde_json::to_vec_pretty(&marker).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&path, &bytes)
}

fn read_marker(folder: &Path) -> Option<Marker> {
    let bytes = std::fs::read(folder.join(MARKER)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Model id recorded for vectors whose model is not known (a damaged
/// `meta.json` and a folder from before markers): never equal to a real
/// embedder's id, so the engine re-embeds them from their text.
pub const UNKNOWN_MODEL: &str = "unknown (meta.json was damaged)";

/// Rebuilds a damaged `meta.json` (moved aside first; the new paths of what
/// was moved aside are returned). The vectors are the newest folder whose marker says it is
/// complete (a re-embedding marks its folder complete just before switching to
/// it, and an old folder loses its marker before it is removed), with the
/// model that marker names. With no such marker (an index from before
/// markers), the oldest folder, with [`UNKNOWN_MODEL`] and dimension `dim`, so
/// that it is re-embedded. Every other vector folder is moved aside
/// (`.damaged-<ms>`), never deleted. Takes the writer lock for the time it runs.
pub fn recover_meta(dir: &Path, dim: usize) -> Result<Vec<PathBuf>> {
    let _lock = acquire_lock(&dir.join("LOCK"))?;
    recover_meta_locked(dir, dim)
}

fn recover_meta_locked(dir: &Path, dim: usize) -> Result<Vec<PathBuf>> {
    // meta.json is never missing meanwhile (a missing one means a new index):
    // the other folders are moved aside first, then a copy of the damaged file
    // is kept and the file is replaced in one atomic write. A crash in between
    // leaves the damaged file, and repair runs again.
    let path = dir.join("meta.json");
    let mut moved = Vec::new();
    let complete = vectors_dirs(dir)
        .into_iter()
        .filter_map(|n| {
            let m = read_marker(&dir.join(&n))?;
            m.complete.then_some((n, m))
        })
        .max_by_key(|(n, _)| vectors_dir_number(n));
    let (folder, embed_model, dimension) = match complete {
        Some((n, m)) => (n, m.embed_model, m.dimension),
        None => (oldest_vectors_dir(dir), UNKNOWN_MODEL.to_owned(), dim),
    };
    for other in vectors_dirs(dir) {
        if other != folder {
            moved.push(quarantine(&dir.join(&other))?);
        }
    }
    let kept = damaged_name(&path);
    std::fs::copy(&path, &kept).map_err(|e| io_err(&path, e))?;
    moved.insert(0, kept);
    tracing::warn!(%folder, model = %embed_model, "meta.json was damaged; rebuilt it");
    write_meta(
        dir,
        &IndexMeta {
            version: META_VERSION,
            embed_model,
            dimension,
            vectors: folder,
            reembed: None,
        },
    )?;
    Ok(moved)
}

/// Writes every file under `path` and the folders themselves to disk, so that
/// a switch to them survives a power loss.
pub(crate) fn sync_tree(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| io_err(path, e))? {
            let entry = entry.map_err(|e| io_err(path, e))?;
            sync_tree(&entry.path())?;
        }
    } else if !meta.is_file() {
        return Ok(());
    }
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(path, e))
}

/// Gives the vector folder in use its marker if it has none (indexes from
/// before markers, and new ones).
fn ensure_marker(dir: &Path, meta: &IndexMeta) -> Result<()> {
    let folder = dir.join(&meta.vectors);
    if read_marker(&folder).is_some() {
        return Ok(());
    }
    write_marker(&folder, &meta.embed_model, meta.dimension, true)
}

/// Removes vector folders that `meta` no longer uses: the old folder of a
/// finished re-embedding (removed after the switch, so a crash can leave it).
/// Quarantined folders (`.damaged-` names) are never touched. Best effort: a
/// folder that cannot be removed is logged and tried again at the next open.
fn remove_stale_vectors(dir: &Path, meta: &IndexMeta) {
    for name in vectors_dirs(dir) {
        let in_use =
            name == meta.vectors || meta.reembed.as_ref().is_some_and(|t| t.vectors == name);
        if in_use {
            continue;
        }
        let path = dir.join(&name);
        match remove_vectors_dir(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed an unused vector folder"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove an unused vector folder")
            }
        }
    }
}

/// Removes a vector folder, its marker first: a folder left half-removed is
/// never taken for a complete one.
pub(crate) fn remove_vectors_dir(path: &Path) -> Result<()> {
    match std::fs::remove_file(path.join(MARKER)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path, e)),
    }
    std::fs::remove_dir_all(path).map_err(|e| io_err(path, e))
}

/// Opens the LanceDB table and reads all of it, so a damaged data file shows up here
/// rather than in the middle of a search.
async fn open_readable_vectors(dir: &Path, dim: usize) -> Result<vector::VectorTable> {
    let v = vector::VectorTable::open(dir, dim).await?;
    v.check_readable().await?;
    Ok(v)
}

/// Where a damaged file or folder is kept: `<name>.damaged-<ms>` beside it.
fn damaged_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{}", cairn_core::now_ms()));
    path.with_file_name(name)
}

/// Renames a damaged file or folder to `<name>.damaged-<ms>` and returns the new path.
fn quarantine(path: &Path) -> Result<PathBuf> {
    let to = damaged_name(path);
    std::fs::rename(path, &to).map_err(|e| io_err(path, e))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_folder_names_are_checked_and_ordered() {
        for good in ["lance", "lance-1", "lance-1796308519198"] {
            assert!(is_vectors_dir_name(good), "{good}");
        }
        for bad in [
            "lance-",
            "lance-1/../x",
            "../lance",
            "lance.damaged-5",
            "tantivy",
            "",
        ] {
            assert!(!is_vectors_dir_name(bad), "{bad}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(oldest_vectors_dir(dir.path()), "lance");
        // A folder named by a clock far ahead of this one: the next name still
        // sorts after it, so the oldest folder stays the one started first.
        let ahead = u128::try_from(cairn_core::now_ms()).unwrap() + 1_000_000;
        for name in ["lance", &format!("lance-{ahead}"), "lance.damaged-7"] {
            std::fs::create_dir(dir.path().join(name)).expect("mkdir");
        }
        assert_eq!(next_vectors_dir(dir.path()), format!("lance-{}", ahead + 1));
        assert_eq!(oldest_vectors_dir(dir.path()), "lance");
    }
}
