//! BM25 keyword index over chunk text, backed by tantivy.
//!
//! Two analysed views of the same text are indexed:
//! - `text`: words split at any non-alphanumeric character, lower-cased, English
//!   stop words removed and stemmed, so "installing" matches "installed";
//! - `ident`: runs of word characters including `_`, lower-cased and unstemmed, so
//!   `asn1_der_coding` or `__NOGLOBS__` match as whole identifiers.
//!
//! Queries are built term by term from the analysers (never through tantivy's query
//! syntax), so user text such as `--force` or `a:b` cannot be misread as operators.
//!
//! Each document also stores the chunk's payload (path, page, span, heading, text),
//! so a BM25-only hit needs no lookup in the vector table.

use crate::chunk::{decode_heading, encode_heading, split_chunk_id};
use crate::error::tantivy_err;
use crate::{Result, StoreError, StoredChunk};
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    STORED, STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RegexTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const TEXT_ANALYZER: &str = "cairn_en";
const IDENT_ANALYZER: &str = "cairn_ident";
/// Identifier matches are rarer and more specific than word matches.
const IDENT_BOOST: f32 = 1.5;
const WRITER_HEAP: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    doc_id: Field,
    path: Field,
    page: Field,
    start: Field,
    end: Field,
    heading: Field,
    text: Field,
    ident: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_opts = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let ident_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(IDENT_ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let num = NumericOptions::default().set_stored();
    let fields = Fields {
        chunk_id: b.add_text_field("chunk_id", STRING | STORED),
        doc_id: b.add_text_field("doc_id", STRING),
        path: b.add_text_field("path", STORED),
        page: b.add_u64_field("page", num.clone()),
        start: b.add_u64_field("start", num.clone()),
        end: b.add_u64_field("end", num),
        heading: b.add_text_field("heading", STORED),
        text: b.add_text_field("text", text_opts),
        ident: b.add_text_field("ident", ident_opts),
    };
    (b.build(), fields)
}

fn text_analyzer() -> TextAnalyzer {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    if let Some(stop) = StopWordFilter::new(Language::English) {
        builder = builder.filter_dynamic(stop);
    }
    builder
        .filter_dynamic(Stemmer::new(Language::English))
        .build()
}

fn ident_analyzer() -> Result<TextAnalyzer> {
    // A word character run that contains an underscore or mixes letters and digits
    // is what people type when they look for code; plain words are covered by `text`.
    let tok =
        RegexTokenizer::new(r"[\p{L}\p{N}_]+").map_err(tantivy_err("building the tokenizer"))?;
    Ok(TextAnalyzer::builder(tok)
        .filter(RemoveLongFilter::limit(80))
        .filter(LowerCaser)
        .build())
}

/// A tantivy index with at most one writer, opened lazily.
pub struct KeywordIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
}

