//! Deserializing any `T: Deserialize<'de>` from a [`RecordSource`], in place.
//!
//! [`from_source`] hands serde a deserializer over one record; strings and bytes are lent out
//! of the source (`visit_borrowed_str`, `visit_borrowed_bytes`), so a `struct Movie<'a> {
//! title: &'a str }` reads straight from a `DataState` or a memory-mapped blob, and reading it
//! allocates nothing: no keys are collected, no string is copied, nothing is boxed.
//!
//! # Mapping (the mirror of [`ser`](crate::ser))
//!
//! - An object record is a map from its field names (borrowed from the schema) to its values.
//!   Asked for a struct, it yields only the schema fields the struct names, looked up by name:
//!   a struct field the schema lacks is never yielded (so an `Option` field reads `None`), a
//!   schema field the struct lacks is never read. So old and new struct definitions keep
//!   reading the same data. Asked for a map (or anything), it yields every field.
//! - A list or set record is a sequence, a map record a map; every element, key and value is
//!   the record it refers to.
//! - A reference field is the record it refers to; a null field is `None` when an `Option` is
//!   asked for, unit otherwise; any other field is `Some` of itself.
//! - Numbers go to the visitor as what they are (`visit_i32` for an `i32` field), so serde's own
//!   range checks apply: an `i32` field reads as `u16` when the value fits, and fails when not.
//! - A `bytes` field is borrowed bytes, or a sequence of `u8` when a sequence is asked for.
//! - A `string` field asked for as an enum is a unit variant named by the string.
//! - Asked for a primitive (or a sequence, or an enum), a record of an object type with exactly
//!   one field is that field: `Vec<&str>` reads a `List<Tag>` with `Tag { name: string }`.
//!
//! `deserialize_any` (and so `serde_json::Value`, `#[serde(flatten)]` and untagged enums, which
//! buffer through it) sees every record as what it is: a one-field record is a map of one
//! entry there, because nothing asks for a primitive. Types that rely on unwrapping read
//! directly, not through such buffering.
//!
//! Errors are [`Error::Serde`] and carry the path to the problem, such as
//! `Movie.genres: GenreList[2]: Genre.name: invalid type: integer `3`, expected a string`.
//! References nest at most 128 deep, so a reference cycle in hostile data ends in an error.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::read::{Elements, FieldValue, RecordSource};
use crate::schema::{ColumnKind, FieldDef, FixedKind, TypeDef, TypeKind, VarKind};

/// How deep references may nest below the record passed to [`from_source`].
const MAX_DEPTH: u32 = 128;

/// Deserializes the record at `ordinal` of type `ty` (and every record it refers to) as a `T`,
/// borrowing strings and bytes from `source`.
///
/// ```
/// use std::sync::Arc;
/// use shoal_format::{de, ser, FieldKind, Schema, StateBuilder, TypeDef};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Movie<'a> {
///     title: &'a str,
///     year: Option<u16>,
/// }
///
/// let schema = Schema::new(vec![TypeDef::object("Movie")
///     .field("title", FieldKind::String)
///     .field("year", FieldKind::I32)])?;
/// let mut builder = StateBuilder::new(Arc::new(schema));
/// let ordinal = ser::add(&mut builder, "Movie", &Movie { title: "Alien", year: Some(1979) })?;
/// let state = builder.finish();
/// let ty = state.schema().type_id("Movie").unwrap();
/// let movie: Movie<'_> = de::from_source(&state, ty, ordinal)?;
/// assert_eq!(movie, Movie { title: "Alien", year: Some(1979) });
/// # Ok::<(), shoal_format::Error>(())
/// ```
pub fn from_source<'de, T, S>(source: &'de S, ty: TypeId, ordinal: Ordinal) -> Result<T>
where
    T: Deserialize<'de>,
    S: RecordSource + ?Sized,
{
    T::deserialize(RecordDeserializer {
        source,
        ty,
        ordinal,
        depth: 0,
    })
}

