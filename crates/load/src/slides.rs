//! PPTX (Office Open XML presentations): one page per slide, in the order the
//! presentation shows them, numbered as the slide numbers a person sees; the
//! slide's text paragraph by paragraph, then its speaker notes. The first
//! paragraph (normally the title) heads the slide, and "Speaker notes" heads
//! the notes, so passages carry them in their heading path.
//!
//! Deliberately small: no charts, tables' cell structure, SmartArt or
//! embedded objects; hidden slides are read like the others.

use std::io::{Read, Seek};
use std::path::Path;

use cairn_core::{Heading, Page};
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{LoadError, Result};
use crate::ooxml::{relationships, resolve};

/// Most slides read from one file (a hostile archive can list any number).
const MAX_SLIDES: usize = 5_000;

/// The slides of a .pptx file. `max_xml_bytes` bounds each decompressed XML
/// part, so a zip bomb costs at most that much memory per part, and the text
/// read so far is checked against `max_text_bytes` after every slide.
pub(crate) fn load<R: Read + Seek>(
    path: &Path,
    reader: R,
    max_xml_bytes: u64,
    max_text_bytes: u64,
) -> Result<Vec<Page>> {
    let mut archive = crate::ooxml::open(path, reader, "pptx")?;
    let mut part = |name: &str| crate::ooxml::part(&mut archive, name, max_xml_bytes);
    let corrupt = |reason: String| LoadError::corrupt(path, reason);

    let presentation = part("ppt/presentation.xml")
        .ok_or_else(|| corrupt("no ppt/presentation.xml".into()))?
        .map_err(corrupt)?;
    let rels = part("ppt/_rels/presentation.xml.rels")
        .ok_or_else(|| corrupt("no ppt/_rels/presentation.xml.rels".into()))?
        .map_err(corrupt)?;
    let targets = relationships(&rels).map_err(corrupt)?;
    let order = slide_ids(&presentation).map_err(corrupt)?;

    let mut pages = Vec::new();
    let mut text_bytes = 0u64;
    for (i, rid) in order.iter().take(MAX_SLIDES).enumerate() {
        let Some((_, target)) = targets.get(rid) else {
            return Err(corrupt(format!(
                "slide {} names a missing part {rid}",
                i + 1
            )));
        };
        let slide_path = resolve("ppt", target);
        let xml = part(&slide_path)
            .ok_or_else(|| corrupt(format!("no {slide_path}")))?
            .map_err(corrupt)?;
        let paragraphs = text_paragraphs(&xml).map_err(corrupt)?;

        // Speaker notes: the slide's own relationships name its notes part.
        let (dir, file) = slide_path.rsplit_once('/').unwrap_or(("", &slide_path));
        let notes = match part(&format!("{dir}/_rels/{file}.rels")) {
            Some(Ok(slide_rels)) => {
                let rels = relationships(&slide_rels).map_err(corrupt)?;
                match rels
                    .values()
                    .find(|(kind, _)| kind.ends_with("/notesSlide"))
                {
                    Some((_, t)) => match part(&resolve(dir, t)) {
                        Some(Ok(xml)) => text_paragraphs(&xml).map_err(corrupt)?,
                        Some(Err(e)) => return Err(corrupt(e)),
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                }
            }
            Some(Err(e)) => return Err(corrupt(e)),
            None => Vec::new(),
        };
        let page = page(i + 1, &paragraphs, &notes);
        text_bytes += page.text.len() as u64;
        if text_bytes > max_text_bytes {
            return Err(LoadError::TooLarge {
                path: path.to_path_buf(),
                size: text_bytes,
                limit: max_text_bytes,
                what: crate::SizeKind::ExtractedText,
            });
        }
        pages.push(page);
    }
    if pages.iter().all(|p| p.text.trim().is_empty()) {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(pages)
}

/// One slide's page: its paragraphs, then its notes under "Speaker notes".
fn page(number: usize, paragraphs: &[String], notes: &[String]) -> Page {
    let mut text = String::new();
    let mut headings = Vec::new();
    if let Some(title) = paragraphs.first() {
        headings.push(Heading {
            offset: 0,
            path: vec![title.clone()],
        });
    }
    for p in paragraphs {
        text.push_str(p);
        text.push('\n');
    }
    if !notes.is_empty() {
        text.push('\n');
        let mut path: Vec<String> = paragraphs.first().cloned().into_iter().collect();
        path.push("Speaker notes".to_string());
        headings.push(Heading {
            offset: text.len(),
            path,
        });
        text.push_str("Speaker notes:\n");
        for n in notes {
            text.push_str(n);
            text.push('\n');
        }
    }
    Page {
        number: Some(number as u32),
        text,
        headings,
    }
}

/// The relationship ids of the slides, in presentation order (`p:sldId`).
fn slide_ids(xml: &str) -> std::result::Result<Vec<String>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid presentation.xml: {e}"))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sldId" => {
                if let Some(a) = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == b"id" && a.key.prefix().is_some())
                {
                    out.push(
                        a.unescape_value()
                            .map_err(|e| format!("invalid slide id: {e}"))?
                            .into_owned(),
                    );
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The non-empty text paragraphs (`a:p`, runs `a:t`) of a slide or notes
/// part; field text (`a:fld`, such as the slide number on a notes page) is
/// left out.
fn text_paragraphs(xml: &str) -> std::result::Result<Vec<String>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut para = String::new();
    let mut in_text = false;
    let mut in_field = false;
    loop {
        match reader.read_event().map_err(|e| {
            format!(
                "invalid slide XML at byte {}: {e}",
                reader.buffer_position()
            )
        })? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"p" => para.clear(),
                b"t" => in_text = true,
                b"fld" => in_field = true,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"br" => para.push(' '),
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"fld" => in_field = false,
                b"p" => {
                    let p = para.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !p.is_empty() {
                        out.push(p);
                    }
                    para.clear();
                }
                _ => {}
            },
            Event::Text(t) if in_text && !in_field => {
                para.push_str(&t.decode().map_err(|e| format!("bad text encoding: {e}"))?);
            }
            Event::GeneralRef(r) if in_text && !in_field => {
                crate::ooxml::push_reference(&r, &mut para)?
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_resolve_like_paths() {
        assert_eq!(resolve("ppt", "slides/slide2.xml"), "ppt/slides/slide2.xml");
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide2.xml"),
            "ppt/notesSlides/notesSlide2.xml"
        );
        assert_eq!(resolve("ppt", "/ppt/slides/s.xml"), "ppt/slides/s.xml");
    }

    #[test]
    fn paragraphs_join_runs_and_skip_fields() {
        let xml = r#"<p:sld xmlns:a="a" xmlns:p="p"><p:txBody>
            <a:p><a:r><a:t>Quarterly </a:t></a:r><a:r><a:t>results &amp; plans</a:t></a:r></a:p>
            <a:p></a:p>
            <a:p><a:r><a:t>Line one</a:t></a:r><a:br/><a:r><a:t>line two</a:t></a:r></a:p>
            <a:p><a:fld type="slidenum"><a:t>3</a:t></a:fld></a:p>
        </p:txBody></p:sld>"#;
        assert_eq!(
            text_paragraphs(xml).expect("xml"),
            ["Quarterly results & plans", "Line one line two"]
        );
    }

    #[test]
    fn a_slide_page_has_its_title_and_notes_as_headings() {
        let p = page(
            2,
            &["Budget".into(), "Travel is capped at 400 euros.".into()],
            &["Mention the new policy.".into()],
        );
        assert_eq!(p.number, Some(2));
        assert_eq!(
            p.text,
            "Budget\nTravel is capped at 400 euros.\n\nSpeaker notes:\nMention the new policy.\n"
        );
        assert_eq!(p.headings[0].path, ["Budget"]);
        assert_eq!(p.headings[1].path, ["Budget", "Speaker notes"]);
        assert!(p.text[p.headings[1].offset..].starts_with("Speaker notes:"));
    }
}
