//! The PDF loader: arbitrary bytes in, never a panic outside the isolated
//! extraction thread, never an abort. Panics inside `pdf-extract` are caught
//! by the loader and reported as `Corrupt`; that is the product's behaviour
//! and not a finding. What libFuzzer reports here is what the isolation does
//! not contain: stack overflows, aborts, out-of-memory, or a panic in our own
//! post-processing.
#![no_main]

use std::path::Path;
use std::time::Duration;

use cairn_core::Format;
use cairn_load::{load_bytes, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        // Slow inputs are reported as timeouts by the loader; libFuzzer's own
        // -timeout is set higher so that it only fires on a real hang.
        pdf_timeout: Duration::from_secs(10),
        ..LoadOptions::default()
    };
    let path = Path::new("fuzz-input.pdf");
    match load_bytes(path, Format::Pdf, data.to_vec(), &opts) {
        Ok(doc) => {
            assert!(!doc.pages.is_empty());
            for (i, page) in doc.pages.iter().enumerate() {
                assert!(page.number.is_some(), "pdf pages are numbered");
                assert!(!page.text.contains('\r'), "page {i}");
            }
        }
        Err(e) => assert_eq!(e.path(), path),
    }
});