impl KeywordIndex {
    /// Opens the index in `dir`, creating it if needed.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| crate::io_err(dir, e))?;
        let (schema, fields) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| tantivy_err("opening the index folder")(e.into()))?;
        let index =
            Index::open_or_create(mmap, schema).map_err(tantivy_err("opening the index"))?;
        index.tokenizers().register(TEXT_ANALYZER, text_analyzer());
        index
            .tokenizers()
            .register(IDENT_ANALYZER, ident_analyzer()?);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_err("opening a reader"))?;
        Ok(KeywordIndex {
            index,
            reader,
            writer: Mutex::new(None),
            fields,
        })
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut IndexWriter, &Fields) -> Result<T>) -> Result<T> {
        // A panic while a batch was queued leaves at worst uncommitted changes,
        // which the next commit or repair settles.
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let w = self
                .index
                .writer_with_num_threads(1, WRITER_HEAP)
                .map_err(|e| match e {
                    tantivy::TantivyError::LockFailure(..) => StoreError::Busy {
                        holder: "another writer of the keyword index".into(),
                    },
                    other => tantivy_err("starting the writer")(other),
                })?;
            *guard = Some(w);
        }
        let w = guard.as_mut().expect("writer was just created");
        f(w, &self.fields)
    }

    /// Queues deletion of every chunk of the given documents (applied at commit).
    pub fn delete_docs(&self, doc_ids: &[String]) -> Result<()> {
        self.with_writer(|w, f| {
            for id in doc_ids {
                w.delete_term(Term::from_field_text(f.doc_id, id));
            }
            Ok(())
        })
    }

    /// Queues chunks for indexing (applied at commit).
    pub fn add(&self, chunks: &[StoredChunk]) -> Result<()> {
        self.with_writer(|w, f| {
            for c in chunks {
                let mut doc = TantivyDocument::default();
                doc.add_text(f.chunk_id, &c.chunk_id);
                doc.add_text(f.doc_id, &c.doc_id);
                doc.add_text(f.path, &c.path);
                if let Some(p) = c.page {
                    doc.add_u64(f.page, u64::from(p));
                }
                doc.add_u64(f.start, c.start as u64);
                doc.add_u64(f.end, c.end as u64);
                doc.add_text(f.heading, encode_heading(&c.heading_path));
                doc.add_text(f.text, &c.text);
                doc.add_text(f.ident, &c.text);
                w.add_document(doc)
                    .map_err(tantivy_err("adding a document"))?;
            }
            Ok(())
        })
    }

    /// Makes queued changes durable and visible.
    pub fn commit(&self) -> Result<()> {
        self.with_writer(|w, _| {
            w.commit().map_err(tantivy_err("committing"))?;
            Ok(())
        })?;
        self.reload()
    }

    /// Merges away every segment that holds deleted chunks and deletes unused files, so
    /// the stored text of removed documents is gone from disk, not only hidden.
    pub fn purge_deleted(&self) -> Result<()> {
        let with_deletes: Vec<tantivy::index::SegmentId> = self
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .filter(|s| s.num_deleted_docs() > 0)
            .map(|s| s.segment_id())
            .collect();
        self.with_writer(|w, _| {
            if !with_deletes.is_empty() {
                w.merge(&with_deletes)
                    .wait()
                    .map_err(tantivy_err("merging segments"))?;
            }
            w.garbage_collect_files()
                .wait()
                .map_err(tantivy_err("deleting unused files"))?;
            Ok(())
        })?;
        self.reload()
    }

    /// Reads every posting list of the id fields and every stored document, so damaged
    /// segment files are found now rather than during a search (used by repair).
    pub fn check_readable(&self) -> Result<()> {
        self.doc_counts()?;
        self.duplicate_chunk_ids()?;
        let searcher = self.reader.searcher();
        for seg in searcher.segment_readers() {
            let store = seg
                .get_store_reader(1)
                .map_err(|e| tantivy_err("reading stored documents")(e.into()))?;
            for doc in store.iter::<TantivyDocument>(seg.alive_bitset()) {
                doc.map_err(tantivy_err("reading stored documents"))?;
            }
        }
        Ok(())
    }

    /// Picks up commits made by this or another process.
    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(tantivy_err("reloading"))
    }

    /// Number of live chunks.
    pub fn num_chunks(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Every live document id with its chunk count (used by repair).
    pub fn doc_counts(&self) -> Result<std::collections::HashMap<String, usize>> {
        let searcher = self.reader.searcher();
        let mut out = std::collections::HashMap::new();
        for seg in searcher.segment_readers() {
            let inv = seg
                .inverted_index(self.fields.doc_id)
                .map_err(tantivy_err("reading document ids"))?;
            let mut terms = inv
                .terms()
                .stream()
                .map_err(|e| tantivy_err("reading document ids")(e.into()))?;
            while terms.advance() {
                let id = String::from_utf8_lossy(terms.key()).into_owned();
                let n = live_docs(&inv, terms.value(), seg.alive_bitset())?;
                if n > 0 {
                    *out.entry(id).or_insert(0) += n;
                }
            }
        }
        Ok(out)
    }

    /// Chunk ids held by more than one live document (used by verify).
    pub fn duplicate_chunk_ids(&self) -> Result<Vec<String>> {
        let searcher = self.reader.searcher();
        // A chunk id may be live in several segments, so counts are summed across them.
        let mut counts: std::collections::HashMap<Vec<u8>, usize> =
            std::collections::HashMap::new();
        for seg in searcher.segment_readers() {
            let inv = seg
                .inverted_index(self.fields.chunk_id)
                .map_err(tantivy_err("reading chunk ids"))?;
            let alive = seg.alive_bitset();
            let mut terms = inv
                .terms()
                .stream()
                .map_err(|e| tantivy_err("reading chunk ids")(e.into()))?;
            while terms.advance() {
                let n = live_docs(&inv, terms.value(), alive)?;
                if n > 0 {
                    *counts.entry(terms.key().to_vec()).or_insert(0) += n;
                }
            }
        }
        let mut out: Vec<String> = counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| String::from_utf8_lossy(&id).into_owned())
            .collect();
        out.sort();
        Ok(out)
    }

    fn query_for(&self, text: &str) -> Option<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (field, name, boost) in [
            (self.fields.text, TEXT_ANALYZER, 1.0f32),
            (self.fields.ident, IDENT_ANALYZER, IDENT_BOOST),
        ] {
            let Some(mut analyzer) = self.index.tokenizers().get(name) else {
                continue;
            };
            let mut stream = analyzer.token_stream(text);
            while let Some(tok) = stream.next() {
                let term = Term::from_field_text(field, &tok.text);
                if !seen.insert(term.clone()) {
                    continue;
                }
                let tq: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                let q: Box<dyn Query> = if (boost - 1.0).abs() > f32::EPSILON {
                    Box::new(BoostQuery::new(tq, boost))
                } else {
                    tq
                };
                clauses.push((Occur::Should, q));
            }
        }
        if clauses.is_empty() {
            None
        } else {
            Some(Box::new(BooleanQuery::new(clauses)))
        }
    }

    /// BM25 search; returns up to `limit` chunks, best first, with their scores.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<(StoredChunk, f32)>> {
        let Some(query) = self.query_for(text) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(tantivy_err("searching"))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher
                .doc(addr)
                .map_err(tantivy_err("reading a stored document"))?;
            out.push((self.to_chunk(&doc), score));
        }
        Ok(out)
    }

    fn to_chunk(&self, doc: &TantivyDocument) -> StoredChunk {
        let f = &self.fields;
        let text_of = |field: Field| -> String {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let num_of =
            |field: Field| -> Option<u64> { doc.get_first(field).and_then(|v| v.as_u64()) };
        let chunk_id = text_of(f.chunk_id);
        let (doc_id, ordinal) = split_chunk_id(&chunk_id);
        StoredChunk {
            doc_id,
            ordinal,
            chunk_id,
            path: text_of(f.path),
            page: num_of(f.page).map(|p| p as u32),
            start: num_of(f.start).unwrap_or(0) as usize,
            end: num_of(f.end).unwrap_or(0) as usize,
            heading_path: decode_heading(&text_of(f.heading)),
            text: text_of(f.text),
        }
    }
}

/// How many documents not deleted in their segment carry the term at `info`.
fn live_docs(
    inv: &tantivy::InvertedIndexReader,
    info: &tantivy::postings::TermInfo,
    alive: Option<&tantivy::fastfield::AliveBitSet>,
) -> Result<usize> {
    let mut postings = inv
        .read_postings_from_terminfo(info, IndexRecordOption::Basic)
        .map_err(|e| tantivy_err("reading postings")(e.into()))?;
    let mut n = 0usize;
    let mut doc = tantivy::DocSet::doc(&postings);
    while doc != tantivy::TERMINATED {
        if alive.is_none_or(|a| a.is_alive(doc)) {
            n += 1;
        }
        doc = tantivy::DocSet::advance(&mut postings);
    }
    Ok(n)
}
