//! OCR of scans and images, with the real Tesseract and poppler that
//! `scripts/setup.sh` installs: pages of a real PDF are rendered to images,
//! turned into an image-only PDF (img2pdf) or a PDF with one scanned page
//! among text pages (qpdf), and each page's unique phrase must come back on
//! that page.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cairn_core::{Document, Format};
use cairn_load::{load, load_observed, LoadError, LoadObserver, LoadOptions};

use super::doc;

/// The real multi-page document the scans are made from.
fn source_pdf() -> PathBuf {
    doc("shared-mime-info-spec.pdf")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/setup.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders page `n` of `pdf` as a grey PNG at `dpi`.
fn render(pdf: &Path, n: u32, dpi: u32, out: &Path) -> PathBuf {
    let root = out.join(format!("page-{n}"));
    run(Command::new("pdftoppm")
        .args([
            "-r",
            &dpi.to_string(),
            "-f",
            &n.to_string(),
            "-l",
            &n.to_string(),
        ])
        .args(["-gray", "-png", "-singlefile"])
        .arg(pdf)
        .arg(&root));
    root.with_extension("png")
}

/// Lower-case words of letters only, for comparing text across OCR.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `text` has the words of `phrase` in a row, allowing one word to be
/// misread (OCR reads `deleteall` in a code font as `deleteal1`).
fn contains_phrase(text: &str, phrase: &[String]) -> bool {
    words(text)
        .windows(phrase.len())
        .any(|w| w.iter().zip(phrase).filter(|(a, b)| a == b).count() + 1 >= phrase.len())
}

/// A phrase of five words of four letters or more from page `n` of the text
/// layer that no other page contains: proof, when OCR finds it on page `n`,
/// that the page was read and kept its number.
fn unique_phrase(text_layer: &Document, n: u32) -> Vec<String> {
    let page = |m: u32| {
        text_layer
            .pages
            .iter()
            .find(|p| p.number == Some(m))
            .expect("page")
    };
    let own = words(&page(n).text);
    own.windows(5)
        .filter(|w| w.iter().all(|x| x.len() >= 4))
        .find(|w| {
            text_layer
                .pages
                .iter()
                .filter(|p| p.number != Some(n))
                .all(|p| !contains_phrase(&p.text, w))
        })
        .map(<[String]>::to_vec)
        .unwrap_or_else(|| panic!("page {n} has no unique phrase"))
}

fn page_text(d: &Document, n: u32) -> &str {
    &d.pages
        .iter()
        .find(|p| p.number == Some(n))
        .unwrap_or_else(|| panic!("no page {n} in {}", d.path.display()))
        .text
}

#[test]
fn image_only_pdf_is_read_page_by_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text_layer = load(&source_pdf(), &LoadOptions::default()).expect("text layer");
    let pages = [2u32, 3, 4];
    let images: Vec<PathBuf> = pages
        .iter()
        .map(|&n| render(&source_pdf(), n, 300, dir.path()))
        .collect();
    let scan = dir.path().join("scanned.pdf");
    run(Command::new("img2pdf").args(&images).arg("-o").arg(&scan));

    let progress = Progress::default();
    let d = load_observed(&scan, &LoadOptions::default(), &progress).expect("OCR");
    assert_eq!(d.format, Format::Pdf);
    assert_eq!(d.pages.len(), 3);
    for (i, &n) in pages.iter().enumerate() {
        let phrase = unique_phrase(&text_layer, n);
        let scanned_page = i as u32 + 1;
        assert!(
            contains_phrase(page_text(&d, scanned_page), &phrase),
            "page {scanned_page} should say {phrase:?}: {}",
            page_text(&d, scanned_page)
        );
        for other in (1..=3).filter(|&m| m != scanned_page) {
            assert!(!contains_phrase(page_text(&d, other), &phrase));
        }
    }
    // Progress: 0 of 3 before the first page, then every page.
    assert_eq!(progress.calls.load(Ordering::Relaxed), 4);
    assert_eq!(progress.last_done.load(Ordering::Relaxed), 3);
}

#[test]
fn one_scanned_page_among_text_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text_layer = load(&source_pdf(), &LoadOptions::default()).expect("text layer");
    let image = render(&source_pdf(), 3, 300, dir.path());
    let scanned = dir.path().join("page3.pdf");
    run(Command::new("img2pdf").arg(&image).arg("-o").arg(&scanned));
    let mixed = dir.path().join("mixed.pdf");
    run(Command::new("qpdf")
        .arg("--empty")
        .arg("--pages")
        .arg(source_pdf())
        .arg("1-2")
        .arg(&scanned)
        .arg(source_pdf())
        .arg("4-5")
        .arg("--")
        .arg(&mixed));

    let d = load(&mixed, &LoadOptions::default()).expect("mixed");
    assert_eq!(d.pages.len(), 5);
    // Text pages are the text layer itself, untouched by OCR.
    for (n, original) in [(1, 1), (2, 2), (4, 4), (5, 5)] {
        assert_eq!(
            page_text(&d, n),
            page_text(&text_layer, original),
            "page {n}"
        );
    }
    let phrase = unique_phrase(&text_layer, 3);
    assert!(
        contains_phrase(page_text(&d, 3), &phrase),
        "{phrase:?} not in {}",
        page_text(&d, 3)
    );
}

