//! An evaluation set on disk.
//!
//! A set is a folder holding `corpus/` (the documents), `queries.jsonl`
//! (`{"_id", "text", "kind"?, "answer"?}` per line) and `qrels.tsv`
//! (`query-id \t corpus-id \t score`, with a header line). A corpus id is a path
//! relative to `corpus/`, followed by `#p<N>` for page N of a paged document.
//!
//! For answers: `answers.jsonl` beside the qrels (`{"_id", "facts": [["alt",
//! "alt"], ...]}`: every fact must appear in the answer, a fact is met by any
//! one of its alternatives), `unanswerable.jsonl` (questions whose right
//! reply is "not in your documents") and `conversations.jsonl` (two- and
//! three-turn conversations whose later turns only make sense after the
//! earlier ones; each turn has its facts and gold units).

use crate::{io_err, set_err, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
    /// `conversations.jsonl` (optional).
    pub conversations: Vec<Conversation>,
}

/// One conversation of `conversations.jsonl`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Conversation {
    #[serde(rename = "_id")]
    pub id: String,
    pub turns: Vec<ConversationTurn>,
}

/// One turn: the question as asked, the same question written to stand alone
/// (the reference for a query rewriter), its facts and the units answering it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConversationTurn {
    pub text: String,
    pub standalone: String,
    pub facts: Vec<Vec<String>>,
    pub gold: Vec<String>,
}

/// One line of `answers.jsonl`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExpectedFacts {
    #[serde(rename = "_id")]
    pub id: String,
    pub facts: Vec<Vec<String>>,
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
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
        let corpus = std::fs::canonicalize(&corpus).map_err(|e| io_err(&corpus, e))?;
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
        let rtext = std::fs::read_to_string(qrels_file).map_err(|e| io_err(qrels_file, e))?;
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
        let cpath = dir.join("conversations.jsonl");
        let conversations: Vec<Conversation> = if cpath.is_file() {
            read_jsonl(&cpath)?
        } else {
            Vec::new()
        };
        for c in &conversations {
            if c.turns.is_empty()
                || c.turns
                    .iter()
                    .any(|t| t.facts.is_empty() || t.gold.is_empty())
            {
                return Err(set_err(
                    &cpath,
                    format!("{}: a turn without facts or gold units", c.id),
                ));
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
            conversations,
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
