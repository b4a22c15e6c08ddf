//! Moving an index to another embedding model without losing what it holds.
//!
//! The vectors are the only part of an index that depends on the embedding model:
//! the chunk rows keep each passage's text, so new vectors can be computed from
//! them, with no need for the original files (which may have moved or gone). The
//! catalogue and the keyword index are kept as they are.
//!
//! Order, so that a crash or a kill at any point loses nothing:
//! 1. `meta.json` records the target (`reembed`: model, dimension, a new folder
//!    `lance-<ms>`); the index still answers with the old model.
//! 2. Chunks are read from the old folder in table order, embedded by the caller,
//!    and appended to the new folder ([`Reembedding::next_batch`],
//!    [`Reembedding::write`]).
//! 3. [`Reembedding::finish`] checks that every document has all its rows in the new
//!    folder, then rewrites `meta.json` naming the new model and folder: the
//!    switch is that one atomic write.
//! 4. The old folder is removed (again at the next writer's open if a crash came
//!    first).
//!
//! A re-embedding interrupted before step 3 resumes at the next
//! [`crate::Store::reembed`] for the same model: documents already complete in
//! the new folder are skipped, and a document with only part of its rows there
//! is written again.

use crate::vector::{ChunkStream, VectorTable};
use crate::{
    blocking, next_vectors_dir, read_meta, sync_tree, write_marker, write_meta, IndexMeta,
    ReembedTarget, Result, Store, StoreError, StoredChunk, META_VERSION,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Opens (or creates) a vector folder, reads all of it (rows written before a
/// crash may not have reached the disk whole) and counts its rows per document.
async fn open_counted(folder: &Path, dim: usize) -> Result<(VectorTable, HashMap<String, usize>)> {
    let table = VectorTable::open(folder, dim).await?;
    table.check_readable().await?;
    let counts = table.doc_counts().await?;
    Ok((table, counts))
}

/// A re-embedding in progress, from [`Store::reembed`]. It holds the writer lock
/// until it is finished or dropped.
pub struct Reembedding {
    /// The index as it is (old model); its lock is held throughout.
    store: Store,
    target: ReembedTarget,
    from_model: String,
    new: VectorTable,
    rows: ChunkStream,
    /// Rows per document in the old folder.
    old_counts: HashMap<String, usize>,
    /// Documents whose rows are all in the new folder already (resumed work).
    done: HashSet<String>,
    /// Rows read but not yet handed out.
    buffered: Vec<StoredChunk>,
    total: usize,
    handed_out: usize,
}

impl std::fmt::Debug for Reembedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reembedding")
            .field("from_model", &self.from_model)
            .field("target", &self.target)
            .field("total", &self.total)
            .field("handed_out", &self.handed_out)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts (or resumes) moving this index to the embedding model `model_id`
    /// with `dim`-sized vectors; see the module docs for the order of steps. The
    /// store must have been opened for writing with the index's current model.
    pub async fn reembed(self, model_id: &str, dim: usize) -> Result<Reembedding> {
        if self._lock.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let dir = self.dir.clone();
        let mut meta: IndexMeta = {
            let d = dir.clone();
            blocking(move || read_meta(&d))
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    path: dir.join("meta.json"),
                    reason: "missing while the index is open".into(),
                })?
        };
        let wanted = |t: &ReembedTarget| t.embed_model == model_id && t.dimension == dim;
        let target = match meta.reembed.clone() {
            Some(t) if wanted(&t) => {
                tracing::info!(model = model_id, folder = %t.vectors, "resuming a re-embedding");
                t
            }
            earlier => {
                if let Some(t) = earlier {
                    // A re-embedding for another model that never finished.
                    let path = dir.join(&t.vectors);
                    if path.exists() {
                        crate::remove_vectors_dir(&path)?;
                    }
                }
                let t = ReembedTarget {
                    embed_model: model_id.to_owned(),
                    dimension: dim,
                    vectors: next_vectors_dir(&dir),
                };
                meta.reembed = Some(t.clone());
                meta.version = META_VERSION;
                let (d, m) = (dir.clone(), meta.clone());
                blocking(move || write_meta(&d, &m)).await?;
                t
            }
        };
        let folder = dir.join(&target.vectors);
        {
            let (f, m) = (folder.clone(), model_id.to_owned());
            blocking(move || write_marker(&f, &m, dim, false)).await?;
        }
        let (new, new_counts) = match open_counted(&folder, dim).await {
            Ok(opened) => opened,
            Err(e) if e.is_damage() => {
                // Only derived data: start that folder again.
                tracing::warn!(error = %e, folder = %folder.display(), "the re-embedding's folder is damaged; starting it again");
                crate::remove_vectors_dir(&folder)?;
                let (f, m) = (folder.clone(), model_id.to_owned());
                blocking(move || write_marker(&f, &m, dim, false)).await?;
                open_counted(&folder, dim).await?
            }
            Err(e) => return Err(e),
        };
        let old_counts = self.vectors.doc_counts().await?;
        let partial: Vec<String> = new_counts
            .iter()
            .filter(|(doc, n)| old_counts.get(*doc) != Some(n))
            .map(|(doc, _)| doc.clone())
            .collect();
        if !partial.is_empty() {
            new.delete_docs(&partial).await?;
        }
        let done: HashSet<String> = new_counts
            .into_iter()
            .filter(|(doc, n)| old_counts.get(doc) == Some(n))
            .map(|(doc, _)| doc)
            .collect();
        let total = old_counts
            .iter()
            .filter(|(doc, _)| !done.contains(*doc))
            .map(|(_, n)| n)
            .sum();
        let rows = self.vectors.chunk_stream().await?;
        Ok(Reembedding {
            from_model: meta.embed_model,
            store: self,
            target,
            new,
            rows,
            old_counts,
            done,
            buffered: Vec::new(),
            total,
            handed_out: 0,
        })
    }
}

