//! Table tests for the chunker. Every case also goes through
//! [`assert_invariants`], so each one-liner checks offsets, trimming, token
//! bounds, section containment and coverage as well as the expected texts.

use super::*;
use crate::types::Heading;
use crate::WordCounter;
use std::path::PathBuf;

/// One token per whitespace-separated word: makes expected chunks easy to
/// read off a test case.
struct SpaceCounter;

impl TokenCounter for SpaceCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

/// One token per non-whitespace character, the way a byte-level tokenizer
/// treats a long string it has no merges for.
struct CharCounter;

impl TokenCounter for CharCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.chars().filter(|c| !c.is_whitespace()).count()
    }
}

fn cfg(target_tokens: usize, max_tokens: usize, overlap_tokens: usize) -> ChunkConfig {
    ChunkConfig {
        max_tokens,
        target_tokens,
        overlap_tokens,
    }
}

/// A page whose headings are given by the text they start with.
fn page(number: Option<u32>, text: &str, headings: &[(&str, &[&str])]) -> Page {
    let headings = headings
        .iter()
        .map(|(marker, path)| Heading {
            offset: text
                .find(marker)
                .expect("heading marker is in the page text"),
            path: path.iter().map(|s| s.to_string()).collect(),
        })
        .collect();
    Page {
        number,
        text: text.to_owned(),
        headings,
    }
}

fn doc(format: Format, pages: Vec<Page>) -> Document {
    Document {
        path: PathBuf::from("test"),
        format,
        pages,
    }
}

fn run(doc: &Document, counter: &dyn TokenCounter, cfg: ChunkConfig) -> Vec<Chunk> {
    let chunks = chunk_document(doc, counter, &cfg);
    assert_invariants(doc, &chunks, counter, &cfg);
    chunks
}

fn check_with(
    counter: &dyn TokenCounter,
    format: Format,
    text: &str,
    cfg: ChunkConfig,
    expected: &[&str],
) {
    let d = doc(format, vec![page(None, text, &[])]);
    let chunks = run(&d, counter, cfg);
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, expected, "input: {text:?}");
}

/// Plain text, counted one token per word.
fn check(text: &str, cfg: ChunkConfig, expected: &[&str]) {
    check_with(&SpaceCounter, Format::Text, text, cfg, expected);
}

/// One line per chunk: ordinal, page, heading path, char span and text.
fn render(chunks: &[Chunk]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| {
            let page = c.page.map_or("-".to_owned(), |p| p.to_string());
            format!(
                "{} p{} [{}] {}..{} {:?}",
                c.ordinal,
                page,
                c.heading_path.join(" > "),
                c.start,
                c.end,
                c.text
            )
        })
        .collect()
}

