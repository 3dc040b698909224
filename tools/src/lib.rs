//! # shoal-tools
//!
//! The `shoal` command-line tool: produce from JSON lines and Parquet, list versions, inspect,
//! get, dump, diff, watch, verify and bench a store.
//!
//! - [`cli`] owns the command line (clap), the exit codes (0 success, 1 failure, 2 bad usage)
//!   and the one-line error on stderr.
//! - [`schema_file`] reads the TOML schema `shoal produce` publishes with.
//! - [`input`] turns JSON lines and Parquet rows into records, with the line or row and the
//!   field of any error.
//! - [`render`] turns a record of a loaded version into JSON, references expanded.
//! - `cmd` holds one module per command.
//! - `explorer` is `shoal ui`: a web page and JSON API over the same read paths.
#![forbid(unsafe_code)]

pub mod changes;
pub mod cli;
mod cmd;
pub mod error;
mod explorer;
pub mod input;
pub mod render;
pub mod schema_file;
mod ui;

pub use error::CliError;
