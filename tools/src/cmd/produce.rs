//! `shoal produce`: one producer cycle from JSON lines or Parquet.
//!
//! The producer restores the announced version from the store, takes the whole input as the
//! new dataset, and publishes a delta (and a snapshot) only if something changed. The input
//! is streamed row by row into the cycle; the first bad row stops the cycle, which then
//! publishes nothing. The producer's default guard refuses a cycle that would empty a type or
//! remove more than 10% of its records (a truncated input); `--allow-empty` and
//! `--max-removal` allow it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use shoal_format::{RecordSink, Schema};
use shoal_producer::{Producer, RecordCountChange};

use crate::cli::Global;
use crate::cmd::open_store;
use crate::error::{CliError, Result};
use crate::input::{self, Converter, InputError};
use crate::schema_file;
use crate::ui::{self, Out};

/// The input's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet, read row group by row group.
    Parquet,
}

/// Arguments of `shoal produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// The schema file (TOML): types, fields, primary keys. See examples/catalog/schema.toml.
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,
    /// The records: a file, or - for standard input (JSON lines only).
    #[arg(long, value_name = "FILE|-")]
    pub input: String,
    /// The input's format (default: from the file's extension, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
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
    let file = schema_file::load(&a.schema)?;
    let format = match a.format {
        Some(f) => f,
        None if a.input.ends_with(".parquet") || a.input.ends_with(".parq") => Format::Parquet,
        None => Format::Jsonl,
    };
    if format == Format::Parquet && a.input == "-" {
        return Err(CliError::usage(
            "--input -: Parquet cannot be read from standard input; give a file",
        ));
    }
    if a.input != "-" && !Path::new(&a.input).is_file() {
        return Err(CliError::fail(format!(
            "no input file {}: give --input <FILE>, or - for standard input",
            a.input
        )));
    }
    let store = open_store(g, true).await?;
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
    let mut producer = builder.build().await?;

    let bar = ui::progress(None, "records");
    let input = Input {
        format,
        name: if a.input == "-" {
            "stdin".to_string()
        } else {
            a.input.clone()
        },
        path: a.input.clone(),
        schema: file.schema.clone(),
        root: file.root.clone(),
        bar: bar.clone(),
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
    };
    out.report(&r, |r| text(r, &g.store));
    Ok(())
}

/// The input of a cycle, moved onto the cycle's blocking thread.
struct Input {
    format: Format,
    /// The file, or - for standard input.
    path: String,
    /// How messages name it.
    name: String,
    schema: Schema,
    root: String,
    bar: indicatif::ProgressBar,
}

impl Input {
    /// Adds every row to `sink`; returns how many rows were read.
    fn read(&self, sink: &mut dyn RecordSink) -> std::result::Result<u64, InputError> {
        let converter = Converter::new(&self.schema, &self.root).expect("the root was checked");
        match self.format {
            Format::Jsonl => self.read_jsonl(sink, &converter),
            Format::Parquet => self.read_parquet(sink, &converter),
        }
    }

    fn read_jsonl(
        &self,
        sink: &mut dyn RecordSink,
        converter: &Converter<'_>,
    ) -> std::result::Result<u64, InputError> {
        let name = &self.name;
        let each = |n, row: &serde_json::Value| {
            self.bar.inc(1);
            converter
                .add_row(sink, row)
                .map(|_| ())
                .map_err(|e| e.at(name, "line", n))
        };
        if self.path == "-" {
            return input::jsonl::read(std::io::stdin().lock(), name, each);
        }
        match std::fs::File::open(&self.path) {
            Ok(f) => input::jsonl::read(std::io::BufReader::with_capacity(1 << 20, f), name, each),
            Err(e) => Err(InputError::file(name, e.to_string())),
        }
    }

    fn read_parquet(
        &self,
        sink: &mut dyn RecordSink,
        converter: &Converter<'_>,
    ) -> std::result::Result<u64, InputError> {
        let (name, root) = (&self.name, &self.root);
        let pf = input::parquet::ParquetFile::open(Path::new(&self.path), &self.schema, root)?;
        for c in pf.ignored_columns() {
            eprintln!("note: {name}: column `{c}` is no field of {root}: ignored");
        }
        for f in pf.missing_fields() {
            eprintln!("note: {name}: no column for field `{f}`: null in every record");
        }
        pf.read(|n, row| {
            self.bar.inc(1);
            converter
                .add_row(sink, row)
                .map(|_| ())
                .map_err(|e| e.at(name, "row", n))
        })
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
