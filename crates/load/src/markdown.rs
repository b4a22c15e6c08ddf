//! Markdown: the text is kept as written; only the heading structure is read.
//!
//! This is a line scanner, not a full CommonMark parser: it recognises ATX
//! (`## Title`) and setext (`Title` over `===` / `---`) headings, and ignores
//! anything inside fenced code blocks and a leading YAML front-matter block.

use cairn_core::Heading;

/// Headings in `text`, with byte offsets of the line (or, for setext
/// headings, the paragraph) where each section begins.
pub(crate) fn headings(text: &str) -> Vec<Heading> {
    let mut found: Vec<(usize, usize, String)> = Vec::new(); // (offset, level, title)
    let mut fence: Option<(u8, usize)> = None; // (fence char, run length)
                                               // Start offset and lines of the paragraph being read, for setext headings.
    let mut paragraph: Option<(usize, Vec<&str>)> = None;

    let all: Vec<(usize, &str)> = lines_with_offsets(text).collect();
    let body = &all[front_matter_len(&all)..];

    for &(offset, line) in body {
        if let Some((ch, len)) = fence {
            if closes_fence(line, ch, len) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = opens_fence(line) {
            fence = Some(open);
            paragraph = None;
            continue;
        }
        if let Some((level, title)) = atx(line) {
            found.push((offset, level, title));
            paragraph = None;
            continue;
        }
        if let Some(level) = setext_underline(line) {
            // Without a paragraph above, the line is a thematic break.
            if let Some((start, para)) = paragraph.take() {
                let title = para.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                found.push((start, level, clean_title(&title)));
            }
            continue;
        }
        if line.trim().is_empty() {
            paragraph = None;
        } else if let Some((_, para)) = paragraph.as_mut() {
            para.push(line);
        } else if can_start_setext_paragraph(line) {
            paragraph = Some((offset, vec![line]));
        }
    }

    let mut stack: Vec<(usize, String)> = Vec::new();
    found
        .into_iter()
        .filter(|(_, _, title)| !title.is_empty())
        .map(|(offset, level, title)| {
            while stack.last().is_some_and(|(l, _)| *l >= level) {
                stack.pop();
            }
            stack.push((level, title));
            Heading {
                offset,
                path: stack.iter().map(|(_, t)| t.clone()).collect(),
            }
        })
        .collect()
}

/// Number of lines taken by a YAML front-matter block (`---` ... `---` or
/// `...`) at the very start; 0 when there is none or it is never closed.
fn front_matter_len(lines: &[(usize, &str)]) -> usize {
    if lines.first().is_none_or(|(_, l)| l.trim_end() != "---") {
        return 0;
    }
    lines[1..]
        .iter()
        .position(|(_, l)| matches!(l.trim_end(), "---" | "..."))
        .map_or(0, |i| i + 2)
}

fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |raw| {
        let start = offset;
        offset += raw.len();
        (start, raw.trim_end_matches(['\n', '\r']))
    })
}

/// Up to three spaces of indentation are allowed before block markers; four
/// make an indented code block.
fn strip_indent(line: &str) -> Option<&str> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces <= 3).then(|| &line[spaces..])
}

fn opens_fence(line: &str) -> Option<(u8, usize)> {
    let rest = strip_indent(line)?;
    let ch = *rest.as_bytes().first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = rest.bytes().take_while(|&b| b == ch).count();
    // A backtick fence's info string may not contain backticks (that would be
    // inline code instead).
    let info = &rest[len..];
    (len >= 3 && !(ch == b'`' && info.contains('`'))).then_some((ch, len))
}

fn closes_fence(line: &str, ch: u8, open_len: usize) -> bool {
    let Some(rest) = strip_indent(line) else {
        return false;
    };
    let len = rest.bytes().take_while(|&b| b == ch).count();
    len >= open_len && rest[len..].trim().is_empty()
}

fn atx(line: &str) -> Option<(usize, String)> {
    let rest = strip_indent(line)?;
    let level = rest.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None; // "#hashtag" is not a heading.
    }
    let mut title = after.trim();
    // An optional closing run of '#' counts only when separated by a space.
    let without_hashes = title.trim_end_matches('#');
    if without_hashes.is_empty() {
        title = "";
    } else if without_hashes.ends_with([' ', '\t']) {
        title = without_hashes.trim_end();
    }
    Some((level, clean_title(title)))
}

fn setext_underline(line: &str) -> Option<usize> {
    let rest = strip_indent(line)?.trim_end();
    let ch = rest.bytes().next()?;
    if !rest.bytes().all(|b| b == ch) {
        return None;
    }
    match ch {
        b'=' => Some(1),
        b'-' => Some(2),
        _ => None,
    }
}

