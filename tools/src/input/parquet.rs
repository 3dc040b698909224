//! Parquet input: a file's rows as JSON objects the [`Converter`](super::Converter) takes,
//! read batch by batch (never the whole file), numbered from 1 across row groups.
//!
//! Columns map to the root type's fields by name. [`ParquetFile::open`] reads the footer
//! only and checks every such column against its field before any row is read: an `i32`
//! field takes any integer column (its range is checked row by row), a `string` field a
//! string column, a reference to a one-field type that field's column (or a struct), a list
//! or set a list column, a map a map column. A field with no column is null in every row; a
//! column with no field is not read at all ([`ParquetFile::ignored_columns`] names them).
//!
//! | Arrow type | JSON |
//! |---|---|
//! | Boolean | `true`, `false` |
//! | Int8..Int64, UInt8..UInt64 | a number |
//! | Date32, Date64, Timestamp, Time32, Time64, Duration | the number in the type's unit |
//! | Float16, Float32, Float64, Decimal128 | a number (a NaN or an infinity is an error) |
//! | Utf8, LargeUtf8, Utf8View | a string |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | an array of bytes |
//! | Dictionary | its value's JSON |
//! | List, LargeList, FixedSizeList | an array |
//! | Struct | an object of the children that are fields of the type |
//! | Map | an object, keys as text |
//! | Null, and any null value | `null` |
//!
//! Any other Arrow type (Decimal256, Interval, Union, list views, run-end encoding) is an
//! error naming the column, before any row.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, FixedSizeListArray, Float64Array,
    GenericListArray, Int64Array, MapArray, NullArray, OffsetSizeTrait, PrimitiveArray,
    RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde_json::{Map, Value as Json};
use shoal_format::{FieldDef, FieldKind, Schema, TypeDef, TypeKind};

use super::{describe, InputError, Problem};

/// Reads the Parquet file at `path` as records of `root` and hands each row, as a JSON
/// object, to `each` with its row number (from 1, across row groups). Returns how many rows
/// were read. Columns that do not fit their fields fail before any row; see the module doc.
pub fn read(
    path: &Path,
    schema: &Schema,
    root: &str,
    each: impl FnMut(u64, &Json) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    ParquetFile::open(path, schema, root)?.read(each)
}

/// A Parquet file opened for rows of a root type: its footer read, its columns checked
/// against the type's fields, no row read yet.
pub struct ParquetFile {
    name: String,
    builder: ParquetRecordBatchReaderBuilder<File>,
    columns: Vec<Column>,
    missing: Vec<String>,
    ignored: Vec<String>,
}

/// A column read as a field of the root type.
struct Column {
    /// Where its values come from.
    from: Origin,
    name: String,
    plan: Plan,
}

/// Where a column's values come from.
enum Origin {
    /// The file's top-level column of this index.
    File(usize),
    /// A partition folder (`year=1995/`): one value for every row of the file.
    Partition(PartitionValue),
}

/// The value of a partition folder, typed by its field.
#[derive(Debug, Clone, PartialEq)]
enum PartitionValue {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl PartitionValue {
    /// `text` (Hive's escaping undone by the caller) as a value of the scalar `kind`.
    fn parse(text: &str, kind: &FieldKind) -> Result<Self, String> {
        if text == HIVE_NULL {
            return Ok(PartitionValue::Null);
        }
        let bad = |what: &str| format!("{text:?} is not {what}");
        Ok(match kind {
            FieldKind::I32 | FieldKind::I64 => {
                PartitionValue::Int(text.parse().map_err(|_| bad("an integer"))?)
            }
            FieldKind::F32 | FieldKind::F64 => {
                PartitionValue::Float(text.parse().map_err(|_| bad("a number"))?)
            }
            FieldKind::Bool => {
                PartitionValue::Bool(text.parse().map_err(|_| bad("true or false"))?)
            }
            FieldKind::String | FieldKind::Bytes => PartitionValue::Text(text.to_string()),
            FieldKind::Reference(_) => return Err("a partition cannot fill a reference".into()),
        })
    }

    /// The Arrow type of the column this value repeats in.
    fn data_type(&self) -> DataType {
        match self {
            PartitionValue::Null => DataType::Null,
            PartitionValue::Int(_) => DataType::Int64,
            PartitionValue::Float(_) => DataType::Float64,
            PartitionValue::Bool(_) => DataType::Boolean,
            PartitionValue::Text(_) => DataType::Utf8,
        }
    }

    /// A column of `rows` copies of the value.
    fn repeat(&self, rows: usize) -> ArrayRef {
        match self {
            PartitionValue::Null => Arc::new(NullArray::new(rows)),
            PartitionValue::Int(v) => Arc::new(Int64Array::from_value(*v, rows)),
            PartitionValue::Float(v) => Arc::new(Float64Array::from_value(*v, rows)),
            PartitionValue::Bool(v) => Arc::new(BooleanArray::from(vec![*v; rows])),
            PartitionValue::Text(v) => {
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, rows)))
            }
        }
    }
}

