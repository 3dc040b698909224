//! The schema: named object, list, set and map types, their fields, and primary keys.
//!
//! A schema is built from [`TypeDef`]s that refer to each other by name, validated once by
//! [`Schema::new`], and from then on answers by [`TypeId`] and [`FieldId`]. Its binary encoding
//! (in every blob header) is described in `docs/FORMAT.md`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::error::{Error, Result};
use crate::ids::{FieldId, TypeId};

/// The kind of an object field. Every field is nullable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// `true` or `false`.
    Bool,
    /// A signed 32-bit integer.
    I32,
    /// A signed 64-bit integer.
    I64,
    /// A 32-bit float, stored bit-exactly.
    F32,
    /// A 64-bit float, stored bit-exactly.
    F64,
    /// A UTF-8 string, read in place as `&str`.
    String,
    /// A byte string, read in place as `&[u8]`.
    Bytes,
    /// A reference to a record of the named type.
    Reference(String),
}

impl FieldKind {
    /// The kind's code (the tag of its values in a packed row, see `rows`).
    pub(crate) fn code(&self) -> u8 {
        match self {
            FieldKind::Bool => 1,
            FieldKind::I32 => 2,
            FieldKind::I64 => 3,
            FieldKind::F32 => 4,
            FieldKind::F64 => 5,
            FieldKind::String => 6,
            FieldKind::Bytes => 7,
            FieldKind::Reference(_) => 8,
        }
    }

    /// True for `string` and `bytes`, whose values live in a per-page heap.
    pub fn is_var(&self) -> bool {
        matches!(self, FieldKind::String | FieldKind::Bytes)
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldKind::Bool => f.write_str("bool"),
            FieldKind::I32 => f.write_str("i32"),
            FieldKind::I64 => f.write_str("i64"),
            FieldKind::F32 => f.write_str("f32"),
            FieldKind::F64 => f.write_str("f64"),
            FieldKind::String => f.write_str("string"),
            FieldKind::Bytes => f.write_str("bytes"),
            FieldKind::Reference(t) => write!(f, "ref<{t}>"),
        }
    }
}

/// A named field of an object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// The field's name, unique within its type.
    pub name: String,
    /// What the field holds.
    pub kind: FieldKind,
}

/// A path of field names from an object type to a scalar field, possibly through references:
/// `["director", "name"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// Parses `a.b.c`.
    pub fn parse(dotted: &str) -> Self {
        FieldPath(dotted.split('.').map(str::to_owned).collect())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// What a type is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKind {
    /// A record with named fields.
    Object {
        /// The fields, in order; a field's position is its [`FieldId`].
        fields: Vec<FieldDef>,
        /// The primary key, if the type has one: one or more paths to scalar fields.
        primary_key: Option<Vec<FieldPath>>,
    },
    /// An ordered list of references to records of `element`.
    List {
        /// The element type's name.
        element: String,
    },
    /// A set of references to records of `element` (stored sorted by ordinal, no duplicates).
    Set {
        /// The element type's name.
        element: String,
    },
    /// A map from references of `key` to references of `value` (sorted by key ordinal).
    Map {
        /// The key type's name.
        key: String,
        /// The value type's name.
        value: String,
    },
}

impl TypeKind {
    fn code(&self) -> u8 {
        match self {
            TypeKind::Object { .. } => 1,
            TypeKind::List { .. } => 2,
            TypeKind::Set { .. } => 3,
            TypeKind::Map { .. } => 4,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            TypeKind::Object { .. } => "object",
            TypeKind::List { .. } => "list",
            TypeKind::Set { .. } => "set",
            TypeKind::Map { .. } => "map",
        }
    }
}

/// A named type of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    /// The type's name, unique within the schema.
    pub name: String,
    /// What it is.
    pub kind: TypeKind,
}

impl TypeDef {
    /// An object type with no fields yet; add them with [`TypeDef::field`].
    pub fn object(name: &str) -> Self {
        TypeDef {
            name: name.to_owned(),
            kind: TypeKind::Object {
                fields: Vec::new(),
                primary_key: None,
            },
        }
    }

    /// A list type of references to `element`.
    pub fn list(name: &str, element: &str) -> Self {
        TypeDef {
            name: name.to_owned(),
            kind: TypeKind::List {
                element: element.to_owned(),
            },
        }
    }

    /// A set type of references to `element`.
    pub fn set(name: &str, element: &str) -> Self {
        TypeDef {
            name: name.to_owned(),
            kind: TypeKind::Set {
                element: element.to_owned(),
            },
        }
    }

