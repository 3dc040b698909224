//! Bit packing: unsigned values of `width` bits (0 to 64) laid end to end in a little-endian
//! bit stream, value `i` at bits `i*width .. (i+1)*width`.
//!
//! A packed area is `ceil(count*width/8)` bytes rounded up to a multiple of 8, plus 8 bytes of
//! zero padding, so that reading any value is one unaligned 8-byte little-endian load (and one
//! more byte for widths above 56), with no branch on the end of the buffer.

/// The number of bits needed to hold `v` (0 for 0).
pub fn bits_needed(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// The byte length of a packed area of `count` values of `width` bits.
pub fn packed_len(count: usize, width: u32) -> usize {
    let bytes = (count as u128 * width as u128).div_ceil(8);
    (bytes.div_ceil(8) * 8 + 8).min(usize::MAX as u128) as usize
}

/// Appends `values`, each of which must fit in `width` bits, as a packed area.
pub fn pack(values: impl IntoIterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    let start = out.len();
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    let mut count = 0usize;
    for v in values {
        count += 1;
        if width == 0 {
            continue;
        }
        debug_assert!(
            width == 64 || v >> width == 0,
            "{v} does not fit in {width} bits"
        );
        acc |= (v as u128) << bits;
        bits += width;
        while bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    if bits > 0 {
        out.extend_from_slice(&(acc as u64).to_le_bytes()[..bits.div_ceil(8) as usize]);
    }
    out.resize(start + packed_len(count, width), 0);
}

/// Overwrites value `index` of a packed area of `width`-bit values with `value`, which must
/// fit in `width` bits (a consumer patching a copied page in place).
pub fn set(data: &mut [u8], width: u32, index: usize, value: u64) {
    debug_assert!(
        width == 64 || value >> width == 0,
        "{value} does not fit in {width} bits"
    );
    let mut bit = index * width as usize;
    let mut left = width;
    let mut v = value;
    while left > 0 {
        let byte = bit >> 3;
        let offset = (bit & 7) as u32;
        let take = (8 - offset).min(left);
        let mask = (((1u16 << take) - 1) as u8) << offset;
        data[byte] = (data[byte] & !mask) | (((v as u8) << offset) & mask);
        v = if take >= 64 { 0 } else { v >> take };
        left -= take;
        bit += take as usize;
    }
}

/// Reads value `index` of a packed area of `width`-bit values.
///
/// `data` must be a whole packed area holding more than `index` values; a shorter slice reads
/// as zero rather than panicking (callers validate lengths when they open a page).
#[inline]
pub fn get(data: &[u8], width: u32, index: usize) -> u64 {
    if width == 0 {
        return 0;
    }
    let bit = index * width as usize;
    let byte = bit >> 3;
    let shift = (bit & 7) as u32;
    let Some(word) = data.get(byte..).and_then(|s| s.first_chunk::<8>()) else {
        return 0;
    };
    let word = u64::from_le_bytes(*word) >> shift;
    let mask = u64::MAX >> (64 - width);
    if shift + width <= 64 {
        return word & mask;
    }
    let high = data.get(byte + 8).copied().unwrap_or(0) as u64;
    (word | (high << (64 - shift))) & mask
}

/// Reads values `index` and `index + 1` of a packed area of `width`-bit values with a single
/// load when `width <= 28`; wider values fall back to two reads.
#[inline]
pub fn get_pair(data: &[u8], width: u32, index: usize) -> (u64, u64) {
    if width > 28 || width == 0 {
        return (get(data, width, index), get(data, width, index + 1));
    }
    let bit = index * width as usize;
    let Some(word) = data.get(bit >> 3..).and_then(|s| s.first_chunk::<8>()) else {
        return (0, 0);
    };
    let word = u64::from_le_bytes(*word) >> (bit & 7);
    let mask = (1u64 << width) - 1;
    (word & mask, (word >> width) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_overwrites_one_value_and_nothing_else() {
        for width in [1u32, 3, 7, 8, 13, 31, 33, 57, 63, 64] {
            let mask = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            let values: Vec<u64> = (0..50u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask)
                .collect();
            let mut packed = Vec::new();
            pack(values.iter().copied(), width, &mut packed);
            for i in [0usize, 1, 17, 49] {
                let mut copy = packed.clone();
                let new = !values[i] & mask;
                set(&mut copy, width, i, new);
                for (j, v) in values.iter().enumerate() {
                    let want = if j == i { new } else { *v };
                    assert_eq!(get(&copy, width, j), want, "width {width} index {j}");
                }
            }
        }
    }
    use proptest::prelude::*;

    #[test]
    fn widths_and_lengths() {
        assert_eq!(bits_needed(0), 0);
        assert_eq!(bits_needed(1), 1);
        assert_eq!(bits_needed(255), 8);
        assert_eq!(bits_needed(u64::MAX), 64);
        assert_eq!(packed_len(0, 7), 8);
        assert_eq!(packed_len(3, 7), 16);
        assert_eq!(packed_len(10, 64), 88);
    }

    #[test]
    fn short_slice_reads_zero_instead_of_panicking() {
        assert_eq!(get(&[1, 2, 3], 8, 0), 0);
        assert_eq!(get(&[], 64, 1000), 0);
    }

    proptest! {
        #[test]
        fn unpack_returns_what_was_packed(width in 0u32..=64, raw in proptest::collection::vec(any::<u64>(), 0..200)) {
            let mask = if width == 0 { 0 } else { u64::MAX >> (64 - width) };
            let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
            let mut out = vec![0xAA];
            pack(values.iter().copied(), width, &mut out);
            prop_assert_eq!(out.len(), 1 + packed_len(values.len(), width));
            let area = &out[1..];
            for (i, v) in values.iter().enumerate() {
                prop_assert_eq!(get(area, width, i), *v);
                if i + 1 < values.len() {
                    prop_assert_eq!(get_pair(area, width, i), (*v, values[i + 1]));
                }
            }
        }
    }
}
