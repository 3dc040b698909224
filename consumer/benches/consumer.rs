//! Consumer figures on the catalog of `../shared/datasets/gen_catalog.py` (1M titles by
//! default, `SHOAL_BENCH_RECORDS` to change), each beside the obvious alternative: a
//! `HashMap<u64, Movie>` built from the same records deserialised from JSON lines.
//!
//! - start-up: from blobs in the local cache to the first primary-key lookup;
//! - memory: heap held after loading (and the bytes mapped), against the HashMap's heap;
//! - primary-key lookup of random existing keys, warm;
//! - applying the v1 -> v2 delta (1% edited, 0.5% removed, 0.5% added), and deltas of 0.1%
//!   and 10% changed records, so the time can be seen to follow the change.

#[path = "../../format/examples/catalog/load.rs"]
mod load;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use load::Movie;
use shoal_consumer::{Consumer, Dataset, IndexSpec};
use shoal_format::{DeltaView, FieldValue, Version};
use shoal_producer::{Error, Producer};
use shoal_store::FsStore;

/// Counts live heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn records() -> usize {
    std::env::var("SHOAL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Publishes versions 1 (v1), 2 (v2), then 3 = v1 with 0.1% of the movies edited and 4 = v1
/// with 10% edited, each with deltas.
fn publish(store_dir: &Path, v1: &[Movie], v2: &[Movie]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Arc::new(FsStore::new(store_dir).expect("store"));
        let mut p = Producer::builder(store)
            .schema(load::schema())
            .root_type("Movie")
            .keep_versions(100)
            .build()
            .await
            .expect("producer");
        let edited = |per_mille: usize| -> Vec<Movie> {
            let mut m = v1.to_vec();
            for (i, movie) in m.iter_mut().enumerate() {
                if (i * 7919) % 1000 < per_mille {
                    movie.rating = (movie.rating * 10.0 + 1.0).round() / 10.0;
                }
            }
            m
        };
        for movies in [
            v1.to_vec(),
            v2.to_vec(),
            v1.to_vec(),
            edited(1),
            v1.to_vec(),
            edited(100),
        ] {
            p.run_cycle(move |w| {
                for m in &movies {
                    w.add(m)?;
                }
                Ok::<_, Error>(())
            })
            .await
            .expect("cycle");
        }
        p.close().await.expect("close");
    });
}

