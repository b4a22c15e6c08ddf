//! Concurrency through the real `cairn` binary: while one process ingests a corpus,
//! a second writer is refused with the holder's PID, and readers in other processes
//! (search, verify) keep working and only ever see complete documents.
//! Search latency during ingest is measured by `cairn bench during-ingest`
//! (docs/BENCHMARKS.md), not here.

mod common;

use common::{cairn, cairn_cmd, ok_json, stdout_json, verify};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const WORDS: &[&str] = &[
    "harbour", "lantern", "meadow", "orchard", "river", "saddle", "thicket", "valley", "willow",
    "beacon", "cellar", "estuary", "heron", "inlet", "juniper", "kestrel", "lichen", "nettle",
    "osprey", "plover", "ridge", "spruce", "tundra", "warren",
];

/// `files` Markdown notes of about 300 words each, deterministic.
fn corpus(dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).expect("corpus dir");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..files {
        let mut text = format!("# Field notes {n}\n\n");
        for i in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
            text.push_str(if i % 15 == 14 { ".\n" } else { " " });
        }
        std::fs::write(dir.join(format!("notes{n:03}.md")), text).expect("write");
    }
}

#[test]
fn writers_are_refused_with_the_pid_and_readers_keep_working_during_ingest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let sentinel_dir = tmp.path().join("sentinel");
    std::fs::create_dir_all(&sentinel_dir).expect("sentinel dir");
    std::fs::write(
        sentinel_dir.join("lighthouse.md"),
        "# Lighthouse\n\nThe zephyrquartz lighthouse keeper logs every passing ship.\n",
    )
    .expect("write");
    let sentinel_s = sentinel_dir.to_str().expect("utf-8");
    let out = cairn(&data, &["ingest", sentinel_s, "--json"]);
    assert_eq!(ok_json(&out, "first ingest")["indexed"], 1);

    let big = tmp.path().join("big");
    corpus(&big, 96);
    let mut child = cairn_cmd(&data, &["ingest"])
        .arg(&big)
        .args(["--json", "--batch-chunks", "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ingest");
    let pid = child.id().to_string();

    // The writer records its PID in LOCK once it holds the lock.
    let lock = data.join("LOCK");
    let t = Instant::now();
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != pid {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "ingest never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Every other writer is refused, naming the process that holds the index.
    // (Each of these is harmless should the ingest finish first and free the lock.)
    let absent = tmp.path().join("never-indexed.md");
    let mut refused = 0;
    for args in [
        vec!["ingest", sentinel_s],
        vec!["remove", absent.to_str().expect("utf-8")],
        vec!["repair"],
    ] {
        let out = cairn(&data, &args);
        if child.try_wait().expect("try_wait").is_some() {
            break; // The ingest finished first; the lock is free again.
        }
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("in use by process {pid}")),
            "{args:?}: {err}"
        );
        refused += 1;
    }
    assert!(
        refused > 0,
        "the ingest ended before a second writer could try"
    );

    // Readers work the whole time, and only complete documents are ever visible.
    let mut searches = 0;
    while child.try_wait().expect("try_wait").is_none() {
        let hits = ok_json(
            &cairn(
                &data,
                &[
                    "search",
                    "zephyrquartz lighthouse keeper",
                    "-k",
                    "3",
                    "--json",
                ],
            ),
            "search",
        );
        assert!(
            hits[0]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("lighthouse.md")),
            "the document indexed before the ingest must stay findable: {hits}"
        );
        let hits = ok_json(
            &cairn(
                &data,
                &["search", "osprey nests by the estuary", "-k", "5", "--json"],
            ),
            "search",
        );
        for h in hits.as_array().expect("array") {
            let path = PathBuf::from(h["path"].as_str().expect("path"));
            assert!(path.exists(), "hit for a file that does not exist: {h}");
        }
        let report = verify(&data);
        assert_eq!(
            report["visible_consistent"], true,
            "a reader saw a partly written document: {report}"
        );
        searches += 1;
    }
    let out = child.wait_with_output().expect("ingest output");
    assert!(out.status.success(), "the ingest itself failed");
    let report = stdout_json(&out, "ingest");
    assert_eq!(report["indexed"], 96, "{report}");
    assert!(
        searches >= 2,
        "only {searches} reader rounds overlapped the ingest; make the corpus larger"
    );
    eprintln!("{searches} reader rounds (2 searches + verify) ran during the ingest");

    let end = verify(&data);
    assert_eq!(end["consistent"], true, "{end}");
    assert_eq!(end["report"]["stats"]["documents"], 97);
}