/// [`from_source`] for the type named `type_name`.
pub fn from_source_named<'de, T, S>(source: &'de S, type_name: &str, ordinal: Ordinal) -> Result<T>
where
    T: Deserialize<'de>,
    S: RecordSource + ?Sized,
{
    let ty = source
        .schema()
        .type_id(type_name)
        .ok_or_else(|| Error::Serde(format!("no type `{type_name}` in the schema")))?;
    from_source(source, ty, ordinal)
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Serde(msg.to_string())
    }
}

/// Puts `place` in front of an error's message: `Movie.year: invalid type ...`.
fn within(err: Error, place: fmt::Arguments<'_>) -> Error {
    match err {
        Error::Serde(msg) => Error::Serde(format!("{place}: {msg}")),
        other => Error::Serde(format!("{place}: {other}")),
    }
}

/// Deserializes one record.
struct RecordDeserializer<'de, S: ?Sized> {
    source: &'de S,
    ty: TypeId,
    ordinal: Ordinal,
    depth: u32,
}

impl<S: ?Sized> Clone for RecordDeserializer<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for RecordDeserializer<'_, S> {}

impl<'de, S: RecordSource + ?Sized> RecordDeserializer<'de, S> {
    fn def(&self) -> Result<&'de TypeDef> {
        let source: &'de S = self.source;
        source
            .schema()
            .type_def(self.ty)
            .ok_or_else(|| Error::Serde(format!("no {} in the schema", self.ty)))
    }

    /// The record a reference, element, key or value refers to.
    fn nested(&self, ty: TypeId, ordinal: Ordinal) -> Result<Self> {
        if self.depth >= MAX_DEPTH {
            let name = self.def().map_or("?", |d| d.name.as_str());
            return Err(Error::Serde(format!(
                "records nest deeper than {MAX_DEPTH} below type `{name}` (a reference cycle?)"
            )));
        }
        Ok(RecordDeserializer {
            source: self.source,
            ty,
            ordinal,
            depth: self.depth + 1,
        })
    }

    /// The fields of the object record, after checking it exists (a struct that names no
    /// field would otherwise read a missing record without noticing).
    fn object(&self, def: &'de TypeDef) -> Result<Option<&'de [FieldDef]>> {
        let TypeKind::Object { fields, .. } = &def.kind else {
            return Ok(None);
        };
        if !self.source.contains(self.ty, self.ordinal) {
            return Err(Error::Serde(format!(
                "no record {} of type `{}`",
                self.ordinal, def.name
            )));
        }
        Ok(Some(fields))
    }

    fn field(&self, def: &'de TypeDef, field: FieldId) -> Result<FieldDeserializer<'de, S>> {
        let source: &'de S = self.source;
        let value = source.field(self.ty, field, self.ordinal)?;
        let column = source.schema().columns(self.ty).get(field.index()).copied();
        Ok(FieldDeserializer {
            record: *self,
            def,
            field,
            column,
            value,
        })
    }

    /// The one field of a one-field object record, which stands for the record when a
    /// primitive is asked for.
    fn single_field(&self) -> Result<Option<FieldDeserializer<'de, S>>> {
        let def = self.def()?;
        match &def.kind {
            TypeKind::Object { fields, .. } if fields.len() == 1 => {
                self.field(def, FieldId(0)).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn visit_object<V: Visitor<'de>>(
        self,
        def: &'de TypeDef,
        fields: &'de [FieldDef],
        requested: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_map(ObjectAccess {
            record: self,
            def,
            fields,
            requested,
            next: 0,
            current: None,
        })
    }

    fn visit_elements<V: Visitor<'de>>(self, def: &'de TypeDef, visitor: V) -> Result<V::Value> {
        let source: &'de S = self.source;
        let column = source.schema().columns(self.ty).first().copied();
        let elements = source.elements(self.ty, self.ordinal)?;
        match column {
            Some(ColumnKind::Var(VarKind::Ordinals(element))) => visitor.visit_seq(ElementAccess {
                record: self,
                def,
                element,
                elements,
                index: 0,
            }),
            Some(ColumnKind::Var(VarKind::Pairs(key, value))) => visitor.visit_map(EntryAccess {
                record: self,
                def,
                key,
                value,
                elements,
                index: 0,
                pending: None,
            }),
            _ => Err(Error::Serde(format!(
                "type `{}` has no element column",
                def.name
            ))),
        }
    }

    /// A sequence: the elements of a list or set, or the one field of a one-field object.
    fn sequence<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let def = self.def()?;
        if let TypeKind::List { .. } | TypeKind::Set { .. } = def.kind {
            return self.visit_elements(def, visitor);
        }
        match self.single_field()? {
            Some(field) => field.in_context(|f| f.deserialize_seq(visitor)),
            None => self.deserialize_any(visitor),
        }
    }
}

