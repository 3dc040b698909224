//! One module per command, and what they share: opening the store and loading a version.

pub mod bench;
pub mod diff;
pub mod inspect;
pub mod pin;
pub mod produce;
pub mod read;
pub mod schema;
pub mod verify;
pub mod versions;
pub mod watch;

use std::path::Path;
use std::sync::Arc;

use shoal_consumer::{Consumer, Dataset};
use shoal_format::Version;
use shoal_store::{BlobStore, FsStore};

use crate::cli::Global;
use crate::error::{CliError, Result};

/// Opens `--store`. A read command (`create == false`) on a folder that does not exist fails
/// rather than creating an empty store.
pub async fn open_store(g: &Global, create: bool) -> Result<Arc<dyn BlobStore>> {
    if g.store.starts_with("s3://") {
        return open_s3(g).await;
    }
    if !create && !Path::new(&g.store).is_dir() {
        return Err(CliError::fail(format!(
            "no store at {}: give --store <DIR | s3://bucket/prefix>, or publish there first with `shoal produce`",
            g.store
        )));
    }
    Ok(Arc::new(FsStore::new(&g.store)?))
}

#[cfg(feature = "s3")]
async fn open_s3(g: &Global) -> Result<Arc<dyn BlobStore>> {
    let mut config = shoal_store::S3Config::from_env(&g.store).map_err(CliError::from)?;
    if let Some(endpoint) = &g.endpoint_url {
        config.endpoint_url = Some(endpoint.clone());
        config.force_path_style = true;
    }
    Ok(Arc::new(shoal_store::S3Store::connect(config).await?))
}

#[cfg(not(feature = "s3"))]
async fn open_s3(g: &Global) -> Result<Arc<dyn BlobStore>> {
    Err(CliError::usage(format!(
        "{}: this shoal was built without S3 support (cargo feature `s3`)",
        g.store
    )))
}

/// A version loaded by a consumer, with the cache folder it maps from.
pub struct Loaded {
    /// The consumer, on the version (kept so the cache outlives the data mapped from it).
    _consumer: Consumer,
    /// The version's data.
    pub data: Arc<Dataset>,
    _cache: Option<tempfile::TempDir>,
}

/// A consumer on `store` with `--cache` (or a temporary folder) and a primary-key index on
/// each of `keyed` types.
pub fn consumer(
    g: &Global,
    store: Arc<dyn BlobStore>,
    keyed: &[&str],
) -> Result<(Consumer, Option<tempfile::TempDir>)> {
    let (dir, temp) = match &g.cache {
        Some(dir) => (dir.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("shoal-cache.")
                .tempdir()
                .map_err(|e| CliError::fail(format!("cannot make a cache folder: {e}")))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut b = Consumer::builder(store).cache_dir(dir);
    if temp.is_some() {
        // A cache removed at exit gains nothing from a snapshot written into it.
        b = b.write_back_after(None);
    }
    for t in keyed {
        b = b.primary_key_index(t);
    }
    Ok((b.build()?, temp))
}

/// Loads `version` (the announced one when `None`) with primary-key indexes on `keyed`.
pub async fn load(g: &Global, version: Option<u64>, keyed: &[&str]) -> Result<Loaded> {
    let store = open_store(g, false).await?;
    let (consumer, cache) = consumer(g, store, keyed)?;
    match version {
        Some(v) => consumer.refresh_to(Version(v)).await?,
        None => consumer.refresh().await?,
    };
    let data = consumer
        .current()
        .ok_or_else(|| CliError::fail("no version loaded"))?;
    Ok(Loaded {
        _consumer: consumer,
        data,
        _cache: cache,
    })
}
