//! # shoal-consumer
//!
//! The service side of shoal, and the reason it exists. This crate will own fetching blobs into
//! a local cache, memory-mapping them, applying delta chains by sharing every unchanged column
//! page with the previous version, hot-swapping versions behind an atomic pointer, indexes kept
//! up to date across deltas, and the typed and dynamic read API.
//!
//! Nothing is implemented yet: it arrives with the consumer issue.
