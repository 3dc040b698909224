//! The command line of `shoal-fleet`, shared by its three roles: the orchestrator parses it
//! from the user and hands the same settings to every process it starts.

use std::path::PathBuf;

/// Which process this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Starts, kills and restarts the others, injects faults, pins, and reports.
    Orchestrator,
    /// Publishes the versions.
    Producer,
    /// Follows the store and checks every value it reads.
    Consumer,
}

/// Every setting of a soak.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "shoal-fleet",
    about = "The fleet soak: one producer and K consumer processes against a real store, with \
             SIGKILLs, store outages and a pin; every value read is checked. Prints a JSON report.",
    max_term_width = 100
)]
pub struct Args {
    /// The process's role (the orchestrator starts the others with theirs).
    #[arg(value_enum, default_value_t = Role::Orchestrator, hide = true)]
    pub role: Role,
    /// A folder, or `s3://bucket/prefix` (default: `<work>/store`).
    #[arg(long)]
    pub store: Option<String>,
    /// The S3 endpoint (an S3-compatible server).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Consumer processes.
    #[arg(long, default_value_t = 3)]
    pub consumers: usize,
    /// Versions the producer publishes.
    #[arg(long, default_value_t = 30)]
    pub versions: u64,
    /// Pause between two cycles of the producer, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Seeds the data, the changes, the faults and the schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// SIGKILLs, of the producer and of consumers in turn.
    #[arg(long, default_value_t = 0)]
    pub kills: usize,
    /// Store outage windows seen by the consumers (blobs and announcement in turn).
    #[arg(long, default_value_t = 0)]
    pub faults: usize,
    /// How long an outage window lasts, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub fault_ms: u64,
    /// Pin and unpin the fleet once (1) or not (0).
    #[arg(long, default_value_t = 1)]
    pub pins: usize,
    /// The working folder: logs, caches, reports (default: a new temporary folder).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Movies in the catalog.
    #[arg(long, default_value_t = 2000)]
    pub records: i64,
    /// Share of the movies changed in a version, in percent, against a fixed base.
    #[arg(long, default_value_t = 2)]
    pub change_percent: u64,
    /// How often a consumer polls the announcement on S3, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
    /// A follower's random delay before fetching a new version, in milliseconds (0: none).
    #[arg(long, default_value_t = 0)]
    pub spread_ms: u64,
    /// After the producer stops, how long consumers have to reach its last version (ms).
    #[arg(long, default_value_t = 30_000)]
    pub deadline_ms: u64,
    /// Lookups a consumer's reader makes between two 1 ms pauses.
    #[arg(long, default_value_t = 100)]
    pub read_batch: usize,
    /// The consumer's number (consumer role only).
    #[arg(long, default_value_t = 0, hide = true)]
    pub id: usize,
}

impl Default for Args {
    fn default() -> Self {
        <Args as clap::Parser>::parse_from(["shoal-fleet"])
    }
}

impl Args {
    /// Parses the arguments after the program name; an error carries clap's message (and
    /// `--help` its help text).
    pub fn parse(argv: &[String]) -> Result<Args, clap::Error> {
        let program = std::iter::once("shoal-fleet".to_string());
        <Args as clap::Parser>::try_parse_from(program.chain(argv.iter().cloned()))
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
        assert_eq!(Args::default().consumers, 3);
    }
}
