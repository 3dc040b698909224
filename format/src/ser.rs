//! A serde `Serializer` into records, directed by the schema: a `#[derive(Serialize)]` struct
//! becomes an object record of the type it is added as, nested structs become referenced
//! records, `Vec`/`HashSet`/`HashMap` become list, set and map records, `Option::None` is
//! null. Records go to a [`RecordSink`] (a [`StateBuilder`] dedups them), which hands back the
//! ordinal that references point to.
//!
//! A primitive where a record of an object type with exactly one field is expected is wrapped
//! into that field, so `Vec<String>` fills a `List<Tag>` with `Tag { name: string }`.

use serde::ser::{self, Impossible, Serialize};

use crate::error::{Error, Result};
use crate::ids::{Ordinal, TypeId};
use crate::record::{Record, Value};
use crate::schema::{FieldKind, Schema, TypeKind};
use crate::state::StateBuilder;

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Serde(msg.to_string())
    }
}

/// Where serialized records go.
pub trait RecordSink {
    /// The schema records must fit.
    fn schema(&self) -> &Schema;
    /// Stores a record of `ty` and returns its ordinal.
    fn add(&mut self, ty: TypeId, record: Record) -> Result<Ordinal>;
}

impl RecordSink for StateBuilder {
    fn schema(&self) -> &Schema {
        StateBuilder::schema(self)
    }

    fn add(&mut self, ty: TypeId, record: Record) -> Result<Ordinal> {
        StateBuilder::add(self, ty, record)
    }
}

/// Serializes `value` as a record of the type named `type_name` (and its nested records as
/// records of the referenced types); returns its ordinal.
pub fn add<T, S>(sink: &mut S, type_name: &str, value: &T) -> Result<Ordinal>
where
    T: Serialize + ?Sized,
    S: RecordSink + ?Sized,
{
    let ty = sink
        .schema()
        .type_id(type_name)
        .ok_or_else(|| Error::Serde(format!("no type `{type_name}` in the schema")))?;
    value
        .serialize(RecordSer { sink, ty })?
        .ok_or_else(|| Error::Serde(format!("a `{type_name}` record cannot be null")))
}

fn type_name(schema: &Schema, ty: TypeId) -> String {
    schema
        .type_def(ty)
        .map_or_else(|| ty.to_string(), |d| d.name.clone())
}

fn lookup(schema: &Schema, name: &str) -> Result<TypeId> {
    schema
        .type_id(name)
        .ok_or_else(|| Error::Serde(format!("no type `{name}` in the schema")))
}

/// Serializes one record of `ty`; `None` for a null (`None`, unit).
struct RecordSer<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
}

impl<'a, S: RecordSink + ?Sized> RecordSer<'a, S> {
    fn kind(&self) -> Result<TypeKind> {
        self.sink
            .schema()
            .type_def(self.ty)
            .map(|d| d.kind.clone())
            .ok_or_else(|| Error::Serde(format!("no {} in the schema", self.ty)))
    }

    fn name(&self) -> String {
        type_name(self.sink.schema(), self.ty)
    }

    /// Wraps a primitive into the single field of a one-field object type.
    fn wrap(self, make: impl FnOnce(ScalarSer<'_>) -> Result<Value>) -> Result<Option<Ordinal>> {
        let name = self.name();
        let field = match self.kind()? {
            TypeKind::Object { fields, .. } if fields.len() == 1 => fields[0].clone(),
            _ => {
                return Err(Error::Serde(format!(
                    "a primitive value cannot be a `{name}` record (only a one-field object type wraps one)"
                )))
            }
        };
        let value = make(ScalarSer {
            kind: &field.kind,
            type_name: &name,
            field: &field.name,
        })?;
        self.sink
            .add(self.ty, Record::Object(vec![value]))
            .map(Some)
    }

    fn collection(self) -> Result<SeqSer<'a, S>> {
        let name = self.name();
        let (element, set) = match self.kind()? {
            TypeKind::List { element } => (element, false),
            TypeKind::Set { element } => (element, true),
            _ => {
                return Err(Error::Serde(format!(
                    "a sequence cannot be a `{name}` record"
                )))
            }
        };
        let element = lookup(self.sink.schema(), &element)?;
        Ok(SeqSer {
            sink: self.sink,
            ty: self.ty,
            element,
            set,
            items: Vec::new(),
        })
    }

