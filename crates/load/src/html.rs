//! HTML: the visible text of a page, with block elements as line breaks and
//! `h1`–`h6` as headings.
//!
//! The tree is walked iteratively (open/close edges) rather than recursively,
//! so a hostile page with deeply nested elements cannot overflow the stack.

use cairn_core::Heading;
use encoding_rs::Encoding;
use scraper::node::Element;
use scraper::{Html, Node};

use crate::text::{self, TextProblem};

/// Elements whose content is never shown to a reader.
const INVISIBLE: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "audio", "video", "select", "datalist", "meta", "link", "base",
];

/// Elements that start on their own line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "center",
    "details",
    "dialog",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hgroup",
    "html",
    "legend",
    "main",
    "menu",
    "nav",
    "ol",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];

/// Elements separated from their neighbours by a blank line.
const PARAGRAPHS: &[&str] = &[
    "p",
    "pre",
    "blockquote",
    "table",
    "ul",
    "ol",
    "dl",
    "hr",
    "figure",
];

/// The decoded text of an HTML file, honouring a `<meta charset>` declaration.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, TextProblem> {
    text::decode(bytes, declared_charset(bytes))
}

/// Visible text and headings of an HTML document.
pub(crate) fn extract(source: &str) -> (String, Vec<Heading>) {
    let doc = Html::parse_document(source);
    let mut w = Writer::default();

    // The title sits in <head>, which is otherwise invisible; it is the best
    // one-line summary of a page, so it opens the text.
    let title = doc.tree.root().descendants().find(|n| {
        matches!(n.value(), Node::Element(e) if e.name() == "title")
            && !n
                .ancestors()
                .any(|a| matches!(a.value(), Node::Element(e) if e.name() == "svg"))
    });
    if let Some(title) = title {
        for d in title.descendants() {
            if let Node::Text(t) = d.value() {
                w.text(t);
            }
        }
        w.request(Pending::Breaks(2));
    }

    // The heading element being written: (node id, level, byte offset of its
    // first text), and the enclosing headings as (level, title).
    let mut heading = None;
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut headings = Vec::new();

    // Explicit stack of (node, entering?) instead of recursion, so that a
    // hostile page with deeply nested elements cannot overflow the stack.
    let mut todo = vec![(doc.tree.root(), true)];
    while let Some((node, entering)) = todo.pop() {
        if !entering {
            if let Some((id, level, offset)) = heading {
                if id == node.id() {
                    heading = None;
                    w.request(Pending::Breaks(2));
                    if let Some(offset) = offset {
                        let title: Vec<&str> = w.out[offset..].split_whitespace().collect();
                        while stack.last().is_some_and(|(l, _)| *l >= level) {
                            stack.pop();
                        }
                        stack.push((level, title.join(" ")));
                        headings.push(Heading {
                            offset,
                            path: stack.iter().map(|(_, t)| t.clone()).collect(),
                        });
                    }
                    continue;
                }
            }
            if let Node::Element(e) = node.value() {
                w.close(e.name());
            }
            continue;
        }
        match node.value() {
            Node::Element(e) => {
                if matches!(e.name(), "head" | "title") || is_invisible(e) {
                    continue;
                }
                match heading_level(e.name()) {
                    Some(level) if heading.is_none() => {
                        w.request(Pending::Breaks(2));
                        heading = Some((node.id(), level, None));
                    }
                    _ => w.open(e.name()),
                }
            }
            Node::Text(t) => {
                let start = w.text(t);
                if let Some((_, _, offset @ None)) = heading.as_mut() {
                    *offset = start;
                }
                continue;
            }
            Node::Document | Node::Fragment => {}
            _ => continue,
        }
        todo.push((node, false));
        // Reversed, so that the first child is popped first.
        let children: Vec<_> = node.children().collect();
        todo.extend(children.into_iter().rev().map(|c| (c, true)));
    }
    let mut out = w.out;
    out.truncate(out.trim_end().len());
    (out, headings)
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn is_invisible(e: &Element) -> bool {
    if INVISIBLE.contains(&e.name()) || e.attr("hidden").is_some() {
        return true;
    }
    e.attr("style").is_some_and(|style| {
        let compact: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        compact.contains("display:none") || compact.contains("visibility:hidden")
    })
}

/// Separation owed before the next piece of text; the strongest request wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
enum Pending {
    #[default]
    Nothing,
    Space,
    /// Between table cells.
    Cell,
    /// This many newlines (1 = line break, 2 = blank line).
    Breaks(usize),
}

/// Builds the output text. Separators are only written when text follows
/// them, so the result never needs trimming that would shift heading offsets.
#[derive(Default)]
struct Writer {
    out: String,
    pending: Pending,
    /// Depth of open <pre> elements, where whitespace is kept.
    pre: usize,
    /// Whether the current table row already has a cell.
    row_has_cell: bool,
    /// A list item opened and its bullet is not written yet.
    list_bullet: bool,
}

impl Writer {
    fn request(&mut self, p: Pending) {
        self.pending = self.pending.max(p);
    }

    fn open(&mut self, name: &str) {
        match name {
            "br" => self.force_newline(),
            "li" => {
                self.request(Pending::Breaks(1));
                self.list_bullet = true;
            }
            "tr" => {
                self.request(Pending::Breaks(1));
                self.row_has_cell = false;
            }
            "td" | "th" => {
                if self.row_has_cell {
                    self.request(Pending::Cell);
                }
                self.row_has_cell = true;
            }
            "pre" => {
                self.request(Pending::Breaks(2));
                self.pre += 1;
            }
            _ if PARAGRAPHS.contains(&name) => self.request(Pending::Breaks(2)),
            _ if BLOCKS.contains(&name) => self.request(Pending::Breaks(1)),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "pre" => {
                self.pre = self.pre.saturating_sub(1);
                self.request(Pending::Breaks(2));
            }
            "li" => {
                // An item without text must not leave its bullet to the next text.
                self.list_bullet = false;
                self.request(Pending::Breaks(1));
            }
            "tr" => self.request(Pending::Breaks(1)),
            _ if PARAGRAPHS.contains(&name) => self.request(Pending::Breaks(2)),
            _ if BLOCKS.contains(&name) => self.request(Pending::Breaks(1)),
            _ => {}
        }
    }

    /// A <br> ends the line even when several follow each other.
    fn force_newline(&mut self) {
        if self.out.is_empty() {
            return;
        }
        match self.pending {
            Pending::Breaks(_) => {
                self.flush();
                self.out.push('\n');
            }
            _ => {
                self.pending = Pending::Nothing;
                self.out.push('\n');
            }
        }
    }

    /// Writes owed separators; nothing at the very start of the output.
    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        match pending {
            _ if self.out.is_empty() => {}
            Pending::Nothing => {}
            Pending::Space => {
                if !self.out.ends_with([' ', '\n']) {
                    self.out.push(' ');
                }
            }
            Pending::Cell => self.out.push_str(" | "),
            Pending::Breaks(n) => {
                let have = self.out.len() - self.out.trim_end_matches('\n').len();
                for _ in have..n {
                    self.out.push('\n');
                }
            }
        }
        if self.list_bullet {
            self.list_bullet = false;
            self.out.push_str("- ");
        }
    }

    /// Appends a text node; returns the byte offset where its first visible
    /// character landed, if it had any.
    fn text(&mut self, t: &str) -> Option<usize> {
        if self.pre > 0 {
            if t.is_empty() {
                return None;
            }
            self.flush();
            let start = self.out.len();
            let kept = text::normalize_newlines(t);
            self.out.push_str(&kept);
            // Report where the first visible character landed, not where the
            // whitespace began: whitespace alone may be trimmed off the end of
            // the output later, and a heading must not point past the text.
            return kept.find(|c: char| !c.is_whitespace()).map(|i| start + i);
        }
        let mut start = None;
        if t.starts_with(char::is_whitespace) {
            self.request(Pending::Space);
        }
        for (i, word) in t.split_whitespace().enumerate() {
            if i > 0 {
                self.request(Pending::Space);
            }
            self.flush();
            start.get_or_insert(self.out.len());
            self.out.push_str(word);
        }
        if t.ends_with(char::is_whitespace) && start.is_some() {
            self.request(Pending::Space);
        }
        start
    }
}

