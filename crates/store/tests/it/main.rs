//! Store tests against a real LanceDB directory and a real tantivy index.

use cairn_core::Chunk;
use cairn_store::{doc_id_for, DocEntry, DocStatus, DocWrite, OpenMode, Store, StoreError};
use std::path::Path;

const DIM: usize = 8;
const MODEL: &str = "test-model@8";

fn vec_for(seed: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM)
        .map(|i| (((seed * 31 + i * 17) % 13) as f32) - 6.0)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn doc(path: &str, texts: &[&str], seed: usize) -> DocWrite {
    let doc_id = doc_id_for(path);
    let chunks: Vec<Chunk> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Chunk {
            ordinal: i as u32,
            page: Some(i as u32 + 1),
            start: 0,
            end: t.chars().count(),
            heading_path: vec!["Intro".into(), "Part".into()],
            text: t.to_string(),
            tokens: t.split_whitespace().count(),
        })
        .collect();
    let vectors = (0..texts.len()).map(|i| vec_for(seed + i)).collect();
    DocWrite::new(
        DocEntry {
            path: path.to_string(),
            doc_id,
            content_hash: format!("hash-{seed}"),
            size: 1,
            mtime_ms: 1,
            format: "pdf".into(),
            pages: texts.len() as u32,
            chunks: texts.len() as u32,
            status: DocStatus::Pending,
            indexed_at_ms: 0,
        },
        &chunks,
        vectors,
    )
}

async fn open(dir: &Path) -> Store {
    Store::open(dir, MODEL, DIM, OpenMode::Write)
        .await
        .expect("open store")
}

/// An index in `dir` holding one document of one chunk, closed again.
async fn write_one_document(dir: &Path) {
    open(dir)
        .await
        .write_batch(vec![doc("/a.md", &["alpha one"], 1)], &[])
        .await
        .expect("write");
}

#[tokio::test]
async fn written_chunks_are_found_by_both_retrievers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    store
        .write_batch(
            vec![
                doc(
                    "/a.pdf",
                    &[
                        "the heron nests by the quarry",
                        "asn1_der_coding is defined here",
                    ],
                    1,
                ),
                doc("/b.txt", &["installing packages with apt"], 10),
            ],
            &[],
        )
        .await
        .expect("write");
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.documents, stats.vector_rows, stats.keyword_docs),
        (2, 3, 3)
    );

    let hits = store
        .search_keyword("where do herons nest?", 5)
        .await
        .expect("bm25");
    assert_eq!(hits[0].0.path, "/a.pdf");
    assert_eq!(hits[0].0.page, Some(1));
    // Stemming: "installed" matches "installing".
    let hits = store.search_keyword("installed", 5).await.expect("bm25");
    assert_eq!(hits[0].0.path, "/b.txt");
    // Identifiers match whole, including underscores.
    let hits = store
        .search_keyword("asn1_der_coding", 5)
        .await
        .expect("bm25");
    assert_eq!(hits[0].0.chunk_id, format!("{}:1", doc_id_for("/a.pdf")));
    // Query syntax characters are plain text, not operators.
    assert!(store
        .search_keyword("-heron AND (\"quarry", 5)
        .await
        .is_ok());

    let hits = store.search_vector(&vec_for(10), 3).await.expect("vector");
    assert_eq!(hits[0].0.path, "/b.txt");
    assert!(
        (hits[0].1 - 1.0).abs() < 1e-4,
        "cosine of identical vectors: {}",
        hits[0].1
    );
}

#[tokio::test]
async fn replacing_and_removing_documents_leaves_no_stale_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    store
        .write_batch(vec![doc("/a.md", &["old wording about kestrels"], 1)], &[])
        .await
        .expect("write");
    store
        .write_batch(
            vec![doc(
                "/a.md",
                &["new wording about ospreys", "second part"],
                2,
            )],
            &[],
        )
        .await
        .expect("rewrite");
    assert!(store
        .search_keyword("kestrels", 5)
        .await
        .expect("bm25")
        .is_empty());
    assert_eq!(
        store
            .search_keyword("ospreys", 5)
            .await
            .expect("bm25")
            .len(),
        1
    );
    assert_eq!(store.stats().await.expect("stats").vector_rows, 2);

    store
        .write_batch(Vec::new(), &["/a.md".to_string()])
        .await
        .expect("remove");
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.documents, stats.vector_rows, stats.keyword_docs),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path()).await;
        store
            .write_batch(vec![doc("/a.md", &["persistent text"], 1)], &[])
            .await
            .expect("write");
    }
    let store = Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
        .await
        .expect("reopen for reading");
    assert_eq!(
        store
            .search_keyword("persistent", 3)
            .await
            .expect("bm25")
            .len(),
        1
    );
    assert_eq!(store.documents()[0].status, DocStatus::Indexed);
}

