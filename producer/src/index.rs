//! Indexes over the producer's current version that hold only ordinals: the records stay
//! where the version holds them (its own snapshot, read in place; see `records`), and a
//! lookup compares against them. So the identity index (record -> ordinal, what "this
//! record did not change" means) and the primary-key index cost about 5 bytes per record
//! instead of a second copy of the dataset.

use std::hash::{BuildHasher, Hasher as _};

use hashbrown::{DefaultHashBuilder, HashTable};
use shoal_format::{
    FieldId, FieldValue, Ordinal, RecordSource, Row, Schema, TypeId, Value, VersionSource,
};

use shoal_format::parallel::map_shares;

use crate::records::{
    hash_at, hash_fields, hash_value, hashes_in, same_row, same_value, walk_columns,
};

/// [`hash_at`] of each record of `ty` in `range`, one at a time (0 for one that cannot be
/// read): the fallback when a column cannot be walked.
fn one_by_one<S: VersionSource + ?Sized>(
    hasher: &Hasher,
    version: &S,
    ty: TypeId,
    range: std::ops::Range<u32>,
) -> Vec<(Ordinal, u64)> {
    let populated = version.populated(ty);
    range
        .filter(|&o| populated.contains(o))
        .map(|o| {
            (
                Ordinal(o),
                hash_at(hasher, version, ty, Ordinal(o)).unwrap_or(0),
            )
        })
        .collect()
}

/// The hasher shared by every index of a producer.
pub(crate) type Hasher = DefaultHashBuilder;

/// Record content -> ordinal, per type, for the records of one version.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordIndex {
    tables: Vec<HashTable<Ordinal>>,
    hasher: Hasher,
}

impl RecordIndex {
    /// Indexes every record of `version`.
    ///
    /// The hashes are computed column by column, on `threads` threads (shares of the ordinal
    /// range), then inserted; a record that cannot be read hashes as 0, as in [`hash_at`]'s
    /// callers, and is found by no lookup.
    pub(crate) fn build<S: VersionSource + Sync + ?Sized>(
        version: &S,
        hasher: Hasher,
        threads: usize,
    ) -> Self {
        let types = version.schema().type_count();
        let mut index = RecordIndex {
            tables: (0..types).map(|_| HashTable::new()).collect(),
            hasher,
        };
        for t in 0..types {
            let ty = TypeId(t as u32);
            let hashes = index.hashes(version, ty, threads);
            index.tables[t].reserve(hashes.len(), |_| 0);
            for i in bucket_order(hashes.len(), |i| hashes[i].1) {
                let (o, h) = hashes[i as usize];
                index.insert(version, ty, o, h);
            }
        }
        index
    }

    /// The hash of every record of `ty`, in ordinal order.
    fn hashes<S: VersionSource + Sync + ?Sized>(
        &self,
        version: &S,
        ty: TypeId,
        threads: usize,
    ) -> Vec<(Ordinal, u64)> {
        const SHARE: u32 = 1 << 16;
        let slots = version.slot_count(ty);
        let starts: Vec<u32> = (0..slots).step_by(SHARE as usize).collect();
        let hash_share = |starts: &[u32]| -> Vec<(Ordinal, u64)> {
            starts
                .iter()
                .flat_map(|&s| {
                    let range = s..slots.min(s.saturating_add(SHARE));
                    hashes_in(&self.hasher, version, ty, range.clone())
                        .unwrap_or_else(|_| one_by_one(&self.hasher, version, ty, range))
                })
                .collect()
        };
        map_shares(&starts, threads, hash_share).concat()
    }

    /// The identity hash of a packed record (the hash of the same record read in place).
    pub(crate) fn hash_row(&self, row: shoal_format::Row<'_>) -> u64 {
        crate::records::hash_row(&self.hasher, row)
    }

    /// The ordinal of a record identical to the packed record `row` in `version`.
    pub(crate) fn find<S: RecordSource + ?Sized>(
        &self,
        version: &S,
        ty: TypeId,
        row: Row<'_>,
        hash: u64,
    ) -> Option<Ordinal> {
        self.tables[ty.index()]
            .find(hash, |&o| same_row(version, ty, o, row))
            .copied()
    }

