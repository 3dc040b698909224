//! [`ConsumerBuilder`]: what a consumer follows, where it caches, what it indexes, and how it
//! behaves when left alone for months (retries, spread, cache bound).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shoal_store::BlobStore;

use crate::consumer::{Consumer, Listener};
use crate::error::{Error, Result};
use crate::follow::FollowOptions;
use crate::index::IndexSpec;

/// Deltas after which the current version is written back to the cache as a snapshot.
const DEFAULT_WRITE_BACK_AFTER: usize = 16;

/// Configures a [`Consumer`].
pub struct ConsumerBuilder {
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) cache: Option<PathBuf>,
    pub(crate) listeners: Vec<Arc<dyn Listener>>,
    pub(crate) indexes: Vec<IndexSpec>,
    pub(crate) write_back_after: Option<usize>,
    pub(crate) cache_max_bytes: u64,
    pub(crate) follow: FollowOptions,
    pub(crate) refresh_threads: Option<usize>,
}

impl std::fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("store", &self.store.location())
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ConsumerBuilder {
    pub(crate) fn new(store: Arc<dyn BlobStore>) -> Self {
        ConsumerBuilder {
            store,
            cache: None,
            listeners: Vec::new(),
            indexes: Vec::new(),
            write_back_after: Some(DEFAULT_WRITE_BACK_AFTER),
            cache_max_bytes: 0,
            follow: FollowOptions::default(),
            refresh_threads: None,
        }
    }

    /// The local cache folder (required): blobs are fetched into it and mapped from it. It
    /// belongs to the consumer: nothing else may write there.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = Some(dir.into());
        self
    }

    /// Indexes the primary key of `type_name`; the index is named after the type.
    pub fn primary_key_index(mut self, type_name: &str) -> Self {
        self.indexes.push(IndexSpec {
            name: type_name.to_string(),
            type_name: type_name.to_string(),
            paths: Vec::new(),
        });
        self
    }

    /// A hash index named `name` on field paths of `type_name` (`"year"`, `"country.code"`).
    pub fn hash_index(mut self, name: &str, type_name: &str, paths: &[&str]) -> Self {
        self.indexes.push(IndexSpec {
            name: name.to_string(),
            type_name: type_name.to_string(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        });
        self
    }

    /// Writes the current version into the cache as a snapshot of its own once it was
    /// reached by `n` deltas or more since the last snapshot loaded (default 16; `None`
    /// never), in the background: a restarted consumer then starts from it instead of
    /// replaying the chain. The file is an ordinary snapshot blob, verified like any other
    /// when mapped.
    pub fn write_back_after(mut self, n: Option<usize>) -> Self {
        self.write_back_after = n;
        self
    }

    /// Bounds the cache folder. After every refresh the cache keeps what a restart needs to
    /// reach the current version (and a pinned one) without fetching, and other blobs,
    /// newest first, only while the whole cache stays under `bytes`. Default 0: only what is
    /// needed.
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// After a failed refresh, retry after `min`, doubling to at most `max` (with jitter),
    /// until the consumer serves its target (default 1 s to 5 min).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.follow.backoff_min = min;
        self.follow.backoff_max = max.max(min);
        self
    }

    /// Before fetching a newly announced version, a follower waits a random time up to
    /// `window` (default 0), so a large fleet spreads its requests over the window instead of
    /// sending them in the same second.
    pub fn spread(mut self, window: Duration) -> Self {
        self.follow.spread = window;
        self
    }

    /// How often a follower reads the announcement when the store cannot be watched
    /// (default 5 s, jittered).
    pub fn poll_fallback(mut self, interval: Duration) -> Self {
        self.follow.poll_fallback = interval;
        self
    }

    /// Threads a refresh uses to build indexes and apply deltas (default: every core but one,
    /// at most 8, so a refresh leaves a core to the service's own threads; on 2 cores that
    /// is one). More threads start faster and stall the service's threads more.
    pub fn refresh_threads(mut self, n: usize) -> Self {
        self.refresh_threads = Some(n);
        self
    }

    /// A follower reads the announcement at least this often even when the store's watch
    /// did not fire (default 5 min, jittered): a safety net under lost watch events.
    pub fn resync_every(mut self, period: Duration) -> Self {
        self.follow.resync = period;
        self
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Builds the consumer: opens the cache folder (removing temporary files that killed
    /// processes left in it). It holds no version yet: call [`Consumer::refresh`] (or
    /// [`Consumer::follow`]).
    pub fn build(self) -> Result<Consumer> {
        if self.cache.is_none() {
            return Err(Error::Usage("ConsumerBuilder needs a cache_dir".into()));
        }
        Consumer::from_builder(self)
    }
}