#[tokio::test]
async fn interrupted_write_is_repaired_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path()).await;
        store
            .write_batch(vec![doc("/keep.md", &["kept text"], 1)], &[])
            .await
            .expect("write");
    }
    // Simulate a crash between the store writes and the final catalogue save: the
    // catalogue says pending, both stores hold the rows, the marker is present.
    {
        let store = open(dir.path()).await;
        store
            .write_batch(vec![doc("/half.md", &["half written text"], 5)], &[])
            .await
            .expect("write");
    }
    let cat_path = dir.path().join("catalogue.json");
    let mut cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cat_path).expect("read")).expect("json");
    for d in cat["documents"].as_array_mut().expect("array") {
        if d["path"] == "/half.md" {
            d["status"] = "pending".into();
        }
    }
    std::fs::write(&cat_path, serde_json::to_vec(&cat).expect("json")).expect("write");
    std::fs::write(dir.path().join("DIRTY"), b"").expect("marker");

    // A reader never sees the pending document.
    let reader = Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
        .await
        .expect("reader");
    assert!(reader
        .search_keyword("half", 5)
        .await
        .expect("bm25")
        .is_empty());
    drop(reader);

    let store = open(dir.path()).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.documents, 1, "pending entry dropped");
    assert_eq!(stats.vector_rows, 1);
    assert_eq!(stats.keyword_docs, 1);
    assert!(!dir.path().join("DIRTY").exists());
    assert!(store.repair().await.expect("repair").is_clean());
}

#[tokio::test]
async fn second_writer_gets_a_busy_error_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = open(dir.path()).await;
    let err = Store::open(dir.path(), MODEL, DIM, OpenMode::Write)
        .await
        .err()
        .expect("second writer must fail");
    match &err {
        StoreError::Busy { holder } => {
            assert!(holder.contains(&std::process::id().to_string()), "{holder}")
        }
        other => panic!("unexpected error: {other}"),
    }
    // Readers still work while a writer holds the lock.
    Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
        .await
        .expect("reader");
}

#[tokio::test]
async fn a_different_embedding_model_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()).await);
    let err = Store::open(dir.path(), "other-model@8", DIM, OpenMode::Write)
        .await
        .err()
        .expect("mismatch");
    assert!(matches!(err, StoreError::ModelMismatch { .. }), "{err}");
    assert!(err.to_string().contains("test-model@8"), "{err}");
}

#[tokio::test]
async fn a_meta_naming_a_folder_outside_the_index_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()).await);
    let meta = dir.path().join("meta.json");
    let text = std::fs::read_to_string(&meta).expect("meta.json");
    assert!(text.contains("\"vectors\": \"lance\""), "{text}");
    for bad in ["../elsewhere", "/tmp", "lance-1/../../x", "tantivy"] {
        std::fs::write(&meta, text.replace("\"lance\"", &format!("{bad:?}"))).expect("write");
        let err = Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{bad}: {err}");
    }
}

#[tokio::test]
async fn a_writer_removes_vector_folders_left_by_a_finished_reembedding() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_one_document(dir.path()).await;
    // A crash between the switch and the removal leaves the old folder; a
    // quarantined folder is kept whatever happens.
    let stale = dir.path().join("lance-17");
    let quarantined = dir.path().join("lance.damaged-5");
    std::fs::create_dir_all(stale.join("chunks.lance")).expect("mkdir");
    std::fs::create_dir_all(&quarantined).expect("mkdir");
    drop(
        Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
            .await
            .expect("reader"),
    );
    assert!(stale.exists(), "a reader never removes anything");
    let store = open(dir.path()).await;
    assert!(!stale.exists());
    assert!(quarantined.exists());
    assert_eq!(store.stats().await.expect("stats").vector_rows, 1);
}

