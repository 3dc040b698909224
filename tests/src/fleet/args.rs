//! The command line of `shoal-fleet`, shared by its three roles: the orchestrator parses it
//! from the user and hands the same settings to every process it starts.

use std::path::PathBuf;
use std::str::FromStr;

/// Which process this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Starts, kills and restarts the others, injects faults, pins, and reports.
    Orchestrator,
    /// Publishes the versions.
    Producer,
    /// Follows the store and checks every value it reads.
    Consumer,
}

/// Every setting of a soak.
#[derive(Debug, Clone)]
pub struct Args {
    /// The process's role (first word: `producer`, `consumer`, else the orchestrator).
    pub role: Role,
    /// A folder, or `s3://bucket/prefix` (default: `<work>/store`).
    pub store: Option<String>,
    /// The S3 endpoint (an S3-compatible server).
    pub endpoint_url: Option<String>,
    /// Consumer processes.
    pub consumers: usize,
    /// Versions the producer publishes.
    pub versions: u64,
    /// Pause between two cycles of the producer.
    pub interval_ms: u64,
    /// Seeds the data, the changes, the faults and the schedule.
    pub seed: u64,
    /// SIGKILLs, of the producer and of consumers in turn.
    pub kills: usize,
    /// Store outage windows seen by the consumers (blobs and announcement in turn).
    pub faults: usize,
    /// How long an outage window lasts.
    pub fault_ms: u64,
    /// Pin and unpin the fleet once (1) or not (0).
    pub pins: usize,
    /// The working folder: logs, caches, reports (default: a new temporary folder).
    pub work: Option<PathBuf>,
    /// Movies in the catalog.
    pub records: i64,
    /// Share of the movies changed in a version, in percent, against a fixed base.
    pub change_percent: u64,
    /// How often a consumer polls the announcement on S3.
    pub poll_ms: u64,
    /// A follower's random delay before fetching a new version (0: none).
    pub spread_ms: u64,
    /// After the producer stops, how long consumers have to reach its last version.
    pub deadline_ms: u64,
    /// Lookups a consumer's reader makes between two 1 ms pauses.
    pub read_batch: usize,
    /// The consumer's number (consumer role only).
    pub id: usize,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            role: Role::Orchestrator,
            store: None,
            endpoint_url: None,
            consumers: 3,
            versions: 30,
            interval_ms: 100,
            seed: 1,
            kills: 0,
            faults: 0,
            fault_ms: 1500,
            pins: 1,
            work: None,
            records: 2000,
            change_percent: 2,
            poll_ms: 500,
            spread_ms: 0,
            deadline_ms: 30_000,
            read_batch: 100,
            id: 0,
        }
    }
}

/// The usage line.
pub const USAGE: &str = "usage: shoal-fleet [--store DIR|s3://bucket/prefix] [--endpoint-url URL] \
[--consumers K] [--versions V] [--interval-ms MS] [--seed N] [--kills N] [--faults N] \
[--fault-ms MS] [--pins 0|1] [--work DIR] [--records N] [--change-percent P] [--poll-ms MS] \
[--spread-ms MS] [--deadline-ms MS] [--read-batch N]";

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut args = Args::default();
        let role = match argv.first().map(String::as_str) {
            Some("producer") => Some(Role::Producer),
            Some("consumer") => Some(Role::Consumer),
            _ => None,
        };
        let rest = match role {
            Some(role) => {
                args.role = role;
                &argv[1..]
            }
            None => argv,
        };
        if rest.len() % 2 != 0 {
            return Err(format!("every option takes a value\n{USAGE}"));
        }
        for pair in rest.chunks(2) {
            args.set(&pair[0], &pair[1])?;
        }
        Ok(args)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = value;
        match key {
            "--store" => self.store = Some(v.to_string()),
            "--endpoint-url" => self.endpoint_url = Some(v.to_string()),
            "--work" => self.work = Some(PathBuf::from(v)),
            "--consumers" => self.consumers = number(key, v)?,
            "--versions" => self.versions = number(key, v)?,
            "--interval-ms" => self.interval_ms = number(key, v)?,
            "--seed" => self.seed = number(key, v)?,
            "--kills" => self.kills = number(key, v)?,
            "--faults" => self.faults = number(key, v)?,
            "--fault-ms" => self.fault_ms = number(key, v)?,
            "--pins" => self.pins = number(key, v)?,
            "--records" => self.records = number(key, v)?,
            "--change-percent" => self.change_percent = number(key, v)?,
            "--poll-ms" => self.poll_ms = number(key, v)?,
            "--spread-ms" => self.spread_ms = number(key, v)?,
            "--deadline-ms" => self.deadline_ms = number(key, v)?,
            "--read-batch" => self.read_batch = number(key, v)?,
            "--id" => self.id = number(key, v)?,
            _ => return Err(format!("unknown option `{key}`\n{USAGE}")),
        }
        Ok(())
    }

    /// The arguments that start a child process in `role` with these settings.
    pub fn child_argv(&self, role: Role, id: usize) -> Vec<String> {
        let name = match role {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Orchestrator => unreachable!("the orchestrator is not a child"),
        };
        let mut argv = vec![name.to_string()];
        let mut push = |k: &str, v: String| {
            argv.push(k.to_string());
            argv.push(v);
        };
        push("--store", self.store.clone().unwrap_or_default());
        if let Some(url) = &self.endpoint_url {
            push("--endpoint-url", url.clone());
        }
        let work = self
            .work
            .as_ref()
            .expect("the orchestrator sets the work folder");
        push("--work", work.display().to_string());
        push("--versions", self.versions.to_string());
        push("--interval-ms", self.interval_ms.to_string());
        push("--seed", self.seed.to_string());
        push("--records", self.records.to_string());
        push("--change-percent", self.change_percent.to_string());
        push("--poll-ms", self.poll_ms.to_string());
        push("--spread-ms", self.spread_ms.to_string());
        push("--read-batch", self.read_batch.to_string());
        push("--id", id.to_string());
        argv
    }

    /// The working folder (set by the orchestrator before it starts anything).
    pub fn work(&self) -> &std::path::Path {
        self.work.as_deref().expect("the work folder is set")
    }
}

fn number<T: FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{key} takes a number, not `{value}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_child_parses_what_the_orchestrator_hands_it() {
        let mut args = Args::parse(&strings(&[
            "--consumers",
            "5",
            "--versions",
            "9",
            "--seed",
            "7",
        ]))
        .unwrap();
        assert_eq!(args.role, Role::Orchestrator);
        args.work = Some(PathBuf::from("/tmp/w"));
        args.store = Some("/tmp/w/store".into());
        let child = Args::parse(&args.child_argv(Role::Consumer, 3)).unwrap();
        assert_eq!(child.role, Role::Consumer);
        assert_eq!((child.id, child.versions, child.seed), (3, 9, 7));
        assert_eq!(child.store.as_deref(), Some("/tmp/w/store"));
    }

    #[test]
    fn unknown_options_and_bad_numbers_are_refused() {
        assert!(Args::parse(&strings(&["--nope", "1"])).is_err());
        assert!(Args::parse(&strings(&["--kills", "many"])).is_err());
        assert!(Args::parse(&strings(&["--kills"])).is_err());
    }
}
