//! The dedup table of a cycle's pending records of one type: which row holds a record, by
//! its content's hash.
//!
//! A first cycle of the catalog looks up 10M tag lists here, 5.7M of them distinct, on the
//! matching thread that bounds the read phase with the input's; the table is far larger
//! than the caches, so a lookup costs its cache misses. hashbrown's table costs two before
//! the row is read (a group of control bytes, then the slot holding the row's index, apart
//! from it). This one keeps the high half of the hash beside the row's index in one 8-byte
//! slot and probes linearly: one miss for the line of slots, then the one row whose half
//! hash matches (its start, its bytes). The half hash also places the slot, so growing the
//! table needs no other hashes.

/// Row index by content hash (see the module doc).
#[derive(Debug, Default, Clone)]
pub(crate) struct PendingIndex {
    /// 0 when empty, or the high half of a row's hash above its index plus one.
    slots: Vec<u64>,
    len: usize,
}

/// The table grows past 3/4 full (linear probing slows sharply beyond that).
const FILL: (usize, usize) = (3, 4);

/// Where a row that [`PendingIndex::find`] did not find goes ([`PendingIndex::insert`]).
#[derive(Debug)]
pub(crate) struct Vacant {
    at: usize,
    half: u64,
}

impl PendingIndex {
    /// The index of the row whose hash is `hash` and that `same` finds equal to the one
    /// looked up; when there is none, where it goes. The table is grown first if it must be,
    /// so the place stays good until the next call.
    pub(crate) fn find(&mut self, hash: u64, same: impl Fn(u32) -> bool) -> Result<u32, Vacant> {
        if (self.len + 1) * FILL.1 > self.slots.len() * FILL.0 {
            self.grow();
        }
        let half = hash >> 32;
        let mask = self.slots.len() - 1;
        let mut at = self.home(half);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return Err(Vacant { at, half });
            }
            let i = (slot as u32).wrapping_sub(1);
            if slot >> 32 == half && same(i) {
                return Ok(i);
            }
            at = (at + 1) & mask;
        }
    }

    /// Puts row `i` where [`find`](Self::find) said it goes.
    pub(crate) fn insert(&mut self, vacant: Vacant, i: u32) {
        self.slots[vacant.at] = vacant.half << 32 | (u64::from(i) + 1);
        self.len += 1;
    }

    /// The first slot to try for a row whose hash's high half is `half`: its top bits.
    fn home(&self, half: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (half >> (32 - bits)) as usize
    }

    /// Doubles the slots (at least 16) and places every row again.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        assert!(size <= 1 << 32, "a pending table past 2^32 slots");
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|&s| s != 0) {
            let mut at = self.home(slot >> 32);
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash whose high half is `half` (the only half the table keeps).
    fn hash(half: u32, low: u32) -> u64 {
        u64::from(half) << 32 | u64::from(low)
    }

    #[test]
    fn equal_rows_are_found_and_others_added_across_growth_and_collisions() {
        let mut index = PendingIndex::default();
        let mut rows: Vec<u64> = Vec::new();
        // Rows 0..5000 of 1000 distinct values; a tenth share the high half of one hash.
        let half_of = |v: u64| {
            if v.is_multiple_of(10) {
                7
            } else {
                (v as u32).wrapping_mul(2_654_435_761)
            }
        };
        for n in 0..5000u64 {
            let v = n % 1000;
            let found = match index.find(hash(half_of(v), 0), |i| rows[i as usize] == v) {
                Ok(i) => i,
                Err(vacant) => {
                    rows.push(v);
                    index.insert(vacant, rows.len() as u32 - 1);
                    rows.len() as u32 - 1
                }
            };
            assert_eq!(found, v as u32, "row {n}");
        }
        assert_eq!(rows, (0..1000).collect::<Vec<_>>());
        assert_eq!(index.len, 1000);
        assert!(index.slots.len() * 3 >= 1000 * 4, "grown past 3/4 full");
    }

    #[test]
    fn a_row_is_found_by_its_hash_and_content_only() {
        let mut index = PendingIndex::default();
        let vacant = index.find(hash(1, 0), |_| true).unwrap_err();
        index.insert(vacant, 0);
        assert!(index.find(hash(2, 0), |_| true).is_err(), "another hash");
        assert!(index.find(hash(1, 5), |_| false).is_err(), "another row");
        assert_eq!(index.find(hash(1, 9), |i| i == 0).unwrap(), 0);
        assert_eq!(index.len, 1);
    }
}