    /// Makes room for `additional` records (hashes of existing entries read from `version`).
    pub(crate) fn reserve<S: RecordSource + ?Sized>(
        &mut self,
        version: &S,
        ty: TypeId,
        additional: usize,
    ) {
        let hasher = &self.hasher;
        self.tables[ty.index()].reserve(additional, |&o| {
            hash_at(hasher, version, ty, o).unwrap_or(0)
        });
    }

    /// Adds `ordinal` (whose record in `version` hashes to `hash`).
    pub(crate) fn insert<S: RecordSource + ?Sized>(
        &mut self,
        version: &S,
        ty: TypeId,
        ordinal: Ordinal,
        hash: u64,
    ) {
        let hasher = &self.hasher;
        self.tables[ty.index()].insert_unique(hash, ordinal, |&o| {
            hash_at(hasher, version, ty, o).unwrap_or(0)
        });
    }

    /// Applies a cycle: forgets `removed` (records read from `before`), indexes `added`
    /// with their known hashes (records in `after`).
    pub(crate) fn update<B, A>(
        &mut self,
        before: &B,
        after: &A,
        removed: &[Vec<Ordinal>],
        added: &[Vec<Ordinal>],
        hashes: &[Vec<u64>],
    ) where
        B: RecordSource + ?Sized,
        A: RecordSource + ?Sized,
    {
        for (t, gone) in removed.iter().enumerate() {
            let ty = TypeId(t as u32);
            for &o in gone {
                let hash = hash_at(&self.hasher, before, ty, o).unwrap_or(0);
                self.remove(ty, o, hash);
            }
        }
        for (t, (new, hashes)) in added.iter().zip(hashes).enumerate() {
            let ty = TypeId(t as u32);
            self.reserve(after, ty, new.len());
            for i in bucket_order(hashes.len(), |i| hashes[i]) {
                let i = i as usize;
                self.insert(after, ty, new[i], hashes[i]);
            }
        }
    }

    /// Forgets `ordinal`, whose record hashed to `hash`.
    fn remove(&mut self, ty: TypeId, ordinal: Ordinal, hash: u64) {
        if let Ok(entry) = self.tables[ty.index()].find_entry(hash, |&o| o == ordinal) {
            entry.remove();
        }
    }
}

/// Where the next record of one type probably is in the current version, tried before the
/// [`RecordIndex`] is probed.
///
/// An input usually comes in the order it came last time (by key, by partition), and new
/// records were placed in the order they arrived, so the record after a match is usually at
/// the next ordinal. Trying it reads the pages the last match just read, where a probe of the
/// index misses the cache twice a record: at 10M records that was most of a cycle's matching
/// time. A record found by the index at a later ordinal moves the guess on; one found at an
/// earlier ordinal (a list many records share, say) does not. After
/// [`PATIENCE`](Self::PATIENCE) misses in a row (an input in another order) it tries only
/// one record in [`EVERY`](Self::EVERY), so a wrong order costs next to nothing.
#[derive(Debug, Default, Clone)]
pub(crate) struct Guess {
    next: u32,
    misses: u32,
    wait: u32,
}

impl Guess {
    const PATIENCE: u32 = 16;
    const EVERY: u32 = 64;

    /// The guessed ordinal when its record is identical to the packed record `row`.
    pub(crate) fn find<S: RecordSource + ?Sized>(
        &mut self,
        version: &S,
        ty: TypeId,
        row: Row<'_>,
    ) -> Option<Ordinal> {
        if self.wait > 0 {
            self.wait -= 1;
            return None;
        }
        let o = Ordinal(self.next);
        if version.contains(ty, o) && same_row(version, ty, o, row) {
            self.misses = 0;
            self.next += 1;
            return Some(o);
        }
        self.misses = self.misses.saturating_add(1);
        if self.misses >= Self::PATIENCE {
            self.wait = Self::EVERY - 1;
        }
        None
    }

    /// `o` matched through the index.
    pub(crate) fn found(&mut self, o: Ordinal) {
        if o.0 >= self.next {
            self.next = o.0.saturating_add(1);
        }
    }
}

/// Ordinals the identity index found lately, in a small table by hash, tried after the
/// [`Guess`] and before the index. A record many records share (an empty tag list, a
/// one-tag list) comes back again and again at an ordinal the guess cannot follow, and each
/// probe of the index misses the cache twice; this table (64 KiB a type, made on first use)
/// stays in cache. A slot holds the last ordinal found with a hash of its slot.
#[derive(Debug, Default, Clone)]
pub(crate) struct Recent {
    slots: Vec<(u64, Ordinal)>,
}

