//! One refresh: plan the way to a version, fetch what the cache lacks, build the dataset
//! (on blocking threads), swap it in, then retire the old one and apply cache retention.
//!
//! The async side only waits: for the store (list, fetch) and for blocking tasks. Mapping
//! and verifying blobs, building indexes, applying deltas, freeing old versions and sweeping
//! the cache are CPU or file-system work, and run where they cannot stall the runtime of the
//! service that embeds the consumer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shoal_format::{DeltaView, Version};
use shoal_store::{Announced, BlobName};

use crate::consumer::{Consumer, RefreshEvent};
use crate::dataset::{ApplyStats, Dataset};
use crate::error::{Error, Result};
use crate::plan::{plan, Route, Start};

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

/// The blobs a way may use, with sizes, and whether they came from a LIST.
struct Known {
    sizes: BTreeMap<BlobName, u64>,
    listed: bool,
}

/// What building the next dataset fetched and did.
#[derive(Default)]
struct Built {
    fetched: u64,
    blobs: Vec<String>,
    stats: ApplyStats,
}

/// Runs `work` on a blocking thread and waits for it.
pub(crate) async fn blocking<T, F>(what: &'static str, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Task {
            what,
            reason: e.to_string(),
        })?
}

impl Consumer {
    /// Builds the dataset at `target` and swaps it in; `None` when already there.
    pub(crate) async fn go_to(
        &self,
        target: Version,
        announced: Option<&Announced>,
    ) -> Result<Option<RefreshEvent>> {
        // A blob that turns out damaged (or gone) is avoided and the way planned again, a few
        // times: each attempt rules out at least one blob. What is avoided is forgotten when
        // the refresh ends: a transfer that was damaged on the way is tried again next time.
        // A store that cannot be reached ends the refresh at once. A damaged blob that was in
        // the cache is removed and tried once more from the store first: a file verified
        // once is later mapped with the structural checks only, so bits that rotted on disk
        // show up here.
        let mut avoid = HashMap::new();
        let mut refetched = HashSet::new();
        let mut last = None;
        for _ in 0..5 {
            match self.try_go_to(target, &avoid, announced).await {
                Err(Failed::Blob(name, size, e)) => {
                    if self.inner.cache.remove(&name) && refetched.insert(name) {
                        tracing::warn!(blob = %name, error = %e, "damaged cache file removed");
                    } else {
                        tracing::warn!(blob = %name, error = %e, "damaged blob avoided");
                        avoid.insert(name, size);
                    }
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
        announced: Option<&Announced>,
    ) -> Result<Option<RefreshEvent>, Failed> {
        let start = Instant::now();
        let current = self.undamaged_current();
        let from = current.as_ref().map(|d| d.version());
        if from == Some(target) {
            return Ok(None);
        }
        let (route, known) = self.way(from, target, avoid, announced).await?;
        let (dataset, built) = self.build(&route, current, &known.sizes).await?;
        if dataset.version() != target {
            return Err(Failed::Other(Error::NoPath {
                to: target,
                location: self.inner.store.location(),
                why: format!("the blobs lead to version {}", dataset.version().0),
            }));
        }
        self.swap_in(dataset, &route).await;
        Ok(Some(RefreshEvent {
            from,
            to: target,
            blobs: built.blobs,
            bytes_fetched: built.fetched,
            listed: known.listed,
            stats: built.stats,
            duration: start.elapsed(),
        }))
    }

    /// The current version, unless a read found its snapshot's cache file damaged (see
    /// `Dataset::damage`): then the file is removed, and the refresh starts over from a
    /// fresh copy as if nothing were loaded.
    fn undamaged_current(&self) -> Option<Arc<Dataset>> {
        let current = self.current()?;
        let Some((version, damage)) = current.damage() else {
            return Some(current);
        };
        let name = BlobName::Snapshot(version);
        tracing::warn!(blob = %name, error = damage, "damaged cache file removed");
        self.inner.cache.remove(&name);
        None
    }

    /// The way to `target`: from the announcement's manifest (the deltas of the last few
    /// versions) when it leads there from the current version or a cached snapshot (the
    /// steady state, a consumer a few versions behind, a recent pin: no LIST), else from a
    /// LIST of the store.
    async fn way(
        &self,
        from: Option<Version>,
        target: Version,
        avoid: &HashMap<BlobName, u64>,
        announced: Option<&Announced>,
    ) -> Result<(Route, Known), Failed> {
        // One listing of the cache folder: the planner asks "is it cached?" for every edge.
        let cache = self.inner.cache.clone();
        let in_cache = blocking("read the cache folder", move || Ok(cache.files())).await?;
        let cached = |name: &BlobName| in_cache.contains_key(name);
        let cached_snapshots: BTreeMap<BlobName, u64> = in_cache
            .iter()
            .filter(|(name, _)| matches!(name, BlobName::Snapshot(_)))
            .map(|(name, size)| (*name, *size))
            .collect();
        // The planner weighs a cached blob by the file it is (plain), a blob to fetch by
        // what the store holds (packed, maybe).
        let weights = |sizes: &BTreeMap<BlobName, u64>| {
            let mut w = sizes.clone();
            for (name, size) in &in_cache {
                w.entry(*name).and_modify(|s| *s = *size);
            }
            w
        };
        let manifest = announced.filter(|_| avoid.is_empty() && from.is_some());
        if let Some(a) = manifest {
            let mut sizes: BTreeMap<BlobName, u64> = a.blobs.iter().copied().collect();
            sizes.extend(cached_snapshots.iter().map(|(n, s)| (*n, *s)));
            if let Some(route) = plan(from, target, &weights(&sizes), cached) {
                let cheap = match route.start {
                    Start::Current => true,
                    Start::Snapshot(v) => cached(&BlobName::Snapshot(v)),
                };
                if cheap {
                    return Ok((
                        route,
                        Known {
                            sizes,
                            listed: false,
                        },
                    ));
                }
            }
        }
        let mut sizes = BTreeMap::new();
        for info in self.inner.store.list("").await? {
            if let Ok(name) = info.key.parse::<BlobName>() {
                sizes.insert(name, info.size);
            }
        }
        // Snapshots the cache holds (written back, or fetched before and since deleted from
        // the store) are starts too.
        for (&name, &size) in &cached_snapshots {
            sizes.entry(name).or_insert(size);
        }
        sizes.retain(|name, size| avoid.get(name) != Some(size));
        let route = plan(from, target, &weights(&sizes), cached).ok_or_else(|| {
            Failed::Other(Error::NoPath {
                to: target,
                location: self.inner.store.location(),
                why: "no snapshot, and no chain of deltas from the current version".into(),
            })
        })?;
        Ok((
            route,
            Known {
                sizes,
                listed: true,
            },
        ))
    }

    /// Follows `route` from its start, fetching what the cache lacks.
    async fn build(
        &self,
        route: &Route,
        current: Option<Arc<Dataset>>,
        sizes: &BTreeMap<BlobName, u64>,
    ) -> Result<(Arc<Dataset>, Built), Failed> {
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
        let mut built = Built::default();
        let mut dataset = match route.start {
            Start::Current => current.expect("the plan starts at the current version"),
            Start::Snapshot(v) => {
                let name = BlobName::Snapshot(v);
                let bytes = self
                    .load(&name, &mut built)
                    .await
                    .map_err(|e| blob_failed(name, e))?;
                self.open_snapshot(bytes)
                    .await
                    .map_err(|e| blob_failed(name, e))?
            }
        };
        for &name in &route.steps {
            let bytes = self
                .load(&name, &mut built)
                .await
                .map_err(|e| blob_failed(name, e))?;
            let (next, s) = apply(dataset, bytes)
                .await
                .map_err(|e| blob_failed(name, e))?;
            built.stats.pages_rebuilt += s.pages_rebuilt;
            built.stats.pages_shared += s.pages_shared;
            built.stats.bytes_rebuilt += s.bytes_rebuilt;
            dataset = next;
        }
        Ok((dataset, built))
    }

    /// A snapshot's dataset with the consumer's indexes, built on a blocking thread.
    async fn open_snapshot(&self, bytes: Bytes) -> Result<Arc<Dataset>> {
        let inner = self.inner.clone();
        blocking("open a snapshot", move || {
            let mut data = Dataset::from_snapshot(bytes)?;
            if let Some(n) = inner.refresh_threads {
                data = data.with_threads(n);
            }
            Ok(Arc::new(data.with_indexes(&inner.indexes)?))
        })
        .await
    }

    /// The verified, mapped bytes of a blob, fetched into the cache first if needed.
    async fn load(&self, name: &BlobName, built: &mut Built) -> Result<Bytes> {
        let cache = self.inner.cache.clone();
        let n = *name;
        if let Some(bytes) = blocking("map a cached blob", move || Ok(cache.mapped(&n))).await? {
            built.blobs.push(name.key());
            return Ok(bytes);
        }
        let path = self.inner.cache.path(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create cache folder", dir, e))?;
        }
        let fetched = shoal_store::temp_path(&path);
        let info = match self.inner.store.get_to_file(&name.key(), &fetched).await {
            Ok(info) => info,
            Err(e) => {
                let _ = std::fs::remove_file(&fetched);
                return Err(e.into());
            }
        };
        let cache = self.inner.cache.clone();
        let verify = move || cache.verify_fetched(&n, &fetched);
        let bytes = blocking("verify a fetched blob", verify).await?;
        built.fetched += info.size;
        built.blobs.push(name.key());
        Ok(bytes)
    }

    /// Makes `dataset` current, then (on blocking threads) frees what readers no longer
    /// hold, applies cache retention, and writes the version back to the cache if its chain
    /// is long (in the background). What happens after the swap cannot fail the refresh.
    async fn swap_in(&self, dataset: Arc<Dataset>, route: &Route) {
        let chain = match route.start {
            Start::Snapshot(_) => route.steps.len(),
            Start::Current => *self.inner.chain.lock().expect("chain lock") + route.steps.len(),
        };
        *self.inner.chain.lock().expect("chain lock") = chain;
        let write_back = self.inner.write_back_after.is_some_and(|n| chain >= n);
        if write_back {
            *self.inner.chain.lock().expect("chain lock") = 0;
        }
        let replaced = self.make_current(dataset.clone());
        if let Start::Snapshot(_) = route.start {
            // The cache file's columns were not read yet: read them all now, in the
            // background, so damage shows before a reader needs the column.
            let data = dataset.clone();
            tokio::task::spawn_blocking(move || data.check_columns());
        }
        if write_back {
            // In the background: the refresh is done, and encoding a large version takes
            // a while. Retention meanwhile keeps the chain it replaces.
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.write_back(&dataset));
        }
        let this = self.clone();
        let tidy = blocking("tidy up after a refresh", move || {
            this.retire(replaced);
            this.retain_cache();
            Ok(())
        });
        if let Err(e) = tidy.await {
            tracing::warn!(error = %e, "tidying up after a refresh failed");
        }
    }

    /// Keeps a replaced version until a refresh finds no reader holding it, and frees it
    /// then: a reader that drops the last handle of an old version would otherwise pay for
    /// freeing it (pages, patches, index shards) in the middle of its lookups.
    fn retire(&self, replaced: Option<Arc<Dataset>>) {
        let mut retired = self.inner.retired.lock().expect("retired lock");
        retired.extend(replaced);
        retired.retain(|d| Arc::strong_count(d) > 1);
    }

    /// Writes `data` back to the cache as a snapshot (see
    /// [`ConsumerBuilder::write_back_after`](crate::ConsumerBuilder::write_back_after)).
    fn write_back(&self, data: &Dataset) {
        match self.inner.cache.write_back(data) {
            Ok(Some(bytes)) => tracing::info!(
                version = data.version().0,
                bytes,
                "current version written back to the cache as a snapshot"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "writing the current version back failed"),
        }
    }

    /// Applies cache retention and reports the cache's size.
    fn retain_cache(&self) {
        let kept = self
            .inner
            .cache
            .retain(&self.needed_versions(), self.inner.cache_max_bytes);
        metrics::gauge!("shoal_consumer_cache_bytes").set(kept.bytes as f64);
        if kept.removed > 0 {
            tracing::debug!(
                files = kept.removed,
                bytes = kept.removed_bytes,
                "cache files removed by retention"
            );
        }
    }
}

/// Applies a delta blob to `dataset` on a blocking thread.
async fn apply(dataset: Arc<Dataset>, bytes: Bytes) -> Result<(Arc<Dataset>, ApplyStats)> {
    blocking("apply a delta", move || {
        let delta = DeltaView::open(bytes)?;
        let (next, stats) = dataset.apply(&delta)?;
        Ok((Arc::new(next), stats))
    })
    .await
}