/// How a checked column becomes JSON, where its type alone does not say.
#[derive(Debug)]
enum Plan {
    /// A scalar (or an all-null column): its JSON follows from its Arrow type.
    Scalar,
    /// A list of elements.
    List(Box<Plan>),
    /// The struct's children that are fields: (child index, field name, plan).
    Struct(Vec<(usize, String, Plan)>),
    /// A map: key and value.
    Map(Box<Plan>, Box<Plan>),
}

/// How Hive (and Spark) name the partition folder of a null value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

impl ParquetFile {
    /// Opens `path`, reads its footer, and checks each column named like a field of `root`
    /// against that field. Fails naming the column, its Arrow type and the field when they
    /// do not fit, and when no column is named like a field.
    pub fn open(path: &Path, schema: &Schema, root: &str) -> Result<Self, InputError> {
        Self::open_part(path, &path.display().to_string(), schema, root, &[])
    }

    /// Opens `path` as a part file of a data set, named `name` in messages, whose partition
    /// folders gave `partitions` (`("year", "1995")`, Hive's escaping undone): each one that
    /// names a field of `root` fills that field in every row, typed by the field.
    pub fn open_part(
        path: &Path,
        name: &str,
        schema: &Schema,
        root: &str,
        partitions: &[(String, String)],
    ) -> Result<Self, InputError> {
        let name = name.to_string();
        let file =
            File::open(path).map_err(|e| InputError::file(&name, format!("cannot open: {e}")))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            InputError::file(&name, format!("not a Parquet file: {e}")).problem(Problem::NotParquet)
        })?;
        let def = schema
            .type_id(root)
            .and_then(|id| schema.type_def(id))
            .filter(|def| matches!(def.kind, TypeKind::Object { .. }))
            .ok_or_else(|| {
                InputError::file(&name, format!("{root} is not an object type of the schema"))
            })?;
        let (mut columns, mut ignored) = match_columns(&name, schema, def, &builder)?;
        partition_columns(&name, schema, def, partitions, &mut columns, &mut ignored)?;
        let missing = def
            .fields()
            .iter()
            .filter(|f| !columns.iter().any(|c| c.name == f.name))
            .map(|f| f.name.clone())
            .collect();
        Ok(ParquetFile {
            name,
            builder,
            columns,
            missing,
            ignored,
        })
    }

    /// The file's Arrow schema (from its footer).
    pub fn arrow_schema(&self) -> &SchemaRef {
        self.builder.schema()
    }

    /// The file's columns (and partition keys) that are not fields of the root type: they
    /// are not read.
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored
    }

    /// The root type's fields that have no column: null in every row.
    pub fn missing_fields(&self) -> &[String] {
        &self.missing
    }

    /// How many rows the footer says the file holds.
    pub fn row_count(&self) -> u64 {
        u64::try_from(self.builder.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// Reads the rows batch by batch, handing each to `each` as a JSON object (every field
    /// of the root type present, null where there is no column) with its row number.
    /// Returns how many rows were read.
    pub fn read(
        self,
        mut each: impl FnMut(u64, &Json) -> Result<(), InputError>,
    ) -> Result<u64, InputError> {
        let ParquetFile {
            name,
            builder,
            columns,
            missing,
            ..
        } = self;
        let in_file = columns.iter().filter_map(|c| match c.from {
            Origin::File(index) => Some(index),
            Origin::Partition(_) => None,
        });
        let mask = ProjectionMask::roots(builder.parquet_schema(), in_file);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| InputError::file(&name, format!("cannot read: {e}")))?;
        let mut number = 0;
        for batch in reader {
            let batch = batch.map_err(|e| {
                InputError::at(&name, "row", number + 1, format!("cannot read: {e}"))
            })?;
            let arrays = arrays(&columns, &batch);
            for row in rows(&name, &columns, &missing, &arrays, batch.num_rows(), number)? {
                number += 1;
                each(number, &row)?;
            }
        }
        Ok(number)
    }
}

/// The arrays of `columns` for one batch of the file: the batch's own (projected in file
/// order), and a repeated value for each partition.
fn arrays(columns: &[Column], batch: &RecordBatch) -> Vec<ArrayRef> {
    let mut from_file = batch.columns().iter();
    columns
        .iter()
        .map(|c| match &c.from {
            Origin::File(_) => from_file
                .next()
                .expect("one batch column per file column")
                .clone(),
            Origin::Partition(value) => value.repeat(batch.num_rows()),
        })
        .collect()
}

