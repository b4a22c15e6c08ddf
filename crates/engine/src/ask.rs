//! Grounded answers: a question (and the conversation before it) in, an answer
//! whose every sentence is checked against the evidence it cites out.
//!
//! [`Engine::ask`] runs the whole flow for a shell, in this order:
//! 1. **Search query.** A follow-up ("and for decompression?") is turned into a
//!    question that stands alone ([`FollowUp`]); the query actually searched is
//!    reported ([`AskEvent::Searched`]) so a wrong rewrite is visible.
//! 2. **Retrieval and evidence.** Hybrid search, then the sentences of the
//!    passages that bear on the question ([`crate::evidence`]), sent to the
//!    caller at once ([`AskEvent::Evidence`]), before any model runs.
//! 3. **Off-topic gate.** When no passage is even about the question (best
//!    cosine below [`AskOptions::min_vector_score`]), the reply is
//!    [`NOT_IN_DOCUMENTS`] with the nearest evidence, and no model is loaded.
//! 4. **Answerability.** The coverage of the question's words by the evidence
//!    and the retrieval scores give a calibrated probability that the evidence
//!    answers the question ([`crate::answerability`]); optionally
//!    ([`AskOptions::check_answerable`]) the answer model's own yes/no judgement
//!    joins them, at the cost of one short prefill. Below the bar: refusal with
//!    nearest sources.
//! 5. **Answer.** Streamed ([`AskEvent::Token`]); then each sentence is checked
//!    against the evidence it cites ([`cairn_core::support`]) and marked.
//! 6. **Withdrawal.** An answer none of whose sentences is supported becomes
//!    [`Refusal::Unsupported`]: the reply is "not in your documents" with the
//!    nearest sources, the model's sentences kept, marked, for whoever wants to
//!    see them ([`AskOptions::refuse_unsupported`]).

use crate::answerability::{self, Answerability};
use crate::evidence::{self, Evidence, EvidenceOptions};
use crate::models::AnswerModel;
use crate::{Engine, EngineError, Result};
use cairn_core::prompt::{
    answerable_check_messages, cite, pack, rewrite_messages, says_no_answer, ChatMessage, Citation,
    Passage, NO_ANSWER, SYSTEM_PROMPT, SYSTEM_PROMPT_ANSWER_ONLY,
};
use cairn_core::support::{self, SentenceSupport};
use cairn_core::SearchHit;
use cairn_llm::{FinishReason, GenParams, LocalModel};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a follow-up question becomes the query that is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUp {
    /// Search the question as asked.
    AsAsked,
    /// Search the previous turn's query followed by the question.
    Append,
    /// The answer model rewrites the question to stand alone (a short generation).
    Rewrite,
}

/// How the conversation before a follow-up reaches the answer model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpContext {
    /// The previous question and answer as earlier chat messages.
    Chat,
    /// Only the previous question, named inside the new question's message
    /// (the model cannot re-answer an earlier answer it does not see).
    InQuestion,
}

