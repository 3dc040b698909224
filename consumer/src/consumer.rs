//! [`Consumer`]: follows a store, keeps the current [`Dataset`] behind an atomic pointer.
//!
//! - **Cache.** Every blob is fetched once into the cache folder (streamed to a temporary
//!   file, length and CRC-32C checked by the store, renamed into place), then memory-mapped
//!   and verified by the format (every section checksum) before it is used. A damaged cache
//!   file is removed and fetched again. The cache is bounded (see [`crate::cache`]).
//! - **Paths.** To reach a version the consumer takes the cheapest way in bytes to fetch:
//!   from the current version through deltas (forward) or reverse deltas (back), or from a
//!   snapshot plus deltas; cached blobs cost nothing, so a restart replays its cache. One
//!   version behind, the announcement's manifest names the delta: no LIST.
//! - **Hot swap.** The current dataset sits in an `ArcSwap`: [`Consumer::current`] is a
//!   lock-free load of an `Arc`, valid as long as it is held; a refresh builds the next
//!   dataset aside and swaps it in, never blocking readers. An old dataset (and the pages
//!   only it holds) is freed by the first refresh after its last handle goes, on a blocking
//!   thread, so a reader never pays for freeing a version.
//! - **Off the caller's runtime.** Every CPU-heavy step of a refresh (verifying and mapping
//!   blobs, building indexes, applying deltas, freeing, retention) runs on tokio's blocking
//!   threads: a service's request handlers on the same runtime keep running.
//! - **Failure.** A refresh that fails leaves the current dataset serving, is reported to
//!   listeners, in metrics and in [`Consumer::status`]; a [`Follower`] tries again with
//!   backoff until it serves its target.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use shoal_format::Version;
use shoal_store::{read_announced, Announced, BlobStore};

use crate::builder::ConsumerBuilder;
use crate::cache::Cache;
use crate::dataset::{ApplyStats, Dataset};
use crate::error::{Error, Result};
use crate::follow::{FollowOptions, Follower, Status};
use crate::index::IndexSpec;

/// What one refresh did.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshEvent {
    /// The version before (`None` for the first load).
    pub from: Option<Version>,
    /// The version now current.
    pub to: Version,
    /// Blobs used, in order (fetched or found in the cache).
    pub blobs: Vec<String>,
    /// Bytes fetched from the store (cached blobs cost nothing).
    pub bytes_fetched: u64,
    /// Whether the way was found without listing the store (from the announcement).
    pub listed: bool,
    /// Pages rebuilt and shared by the deltas applied.
    pub stats: ApplyStats,
    /// How long the refresh took.
    pub duration: Duration,
}

/// Told of every new version and every failed refresh.
pub trait Listener: Send + Sync {
    /// A new version is current.
    fn on_refresh(&self, event: &RefreshEvent);
    /// A refresh failed; the current version keeps serving.
    fn on_failure(&self, error: &Error);
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) cache: Cache,
    pub(crate) current: ArcSwapOption<Dataset>,
    listeners: Mutex<Vec<Arc<dyn Listener>>>,
    pub(crate) indexes: Vec<IndexSpec>,
    /// Pinned in this process ([`Consumer::pin`]); overrides the store's pin.
    pinned: Mutex<Option<Version>>,
    /// One refresh at a time.
    pub(crate) refreshing: tokio::sync::Mutex<()>,
    /// Replaced versions that readers may still hold (see `Consumer::retire`).
    pub(crate) retired: Mutex<Vec<Arc<Dataset>>>,
    /// See [`ConsumerBuilder::write_back_after`].
    pub(crate) write_back_after: Option<usize>,
    /// See [`ConsumerBuilder::cache_max_bytes`].
    pub(crate) cache_max_bytes: u64,
    /// Deltas applied since the current version's chain left a snapshot.
    pub(crate) chain: Mutex<usize>,
    follow: FollowOptions,
    status: Mutex<Status>,
    /// See [`ConsumerBuilder::refresh_threads`].
    pub(crate) refresh_threads: Option<usize>,
}