impl Recent {
    const BITS: u32 = 12;

    fn slot(hash: u64) -> usize {
        (hash >> 40) as usize & ((1 << Self::BITS) - 1)
    }

    /// The ordinal remembered for `hash`, when its record is the packed record `row`.
    pub(crate) fn find<S: RecordSource + ?Sized>(
        &self,
        version: &S,
        ty: TypeId,
        row: Row<'_>,
        hash: u64,
    ) -> Option<Ordinal> {
        let &(h, o) = self.slots.get(Self::slot(hash))?;
        (h == hash && version.contains(ty, o) && same_row(version, ty, o, row)).then_some(o)
    }

    /// `o`, whose record hashes to `hash`, was found through the index.
    pub(crate) fn remember(&mut self, hash: u64, o: Ordinal) {
        if self.slots.is_empty() {
            self.slots = vec![(0, Ordinal(u32::MAX)); 1 << Self::BITS];
        }
        self.slots[Self::slot(hash)] = (hash, o);
    }
}

/// The steps from a type to one primary-key field: (type, field) per reference followed.
pub(crate) type KeyPath = Vec<(TypeId, FieldId)>;

/// The primary-key paths of every type (`None` for a type without a key).
pub(crate) fn key_paths(schema: &Schema) -> Vec<Option<Vec<KeyPath>>> {
    (0..schema.type_count())
        .map(|t| {
            let ty = TypeId(t as u32);
            let key = schema.type_def(ty)?.key()?;
            key.iter()
                .map(|p| schema.resolve_path(ty, p).ok().map(|(steps, _)| steps))
                .collect()
        })
        .collect()
}

/// Calls `f` with each key value of a record, following references in `source`; false
/// when a reference on the way is missing.
fn visit_key<'a, S: RecordSource + ?Sized>(
    source: &'a S,
    ty: TypeId,
    ordinal: Ordinal,
    paths: &[KeyPath],
    mut f: impl FnMut(FieldValue<'a>),
) -> bool {
    for steps in paths {
        let mut at = (ty, ordinal);
        for (i, &(_, field)) in steps.iter().enumerate() {
            let Ok(v) = source.field(at.0, field, at.1) else {
                return false;
            };
            if i + 1 == steps.len() {
                f(v);
            } else if let FieldValue::Ref(next) = v {
                // The next step names the type the reference points at.
                at = (steps[i + 1].0, next);
            } else {
                return false;
            }
        }
    }
    true
}

/// The key of a record, following references in `source`; `None` when a reference on the
/// way is missing. Values follow the schema's key order.
pub(crate) fn key_with<S: RecordSource + ?Sized>(
    source: &S,
    ty: TypeId,
    ordinal: Ordinal,
    paths: &[KeyPath],
) -> Option<Vec<Value>> {
    let mut key = Vec::with_capacity(paths.len());
    visit_key(source, ty, ordinal, paths, |v| key.push(v.to_value())).then_some(key)
}

/// Primary key -> ordinal for every keyed type of one version. Only ordinals are stored;
/// keys are hashed and compared by reading them where the records are (no key is copied).
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyIndex {
    paths: Vec<Option<Vec<KeyPath>>>,
    tables: Vec<HashTable<Ordinal>>,
    hasher: Hasher,
}

/// Two records share a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub(crate) ty: TypeId,
    pub(crate) first: Ordinal,
    pub(crate) second: Ordinal,
}

impl KeyIndex {
    /// Indexes the keys of `version`; reports the first pair of records sharing a key.
    pub(crate) fn build<S: VersionSource + ?Sized>(
        version: &S,
        hasher: Hasher,
    ) -> (Self, Option<Duplicate>) {
        let paths = key_paths(version.schema());
        let mut index = KeyIndex {
            tables: (0..paths.len()).map(|_| HashTable::new()).collect(),
            paths,
            hasher,
        };
        let mut duplicate = None;
        for t in 0..index.paths.len() {
            let ty = TypeId(t as u32);
            if index.paths[t].is_some() {
                let hashes = index.key_hashes(version, ty);
                index.reserve(version, ty, hashes.len());
                for i in bucket_order(hashes.len(), |i| hashes[i].1.unwrap_or(0)) {
                    let (o, hash) = hashes[i as usize];
                    let found = match hash {
                        Some(hash) => index.insert_hashed(version, ty, o, hash),
                        None => index.insert(version, ty, o),
                    };
                    duplicate = first_duplicate(duplicate, found);
                }
            }
        }
        (index, duplicate)
    }

