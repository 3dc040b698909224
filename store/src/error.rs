//! The store's one error type: what went wrong, with the key and the store it happened in.

use std::path::PathBuf;

/// A store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing is stored under the key.
    #[error("{location}: no blob `{key}`")]
    NotFound {
        /// Where the store is.
        location: String,
        /// The missing key.
        key: String,
    },
    /// A conditional put found a different object (or one where none was expected).
    #[error("{location}: `{key}` changed underneath (conditional write refused)")]
    PreconditionFailed {
        /// Where the store is.
        location: String,
        /// The key.
        key: String,
    },
    /// The fetched bytes are not what was stored: wrong length or wrong checksum.
    #[error("{location}: blob `{key}` is corrupt: {detail}")]
    Corrupt {
        /// Where the store is.
        location: String,
        /// The key.
        key: String,
        /// What did not match.
        detail: String,
    },
    /// A key that a store cannot hold.
    #[error("invalid blob key `{key}`: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A store address (folder or `s3://` URL) that cannot be used.
    #[error("invalid store address `{address}`: {reason}")]
    InvalidAddress {
        /// The address.
        address: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An announcement that does not hold a version.
    #[error("{location}: the announcement is not a version: {detail}")]
    BadAnnouncement {
        /// Where the store is.
        location: String,
        /// What was read instead.
        detail: String,
    },
    /// A local file-system operation failed.
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
    /// The remote store failed (after retries, where retrying made sense).
    #[error("{location}: {op} `{key}` failed: {message}")]
    Remote {
        /// Where the store is.
        location: String,
        /// What was being done.
        op: &'static str,
        /// The key.
        key: String,
        /// The service's or the transport's message.
        message: String,
    },
}

impl Error {
    /// An I/O error on `path` during `op`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True for [`Error::PreconditionFailed`].
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Error::PreconditionFailed { .. })
    }
}
