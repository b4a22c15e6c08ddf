//! "Do the documents answer this?" decided from measured signals.
//!
//! A small model answers whatever it is asked, so whether the evidence holds
//! the answer is decided before it writes, from:
//! - `p_yes`: the answer model's own judgement, the probability of "yes" after
//!   [`cairn_core::prompt::ANSWERABLE_CHECK`] following the evidence (one short
//!   prefill, no generation);
//! - `p_refusal_start`: the probability that the model's answer starts the way
//!   the "not in your documents" reply starts (free: read off the answer
//!   prompt's own prefill);
//! - `coverage`: the share of the question's words (weighted by rarity in the
//!   evidence) that the evidence contains;
//! - `best_vector_score`: the best passage's cosine with the question;
//! - `evidence_score`: the best evidence sentence's score (its share of the
//!   question's rare words, its cosine with the question, its passage's rank).
//!
//! They are combined by a logistic model whose weights were fitted on the
//! public evaluation set (`scripts/calibrate_answerability.py` from the
//! signals `cairn eval --answers --signals` writes; docs/BENCHMARKS.md has the
//! precision/recall trade-off), and compared with a threshold.

use crate::evidence::terms;
use cairn_core::prompt::{Passage, NO_ANSWER};
use cairn_llm::TextTokenizer;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The measured signals of one question.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    pub best_vector_score: Option<f32>,
    /// The best evidence sentence's score ([`crate::evidence`]).
    #[serde(default)]
    pub evidence_score: f32,
    /// Share of the question's content words found in the evidence.
    pub coverage: f32,
    /// The question's content words missing from the evidence.
    pub missing: Vec<String>,
    pub p_yes: Option<f32>,
    pub p_refusal_start: Option<f32>,
}

/// The decision and what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answerability {
    pub signals: Signals,
    /// Calibrated probability that the evidence answers the question.
    pub probability: f32,
    pub answerable: bool,
}

/// A logistic model over the signals: `sigmoid(bias + Σ weight·feature)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub bias: f32,
    /// Weight of `logit(p_yes)`.
    pub p_yes: f32,
    /// Weight of `logit(p_refusal_start)`.
    pub p_refusal_start: f32,
    /// Weight of `coverage` (0..1).
    pub coverage: f32,
    /// Weight of the best cosine (0..1).
    pub vector: f32,
    /// Weight of the best evidence sentence's score.
    pub evidence: f32,
}

/// Fitted on tests/eval with the signals that need no model (the default
/// model's own judgement did not separate the two kinds of question):
/// `python3 scripts/calibrate_answerability.py REPORT --features coverage,vector,evidence`
/// on `cairn eval --answers --retrieval-only` (docs/BENCHMARKS.md, "Answerability").
pub const CALIBRATION: Calibration = Calibration {
    bias: -7.1761,
    p_yes: 0.0,
    p_refusal_start: 0.0,
    coverage: 1.9289,
    vector: 6.0830,
    evidence: 3.9512,
};

/// Probability below which the reply is "not in your documents". Together with
/// withdrawing answers that no passage supports ([`crate::AskOptions::refuse_unsupported`]),
/// the highest threshold that falsely refuses at most 10 % of the answerable
/// questions of the public set with the default model (docs/BENCHMARKS.md,
/// "Answerability").
pub const DEFAULT_THRESHOLD: f32 = 0.08;

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Calibration {
    pub fn probability(&self, s: &Signals) -> f32 {
        let mut x = self.bias
            + self.coverage * s.coverage
            + self.vector * s.best_vector_score.unwrap_or(0.0)
            + self.evidence * s.evidence_score;
        if let Some(p) = s.p_yes {
            x += self.p_yes * logit(p);
        }
        if let Some(p) = s.p_refusal_start {
            x += self.p_refusal_start * logit(p);
        }
        sigmoid(x)
    }
}

/// The decision for `signals` with the fitted calibration.
pub fn judge(signals: Signals, threshold: f32) -> Answerability {
    let probability = CALIBRATION.probability(&signals);
    Answerability {
        answerable: probability >= threshold,
        probability,
        signals,
    }
}

