//! Serializing any `T: Serialize` into records, directed by the schema.
//!
//! [`add`] walks a value with serde and the schema side by side. Every value that lands on an
//! object type, a list, a set or a map becomes one [`Record`] handed to a [`RecordSink`] (a
//! [`StateBuilder`] dedups them), and the ordinal it returns becomes the [`Value::Ref`] of the
//! referring field, so nested structs, sequences and maps are stored bottom-up.
//!
//! # Mapping
//!
//! | serde value | schema | stored as |
//! |---|---|---|
//! | struct, or map with string keys | object type | `Record::Object`, fields matched by name; schema fields the value lacks are null; a name the schema lacks is an error |
//! | any sequence (`Vec`, sets, tuples) | list or set type | `Record::List` / `Record::Set`, each element a record of the element type |
//! | any map (or a struct, keys being its field names) | map type | `Record::Map`, keys and values records of the key and value types |
//! | string, number, bool, bytes, unit variant, sequence | object type with exactly one field | a record with the value in that field (so `Vec<String>` fits `List<Tag>` with `Tag { name: string }`) |
//! | `None`, `()`, unit struct | a field | `Value::Null` |
//! | `Some(x)`, newtype struct | anywhere | `x` |
//! | any integer | `i32` / `i64` field | the value, when it fits |
//! | `f32` | `f32` / `f64` field | the value (widened for `f64`) |
//! | `f64` | `f64` field | the value (never narrowed to `f32`) |
//! | `str`, `char`, unit enum variant | `string` field | the string (the variant's name) |
//! | bytes, sequence of `u8` | `bytes` field | the bytes |
//! | `bool` | `bool` field | the bool |
//! | anything | reference field | a record of the target type, by the rules above |
//!
//! Everything else (a string into an `i64` field, a struct into an `i32` field, an enum variant
//! with data, a null where a record is needed) is an [`Error::Serde`] naming the type and, for
//! a field, the field. Records nest at most 128 deep, so a schema whose one-field types wrap
//! each other in a cycle ends in an error, not a stack overflow.

use std::fmt::{self, Display};

use serde::ser::{
    self, Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeTuple,
    SerializeTupleStruct, Serializer,
};

use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::record::{Record, Value};
use crate::schema::{ColumnKind, FixedKind, Schema, TypeKind, VarKind};
use crate::state::StateBuilder;

/// How deep records may nest below the one passed to [`add`].
const MAX_DEPTH: u32 = 128;

/// Where serialized records go: anything that knows the schema and hands out ordinals.
pub trait RecordSink {
    /// The schema the records must fit.
    fn schema(&self) -> &Schema;

    /// Stores a record of `ty` and returns its ordinal (the existing one, for a sink that
    /// dedups, when an identical record was stored before).
    fn add(&mut self, ty: TypeId, record: Record) -> Result<Ordinal>;

    /// Stores the record of `ty`, an object type with one string field, that holds `value`.
    /// The default builds the record and calls [`add`](Self::add); a sink that dedups can
    /// look the string up first and build nothing when it is known.
    fn add_str(&mut self, ty: TypeId, value: &str) -> Result<Ordinal> {
        self.add(ty, Record::Object(vec![Value::String(value.into())]))
    }

    /// Stores again the one-string record of `ty` that [`add_str`](Self::add_str) stored as
    /// `ordinal` earlier (a column's dictionary names a string once and many rows use it):
    /// what `add_str` of the same string would do, without the lookup. The default returns
    /// `ordinal`; a sink that counts what it was offered counts it.
    fn add_str_again(&mut self, ty: TypeId, ordinal: Ordinal) -> Result<Ordinal> {
        let _ = ty;
        Ok(ordinal)
    }

    /// Stores a record of `ty` given packed ([`Rows::pack`](crate::Rows::pack)'s bytes,
    /// built column by column without a [`Record`]); its ordinal, as [`add`](Self::add).
    /// A row that is not a whole record of `ty` ([`Row::fits`](crate::Row::fits)) is an
    /// error. The default unpacks it and calls `add`.
    fn add_packed(&mut self, ty: TypeId, packed: &[u8]) -> Result<Ordinal> {
        let record = packed_record(self.schema(), ty, packed)?;
        self.add(ty, record)
    }

    /// Stores an object record of `ty` packed by an [`ObjectPacker`](crate::ObjectPacker);
    /// its ordinal, as [`add`](Self::add). The packer checked each field's kind, so a sink
    /// need only check that it packed for a type like `ty`
    /// ([`PackedObject::fits`](crate::PackedObject::fits)). The default checks the bytes
    /// as [`add_packed`](Self::add_packed) does.
    fn add_object(&mut self, ty: TypeId, row: crate::PackedObject<'_>) -> Result<Ordinal> {
        self.add_packed(ty, row.bytes())
    }
}

/// An error unless `packed` is a whole record of `ty` ([`Row::fits`](crate::Row::fits)),
/// naming the type: what a sink checks of a row given to it packed.
pub fn check_packed(schema: &Schema, ty: TypeId, packed: &[u8]) -> Result<()> {
    let def = schema
        .type_def(ty)
        .ok_or_else(|| Error::Schema(format!("no type {ty}")))?;
    if crate::Row::of(packed).fits(def) {
        return Ok(());
    }
    Err(Error::Schema(format!(
        "a packed row of {} bytes is not a record of type {}",
        packed.len(),
        def.name
    )))
}

/// The record `packed` holds, when it is a whole record of `ty` (see
/// [`RecordSink::add_packed`]).
pub fn packed_record(schema: &Schema, ty: TypeId, packed: &[u8]) -> Result<Record> {
    check_packed(schema, ty, packed)?;
    crate::Row::of(packed)
        .to_record()
        .ok_or_else(|| Error::Schema(format!("a packed row of type {ty} does not unpack")))
}

impl RecordSink for StateBuilder {
    fn schema(&self) -> &Schema {
        StateBuilder::schema(self)
    }

    fn add(&mut self, ty: TypeId, record: Record) -> Result<Ordinal> {
        StateBuilder::add(self, ty, record)
    }
}

