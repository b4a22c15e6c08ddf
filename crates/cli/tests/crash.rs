//! Crash safety of the real `cairn` binary: `cairn ingest` is killed with SIGKILL at
//! seeded random moments while it loads, embeds and writes a generated corpus; after
//! every kill the index must open, what readers can see must be consistent, and the
//! next writer must leave catalogue, LanceDB and tantivy in exact agreement. A final
//! uninterrupted ingest must index the latest content of every file exactly once.
//!
//! `CAIRN_CRASH_SEED` and `CAIRN_CRASH_RUNS` override the seed and the number of kills.

mod common;

use common::{cairn, cairn_cmd, no_panic, stdout_json, verify};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The tests here each run `cairn` binaries that use both cores; run in parallel they
/// would slow one another unevenly, and the kill test times its window on one run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// xorshift64*: a few lines of seeded randomness, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "granite", "harbour", "lantern", "meadow", "orchard", "quarry", "river", "saddle", "thicket",
    "valley", "willow", "beacon", "cellar", "dune", "estuary", "fjord", "glacier", "heron",
    "inlet", "juniper", "kestrel", "lichen", "moraine", "nettle", "osprey", "plover", "ridge",
    "spruce", "tundra", "upland", "vetch", "warren", "yarrow", "bramble", "copse",
];

/// A paragraph of plausible prose; every file also carries a unique tag per version.
fn paragraph(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(if i % 12 == 0 { '.' } else { ' ' });
            if i % 12 == 0 {
                s.push(' ');
            }
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s.push_str(".\n\n");
    s
}

fn write_file(dir: &Path, n: usize, version: usize, rng: &mut Rng) {
    let mut text = format!("# Notes {n}\n\nrevision tag file{n:03}_v{version}\n\n");
    for _ in 0..2 {
        text.push_str(&paragraph(rng, 150));
    }
    std::fs::write(dir.join(format!("note{n:03}.md")), text).expect("write corpus file");
}

fn ingest_cmd(data: &Path, corpus: &Path) -> Command {
    let mut c = cairn_cmd(data, &["ingest"]);
    c.arg(corpus).args(["--json", "--batch-chunks", "4"]);
    c
}