/// The signals that need no model: coverage of the question's words by the
/// evidence, and the retrieval score.
pub fn lexical_signals(
    question: &str,
    evidence: &[Passage],
    best_vector_score: Option<f32>,
    evidence_score: f32,
) -> Signals {
    let q = terms(question);
    let have: HashSet<String> = evidence.iter().flat_map(|p| terms(&p.text)).collect();
    let missing: Vec<String> = q.iter().filter(|t| !have.contains(*t)).cloned().collect();
    let coverage = if q.is_empty() {
        1.0
    } else {
        1.0 - missing.len() as f32 / q.len() as f32
    };
    Signals {
        best_vector_score,
        evidence_score,
        coverage,
        missing,
        p_yes: None,
        p_refusal_start: None,
    }
}

/// The token ids the model-based signals read.
pub struct ModelTokens {
    yes: Vec<u32>,
    no: Vec<u32>,
    refusal: Vec<u32>,
}

impl ModelTokens {
    /// Looks the spellings up in a model's vocabulary.
    pub fn of(tok: &TextTokenizer) -> Self {
        let ids = |words: &[&str]| -> Vec<u32> {
            let mut v: Vec<u32> = words
                .iter()
                .filter_map(|w| {
                    let ids = tok.encode(w).ok()?;
                    (ids.len() == 1).then(|| ids[0])
                })
                .collect();
            v.dedup();
            v
        };
        let refusal_word = NO_ANSWER.split_whitespace().next().unwrap_or("I");
        ModelTokens {
            yes: ids(&["yes", "Yes", "YES"]),
            no: ids(&["no", "No", "NO"]),
            refusal: ids(&[refusal_word]),
        }
    }

    /// The candidates for [`cairn_llm::LocalModel::next_token_probs`]: yes ids then no ids.
    pub fn yes_no(&self) -> Vec<u32> {
        self.yes.iter().chain(&self.no).copied().collect()
    }

    /// P(yes) / (P(yes) + P(no)) from the probabilities of [`ModelTokens::yes_no`].
    pub fn p_yes(&self, probs: &[f32]) -> f32 {
        let yes: f32 = probs[..self.yes.len()].iter().sum();
        let no: f32 = probs[self.yes.len()..].iter().sum();
        if yes + no <= 0.0 {
            0.5
        } else {
            yes / (yes + no)
        }
    }

    /// The first token of the "not in your documents" reply.
    pub fn refusal_start(&self) -> Vec<u32> {
        self.refusal.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(text: &str) -> Passage {
        Passage {
            n: 1,
            path: "d.txt".into(),
            page: None,
            start: 0,
            end: text.chars().count(),
            heading_path: vec![],
            text: text.into(),
        }
    }

    #[test]
    fn coverage_counts_the_question_words_the_evidence_holds() {
        let ev = vec![passage("bzip2 compresses files using block sorting.")];
        let s = lexical_signals("How does bzip2 compress files?", &ev, Some(0.6), 0.5);
        assert_eq!(s.coverage, 1.0, "{s:?}");
        let s = lexical_signals("Can bzip2 use several CPU cores?", &ev, Some(0.6), 0.5);
        assert!(s.coverage < 0.5, "{s:?}");
        assert!(s.missing.contains(&"core".to_string()), "{s:?}");
    }

    #[test]
    fn the_probability_is_a_logistic_model_of_the_signals() {
        let c = Calibration {
            bias: -1.0,
            p_yes: 1.0,
            p_refusal_start: 0.0,
            coverage: 2.0,
            vector: 0.0,
            evidence: 0.0,
        };
        let mut s = Signals {
            p_yes: Some(0.9),
            coverage: 1.0,
            ..Signals::default()
        };
        let high = c.probability(&s);
        s.p_yes = Some(0.1);
        s.coverage = 0.2;
        let low = c.probability(&s);
        assert!(high > 0.9 && low < 0.2, "{high} {low}");
        // Without the model's judgement its term is left out, not read as 0.
        s.p_yes = None;
        assert!((c.probability(&s) - 1.0 / (1.0 + (0.6f32).exp())).abs() < 1e-6);
    }
}
