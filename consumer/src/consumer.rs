//! [`Consumer`]: follows a store, keeps the current [`Dataset`] behind an atomic pointer.
//!
//! - **Cache.** Every blob is fetched once into the cache folder (streamed to a temporary
//!   file, length and CRC-32C checked by the store, renamed into place), then memory-mapped
//!   and verified by the format (every section checksum) before it is used. A damaged cache
//!   file is removed and fetched again.
//! - **Paths.** To reach a version the consumer takes the cheapest way in bytes to fetch:
//!   from the current version through deltas (forward) or reverse deltas (back), or from a
//!   snapshot plus deltas; cached blobs cost nothing, so a restart replays its cache.
//! - **Hot swap.** The current dataset sits in an `ArcSwap`: [`Consumer::current`] is a
//!   lock-free load of an `Arc`, valid as long as it is held; a refresh builds the next
//!   dataset aside and swaps it in, never blocking readers. An old dataset (and the pages
//!   only it holds) is freed by the first refresh after its last handle goes, on the
//!   refreshing thread, so a reader never pays for freeing a version.
//! - **Failure.** A refresh that fails leaves the current dataset serving, is reported to
//!   listeners and in metrics, and is tried again at the next announcement.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use shoal_format::{DeltaView, SnapshotView, Version};
use shoal_store::{read_announced, BlobName, BlobStore, ANNOUNCED};

use crate::dataset::{ApplyStats, Dataset};
use crate::error::{Error, Result};
use crate::index::IndexSpec;
use crate::map::map_file;

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

/// Configures a [`Consumer`].
pub struct ConsumerBuilder {
    store: Arc<dyn BlobStore>,
    cache: Option<PathBuf>,
    listeners: Vec<Arc<dyn Listener>>,
    indexes: Vec<IndexSpec>,
    write_back_after: Option<usize>,
}

