//! Grounded answers with the real default answer model over the fixture corpus:
//! the "done when" checks of issue 3.

use super::{engine, fixture, ingest};
use cairn_engine::ask::{answer, AskOptions, NOT_IN_DOCUMENTS};
use cairn_llm::FinishReason;
use std::ops::ControlFlow;

/// The model `cairn ask` uses when none is given, so this test checks what a
/// user gets.
fn default_model() -> cairn_llm::LocalModel {
    let dir = cairn_embed::default_models_dir();
    let path = cairn_llm::default_answer_model(&dir).unwrap_or_else(|| {
        panic!(
            "the default answer model is required for this test (run models/fetch.sh): {}",
            dir.display()
        )
    });
    let opts = cairn_llm::LoadOptions {
        requantized_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    cairn_llm::LocalModel::load(&path, &opts).expect("load the default answer model")
}

#[tokio::test(flavor = "multi_thread")]
async fn default_model_streams_a_cited_answer_and_says_when_documents_do_not_know() {
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;
    let mut model = default_model();
    // Few passages keep the prompt, and so the test, short on a 2-core machine.
    let mut opts = AskOptions {
        k: 3,
        ..Default::default()
    };
    opts.gen.max_new_tokens = 96;

    let question = "How many bells are in the brass bell collection?";
    let retrieved = e
        .retrieve_for_answer(question, &opts)
        .await
        .expect("retrieve");
    assert!(retrieved.answerable, "{retrieved:#?}");
    let mut pieces = Vec::new();
    let reply = tokio::task::block_in_place(|| {
        answer(&mut model, question, &retrieved, &opts, &mut |p| {
            pieces.push(p.to_string());
            ControlFlow::Continue(())
        })
    })
    .expect("answer");
    assert!(
        pieces.len() > 3,
        "tokens should stream one by one, got {pieces:?}"
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
    let retrieved = e
        .retrieve_for_answer(off_topic, &opts)
        .await
        .expect("retrieve");
    let mut streamed = String::new();
    let reply = answer(&mut model, off_topic, &retrieved, &opts, &mut |p| {
        streamed.push_str(p);
        ControlFlow::Continue(())
    })
    .expect("answer");
    assert_eq!(reply.answer, NOT_IN_DOCUMENTS);
    assert_eq!(streamed, NOT_IN_DOCUMENTS);
    assert!(!reply.grounded && reply.citations.is_empty());
    assert_eq!(reply.finish, None, "the model must not be called");
}
