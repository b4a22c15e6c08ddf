//! The document catalogue: one entry per indexed file, persisted as JSON.
//!
//! The catalogue is the source of truth for *which documents are complete*. The
//! vector table and keyword index may briefly hold chunks of documents that are
//! being written; readers ignore any chunk whose document is not `Indexed` here
//! with the same content hash, and repair deletes such chunks.
//!
//! Writes go to a temporary file that is fsynced and renamed over the old one, so
//! a crash leaves either the old or the new catalogue, never a torn one.

use crate::{io_err, write_atomic, Result, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a document stands in the write protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocStatus {
    /// Chunks are being written (or a write was interrupted).
    Pending,
    /// All chunks are in both stores.
    Indexed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocEntry {
    /// Absolute path of the file.
    pub path: String,
    /// Stable key derived from the path; used as the delete key in both stores.
    pub doc_id: String,
    /// blake3 hash of the file's bytes, hex.
    pub content_hash: String,
    pub size: u64,
    /// Modification time in milliseconds since the Unix epoch.
    pub mtime_ms: i64,
    pub format: String,
    pub pages: u32,
    pub chunks: u32,
    pub status: DocStatus,
    /// When the entry was last written, milliseconds since the Unix epoch.
    pub indexed_at_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogueFile {
    version: u32,
    documents: Vec<DocEntry>,
}

/// In-memory catalogue keyed by path, with atomic persistence.
#[derive(Debug)]
pub struct Catalogue {
    file: PathBuf,
    entries: BTreeMap<String, DocEntry>,
}

const VERSION: u32 = 1;

impl Catalogue {
    /// Loads the catalogue from `file`, or starts an empty one if it does not exist.
    pub fn load(file: &Path) -> Result<Self> {
        let entries = match std::fs::read(file) {
            Ok(bytes) => {
                let parsed: CatalogueFile =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                        path: file.to_path_buf(),
                        reason: format!("{e} (a repair rebuilds it from the vector store)"),
                    })?;
                if parsed.version > VERSION {
                    return Err(StoreError::NewerFormat {
                        path: file.to_path_buf(),
                        found: parsed.version,
                        supported: VERSION,
                    });
                }
                if parsed.version != VERSION {
                    return Err(StoreError::Corrupt {
                        path: file.to_path_buf(),
                        reason: format!("unsupported catalogue version {}", parsed.version),
                    });
                }
                parsed
                    .documents
                    .into_iter()
                    .map(|d| (d.path.clone(), d))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io_err(file, e)),
        };
        Ok(Catalogue {
            file: file.to_path_buf(),
            entries,
        })
    }

    pub fn get(&self, path: &str) -> Option<&DocEntry> {
        self.entries.get(path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &DocEntry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn upsert(&mut self, entry: DocEntry) {
        self.entries.insert(entry.path.clone(), entry);
    }

    pub fn remove(&mut self, path: &str) -> Option<DocEntry> {
        self.entries.remove(path)
    }

    /// Total chunks of documents marked indexed.
    pub fn indexed_chunks(&self) -> u64 {
        self.entries
            .values()
            .filter(|e| e.status == DocStatus::Indexed)
            .map(|e| u64::from(e.chunks))
            .sum()
    }

    /// Writes the catalogue atomically (temp file, fsync, rename, fsync dir).
    pub fn save(&self) -> Result<()> {
        let body = CatalogueFile {
            version: VERSION,
            documents: self.entries.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| StoreError::Corrupt {
            path: self.file.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.file, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, status: DocStatus, chunks: u32) -> DocEntry {
        DocEntry {
            path: path.into(),
            doc_id: format!("id-{path}"),
            content_hash: "h".into(),
            size: 1,
            mtime_ms: 0,
            format: "text".into(),
            pages: 1,
            chunks,
            status,
            indexed_at_ms: 0,
        }
    }

    #[test]
    fn round_trips_and_counts_only_indexed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("catalogue.json");
        let mut c = Catalogue::load(&file).expect("empty catalogue");
        assert!(c.is_empty());
        c.upsert(entry("/a", DocStatus::Indexed, 3));
        c.upsert(entry("/b", DocStatus::Pending, 5));
        c.save().expect("save");
        let c2 = Catalogue::load(&file).expect("reload");
        assert_eq!(c2.len(), 2);
        assert_eq!(c2.indexed_chunks(), 3);
        assert_eq!(c2.get("/b").map(|e| e.status), Some(DocStatus::Pending));
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("catalogue.json");
        std::fs::write(&file, b"{not json").expect("write");
        let err = Catalogue::load(&file).expect_err("corrupt");
        assert!(err.to_string().contains("catalogue.json"), "{err}");
    }
}
