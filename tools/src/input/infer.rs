//! A schema file inferred from an input: from the Arrow schema of its Parquet files (and the
//! values of its partition folders), or from a sample of its JSON lines.
//!
//! | seen | field kind |
//! |---|---|
//! | Boolean, `true` / `false` | `bool` |
//! | Int8..Int32, UInt8, UInt16, Date32, Time32 | `i32` |
//! | Int64, UInt32, UInt64, Date64, Timestamp, Time64, Duration; any JSON integer | `i64` |
//! | Float16, Float32 | `f32` |
//! | Float64, Decimal128; a JSON number with a fraction | `f64` |
//! | a string | `string`, or a reference to a one-string type when the sample shows few distinct values |
//! | Binary types | `bytes` |
//! | a list (array) | a reference to a list type `<Name>List` of `<Name>` records |
//! | a struct (object) | a reference to an object type `<Name>` |
//! | a map | a reference to a map type `<Name>Map` |
//!
//! Type names come from field names (`genres` gives `GenreList` of `Genre`); a one-value type
//! holds its value in a field named `value`. A top-level string column becomes a reference
//! (each distinct value stored once, records referring to it by ordinal) when its sample
//! has at least [`FEW_MIN_ROWS`] values and each distinct value appears [`FEW_RATIO`] times
//! or more on average: a country code, a genre, a status. The primary key's fields never
//! become references. A partition folder's values are `i32` (or `i64`) when every one is an
//! integer, `f64` when every one is a number, `bool`, else strings as above.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema as ArrowSchema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde_json::Value as Json;

use super::source::Input;
use super::{InputError, Problem};

/// Values a string column's sample must hold before it may become a reference.
pub const FEW_MIN_ROWS: u64 = 20;
/// How many times, on average, each distinct value must appear.
pub const FEW_RATIO: u64 = 10;
/// Distinct values counted per column before the count stops (it is then "many").
const DISTINCT_CAP: usize = 100_000;

/// What to infer.
#[derive(Debug, Clone)]
pub struct Options {
    /// The root type's name.
    pub root: String,
    /// The primary key's fields (top-level fields of the root type).
    pub key: Vec<String>,
    /// How many rows (lines) to sample for value counts and JSON kinds.
    pub sample_rows: u64,
    /// How the input is named in the file's comment.
    pub input_name: String,
}

/// The shape of a field's values, as far as the input shows it.
#[derive(Debug, Clone)]
enum Shape {
    /// Only nulls seen.
    Null,
    Bool,
    I32,
    I64,
    F32,
    F64,
    Bytes,
    Text(Distinct),
    List(Box<Shape>),
    Object(Vec<(String, Shape)>),
    Map(Box<Shape>, Box<Shape>),
}

/// The distinct values of a string column's sample.
#[derive(Debug, Clone, Default)]
struct Distinct {
    values: HashSet<String>,
    non_null: u64,
    capped: bool,
}

impl Distinct {
    fn see(&mut self, value: &str) {
        self.non_null += 1;
        if self.capped || self.values.contains(value) {
            return;
        }
        if self.values.len() >= DISTINCT_CAP {
            self.capped = true;
            return;
        }
        self.values.insert(value.to_string());
    }

    fn few(&self) -> bool {
        !self.capped
            && self.non_null >= FEW_MIN_ROWS
            && self.values.len() as u64 * FEW_RATIO <= self.non_null
    }
}

