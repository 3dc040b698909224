//! The read interface shared by every holder of records: a [`DataState`] in memory, a
//! [`SnapshotView`](crate::SnapshotView) over blob bytes, and (in `shoal-consumer`) a version
//! assembled from the pages of several blobs. The serde [`Deserializer`](crate::de) and the
//! dynamic readers are written once against [`RecordSource`].
//!
//! Values borrow from the source: a string is a `&str` into the blob, never a copy.

use std::borrow::Cow;
use std::ops::Range;

use roaring::RoaringBitmap;

use crate::bitpack;
use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::record::{Record, Value};
use crate::schema::Schema;
use crate::state::DataState;

/// One field value, borrowed from where the record lives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// No value.
    Null,
    /// A bool.
    Bool(bool),
    /// An i32.
    I32(i32),
    /// An i64.
    I64(i64),
    /// An f32.
    F32(f32),
    /// An f64.
    F64(f64),
    /// A string, in place.
    Str(&'a str),
    /// A byte string, in place.
    Bytes(&'a [u8]),
    /// A reference to a record of the field's target type.
    Ref(Ordinal),
}

impl FieldValue<'_> {
    /// An owned copy.
    pub fn to_value(self) -> Value {
        match self {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(v) => Value::Bool(v),
            FieldValue::I32(v) => Value::I32(v),
            FieldValue::I64(v) => Value::I64(v),
            FieldValue::F32(v) => Value::F32(v),
            FieldValue::F64(v) => Value::F64(v),
            FieldValue::Str(v) => Value::String(v.into()),
            FieldValue::Bytes(v) => Value::Bytes(v.into()),
            FieldValue::Ref(v) => Value::Ref(v),
        }
    }
}

impl<'a> From<&'a Value> for FieldValue<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => FieldValue::Null,
            Value::Bool(v) => FieldValue::Bool(*v),
            Value::I32(v) => FieldValue::I32(*v),
            Value::I64(v) => FieldValue::I64(*v),
            Value::F32(v) => FieldValue::F32(*v),
            Value::F64(v) => FieldValue::F64(*v),
            Value::String(v) => FieldValue::Str(v),
            Value::Bytes(v) => FieldValue::Bytes(v),
            Value::Ref(v) => FieldValue::Ref(*v),
        }
    }
}

