//! The format's main job until the producer lands: turn the benchmark catalog into blobs in the
//! folder store layout, prove the delta exact, and print sizes beside JSON lines.
//!
//! `cargo run --release -p shoal-format --example catalog -- [RECORDS] [OUT_DIR]`

mod load;

use std::path::{Path, PathBuf};
use std::time::Instant;

use shoal_format::{write_delta, write_snapshot, DeltaView, SnapshotView, Version, WriteOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let out = PathBuf::from(args.next().unwrap_or_else(|| "shoal-data".into()));
    let dir = load::ensure_catalog(n);
    let (v1_movies, v2_movies) = (
        load::read_movies(&dir.join("v1.jsonl")),
        load::read_movies(&dir.join("v2.jsonl")),
    );
    let v1 = load::Catalog::first(&v1_movies);
    let v2 = v1.next(&v2_movies);
    let opts = WriteOptions::default();

    let started = Instant::now();
    let snap1 = blob(&out, "snapshot/1", |w| {
        write_snapshot(&v1.state, Version(1), &opts, w)
    })?;
    let encode = started.elapsed();
    let delta = blob(&out, "delta/1-2", |w| {
        write_delta(&v1.state, &v2.state, Version(1), Version(2), &opts, w)
    })?;
    let reverse = blob(&out, "reverse/2-1", |w| {
        write_delta(&v2.state, &v1.state, Version(2), Version(1), &opts, w)
    })?;
    let snap2 = blob(&out, "snapshot/2", |w| {
        write_snapshot(&v2.state, Version(2), &opts, w)
    })?;

    let view = SnapshotView::open(snap1.as_slice())?;
    view.verify()?;
    let applied = DeltaView::open(delta.as_slice())?.apply(&view.to_state()?)?;
    let mut again = Vec::new();
    write_snapshot(&applied, Version(2), &opts, &mut again)?;
    assert!(again == snap2, "snapshot 1 + delta differs from snapshot 2");
    let back = DeltaView::open(reverse.as_slice())?.apply(&applied)?;
    assert!(
        back == v1.state,
        "snapshot 2 + reverse delta differs from snapshot 1"
    );

    let json = std::fs::metadata(dir.join("v1.jsonl"))?.len() as f64;
    let changed = changed_records(&v1_movies, &v2_movies) as f64;
    let per = |b: usize| b as f64 / n as f64;
    println!("records                     {n}");
    println!(
        "JSON lines v1               {:>12} bytes  {:>7.1} B/record",
        json as u64,
        json / n as f64
    );
    println!(
        "snapshot v1                 {:>12} bytes  {:>7.1} B/record  {:.3}x JSON  (encoded in {:.0} ms)",
        snap1.len(),
        per(snap1.len()),
        snap1.len() as f64 / json,
        encode.as_secs_f64() * 1e3
    );
    println!(
        "delta 1->2                  {:>12} bytes  {:>7.2}% of snapshot  {:.1} B per changed record",
        delta.len(),
        100.0 * delta.len() as f64 / snap1.len() as f64,
        delta.len() as f64 / changed
    );
    println!(
        "reverse delta 2->1          {:>12} bytes  {:>7.2}% of snapshot",
        reverse.len(),
        100.0 * reverse.len() as f64 / snap1.len() as f64
    );
    println!("snapshot v2                 {:>12} bytes", snap2.len());
    println!("checked: snapshot 1 + delta == snapshot 2 byte for byte; + reverse == version 1");
    println!("blobs written under {}", out.display());
    Ok(())
}

/// Titles edited, removed or added between the versions.
fn changed_records(v1: &[load::Movie], v2: &[load::Movie]) -> usize {
    use std::collections::HashMap;
    let old: HashMap<i64, &load::Movie> = v1.iter().map(|m| (m.id, m)).collect();
    let new: HashMap<i64, &load::Movie> = v2.iter().map(|m| (m.id, m)).collect();
    let edited_or_added = v2.iter().filter(|m| old.get(&m.id) != Some(m)).count();
    let removed = v1.iter().filter(|m| !new.contains_key(&m.id)).count();
    edited_or_added + removed
}

fn blob(
    root: &Path,
    name: &str,
    write: impl FnOnce(&mut Vec<u8>) -> shoal_format::Result<u64>,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut bytes = Vec::new();
    write(&mut bytes)?;
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().expect("blob names have a folder"))?;
    std::fs::write(&path, &bytes)?;
    Ok(bytes)
}
