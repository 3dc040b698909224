//! # shoal-format
#![forbid(unsafe_code)]

pub mod bitpack;
mod blob;
mod delta;
mod error;
mod ids;
pub mod page;
mod read;
mod record;
mod schema;
mod schema_diff;
mod section;
mod snapshot;
mod state;

pub use blob::{BlobKind, BlobLayout, Header, SectionEntry, FORMAT_VERSION, MAGIC};
pub use delta::{write_delta, DeltaView};
pub use error::{Error, Location, Result};
pub use ids::{FieldId, Ordinal, TypeId, Version};
pub use read::{Elements, FieldValue, RecordSource};
pub use record::{Record, Value};
pub use schema::{
    ColumnKind, FieldDef, FieldKind, FieldPath, FixedKind, Schema, TypeDef, TypeKind, VarKind,
};
pub use schema_diff::{SchemaChange, SchemaDiff};
pub use section::{ColumnReader, PageTable};
pub use snapshot::{write_snapshot, SnapshotView, WriteOptions, DEFAULT_PAGE_SHIFT};
pub use state::{DataState, StateBuilder};
