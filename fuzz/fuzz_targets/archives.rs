//! The zip-and-XML loaders with pages (PPTX slides, XLSX and ODS sheets, EPUB
//! chapters) and CSV tables: arbitrary bytes in, a `Document` or a
//! `LoadError` out, never a panic, and pages whose headings can slice their
//! text. The first byte picks the format.
#![no_main]

use std::path::Path;

use cairn_core::Format;
use cairn_load::{load_bytes, LoadOptions};
use libfuzzer_sys::fuzz_target;

const FORMATS: [(Format, &str); 5] = [
    (Format::Slides, "fuzz-input.pptx"),
    (Format::Spreadsheet, "fuzz-input.xlsx"),
    (Format::Spreadsheet, "fuzz-input.ods"),
    (Format::Ebook, "fuzz-input.epub"),
    (Format::Table, "fuzz-input.csv"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (format, name) = FORMATS[usize::from(selector) % FORMATS.len()];
    let opts = LoadOptions {
        // Small limits keep each run fast; they are what is being checked.
        max_file_bytes: 1 << 20,
        max_text_bytes: 1 << 20,
        ..LoadOptions::default()
    };
    let Ok(doc) = load_bytes(Path::new(name), format, body.to_vec(), &opts) else {
        return;
    };
    assert_eq!(doc.format, format);
    assert!(doc.pages.iter().any(|p| !p.text.trim().is_empty()));
    let text: usize = doc.pages.iter().map(|p| p.text.len()).sum();
    assert!(text as u64 <= opts.max_text_bytes);
    for page in &doc.pages {
        let mut last = 0;
        for h in &page.headings {
            assert!(h.offset <= page.text.len(), "{h:?}");
            assert!(page.text.is_char_boundary(h.offset), "{h:?}");
            assert!(h.offset >= last, "headings are sorted");
            last = h.offset;
        }
    }
});
