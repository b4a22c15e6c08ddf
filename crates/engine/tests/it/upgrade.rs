//! Indexes written by earlier releases open with this one and keep everything.
//!
//! `tests/fixtures/index-format-N/` is what the release that introduced index
//! format N wrote (made once by `tests/fixtures/make_index_fixture.sh`, never
//! regenerated). Each is copied, opened for writing as the app does after an
//! upgrade, searched, written to and reopened. A later format must pass this
//! test for every older fixture: upgraded in place, or rebuilt, never lost.

use super::*;

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
