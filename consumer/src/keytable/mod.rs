//! A primary-key index read in place: the key index section a producer writes into a
//! snapshot (see `shoal_format::keyindex` and `docs/FORMAT.md`, "Key index sections"), read
//! straight from the snapshot's memory map.
//!
//! Loading one reads no key and allocates nothing, so a consumer starts in the time it takes
//! to map its snapshot. A lookup reads the slots from its key's home [`SCAN`] at a time,
//! deciding with selects rather than a branch per slot, so the CPU keeps several lookups'
//! memory reads in flight. Applying a delta files the slots it removes and adds in an
//! [`Overlay`] over the pages, which costs what the delta changed and copies no page. Once
//! the overlay has grown to a share of the table ([`FOLD_SHARE`]), the next apply folds it
//! into the pages the way the format defines (an insertion shifts one run right, a removal
//! shifts one run left), copying the pages it writes (copy-on-write, like columns) and
//! sharing the rest: the result is exactly the table the producer writes into that version's
//! snapshot. A delta whose record count crosses a capacity step re-places every entry in
//! one sequential pass (the table is already in order).

mod overlay;

use std::sync::Arc;

use bytes::Bytes;
use shoal_format::keyindex::{
    self, capacity_for, home, place, slot_bytes, slot_from, slot_hash, slot_home, Slot, EMPTY_SLOT,
    SLOT_LEN,
};
use shoal_format::KeyIndexRef;

use crate::parallel::map_parts;
use overlay::Overlay;

/// The overlay is folded into the pages when it holds more changes than one entry in this
/// many: at 10M records, after about six deltas of 1%. A lookup then pays one probe of a
/// table of at most this share, and a fold, which costs about what one edit of the pages
/// cost before the overlay, comes once every few deltas.
const FOLD_SHARE: u64 = 16;

/// Slots per page, as a power of two: 12 KiB pages. A delta copies each page it writes in
/// one sequential read, and its later edits there hit the copy in cache; with small pages
/// every edit is a miss of its own on the mapped file (measured: 64-slot pages made the
/// 1% delta of 10M records slower, though they copy less).
const PAGE_SHIFT: u32 = 10;
const PAGE_SLOTS: usize = 1 << PAGE_SHIFT;

/// Bytes of a page.
const PAGE_BYTES: usize = PAGE_SLOTS * SLOT_LEN;

/// Slots a lookup reads at a time. A lookup that decided slot by slot would branch on
/// each slot's value: at the table's load (about 0.8) the run it reads is one to a few
/// slots long, the branch is mispredicted often, and each misprediction discards the next
/// lookups the CPU had started, so lookups stop overlapping their memory reads. Four slots
/// (48 bytes) hold the whole run for most keys (measured at 10M keys in random order: 50.7
/// against 80.6 ns a lookup and column read, in a throwaway loop over the same table).
const SCAN: usize = 4;

/// The index in `run` (whole slots) of the first slot that is empty or holds a hash not
/// below `hash`, or the number of slots if none is. Decided with selects, not branches.
#[inline]
fn not_below_in(run: &[u8], hash: u64) -> usize {
    let mut first = run.len() / SLOT_LEN;
    for (k, slot) in run.chunks_exact(SLOT_LEN).enumerate().rev() {
        first = if is_below(slot_from(slot), hash) {
            first
        } else {
            k
        };
    }
    first
}

/// True when `slot` holds an entry whose hash is below `hash`: a lookup of `hash` reads on.
#[inline]
fn is_below(slot: Slot, hash: u64) -> bool {
    slot != EMPTY_SLOT && slot_hash(slot) < hash
}

