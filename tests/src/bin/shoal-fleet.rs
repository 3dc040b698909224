//! The fleet soak: one producer process and K consumer processes against a real store, with
//! SIGKILLs, store outages and a pin, every value every consumer reads checked against what
//! the producer published. Prints one JSON report on standard output; exits 1 when a
//! consumer read a wrong value or did not reach the last version in time (see
//! `shoal_tests::fleet`).
//!
//! ```text
//! shoal-fleet --store DIR|s3://bucket/prefix [--endpoint-url URL] --consumers K \
//!     --versions V --interval-ms MS --seed N --kills N --faults N --work DIR
//! ```

use std::process::ExitCode;

use shoal_tests::fleet::{self, Args};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match fleet::run(args) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(report)) => print(&report),
        Err(e) => {
            eprintln!("shoal-fleet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(report: &fleet::Report) -> ExitCode {
    match serde_json::to_string_pretty(report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("shoal-fleet: the report: {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
