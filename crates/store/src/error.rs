//! The store's errors, with the backend error kept as the source, and the
//! classification that retries and repairs act on.
//!
//! LanceDB and tantivy report problems through deep chains of wrapped errors.
//! [`StoreError::kind`] walks the chain once and says what kind of problem it
//! is, so callers decide on the kind ([`ErrorKind`]) and never on the words of
//! a message:
//! - a data file that is gone ([`ErrorKind::NotFound`]): a reader whose version
//!   the writer pruned moves to the latest version and retries;
//! - the machine refusing ([`ErrorKind::Environment`]: permissions, a full disk,
//!   too many open files): reported to the user, never "repaired", since moving
//!   the index aside would not help and would cost a rebuild;
//! - data that cannot be decoded ([`ErrorKind::Corrupt`]): what `repair` moves
//!   aside and rebuilds.

use std::path::{Path, PathBuf};

/// Errors of the on-disk index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or folder of the data directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file Cairn wrote itself (catalogue, meta.json) does not parse.
    #[error("index data at {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The index was built with another embedding model. The engine moves it to
    /// the configured model with [`crate::Store::reembed`]; the store alone refuses.
    #[error("the index was built with embedding model {index_model}, but {configured} is configured; it must be re-embedded (Cairn's engine does that when it opens the index)")]
    ModelMismatch {
        index_model: String,
        configured: String,
    },
    /// The index was written by a newer Cairn whose format this one cannot
    /// read. Never damage: nothing is repaired or moved aside.
    #[error("{} was written by a newer Cairn (index format {found}); this Cairn reads up to format {supported}: install the newer Cairn again, or index into another data directory", path.display())]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("vector dimension mismatch: the index expects {expected}, got {found}")]
    DimensionMismatch { expected: usize, found: usize },
    #[error("the data directory is in use by {holder}")]
    Busy { holder: String },
    /// LanceDB failed while `action`.
    #[error("vector store: {action}: {source}")]
    Vector {
        action: &'static str,
        #[source]
        source: Box<lancedb::Error>,
    },
    /// Arrow refused a batch the vector store built or read.
    #[error("vector store: {action}: {source}")]
    Arrow {
        action: &'static str,
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The vector table lacks a column Cairn writes (an index from another program).
    #[error("vector store: the table has no readable column {column}")]
    MissingColumn { column: &'static str },
    /// tantivy failed while `action`.
    #[error("keyword index: {action}: {source}")]
    Keyword {
        action: &'static str,
        #[source]
        source: tantivy::TantivyError,
    },
    /// An operation that changes the index was called on a read-only store.
    #[error("the index is open read-only; this needs the writer")]
    ReadOnly,
    /// A re-embedding could not switch models because rows are missing in the new folder.
    #[error("re-embedding into {model} is incomplete: {missing} documents lack rows in {}", folder.display())]
    ReembedIncomplete {
        model: String,
        folder: PathBuf,
        missing: usize,
    },
    /// A background thread of the store panicked or was cancelled.
    #[error("index task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What kind of problem an error is; see the module docs for what each means
/// to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused: permissions, read-only or full disk, too
    /// many open files, out of memory. The data may be fine.
    Environment,
    /// A file the index refers to does not exist (for example pruned by the
    /// writer while a reader held its version).
    NotFound,
    /// The data cannot be decoded.
    Corrupt,
    /// Another process holds the writer lock.
    Busy,
    /// The index was built for another embedding model or dimension, or by a
    /// newer Cairn.
    Mismatch,
    /// Anything else (a bug or an unexpected backend state).
    Other,
}

impl StoreError {
    /// Classifies the error by walking its source chain (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Io { source, .. } => io_kind(source),
            StoreError::Corrupt { .. } | StoreError::MissingColumn { .. } => ErrorKind::Corrupt,
            StoreError::ModelMismatch { .. }
            | StoreError::DimensionMismatch { .. }
            | StoreError::NewerFormat { .. } => ErrorKind::Mismatch,
            StoreError::Busy { .. } => ErrorKind::Busy,
            StoreError::Vector { source, .. } => chain_kind(source.as_ref()),
            StoreError::Arrow { source, .. } => chain_kind(source),
            StoreError::Keyword { source, .. } => tantivy_kind(source),
            StoreError::Task(_) | StoreError::ReadOnly | StoreError::ReembedIncomplete { .. } => {
                ErrorKind::Other
            }
        }
    }

    /// Whether `repair` should treat the part that raised this error as damaged
    /// and rebuild it. Environment problems, a held lock and a model mismatch are
    /// never damage: rebuilding would not fix them.
    pub fn is_damage(&self) -> bool {
        let misuse = matches!(
            self,
            StoreError::ReadOnly | StoreError::ReembedIncomplete { .. }
        );
        !misuse
            && matches!(
                self.kind(),
                ErrorKind::Corrupt | ErrorKind::NotFound | ErrorKind::Other
            )
    }
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn lance_err(action: &'static str) -> impl FnOnce(lancedb::Error) -> StoreError {
    move |source| StoreError::Vector {
        action,
        source: Box::new(source),
    }
}

