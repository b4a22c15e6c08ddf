//! DOCX (Office Open XML): the paragraphs of `word/document.xml`, with
//! `Title` and `HeadingN` paragraph styles recorded as headings.
//!
//! Deliberately small: no numbering, footnotes, headers or embedded objects.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use cairn_core::Heading;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{LoadError, Result};

/// Text and headings of a .docx file. `max_xml_bytes` bounds the decompressed
/// document part, so a zip bomb costs at most that much memory.
pub(crate) fn load<R: Read + Seek>(
    path: &Path,
    reader: R,
    max_xml_bytes: u64,
) -> Result<(String, Vec<Heading>)> {
    let mut archive = crate::ooxml::open(path, reader, "docx")?;
    let part = archive
        .by_name("word/document.xml")
        .map_err(|e| LoadError::corrupt(path, format!("no word/document.xml: {e}")))?;
    let reader = BufReader::new(part.take(max_xml_bytes));
    paragraphs(reader).map_err(|reason| LoadError::corrupt(path, reason))
}

/// Reads WordprocessingML paragraphs (`w:p`), their runs' text (`w:t`), tabs
/// and breaks. Deleted text (`w:delText`) and field codes are not `w:t`, so
/// they are left out as Word itself does when displaying.
fn paragraphs(input: impl std::io::BufRead) -> std::result::Result<(String, Vec<Heading>), String> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut headings = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut para = String::new();
    let mut level: Option<usize> = None;
    let mut in_text = false;
    // Inside paragraph properties, `w:tab` defines tab stops rather than tabs.
    let mut in_props = false;

    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            format!(
                "invalid document.xml at byte {}: {e}",
                reader.buffer_position()
            )
        })?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"p" => {
                    para.clear();
                    level = None;
                }
                b"t" => in_text = true,
                b"pPr" => in_props = true,
                b"pStyle" => level = style_level(&e).or(level),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"pStyle" => level = style_level(&e).or(level),
                b"tab" if !in_props => para.push('\t'),
                b"br" | b"cr" => para.push('\n'),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"pPr" => in_props = false,
                b"p" => {
                    let text = para.trim();
                    if !text.is_empty() {
                        if !out.is_empty() {
                            out.push_str("\n\n");
                        }
                        if let Some(level) = level {
                            while stack.last().is_some_and(|(l, _)| *l >= level) {
                                stack.pop();
                            }
                            stack.push((
                                level,
                                text.split_whitespace().collect::<Vec<_>>().join(" "),
                            ));
                            headings.push(Heading {
                                offset: out.len(),
                                path: stack.iter().map(|(_, t)| t.clone()).collect(),
                            });
                        }
                        out.push_str(text);
                    }
                    para.clear();
                    level = None;
                }
                _ => {}
            },
            Event::Text(t) if in_text => {
                let s = t.decode().map_err(|e| format!("bad text encoding: {e}"))?;
                para.push_str(&s);
            }
            Event::GeneralRef(r) if in_text => crate::ooxml::push_reference(&r, &mut para)?,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok((out, headings))
}

/// Heading level from a paragraph style id: `Title` is the outermost level,
/// `Heading1`..`Heading9` nest below it.
fn style_level(e: &BytesStart<'_>) -> Option<usize> {
    let value = e
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == b"val")?
        .value;
    let style = String::from_utf8_lossy(&value).to_ascii_lowercase();
    if style == "title" {
        return Some(0);
    }
    let digits = style.strip_prefix("heading")?.trim_start();
    digits.parse::<usize>().ok().filter(|n| (1..=9).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected_text: &str, expected_paths: &[&[&str]]) {
        let xml = format!(
            "<?xml version=\"1.0\"?><w:document xmlns:w=\"urn:w\"><w:body>{body}</w:body></w:document>"
        );
        let (text, headings) = paragraphs(xml.as_bytes()).expect("valid xml");
        assert_eq!(text, expected_text, "body={body}");
        let paths: Vec<Vec<String>> = headings.iter().map(|h| h.path.clone()).collect();
        let expected: Vec<Vec<String>> = expected_paths
            .iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(paths, expected, "body={body}");
        for h in &headings {
            let last = h.path.last().expect("non-empty path");
            assert!(
                text[h.offset..].starts_with(last.as_str()),
                "offset of {last}"
            );
        }
    }

    #[test]
    fn paragraphs_table() {
        check(
            "<w:p><w:r><w:t>one</w:t></w:r><w:r><w:t xml:space=\"preserve\"> two</w:t></w:r></w:p>",
            "one two",
            &[],
        );
        check(
            "<w:p><w:r><w:t>a</w:t></w:r></w:p><w:p/><w:p><w:r><w:t>b</w:t></w:r></w:p>",
            "a\n\nb",
            &[],
        );
        check(
            "<w:p><w:r><w:t>x</w:t><w:tab/><w:t>y</w:t><w:br/><w:t>z</w:t></w:r></w:p>",
            "x\ty\nz",
            &[],
        );
        check(
            "<w:p><w:r><w:t>fish &amp; chips &#233;</w:t></w:r></w:p>",
            "fish & chips \u{e9}",
            &[],
        );
        check(
            "<w:p><w:r><w:delText>gone</w:delText><w:t>kept</w:t></w:r></w:p>",
            "kept",
            &[],
        );
        // Tab stops in paragraph properties are not tab characters.
        check(
            "<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr><w:r><w:t>a</w:t></w:r></w:p>",
            "a",
            &[],
        );
    }

    #[test]
    fn heading_styles() {
        let p = |style: &str, text: &str| {
            format!("<w:p><w:pPr><w:pStyle w:val=\"{style}\"/></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>")
        };
        let body = [
            p("Title", "Doc"),
            p("Heading1", "One"),
            p("Normal", "body"),
            p("Heading2", "Two"),
            p("Heading1", "Three"),
        ]
        .concat();
        check(
            &body,
            "Doc\n\nOne\n\nbody\n\nTwo\n\nThree",
            &[
                &["Doc"],
                &["Doc", "One"],
                &["Doc", "One", "Two"],
                &["Doc", "Three"],
            ],
        );
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(paragraphs(&b"<w:document><w:body><w:p></w:body>"[..]).is_err());
    }
}
