//! A whole dataset in memory: the records of every type at their ordinals.
//!
//! [`DataState`] is the writer's input and the reference model the tests compare against;
//! [`StateBuilder`] fills one by deduplicating records and handing out ordinals in order. The
//! hot read path never materialises a `DataState`: it reads pages in place.

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::ids::{Ordinal, TypeId};
use crate::read::{RecordSource, VersionSource};
use crate::record::{Record, Value};
use crate::schema::{FieldKind, Schema, TypeKind};

/// The records of every type of a schema, by ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataState {
    schema: Arc<Schema>,
    types: Vec<Slots>,
}

/// One type's records, by ordinal: a dense vector (ordinals are dense by design), records
/// behind `Arc`s so that a clone of a state (the producer's next version) shares every record
/// with the original and costs one pointer per slot.
#[derive(Debug, Clone, Default)]
struct Slots {
    records: Vec<Option<Arc<Record>>>,
    len: usize,
}

impl Slots {
    fn iter(&self) -> impl Iterator<Item = (Ordinal, &Record)> + '_ {
        self.records
            .iter()
            .enumerate()
            .filter_map(|(o, r)| r.as_deref().map(|r| (Ordinal(o as u32), r)))
    }
}

impl PartialEq for Slots {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Slots {}

impl DataState {
    /// An empty state of `schema`.
    pub fn new(schema: Arc<Schema>) -> Self {
        let types = vec![Slots::default(); schema.type_count()];
        DataState { schema, types }
    }

    /// Every record of `source` copied out, at the same ordinals.
    pub fn of<S: VersionSource + ?Sized>(source: &S) -> Result<DataState> {
        let schema = Arc::new(source.schema().clone());
        let mut state = DataState::new(schema);
        for t in 0..state.schema.type_count() {
            let ty = TypeId(t as u32);
            for o in source.populated(ty).iter().map(Ordinal) {
                state.insert(ty, o, source.record(ty, o)?)?;
            }
        }
        Ok(state)
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Puts `record` at `ordinal`, after checking it fits the type; returns the record that
    /// was there. Sets and maps are brought into canonical order.
    pub fn insert(
        &mut self,
        ty: TypeId,
        ordinal: Ordinal,
        mut record: Record,
    ) -> Result<Option<Record>> {
        self.check(ty, &mut record)?;
        Ok(self
            .put(ty, ordinal, Arc::new(record))?
            .map(Arc::unwrap_or_clone))
    }

    fn put(
        &mut self,
        ty: TypeId,
        ordinal: Ordinal,
        record: Arc<Record>,
    ) -> Result<Option<Arc<Record>>> {
        let slots = self
            .types
            .get_mut(ty.index())
            .ok_or_else(|| Error::NoSuchField(format!("no {ty} in the schema")))?;
        let i = ordinal.0 as usize;
        if i >= slots.records.len() {
            slots.records.resize(i + 1, None);
        }
        let old = slots.records[i].replace(record);
        if old.is_none() {
            slots.len += 1;
        }
        Ok(old)
    }

    /// Removes the record at `ordinal`.
    pub fn remove(&mut self, ty: TypeId, ordinal: Ordinal) -> Option<Record> {
        let slots = self.types.get_mut(ty.index())?;
        let old = slots.records.get_mut(ordinal.0 as usize)?.take()?;
        slots.len -= 1;
        while slots.records.last().is_some_and(Option::is_none) {
            slots.records.pop();
        }
        Some(Arc::unwrap_or_clone(old))
    }

    /// The record at `ordinal`.
    pub fn get(&self, ty: TypeId, ordinal: Ordinal) -> Option<&Record> {
        self.types
            .get(ty.index())?
            .records
            .get(ordinal.0 as usize)?
            .as_deref()
    }

    /// The number of records of a type.
    pub fn len(&self, ty: TypeId) -> usize {
        self.types.get(ty.index()).map_or(0, |s| s.len)
    }

    /// True when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(|s| s.len == 0)
    }

    /// The size of a type's ordinal space: its highest populated ordinal plus one.
    pub fn slot_count(&self, ty: TypeId) -> u32 {
        // `remove` trims trailing empty slots, so the last slot is populated.
        self.types
            .get(ty.index())
            .map_or(0, |s| s.records.len() as u32)
    }