#[test]
fn ingest_killed_at_random_moments_never_corrupts_the_index() {
    let _serial = serial();
    let seed: u64 = std::env::var("CAIRN_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_ffee_5eed);
    let runs: usize = std::env::var("CAIRN_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    eprintln!("crash test: seed {seed}, {runs} kills");
    let mut rng = Rng(seed | 1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let corpus = tmp.path().join("corpus");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&corpus).expect("corpus dir");
    let mut versions: Vec<Option<usize>> = Vec::new();
    for n in 0..12 {
        write_file(&corpus, n, 0, &mut rng);
        versions.push(Some(0));
    }

    // One uninterrupted run into a scratch index measures how long an ingest takes
    // here, so the kill window covers start-up, embedding, writing and optimizing on
    // a fast or a loaded machine alike.
    let t = Instant::now();
    let out = ingest_cmd(&tmp.path().join("reference"), &corpus)
        .output()
        .expect("reference ingest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = t.elapsed();
    let reference = stdout_json(&out, "reference ingest");
    eprintln!(
        "reference ingest: {:.2} s, {} chunks",
        full.as_secs_f64(),
        reference["chunks"]
    );
    let mut window_ms = (full.as_millis() as u64 * 11 / 10).max(500);

    let (mut killed_running, mut left_leftovers) = (0usize, 0usize);
    for run in 0..runs {
        let delay = Duration::from_millis(100 + rng.below(window_ms));
        let mut child = ingest_cmd(&data, &corpus)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ingest");
        std::thread::sleep(delay);
        let still_running = child.try_wait().expect("try_wait").is_none();
        // Child::kill sends SIGKILL on Unix: no destructor, no flush, no cleanup.
        let _ = child.kill();
        let _ = child.wait();
        killed_running += usize::from(still_running);
        if !still_running {
            // The ingest finished before the kill: runs are quicker than the reference
            // was, so later kills aim within what this run took.
            window_ms = (delay.as_millis() as u64).saturating_sub(100).max(300);
        }

        // The index opens for reading, and what readers see is exact.
        let before = verify(&data);
        assert_eq!(
            before["visible_consistent"], true,
            "run {run} (kill after {delay:?}): readers would see a damaged document: {before}"
        );
        if before["consistent"] != true {
            left_leftovers += 1;
        }
        // The next writer repairs whatever the kill left.
        let out = cairn(&data, &["repair", "--json"]);
        no_panic(&out, "repair");
        assert!(
            out.status.success(),
            "run {run}: repair failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = verify(&data);
        assert_eq!(
            after["consistent"], true,
            "run {run} (kill after {delay:?}): not consistent after repair: {after}"
        );

        // Ingest is incremental, so every file gets a new revision between runs: each
        // run then does a full ingest's work (replacing every document), and kills hit
        // replacements; one file is also deleted or brought back, for removals.
        let gone = rng.below(versions.len() as u64) as usize;
        for (n, v) in versions.iter_mut().enumerate() {
            if n == gone && v.is_some() {
                std::fs::remove_file(corpus.join(format!("note{n:03}.md"))).expect("delete");
                *v = None;
            } else {
                let next = v.map_or(0, |v| v + 1);
                write_file(&corpus, n, next, &mut rng);
                *v = Some(next);
            }
        }
    }
    eprintln!(
        "{killed_running} of {runs} kills hit a running ingest; {left_leftovers} left an interrupted write behind"
    );
    assert!(
        killed_running * 2 >= runs,
        "at least half of the kills must land while ingest runs ({killed_running} of {runs})"
    );

    // A final run completes and indexes exactly the current corpus, latest versions,
    // each chunk once.
    let out = ingest_cmd(&data, &corpus).output().expect("final ingest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = verify(&data);
    assert_eq!(report["consistent"], true, "{report}");
    assert_eq!(
        report["report"]["duplicate_chunk_ids"],
        serde_json::json!([])
    );
    let live: Vec<(usize, usize)> = versions
        .iter()
        .enumerate()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
    let docs = report["report"]["documents"].as_array().expect("documents");
    let indexed: Vec<PathBuf> = docs
        .iter()
        .filter(|d| d["status"] == "indexed")
        .map(|d| PathBuf::from(d["path"].as_str().expect("path")))
        .collect();
    let corpus = std::fs::canonicalize(&corpus).expect("canonical corpus");
    let expected: Vec<PathBuf> = live
        .iter()
        .map(|(n, _)| corpus.join(format!("note{n:03}.md")))
        .collect();
    assert_eq!(
        indexed, expected,
        "the index must hold exactly the current files"
    );
    // Spot-check content: the newest revision tag of a few files is found, in that file.
    for &(n, v) in live.iter().step_by(5) {
        let tag = format!("file{n:03}_v{v}");
        let out = cairn(
            &data,
            &["search", &tag, "--mode", "bm25", "-k", "1", "--json"],
        );
        let hits = stdout_json(&out, "search");
        assert!(
            hits[0]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("note{n:03}.md"))),
            "{tag}: {hits}"
        );
    }
}

/// Six one-chunk notes, each with a unique word, indexed into `data`.
fn small_index(tmp: &Path) -> (PathBuf, PathBuf) {
    let corpus = tmp.join("small");
    let data = tmp.join("data");
    std::fs::create_dir_all(&corpus).expect("corpus dir");
    for n in 0..6 {
        std::fs::write(
            corpus.join(format!("n{n}.md")),
            format!("# Note {n}\n\nThe keeper wrote codeword{n} in the harbour log.\n"),
        )
        .expect("write");
    }
    let out = cairn(
        &data,
        &["ingest", corpus.to_str().expect("utf-8"), "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (corpus, data)
}

/// Cuts a file to half its length, as a power loss during its write might.
fn truncate_half(path: &Path) {
    let len = std::fs::metadata(path).expect("metadata").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for truncation");
    f.set_len(len / 2).expect("truncate");
}

/// What a damaged index looks like to a reader: a clear error, never a panic.
fn search_fails_clearly(data: &Path, names: &str) {
    let out = cairn(data, &["search", "codeword3", "--json"]);
    no_panic(&out, "search on a damaged index");
    assert!(
        !out.status.success(),
        "a damaged index must not answer silently"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(names), "the error must name {names}: {err}");
}

fn repair_json(data: &Path) -> Value {
    let out = cairn(data, &["repair", "--json"]);
    no_panic(&out, "repair");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out, "repair")["repair"].clone()
}

fn bm25_top(data: &Path, query: &str) -> Option<String> {
    let out = cairn(
        data,
        &["search", query, "--mode", "bm25", "-k", "1", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out, "search")[0]["path"]
        .as_str()
        .map(str::to_string)
}

/// A small index that had one part cut in half, then went through `cairn repair`.
struct Repaired {
    _tmp: tempfile::TempDir,
    corpus: PathBuf,
    data: PathBuf,
    repair: Value,
}

/// Builds [`small_index`], truncates the file `part` picks in its data directory,
/// checks that a reader gets a clear error naming `names`, and repairs.
fn truncate_then_repair(part: impl FnOnce(&Path) -> PathBuf, names: &str) -> Repaired {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (corpus, data) = small_index(tmp.path());
    truncate_half(&part(&data));
    search_fails_clearly(&data, names);
    let repair = repair_json(&data);
    Repaired {
        _tmp: tmp,
        corpus,
        data,
        repair,
    }
}

/// `cairn verify` finds the stores in agreement, with `n` for the stat `key`.
fn assert_consistent(data: &Path, key: &str, n: u64) {
    let report = verify(data);
    assert_eq!(report["consistent"], true, "{report}");
    assert_eq!(report["report"]["stats"][key], n, "{report}");
}

#[test]
fn a_truncated_catalogue_is_rebuilt_from_the_vector_store() {
    let _serial = serial();
    let r = truncate_then_repair(|d| d.join("catalogue.json"), "catalogue.json");
    assert_eq!(r.repair["catalogue_rebuilt"], true, "{}", r.repair);
    assert_eq!(r.repair["quarantined"].as_array().map(Vec::len), Some(1));
    assert_consistent(&r.data, "documents", 6);
    assert!(bm25_top(&r.data, "codeword3").is_some_and(|p| p.ends_with("n3.md")));

    // Rebuilt entries do not know the files' hashes, so the next ingest re-reads them.
    let out = cairn(
        &r.data,
        &["ingest", r.corpus.to_str().expect("utf-8"), "--json"],
    );
    assert_eq!(stdout_json(&out, "ingest")["indexed"], 6);
    assert_consistent(&r.data, "catalogue_chunks", 6);
}

#[test]
fn a_truncated_meta_file_is_written_again_and_nothing_is_lost() {
    let _serial = serial();
    let r = truncate_then_repair(|d| d.join("meta.json"), "meta.json");
    assert_eq!(r.repair["meta_rewritten"], true, "{}", r.repair);
    assert_eq!(r.repair["quarantined"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        r.repair["mismatched"],
        serde_json::json!([]),
        "{}",
        r.repair
    );
    assert_consistent(&r.data, "documents", 6);
    assert!(bm25_top(&r.data, "codeword3").is_some_and(|p| p.ends_with("n3.md")));
    // The vector side answers too: the rewritten meta names the model that built it.
    let out = cairn(
        &r.data,
        &[
            "search",
            "codeword3",
            "--mode",
            "vector",
            "-k",
            "1",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn truncated_vector_data_is_reset_and_its_documents_listed_for_reingest() {
    let _serial = serial();
    let newest_data_file = |data: &Path| {
        std::fs::read_dir(data.join("lance/chunks.lance/data"))
            .expect("lance data dir")
            .flatten()
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
            .expect("a data file")
            .path()
    };
    let r = truncate_then_repair(newest_data_file, "vector store");
    assert_eq!(r.repair["vector_store_reset"], true, "{}", r.repair);
    assert_eq!(
        r.repair["mismatched"].as_array().map(Vec::len),
        Some(6),
        "{}",
        r.repair
    );
    assert_consistent(&r.data, "documents", 0);

    let out = cairn(
        &r.data,
        &["ingest", r.corpus.to_str().expect("utf-8"), "--json"],
    );
    assert_eq!(stdout_json(&out, "ingest")["indexed"], 6);
    assert_eq!(verify(&r.data)["consistent"], true);
    assert!(bm25_top(&r.data, "codeword3").is_some_and(|p| p.ends_with("n3.md")));
}

#[test]
fn a_truncated_keyword_index_is_rebuilt_from_the_vector_store() {
    let _serial = serial();
    let r = truncate_then_repair(|d| d.join("tantivy/meta.json"), "keyword index");
    assert_eq!(r.repair["keyword_index_rebuilt"], true, "{}", r.repair);
    assert_consistent(&r.data, "keyword_docs", 6);
    assert!(bm25_top(&r.data, "codeword3").is_some_and(|p| p.ends_with("n3.md")));
}
