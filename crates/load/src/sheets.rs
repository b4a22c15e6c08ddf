//! Spreadsheets (.xlsx, .ods): one page per sheet, numbered in workbook order,
//! with the sheet's name heading it. Each sheet is written the way CSV tables
//! are (see the `table` module): the first non-empty row is the header, and
//! every later row repeats it next to its values and names its row number as
//! the spreadsheet shows it, in sections "Rows A–B" under the sheet's name:
//!
//! ```text
//! Row 14: Month: March; Total: 1200; Region: North
//! ```
//!
//! Sheets are parsed as streams, row by row, so a sheet of a million empty
//! rows costs time but no memory; each decompressed part is bounded, and the
//! values kept are counted against the text limit as they are read, so that
//! repeated cells or one long shared string used in many cells stop the file
//! as soon as its text is too large, not after it filled memory. Values
//! are the cells' stored values (XLSX: numbers as stored, shared and inline
//! strings, cached formula results; ODS: the text the cell displays); number
//! formats, dates as dates, charts and comments are not read.

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use cairn_core::{Heading, Page};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{LoadError, Result};
use crate::ooxml::{attr, part, push_reference, relationships, resolve};
use crate::table::RowWriter;

/// Most sheets read from one workbook.
const MAX_SHEETS: usize = 1_000;
/// Columns beyond this are ignored (Excel's own limit is 16 384).
const MAX_COLUMNS: usize = 16_384;
/// A non-empty cell or row repeated more often than this (ODS compresses
/// repeats) is written this many times.
const MAX_REPEAT: u32 = 1_000;

/// Bounds shared by both formats.
pub(crate) struct Limits {
    /// Each decompressed XML part.
    pub(crate) xml_bytes: u64,
    /// The text of all sheets together.
    pub(crate) text_bytes: u64,
}

/// The sheets of an .xlsx workbook.
pub(crate) fn load_xlsx<R: Read + Seek>(
    path: &Path,
    reader: R,
    limits: &Limits,
) -> Result<Vec<Page>> {
    let mut archive = crate::ooxml::open(path, reader, "xlsx")?;
    let corrupt = |reason: String| LoadError::corrupt(path, reason);
    let workbook = part(&mut archive, "xl/workbook.xml", limits.xml_bytes)
        .ok_or_else(|| corrupt("no xl/workbook.xml".into()))?
        .map_err(corrupt)?;
    let rels = part(&mut archive, "xl/_rels/workbook.xml.rels", limits.xml_bytes)
        .ok_or_else(|| corrupt("no xl/_rels/workbook.xml.rels".into()))?
        .map_err(corrupt)?;
    let targets = relationships(&rels).map_err(corrupt)?;
    let sheets = xlsx_sheets(&workbook).map_err(corrupt)?;
    let strings = match part(&mut archive, "xl/sharedStrings.xml", limits.xml_bytes) {
        Some(xml) => shared_strings(&xml.map_err(corrupt)?).map_err(corrupt)?,
        None => Vec::new(),
    };

    let mut out = Pages::new(path, limits);
    for (name, rid) in sheets.into_iter().take(MAX_SHEETS) {
        let Some((_, target)) = targets.get(&rid) else {
            return Err(corrupt(format!(
                "sheet {name:?} names a missing part {rid}"
            )));
        };
        let sheet_path = resolve("xl", target);
        let file = archive
            .by_name(&sheet_path)
            .map_err(|e| corrupt(format!("no {sheet_path}: {e}")))?;
        let xml = BufReader::new(file.take(limits.xml_bytes));
        let mut sheet = Sheet::new(name, out.budget());
        xlsx_rows(xml, &strings, &mut sheet).map_err(|e| corrupt(format!("{sheet_path}: {e}")))?;
        out.push(sheet)?;
    }
    out.finish()
}

