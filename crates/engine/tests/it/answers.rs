//! Grounded answers with the real default answer model over the fixture corpus,
//! through [`Engine::ask`] exactly as the CLI and the desktop app call it.

use super::{engine, fixture, ingest};
use cairn_engine::ask::{AskEvent, AskOptions, Refusal, NOT_IN_DOCUMENTS};
use cairn_engine::{AnswerModel, FinishReason, ModelsDir};
use std::sync::{Arc, Mutex};

/// The answer model `cairn ask` uses when none is given, so this test checks
/// what a user gets.
fn default_model() -> Arc<AnswerModel> {
    let models = ModelsDir::default();
    assert!(
        models.default_answer_model().is_some(),
        "the default answer model is required for this test (run models/fetch.sh): {}",
        models.path().display()
    );
    Arc::new(AnswerModel::new(models, None))
}

/// Collects the events of one answer.
fn recorder() -> (Arc<Mutex<Vec<AskEvent>>>, cairn_engine::ask::AskEvents) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (
        events,
        Box::new(move |e| sink.lock().expect("events").push(e)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn default_model_streams_a_cited_answer_and_says_when_documents_do_not_know() {
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;
    let model = default_model();
    // Few passages keep the prompt, and so the test, short on a 2-core machine.
    let opts = AskOptions {
        k: 3,
        answer_tokens: 96,
        ..Default::default()
    };

    let question = "How many bells are in the brass bell collection?";
    let (events, sink) = recorder();
    let reply = e
        .ask(question, &[], &opts, &model, sink)
        .await
        .expect("answer");
    let events = events.lock().expect("events").clone();
    // The query, then the evidence, both before the model's first word.
    assert_eq!(
        events.first(),
        Some(&AskEvent::Searched {
            query: question.to_string()
        })
    );
    match events.get(1) {
        Some(AskEvent::Evidence {
            evidence,
            answerable: true,
        }) => assert!(
            evidence.iter().any(|e| e.text.contains("forty-two bells")),
            "{evidence:#?}"
        ),
        other => panic!("evidence must come second: {other:?}"),
    }
    let pieces = events
        .iter()
        .filter(|e| matches!(e, AskEvent::Token { .. }))
        .count();
    assert!(
        pieces > 3,
        "tokens should stream one by one, got {events:?}"
    );
    assert_eq!(
        reply.finish,
        Some(FinishReason::Stop),
        "the answer should end at the stop token well before the limit: {reply:#?}"
    );
    let lower = reply.answer.to_lowercase();
    assert!(
        lower.contains("forty-two") || lower.contains("42"),
        "{reply:#?}"
    );
    assert!(
        reply
            .citations
            .iter()
            .any(|c| c.path.ends_with("plain.txt") && c.text.contains("forty-two bells")),
        "a citation must point at the passage holding the answer: {reply:#?}"
    );

    // A question the documents do not cover gets the fixed reply, through the
    // same stream, without running the model.
    let off_topic = "What was the exchange rate of the Mongolian tugrik in 1953?";
    let (events, sink) = recorder();
    let reply = e
        .ask(off_topic, &[], &opts, &model, sink)
        .await
        .expect("answer");
    let events = events.lock().expect("events").clone();
    assert_eq!(reply.answer, NOT_IN_DOCUMENTS);
    assert_eq!(
        events.last(),
        Some(&AskEvent::Token {
            text: NOT_IN_DOCUMENTS.to_string()
        })
    );
    assert!(!reply.grounded && reply.citations.is_empty());
    assert_eq!(reply.finish, None, "the model must not be called");
}

/// A question the documents are not about never waits for a model: with no
/// answer model installed at all, it is still answered.
#[tokio::test(flavor = "multi_thread")]
async fn an_off_topic_question_needs_no_model() {
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;
    let empty = tempfile::tempdir().expect("tempdir");
    let model = Arc::new(AnswerModel::new(ModelsDir::new(empty.path()), None));
    let reply = e
        .ask(
            "What was the exchange rate of the Mongolian tugrik in 1953?",
            &[],
            &AskOptions::default(),
            &model,
            Box::new(|_| {}),
        )
        .await
        .expect("no model is needed to say the documents do not know");
    assert_eq!(reply.answer, NOT_IN_DOCUMENTS);
    // An on-topic question does need one, and says which folder lacks it.
    let err = e
        .ask(
            "How many bells are in the brass bell collection?",
            &[],
            &AskOptions::default(),
            &model,
            Box::new(|_| {}),
        )
        .await
        .expect_err("no answer model is installed");
    assert!(err.to_string().contains("no answer model"), "{err}");
}

/// A question on the documents' topic that they do not answer: the default
/// model invents a figure, no passage supports it, and the reply is "not in
/// your documents" with the nearest sources; the invented sentence is kept,
/// marked unsupported, for whoever wants to see what was withdrawn. With the
/// withdrawal turned off the same sentence is shown but marked.
#[tokio::test(flavor = "multi_thread")]
async fn an_in_domain_question_the_documents_do_not_answer_is_refused_with_nearest_sources() {
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;
    let model = default_model();
    let opts = AskOptions {
        k: 3,
        answer_tokens: 64,
        ..Default::default()
    };
    let question = "How much did the new bottom bracket for the green tandem cost?";
    let reply = e
        .ask(question, &[], &opts, &model, Box::new(|_| {}))
        .await
        .expect("answer");
    assert_eq!(reply.answer, NOT_IN_DOCUMENTS, "{reply:#?}");
    assert!(!reply.grounded && reply.citations.is_empty(), "{reply:#?}");
    assert!(
        matches!(
            reply.refusal,
            Some(Refusal::Unsupported | Refusal::NotAnswerable { .. })
        ),
        "{reply:#?}"
    );
    assert!(
        reply
            .evidence
            .iter()
            .any(|ev| ev.path.ends_with("plain.txt") && ev.text.contains("bottom bracket")),
        "the nearest source is the maintenance log: {reply:#?}"
    );

    // Every refusal rule off: the model's answer is shown, its invented
    // sentence marked.
    let keep = AskOptions {
        refuse_unsupported: false,
        min_answerable: 0.0,
        ..opts
    };
    let reply = e
        .ask(question, &[], &keep, &model, Box::new(|_| {}))
        .await
        .expect("answer");
    assert!(reply.grounded && reply.refusal.is_none(), "{reply:#?}");
    assert!(
        reply.has_unsupported(),
        "a cost the log never states must be marked unsupported: {reply:#?}"
    );
}
