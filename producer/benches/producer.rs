//! Producer cycles on the catalog of `../shared/datasets/gen_catalog.py` (1M titles by
//! default, `SHOAL_BENCH_RECORDS` to change), beside the obvious alternative: serialising the
//! same records to JSON lines. Records are parsed before timing starts (Hollow's figures
//! exclude parsing too): a cycle here is matching, placing, validating, encoding snapshot,
//! delta and reverse delta, and publishing them to a folder store.

#[path = "../../format/examples/catalog/load.rs"]
mod load;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use load::Movie;
use shoal_producer::{Error, Placement, Producer};
use shoal_store::FsStore;

fn records() -> usize {
    std::env::var("SHOAL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

async fn producer(dir: &std::path::Path) -> Producer {
    producer_with(dir, Placement::FillFreed).await
}

async fn producer_with(dir: &std::path::Path, placement: Placement) -> Producer {
    let store = Arc::new(FsStore::new(dir).expect("store"));
    Producer::builder(store)
        .schema(load::schema())
        .root_type("Movie")
        .placement(placement)
        .build()
        .await
        .expect("producer")
}

/// One cycle of `movies` (shared with the cycle's blocking thread, not copied).
async fn cycle(p: &mut Producer, movies: &Arc<[Movie]>) -> shoal_producer::CycleReport {
    let movies = movies.clone();
    p.run_cycle(move |w| {
        for m in movies.iter() {
            w.add(m)?;
        }
        Ok::<_, Error>(())
    })
    .await
    .expect("cycle")
}

fn bench(c: &mut Criterion) {
    let n = records();
    let dir = load::ensure_catalog(n);
    let v1: Arc<[Movie]> = load::read_movies(&dir.join("v1.jsonl")).into();
    let v2: Arc<[Movie]> = load::read_movies(&dir.join("v2.jsonl")).into();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // Sizes and phases, printed once.
    {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (r1, r2) = rt.block_on(async {
            let mut p = producer(tmp.path()).await;
            (cycle(&mut p, &v1).await, cycle(&mut p, &v2).await)
        });
        println!("\nfirst cycle: {r1}\nnext cycle: {r2}");
        let changed: u64 = r2
            .types
            .iter()
            .filter(|t| t.name == "Movie")
            .map(|t| t.added + t.removed + t.changed)
            .sum();
        let delta = r2.blob_size("delta/1-2").unwrap_or(0);
        println!(
            "delta/1-2: {delta} bytes for {changed} changed movies = {:.1} B per changed record\n",
            delta as f64 / changed.max(1) as f64
        );
    }

    // Placement policies side by side: pages the new and edited records land on (what a
    // consumer copies), delta size, and the ordinal space, over v1 -> v2 -> v1' (v1 again:
    // the records v2 removed come back, the ones it added go).
    for placement in [Placement::FillFreed, Placement::Append] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let reports = rt.block_on(async {
            let mut p = producer_with(tmp.path(), placement).await;
            let mut out = Vec::new();
            for movies in [&v1, &v2, &v1] {
                out.push(cycle(&mut p, movies).await);
            }
            (out, p.state().unwrap().slot_count(shoal_format::TypeId(0)))
        });
        let (reports, slots) = reports;
        for r in &reports[1..] {
            let movie = &r.types[0];
            let pages: u64 = r.types.iter().map(|t| t.pages_touched).sum();
            let delta = r
                .blobs
                .iter()
                .find(|(k, _)| k.starts_with("delta/"))
                .map_or(0, |b| b.1);
            println!(
                "placement {placement:?}, version {}: movie pages touched {}, all types {pages}, delta {delta} bytes",
                r.version.0, movie.pages_touched
            );
        }
        println!("placement {placement:?}: movie ordinal space after 3 versions: {slots}\n");
    }

    let mut g = c.benchmark_group(format!("producer_{n}"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(n as u64));

    g.bench_function("first_cycle_v1", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmp = tempfile::tempdir().expect("tempdir");
                rt.block_on(async {
                    let mut p = producer(tmp.path()).await;
                    let t = Instant::now();
                    cycle(&mut p, &v1).await;
                    total += t.elapsed();
                });
            }
            total
        })
    });
    g.bench_function("next_cycle_v2", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmp = tempfile::tempdir().expect("tempdir");
                rt.block_on(async {
                    let mut p = producer(tmp.path()).await;
                    cycle(&mut p, &v1).await;
                    let t = Instant::now();
                    let r = cycle(&mut p, &v2).await;
                    total += t.elapsed();
                    if std::env::var_os("SHOAL_BENCH_PHASES").is_some() {
                        eprintln!("{:?}", r.timings);
                    }
                });
            }
            total
        })
    });
    g.bench_function("json_lines_serialize_v1", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(200 * n);
            for m in v1.iter() {
                serde_json::to_writer(&mut out, m).expect("json");
                out.push(b'\n');
            }
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
