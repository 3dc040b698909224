//! Apache Iceberg tables, read with the `iceberg` crate: opened through a SQL catalog
//! (`iceberg:sqlite:///path/catalog.db#shop.movies`) or from a table's metadata file
//! (`.../metadata/00002-<uuid>.metadata.json`, a static table), scanned at a chosen snapshot
//! or the current one. The scan's Arrow record batches, with the table's position and
//! equality deletes applied by the crate, go through the same columnar mapping as Parquet
//! ([`BatchReader`]). Data on the local file system (S3 is not wired yet).

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use iceberg::io::LocalFsStorageFactory;
use iceberg::table::{StaticTable, Table};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use shoal_format::Schema;

use super::parquet::BatchReader;
use super::source::Target;
use super::InputError;

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

/// An Iceberg table opened at a snapshot.
#[derive(Debug)]
pub struct IcebergTable {
    /// How messages name it.
    pub name: String,
    table: Table,
    snapshot: Option<i64>,
}

impl IcebergTable {
    /// Opens the table `table` names, at `snapshot` (else its current one). Fails naming
    /// what is missing: the catalog, the table, the snapshot.
    pub async fn open(
        spec: &str,
        table: &TableRef,
        snapshot: Option<i64>,
    ) -> Result<Self, InputError> {
        let opened = match table {
            TableRef::Metadata(path) => open_static(spec, path).await?,
            TableRef::Catalog {
                uri,
                catalog,
                namespace,
                table,
            } => open_in_catalog(spec, uri, catalog, namespace, table).await?,
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
        Ok(IcebergTable {
            name: spec.to_string(),
            table: opened,
            snapshot,
        })
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
            .map_err(|e| self.fail(format!("cannot scan: {e}")))?;
        while let Some(batch) = runtime.block_on(batches.next()) {
            let batch = batch.map_err(|e| self.fail(format!("cannot scan: {e}")))?;
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
}

async fn open_static(spec: &str, path: &str) -> Result<Table, InputError> {
    let file_io = iceberg::io::FileIOBuilder::new(Arc::new(LocalFsStorageFactory)).build();
    let location = path.strip_prefix("file://").unwrap_or(path);
    if !std::path::Path::new(location).is_file() {
        return Err(InputError::file(spec, "no such table metadata file"));
    }
    let ident = TableIdent::from_strs(["static", "table"]).map_err(|e| fail(spec, e))?;
    StaticTable::from_metadata_file(location, ident, file_io)
        .await
        .map(StaticTable::into_table)
        .map_err(|e| InputError::file(spec, format!("cannot read the table metadata: {e}")))
}

async fn open_in_catalog(
    spec: &str,
    uri: &str,
    catalog: &str,
    namespace: &[String],
    table: &str,
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
    let props = HashMap::from([("uri".to_string(), uri.to_string())]);
    let loaded = SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(LocalFsStorageFactory))
        .sql_bind_style(SqlBindStyle::QMark)
        .load(catalog, props)
        .await
        .map_err(|e| InputError::file(spec, format!("cannot open the catalog: {e}")))?;
    let namespace = NamespaceIdent::from_vec(namespace.to_vec()).map_err(|e| fail(spec, e))?;
    let ident = TableIdent::new(namespace, table.to_string());
    loaded
        .load_table(&ident)
        .await
        .map_err(|e| InputError::file(spec, format!("cannot load the table: {e}")))
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
}
