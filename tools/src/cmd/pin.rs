//! `shoal pin` and `shoal unpin`: hold the whole fleet on one version, and let it go.
//!
//! When a bad version was announced, an operator pins the last good one: every following
//! consumer moves there (by reverse deltas, or a snapshot) and stays, whatever the producer
//! announces meanwhile; the producer keeps publishing, and keeps the blobs the pinned version
//! needs. `unpin` lets consumers follow announcements again. Both are one conditional write
//! of the announcement, which carries the pin (so a consumer learns both from one read).
//!
//! Before pinning, the version is built the way a consumer builds it, from the store, with
//! every checksum of every blob it uses verified: a pin to a version the fleet cannot reach
//! is refused.

use serde::Serialize;
use shoal_format::Version;
use shoal_store::{read_announced, set_pin};

use crate::cli::Global;
use crate::cmd::{consumer, open_store};
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal pin`.
#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// The version every consumer moves to and stays on.
    #[arg(long, value_name = "N")]
    pub version: u64,
}

#[derive(Serialize)]
struct Report {
    store: String,
    announced: u64,
    pinned: Option<u64>,
    blobs_verified: Vec<String>,
}

/// Runs `shoal pin`.
pub async fn pin(g: &Global, a: &PinArgs, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    if read_announced(&*store).await?.is_none() {
        return Err(CliError::fail(format!(
            "{}: nothing is announced, so there is no fleet to pin: publish with `shoal produce` first",
            store.location()
        )));
    }
    let (consumer, _cache) = consumer(g, store.clone(), &[])?;
    let events = std::sync::Arc::new(Used::default());
    consumer.add_listener(events.clone());
    consumer.refresh_to(Version(a.version)).await.map_err(|e| {
        CliError::fail(format!(
            "version {} cannot be built from {}: {e}; nothing was pinned (see `shoal versions`)",
            a.version,
            store.location()
        ))
    })?;
    let pinned = set_pin(&*store, Some(Version(a.version))).await?;
    let report = Report {
        store: store.location(),
        announced: pinned.version.0,
        pinned: pinned.pinned.map(|v| v.0),
        blobs_verified: events.0.lock().expect("lock").clone(),
    };
    out.report(&report, |r| {
        format!(
            "{}: pinned to version {} (announced: {}; verified {}); every consumer moves there and stays until `shoal unpin`\n",
            r.store,
            a.version,
            r.announced,
            r.blobs_verified.join(", ")
        )
    });
    Ok(())
}

/// Runs `shoal unpin`.
pub async fn unpin(g: &Global, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    let before = read_announced(&*store).await?.and_then(|a| a.pinned);
    let now = set_pin(&*store, None).await.map_err(|e| {
        if e.is_not_found() {
            CliError::fail(format!(
                "{}: nothing is announced, nothing to unpin",
                store.location()
            ))
        } else {
            e.into()
        }
    })?;
    let report = Report {
        store: store.location(),
        announced: now.version.0,
        pinned: None,
        blobs_verified: Vec::new(),
    };
    out.report(&report, |r| match before {
        Some(p) => format!(
            "{}: unpinned (was version {p}); consumers follow the announced version {} again\n",
            r.store, r.announced
        ),
        None => format!(
            "{}: was not pinned; consumers follow the announced version {}\n",
            r.store, r.announced
        ),
    });
    Ok(())
}

/// The blobs a refresh used.
#[derive(Default)]
struct Used(std::sync::Mutex<Vec<String>>);

impl shoal_consumer::Listener for Used {
    fn on_refresh(&self, event: &shoal_consumer::RefreshEvent) {
        self.0.lock().expect("lock").extend(event.blobs.clone());
    }
    fn on_failure(&self, _: &shoal_consumer::Error) {}
}