/// The sheets of an .ods spreadsheet (OpenDocument).
pub(crate) fn load_ods<R: Read + Seek>(
    path: &Path,
    reader: R,
    limits: &Limits,
) -> Result<Vec<Page>> {
    let mut archive = crate::ooxml::open(path, reader, "ods")?;
    let corrupt = |reason: String| LoadError::corrupt(path, reason);
    // An encrypted OpenDocument file is still a zip; its manifest says so.
    if let Some(Ok(manifest)) = part(&mut archive, "META-INF/manifest.xml", limits.xml_bytes) {
        if manifest.contains("encryption-data") {
            return Err(LoadError::Encrypted {
                path: path.to_path_buf(),
            });
        }
    }
    let file = archive
        .by_name("content.xml")
        .map_err(|e| corrupt(format!("no content.xml: {e}")))?;
    let xml = BufReader::new(file.take(limits.xml_bytes));
    let mut out = Pages::new(path, limits);
    ods_tables(xml, &mut out).map_err(|e| match e {
        OdsError::Xml(reason) => corrupt(format!("content.xml: {reason}")),
        OdsError::Load(e) => e,
    })?;
    out.finish()
}

/// Rows looked at to find the header: among the first rows of a sheet, the
/// first one with the most cells is the header, and the rows above it (a
/// title, a note) are text.
const HEADER_WINDOW: usize = 10;

type Row = (u32, Vec<(usize, String)>);

/// One sheet being read: rows arrive as (row number, sparse cells).
struct Sheet {
    name: String,
    /// The first rows, until the header is chosen.
    first: Vec<Row>,
    /// Lines above the header.
    preamble: Vec<String>,
    rows: Option<RowWriter>,
    /// Bytes of the values kept so far (less than the sheet's text, which
    /// adds header names and row labels).
    bytes: u64,
    /// Bytes of text the workbook may still take.
    budget: u64,
    /// Set when a row would not fit the budget: the sheet is too large.
    over: bool,
}

impl Sheet {
    fn new(name: String, budget: u64) -> Self {
        Sheet {
            name,
            first: Vec::new(),
            preamble: Vec::new(),
            rows: None,
            bytes: 0,
            budget,
            over: false,
        }
    }

    /// Whether the sheet's text is already larger than the workbook may
    /// take: its reader stops, and [`Pages::push`] refuses the file.
    fn over(&self) -> bool {
        self.over || self.bytes > self.budget
    }

    /// Counts a value of `len` bytes going into the row being read, whose
    /// values so far take `row` bytes; false (and the sheet is over) when
    /// the row would not fit.
    fn fits(&mut self, row: &mut u64, len: usize) -> bool {
        *row += len as u64;
        if self.bytes.saturating_add(*row) > self.budget {
            self.over = true;
        }
        !self.over
    }

    /// Row `number` (1-based) with its cells as (column, value).
    fn row(&mut self, number: u32, cells: &[(usize, String)]) {
        let filled: Vec<(usize, String)> = cells
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .cloned()
            .collect();
        if filled.is_empty() {
            return;
        }
        self.bytes += filled
            .iter()
            .map(|(_, v)| v.trim().len() as u64)
            .sum::<u64>();
        match &mut self.rows {
            Some(rows) => rows.row(number, filled.iter().map(|(c, v)| (*c, v.as_str()))),
            None => {
                self.first.push((number, filled));
                if self.first.len() == HEADER_WINDOW {
                    self.choose_header();
                }
            }
        }
    }

    fn choose_header(&mut self) {
        let first = std::mem::take(&mut self.first);
        let most = first.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
        let Some(at) = first.iter().position(|(_, c)| c.len() == most) else {
            return;
        };
        let mut rest = first.into_iter();
        for (_, cells) in rest.by_ref().take(at) {
            let line: Vec<&str> = cells.iter().map(|(_, v)| v.trim()).collect();
            self.preamble.push(line.join("; "));
        }
        let Some((number, cells)) = rest.next() else {
            return;
        };
        let width = cells.iter().map(|(c, _)| c + 1).max().unwrap_or(0);
        let mut header = vec![String::new(); width];
        for (c, v) in cells {
            header[c] = v.trim().to_string();
        }
        let mut rows = RowWriter::new(vec![self.name.clone()], header, number);
        for (n, cells) in rest {
            rows.row(n, cells.iter().map(|(c, v)| (*c, v.as_str())));
        }
        self.rows = Some(rows);
    }

