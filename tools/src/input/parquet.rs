//! Parquet input: a file's rows as records of the root type, read batch by batch (never the
//! whole file) and mapped column by column ([`columns`](super::columns): no JSON in between),
//! numbered from 1 across row groups.
//!
//! Columns map to the root type's fields by name. [`ParquetFile::open`] reads the footer
//! only and checks every such column against its field before any row is read (the rules
//! are in [`columns`](super::columns)). A field with no column is null in every row; a column
//! with no field is not read at all ([`ParquetFile::ignored_columns`] names them). A part file
//! of a data set may get values from its partition folders ([`ParquetFile::open_part`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, FieldRef, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use shoal_format::{
    FieldKind, FieldValue, ObjectPacker, Ordinal, RecordSink, Schema, TypeDef, TypeId, TypeKind,
    Value,
};

use super::columns::{self, plan_field, Built, FieldPlan};
use super::scalars::Scalars;
use super::{InputError, Problem};

/// Reads the Parquet file at `path` as records of `root` into `sink`. Returns how many rows
/// were read. Columns that do not fit their fields fail before any row; see the module doc.
pub fn read(
    path: &Path,
    schema: &Schema,
    root: &str,
    sink: &mut dyn RecordSink,
) -> Result<u64, InputError> {
    ParquetFile::open(path, schema, root)?.read(sink, |_| {})
}

/// A Parquet file opened for rows of a root type: its footer read, its columns checked
/// against the type's fields, no row read yet.
pub struct ParquetFile {
    builder: ParquetRecordBatchReaderBuilder<File>,
    reader: BatchReader,
    path: PathBuf,
}

/// Record batches of one Arrow schema read as records of a root type: the columns named
/// like its fields checked and planned once ([`columns`](super::columns)), then every batch
/// mapped column by column. Parquet files and Iceberg scans both go through it.
pub struct BatchReader {
    name: String,
    root: TypeId,
    def: TypeDef,
    columns: Vec<Column>,
    missing: Vec<String>,
    ignored: Vec<String>,
    /// The root type's key fields, which must not be null.
    key: Vec<usize>,
}

