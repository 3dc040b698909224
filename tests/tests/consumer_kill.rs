//! Crash safety of the consumer's cache: a consumer process (`src/bin/shoal-kill-consumer.rs`)
//! that keeps downloading, mapping and applying blobs is killed with SIGKILL at random
//! moments; after every kill a new consumer on the same cache folder serves the announced
//! version and an older one exactly as published, and every blob the cache holds under a real
//! name is whole (a kill never leaves a half-written blob where a consumer would map it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_consumer::{Consumer, Dataset};
use shoal_format::{DeltaView, FieldValue, SnapshotView, Version};
use shoal_producer::Producer;
use shoal_store::{BlobName, BlobStore, FsStore};
use shoal_tests::catalog::{catalog, full_cycle, mutate, schema, Movie, Movies, Rng};

const KILLS: usize = 30;
const VERSIONS: u64 = 5;

fn assert_holds(data: &Dataset, truth: &Movies, context: &str) {
    let movie = data.type_id("Movie").unwrap();
    let pk = data.index_id("Movie").unwrap();
    assert_eq!(data.len(movie), truth.len() as u64, "{context}");
    for (id, want) in truth {
        let o = data
            .find(pk, &[FieldValue::I64(*id)])
            .unwrap_or_else(|| panic!("{context}: movie {id} missing"));
        let got: Movie = data.get(movie, o).unwrap();
        assert_eq!(&got, want, "{context}");
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file of the cache named like a blob decodes and verifies; returns (blobs, other
/// files) — the others are temporary files of interrupted downloads, never mapped.
fn check_cache(cache: &Path, kill: usize) -> (usize, usize) {
    let mut files = Vec::new();
    walk(cache, &mut files);
    let (mut blobs, mut others) = (0, 0);
    for f in files {
        let key = f
            .strip_prefix(cache)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Ok(name) = key.parse::<BlobName>() else {
            others += 1;
            continue;
        };
        let bytes = std::fs::read(&f).unwrap();
        let verified = match name {
            BlobName::Snapshot(_) => SnapshotView::open(bytes.as_slice()).and_then(|v| v.verify()),
            _ => DeltaView::open(bytes.as_slice()).and_then(|v| v.verify()),
        };
        verified.unwrap_or_else(|e| panic!("kill {kill}: cache file {key} is not whole: {e}"));
        blobs += 1;
    }
    (blobs, others)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_downloading_never_leaves_a_bad_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (store_dir, cache) = (dir.path().join("store"), dir.path().join("cache"));
    let store: Arc<dyn BlobStore> = Arc::new(FsStore::new(&store_dir).unwrap());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(3)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(5);
    let mut movies = catalog(&mut rng, 30_000);
    let mut next_id = 30_000;
    let mut truth: HashMap<Version, Movies> = HashMap::new();
    for _ in 0..VERSIONS {
        let report = full_cycle(&mut producer, &movies).await.unwrap();
        truth.insert(report.version, movies.clone());
        mutate(&mut rng, &mut movies, &mut next_id, 3);
    }

    let started = Instant::now();
    let (mut leftovers, mut mid_pass) = (0, 0);
    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-kill-consumer"))
            .arg(&store_dir)
            .arg(&cache)
            .arg(VERSIONS.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shoal-kill-consumer");
        std::thread::sleep(Duration::from_millis(20 + rng.below(400)));
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the consumer stopped by itself ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let (blobs, others) = check_cache(&cache, kill);
        leftovers += others;
        if blobs > 0 && blobs < 2 * VERSIONS as usize {
            mid_pass += 1;
        }
        // A new consumer on the killed one's cache serves the announced version, and an
        // older one, exactly.
        let consumer = Consumer::builder(store.clone())
            .cache_dir(&cache)
            .primary_key_index("Movie")
            .build()
            .unwrap();
        let v = consumer
            .refresh()
            .await
            .unwrap_or_else(|e| panic!("kill {kill}: restart failed: {e}"));
        assert_eq!(v, Version(VERSIONS));
        assert_holds(
            &consumer.current().unwrap(),
            &truth[&v],
            &format!("kill {kill}"),
        );
        let back = Version(1 + rng.below(VERSIONS - 1));
        consumer.refresh_to(back).await.unwrap();
        assert_holds(
            &consumer.current().unwrap(),
            &truth[&back],
            &format!("kill {kill}"),
        );
    }
    println!(
        "consumer_kill: {KILLS} SIGKILLs survived in {:.1} s ({mid_pass} with the cache part \
         way through a pass, {leftovers} temporary files of interrupted downloads seen)",
        started.elapsed().as_secs_f64()
    );
}
