//! Writes a JSON lines file of root records as a Parquet file: how the Parquet copies of the
//! example catalog are made.
//!
//! ```sh
//! cargo run -p shoal-tools --example jsonl_to_parquet -- \
//!     examples/catalog/schema.toml examples/catalog/v1.jsonl examples/catalog/v1.parquet
//! cargo run -p shoal-tools --example jsonl_to_parquet -- \
//!     examples/catalog/schema.toml examples/catalog/v2.jsonl examples/catalog/v2.parquet
//! ```
//!
//! It handles the shapes the catalog has, and no others: a scalar field (`bool`, `i32`,
//! `i64`, `f32`, `f64`, `string`) becomes a column of that type (Boolean, Int32, Int64,
//! Float32, Float64, Utf8); a reference to a type of one `string` field a Utf8 column; a
//! reference to a list or set of such a type a List<Utf8> column. Any other field (bytes, a
//! struct, a map, a list of anything else) is refused. Rows go in row groups of 1,048,576
//! (pyarrow's default; Spark and Trino cut groups at 128 MB, more rows than that here), or of
//! the count given as a fourth argument, snappy-compressed, the usual warehouse codec.

use std::any::Any;
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value as Json;
use shoal_format::{FieldKind, Schema, TypeKind};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Rows per batch written.
const GROUP: usize = 1000;

/// Rows per row group unless told: pyarrow's default.
const ROW_GROUP: usize = 1 << 20;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (schema, input, output, row_group) =
        match &args[..] {
            [schema, input, output] => (schema, input, output, ROW_GROUP),
            [schema, input, output, rows] => (schema, input, output, rows.parse()?),
            _ => return Err(
                "usage: jsonl_to_parquet SCHEMA.toml INPUT.jsonl OUTPUT.parquet [ROWS_PER_GROUP]"
                    .into(),
            ),
        };
    let file = shoal_tools::schema_file::load(Path::new(schema)).map_err(|e| e.to_string())?;
    let columns = columns(&file.schema, &file.root)?;
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, c.shape.data_type(), true))
        .collect();
    let arrow_schema = Arc::new(ArrowSchema::new(fields));
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group))
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(File::create(output)?, arrow_schema.clone(), Some(props))?;
    let mut builders: Vec<Box<dyn ArrayBuilder>> =
        columns.iter().map(|c| c.shape.builder()).collect();
    let mut buffered = 0;
    let mut rows = 0;
    for (i, line) in BufReader::new(File::open(input)?).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Json = serde_json::from_str(&line)?;
        append(&columns, &mut builders, &row)
            .map_err(|e| format!("{input} line {}: {e}", i + 1))?;
        buffered += 1;
        rows += 1;
        if buffered == GROUP {
            writer.write(&batch(&arrow_schema, &mut builders)?)?;
            buffered = 0;
        }
    }
    if buffered > 0 {
        writer.write(&batch(&arrow_schema, &mut builders)?)?;
    }
    writer.close()?;
    eprintln!("wrote {rows} rows to {output}");
    Ok(())
}

/// One column: a field of the root type and the Arrow shape it is written as.
struct Column {
    name: String,
    shape: Shape,
}

/// The column shapes this generator writes.
#[derive(Clone, Copy)]
enum Shape {
    Bool,
    I32,
    I64,
    F32,
    F64,
    Utf8,
    ListUtf8,
}

impl Shape {
    fn data_type(self) -> DataType {
        match self {
            Shape::Bool => DataType::Boolean,
            Shape::I32 => DataType::Int32,
            Shape::I64 => DataType::Int64,
            Shape::F32 => DataType::Float32,
            Shape::F64 => DataType::Float64,
            Shape::Utf8 => DataType::Utf8,
            Shape::ListUtf8 => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
            }
        }
    }

    fn builder(self) -> Box<dyn ArrayBuilder> {
        match self {
            Shape::Bool => Box::new(BooleanBuilder::new()),
            Shape::I32 => Box::new(Int32Builder::new()),
            Shape::I64 => Box::new(Int64Builder::new()),
            Shape::F32 => Box::new(Float32Builder::new()),
            Shape::F64 => Box::new(Float64Builder::new()),
            Shape::Utf8 => Box::new(StringBuilder::new()),
            Shape::ListUtf8 => Box::new(ListBuilder::new(StringBuilder::new())),
        }
    }
}

