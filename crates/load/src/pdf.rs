//! PDF text through `pdf-extract`, page by page, isolated from its failures.
//!
//! `pdf-extract` (and `lopdf` below it) panic on many damaged files and can
//! spin for a long time on some. Extraction therefore runs on a dedicated
//! thread, each page inside `catch_unwind`, and the caller waits at most
//! [`crate::LoadOptions::pdf_timeout`]. A thread that overruns is abandoned:
//! Rust cannot kill a thread, so it keeps its CPU and memory until it returns
//! on its own (or the process exits). Running extraction in a child process
//! would contain that too, at the price of shipping and spawning a helper.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::Duration;

use cairn_core::Page;
use pdf_extract::{Document, OutputError, PlainTextOutput};

use crate::error::{LoadError, Result};

/// Name of the extraction threads; the panic hook recognises them by it.
const WORKER_NAME: &str = "cairn-pdf-extract";
/// The PDF parser recurses over nested objects; a large stack turns deep but
/// legitimate nesting into work instead of a process abort.
const WORKER_STACK: usize = 64 * 1024 * 1024;

/// Loads the pages of an in-memory PDF. Pages without a text layer come back
/// with empty (or nearly empty) text; OCR, if any, is the caller's step.
pub(crate) fn load(path: &Path, bytes: Arc<Vec<u8>>, timeout: Duration) -> Result<Vec<Page>> {
    silence_worker_panics();
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name(WORKER_NAME.to_string())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| extract(&bytes)))
                .unwrap_or_else(|payload| Err(Failure::Corrupt(panic_message(&*payload))));
            // The receiver is gone after a timeout; nobody needs the result then.
            let _ = tx.send(outcome);
        })
        .map_err(|e| LoadError::io(path, e))?;

    let raw_pages = match rx.recv_timeout(timeout) {
        Ok(Ok(pages)) => pages,
        Ok(Err(Failure::Encrypted)) => {
            return Err(LoadError::Encrypted {
                path: path.to_path_buf(),
            })
        }
        Ok(Err(Failure::Corrupt(reason))) => return Err(LoadError::corrupt(path, reason)),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(LoadError::Timeout {
                path: path.to_path_buf(),
                limit: timeout,
            })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(LoadError::corrupt(
                path,
                "pdf extraction ended without a result",
            ))
        }
    };

    Ok(raw_pages
        .into_iter()
        .map(|(number, raw)| Page {
            number: Some(number),
            text: clean_page_text(&raw),
            headings: Vec::new(),
        })
        .collect())
}

enum Failure {
    Encrypted,
    Corrupt(String),
}

/// Raw text of every page, keyed by 1-based page number. A page that fails
/// (or panics) alone comes back empty, so one bad page does not cost the rest;
/// if every page fails, the first failure is reported.
fn extract(bytes: &[u8]) -> std::result::Result<Vec<(u32, String)>, Failure> {
    let doc = Document::load_mem(bytes).map_err(|e| classify(&e))?;
    // lopdf decrypts files that open with the empty user password (owner-only
    // restrictions) while loading; an encryption dictionary that is still
    // there means a real password is needed.
    if doc.is_encrypted() {
        return Err(Failure::Encrypted);
    }
    let numbers: Vec<u32> = doc.get_pages().into_keys().collect();
    if numbers.is_empty() {
        return Err(Failure::Corrupt("the document has no pages".into()));
    }
    let mut pages = Vec::with_capacity(numbers.len());
    let mut first_error = None;
    for number in numbers {
        let attempt = panic::catch_unwind(AssertUnwindSafe(|| page_text(&doc, number)));
        let text = match attempt {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                tracing::debug!(page = number, error = %e, "pdf page failed");
                first_error.get_or_insert_with(|| format!("page {number}: {e}"));
                String::new()
            }
            Err(payload) => {
                let msg = panic_message(&*payload);
                tracing::debug!(page = number, panic = %msg, "pdf page panicked");
                first_error.get_or_insert_with(|| format!("page {number}: {msg}"));
                String::new()
            }
        };
        pages.push((number, text));
    }
    if let Some(reason) = first_error {
        if pages.iter().all(|(_, t)| t.trim().is_empty()) {
            return Err(Failure::Corrupt(reason));
        }
    }
    Ok(pages)
}

fn page_text(doc: &Document, number: u32) -> std::result::Result<String, OutputError> {
    let mut text = String::new();
    let mut output = PlainTextOutput::new(&mut text);
    pdf_extract::output_doc_page(doc, &mut output, number)?;
    Ok(text)
}

fn classify(e: &pdf_extract::Error) -> Failure {
    use pdf_extract::Error as E;
    match e {
        E::Decryption(_) | E::InvalidPassword | E::AlreadyEncrypted => Failure::Encrypted,
        other => Failure::Corrupt(other.to_string()),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string());
    format!("pdf parser crashed: {detail}")
}

