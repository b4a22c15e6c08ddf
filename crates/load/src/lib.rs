//! Cairn's loaders: files in, [`cairn_core::Document`]s out.
//!
//! - [`load`] reads one file into a [`Document`](cairn_core::Document): PDF
//!   (page by page, 1-based page numbers), plain text, Markdown, HTML, source
//!   code and configuration, and DOCX. Markdown, HTML and DOCX headings are
//!   recorded with byte offsets into the page text.
//! - [`detect`] names a file's [`Format`] from its extension, sniffing the
//!   first bytes of extension-less files such as `LICENSE`.
//! - [`walk`] lists the loadable files under folders, honouring hidden files
//!   and `.gitignore`, and reports what it skipped and why.
//! - [`LoadError`] says why a file was not loaded, always naming the file, with
//!   variants a caller can act on (encrypted, empty, too large, timed out...).
//!
//! Text is decoded from its byte order mark, a declared HTML charset, UTF-8,
//! or else a `chardetng` guess; line endings become `\n`. PDF extraction runs
//! on a watchdog thread because the underlying parser can panic or loop on
//! damaged files (see the `pdf` module).

mod detect;
mod docx;
mod error;
mod html;
mod markdown;
mod pdf;
mod text;
mod walk;

use std::path::Path;
use std::time::Duration;

use cairn_core::{Document, Page};

pub use cairn_core::Format;
pub use detect::detect;
pub use error::{LoadError, Result};
pub use walk::{walk, Skipped, WalkOptions, WalkResult};

/// Limits applied by [`load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Files larger than this are refused with [`LoadError::TooLarge`] before
    /// any byte is read. Default: 256 MiB.
    pub max_file_bytes: u64,
    /// How long PDF extraction may take before [`LoadError::Timeout`].
    /// Default: 60 s. On timeout the extraction thread is abandoned, not
    /// killed: it keeps running in the background until it finishes.
    pub pdf_timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: 256 * 1024 * 1024,
            pdf_timeout: Duration::from_secs(60),
        }
    }
}

/// Loads one file.
///
/// The format comes from [`detect`]. Unpaged formats yield a single page with
/// `number: None`; PDFs yield one page per PDF page, numbered as a viewer
/// numbers them, including pages without text (whose text is empty).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Document> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    if meta.is_dir() {
        return Err(LoadError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    let format = detect::classify(path)?;
    let size = meta.len();
    if size > opts.max_file_bytes {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: opts.max_file_bytes,
        });
    }
    if size == 0 {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
        });
    }

    let unpaged = |text: String, headings| {
        vec![Page {
            number: None,
            text,
            headings,
        }]
    };
    let pages = match format {
        Format::Pdf => {
            let bytes = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
            pdf::load(path, bytes, opts.pdf_timeout)?
        }
        Format::Docx => {
            let (text, headings) = docx::load(path, opts.max_file_bytes)?;
            if text.trim().is_empty() {
                return Err(LoadError::Empty {
                    path: path.to_path_buf(),
                });
            }
            unpaged(text, headings)
        }
        Format::Html => {
            let bytes = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
            let source = html::decode(&bytes).map_err(|p| text_problem(path, p))?;
            let (text, headings) = html::extract(&source);
            if text.is_empty() {
                return Err(LoadError::Empty {
                    path: path.to_path_buf(),
                });
            }
            unpaged(text, headings)
        }
        Format::Markdown | Format::Text | Format::Code => {
            let bytes = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
            let text = text::decode(&bytes, None).map_err(|p| text_problem(path, p))?;
            let headings = if format == Format::Markdown {
                markdown::headings(&text)
            } else {
                Vec::new()
            };
            unpaged(text, headings)
        }
    };
    Ok(Document {
        path: path.to_path_buf(),
        format,
        pages,
    })
}

fn text_problem(path: &Path, problem: text::TextProblem) -> LoadError {
    let path = path.to_path_buf();
    match problem {
        text::TextProblem::Binary => LoadError::Binary { path },
        text::TextProblem::Empty => LoadError::Empty { path },
    }
}
