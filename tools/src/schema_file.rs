//! The schema file of `shoal produce`: TOML, one table per type.
//!
//! ```toml
//! root = "Movie"                 # the type each input line or row is a record of
//!
//! [types.Movie]
//! key = ["id"]                   # primary key: one or more fields (dotted paths allowed)
//! fields = [
//!     "id: i64",
//!     "title: string",
//!     "country: Country",        # any other name refers to a type: a reference
//!     "tags: TagList",
//! ]
//!
//! [types.Country]
//! fields = ["code: string"]
//!
//! [types.TagList]
//! list = "Tag"                   # or: set = "Tag", or: map = ["Key", "Value"]
//! ```
//!
//! Field kinds: `bool`, `i32`, `i64`, `f32`, `f64`, `string`, `bytes`, or the name of a type.
//! Every field is nullable. Types are numbered in the order the file lists them.

use std::path::Path;

use serde::Deserialize;
use shoal_format::{FieldKind, Schema, TypeDef};

use crate::error::{CliError, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    root: Option<String>,
    types: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeEntry {
    fields: Option<Vec<String>>,
    key: Option<Vec<String>>,
    list: Option<String>,
    set: Option<String>,
    map: Option<(String, String)>,
}

/// A parsed schema file.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The schema.
    pub schema: Schema,
    /// The root type's name.
    pub root: String,
}

/// Reads and checks the schema file at `path`.
pub fn load(path: &Path) -> Result<SchemaFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::fail(format!(
            "cannot read the schema file {}: {e}",
            path.display()
        ))
    })?;
    parse(&text).map_err(|e| e.context(format!("schema file {}", path.display())))
}

/// Parses the text of a schema file.
pub fn parse(text: &str) -> Result<SchemaFile> {
    let file: File = toml::from_str(text).map_err(|e| {
        CliError::fail(e.message().to_string()).context(match e.span() {
            Some(span) => format!("line {}", line_of(text, span.start)),
            None => "TOML".to_string(),
        })
    })?;
    if file.types.is_empty() {
        return Err(CliError::fail("no types: add a [types.<Name>] table"));
    }
    // toml keeps a table's keys in file order only with its `preserve_order` feature; find
    // the order from the text so type ids follow the file.
    let mut names: Vec<&String> = file.types.keys().collect();
    names.sort_by_key(|n| {
        text.find(&format!("[types.{n}]"))
            .or_else(|| text.find(&format!("[types.\"{n}\"]")))
            .unwrap_or(usize::MAX)
    });
    let mut defs = Vec::new();
    for name in names {
        let entry: TypeEntry =
            file.types[name]
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| {
                    CliError::fail(format!("type `{name}`: {}", e.message()))
                })?;
        defs.push(type_def(name, entry)?);
    }
    let root = match file.root {
        Some(r) => r,
        None => root_of(&defs)?,
    };
    let schema = Schema::new(defs).map_err(|e| CliError::fail(e.to_string()))?;
    match schema.type_id(&root) {
        Some(id)
            if matches!(
                schema.type_def(id).map(|d| &d.kind),
                Some(shoal_format::TypeKind::Object { .. })
            ) => {}
        Some(_) => {
            return Err(CliError::fail(format!(
                "root type `{root}` must be an object type (with fields)"
            )))
        }
        None => {
            return Err(CliError::fail(format!(
                "root type `{root}` is not declared: add [types.{root}]"
            )))
        }
    }
    Ok(SchemaFile { schema, root })
}

