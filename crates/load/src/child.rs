//! Child processes with limits: a wall-clock limit (the child is killed when
//! it overruns, or when the caller cancels, which is polled while waiting)
//! and, through util-linux's `prlimit`, an address-space limit, so that a
//! parser that loops or allocates without bound fails one file with an error
//! naming the limit. Used for OCR (Tesseract, pdftoppm) and for the parse
//! worker (`cairn-load-worker`). Without `prlimit` children run with the
//! time limit only.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::LoadError;
use crate::LoadObserver;

/// What one child may take.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) time: Duration,
    pub(crate) memory_bytes: u64,
    /// Bytes of its output read; the rest is ignored.
    pub(crate) output_bytes: u64,
}

fn prlimit() -> Option<&'static PathBuf> {
    static PRLIMIT: OnceLock<Option<PathBuf>> = OnceLock::new();
    PRLIMIT
        .get_or_init(|| crate::ocr::find_program("prlimit"))
        .as_ref()
}

/// Why a child process failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The child ran past its time limit.
    TimedOut,
    /// The child ran out of its address-space limit.
    OutOfMemory,
    /// The caller cancelled while the child ran.
    Cancelled,
    /// The child failed for another reason: its last line on stderr.
    Failed(String),
}

impl Failure {
    /// The error for `path` that this failure of a child run under `limits`
    /// amounts to; `step` names what the child was doing.
    pub(crate) fn into_error(self, path: &Path, limits: &Limits, step: &str) -> LoadError {
        let path = path.to_path_buf();
        match self {
            Failure::TimedOut => LoadError::Timeout {
                path,
                limit: limits.time,
            },
            Failure::OutOfMemory => LoadError::MemoryLimit {
                path,
                limit: limits.memory_bytes,
            },
            Failure::Cancelled => LoadError::Cancelled { path },
            Failure::Failed(reason) => LoadError::Corrupt {
                path,
                reason: format!("{step}: {reason}"),
            },
        }
    }
}

/// Runs `program` under `limits` and returns what it wrote to stdout (at
/// most `limits.output_bytes`).
pub(crate) fn run(
    program: &Path,
    args: &[OsString],
    env: &[(&str, &str)],
    limits: &Limits,
    observer: &dyn LoadObserver,
) -> Result<Vec<u8>, Failure> {
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !program.is_file() {
        return Err(Failure::Failed(format!(
            "cannot start {name}: {} is not installed",
            program.display()
        )));
    }
    let prlimit = prlimit();
    let mut command = match prlimit {
        Some(prlimit) => {
            let mut c = Command::new(prlimit);
            // prlimit sets the hard limit too, which may not be raised
            // above the one this process already has.
            let bytes = match hard_address_space_limit() {
                Some(hard) => limits.memory_bytes.min(hard),
                None => limits.memory_bytes,
            };
            c.arg(format!("--as={bytes}")).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| Failure::Failed(format!("cannot start {name}: {e}")))?;

    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let cap = limits.output_bytes;
    let stdout = child.stdout.take().map(|mut out| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut out).take(cap).read_to_end(&mut buf);
            // Past the cap the output is thrown away, not left to block the child.
            let rest = std::io::copy(&mut out, &mut std::io::sink()).unwrap_or(0);
            (buf, rest > 0)
        })
    });
    let stderr = child.stderr.take().map(|mut err| {
        thread::spawn(move || {
            // The last 64 KiB are kept (the reason is usually at the end); a
            // closed pipe would kill a child that warns a lot.
            let mut tail = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = err.read(&mut chunk) {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 128 * 1024 {
                    tail.drain(..tail.len() - 64 * 1024);
                }
            }
            tail
        })
    });

    let deadline = Instant::now() + limits.time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                let stop = if observer.cancelled() {
                    Some(Failure::Cancelled)
                } else if Instant::now() >= deadline {
                    Some(Failure::TimedOut)
                } else {
                    None
                };
                if let Some(failure) = stop {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(failure);
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Failed(format!("{name}: {e}")));
            }
        }
    };
    let (out, overflowed) = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if status.success() && overflowed {
        return Err(Failure::Failed(format!(
            "{name} wrote more than {} of output",
            crate::error::mib(limits.output_bytes)
        )));
    }
    if status.success() {
        return Ok(out);
    }
    let err = String::from_utf8_lossy(&err);
    let lower = err.to_lowercase();
    // Under an address-space limit, running out shows as a failed
    // allocation (Rust's, C's, C++'s, libpng's) or a shared library that
    // cannot be mapped.
    let starved = [
        "memory allocation of",
        "out of memory",
        "cannot allocate memory",
        "bad_alloc",
        "malloc fail",
        "failed to map",
    ]
    .iter()
    .any(|sign| lower.contains(sign));
    if prlimit.is_some() && starved {
        return Err(Failure::OutOfMemory);
    }
    if let Some(signal) = signal_of(&status) {
        return Err(Failure::Failed(format!("{name} crashed (signal {signal})")));
    }
    let last = err
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no message");
    Err(Failure::Failed(format!("{name} failed ({status}): {last}")))
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// The hard address-space limit of this process, when it has one
/// (`/proc/self/limits`; none elsewhere).
fn hard_address_space_limit() -> Option<u64> {
    static HARD: OnceLock<Option<u64>> = OnceLock::new();
    *HARD.get_or_init(|| {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max address space"))?;
        // "Max address space   SOFT   HARD   bytes"
        let fields: Vec<&str> = line["Max address space".len()..]
            .split_whitespace()
            .collect();
        fields.get(1)?.parse().ok()
    })
}
