//! `shoal schema infer`, and the inferred schema `shoal produce` uses without `--schema`,
//! checked against the schema of the announced version.

use std::sync::Arc;

use shoal_format::Schema;
use shoal_store::BlobStore;

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::input::infer::{self, Options};
use crate::input::source::{Format, Input};
use crate::schema_file::{self, SchemaFile};

/// How many rows the inference samples by default.
const SAMPLE_ROWS: u64 = 100_000;

/// Arguments of `shoal schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SchemaCommand,
}

/// The `schema` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SchemaCommand {
    /// Print a schema file (TOML) inferred from an input's columns and a sample of its rows.
    #[command(after_help = "\
Examples:
  shoal schema infer --input warehouse/movies/ --key id --root Movie > schema.toml
  shoal schema infer --input s3://lake/movies/ --key id --root Movie
  shoal schema infer --input movies.jsonl --key id --sample 10000

Parquet columns give their types (Int32 is i32, Utf8 a string, a list a list type, a struct
an object type); JSON lines give theirs from the sampled lines (any integer is i64). A
string column whose sample repeats few distinct values (each 10 times or more on average)
becomes a reference to a one-string type, stored once per value; a comment says so.")]
    Infer(InferArgs),
}

/// Arguments of `shoal schema infer`.
#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// The input, as `shoal produce --input` takes it (not standard input).
    #[arg(long, value_name = "FILE|DIR|s3://bucket/prefix/")]
    pub input: String,
    /// The format of a single input file (default: from its extension, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The snapshot of an Iceberg table to read (default: its current one).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<i64>,
    /// A field of the primary key (repeat for a key of several fields).
    #[arg(long, value_name = "FIELD", required = true)]
    pub key: Vec<String>,
    /// The root type's name.
    #[arg(long, value_name = "NAME", default_value = "Record")]
    pub root: String,
    /// How many rows to sample.
    #[arg(long, value_name = "ROWS", default_value_t = SAMPLE_ROWS)]
    pub sample: u64,
}

/// Runs `shoal schema`.
pub async fn run(g: &Global, a: &SchemaArgs) -> Result<()> {
    let SchemaCommand::Infer(a) = &a.command;
    let input = open_input(g, &a.input, a.format, a.snapshot).await?;
    let options = Options {
        root: a.root.clone(),
        key: a.key.clone(),
        sample_rows: a.sample,
        input_name: a.input.clone(),
    };
    let (text, _) = infer_file(input, options).await?;
    print!("{text}");
    Ok(())
}

/// Opens `--input` for reading.
pub async fn open_input(
    g: &Global,
    spec: &str,
    format: Option<Format>,
    snapshot: Option<i64>,
) -> Result<Arc<Input>> {
    Input::open(spec, format, g.endpoint_url.as_deref(), snapshot)
        .await
        .map(Arc::new)
        .map_err(|e| CliError::fail(e.to_string()))
}

/// Infers the schema file of `input` on a blocking thread; its text and the parsed file.
pub async fn infer_file(input: Arc<Input>, options: Options) -> Result<(String, SchemaFile)> {
    let text = tokio::task::spawn_blocking(move || infer::infer(&input, &options))
        .await
        .map_err(|e| CliError::fail(format!("the schema inference stopped: {e}")))?
        .map_err(|e| CliError::fail(e.to_string()))?;
    let file = schema_file::parse(&text).map_err(|e| e.context("the inferred schema"))?;
    Ok((text, file))
}

/// The schema `shoal produce` publishes with when no `--schema` is given: inferred from
/// `input` with `key` (and `root`, else the announced version's root, else `Record`), then
/// checked against the announced version's schema. A compatible change (a field or type
/// added or removed) is told on stderr; any other is refused, listing every change.
pub async fn for_produce(
    store: &Arc<dyn BlobStore>,
    input: Arc<Input>,
    spec: &str,
    key: &[String],
    root: Option<&str>,
) -> Result<SchemaFile> {
    if key.is_empty() {
        return Err(CliError::usage(
            "give --schema FILE, or --key FIELD to infer the schema from the input",
        ));
    }
    let announced = announced_schema(store.as_ref()).await?;
    let root = match (root, &announced) {
        (Some(root), _) => root.to_string(),
        (None, Some((_, schema))) => root_of(schema).unwrap_or_else(|| "Record".into()),
        (None, None) => "Record".into(),
    };
    let options = Options {
        root,
        key: key.to_vec(),
        sample_rows: SAMPLE_ROWS,
        input_name: spec.to_string(),
    };
    let (_, file) = infer_file(input, options).await?;
    let Some((version, old)) = announced else {
        return Ok(file);
    };
    let diff = old.diff(&file.schema);
    if diff.is_empty() {
        return Ok(file);
    }
    let changes: Vec<String> = diff.changes.iter().map(|c| c.to_string()).collect();
    if diff.is_compatible() {
        eprintln!(
            "note: the schema inferred from {spec} changes version {version}'s compatibly: {}",
            changes.join("; ")
        );
        return Ok(file);
    }
    Err(CliError::fail(format!(
        "the schema inferred from {spec} differs from version {version}'s: {}; nothing was \
         published. To publish it on purpose, write it with `shoal schema infer`, check it, \
         and give it with --schema",
        changes.join("; ")
    )))
}

/// The announced version and its schema, read from the header of its smallest blob
/// (unpacked when the store keeps it packed).
async fn announced_schema(store: &dyn BlobStore) -> Result<Option<(u64, Schema)>> {
    let Some(announced) = shoal_store::read_announced(store).await? else {
        return Ok(None);
    };
    let version = announced.version;
    let smallest = announced.blobs.iter().min_by_key(|(_, size)| *size);
    let key = match smallest {
        Some((name, _)) => name.key(),
        None => shoal_store::BlobName::Snapshot(version).key(),
    };
    let stored = store.get(&key).await?;
    let location = store.location();
    // The blob may be packed (and a first version's is its whole snapshot): unpacked and
    // parsed on a blocking thread.
    let schema = tokio::task::spawn_blocking(move || {
        let bytes = shoal_store::packing::unpack(stored, &location, &key)?;
        let layout = shoal_format::BlobLayout::parse(&bytes)
            .map_err(|e| CliError::fail(format!("{key}: {e}")))?;
        Ok::<_, CliError>(layout.schema.as_ref().clone())
    })
    .await
    .map_err(|e| CliError::fail(format!("reading the announced schema: {e}")))??;
    Ok(Some((version.0, schema)))
}

/// The one object type no other type refers to.
fn root_of(schema: &Schema) -> Option<String> {
    schema_file::root_of(schema.types()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_type_nothing_refers_to() {
        let file = schema_file::parse(
            "[types.Tag]\nfields = [\"value: string\"]\n[types.Movie]\nkey = [\"id\"]\n\
             fields = [\"id: i64\", \"tag: Tag\"]\n",
        )
        .unwrap();
        assert_eq!(root_of(&file.schema).as_deref(), Some("Movie"));
    }
}