/// Panics inside the extraction threads are expected and already turned into
/// `Corrupt` errors; printing them to stderr would only alarm users. The hook
/// is installed once, wraps whatever hook was there, and stays quiet only for
/// threads named [`WORKER_NAME`].
fn silence_worker_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if thread::current().name() == Some(WORKER_NAME) {
                tracing::debug!(%info, "pdf-extract panicked");
            } else {
                previous(info);
            }
        }));
    });
}

/// Makes `pdf-extract`'s raw page text fit for chunking and search:
/// uniform whitespace, no ligature glyphs, and words that were hyphenated at a
/// line end joined again. Offsets computed later refer to this text.
pub(crate) fn clean_page_text(raw: &str) -> String {
    let raw = crate::text::normalize_newlines(raw);
    let lines: Vec<String> = raw
        .split(['\n', '\u{0c}', '\u{2028}', '\u{2029}'])
        .map(clean_line)
        .collect();

    let mut out = String::with_capacity(raw.len());
    let mut blank_run = 0;
    let mut iter = lines.into_iter().peekable();
    while let Some(line) = iter.next() {
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(&line);
        // Join following lines while this one ends in a broken word.
        while let Some(next) = iter.peek() {
            match join_hyphenated(&out, next) {
                Some(cut) => {
                    out.truncate(cut);
                    out.push_str(next);
                    iter.next();
                }
                None => break,
            }
        }
    }
    out
}

/// Collapses whitespace runs to one space, trims the line, drops invisible
/// characters and expands typographic ligatures so that "ﬁnd" matches "find".
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut space = false;
    for c in line.chars() {
        let expanded = match c {
            '\u{fb00}' => "ff",
            '\u{fb01}' => "fi",
            '\u{fb02}' => "fl",
            '\u{fb03}' => "ffi",
            '\u{fb04}' => "ffl",
            '\u{fb05}' | '\u{fb06}' => "st",
            // Zero-width characters and byte order marks carry no text.
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' => "",
            c if c.is_whitespace() => {
                space = true;
                continue;
            }
            c if c.is_control() => continue,
            _ => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
                continue;
            }
        };
        if !expanded.is_empty() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push_str(expanded);
        }
    }
    out
}

/// Words that follow a line-end hyphen in coordinations such as "pre- and
/// post-war", where the hyphen is real and the lines must not be glued.
const COORDINATORS: &[&str] = &["and", "or", "nor", "to", "und", "oder", "et", "ou"];

/// If `text` ends in a word broken by a hyphen and `next` continues it, the
/// length to truncate `text` to before appending `next`.
///
/// A soft hyphen (U+00AD) always marks a break. A hard hyphen does when a
/// letter precedes it and the next line starts with a lower-case letter; a
/// real compound broken at its hyphen ("well-known") loses its hyphen, which
/// is the usual trade-off without a dictionary.
fn join_hyphenated(text: &str, next: &str) -> Option<usize> {
    let last = text.chars().next_back()?;
    let cut = text.len() - last.len_utf8();
    if last == '\u{ad}' {
        return Some(cut);
    }
    if !matches!(last, '-' | '\u{2010}') {
        return None;
    }
    let before = text[..cut].chars().next_back()?;
    let first = next.chars().next()?;
    if !before.is_alphabetic() || !first.is_lowercase() {
        return None;
    }
    let next_word: String = next.chars().take_while(|c| c.is_alphabetic()).collect();
    if COORDINATORS.contains(&next_word.as_str()) && next[next_word.len()..].starts_with(' ') {
        return None;
    }
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: &str) {
        assert_eq!(clean_page_text(raw), expected, "raw={raw:?}");
    }

    #[test]
    fn dehyphenation() {
        check("an exam-\nple here", "an example here");
        check("an exam-\n   ple here", "an example here");
        check("photo-\nsynthesis turns", "photosynthesis turns");
        check("inter\u{ad}\nnational", "international");
        check("a unicode\u{2010}\nhyphen", "a unicodehyphen");
        // Chained breaks across three lines.
        check("extra-\nordi-\nnary", "extraordinary");
        // Not a broken word: capital or digit after, space before, dash alone.
        check("Covid-\n19 cases", "Covid-\n19 cases");
        check("North-\nAmerica", "North-\nAmerica");
        check("range 5 -\nten", "range 5 -\nten");
        check("a list:\n-\nitem", "a list:\n-\nitem");
        // Coordinated prefixes keep their hyphen.
        check("pre-\nand post-war", "pre-\nand post-war");
        // A paragraph break is not bridged.
        check("exam-\n\nple", "exam-\n\nple");
    }

    #[test]
    fn whitespace_and_glyphs() {
        check(
            "\n\n  Title  \n\n\n\nbody   text\there  \n",
            "Title\n\nbody text here",
        );
        check("a\r\nb\rc\u{0c}d", "a\nb\nc\nd");
        check("non\u{a0}breaking and\u{2009}thin", "non breaking and thin");
        check(
            "\u{fb01}nd the \u{fb02}ow of o\u{fb03}ce",
            "find the flow of office",
        );
        check("zero\u{200b}width\u{feff}", "zerowidth");
        check("ctrl\u{7}char", "ctrlchar");
        check("   \n \t \n", "");
    }
}
