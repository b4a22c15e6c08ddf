//! Offline OCR: images, and PDF pages without a text layer, read by Tesseract.
//!
//! Tesseract (and poppler's `pdftoppm`, which renders a PDF page to an image
//! for it) run as child processes, one page at a time, never inside Cairn's
//! own process, under the limits of the `child` module
//! ([`LoadOptions::ocr_page_timeout`], [`LoadOptions::ocr_memory_bytes`]), so
//! a hostile image (a 20 000 × 20 000 PNG) or a bug in them fails one file
//! with an error that names the limit instead of taking the app down.
//!
//! Tesseract is told to use one thread (`OMP_THREAD_LIMIT=1`): its OpenMP
//! threads spin while they wait, and on a two-core laptop one page took 38 s
//! with them and 2.6 s without.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::child::{self, Failure};
use crate::{LoadObserver, LoadOptions};

/// The external programs OCR needs, found once per process.
pub(crate) struct Tools {
    tesseract: PathBuf,
    /// Renders PDF pages; without it only images are read.
    pdftoppm: Option<PathBuf>,
}

/// Tesseract and its helpers, or `None` when Tesseract is not installed.
pub(crate) fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Option<Tools>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let tools = Tools {
                tesseract: find_program("tesseract")?,
                pdftoppm: find_program("pdftoppm"),
            };
            tracing::debug!(
                tesseract = %tools.tesseract.display(),
                pdftoppm = tools.pdftoppm.is_some(),
                "ocr tools"
            );
            Some(tools)
        })
        .as_ref()
}

/// Whether images and scanned PDF pages can be read on this machine.
pub fn available() -> bool {
    tools().is_some()
}

pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    // An app started from a desktop menu may have a minimal PATH; the Debian
    // packages install into /usr/bin.
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The text of every frame of an image file (one for PNG, JPEG and WebP; one
/// per frame for a multi-page TIFF), in order.
pub(crate) fn image_frames(
    tools: &Tools,
    image: &Path,
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Vec<String>, Failure> {
    let args: Vec<OsString> = vec![
        image.into(),
        "stdout".into(),
        "-l".into(),
        opts.ocr_languages.clone().into(),
    ];
    let out = run(&tools.tesseract, &args, opts, observer)?;
    let text = String::from_utf8_lossy(&out);
    // Tesseract ends every frame's text with a form feed.
    let mut frames: Vec<String> = text.split('\u{0c}').map(str::to_string).collect();
    if frames.len() > 1 && frames.last().is_some_and(|f| f.trim().is_empty()) {
        frames.pop();
    }
    Ok(frames)
}

/// Renders page `number` of the PDF at `pdf` and reads it. `scratch` is a
/// private folder for the rendered image, which is removed afterwards.
pub(crate) fn pdf_page(
    tools: &Tools,
    pdf: &Path,
    number: u32,
    scratch: &Path,
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<String, Failure> {
    let Some(pdftoppm) = &tools.pdftoppm else {
        return Err(Failure::Failed(
            "pdftoppm (poppler-utils) is not installed".into(),
        ));
    };
    let root = scratch.join(format!("page-{number}"));
    let page = number.to_string();
    let args: Vec<OsString> = vec![
        "-r".into(),
        opts.ocr_dpi.to_string().into(),
        "-f".into(),
        page.clone().into(),
        "-l".into(),
        page.into(),
        "-gray".into(),
        "-png".into(),
        "-singlefile".into(),
        pdf.into(),
        root.clone().into(),
    ];
    run(pdftoppm, &args, opts, observer)?;
    let image = root.with_extension("png");
    let frames = image_frames(tools, &image, opts, observer);
    let _ = std::fs::remove_file(&image);
    Ok(frames?.join("\n"))
}

/// Runs one OCR step with the OCR limits. Tesseract is told to use one
/// thread (see the module docs).
fn run(
    program: &Path,
    args: &[OsString],
    opts: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Vec<u8>, Failure> {
    child::run(
        program,
        args,
        &[("OMP_THREAD_LIMIT", "1")],
        &limits(opts),
        observer,
    )
}

/// The limits of each OCR child.
pub(crate) fn limits(opts: &LoadOptions) -> child::Limits {
    child::Limits {
        time: opts.ocr_page_timeout,
        memory_bytes: opts.ocr_memory_bytes,
        output_bytes: opts.max_text_bytes,
    }
}

/// How much of `text` is words: letters and digits. A PDF page with fewer
/// than [`SCANNED_BELOW`] of them has no real text layer (a scan, perhaps with
/// a stamped page number) and is read by OCR.
pub(crate) fn word_chars(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// See [`word_chars`].
pub(crate) const SCANNED_BELOW: usize = 16;

/// Tesseract's text cleaned like other loaders' text: no trailing spaces,
/// runs of blank lines folded.
pub(crate) fn clean(text: &str) -> String {
    crate::pdf::clean_page_text(text)
}
