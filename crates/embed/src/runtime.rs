//! The process-wide ONNX Runtime environment.
//!
//! `ort` loads the runtime library once per process and allows only one environment, ever: a second
//! `build()` fails even after the first environment is dropped. So the environment is created on
//! first use and kept in a static for the life of the process, and every embedder shares it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cairn_core::EmbedError;
use ort::environment::Environment;

struct Loaded {
    library: PathBuf,
    environment: Environment,
}

static RUNTIME: Mutex<Option<Loaded>> = Mutex::new(None);

/// Returns the shared environment, loading ONNX Runtime from `library` on first call.
///
/// Later calls with a different path get the already loaded runtime (a process cannot hold two),
/// with a warning, rather than an error: the embeddings are the same either way.
pub(crate) fn environment(library: &Path) -> Result<Environment, EmbedError> {
    // A panic while holding the lock cannot leave `Loaded` half-written (it is set in one move).
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let wanted = library
        .canonicalize()
        .unwrap_or_else(|_| library.to_path_buf());
    if let Some(loaded) = slot.as_ref() {
        if loaded.library != wanted {
            tracing::warn!(
                loaded = %loaded.library.display(),
                requested = %wanted.display(),
                "ONNX Runtime is already loaded in this process; using the loaded library"
            );
        }
        return Ok(loaded.environment.clone());
    }
    disable_runtime_telemetry();
    let environment = ort::init_from(&wanted)
        .map_err(|e| {
            EmbedError::Runtime(format!(
                "cannot load ONNX Runtime from {}: {e}",
                wanted.display()
            ))
        })?
        .with_name("cairn")
        // Also tell the environment API; on its own this does not stop the 1DS uploader
        // (see `disable_runtime_telemetry`).
        .with_telemetry(false)
        .build()
        .map_err(|e| {
            EmbedError::Runtime(format!(
                "cannot create the ONNX Runtime environment from {}: {e}",
                wanted.display()
            ))
        })?;
    tracing::debug!(library = %wanted.display(), "loaded ONNX Runtime");
    *slot = Some(Loaded {
        library: wanted,
        environment: environment.clone(),
    });
    Ok(environment)
}

/// Turns off ONNX Runtime's built-in telemetry before the library is loaded.
///
/// Microsoft's Linux build of ONNX Runtime that Cairn installs (the PyPI wheel 1.31.1)
/// carries a "1DS" telemetry client: at environment creation it queues a `ProcessInfo`
/// event in `~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db` (next to a
/// persistent `deviceid`), and a background thread later resolves and posts to
/// `mobile.events.data.microsoft.com`. Measured here with strace: `with_telemetry(false)`
/// (`DisableTelemetryEvents`) comes too late to stop either; only the
/// `ORT_DISABLE_TELEMETRY` variable, read when the runtime starts, does. It is forced to
/// `1` even if the user set another value: Cairn promises no network traffic.
///
/// Setting a variable while another thread reads the environment is a data race in
/// glibc, so binaries should call this first thing in `main`, before starting threads;
/// the call in [`environment`] is the safety net for embedders that did not, and is a
/// no-op when the variable is already `1`.
pub fn disable_runtime_telemetry() {
    if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none_or(|v| v != "1") {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
}
