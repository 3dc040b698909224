//! `shoal produce`: one producer cycle from what `--input` names (JSON lines, a Parquet file
//! or data set, an Iceberg table; see `input::source`), with the schema file given or
//! inferred (`cmd::schema`).
//!
//! The producer restores the announced version from the store, takes the whole input as the
//! new dataset, and publishes a delta (and a snapshot) only if something changed. The input
//! is streamed row by row into the cycle; the first bad row stops the cycle, which then
//! publishes nothing. The producer's default guard refuses a cycle that would empty a type or
//! remove more than 10% of its records (a truncated input); `--allow-empty` and
//! `--max-removal` allow it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use shoal_format::{RecordSink, Schema};
use shoal_producer::{Producer, RecordCountChange};

use crate::cli::Global;
use crate::cmd::{open_store, schema};
use crate::error::{CliError, Result};
use crate::input::source::{Format, Input, Target};
use crate::input::InputError;
use crate::schema_file;
use crate::ui::{self, Out};

/// Arguments of `shoal produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// The schema file (TOML): types, fields, primary keys. See examples/catalog/schema.toml.
    /// Without it the schema is inferred from the input (see `shoal schema infer`).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Without --schema: a field of the primary key (repeat for a key of several fields).
    #[arg(long, value_name = "FIELD", conflicts_with = "schema")]
    pub key: Vec<String>,
    /// Without --schema: the root type's name (default: the announced version's, else
    /// Record).
    #[arg(long, value_name = "NAME", conflicts_with = "schema")]
    pub root: Option<String>,
    /// The records: a JSON-lines or Parquet file, a folder or s3://bucket/prefix/ holding a
    /// Parquet data set (part files, Hive partition folders `key=value/`), or - for JSON
    /// lines on standard input.
    #[arg(long, value_name = "FILE|DIR|s3://bucket/prefix/|iceberg:URI#TABLE|-")]
    pub input: String,
    /// The format of a single input file (default: from the file's extension, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The snapshot of an Iceberg table to read (default: its current one).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<i64>,
    /// Threads that parse JSON lines (default: the cores beyond the two the producer's
    /// matching takes, at least 1); records keep the input's order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parse_threads: Option<u16>,
    /// Refuse the cycle (publishing nothing) if any type's record count changes by more than
    /// this percentage.
    #[arg(long, value_name = "PCT")]
    pub max_change: Option<f64>,
    /// Refuse the cycle (publishing nothing) if it would remove more than this percentage of
    /// a type's records (default 10; edits by primary key do not count, and removing at most
    /// 10 records of a type is always allowed). 100 lifts the limit.
    #[arg(long, value_name = "PCT")]
    pub max_removal: Option<f64>,
    /// Allow a cycle that removes every record of a type (refused by default: an empty input
    /// is more often a failed upstream job than an intended wipe).
    #[arg(long)]
    pub allow_empty: bool,
    /// How many versions stay reachable in the store; older blobs are deleted.
    #[arg(long, value_name = "N")]
    pub keep_versions: Option<usize>,
    /// The zstd level blobs are stored at (1-19, default 3); 0 stores them plain. A blob
    /// that does not shrink is stored plain anyway.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(i32).range(0..=19))]
    pub pack_level: Option<i32>,
    /// Leave the key index sections out of snapshots: smaller snapshots (about 16 bytes a
    /// record less), but every consumer builds its primary-key index when it starts.
    #[arg(long)]
    pub no_key_indexes: bool,
    /// Store every string page plainly, without dictionary pages: blobs stay format version 1
    /// (2 across a schema change), readable by consumers from before version 3. Use it while
    /// such consumers still follow the store.
    #[arg(long)]
    pub no_dictionary: bool,
}

#[derive(Serialize)]
struct Report {
    version: u64,
    previous: Option<u64>,
    published: bool,
    records_read: u64,
    types: Vec<TypeRow>,
    blobs: Vec<BlobRow>,
    seconds: f64,
    /// Where the cycle's time went, in seconds (see `shoal_producer::Timings`).
    phases: Phases,
}

/// The cycle's phases, in seconds: reading and matching the input, placing new records,
/// checking the next version (beside the encoder, so within `encode`), encoding the blobs,
/// writing them.
#[derive(Serialize)]
struct Phases {
    collect: f64,
    place: f64,
    validate: f64,
    encode: f64,
    publish: f64,
}

impl Phases {
    fn of(t: &shoal_producer::Timings) -> Self {
        Phases {
            collect: t.collect.as_secs_f64(),
            place: t.place.as_secs_f64(),
            validate: t.validate.as_secs_f64(),
            encode: t.encode.as_secs_f64(),
            publish: t.publish.as_secs_f64(),
        }
    }
}

#[derive(Serialize)]
struct TypeRow {
    name: String,
    records: u64,
    added: u64,
    removed: u64,
    changed: u64,
}

#[derive(Serialize)]
struct BlobRow {
    name: String,
    bytes: u64,
}