    /// The sheet's text (preamble, header, rows) and headings, the sheet's
    /// name heading all of it.
    fn finish(mut self) -> (String, Vec<Heading>) {
        if self.rows.is_none() {
            self.choose_header();
        }
        let mut text: String = self.preamble.iter().map(|l| format!("{l}\n")).collect();
        let mut headings = vec![Heading {
            offset: 0,
            path: vec![self.name.clone()],
        }];
        if let Some(rows) = self.rows {
            let (table, table_headings) = rows.finish();
            let shift = text.len();
            headings.extend(
                table_headings
                    .into_iter()
                    .filter(|h| h.path.len() > 1)
                    .map(|h| Heading {
                        offset: h.offset + shift,
                        path: h.path,
                    }),
            );
            text.push_str(&table);
        }
        if text.is_empty() {
            headings.clear();
        }
        (text, headings)
    }
}

/// The pages of a workbook, with the text limit checked after each sheet.
struct Pages<'a> {
    path: &'a Path,
    limits: &'a Limits,
    pages: Vec<Page>,
    text_bytes: u64,
}

impl<'a> Pages<'a> {
    fn new(path: &'a Path, limits: &'a Limits) -> Self {
        Pages {
            path,
            limits,
            pages: Vec::new(),
            text_bytes: 0,
        }
    }

    /// Bytes of text the sheets still to come may take.
    fn budget(&self) -> u64 {
        self.limits.text_bytes.saturating_sub(self.text_bytes)
    }

    /// Adds a sheet as the next page (numbered even when empty, so page
    /// numbers stay the sheets' positions).
    fn push(&mut self, sheet: Sheet) -> Result<()> {
        let number = self.pages.len() as u32 + 1;
        if sheet.over() {
            return Err(LoadError::TooLarge {
                path: self.path.to_path_buf(),
                size: self
                    .text_bytes
                    .saturating_add(sheet.bytes.max(sheet.budget + 1)),
                limit: self.limits.text_bytes,
                what: crate::SizeKind::ExtractedText,
            });
        }
        let (text, headings) = sheet.finish();
        self.text_bytes += text.len() as u64;
        if self.text_bytes > self.limits.text_bytes {
            return Err(LoadError::TooLarge {
                path: self.path.to_path_buf(),
                size: self.text_bytes,
                limit: self.limits.text_bytes,
                what: crate::SizeKind::ExtractedText,
            });
        }
        self.pages.push(Page {
            number: Some(number),
            text,
            headings,
        });
        Ok(())
    }

    fn finish(self) -> Result<Vec<Page>> {
        if self.pages.iter().all(|p| p.text.trim().is_empty()) {
            return Err(LoadError::Empty {
                path: self.path.to_path_buf(),
            });
        }
        Ok(self.pages)
    }
}