/// A column read as a field of the root type.
struct Column {
    /// Where its values come from.
    from: Origin,
    name: String,
    /// The field's index in the root type.
    field: usize,
    plan: FieldPlan,
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
        let file =
            File::open(path).map_err(|e| InputError::file(name, format!("cannot open: {e}")))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            InputError::file(name, format!("not a Parquet file: {e}")).problem(Problem::NotParquet)
        })?;
        let reader = BatchReader::new(name, schema, root, builder.schema(), partitions)?;
        Ok(ParquetFile {
            builder,
            reader,
            path: path.to_path_buf(),
        })
    }

    /// The file's Arrow schema (from its footer).
    pub fn arrow_schema(&self) -> &SchemaRef {
        self.builder.schema()
    }

    /// The file's columns (and partition keys) that are not fields of the root type: they
    /// are not read.
    pub fn ignored_columns(&self) -> &[String] {
        &self.reader.ignored
    }

    /// The root type's fields that have no column: null in every row.
    pub fn missing_fields(&self) -> &[String] {
        &self.reader.missing
    }

    /// How many rows the footer says the file holds.
    pub fn row_count(&self) -> u64 {
        u64::try_from(self.builder.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// Reads the rows batch by batch into `sink`, each a record of the root type (and the
    /// records it refers to), calling `progress` with each batch's row count. Returns how
    /// many rows were read. An error names the row (from 1, across row groups) and the field.
    pub fn read(
        self,
        sink: &mut dyn RecordSink,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, InputError> {
        let ParquetFile {
            builder,
            reader,
            path,
        } = self;
        let name = reader.name.clone();
        let cannot_read =
            |e: &dyn std::fmt::Display| InputError::file(&name, format!("cannot read: {e}"));
        let metadata = reader
            .reader_metadata(&builder)
            .map_err(|e| cannot_read(&e))?;
        let in_file = reader.columns.iter().filter_map(|c| match c.from {
            Origin::File(index) => Some(index),
            Origin::Partition(_) => None,
        });
        let mask = ProjectionMask::roots(builder.parquet_schema(), in_file);
        let file = File::open(&path).map_err(|e| cannot_read(&e))?;
        let mut rows = 0;
        // A row group at a time, so that no batch spans two: a column's dictionary (one a
        // row group) then reads as it is stored.
        for group in 0..builder.metadata().num_row_groups() {
            let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(
                file.try_clone().map_err(|e| cannot_read(&e))?,
                metadata.clone(),
            )
            .with_projection(mask.clone())
            .with_row_groups(vec![group])
            .build()
            .map_err(|e| cannot_read(&e))?;
            for batch in batches {
                let batch = batch.map_err(|e| {
                    InputError::at(&name, "row", rows + 1, format!("cannot read: {e}"))
                })?;
                reader.add(sink, &batch, rows)?;
                rows += batch.num_rows() as u64;
                progress(batch.num_rows() as u64);
            }
        }
        Ok(rows)
    }
}

impl BatchReader {
    /// How to read the file `builder` opened: the columns that [`columns::dictionary_hint`]
    /// names as dictionaries (the footer is not read again), or every column as it is when
    /// none would or the Parquet reader refuses.
    fn reader_metadata(
        &self,
        builder: &ParquetRecordBatchReaderBuilder<File>,
    ) -> parquet::errors::Result<ArrowReaderMetadata> {
        let file_schema = builder.schema();
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        for column in &self.columns {
            let Origin::File(index) = column.from else {
                continue;
            };
            if let Some(dt) = columns::dictionary_hint(&column.plan, fields[index].data_type()) {
                fields[index] = Arc::new(fields[index].as_ref().clone().with_data_type(dt));
            }
        }
        let schema =
            arrow_schema::Schema::new_with_metadata(fields, file_schema.metadata().clone());
        let hinted = ArrowReaderOptions::new().with_schema(Arc::new(schema));
        let metadata = builder.metadata().clone();
        ArrowReaderMetadata::try_new(metadata.clone(), hinted)
            .or_else(|_| ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new()))
    }

    /// Checks each column of `arrow` named like a field of `root` against that field, and
    /// adds a column for each partition value (see [`ParquetFile::open_part`]). Fails naming
    /// the column, its Arrow type and the field when they do not fit, and when no column is
    /// named like a field.
    pub fn new(
        name: &str,
        schema: &Schema,
        root: &str,
        arrow: &arrow_schema::Schema,
        partitions: &[(String, String)],
    ) -> Result<Self, InputError> {
        let (id, def) = schema
            .type_id(root)
            .and_then(|id| Some((id, schema.type_def(id)?)))
            .filter(|(_, def)| matches!(def.kind, TypeKind::Object { .. }))
            .ok_or_else(|| {
                InputError::file(name, format!("{root} is not an object type of the schema"))
            })?;
        let (mut columns, mut ignored) = match_columns(name, schema, def, arrow)?;
        partition_columns(name, schema, def, partitions, &mut columns, &mut ignored)?;
        let missing = def
            .fields()
            .iter()
            .filter(|f| !columns.iter().any(|c| c.name == f.name))
            .map(|f| f.name.clone())
            .collect();
        Ok(BatchReader {
            name: name.to_string(),
            root: id,
            def: def.clone(),
            columns,
            missing,
            ignored,
            key: columns::key_fields(def),
        })
    }

    /// The columns (and partition keys) that are not fields of the root type.
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored
    }

    /// The root type's fields that have no column: null in every row.
    pub fn missing_fields(&self) -> &[String] {
        &self.missing
    }

    /// Adds the rows of `batch` (after `before` rows of the input) to `sink`: every
    /// column's values first (and the records they refer to), then one root record per row.
    /// The batch holds the planned columns by name (others are not read).
    pub fn add(
        &self,
        sink: &mut dyn RecordSink,
        batch: &RecordBatch,
        before: u64,
    ) -> Result<(), InputError> {
        let name = &self.name;
        let mut fields: Vec<Option<Values>> = (0..self.def.fields().len()).map(|_| None).collect();
        for column in &self.columns {
            let array = column_of(column, batch).ok_or_else(|| {
                let message = format!("the batch has no column `{}`", column.name);
                InputError::at(name, "row", before + 1, message)
            })?;
            let values = column_values(sink, &column.plan, array).map_err(|bad| {
                InputError::at(name, "row", before + bad.index as u64 + 1, bad.message)
                    .field(format!("{}{}", column.name, bad.at))
            })?;
            fields[column.field] = Some(values);
        }
        let mut packer = ObjectPacker::new(&self.def).expect("the root is an object type");
        for row in 0..batch.num_rows() {
            self.add_row(sink, &mut fields, row, &mut packer, before + row as u64 + 1)?;
        }
        Ok(())
    }

    /// Adds the root record of `row` (the input's row `number`) from each column, packed
    /// by `packer` field by field (no `Record`, no `String` per value).
    fn add_row(
        &self,
        sink: &mut dyn RecordSink,
        fields: &mut [Option<Values>],
        row: usize,
        packer: &mut ObjectPacker,
        number: u64,
    ) -> Result<(), InputError> {
        let fail = |field: &str, message: String| {
            InputError::at(&self.name, "row", number, message).field(field.to_string())
        };
        packer.start();
        for (k, (field, column)) in self.def.fields().iter().zip(fields.iter_mut()).enumerate() {
            let null = match column {
                None => {
                    packer
                        .push(FieldValue::Null)
                        .map_err(|e| fail(&field.name, e.to_string()))?;
                    true
                }
                Some(column) => column
                    .pack(sink, row, packer)
                    .map_err(|e| fail(&field.name, e))?,
            };
            if null && self.key.contains(&k) {
                return Err(fail(&field.name, columns::missing_key(&self.def, k)));
            }
        }
        let packed = packer.finish().ok_or_else(|| {
            fail(
                &self.def.name,
                "a record without all its fields".to_string(),
            )
        })?;
        sink.add_object(self.root, packed)
            .map_err(|e| InputError::at(&self.name, "row", number, e.to_string()))?;
        Ok(())
    }
}

