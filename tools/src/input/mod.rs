//! Input for `shoal produce`: rows (one JSON value per JSON line, one object per Parquet
//! row) turned into records of the schema by a [`Converter`], every error carrying the file,
//! the line or row, and the field.
//!
//! A JSON object becomes a record of an object type (fields by name; an unknown name is an
//! error, a missing one is null); a nested object a referenced record; an array a list or
//! set record; an object a map record when the field's type is a map. An object type with a
//! single field also accepts a bare value (`"country": "FR"` for `Country { code }`), which
//! is how repeated strings become shared records.
//!
//! - [`source`] reads what `--input` names (a file, a folder, an `s3://` prefix, `-`);
//! - [`dataset`] finds the part files of a Parquet data set and their partition values;
//! - [`iceberg`] opens an Iceberg table and scans it at a snapshot;
//! - [`infer`] writes a schema file from an input's columns and a sample of its values;
//! - [`parquet`] reads one Parquet file batch by batch, mapped into records column by column
//!   by [`columns`]; [`jsonl`] reads JSON lines, mapped by the [`Converter`] below.

pub mod columns;
pub mod dataset;
pub mod iceberg;
pub mod infer;
pub mod jsonl;
pub mod parquet;
pub mod scalars;
pub mod source;

use std::fmt;

use serde_json::Value as Json;
use shoal_format::{
    FieldKind, Ordinal, Record, RecordSink, Schema, TypeDef, TypeId, TypeKind, Value,
};

/// What kind of bad input an [`InputError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A value or a row that does not fit the schema (the default).
    Data,
    /// The input cannot be found, opened, listed or fetched.
    Unreadable,
    /// A file read as Parquet (a part file of a data set) is not Parquet.
    NotParquet,
    /// A column's Arrow type cannot hold its field, or a partition value its field.
    Column,
    /// A column's Arrow type differs between two part files of a data set.
    TypeChanged,
    /// The input uses a feature its reader cannot apply (an Iceberg deletion vector).
    Unsupported,
}

/// Bad input: which file, which line (or row), which field, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// What kind of problem it is.
    pub problem: Problem,
    /// The input's name (a path, or `stdin`).
    pub file: String,
    /// `line` for JSON lines, `row` for Parquet; empty when the error is about the whole file.
    pub unit: &'static str,
    /// The line or row number, from 1.
    pub number: u64,
    /// The field, as a path (`tags[2]`), when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error about the whole file (it cannot be opened, its columns do not fit).
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        InputError {
            problem: Problem::Unreadable,
            file: file.to_string(),
            unit: "",
            number: 0,
            field: None,
            message: message.into(),
        }
    }

    /// An error at `unit` `number` (`"line"`, 12).
    pub fn at(file: &str, unit: &'static str, number: u64, message: impl Into<String>) -> Self {
        InputError {
            problem: Problem::Data,
            file: file.to_string(),
            unit,
            number,
            field: None,
            message: message.into(),
        }
    }

    /// The same error, of another kind.
    pub fn problem(mut self, problem: Problem) -> Self {
        self.problem = problem;
        self
    }

    /// The same error, blaming `field`.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if !self.unit.is_empty() {
            write!(f, " {} {}", self.unit, self.number)?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// A conversion error inside one row: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Path from the row's top (`genres[1]`, `studio.name`); empty for the row itself.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// Places the error in `file` at `unit` `number`.
    pub fn at(self, file: &str, unit: &'static str, number: u64) -> InputError {
        let e = InputError::at(file, unit, number, self.message);
        if self.field.is_empty() {
            e
        } else {
            e.field(self.field)
        }
    }
}

/// Turns JSON values into records of a schema, adding each to a [`RecordSink`].
#[derive(Debug)]
pub struct Converter<'s> {
    schema: &'s Schema,
    root: TypeId,
}

impl<'s> Converter<'s> {
    /// A converter for records of `root` (an object type of `schema`).
    pub fn new(schema: &'s Schema, root: &str) -> Option<Self> {
        Some(Converter {
            schema,
            root: schema.type_id(root)?,
        })
    }

    /// The root type.
    pub fn root(&self) -> TypeId {
        self.root
    }

    /// Adds `row` as a record of the root type, and every record it refers to.
    pub fn add_row(&self, sink: &mut dyn RecordSink, row: &Json) -> Result<Ordinal, FieldError> {
        let mut path = String::new();
        self.add(sink, self.root, row, &mut path)
    }