/// Implements `Deserializer` methods that ask for a primitive: a one-field object record
/// stands for its field, any other record goes to the visitor as what it is (which the
/// visitor will most likely refuse with a clear "invalid type" error).
macro_rules! unwrap_single_field {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.single_field()? {
                Some(field) => field.in_context(|f| f.$method(visitor)),
                None => self.deserialize_any(visitor),
            }
        })*
    };
}

impl<'de, S: RecordSource + ?Sized> Deserializer<'de> for RecordDeserializer<'de, S> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let def = self.def()?;
        match self.object(def)? {
            Some(fields) => self.visit_object(def, fields, None, visitor),
            None => self.visit_elements(def, visitor),
        }
    }

    unwrap_single_field!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        let def = self.def()?;
        match self.object(def)? {
            Some(_) => visitor.visit_unit(),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.sequence(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.sequence(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.sequence(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let def = self.def()?;
        match self.object(def)? {
            Some(schema_fields) => self.visit_object(def, schema_fields, Some(fields), visitor),
            None => self.visit_elements(def, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.single_field()? {
            Some(field) => field.in_context(|f| f.deserialize_enum(name, variants, visitor)),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

/// Deserializes one field of an object record.
struct FieldDeserializer<'de, S: ?Sized> {
    record: RecordDeserializer<'de, S>,
    def: &'de TypeDef,
    field: FieldId,
    column: Option<ColumnKind>,
    value: FieldValue<'de>,
}

impl<'de, S: RecordSource + ?Sized> FieldDeserializer<'de, S> {
    fn name(&self) -> &'de str {
        let def: &'de TypeDef = self.def;
        def.fields()
            .get(self.field.index())
            .map_or("?", |f| f.name.as_str())
    }

    /// Runs `read` on this field; an error names the type and the field.
    fn in_context<T>(self, read: impl FnOnce(Self) -> Result<T>) -> Result<T> {
        let (ty, field) = (self.def.name.as_str(), self.name());
        read(self).map_err(|e| within(e, format_args!("{ty}.{field}")))
    }

    /// The record a reference field refers to.
    fn target(&self, ordinal: Ordinal) -> Result<RecordDeserializer<'de, S>> {
        match self.column {
            Some(ColumnKind::Fixed(FixedKind::Ref(target))) => self.record.nested(target, ordinal),
            _ => Err(Error::Serde(format!(
                "holds reference {ordinal} but is not a reference field"
            ))),
        }
    }

    fn visit_value<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            FieldValue::Null => visitor.visit_unit(),
            FieldValue::Bool(v) => visitor.visit_bool(v),
            FieldValue::I32(v) => visitor.visit_i32(v),
            FieldValue::I64(v) => visitor.visit_i64(v),
            FieldValue::F32(v) => visitor.visit_f32(v),
            FieldValue::F64(v) => visitor.visit_f64(v),
            FieldValue::Str(v) => visitor.visit_borrowed_str(v),
            FieldValue::Bytes(v) => visitor.visit_borrowed_bytes(v),
            FieldValue::Ref(o) => self.target(o)?.deserialize_any(visitor),
        }
    }
}

/// Implements `Deserializer` methods of a field: a reference field hands the request on to
/// the record it refers to, any other field goes to the visitor as what it is.
macro_rules! follow_reference {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.value {
                FieldValue::Ref(o) => self.target(o)?.$method(visitor),
                _ => self.visit_value(visitor),
            }
        })*
    };
}

