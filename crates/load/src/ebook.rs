//! EPUB e-books: one page per chapter (spine document) in reading order,
//! numbered from 1 among the chapters that have text; each chapter's HTML is
//! read by the HTML loader, so its headings are in the heading path of its
//! passages. Books with DRM (content listed in `META-INF/encryption.xml`)
//! are reported as encrypted; obfuscated fonts alone are not DRM.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;

use cairn_core::Page;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{LoadError, Result};
use crate::ooxml::{attr, part, resolve};
use crate::sheets::Limits;

/// Most chapters read from one book.
const MAX_CHAPTERS: usize = 5_000;

pub(crate) fn load<R: Read + Seek>(path: &Path, reader: R, limits: &Limits) -> Result<Vec<Page>> {
    let mut archive = crate::ooxml::open(path, reader, "epub")?;
    let corrupt = |reason: String| LoadError::corrupt(path, reason);
    if let Some(Ok(encryption)) = part(&mut archive, "META-INF/encryption.xml", limits.xml_bytes) {
        if encrypted_content(&encryption) {
            return Err(LoadError::Encrypted {
                path: path.to_path_buf(),
            });
        }
    }
    let container = part(&mut archive, "META-INF/container.xml", limits.xml_bytes)
        .ok_or_else(|| corrupt("no META-INF/container.xml".into()))?
        .map_err(corrupt)?;
    let opf_path = first_attr(&container, b"rootfile", b"full-path")
        .map_err(corrupt)?
        .ok_or_else(|| corrupt("container.xml names no package document".into()))?;
    let opf = part(&mut archive, &opf_path, limits.xml_bytes)
        .ok_or_else(|| corrupt(format!("no {opf_path}")))?
        .map_err(corrupt)?;
    let base = opf_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let chapters = spine(&opf).map_err(corrupt)?;

    let mut pages = Vec::new();
    let mut text_bytes = 0u64;
    // All chapters together may decompress to no more than one part may, so
    // a spine that lists a huge chapter many times is cut short.
    let mut unpacked = 0u64;
    let mut seen = std::collections::HashSet::new();
    for href in chapters.into_iter().take(MAX_CHAPTERS) {
        // Links are URL-encoded and may carry a fragment.
        let href = percent_decode(href.split('#').next().unwrap_or_default());
        let name = resolve(base, &href);
        if !seen.insert(name.clone()) {
            continue;
        }
        let Ok(file) = archive.by_name(&name) else {
            tracing::warn!(file = %path.display(), chapter = %name, "chapter missing from the book");
            continue;
        };
        let mut bytes = Vec::new();
        file.take(limits.xml_bytes.saturating_sub(unpacked))
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt(format!("cannot read {name}: {e}")))?;
        unpacked += bytes.len() as u64;
        if unpacked >= limits.xml_bytes {
            return Err(LoadError::TooLarge {
                path: path.to_path_buf(),
                size: unpacked,
                limit: limits.xml_bytes,
                what: crate::SizeKind::Unpacked,
            });
        }
        let Ok(source) = crate::html::decode(&bytes) else {
            continue;
        };
        let (text, headings) = crate::html::extract(&source);
        if text.trim().is_empty() {
            continue;
        }
        text_bytes += text.len() as u64;
        if text_bytes > limits.text_bytes {
            return Err(LoadError::TooLarge {
                path: path.to_path_buf(),
                size: text_bytes,
                limit: limits.text_bytes,
                what: crate::SizeKind::ExtractedText,
            });
        }
        pages.push(Page {
            number: Some(pages.len() as u32 + 1),
            text,
            headings,
        });
    }
    if pages.is_empty() {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(pages)
}

/// Whether `encryption.xml` encrypts anything but fonts.
fn encrypted_content(xml: &str) -> bool {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if e.local_name().as_ref() == b"CipherReference" =>
            {
                let uri = attr(&e, b"URI").unwrap_or_default().to_lowercase();
                let font = [".ttf", ".otf", ".woff", ".woff2"]
                    .iter()
                    .any(|ext| uri.ends_with(ext));
                if !font {
                    return true;
                }
            }
            Ok(Event::Eof) => return false,
            // An unreadable encryption manifest: assume the worst.
            Err(_) => return true,
            _ => {}
        }
    }
}

/// The value of attribute `name` on the first element `element` of `xml`.
fn first_attr(
    xml: &str,
    element: &[u8],
    name: &[u8],
) -> std::result::Result<Option<String>, String> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid XML: {e}"))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == element => {
                return Ok(attr(&e, name));
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// The hrefs of the spine's documents, in reading order.
fn spine(opf: &str) -> std::result::Result<Vec<String>, String> {
    let mut reader = Reader::from_str(opf);
    let mut manifest: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid package document: {e}"))?
        {
            Event::Start(e) | Event::Empty(e) => {
                let get = |key: &[u8]| attr(&e, key);
                match e.local_name().as_ref() {
                    b"item" => {
                        if let (Some(id), Some(href)) = (get(b"id"), get(b"href")) {
                            manifest.insert(id, href);
                        }
                    }
                    b"itemref" => order.extend(get(b"idref")),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| manifest.get(&id).cloned())
        .collect())
}

/// `%XX` escapes decoded as UTF-8 (an invalid sequence stays as written).
fn percent_decode(href: &str) -> String {
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| href.to_string())
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn hrefs_are_percent_decoded() {
        assert_eq!(percent_decode("Kapitel%20%C3%BC.xhtml"), "Kapitel ü.xhtml");
        assert_eq!(percent_decode("it%27s.xhtml"), "it's.xhtml");
        assert_eq!(percent_decode("100%.xhtml"), "100%.xhtml");
        assert_eq!(percent_decode("bad%ZZ%C3.xhtml"), "bad%ZZ%C3.xhtml");
    }
}
