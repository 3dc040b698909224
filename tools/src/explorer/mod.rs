//! `shoal ui`: a read-only web explorer of a store, served by the binary itself.
//!
//! The page (embedded, see [`assets`]) draws the versions timeline (with records and changes per version, [`timeline`]), a version's bytes per
//! type and field, records by key with their references as links, a record's history and
//! diffs, all from the JSON API under `/api/` ([`api`]). The API calls the functions the CLI
//! commands call (`versions::listing`, `inspect::report`, `read::lookup`, `diff::report`,
//! [`crate::changes`]), so the page and `shoal ... --json` agree. Loaded versions are kept
//! in a small LRU ([`cache`]). The server follows the store and pushes each new listing to
//! the page ([`live`]). Binds to loopback unless `--addr` says otherwise.

mod api;
mod assets;
mod cache;
mod error;
mod filter;
mod history;
mod live;
mod records;
mod timeline;

use std::net::SocketAddr;
use std::sync::Arc;

use shoal_consumer::Dataset;

use crate::cli::Global;
use crate::cmd::{diff, open_store};
use crate::error::{CliError, Result};
use error::ApiError;

/// Arguments of `shoal ui`.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Where to listen. Anything but a loopback address exposes the store's data to the
    /// network (a warning is printed). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8420")]
    pub addr: SocketAddr,
}

/// A diff's arguments: from, to, types.
type DiffKey = (u64, u64, Vec<String>);

/// What the handlers share.
pub struct Explorer {
    versions: cache::Versions,
    /// The last diff computed, so paging through it computes nothing again.
    last_diff: std::sync::Mutex<Option<(DiffKey, Arc<diff::Report>)>>,
    /// The timeline's counts, worked out in the background.
    timeline: timeline::Timeline,
    /// The store followed, for the page's live updates.
    live: live::Live,
    /// The consumers that walk records' histories.
    walkers: history::Walkers,
}

/// The most versions a history walks (the newest ones).
const HISTORY_VERSIONS: usize = 500;

impl Explorer {
    /// The diff `from` -> `to` of `types` (every keyed type when empty), with its records.
    async fn diff(
        &self,
        from: u64,
        to: u64,
        types: Vec<String>,
    ) -> Result<Arc<diff::Report>, ApiError> {
        let key = (from, to, types);
        if let Some((k, report)) = &*self.last_diff.lock().expect("diff lock") {
            if *k == key {
                return Ok(report.clone());
            }
        }
        let pair = self.versions.pair(from, to).await?;
        let types = key.2.clone();
        let report =
            tokio::task::spawn_blocking(move || diff::report(&pair, &types, true)).await??;
        let report = Arc::new(report);
        *self.last_diff.lock().expect("diff lock") = Some((key, report.clone()));
        Ok(report)
    }

    /// Version `v` with a hash index on the filter's field when the filter can use one
    /// (a bad type, field or value is a 400 here, before anything is built).
    async fn filter_index(
        &self,
        data: &Dataset,
        v: u64,
        type_name: &str,
        f: &filter::FieldEquals,
    ) -> Result<Option<Arc<Dataset>>, ApiError> {
        let ty = crate::cmd::read::type_of(data, type_name)?;
        if filter::Filter::new(data, ty, &f.field, &f.value)?.found_by() == filter::FoundBy::Scan {
            return Ok(None);
        }
        Ok(Some(
            self.versions.filter_index(v, type_name, &f.field).await?,
        ))
    }

    /// The reachable versions, in the listing's order.
    async fn reachable(&self) -> Result<Vec<u64>, ApiError> {
        let listing = self.versions.listing().await?;
        Ok(listing
            .versions
            .iter()
            .filter(|r| r.reachable)
            .map(|r| r.version)
            .collect())
    }

    /// A record's history over the newest reachable versions.
    async fn history(&self, type_name: &str, key: &[String]) -> Result<history::History, ApiError> {
        let mut versions = self.reachable().await?;
        versions.sort_unstable();
        let Some(&newest) = versions.last() else {
            return Err(ApiError::not_found("the store holds no version yet"));
        };
        // The type and the key must make sense in the newest version: a 400 before any walk.
        let data = self.versions.get(newest).await?;
        crate::cmd::read::lookup(&data, type_name, key)?;
        let skip = versions.len().saturating_sub(HISTORY_VERSIONS);
        let versions = versions.split_off(skip);
        self.walkers.history(versions, type_name, key).await
    }
}

/// Runs `shoal ui` until interrupted.
pub async fn run(g: &Global, a: &UiArgs) -> Result<()> {
    let store = open_store(g, false).await?;
    let location = store.location();
    let global = Global {
        cache: None,
        ..g.clone()
    };
    let state = Arc::new(Explorer {
        timeline: timeline::Timeline::new(store.clone(), global.clone()),
        live: live::Live::start(store.clone()),
        versions: cache::Versions::new(g, store.clone())?,
        last_diff: std::sync::Mutex::new(None),
        walkers: history::Walkers::new(store, global),
    });
    let listener = tokio::net::TcpListener::bind(a.addr)
        .await
        .map_err(|e| CliError::usage(format!("--addr {}: cannot listen there: {e}", a.addr)))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: shoal ui listens on {addr}, not a loopback address: anyone who can reach it can read this store"
        );
    }
    println!("shoal ui: serving {location} at http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    axum::serve(listener, api::router(state))
        .await
        .map_err(|e| CliError::fail(format!("serving on {addr}: {e}")))
}
