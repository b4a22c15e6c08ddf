//! Pure presentation logic the UI needs, kept here so it is unit-tested natively
//! (the UI crate itself only builds for wasm32).

/// A piece of a rendered answer: plain text or a citation chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    /// One `[n]` marker; `[1, 3]` becomes two consecutive chips.
    Cite(usize),
}

/// Splits an answer into text and citation chips. A bracket group counts as a
/// marker only when it holds nothing but numbers separated by commas, semicolons
/// or spaces (optionally after a word like "passage"), so "[see below]" or a
/// markdown link stays text.
pub fn segments(answer: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = &after[..close];
        match marker_numbers(inner) {
            Some(nums) => {
                text.push_str(&rest[..open]);
                if !text.is_empty() {
                    out.push(Segment::Text(std::mem::take(&mut text)));
                }
                out.extend(nums.into_iter().map(Segment::Cite));
                rest = &after[close + 1..];
            }
            None => {
                text.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    out
}

fn marker_numbers(inner: &str) -> Option<Vec<usize>> {
    let body = inner.trim();
    let body = body
        .strip_prefix("passage")
        .or_else(|| body.strip_prefix("Passage"))
        .unwrap_or(body);
    let mut nums = Vec::new();
    for part in body.split([',', ';', ' ']).filter(|p| !p.is_empty()) {
        let n: usize = part.parse().ok()?;
        if n == 0 {
            return None;
        }
        nums.push(n);
    }
    (!nums.is_empty()).then_some(nums)
}

/// A page's text cut into before / passage / after for highlighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    pub before: String,
    pub passage: String,
    pub after: String,
}

/// Cuts `page` at the passage's character offsets (Unicode scalar values, as the
/// chunker counts them). When the offsets do not match the passage text — the
/// file changed since it was indexed — the passage is looked up by content; when
/// it is not found either, nothing is highlighted.
pub fn highlight(page: &str, start: usize, end: usize, passage: &str) -> Highlight {
    let cut = |s: usize, e: usize| {
        let b = char_to_byte(page, s);
        let e = char_to_byte(page, e);
        Highlight {
            before: page[..b].to_string(),
            passage: page[b..e].to_string(),
            after: page[e..].to_string(),
        }
    };
    let len = page.chars().count();
    if start < end && end <= len {
        let h = cut(start, end);
        if passage.is_empty() || same_text(&h.passage, passage) {
            return h;
        }
    }
    if !passage.trim().is_empty() {
        if let Some(b) = page.find(passage.trim()) {
            let s = page[..b].chars().count();
            return cut(s, s + passage.trim().chars().count());
        }
    }
    Highlight {
        before: page.to_string(),
        passage: String::new(),
        after: String::new(),
    }
}

fn same_text(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn char_to_byte(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(b, _)| b)
}

/// "3 s", "2 min 05 s", "1 h 02 min": for ETAs and durations.
pub fn duration(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// Estimated time left after `done` of `total` files in `elapsed_ms`; `None`
/// until there is a rate to go by.
pub fn eta_ms(done: usize, total: usize, elapsed_ms: u64) -> Option<u64> {
    if done == 0 || done > total || elapsed_ms == 0 {
        return None;
    }
    let per_file = elapsed_ms as f64 / done as f64;
    Some((per_file * (total - done) as f64).round() as u64)
}

/// Time left while a file is read by OCR: the rest of that file at the pace of
/// its pages so far (`ocr_done` of `ocr_pages` in `ocr_ms`), plus the files
/// after it at the pace of the `done` files before it (`before_ms`). `None`
/// until the first page is read.
pub fn eta_during_ocr(
    (done, total, before_ms): (usize, usize, u64),
    (ocr_done, ocr_pages, ocr_ms): (u32, u32, u64),
) -> Option<u64> {
    let this_file = eta_ms(ocr_done as usize, ocr_pages as usize, ocr_ms)?;
    // The file being read is one of the `total - done` left.
    let after = eta_ms(done, total.saturating_sub(1), before_ms).unwrap_or(0);
    Some(this_file + after)
}

/// "532 B", "14.2 KB", "3.4 MB", "1.2 GB".
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The last component of a path, for display.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// "1 file", "2 files": a count with its noun, singular or plural.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_chips_and_other_brackets_stay_text() {
        let s = segments("Herons nest in quarries [1]. See [note] and [2, 3].");
        assert_eq!(
            s,
            vec![
                Segment::Text("Herons nest in quarries ".into()),
                Segment::Cite(1),
                Segment::Text(". See [note] and ".into()),
                Segment::Cite(2),
                Segment::Cite(3),
                Segment::Text(".".into()),
            ]
        );
        assert_eq!(segments("[passage 4]"), vec![Segment::Cite(4)]);
        assert_eq!(
            segments("a [0] b [ unclosed"),
            vec![Segment::Text("a [0] b [ unclosed".into())]
        );
        assert_eq!(
            segments("![x](http://evil.example/a.png)"),
            vec![Segment::Text("![x](http://evil.example/a.png)".into())]
        );
    }

    #[test]
    fn highlight_uses_char_offsets_and_falls_back_to_the_text() {
        let page = "Tromsø lies north. Glaciers carve fjords. The end.";
        let start = page.chars().position(|c| c == 'G').unwrap();
        let end = start + "Glaciers carve fjords.".chars().count();
        let h = highlight(page, start, end, "Glaciers carve fjords.");
        assert_eq!(h.passage, "Glaciers carve fjords.");
        assert_eq!(h.before, "Tromsø lies north. ");
        assert_eq!(h.after, " The end.");
        // Stale offsets: found by content instead.
        let h = highlight(page, 0, 5, "Glaciers carve fjords.");
        assert_eq!(h.passage, "Glaciers carve fjords.");
        // Not there at all: the page is shown whole, unhighlighted.
        let h = highlight(page, 100, 200, "missing");
        assert_eq!(h.before, page);
        assert!(h.passage.is_empty());
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(12, "passage", "passages"), "12 passages");
    }

    #[test]
    fn durations_sizes_and_eta() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(1), "1 s");
        assert_eq!(duration(125_000), "2 min 05 s");
        assert_eq!(duration(3_720_000), "1 h 02 min");
        assert_eq!(size(532), "532 B");
        assert_eq!(size(14_200), "14.2 KB");
        assert_eq!(size(3_400_000), "3.4 MB");
        assert_eq!(eta_ms(0, 10, 500), None);
        assert_eq!(eta_ms(2, 10, 1000), Some(4000));
        assert_eq!(eta_ms(10, 10, 1000), Some(0));
        // Third of ten files, OCR at 2 of 10 pages after 4 s: 16 s for its
        // other pages, then 7 files at 500 ms each.
        assert_eq!(eta_during_ocr((2, 10, 1000), (2, 10, 4000)), Some(19_500));
        assert_eq!(eta_during_ocr((2, 10, 1000), (0, 10, 0)), None);
        // The first file of all: only its own pages can be estimated yet.
        assert_eq!(eta_during_ocr((0, 5, 0), (1, 4, 3000)), Some(9000));
        assert_eq!(file_name("/a/b/c.pdf"), "c.pdf");
    }
}
