//! Indexes written by earlier releases open with this one and keep everything.
//!
//! `tests/fixtures/index-format-N/` is what the release that introduced index
//! format N wrote (made once by `tests/fixtures/make_index_fixture.sh`, never
//! regenerated). Each is copied, opened for writing as the app does after an
//! upgrade, searched, written to and reopened. A later format must pass this
//! test for every older fixture: upgraded in place, or rebuilt, never lost.
//!
//! Format 1 was written with the fp32 embedding graph; this release runs the int8
//! one, so opening it also re-embeds it (`cairn_engine::upgrade`), which the tests
//! below check, including after a kill in the middle.

use super::*;
use std::sync::Mutex;

/// The document every fixture indexed, at the path its catalogue records.
const RECORDED: &str = "/tmp/cairn-index-fixture/field-notes.md";

fn format_fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("index-format-"))
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn there_is_a_fixture_for_the_current_format() {
    let current = fixtures().join(format!("index-format-{}", cairn_engine::INDEX_FORMAT));
    assert!(
        current.is_dir(),
        "no {} (run tests/fixtures/make_index_fixture.sh with this release and commit it)",
        current.display()
    );
}

#[tokio::test]
async fn an_index_from_an_earlier_release_opens_searches_and_takes_new_documents() {
    let dirs = format_fixtures();
    assert!(!dirs.is_empty());
    for fixture_dir in dirs {
        let name = fixture_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        copy_dir(&fixture_dir, &data);

        let e = engine(&data).await;
        assert_uses_the_embedder(&data, &name);
        let docs = e.documents();
        assert_eq!(docs.len(), 1, "{name}: {docs:#?}");
        assert_eq!(docs[0].path, RECORDED, "{name}");
        assert_eq!(docs[0].chunks, 4, "{name}");
        let report = e.verify().await.expect("verify");
        assert!(report.consistent(), "{name}: {report:?}");

        // Both retrievers still find the old passages.
        let hits = e
            .search("when does the causeway flood at spring tide", 3)
            .await
            .expect("search");
        let top = hits.first().unwrap_or_else(|| panic!("{name}: no hit"));
        assert_eq!(top.path, RECORDED, "{name}: {hits:#?}");
        assert!(top.text.contains("north-east gale"), "{name}: {top:#?}");
        assert!(
            top.bm25_rank.is_some() && top.vector_rank.is_some(),
            "{name}: {top:#?}"
        );
        assert_eq!(top.heading_path.last().map(String::as_str), Some("Tides"));

        // New documents go into the same index beside the old ones.
        let new_dir = tmp.path().join("new");
        std::fs::create_dir_all(&new_dir).expect("mkdir");
        std::fs::copy(fixtures().join("docs/plain.txt"), new_dir.join("plain.txt")).expect("copy");
        let report = ingest(&e, std::slice::from_ref(&new_dir)).await;
        assert_eq!(report.indexed, 1, "{name}: {report:#?}");
        assert_eq!(e.documents().len(), 2, "{name}");
        drop(e);

        // Reopened read-only (as `cairn search` does): old and new are both there.
        let e = Engine::open(EngineConfig::new(&data), embedder(), OpenMode::Read)
            .await
            .expect("reopen");
        let old = e
            .search("samphire between the two creeks", 1)
            .await
            .expect("search");
        assert_eq!(
            old.first().map(|h| h.path.as_str()),
            Some(RECORDED),
            "{name}"
        );
        let new = e
            .search("forty-two bells in total", 1)
            .await
            .expect("search");
        assert!(
            new.first()
                .is_some_and(|h| h.path.ends_with("new/plain.txt")),
            "{name}: {new:#?}"
        );
        let report = e.verify().await.expect("verify");
        assert!(report.consistent(), "{name}: {report:?}");
    }
}

/// `meta.json` names the configured embedder, and the only vector folder left is
/// the one it points to.
fn assert_uses_the_embedder(data: &Path, name: &str) {
    let meta = cairn_store::read_meta(data)
        .expect("meta")
        .expect("meta.json exists");
    assert_eq!(meta.embed_model, embedder().model_id(), "{name}: {meta:?}");
    assert!(meta.reembed.is_none(), "{name}: {meta:?}");
    let folders: Vec<String> = std::fs::read_dir(data)
        .expect("read data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lance") && !n.contains(".damaged-"))
        .collect();
    assert_eq!(folders, vec![meta.vectors.clone()], "{name}");
}

