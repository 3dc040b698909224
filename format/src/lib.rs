//! # shoal-format
//!
//! The shoal blob format: a schema, a record model, and the bytes of **snapshots**, **deltas**
//! and **reverse deltas**. Pure: bytes in, bytes out, no files, no async.
//!
//! Every type's records sit at small dense **ordinals**. Each object field is a **column**, cut
//! into **pages** of `2^page_shift` ordinals (1024 by default); each page is bit-packed at its
//! own width with a frame of reference, so a page of years costs 7 bits a value and a page of
//! one-decimal ratings 7 bits too. Strings live in a per-page heap and are read in place as
//! `&str`. Because pages are self-contained, a consumer can keep every page a delta does not
//! touch. The byte layout is in `docs/FORMAT.md`.
//!
//! ```
//! use std::sync::Arc;
//! use shoal_format::*;
//!
//! let schema = Arc::new(Schema::new(vec![
//!     TypeDef::object("Movie")
//!         .field("id", FieldKind::I64)
//!         .field("title", FieldKind::String)
//!         .field("rating", FieldKind::F64)
//!         .primary_key(&["id"]),
//! ])?);
//! let movie = |id, title: &str, rating| {
//!     Record::Object(vec![Value::I64(id), Value::String(title.into()), Value::F64(rating)])
//! };
//! let mut v1 = StateBuilder::new(schema.clone());
//! v1.add_named("Movie", movie(1, "Alien", 8.5))?;
//! v1.add_named("Movie", movie(2, "Heat", 8.3))?;
//! let v1 = v1.finish();
//!
//! // Version 2 re-rates one movie, in place.
//! let mut v2 = v1.clone();
//! v2.insert(TypeId(0), Ordinal(1), movie(2, "Heat", 8.4))?;
//!
//! let mut snapshot = Vec::new();
//! write_snapshot(&v1, Version(1), &WriteOptions::default(), &mut snapshot)?;
//! let mut delta = Vec::new();
//! write_delta(&v1, &v2, Version(1), Version(2), &WriteOptions::default(), &mut delta)?;
//!
//! // Read in place: opening checks structure, `verify` checks every checksum.
//! let view = SnapshotView::open(snapshot.as_slice())?;
//! view.verify()?;
//! let titles = view.column_named("Movie", "title")?;
//! assert_eq!(titles.str(0).unwrap(), Some("Alien"));
//!
//! // Apply the delta: the result is version 2, exactly.
//! let next = DeltaView::open(delta.as_slice())?.apply(&view.to_state()?)?;
//! assert_eq!(next, v2);
//! # Ok::<(), shoal_format::Error>(())
//! ```
#![forbid(unsafe_code)]

pub(crate) mod bitpack;
mod blob;
pub mod de;
mod delta;
mod error;
mod ids;
pub mod keyindex;
mod overlay;
mod packer;
pub(crate) mod page;
mod paged;
pub mod parallel;
mod project;
mod read;
mod record;
mod rows;
mod schema;
mod schema_diff;
mod section;
pub mod ser;
mod snapshot;
mod state;

pub use blob::{
    BlobKind, BlobLayout, Header, SectionEntry, FORMAT_VERSION, MAGIC, SECTION_BASES,
    SECTION_COLUMN, SECTION_TYPE,
};
pub use de::{from_source, from_source_named};
pub use delta::{write_delta, write_delta_of, DeltaView, OrdinalChanges};
pub use error::{Error, Location, Result};
pub use ids::{FieldId, Ordinal, TypeId, Version};
pub use overlay::Overlay;
pub use packer::{ObjectPacker, PackedObject};
pub use page::ReadError;
pub use paged::{ApplyStats, ColumnStats, PagedVersion};
pub use project::{Projected, Projection};
pub use read::{Elements, FieldValue, RecordSource, VersionSource};
pub use record::{Record, Value};
pub use rows::{RefAt, Rewritten, Row, Rows};
pub use schema::{
    ColumnKind, FieldDef, FieldKind, FieldPath, FixedKind, Schema, TypeDef, TypeKind, VarKind,
};
pub use schema_diff::{SchemaChange, SchemaDiff};
pub use section::ColumnReader;
pub use ser::{add, RecordSink};
pub use snapshot::{
    write_snapshot, write_snapshot_on, KeyIndexRef, SnapshotView, WriteOptions, DEFAULT_PAGE_SHIFT,
};
pub use state::{DataState, StateBuilder};