    /// The key hash of every record of `ty`, in ordinal order: read column by column when
    /// every key field is a field of `ty` itself (`None` for a record whose key cannot be
    /// read that way: it is hashed again one field at a time).
    fn key_hashes<S: VersionSource + ?Sized>(
        &self,
        version: &S,
        ty: TypeId,
    ) -> Vec<(Ordinal, Option<u64>)> {
        let paths = self.paths(ty).unwrap_or_default();
        let shallow: Option<Vec<FieldId>> = paths
            .iter()
            .map(|p| match p.as_slice() {
                [(_, field)] => Some(*field),
                _ => None,
            })
            .collect();
        let populated = version.populated(ty);
        let mut out = Vec::with_capacity(populated.len() as usize);
        if let Some(fields) = shallow {
            let range = 0..version.slot_count(ty);
            let walked = walk_columns(version, ty, &fields, range, |o, values| {
                out.push((o, Some(hash_fields(&self.hasher, values))));
            });
            if walked.is_ok() {
                return out;
            }
            out.clear();
        }
        out.extend(populated.iter().map(|o| (Ordinal(o), None)));
        out
    }

    /// The key paths of `ty`, if it has a primary key.
    pub(crate) fn paths(&self, ty: TypeId) -> Option<&[KeyPath]> {
        self.paths.get(ty.index())?.as_deref()
    }

    /// True when some key follows a reference (then keys can change without their record
    /// changing, and the index is rebuilt rather than updated).
    pub(crate) fn has_deep_keys(&self) -> bool {
        self.paths.iter().flatten().flatten().any(|p| p.len() > 1)
    }

    /// The hash of a key given as values.
    fn hash_values(&self, key: &[Value]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_usize(key.len());
        key.iter().for_each(|v| hash_value(&mut h, v.into()));
        h.finish()
    }

    /// The hash of a record's key (equal to [`Self::hash_values`] of its values).
    fn hash_of<S: RecordSource + ?Sized>(&self, source: &S, ty: TypeId, o: Ordinal) -> Option<u64> {
        hash_key(&self.hasher, self.paths(ty)?, source, ty, o)
    }

    fn reserve<S: RecordSource + ?Sized>(&mut self, version: &S, ty: TypeId, additional: usize) {
        let KeyIndex {
            paths,
            tables,
            hasher,
        } = self;
        let Some(paths) = paths[ty.index()].as_deref() else {
            return;
        };
        tables[ty.index()].reserve(additional, |&o| {
            hash_key(hasher, paths, version, ty, o).unwrap_or(0)
        });
    }

    /// The ordinal holding `key` in `version`.
    pub(crate) fn find<S: RecordSource + ?Sized>(
        &self,
        version: &S,
        ty: TypeId,
        key: &[Value],
    ) -> Option<Ordinal> {
        let paths = self.paths(ty)?;
        self.tables[ty.index()]
            .find(self.hash_values(key), |&o| {
                let mut i = 0;
                let mut same = true;
                let whole = visit_key(version, ty, o, paths, |v| {
                    same &= key.get(i).is_some_and(|k| same_value(k.into(), v));
                    i += 1;
                });
                whole && same && i == key.len()
            })
            .copied()
    }

    /// The ordinal of `version` holding the key that record `o` has in `source`.
    pub(crate) fn find_like<V, S>(
        &self,
        version: &V,
        source: &S,
        ty: TypeId,
        o: Ordinal,
    ) -> Option<Ordinal>
    where
        V: RecordSource + ?Sized,
        S: RecordSource + ?Sized,
    {
        let key = key_with(source, ty, o, self.paths(ty)?)?;
        self.find(version, ty, &key)
    }

    /// Indexes the key of `ordinal` in `version`; if another ordinal already holds the same
    /// key, nothing is inserted and the pair is returned.
    pub(crate) fn insert<S: RecordSource + ?Sized>(
        &mut self,
        version: &S,
        ty: TypeId,
        ordinal: Ordinal,
    ) -> Option<Duplicate> {
        let hash = self.hash_of(version, ty, ordinal)?;
        self.insert_hashed(version, ty, ordinal, hash)
    }

