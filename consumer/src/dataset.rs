//! [`Dataset`]: one version of the data, read in place, with its indexes.
//!
//! The data is a [`PagedVersion`]: per type, the populated bitmap and, per column, a table
//! of page handles pointing into the memory map of a snapshot in the cache or into buffers
//! of their own. Loading a snapshot is O(types); reading a field is a shift, a mask and a
//! bit-unpack in the page. **Applying a delta** is `shoal_format`'s page-level engine
//! ([`PagedVersion::apply`]): every page the delta does not touch is shared, so the work and
//! the new memory of a refresh follow the size of the change. This module adds what a
//! service reads by: fields resolved once, and indexes (the snapshot's key tables used in
//! place, updated by each delta).

use std::sync::Arc;

use bytes::Bytes;
use roaring::RoaringBitmap;
use shoal_format::{
    ColumnKind, DeltaView, Elements, FieldId, FieldValue, Ordinal, PagedVersion, Projection,
    RecordSource, Schema, SnapshotView, TypeId, Version, VersionSource,
};

pub use shoal_format::ColumnStats;

use crate::error::{Error, Result};
use crate::index::{Index, IndexSpec};
use crate::keytable::KeyTable;
use crate::parallel::{default_threads, MAX_THREADS};

/// What applying a delta cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Column pages rebuilt (new memory).
    pub pages_rebuilt: u64,
    /// Column pages shared with the previous version.
    pub pages_shared: u64,
    /// Bytes of the rebuilt pages.
    pub bytes_rebuilt: u64,
    /// Key tables rebuilt from the data because they did not hold a record the delta
    /// removed (always 0 unless a blob or this code is wrong).
    pub key_tables_rebuilt: u64,
}

/// One version of the dataset, read in place.
#[derive(Debug, Clone)]
pub struct Dataset {
    data: PagedVersion,
    /// The snapshot's key index of each type, in place, until an index takes it over (a
    /// dataset made by a delta has none: its indexes carry their tables forward).
    key_tables: Vec<Option<KeyTable>>,
    indexes: Vec<Index>,
    /// Threads a CPU-heavy step on this dataset uses (see [`Dataset::with_threads`]).
    threads: usize,
}

/// An index of a dataset, resolved once by name: `dataset.find(index, &[key])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexId(usize);

/// A field resolved once, read many times: `dataset.get_i64(field, ordinal)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    ty: TypeId,
    field: FieldId,
    kind: ColumnKind,
}

impl Field {
    /// The type the field belongs to.
    pub fn type_id(&self) -> TypeId {
        self.ty
    }

    /// The field's position in its type.
    pub fn field_id(&self) -> FieldId {
        self.field
    }
}

impl Dataset {
    /// A dataset over the bytes of a snapshot (a memory map, or any buffer). Checks the
    /// header, section table and type sections; a column's page headers are checked when it
    /// is first read (see [`Dataset::damage`]). Checksums are the caller's business (the
    /// consumer verifies each blob once, when it enters the cache).
    pub fn from_snapshot(bytes: Bytes) -> Result<Self> {
        let view = SnapshotView::open(bytes.clone())?;
        let key_tables = (0..view.schema_arc().type_count())
            .map(|t| {
                let k = view.key_index(TypeId(t as u32))?;
                Some(KeyTable::mapped(&bytes, k))
            })
            .collect();
        Ok(Dataset {
            data: PagedVersion::of(view),
            key_tables,
            indexes: Vec::new(),
            threads: default_threads(),
        })
    }

