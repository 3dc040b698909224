//! Apache Iceberg tables, read with the `iceberg` crate: opened through a SQL catalog
//! (`iceberg:sqlite:///path/catalog.db#shop.movies`) or from a table's metadata file
//! (`.../metadata/00002-<uuid>.metadata.json`, a static table), scanned at a chosen snapshot
//! or the current one. The scan's Arrow record batches, with the table's position and
//! equality deletes applied by the crate, go through the same columnar mapping as Parquet
//! ([`BatchReader`]).
//!
//! **Deletes.** The crate applies position delete files and equality delete files (Parquet)
//! as it scans. A deletion vector (format v3: a Puffin delete file) it cannot apply: it would
//! read the Puffin file as Parquet and fail deep in the scan. So opening a table reads the
//! scanned snapshot's delete manifests first and refuses a deletion vector by name
//! ([`Problem::Unsupported`]), before a cycle starts; any other `FeatureUnsupported` error
//! of the crate during the scan is the same problem.
//!
//! **Where the files are.** Metadata, manifests and data files are read through one
//! `iceberg-storage-opendal` storage that picks its backend by each path's scheme
//! (`file://`, `s3://`), so a catalog may hold tables on both. S3 is configured as shoal's
//! own S3 store is ([`FileIoSettings`]): the endpoint from `--endpoint-url`,
//! `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (and then path-style addressing), the region
//! from `AWS_REGION` or `AWS_DEFAULT_REGION`, static keys from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` when set (else the standard AWS chain).

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use iceberg::io::{
    FileIOBuilder, S3_ACCESS_KEY_ID, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION,
    S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN,
};
use iceberg::spec::{DataFileFormat, ManifestContentType, SnapshotRef};
use iceberg::table::{StaticTable, Table};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use shoal_format::Schema;

use super::parquet::BatchReader;
use super::source::Target;
use super::{InputError, Problem};

/// How `--input` names an Iceberg table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableRef {
    /// `iceberg:<catalog-uri>#[<catalog>:]<namespace>.<table>` (catalog name `default`).
    Catalog {
        /// The catalog database's URI (`sqlite:///path/catalog.db`).
        uri: String,
        /// The catalog's name inside that database.
        catalog: String,
        /// The namespace, dotted.
        namespace: Vec<String>,
        /// The table's name.
        table: String,
    },
    /// A table's metadata file.
    Metadata(String),
}

impl TableRef {
    /// The table `spec` names, if it names one: `iceberg:...`, or a path ending in
    /// `.metadata.json`.
    pub fn parse(spec: &str) -> Option<Result<TableRef, InputError>> {
        if spec.ends_with(".metadata.json") {
            return Some(Ok(TableRef::Metadata(spec.to_string())));
        }
        let rest = spec.strip_prefix("iceberg:")?;
        Some(catalog_ref(spec, rest))
    }
}

fn catalog_ref(spec: &str, rest: &str) -> Result<TableRef, InputError> {
    let usage = || {
        InputError::file(
            spec,
            "an Iceberg table reads iceberg:<catalog-uri>#[<catalog>:]<namespace>.<table>",
        )
    };
    let (uri, name) = rest.split_once('#').ok_or_else(usage)?;
    let (catalog, name) = name.split_once(':').unwrap_or(("default", name));
    let (namespace, table) = name.rsplit_once('.').ok_or_else(usage)?;
    if uri.is_empty() || namespace.is_empty() || table.is_empty() {
        return Err(usage());
    }
    Ok(TableRef::Catalog {
        uri: uri.to_string(),
        catalog: catalog.to_string(),
        namespace: namespace.split('.').map(str::to_string).collect(),
        table: table.to_string(),
    })
}

/// The `FileIO` properties of a table's storage, from the environment shoal's S3 store
/// reads (see the module doc) and `--endpoint-url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIoSettings(HashMap<String, String>);

impl FileIoSettings {
    /// The settings from the environment, `endpoint` (`--endpoint-url`) first.
    pub fn from_env(endpoint: Option<&str>) -> Self {
        Self::from_vars(endpoint, |name| std::env::var(name).ok())
    }

