//! Blobs of random states for the consumer's property tests (included by path).

use bytes::Bytes;
use shoal_format::{write_delta, write_snapshot, DataState, Version, WriteOptions};

/// The snapshot of `state` at version `v`.
pub fn snapshot(state: &DataState, v: u64, options: &WriteOptions) -> Bytes {
    let mut out = Vec::new();
    write_snapshot(state, Version(v), options, &mut out).unwrap();
    Bytes::from(out)
}

/// The delta (or reverse delta) from `a` at `va` to `b` at `vb`.
pub fn delta(a: &DataState, b: &DataState, va: u64, vb: u64, options: &WriteOptions) -> Bytes {
    let mut out = Vec::new();
    write_delta(a, b, Version(va), Version(vb), options, &mut out).unwrap();
    Bytes::from(out)
}