/// How an answer is produced. The defaults are calibrated on the public
/// evaluation set (docs/BENCHMARKS.md, "Answers"); the CLI and the desktop app
/// start from them.
#[derive(Debug, Clone)]
pub struct AskOptions {
    /// Passages retrieved; the evidence is chosen among their sentences.
    pub k: usize,
    /// How evidence sentences are chosen. `None` gives the model whole passages.
    pub evidence: Option<EvidenceOptions>,
    /// Upper bound on the answer's length in tokens.
    pub answer_tokens: usize,
    /// Minimum cosine similarity of the best passage for the question to count as
    /// on topic at all (below it, no model is asked).
    pub min_vector_score: f32,
    /// Whether the model is asked if the evidence answers the question.
    pub check_answerable: bool,
    /// Answerability probability below which the reply is "not in your documents".
    pub min_answerable: f32,
    pub follow_up: FollowUp,
    /// How the earlier turn reaches the model for a follow-up.
    pub follow_up_context: FollowUpContext,
    /// Whether the model's instructions let it reply "not in your documents"
    /// itself (besides the calibrated decision before it writes). Off by
    /// default: told it may refuse, the default model refuses answerable
    /// questions about as often as unanswerable ones (docs/BENCHMARKS.md).
    pub model_may_refuse: bool,
    /// Whether an answer none of whose sentences is supported by the passages
    /// it cites becomes "not in your documents" (the sentences stay in
    /// [`Answer::sentences`], marked unsupported).
    pub refuse_unsupported: bool,
    /// 0 answers deterministically (greedy decoding).
    pub temperature: f64,
    /// Seed for sampling when `temperature > 0`.
    pub seed: u64,
    /// Set from another thread to stop the answer.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Passages retrieved per question (see [`AskOptions::k`]).
pub const DEFAULT_PASSAGES: usize = 4;

/// Answers are asked to be one to three sentences; the bound only stops a small
/// model that rambles.
pub const DEFAULT_ANSWER_TOKENS: usize = 192;

/// Best-passage cosine below which a question is treated as not about the
/// documents at all.
pub const DEFAULT_MIN_VECTOR_SCORE: f32 = 0.30;

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            k: DEFAULT_PASSAGES,
            evidence: Some(EvidenceOptions::default()),
            answer_tokens: DEFAULT_ANSWER_TOKENS,
            min_vector_score: DEFAULT_MIN_VECTOR_SCORE,
            // The default model's own yes/no judgement does not tell answerable
            // from unanswerable questions apart (docs/BENCHMARKS.md), and asking
            // costs a prefill: off unless measured to help.
            check_answerable: false,
            min_answerable: answerability::DEFAULT_THRESHOLD,
            follow_up: FollowUp::Append,
            // Measured on the 64 follow-up turns of the public set: the expected
            // facts in 36 % of answers against 27 % with the earlier turn as chat
            // messages, which the default model often just answers again.
            follow_up_context: FollowUpContext::InQuestion,
            model_may_refuse: false,
            refuse_unsupported: true,
            temperature: 0.0,
            seed: 299_792_458,
            cancel: None,
        }
    }
}

impl AskOptions {
    fn gen_params(&self, answer_tokens: usize) -> GenParams {
        GenParams {
            max_new_tokens: answer_tokens,
            temperature: self.temperature,
            seed: self.seed,
            cancel: self.cancel.clone(),
            ..GenParams::default()
        }
    }
}

/// The reply when the documents do not hold the answer.
pub const NOT_IN_DOCUMENTS: &str = NO_ANSWER;

/// An earlier turn of the conversation, as a follow-up needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub question: String,
    /// The answer as shown (citation markers are removed before it is reused).
    pub answer: String,
    /// What was searched for it (the question itself unless it was a follow-up).
    pub searched_for: String,
}

/// Why the reply is "not in your documents".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// No passage is about the question (no model was asked).
    OffTopic { best_vector_score: Option<f32> },
    /// The evidence was judged not to answer it.
    NotAnswerable { probability: f32 },
    /// The model said so itself.
    ModelSaidSo,
    /// The model answered, but no sentence of its answer is supported by the
    /// passages it cites: the answer is withdrawn (its sentences are kept in
    /// [`Answer::sentences`]).
    Unsupported,
}

/// Passages chosen for a question, or the decision that there are none.
#[derive(Debug, Clone, Serialize)]
pub struct Retrieved {
    pub hits: Vec<SearchHit>,
    /// False when no passage is relevant enough; the model is then not called.
    pub answerable: bool,
    pub best_vector_score: Option<f32>,
}

/// What happens while a question is answered, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AskEvent {
    /// The query that is searched: the question itself, or for a follow-up the
    /// question rewritten to stand alone.
    Searched { query: String },
    /// The evidence found, before the model runs; `answerable` false means no
    /// model will be asked (the passages are not about the question).
    Evidence {
        evidence: Vec<Evidence>,
        answerable: bool,
    },
    /// The answer model is loading (first use, or another model was chosen).
    LoadingModel { name: String },
    /// The next piece of the answer's text.
    Token { text: String },
}

/// Receives [`AskEvent`]s; called from a blocking thread.
pub type AskEvents = Box<dyn FnMut(AskEvent) + Send>;

