//! Answer quality: whether a generated answer states the expected facts, cites
//! a passage that holds them, and says "not in your documents" when it should.
//! [`grade_answer`] scores one answer, [`AnswerReport`] a run.

use crate::set::{Conversation, EvalQuery, EvalSet};
use crate::Result;
use cairn_engine::ask::{Answer, AskOptions, Turn};
use cairn_engine::{AnswerModel, Engine};
use serde::Serialize;
use std::sync::Arc;

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

/// Which part of the set a question comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// `queries.jsonl`: the documents answer it.
    Answerable,
    /// `unanswerable.jsonl`: on topic, but the documents do not answer it.
    Unanswerable,
    /// The first turn of a conversation (answerable, asked without history).
    ConversationStart,
    /// A later turn of a conversation: only makes sense after the earlier ones.
    FollowUp,
}

impl Category {
    fn answerable(self) -> bool {
        self != Category::Unanswerable
    }
}

/// What a correct answer to one question contains and where it is.
pub struct Expected<'a> {
    pub id: String,
    pub category: Category,
    pub question: &'a str,
    /// Facts (each a list of accepted spellings); empty for unanswerable ones.
    pub facts: &'a [Vec<String>],
    /// Units (`file#pN`) that answer it.
    pub gold: Vec<String>,
}

/// How one generated answer scored.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerGrade {
    pub id: String,
    pub category: Category,
    pub question: String,
    /// What was searched (differs from the question for rewritten follow-ups).
    pub searched_for: String,
    pub answer: String,
    /// The answer contains every expected fact.
    pub facts_found: bool,
    /// Some evidence span given to the model contains every fact: the ceiling
    /// for `facts_found` with this retrieval and evidence selection.
    pub facts_in_evidence: bool,
    /// Some evidence span comes from a unit that answers the question.
    pub gold_in_evidence: bool,
    /// The answer has no words, only markers such as "[1] [2]".
    pub markers_only: bool,
    /// The answer cites at least one passage.
    pub cited: bool,
    /// A cited passage comes from a unit that answers the question or itself
    /// contains every fact.
    pub cited_correct: bool,
    /// The reply is "not in your documents".
    pub said_no_answer: bool,
    /// Why, when it is (off_topic, not_answerable, model_said_so).
    pub refusal: Option<String>,
    /// Sentences of the answer, and how many its evidence does not support.
    pub sentences: usize,
    pub unsupported_sentences: usize,
    /// The model wrote an answer (no refusal before generation).
    pub model_answered: bool,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub ms_to_evidence: f64,
    pub ms_to_first_token: f64,
    pub tokens_per_s: f64,
    /// The answerability decision and its signals (for calibration).
    pub answerability: Option<cairn_engine::answerability::Answerability>,
}

/// Grades `answer` against what a correct one contains.
pub fn grade_answer(set: &EvalSet, expected: &Expected<'_>, answer: &Answer) -> AnswerGrade {
    let facts = expected.facts;
    let answerable = expected.category.answerable();
    let in_gold = |path: &str, page: Option<u32>| {
        let unit = set.unit_of(path, page);
        expected.gold.contains(&unit)
    };
    let cited_correct = answerable
        && answer
            .citations
            .iter()
            .any(|c| in_gold(&c.path, c.page) || has_all_facts(&c.text, facts));
    let refusal = answer.refusal.map(|r| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_default()
    });
    AnswerGrade {
        id: expected.id.clone(),
        category: expected.category,
        question: expected.question.to_string(),
        searched_for: answer.searched_for.clone(),
        answer: answer.answer.clone(),
        facts_found: answerable && answer.grounded && has_all_facts(&answer.answer, facts),
        facts_in_evidence: answerable
            && answer
                .evidence
                .iter()
                .any(|e| has_all_facts(&e.text, facts)),
        gold_in_evidence: answer.evidence.iter().any(|e| in_gold(&e.path, e.page)),
        markers_only: !answer.answer.chars().any(char::is_alphabetic),
        cited: !answer.citations.is_empty(),
        cited_correct,
        said_no_answer: !answer.grounded,
        refusal,
        sentences: answer.sentences.len(),
        unsupported_sentences: answer.sentences.iter().filter(|s| !s.supported).count(),
        model_answered: answer.generated_tokens > 0,
        prompt_tokens: answer.prompt_tokens,
        generated_tokens: answer.generated_tokens,
        ms_to_evidence: answer.ms_to_evidence,
        ms_to_first_token: answer.ms_to_first_token,
        tokens_per_s: answer.tokens_per_s,
        answerability: answer.answerability.clone(),
    }
}