/// Serializes `value` as a record of the type named `type_name`, and every record it refers
/// to, into `sink`; returns the ordinal of the top record.
///
/// ```
/// use std::sync::Arc;
/// use shoal_format::{ser, FieldKind, Schema, StateBuilder, TypeDef};
///
/// #[derive(serde::Serialize)]
/// struct Movie {
///     title: String,
///     genres: Vec<String>,
/// }
///
/// let schema = Schema::new(vec![
///     TypeDef::object("Movie").field("title", FieldKind::String).reference("genres", "Genres"),
///     TypeDef::list("Genres", "Genre"),
///     TypeDef::object("Genre").field("name", FieldKind::String),
/// ])?;
/// let mut builder = StateBuilder::new(Arc::new(schema));
/// let movie = Movie { title: "Alien".into(), genres: vec!["Horror".into(), "Sci-Fi".into()] };
/// let ordinal = ser::add(&mut builder, "Movie", &movie)?;
/// assert_eq!(ordinal.0, 0);
/// assert_eq!(builder.state().len(builder.schema().type_id("Genre").unwrap()), 2);
/// # Ok::<(), shoal_format::Error>(())
/// ```
pub fn add<T, S>(sink: &mut S, type_name: &str, value: &T) -> Result<Ordinal>
where
    T: Serialize + ?Sized,
    S: RecordSink + ?Sized,
{
    let ty = sink
        .schema()
        .type_id(type_name)
        .ok_or_else(|| Error::Serde(format!("no type `{type_name}` in the schema")))?;
    value.serialize(RecordSerializer::new(sink, ty, 0)?)
}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Serde(msg.to_string())
    }
}

/// What a type holds, with the ids the serializer needs (all `Copy`, so no borrow of the
/// schema outlives a call to the sink).
#[derive(Debug, Clone, Copy)]
enum Shape {
    Object { fields: usize },
    List { element: TypeId },
    Set { element: TypeId },
    Map { key: TypeId, value: TypeId },
}

impl Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Object { fields: 1 } => f.write_str("an object type with 1 field"),
            Shape::Object { fields } => write!(f, "an object type with {fields} fields"),
            Shape::List { .. } => f.write_str("a list type"),
            Shape::Set { .. } => f.write_str("a set type"),
            Shape::Map { .. } => f.write_str("a map type"),
        }
    }
}

fn shape(schema: &Schema, ty: TypeId) -> Result<Shape> {
    let def = schema
        .type_def(ty)
        .ok_or_else(|| Error::Serde(format!("no {ty} in the schema")))?;
    let column = schema.columns(ty).first().copied();
    match (&def.kind, column) {
        (TypeKind::Object { fields, .. }, _) => Ok(Shape::Object {
            fields: fields.len(),
        }),
        (TypeKind::List { .. }, Some(ColumnKind::Var(VarKind::Ordinals(element)))) => {
            Ok(Shape::List { element })
        }
        (TypeKind::Set { .. }, Some(ColumnKind::Var(VarKind::Ordinals(element)))) => {
            Ok(Shape::Set { element })
        }
        (TypeKind::Map { .. }, Some(ColumnKind::Var(VarKind::Pairs(key, value)))) => {
            Ok(Shape::Map { key, value })
        }
        _ => Err(Error::Serde(format!(
            "type `{}` has no element column",
            def.name
        ))),
    }
}

fn type_name(schema: &Schema, ty: TypeId) -> &str {
    schema.type_def(ty).map_or("?", |t| t.name.as_str())
}

/// The message of an error raised below us, without the `serde:` prefix of its display.
fn detail(err: Error) -> String {
    match err {
        Error::Serde(msg) => msg,
        other => other.to_string(),
    }
}

fn non_unit_variant(name: &str, variant: &str) -> String {
    format!("enum variant `{name}::{variant}` carries data; only unit variants are stored")
}

/// Serializes a value as one record of `ty`; its output is the record's ordinal.
struct RecordSerializer<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
    depth: u32,
}

impl<'a, S: RecordSink + ?Sized> RecordSerializer<'a, S> {
    fn new(sink: &'a mut S, ty: TypeId, depth: u32) -> Result<Self> {
        if depth > MAX_DEPTH {
            let name = type_name(sink.schema(), ty);
            return Err(Error::Serde(format!(
                "records nest deeper than {MAX_DEPTH} at type `{name}`"
            )));
        }
        Ok(RecordSerializer { sink, ty, depth })
    }

    fn shape(&self) -> Result<Shape> {
        shape(self.sink.schema(), self.ty)
    }

    fn cannot_hold(&self, found: impl Display) -> Error {
        let name = type_name(self.sink.schema(), self.ty);
        match self.shape() {
            Ok(shape) => Error::Serde(format!("type `{name}` ({shape}) cannot hold {found}")),
            Err(err) => err,
        }
    }

    /// The serializer of the one field of a one-field object type, or the error that `found`
    /// does not fit this type.
    fn single_field(self, found: &str) -> Result<FieldSerializer<'a, S>> {
        if !matches!(self.shape()?, Shape::Object { fields: 1 }) {
            return Err(self.cannot_hold(found));
        }
        Ok(FieldSerializer {
            sink: self.sink,
            ty: self.ty,
            field: FieldId(0),
            depth: self.depth,
        })
    }

    /// Wraps a primitive into the one field of a one-field object type.
    fn wrap(
        self,
        found: &str,
        put: impl FnOnce(FieldSerializer<'_, S>) -> Result<Value>,
    ) -> Result<Ordinal> {
        let ty = self.ty;
        let field = self.single_field(found)?;
        let (value, sink) = field.fill(put)?;
        sink.add(ty, Record::Object(vec![value]))
    }

    /// A sequence wrapped into the one field of a one-field object type.
    fn wrapped_seq(self, len: Option<usize>) -> Result<RecordSeq<'a, S>> {
        let ty = self.ty;
        let seq = self.single_field("a sequence")?.serialize_seq(len)?;
        Ok(RecordSeq::Wrapped {
            ty,
            seq: Box::new(seq),
        })
    }

    fn fields(self, found: impl Display) -> Result<Fields<'a, S>> {
        match self.shape()? {
            Shape::Object { fields } => Ok(Fields::Object(ObjectBuilder {
                values: vec![Value::Null; fields],
                pending: None,
                sink: self.sink,
                ty: self.ty,
                depth: self.depth,
            })),
            Shape::Map { key, value } => Ok(Fields::Entries(EntryBuilder {
                entries: Vec::new(),
                pending: None,
                sink: self.sink,
                ty: self.ty,
                key,
                value,
                depth: self.depth,
            })),
            _ => Err(self.cannot_hold(found)),
        }
    }
}

