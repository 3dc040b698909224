//! `shoal bench`: generates the benchmark catalog (two versions), runs the producer and a
//! consumer on it, and measures each figure beside the obvious alternative, the same records
//! as JSON lines loaded with serde_json into a `HashMap<u64, Movie>`; then prints one table.
//!
//! Everything happens in a temporary folder (removed at the end, or `--keep DIR`): the JSON
//! lines of version 1, the folder store the producer publishes to, the consumer's cache.
//! Records are generated in memory before anything is timed, so producer cycles exclude
//! parsing. Times are medians of a few repetitions ([`CYCLE_REPS`], [`STARTUP_REPS`],
//! [`APPLY_REPS`], [`LOOKUP_ROUNDS`]); resident memory is measured once per side, in a child
//! process (see `bench/memory.rs`).

mod baseline;
mod catalog;
mod memory;
mod report;
mod shoal;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use shoal_format::Version;

use self::baseline::ChangeJson;
use self::catalog::{Catalog, Movie};
use self::memory::{Probe, Resident};
use self::shoal::Published;
use crate::error::{CliError, Result};
use crate::ui::{self, Out};

/// Producer cycles (v1 then v2, each time on an empty store) measured per run.
pub const CYCLE_REPS: usize = 3;
/// Start-ups measured per side (consumer from cached blobs; reading and parsing JSON lines).
pub const STARTUP_REPS: usize = 5;
/// Delta applications measured per side.
pub const APPLY_REPS: usize = 5;
/// Rounds of lookups over the random keys, per side.
pub const LOOKUP_ROUNDS: usize = 20;
/// Random existing keys looked up per round.
pub const LOOKUP_KEYS: usize = 4096;

/// The phases the progress bar steps through.
const PHASES: [&str; 7] = [
    "generate",
    "serialise",
    "produce",
    "memory",
    "start-up",
    "lookups",
    "apply",
];

/// Arguments of `shoal bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Titles in version 1 of the catalog.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub records: u64,
    /// Version 2 edits P% of the titles, removes P/2 % and adds as many as it removes (1:
    /// 1% edited, 0.5% removed, 0.5% added).
    #[arg(long, value_name = "P", default_value_t = 1.0)]
    pub change_pct: f64,
    /// Keep the JSON lines, the store and the cache in DIR (new or empty) instead of a
    /// temporary folder removed at the end.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Internal: load one side and print the resident memory it took (run by `shoal bench`
    /// in a child process).
    #[arg(long, value_enum, hide = true, requires = "probe_dir")]
    pub memory_probe: Option<Probe>,
    /// Internal: the folder the memory probe loads from.
    #[arg(long, hide = true)]
    pub probe_dir: Option<PathBuf>,
    /// Internal: the version the memory probe loads.
    #[arg(long, hide = true, default_value_t = 1)]
    pub probe_version: u64,
}

/// One side's lookups: nanoseconds per lookup in each round, and keys found.
#[derive(Debug)]
pub struct Lookups {
    /// Nanoseconds per lookup, one figure per round.
    pub ns: Vec<f64>,
    /// Keys found (in a pass before the timed rounds).
    pub found: usize,
}

/// Runs `shoal bench`.
pub async fn run(a: &BenchArgs, out: Out) -> Result<()> {
    if let Some(probe) = a.memory_probe {
        let dir = a
            .probe_dir
            .as_deref()
            .ok_or_else(|| CliError::usage("--memory-probe needs --probe-dir"))?;
        return memory::probe(probe, dir, Version(a.probe_version)).await;
    }
    if !(a.change_pct > 0.0 && a.change_pct <= 60.0) {
        return Err(CliError::usage(format!(
            "--change-pct {}: give a percentage above 0 and at most 60 (edits P%, removes P/2 %)",
            a.change_pct
        )));
    }
    let work = Workdir::new(a.keep.as_deref())?;
    let started = Instant::now();
    let bar = ui::progress(Some(PHASES.len() as u64), PHASES[0]);
    let measured = measure(a, work.path(), &bar).await;
    bar.finish_and_clear();
    let measured = measured?;
    let report = report::build(&measured, started.elapsed(), a.keep.as_deref());
    out.report(&report, report::text);
    Ok(())
}

/// Everything measured, raw, for [`report::build`].
#[derive(Debug)]
pub struct Measured {
    /// The generated catalog.
    pub catalog: Catalog,
    /// `--change-pct`.
    pub change_pct: f64,
    /// The JSON lines side of serialisation and sizes.
    pub json: JsonSide,
    /// What the producer published and its cycle times.
    pub published: Published,
    /// Resident memory grown by loading, shoal's side.
    pub memory_shoal: Option<Resident>,
    /// Resident memory grown by loading, the HashMap's side.
    pub memory_map: Option<Resident>,
    /// Consumer start-ups.
    pub startup_shoal: Vec<Duration>,
    /// JSON lines read and parsed into the map.
    pub startup_map: Vec<Duration>,
    /// Lookups in the consumer's dataset.
    pub lookups_shoal: Lookups,
    /// Lookups in the map.
    pub lookups_map: Lookups,
    /// Delta applications, and the movies after.
    pub apply_shoal: (Vec<Duration>, u64),
    /// Changes applied to the map, and its length after.
    pub apply_map: (Vec<Duration>, u64),
}

