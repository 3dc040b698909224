//! Key index sections: a type's primary-key index, written by the snapshot writer and read in
//! place from the map, so a consumer starts without building one.
//!
//! The index is a table of 12-byte **slots**, each empty (zero) or an entry: the record's
//! 64-bit key hash `h` and its ordinal `o` plus one, held here as the `u128` `h << 32 | (o +
//! 1)`. The whole hash is kept because for a key of one fixed-width field it *is* the key
//! (the hash is a bijection of the field's 64 bits), so such a lookup needs no read of the
//! record to confirm it. The layout is **canonical**: a function of the type's keys and the
//! capacity alone, never of the order records came in. Entries, sorted by slot value, are
//! placed in turn at `max(home, previous position + 1)`, where `home = (h >> 32) * capacity >>
//! 32` (a monotone map from hash to slot, so there is no wrap-around: the table grows past
//! `capacity` instead). This is
//! ordered linear probing: a lookup starts at the key's home and stops at an empty slot or a
//! larger hash; an insert or a removal shifts one run of entries by one slot. A consumer that
//! applies a delta updates the table itself, slot by slot, and arrives at the very bytes the
//! producer writes into the next snapshot. Deltas carry no index.
//!
//! Layout, hash and the capacity rule are specified in `docs/FORMAT.md` ("Key index
//! sections"); the reference reader checks them.

use crate::ids::{FieldId, TypeId};
use crate::read::FieldValue;
use crate::record::{Record, Value};
use crate::schema::Schema;

/// The section kind of a key index: `(SECTION_KEY_INDEX, type, 0)`.
pub const SECTION_KEY_INDEX: u16 = 4;

/// The only key hash so far (the section's first field).
pub const KEY_HASH_V1: u32 = 1;

/// Bytes of the section header; the slots follow.
pub const KEY_INDEX_HEADER_LEN: usize = 32;

/// Bytes of one slot: the hash (`u64`), then the ordinal plus one (`u32`), little-endian.
pub const SLOT_LEN: usize = 12;

/// A slot: `hash << 32 | (ordinal + 1)`, or [`EMPTY_SLOT`].
pub type Slot = u128;

/// An empty slot.
pub const EMPTY_SLOT: Slot = 0;

/// The 12 bytes of a slot.
#[inline]
pub fn slot_bytes(slot: Slot) -> [u8; SLOT_LEN] {
    let mut out = [0u8; SLOT_LEN];
    out[..8].copy_from_slice(&((slot >> 32) as u64).to_le_bytes());
    out[8..].copy_from_slice(&(slot as u32).to_le_bytes());
    out
}

/// The slot in 12 bytes.
#[inline]
pub fn slot_from(bytes: &[u8]) -> Slot {
    let hash = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let ordinal = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    (hash as u128) << 32 | ordinal as u128
}

/// The bytes of a table of `slots` slots: `12 * slots`, zero-padded to a multiple of 8.
pub fn table_len(slots: u64) -> u64 {
    (slots * SLOT_LEN as u64).div_ceil(8) * 8
}

const SEED: u64 = 0x243F_6A88_85A3_08D3;
/// The word of a null key value.
pub const NULL_WORD: u64 = 0x9E37_79B9_7F4A_7C15;

/// MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit.
#[inline]
pub fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The word of a string or byte string: its length, then each 8-byte little-endian chunk
/// (the last one zero-padded), each folded in with [`fmix64`].
fn bytes_word(b: &[u8]) -> u64 {
    let mut w = fmix64(b.len() as u64 ^ SEED);
    for chunk in b.chunks(8) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        w = fmix64(w ^ u64::from_le_bytes(buf));
    }
    w
}

