//! The cache folder: blobs fetched once, mapped and verified, written back, and kept bounded.
//!
//! - **Layout**: one file per blob, under its store key (`snapshot/42`, `delta/41-42`). A
//!   file is written to a temporary name beside it and renamed when whole and checked, so a
//!   file under a blob's name is always a whole blob.
//! - **Verification**: a file is mapped and every checksum of the blob checked before it is
//!   first used (and a snapshot's key indexes checked against its keys); a damaged file is
//!   removed (and fetched again). A file that passed carries a **verified mark**: its
//!   modification time is set to [`VERIFIED_MTIME`], a time no write can give it (any write
//!   sets the time to now). A restart maps a marked file with the checks of opening only
//!   (header and table checksums, type sections), so it starts in time proportional to
//!   types, not pages or bytes; a file written since, by anyone, is verified again. A
//!   column's page headers are checked when it is first read; bits that rot on disk after
//!   the file was verified show there, mark the version damaged (`Dataset::damage`), and the
//!   next refresh removes the file and fetches it again.
//! - **Retention** ([`Cache::retain`], after every refresh): the files a restart needs to
//!   reach the current version (and a pinned one) are kept: the snapshot the planner would
//!   start from and the deltas after it. Other files are kept newest first while the cache
//!   stays under its byte budget, and removed otherwise. A file still mapped by a version in
//!   use may be removed: its map stays valid until the version is dropped.
//! - **Temporary files** of a killed process are swept when the cache is opened.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use shoal_format::{BlobLayout, DeltaView, SnapshotView, Version};
use shoal_store::BlobName;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::map::map_file;
use crate::plan::{plan, Start};

/// The modification time of a cache file whose every checksum was verified: 1971-01-01.
const VERIFIED_MTIME: Duration = Duration::from_secs(365 * 86_400);

/// How long a temporary file of a process that is gone is left alone.
const TEMP_GRACE: Duration = Duration::from_secs(60);

/// The folders blobs live in.
const FOLDERS: [&str; 3] = ["snapshot", "delta", "reverse"];

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Retained {
    /// Files kept.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files removed.
    pub removed: u64,
    /// Bytes removed.
    pub removed_bytes: u64,
}

