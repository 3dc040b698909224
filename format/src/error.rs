//! The one error type of the crate. Every decode error names the blob kind, the section and the
//! byte offset where the problem was found, so a person reading it knows where to look.

use std::fmt;

use crate::blob::BlobKind;

/// Where in a blob a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The kind of blob, when it was known (it is not while the header itself is unreadable).
    pub blob: Option<BlobKind>,
    /// The section, for example `header`, `section table` or `column Movie.title`.
    pub section: String,
    /// Byte offset from the start of the blob.
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.blob {
            Some(kind) => write!(f, "{kind} blob, {} at byte {}", self.section, self.offset),
            None => write!(f, "blob {} at byte {}", self.section, self.offset),
        }
    }
}

/// Everything that can go wrong in `shoal-format`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema is not valid: a reference to an unknown type, a duplicate name, a key on a
    /// missing field, and so on.
    #[error("invalid schema: {0}")]
    Schema(String),

    /// The blob does not start with the shoal magic bytes.
    #[error("not a shoal blob: expected magic {expected:02x?}, found {found:02x?}")]
    BadMagic {
        /// The magic every shoal blob starts with.
        expected: [u8; 8],
        /// What the blob starts with.
        found: [u8; 8],
    },

    /// The blob was written by a format version this reader does not know.
    #[error("unsupported format version {found} (this reader reads versions 1 to {expected})")]
    UnsupportedVersion {
        /// The newest version this reader understands.
        expected: u32,
        /// The version written in the blob.
        found: u32,
    },

    /// A checksum did not match: the blob is corrupt.
    #[error("checksum mismatch in {at}: expected {expected:#010x}, computed {found:#010x}")]
    ChecksumMismatch {
        /// Where.
        at: Location,
        /// The checksum stored in the blob.
        expected: u32,
        /// The checksum of the bytes as they are.
        found: u32,
    },

    /// The blob is shorter than its structure says, or an offset points outside it.
    #[error("out of range in {at}: need {needed} bytes, {available} available")]
    OutOfRange {
        /// Where.
        at: Location,
        /// Bytes the structure asks for.
        needed: u64,
        /// Bytes that are there.
        available: u64,
    },

    /// The blob's structure is inconsistent (a width above 64, a count above the page size, an
    /// ordinal beyond the type, invalid UTF-8 in a string, ...).
    #[error("malformed {at}: {reason}")]
    Malformed {
        /// Where.
        at: Location,
        /// What is wrong.
        reason: String,
    },

    /// The blob is of another kind than the reader expects (a delta given to a snapshot reader).
    #[error("expected a {expected} blob, found a {found} blob")]
    WrongBlobKind {
        /// The kind the caller asked for.
        expected: BlobKind,
        /// The kind in the header.
        found: BlobKind,
    },

    /// A delta was applied to a state of another version or schema.
    #[error("cannot apply delta: {0}")]
    DeltaMismatch(String),

    /// A record does not fit the schema: wrong kind of value, wrong number of fields, a
    /// reference to a missing record.
    #[error("invalid record of type {type_name}: {reason}")]
    InvalidRecord {
        /// The type of the record.
        type_name: String,
        /// What is wrong.
        reason: String,
    },

    /// A field was read with the wrong kind, or a field or type name is unknown.
    #[error("{0}")]
    NoSuchField(String),

    /// An error raised by a serde `Serialize` or `Deserialize` implementation, or a value
    /// that does not map onto the schema.
    #[error("serde: {0}")]
    Serde(String),

    /// Writing a blob failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn malformed(at: Location, reason: impl Into<String>) -> Self {
        Error::Malformed {
            at,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_record(type_name: &str, reason: impl Into<String>) -> Self {
        Error::InvalidRecord {
            type_name: type_name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
