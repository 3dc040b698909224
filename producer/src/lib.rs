//! # shoal-producer
//!
//! The batch side of shoal. This crate will own producer cycles: take the whole new dataset,
//! dedup it, keep the ordinal of every unchanged record, place new records so a delta touches
//! few column pages, write snapshot, delta and reverse delta with `shoal-format`, validate,
//! publish to a `shoal-store` blob store, announce last, and restore after a restart.
//!
//! Nothing is implemented yet: it arrives with the producer issue.
#![forbid(unsafe_code)]
