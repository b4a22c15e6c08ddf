//! Integration tests of `cairn-load` over the shared fixtures in
//! `tests/fixtures/` (see its README for what each file holds).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_core::{Document, Format};
use cairn_load::{detect, load, walk, LoadError, LoadOptions, WalkOptions};

mod books;
mod hostile;
mod ocr;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn doc(rel: &str) -> PathBuf {
    fixtures().join("docs").join(rel)
}

fn bad(rel: &str) -> PathBuf {
    fixtures().join("bad").join(rel)
}

fn load_ok(path: &Path) -> Document {
    match load(path, &LoadOptions::default()) {
        Ok(d) => d,
        Err(e) => panic!("loading {} failed: {e}", path.display()),
    }
}

fn only_page(d: &Document) -> &cairn_core::Page {
    assert_eq!(d.pages.len(), 1, "{} should be unpaged", d.path.display());
    assert_eq!(d.pages[0].number, None);
    &d.pages[0]
}

/// (heading path, text at the heading's offset) for every heading of a page.
fn heading_table(page: &cairn_core::Page) -> Vec<(Vec<String>, String)> {
    page.headings
        .iter()
        .map(|h| {
            let line = page.text[h.offset..]
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            (h.path.clone(), line)
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const GUIDE_PHRASES: &[&str] = &[
    "the heron nests beside the flooded quarry",
    "copper kettles whistle in the lighthouse kitchen",
    "photosynthesis to turn light into sugar",
    "glaciers carve fjords into granite",
    "The night train to Troms\u{f8} carries sleeping cyclists",
];

#[test]
fn pdf_page_n_holds_phrase_n() {
    let d = load_ok(&doc("guide.pdf"));
    assert_eq!(d.format, Format::Pdf);
    let numbers: Vec<Option<u32>> = d.pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5].map(Some));
    for (i, phrase) in GUIDE_PHRASES.iter().enumerate() {
        for page in &d.pages {
            let expected = page.number == Some(i as u32 + 1);
            assert_eq!(
                page.text.contains(phrase),
                expected,
                "phrase {phrase:?} on page {:?}:\n{}",
                page.number,
                page.text
            );
        }
    }
}

#[test]
fn pdf_line_end_hyphen_is_joined() {
    let d = load_ok(&doc("guide.pdf"));
    let page3 = &d.pages[2].text;
    assert!(page3.contains("rely on photosynthesis to turn"), "{page3}");
    assert!(!page3.contains("photo-"), "{page3}");
}

#[test]
fn pdf_from_debian_reads_every_page() {
    let path = doc("shared-mime-info-spec.pdf");
    let started = Instant::now();
    let d = load_ok(&path);
    let took = started.elapsed();
    assert_eq!(d.pages.len(), 17);
    let page = |n: usize| &d.pages[n - 1].text;
    assert!(
        page(1).contains("last updated 2 October 2018"),
        "{}",
        page(1)
    );
    assert!(
        page(4).contains("store it in an extension hash table internally"),
        "{}",
        page(4)
    );
    assert!(
        page(10).contains("using __NOMAGIC__ as the value"),
        "{}",
        page(10)
    );
    assert!(!page(9).contains("__NOMAGIC__ as the value"));
    // pdf-extract reads ordinary manuals at hundreds of pages per second.
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn pdf_with_owner_password_only_loads() {
    let d = load_ok(&fixtures().join("extra/permissions-only.pdf"));
    assert_eq!(d.pages.len(), 5);
    assert!(
        d.pages[0].text.contains(GUIDE_PHRASES[0]),
        "{}",
        d.pages[0].text
    );
}

#[test]
fn pdf_timeout_is_reported() {
    let opts = LoadOptions {
        pdf_timeout: Duration::from_micros(1),
        ..LoadOptions::default()
    };
    let path = doc("shared-mime-info-spec.pdf");
    let err = load(&path, &opts).expect_err("17 pages cannot be read in a microsecond");
    assert!(matches!(err, LoadError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("shared-mime-info-spec.pdf"),
        "{err}"
    );
}

#[test]
fn bad_files_give_the_right_error() {
    let cases = [
        ("empty.txt", "empty"),
        ("blank.md", "empty"),
        ("binary.txt", "binary"),
        ("truncated.pdf", "corrupt"),
        ("garbled.pdf", "corrupt"),
        ("no-mediabox.pdf", "corrupt"),
        ("no-text.pdf", "no_text"),
        ("encrypted.pdf", "encrypted"),
    ];
    for (name, kind) in cases {
        let path = bad(name);
        let err = match load(&path, &LoadOptions::default()) {
            Ok(d) => panic!("{name} loaded: {d:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert_eq!(err.path(), path, "{name}");
        assert!(
            err.to_string().contains(name),
            "message must name the file: {err}"
        );
    }
}

#[test]
fn pdf_parser_panic_becomes_corrupt() {
    // pdf-extract panics on a page without a MediaBox; the panic must not
    // escape, and the message should say what happened.
    let err = load(&bad("no-mediabox.pdf"), &LoadOptions::default()).expect_err("invalid pdf");
    match &err {
        LoadError::Corrupt { reason, .. } => assert!(reason.contains("crashed"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn damaged_pdfs_never_panic_or_hang() {
    // Deterministic byte corruption of a valid PDF at varying positions; every
    // outcome is acceptable except a panic or a hang.
    let original = std::fs::read(doc("guide.pdf")).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LoadOptions {
        pdf_timeout: Duration::from_secs(20),
        ..LoadOptions::default()
    };
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..30 {
        let mut bytes = original.clone();
        for _ in 0..8 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = (next() & 0xff) as u8;
        }
        let path = dir.path().join(format!("damaged-{i}.pdf"));
        std::fs::write(&path, &bytes).expect("write");
        let kind = match load(&path, &opts) {
            Ok(_) => "ok",
            Err(LoadError::Corrupt { reason, .. }) if reason.contains("crashed") => "caught panic",
            Err(e) => {
                assert!(!matches!(e, LoadError::Timeout { .. }), "{e}");
                e.kind()
            }
        };
        *outcomes.entry(kind).or_default() += 1;
    }
    // With this seed some copies still load, most are rejected and a few make
    // pdf-extract panic (measured: 6 ok, 22 corrupt, 2 caught panics).
    assert_eq!(outcomes.values().sum::<usize>(), 30, "{outcomes:?}");
    assert!(
        outcomes.contains_key("ok") && outcomes.contains_key("corrupt"),
        "{outcomes:?}"
    );
}

#[test]
fn size_limit_is_enforced_before_reading() {
    let opts = LoadOptions {
        max_file_bytes: 1000,
        ..LoadOptions::default()
    };
    let path = doc("guide.pdf");
    let size = std::fs::metadata(&path).expect("fixture").len();
    match load(&path, &opts) {
        Err(LoadError::TooLarge { size: s, limit, .. }) => {
            assert_eq!((s, limit), (size, 1000));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn unsupported_and_missing_files() {
    let err = load(&doc("diagram.svg"), &LoadOptions::default()).expect_err("svg");
    assert!(
        matches!(&err, LoadError::Unsupported { ext, .. } if ext == "svg"),
        "{err:?}"
    );
    assert!(err.to_string().contains("diagram.svg"), "{err}");

    let missing = doc("no-such-file.txt");
    let err = load(&missing, &LoadOptions::default()).expect_err("missing");
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert_eq!(err.path(), missing);
    assert!(err.to_string().contains("no-such-file.txt"), "{err}");

    let err = load(&doc("code"), &LoadOptions::default()).expect_err("directory");
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
}

#[test]
fn markdown_keeps_text_and_finds_nested_headings() {
    let path = doc("notes.md");
    let d = load_ok(&path);
    assert_eq!(d.format, Format::Markdown);
    let page = only_page(&d);
    let raw = std::fs::read_to_string(&path).expect("fixture");
    assert_eq!(page.text, raw, "markdown text is kept as written");
    let expected = vec![
        (
            strings(&["Garden Notebook"]),
            "# Garden Notebook".to_string(),
        ),
        (strings(&["Garden Notebook", "Soil"]), "## Soil".to_string()),
        (
            strings(&["Garden Notebook", "Soil", "Compost"]),
            "### Compost".to_string(),
        ),
        (
            strings(&["Garden Notebook", "Soil", "Mulch"]),
            "### Mulch".to_string(),
        ),
        (
            strings(&["Garden Notebook", "Planting Calendar"]),
            "## Planting Calendar".to_string(),
        ),
        (
            strings(&["Garden Notebook", "Watering Schedule"]),
            "Watering Schedule".to_string(),
        ),
        (strings(&["Tools"]), "# Tools".to_string()),
        (
            strings(&["Tools", "Sharpening"]),
            "## Sharpening ##".to_string(),
        ),
    ];
    assert_eq!(heading_table(page), expected);
}

#[test]
fn html_has_visible_text_only() {
    let d = load_ok(&doc("page.html"));
    assert_eq!(d.format, Format::Html);
    let page = only_page(&d);
    let text = &page.text;
    for absent in [
        "trackingMarker",
        "script text must never be indexed",
        "changed by script",
        "another script marker",
        "stylesheet-marker",
        "font-family",
        "Enable JavaScript",
        "template content",
        "hidden panel",
        "svg label",
    ] {
        assert!(!text.contains(absent), "{absent:?} leaked into:\n{text}");
    }
    assert!(text.starts_with("Beekeeping Basics\n"), "{text}");
    for present in [
        "A healthy colony of Apis mellifera can hold sixty thousand workers",
        "- Look for queen cells along the frame edges.",
        "Month | Yield\nJuly | 12 kg",
        "frames   10\nsupers    2",
        "Honey extraction uses a centrifuge\u{2014}never heat above 40\u{b0}C.",
    ] {
        assert!(text.contains(present), "{present:?} missing from:\n{text}");
    }
    let expected = vec![
        (
            strings(&["Beekeeping Basics"]),
            "Beekeeping Basics".to_string(),
        ),
        (
            strings(&["Beekeeping Basics", "Inspecting the Hive"]),
            "Inspecting the Hive".to_string(),
        ),
        (
            strings(&["Beekeeping Basics", "Inspecting the Hive", "Varroa Mites"]),
            "Varroa Mites".to_string(),
        ),
        (
            strings(&["Beekeeping Basics", "Harvest"]),
            "Harvest".to_string(),
        ),
    ];
    assert_eq!(heading_table(page), expected);
}

#[test]
fn html_meta_charset_is_honoured() {
    let d = load_ok(&doc("legacy.html"));
    let page = only_page(&d);
    assert!(
        page.text.contains("The chef\u{2019}s \u{201c}na\u{ef}ve\u{201d} recipe needs six egg yolks \u{2013} no more."),
        "{}",
        page.text
    );
    assert_eq!(
        heading_table(page),
        vec![(
            strings(&["Cr\u{e8}me br\u{fb}l\u{e9}e"]),
            "Cr\u{e8}me br\u{fb}l\u{e9}e".to_string()
        )]
    );
}

#[test]
fn text_encodings_are_decoded() {
    let latin1 = load_ok(&doc("latin1.txt"));
    let text = &only_page(&latin1).text;
    assert_eq!(latin1.format, Format::Text);
    for word in [
        "caf\u{e9}",
        "Stra\u{df}e",
        "M\u{fc}ller",
        "sm\u{f6}rg\u{e5}sbord",
        "\u{c5}re",
        "fa\u{e7}ade",
    ] {
        assert!(text.contains(word), "{word:?} missing from {text:?}");
    }

    let utf16 = load_ok(&doc("utf16.txt"));
    let text = &only_page(&utf16).text;
    assert!(
        text.starts_with("This file is UTF-16"),
        "BOM must be gone: {text:?}"
    );
    assert!(
        text.contains("\u{17e}lu\u{165}ou\u{10d}k\u{fd} k\u{16f}\u{148}"),
        "{text:?}"
    );
    assert!(text.contains("\u{65e5}\u{672c}\u{8a9e}"), "{text:?}");
}

#[test]
fn tables_keep_the_header_with_every_row_and_name_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("sales.csv");
    std::fs::write(
        &csv,
        "Month;Total;Region\nJanuary;100;North\nFebruary;;\nMarch;\"1 200\";South\n",
    )
    .expect("write");
    let d = load_ok(&csv);
    assert_eq!(d.format, Format::Table);
    assert_eq!(d.pages.len(), 1);
    let page = &d.pages[0];
    assert!(
        page.text
            .contains("Row 4: Month: March; Total: 1 200; Region: South"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("Row 3: Month: February\n"),
        "{}",
        page.text
    );
    assert_eq!(page.headings.len(), 1);
    assert_eq!(page.headings[0].path, ["Rows 2–26"]);

    let tsv = dir.path().join("people.tsv");
    std::fs::write(&tsv, "Name\tRole\nAda\tengineer, mathematician\n").expect("write");
    let d = load_ok(&tsv);
    assert!(
        d.pages[0]
            .text
            .contains("Row 2: Name: Ada; Role: engineer, mathematician"),
        "{}",
        d.pages[0].text
    );
}

/// A small .pptx written here: two slides shown in the opposite order of
/// their file names, the second with speaker notes.
fn write_pptx(path: &Path) {
    use std::io::Write;
    let slide = |texts: &[&str]| {
        let paras: String = texts
            .iter()
            .map(|t| format!("<a:p><a:r><a:t>{t}</a:t></a:r></a:p>"))
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody>{paras}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#
        )
    };
    let parts: Vec<(&str, String)> = vec![
        (
            "ppt/presentation.xml",
            r#"<?xml version="1.0"?><p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>"#.to_string(),
        ),
        (
            "ppt/_rels/presentation.xml.rels",
            r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide2.xml"/></Relationships>"#.to_string(),
        ),
        ("ppt/slides/slide2.xml", slide(&["Kestrel survey", "Counted on the north ridge."])),
        ("ppt/slides/slide1.xml", slide(&["Budget", "Travel is capped at 400 euros per trip."])),
        (
            "ppt/slides/_rels/slide1.xml.rels",
            r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>"#.to_string(),
        ),
        (
            "ppt/notesSlides/notesSlide1.xml",
            slide(&["Remind everyone that the cap includes hotel nights."]),
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    for (name, body) in parts {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start part");
        zip.write_all(body.as_bytes()).expect("write part");
    }
    zip.finish().expect("finish");
}

#[test]
fn slides_are_pages_in_presentation_order_with_their_notes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deck = dir.path().join("review.pptx");
    write_pptx(&deck);
    let d = load_ok(&deck);
    assert_eq!(d.format, Format::Slides);
    assert_eq!(d.pages.len(), 2);
    assert_eq!(d.pages[0].number, Some(1));
    assert!(
        d.pages[0].text.starts_with("Kestrel survey\n"),
        "{:?}",
        d.pages[0]
    );
    assert_eq!(d.pages[1].number, Some(2));
    let second = &d.pages[1];
    assert!(
        second
            .text
            .contains("Travel is capped at 400 euros per trip."),
        "{second:?}"
    );
    assert!(
        second
            .text
            .contains("Speaker notes:\nRemind everyone that the cap includes hotel nights."),
        "{second:?}"
    );
    assert_eq!(second.headings[1].path, ["Budget", "Speaker notes"]);
    // The bytes path gives the same document.
    let bytes = std::fs::read(&deck).expect("read");
    let from_bytes = cairn_load::load_bytes(&deck, Format::Slides, bytes, &LoadOptions::default())
        .expect("load_bytes");
    assert_eq!(d, from_bytes);

    // More text than the limit: refused as it is read, naming both sizes.
    let small = LoadOptions {
        max_text_bytes: 40,
        ..LoadOptions::default()
    };
    let err = load(&deck, &small).expect_err("over the text limit");
    assert_eq!(err.kind(), "too_large", "{err}");

    // Not a zip at all: a corrupt-file error naming it, not a panic.
    let fake = dir.path().join("fake.pptx");
    std::fs::write(&fake, b"this is not a presentation").expect("write");
    let err = load(&fake, &LoadOptions::default()).expect_err("corrupt");
    assert_eq!(err.kind(), "corrupt", "{err}");
    assert!(err.to_string().contains("fake.pptx"), "{err}");
}

#[test]
fn plain_text_is_kept_as_is() {
    let path = doc("plain.txt");
    let d = load_ok(&path);
    assert_eq!(d.format, Format::Text);
    let page = only_page(&d);
    assert_eq!(page.text, std::fs::read_to_string(&path).expect("fixture"));
    assert!(page.text.contains("forty-two bells in total"));
    assert!(page.headings.is_empty());
}

#[test]
fn code_and_extensionless_text() {
    let code = load_ok(&doc("code/tokenize.rs"));
    assert_eq!(code.format, Format::Code);
    assert!(only_page(&code)
        .text
        .contains("pub fn asn1_der_coding(len: usize)"));
    assert!(only_page(&code).headings.is_empty());

    let toml = load_ok(&doc("code/settings.toml"));
    assert_eq!(toml.format, Format::Code);
    assert!(only_page(&toml)
        .text
        .contains("inventory_sync_interval_secs = 900"));

    assert_eq!(detect(&doc("CHANGES")), Some(Format::Text));
    let changes = load_ok(&doc("CHANGES"));
    assert!(only_page(&changes)
        .text
        .contains("Keys to the tool cabinet"));

    // Extension-less binary content is not text.
    let dir = tempfile::tempdir().expect("tempdir");
    let blob = dir.path().join("README");
    std::fs::write(&blob, std::fs::read(bad("binary.txt")).expect("fixture")).expect("write");
    assert_eq!(detect(&blob), None);
    let err = load(&blob, &LoadOptions::default()).expect_err("binary");
    assert!(matches!(err, LoadError::Binary { .. }), "{err:?}");
}

#[test]
fn docx_paragraphs_and_heading_styles() {
    let d = load_ok(&doc("report.docx"));
    assert_eq!(d.format, Format::Docx);
    let page = only_page(&d);
    assert!(
        page.text
            .contains("Sales of walnut furniture rose by a third."),
        "{}",
        page.text
    );
    assert!(page.text.contains("North\t40 units"), "{}", page.text);
    let expected = vec![
        (
            strings(&["Quarterly Report"]),
            "Quarterly Report".to_string(),
        ),
        (
            strings(&["Quarterly Report", "Revenue"]),
            "Revenue".to_string(),
        ),
        (
            strings(&["Quarterly Report", "Revenue", "By region"]),
            "By region".to_string(),
        ),
        (
            strings(&["Quarterly Report", "Outlook"]),
            "Outlook".to_string(),
        ),
    ];
    assert_eq!(heading_table(page), expected);

    // A zip without a document part is corrupt, and says so with its name.
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("fake.docx");
    std::fs::copy(bad("garbled.pdf"), &fake).expect("copy");
    let err = load(&fake, &LoadOptions::default()).expect_err("not a zip");
    assert!(matches!(err, LoadError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("fake.docx"), "{err}");
}

fn rel_one(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .expect("under base")
        .to_string_lossy()
        .into_owned()
}

fn rel(paths: &[PathBuf], base: &Path) -> Vec<String> {
    paths.iter().map(|p| rel_one(p, base)).collect()
}

#[test]
fn walk_fixture_docs_skips_hidden_and_ignored() {
    let base = fixtures().join("docs");
    let result = walk(std::slice::from_ref(&base), &WalkOptions::default());
    assert_eq!(
        rel(&result.files, &base),
        strings(&[
            "CHANGES",
            "code/settings.toml",
            "code/tokenize.rs",
            "guide.pdf",
            "latin1.txt",
            "legacy.html",
            "notes.md",
            "page.html",
            "plain.txt",
            "report.docx",
            "shared-mime-info-spec.pdf",
            "utf16.txt",
        ])
    );
    let skipped: Vec<(String, String)> = result
        .skipped
        .iter()
        .map(|s| (rel_one(&s.path, &base), s.reason.clone()))
        .collect();
    assert_eq!(
        skipped,
        vec![(
            "diagram.svg".to_string(),
            "unsupported file type (.svg)".to_string()
        )]
    );

    let all = walk(
        std::slice::from_ref(&base),
        &WalkOptions {
            include_hidden: true,
            respect_gitignore: false,
        },
    );
    let files = rel(&all.files, &base);
    for extra in [".hidden-notes.txt", "ideas.draft.md", "scratch/todo.txt"] {
        assert!(
            files.contains(&extra.to_string()),
            "{extra} missing from {files:?}"
        );
    }
}

#[test]
fn walk_prunes_heavy_folders_and_reports_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    let write = |rel: &str, body: &[u8]| {
        let path = base.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    };
    write("keep/a.md", b"# A\n");
    write("keep/B.txt", b"b");
    write("node_modules/pkg/readme.md", b"# dependency\n");
    write("target/debug/build.log", b"compiling\n");
    write(".git/HEAD", b"ref: refs/heads/main\n");
    write("sub/target/deep.md", b"pruned at any depth\n");
    write("photos/cat.heic", b"\0\0\0\x18ftypheic");
    write("LICENSE", b"Permission is hereby granted, free of charge\n");
    write("firmware", b"\x7fELF\x02\x01\x01\0\0\0");
    std::os::unix::fs::symlink(base, base.join("keep/loop")).expect("symlink");
    std::os::unix::fs::symlink(base.join("nowhere"), base.join("dangling.md")).expect("symlink");

    let missing = base.join("missing-root");
    let single = base.join("keep/a.md");
    let opts = WalkOptions {
        include_hidden: true,
        ..WalkOptions::default()
    };
    let result = walk(
        &[base.to_path_buf(), single.clone(), missing.clone()],
        &opts,
    );
    assert_eq!(
        rel(&result.files, base),
        strings(&["LICENSE", "keep/B.txt", "keep/a.md"]),
        "the duplicate root file appears once"
    );
    let reasons: Vec<(String, String)> = result
        .skipped
        .iter()
        .map(|s| (rel_one(&s.path, base), s.reason.clone()))
        .collect();
    let find = |name: &str| {
        reasons
            .iter()
            .find(|(p, _)| p == name)
            .unwrap_or_else(|| panic!("{name} not in skipped: {reasons:?}"))
            .1
            .clone()
    };
    assert!(find("keep/loop").contains("loop"), "{reasons:?}");
    assert!(find("dangling.md").contains("cannot read"), "{reasons:?}");
    assert_eq!(find("photos/cat.heic"), "unsupported file type (.heic)");
    assert_eq!(find("firmware"), "binary content, not text");
    assert!(find("missing-root").contains("cannot read"), "{reasons:?}");
    assert_eq!(reasons.len(), 5, "{reasons:?}");

    // Scanning twice gives the same answer.
    assert_eq!(walk(&[base.to_path_buf(), single, missing], &opts), result);
}
