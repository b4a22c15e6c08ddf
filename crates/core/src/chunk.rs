//! Splitting a [`Document`] into token-bounded passages that can be cited.
//!
//! [`chunk_document`] works page by page and, inside a page, section by section
//! (a section runs from one heading to the next), so a chunk never straddles a
//! page or a heading: a citation then names exactly one page and one section.
//!
//! Each section is first cut into *units*, the smallest pieces the packer moves
//! around: sentences for prose, lines for code. A unit that alone exceeds
//! [`ChunkConfig::max_tokens`] is cut further, at line breaks, then between
//! words, then between characters, so even a single enormous string without
//! spaces yields chunks that fit the embedder's window. Every unit remembers how
//! strong the boundary before it is (paragraph, sentence, line, word or
//! character), which lets the packer prefer closing a chunk at the end of a
//! paragraph over the end of a sentence, and a sentence over a word.
//!
//! The packer then fills chunks greedily up to [`ChunkConfig::target_tokens`]
//! using the units' token counts, and counts the finished chunk once more
//! because real tokenizers are not additive (joining two texts can change the
//! count). The tokenizer therefore runs about twice over the text in total,
//! never repeatedly over a growing chunk. Each chunk after the first in a
//! section starts with the previous chunk's trailing whole sentences, up to
//! [`ChunkConfig::overlap_tokens`]; when the last sentence alone is longer than
//! that, its trailing clause or words are carried instead.
//!
//! Offsets: units are byte ranges into the page text while chunking, and become
//! character (Unicode scalar value) offsets only when a chunk is emitted, with
//! cursors that walk forward so the conversion stays linear.

use crate::text::{push_trimmed, sentences};
use crate::types::{Chunk, Document, Format, Page};
use crate::TokenCounter;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How big chunks should be, in tokens of the embedder's tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkConfig {
    /// Hard upper bound on tokens per chunk (the embedder's window minus special tokens, e.g. 254 for a 256 model).
    pub max_tokens: usize,
    /// Preferred size; chunks close near it at a good boundary.
    pub target_tokens: usize,
    /// Tokens of trailing context repeated at the start of the next chunk (whole sentences where possible).
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    /// Sized for all-MiniLM-L6-v2 (a 256-token window, of which `[CLS]` and
    /// `[SEP]` take two). The target leaves headroom below the hard limit so a
    /// chunk can end at a sentence or paragraph instead of mid-sentence, and the
    /// overlap of about one sentence keeps a statement that straddles two chunks
    /// retrievable from either side.
    fn default() -> Self {
        ChunkConfig {
            max_tokens: 254,
            target_tokens: 200,
            overlap_tokens: 32,
        }
    }
}

/// The configuration with inconsistent values repaired, so the algorithm can
/// rely on `1 <= target <= max` and `overlap <= target / 2`.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max: usize,
    target: usize,
    overlap: usize,
}

impl From<&ChunkConfig> for Limits {
    fn from(cfg: &ChunkConfig) -> Self {
        let max = cfg.max_tokens.max(1);
        let target = cfg.target_tokens.clamp(1, max);
        // An overlap as large as the target would make chunks mostly repeated
        // text; half the target still gives ample context.
        let overlap = cfg.overlap_tokens.min(target / 2);
        Limits {
            max,
            target,
            overlap,
        }
    }
}

/// Cuts `doc` into chunks, numbered from 0 across the whole document.
///
/// Guarantees, for every returned chunk:
/// - `text` is exactly the page text's characters `start..end`, with no
///   leading or trailing whitespace, and never empty;
/// - it lies within one page and one heading section, and `heading_path` is
///   that section's path; text before a page's first heading continues the
///   section of the previous page's last heading (a section may span pages);
/// - `tokens == counter.count_tokens(&text) <= cfg.max_tokens`, unless a single
///   character alone counts more than `max_tokens` (such a character is still
///   emitted, as a chunk of its own);
/// - every non-whitespace character of the document is in at least one chunk.
///
/// `cfg` is repaired if inconsistent: `max_tokens` is at least 1, `target_tokens`
/// is clamped to `1..=max_tokens`, and `overlap_tokens` to at most half the target.
pub fn chunk_document(doc: &Document, counter: &dyn TokenCounter, cfg: &ChunkConfig) -> Vec<Chunk> {
    let limits = Limits::from(cfg);
    let code = doc.format == Format::Code;
    let mut chunks = Vec::new();
    let mut inherited: &[String] = &[];
    for page in &doc.pages {
        inherited = chunk_page(page, inherited, code, counter, limits, &mut chunks);
    }
    chunks
}

