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

mod child;
mod detect;
mod docx;
mod ebook;
mod error;
mod file;
mod html;
mod markdown;
pub mod ocr;
mod ooxml;
mod pdf;
mod sheets;
mod slides;
mod table;
mod text;
mod walk;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Read images, and PDF pages without a text layer, with OCR (Tesseract)
    /// when it is installed. Default: on.
    pub ocr: bool,
    /// Tesseract language codes joined by `+`, e.g. `eng+deu`. Default: `eng`.
    pub ocr_languages: String,
    /// Resolution PDF pages are rendered at for OCR. Default: 300 dpi, which
    /// read the evaluation PDFs with far fewer errors than 150 (see
    /// docs/BENCHMARKS.md).
    pub ocr_dpi: u32,
    /// How long rendering or reading one page may take before the child is
    /// killed and the file fails with [`LoadError::Timeout`]. Default: 120 s
    /// (a dense page takes 1–3 s on a laptop core).
    pub ocr_page_timeout: Duration,
    /// Address-space limit of each OCR child process; one that needs more
    /// fails its file with [`LoadError::MemoryLimit`]. Default: 2 GiB, several
    /// times what a 300-dpi page needs.
    pub ocr_memory_bytes: u64,
    /// The `cairn-load-worker` program: when set, PDF, DOCX, PPTX, XLSX, ODS
    /// and EPUB files are parsed in it, a child process under
    /// [`Self::worker_timeout`] and [`Self::worker_memory_bytes`] (see the
    /// `worker` module and [`worker::find_worker`]). Default: none, parse
    /// in-process (the app and `cairn` set it).
    pub worker: Option<PathBuf>,
    /// How long the worker may take for one file before it is killed and
    /// the file fails with [`LoadError::Timeout`]. Default: 120 s.
    pub worker_timeout: Duration,
    /// The worker's address-space limit; a file that needs more fails with
    /// [`LoadError::MemoryLimit`]. Default: 4 GiB.
    pub worker_memory_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: 256 * 1024 * 1024,
            max_text_bytes: 32 * 1024 * 1024,
            pdf_timeout: Duration::from_secs(60),
            ocr: true,
            ocr_languages: "eng".to_string(),
            ocr_dpi: 300,
            ocr_page_timeout: Duration::from_secs(120),
            ocr_memory_bytes: 2 * 1024 * 1024 * 1024,
            worker: None,
            worker_timeout: Duration::from_secs(120),
            worker_memory_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// Follows a load that may take long, OCR above all, and can stop it.
///
/// `()` is the observer that sees nothing and never cancels.
pub trait LoadObserver: Sync {
    /// `done` of the `total` pages that need OCR are read; called with
    /// `done == 0` before the first one starts.
    fn ocr_progress(&self, _done: u32, _total: u32) {}
    /// Polled during long work; `true` stops the load with
    /// [`LoadError::Cancelled`] (a running OCR child is killed).
    fn cancelled(&self) -> bool {
        false
    }
    /// Whether PDF page `number`, which has no text layer, should be read by
    /// OCR; a page left out keeps its empty text. Showing one page of a scan
    /// needs only that page read.
    fn wants_ocr(&self, _number: u32) -> bool {
        true
    }
    /// Whether a PDF none of whose read pages has text is an error
    /// ([`LoadError::NoText`]). An observer that reads one page of a scan
    /// says no: that page may simply be blank.
    fn text_required(&self) -> bool {
        true
    }
}

impl LoadObserver for () {}