/// Shares of one category's questions (0..=1).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CategoryReport {
    pub questions: usize,
    /// Answers that hold every expected fact.
    pub facts: f64,
    /// Answers citing a correct passage.
    pub cited_correct: f64,
    /// "Not in your documents" replies: wrong for answerable questions, right
    /// for unanswerable ones.
    pub refused: f64,
    /// Evidence held every fact (the ceiling for `facts`).
    pub facts_in_evidence: f64,
    /// Evidence came from a unit that answers the question (retrieval found it).
    pub gold_in_evidence: f64,
    pub markers_only: f64,
}

/// Percentiles of a time, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    pub median_ms: f64,
    pub p95_ms: f64,
}

fn timing(mut xs: Vec<f64>) -> Timing {
    if xs.is_empty() {
        return Timing::default();
    }
    xs.sort_by(f64::total_cmp);
    let at = |p: f64| xs[((xs.len() as f64 - 1.0) * p).round() as usize];
    Timing {
        median_ms: at(0.5),
        p95_ms: at(0.95),
    }
}

/// Answer quality over a run.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerReport {
    pub model: String,
    pub answerable: CategoryReport,
    pub unanswerable: CategoryReport,
    pub conversation_start: CategoryReport,
    pub follow_up: CategoryReport,
    /// Sentences of grounded answers that their evidence does not support.
    pub unsupported_sentence_share: f64,
    /// Grounded answers with at least one unsupported sentence.
    pub answers_with_unsupported_share: f64,
    /// From the question to the evidence, over every question.
    pub time_to_evidence: Timing,
    /// From the question to the first token of the reply, over every question.
    pub time_to_first_token: Timing,
    /// The same over the answers the model wrote.
    pub time_to_first_token_model: Timing,
    pub mean_tokens_per_s: f64,
    pub mean_prompt_tokens: f64,
    pub mean_generated_tokens: f64,
    pub grades: Vec<AnswerGrade>,
}

impl AnswerReport {
    pub fn new(model: impl Into<String>, grades: Vec<AnswerGrade>) -> Self {
        let category = |c: Category| {
            let gs: Vec<&AnswerGrade> = grades.iter().filter(|g| g.category == c).collect();
            let n = gs.len();
            let share = |f: &dyn Fn(&AnswerGrade) -> bool| {
                if n == 0 {
                    0.0
                } else {
                    gs.iter().filter(|g| f(g)).count() as f64 / n as f64
                }
            };
            CategoryReport {
                questions: n,
                facts: share(&|g| g.facts_found),
                cited_correct: share(&|g| g.cited_correct),
                refused: share(&|g| g.said_no_answer),
                facts_in_evidence: share(&|g| g.facts_in_evidence),
                gold_in_evidence: share(&|g| g.gold_in_evidence),
                markers_only: share(&|g| g.markers_only),
            }
        };
        let grounded: Vec<&AnswerGrade> = grades.iter().filter(|g| !g.said_no_answer).collect();
        let sentences: usize = grounded.iter().map(|g| g.sentences).sum();
        let unsupported: usize = grounded.iter().map(|g| g.unsupported_sentences).sum();
        let wrote: Vec<&AnswerGrade> = grades.iter().filter(|g| g.model_answered).collect();
        let mean = |f: &dyn Fn(&AnswerGrade) -> f64| {
            if wrote.is_empty() {
                0.0
            } else {
                wrote.iter().map(|g| f(g)).sum::<f64>() / wrote.len() as f64
            }
        };
        AnswerReport {
            model: model.into(),
            answerable: category(Category::Answerable),
            unanswerable: category(Category::Unanswerable),
            conversation_start: category(Category::ConversationStart),
            follow_up: category(Category::FollowUp),
            unsupported_sentence_share: if sentences == 0 {
                0.0
            } else {
                unsupported as f64 / sentences as f64
            },
            answers_with_unsupported_share: if grounded.is_empty() {
                0.0
            } else {
                grounded
                    .iter()
                    .filter(|g| g.unsupported_sentences > 0)
                    .count() as f64
                    / grounded.len() as f64
            },
            time_to_evidence: timing(grades.iter().map(|g| g.ms_to_evidence).collect()),
            time_to_first_token: timing(grades.iter().map(|g| g.ms_to_first_token).collect()),
            time_to_first_token_model: timing(wrote.iter().map(|g| g.ms_to_first_token).collect()),
            mean_tokens_per_s: mean(&|g| g.tokens_per_s),
            mean_prompt_tokens: mean(&|g| g.prompt_tokens as f64),
            mean_generated_tokens: mean(&|g| g.generated_tokens as f64),
            grades,
        }
    }
}