/// The root type's fields as columns, or why one cannot be written.
fn columns(schema: &Schema, root: &str) -> Result<Vec<Column>> {
    let def = schema
        .type_id(root)
        .and_then(|id| schema.type_def(id))
        .ok_or_else(|| format!("no type {root}"))?;
    def.fields()
        .iter()
        .map(|field| {
            let shape = match &field.kind {
                FieldKind::Bool => Shape::Bool,
                FieldKind::I32 => Shape::I32,
                FieldKind::I64 => Shape::I64,
                FieldKind::F32 => Shape::F32,
                FieldKind::F64 => Shape::F64,
                FieldKind::String => Shape::Utf8,
                FieldKind::Reference(target) if one_string(schema, target) => Shape::Utf8,
                FieldKind::Reference(target) => match element(schema, target) {
                    Some(element) if one_string(schema, element) => Shape::ListUtf8,
                    _ => return Err(unsupported(&field.name, &field.kind)),
                },
                FieldKind::Bytes => return Err(unsupported(&field.name, &field.kind)),
            };
            Ok(Column {
                name: field.name.clone(),
                shape,
            })
        })
        .collect()
}

fn unsupported(name: &str, kind: &FieldKind) -> Box<dyn Error> {
    format!("field `{name}` ({kind}): this generator writes scalars, one-string references and lists of them only").into()
}

/// True when `name` is an object type of one `string` field.
fn one_string(schema: &Schema, name: &str) -> bool {
    let def = schema.type_id(name).and_then(|id| schema.type_def(id));
    matches!(def.map(|d| d.fields()), Some([f]) if f.kind == FieldKind::String)
        && matches!(def.map(|d| &d.kind), Some(TypeKind::Object { .. }))
}

/// The element type of the list or set type `name`.
fn element<'s>(schema: &'s Schema, name: &str) -> Option<&'s str> {
    match &schema.type_def(schema.type_id(name)?)?.kind {
        TypeKind::List { element } | TypeKind::Set { element } => Some(element),
        _ => None,
    }
}

/// Appends one JSON row to the column builders.
fn append(columns: &[Column], builders: &mut [Box<dyn ArrayBuilder>], row: &Json) -> Result<()> {
    let object = row.as_object().ok_or("not a JSON object")?;
    if let Some(name) = object
        .keys()
        .find(|k| !columns.iter().any(|c| &c.name == *k))
    {
        return Err(format!("`{name}` is not a field").into());
    }
    for (column, builder) in columns.iter().zip(builders) {
        let value = object.get(&column.name).unwrap_or(&Json::Null);
        append_value(column.shape, builder.as_any_mut(), value)
            .map_err(|e| format!("field `{}`: {e}", column.name))?;
    }
    Ok(())
}

fn append_value(shape: Shape, builder: &mut dyn Any, value: &Json) -> Result<()> {
    fn get<B: 'static>(builder: &mut dyn Any) -> &mut B {
        builder
            .downcast_mut()
            .expect("the builder was made for the shape")
    }
    match shape {
        Shape::Bool => get::<BooleanBuilder>(builder).append_option(scalar(value, Json::as_bool)?),
        Shape::I32 => get::<Int32Builder>(builder).append_option(scalar(value, |v| {
            v.as_i64().and_then(|v| i32::try_from(v).ok())
        })?),
        Shape::I64 => get::<Int64Builder>(builder).append_option(scalar(value, Json::as_i64)?),
        Shape::F32 => get::<Float32Builder>(builder)
            .append_option(scalar(value, |v| v.as_f64().map(|v| v as f32))?),
        Shape::F64 => get::<Float64Builder>(builder).append_option(scalar(value, Json::as_f64)?),
        Shape::Utf8 => get::<StringBuilder>(builder).append_option(scalar(value, Json::as_str)?),
        Shape::ListUtf8 => {
            let items = scalar(value, Json::as_array)?;
            let list = get::<ListBuilder<StringBuilder>>(builder);
            for item in items.into_iter().flatten() {
                list.values()
                    .append_value(scalar(item, Json::as_str)?.ok_or("a null tag")?);
            }
            list.append(items.is_some());
        }
    }
    Ok(())
}

/// `value` read by `get`, `None` for null, an error for a value `get` does not read.
fn scalar<'j, T>(value: &'j Json, get: impl Fn(&'j Json) -> Option<T>) -> Result<Option<T>> {
    if value.is_null() {
        return Ok(None);
    }
    get(value)
        .map(Some)
        .ok_or_else(|| format!("unexpected {value}").into())
}

/// The buffered rows as one batch; the builders are left empty.
fn batch(schema: &Arc<ArrowSchema>, builders: &mut [Box<dyn ArrayBuilder>]) -> Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}