    /// The settings from `var` (an environment), `endpoint` first.
    fn from_vars(endpoint: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let mut props = HashMap::new();
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL"));
        if let Some(endpoint) = endpoint {
            props.insert(S3_ENDPOINT.to_string(), endpoint);
            props.insert(S3_PATH_STYLE_ACCESS.to_string(), "true".to_string());
        }
        let sources = [
            (S3_REGION, &["AWS_REGION", "AWS_DEFAULT_REGION"][..]),
            (S3_ACCESS_KEY_ID, &["AWS_ACCESS_KEY_ID"]),
            (S3_SECRET_ACCESS_KEY, &["AWS_SECRET_ACCESS_KEY"]),
            (S3_SESSION_TOKEN, &["AWS_SESSION_TOKEN"]),
        ];
        for (prop, names) in sources {
            if let Some(value) = names.iter().find_map(|n| var(n)) {
                props.insert(prop.to_string(), value);
            }
        }
        FileIoSettings(props)
    }

    fn file_io(&self) -> iceberg::io::FileIO {
        FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new()))
            .with_props(self.0.clone())
            .build()
    }
}

/// An Iceberg table opened at a snapshot.
#[derive(Debug)]
pub struct IcebergTable {
    /// How messages name it.
    pub name: String,
    table: Table,
    snapshot: Option<i64>,
}

impl IcebergTable {
    /// Opens the table `table` names, at `snapshot` (else its current one), its files read
    /// with `io`. Fails naming what is missing: the catalog, the table, the snapshot.
    pub async fn open(
        spec: &str,
        table: &TableRef,
        snapshot: Option<i64>,
        io: &FileIoSettings,
    ) -> Result<Self, InputError> {
        let opened = match table {
            TableRef::Metadata(path) => open_static(spec, path, io).await?,
            TableRef::Catalog {
                uri,
                catalog,
                namespace,
                table,
            } => open_in_catalog(spec, uri, catalog, namespace, table, io).await?,
        };
        if let Some(id) = snapshot {
            if opened.metadata().snapshot_by_id(id).is_none() {
                let known: Vec<String> = opened
                    .metadata()
                    .snapshots()
                    .map(|s| s.snapshot_id().to_string())
                    .collect();
                return Err(InputError::file(
                    spec,
                    format!("no snapshot {id}; the table has {}", known.join(", ")),
                ));
            }
        }
        let table = IcebergTable {
            name: spec.to_string(),
            table: opened,
            snapshot,
        };
        table.refuse_deletion_vectors().await?;
        Ok(table)
    }

    /// The snapshot a scan reads: the chosen one, else the current one (none in an empty
    /// table).
    fn scanned(&self) -> Option<&SnapshotRef> {
        let metadata = self.table.metadata();
        match self.snapshot {
            Some(id) => metadata.snapshot_by_id(id),
            None => metadata.current_snapshot(),
        }
    }

    /// Fails with [`Problem::Unsupported`] naming the first deletion vector (a Puffin delete
    /// file) among the live entries of the scanned snapshot's delete manifests.
    async fn refuse_deletion_vectors(&self) -> Result<(), InputError> {
        let Some(snapshot) = self.scanned() else {
            return Ok(());
        };
        let unreadable = |e: iceberg::Error| self.fail(format!("cannot read the manifests: {e}"));
        let list = self.table.manifest_list_reader(snapshot).load().await;
        let list = list.map_err(unreadable)?;
        let deletes = list.entries().iter();
        for manifest in deletes.filter(|m| m.content == ManifestContentType::Deletes) {
            let manifest = manifest.load_manifest(self.table.file_io()).await;
            let manifest = manifest.map_err(unreadable)?;
            let puffin = manifest
                .entries()
                .iter()
                .find(|e| e.is_alive() && e.file_format() == DataFileFormat::Puffin);
            if let Some(entry) = puffin {
                return Err(self
                    .fail(format!(
                        "snapshot {} deletes rows with a deletion vector ({}), which the \
                         iceberg crate cannot apply yet: compact the table's deletes (e.g. \
                         Spark's rewrite_position_delete_files) or pick another --snapshot",
                        snapshot.snapshot_id(),
                        entry.file_path()
                    ))
                    .problem(Problem::Unsupported));
            }
        }
        Ok(())
    }