pub(crate) fn arrow_err(
    action: &'static str,
) -> impl FnOnce(arrow_schema::ArrowError) -> StoreError {
    move |source| StoreError::Arrow { action, source }
}

pub(crate) fn tantivy_err(
    action: &'static str,
) -> impl FnOnce(tantivy::TantivyError) -> StoreError {
    move |source| StoreError::Keyword { action, source }
}

/// The kind of an operating-system error.
fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    // EMFILE / ENFILE: too many open files (no stable ErrorKind of its own).
    if matches!(e.raw_os_error(), Some(23) | Some(24)) {
        return ErrorKind::Environment;
    }
    match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::PermissionDenied
        | K::ReadOnlyFilesystem
        | K::StorageFull
        | K::QuotaExceeded
        | K::OutOfMemory
        | K::ResourceBusy
        | K::Interrupted
        | K::WouldBlock
        | K::TimedOut
        | K::FileTooLarge => ErrorKind::Environment,
        K::InvalidData | K::UnexpectedEof => ErrorKind::Corrupt,
        _ => ErrorKind::Other,
    }
}

/// The kind of a Lance error variant, when it says.
fn lance_kind(e: &lance_core::Error) -> Option<ErrorKind> {
    use lance_core::Error as L;
    Some(match e {
        L::NotFound { .. } | L::DatasetNotFound { .. } | L::VersionNotFound { .. } => {
            ErrorKind::NotFound
        }
        L::CorruptFile { .. } => ErrorKind::Corrupt,
        L::DiskCapExceeded { .. } => ErrorKind::Environment,
        // One error shared by several readers of the same file.
        L::Shared { source } => return lance_kind(source),
        _ => return None,
    })
}

fn lancedb_kind(e: &lancedb::Error) -> Option<ErrorKind> {
    use lancedb::Error as L;
    Some(match e {
        L::TableNotFound { .. } | L::DatabaseNotFound { .. } => ErrorKind::NotFound,
        L::TableCorrupted { .. } => ErrorKind::Corrupt,
        _ => return None,
    })
}

fn object_store_kind(e: &object_store::Error) -> Option<ErrorKind> {
    Some(match e {
        object_store::Error::NotFound { .. } => ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. } => ErrorKind::Environment,
        _ => return None,
    })
}

/// Walks an error and its sources; the first link that names a kind decides.
fn chain_kind(top: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(top);
    while let Some(e) = next {
        let kind = if let Some(io) = e.downcast_ref::<std::io::Error>() {
            Some(io_kind(io)).filter(|k| *k != ErrorKind::Other)
        } else if let Some(l) = e.downcast_ref::<lance_core::Error>() {
            lance_kind(l)
        } else if let Some(l) = e.downcast_ref::<std::sync::Arc<lance_core::Error>>() {
            lance_kind(l)
        } else if let Some(l) = e.downcast_ref::<lancedb::Error>() {
            lancedb_kind(l)
        } else if let Some(o) = e.downcast_ref::<object_store::Error>() {
            object_store_kind(o)
        } else if let Some(t) = e.downcast_ref::<tantivy::TantivyError>() {
            Some(tantivy_kind(t)).filter(|k| *k != ErrorKind::Other)
        } else {
            None
        };
        if let Some(k) = kind {
            return k;
        }
        next = e.source();
    }
    ErrorKind::Other
}