/// One column's values for a batch: scalars read in place, or records of a type that are
/// added one by one just before the root record that refers to them.
enum Values {
    Nulls,
    Scalars(Scalars),
    /// Records the sink holds already (lists, one-string records).
    Added(std::vec::IntoIter<Option<Ordinal>>),
    Records(TypeId, std::vec::IntoIter<Built>),
}

impl Values {
    /// Packs the value of `row` (the next one: rows come in order), adding its record for a
    /// reference; true when it is null. An error says what is wrong with the value.
    fn pack(
        &mut self,
        sink: &mut dyn RecordSink,
        row: usize,
        packer: &mut ObjectPacker,
    ) -> Result<bool, String> {
        let value = match self {
            Values::Nulls => FieldValue::Null,
            Values::Scalars(column) => column.at(row)?,
            Values::Added(ordinals) => ordinals
                .next()
                .flatten()
                .map_or(FieldValue::Null, FieldValue::Ref),
            Values::Records(ty, built) => {
                let value = built.next().map_or(Ok(Value::Null), |b| b.add(sink, *ty));
                match value.map_err(|e| e.to_string())? {
                    Value::Ref(o) => FieldValue::Ref(o),
                    _ => FieldValue::Null,
                }
            }
        };
        packer.push(value).map_err(|e| e.to_string())?;
        Ok(matches!(value, FieldValue::Null))
    }
}

/// The values of a batch's column, by `plan`.
fn column_values(
    sink: &mut dyn RecordSink,
    plan: &FieldPlan,
    array: ArrayRef,
) -> Result<Values, columns::BadValue> {
    Ok(match plan {
        FieldPlan::Ref(ty, plan) => match columns::added(sink, *ty, plan, array.as_ref())? {
            Some(ordinals) => Values::Added(ordinals.into_iter()),
            None => Values::Records(
                *ty,
                columns::build(sink, *ty, plan, array.as_ref())?.into_iter(),
            ),
        },
        FieldPlan::Scalar(kind) => Values::Scalars(
            Scalars::new(kind, array.as_ref()).map_err(|m| columns::BadValue::new(0, m))?,
        ),
        FieldPlan::Null => Values::Nulls,
    })
}

