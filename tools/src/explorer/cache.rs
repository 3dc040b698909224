//! The versions the explorer has loaded: one consumer moves between versions (its refresh
//! does the blob work off the runtime), and a small LRU keeps the last few datasets, each
//! with a primary-key index on every keyed type so a lookup by key is one probe.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use shoal_consumer::{Consumer, Dataset, IndexSpec};
use shoal_format::Version;
use shoal_store::BlobStore;

use crate::cli::Global;
use crate::cmd::diff::{self, Pair, Via};
use crate::cmd::versions::{listing, Listing};
use crate::explorer::error::ApiError;

/// How many loaded versions are kept.
const KEEP: usize = 4;

/// The consumer that loads versions, with what it needs alive.
struct Loader {
    consumer: Consumer,
    via: Arc<Via>,
    _cache: Option<tempfile::TempDir>,
}

/// Loads versions on demand and keeps the last few.
pub struct Versions {
    store: Arc<dyn BlobStore>,
    loader: tokio::sync::Mutex<Loader>,
    lru: Mutex<VecDeque<(u64, Arc<Dataset>)>>,
}

impl Versions {
    /// Versions of `store`, cached in `--cache` or a temporary folder.
    pub fn new(g: &Global, store: Arc<dyn BlobStore>) -> crate::error::Result<Self> {
        let (consumer, cache) = crate::cmd::consumer(g, store.clone(), &[])?;
        let via = Arc::new(Via::default());
        consumer.add_listener(via.clone());
        Ok(Versions {
            store,
            loader: tokio::sync::Mutex::new(Loader {
                consumer,
                via,
                _cache: cache,
            }),
            lru: Mutex::new(VecDeque::new()),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// What the store holds now.
    pub async fn listing(&self) -> Result<Listing, ApiError> {
        Ok(listing(&*self.store).await?)
    }

    /// Version `v`, indexed by primary key; a 404 when the store cannot build it.
    pub async fn get(&self, v: u64) -> Result<Arc<Dataset>, ApiError> {
        if let Some(d) = self.cached(v) {
            return Ok(d);
        }
        let loader = self.loader.lock().await;
        if let Some(d) = self.cached(v) {
            return Ok(d);
        }
        self.check_reachable(&[v]).await?;
        loader
            .consumer
            .refresh_to(Version(v))
            .await
            .map_err(|e| ApiError::internal(format!("loading version {v}: {e}")))?;
        let data = loader
            .consumer
            .current()
            .ok_or_else(|| ApiError::internal("no version loaded"))?;
        let indexed = tokio::task::spawn_blocking(move || index_keyed(&data)).await??;
        let indexed = Arc::new(indexed);
        self.insert(v, indexed.clone());
        Ok(indexed)
    }

    /// Versions `from` and `to` loaded by one consumer, as `shoal diff` loads them.
    pub async fn pair(&self, from: u64, to: u64) -> Result<Pair, ApiError> {
        self.check_reachable(&[from, to]).await?;
        let loader = self.loader.lock().await;
        Ok(diff::between(&loader.consumer, &loader.via, from, to).await?)
    }

    /// A 404 naming the versions there are unless every one of `versions` is reachable.
    pub async fn check_reachable(&self, versions: &[u64]) -> Result<(), ApiError> {
        let l = self.listing().await?;
        let reachable: Vec<u64> = l
            .versions
            .iter()
            .filter(|r| r.reachable)
            .map(|r| r.version)
            .collect();
        match versions.iter().find(|v| !reachable.contains(v)) {
            None => Ok(()),
            Some(v) => Err(ApiError::not_found(format!(
                "version {v} cannot be built from this store; versions: {}",
                list(&reachable)
            ))),
        }
    }

    fn cached(&self, v: u64) -> Option<Arc<Dataset>> {
        let mut lru = self.lru.lock().expect("lru lock");
        let at = lru.iter().position(|(k, _)| *k == v)?;
        let entry = lru.remove(at).expect("found");
        let data = entry.1.clone();
        lru.push_front(entry);
        Some(data)
    }

    fn insert(&self, v: u64, data: Arc<Dataset>) {
        let mut lru = self.lru.lock().expect("lru lock");
        lru.retain(|(k, _)| *k != v);
        lru.push_front((v, data));
        lru.truncate(KEEP);
    }
}

/// `1, 2, 3` (newest last), or `none`.
fn list(versions: &[u64]) -> String {
    if versions.is_empty() {
        return "none".into();
    }
    let mut v = versions.to_vec();
    v.sort_unstable();
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// `data` with a primary-key index on each keyed type, named after the type (what
/// [`crate::cmd::read::lookup`] looks for).
fn index_keyed(data: &Dataset) -> Result<Dataset, ApiError> {
    let specs: Vec<IndexSpec> = data
        .schema()
        .types()
        .iter()
        .filter(|t| t.key().is_some())
        .map(|t| IndexSpec {
            name: t.name.clone(),
            type_name: t.name.clone(),
            paths: Vec::new(),
        })
        .collect();
    data.clone()
        .with_indexes(&specs)
        .map_err(|e| ApiError::internal(format!("indexing version {}: {e}", data.version().0)))
}