#[tokio::test]
async fn an_index_from_a_newer_cairn_is_refused_and_never_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_one_document(dir.path()).await;
    let meta = dir.path().join("meta.json");
    let text = std::fs::read_to_string(&meta).expect("meta.json");
    let newer = text.replace(
        &format!("\"version\": {}", cairn_store::INDEX_FORMAT),
        "\"version\": 99",
    );
    assert_ne!(text, newer, "meta.json records the format: {text}");
    std::fs::write(&meta, newer).expect("write meta.json");
    // What is in the data directory, apart from the writer lock.
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n.to_str() != Some("LOCK"))
            .collect();
        names.sort();
        names
    };
    let before = listing();
    for mode in [OpenMode::Read, OpenMode::Write] {
        let err = Store::open(dir.path(), MODEL, DIM, mode)
            .await
            .err()
            .expect("a newer format must be refused");
        assert!(
            matches!(err, StoreError::NewerFormat { found: 99, .. }),
            "{err}"
        );
        assert!(!err.is_damage(), "{err}");
    }
    let err = Store::open_for_repair(dir.path(), MODEL, DIM)
        .await
        .err()
        .expect("repair must refuse too");
    assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
    assert_eq!(before, listing(), "nothing may be moved aside or rebuilt");
}

#[tokio::test]
async fn verify_reports_mismatches_orphans_and_duplicates_without_changing_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path()).await;
        store
            .write_batch(
                vec![
                    doc("/a.md", &["alpha one", "alpha two"], 1),
                    doc("/b.md", &["beta"], 5),
                ],
                &[],
            )
            .await
            .expect("write");
        let report = store.verify().await.expect("verify");
        assert!(report.consistent(), "{report:?}");
        let a = &report.documents[0];
        assert_eq!(
            (
                a.path.as_str(),
                a.catalogue_chunks,
                a.vector_chunks,
                a.keyword_chunks
            ),
            ("/a.md", 2, 2, 2)
        );
    }
    // Damage the stores behind the catalogue's back, through the stores' own APIs:
    // /a.md loses its keyword entries, /b.md's chunk is added to tantivy twice, and
    // LanceDB gains a chunk of a document the catalogue does not know.
    {
        let keywords = cairn_store::keyword::KeywordIndex::open(&dir.path().join("tantivy"))
            .expect("keyword index");
        keywords
            .delete_docs(&[doc_id_for("/a.md")])
            .expect("delete");
        keywords
            .add(&doc("/b.md", &["beta"], 5).chunks)
            .expect("add");
        keywords.commit().expect("commit");
        let vectors = cairn_store::vector::VectorTable::open(&dir.path().join("lance"), DIM)
            .await
            .expect("vector table");
        let stray = doc("/stray.md", &["stray"], 9);
        vectors
            .add(&stray.chunks, &stray.vectors)
            .await
            .expect("add");
    }
    let reader = Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
        .await
        .expect("reader");
    let report = reader.verify().await.expect("verify");
    assert!(!report.consistent() && !report.visible_consistent());
    assert_eq!(
        report.mismatched,
        vec!["/a.md".to_string(), "/b.md".to_string()]
    );
    assert_eq!(
        report.duplicate_chunk_ids,
        vec![format!("{}:0", doc_id_for("/b.md"))]
    );
    assert_eq!(report.orphans.len(), 1);
    assert_eq!(report.orphans[0].doc_id, doc_id_for("/stray.md"));
    assert_eq!(
        (
            report.orphans[0].vector_chunks,
            report.orphans[0].keyword_chunks
        ),
        (1, 0)
    );
    // Verifying is read-only: a second look finds the same.
    assert_eq!(reader.verify().await.expect("verify again"), report);
    drop(reader);

    // The next writer repairs it: damaged documents are dropped for re-indexing.
    let store = open(dir.path()).await;
    let report = store.verify().await.expect("verify after repair");
    assert!(report.consistent(), "{report:?}");
    assert!(report.documents.is_empty(), "{report:?}");
}