/// Infers the schema file of `input` (TOML text, with a comment saying where each choice
/// came from). Runs on a blocking thread: it reads the input's first rows.
pub fn infer(input: &Input, options: &Options) -> Result<String, InputError> {
    let (fields, sampled) = match input {
        Input::Stdin | Input::JsonLines(_) => json_fields(input, options)?,
        Input::Iceberg(table) => iceberg_fields(table, options)?,
        _ => parquet_fields(input, options)?,
    };
    let name = &options.input_name;
    for key in &options.key {
        match fields.iter().find(|(n, _)| n == key) {
            Some((_, shape)) if is_scalar(shape) => {}
            Some(_) => {
                return Err(InputError::file(
                    name,
                    format!("field `{key}` holds no single value: it cannot be the key"),
                ))
            }
            None => {
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                return Err(InputError::file(
                    name,
                    format!(
                        "no field `{key}` for --key; the fields are: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(render(&fields, sampled, options))
}

fn is_scalar(shape: &Shape) -> bool {
    !matches!(
        shape,
        Shape::List(_) | Shape::Object(_) | Shape::Map(..) | Shape::Null
    )
}

/// The top-level fields of a Parquet input: its first file's columns, then its partition
/// keys; string columns counted over the first `sample_rows` rows.
fn parquet_fields(
    input: &Input,
    options: &Options,
) -> Result<(Vec<(String, Shape)>, u64), InputError> {
    let mut fields: Vec<(String, Shape)> = Vec::new();
    let mut first: Option<ArrowSchema> = None;
    let mut sampled = 0;
    input.each_parquet(|part| {
        let file = File::open(part.path)
            .map_err(|e| InputError::file(part.name, format!("cannot open: {e}")))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            InputError::file(part.name, format!("not a Parquet file: {e}"))
                .problem(Problem::NotParquet)
        })?;
        let schema = builder.schema().as_ref().clone();
        if first.is_none() {
            fields = arrow_fields(part.name, &schema)?;
            first = Some(schema.clone());
        }
        if first.as_ref() != Some(&schema) {
            return Ok(true); // checked, with the message, when the data set is read
        }
        let texts: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| matches!(s, Shape::Text(_)))
            .filter_map(|(i, _)| (i < schema.fields().len()).then_some(i))
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), texts.iter().copied());
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| InputError::file(part.name, format!("cannot read: {e}")))?;
        for batch in reader {
            let batch =
                batch.map_err(|e| InputError::file(part.name, format!("cannot read: {e}")))?;
            count_texts(&batch, &texts, &mut fields);
            sampled += batch.num_rows() as u64;
            if sampled >= options.sample_rows {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    let Some(_) = first else {
        return Err(InputError::file(
            &options.input_name,
            "no Parquet file to infer from",
        ));
    };
    for (key, shape) in partition_fields(input) {
        if !fields.iter().any(|(name, _)| name == &key) {
            fields.push((key, shape));
        }
    }
    Ok((fields, sampled))
}

/// The top-level fields of an Iceberg table: its Arrow schema; string columns counted over
/// the first `sample_rows` rows of the scan.
fn iceberg_fields(
    table: &super::iceberg::IcebergTable,
    options: &Options,
) -> Result<(Vec<(String, Shape)>, u64), InputError> {
    let mut fields = arrow_fields(&table.name, &table.arrow_schema()?)?;
    let mut sampled = 0;
    table.each_batch(|batch| {
        let texts: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| matches!(s, Shape::Text(_)))
            .map(|(i, _)| i)
            .collect();
        let projected = batch
            .project(&texts)
            .map_err(|e| InputError::file(&table.name, e.to_string()))?;
        count_texts(&projected, &texts, &mut fields);
        sampled += batch.num_rows() as u64;
        Ok(sampled < options.sample_rows)
    })?;
    Ok((fields, sampled))
}

/// The top-level fields of an Arrow schema.
fn arrow_fields(name: &str, schema: &ArrowSchema) -> Result<Vec<(String, Shape)>, InputError> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let shape = arrow_shape(f.data_type()).ok_or_else(|| {
                InputError::file(
                    name,
                    format!(
                        "column `{}` is {}, an Arrow type shoal cannot read",
                        f.name(),
                        f.data_type()
                    ),
                )
                .problem(Problem::Column)
            })?;
            Ok((f.name().clone(), shape))
        })
        .collect()
}

