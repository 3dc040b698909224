//! Consumer figures on a published store, for runs too large for the criterion benchmark
//! (10M records): start-up from the local cache to the first key lookup, heap held, key
//! lookups, and applying the delta from version 1 to 2 (with the primary-key index).
//!
//! ```text
//! cargo run --release -p shoal-producer --example catalog -- 10000000 /tmp/shoal-10m
//! cargo run --release -p shoal-consumer --example measure -- /tmp/shoal-10m [v1.jsonl]
//! ```

#[path = "counting/mod.rs"]
mod counting;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shoal_consumer::{Consumer, Dataset, Field, IndexId, IndexSpec};
use shoal_format::{DeltaView, FieldValue, Version};
use shoal_store::FsStore;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The process's anonymous memory (heap and other private pages, not file maps), in KiB.
fn anonymous_kib() -> usize {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Anonymous:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits until the heap stops changing (background work of a dropped or new consumer done).
async fn settle() {
    loop {
        let before = counting::live();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if counting::live() == before {
            return;
        }
    }
}

/// The ids of every 997th movie, in a random order (fixed): the keys a round looks up. In
/// ordinal order the records each round reads would lie in ascending order in memory,
/// which favours whatever else the lookup reads in that order.
fn sample_ids(data: &Dataset) -> Vec<i64> {
    let movie = data.type_id("Movie").expect("type");
    let id = data.field("Movie", "id").expect("id");
    let mut ids: Vec<i64> = data
        .ordinals(movie)
        .step_by(997)
        .filter_map(|o| data.get_i64(id, o))
        .collect();
    // Fisher-Yates with xorshift64: the same order every run.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..ids.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids.swap(i, (x % (i as u64 + 1)) as usize);
    }
    ids
}