    /// Scans the table into `to` as records of `root`, batch by batch; returns the row
    /// count. Runs on a blocking thread: it waits for the scan on the runtime's handle.
    pub fn read(&self, schema: &Schema, root: &str, to: Target<'_>) -> Result<u64, InputError> {
        let mut reader: Option<BatchReader> = None;
        let mut rows = 0;
        self.each_batch(|batch| {
            if reader.is_none() {
                let made = BatchReader::new(&self.name, schema, root, &batch.schema(), &[])?;
                reader = Some(made);
            }
            let reader = reader.as_ref().expect("made above");
            reader.add(to.sink, batch, rows)?;
            rows += batch.num_rows() as u64;
            (to.progress)(batch.num_rows() as u64);
            Ok(true)
        })?;
        Ok(rows)
    }

    /// Scans the table, handing each record batch to `each` until it returns `false`. Runs
    /// on a blocking thread: it waits for the scan on the runtime's handle.
    pub fn each_batch(
        &self,
        mut each: impl FnMut(&arrow_array::RecordBatch) -> Result<bool, InputError>,
    ) -> Result<(), InputError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| self.fail(format!("no runtime to scan with: {e}")))?;
        let mut scan = self.table.scan().select_all();
        if let Some(id) = self.snapshot {
            scan = scan.snapshot_id(id);
        }
        let scan = scan.build().map_err(|e| self.fail(e.to_string()))?;
        let mut batches = runtime
            .block_on(scan.to_arrow())
            .map_err(|e| self.scan_failed(e))?;
        while let Some(batch) = runtime.block_on(batches.next()) {
            let batch = batch.map_err(|e| self.scan_failed(e))?;
            if !each(&batch)? {
                break;
            }
        }
        Ok(())
    }

    /// The table's Arrow schema at the scanned snapshot.
    pub fn arrow_schema(&self) -> Result<arrow_schema::Schema, InputError> {
        let metadata = self.table.metadata();
        let at_snapshot = self
            .snapshot
            .and_then(|id| metadata.snapshot_by_id(id))
            .and_then(|s| s.schema_id())
            .and_then(|sid| metadata.schema_by_id(sid));
        let schema = at_snapshot.unwrap_or_else(|| metadata.current_schema());
        iceberg::arrow::schema_to_arrow_schema(schema).map_err(|e| self.fail(e.to_string()))
    }

    fn fail(&self, message: String) -> InputError {
        InputError::file(&self.name, message)
    }

    /// A scan's error: [`Problem::Unsupported`] for what the crate does not support.
    fn scan_failed(&self, e: iceberg::Error) -> InputError {
        let failed = self.fail(format!("cannot scan: {e}"));
        match e.kind() {
            ErrorKind::FeatureUnsupported => failed.problem(Problem::Unsupported),
            _ => failed,
        }
    }
}

async fn open_static(spec: &str, path: &str, io: &FileIoSettings) -> Result<Table, InputError> {
    let location = metadata_location(spec, path)?;
    let ident = TableIdent::from_strs(["static", "table"]).map_err(|e| fail(spec, e))?;
    StaticTable::from_metadata_file(&location, ident, io.file_io())
        .await
        .map(StaticTable::into_table)
        .map_err(|e| InputError::file(spec, format!("cannot read the table metadata: {e}")))
}

/// The metadata file's location as a URL (`file:///...`, `s3://...`): a local file must
/// exist.
fn metadata_location(spec: &str, path: &str) -> Result<String, InputError> {
    if path.contains("://") && !path.starts_with("file://") {
        return Ok(path.to_string());
    }
    let local = std::path::Path::new(path.strip_prefix("file://").unwrap_or(path));
    let absolute = local
        .canonicalize()
        .ok()
        .filter(|p| p.is_file())
        .ok_or_else(|| InputError::file(spec, "no such table metadata file"))?;
    Ok(format!("file://{}", absolute.display()))
}

