//! A serde `Deserializer` over any [`RecordSource`]: `T: Deserialize<'de>` straight from the
//! records where they live, strings and bytes borrowed (`struct Movie<'a> { title: &'a str }`
//! reads its title in place, with no allocation).
//!
//! Object records are maps of their fields; a struct asks only for the fields it names, so a
//! field the struct lacks is never read and a field the schema lacks is never yielded (serde
//! then gives `None` to an `Option`). References are followed; lists and sets are sequences,
//! maps are maps. A record of an object type with exactly one field reads as that field when
//! the visitor wants a primitive, so `Vec<&str>` reads from a list of `Tag { name }`.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::read::{Elements, FieldValue, RecordSource};
use crate::schema::TypeKind;

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Serde(msg.to_string())
    }
}

/// Deserializes the record at `ordinal` of type `ty`.
pub fn from_source<'de, T, S>(source: &'de S, ty: TypeId, ordinal: Ordinal) -> Result<T>
where
    T: Deserialize<'de>,
    S: RecordSource + ?Sized,
{
    T::deserialize(RecordDe {
        source,
        ty,
        ordinal,
    })
}

/// Deserializes the record at `ordinal` of the type named `type_name`.
pub fn from_source_named<'de, T, S>(source: &'de S, type_name: &str, ordinal: Ordinal) -> Result<T>
where
    T: Deserialize<'de>,
    S: RecordSource + ?Sized,
{
    let ty = source
        .schema()
        .type_id(type_name)
        .ok_or_else(|| Error::NoSuchField(format!("no type `{type_name}` in the schema")))?;
    from_source(source, ty, ordinal)
}

/// A whole record.
struct RecordDe<'de, S: ?Sized> {
    source: &'de S,
    ty: TypeId,
    ordinal: Ordinal,
}

impl<S: ?Sized> Clone for RecordDe<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for RecordDe<'_, S> {}

impl<'de, S: RecordSource + ?Sized> RecordDe<'de, S> {
    fn kind(&self) -> Result<&'de TypeKind> {
        let source: &'de S = self.source;
        source
            .schema()
            .type_def(self.ty)
            .map(|d| &d.kind)
            .ok_or_else(|| Error::Serde(format!("no {} in the schema", self.ty)))
    }

    /// The single field of a one-field object record, for primitives.
    fn single_field(&self) -> Result<Option<FieldDe<'de, S>>> {
        match self.kind()? {
            TypeKind::Object { fields, .. } if fields.len() == 1 => Ok(Some(FieldDe::read(
                self.source,
                self.ty,
                FieldId(0),
                self.ordinal,
            )?)),
            _ => Ok(None),
        }
    }

    fn visit<V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value> {
        match self.kind()? {
            TypeKind::Object { fields: all, .. } => visitor.visit_map(FieldsAccess {
                record: self,
                wanted: fields,
                next: 0,
                count: all.len(),
            }),
            TypeKind::List { element } | TypeKind::Set { element } => {
                let element = self.type_id(element)?;
                let elements = self.source.elements(self.ty, self.ordinal)?;
                visitor.visit_seq(ElementsAccess {
                    source: self.source,
                    elements,
                    key_ty: element,
                    value_ty: element,
                    pending: None,
                })
            }
            TypeKind::Map { key, value } => {
                let (key_ty, value_ty) = (self.type_id(key)?, self.type_id(value)?);
                let elements = self.source.elements(self.ty, self.ordinal)?;
                visitor.visit_map(ElementsAccess {
                    source: self.source,
                    elements,
                    key_ty,
                    value_ty,
                    pending: None,
                })
            }
        }
    }

    fn type_id(&self, name: &str) -> Result<TypeId> {
        self.source
            .schema()
            .type_id(name)
            .ok_or_else(|| Error::Serde(format!("no type `{name}` in the schema")))
    }
}

macro_rules! primitive_via_single_field {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.single_field()? {
                Some(field) => field.$method(visitor),
                None => self.visit(None, visitor),
            }
        }
    )*};
}

impl<'de, S: RecordSource + ?Sized> de::Deserializer<'de> for RecordDe<'de, S> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.visit(None, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.visit(Some(fields), visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.single_field()? {
            Some(field) => field.deserialize_enum(name, variants, visitor),
            None => Err(Error::Serde(format!(
                "enum `{name}` needs a one-field record"
            ))),
        }
    }

    primitive_via_single_field! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_identifier
    }

    serde::forward_to_deserialize_any! {
        i128 u128 unit unit_struct seq tuple tuple_struct map ignored_any
    }
}

/// The fields of an object record, as a map.
struct FieldsAccess<'de, S: ?Sized> {
    record: RecordDe<'de, S>,
    wanted: Option<&'static [&'static str]>,
    next: usize,
    count: usize,
}

