//! Hybrid retrieval: BM25 and vector search run in parallel and are fused.

use crate::{Engine, Result};
use cairn_core::fusion::{fuse, FusionConfig};
use cairn_core::SearchHit;
use cairn_store::StoredChunk;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which retrievers contribute to a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    Hybrid,
    Bm25,
    Vector,
}

impl Engine {
    /// The `k` best passages for `query`, fused from both retrievers.
    pub async fn search(&self, query: &str, k: usize) -> Result<Vec<SearchHit>> {
        self.search_with(query, k, SearchMode::Hybrid, &self.cfg.fusion)
            .await
    }

    /// Search with an explicit mode and fusion configuration (used by evaluation).
    pub async fn search_with(
        &self,
        query: &str,
        k: usize,
        mode: SearchMode,
        fusion: &FusionConfig,
    ) -> Result<Vec<SearchHit>> {
        let query = query.trim();
        if query.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let depth = self.cfg.candidates.max(k);
        let (bm25, vector) = match mode {
            SearchMode::Bm25 => (self.store.search_keyword(query, depth).await?, Vec::new()),
            SearchMode::Vector => {
                let v = self.spawn_query_embedding(query).await?;
                (Vec::new(), self.store.search_vector(&v, depth).await?)
            }
            SearchMode::Hybrid => {
                // The query embedding (the slow part) and BM25 run on blocking
                // threads at the same time; both are then combined.
                let embedding = self.spawn_query_embedding(query);
                let bm25 = self.store.search_keyword(query, depth).await?;
                let v = embedding.await?;
                let vector = self.store.search_vector(&v, depth).await?;
                (bm25, vector)
            }
        };
        Ok(fuse_hits(bm25, vector, k, fusion))
    }

    /// Starts embedding `query` on a blocking thread; awaiting the result yields the vector.
    fn spawn_query_embedding(
        &self,
        query: &str,
    ) -> impl std::future::Future<Output = Result<Vec<f32>>> + use<> {
        let embedder = self.embedder.clone();
        let q = query.to_string();
        let task = tokio::task::spawn_blocking(move || embedder.embed_query(&q));
        async move { Ok(task.await??) }
    }
}

/// Fuses the two candidate lists and keeps the best `k`, reporting both component
/// ranks and scores on each hit.
pub fn fuse_hits(
    bm25: Vec<(StoredChunk, f32)>,
    vector: Vec<(StoredChunk, f32)>,
    k: usize,
    fusion: &FusionConfig,
) -> Vec<SearchHit> {
    let b: Vec<(String, f32)> = bm25.iter().map(|(c, s)| (c.chunk_id.clone(), *s)).collect();
    let v: Vec<(String, f32)> = vector
        .iter()
        .map(|(c, s)| (c.chunk_id.clone(), *s))
        .collect();
    let mut payload: HashMap<String, StoredChunk> = HashMap::new();
    for (c, _) in bm25.into_iter().chain(vector) {
        payload.entry(c.chunk_id.clone()).or_insert(c);
    }
    fuse(&b, &v, fusion)
        .into_iter()
        .take(k)
        .filter_map(|f| {
            let c = payload.remove(&f.key)?;
            Some(SearchHit {
                path: c.path,
                page: c.page,
                start: c.start,
                end: c.end,
                score: f.score,
                bm25_rank: f.bm25.map(|x| x.0),
                vector_rank: f.vector.map(|x| x.0),
                bm25_score: f.bm25.map(|x| x.1),
                vector_score: f.vector.map(|x| x.1),
                heading_path: c.heading_path,
                text: c.text,
                chunk_id: c.chunk_id,
            })
        })
        .collect()
}
