//! Profiling aid: publishes catalog v1 and v2 (N titles, default 1M) into a temporary folder
//! store, then loads v1 and applies the v1 -> v2 delta in a loop, printing the time of each
//! phase. `cargo run --release -p shoal-consumer --example apply_profile -- [N] [rounds]`.

#[path = "../../format/examples/catalog/load.rs"]
mod load;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shoal_consumer::{Dataset, IndexSpec};
use shoal_format::DeltaView;
use shoal_producer::{Error, Producer};
use shoal_store::FsStore;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(20, |a| a.parse().expect("rounds"));
    let dir = load::ensure_catalog(n);
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FsStore::new(tmp.path()).expect("store"));
    let mut p = Producer::builder(store)
        .schema(load::schema())
        .root_type("Movie")
        .build()
        .await
        .expect("producer");
    for file in ["v1.jsonl", "v2.jsonl"] {
        let movies = load::read_movies(&dir.join(file));
        p.run_cycle(move |w| {
            for m in &movies {
                w.add(m)?;
            }
            Ok::<_, Error>(())
        })
        .await
        .expect("cycle");
    }
    let read = |key: &str| {
        let stored = Bytes::from(std::fs::read(tmp.path().join(key)).expect("a blob"));
        shoal_store::packing::unpack(stored, "the store", key).expect("unpacks")
    };
    let (snapshot, delta) = (read("snapshot/1"), read("delta/1-2"));
    let spec = [IndexSpec {
        name: "Movie".into(),
        type_name: "Movie".into(),
        paths: vec![],
    }];
    let t = Instant::now();
    let base = Dataset::from_snapshot(snapshot).expect("load");
    println!("load {:?}", t.elapsed());
    let t = Instant::now();
    let base = base.with_indexes(&spec).expect("index");
    println!("index {:?}", t.elapsed());
    let plain = Dataset::from_snapshot(read("snapshot/1")).expect("load");
    for _ in 0..rounds {
        let t = Instant::now();
        let view = DeltaView::open(delta.clone()).expect("delta");
        let opened = t.elapsed();
        let (_, stats) = plain.apply(&view).expect("apply");
        let plain_time = t.elapsed();
        let t = Instant::now();
        let view = DeltaView::open(delta.clone()).expect("delta");
        base.apply(&view).expect("apply");
        println!(
            "open {opened:?}, apply without index {plain_time:?}, with index {:?}, {stats:?}",
            t.elapsed()
        );
    }
}
