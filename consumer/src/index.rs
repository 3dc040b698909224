//! Indexes over a dataset: a primary-key index (unique) and hash indexes on any field paths
//! (all matches), kept up to date across deltas incrementally.
//!
//! An index stores only ordinals, in hash tables cut into shards by hash; keys are hashed and
//! compared by reading them from the dataset (in place, through references), so an index
//! costs about 5 bytes per record and a lookup allocates nothing. Applying a delta copies
//! only the shards that a removed or added record falls in (copy-on-write, like pages): k
//! changed records copy at most k shards, and every other shard is shared with the previous
//! version. An index whose key follows a reference (`country.code`) is rebuilt instead,
//! since a child edited in place changes its parents' keys without touching them.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use roaring::RoaringBitmap;
use shoal_format::{FieldId, FieldPath, FieldValue, Ordinal, TypeId};

use crate::dataset::Dataset;
use crate::error::{Error, Result};

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
    ty: TypeId,
    steps: Vec<Vec<(TypeId, FieldId)>>,
    shards: Vec<Arc<HashTable<Ordinal>>>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Index {
    /// Builds `spec` over `data` (O(records of the type)).
    pub(crate) fn build(data: &Dataset, spec: &IndexSpec) -> Result<Index> {
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
        let mut index = Index {
            name: spec.name.clone(),
            ty,
            steps,
            shards: (0..SHARDS).map(|_| Arc::new(HashTable::new())).collect(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        };
        index.shards = index.build_shards(data);
        Ok(index)
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
        if self.steps.iter().any(|s| s.len() > 1) {
            let mut rebuilt = self.clone();
            rebuilt.shards = self.build_shards(new);
            return rebuilt;
        }
        let mut next = self.clone();
        for o in removed.iter().map(Ordinal) {
            if let Some(h) = self.hash_of(old, o) {
                let table = Arc::make_mut(&mut next.shards[shard(h)]);
                if let Ok(entry) = table.find_entry(h, |&e| e == o) {
                    entry.remove();
                }
            }
        }
        for o in added.iter().map(Ordinal) {
            if let Some(h) = self.hash_of(new, o) {
                let table = Arc::make_mut(&mut next.shards[shard(h)]);
                self.insert_into(table, new, h, o);
            }
        }
        next
    }

    /// Every record of the type, hashed on two threads, then inserted shard by shard into
    /// tables sized up front (no rehash).
    fn build_shards(&self, data: &Dataset) -> Vec<Arc<HashTable<Ordinal>>> {
        let ordinals: Vec<u32> = data
            .populated(self.ty)
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        let hash_all = |part: &[u32]| -> Vec<(u64, u32)> {
            part.iter()
                .filter_map(|&o| self.hash_of(data, Ordinal(o)).map(|h| (h, o)))
                .collect()
        };
        let (left, right) = ordinals.split_at(ordinals.len() / 2);
        let mut hashed = std::thread::scope(|scope| {
            let other = scope.spawn(|| hash_all(right));
            let mut mine = hash_all(left);
            mine.extend(other.join().expect("hashing does not panic"));
            mine
        });
        hashed.sort_unstable_by_key(|(h, _)| shard(*h));
        let mut tables = Vec::with_capacity(SHARDS);
        let mut rest = &hashed[..];
        for s in 0..SHARDS {
            let n = rest.iter().take_while(|(h, _)| shard(*h) == s).count();
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            let mut table = HashTable::with_capacity(n);
            for &(h, o) in mine {
                self.insert_into(&mut table, data, h, Ordinal(o));
            }
            tables.push(Arc::new(table));
        }
        tables
    }

    fn insert_into(&self, table: &mut HashTable<Ordinal>, data: &Dataset, h: u64, o: Ordinal) {
        table.insert_unique(h, o, |&e| self.hash_of(data, e).unwrap_or(0));
    }

    /// The hash of record `o`'s key, read from `data`.
    fn hash_of(&self, data: &Dataset, o: Ordinal) -> Option<u64> {
        let mut h = self.hasher.build_hasher();
        for steps in &self.steps {
            hash_value(&mut h, &key_value(data, self.ty, o, steps)?);
        }
        Some(h.finish())
    }

    fn hash_key(&self, key: &[FieldValue<'_>]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for v in key {
            hash_value(&mut h, v);
        }
        h.finish()
    }

    fn matches(&self, data: &Dataset, o: Ordinal, key: &[FieldValue<'_>]) -> bool {
        key.len() == self.steps.len()
            && self.steps.iter().zip(key).all(|(steps, want)| {
                key_value(data, self.ty, o, steps).is_some_and(|v| same(&v, want))
            })
    }

    /// The indexed type.
    pub(crate) fn type_id(&self) -> TypeId {
        self.ty
    }

    /// The first record with `key`.
    pub(crate) fn get(&self, data: &Dataset, key: &[FieldValue<'_>]) -> Option<Ordinal> {
        let h = self.hash_key(key);
        self.shards[shard(h)]
            .find(h, |&o| self.matches(data, o, key))
            .copied()
    }

    /// Every record with `key`.
    pub(crate) fn get_all<'a>(
        &'a self,
        data: &'a Dataset,
        key: &'a [FieldValue<'a>],
    ) -> impl Iterator<Item = Ordinal> + 'a {
        let h = self.hash_key(key);
        self.shards[shard(h)]
            .iter_hash(h)
            .copied()
            .filter(move |&o| self.matches(data, o, key))
    }

    /// True when both indexes hold the same table for `shard` (for tests of sharing).
    pub(crate) fn shares_shard(&self, other: &Index, shard: usize) -> bool {
        Arc::ptr_eq(&self.shards[shard], &other.shards[shard])
    }
}

fn shard(h: u64) -> usize {
    // The top bits: the table inside a shard uses the low ones.
    (h >> 56) as usize % SHARDS
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
