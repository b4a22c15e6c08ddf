//! Evidence: the sentences of the retrieved passages that bear on the question.
//!
//! A small model answers better from a few relevant sentences than from pages
//! of text, and a shorter prompt is read sooner. [`select`] scores every
//! sentence of the retrieved passages against the question, keeps the best ones
//! with a neighbour on each side (a sentence often needs the one before it to
//! make sense), and merges what is adjacent into spans. Each span keeps its
//! exact place in its page (character offsets), so a citation of it points at
//! those sentences, not at the whole passage.
//!
//! Scores combine three measured signals (weights in [`EvidenceOptions`],
//! chosen on the public evaluation set, docs/BENCHMARKS.md):
//! - how much of the question's wording the sentence holds, rare words
//!   counting more (idf over the candidate sentences);
//! - the cosine between the sentence's and the question's embeddings;
//! - the rank of the passage it comes from.

pub(crate) use cairn_core::text::terms;
use cairn_core::SearchHit;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// One span of evidence: consecutive sentences of one retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// 1-based number the answer cites as `[n]`.
    pub n: usize,
    pub path: String,
    /// 1-based page for paged formats.
    pub page: Option<u32>,
    /// Character offsets of `text` within its page, end exclusive.
    pub start: usize,
    pub end: usize,
    pub heading_path: Vec<String>,
    pub text: String,
    /// The best sentence score in the span.
    pub score: f32,
    /// Rank (from 1) of the retrieved passage it was cut from.
    pub passage_rank: usize,
}

/// How evidence is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceOptions {
    /// Upper bound on the evidence's size, in words (about 1.3 tokens each).
    pub max_words: usize,
    /// Sentences kept on each side of a chosen one.
    pub neighbours: usize,
    /// Weight of the question-wording overlap.
    pub lexical_weight: f32,
    /// Weight of the embedding cosine.
    pub semantic_weight: f32,
    /// Weight of the passage's retrieval rank (1 / rank).
    pub rank_weight: f32,
    /// Longest sentence, in characters; longer runs (tables, lists without
    /// full stops) are cut at line breaks.
    pub max_sentence_chars: usize,
    /// A sentence scoring below this share of the best one is only taken as a
    /// neighbour of a chosen sentence, never for itself.
    pub min_relative_score: f32,
}

impl Default for EvidenceOptions {
    fn default() -> Self {
        EvidenceOptions {
            max_words: 220,
            neighbours: 1,
            lexical_weight: 0.5,
            semantic_weight: 0.35,
            rank_weight: 0.15,
            max_sentence_chars: 400,
            min_relative_score: 0.4,
        }
    }
}

/// A sentence of a retrieved passage, before selection.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index of its passage in the hits.
    pub hit: usize,
    /// Byte range in the passage's text.
    pub range: Range<usize>,
    pub text: String,
    pub score: f32,
}

/// Sentences of a passage as byte ranges, long runs cut at line breaks.
fn passage_sentences(text: &str, max_chars: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for r in cairn_core::text::sentences(text, 0..text.len()) {
        if text[r.clone()].chars().count() <= max_chars {
            out.push(r);
            continue;
        }
        let mut pos = r.start;
        for line in text[r.clone()].split_inclusive('\n') {
            let end = pos + line.len();
            let trimmed = text[pos..end].trim();
            if !trimmed.is_empty() {
                let s = pos + (text[pos..end].len() - text[pos..end].trim_start().len());
                out.push(s..s + trimmed.len());
            }
            pos = end;
        }
    }
    out
}

/// Splits the hits into candidate sentences, scored lexically and by rank;
/// [`add_semantic`] adds the embedding part when sentence vectors exist.
pub fn candidates(question: &str, hits: &[SearchHit], opts: &EvidenceOptions) -> Vec<Candidate> {
    let q_terms = terms(question);
    let mut cands = Vec::new();
    for (h, hit) in hits.iter().enumerate() {
        for r in passage_sentences(&hit.text, opts.max_sentence_chars) {
            cands.push(Candidate {
                hit: h,
                text: hit.text[r.clone()].to_string(),
                range: r,
                score: 0.0,
            });
        }
    }
    // idf over the candidate sentences: a word in every sentence tells nothing.
    let sentence_terms: Vec<HashSet<String>> = cands
        .iter()
        .map(|c| terms(&c.text).into_iter().collect())
        .collect();
    let n = cands.len().max(1) as f32;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for t in &q_terms {
        df.insert(t, sentence_terms.iter().filter(|s| s.contains(t)).count());
    }
    let idf = |t: &str| ((n + 1.0) / (df.get(t).copied().unwrap_or(0) as f32 + 0.5)).ln();
    let total: f32 = q_terms.iter().map(|t| idf(t)).sum::<f32>().max(1e-6);
    for (c, st) in cands.iter_mut().zip(&sentence_terms) {
        let matched: f32 = q_terms
            .iter()
            .filter(|t| st.contains(*t))
            .map(|t| idf(t))
            .sum();
        c.score = opts.lexical_weight * (matched / total) + opts.rank_weight / (c.hit as f32 + 1.0);
    }
    cands
}

