//! Schema diff: what changed between two schemas, and whether consumers built for the old one
//! keep working on the new one.
//!
//! Adding or removing a type or a field is compatible: a reader of the old schema sees a
//! missing field as null and never asks for a new one. Changing what a field holds, what a
//! collection holds, the kind of a type or its primary key is not.

use std::fmt;

use crate::schema::{kind_label, FieldKind, FieldPath, Schema, TypeKind};

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaChange {
    /// A type exists only in the new schema.
    TypeAdded(String),
    /// A type exists only in the old schema.
    TypeRemoved(String),
    /// A type changed between object, list, set and map.
    TypeKindChanged {
        /// The type.
        type_name: String,
        /// The old kind.
        from: &'static str,
        /// The new kind.
        to: &'static str,
    },
    /// A list, set or map now holds another type.
    ElementChanged {
        /// The collection type.
        type_name: String,
        /// The old element description.
        from: String,
        /// The new element description.
        to: String,
    },
    /// An object type gained a field.
    FieldAdded {
        /// The type.
        type_name: String,
        /// The new field.
        field: String,
    },
    /// An object type lost a field.
    FieldRemoved {
        /// The type.
        type_name: String,
        /// The removed field.
        field: String,
    },
    /// A field changed kind.
    FieldKindChanged {
        /// The type.
        type_name: String,
        /// The field.
        field: String,
        /// The old kind.
        from: FieldKind,
        /// The new kind.
        to: FieldKind,
    },
    /// An object type's primary key changed.
    PrimaryKeyChanged {
        /// The type.
        type_name: String,
        /// The old key.
        from: Option<Vec<FieldPath>>,
        /// The new key.
        to: Option<Vec<FieldPath>>,
    },
}

impl SchemaChange {
    /// True when readers of the old schema keep working on data of the new one.
    pub fn is_compatible(&self) -> bool {
        matches!(
            self,
            SchemaChange::TypeAdded(_)
                | SchemaChange::TypeRemoved(_)
                | SchemaChange::FieldAdded { .. }
                | SchemaChange::FieldRemoved { .. }
        )
    }
}

impl fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaChange::TypeAdded(t) => write!(f, "type `{t}` added"),
            SchemaChange::TypeRemoved(t) => write!(f, "type `{t}` removed"),
            SchemaChange::TypeKindChanged {
                type_name,
                from,
                to,
            } => {
                write!(f, "type `{type_name}` changed from {from} to {to}")
            }
            SchemaChange::ElementChanged {
                type_name,
                from,
                to,
            } => write!(f, "`{type_name}` now holds {to} instead of {from}"),
            SchemaChange::FieldAdded { type_name, field } => {
                write!(f, "field `{type_name}.{field}` added")
            }
            SchemaChange::FieldRemoved { type_name, field } => {
                write!(f, "field `{type_name}.{field}` removed")
            }
            SchemaChange::FieldKindChanged {
                type_name,
                field,
                from,
                to,
            } => write!(f, "field `{type_name}.{field}` changed from {from} to {to}"),
            SchemaChange::PrimaryKeyChanged { type_name, .. } => {
                write!(f, "primary key of `{type_name}` changed")
            }
        }
    }
}

/// The differences between an old and a new schema.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaDiff {
    /// Every change, types in the order of the old schema then the new.
    pub changes: Vec<SchemaChange>,
}

impl SchemaDiff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when every change is compatible.
    pub fn is_compatible(&self) -> bool {
        self.changes.iter().all(SchemaChange::is_compatible)
    }
}

pub(crate) fn diff(old: &Schema, new: &Schema) -> SchemaDiff {
    let mut changes = Vec::new();
    for t in old.types() {
        match new.type_id(&t.name).and_then(|id| new.type_def(id)) {
            None => changes.push(SchemaChange::TypeRemoved(t.name.clone())),
            Some(n) => diff_type(&t.name, &t.kind, &n.kind, &mut changes),
        }
    }
    for t in new.types() {
        if old.type_id(&t.name).is_none() {
            changes.push(SchemaChange::TypeAdded(t.name.clone()));
        }
    }
    SchemaDiff { changes }
}

