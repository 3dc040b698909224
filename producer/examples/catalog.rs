//! The main job on the benchmark catalog: publish version 1 and version 2 of
//! `../shared/datasets/gen_catalog.py` (N titles, default 100 000) to a folder store
//! (default `./shoal-data`), streaming each JSON lines file through a producer cycle, and
//! print each cycle's report with the peak heap the process needed.
//!
//! ```text
//! cargo run --release -p shoal-producer --example catalog -- [N] [FOLDER]
//! ```
//!
//! Run it again and the producer restores the announced version from the folder and
//! continues the chain (v1's data again becomes version 3, v2's version 4).

#[path = "../../format/examples/catalog/load.rs"]
mod load;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let folder = args.next().unwrap_or_else(|| "shoal-data".into());
    let data = load::ensure_catalog(n);
    let store = Arc::new(FsStore::new(&folder)?);
    let mut producer = Producer::builder(store)
        .schema(load::schema())
        .root_type("Movie")
        .build()
        .await?;
    if let Some(v) = producer.version() {
        println!("restored version {} from {folder}", v.0);
    }
    for file in ["v1.jsonl", "v2.jsonl"] {
        let path = data.join(file);
        let json_bytes = std::fs::metadata(&path)?.len();
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = LIVE.load(Ordering::Relaxed);
        let report = producer
            .run_cycle(move |w| {
                let reader = std::io::BufReader::new(std::fs::File::open(&path)?);
                for (i, line) in reader.lines().enumerate() {
                    let movie: load::Movie = serde_json::from_str(&line?)
                        .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
                    w.add(&movie)?;
                }
                Ok::<_, BoxError>(())
            })
            .await?;
        let peak = PEAK.load(Ordering::Relaxed);
        println!("{file} -> {report}");
        println!(
            "  heap: {:.1} MB before, peak {:.1} MB = {:.2}x the JSON lines ({:.1} MB)\n",
            before as f64 / 1e6,
            peak as f64 / 1e6,
            peak as f64 / json_bytes as f64,
            json_bytes as f64 / 1e6
        );
    }
    producer.close().await?;
    Ok(())
}
