//! The chunker: arbitrary pages, headings and configuration in; every
//! guarantee documented on `chunk_document` is checked on the output.
#![no_main]

use std::path::PathBuf;

use arbitrary::Arbitrary;
use cairn_core::{chunk_document, ChunkConfig, Document, Format, Heading, Page, TokenCounter};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    code: bool,
    chars_as_tokens: bool,
    max_tokens: u8,
    target_tokens: u8,
    overlap_tokens: u8,
    pages: Vec<(String, Vec<(u16, Vec<String>)>)>,
}

/// One token per character: a tokenizer as fine-grained as they come, which
/// pushes the chunker to its character-level splitting.
struct CharCounter;

impl TokenCounter for CharCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.chars().count()
    }
}

fuzz_target!(|input: Input| {
    let pages: Vec<Page> = input
        .pages
        .into_iter()
        .take(4)
        .enumerate()
        .map(|(i, (text, heads))| {
            // Loaders guarantee sorted, in-bounds, char-aligned heading
            // offsets; the fuzzer builds only inputs that keep that contract.
            let mut headings: Vec<Heading> = heads
                .into_iter()
                .take(8)
                .filter_map(|(offset, path)| {
                    let offset = usize::from(offset);
                    (offset <= text.len() && text.is_char_boundary(offset) && !path.is_empty())
                        .then_some(Heading { offset, path })
                })
                .collect();
            headings.sort_by_key(|h| h.offset);
            Page {
                number: Some(i as u32 + 1),
                text,
                headings,
            }
        })
        .collect();
    let doc = Document {
        path: PathBuf::from("fuzz-input"),
        format: if input.code {
            Format::Code
        } else {
            Format::Text
        },
        pages,
    };
    let cfg = ChunkConfig {
        max_tokens: usize::from(input.max_tokens),
        target_tokens: usize::from(input.target_tokens),
        overlap_tokens: usize::from(input.overlap_tokens),
    };
    let counter: &dyn TokenCounter = if input.chars_as_tokens {
        &CharCounter
    } else {
        &cairn_core::WordCounter
    };
    let chunks = chunk_document(&doc, counter, &cfg);
    let max = cfg.max_tokens.max(1);

    let mut covered: Vec<Vec<bool>> = doc
        .pages
        .iter()
        .map(|p| vec![false; p.text.chars().count()])
        .collect();
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.ordinal as usize, i);
        let page_index = doc
            .pages
            .iter()
            .position(|p| p.number == c.page)
            .expect("chunk names an existing page");
        let page = &doc.pages[page_index];
        let slice: String = page
            .text
            .chars()
            .skip(c.start)
            .take(c.end - c.start)
            .collect();
        assert_eq!(slice, c.text, "text is exactly the page's chars start..end");
        assert!(!c.text.is_empty());
        assert_eq!(c.text.trim(), c.text, "no surrounding whitespace");
        assert_eq!(c.tokens, counter.count_tokens(&c.text));
        assert!(
            c.tokens <= max || c.text.chars().count() == 1,
            "{} tokens > max {max}: {:?}",
            c.tokens,
            c.text
        );
        for flag in &mut covered[page_index][c.start..c.end] {
            *flag = true;
        }
    }
    for (page, flags) in doc.pages.iter().zip(&covered) {
        for (ch, seen) in page.text.chars().zip(flags) {
            assert!(*seen || ch.is_whitespace(), "{ch:?} is in no chunk");
        }
    }
});