impl<'de, S: RecordSource + ?Sized> MapAccess<'de> for FieldsAccess<'de, S> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let source: &'de S = self.record.source;
        let Some(def) = source.schema().type_def(self.record.ty) else {
            return Ok(None);
        };
        while self.next < self.count {
            let name: &'de str = def.fields()[self.next].name.as_str();
            if self.wanted.is_none_or(|w| w.contains(&name)) {
                let key = de::value::BorrowedStrDeserializer::<Error>::new(name);
                return seed.deserialize(key).map(Some);
            }
            self.next += 1;
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let field = FieldId(self.next as u32);
        self.next += 1;
        let r = self.record;
        seed.deserialize(FieldDe::read(r.source, r.ty, field, r.ordinal)?)
    }
}

/// The elements of a list or set (a sequence) or the entries of a map (a map).
struct ElementsAccess<'de, S: ?Sized> {
    source: &'de S,
    elements: Elements<'de>,
    key_ty: TypeId,
    value_ty: TypeId,
    pending: Option<Ordinal>,
}

impl<'de, S: RecordSource + ?Sized> SeqAccess<'de> for ElementsAccess<'de, S> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some((ordinal, _)) = self.elements.next() else {
            return Ok(None);
        };
        let record = RecordDe {
            source: self.source,
            ty: self.key_ty,
            ordinal,
        };
        seed.deserialize(record).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.elements.len())
    }
}

impl<'de, S: RecordSource + ?Sized> MapAccess<'de> for ElementsAccess<'de, S> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some((key, value)) = self.elements.next() else {
            return Ok(None);
        };
        self.pending = value;
        let record = RecordDe {
            source: self.source,
            ty: self.key_ty,
            ordinal: key,
        };
        seed.deserialize(record).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let ordinal = self
            .pending
            .take()
            .ok_or_else(|| Error::Serde("a map entry without a value".into()))?;
        seed.deserialize(RecordDe {
            source: self.source,
            ty: self.value_ty,
            ordinal,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.elements.len())
    }
}

/// One field value of an object record.
struct FieldDe<'de, S: ?Sized> {
    source: &'de S,
    value: FieldValue<'de>,
    target: Option<TypeId>,
}

impl<'de, S: RecordSource + ?Sized> FieldDe<'de, S> {
    fn read(source: &'de S, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<Self> {
        let value = source.field(ty, field, ordinal)?;
        let target = match value {
            FieldValue::Ref(_) => {
                let def = source.schema().type_def(ty);
                let kind = def
                    .and_then(|d| d.fields().get(field.index()))
                    .map(|f| &f.kind);
                match kind {
                    Some(crate::FieldKind::Reference(t)) => source.schema().type_id(t),
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(FieldDe {
            source,
            value,
            target,
        })
    }

    fn referenced(&self) -> Option<RecordDe<'de, S>> {
        match (self.value, self.target) {
            (FieldValue::Ref(ordinal), Some(ty)) => Some(RecordDe {
                source: self.source,
                ty,
                ordinal,
            }),
            _ => None,
        }
    }
}

macro_rules! follow_references {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.referenced() {
                Some(record) => record.$method(visitor),
                None => self.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de, S: RecordSource + ?Sized> de::Deserializer<'de> for FieldDe<'de, S> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if let Some(record) = self.referenced() {
            return record.deserialize_any(visitor);
        }
        match self.value {
            FieldValue::Null => visitor.visit_unit(),
            FieldValue::Bool(v) => visitor.visit_bool(v),
            FieldValue::I32(v) => visitor.visit_i32(v),
            FieldValue::I64(v) => visitor.visit_i64(v),
            FieldValue::F32(v) => visitor.visit_f32(v),
            FieldValue::F64(v) => visitor.visit_f64(v),
            FieldValue::Str(v) => visitor.visit_borrowed_str(v),
            FieldValue::Bytes(v) => visitor.visit_borrowed_bytes(v),
            FieldValue::Ref(o) => Err(Error::Serde(format!("reference {o} to an unknown type"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            FieldValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.referenced() {
            Some(record) => record.deserialize_struct(name, fields, visitor),
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

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if let Some(record) = self.referenced() {
            return record.deserialize_enum(name, variants, visitor);
        }
        match self.value {
            FieldValue::Str(v) => visitor.visit_enum(v.into_deserializer()),
            other => Err(Error::Serde(format!(
                "enum `{name}` cannot be read from {other:?}"
            ))),
        }
    }

    follow_references! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_map deserialize_identifier
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if let Some(record) = self.referenced() {
            return record.deserialize_seq(visitor);
        }
        match self.value {
            FieldValue::Bytes(b) => {
                visitor.visit_seq(de::value::SeqDeserializer::new(b.iter().copied()))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        i128 u128 unit unit_struct tuple tuple_struct ignored_any
    }
}