impl LoadOptions {
    /// The size limit for a file of this format on disk, and its name.
    fn file_limit(&self, format: Format) -> (u64, SizeKind) {
        match format {
            Format::Pdf
            | Format::Docx
            | Format::Slides
            | Format::Spreadsheet
            | Format::Ebook
            | Format::Image => (self.max_file_bytes, SizeKind::File),
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
    load_observed(path, opts, &())
}

/// [`load`], reporting OCR progress to `observer` and stopping when it says
/// so. Images are read by OCR, and so are the pages of a PDF that have no
/// text layer (see [`LoadOptions::ocr`]).
pub fn load_observed(
    path: &Path,
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Document> {
    let (file, size) = file::open_regular(path)?;
    let format = detect::classify(path)?;
    check_size_as(path, format, size, opts)?;
    if let Some(exe) = opts.worker.as_deref().filter(|_| worker::isolated(format)) {
        drop(file);
        let mut pages = worker::parse(exe, path, format, opts, observer)?;
        if format == Format::Pdf {
            // OCR is driven from here, with the file's bytes, only if needed.
            if pages
                .iter()
                .any(|p| ocr::word_chars(&p.text) < ocr::SCANNED_BELOW)
            {
                let (file, size) = file::open_regular(path)?;
                let bytes =
                    file::read_capped(path, file, size, opts.max_file_bytes, SizeKind::File)?;
                ocr_scanned_pages(path, &bytes, &mut pages, opts, observer)?;
            }
            if observer.text_required() && pages.iter().all(|p| p.text.is_empty()) {
                return Err(no_text(path, opts));
            }
        }
        return finish(path, format, pages, opts);
    }
    match format {
        // A DOCX is a zip archive read by seeking; it is not loaded whole.
        Format::Docx => finish(
            path,
            format,
            docx_pages(path, std::io::BufReader::new(file), opts)?,
            opts,
        ),
        Format::Slides | Format::Spreadsheet | Format::Ebook => finish(
            path,
            format,
            archive_pages(path, format, std::io::BufReader::new(file), opts)?,
            opts,
        ),
        _ => {
            let (limit, what) = opts.file_limit(format);
            let bytes = file::read_capped(path, file, size, limit, what)?;
            load_bytes_observed(path, format, bytes, opts, observer)
        }
    }
}

/// The pages of a file of one of the worker's formats as its parser gives
/// them: a PDF's pages before OCR (those without a text layer empty), within
/// the extracted-text limit. What `cairn-load-worker` runs.
pub(crate) fn parse_in_process(
    path: &Path,
    format: Format,
    opts: &LoadOptions,
) -> Result<Vec<Page>> {
    let (file, size) = file::open_regular(path)?;
    check_size_as(path, format, size, opts)?;
    let pages = match format {
        Format::Pdf => {
            let bytes = file::read_capped(path, file, size, opts.max_file_bytes, SizeKind::File)?;
            pdf::load(path, Arc::new(bytes), opts.pdf_timeout)
        }
        Format::Docx => docx_pages(path, std::io::BufReader::new(file), opts),
        Format::Slides | Format::Spreadsheet | Format::Ebook => {
            archive_pages(path, format, std::io::BufReader::new(file), opts)
        }
        _ => load(path, opts).map(|d| d.pages),
    }?;
    check_text(path, &pages, opts)?;
    Ok(pages)
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
    load_bytes_observed(path, format, bytes, opts, &())
}

fn load_bytes_observed(
    path: &Path,
    format: Format,
    bytes: Vec<u8>,
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
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
        Format::Pdf => {
            let bytes = Arc::new(bytes);
            let mut pages = pdf::load(path, bytes.clone(), opts.pdf_timeout)?;
            ocr_scanned_pages(path, &bytes, &mut pages, opts, observer)?;
            if observer.text_required() && pages.iter().all(|p| p.text.is_empty()) {
                return Err(no_text(path, opts));
            }
            pages
        }
        Format::Image => image_pages(path, &detect::extension(path), &bytes, opts, observer)?,
        Format::Docx => docx_pages(path, std::io::Cursor::new(bytes), opts)?,
        Format::Slides | Format::Spreadsheet | Format::Ebook => {
            archive_pages(path, format, std::io::Cursor::new(bytes), opts)?
        }
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

/// The pages of a zip-based format other than DOCX: slides, sheets, chapters.
/// Each XML part is bounded by the file limit; the text by the text limit.
fn archive_pages<R: std::io::Read + std::io::Seek>(
    path: &Path,
    format: Format,
    reader: R,
    opts: &LoadOptions,
) -> Result<Vec<Page>> {
    let limits = sheets::Limits {
        xml_bytes: opts.max_file_bytes,
        text_bytes: opts.max_text_bytes,
    };
    match format {
        Format::Slides => slides::load(path, reader, limits.xml_bytes, limits.text_bytes),
        Format::Spreadsheet if detect::extension(path) == "ods" => {
            sheets::load_ods(path, reader, &limits)
        }
        Format::Spreadsheet => sheets::load_xlsx(path, reader, &limits),
        Format::Ebook => ebook::load(path, reader, &limits),
        _ => Err(LoadError::Unsupported {
            path: path.to_path_buf(),
            ext: detect::extension(path),
        }),
    }
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
    check_text(path, &pages, opts)?;
    Ok(Document {
        path: path.to_path_buf(),
        format,
        pages,
    })
}

fn check_text(path: &Path, pages: &[Page], opts: &LoadOptions) -> Result<()> {
    let text_bytes: u64 = pages.iter().map(|p| p.text.len() as u64).sum();
    if text_bytes > opts.max_text_bytes {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: text_bytes,
            limit: opts.max_text_bytes,
            what: SizeKind::ExtractedText,
        });
    }
    Ok(())
}

/// Why a PDF or image yielded no text: OCR could have read it but is off or
/// not installed, or it really holds none.
fn no_text(path: &Path, opts: &LoadOptions) -> LoadError {
    let path = path.to_path_buf();
    if opts.ocr && ocr::available() {
        LoadError::NoText { path }
    } else {
        LoadError::OcrUnavailable { path }
    }
}

/// A private folder for OCR's copies of a file and its rendered pages,
/// removed when dropped.
fn scratch_dir(path: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("cairn-ocr-")
        .tempdir()
        .map_err(|e| LoadError::io(path, e))
}

/// Reads the pages of a PDF that have no text layer with OCR, when it is on
/// and installed. A page whose OCR fails keeps its (empty) text; if no page of
/// the file has text in the end, the first failure is the file's error.
fn ocr_scanned_pages(
    path: &Path,
    bytes: &[u8],
    pages: &mut [Page],
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<()> {
    let wanted: Vec<usize> = (0..pages.len())
        .filter(|&i| ocr::word_chars(&pages[i].text) < ocr::SCANNED_BELOW)
        .filter(|&i| observer.wants_ocr(pages[i].number.unwrap_or(i as u32 + 1)))
        .collect();
    let tools = match ocr::tools() {
        Some(tools) if opts.ocr && !wanted.is_empty() => tools,
        _ => return Ok(()),
    };
    let scratch = scratch_dir(path)?;
    let pdf = scratch.path().join("document.pdf");
    std::fs::write(&pdf, bytes).map_err(|e| LoadError::io(path, e))?;
    let total = wanted.len() as u32;
    observer.ocr_progress(0, total);
    let mut first_failure = None;
    for (done, &i) in wanted.iter().enumerate() {
        if observer.cancelled() {
            return Err(LoadError::Cancelled {
                path: path.to_path_buf(),
            });
        }
        let number = pages[i].number.unwrap_or(i as u32 + 1);
        match ocr::pdf_page(tools, &pdf, number, scratch.path(), opts, observer) {
            Ok(raw) => {
                let text = ocr::clean(&raw);
                if ocr::word_chars(&text) > ocr::word_chars(&pages[i].text) {
                    pages[i].text = text;
                    pages[i].headings.clear();
                }
            }
            Err(child::Failure::Cancelled) => {
                return Err(LoadError::Cancelled {
                    path: path.to_path_buf(),
                })
            }
            Err(failure) => {
                tracing::warn!(file = %path.display(), page = number, ?failure, "ocr failed");
                // A page that hits a limit says the file is hostile or far
                // too big for this machine: its other pages are not tried,
                // so one file costs at most one limit's worth of time.
                let give_up = matches!(
                    failure,
                    child::Failure::TimedOut | child::Failure::OutOfMemory
                );
                first_failure.get_or_insert(failure);
                if give_up {
                    observer.ocr_progress(total, total);
                    break;
                }
            }
        }
        observer.ocr_progress(done as u32 + 1, total);
    }
    match first_failure {
        Some(failure) if pages.iter().all(|p| p.text.is_empty()) => {
            Err(failure.into_error(path, &ocr::limits(opts), "ocr"))
        }
        _ => Ok(()),
    }
}

/// An image's text by OCR: one page, or one per frame of a multi-page TIFF
/// (numbered from 1).
fn image_pages(
    path: &Path,
    ext: &str,
    bytes: &[u8],
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Vec<Page>> {
    let tools = match ocr::tools() {
        Some(tools) if opts.ocr => tools,
        _ => return Err(no_text(path, opts)),
    };
    let scratch = scratch_dir(path)?;
    let image = scratch.path().join(format!("image.{ext}"));
    std::fs::write(&image, bytes).map_err(|e| LoadError::io(path, e))?;
    observer.ocr_progress(0, 1);
    let frames = ocr::image_frames(tools, &image, opts, observer)
        .map_err(|f| f.into_error(path, &ocr::limits(opts), "ocr"))?;
    observer.ocr_progress(1, 1);
    let numbered = frames.len() > 1;
    let pages: Vec<Page> = frames
        .iter()
        .enumerate()
        .map(|(i, raw)| Page {
            number: numbered.then_some(i as u32 + 1),
            text: ocr::clean(raw),
            headings: Vec::new(),
        })
        .collect();
    if pages.iter().all(|p| p.text.is_empty()) {
        return Err(LoadError::NoText {
            path: path.to_path_buf(),
        });
    }
    Ok(pages)
}

fn text_problem(path: &Path, problem: text::TextProblem) -> LoadError {
    let path = path.to_path_buf();
    match problem {
        text::TextProblem::Binary => LoadError::Binary { path },
        text::TextProblem::Empty => LoadError::Empty { path },
    }
}
