use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a file could not be turned into a [`cairn_core::Document`].
///
/// Every variant carries the file's path, and every message names it, so a
/// list of failures from a folder scan is readable without extra context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file type is not one Cairn reads (images, archives, executables...).
    #[error("{}: unsupported file type{}", path.display(), describe_ext(ext))]
    Unsupported { path: PathBuf, ext: String },
    /// The file has no bytes, or only whitespace.
    #[error("{}: file is empty", path.display())]
    Empty { path: PathBuf },
    /// The content is not text, whatever the file name says.
    #[error("{}: binary content, not text", path.display())]
    Binary { path: PathBuf },
    /// The file is password-protected; Cairn does not ask for passwords.
    #[error("{}: file is encrypted (password protected)", path.display())]
    Encrypted { path: PathBuf },
    /// The file claims a format but its content is damaged or malformed.
    #[error("{}: file is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The file, or the text extracted from it, exceeds a limit of
    /// [`crate::LoadOptions`]; `what` says which.
    #[error(
        "{}: {what} is too large ({} > limit {})",
        path.display(),
        mib(*size),
        mib(*limit)
    )]
    TooLarge {
        path: PathBuf,
        /// Bytes seen (file size, or UTF-8 bytes of extracted text).
        size: u64,
        limit: u64,
        what: SizeKind,
    },
    /// Extraction ran longer than [`crate::LoadOptions::pdf_timeout`], or one
    /// page's OCR longer than [`crate::LoadOptions::ocr_page_timeout`].
    #[error("{}: reading it went past the time limit ({limit:?})", path.display())]
    Timeout { path: PathBuf, limit: Duration },
    /// The file is well formed but holds no extractable text, e.g. a scanned PDF
    /// without a text layer.
    #[error("{}: no extractable text (scanned or image-only?)", path.display())]
    NoText { path: PathBuf },
    /// The file is an image, or a PDF without a text layer, and OCR is off or
    /// Tesseract is not installed.
    #[error(
        "{}: no text layer, and OCR is not available (install tesseract-ocr and tesseract-ocr-eng)",
        path.display()
    )]
    OcrUnavailable { path: PathBuf },
    /// A helper process reading the file (OCR) needed more memory than
    /// [`crate::LoadOptions::ocr_memory_bytes`] allows.
    #[error("{}: reading it needed more than the memory limit ({})", path.display(), mib(*limit))]
    MemoryLimit { path: PathBuf, limit: u64 },
    /// The caller cancelled a long load (OCR).
    #[error("{}: cancelled", path.display())]
    Cancelled { path: PathBuf },
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Which limit a [`LoadError::TooLarge`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SizeKind {
    /// The file on disk, against [`crate::LoadOptions::max_file_bytes`].
    File,
    /// A plain-text-like file (text, Markdown, HTML, code) on disk, against
    /// [`crate::LoadOptions::max_text_bytes`].
    TextFile,
    /// The text extracted from a PDF, DOCX or PPTX, against
    /// [`crate::LoadOptions::max_text_bytes`].
    ExtractedText,
    /// The parts of an archive (an e-book's chapters) decompressed together,
    /// against [`crate::LoadOptions::max_file_bytes`].
    Unpacked,
}

impl std::fmt::Display for SizeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SizeKind::File => "file",
            SizeKind::TextFile => "text file",
            SizeKind::ExtractedText => "extracted text",
            SizeKind::Unpacked => "unpacked content",
        })
    }
}

/// Sizes for people: one decimal in MiB, bytes below 1 MiB.
pub(crate) fn mib(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes < MIB {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

fn describe_ext(ext: &str) -> String {
    if ext.is_empty() {
        " (no extension)".to_string()
    } else {
        format!(" (.{ext})")
    }
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Unsupported { path, .. }
            | LoadError::Empty { path }
            | LoadError::Binary { path }
            | LoadError::Encrypted { path }
            | LoadError::Corrupt { path, .. }
            | LoadError::TooLarge { path, .. }
            | LoadError::Timeout { path, .. }
            | LoadError::NoText { path }
            | LoadError::OcrUnavailable { path }
            | LoadError::MemoryLimit { path, .. }
            | LoadError::Cancelled { path }
            | LoadError::Io { path, .. } => path,
        }
    }

    /// A stable, lower-case name of the variant, for logs, catalogues and the UI
    /// (which reacts to the kind rather than parsing messages).
    pub fn kind(&self) -> &'static str {
        match self {
            LoadError::Unsupported { .. } => "unsupported",
            LoadError::Empty { .. } => "empty",
            LoadError::Binary { .. } => "binary",
            LoadError::Encrypted { .. } => "encrypted",
            LoadError::Corrupt { .. } => "corrupt",
            LoadError::TooLarge { .. } => "too_large",
            LoadError::Timeout { .. } => "timeout",
            LoadError::NoText { .. } => "no_text",
            LoadError::OcrUnavailable { .. } => "ocr_unavailable",
            LoadError::MemoryLimit { .. } => "memory_limit",
            LoadError::Cancelled { .. } => "cancelled",
            LoadError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LoadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        LoadError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = LoadError> = std::result::Result<T, E>;