/// The fixture's one document, with all 4 passages in a consistent index.
async fn assert_holds_the_fixture(e: &Engine) {
    let docs = e.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0].chunks, 4);
    let report = e.verify().await.expect("verify");
    assert!(report.consistent(), "{report:?}");
    assert_eq!(report.stats.vector_rows, 4, "{report:?}");
}

/// The format-1 fixture was built with the fp32 graph: a copy that needs re-embedding.
fn fp32_index(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    copy_dir(&fixtures().join("index-format-1"), &data);
    let meta = cairn_store::read_meta(&data).expect("meta").expect("meta");
    assert_eq!(meta.embed_model, "all-MiniLM-L6-v2@384");
    assert_ne!(meta.embed_model, embedder().model_id());
    data
}

#[tokio::test]
async fn reembedding_reports_progress_and_searches_like_a_fresh_index() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fp32_index(tmp.path());
    let seen = Mutex::new(Vec::new());
    let record = |p: &cairn_engine::UpgradeProgress| seen.lock().unwrap().push(p.clone());
    let e = Engine::open_with_progress(
        EngineConfig::new(&data),
        embedder(),
        OpenMode::Write,
        &record,
    )
    .await
    .expect("open");
    let seen = seen.into_inner().unwrap();
    let (first, last) = (seen.first().expect("progress"), seen.last().unwrap());
    assert_eq!((first.done, first.total), (0, 4), "{seen:?}");
    assert_eq!((last.done, last.total), (4, 4), "{seen:?}");
    assert_eq!(first.from_model, "all-MiniLM-L6-v2@384");
    assert_eq!(first.to_model, embedder().model_id());
    assert_uses_the_embedder(&data, "re-embedded");

    // The stored vectors are the new model's: the same as embedding the text now.
    let query = "samphire grows between the two creeks";
    let hits = e
        .search_with(query, 4, SearchMode::Vector, &Default::default())
        .await
        .expect("vector search");
    assert_eq!(hits.len(), 4, "{hits:#?}");
    let q = embedder().embed_query(query).expect("embed");
    let best = embedder()
        .embed_passages(&[hits[0].text.as_str()])
        .expect("embed");
    let cosine: f32 = q.iter().zip(&best[0]).map(|(a, b)| a * b).sum();
    let stored = hits[0].vector_score.expect("a vector hit");
    assert!(
        (cosine - stored).abs() < 1e-3,
        "stored vector is not the new model's: cosine {cosine}, search says {stored}"
    );
    // Opening again does nothing more.
    drop(e);
    let again = Mutex::new(0);
    let count = |_: &cairn_engine::UpgradeProgress| *again.lock().unwrap() += 1;
    Engine::open_with_progress(EngineConfig::new(&data), embedder(), OpenMode::Read, &count)
        .await
        .expect("reopen");
    assert_eq!(*again.lock().unwrap(), 0);
}

/// What a kill after the first batch of a re-embedding leaves in `data` (an
/// fp32 index): half of the one document's rows in the new folder, meta.json
/// still on the old model.
async fn kill_midway(data: &Path) {
    let store = cairn_store::Store::open(data, "all-MiniLM-L6-v2@384", 384, OpenMode::Write)
        .await
        .expect("open with the old model");
    let mut job = store
        .reembed(embedder().model_id(), embedder().dimension())
        .await
        .expect("start");
    let batch = job.next_batch(2).await.expect("batch");
    let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
    let vectors = embedder().embed_passages(&texts).expect("embed");
    job.write(&batch, &vectors).await.expect("write");
}

/// Tears `meta.json` and runs `cairn repair`'s open, which must rebuild it
/// with every store agreeing.
async fn repair_a_torn_meta(data: &Path) -> (Engine, cairn_engine::RepairReport) {
    std::fs::write(data.join("meta.json"), b"{ torn").expect("damage meta.json");
    let (e, report) = Engine::open_for_repair(EngineConfig::new(data), embedder())
        .await
        .expect("repair");
    assert!(report.meta_rewritten, "{report:?}");
    assert!(report.mismatched.is_empty(), "{report:?}");
    (e, report)
}

#[tokio::test]
async fn repair_after_a_damaged_meta_mid_reembedding_keeps_every_passage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fp32_index(tmp.path());
    kill_midway(&data).await;
    let (e, report) = repair_a_torn_meta(&data).await;
    // The unfinished folder was moved aside, never trusted or deleted.
    assert!(
        report
            .quarantined
            .iter()
            .any(|p| p.to_string_lossy().contains("lance-") && p.is_dir()),
        "{report:?}"
    );
    assert_uses_the_embedder(&data, "repaired");
    assert_holds_the_fixture(&e).await;
}