/// A canonical key table (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct KeyTable {
    capacity: u64,
    /// Entries in the pages (the overlay adds and removes some).
    entries: u64,
    /// Slots in the table (`L`); slots from here on read as empty.
    len: u64,
    /// The slots as mapped from the snapshot (or as placed here): every page no delta has
    /// written reads from here.
    base: Bytes,
    /// The pages deltas wrote, by page number; a page past the end or `None` is `base`'s.
    /// Empty until the first delta, so loading allocates nothing.
    pages: Vec<Option<Bytes>>,
    /// The slots removed from the pages and added since they were written; `None` when
    /// there are none (a lookup then reads the pages alone).
    overlay: Option<Arc<Overlay>>,
}

impl KeyTable {
    /// The table of a snapshot's key index section, in place.
    pub(crate) fn mapped(blob: &Bytes, index: KeyIndexRef) -> KeyTable {
        let start = index.slots_offset as usize;
        let bytes = index.header.slots as usize * SLOT_LEN;
        KeyTable {
            capacity: index.header.capacity,
            entries: index.header.entries,
            len: index.header.slots,
            base: blob.slice(start..start + bytes),
            pages: Vec::new(),
            overlay: None,
        }
    }

    /// The canonical table of `slots` (any order).
    pub(crate) fn of_slots(mut slots: Vec<Slot>) -> KeyTable {
        slots.sort_unstable();
        let entries = slots.len() as u64;
        Self::placed(place(slots, capacity_for(entries)), entries)
    }

    fn placed(table: Vec<Slot>, entries: u64) -> KeyTable {
        let base: Vec<u8> = table.iter().flat_map(|&s| slot_bytes(s)).collect();
        KeyTable {
            capacity: capacity_for(entries),
            entries,
            len: table.len() as u64,
            base: Bytes::from(base),
            pages: Vec::new(),
            overlay: None,
        }
    }

    /// Slot `i` (empty past the table).
    #[inline]
    fn slot(&self, i: u64) -> Slot {
        self.run_bytes(i, 1).map_or(EMPTY_SLOT, slot_from)
    }

    /// The bytes of the `n` slots from `i` on, when they lie in the table and in one page.
    #[inline]
    fn run_bytes(&self, i: u64, n: usize) -> Option<&[u8]> {
        let within = i as usize & (PAGE_SLOTS - 1);
        if i + n as u64 > self.len || within + n > PAGE_SLOTS {
            return None;
        }
        let (bytes, at) = match self.pages.get((i >> PAGE_SHIFT) as usize) {
            Some(Some(page)) => (&page[..], within * SLOT_LEN),
            _ => (&self.base[..], i as usize * SLOT_LEN),
        };
        bytes.get(at..at + n * SLOT_LEN)
    }

    /// Page `p` as it stands, copied to write (one pass over the bytes, zeros past the end).
    fn page_copy(&self, p: usize) -> Vec<u8> {
        let from = (p * PAGE_BYTES).min(self.base.len());
        let bytes = match self.pages.get(p) {
            Some(Some(page)) => &page[..],
            _ => &self.base[from..(from + PAGE_BYTES).min(self.base.len())],
        };
        let mut page = Vec::with_capacity(PAGE_BYTES);
        page.extend_from_slice(bytes);
        page.resize(PAGE_BYTES, 0);
        page
    }

    /// Pages in the table.
    fn page_count(&self) -> usize {
        (self.len as usize).div_ceil(PAGE_SLOTS)
    }

    /// Every ordinal whose entry carries `hash`, the pages' in table order, then the
    /// overlay's: the candidates a lookup confirms by reading the key (or, for a one-field
    /// fixed-width key, takes as found).
    #[inline]
    pub(crate) fn candidates(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let overlay = self.overlay.as_deref();
        self.in_pages(hash)
            .filter(move |&s| overlay.is_none_or(|o| !o.hides(s)))
            .map(keyindex::slot_ordinal)
            .chain(overlay.into_iter().flat_map(move |o| o.added_under(hash)))
    }