    fn object(self) -> Result<StructSer<'a, S>> {
        let name = self.name();
        match self.kind()? {
            TypeKind::Object { fields, .. } => Ok(StructSer {
                sink: self.sink,
                ty: self.ty,
                values: vec![Value::Null; fields.len()],
                key: None,
            }),
            _ => Err(Error::Serde(format!(
                "a struct cannot be a `{name}` record"
            ))),
        }
    }
}

macro_rules! wrap_primitive {
    ($($method:ident($t:ty))*) => {$(
        fn $method(self, v: $t) -> Result<Self::Ok> {
            self.wrap(|s| s.$method(v))
        }
    )*};
}

impl<'a, S: RecordSink + ?Sized> ser::Serializer for RecordSer<'a, S> {
    type Ok = Option<Ordinal>;
    type Error = Error;
    type SerializeSeq = SeqSer<'a, S>;
    type SerializeTuple = SeqSer<'a, S>;
    type SerializeTupleStruct = SeqSer<'a, S>;
    type SerializeTupleVariant = Impossible<Self::Ok, Error>;
    type SerializeMap = MapSer<'a, S>;
    type SerializeStruct = StructSer<'a, S>;
    type SerializeStructVariant = Impossible<Self::Ok, Error>;

    wrap_primitive! {
        serialize_bool(bool) serialize_i8(i8) serialize_i16(i16) serialize_i32(i32)
        serialize_i64(i64) serialize_u8(u8) serialize_u16(u16) serialize_u32(u32)
        serialize_u64(u64) serialize_f32(f32) serialize_f64(f64) serialize_char(char)
        serialize_str(&str) serialize_bytes(&[u8])
    }

    fn serialize_none(self) -> Result<Self::Ok> {
        Ok(None)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Self::Ok> {
        Ok(None)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Self::Ok> {
        Ok(None)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<Self::Ok> {
        self.wrap(|s| s.serialize_str(variant))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _i: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<Self::Ok> {
        Err(Error::Serde(format!(
            "enum variant `{name}::{variant}` with data cannot be stored"
        )))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        self.collection()
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        self.collection()
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        self.collection()
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Error::Serde(format!(
            "enum variant `{name}::{variant}` with data cannot be stored"
        )))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        let name = self.name();
        match self.kind()? {
            TypeKind::Map { key, value } => {
                let key = lookup(self.sink.schema(), &key)?;
                let value = lookup(self.sink.schema(), &value)?;
                Ok(MapSer::Entries {
                    sink: self.sink,
                    ty: self.ty,
                    key_ty: key,
                    value_ty: value,
                    entries: Vec::new(),
                    key: None,
                })
            }
            TypeKind::Object { .. } => Ok(MapSer::Fields(self.object()?)),
            _ => Err(Error::Serde(format!("a map cannot be a `{name}` record"))),
        }
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        self.object()
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Error::Serde(format!(
            "enum variant `{name}::{variant}` with data cannot be stored"
        )))
    }
}

/// The fields of an object record being serialized.
struct StructSer<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
    values: Vec<Value>,
    key: Option<String>,
}

impl<S: RecordSink + ?Sized> StructSer<'_, S> {
    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<()> {
        let schema = self.sink.schema();
        let type_name = type_name(schema, self.ty);
        let def = schema.type_def(self.ty).map(|d| d.fields()).unwrap_or(&[]);
        let Some(index) = def.iter().position(|f| f.name == name) else {
            return Err(Error::Serde(format!(
                "field `{name}` of `{type_name}` is not in the schema"
            )));
        };
        let kind = def[index].kind.clone();
        let v = match &kind {
            FieldKind::Reference(target) => {
                let ty = lookup(schema, target)?;
                let ordinal = value.serialize(RecordSer {
                    sink: &mut *self.sink,
                    ty,
                })?;
                ordinal.map_or(Value::Null, Value::Ref)
            }
            kind => value.serialize(ScalarSer {
                kind,
                type_name: &type_name,
                field: name,
            })?,
        };
        self.values[index] = v;
        Ok(())
    }

    fn finish(self) -> Result<Option<Ordinal>> {
        self.sink
            .add(self.ty, Record::Object(self.values))
            .map(Some)
    }
}

