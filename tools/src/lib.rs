//! # shoal-tools
//!
//! The `shoal` command-line tool: produce from JSON lines and Parquet, list versions, inspect,
//! get, dump, diff, watch, verify and bench a store.
//!
//! Nothing is implemented yet: the binary arrives with the CLI issue.
#![forbid(unsafe_code)]
