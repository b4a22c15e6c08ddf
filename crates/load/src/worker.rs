//! The parse worker: when [`LoadOptions::worker`] names the
//! `cairn-load-worker` program (shipped next to the app and `cairn`), files
//! of the formats whose parsers interpret untrusted structure (PDF, and the
//! zip-and-XML formats DOCX, PPTX, XLSX, ODS, EPUB) are parsed in a child
//! process under a time and a memory limit (see the `child` module). A
//! parser that aborts, loops or allocates without bound then fails its own
//! file, with an error naming the limit, and the ingest goes on.
//!
//! Text-like formats (text, Markdown, HTML, code, CSV) stay in-process: their
//! readers are this crate's own streaming code plus html5ever, and a file
//! costs microseconds to read where starting a process costs milliseconds
//! (docs/BENCHMARKS.md has the measurement). OCR runs in its own children
//! either way, driven from the caller's process, so its progress and
//! cancellation work the same with or without the worker.
//!
//! Protocol: `cairn-load-worker FORMAT OPTIONS-JSON PATH`; the worker prints
//! one JSON [`Reply`] on stdout and exits.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cairn_core::{Format, Page};
use serde::{Deserialize, Serialize};

use crate::child;
use crate::error::{LoadError, Result, SizeKind};
use crate::{LoadObserver, LoadOptions};

/// The environment variable that makes the worker fail on purpose, for the
/// tests that prove a failing parser costs only its file: `abort`, `loop`
/// or `alloc`.
pub const FAULT_VAR: &str = "CAIRN_LOAD_WORKER_FAULT";

/// Whether files of `format` are parsed in the worker when there is one.
pub(crate) fn isolated(format: Format) -> bool {
    matches!(
        format,
        Format::Pdf | Format::Docx | Format::Slides | Format::Spreadsheet | Format::Ebook
    )
}

