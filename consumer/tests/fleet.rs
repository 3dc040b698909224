//! What a consumer left alone in a fleet for months must do by itself: recover from an outage
//! without a new announcement, keep its refresh off the service's runtime, stop when told,
//! report how far behind it is, follow an operator's pin, keep its cache bounded, and refresh
//! one version at a time without listing the store.

#[path = "../../producer/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use shoal_consumer::Consumer;
use shoal_format::Version;
use shoal_producer::Producer;
use shoal_store::{
    set_pin, BlobInfo, BlobStore, Condition, Fault, FaultRule, FaultyStore, StoreOp, Tag, Trigger,
    Watch,
};

/// A folder store, a cache folder, and a producer that published version 1 of a catalog.
struct Rig {
    _dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    fs: Arc<dyn BlobStore>,
    producer: Producer,
    rng: Rng,
    movies: BTreeMap<i64, Movie>,
    next_id: i64,
}

impl Rig {
    /// Version 1 with `movies` movies, published by a producer that keeps every version.
    async fn new(seed: u64, movies: i64) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let fs = fs_store(dir.path());
        let producer = Producer::builder(fs.clone())
            .schema(schema())
            .keep_versions(1000)
            .build()
            .await
            .unwrap();
        let mut rng = Rng::new(seed);
        let movies = catalog(&mut rng, movies);
        let mut rig = Rig {
            _dir: dir,
            cache: tempfile::tempdir().unwrap(),
            fs,
            producer,
            rng,
            next_id: movies.len() as i64,
            movies,
        };
        rig.publish().await;
        rig
    }

    /// Changes about `percent`% of the movies and publishes the next version.
    async fn next(&mut self, percent: u64) -> Version {
        mutate(&mut self.rng, &mut self.movies, &mut self.next_id, percent);
        self.publish().await
    }

    async fn publish(&mut self) -> Version {
        publish(&mut self.producer, &self.movies)
            .await
            .unwrap()
            .version
    }
}

/// Waits (up to 20 s) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Blobs unreadable for a while after version 2 is announced: once they are back, the
/// follower reaches version 2 by retrying, with no new announcement to wake it.
#[tokio::test]
async fn a_follower_recovers_from_a_blob_outage_without_a_new_announcement() {
    let mut rig = Rig::new(1, 500).await;
    let faulty = Arc::new(FaultyStore::new(rig.fs.clone(), 1));
    let consumer = Consumer::builder(faulty.clone())
        .cache_dir(rig.cache.path())
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("version 1", || consumer.version() == Some(Version(1))).await;
    for prefix in ["delta/", "snapshot/", "reverse/"] {
        faulty.inject(
            FaultRule::new(Fault::Fail, Trigger::Always)
                .on(&[StoreOp::GetToFile, StoreOp::Get])
                .key_prefix(prefix),
        );
    }
    let v2 = rig.next(5).await;
    eventually("failures reported", || {
        consumer.status().consecutive_failures >= 2
    })
    .await;
    let status = consumer.status();
    assert_eq!(
        (status.served, status.announced),
        (Some(Version(1)), Some(v2))
    );
    assert!(!status.is_current());
    assert!(status.last_error.is_some());
    // Past every wake-up the announcement itself causes (events, the watch's polls).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    faulty.clear();
    eventually("version 2 after the outage", || {
        consumer.version() == Some(v2)
    })
    .await;
    let status = consumer.status();
    assert!(status.is_current(), "{status:?}");
    assert_eq!(status.consecutive_failures, 0);
    follower.stop().await;
}

