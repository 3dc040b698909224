//! Arrow columns into records of a schema, column by column: the one mapping from Arrow to
//! shoal, with no JSON in between.
//!
//! [`plan_field`] checks, from the Arrow type alone (a file's footer), that a column can hold
//! a field, and says how it becomes the field's values; [`field_values`] then turns a whole
//! column of a batch into those values, adding the records it refers to (children first) to
//! a [`RecordSink`]. The caller assembles the root records from the columns' values.
//!
//! | field kind | Arrow types it takes |
//! |---|---|
//! | `bool` | Boolean |
//! | `i32` | any integer, Date32, Time32 (each value range-checked) |
//! | `i64` | any integer, Date32, Date64, Timestamp, Time32, Time64, Duration (the number in the type's unit) |
//! | `f32`, `f64` | any integer or float, Decimal128 (a NaN or an infinity is an error) |
//! | `string` | Utf8, LargeUtf8, Utf8View |
//! | `bytes` | the string types and Binary, LargeBinary, BinaryView, FixedSizeBinary |
//! | reference to an object type | a Struct (children by field name; others ignored), or, for a one-field type, that field's column |
//! | reference to a list or set | List, LargeList, FixedSizeList of the element's column |
//! | reference to a map | Map of the key's and the value's columns |
//!
//! A Dictionary is read as its values, a Null column as nulls. Any other Arrow type
//! (Decimal256, Interval, Union, list views, run-end encoding) is refused before any row.
//! A null list element, map key or map value is an error, as it is in JSON lines.

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, FixedSizeListArray, GenericListArray, MapArray, OffsetSizeTrait, StructArray,
};
use std::sync::Arc;

use arrow_schema::DataType;
use shoal_format::{
    FieldDef, FieldKind, Ordinal, Record, RecordSink, Rows, Schema, TypeDef, TypeId, TypeKind,
    Value,
};

use super::scalars::Scalars;

/// How a column becomes the values of one field.
#[derive(Debug)]
pub enum FieldPlan {
    /// A column of nulls (Arrow's Null type).
    Null,
    /// A scalar field of this kind from a scalar column.
    Scalar(FieldKind),
    /// A reference: each value is a record of the type, built as the plan says.
    Ref(TypeId, Box<RecordPlan>),
}

/// How a column becomes records of one type.
#[derive(Debug)]
pub enum RecordPlan {
    /// A column of nulls: no record.
    Null,
    /// An object record from a struct: (child index, field index, plan) for each child
    /// that is a field; the type has `fields` fields.
    Struct {
        /// The children read.
        children: Vec<(usize, usize, FieldPlan)>,
        /// How many fields the type has.
        fields: usize,
        /// The primary key's fields (of one segment), which must not be null.
        key: Vec<usize>,
    },
    /// A record of a one-field object type from the column of that field.
    Bare(FieldPlan),
    /// A list (or set) record of the element type's records.
    List {
        /// The element type.
        element: TypeId,
        /// How an element becomes a record.
        plan: Box<RecordPlan>,
        /// A set, not a list.
        set: bool,
    },
    /// A map record of key and value records.
    Map {
        /// The key type and how a key becomes a record.
        key: (TypeId, Box<RecordPlan>),
        /// The value type and how a value becomes a record.
        value: (TypeId, Box<RecordPlan>),
    },
}

/// A column (or a part of one) whose Arrow type cannot hold what the schema wants.
#[derive(Debug)]
pub struct Mismatch {
    /// Where in the column, from its top: `[]` for a list's elements, `.name` for a child.
    at: String,
    /// The Arrow type found there.
    found: DataType,
    /// What the schema wants there; `None` when shoal reads no Arrow type like `found`.
    wanted: Option<String>,
}

impl Mismatch {
    fn under(mut self, step: &str) -> Self {
        self.at.insert_str(0, step);
        self
    }