/// Ns per key lookup plus one field read, over one round of `ids`.
fn lookup_ns(data: &Dataset, index: IndexId, ids: &[i64], field: Field) -> f64 {
    let t = Instant::now();
    let mut sum = 0.0;
    for k in ids {
        let o = data.find(index, &[FieldValue::I64(*k)]).expect("found");
        sum += data.get_f64(field, o).unwrap_or(0.0);
    }
    black_box(sum);
    t.elapsed().as_secs_f64() * 1e9 / ids.len() as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let folder = std::env::args().nth(1).expect("a store folder");
    let store = Arc::new(FsStore::new(&folder).expect("store"));
    let cache = tempfile::tempdir().expect("cache");
    // Fill the cache (not timed): version 1.
    let warm = Consumer::builder(store.clone())
        .cache_dir(cache.path())
        .build()
        .expect("consumer");
    warm.refresh_to(Version(1)).await.expect("refresh");
    drop(warm);

    // Start-up: from the cached blobs to the first key lookup; each consumer is dropped
    // (and what it freed in the background settled) before the next starts, and the last
    // one stays (its heap and anonymous memory are what it holds on its own).
    settle().await;
    let baseline = (counting::live(), anonymous_kib());
    let mut startups = Vec::new();
    let mut kept = None;
    for _ in 0..5 {
        drop(kept.take());
        settle().await;
        let t = Instant::now();
        let consumer = Consumer::builder(store.clone())
            .cache_dir(cache.path())
            .primary_key_index("Movie")
            .build()
            .expect("consumer");
        consumer.refresh_to(Version(1)).await.expect("refresh");
        let data = consumer.current().expect("loaded");
        let pk = data.index_id("Movie").expect("index");
        black_box(data.find(pk, &[FieldValue::I64(7)]));
        startups.push(t.elapsed().as_secs_f64() * 1e3);
        let held = counting::live().saturating_sub(baseline.0);
        kept = Some((consumer, held));
    }
    let (consumer, heap) = kept.expect("ran");
    // After a load the consumer reads every column's page headers in the background (so
    // damage shows early); the page handles it makes stay.
    settle().await;
    let mib = |bytes: usize| bytes as f64 / 1048576.0;
    println!(
        "heap held once the background column check is done: {:.1} MiB; anonymous memory (private, not the mapped file) added: {:.1} MiB",
        mib(counting::live().saturating_sub(baseline.0)),
        anonymous_kib().saturating_sub(baseline.1) as f64 / 1024.0
    );
    let data = consumer.current().expect("loaded");
    let movie = data.type_id("Movie").expect("type");
    println!(
        "{} movies; start-up to first lookup, median of 5: {:.1} ms; heap held {:.1} MiB at the first lookup (index and the page tables made so far; the snapshot is mapped)",
        data.len(movie),
        median(startups),
        mib(heap)
    );

    // Where start-up goes: loading (map, section and type checks), then the index.
    let t = Instant::now();
    let plain = Consumer::builder(store.clone())
        .cache_dir(cache.path())
        .build()
        .expect("consumer");
    plain.refresh_to(Version(1)).await.expect("refresh");
    let load = t.elapsed();
    let t = Instant::now();
    let indexed = (*plain.current().expect("loaded"))
        .clone()
        .with_indexes(&[IndexSpec {
            name: "Movie".into(),
            type_name: "Movie".into(),
            paths: vec![],
        }])
        .expect("index");
    let index = t.elapsed();
    black_box(indexed);
    drop(plain);
    println!(
        "start-up parts: load {load:?} (map, header, section table and type sections), key index {index:?}"
    );

    // Lookups of existing keys in random order.
    let rating = data.field("Movie", "rating").expect("rating");
    let ids = sample_ids(&data);
    let pk = data.index_id("Movie").expect("index");
    // The same lookups through a hash index built on the heap at load (what a snapshot
    // without a key index section gets), in alternating rounds.
    let built = (*data)
        .clone()
        .with_indexes(&[IndexSpec {
            name: "built".into(),
            type_name: "Movie".into(),
            paths: vec!["id".into()],
        }])
        .expect("index");
    let built_pk = built.index_id("built").expect("index");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    for (order, ids) in [("in ordinal order", &sorted), ("in random order", &ids)] {
        let (shoal_ns, built_ns) = in_turns((&data, pk), (&built, built_pk), ids, rating);
        println!(
            "key lookup + one field read {order}, median of 20 alternating rounds of {}: {shoal_ns:.1} ns with the key index from the snapshot, {built_ns:.1} ns with it built on the heap ({:.2}x)",
            ids.len(),
            shoal_ns / built_ns
        );
    }
    drop(built);
    let shoal_ns = median(
        (0..20)
            .map(|_| lookup_ns(&data, pk, &ids, rating))
            .collect(),
    );

    // The baseline, when the JSON lines of version 1 are given: a HashMap<u64, Movie>.
    if let Some(jsonl) = std::env::args().nth(2) {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Movie {
            id: u64,
            title: String,
            year: i32,
            rating: f64,
            runtime_min: i32,
            country: String,
            genres: Vec<String>,
            tags: Vec<String>,
        }
        use std::io::BufRead;
        let t = Instant::now();
        let file = std::fs::File::open(&jsonl).expect("JSON lines");
        let mut map: std::collections::HashMap<u64, Movie> = std::collections::HashMap::new();
        for line in std::io::BufReader::new(file).lines() {
            let m: Movie = serde_json::from_str(&line.expect("line")).expect("a movie");
            map.insert(m.id, m);
        }
        let load = t.elapsed();
        let mut rounds = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let mut sum = 0.0;
            for k in &ids {
                sum += map.get(&(*k as u64)).expect("found").rating;
            }
            black_box(sum);
            rounds.push(t.elapsed().as_secs_f64() * 1e9 / ids.len() as f64);
        }
        let map_ns = median(rounds);
        println!(
            "HashMap<u64, Movie> from JSON lines: load {load:?}; get + field {map_ns:.1} ns; shoal / HashMap = {:.2}x",
            shoal_ns / map_ns
        );
        drop(map);
    }

    // Applying the delta 1 -> 2: with the key index from the snapshot, then with the same
    // key indexed on the heap (built at load), in turns.
    let read = |key: &str| {
        let stored = Bytes::from(std::fs::read(format!("{folder}/{key}")).expect("a blob"));
        shoal_store::packing::unpack(stored, &folder, key).expect("unpacks")
    };
    let (snapshot, delta) = (read("snapshot/1"), read("delta/1-2"));
    let loaded = Dataset::from_snapshot(snapshot).expect("load");
    let [in_place, built] = apply_in_turns(&loaded, &delta, None);
    lookups_after_the_delta(&in_place, &built);
    drop((in_place, built));
    // Both index updates split their work over the dataset's threads (by default every core
    // but one): on this 2-core machine that is one, so the split is measured apart.
    apply_in_turns(&loaded, &delta, Some(2));
}

