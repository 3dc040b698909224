//! Blob names of `../shared/DESIGN.md`, relative to a store's prefix.

use std::fmt;
use std::str::FromStr;

use shoal_format::Version;

use crate::error::Error;

/// The key of the announcement: the version consumers should be on.
pub const ANNOUNCED: &str = "announced";

/// The key of the producer's lease (one writer per prefix).
pub const LOCK: &str = "producer.lock";

/// The name of one data blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlobName {
    /// `snapshot/<v>`: the whole dataset at version `v`.
    Snapshot(Version),
    /// `delta/<from>-<to>`: from one version to the next.
    Delta(Version, Version),
    /// `reverse/<from>-<to>`: back from a version to the one before (`from > to`).
    Reverse(Version, Version),
}

impl BlobName {
    /// The key under the store's prefix.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// The version a blob leads to (a snapshot's own version).
    pub fn to_version(&self) -> Version {
        match *self {
            BlobName::Snapshot(v) | BlobName::Delta(_, v) | BlobName::Reverse(_, v) => v,
        }
    }

    /// The version a delta starts from (`None` for a snapshot).
    pub fn from_version(&self) -> Option<Version> {
        match *self {
            BlobName::Snapshot(_) => None,
            BlobName::Delta(v, _) | BlobName::Reverse(v, _) => Some(v),
        }
    }
}

impl fmt::Display for BlobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobName::Snapshot(v) => write!(f, "snapshot/{}", v.0),
            BlobName::Delta(a, b) => write!(f, "delta/{}-{}", a.0, b.0),
            BlobName::Reverse(a, b) => write!(f, "reverse/{}-{}", a.0, b.0),
        }
    }
}

impl FromStr for BlobName {
    type Err = Error;

    fn from_str(key: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidKey {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let number = |s: &str| -> Result<Version, Error> {
            // Canonical decimal only, so one version has one name.
            if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
                return Err(bad("a version is a decimal number without leading zeros"));
            }
            s.parse::<u64>()
                .map(Version)
                .map_err(|_| bad("a version is a decimal u64"))
        };
        let pair = |s: &str| -> Result<(Version, Version), Error> {
            let (a, b) = s
                .split_once('-')
                .ok_or_else(|| bad("expected <from>-<to>"))?;
            Ok((number(a)?, number(b)?))
        };
        let (kind, rest) = key.split_once('/').ok_or_else(|| bad("not a blob name"))?;
        match kind {
            "snapshot" => Ok(BlobName::Snapshot(number(rest)?)),
            "delta" => {
                let (a, b) = pair(rest)?;
                if a >= b {
                    return Err(bad("a delta goes forward (<from> < <to>)"));
                }
                Ok(BlobName::Delta(a, b))
            }
            "reverse" => {
                let (a, b) = pair(rest)?;
                if a <= b {
                    return Err(bad("a reverse delta goes back (<from> > <to>)"));
                }
                Ok(BlobName::Reverse(a, b))
            }
            _ => Err(bad("not a blob name")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_follow_the_design() {
        assert_eq!(BlobName::Snapshot(Version(7)).key(), "snapshot/7");
        assert_eq!(BlobName::Delta(Version(7), Version(8)).key(), "delta/7-8");
        assert_eq!(
            BlobName::Reverse(Version(8), Version(7)).key(),
            "reverse/8-7"
        );
    }

    #[test]
    fn bad_names_are_rejected() {
        for bad in [
            "snapshot/",
            "snapshot/x",
            "snapshot/01",
            "delta/3",
            "delta/3-3",
            "delta/4-3",
            "reverse/3-4",
            "announced",
            "other/1",
            "snapshot/18446744073709551616",
        ] {
            assert!(bad.parse::<BlobName>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn names_round_trip(a in any::<u64>(), b in any::<u64>()) {
            let names = [
                Some(BlobName::Snapshot(Version(a))),
                (a < b).then_some(BlobName::Delta(Version(a), Version(b))),
                (a > b).then_some(BlobName::Reverse(Version(a), Version(b))),
            ];
            for name in names.into_iter().flatten() {
                prop_assert_eq!(name.key().parse::<BlobName>().unwrap(), name);
            }
        }
    }
}
