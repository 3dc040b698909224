//! End to end, on the folder store and on the S3 server: a producer runs 100 cycles of random
//! changes; a consumer follows by announcement; after each version every record read through
//! the consumer (and its primary-key index) equals the producer's truth; a second consumer
//! started at version 50 agrees; pinning rolls back by reverse deltas.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_consumer::{Consumer, Dataset, Listener, RefreshEvent};
use shoal_format::{FieldValue, Version};
use shoal_producer::Producer;
use shoal_store::{BlobStore, FsStore, S3Store};
use shoal_tests::catalog::{catalog, full_cycle, mutate, schema, Movie, Movies, Rng};

#[derive(Default)]
struct Events(Mutex<Vec<RefreshEvent>>);

impl Listener for Events {
    fn on_refresh(&self, event: &RefreshEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
    fn on_failure(&self, _: &shoal_consumer::Error) {}
}

/// Every movie of `truth` is in `data`, found by key, and nothing else is.
fn assert_holds(data: &Dataset, truth: &Movies) {
    let movie = data.type_id("Movie").unwrap();
    let pk = data.index_id("Movie").unwrap();
    assert_eq!(
        data.len(movie),
        truth.len() as u64,
        "version {}",
        data.version().0
    );
    for (id, want) in truth {
        let o = data
            .find(pk, &[FieldValue::I64(*id)])
            .expect("every id is indexed");
        let got: Movie = data.get(movie, o).unwrap();
        assert_eq!(&got, want, "version {}", data.version().0);
    }
}

async fn wait_for(consumer: &Consumer, v: Version) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while consumer.version() != Some(v) {
        assert!(
            Instant::now() < deadline,
            "the consumer never reached version {}",
            v.0
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn follow_100_cycles(store: Arc<dyn BlobStore>) {
    let cache = tempfile::tempdir().unwrap();
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(5)
        .keep_versions(200)
        .build()
        .await
        .unwrap();
    let events = Arc::new(Events::default());
    // No write-back: the rollback below must take the reverse deltas, not a snapshot the
    // consumer wrote into its own cache (tested in consumer/tests/follow.rs).
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache.path())
        .primary_key_index("Movie")
        .listener(events.clone())
        .write_back_after(None)
        .build()
        .unwrap();
    let mut rng = Rng::new(100);
    let mut movies = catalog(&mut rng, 1_000);
    let mut next_id = 1_000;
    let mut truth = Vec::new();
    let report = full_cycle(&mut producer, &movies).await.unwrap();
    truth.push((report.version, movies.clone()));
    let follow = consumer.follow();
    wait_for(&consumer, report.version).await;
    for _ in 1..100 {
        mutate(&mut rng, &mut movies, &mut next_id, 2);
        let report = full_cycle(&mut producer, &movies).await.unwrap();
        if report.published {
            truth.push((report.version, movies.clone()));
        }
        wait_for(&consumer, report.version).await;
        assert_holds(&consumer.current().unwrap(), &movies);
    }
    follow.stop().await;
    let last = producer.version().unwrap();
    assert!(last.0 >= 90, "most cycles change something");
    // Versions moved forward by deltas, one or a few at a time.
    let used_deltas = events
        .0
        .lock()
        .unwrap()
        .iter()
        .skip(1)
        .all(|e| e.blobs.iter().all(|b| b.starts_with("delta/")));
    assert!(used_deltas);

    // A second consumer, started at version 50 with an empty cache.
    let late_cache = tempfile::tempdir().unwrap();
    let late = Consumer::builder(store.clone())
        .cache_dir(late_cache.path())
        .primary_key_index("Movie")
        .listener(events.clone())
        .build()
        .unwrap();
    late.refresh_to(Version(50)).await.unwrap();
    let first = events.0.lock().unwrap().last().cloned().unwrap();
    assert!(first.blobs[0].starts_with("snapshot/"), "{first:?}");
    let at_50 = &truth.iter().find(|(v, _)| *v == Version(50)).unwrap().1;
    assert_holds(&late.current().unwrap(), at_50);

    // Pin an older version: back by reverse deltas; unpin follows the announcement again.
    let back = Version(last.0 - 3);
    consumer.pin(back).await.unwrap();
    let event = events.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(event.blobs.len(), 3, "{event:?}");
    assert!(
        event.blobs.iter().all(|b| b.starts_with("reverse/")),
        "{event:?}"
    );
    let want = &truth.iter().find(|(v, _)| *v == back).unwrap().1;
    assert_holds(&consumer.current().unwrap(), want);
    consumer.unpin();
    assert_eq!(consumer.refresh().await.unwrap(), last);
    assert_holds(&consumer.current().unwrap(), &movies);
    producer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_follows_100_cycles_on_the_folder_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(
        FsStore::new(dir.path())
            .unwrap()
            .with_poll_interval(Duration::from_millis(100)),
    );
    follow_100_cycles(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_follows_100_cycles_on_the_s3_server() {
    let config = shoal_tests::test_server::config("shoal-e2e", Duration::from_millis(50));
    let store = S3Store::connect(config).await.unwrap();
    store.create_bucket_if_missing().await.unwrap();
    follow_100_cycles(Arc::new(store)).await;
}