/// What must hold for any input; see [`chunk_document`]'s documentation.
fn assert_invariants(
    doc: &Document,
    chunks: &[Chunk],
    counter: &dyn TokenCounter,
    cfg: &ChunkConfig,
) {
    let max = cfg.max_tokens.max(1);
    let mut page_index = 0;
    let mut inherited: Vec<String> = Vec::new();
    let mut covered: Vec<Vec<bool>> = doc
        .pages
        .iter()
        .map(|p| vec![false; p.text.chars().count()])
        .collect();
    let mut previous: Option<&Chunk> = None;
    let mut page_paths: Vec<Vec<(usize, Vec<String>)>> = Vec::new();
    let page_chars: Vec<Vec<char>> = doc.pages.iter().map(|p| p.text.chars().collect()).collect();
    for page in &doc.pages {
        // Heading starts as char offsets, sorted, with the section path in force before them.
        let mut heads: Vec<(usize, Vec<String>)> = page
            .headings
            .iter()
            .map(|h| {
                let mut b = h.offset.min(page.text.len());
                while !page.text.is_char_boundary(b) {
                    b -= 1;
                }
                (page.text[..b].chars().count(), h.path.clone())
            })
            .collect();
        heads.sort_by_key(|h| h.0);
        heads.insert(0, (0, inherited.clone()));
        inherited = heads.last().map(|h| h.1.clone()).unwrap_or_default();
        page_paths.push(heads);
    }

    for (n, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.ordinal as usize, n, "ordinals count from 0");
        while doc.pages[page_index].number != chunk.page {
            page_index += 1;
            previous = None;
        }
        let chars = &page_chars[page_index];
        assert!(
            chunk.start < chunk.end && chunk.end <= chars.len(),
            "span {chunk:?}"
        );
        let expected: String = chars[chunk.start..chunk.end].iter().collect();
        assert_eq!(chunk.text, expected, "text is the page's chars[start..end]");
        assert_eq!(chunk.text.trim(), chunk.text, "chunk is trimmed");
        assert_eq!(
            chunk.tokens,
            counter.count_tokens(&chunk.text),
            "tokens are counted on the text"
        );
        assert!(
            chunk.tokens <= max || chunk.text.chars().count() == 1,
            "{} tokens > max {max}: {:?}",
            chunk.tokens,
            chunk.text
        );

        let heads = &page_paths[page_index];
        for &(h, _) in heads {
            assert!(
                !(chunk.start < h && h < chunk.end),
                "chunk {chunk:?} crosses a heading at {h}"
            );
        }
        let path = heads
            .iter()
            .rev()
            .find(|h| h.0 <= chunk.start)
            .map(|h| &h.1)
            .expect("the first entry starts at 0");
        assert_eq!(&chunk.heading_path, path, "heading path of {chunk:?}");

        if let Some(prev) = previous {
            assert!(
                chunk.start > prev.start && chunk.end > prev.end,
                "chunks advance: {prev:?} then {chunk:?}"
            );
            if cfg.overlap_tokens == 0 {
                assert!(
                    chunk.start >= prev.end,
                    "no overlap asked for: {prev:?} then {chunk:?}"
                );
            }
        }
        previous = Some(chunk);
        for c in &mut covered[page_index][chunk.start..chunk.end] {
            *c = true;
        }
    }
    for (page, covered) in doc.pages.iter().zip(&covered) {
        for (i, (ch, covered)) in page.text.chars().zip(covered).enumerate() {
            assert!(
                *covered || ch.is_whitespace(),
                "char {i} ({ch:?}) of page {:?} is in no chunk",
                page.number
            );
        }
    }
}

#[test]
fn short_document_is_one_chunk() {
    let d = ChunkConfig::default();
    check(
        "Hello world. This is short.",
        d,
        &["Hello world. This is short."],
    );
    check("\n\n   Hello world.   \n\n", d, &["Hello world."]);
    check_with(
        &WordCounter,
        Format::Markdown,
        "# Title\n\nSome text.",
        d,
        &["# Title\n\nSome text."],
    );
}

#[test]
fn whitespace_produces_no_chunks() {
    let d = ChunkConfig::default();
    check("", d, &[]);
    check(" \n\n\t \u{3000} \r\n", d, &[]);
}

#[test]
fn paragraphs_are_packed_up_to_the_target() {
    check(
        "a b c.\n\nd e f.\n\ng h i.",
        cfg(6, 8, 0),
        &["a b c.\n\nd e f.", "g h i."],
    );
    check(
        "One two.\n\nThree four. Five six seven.",
        cfg(6, 8, 0),
        &["One two.\n\nThree four.", "Five six seven."],
    );
    // Greedy packing would end after "Five six."; the paragraph end is a better place.
    check(
        "One two three four.\n\nFive six. Seven eight nine.",
        cfg(6, 8, 0),
        &["One two three four.", "Five six. Seven eight nine."],
    );
    // A unit above the target but within the maximum stays whole, in its own chunk.
    check(
        "Aa bb.\n\nCc dd ee ff gg.\n\nHh.",
        cfg(3, 5, 0),
        &["Aa bb.", "Cc dd ee ff gg.", "Hh."],
    );
}