/// The JSON lines figures.
#[derive(Debug)]
pub struct JsonSide {
    /// Serialising version 1, per repetition.
    pub serialise_v1: Vec<Duration>,
    /// Serialising version 2, per repetition.
    pub serialise_v2: Vec<Duration>,
    /// Bytes of version 1 as JSON lines.
    pub v1_bytes: u64,
    /// The change v1 -> v2 as JSON.
    pub forward: ChangeJson,
    /// Bytes of the change v2 -> v1 as JSON.
    pub reverse_bytes: u64,
}

async fn measure(a: &BenchArgs, dir: &Path, bar: &ProgressBar) -> Result<Measured> {
    let catalog = catalog::generate(a.records as usize, a.change_pct);
    step(bar, "serialise");
    let json = json_side(&catalog, dir)?;
    step(bar, "produce");
    let store = dir.join("store");
    let cache = dir.join("cache");
    let published = shoal::produce(&catalog, &store, dir, CYCLE_REPS).await?;
    step(bar, "memory");
    let v1 = published.v1;
    shoal::warm_cache(&store, &cache, v1).await?;
    let memory_shoal = memory::measure(Probe::Shoal, dir, v1)?;
    let memory_map = memory::measure(Probe::Hashmap, dir, v1)?;
    step(bar, "start-up");
    let key = catalog.v1[catalog.v1.len() / 2].id;
    let (startup_shoal, consumer) = shoal::startup(&store, &cache, v1, key, STARTUP_REPS).await?;
    let (startup_map, mut map) = baseline::load_timed(&dir.join("v1.jsonl"), STARTUP_REPS)?;
    step(bar, "lookups");
    let keys = random_keys(&catalog.v1, LOOKUP_KEYS);
    let data = shoal::loaded(&consumer)?;
    let lookups_shoal = shoal::lookups(&data, &keys, LOOKUP_ROUNDS)?;
    let lookups_map = baseline::lookups(&map, &keys, LOOKUP_ROUNDS);
    step(bar, "apply");
    let delta = store.join(format!("delta/{}-{}", v1.0, published.v2.0));
    let apply_shoal = shoal::apply(&data, &delta, APPLY_REPS)?;
    let reverse = catalog.reverse();
    let apply_map = baseline::apply_timed(&mut map, &json.forward, &reverse, APPLY_REPS)?;
    drop(reverse);
    Ok(Measured {
        catalog,
        change_pct: a.change_pct,
        json,
        published,
        memory_shoal,
        memory_map,
        startup_shoal,
        startup_map,
        lookups_shoal,
        lookups_map,
        apply_shoal,
        apply_map,
    })
}

fn step(bar: &ProgressBar, what: &str) {
    bar.inc(1);
    bar.set_message(what.to_string());
}

/// Serialises both versions (timed), writes version 1's JSON lines to `dir/v1.jsonl`, and
/// serialises the change both ways.
fn json_side(catalog: &Catalog, dir: &Path) -> Result<JsonSide> {
    let (serialise_v1, v1_lines) = baseline::serialise_timed(&catalog.v1, CYCLE_REPS)?;
    let (serialise_v2, _) = baseline::serialise_timed(&catalog.v2, CYCLE_REPS)?;
    let path = dir.join("v1.jsonl");
    std::fs::write(&path, &v1_lines)
        .map_err(|e| CliError::fail(format!("cannot write {}: {e}", path.display())))?;
    Ok(JsonSide {
        serialise_v1,
        serialise_v2,
        v1_bytes: v1_lines.len() as u64,
        forward: ChangeJson::new(&catalog.forward())?,
        reverse_bytes: ChangeJson::new(&catalog.reverse())?.len(),
    })
}

/// `n` ids of `movies` drawn at random (xorshift, fixed seed), repeats possible.
fn random_keys(movies: &[Movie], n: usize) -> Vec<i64> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            movies[(seed % movies.len() as u64) as usize].id
        })
        .collect()
}

/// The median of `v` (the upper one of an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The folder everything is written to: temporary, or `--keep DIR`.
enum Workdir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Workdir {
    fn new(keep: Option<&Path>) -> Result<Workdir> {
        let Some(dir) = keep else {
            let temp = tempfile::Builder::new()
                .prefix("shoal-bench.")
                .tempdir()
                .map_err(|e| CliError::fail(format!("cannot make a temporary folder: {e}")))?;
            return Ok(Workdir::Temp(temp));
        };
        let cannot = |e: std::io::Error| CliError::fail(format!("--keep {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(cannot)?;
        if std::fs::read_dir(dir).map_err(cannot)?.next().is_some() {
            return Err(CliError::usage(format!(
                "--keep {}: the folder is not empty; give a new or empty folder",
                dir.display()
            )));
        }
        Ok(Workdir::Kept(dir.to_path_buf()))
    }

    fn path(&self) -> &Path {
        match self {
            Workdir::Temp(t) => t.path(),
            Workdir::Kept(p) => p,
        }
    }
}