/// The encoding named by a `<meta charset=...>` or `<meta http-equiv=...
/// content="...; charset=...">` in the first bytes, as browsers pre-scan it.
fn declared_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let tag_start = from + pos;
        let tag_end = find(&lower[tag_start..], b">").map_or(lower.len(), |e| tag_start + e);
        let tag = &lower[tag_start..tag_end];
        if let Some(cs) = find(tag, b"charset") {
            let rest = &tag[cs + "charset".len()..];
            let rest = trim_ascii_start(rest);
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = trim_ascii_start(rest);
                let rest = rest
                    .strip_prefix(b"\"")
                    .or_else(|| rest.strip_prefix(b"'"))
                    .unwrap_or(rest);
                let label: Vec<u8> = rest
                    .iter()
                    .copied()
                    .take_while(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
                    .collect();
                if let Some(enc) = Encoding::for_label(&label) {
                    // The HTML standard maps UTF-16 declarations to UTF-8: a
                    // document whose meta tag was readable as ASCII is not UTF-16.
                    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                        return Some(encoding_rs::UTF_8);
                    }
                    return Some(enc);
                }
            }
        }
        from = tag_end;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(html: &str, expected_text: &str, expected_headings: &[(&str, &[&str])]) {
        let (text, headings) = extract(html);
        assert_eq!(text, expected_text, "html:\n{html}");
        let got: Vec<(String, Vec<String>)> = headings
            .iter()
            .map(|h| {
                let line = text[h.offset..].lines().next().unwrap_or("").to_string();
                (line, h.path.clone())
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = expected_headings
            .iter()
            .map(|(l, p)| (l.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(got, expected, "html:\n{html}");
    }

    /// Found by the `text` fuzz target: a heading inside `<pre>` whose only
    /// text is whitespace got an offset past the end of the trimmed text (and
    /// an empty title), which would make the chunker slice out of bounds.
    #[test]
    fn whitespace_only_heading_in_pre_gets_no_offset_past_the_text() {
        check("<p>intro</p><pre><h1>\n   </h1></pre>", "intro", &[]);
        check(
            "<pre>code\n<h2>  Usage </h2>\n</pre>",
            "code\n\n  Usage",
            &[("Usage", &["Usage"])],
        );
    }

    #[test]
    fn text_and_blocks() {
        check(
            "<p>one  two\n three</p><p>four</p>",
            "one two three\n\nfour",
            &[],
        );
        check("<div>a</div><div>b</div>", "a\nb", &[]);
        check("<p>in<b>line</b> <i>words</i></p>", "inline words", &[]);
        check(
            "<p>line<br>break<br><br>twice</p>",
            "line\nbreak\n\ntwice",
            &[],
        );
        check(
            "<ul><li>x</li><li>y <em>z</em></li></ul>",
            "- x\n- y z",
            &[],
        );
        check("<ul><li></li><li>only</li></ul>", "- only", &[]);
        check(
            "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>",
            "a | b\n1 | 2",
            &[],
        );
        check(
            "<pre>keep   this\n  indent</pre><p>after</p>",
            "keep   this\n  indent\n\nafter",
            &[],
        );
        check(
            "<p>caf&eacute; &amp; bar&nbsp;baz</p>",
            "caf\u{e9} & bar baz",
            &[],
        );
    }

    #[test]
    fn invisible_content_is_dropped() {
        check(
            "<html><head><title>T</title><style>p{}</style><script>var x;</script></head>\
             <body><p>seen</p><script>alert(1)</script><noscript>no</noscript>\
             <template><p>tpl</p></template><svg><text>svg</text></svg>\
             <div hidden>h</div><span style=\"display: none\">d</span><p>end</p></body></html>",
            "T\n\nseen\n\nend",
            &[],
        );
    }

    #[test]
    fn headings_have_offsets_and_paths() {
        check(
            "<h1>Top</h1><p>a</p><h2>Mid <code>x</code></h2><h3>Low</h3><h2>Next</h2><h1></h1>",
            "Top\n\na\n\nMid x\n\nLow\n\nNext",
            &[
                ("Top", &["Top"]),
                ("Mid x", &["Top", "Mid x"]),
                ("Low", &["Top", "Mid x", "Low"]),
                ("Next", &["Top", "Next"]),
            ],
        );
        check(
            "<title>Page</title><h2>Only h2</h2>",
            "Page\n\nOnly h2",
            &[("Only h2", &["Only h2"])],
        );
    }

    #[test]
    fn meta_charset_table() {
        let cases: &[(&[u8], Option<&'static Encoding>)] = &[
            (
                b"<meta charset=\"windows-1252\">",
                Some(encoding_rs::WINDOWS_1252),
            ),
            (b"<META CHARSET=iso-8859-2>", Some(encoding_rs::ISO_8859_2)),
            (
                b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">",
                Some(encoding_rs::SHIFT_JIS),
            ),
            (b"<meta charset='utf-16'>", Some(encoding_rs::UTF_8)),
            (
                b"<meta name=\"x\" content=\"y\"><p>charset=koi8-r</p>",
                None,
            ),
            (b"<meta charset=\"no-such-thing\">", None),
            (b"<p>no meta</p>", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                declared_charset(input),
                *expected,
                "input={:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