    /// A map type from `key` references to `value` references.
    pub fn map(name: &str, key: &str, value: &str) -> Self {
        TypeDef {
            name: name.to_owned(),
            kind: TypeKind::Map {
                key: key.to_owned(),
                value: value.to_owned(),
            },
        }
    }

    /// Adds a field to an object type (ignored on other kinds; [`Schema::new`] reports it).
    pub fn field(mut self, name: &str, kind: FieldKind) -> Self {
        if let TypeKind::Object { fields, .. } = &mut self.kind {
            fields.push(FieldDef {
                name: name.to_owned(),
                kind,
            });
        }
        self
    }

    /// Adds a reference field to an object type.
    pub fn reference(self, name: &str, target: &str) -> Self {
        self.field(name, FieldKind::Reference(target.to_owned()))
    }

    /// Sets the primary key of an object type: dotted paths such as `"id"` or `"owner.name"`.
    pub fn primary_key(mut self, paths: &[&str]) -> Self {
        if let TypeKind::Object { primary_key, .. } = &mut self.kind {
            *primary_key = Some(paths.iter().map(|p| FieldPath::parse(p)).collect());
        }
        self
    }

    /// The fields of an object type; empty for other kinds.
    pub fn fields(&self) -> &[FieldDef] {
        match &self.kind {
            TypeKind::Object { fields, .. } => fields,
            _ => &[],
        }
    }

    /// The primary key of an object type, if any.
    pub fn key(&self) -> Option<&[FieldPath]> {
        match &self.kind {
            TypeKind::Object { primary_key, .. } => primary_key.as_deref(),
            _ => None,
        }
    }
}

/// How one column of a type is stored: every object field is a column, and a list, set or map
/// type has one column holding its elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Bit-packed fixed-width values (bool, ints, floats, references).
    Fixed(FixedKind),
    /// Variable-length values in a per-page heap (strings, bytes) or element arrays.
    Var(VarKind),
}

/// The value kinds of fixed-width columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedKind {
    /// bool
    Bool,
    /// i32
    I32,
    /// i64
    I64,
    /// f32
    F32,
    /// f64
    F64,
    /// A reference (an ordinal of the target type).
    Ref(TypeId),
}

/// The value kinds of variable-length columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// UTF-8 strings.
    String,
    /// Byte strings.
    Bytes,
    /// The elements of a list or set type: ordinals of the element type.
    Ordinals(TypeId),
    /// The entries of a map type: pairs of key and value ordinals.
    Pairs(TypeId, TypeId),
}

/// A validated schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    types: Vec<TypeDef>,
    columns: Vec<Vec<ColumnKind>>,
    by_name: HashMap<String, TypeId>,
}

