//! The versions the explorer has loaded: one consumer moves between versions (its refresh
//! does the blob work off the runtime), and a small LRU keeps the last few datasets, each
//! with a primary-key index on every keyed type so a lookup by key is one probe. A second
//! LRU keeps the hash indexes built for filters (`field=country.code&value=PL`), one per
//! version, type and field path: built once (O(records of the type)), then each page of
//! matches costs the matches.

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

/// How many filter indexes are kept (about 16 bytes per record of the type each).
const KEEP_FILTERS: usize = 4;

/// The name of the one index of a dataset built for a filter.
pub const FILTER_INDEX: &str = "filter";

/// A filter index: version, type, field path.
type FilterKey = (u64, String, String);

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
    lru: Lru<u64>,
    filters: Lru<FilterKey>,
}

/// The last few datasets used, newest first.
struct Lru<K> {
    keep: usize,
    entries: Mutex<VecDeque<(K, Arc<Dataset>)>>,
}

impl<K: PartialEq> Lru<K> {
    fn new(keep: usize) -> Self {
        Lru {
            keep,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn get(&self, key: &K) -> Option<Arc<Dataset>> {
        let mut entries = self.entries.lock().expect("lru lock");
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at).expect("found");
        let data = entry.1.clone();
        entries.push_front(entry);
        Some(data)
    }

    fn insert(&self, key: K, data: Arc<Dataset>) {
        let mut entries = self.entries.lock().expect("lru lock");
        entries.retain(|(k, _)| *k != key);
        entries.push_front((key, data));
        entries.truncate(self.keep);
    }
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
            lru: Lru::new(KEEP),
            filters: Lru::new(KEEP_FILTERS),
        })
    }

    /// What the store holds now.
    pub async fn listing(&self) -> Result<Listing, ApiError> {
        Ok(listing(&*self.store).await?)
    }

    /// Version `v`, indexed by primary key; a 404 when the store cannot build it.
    pub async fn get(&self, v: u64) -> Result<Arc<Dataset>, ApiError> {
        if let Some(d) = self.lru.get(&v) {
            return Ok(d);
        }
        let loader = self.loader.lock().await;
        if let Some(d) = self.lru.get(&v) {
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
        self.lru.insert(v, indexed.clone());
        Ok(indexed)
    }

    /// Version `v` with one hash index, [`FILTER_INDEX`], on `field` of `type_name`.
    pub async fn filter_index(
        &self,
        v: u64,
        type_name: &str,
        field: &str,
    ) -> Result<Arc<Dataset>, ApiError> {
        let key = (v, type_name.to_string(), field.to_string());
        if let Some(d) = self.filters.get(&key) {
            return Ok(d);
        }
        let data = self.get(v).await?;
        let spec = IndexSpec {
            name: FILTER_INDEX.to_string(),
            type_name: type_name.to_string(),
            paths: vec![field.to_string()],
        };
        let indexed =
            tokio::task::spawn_blocking(move || data.as_ref().clone().with_indexes(&[spec]))
                .await?
                .map_err(|e| ApiError::bad_request(format!("field={field:?}: {e}")))?;
        let indexed = Arc::new(indexed);
        self.filters.insert(key, indexed.clone());
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
