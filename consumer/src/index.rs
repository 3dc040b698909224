//! Indexes over a dataset: a primary-key index (unique) and hash indexes on any field paths
//! (all matches), kept up to date across deltas incrementally.
//!
//! A primary-key index of a snapshot that carries its key index section is that table, read
//! in place and updated slot by slot (see [`crate::keytable`]): nothing is built at start-up.
//! Any other index stores ordinals with a tag, in hash tables cut into shards by hash. For a key
//! of one fixed-width field (an id) the tag is the key's bits, so a lookup compares in the
//! table without reading a page; other keys are compared by reading them from the dataset
//! (in place, through references). An index costs about 16 bytes per record and a lookup
//! allocates nothing. Applying a delta copies only the shards that a removed or added record
//! falls in (copy-on-write, like pages): k changed records copy at most k shards, and every
//! other shard is shared with the previous version. An index whose key follows a reference (`country.code`) is rebuilt instead,
//! since a child edited in place changes its parents' keys without touching them.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use roaring::RoaringBitmap;
use shoal_format::{
    keyindex, ColumnKind, FieldId, FieldPath, FieldValue, FixedKind, Ordinal, TypeId,
};

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::keytable::KeyTable;
use crate::parallel::map_shares;

/// Shards per index: a delta copies the shards its records fall in.
const SHARDS: usize = 256;

/// What to index: a type and the field paths that make the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index's name, for lookups.
    pub name: String,
    /// The indexed type.
    pub type_name: String,
    /// The key's field paths (`"id"`, `"country.code"`); empty means the type's primary key.
    pub paths: Vec<String>,
}

/// A built index of one dataset.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) name: String,
    /// What was asked for, by name: resolved again when a delta changes the schema.
    spec: IndexSpec,
    ty: TypeId,
    steps: Vec<Vec<(TypeId, FieldId)>>,
    /// A key of one fixed-width field of the type itself: entries hold the key's bits, so a
    /// lookup compares in the table and reads no page.
    exact: Option<FixedKind>,
    shards: Vec<Arc<HashTable<Entry>>>,
    /// The snapshot's own key table, in place of `shards` (a primary key of the type's own
    /// fields, when the snapshot carried the section).
    table: Option<KeyTable>,
    /// The key table was rebuilt from the data by the delta that made this version, because
    /// it did not hold a record the delta removed (a bug or damage; counted in `ApplyStats`).
    pub(crate) table_rebuilt: bool,
    hasher: hashbrown::DefaultHashBuilder,
}

/// A change to an index: remove ordinal `o` under hash `h` (no tag), or insert it.
struct Op {
    h: u64,
    tag: Option<u64>,
    o: Ordinal,
}

/// One indexed record: its ordinal and a tag: the key's bits for an exact index, the full
/// hash otherwise (so growing a table never reads the dataset).
///
/// Packed to 12 bytes (no padding after the ordinal): a quarter less memory to fill when an
/// index is built, and more entries per cache line when it is probed. Fields are only ever
/// read by value.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(4))]
struct Entry {
    tag: u64,
    ordinal: Ordinal,
}