fn diff_type(name: &str, old: &TypeKind, new: &TypeKind, out: &mut Vec<SchemaChange>) {
    match (old, new) {
        (
            TypeKind::Object {
                fields: of,
                primary_key: ok,
            },
            TypeKind::Object {
                fields: nf,
                primary_key: nk,
            },
        ) => {
            for f in of {
                match nf.iter().find(|n| n.name == f.name) {
                    None => out.push(SchemaChange::FieldRemoved {
                        type_name: name.to_owned(),
                        field: f.name.clone(),
                    }),
                    Some(n) if n.kind != f.kind => out.push(SchemaChange::FieldKindChanged {
                        type_name: name.to_owned(),
                        field: f.name.clone(),
                        from: f.kind.clone(),
                        to: n.kind.clone(),
                    }),
                    Some(_) => {}
                }
            }
            for n in nf {
                if !of.iter().any(|f| f.name == n.name) {
                    out.push(SchemaChange::FieldAdded {
                        type_name: name.to_owned(),
                        field: n.name.clone(),
                    });
                }
            }
            if ok != nk {
                out.push(SchemaChange::PrimaryKeyChanged {
                    type_name: name.to_owned(),
                    from: ok.clone(),
                    to: nk.clone(),
                });
            }
        }
        (a, b) if kind_label(a) != kind_label(b) => out.push(SchemaChange::TypeKindChanged {
            type_name: name.to_owned(),
            from: kind_label(a),
            to: kind_label(b),
        }),
        (a, b) if a != b => out.push(SchemaChange::ElementChanged {
            type_name: name.to_owned(),
            from: elements(a),
            to: elements(b),
        }),
        _ => {}
    }
}

fn elements(kind: &TypeKind) -> String {
    match kind {
        TypeKind::List { element } | TypeKind::Set { element } => element.clone(),
        TypeKind::Map { key, value } => format!("{key} -> {value}"),
        TypeKind::Object { .. } => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::{FieldKind, Schema, TypeDef};

    use super::SchemaChange;

    fn movie(extra: Option<(&str, FieldKind)>) -> Schema {
        let mut t = TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String);
        if let Some((name, kind)) = extra {
            t = t.field(name, kind);
        }
        Schema::new(vec![t.primary_key(&["id"])]).unwrap()
    }

    #[test]
    fn identical_schemas_have_an_empty_diff() {
        assert!(movie(None).diff(&movie(None)).is_empty());
    }

    #[test]
    fn added_field_is_compatible() {
        let d = movie(None).diff(&movie(Some(("year", FieldKind::I32))));
        assert_eq!(
            d.changes,
            vec![SchemaChange::FieldAdded {
                type_name: "Movie".into(),
                field: "year".into()
            }]
        );
        assert!(d.is_compatible());
    }

    #[test]
    fn changed_field_kind_is_incompatible() {
        let old = movie(Some(("year", FieldKind::I32)));
        let new = movie(Some(("year", FieldKind::String)));
        let d = old.diff(&new);
        assert_eq!(d.changes.len(), 1);
        assert!(!d.is_compatible());
        assert_eq!(
            d.changes[0].to_string(),
            "field `Movie.year` changed from i32 to string"
        );
    }

    #[test]
    fn type_kind_change_is_incompatible() {
        let old = Schema::new(vec![TypeDef::object("E"), TypeDef::list("L", "E")]).unwrap();
        let new = Schema::new(vec![TypeDef::object("E"), TypeDef::set("L", "E")]).unwrap();
        let d = old.diff(&new);
        assert!(!d.is_compatible());
        assert!(matches!(d.changes[0], SchemaChange::TypeKindChanged { .. }));
    }
}
