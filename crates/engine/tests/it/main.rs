//! End-to-end engine tests over real fixtures, with the real embedding model, a real
//! LanceDB directory and a real tantivy index.

use cairn_engine::{CancelFlag, Engine, EngineConfig, IngestReport, OpenMode, SearchMode};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

mod answers;
mod hostile;
mod injection;
mod ocr;
#[path = "../../../../tests/support/models.rs"]
mod support_models;
mod upgrade;

/// The crates below the engine find the installed models with a test helper;
/// it must follow the engine's rule, the one the app and the CLI use.
#[test]
fn the_test_helper_finds_the_models_where_the_engine_looks() {
    assert_eq!(
        support_models::installed_models_dir(),
        cairn_engine::models::default_models_dir()
    );
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// One embedder for the whole test binary: loading it is the slow part.
fn embedder() -> Arc<dyn cairn_engine::Embedder> {
    static E: OnceLock<Arc<dyn cairn_engine::Embedder>> = OnceLock::new();
    E.get_or_init(|| {
        cairn_engine::ModelsDir::default()
            .embedder()
            .unwrap_or_else(|e| {
                panic!("the embedding model is required for these tests (run models/fetch.sh): {e}")
            })
    })
    .clone()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    docs: PathBuf,
    data: PathBuf,
}

/// A private copy of the fixture documents (tests edit and delete files) and an
/// empty data directory.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let docs = tmp.path().join("docs");
    copy_dir(&fixtures().join("docs"), &docs);
    let data = tmp.path().join("data");
    Fixture {
        docs: std::fs::canonicalize(&docs).expect("canonical"),
        data,
        _tmp: tmp,
    }
}

async fn engine(data: &Path) -> Engine {
    Engine::open(EngineConfig::new(data), embedder(), OpenMode::Write)
        .await
        .expect("open engine")
}

async fn ingest(engine: &Engine, paths: &[PathBuf]) -> IngestReport {
    let cancel: CancelFlag = Arc::default();
    engine
        .ingest(paths, &|_| {}, &cancel)
        .await
        .expect("ingest runs")
}

