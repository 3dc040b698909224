//! The soak's report, built from the files the processes left: `published.jsonl`, every run
//! report of every consumer, and the consumers' logs (wrong reads).
//!
//! **Staleness** of consumer `c` for version `v` is the time from `v`'s announcement to the
//! first moment `c` served `v` or a later version (a consumer that falls behind jumps over
//! versions; it is as fresh as the newest it serves). Versions announced while the fleet was
//! pinned count from the unpin, as do earlier versions a consumer only reached after the pin
//! was set. Kills and outages are in the figures: a consumer's downtime is staleness.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::args::Args;
use super::files::{
    consumer_runs, count_marked_lines, log_path, ConsumerRun, Published, WRONG_READ,
};
use super::store::Requests;

/// What the orchestrator counted itself.
#[derive(Debug, Default)]
pub struct Tally {
    /// SIGKILLs of the producer.
    pub producer_kills: u64,
    /// SIGKILLs of consumers.
    pub consumer_kills: u64,
    /// Outage windows.
    pub outages: u64,
    /// The pinned version, when it was pinned and when unpinned.
    pub pin: Option<(u64, u64, Option<u64>)>,
    /// The largest cache folder seen.
    pub cache_bytes_max: u64,
    /// The largest snapshot file seen in a cache (plain, where the store's may be packed).
    pub cache_snapshot_max: u64,
    /// What went wrong besides wrong reads (a process that died by itself, a failed pin).
    pub errors: Vec<String>,
}

/// Quantiles of the staleness samples, in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Staleness {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Worst.
    pub max: u64,
    /// (consumer, version) pairs measured.
    pub samples: usize,
    /// Pairs never reached.
    pub unreached: usize,
}

/// Requests per consumer (or producer) per version, by kind.
#[derive(Debug, Default, Serialize)]
pub struct PerVersion {
    /// GETs.
    pub get: f64,
    /// HEADs.
    pub head: f64,
    /// LISTs.
    pub list: f64,
    /// PUTs.
    pub put: f64,
    /// DELETEs.
    pub delete: f64,
}

/// The pin and unpin exercised.
#[derive(Debug, Serialize)]
pub struct PinReport {
    /// The version pinned.
    pub version: u64,
    /// How long the pin held, if it was lifted.
    pub held_ms: Option<u64>,
    /// Consumers that served the pinned version while it was pinned.
    pub reached_by: usize,
}

/// The JSON report of a soak.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Where the store was.
    pub store: String,
    /// How requests were counted.
    pub requests_counted_by: String,
    /// The last version announced.
    pub versions: u64,
    /// Consumer processes.
    pub consumers: usize,
    /// Values read and checked.
    pub reads: u64,
    /// Values that differed from what the producer published (must be 0).
    pub wrong_reads: u64,
    /// Announcement to serving, see the module doc.
    pub staleness_ms: Staleness,
    /// Consumers' requests per consumer per version.
    pub requests_per_consumer_per_version: PerVersion,
    /// The producer's requests per version.
    pub producer_requests_per_version: PerVersion,
    /// Bytes fetched per consumer per version.
    pub bytes_per_consumer_per_version: f64,
    /// The largest cache folder of any consumer, sampled.
    pub cache_bytes_max: u64,
    /// The largest snapshot file in any consumer's cache, sampled (plain bytes).
    pub cache_snapshot_max: u64,
    /// The largest snapshot the producer wrote (as stored: packed, maybe).
    pub snapshot_bytes_max: u64,
    /// Resident memory growth of a consumer run from the first version it served to its
    /// last, the largest over runs.
    pub rss_growth_bytes: i64,
    /// The same from the tenth version a run served (once caches are warm) to its last.
    pub rss_growth_after_warmup_bytes: i64,
    /// Growth of resident memory not backed by files (what a leak grows) over the same
    /// span, the largest over runs.
    pub anon_growth_after_warmup_bytes: i64,
    /// Outage windows.
    pub faults_injected: u64,
    /// Store calls that failed on purpose in those windows.
    pub faulted_calls: u64,
    /// Refreshes that failed.
    pub refresh_failures: u64,
    /// SIGKILLs, producer and consumers.
    pub kills: u64,
    /// SIGKILLs of the producer.
    pub producer_kills: u64,
    /// SIGKILLs of consumers.
    pub consumer_kills: u64,
    /// The pin, if one was set.
    pub pin: Option<PinReport>,
    /// Every consumer served the last version before the deadline.
    pub all_reached_last: bool,
    /// Consumers that did not.
    pub behind: Vec<usize>,
    /// Wall time of the soak.
    pub duration_ms: u64,
    /// Anything else that went wrong.
    pub errors: Vec<String>,
}

impl Report {
    /// No wrong read, and every consumer reached the last version.
    pub fn passed(&self) -> bool {
        self.wrong_reads == 0 && self.all_reached_last && self.versions > 0
    }
}