/// With a target of one token every unit becomes its own chunk, which shows
/// where the sentence splitter cut.
#[test]
fn sentences_split_at_stops_but_not_abbreviations_or_numbers() {
    let units = cfg(1, 100, 0);
    check(
        "Use tools, e.g. hammers. Then stop.",
        units,
        &["Use tools, e.g. hammers.", "Then stop."],
    );
    check(
        "That is, i.e. the rest. Fine.",
        units,
        &["That is, i.e. the rest.", "Fine."],
    );
    check(
        "Dr. Smith met J. Doe. They talked.",
        units,
        &["Dr. Smith met J. Doe.", "They talked."],
    );
    check(
        "Pi is 3.14 today. Use v1.2 now! Why? Because.",
        units,
        &["Pi is 3.14 today.", "Use v1.2 now!", "Why?", "Because."],
    );
    check(
        "Version 2.0.1 is out. Get it.",
        units,
        &["Version 2.0.1 is out.", "Get it."],
    );
    check(
        "He said \"Stop.\" Then he left.",
        units,
        &["He said \"Stop.\"", "Then he left."],
    );
    check(
        "(See above.) Next one.",
        units,
        &["(See above.)", "Next one."],
    );
    check(
        "Wait... What?! Fine.",
        units,
        &["Wait...", "What?!", "Fine."],
    );
    check(
        "It ran in the U.S. Army base. See fig. 3 too.",
        units,
        &["It ran in the U.S. Army base.", "See fig. 3 too."],
    );
    check(
        "See the list etc. and more. Done.",
        units,
        &["See the list etc. and more.", "Done."],
    );
    check(
        "Check a!=b here. Done.",
        units,
        &["Check a!=b here.", "Done."],
    );
    check(
        "First line.\nSecond line.",
        units,
        &["First line.", "Second line."],
    );
    check(
        "This line wraps\nhere. And ends.",
        units,
        &["This line wraps\nhere.", "And ends."],
    );
}

#[test]
fn cjk_full_stops_end_sentences_without_spaces() {
    let units = cfg(1, 100, 0);
    check(
        "今日は晴れです。明日は雨です。",
        units,
        &["今日は晴れです。", "明日は雨です。"],
    );
    check("你好！再见？好的。", units, &["你好！", "再见？", "好的。"]);
    check(
        "日本語です。 English here. 中文。",
        units,
        &["日本語です。", "English here.", "中文。"],
    );
}

#[test]
fn code_is_split_at_lines() {
    let units = cfg(1, 100, 0);
    check(
        "int main() {\n  return 0;\n}",
        units,
        &["int main() {", "return 0;", "}"],
    );
    // Inside a fence, prose-looking lines are code too, and blank lines do not end the block.
    check_with(
        &SpaceCounter,
        Format::Markdown,
        "```\nSee here. And there.\nOne. Two.\n\nMore. Yes.\n```",
        units,
        &[
            "```",
            "See here. And there.",
            "One. Two.",
            "More. Yes.",
            "```",
        ],
    );
    let source = "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n";
    check_with(
        &SpaceCounter,
        Format::Code,
        source,
        cfg(4, 6, 0),
        &["fn main() {", "let x = 1;", "println!(\"{x}\");\n}"],
    );
}

#[test]
fn long_sentence_is_split_at_words() {
    let text = "one two three four five six seven eight nine ten eleven.";
    check(
        text,
        cfg(4, 5, 0),
        &[
            "one two three four",
            "five six seven eight",
            "nine ten eleven.",
        ],
    );
    check(
        text,
        cfg(4, 5, 1),
        &[
            "one two three four",
            "four five six seven",
            "seven eight nine ten",
            "ten eleven.",
        ],
    );
}

#[test]
fn long_sentence_is_split_at_lines_before_words() {
    check(
        "- apples and pears\n- plums\n- figs and dates and more",
        cfg(3, 4, 0),
        &[
            "- apples and pears",
            "- plums",
            "- figs and",
            "dates and more",
        ],
    );
}