/// Runs `shoal produce`.
pub async fn run(g: &Global, a: &ProduceArgs, out: Out) -> Result<()> {
    if a.schema.is_none() && a.key.is_empty() {
        return Err(CliError::usage(
            "give --schema FILE, or --key FIELD to infer the schema from the input",
        ));
    }
    let input = Input::open(&a.input, a.format, g.endpoint_url.as_deref(), a.snapshot)
        .await
        .map(Arc::new)
        .map_err(|e| CliError::fail(format!("{e}; nothing was published")))?;
    let store = open_store(g, true).await?;
    let file = match &a.schema {
        Some(path) => schema_file::load(path)?,
        None => {
            let root = a.root.as_deref();
            schema::for_produce(&store, input.clone(), &a.input, &a.key, root).await?
        }
    };
    let mut builder = Producer::builder(store)
        .schema(Arc::new(file.schema.clone()))
        .root_type(&file.root);
    if let Some(pct) = a.max_change {
        builder = builder.validator(RecordCountChange::all_types(pct));
    }
    if let Some(n) = a.keep_versions {
        builder = builder.keep_versions(n);
    }
    if let Some(pct) = a.max_removal {
        builder = builder.max_removal(Some(pct));
    }
    builder = builder.allow_empty(a.allow_empty);
    if let Some(level) = a.pack_level {
        builder = builder.pack_level(Some(level).filter(|l| *l > 0));
    }
    builder = builder
        .key_indexes(!a.no_key_indexes)
        .dictionary(!a.no_dictionary);
    let mut producer = builder.build().await?;

    let bar = ui::progress(None, "records");
    let input = Reading {
        input,
        schema: file.schema.clone(),
        root: file.root.clone(),
        bar: bar.clone(),
        parse_threads: a
            .parse_threads
            .map_or_else(crate::input::jsonl::threads, usize::from),
    };
    let bad_input: Arc<Mutex<Option<InputError>>> = Arc::default();
    let rows = Arc::new(AtomicU64::new(0));
    let result = producer
        .run_cycle({
            let (bad_input, rows) = (bad_input.clone(), rows.clone());
            move |w| match input.read(w) {
                Ok(n) => {
                    rows.store(n, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => {
                    *bad_input.lock().expect("lock") = Some(e.clone());
                    Err(e)
                }
            }
        })
        .await;
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = producer.close().await;
            if let Some(bad) = bad_input.lock().expect("lock").take() {
                return Err(CliError::fail(format!("{bad}; nothing was published")));
            }
            if let Some(refused) = refusal(&e) {
                return Err(CliError::fail(refused));
            }
            return Err(CliError::from(e).context("nothing was published"));
        }
    };
    producer.close().await?;
    let r = Report {
        version: report.version.0,
        previous: report.previous.map(|v| v.0),
        published: report.published,
        records_read: rows.load(Ordering::Relaxed),
        types: report
            .types
            .iter()
            .map(|t| TypeRow {
                name: t.name.clone(),
                records: t.records,
                added: t.added,
                removed: t.removed,
                changed: t.changed,
            })
            .collect(),
        blobs: report
            .blobs
            .iter()
            .map(|(name, bytes)| BlobRow {
                name: name.clone(),
                bytes: *bytes,
            })
            .collect(),
        seconds: report.timings.total.as_secs_f64(),
        phases: Phases::of(&report.timings),
    };
    out.report(&r, |r| text(r, &g.store));
    Ok(())
}

/// The input of a cycle, moved onto the cycle's blocking thread.
struct Reading {
    input: Arc<Input>,
    schema: Schema,
    root: String,
    bar: indicatif::ProgressBar,
    parse_threads: usize,
}

impl Reading {
    /// Adds every row to `sink`; returns how many rows were read.
    fn read(&self, sink: &mut dyn RecordSink) -> std::result::Result<u64, InputError> {
        let progress = |n| self.bar.inc(n);
        let to = Target {
            sink,
            progress: &progress,
            parse_threads: self.parse_threads,
        };
        self.input.read(&self.schema, &self.root, to)
    }
}

/// The one line for a cycle the removal guard refused, naming the flag that allows it.
fn refusal(e: &shoal_producer::Error) -> Option<String> {
    use shoal_producer::Error;
    match e {
        Error::WouldEmpty {
            type_name, before, ..
        } => Some(format!(
            "the input has no `{type_name}` record (the store has {before}); nothing was \
             published. If emptying `{type_name}` is intended, run again with --allow-empty"
        )),
        Error::TooManyRemovals {
            type_name,
            before,
            after,
            removed,
            max_percent,
            ..
        } => {
            let share = *removed as f64 * 100.0 / (*before).max(1) as f64;
            Some(format!(
                "the input would remove {removed} of {before} `{type_name}` records \
                 ({share:.1}%, more than the {max_percent}% allowed; {after} left); nothing was \
                 published. If that is intended, run again with --max-removal {}",
                share.ceil()
            ))
        }
        _ => None,
    }
}

fn text(r: &Report, store: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if !r.published {
        let _ = writeln!(
            s,
            "version {} unchanged: {} records read, nothing changed, nothing published",
            r.version, r.records_read
        );
        return s;
    }
    let from = r
        .previous
        .map(|v| format!(" (from {v})"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "published version {}{from} to {store}: {} records read in {}",
        r.version,
        r.records_read,
        ui::duration(std::time::Duration::from_secs_f64(r.seconds))
    );
    let p = &r.phases;
    let phase = |secs: f64| ui::duration(std::time::Duration::from_secs_f64(secs));
    let _ = writeln!(
        s,
        "  read and match {}, place {}, encode {} (checks {} beside it), write {}",
        phase(p.collect),
        phase(p.place),
        phase(p.encode),
        phase(p.validate),
        phase(p.publish)
    );
    let _ = writeln!(
        s,
        "  {:<20} {:>10} {:>9} {:>9} {:>9}",
        "type", "records", "added", "removed", "changed"
    );
    for t in &r.types {
        let _ = writeln!(
            s,
            "  {:<20} {:>10} {:>9} {:>9} {:>9}",
            t.name, t.records, t.added, t.removed, t.changed
        );
    }
    for b in &r.blobs {
        let _ = writeln!(s, "  wrote {:<24} {:>10}", b.name, ui::bytes(b.bytes));
    }
    s
}
