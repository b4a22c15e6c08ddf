//! BEIR-style retrieval evaluation.
//!
//! An evaluation set is a folder holding `corpus/` (the documents), `queries.jsonl`
//! (`{"_id", "text", "kind"?, "answer"?}` per line) and `qrels.tsv`
//! (`query-id \t corpus-id \t score`, with a header line). A corpus id is a path
//! relative to `corpus/`, followed by `#p<N>` for page N of a paged document.
//! Retrieved chunks are mapped to corpus ids and de-duplicated (first occurrence
//! wins) before the metrics are computed.
//!
//! Answer quality is graded against the same set: `answers.jsonl` beside the
//! qrels (`{"_id", "facts": [["alt", "alt"], ...]}`: every fact must appear in
//! the answer, a fact is met by any one of its alternatives) and
//! `unanswerable.jsonl` (questions whose right reply is "not in your
//! documents"). [`grade_answer`] scores one answer, [`AnswerReport`] the run.

use crate::ask::Answer;
use crate::{Engine, EngineError, Result, SearchMode};
use cairn_core::fusion::FusionConfig;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EvalQuery {
    #[serde(rename = "_id")]
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub answer: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EvalSet {
    pub corpus: PathBuf,
    pub queries: Vec<EvalQuery>,
    /// query id -> corpus id -> graded relevance (> 0).
    pub qrels: HashMap<String, HashMap<String, u32>>,
    /// Questions the corpus does not answer (`unanswerable.jsonl`, optional).
    pub unanswerable: Vec<EvalQuery>,
    /// query id -> facts a correct answer contains; each fact is a list of
    /// accepted spellings. From `answers.jsonl` when present, otherwise each
    /// query's `answer` strings as single-spelling facts.
    pub facts: HashMap<String, Vec<Vec<String>>>,
}

/// One line of `answers.jsonl`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExpectedFacts {
    #[serde(rename = "_id")]
    pub id: String,
    pub facts: Vec<Vec<String>>,
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::io_err(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line)
                .map_err(|e| set_err(path, format!("line {}: {e}", n + 1)))?,
        );
    }
    Ok(out)
}

