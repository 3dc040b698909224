//! The orchestrator: starts K consumers and the producer, follows `published.jsonl`, carries
//! out the schedule (kills and restarts, outage windows, a pin and an unpin) while the
//! producer publishes, samples the consumers' cache folders, then gives the consumers a
//! deadline to reach the last version, stops them and builds the report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use shoal_format::Version;
use shoal_store::set_pin;

use super::args::{Args, Role};
use super::files::{
    append_line, consumer_dir, control_path, folder_bytes, largest_file, now_ms, published_path,
    read_json, read_lines, run_path, write_json, ConsumerRun, Control, Outage, Published,
};
use super::plan::{plan, Action, Event};
use super::process::{current_exe, Exit, Slot};
use super::report::{build, Report, Tally};
use super::store::{self, Opened};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often the orchestrator looks at everything.
const TICK: Duration = Duration::from_millis(50);

struct Fleet {
    args: Args,
    exe: PathBuf,
    opened: Opened,
    producer: Slot,
    consumers: Vec<Slot>,
    schedule: Vec<Event>,
    due: Vec<(Instant, Action)>,
    published: BTreeMap<u64, Published>,
    outage_until: Option<Instant>,
    tally: Tally,
    rng: crate::catalog::Rng,
}

/// Runs a whole soak and returns its report.
pub async fn run(mut args: Args) -> Result<Report, BoxError> {
    prepare(&mut args)?;
    let started = Instant::now();
    let mut fleet = Fleet::new(args).await?;
    fleet.start()?;
    while !fleet.publishing_done()? {
        fleet.tick().await?;
    }
    fleet.finish_schedule().await;
    let last = fleet.last_published();
    let behind = fleet.wait_for_consumers(last).await?;
    fleet.stop_consumers();
    Ok(build(
        &fleet.args,
        &fleet.tally,
        &fleet.published,
        &behind,
        fleet.opened.counted_by(),
        started.elapsed(),
    ))
}

/// Fills in the work folder (a new temporary one by default) and the store (a folder in it
/// by default), and writes the first control file.
fn prepare(args: &mut Args) -> Result<(), BoxError> {
    let work = match &args.work {
        Some(w) => w.clone(),
        None => {
            std::env::temp_dir().join(format!("shoal-fleet-{}-{}", std::process::id(), now_ms()))
        }
    };
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    if args.store.is_none() {
        args.store = Some(work.join("store").display().to_string());
    }
    args.work = Some(work);
    write_json(&control_path(args.work()), &Control::default())?;
    Ok(())
}

impl Fleet {
    async fn new(args: Args) -> Result<Fleet, BoxError> {
        let location = args.store.clone().unwrap_or_default();
        let poll = Duration::from_millis(args.poll_ms);
        let opened = store::open(&location, args.endpoint_url.as_deref(), poll).await?;
        Ok(Fleet {
            exe: current_exe()?,
            opened,
            producer: Slot::new(Role::Producer, 0),
            consumers: (0..args.consumers)
                .map(|i| Slot::new(Role::Consumer, i))
                .collect(),
            schedule: plan(&args),
            due: Vec::new(),
            published: BTreeMap::new(),
            outage_until: None,
            tally: Tally::default(),
            rng: crate::catalog::Rng::new(args.seed ^ 0xdead),
            args,
        })
    }

    fn start(&mut self) -> std::io::Result<()> {
        for c in &mut self.consumers {
            c.start(&self.exe, &self.args)?;
        }
        self.producer.start(&self.exe, &self.args)
    }

    /// One look at everything while the producer publishes.
    async fn tick(&mut self) -> Result<(), BoxError> {
        self.read_published();
        self.take_due_events();
        self.run_due_actions().await;
        self.end_outage_if_over()?;
        self.tend_consumers()?;
        self.sample_caches();
        tokio::time::sleep(TICK).await;
        Ok(())
    }

    fn read_published(&mut self) {
        let lines: Vec<Published> = read_lines(&published_path(self.args.work()));
        for p in lines {
            self.published.entry(p.version).or_insert(p);
        }
    }

