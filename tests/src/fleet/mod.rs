//! The fleet soak behind the `shoal-fleet` binary: one producer process and K consumer
//! processes against a real store (a folder, or an S3 prefix), with SIGKILLs of both, store
//! outages seen by the consumers, and a pin and an unpin while the producer keeps
//! publishing. Every consumer checks every value it reads against what the producer
//! published for the version it serves; the orchestrator prints one JSON [`Report`].
//!
//! The binary re-executes itself for each role (`shoal-fleet producer ...`,
//! `shoal-fleet consumer ...`); the processes talk through small files in the work folder
//! (see [`files`]). What a version holds is computed, not stored ([`truth`]): seed and
//! version number give the exact dataset, so a consumer can check any version at any time.

pub mod args;
mod consumer;
pub mod files;
mod orchestrator;
mod plan;
mod process;
mod producer;
mod reader;
pub mod report;
mod store;
pub mod truth;

pub use args::{Args, Role};
pub use report::Report;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs one process of a soak in the role `args` names; the orchestrator returns the report.
pub fn run(args: Args) -> Result<Option<Report>, BoxError> {
    match args.role {
        Role::Orchestrator => runtime(1)?.block_on(orchestrator::run(args)).map(Some),
        Role::Producer => runtime(2)?.block_on(producer::run(&args)).map(|()| None),
        Role::Consumer => runtime(1)?.block_on(consumer::run(&args)).map(|()| None),
    }
}

fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}