fn rel(path: &str, root: &Path) -> String {
    Path::new(path)
        .strip_prefix(root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

#[tokio::test]
async fn unique_phrase_on_pdf_page_is_top_hit_with_that_page() {
    let f = fixture();
    let e = engine(&f.data).await;
    let report = ingest(&e, std::slice::from_ref(&f.docs)).await;
    assert!(report.indexed >= 8, "{report:#?}");
    for (query, page) in [
        ("heron nests beside the flooded quarry", 1),
        ("copper kettles whistle in the lighthouse kitchen", 2),
        ("photosynthesis turns light into sugar", 3),
        ("glaciers carve fjords into granite", 4),
        ("night train to Tromsø", 5),
    ] {
        let hits = e.search(query, 3).await.expect("search");
        let top = hits.first().expect("a hit");
        assert_eq!(
            rel(&top.path, &f.docs),
            "guide.pdf",
            "query {query:?}: {hits:#?}"
        );
        assert_eq!(top.page, Some(page), "query {query:?}");
        // The span points at the passage in the page text.
        assert!(top.end > top.start);
    }
}

#[tokio::test]
async fn reingesting_unchanged_files_adds_nothing() {
    let f = fixture();
    let e = engine(&f.data).await;
    let first = ingest(&e, std::slice::from_ref(&f.docs)).await;
    let before = e.stats().await.expect("stats");
    let second = ingest(&e, std::slice::from_ref(&f.docs)).await;
    let after = e.stats().await.expect("stats");
    assert_eq!(second.indexed, 0, "{second:#?}");
    assert_eq!(second.unchanged, first.indexed);
    assert_eq!(before, after);
    assert_eq!(after.vector_rows as u64, after.catalogue_chunks);
    assert_eq!(after.keyword_docs, after.catalogue_chunks);

    // A touched file with identical content is recognised by its hash.
    let plain = f.docs.join("plain.txt");
    let body = std::fs::read(&plain).expect("read");
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&plain, body).expect("rewrite");
    let third = ingest(&e, std::slice::from_ref(&f.docs)).await;
    assert_eq!(third.indexed, 0, "{third:#?}");
    assert_eq!(e.stats().await.expect("stats"), after);
}

#[tokio::test]
async fn edited_file_replaces_its_chunks_and_deleted_file_is_removed() {
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;
    let notes = f.docs.join("notes.md");
    assert!(!e
        .search("coffee grounds compost worms", 3)
        .await
        .expect("search")
        .is_empty());

    std::fs::write(
        &notes,
        "# Garden Notebook\n\nThe tortoise hibernates in a crate of dry leaves under the stairs.\n",
    )
    .expect("edit");
    let report = ingest(&e, std::slice::from_ref(&f.docs)).await;
    assert_eq!(report.indexed, 1, "{report:#?}");
    let hits = e
        .search("worms prefer coffee grounds", 5)
        .await
        .expect("search");
    assert!(
        hits.iter().all(|h| !h.text.contains("coffee grounds")),
        "old text still found: {hits:#?}"
    );
    let hits = e
        .search("where does the tortoise hibernate", 1)
        .await
        .expect("search");
    assert_eq!(rel(&hits[0].path, &f.docs), "notes.md");

    std::fs::remove_file(&notes).expect("delete");
    let report = ingest(&e, std::slice::from_ref(&f.docs)).await;
    assert_eq!(report.removed, 1, "{report:#?}");
    let hits = e.search("tortoise hibernates", 5).await.expect("search");
    assert!(
        hits.iter().all(|h| !h.path.ends_with("notes.md")),
        "{hits:#?}"
    );
    let stats = e.stats().await.expect("stats");
    assert_eq!(stats.vector_rows as u64, stats.catalogue_chunks);
    assert_eq!(stats.keyword_docs, stats.catalogue_chunks);
}

#[tokio::test]
async fn bad_files_fail_one_by_one_and_the_rest_is_indexed() {
    let f = fixture();
    let bad = f.docs.join("bad");
    copy_dir(&fixtures().join("bad"), &bad);
    let e = engine(&f.data).await;
    let report = ingest(&e, std::slice::from_ref(&f.docs)).await;
    let failed: Vec<(String, String)> = report
        .failed
        .iter()
        .map(|x| (rel(&x.path, &f.docs), x.error.clone()))
        .collect();
    for name in [
        "bad/garbled.pdf",
        "bad/truncated.pdf",
        "bad/encrypted.pdf",
        "bad/empty.txt",
        "bad/binary.txt",
    ] {
        let (_, error) = failed
            .iter()
            .find(|(p, _)| p == name)
            .unwrap_or_else(|| panic!("{name} should fail: {failed:#?}"));
        assert!(error.contains(name.trim_start_matches("bad/")), "{error}");
    }
    // Every good document is still indexed.
    let docs: Vec<String> = e
        .documents()
        .iter()
        .map(|d| rel(&d.path, &f.docs))
        .collect();
    for good in [
        "guide.pdf",
        "notes.md",
        "page.html",
        "plain.txt",
        "code/tokenize.rs",
    ] {
        assert!(
            docs.contains(&good.to_string()),
            "{good} missing from {docs:?}"
        );
    }
    assert!(docs.iter().all(|d| !d.starts_with("bad/")), "{docs:?}");
}

#[tokio::test]
async fn identifier_and_paraphrase_queries_find_the_right_passage() {
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;

    let hits = e.search("asn1_der_coding", 3).await.expect("search");
    assert_eq!(rel(&hits[0].path, &f.docs), "code/tokenize.rs", "{hits:#?}");
    assert_eq!(hits[0].bm25_rank, Some(1));

    // No word of the question appears in the passage about the heron.
    let hits = e
        .search("where do the wading birds breed?", 3)
        .await
        .expect("search");
    assert!(
        hits.iter()
            .take(3)
            .any(|h| h.page == Some(1) && h.path.ends_with("guide.pdf")),
        "{hits:#?}"
    );

    // Component ranks are reported, and each mode only uses its own retriever.
    let fusion = e.config().fusion;
    let bm25 = e
        .search_with("heron quarry", 3, SearchMode::Bm25, &fusion)
        .await
        .expect("bm25");
    assert!(bm25
        .iter()
        .all(|h| h.vector_rank.is_none() && h.bm25_rank.is_some()));
    let vector = e
        .search_with("heron quarry", 3, SearchMode::Vector, &fusion)
        .await
        .expect("vector");
    assert!(vector
        .iter()
        .all(|h| h.bm25_rank.is_none() && h.vector_rank.is_some()));
}

#[tokio::test]
async fn removing_a_document_and_reopening_keeps_the_stores_in_agreement() {
    let f = fixture();
    {
        let e = engine(&f.data).await;
        ingest(&e, std::slice::from_ref(&f.docs)).await;
        let n = e.remove(&[f.docs.join("guide.pdf")]).await.expect("remove");
        assert_eq!(n, 1);
    }
    let e = Engine::open(EngineConfig::new(&f.data), embedder(), OpenMode::Read)
        .await
        .expect("reopen");
    let hits = e
        .search("heron nests beside the flooded quarry", 5)
        .await
        .expect("search");
    assert!(
        hits.iter().all(|h| !h.path.ends_with("guide.pdf")),
        "{hits:#?}"
    );
    let stats = e.stats().await.expect("stats");
    assert_eq!(stats.vector_rows as u64, stats.catalogue_chunks);
    assert_eq!(stats.keyword_docs, stats.catalogue_chunks);
}

fn answer_model() -> PathBuf {
    let p = cairn_engine::models::default_models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.is_file(),
        "the answer model is required for these tests (run models/fetch.sh): {}",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_streams_a_grounded_answer_and_refuses_off_topic_questions() {
    use cairn_engine::ask::{answer, AskOptions, NOT_IN_DOCUMENTS};
    let f = fixture();
    let e = engine(&f.data).await;
    ingest(&e, std::slice::from_ref(&f.docs)).await;
    let opts = AskOptions {
        answer_tokens: 40,
        ..AskOptions::default()
    };
    let mut model = cairn_engine::ModelsDir::default()
        .load_answer_model(&answer_model())
        .expect("load model");

    let retrieved = e
        .retrieve_for_answer("Where does the heron nest?", &opts)
        .await
        .expect("retrieve");
    assert!(retrieved.answerable, "{retrieved:#?}");
    let mut pieces = 0usize;
    let reply = answer(
        &mut model,
        "Where does the heron nest?",
        &retrieved,
        &opts,
        &mut |_| {
            pieces += 1;
            std::ops::ControlFlow::Continue(())
        },
    )
    .expect("answer");
    assert!(
        pieces > 3,
        "tokens should stream one by one, got {pieces} pieces"
    );
    assert!(reply.generated_tokens > 0 && reply.prompt_tokens > 0);
    assert!(!reply.answer.is_empty());
    // The passage holding the answer was given to the model, numbered, with its page.
    assert!(
        reply.passages.iter().any(|p| p.path.ends_with("guide.pdf")
            && p.page == Some(1)
            && p.text.contains("heron")),
        "{:#?}",
        reply.passages
    );
    // Every citation that survived points at a passage that was in the prompt.
    for c in &reply.citations {
        assert!(reply
            .passages
            .iter()
            .any(|p| p.path == c.path && p.page == c.page));
    }

    let off_topic = "What was the exchange rate of the Mongolian tugrik in 1953?";
    let retrieved = e
        .retrieve_for_answer(off_topic, &opts)
        .await
        .expect("retrieve");
    let mut called = false;
    let reply = answer(&mut model, off_topic, &retrieved, &opts, &mut |_| {
        called = true;
        std::ops::ControlFlow::Continue(())
    })
    .expect("answer");
    assert!(!retrieved.answerable, "{:?}", retrieved.best_vector_score);
    assert_eq!(reply.answer, NOT_IN_DOCUMENTS);
    assert_eq!(reply.generated_tokens, 0, "the model must not be called");
    assert!(called, "the refusal is still delivered through the stream");
}
