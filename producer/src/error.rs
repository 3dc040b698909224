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
    /// The cycle would remove every record of a type that has some: refused before anything
    /// was published. The default guard against an empty or failed upstream input; allow it
    /// with [`ProducerBuilder::allow_empty`](crate::ProducerBuilder::allow_empty).
    #[error(
        "cycle to version {version} refused: it would remove every `{type_name}` record \
         ({before} -> 0); nothing was published. If that is intended, allow it \
         (ProducerBuilder::allow_empty)"
    )]
    WouldEmpty {
        /// The version the cycle would have published.
        version: Version,
        /// The type that would be emptied.
        type_name: String,
        /// Its records in the current version.
        before: u64,
    },
    /// The cycle would remove more of a type's records than allowed: refused before anything
    /// was published. The default guard against a truncated upstream input; raise or lift the
    /// limit with [`ProducerBuilder::max_removal`](crate::ProducerBuilder::max_removal).
    #[error(
        "cycle to version {version} refused: it would remove {removed} of {before} `{type_name}` \
         records ({:.1}%, more than the {max_percent}% allowed; {after} left); nothing was \
         published. If that is intended, raise the limit (ProducerBuilder::max_removal)",
        share(*removed, *before)
    )]
    TooManyRemovals {
        /// The version the cycle would have published.
        version: Version,
        /// The type.
        type_name: String,
        /// Its records in the current version.
        before: u64,
        /// Its records in the version the cycle would publish.
        after: u64,
        /// Records of the current version gone from the next, edits excluded (see
        /// [`ProducerBuilder::max_removal`](crate::ProducerBuilder::max_removal)).
        removed: u64,
        /// The limit, in percent of `before`.
        max_percent: f64,
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
    /// Work on another thread or task did not finish: it panicked, or the runtime is shutting
    /// down. Nothing was announced; the producer stays on its version.
    #[error("{what} did not finish (it panicked or the runtime is shutting down): {source}")]
    Interrupted {
        /// What was running: the cycle, a restore, a blob upload.
        what: &'static str,
        /// Why it stopped.
        source: tokio::task::JoinError,
    },
    /// A root record refers, in a field whose records are matched on another thread, to an
    /// ordinal past those this cycle handed out for it; nothing was published.
    #[error(
        "a {type_name} record's field `{field}` refers to ordinal {ordinal}, which this cycle \
         did not hand out: references must be ordinals the writer returned in the same cycle"
    )]
    UnknownReference {
        /// The referring record's type.
        type_name: String,
        /// The field.
        field: String,
        /// The ordinal it holds.
        ordinal: u32,
    },
    /// A misuse of the API: named type missing, no primary key, and the like.
    #[error("{0}")]
    Usage(String),
}

/// `part` in percent of `whole`.
pub(crate) fn share(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

fn fmt_version(v: &Option<Version>) -> String {
    v.map_or_else(|| "nothing".to_string(), |v| format!("version {}", v.0))
}
