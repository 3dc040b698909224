//! [`CycleReport`]: what a cycle did, for logs, dashboards and the CLI.

use std::time::Duration;

use shoal_format::Version;

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleReport {
    /// The version the producer is on after the cycle.
    pub version: Version,
    /// The version before the cycle (`None` on the first).
    pub previous: Option<Version>,
    /// False when nothing changed and nothing was published.
    pub published: bool,
    /// Records the cycle's closure added (before dedup).
    pub records_offered: u64,
    /// Per type: what changed.
    pub types: Vec<TypeReport>,
    /// Every blob written, with its size.
    pub blobs: Vec<(String, u64)>,
    /// Time per phase.
    pub timings: Timings,
}

/// What changed in one type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeReport {
    /// The type's name.
    pub name: String,
    /// Records after the cycle.
    pub records: u64,
    /// New records (not replacing a record with the same key).
    pub added: u64,
    /// Records gone (not replaced by a record with the same key).
    pub removed: u64,
    /// Records replaced in place by a record with the same primary key.
    pub changed: u64,
    /// Column pages that new and changed records land on.
    pub pages_touched: u64,
}

/// Time spent per phase of a cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings {
    /// Running the caller's closure: matching every record against the current version.
    pub collect: Duration,
    /// Placing new records and building the next version.
    pub place: Duration,
    /// Checking the next version: references, the indexes it needs (duplicate keys),
    /// validators. Runs beside the snapshot encoder, so it is part of `encode` too.
    pub validate: Duration,
    /// Encoding snapshot, delta and reverse delta, and the checks running beside them (wall
    /// time).
    pub encode: Duration,
    /// Writing blobs and the announcement.
    pub publish: Duration,
    /// The whole cycle.
    pub total: Duration,
}

impl CycleReport {
    /// Total bytes written.
    pub fn bytes_written(&self) -> u64 {
        self.blobs.iter().map(|(_, n)| n).sum()
    }

    /// The size of the blob named `key`, if the cycle wrote it.
    pub fn blob_size(&self, key: &str) -> Option<u64> {
        self.blobs.iter().find(|(k, _)| k == key).map(|(_, n)| *n)
    }
}

impl std::fmt::Display for CycleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.published {
            return write!(
                f,
                "version {}: no change, nothing published",
                self.version.0
            );
        }
        write!(f, "version {}", self.version.0)?;
        if let Some(p) = self.previous {
            write!(f, " (from {})", p.0)?;
        }
        writeln!(
            f,
            ": {} records offered, {:.2?}",
            self.records_offered, self.timings.total
        )?;
        for t in &self.types {
            if t.added + t.removed + t.changed > 0 {
                writeln!(
                    f,
                    "  {}: {} records, +{} -{} ~{}, {} pages touched",
                    t.name, t.records, t.added, t.removed, t.changed, t.pages_touched
                )?;
            }
        }
        for (k, n) in &self.blobs {
            writeln!(f, "  {k}: {n} bytes")?;
        }
        let t = &self.timings;
        write!(
            f,
            "  collect {:.2?}, place {:.2?}, validate {:.2?}, encode {:.2?}, publish {:.2?}",
            t.collect, t.place, t.validate, t.encode, t.publish
        )
    }
}
