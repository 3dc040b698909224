//! Mutations of real blobs for the hostile-input suites (format and consumer).

/// A little-endian u64 at the start of `b`.
pub fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

/// Recomputes every checksum of a blob from the documented layout, so that a mutation gets
/// past the checksums and reaches the structural checks. Leaves unparseable blobs alone.
pub fn repair_checksums(bytes: &mut [u8]) {
    let n = bytes.len();
    if n < 64 {
        return;
    }
    let table_offset = le_u64(&bytes[n - 24..]) as usize;
    let count = u32::from_le_bytes(bytes[n - 16..n - 12].try_into().unwrap()) as usize;
    if table_offset.checked_add(count * 32) != Some(n - 24) {
        return;
    }
    for i in 0..count {
        let e = table_offset + i * 32;
        let (off, len) = (
            le_u64(&bytes[e + 16..]) as usize,
            le_u64(&bytes[e + 24..]) as usize,
        );
        if off.checked_add(len).is_some_and(|end| end <= table_offset) {
            let crc = crc32c::crc32c(&bytes[off..off + len]);
            bytes[e + 12..e + 16].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let table_crc = crc32c::crc32c(&bytes[table_offset..n - 24]);
    bytes[n - 12..n - 8].copy_from_slice(&table_crc.to_le_bytes());
    let schema_len = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    if 40 + schema_len <= n {
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..36]), &bytes[40..40 + schema_len]);
        bytes[36..40].copy_from_slice(&crc.to_le_bytes());
    }
}