/// Chunks one page, appending to `out`; returns the heading path in force at
/// the end of the page so the next page can continue that section.
fn chunk_page<'p>(
    page: &'p Page,
    inherited: &'p [String],
    code: bool,
    counter: &dyn TokenCounter,
    limits: Limits,
    out: &mut Vec<Chunk>,
) -> &'p [String] {
    let text = page.text.as_str();
    let (sections, last_path) = sections(page, inherited);
    let mut starts = CharCursor::new(text);
    let mut ends = CharCursor::new(text);
    let mut units = Vec::new();
    for Section { range, path } in sections {
        units.clear();
        Splitter {
            text,
            counter,
            limits,
            units: &mut units,
        }
        .section(range, code);
        for piece in pack(text, &units, counter, limits) {
            let ordinal = u32::try_from(out.len()).unwrap_or(u32::MAX);
            out.push(Chunk {
                ordinal,
                page: page.number,
                // Chunks come out in text order, so both starts and ends only
                // move forward and each cursor walks the page once.
                start: starts.char_offset(piece.start),
                end: ends.char_offset(piece.end),
                heading_path: path.to_vec(),
                text: text[piece.start..piece.end].to_owned(),
                tokens: piece.tokens,
            });
        }
    }
    last_path
}

/// A heading section of a page: a byte range and the path of its heading.
struct Section<'p> {
    range: Range<usize>,
    path: &'p [String],
}

/// The page's sections in text order, plus the path in force at the end of
/// the page.
fn sections<'p>(page: &'p Page, inherited: &'p [String]) -> (Vec<Section<'p>>, &'p [String]) {
    let text = page.text.as_str();
    // Loaders promise sorted, in-range, char-aligned offsets; repairing them
    // here costs nothing and keeps a loader bug from panicking the indexer.
    let mut heads: Vec<(usize, &[String])> = page
        .headings
        .iter()
        .map(|h| (floor_char_boundary(text, h.offset), h.path.as_slice()))
        .collect();
    heads.sort_by_key(|&(offset, _)| offset);
    let mut out = Vec::with_capacity(heads.len() + 1);
    let (mut start, mut path) = (0, inherited);
    for (offset, next_path) in heads {
        if offset > start {
            out.push(Section {
                range: start..offset,
                path,
            });
        }
        start = offset;
        path = next_path;
    }
    out.push(Section {
        range: start..text.len(),
        path,
    });
    (out, path)
}

/// Strength of the boundary in front of a unit, weakest first. The packer
/// prefers to end a chunk at the strongest boundary available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    /// Inside a word that was too long to keep whole.
    Char,
    /// Between words of a sentence that was too long to keep whole.
    Word,
    /// At a line break inside a sentence that was too long to keep whole.
    Line,
    /// Between sentences (or between lines of code).
    Sentence,
    /// Between paragraphs.
    Paragraph,
}

/// A trimmed, non-empty byte range of the page text that is never split
/// further, with its exact token count (at most `max`, barring one huge char).
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
    before: Boundary,
}

/// Cuts a section into [`Unit`]s.
struct Splitter<'a> {
    text: &'a str,
    counter: &'a dyn TokenCounter,
    limits: Limits,
    units: &'a mut Vec<Unit>,
}

impl Splitter<'_> {
    fn section(&mut self, range: Range<usize>, code: bool) {
        for para in paragraphs(self.text, range) {
            let code = code || para.fenced || looks_like_code(&self.text[para.range.clone()]);
            let pieces = if code {
                lines(self.text, para.range)
            } else {
                sentences(self.text, para.range)
            };
            // A line of code that is too long goes straight to words; a prose
            // sentence that is too long tries its line breaks first (lists
            // without full stops, hard-wrapped text).
            let finer = if code { Boundary::Word } else { Boundary::Line };
            for (n, piece) in pieces.into_iter().enumerate() {
                let before = if n == 0 {
                    Boundary::Paragraph
                } else {
                    Boundary::Sentence
                };
                self.push(piece, before, finer);
            }
        }
    }

    /// Adds `range` as a unit if it fits, otherwise splits it at `finer`
    /// boundaries (and finer ones as needed).
    fn push(&mut self, range: Range<usize>, before: Boundary, finer: Boundary) {
        let tokens = self.counter.count_tokens(&self.text[range.clone()]);
        if tokens <= self.limits.max {
            self.units.push(Unit {
                start: range.start,
                end: range.end,
                tokens,
                before,
            });
            return;
        }
        // Descend until a level actually splits the text; a level that yields
        // one piece would only recount the same string.
        let mut level = finer;
        loop {
            let (parts, next) = match level {
                Boundary::Line => (lines(self.text, range.clone()), Boundary::Word),
                Boundary::Word => (words(self.text, range.clone()), Boundary::Char),
                _ => return self.push_chars(range, before),
            };
            if parts.len() > 1 {
                for (n, part) in parts.into_iter().enumerate() {
                    self.push(part, if n == 0 { before } else { level }, next);
                }
                return;
            }
            level = next;
        }
    }

    /// Cuts a string without whitespace into pieces of at most `target` tokens.
    fn push_chars(&mut self, range: Range<usize>, mut before: Boundary) {
        let mut start = range.start;
        while start < range.end {
            let rest = &self.text[start..range.end];
            let (len, tokens) = longest_prefix(rest, self.counter, self.limits.target);
            self.units.push(Unit {
                start,
                end: start + len,
                tokens,
                before,
            });
            start += len;
            before = Boundary::Char;
        }
    }
}