/// Which parts of the set a run covers.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Take every Nth question of each part (1 = all).
    pub every: usize,
    pub answerable: bool,
    pub unanswerable: bool,
    pub conversations: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            every: 1,
            answerable: true,
            unanswerable: true,
            conversations: true,
        }
    }
}

/// Answers the set's questions through [`Engine::ask`], exactly as `cairn ask`
/// and `cairn chat` do (conversations turn by turn, with their history), and
/// grades each. `progress` hears each grade as it is made, with its position
/// and the total.
pub async fn run(
    engine: &Engine,
    set: &EvalSet,
    model: &Arc<AnswerModel>,
    opts: &AskOptions,
    which: RunOptions,
    progress: &(dyn Fn(usize, usize, &AnswerGrade) + Send + Sync),
) -> Result<AnswerReport> {
    let step = which.every.max(1);
    let mut singles: Vec<(&EvalQuery, Category)> = Vec::new();
    if which.answerable {
        singles.extend(
            set.queries
                .iter()
                .step_by(step)
                .map(|q| (q, Category::Answerable)),
        );
    }
    if which.unanswerable {
        singles.extend(
            set.unanswerable
                .iter()
                .step_by(step)
                .map(|q| (q, Category::Unanswerable)),
        );
    }
    let conversations: Vec<&Conversation> = if which.conversations {
        set.conversations.iter().step_by(step).collect()
    } else {
        Vec::new()
    };
    let total = singles.len() + conversations.iter().map(|c| c.turns.len()).sum::<usize>();
    let mut grades = Vec::with_capacity(total);
    let mut model_name = String::new();
    let no_facts: Vec<Vec<String>> = Vec::new();
    for (q, category) in singles {
        let answer = engine
            .ask(&q.text, &[], opts, model, Box::new(|_| {}))
            .await?;
        if !answer.model.is_empty() {
            model_name = answer.model.clone();
        }
        let gold: Vec<String> = set
            .qrels
            .get(&q.id)
            .map(|r| {
                r.iter()
                    .filter(|(_, g)| **g >= 2)
                    .map(|(u, _)| u.clone())
                    .collect()
            })
            .unwrap_or_default();
        let expected = Expected {
            id: q.id.clone(),
            category,
            question: &q.text,
            facts: set.facts.get(&q.id).unwrap_or(&no_facts),
            gold,
        };
        let g = grade_answer(set, &expected, &answer);
        progress(grades.len() + 1, total, &g);
        grades.push(g);
    }
    for c in conversations {
        let mut history: Vec<Turn> = Vec::new();
        for (i, t) in c.turns.iter().enumerate() {
            let answer = engine
                .ask(&t.text, &history, opts, model, Box::new(|_| {}))
                .await?;
            if !answer.model.is_empty() {
                model_name = answer.model.clone();
            }
            let expected = Expected {
                id: format!("{}/{}", c.id, i + 1),
                category: if i == 0 {
                    Category::ConversationStart
                } else {
                    Category::FollowUp
                },
                question: &t.text,
                facts: &t.facts,
                gold: t.gold.clone(),
            };
            let g = grade_answer(set, &expected, &answer);
            progress(grades.len() + 1, total, &g);
            grades.push(g);
            history.push(Turn {
                question: t.text.clone(),
                answer: answer.answer.clone(),
                searched_for: answer.searched_for.clone(),
            });
        }
    }
    Ok(AnswerReport::new(model_name, grades))
}

#[cfg(test)]
mod tests {
    use super::*;

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
