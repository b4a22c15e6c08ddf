//! Grounded answers: retrieve passages, pack them into the model's context, stream
//! the answer, and map its `[n]` markers back to files and pages.
//!
//! Retrieval is async (it touches the stores); generation is synchronous and
//! CPU-bound, so callers run [`answer`] on a blocking thread or a model thread.

use crate::{Engine, EngineError, Result};
use cairn_core::prompt::{cite, pack, says_no_answer, Citation, Passage};
use cairn_core::SearchHit;
use cairn_llm::{FinishReason, GenParams, LocalModel};
use serde::Serialize;
use std::ops::ControlFlow;

/// The reply given without calling the model when nothing relevant was found; the
/// same sentence the model is told to use, so callers can treat both alike.
pub const NOT_IN_DOCUMENTS: &str = cairn_core::prompt::NO_ANSWER;

/// How an answer is produced.
#[derive(Debug, Clone)]
pub struct AskOptions {
    /// Passages retrieved (and offered to the packer, best first).
    pub k: usize,
    /// Tokens reserved for the answer; the prompt gets the rest of the context.
    pub answer_tokens: usize,
    /// Minimum cosine similarity of the best passage for the question to count as
    /// answerable. Calibrated on tests/eval (see docs/BENCHMARKS.md).
    pub min_vector_score: f32,
    pub gen: GenParams,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            // Four passages: on tests/eval the top 4 hold every expected fact for
            // 58 of 67 questions, the top 5 or 6 for 60 (docs/BENCHMARKS.md,
            // "Answers"), and every passage costs prompt tokens, which are most of
            // the time to first token on a CPU.
            k: 4,
            // Answers are asked to be one to three sentences; the bound only stops
            // a small model that rambles.
            answer_tokens: 192,
            min_vector_score: DEFAULT_MIN_VECTOR_SCORE,
            gen: GenParams {
                max_new_tokens: 192,
                ..GenParams::default()
            },
        }
    }
}

/// Best-passage cosine below which a question is treated as not covered by the
/// documents.
pub const DEFAULT_MIN_VECTOR_SCORE: f32 = 0.30;

/// Passages chosen for a question, or the decision that there are none.
#[derive(Debug, Clone, Serialize)]
pub struct Retrieved {
    pub hits: Vec<SearchHit>,
    /// False when no passage is relevant enough; the model is then not called.
    pub answerable: bool,
    pub best_vector_score: Option<f32>,
}

/// A finished answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answer: String,
    pub citations: Vec<Citation>,
    pub model: String,
    /// False when the documents were judged not to contain the answer (no model call)
    /// or the model said so itself.
    pub grounded: bool,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub ms_to_first_token: f64,
    pub tokens_per_s: f64,
    /// Why generation ended; `None` when the model was not called.
    pub finish: Option<FinishReason>,
    /// The passages given to the model, numbered as in the prompt.
    pub passages: Vec<Passage>,
}

impl Engine {
    /// Retrieves passages for `question` and decides whether it is answerable.
    pub async fn retrieve_for_answer(
        &self,
        question: &str,
        opts: &AskOptions,
    ) -> Result<Retrieved> {
        let hits = self.search(question, opts.k).await?;
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
}

/// Packs the retrieved passages into the model's context and streams an answer.
/// `on_token` receives each piece of text; returning `Break` stops generation.
pub fn answer(
    model: &mut LocalModel,
    question: &str,
    retrieved: &Retrieved,
    opts: &AskOptions,
    on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Answer> {
    let model_name = model.info().name.clone();
    if !retrieved.answerable {
        let _ = on_token(NOT_IN_DOCUMENTS);
        return Ok(Answer {
            answer: NOT_IN_DOCUMENTS.to_string(),
            citations: Vec::new(),
            model: model_name,
            grounded: false,
            prompt_tokens: 0,
            generated_tokens: 0,
            ms_to_first_token: 0.0,
            tokens_per_s: 0.0,
            finish: None,
            passages: Vec::new(),
        });
    }
    let ranked: Vec<Passage> = retrieved
        .hits
        .iter()
        .enumerate()
        .map(|(i, h)| Passage::from_hit(i + 1, h))
        .collect();
    let context = model.info().context_length;
    let answer_tokens = opts.answer_tokens.min(context / 2);
    let budget = context.saturating_sub(answer_tokens);
    let packed = pack(question, &ranked, budget, 48, &mut |m| {
        model.count_chat_tokens(m)
    })
    .map_err(|e| EngineError::Answer(e.to_string()))?;
    let mut params = opts.gen.clone();
    params.max_new_tokens = params.max_new_tokens.min(answer_tokens);
    let mut text = String::new();
    let stats = model
        .chat(&packed.messages, &params, &mut |piece| {
            text.push_str(piece);
            on_token(piece)
        })
        .map_err(|e| EngineError::Answer(e.to_string()))?;
    let cited = cite(&text, &packed.passages);
    let grounded = !says_no_answer(&cited.text);
    Ok(Answer {
        answer: cited.text.trim().to_string(),
        citations: cited.citations,
        model: model_name,
        grounded,
        prompt_tokens: stats.prompt_tokens,
        generated_tokens: stats.generated_tokens,
        ms_to_first_token: stats.ms_to_first_token,
        tokens_per_s: stats.tokens_per_s,
        finish: Some(stats.finish),
        passages: packed.passages,
    })
}