    /// Builds indexes and applies deltas on `n` threads (default: every core but one, at most
    /// 8), and so do the versions that deltas make from this one.
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.clamp(1, MAX_THREADS);
        self
    }

    /// See [`with_threads`](Self::with_threads).
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// This dataset with `specs` indexed (O(records of each indexed type), once: later
    /// versions update the indexes incrementally).
    pub fn with_indexes(mut self, specs: &[IndexSpec]) -> Result<Self> {
        let indexes = specs
            .iter()
            .map(|spec| Index::build(&self, spec))
            .collect::<Result<Vec<_>>>()?;
        self.indexes = indexes;
        Ok(self)
    }

    /// The snapshot's key table of `ty`, when it carried one.
    pub(crate) fn key_table(&self, ty: TypeId) -> Option<&KeyTable> {
        self.key_tables.get(ty.index())?.as_ref()
    }

    /// The slots of an index read in place from the snapshot's key index section, or updated
    /// from one by deltas; `None` for an index built here (for tests: after any chain of
    /// deltas they equal the section of the same version's snapshot).
    #[doc(hidden)]
    pub fn key_index_slots(&self, index: IndexId) -> Option<Vec<shoal_format::keyindex::Slot>> {
        self.indexes.get(index.0)?.key_table()?.slots()
    }

    /// An index by name.
    pub fn index_id(&self, name: &str) -> Result<IndexId> {
        self.indexes
            .iter()
            .position(|i| i.name == name)
            .map(IndexId)
            .ok_or_else(|| Error::Usage(format!("no index `{name}`")))
    }

    /// The record whose key is `key` (values in the order of the index's paths), through a
    /// primary-key or hash index. Allocates nothing.
    #[inline]
    pub fn find(&self, index: IndexId, key: &[FieldValue<'_>]) -> Option<Ordinal> {
        self.indexes.get(index.0)?.get(self, key)
    }

    /// Every record whose key is `key`, through a hash index.
    pub fn find_all<'a>(
        &'a self,
        index: IndexId,
        key: &'a [FieldValue<'a>],
    ) -> impl Iterator<Item = Ordinal> + 'a {
        self.indexes
            .get(index.0)
            .into_iter()
            .flat_map(move |i| i.get_all(self, key))
    }

    /// The parts of an index (shards, or pages of a key table) not shared between the two
    /// versions, and the parts in all (for tests of sharing).
    #[doc(hidden)]
    pub fn index_parts_copied(&self, other: &Dataset, index: IndexId) -> (usize, usize) {
        match (self.indexes.get(index.0), other.indexes.get(index.0)) {
            (Some(a), Some(b)) => a.parts_copied(b),
            _ => (0, 0),
        }
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.data.version()
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        self.data.schema_arc()
    }

    /// The id of a type.
    pub fn type_id(&self, name: &str) -> Result<TypeId> {
        self.schema()
            .type_id(name)
            .ok_or_else(|| Error::Usage(format!("no type `{name}` in the schema")))
    }

    /// A field of an object type, resolved once for fast reads.
    pub fn field(&self, type_name: &str, field_name: &str) -> Result<Field> {
        let ty = self.type_id(type_name)?;
        let field = self.schema().field_id(ty, field_name).ok_or_else(|| {
            Error::Usage(format!("no field `{field_name}` in type `{type_name}`"))
        })?;
        Ok(Field {
            ty,
            field,
            kind: self.schema().columns(ty)[field.index()],
        })
    }

    /// The number of records of a type.
    pub fn len(&self, ty: TypeId) -> u64 {
        self.data.len(ty)
    }

    /// True when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The populated ordinals of a type, in order.
    pub fn ordinals(&self, ty: TypeId) -> impl Iterator<Item = Ordinal> + '_ {
        self.populated(ty)
            .into_iter()
            .flat_map(|p| p.iter().map(Ordinal))
    }

    /// The populated ordinals of a type.
    pub fn populated(&self, ty: TypeId) -> Option<&RoaringBitmap> {
        self.data.populated_of(ty)
    }

    /// The ordinal space of a type (highest ordinal + 1).
    pub fn slot_count(&self, ty: TypeId) -> u32 {
        self.data.slot_count(ty)
    }

    /// What was found damaged in the snapshot this version was loaded from (or came from by
    /// deltas): a column whose page headers do not parse when first read, because its
    /// cache file rotted after it was verified. Such a column reads as no value; the next
    /// refresh loads the version again from a fresh copy.
    pub fn damage(&self) -> Option<(Version, &str)> {
        self.data.damage()
    }

    /// Makes every column's page handles now instead of at first read (O(pages)): the
    /// first damage found, if any (see [`Dataset::damage`]).
    pub fn check_columns(&self) -> Result<()> {
        Ok(self.data.check_columns()?)
    }

    /// Column pages held, and the bytes they hold (shared pages counted in each version).
    pub fn page_stats(&self) -> (u64, u64) {
        self.data.page_stats()
    }

    /// How a column of `ty` is stored: pages, bytes, and the bit widths of its fixed pages.
    /// `None` for a type or column the schema lacks.
    pub fn column_stats(&self, ty: TypeId, column: FieldId) -> Option<ColumnStats> {
        self.data.column_stats(ty, column)
    }

    #[inline]
    fn raw(&self, f: Field, o: Ordinal) -> Option<u64> {
        self.data.raw(f.ty, f.field, o)
    }

    /// An i64 field (unspecified for an ordinal that holds no record: see [`contains`]).
    ///
    /// [`contains`]: RecordSource::contains
    #[inline]
    pub fn get_i64(&self, f: Field, o: Ordinal) -> Option<i64> {
        self.raw(f, o).map(|r| r as i64)
    }

    /// An i32 field.
    #[inline]
    pub fn get_i32(&self, f: Field, o: Ordinal) -> Option<i32> {
        self.raw(f, o).map(|r| r as i32)
    }

    /// An f64 field.
    #[inline]
    pub fn get_f64(&self, f: Field, o: Ordinal) -> Option<f64> {
        self.raw(f, o).map(f64::from_bits)
    }

    /// An f32 field.
    #[inline]
    pub fn get_f32(&self, f: Field, o: Ordinal) -> Option<f32> {
        self.raw(f, o).map(|r| f32::from_bits(r as u32))
    }

    /// A bool field.
    #[inline]
    pub fn get_bool(&self, f: Field, o: Ordinal) -> Option<bool> {
        self.raw(f, o).map(|r| r != 0)
    }

    /// A reference field: the ordinal of the referenced record.
    #[inline]
    pub fn get_ref(&self, f: Field, o: Ordinal) -> Option<Ordinal> {
        self.raw(f, o)
            .map(|r| Ordinal(u32::try_from(r).unwrap_or(u32::MAX)))
    }

    /// A string field, borrowed from the page (a memory map, usually). A damaged string
    /// (possible only in a blob that was never verified) reads as `None`.
    #[inline]
    pub fn get_str(&self, f: Field, o: Ordinal) -> Option<&str> {
        std::str::from_utf8(self.data.bytes(f.ty, f.field, o)?).ok()
    }

    /// A bytes field, borrowed from the page.
    #[inline]
    pub fn get_bytes(&self, f: Field, o: Ordinal) -> Option<&[u8]> {
        self.data.bytes(f.ty, f.field, o)
    }

    /// The next version: this one with `delta` applied by `shoal_format`'s page-level engine
    /// (see [`PagedVersion::apply`]), sharing every page the delta does not change, its
    /// indexes updated. A delta that changes the schema (format version 2) applies to this
    /// version read in its schema (see [`projected`](Self::projected)).
    pub fn apply<D: AsRef<[u8]>>(&self, delta: &DeltaView<D>) -> Result<(Dataset, ApplyStats)> {
        if **delta.schema() != **self.schema() && delta.layout().header.changes_schema {
            return self.projected(delta.schema())?.apply(delta);
        }
        let (data, paged) = self
            .data
            .apply(delta, self.threads)
            .map_err(|e| self.mismatch(e))?;
        let mut next = Dataset {
            data,
            key_tables: vec![None; self.key_tables.len()],
            indexes: Vec::new(),
            threads: self.threads,
        };
        let no_change = RoaringBitmap::new();
        next.indexes = self
            .indexes
            .iter()
            .map(|index| {
                let ty = index.type_id();
                index.updated(
                    self,
                    &next,
                    delta.removed(ty).unwrap_or(&no_change),
                    delta.added(ty).unwrap_or(&no_change),
                )
            })
            .collect();
        let stats = ApplyStats {
            pages_rebuilt: paged.pages_rebuilt,
            pages_shared: paged.pages_shared,
            bytes_rebuilt: paged.bytes_rebuilt,
            key_tables_rebuilt: next.indexes.iter().filter(|i| i.table_rebuilt).count() as u64,
        };
        Ok((next, stats))
    }

    /// A delta that does not fit this version is [`Error::DeltaMismatch`]; a damaged column
    /// of the snapshot it applies to stays a format error.
    fn mismatch(&self, e: shoal_format::Error) -> Error {
        match e {
            shoal_format::Error::DeltaMismatch(what) => Error::DeltaMismatch {
                version: self.version(),
                what,
            },
            e => Error::Format(e),
        }
    }

    /// This version read in `schema`, a compatible change of its own (see
    /// [`PagedVersion::projected`]): every column the two share shared whole, a new field
    /// without pages (it reads as null); key tables move with their type, and indexes find
    /// their type and fields again by name. How a delta that changes the schema applies, and
    /// how two versions of different schemas are compared.
    pub fn projected(&self, schema: &Arc<Schema>) -> Result<Dataset> {
        let incompatible = |e: shoal_format::Error| Error::DeltaMismatch {
            version: self.version(),
            what: e.to_string(),
        };
        let map = Projection::new(self.schema(), schema).map_err(incompatible)?;
        let key_tables = (0..schema.type_count())
            .map(|t| {
                let old = map.ty(TypeId(t as u32))?;
                self.key_table(old).cloned()
            })
            .collect();
        let mut next = Dataset {
            data: self.data.projected(schema).map_err(incompatible)?,
            key_tables,
            indexes: Vec::new(),
            threads: self.threads,
        };
        next.indexes = self
            .indexes
            .iter()
            .map(|index| index.projected(&next))
            .collect::<Result<_>>()?;
        Ok(next)
    }

    /// The ordinals of `ty` whose record may differ between `self` and `other` (see
    /// [`PagedVersion::differing_ordinals`]): when one came from the other by deltas, the
    /// records the deltas touched, found without reading a value.
    pub fn differing_ordinals(&self, other: &Dataset, ty: TypeId) -> RoaringBitmap {
        self.data.differing_ordinals(&other.data, ty)
    }

    /// This version as a snapshot blob, byte for byte what a producer writes for the same
    /// records (every record is read out, so it costs O(records): see
    /// `ConsumerBuilder::write_back_after`).
    pub fn encode_snapshot(&self) -> Result<Vec<u8>> {
        Ok(self.data.encode_snapshot()?)
    }

    /// True when both versions hold the same page (the same bytes, not a copy) for ordinal
    /// `o` of a column: its value cannot differ between them.
    #[inline]
    pub(crate) fn same_page_at(
        &self,
        other: &Dataset,
        ty: TypeId,
        column: FieldId,
        o: Ordinal,
    ) -> bool {
        self.data.same_page_at(&other.data, ty, column, o)
    }

    /// True when the two versions hold the same bytes for this page (for tests of sharing).
    #[doc(hidden)]
    pub fn shares_page(&self, other: &Dataset, ty: TypeId, column: FieldId, page: usize) -> bool {
        self.data.shares_page(&other.data, ty, column, page)
    }

    /// A field of a record known to exist (the indexes hold only populated ordinals): no
    /// bitmap lookup.
    #[inline]
    pub(crate) fn value_unchecked(
        &self,
        ty: TypeId,
        field: FieldId,
        ordinal: Ordinal,
    ) -> Option<FieldValue<'_>> {
        self.data.value_unchecked(ty, field, ordinal)
    }
}

impl RecordSource for Dataset {
    fn schema(&self) -> &Schema {
        self.data.schema_arc()
    }

    #[inline]
    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.data.contains(ty, ordinal)
    }

    fn field(
        &self,
        ty: TypeId,
        field: FieldId,
        ordinal: Ordinal,
    ) -> shoal_format::Result<FieldValue<'_>> {
        self.data.field(ty, field, ordinal)
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> shoal_format::Result<Elements<'_>> {
        self.data.elements(ty, ordinal)
    }
}