/// A finished answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The answer with `[n]` markers pointing into `citations`.
    pub answer: String,
    /// Each sentence and whether the evidence it cites supports it.
    pub sentences: Vec<SentenceSupport>,
    pub citations: Vec<Citation>,
    /// The model's name; empty when the model was not needed.
    pub model: String,
    /// False when the reply is "not in your documents".
    pub grounded: bool,
    /// Why it was refused, when it was.
    pub refusal: Option<Refusal>,
    /// What was searched (differs from the question for follow-ups).
    pub searched_for: String,
    /// The evidence given to the model; for a refusal, the nearest sources.
    pub evidence: Vec<Evidence>,
    pub answerability: Option<Answerability>,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the question to the evidence being sent.
    pub ms_to_evidence: f64,
    /// From the question to the first token of the reply.
    pub ms_to_first_token: f64,
    pub tokens_per_s: f64,
    /// Why generation ended; `None` when no answer was generated.
    pub finish: Option<FinishReason>,
    /// The evidence as the model saw it, numbered as in the prompt.
    pub passages: Vec<Passage>,
}

impl Answer {
    /// An answer not written yet: what was searched and the evidence found.
    fn before_model(searched_for: String, evidence: Vec<Evidence>) -> Self {
        Answer {
            answer: String::new(),
            sentences: Vec::new(),
            citations: Vec::new(),
            model: String::new(),
            grounded: false,
            refusal: None,
            searched_for,
            evidence,
            answerability: None,
            prompt_tokens: 0,
            generated_tokens: 0,
            ms_to_evidence: 0.0,
            ms_to_first_token: 0.0,
            tokens_per_s: 0.0,
            finish: None,
            passages: Vec::new(),
        }
    }

    /// Replaces a written answer with "not in your documents"; its sentences
    /// (with their support) and the evidence stay for the person to look at.
    fn withdraw(&mut self, why: Refusal) {
        self.answer = NOT_IN_DOCUMENTS.to_string();
        self.citations.clear();
        self.grounded = false;
        self.refusal = Some(why);
    }

    /// Whether some sentence is not supported by its evidence.
    pub fn has_unsupported(&self) -> bool {
        self.sentences.iter().any(|s| !s.supported)
    }
}

impl Evidence {
    /// The evidence as a prompt passage with the same number.
    pub fn passage(&self) -> Passage {
        Passage {
            n: self.n,
            path: self.path.clone(),
            page: self.page,
            start: self.start,
            end: self.end,
            heading_path: self.heading_path.clone(),
            text: self.text.clone(),
        }
    }
}

/// Whole passages as evidence, one span each (the model reads the passages).
fn whole_passages(hits: &[SearchHit]) -> Vec<Evidence> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| Evidence {
            n: i + 1,
            path: h.path.clone(),
            page: h.page,
            start: h.start,
            end: h.end,
            heading_path: h.heading_path.clone(),
            text: h.text.clone(),
            score: h.score,
            passage_rank: i + 1,
        })
        .collect()
}

/// Earlier turns as chat messages, markers removed (the model would copy
/// stale numbers otherwise). Only the last turn: small models lose track of
/// longer histories and every message costs prompt tokens.
fn prior_messages(history: &[Turn]) -> Vec<ChatMessage> {
    history
        .last()
        .map(|t| {
            vec![
                ChatMessage::user(t.question.clone()),
                ChatMessage::assistant(strip_markers(&t.answer)),
            ]
        })
        .unwrap_or_default()
}

fn strip_markers(text: &str) -> String {
    let cited = cairn_core::prompt::extract_citations(text, &[]);
    cited.text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The wall clock of one question, shared by the async and blocking parts.
struct Clock {
    started: Instant,
    first_token: Mutex<Option<f64>>,
}

impl Clock {
    fn ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1e3
    }

    fn token(&self) {
        let mut t = self.first_token.lock().unwrap_or_else(|p| p.into_inner());
        if t.is_none() {
            *t = Some(self.ms());
        }
    }

    fn first_token_ms(&self) -> f64 {
        self.first_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(0.0)
    }
}

impl Engine {
    /// Retrieves passages for `query` and decides whether they are on topic.
    pub async fn retrieve_for_answer(&self, query: &str, opts: &AskOptions) -> Result<Retrieved> {
        let hits = self.search(query, opts.k).await?;
        let best = hits
            .iter()
            .filter_map(|h| h.vector_score)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
        let answerable = best.is_some_and(|s| s >= opts.min_vector_score);
        Ok(Retrieved {
            hits,
            answerable,
            best_vector_score: best,
        })
    }