/// Adds a column for each partition that names a field of `def`; the others are ignored.
fn partition_columns(
    name: &str,
    schema: &Schema,
    def: &TypeDef,
    partitions: &[(String, String)],
    columns: &mut Vec<Column>,
    ignored: &mut Vec<String>,
) -> Result<(), InputError> {
    for (key, text) in partitions {
        let Some(field) = def.fields().iter().find(|f| &f.name == key) else {
            ignored.push(key.clone());
            continue;
        };
        let bad = |m: String| {
            InputError::file(name, format!("partition folder `{key}={text}`: {m}"))
                .problem(Problem::Column)
                .field(key.clone())
        };
        if columns.iter().any(|c| &c.name == key) {
            return Err(bad("the file has a column of the same name".into()));
        }
        let kind = scalar_kind(schema, &field.kind).ok_or_else(|| {
            bad(format!(
                "field `{key}` ({}) holds no single value",
                field.kind
            ))
        })?;
        let value = PartitionValue::parse(text, kind)
            .map_err(|m| bad(format!("{m} (field `{key}` is {kind})")))?;
        let plan = plan_field(schema, def, field, &value.data_type())
            .map_err(|m| bad(m.message(key, &value.data_type())))?;
        columns.push(Column {
            from: Origin::Partition(value),
            name: key.clone(),
            plan,
        });
    }
    Ok(())
}

/// The scalar kind `kind` holds: itself, or through references to one-field object types.
fn scalar_kind<'a>(schema: &'a Schema, kind: &'a FieldKind) -> Option<&'a FieldKind> {
    let FieldKind::Reference(target) = kind else {
        return Some(kind);
    };
    let def = schema.type_id(target).and_then(|id| schema.type_def(id))?;
    match (&def.kind, def.fields()) {
        (TypeKind::Object { .. }, [only]) => scalar_kind(schema, &only.kind),
        _ => None,
    }
}

/// Pairs the file's top-level columns with the fields of `def`, checking each pair.
/// Returns the columns to read, in file order, and the names of the others.
fn match_columns(
    name: &str,
    schema: &Schema,
    def: &TypeDef,
    builder: &ParquetRecordBatchReaderBuilder<File>,
) -> Result<(Vec<Column>, Vec<String>), InputError> {
    let mut columns: Vec<Column> = Vec::new();
    let mut ignored = Vec::new();
    for (index, column) in builder.schema().fields().iter().enumerate() {
        let Some(field) = def.fields().iter().find(|f| &f.name == column.name()) else {
            ignored.push(column.name().clone());
            continue;
        };
        if columns.iter().any(|c| &c.name == column.name()) {
            return Err(InputError::file(
                name,
                format!("two columns are named `{}`", column.name()),
            ));
        }
        let plan = plan_field(schema, def, field, column.data_type()).map_err(|m| {
            InputError::file(name, m.message(column.name(), column.data_type()))
                .problem(Problem::Column)
        })?;
        columns.push(Column {
            from: Origin::File(index),
            name: field.name.clone(),
            plan,
        });
    }
    if columns.is_empty() {
        let names: Vec<&str> = def.fields().iter().map(|f| f.name.as_str()).collect();
        return Err(InputError::file(
            name,
            format!(
                "no column is named like a field of {} ({}); the columns are: {}",
                def.name,
                names.join(", "),
                ignored.join(", ")
            ),
        ));
    }
    Ok((columns, ignored))
}

/// A column (or a part of one) whose Arrow type cannot hold what the schema wants.
struct Mismatch {
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