    /// The message naming `column` (of `column_type`) and what does not fit.
    pub fn message(&self, column: &str, column_type: &DataType) -> String {
        let what = if self.at.is_empty() {
            format!("column `{column}` is {}", self.found)
        } else {
            format!(
                "column `{column}` is {column_type}, whose `{column}{}` is {}",
                self.at, self.found
            )
        };
        match &self.wanted {
            Some(wanted) => format!("{what}, which cannot hold {wanted}"),
            None => format!("{what}, an Arrow type shoal cannot read"),
        }
    }
}

/// Checks that a column of `dt` can hold `field` of `owner`, and plans how.
pub fn plan_field(
    schema: &Schema,
    owner: &TypeDef,
    field: &FieldDef,
    dt: &DataType,
) -> Result<FieldPlan, Mismatch> {
    if let FieldKind::Reference(target) = &field.kind {
        let ty = type_id(schema, target);
        return Ok(FieldPlan::Ref(ty, Box::new(plan_type(schema, ty, dt)?)));
    }
    let dt = without_dictionary(dt);
    if matches!(dt, DataType::Null) {
        return Ok(FieldPlan::Null);
    }
    if holds(&field.kind, dt) {
        return Ok(FieldPlan::Scalar(field.kind.clone()));
    }
    Err(Mismatch {
        at: String::new(),
        found: dt.clone(),
        wanted: readable(dt)
            .then(|| format!("field `{}` ({}) of {}", field.name, field.kind, owner.name)),
    })
}

/// The type to read a column of `dt` planned as `plan` as, when a dictionary reads faster:
/// strings that become one-string records (a country code, a tag list's tags), which
/// [`build`] then looks up once per distinct string. `None` to read it as it is.
pub fn dictionary_hint(plan: &FieldPlan, dt: &DataType) -> Option<DataType> {
    match plan {
        FieldPlan::Ref(_, plan) => records_hint(plan, dt),
        _ => None,
    }
}

fn records_hint(plan: &RecordPlan, dt: &DataType) -> Option<DataType> {
    let dictionary =
        |value: DataType| DataType::Dictionary(Box::new(DataType::Int32), Box::new(value));
    match (plan, dt) {
        (
            RecordPlan::Bare(FieldPlan::Scalar(FieldKind::String)),
            DataType::Utf8 | DataType::LargeUtf8,
        ) => Some(dictionary(dt.clone())),
        (RecordPlan::List { plan, .. }, DataType::List(item)) => {
            let hint = records_hint(plan, item.data_type())?;
            Some(DataType::List(Arc::new(
                item.as_ref().clone().with_data_type(hint),
            )))
        }
        (RecordPlan::List { plan, .. }, DataType::LargeList(item)) => {
            let hint = records_hint(plan, item.data_type())?;
            Some(DataType::LargeList(Arc::new(
                item.as_ref().clone().with_data_type(hint),
            )))
        }
        _ => None,
    }
}

/// Checks that a column of `dt` can hold records of `ty`, and plans how.
fn plan_type(schema: &Schema, ty: TypeId, dt: &DataType) -> Result<RecordPlan, Mismatch> {
    let def = schema.type_def(ty).expect("type ids come from the schema");
    let dt = without_dictionary(dt);
    match (&def.kind, dt) {
        (_, DataType::Null) => Ok(RecordPlan::Null),
        (TypeKind::Object { fields, .. }, DataType::Struct(children)) => {
            let mut read = Vec::new();
            for (i, child) in children.iter().enumerate() {
                let Some(at) = fields.iter().position(|f| &f.name == child.name()) else {
                    continue;
                };
                let plan = plan_field(schema, def, &fields[at], child.data_type())
                    .map_err(|m| m.under(&format!(".{}", child.name())))?;
                read.push((i, at, plan));
            }
            Ok(RecordPlan::Struct {
                children: read,
                fields: fields.len(),
                key: key_fields(def),
            })
        }
        (TypeKind::Object { fields, .. }, _) if fields.len() == 1 => {
            Ok(RecordPlan::Bare(plan_field(schema, def, &fields[0], dt)?))
        }
        (
            TypeKind::List { element } | TypeKind::Set { element },
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _),
        ) => {
            let element = type_id(schema, element);
            let plan = plan_type(schema, element, item.data_type()).map_err(|m| m.under("[]"))?;
            Ok(RecordPlan::List {
                element,
                plan: Box::new(plan),
                set: matches!(def.kind, TypeKind::Set { .. }),
            })
        }
        (TypeKind::Map { key, value }, DataType::Map(entries, _)) => {
            let DataType::Struct(pair) = entries.data_type() else {
                return Err(type_mismatch(def, dt));
            };
            let [k, v] = &pair[..] else {
                return Err(type_mismatch(def, dt));
            };
            let (key, value) = (type_id(schema, key), type_id(schema, value));
            let kp = plan_type(schema, key, k.data_type()).map_err(|m| m.under(".key"))?;
            let vp = plan_type(schema, value, v.data_type()).map_err(|m| m.under(".value"))?;
            Ok(RecordPlan::Map {
                key: (key, Box::new(kp)),
                value: (value, Box::new(vp)),
            })
        }
        _ => Err(type_mismatch(def, dt)),
    }
}