impl<'a, S: RecordSink + ?Sized> Serializer for RecordSerializer<'a, S> {
    type Ok = Ordinal;
    type Error = Error;
    type SerializeSeq = RecordSeq<'a, S>;
    type SerializeTuple = RecordSeq<'a, S>;
    type SerializeTupleStruct = RecordSeq<'a, S>;
    type SerializeTupleVariant = Impossible<Ordinal, Error>;
    type SerializeMap = Fields<'a, S>;
    type SerializeStruct = Fields<'a, S>;
    type SerializeStructVariant = Impossible<Ordinal, Error>;

    fn serialize_bool(self, v: bool) -> Result<Ordinal> {
        self.wrap("a bool", |f| f.serialize_bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Ordinal> {
        self.wrap("an integer", |f| f.serialize_i128(v))
    }

    fn serialize_u8(self, v: u8) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Ordinal> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Ordinal> {
        self.wrap("an integer", |f| f.serialize_u128(v))
    }

    fn serialize_f32(self, v: f32) -> Result<Ordinal> {
        self.wrap("an f32", |f| f.serialize_f32(v))
    }

    fn serialize_f64(self, v: f64) -> Result<Ordinal> {
        self.wrap("an f64", |f| f.serialize_f64(v))
    }

    fn serialize_char(self, v: char) -> Result<Ordinal> {
        self.wrap("a char", |f| f.serialize_char(v))
    }

    fn serialize_str(self, v: &str) -> Result<Ordinal> {
        let schema = self.sink.schema();
        let one_string = matches!(schema.columns(self.ty), [ColumnKind::Var(VarKind::String)])
            && matches!(shape(schema, self.ty)?, Shape::Object { fields: 1 });
        if one_string {
            // The common wrapper (a tag, a country code): the sink may find it without
            // building a record.
            return self.sink.add_str(self.ty, v);
        }
        self.wrap("a string", |f| f.serialize_str(v))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Ordinal> {
        self.wrap("bytes", |f| f.serialize_bytes(v))
    }

    fn serialize_none(self) -> Result<Ordinal> {
        Err(self.cannot_hold("null (`None`): a record is never null"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Ordinal> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Ordinal> {
        Err(self.cannot_hold("null (`()`): a record is never null"))
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<Ordinal> {
        SerializeStruct::end(self.serialize_struct(name, 0)?)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<Ordinal> {
        self.wrap("a unit enum variant", |f| {
            f.serialize_unit_variant(name, index, variant)
        })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Ordinal> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<Ordinal> {
        Err(self.cannot_hold(non_unit_variant(name, variant)))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<RecordSeq<'a, S>> {
        let (set, element) = match self.shape()? {
            Shape::List { element } => (false, element),
            Shape::Set { element } => (true, element),
            Shape::Object { fields: 1 } => return self.wrapped_seq(len),
            _ => return Err(self.cannot_hold("a sequence")),
        };
        Ok(RecordSeq::Elements {
            items: Vec::with_capacity(len.unwrap_or(0)),
            sink: self.sink,
            ty: self.ty,
            element,
            set,
            depth: self.depth,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<RecordSeq<'a, S>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<RecordSeq<'a, S>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(self.cannot_hold(non_unit_variant(name, variant)))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Fields<'a, S>> {
        self.fields("a map")
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Fields<'a, S>> {
        self.fields(format_args!("struct `{name}`"))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(self.cannot_hold(non_unit_variant(name, variant)))
    }
}

/// Serializes a value into one field of an object record; its output is the field's value.
struct FieldSerializer<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
    field: FieldId,
    depth: u32,
}

impl<'a, S: RecordSink + ?Sized> FieldSerializer<'a, S> {
    fn column(&self) -> Option<ColumnKind> {
        let columns = self.sink.schema().columns(self.ty);
        columns.get(self.field.index()).copied()
    }

    /// An error about this field: `type `Movie`, field `year` (i32): {msg}`.
    fn error(&self, msg: impl Display) -> Error {
        let schema = self.sink.schema();
        let def = schema.type_def(self.ty);
        let field = def.and_then(|d| d.fields().get(self.field.index()));
        let ty = def.map_or("?", |d| d.name.as_str());
        match field {
            Some(f) => Error::Serde(format!(
                "type `{ty}`, field `{}` ({}): {msg}",
                f.name, f.kind
            )),
            None => Error::Serde(format!("type `{ty}`, {}: {msg}", self.field)),
        }
    }

    fn mismatch(&self, found: impl Display) -> Error {
        self.error(format_args!("cannot hold {found}"))
    }

    /// The serializer of the record a reference field refers to.
    fn target(self, found: impl Display) -> Result<RecordSerializer<'a, S>> {
        let Some(ColumnKind::Fixed(FixedKind::Ref(target))) = self.column() else {
            return Err(self.mismatch(found));
        };
        RecordSerializer::new(self.sink, target, self.depth + 1)
    }

    /// Serializes the value as a record of the field's target type, if it is a reference.
    fn reference(
        self,
        found: &str,
        put: impl FnOnce(RecordSerializer<'a, S>) -> Result<Ordinal>,
    ) -> Result<Value> {
        Ok(Value::Ref(put(self.target(found)?)?))
    }

    /// Runs `put` on a reborrow of this field, then gives the sink back.
    fn fill(
        self,
        put: impl FnOnce(FieldSerializer<'_, S>) -> Result<Value>,
    ) -> Result<(Value, &'a mut S)> {
        let FieldSerializer {
            sink,
            ty,
            field,
            depth,
        } = self;
        let value = put(FieldSerializer {
            sink: &mut *sink,
            ty,
            field,
            depth,
        })?;
        Ok((value, sink))
    }

    fn integer(self, v: i128) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Fixed(FixedKind::I32)) => i32::try_from(v)
                .map(Value::I32)
                .map_err(|_| self.error(format_args!("integer {v} does not fit"))),
            Some(ColumnKind::Fixed(FixedKind::I64)) => i64::try_from(v)
                .map(Value::I64)
                .map_err(|_| self.error(format_args!("integer {v} does not fit"))),
            _ => self.reference("an integer", |r| r.serialize_i128(v)),
        }
    }
}

impl<'a, S: RecordSink + ?Sized> Serializer for FieldSerializer<'a, S> {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = FieldSeq<'a, S>;
    type SerializeTuple = FieldSeq<'a, S>;
    type SerializeTupleStruct = FieldSeq<'a, S>;
    type SerializeTupleVariant = Impossible<Value, Error>;
    type SerializeMap = RefOf<Fields<'a, S>>;
    type SerializeStruct = RefOf<Fields<'a, S>>;
    type SerializeStructVariant = Impossible<Value, Error>;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Fixed(FixedKind::Bool)) => Ok(Value::Bool(v)),
            _ => self.reference("a bool", |r| r.serialize_bool(v)),
        }
    }

    fn serialize_i8(self, v: i8) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value> {
        self.integer(v)
    }

    fn serialize_u8(self, v: u8) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Value> {
        self.integer(i128::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Value> {
        match i128::try_from(v) {
            Ok(v) => self.integer(v),
            Err(_) => Err(self.error(format_args!("integer {v} does not fit"))),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Fixed(FixedKind::F32)) => Ok(Value::F32(v)),
            Some(ColumnKind::Fixed(FixedKind::F64)) => Ok(Value::F64(f64::from(v))),
            _ => self.reference("an f32", |r| r.serialize_f32(v)),
        }
    }

    fn serialize_f64(self, v: f64) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Fixed(FixedKind::F64)) => Ok(Value::F64(v)),
            Some(ColumnKind::Fixed(FixedKind::F32)) => {
                Err(self.error("cannot hold an f64 (it would lose precision; use f32)"))
            }
            _ => self.reference("an f64", |r| r.serialize_f64(v)),
        }
    }

    fn serialize_char(self, v: char) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Var(VarKind::String)) => Ok(Value::String(v.to_string().into())),
            _ => self.reference("a char", |r| r.serialize_char(v)),
        }
    }