    fn message(&self, column: &str, column_type: &DataType) -> String {
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

/// Checks that `dt` can hold `field` of `owner`.
fn plan_field(
    schema: &Schema,
    owner: &TypeDef,
    field: &FieldDef,
    dt: &DataType,
) -> Result<Plan, Mismatch> {
    if let FieldKind::Reference(target) = &field.kind {
        return plan_type(schema, target, dt);
    }
    let dt = without_dictionary(dt);
    if matches!(dt, DataType::Null) || holds(&field.kind, dt) {
        return Ok(Plan::Scalar);
    }
    Err(Mismatch {
        at: String::new(),
        found: dt.clone(),
        wanted: readable(dt)
            .then(|| format!("field `{}` ({}) of {}", field.name, field.kind, owner.name)),
    })
}

/// Checks that `dt` can hold a record of the type named `name`.
fn plan_type(schema: &Schema, name: &str, dt: &DataType) -> Result<Plan, Mismatch> {
    let def = schema
        .type_id(name)
        .and_then(|id| schema.type_def(id))
        .expect("the schema resolved every type name");
    let dt = without_dictionary(dt);
    match (&def.kind, dt) {
        (_, DataType::Null) => Ok(Plan::Scalar),
        (TypeKind::Object { fields, .. }, DataType::Struct(children)) => {
            let mut picked = Vec::new();
            for (i, child) in children.iter().enumerate() {
                let Some(field) = fields.iter().find(|f| &f.name == child.name()) else {
                    continue;
                };
                let plan = plan_field(schema, def, field, child.data_type())
                    .map_err(|m| m.under(&format!(".{}", child.name())))?;
                picked.push((i, field.name.clone(), plan));
            }
            Ok(Plan::Struct(picked))
        }
        (TypeKind::Object { fields, .. }, _) if fields.len() == 1 => {
            plan_field(schema, def, &fields[0], dt)
        }
        (
            TypeKind::List { element } | TypeKind::Set { element },
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _),
        ) => {
            let plan = plan_type(schema, element, item.data_type()).map_err(|m| m.under("[]"))?;
            Ok(Plan::List(Box::new(plan)))
        }
        (TypeKind::Map { key, value }, DataType::Map(entries, _)) => {
            let DataType::Struct(pair) = entries.data_type() else {
                return Err(type_mismatch(def, dt));
            };
            let [k, v] = &pair[..] else {
                return Err(type_mismatch(def, dt));
            };
            let key = plan_type(schema, key, k.data_type()).map_err(|m| m.under(".key"))?;
            let value = plan_type(schema, value, v.data_type()).map_err(|m| m.under(".value"))?;
            Ok(Plan::Map(Box::new(key), Box::new(value)))
        }
        _ => Err(type_mismatch(def, dt)),
    }
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

/// True for the Arrow types this module turns into JSON.
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

/// The rows of one batch (`arrays`, one per column, of `count` rows) as JSON objects;
/// `before` rows of the file came before it.
fn rows(
    name: &str,
    columns: &[Column],
    missing: &[String],
    arrays: &[ArrayRef],
    count: usize,
    before: u64,
) -> Result<Vec<Json>, InputError> {
    let mut values = Vec::with_capacity(columns.len());
    for (column, array) in columns.iter().zip(arrays) {
        let json = convert(array.as_ref(), &column.plan).map_err(|bad| {
            InputError::at(name, "row", before + bad.index as u64 + 1, bad.message)
                .field(format!("{}{}", column.name, bad.at))
        })?;
        values.push(json.into_iter());
    }
    let rows = (0..count)
        .map(|_| {
            let mut row = Map::with_capacity(columns.len() + missing.len());
            for (column, values) in columns.iter().zip(&mut values) {
                row.insert(column.name.clone(), values.next().unwrap_or(Json::Null));
            }
            for field in missing {
                row.insert(field.clone(), Json::Null);
            }
            Json::Object(row)
        })
        .collect();
    Ok(rows)
}

/// A value JSON cannot carry: at `index` of the array being converted, `at` below it.
struct BadValue {
    index: usize,
    at: String,
    message: String,
}

impl BadValue {
    fn new(index: usize, message: String) -> Self {
        BadValue {
            index,
            at: String::new(),
            message,
        }
    }

    /// The same error seen from a list whose element `element` of `index` it is.
    fn in_element(mut self, index: usize, element: usize) -> Self {
        self.at.insert_str(0, &format!("[{element}]"));
        self.index = index;
        self
    }
}

/// Every value of `array`, column-wise, as JSON.
fn convert(array: &dyn Array, plan: &Plan) -> Result<Vec<Json>, BadValue> {
    use DataType as D;
    let a = array;
    Ok(match (a.data_type(), plan) {
        (D::Null, _) => vec![Json::Null; a.len()],
        (D::Dictionary(..), _) => {
            let dict = a.as_any_dictionary();
            let flat = arrow_select::take::take(dict.values().as_ref(), dict.keys(), None)
                .map_err(|e| BadValue::new(0, format!("cannot read a dictionary: {e}")))?;
            return convert(flat.as_ref(), plan);
        }
        (D::Boolean, _) => nullable(a.as_boolean().iter().map(|v| v.map(Json::Bool))),
        (D::Int8, _) => ints::<Int8Type>(a),
        (D::Int16, _) => ints::<Int16Type>(a),
        (D::Int32, _) => ints::<Int32Type>(a),
        (D::Int64, _) => ints::<Int64Type>(a),
        (D::UInt8, _) => ints::<UInt8Type>(a),
        (D::UInt16, _) => ints::<UInt16Type>(a),
        (D::UInt32, _) => ints::<UInt32Type>(a),
        (D::UInt64, _) => ints::<UInt64Type>(a),
        (D::Float16, _) => floats(a.as_primitive::<Float16Type>(), |v| v.to_f64())?,
        (D::Float32, _) => floats(a.as_primitive::<Float32Type>(), f64::from)?,
        (D::Float64, _) => floats(a.as_primitive::<Float64Type>(), |v| v)?,
        (D::Decimal128(_, scale), _) => {
            let scale = 10f64.powi(i32::from(*scale));
            floats(a.as_primitive::<Decimal128Type>(), |v| v as f64 / scale)?
        }
        (D::Date32, _) => ints::<Date32Type>(a),
        (D::Date64, _) => ints::<Date64Type>(a),
        (D::Timestamp(unit, _), _) => match unit {
            TimeUnit::Second => ints::<TimestampSecondType>(a),
            TimeUnit::Millisecond => ints::<TimestampMillisecondType>(a),
            TimeUnit::Microsecond => ints::<TimestampMicrosecondType>(a),
            TimeUnit::Nanosecond => ints::<TimestampNanosecondType>(a),
        },
        (D::Time32(TimeUnit::Second), _) => ints::<Time32SecondType>(a),
        (D::Time32(_), _) => ints::<Time32MillisecondType>(a),
        (D::Time64(TimeUnit::Microsecond), _) => ints::<Time64MicrosecondType>(a),
        (D::Time64(_), _) => ints::<Time64NanosecondType>(a),
        (D::Duration(unit), _) => match unit {
            TimeUnit::Second => ints::<DurationSecondType>(a),
            TimeUnit::Millisecond => ints::<DurationMillisecondType>(a),
            TimeUnit::Microsecond => ints::<DurationMicrosecondType>(a),
            TimeUnit::Nanosecond => ints::<DurationNanosecondType>(a),
        },
        (D::Utf8, _) => strings(a.as_string::<i32>().iter()),
        (D::LargeUtf8, _) => strings(a.as_string::<i64>().iter()),
        (D::Utf8View, _) => strings(a.as_string_view().iter()),
        (D::Binary, _) => bytes(a.as_binary::<i32>().iter()),
        (D::LargeBinary, _) => bytes(a.as_binary::<i64>().iter()),
        (D::BinaryView, _) => bytes(a.as_binary_view().iter()),
        (D::FixedSizeBinary(_), _) => bytes(a.as_fixed_size_binary().iter()),
        (D::List(_), Plan::List(element)) => list(a.as_list::<i32>(), element)?,
        (D::LargeList(_), Plan::List(element)) => list(a.as_list::<i64>(), element)?,
        (D::FixedSizeList(..), Plan::List(element)) => fixed_list(a.as_fixed_size_list(), element)?,
        (D::Struct(_), Plan::Struct(fields)) => structs(a.as_struct(), fields)?,
        (D::Map(..), Plan::Map(key, value)) => maps(a.as_map(), key, value)?,
        (other, _) => {
            return Err(BadValue::new(
                0,
                format!("{other} is not the type the column was checked as"),
            ))
        }
    })
}

fn nullable(values: impl Iterator<Item = Option<Json>>) -> Vec<Json> {
    values.map(|v| v.unwrap_or(Json::Null)).collect()
}

fn ints<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Json>
where
    Json: From<T::Native>,
{
    nullable(a.as_primitive::<T>().iter().map(|v| v.map(Json::from)))
}

fn floats<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    to_f64: impl Fn(T::Native) -> f64,
) -> Result<Vec<Json>, BadValue> {
    a.iter()
        .enumerate()
        .map(|(i, v)| {
            let Some(v) = v else {
                return Ok(Json::Null);
            };
            let x = to_f64(v);
            serde_json::Number::from_f64(x)
                .map(Json::Number)
                .ok_or_else(|| BadValue::new(i, format!("{x} is not a finite number")))
        })
        .collect()
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<Json> {
    nullable(values.map(|v| v.map(Json::from)))
}

fn bytes<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<Json> {
    nullable(values.map(|v| v.map(|b| Json::Array(b.iter().map(|&b| Json::from(b)).collect()))))
}

/// The list (or map) of `offsets` that holds element `element`, and its place in it.
fn locate<O: OffsetSizeTrait>(offsets: &[O], element: usize) -> (usize, usize) {
    let list = offsets
        .partition_point(|o| o.as_usize() <= element)
        .saturating_sub(1);
    (list, element - offsets[list].as_usize())
}

/// Groups `values` (the elements from `offsets[0]` on) into one array per list.
fn group<O: OffsetSizeTrait>(a: &dyn Array, offsets: &[O], values: Vec<Json>) -> Vec<Json> {
    let mut values = values.into_iter();
    offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let items: Vec<Json> = values.by_ref().take((w[1] - w[0]).as_usize()).collect();
            if a.is_null(i) {
                Json::Null
            } else {
                Json::Array(items)
            }
        })
        .collect()
}