/// The type and key fields `spec` names in `data`'s schema, and for a key of one fixed-width
/// field of the type itself, its kind.
fn resolve(data: &Dataset, spec: &IndexSpec) -> Result<(TypeId, Vec<KeySteps>, Option<FixedKind>)> {
    let schema = data.schema();
    let ty = data.type_id(&spec.type_name)?;
    let paths: Vec<FieldPath> = if spec.paths.is_empty() {
        schema
            .type_def(ty)
            .and_then(|d| d.key())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "index `{}`: type `{}` has no primary key; name the fields",
                    spec.name, spec.type_name
                ))
            })?
            .to_vec()
    } else {
        spec.paths.iter().map(|p| FieldPath::parse(p)).collect()
    };
    let steps = paths
        .iter()
        .map(|p| {
            schema
                .resolve_path(ty, p)
                .map(|(steps, _)| steps)
                .map_err(|e| Error::Usage(format!("index `{}`: {e}", spec.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let exact = match steps.as_slice() {
        [path] => match path.as_slice() {
            [(t, f)] => match schema.columns(*t)[f.index()] {
                ColumnKind::Fixed(k) => Some(k),
                ColumnKind::Var(_) => None,
            },
            _ => None,
        },
        _ => None,
    };
    Ok((ty, steps, exact))
}

/// The steps of one key path: (type, field) from the indexed type to the key's field.
type KeySteps = Vec<(TypeId, FieldId)>;

impl Index {
    /// Builds `spec` over `data` (O(records of the type)).
    pub(crate) fn build(data: &Dataset, spec: &IndexSpec) -> Result<Index> {
        let (ty, steps, exact) = resolve(data, spec)?;
        let table = spec
            .paths
            .is_empty()
            .then(|| data.key_table(ty).cloned())
            .flatten();
        let mut index = Index {
            name: spec.name.clone(),
            spec: spec.clone(),
            ty,
            steps,
            exact,
            shards: Vec::new(),
            table,
            table_rebuilt: false,
            hasher: hashbrown::DefaultHashBuilder::default(),
        };
        if index.table.is_none() {
            index.shards = index.build_shards(data);
        }
        Ok(index)
    }

    /// This index over `data`, the version it indexes read in a changed schema (see
    /// `Dataset::projected`): the same entries, its type and fields found again by name; an
    /// error when the schema no longer has them.
    pub(crate) fn projected(&self, data: &Dataset) -> Result<Index> {
        let (ty, steps, exact) = resolve(data, &self.spec)?;
        Ok(Index {
            ty,
            steps,
            exact,
            ..self.clone()
        })
    }

    /// The indexed type.
    pub(crate) fn type_id(&self) -> TypeId {
        self.ty
    }

    /// The index of the next version: `removed` keys (read from `old`) leave, `added` keys
    /// (read from `new`) come in; only the shards they touch are copied.
    pub(crate) fn updated(
        &self,
        old: &Dataset,
        new: &Dataset,
        removed: &RoaringBitmap,
        added: &RoaringBitmap,
    ) -> Index {
        if let Some(table) = &self.table {
            return self.updated_table(table, old, new, removed, added);
        }
        if self.steps.iter().any(|s| s.len() > 1) {
            let mut rebuilt = self.clone();
            rebuilt.shards = self.build_shards(new);
            return rebuilt;
        }
        let mut shards = self.shards.clone();
        // A record edited in place whose key did not change keeps its entry: most edits
        // leave the key alone, and then no shard is copied for them.
        let unchanged = |o: Ordinal| {
            // A key of one field of the type itself whose page the delta left shared did not
            // change: no need to read it.
            if let [path] = self.steps.as_slice() {
                if let [(t, f)] = path.as_slice() {
                    if new.same_page_at(old, *t, *f, o) {
                        return true;
                    }
                }
            }
            self.hash_of(old, o)
                .is_some_and(|a| Some(a) == self.hash_of(new, o))
                && (self.exact.is_some()
                    || self.steps.iter().all(|s| {
                        match (key_value(old, self.ty, o, s), key_value(new, self.ty, o, s)) {
                            (Some(a), Some(b)) => same(&a, &b),
                            (None, None) => true,
                            _ => false,
                        }
                    }))
        };
        let kept: RoaringBitmap = (removed & added)
            .iter()
            .filter(|&o| unchanged(Ordinal(o)))
            .collect();
        // Removals first, then insertions (an ordinal can leave and come back with another
        // key), grouped by shard so that the copies of many shards are shared between
        // threads.
        let mut ops: Vec<Op> = Vec::new();
        for o in (removed - &kept).iter().map(Ordinal) {
            if let Some((h, _)) = self.hash_of(old, o) {
                ops.push(Op { h, tag: None, o });
            }
        }
        for o in (added - &kept).iter().map(Ordinal) {
            if let Some((h, tag)) = self.hash_of(new, o) {
                ops.push(Op {
                    h,
                    tag: Some(tag),
                    o,
                });
            }
        }
        ops.sort_by_key(|op| shard(op.h)); // stable: removals stay before insertions
        let apply = |shards: &mut [Arc<HashTable<Entry>>], first: usize, ops: &[Op]| {
            for op in ops {
                let table = Arc::make_mut(&mut shards[shard(op.h) - first]);
                match op.tag {
                    None => {
                        if let Ok(entry) = table.find_entry(op.h, |e| e.ordinal == op.o) {
                            entry.remove();
                        }
                    }
                    Some(tag) => self.insert(table, op.h, tag, op.o),
                }
            }
        };
        if ops.len() >= 1024 {
            apply_by_shard_ranges(&mut shards, &ops, new.threads(), &apply);
        } else {
            apply(&mut shards, 0, &ops);
        }
        Index {
            shards,
            table_rebuilt: false,
            ..self.clone()
        }
    }

    /// The key table of the next version: the slots of removed records (read from `old`)
    /// leave, those of added records (read from `new`) come in; a record edited in place
    /// whose slot did not change is left alone. Rebuilt from `new` if the table and the
    /// data disagree.
    fn updated_table(
        &self,
        table: &KeyTable,
        old: &Dataset,
        new: &Dataset,
        removed: &RoaringBitmap,
        added: &RoaringBitmap,
    ) -> Index {
        let slots = |data: &Dataset, ordinals: RoaringBitmap| -> Vec<keyindex::Slot> {
            ordinals
                .iter()
                .map(|o| self.table_slot(data, Ordinal(o)))
                .collect()
        };
        let both = removed & added;
        let moved: RoaringBitmap = both
            .iter()
            .filter(|&o| !self.same_key_page(old, new, Ordinal(o)))
            .filter(|&o| self.table_slot(old, Ordinal(o)) != self.table_slot(new, Ordinal(o)))
            .collect();
        let leaving = slots(old, (removed - &both) | &moved);
        let coming = slots(new, (added - &both) | &moved);
        let (next, table_rebuilt) = match table.updated(&leaving, &coming, new.threads()) {
            Some(next) => (next, false),
            None => {
                tracing::warn!(index = %self.name, "key table and data disagree: rebuilt");
                let all = new.populated(self.ty).cloned().unwrap_or_default();
                (KeyTable::of_slots(slots(new, all)), true)
            }
        };
        Index {
            table: Some(next),
            table_rebuilt,
            ..self.clone()
        }
    }

    /// True when every key field of record `o` lies on a page the two versions share: its
    /// key cannot differ between them, and nothing needs to be read.
    fn same_key_page(&self, old: &Dataset, new: &Dataset, o: Ordinal) -> bool {
        self.steps.iter().all(|path| match path.as_slice() {
            [(t, f)] => new.same_page_at(old, *t, *f, o),
            _ => false,
        })
    }

    /// The key table slot of record `o`.
    fn table_slot(&self, data: &Dataset, o: Ordinal) -> keyindex::Slot {
        let words = self.steps.iter().map(|s| {
            key_value(data, self.ty, o, s).map_or_else(
                || keyindex::field_word(&FieldValue::Null),
                |v| keyindex::field_word(&v),
            )
        });
        keyindex::slot_of(keyindex::key_hash(words), o.0)
    }

    /// Every record of the type, hashed on the dataset's threads straight into per-shard
    /// buckets (no sort), then the shards built from every thread's buckets, shared out the
    /// same way; tables are sized up front.
    fn build_shards(&self, data: &Dataset) -> Vec<Arc<HashTable<Entry>>> {
        let ordinals: Vec<u32> = data
            .populated(self.ty)
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        let buckets = map_shares(&ordinals, data.threads(), |part| {
            let guess = part.len() / SHARDS + part.len() / SHARDS / 8 + 1;
            let mut buckets: Vec<Vec<(u64, u64, u32)>> =
                (0..SHARDS).map(|_| Vec::with_capacity(guess)).collect();
            for &o in part {
                if let Some((h, tag)) = self.hash_of(data, Ordinal(o)) {
                    buckets[shard(h)].push((h, tag, o));
                }
            }
            buckets
        });
        let shard_ids: Vec<usize> = (0..SHARDS).collect();
        map_shares(&shard_ids, data.threads(), |ids| {
            ids.iter()
                .map(|&s| {
                    let len = buckets.iter().map(|b| b[s].len()).sum();
                    let mut table = HashTable::with_capacity(len);
                    for &(h, tag, o) in buckets.iter().flat_map(|b| &b[s]) {
                        self.insert(&mut table, h, tag, Ordinal(o));
                    }
                    Arc::new(table)
                })
                .collect::<Vec<_>>()
        })
        .concat()
    }

    fn insert(&self, table: &mut HashTable<Entry>, h: u64, tag: u64, ordinal: Ordinal) {
        // Growing a table rehashes from the tags alone: key bits (exact) or the hash itself.
        table.insert_unique(h, Entry { tag, ordinal }, |e| match self.exact {
            Some(_) => self.hasher.hash_one(e.tag),
            None => e.tag,
        });
    }

    /// The hash of record `o`'s key and its entry tag, read from `data`. An exact index
    /// leaves out records whose key is null.
    fn hash_of(&self, data: &Dataset, o: Ordinal) -> Option<(u64, u64)> {
        if let Some(kind) = self.exact {
            let raw = raw_of(&key_value(data, self.ty, o, &self.steps[0])?, kind)?;
            return Some((self.hasher.hash_one(raw), raw));
        }
        let mut h = self.hasher.build_hasher();
        for steps in &self.steps {
            hash_value(&mut h, &key_value(data, self.ty, o, steps)?);
        }
        let h = h.finish();
        Some((h, h))
    }

    /// The hash and tag a lookup of `key` looks for (`None`: no record can match).
    fn probe(&self, key: &[FieldValue<'_>]) -> Option<(u64, u64)> {
        if let Some(kind) = self.exact {
            let [value] = key else { return None };
            let raw = raw_of(value, kind)?;
            return Some((self.hasher.hash_one(raw), raw));
        }
        let mut h = self.hasher.build_hasher();
        for v in key {
            hash_value(&mut h, v);
        }
        let h = h.finish();
        Some((h, h))
    }

    fn matches(&self, data: &Dataset, e: &Entry, tag: u64, key: &[FieldValue<'_>]) -> bool {
        if e.tag != tag {
            return false;
        }
        if self.exact.is_some() {
            return true;
        }
        self.has_key(data, e.ordinal, key)
    }

    /// True when a record whose key hash equals `key`'s has `key`, without reading it: a key
    /// of one fixed-width field of the index's kind, whose word (its 64 bits) the hash maps
    /// one to one, and that is not the null word.
    #[inline]
    fn hash_is_key(&self, key: &[FieldValue<'_>]) -> bool {
        match (self.exact, key) {
            (Some(kind), [value]) => {
                raw_of(value, kind).is_some_and(|raw| raw != keyindex::NULL_WORD)
            }
            _ => false,
        }
    }

    /// True when record `o` has `key`.
    #[inline]
    fn has_key(&self, data: &Dataset, o: Ordinal, key: &[FieldValue<'_>]) -> bool {
        key.len() == self.steps.len()
            && self.steps.iter().zip(key).all(|(steps, want)| {
                key_value(data, self.ty, o, steps).is_some_and(|v| same(&v, want))
            })
    }

    /// The first record with `key`.
    #[inline]
    pub(crate) fn get(&self, data: &Dataset, key: &[FieldValue<'_>]) -> Option<Ordinal> {
        if let Some(table) = &self.table {
            let hash = keyindex::key_hash(key.iter().map(keyindex::field_word));
            let mut candidates = table.candidates(hash).map(Ordinal);
            if self.hash_is_key(key) {
                return candidates.next();
            }
            return candidates.find(|&o| self.has_key(data, o, key));
        }
        let (h, tag) = self.probe(key)?;
        self.shards[shard(h)]
            .find(h, |e| self.matches(data, e, tag, key))
            .map(|e| e.ordinal)
    }

    /// Every record with `key`.
    pub(crate) fn get_all<'a>(
        &'a self,
        data: &'a Dataset,
        key: &'a [FieldValue<'a>],
    ) -> impl Iterator<Item = Ordinal> + 'a {
        let in_table = self.table.as_ref().map(|table| {
            let hash = keyindex::key_hash(key.iter().map(keyindex::field_word));
            table
                .candidates(hash)
                .map(Ordinal)
                .filter(move |&o| self.has_key(data, o, key))
        });
        let probe = self.table.is_none().then(|| self.probe(key)).flatten();
        in_table
            .into_iter()
            .flatten()
            .chain(probe.into_iter().flat_map(move |(h, tag)| {
                self.shards[shard(h)]
                    .iter_hash(h)
                    .filter(move |e| self.matches(data, e, tag, key))
                    .map(|e| e.ordinal)
            }))
    }

    /// The key table, when the index is one (for tests).
    pub(crate) fn key_table(&self) -> Option<&KeyTable> {
        self.table.as_ref()
    }

    /// The parts of this index (shards, or pages of a key table) not shared with `other`,
    /// and the parts in all (for tests of sharing).
    pub(crate) fn parts_copied(&self, other: &Index) -> (usize, usize) {
        if let (Some(a), Some(b)) = (&self.table, &other.table) {
            return a.pages_copied(b);
        }
        let copied = self
            .shards
            .iter()
            .zip(&other.shards)
            .filter(|(a, b)| !Arc::ptr_eq(a, b))
            .count();
        (copied, self.shards.len())
    }
}

/// The bits of a fixed-width key value of `kind`, as pages store them; `None` for null or a
/// value of another kind.
fn raw_of(v: &FieldValue<'_>, kind: FixedKind) -> Option<u64> {
    Some(match (kind, v) {
        (FixedKind::I64, FieldValue::I64(x)) => *x as u64,
        (FixedKind::I32, FieldValue::I32(x)) => *x as i64 as u64,
        (FixedKind::F64, FieldValue::F64(x)) => x.to_bits(),
        (FixedKind::F32, FieldValue::F32(x)) => x.to_bits() as u64,
        (FixedKind::Bool, FieldValue::Bool(b)) => *b as u64,
        (FixedKind::Ref(_), FieldValue::Ref(o)) => o.0 as u64,
        _ => return None,
    })
}

fn shard(h: u64) -> usize {
    // Bits 48..56: the table inside a shard uses the low bits for the bucket and the top 7
    // for its control bytes; taking the shard from the top bits made every entry of a shard
    // carry the same control byte, so a probe compared every entry of a group.
    (h >> 48) as usize % SHARDS
}

/// One key field of record `o`, following references.
fn key_value<'a>(
    data: &'a Dataset,
    ty: TypeId,
    o: Ordinal,
    steps: &[(TypeId, FieldId)],
) -> Option<FieldValue<'a>> {
    let mut at = (ty, o);
    for (i, &(t, f)) in steps.iter().enumerate() {
        debug_assert_eq!(t, at.0);
        let v = data.value_unchecked(at.0, f, at.1)?;
        if i + 1 == steps.len() {
            return Some(v);
        }
        match v {
            FieldValue::Ref(next) => at = (steps[i + 1].0, next),
            _ => return None,
        }
    }
    None
}

/// Bit-exact equality (floats by bits, like the record model).
fn same(a: &FieldValue<'_>, b: &FieldValue<'_>) -> bool {
    match (a, b) {
        (FieldValue::F32(x), FieldValue::F32(y)) => x.to_bits() == y.to_bits(),
        (FieldValue::F64(x), FieldValue::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn hash_value(h: &mut impl Hasher, v: &FieldValue<'_>) {
    match v {
        FieldValue::Null => 0u8.hash(h),
        FieldValue::Bool(b) => (1u8, b).hash(h),
        FieldValue::I32(x) => (2u8, x).hash(h),
        FieldValue::I64(x) => (3u8, x).hash(h),
        FieldValue::F32(x) => (4u8, x.to_bits()).hash(h),
        FieldValue::F64(x) => (5u8, x.to_bits()).hash(h),
        FieldValue::Str(s) => (6u8, s).hash(h),
        FieldValue::Bytes(b) => (7u8, b).hash(h),
        FieldValue::Ref(o) => (8u8, o.0).hash(h),
    }
}

/// Applies `ops` (sorted by shard) to `shards` on `threads` threads, each owning a
/// contiguous range of shards and the operations that fall in it.
fn apply_by_shard_ranges<F>(
    shards: &mut [Arc<HashTable<Entry>>],
    ops: &[Op],
    threads: usize,
    apply: &F,
) where
    F: Fn(&mut [Arc<HashTable<Entry>>], usize, &[Op]) + Sync,
{
    let k = threads.clamp(1, SHARDS);
    let bounds: Vec<usize> = (0..=k).map(|i| SHARDS * i / k).collect();
    let cuts: Vec<usize> = bounds
        .iter()
        .map(|&b| ops.partition_point(|op| shard(op.h) < b))
        .collect();
    let mut rest = shards;
    let mut ranges = Vec::with_capacity(k);
    for i in 0..k {
        let (range, tail) = rest.split_at_mut(bounds[i + 1] - bounds[i]);
        ranges.push((range, bounds[i], &ops[cuts[i]..cuts[i + 1]]));
        rest = tail;
    }
    std::thread::scope(|scope| {
        let mut ranges = ranges.into_iter();
        let first = ranges.next();
        for (range, start, ops) in ranges {
            scope.spawn(move || apply(range, start, ops));
        }
        if let Some((range, start, ops)) = first {
            apply(range, start, ops);
        }
    });
}
