//! # shoal-producer
//!
//! The batch side of shoal: a [`Producer`] publishes versions of one dataset to one
//! [`BlobStore`](shoal_store::BlobStore) prefix.
//!
//! A **cycle** ([`Producer::run_cycle`]) receives the whole new dataset through a
//! [`CycleWriter`] (serde values or dynamic records). Each record is matched against the
//! current version as it arrives: identical records keep their ordinal, duplicates are stored
//! once, anything else is new. When the closure returns, new records are placed (edits in
//! place by primary key, then freed slots page by page, then appended: see [`Placement`]),
//! validators run, and the producer writes the delta, the reverse delta and (by cadence) a
//! snapshot, then announces the new version, always last. A cycle that changes nothing
//! publishes nothing. All of a cycle's CPU work (the closure included) runs on a blocking
//! thread (`tokio::task::spawn_blocking`), never on the caller's executor; only store I/O
//! runs there. A default guard refuses a cycle that would empty a type or remove more than
//! 10% of its records ([`ProducerBuilder::max_removal`], [`ProducerBuilder::allow_empty`]). **Incremental cycles** ([`Producer::run_incremental`]) take only upserts
//! and deletes by primary key and publish exactly what the equivalent full cycle would.
//!
//! On start, [`ProducerBuilder::build`] takes the store's lease (one writer per prefix) and
//! restores the announced version (snapshot plus deltas), so the chain continues across
//! restarts. Every failure (input, validator veto, store) leaves the producer on its last
//! announced version, and nothing half-written is ever announced.
//!
//! Memory: between cycles the producer holds the current version as its own snapshot (plain
//! bytes, read in place) and two indexes that store only ordinals (record content ->
//! ordinal, primary key -> ordinal), about 5 bytes per record each: no record is held
//! decoded. A cycle adds the records that changed (the next version is an
//! [`Overlay`](shoal_format::Overlay) of the current one) and the next snapshot while it is
//! written; the snapshot is encoded every cycle, published or not, because it is the next
//! current version.
//!
//! ```
//! use std::sync::Arc;
//! use shoal_format::{FieldKind, Schema, TypeDef};
//! use shoal_producer::Producer;
//! use shoal_store::FsStore;
//!
//! #[derive(serde::Serialize)]
//! struct Movie { id: i64, title: String }
//!
//! # let dir = tempfile::tempdir()?;
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let store = Arc::new(FsStore::new(dir.path())?);
//! let schema = Schema::new(vec![TypeDef::object("Movie")
//!     .field("id", FieldKind::I64)
//!     .field("title", FieldKind::String)
//!     .primary_key(&["id"])])?;
//! let mut producer = Producer::builder(store).schema(schema).build().await?;
//! let movies = vec![Movie { id: 1, title: "Alien".into() }];
//! // The closure runs on a blocking thread, off the caller's executor: it owns what it reads.
//! let report = producer.run_cycle(move |w| {
//!     for m in &movies {
//!         w.add(m)?;
//!     }
//!     Ok::<_, shoal_producer::Error>(())
//! }).await?;
//! assert_eq!(report.version.0, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod cycle;
mod data;
mod error;
mod index;
mod infer;
mod lease;
mod offload;
mod pending;
mod place;
mod producer;
mod records;
mod report;
mod validate;
mod writer;

pub use error::{BoxError, Error, Result};
pub use infer::schema_of;
pub use place::Placement;
pub use producer::{Producer, ProducerBuilder};
pub use report::{CycleReport, Timings, TypeReport};
pub use validate::{validator_fn, CycleView, RecordCountChange, Validator};
pub use writer::{CycleWriter, IncrementalWriter};
