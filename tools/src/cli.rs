//! The command line: clap definitions, dispatch, exit codes.
//!
//! Exit codes: 0 success, 1 failure (the store, the data, a fault found), 2 bad usage (clap's
//! own errors, and arguments a command cannot work with). An error is one line on stderr:
//! `error: <what>, <where>: <what to do>`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::cmd;
use crate::error::CliError;
use crate::ui::Out;

const EXAMPLES: &str = "\
Examples:
  shoal produce --schema examples/catalog/schema.toml --input examples/catalog/v1.jsonl
  shoal versions
  shoal inspect
  shoal get --type Movie --key 42
  shoal diff --from 1 --to 2
  shoal watch
  shoal verify
  shoal pin --version 41          (hold every consumer on version 41)
  shoal unpin
  shoal ui                         (a web explorer on http://127.0.0.1:8420)
  shoal --store s3://bucket/movies --endpoint-url http://127.0.0.1:9000 versions";

/// shoal: publish a dataset as compact versioned blobs, and look inside what is published.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where the blobs are: a folder, or s3://bucket/prefix (credentials and region from the
    /// usual AWS environment variables).
    #[arg(
        long,
        global = true,
        default_value = "./shoal-data",
        env = "SHOAL_STORE"
    )]
    pub store: String,
    /// The S3 endpoint, for S3-compatible servers (path-style addressing is then used).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_S3")]
    pub endpoint_url: Option<String>,
    /// Print the report as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where read commands cache fetched blobs (default: a temporary folder, removed after).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish one version: read records from JSON lines, a Parquet file or a Parquet data
    /// set (a folder or an S3 prefix), run one producer cycle.
    #[command(after_help = "\
Examples:
  shoal produce --schema examples/catalog/schema.toml --input examples/catalog/v1.jsonl
  zcat movies.jsonl.gz | shoal produce --schema schema.toml --input -
  shoal produce --schema schema.toml --input movies.parquet
  shoal produce --schema schema.toml --input warehouse/movies/          (a Spark output folder)
  shoal produce --schema schema.toml --input s3://lake/movies/dt=2026-12-01/
  shoal produce --key id --root Movie --input warehouse/movies/        (schema inferred)
  shoal produce --schema schema.toml --input iceberg:sqlite:///lake/catalog.db#shop.movies
  shoal produce --schema schema.toml --input lake/shop/movies/metadata/00003-x.metadata.json
  shoal produce --schema schema.toml --input shrunk.jsonl --max-removal 60

--input takes one spelling for every source: a file (JSON lines, or Parquet by its
extension or --format), a folder or an s3:// prefix holding a Parquet data set, an Iceberg
table (iceberg:<catalog-uri>#[<catalog>:]<namespace>.<table>, or its .metadata.json file; at
--snapshot ID, else its current snapshot), or - for JSON lines on standard input. In a data set every file is a part file except hidden (.) and
private (_) ones (_SUCCESS, .crc); a folder key=value/ gives its value to field `key` of every
row below it; every part must give a column the same type. Without --schema, the schema is
inferred from the input as `shoal schema infer` prints it, with --key as its primary key; a
version already announced must have the same schema, or one that only adds or removes fields
or types, else the cycle is refused listing every difference.

The whole dataset goes in each time: records that are not in the input are removed, records
that did not change cost nothing. A cycle with no change publishes nothing. Bad input (a line
that is not JSON, a field of the wrong kind, a missing key) fails naming the line or row and
the field, and publishes nothing. A cycle that would empty a type, or remove more than 10% of
a type's records (edits by primary key do not count; at most 10 records always may go), is
refused and publishes nothing: the sign of a truncated input. --allow-empty and
--max-removal allow it when it is intended.")]
    Produce(cmd::produce::ProduceArgs),
    /// Schema files: `shoal schema infer` prints one inferred from an input.
    Schema(cmd::schema::SchemaArgs),
    /// The announced version and every version the store can reach, with its blobs.
    #[command(after_help = "Examples:\n  shoal versions\n  shoal versions --json")]
    Versions,
    /// Schema, records per type, and where the bytes go (per type, per field).
    #[command(after_help = "Examples:\n  shoal inspect\n  shoal inspect --version 3 --json")]
    Inspect(cmd::inspect::InspectArgs),
    /// One record by primary key, references expanded, as JSON.
    #[command(after_help = "\
Examples:
  shoal get --type Movie --key 42
  shoal get --type Movie --key 42 --version 1
  shoal get --type Rating --key 42 --key US     (a key of two fields)")]
    Get(cmd::read::GetArgs),
    /// Every record of a type as JSON lines, references expanded.
    #[command(
        after_help = "Examples:\n  shoal dump --type Movie | head\n  shoal dump --type Movie --version 2 > movies.jsonl"
    )]
    Dump(cmd::read::DumpArgs),
    /// What changed between two versions: added, removed and changed records by key.
    #[command(after_help = "\