fn list<O: OffsetSizeTrait>(
    a: &GenericListArray<O>,
    element: &Plan,
) -> Result<Vec<Json>, BadValue> {
    let offsets = a.value_offsets();
    let (start, end) = (offsets[0].as_usize(), offsets[a.len()].as_usize());
    let values =
        convert(a.values().slice(start, end - start).as_ref(), element).map_err(|bad| {
            let (list, at) = locate(offsets, start + bad.index);
            bad.in_element(list, at)
        })?;
    Ok(group(a, offsets, values))
}

fn fixed_list(a: &FixedSizeListArray, element: &Plan) -> Result<Vec<Json>, BadValue> {
    // Slicing a fixed-size list slices its values: they start at 0.
    let size = a.value_length().max(0) as usize;
    let values = convert(a.values().slice(0, a.len() * size).as_ref(), element).map_err(|bad| {
        let (list, at) = (bad.index / size.max(1), bad.index % size.max(1));
        bad.in_element(list, at)
    })?;
    let mut values = values.into_iter();
    Ok((0..a.len())
        .map(|i| {
            let items: Vec<Json> = values.by_ref().take(size).collect();
            if a.is_null(i) {
                Json::Null
            } else {
                Json::Array(items)
            }
        })
        .collect())
}

fn structs(a: &StructArray, fields: &[(usize, String, Plan)]) -> Result<Vec<Json>, BadValue> {
    let mut children = Vec::with_capacity(fields.len());
    for (child, name, plan) in fields {
        let values = convert(a.column(*child).as_ref(), plan).map_err(|mut bad| {
            bad.at.insert_str(0, &format!(".{name}"));
            bad
        })?;
        children.push((name, values.into_iter()));
    }
    Ok((0..a.len())
        .map(|i| {
            let mut object = Map::with_capacity(children.len());
            for (name, values) in &mut children {
                object.insert((*name).clone(), values.next().unwrap_or(Json::Null));
            }
            if a.is_null(i) {
                Json::Null
            } else {
                Json::Object(object)
            }
        })
        .collect())
}

