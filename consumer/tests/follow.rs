//! A consumer follows a producer: after every version, every record read through the
//! consumer equals the producer's truth; deltas share pages; a second consumer starting
//! later agrees; pinning and rolling back; failures leave the current version serving.

#[path = "../../producer/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use shoal_consumer::{Consumer, Dataset, Listener, RefreshEvent};
use shoal_format::{DataState, RecordSource, TypeId, Version};
use shoal_producer::Producer;
use shoal_store::BlobStore;

async fn full(p: &mut Producer, movies: &BTreeMap<i64, Movie>) -> shoal_producer::CycleReport {
    publish(p, movies).await.unwrap()
}

/// Every type holds exactly the producer's records at the same ordinals.
fn assert_same(data: &Dataset, truth: &DataState) {
    for t in 0..truth.schema().type_count() {
        let ty = TypeId(t as u32);
        assert_eq!(
            data.populated(ty).cloned().unwrap_or_default(),
            truth.populated(ty),
            "populated ordinals of type {t} at version {}",
            data.version().0
        );
        for (o, record) in truth.records(ty) {
            assert_eq!(&data.record(ty, o).unwrap(), record, "type {t} #{}", o.0);
        }
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<RefreshEvent>>,
    failures: Mutex<Vec<String>>,
}

impl Listener for Recorder {
    fn on_refresh(&self, event: &RefreshEvent) {
        self.events.lock().unwrap().push(event.clone());
    }
    fn on_failure(&self, error: &shoal_consumer::Error) {
        self.failures.lock().unwrap().push(error.to_string());
    }
}

#[tokio::test]
async fn a_consumer_follows_a_producer_version_by_version() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(5)
        .keep_versions(100)
        .build()
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .listener(recorder.clone())
        .build()
        .unwrap();
    let mut rng = Rng::new(77);
    let mut movies = catalog(&mut rng, 5_000);
    let mut next_id = 5_000;
    let mut truth = BTreeMap::new();
    for cycle in 0..30 {
        if cycle > 0 {
            mutate(&mut rng, &mut movies, &mut next_id, 1 + cycle % 3);
        }
        let report = full(&mut producer, &movies).await;
        truth.insert(report.version.0, producer.state().unwrap());
        let v = consumer.refresh().await.unwrap();
        assert_eq!(v, report.version);
        let data = consumer.current().unwrap();
        assert_same(&data, &producer.state().unwrap());
    }
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(events.len(), 30);
    assert!(events[0].blobs[0].starts_with("snapshot/"));
    // After the first load, every refresh is one delta.
    for e in &events[1..] {
        assert_eq!(e.blobs.len(), 1, "{e:?}");
        assert!(e.blobs[0].starts_with("delta/"), "{e:?}");
    }

    // Typed reads borrow from the map.
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Slim<'a> {
        id: i64,
        title: &'a str,
        missing_field: Option<i32>,
    }
    let data = consumer.current().unwrap();
    let movie_ty = data.type_id("Movie").unwrap();
    let title = data.field("Movie", "title").unwrap();
    let id = data.field("Movie", "id").unwrap();
    for o in data.ordinals(movie_ty).take(100) {
        let m: Slim<'_> = data.get(movie_ty, o).unwrap();
        assert_eq!(Some(m.title), data.get_str(title, o));
        assert_eq!(Some(m.id), data.get_i64(id, o));
        assert_eq!(m.missing_field, None);
        assert_eq!(movies[&m.id].title, m.title);
        let full: Movie = data.get(movie_ty, o).unwrap();
        assert_eq!(full, movies[&m.id]);
    }

    // A second consumer, started late with an empty cache, loads by snapshot and agrees.
    let late_cache = tempfile::tempdir().unwrap();
    let late = Consumer::builder(store.clone())
        .cache_dir(late_cache.path())
        .build()
        .unwrap();
    assert_eq!(late.refresh().await.unwrap(), Version(30));
    assert_same(&late.current().unwrap(), &truth[&30]);

    // Pin an older version: back by reverse deltas.
    let seen = recorder.events.lock().unwrap().len();
    consumer.pin(Version(27)).await.unwrap();
    let back = recorder.events.lock().unwrap()[seen].clone();
    assert_eq!(
        back.blobs,
        ["reverse/30-29", "reverse/29-28", "reverse/28-27"]
    );
    assert_same(&consumer.current().unwrap(), &truth[&27]);
    // A refresh while pinned stays there; unpin follows the announcement again.
    assert_eq!(consumer.refresh().await.unwrap(), Version(27));
    consumer.unpin();
    assert_eq!(consumer.refresh().await.unwrap(), Version(30));
    assert_same(&consumer.current().unwrap(), &truth[&30]);

    // A restarted consumer on the same cache fetches nothing.
    let restarted = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .listener(recorder.clone())
        .build()
        .unwrap();
    restarted.refresh().await.unwrap();
    let last = recorder.events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.bytes_fetched, 0, "{last:?}");
    assert_same(&restarted.current().unwrap(), &truth[&30]);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_current_version_serving() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .listener(recorder.clone())
        .build()
        .unwrap();
    // Nothing announced yet: a clear error, nothing current.
    let err = consumer.refresh().await.unwrap_err();
    assert!(err.to_string().contains("nothing is announced"), "{err}");
    assert!(consumer.current().is_none());

    let mut rng = Rng::new(4);
    let mut movies = catalog(&mut rng, 500);
    full(&mut producer, &movies).await;
    consumer.refresh().await.unwrap();
    let v1 = producer.state().unwrap();
    let held = consumer.current().unwrap();

    // Version 2's blobs go missing (and a corrupt delta sits in its place).
    movies.get_mut(&1).unwrap().rating = 0.1;
    full(&mut producer, &movies).await;
    store.delete("snapshot/2").await.unwrap();
    store
        .put(
            "delta/1-2",
            bytes::Bytes::from_static(b"not a delta at all"),
        )
        .await
        .unwrap();
    let err = consumer.refresh().await.unwrap_err();
    assert!(err.to_string().contains("delta/1-2"), "{err}");
    assert_eq!(consumer.version(), Some(Version(1)), "{err}");
    assert_same(&consumer.current().unwrap(), &v1);
    assert_eq!(recorder.failures.lock().unwrap().len(), 2);
    // The damaged delta left nothing in the cache.
    assert!(!cache_dir.path().join("delta/1-2").exists());
    // The handle taken before still reads version 1.
    assert_eq!(held.version(), Version(1));

    // The next version publishes whole blobs: the consumer catches up.
    movies.get_mut(&2).unwrap().rating = 0.2;
    full(&mut producer, &movies).await;
    assert_eq!(consumer.refresh().await.unwrap(), Version(3));
    assert_same(&consumer.current().unwrap(), &producer.state().unwrap());
}