/// The elements of a list or set record, or the entries of a map record, without copying
/// them out of where they live.
#[derive(Debug, Clone)]
pub enum Elements<'a> {
    /// Elements held in memory.
    Slice(std::slice::Iter<'a, Ordinal>),
    /// Map entries held in memory.
    Pairs(std::slice::Iter<'a, (Ordinal, Ordinal)>),
    /// Elements bit-packed in a page: indexes `next..end` of `packed` at `width` bits, and for
    /// a map the values in `values` at `value_width` bits.
    Packed {
        /// The packed keys (or elements).
        packed: &'a [u8],
        /// Their width in bits.
        width: u32,
        /// The packed values of a map, with their width.
        values: Option<(&'a [u8], u32)>,
        /// The next index to read.
        next: usize,
        /// One past the last index.
        end: usize,
    },
    /// Ordinals as 4 little-endian bytes each, in a packed row ([`Rows`](crate::Rows)): the
    /// elements, or for a map each key followed by its value.
    Words {
        /// The ordinals not yet read.
        words: &'a [u8],
        /// True for a map's entries.
        map: bool,
    },
}

impl Elements<'_> {
    /// The number of elements left.
    pub fn len(&self) -> usize {
        match self {
            Elements::Slice(it) => it.len(),
            Elements::Pairs(it) => it.len(),
            Elements::Packed { next, end, .. } => end - next,
            Elements::Words { words, map } => words.len() / if *map { 8 } else { 4 },
        }
    }

    /// True when no element is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Elements<'_> {
    /// An element ordinal, and for a map the value ordinal beside its key.
    type Item = (Ordinal, Option<Ordinal>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Elements::Slice(it) => it.next().map(|o| (*o, None)),
            Elements::Pairs(it) => it.next().map(|(k, v)| (*k, Some(*v))),
            Elements::Packed {
                packed,
                width,
                values,
                next,
                end,
            } => {
                if next >= end {
                    return None;
                }
                let i = *next;
                *next += 1;
                let key = Ordinal(bitpack::get(packed, *width, i) as u32);
                let value = values.map(|(v, w)| Ordinal(bitpack::get(v, w, i) as u32));
                Some((key, value))
            }
            Elements::Words { words, map } => {
                let word = |w: &[u8]| Ordinal(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
                let (head, rest) = words.split_at_checked(if *map { 8 } else { 4 })?;
                *words = rest;
                Some((word(head), map.then(|| word(&head[4..]))))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

/// Anything that holds the records of a schema and can hand out their fields in place.
pub trait RecordSource {
    /// The schema of the records.
    fn schema(&self) -> &Schema;

    /// True when `ordinal` holds a record of `ty`.
    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool;

    /// The value of one field of an object record. Reading an unpopulated ordinal is an error.
    fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>>;

    /// The elements of a list or set record, or the entries of a map record.
    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>>;

    /// The whole record, copied out: for tests, tools and diffs, not for the hot path.
    fn record(&self, ty: TypeId, ordinal: Ordinal) -> Result<Record> {
        let def = self
            .schema()
            .type_def(ty)
            .ok_or_else(|| Error::NoSuchField(format!("no {ty} in the schema")))?;
        Ok(match &def.kind {
            crate::TypeKind::Object { fields, .. } => {
                let mut values = Vec::with_capacity(fields.len());
                for f in 0..fields.len() {
                    values.push(self.field(ty, FieldId(f as u32), ordinal)?.to_value());
                }
                Record::Object(values)
            }
            crate::TypeKind::List { .. } => {
                Record::List(self.elements(ty, ordinal)?.map(|(o, _)| o).collect())
            }
            crate::TypeKind::Set { .. } => {
                Record::Set(self.elements(ty, ordinal)?.map(|(o, _)| o).collect())
            }
            crate::TypeKind::Map { .. } => Record::Map(
                self.elements(ty, ordinal)?
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect(),
            ),
        })
    }
}

/// A whole version of a dataset: its records, and each type's ordinal space. It is what the
/// writers encode ([`write_snapshot`](crate::write_snapshot), [`write_delta`](crate::write_delta)),
/// whether the records are in memory ([`DataState`]), in a blob
/// ([`SnapshotView`](crate::SnapshotView)) or both ([`Overlay`](crate::Overlay)).
pub trait VersionSource: RecordSource {
    /// One past the highest ordinal `ty` may hold.
    fn slot_count(&self, ty: TypeId) -> u32;

    /// The ordinals holding a record of `ty`.
    fn populated(&self, ty: TypeId) -> Cow<'_, RoaringBitmap>;

    /// The number of records of `ty`.
    fn record_count(&self, ty: TypeId) -> u64 {
        self.populated(ty).len()
    }

    /// Appends the values of field `field` of the ordinals in `range`, in order, `None` for
    /// an ordinal without a record: how a writer reads a page's worth of a column. Holders
    /// that can walk a column faster than one [`field`](RecordSource::field) at a time
    /// override it.
    fn column_values<'s>(
        &'s self,
        ty: TypeId,
        field: FieldId,
        range: Range<u32>,
        out: &mut Vec<Option<FieldValue<'s>>>,
    ) -> Result<()> {
        for o in range.map(Ordinal) {
            out.push(match self.contains(ty, o) {
                true => Some(self.field(ty, field, o)?),
                false => None,
            });
        }
        Ok(())
    }

    /// [`column_values`](Self::column_values) of several fields of object type `ty` at
    /// once, from `first` on: field `first + i`'s values are appended to `out[i]`. A holder
    /// whose records are read field by field from the start (packed rows) overrides it to
    /// read each record once for all of them.
    fn object_values<'s>(
        &'s self,
        ty: TypeId,
        first: FieldId,
        range: Range<u32>,
        out: &mut [Vec<Option<FieldValue<'s>>>],
    ) -> Result<()> {
        for (i, values) in out.iter_mut().enumerate() {
            let field = FieldId(first.0 + i as u32);
            self.column_values(ty, field, range.clone(), values)?;
        }
        Ok(())
    }

    /// [`column_values`](Self::column_values) for the elements of a list, set or map type.
    fn column_elements<'s>(
        &'s self,
        ty: TypeId,
        range: Range<u32>,
        out: &mut Vec<Option<Elements<'s>>>,
    ) -> Result<()> {
        for o in range.map(Ordinal) {
            out.push(match self.contains(ty, o) {
                true => Some(self.elements(ty, o)?),
                false => None,
            });
        }
        Ok(())
    }
}

impl VersionSource for DataState {
    fn slot_count(&self, ty: TypeId) -> u32 {
        DataState::slot_count(self, ty)
    }

    fn populated(&self, ty: TypeId) -> Cow<'_, RoaringBitmap> {
        Cow::Owned(DataState::populated(self, ty))
    }
}

/// The error for reading an ordinal that holds no record.
pub(crate) fn missing(schema: &Schema, ty: TypeId, ordinal: Ordinal) -> Error {
    let name = schema.type_def(ty).map_or("?", |t| t.name.as_str());
    Error::NoSuchField(format!("no record {ordinal} of type `{name}`"))
}

impl RecordSource for DataState {
    fn schema(&self) -> &Schema {
        DataState::schema(self)
    }

    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.get(ty, ordinal).is_some()
    }

    fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>> {
        match self.get(ty, ordinal) {
            Some(r) => field_of(r, ty, field),
            None => Err(missing(self.schema(), ty, ordinal)),
        }
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
        match self.get(ty, ordinal) {
            Some(r) => elements_of(r, ty),
            None => Err(missing(self.schema(), ty, ordinal)),
        }
    }
}

/// One field of an object record held in memory.
pub(crate) fn field_of(record: &Record, ty: TypeId, field: FieldId) -> Result<FieldValue<'_>> {
    match record {
        Record::Object(values) => values
            .get(field.index())
            .map(FieldValue::from)
            .ok_or_else(|| Error::NoSuchField(format!("no {field} in {ty}"))),
        _ => Err(Error::NoSuchField(format!("{ty} is not an object type"))),
    }
}

/// The elements of a list, set or map record held in memory.
pub(crate) fn elements_of(record: &Record, ty: TypeId) -> Result<Elements<'_>> {
    match record {
        Record::List(e) | Record::Set(e) => Ok(Elements::Slice(e.iter())),
        Record::Map(e) => Ok(Elements::Pairs(e.iter())),
        Record::Object(_) => Err(Error::NoSuchField(format!("{ty} is an object type"))),
    }
}
