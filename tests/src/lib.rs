//! # shoal-tests
//!
//! End-to-end tests across shoal's crates, against real stores (a local folder and a real
//! S3-compatible server). The tests arrive with the store, producer and consumer issues; the
//! format's own tests live in `format/tests/`.
//!
//! The library holds what the tests share: [`catalog`], a small movie catalog with seeded
//! random changes, and [`chain`], a reader that rebuilds a version from a store the way a
//! consumer would (snapshot, then deltas, every checksum verified), independent of the
//! producer's own restore. The binary `shoal-kill-producer` runs producer cycles forever for
//! the crash test (`tests/producer_kill.rs`), which kills it at random moments.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod chain;
pub mod fleet;
pub mod test_server;