    /// The pages' slots that carry `hash`, in table order.
    #[inline]
    fn in_pages(&self, hash: u64) -> impl Iterator<Item = Slot> + '_ {
        let mut i = self.first_not_below(hash);
        std::iter::from_fn(move || {
            let s = self.slot(i);
            i += 1;
            (s != EMPTY_SLOT && slot_hash(s) == hash).then_some(s)
        })
    }

    /// The first slot from `hash`'s home on that is empty or holds a hash not below `hash`:
    /// where the entries carrying `hash` start, if any. Read [`SCAN`] slots at a time, with
    /// no branch on any one slot's value (see [`not_below_in`]).
    #[inline]
    fn first_not_below(&self, hash: u64) -> u64 {
        let mut i = home(hash, self.capacity);
        loop {
            match self.run_bytes(i, SCAN) {
                Some(run) => match not_below_in(run, hash) {
                    SCAN => i += SCAN as u64,
                    k => return i + k as u64,
                },
                None if is_below(self.slot(i), hash) => i += 1,
                None => return i,
            }
        }
    }

    /// The pages of this table not shared with `other`, and the pages in all (for tests).
    pub(crate) fn pages_copied(&self, other: &KeyTable) -> (usize, usize) {
        let same_base = self.base.as_ptr() == other.base.as_ptr();
        let page = |t: &KeyTable, p: usize| t.pages.get(p).cloned().flatten();
        let shared = |p: usize| match (page(self, p), page(other, p)) {
            (None, None) => same_base,
            (Some(a), Some(b)) => a.as_ptr() == b.as_ptr(),
            _ => false,
        };
        let total = self.page_count();
        ((0..total).filter(|&p| !shared(p)).count(), total)
    }

    /// Every slot in table order, the overlay folded in (for tests); `None` when the fold
    /// finds the overlay and the pages disagree.
    pub(crate) fn slots(&self) -> Option<Vec<Slot>> {
        if let Some(overlay) = &self.overlay {
            return self.folded(overlay, self.entries_now(overlay)?, 1)?.slots();
        }
        Some((0..self.len).map(|i| self.slot(i)).collect())
    }

    /// Entries in the table, the overlay's changes counted.
    fn entries_now(&self, overlay: &Overlay) -> Option<u64> {
        let (added, removed) = overlay.counts();
        (self.entries + added).checked_sub(removed)
    }

    /// The table after `removed` slots leave and `inserted` come in; `None` when a removed
    /// slot is not in the table (the table and the data disagree: rebuild from the data).
    /// The changes go to the overlay; a fold into the pages, when due, is edited on up to
    /// `threads` threads.
    pub(crate) fn updated(
        &self,
        removed: &[Slot],
        inserted: &[Slot],
        threads: usize,
    ) -> Option<KeyTable> {
        self.updated_folding_past(removed, inserted, threads, |entries| entries / FOLD_SHARE)
    }

    /// [`Self::updated`], folding when the overlay holds more changes than `limit(entries)`.
    fn updated_folding_past(
        &self,
        removed: &[Slot],
        inserted: &[Slot],
        threads: usize,
        limit: impl Fn(u64) -> u64,
    ) -> Option<KeyTable> {
        let mut overlay = self.overlay.as_deref().cloned().unwrap_or_default();
        for &s in removed {
            if !overlay.remove(s, || self.in_pages(slot_hash(s)).any(|t| t == s)) {
                return None;
            }
        }
        for &s in inserted {
            overlay.insert(s);
        }
        let (added, gone) = overlay.counts();
        let entries = (self.entries + added).checked_sub(gone)?;
        if capacity_for(entries) == self.capacity && overlay.len() as u64 <= limit(entries) {
            return Some(KeyTable {
                overlay: (!overlay.is_empty()).then(|| Arc::new(overlay)),
                ..self.clone()
            });
        }
        self.folded(&overlay, entries, threads)
    }

    /// The pages with `overlay` folded in, holding `entries`: edited in table order on up to
    /// `threads` threads, or re-placed when `entries` crosses a capacity step.
    fn folded(&self, overlay: &Overlay, entries: u64, threads: usize) -> Option<KeyTable> {
        let (removed, inserted) = overlay.edits();
        if capacity_for(entries) != self.capacity {
            return self.replaced(&removed, &inserted, entries);
        }
        // In table order: each page is copied once and the table read front to back.
        let mut ops: Vec<Op> = removed
            .iter()
            .map(|&s| op(s, false))
            .chain(inserted.iter().map(|&s| op(s, true)))
            .collect();
        ops.sort_unstable();
        let threads = if ops.len() >= PARALLEL_OPS {
            threads
        } else {
            1
        };
        let parts = self.parts(&ops, threads);
        let mut edits = map_parts(&parts, |&(end, ops)| Edit::new(self, end).applied(ops));
        let mut whole = edits.remove(0)?;
        let mut spilled = whole.unbound();
        for edit in edits {
            spilled.extend(whole.absorb(edit?));
        }
        for s in spilled {
            whole.insert(s);
        }
        Some(whole.finish(entries))
    }

    /// The sorted `ops` cut into up to `threads` parts that can be edited apart, each with
    /// the slot its part of the table ends at. A cut lies at a page start whose slot before
    /// is empty: no entry homed before the cut sits past it, so a part's edits read and
    /// write only its own pages, and spill past its end only entries homed inside it (they
    /// are inserted afterwards, see [`Edit::unbound`]).
    fn parts<'o>(&self, ops: &'o [Op], threads: usize) -> Vec<(u64, &'o [Op])> {
        let pages = self.page_count();
        let mut cuts: Vec<u64> = (1..threads)
            .filter_map(|k| {
                (k * pages / threads..pages)
                    .map(|p| (p * PAGE_SLOTS) as u64)
                    .find(|&b| b > 0 && self.slot(b - 1) == EMPTY_SLOT)
            })
            .collect();
        cuts.dedup();
        let mut parts = Vec::with_capacity(cuts.len() + 1);
        let mut rest = ops;
        for end in cuts {
            let at = rest.partition_point(|&o| slot_home(o >> 1, self.capacity) < end);
            let (part, after) = rest.split_at(at);
            parts.push((end, part));
            rest = after;
        }
        parts.push((u64::MAX, rest));
        parts
    }

    /// Every entry re-placed at the capacity of `entries`: one pass over the table (already
    /// sorted) merged with the insertions (`removed` and `inserted` sorted).
    fn replaced(&self, removed: &[Slot], inserted: &[Slot], entries: u64) -> Option<KeyTable> {
        let kept: Vec<Slot> = (0..self.len)
            .map(|i| self.slot(i))
            .filter(|&s| s != EMPTY_SLOT && removed.binary_search(&s).is_err())
            .collect();
        if kept.len() as u64 + removed.len() as u64 != self.entries {
            return None;
        }
        let merged = merge_sorted(&kept, inserted);
        Some(Self::placed(place(merged, capacity_for(entries)), entries))
    }
}

