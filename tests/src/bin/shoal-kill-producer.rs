//! A producer that never stops, for the crash test (`tests/producer_kill.rs`): it runs full
//! cycles on the folder store given on the command line until it is killed. Version `v`
//! always publishes [`dataset_of(v)`](shoal_tests::catalog::dataset_of), so after a restart
//! the producer knows what comes next and the test knows what every version must hold. It
//! breaks the lease on start: the process it replaces was killed and cannot release it.
//!
//! ```text
//! shoal-kill-producer <store folder>
//! ```
//!
//! Prints `restored <version>` once and `published <version>` after every cycle.

use std::process::ExitCode;
use std::sync::Arc;

use shoal_producer::Producer;
use shoal_store::FsStore;
use shoal_tests::catalog::{dataset_of, full_cycle, schema};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let Some(folder) = std::env::args().nth(1) else {
        eprintln!("usage: shoal-kill-producer <store folder>");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shoal-kill-producer: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&folder)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal-kill-producer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(folder: &str) -> Result<(), BoxError> {
    let store = Arc::new(FsStore::new(folder)?);
    let mut producer = Producer::builder(store)
        .schema(schema())
        .snapshot_every(4)
        .keep_versions(6)
        .break_lease(true)
        .build()
        .await?;
    println!("restored {}", producer.version().map_or(0, |v| v.0));
    loop {
        let next = producer.version().map_or(1, |v| v.0 + 1);
        let report = full_cycle(&mut producer, &dataset_of(next)).await?;
        if !report.published || report.version.0 != next {
            return Err(format!("cycle {next} published version {}", report.version.0).into());
        }
        println!("published {next}");
    }
}
