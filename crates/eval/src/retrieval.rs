//! Retrieval quality: nDCG@10, recall@5/10 and MRR@10 of the engine's rankings
//! against graded judgements. Retrieved chunks are mapped to corpus ids and
//! de-duplicated (first occurrence wins) before the metrics are computed.

use crate::set::EvalSet;
use crate::Result;
use cairn_engine::{Engine, FusionConfig, SearchMode};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Retrieval quality of one ranking or the mean over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub ndcg_at_10: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
}

impl Metrics {
    fn add(&mut self, o: &Metrics) {
        self.ndcg_at_10 += o.ndcg_at_10;
        self.recall_at_5 += o.recall_at_5;
        self.recall_at_10 += o.recall_at_10;
        self.mrr_at_10 += o.mrr_at_10;
    }

    fn scale(&mut self, by: f64) {
        self.ndcg_at_10 *= by;
        self.recall_at_5 *= by;
        self.recall_at_10 *= by;
        self.mrr_at_10 *= by;
    }
}

/// Scores a ranked list of corpus ids (already de-duplicated) against judgements.
pub fn score_ranking(ranked: &[String], relevant: &HashMap<String, u32>) -> Metrics {
    let gain = |g: u32| (2f64.powi(g as i32)) - 1.0;
    let discount = |i: usize| 1.0 / ((i as f64) + 2.0).log2();
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, u)| relevant.get(u).map_or(0.0, |g| gain(*g) * discount(i)))
        .sum();
    let mut grades: Vec<u32> = relevant.values().copied().collect();
    grades.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = grades
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| gain(*g) * discount(i))
        .sum();
    let total = relevant.len().max(1) as f64;
    let found = |n: usize| {
        ranked
            .iter()
            .take(n)
            .filter(|u| relevant.contains_key(*u))
            .count() as f64
    };
    let mrr = ranked
        .iter()
        .take(10)
        .position(|u| relevant.contains_key(u))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    Metrics {
        ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        recall_at_5: found(5) / total,
        recall_at_10: found(10) / total,
        mrr_at_10: mrr,
    }
}

/// Mean metrics over all queries, overall and per query kind.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub mode: SearchMode,
    pub queries: usize,
    pub overall: Metrics,
    pub by_kind: BTreeMap<String, Metrics>,
}

/// Runs every query of `set` in `mode` and averages the metrics.
pub async fn evaluate(
    engine: &Engine,
    set: &EvalSet,
    mode: SearchMode,
    fusion: &FusionConfig,
) -> Result<EvalReport> {
    let mut overall = Metrics::default();
    let mut by_kind: BTreeMap<String, (Metrics, usize)> = BTreeMap::new();
    for q in &set.queries {
        // Fetch deeper than 10 so that ten distinct units remain after merging
        // chunks of the same page.
        let hits = engine.search_with(&q.text, 40, mode, fusion).await?;
        let mut seen = HashSet::new();
        let ranked: Vec<String> = hits
            .iter()
            .map(|h| set.unit_of(&h.path, h.page))
            .filter(|u| seen.insert(u.clone()))
            .take(10)
            .collect();
        let relevant = set.qrels.get(&q.id).cloned().unwrap_or_default();
        let m = score_ranking(&ranked, &relevant);
        overall.add(&m);
        let kind = q.kind.clone().unwrap_or_else(|| "all".into());
        let slot = by_kind.entry(kind).or_default();
        slot.0.add(&m);
        slot.1 += 1;
    }
    overall.scale(1.0 / set.queries.len() as f64);
    Ok(EvalReport {
        mode,
        queries: set.queries.len(),
        overall,
        by_kind: by_kind
            .into_iter()
            .map(|(k, (mut m, n))| {
                m.scale(1.0 / n as f64);
                (k, m)
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(k, g)| (k.to_string(), *g)).collect()
    }

    fn ranked(units: &[&str]) -> Vec<String> {
        units.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let m = score_ranking(&ranked(&["a", "b"]), &rel(&[("a", 2), ("b", 1)]));
        assert!((m.ndcg_at_10 - 1.0).abs() < 1e-9);
        assert_eq!(m.recall_at_5, 1.0);
        assert_eq!(m.mrr_at_10, 1.0);
    }

    #[test]
    fn late_hit_is_discounted() {
        let m = score_ranking(&ranked(&["x", "y", "a"]), &rel(&[("a", 1)]));
        assert!((m.ndcg_at_10 - 0.5).abs() < 1e-9, "{m:?}");
        assert!((m.mrr_at_10 - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.recall_at_10, 1.0);
    }

    #[test]
    fn miss_scores_zero_and_recall_counts_fractions() {
        let m = score_ranking(&ranked(&["x"]), &rel(&[("a", 1)]));
        assert_eq!(m, Metrics::default());
        let r: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
        let m = score_ranking(&r, &rel(&[("u0", 1), ("u5", 1)]));
        assert_eq!(m.recall_at_5, 0.5);
        assert_eq!(m.recall_at_10, 1.0);
    }
}