/// `a` and `b` (each sorted) merged in order.
fn merge_sorted(a: &[Slot], b: &[Slot]) -> Vec<Slot> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// An edit: the slot shifted left by one, an insertion with the low bit set (a slot takes
/// 96 bits). Sorted as numbers, edits come in table order, a removal before an insertion
/// of the same slot, and at half the size of a `(Slot, bool)` they sort about twice as fast.
type Op = u128;

fn op(s: Slot, insert: bool) -> Op {
    s << 1 | Op::from(insert)
}

/// A table being edited: pages copied (as bytes, one copy) on first write, the rest shared.
/// Slots from `end` on are not the table's but `spill`'s: a part of the table edited apart
/// from the rest (see [`KeyTable::parts`]).
struct Edit<'a> {
    table: &'a KeyTable,
    copied: Vec<Option<Vec<u8>>>,
    len: u64,
    end: u64,
    spill: Vec<Slot>,
}

/// Fewer edits than this are made on one thread: a thread costs more than they do.
const PARALLEL_OPS: usize = 4096;

impl<'a> Edit<'a> {
    fn new(table: &'a KeyTable, end: u64) -> Self {
        Edit {
            table,
            copied: vec![None; table.page_count()],
            len: table.len,
            end,
            spill: Vec::new(),
        }
    }