/// Length in bytes of the longest prefix of `s` that counts at most `limit`
/// tokens (at least one character), and its count.
///
/// The search doubles the candidate length and then bisects, so the cost is
/// proportional to the prefix found, not to `s`: that keeps cutting a
/// megabyte-long string into pieces linear overall.
fn longest_prefix(s: &str, counter: &dyn TokenCounter, limit: usize) -> (usize, usize) {
    let mut good = ceil_char_boundary(s, 1);
    let mut good_tokens = counter.count_tokens(&s[..good]);
    let mut step = 16;
    let mut bad = loop {
        if good >= s.len() {
            return (good, good_tokens);
        }
        let candidate = ceil_char_boundary(s, good + step);
        let tokens = counter.count_tokens(&s[..candidate]);
        if tokens > limit {
            break candidate;
        }
        good = candidate;
        good_tokens = tokens;
        step *= 2;
    };
    loop {
        let mut mid = floor_char_boundary(s, good + (bad - good) / 2);
        if mid <= good {
            mid = ceil_char_boundary(s, good + 1);
        }
        if mid >= bad {
            return (good, good_tokens);
        }
        let tokens = counter.count_tokens(&s[..mid]);
        if tokens <= limit {
            good = mid;
            good_tokens = tokens;
        } else {
            bad = mid;
        }
    }
}

/// A finished chunk as a byte range of the page text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    start: usize,
    end: usize,
    tokens: usize,
}

/// Trailing context carried from one chunk into the next.
#[derive(Debug, Clone, Copy)]
struct Carry {
    start: usize,
    tokens: usize,
}

/// Packs a section's units into chunks; see the module documentation.
fn pack(text: &str, units: &[Unit], counter: &dyn TokenCounter, limits: Limits) -> Vec<Piece> {
    let mut out = Vec::new();
    // Estimated tokens of the chunk after each new unit, for choosing where to close.
    let mut running = Vec::new();
    let mut carry: Option<Carry> = None;
    let mut i = 0;
    while i < units.len() {
        let (mut start, mut est) = match carry {
            Some(c) if c.tokens + units[i].tokens <= limits.max => (c.start, c.tokens),
            _ => (units[i].start, 0),
        };

        // Greedy fill up to the target, always taking at least one new unit.
        running.clear();
        let mut j = i;
        while j < units.len() && (j == i || est + units[j].tokens <= limits.target) {
            est += units[j].tokens;
            running.push(est);
            j += 1;
        }

        // If the greedy end is a weak boundary, step back to a stronger one as
        // long as the chunk keeps at least half the target: a paragraph or
        // sentence left whole embeds better than one cut in two.
        if j < units.len() {
            let half = limits.target / 2;
            for level in [
                Boundary::Paragraph,
                Boundary::Sentence,
                Boundary::Line,
                Boundary::Word,
            ] {
                if units[j].before >= level {
                    break;
                }
                let better = (i + 1..j)
                    .rev()
                    .take_while(|&k| running[k - i - 1] >= half)
                    .find(|&k| units[k].before >= level);
                if let Some(k) = better {
                    j = k;
                    break;
                }
            }
        }

        // The estimate is a sum of unit counts; the real count decides.
        let mut tokens = counter.count_tokens(&text[start..units[j - 1].end]);
        if tokens > limits.max && start != units[i].start {
            start = units[i].start;
            tokens = counter.count_tokens(&text[start..units[j - 1].end]);
        }
        if tokens > limits.max {
            // Bisect on the number of units; a single unit always fits because
            // its own count was checked when it was made.
            let (mut good, mut bad) = (i + 1, j);
            tokens = counter.count_tokens(&text[start..units[i].end]);
            while bad - good > 1 {
                let mid = good + (bad - good) / 2;
                let t = counter.count_tokens(&text[start..units[mid - 1].end]);
                if t <= limits.max {
                    good = mid;
                    tokens = t;
                } else {
                    bad = mid;
                }
            }
            j = good;
        }
        out.push(Piece {
            start,
            end: units[j - 1].end,
            tokens,
        });

        carry = if j < units.len() && limits.overlap > 0 {
            overlap(text, &units[..j], start, counter, limits.overlap)
        } else {
            None
        };
        i = j;
    }
    out
}

