//! Does the cited evidence support each sentence of an answer?
//!
//! A small model sometimes writes a sentence that no passage says (a number it
//! remembers, a default it guesses), or cites the wrong passage for a right
//! sentence. [`check`] splits an answer into sentences and measures, for each,
//! how much of what it asserts is in the evidence it cites (or, when it cites
//! nothing, in any evidence):
//! - every number and identifier in the sentence must occur in that evidence
//!   (those of the question itself excepted: repeating them is not a claim);
//! - enough of its other content words must too (words of the question do not
//!   count).
//!
//! A sentence its citation does not support but another evidence span does
//! is re-cited to that span (the answer was right, the marker wrong); one that
//! no span supports is marked unsupported.

use crate::prompt::Passage;
use crate::text::{sentence_pieces, stem, STOPWORDS};
use serde::{Deserialize, Serialize};

/// One sentence of an answer and whether its evidence says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceSupport {
    /// The sentence as it appears in the (re-cited) answer, markers included.
    pub text: String,
    /// Evidence numbers it cites.
    pub cites: Vec<usize>,
    /// Share of its checked words found in the evidence it cites (1.0 when it
    /// asserts nothing checkable, e.g. "Yes.").
    pub support: f32,
    /// Numbers or identifiers it states that its evidence does not hold.
    pub missing: Vec<String>,
    pub supported: bool,
}

/// Share of content words below which a sentence is unsupported.
pub const MIN_SUPPORT: f32 = 0.4;

/// Words that carry no claim of their own in an answer.
const FILLER: &[&str] = &[
    "answer",
    "passage",
    "passages",
    "document",
    "documents",
    "according",
    "based",
    "information",
    "provided",
    "state",
    "states",
    "say",
    "says",
    "said",
    "mention",
    "mentioned",
    "describe",
    "described",
    "specified",
    "given",
    "following",
    "example",
    "mean",
    "means",
    "called",
];

/// Words of a sentence: runs of letters, digits, `_`, and `.`/`-` inside
/// them (so `48-bit`, `rec00001file.bz2` and `v1.2` stay whole).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '-'))
        .filter(|w| !w.is_empty())
}

/// A number or an identifier: must be quoted exactly, not paraphrased.
fn is_exact(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit()) || word.contains('_')
}

fn is_filler(stemmed: &str) -> bool {
    STOPWORDS.contains(&stemmed) || FILLER.contains(&stemmed)
}

/// Cited evidence numbers in a sentence: `[1]`, `[1, 2]`.
fn cites_of(sentence: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        for part in after[..close].split([',', ';']) {
            if let Ok(n) = part.trim().parse::<usize>() {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &after[close + 1..];
    }
    out
}

/// The sentence without `[...]` markers.
fn without_markers(text: &str) -> String {
    let mut b = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => b.push(c),
            _ => {}
        }
    }
    b
}

/// How well `sources` support `body`: (share of checked words found, missing
/// exact tokens).
fn support_of(body: &str, question: &Question, sources: &[&Passage]) -> (f32, Vec<String>) {
    let text: String = sources
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let source_exact: Vec<String> = words(&text).map(str::to_lowercase).collect();
    let source_words: Vec<String> = words(&text).map(stem).collect();
    let mut missing = Vec::new();
    let (mut checked, mut found) = (0usize, 0usize);
    for w in words(body) {
        if is_exact(w) {
            // A whole token of the evidence: "1" is not found in "2.1".
            let l = w.to_lowercase();
            if !question.exact.contains(&l) && !source_exact.contains(&l) {
                missing.push(w.to_string());
            }
            continue;
        }
        let s = stem(w);
        if is_filler(&s) || s.chars().count() < 3 || question.words.contains(&s) {
            continue;
        }
        checked += 1;
        if source_words.contains(&s) {
            found += 1;
        }
    }
    let support = if checked == 0 {
        1.0
    } else {
        found as f32 / checked as f32
    };
    (support, missing)
}

struct Question {
    words: Vec<String>,
    exact: Vec<String>,
}

/// Replaces a sentence's markers with `[n]`, placed before its final stop.
fn recite(sentence: &str, n: usize) -> String {
    let body = without_markers(sentence);
    let body = body.trim_end();
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match body.char_indices().next_back() {
        Some((i, c @ ('.' | '!' | '?'))) => format!("{} [{n}]{c}", body[..i].trim_end()),
        _ => format!("{body} [{n}]"),
    }
}