/// A consumer's cache folder.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (creates) the folder and sweeps temporary files of processes that are gone.
    pub(crate) fn open(dir: PathBuf) -> Result<Cache> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create cache folder", &dir, e))?;
        shoal_store::sweep_temps(&dir, TEMP_GRACE)?;
        Ok(Cache { dir })
    }

    /// The file of a blob.
    pub(crate) fn path(&self, name: &BlobName) -> PathBuf {
        self.dir.join(name.key())
    }

    /// Every blob file in the cache, with its size.
    pub(crate) fn files(&self) -> BTreeMap<BlobName, u64> {
        let mut files = BTreeMap::new();
        for folder in FOLDERS {
            let Ok(entries) = std::fs::read_dir(self.dir.join(folder)) else {
                continue;
            };
            for entry in entries.flatten() {
                let key = format!("{folder}/{}", entry.file_name().to_string_lossy());
                if let (Ok(name), Ok(meta)) = (key.parse::<BlobName>(), entry.metadata()) {
                    files.insert(name, meta.len());
                }
            }
        }
        files
    }

    /// The mapped, verified bytes of a cached blob; `None` when it is not cached, or was
    /// damaged (then it is removed).
    pub(crate) fn mapped(&self, name: &BlobName) -> Option<Bytes> {
        let path = self.path(name);
        if !path.exists() {
            return None;
        }
        let checked = if is_marked(&path) {
            map_opened(&path, name)
        } else {
            map_and_verify(&path, name)
        };
        match checked {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::warn!(blob = %name, error = %e, "damaged cache file removed");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Removes a blob's file; true if there was one.
    pub(crate) fn remove(&self, name: &BlobName) -> bool {
        std::fs::remove_file(self.path(name)).is_ok()
    }

    /// Moves a blob fetched into the temporary file `fetched` to its name in the cache,
    /// unpacked when the store keeps it packed (see [`shoal_store::packing`]), then maps and
    /// verifies it; removes it if it is damaged. A name in the cache only ever holds a whole
    /// plain blob, whenever the process is killed.
    pub(crate) fn verify_fetched(&self, name: &BlobName, fetched: &Path) -> Result<Bytes> {
        let path = self.path(name);
        shoal_store::packing::unpack_file(fetched, &path, &name.key())
            .map_err(Error::from)
            .and_then(|_| map_and_verify(&path, name))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
            })
    }

    /// Encodes `data` as a snapshot into the cache atomically (temporary file, fsync,
    /// rename); returns its size. Skipped (`Ok(None)`) when the cache has it already.
    pub(crate) fn write_back(&self, data: &Dataset) -> Result<Option<u64>> {
        let path = self.path(&BlobName::Snapshot(data.version()));
        if path.exists() {
            return Ok(None);
        }
        let bytes = data.encode_snapshot()?;
        let dir = path.parent().expect("a cache path has a folder");
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create cache folder", dir, e))?;
        let temp = shoal_store::temp_path(&path);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&temp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&temp, &path)?;
            mark_verified(&path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Error::io("write back a snapshot", &path, e)
        })?;
        Ok(Some(bytes.len() as u64))
    }

    /// Applies retention: keeps what a restart needs to reach each of `needed`, then other
    /// files newest first while the cache stays within `max_bytes`; removes the rest.
    pub(crate) fn retain(&self, needed: &[Version], max_bytes: u64) -> Retained {
        let files = self.files();
        let Some(keep) = needed_files(&files, needed) else {
            // A needed version cannot be rebuilt from the cache alone (a file was damaged
            // and removed): remove nothing until it can.
            return Retained {
                files: files.len() as u64,
                bytes: files.values().sum(),
                ..Retained::default()
            };
        };
        let mut done = Retained::default();
        let mut budget = max_bytes.saturating_sub(keep.iter().map(|n| files[n]).sum());
        // Newest first: the blobs leading to the highest versions are the likeliest next use.
        let mut others: Vec<_> = files.iter().filter(|(n, _)| !keep.contains(n)).collect();
        others.sort_by_key(|(n, _)| std::cmp::Reverse((n.to_version(), n.from_version())));
        for (name, &size) in &files {
            if keep.contains(name) {
                done.files += 1;
                done.bytes += size;
            }
        }
        for (name, &size) in others {
            if size <= budget {
                budget -= size;
                done.files += 1;
                done.bytes += size;
            } else if std::fs::remove_file(self.path(name)).is_ok() {
                done.removed += 1;
                done.removed_bytes += size;
            }
        }
        done
    }
}

/// The files a restart needs to reach every version of `needed` from the cache alone: for
/// each, the snapshot the planner starts from and the deltas after it. `None` if one of them
/// cannot be reached.
fn needed_files(files: &BTreeMap<BlobName, u64>, needed: &[Version]) -> Option<BTreeSet<BlobName>> {
    let mut keep = BTreeSet::new();
    for &v in needed {
        let route = plan(None, v, files, |_| true)?;
        if let Start::Snapshot(s) = route.start {
            keep.insert(BlobName::Snapshot(s));
        }
        keep.extend(route.steps);
    }
    Some(keep)
}

/// Whether a cache file carries the verified mark.
fn is_marked(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t == std::time::UNIX_EPOCH + VERIFIED_MTIME)
}

/// Gives a verified cache file the verified mark.
fn mark_verified(path: &Path) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(std::time::UNIX_EPOCH + VERIFIED_MTIME)
}

/// Maps a cache file verified before, checking its header and section table (their own
/// checksums); a snapshot's page headers are checked column by column as they are first
/// read (see `Dataset::damage`).
fn map_opened(path: &Path, name: &BlobName) -> Result<Bytes> {
    let bytes = map_file(path)?;
    let damaged = |reason: String| Error::DamagedCache {
        path: path.to_path_buf(),
        reason,
    };
    let layout = BlobLayout::parse(&bytes).map_err(|e| damaged(e.to_string()))?;
    check_name(layout.header, name).map_err(damaged)?;
    Ok(bytes)
}

