//! `shoal diff`: records added, removed and changed between two versions.
//!
//! One consumer loads `--from`, then moves to `--to` the cheapest way the store allows
//! (along deltas, or reverse deltas to go back); the two versions then share every page the
//! chain did not touch, and [`crate::changes`] compares only the rest.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use shoal_consumer::{Consumer, Dataset, Listener, RefreshEvent};
use shoal_format::Version;

use crate::changes::{self, Changes, TypeDiff};
use crate::cli::Global;
use crate::cmd::{consumer, open_store, read::type_of};
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The older side.
    #[arg(long)]
    pub from: u64,
    /// The newer side.
    #[arg(long)]
    pub to: u64,
    /// Only this type (default: every type with a primary key). Repeatable.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only the counts, no records.
    #[arg(long)]
    pub summary: bool,
}

/// What changed between two versions: what `shoal diff --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The older side.
    pub from: u64,
    /// The newer side.
    pub to: u64,
    /// The blobs the consumer used to get from `from` to `to`.
    pub via: Vec<String>,
    /// How the schema changed between the two (types and fields added or removed), when it
    /// did; records are compared in the newer schema.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema: Vec<String>,
    /// Each type compared.
    pub types: Vec<TypeDiff>,
}

/// A listener that remembers the blobs of the last refresh: add it to the consumer
/// [`between`] is given.
#[derive(Default)]
pub struct Via(Mutex<Vec<String>>);

impl Via {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl Listener for Via {
    fn on_refresh(&self, event: &RefreshEvent) {
        *self.0.lock().expect("lock") = event.blobs.clone();
    }
    fn on_failure(&self, _: &shoal_consumer::Error) {}
}

/// Two versions loaded by one consumer, the newer reached from the older by the store's
/// cheapest path so they share every page it did not touch.
pub struct Pair {
    /// The `from` side.
    pub older: Arc<Dataset>,
    /// The `to` side.
    pub newer: Arc<Dataset>,
    /// The blobs the consumer used to go from one to the other.
    pub via: Vec<String>,
}

/// Moves `consumer` (listened to by `via`) to `from`, then to `to`.
pub async fn between(consumer: &Consumer, via: &Via, from: u64, to: u64) -> Result<Pair> {
    let older = load_on(consumer, from)
        .await
        .map_err(|e| e.context(format!("--from {from}")))?;
    via.take();
    let newer = load_on(consumer, to)
        .await
        .map_err(|e| e.context(format!("--to {to}")))?;
    Ok(Pair {
        older,
        newer,
        via: via.take(),
    })
}

async fn load_on(consumer: &Consumer, v: u64) -> Result<Arc<Dataset>> {
    consumer.refresh_to(Version(v)).await?;
    consumer
        .current()
        .ok_or_else(|| CliError::fail("no version loaded"))
}

/// Compares `types` (names; every keyed type when empty) between the pair's versions; with
/// `detail`, the records and fields too. CPU work: run it off an async executor.
pub fn report(pair: &Pair, types: &[String], detail: bool) -> Result<Report> {
    let (older, newer) = (&pair.older, &pair.newer);
    let ids = if types.is_empty() {
        changes::default_types(newer.schema())
    } else {
        types
            .iter()
            .map(|t| type_of(newer, t))
            .collect::<Result<Vec<_>>>()?
    };
    if older.schema() != newer.schema() {
        for t in types {
            type_of(older, t)?;
        }
    }
    let older = changes::aligned(older, newer).map_err(|e| {
        CliError::fail(format!(
            "versions {} and {} cannot be compared record by record: {e}",
            older.version().0,
            newer.version().0
        ))
    })?;
    let schema_changes = pair.older.schema().diff(newer.schema()).changes;
    let mut changes = Changes::new(&older, newer);
    let types = ids
        .into_iter()
        .map(|t| changes::diff_type(&mut changes, t, detail))
        .collect::<shoal_format::Result<Vec<_>>>()?;
    Ok(Report {
        from: older.version().0,
        to: newer.version().0,
        via: pair.via.clone(),
        schema: schema_changes.iter().map(ToString::to_string).collect(),
        types,
    })
}

/// Runs `shoal diff`.
pub async fn run(g: &Global, a: &DiffArgs, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    let (consumer, _cache) = consumer(g, store, &[])?;
    let via = Arc::new(Via::default());
    consumer.add_listener(via.clone());
    let pair = between(&consumer, &via, a.from, a.to).await?;
    let report = report(&pair, &a.types, !a.summary)?;
    out.report(&report, text);
    Ok(())
}

fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let via = if r.via.is_empty() {
        "the same version".to_string()
    } else {
        r.via.join(", ")
    };
    let _ = writeln!(s, "diff {} -> {} (via {via})", r.from, r.to);
    for change in &r.schema {
        let _ = writeln!(s, "  schema: {change}");
    }
    for t in &r.types {
        let _ = writeln!(
            s,
            "  {}: {} added, {} removed, {} changed",
            t.name, t.added_count, t.removed_count, t.changed_count
        );
    }
    for t in &r.types {
        let key = |k: &[serde_json::Value]| {
            t.key_fields
                .iter()
                .zip(k)
                .map(|(f, v)| format!("{f}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for c in &t.changed {
            let _ = writeln!(s, "~ {} {}", t.name, key(&c.key));
            for f in &c.fields {
                let _ = writeln!(s, "    {}: {} -> {}", f.field, f.old, f.new);
            }
        }
        for rec in &t.added {
            let _ = writeln!(s, "+ {} {rec}", t.name);
        }
        for rec in &t.removed {
            let _ = writeln!(s, "- {} {rec}", t.name);
        }
    }
    s
}
