//! What the zip-and-XML loaders (DOCX, PPTX, XLSX, ODS, EPUB) share: opening
//! the zip container (and telling a password-protected Office file from a
//! damaged one), reading a bounded part, package relationships, and
//! resolving XML entity references in text.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use crate::error::{LoadError, Result};

/// Magic bytes of an OLE compound file. Office stores password-protected
/// files in this container instead of a zip.
const OLE_MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// Opens the zip container of an Office file; `kind` ("docx", "pptx") names
/// it in errors.
pub(crate) fn open<R: Read + Seek>(
    path: &Path,
    mut reader: R,
    kind: &str,
) -> Result<zip::ZipArchive<R>> {
    let mut magic = Vec::with_capacity(OLE_MAGIC.len());
    (&mut reader)
        .take(OLE_MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(|e| LoadError::io(path, e))?;
    if magic == OLE_MAGIC {
        return Err(LoadError::Encrypted {
            path: path.to_path_buf(),
        });
    }
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| LoadError::io(path, e))?;
    zip::ZipArchive::new(reader)
        .map_err(|e| LoadError::corrupt(path, format!("not a valid {kind} (zip) archive: {e}")))
}

/// Appends the character or predefined entity `r` stands for to `out`.
pub(crate) fn push_reference(
    r: &BytesRef<'_>,
    out: &mut String,
) -> std::result::Result<(), String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        out.push(c);
        return Ok(());
    }
    let name = r.decode().map_err(|e| format!("bad entity: {e}"))?;
    match quick_xml::escape::resolve_predefined_entity(&name) {
        Some(s) => {
            out.push_str(s);
            Ok(())
        }
        None => Err(format!("unknown entity &{name};")),
    }
}

/// `target` (relative, as relationships write it) from the folder `base`.
pub(crate) fn resolve(base: &str, target: &str) -> String {
    if let Some(absolute) = target.strip_prefix('/') {
        return absolute.to_string();
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for piece in target.split('/') {
        match piece {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The value of the attribute whose local name is `name` (any namespace
/// prefix), when it is there and its escapes are valid.
pub(crate) fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Relationship id → (type, target) of a `.rels` part.
pub(crate) fn relationships(
    xml: &str,
) -> std::result::Result<HashMap<String, (String, String)>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = HashMap::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid relationships: {e}"))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                let mut id = None;
                let mut kind = String::new();
                let mut target = None;
                for a in e.attributes().flatten() {
                    let value = a
                        .unescape_value()
                        .map_err(|e| format!("invalid relationship: {e}"))?
                        .into_owned();
                    match a.key.local_name().as_ref() {
                        b"Id" => id = Some(value),
                        b"Type" => kind = value,
                        b"Target" => target = Some(value),
                        _ => {}
                    }
                }
                if let (Some(id), Some(target)) = (id, target) {
                    out.insert(id, (kind, target));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The part `name` of `archive` as text, at most `limit` bytes of it
/// decompressed (a zip bomb costs no more); `None` when there is no such part.
pub(crate) fn part<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Option<std::result::Result<String, String>> {
    let file = archive.by_name(name).ok()?;
    let mut text = String::new();
    Some(
        BufReader::new(file.take(limit))
            .read_to_string(&mut text)
            .map(|_| text)
            .map_err(|e| format!("cannot read {name}: {e}")),
    )
}
