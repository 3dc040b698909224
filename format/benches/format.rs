//! Format benchmarks on the catalog of `../shared/datasets/gen_catalog.py` (1M records by
//! default, `SHOAL_BENCH_RECORDS` to change): encode and decode throughput, random field reads,
//! delta encoding, the page-size trade-off and dictionary pages, each beside its baseline (JSON lines and
//! bincode of the same records, a `Vec` of structs for reads). Sizes are printed once.

#[path = "../examples/catalog/load.rs"]
mod load;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use load::{Catalog, Movie};
use shoal_format::{
    write_delta, write_snapshot, ColumnReader, DataState, FieldId, SnapshotView, Version,
    WriteOptions,
};

const BATCH: usize = 4096;

struct Data {
    n: usize,
    movies: Vec<Movie>,
    jsonl: Vec<u8>,
    bincode: Vec<u8>,
    v1: Catalog,
    v2: Catalog,
    snapshot: Vec<u8>,
    probes: Vec<usize>,
}

fn data() -> Data {
    let n = std::env::var("SHOAL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = load::ensure_catalog(n);
    let movies = load::read_movies(&dir.join("v1.jsonl"));
    let v2_movies = load::read_movies(&dir.join("v2.jsonl"));
    let jsonl = std::fs::read(dir.join("v1.jsonl")).expect("the catalog was generated");
    let bincode = bincode::serialize(&movies).expect("bincode");
    let v1 = Catalog::first(&movies);
    let v2 = v1.next(&v2_movies);
    let snapshot = snapshot(&v1.state, &WriteOptions::default());
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let probes = (0..BATCH)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        })
        .collect();
    Data {
        n,
        movies,
        jsonl,
        bincode,
        v1,
        v2,
        snapshot,
        probes,
    }
}

fn snapshot(state: &DataState, options: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot(state, Version(1), options, &mut out).expect("encodes");
    out
}

fn delta(d: &Data, options: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_delta(
        &d.v1.state,
        &d.v2.state,
        Version(1),
        Version(2),
        options,
        &mut out,
    )
    .expect("encodes");
    out
}

fn report_sizes(d: &Data) {
    let n = d.n as f64;
    let json = d.jsonl.len() as f64;
    eprintln!("\n== sizes, {} catalog records ==", d.n);
    eprintln!(
        "JSON lines      {:>11} B  {:>6.1} B/record",
        d.jsonl.len(),
        json / n
    );
    eprintln!(
        "bincode         {:>11} B  {:>6.1} B/record  {:.3}x JSON",
        d.bincode.len(),
        d.bincode.len() as f64 / n,
        d.bincode.len() as f64 / json
    );
    for shift in [8u8, 10, 12, 14] {
        let options = WriteOptions {
            page_shift: shift,
            ..WriteOptions::default()
        };
        let s = snapshot(&d.v1.state, &options);
        let dl = delta(d, &options);
        eprintln!(
            "shoal 2^{shift:<2}     {:>11} B  {:>6.1} B/record  {:.3}x JSON; delta v1->v2 {} B = {:.2}% of the snapshot",
            s.len(),
            s.len() as f64 / n,
            s.len() as f64 / json,
            dl.len(),
            100.0 * dl.len() as f64 / s.len() as f64
        );
    }
}

fn encode(c: &mut Criterion, d: &Data) {
    let mut g = c.benchmark_group("encode");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(d.n as u64));
    let options = WriteOptions::default();
    g.bench_function("shoal_snapshot", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(d.snapshot.len());
            write_snapshot(&d.v1.state, Version(1), &options, &mut out).expect("encodes");
            out
        })
    });
    g.bench_function("shoal_delta_v1_v2", |b| b.iter(|| delta(d, &options)));
    g.bench_function("json_lines", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(d.jsonl.len());
            for m in &d.movies {
                serde_json::to_writer(&mut out, m).expect("json");
                out.push(b'\n');
            }
            out
        })
    });
    g.bench_function("bincode", |b| {
        b.iter(|| bincode::serialize(&d.movies).expect("bincode"))
    });
    g.finish();
}

