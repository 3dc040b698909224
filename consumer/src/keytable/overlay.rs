//! The entries of a key table that changed since its pages were last written: slots removed
//! from the pages (still there, hidden from lookups) and slots added (not in the pages), in
//! one small hash table keyed by the key's hash.
//!
//! It is what makes applying a delta to a key table cost what the delta changed. Edited in
//! place, a table of hashed slots is written all over by any delta of some size: at 10M
//! records a 1% delta touches nearly every page, so an apply copied about 150 MB. Here the
//! same apply inserts the changed slots into a table of its own size; the pages are folded
//! together with it only once it has grown to a share of the table (see
//! [`super::KeyTable::updated`]), which every later delta then shares until the next fold.

use hashbrown::HashTable;
use shoal_format::keyindex::{slot_hash, slot_ordinal, Slot};

/// A change to the table's pages: a slot (96 bits) with [`ADDED`] set when it is added, else
/// it is removed. 16 bytes an entry.
type Change = u128;

/// The mark of an added slot.
const ADDED: Change = 1 << 127;

/// The slot a change is about.
fn slot(c: Change) -> Slot {
    c & !ADDED
}

fn added(c: Change) -> bool {
    c & ADDED != 0
}

/// The changes over a table's pages (see the module docs). Cloned, never shared mutably: a
/// version keeps its own, as it keeps its pages.
#[derive(Debug, Clone, Default)]
pub(super) struct Overlay {
    changes: HashTable<Change>,
    added: u64,
    removed: u64,
}

/// The hash a change is filed under: its slot's key hash (already mixed).
fn filed(&c: &Change) -> u64 {
    slot_hash(slot(c))
}

impl Overlay {
    /// Changes held: what a fold would write.
    pub(super) fn len(&self) -> usize {
        self.changes.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Slots added to the pages' entries, and slots removed from them.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.added, self.removed)
    }

    /// True when `s`, an entry of the pages, has been removed.
    #[inline]
    pub(super) fn hides(&self, s: Slot) -> bool {
        self.changes.find(slot_hash(s), |&c| c == s).is_some()
    }

    /// The ordinals of the slots added under `hash`.
    #[inline]
    pub(super) fn added_under(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        self.changes
            .iter_hash(hash)
            .filter(move |&&c| added(c) && slot_hash(slot(c)) == hash)
            .map(|&c| slot_ordinal(slot(c)))
    }

    /// `s` leaves the table: an added slot is dropped, an entry of the pages (`in_pages`
    /// tells whether it is one) is hidden. False when `s` is neither: the table and the data
    /// disagree.
    pub(super) fn remove(&mut self, s: Slot, in_pages: impl FnOnce() -> bool) -> bool {
        match self.changes.find_entry(slot_hash(s), |&c| slot(c) == s) {
            Ok(found) if added(*found.get()) => {
                found.remove();
                self.added -= 1;
                true
            }
            Ok(_) => false,
            Err(absent) if in_pages() => {
                absent.into_table().insert_unique(slot_hash(s), s, filed);
                self.removed += 1;
                true
            }
            Err(_) => false,
        }
    }

    /// `s` comes into the table: an entry of the pages hidden before shows again, any other
    /// slot is added (once).
    pub(super) fn insert(&mut self, s: Slot) {
        match self.changes.find_entry(slot_hash(s), |&c| slot(c) == s) {
            Ok(found) if !added(*found.get()) => {
                found.remove();
                self.removed -= 1;
            }
            Ok(_) => {}
            Err(absent) => {
                absent
                    .into_table()
                    .insert_unique(slot_hash(s), s | ADDED, filed);
                self.added += 1;
            }
        }
    }

    /// The removed slots and the added slots, each sorted: the edits that fold this overlay
    /// into the pages.
    pub(super) fn edits(&self) -> (Vec<Slot>, Vec<Slot>) {
        let (mut coming, mut gone): (Vec<Slot>, Vec<Slot>) =
            self.changes.iter().partition(|&&c| added(c));
        coming.iter_mut().for_each(|c| *c = slot(*c));
        coming.sort_unstable();
        gone.sort_unstable();
        (gone, coming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_format::keyindex::{key_hash, slot_of};

    fn keyed(key: u64, o: u32) -> Slot {
        slot_of(key_hash([key]), o)
    }

    #[test]
    fn a_change_undone_leaves_nothing_and_a_double_removal_is_refused() {
        let mut overlay = Overlay::default();
        let (a, b) = (keyed(1, 1), keyed(2, 2));
        assert!(overlay.remove(a, || true));
        assert!(overlay.hides(a));
        overlay.insert(b);
        assert_eq!(overlay.added_under(slot_hash(b)).collect::<Vec<_>>(), [2]);
        assert_eq!(overlay.counts(), (1, 1));
        assert!(!overlay.remove(a, || true), "removed twice");
        assert!(!overlay.remove(keyed(3, 3), || false), "never there");
        overlay.insert(a);
        assert!(overlay.remove(b, || unreachable!("an added slot is not looked for")));
        assert!(overlay.is_empty());
        assert_eq!(overlay.counts(), (0, 0));
    }
}
