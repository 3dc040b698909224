//! The consumer's error: why a refresh failed. The current version keeps serving after any
//! of them.

use std::path::PathBuf;

use shoal_format::Version;

/// A consumer result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a consumer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed (missing blob, store down, corrupt transfer).
    #[error(transparent)]
    Store(#[from] shoal_store::Error),
    /// A blob does not decode or verify.
    #[error(transparent)]
    Format(#[from] shoal_format::Error),
    /// A blob in the cache does not verify (it was changed or damaged on disk): it was
    /// removed and will be fetched again.
    #[error("cached blob {} is damaged ({reason}); it was removed", path.display())]
    DamagedCache {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation failed (cache folder, memory map, full disk).
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// No chain of blobs in the store leads to the version.
    #[error("no way to version {to} in {location}: {why}")]
    NoPath {
        /// The version asked for.
        to: Version,
        /// Where the store is.
        location: String,
        /// What is missing.
        why: String,
    },
    /// A delta that does not fit the version it is applied to.
    #[error("a delta does not apply to version {version}: {what}")]
    DeltaMismatch {
        /// The version it was applied to.
        version: Version,
        /// What does not fit.
        what: String,
    },
    /// Nothing is announced in the store yet.
    #[error("{location}: nothing is announced yet")]
    NothingAnnounced {
        /// Where the store is.
        location: String,
    },
    /// A refresh's worker thread panicked or was cancelled.
    #[error("the refresh could not {what}: its worker thread failed ({reason})")]
    Task {
        /// What the thread was doing.
        what: &'static str,
        /// The panic or cancellation.
        reason: String,
    },
    /// A misuse of the API (unknown type or field, and the like).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