    /// The records of a type in ordinal order.
    pub fn records(&self, ty: TypeId) -> impl Iterator<Item = (Ordinal, &Record)> + '_ {
        self.types.get(ty.index()).into_iter().flat_map(Slots::iter)
    }

    /// This state read in `schema`, a compatible change of its own (see
    /// [`Projected`](crate::Projected)): records keep their ordinals, fields `schema` adds
    /// are null, fields and types it lacks are gone.
    pub fn projected(&self, schema: Arc<Schema>) -> Result<DataState> {
        let view = crate::Projected::new(self, &schema)?;
        let mut next = DataState::new(schema.clone());
        for t in 0..schema.type_count() {
            let ty = TypeId(t as u32);
            for o in view.populated(ty).iter().map(Ordinal) {
                next.insert(ty, o, view.record(ty, o)?)?;
            }
        }
        Ok(next)
    }

    /// The records of a type whose ordinals lie in `range`, in ordinal order.
    pub fn records_in(
        &self,
        ty: TypeId,
        range: std::ops::Range<Ordinal>,
    ) -> impl Iterator<Item = (Ordinal, &Record)> + '_ {
        self.types.get(ty.index()).into_iter().flat_map(move |s| {
            let end = (range.end.0 as usize).min(s.records.len());
            let start = (range.start.0 as usize).min(end);
            s.records[start..end]
                .iter()
                .enumerate()
                .filter_map(move |(i, r)| r.as_deref().map(|r| (Ordinal((start + i) as u32), r)))
        })
    }

    /// The populated ordinals of a type.
    pub fn populated(&self, ty: TypeId) -> RoaringBitmap {
        self.records(ty).map(|(o, _)| o.0).collect()
    }

    /// Checks that every reference points at a populated record of its target type.
    pub fn check_references(&self) -> Result<()> {
        for (t, def) in self.schema.types().iter().enumerate() {
            for (ordinal, record) in self.records(TypeId(t as u32)) {
                for (target, referenced) in self.references(def, record) {
                    if self.get(target, referenced).is_none() {
                        return Err(Error::invalid_record(
                            &def.name,
                            format!("record {ordinal} refers to missing {referenced} of {target}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn references(&self, def: &crate::TypeDef, record: &Record) -> Vec<(TypeId, Ordinal)> {
        let id = |name: &str| self.schema.type_id(name).unwrap_or_default();
        match (&def.kind, record) {
            (TypeKind::Object { fields, .. }, Record::Object(values)) => fields
                .iter()
                .zip(values)
                .filter_map(|(f, v)| match (&f.kind, v) {
                    (FieldKind::Reference(t), Value::Ref(o)) => Some((id(t), *o)),
                    _ => None,
                })
                .collect(),
            (TypeKind::List { element }, Record::List(e))
            | (TypeKind::Set { element }, Record::Set(e)) => {
                e.iter().map(|o| (id(element), *o)).collect()
            }
            (TypeKind::Map { key, value }, Record::Map(e)) => e
                .iter()
                .flat_map(|(k, v)| [(id(key), *k), (id(value), *v)])
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Checks that `record` fits type `ty` and brings sets and maps into canonical order:
    /// [`Schema::check_record`].
    pub fn check(&self, ty: TypeId, record: &mut Record) -> Result<()> {
        self.schema.check_record(ty, record)
    }
}

impl Schema {
    /// Checks that `record` fits type `ty` (one value of the right kind per field; no map key
    /// twice) and brings sets and maps into canonical order, as [`DataState::insert`] does.
    pub fn check_record(&self, ty: TypeId, record: &mut Record) -> Result<()> {
        let def = self
            .type_def(ty)
            .ok_or_else(|| Error::NoSuchField(format!("no {ty} in the schema")))?;
        match (&def.kind, &*record) {
            (TypeKind::Object { fields, .. }, Record::Object(values)) => {
                if fields.len() != values.len() {
                    return Err(Error::invalid_record(
                        &def.name,
                        format!("{} values for {} fields", values.len(), fields.len()),
                    ));
                }
                for (f, v) in fields.iter().zip(values) {
                    if !value_fits(&f.kind, v) {
                        return Err(Error::invalid_record(
                            &def.name,
                            format!("field `{}` is {} but holds {v:?}", f.name, f.kind),
                        ));
                    }
                }
                Ok(())
            }
            (TypeKind::List { .. }, Record::List(_)) => Ok(()),
            (TypeKind::Set { .. }, Record::Set(_)) | (TypeKind::Map { .. }, Record::Map(_)) => {
                if record.canonicalize() {
                    Ok(())
                } else {
                    Err(Error::invalid_record(
                        &def.name,
                        "a map holds one key twice",
                    ))
                }
            }
            (kind, _) => Err(Error::invalid_record(
                &def.name,
                format!(
                    "a {} type cannot hold {record:?}",
                    crate::schema::kind_label(kind)
                ),
            )),
        }
    }
}

fn value_fits(kind: &FieldKind, value: &Value) -> bool {
    matches!(
        (kind, value),
        (_, Value::Null)
            | (FieldKind::Bool, Value::Bool(_))
            | (FieldKind::I32, Value::I32(_))
            | (FieldKind::I64, Value::I64(_))
            | (FieldKind::F32, Value::F32(_))
            | (FieldKind::F64, Value::F64(_))
            | (FieldKind::String, Value::String(_))
            | (FieldKind::Bytes, Value::Bytes(_))
            | (FieldKind::Reference(_), Value::Ref(_))
    )
}

/// Builds a [`DataState`] by adding records: identical records of a type are stored once and
/// share an ordinal; new records get the next ordinal of their type.
#[derive(Debug)]
pub struct StateBuilder {
    state: DataState,
    dedup: Vec<HashMap<Record, Ordinal>>,
}

impl StateBuilder {
    /// An empty builder for `schema`.
    pub fn new(schema: Arc<Schema>) -> Self {
        let dedup = vec![HashMap::new(); schema.type_count()];
        StateBuilder {
            state: DataState::new(schema),
            dedup,
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        self.state.schema()
    }

    /// Adds a record of `ty` and returns its ordinal: the existing one if an identical record
    /// was added before.
    pub fn add(&mut self, ty: TypeId, mut record: Record) -> Result<Ordinal> {
        self.state.check(ty, &mut record)?;
        let dedup = &mut self.dedup[ty.index()];
        if let Some(&ordinal) = dedup.get(&record) {
            return Ok(ordinal);
        }
        let ordinal = Ordinal(u32::try_from(dedup.len()).map_err(|_| {
            Error::invalid_record(
                &self.state.schema.types()[ty.index()].name,
                "more than 2^32 records",
            )
        })?);
        dedup.insert(record.clone(), ordinal);
        self.state.put(ty, ordinal, Arc::new(record))?;
        Ok(ordinal)
    }

    /// Adds a record of the type named `type_name`.
    pub fn add_named(&mut self, type_name: &str, record: Record) -> Result<Ordinal> {
        let ty = self
            .schema()
            .type_id(type_name)
            .ok_or_else(|| Error::NoSuchField(format!("no type `{type_name}` in the schema")))?;
        self.add(ty, record)
    }

    /// The state built so far.
    pub fn state(&self) -> &DataState {
        &self.state
    }

    /// Finishes and returns the state.
    pub fn finish(self) -> DataState {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TypeDef;

    fn schema() -> Arc<Schema> {
        Arc::new(
            Schema::new(vec![
                TypeDef::object("Tag").field("name", FieldKind::String),
                TypeDef::list("Tags", "Tag"),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn identical_records_share_an_ordinal() {
        let mut b = StateBuilder::new(schema());
        let a = b
            .add_named("Tag", Record::Object(vec![Value::String("x".into())]))
            .unwrap();
        let c = b
            .add_named("Tag", Record::Object(vec![Value::String("y".into())]))
            .unwrap();
        let a2 = b
            .add_named("Tag", Record::Object(vec![Value::String("x".into())]))
            .unwrap();
        assert_eq!((a, c, a2), (Ordinal(0), Ordinal(1), Ordinal(0)));
        assert_eq!(b.state().len(TypeId(0)), 2);
    }

    #[test]
    fn wrong_value_kind_is_rejected() {
        let mut b = StateBuilder::new(schema());
        let err = b
            .add_named("Tag", Record::Object(vec![Value::I32(3)]))
            .unwrap_err();
        assert!(err.to_string().contains("field `name` is string"), "{err}");
    }

    #[test]
    fn dangling_reference_is_found() {
        let mut b = StateBuilder::new(schema());
        b.add_named("Tags", Record::List(vec![Ordinal(7)])).unwrap();
        let err = b.finish().check_references().unwrap_err();
        assert!(err.to_string().contains("missing #7"), "{err}");
    }
}