#[test]
fn png_is_a_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text_layer = load(&source_pdf(), &LoadOptions::default()).expect("text layer");
    let image = render(&source_pdf(), 5, 200, dir.path());
    let photo = dir.path().join("Scan 5.PNG");
    std::fs::rename(&image, &photo).expect("rename");

    let d = load(&photo, &LoadOptions::default()).expect("png");
    assert_eq!(d.format, Format::Image);
    assert_eq!(d.pages.len(), 1);
    assert_eq!(d.pages[0].number, None, "a single image is unpaged");
    let phrase = unique_phrase(&text_layer, 5);
    assert!(contains_phrase(&d.pages[0].text, &phrase), "{phrase:?}");

    // OCR switched off: the image is refused, saying why.
    let off = LoadOptions {
        ocr: false,
        ..LoadOptions::default()
    };
    let err = load(&photo, &off).expect_err("ocr off");
    assert_eq!(err.kind(), "ocr_unavailable", "{err}");
    assert!(err.to_string().contains("Scan 5.PNG"), "{err}");
    assert!(err.to_string().contains("tesseract"), "{err}");
}

/// Writes the grey PGM renders `frames` as one uncompressed multi-page TIFF
/// (each frame its own directory), the way a scanner's "save as TIFF" does.
fn multi_page_tiff(frames: &[PathBuf], out: &Path) {
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import struct, sys\n\
             def pgm(path):\n\
             \x20   data = open(path, 'rb').read()\n\
             \x20   fields = data.split(maxsplit=4)\n\
             \x20   assert fields[0] == b'P5' and fields[3] == b'255'\n\
             \x20   w, h = int(fields[1]), int(fields[2])\n\
             \x20   return w, h, fields[4][:w * h]\n\
             out = bytearray(b'II*\\x00\\x00\\x00\\x00\\x00')\n\
             link = 4\n\
             for path in sys.argv[2:]:\n\
             \x20   w, h, pixels = pgm(path)\n\
             \x20   strip = len(out)\n\
             \x20   out += pixels + b'\\x00' * (len(pixels) % 2)\n\
             \x20   res = len(out)\n\
             \x20   out += struct.pack('<IIII', 300, 1, 300, 1)\n\
             \x20   entries = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1),\n\
             \x20              (273, 4, strip), (277, 3, 1), (278, 4, h), (279, 4, w * h),\n\
             \x20              (282, 5, res), (283, 5, res + 8), (296, 3, 2)]\n\
             \x20   struct.pack_into('<I', out, link, len(out))\n\
             \x20   out += struct.pack('<H', len(entries))\n\
             \x20   for tag, kind, value in entries:\n\
             \x20       out += struct.pack('<HHII', tag, kind, 1, value)\n\
             \x20   link = len(out)\n\
             \x20   out += b'\\x00\\x00\\x00\\x00'\n\
             open(sys.argv[1], 'wb').write(out)\n",
        )
        .arg(out)
        .args(frames));
}

/// Renders page `n` of `pdf` as a grey PGM (raw pixels) at `dpi`.
fn render_pgm(pdf: &Path, n: u32, dpi: u32, out: &Path) -> PathBuf {
    let root = out.join(format!("frame-{n}"));
    run(Command::new("pdftoppm")
        .args(["-r", &dpi.to_string(), "-f", &n.to_string()])
        .args(["-l", &n.to_string(), "-gray", "-singlefile"])
        .arg(pdf)
        .arg(&root));
    root.with_extension("pgm")
}

#[test]
fn multi_page_tiff_has_one_page_per_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text_layer = load(&source_pdf(), &LoadOptions::default()).expect("text layer");
    let frames: Vec<PathBuf> = [4, 6]
        .into_iter()
        .map(|n| render_pgm(&source_pdf(), n, 200, dir.path()))
        .collect();
    let tiff = dir.path().join("letters.tiff");
    multi_page_tiff(&frames, &tiff);

    let progress = Progress::default();
    let d = load_observed(&tiff, &LoadOptions::default(), &progress).expect("tiff");
    assert_eq!(d.format, Format::Image);
    let numbers: Vec<Option<u32>> = d.pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [Some(1), Some(2)], "one numbered page per frame");
    for (frame, page) in [(1, 4), (2, 6)] {
        let phrase = unique_phrase(&text_layer, page);
        assert!(
            contains_phrase(page_text(&d, frame), &phrase),
            "{phrase:?} not in frame {frame}: {}",
            page_text(&d, frame)
        );
    }
    assert!(progress.calls.load(Ordering::Relaxed) >= 1);

    // The same file cut short, and one whose first directory points past
    // its end: each is a clear error for that file, not a crash or a hang.
    let bytes = std::fs::read(&tiff).expect("read");
    let cut = dir.path().join("cut.tif");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write");
    let mut dangling = bytes[..64].to_vec();
    dangling[4..8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let broken = dir.path().join("broken.tif");
    std::fs::write(&broken, &dangling).expect("write");
    for bad in [&cut, &broken] {
        match load(bad, &LoadOptions::default()) {
            Err(err) => {
                let name = bad.file_name().expect("name").to_string_lossy();
                assert!(err.to_string().contains(&*name), "{err}");
                assert!(
                    matches!(err, LoadError::Corrupt { .. } | LoadError::NoText { .. }),
                    "{err:?}"
                );
            }
            // A reader may recover the frames before the cut; then their
            // text must be real text of page 4, not noise.
            Ok(d) => {
                let phrase = unique_phrase(&text_layer, 4);
                assert!(
                    d.pages.iter().any(|p| contains_phrase(&p.text, &phrase)),
                    "{} read as {:?}",
                    bad.display(),
                    d.pages
                );
            }
        }
    }
}