fn set_err(path: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::EvalSet {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl EvalSet {
    /// Loads a set from its qrels file; `queries.jsonl` and `corpus/` sit beside it.
    pub fn load(qrels_file: &Path) -> Result<Self> {
        let dir = qrels_file
            .parent()
            .ok_or_else(|| set_err(qrels_file, "qrels file has no parent folder"))?;
        let corpus = dir.join("corpus");
        if !corpus.is_dir() {
            return Err(set_err(&corpus, "corpus folder not found"));
        }
        let corpus = std::fs::canonicalize(&corpus).map_err(|e| crate::io_err(&corpus, e))?;
        let mut queries: Vec<EvalQuery> = read_jsonl(&dir.join("queries.jsonl"))?;
        let upath = dir.join("unanswerable.jsonl");
        let unanswerable = if upath.is_file() {
            read_jsonl(&upath)?
        } else {
            Vec::new()
        };
        let apath = dir.join("answers.jsonl");
        let mut facts: HashMap<String, Vec<Vec<String>>> = queries
            .iter()
            .filter(|q| !q.answer.is_empty())
            .map(|q| {
                (
                    q.id.clone(),
                    q.answer.iter().map(|a| vec![a.clone()]).collect(),
                )
            })
            .collect();
        if apath.is_file() {
            for e in read_jsonl::<ExpectedFacts>(&apath)? {
                if e.facts.is_empty() || e.facts.iter().any(|f| f.is_empty()) {
                    return Err(set_err(&apath, format!("{}: empty fact list", e.id)));
                }
                facts.insert(e.id, e.facts);
            }
        }
        let rtext =
            std::fs::read_to_string(qrels_file).map_err(|e| crate::io_err(qrels_file, e))?;
        let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
        for (n, line) in rtext.lines().enumerate() {
            let cols: Vec<&str> = line.split('\t').collect();
            if n == 0 && cols.first() == Some(&"query-id") {
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            if cols.len() != 3 {
                return Err(set_err(
                    qrels_file,
                    format!("line {}: expected 3 tab-separated columns", n + 1),
                ));
            }
            let grade: u32 = cols[2]
                .trim()
                .parse()
                .map_err(|_| set_err(qrels_file, format!("line {}: bad score", n + 1)))?;
            if grade > 0 {
                qrels
                    .entry(cols[0].to_string())
                    .or_default()
                    .insert(cols[1].to_string(), grade);
            }
        }
        queries.retain(|q| qrels.contains_key(&q.id));
        if queries.is_empty() {
            return Err(set_err(qrels_file, "no query has relevance judgements"));
        }
        Ok(EvalSet {
            corpus,
            queries,
            qrels,
            unanswerable,
            facts,
        })
    }

    /// The corpus id of a hit.
    pub fn unit_of(&self, path: &str, page: Option<u32>) -> String {
        let rel = Path::new(path)
            .strip_prefix(&self.corpus)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string());
        match page {
            Some(p) => format!("{rel}#p{p}"),
            None => rel,
        }
    }
}

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

impl Engine {
    /// Runs every query of `set` in `mode` and averages the metrics.
    pub async fn evaluate(
        &self,
        set: &EvalSet,
        mode: SearchMode,
        fusion: &FusionConfig,
    ) -> Result<EvalReport> {
        let mut overall = Metrics::default();
        let mut by_kind: BTreeMap<String, (Metrics, usize)> = BTreeMap::new();
        for q in &set.queries {
            // Fetch deeper than 10 so that ten distinct units remain after merging
            // chunks of the same page.
            let hits = self.search_with(&q.text, 40, mode, fusion).await?;
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
}

/// Folds what a model or a PDF may spell differently: case, typographic quotes
/// and dashes, non-breaking spaces, runs of whitespace.
fn normalise_for_match(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => '"',
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{00A0}' | '\u{202F}' => ' ',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `needle` occurs in `hay` (both normalised) without starting or
/// ending inside a word: `31` must not match `2031`, `BER` not `number`.
/// Unlike check.py, `_` counts as a word character, so that the identifier
/// `asn1_der_decoding` is not found inside `asn1_der_decoding_element`, which
/// a generated answer often repeats from the question.
fn find_on_boundaries(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let check_start = word(needle.chars().next());
    let check_end = word(needle.chars().next_back());
    hay.match_indices(needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        let glued = (check_start && word(before)) || (check_end && word(after));
        !glued
    })
}

/// Whether `text` contains `needle` the way tests/eval/check.py's `contains()`
/// matches: case-insensitive, typography folded, whitespace collapsed, on word
/// boundaries; with a second chance with all whitespace removed (PDF layout and
/// models both space things like `solve(u,-1)` differently).
pub fn contains_fact(text: &str, needle: &str) -> bool {
    let hay = normalise_for_match(text);
    let n = normalise_for_match(needle);
    if find_on_boundaries(&hay, &n) {
        return true;
    }
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    find_on_boundaries(&squash(&hay), &squash(&n))
}

/// Whether every fact is met by at least one of its spellings.
pub fn has_all_facts(text: &str, facts: &[Vec<String>]) -> bool {
    !facts.is_empty()
        && facts
            .iter()
            .all(|alts| alts.iter().any(|a| contains_fact(text, a)))
}

/// How one generated answer scored.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerGrade {
    pub id: String,
    pub kind: Option<String>,
    pub question: String,
    /// False for questions from `unanswerable.jsonl`.
    pub answerable: bool,
    pub answer: String,
    /// The answer contains every expected fact.
    pub facts_found: bool,
    /// Some passage given to the model contains every fact: the ceiling for
    /// `facts_found` with this retrieval and packing.
    pub facts_in_passages: bool,
    /// The answer has no words, only markers such as "[1] [2]" (a failure
    /// seen with small models; such an answer still "cites").
    pub markers_only: bool,
    /// The answer cites at least one passage.
    pub cited: bool,
    /// A cited passage comes from a unit that answers the query (qrels score 2)
    /// or itself contains every fact.
    pub cited_correct: bool,
    /// The answer is the "not in your documents" reply (from the model or
    /// from the off-topic threshold).
    pub said_no_answer: bool,
    /// The model ran (false when the threshold answered without it).
    pub model_called: bool,
    pub passages: usize,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub ms_to_first_token: f64,
    pub tokens_per_s: f64,
}

/// Grades `answer` to `q`; `answerable` says which file the question came from.
pub fn grade_answer(
    set: &EvalSet,
    q: &EvalQuery,
    answerable: bool,
    answer: &Answer,
) -> AnswerGrade {
    let facts = set.facts.get(&q.id).map(Vec::as_slice).unwrap_or(&[]);
    let relevant = set.qrels.get(&q.id);
    let cited_correct = answerable
        && answer.citations.iter().any(|c| {
            let unit = set.unit_of(&c.path, c.page);
            relevant.and_then(|r| r.get(&unit)).is_some_and(|g| *g >= 2)
                || has_all_facts(&c.text, facts)
        });
    AnswerGrade {
        id: q.id.clone(),
        kind: q.kind.clone(),
        question: q.text.clone(),
        answerable,
        answer: answer.answer.clone(),
        facts_found: answerable && has_all_facts(&answer.answer, facts),
        facts_in_passages: answerable
            && answer
                .passages
                .iter()
                .any(|p| has_all_facts(&p.text, facts)),
        markers_only: !answer.answer.chars().any(char::is_alphabetic),
        cited: !answer.citations.is_empty(),
        cited_correct,
        said_no_answer: !answer.grounded,
        model_called: answer.generated_tokens > 0 || answer.prompt_tokens > 0,
        passages: answer.passages.len(),
        prompt_tokens: answer.prompt_tokens,
        generated_tokens: answer.generated_tokens,
        ms_to_first_token: answer.ms_to_first_token,
        tokens_per_s: answer.tokens_per_s,
    }
}

/// Answer quality over a run: shares are in 0..=1.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerReport {
    pub model: String,
    pub answerable: usize,
    pub unanswerable: usize,
    /// Answerable questions whose answer holds every expected fact.
    pub facts_share: f64,
    /// Answerable questions where some packed passage held every fact.
    pub facts_in_passages_share: f64,
    /// Answerable questions whose answer cites a correct passage.
    pub cited_correct_share: f64,
    /// Answerable questions whose answer cites anything at all.
    pub cited_share: f64,
    /// Answerable questions answered with markers only.
    pub markers_only_share: f64,
    /// Answerable questions wrongly answered with "not in your documents".
    pub false_no_answer_share: f64,
    /// Unanswerable questions answered with "not in your documents".
    pub no_answer_share: f64,
    /// Means over the answers where the model ran.
    pub mean_ms_to_first_token: f64,
    pub mean_tokens_per_s: f64,
    pub mean_prompt_tokens: f64,
    pub mean_generated_tokens: f64,
    pub grades: Vec<AnswerGrade>,
}

impl AnswerReport {
    pub fn new(model: impl Into<String>, grades: Vec<AnswerGrade>) -> Self {
        let share = |keep: &dyn Fn(&AnswerGrade) -> bool, of: &dyn Fn(&AnswerGrade) -> bool| {
            let n = grades.iter().filter(|g| of(g)).count();
            if n == 0 {
                return 0.0;
            }
            grades.iter().filter(|g| of(g) && keep(g)).count() as f64 / n as f64
        };
        let ran: Vec<&AnswerGrade> = grades.iter().filter(|g| g.model_called).collect();
        let mean = |f: &dyn Fn(&AnswerGrade) -> f64| {
            if ran.is_empty() {
                0.0
            } else {
                ran.iter().map(|g| f(g)).sum::<f64>() / ran.len() as f64
            }
        };
        let answerable = |g: &AnswerGrade| g.answerable;
        let unanswerable = |g: &AnswerGrade| !g.answerable;
        AnswerReport {
            model: model.into(),
            answerable: grades.iter().filter(|g| g.answerable).count(),
            unanswerable: grades.iter().filter(|g| !g.answerable).count(),
            facts_share: share(&|g| g.facts_found, &answerable),
            facts_in_passages_share: share(&|g| g.facts_in_passages, &answerable),
            cited_correct_share: share(&|g| g.cited_correct, &answerable),
            cited_share: share(&|g| g.cited, &answerable),
            markers_only_share: share(&|g| g.markers_only, &answerable),
            false_no_answer_share: share(&|g| g.said_no_answer, &answerable),
            no_answer_share: share(&|g| g.said_no_answer, &unanswerable),
            mean_ms_to_first_token: mean(&|g| g.ms_to_first_token),
            mean_tokens_per_s: mean(&|g| g.tokens_per_s),
            mean_prompt_tokens: mean(&|g| g.prompt_tokens as f64),
            mean_generated_tokens: mean(&|g| g.generated_tokens as f64),
            grades,
        }
    }
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

    fn check_fact(text: &str, needle: &str, want: bool) {
        assert_eq!(contains_fact(text, needle), want, "{needle:?} in {text:?}");
    }

    #[test]
    fn fact_matching_follows_check_py() {
        check_fact("The limit is 31.", "31", true);
        check_fact("Since 2031 it is", "31", false);
        check_fact("uses BER rules", "ber", true);
        check_fact("a number", "BER", false);
        check_fact("Then: solve(u, -1) again", "solve(u,-1)", true);
        check_fact("It uses \u{201C}Override.xml\u{201D}", "Override.xml", true);
        check_fact("a 48\u{2010}bit magic", "48-bit", true);
        check_fact("pass -s to bzip2", "-s", true);
        check_fact("pass -sx", "-s", false);
        check_fact("about 1% more", "1%", true);
        check_fact("anything", "", false);
        check_fact("use asn1_der_decoding_element", "asn1_der_decoding", false);
        check_fact("use asn1_der_decoding() instead", "asn1_der_decoding", true);
    }

    #[test]
    fn all_facts_need_one_spelling_each() {
        let facts = vec![
            vec!["400k".to_string(), "400 KB".to_string()],
            vec!["7600k".to_string()],
        ];
        assert!(has_all_facts("between 400 kb and 7600k", &facts));
        assert!(!has_all_facts("400k only", &facts));
        assert!(!has_all_facts("anything", &[]));
    }
}