    fn def(&self, ty: TypeId) -> &'s TypeDef {
        self.schema
            .type_def(ty)
            .expect("type ids come from the schema")
    }

    fn id(&self, name: &str) -> TypeId {
        self.schema
            .type_id(name)
            .expect("the schema resolved every type name")
    }

    fn add(
        &self,
        sink: &mut dyn RecordSink,
        ty: TypeId,
        json: &Json,
        path: &mut String,
    ) -> Result<Ordinal, FieldError> {
        let def = self.def(ty);
        let fail = |path: &String, message: String| FieldError {
            field: path.clone(),
            message,
        };
        let record = match (&def.kind, json) {
            (TypeKind::Object { fields, .. }, Json::Object(map)) => {
                let mut values = Vec::with_capacity(fields.len());
                for field in fields {
                    let value = map.get(&field.name).unwrap_or(&Json::Null);
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&field.name);
                    values.push(self.value(sink, &field.kind, value, path)?);
                    path.truncate(len);
                }
                if map.len() > values.iter().filter(|v| !v.is_null()).count() {
                    for name in map.keys() {
                        if !fields.iter().any(|f| &f.name == name) {
                            let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                            return Err(fail(
                                path,
                                format!(
                                    "unknown field `{name}`: type {} has {}",
                                    def.name,
                                    known.join(", ")
                                ),
                            ));
                        }
                    }
                }
                self.check_key(def, &values, path)?;
                Record::Object(values)
            }
            // A bare value for an object type of one field: that field's value.
            (TypeKind::Object { fields, .. }, bare) if fields.len() == 1 && !bare.is_null() => {
                if let (FieldKind::String, Json::String(s)) = (&fields[0].kind, bare) {
                    return sink.add_str(ty, s).map_err(|e| fail(path, e.to_string()));
                }
                let value = self.value(sink, &fields[0].kind, bare, path)?;
                Record::Object(vec![value])
            }
            (TypeKind::List { element }, Json::Array(items))
            | (TypeKind::Set { element }, Json::Array(items)) => {
                let element = self.id(element);
                let mut ordinals = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    ordinals.push(self.add(sink, element, item, path)?);
                    path.truncate(len);
                }
                if matches!(def.kind, TypeKind::List { .. }) {
                    Record::List(ordinals)
                } else {
                    Record::Set(ordinals)
                }
            }
            (TypeKind::Map { key, value }, Json::Object(map)) => {
                let (key, value) = (self.id(key), self.id(value));
                let mut pairs = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let len = path.len();
                    path.push_str(&format!("[{k:?}]"));
                    let k = self.map_key(sink, key, k, path)?;
                    pairs.push((k, self.add(sink, value, v, path)?));
                    path.truncate(len);
                }
                Record::Map(pairs)
            }
            (kind, other) => {
                let wanted = match kind {
                    TypeKind::Object { .. } => "an object",
                    TypeKind::List { .. } | TypeKind::Set { .. } => "an array",
                    TypeKind::Map { .. } => "an object (a map)",
                };
                return Err(fail(
                    path,
                    format!(
                        "expected {wanted} for type {}, found {}",
                        def.name,
                        describe(other)
                    ),
                ));
            }
        };
        sink.add(ty, record).map_err(|e| fail(path, e.to_string()))
    }

    /// A map key arrives as a JSON object key (a string): it becomes a record of the key
    /// type, which must have one scalar field.
    fn map_key(
        &self,
        sink: &mut dyn RecordSink,
        key: TypeId,
        text: &str,
        path: &mut String,
    ) -> Result<Ordinal, FieldError> {
        let json = match self.def(key).fields() {
            [f] if matches!(f.kind, FieldKind::I32 | FieldKind::I64) => text
                .parse::<i64>()
                .map(Json::from)
                .map_err(|_| FieldError {
                    field: path.clone(),
                    message: format!("map key {text:?} is not an integer"),
                })?,
            [f] if f.kind == FieldKind::Bool => match text {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                _ => {
                    return Err(FieldError {
                        field: path.clone(),
                        message: format!("map key {text:?} is not true or false"),
                    })
                }
            },
            _ => Json::String(text.to_string()),
        };
        self.add(sink, key, &json, path)
    }

    fn value(
        &self,
        sink: &mut dyn RecordSink,
        kind: &FieldKind,
        json: &Json,
        path: &mut String,
    ) -> Result<Value, FieldError> {
        if json.is_null() {
            return Ok(Value::Null);
        }
        let wrong = |wanted: &str| FieldError {
            field: path.clone(),
            message: format!("expected {wanted}, found {}", describe(json)),
        };
        Ok(match kind {
            FieldKind::Bool => Value::Bool(json.as_bool().ok_or_else(|| wrong("true or false"))?),
            FieldKind::I32 => {
                let n = json.as_i64().ok_or_else(|| wrong("an integer (i32)"))?;
                Value::I32(i32::try_from(n).map_err(|_| wrong("an integer that fits an i32"))?)
            }
            FieldKind::I64 => Value::I64(json.as_i64().ok_or_else(|| wrong("an integer (i64)"))?),
            FieldKind::F32 => Value::F32(json.as_f64().ok_or_else(|| wrong("a number"))? as f32),
            FieldKind::F64 => Value::F64(json.as_f64().ok_or_else(|| wrong("a number"))?),
            FieldKind::String => {
                Value::String(json.as_str().ok_or_else(|| wrong("a string"))?.into())
            }
            FieldKind::Bytes => match json {
                Json::String(s) => Value::Bytes(s.as_bytes().into()),
                Json::Array(items) => Value::Bytes(
                    items
                        .iter()
                        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                        .collect::<Option<Vec<u8>>>()
                        .ok_or_else(|| wrong("a string or an array of bytes (0-255)"))?
                        .into(),
                ),
                _ => return Err(wrong("a string or an array of bytes (0-255)")),
            },
            FieldKind::Reference(target) => {
                Value::Ref(self.add(sink, self.id(target), json, path)?)
            }
        })
    }

    fn check_key(&self, def: &TypeDef, values: &[Value], path: &str) -> Result<(), FieldError> {
        let Some(key) = def.key() else {
            return Ok(());
        };
        for key_path in key {
            let [name] = key_path.0.as_slice() else {
                continue; // a path through a reference: checked by the producer
            };
            let at = def.fields().iter().position(|f| &f.name == name);
            if at.is_some_and(|i| values[i].is_null()) {
                return Err(FieldError {
                    field: if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    },
                    message: format!("missing primary key field `{name}` of type {}", def.name),
                });
            }
        }
        Ok(())
    }
}