    /// The evidence for `query` among `hits` (see [`crate::evidence`]).
    pub async fn select_evidence(
        &self,
        query: &str,
        hits: &[SearchHit],
        opts: &Option<EvidenceOptions>,
    ) -> Result<Vec<Evidence>> {
        let Some(eo) = opts else {
            return Ok(whole_passages(hits));
        };
        let mut cands = evidence::candidates(query, hits, eo);
        if eo.semantic_weight > 0.0 && !cands.is_empty() {
            let embedder = self.embedder.clone();
            let texts: Vec<String> = cands.iter().map(|c| c.text.clone()).collect();
            let q = query.to_string();
            let (qv, vs) = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Ok::<_, cairn_core::EmbedError>((
                    embedder.embed_query(&q)?,
                    embedder.embed_passages(&refs)?,
                ))
            })
            .await??;
            evidence::add_semantic(&mut cands, &qv, &vs, eo);
        }
        Ok(evidence::select(hits, &cands, eo))
    }

    /// Answers `question` from the documents, after the conversation `history`
    /// (oldest first; empty for a first question). Events stream through
    /// `on_event` as they happen; see the module docs for the steps.
    pub async fn ask(
        &self,
        question: &str,
        history: &[Turn],
        opts: &AskOptions,
        model: &Arc<AnswerModel>,
        on_event: AskEvents,
    ) -> Result<Answer> {
        let clock = Arc::new(Clock {
            started: Instant::now(),
            first_token: Mutex::new(None),
        });
        let question = question.trim().to_string();
        if question.is_empty() {
            return Err(EngineError::EmptyQuestion);
        }
        let on_event = Arc::new(Mutex::new(on_event));
        let emit = {
            let on_event = on_event.clone();
            let clock = clock.clone();
            move |e: AskEvent| {
                if matches!(e, AskEvent::Token { .. }) {
                    clock.token();
                }
                let mut f = on_event.lock().unwrap_or_else(|p| p.into_inner());
                f(e)
            }
        };

        // 1. The query.
        let query = match (history.last(), opts.follow_up) {
            (None, _) | (_, FollowUp::AsAsked) => question.clone(),
            (Some(last), FollowUp::Append) => format!("{} {}", last.searched_for, question),
            (Some(_), FollowUp::Rewrite) => {
                let (model, turns, q, emit) = (
                    model.clone(),
                    history.to_vec(),
                    question.clone(),
                    emit.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    let mut guard = model.ensure(&mut |name| {
                        emit(AskEvent::LoadingModel {
                            name: name.to_string(),
                        })
                    })?;
                    rewrite(guard.model(), &turns, &q)
                })
                .await??
            }
        };
        emit(AskEvent::Searched {
            query: query.clone(),
        });

        // 2. Retrieval and evidence.
        let retrieved = self.retrieve_for_answer(&query, opts).await?;
        let evidence = self
            .select_evidence(&query, &retrieved.hits, &opts.evidence)
            .await?;
        let ms_to_evidence = clock.ms();
        emit(AskEvent::Evidence {
            evidence: evidence.clone(),
            answerable: retrieved.answerable,
        });
        let mut answer = Answer::before_model(query.clone(), evidence);
        answer.ms_to_evidence = ms_to_evidence;

        // The answerability signals that need no model.
        let evidence_passages: Vec<Passage> =
            answer.evidence.iter().map(Evidence::passage).collect();
        let evidence_score = answer.evidence.iter().map(|e| e.score).fold(0.0, f32::max);
        let lexical = answerability::lexical_signals(
            &query,
            &evidence_passages,
            retrieved.best_vector_score,
            evidence_score,
        );
        answer.answerability = Some(answerability::judge(lexical.clone(), opts.min_answerable));

        // 3. Off topic: no model.
        if !retrieved.answerable {
            emit(AskEvent::Token {
                text: NOT_IN_DOCUMENTS.to_string(),
            });
            answer.answer = NOT_IN_DOCUMENTS.to_string();
            answer.refusal = Some(Refusal::OffTopic {
                best_vector_score: retrieved.best_vector_score,
            });
            answer.ms_to_first_token = clock.first_token_ms();
            return Ok(answer);
        }

        // 4 and 5, with the model.
        let (prompt_question, prior) = match (history.last(), opts.follow_up) {
            (None, _) => (question.clone(), Vec::new()),
            (Some(_), FollowUp::Rewrite) => (query.clone(), prior_messages(history)),
            (Some(last), _) => match opts.follow_up_context {
                FollowUpContext::Chat => (question.clone(), prior_messages(history)),
                FollowUpContext::InQuestion => (
                    format!(
                        "{} (This follows my earlier question: {})",
                        question.trim(),
                        last.question.trim()
                    ),
                    Vec::new(),
                ),
            },
        };
        let (model, opts2, emit2, clock2) =
            (model.clone(), opts.clone(), emit.clone(), clock.clone());
        let q_terms_question = query.clone();
        let mut answer = tokio::task::spawn_blocking(move || {
            let mut guard = model.ensure(&mut |name| {
                emit2(AskEvent::LoadingModel {
                    name: name.to_string(),
                })
            })?;
            generate(
                guard.model(),
                GenerateInput {
                    prior: &prior,
                    question: &prompt_question,
                    query: &q_terms_question,
                    signals: lexical,
                    opts: &opts2,
                },
                answer,
                &mut |piece| {
                    emit2(AskEvent::Token {
                        text: piece.to_string(),
                    });
                    ControlFlow::Continue(())
                },
            )
        })
        .await??;
        answer.ms_to_first_token = clock2.first_token_ms();
        Ok(answer)
    }
}