    fn serialize_str(self, v: &str) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Var(VarKind::String)) => Ok(Value::String(v.into())),
            _ => self.reference("a string", |r| r.serialize_str(v)),
        }
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Var(VarKind::Bytes)) => Ok(Value::Bytes(v.into())),
            _ => self.reference("bytes", |r| r.serialize_bytes(v)),
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
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        match self.column() {
            Some(ColumnKind::Var(VarKind::String)) => Ok(Value::String(variant.into())),
            _ => self.reference("a unit enum variant", |r| {
                r.serialize_unit_variant(name, index, variant)
            }),
        }
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
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<Value> {
        Err(self.error(non_unit_variant(name, variant)))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<FieldSeq<'a, S>> {
        if self.column() == Some(ColumnKind::Var(VarKind::Bytes)) {
            let bytes = Vec::with_capacity(len.unwrap_or(0));
            return Ok(FieldSeq::Bytes { field: self, bytes });
        }
        Ok(FieldSeq::Record(
            self.target("a sequence")?.serialize_seq(len)?,
        ))
    }

    fn serialize_tuple(self, len: usize) -> Result<FieldSeq<'a, S>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<FieldSeq<'a, S>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(self.error(non_unit_variant(name, variant)))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<RefOf<Fields<'a, S>>> {
        Ok(RefOf(self.target("a map")?.serialize_map(len)?))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<RefOf<Fields<'a, S>>> {
        let target = self.target(format_args!("struct `{name}`"))?;
        Ok(RefOf(target.serialize_struct(name, len)?))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(self.error(non_unit_variant(name, variant)))
    }
}

/// A sequence becoming a list or set record, or wrapped into a one-field object.
enum RecordSeq<'a, S: ?Sized> {
    Elements {
        sink: &'a mut S,
        ty: TypeId,
        element: TypeId,
        set: bool,
        items: Vec<Ordinal>,
        depth: u32,
    },
    Wrapped {
        ty: TypeId,
        seq: Box<FieldSeq<'a, S>>,
    },
}

impl<'a, S: RecordSink + ?Sized> RecordSeq<'a, S> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        match self {
            RecordSeq::Elements {
                sink,
                element,
                items,
                depth,
                ..
            } => {
                let record = RecordSerializer::new(&mut **sink, *element, *depth + 1)?;
                items.push(value.serialize(record)?);
                Ok(())
            }
            RecordSeq::Wrapped { seq, .. } => seq.element(value),
        }
    }

    fn finish(self) -> Result<(Ordinal, &'a mut S)> {
        match self {
            RecordSeq::Elements {
                sink,
                ty,
                set,
                items,
                ..
            } => {
                let record = if set {
                    Record::Set(items)
                } else {
                    Record::List(items)
                };
                Ok((sink.add(ty, record)?, sink))
            }
            RecordSeq::Wrapped { ty, seq } => {
                let (value, sink) = seq.finish()?;
                Ok((sink.add(ty, Record::Object(vec![value]))?, sink))
            }
        }
    }
}

/// A sequence at a field: bytes for a `bytes` field, else a record of the referenced type.
enum FieldSeq<'a, S: ?Sized> {
    Bytes {
        field: FieldSerializer<'a, S>,
        bytes: Vec<u8>,
    },
    Record(RecordSeq<'a, S>),
}

impl<'a, S: RecordSink + ?Sized> FieldSeq<'a, S> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        match self {
            FieldSeq::Bytes { field, bytes } => {
                let byte = value
                    .serialize(ByteSerializer)
                    .map_err(|e| field.error(detail(e)))?;
                bytes.push(byte);
                Ok(())
            }
            FieldSeq::Record(seq) => seq.element(value),
        }
    }

    fn finish(self) -> Result<(Value, &'a mut S)> {
        match self {
            FieldSeq::Bytes { field, bytes } => Ok((Value::Bytes(bytes.into()), field.sink)),
            FieldSeq::Record(seq) => {
                let (ordinal, sink) = seq.finish()?;
                Ok((Value::Ref(ordinal), sink))
            }
        }
    }
}

/// Implements serde's three sequence traits for a type with `element` and `finish`.
macro_rules! sequence_traits {
    ($ty:ident, $ok:ty, $finish:expr) => {
        impl<'a, S: RecordSink + ?Sized> SerializeSeq for $ty<'a, S> {
            type Ok = $ok;
            type Error = Error;

            fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.element(value)
            }

            fn end(self) -> Result<$ok> {
                self.finish().map($finish)
            }
        }

        impl<'a, S: RecordSink + ?Sized> SerializeTuple for $ty<'a, S> {
            type Ok = $ok;
            type Error = Error;

            fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.element(value)
            }

            fn end(self) -> Result<$ok> {
                self.finish().map($finish)
            }
        }

        impl<'a, S: RecordSink + ?Sized> SerializeTupleStruct for $ty<'a, S> {
            type Ok = $ok;
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.element(value)
            }

            fn end(self) -> Result<$ok> {
                self.finish().map($finish)
            }
        }
    };
}