impl std::fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("store", &self.store.location())
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ConsumerBuilder {
    /// The local cache folder (required): blobs are fetched into it and mapped from it. It
    /// belongs to the consumer: nothing else may write there.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = Some(dir.into());
        self
    }

    /// Indexes the primary key of `type_name`; the index is named after the type.
    pub fn primary_key_index(mut self, type_name: &str) -> Self {
        self.indexes.push(IndexSpec {
            name: type_name.to_string(),
            type_name: type_name.to_string(),
            paths: Vec::new(),
        });
        self
    }

    /// A hash index named `name` on field paths of `type_name` (`"year"`, `"country.code"`).
    pub fn hash_index(mut self, name: &str, type_name: &str, paths: &[&str]) -> Self {
        self.indexes.push(IndexSpec {
            name: name.to_string(),
            type_name: type_name.to_string(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        });
        self
    }

    /// Writes the current version into the cache as a snapshot of its own once it was
    /// reached by `n` deltas or more since the last snapshot loaded (default 16; `None`
    /// never), in the background: a restarted consumer then starts from it instead of
    /// replaying the chain. The file is an ordinary snapshot blob, verified like any other
    /// when mapped.
    pub fn write_back_after(mut self, n: Option<usize>) -> Self {
        self.write_back_after = n;
        self
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Builds the consumer. It holds no version yet: call [`Consumer::refresh`] (or
    /// [`Consumer::follow`]).
    pub fn build(self) -> Result<Consumer> {
        let cache = self
            .cache
            .ok_or_else(|| Error::Usage("ConsumerBuilder needs a cache_dir".into()))?;
        std::fs::create_dir_all(&cache).map_err(|e| Error::io("create cache folder", &cache, e))?;
        Ok(Consumer {
            inner: Arc::new(Inner {
                store: self.store,
                cache,
                current: ArcSwapOption::empty(),
                listeners: Mutex::new(self.listeners),
                indexes: self.indexes,
                write_back_after: self.write_back_after,
                chain: Mutex::new(0),
                pinned: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(()),
                retired: Mutex::new(Vec::new()),
            }),
        })
    }
}

struct Inner {
    store: Arc<dyn BlobStore>,
    cache: PathBuf,
    current: ArcSwapOption<Dataset>,
    listeners: Mutex<Vec<Arc<dyn Listener>>>,
    indexes: Vec<IndexSpec>,
    pinned: Mutex<Option<Version>>,
    /// One refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// Replaced versions that readers may still hold (see `Consumer::retire`).
    retired: Mutex<Vec<Arc<Dataset>>>,
    /// See [`ConsumerBuilder::write_back_after`].
    write_back_after: Option<usize>,
    /// Deltas applied since the current version's chain left a snapshot.
    chain: Mutex<usize>,
}

/// Deltas after which the current version is written back to the cache as a snapshot.
const DEFAULT_WRITE_BACK_AFTER: usize = 16;

/// Follows one store prefix and serves its current version.
#[derive(Clone)]
pub struct Consumer {
    inner: Arc<Inner>,
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
        ConsumerBuilder {
            store,
            cache: None,
            listeners: Vec::new(),
            indexes: Vec::new(),
            write_back_after: Some(DEFAULT_WRITE_BACK_AFTER),
        }
    }

    /// The current dataset, if one is loaded: a cheap handle that stays valid while held.
    pub fn current(&self) -> Option<Arc<Dataset>> {
        self.inner.current.load_full()
    }

    /// The current version.
    pub fn version(&self) -> Option<Version> {
        self.inner.current.load().as_ref().map(|d| d.version())
    }

    /// Adds a listener.
    pub fn add_listener(&self, listener: Arc<dyn Listener>) {
        self.inner
            .listeners
            .lock()
            .expect("listeners lock")
            .push(listener);
    }

    /// Moves to the announced version (or stays on the pinned one). Returns the version
    /// now current. On failure the current version keeps serving.
    pub async fn refresh(&self) -> Result<Version> {
        let pinned = *self.inner.pinned.lock().expect("pin lock");
        let target = match pinned {
            Some(v) => v,
            None => match read_announced(&*self.inner.store).await {
                Ok(Some(a)) => a.version,
                Ok(None) => {
                    return self.failed(Error::NothingAnnounced {
                        location: self.inner.store.location(),
                    })
                }
                Err(e) => return self.failed(e.into()),
            },
        };
        self.refresh_to(target).await
    }

    /// Moves to version `target` (forward by deltas, back by reverse deltas, or from a
    /// snapshot), whatever is announced.
    pub async fn refresh_to(&self, target: Version) -> Result<Version> {
        let _one = self.inner.refreshing.lock().await;
        match self.go_to(target).await {
            Ok(event) => {
                if let Some(event) = event {
                    metrics::gauge!("shoal_consumer_version").set(event.to.0 as f64);
                    metrics::histogram!("shoal_consumer_refresh_seconds")
                        .record(event.duration.as_secs_f64());
                    metrics::counter!("shoal_consumer_bytes_fetched")
                        .increment(event.bytes_fetched);
                    tracing::info!(
                        from = event.from.map(|v| v.0),
                        to = event.to.0,
                        bytes = event.bytes_fetched,
                        ms = event.duration.as_millis() as u64,
                        "consumer refreshed"
                    );
                    for l in self.listeners() {
                        l.on_refresh(&event);
                    }
                }
                Ok(target)
            }
            Err(e) => self.failed(e),
        }
    }

    /// Stays on version `v` (moving there now) until [`unpin`](Self::unpin).
    pub async fn pin(&self, v: Version) -> Result<Version> {
        *self.inner.pinned.lock().expect("pin lock") = Some(v);
        self.refresh_to(v).await
    }

    /// Follows announcements again (from the next refresh).
    pub fn unpin(&self) {
        *self.inner.pinned.lock().expect("pin lock") = None;
    }

    /// Follows the store: refreshes now and at every announcement (a folder store is
    /// watched with file-system events, S3 by polling), until the returned task is aborted.
    /// Failures go to listeners; the current version keeps serving.
    pub fn follow(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut watch = match this.inner.store.watch(ANNOUNCED).await {
                Ok(w) => Some(w),
                Err(e) => {
                    this.report(&e.into());
                    None
                }
            };
            loop {
                let _ = this.refresh().await;
                match &mut watch {
                    Some(w) => w.changed().await,
                    None => tokio::time::sleep(Duration::from_secs(5)).await,
                }
            }
        })
    }

    fn listeners(&self) -> Vec<Arc<dyn Listener>> {
        self.inner.listeners.lock().expect("listeners lock").clone()
    }

    fn report(&self, e: &Error) {
        metrics::counter!("shoal_consumer_refresh_failures").increment(1);
        tracing::warn!(error = %e, "consumer refresh failed; the current version keeps serving");
        for l in self.listeners() {
            l.on_failure(e);
        }
    }

    fn failed<T>(&self, e: Error) -> Result<T> {
        self.report(&e);
        Err(e)
    }

    /// Builds the dataset at `target` and swaps it in; `None` when already there.
    async fn go_to(&self, target: Version) -> Result<Option<RefreshEvent>> {
        // A blob that turns out damaged (or gone) is avoided and the way planned again, a few
        // times: each attempt rules out at least one blob. What is avoided is forgotten when
        // the refresh ends: a transfer that was damaged on the way is tried again next time.
        // A store that cannot be reached ends the refresh at once.
        let mut avoid = HashMap::new();
        let mut last = None;
        for _ in 0..4 {
            match self.try_go_to(target, &avoid).await {
                Err(Failed::Blob(name, size, e)) => {
                    tracing::warn!(blob = %name, error = %e, "damaged blob avoided");
                    avoid.insert(name, size);
                    last = Some(e);
                }
                // No way left once the damaged blobs are ruled out: say which one was bad.
                Err(Failed::Other(Error::NoPath { .. })) if last.is_some() => break,
                Err(Failed::Other(e)) => return Err(e),
                Ok(event) => return Ok(event),
            }
        }
        Err(last.expect("at least one attempt failed"))
    }

    async fn try_go_to(
        &self,
        target: Version,
        avoid: &HashMap<BlobName, u64>,
    ) -> Result<Option<RefreshEvent>, Failed> {
        let start = Instant::now();
        let current = self.current();
        let from = current.as_ref().map(|d| d.version());
        if from == Some(target) {
            return Ok(None);
        }
        let listed = self.inner.store.list("").await?;
        let mut sizes: BTreeMap<BlobName, u64> = BTreeMap::new();
        for info in listed {
            if let Ok(name) = info.key.parse::<BlobName>() {
                if avoid.get(&name) != Some(&info.size) {
                    sizes.insert(name, info.size);
                }
            }
        }
        // Snapshots the cache holds (written back, or fetched before and since deleted from
        // the store) are starts too.
        if let Ok(entries) = std::fs::read_dir(self.inner.cache.join("snapshot")) {
            for entry in entries.flatten() {
                let key = format!("snapshot/{}", entry.file_name().to_string_lossy());
                if let (Ok(name), Ok(meta)) = (key.parse::<BlobName>(), entry.metadata()) {
                    if avoid.get(&name) != Some(&meta.len()) {
                        sizes.entry(name).or_insert(meta.len());
                    }
                }
            }
        }
        let cached = |name: &BlobName| self.cache_path(name).exists();
        let path = plan(from, target, &sizes, cached).ok_or_else(|| {
            Failed::Other(Error::NoPath {
                to: target,
                location: self.inner.store.location(),
                why: "no snapshot, and no chain of deltas from the current version".into(),
            })
        })?;
        let mut fetched = 0;
        let mut stats = ApplyStats::default();
        let mut blobs = Vec::new();
        // The blob is bad (damaged, not what its name says, gone): plan around it. Anything
        // else (the store unreachable, the local disk) fails the refresh.
        let blob_failed = |name: BlobName, e: Error| {
            let bad_blob = matches!(
                e,
                Error::Format(_)
                    | Error::DamagedCache { .. }
                    | Error::DeltaMismatch { .. }
                    | Error::Store(shoal_store::Error::Corrupt { .. })
                    | Error::Store(shoal_store::Error::NotFound { .. })
            );
            if bad_blob {
                Failed::Blob(name, sizes[&name], e)
            } else {
                Failed::Other(e)
            }
        };
        let mut dataset: Arc<Dataset> = match path.start {
            Start::Current => current
                .clone()
                .expect("the plan starts at the current version"),
            Start::Snapshot(v) => {
                let name = BlobName::Snapshot(v);
                let (bytes, got) = self.load(&name).await.map_err(|e| blob_failed(name, e))?;
                fetched += got;
                blobs.push(name.key());
                let data = Dataset::from_snapshot(bytes).map_err(|e| blob_failed(name, e))?;
                Arc::new(data.with_indexes(&self.inner.indexes)?)
            }
        };
        for &name in &path.steps {
            let (bytes, got) = self.load(&name).await.map_err(|e| blob_failed(name, e))?;
            fetched += got;
            blobs.push(name.key());
            let delta = DeltaView::open(bytes).map_err(|e| blob_failed(name, e.into()))?;
            let (next, s) = dataset.apply(&delta).map_err(|e| blob_failed(name, e))?;
            stats.pages_rebuilt += s.pages_rebuilt;
            stats.pages_shared += s.pages_shared;
            stats.bytes_rebuilt += s.bytes_rebuilt;
            dataset = Arc::new(next);
        }
        if dataset.version() != target {
            return Err(Failed::Other(Error::NoPath {
                to: target,
                location: self.inner.store.location(),
                why: format!("the blobs lead to version {}", dataset.version().0),
            }));
        }
        let chain = match path.start {
            Start::Snapshot(_) => path.steps.len(),
            Start::Current => *self.inner.chain.lock().expect("chain lock") + path.steps.len(),
        };
        *self.inner.chain.lock().expect("chain lock") = chain;
        self.maybe_write_back(&dataset, chain);
        let replaced = self.inner.current.swap(Some(dataset));
        self.retire(replaced);
        Ok(Some(RefreshEvent {
            from,
            to: target,
            blobs,
            bytes_fetched: fetched,
            stats,
            duration: start.elapsed(),
        }))
    }

    /// Keeps a replaced version until a refresh finds no reader holding it, and frees it
    /// then, on the refreshing thread: a reader that drops the last handle of an old version
    /// would otherwise pay for freeing it (pages, patches, index shards) in the middle of its
    /// lookups.
    fn retire(&self, replaced: Option<Arc<Dataset>>) {
        let mut retired = self.inner.retired.lock().expect("retired lock");
        retired.extend(replaced);
        retired.retain(|d| Arc::strong_count(d) > 1);
    }

    /// Starts writing `data` back to the cache as a snapshot when its chain is long enough
    /// and the cache holds no snapshot of its version (see
    /// [`ConsumerBuilder::write_back_after`]).
    fn maybe_write_back(&self, data: &Arc<Dataset>, chain: usize) {
        let Some(n) = self.inner.write_back_after else {
            return;
        };
        let path = self.cache_path(&BlobName::Snapshot(data.version()));
        if chain < n || path.exists() {
            return;
        }
        *self.inner.chain.lock().expect("chain lock") = 0;
        let data = data.clone();
        let spawned = tokio::runtime::Handle::try_current().map(|rt| {
            rt.spawn_blocking(move || match write_back(&data, &path) {
                Ok(bytes) => tracing::info!(
                    version = data.version().0,
                    bytes,
                    "current version written back to the cache as a snapshot"
                ),
                Err(e) => tracing::warn!(error = %e, "writing the current version back failed"),
            })
        });
        if spawned.is_err() {
            tracing::warn!("no tokio runtime: the current version is not written back");
        }
    }

    fn cache_path(&self, name: &BlobName) -> PathBuf {
        self.inner.cache.join(name.key())
    }

    /// The verified, mapped bytes of a blob, fetched into the cache first if needed; and
    /// how many bytes were fetched.
    async fn load(&self, name: &BlobName) -> Result<(Bytes, u64)> {
        let path = self.cache_path(name);
        if path.exists() {
            match map_and_verify(&path, name) {
                Ok(bytes) => return Ok((bytes, 0)),
                Err(e) => {
                    // Damaged on disk: drop it and fetch again.
                    tracing::warn!(blob = %name, error = %e, "damaged cache file removed");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create cache folder", dir, e))?;
        }
        let info = self.inner.store.get_to_file(&name.key(), &path).await?;
        match map_and_verify(&path, name) {
            Ok(bytes) => Ok((bytes, info.size)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

/// Encodes `data` as a snapshot and puts it at `path` atomically (temporary file, fsync,
/// rename); returns its size.
fn write_back(data: &Dataset, path: &Path) -> Result<u64> {
    let bytes = data.encode_snapshot()?;
    let dir = path.parent().expect("a cache path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create cache folder", dir, e))?;
    let temp = dir.join(format!(
        ".{}.write-back-{}",
        data.version().0,
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("write back a snapshot", path, e)
    })?;
    Ok(bytes.len() as u64)
}

/// Why an attempt to reach a version failed: a blob (to avoid next time) or anything else.
enum Failed {
    Blob(BlobName, u64, Error),
    Other(Error),
}

impl<E: Into<Error>> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed::Other(e.into())
    }
}

/// Maps a cache file and checks every checksum of the blob and that it is what its name
/// says.
fn map_and_verify(path: &Path, name: &BlobName) -> Result<Bytes> {
    let bytes = map_file(path)?;
    let damaged = |reason: String| Error::DamagedCache {
        path: path.to_path_buf(),
        reason,
    };
    let header = match name {
        BlobName::Snapshot(_) => {
            let view = SnapshotView::open(bytes.clone()).map_err(|e| damaged(e.to_string()))?;
            // Every section's CRC-32C (values are checked as they are read: UTF-8 per string,
            // page headers when the blob was opened).
            view.layout()
                .verify(&bytes)
                .map_err(|e| damaged(e.to_string()))?;
            view.layout().header
        }
        BlobName::Delta(..) | BlobName::Reverse(..) => {
            let view = DeltaView::open(bytes.clone()).map_err(|e| damaged(e.to_string()))?;
            view.layout()
                .verify(&bytes)
                .map_err(|e| damaged(e.to_string()))?;
            view.layout().header
        }
    };
    let expected = (name.from_version(), name.to_version());
    let found = (
        matches!(name, BlobName::Delta(..) | BlobName::Reverse(..)).then_some(header.from),
        header.to,
    );
    if expected != found {
        return Err(damaged(format!(
            "it holds versions {:?} -> {}, not what its name says",
            found.0.map(|v| v.0),
            found.1 .0
        )));
    }
    Ok(bytes)
}

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Current,
    Snapshot(Version),
}

/// A way to a version: a start and the deltas to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    start: Start,
    steps: Vec<BlobName>,
}

