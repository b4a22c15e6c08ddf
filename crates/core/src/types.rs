use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The format a loader recognised a file as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Markdown,
    Html,
    Text,
    Code,
    Docx,
    /// Comma-, semicolon- or tab-separated values (.csv, .tsv).
    Table,
    /// A slide deck (.pptx): one page per slide, with its speaker notes.
    Slides,
    /// A spreadsheet (.xlsx, .ods): one page per sheet.
    Spreadsheet,
    /// An e-book (.epub): one page per chapter, in reading order.
    Ebook,
    /// An image (PNG, JPEG, TIFF, WebP) read by OCR; a multi-page TIFF has
    /// one page per frame.
    Image,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Text => "text",
            Format::Code => "code",
            Format::Docx => "docx",
            Format::Table => "table",
            Format::Slides => "slides",
            Format::Image => "image",
            Format::Spreadsheet => "spreadsheet",
            Format::Ebook => "ebook",
        }
    }
}

/// A heading that starts a section inside a page's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heading {
    /// Byte offset in [`Page::text`] where the section (the heading line itself) begins.
    pub offset: usize,
    /// Titles from the outermost heading down to this one, e.g. `["Install", "On Debian"]`.
    pub path: Vec<String>,
}

/// Text of one page (PDF) or of a whole unpaged document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// 1-based page number as a PDF viewer shows it; `None` for unpaged formats.
    pub number: Option<u32>,
    pub text: String,
    /// Section starts, sorted by offset. Empty when the format has no headings.
    pub headings: Vec<Heading>,
}

/// A loaded file: its extracted text, page by page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub path: PathBuf,
    pub format: Format,
    pub pages: Vec<Page>,
}

/// A passage cut from a [`Document`], the unit that is embedded and retrieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position of the chunk within its document, from 0.
    pub ordinal: u32,
    /// 1-based page number for paged formats.
    pub page: Option<u32>,
    /// Character (Unicode scalar) offsets of the passage within its page's text, end exclusive.
    pub start: usize,
    pub end: usize,
    pub heading_path: Vec<String>,
    pub text: String,
    /// Tokens counted by the embedder's tokenizer.
    pub tokens: usize,
}

/// One retrieval result after fusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub path: String,
    pub page: Option<u32>,
    pub start: usize,
    pub end: usize,
    /// Fused score; higher is better.
    pub score: f32,
    /// 1-based rank in the BM25 list, if the chunk appeared there.
    pub bm25_rank: Option<u32>,
    /// 1-based rank in the vector list, if the chunk appeared there.
    pub vector_rank: Option<u32>,
    pub bm25_score: Option<f32>,
    /// Cosine similarity between query and chunk, if the chunk appeared in the vector list.
    pub vector_score: Option<f32>,
    pub heading_path: Vec<String>,
    pub text: String,
    /// Stable chunk identifier within the index.
    pub chunk_id: String,
}
