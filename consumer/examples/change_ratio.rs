//! Does the time of a refresh follow the size of the change? Publishes the catalog's v1 (N
//! titles, default 10M), then v1 with 0.1% of the ratings edited, v1 again, and v1 with 10%
//! edited (the criterion bench's deltas, at a size where the bench's baseline does not fit
//! in memory), then applies the 0.1% and the 10% delta to a dataset with its key index and
//! prints the medians and their ratio.
//!
//! ```text
//! cargo run --release -p shoal-consumer --example change_ratio -- [N]
//! ```

#[path = "../../format/examples/catalog/load.rs"]
mod load;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shoal_consumer::{Dataset, IndexSpec};
use shoal_format::DeltaView;
use shoal_producer::{Error, Producer};
use shoal_store::FsStore;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(10_000_000, |a| a.parse().expect("N"));
    let dir = load::ensure_catalog(n);
    // Shared with each cycle's blocking thread, not copied.
    let v1: Arc<[load::Movie]> = load::read_movies(&dir.join("v1.jsonl")).into();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FsStore::new(tmp.path()).expect("store"));
    let mut p = Producer::builder(store)
        .schema(load::schema())
        .root_type("Movie")
        .keep_versions(10)
        .build()
        .await
        .expect("producer");
    // Versions: 1 = v1, 2 = 0.1% edited, 3 = v1, 4 = 10% edited.
    for per_mille in [0, 1, 0, 100] {
        let edit = move |i: usize| (i * 7919) % 1000 < per_mille;
        let v1 = v1.clone();
        p.run_cycle(move |w| {
            for (i, m) in v1.iter().enumerate() {
                if edit(i) {
                    let mut m = m.clone();
                    m.rating = (m.rating * 10.0 + 1.0).round() / 10.0;
                    w.add(&m)?;
                } else {
                    w.add(m)?;
                }
            }
            Ok::<_, Error>(())
        })
        .await
        .expect("cycle");
    }
    p.close().await.expect("close");
    drop(v1);
    let spec = [IndexSpec {
        name: "Movie".into(),
        type_name: "Movie".into(),
        paths: vec![],
    }];
    let mut medians = Vec::new();
    for (name, from, to) in [("0.1% edited", 1, 2), ("10% edited", 3, 4)] {
        let read = |name: String| {
            let stored = Bytes::from(std::fs::read(tmp.path().join(&name)).expect("blob"));
            shoal_store::packing::unpack(stored, "the store", &name).expect("unpacks")
        };
        let base = Dataset::from_snapshot(read(format!("snapshot/{from}")))
            .expect("snapshot")
            .with_indexes(&spec)
            .expect("index");
        let delta = read(format!("delta/{from}-{to}"));
        let mut times = Vec::new();
        let mut stats = None;
        for _ in 0..7 {
            let t = Instant::now();
            let (next, s) = base
                .apply(&DeltaView::open(delta.clone()).expect("delta"))
                .expect("apply");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            stats = Some(s);
            drop(next);
        }
        let m = median(times);
        println!(
            "{n} titles, {name}: delta {} bytes, apply {m:.2} ms (median of 7), {:?}",
            delta.len(),
            stats.expect("ran")
        );
        medians.push(m);
    }
    println!(
        "10% / 0.1%: {:.1}x (the time follows the change if this is large)",
        medians[1] / medians[0]
    );
}
