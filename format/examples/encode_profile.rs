//! Encodes the catalog snapshot a few times, for profiling the writer:
//! `cargo run --release -p shoal-format --example encode_profile -- 1000000`.

#[path = "catalog/load.rs"]
mod load;

use std::time::Instant;

use shoal_format::{write_snapshot, Version, WriteOptions};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = load::ensure_catalog(n);
    let v1 = load::Catalog::first(&load::read_movies(&dir.join("v1.jsonl")));
    for _ in 0..5 {
        let started = Instant::now();
        let mut out = Vec::new();
        write_snapshot(&v1.state, Version(1), &WriteOptions::default(), &mut out).expect("encodes");
        println!(
            "{} bytes in {:.0} ms",
            out.len(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}
