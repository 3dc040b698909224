//! # shoal-tests
//!
//! End-to-end tests across shoal's crates, against real stores (a local folder and a real
//! S3-compatible server). The tests arrive with the store, producer and consumer issues; the
//! format's own tests live in `format/tests/`.
#![forbid(unsafe_code)]