Examples:
  shoal diff --from 1 --to 2
  shoal diff --from 2 --to 1 --type Movie --json

Records are matched by primary key; changed records list each changed field with its old and
new value. Along a delta chain only the records the deltas touch are compared.")]
    Diff(cmd::diff::DiffArgs),
    /// Follow announcements and print one line per new version, like tail -f.
    #[command(after_help = "Examples:\n  shoal watch\n  shoal watch --type Movie --json")]
    Watch(cmd::watch::WatchArgs),
    /// Hold every consumer on one version (a fleet-wide rollback), whatever is announced.
    #[command(after_help = "\
Examples:
  shoal pin --version 41
  shoal --store s3://bucket/movies pin --version 41

The version is first built as a consumer builds it, every blob's checksums verified; a version
the store cannot build is refused and nothing is pinned. Consumers move to it (by reverse
deltas, or a snapshot) and stay. The producer keeps publishing meanwhile and keeps the blobs
the pinned version needs. `shoal versions` and `shoal watch` show the pin.")]
    Pin(cmd::pin::PinArgs),
    /// Let consumers follow announcements again after `shoal pin`.
    #[command(after_help = "Examples:\n  shoal unpin")]
    Unpin,
    /// Check every blob's checksums and every delta chain; exit 1 naming any bad blob.
    #[command(after_help = "Examples:\n  shoal verify\n  shoal verify --version 7")]
    Verify(cmd::verify::VerifyArgs),
    /// Serve a read-only web explorer of the store: versions, bytes, records by key, a
    /// record's history, diffs; and the JSON API under /api/.
    #[command(after_help = "\
Examples:
  shoal ui                                  (then open http://127.0.0.1:8420)
  shoal --store s3://bucket/movies ui --addr 127.0.0.1:9000

It listens on loopback unless --addr names another address (then it warns: the data is
readable by anyone who reaches it). The page follows the store: new versions appear as they
are announced.")]
    Ui(crate::explorer::UiArgs),
    /// Generate the benchmark catalog, run producer and consumer beside a JSON + HashMap
    /// baseline, and print one table.
    #[command(
        after_help = "Examples:\n  shoal bench\n  shoal bench --records 1000000 --change-pct 1"
    )]
    Bench(cmd::bench::BenchArgs),
}

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::fail(format!("cannot start the async runtime: {e}")))?;
    let out = Out {
        json: cli.global.json,
    };
    let g = &cli.global;
    runtime.block_on(until_stopped(async move {
        match &cli.command {
            Command::Produce(a) => cmd::produce::run(g, a, out).await,
            Command::Schema(a) => cmd::schema::run(g, a).await,
            Command::Versions => cmd::versions::run(g, out).await,
            Command::Inspect(a) => cmd::inspect::run(g, a, out).await,
            Command::Get(a) => cmd::read::get(g, a, out).await,
            Command::Dump(a) => cmd::read::dump(g, a).await,
            Command::Diff(a) => cmd::diff::run(g, a, out).await,
            Command::Watch(a) => cmd::watch::run(g, a, out).await,
            Command::Verify(a) => cmd::verify::run(g, a, out).await,
            Command::Pin(a) => cmd::pin::pin(g, a, out).await,
            Command::Unpin => cmd::pin::unpin(g, out).await,
            Command::Bench(a) => cmd::bench::run(a, out).await,
            Command::Ui(a) => crate::explorer::run(g, a).await,
        }
    }))
}

/// Runs `command` until it ends or the process is asked to stop (Ctrl-C, or SIGTERM from a
/// service manager): then the command is dropped, so what it holds is released (the
/// temporary cache folder a read makes, a snapshot copy each), and the exit code is the
/// shell's 128 + the signal's number. Without this the default handler ends the process
/// on the spot, and every stopped `shoal watch` or `shoal ui` left its cache behind.
async fn until_stopped(
    command: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<(), CliError> {
    tokio::select! {
        done = command => done,
        (name, number) = stop_signal() => Err(CliError {
            message: format!("stopped by {name}"),
            code: 128 + number,
        }),
    }
}

/// The first stop signal: its name and number.
async fn stop_signal() -> (&'static str, u8) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => ("SIGINT", 2),
                _ = term.recv() => ("SIGTERM", 15),
            };
        }
    }
    match tokio::signal::ctrl_c().await {
        Ok(()) => ("SIGINT", 2),
        // No signal can be watched: the command runs to its end.
        Err(_) => std::future::pending().await,
    }
}
