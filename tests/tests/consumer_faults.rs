//! A consumer reading through a store that fails ([`FaultyStore`] over a folder store) keeps
//! serving its last good version, reports every failed refresh (in the returned error and to
//! listeners), and reaches the announced version once the store works again.
//!
//! The producer publishes through the inner store (it is not under test here); after every
//! refresh, failed or not, the version the consumer serves is read record by record and
//! compared with what the producer published as that version. Each test prints how many
//! faults it injected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_consumer::{Consumer, Dataset, Listener, RefreshEvent};
use shoal_format::{FieldValue, Version};
use shoal_producer::Producer;
use shoal_store::{BlobStore, Fault, FaultRule, FaultyStore, FsStore, StoreOp, Trigger};
use shoal_tests::catalog::{catalog, full_cycle, mutate, schema, Movie, Movies, Rng};

#[derive(Default)]
struct Failures(AtomicU64);

impl Listener for Failures {
    fn on_refresh(&self, _: &RefreshEvent) {}
    fn on_failure(&self, _: &shoal_consumer::Error) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Rig {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    faulty: Arc<FaultyStore>,
    producer: Producer,
    consumer: Consumer,
    failures: Arc<Failures>,
    rng: Rng,
    movies: Movies,
    next_id: i64,
    truth: HashMap<Version, Movies>,
}

impl Rig {
    async fn new(seed: u64) -> Rig {
        let store_dir = tempfile::tempdir().unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn BlobStore> = Arc::new(FsStore::new(store_dir.path()).unwrap());
        let faulty = Arc::new(FaultyStore::new(inner.clone(), seed));
        let producer = Producer::builder(inner)
            .schema(schema())
            .snapshot_every(3)
            .build()
            .await
            .unwrap();
        let failures = Arc::new(Failures::default());
        let consumer = Consumer::builder(faulty.clone())
            .cache_dir(cache_dir.path())
            .primary_key_index("Movie")
            .listener(failures.clone())
            .build()
            .unwrap();
        let mut rng = Rng::new(seed);
        let movies = catalog(&mut rng, 400);
        let mut rig = Rig {
            _dirs: (store_dir, cache_dir),
            faulty,
            producer,
            consumer,
            failures,
            rng,
            movies,
            next_id: 400,
            truth: HashMap::new(),
        };
        rig.publish().await;
        rig.consumer.refresh().await.unwrap();
        rig.check_serving("start");
        rig
    }

    /// Changes about 5% of the catalog and publishes it; returns the new version.
    async fn publish(&mut self) -> Version {
        mutate(&mut self.rng, &mut self.movies, &mut self.next_id, 5);
        let report = full_cycle(&mut self.producer, &self.movies).await.unwrap();
        self.truth.insert(report.version, self.movies.clone());
        report.version
    }

    /// The consumer serves a whole version that the producer published, exactly.
    fn check_serving(&self, context: &str) -> Version {
        let data = self.consumer.current().expect("a version is served");
        let truth = self
            .truth
            .get(&data.version())
            .unwrap_or_else(|| panic!("{context}: serving unknown version {:?}", data.version()));
        assert_holds(&data, truth, context);
        data.version()
    }

    fn failures(&self) -> u64 {
        self.failures.0.load(Ordering::SeqCst)
    }
}

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

const READS: [StoreOp; 6] = [
    StoreOp::Get,
    StoreOp::GetToFile,
    StoreOp::GetRange,
    StoreOp::GetTagged,
    StoreOp::Head,
    StoreOp::List,
];

/// Every fault on every read operation in turn, always on: the refresh fails (or, for a
/// fault the path does not meet, succeeds), the consumer serves its last good version or
/// the new one, never anything else; once the fault clears it reaches the announced version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_on_each_read_keeps_the_last_good_version() {
    let mut rig = Rig::new(11).await;
    let mut refused = 0;
    for fault in [
        Fault::Fail,
        Fault::FailAfter,
        Fault::Truncate,
        Fault::FlipBit,
        Fault::Delay(Duration::from_millis(30)),
    ] {
        for op in READS {
            if !fault.applies_to(op) {
                continue;
            }
            let context = format!("{fault:?} on {}", op.name());
            let before = rig.consumer.version().unwrap();
            let target = rig.publish().await;
            let failures = rig.failures();
            rig.faulty
                .inject(FaultRule::new(fault, Trigger::Always).on(&[op]));
            match rig.consumer.refresh().await {
                Ok(v) => {
                    assert_eq!(v, target, "{context}");
                    assert_eq!(rig.check_serving(&context), target);
                }
                Err(e) => {
                    assert!(
                        !matches!(fault, Fault::Delay(_)),
                        "{context}: a slow store is not a failure: {e}"
                    );
                    assert_eq!(rig.check_serving(&context), before, "{context}: {e}");
                    assert_eq!(rig.failures(), failures + 1, "{context}: listener told");
                    refused += 1;
                }
            }
            rig.faulty.clear();
            let v = rig.consumer.refresh().await.unwrap_or_else(|e| {
                panic!("{context}: after the fault cleared the refresh failed: {e}")
            });
            assert_eq!(v, target, "{context}");
            assert_eq!(rig.check_serving(&context), target);
        }
    }
    println!(
        "{} faults injected, {refused} refreshes refused, every one survived",
        rig.faulty.injected()
    );
    assert!(refused >= 8, "only {refused} refreshes failed");
}

/// Random faults on every read, at random, over many versions: after every refresh the
/// consumer serves a whole published version; with the faults gone it reaches the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_over_many_versions() {
    for seed in 1..=6 {
        let mut rig = Rig::new(100 + seed).await;
        let faults = [
            Fault::Fail,
            Fault::FailAfter,
            Fault::Truncate,
            Fault::FlipBit,
            Fault::Delay(Duration::from_millis(5)),
        ];
        for f in faults {
            rig.faulty
                .inject(FaultRule::new(f, Trigger::Chance(0.06)).on(&READS));
        }
        let mut ok = 0;
        for round in 0..30 {
            if round % 2 == 0 {
                rig.publish().await;
            }
            let result = rig.consumer.refresh().await;
            let served = rig.check_serving(&format!("seed {seed} round {round}"));
            if let Ok(v) = result {
                assert_eq!(served, v);
                ok += 1;
            }
        }
        rig.faulty.clear();
        let last = rig.consumer.refresh().await.unwrap();
        assert_eq!(Some(last), rig.producer.version());
        rig.check_serving("after the faults cleared");
        println!(
            "seed {seed}: {} faults injected, {ok} of 30 refreshes succeeded, {} failures reported",
            rig.faulty.injected(),
            rig.failures()
        );
    }
}
