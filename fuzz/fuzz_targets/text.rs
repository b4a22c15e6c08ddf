//! The text-like loaders (plain text, Markdown, HTML, code, and DOCX's zip +
//! XML reader): arbitrary bytes in, a `Document` or a `LoadError` out, never a
//! panic. The first byte picks the format so one corpus covers all of them.
#![no_main]

use std::path::Path;

use cairn_core::Format;
use cairn_load::{load_bytes, LoadError, LoadOptions};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 5] = [
    Format::Text,
    Format::Markdown,
    Format::Html,
    Format::Code,
    Format::Docx,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let path = Path::new("fuzz-input");
    match load_bytes(path, format, body.to_vec(), &LoadOptions::default()) {
        Ok(doc) => {
            assert_eq!(doc.format, format);
            assert_eq!(doc.pages.len(), 1, "unpaged formats have one page");
            let page = &doc.pages[0];
            assert!(!page.text.trim().is_empty(), "empty text must be an error");
            if format != Format::Docx {
                assert!(!page.text.contains('\r'), "line endings are normalised");
            }
            // Heading offsets are used to slice the text when chunking.
            let mut last = 0;
            for h in &page.headings {
                assert!(h.offset <= page.text.len(), "{h:?}");
                assert!(page.text.is_char_boundary(h.offset), "{h:?}");
                assert!(h.offset >= last, "headings are sorted");
                assert!(!h.path.is_empty());
                last = h.offset;
            }
        }
        Err(e) => {
            assert_eq!(e.path(), path);
            assert!(!matches!(e, LoadError::Timeout { .. }), "{e}");
        }
    }
});