    fn last_published(&self) -> u64 {
        self.published.keys().next_back().copied().unwrap_or(0)
    }

    /// Moves scheduled events whose version was announced to the timed queue.
    fn take_due_events(&mut self) {
        let last = self.last_published();
        let now = Instant::now();
        while self.schedule.first().is_some_and(|e| e.at_version <= last) {
            let e = self.schedule.remove(0);
            self.due
                .push((now + Duration::from_millis(e.delay_ms), e.action));
        }
    }

    async fn run_due_actions(&mut self) {
        let now = Instant::now();
        let (ready, later): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|(at, _)| *at <= now);
        self.due = later;
        for (_, action) in ready {
            self.act(action).await;
        }
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::KillProducer => {
                let pause = self.pause(100, 600);
                if self.producer.kill(pause) {
                    self.tally.producer_kills += 1;
                    self.note("SIGKILL producer".into());
                }
            }
            Action::KillConsumer(i) => {
                let pause = self.pause(200, 1200);
                if self.consumers[i].kill(pause) {
                    self.tally.consumer_kills += 1;
                    self.note(format!("SIGKILL consumer-{i}"));
                }
            }
            Action::Outage(o) => self.start_outage(o),
            Action::Pin if self.outage_until.is_some() => self.later(action),
            Action::Pin => self.pin().await,
            Action::Unpin if !self.pin_settled() => self.later(action),
            Action::Unpin => self.unpin().await,
        }
    }

    /// Appends `what` to `timeline.jsonl`, with the time, for reading a report against.
    fn note(&mut self, what: String) {
        let path = self.args.work().join("timeline.jsonl");
        if let Err(e) = append_line(&path, &(now_ms(), &what)) {
            self.tally.errors.push(format!("timeline: {e}"));
        }
    }

    /// Tries `action` again shortly (a pin waits for the outage to end, so the consumers
    /// can read it; an unpin for the consumers to serve the pinned version).
    fn later(&mut self, action: Action) {
        self.due.push((Instant::now() + TICK, action));
    }

    /// True once every running consumer has reported serving the pinned version since the
    /// pin (the refresh event the report counts, which a consumer logs after its tidy-up;
    /// its current version shows earlier), or after 5 s.
    fn pin_settled(&self) -> bool {
        let Some((version, set_ms, _)) = self.tally.pin else {
            return true;
        };
        let reported = |i: usize, c: &Slot| {
            let run: Option<ConsumerRun> = c
                .pid()
                .and_then(|pid| read_json(&run_path(self.args.work(), i, pid)));
            run.is_some_and(|r| r.served.iter().any(|&(v, at)| v == version && at >= set_ms))
        };
        now_ms() >= set_ms + 5_000
            || (0..self.consumers.len()).all(|i| reported(i, &self.consumers[i]))
    }

    fn pause(&mut self, min_ms: u64, max_ms: u64) -> Duration {
        Duration::from_millis(min_ms + self.rng.below(max_ms - min_ms))
    }

    fn start_outage(&mut self, outage: Outage) {
        let control = Control {
            outage: Some(outage),
            stop: false,
        };
        match write_json(&control_path(self.args.work()), &control) {
            Ok(()) => {
                self.tally.outages += 1;
                self.note(format!("outage {outage:?}"));
                self.outage_until =
                    Some(Instant::now() + Duration::from_millis(self.args.fault_ms));
            }
            Err(e) => self.tally.errors.push(format!("starting an outage: {e}")),
        }
    }

    fn end_outage_if_over(&mut self) -> std::io::Result<()> {
        if self.outage_until.is_some_and(|t| Instant::now() >= t) {
            self.outage_until = None;
            write_json(&control_path(self.args.work()), &Control::default())?;
            self.note("outage over".into());
        }
        Ok(())
    }

    async fn pin(&mut self) {
        let version = self.last_published().saturating_sub(2).max(1);
        match set_pin(&*self.opened.store(), Some(Version(version))).await {
            Ok(_) => {
                self.tally.pin = Some((version, now_ms(), None));
                self.note(format!("pin {version}"));
            }
            Err(e) => self.tally.errors.push(format!("pinning {version}: {e}")),
        }
    }

    async fn unpin(&mut self) {
        match set_pin(&*self.opened.store(), None).await {
            Ok(_) => {
                if let Some(pin) = self.tally.pin.as_mut() {
                    pin.2 = Some(now_ms());
                }
                self.note("unpin".into());
            }
            Err(e) => self.tally.errors.push(format!("unpinning: {e}")),
        }
    }

    /// Restarts consumers whose pause is over, and any that ended by itself.
    fn tend_consumers(&mut self) -> std::io::Result<()> {
        for c in &mut self.consumers {
            if let Exit::Ended(status) = c.poll() {
                self.tally
                    .errors
                    .push(format!("{} ended by itself ({status})", c.name));
                c.restart_later(Duration::from_millis(500));
            }
            c.restart_if_due(&self.exe, &self.args)?;
        }
        Ok(())
    }

    fn sample_caches(&mut self) {
        for i in 0..self.consumers.len() {
            let cache = consumer_dir(self.args.work(), i).join("cache");
            let bytes = folder_bytes(&cache);
            self.tally.cache_bytes_max = self.tally.cache_bytes_max.max(bytes);
            let snapshot = largest_file(&cache.join("snapshot"));
            self.tally.cache_snapshot_max = self.tally.cache_snapshot_max.max(snapshot);
        }
    }

    /// True once the producer ended by itself after announcing the last version; restarts
    /// it when it was killed or failed.
    fn publishing_done(&mut self) -> Result<bool, BoxError> {
        if let Exit::Ended(status) = self.producer.poll() {
            self.read_published();
            if status.success() && self.last_published() >= self.args.versions {
                return Ok(true);
            }
            self.tally
                .errors
                .push(format!("producer ended by itself ({status})"));
            self.producer.restart_later(Duration::from_millis(500));
        }
        self.producer.restart_if_due(&self.exe, &self.args)?;
        Ok(false)
    }

    /// Ends an outage and the pin that are still on when the producer is done.
    async fn finish_schedule(&mut self) {
        for e in std::mem::take(&mut self.schedule) {
            if e.action == Action::Unpin {
                self.unpin().await;
            }
        }
        if self.due.iter().any(|(_, a)| *a == Action::Unpin) {
            self.unpin().await;
        }
        self.due.clear();
        if self.outage_until.take().is_some() {
            let _ = write_json(&control_path(self.args.work()), &Control::default());
        }
    }

    /// Waits until every consumer serves `last` or the deadline passes; the consumers that
    /// did not make it.
    async fn wait_for_consumers(&mut self, last: u64) -> Result<Vec<usize>, BoxError> {
        let deadline = Instant::now() + Duration::from_millis(self.args.deadline_ms);
        loop {
            self.tend_consumers()?;
            self.sample_caches();
            let behind = self.consumers_not_on(last);
            if behind.is_empty() || Instant::now() >= deadline {
                return Ok(behind);
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// The consumers (running or not) whose last report does not show them on `version`.
    fn consumers_not_on(&self, version: u64) -> Vec<usize> {
        let serving = |i: usize, c: &Slot| {
            let run: Option<ConsumerRun> = c
                .pid()
                .and_then(|pid| read_json(&run_path(self.args.work(), i, pid)));
            run.and_then(|r| r.current) == Some(version)
        };
        (0..self.consumers.len())
            .filter(|&i| !serving(i, &self.consumers[i]))
            .collect()
    }

    /// Tells the consumers to write their last report and exit.
    fn stop_consumers(&mut self) {
        let stop = Control {
            outage: None,
            stop: true,
        };
        if let Err(e) = write_json(&control_path(self.args.work()), &stop) {
            self.tally
                .errors
                .push(format!("stopping the consumers: {e}"));
        }
        for c in &mut self.consumers {
            c.wait_or_kill(Duration::from_secs(10));
        }
    }
}