    /// [`insert`](Self::insert) of a record whose key hash is known.
    fn insert_hashed<S: RecordSource + ?Sized>(
        &mut self,
        version: &S,
        ty: TypeId,
        ordinal: Ordinal,
        hash: u64,
    ) -> Option<Duplicate> {
        let KeyIndex {
            paths,
            tables,
            hasher,
        } = self;
        let paths = paths[ty.index()].as_deref()?;
        // One probe for the lookup and the insert. Keys are compared only for hash matches:
        // almost always a true duplicate.
        let entry = tables[ty.index()].entry(
            hash,
            |&e| {
                e != ordinal
                    && key_with(version, ty, e, paths) == key_with(version, ty, ordinal, paths)
            },
            |&o| hash_key(hasher, paths, version, ty, o).unwrap_or(0),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(other) => Some(Duplicate {
                ty,
                first: *other.get(),
                second: ordinal,
            }),
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(ordinal);
                None
            }
        }
    }

    /// Forgets `ordinal`, whose key is read from `version`.
    pub(crate) fn remove<S: RecordSource + ?Sized>(
        &mut self,
        version: &S,
        ty: TypeId,
        ordinal: Ordinal,
    ) {
        let Some(hash) = self.hash_of(version, ty, ordinal) else {
            return;
        };
        if let Ok(entry) = self.tables[ty.index()].find_entry(hash, |&o| o == ordinal) {
            entry.remove();
        }
    }

    /// Applies a cycle: forgets `removed` (keys read from `before`), indexes `added` (keys
    /// read from `after`). Returns the first duplicate key found.
    pub(crate) fn update<B, A>(
        &mut self,
        before: &B,
        after: &A,
        removed: &[Vec<Ordinal>],
        added: &[Vec<Ordinal>],
    ) -> Option<Duplicate>
    where
        B: RecordSource + ?Sized,
        A: VersionSource + ?Sized,
    {
        if self.has_deep_keys() {
            let (index, duplicate) = KeyIndex::build(after, self.hasher.clone());
            *self = index;
            return duplicate;
        }
        let mut duplicate = None;
        for t in 0..self.paths.len() {
            let ty = TypeId(t as u32);
            if self.paths[t].is_none() {
                continue;
            }
            for &o in &removed[t] {
                self.remove(before, ty, o);
            }
            self.reserve(after, ty, added[t].len());
            let hashed: Vec<(Ordinal, Option<u64>)> = added[t]
                .iter()
                .map(|&o| (o, self.hash_of(after, ty, o)))
                .collect();
            for i in bucket_order(hashed.len(), |i| hashed[i].1.unwrap_or(0)) {
                let (o, hash) = hashed[i as usize];
                let found = hash.and_then(|hash| self.insert_hashed(after, ty, o, hash));
                duplicate = first_duplicate(duplicate, found);
            }
        }
        duplicate
    }
}

/// Of two duplicates found, the one a walk in ordinal order meets first (the lower second
/// ordinal): the tables are filled in bucket order, and the veto names the same pair whatever
/// that order.
fn first_duplicate(a: Option<Duplicate>, b: Option<Duplicate>) -> Option<Duplicate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (b.second, b.first) < (a.second, a.first) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Low bits of a hash that [`bucket_order`] sorts by.
const BUCKET_BITS: u32 = 16;

/// The positions `0..n` in the order of the low [`BUCKET_BITS`] bits of `hash(position)`
/// (stable: in position order within one value). A hash table places an entry by the low
/// bits of its hash, so entries inserted in this order fill it from one end to the other,
/// each insert near the last, where inserting millions in ordinal order misses the cache on
/// nearly every one. One counting pass: O(n), and 4 bytes a position (ordering the entries
/// themselves held two copies of 16 to 24 bytes each).
pub(crate) fn bucket_order(n: usize, hash: impl Fn(usize) -> u64) -> Vec<u32> {
    if n < 1 << BUCKET_BITS {
        return (0..n as u32).collect(); // a table this small stays in cache either way
    }
    bucketed(n, hash).0
}