sequence_traits!(RecordSeq, Ordinal, |(ordinal, _)| ordinal);
sequence_traits!(FieldSeq, Value, |(value, _)| value);

/// A struct or map becoming an object record (fields by name) or a map record.
enum Fields<'a, S: ?Sized> {
    Object(ObjectBuilder<'a, S>),
    Entries(EntryBuilder<'a, S>),
}

impl<S: RecordSink + ?Sized> SerializeMap for Fields<'_, S> {
    type Ok = Ordinal;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        match self {
            Fields::Object(object) => object.key(key),
            Fields::Entries(entries) => entries.key(key),
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        match self {
            Fields::Object(object) => object.value(value),
            Fields::Entries(entries) => entries.value(value),
        }
    }

    fn end(self) -> Result<Ordinal> {
        match self {
            Fields::Object(object) => object.finish(),
            Fields::Entries(entries) => entries.finish(),
        }
    }
}

impl<S: RecordSink + ?Sized> SerializeStruct for Fields<'_, S> {
    type Ok = Ordinal;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        match self {
            Fields::Object(object) => {
                let field = object.field_id(key)?;
                object.set(field, value)
            }
            Fields::Entries(entries) => {
                entries.key(key)?;
                entries.value(value)
            }
        }
    }

    fn end(self) -> Result<Ordinal> {
        SerializeMap::end(self)
    }
}

/// The fields of an object record being filled by name.
struct ObjectBuilder<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
    values: Vec<Value>,
    pending: Option<FieldId>,
    depth: u32,
}

impl<S: RecordSink + ?Sized> ObjectBuilder<'_, S> {
    fn field_id(&self, name: &str) -> Result<FieldId> {
        let schema = self.sink.schema();
        schema.field_id(self.ty, name).ok_or_else(|| {
            let ty = type_name(schema, self.ty);
            Error::Serde(format!("type `{ty}` has no field `{name}`"))
        })
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let name = key.serialize(FieldName {
            schema: self.sink.schema(),
            ty: self.ty,
        })?;
        self.pending = Some(name);
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let field = self
            .pending
            .take()
            .ok_or_else(|| Error::Serde("a map value came before its key".into()))?;
        self.set(field, value)
    }

    fn set<T: Serialize + ?Sized>(&mut self, field: FieldId, value: &T) -> Result<()> {
        let serializer = FieldSerializer {
            sink: &mut *self.sink,
            ty: self.ty,
            field,
            depth: self.depth,
        };
        let value = value.serialize(serializer)?;
        if let Some(slot) = self.values.get_mut(field.index()) {
            *slot = value;
        }
        Ok(())
    }

    fn finish(self) -> Result<Ordinal> {
        self.sink.add(self.ty, Record::Object(self.values))
    }
}

/// The entries of a map record: each key and value a record of its own type.
struct EntryBuilder<'a, S: ?Sized> {
    sink: &'a mut S,
    ty: TypeId,
    key: TypeId,
    value: TypeId,
    entries: Vec<(Ordinal, Ordinal)>,
    pending: Option<Ordinal>,
    depth: u32,
}

impl<S: RecordSink + ?Sized> EntryBuilder<'_, S> {
    fn record<T: Serialize + ?Sized>(&mut self, ty: TypeId, value: &T) -> Result<Ordinal> {
        value.serialize(RecordSerializer::new(&mut *self.sink, ty, self.depth + 1)?)
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.pending = Some(self.record(self.key, key)?);
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .pending
            .take()
            .ok_or_else(|| Error::Serde("a map value came before its key".into()))?;
        let value = self.record(self.value, value)?;
        self.entries.push((key, value));
        Ok(())
    }

    fn finish(self) -> Result<Ordinal> {
        self.sink.add(self.ty, Record::Map(self.entries))
    }
}

/// A struct or map at a reference field: the record's ordinal becomes a [`Value::Ref`].
struct RefOf<C>(C);

impl<C: SerializeMap<Ok = Ordinal, Error = Error>> SerializeMap for RefOf<C> {
    type Ok = Value;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.0.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.0.serialize_value(value)
    }

    fn end(self) -> Result<Value> {
        self.0.end().map(Value::Ref)
    }
}

impl<C: SerializeStruct<Ok = Ordinal, Error = Error>> SerializeStruct for RefOf<C> {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.0.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<()> {
        self.0.skip_field(key)
    }

    fn end(self) -> Result<Value> {
        self.0.end().map(Value::Ref)
    }
}

/// The `Serializer` methods shared by the two scalar-only serializers below: every compound
/// value and every null is rejected through `self.reject(what)`.
macro_rules! reject_compounds {
    () => {
        type SerializeSeq = Impossible<Self::Ok, Error>;
        type SerializeTuple = Impossible<Self::Ok, Error>;
        type SerializeTupleStruct = Impossible<Self::Ok, Error>;
        type SerializeTupleVariant = Impossible<Self::Ok, Error>;
        type SerializeMap = Impossible<Self::Ok, Error>;
        type SerializeStruct = Impossible<Self::Ok, Error>;
        type SerializeStructVariant = Impossible<Self::Ok, Error>;

        fn serialize_bool(self, _: bool) -> Result<Self::Ok> {
            Err(self.reject("a bool"))
        }

        fn serialize_f32(self, _: f32) -> Result<Self::Ok> {
            Err(self.reject("an f32"))
        }

        fn serialize_f64(self, _: f64) -> Result<Self::Ok> {
            Err(self.reject("an f64"))
        }

        fn serialize_bytes(self, _: &[u8]) -> Result<Self::Ok> {
            Err(self.reject("bytes"))
        }

        fn serialize_none(self) -> Result<Self::Ok> {
            Err(self.reject("null"))
        }

        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok> {
            Err(self.reject("an option"))
        }

        fn serialize_unit(self) -> Result<Self::Ok> {
            Err(self.reject("null"))
        }

        fn serialize_unit_struct(self, _: &'static str) -> Result<Self::Ok> {
            Err(self.reject("a unit struct"))
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<Self::Ok> {
            value.serialize(self)
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok> {
            Err(self.reject("an enum variant with data"))
        }

        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
            Err(self.reject("a sequence"))
        }

        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
            Err(self.reject("a tuple"))
        }

        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct> {
            Err(self.reject("a tuple struct"))
        }

        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant> {
            Err(self.reject("an enum variant with data"))
        }

        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
            Err(self.reject("a map"))
        }

        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
            Err(self.reject("a struct"))
        }

        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant> {
            Err(self.reject("an enum variant with data"))
        }
    };
}