/// A short description of a JSON value for an error message.
pub fn describe(json: &Json) -> String {
    let shown = |s: String| {
        if s.len() > 40 {
            let mut cut = 37;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}...", &s[..cut])
        } else {
            s
        }
    };
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("{b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) => format!("the string {}", shown(format!("{s:?}"))),
        Json::Array(a) => format!("an array of {}", a.len()),
        Json::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shoal_format::StateBuilder;
    use std::sync::Arc;

    fn catalog() -> crate::schema_file::SchemaFile {
        crate::schema_file::parse(
            r#"
[types.Movie]
key = ["id"]
fields = ["id: i64", "title: string", "year: i32", "country: Country", "tags: TagList", "cast: Cast"]
[types.Country]
fields = ["code: string"]
[types.TagList]
set = "Tag"
[types.Tag]
fields = ["name: string"]
[types.Cast]
map = ["Role", "Person"]
[types.Role]
fields = ["name: string"]
[types.Person]
fields = ["name: string", "born: i32"]
"#,
        )
        .unwrap()
    }

    #[test]
    fn rows_become_records_and_errors_name_the_field() {
        let file = catalog();
        let schema = Arc::new(file.schema.clone());
        let c = Converter::new(&schema, "Movie").unwrap();
        let mut sink = StateBuilder::new(schema.clone());
        let row = json!({"id": 7, "title": "Heat", "year": 1995, "country": "US",
            "tags": ["crime", "la", "crime"], "cast": {"lead": {"name": "Al", "born": 1940}}});
        c.add_row(&mut sink, &row).unwrap();
        let state = sink.finish();
        let movie = state.get(TypeId(0), Ordinal(0)).unwrap();
        let Record::Object(values) = movie else {
            panic!("{movie:?}")
        };
        assert_eq!(values[0], Value::I64(7));
        assert_eq!(values[2], Value::I32(1995));
        assert_eq!(state.len(schema.type_id("Tag").unwrap()), 2);
        assert_eq!(state.len(schema.type_id("Person").unwrap()), 1);

        let mut sink = StateBuilder::new(schema.clone());
        let err = |row: Json, sink: &mut StateBuilder| c.add_row(sink, &row).unwrap_err();
        let e = err(json!({"id": 1, "year": "1995"}), &mut sink);
        assert_eq!(e.field, "year");
        assert!(e
            .message
            .contains("expected an integer (i32), found the string \"1995\""));
        let e = err(json!({"id": 1, "year": 3000000000i64}), &mut sink);
        assert!(e.message.contains("fits an i32"), "{e:?}");
        let e = err(json!({"title": "x"}), &mut sink);
        assert_eq!(e.field, "id");
        assert!(e.message.contains("missing primary key"), "{e:?}");
        let e = err(json!({"id": 1, "tags": ["a", 5]}), &mut sink);
        assert_eq!(e.field, "tags[1]");
        let e = err(json!({"id": 1, "titel": "x"}), &mut sink);
        assert!(e.message.contains("unknown field `titel`"), "{e:?}");
        let e = err(json!({"id": 1, "tags": "a"}), &mut sink);
        assert!(e.message.contains("expected an array"), "{e:?}");
        let e = err(json!([1]), &mut sink);
        assert_eq!(e.field, "");
        let placed = e.at("in.jsonl", "line", 3);
        assert_eq!(
            placed.to_string(),
            "in.jsonl line 3: expected an object for type Movie, found an array of 1"
        );
    }
}