impl<S: RecordSink + ?Sized> ser::SerializeStruct for StructSer<'_, S> {
    type Ok = Option<Ordinal>;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<Self::Ok> {
        self.finish()
    }
}

/// A serde map: the entries of a map record, or the fields of an object record by name.
enum MapSer<'a, S: ?Sized> {
    Entries {
        sink: &'a mut S,
        ty: TypeId,
        key_ty: TypeId,
        value_ty: TypeId,
        entries: Vec<(Ordinal, Ordinal)>,
        key: Option<Ordinal>,
    },
    Fields(StructSer<'a, S>),
}

impl<S: RecordSink + ?Sized> ser::SerializeMap for MapSer<'_, S> {
    type Ok = Option<Ordinal>;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<()> {
        match self {
            MapSer::Entries {
                sink, key_ty, key, ..
            } => {
                let ordinal = k.serialize(RecordSer {
                    sink: &mut **sink,
                    ty: *key_ty,
                })?;
                *key =
                    Some(ordinal.ok_or_else(|| Error::Serde("a map key cannot be null".into()))?);
                Ok(())
            }
            MapSer::Fields(s) => {
                s.key = Some(k.serialize(KeySer)?);
                Ok(())
            }
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        match self {
            MapSer::Entries {
                sink,
                value_ty,
                entries,
                key,
                ..
            } => {
                let ordinal = v.serialize(RecordSer {
                    sink: &mut **sink,
                    ty: *value_ty,
                })?;
                let value =
                    ordinal.ok_or_else(|| Error::Serde("a map value cannot be null".into()))?;
                let key = key
                    .take()
                    .ok_or_else(|| Error::Serde("a map value without a key".into()))?;
                entries.push((key, value));
                Ok(())
            }
            MapSer::Fields(s) => {
                let name = s
                    .key
                    .take()
                    .ok_or_else(|| Error::Serde("a field value without a name".into()))?;
                s.field(&name, v)
            }
        }
    }

    fn end(self) -> Result<Self::Ok> {
        match self {
            MapSer::Entries {
                sink, ty, entries, ..
            } => sink.add(ty, Record::Map(entries)).map(Some),
            MapSer::Fields(s) => s.finish(),
        }
    }
}

/// The elements of a list or set record being serialized.
struct SeqSer<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
    element: TypeId,
    set: bool,
    items: Vec<Ordinal>,
}

impl<S: RecordSink + ?Sized> SeqSer<'_, S> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let ordinal = value.serialize(RecordSer {
            sink: &mut *self.sink,
            ty: self.element,
        })?;
        let name = type_name(self.sink.schema(), self.ty);
        self.items.push(
            ordinal
                .ok_or_else(|| Error::Serde(format!("an element of `{name}` cannot be null")))?,
        );
        Ok(())
    }

    fn finish(self) -> Result<Option<Ordinal>> {
        let record = if self.set {
            Record::Set(self.items)
        } else {
            Record::List(self.items)
        };
        self.sink.add(self.ty, record).map(Some)
    }
}

macro_rules! seq_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<S: RecordSink + ?Sized> ser::$trait for SeqSer<'_, S> {
            type Ok = Option<Ordinal>;
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.push(value)
            }

            fn end(self) -> Result<Self::Ok> {
                self.finish()
            }
        }
    )*};
}

seq_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// Serializes a scalar into a field of a given kind.
struct ScalarSer<'a> {
    kind: &'a FieldKind,
    type_name: &'a str,
    field: &'a str,
}

impl ScalarSer<'_> {
    fn mismatch(&self, what: &str) -> Error {
        Error::Serde(format!(
            "field `{}.{}` is {} and cannot hold {what}",
            self.type_name, self.field, self.kind
        ))
    }

    fn int(self, v: i128) -> Result<Value> {
        let out_of_range = || self.mismatch(&format!("the integer {v}"));
        match self.kind {
            FieldKind::I32 => i32::try_from(v).map(Value::I32).map_err(|_| out_of_range()),
            FieldKind::I64 => i64::try_from(v).map(Value::I64).map_err(|_| out_of_range()),
            _ => Err(out_of_range()),
        }
    }
}

macro_rules! ints {
    ($($method:ident($t:ty))*) => {$(
        fn $method(self, v: $t) -> Result<Value> {
            self.int(v as i128)
        }
    )*};
}