impl Schema {
    /// Validates `types` and builds a schema: every referenced type must exist, names must be
    /// unique and non-empty, a primary key must name scalar fields (through references).
    pub fn new(types: Vec<TypeDef>) -> Result<Self> {
        let mut by_name = HashMap::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            if t.name.is_empty() {
                return Err(Error::Schema(format!("type #{i} has an empty name")));
            }
            if by_name.insert(t.name.clone(), TypeId(i as u32)).is_some() {
                return Err(Error::Schema(format!("duplicate type `{}`", t.name)));
            }
        }
        let resolve = |owner: &str, target: &str| -> Result<TypeId> {
            by_name.get(target).copied().ok_or_else(|| {
                Error::Schema(format!("type `{owner}` refers to unknown type `{target}`"))
            })
        };
        let mut columns = Vec::with_capacity(types.len());
        for t in &types {
            columns.push(type_columns(t, &resolve)?);
        }
        let schema = Schema {
            types,
            columns,
            by_name,
        };
        for t in &schema.types {
            schema.validate_key(t)?;
        }
        Ok(schema)
    }

    fn validate_key(&self, t: &TypeDef) -> Result<()> {
        let Some(paths) = t.key() else {
            return Ok(());
        };
        if paths.is_empty() {
            return Err(Error::Schema(format!(
                "primary key of `{}` has no fields",
                t.name
            )));
        }
        let id = self.by_name[&t.name];
        for path in paths {
            self.resolve_path(id, path).map_err(|reason| {
                Error::Schema(format!("primary key of `{}` on `{path}`: {reason}", t.name))
            })?;
        }
        Ok(())
    }

    /// Follows a field path from an object type: the field ids of each step and the kind of the
    /// final (scalar) field.
    pub fn resolve_path(
        &self,
        from: TypeId,
        path: &FieldPath,
    ) -> std::result::Result<(Vec<(TypeId, FieldId)>, FieldKind), String> {
        if path.0.is_empty() {
            return Err("empty path".into());
        }
        let mut steps = Vec::with_capacity(path.0.len());
        let mut current = from;
        for (i, name) in path.0.iter().enumerate() {
            let def = &self.types[current.index()];
            let Some(field) = self.field_id(current, name) else {
                return Err(format!("no field `{name}` in type `{}`", def.name));
            };
            steps.push((current, field));
            let kind = &def.fields()[field.index()].kind;
            let last = i + 1 == path.0.len();
            match (kind, last) {
                (FieldKind::Reference(_), true) => {
                    return Err(format!("`{name}` is a reference, not a scalar field"));
                }
                (FieldKind::Reference(target), false) => {
                    current = self.by_name[target];
                    if !matches!(self.types[current.index()].kind, TypeKind::Object { .. }) {
                        return Err(format!("`{name}` refers to `{target}`, not an object type"));
                    }
                }
                (kind, true) => return Ok((steps, kind.clone())),
                (_, false) => return Err(format!("`{name}` is a scalar, the path goes on")),
            }
        }
        Err("empty path".into())
    }

    /// All types, in [`TypeId`] order.
    pub fn types(&self) -> &[TypeDef] {
        &self.types
    }

    /// The number of types.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// The type with this id.
    pub fn type_def(&self, id: TypeId) -> Option<&TypeDef> {
        self.types.get(id.index())
    }

    /// The id of the type with this name.
    pub fn type_id(&self, name: &str) -> Option<TypeId> {
        self.by_name.get(name).copied()
    }

    /// The id of a field of an object type, by name.
    pub fn field_id(&self, ty: TypeId, name: &str) -> Option<FieldId> {
        let def = self.types.get(ty.index())?;
        def.fields()
            .iter()
            .position(|f| f.name == name)
            .map(|i| FieldId(i as u32))
    }

    /// The storage kind of each column of a type.
    pub fn columns(&self, ty: TypeId) -> &[ColumnKind] {
        self.columns.get(ty.index()).map_or(&[], Vec::as_slice)
    }

    /// Compares this schema (the old one) with `new`.
    pub fn diff(&self, new: &Schema) -> crate::SchemaDiff {
        crate::schema_diff::diff(self, new)
    }

    /// Writes the binary encoding described in `docs/FORMAT.md`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.types.len() as u32);
        for t in &self.types {
            put_str(out, &t.name);
            out.push(t.kind.code());
            match &t.kind {
                TypeKind::Object {
                    fields,
                    primary_key,
                } => {
                    put_u32(out, fields.len() as u32);
                    for f in fields {
                        put_str(out, &f.name);
                        out.push(f.kind.code());
                        if let FieldKind::Reference(target) = &f.kind {
                            put_u32(out, self.by_name[target].0);
                        }
                    }
                    let key = primary_key.as_deref().unwrap_or(&[]);
                    put_u32(out, key.len() as u32);
                    for path in key {
                        put_u32(out, path.0.len() as u32);
                        for step in &path.0 {
                            put_str(out, step);
                        }
                    }
                }
                TypeKind::List { element } | TypeKind::Set { element } => {
                    put_u32(out, self.by_name[element].0);
                }
                TypeKind::Map { key, value } => {
                    put_u32(out, self.by_name[key].0);
                    put_u32(out, self.by_name[value].0);
                }
            }
        }
    }

    /// Reads the binary encoding; every count is checked against the bytes that remain, so a
    /// hostile count is an error, not an allocation.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Schema, String> {
        let mut r = SchemaReader { bytes, pos: 0 };
        let count = r.count(5)?;
        let mut raw = Vec::with_capacity(count);
        for _ in 0..count {
            raw.push(r.raw_type()?);
        }
        if r.pos != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - r.pos));
        }
        let names: Vec<String> = raw.iter().map(|t| t.name.clone()).collect();
        let name_of = |id: u32| -> std::result::Result<String, String> {
            names
                .get(id as usize)
                .cloned()
                .ok_or_else(|| format!("type id {id} out of range ({} types)", names.len()))
        };
        let mut types = Vec::with_capacity(raw.len());
        for t in raw {
            types.push(t.resolve(&name_of)?);
        }
        Schema::new(types).map_err(|e| e.to_string())
    }
}

