//! Readers under load: reader threads (`SHOAL_SOAK_READERS`, default 2) look up keys without
//! pause while versions swap every few milliseconds. Reports lookups per second, the worst
//! time a reader took to get the current version (the only step a swap could make it wait
//! on) and the worst gap between two lookups (bounded by the scheduler on a busy machine, not
//! by the swap). Bounded for CI (2 s); `SHOAL_SOAK_SECS` runs it longer.

#[path = "../../producer/tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use shoal_consumer::Consumer;
use shoal_format::{FieldValue, Version};
use shoal_producer::Producer;

#[tokio::test(flavor = "current_thread")]
async fn lookups_never_wait_for_a_swap() {
    const STALL: Duration = Duration::from_millis(10);
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .keep_versions(100)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(5);
    let mut movies = catalog(&mut rng, 20_000);
    let mut next_id = 20_000;
    let versions = 20u64;
    for v in 1..=versions {
        if v > 1 {
            mutate(&mut rng, &mut movies, &mut next_id, 1);
        }
        publish(&mut producer, &movies).await.unwrap();
    }
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .primary_key_index("Movie")
        // The swaps below go back and forth over a warm cache.
        .cache_max_bytes(u64::MAX)
        .build()
        .unwrap();
    // Warm the cache: every delta and reverse delta once.
    for v in (1..=versions).chain((1..versions).rev()) {
        consumer.refresh_to(Version(v)).await.unwrap();
    }
    let ids: Vec<i64> = (0..20_000).collect();

    let secs: u64 = std::env::var("SHOAL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let readers: usize = std::env::var("SHOAL_SOAK_READERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..readers)
        .map(|r| {
            let (consumer, stop, ids) = (consumer.clone(), stop.clone(), ids.clone());
            std::thread::spawn(move || {
                let (mut lookups, mut found) = (0u64, 0u64);
                // The worst gap between two lookups (swaps and the scheduler), and the worst
                // time taking a version (the only step a swap could make a reader wait on).
                let (mut worst_gap, mut worst_take) = (Duration::ZERO, Duration::ZERO);
                // How often either took over STALL: once in a while is the OS's scheduler on
                // a loaded machine; a reader that waited for swaps would stall at each one.
                let mut stalls = 0u64;
                let mut last = Instant::now();
                let mut i = r * 1000;
                while !stop.load(Ordering::Relaxed) {
                    let taking = Instant::now();
                    let data = consumer.current().unwrap();
                    worst_take = worst_take.max(taking.elapsed());
                    stalls += (taking.elapsed() > STALL) as u64;
                    let pk = data.index_id("Movie").unwrap();
                    for _ in 0..64 {
                        i = (i + 7919) % ids.len();
                        found += data.find(pk, &[FieldValue::I64(ids[i])]).is_some() as u64;
                        lookups += 1;
                        let now = Instant::now();
                        worst_gap = worst_gap.max(now - last);
                        stalls += (now - last > STALL) as u64;
                        last = now;
                    }
                }
                (lookups, found, worst_gap, worst_take, stalls)
            })
        })
        .collect();
    let start = Instant::now();
    let mut swaps = 0u64;
    let mut v = versions;
    let mut step: i64 = -1;
    while start.elapsed() < Duration::from_secs(secs) {
        v = (v as i64 + step) as u64;
        if v == 1 || v == versions {
            step = -step;
        }
        consumer.refresh_to(Version(v)).await.unwrap();
        swaps += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let n = readers.len();
    let (mut lookups, mut found, mut worst_gap, mut worst_take, mut stalls) =
        (0, 0, Duration::ZERO, Duration::ZERO, 0);
    for r in readers {
        let (l, f, g, t, st) = r.join().unwrap();
        lookups += l;
        found += f;
        worst_gap = worst_gap.max(g);
        worst_take = worst_take.max(t);
        stalls += st;
    }
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!(
        "soak: {swaps} swaps in {elapsed:.1} s; {:.1} M lookups/s on {n} reader threads; worst \
         time taking a version {worst_take:?}; worst gap between two lookups {worst_gap:?}; \
         {stalls} stalls over {STALL:?}",
        lookups as f64 / elapsed / 1e6
    );
    assert!(swaps > 100, "versions swapped every few milliseconds");
    assert!(found > 0 && found <= lookups);
    // The scheduler can preempt a reader on a loaded 2-core machine now and then (once it
    // took 150 ms while a build ran beside the test); a reader that waited for swaps would
    // stall at nearly every one of them.
    assert!(
        stalls * 10 < swaps,
        "{stalls} stalls over {STALL:?} in {swaps} swaps"
    );
}