/// The array of `column` in `batch`: the batch's column of that name, or the partition's
/// value repeated.
fn column_of(column: &Column, batch: &RecordBatch) -> Option<ArrayRef> {
    match &column.from {
        Origin::File(_) => batch.column_by_name(&column.name).cloned(),
        Origin::Partition(value) => Some(value.repeat(batch.num_rows())),
    }
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
        let Some(at) = def.fields().iter().position(|f| &f.name == key) else {
            ignored.push(key.clone());
            continue;
        };
        let field = &def.fields()[at];
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
            field: at,
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

/// Pairs the top-level columns of `arrow` with the fields of `def`, checking each pair.
/// Returns the columns to read, in file order, and the names of the others.
fn match_columns(
    name: &str,
    schema: &Schema,
    def: &TypeDef,
    arrow: &arrow_schema::Schema,
) -> Result<(Vec<Column>, Vec<String>), InputError> {
    let mut columns: Vec<Column> = Vec::new();
    let mut ignored = Vec::new();
    for (index, column) in arrow.fields().iter().enumerate() {
        let Some(at) = def.fields().iter().position(|f| &f.name == column.name()) else {
            ignored.push(column.name().clone());
            continue;
        };
        if columns.iter().any(|c| &c.name == column.name()) {
            return Err(InputError::file(
                name,
                format!("two columns are named `{}`", column.name()),
            ));
        }
        let plan = plan_field(schema, def, &def.fields()[at], column.data_type()).map_err(|m| {
            InputError::file(name, m.message(column.name(), column.data_type()))
                .problem(Problem::Column)
        })?;
        columns.push(Column {
            from: Origin::File(index),
            name: column.name().clone(),
            field: at,
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
        )
        .problem(Problem::Column));
    }
    Ok((columns, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Converter;
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::types::{Float64Type, Int32Type};
    use arrow_array::{Array, MapArray, StructArray};
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float64Array, Int16Array, Int32Array,
        Int64Array, LargeStringArray, ListArray, StringArray,
    };
    use arrow_schema::Field;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use serde_json::{json, Value as Json};
    use shoal_format::{DataState, Ordinal, Record, StateBuilder, Value};
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

    /// The records of the file, read column by column.
    fn read_state(path: &Path, schema: &Schema) -> Result<DataState, InputError> {
        let mut sink = StateBuilder::new(Arc::new(schema.clone()));
        read(path, schema, "Movie", &mut sink)?;
        Ok(sink.finish())
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

    /// A sink that counts the strings it is asked to find.
    struct Counting {
        inner: StateBuilder,
        found: usize,
        again: usize,
    }

    impl RecordSink for Counting {
        fn schema(&self) -> &Schema {
            RecordSink::schema(&self.inner)
        }

        fn add(&mut self, ty: TypeId, record: Record) -> shoal_format::Result<Ordinal> {
            self.inner.add(ty, record)
        }

        fn add_str(&mut self, ty: TypeId, value: &str) -> shoal_format::Result<Ordinal> {
            self.found += 1;
            self.inner.add_str(ty, value)
        }

        fn add_str_again(&mut self, ty: TypeId, o: Ordinal) -> shoal_format::Result<Ordinal> {
            self.again += 1;
            self.inner.add_str_again(ty, o)
        }
    }

    #[test]
    fn a_string_column_of_few_values_is_read_as_a_dictionary_and_each_found_once() {
        // Parquet stores a column of few distinct strings as a dictionary; the reader asks
        // for it as one, and each distinct tag or country is looked up once a batch.
        let (tags, countries) = (["crime", "la", "heist"], ["US", "FR"]);
        let rows: Vec<Json> = (0..200)
            .map(|i| {
                let tags: Vec<&str> = (0..i % 4).map(|k| tags[(i + k) % 3]).collect();
                json!({"id": i, "country": countries[i % 2], "tags": tags})
            })
            .collect();
        let lists: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| {
                r["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect()
            })
            .collect();
        let lists: Vec<Option<&[&str]>> = lists.iter().map(|l| Some(&l[..])).collect();
        let country: Vec<Option<&str>> = (0..200).map(|i| Some(countries[i % 2])).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..200))),
            ("country", strings(&country)),
            ("tags", tag_lists(&lists)),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "few.parquet", columns, 1000);
        let schema = Arc::new(schema());
        let mut sink = Counting {
            inner: StateBuilder::new(schema.clone()),
            found: 0,
            again: 0,
        };
        read(&path, &schema, "Movie", &mut sink).unwrap();
        let uses = 200 + lists.iter().map(|l| l.unwrap().len()).sum::<usize>();
        assert_eq!((sink.found, sink.found + sink.again), (5, uses));
        assert_eq!(sink.inner.finish(), state_of(&schema, &rows));
    }

    #[test]
    fn a_list_column_read_as_a_set_is_sorted_and_without_duplicates() {
        let schema = crate::schema_file::parse(
            r#"
root = "Movie"
[types.Movie]
key = ["id"]
fields = ["id: i64", "tags: TagSet"]
[types.TagSet]
set = "Tag"
[types.Tag]
fields = ["name: string"]
"#,
        )
        .unwrap()
        .schema;
        let schema = Arc::new(schema);
        let lists: [&[&str]; 3] = [&["b", "a", "b"], &["a", "c"], &["c", "a", "a"]];
        let lists: Vec<Option<&[&str]>> = lists.into_iter().map(Some).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..3))),
            ("tags", tag_lists(&lists)),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "sets.parquet", columns, 1000);
        let rows: Vec<Json> = lists
            .iter()
            .enumerate()
            .map(|(i, l)| json!({"id": i, "tags": l.unwrap()}))
            .collect();
        let read = read_state(&path, &schema).unwrap();
        assert_eq!(read, state_of(&schema, &rows));
        // {a, b} and {a, c}: the third row's set is the second's.
        assert_eq!(read.records(TypeId(1)).count(), 2);
    }

    #[test]
    fn columns_make_the_records_the_json_of_the_same_rows_makes() {
        let dir = tempfile::tempdir().unwrap();
        let path = movies(dir.path());
        let schema = Arc::new(schema());
        let read = read_state(&path, &schema).unwrap();
        assert_eq!(read, state_of(&schema, &movies_as_json()));

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
        let state = read_state(&path, &schema).unwrap();
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
        let e = read_state(&path, &schema).unwrap_err();
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
        let e = read_state(&path, &schema).unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 2501));
        assert_eq!(e.field.as_deref(), Some("year"));
        assert!(e.message.contains("fits an i32"), "{e}");
    }

    #[test]
    fn a_damaged_row_group_names_its_first_row_after_the_rows_before_it_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let schema = schema();
        let path = write(
            dir.path(),
            "damaged.parquet",
            vec![("id", Arc::new(Int64Array::from_iter_values(0..3000)))],
            1000,
        );
        // The second row group's column chunk starts with a page header: make it garbage.
        let file = ParquetFile::open(&path, &schema, "Movie").unwrap();
        let (start, _) = file.builder.metadata().row_group(1).column(0).byte_range();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[start as usize..start as usize + 16].fill(0xFF);
        std::fs::write(&path, bytes).unwrap();

        let mut sink = StateBuilder::new(Arc::new(schema.clone()));
        let e = read(&path, &schema, "Movie", &mut sink).unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 1001), "{e}");
        assert!(e.message.contains("cannot read"), "{e}");
        assert!(e.to_string().contains("damaged.parquet"), "{e}");
        let movie = schema.type_id("Movie").unwrap();
        assert_eq!(
            sink.finish().len(movie),
            1000,
            "the first row group was read"
        );
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
        let e = read_state(&path, &schema).unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 2));
        assert_eq!(e.field.as_deref(), Some("scores[1]"));
        // A null element: a list of records holds no null.
        let scores = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0)]),
            Some(vec![Some(2.0)]),
            Some(vec![Some(3.0), None]),
        ]);
        let columns = vec![("scores", Arc::new(scores) as ArrayRef)];
        let path = write(dir.path(), "null.parquet", columns, 10);
        let e = read_state(&path, &schema).unwrap_err();
        assert_eq!((e.unit, e.number), ("row", 3));
        assert_eq!(e.field.as_deref(), Some("scores[1]"));
        assert!(
            e.message
                .contains("expected a value for type Score, found null"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_column_of_the_wrong_type_fails_before_any_row() {
        let dir = tempfile::tempdir().unwrap();
        let schema = schema();
        let fails = |name: &str, columns: Vec<(&str, ArrayRef)>| {
            let path = write(dir.path(), name, columns, 1000);
            let mut sink = StateBuilder::new(Arc::new(schema.clone()));
            let e = read(&path, &schema, "Movie", &mut sink).unwrap_err();
            assert!(sink.state().is_empty());
            assert_eq!((e.unit, e.number, e.problem), ("", 0, Problem::Column));
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
        let schema = Arc::new(file.schema.clone());
        for version in ["v1", "v2"] {
            let text = std::fs::read_to_string(dir.join(format!("{version}.jsonl"))).unwrap();
            let lines: Vec<Json> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let path = dir.join(format!("{version}.parquet"));
            let pq = ParquetFile::open(&path, &file.schema, &file.root).unwrap();
            assert!(pq.ignored_columns().is_empty() && pq.missing_fields().is_empty());
            assert_eq!(pq.builder.metadata().num_row_groups(), 3);
            let mut sink = StateBuilder::new(schema.clone());
            let mut seen = 0;
            let rows = pq.read(&mut sink, |n| seen += n).unwrap();
            assert_eq!((rows, seen), (3000, 3000));
            assert_eq!(sink.finish(), state_of(&schema, &lines), "{version}");
        }
    }
}