fn arrow_shape(dt: &DataType) -> Option<Shape> {
    use DataType as D;
    Some(match dt {
        D::Null => Shape::Null,
        D::Boolean => Shape::Bool,
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 | D::Date32 | D::Time32(_) => {
            Shape::I32
        }
        D::Int64
        | D::UInt32
        | D::UInt64
        | D::Date64
        | D::Timestamp(..)
        | D::Time64(_)
        | D::Duration(_) => Shape::I64,
        D::Float16 | D::Float32 => Shape::F32,
        D::Float64 | D::Decimal128(..) => Shape::F64,
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Shape::Text(Distinct::default()),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => Shape::Bytes,
        D::List(item) | D::LargeList(item) | D::FixedSizeList(item, _) => {
            Shape::List(Box::new(arrow_shape(item.data_type())?))
        }
        D::Struct(children) => Shape::Object(
            children
                .iter()
                .map(|c| Some((c.name().clone(), arrow_shape(c.data_type())?)))
                .collect::<Option<_>>()?,
        ),
        D::Map(entries, _) => {
            let D::Struct(pair) = entries.data_type() else {
                return None;
            };
            let [k, v] = &pair[..] else {
                return None;
            };
            Shape::Map(
                Box::new(arrow_shape(k.data_type())?),
                Box::new(arrow_shape(v.data_type())?),
            )
        }
        D::Dictionary(_, value) => arrow_shape(value)?,
        _ => return None,
    })
}

/// Counts the values of the string columns `texts` (indexes of `fields`, in file order; the
/// batch holds just them).
fn count_texts(batch: &RecordBatch, texts: &[usize], fields: &mut [(String, Shape)]) {
    for (column, &field) in batch.columns().iter().zip(texts) {
        let Shape::Text(distinct) = &mut fields[field].1 else {
            continue;
        };
        let column = match column.data_type() {
            DataType::Dictionary(..) => {
                let dict = column.as_any_dictionary();
                match arrow_select::take::take(dict.values().as_ref(), dict.keys(), None) {
                    Ok(flat) => flat,
                    Err(_) => continue,
                }
            }
            _ => column.clone(),
        };
        for_each_str(column.as_ref(), |s| distinct.see(s));
    }
}

fn for_each_str(a: &dyn Array, mut see: impl FnMut(&str)) {
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().flatten().for_each(see),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().flatten().for_each(see),
        DataType::Utf8View => a.as_string_view().iter().flatten().for_each(&mut see),
        _ => {}
    }
}

/// A field for each partition key of the input's parts, typed by its values.
fn partition_fields(input: &Input) -> Vec<(String, Shape)> {
    let parts = match input {
        Input::Folder { parts, .. } | Input::S3 { parts, .. } => parts,
        _ => return Vec::new(),
    };
    let mut keys: Vec<(String, Vec<&str>)> = Vec::new();
    for part in parts {
        for (key, value) in &part.partitions {
            let values = match keys.iter_mut().find(|(k, _)| k == key) {
                Some((_, values)) => values,
                None => {
                    keys.push((key.clone(), Vec::new()));
                    &mut keys.last_mut().expect("just pushed").1
                }
            };
            if value != "__HIVE_DEFAULT_PARTITION__" {
                values.push(value);
            }
        }
    }
    keys.into_iter()
        .map(|(key, values)| (key, partition_shape(&values)))
        .collect()
}

fn partition_shape(values: &[&str]) -> Shape {
    if values.is_empty() {
        return Shape::Null;
    }
    if let Some(ints) = values
        .iter()
        .map(|v| v.parse::<i64>().ok())
        .collect::<Option<Vec<_>>>()
    {
        let small = ints.iter().all(|&n| i32::try_from(n).is_ok());
        return if small { Shape::I32 } else { Shape::I64 };
    }
    if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        return Shape::F64;
    }
    if values.iter().all(|v| matches!(*v, "true" | "false")) {
        return Shape::Bool;
    }
    let mut distinct = Distinct::default();
    values.iter().for_each(|v| distinct.see(v));
    Shape::Text(distinct)
}

