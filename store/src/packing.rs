//! How a blob rests in a store and crosses the network: zstd-compressed when that makes it
//! smaller, plain otherwise.
//!
//! Every consumer downloads every blob, so at fleet scale the bytes of a version are most of
//! what it costs. The producer packs each blob ([`pack`]) before it puts it; whoever reads a
//! blob unpacks it once ([`unpack`], [`unpack_file`]): the consumer from the temporary file
//! it fetched into, to the blob's name in its cache, which holds and maps plain blobs only. The two are told apart by their first bytes: zstd's frame magic,
//! or shoal's `SHOAL\r\n\x1a`, so a store written before packing (all plain) reads as before,
//! and so does a blob that did not shrink (stored plain).
//!
//! Checksums: the store's CRC-32C and length cover the stored (packed) bytes, so a flipped
//! bit in transfer is caught before anything is unpacked; the format's checksums cover the
//! plain bytes a reader maps. zstd's own frame checksum is on too, so a damaged frame is an
//! error even where the store recorded no checksum.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};

/// zstd's frame magic number, as it appears in a file (0xFD2FB528, little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The level blobs are packed at unless the producer is told otherwise. zstd's default; on
/// the 1M-record catalog it stores the snapshot in 0.70x its size (level 1: 0.75x, level 6:
/// 0.68x at twice level 3's time), see docs/FORMAT.md.
pub const DEFAULT_LEVEL: i32 = 3;

/// A packed blob must save at least this fraction (1/16) of the plain size to be kept: less
/// is not worth a decompression on every consumer.
const MIN_SAVING: usize = 16;

/// `plain` compressed at `level` with `threads` workers, or `plain` itself when that would
/// not save a sixteenth of it. CPU work: run it off an async executor.
pub fn pack(plain: Bytes, level: i32, threads: usize) -> Result<Bytes> {
    let io = |e| Error::Io {
        op: "compress a blob",
        path: "(memory)".into(),
        source: e,
    };
    let mut encoder =
        zstd::stream::Encoder::new(Vec::with_capacity(plain.len() / 2), level).map_err(io)?;
    encoder.include_checksum(true).map_err(io)?;
    encoder.include_contentsize(true).map_err(io)?;
    encoder
        .set_pledged_src_size(Some(plain.len() as u64))
        .map_err(io)?;
    if threads > 1 {
        encoder.multithread(threads as u32).map_err(io)?;
    }
    encoder.write_all(&plain).map_err(io)?;
    let packed = encoder.finish().map_err(io)?;
    if packed.len() + plain.len() / MIN_SAVING > plain.len() {
        return Ok(plain);
    }
    Ok(Bytes::from(packed))
}

/// True when a blob's first bytes are a packed (zstd) blob's.
pub fn is_packed(head: &[u8]) -> bool {
    head.starts_with(&ZSTD_MAGIC)
}

/// The plain bytes of a blob as stored (returned as is when it was stored plain);
/// `location` and `key` name it in the error when it does not unpack. CPU work.
pub fn unpack(stored: Bytes, location: &str, key: &str) -> Result<Bytes> {
    if !is_packed(&stored) {
        return Ok(stored);
    }
    let mut plain = Vec::new();
    zstd::stream::copy_decode(&stored[..], &mut plain).map_err(|e| Error::Corrupt {
        location: location.to_string(),
        key: key.to_string(),
        detail: format!("it does not decompress: {e}"),
    })?;
    Ok(Bytes::from(plain))
}

/// Moves a blob fetched into file `fetched` to `dest`, unpacked when it is packed, so that
/// `dest` only ever holds a whole plain blob: a plain one is renamed, a packed one is
/// decompressed into a temporary file beside `dest`, synced and renamed. `fetched` is gone
/// afterwards, whatever happened. Returns whether it was packed; `key` names it in the
/// error. Blocking.
pub fn unpack_file(fetched: &Path, dest: &Path, key: &str) -> Result<bool> {
    let result = settle(fetched, dest, key);
    let _ = std::fs::remove_file(fetched);
    result
}