#[test]
fn giant_word_is_split_at_chars() {
    check_with(
        &CharCounter,
        Format::Text,
        "abcdefghij",
        cfg(4, 4, 0),
        &["abcd", "efgh", "ij"],
    );
    check_with(
        &CharCounter,
        Format::Text,
        "Go. abcdefghij",
        cfg(4, 5, 0),
        &["Go.", "abcd", "efgh", "ij"],
    );
    // WordCounter sees "a-b" as three tokens, so a long hyphenated string must be cut.
    let giant = "x-".repeat(500);
    let d = doc(Format::Text, vec![page(None, &giant, &[])]);
    let chunks = run(&d, &WordCounter, ChunkConfig::default());
    assert!(chunks.len() > 1, "a 1000-token string cannot be one chunk");
}

#[test]
fn enormous_string_without_spaces_stays_within_max_tokens() {
    let giant = "0123456789".repeat(20_000);
    let d = doc(Format::Text, vec![page(None, &giant, &[])]);
    let chunks = run(&d, &CharCounter, ChunkConfig::default());
    assert_eq!(chunks.len(), 1000, "200-char pieces at the default target");
}

#[test]
fn overlap_carries_whole_trailing_sentences() {
    check(
        "Aa bb. Cc dd. Ee ff. Gg hh. Ii jj.",
        cfg(6, 10, 2),
        &["Aa bb. Cc dd. Ee ff.", "Ee ff. Gg hh. Ii jj."],
    );
    check(
        "Aa bb. Cc dd. Ee ff. Gg hh. Ii jj.",
        cfg(8, 12, 4),
        &["Aa bb. Cc dd. Ee ff. Gg hh.", "Ee ff. Gg hh. Ii jj."],
    );
    // A chunk is never repeated whole as the overlap of the next.
    check(
        "Aa bb. Cc dd ee ff.",
        cfg(4, 10, 2),
        &["Aa bb.", "Cc dd ee ff."],
    );
    // The last sentence exceeds the budget: its trailing words are carried instead.
    let text = "One two three four. Five six seven eight.";
    check(
        text,
        cfg(4, 6, 2),
        &["One two three four.", "three four. Five six seven eight."],
    );
    // ... preferably from the start of a clause.
    check(
        "Aa bb cc dd ee ff gg, hh ii jj. Kk ll.",
        cfg(8, 14, 4),
        &["Aa bb cc dd ee ff gg, hh ii jj.", "hh ii jj. Kk ll."],
    );
    // No room under the maximum: the overlap is dropped rather than the limit broken.
    check(
        text,
        cfg(4, 5, 2),
        &["One two three four.", "Five six seven eight."],
    );
    // The overlap is capped at half the target.
    check(
        text,
        cfg(4, 10, 8),
        &["One two three four.", "three four. Five six seven eight."],
    );
}

#[test]
fn headings_bound_chunks_and_give_their_path() {
    let text = "Preface text.\n# Intro\nHello there.\n\n# Setup\nRun it.\n## Debian\nApt get.\n";
    let heads: &[(&str, &[&str])] = &[
        ("# Intro", &["Intro"]),
        ("# Setup", &["Setup"]),
        ("## Debian", &["Setup", "Debian"]),
    ];
    let d = doc(Format::Markdown, vec![page(None, text, heads)]);
    assert_eq!(
        render(&run(&d, &SpaceCounter, cfg(200, 254, 32))),
        [
            r###"0 p- [] 0..13 "Preface text.""###,
            r###"1 p- [Intro] 14..34 "# Intro\nHello there.""###,
            r###"2 p- [Setup] 36..51 "# Setup\nRun it.""###,
            r###"3 p- [Setup > Debian] 52..70 "## Debian\nApt get.""###,
        ]
    );
}