/// The word of one key value as a page stores it: fixed kinds by their 64 bits (an i32
/// sign-extended, an f32's bits zero-extended, a bool 0 or 1).
#[inline]
pub fn field_word(v: &FieldValue<'_>) -> u64 {
    match v {
        FieldValue::Null => NULL_WORD,
        FieldValue::Bool(b) => *b as u64,
        FieldValue::I32(x) => *x as i64 as u64,
        FieldValue::I64(x) => *x as u64,
        FieldValue::F32(x) => x.to_bits() as u64,
        FieldValue::F64(x) => x.to_bits(),
        FieldValue::Str(s) => bytes_word(s.as_bytes()),
        FieldValue::Bytes(b) => bytes_word(b),
        FieldValue::Ref(o) => o.0 as u64,
    }
}

/// [`field_word`] of an owned value.
pub fn value_word(v: &Value) -> u64 {
    field_word(&FieldValue::from(v))
}

/// The key hash of a record whose key fields have these words, in key path order.
#[inline]
pub fn key_hash(words: impl IntoIterator<Item = u64>) -> u64 {
    words.into_iter().fold(SEED, key_hash_step)
}

/// One step of [`key_hash`]: the hash so far with the next field's word folded in.
#[inline]
pub fn key_hash_step(hash: u64, word: u64) -> u64 {
    fmix64(hash ^ word)
}

/// The slot of a record with key hash `hash` at ordinal `ordinal`.
#[inline]
pub fn slot_of(hash: u64, ordinal: u32) -> Slot {
    (hash as u128) << 32 | (ordinal as u128 + 1)
}

/// The key hash of a non-empty slot.
#[inline]
pub fn slot_hash(slot: Slot) -> u64 {
    (slot >> 32) as u64
}

/// The ordinal of a non-empty slot.
#[inline]
pub fn slot_ordinal(slot: Slot) -> u32 {
    (slot as u32).wrapping_sub(1)
}

/// The home position of key hash `hash` at `capacity`.
#[inline]
pub fn home(hash: u64, capacity: u64) -> u64 {
    (((hash >> 32) as u128 * capacity as u128) >> 32) as u64
}

/// The home position of a non-empty slot.
#[inline]
pub fn slot_home(slot: Slot, capacity: u64) -> u64 {
    home(slot_hash(slot), capacity)
}

/// The capacity of a table of `entries` records: `entries * 5/4 + 8` rounded up to four
/// significant bits, so the load stays between about 0.7 and 0.8 and a table is resized
/// only when the count crosses one of those steps (about 6-12% apart).
pub fn capacity_for(entries: u64) -> u64 {
    let want = entries + entries / 4 + 8;
    let bits = 64 - want.leading_zeros();
    if bits <= 4 {
        return want;
    }
    let unit = 1u64 << (bits - 4);
    want.div_ceil(unit) * unit
}

/// Places `sorted` slots (strictly increasing) into a canonical table of `capacity`: each at
/// `max(home, previous position + 1)`. The table is `capacity` slots long, or longer when the
/// last run spills past it.
pub fn place(sorted: impl IntoIterator<Item = Slot>, capacity: u64) -> Vec<Slot> {
    let mut table = Vec::with_capacity(capacity as usize);
    table.extend(placed(sorted, capacity));
    table
}

/// The table [`place`] makes, slot by slot (entries and the empty slots between them), without
/// holding it: a writer streams a table of 100M entries instead of allocating it.
pub fn placed(sorted: impl IntoIterator<Item = Slot>, capacity: u64) -> impl Iterator<Item = Slot> {
    let mut sorted = sorted.into_iter().peekable();
    let mut at = 0u64;
    std::iter::from_fn(move || {
        let slot = match sorted.peek() {
            Some(&s) if slot_home(s, capacity) <= at => sorted.next(),
            Some(_) => Some(EMPTY_SLOT),
            None if at < capacity => Some(EMPTY_SLOT),
            None => None,
        };
        at += 1;
        slot
    })
}

