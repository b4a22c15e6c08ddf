//! The library: what is indexed, and the rule that only what is indexed can be
//! read back.
//!
//! A shell may name any path to index, but it reads a page again, opens a file
//! or re-indexes only through these methods, which refuse a path that is not a
//! document in the catalogue ([`EngineError::NotInLibrary`]). The desktop app's
//! window can therefore never make the app read an arbitrary file.

use crate::ingest::{CancelFlag, IngestReport, Progress};
use crate::{DocEntry, Engine, EngineError, Result};
use serde::Serialize;
use std::path::PathBuf;

/// One page of an indexed document as its file reads now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourcePage {
    pub path: String,
    /// 1-based page; `None` for unpaged formats.
    pub page: Option<u32>,
    /// Pages the document has now.
    pub pages: u32,
    pub text: String,
}

/// Asks the loader for OCR of one page only.
struct OnePage(u32);

impl cairn_load::LoadObserver for OnePage {
    fn wants_ocr(&self, number: u32) -> bool {
        number == self.0
    }
    fn text_required(&self) -> bool {
        false
    }
}

impl Engine {
    /// The catalogue entry of an indexed document.
    pub fn document(&self, path: &str) -> Result<DocEntry> {
        self.store
            .entry(path)
            .ok_or_else(|| EngineError::NotInLibrary {
                path: path.to_string(),
            })
    }

    /// The file of an indexed document, for opening it with another program.
    pub fn document_file(&self, path: &str) -> Result<PathBuf> {
        self.document(path).map(|d| PathBuf::from(d.path))
    }

    /// Reads page `page` (the first page when `None`) of an indexed document
    /// from its file again, so a passage can be shown in its context.
    pub async fn source_page(&self, path: &str, page: Option<u32>) -> Result<SourcePage> {
        let file = self.document_file(path)?;
        let opts = self.cfg.load.clone();
        // Of a scan, only the page shown is read by OCR again.
        let only = OnePage(page.unwrap_or(1));
        let doc =
            tokio::task::spawn_blocking(move || cairn_load::load_observed(&file, &opts, &only))
                .await??;
        let pages = doc.pages.len() as u32;
        let found = match page {
            Some(n) => doc.pages.into_iter().find(|p| p.number == Some(n)),
            None => doc.pages.into_iter().next(),
        };
        let found = found.ok_or_else(|| EngineError::NoSuchPage {
            path: path.to_string(),
            page: page.unwrap_or(1),
        })?;
        Ok(SourcePage {
            path: path.to_string(),
            page: found.number,
            pages,
            text: found.text,
        })
    }

    /// Reads indexed documents again even if their files look unchanged (after a
    /// loader improvement, say). Every path must be an indexed document.
    pub async fn reindex(
        &self,
        paths: &[String],
        progress: &(dyn Fn(&Progress) + Send + Sync),
        cancel: &CancelFlag,
    ) -> Result<IngestReport> {
        let files = paths
            .iter()
            .map(|p| self.document_file(p))
            .collect::<Result<Vec<_>>>()?;
        self.sync(&files, true, progress, cancel).await
    }

    /// Removes one indexed document (the file itself is untouched).
    pub async fn remove_document(&self, path: &str) -> Result<()> {
        let file = self.document_file(path)?;
        self.remove(&[file]).await?;
        Ok(())
    }
}
