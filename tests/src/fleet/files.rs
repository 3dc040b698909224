//! What the processes of a soak tell each other, through small files in the work folder:
//!
//! - `control.json` (orchestrator -> consumers): the outage to inject now, and when to stop;
//! - `published.jsonl` (producer -> orchestrator): one line per version, when it was announced
//!   and the blobs written for it;
//! - `consumer-<i>/run-<pid>.json` (consumer -> orchestrator): what one run of consumer `i`
//!   served and when, what it read, fetched and asked of the store; rewritten whole (and
//!   renamed into place) every 100 ms, so a SIGKILL loses at most the last 100 ms of counts;
//! - `consumer-<i>.log`: a consumer's standard error, one `WRONG READ` line per wrong value,
//!   written the moment it is found (the report counts these lines);
//! - `timeline.jsonl` (orchestrator): every kill, outage, pin and unpin, and when.
//!
//! Times are wall-clock milliseconds since the Unix epoch, comparable across processes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::store::Requests;

/// The mark of a wrong read in a consumer's log.
pub const WRONG_READ: &str = "WRONG READ";

/// Which store outage the consumers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outage {
    /// Every read of a snapshot, delta or reverse delta fails.
    Blobs,
    /// Every read of the announcement fails.
    Announcement,
}

/// The orchestrator's orders to the consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// The outage in force, if any.
    pub outage: Option<Outage>,
    /// Write the last report and exit.
    pub stop: bool,
}

/// One version the producer announced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// The version.
    pub version: u64,
    /// When it was announced: the cycle's return less what the cycle did after its
    /// announcement (deleting old blobs), from the cycle's timings.
    pub at_ms: u64,
    /// Blobs written for it, with their sizes.
    pub blobs: Vec<(String, u64)>,
    /// The producer run (process id).
    pub pid: u32,
    /// Requests this producer run sent so far.
    pub requests: Requests,
}

/// What one run of one consumer did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsumerRun {
    /// The consumer's number.
    pub id: usize,
    /// The process.
    pub pid: u32,
    /// Every version this run started serving, and when.
    pub served: Vec<(u64, u64)>,
    /// Values read and checked.
    pub reads: u64,
    /// Values that differed from what the producer published.
    pub wrong_reads: u64,
    /// Requests this run sent.
    pub requests: Requests,
    /// Bytes fetched from the store (sum of the refresh events).
    pub bytes_fetched: u64,
    /// Resident memory when this run first served a version, and at its last one.
    pub rss_first: Option<u64>,
    /// See `rss_first`.
    pub rss_last: Option<u64>,
    /// Resident memory at the tenth version this run served (caches warm).
    pub rss_warm: Option<u64>,
    /// Resident memory not backed by files (heap, stacks: what a leak grows), at the tenth
    /// version served and at the last. Mapped blobs are file-backed: the page cache's.
    #[serde(default)]
    pub anon_warm: Option<u64>,
    /// See `anon_warm`.
    #[serde(default)]
    pub anon_last: Option<u64>,
    /// Store calls failed on purpose.
    pub faulted_calls: u64,
    /// Refreshes that failed.
    pub refresh_failures: u64,
    /// The version served at the last write.
    pub current: Option<u64>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The control file.
pub fn control_path(work: &Path) -> PathBuf {
    work.join("control.json")
}

/// The producer's log of announced versions.
pub fn published_path(work: &Path) -> PathBuf {
    work.join("published.jsonl")
}

/// Consumer `id`'s folder (its cache and run reports).
pub fn consumer_dir(work: &Path, id: usize) -> PathBuf {
    work.join(format!("consumer-{id}"))
}

/// A process's log (its standard error).
pub fn log_path(work: &Path, name: &str) -> PathBuf {
    work.join(format!("{name}.log"))
}

/// Writes `value` as JSON to `path` atomically (a temporary file renamed over it).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(value)?)?;
    std::fs::rename(&tmp, path)
}

/// Reads the JSON in `path`, or `None` if it is missing or not whole.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Appends `value` as one JSON line to `path` (one write, so a killed writer leaves whole
/// lines or a torn last one, which readers skip).
pub fn append_line<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)
}

/// Every whole line of `path` that parses.
pub fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every run report of consumer `id`.
pub fn consumer_runs(work: &Path, id: usize) -> Vec<ConsumerRun> {
    let Ok(entries) = std::fs::read_dir(consumer_dir(work, id)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| read_json(&p))
        .collect()
}

/// The run report of consumer `id` in process `pid`.
pub fn run_path(work: &Path, id: usize, pid: u32) -> PathBuf {
    consumer_dir(work, id).join(format!("run-{pid}.json"))
}

/// Lines of `path` containing `mark`.
pub fn count_marked_lines(path: &Path, mark: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| l.contains(mark)).count() as u64
}

/// This process's resident memory in bytes (Linux; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    statm().map(|(resident, _)| resident)
}

/// This process's resident memory not backed by a file (resident minus shared), in bytes.
pub fn anon_bytes() -> Option<u64> {
    statm().map(|(resident, shared)| resident.saturating_sub(shared))
}

/// Resident and shared (file-backed) bytes from `/proc/self/statm`.
fn statm() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    Some((resident * 4096, shared * 4096))
}

/// The size of the largest file right in `dir` (0 when none).
pub fn largest_file(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok().filter(|m| m.is_file()))
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// Bytes of every file under `dir` (files vanishing meanwhile are skipped).
pub fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
