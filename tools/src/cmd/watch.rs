//! `shoal watch`: like `tail -f` for a dataset. A consumer follows the store (file-system
//! events on a folder, polling on S3) and each new version prints one line: time, version,
//! and records added, removed and changed (compared as `shoal diff` does, so the cost follows
//! the change). A failed refresh prints one line on stderr and the watch goes on.

use std::sync::Arc;

use serde::Serialize;
use shoal_consumer::{Listener, RefreshEvent};
use tokio::sync::mpsc;

use crate::changes::{self, Changes};
use crate::cli::Global;
use crate::cmd::{consumer, open_store, read::type_of};
use crate::error::Result;
use crate::ui::{self, Out};

/// Arguments of `shoal watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Count changes of this type only (default: every type with a primary key). Repeatable.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Stop after this many new versions (default: never).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

enum Seen {
    Refreshed(RefreshEvent),
    Failed(String),
}

struct Forward(mpsc::UnboundedSender<Seen>);

impl Listener for Forward {
    fn on_refresh(&self, event: &RefreshEvent) {
        let _ = self.0.send(Seen::Refreshed(event.clone()));
    }
    fn on_failure(&self, error: &shoal_consumer::Error) {
        let _ = self.0.send(Seen::Failed(error.to_string()));
    }
}

#[derive(Serialize)]
struct Line {
    time: String,
    version: u64,
    from: Option<u64>,
    types: Vec<Counts>,
    blobs: Vec<String>,
    bytes_fetched: u64,
    refresh_ms: f64,
    /// The version the store announces.
    announced: Option<u64>,
    /// The version an operator pinned the fleet to, if any.
    pinned: Option<u64>,
}

#[derive(Serialize)]
struct Counts {
    name: String,
    added: u64,
    removed: u64,
    changed: u64,
}

/// Runs `shoal watch` until interrupted (or `--count` versions).
pub async fn run(g: &Global, a: &WatchArgs, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    let (consumer, _cache) = consumer(g, store, &[])?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    consumer.add_listener(Arc::new(Forward(tx)));
    let _follow = consumer.follow();
    let mut previous = None;
    let mut printed = 0;
    while let Some(seen) = rx.recv().await {
        let event = match seen {
            Seen::Failed(e) => {
                eprintln!(
                    "{}  refresh failed: {e}",
                    ui::utc(std::time::SystemTime::now())
                );
                continue;
            }
            Seen::Refreshed(event) => event,
        };
        let Some(current) = consumer.current() else {
            continue;
        };
        let mut line = Line {
            time: ui::utc(std::time::SystemTime::now()),
            version: current.version().0,
            from: None,
            types: Vec::new(),
            blobs: event.blobs,
            bytes_fetched: event.bytes_fetched,
            refresh_ms: event.duration.as_secs_f64() * 1e3,
            announced: consumer.status().announced.map(|v| v.0),
            pinned: consumer.status().pinned.map(|v| v.0),
        };
        if let Some(prev) = &previous {
            let prev: &Arc<shoal_consumer::Dataset> = prev;
            if prev.version() == current.version() {
                continue;
            }
            line.from = Some(prev.version().0);
            let types = if a.types.is_empty() {
                changes::default_types(current.schema())
            } else {
                a.types
                    .iter()
                    .map(|t| type_of(&current, t))
                    .collect::<Result<Vec<_>>>()?
            };
            let prev = changes::aligned(prev, &current)?;
            let mut ch = Changes::new(&prev, &current);
            for t in types {
                let d = changes::diff_type(&mut ch, t, false)?;
                line.types.push(Counts {
                    name: d.name,
                    added: d.added_count,
                    removed: d.removed_count,
                    changed: d.changed_count,
                });
            }
            printed += 1;
        }
        print(&line, out);
        previous = Some(current);
        if a.count.is_some_and(|n| printed >= n) {
            break;
        }
    }
    Ok(())
}

/// `  PINNED (announced: 12)` while an operator holds the fleet on a version.
fn pin_note(line: &Line) -> String {
    match (line.pinned, line.announced) {
        (Some(_), Some(a)) => format!("  PINNED (announced: {a})"),
        (Some(_), None) => "  PINNED".to_string(),
        _ => String::new(),
    }
}

fn print(line: &Line, out: Out) {
    use std::io::Write;
    let text = if out.json {
        serde_json::to_string(line).expect("serialises")
    } else if line.from.is_none() {
        format!(
            "{}  version {} (current; watching for new versions){}",
            line.time,
            line.version,
            pin_note(line)
        )
    } else {
        let counts: Vec<String> = line
            .types
            .iter()
            .map(|c| format!("{} +{} -{} ~{}", c.name, c.added, c.removed, c.changed))
            .collect();
        format!(
            "{}  version {} (from {})  {}  [{}, {}, {:.1} ms]{}",
            line.time,
            line.version,
            line.from.unwrap_or_default(),
            counts.join("  "),
            line.blobs.join(" "),
            ui::bytes(line.bytes_fetched),
            line.refresh_ms,
            pin_note(line)
        )
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}
