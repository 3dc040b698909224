//! A version read in a schema other than its own: how a delta that changes the schema
//! compatibly (types or fields added or removed, see [`SchemaDiff`](crate::SchemaDiff))
//! applies to its from version. Types and fields are matched by name. What the version lacks
//! reads as null (a field) or as no records (a type); what the other schema lacks is not
//! read. Ordinals do not move, so references and key indexes stay as they are.
//!
//! The delta writer projects the old version into the new schema before comparing it with
//! the new one ([`write_delta_of`](crate::write_delta_of)), and every reader applies the
//! delta to its version projected the same way (`docs/FORMAT.md`, "Deltas that change the
//! schema").

use std::borrow::Cow;
use std::ops::Range;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::read::{Elements, FieldValue, RecordSource, VersionSource};
use crate::schema::{Schema, TypeKind};

/// Where each type and field of one schema comes from in another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Per type of the target schema: the type of that name in the source schema.
    types: Vec<Option<TypeId>>,
    /// Per type of the target schema, per column: the source's column of that name.
    fields: Vec<Vec<Option<FieldId>>>,
}

impl Projection {
    /// The projection of `from` into `to`; an error naming every change that is not
    /// compatible (a field or type whose kind changed, a primary key changed).
    pub fn new(from: &Schema, to: &Schema) -> Result<Projection> {
        let diff = from.diff(to);
        if !diff.is_compatible() {
            let refused: Vec<String> = diff
                .changes
                .iter()
                .filter(|c| !c.is_compatible())
                .map(ToString::to_string)
                .collect();
            return Err(Error::DeltaMismatch(format!(
                "the schema change cannot be applied in place: {}",
                refused.join("; ")
            )));
        }
        let types = to.types().iter().map(|t| from.type_id(&t.name)).collect();
        let fields = to
            .types()
            .iter()
            .map(|t| {
                let source = from.type_id(&t.name).and_then(|id| from.type_def(id));
                match (&t.kind, source.map(|s| &s.kind)) {
                    (
                        TypeKind::Object { fields, .. },
                        Some(TypeKind::Object { fields: old, .. }),
                    ) => fields
                        .iter()
                        .map(|f| {
                            old.iter()
                                .position(|o| o.name == f.name)
                                .map(|i| FieldId(i as u32))
                        })
                        .collect(),
                    (TypeKind::Object { fields, .. }, None) => vec![None; fields.len()],
                    (_, source) => vec![source.map(|_| FieldId(0))],
                }
            })
            .collect();
        Ok(Projection { types, fields })
    }

    /// The source type of target type `ty`.
    pub fn ty(&self, ty: TypeId) -> Option<TypeId> {
        self.types.get(ty.index()).copied().flatten()
    }

    /// The source column of column `field` of target type `ty`.
    pub fn field(&self, ty: TypeId, field: FieldId) -> Option<FieldId> {
        self.fields
            .get(ty.index())?
            .get(field.index())
            .copied()
            .flatten()
    }
}

/// `source` read in `schema` (see the module docs).
pub struct Projected<'a, S: ?Sized> {
    source: &'a S,
    schema: &'a Schema,
    map: Projection,
}

impl<'a, S: RecordSource + ?Sized> Projected<'a, S> {
    /// `source` in `schema`; an error when the change is not compatible.
    pub fn new(source: &'a S, schema: &'a Schema) -> Result<Self> {
        Ok(Projected {
            map: Projection::new(source.schema(), schema)?,
            source,
            schema,
        })
    }

    fn missing(ty: TypeId, ordinal: Ordinal) -> Error {
        Error::NoSuchField(format!("no record {ordinal} of {ty}"))
    }
}

impl<S: RecordSource + ?Sized> RecordSource for Projected<'_, S> {
    fn schema(&self) -> &Schema {
        self.schema
    }

    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.map
            .ty(ty)
            .is_some_and(|t| self.source.contains(t, ordinal))
    }

    fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>> {
        let t = self.map.ty(ty).ok_or_else(|| Self::missing(ty, ordinal))?;
        match self.map.field(ty, field) {
            Some(f) => self.source.field(t, f, ordinal),
            None if self.source.contains(t, ordinal) => Ok(FieldValue::Null),
            None => Err(Self::missing(ty, ordinal)),
        }
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
        let t = self.map.ty(ty).ok_or_else(|| Self::missing(ty, ordinal))?;
        self.source.elements(t, ordinal)
    }
}

impl<S: VersionSource + ?Sized> VersionSource for Projected<'_, S> {
    fn slot_count(&self, ty: TypeId) -> u32 {
        self.map.ty(ty).map_or(0, |t| self.source.slot_count(t))
    }

    fn populated(&self, ty: TypeId) -> Cow<'_, RoaringBitmap> {
        match self.map.ty(ty) {
            Some(t) => self.source.populated(t),
            None => Cow::Owned(RoaringBitmap::new()),
        }
    }

    fn column_values<'s>(
        &'s self,
        ty: TypeId,
        field: FieldId,
        range: Range<u32>,
        out: &mut Vec<Option<FieldValue<'s>>>,
    ) -> Result<()> {
        let Some(t) = self.map.ty(ty) else {
            out.extend(range.map(|_| None));
            return Ok(());
        };
        match self.map.field(ty, field) {
            Some(f) => self.source.column_values(t, f, range, out),
            None => {
                let null = |o| {
                    self.source
                        .contains(t, Ordinal(o))
                        .then_some(FieldValue::Null)
                };
                out.extend(range.map(null));
                Ok(())
            }
        }
    }

    fn column_elements<'s>(
        &'s self,
        ty: TypeId,
        range: Range<u32>,
        out: &mut Vec<Option<Elements<'s>>>,
    ) -> Result<()> {
        match self.map.ty(ty) {
            Some(t) => self.source.column_elements(t, range, out),
            None => {
                out.extend(range.map(|_| None));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::record::{Record, Value};
    use crate::schema::{FieldKind, TypeDef};
    use crate::state::DataState;

    fn schema(types: Vec<TypeDef>) -> Arc<Schema> {
        Arc::new(Schema::new(types).unwrap())
    }

    #[test]
    fn fields_and_types_are_matched_by_name() {
        let old = schema(vec![
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .primary_key(&["id"]),
        ]);
        let new = schema(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("year", FieldKind::I32)
                .field("studio", FieldKind::String)
                .primary_key(&["id"]),
            TypeDef::object("Studio").field("name", FieldKind::String),
        ]);
        let mut state = DataState::new(old);
        let movie = Record::Object(vec![
            Value::I64(7),
            Value::String("Heat".into()),
            Value::I32(1995),
        ]);
        state.insert(TypeId(1), Ordinal(3), movie).unwrap();
        state
            .insert(TypeId(0), Ordinal(0), Record::Object(vec![Value::Null]))
            .unwrap();
        let moved = state.projected(new).unwrap();
        assert_eq!(
            moved.get(TypeId(0), Ordinal(3)),
            Some(&Record::Object(vec![
                Value::I64(7),
                Value::I32(1995),
                Value::Null
            ]))
        );
        assert_eq!(moved.len(TypeId(0)), 1);
        assert_eq!(moved.len(TypeId(1)), 0);
    }

    #[test]
    fn a_change_of_kind_is_refused_naming_it() {
        let old = schema(vec![TypeDef::object("Movie").field("year", FieldKind::I32)]);
        let new = schema(vec![TypeDef::object("Movie").field("year", FieldKind::I64)]);
        let err = Projection::new(&old, &new).unwrap_err().to_string();
        assert!(
            err.contains("`Movie.year` changed from i32 to i64"),
            "{err}"
        );
    }
}
