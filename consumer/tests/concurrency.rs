//! Readers hold and read versions while the consumer swaps through hundreds of them: no
//! reader sees a torn version, and every version is freed once its last handle goes.

#[path = "../../producer/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use common::*;
use shoal_consumer::{Consumer, Dataset};
use shoal_format::{FieldValue, Version};
use shoal_producer::Producer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_torn_version_and_old_versions_are_freed() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(50)
        .keep_versions(1000)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(1);
    let mut movies: BTreeMap<i64, Movie> = catalog(&mut rng, 2_000);
    // Version v: movie 0 has year 1000 + v and movie 1999 has rating v / 4 (both exact), so a
    // reader can tell whether the two values come from one version.
    let versions = 120u64;
    for v in 1..=versions {
        movies.get_mut(&0).unwrap().year = 1000 + v as i32;
        movies.get_mut(&1999).unwrap().rating = v as f64 / 4.0;
        publish(&mut producer, &movies).await.unwrap();
    }
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .primary_key_index("Movie")
        .build()
        .unwrap();
    consumer.refresh_to(Version(1)).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let seen: Arc<std::sync::Mutex<Vec<Weak<Dataset>>>> = Arc::default();
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (consumer, stop, reads, seen) =
            (consumer.clone(), stop.clone(), reads.clone(), seen.clone());
        readers.push(std::thread::spawn(move || {
            let mut held: Option<Arc<Dataset>> = None;
            while !stop.load(Ordering::Relaxed) {
                let data = consumer.current().unwrap();
                let v = data.version().0;
                let pk = data.index_id("Movie").unwrap();
                let year = data.field("Movie", "year").unwrap();
                let rating = data.field("Movie", "rating").unwrap();
                let first = data.find(pk, &[FieldValue::I64(0)]).unwrap();
                let last = data.find(pk, &[FieldValue::I64(1999)]).unwrap();
                assert_eq!(
                    data.get_i32(year, first),
                    Some(1000 + v as i32),
                    "torn at {v}"
                );
                assert_eq!(
                    data.get_f64(rating, last),
                    Some(v as f64 / 4.0),
                    "torn at {v}"
                );
                seen.lock().unwrap().push(Arc::downgrade(&data));
                // Hold some versions a while, across swaps.
                if reads.fetch_add(1, Ordering::Relaxed) % 7 == 0 {
                    held = Some(data);
                }
            }
            drop(held);
        }));
    }
    // Swap forward through every version, back by reverse deltas, and forward again.
    for v in (2..=versions)
        .chain((1..versions).rev())
        .chain(2..=versions)
    {
        consumer.refresh_to(Version(v)).await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 100, "readers did read");
    assert_eq!(consumer.version(), Some(Version(versions)));
    drop(consumer);
    let seen = seen.lock().unwrap();
    let alive = seen.iter().filter(|w| w.upgrade().is_some()).count();
    assert_eq!(alive, 0, "every version is freed once its handles are gone");
}