fn settle(fetched: &Path, dest: &Path, key: &str) -> Result<bool> {
    let io = |op, e| Error::Io {
        op,
        path: fetched.to_path_buf(),
        source: e,
    };
    let mut file = std::fs::File::open(fetched).map_err(|e| io("open a fetched blob", e))?;
    let mut head = [0u8; 4];
    let read = std::io::Read::read(&mut file, &mut head).map_err(|e| io("read a blob", e))?;
    if !is_packed(&head[..read]) {
        std::fs::rename(fetched, dest).map_err(|e| io("move a fetched blob", e))?;
        return Ok(false);
    }
    let file = std::fs::File::open(fetched).map_err(|e| io("open a fetched blob", e))?;
    let temp = crate::temp_path(dest);
    let decode = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        zstd::stream::copy_decode(std::io::BufReader::new(file), &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, dest)
    };
    decode().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::Corrupt {
            location: fetched.display().to_string(),
            key: key.to_string(),
            detail: format!("it does not decompress: {e}"),
        }
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(len: usize) -> Bytes {
        let mut b = b"SHOAL\r\n\x1a".to_vec();
        b.extend((0..len).map(|i| (i % 7) as u8));
        Bytes::from(b)
    }

    #[test]
    fn a_blob_that_shrinks_is_packed_and_unpacks_to_the_same_bytes() {
        let plain = blob(100_000);
        for threads in [1, 2] {
            let packed = pack(plain.clone(), DEFAULT_LEVEL, threads).unwrap();
            assert!(is_packed(&packed));
            assert!(packed.len() < plain.len() / 10);
            assert_eq!(unpack(packed, "here", "snapshot/1").unwrap(), plain);
        }
    }

    #[test]
    fn a_blob_that_does_not_shrink_stays_plain() {
        let mut noise = b"SHOAL\r\n\x1a".to_vec();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push(x as u8);
        }
        let plain = Bytes::from(noise);
        let stored = pack(plain.clone(), DEFAULT_LEVEL, 1).unwrap();
        assert!(!is_packed(&stored));
        assert_eq!(stored, plain);
        assert_eq!(unpack(stored, "here", "snapshot/1").unwrap(), plain);
    }

    #[test]
    fn a_damaged_packed_blob_is_an_error_naming_it() {
        let packed = pack(blob(100_000), DEFAULT_LEVEL, 1).unwrap();
        let mut bad = packed.to_vec();
        let at = bad.len() - 6;
        bad[at] ^= 0xff;
        let err = unpack(Bytes::from(bad), "s3://b/p", "delta/1-2").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("delta/1-2") && text.contains("decompress"),
            "{text}"
        );
    }

    #[test]
    fn a_fetched_file_lands_plain_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let (fetched, dest) = (dir.path().join(".fetched"), dir.path().join("snapshot-1"));
        let plain = blob(100_000);
        std::fs::write(&fetched, pack(plain.clone(), DEFAULT_LEVEL, 1).unwrap()).unwrap();
        assert!(unpack_file(&fetched, &dest, "snapshot/1").unwrap());
        assert_eq!(std::fs::read(&dest).unwrap(), plain);
        std::fs::write(&fetched, &plain).unwrap();
        assert!(
            !unpack_file(&fetched, &dest, "snapshot/1").unwrap(),
            "plain"
        );
        assert_eq!(std::fs::read(&dest).unwrap(), plain);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only dest"
        );
    }

    #[test]
    fn a_damaged_fetched_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (fetched, dest) = (dir.path().join(".fetched"), dir.path().join("delta-1-2"));
        let mut bad = pack(blob(100_000), DEFAULT_LEVEL, 1).unwrap().to_vec();
        let at = bad.len() - 6;
        bad[at] ^= 0xff;
        std::fs::write(&fetched, bad).unwrap();
        let err = unpack_file(&fetched, &dest, "delta/1-2").unwrap_err();
        assert!(err.to_string().contains("delta/1-2"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