/// Lines that open a list item, block quote, table or indented code block
/// cannot be the text of a setext heading; under them `---` is a rule.
fn can_start_setext_paragraph(line: &str) -> bool {
    let Some(rest) = strip_indent(line) else {
        return false;
    };
    let list_marker = |s: &str| {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let after = &s[digits..];
        (digits == 0
            && (after.starts_with("- ") || after.starts_with("* ") || after.starts_with("+ ")))
            || (digits > 0 && (after.starts_with(". ") || after.starts_with(") ")))
    };
    !(rest.starts_with('>') || rest.starts_with('|') || rest.starts_with('<') || list_marker(rest))
}

/// Heading titles are stored for display in citations, so the commonest
/// inline markup is removed: code spans, emphasis markers and link targets.
fn clean_title(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            // [text](target) keeps only its text.
            if let Some(close) = rest.find("](") {
                if let Some(end) = rest[close..].find(')') {
                    out.push_str(&rest[1..close]);
                    rest = &rest[close + end + 1..];
                    continue;
                }
            }
        }
        let markup = matches!(c, '`' | '*') || (c == '_' && is_emphasis_underscore(&out, rest));
        if !markup {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Underscores inside words (`snake_case`) are kept; those at word edges are
/// emphasis markers.
fn is_emphasis_underscore(before: &str, rest: &str) -> bool {
    let prev_word = before.chars().last().is_some_and(char::is_alphanumeric);
    let next_word = rest[1..].chars().next().is_some_and(char::is_alphanumeric);
    !(prev_word && next_word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected headings as (text at the offset, path).
    fn check(input: &str, expected: &[(&str, &[&str])]) {
        let got = headings(input);
        let got: Vec<(String, Vec<String>)> = got
            .iter()
            .map(|h| {
                let line = input[h.offset..].lines().next().unwrap_or("").to_string();
                (line, h.path.clone())
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(l, p)| (l.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(got, expected, "input:\n{input}");
    }

    #[test]
    fn atx_headings() {
        check(
            "# A\ntext\n## B\n",
            &[("# A", &["A"]), ("## B", &["A", "B"])],
        );
        check(
            "# A\n### C\n## B\n",
            &[
                ("# A", &["A"]),
                ("### C", &["A", "C"]),
                ("## B", &["A", "B"]),
            ],
        );
        check("## B\n# A\n", &[("## B", &["B"]), ("# A", &["A"])]);
        check("# A #\n", &[("# A #", &["A"])]);
        check("# C# ##\n", &[("# C# ##", &["C#"])]);
        check("   ### indented\n", &[("   ### indented", &["indented"])]);
        check("    # code, not heading\n", &[]);
        check("#hashtag\n####### seven\n", &[]);
        check("#\n# \n", &[]);
        check(
            "# `load()` and **bold** [link](http://x)\n",
            &[(
                "# `load()` and **bold** [link](http://x)",
                &["load() and bold link"],
            )],
        );
        check(
            "# snake_case and _emph_\n",
            &[("# snake_case and _emph_", &["snake_case and emph"])],
        );
    }

    #[test]
    fn setext_headings() {
        check(
            "Title\n=====\n\nSub\n---\n",
            &[("Title", &["Title"]), ("Sub", &["Title", "Sub"])],
        );
        check(
            "two line\ntitle\n===\n",
            &[("two line", &["two line title"])],
        );
        // A rule after a blank line, a list item or a quote is not a heading.
        check("para\n\n---\n", &[]);
        check("- item\n---\n", &[]);
        check("> quote\n---\n", &[]);
        check("# A\n---\n", &[("# A", &["A"])]);
        check("para\n\n---\n---\n", &[]);
    }

    #[test]
    fn code_and_front_matter_are_skipped() {
        check("```sh\n# comment\n```\n# Real\n", &[("# Real", &["Real"])]);
        check("~~~~\n# a\n~~~\n# b\n~~~~\n# c\n", &[("# c", &["c"])]);
        check("```\nx\n", &[]);
        check("---\ntitle: x\n---\n# A\n", &[("# A", &["A"])]);
        // An unclosed block at the start is a thematic break, not front matter.
        check("---\n# A\n", &[("# A", &["A"])]);
        check(
            "text\n```\n# in code\n```\nafter\n---\n",
            &[("after", &["after"])],
        );
    }

    #[test]
    fn offsets_are_bytes_with_crlf_and_unicode() {
        let text = "# Ünïcödé\nbody\n## Zwei\n";
        let h = headings(text);
        assert_eq!(h[1].offset, text.find("## Zwei").expect("present"));
        let text = "# A\r\nx\r\n## B\r\n";
        assert_eq!(
            headings(text)[1].path,
            vec!["A".to_string(), "B".to_string()]
        );
    }
}
