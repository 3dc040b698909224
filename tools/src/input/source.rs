//! What `--input` names, found before a cycle starts and read on the cycle's thread.
//!
//! One spelling for every input:
//!
//! | `--input` | read as |
//! |---|---|
//! | `-` | JSON lines from standard input |
//! | a file | JSON lines, or Parquet when it ends in `.parquet` / `.parq` (or `--format`) |
//! | a folder | a Parquet data set ([`dataset`](super::dataset)) |
//! | `s3://bucket/prefix/` | a Parquet data set under that prefix (the usual `AWS_*` settings, `--endpoint-url`) |
//! | `iceberg:<catalog-uri>#<namespace>.<table>` | an Iceberg table in a SQL catalog (`--snapshot`, else the current one) |
//! | `.../metadata/<n>.metadata.json` | an Iceberg table from its metadata file (local or `s3://`) |
//!
//! A data set's part files are read one after the other, each batch by batch; from S3 each
//! part is downloaded to a temporary file (the next one while the current one is read) and
//! deleted once read. Every part's columns must keep the Arrow types of the first part's:
//! a changed type is [`Problem::TypeChanged`], naming both files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::SchemaRef;
use shoal_format::{RecordSink, Schema};
use shoal_store::BlobStore;

use super::dataset::{self, Part};
use super::iceberg::{FileIoSettings, IcebergTable, TableRef};
use super::parquet::ParquetFile;
use super::{Converter, InputError, Problem};

/// The format of a single input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet, read row group by row group.
    Parquet,
}

/// An input, found and listed, not read yet.
#[derive(Debug)]
pub enum Input {
    /// JSON lines from standard input.
    Stdin,
    /// A JSON-lines file.
    JsonLines(PathBuf),
    /// One Parquet file.
    ParquetFile(PathBuf),
    /// A Parquet data set in a folder.
    Folder {
        /// The folder.
        root: PathBuf,
        /// Its part files.
        parts: Vec<Part>,
    },
    /// An Apache Iceberg table at a snapshot.
    Iceberg(IcebergTable),
    /// A Parquet data set under an S3 prefix.
    S3 {
        /// `s3://bucket/prefix`, for messages.
        url: String,
        /// The bucket and prefix, as a store whose keys are the parts' keys.
        store: Arc<dyn BlobStore>,
        /// Its part files.
        parts: Vec<Part>,
    },
}

/// Where the rows go: the sink of records, and a progress count of rows.
pub struct Target<'a> {
    /// Receives every record.
    pub sink: &'a mut dyn RecordSink,
    /// Told how many more rows were read.
    pub progress: &'a dyn Fn(u64),
    /// Threads that parse JSON lines ([`jsonl`](super::jsonl)); the records reach the sink
    /// on the calling thread, in the input's order, whatever the count.
    pub parse_threads: usize,
}

impl Input {
    /// Finds what `spec` names (see the module doc); lists a data set's parts. `endpoint`
    /// is the S3 endpoint for S3-compatible servers.
    pub async fn open(
        spec: &str,
        format: Option<Format>,
        endpoint: Option<&str>,
        snapshot: Option<i64>,
    ) -> Result<Input, InputError> {
        if let Some(table) = TableRef::parse(spec) {
            let io = FileIoSettings::from_env(endpoint);
            let table = IcebergTable::open(spec, &table?, snapshot, &io).await?;
            return Ok(Input::Iceberg(table));
        }
        if snapshot.is_some() {
            return Err(InputError::file(spec, "--snapshot is for Iceberg tables"));
        }
        if spec == "-" {
            if format == Some(Format::Parquet) {
                return Err(InputError::file(
                    "stdin",
                    "Parquet cannot be read from standard input; give a file",
                ));
            }
            return Ok(Input::Stdin);
        }
        if spec.starts_with("s3://") {
            return open_s3(spec, endpoint).await;
        }
        let path = Path::new(spec);
        if path.is_dir() {
            let parts = dataset::list_folder(path)?;
            return Ok(Input::Folder {
                root: path.to_path_buf(),
                parts,
            });
        }
        if !path.is_file() {
            return Err(InputError::file(
                spec,
                "no such file or folder: give --input <FILE | DIR | s3://bucket/prefix/ | ->",
            ));
        }
        let parquet = spec.ends_with(".parquet") || spec.ends_with(".parq");
        Ok(match format {
            Some(Format::Parquet) => Input::ParquetFile(path.to_path_buf()),
            None if parquet => Input::ParquetFile(path.to_path_buf()),
            _ => Input::JsonLines(path.to_path_buf()),
        })
    }