/// The medians of 20 alternating rounds of [`lookup_ns`] through `a` and through `b`.
fn in_turns(
    a: (&Dataset, IndexId),
    b: (&Dataset, IndexId),
    ids: &[i64],
    field: Field,
) -> (f64, f64) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        x.push(lookup_ns(a.0, a.1, ids, field));
        y.push(lookup_ns(b.0, b.1, ids, field));
    }
    (median(x), median(y))
}

/// Lookups in version 2 as the delta made it: the key index from the snapshot with the
/// delta's changes over it, against the heap index, in alternating rounds.
fn lookups_after_the_delta(in_place: &Dataset, built: &Dataset) {
    let rating = in_place.field("Movie", "rating").expect("rating");
    let ids = sample_ids(in_place);
    let pk = in_place.index_id("Movie").expect("index");
    let (a, b) = in_turns((in_place, pk), (built, pk), &ids, rating);
    println!(
        "key lookup + one field read after the delta 1 -> 2, median of 20 alternating rounds: {a:.1} ns with the key index from the snapshot, {b:.1} ns with it on the heap ({:.2}x)",
        a / b
    );
}

/// Applies `delta` to `loaded` with the key index from the snapshot, with the same key
/// indexed on the heap (built at load) and with no index, in turns; prints the medians and
/// returns the last versions made with the two indexes.
fn apply_in_turns(loaded: &Dataset, delta: &Bytes, threads: Option<usize>) -> [Dataset; 2] {
    let with = |paths: Option<Vec<String>>| {
        let data = match threads {
            Some(n) => loaded.clone().with_threads(n),
            None => loaded.clone(),
        };
        let Some(paths) = paths else { return data };
        let spec = IndexSpec {
            name: "Movie".into(),
            type_name: "Movie".into(),
            paths,
        };
        data.with_indexes(&[spec]).expect("index")
    };
    // The third applies the columns alone: what the index update adds is the difference.
    let bases = [
        with(Some(vec![])),
        with(Some(vec!["id".into()])),
        with(None),
    ];
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let mut stats = None;
    let mut made: [Option<Dataset>; 3] = [None, None, None];
    for round in 0..6 {
        // Each goes first in turn: the first apply of a round pays more.
        let order = [round % 3, (round + 1) % 3, (round + 2) % 3];
        for i in order {
            let (base, times) = (&bases[i], &mut times[i]);
            let t = Instant::now();
            let view = DeltaView::open(delta.clone()).expect("delta");
            let (next, s) = base.apply(&view).expect("apply");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            stats = Some(s);
            made[i] = Some(next);
        }
    }
    let [in_place, built, columns] = times.map(median);
    let threads = threads.map_or("default threads".to_string(), |n| format!("{n} threads"));
    println!(
        "apply delta 1 -> 2 ({} bytes, {threads}), median of 6 (taking turns to go first): {in_place:.1} ms with the key index from the snapshot, {built:.1} ms with it built on the heap ({:.2}x), {columns:.1} ms without an index; {:?}",
        delta.len(),
        in_place / built,
        stats.expect("ran")
    );
    let [a, b, _] = made.map(|d| d.expect("applied"));
    [a, b]
}