/// The fields of `def`'s primary key that are fields of its own (a key path through a
/// reference is checked by the producer).
pub fn key_fields(def: &TypeDef) -> Vec<usize> {
    let Some(key) = def.key() else {
        return Vec::new();
    };
    key.iter()
        .filter_map(|path| match path.0.as_slice() {
            [name] => def.fields().iter().position(|f| &f.name == name),
            _ => None,
        })
        .collect()
}

/// The error for a record of `def` whose key field `field` (an index) is null.
pub fn missing_key(def: &TypeDef, field: usize) -> String {
    format!(
        "missing primary key field `{}` of type {}",
        def.fields()[field].name,
        def.name
    )
}

fn type_id(schema: &Schema, name: &str) -> TypeId {
    schema
        .type_id(name)
        .expect("the schema resolved every type name")
}

fn type_mismatch(def: &TypeDef, dt: &DataType) -> Mismatch {
    let shape = match &def.kind {
        TypeKind::Object { fields, .. } => format!("an object of {} fields", fields.len()),
        TypeKind::List { .. } => "a list".into(),
        TypeKind::Set { .. } => "a set".into(),
        TypeKind::Map { .. } => "a map".into(),
    };
    Mismatch {
        at: String::new(),
        found: dt.clone(),
        wanted: readable(dt).then(|| format!("type {} ({shape})", def.name)),
    }
}

/// A dictionary's value type; any other type as it is.
fn without_dictionary(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, value) => without_dictionary(value),
        other => other,
    }
}

/// True when a column of `dt` can hold values of the scalar `kind`.
fn holds(kind: &FieldKind, dt: &DataType) -> bool {
    use DataType as D;
    let int = dt.is_integer();
    let string = matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    match kind {
        FieldKind::Bool => matches!(dt, D::Boolean),
        FieldKind::I32 => int || matches!(dt, D::Date32 | D::Time32(_)),
        FieldKind::I64 => {
            int || matches!(
                dt,
                D::Date32
                    | D::Date64
                    | D::Timestamp(..)
                    | D::Time32(_)
                    | D::Time64(_)
                    | D::Duration(_)
            )
        }
        FieldKind::F32 | FieldKind::F64 => {
            int || dt.is_floating() || matches!(dt, D::Decimal128(..))
        }
        FieldKind::String => string,
        FieldKind::Bytes => {
            string
                || matches!(
                    dt,
                    D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)
                )
        }
        FieldKind::Reference(_) => false,
    }
}

/// True for the Arrow types this module reads.
fn readable(dt: &DataType) -> bool {
    use DataType as D;
    dt.is_integer()
        || dt.is_floating()
        || matches!(
            dt,
            D::Null
                | D::Boolean
                | D::Decimal128(..)
                | D::Date32
                | D::Date64
                | D::Timestamp(..)
                | D::Time32(_)
                | D::Time64(_)
                | D::Duration(_)
                | D::Utf8
                | D::LargeUtf8
                | D::Utf8View
                | D::Binary
                | D::LargeBinary
                | D::BinaryView
                | D::FixedSizeBinary(_)
                | D::List(_)
                | D::LargeList(_)
                | D::FixedSizeList(..)
                | D::Struct(_)
                | D::Map(..)
                | D::Dictionary(..)
        )
}

