//! A consumer process: a [`Consumer`] following the store through a [`FaultyStore`] (the
//! orchestrator switches outages on and off through `control.json`), a reader thread
//! checking every value it reads, and a run report rewritten every 100 ms.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_consumer::{Consumer, Listener, RefreshEvent};
use shoal_store::{Fault, FaultRule, FaultyStore, StoreOp, Trigger};

use super::args::Args;
use super::files::{
    anon_bytes, consumer_dir, control_path, now_ms, read_json, rss_bytes, run_path, write_json,
    ConsumerRun, Control, Outage,
};
use super::reader::Reader;
use super::store::{self, Opened};
use super::truth::{Generator, Truth};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often the run report is written and the control file read.
const TICK: Duration = Duration::from_millis(100);

/// Versions served before memory is taken as warm (truth and index caches filled).
const WARM_AFTER: usize = 10;

/// What the refresh events told: versions served, bytes fetched, memory.
#[derive(Debug, Default)]
struct Events(Mutex<ConsumerRun>);

impl Listener for Events {
    fn on_refresh(&self, event: &RefreshEvent) {
        let (rss, anon) = (rss_bytes(), anon_bytes());
        let mut run = self.0.lock().expect("events lock");
        run.served.push((event.to.0, now_ms()));
        run.bytes_fetched += event.bytes_fetched;
        run.rss_first = run.rss_first.or(rss);
        run.rss_last = rss;
        run.anon_last = anon;
        if run.served.len() == WARM_AFTER {
            run.rss_warm = rss;
            run.anon_warm = anon;
        }
    }

    fn on_failure(&self, _: &shoal_consumer::Error) {
        self.0.lock().expect("events lock").refresh_failures += 1;
    }
}

/// Everything one consumer process holds.
struct Process {
    id: usize,
    opened: Opened,
    faulty: Arc<FaultyStore>,
    consumer: Consumer,
    events: Arc<Events>,
}

/// Runs consumer `args.id` until the control file says stop.
pub async fn run(args: &Args) -> Result<(), BoxError> {
    let process = Process::start(args).await?;
    let follower = process.consumer.follow();
    let generator = Generator::new(args.seed, args.records, args.change_percent);
    let reader_seed = args.seed ^ (u64::from(std::process::id()) << 16);
    let reader = Reader::spawn(
        process.consumer.clone(),
        Truth::new(generator),
        args.id,
        reader_seed,
        args.read_batch,
    );
    let mut outage = None;
    loop {
        let control: Control = read_json(&control_path(args.work())).unwrap_or_default();
        if control.outage != outage {
            outage = control.outage;
            process.set_outage(outage);
        }
        process.write_report(args.work(), &reader)?;
        if control.stop {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    follower.stop().await;
    process.write_report(args.work(), &reader)?;
    reader.stop();
    Ok(())
}

impl Process {
    async fn start(args: &Args) -> Result<Process, BoxError> {
        let dir = consumer_dir(args.work(), args.id);
        std::fs::create_dir_all(&dir)?;
        let location = args.store.as_deref().unwrap_or_default();
        let poll = Duration::from_millis(args.poll_ms);
        let opened = store::open(location, args.endpoint_url.as_deref(), poll).await?;
        let seed = args.seed ^ (args.id as u64 + 1).wrapping_mul(7919);
        let faulty = Arc::new(FaultyStore::new(opened.store(), seed));
        let events = Arc::new(Events::default());
        let consumer = Consumer::builder(faulty.clone())
            .cache_dir(dir.join("cache"))
            .primary_key_index("Movie")
            .retry_backoff(Duration::from_millis(100), Duration::from_secs(2))
            .spread(Duration::from_millis(args.spread_ms))
            .listener(events.clone())
            .build()?;
        Ok(Process {
            id: args.id,
            opened,
            faulty,
            consumer,
            events,
        })
    }

    /// Switches the outage `outage` on (and any other off).
    fn set_outage(&self, outage: Option<Outage>) {
        self.faulty.clear();
        let fail = || FaultRule::new(Fault::Fail, Trigger::Always);
        match outage {
            None => {}
            Some(Outage::Blobs) => {
                for prefix in ["snapshot/", "delta/", "reverse/"] {
                    self.faulty.inject(
                        fail()
                            .on(&[StoreOp::Get, StoreOp::GetToFile, StoreOp::GetRange])
                            .key_prefix(prefix),
                    );
                }
            }
            Some(Outage::Announcement) => self.faulty.inject(
                fail()
                    .on(&[StoreOp::GetTagged, StoreOp::Head])
                    .key_prefix("announced"),
            ),
        }
    }

    fn write_report(&self, work: &Path, reader: &Reader) -> std::io::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut run = self.events.0.lock().expect("events lock").clone();
        run.id = self.id;
        run.pid = std::process::id();
        run.reads = reader.counts.reads.load(Relaxed);
        run.wrong_reads = reader.counts.wrong.load(Relaxed);
        run.requests = self.opened.requests(Some(&self.faulty));
        run.faulted_calls = self.faulty.injected();
        run.current = self.consumer.version().map(|v| v.0);
        write_json(&run_path(work, self.id, run.pid), &run)
    }
}