/// The top-level fields of JSON lines, from the kinds of the first `sample_rows` lines.
fn json_fields(
    input: &Input,
    options: &Options,
) -> Result<(Vec<(String, Shape)>, u64), InputError> {
    let Input::JsonLines(path) = input else {
        return Err(InputError::file(
            "stdin",
            "standard input cannot be read twice: give --schema, or a file to infer from",
        ));
    };
    let name = path.display().to_string();
    let file =
        File::open(path).map_err(|e| InputError::file(&name, format!("cannot open: {e}")))?;
    let mut root = Shape::Object(Vec::new());
    let mut sampled = 0;
    let reader = std::io::BufReader::new(file);
    let stop = "the sample is full";
    let result = super::jsonl::read(reader, &name, |line, json| {
        if !json.is_object() {
            return Err(InputError::at(&name, "line", line, "expected an object"));
        }
        merge(&mut root, json, true).map_err(|(field, message)| {
            InputError::at(&name, "line", line, message).field(field)
        })?;
        sampled += 1;
        if sampled >= options.sample_rows {
            return Err(InputError::file(&name, stop));
        }
        Ok(())
    });
    match result {
        Err(e) if e.message != stop => return Err(e),
        _ => {}
    }
    let Shape::Object(fields) = root else {
        unreachable!("the root stays an object")
    };
    Ok((fields, sampled))
}

/// Widens `shape` to hold `json` too; fails with the field path and why.
fn merge(shape: &mut Shape, json: &Json, top: bool) -> Result<(), (String, String)> {
    let seen = match json {
        Json::Null => return Ok(()),
        Json::Bool(_) => Shape::Bool,
        Json::Number(n) if n.is_i64() || n.is_u64() => Shape::I64,
        Json::Number(_) => Shape::F64,
        Json::String(s) => {
            let mut distinct = Distinct::default();
            if top {
                distinct.see(s);
            }
            Shape::Text(distinct)
        }
        Json::Array(items) => {
            let mut element = match shape {
                Shape::List(e) => std::mem::replace(e.as_mut(), Shape::Null),
                _ => Shape::Null,
            };
            for (i, item) in items.iter().enumerate() {
                merge(&mut element, item, false).map_err(|(f, m)| (format!("[{i}]{f}"), m))?;
            }
            Shape::List(Box::new(element))
        }
        Json::Object(map) => {
            let mut fields = match shape {
                Shape::Object(fields) => std::mem::take(fields),
                _ => Vec::new(),
            };
            for (name, value) in map {
                let at = match fields.iter().position(|(n, _)| n == name) {
                    Some(at) => at,
                    None => {
                        fields.push((name.clone(), Shape::Null));
                        fields.len() - 1
                    }
                };
                merge(&mut fields[at].1, value, top).map_err(|(f, m)| {
                    let dot = if f.is_empty() || f.starts_with('[') {
                        ""
                    } else {
                        "."
                    };
                    (format!("{name}{dot}{f}"), m)
                })?;
            }
            Shape::Object(fields)
        }
    };
    widen(shape, seen).map_err(|m| (String::new(), m))
}

/// `shape` widened to hold what `seen` holds.
fn widen(shape: &mut Shape, seen: Shape) -> Result<(), String> {
    let new = match (std::mem::replace(shape, Shape::Null), seen) {
        (Shape::Null, s) => s,
        (Shape::I64, Shape::F64) | (Shape::F64, Shape::I64) => Shape::F64,
        (Shape::Text(mut d), Shape::Text(s)) => {
            for v in &s.values {
                d.see(v);
            }
            Shape::Text(d)
        }
        (Shape::List(_), s @ Shape::List(_)) | (Shape::Object(_), s @ Shape::Object(_)) => s,
        (old, s) if std::mem::discriminant(&old) == std::mem::discriminant(&s) => old,
        (old, s) => {
            let message = format!("{} here, {} in earlier lines", label(&s), label(&old));
            *shape = old;
            return Err(message);
        }
    };
    *shape = new;
    Ok(())
}

