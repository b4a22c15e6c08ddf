//! Scans and photos through the whole engine: pages of the fixture guide are
//! rendered to images (pdftoppm), bound into an image-only PDF (img2pdf), and
//! indexed with the real Tesseract; a unique phrase of page N must be found on
//! page N. Cancelling in the middle of OCR keeps the index consistent, and a
//! re-run completes it without reading unchanged scans again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use cairn_engine::{CancelFlag, EngineError, Progress};

use super::{engine, fixtures, ingest, rel};

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/setup.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Page `n` of the fixture guide as a 300-dpi grey PNG in `dir`.
fn render(n: u32, dir: &Path) -> PathBuf {
    let root = dir.join(format!("guide-{n}"));
    run(Command::new("pdftoppm")
        .args(["-r", "300", "-f", &n.to_string(), "-l", &n.to_string()])
        .args(["-gray", "-png", "-singlefile"])
        .arg(fixtures().join("docs/guide.pdf"))
        .arg(&root));
    root.with_extension("png")
}

/// A folder with `scanned-guide.pdf` (the guide's five pages as images only)
/// and `page-four.png`.
fn scans(dir: &Path) -> PathBuf {
    let work = dir.join("work");
    let docs = dir.join("scans");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::create_dir_all(&docs).expect("mkdir");
    let images: Vec<PathBuf> = (1..=5).map(|n| render(n, &work)).collect();
    run(Command::new("img2pdf")
        .args(&images)
        .arg("-o")
        .arg(docs.join("scanned-guide.pdf")));
    std::fs::copy(&images[3], docs.join("page-four.png")).expect("copy");
    std::fs::canonicalize(&docs).expect("canonical")
}

#[tokio::test]
async fn scanned_pages_and_images_are_found_with_their_page() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let docs = scans(tmp.path());
    let e = engine(&tmp.path().join("data")).await;

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let progress = move |p: &Progress| {
        if let Progress::Ocr { path, done, pages } = p {
            seen.lock()
                .expect("lock")
                .push((rel(path, &docs_root(path)), *done, *pages));
        }
    };
    let cancel: CancelFlag = Arc::default();
    let report = e
        .ingest(std::slice::from_ref(&docs), &progress, &cancel)
        .await
        .expect("ingest");
    assert_eq!(report.indexed, 2, "{report:#?}");
    assert!(report.failed.is_empty(), "{report:#?}");
    assert_eq!(report.pages, 6, "five scanned pages and one image");

    // Every page of the scan reported, in order, then the image.
    let events = events.lock().expect("lock").clone();
    let pdf: Vec<(u32, u32)> = events
        .iter()
        .filter(|(p, ..)| p == "scanned-guide.pdf")
        .map(|(_, d, n)| (*d, *n))
        .collect();
    assert_eq!(pdf, (0..=5).map(|d| (d, 5)).collect::<Vec<_>>());
    assert!(events
        .iter()
        .any(|(p, d, n)| p == "page-four.png" && *d == 1 && *n == 1));

    for (query, page) in [
        ("heron nests beside the flooded quarry", 1),
        ("copper kettles whistle in the lighthouse kitchen", 2),
        ("photosynthesis turns light into sugar", 3),
        ("night train to Tromsø", 5),
    ] {
        let hits = e.search(query, 3).await.expect("search");
        let top = hits.first().expect("a hit");
        assert_eq!(
            rel(&top.path, &docs),
            "scanned-guide.pdf",
            "{query}: {hits:#?}"
        );
        assert_eq!(top.page, Some(page), "{query}");
        // The source pane shows the recognised page, with the passage where
        // the hit says it is.
        let source = e
            .source_page(&top.path, top.page)
            .await
            .expect("source page");
        assert_eq!((source.page, source.pages), (Some(page), 5));
        let passage: String = source
            .text
            .chars()
            .skip(top.start)
            .take(top.end - top.start)
            .collect();
        assert_eq!(passage, top.text, "{query}");
    }
    let hits = e
        .search("glaciers carve fjords into granite", 2)
        .await
        .expect("search");
    let mut found: Vec<(String, Option<u32>)> =
        hits.iter().map(|h| (rel(&h.path, &docs), h.page)).collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("page-four.png".to_string(), None),
            ("scanned-guide.pdf".to_string(), Some(4))
        ]
    );

    // Unchanged scans are not read again.
    let before = e.search("heron", 1).await.expect("search");
    let again = ingest(&e, std::slice::from_ref(&docs)).await;
    assert_eq!((again.indexed, again.unchanged), (0, 2), "{again:#?}");
    assert_eq!(e.search("heron", 1).await.expect("search"), before);
}

/// The folder a test path lies in (events carry absolute paths).
fn docs_root(path: &str) -> PathBuf {
    Path::new(path).parent().expect("parent").to_path_buf()
}

#[tokio::test]
async fn cancelling_during_ocr_keeps_a_consistent_index_that_a_rerun_completes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let docs = scans(tmp.path());
    std::fs::write(
        docs.join("notes.md"),
        "# Notes\n\nThe otter den is under the alder roots.\n",
    )
    .expect("write");
    let data = tmp.path().join("data");
    let e = engine(&data).await;

    // Cancel as soon as the scan's OCR starts.
    let cancel: CancelFlag = Arc::default();
    let flag = cancel.clone();
    let progress = move |p: &Progress| {
        if matches!(p, Progress::Ocr { path, .. } if path.ends_with("scanned-guide.pdf")) {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let started = std::time::Instant::now();
    let outcome = e
        .ingest(std::slice::from_ref(&docs), &progress, &cancel)
        .await;
    assert!(
        matches!(outcome, Err(EngineError::Cancelled)),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "five pages of OCR were not stopped: {:?}",
        started.elapsed()
    );
    let indexed: Vec<String> = e.documents().iter().map(|d| rel(&d.path, &docs)).collect();
    assert!(
        !indexed.contains(&"scanned-guide.pdf".to_string()),
        "a cancelled file is not half indexed: {indexed:?}"
    );
    drop(e);

    // Reopened, a plain re-run finishes the job.
    let e = engine(&data).await;
    let report = ingest(&e, std::slice::from_ref(&docs)).await;
    assert!(report.failed.is_empty(), "{report:#?}");
    let mut indexed: Vec<String> = e.documents().iter().map(|d| rel(&d.path, &docs)).collect();
    indexed.sort();
    assert_eq!(indexed, ["notes.md", "page-four.png", "scanned-guide.pdf"]);
    let top = e
        .search("heron nests beside the flooded quarry", 1)
        .await
        .expect("search");
    assert_eq!(top[0].page, Some(1));
    let check = e.verify().await.expect("verify");
    assert!(
        check.visible_consistent() && check.pending.is_empty(),
        "{check:#?}"
    );
}
