//! The blob container: header, section table, trailer.

use std::fmt;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// A whole version.
    Snapshot,
    /// The changes from one version to a later one.
    Delta,
    /// The changes from a version back to an earlier one.
    Reverse,
}

impl fmt::Display for BlobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlobKind::Snapshot => "snapshot",
            BlobKind::Delta => "delta",
            BlobKind::Reverse => "reverse delta",
        })
    }
}