fn label(shape: &Shape) -> &'static str {
    match shape {
        Shape::Null => "null",
        Shape::Bool => "true or false",
        Shape::I32 | Shape::I64 => "an integer",
        Shape::F32 | Shape::F64 => "a number",
        Shape::Bytes => "bytes",
        Shape::Text(_) => "a string",
        Shape::List(_) => "an array",
        Shape::Object(_) => "an object",
        Shape::Map(..) => "a map",
    }
}

/// The types of the schema file being written, in the order they are listed.
struct Types {
    list: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Types {
    /// A free type name like `name`.
    fn unique(&self, name: &str) -> String {
        let mut candidate = name.to_string();
        let mut n = 2;
        while self.list.iter().any(|(t, _)| t == &candidate) {
            candidate = format!("{name}{n}");
            n += 1;
        }
        candidate
    }

    /// Adds a type (its TOML table body); returns its name.
    fn add(&mut self, name: &str, body: String) -> String {
        let name = self.unique(name);
        self.list.push((name.clone(), body));
        name
    }

    /// The kind of a field named `field` of `shape`; `top` for a root field (which may
    /// become a reference when its strings are few), `key` for a key field (which never does).
    fn field_kind(&mut self, field: &str, shape: &Shape, top: bool, key: bool) -> String {
        match shape {
            Shape::Text(distinct) if top && !key && distinct.few() => {
                self.notes.push(format!(
                    "{field}: {} distinct values in {} rows: a reference type, each value stored once",
                    distinct.values.len(),
                    distinct.non_null
                ));
                self.add(&type_name(field, false), one_field("string"))
            }
            Shape::List(element) => {
                let element = self.element(&type_name(field, true), element);
                self.add(
                    &format!("{}List", type_name(field, true)),
                    format!("list = {}\n", quote(&element)),
                )
            }
            Shape::Object(fields) => {
                let body = self.object(fields, &[], false);
                self.add(&type_name(field, false), body)
            }
            Shape::Map(k, v) => {
                let base = type_name(field, false);
                let k = self.element(&format!("{base}Key"), k);
                let v = self.element(&format!("{base}Value"), v);
                self.add(
                    &format!("{base}Map"),
                    format!("map = [{}, {}]\n", quote(&k), quote(&v)),
                )
            }
            scalar => scalar_kind(scalar).to_string(),
        }
    }

    /// The type of the elements (or map keys, values) `shape`, named `name`.
    fn element(&mut self, name: &str, shape: &Shape) -> String {
        match shape {
            Shape::Object(fields) => {
                let body = self.object(fields, &[], false);
                self.add(name, body)
            }
            Shape::List(inner) => {
                let element = self.element(&format!("{name}Item"), inner);
                self.add(
                    &format!("{name}List"),
                    format!("list = {}\n", quote(&element)),
                )
            }
            Shape::Map(..) => {
                let kind = self.field_kind(name, shape, false, false);
                self.add(name, one_field(&kind))
            }
            scalar => self.add(name, one_field(scalar_kind(scalar))),
        }
    }

    /// The TOML body of an object type of `fields`, keyed by `key`; `top` for the root.
    fn object(&mut self, fields: &[(String, Shape)], key: &[String], top: bool) -> String {
        let mut specs = Vec::new();
        for (name, shape) in fields {
            let kind = self.field_kind(name, shape, top, key.contains(name));
            specs.push(format!("{name}: {kind}"));
        }
        let mut body = String::new();
        if !key.is_empty() {
            let key: Vec<String> = key.iter().map(|k| quote(k)).collect();
            let _ = writeln!(body, "key = [{}]", key.join(", "));
        }
        let specs: Vec<String> = specs
            .iter()
            .map(|s| format!("    {},\n", quote(s)))
            .collect();
        let _ = write!(body, "fields = [\n{}]\n", specs.concat());
        body
    }
}

fn one_field(kind: &str) -> String {
    format!("fields = [{}]\n", quote(&format!("value: {kind}")))
}

fn scalar_kind(shape: &Shape) -> &'static str {
    match shape {
        Shape::Bool => "bool",
        Shape::I32 => "i32",
        Shape::I64 => "i64",
        Shape::F32 => "f32",
        Shape::F64 => "f64",
        Shape::Bytes => "bytes",
        _ => "string",
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A type name from a field name: `runtime_min` gives `RuntimeMin`; `singular` drops a
/// plural's `s` (`genres` gives `Genre`, `categories` `Category`).
fn type_name(field: &str, singular: bool) -> String {
    let mut word = field.to_string();
    if singular {
        if let Some(stem) = word.strip_suffix("ies").filter(|s| s.len() > 1) {
            word = format!("{stem}y");
        } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
            word.pop();
        }
    }
    let mut name = String::new();
    for part in word
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'T');
    }
    name
}

