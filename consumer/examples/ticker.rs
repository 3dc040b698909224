//! How long a refresh holds up the service that embeds the consumer: a 1 ms ticker shares a
//! **current-thread** tokio runtime (the worst case: one thread for everything) with a
//! refresh that loads version 1 (snapshot, primary-key index) and then applies the delta to
//! version 2. Printed: the ticker's worst and median lateness per phase, beside the obvious
//! alternative, the same work done inline on the runtime thread (what the consumer did
//! before its refresh moved to blocking threads).
//!
//! ```text
//! cargo run --release -p shoal-producer --example catalog -- 10000000 /tmp/shoal-10m
//! cargo run --release -p shoal-consumer --example ticker -- /tmp/shoal-10m
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_consumer::{Consumer, Dataset, IndexSpec};
use shoal_format::{DeltaView, Version};
use shoal_store::FsStore;

/// The ticker's lateness for each tick, in milliseconds.
#[derive(Clone, Default)]
struct Lateness(Arc<Mutex<Vec<f64>>>);

impl Lateness {
    fn start(&self) -> tokio::task::JoinHandle<()> {
        let seen = self.clone();
        tokio::spawn(async move {
            let period = Duration::from_millis(1);
            let mut next = Instant::now() + period;
            loop {
                tokio::time::sleep_until(next.into()).await;
                let late = Instant::now().saturating_duration_since(next);
                seen.0.lock().unwrap().push(late.as_secs_f64() * 1e3);
                next = Instant::now() + period;
            }
        })
    }

    fn take(&self) -> (f64, f64, usize) {
        let mut v = std::mem::take(&mut *self.0.lock().unwrap());
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        (
            v.last().copied().unwrap_or(0.0),
            v.get(n / 2).copied().unwrap_or(0.0),
            n,
        )
    }
}

/// Lets the ticker record a tick it was kept from (a tick is recorded when it runs).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

fn row(what: &str, took: Duration, (worst, median, ticks): (f64, f64, usize)) {
    println!(
        "{what:<44} {:>9.1} ms   ticker worst {worst:>8.2} ms   median {median:>5.2} ms   ticks {ticks}",
        took.as_secs_f64() * 1e3
    );
}

/// The consumer as it is: every CPU step on blocking threads.
async fn with_consumer(store: Arc<FsStore>, cache: &std::path::Path, lateness: &Lateness) {
    let consumer = Consumer::builder(store)
        .cache_dir(cache)
        .primary_key_index("Movie")
        .write_back_after(None)
        .build()
        .expect("consumer");
    lateness.take();
    let t = Instant::now();
    consumer.refresh_to(Version(1)).await.expect("version 1");
    row(
        "consumer: load version 1 (blocking threads)",
        t.elapsed(),
        lateness.take(),
    );
    let t = Instant::now();
    consumer.refresh_to(Version(2)).await.expect("version 2");
    row(
        "consumer: apply delta 1->2 (blocking threads)",
        t.elapsed(),
        lateness.take(),
    );
}

/// The alternative: the same work inline on the runtime thread.
async fn inline(cache: &std::path::Path, lateness: &Lateness) {
    let read = |key: &str| Bytes::from(std::fs::read(cache.join(key)).expect("cached blob"));
    let (snapshot, delta) = (read("snapshot/1"), read("delta/1-2"));
    let specs = [IndexSpec {
        name: "Movie".into(),
        type_name: "Movie".into(),
        paths: Vec::new(),
    }];
    // Let the ticker catch up after the reads, then start counting.
    settle().await;
    lateness.take();
    let t = Instant::now();
    let data = Dataset::from_snapshot(snapshot)
        .and_then(|d| d.with_indexes(&specs))
        .expect("version 1");
    tokio::task::yield_now().await;
    row(
        "inline: load version 1 (runtime thread)",
        t.elapsed(),
        lateness.take(),
    );
    let t = Instant::now();
    let view = DeltaView::open(delta).expect("delta");
    let (next, _) = data.apply(&view).expect("apply");
    tokio::task::yield_now().await;
    row(
        "inline: apply delta 1->2 (runtime thread)",
        t.elapsed(),
        lateness.take(),
    );
    drop((data, next));
}

fn main() {
    let folder = std::env::args().nth(1).expect("a store folder");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(FsStore::new(&folder).expect("store"));
        let cache = tempfile::tempdir().expect("cache");
        let lateness = Lateness::default();
        let ticker = lateness.start();
        for round in 1..=3 {
            println!("round {round}");
            let round_cache = cache.path().join(format!("round-{round}"));
            with_consumer(store.clone(), &round_cache, &lateness).await;
            inline(&round_cache, &lateness).await;
        }
        ticker.abort();
    });
}
