//! # shoal-tools
//!
//! The `shoal` command-line tool: produce from JSON lines, Parquet files and data sets (a
//! folder or S3) and Iceberg tables, infer a schema, list versions, inspect, get, dump, diff,
//! watch, verify and bench a store.
//!
//! - [`cli`] owns the command line (clap), the exit codes (0 success, 1 failure, 2 bad usage)
//!   and the one-line error on stderr.
//! - [`schema_file`] reads the TOML schema `shoal produce` publishes with.
//! - [`input`] finds the input `--input` names and turns its rows into records (JSON lines
//!   through a converter, Arrow batches column by column), with the file, the line or row and
//!   the field of any error; it also infers a schema file from an input.
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