    /// This edit after `ops` (sorted); `None` when a removed slot is not there.
    fn applied(mut self, ops: &[Op]) -> Option<Self> {
        for &o in ops {
            if o & 1 == 1 {
                self.insert(o >> 1);
            } else {
                self.remove(o >> 1)?;
            }
        }
        Some(self)
    }

    /// The whole table from now on: the entries spilled past the end, to insert again.
    fn unbound(&mut self) -> Vec<Slot> {
        self.end = u64::MAX;
        self.take_spill()
    }

    fn take_spill(&mut self) -> Vec<Slot> {
        let mut spill = std::mem::take(&mut self.spill);
        spill.retain(|&s| s != EMPTY_SLOT);
        spill
    }

    /// The pages `other` (a later part) copied, taken over; the entries it spilled.
    fn absorb(&mut self, mut other: Edit<'_>) -> Vec<Slot> {
        if other.copied.len() > self.copied.len() {
            self.copied.resize(other.copied.len(), None);
        }
        for (p, page) in other.copied.iter_mut().enumerate() {
            if page.is_some() {
                self.copied[p] = page.take();
            }
        }
        self.len = self.len.max(other.len);
        other.take_spill()
    }

    fn get(&self, i: u64) -> Slot {
        if i >= self.end {
            let at = (i - self.end) as usize;
            return self.spill.get(at).copied().unwrap_or(EMPTY_SLOT);
        }
        match self.copied.get((i >> PAGE_SHIFT) as usize) {
            Some(Some(page)) => {
                let at = (i as usize & (PAGE_SLOTS - 1)) * SLOT_LEN;
                slot_from(&page[at..at + SLOT_LEN])
            }
            _ => self.table.slot(i),
        }
    }

    fn set(&mut self, i: u64, s: Slot) {
        if i >= self.end {
            let at = (i - self.end) as usize;
            if at >= self.spill.len() {
                self.spill.resize(at + 1, EMPTY_SLOT);
            }
            self.spill[at] = s;
            return;
        }
        let p = (i >> PAGE_SHIFT) as usize;
        if p >= self.copied.len() {
            self.copied.resize(p + 1, None);
        }
        let table = self.table;
        let page = self.copied[p].get_or_insert_with(|| table.page_copy(p));
        let at = (i as usize & (PAGE_SLOTS - 1)) * SLOT_LEN;
        page[at..at + SLOT_LEN].copy_from_slice(&slot_bytes(s));
        if s != EMPTY_SLOT && i >= self.len {
            self.len = i + 1;
        }
    }

    /// Inserts `s` at its ordered place and shifts the rest of its run right by one.
    fn insert(&mut self, s: Slot) {
        let mut i = slot_home(s, self.table.capacity);
        let mut was = self.get(i);
        while was != EMPTY_SLOT && was < s {
            i += 1;
            was = self.get(i);
        }
        let mut carry = s;
        loop {
            self.set(i, carry);
            if was == EMPTY_SLOT {
                return;
            }
            carry = was;
            i += 1;
            was = self.get(i);
        }
    }

    /// Removes `s` and shifts the entries after it left while they are past their home.
    fn remove(&mut self, s: Slot) -> Option<()> {
        let mut i = slot_home(s, self.table.capacity);
        loop {
            let at = self.get(i);
            if at == s {
                break;
            }
            if at == EMPTY_SLOT || at > s {
                return None;
            }
            i += 1;
        }
        loop {
            let next = self.get(i + 1);
            if next == EMPTY_SLOT || slot_home(next, self.table.capacity) > i {
                self.set(i, EMPTY_SLOT);
                return Some(());
            }
            self.set(i, next);
            i += 1;
        }
    }