/// A value that does not fit: at `index` of the array being converted, `at` below it.
#[derive(Debug)]
pub struct BadValue {
    /// The index in the array (the row, for a batch's column).
    pub index: usize,
    /// Where below the value: `[2]`, `.name`.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl BadValue {
    /// An error `message` about the value at `index`.
    pub fn new(index: usize, message: String) -> Self {
        BadValue {
            index,
            at: String::new(),
            message,
        }
    }

    /// The same error, below `step` of the value.
    fn under(mut self, step: &str) -> Self {
        self.at.insert_str(0, step);
        self
    }

    /// The same error seen from a list whose element `element` of `index` it is.
    fn in_element(mut self, index: usize, element: usize) -> Self {
        self.at.insert_str(0, &format!("[{element}]"));
        self.index = index;
        self
    }
}

/// Every value of `array` as a value of the field `plan` was made for; referenced records
/// go to `sink` first.
pub fn field_values(
    sink: &mut dyn RecordSink,
    plan: &FieldPlan,
    array: &dyn Array,
) -> Result<Vec<Value>, BadValue> {
    match plan {
        FieldPlan::Null => Ok(vec![Value::Null; array.len()]),
        FieldPlan::Scalar(kind) => scalars(kind, array),
        FieldPlan::Ref(ty, plan) => Ok(records(sink, *ty, plan, array)?
            .into_iter()
            .map(|o| o.map_or(Value::Null, Value::Ref))
            .collect()),
    }
}

/// A value of a reference column, its own children already in the sink.
#[derive(Debug, Clone)]
pub enum Built {
    /// Null: no record.
    Null,
    /// A record the sink already holds (a one-string record, found by its string; a list).
    Added(Ordinal),
    /// A record still to add.
    Record(Record),
}

impl Built {
    /// Adds the record (if it is one still to add) as a record of `ty`; the value that
    /// refers to it.
    pub fn add(self, sink: &mut dyn RecordSink, ty: TypeId) -> shoal_format::Result<Value> {
        Ok(match self {
            Built::Null => Value::Null,
            Built::Added(o) => Value::Ref(o),
            Built::Record(record) => Value::Ref(sink.add(ty, record)?),
        })
    }
}

/// Every value of `array` as a record of `ty` added to `sink` (`None` for a null).
fn records(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    plan: &RecordPlan,
    array: &dyn Array,
) -> Result<Vec<Option<Ordinal>>, BadValue> {
    if let Some(ordinals) = added(sink, ty, plan, array)? {
        return Ok(ordinals);
    }
    build(sink, ty, plan, array)?
        .into_iter()
        .enumerate()
        .map(|(i, built)| match built.add(sink, ty) {
            Ok(Value::Ref(o)) => Ok(Some(o)),
            Ok(_) => Ok(None),
            Err(e) => Err(BadValue::new(i, e.to_string())),
        })
        .collect()
}

/// Every value of `array` as a record of `ty`: the records it refers to are added to `sink`
/// first. Lists, sets and one-string records are added here, the column's at once, packed
/// (the producer takes a column's children before its roots: records of one type still come
/// in row order, so the ordinals are those of adding each just before its root); objects
/// and maps are built to be added just before their root record, row by row.
pub fn build(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    plan: &RecordPlan,
    array: &dyn Array,
) -> Result<Vec<Built>, BadValue> {
    if let Some(ordinals) = added(sink, ty, plan, array)? {
        return Ok(ordinals
            .into_iter()
            .map(|o| o.map_or(Built::Null, Built::Added))
            .collect());
    }
    if let DataType::Dictionary(..) = array.data_type() {
        let flat = flatten(array)?;
        return build(sink, ty, plan, flat.as_ref());
    }
    let record = |r: Option<Record>| r.map_or(Built::Null, Built::Record);
    Ok(match plan {
        RecordPlan::Null => vec![Built::Null; array.len()],
        RecordPlan::Struct {
            children,
            fields,
            key,
        } => {
            let objects = structs(sink, array.as_struct(), children, *fields)?;
            check_keys(sink.schema(), ty, key, &objects)?;
            objects.into_iter().map(record).collect()
        }
        RecordPlan::Bare(field) => field_values(sink, field, array)?
            .into_iter()
            .map(|v| match v {
                Value::Null => Built::Null,
                v => Built::Record(Record::Object(vec![v])),
            })
            .collect(),
        RecordPlan::Map { key, value } => maps(sink, array.as_map(), key, value)?
            .into_iter()
            .map(|m| record(m.map(Record::Map)))
            .collect(),
        RecordPlan::List { .. } => {
            let message = format!("{} is not a list column", array.data_type());
            return Err(BadValue::new(0, message));
        }
    })
}