fn type_def(name: &str, e: TypeEntry) -> Result<TypeDef> {
    let shapes = [
        e.fields.is_some(),
        e.list.is_some(),
        e.set.is_some(),
        e.map.is_some(),
    ];
    if shapes.iter().filter(|s| **s).count() != 1 {
        return Err(CliError::fail(format!(
            "type `{name}` needs exactly one of `fields`, `list`, `set` or `map`"
        )));
    }
    if e.key.is_some() && e.fields.is_none() {
        return Err(CliError::fail(format!(
            "type `{name}`: only an object type (with `fields`) has a `key`"
        )));
    }
    if let Some(element) = e.list {
        return Ok(TypeDef::list(name, &element));
    }
    if let Some(element) = e.set {
        return Ok(TypeDef::set(name, &element));
    }
    if let Some((k, v)) = e.map {
        return Ok(TypeDef::map(name, &k, &v));
    }
    let mut def = TypeDef::object(name);
    for spec in e.fields.unwrap_or_default() {
        let (field, kind) = spec.split_once(':').ok_or_else(|| {
            CliError::fail(format!(
                "type `{name}`: field \"{spec}\" should read \"name: kind\""
            ))
        })?;
        def = def.field(field.trim(), kind_of(kind.trim()));
    }
    if let Some(key) = e.key {
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        def = def.primary_key(&key);
    }
    Ok(def)
}

fn kind_of(kind: &str) -> FieldKind {
    match kind {
        "bool" => FieldKind::Bool,
        "i32" => FieldKind::I32,
        "i64" => FieldKind::I64,
        "f32" => FieldKind::F32,
        "f64" => FieldKind::F64,
        "string" => FieldKind::String,
        "bytes" => FieldKind::Bytes,
        other => FieldKind::Reference(other.to_string()),
    }
}

/// The one object type no other type refers to (the root, when `root` is not given).
pub fn root_of(defs: &[TypeDef]) -> Result<String> {
    use shoal_format::TypeKind;
    let mut referred = std::collections::HashSet::new();
    for d in defs {
        match &d.kind {
            TypeKind::Object { fields, .. } => {
                for f in fields {
                    if let FieldKind::Reference(t) = &f.kind {
                        referred.insert(t.as_str());
                    }
                }
            }
            TypeKind::List { element } | TypeKind::Set { element } => {
                referred.insert(element);
            }
            TypeKind::Map { key, value } => {
                referred.insert(key);
                referred.insert(value);
            }
        }
    }
    let free: Vec<&str> = defs
        .iter()
        .filter(|d| matches!(d.kind, TypeKind::Object { .. }))
        .map(|d| d.name.as_str())
        .filter(|n| !referred.contains(n))
        .collect();
    match free.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(CliError::fail(format!(
            "cannot tell the root type (candidates: {}): add `root = \"<Type>\"` at the top",
            free.join(", ")
        ))),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"
[types.Movie]
key = ["id"]
fields = ["id: i64", "title: string", "country: Country", "tags: TagList"]

[types.Country]
fields = ["code: string"]

[types.TagList]
list = "Tag"

[types.Tag]
fields = ["name: string"]
"#;

    #[test]
    fn types_follow_the_file_and_the_root_is_found() {
        let f = parse(CATALOG).unwrap();
        assert_eq!(f.root, "Movie");
        let names: Vec<&str> = f.schema.types().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Movie", "Country", "TagList", "Tag"]);
        let movie = &f.schema.types()[0];
        assert_eq!(
            movie.fields()[2].kind,
            FieldKind::Reference("Country".into())
        );
        assert_eq!(movie.key().unwrap().len(), 1);
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("[types.A]\nfields = [\"id i64\"]\n").unwrap_err();
        assert!(e.message.contains("\"name: kind\""), "{e}");
        let e = parse("[types.A]\nfields = [\"b: Missing\"]\n").unwrap_err();
        assert!(e.message.contains("Missing"), "{e}");
        let e = parse("[types.A]\nlist = \"B\"\nfields = []\n").unwrap_err();
        assert!(e.message.contains("exactly one"), "{e}");
        let e = parse("[types.A]\nfields = [\"id: i64\"]\nkye = [\"id\"]\n").unwrap_err();
        assert!(e.message.contains("kye"), "{e}");
        let e = parse("root = \"B\"\n[types.A]\nfields = [\"id: i64\"]\n").unwrap_err();
        assert!(e.message.contains("root type `B`"), "{e}");
        let e = parse("[types.A\n").unwrap_err();
        assert!(e.message.starts_with("line 1"), "{e}");
    }
}
