//! A cycle's CPU work runs off the caller's executor: on a current-thread runtime, another
//! task keeps running while a cycle's closure works; a closure that panics leaves the producer
//! on its version.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use shoal_format::Version;
use shoal_producer::{Error, Producer};

/// A task that counts its turns on the executor until stopped.
struct Ticker {
    ticks: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Ticker {
        let (ticks, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let task = tokio::spawn({
            let (ticks, stop) = (ticks.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        Ticker { ticks, stop, task }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
    }
}

/// Ticks seen by a cycle's closure: when it started, and after its work, once the ticker
/// moved (or a bound was reached: on the executor's own thread it never moves).
#[derive(Default)]
struct Seen {
    start: AtomicU64,
    end: AtomicU64,
}

impl Seen {
    fn record_start(&self, ticks: &AtomicU64) {
        self.start
            .store(ticks.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn record_end(&self, ticks: &AtomicU64) {
        let start = self.start.load(Ordering::Relaxed);
        for _ in 0..1_000_000 {
            if ticks.load(Ordering::Relaxed) != start {
                break;
            }
            std::thread::yield_now();
        }
        self.end
            .store(ticks.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn ticked(&self) -> bool {
        self.end.load(Ordering::Relaxed) > self.start.load(Ordering::Relaxed)
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn another_task_keeps_running_while_a_cycle_works_on_a_current_thread_runtime() {
    current_thread().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut producer = Producer::builder(fs_store(dir.path()))
            .schema(schema())
            .build()
            .await
            .unwrap();
        // 50,000 movies: about 200,000 records offered to the cycle.
        let movies = catalog(&mut Rng::new(7), 50_000);
        let ticker = Ticker::start();
        let seen = Arc::new(Seen::default());
        let (ticks, in_fill) = (ticker.ticks.clone(), seen.clone());
        let report = producer
            .run_cycle(move |w| {
                in_fill.record_start(&ticks);
                for m in movies.values() {
                    w.add(m)?;
                }
                in_fill.record_end(&ticks);
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        assert_eq!(report.version, Version(1));
        assert!(report.records_offered >= 150_000, "{report}");
        assert!(
            seen.ticked(),
            "the ticker did not run while the cycle filled"
        );

        let seen = Arc::new(Seen::default());
        let (ticks, in_fill) = (ticker.ticks.clone(), seen.clone());
        let edited = Movie {
            title: "edited".into(),
            ..movie(&mut Rng::new(8), 7)
        };
        producer
            .run_incremental(move |w| {
                in_fill.record_start(&ticks);
                w.upsert(&edited)?;
                in_fill.record_end(&ticks);
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        assert!(
            seen.ticked(),
            "the ticker did not run during the incremental cycle"
        );
        ticker.stop().await;
    });
}

#[tokio::test]
async fn a_closure_that_panics_leaves_the_producer_on_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut producer = Producer::builder(fs_store(dir.path()))
        .schema(schema())
        .build()
        .await
        .unwrap();
    let movies = catalog(&mut Rng::new(3), 100);
    let offered = movies.clone();
    producer
        .run_cycle(move |w| {
            for m in offered.values() {
                w.add(m)?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let v1 = producer.state().unwrap();

    let err = producer
        .run_cycle(|_| -> Result<(), Error> { panic!("the input source crashed") })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(producer.version(), Some(Version(1)));
    assert_eq!(producer.state().unwrap(), v1);

    // The next cycle builds on version 1.
    let mut edited = movies;
    edited.get_mut(&5).unwrap().rating = 0.5;
    let report = producer
        .run_cycle(move |w| {
            for m in edited.values() {
                w.add(m)?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    assert_eq!(report.version, Version(2));
    assert_eq!(report.types[0].changed, 1);
}
