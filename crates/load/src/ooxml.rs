//! What the Office Open XML loaders (DOCX, PPTX) share: opening the zip
//! container (and telling a password-protected file from a damaged one), and
//! resolving XML entity references in text.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use quick_xml::events::BytesRef;

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
