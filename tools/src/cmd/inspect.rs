//! `shoal inspect`: the schema of a version, its records per type, and where the bytes go:
//! per type and per field, with page counts and the bit widths the pages were packed at.

use serde::Serialize;
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

#[derive(Serialize)]
struct Report {
    version: u64,
    bytes: u64,
    types: Vec<TypeRow>,
}

#[derive(Serialize)]
struct TypeRow {
    name: String,
    kind: &'static str,
    /// For a list, set or map type: what it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    holds: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    key: Vec<String>,
    records: u64,
    /// Ordinals in use, holes included (removed records leave holes until reused).
    ordinal_space: u32,
    bytes: u64,
    fields: Vec<FieldRow>,
}

#[derive(Serialize)]
struct FieldRow {
    name: String,
    kind: String,
    pages: u64,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bits_min: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bits_max: Option<u8>,
}

/// Runs `shoal inspect`.
pub async fn run(g: &Global, a: &InspectArgs, out: Out) -> Result<()> {
    let loaded = load(g, a.version, &[]).await?;
    let data = &loaded.data;
    let schema = data.schema();
    let mut report = Report {
        version: data.version().0,
        bytes: 0,
        types: Vec::new(),
    };
    for (t, def) in schema.types().iter().enumerate() {
        let ty = TypeId(t as u32);
        let (kind, holds, columns): (_, _, Vec<(String, String)>) = match &def.kind {
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
        };
        let mut row = TypeRow {
            name: def.name.clone(),
            kind,
            holds,
            key: def
                .key()
                .map(|k| k.iter().map(|p| p.0.join(".")).collect())
                .unwrap_or_default(),
            records: data.len(ty),
            ordinal_space: data.slot_count(ty),
            bytes: 0,
            fields: Vec::new(),
        };
        for (c, (name, kind)) in columns.into_iter().enumerate() {
            let stats = data.column_stats(ty, FieldId(c as u32)).unwrap_or_default();
            row.bytes += stats.bytes;
            row.fields.push(FieldRow {
                name,
                kind,
                pages: stats.pages,
                bytes: stats.bytes,
                bits_min: stats.min_width,
                bits_max: stats.max_width,
            });
        }
        report.bytes += row.bytes;
        report.types.push(row);
    }
    out.report(&report, text);
    Ok(())
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