impl<'de, S: RecordSource + ?Sized> Deserializer<'de> for FieldDeserializer<'de, S> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.visit_value(visitor)
    }

    follow_reference!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_map,
        deserialize_identifier,
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            FieldValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        match self.value {
            FieldValue::Ref(o) => self.target(o)?.deserialize_unit_struct(name, visitor),
            _ => self.visit_value(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            FieldValue::Ref(o) => self.target(o)?.deserialize_seq(visitor),
            FieldValue::Bytes(bytes) => visitor.visit_seq(ByteAccess(bytes.iter())),
            _ => self.visit_value(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.value {
            FieldValue::Ref(o) => self.target(o)?.deserialize_struct(name, fields, visitor),
            _ => self.visit_value(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.value {
            FieldValue::Ref(o) => self.target(o)?.deserialize_enum(name, variants, visitor),
            FieldValue::Str(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            _ => self.visit_value(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

/// The fields of an object record as a map: all of them, or the `requested` ones that the
/// schema has, in the order requested.
struct ObjectAccess<'de, S: ?Sized> {
    record: RecordDeserializer<'de, S>,
    def: &'de TypeDef,
    fields: &'de [FieldDef],
    requested: Option<&'static [&'static str]>,
    next: usize,
    current: Option<FieldId>,
}

impl<S: ?Sized> ObjectAccess<'_, S> {
    /// The next field to yield, if any.
    fn advance(&mut self) -> Option<usize> {
        let Some(names) = self.requested else {
            let index = self.next;
            self.next += 1;
            return (index < self.fields.len()).then_some(index);
        };
        while let Some(name) = names.get(self.next) {
            let guess = self.next;
            self.next += 1;
            if let Some(index) = find_field(self.fields, name, guess) {
                return Some(index);
            }
        }
        None
    }
}

/// The position of the field called `name`, trying `guess` first: a struct that lists its
/// fields in schema order finds each in one comparison.
fn find_field(fields: &[FieldDef], name: &str, guess: usize) -> Option<usize> {
    if fields.get(guess).is_some_and(|f| f.name == name) {
        return Some(guess);
    }
    fields.iter().position(|f| f.name == name)
}

impl<'de, S: RecordSource + ?Sized> MapAccess<'de> for ObjectAccess<'de, S> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(index) = self.advance() else {
            return Ok(None);
        };
        let fields: &'de [FieldDef] = self.fields;
        let Some(field) = fields.get(index) else {
            return Ok(None);
        };
        self.current = Some(FieldId(index as u32));
        let key = BorrowedStrDeserializer::<Error>::new(field.name.as_str());
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let Some(field) = self.current.take() else {
            return Err(Error::Serde(format!(
                "type `{}`: a value was asked for before its key",
                self.def.name
            )));
        };
        let name = self.fields.get(field.index()).map_or("?", |f| &f.name);
        let ty = self.def.name.as_str();
        self.record
            .field(self.def, field)
            .and_then(|f| seed.deserialize(f))
            .map_err(|e| within(e, format_args!("{ty}.{name}")))
    }

    fn size_hint(&self) -> Option<usize> {
        let total = self.requested.map_or(self.fields.len(), <[_]>::len);
        Some(total.saturating_sub(self.next))
    }
}

/// The elements of a list or set record as a sequence of records.
struct ElementAccess<'de, S: ?Sized> {
    record: RecordDeserializer<'de, S>,
    def: &'de TypeDef,
    element: TypeId,
    elements: Elements<'de>,
    index: usize,
}

impl<'de, S: RecordSource + ?Sized> SeqAccess<'de> for ElementAccess<'de, S> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some((ordinal, _)) = self.elements.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        self.record
            .nested(self.element, ordinal)
            .and_then(|r| seed.deserialize(r))
            .map(Some)
            .map_err(|e| within(e, format_args!("{}[{index}]", self.def.name)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.elements.len())
    }
}

