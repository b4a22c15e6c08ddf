//! The parse worker (`cairn-load-worker`): the same pages as parsing
//! in-process, and a parser that aborts, loops or allocates without bound
//! fails only its own file. Its own test binary, because the faults are
//! switched on through the environment the worker inherits.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_load::{load, LoadError, LoadOptions};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

fn with_worker() -> LoadOptions {
    LoadOptions {
        worker: Some(PathBuf::from(env!("CARGO_BIN_EXE_cairn-load-worker"))),
        ..LoadOptions::default()
    }
}

#[test]
fn the_worker_parses_like_the_process_and_a_failing_parser_costs_one_file() {
    let pdf = fixture("docs/shared-mime-info-spec.pdf");
    let docx = fixture("docs/report.docx");
    let worker = with_worker();

    // Same documents, same errors, with or without the worker.
    for path in [&pdf, &docx, &fixture("docs/guide.pdf")] {
        let inside = load(path, &LoadOptions::default()).expect("in-process");
        let outside = load(path, &worker).expect("worker");
        assert_eq!(inside, outside, "{}", path.display());
    }
    for (bad, kind) in [
        ("bad/encrypted.pdf", "encrypted"),
        ("bad/truncated.pdf", "corrupt"),
        ("bad/no-text.pdf", "no_text"),
    ] {
        let err = load(&fixture(bad), &worker).expect_err(bad);
        assert_eq!(err.kind(), kind, "{bad}: {err}");
        assert!(err
            .to_string()
            .contains(bad.rsplit('/').next().unwrap_or(bad)));
    }
    // A text file never goes to the worker: it loads even when the worker
    // program is missing.
    let broken = LoadOptions {
        worker: Some(PathBuf::from("/nonexistent/cairn-load-worker")),
        ..LoadOptions::default()
    };
    load(&fixture("docs/notes.md"), &broken).expect("markdown in-process");
    let err = load(&pdf, &broken).expect_err("no worker");
    assert!(err.to_string().contains("cannot start"), "{err}");

    // A parser that aborts.
    std::env::set_var(cairn_load::worker::FAULT_VAR, "abort");
    let err = load(&pdf, &worker).expect_err("abort");
    assert!(matches!(err, LoadError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("shared-mime-info-spec.pdf"),
        "{err}"
    );
    assert!(err.to_string().contains("signal"), "{err}");

    // A parser that never returns: killed at the limit.
    std::env::set_var(cairn_load::worker::FAULT_VAR, "loop");
    let hurried = LoadOptions {
        worker_timeout: Duration::from_secs(2),
        ..with_worker()
    };
    let started = Instant::now();
    let err = load(&pdf, &hurried).expect_err("loop");
    assert!(
        matches!(err, LoadError::Timeout { limit, .. } if limit == Duration::from_secs(2)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A parser that allocates without bound: stopped by the memory limit.
    std::env::set_var(cairn_load::worker::FAULT_VAR, "alloc");
    let small = LoadOptions {
        worker_memory_bytes: 512 * 1024 * 1024,
        ..with_worker()
    };
    let err = load(&pdf, &small).expect_err("alloc");
    assert!(
        matches!(err, LoadError::MemoryLimit { limit, .. } if limit == 512 * 1024 * 1024),
        "{err:?}"
    );

    // And the next file is read as usual.
    std::env::remove_var(cairn_load::worker::FAULT_VAR);
    assert_eq!(
        load(&docx, &worker).expect("after the faults"),
        load(&docx, &LoadOptions::default()).expect("in-process")
    );
}