/// The positions `0..n` grouped by bucket as [`bucket_order`] orders them, whatever `n`, and
/// where each bucket ends in that order.
fn bucketed(n: usize, hash: impl Fn(usize) -> u64) -> (Vec<u32>, Vec<usize>) {
    let mut starts = bucket_starts((0..n).map(|i| bucket(hash(i))));
    let mut out = vec![0u32; n];
    for i in 0..n {
        let at = &mut starts[bucket(hash(i))];
        out[*at] = i as u32;
        *at += 1;
    }
    starts.pop(); // each bucket's start has moved to its end: the last entry is spare
    (out, starts)
}

/// The positions of `hashes` whose entry is the same as an earlier one's, in order: the
/// first of equal entries is not one. Entries are compared (`same(earlier, later)`) only
/// when their hashes are equal. Grouped by [`bucket_order`]'s buckets, each bucket sorted
/// by hash apart, the buckets shared among `threads` threads: no table of every entry.
pub(crate) fn repeats(
    hashes: &[u64],
    same: impl Fn(u32, u32) -> bool + Sync,
    threads: usize,
) -> Vec<u32> {
    let (order, ends) = bucketed(hashes.len(), |i| hashes[i]);
    let buckets: Vec<usize> = (0..ends.len()).collect();
    let in_share = |share: &[usize]| {
        let (mut found, mut run) = (Vec::new(), Vec::new());
        for &b in share {
            let start = b.checked_sub(1).map_or(0, |a| ends[a]);
            run.clear();
            run.extend(
                order[start..ends[b]]
                    .iter()
                    .map(|&i| (hashes[i as usize], i)),
            );
            run.sort_unstable();
            for equal in run.chunk_by(|a, b| a.0 == b.0).filter(|e| e.len() > 1) {
                repeats_among(equal, &same, &mut found);
            }
        }
        found
    };
    let mut found = map_shares(&buckets, threads, in_share).concat();
    found.sort_unstable();
    found
}

/// Pushes the positions of `equal` (entries of one hash, in position order) that are the
/// same as an earlier one of them.
fn repeats_among(equal: &[(u64, u32)], same: &impl Fn(u32, u32) -> bool, found: &mut Vec<u32>) {
    let mut firsts: Vec<u32> = Vec::new();
    for &(_, i) in equal {
        if firsts.iter().any(|&f| same(f, i)) {
            found.push(i);
        } else {
            firsts.push(i);
        }
    }
}

/// The bucket [`bucket_order`] files a hash under.
fn bucket(hash: u64) -> usize {
    (hash & ((1 << BUCKET_BITS) - 1)) as usize
}

