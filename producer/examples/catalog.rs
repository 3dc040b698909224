//! The main job on the benchmark catalog: publish version 1 and version 2 of
//! `../shared/datasets/gen_catalog.py` (N titles, default 100 000) to a folder store
//! (default `./shoal-data`), streaming each JSON lines file through a producer cycle, and
//! print each cycle's report with the peak heap the process needed, its wall time and the
//! process's peak RSS during the cycle.
//!
//! ```text
//! cargo run --release -p shoal-producer --example catalog -- [N] [FOLDER]
//! cargo run --release -p shoal-producer --example catalog -- [N] [FOLDER] --generate
//! ```
//!
//! With `--generate` the movies come from `format/examples/catalog/gen.rs` instead: the same
//! distributions generated record by record while the cycle adds them, no JSON lines written
//! or read, so N = 100 000 000 needs no 16 GB file.
//!
//! Run it again and the producer restores the announced version from the folder and
//! continues the chain (v1's data again becomes version 3, v2's version 4).

#[path = "../../format/examples/catalog/gen.rs"]
mod gen;
#[path = "../../format/examples/catalog/load.rs"]
mod load;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use load::Movie;
use shoal_producer::{BoxError, Producer};
use shoal_store::FsStore;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    // Forwarded, not left to the default (a new block, a copy and a free): that default
    // copied every growing or shrinking vector, and the 4.75 GB snapshot of a 100M cycle
    // when it was trimmed, which the system allocator remaps in place.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut generate = false;
    let mut args = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--generate" => generate = true,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}").into()),
            _ => args.push(a),
        }
    }
    let mut args = args.into_iter();
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let folder = args.next().unwrap_or_else(|| "shoal-data".into());
    let data = (!generate).then(|| load::ensure_catalog(n));
    let store = Arc::new(FsStore::new(&folder)?);
    let mut producer = Producer::builder(store)
        .schema(load::schema())
        .root_type("Movie")
        .build()
        .await?;
    if let Some(v) = producer.version() {
        println!("restored version {} from {folder}", v.0);
    }
    for (version, file) in [(1, "v1.jsonl"), (2, "v2.jsonl")] {
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = LIVE.load(Ordering::Relaxed);
        // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
        let rss_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let started = Instant::now();
        let report = match &data {
            Some(data) => {
                let path = data.join(file);
                producer
                    .run_cycle(move |w| {
                        let reader = std::io::BufReader::new(std::fs::File::open(&path)?);
                        for (i, line) in reader.lines().enumerate() {
                            let movie: load::Movie = serde_json::from_str(&line?)
                                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
                            w.add(&movie)?;
                        }
                        Ok::<_, BoxError>(())
                    })
                    .await?
            }
            None => {
                producer
                    .run_cycle(move |w| {
                        let n = n as u64;
                        let movies: Box<dyn Iterator<Item = load::Movie>> = match version {
                            1 => Box::new(gen::v1(n)),
                            _ => Box::new(gen::v2(n, 1.0)),
                        };
                        for movie in movies {
                            w.add(&movie)?;
                        }
                        Ok::<_, BoxError>(())
                    })
                    .await?
            }
        };
        let wall = started.elapsed();
        let peak = PEAK.load(Ordering::Relaxed);
        let heap = format!(
            "  heap: {:.1} MB before, peak {:.1} MB",
            before as f64 / 1e6,
            peak as f64 / 1e6
        );
        match &data {
            Some(data) => {
                let json_bytes = std::fs::metadata(data.join(file))?.len();
                println!("{file} -> {report}");
                println!(
                    "{heap} = {:.2}x the JSON lines ({:.1} MB)",
                    peak as f64 / json_bytes as f64,
                    json_bytes as f64 / 1e6
                );
            }
            None => {
                println!("v{version} (generated) -> {report}");
                println!("{heap}");
            }
        }
        println!("{}\n", cycle_line(wall, rss_reset));
    }
    producer.close().await?;
    Ok(())
}

/// The cycle's wall time and the process's peak resident set (VmHWM), since the cycle began
/// when `rss_reset`, else since the process began.
fn cycle_line(wall: std::time::Duration, rss_reset: bool) -> String {
    let hwm_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    let rss = match hwm_kb {
        Some(kb) => format!("{:.1} MB", kb as f64 / 1e3),
        None => "unknown".into(),
    };
    let since = if rss_reset {
        ""
    } else {
        " (since the process began)"
    };
    format!("  wall {:.2} s, peak RSS {rss}{since}", wall.as_secs_f64())
}