/// The list (or set) records of `flat`, each added to `sink` packed (no `Vec` per list); a
/// set is brought into its canonical order first.
fn packed_lists(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    set: bool,
    flat: Flat,
) -> Result<Vec<Option<Ordinal>>, BadValue> {
    let mut packed = Vec::new();
    let mut elements = Vec::new();
    let mut add = |i: usize, items: &[Ordinal]| {
        packed.clear();
        if set {
            elements.clear();
            elements.extend_from_slice(items);
            elements.sort_unstable();
            elements.dedup();
            Rows::pack_list(true, &elements, &mut packed);
        } else {
            Rows::pack_list(false, items, &mut packed);
        }
        sink.add_packed(ty, &packed)
            .map(Some)
            .map_err(|e| BadValue::new(i, e.to_string()))
    };
    let Flat { items, lists } = flat;
    lists
        .into_iter()
        .enumerate()
        .map(|(i, list)| list.map_or(Ok(None), |range| add(i, &items[range])))
        .collect()
}

/// Fails for the first object whose key field (one of `key`) is null.
fn check_keys(
    schema: &Schema,
    ty: TypeId,
    key: &[usize],
    objects: &[Option<Record>],
) -> Result<(), BadValue> {
    let def = schema.type_def(ty).expect("type ids come from the schema");
    for (i, object) in objects.iter().enumerate() {
        let Some(Record::Object(values)) = object else {
            continue;
        };
        if let Some(&k) = key.iter().find(|&&k| values[k].is_null()) {
            let bad = BadValue::new(i, missing_key(def, k));
            return Err(bad.under(&format!(".{}", def.fields()[k].name)));
        }
    }
    Ok(())
}

/// A dictionary column as the column of its values.
fn flatten(array: &dyn Array) -> Result<arrow_array::ArrayRef, BadValue> {
    super::scalars::flatten(array).map_err(|m| BadValue::new(0, m))
}

/// True for the Arrow string types.
pub fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// String `i` of a string array (see [`is_string`]).
pub fn string_at(array: &dyn Array, i: usize) -> &str {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i),
        _ => array.as_string_view().value(i),
    }
}

/// The records of `array` that are added to `sink` for the whole column at once, when
/// `plan` makes such records: one-string records (a country code, a tag) and lists (or
/// sets). `None` for objects and maps, which are built to be added row by row.
pub fn added(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    plan: &RecordPlan,
    array: &dyn Array,
) -> Result<Option<Vec<Option<Ordinal>>>, BadValue> {
    let RecordPlan::List { element, plan, set } = plan else {
        return one_strings(sink, ty, plan, array);
    };
    let lists = match array.data_type() {
        DataType::List(_) => lists(sink, array.as_list::<i32>(), *element, plan)?,
        DataType::LargeList(_) => lists(sink, array.as_list::<i64>(), *element, plan)?,
        DataType::FixedSizeList(..) => {
            fixed_lists(sink, array.as_fixed_size_list(), *element, plan)?
        }
        _ => return Ok(None), // a dictionary, flattened by `build` first
    };
    packed_lists(sink, ty, *set, lists).map(Some)
}