/// Builds the report.
pub fn build(
    args: &Args,
    tally: &Tally,
    published: &BTreeMap<u64, Published>,
    behind: &[usize],
    counted_by: &str,
    elapsed: Duration,
) -> Report {
    let runs: Vec<Vec<ConsumerRun>> = (0..args.consumers)
        .map(|i| consumer_runs(args.work(), i))
        .collect();
    let all = || runs.iter().flatten();
    let versions = published.keys().next_back().copied().unwrap_or(0);
    let per_consumer_version = (args.consumers as u64 * versions).max(1) as f64;
    let mut requests = Requests::default();
    all().for_each(|r| requests.add(&r.requests));
    let logged_wrong: u64 = (0..args.consumers)
        .map(|i| count_marked_lines(&log_path(args.work(), &format!("consumer-{i}")), WRONG_READ))
        .sum();
    Report {
        store: args.store.clone().unwrap_or_default(),
        requests_counted_by: counted_by.to_string(),
        versions,
        consumers: args.consumers,
        reads: all().map(|r| r.reads).sum(),
        wrong_reads: logged_wrong.max(all().map(|r| r.wrong_reads).sum()),
        staleness_ms: staleness(&runs, published, tally.pin),
        requests_per_consumer_per_version: per_version(&requests, per_consumer_version),
        producer_requests_per_version: per_version(
            &producer_requests(published),
            versions.max(1) as f64,
        ),
        bytes_per_consumer_per_version: all().map(|r| r.bytes_fetched).sum::<u64>() as f64
            / per_consumer_version,
        cache_bytes_max: tally.cache_bytes_max,
        cache_snapshot_max: tally.cache_snapshot_max,
        snapshot_bytes_max: snapshot_bytes_max(published),
        rss_growth_bytes: all()
            .filter_map(|r| growth(r.rss_first, r.rss_last))
            .max()
            .unwrap_or(0),
        rss_growth_after_warmup_bytes: all()
            .filter_map(|r| growth(r.rss_warm, r.rss_last))
            .max()
            .unwrap_or(0),
        anon_growth_after_warmup_bytes: all()
            .filter_map(|r| growth(r.anon_warm, r.anon_last))
            .max()
            .unwrap_or(0),
        faults_injected: tally.outages,
        faulted_calls: all().map(|r| r.faulted_calls).sum(),
        refresh_failures: all().map(|r| r.refresh_failures).sum(),
        kills: tally.producer_kills + tally.consumer_kills,
        producer_kills: tally.producer_kills,
        consumer_kills: tally.consumer_kills,
        pin: tally.pin.map(|p| pin_report(p, &runs)),
        all_reached_last: behind.is_empty(),
        behind: behind.to_vec(),
        duration_ms: elapsed.as_millis() as u64,
        errors: tally.errors.clone(),
    }
}

fn per_version(r: &Requests, n: f64) -> PerVersion {
    PerVersion {
        get: r.get as f64 / n,
        head: r.head as f64 / n,
        list: r.list as f64 / n,
        put: r.put as f64 / n,
        delete: r.delete as f64 / n,
    }
}

/// The last count of every producer run, summed.
fn producer_requests(published: &BTreeMap<u64, Published>) -> Requests {
    let mut last_of_run: BTreeMap<u32, Requests> = BTreeMap::new();
    for p in published.values() {
        last_of_run.insert(p.pid, p.requests);
    }
    let mut sum = Requests::default();
    last_of_run.values().for_each(|r| sum.add(r));
    sum
}

fn snapshot_bytes_max(published: &BTreeMap<u64, Published>) -> u64 {
    published
        .values()
        .flat_map(|p| &p.blobs)
        .filter(|(key, _)| key.starts_with("snapshot/"))
        .map(|(_, size)| *size)
        .max()
        .unwrap_or(0)
}

fn growth(from: Option<u64>, to: Option<u64>) -> Option<i64> {
    Some(to? as i64 - from? as i64)
}

/// Every version a consumer served, across its runs, by time.
fn served_by_time(runs: &[ConsumerRun]) -> Vec<(u64, u64)> {
    let mut served: Vec<(u64, u64)> = runs.iter().flat_map(|r| r.served.iter().copied()).collect();
    served.sort_by_key(|&(_, at)| at);
    served
}

fn staleness(
    runs: &[Vec<ConsumerRun>],
    published: &BTreeMap<u64, Published>,
    pin: Option<(u64, u64, Option<u64>)>,
) -> Staleness {
    let window = pin.map(|(_, set, cleared)| (set, cleared.unwrap_or(u64::MAX)));
    let mut samples = Vec::new();
    let mut unreached = 0;
    for consumer in runs {
        let served = served_by_time(consumer);
        for (&v, p) in published {
            let reached = served.iter().find(|&&(ver, _)| ver >= v).map(|&(_, at)| at);
            let Some(reached) = reached else {
                unreached += 1;
                continue;
            };
            let start = match window {
                Some((set, cleared)) if reached > set && p.at_ms < cleared => p.at_ms.max(cleared),
                _ => p.at_ms,
            };
            samples.push(reached.saturating_sub(start));
        }
    }
    samples.sort_unstable();
    let q = |pct: usize| {
        samples
            .get((samples.len().saturating_sub(1)) * pct / 100)
            .copied()
            .unwrap_or(0)
    };
    Staleness {
        p50: q(50),
        p99: q(99),
        max: samples.last().copied().unwrap_or(0),
        samples: samples.len(),
        unreached,
    }
}

fn pin_report(pin: (u64, u64, Option<u64>), runs: &[Vec<ConsumerRun>]) -> PinReport {
    let (version, set, cleared) = pin;
    let end = cleared.unwrap_or(u64::MAX);
    let reached_by = runs
        .iter()
        .filter(|c| {
            c.iter()
                .flat_map(|r| &r.served)
                .any(|&(v, at)| v == version && at >= set && at <= end)
        })
        .count();
    PinReport {
        version,
        held_ms: cleared.map(|c| c.saturating_sub(set)),
        reached_by,
    }
}