    /// Reads every row into `to` as a record of `root` (an object type of `schema`):
    /// JSON lines through the [`Converter`], Parquet column by column. Returns the row count.
    /// Runs on a blocking thread (an S3 data set downloads through the runtime's handle).
    pub fn read(&self, schema: &Schema, root: &str, to: Target<'_>) -> Result<u64, InputError> {
        match self {
            Input::Stdin => read_jsonl(std::io::stdin().lock(), "stdin", schema, root, to),
            Input::JsonLines(path) => {
                let name = path.display().to_string();
                let file = std::fs::File::open(path)
                    .map_err(|e| InputError::file(&name, format!("cannot open: {e}")))?;
                let input = std::io::BufReader::with_capacity(1 << 20, file);
                read_jsonl(input, &name, schema, root, to)
            }
            Input::Iceberg(table) => table.read(schema, root, to),
            _ => self.read_parquet(schema, root, to),
        }
    }

    /// Reads every Parquet file of the input into `to`, checking that each keeps the
    /// column types of the first.
    fn read_parquet(&self, schema: &Schema, root: &str, to: Target<'_>) -> Result<u64, InputError> {
        let mut check = SameTypes::default();
        let mut rows = 0;
        self.each_parquet(|part| {
            let file = ParquetFile::open_part(part.path, part.name, schema, root, part.partitions)?;
            check.check(part.name, file.arrow_schema())?;
            if rows == 0 {
                note(&file, part.name, root);
            }
            rows += file.read(to.sink, to.progress)?;
            Ok(true)
        })?;
        Ok(rows)
    }

    /// Calls `each` with every Parquet file of the input, in order, on this machine (an S3
    /// part downloaded to a temporary file, the next one while `each` reads this one, and
    /// deleted after), until `each` returns `false`. JSON lines have none.
    pub fn each_parquet(
        &self,
        mut each: impl FnMut(LocalPart<'_>) -> Result<bool, InputError>,
    ) -> Result<(), InputError> {
        match self {
            Input::Stdin | Input::JsonLines(_) | Input::Iceberg(_) => Ok(()),
            Input::ParquetFile(path) => {
                let name = path.display().to_string();
                each(LocalPart {
                    path,
                    name: &name,
                    partitions: &[],
                })
                .map(drop)
            }
            Input::Folder { root, parts } => {
                for part in parts {
                    let path = root.join(&part.key);
                    let name = path.display().to_string();
                    let local = LocalPart {
                        path: &path,
                        name: &name,
                        partitions: &part.partitions,
                    };
                    if !each(local)? {
                        break;
                    }
                }
                Ok(())
            }
            Input::S3 { url, store, parts } => each_s3(url, store, parts, &mut each),
        }
    }
}

/// A Parquet file of an input, on this machine.
pub struct LocalPart<'a> {
    /// Where it is.
    pub path: &'a Path,
    /// How messages name it (its S3 URL for a downloaded part).
    pub name: &'a str,
    /// The values of its partition folders.
    pub partitions: &'a [(String, String)],
}

/// Lists the data set under the S3 URL `url`.
#[cfg(feature = "s3")]
async fn open_s3(url: &str, endpoint: Option<&str>) -> Result<Input, InputError> {
    let location = url.trim_end_matches('/');
    let unreadable = |e: shoal_store::Error| InputError::file(location, e.to_string());
    let mut config = shoal_store::S3Config::from_env(location).map_err(unreadable)?;
    if let Some(endpoint) = endpoint {
        config.endpoint_url = Some(endpoint.to_string());
        config.force_path_style = true;
    }
    let store: Arc<dyn BlobStore> = Arc::new(
        shoal_store::S3Store::connect(config)
            .await
            .map_err(unreadable)?,
    );
    let listed = store.list("").await.map_err(unreadable)?;
    let parts = dataset::parts_of(listed.into_iter().map(|b| b.key));
    if parts.is_empty() {
        return Err(dataset::no_parts(location));
    }
    Ok(Input::S3 {
        url: location.to_string(),
        store,
        parts,
    })
}

