//! Spreadsheets (.xlsx, .ods) and e-books (.epub), with files written by the
//! tests: zip containers holding the same parts office suites and e-book
//! tools write.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_core::{Document, Format};
use cairn_load::{load, LoadError, LoadOptions};

use super::load_ok;

fn write_zip(path: &Path, parts: &[(&str, String)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    for (name, body) in parts {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start part");
        zip.write_all(body.as_bytes()).expect("write part");
    }
    zip.finish().expect("finish");
}

/// The line of page `page` that starts with `prefix`, and the heading path
/// of the section it is in.
fn line_with<'a>(d: &'a Document, page: u32, prefix: &str) -> (&'a str, Vec<String>) {
    let p = d
        .pages
        .iter()
        .find(|p| p.number == Some(page))
        .unwrap_or_else(|| panic!("no page {page}"));
    let offset = p
        .text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not on page {page}: {}", p.text));
    let line = p.text[offset..].lines().next().unwrap_or_default();
    let path = p
        .headings
        .iter()
        .rev()
        .find(|h| h.offset <= offset)
        .map(|h| h.path.clone())
        .unwrap_or_default();
    (line, path)
}

const XLSX_NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

/// A workbook of two sheets, "Notes" and "Sales". Sales has a title row, its
/// header on row 2, months on rows 3–14 with totals (one a formula's cached
/// result), and a last, sparse row far below.
fn write_xlsx(path: &Path, sales_rows: &str) {
    let sheet = |rows: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet {XLSX_NS}><sheetData>{rows}</sheetData></worksheet>"#
        )
    };
    write_zip(
        path,
        &[
            (
                "xl/workbook.xml",
                format!(r#"<?xml version="1.0"?><workbook {XLSX_NS}><sheets><sheet name="Notes" sheetId="1" r:id="rId7"/><sheet name="Sales" sheetId="2" r:id="rId8"/></sheets></workbook>"#),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/><Relationship Id="rId8" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet1.xml"/></Relationships>"#.to_string(),
            ),
            (
                "xl/sharedStrings.xml",
                format!(r#"<?xml version="1.0"?><sst {XLSX_NS}><si><t>Month</t></si><si><t>Total</t></si><si><r><t>Region</t></r></si><si><t>North &amp; East</t></si><si><t>March</t></si></sst>"#),
            ),
            (
                "xl/worksheets/sheet2.xml",
                sheet(r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Figures are in euros.</t></is></c></row>"#),
            ),
            ("xl/worksheets/sheet1.xml", sheet(sales_rows)),
        ],
    );
}

fn sales_rows() -> String {
    let mut rows = String::from(
        r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Sales 2026</t></is></c></row><row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c><c r="D2" t="s"><v>2</v></c></row>"#,
    );
    for (i, month) in ["January", "February"].iter().enumerate() {
        let r = i + 3;
        rows.push_str(&format!(
            r#"<row r="{r}"><c r="A{r}" t="str"><v>{month}</v></c><c r="B{r}"><v>{}</v></c></row>"#,
            100 * (i + 1)
        ));
    }
    rows.push_str(r#"<row r="5"><c r="A5" t="s"><v>4</v></c><c r="B5"><f>SUM(B3:B4)*4</f><v>1200.0</v></c><c r="C5"/><c r="D5" t="s"><v>3</v></c></row>"#);
    rows.push_str(r#"<row r="40"><c r="D40" t="b"><v>1</v></c></row>"#);
    rows
}

#[test]
fn xlsx_rows_are_cited_with_their_sheet_and_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book = dir.path().join("budget.xlsx");
    write_xlsx(&book, &sales_rows());
    let d = load_ok(&book);
    assert_eq!(d.format, Format::Spreadsheet);
    assert_eq!(d.pages.len(), 2, "one page per sheet");
    let (line, path) = line_with(&d, 1, "Figures");
    assert_eq!(line, "Figures are in euros.");
    assert_eq!(path, ["Notes"]);

    // Sales is the second sheet in the workbook, whatever its part is called.
    let (line, path) = line_with(&d, 2, "Row 5:");
    assert_eq!(
        line,
        "Row 5: Month: March; Total: 1200; Region: North & East"
    );
    assert_eq!(path, ["Sales", "Rows 3–27"]);
    let (line, _) = line_with(&d, 2, "Row 3:");
    assert_eq!(line, "Row 3: Month: January; Total: 100");
    let (line, path) = line_with(&d, 2, "Row 40:");
    assert_eq!(line, "Row 40: Region: TRUE");
    assert_eq!(path, ["Sales", "Rows 28–52"]);
    // The title row stays text above the header.
    assert!(
        d.pages[1]
            .text
            .starts_with("Sales 2026\nMonth; Total; ; Region\n"),
        "{}",
        d.pages[1].text
    );

    let bytes = std::fs::read(&book).expect("read");
    let again = cairn_load::load_bytes(&book, Format::Spreadsheet, bytes, &LoadOptions::default())
        .expect("load_bytes");
    assert_eq!(d, again);
}

#[test]
fn xlsx_zip_bomb_and_a_million_empty_rows_stay_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A million empty rows, then one with a value: time, not memory.
    let mut rows = sales_rows();
    for r in 41..1_000_041 {
        rows.push_str(&format!("<row r=\"{r}\"/>"));
    }
    rows.push_str(
        r#"<row r="1000041"><c r="A1000041" t="inlineStr"><is><t>Footnote</t></is></c></row>"#,
    );
    let book = dir.path().join("sparse.xlsx");
    write_xlsx(&book, &rows);
    let started = Instant::now();
    let d = load_ok(&book);
    assert!(started.elapsed() < Duration::from_secs(30));
    let (line, _) = line_with(&d, 2, "Row 1000041:");
    assert_eq!(line, "Row 1000041: Month: Footnote");

    // The same sheet is a bomb for a loader that allows 4 MiB of XML (the
    // sheet's part is about 15 MiB): it is
    // refused as damaged at the limit, not read whole.
    let tight = LoadOptions {
        max_file_bytes: 4 * 1024 * 1024,
        ..LoadOptions::default()
    };
    let err = load(&book, &tight).expect_err("bounded");
    assert!(matches!(err, LoadError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("sparse.xlsx"), "{err}");
}

fn write_ods(path: &Path, encrypted: bool) {
    let manifest = if encrypted {
        r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/></manifest:file-entry></manifest:manifest>"#
    } else {
        r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>"#
    };
    let content = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:body><office:spreadsheet>
<table:table table:name="Trips">
<table:table-row><table:table-cell office:value-type="string"><text:p>Trip</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Cost</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16382"/></table:table-row>
<table:table-row><table:table-cell office:value-type="string"><office:annotation><dc:creator>Bob</dc:creator><text:p>check the price</text:p></office:annotation><text:p>Oslo<text:s/>ferry</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="1200"><text:p>1,200</text:p></table:table-cell></table:table-row>
<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
<table:table-row><table:table-cell table:number-columns-repeated="2" office:value-type="string"><text:p>tbd</text:p></table:table-cell></table:table-row>
</table:table>
<table:table table:name="Empty"><table:table-row><table:table-cell/></table:table-row></table:table>
<table:table table:name="People"><table:table-row><table:table-cell><text:p>Name</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>Ada</text:p><text:p>Lovelace</text:p></table:table-cell></table:table-row></table:table>
</office:spreadsheet></office:body></office:document-content>"#;
    write_zip(
        path,
        &[
            (
                "mimetype",
                "application/vnd.oasis.opendocument.spreadsheet".to_string(),
            ),
            ("META-INF/manifest.xml", manifest.to_string()),
            ("content.xml", content.to_string()),
        ],
    );
}

#[test]
fn ods_sheets_rows_and_repeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book = dir.path().join("trips.ods");
    write_ods(&book, false);
    let started = Instant::now();
    let d = load_ok(&book);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(d.format, Format::Spreadsheet);
    // Trips, Empty (kept as a page so numbers stay sheet positions), People.
    assert_eq!(d.pages.len(), 3);
    let (line, path) = line_with(&d, 1, "Row 2:");
    assert_eq!(line, "Row 2: Trip: Oslo ferry; Cost: 1,200");
    assert_eq!(path, ["Trips", "Rows 2–26"]);
    // The cell's comment is not part of its value.
    assert!(!d.pages[0].text.contains("price"), "{}", d.pages[0].text);
    // A million repeated empty rows only move the row number on.
    let (line, _) = line_with(&d, 1, "Row 1000003:");
    assert_eq!(line, "Row 1000003: Trip: tbd; Cost: tbd");
    assert!(d.pages[1].text.is_empty());
    let (line, _) = line_with(&d, 3, "Row 2:");
    assert_eq!(line, "Row 2: Name: Ada Lovelace");

    let locked = dir.path().join("locked.ods");
    write_ods(&locked, true);
    let err = load(&locked, &LoadOptions::default()).expect_err("encrypted");
    assert_eq!(err.kind(), "encrypted", "{err}");
}

/// Values that are small in the file but huge once repeated: ODS repeat
/// counts, and one long XLSX shared string used by many cells. Each stops at
/// the text limit while it is read, without filling memory first.
#[test]
fn repeated_values_stop_at_the_text_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = "x".repeat(10_000);
    let content = format!(
        r#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Big"><table:table-row table:number-rows-repeated="1000"><table:table-cell table:number-columns-repeated="1000"><text:p>{long}</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let ods = dir.path().join("repeats.ods");
    write_zip(
        &ods,
        &[
            (
                "mimetype",
                "application/vnd.oasis.opendocument.spreadsheet".to_string(),
            ),
            ("content.xml", content),
        ],
    );

    let row: String = (0..2_000).map(|_| r#"<c t="s"><v>0</v></c>"#).collect();
    let xlsx = dir.path().join("shared.xlsx");
    write_zip(
        &xlsx,
        &[
            (
                "xl/workbook.xml",
                format!(r#"<?xml version="1.0"?><workbook {XLSX_NS}><sheets><sheet name="Big" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string(),
            ),
            (
                "xl/sharedStrings.xml",
                format!(r#"<?xml version="1.0"?><sst {XLSX_NS}><si><t>{}</t></si></sst>"#, "y".repeat(1 << 20)),
            ),
            (
                "xl/worksheets/sheet1.xml",
                format!(r#"<?xml version="1.0"?><worksheet {XLSX_NS}><sheetData><row r="1">{row}</row></sheetData></worksheet>"#),
            ),
        ],
    );

    for book in [&ods, &xlsx] {
        let started = Instant::now();
        let err = load(book, &LoadOptions::default()).expect_err("too large");
        assert!(started.elapsed() < Duration::from_secs(20), "{err}");
        assert!(
            matches!(
                err,
                LoadError::TooLarge {
                    what: cairn_load::SizeKind::ExtractedText,
                    ..
                }
            ),
            "{err:?}"
        );
        let name = book.file_name().expect("name").to_string_lossy();
        assert!(err.to_string().contains(&*name), "{err}");
    }
}

/// Row numbers at the end of the range neither panic nor wrap around.
#[test]
fn xlsx_row_numbers_at_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = sales_rows();
    rows.push_str(r#"<row r="4294967295"><c t="inlineStr"><is><t>far</t></is></c></row><row><c t="inlineStr"><is><t>farther</t></is></c></row>"#);
    let book = dir.path().join("far.xlsx");
    write_xlsx(&book, &rows);
    let d = load_ok(&book);
    let (line, path) = line_with(&d, 2, "Row 4294967295: Month: far");
    assert_eq!(line, "Row 4294967295: Month: far");
    assert_eq!(path[0], "Sales");
}

fn write_epub(path: &Path, drm: bool) {
    let chapter = |title: &str, body: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"#
        )
    };
    let mut parts = vec![
        ("mimetype", "application/epub+zip".to_string()),
        (
            "META-INF/container.xml",
            r#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#.to_string(),
        ),
        (
            "OEBPS/content.opf",
            r#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Coastal Notes</dc:title></metadata><manifest><item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/><item id="c2" href="text/two.xhtml" media-type="application/xhtml+xml"/><item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="cover"/><itemref idref="c1"/><itemref idref="c2"/></spine></package>"#.to_string(),
        ),
        ("OEBPS/cover.xhtml", r#"<html xmlns="http://www.w3.org/1999/xhtml"><body><img src="cover.jpg" alt=""/></body></html>"#.to_string()),
        ("OEBPS/text/one.xhtml", chapter("The Harbour", "<p>Fishing boats leave before the tide turns.</p>")),
        (
            "OEBPS/text/two.xhtml",
            chapter("The Lighthouse Keeper", "<h2>Winter</h2><p>The keeper trims the wick at midnight.</p>"),
        ),
    ];
    if drm {
        parts.push((
            "META-INF/encryption.xml",
            r#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData><enc:CipherReference URI="OEBPS/text/one.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>"#.to_string(),
        ));
    }
    write_zip(path, &parts);
}

#[test]
fn epub_chapters_are_pages_with_their_headings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book = dir.path().join("coastal.epub");
    write_epub(&book, false);
    let d = load_ok(&book);
    assert_eq!(d.format, Format::Ebook);
    // The cover has no text; the chapters follow the spine, not the manifest.
    assert_eq!(d.pages.len(), 2);
    let (_, path) = line_with(&d, 1, "Fishing boats");
    assert_eq!(path, ["The Harbour"]);
    let (_, path) = line_with(&d, 2, "The keeper trims the wick");
    assert_eq!(path, ["The Lighthouse Keeper", "Winter"]);

    let locked = dir.path().join("drm.epub");
    write_epub(&locked, true);
    let err = load(&locked, &LoadOptions::default()).expect_err("drm");
    assert_eq!(err.kind(), "encrypted", "{err}");
    assert!(err.to_string().contains("drm.epub"), "{err}");
}