/// Adds the embedding cosine of each candidate (vectors in candidate order).
pub fn add_semantic(
    cands: &mut [Candidate],
    question_vec: &[f32],
    vectors: &[Vec<f32>],
    opts: &EvidenceOptions,
) {
    for (c, v) in cands.iter_mut().zip(vectors) {
        let cos: f32 = v.iter().zip(question_vec).map(|(a, b)| a * b).sum();
        c.score += opts.semantic_weight * cos.max(0.0);
    }
}

/// Chooses the best candidates within the word budget, with their neighbours,
/// and merges adjacent sentences of one passage into numbered spans, in the
/// order of their passages' ranks and then of their place in the passage.
pub fn select(hits: &[SearchHit], cands: &[Candidate], opts: &EvidenceOptions) -> Vec<Evidence> {
    let words = |c: &Candidate| c.text.split_whitespace().count().max(1);
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| cands[b].score.total_cmp(&cands[a].score));
    let mut chosen: HashSet<usize> = HashSet::new();
    let mut used = 0usize;
    let floor = order
        .first()
        .map_or(0.0, |&i| cands[i].score * opts.min_relative_score);
    for &i in &order {
        if cands[i].score < floor {
            break;
        }
        if chosen.contains(&i) {
            continue;
        }
        // The sentence and its neighbours within the same passage.
        let group: Vec<usize> = (i.saturating_sub(opts.neighbours)..=i + opts.neighbours)
            .filter(|&j| j < cands.len() && cands[j].hit == cands[i].hit)
            .filter(|j| !chosen.contains(j))
            .collect();
        let cost: usize = group.iter().map(|&j| words(&cands[j])).sum();
        if used + cost > opts.max_words {
            // The sentence alone may still fit.
            let alone = words(&cands[i]);
            if used + alone <= opts.max_words {
                chosen.insert(i);
                used += alone;
            }
            continue;
        }
        used += cost;
        chosen.extend(group);
    }
    let mut picked: Vec<usize> = chosen.into_iter().collect();
    picked.sort_by_key(|&i| (cands[i].hit, cands[i].range.start));
    let mut spans: Vec<Evidence> = Vec::new();
    // Byte offset in its passage where the current span starts.
    let mut span_byte = 0usize;
    let mut last: Option<usize> = None;
    for i in picked {
        let c = &cands[i];
        let hit = &hits[c.hit];
        let chars_to = |byte: usize| hit.start + hit.text[..byte].chars().count();
        let adjacent = last.is_some_and(|l| l + 1 == i && cands[l].hit == c.hit);
        match spans.last_mut() {
            Some(span) if adjacent => {
                span.text = hit.text[span_byte..c.range.end].to_string();
                span.end = chars_to(c.range.end);
                span.score = span.score.max(c.score);
            }
            _ => {
                span_byte = c.range.start;
                spans.push(Evidence {
                    n: 0,
                    path: hit.path.clone(),
                    page: hit.page,
                    start: chars_to(c.range.start),
                    end: chars_to(c.range.end),
                    heading_path: hit.heading_path.clone(),
                    text: c.text.clone(),
                    score: c.score,
                    passage_rank: c.hit + 1,
                });
            }
        }
        last = Some(i);
    }
    for (k, s) in spans.iter_mut().enumerate() {
        s.n = k + 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rank: usize, text: &str) -> SearchHit {
        SearchHit {
            path: format!("/docs/d{rank}.txt"),
            page: Some(3),
            start: 100,
            end: 100 + text.chars().count(),
            score: 1.0 / rank as f32,
            bm25_rank: Some(rank as u32),
            vector_rank: Some(rank as u32),
            bm25_score: None,
            vector_score: Some(0.5),
            heading_path: vec!["Intro".into()],
            text: text.to_string(),
            chunk_id: format!("d:{rank}"),
        }
    }

    #[test]
    fn the_answering_sentence_is_chosen_with_its_neighbours_and_exact_offsets() {
        let text = "Bzip2 is a compressor. It uses blocks. The block size is 900k by default. \
                    Smaller blocks use less memory. Unrelated trivia follows here. More trivia.";
        let hits = vec![
            hit(1, text),
            hit(2, "Nothing about it at all. Really nothing."),
        ];
        let opts = EvidenceOptions {
            max_words: 20,
            ..Default::default()
        };
        let cands = candidates("What is the default block size?", &hits, &opts);
        let ev = select(&hits, &cands, &opts);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        let e = &ev[0];
        assert_eq!(e.n, 1);
        assert_eq!(
            e.text,
            "It uses blocks. The block size is 900k by default. Smaller blocks use less memory."
        );
        // Offsets point at exactly that text inside the page.
        let in_passage: String = text
            .chars()
            .skip(e.start - 100)
            .take(e.end - e.start)
            .collect();
        assert_eq!(in_passage, e.text);
        assert_eq!(e.passage_rank, 1);
    }

    #[test]
    fn the_budget_bounds_the_evidence() {
        let long: String = (0..50)
            .map(|i| format!("Sentence {i} mentions compression levels. "))
            .collect();
        let hits = vec![hit(1, &long)];
        let opts = EvidenceOptions {
            max_words: 30,
            ..Default::default()
        };
        let ev = select(
            &hits,
            &candidates("compression levels", &hits, &opts),
            &opts,
        );
        let words: usize = ev.iter().map(|e| e.text.split_whitespace().count()).sum();
        assert!(words <= 30 && words > 0, "{words}: {ev:#?}");
    }
}
