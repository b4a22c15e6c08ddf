//! Chunk rows with their embeddings in a LanceDB table.
//!
//! The table holds everything needed to render a hit (path, page, span, heading,
//! text) next to the vector, so a vector search is one query. Rows are keyed by
//! `chunk_id` and deleted per document through `doc_id`, a hex string that needs no
//! quoting inside SQL predicates.

use crate::chunk::{decode_heading, encode_heading};
use crate::error::{arrow_err, lance_err};
use crate::{ErrorKind, Result, StoreError, StoredChunk};
use arrow_array::types::Float32Type;
use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use lancedb::index::vector::IvfHnswSqIndexBuilder;
use lancedb::index::Index;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::OptimizeAction;
use lancedb::DistanceType;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

const TABLE: &str = "chunks";
/// Below this many rows an exhaustive scan is already fast (about 10 ms), and an
/// approximate index would only lose recall.
pub const INDEX_THRESHOLD: usize = 20_000;

/// What [`VectorTable::scan_ids`] found.
#[derive(Debug, Clone, Default)]
pub struct IdScan {
    /// Rows per document id.
    pub per_doc: HashMap<String, usize>,
    /// Chunk ids that occur in more than one row.
    pub duplicates: Vec<String>,
}

/// Rows of a [`VectorTable`] read a batch at a time ([`VectorTable::chunk_stream`]).
pub struct ChunkStream {
    stream: lancedb::arrow::SendableRecordBatchStream,
}

impl ChunkStream {
    /// The next batch of rows, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<StoredChunk>>> {
        match self
            .stream
            .try_next()
            .await
            .map_err(lance_err("reading rows"))?
        {
            Some(batch) => Ok(Some(chunks_of(&batch)?)),
            None => Ok(None),
        }
    }
}

pub struct VectorTable {
    table: lancedb::Table,
    schema: SchemaRef,
    dim: usize,
}

fn schema(dim: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("chunk_id", DataType::Utf8, false),
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("ordinal", DataType::UInt32, false),
        Field::new("page", DataType::UInt32, true),
        Field::new("start", DataType::UInt32, false),
        Field::new("end", DataType::UInt32, false),
        Field::new("heading", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                dim as i32,
            ),
            false,
        ),
    ]))
}