/// The schema file's text.
fn render(fields: &[(String, Shape)], sampled: u64, options: &Options) -> String {
    let mut types = Types {
        list: vec![(options.root.clone(), String::new())],
        notes: Vec::new(),
    };
    let root_body = types.object(fields, &options.key, true);
    types.list[0].1 = root_body;
    let mut text = format!(
        "# Inferred by `shoal schema infer` from {} ({sampled} rows sampled).\n",
        options.input_name
    );
    for note in &types.notes {
        let _ = writeln!(text, "# {note}.");
    }
    let _ = writeln!(text, "\nroot = {}", quote(&options.root));
    for (name, body) in &types.list {
        let _ = write!(text, "\n[types.{name}]\n{body}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_fields() {
        assert_eq!(type_name("genres", true), "Genre");
        assert_eq!(type_name("categories", true), "Category");
        assert_eq!(type_name("runtime_min", false), "RuntimeMin");
        assert_eq!(type_name("address", true), "Address");
        assert_eq!(type_name("2nd", false), "T2nd");
    }

    #[test]
    fn few_distinct_strings_become_a_reference_and_the_key_never_does() {
        let mut country = Distinct::default();
        let mut code = Distinct::default();
        for i in 0..100 {
            country.see(["US", "FR"][i % 2]);
            code.see(["A", "B"][i % 2]);
        }
        let fields = vec![
            ("code".to_string(), Shape::Text(code)),
            ("country".to_string(), Shape::Text(country)),
            ("title".to_string(), Shape::Text(Distinct::default())),
        ];
        let options = Options {
            root: "Movie".into(),
            key: vec!["code".into()],
            sample_rows: 100,
            input_name: "x".into(),
        };
        let text = render(&fields, 100, &options);
        let file = crate::schema_file::parse(&text).unwrap();
        let movie = &file.schema.types()[0];
        let kinds: Vec<String> = movie.fields().iter().map(|f| f.kind.to_string()).collect();
        assert_eq!(kinds, ["string", "ref<Country>", "string"], "{text}");
        assert!(
            text.contains("# country: 2 distinct values in 100 rows"),
            "{text}"
        );
    }

    #[test]
    fn json_kinds_widen_and_conflicts_name_the_field() {
        let mut root = Shape::Object(Vec::new());
        let rows = [
            serde_json::json!({"id": 1, "score": 2, "tags": ["a"], "who": {"name": "x"}}),
            serde_json::json!({"id": 2, "score": 2.5, "tags": [], "who": null}),
        ];
        for row in &rows {
            merge(&mut root, row, true).unwrap();
        }
        let Shape::Object(fields) = &root else {
            panic!()
        };
        let kinds: Vec<&str> = fields.iter().map(|(_, s)| label(s)).collect();
        assert_eq!(kinds, ["an integer", "a number", "an array", "an object"]);
        let e = merge(&mut root, &serde_json::json!({"tags": [1]}), true).unwrap_err();
        assert_eq!(e.0, "tags[0]");
        assert_eq!(e.1, "an integer here, a string in earlier lines");
    }
}
