//! The producer's error: why a cycle published nothing. After any error the producer stays on
//! its last published version and the next cycle starts from there.

use shoal_format::Version;

/// A producer result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from the caller's record source, carried through a cycle.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a producer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record does not fit the schema, a blob cannot be encoded or decoded.
    #[error(transparent)]
    Format(#[from] shoal_format::Error),
    /// The store failed; nothing was announced.
    #[error(transparent)]
    Store(#[from] shoal_store::Error),
    /// The caller's closure failed while adding records; nothing was published.
    #[error("the cycle's input failed: {0}")]
    Input(BoxError),
    /// A validator vetoed the cycle; nothing was announced.
    #[error("cycle to version {version} vetoed by validator `{validator}`: {reason}")]
    Vetoed {
        /// The version the cycle would have published.
        version: Version,
        /// The validator's name.
        validator: String,
        /// Its reason.
        reason: String,
    },
    /// Another producer holds the store's lease.
    #[error(
        "{location}: another producer holds the lease ({holder}); \
         stop it, or wait until the lease expires, or break it if it crashed"
    )]
    Locked {
        /// Where the store is.
        location: String,
        /// Who holds it, as written in the lease.
        holder: String,
    },
    /// This producer's lease was taken over (it expired, or someone broke it): it must stop.
    #[error("{location}: this producer lost its lease to another writer; nothing was announced")]
    LostLease {
        /// Where the store is.
        location: String,
    },
    /// The announcement changed under this producer: another writer announced (or it was
    /// damaged). The next cycle restores what the store announces first.
    #[error(
        "{location}: the announcement changed underneath (this producer was on {}, the store \
         announces {}); is another writer publishing here?",
        fmt_version(expected),
        fmt_version(found)
    )]
    Raced {
        /// Where the store is.
        location: String,
        /// The version this producer last announced or restored.
        expected: Option<Version>,
        /// What the store announces now.
        found: Option<Version>,
    },
    /// The store's announced version cannot be rebuilt from its blobs.
    #[error("cannot restore version {version} from {location}: {reason}")]
    Restore {
        /// Where the store is.
        location: String,
        /// The announced version.
        version: Version,
        /// What is missing or wrong.
        reason: String,
    },
    /// A misuse of the API: named type missing, no primary key, and the like.
    #[error("{0}")]
    Usage(String),
}

fn fmt_version(v: &Option<Version>) -> String {
    v.map_or_else(|| "nothing".to_string(), |v| format!("version {}", v.0))
}
