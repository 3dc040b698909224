//! The one place with `unsafe`: memory-mapping a cache file.
//!
//! The consumer maps only files of its own cache folder, which it writes once (to a
//! temporary name, fsynced, renamed into place) and never modifies afterwards; a new version
//! of a blob is a new file. Mapping is sound as long as nobody else truncates or rewrites
//! those files while they are mapped. That cannot be enforced by the process (another
//! process with write access to the folder could), so it is a documented requirement of the
//! cache folder: it belongs to the consumer. A file damaged before it is mapped is caught by
//! the checksums the consumer verifies on every load.

use std::fs::File;
use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};

/// Maps `path` read-only and returns its bytes; the map lives as long as any `Bytes` (or
/// slice of one) that points into it.
pub(crate) fn map_file(path: &Path) -> Result<Bytes> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the file belongs to the consumer's cache folder, is written once under a
    // temporary name and renamed into place, and is never modified or truncated while mapped
    // (see the module doc: the cache folder must not be written by anyone else). The map is
    // read-only, and `Bytes::from_owner` keeps it alive as long as any view into it.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("memory-map", path, e))?;
    Ok(Bytes::from_owner(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_file_reads_back_and_outlives_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"shoal bytes").unwrap();
        let bytes = map_file(&path).unwrap();
        let tail = bytes.slice(6..);
        drop(bytes);
        // Unlinking the file does not invalidate the map (the inode lives until unmapped).
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&tail[..], b"bytes");
        let err = map_file(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("open"), "{err}");
        std::fs::write(&path, b"").unwrap();
        assert!(map_file(&path).unwrap().is_empty());
    }
}