/// Rewrites a follow-up to stand alone with the model; falls back to the
/// question as asked when the model's reply is unusable.
fn rewrite(model: &mut LocalModel, history: &[Turn], question: &str) -> Result<String> {
    let turns: Vec<(String, String)> = history
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|t| (t.searched_for.clone(), strip_markers(&t.answer)))
        .collect();
    let messages = rewrite_messages(&turns, question);
    let params = GenParams {
        max_new_tokens: 48,
        ..GenParams::default()
    };
    let mut text = String::new();
    model
        .chat(&messages, &params, &mut |piece| {
            text.push_str(piece);
            if text.contains('\n') {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(|source| EngineError::Generation { source })?;
    let line = text.lines().next().unwrap_or("").trim();
    let line = line
        .strip_prefix("Rewritten question:")
        .or_else(|| line.strip_prefix("Question:"))
        .unwrap_or(line)
        .trim()
        .trim_matches('"')
        .trim();
    if line.chars().filter(|c| c.is_alphanumeric()).count() < 4 || line.len() > 400 {
        return Ok(question.to_string());
    }
    Ok(line.to_string())
}

struct GenerateInput<'a> {
    prior: &'a [ChatMessage],
    /// The question as the model reads it.
    question: &'a str,
    /// The question as searched (its words are what the evidence must cover).
    query: &'a str,
    /// The answerability signals measured without the model.
    signals: answerability::Signals,
    opts: &'a AskOptions,
}

/// Steps 4 and 5 of [`Engine::ask`] with a loaded model: answerability, the
/// streamed answer, citations and the support check.
fn generate(
    model: &mut LocalModel,
    input: GenerateInput<'_>,
    mut answer: Answer,
    on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Answer> {
    let GenerateInput {
        prior,
        question,
        query,
        mut signals,
        opts,
    } = input;
    answer.model = model.info().name.clone();
    let ranked: Vec<Passage> = answer.evidence.iter().map(Evidence::passage).collect();
    let context = model.info().context_length;
    let answer_tokens = opts.answer_tokens.min(context / 2);
    let budget = context.saturating_sub(answer_tokens);
    let system = if opts.model_may_refuse {
        SYSTEM_PROMPT
    } else {
        SYSTEM_PROMPT_ANSWER_ONLY
    };
    let packed = pack(system, prior, question, &ranked, budget, 48, &mut |m| {
        model.count_chat_tokens(m)
    })?;
    answer.passages = packed.passages.clone();

    // 4. Answerability: the model's own judgement when asked for, then the
    // calibrated decision over every signal.
    if opts.check_answerable {
        let grounded_ids = model
            .prompt_ids(&packed.messages)
            .map_err(|source| EngineError::Generation { source })?;
        let check_ids = model
            .prompt_ids(&answerable_check_messages(&packed.messages))
            .map_err(|source| EngineError::Generation { source })?;
        let ids = answerability::ModelTokens::of(model.tokenizer());
        let yes_no = model
            .next_token_probs(&check_ids, &ids.yes_no())
            .map_err(|source| EngineError::Generation { source })?;
        signals.p_yes = Some(ids.p_yes(&yes_no));
        let first = model
            .next_token_probs(&grounded_ids, &ids.refusal_start())
            .map_err(|source| EngineError::Generation { source })?;
        signals.p_refusal_start = Some(first.iter().sum());
    }
    let verdict = answerability::judge(signals, opts.min_answerable);
    answer.answerability = Some(verdict.clone());
    if !verdict.answerable {
        let _ = on_token(NOT_IN_DOCUMENTS);
        answer.answer = NOT_IN_DOCUMENTS.to_string();
        answer.refusal = Some(Refusal::NotAnswerable {
            probability: verdict.probability,
        });
        return Ok(answer);
    }

    // 5. The answer.
    let params = opts.gen_params(answer_tokens);
    let mut text = String::new();
    let stats = model
        .chat(&packed.messages, &params, &mut |piece| {
            text.push_str(piece);
            on_token(piece)
        })
        .map_err(|source| EngineError::Generation { source })?;
    let cited = cite(&text, &packed.passages);
    answer.answer = cited.text.trim().to_string();
    answer.citations = cited.citations;
    answer.prompt_tokens = stats.prompt_tokens;
    answer.generated_tokens = stats.generated_tokens;
    answer.tokens_per_s = stats.tokens_per_s;
    answer.finish = Some(stats.finish);
    if says_no_answer(&answer.answer) {
        answer.refusal = Some(Refusal::ModelSaidSo);
        return Ok(answer);
    }
    answer.grounded = true;
    // Each sentence against the evidence it cites; a right sentence with a
    // wrong marker is re-cited, so the citations are taken again after.
    let (checked, sentences) = support::check(&answer.answer, query, &packed.passages);
    answer.citations = cairn_core::prompt::extract_citations(&checked, &packed.passages).citations;
    answer.answer = checked;
    answer.sentences = sentences;
    if opts.refuse_unsupported
        && !answer.sentences.is_empty()
        && answer.sentences.iter().all(|s| !s.supported)
    {
        answer.withdraw(Refusal::Unsupported);
    }
    Ok(answer)
}

/// Answers from passages already retrieved, with a model the caller holds:
/// the evidence is the whole passages and no answerability check runs. For
/// tests of the prompt itself; shells use [`Engine::ask`].
pub fn answer(
    model: &mut LocalModel,
    question: &str,
    retrieved: &Retrieved,
    opts: &AskOptions,
    on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Answer> {
    let answer = Answer::before_model(question.to_string(), whole_passages(&retrieved.hits));
    if !retrieved.answerable {
        let _ = on_token(NOT_IN_DOCUMENTS);
        return Ok(Answer {
            answer: NOT_IN_DOCUMENTS.to_string(),
            refusal: Some(Refusal::OffTopic {
                best_vector_score: retrieved.best_vector_score,
            }),
            ..answer
        });
    }
    let opts = AskOptions {
        check_answerable: false,
        min_answerable: 0.0,
        ..opts.clone()
    };
    let started = Instant::now();
    let mut first = None;
    let mut a = generate(
        model,
        GenerateInput {
            prior: &[],
            question,
            query: question,
            signals: answerability::Signals {
                best_vector_score: retrieved.best_vector_score,
                coverage: 1.0,
                ..Default::default()
            },
            opts: &opts,
        },
        answer,
        &mut |piece| {
            first.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1e3);
            on_token(piece)
        },
    )?;
    a.ms_to_first_token = first.unwrap_or(0.0);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_answers_reach_the_model_without_their_markers() {
        let history = vec![Turn {
            question: "What block size does bzip2 use?".into(),
            answer: "It uses 900k blocks [1] by default [2, 3].".into(),
            searched_for: "What block size does bzip2 use?".into(),
        }];
        let prior = prior_messages(&history);
        assert_eq!(prior.len(), 2);
        assert_eq!(prior[1].content, "It uses 900k blocks by default.");
        assert!(prior_messages(&[]).is_empty());
    }
}