/// The one-string records (a country code, a tag) of a string column, or of a dictionary
/// of strings, when `plan` makes such records: added to `sink` at once, with no record
/// built. `None` for any other plan or column.
fn one_strings(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    plan: &RecordPlan,
    array: &dyn Array,
) -> Result<Option<Vec<Option<Ordinal>>>, BadValue> {
    if !matches!(plan, RecordPlan::Bare(FieldPlan::Scalar(FieldKind::String))) {
        return Ok(None);
    }
    match array.data_type() {
        DataType::Dictionary(_, value) if is_string(value) => {
            dictionary_strings(sink, ty, array).map(Some)
        }
        dt if is_string(dt) => bare_strings(sink, ty, array).map(Some),
        _ => Ok(None),
    }
}

/// One-string records from a dictionary column of strings (as Parquet stores a column of
/// few distinct values): a string the rows use is looked up once, at its first row, so the
/// records come in the order the rows give them, and each later row that uses it is given
/// to the sink by its ordinal ([`RecordSink::add_str_again`]). A tag list column of a
/// million rows looks up a few hundred strings, not millions.
fn dictionary_strings(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    array: &dyn Array,
) -> Result<Vec<Option<Ordinal>>, BadValue> {
    let dict = array.as_any_dictionary();
    let values = dict.values().as_ref();
    let mut known: Vec<Option<Ordinal>> = vec![None; values.len()];
    let mut out = Vec::with_capacity(array.len());
    for (i, k) in dict.normalized_keys().into_iter().enumerate() {
        if array.is_null(i) || values.is_null(k) {
            out.push(None);
            continue;
        }
        let added = match known[k] {
            Some(o) => sink.add_str_again(ty, o),
            None => sink.add_str(ty, string_at(values, k)),
        };
        let o = added.map_err(|e| BadValue::new(i, e.to_string()))?;
        known[k] = Some(o);
        out.push(Some(o));
    }
    Ok(out)
}

/// One-string records (a country code, a tag) straight from a string column: the sink finds
/// a known string without building a record.
fn bare_strings(
    sink: &mut dyn RecordSink,
    ty: TypeId,
    array: &dyn Array,
) -> Result<Vec<Option<Ordinal>>, BadValue> {
    let mut out = Vec::with_capacity(array.len());
    let mut add = |i: usize, s: Option<&str>| -> Result<(), BadValue> {
        let ordinal = match s {
            Some(s) => Some(
                sink.add_str(ty, s)
                    .map_err(|e| BadValue::new(i, e.to_string()))?,
            ),
            None => None,
        };
        out.push(ordinal);
        Ok(())
    };
    match array.data_type() {
        DataType::Utf8 => {
            for (i, s) in array.as_string::<i32>().iter().enumerate() {
                add(i, s)?;
            }
        }
        DataType::LargeUtf8 => {
            for (i, s) in array.as_string::<i64>().iter().enumerate() {
                add(i, s)?;
            }
        }
        _ => {
            for (i, s) in array.as_string_view().iter().enumerate() {
                add(i, s)?;
            }
        }
    }
    Ok(out)
}

/// The object records of a struct column (`None` where the struct is null).
fn structs(
    sink: &mut dyn RecordSink,
    a: &StructArray,
    children: &[(usize, usize, FieldPlan)],
    fields: usize,
) -> Result<Vec<Option<Record>>, BadValue> {
    let mut columns: Vec<Option<std::vec::IntoIter<Value>>> = (0..fields).map(|_| None).collect();
    for (child, field, plan) in children {
        let values = field_values(sink, plan, a.column(*child).as_ref()).map_err(|mut bad| {
            let name = a.fields()[*child].name();
            bad.at.insert_str(0, &format!(".{name}"));
            bad
        })?;
        columns[*field] = Some(values.into_iter());
    }
    Ok((0..a.len())
        .map(|i| {
            let values = columns
                .iter_mut()
                .map(|c| c.as_mut().and_then(Iterator::next).unwrap_or(Value::Null))
                .collect();
            (!a.is_null(i)).then_some(Record::Object(values))
        })
        .collect())
}

/// The list (or map) of `offsets` that holds element `element`, and its place in it.
fn locate<O: OffsetSizeTrait>(offsets: &[O], element: usize) -> (usize, usize) {
    let list = offsets
        .partition_point(|o| o.as_usize() <= element)
        .saturating_sub(1);
    (list, element - offsets[list].as_usize())
}

