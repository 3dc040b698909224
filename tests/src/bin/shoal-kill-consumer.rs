//! A consumer that never stops, for the crash test (`tests/consumer_kill.rs`): on the folder
//! store and cache folder given on the command line, it moves to every announced-or-older
//! version in turn (`refresh_to`, forward and back), and after each pass deletes its cached
//! blobs so that the next pass downloads them again, until it is killed, so a kill lands
//! while it downloads, writes, maps or applies.
//!
//! ```text
//! shoal-kill-consumer <store folder> <cache folder> <last version>
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use shoal_consumer::Consumer;
use shoal_format::Version;
use shoal_store::FsStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, cache, last] = args.as_slice() else {
        eprintln!("usage: shoal-kill-consumer <store folder> <cache folder> <last version>");
        return ExitCode::from(2);
    };
    let Ok(last) = last.parse::<u64>() else {
        eprintln!("shoal-kill-consumer: the last version is a number");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shoal-kill-consumer: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(store, cache, last)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal-kill-consumer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(store: &str, cache: &str, last: u64) -> Result<(), BoxError> {
    let consumer = Consumer::builder(Arc::new(FsStore::new(store)?))
        .cache_dir(cache)
        .primary_key_index("Movie")
        .build()?;
    loop {
        for v in (1..=last).chain((1..last).rev()) {
            consumer.refresh_to(Version(v)).await?;
            println!("at {v}");
        }
        for kind in ["snapshot", "delta", "reverse"] {
            if let Ok(entries) = std::fs::read_dir(std::path::Path::new(cache).join(kind)) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