/// The trailing context of a chunk that ends with `units` and starts at byte
/// `chunk_start`: the longest run of whole trailing sentences within `budget`
/// tokens, else of smaller trailing units, else the trailing words of the last
/// unit. It never covers the whole chunk, which would only duplicate it.
fn overlap(
    text: &str,
    units: &[Unit],
    chunk_start: usize,
    counter: &dyn TokenCounter,
    budget: usize,
) -> Option<Carry> {
    let mut sum = 0;
    let mut sentence = None;
    let mut any = None;
    for unit in units.iter().rev().take_while(|u| u.start > chunk_start) {
        sum += unit.tokens;
        if sum > budget {
            break;
        }
        let carry = Carry {
            start: unit.start,
            tokens: sum,
        };
        if unit.before >= Boundary::Sentence {
            sentence = Some(carry);
        }
        any = Some(carry);
    }
    if let Some(carry) = sentence.or(any) {
        return Some(carry);
    }

    // The last sentence alone is longer than the budget: carry its tail,
    // starting at a clause (after a comma, semicolon or colon) if that keeps
    // at least half the budget, since a clause reads better than a fragment.
    // (If it is short but was not taken, it is the whole chunk: no overlap.)
    let last = units.last().filter(|u| u.tokens > budget)?;
    let words = words(text, last.start..last.end);
    let mut sum = 0;
    let (mut clause, mut any) = (None, None);
    for pair in words.windows(2).rev() {
        let (before, word) = (&pair[0], &pair[1]);
        sum += counter.count_tokens(&text[word.clone()]);
        if sum > budget {
            break;
        }
        let carry = Carry {
            start: word.start,
            tokens: sum,
        };
        if text[before.clone()].ends_with([',', ';', ':']) && sum * 2 >= budget {
            clause = Some(carry);
        }
        any = Some(carry);
    }
    clause.or(any)
}

/// A paragraph's trimmed byte range; `fenced` if it contains a Markdown code fence.
struct Paragraph {
    range: Range<usize>,
    fenced: bool,
}

/// Paragraphs of `range`: runs of lines separated by blank lines, except that
/// blank lines inside a Markdown code fence (```` ``` ```` or `~~~`) do not split,
/// so a code block stays one paragraph.
fn paragraphs(text: &str, range: Range<usize>) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut pos = range.start;
    let mut current: Option<Range<usize>> = None;
    let (mut in_fence, mut fenced) = (false, false);
    for line in text[range].split_inclusive('\n') {
        let line_start = pos;
        pos += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if !in_fence {
                if let Some(para) = current.take() {
                    push_trimmed(text, para, &mut out, |range| Paragraph { range, fenced });
                    fenced = false;
                }
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            fenced = true;
        }
        let line_end = line_start + line.trim_end().len();
        match current.as_mut() {
            Some(para) => para.end = line_end,
            None => current = Some(line_start..line_end),
        }
    }
    if let Some(para) = current {
        push_trimmed(text, para, &mut out, |range| Paragraph { range, fenced });
    }
    out
}

/// Whether a paragraph reads as source code (split at lines, not sentences):
/// most of its lines are indented or end like a statement or block.
fn looks_like_code(para: &str) -> bool {
    let (mut lines, mut codey) = (0usize, 0usize);
    for line in para.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        lines += 1;
        if line.starts_with("    ")
            || line.starts_with('\t')
            || trimmed.ends_with(['{', '}', ';'])
            || trimmed.starts_with("```")
        {
            codey += 1;
        }
    }
    lines >= 2 && codey * 2 >= lines
}

/// Trimmed, non-empty lines of `range`.
fn lines(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut pos = range.start;
    for line in text[range].split_inclusive('\n') {
        push_trimmed(text, pos..pos + line.len(), &mut out, |r| r);
        pos += line.len();
    }
    out
}

/// Whitespace-separated words of `range`.
fn words(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut word_start = None;
    for (i, c) in text[range.clone()].char_indices() {
        let at = range.start + i;
        match (c.is_whitespace(), word_start) {
            (true, Some(s)) => {
                out.push(s..at);
                word_start = None;
            }
            (false, None) => word_start = Some(at),
            _ => {}
        }
    }
    if let Some(s) = word_start {
        out.push(s..range.end);
    }
    out
}

/// The largest char boundary of `s` at or below `i` (and at most `s.len()`).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary of `s` at or above `i` (and at most `s.len()`).
fn ceil_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Converts byte offsets to char offsets, fast when the offsets asked for do
/// not decrease (then the whole text is walked once).
struct CharCursor<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharCursor<'a> {
    fn new(text: &'a str) -> Self {
        CharCursor {
            text,
            byte: 0,
            chars: 0,
        }
    }

    fn char_offset(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }
}

#[cfg(test)]
mod tests;
