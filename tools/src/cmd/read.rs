//! `shoal get` (one record by primary key) and `shoal dump` (every record of a type), both
//! as JSON with references expanded (see [`crate::render`]).

use std::io::Write;

use shoal_consumer::{Dataset, IndexSpec};
use shoal_format::{FieldKind, FieldPath, FieldValue, Ordinal, TypeId, TypeKind};

use crate::cli::Global;
use crate::cmd::load;
use crate::error::{CliError, Result};
use crate::render;
use crate::ui::{self, Out};

/// Arguments of `shoal get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The record's type.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,
    /// The primary key's values, one --key per key field, in the schema's order.
    #[arg(long, value_name = "VALUE", required = true, num_args = 1..)]
    pub key: Vec<String>,
    /// The version to read (default: the announced one).
    #[arg(long)]
    pub version: Option<u64>,
}

/// Arguments of `shoal dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The type whose records to print.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,
    /// The version to read (default: the announced one).
    #[arg(long)]
    pub version: Option<u64>,
}

/// The type named `name`, or an error listing the types there are.
pub fn type_of(data: &Dataset, name: &str) -> Result<TypeId> {
    data.schema().type_id(name).ok_or_else(|| {
        let names: Vec<&str> = data
            .schema()
            .types()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        CliError::usage(format!(
            "--type {name}: no such type in version {}; types: {}",
            data.version().0,
            names.join(", ")
        ))
    })
}

/// The primary key of `ty`: each field's dotted path and kind.
pub fn key_fields(data: &Dataset, ty: TypeId) -> Result<Vec<(String, FieldKind)>> {
    let schema = data.schema();
    let def = schema.type_def(ty).expect("a type of the schema");
    let Some(key) = def.key() else {
        return Err(CliError::usage(format!(
            "type {} has no primary key, so records cannot be looked up by key; try `shoal dump --type {}`",
            def.name, def.name
        )));
    };
    key.iter()
        .map(|p: &FieldPath| {
            let (_, kind) = schema
                .resolve_path(ty, p)
                .map_err(|e| CliError::fail(format!("key of {}: {e}", def.name)))?;
            Ok((p.0.join("."), kind))
        })
        .collect()
}

/// Parses the text of one key value as a value of `kind`.
pub fn parse_key<'a>(text: &'a str, field: &str, kind: &FieldKind) -> Result<FieldValue<'a>> {
    let bad = |what: &str| CliError::usage(format!("--key {text}: {field} is {what}"));
    Ok(match kind {
        FieldKind::Bool => FieldValue::Bool(text.parse().map_err(|_| bad("true or false"))?),
        FieldKind::I32 => FieldValue::I32(text.parse().map_err(|_| bad("an i32"))?),
        FieldKind::I64 => FieldValue::I64(text.parse().map_err(|_| bad("an i64"))?),
        FieldKind::F32 => FieldValue::F32(text.parse().map_err(|_| bad("an f32"))?),
        FieldKind::F64 => FieldValue::F64(text.parse().map_err(|_| bad("an f64"))?),
        FieldKind::String => FieldValue::Str(text),
        FieldKind::Bytes => FieldValue::Bytes(text.as_bytes()),
        FieldKind::Reference(_) => return Err(bad("a reference (not a key field)")),
    })
}

/// The record of `type_name` whose primary key is `key` (one text per key field, in the
/// schema's order): `Ok(None)` when there is none. Uses the dataset's index named after the
/// type when it has one (a consumer's `primary_key_index`), else builds one for this call.
pub fn lookup(
    data: &Dataset,
    type_name: &str,
    key: &[String],
) -> Result<Option<(TypeId, Ordinal)>> {
    let ty = type_of(data, type_name)?;
    let fields = key_fields(data, ty)?;
    if fields.len() != key.len() {
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        return Err(CliError::usage(format!(
            "type {type_name} has a key of {} field(s) ({}): give one --key for each, in that order",
            fields.len(),
            names.join(", ")
        )));
    }
    let values = fields
        .iter()
        .zip(key)
        .map(|((name, kind), text)| parse_key(text, name, kind))
        .collect::<Result<Vec<_>>>()?;
    if let Ok(index) = data.index_id(type_name) {
        return Ok(data.find(index, &values).map(|o| (ty, o)));
    }
    let data = data.clone().with_indexes(&[IndexSpec {
        name: type_name.to_string(),
        type_name: type_name.to_string(),
        paths: Vec::new(),
    }])?;
    let index = data.index_id(type_name)?;
    Ok(data.find(index, &values).map(|o| (ty, o)))
}

/// `no Movie with id = 42 in version 3`.
pub fn not_found(data: &Dataset, type_name: &str, key: &[String]) -> String {
    let shown: Vec<String> = type_of(data, type_name)
        .and_then(|ty| key_fields(data, ty))
        .map(|fields| {
            fields
                .iter()
                .zip(key)
                .map(|((n, _), v)| format!("{n} = {v}"))
                .collect()
        })
        .unwrap_or_else(|_| key.to_vec());
    format!(
        "no {type_name} with {} in version {}",
        shown.join(", "),
        data.version().0
    )
}

/// Runs `shoal get`.
pub async fn get(g: &Global, a: &GetArgs, out: Out) -> Result<()> {
    let loaded = load(g, a.version, &[]).await?;
    let data = &loaded.data;
    let Some((ty, o)) = lookup(data, &a.type_name, &a.key)? else {
        return Err(CliError::fail(not_found(data, &a.type_name, &a.key)));
    };
    let json = render::record(&**data, ty, o)?;
    out.report(&json, |j| {
        serde_json::to_string_pretty(j).expect("JSON serialises") + "\n"
    });
    Ok(())
}

/// Runs `shoal dump`: JSON lines on stdout, stopping quietly when the reader goes away
/// (`shoal dump ... | head`).
pub async fn dump(g: &Global, a: &DumpArgs) -> Result<()> {
    let loaded = load(g, a.version, &[]).await?;
    let data = &loaded.data;
    let ty = type_of(data, &a.type_name)?;
    let bar = ui::progress(Some(data.len(ty)), "records");
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let nested = !matches!(
        data.schema().type_def(ty).map(|d| &d.kind),
        Some(TypeKind::Object { .. })
    );
    for (i, o) in data.ordinals(ty).enumerate() {
        let json = render::record(&**data, ty, o)?;
        let written = if nested {
            // A list, set or map record prints as {"ordinal": .., "value": ..}: it has no key.
            serde_json::to_writer(
                &mut stdout,
                &serde_json::json!({"ordinal": o.0, "value": json}),
            )
        } else {
            serde_json::to_writer(&mut stdout, &json)
        };
        if written.is_err() || stdout.write_all(b"\n").is_err() {
            return Ok(());
        }
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    let _ = stdout.flush();
    Ok(())
}