fn type_columns(
    t: &TypeDef,
    resolve: &dyn Fn(&str, &str) -> Result<TypeId>,
) -> Result<Vec<ColumnKind>> {
    match &t.kind {
        TypeKind::Object { fields, .. } => {
            let mut seen = HashSet::with_capacity(fields.len());
            let mut cols = Vec::with_capacity(fields.len());
            for f in fields {
                if f.name.is_empty() {
                    return Err(Error::Schema(format!(
                        "type `{}` has a field with an empty name",
                        t.name
                    )));
                }
                if !seen.insert(f.name.as_str()) {
                    return Err(Error::Schema(format!(
                        "duplicate field `{}` in type `{}`",
                        f.name, t.name
                    )));
                }
                cols.push(match &f.kind {
                    FieldKind::Bool => ColumnKind::Fixed(FixedKind::Bool),
                    FieldKind::I32 => ColumnKind::Fixed(FixedKind::I32),
                    FieldKind::I64 => ColumnKind::Fixed(FixedKind::I64),
                    FieldKind::F32 => ColumnKind::Fixed(FixedKind::F32),
                    FieldKind::F64 => ColumnKind::Fixed(FixedKind::F64),
                    FieldKind::String => ColumnKind::Var(VarKind::String),
                    FieldKind::Bytes => ColumnKind::Var(VarKind::Bytes),
                    FieldKind::Reference(target) => {
                        ColumnKind::Fixed(FixedKind::Ref(resolve(&t.name, target)?))
                    }
                });
            }
            Ok(cols)
        }
        TypeKind::List { element } | TypeKind::Set { element } => Ok(vec![ColumnKind::Var(
            VarKind::Ordinals(resolve(&t.name, element)?),
        )]),
        TypeKind::Map { key, value } => Ok(vec![ColumnKind::Var(VarKind::Pairs(
            resolve(&t.name, key)?,
            resolve(&t.name, value)?,
        ))]),
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

/// A type as read from bytes, before its references are turned back into names.
struct RawType {
    name: String,
    kind: u8,
    fields: Vec<(String, u8, u32)>,
    key: Vec<FieldPath>,
    targets: [u32; 2],
}

impl RawType {
    fn resolve(
        self,
        name_of: &dyn Fn(u32) -> std::result::Result<String, String>,
    ) -> std::result::Result<TypeDef, String> {
        let kind = match self.kind {
            1 => {
                let mut fields = Vec::with_capacity(self.fields.len());
                for (name, code, target) in self.fields {
                    let kind = field_kind(code, target, name_of)
                        .map_err(|e| format!("field `{name}` of `{}`: {e}", self.name))?;
                    fields.push(FieldDef { name, kind });
                }
                let primary_key = (!self.key.is_empty()).then_some(self.key);
                TypeKind::Object {
                    fields,
                    primary_key,
                }
            }
            2 => TypeKind::List {
                element: name_of(self.targets[0])?,
            },
            3 => TypeKind::Set {
                element: name_of(self.targets[0])?,
            },
            4 => TypeKind::Map {
                key: name_of(self.targets[0])?,
                value: name_of(self.targets[1])?,
            },
            other => return Err(format!("unknown type kind {other} for `{}`", self.name)),
        };
        Ok(TypeDef {
            name: self.name,
            kind,
        })
    }
}

fn field_kind(
    code: u8,
    target: u32,
    name_of: &dyn Fn(u32) -> std::result::Result<String, String>,
) -> std::result::Result<FieldKind, String> {
    Ok(match code {
        1 => FieldKind::Bool,
        2 => FieldKind::I32,
        3 => FieldKind::I64,
        4 => FieldKind::F32,
        5 => FieldKind::F64,
        6 => FieldKind::String,
        7 => FieldKind::Bytes,
        8 => FieldKind::Reference(name_of(target)?),
        other => return Err(format!("unknown field kind {other}")),
    })
}

struct SchemaReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl SchemaReader<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {} (need {n} more)", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count of items that each take at least `min_item` bytes: bounded by what remains.
    fn count(&mut self, min_item: usize) -> std::result::Result<usize, String> {
        let at = self.pos;
        let n = self.u32()? as usize;
        let remaining = self.bytes.len() - self.pos;
        if n.saturating_mul(min_item) > remaining {
            return Err(format!(
                "count {n} at byte {at} exceeds the {remaining} bytes that remain"
            ));
        }
        Ok(n)
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let at = self.pos;
        let n = self.count(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("name at byte {at} is not UTF-8"))
    }

    fn raw_type(&mut self) -> std::result::Result<RawType, String> {
        let name = self.string()?;
        let kind = self.u8()?;
        let mut raw = RawType {
            name,
            kind,
            fields: Vec::new(),
            key: Vec::new(),
            targets: [0, 0],
        };
        match kind {
            1 => {
                let n = self.count(5)?;
                for _ in 0..n {
                    let name = self.string()?;
                    let code = self.u8()?;
                    let target = if code == 8 { self.u32()? } else { 0 };
                    raw.fields.push((name, code, target));
                }
                let paths = self.count(4)?;
                for _ in 0..paths {
                    let steps = self.count(4)?;
                    let mut path = Vec::with_capacity(steps);
                    for _ in 0..steps {
                        path.push(self.string()?);
                    }
                    raw.key.push(FieldPath(path));
                }
            }
            2 | 3 => raw.targets[0] = self.u32()?,
            4 => raw.targets = [self.u32()?, self.u32()?],
            other => {
                return Err(format!(
                    "unknown type kind {other} at byte {}",
                    self.pos - 1
                ))
            }
        }
        Ok(raw)
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.types {
            match &t.kind {
                TypeKind::Object {
                    fields,
                    primary_key,
                } => {
                    write!(f, "object {}", t.name)?;
                    if let Some(key) = primary_key {
                        let key: Vec<String> = key.iter().map(ToString::to_string).collect();
                        write!(f, " key({})", key.join(", "))?;
                    }
                    writeln!(f)?;
                    for field in fields {
                        writeln!(f, "  {}: {}", field.name, field.kind)?;
                    }
                }
                other => {
                    let (a, b) = match other {
                        TypeKind::List { element } | TypeKind::Set { element } => {
                            (element.as_str(), None)
                        }
                        TypeKind::Map { key, value } => (key.as_str(), Some(value.as_str())),
                        TypeKind::Object { .. } => unreachable!("handled above"),
                    };
                    match b {
                        Some(v) => writeln!(f, "{} {}<{a}, {v}>", other.label(), t.name)?,
                        None => writeln!(f, "{} {}<{a}>", other.label(), t.name)?,
                    }
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn kind_label(kind: &TypeKind) -> &'static str {
    kind.label()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Schema {
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .reference("genres", "GenreList")
                .primary_key(&["id"]),
            TypeDef::list("GenreList", "Genre"),
            TypeDef::object("Genre").field("name", FieldKind::String),
        ])
        .unwrap()
    }

    #[test]
    fn encoding_round_trips() {
        let s = catalog();
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(Schema::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn unknown_referenced_type_is_rejected() {
        let err = Schema::new(vec![TypeDef::object("A").reference("b", "B")]).unwrap_err();
        assert!(err.to_string().contains("unknown type `B`"), "{err}");
    }

    #[test]
    fn duplicate_field_is_rejected() {
        let err = Schema::new(vec![TypeDef::object("A")
            .field("x", FieldKind::I32)
            .field("x", FieldKind::I64)])
        .unwrap_err();
        assert!(err.to_string().contains("duplicate field `x`"), "{err}");
    }

    #[test]
    fn key_on_missing_field_is_rejected() {
        let err = Schema::new(vec![TypeDef::object("A")
            .field("x", FieldKind::I32)
            .primary_key(&["y"])])
        .unwrap_err();
        assert!(err.to_string().contains("no field `y`"), "{err}");
    }

    #[test]
    fn key_may_go_through_references() {
        let s = Schema::new(vec![
            TypeDef::object("A")
                .reference("owner", "Person")
                .primary_key(&["owner.name"]),
            TypeDef::object("Person").field("name", FieldKind::String),
        ])
        .unwrap();
        let a = s.type_id("A").unwrap();
        let (steps, kind) = s.resolve_path(a, &FieldPath::parse("owner.name")).unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(kind, FieldKind::String);
    }

    #[test]
    fn key_ending_on_a_reference_is_rejected() {
        let err = Schema::new(vec![
            TypeDef::object("A")
                .reference("owner", "B")
                .primary_key(&["owner"]),
            TypeDef::object("B").field("name", FieldKind::String),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not a scalar"), "{err}");
    }

    #[test]
    fn hostile_counts_are_errors_not_allocations() {
        let bytes = [0xff, 0xff, 0xff, 0x7f];
        let err = Schema::decode(&bytes).unwrap_err();
        assert!(err.contains("exceeds"), "{err}");
    }
}
