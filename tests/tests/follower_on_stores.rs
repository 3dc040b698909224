//! A follower on the real stores, the folder and the S3 test server: outage windows on the
//! blobs and on the announcement heal without a new announcement, and on S3 the requests a
//! consumer sends per version are counted (the fan-out a fleet puts on the store).

use std::sync::Arc;
use std::time::Duration;

use shoal_consumer::Consumer;
use shoal_format::Version;
use shoal_producer::Producer;
use shoal_store::{
    BlobStore, Fault, FaultRule, FaultyStore, FsStore, RequestCounts, S3Store, StoreOp, Trigger,
};
use shoal_tests::catalog::{catalog, full_cycle, mutate, schema, Rng};

const POLL: Duration = Duration::from_millis(200);

/// A store on a fresh prefix of the S3 test server, and a second connection to the same
/// prefix (so one side's requests are counted apart from the other's).
async fn s3_stores(case: &str) -> (S3Store, S3Store) {
    let config = shoal_tests::test_server::config(&format!("shoal-follower/{case}"), POLL);
    let store = S3Store::connect(config.clone()).await.unwrap();
    store.create_bucket_if_missing().await.unwrap();
    (store, S3Store::connect(config).await.unwrap())
}

async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An outage on the blobs of a new version, then on the announcement: each time the
/// follower fails, keeps serving, and reaches the announced version once the store is back,
/// with nothing new announced to wake it.
async fn outages_heal_without_a_new_announcement(store: Arc<dyn BlobStore>) {
    let cache = tempfile::tempdir().unwrap();
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(9);
    let mut movies = catalog(&mut rng, 300);
    let mut next_id = 300;
    full_cycle(&mut producer, &movies).await.unwrap();
    let faulty = Arc::new(FaultyStore::new(store.clone(), 9));
    let consumer = Consumer::builder(faulty.clone())
        .cache_dir(cache.path())
        .retry_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("version 1", || consumer.version() == Some(Version(1))).await;

    for prefix in ["delta/", "snapshot/"] {
        faulty.inject(
            FaultRule::new(Fault::Fail, Trigger::Always)
                .on(&[StoreOp::GetToFile])
                .key_prefix(prefix),
        );
    }
    mutate(&mut rng, &mut movies, &mut next_id, 5);
    let v2 = full_cycle(&mut producer, &movies).await.unwrap().version;
    eventually("a failed refresh", || {
        consumer.status().consecutive_failures >= 2
    })
    .await;
    // Well past the wake-ups of the announcement itself.
    tokio::time::sleep(POLL * 10).await;
    assert_eq!(
        consumer.version(),
        Some(Version(1)),
        "the last good version serves"
    );
    faulty.clear();
    eventually("the announced version after a blob outage", || {
        consumer.version() == Some(v2)
    })
    .await;

    faulty.inject(
        FaultRule::new(Fault::Fail, Trigger::Always)
            .on(&[StoreOp::GetTagged, StoreOp::Head])
            .key_prefix("announced"),
    );
    faulty.inject(
        FaultRule::new(Fault::Fail, Trigger::Always)
            .on(&[StoreOp::GetToFile])
            .key_prefix("delta/"),
    );
    mutate(&mut rng, &mut movies, &mut next_id, 5);
    let v3 = full_cycle(&mut producer, &movies).await.unwrap().version;
    eventually("a failed refresh", || {
        consumer.status().consecutive_failures >= 1
    })
    .await;
    tokio::time::sleep(POLL * 10).await;
    faulty.clear();
    eventually("the announced version after an announcement outage", || {
        consumer.version() == Some(v3)
    })
    .await;
    assert!(consumer.status().is_current());
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_heal_on_the_folder_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FsStore::new(dir.path()).unwrap().with_poll_interval(POLL));
    outages_heal_without_a_new_announcement(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_heal_on_the_s3_server() {
    let store = Arc::new(s3_stores("outages").await.0);
    outages_heal_without_a_new_announcement(store).await;
}

/// The fan-out of one consumer on S3, counted by the store's request counter: the first
/// load lists the prefix; each later version costs one GET of the announcement and one GET
/// of its delta, and no LIST; idle, only HEADs of the announcement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_consumer_sends_no_list_per_version_on_s3() {
    let (store, consumer_store) = s3_stores("fan-out").await;
    let (store, consumer_store) = (Arc::new(store), Arc::new(consumer_store));
    let cache = tempfile::tempdir().unwrap();
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(10);
    let mut movies = catalog(&mut rng, 300);
    let mut next_id = 300;
    full_cycle(&mut producer, &movies).await.unwrap();
    let consumer = Consumer::builder(consumer_store.clone())
        .cache_dir(cache.path())
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("version 1", || consumer.version() == Some(Version(1))).await;
    let start = consumer_store.requests();
    assert_eq!(start.list, 1, "the first load lists the prefix: {start:?}");
    let versions = 5;
    for _ in 0..versions {
        mutate(&mut rng, &mut movies, &mut next_id, 5);
        let v = full_cycle(&mut producer, &movies).await.unwrap().version;
        eventually("the new version", || consumer.version() == Some(v)).await;
    }
    let per_version: RequestCounts = consumer_store.requests().since(&start);
    eprintln!("requests over {versions} versions: {per_version:?}");
    assert_eq!(per_version.list, 0, "{per_version:?}");
    assert_eq!(per_version.get, 2 * versions, "{per_version:?}");
    assert_eq!(per_version.put + per_version.delete, 0, "{per_version:?}");
    let idle_from = consumer_store.requests();
    tokio::time::sleep(POLL * 10).await;
    let idle = consumer_store.requests().since(&idle_from);
    assert_eq!((idle.get, idle.list), (0, 0), "idle: {idle:?}");
    assert!(idle.head >= 5 && idle.head <= 15, "idle HEADs: {idle:?}");
    follower.stop().await;
}

/// A watch that never fires (here an S3 poll interval of an hour; in the field, a lost
/// event or a poll stuck on errors): the follower still reads the announcement every resync
/// period and reaches a new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_watch_is_covered_by_the_resync_period() {
    let config = shoal_tests::test_server::config("shoal-follower/resync", POLL);
    let store: Arc<dyn BlobStore> = Arc::new(S3Store::connect(config.clone()).await.unwrap());
    S3Store::connect(config.clone())
        .await
        .unwrap()
        .create_bucket_if_missing()
        .await
        .unwrap();
    let mut silent = config;
    silent.poll_interval = Duration::from_secs(3600);
    let silent = Arc::new(S3Store::connect(silent).await.unwrap());
    let cache = tempfile::tempdir().unwrap();
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(11);
    let mut movies = catalog(&mut rng, 200);
    let mut next_id = 200;
    full_cycle(&mut producer, &movies).await.unwrap();
    let consumer = Consumer::builder(silent)
        .cache_dir(cache.path())
        .resync_every(Duration::from_millis(300))
        .build()
        .unwrap();
    let follower = consumer.follow();
    eventually("version 1", || consumer.version() == Some(Version(1))).await;
    mutate(&mut rng, &mut movies, &mut next_id, 5);
    let v2 = full_cycle(&mut producer, &movies).await.unwrap().version;
    eventually("version 2 without the watch", || {
        consumer.version() == Some(v2)
    })
    .await;
    follower.stop().await;
}