fn maps(a: &MapArray, key: &Plan, value: &Plan) -> Result<Vec<Json>, BadValue> {
    let offsets = a.value_offsets();
    let (start, end) = (offsets[0] as usize, offsets[a.len()] as usize);
    let place = |bad: BadValue| {
        let (map, at) = locate(offsets, start + bad.index);
        bad.in_element(map, at)
    };
    let keys = convert(a.keys().slice(start, end - start).as_ref(), key).map_err(place)?;
    let values = convert(a.values().slice(start, end - start).as_ref(), value).map_err(place)?;
    let mut pairs = keys.into_iter().zip(values).enumerate();
    let mut out = Vec::with_capacity(a.len());
    for (i, w) in offsets.windows(2).enumerate() {
        let mut object = Map::new();
        for (entry, (k, v)) in pairs.by_ref().take((w[1] - w[0]) as usize) {
            let text = key_text(k).map_err(|message| place(BadValue::new(entry, message)))?;
            object.insert(text, v);
        }
        out.push(if a.is_null(i) {
            Json::Null
        } else {
            Json::Object(object)
        });
    }
    Ok(out)
}

/// A map key as the text of a JSON object key.
fn key_text(key: Json) -> Result<String, String> {
    match key {
        Json::String(s) => Ok(s),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "a map key must be a string, a number or a bool, found {}",
            describe(&other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Converter;
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float64Array, Int16Array, Int32Array,
        Int64Array, LargeStringArray, ListArray, StringArray,
    };
    use arrow_schema::Field;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use serde_json::json;
    use shoal_format::{DataState, Record, StateBuilder, Value};
    use std::path::PathBuf;
    use std::sync::Arc;

    const SCHEMA: &str = r#"
root = "Movie"
[types.Movie]
key = ["id"]
fields = ["id: i64", "title: string", "year: i32", "rating: f64", "country: Country",
    "tags: TagList", "cast: Cast", "studio: Studio", "poster: bytes", "seen: bool",
    "budget: i64"]
[types.Country]
fields = ["code: string"]
[types.TagList]
list = "Tag"
[types.Tag]
fields = ["name: string"]
[types.Cast]
map = ["Role", "Person"]
[types.Role]
fields = ["name: string"]
[types.Person]
fields = ["name: string", "born: i32"]
[types.Studio]
fields = ["name: string", "founded: i32"]
"#;

    fn schema() -> Schema {
        crate::schema_file::parse(SCHEMA).unwrap().schema
    }

    fn write(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>, group: usize) -> PathBuf {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let path = dir.join(name);
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let file = File::create(&path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        path
    }

    fn read_all(path: &Path, schema: &Schema) -> Result<Vec<(u64, Json)>, InputError> {
        let mut rows = Vec::new();
        read(path, schema, "Movie", |n, row| {
            rows.push((n, row.clone()));
            Ok(())
        })?;
        Ok(rows)
    }

    fn state_of(schema: &Arc<Schema>, rows: &[Json]) -> DataState {
        let converter = Converter::new(schema, "Movie").unwrap();
        let mut sink = StateBuilder::new(schema.clone());
        for row in rows {
            converter.add_row(&mut sink, row).unwrap();
        }
        sink.finish()
    }

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn tag_lists(lists: &[Option<&[&str]>]) -> ArrayRef {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for list in lists {
            match list {
                Some(tags) => {
                    for tag in *tags {
                        builder.values().append_value(tag);
                    }
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        Arc::new(builder.finish())
    }

    /// A map of role to person: `lead -> {Al, 1940}` in row 1, null in row 2.
    fn cast() -> ArrayRef {
        let person = StructArray::from(vec![
            (
                Arc::new(Field::new("name", DataType::Utf8, true)),
                strings(&[Some("Al")]),
            ),
            (
                Arc::new(Field::new("born", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![1940])) as ArrayRef,
            ),
        ]);
        let map = MapArray::new_from_strings(["lead"].into_iter(), &person, &[0, 1, 1]).unwrap();
        let (field, offsets, entries, _, ordered) = map.into_parts();
        let nulls = Int32Array::from(vec![Some(1), None]).nulls().cloned();
        Arc::new(MapArray::try_new(field, offsets, entries, nulls, ordered).unwrap())
    }

    /// A studio with an extra child that is no field: `{WB, 1923}` in row 1, null in row 2.
    fn studio() -> ArrayRef {
        let fields = vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("founded", DataType::Int64, true),
            Field::new("website", DataType::Utf8, true),
        ];
        let children = vec![
            strings(&[Some("WB"), None]),
            Arc::new(Int64Array::from(vec![1923, 0])) as ArrayRef,
            strings(&[Some("wb.com"), None]),
        ];
        let nulls = Int32Array::from(vec![Some(1), None]).nulls().cloned();
        Arc::new(StructArray::try_new(fields.into(), children, nulls).unwrap())
    }

    /// Two movies in every shape the schema has; the second one all nulls but its key.
    fn movies(dir: &Path) -> PathBuf {
        let country: DictionaryArray<Int32Type> = vec![Some("US"), None].into_iter().collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2]))),
            (
                "title",
                Arc::new(LargeStringArray::from(vec![Some("Heat"), None])),
            ),
            ("year", Arc::new(Int16Array::from(vec![Some(1995), None]))),
            (
                "rating",
                Arc::new(Float64Array::from(vec![Some(8.3), None])),
            ),
            ("country", Arc::new(country)),
            ("tags", tag_lists(&[Some(&["crime", "la"]), None])),
            ("cast", cast()),
            ("studio", studio()),
            (
                "poster",
                Arc::new(BinaryArray::from(vec![Some(&[1u8, 2, 255][..]), None])),
            ),
            ("seen", Arc::new(BooleanArray::from(vec![Some(true), None]))),
            ("views", Arc::new(Int32Array::from(vec![10, 20]))),
        ];
        write(dir, "movies.parquet", columns, 1000)
    }

    fn movies_as_json() -> [Json; 2] {
        [
            json!({"id": 1, "title": "Heat", "year": 1995, "rating": 8.3, "country": "US",
                "tags": ["crime", "la"], "cast": {"lead": {"name": "Al", "born": 1940}},
                "studio": {"name": "WB", "founded": 1923}, "poster": [1, 2, 255],
                "seen": true, "budget": null}),
            json!({"id": 2, "title": null, "year": null, "rating": null, "country": null,
                "tags": null, "cast": null, "studio": null, "poster": null, "seen": null,
                "budget": null}),
        ]
    }

    #[test]
    fn rows_read_as_the_json_of_the_same_rows_and_make_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = movies(dir.path());
        let schema = Arc::new(schema());
        let rows = read_all(&path, &schema).unwrap();
        let expected = movies_as_json();
        assert_eq!(rows, [(1, expected[0].clone()), (2, expected[1].clone())]);
        let read: Vec<Json> = rows.into_iter().map(|(_, row)| row).collect();
        assert_eq!(state_of(&schema, &read), state_of(&schema, &expected));

        let file = ParquetFile::open(&path, &schema, "Movie").unwrap();
        assert_eq!(file.ignored_columns(), ["views"]);
        assert_eq!(file.missing_fields(), ["budget"]);
        assert_eq!(file.row_count(), 2);
    }

    #[test]
    fn nulls_and_missing_columns_are_null_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = movies(dir.path());
        let schema = Arc::new(schema());
        let rows: Vec<Json> = read_all(&path, &schema)
            .unwrap()
            .into_iter()
            .map(|(_, row)| row)
            .collect();
        let state = state_of(&schema, &rows);
        let movie = schema.type_id("Movie").unwrap();
        let (_, second) = state
            .records(movie)
            .find(|(_, r)| matches!(r, Record::Object(v) if v[0] == Value::I64(2)))
            .unwrap();
        let Record::Object(values) = second else {
            panic!("{second:?}")
        };
        assert!(values[1..].iter().all(Value::is_null), "{values:?}");
    }

    #[test]
    fn row_numbers_run_on_across_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let schema = schema();
        let mut ratings = vec![5.0; 3000];
        ratings[1699] = f64::NAN;
        let path = write(
            dir.path(),
            "big.parquet",
            vec![
                ("id", Arc::new(Int64Array::from_iter_values(0..3000))),
                ("rating", Arc::new(Float64Array::from(ratings))),
            ],
            1000,
        );
        let file = ParquetFile::open(&path, &schema, "Movie").unwrap();
        assert_eq!(file.builder.metadata().num_row_groups(), 3);
        let e = read_all(&path, &schema).unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 1700));
        assert_eq!(e.field.as_deref(), Some("rating"));
        assert!(e.message.contains("NaN is not a finite number"), "{e}");

        let mut years = vec![2000i64; 3000];
        years[2500] = 3_000_000_000;
        let path = write(
            dir.path(),
            "year.parquet",
            vec![
                ("id", Arc::new(Int64Array::from_iter_values(0..3000))),
                ("year", Arc::new(Int64Array::from(years))),
            ],
            1000,
        );
        let converter = Converter::new(&schema, "Movie").unwrap();
        let mut sink = StateBuilder::new(Arc::new(schema.clone()));
        let name = path.display().to_string();
        let e = read(&path, &schema, "Movie", |n, row| {
            converter
                .add_row(&mut sink, row)
                .map(drop)
                .map_err(|e| e.at(&name, "row", n))
        })
        .unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 2501));
        assert_eq!(e.field.as_deref(), Some("year"));
    }

    #[test]
    fn a_bad_value_inside_a_list_names_the_element() {
        let dir = tempfile::tempdir().unwrap();
        let schema = crate::schema_file::parse(
            "root = \"Movie\"\n[types.Movie]\nfields = [\"scores: Scores\"]\n\
             [types.Scores]\nlist = \"Score\"\n[types.Score]\nfields = [\"value: f64\"]\n",
        )
        .unwrap()
        .schema;
        let scores = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0)]),
            Some(vec![Some(2.0), Some(f64::INFINITY)]),
        ]);
        let path = write(
            dir.path(),
            "s.parquet",
            vec![("scores", Arc::new(scores))],
            10,
        );
        let e = read_all(&path, &schema).unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 2));
        assert_eq!(e.field.as_deref(), Some("scores[1]"));
    }

    #[test]
    fn a_column_of_the_wrong_type_fails_before_any_row() {
        let dir = tempfile::tempdir().unwrap();
        let schema = schema();
        let fails = |name: &str, columns: Vec<(&str, ArrayRef)>| {
            let path = write(dir.path(), name, columns, 1000);
            let mut called = false;
            let e = read(&path, &schema, "Movie", |_, _| {
                called = true;
                Ok(())
            })
            .unwrap_err();
            assert!(!called);
            assert_eq!((e.unit, e.number), ("", 0));
            e.message
        };
        let ids = || -> ArrayRef { Arc::new(Int64Array::from(vec![1])) };
        let m = fails(
            "year.parquet",
            vec![("id", ids()), ("year", strings(&[Some("1995")]))],
        );
        assert_eq!(
            m,
            "column `year` is Utf8, which cannot hold field `year` (i32) of Movie"
        );
        let tags: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
        ]));
        let m = fails("tags.parquet", vec![("id", ids()), ("tags", tags)]);
        assert_eq!(
            m,
            "column `tags` is List(Int32), whose `tags[]` is Int32, \
             which cannot hold field `name` (string) of Tag"
        );
        let m = fails(
            "tags2.parquet",
            vec![("id", ids()), ("tags", strings(&[Some("a")]))],
        );
        assert!(m.contains("cannot hold type TagList (a list)"), "{m}");
        let m = fails("none.parquet", vec![("ID", ids())]);
        assert!(
            m.starts_with("no column is named like a field of Movie"),
            "{m}"
        );
    }

    #[test]
    fn the_committed_catalog_parquet_reads_as_its_json_lines() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/catalog");
        let file = crate::schema_file::load(&dir.join("schema.toml")).unwrap();
        for version in ["v1", "v2"] {
            let text = std::fs::read_to_string(dir.join(format!("{version}.jsonl"))).unwrap();
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let path = dir.join(format!("{version}.parquet"));
            let pq = ParquetFile::open(&path, &file.schema, &file.root).unwrap();
            assert!(pq.ignored_columns().is_empty() && pq.missing_fields().is_empty());
            assert_eq!(pq.builder.metadata().num_row_groups(), 3);
            let rows = pq
                .read(|n, row| {
                    let line: Json = serde_json::from_str(lines.next().unwrap()).unwrap();
                    assert_eq!(row, &line, "{version} row {n}");
                    Ok(())
                })
                .unwrap();
            assert_eq!(rows, 3000);
            assert!(lines.next().is_none());
        }
    }
}