#[test]
fn overlap_does_not_cross_headings() {
    let text = "# A\nAa bb. Cc dd. Ee ff.\n# B\nGg hh. Ii jj.";
    let d = doc(
        Format::Markdown,
        vec![page(None, text, &[("# A", &["A"]), ("# B", &["B"])])],
    );
    let texts: Vec<String> = run(&d, &SpaceCounter, cfg(4, 10, 2))
        .into_iter()
        .map(|c| c.text)
        .collect();
    assert_eq!(
        texts,
        [
            "# A\nAa bb.",
            "Aa bb. Cc dd.",
            "Cc dd. Ee ff.",
            "# B\nGg hh.",
            "Gg hh. Ii jj."
        ]
    );
}

#[test]
fn pdf_pages_bound_chunks_and_sections_continue_across_pages() {
    let d = doc(
        Format::Pdf,
        vec![
            page(
                Some(1),
                "Alpha beta.\n\nGamma.",
                &[("Alpha", &["Chapter 1"])],
            ),
            page(Some(2), "Delta epsilon.", &[]),
            page(Some(3), "", &[]),
            page(Some(4), "  \n \u{c} ", &[]),
            page(Some(5), "Zeta.", &[("Zeta", &["Chapter 2"])]),
        ],
    );
    assert_eq!(
        render(&run(&d, &SpaceCounter, ChunkConfig::default())),
        [
            r###"0 p1 [Chapter 1] 0..19 "Alpha beta.\n\nGamma.""###,
            r###"1 p2 [Chapter 1] 0..14 "Delta epsilon.""###,
            r###"2 p5 [Chapter 2] 0..5 "Zeta.""###,
        ]
    );
}

#[test]
fn misplaced_heading_offsets_are_repaired() {
    // Byte 1 is inside "é"; byte 999 is past the end. Neither may panic.
    let mut first = page(Some(1), "éa b. Cd.", &[]);
    first.headings = vec![
        Heading {
            offset: 1,
            path: vec!["A".into()],
        },
        Heading {
            offset: 999,
            path: vec!["Z".into()],
        },
    ];
    let d = doc(Format::Pdf, vec![first, page(Some(2), "More.", &[])]);
    assert_eq!(
        render(&run(&d, &SpaceCounter, ChunkConfig::default())),
        [
            r###"0 p1 [A] 0..9 "éa b. Cd.""###,
            r###"1 p2 [Z] 0..5 "More.""###
        ]
    );
}

#[test]
fn offsets_count_unicode_scalar_values() {
    let text = "Ünïcödé café. 😀 emoji here. 👩‍👩‍👧 family.";
    let d = doc(Format::Text, vec![page(None, text, &[])]);
    assert_eq!(
        render(&run(&d, &SpaceCounter, cfg(1, 100, 0))),
        [
            r###"0 p- [] 0..13 "Ünïcödé café.""###,
            r###"1 p- [] 14..27 "😀 emoji here.""###,
            r###"2 p- [] 28..41 "👩\u{200d}👩\u{200d}👧 family.""###,
        ]
    );
    let d = doc(Format::Text, vec![page(None, "😀😀😀😀😀", &[])]);
    assert_eq!(
        render(&run(&d, &CharCounter, cfg(2, 2, 0))),
        [
            r###"0 p- [] 0..2 "😀😀""###,
            r###"1 p- [] 2..4 "😀😀""###,
            r###"2 p- [] 4..5 "😀""###
        ]
    );
}

#[test]
fn inconsistent_config_is_repaired() {
    // Target above max and a zero max: both are clamped instead of failing.
    check("a b c d e f.", cfg(10, 4, 0), &["a b c d", "e f."]);
    check("a b.", cfg(0, 0, 0), &["a", "b."]);
}