/// The entries of a map record as a map of key records to value records.
struct EntryAccess<'de, S: ?Sized> {
    record: RecordDeserializer<'de, S>,
    def: &'de TypeDef,
    key: TypeId,
    value: TypeId,
    elements: Elements<'de>,
    index: usize,
    pending: Option<Ordinal>,
}

impl<'de, S: RecordSource + ?Sized> MapAccess<'de> for EntryAccess<'de, S> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some((key, value)) = self.elements.next() else {
            return Ok(None);
        };
        let index = self.index;
        let name = self.def.name.as_str();
        let Some(value) = value else {
            return Err(Error::Serde(format!(
                "{name}[{index}]: an entry without a value"
            )));
        };
        self.pending = Some(value);
        self.record
            .nested(self.key, key)
            .and_then(|r| seed.deserialize(r))
            .map(Some)
            .map_err(|e| within(e, format_args!("{name}[{index}] key")))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let index = self.index;
        self.index += 1;
        let name = self.def.name.as_str();
        let Some(value) = self.pending.take() else {
            return Err(Error::Serde(format!(
                "{name}[{index}]: a value was asked for before its key"
            )));
        };
        self.record
            .nested(self.value, value)
            .and_then(|r| seed.deserialize(r))
            .map_err(|e| within(e, format_args!("{name}[{index}] value")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.elements.len())
    }
}

/// The bytes of a `bytes` field as a sequence of `u8`.
struct ByteAccess<'de>(std::slice::Iter<'de, u8>);

impl<'de> SeqAccess<'de> for ByteAccess<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.0.next() {
            Some(&byte) => seed.deserialize(byte.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::sync::Arc;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::record::{Record, Value};
    use crate::schema::{FieldKind, Schema};
    use crate::state::{DataState, StateBuilder};
    use crate::TypeDef;

    fn schema() -> Arc<Schema> {
        let types = vec![
            TypeDef::object("Scalars")
                .field("flag", FieldKind::Bool)
                .field("small", FieldKind::I32)
                .field("big", FieldKind::I64)
                .field("single", FieldKind::F32)
                .field("double", FieldKind::F64),
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::object("Count").field("n", FieldKind::I64),
            TypeDef::object("Person")
                .field("name", FieldKind::String)
                .field("born", FieldKind::I32),
            TypeDef::list("Tags", "Tag"),
            TypeDef::set("TagSet", "Tag"),
            TypeDef::map("Counts", "Tag", "Count"),
            TypeDef::object("Movie")
                .field("title", FieldKind::String)
                .reference("director", "Person")
                .reference("tags", "Tags")
                .reference("labels", "TagSet")
                .reference("counts", "Counts")
                .reference("main_tag", "Tag")
                .field("poster", FieldKind::Bytes)
                .field("mood", FieldKind::String),
            TypeDef::object("Loop").reference("next", "Loop"),
        ];
        Arc::new(Schema::new(types).unwrap())
    }

    fn alien() -> serde_json::Value {
        json!({
            "title": "Alien",
            "director": {"name": "Scott", "born": 1937},
            "tags": ["space", "horror"],
            "labels": ["classic"],
            "counts": {"views": 10, "likes": 3},
            "main_tag": "space",
            "poster": [0, 1, 255],
            "mood": "Calm",
        })
    }

    /// A state holding `value` as the record of `ty`, and its ordinal.
    fn state_with(ty: &str, value: &serde_json::Value) -> (DataState, TypeId, Ordinal) {
        let mut b = StateBuilder::new(schema());
        let o = crate::ser::add(&mut b, ty, value).unwrap();
        let id = b.schema().type_id(ty).unwrap();
        (b.finish(), id, o)
    }

    fn movie() -> (DataState, TypeId, Ordinal) {
        state_with("Movie", &alien())
    }

    fn error<'de, T: Deserialize<'de>>(state: &'de DataState, ty: TypeId, o: Ordinal) -> String {
        match from_source::<T, _>(state, ty, o) {
            Ok(_) => panic!("expected an error"),
            Err(Error::Serde(msg)) => msg,
            Err(other) => panic!("expected a serde error, got {other}"),
        }
    }

    /// A source over a state that refuses to read one field: proof that it is never read.
    struct Refusing<'s> {
        state: &'s DataState,
        refused: (TypeId, FieldId),
    }