impl Reembedding {
    /// The model the index was built with.
    pub fn from_model(&self) -> &str {
        &self.from_model
    }

    /// Chunks that still need a vector (all of them unless resumed).
    pub fn total(&self) -> usize {
        self.total
    }

    /// Chunks handed out by [`Reembedding::next_batch`] so far.
    pub fn done(&self) -> usize {
        self.handed_out
    }

    /// Up to `max` chunks that need a vector, or an empty list when none is left.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<StoredChunk>> {
        let max = max.max(1);
        while self.buffered.len() < max {
            let Some(rows) = self.rows.next().await? else {
                break;
            };
            self.buffered
                .extend(rows.into_iter().filter(|c| !self.done.contains(&c.doc_id)));
        }
        let n = self.buffered.len().min(max);
        let batch: Vec<StoredChunk> = self.buffered.drain(..n).collect();
        self.handed_out += batch.len();
        Ok(batch)
    }

    /// Stores the new vectors of `chunks` (one each, in order).
    pub async fn write(&mut self, chunks: &[StoredChunk], vectors: &[Vec<f32>]) -> Result<()> {
        self.new.add(chunks, vectors).await
    }

    /// Switches the index to the new model once every document has all its rows
    /// in the new folder, and removes the old folder.
    pub async fn finish(self) -> Result<()> {
        let counts = self.new.doc_counts().await?;
        if counts != self.old_counts {
            let missing = self
                .old_counts
                .iter()
                .filter(|(doc, n)| counts.get(*doc) != Some(n))
                .count();
            return Err(StoreError::ReembedIncomplete {
                model: self.target.embed_model.clone(),
                folder: self.store.dir.join(&self.target.vectors),
                missing,
            });
        }
        let dir = self.store.dir.clone();
        // The new vectors reach the disk, and their marker says they are all
        // there, before meta.json points at them.
        {
            let folder = dir.join(&self.target.vectors);
            let (m, d) = (self.target.embed_model.clone(), self.target.dimension);
            blocking(move || {
                sync_tree(&folder)?;
                write_marker(&folder, &m, d, true)
            })
            .await?;
        }
        let old_folder = {
            let d = dir.clone();
            let mut meta =
                blocking(move || read_meta(&d))
                    .await?
                    .ok_or_else(|| StoreError::Corrupt {
                        path: dir.join("meta.json"),
                        reason: "missing while the index is open".into(),
                    })?;
            let old = std::mem::replace(&mut meta.vectors, self.target.vectors.clone());
            meta.version = META_VERSION;
            meta.embed_model = self.target.embed_model.clone();
            meta.dimension = self.target.dimension;
            meta.reembed = None;
            let d = dir.clone();
            blocking(move || write_meta(&d, &meta)).await?;
            old
        };
        tracing::info!(
            from = %self.from_model,
            to = %self.target.embed_model,
            chunks = self.handed_out,
            "the index now uses the new embedding model"
        );
        // Removed while the lock is still held; if this fails (or a crash comes
        // first), the next writer's open removes it.
        let Reembedding {
            store, new, rows, ..
        } = self;
        drop((rows, new));
        let path = dir.join(&old_folder);
        if let Err(e) = crate::remove_vectors_dir(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the old vector folder yet");
        }
        drop(store);
        Ok(())
    }
}