#[test]
fn config_defaults_fill_missing_fields() {
    let parsed: ChunkConfig = serde_json::from_str(r#"{"max_tokens": 100}"#).expect("valid json");
    assert_eq!(
        parsed,
        ChunkConfig {
            max_tokens: 100,
            ..ChunkConfig::default()
        }
    );
}

/// A tiny xorshift generator so that the generated cases are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Text mixing the things the chunker treats specially: abbreviations,
/// numbers, CJK, emoji, code, blank lines, fences and giant words.
fn random_text(rng: &mut Rng, words: usize) -> String {
    const WORDS: &[&str] = &[
        "alpha",
        "beta",
        "Gamma",
        "delta",
        "e.g.",
        "i.e.",
        "Dr.",
        "3.14",
        "v1.2",
        "U.S.",
        "café",
        "naïve",
        "Zürich",
        "😀",
        "👩‍👩‍👧",
        "日本語です。",
        "中文！",
        "fn(x){}",
        "x;",
        "{",
        "}",
        "(see",
        "above.)",
        "\"quoted.\"",
        "a",
        "```",
        "résumé…",
    ];
    const SEPARATORS: &[&str] = &[
        " ", " ", " ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", " \n  \n", "\t", "... ", "。",
        "\n    ",
    ];
    let mut text = String::new();
    for _ in 0..words {
        match rng.below(60) {
            0 => text.push_str(&"ab-".repeat(20 + rng.below(300))),
            1 => text.push_str(&"Q".repeat(1 + rng.below(900))),
            2 => text.push_str("   \n\n\n  \t "),
            _ => text.push_str(rng.pick(WORDS)),
        }
        text.push_str(rng.pick(SEPARATORS));
    }
    text
}

fn random_page(rng: &mut Rng, number: Option<u32>, max_words: usize) -> Page {
    let words = rng.below(max_words + 1);
    let text = random_text(rng, words);
    let headings = (0..rng.below(5))
        .map(|h| {
            let mut offset = rng.below(text.len() + 1);
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            Heading {
                offset,
                path: vec![format!("H{}", rng.below(3)), format!("S{h}")],
            }
        })
        .collect();
    Page {
        number,
        text,
        headings,
    }
}

#[test]
fn invariants_hold_on_generated_documents() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let counters: [&dyn TokenCounter; 3] = [&WordCounter, &SpaceCounter, &CharCounter];
    let formats = [Format::Text, Format::Markdown, Format::Code, Format::Pdf];
    for case in 0..300 {
        let pages = if rng.below(2) == 0 {
            vec![random_page(&mut rng, None, 150)]
        } else {
            (1..=1 + rng.below(4) as u32)
                .map(|n| random_page(&mut rng, Some(n), 80))
                .collect()
        };
        let d = doc(formats[rng.below(formats.len())], pages);
        let max = rng.below(60);
        let config = cfg(rng.below(max + 10), max, rng.below(20));
        let counter = counters[case % counters.len()];
        let chunks = chunk_document(&d, counter, &config);
        assert_invariants(&d, &chunks, counter, &config);
    }
}

#[test]
fn megabyte_of_text_is_chunked_in_one_pass() {
    let mut rng = Rng(42);
    let mut text = String::new();
    while text.len() < 1 << 20 {
        text.push_str(&random_text(&mut rng, 1000));
    }
    let heads = [text.len() / 3, text.len() / 2].map(|mut offset| {
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        Heading {
            offset,
            path: vec![format!("at {offset}")],
        }
    });
    let d = doc(
        Format::Markdown,
        vec![Page {
            number: None,
            text,
            headings: heads.to_vec(),
        }],
    );
    let cfg = ChunkConfig::default();
    let started = std::time::Instant::now();
    let chunks = chunk_document(&d, &WordCounter, &cfg);
    // Reported, not asserted: timing depends on the machine and build profile.
    eprintln!(
        "chunked {} bytes into {} chunks in {:?}",
        d.pages[0].text.len(),
        chunks.len(),
        started.elapsed()
    );
    assert_invariants(&d, &chunks, &WordCounter, &cfg);
    assert!(
        chunks.len() > 1000,
        "1 MB of text makes many chunks, got {}",
        chunks.len()
    );
}