impl ser::Serializer for ScalarSer<'_> {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = ByteSeq;
    type SerializeTuple = Impossible<Value, Error>;
    type SerializeTupleStruct = Impossible<Value, Error>;
    type SerializeTupleVariant = Impossible<Value, Error>;
    type SerializeMap = Impossible<Value, Error>;
    type SerializeStruct = Impossible<Value, Error>;
    type SerializeStructVariant = Impossible<Value, Error>;

    ints! {
        serialize_i8(i8) serialize_i16(i16) serialize_i32(i32) serialize_i64(i64)
        serialize_u8(u8) serialize_u16(u16) serialize_u32(u32) serialize_u64(u64)
    }

    fn serialize_bool(self, v: bool) -> Result<Value> {
        match self.kind {
            FieldKind::Bool => Ok(Value::Bool(v)),
            _ => Err(self.mismatch("a bool")),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<Value> {
        match self.kind {
            FieldKind::F32 => Ok(Value::F32(v)),
            FieldKind::F64 => Ok(Value::F64(v as f64)),
            _ => Err(self.mismatch("an f32")),
        }
    }

    fn serialize_f64(self, v: f64) -> Result<Value> {
        match self.kind {
            FieldKind::F64 => Ok(Value::F64(v)),
            _ => Err(self.mismatch("an f64")),
        }
    }

    fn serialize_char(self, v: char) -> Result<Value> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<Value> {
        match self.kind {
            FieldKind::String => Ok(Value::String(v.to_owned())),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        match self.kind {
            FieldKind::Bytes => Ok(Value::Bytes(v.to_vec())),
            _ => Err(self.mismatch("bytes")),
        }
    }

    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<Value> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<Value> {
        Err(self.mismatch(&format!("the enum variant `{variant}` with data")))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<ByteSeq> {
        match self.kind {
            FieldKind::Bytes => Ok(ByteSeq(Vec::new())),
            _ => Err(self.mismatch("a sequence")),
        }
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(self.mismatch("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(self.mismatch("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(self.mismatch("an enum variant"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(self.mismatch("a map"))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(self.mismatch("a struct (make the field a reference)"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(self.mismatch("an enum variant"))
    }
}

/// A sequence of `u8` into a bytes field.
struct ByteSeq(Vec<u8>);

impl ser::SerializeSeq for ByteSeq {
    type Ok = Value;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let kind = FieldKind::I32;
        let v = value.serialize(ScalarSer {
            kind: &kind,
            type_name: "bytes",
            field: "element",
        })?;
        match v {
            Value::I32(b) if (0..=255).contains(&b) => {
                self.0.push(b as u8);
                Ok(())
            }
            other => Err(Error::Serde(format!(
                "a bytes field holds bytes, not {other:?}"
            ))),
        }
    }

    fn end(self) -> Result<Value> {
        Ok(Value::Bytes(self.0))
    }
}

/// A map key naming an object field: must be a string.
struct KeySer;

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }

    fn serialize_bool(self, _v: bool) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_i8(self, _v: i8) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_i16(self, _v: i16) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_i32(self, _v: i32) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_i64(self, _v: i64) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_u8(self, _v: u8) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_u16(self, _v: u16) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_u32(self, _v: u32) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_u64(self, _v: u64) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_f32(self, _v: f32) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_f64(self, _v: f64) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_char(self, v: char) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_none(self) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_unit_struct(self, _n: &'static str) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, v: &'static str) -> Result<String> {
        Ok(v.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        v: &T,
    ) -> Result<String> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _t: &T,
    ) -> Result<String> {
        Err(not_a_name())
    }
    fn serialize_seq(self, _l: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(not_a_name())
    }
    fn serialize_tuple(self, _l: usize) -> Result<Self::SerializeTuple> {
        Err(not_a_name())
    }
    fn serialize_tuple_struct(
        self,
        _n: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(not_a_name())
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(not_a_name())
    }
    fn serialize_map(self, _l: Option<usize>) -> Result<Self::SerializeMap> {
        Err(not_a_name())
    }
    fn serialize_struct(self, _n: &'static str, _l: usize) -> Result<Self::SerializeStruct> {
        Err(not_a_name())
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(not_a_name())
    }
}

fn not_a_name() -> Error {
    Error::Serde("an object record is a map with string keys (field names)".into())
}
