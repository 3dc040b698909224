//! A [`Schema`] from serde types, so a producer needs no schema written by hand.
//!
//! The Rust type is traced with serde-reflection (through its `Deserialize` impl) and mapped
//! with the same rules the record serializer follows:
//!
//! - a struct is an object type of the same name; `Option<T>` is a nullable `T`;
//! - integers up to 32 bits (and `u16`, `u8`) are `i32`, wider ones `i64`; `f32`, `f64`,
//!   `bool`, `String` (and `char`) and byte buffers map to their kinds;
//! - a nested struct is a reference to its type (shared structs are deduplicated records);
//! - a sequence (`Vec`, `HashSet`, ...) is a reference to a list type named `<Type><Field>`
//!   whose elements are the nested struct, or, for scalars, a one-field object type
//!   `<Type><Field>Item` with a field `value` (so repeated strings are stored once);
//! - a map is a map type `<Type><Field>` with key and value types chosen the same way;
//! - a newtype struct is the type it wraps.
//!
//! Enums and tuples have no mapping and are refused with the path where they occur.

use std::collections::BTreeMap;

use serde_reflection::{ContainerFormat, Format, Registry, Tracer, TracerConfig};
use shoal_format::{FieldKind, Schema, TypeDef};

use crate::error::{Error, Result};

/// The schema of `T` (and every type it contains), with `primary_key` as the key of `T`'s
/// type; returns the schema and the name of `T`'s type (the root type).
pub fn schema_of<'de, T: serde::Deserialize<'de>>(
    primary_key: &[&str],
) -> Result<(Schema, String)> {
    let mut tracer = Tracer::new(TracerConfig::default());
    let (format, _) = tracer
        .trace_simple_type::<T>()
        .map_err(|e| Error::Usage(format!("cannot trace the type: {e}")))?;
    // Unchecked: an incompletely traced enum is refused below, with the field it sits in.
    let registry = tracer.registry_unchecked();
    let Format::TypeName(root) = format else {
        return Err(Error::Usage("the root type must be a struct".into()));
    };
    let mut builder = Builder {
        registry: &registry,
        types: BTreeMap::new(),
    };
    builder.object(&root)?;
    let mut types: Vec<TypeDef> = Vec::new();
    for (name, def) in builder.types {
        types.push(if name == root && !primary_key.is_empty() {
            def.primary_key(primary_key)
        } else {
            def
        });
    }
    // The root type first, so it is type 0.
    types.sort_by_key(|t| t.name != root);
    let schema = Schema::new(types)?;
    Ok((schema, root))
}

struct Builder<'a> {
    registry: &'a Registry,
    types: BTreeMap<String, TypeDef>,
}

/// What a field or an element is.
enum Kind {
    Scalar(FieldKind),
    /// A reference to a struct type of this name.
    Struct(String),
    Seq(Box<Format>),
    Map(Box<Format>, Box<Format>),
}

impl Builder<'_> {
    fn container(&self, name: &str) -> Result<&ContainerFormat> {
        self.registry
            .get(name)
            .ok_or_else(|| Error::Usage(format!("type `{name}` was not traced")))
    }

    /// Adds the object type of struct `name` (once).
    fn object(&mut self, name: &str) -> Result<()> {
        if self.types.contains_key(name) {
            return Ok(());
        }
        let fields = match self.container(name)? {
            ContainerFormat::Struct(fields) => fields.clone(),
            _ => {
                return Err(Error::Usage(format!(
                    "`{name}`: only structs with named fields map to object types"
                )))
            }
        };
        // Reserve the name first: a struct may refer to itself through a sequence.
        self.types.insert(name.to_string(), TypeDef::object(name));
        let mut def = TypeDef::object(name);
        for field in fields {
            let path = format!("{name}.{}", field.name);
            def = match self.kind(&field.value, &path)? {
                Kind::Scalar(k) => def.field(&field.name, k),
                Kind::Struct(target) => {
                    self.object(&target)?;
                    def.reference(&field.name, &target)
                }
                Kind::Seq(element) => {
                    let list = format!("{name}{}", camel(&field.name));
                    let element = self.element(&element, &format!("{list}Item"), &path)?;
                    self.types
                        .insert(list.clone(), TypeDef::list(&list, &element));
                    def.reference(&field.name, &list)
                }
                Kind::Map(key, value) => {
                    let map = format!("{name}{}", camel(&field.name));
                    let key = self.element(&key, &format!("{map}Key"), &path)?;
                    let value = self.element(&value, &format!("{map}Value"), &path)?;
                    self.types
                        .insert(map.clone(), TypeDef::map(&map, &key, &value));
                    def.reference(&field.name, &map)
                }
            };
        }
        self.types.insert(name.to_string(), def);
        Ok(())
    }

    /// The type of an element (of a list, or a map key or value): a struct type, or a
    /// one-field wrapper named `wrapper` for a scalar.
    fn element(&mut self, format: &Format, wrapper: &str, path: &str) -> Result<String> {
        match self.kind(format, path)? {
            Kind::Struct(name) => {
                self.object(&name)?;
                Ok(name)
            }
            Kind::Scalar(k) => {
                self.types.insert(
                    wrapper.to_string(),
                    TypeDef::object(wrapper).field("value", k),
                );
                Ok(wrapper.to_string())
            }
            Kind::Seq(_) | Kind::Map(..) => Err(Error::Usage(format!(
                "`{path}`: a collection of collections has no mapping; wrap the inner one in a struct"
            ))),
        }
    }

    fn kind(&self, format: &Format, path: &str) -> Result<Kind> {
        Ok(match format {
            Format::Option(inner) => return self.kind(inner, path),
            Format::Bool => Kind::Scalar(FieldKind::Bool),
            Format::I8 | Format::I16 | Format::I32 | Format::U8 | Format::U16 => {
                Kind::Scalar(FieldKind::I32)
            }
            Format::I64 | Format::U32 | Format::U64 => Kind::Scalar(FieldKind::I64),
            Format::F32 => Kind::Scalar(FieldKind::F32),
            Format::F64 => Kind::Scalar(FieldKind::F64),
            Format::Str | Format::Char => Kind::Scalar(FieldKind::String),
            Format::Bytes => Kind::Scalar(FieldKind::Bytes),
            Format::Seq(e) => Kind::Seq(e.clone()),
            Format::Map { key, value } => Kind::Map(key.clone(), value.clone()),
            Format::TypeName(name) => match self.container(name)? {
                ContainerFormat::Struct(_) => Kind::Struct(name.clone()),
                ContainerFormat::NewTypeStruct(inner) => return self.kind(inner, path),
                _ => {
                    return Err(Error::Usage(format!(
                        "`{path}`: type `{name}` (an enum, a tuple or unit struct) has no mapping"
                    )))
                }
            },
            other => {
                return Err(Error::Usage(format!(
                    "`{path}`: {other:?} has no mapping to a shoal field"
                )))
            }
        })
    }
}

/// `genre_ids` -> `GenreIds`.
fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
