//! Indexes over the producer's current state that hold only ordinals: the bytes of the
//! records stay in the state, and a lookup compares against them. So the identity index
//! (record -> ordinal, what "this record did not change" means) and the primary-key index
//! cost about 5 bytes per record instead of a second copy of the dataset.

use std::hash::{BuildHasher, Hash, Hasher as _};

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

    /// Makes room for `additional` records (hashes of existing entries read from `state`).
    pub(crate) fn reserve(&mut self, state: &DataState, ty: TypeId, additional: usize) {
        let hasher = &self.hasher;
        self.tables[ty.index()].reserve(additional, |&o| {
            hasher.hash_one(state.get(ty, o).expect("indexed records are in the state"))
        });
    }

    /// Adds `ordinal` (whose record in `state` hashes to `hash`).
    pub(crate) fn insert(&mut self, state: &DataState, ty: TypeId, ordinal: Ordinal, hash: u64) {
        let hasher = &self.hasher;
        self.tables[ty.index()].insert_unique(hash, ordinal, |&o| {
            hasher.hash_one(state.get(ty, o).expect("indexed records are in the state"))
        });
    }

    /// Applies a cycle: forgets `removed` (records read from `before`), indexes `added`
    /// with their known hashes (records in `after`).
    pub(crate) fn update(
        &mut self,
        before: &DataState,
        after: &DataState,
        removed: &[Vec<Ordinal>],
        added: &[Vec<Ordinal>],
        hashes: &[Vec<u64>],
    ) {
        for (t, gone) in removed.iter().enumerate() {
            let ty = TypeId(t as u32);
            for &o in gone {
                let record = before.get(ty, o).expect("removed from the previous state");
                self.remove(ty, o, record);
            }
        }
        for (t, (new, hashes)) in added.iter().zip(hashes).enumerate() {
            let ty = TypeId(t as u32);
            self.reserve(after, ty, new.len());
            for (&o, &h) in new.iter().zip(hashes) {
                self.insert(after, ty, o, h);
            }
        }
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

/// Calls `f` with each key value of a record, following references through `get`; false
/// when a reference on the way is missing.
fn visit_key<'a>(
    get: &impl Fn(TypeId, Ordinal) -> Option<&'a Record>,
    ty: TypeId,
    ordinal: Ordinal,
    paths: &[KeyPath],
    mut f: impl FnMut(&'a Value),
) -> bool {
    for steps in paths {
        let mut at = (ty, ordinal);
        for (i, &(_, field)) in steps.iter().enumerate() {
            let Some(Record::Object(values)) = get(at.0, at.1) else {
                return false;
            };
            let Some(v) = values.get(field.index()) else {
                return false;
            };
            if i + 1 == steps.len() {
                f(v);
            } else if let Value::Ref(next) = v {
                // The next step names the type the reference points at.
                at = (steps[i + 1].0, *next);
            } else {
                return false;
            }
        }
    }
    true
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
    visit_key(get, ty, ordinal, paths, |v| key.push(v.clone())).then_some(key)
}

/// Primary key -> ordinal for every keyed type of one state. Only ordinals are stored; keys
/// are hashed and compared by reading them from the state (no key is ever copied).
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
    /// Indexes the keys of `state`; reports the first pair of records sharing a key.
    pub(crate) fn build(state: &DataState, hasher: Hasher) -> (Self, Option<Duplicate>) {
        let paths = key_paths(state.schema());
        let mut index = KeyIndex {
            tables: (0..paths.len()).map(|_| HashTable::new()).collect(),
            paths,
            hasher,
        };
        let mut duplicate = None;
        for t in 0..index.paths.len() {
            let ty = TypeId(t as u32);
            if index.paths[t].is_some() {
                index.reserve(state, ty, state.len(ty));
                for (o, _) in state.records(ty) {
                    if let Some(d) = index.insert(state, ty, o) {
                        duplicate.get_or_insert(d);
                    }
                }
            }
        }
        (index, duplicate)
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
        self.hasher.hash_one(key)
    }

    /// The hash of a record's key (equal to [`Self::hash_values`] of its values).
    fn hash_of<'a>(
        &self,
        get: &impl Fn(TypeId, Ordinal) -> Option<&'a Record>,
        ty: TypeId,
        o: Ordinal,
    ) -> Option<u64> {
        hash_key(&self.hasher, self.paths(ty)?, get, ty, o)
    }

    fn reserve(&mut self, state: &DataState, ty: TypeId, additional: usize) {
        let KeyIndex {
            paths,
            tables,
            hasher,
        } = self;
        let Some(paths) = paths[ty.index()].as_deref() else {
            return;
        };
        tables[ty.index()].reserve(additional, |&o| {
            hash_key(hasher, paths, &|t, o| state.get(t, o), ty, o).unwrap_or(0)
        });
    }

    /// The ordinal holding `key` in `state`.
    pub(crate) fn find(&self, state: &DataState, ty: TypeId, key: &[Value]) -> Option<Ordinal> {
        let paths = self.paths(ty)?;
        self.tables[ty.index()]
            .find(self.hash_values(key), |&o| {
                let mut i = 0;
                let mut same = true;
                let whole = visit_key(&|t, o| state.get(t, o), ty, o, paths, |v| {
                    same &= key.get(i) == Some(v);
                    i += 1;
                });
                whole && same && i == key.len()
            })
            .copied()
    }

    /// The ordinal of `state` holding the key that record `o` has in `get`'s view.
    pub(crate) fn find_like<'a>(
        &self,
        state: &DataState,
        get: &impl Fn(TypeId, Ordinal) -> Option<&'a Record>,
        ty: TypeId,
        o: Ordinal,
    ) -> Option<Ordinal> {
        let key = key_with(get, ty, o, self.paths(ty)?)?;
        self.find(state, ty, &key)
    }

    /// Indexes the key of `ordinal` in `state`; if another ordinal already holds the same
    /// key, nothing is inserted and the pair is returned.
    pub(crate) fn insert(
        &mut self,
        state: &DataState,
        ty: TypeId,
        ordinal: Ordinal,
    ) -> Option<Duplicate> {
        let get = |t, o| state.get(t, o);
        let hash = self.hash_of(&get, ty, ordinal)?;
        let paths = self.paths(ty)?;
        let table = &self.tables[ty.index()];
        // Keys are compared only for hash matches: almost always a true duplicate.
        if let Some(&other) = table.find(hash, |&e| {
            e != ordinal && key_with(&get, ty, e, paths) == key_with(&get, ty, ordinal, paths)
        }) {
            return Some(Duplicate {
                ty,
                first: other,
                second: ordinal,
            });
        }
        let KeyIndex {
            paths,
            tables,
            hasher,
        } = self;
        let paths = paths[ty.index()].as_deref()?;
        tables[ty.index()].insert_unique(hash, ordinal, |&o| {
            hash_key(hasher, paths, &get, ty, o).unwrap_or(0)
        });
        None
    }

    /// Forgets `ordinal`, whose key is read from `state`.
    pub(crate) fn remove(&mut self, state: &DataState, ty: TypeId, ordinal: Ordinal) {
        let Some(hash) = self.hash_of(&|t, o| state.get(t, o), ty, ordinal) else {
            return;
        };
        if let Ok(entry) = self.tables[ty.index()].find_entry(hash, |&o| o == ordinal) {
            entry.remove();
        }
    }

    /// Applies a cycle: forgets `removed` (keys read from `before`), indexes `added` (keys
    /// read from `after`). Returns the first duplicate key found.
    pub(crate) fn update(
        &mut self,
        before: &DataState,
        after: &DataState,
        removed: &[Vec<Ordinal>],
        added: &[Vec<Ordinal>],
    ) -> Option<Duplicate> {
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
            for &o in &added[t] {
                if let Some(d) = self.insert(after, ty, o) {
                    duplicate.get_or_insert(d);
                }
            }
        }
        duplicate
    }
}

/// The hash of a record's key, streamed from the record (equal to hashing the key's values
/// as a slice).
fn hash_key<'a>(
    hasher: &Hasher,
    paths: &[KeyPath],
    get: &impl Fn(TypeId, Ordinal) -> Option<&'a Record>,
    ty: TypeId,
    o: Ordinal,
) -> Option<u64> {
    let mut h = hasher.build_hasher();
    h.write_usize(paths.len());
    visit_key(get, ty, o, paths, |v| v.hash(&mut h)).then(|| h.finish())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shoal_format::{FieldKind, Schema, TypeDef};

    use super::*;

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
            index.hash_of(&|t, o| state.get(t, o), TypeId(0), Ordinal(3)),
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
}
