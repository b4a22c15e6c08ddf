//! The stored form of a chunk, and the one place that knows how a chunk is keyed
//! and how its heading path is kept on disk.
//!
//! - Chunk ids are `"{doc_id}:{ordinal}"`: unique in the index, stable across
//!   re-indexing of an unchanged file, and deletable per document through the
//!   `doc_id` prefix.
//! - A heading path is stored as a JSON array of strings, so any title (even one
//!   containing `" > "`) comes back exactly. Indexes written before this used one
//!   `" > "`-joined string; those are still read.

use cairn_core::Chunk;
use serde::{Deserialize, Serialize};

/// A chunk as stored: the payload needed to show and cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChunk {
    /// `"{doc_id}:{ordinal}"`, see [`StoredChunk::new`].
    pub chunk_id: String,
    pub doc_id: String,
    pub path: String,
    pub ordinal: u32,
    pub page: Option<u32>,
    pub start: usize,
    pub end: usize,
    /// Titles from the outermost heading down, e.g. `["Install", "On Debian"]`.
    pub heading_path: Vec<String>,
    pub text: String,
}

impl StoredChunk {
    /// The stored form of chunk `chunk` of the document `doc_id` at `path`.
    pub fn new(doc_id: &str, path: &str, chunk: &Chunk) -> Self {
        StoredChunk {
            chunk_id: chunk_id(doc_id, chunk.ordinal),
            doc_id: doc_id.to_string(),
            path: path.to_string(),
            ordinal: chunk.ordinal,
            page: chunk.page,
            start: chunk.start,
            end: chunk.end,
            heading_path: chunk.heading_path.clone(),
            text: chunk.text.clone(),
        }
    }
}

/// The id of chunk `ordinal` of document `doc_id`.
pub(crate) fn chunk_id(doc_id: &str, ordinal: u32) -> String {
    format!("{doc_id}:{ordinal}")
}

/// The document id and ordinal a chunk id was made from.
pub(crate) fn split_chunk_id(id: &str) -> (String, u32) {
    match id.rsplit_once(':') {
        Some((doc, n)) => (doc.to_string(), n.parse().unwrap_or(0)),
        None => (String::new(), 0),
    }
}

/// The column value for a heading path (an empty path is an empty string).
pub(crate) fn encode_heading(path: &[String]) -> String {
    if path.is_empty() {
        return String::new();
    }
    serde_json::to_string(path).unwrap_or_default()
}

/// A heading path read back from its column value.
pub(crate) fn decode_heading(stored: &str) -> Vec<String> {
    if stored.is_empty() {
        return Vec::new();
    }
    if stored.starts_with('[') {
        if let Ok(path) = serde_json::from_str::<Vec<String>>(stored) {
            return path;
        }
    }
    // Written before headings were stored as JSON.
    stored.split(" > ").map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_paths_round_trip_whatever_their_titles_hold() {
        for path in [
            vec![],
            vec!["Install".to_string()],
            vec!["A > B".to_string(), "\"quoted\" [x]".to_string()],
            vec!["".to_string(), "ünï".to_string()],
        ] {
            assert_eq!(decode_heading(&encode_heading(&path)), path);
        }
        // Indexes from before the JSON encoding.
        assert_eq!(decode_heading("Intro > Part"), vec!["Intro", "Part"]);
        assert_eq!(decode_heading("[draft] notes"), vec!["[draft] notes"]);
    }

    #[test]
    fn chunk_ids_split_back_into_document_and_ordinal() {
        let id = chunk_id("abc123", 7);
        assert_eq!(split_chunk_id(&id), ("abc123".to_string(), 7));
    }
}