#[tokio::test]
async fn a_damaged_meta_after_an_upgrade_never_picks_a_stray_vector_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fp32_index(tmp.path());
    drop(engine(&data).await); // upgraded: lance-<ms> in use, `lance` removed
    let current = cairn_store::read_meta(&data).unwrap().unwrap().vectors;
    assert_ne!(current, "lance");
    // What a reader that read meta.json just before the switch leaves: an
    // empty `lance` folder, older by name than the one in use.
    drop(
        cairn_store::vector::VectorTable::open(&data.join("lance"), 384)
            .await
            .expect("stray folder"),
    );
    let (e, _) = repair_a_torn_meta(&data).await;
    assert_eq!(
        cairn_store::read_meta(&data).unwrap().unwrap().vectors,
        current
    );
    assert_holds_the_fixture(&e).await;
}

#[tokio::test]
async fn writing_with_the_old_model_abandons_an_unfinished_reembedding() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fp32_index(tmp.path());
    kill_midway(&data).await;
    let target = cairn_store::read_meta(&data)
        .unwrap()
        .unwrap()
        .reembed
        .expect("target");
    let store = cairn_store::Store::open(&data, "all-MiniLM-L6-v2@384", 384, OpenMode::Write)
        .await
        .expect("open with the old model");
    store
        .write_batch(Vec::new(), &[RECORDED.to_string()])
        .await
        .expect("remove");
    let meta = cairn_store::read_meta(&data).unwrap().unwrap();
    assert!(meta.reembed.is_none(), "{meta:?}");
    assert!(!data.join(&target.vectors).exists());
}

#[tokio::test]
async fn a_reembedding_killed_midway_resumes_and_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fp32_index(tmp.path());
    {
        // What a kill after the first batch leaves: half of the one document's
        // rows in the new folder, meta.json still on the old model.
        let store = cairn_store::Store::open(&data, "all-MiniLM-L6-v2@384", 384, OpenMode::Write)
            .await
            .expect("open with the old model");
        let mut job = store
            .reembed(embedder().model_id(), embedder().dimension())
            .await
            .expect("start");
        assert_eq!(job.total(), 4);
        let batch = job.next_batch(2).await.expect("batch");
        assert_eq!(batch.len(), 2);
        let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
        let vectors = embedder().embed_passages(&texts).expect("embed");
        job.write(&batch, &vectors).await.expect("write");
        drop(job);
    }
    let meta = cairn_store::read_meta(&data).expect("meta").expect("meta");
    assert_eq!(meta.embed_model, "all-MiniLM-L6-v2@384", "{meta:?}");
    let target = meta.reembed.clone().expect("a re-embedding in progress");
    assert_eq!(target.embed_model, embedder().model_id());
    assert!(data.join(&target.vectors).is_dir());

    // A read-only open (as `cairn search` does) finishes it first.
    let e = Engine::open(EngineConfig::new(&data), embedder(), OpenMode::Read)
        .await
        .expect("open");
    assert_uses_the_embedder(&data, "resumed");
    assert_eq!(
        cairn_store::read_meta(&data).unwrap().unwrap().vectors,
        target.vectors,
        "resumed into the folder it started"
    );
    assert_holds_the_fixture(&e).await;
    let hits = e
        .search("when does the causeway flood at spring tide", 3)
        .await
        .expect("search");
    let top = hits.first().expect("hit");
    assert!(top.text.contains("north-east gale"), "{top:#?}");
    assert!(
        top.bm25_rank.is_some() && top.vector_rank.is_some(),
        "{top:#?}"
    );
}

#[test]
fn a_users_models_folder_from_an_earlier_release_falls_back_to_the_packaged_embedder() {
    // An earlier Cairn's models/fetch.sh installed the fp32 graph only; the
    // package (here: the installed models folder) has the int8 one.
    let installed = cairn_engine::models::default_models_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let user = tmp.path().join("models");
    let old = user.join("all-minilm-l6-v2");
    std::fs::create_dir_all(&old).expect("mkdir");
    for name in [
        "model.onnx",
        "tokenizer.json",
        "config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ] {
        std::os::unix::fs::symlink(
            installed.join("all-minilm-l6-v2").join(name),
            old.join(name),
        )
        .expect("link");
    }
    std::os::unix::fs::symlink(installed.join("onnxruntime"), user.join("onnxruntime"))
        .expect("link");
    let dir = cairn_engine::ModelsDir::with_system(&user, Some(installed));
    let e = dir.embedder().expect("the packaged embedder opens");
    assert_eq!(e.model_id(), embedder().model_id());
}