#[tokio::test]
async fn follow_refreshes_on_announcements() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(
        shoal_store::FsStore::new(store_dir.path())
            .unwrap()
            .with_poll_interval(std::time::Duration::from_millis(200)),
    );
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(9);
    let mut movies = catalog(&mut rng, 200);
    full(&mut producer, &movies).await;
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .build()
        .unwrap();
    let task = consumer.follow();
    for round in 2..=4u64 {
        movies.get_mut(&(round as i64)).unwrap().year += 1;
        full(&mut producer, &movies).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while consumer.version() != Some(Version(round)) {
            assert!(
                std::time::Instant::now() < deadline,
                "never saw version {round}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_same(&consumer.current().unwrap(), &producer.state().unwrap());
    }
    task.stop().await;
}

#[tokio::test]
async fn one_edit_rebuilds_one_page_and_shares_every_other() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(12);
    let mut movies = catalog(&mut rng, 20_000); // 20 pages per column
    full(&mut producer, &movies).await;
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .build()
        .unwrap();
    consumer.refresh().await.unwrap();
    let before = consumer.current().unwrap();

    movies.get_mut(&15_000).unwrap().rating = 9.75; // one field of one movie
    full(&mut producer, &movies).await;
    let recorder = Arc::new(Recorder::default());
    consumer.add_listener(recorder.clone());
    consumer.refresh().await.unwrap();
    let after = consumer.current().unwrap();
    assert_same(&after, &producer.state().unwrap());
    let event = recorder.events.lock().unwrap()[0].clone();
    assert_eq!(event.stats.pages_rebuilt, 1, "{event:?}");
    let movie = after.type_id("Movie").unwrap();
    let rating = after.field("Movie", "rating").unwrap();
    let page = 15_000 >> 10;
    for c in 0..6 {
        let column = shoal_format::FieldId(c);
        for p in 0..20 {
            let shared = after.shares_page(&before, movie, column, p);
            assert_eq!(
                shared,
                !(column == rating.field_id() && p == page),
                "column {c} page {p}"
            );
        }
    }
    // The old version still reads its own value.
    let o = before
        .ordinals(movie)
        .find(|&o| before.get_i64(before.field("Movie", "id").unwrap(), o) == Some(15_000))
        .unwrap();
    assert_ne!(before.get_f64(rating, o), Some(9.75));
    assert_eq!(after.get_f64(rating, o), Some(9.75));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_is_written_back_to_the_cache_and_a_restart_starts_there() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    // Only version 1 gets a snapshot in the store.
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(1000)
        .build()
        .await
        .unwrap();
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .primary_key_index("Movie")
        .write_back_after(Some(5))
        // Keep every written-back snapshot (retention is tested in fleet.rs).
        .cache_max_bytes(u64::MAX)
        .build()
        .unwrap();
    let mut rng = Rng::new(17);
    let mut movies = catalog(&mut rng, 800);
    let mut next_id = 800;
    let mut truth: BTreeMap<u64, DataState> = BTreeMap::new();
    for v in 1..=12u64 {
        if v > 1 {
            mutate(&mut rng, &mut movies, &mut next_id, 4);
        }
        full(&mut producer, &movies).await;
        truth.insert(v, producer.state().unwrap());
        consumer.refresh().await.unwrap();
        assert_same(&consumer.current().unwrap(), &truth[&v]);
    }
    assert!(store.head("snapshot/6").await.unwrap().is_none());
    // Versions 6 and 11 were reached by 5 deltas since a snapshot: both written back, in
    // the background, byte for byte what a producer writes for that state.
    for v in [6u64, 11] {
        let path = cache_dir.path().join(format!("snapshot/{v}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !path.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "snapshot/{v} never written back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut expected = Vec::new();
        shoal_format::write_snapshot(
            &truth[&v],
            Version(v),
            &shoal_format::WriteOptions::default(),
            &mut expected,
        )
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected, "snapshot/{v}");
    }
    // A restarted consumer starts from the written-back snapshot: one delta, nothing fetched.
    let recorder = Arc::new(Recorder::default());
    let restarted = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .listener(recorder.clone())
        .build()
        .unwrap();
    restarted.refresh().await.unwrap();
    let event = recorder.events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(event.blobs, ["snapshot/11", "delta/11-12"]);
    assert_eq!(event.bytes_fetched, 0, "{:?}", event.blobs);
    assert_same(&restarted.current().unwrap(), &truth[&12]);
    // A damaged written-back snapshot is refused and the chain from the store used instead.
    let path = cache_dir.path().join("snapshot/11");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let again = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .write_back_after(None)
        .build()
        .unwrap();
    again.refresh().await.unwrap();
    assert_same(&again.current().unwrap(), &truth[&12]);
}