/// Where each bucket starts in the order, given every entry's bucket.
fn bucket_starts(buckets: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut starts = vec![0usize; (1 << BUCKET_BITS) + 1];
    for b in buckets {
        starts[b + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    starts
}

/// The hash of a record's key, streamed from where the record is (equal to hashing the
/// key's values).
fn hash_key<S: RecordSource + ?Sized>(
    hasher: &Hasher,
    paths: &[KeyPath],
    source: &S,
    ty: TypeId,
    o: Ordinal,
) -> Option<u64> {
    let mut h = hasher.build_hasher();
    h.write_usize(paths.len());
    visit_key(source, ty, o, paths, |v| hash_value(&mut h, v)).then(|| h.finish())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shoal_format::{DataState, FieldKind, Record, Schema, TypeDef};

    use super::*;

    #[test]
    fn bucket_order_sorts_by_the_low_bits_and_keeps_order_within_a_bucket() {
        let n = 3 << BUCKET_BITS;
        let hashes: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xF_FFFF)
            .collect();
        let ordered = bucket_order(n, |i| hashes[i]);
        let low = |i: u32| hashes[i as usize] & ((1 << BUCKET_BITS) - 1);
        for pair in ordered.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(low(a) < low(b) || (low(a) == low(b) && a < b));
        }
        let mut back = ordered;
        back.sort_unstable();
        assert_eq!(back, (0..n as u32).collect::<Vec<u32>>());
        assert_eq!(
            bucket_order(100, |i| hashes[i]),
            (0..100).collect::<Vec<u32>>()
        );
    }

    #[test]
    fn repeats_are_the_later_of_equal_entries_whatever_the_hash_collisions_and_threads() {
        // Entry i is the value i % 1000 (so every value from the 1000th entry on repeats);
        // its hash keeps only a few bits of the value, so unequal values collide by
        // thousands and fall in few buckets.
        for (n, bits) in [(50_000usize, 0xFu64), (200_000, 0xF_FFFF), (700, 0x3)] {
            let value = |i: u32| i % 1000;
            let hashes: Vec<u64> = (0..n as u32)
                .map(|i| u64::from(value(i)).wrapping_mul(0x9E37_79B9) & bits)
                .collect();
            let same = |a: u32, b: u32| value(a) == value(b);
            let expected: Vec<u32> = (1000.min(n as u32)..n as u32).collect();
            for threads in [1, 2, 3] {
                assert_eq!(repeats(&hashes, same, threads), expected, "{n} {threads}");
            }
        }
        assert!(repeats(&[], |_, _| true, 2).is_empty());
    }

    #[test]
    fn a_streamed_key_hash_equals_the_hash_of_its_values() {
        let schema = Arc::new(
            Schema::new(vec![
                TypeDef::object("Movie")
                    .field("id", FieldKind::I64)
                    .reference("country", "Country")
                    .primary_key(&["id", "country.code"]),
                TypeDef::object("Country").field("code", FieldKind::String),
            ])
            .unwrap(),
        );
        let mut state = DataState::new(schema);
        state
            .insert(
                TypeId(1),
                Ordinal(0),
                Record::Object(vec![Value::String("FR".into())]),
            )
            .unwrap();
        state
            .insert(
                TypeId(0),
                Ordinal(3),
                Record::Object(vec![Value::I64(7), Value::Ref(Ordinal(0))]),
            )
            .unwrap();
        let (index, duplicate) = KeyIndex::build(&state, Hasher::default());
        assert_eq!(duplicate, None);
        let key = [Value::I64(7), Value::String("FR".into())];
        assert_eq!(
            index.hash_of(&state, TypeId(0), Ordinal(3)),
            Some(index.hash_values(&key))
        );
        assert_eq!(index.find(&state, TypeId(0), &key), Some(Ordinal(3)));
        assert_eq!(index.find(&state, TypeId(0), &key[..1]), None);
        assert!(index.has_deep_keys());

        // A second record with the same key is reported.
        state
            .insert(
                TypeId(0),
                Ordinal(5),
                Record::Object(vec![Value::I64(7), Value::Ref(Ordinal(0))]),
            )
            .unwrap();
        let (_, duplicate) = KeyIndex::build(&state, Hasher::default());
        assert_eq!(
            duplicate,
            Some(Duplicate {
                ty: TypeId(0),
                first: Ordinal(3),
                second: Ordinal(5)
            })
        );
    }

    /// Key hashes read column by column (a key of the type's own fields) are the hashes of
    /// the keys read one record at a time, and a duplicate is still found.
    #[test]
    fn shallow_key_hashes_read_by_column_equal_the_hashes_of_their_keys() {
        let schema = Arc::new(
            Schema::new(vec![TypeDef::object("Movie")
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .primary_key(&["year", "title"])])
            .unwrap(),
        );
        let mut state = DataState::new(schema);
        for o in (0..3000u32).filter(|o| o % 11 != 4) {
            let title = (o % 13 != 0).then(|| Value::String(format!("t{}", o % 1500).into()));
            let movie = Record::Object(vec![title.unwrap_or(Value::Null), Value::I32(o as i32)]);
            state.insert(TypeId(0), Ordinal(o), movie).unwrap();
        }
        let (index, duplicate) = KeyIndex::build(&state, Hasher::default());
        assert_eq!(duplicate, None);
        let hashes = index.key_hashes(&state, TypeId(0));
        assert_eq!(hashes.len() as u64, state.populated(TypeId(0)).len());
        for (o, hash) in hashes {
            assert_eq!(hash, index.hash_of(&state, TypeId(0), o), "{o}");
        }
        let again = Record::Object(vec![Value::String("t1".into()), Value::I32(1)]);
        state.insert(TypeId(0), Ordinal(3001), again).unwrap();
        let (_, duplicate) = KeyIndex::build(&state, Hasher::default());
        assert_eq!(
            duplicate.map(|d| (d.first, d.second)),
            Some((Ordinal(1), Ordinal(3001)))
        );
    }
}