impl Drop for Inner {
    /// The last handle of the consumer went: its versions are freed on a blocking thread
    /// when there is a runtime, so the task that dropped it is not stalled (tens of
    /// milliseconds at 10M records).
    fn drop(&mut self) {
        let current = self.current.swap(None);
        let retired = std::mem::take(&mut *self.retired.lock().expect("retired lock"));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn_blocking(move || drop((current, retired)));
        }
    }
}

/// Follows one store prefix and serves its current version.
#[derive(Clone)]
pub struct Consumer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("store", &self.inner.store.location())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A builder following `store`.
    pub fn builder(store: Arc<dyn BlobStore>) -> ConsumerBuilder {
        ConsumerBuilder::new(store)
    }

    pub(crate) fn from_builder(b: ConsumerBuilder) -> Result<Consumer> {
        let dir: PathBuf = b.cache.expect("checked by the builder");
        Ok(Consumer {
            inner: Arc::new(Inner {
                store: b.store,
                cache: Cache::open(dir)?,
                current: ArcSwapOption::empty(),
                listeners: Mutex::new(b.listeners),
                indexes: b.indexes,
                pinned: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(()),
                retired: Mutex::new(Vec::new()),
                write_back_after: b.write_back_after,
                cache_max_bytes: b.cache_max_bytes,
                chain: Mutex::new(0),
                follow: b.follow,
                status: Mutex::new(Status::default()),
                refresh_threads: b.refresh_threads,
            }),
        })
    }

    /// The current dataset, if one is loaded: a cheap handle that stays valid while held.
    pub fn current(&self) -> Option<Arc<Dataset>> {
        self.inner.current.load_full()
    }

    /// The current version.
    pub fn version(&self) -> Option<Version> {
        self.inner.current.load().as_ref().map(|d| d.version())
    }

    /// The store this consumer follows.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.inner.store
    }

    /// How far behind its store the consumer is: served, announced and pinned versions,
    /// the last success and the failures since.
    pub fn status(&self) -> Status {
        // The served version is read under the status lock, which a refresh holds while it
        // swaps a version in and clears its failures: the two always agree.
        let status = self.inner.status.lock().expect("status lock");
        let mut s = status.clone();
        s.served = self.version();
        drop(status);
        if let Some(local) = *self.inner.pinned.lock().expect("pin lock") {
            s.pinned = Some(local);
        }
        s
    }

    /// Adds a listener.
    pub fn add_listener(&self, listener: Arc<dyn Listener>) {
        self.inner
            .listeners
            .lock()
            .expect("listeners lock")
            .push(listener);
    }

    /// Moves to the version the store asks for: the pinned version if an operator pinned
    /// one (or this process did, with [`pin`](Self::pin)), else the announced version.
    /// Returns the version now current. On failure the current version keeps serving.
    pub async fn refresh(&self) -> Result<Version> {
        let (target, announced) = self.read_target().await?;
        self.refresh_with(target, announced.as_ref()).await
    }

    /// Moves to version `target` (forward by deltas, back by reverse deltas, or from a
    /// snapshot), whatever is announced.
    pub async fn refresh_to(&self, target: Version) -> Result<Version> {
        self.refresh_with(target, None).await
    }

    /// Stays on version `v` (moving there now) until [`unpin`](Self::unpin), whatever the
    /// store announces or pins.
    pub async fn pin(&self, v: Version) -> Result<Version> {
        *self.inner.pinned.lock().expect("pin lock") = Some(v);
        self.refresh_to(v).await
    }

    /// Follows the store again (from the next refresh).
    pub fn unpin(&self) {
        *self.inner.pinned.lock().expect("pin lock") = None;
    }

    /// Follows the store until the returned [`Follower`] is dropped or stopped: refreshes
    /// now and whenever the announcement changes (a folder store is watched with
    /// file-system events, S3 by jittered polling), and after a failure retries with
    /// backoff until it serves its target, announced again or not. Failures go to
    /// listeners and to [`status`](Self::status); the current version keeps serving.
    pub fn follow(&self) -> Follower {
        Follower::spawn(self.clone())
    }

    pub(crate) fn follow_options(&self) -> FollowOptions {
        self.inner.follow
    }

    /// The version to be on, and the announcement it came from (none when this process
    /// pinned one). A failure is reported.
    pub(crate) async fn read_target(&self) -> Result<(Version, Option<Announced>)> {
        if let Some(v) = *self.inner.pinned.lock().expect("pin lock") {
            return Ok((v, None));
        }
        match read_announced(&*self.inner.store).await {
            Ok(Some(a)) => {
                self.update_status(|s| {
                    s.announced = Some(a.version);
                    s.pinned = a.pinned;
                });
                Ok((a.target(), Some(a)))
            }
            Ok(None) => self.failed(Error::NothingAnnounced {
                location: self.inner.store.location(),
            }),
            Err(e) => self.failed(e.into()),
        }
    }

    /// Moves to `target`, using `announced`'s manifest to avoid a LIST where it can.
    pub(crate) async fn refresh_with(
        &self,
        target: Version,
        announced: Option<&Announced>,
    ) -> Result<Version> {
        let _one = self.inner.refreshing.lock().await;
        match self.go_to(target, announced).await {
            Ok(event) => {
                self.succeeded(event);
                Ok(target)
            }
            Err(e) => self.failed(e),
        }
    }

    /// The consumer found itself on its target: a success for the status.
    pub(crate) fn confirm_current(&self) {
        self.succeeded(None);
    }

    /// Makes `dataset` the current version and, in the same step for `status`, clears the
    /// failures: a reader that sees the new version never sees the failures before it.
    pub(crate) fn make_current(&self, dataset: Arc<Dataset>) -> Option<Arc<Dataset>> {
        let mut status = self.inner.status.lock().expect("status lock");
        let replaced = self.inner.current.swap(Some(dataset));
        status.last_success = Some(SystemTime::now());
        status.consecutive_failures = 0;
        status.last_error = None;
        replaced
    }

    fn succeeded(&self, event: Option<RefreshEvent>) {
        self.update_status(|s| {
            s.last_success = Some(SystemTime::now());
            s.consecutive_failures = 0;
            s.last_error = None;
        });
        let Some(event) = event else {
            return;
        };
        metrics::histogram!("shoal_consumer_refresh_seconds").record(event.duration.as_secs_f64());
        metrics::counter!("shoal_consumer_bytes_fetched").increment(event.bytes_fetched);
        tracing::info!(
            from = event.from.map(|v| v.0),
            to = event.to.0,
            bytes = event.bytes_fetched,
            listed = event.listed,
            ms = event.duration.as_millis() as u64,
            "consumer refreshed"
        );
        for l in self.listeners() {
            l.on_refresh(&event);
        }
    }

    fn listeners(&self) -> Vec<Arc<dyn Listener>> {
        self.inner.listeners.lock().expect("listeners lock").clone()
    }

    fn failed<T>(&self, e: Error) -> Result<T> {
        self.update_status(|s| {
            s.consecutive_failures += 1;
            s.last_error = Some(e.to_string());
        });
        metrics::counter!("shoal_consumer_refresh_failures").increment(1);
        tracing::warn!(error = %e, "consumer refresh failed; the current version keeps serving");
        for l in self.listeners() {
            l.on_failure(&e);
        }
        Err(e)
    }

    /// Changes the status and publishes it as metrics.
    fn update_status(&self, change: impl FnOnce(&mut Status)) {
        let s = {
            let mut s = self.inner.status.lock().expect("status lock");
            change(&mut s);
            s.clone()
        };
        let gauge = |v: Option<Version>| v.map_or(-1.0, |v| v.0 as f64);
        metrics::gauge!("shoal_consumer_version").set(gauge(self.version()));
        metrics::gauge!("shoal_consumer_announced_version").set(gauge(s.announced));
        metrics::gauge!("shoal_consumer_pinned_version").set(gauge(s.pinned));
        metrics::gauge!("shoal_consumer_consecutive_failures").set(s.consecutive_failures as f64);
        if let Some(t) = s.last_success {
            let secs = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            metrics::gauge!("shoal_consumer_last_success_timestamp_seconds").set(secs);
        }
    }

    /// The versions retention must keep reachable: the current one and a pinned one.
    pub(crate) fn needed_versions(&self) -> Vec<Version> {
        let s = self.status();
        let mut needed: Vec<Version> = self.version().into_iter().collect();
        needed.extend(s.pinned.filter(|p| Some(*p) != self.version()));
        needed
    }
}