/// Implements integer `Serializer` methods through one `fn integer(self, i128)`.
macro_rules! integers_via_i128 {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<Self::Ok> {
            self.integer(i128::from(v))
        })*
    };
}

/// Serializes one element of a sequence stored in a `bytes` field: an integer in `0..=255`.
struct ByteSerializer;

impl ByteSerializer {
    fn reject(&self, found: impl Display) -> Error {
        Error::Serde(format!(
            "a sequence stored as bytes holds integers 0..=255, found {found}"
        ))
    }

    fn integer(self, v: i128) -> Result<u8> {
        u8::try_from(v).map_err(|_| self.reject(v))
    }
}

impl Serializer for ByteSerializer {
    type Ok = u8;
    type Error = Error;

    reject_compounds!();
    integers_via_i128!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64
    );

    fn serialize_char(self, _: char) -> Result<u8> {
        Err(self.reject("a char"))
    }

    fn serialize_str(self, _: &str) -> Result<u8> {
        Err(self.reject("a string"))
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<u8> {
        Err(self.reject("an enum variant"))
    }
}

/// Serializes the key of a map stored as an object record: a string naming a field.
struct FieldName<'s> {
    schema: &'s Schema,
    ty: TypeId,
}

impl FieldName<'_> {
    fn reject(&self, found: impl Display) -> Error {
        let ty = type_name(self.schema, self.ty);
        Error::Serde(format!(
            "type `{ty}` is an object type: a map stored in it needs string keys, found {found}"
        ))
    }

    fn integer(self, v: i128) -> Result<FieldId> {
        Err(self.reject(format_args!("integer {v}")))
    }

    fn name(self, name: &str) -> Result<FieldId> {
        self.schema.field_id(self.ty, name).ok_or_else(|| {
            let ty = type_name(self.schema, self.ty);
            Error::Serde(format!("type `{ty}` has no field `{name}`"))
        })
    }
}