/// The cheapest way from `from` to `target` (bytes to fetch, plus an eighth of the bytes
/// used for local work): Dijkstra over versions, starting from the current version (cost 0)
/// and from every snapshot (its cost), along deltas and reverse deltas.
fn plan(
    from: Option<Version>,
    target: Version,
    sizes: &BTreeMap<BlobName, u64>,
    cached: impl Fn(&BlobName) -> bool,
) -> Option<Route> {
    // Bytes to fetch, plus an eighth of every blob used for the local work (verifying,
    // mapping, applying): a long chain of cached deltas is not free.
    let cost = |name: &BlobName, size: u64| {
        let local = size / 8 + 1;
        if cached(name) {
            local
        } else {
            size + local
        }
    };
    // best[v] = (cost, how we got there)
    #[derive(Clone, Copy)]
    enum Via {
        Start(Start),
        Edge(BlobName, Version),
    }
    let mut best: BTreeMap<Version, (u64, Via)> = BTreeMap::new();
    let mut heap = BinaryHeap::new();
    let offer = |best: &mut BTreeMap<Version, (u64, Via)>,
                 heap: &mut BinaryHeap<std::cmp::Reverse<(u64, Version)>>,
                 v: Version,
                 c: u64,
                 via: Via| {
        if best.get(&v).is_none_or(|(old, _)| c < *old) {
            best.insert(v, (c, via));
            heap.push(std::cmp::Reverse((c, v)));
        }
    };
    if let Some(f) = from {
        offer(&mut best, &mut heap, f, 0, Via::Start(Start::Current));
    }
    for (name, size) in sizes {
        if let BlobName::Snapshot(v) = name {
            offer(
                &mut best,
                &mut heap,
                *v,
                cost(name, *size),
                Via::Start(Start::Snapshot(*v)),
            );
        }
    }
    while let Some(std::cmp::Reverse((c, v))) = heap.pop() {
        if best.get(&v).is_some_and(|(b, _)| *b < c) {
            continue;
        }
        if v == target {
            break;
        }
        for (name, size) in sizes {
            let next = match name {
                BlobName::Delta(a, b) | BlobName::Reverse(a, b) if *a == v => *b,
                _ => continue,
            };
            offer(
                &mut best,
                &mut heap,
                next,
                c + cost(name, *size),
                Via::Edge(*name, v),
            );
        }
    }
    let mut steps = Vec::new();
    let mut at = target;
    loop {
        match best.get(&at)?.1 {
            Via::Start(start) => {
                steps.reverse();
                return Some(Route { start, steps });
            }
            Via::Edge(name, prev) => {
                steps.push(name);
                at = prev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> Version {
        Version(n)
    }

    fn sizes(items: &[(BlobName, u64)]) -> BTreeMap<BlobName, u64> {
        items.iter().copied().collect()
    }

    #[test]
    fn plans_take_the_fewest_bytes() {
        let s = sizes(&[
            (BlobName::Snapshot(v(1)), 1000),
            (BlobName::Snapshot(v(3)), 1000),
            (BlobName::Delta(v(1), v(2)), 10),
            (BlobName::Delta(v(2), v(3)), 10),
            (BlobName::Delta(v(3), v(4)), 10),
            (BlobName::Reverse(v(3), v(2)), 10),
        ]);
        let none = |_: &BlobName| false;
        // From nothing: the nearest snapshot, then deltas.
        let p = plan(None, v(4), &s, none).unwrap();
        assert_eq!(p.start, Start::Snapshot(v(3)));
        assert_eq!(p.steps, [BlobName::Delta(v(3), v(4))]);
        // From version 1: deltas are cheaper than a snapshot.
        let p = plan(Some(v(1)), v(4), &s, none).unwrap();
        assert_eq!(p.start, Start::Current);
        assert_eq!(p.steps.len(), 3);
        // Back from 3 to 2 by the reverse delta.
        let p = plan(Some(v(3)), v(2), &s, none).unwrap();
        assert_eq!(
            (p.start, p.steps),
            (Start::Current, vec![BlobName::Reverse(v(3), v(2))])
        );
        // No reverse delta from 4: a snapshot and deltas.
        let p = plan(Some(v(4)), v(2), &s, none).unwrap();
        assert_eq!(p.start, Start::Snapshot(v(1)));
        // A cached snapshot is free.
        let cached = |n: &BlobName| *n == BlobName::Snapshot(v(1));
        let p = plan(None, v(3), &s, cached).unwrap();
        assert_eq!(p.start, Start::Snapshot(v(1)));
        // Nowhere to go.
        assert!(plan(None, v(9), &s, none).is_none());
        // When the chain costs more than a snapshot, the snapshot wins.
        let s = sizes(&[
            (BlobName::Snapshot(v(5)), 100),
            (BlobName::Delta(v(4), v(5)), 500),
        ]);
        assert_eq!(
            plan(Some(v(4)), v(5), &s, none).unwrap().start,
            Start::Snapshot(v(5))
        );
    }
}
