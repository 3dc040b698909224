//! Temporary files, and sweeping those a killed process left behind.
//!
//! Every file shoal writes goes to a hidden temporary file beside its destination first and is
//! renamed into place when whole, so a reader never sees half a blob. A process killed while
//! writing leaves its temporary file behind. The name says whose it is
//! (`.<name>.tmp-<pid>-<n>`), so the next process to open the folder (the folder store, a
//! consumer's cache) removes the files of writers that are gone: their pid is not running on
//! this machine and the file was not touched for a grace period (a writer on another machine
//! sharing a network folder is not known here by its pid: the grace period keeps its
//! running writes, and a file untouched for a day is removed whoever wrote it).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file untouched this long is removed even if its pid runs (it was reused).
const ABANDONED: Duration = Duration::from_secs(24 * 3600);

/// A hidden temporary file beside `dest`, named after this process.
pub fn temp_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dest.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Files removed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Removes, under `root` (recursively), the temporary files of writers that are gone: whose
/// pid does not run here and that were not modified for `grace`, or that were not modified
/// for a day. Files it cannot read or remove are left alone (a sweep never fails a caller
/// over a file that is not its own); only an unreadable `root` is an error.
pub fn sweep_temps(root: &Path, grace: Duration) -> Result<Swept> {
    let mut swept = Swept::default();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
        Err(e) => return Err(Error::io("read folder", root, e)),
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            if let Ok(inner) = sweep_temps(&path, grace) {
                swept.files += inner.files;
                swept.bytes += inner.bytes;
            }
            continue;
        }
        let Some(pid) = entry.file_name().to_str().and_then(writer_pid) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if is_abandoned(pid, &meta, grace) && fs::remove_file(&path).is_ok() {
            tracing::info!(file = %path.display(), bytes = meta.len(), "temporary file of a gone writer removed");
            swept.files += 1;
            swept.bytes += meta.len();
        }
    }
    Ok(swept)
}

/// The pid in a temporary file's name (`.<name>.tmp-<pid>-<n>`), if it is one.
fn writer_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn is_abandoned(pid: u32, meta: &fs::Metadata, grace: Duration) -> bool {
    let idle = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if idle >= ABANDONED {
        return true;
    }
    idle >= grace && pid != std::process::id() && process_is_gone(pid)
}

/// True when `pid` is known not to run on this machine (Linux: no `/proc/<pid>`). Where
/// that cannot be told, false: only the day-old rule removes files there.
fn process_is_gone(pid: u32) -> bool {
    let proc_fs = Path::new("/proc");
    proc_fs.join("self").exists() && !proc_fs.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_carry_the_writer_pid() {
        let t = temp_path(Path::new("/x/delta/1-2"));
        let name = t.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".1-2.tmp-"), "{name}");
        assert_eq!(writer_pid(name), Some(std::process::id()));
        assert_eq!(writer_pid("1-2"), None);
        assert_eq!(writer_pid(".1-2.crc32c"), None);
        assert_eq!(writer_pid(".x.tmp-12-a"), None);
        assert_eq!(writer_pid("..1-2.crc32c.tmp-77-3"), Some(77));
    }

    #[test]
    fn a_sweep_removes_files_of_gone_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("snapshot");
        fs::create_dir_all(&sub).unwrap();
        // A pid that cannot run (above Linux's pid_max), ours, and a blob.
        let gone = sub.join(".7.tmp-4194999-0");
        let ours = temp_path(&sub.join("8"));
        let blob = sub.join("7");
        for p in [&gone, &ours, &blob] {
            fs::write(p, b"abc").unwrap();
        }
        // Within the grace period nothing goes.
        assert_eq!(
            sweep_temps(dir.path(), Duration::from_secs(60)).unwrap(),
            Swept::default()
        );
        let swept = sweep_temps(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(swept, Swept { files: 1, bytes: 3 });
        assert!(!gone.exists() && ours.exists() && blob.exists());
    }
}