impl Serializer for FieldName<'_> {
    type Ok = FieldId;
    type Error = Error;

    reject_compounds!();
    integers_via_i128!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64
    );

    fn serialize_char(self, v: char) -> Result<FieldId> {
        self.name(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<FieldId> {
        self.name(v)
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<FieldId> {
        self.name(variant)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::Arc;

    use serde::Serialize;

    use super::*;
    use crate::schema::{FieldKind, TypeDef};

    fn schema() -> Arc<Schema> {
        let types = vec![
            TypeDef::object("Scalars")
                .field("flag", FieldKind::Bool)
                .field("small", FieldKind::I32)
                .field("big", FieldKind::I64)
                .field("single", FieldKind::F32)
                .field("double", FieldKind::F64)
                .field("text", FieldKind::String)
                .field("blob", FieldKind::Bytes),
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
                .reference("main_tag", "Tag"),
            TypeDef::object("Loop").reference("next", "Loop"),
            TypeDef::object("Chunk").field("data", FieldKind::Bytes),
            TypeDef::list("Chunks", "Chunk"),
        ];
        Arc::new(Schema::new(types).unwrap())
    }

    fn builder() -> StateBuilder {
        StateBuilder::new(schema())
    }

    fn record<'b>(b: &'b StateBuilder, ty: &str, ordinal: Ordinal) -> &'b Record {
        let ty = b.schema().type_id(ty).unwrap();
        b.state().get(ty, ordinal).unwrap()
    }

    fn count(b: &StateBuilder, ty: &str) -> usize {
        b.state().len(b.schema().type_id(ty).unwrap())
    }

    fn tag(name: &str) -> Record {
        Record::Object(vec![Value::String(name.into())])
    }

    fn error<T: Serialize + ?Sized>(ty: &str, value: &T) -> String {
        match add(&mut builder(), ty, value) {
            Ok(o) => panic!("expected an error, got {o}"),
            Err(Error::Serde(msg)) => msg,
            Err(other) => panic!("expected a serde error, got {other}"),
        }
    }

    #[derive(Serialize)]
    struct Scalars {
        text: &'static str,
        flag: bool,
        small: i32,
    }

    #[derive(Serialize, Clone)]
    struct Person {
        name: String,
        born: i32,
    }

    #[derive(Serialize)]
    struct Movie {
        title: String,
        director: Option<Person>,
        tags: Vec<String>,
    }

    fn movie(title: &str, director: &str) -> Movie {
        Movie {
            title: title.into(),
            director: Some(Person {
                name: director.into(),
                born: 1937,
            }),
            tags: vec!["space".into(), "horror".into()],
        }
    }

    #[test]
    fn struct_fields_are_matched_by_name_and_missing_ones_are_null() {
        let mut b = builder();
        let value = Scalars {
            text: "x",
            flag: true,
            small: 7,
        };
        let o = add(&mut b, "Scalars", &value).unwrap();
        let expected = Record::Object(vec![
            Value::Bool(true),
            Value::I32(7),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::String("x".into()),
            Value::Null,
        ]);
        assert_eq!(record(&b, "Scalars", o), &expected);
    }

    #[test]
    fn struct_field_missing_from_the_schema_names_type_and_field() {
        #[derive(Serialize)]
        struct Newer {
            name: &'static str,
            shoe_size: i32,
        }
        let msg = error(
            "Person",
            &Newer {
                name: "a",
                shoe_size: 44,
            },
        );
        assert_eq!(msg, "type `Person` has no field `shoe_size`");
    }

    #[test]
    fn nested_structs_become_references_and_identical_records_dedup() {
        let mut b = builder();
        let a = add(&mut b, "Movie", &movie("Alien", "Scott")).unwrap();
        let c = add(&mut b, "Movie", &movie("Blade Runner", "Scott")).unwrap();
        assert_ne!(a, c);
        assert_eq!(
            (count(&b, "Person"), count(&b, "Tags"), count(&b, "Tag")),
            (1, 1, 2)
        );
        let Record::Object(values) = record(&b, "Movie", c) else {
            panic!("not an object");
        };
        assert_eq!(values[1], Value::Ref(Ordinal(0)));
        assert_eq!(values[2], Value::Ref(Ordinal(0)));
        assert_eq!(values[3], Value::Null, "a field the struct lacks");
    }

    #[test]
    fn none_is_null_and_some_is_the_value() {
        let mut b = builder();
        let mut m = movie("Alien", "Scott");
        m.director = None;
        let o = add(&mut b, "Movie", &m).unwrap();
        let Record::Object(values) = record(&b, "Movie", o) else {
            panic!("not an object");
        };
        assert_eq!(values[1], Value::Null);
        assert_eq!(count(&b, "Person"), 0);
    }

    #[test]
    fn strings_wrap_into_one_field_objects_of_a_list() {
        let mut b = builder();
        let o = add(&mut b, "Tags", &vec!["a", "b", "a"]).unwrap();
        assert_eq!(
            record(&b, "Tags", o),
            &Record::List(vec![Ordinal(0), Ordinal(1), Ordinal(0)])
        );
        assert_eq!(record(&b, "Tag", Ordinal(1)), &tag("b"));
    }

    #[test]
    fn sets_are_canonical_whatever_the_order() {
        let mut b = builder();
        add(&mut b, "Tag", "z").unwrap();
        add(&mut b, "Tag", "y").unwrap();
        let set: HashSet<&str> = ["y", "z", "x"].into_iter().collect();
        let a = add(&mut b, "TagSet", &set).unwrap();
        let c = add(&mut b, "TagSet", &("x", "z", "y", "x")).unwrap();
        assert_eq!(a, c, "tuples are sequences too");
        assert_eq!(
            record(&b, "TagSet", a),
            &Record::Set(vec![Ordinal(0), Ordinal(1), Ordinal(2)])
        );
    }

    #[test]
    fn maps_serialize_keys_and_values_into_their_types() {
        let mut b = builder();
        let counts: HashMap<String, i64> = [("a".into(), 1), ("b".into(), 2)].into();
        let o = add(&mut b, "Counts", &counts).unwrap();
        let Record::Map(entries) = record(&b, "Counts", o) else {
            panic!("not a map");
        };
        assert_eq!(entries.len(), 2);
        for (k, v) in entries {
            let Record::Object(key) = record(&b, "Tag", *k) else {
                panic!("not an object");
            };
            let expected = match &key[0] {
                Value::String(s) if &**s == "a" => 1,
                _ => 2,
            };
            let value = record(&b, "Count", *v);
            assert_eq!(value, &Record::Object(vec![Value::I64(expected)]));
        }
    }

    #[test]
    fn a_struct_at_a_map_type_maps_its_field_names() {
        #[derive(Serialize)]
        struct Totals {
            a: i64,
        }
        let mut b = builder();
        let o = add(&mut b, "Counts", &Totals { a: 5 }).unwrap();
        assert_eq!(
            record(&b, "Counts", o),
            &Record::Map(vec![(Ordinal(0), Ordinal(0))])
        );
        assert_eq!(record(&b, "Tag", Ordinal(0)), &tag("a"));
    }

    #[test]
    fn json_objects_fill_object_records_by_field_name() {
        let json = serde_json::json!({
            "title": "Alien",
            "director": {"name": "Scott", "born": 1937},
            "counts": {"views": 10},
            "main_tag": "space",
        });
        let mut b = builder();
        let o = add(&mut b, "Movie", &json).unwrap();
        let Record::Object(values) = record(&b, "Movie", o) else {
            panic!("not an object");
        };
        assert_eq!(values[0], Value::String("Alien".into()));
        let person = Record::Object(vec![Value::String("Scott".into()), Value::I32(1937)]);
        assert_eq!(record(&b, "Person", Ordinal(0)), &person);
        assert_eq!(values[5], Value::Ref(Ordinal(1)), "`space` after `views`");
    }

    #[test]
    fn map_keys_at_an_object_type_must_be_strings() {
        let map: BTreeMap<i32, i32> = [(1, 2)].into();
        let msg = error("Person", &map);
        assert!(msg.contains("needs string keys, found integer 1"), "{msg}");
    }

    #[test]
    fn integers_fit_i32_and_i64_fields_when_in_range() {
        let mut b = builder();
        let value = serde_json::json!({"small": 7u8, "big": u32::MAX});
        let o = add(&mut b, "Scalars", &value).unwrap();
        let Record::Object(values) = record(&b, "Scalars", o) else {
            panic!("not an object");
        };
        assert_eq!(
            (&values[1], &values[2]),
            (&Value::I32(7), &Value::I64(4294967295))
        );
    }

    #[test]
    fn integers_out_of_range_name_type_and_field() {
        let msg = error("Scalars", &serde_json::json!({"small": 3_000_000_000u32}));
        assert_eq!(
            msg,
            "type `Scalars`, field `small` (i32): integer 3000000000 does not fit"
        );
        let msg = error("Scalars", &serde_json::json!({"big": u64::MAX}));
        assert!(
            msg.contains("field `big` (i64): integer 18446744073709551615"),
            "{msg}"
        );
    }

    #[test]
    fn f32_widens_to_f64_but_f64_never_narrows() {
        #[derive(Serialize)]
        struct Floats {
            single: f32,
            double: f32,
        }
        let mut b = builder();
        let o = add(
            &mut b,
            "Scalars",
            &Floats {
                single: 1.5,
                double: 2.5,
            },
        )
        .unwrap();
        let Record::Object(values) = record(&b, "Scalars", o) else {
            panic!("not an object");
        };
        assert_eq!(
            (&values[3], &values[4]),
            (&Value::F32(1.5), &Value::F64(2.5))
        );
        let msg = error("Scalars", &serde_json::json!({"single": 1.5}));
        assert!(msg.starts_with("type `Scalars`, field `single` (f32): cannot hold an f64"));
    }

    #[test]
    fn a_value_of_the_wrong_kind_names_type_and_field() {
        let msg = error("Scalars", &serde_json::json!({"big": "12"}));
        assert_eq!(
            msg,
            "type `Scalars`, field `big` (i64): cannot hold a string"
        );
        let msg = error("Scalars", &serde_json::json!({"text": true}));
        assert_eq!(
            msg,
            "type `Scalars`, field `text` (string): cannot hold a bool"
        );
        let msg = error("Scalars", &serde_json::json!({"small": 1.0}));
        assert_eq!(
            msg,
            "type `Scalars`, field `small` (i32): cannot hold an f64"
        );
    }

    #[test]
    fn a_struct_into_a_scalar_field_names_type_and_field() {
        #[derive(Serialize)]
        struct Wrong {
            small: Person,
        }
        let person = Person {
            name: "a".into(),
            born: 1,
        };
        let msg = error("Scalars", &Wrong { small: person });
        assert_eq!(
            msg,
            "type `Scalars`, field `small` (i32): cannot hold struct `Person`"
        );
    }

    #[derive(Serialize)]
    enum Mood {
        Calm,
        Loud(i32),
    }

    #[test]
    fn unit_variants_are_stored_by_name() {
        #[derive(Serialize)]
        struct WithMood {
            text: Mood,
        }
        let mut b = builder();
        let o = add(&mut b, "Scalars", &WithMood { text: Mood::Calm }).unwrap();
        let Record::Object(values) = record(&b, "Scalars", o) else {
            panic!("not an object");
        };
        assert_eq!(values[5], Value::String("Calm".into()));
        let o = add(&mut b, "Tags", &[Mood::Calm]).unwrap();
        assert_eq!(record(&b, "Tags", o), &Record::List(vec![Ordinal(0)]));
        assert_eq!(record(&b, "Tag", Ordinal(0)), &tag("Calm"));
    }

    #[test]
    fn variants_with_data_name_type_and_field() {
        #[derive(Serialize)]
        struct WithMood {
            text: Mood,
        }
        let msg = error(
            "Scalars",
            &WithMood {
                text: Mood::Loud(3),
            },
        );
        assert!(
            msg.starts_with(
                "type `Scalars`, field `text` (string): enum variant `Mood::Loud` carries data"
            ),
            "{msg}"
        );
        let msg = error("Tag", &Mood::Loud(3));
        assert!(
            msg.starts_with(
                "type `Tag` (an object type with 1 field) cannot hold enum variant `Mood::Loud`"
            ),
            "{msg}"
        );
    }

    #[test]
    fn bytes_come_from_serialize_bytes_or_a_sequence_of_u8() {
        struct Raw(&'static [u8]);
        impl Serialize for Raw {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        #[derive(Serialize)]
        struct Blob<T> {
            blob: T,
        }
        let mut b = builder();
        let a = add(
            &mut b,
            "Scalars",
            &Blob {
                blob: Raw(b"\x00\xff"),
            },
        )
        .unwrap();
        let c = add(
            &mut b,
            "Scalars",
            &Blob {
                blob: vec![0u8, 255],
            },
        )
        .unwrap();
        let d = add(&mut b, "Scalars", &Blob { blob: [0u16, 255] }).unwrap();
        assert_eq!((a, a), (c, d));
        let Record::Object(values) = record(&b, "Scalars", a) else {
            panic!("not an object");
        };
        assert_eq!(values[6], Value::Bytes(vec![0, 255].into()));
        let msg = error("Scalars", &Blob { blob: vec![1, 256] });
        assert_eq!(
            msg,
            "type `Scalars`, field `blob` (bytes): a sequence stored as bytes holds integers 0..=255, found 256"
        );
    }

    #[test]
    fn sequences_wrap_into_one_field_objects_too() {
        let mut b = builder();
        let o = add(&mut b, "Chunks", &vec![vec![1u8, 2], vec![3]]).unwrap();
        assert_eq!(
            record(&b, "Chunks", o),
            &Record::List(vec![Ordinal(0), Ordinal(1)])
        );
        let chunk = Record::Object(vec![Value::Bytes(vec![3].into())]);
        assert_eq!(record(&b, "Chunk", Ordinal(1)), &chunk);
        let msg = error("Tags", &vec![vec![1u8]]);
        assert_eq!(
            msg,
            "type `Tag`, field `name` (string): cannot hold a sequence"
        );
    }

    #[test]
    fn newtype_structs_are_transparent() {
        #[derive(Serialize)]
        struct Name(&'static str);
        #[derive(Serialize)]
        struct Named {
            text: Name,
        }
        let mut b = builder();
        let t = add(&mut b, "Tag", &Name("x")).unwrap();
        assert_eq!(record(&b, "Tag", t), &tag("x"));
        let o = add(&mut b, "Scalars", &Named { text: Name("y") }).unwrap();
        let Record::Object(values) = record(&b, "Scalars", o) else {
            panic!("not an object");
        };
        assert_eq!(values[5], Value::String("y".into()));
    }

    #[test]
    fn primitives_only_wrap_into_one_field_objects() {
        let msg = error("Person", "Scott");
        assert_eq!(
            msg,
            "type `Person` (an object type with 2 fields) cannot hold a string"
        );
        let msg = error("Tags", &5);
        assert_eq!(msg, "type `Tags` (a list type) cannot hold an integer");
    }

    #[test]
    fn a_record_is_never_null() {
        let msg = error("Person", &None::<Person>);
        assert!(msg.contains("cannot hold null (`None`)"), "{msg}");
        let msg = error("Tags", &vec![Some("a"), None]);
        assert!(
            msg.starts_with("type `Tag` (an object type with 1 field) cannot hold null"),
            "{msg}"
        );
    }

    #[test]
    fn compound_values_must_fit_the_type_kind() {
        let msg = error("Person", &vec![1, 2]);
        assert_eq!(
            msg,
            "type `Person` (an object type with 2 fields) cannot hold a sequence"
        );
        let msg = error("Tags", &BTreeMap::from([("a", 1)]));
        assert_eq!(msg, "type `Tags` (a list type) cannot hold a map");
    }

    #[test]
    fn a_cycle_of_one_field_types_is_an_error_not_a_stack_overflow() {
        let msg = error("Loop", "x");
        assert!(msg.starts_with("records nest deeper than 128"), "{msg}");
    }

    #[test]
    fn an_unknown_type_name_is_an_error() {
        assert_eq!(error("Nope", &1), "no type `Nope` in the schema");
    }

    #[test]
    fn any_sink_behind_dyn_works() {
        let mut b = builder();
        let sink: &mut dyn RecordSink = &mut b;
        let o = add(sink, "Tag", "x").unwrap();
        assert_eq!(record(&b, "Tag", o), &tag("x"));
    }
}