fn decode(c: &mut Criterion, d: &Data) {
    let mut g = c.benchmark_group("decode");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(d.n as u64));
    g.bench_function("shoal_open", |b| {
        b.iter(|| SnapshotView::open(black_box(d.snapshot.as_slice())).expect("opens"))
    });
    let view = SnapshotView::open(d.snapshot.as_slice()).expect("opens");
    g.bench_function("shoal_read_every_field", |b| b.iter(|| scan(&view)));
    g.bench_function("json_lines", |b| {
        b.iter(|| {
            d.jsonl
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice::<Movie>(l).expect("json"))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("bincode", |b| {
        b.iter(|| bincode::deserialize::<Vec<Movie>>(&d.bincode).expect("bincode"))
    });
    g.finish();
}

/// Reads every field of every movie in place; returns a checksum so nothing is optimised away.
fn scan(view: &SnapshotView<&[u8]>) -> u64 {
    let cols: Vec<ColumnReader<'_>> = (0..8)
        .map(|f| view.column(load::MOVIE, FieldId(f)).expect("a column"))
        .collect();
    let mut sum = 0u64;
    for o in view.ordinals(load::MOVIE) {
        let i = o.index();
        for (f, col) in cols.iter().enumerate() {
            sum = sum.wrapping_add(match f {
                1 => col.str(i).ok().flatten().map_or(0, |s| s.len() as u64),
                _ => col.raw(i).unwrap_or(0),
            });
        }
    }
    sum
}

fn random_reads(c: &mut Criterion, d: &Data) {
    let mut g = c.benchmark_group("random_read");
    g.throughput(Throughput::Elements(BATCH as u64));
    let view = SnapshotView::open(d.snapshot.as_slice()).expect("opens");
    let year = view.column_named("Movie", "year").expect("year");
    let title = view.column_named("Movie", "title").expect("title");
    g.bench_function("shoal_int", |b| {
        b.iter(|| {
            let mut s = 0i64;
            for &i in &d.probes {
                s += year.raw(black_box(i)).unwrap_or(0) as i64;
            }
            s
        })
    });
    g.bench_function("shoal_str", |b| {
        b.iter(|| {
            let mut s = 0usize;
            for &i in &d.probes {
                s += title.str(black_box(i)).ok().flatten().map_or(0, str::len);
            }
            s
        })
    });
    g.bench_function("vec_of_structs_int", |b| {
        b.iter(|| {
            d.probes
                .iter()
                .map(|&i| d.movies[black_box(i)].year as i64)
                .sum::<i64>()
        })
    });
    g.bench_function("vec_of_structs_str", |b| {
        b.iter(|| {
            d.probes
                .iter()
                .map(|&i| d.movies[black_box(i)].title.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn page_sizes(c: &mut Criterion, d: &Data) {
    let mut g = c.benchmark_group("random_read_by_page_shift");
    g.throughput(Throughput::Elements(BATCH as u64));
    for shift in [8u8, 10, 12, 14] {
        let bytes = snapshot(
            &d.v1.state,
            &WriteOptions {
                page_shift: shift,
                ..WriteOptions::default()
            },
        );
        let view = SnapshotView::open(bytes.as_slice()).expect("opens");
        let year = view.column_named("Movie", "year").expect("year");
        let title = view.column_named("Movie", "title").expect("title");
        g.bench_with_input(BenchmarkId::new("int", shift), &shift, |b, _| {
            b.iter(|| {
                d.probes
                    .iter()
                    .map(|&i| year.raw(black_box(i)).unwrap_or(0))
                    .sum::<u64>()
            })
        });
        g.bench_with_input(BenchmarkId::new("str", shift), &shift, |b, _| {
            b.iter(|| {
                d.probes
                    .iter()
                    .map(|&i| title.str(black_box(i)).ok().flatten().map_or(0, str::len))
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

/// Random string reads from a column whose values repeat (a genre written inline, 40 distinct
/// values), stored with dictionary pages and without; sizes printed once.
fn dictionary_pages(c: &mut Criterion, d: &Data) {
    let schema = std::sync::Arc::new(
        shoal_format::Schema::new(vec![
            shoal_format::TypeDef::object("Movie").field("genre", shoal_format::FieldKind::String)
        ])
        .expect("schema"),
    );
    let mut state = DataState::new(schema);
    for i in 0..d.n as u32 {
        let genre = shoal_format::Value::String(format!("genre {}", (i * 7919) % 40).into());
        let record = shoal_format::Record::Object(vec![genre]);
        state
            .insert(shoal_format::TypeId(0), shoal_format::Ordinal(i), record)
            .expect("fits");
    }
    let mut g = c.benchmark_group("random_read_repeated_str");
    g.throughput(Throughput::Elements(BATCH as u64));
    for dictionary in [false, true] {
        let bytes = snapshot(
            &state,
            &WriteOptions {
                dictionary,
                ..WriteOptions::default()
            },
        );
        let name = if dictionary { "dictionary" } else { "heap" };
        eprintln!("repeated strings, {name} pages: {} bytes", bytes.len());
        let view = SnapshotView::open(bytes.as_slice()).expect("opens");
        let genre = view.column_named("Movie", "genre").expect("genre");
        g.bench_function(name, |b| {
            b.iter(|| {
                d.probes
                    .iter()
                    .map(|&i| genre.str(black_box(i)).ok().flatten().map_or(0, str::len))
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

fn all(c: &mut Criterion) {
    let d = data();
    report_sizes(&d);
    encode(c, &d);
    decode(c, &d);
    random_reads(c, &d);
    page_sizes(c, &d);
    dictionary_pages(c, &d);
}

criterion_group!(benches, all);
criterion_main!(benches);
