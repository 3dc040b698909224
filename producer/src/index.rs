//! Indexes over the producer's current state that hold only ordinals: the bytes of the
//! records stay in the state, and a lookup compares against them. So the identity index
//! (record -> ordinal, what "this record did not change" means) and the primary-key index
//! cost about 5 bytes per record instead of a second copy of the dataset.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use shoal_format::{DataState, FieldId, Ordinal, Record, Schema, TypeId, Value};

/// The hasher shared by every index of a producer.
pub(crate) type Hasher = DefaultHashBuilder;

/// Record content -> ordinal, per type, for the records of one state.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordIndex {
    tables: Vec<HashTable<Ordinal>>,
    hasher: Hasher,
}

impl RecordIndex {
    /// Indexes every record of `state`.
    pub(crate) fn build(state: &DataState, hasher: Hasher) -> Self {
        let types = state.schema().type_count();
        let mut index = RecordIndex {
            tables: (0..types).map(|_| HashTable::new()).collect(),
            hasher,
        };
        for t in 0..types {
            let ty = TypeId(t as u32);
            index.tables[t].reserve(state.len(ty), |_| 0);
            for (o, r) in state.records(ty) {
                let h = index.hash(r);
                index.insert(state, ty, o, h);
            }
        }
        index
    }

    pub(crate) fn hash(&self, record: &Record) -> u64 {
        self.hasher.hash_one(record)
    }

    /// The ordinal of a record identical to `record` in `state`.
    pub(crate) fn find(
        &self,
        state: &DataState,
        ty: TypeId,
        record: &Record,
        hash: u64,
    ) -> Option<Ordinal> {
        self.tables[ty.index()]
            .find(hash, |&o| state.get(ty, o) == Some(record))
            .copied()
    }

    /// Adds `ordinal` (whose record in `state` hashes to `hash`).
    pub(crate) fn insert(&mut self, state: &DataState, ty: TypeId, ordinal: Ordinal, hash: u64) {
        let hasher = &self.hasher;
        self.tables[ty.index()].insert_unique(hash, ordinal, |&o| {
            hasher.hash_one(state.get(ty, o).expect("indexed records are in the state"))
        });
    }

    /// Forgets `ordinal`, whose record was `record`.
    pub(crate) fn remove(&mut self, ty: TypeId, ordinal: Ordinal, record: &Record) {
        let hash = self.hash(record);
        if let Ok(entry) = self.tables[ty.index()].find_entry(hash, |&o| o == ordinal) {
            entry.remove();
        }
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

/// The key of a record, following references through `get`; `None` when a reference on
/// the way is missing. Values follow the schema's key order.
pub(crate) fn key_with<'a>(
    get: &impl Fn(TypeId, Ordinal) -> Option<&'a Record>,
    ty: TypeId,
    ordinal: Ordinal,
    paths: &[KeyPath],
) -> Option<Vec<Value>> {
    let mut key = Vec::with_capacity(paths.len());
    for steps in paths {
        let mut at = (ty, ordinal);
        let mut value = None;
        for (i, &(t, f)) in steps.iter().enumerate() {
            debug_assert_eq!(t, at.0);
            let Record::Object(values) = get(at.0, at.1)? else {
                return None;
            };
            let v = values.get(f.index())?;
            if i + 1 == steps.len() {
                value = Some(v.clone());
            } else if let Value::Ref(next) = v {
                // The next step names the type the reference points at.
                at = (steps[i + 1].0, *next);
            } else {
                return None;
            }
        }
        key.push(value?);
    }
    Some(key)
}

/// The key of a record of `state`.
pub(crate) fn key_in(
    state: &DataState,
    ty: TypeId,
    ordinal: Ordinal,
    paths: &[KeyPath],
) -> Option<Vec<Value>> {
    key_with(&|t, o| state.get(t, o), ty, ordinal, paths)
}

/// Primary key -> ordinal for every keyed type of one state.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyIndex {
    paths: Vec<Option<Vec<KeyPath>>>,
    tables: Vec<HashTable<Ordinal>>,
    hasher: Hasher,
}

impl KeyIndex {
    /// Indexes the keys of `state`. Where two records share a key, the first stays indexed
    /// (the duplicate-key validator reports the pair).
    pub(crate) fn build(state: &DataState, hasher: Hasher) -> Self {
        let schema = state.schema();
        let paths = key_paths(schema);
        let mut index = KeyIndex {
            tables: (0..paths.len()).map(|_| HashTable::new()).collect(),
            paths,
            hasher,
        };
        for t in 0..index.paths.len() {
            let ty = TypeId(t as u32);
            if index.paths[t].is_none() {
                continue;
            }
            for (o, _) in state.records(ty) {
                index.insert(state, ty, o);
            }
        }
        index
    }

    /// The key paths of `ty`, if it has a primary key.
    pub(crate) fn paths(&self, ty: TypeId) -> Option<&[KeyPath]> {
        self.paths.get(ty.index())?.as_deref()
    }

    pub(crate) fn hash_key(&self, key: &[Value]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The ordinal holding `key` in `state`.
    pub(crate) fn find(&self, state: &DataState, ty: TypeId, key: &[Value]) -> Option<Ordinal> {
        let paths = self.paths(ty)?;
        self.tables[ty.index()]
            .find(self.hash_key(key), |&o| {
                key_in(state, ty, o, paths).as_deref() == Some(key)
            })
            .copied()
    }

    /// Indexes the key of `ordinal` in `state`; returns the ordinal that already holds the
    /// same key, if any (then nothing is inserted).
    pub(crate) fn insert(
        &mut self,
        state: &DataState,
        ty: TypeId,
        ordinal: Ordinal,
    ) -> Option<Ordinal> {
        let paths = self.paths(ty)?.to_vec();
        let key = key_in(state, ty, ordinal, &paths)?;
        if let Some(existing) = self.find(state, ty, &key) {
            return (existing != ordinal).then_some(existing);
        }
        let hash = self.hash_key(&key);
        let hasher = &self.hasher;
        self.tables[ty.index()].insert_unique(hash, ordinal, |&o| {
            hasher.hash_one(key_in(state, ty, o, &paths).unwrap_or_default())
        });
        None
    }

    /// Forgets `ordinal`, whose key in `state` is looked up there.
    pub(crate) fn remove(&mut self, state: &DataState, ty: TypeId, ordinal: Ordinal) {
        let Some(paths) = self.paths(ty) else { return };
        let Some(key) = key_in(state, ty, ordinal, paths) else {
            return;
        };
        let hash = self.hash_key(&key);
        if let Ok(entry) = self.tables[ty.index()].find_entry(hash, |&o| o == ordinal) {
            entry.remove();
        }
    }
}
