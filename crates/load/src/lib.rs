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
//! - [`load_bytes`] does the same for content already in memory.
//! - [`open_regular`] opens a file without ever blocking on a named pipe and
//!   refuses anything that is not a regular file.
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
mod file;
mod html;
mod markdown;
mod ooxml;
mod pdf;
mod slides;
mod table;
mod text;
mod walk;

use std::path::Path;
use std::time::Duration;

use cairn_core::{Document, Page};

pub use cairn_core::Format;
pub use detect::detect;
pub use error::{LoadError, Result, SizeKind};
pub use file::open_regular;
pub use walk::{walk, Skipped, WalkOptions, WalkResult};

/// Limits applied by [`load`] and [`load_bytes`].
///
/// Together they bound what one file can cost: at most `max_file_bytes` are
/// read (PDF and DOCX) or `max_text_bytes` (text-like formats), and at most
/// `max_text_bytes` of text leave the loader to be chunked and embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Any file larger than this is refused with [`LoadError::TooLarge`]
    /// before any byte is read. Default: 256 MiB, room for PDFs and DOCX files
    /// whose size is mostly images.
    pub max_file_bytes: u64,
    /// Text-like files (plain text, Markdown, HTML, code) larger than this are
    /// refused before any byte is read, and so is a PDF or DOCX whose extracted
    /// text exceeds it. Default: 32 MiB. For these formats size is text, and
    /// text is what costs time: 32 MiB is about 40 000 chunks, which take
    /// about a quarter of an hour to embed on a laptop CPU, and a few hundred
    /// MB of memory on the way; a 500 MB log would take hours.
    pub max_text_bytes: u64,
    /// How long PDF extraction may take before [`LoadError::Timeout`].
    /// Default: 60 s. On timeout the extraction thread is abandoned, not
    /// killed: it keeps running in the background until it finishes.
    pub pdf_timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: 256 * 1024 * 1024,
            max_text_bytes: 32 * 1024 * 1024,
            pdf_timeout: Duration::from_secs(60),
        }
    }
}

impl LoadOptions {
    /// The size limit for a file of this format on disk, and its name.
    fn file_limit(&self, format: Format) -> (u64, SizeKind) {
        match format {
            Format::Pdf | Format::Docx | Format::Slides => (self.max_file_bytes, SizeKind::File),
            Format::Markdown | Format::Text | Format::Code | Format::Html | Format::Table => (
                self.max_text_bytes.min(self.max_file_bytes),
                SizeKind::TextFile,
            ),
        }
    }
}

/// Loads one file.
///
/// The format comes from [`detect`]. Unpaged formats yield a single page with
/// `number: None`; PDFs yield one page per PDF page, numbered as a viewer
/// numbers them, including pages without text (whose text is empty).
///
/// Only regular files are read: a named pipe, a device or a folder is refused
/// with [`LoadError::Io`] without blocking, even when it replaced a regular
/// file after the folder was scanned.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Document> {
    let (file, size) = file::open_regular(path)?;
    let format = detect::classify(path)?;
    check_size_as(path, format, size, opts)?;
    match format {
        // A DOCX is a zip archive read by seeking; it is not loaded whole.
        Format::Docx => finish(
            path,
            format,
            docx_pages(path, std::io::BufReader::new(file), opts)?,
            opts,
        ),
        Format::Slides => finish(
            path,
            format,
            slides::load(
                path,
                std::io::BufReader::new(file),
                opts.max_file_bytes,
                opts.max_text_bytes,
            )?,
            opts,
        ),
        _ => {
            let (limit, what) = opts.file_limit(format);
            let bytes = file::read_capped(path, file, size, limit, what)?;
            load_bytes(path, format, bytes, opts)
        }
    }
}

/// Loads a file's content that is already in memory, as `format`.
///
/// `path` only names the document (in the result and in errors); nothing is
/// read from it. The same limits as [`load`] apply. This is the loaders' whole
/// parsing surface, which the fuzz targets in `fuzz/` exercise.
pub fn load_bytes(
    path: &Path,
    format: Format,
    bytes: Vec<u8>,
    opts: &LoadOptions,
) -> Result<Document> {
    check_size_as(path, format, bytes.len() as u64, opts)?;
    let unpaged = |text: String, headings| {
        vec![Page {
            number: None,
            text,
            headings,
        }]
    };
    let pages = match format {
        Format::Pdf => pdf::load(path, bytes, opts.pdf_timeout)?,
        Format::Docx => docx_pages(path, std::io::Cursor::new(bytes), opts)?,
        Format::Slides => slides::load(
            path,
            std::io::Cursor::new(bytes),
            opts.max_file_bytes,
            opts.max_text_bytes,
        )?,
        Format::Html => {
            let source = html::decode(&bytes).map_err(|p| text_problem(path, p))?;
            drop(bytes);
            let (text, headings) = html::extract(&source);
            if text.is_empty() {
                return Err(LoadError::Empty {
                    path: path.to_path_buf(),
                });
            }
            unpaged(text, headings)
        }
        Format::Table => {
            let source = text::decode(&bytes, None).map_err(|p| text_problem(path, p))?;
            drop(bytes);
            let (text, headings) = table::rows_as_text(&source, &detect::extension(path))
                .map_err(|reason| LoadError::corrupt(path, reason))?;
            if text.trim().is_empty() {
                return Err(LoadError::Empty {
                    path: path.to_path_buf(),
                });
            }
            unpaged(text, headings)
        }
        Format::Markdown | Format::Text | Format::Code => {
            let text = text::decode(&bytes, None).map_err(|p| text_problem(path, p))?;
            drop(bytes);
            let headings = if format == Format::Markdown {
                markdown::headings(&text)
            } else {
                Vec::new()
            };
            unpaged(text, headings)
        }
    };
    finish(path, format, pages, opts)
}

/// Refuses a file of `size` bytes that [`load`] would refuse for its size,
/// with the same [`LoadError::TooLarge`] or [`LoadError::Empty`], without
/// reading it (only files without a telling extension are sniffed). Lets a
/// caller skip work such as hashing a file that cannot be loaded anyway.
pub fn check_size(path: &Path, size: u64, opts: &LoadOptions) -> Result<()> {
    check_size_as(path, detect::classify(path)?, size, opts)
}

fn check_size_as(path: &Path, format: Format, size: u64, opts: &LoadOptions) -> Result<()> {
    let (limit, what) = opts.file_limit(format);
    if size > limit {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
            what,
        });
    }
    if size == 0 {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn docx_pages<R: std::io::Read + std::io::Seek>(
    path: &Path,
    reader: R,
    opts: &LoadOptions,
) -> Result<Vec<Page>> {
    // The XML part is bounded by the file limit (markup is several times the
    // size of its text); the text itself is checked in `finish`.
    let (text, headings) = docx::load(path, reader, opts.max_file_bytes)?;
    if text.trim().is_empty() {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(vec![Page {
        number: None,
        text,
        headings,
    }])
}

/// Applies the extracted-text limit, which matters for containers (PDF, DOCX)
/// whose text can be far larger than the file: compressed streams expand.
fn finish(path: &Path, format: Format, pages: Vec<Page>, opts: &LoadOptions) -> Result<Document> {
    let text_bytes: u64 = pages.iter().map(|p| p.text.len() as u64).sum();
    if text_bytes > opts.max_text_bytes {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: text_bytes,
            limit: opts.max_text_bytes,
            what: SizeKind::ExtractedText,
        });
    }
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