/// The worker program installed beside `exe` (the running app or `cairn`):
/// in the same folder (a build, or `/usr/bin` for `cairn-load-worker` next to
/// `cairn`), or in `../lib/cairn/` (the package's private folder).
pub fn find_worker(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    [
        dir.join("cairn-load-worker"),
        dir.join("../lib/cairn/cairn-load-worker"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Pages(Vec<Page>),
    Failed(WireError),
}

/// A [`LoadError`] on its way from the worker; the path is the caller's.
#[derive(Debug, Serialize, Deserialize)]
enum WireError {
    Unsupported {
        ext: String,
    },
    Empty,
    Binary,
    Encrypted,
    Corrupt {
        reason: String,
    },
    TooLarge {
        size: u64,
        limit: u64,
        what: SizeKind,
    },
    Timeout {
        limit: Duration,
    },
    NoText,
    OcrUnavailable,
    MemoryLimit {
        limit: u64,
    },
    Cancelled,
    Io {
        message: String,
    },
}

impl WireError {
    fn from_error(e: &LoadError) -> Self {
        match e {
            LoadError::Unsupported { ext, .. } => WireError::Unsupported { ext: ext.clone() },
            LoadError::Empty { .. } => WireError::Empty,
            LoadError::Binary { .. } => WireError::Binary,
            LoadError::Encrypted { .. } => WireError::Encrypted,
            LoadError::Corrupt { reason, .. } => WireError::Corrupt {
                reason: reason.clone(),
            },
            LoadError::TooLarge {
                size, limit, what, ..
            } => WireError::TooLarge {
                size: *size,
                limit: *limit,
                what: *what,
            },
            LoadError::Timeout { limit, .. } => WireError::Timeout { limit: *limit },
            LoadError::NoText { .. } => WireError::NoText,
            LoadError::OcrUnavailable { .. } => WireError::OcrUnavailable,
            LoadError::MemoryLimit { limit, .. } => WireError::MemoryLimit { limit: *limit },
            LoadError::Cancelled { .. } => WireError::Cancelled,
            LoadError::Io { source, .. } => WireError::Io {
                message: source.to_string(),
            },
        }
    }

    fn into_error(self, path: &Path) -> LoadError {
        let path = path.to_path_buf();
        match self {
            WireError::Unsupported { ext } => LoadError::Unsupported { path, ext },
            WireError::Empty => LoadError::Empty { path },
            WireError::Binary => LoadError::Binary { path },
            WireError::Encrypted => LoadError::Encrypted { path },
            WireError::Corrupt { reason } => LoadError::Corrupt { path, reason },
            WireError::TooLarge { size, limit, what } => LoadError::TooLarge {
                path,
                size,
                limit,
                what,
            },
            WireError::Timeout { limit } => LoadError::Timeout { path, limit },
            WireError::NoText => LoadError::NoText { path },
            WireError::OcrUnavailable => LoadError::OcrUnavailable { path },
            WireError::MemoryLimit { limit } => LoadError::MemoryLimit { path, limit },
            WireError::Cancelled => LoadError::Cancelled { path },
            WireError::Io { message } => LoadError::Io {
                path,
                source: std::io::Error::other(message),
            },
        }
    }
}

/// The limits of one worker run.
fn limits(opts: &LoadOptions) -> child::Limits {
    child::Limits {
        time: opts.worker_timeout,
        memory_bytes: opts.worker_memory_bytes,
        // JSON escapes can grow text up to six times (control characters).
        output_bytes: opts.max_text_bytes.saturating_mul(6) + (1 << 20),
    }
}

/// Parses `path` (of `format`) in the worker program `exe`: the pages as the
/// in-process parser gives them, before OCR.
pub(crate) fn parse(
    exe: &Path,
    path: &Path,
    format: Format,
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Vec<Page>> {
    let limits = limits(opts);
    let options = serde_json::to_string(opts)
        .map_err(|e| LoadError::corrupt(path, format!("cannot start the parser: {e}")))?;
    let args: Vec<OsString> = vec![format.as_str().into(), options.into(), path.into()];
    let out = child::run(exe, &args, &[], &limits, observer)
        .map_err(|f| f.into_error(path, &limits, "parser"))?;
    match serde_json::from_slice::<Reply>(&out) {
        Ok(Reply::Pages(pages)) => Ok(pages),
        Ok(Reply::Failed(e)) => Err(e.into_error(path)),
        Err(e) => Err(LoadError::corrupt(
            path,
            format!("the parser gave no usable answer: {e}"),
        )),
    }
}

/// The worker's side: parses the file its arguments name and prints the
/// [`Reply`]. Exit status 2 for bad arguments, 0 otherwise (a file that fails
/// is a reply, not a crash).
#[doc(hidden)]
pub fn serve(args: &[OsString]) -> ExitCode {
    fault_for_tests();
    let [_, format, options, path] = args else {
        eprintln!("usage: cairn-load-worker FORMAT OPTIONS-JSON PATH (started by Cairn)");
        return ExitCode::from(2);
    };
    let Some(format) = format_named(format) else {
        eprintln!("cairn-load-worker: unknown format {format:?}");
        return ExitCode::from(2);
    };
    let opts: LoadOptions = match options.to_str().map(serde_json::from_str) {
        Some(Ok(opts)) => opts,
        _ => {
            eprintln!("cairn-load-worker: invalid options");
            return ExitCode::from(2);
        }
    };
    let path = Path::new(path);
    let reply = match crate::parse_in_process(path, format, &opts) {
        Ok(pages) => Reply::Pages(pages),
        Err(e) => Reply::Failed(WireError::from_error(&e)),
    };
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut stdout, &reply)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-load-worker: cannot reply: {e}");
            ExitCode::FAILURE
        }
    }
}

fn format_named(name: &OsStr) -> Option<Format> {
    [
        Format::Pdf,
        Format::Docx,
        Format::Slides,
        Format::Spreadsheet,
        Format::Ebook,
    ]
    .into_iter()
    .find(|f| name == f.as_str())
}

/// See [`FAULT_VAR`].
fn fault_for_tests() {
    match std::env::var(FAULT_VAR).as_deref() {
        Ok("abort") => std::process::abort(),
        Ok("loop") => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        Ok("alloc") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
            }
        }
        _ => {}
    }
}