    fn finish(mut self, entries: u64) -> KeyTable {
        let capacity = self.table.capacity;
        while self.len > capacity && self.get(self.len - 1) == EMPTY_SLOT {
            self.len -= 1;
        }
        let count = (self.len as usize).div_ceil(PAGE_SLOTS);
        let mut pages = self.table.pages.clone();
        if self.copied.iter().any(Option::is_some) {
            pages.resize(count.max(pages.len()), None);
            for (p, page) in self.copied.into_iter().enumerate() {
                if let (Some(page), Some(at)) = (page, pages.get_mut(p)) {
                    *at = Some(Bytes::from(page));
                }
            }
        }
        pages.truncate(count);
        KeyTable {
            capacity,
            entries,
            len: self.len,
            base: self.table.base.clone(),
            pages,
            overlay: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_format::keyindex::{key_hash, slot_of};

    fn slot(key: u64, o: u32) -> Slot {
        slot_of(key_hash([key]), o)
    }

    /// Fold at once (the pages edited, as before the overlay) or never (all in the overlay).
    const FOLD_NOW: fn(u64) -> u64 = |_| 0;
    const FOLD_NEVER: fn(u64) -> u64 = |_| u64::MAX;

    /// The canonical table of `start` after `removed` leave and `inserted` come in.
    fn canonical(start: &[Slot], removed: &[Slot], inserted: &[Slot]) -> Vec<Slot> {
        let mut expected: Vec<Slot> = start
            .iter()
            .copied()
            .filter(|s| !removed.contains(s))
            .chain(inserted.iter().copied())
            .collect();
        expected.sort_unstable();
        KeyTable::of_slots(expected).slots().unwrap()
    }

    /// The slots carrying `hash`, read one by one from its home (the format's lookup).
    fn found_slot_by_slot(slots: &[Slot], capacity: u64, hash: u64) -> Vec<Slot> {
        slots[home(hash, capacity) as usize..]
            .iter()
            .take_while(|&&s| s != EMPTY_SLOT && slot_hash(s) <= hash)
            .filter(|&&s| slot_hash(s) == hash)
            .copied()
            .collect()
    }

    #[test]
    fn a_lookup_read_in_runs_finds_what_slot_by_slot_finds_across_pages_and_the_end() {
        // Runs of every length, from one slot to one that spans pages and spills past the
        // capacity: hashes with equal top halves share a home. Some hashes come twice (two
        // keys, one hash), and the probes include hashes between and past the entries.
        let mut slots: Vec<Slot> = Vec::new();
        let runs = [1u64, 2, 3, 4, 5, 7, 9, 40, 1500, 1501, 1502, 1503, 3000];
        for (group, len) in runs.into_iter().enumerate() {
            // Homes in ascending order, at varied offsets from the scan's steps.
            let top =
                (group as u64 * 0x1300_0000 + keyindex::fmix64(group as u64) % (1 << 24)) << 32;
            for j in 0..len {
                let o = slots.len() as u32;
                slots.push(slot_of(top | (j * 2 + 2), o));
                if j % 5 == 3 {
                    slots.push(slot_of(top | (j * 2 + 2), o + 1));
                }
            }
        }
        let table = KeyTable::of_slots(slots.clone());
        // The same table with the entry at each page start removed, folded at once: the
        // pages from there on are copies whose runs moved, the pages before are not.
        let page_starts: Vec<Slot> = table.slots().unwrap()[..]
            .iter()
            .step_by(PAGE_SLOTS)
            .copied()
            .filter(|&s| s != EMPTY_SLOT)
            .collect();
        let edited = table
            .updated_folding_past(&page_starts, &[], 1, FOLD_NOW)
            .unwrap();
        assert!(edited.pages.iter().any(Option::is_some));
        for t in [&table, &edited] {
            let laid = t.slots().unwrap();
            assert!(
                laid.len() as u64 > t.capacity,
                "the last run spills past the capacity"
            );
            let probes = slots
                .iter()
                .flat_map(|&s| [slot_hash(s) - 1, slot_hash(s), slot_hash(s) + 1])
                .chain([0, 1, u64::MAX]);
            let mut found = 0;
            for hash in probes {
                let expected = found_slot_by_slot(&laid, t.capacity, hash);
                assert_eq!(t.in_pages(hash).collect::<Vec<_>>(), expected, "{hash:x}");
                found += expected.len();
            }
            assert!(found >= t.entries as usize);
        }
    }

    #[test]
    fn edits_arrive_at_the_canonical_table() {
        let start: Vec<Slot> = (0..5000).map(|k| slot(k, k as u32)).collect();
        let table = KeyTable::of_slots(start.clone());
        for (step, added) in [(97, 60), (3, 1200)] {
            // Remove every step-th key, add keys from 5000 (the first stays within the
            // capacity step: edited slot by slot; the second crosses it: re-placed).
            let removed: Vec<Slot> = (0..5000).step_by(step).map(|k| slot(k, k as u32)).collect();
            let inserted: Vec<Slot> = (0..added)
                .map(|i| slot(5000 + i, 5000 + i as u32))
                .collect();
            let entries = 5000 - removed.len() as u64 + added;
            assert_eq!(capacity_for(entries) == table.capacity, step == 97);
            let expected = canonical(&start, &removed, &inserted);
            for limit in [FOLD_NOW, FOLD_NEVER] {
                let next = table
                    .updated_folding_past(&removed, &inserted, 1, limit)
                    .expect("consistent");
                assert_eq!(next.slots().unwrap(), expected);
            }
        }
    }

    #[test]
    fn a_chain_of_edits_held_in_the_overlay_and_folded_finds_every_key_and_no_removed_one() {
        let mut keys: Vec<u64> = (0..3000).collect();
        let mut table = KeyTable::of_slots(keys.iter().map(|&k| slot(k, k as u32)).collect());
        let mut next_key = 3000;
        let mut folds = 0;
        for step in 0..12u64 {
            // Each step removes 40 keys (some added by earlier steps) and adds 45.
            let gone: Vec<u64> = keys
                .iter()
                .copied()
                .skip(step as usize * 7)
                .step_by(70)
                .take(40)
                .collect();
            keys.retain(|k| !gone.contains(k));
            let fresh: Vec<u64> = (next_key..next_key + 45).collect();
            next_key += 45;
            keys.extend(&fresh);
            let removed: Vec<Slot> = gone.iter().map(|&k| slot(k, k as u32)).collect();
            let inserted: Vec<Slot> = fresh.iter().map(|&k| slot(k, k as u32)).collect();
            let before = table.clone();
            table = table
                .updated_folding_past(&removed, &inserted, 2, |_| 200)
                .expect("consistent");
            if table.overlay.is_none() {
                folds += 1;
            } else {
                assert_eq!(
                    table.pages_copied(&before).0,
                    0,
                    "an overlay apply copies no page"
                );
            }
            for &k in &keys {
                let found: Vec<u32> = table.candidates(key_hash([k])).collect();
                assert_eq!(found, [k as u32], "key {k} at step {step}");
            }
            for &k in &gone {
                assert_eq!(table.candidates(key_hash([k])).count(), 0, "removed {k}");
            }
            let all: Vec<Slot> = keys.iter().map(|&k| slot(k, k as u32)).collect();
            assert_eq!(table.slots().unwrap(), canonical(&all, &[], &[]));
        }
        assert!((2..12).contains(&folds), "{folds} folds");
    }

    /// A slot homed at `h` in a table of `capacity` (`j` tells slots of one home apart).
    fn homed(h: u64, capacity: u64, j: u32) -> Slot {
        let high = (h << 32).div_ceil(capacity);
        slot_of(high << 32 | u64::from(j), j)
    }

    #[test]
    fn edits_split_over_threads_arrive_at_the_canonical_table_across_the_cuts() {
        let n = 60_000u64;
        let capacity = capacity_for(n);
        let start: Vec<Slot> = (0..n)
            .map(|i| homed(i * capacity / n, capacity, i as u32))
            .collect();
        let table = KeyTable::of_slots(start.clone());
        // A run grows by three just before every page start in the middle of the table,
        // so whichever cut is chosen, its part spills entries past it.
        let pages = table.page_count() as u64;
        let crowd = (pages / 4..pages * 3 / 4).flat_map(|p| {
            (0..3).map(move |k| homed(p * PAGE_SLOTS as u64 - 2, capacity, (n + p * 3 + k) as u32))
        });
        let removed: Vec<Slot> = start.iter().copied().step_by(15).collect();
        let fresh = (0..removed.len() as u64)
            .map(|i| homed(i * 13 % capacity, capacity, (2 * n + i) as u32));
        let inserted: Vec<Slot> = crowd.chain(fresh).collect();
        assert_eq!(
            capacity_for(n + inserted.len() as u64 - removed.len() as u64),
            capacity
        );
        let expected = canonical(&start, &removed, &inserted);
        let mut ops: Vec<Op> = inserted.iter().map(|&s| op(s, true)).collect();
        ops.sort_unstable();
        let cut = table.parts(&ops, 2)[0].0;
        assert!(
            (cut..expected.len() as u64).any(|i| {
                let s = expected[i as usize];
                s != EMPTY_SLOT && slot_home(s, capacity) < cut
            }),
            "an entry homed before the cut at {cut} sits past it"
        );
        for threads in [1, 2, 3, 8] {
            let next = table
                .updated_folding_past(&removed, &inserted, threads, FOLD_NOW)
                .expect("consistent");
            assert!(next.overlay.is_none(), "folded");
            assert_eq!(next.slots().unwrap(), expected, "{threads} threads");
        }
    }

    #[test]
    fn an_empty_change_leaves_the_table_as_it_is() {
        let start: Vec<Slot> = (0..10).map(|k| slot(k, k as u32)).collect();
        let table = KeyTable::of_slots(start.clone());
        for limit in [FOLD_NOW, FOLD_NEVER] {
            let next = table
                .updated_folding_past(&[], &[], 1, limit)
                .expect("consistent");
            assert_eq!(next.slots().unwrap(), canonical(&start, &[], &[]));
        }
    }

    #[test]
    fn a_small_edit_copies_no_page_and_its_fold_only_the_pages_it_writes() {
        let table = KeyTable::of_slots((0..100_000).map(|k| slot(k, k as u32)).collect());
        let (removed, inserted) = ([slot(7, 7)], [slot(100_007, 7)]);
        let held = table.updated(&removed, &inserted, 2).expect("consistent");
        assert_eq!(held.pages_copied(&table).0, 0);
        assert!(held.overlay.is_some());
        let folded = table
            .updated_folding_past(&removed, &inserted, 2, FOLD_NOW)
            .expect("consistent");
        let (copied, total) = folded.pages_copied(&table);
        assert!(
            (1..=4).contains(&copied) && total > 100,
            "{copied} of {total}"
        );
    }

    #[test]
    fn removing_what_is_not_there_is_refused() {
        let table = KeyTable::of_slots((0..100).map(|k| slot(k, k as u32)).collect());
        for limit in [FOLD_NOW, FOLD_NEVER] {
            assert!(table
                .updated_folding_past(&[slot(1000, 3)], &[], 1, limit)
                .is_none());
            let held = table
                .updated_folding_past(&[slot(5, 5)], &[], 1, FOLD_NEVER)
                .unwrap();
            assert!(
                held.updated_folding_past(&[slot(5, 5)], &[], 1, limit)
                    .is_none(),
                "twice"
            );
        }
    }
}