/// The element records of a list column's values, none of them null.
fn elements(
    sink: &mut dyn RecordSink,
    values: &dyn Array,
    element: TypeId,
    plan: &RecordPlan,
) -> Result<Vec<Ordinal>, BadValue> {
    let elements = records(sink, element, plan, values)?;
    if let Some(i) = elements.iter().position(Option::is_none) {
        let def = sink.schema().type_def(element);
        let name = def.map_or("", |d| d.name.as_str());
        return Err(BadValue::new(
            i,
            format!("expected a value for type {name}, found null"),
        ));
    }
    Ok(elements.into_iter().flatten().collect())
}

/// The lists of a list column: every element's ordinal, one after another, and where each
/// list's elements are among them (`None` for a null list).
struct Flat {
    items: Vec<Ordinal>,
    lists: Vec<Option<std::ops::Range<usize>>>,
}

fn lists<O: OffsetSizeTrait>(
    sink: &mut dyn RecordSink,
    a: &GenericListArray<O>,
    element: TypeId,
    plan: &RecordPlan,
) -> Result<Flat, BadValue> {
    let offsets = a.value_offsets();
    let (start, end) = (offsets[0].as_usize(), offsets[a.len()].as_usize());
    let values = a.values().slice(start, end - start);
    let items = elements(sink, values.as_ref(), element, plan).map_err(|bad| {
        let (list, at) = locate(offsets, start + bad.index);
        bad.in_element(list, at)
    })?;
    let lists = offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| (!a.is_null(i)).then(|| w[0].as_usize() - start..w[1].as_usize() - start))
        .collect();
    Ok(Flat { items, lists })
}

fn fixed_lists(
    sink: &mut dyn RecordSink,
    a: &FixedSizeListArray,
    element: TypeId,
    plan: &RecordPlan,
) -> Result<Flat, BadValue> {
    // Slicing a fixed-size list slices its values: they start at 0.
    let size = a.value_length().max(0) as usize;
    let values = a.values().slice(0, a.len() * size);
    let items = elements(sink, values.as_ref(), element, plan).map_err(|bad| {
        let (list, at) = (bad.index / size.max(1), bad.index % size.max(1));
        bad.in_element(list, at)
    })?;
    let lists = (0..a.len())
        .map(|i| (!a.is_null(i)).then_some(i * size..(i + 1) * size))
        .collect();
    Ok(Flat { items, lists })
}

type Pairs = Vec<(Ordinal, Ordinal)>;

fn maps(
    sink: &mut dyn RecordSink,
    a: &MapArray,
    key: &(TypeId, Box<RecordPlan>),
    value: &(TypeId, Box<RecordPlan>),
) -> Result<Vec<Option<Pairs>>, BadValue> {
    let offsets = a.value_offsets();
    let (start, end) = (offsets[0] as usize, offsets[a.len()] as usize);
    let place = |bad: BadValue| {
        let (map, at) = locate(offsets, start + bad.index);
        bad.in_element(map, at)
    };
    let keys = a.keys().slice(start, end - start);
    let values = a.values().slice(start, end - start);
    let keys = elements(sink, keys.as_ref(), key.0, &key.1).map_err(place)?;
    let values = elements(sink, values.as_ref(), value.0, &value.1).map_err(place)?;
    let mut pairs = keys.into_iter().zip(values);
    Ok(offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let map: Pairs = pairs.by_ref().take((w[1] - w[0]) as usize).collect();
            (!a.is_null(i)).then_some(map)
        })
        .collect())
}

/// The values of a scalar column as values of `kind` (checked by [`plan_field`]).
fn scalars(kind: &FieldKind, a: &dyn Array) -> Result<Vec<Value>, BadValue> {
    let column = Scalars::new(kind, a).map_err(|m| BadValue::new(0, m))?;
    (0..a.len())
        .map(|i| {
            let value = column.at(i).map_err(|m| BadValue::new(i, m))?;
            Ok(value.to_value())
        })
        .collect()
}