fn tantivy_kind(e: &tantivy::TantivyError) -> ErrorKind {
    use tantivy::directory::error::{OpenDirectoryError, OpenReadError, OpenWriteError};
    use tantivy::TantivyError as T;
    match e {
        T::LockFailure(..) => ErrorKind::Busy,
        T::DataCorruption(_) | T::IncompatibleIndex(_) | T::DeserializeError(_) => {
            ErrorKind::Corrupt
        }
        T::IoError(io) => io_kind(io),
        T::OpenReadError(OpenReadError::FileDoesNotExist(_)) => ErrorKind::NotFound,
        T::OpenReadError(OpenReadError::IoError { io_error, .. }) => io_kind(io_error),
        T::OpenWriteError(OpenWriteError::IoError { io_error, .. }) => io_kind(io_error),
        T::OpenDirectoryError(OpenDirectoryError::DoesNotExist(_)) => ErrorKind::NotFound,
        T::OpenDirectoryError(OpenDirectoryError::IoError { io_error, .. }) => io_kind(io_error),
        T::OpenDirectoryError(OpenDirectoryError::NotADirectory(_)) => ErrorKind::Corrupt,
        T::SystemError(_) => ErrorKind::Environment,
        other => {
            // Some variants wrap an io::Error deeper down.
            let inner: &(dyn std::error::Error + 'static) = other;
            match inner.source() {
                Some(s) => chain_kind(s),
                None => ErrorKind::Other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operating_system_refusals_are_environment_not_damage() {
        for e in [
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            std::io::Error::from_raw_os_error(24),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        ] {
            let err = io_err(Path::new("/x"), e);
            assert_eq!(err.kind(), ErrorKind::Environment, "{err}");
            assert!(!err.is_damage(), "{err}");
        }
        let gone = io_err(Path::new("/x"), std::io::ErrorKind::NotFound.into());
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        assert!(gone.is_damage());
    }

    #[test]
    fn wrapped_backend_errors_are_classified_through_their_sources() {
        let denied = tantivy::TantivyError::IoError(std::sync::Arc::new(
            std::io::ErrorKind::PermissionDenied.into(),
        ));
        assert_eq!(
            tantivy_err("reading")(denied).kind(),
            ErrorKind::Environment
        );
        let corrupt = tantivy::TantivyError::DataCorruption(
            tantivy::error::DataCorruption::comment_only("bad footer"),
        );
        assert!(tantivy_err("reading")(corrupt).is_damage());
        let missing = lancedb::Error::Lance {
            source: lance_core::Error::not_found("data/x.lance"),
        };
        assert_eq!(lance_err("search")(missing).kind(), ErrorKind::NotFound);
        // As a reader of a pruned version gets it: shared, behind an object
        // store error, behind an I/O error.
        let pruned = lancedb::Error::Lance {
            source: lance_core::Error::from(object_store::Error::Generic {
                store: "N/A",
                source: Box::new(lance_core::Error::Shared {
                    source: std::sync::Arc::new(lance_core::Error::not_found("data/y.lance")),
                }),
            }),
        };
        assert_eq!(lance_err("read")(pruned).kind(), ErrorKind::NotFound);
        let io = lancedb::Error::Lance {
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied).into(),
        };
        assert_eq!(lance_err("open")(io).kind(), ErrorKind::Environment);
        assert_eq!(
            StoreError::Busy {
                holder: "process 1".into()
            }
            .kind(),
            ErrorKind::Busy
        );
    }
}