#[cfg(not(feature = "s3"))]
async fn open_s3(url: &str, _endpoint: Option<&str>) -> Result<Input, InputError> {
    Err(InputError::file(
        url,
        "this shoal was built without S3 support (cargo feature `s3`)",
    ))
}

/// Hands the parts of an S3 data set to `each`: each downloaded to a temporary folder (the
/// next one while this one is read), then deleted.
fn each_s3(
    url: &str,
    store: &Arc<dyn BlobStore>,
    parts: &[Part],
    each: &mut dyn FnMut(LocalPart<'_>) -> Result<bool, InputError>,
) -> Result<(), InputError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| InputError::file(url, format!("no runtime to download with: {e}")))?;
    let temp = tempfile::tempdir()
        .map_err(|e| InputError::file(url, format!("cannot make a temporary folder: {e}")))?;
    let fetch = |i: usize| {
        let (store, key) = (store.clone(), parts[i].key.clone());
        let dest = temp.path().join(format!("part-{i}"));
        runtime.spawn(async move { store.get_to_file(&key, &dest).await.map(|_| dest) })
    };
    let mut next = Some(fetch(0));
    for (i, part) in parts.iter().enumerate() {
        let name = format!("{url}/{}", part.key);
        let download = next.take().expect("each part is fetched before it is read");
        let fetched = runtime
            .block_on(download)
            .map_err(|e| InputError::file(&name, format!("the download stopped: {e}")))?;
        let path = fetched.map_err(|e| InputError::file(&name, format!("cannot fetch: {e}")))?;
        next = (i + 1 < parts.len()).then(|| fetch(i + 1));
        let local = LocalPart {
            path: &path,
            name: &name,
            partitions: &part.partitions,
        };
        let more = each(local)?;
        let _ = std::fs::remove_file(&path);
        if !more {
            break;
        }
    }
    if let Some(download) = next {
        download.abort();
    }
    Ok(())
}

/// Reads JSON lines through the [`Converter`], each line a record of `root`.
fn read_jsonl(
    input: impl std::io::BufRead,
    name: &str,
    schema: &Schema,
    root: &str,
    to: Target<'_>,
) -> Result<u64, InputError> {
    let converter = Converter::new(schema, root)
        .ok_or_else(|| InputError::file(name, format!("no type {root} in the schema")))?;
    let threads = to.parse_threads;
    super::jsonl::read_on(
        threads,
        super::jsonl::CHUNK_BYTES,
        input,
        name,
        |number, row| {
            (to.progress)(1);
            converter
                .add_row(to.sink, row)
                .map(drop)
                .map_err(|e| e.at(name, "line", number))
        },
    )
}

/// Tells on stderr which columns are not read and which fields have no column.
fn note(file: &ParquetFile, name: &str, root: &str) {
    for c in file.ignored_columns() {
        eprintln!("note: {name}: column `{c}` is no field of {root}: ignored");
    }
    for f in file.missing_fields() {
        eprintln!("note: {name}: no column for field `{f}`: null in every record");
    }
}

/// Checks that every part file gives each column the Arrow type the first one gave it.
#[derive(Default)]
struct SameTypes {
    first: Option<(String, SchemaRef)>,
}

impl SameTypes {
    fn check(&mut self, name: &str, schema: &SchemaRef) -> Result<(), InputError> {
        let Some((first_name, first)) = &self.first else {
            self.first = Some((name.to_string(), schema.clone()));
            return Ok(());
        };
        for field in schema.fields() {
            let Ok(before) = first.field_with_name(field.name()) else {
                continue;
            };
            if !before.data_type().equals_datatype(field.data_type()) {
                return Err(InputError::file(
                    name,
                    format!(
                        "column `{}` is {} here but {} in {first_name}: every part file must \
                         give a column the same type",
                        field.name(),
                        field.data_type(),
                        before.data_type()
                    ),
                )
                .problem(Problem::TypeChanged)
                .field(field.name().clone()));
            }
        }
        Ok(())
    }
}