/// (name, relationship id) of every sheet, in workbook order.
fn xlsx_sheets(xml: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid workbook.xml: {e}"))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sheet" => {
                let name = attr(&e, b"name").unwrap_or_default();
                // `r:id`: the id attribute with a namespace prefix.
                let rid = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == b"id" && a.key.prefix().is_some())
                    .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                if let Some(rid) = rid {
                    out.push((name, rid));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The shared string table: each `si` item's text (rich-text runs joined;
/// phonetic guides left out).
fn shared_strings(xml: &str) -> std::result::Result<Vec<String>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_text = false;
    let mut in_phonetic = false;
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid sharedStrings.xml: {e}"))?
        {
            Event::Start(e) => match e.local_name().as_ref() {
                b"si" => current.clear(),
                b"t" => in_text = true,
                b"rPh" => in_phonetic = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"si" => out.push(std::mem::take(&mut current)),
                b"t" => in_text = false,
                b"rPh" => in_phonetic = false,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"si" => out.push(String::new()),
            Event::Text(t) if in_text && !in_phonetic => current.push_str(
                &t.decode()
                    .map_err(|e| format!("invalid sharedStrings.xml: {e}"))?,
            ),
            Event::GeneralRef(r) if in_text && !in_phonetic => push_reference(&r, &mut current)?,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Column index (0-based) of a cell reference such as `AB12`.
fn column_of(reference: &str) -> Option<usize> {
    let letters: Vec<u8> = reference
        .bytes()
        .take_while(u8::is_ascii_alphabetic)
        .collect();
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let n = letters.iter().fold(0usize, |n, c| {
        n * 26 + (c.to_ascii_uppercase() - b'A') as usize + 1
    });
    Some(n - 1)
}

/// A stored number as people write it: `1200` rather than `1200.0`, and no
/// floating-point noise (`0.30000000000000004` is `0.3`).
fn number(raw: &str) -> String {
    match raw.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Ok(x) if x.is_finite() => {
            let s = format!("{x:.10}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => raw.trim().to_string(),
    }
}

/// Streams one worksheet's rows into `sheet`.
fn xlsx_rows<B: BufRead>(
    xml: B,
    strings: &[String],
    sheet: &mut Sheet,
) -> std::result::Result<(), String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut row_number = 0u32;
    let mut cells: Vec<(usize, String)> = Vec::new();
    let mut row_bytes = 0u64;
    // The cell being read: column, type, value so far.
    let mut column = 0usize;
    let mut kind = String::new();
    let mut value = String::new();
    let mut in_value = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"row" => {
                row_number = attr(&e, b"r")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_else(|| row_number.saturating_add(1));
                cells.clear();
                row_bytes = 0;
                column = 0;
            }
            Event::End(e) if e.local_name().as_ref() == b"row" => {
                sheet.row(row_number, &cells);
                if sheet.over() {
                    return Ok(());
                }
            }
            Event::Start(e) if e.local_name().as_ref() == b"c" => {
                column = attr(&e, b"r").and_then(|r| column_of(&r)).unwrap_or(column);
                kind = attr(&e, b"t").unwrap_or_default();
                value.clear();
            }
            Event::Empty(e) if e.local_name().as_ref() == b"c" => {
                column = attr(&e, b"r").and_then(|r| column_of(&r)).unwrap_or(column) + 1;
            }
            Event::End(e) if e.local_name().as_ref() == b"c" => {
                let shown = match kind.as_str() {
                    "s" => value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| strings.get(i))
                        .cloned()
                        .unwrap_or_default(),
                    "b" => if value.trim() == "1" { "TRUE" } else { "FALSE" }.to_string(),
                    "str" | "inlineStr" | "e" => std::mem::take(&mut value),
                    _ => number(&value),
                };
                if column < MAX_COLUMNS && !shown.trim().is_empty() {
                    if !sheet.fits(&mut row_bytes, shown.trim().len()) {
                        return Ok(());
                    }
                    cells.push((column, shown));
                }
                column = column.saturating_add(1);
            }
            // `v` holds a value; `t` inside `is` an inline string.
            Event::Start(e) if matches!(e.local_name().as_ref(), b"v" | b"t") => in_value = true,
            Event::End(e) if matches!(e.local_name().as_ref(), b"v" | b"t") => in_value = false,
            Event::Text(t) if in_value => {
                value.push_str(&t.decode().map_err(|e| format!("invalid text: {e}"))?)
            }
            Event::GeneralRef(r) if in_value => push_reference(&r, &mut value)?,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

enum OdsError {
    Xml(String),
    Load(LoadError),
}

impl From<String> for OdsError {
    fn from(reason: String) -> Self {
        OdsError::Xml(reason)
    }
}

/// Streams the tables (sheets) of an ODS `content.xml` into pages.
fn ods_tables<B: BufRead>(xml: B, out: &mut Pages<'_>) -> std::result::Result<(), OdsError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut sheet: Option<Sheet> = None;
    let mut row_number = 0u32;
    let mut row_repeat = 1u32;
    let mut cells: Vec<(usize, String)> = Vec::new();
    let mut row_bytes = 0u64;
    let mut column = 0usize;
    let mut cell_repeat = 1u32;
    let mut value = String::new();
    let mut in_cell = false;
    // Inside a cell's comment (`office:annotation`), which is not its value.
    let mut in_note = false;
    let mut paragraphs = 0usize;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.buffer_position()))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) if e.local_name().as_ref() == b"table" => {
                sheet = Some(Sheet::new(
                    attr(&e, b"name").unwrap_or_default(),
                    out.budget(),
                ));
                row_number = 0;
            }
            Event::End(e) if e.local_name().as_ref() == b"table" => {
                if let Some(s) = sheet.take() {
                    if out.pages.len() >= MAX_SHEETS {
                        break;
                    }
                    out.push(s).map_err(OdsError::Load)?;
                }
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"table-row" => {
                row_repeat = repeat(&e, b"number-rows-repeated");
                cells.clear();
                row_bytes = 0;
                column = 0;
                if empty {
                    row_number = row_number.saturating_add(row_repeat);
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"table-row" => {
                let s = sheet.as_mut();
                if cells.is_empty() {
                    // Empty rows, however many, only move the row number on.
                    row_number = row_number.saturating_add(row_repeat);
                } else if let Some(s) = s {
                    for _ in 0..row_repeat.min(MAX_REPEAT) {
                        row_number = row_number.saturating_add(1);
                        s.row(row_number, &cells);
                        if s.over() {
                            break;
                        }
                    }
                    row_number = row_number.saturating_add(row_repeat.saturating_sub(MAX_REPEAT));
                }
                if let Some(s) = sheet.take_if(|s| s.over()) {
                    out.push(s).map_err(OdsError::Load)?;
                }
            }
            Event::Start(e) | Event::Empty(e)
                if matches!(
                    e.local_name().as_ref(),
                    b"table-cell" | b"covered-table-cell"
                ) =>
            {
                cell_repeat = repeat(&e, b"number-columns-repeated");
                value.clear();
                paragraphs = 0;
                if empty {
                    column = column.saturating_add(cell_repeat as usize);
                } else {
                    in_cell = true;
                }
            }
            Event::End(e)
                if matches!(
                    e.local_name().as_ref(),
                    b"table-cell" | b"covered-table-cell"
                ) =>
            {
                in_cell = false;
                let text = value.trim();
                if text.is_empty() {
                    column = column.saturating_add(cell_repeat as usize);
                } else {
                    for _ in 0..cell_repeat.min(MAX_REPEAT) {
                        if column < MAX_COLUMNS {
                            let fits = sheet
                                .as_mut()
                                .is_none_or(|s| s.fits(&mut row_bytes, text.len()));
                            if !fits {
                                break;
                            }
                            cells.push((column, text.to_string()));
                        }
                        column = column.saturating_add(1);
                    }
                }
            }
            Event::Start(e) if in_cell && e.local_name().as_ref() == b"annotation" => {
                in_note = true
            }
            Event::End(e) if in_cell && e.local_name().as_ref() == b"annotation" => in_note = false,
            _ if in_note => {}
            // Paragraphs of a cell are joined with spaces; `text:s` is a space,
            // `text:tab` a tab, `text:line-break` a line break.
            Event::Start(e) if in_cell && e.local_name().as_ref() == b"p" => {
                if paragraphs > 0 {
                    value.push(' ');
                }
                paragraphs += 1;
            }
            Event::Empty(e) if in_cell => match e.local_name().as_ref() {
                b"s" => value.push(' '),
                b"tab" => value.push('\t'),
                b"line-break" => value.push(' '),
                _ => {}
            },
            Event::Text(t) if in_cell => {
                value.push_str(&t.decode().map_err(|e| format!("invalid text: {e}"))?)
            }
            Event::GeneralRef(r) if in_cell => push_reference(&r, &mut value)?,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

/// A repeat count attribute (1 when absent or invalid).
fn repeat(e: &BytesStart<'_>, name: &[u8]) -> u32 {
    attr(e, name)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_and_numbers() {
        assert_eq!(column_of("A1"), Some(0));
        assert_eq!(column_of("Z9"), Some(25));
        assert_eq!(column_of("AA10"), Some(26));
        assert_eq!(column_of("XFD1"), Some(16_383));
        assert_eq!(column_of("12"), None);
        assert_eq!(number("1200"), "1200");
        assert_eq!(number("1200.0"), "1200");
        assert_eq!(number("0.30000000000000004"), "0.3");
        assert_eq!(number("2.5"), "2.5");
        assert_eq!(number("abc"), "abc");
    }

    #[test]
    fn shared_strings_join_runs_and_skip_phonetics() {
        let xml = r#"<sst><si><t>Plain</t></si><si><r><t>Rich </t></r><r><t>text &amp; more</t></r><rPh><t>ignored</t></rPh></si><si/></sst>"#;
        assert_eq!(
            shared_strings(xml).expect("sst"),
            ["Plain", "Rich text & more", ""]
        );
    }
}
