//! Resident memory held by each side after loading version 1, measured in a child process
//! (`shoal bench --memory-probe shoal|hashmap`, hidden from `--help`) so that what the
//! benchmark allocated and freed before cannot blur the figure. The child reads, Linux only,
//! its private resident memory (`RssAnon` of `/proc/self/status`: the heap, stacks) before
//! and after loading, and the resident pages of the files it maps from the work folder (`Rss`
//! of those mappings in `/proc/self/smaps`: the snapshot), and prints both as one JSON line.
//! Pages of the executable and libraries are left out of both sides.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};
use shoal_format::{FieldValue, Version};

use super::catalog::Movie;
use super::{baseline, shoal};
use crate::error::{CliError, Result};

/// The side a child process loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Probe {
    /// A consumer loads the version from the warm cache `<dir>/cache` and reads every record
    /// once.
    Shoal,
    /// `<dir>/v1.jsonl` read and parsed into a `HashMap<u64, Movie>`.
    Hashmap,
}

/// Resident memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    /// Private memory (`RssAnon`) grown by loading: the heap.
    pub private: u64,
    /// Resident pages of the files mapped from the work folder (the snapshot).
    pub mapped: u64,
}

impl Resident {
    /// Both kinds.
    pub fn total(&self) -> u64 {
        self.private + self.mapped
    }
}

/// This process's private resident memory (`RssAnon`), or `None` where
/// `/proc/self/status` is missing.
fn private_now() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    kib(&line["RssAnon:".len()..])
}

/// `  1234 kB` in bytes.
fn kib(field: &str) -> Option<u64> {
    let n: u64 = field.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(n * 1024)
}

/// Resident bytes of this process's mappings of files under `dir`, from
/// `/proc/self/smaps`: a mapping's header line ends with its path, its `Rss:` line follows.
fn mapped_under(dir: &Path) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some(rss) = line.strip_prefix("Rss:") {
            if inside {
                total += kib(rss)?;
            }
        } else if !first.ends_with(':') {
            // A header: `start-end perms offset dev inode [path]`.
            inside = line
                .split_whitespace()
                .nth(5)
                .and_then(|_| line.find('/'))
                .is_some_and(|at| Path::new(&line[at..]).starts_with(dir));
        }
    }
    Some(total)
}

/// Runs a child process that loads `probe`'s side from `dir` and returns the resident
/// memory it grew by, or `None` where it cannot be measured.
pub fn measure(probe: Probe, dir: &Path, version: Version) -> Result<Option<Resident>> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::fail(format!("cannot find the shoal executable: {e}")))?;
    let name = match probe {
        Probe::Shoal => "shoal",
        Probe::Hashmap => "hashmap",
    };
    let output = Command::new(&exe)
        .args(["bench", "--memory-probe", name, "--probe-dir"])
        .arg(dir)
        .arg("--probe-version")
        .arg(version.0.to_string())
        .output()
        .map_err(|e| CliError::fail(format!("cannot run {}: {e}", exe.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::fail(format!(
            "the {name} memory probe failed ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The child's side: loads `probe`'s side from `dir` and prints the resident memory it
/// took as JSON (`null` where it cannot be measured).
pub async fn probe(probe: Probe, dir: &Path, version: Version) -> Result<()> {
    let taken = match probe {
        Probe::Shoal => load_shoal(dir, version).await?,
        Probe::Hashmap => load_hashmap(dir)?,
    };
    println!("{}", serde_json::to_string(&taken)?);
    Ok(())
}

/// Loads the version with a consumer, finds one key, reads every record once, and measures
/// while the consumer still holds it.
async fn load_shoal(dir: &Path, version: Version) -> Result<Option<Resident>> {
    let cache = dir.join("cache");
    let cache_path = cache.canonicalize()?;
    let Some(before) = private_now() else {
        return Ok(None);
    };
    let consumer = shoal::consumer(&dir.join("store"), &cache)?;
    consumer.refresh_to(version).await?;
    let data = shoal::loaded(&consumer)?;
    let pk = data.index_id("Movie")?;
    black_box(data.find(pk, &[FieldValue::I64(1)]));
    let movie = data.type_id("Movie")?;
    let mut ids = 0i64;
    for o in data.ordinals(movie) {
        let m: Movie = data.get(movie, o)?;
        ids = ids.wrapping_add(m.id);
    }
    black_box(ids);
    let taken = private_now().zip(mapped_under(&cache_path));
    drop(data);
    drop(consumer);
    Ok(taken.map(|(after, mapped)| Resident {
        private: after.saturating_sub(before),
        mapped,
    }))
}

/// Reads and parses the JSON lines into the map and measures while it is held.
fn load_hashmap(dir: &Path) -> Result<Option<Resident>> {
    let Some(before) = private_now() else {
        return Ok(None);
    };
    let map = baseline::load(&dir.join("v1.jsonl"))?;
    black_box(map.len());
    let taken = private_now().map(|after| Resident {
        private: after.saturating_sub(before),
        mapped: 0,
    });
    drop(map);
    Ok(taken)
}
