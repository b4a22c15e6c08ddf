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

/// `cairn chat --json`: one JSON answer per line of input; a follow-up is
/// searched with the conversation (and says so in `searched_for`), `/new`
/// forgets it; the evidence comes with every answer.
#[test]
fn chat_understands_a_follow_up_and_starts_over_on_new() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let docs = fixtures().join("docs");
    ok_json(
        &cairn(&data, &["ingest", docs.to_str().expect("utf-8"), "--json"]),
        "ingest",
    );
    let mut child = common::cairn_cmd(&data, &["chat", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start cairn chat");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"What do glaciers carve into granite?\n\
              And what do they leave behind where the ice melts?\n\
              /new\n\
              And what do they leave behind where the ice melts?\n",
        )
        .expect("write questions");
    let out = child.wait_with_output().expect("chat ends at end of input");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let turns: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(turns.len(), 3, "{turns:#?}");
    let first = &turns[0];
    assert_eq!(
        first["searched_for"],
        "What do glaciers carve into granite?"
    );
    assert!(
        first["evidence"].as_array().is_some_and(|e| e
            .iter()
            .any(|e| e["text"].as_str().is_some_and(|t| t.contains("fjords")))),
        "{first}"
    );
    let follow = turns[1]["searched_for"].as_str().expect("searched_for");
    assert!(
        follow.contains("glaciers") && follow.contains("leave behind"),
        "{follow}"
    );
    assert!(
        turns[1]["evidence"].as_array().is_some_and(|e| e
            .iter()
            .any(|e| e["path"].as_str().is_some_and(|p| p.ends_with("guide.pdf")))),
        "the follow-up finds the guide again: {}",
        turns[1]
    );
    // After /new, the same words are a question of their own.
    assert_eq!(
        turns[2]["searched_for"],
        "And what do they leave behind where the ice melts?"
    );
}