/// The announcement itself unreadable: the follower retries until it reads it again.
#[tokio::test]
async fn a_follower_recovers_from_an_announcement_outage() {
    let rig = Rig::new(2, 200).await;
    let faulty = Arc::new(FaultyStore::new(rig.fs.clone(), 2));
    faulty.inject(
        FaultRule::new(Fault::Fail, Trigger::Always)
            .on(&[StoreOp::GetTagged])
            .key_prefix("announced"),
    );
    let consumer = Consumer::builder(faulty.clone())
        .cache_dir(rig.cache.path())
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("failures reported", || {
        consumer.status().consecutive_failures >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(consumer.version(), None);
    faulty.clear();
    eventually("version 1", || consumer.version() == Some(Version(1))).await;
    drop(follower);
}

/// Dropping the follower stops it: a version announced afterwards is not taken.
#[tokio::test]
async fn dropping_the_follower_stops_it() {
    let mut rig = Rig::new(3, 200).await;
    let consumer = Consumer::builder(rig.fs.clone())
        .cache_dir(rig.cache.path())
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("version 1", || consumer.version() == Some(Version(1))).await;
    assert!(follower.is_running());
    drop(follower);
    rig.next(10).await;
    // The folder store's watch would wake a running follower at once; give it time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(consumer.version(), Some(Version(1)));
    assert_eq!(consumer.refresh().await.unwrap(), Version(2));
}

/// An operator's pin in the store moves every follower to the pinned version and holds it
/// there while the producer keeps publishing; unpinning lets it follow again.
#[tokio::test]
async fn followers_obey_a_pin_in_the_store() {
    let mut rig = Rig::new(4, 300).await;
    rig.next(10).await;
    let consumer = Consumer::builder(rig.fs.clone())
        .cache_dir(rig.cache.path())
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("version 2", || consumer.version() == Some(Version(2))).await;
    set_pin(&*rig.fs, Some(Version(1))).await.unwrap();
    eventually("back to the pin", || consumer.version() == Some(Version(1))).await;
    let v3 = rig.next(10).await;
    assert_eq!(v3, Version(3), "the producer publishes while pinned");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(consumer.version(), Some(Version(1)));
    assert_eq!(consumer.status().pinned, Some(Version(1)));
    set_pin(&*rig.fs, None).await.unwrap();
    eventually("version 3 after unpin", || consumer.version() == Some(v3)).await;
    follower.stop().await;
}

/// A consumer behind by a few versions finds the deltas in the announcement: after the first
/// load (which lists the store), no refresh lists it again, nor does a recent pin.
#[tokio::test]
async fn a_steady_consumer_refreshes_without_listing_the_store() {
    let mut rig = Rig::new(5, 300).await;
    let counted = Arc::new(FaultyStore::new(rig.fs.clone(), 5));
    let consumer = Consumer::builder(counted.clone())
        .cache_dir(rig.cache.path())
        .build()
        .unwrap();
    consumer.refresh().await.unwrap();
    assert_eq!(counted.calls(StoreOp::List), 1);
    for _ in 0..5 {
        let v = rig.next(5).await;
        assert_eq!(consumer.refresh().await.unwrap(), v);
    }
    assert_eq!(
        counted.calls(StoreOp::List),
        1,
        "no LIST after the first load"
    );
    assert_eq!(counted.calls(StoreOp::GetToFile), 6, "one blob per version");
    // Four versions behind: the manifest names the last eight versions' deltas.
    let mut last = Version(0);
    for _ in 0..4 {
        last = rig.next(5).await;
    }
    assert_eq!(consumer.refresh().await.unwrap(), last);
    assert_eq!(counted.calls(StoreOp::GetToFile), 10, "four deltas");
    assert_eq!(
        counted.calls(StoreOp::List),
        1,
        "no LIST four versions behind"
    );
    // A pin three versions back goes by reverse deltas, still without a LIST.
    set_pin(&*rig.fs, Some(Version(last.0 - 3))).await.unwrap();
    assert_eq!(consumer.refresh().await.unwrap(), Version(last.0 - 3));
    assert_eq!(counted.calls(StoreOp::List), 1, "no LIST behind or pinned");
}

/// 300 versions: the cache holds what a restart needs and no more, and a restarted
/// consumer starts from it without fetching.
#[tokio::test]
async fn the_cache_stays_bounded_over_300_versions_and_a_restart_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let fs = fs_store(dir.path());
    let mut p = Producer::builder(fs.clone())
        .schema(schema())
        .snapshot_every(50)
        .keep_versions(1000)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(6);
    let mut movies = catalog(&mut rng, 100);
    let mut next = 100;
    let consumer = Consumer::builder(fs.clone())
        .cache_dir(cache.path())
        .write_back_after(Some(8))
        .build()
        .unwrap();
    let mut largest = 0;
    let mut last = Version(0);
    for _ in 0..300 {
        mutate(&mut rng, &mut movies, &mut next, 3);
        last = publish(&mut p, &movies).await.unwrap().version;
        consumer.refresh().await.unwrap();
        let (files, bytes) = cache_size(cache.path());
        largest = largest.max(files);
        assert!(
            files <= 2 * 8 + 4,
            "{files} files ({bytes} bytes) at {last:?}"
        );
    }
    let (_, store_bytes) = cache_size(dir.path());
    let (_, cache_bytes) = cache_size(cache.path());
    assert!(
        cache_bytes * 10 < store_bytes,
        "cache {cache_bytes} bytes, store {store_bytes}"
    );
    drop(consumer);
    let restarted = Consumer::builder(fs.clone())
        .cache_dir(cache.path())
        .build()
        .unwrap();
    let events = Arc::new(Events::default());
    restarted.add_listener(events.clone());
    assert_eq!(restarted.refresh().await.unwrap(), last);
    let event = events.0.lock().unwrap().pop().unwrap();
    assert_eq!(event.bytes_fetched, 0, "{:?}", event.blobs);
    assert!(largest >= 3);
}

#[derive(Default)]
struct Events(std::sync::Mutex<Vec<shoal_consumer::RefreshEvent>>);

impl shoal_consumer::Listener for Events {
    fn on_refresh(&self, event: &shoal_consumer::RefreshEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
    fn on_failure(&self, _: &shoal_consumer::Error) {}
}

/// Files and bytes under `dir`, hidden files left out.
fn cache_size(dir: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    for folder in ["snapshot", "delta", "reverse"] {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with('.') {
                total.0 += 1;
                total.1 += e.metadata().unwrap().len();
            }
        }
    }
    total
}

/// On a current-thread runtime, another task keeps running while the refresh does its CPU
/// work. Deterministic, no timing: the ticker's count is read when the last blob has been
/// fetched; a refresh that verified, mapped and applied on the runtime's only thread would
/// finish without the ticker running again.
#[test]
fn a_refresh_leaves_the_callers_runtime_free() {
    const DELTAS: u64 = 5;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rig = Rig::new(7, 50_000).await;
        for _ in 0..DELTAS {
            rig.next(20).await;
        }
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        let hooked = Arc::new(Hooked {
            inner: rig.fs.clone(),
            ticks: ticks.clone(),
            at_last_fetch: AtomicU64::new(0),
        });
        let consumer = Consumer::builder(hooked.clone())
            .cache_dir(rig.cache.path())
            .primary_key_index("Movie")
            .build()
            .unwrap();
        consumer.refresh_to(Version(1)).await.unwrap();
        let after_snapshot =
            ticks.load(Ordering::Relaxed) - hooked.at_last_fetch.load(Ordering::Relaxed);
        // Several deltas: on a loaded machine the OS may keep the runtime's thread off the
        // CPU for the whole of one small apply; never for all of them unless it is inline.
        let mut after_delta = 0;
        for v in 2..=DELTAS + 1 {
            consumer.refresh_to(Version(v)).await.unwrap();
            after_delta +=
                ticks.load(Ordering::Relaxed) - hooked.at_last_fetch.load(Ordering::Relaxed);
        }
        ticker.abort();
        assert!(
            after_snapshot > 0 && after_delta > 0,
            "the ticker ran {after_snapshot} times while the snapshot was opened and \
             {after_delta} times while {DELTAS} deltas were applied"
        );
    });
}