    impl RecordSource for Refusing<'_> {
        fn schema(&self) -> &Schema {
            self.state.schema()
        }

        fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
            RecordSource::contains(self.state, ty, ordinal)
        }

        fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>> {
            if (ty, field) == self.refused {
                return Err(Error::Serde("refused".into()));
            }
            self.state.field(ty, field, ordinal)
        }

        fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
            self.state.elements(ty, ordinal)
        }
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct PersonView<'a> {
        name: &'a str,
        born: u16,
    }

    #[test]
    fn strings_and_bytes_are_borrowed_from_the_source() {
        #[derive(Deserialize)]
        struct View<'a> {
            title: &'a str,
            poster: &'a [u8],
        }
        let (state, ty, o) = movie();
        let view: View<'_> = from_source(&state, ty, o).unwrap();
        let Some(Record::Object(values)) = state.get(ty, o) else {
            panic!("no movie");
        };
        let (Value::String(title), Value::Bytes(poster)) = (&values[0], &values[6]) else {
            panic!("wrong values");
        };
        assert!(std::ptr::eq(view.title, &**title));
        assert!(std::ptr::eq(view.poster, &**poster));
    }

    #[test]
    fn a_struct_reads_only_the_schema_fields_it_names() {
        #[derive(Deserialize)]
        struct Old<'a> {
            title: &'a str,
        }
        #[derive(Deserialize)]
        struct WithPoster {
            #[allow(dead_code)]
            poster: Vec<u8>,
        }
        let (state, ty, o) = movie();
        let poster = state.schema().field_id(ty, "poster").unwrap();
        let source = Refusing {
            state: &state,
            refused: (ty, poster),
        };
        let old: Old<'_> = from_source(&source, ty, o).unwrap();
        assert_eq!(old.title, "Alien");
        let err = from_source::<WithPoster, _>(&source, ty, o).err().unwrap();
        assert_eq!(err.to_string(), "serde: Movie.poster: refused");
    }

    #[test]
    fn a_field_the_schema_lacks_reads_as_none_or_is_missing() {
        #[derive(Deserialize)]
        struct Newer<'a> {
            title: &'a str,
            sequel: Option<&'a str>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Required {
            sequel: String,
        }
        let (state, ty, o) = movie();
        let newer: Newer<'_> = from_source(&state, ty, o).unwrap();
        assert_eq!((newer.title, newer.sequel), ("Alien", None));
        assert_eq!(error::<Required>(&state, ty, o), "missing field `sequel`");
    }

    #[test]
    fn integers_read_as_any_integer_type_that_fits() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Wide {
            small: i64,
            big: i128,
            single: f64,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Narrow {
            big: u16,
        }
        #[derive(serde::Serialize)]
        struct Stored {
            small: u8,
            big: i64,
            single: f32,
        }
        let mut b = StateBuilder::new(schema());
        let stored = Stored {
            small: 7,
            big: -1,
            single: 0.5,
        };
        let o = crate::ser::add(&mut b, "Scalars", &stored).unwrap();
        let state = b.finish();
        let ty = state.schema().type_id("Scalars").unwrap();
        let wide: Wide = from_source(&state, ty, o).unwrap();
        let expected = Wide {
            small: 7,
            big: -1,
            single: 0.5,
        };
        assert_eq!(wide, expected);
        assert_eq!(
            error::<Narrow>(&state, ty, o),
            "Scalars.big: invalid value: integer `-1`, expected u16"
        );
    }

    #[test]
    fn null_is_none_for_an_option_and_unit_otherwise() {
        #[derive(Deserialize)]
        struct Optional {
            small: Option<i32>,
            flag: (),
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Required {
            small: i32,
        }
        let (state, ty, o) = state_with("Scalars", &json!({"big": 1}));
        let optional: Optional = from_source(&state, ty, o).unwrap();
        assert_eq!((optional.small, optional.flag), (None, ()));
        assert_eq!(
            error::<Required>(&state, ty, o),
            "Scalars.small: invalid type: unit value, expected i32"
        );
    }

    #[test]
    fn one_field_records_stand_for_their_field_when_a_primitive_is_asked_for() {
        #[derive(Deserialize)]
        struct View<'a> {
            #[serde(borrow)]
            tags: Vec<&'a str>,
            #[serde(borrow)]
            labels: BTreeSet<&'a str>,
            #[serde(borrow)]
            counts: HashMap<&'a str, u8>,
            main_tag: String,
        }
        let (state, ty, o) = movie();
        let view: View<'_> = from_source(&state, ty, o).unwrap();
        assert_eq!(view.tags, ["space", "horror"]);
        assert_eq!(view.labels, BTreeSet::from(["classic"]));
        assert_eq!(view.counts, HashMap::from([("views", 10), ("likes", 3)]));
        assert_eq!(view.main_tag, "space");
        // A one-field record read on its own as its field. (Which tag is #0 depends on the
        // order the JSON map was walked in, which serde_json's features decide.)
        let tag: &str = from_source_named(&state, "Tag", Ordinal(0)).unwrap();
        let tag_ty = state.schema().type_id("Tag").unwrap();
        let stored = match state.get(tag_ty, Ordinal(0)) {
            Some(crate::Record::Object(values)) => values[0].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(crate::Value::String(tag.into()), stored);
        assert!(["space", "horror", "classic", "views", "likes"].contains(&tag));
    }

    #[test]
    fn one_field_records_still_read_as_structs() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Tag<'a> {
            name: &'a str,
        }
        let (state, _, o) = movie();
        #[derive(Deserialize)]
        struct View<'a> {
            #[serde(borrow)]
            tags: Vec<Tag<'a>>,
        }
        let view: View<'_> = from_source_named(&state, "Movie", o).unwrap();
        assert_eq!(view.tags, [Tag { name: "space" }, Tag { name: "horror" }]);
    }

    #[test]
    fn references_read_as_nested_structs() {
        #[derive(Deserialize)]
        struct View<'a> {
            #[serde(borrow)]
            director: Option<PersonView<'a>>,
        }
        let (state, ty, o) = movie();
        let view: View<'_> = from_source(&state, ty, o).unwrap();
        let scott = PersonView {
            name: "Scott",
            born: 1937,
        };
        assert_eq!(view.director, Some(scott));
    }

    #[test]
    fn lists_read_as_tuples_and_map_types_as_structs() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Totals {
            views: i64,
            likes: i32,
        }
        let (state, _, _) = movie();
        let pair: (&str, &str) = from_source_named(&state, "Tags", Ordinal(0)).unwrap();
        assert_eq!(pair, ("space", "horror"));
        let totals: Totals = from_source_named(&state, "Counts", Ordinal(0)).unwrap();
        assert_eq!(
            totals,
            Totals {
                views: 10,
                likes: 3
            }
        );
    }

    #[test]
    fn string_fields_read_as_unit_variants() {
        #[derive(Deserialize, Debug, PartialEq)]
        enum Mood {
            Calm,
            Loud,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        enum Narrow {
            Loud,
        }
        #[derive(Deserialize)]
        struct View<M> {
            mood: M,
        }
        let (state, ty, o) = movie();
        let view: View<Mood> = from_source(&state, ty, o).unwrap();
        assert_eq!(view.mood, Mood::Calm);
        assert_eq!(
            error::<View<Narrow>>(&state, ty, o),
            "Movie.mood: unknown variant `Calm`, expected `Loud`"
        );
    }

    #[test]
    fn bytes_read_as_a_slice_or_a_vec() {
        #[derive(Deserialize)]
        struct View<'a> {
            poster: &'a [u8],
        }
        #[derive(Deserialize)]
        struct Owned {
            poster: Vec<u8>,
        }
        let (state, ty, o) = movie();
        let view: View<'_> = from_source(&state, ty, o).unwrap();
        let owned: Owned = from_source(&state, ty, o).unwrap();
        assert_eq!(
            (view.poster, owned.poster.as_slice()),
            (&[0, 1, 255][..], &[0, 1, 255][..])
        );
    }

    #[test]
    fn any_reads_objects_as_maps_and_follows_references() {
        let mut value = alien();
        value["poster"] = serde_json::Value::Null;
        let (state, ty, o) = state_with("Movie", &value);
        let read: serde_json::Value = from_source(&state, ty, o).unwrap();
        let expected = json!({
            "title": "Alien",
            "director": {"name": "Scott", "born": 1937},
            "tags": [{"name": "space"}, {"name": "horror"}],
            "labels": [{"name": "classic"}],
            "counts": {"views": {"n": 10}, "likes": {"n": 3}},
            "main_tag": {"name": "space"},
            "poster": null,
            "mood": "Calm",
        });
        assert_eq!(read, expected);
    }

    #[test]
    fn errors_in_elements_and_entries_carry_their_path() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Strict {
            counts: BTreeMap<String, i8>,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Numbers {
            tags: Vec<i32>,
        }
        let mut value = alien();
        value["counts"] = json!({"views": 1000});
        let (state, ty, o) = state_with("Movie", &value);
        assert_eq!(
            error::<Strict>(&state, ty, o),
            "Movie.counts: Counts[0] value: Count.n: invalid value: integer `1000`, expected i8"
        );
        assert_eq!(
            error::<Numbers>(&state, ty, o),
            "Movie.tags: Tags[0]: Tag.name: invalid type: string \"space\", expected i32"
        );
    }

    /// A state holding exactly `record` at ordinal 0 of `ty`, unchecked references and all.
    fn raw_state(ty: &str, record: Record) -> (DataState, TypeId) {
        let mut state = DataState::new(schema());
        let id = state.schema().type_id(ty).unwrap();
        state.insert(id, Ordinal(0), record).unwrap();
        (state, id)
    }

    #[test]
    fn a_missing_referenced_record_names_type_and_field() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct View<'a> {
            #[serde(borrow)]
            director: Option<PersonView<'a>>,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Tags<'a> {
            #[serde(borrow)]
            tags: Vec<&'a str>,
        }
        let mut values = vec![Value::Null; 8];
        values[1] = Value::Ref(Ordinal(9));
        values[2] = Value::Ref(Ordinal(4));
        let (state, ty) = raw_state("Movie", Record::Object(values));
        assert_eq!(
            error::<View<'_>>(&state, ty, Ordinal(0)),
            "Movie.director: no record #9 of type `Person`"
        );
        assert_eq!(
            error::<Tags<'_>>(&state, ty, Ordinal(0)),
            "Movie.tags: no record #4 of type `Tags`"
        );
    }

    #[test]
    fn a_missing_record_or_type_is_an_error() {
        #[derive(Deserialize, Debug)]
        struct Nothing {}
        let (state, ty, _) = movie();
        assert_eq!(
            error::<Nothing>(&state, ty, Ordinal(7)),
            "no record #7 of type `Movie`"
        );
        let err = from_source_named::<Nothing, _>(&state, "Nope", Ordinal(0)).unwrap_err();
        assert_eq!(err.to_string(), "serde: no type `Nope` in the schema");
    }

    #[test]
    fn a_reference_cycle_is_an_error_not_a_stack_overflow() {
        let (state, ty) = raw_state("Loop", Record::Object(vec![Value::Ref(Ordinal(0))]));
        let msg = error::<String>(&state, ty, Ordinal(0));
        assert!(
            msg.ends_with("records nest deeper than 128 below type `Loop` (a reference cycle?)"),
            "{msg}"
        );
        let msg = error::<serde_json::Value>(&state, ty, Ordinal(0));
        assert!(msg.starts_with("Loop.next: Loop.next: "), "{msg}");
    }
}
