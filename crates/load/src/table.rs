//! Comma-, semicolon- and tab-separated tables (.csv, .tsv).
//!
//! Each data row becomes one line that repeats the header next to its values
//! and names its row as a spreadsheet would (the header is row 1):
//!
//! ```text
//! Row 4: Month: March; Total: 1200; Region: North
//! ```
//!
//! so any passage cut from the table still says what its numbers mean, and a
//! citation points at the rows it came from. Every block of
//! [`ROWS_PER_SECTION`] rows is a section headed "Rows A–B", which the chunker
//! keeps in the heading path of the passages inside it.

use cairn_core::Heading;

/// Rows per section (and so at most this many rows share a heading).
pub(crate) const ROWS_PER_SECTION: usize = 25;

/// The table's text and section headings. `name` is the file's extension
/// (`tsv` means tab-separated; otherwise the separator is guessed from the
/// first line). Errors are reasons, for [`crate::LoadError::Corrupt`].
pub(crate) fn rows_as_text(
    source: &str,
    ext: &str,
) -> std::result::Result<(String, Vec<Heading>), String> {
    let delimiter = if ext == "tsv" {
        b'\t'
    } else {
        guess_delimiter(source)
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(source.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(r) => r
            .map_err(|e| format!("invalid table: {e}"))?
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
        None => return Ok((String::new(), Vec::new())),
    };
    let mut rows = RowWriter::new(Vec::new(), header, 1);
    for (i, record) in records.enumerate() {
        let record = record.map_err(|e| format!("invalid table: {e}"))?;
        rows.row(i as u32 + 2, record.iter().enumerate());
    }
    Ok(rows.finish())
}

/// Writes a table's rows as text, each with its header next to its values,
/// in sections of [`ROWS_PER_SECTION`] rows. Shared by CSV and spreadsheets.
pub(crate) struct RowWriter {
    /// Heading path above the row sections (a spreadsheet's sheet name).
    prefix: Vec<String>,
    header: Vec<String>,
    /// The row number of the header; data rows follow it.
    header_row: u32,
    text: String,
    headings: Vec<Heading>,
    section: Option<u32>,
}

impl RowWriter {
    /// Starts a table whose header (on row `header_row`) is `header`; the
    /// header goes on its own line first, so a table without data rows still
    /// says what it holds.
    pub(crate) fn new(prefix: Vec<String>, header: Vec<String>, header_row: u32) -> Self {
        let mut text = String::new();
        let mut headings = Vec::new();
        if !prefix.is_empty() {
            headings.push(Heading {
                offset: 0,
                path: prefix.clone(),
            });
        }
        text.push_str(&header.join("; "));
        text.push('\n');
        RowWriter {
            prefix,
            header,
            header_row,
            text,
            headings,
            section: None,
        }
    }

    /// Row `number`'s cells as (column index, value); empty values are left
    /// out, and so is a row without any.
    pub(crate) fn row<'a>(&mut self, number: u32, cells: impl Iterator<Item = (usize, &'a str)>) {
        let cells: Vec<String> = cells
            .filter(|(_, v)| !v.trim().is_empty())
            .map(
                |(c, v)| match self.header.get(c).filter(|h| !h.is_empty()) {
                    Some(h) => format!("{h}: {}", v.trim()),
                    None => v.trim().to_string(),
                },
            )
            .collect();
        if cells.is_empty() || number <= self.header_row {
            return;
        }
        let per = ROWS_PER_SECTION as u32;
        let section = (number - self.header_row - 1) / per;
        if self.section != Some(section) {
            self.section = Some(section);
            let first = self.header_row + 1 + section * per;
            let mut path = self.prefix.clone();
            path.push(format!("Rows {first}–{}", first.saturating_add(per - 1)));
            self.headings.push(Heading {
                offset: self.text.len(),
                path,
            });
        }
        self.text
            .push_str(&format!("Row {number}: {}\n", cells.join("; ")));
    }

    /// The text and its section headings.
    pub(crate) fn finish(self) -> (String, Vec<Heading>) {
        (self.text, self.headings)
    }
}

/// The separator that splits the first line into the most fields, among
/// comma, semicolon and tab (quoted text ignored); comma when none appears.
fn guess_delimiter(source: &str) -> u8 {
    let first = source.lines().next().unwrap_or("");
    let count = |d: char| {
        let mut quoted = false;
        first
            .chars()
            .filter(|&c| {
                if c == '"' {
                    quoted = !quoted;
                }
                !quoted && c == d
            })
            .count()
    };
    [(b',', count(',')), (b';', count(';')), (b'\t', count('\t'))]
        .into_iter()
        .max_by_key(|&(d, n)| (n, d == b','))
        .filter(|&(_, n)| n > 0)
        .map_or(b',', |(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_repeats_the_header_and_names_its_row() {
        let (text, headings) = rows_as_text(
            "Month,Total,Note\nJanuary,100,\nMarch,\"1,200\",late\n",
            "csv",
        )
        .expect("table");
        assert_eq!(
            text,
            "Month; Total; Note\nRow 2: Month: January; Total: 100\nRow 3: Month: March; Total: 1,200; Note: late\n"
        );
        assert_eq!(headings.len(), 1);
        assert_eq!(headings[0].path, vec!["Rows 2–26".to_string()]);
        assert_eq!(&text[headings[0].offset..headings[0].offset + 6], "Row 2:");
    }

    #[test]
    fn separators_are_guessed_from_the_first_line() {
        assert_eq!(guess_delimiter("a;b;c\n1;2;3"), b';');
        assert_eq!(guess_delimiter("a\tb\n1\t2"), b'\t');
        assert_eq!(guess_delimiter("\"x;y\",b\n"), b',');
        assert_eq!(guess_delimiter("single column\n"), b',');
        let (text, _) = rows_as_text("Name\tAge\nAda\t36\n", "tsv").expect("tsv");
        assert!(text.contains("Row 2: Name: Ada; Age: 36"), "{text}");
    }

    #[test]
    fn long_tables_get_a_section_every_25_rows() {
        let mut source = String::from("n,square\n");
        for n in 1..=60 {
            source.push_str(&format!("{n},{}\n", n * n));
        }
        let (text, headings) = rows_as_text(&source, "csv").expect("table");
        let paths: Vec<&str> = headings.iter().map(|h| h.path[0].as_str()).collect();
        assert_eq!(paths, ["Rows 2–26", "Rows 27–51", "Rows 52–76"]);
        assert!(text[headings[1].offset..].starts_with("Row 27: n: 26; square: 676"));
    }
}