/// A store that notes the ticker's count whenever a fetch completes.
#[derive(Debug)]
struct Hooked {
    inner: Arc<dyn BlobStore>,
    ticks: Arc<AtomicU64>,
    at_last_fetch: AtomicU64,
}

#[async_trait]
impl BlobStore for Hooked {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn put(&self, key: &str, data: Bytes) -> shoal_store::Result<BlobInfo> {
        self.inner.put(key, data).await
    }
    async fn put_file(&self, key: &str, path: &Path) -> shoal_store::Result<BlobInfo> {
        self.inner.put_file(key, path).await
    }
    async fn put_if(&self, key: &str, data: Bytes, c: Condition) -> shoal_store::Result<Tag> {
        self.inner.put_if(key, data, c).await
    }
    async fn get(&self, key: &str) -> shoal_store::Result<Bytes> {
        self.inner.get(key).await
    }
    async fn get_tagged(&self, key: &str) -> shoal_store::Result<Option<(Bytes, Tag)>> {
        self.inner.get_tagged(key).await
    }
    async fn get_to_file(&self, key: &str, dest: &Path) -> shoal_store::Result<BlobInfo> {
        let info = self.inner.get_to_file(key, dest).await;
        self.at_last_fetch
            .store(self.ticks.load(Ordering::Relaxed), Ordering::Relaxed);
        info
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> shoal_store::Result<Bytes> {
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &str) -> shoal_store::Result<Option<BlobInfo>> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str) -> shoal_store::Result<Vec<BlobInfo>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> shoal_store::Result<()> {
        self.inner.delete(key).await
    }
    async fn watch(&self, key: &str) -> shoal_store::Result<Watch> {
        self.inner.watch(key).await
    }
}