/// Maps a cache file and checks every checksum of the blob, a snapshot's key indexes, and
/// that it is what its name says; then marks it verified.
fn map_and_verify(path: &Path, name: &BlobName) -> Result<Bytes> {
    let bytes = map_file(path)?;
    let damaged = |reason: String| Error::DamagedCache {
        path: path.to_path_buf(),
        reason,
    };
    let header = match name {
        BlobName::Snapshot(_) => {
            let view = SnapshotView::open(bytes.clone()).map_err(|e| damaged(e.to_string()))?;
            // Every section's CRC-32C and page header (values are checked as they are read:
            // UTF-8 per string).
            view.layout()
                .verify(&bytes)
                .and_then(|_| view.check_pages())
                .and_then(|_| view.verify_key_indexes())
                .map_err(|e| damaged(e.to_string()))?;
            view.layout().header
        }
        BlobName::Delta(..) | BlobName::Reverse(..) => {
            let view = DeltaView::open(bytes.clone()).map_err(|e| damaged(e.to_string()))?;
            view.layout()
                .verify(&bytes)
                .map_err(|e| damaged(e.to_string()))?;
            view.layout().header
        }
    };
    check_name(header, name).map_err(damaged)?;
    mark_verified(path).map_err(|e| Error::io("mark a verified cache file", path, e))?;
    Ok(bytes)
}

/// That a blob holds the versions its name says.
fn check_name(header: shoal_format::Header, name: &BlobName) -> std::result::Result<(), String> {
    let expected = (name.from_version(), name.to_version());
    let found = (
        matches!(name, BlobName::Delta(..) | BlobName::Reverse(..)).then_some(header.from),
        header.to,
    );
    if expected != found {
        return Err(format!(
            "it holds versions {:?} -> {}, not what its name says",
            found.0.map(|v| v.0),
            found.1 .0
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> Version {
        Version(n)
    }

    fn tiny_snapshot() -> Vec<u8> {
        use shoal_format::{FieldKind, Record, Schema, StateBuilder, TypeDef, Value};
        let schema = std::sync::Arc::new(
            Schema::new(vec![TypeDef::object("M")
                .field("id", FieldKind::I64)
                .primary_key(&["id"])])
            .unwrap(),
        );
        let mut b = StateBuilder::new(schema);
        b.add_named("M", Record::Object(vec![Value::I64(7)]))
            .unwrap();
        let mut out = Vec::new();
        shoal_format::write_snapshot(&b.finish(), v(3), &Default::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn a_verified_file_is_marked_and_any_write_clears_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_path_buf()).unwrap();
        let name = BlobName::Snapshot(v(3));
        let fetched = dir.path().join("fetched");
        let blob = tiny_snapshot();
        std::fs::write(&fetched, &blob).unwrap();
        let path = cache.path(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        cache.verify_fetched(&name, &fetched).unwrap();
        assert!(is_marked(&path), "verified, so marked");
        assert!(cache.mapped(&name).is_some(), "a marked file maps");
        // Damage a byte in place, as a stray write would.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 200;
        bytes[at] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(!is_marked(&path), "a write clears the mark");
        assert!(
            cache.mapped(&name).is_none(),
            "so it is verified again, and refused"
        );
        assert!(!path.exists(), "and removed");
    }

    #[test]
    fn retention_keeps_the_way_a_restart_takes_and_the_newest_within_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_path_buf()).unwrap();
        let names = [
            (BlobName::Snapshot(v(1)), 100),
            (BlobName::Delta(v(1), v(2)), 10),
            (BlobName::Reverse(v(2), v(1)), 10),
            (BlobName::Snapshot(v(2)), 100),
            (BlobName::Delta(v(2), v(3)), 10),
            (BlobName::Reverse(v(3), v(2)), 10),
            (BlobName::Delta(v(3), v(4)), 10),
        ];
        for (name, size) in names {
            let path = cache.path(&name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, vec![0u8; size]).unwrap();
        }
        // Version 4 needs snapshot 2 and two deltas (120 bytes); 10 bytes more fit the
        // newest other file (the reverse delta 3 -> 2).
        let done = cache.retain(&[v(4)], 130);
        assert_eq!((done.files, done.bytes), (4, 130));
        assert_eq!((done.removed, done.removed_bytes), (3, 120));
        let left: Vec<_> = cache.files().into_keys().collect();
        assert_eq!(
            left,
            [
                BlobName::Snapshot(v(2)),
                BlobName::Delta(v(2), v(3)),
                BlobName::Delta(v(3), v(4)),
                BlobName::Reverse(v(3), v(2)),
            ]
        );
        // A version the cache cannot reach: nothing is removed.
        let done = cache.retain(&[v(9)], 0);
        assert_eq!((done.files, done.removed), (4, 0));
    }
}
