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
    let environment = ort::init_from(&wanted)
        .map_err(|e| {
            EmbedError::Runtime(format!(
                "cannot load ONNX Runtime from {}: {e}",
                wanted.display()
            ))
        })?
        .with_name("cairn")
        // Cairn never talks to the network; keep Microsoft builds from emitting telemetry events.
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
