//! # shoal-store
//!
//! Where shoal's blobs live. This crate owns:
//!
//! - the [`BlobStore`] trait: put (bytes or a local file, streamed), get (bytes, a range, or
//!   streamed to a local file with its length and CRC-32C checked), list by prefix, delete,
//!   conditional puts for control objects, and a [`Watch`] on one key;
//! - blob names ([`BlobName`]): `snapshot/<v>`, `delta/<a>-<b>`, `reverse/<b>-<a>` and
//!   `announced`, relative to the store's prefix, so one bucket or folder holds many datasets
//!   side by side;
//! - the announcement ([`read_announced`], [`announce_with`], [`set_pin`]): the version
//!   consumers should be on, written last by the producer and watched by consumers, with an
//!   operator's pin and a manifest of the version's blobs;
//! - how a blob is stored ([`packing`]): zstd-compressed when that makes it smaller, told
//!   from a plain blob by its first bytes;
//! - temporary files ([`temp_path`], [`sweep_temps`]): named after the process writing them,
//!   so what a killed writer left behind is found and removed at the next open;
//! - [`FsStore`], a local folder (atomic writes: temporary file, fsync, rename, fsync of the
//!   folder; watched with `notify`, with a polling fallback), and `S3Store` (feature `s3`),
//!   any S3-compatible server through aws-sdk-s3;
//! - `FaultyStore` (feature `faults`), a wrapper that injects failures, delays, lost writes
//!   and corrupt reads into another store, for tests of what shoal promises when a store
//!   misbehaves.
//!
//! Keys handed to a store are relative to its prefix (`snapshot/42`); a store never reads or
//! writes outside its prefix. Every blob carries the CRC-32C and length recorded when it was
//! put (an S3 object's metadata, a folder's hidden side file), and every get checks both, so a
//! truncated download or a flipped bit is an [`Error`], never data. Objects put by another
//! tool (no recorded checksum) are checked for length only.
//!
//! The store knows nothing of the blob format beyond names (and its first bytes, to tell a
//! packed blob from a plain one): whether a blob decodes is
//! `shoal-format`'s business, and the consumer verifies every blob it maps.
#![forbid(unsafe_code)]

mod announce;
mod error;
#[cfg(feature = "faults")]
mod faulty;
mod fs;
mod name;
pub mod packing;
mod requests;
#[cfg(feature = "s3")]
mod s3;
mod temp;
mod watch;

use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

pub use announce::{announce, announce_with, read_announced, set_pin, Announced};
pub use error::{Error, Result};
#[cfg(feature = "faults")]
pub use faulty::{Fault, FaultRule, FaultyStore, InjectedFault, StoreOp, Trigger};
pub use fs::FsStore;
pub use name::{BlobName, ANNOUNCED, LOCK};
pub use requests::RequestCounts;
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Store, MIN_PART_SIZE};

pub use temp::{sweep_temps, temp_path, Swept};
pub use watch::{jittered, Watch};

/// An opaque version tag of a stored object (an S3 ETag; for a folder, the object's length and
/// checksum), used for conditional writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(pub String);

/// When a conditional put may replace what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Only if nothing is stored under the key (S3 `If-None-Match: *`).
    IfAbsent,
    /// Only if the stored object still has this tag (S3 `If-Match`).
    IfMatch(Tag),
}

/// What a store knows of one stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The key, relative to the store's prefix.
    pub key: String,
    /// Length in bytes.
    pub size: u64,
    /// CRC-32C of the whole blob, when it was recorded at put time.
    pub crc32c: Option<u32>,
    /// When the blob was last written, if the store knows.
    pub modified: Option<SystemTime>,
}

/// A place that holds blobs under keys: a local folder or an S3 bucket and prefix.
///
/// Every method is cancel-safe in the sense that matters: a put that does not return `Ok`
/// leaves either the old object or none under the key, never a partial one.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Where this store is, for messages: a folder path or `s3://bucket/prefix`.
    fn location(&self) -> String;

    /// Stores `data` under `key`, replacing what was there.
    async fn put(&self, key: &str, data: Bytes) -> Result<BlobInfo>;

    /// Stores the contents of the local file `path` under `key`, streamed (large blobs never
    /// sit in memory whole).
    async fn put_file(&self, key: &str, path: &Path) -> Result<BlobInfo>;

    /// Stores `data` under `key` only if `condition` holds; [`Error::PreconditionFailed`]
    /// otherwise. Returns the new tag.
    async fn put_if(&self, key: &str, data: Bytes, condition: Condition) -> Result<Tag>;

    /// The whole blob; [`Error::NotFound`] if there is none. Length and checksum checked.
    async fn get(&self, key: &str) -> Result<Bytes>;

    /// A small control object and its tag, or `None` if there is none.
    async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, Tag)>>;

    /// Streams the blob into the local file `dest` (written to a temporary file beside it and
    /// renamed when whole and checked). Returns what was fetched.
    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<BlobInfo>;

    /// Bytes `range` of the blob (no checksum: only the whole blob has one).
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes>;

    /// What is stored under `key`, or `None`.
    async fn head(&self, key: &str) -> Result<Option<BlobInfo>>;

    /// Every blob whose key starts with `prefix` (relative to the store's prefix), sorted by
    /// key.
    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>>;

    /// Deletes the blob under `key`; deleting a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Watches `key`: the returned [`Watch`] wakes when the object may have changed (a folder
    /// store through file-system events with a polling fallback, S3 by polling the ETag).
    /// Wake-ups can be spurious; the caller reads the object again.
    async fn watch(&self, key: &str) -> Result<Watch>;
}

/// Checks a key: relative, `/`-separated, no empty, `.` or `..` segment, no segment starting
/// with `.` (those are the folder store's own files), printable ASCII.
pub fn check_key(key: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidKey {
            key: key.to_string(),
            reason: reason.to_string(),
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("only printable ASCII without spaces is allowed");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("empty path segment (leading, trailing or double `/`)");
        }
        if segment.starts_with('.') {
            return bad("a segment may not start with `.`");
        }
    }
    Ok(())
}

/// CRC-32C of `data`, the checksum every store records.
pub fn checksum(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in ["announced", "snapshot/1", "delta/1-2", "a/b/c"] {
            check_key(good).unwrap();
        }
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/./b", ".hidden", "a b", "é",
        ] {
            assert!(
                matches!(check_key(bad), Err(Error::InvalidKey { .. })),
                "{bad:?}"
            );
        }
    }
}