#[test]
fn ocr_limits_fail_only_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = render(&source_pdf(), 2, 150, dir.path());

    // A page that takes longer than the limit: its reader is killed.
    let hurried = LoadOptions {
        ocr_page_timeout: Duration::from_millis(1),
        ..LoadOptions::default()
    };
    let started = Instant::now();
    let err = load(&image, &hurried).expect_err("timeout");
    assert!(
        matches!(err, LoadError::Timeout { limit, .. } if limit == Duration::from_millis(1)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("page-2.png"), "{err}");

    // An image that needs more memory than the reader may have.
    let starved = LoadOptions {
        ocr_memory_bytes: 48 * 1024 * 1024,
        ..LoadOptions::default()
    };
    let err = load(&image, &starved).expect_err("memory");
    assert!(
        matches!(err, LoadError::MemoryLimit { limit, .. } if limit == 48 * 1024 * 1024),
        "{err:?}"
    );
    assert!(err.to_string().contains("memory limit (48.0 MiB)"), "{err}");
}

#[test]
fn huge_image_is_refused_with_bounded_memory() {
    // 20 000 × 20 000 grey pixels: 400 MB decoded, a few hundred KB on disk.
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = dir.path().join("bomb.png");
    run(Command::new("python3").arg("-c").arg(
        "import sys, struct, zlib\n\
         w = h = 20000\n\
         def chunk(kind, data):\n\
         \x20   return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))\n\
         z = zlib.compressobj(9)\n\
         row = b'\\x00' + b'\\xff' * w\n\
         idat = b''.join(z.compress(row) for _ in range(h)) + z.flush()\n\
         png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))\n\
         png += chunk(b'IDAT', idat) + chunk(b'IEND', b'')\n\
         open(sys.argv[1], 'wb').write(png)\n",
    ).arg(&bomb));
    let opts = LoadOptions {
        ocr_memory_bytes: 256 * 1024 * 1024,
        ..LoadOptions::default()
    };
    let err = load(&bomb, &opts).expect_err("bomb");
    assert!(matches!(err, LoadError::MemoryLimit { .. }), "{err:?}");
    assert!(err.to_string().contains("bomb.png"), "{err}");
}

#[test]
fn cancelling_stops_ocr_between_and_within_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images: Vec<PathBuf> = (2..=6)
        .map(|n| render(&source_pdf(), n, 300, dir.path()))
        .collect();
    let scan = dir.path().join("scanned.pdf");
    run(Command::new("img2pdf").args(&images).arg("-o").arg(&scan));

    let started = Instant::now();
    let observer = CancelSoonAfterStart::default();
    let err = load_observed(&scan, &LoadOptions::default(), &observer).expect_err("cancelled");
    assert!(matches!(err, LoadError::Cancelled { .. }), "{err:?}");
    assert!(err.to_string().contains("scanned.pdf"), "{err}");
    // Five pages take several seconds; cancelling right away takes far less.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[derive(Default)]
struct Progress {
    calls: AtomicU32,
    last_done: AtomicU32,
}

impl LoadObserver for Progress {
    fn ocr_progress(&self, done: u32, total: u32) {
        assert!(done <= total);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.last_done.store(done, Ordering::Relaxed);
    }
}

/// Cancels 300 ms after OCR starts, in the middle of the first page (which
/// takes over a second at 300 dpi), so the running reader must be killed.
#[derive(Default)]
struct CancelSoonAfterStart {
    started: std::sync::OnceLock<Instant>,
}

impl LoadObserver for CancelSoonAfterStart {
    fn ocr_progress(&self, done: u32, _total: u32) {
        assert_eq!(done, 0, "no page may finish before the cancel");
        self.started.get_or_init(Instant::now);
    }
    fn cancelled(&self) -> bool {
        self.started
            .get()
            .is_some_and(|t| t.elapsed() > Duration::from_millis(300))
    }
}