/// The length of the table [`place`] makes of `sorted` slots.
pub fn placed_len(sorted: &[Slot], capacity: u64) -> u64 {
    let end = sorted
        .iter()
        .fold(0u64, |next, &s| slot_home(s, capacity).max(next) + 1);
    end.max(capacity)
}

/// The fields of a type's primary key when it has a key index section: an object type whose
/// key paths are each one field of the type itself. A key through a reference changes when
/// the referred record does, without its parents changing, so it has no section.
pub fn indexed_key(schema: &Schema, ty: TypeId) -> Option<Vec<FieldId>> {
    let paths = schema.type_def(ty)?.key()?;
    paths
        .iter()
        .map(|p| match schema.resolve_path(ty, p).ok()?.0.as_slice() {
            [(t, f)] if *t == ty => Some(*f),
            _ => None,
        })
        .collect()
}

/// The slot of `record` at `ordinal`, keyed by `fields`.
pub fn record_slot(record: &Record, fields: &[FieldId], ordinal: u32) -> Slot {
    let values: &[Value] = match record {
        Record::Object(values) => values,
        _ => &[],
    };
    let words = fields
        .iter()
        .map(|f| values.get(f.index()).map_or(NULL_WORD, value_word));
    slot_of(key_hash(words), ordinal)
}

/// The header of a key index section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIndexHeader {
    /// The key hash ([`KEY_HASH_V1`]).
    pub hash: u32,
    /// Home slots: [`capacity_for`] the entry count.
    pub capacity: u64,
    /// Entries: the type's records.
    pub entries: u64,
    /// Slots in the table: `capacity`, or more when the last run spills past it.
    pub slots: u64,
}

impl KeyIndexHeader {
    /// The header's 32 bytes.
    pub fn to_bytes(&self) -> [u8; KEY_INDEX_HEADER_LEN] {
        let mut out = [0u8; KEY_INDEX_HEADER_LEN];
        out[0..4].copy_from_slice(&self.hash.to_le_bytes());
        out[8..16].copy_from_slice(&self.capacity.to_le_bytes());
        out[16..24].copy_from_slice(&self.entries.to_le_bytes());
        out[24..32].copy_from_slice(&self.slots.to_le_bytes());
        out
    }