/// Checks every sentence of `answer` (with `[n]` markers) against `evidence`;
/// returns the answer with wrong markers corrected, and each sentence's support.
/// `question`'s words are not counted as claims.
pub fn check(answer: &str, question: &str, evidence: &[Passage]) -> (String, Vec<SentenceSupport>) {
    let q = Question {
        words: words(question).map(stem).collect(),
        exact: words(question)
            .filter(|w| is_exact(w))
            .map(str::to_lowercase)
            .collect(),
    };
    let mut text = String::with_capacity(answer.len());
    let mut out = Vec::new();
    for piece in sentence_pieces(answer) {
        let sentence = piece.trim();
        if sentence.is_empty() || !sentence.chars().any(char::is_alphanumeric) {
            text.push_str(piece);
            continue;
        }
        let trailing = &piece[piece.trim_end().len()..];
        let leading = &piece[..piece.len() - piece.trim_start().len()];
        let body = without_markers(sentence);
        let cites = cites_of(sentence);
        let cited: Vec<&Passage> = if cites.is_empty() {
            evidence.iter().collect()
        } else {
            evidence.iter().filter(|p| cites.contains(&p.n)).collect()
        };
        let (mut support, mut missing) = support_of(&body, &q, &cited);
        let mut supported = missing.is_empty() && support >= MIN_SUPPORT;
        let mut shown = sentence.to_string();
        let mut shown_cites = cites.clone();
        if !supported && !cites.is_empty() {
            // The best other span, if one supports the sentence.
            let best = evidence
                .iter()
                .filter(|p| !cites.contains(&p.n))
                .map(|p| (p.n, support_of(&body, &q, &[p])))
                .filter(|(_, (s, m))| m.is_empty() && *s >= MIN_SUPPORT)
                .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
            if let Some((n, (s, m))) = best {
                shown = recite(sentence, n);
                shown_cites = vec![n];
                support = s;
                missing = m;
                supported = true;
            }
        }
        text.push_str(leading);
        text.push_str(&shown);
        text.push_str(trailing);
        out.push(SentenceSupport {
            text: shown,
            cites: shown_cites,
            supported,
            support,
            missing,
        });
    }
    (text, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(n: usize, text: &str) -> Passage {
        Passage {
            n,
            path: format!("d{n}.txt"),
            page: None,
            start: 0,
            end: text.chars().count(),
            heading_path: vec![],
            text: text.to_string(),
        }
    }

    #[test]
    fn sentences_are_checked_against_the_evidence_they_cite() {
        let ev = vec![
            passage(1, "The default block size is 900k, set with -9."),
            passage(2, "bzip2recover writes rec00001file.bz2 for each block."),
        ];
        let (text, got) = check(
            "The default block size is 900k [1]. It writes rec00001file.bz2 files [2]. \
             Compression runs on 8 threads [1].",
            "What is the default block size?",
            &ev,
        );
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].supported && got[1].supported, "{got:#?}");
        assert!(!got[2].supported);
        assert_eq!(got[2].missing, vec!["8"]);
        assert_eq!(text, "The default block size is 900k [1]. It writes rec00001file.bz2 files [2]. Compression runs on 8 threads [1].");
    }

    #[test]
    fn numbers_must_be_whole_tokens_of_the_evidence() {
        let ev = vec![passage(
            1,
            "Version 3.31.0 added generated columns in 2020.",
        )];
        let (_, got) = check("It costs 1 extra cycle [1].", "How much does it cost?", &ev);
        assert_eq!(got[0].missing, vec!["1"], "{got:#?}");
        let (_, got) = check("They arrived in 3.31.0 [1].", "When?", &ev);
        assert!(got[0].missing.is_empty(), "{got:#?}");
    }

    #[test]
    fn a_right_sentence_with_a_wrong_marker_is_recited() {
        let ev = vec![
            passage(1, "The default block size is 900k, set with -9."),
            passage(2, "bzip2recover writes rec00001file.bz2 for each block."),
        ];
        let (text, got) = check("The block size is 900k by default [2].", "block size?", &ev);
        assert!(got[0].supported, "{got:#?}");
        assert_eq!(got[0].cites, vec![1]);
        assert_eq!(text, "The block size is 900k by default [1].");
    }

    #[test]
    fn invented_content_is_unsupported_and_restating_the_question_is_not_a_claim() {
        let ev = vec![passage(
            1,
            "Jansson decodes JSON text into a tree of values.",
        )];
        let (_, invented) = check(
            "Jansson uses the MurmurHash algorithm for object keys.",
            "Which hash algorithm does Jansson use for object keys?",
            &ev,
        );
        assert!(!invented[0].supported, "{invented:#?}");
        let (_, echo) = check(
            "Jansson 2.0 decodes JSON text into a tree.",
            "What does Jansson 2.0 do?",
            &ev,
        );
        assert!(echo[0].supported, "{echo:#?}");
        assert!(check("", "q", &ev).1.is_empty());
    }
}
