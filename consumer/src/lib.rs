//! # shoal-consumer
//!
//! The service side of shoal. A [`Consumer`] follows one store prefix: it fetches each blob
//! once into a local cache folder, memory-maps it, verifies it, and serves the current
//! version as a [`Dataset`] read in place: a field read is a page lookup and a bit-unpack, a
//! string is a `&str` into the map, nothing is deserialised at load.
//!
//! Versions move forward by **deltas whose cost follows the change**: applying a delta
//! builds the next dataset from the current one, sharing every column page the delta does
//! not touch (see [`dataset`](crate::Dataset)), so a refresh copies a few pages, not the
//! dataset. The current dataset sits behind an atomic pointer ([`Consumer::current`]): a
//! refresh never blocks readers, and an old version is freed by the next refresh after its last
//! handle goes (on the refreshing thread, so a reader never pays for freeing it).
//!
//! A type or field that is never read costs no memory: its pages stay in the map, on disk,
//! until the page cache brings them in.
//!
//! ```no_run
//! use std::sync::Arc;
//! use shoal_consumer::Consumer;
//! use shoal_format::RecordSource;
//!
//! #[derive(serde::Deserialize)]
//! struct Movie<'a> { id: i64, title: &'a str }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(shoal_store::FsStore::new("shoal-data")?);
//! let consumer = Consumer::builder(store).cache_dir("/var/cache/movies").build()?;
//! consumer.refresh().await?;
//! let _follow = consumer.follow(); // every announcement, retrying after failures
//!
//! let data = consumer.current().expect("loaded");
//! let movie = data.type_id("Movie")?;
//! let title = data.field("Movie", "title")?;
//! for o in data.ordinals(movie).take(3) {
//!     let m: Movie<'_> = data.get(movie, o)?;        // borrows the title from the map
//!     assert_eq!(Some(m.title), data.get_str(title, o));
//! }
//! # Ok(()) }
//! ```

mod builder;
mod cache;
mod consumer;
mod dataset;
mod error;
mod follow;
mod index;
mod keytable;
mod map;
mod parallel;
mod plan;
mod refresh;

pub use builder::ConsumerBuilder;
pub use consumer::{Consumer, Listener, RefreshEvent};
pub use dataset::{ApplyStats, ColumnStats, Dataset, Field, IndexId};
pub use error::{Error, Result};
pub use follow::{FollowOptions, Follower, Status};
pub use index::IndexSpec;

impl Dataset {
    /// Deserialises record `ordinal` of `ty` into `T`, borrowing strings and bytes from the
    /// map where `T` borrows. Fields `T` does not name are not read; fields it names that the
    /// schema lacks are `None`.
    pub fn get<'a, T: serde::Deserialize<'a>>(
        &'a self,
        ty: shoal_format::TypeId,
        ordinal: shoal_format::Ordinal,
    ) -> Result<T> {
        Ok(shoal_format::from_source(self, ty, ordinal)?)
    }
}