impl VectorTable {
    /// Opens (or creates) the chunk table in the LanceDB directory `dir`.
    pub async fn open(dir: &Path, dim: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| crate::io_err(dir, e))?;
        let uri = dir.to_string_lossy().into_owned();
        let conn = lancedb::connect(&uri)
            .execute()
            .await
            .map_err(lance_err("opening the database"))?;
        let names = conn
            .table_names()
            .execute()
            .await
            .map_err(lance_err("listing tables"))?;
        let schema = schema(dim);
        let table = if names.iter().any(|n| n == TABLE) {
            let t = conn
                .open_table(TABLE)
                .execute()
                .await
                .map_err(lance_err("opening the chunk table"))?;
            let existing = t
                .schema()
                .await
                .map_err(lance_err("reading the table schema"))?;
            let found = existing
                .field_with_name("vector")
                .ok()
                .and_then(|f| match f.data_type() {
                    DataType::FixedSizeList(_, n) => Some(*n as usize),
                    _ => None,
                });
            if found != Some(dim) {
                return Err(StoreError::DimensionMismatch {
                    expected: dim,
                    found: found.unwrap_or(0),
                });
            }
            t
        } else {
            conn.create_empty_table(TABLE, schema.clone())
                .execute()
                .await
                .map_err(lance_err("creating the chunk table"))?
        };
        Ok(VectorTable { table, schema, dim })
    }

    /// Appends chunks with their vectors in one commit.
    pub async fn add(&self, chunks: &[StoredChunk], vectors: &[Vec<f32>]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        assert_eq!(
            chunks.len(),
            vectors.len(),
            "every chunk is written with its vector"
        );
        if let Some(v) = vectors.iter().find(|v| v.len() != self.dim) {
            return Err(StoreError::DimensionMismatch {
                expected: self.dim,
                found: v.len(),
            });
        }
        let str_col =
            |f: &dyn Fn(&StoredChunk) -> &str| StringArray::from_iter_values(chunks.iter().map(f));
        let u32_col =
            |f: &dyn Fn(&StoredChunk) -> u32| UInt32Array::from_iter_values(chunks.iter().map(f));
        let vector = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            vectors
                .iter()
                .map(|v| Some(v.iter().copied().map(Some).collect::<Vec<_>>())),
            self.dim as i32,
        );
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(str_col(&|c| &c.chunk_id)),
                Arc::new(str_col(&|c| &c.doc_id)),
                Arc::new(str_col(&|c| &c.path)),
                Arc::new(u32_col(&|c| c.ordinal)),
                Arc::new(UInt32Array::from_iter(chunks.iter().map(|c| c.page))),
                Arc::new(u32_col(&|c| c.start as u32)),
                Arc::new(u32_col(&|c| c.end as u32)),
                Arc::new(StringArray::from_iter_values(
                    chunks.iter().map(|c| encode_heading(&c.heading_path)),
                )),
                Arc::new(str_col(&|c| &c.text)),
                Arc::new(vector),
            ],
        )
        .map_err(arrow_err("building a batch of rows"))?;
        self.table
            .add(batch)
            .execute()
            .await
            .map_err(lance_err("adding rows"))?;
        Ok(())
    }

    /// Deletes every chunk of the given documents.
    pub async fn delete_docs(&self, doc_ids: &[String]) -> Result<()> {
        for group in doc_ids.chunks(500) {
            if group.is_empty() {
                continue;
            }
            // Document ids are lowercase hex, so they are safe inside the literal.
            let list = group
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(",");
            self.table
                .delete(format!("doc_id IN ({list})").as_str())
                .await
                .map_err(lance_err("deleting rows"))?;
        }
        Ok(())
    }

    pub async fn count(&self) -> Result<usize> {
        self.read(|| async {
            self.table
                .count_rows(None)
                .await
                .map_err(lance_err("counting rows"))
        })
        .await
    }

    /// Runs a read of the table. A reader in another process than the writer can
    /// lose the files of the version it holds: after an ingest or a removal the
    /// writer compacts the table and prunes old versions at once (so replaced and
    /// removed text leaves the disk). The read then fails with "Not found"; the
    /// reader moves to the latest version and runs it once more.
    async fn read<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match op().await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::debug!(error = %e, "the version this reader held was pruned; refreshing");
                self.refresh().await?;
                op().await
            }
            other => other,
        }
    }

    /// Picks up commits made through another handle or process.
    pub async fn refresh(&self) -> Result<()> {
        self.table
            .checkout_latest()
            .await
            .map_err(lance_err("moving to the latest version"))
    }

    /// Chunk counts per document id (a scan of one column, used by repair).
    pub async fn doc_counts(&self) -> Result<HashMap<String, usize>> {
        let mut stream = self
            .table
            .query()
            .select(Select::columns(&["doc_id"]))
            .execute()
            .await
            .map_err(lance_err("reading rows"))?;
        let mut out = HashMap::new();
        while let Some(batch) = stream.try_next().await.map_err(lance_err("reading rows"))? {
            let ids = string_col(&batch, "doc_id")?;
            for i in 0..ids.len() {
                *out.entry(ids.value(i).to_string()).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    /// Chunk counts per document and chunk ids stored more than once (used by verify).
    pub async fn scan_ids(&self) -> Result<IdScan> {
        self.read(|| self.scan_ids_once()).await
    }

    async fn scan_ids_once(&self) -> Result<IdScan> {
        let mut stream = self
            .table
            .query()
            .select(Select::columns(&["doc_id", "chunk_id"]))
            .execute()
            .await
            .map_err(lance_err("reading rows"))?;
        let mut per_doc: HashMap<String, usize> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut duplicates: Vec<String> = Vec::new();
        while let Some(batch) = stream.try_next().await.map_err(lance_err("reading rows"))? {
            let docs = string_col(&batch, "doc_id")?;
            let chunks = string_col(&batch, "chunk_id")?;
            for i in 0..batch.num_rows() {
                *per_doc.entry(docs.value(i).to_string()).or_insert(0) += 1;
                if !seen.insert(chunks.value(i).to_string()) {
                    duplicates.push(chunks.value(i).to_string());
                }
            }
        }
        Ok(IdScan {
            per_doc,
            duplicates,
        })
    }

    /// Reads every column of every row, vectors included, so a damaged data file is
    /// found now rather than in the middle of a search (used by repair).
    pub async fn check_readable(&self) -> Result<()> {
        let mut stream = self
            .table
            .query()
            .execute()
            .await
            .map_err(lance_err("reading rows"))?;
        while let Some(batch) = stream.try_next().await.map_err(lance_err("reading rows"))? {
            std::hint::black_box(batch.num_rows());
        }
        Ok(())
    }

    /// Catalogue entries reconstructed from the rows, for a catalogue that was lost:
    /// path, id, chunk count and page count are known; hash, size and mtime are not, so
    /// they are left empty and the next ingest re-reads and refreshes those files.
    pub async fn catalogue_entries(&self, now_ms: i64) -> Result<Vec<crate::DocEntry>> {
        let mut stream = self
            .table
            .query()
            .select(Select::columns(&["doc_id", "path", "page"]))
            .execute()
            .await
            .map_err(lance_err("reading rows"))?;
        let mut docs: HashMap<String, crate::DocEntry> = HashMap::new();
        while let Some(batch) = stream.try_next().await.map_err(lance_err("reading rows"))? {
            let ids = string_col(&batch, "doc_id")?;
            let paths = string_col(&batch, "path")?;
            let pages = u32_col(&batch, "page")?;
            for i in 0..batch.num_rows() {
                let e = docs
                    .entry(ids.value(i).to_string())
                    .or_insert_with(|| crate::DocEntry {
                        path: paths.value(i).to_string(),
                        doc_id: ids.value(i).to_string(),
                        content_hash: String::new(),
                        size: 0,
                        mtime_ms: 0,
                        format: "unknown".into(),
                        pages: 1,
                        chunks: 0,
                        status: crate::DocStatus::Indexed,
                        indexed_at_ms: now_ms,
                    });
                e.chunks += 1;
                if !pages.is_null(i) {
                    e.pages = e.pages.max(pages.value(i));
                }
            }
        }
        Ok(docs.into_values().collect())
    }

    /// Every chunk's payload without its vector, to rebuild the keyword index.
    pub async fn all_chunks(&self) -> Result<Vec<StoredChunk>> {
        let mut rows = self.chunk_stream().await?;
        let mut out = Vec::new();
        while let Some(chunks) = rows.next().await? {
            out.extend(chunks);
        }
        Ok(out)
    }

    /// Every row without its vector, as a stream of chunk batches in table order (to
    /// re-embed an index without holding all of it in memory).
    pub async fn chunk_stream(&self) -> Result<ChunkStream> {
        let stream = self
            .table
            .query()
            .select(Select::columns(&[
                "chunk_id", "doc_id", "path", "ordinal", "page", "start", "end", "heading", "text",
            ]))
            .execute()
            .await
            .map_err(lance_err("reading rows"))?;
        Ok(ChunkStream { stream })
    }

    /// Nearest chunks to `query` by cosine similarity, best first.
    pub async fn search(&self, query: &[f32], limit: usize) -> Result<Vec<(StoredChunk, f32)>> {
        self.read(|| self.search_once(query, limit)).await
    }

    async fn search_once(&self, query: &[f32], limit: usize) -> Result<Vec<(StoredChunk, f32)>> {
        if query.len() != self.dim {
            return Err(StoreError::DimensionMismatch {
                expected: self.dim,
                found: query.len(),
            });
        }
        let mut stream = self
            .table
            .query()
            .nearest_to(query)
            .map_err(lance_err("reading rows"))?
            .distance_type(DistanceType::Cosine)
            .select(Select::columns(&[
                "chunk_id", "doc_id", "path", "ordinal", "page", "start", "end", "heading", "text",
            ]))
            .limit(limit.max(1))
            .execute()
            .await
            .map_err(lance_err("reading rows"))?;
        let mut out = Vec::with_capacity(limit);
        while let Some(batch) = stream.try_next().await.map_err(lance_err("reading rows"))? {
            let dist = batch
                .column_by_name("_distance")
                .and_then(|c| c.as_any().downcast_ref::<Float32Array>())
                .ok_or(StoreError::MissingColumn {
                    column: "_distance",
                })?;
            for (i, chunk) in chunks_of(&batch)?.into_iter().enumerate() {
                out.push((chunk, 1.0 - dist.value(i)));
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(out)
    }

    /// Builds the approximate vector index once the table is large enough, or folds
    /// new rows into an existing one. Returns true when an index was built or updated.
    pub async fn maintain_index(&self) -> Result<bool> {
        let rows = self.count().await?;
        let indices = self
            .table
            .list_indices()
            .await
            .map_err(lance_err("listing indices"))?;
        let has_vector_index = indices
            .iter()
            .any(|i| i.columns.iter().any(|c| c == "vector"));
        if !has_vector_index {
            if rows < INDEX_THRESHOLD {
                return Ok(false);
            }
            self.table
                .create_index(
                    &["vector"],
                    Index::IvfHnswSq(
                        IvfHnswSqIndexBuilder::default().distance_type(DistanceType::Cosine),
                    ),
                )
                .execute()
                .await
                .map_err(lance_err("building the vector index"))?;
            return Ok(true);
        }
        self.table
            .optimize(OptimizeAction::Index(Default::default()))
            .await
            .map_err(lance_err("updating the vector index"))?;
        Ok(true)
    }

    /// Compacts small files and deletes old table versions so disk use does not grow
    /// with every ingest. Only call this while holding the data directory's write lock.
    pub async fn compact(&self) -> Result<()> {
        self.table
            .optimize(OptimizeAction::Compact {
                options: Default::default(),
                remap_options: None,
            })
            .await
            .map_err(lance_err("compacting"))?;
        self.prune().await
    }
}

impl VectorTable {
    /// Rewrites every fragment that holds deleted rows and drops old versions, so the
    /// text and vectors of removed documents are gone from disk, not only hidden.
    /// Costs a rewrite of the affected fragments; used when a user removes documents.
    pub async fn purge_deleted(&self) -> Result<()> {
        self.table
            .optimize(OptimizeAction::Compact {
                options: lancedb::table::CompactionOptions {
                    // Zero: materialize deletions in every fragment that has any.
                    materialize_deletions_threshold: 0.0,
                    ..Default::default()
                },
                remap_options: None,
            })
            .await
            .map_err(lance_err("compacting"))?;
        self.prune().await
    }

    async fn prune(&self) -> Result<()> {
        self.table
            .optimize(OptimizeAction::Prune {
                older_than: Some(lancedb::table::Duration::zero()),
                delete_unverified: Some(true),
                error_if_tagged_old_versions: None,
            })
            .await
            .map_err(lance_err("pruning old versions"))?;
        Ok(())
    }
}

/// The chunk payload of every row of a batch that selected all payload columns.
fn chunks_of(batch: &RecordBatch) -> Result<Vec<StoredChunk>> {
    let chunk_id = string_col(batch, "chunk_id")?;
    let doc_id = string_col(batch, "doc_id")?;
    let path = string_col(batch, "path")?;
    let heading = string_col(batch, "heading")?;
    let text = string_col(batch, "text")?;
    let ordinal = u32_col(batch, "ordinal")?;
    let page = u32_col(batch, "page")?;
    let start = u32_col(batch, "start")?;
    let end = u32_col(batch, "end")?;
    Ok((0..batch.num_rows())
        .map(|i| StoredChunk {
            chunk_id: chunk_id.value(i).to_string(),
            doc_id: doc_id.value(i).to_string(),
            path: path.value(i).to_string(),
            ordinal: ordinal.value(i),
            page: (!page.is_null(i)).then(|| page.value(i)),
            start: start.value(i) as usize,
            end: end.value(i) as usize,
            heading_path: decode_heading(heading.value(i)),
            text: text.value(i).to_string(),
        })
        .collect())
}

fn string_col<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or(StoreError::MissingColumn { column: name })
}

fn u32_col<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a UInt32Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
        .ok_or(StoreError::MissingColumn { column: name })
}
