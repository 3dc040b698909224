//! How long a refresh holds up the service that embeds the consumer: a 1 ms ticker shares a
//! **current-thread** tokio runtime (the worst case: one thread for everything) with a
//! refresh that loads version 1 (snapshot, primary-key index) and then applies the delta to
//! version 2. Printed: the ticker's worst and median lateness per phase, for the consumer as
//! configured by default (blocking threads, every core but one), with every core, and beside
//! the obvious alternative, the same work done inline on the runtime thread (what the
//! consumer did before its refresh moved to blocking threads).
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

/// When each tick of a 1 ms ticker ran.
#[derive(Clone, Default)]
struct Ticks(Arc<Mutex<Vec<Instant>>>);

impl Ticks {
    fn start(&self) -> tokio::task::JoinHandle<()> {
        let seen = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                seen.0.lock().unwrap().push(Instant::now());
            }
        })
    }

    /// The gaps between consecutive ticks that overlap `[from, to]`, beyond the 1 ms
    /// period: how late the ticker was during the phase (worst, median, gaps).
    fn during(&self, from: Instant, to: Instant) -> (f64, f64, usize) {
        let ticks = self.0.lock().unwrap();
        let mut late: Vec<f64> = ticks
            .windows(2)
            .filter(|w| w[1] >= from && w[0] <= to)
            .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3 - 1.0)
            .map(|ms| ms.max(0.0))
            .collect();
        late.sort_by(|a, b| a.total_cmp(b));
        let n = late.len();
        (
            late.last().copied().unwrap_or(0.0),
            late.get(n / 2).copied().unwrap_or(0.0),
            n,
        )
    }
}

/// Lets the ticker run again after a phase (its first tick closes the gap the phase made).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

/// Times `work` and reports the ticker's lateness during it.
async fn phase<T>(what: &str, ticks: &Ticks, work: impl std::future::Future<Output = T>) -> T {
    settle().await;
    let from = Instant::now();
    let out = work.await;
    let to = Instant::now();
    settle().await;
    let (worst, median, gaps) = ticks.during(from, to);
    println!(
        "{what:<44} {:>9.1} ms   ticker worst delay {worst:>8.2} ms   median {median:>5.2} ms   ticks {gaps}",
        (to - from).as_secs_f64() * 1e3
    );
    out
}

/// The consumer: every CPU step on blocking threads, `threads` of them for indexes and
/// deltas (`None`: the default, every core but one).
async fn with_consumer(
    store: Arc<FsStore>,
    cache: &std::path::Path,
    ticks: &Ticks,
    threads: Option<usize>,
) {
    let mut builder = Consumer::builder(store)
        .cache_dir(cache)
        .primary_key_index("Movie")
        .write_back_after(None);
    if let Some(n) = threads {
        builder = builder.refresh_threads(n);
    }
    let consumer = builder.build().expect("consumer");
    let name = |what: &str| match threads {
        None => format!("consumer (default threads): {what}"),
        Some(n) => format!("consumer ({n} threads): {what}"),
    };
    let v1 = async { consumer.refresh_to(Version(1)).await.expect("version 1") };
    phase(&name("load version 1"), ticks, v1).await;
    let v2 = async { consumer.refresh_to(Version(2)).await.expect("version 2") };
    phase(&name("apply delta 1->2"), ticks, v2).await;
    phase(&name("dropped"), ticks, async { drop(consumer) }).await;
}

/// The alternative: the same work inline on the runtime thread.
async fn inline(cache: &std::path::Path, ticks: &Ticks) {
    let read = |key: &str| Bytes::from(std::fs::read(cache.join(key)).expect("cached blob"));
    let (snapshot, delta) = (read("snapshot/1"), read("delta/1-2"));
    let specs = [IndexSpec {
        name: "Movie".into(),
        type_name: "Movie".into(),
        paths: Vec::new(),
    }];
    let data = phase("inline: load version 1 (runtime thread)", ticks, async {
        Dataset::from_snapshot(snapshot)
            .and_then(|d| d.with_indexes(&specs))
            .expect("version 1")
    })
    .await;
    let next = phase("inline: apply delta 1->2 (runtime thread)", ticks, async {
        let view = DeltaView::open(delta).expect("delta");
        data.apply(&view).expect("apply").0
    })
    .await;
    phase("inline: dropped", ticks, async { drop((data, next)) }).await;
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
        let ticks = Ticks::default();
        let ticker = ticks.start();
        for round in 1..=3 {
            println!("round {round}");
            let round_cache = cache.path().join(format!("round-{round}"));
            with_consumer(store.clone(), &round_cache, &ticks, None).await;
            let all = std::thread::available_parallelism().map_or(1, |n| n.get());
            with_consumer(store.clone(), &round_cache, &ticks, Some(all)).await;
            inline(&round_cache, &ticks).await;
        }
        ticker.abort();
    });
}