fn bench(c: &mut Criterion) {
    let n = records();
    let dir = load::ensure_catalog(n);
    let v1 = load::read_movies(&dir.join("v1.jsonl"));
    let v2 = load::read_movies(&dir.join("v2.jsonl"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let store_dir = tmp.path().join("store");
    publish(&store_dir, &v1, &v2);
    let jsonl = std::fs::read(dir.join("v1.jsonl")).expect("catalog");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(FsStore::new(&store_dir).expect("store"));
    let pk_spec = [IndexSpec {
        name: "Movie".into(),
        type_name: "Movie".into(),
        paths: vec![],
    }];

    // A warm cache holding version 1.
    let cache = tmp.path().join("cache");
    let consumer = Consumer::builder(store.clone())
        .cache_dir(&cache)
        .primary_key_index("Movie")
        .build()
        .expect("consumer");
    rt.block_on(consumer.refresh_to(Version(1)))
        .expect("refresh");
    drop(consumer);

    // Memory, printed once: heap after loading, against the HashMap.
    let before = LIVE.load(Ordering::Relaxed);
    let map: HashMap<u64, Movie> = jsonl
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let m: Movie = serde_json::from_slice(l).expect("movie");
            (m.id as u64, m)
        })
        .collect();
    let map_heap = LIVE.load(Ordering::Relaxed) - before;
    // The snapshot's bytes stand in for the memory map (read into memory here, outside the
    // measured heap: a consumer maps them).
    let snapshot = shoal_consumer_bench_map(&cache.join("snapshot/1"));
    let before = LIVE.load(Ordering::Relaxed);
    let data = Dataset::from_snapshot(snapshot.clone())
        .expect("snapshot")
        .with_indexes(&pk_spec)
        .expect("index");
    let movie = data.type_id("Movie").expect("movie type");
    let mut checksum = 0u64;
    for o in data.ordinals(movie) {
        let m: load::Movie = data.get(movie, o).expect("movie");
        checksum = checksum.wrapping_add(m.id as u64);
    }
    black_box(checksum);
    let shoal_heap = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "\nmemory after loading {n} records and reading each once: shoal heap {:.1} MiB (index and \
         page tables) + {:.1} MiB mapped snapshot; HashMap<u64, Movie> heap {:.1} MiB; ratio heap \
         {:.3}x, heap + map {:.3}x\n",
        shoal_heap as f64 / 1048576.0,
        snapshot.len() as f64 / 1048576.0,
        map_heap as f64 / 1048576.0,
        shoal_heap as f64 / map_heap as f64,
        (shoal_heap + snapshot.len()) as f64 / map_heap as f64,
    );

    let mut g = c.benchmark_group(format!("consumer_{n}"));
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(4));

    // Start-up: a new consumer on the warm cache, to the first key lookup.
    let some_id = v1[v1.len() / 2].id;
    g.bench_function("startup_to_first_lookup", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let consumer = Consumer::builder(store.clone())
                    .cache_dir(&cache)
                    .primary_key_index("Movie")
                    .build()
                    .expect("consumer");
                rt.block_on(consumer.refresh_to(Version(1)))
                    .expect("refresh");
                let data = consumer.current().expect("loaded");
                let pk = data.index_id("Movie").expect("index");
                black_box(data.find(pk, &[FieldValue::I64(some_id)]).expect("found"));
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("baseline_hashmap_load_from_json", |b| {
        b.iter(|| {
            let map: HashMap<u64, Movie> = jsonl
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let m: Movie = serde_json::from_slice(l).expect("movie");
                    (m.id as u64, m)
                })
                .collect();
            black_box(map.len())
        })
    });

    // Lookups of random existing keys.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let keys: Vec<i64> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v1[(seed % v1.len() as u64) as usize].id
        })
        .collect();
    let pk = data.index_id("Movie").expect("index");
    let rating = data.field("Movie", "rating").expect("rating");
    g.bench_function("pk_lookup_4096_random", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for k in &keys {
                let o = data.find(pk, &[FieldValue::I64(*k)]).expect("found");
                sum += data.get_f64(rating, o).unwrap_or(0.0);
            }
            sum
        })
    });
    g.bench_function("baseline_hashmap_get_4096_random", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for k in &keys {
                sum += map.get(&(*k as u64)).expect("found").rating;
            }
            sum
        })
    });

    // Delta application (the dataset with its primary-key index).
    for (name, from, to) in [
        ("apply_delta_v1_v2", 1, 2),
        ("apply_delta_0.1pct_edited", 3, 4),
        ("apply_delta_10pct_edited", 5, 6),
    ] {
        let base_bytes = if from == 1 {
            snapshot.clone()
        } else {
            shoal_consumer_bench_map(&store_dir.join(format!("snapshot/{from}")))
        };
        let base = Dataset::from_snapshot(base_bytes)
            .expect("snapshot")
            .with_indexes(&pk_spec)
            .expect("index");
        let delta_bytes: Bytes =
            shoal_consumer_bench_map(&store_dir.join(format!("delta/{from}-{to}")));
        let (_, stats) = base
            .apply(&DeltaView::open(delta_bytes.clone()).expect("delta"))
            .expect("apply");
        println!("{name}: {} bytes of delta, {stats:?}", delta_bytes.len());
        g.bench_function(name, |b| {
            b.iter(|| {
                let delta = DeltaView::open(delta_bytes.clone()).expect("delta");
                base.apply(&delta).expect("apply")
            })
        });
    }
    g.finish();
}

/// The plain bytes of a stored blob, as a consumer's cache holds them (read into memory and
/// unpacked here: the benchmark measures the consumer's own work, the map is measured by
/// start-up).
fn shoal_consumer_bench_map(path: &Path) -> Bytes {
    let stored =
        Bytes::from(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let name = path.display().to_string();
    shoal_store::packing::unpack(stored, &name, &name).expect("a blob that unpacks")
}

criterion_group!(benches, bench);
criterion_main!(benches);
