//! `shoal diff`: records added, removed and changed between two versions.
//!
//! One consumer loads `--from`, then moves to `--to` the cheapest way the store allows
//! (along deltas, or reverse deltas to go back); the two versions then share every page the
//! chain did not touch, and [`crate::changes`] compares only the rest.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use shoal_consumer::{Listener, RefreshEvent};
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

#[derive(Serialize)]
struct Report {
    from: u64,
    to: u64,
    /// The blobs the consumer used to get from `from` to `to`.
    via: Vec<String>,
    types: Vec<TypeDiff>,
}

/// Remembers the blobs of each refresh.
#[derive(Default)]
struct Blobs(Mutex<Vec<String>>);

impl Listener for Blobs {
    fn on_refresh(&self, event: &RefreshEvent) {
        *self.0.lock().expect("lock") = event.blobs.clone();
    }
    fn on_failure(&self, _: &shoal_consumer::Error) {}
}

/// Runs `shoal diff`.
pub async fn run(g: &Global, a: &DiffArgs, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    let (consumer, _cache) = consumer(g, store, &[])?;
    consumer
        .refresh_to(Version(a.from))
        .await
        .map_err(|e| CliError::from(e).context(format!("--from {}", a.from)))?;
    let older = consumer.current().expect("loaded");
    let blobs = Arc::new(Blobs::default());
    consumer.add_listener(blobs.clone());
    consumer
        .refresh_to(Version(a.to))
        .await
        .map_err(|e| CliError::from(e).context(format!("--to {}", a.to)))?;
    let newer = consumer.current().expect("loaded");
    let via = blobs.0.lock().expect("lock").clone();

    let types = if a.types.is_empty() {
        changes::default_types(newer.schema())
    } else {
        a.types
            .iter()
            .map(|t| type_of(&newer, t))
            .collect::<Result<Vec<_>>>()?
    };
    if older.schema() != newer.schema() && !a.types.is_empty() {
        for t in &a.types {
            type_of(&older, t)?;
        }
    }
    let mut changes = Changes::new(&older, &newer);
    let types = types
        .into_iter()
        .map(|t| changes::diff_type(&mut changes, t, !a.summary))
        .collect::<shoal_format::Result<Vec<_>>>()?;
    let report = Report {
        from: a.from,
        to: a.to,
        via,
        types,
    };
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
