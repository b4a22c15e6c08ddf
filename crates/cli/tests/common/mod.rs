//! Helpers shared by the integration tests of the `cairn` binary. Each test file
//! uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's `tests/fixtures` folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// `cairn --data-dir DATA ARGS…`, not yet run.
pub fn cairn_cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.arg("--data-dir").arg(data).args(args);
    c
}

/// Runs `cairn --data-dir DATA ARGS…` to completion.
pub fn cairn(data: &Path, args: &[&str]) -> Output {
    cairn_cmd(data, args).output().expect("run cairn")
}

/// Standard output parsed as JSON, whatever the exit status.
pub fn stdout_json(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not JSON ({e}): {}; stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Standard output parsed as JSON, after asserting that the command succeeded.
pub fn ok_json(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(out, what)
}

/// Asserts that nothing on standard error reports a panic.
pub fn no_panic(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
}

/// `cairn verify --json`. It exits 1 on an inconsistent or unfinished index but
/// prints its report either way.
pub fn verify(data: &Path) -> Value {
    let out = cairn(data, &["verify", "--json"]);
    no_panic(&out, "verify");
    stdout_json(&out, "verify")
}