/// A reader (another process in real use) keeps answering when the writer
/// compacts the table and prunes the version the reader was holding.
#[tokio::test]
async fn a_reader_survives_the_writer_pruning_its_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = open(dir.path()).await;
    for n in 0..4 {
        let path = format!("/doc{n}.txt");
        writer
            .write_batch(vec![doc(&path, &["alpha", "beta"], n * 10)], &[])
            .await
            .expect("write");
    }
    let reader = Store::open(dir.path(), MODEL, DIM, OpenMode::Read)
        .await
        .expect("open reader");
    assert_eq!(
        reader
            .search_vector(&vec_for(0), 3)
            .await
            .expect("search")
            .len(),
        3
    );

    // Replace every document, then compact and prune: the files of the version
    // the reader holds are deleted.
    for n in 0..4 {
        let path = format!("/doc{n}.txt");
        writer
            .write_batch(vec![doc(&path, &["gamma", "delta"], n * 10 + 5)], &[])
            .await
            .expect("rewrite");
    }
    writer.optimize().await.expect("optimize");
    writer.purge_deleted().await.expect("purge");

    let hits = reader
        .search_vector(&vec_for(5), 3)
        .await
        .expect("the reader moves to the latest version instead of failing");
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter()
            .all(|h| h.0.text == "gamma" || h.0.text == "delta"),
        "only the new text is visible: {hits:?}"
    );

    // The same for the full scans `verify` makes: another round of rewrites and
    // pruning under the reader, then a consistency check from the reader.
    for n in 0..4 {
        let path = format!("/doc{n}.txt");
        writer
            .write_batch(vec![doc(&path, &["epsilon", "zeta"], n * 10 + 7)], &[])
            .await
            .expect("rewrite");
    }
    writer.optimize().await.expect("optimize");
    writer.purge_deleted().await.expect("purge");
    let report = reader
        .verify()
        .await
        .expect("verify moves to the latest version instead of failing");
    assert!(report.consistent(), "{report:?}");
}

/// Set in the child process of [`a_permissions_error_is_reported_not_repaired`]:
/// the data directory it must fail to repair.
const PERMISSION_CHILD: &str = "CAIRN_TEST_PERMISSION_CHILD";

fn damaged_parts(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".damaged-"))
        .collect()
}

/// A keyword index the process may not read is a problem to report, not damage:
/// `open_for_repair` returns the error and moves nothing aside (before, any error
/// other than a held lock or a wrong model made it quarantine and rebuild the part).
/// As root, permissions do not apply, so the check runs in a copy of this test
/// binary started as `nobody` by `setpriv`.
#[tokio::test]
async fn a_permissions_error_is_reported_not_repaired() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Some(dir) = std::env::var_os(PERMISSION_CHILD) {
        let dir = std::path::PathBuf::from(dir);
        let err = Store::open_for_repair(&dir, MODEL, DIM)
            .await
            .err()
            .expect("an unreadable keyword index must be an error");
        assert_eq!(err.kind(), cairn_store::ErrorKind::Environment, "{err}");
        assert!(!err.is_damage(), "{err}");
        assert!(damaged_parts(&dir).is_empty(), "{:?}", damaged_parts(&dir));
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    {
        let store = open(&data).await;
        store
            .write_batch(vec![doc("/a.md", &["alpha"], 1)], &[])
            .await
            .expect("write");
    }
    let tantivy = data.join("tantivy");
    let root = std::fs::metadata("/proc/self").expect("proc").uid() == 0;
    if !root {
        std::fs::set_permissions(&tantivy, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        let result = Store::open_for_repair(&data, MODEL, DIM).await;
        std::fs::set_permissions(&tantivy, std::fs::Permissions::from_mode(0o755))
            .expect("chmod back");
        let err = result
            .err()
            .expect("an unreadable keyword index is an error");
        assert_eq!(err.kind(), cairn_store::ErrorKind::Environment, "{err}");
        assert!(damaged_parts(&data).is_empty());
        return;
    }
    // Root: hand the data directory to `nobody`, except the keyword index, which
    // stays root's and private; run this test again as `nobody` on it.
    const NOBODY: u32 = 65534;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    fn chown_all(p: &Path, uid: u32) {
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).expect("chown");
        if p.is_dir() {
            for e in std::fs::read_dir(p).expect("read_dir").flatten() {
                chown_all(&e.path(), uid);
            }
        }
    }
    chown_all(&data, NOBODY);
    chown_all(&tantivy, 0);
    std::fs::set_permissions(&tantivy, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let exe = std::env::current_exe().expect("test binary");
    let copy = tmp.path().join("store-tests");
    if std::fs::hard_link(&exe, &copy).is_err() {
        std::fs::copy(&exe, &copy).expect("copy the test binary where nobody can run it");
    }
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&copy)
        .args([
            "--exact",
            "a_permissions_error_is_reported_not_repaired",
            "--test-threads=1",
        ])
        .env(PERMISSION_CHILD, &data)
        .output()
        .expect("setpriv (util-linux) runs the check as an unprivileged user");
    assert!(
        out.status.success(),
        "the unprivileged run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        damaged_parts(&data).is_empty(),
        "{:?}",
        damaged_parts(&data)
    );
    assert!(tantivy.is_dir(), "the keyword index was left where it was");
}