async fn open_in_catalog(
    spec: &str,
    uri: &str,
    catalog: &str,
    namespace: &[String],
    table: &str,
    io: &FileIoSettings,
) -> Result<Table, InputError> {
    sqlx::any::install_default_drivers();
    if let Some(path) = uri.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).is_file() {
            return Err(InputError::file(
                spec,
                format!("no catalog database at {path}"),
            ));
        }
    }
    let mut props = io.0.clone();
    props.insert("uri".to_string(), uri.to_string());
    let loaded = SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
        .sql_bind_style(SqlBindStyle::QMark)
        .load(catalog, props)
        .await
        .map_err(|e| InputError::file(spec, format!("cannot open the catalog: {e}")))?;
    let namespace = NamespaceIdent::from_vec(namespace.to_vec()).map_err(|e| fail(spec, e))?;
    let ident = TableIdent::new(namespace, table.to_string());
    loaded.load_table(&ident).await.map_err(|e| {
        InputError::file(
            spec,
            format!(
                "cannot load the table from the catalog named `{catalog}` \
                     (`#<catalog>:<namespace>.<table>` names another): {e}"
            ),
        )
    })
}

fn fail(spec: &str, e: iceberg::Error) -> InputError {
    InputError::file(spec, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_named_by_its_catalog_or_its_metadata_file() {
        let parsed = TableRef::parse("iceberg:sqlite:///w/c.db#shop.movies").unwrap();
        assert_eq!(
            parsed.unwrap(),
            TableRef::Catalog {
                uri: "sqlite:///w/c.db".into(),
                catalog: "default".into(),
                namespace: vec!["shop".into()],
                table: "movies".into(),
            }
        );
        let parsed = TableRef::parse("iceberg:sqlite:///w/c.db#prod:a.b.movies").unwrap();
        let TableRef::Catalog {
            catalog, namespace, ..
        } = parsed.unwrap()
        else {
            panic!()
        };
        assert_eq!((catalog.as_str(), namespace.len()), ("prod", 2));
        assert!(TableRef::parse("w/metadata/00001-x.metadata.json").is_some());
        assert!(TableRef::parse("movies.parquet").is_none());
        let e = TableRef::parse("iceberg:sqlite:///w/c.db")
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("iceberg:<catalog-uri>#"), "{e}");
    }

    #[test]
    fn s3_is_configured_from_the_variables_shoal_s_store_reads() {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9000".to_string()),
            "AWS_DEFAULT_REGION" => Some("eu-west-3".to_string()),
            "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            "AWS_SESSION_TOKEN" => Some(String::new()),
            _ => None,
        };
        let FileIoSettings(props) = FileIoSettings::from_vars(None, env);
        let prop = |k: &str| props.get(k).map(String::as_str);
        assert_eq!(prop(S3_ENDPOINT), Some("http://127.0.0.1:9000"));
        assert_eq!(prop(S3_PATH_STYLE_ACCESS), Some("true"));
        assert_eq!(prop(S3_REGION), Some("eu-west-3"));
        assert_eq!(prop(S3_ACCESS_KEY_ID), Some("id"));
        assert_eq!(prop(S3_SECRET_ACCESS_KEY), Some("secret"));
        assert_eq!(prop(S3_SESSION_TOKEN), None, "an empty variable is unset");
        let FileIoSettings(props) = FileIoSettings::from_vars(Some("http://e:1"), env);
        assert_eq!(
            props[S3_ENDPOINT], "http://e:1",
            "--endpoint-url comes first"
        );
        let FileIoSettings(props) = FileIoSettings::from_vars(None, |_| None);
        assert!(
            props.is_empty(),
            "AWS itself, the standard chain: {props:?}"
        );
    }
}
