//! The `cairn` command-line contract: flags, JSON shapes and exit codes, exercised by
//! running the real binary on the fixture documents with the real model.

mod common;

use common::{cairn, fixtures, ok_json};

#[test]
fn ingest_search_docs_remove_speak_the_documented_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let docs = fixtures().join("docs");
    let bad = fixtures().join("bad");
    let docs_s = docs.to_str().expect("utf-8 path");
    let bad_s = bad.to_str().expect("utf-8 path");

    let report = ok_json(
        &cairn(&data, &["ingest", docs_s, bad_s, "--json"]),
        "ingest",
    );
    for key in ["indexed", "unchanged", "removed", "failed"] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert!(report["indexed"].as_u64().expect("number") >= 8, "{report}");
    let failed = report["failed"].as_array().expect("array");
    assert!(!failed.is_empty());
    for f in failed {
        assert!(f["path"].is_string() && f["error"].is_string(), "{f}");
    }

    let again = ok_json(&cairn(&data, &["ingest", docs_s, "--json"]), "ingest");
    assert_eq!(again["indexed"], 0, "{again}");

    let hits = ok_json(
        &cairn(
            &data,
            &["search", "glaciers carve fjords", "-k", "3", "--json"],
        ),
        "search",
    );
    let hits = hits.as_array().expect("array");
    assert!(!hits.is_empty() && hits.len() <= 3);
    let top = &hits[0];
    for key in [
        "path",
        "page",
        "start",
        "end",
        "score",
        "bm25_rank",
        "vector_rank",
        "text",
    ] {
        assert!(top.get(key).is_some(), "missing {key}: {top}");
    }
    assert!(top["path"].as_str().expect("path").ends_with("guide.pdf"));
    assert_eq!(top["page"], 4);
    // Non-PDF hits have a null page.
    let md = ok_json(
        &cairn(
            &data,
            &[
                "search",
                "straw mulch strawberries slugs",
                "-k",
                "1",
                "--json",
            ],
        ),
        "cairn",
    );
    assert!(md[0]["path"].as_str().expect("path").ends_with("notes.md"));
    assert!(md[0]["page"].is_null());

    let listed = ok_json(&cairn(&data, &["docs", "--json"]), "docs");
    assert!(listed.as_array().expect("array").len() >= 8);

    let guide = docs.join("guide.pdf");
    let removed = ok_json(
        &cairn(&data, &["remove", guide.to_str().expect("utf-8"), "--json"]),
        "remove",
    );
    assert_eq!(removed["removed"], 1);
}

#[test]
fn an_unusable_data_dir_is_a_non_zero_exit_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A regular file where the data directory should be.
    let data = tmp.path().join("not-a-dir");
    std::fs::write(&data, b"x").expect("write");
    let docs = fixtures().join("docs");
    let out = cairn(&data, &["ingest", docs.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-dir"), "{err}");
}
