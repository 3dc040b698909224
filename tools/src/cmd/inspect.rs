//! `shoal inspect`: the schema of a version, its records per type, and where the bytes go:
//! per type and per field, with page counts and the bit widths the pages were packed at.

use serde::Serialize;
use shoal_consumer::Dataset;
use shoal_format::{FieldId, TypeId, TypeKind};

use crate::cli::Global;
use crate::cmd::load;
use crate::error::Result;
use crate::ui::{self, Out};

/// Arguments of `shoal inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The version to inspect (default: the announced one).
    #[arg(long)]
    pub version: Option<u64>,
}

/// A version's schema and where its bytes go: what `shoal inspect --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The version.
    pub version: u64,
    /// Bytes in column pages, every type.
    pub bytes: u64,
    /// Every type of the schema, in schema order.
    pub types: Vec<TypeRow>,
}

/// One type: its shape, records and bytes.
#[derive(Debug, Serialize)]
pub struct TypeRow {
    /// The type's name.
    pub name: String,
    /// `object`, `list`, `set` or `map`.
    pub kind: &'static str,
    /// For a list, set or map type: what it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds: Option<String>,
    /// The primary key's field paths (empty without one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// Records present.
    pub records: u64,
    /// Ordinals in use, holes included (removed records leave holes until reused).
    pub ordinal_space: u32,
    /// Bytes in its column pages.
    pub bytes: u64,
    /// Its columns.
    pub fields: Vec<FieldRow>,
}

/// One column of a type.
#[derive(Debug, Serialize)]
pub struct FieldRow {
    /// The field's name (`(elements)` or `(entries)` for a list, set or map).
    pub name: String,
    /// Its kind as the schema writes it.
    pub kind: String,
    /// Column pages.
    pub pages: u64,
    /// Bytes in those pages.
    pub bytes: u64,
    /// The narrowest bit width a page was packed at (none for variable-width columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits_min: Option<u8>,
    /// The widest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits_max: Option<u8>,
    /// Pages that store each distinct string once (dictionary pages).
    #[serde(skip_serializing_if = "is_zero")]
    pub dictionary_pages: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Runs `shoal inspect`.
pub async fn run(g: &Global, a: &InspectArgs, out: Out) -> Result<()> {
    let loaded = load(g, a.version, &[]).await?;
    out.report(&report(&loaded.data), text);
    Ok(())
}

/// The schema, records and bytes of a loaded version.
pub fn report(data: &Dataset) -> Report {
    let types: Vec<TypeRow> = (0..data.schema().type_count() as u32)
        .map(|t| type_row(data, TypeId(t)))
        .collect();
    Report {
        version: data.version().0,
        bytes: types.iter().map(|t| t.bytes).sum(),
        types,
    }
}

/// One type's row: its shape from the schema, its columns' statistics from the data.
fn type_row(data: &Dataset, ty: TypeId) -> TypeRow {
    let def = data.schema().type_def(ty).expect("a type of the schema");
    let (kind, holds, columns) = shape(&def.kind);
    let fields: Vec<FieldRow> = columns
        .into_iter()
        .enumerate()
        .map(|(c, (name, kind))| {
            let stats = data.column_stats(ty, FieldId(c as u32)).unwrap_or_default();
            FieldRow {
                name,
                kind,
                pages: stats.pages,
                bytes: stats.bytes,
                bits_min: stats.min_width,
                bits_max: stats.max_width,
                dictionary_pages: stats.dictionary_pages,
            }
        })
        .collect();
    TypeRow {
        name: def.name.clone(),
        kind,
        holds,
        key: def
            .key()
            .map(|k| k.iter().map(|p| p.0.join(".")).collect())
            .unwrap_or_default(),
        records: data.len(ty),
        ordinal_space: data.slot_count(ty),
        bytes: fields.iter().map(|f| f.bytes).sum(),
        fields,
    }
}

/// A type's kind, what it holds (for a list, set or map) and its columns (name, kind).
type Shape = (&'static str, Option<String>, Vec<(String, String)>);

fn shape(kind: &TypeKind) -> Shape {
    match kind {
        TypeKind::Object { fields, .. } => (
            "object",
            None,
            fields
                .iter()
                .map(|f| (f.name.clone(), f.kind.to_string()))
                .collect(),
        ),
        TypeKind::List { element } => (
            "list",
            Some(element.clone()),
            vec![("(elements)".into(), format!("list<{element}>"))],
        ),
        TypeKind::Set { element } => (
            "set",
            Some(element.clone()),
            vec![("(elements)".into(), format!("set<{element}>"))],
        ),
        TypeKind::Map { key, value } => (
            "map",
            Some(format!("{key} -> {value}")),
            vec![("(entries)".into(), format!("map<{key}, {value}>"))],
        ),
    }
}

fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "version {}: {} in column pages",
        r.version,
        ui::bytes(r.bytes)
    );
    for t in &r.types {
        let share = 100.0 * t.bytes as f64 / r.bytes.max(1) as f64;
        let mut what = t.kind.to_string();
        if let Some(h) = &t.holds {
            what = format!("{what} of {h}");
        }
        if !t.key.is_empty() {
            what = format!("{what}, key {}", t.key.join(", "));
        }
        let _ = writeln!(
            s,
            "\n{} ({what}): {} records, ordinal space {}, {} ({share:.1}%)",
            t.name,
            t.records,
            t.ordinal_space,
            ui::bytes(t.bytes)
        );
        let _ = writeln!(
            s,
            "  {:<16} {:<18} {:>7} {:>10} {:>9}",
            "field", "kind", "pages", "bytes", "bits"
        );
        for f in &t.fields {
            let bits = match (f.bits_min, f.bits_max) {
                (Some(a), Some(b)) if a == b => format!("{a}"),
                (Some(a), Some(b)) => format!("{a}-{b}"),
                _ if f.dictionary_pages > 0 => format!("dict {}", f.dictionary_pages),
                _ => "var".to_string(),
            };
            let _ = writeln!(
                s,
                "  {:<16} {:<18} {:>7} {:>10} {:>9}",
                f.name,
                f.kind,
                f.pages,
                ui::bytes(f.bytes),
                bits
            );
        }
    }
    s
}