    /// Parses and checks a section of `len` bytes whose header is `bytes`, for a type of
    /// `records` records; the message says what is wrong.
    pub fn parse(bytes: &[u8], records: u64) -> Result<Self, String> {
        if bytes.len() < KEY_INDEX_HEADER_LEN {
            return Err(format!(
                "a key index section of {} bytes has no room for its {KEY_INDEX_HEADER_LEN}-byte header",
                bytes.len()
            ));
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let h = KeyIndexHeader {
            hash: u32::from_le_bytes(bytes[0..4].try_into().expect("4")),
            capacity: u64_at(8),
            entries: u64_at(16),
            slots: u64_at(24),
        };
        if h.hash != KEY_HASH_V1 {
            return Err(format!("unknown key hash {}", h.hash));
        }
        if bytes[4..8] != [0; 4] {
            return Err("reserved bytes 4..8 are not zero".into());
        }
        if h.entries != records {
            return Err(format!(
                "it indexes {} entries, the type has {records} records",
                h.entries
            ));
        }
        if h.capacity != capacity_for(h.entries) {
            return Err(format!(
                "capacity {} is not the capacity for {} entries ({})",
                h.capacity,
                h.entries,
                capacity_for(h.entries)
            ));
        }
        let expected =
            (h.slots <= u64::MAX / 16).then(|| KEY_INDEX_HEADER_LEN as u64 + table_len(h.slots));
        if h.slots < h.capacity
            || h.slots > h.capacity + h.entries
            || expected != Some(bytes.len() as u64)
        {
            return Err(format!(
                "{} slots for capacity {} do not fill a section of {} bytes",
                h.slots,
                h.capacity,
                bytes.len()
            ));
        }
        let padding = &bytes[KEY_INDEX_HEADER_LEN + h.slots as usize * SLOT_LEN..];
        if padding.iter().any(|&b| b != 0) {
            return Err("the padding after the last slot is not zero".into());
        }
        Ok(h)
    }
}

/// Checks that `slots` (read one by one) are the canonical table of `header`: entries
/// strictly increasing, each at `max(home, previous + 1)`, the table no longer than its last
/// run, `entries` of them. Returns the position and reason of the first fault.
pub fn check_placement(
    header: &KeyIndexHeader,
    slot: impl Fn(u64) -> Slot,
) -> Result<(), (u64, String)> {
    let mut next = 0u64;
    let mut prev = EMPTY_SLOT;
    let mut count = 0u64;
    for at in 0..header.slots {
        let s = slot(at);
        if s == EMPTY_SLOT {
            continue;
        }
        if count > 0 && s <= prev {
            return Err((at, "entries are not in increasing order".into()));
        }
        let expected = slot_home(s, header.capacity).max(next);
        if at != expected {
            return Err((at, format!("an entry whose place is slot {expected}")));
        }
        (prev, next, count) = (s, at + 1, count + 1);
    }
    if count != header.entries {
        return Err((
            0,
            format!("{count} entries, the header says {}", header.entries),
        ));
    }
    if header.slots > header.capacity && next != header.slots {
        return Err((
            header.slots - 1,
            "the table runs past its last entry".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placed_table_is_each_entry_at_its_home_or_after_the_previous_one() {
        // Keys crowded at the end of a small table spill past its capacity.
        for (keys, capacity) in [(0..40u64, 64), (0..60, 16), (0..0, 8)] {
            let mut sorted: Vec<Slot> = keys
                .map(|k| slot_of(key_hash([k * 7919]), k as u32))
                .collect();
            sorted.sort_unstable();
            let table = place(sorted.iter().copied(), capacity);
            assert_eq!(table.len() as u64, placed_len(&sorted, capacity));
            assert!(table.len() as u64 >= capacity);
            let mut next = 0;
            for &s in &sorted {
                let at = table.iter().position(|&t| t == s).unwrap() as u64;
                assert_eq!(at, slot_home(s, capacity).max(next));
                next = at + 1;
            }
            let entries = table.iter().filter(|&&t| t != EMPTY_SLOT).count();
            assert_eq!(entries, sorted.len());
        }
    }

    #[test]
    fn capacity_keeps_the_load_between_seven_and_eight_tenths() {
        for n in [1_000u64, 12_345, 1_000_000, 9_999_991, 100_000_000] {
            let load = n as f64 / capacity_for(n) as f64;
            assert!((0.69..=0.8).contains(&load), "{n}: {load}");
        }
        assert_eq!(capacity_for(0), 8);
    }

    #[test]
    fn placement_is_canonical_and_checked() {
        let mut slots: Vec<Slot> = (0..1000u32)
            .map(|o| slot_of(key_hash([o as u64 * 7]), o))
            .collect();
        slots.sort_unstable();
        let cap = capacity_for(1000);
        let table = place(slots.iter().copied(), cap);
        let header = KeyIndexHeader {
            hash: KEY_HASH_V1,
            capacity: cap,
            entries: 1000,
            slots: table.len() as u64,
        };
        assert_eq!(check_placement(&header, |i| table[i as usize]), Ok(()));
        let mut moved = table.clone();
        let at = moved.iter().position(|&s| s != 0).unwrap();
        moved.swap(at, at + 1);
        assert!(check_placement(&header, |i| moved[i as usize]).is_err());
    }

    #[test]
    fn string_words_differ_by_length_and_content() {
        assert_ne!(bytes_word(b""), bytes_word(b"\0"));
        assert_ne!(bytes_word(b"abcdefgh"), bytes_word(b"abcdefgh\0"));
        assert_eq!(
            field_word(&FieldValue::Str("PL")),
            value_word(&Value::String("PL".into()))
        );
    }
}
