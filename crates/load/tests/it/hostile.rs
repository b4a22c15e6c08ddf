//! Files that are not what they claim or that change under the loader: named
//! pipes, folders swapped in, files far over the size limits. Each must give
//! a prompt, specific error naming the file; none may block or allocate
//! without bound.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use cairn_core::Format;
use cairn_load::{
    check_size, load, load_bytes, walk, LoadError, LoadOptions, SizeKind, WalkOptions,
};

/// Runs `f` on a thread and fails the test, instead of hanging it, if `f`
/// does not return within ten seconds.
fn within_10s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} blocked for 10 s"))
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo (coreutils)");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn named_pipes_are_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One with a telling extension, one whose content would be sniffed.
    for name in ["notes.txt", "LICENSE", "report.pdf"] {
        let pipe = dir.path().join(name);
        mkfifo(&pipe);
        let p = pipe.clone();
        let err = within_10s(name, move || load(&p, &LoadOptions::default()))
            .expect_err("a pipe is not a document");
        assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
        assert_eq!(err.path(), pipe);
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains("named pipe"), "{msg}");
    }
    // The scan lists them as skipped, not as files to load.
    let root = dir.path().to_path_buf();
    let result = within_10s("walk", move || walk(&[root], &WalkOptions::default()));
    assert!(result.files.is_empty(), "{result:?}");
    assert_eq!(result.skipped.len(), 3, "{result:?}");
    assert!(result
        .skipped
        .iter()
        .all(|s| s.reason == "not a regular file"));
}

#[test]
fn devices_and_folders_named_like_documents_are_refused() {
    let err = within_10s("/dev/zero", || {
        load(Path::new("/dev/zero"), &LoadOptions::default())
    })
    .expect_err("a device");
    assert!(err.to_string().contains("a device"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("chapter.md");
    std::fs::create_dir(&folder).expect("mkdir");
    let err = load(&folder, &LoadOptions::default()).expect_err("a folder");
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("is a directory"), "{err}");
}

fn sparse(path: &Path, header: &[u8], size: u64) {
    std::fs::write(path, header).expect("write");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    // Extends the file without writing: a 500 MB file costs no disk or time.
    f.set_len(size).expect("set_len");
}

#[test]
fn a_500_mb_text_file_is_refused_before_reading_with_both_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server log.txt");
    sparse(&path, b"2024-01-01 boot\n", 500_000_000);
    let err = load(&path, &LoadOptions::default()).expect_err("too large");
    match &err {
        LoadError::TooLarge {
            size, limit, what, ..
        } => {
            assert_eq!(*size, 500_000_000);
            assert_eq!(*limit, 32 * 1024 * 1024);
            assert_eq!(*what, SizeKind::TextFile);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(err.kind(), "too_large");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: text file is too large (476.8 MiB > limit 32.0 MiB)",
            path.display()
        )
    );
    // The cheap pre-check gives the same answer from the size alone.
    let pre = check_size(&path, 500_000_000, &LoadOptions::default()).expect_err("too large");
    assert_eq!(pre.to_string(), err.to_string());

    // The limit is the caller's to choose.
    let opts = LoadOptions {
        max_text_bytes: 600_000_000,
        max_file_bytes: 600_000_000,
        ..LoadOptions::default()
    };
    check_size(&path, 500_000_000, &opts).expect("within a raised limit");
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

#[test]
fn extracted_text_over_the_limit_is_refused() {
    // A PDF's text can be far larger than the file (compressed streams), so
    // the limit also applies after extraction.
    let path = fixture("docs/guide.pdf");
    let opts = LoadOptions {
        max_text_bytes: 200,
        ..LoadOptions::default()
    };
    let err = load(&path, &opts).expect_err("guide.pdf holds more than 200 bytes of text");
    assert!(
        matches!(
            err,
            LoadError::TooLarge {
                what: SizeKind::ExtractedText,
                limit: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("extracted text is too large"),
        "{err}"
    );
}

#[test]
fn load_bytes_matches_load_for_every_format() {
    for (rel, format) in [
        ("docs/plain.txt", Format::Text),
        ("docs/notes.md", Format::Markdown),
        ("docs/page.html", Format::Html),
        ("docs/utf16.txt", Format::Text),
        ("docs/code/tokenize.rs", Format::Code),
        ("docs/report.docx", Format::Docx),
        ("docs/guide.pdf", Format::Pdf),
    ] {
        let path = fixture(rel);
        let from_file = load(&path, &LoadOptions::default()).expect(rel);
        let bytes = std::fs::read(&path).expect("read");
        let from_bytes = load_bytes(&path, format, bytes, &LoadOptions::default()).expect(rel);
        assert_eq!(from_file, from_bytes, "{rel}");
    }
    let err = load_bytes(
        Path::new("x.md"),
        Format::Markdown,
        Vec::new(),
        &LoadOptions::default(),
    )
    .expect_err("empty");
    assert_eq!(err.kind(), "empty");
}

/// The input on which the `text` fuzz target found the heading-offset bug
/// (see `html.rs`): every heading must point inside the text, on a character
/// boundary, with a non-empty title.
#[test]
fn fuzz_crash_html_heading_offsets_stay_inside_the_text() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/data/fuzz-html-whitespace-heading-in-pre.html");
    let bytes = std::fs::read(&path).expect("reproducer");
    let doc = load_bytes(&path, Format::Html, bytes, &LoadOptions::default()).expect("loads");
    let page = &doc.pages[0];
    assert!(!page.headings.is_empty());
    for h in &page.headings {
        assert!(
            h.offset < page.text.len(),
            "{h:?} in {} bytes",
            page.text.len()
        );
        assert!(page.text.is_char_boundary(h.offset), "{h:?}");
        assert!(h.path.iter().all(|t| !t.is_empty()), "{h:?}");
    }
}
