//! Deciding what a file is, from its name and, where that says nothing, from
//! its first bytes.

use std::io::Read;
use std::path::Path;

use cairn_core::Format;

use crate::error::{LoadError, Result};
use crate::text;

/// Images, read by OCR.
const IMAGE: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "webp"];
const MARKDOWN: &[&str] = &["md", "markdown", "mdown", "mkd", "mkdn"];
const HTML: &[&str] = &["html", "htm", "xhtml"];
const TEXT: &[&str] = &[
    "txt", "text", "log", "rst", "tex", "bib", "adoc", "asciidoc", "org", "nfo",
];
const CODE: &[&str] = &[
    // Systems and application languages.
    "rs",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "hh",
    "hxx",
    "go",
    "java",
    "kt",
    "kts",
    "scala",
    "swift",
    "m",
    "mm",
    "cs",
    "fs",
    "vb",
    "dart",
    "zig",
    "nim",
    "d",
    "ada",
    "f90",
    "pas",
    // Scripting languages.
    "py",
    "pyi",
    "rb",
    "php",
    "pl",
    "pm",
    "lua",
    "r",
    "jl",
    "tcl",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "cmd",
    "awk",
    "sed",
    "el",
    "vim",
    // Functional languages.
    "hs",
    "ml",
    "mli",
    "ex",
    "exs",
    "erl",
    "hrl",
    "clj",
    "cljs",
    "lisp",
    "scm",
    "rkt",
    // Web.
    "js",
    "mjs",
    "cjs",
    "jsx",
    "ts",
    "mts",
    "cts",
    "tsx",
    "vue",
    "svelte",
    "css",
    "scss",
    "sass",
    "less",
    // Data, configuration and build files.
    "toml",
    "yaml",
    "yml",
    "json",
    "jsonc",
    "json5",
    "ini",
    "cfg",
    "conf",
    "properties",
    "xml",
    "xsd",
    "xsl",
    "sql",
    "proto",
    "graphql",
    "gql",
    "gradle",
    "cmake",
    "mk",
    "tf",
    "hcl",
    "nix",
    "diff",
    "patch",
    "ipynb",
];
/// Build and tool files recognised by their whole name.
const CODE_NAMES: &[&str] = &[
    "makefile",
    "gnumakefile",
    "dockerfile",
    "containerfile",
    "rakefile",
    "gemfile",
    "justfile",
    "vagrantfile",
    "jenkinsfile",
    "procfile",
];

/// The file's format by extension, sniffing the first bytes where the name
/// gives no answer (no extension, or a version-like numeric one such as
/// `Apache-2.0` or `ls.1`). Returns `None` for anything Cairn does not load.
///
/// Only files without a telling extension are opened; others are judged by
/// name alone, so this is cheap enough to call on every file of a folder.
pub fn detect(path: &Path) -> Option<cairn_core::Format> {
    classify(path).ok()
}

/// Like [`detect`], but says why a file is not loadable.
pub(crate) fn classify(path: &Path) -> Result<Format> {
    match by_name(path) {
        ByName::Known(format) => Ok(format),
        ByName::Sniff => sniff(path).map(|()| Format::Text),
        ByName::Unsupported(ext) => Err(LoadError::Unsupported {
            path: path.to_path_buf(),
            ext,
        }),
    }
}

/// What the name alone says about a file.
#[derive(Debug, PartialEq, Eq)]
enum ByName {
    Known(Format),
    /// No telling extension: look at the content.
    Sniff,
    /// Carries the lower-cased extension.
    Unsupported(String),
}

fn by_name(path: &Path) -> ByName {
    let ext = extension(path);
    if let Some(format) = by_extension(&ext) {
        return ByName::Known(format);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if CODE_NAMES.contains(&name.as_str()) {
        ByName::Known(Format::Code)
    } else if ext.is_empty() || ext.bytes().all(|b| b.is_ascii_digit()) {
        ByName::Sniff
    } else {
        ByName::Unsupported(ext)
    }
}

/// Lower-cased extension without the dot; empty when there is none.
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn by_extension(ext: &str) -> Option<Format> {
    let is = |list: &[&str]| list.contains(&ext);
    if ext == "pdf" {
        Some(Format::Pdf)
    } else if ext == "docx" {
        Some(Format::Docx)
    } else if ext == "pptx" {
        Some(Format::Slides)
    } else if ext == "xlsx" || ext == "ods" {
        Some(Format::Spreadsheet)
    } else if ext == "epub" {
        Some(Format::Ebook)
    } else if is(IMAGE) {
        Some(Format::Image)
    } else if ext == "csv" || ext == "tsv" {
        Some(Format::Table)
    } else if is(MARKDOWN) {
        Some(Format::Markdown)
    } else if is(HTML) {
        Some(Format::Html)
    } else if is(TEXT) {
        Some(Format::Text)
    } else if is(CODE) {
        Some(Format::Code)
    } else {
        None
    }
}

fn sniff(path: &Path) -> Result<()> {
    // Never a plain open: a named pipe without an extension would block here.
    let (file, _) = crate::file::open_regular(path)?;
    let mut prefix = Vec::with_capacity(text::SNIFF_LEN);
    file.take(text::SNIFF_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| LoadError::io(path, e))?;
    if text::sniff_is_text(&prefix) {
        Ok(())
    } else {
        Err(LoadError::Binary {
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: ByName) {
        assert_eq!(by_name(Path::new(name)), expected, "name={name}");
    }

    #[test]
    fn name_table() {
        use ByName::{Known, Sniff, Unsupported};
        check("guide.pdf", Known(Format::Pdf));
        check("GUIDE.PDF", Known(Format::Pdf));
        check("notes.md", Known(Format::Markdown));
        check("notes.markdown", Known(Format::Markdown));
        check("page.HTM", Known(Format::Html));
        check("page.xhtml", Known(Format::Html));
        check("report.docx", Known(Format::Docx));
        check("data.csv", Known(Format::Table));
        check("data.TSV", Known(Format::Table));
        check("deck.pptx", Known(Format::Slides));
        check("receipt.JPG", Known(Format::Image));
        check("budget.xlsx", Known(Format::Spreadsheet));
        check("budget.ods", Known(Format::Spreadsheet));
        check("novel.epub", Known(Format::Ebook));
        check("scan.tiff", Known(Format::Image));
        check("paper.tex", Known(Format::Text));
        check("main.rs", Known(Format::Code));
        check("Cargo.toml", Known(Format::Code));
        check("config.yml", Known(Format::Code));
        check("Makefile", Known(Format::Code));
        check("docker/Dockerfile", Known(Format::Code));
        // No extension, or a version number where the extension would be.
        check("LICENSE", Sniff);
        check("/usr/share/common-licenses/Apache-2.0", Sniff);
        check("ls.1", Sniff);
        check("photo.heic", Unsupported("heic".into()));
        check("archive.tar.gz", Unsupported("gz".into()));
        check("program.EXE", Unsupported("exe".into()));
        check("legacy.doc", Unsupported("doc".into()));
    }

    #[test]
    fn unknown_extension_is_unsupported_without_io() {
        let err = classify(Path::new("/nonexistent/dir/drawing.SVG")).unwrap_err();
        assert!(
            matches!(&err, LoadError::Unsupported { ext, .. } if ext == "svg"),
            "{err:?}"
        );
        assert!(err.to_string().contains("drawing.SVG"), "{err}");
    }
}
