//! Does a consumer's heap stay flat over many versions? Publishes `N` versions (default
//! 1,000) of a 2,000-movie catalog with 3% changes each, refreshes a consumer (primary-key
//! index, default retention) to each, and prints the live heap (a counting allocator: what
//! the program holds, not what the allocator keeps) and the resident memory not backed by
//! files, every 100 versions. A leak grows the first; allocator fragmentation only the second.
//!
//! ```text
//! cargo run --release -p shoal-consumer --example heap_over_versions -- 1000
//! ```

#[path = "../../producer/tests/common/mod.rs"]
mod common;
#[path = "counting/mod.rs"]
mod counting;

use common::*;
use shoal_consumer::Consumer;
use shoal_producer::{Error as ProducerError, Producer};

/// Resident bytes not backed by a file (Linux), from `/proc/self/statm`.
fn anon_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let f: Vec<u64> = statm
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    f.get(1).zip(f.get(2)).map_or(0, |(r, s)| (r - s) * 4096)
}

#[tokio::main]
async fn main() {
    let versions: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let store_dir = tempfile::tempdir().expect("store");
    let cache_dir = tempfile::tempdir().expect("cache");
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .expect("producer");
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .primary_key_index("Movie")
        .build()
        .expect("consumer");
    let mut rng = Rng::new(1);
    let mut movies = catalog(&mut rng, 2000);
    let mut next_id = 2000;
    println!(
        "{:>8} {:>14} {:>14}",
        "version", "live heap", "anon resident"
    );
    for v in 1..=versions {
        mutate(&mut rng, &mut movies, &mut next_id, 3);
        let batch: Vec<Movie> = movies.values().cloned().collect();
        producer
            .run_cycle(move |w| {
                for m in &batch {
                    w.add(m)?;
                }
                Ok::<_, ProducerError>(())
            })
            .await
            .expect("cycle");
        consumer.refresh().await.expect("refresh");
        if v % 100 == 0 {
            // The producer's heap is in the count too: it holds one version, as the
            // consumer does, so both stay flat or neither does.
            let live = counting::live();
            println!("{v:>8} {live:>14} {:>14}", anon_bytes());
        }
    }
}
