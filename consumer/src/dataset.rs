//! [`Dataset`]: one version of the data, read in place.
//!
//! A dataset is, per type, the populated bitmap and, per column, a table of **page
//! handles**. A handle is a parsed page header and a [`Bytes`] that points either into the
//! memory map of a snapshot in the cache or into a buffer of its own. Loading a snapshot
//! builds the tables (O(pages), nothing decoded); reading a field is a shift, a mask and a
//! bit-unpack in the page.
//!
//! **Applying a delta** builds the next dataset and shares every page the delta does not
//! touch: handles are cloned (a reference count), bytes are not. For each column, a page is
//! rebuilt only if an added record lands on it with a value that differs from what the page
//! holds (an in-place edit whose column is not *present* in the delta keeps the page), or if
//! the page's length changes. Removals only clear bits. So the work and the new memory of a
//! refresh follow the size of the change: k changed records touch at most k pages per column,
//! usually far fewer.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use roaring::RoaringBitmap;
use shoal_format::page::{
    encode_fixed, encode_var, FixedCell, FixedHeader, FixedPage, ReadError, VarCell, VarHeader,
    VarPage,
};
use shoal_format::{
    ColumnKind, DeltaView, Elements, FieldId, FieldValue, FixedKind, Ordinal, PageTable,
    Projection, RecordSource, Schema, SnapshotView, TypeId, VarKind, Version,
};

use crate::error::{Error, Result};
use crate::index::{Index, IndexSpec};
use crate::keytable::KeyTable;
use crate::parallel::{default_threads, map_shares, MAX_THREADS};

/// The length of a page header; a fixed page's codes follow it.
const PAGE_HEADER_LEN: usize = 24;

/// One page of one column.
#[derive(Debug, Clone)]
enum Page {
    /// A fixed page: its header and its packed codes.
    Fixed(FixedHeader, Bytes),
    /// A var page: its header and the whole page.
    Var(VarHeader, Bytes),
    /// A var page with a few values replaced by a delta: the page's bytes stay shared with
    /// the versions before, the replaced values are held beside them. A delta that edits a
    /// few strings of a page costs those strings, not a page rebuilt; past
    /// [`patch_limit`] values the page is rebuilt whole.
    Patched(Arc<Patched>),
    /// A fixed page with a few values replaced by values that do not fit its width or frame
    /// (a new reference beyond the page's range, say): its codes stay shared, the replaced
    /// raw values are held beside them. Past [`patch_limit`] values the page is rebuilt.
    FixedPatched(Arc<FixedPatched>),
}

/// See [`Page::FixedPatched`].
#[derive(Debug)]
struct FixedPatched {
    h: FixedHeader,
    codes: Bytes,
    /// Replaced raw values (`None`: null) by index in the page, sorted, each index once.
    patches: Vec<(u32, Option<u64>)>,
}

impl FixedPatched {
    fn base(&self) -> FixedPage<'_> {
        FixedPage::from_parts(self.h, &self.codes)
    }
}

/// See [`Page::Patched`].
#[derive(Debug)]
struct Patched {
    h: VarHeader,
    bytes: Bytes,
    /// Replaced values by index in the page, sorted, each index once.
    patches: Vec<(u32, PatchValue)>,
}

/// A replaced value of a var page.
#[derive(Debug, Clone)]
enum PatchValue {
    Null,
    Bytes(Box<[u8]>),
    Ordinals(Box<[Ordinal]>),
    Pairs(Box<[(Ordinal, Ordinal)]>),
}

impl PatchValue {
    fn of(value: Owned<'_>) -> PatchValue {
        match value {
            Owned::Hole | Owned::Null => PatchValue::Null,
            Owned::Bytes(b) => PatchValue::Bytes(b.into()),
            Owned::Ordinals(o) => PatchValue::Ordinals(o.into()),
            Owned::Pairs(p) => PatchValue::Pairs(p.into()),
        }
    }

    fn owned(&self) -> Owned<'_> {
        match self {
            PatchValue::Null => Owned::Null,
            PatchValue::Bytes(b) => Owned::Bytes(b),
            PatchValue::Ordinals(o) => Owned::Ordinals(o.to_vec()),
            PatchValue::Pairs(p) => Owned::Pairs(p.to_vec()),
        }
    }

    fn len(&self) -> usize {
        match self {
            PatchValue::Null => 0,
            PatchValue::Bytes(b) => b.len(),
            PatchValue::Ordinals(o) => o.len() * 4,
            PatchValue::Pairs(p) => p.len() * 8,
        }
    }
}

impl Patched {
    #[inline]
    fn find(&self, i: usize) -> Option<&PatchValue> {
        let i = u32::try_from(i).ok()?;
        self.patches
            .binary_search_by_key(&i, |(at, _)| *at)
            .ok()
            .map(|k| &self.patches[k].1)
    }

    fn base(&self) -> VarPage<'_> {
        VarPage::from_parts(self.h, &self.bytes)
    }
}

/// How many values of a page may be patched before it is rebuilt (1/16 of a page).
fn patch_limit(per_page: usize) -> usize {
    (per_page / 16).max(1)
}

/// Whether a page already holding `patches` can take `updates` as patches too, within
/// [`patch_limit`].
fn fits_patches<V>(patches: &[(u32, V)], updates: &[(usize, Source)], per_page: usize) -> bool {
    let fresh = updates
        .iter()
        .filter(|(i, _)| patches.binary_search_by_key(&(*i as u32), |p| p.0).is_err())
        .count();
    patches.len() + fresh <= patch_limit(per_page)
}

/// The patches of a page after `new` ones (by index in the page; the last of one index wins,
/// though a valid delta writes each once) replace or join the `old` ones; sorted by index.
fn merge_patches<V: Clone>(old: &[(u32, V)], mut new: Vec<(u32, V)>) -> Vec<(u32, V)> {
    new.reverse();
    new.sort_by_key(|p| p.0);
    new.dedup_by_key(|p| p.0);
    let kept: Vec<(u32, V)> = old
        .iter()
        .filter(|(i, _)| new.binary_search_by_key(i, |p| p.0).is_err())
        .cloned()
        .collect();
    new.extend(kept);
    new.sort_by_key(|p| p.0);
    new
}

impl Page {
    fn len(&self) -> usize {
        match self {
            Page::Fixed(h, b) => FixedPage::from_parts(*h, b).len(),
            Page::Var(h, b) => VarPage::from_parts(*h, b).len(),
            Page::Patched(p) => p.base().len(),
            Page::FixedPatched(p) => p.base().len(),
        }
    }

    /// True when both handles share the same bytes (the page was not copied).
    fn same(&self, other: &Page) -> bool {
        match (self, other) {
            (Page::Fixed(_, a), Page::Fixed(_, b)) | (Page::Var(_, a), Page::Var(_, b)) => {
                a.as_ptr() == b.as_ptr()
            }
            (Page::Patched(a), Page::Patched(b)) => Arc::ptr_eq(a, b),
            (Page::FixedPatched(a), Page::FixedPatched(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The bytes this page holds (a patched page: its shared page and its patches).
    fn byte_len(&self) -> u64 {
        match self {
            Page::Fixed(h, b) => {
                let page = FixedPage::from_parts(*h, b);
                (PAGE_HEADER_LEN + (page.len() * page.width() as usize).div_ceil(8)) as u64
            }
            Page::Var(_, b) => b.len() as u64,
            Page::Patched(p) => {
                p.bytes.len() as u64
                    + p.patches
                        .iter()
                        .map(|(_, v)| 8 + v.len() as u64)
                        .sum::<u64>()
            }
            Page::FixedPatched(p) => {
                let page = p.base();
                (PAGE_HEADER_LEN + (page.len() * page.width() as usize).div_ceil(8)) as u64
                    + 16 * p.patches.len() as u64
            }
        }
    }

    /// The raw value `i` of a fixed page (`Some(None)`: null); `None` past the page or for
    /// a var page.
    #[inline]
    fn fixed_raw(&self, i: usize) -> Option<Option<u64>> {
        match self {
            Page::Fixed(h, b) if i < h_len(h, b) => Some(FixedPage::from_parts(*h, b).raw(i)),
            Page::FixedPatched(p) if i < p.base().len() => {
                let at = u32::try_from(i).ok()?;
                Some(match p.patches.binary_search_by_key(&at, |(k, _)| *k) {
                    Ok(k) => p.patches[k].1,
                    Err(_) => p.base().raw(i),
                })
            }
            _ => None,
        }
    }

    /// Value `i` of a string or bytes page; `None` past the page or for a fixed page.
    #[inline]
    fn var_bytes(&self, i: usize) -> Option<std::result::Result<Option<&[u8]>, ReadError>> {
        match self {
            Page::Var(h, b) if i < h_len_var(h, b) => Some(VarPage::from_parts(*h, b).bytes(i)),
            Page::Patched(p) if i < p.base().len() => Some(match p.find(i) {
                Some(PatchValue::Bytes(b)) => Ok(Some(b)),
                Some(_) => Ok(None),
                None => p.base().bytes(i),
            }),
            _ => None,
        }
    }

    /// The elements of value `i` of a list, set or map page.
    fn var_elements(&self, i: usize) -> Option<std::result::Result<Elements<'_>, ReadError>> {
        match self {
            Page::Var(h, b) if i < h_len_var(h, b) => Some(VarPage::from_parts(*h, b).elements(i)),
            Page::Patched(p) if i < p.base().len() => Some(match p.find(i) {
                Some(PatchValue::Ordinals(o)) => Ok(Elements::Slice(o.iter())),
                Some(PatchValue::Pairs(pairs)) => Ok(Elements::Pairs(pairs.iter())),
                Some(_) => Ok(Elements::Slice([].iter())),
                None => p.base().elements(i),
            }),
            _ => None,
        }
    }

    /// Value `i` of a var page as owned parts (for rebuilding and patching).
    fn var_owned(&self, kind: VarKind, i: usize) -> std::result::Result<Owned<'_>, ReadError> {
        match self {
            Page::Var(h, b) if i < h_len_var(h, b) => {
                read_var(&VarPage::from_parts(*h, b), kind, i)
            }
            Page::Patched(p) if i < p.base().len() => match p.find(i) {
                Some(v) => Ok(v.owned()),
                None => read_var(&p.base(), kind, i),
            },
            _ => Ok(Owned::Null),
        }
    }
}

#[derive(Debug, Clone)]
struct Column {
    kind: ColumnKind,
    /// Shared whole with the previous version when a delta leaves the column alone (one
    /// reference count, not one per page).
    pages: Arc<Pages>,
}

impl Column {
    /// A snapshot's column, its page handles made on first read.
    fn unread(kind: ColumnKind, source: &Arc<Loaded>, ty: TypeId, field: FieldId) -> Column {
        Column {
            kind,
            pages: Arc::new(Pages {
                list: OnceLock::new(),
                snapshot: Some((source.clone(), ty, field)),
            }),
        }
    }

    /// A column whose page handles are made.
    fn built(kind: ColumnKind, pages: Vec<Page>) -> Column {
        Column {
            kind,
            pages: Arc::new(Pages {
                list: OnceLock::from(pages),
                snapshot: None,
            }),
        }
    }
}

/// A column's page handles: made by a delta, or made from a snapshot's column the first time
/// a read needs them, so that loading a snapshot is O(types), not O(pages).
#[derive(Debug)]
struct Pages {
    list: OnceLock<Vec<Page>>,
    /// The snapshot and column the handles come from, until they are made.
    snapshot: Option<(Arc<Loaded>, TypeId, FieldId)>,
}

/// The snapshot a dataset was loaded from, and the first damage found in it.
#[derive(Debug)]
struct Loaded {
    view: SnapshotView<Bytes>,
    damage: OnceLock<String>,
}

impl Pages {
    /// The handles; none when the column cannot be read (see [`Pages::try_list`]).
    #[inline]
    fn list(&self) -> &[Page] {
        match self.list.get() {
            Some(list) => list,
            None => self.try_list().unwrap_or(&[]),
        }
    }

    /// The handles, made on first use; the error when the snapshot's column is damaged (a
    /// page header that does not parse: bits that rotted in a cache file since it was
    /// verified).
    fn try_list(&self) -> Result<&[Page]> {
        if let Some(list) = self.list.get() {
            return Ok(list);
        }
        let Some((source, ty, field)) = &self.snapshot else {
            return Ok(&[]);
        };
        let reader = source.view.column(*ty, *field).inspect_err(|e| {
            if source.damage.set(e.to_string()).is_ok() {
                tracing::error!(error = %e, "damaged snapshot column: it reads as no value");
            }
        })?;
        Ok(self
            .list
            .get_or_init(|| pages_of(reader.table(), source.view.data())))
    }
}

#[derive(Debug, Clone)]
struct TypeData {
    populated: RoaringBitmap,
    slot_count: u32,
    columns: Vec<Column>,
    /// The snapshot's key index of the type, in place, until an index takes it over (a
    /// dataset made by a delta has none: its indexes carry their tables forward).
    key_table: Option<KeyTable>,
}

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

/// How one column is stored, for `shoal inspect`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// Pages held.
    pub pages: u64,
    /// Bytes of those pages (headers included).
    pub bytes: u64,
    /// The narrowest fixed page's bit width (`None` for a var column).
    pub min_width: Option<u8>,
    /// The widest fixed page's bit width.
    pub max_width: Option<u8>,
    /// String or bytes pages stored as codes into their distinct values (format version 3).
    pub dictionary_pages: u64,
}

/// One version of the dataset, read in place.
#[derive(Debug, Clone)]
pub struct Dataset {
    version: Version,
    schema: Arc<Schema>,
    shift: u8,
    types: Vec<TypeData>,
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
        let source = Arc::new(Loaded {
            view: SnapshotView::open(bytes.clone())?,
            damage: OnceLock::new(),
        });
        let view = &source.view;
        let schema = view.schema_arc().clone();
        let shift = view.layout().header.page_shift;
        let mut types = Vec::with_capacity(schema.type_count());
        for t in 0..schema.type_count() {
            let ty = TypeId(t as u32);
            let mut columns = Vec::new();
            for (c, kind) in schema.columns(ty).iter().enumerate() {
                columns.push(Column::unread(*kind, &source, ty, FieldId(c as u32)));
            }
            types.push(TypeData {
                populated: view.populated(ty).cloned().unwrap_or_default(),
                slot_count: view.slot_count(ty),
                columns,
                key_table: view.key_index(ty).map(|k| KeyTable::mapped(&bytes, k)),
            });
        }
        Ok(Dataset {
            version: view.layout().header.to,
            schema,
            shift,
            types,
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
        self.types.get(ty.index())?.key_table.as_ref()
    }

    /// The slots of an index read in place from the snapshot's key index section, or updated
    /// from one by deltas; `None` for an index built here (for tests: after any chain of
    /// deltas they equal the section of the same version's snapshot).
    #[doc(hidden)]
    pub fn key_index_slots(&self, index: IndexId) -> Option<Vec<shoal_format::keyindex::Slot>> {
        Some(self.indexes.get(index.0)?.key_table()?.slots())
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
        self.version
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The id of a type.
    pub fn type_id(&self, name: &str) -> Result<TypeId> {
        self.schema
            .type_id(name)
            .ok_or_else(|| Error::Usage(format!("no type `{name}` in the schema")))
    }

    /// A field of an object type, resolved once for fast reads.
    pub fn field(&self, type_name: &str, field_name: &str) -> Result<Field> {
        let ty = self.type_id(type_name)?;
        let field = self.schema.field_id(ty, field_name).ok_or_else(|| {
            Error::Usage(format!("no field `{field_name}` in type `{type_name}`"))
        })?;
        Ok(Field {
            ty,
            field,
            kind: self.schema.columns(ty)[field.index()],
        })
    }

    /// The number of records of a type.
    pub fn len(&self, ty: TypeId) -> u64 {
        self.types.get(ty.index()).map_or(0, |t| t.populated.len())
    }

    /// True when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(|t| t.populated.is_empty())
    }

    /// The populated ordinals of a type, in order.
    pub fn ordinals(&self, ty: TypeId) -> impl Iterator<Item = Ordinal> + '_ {
        self.types
            .get(ty.index())
            .into_iter()
            .flat_map(|t| t.populated.iter().map(Ordinal))
    }

    /// The populated ordinals of a type.
    pub fn populated(&self, ty: TypeId) -> Option<&RoaringBitmap> {
        self.types.get(ty.index()).map(|t| &t.populated)
    }

    /// The ordinal space of a type (highest ordinal + 1).
    pub fn slot_count(&self, ty: TypeId) -> u32 {
        self.types.get(ty.index()).map_or(0, |t| t.slot_count)
    }

    /// What was found damaged in the snapshot this version was loaded from (or came from by
    /// deltas): a column whose page headers do not parse when first read, because its
    /// cache file rotted after it was verified. Such a column reads as no value; the next
    /// refresh loads the version again from a fresh copy.
    pub fn damage(&self) -> Option<(Version, &str)> {
        self.sources().find_map(|s| {
            let damage = s.damage.get()?;
            Some((s.view.version(), damage.as_str()))
        })
    }

    /// Makes every column's page handles now instead of at first read (O(pages)): the
    /// first damage found, if any (see [`Dataset::damage`]).
    pub fn check_columns(&self) -> Result<()> {
        for t in &self.types {
            for c in &t.columns {
                c.pages.try_list()?;
            }
        }
        Ok(())
    }

    /// The snapshots whose columns this version still reads.
    fn sources(&self) -> impl Iterator<Item = &Loaded> {
        self.types
            .iter()
            .flat_map(|t| &t.columns)
            .filter_map(|c| c.pages.snapshot.as_ref().map(|(s, _, _)| &**s))
    }

    /// Column pages held, and the bytes they hold (shared pages counted in each version).
    pub fn page_stats(&self) -> (u64, u64) {
        let mut pages = 0;
        let mut bytes = 0;
        for t in &self.types {
            for c in &t.columns {
                pages += c.pages.list().len() as u64;
                bytes += c.pages.list().iter().map(Page::byte_len).sum::<u64>();
            }
        }
        (pages, bytes)
    }

    #[inline]
    fn page(&self, ty: TypeId, column: FieldId, o: Ordinal) -> Option<(&Page, usize)> {
        let t = self.types.get(ty.index())?;
        let c = t.columns.get(column.index())?;
        let p = c.pages.list().get((o.0 >> self.shift) as usize)?;
        Some((p, (o.0 & ((1 << self.shift) - 1)) as usize))
    }

    #[inline]
    fn raw(&self, f: Field, o: Ordinal) -> Option<u64> {
        let (page, i) = self.page(f.ty, f.field, o)?;
        page.fixed_raw(i)?
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
        let (page, i) = self.page(f.ty, f.field, o)?;
        std::str::from_utf8(page.var_bytes(i)?.ok()??).ok()
    }

    /// A bytes field, borrowed from the page.
    #[inline]
    pub fn get_bytes(&self, f: Field, o: Ordinal) -> Option<&[u8]> {
        let (page, i) = self.page(f.ty, f.field, o)?;
        page.var_bytes(i)?.ok()?
    }

    /// The next version: this one with `delta` applied, sharing every page the delta does
    /// not change. Checks that the delta starts at this version, has this schema, removes
    /// only records that exist and adds only into free slots.
    pub fn apply<D: AsRef<[u8]>>(&self, delta: &DeltaView<D>) -> Result<(Dataset, ApplyStats)> {
        let mismatch = |what: String| Error::DeltaMismatch {
            version: self.version,
            what,
        };
        if delta.from_version() != self.version {
            return Err(mismatch(format!(
                "the delta starts at version {}",
                delta.from_version().0
            )));
        }
        if **delta.schema() != *self.schema {
            if !delta.layout().header.changes_schema {
                return Err(mismatch("the delta has another schema".into()));
            }
            // A delta that changes the schema (format version 2) applies to this version
            // read in its schema: every shared column is shared whole.
            return self.projected(delta.schema())?.apply(delta);
        }
        if delta.layout().header.page_shift != self.shift {
            return Err(mismatch("the delta has another page size".into()));
        }
        let mut stats = ApplyStats::default();
        let mut types = Vec::with_capacity(self.types.len());
        for (t, old) in self.types.iter().enumerate() {
            let ty = TypeId(t as u32);
            let removed = delta.removed(ty).cloned().unwrap_or_default();
            let added = delta.added(ty).cloned().unwrap_or_default();
            if !removed.is_subset(&old.populated) {
                return Err(mismatch(format!(
                    "it removes records of type `{}` that do not exist",
                    self.schema.types()[t].name
                )));
            }
            let mut populated = &old.populated - &removed;
            if !populated.is_disjoint(&added) {
                return Err(mismatch(format!(
                    "it adds records of type `{}` into occupied slots",
                    self.schema.types()[t].name
                )));
            }
            populated |= &added;
            let slot_count = delta.slot_count(ty);
            if populated.max().is_some_and(|m| m >= slot_count) {
                return Err(mismatch("a record lies beyond the slot count".into()));
            }
            // The ordinal space grows only by the records a delta adds: a larger slot count
            // (which sizes the page tables below) is a hostile or broken delta.
            let grown = added.max().map_or(0, |m| m + 1);
            if slot_count > old.slot_count.max(grown) {
                return Err(mismatch(format!(
                    "type `{}` grows to {slot_count} slots, beyond its records",
                    self.schema.types()[t].name
                )));
            }
            let added: Vec<u32> = added.iter().collect();
            let bases: Vec<Option<Ordinal>> = delta.bases(ty);
            let mut columns = Vec::with_capacity(old.columns.len());
            for (c, column) in old.columns.iter().enumerate() {
                let (present, reader) = delta.column(ty, FieldId(c as u32))?;
                let next = self.apply_column(
                    ApplyColumn {
                        ty,
                        column: FieldId(c as u32),
                        old: column,
                        slot_count,
                        added: &added,
                        bases: &bases,
                        present,
                        reader,
                    },
                    &mut stats,
                )?;
                columns.push(next);
            }
            types.push(TypeData {
                populated,
                slot_count,
                columns,
                key_table: None,
            });
        }
        let mut next = Dataset {
            version: delta.to_version(),
            schema: self.schema.clone(),
            shift: self.shift,
            types,
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
        stats.key_tables_rebuilt = next.indexes.iter().filter(|i| i.table_rebuilt).count() as u64;
        Ok((next, stats))
    }

    /// This version read in `schema`, a compatible change of its own (see
    /// `shoal_format::Projection`): types and fields matched by name, every column the two
    /// share shared whole, a new field without pages (it reads as null), a new type without
    /// records; indexes find their type and fields again by name. How a delta that changes
    /// the schema applies, and how two versions of different schemas are compared.
    pub fn projected(&self, schema: &Arc<Schema>) -> Result<Dataset> {
        let map = Projection::new(&self.schema, schema).map_err(|e| Error::DeltaMismatch {
            version: self.version,
            what: e.to_string(),
        })?;
        let types = (0..schema.type_count())
            .map(|t| self.projected_type(schema, &map, TypeId(t as u32)))
            .collect();
        let mut next = Dataset {
            version: self.version,
            schema: schema.clone(),
            shift: self.shift,
            types,
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

    /// Type `ty` of `schema` (see [`projected`](Self::projected)).
    fn projected_type(&self, schema: &Schema, map: &Projection, ty: TypeId) -> TypeData {
        let old = map.ty(ty).and_then(|t| self.types.get(t.index()));
        let columns = schema
            .columns(ty)
            .iter()
            .enumerate()
            .map(|(c, &kind)| {
                let shared = map.field(ty, FieldId(c as u32)).zip(old);
                match shared.and_then(|(f, old)| old.columns.get(f.index())) {
                    Some(column) => column.clone(),
                    None => Column::built(kind, Vec::new()),
                }
            })
            .collect();
        TypeData {
            populated: old.map(|t| t.populated.clone()).unwrap_or_default(),
            slot_count: old.map_or(0, |t| t.slot_count),
            columns,
            key_table: old.and_then(|t| t.key_table.clone()),
        }
    }

    fn apply_column(&self, a: ApplyColumn<'_>, stats: &mut ApplyStats) -> Result<Column> {
        let per_page = 1usize << self.shift;
        let n_pages = (a.slot_count as usize).div_ceil(per_page);
        let old = a.old.pages.try_list()?;
        // What changes, page by page: (index in page, where the value comes from).
        let mut updates: Vec<Vec<(usize, Source)>> = vec![Vec::new(); n_pages];
        // Added records are visited in order, so the rank of each in `present` is a count.
        let mut present = a.present.iter().peekable();
        let mut rank = 0;
        for (k, &o) in a.added.iter().enumerate() {
            let source = if present.next_if_eq(&(k as u32)).is_some() {
                rank += 1;
                Source::Delta(rank - 1)
            } else {
                match a.bases[k] {
                    // An in-place edit that leaves this column alone: the page holds it.
                    Some(b) if b.0 == o => continue,
                    Some(b) => Source::Old(b),
                    None => Source::Null,
                }
            };
            updates[(o as usize) / per_page].push((o as usize % per_page, source));
        }
        // A column the delta leaves alone (no value to write, same page count and lengths)
        // keeps its whole page table.
        let untouched = updates.iter().all(Vec::is_empty)
            && old.len() == n_pages
            && old.last().is_none_or(|last| {
                last.len() == per_page.min(a.slot_count as usize - (n_pages - 1) * per_page)
            });
        if untouched {
            stats.pages_shared += n_pages as u64;
            return Ok(Column {
                kind: a.old.kind,
                pages: a.old.pages.clone(),
            });
        }
        // Which pages are shared and which are rebuilt; rebuilt ones are made on several
        // threads when there are many (pages are independent).
        let mut pages: Vec<Option<Page>> = Vec::with_capacity(n_pages);
        let mut work: Vec<usize> = Vec::new();
        for (p, page_updates) in updates.iter().enumerate() {
            let count = per_page.min(a.slot_count as usize - p * per_page);
            match old.get(p) {
                Some(page) if page_updates.is_empty() && page.len() == count => {
                    pages.push(Some(page.clone()));
                    stats.pages_shared += 1;
                }
                _ => {
                    pages.push(None);
                    work.push(p);
                }
            }
        }
        let build = |ps: &[usize]| -> Result<Vec<(usize, Page)>> {
            ps.iter()
                .map(|&p| {
                    let count = per_page.min(a.slot_count as usize - p * per_page);
                    Ok((p, self.rebuild(&a, count, old.get(p), &updates[p])?))
                })
                .collect()
        };
        let built = if work.len() >= 32 {
            map_shares(&work, self.threads, build)
                .into_iter()
                .collect::<Result<Vec<_>>>()?
                .concat()
        } else {
            build(&work)?
        };
        for (p, page) in built {
            stats.pages_rebuilt += 1;
            stats.bytes_rebuilt += match &page {
                Page::Fixed(_, b) | Page::Var(_, b) => b.len() as u64,
                Page::Patched(p) => p.patches.iter().map(|(_, v)| 8 + v.len() as u64).sum(),
                Page::FixedPatched(p) => 16 * p.patches.len() as u64,
            };
            pages[p] = Some(page);
        }
        let pages = pages
            .into_iter()
            .map(|p| p.expect("every page is shared or rebuilt"))
            .collect();
        Ok(Column::built(a.old.kind, pages))
    }

    fn rebuild(
        &self,
        a: &ApplyColumn<'_>,
        count: usize,
        old: Option<&Page>,
        updates: &[(usize, Source)],
    ) -> Result<Page> {
        // Slots of the old page keep their values, removed ones included: the populated
        // bitmap says which slots hold records, so a stale value is never read, and finding
        // holes would cost a bitmap lookup per slot. Slots beyond the old page are holes until
        // an added record fills them (every added record is among the updates).
        let bad = |e: shoal_format::page::ReadError| Error::DeltaMismatch {
            version: self.version,
            what: format!("a page of type {} cannot be read: {e:?}", a.ty),
        };
        let rebuilt = |e: shoal_format::page::PageError| Error::DeltaMismatch {
            version: self.version,
            what: format!("a rebuilt page of type {} does not parse: {}", a.ty, e.0),
        };
        let mut buf = Vec::new();
        match a.old.kind {
            ColumnKind::Fixed(kind) => {
                let cell = |r: Option<u64>| r.map_or(FixedCell::Null, FixedCell::Raw);
                let new_cell = |source: Source| match source {
                    Source::Delta(rank) => {
                        cell(a.reader.fixed_page(rank).and_then(|(pg, j)| pg.raw(j)))
                    }
                    Source::Old(b) => cell(self.raw_at(a.ty, a.column, b)),
                    Source::Null => FixedCell::Null,
                };
                // The fast path: when every new value fits the old page's width, frame and
                // scale, copy its codes and patch them (a memcpy and k bit writes).
                if let Some(Page::Fixed(h, b)) = old {
                    if h.count() == count {
                        let codes: Option<Vec<(usize, u64)>> = updates
                            .iter()
                            .map(|&(i, source)| h.code_of(new_cell(source)).map(|c| (i, c)))
                            .collect();
                        if let Some(codes) = codes {
                            let len = shoal_format::bitpack::packed_len(count, h.width());
                            let mut packed = b[..len].to_vec();
                            for (i, code) in codes {
                                shoal_format::bitpack::set(&mut packed, h.width(), i, code);
                            }
                            return Ok(Page::Fixed(*h, Bytes::from(packed)));
                        }
                    }
                }
                // Next: values that do not fit (or a page patched before) are held beside
                // the shared codes, while they are few.
                let (h, codes, patches) = match old {
                    Some(Page::Fixed(h, b)) => (Some(*h), Some(b), &[][..]),
                    Some(Page::FixedPatched(p)) => (Some(p.h), Some(&p.codes), &p.patches[..]),
                    _ => (None, None, &[][..]),
                };
                if let (Some(h), Some(codes)) = (h, codes) {
                    let same_len = old.is_some_and(|p| p.len() == count);
                    if same_len && fits_patches(patches, updates, 1 << self.shift) {
                        let new = updates.iter().map(|&(i, source)| {
                            let raw = match new_cell(source) {
                                FixedCell::Raw(r) => Some(r),
                                FixedCell::Null | FixedCell::Hole => None,
                            };
                            (i as u32, raw)
                        });
                        return Ok(Page::FixedPatched(Arc::new(FixedPatched {
                            h,
                            codes: codes.clone(),
                            patches: merge_patches(patches, new.collect()),
                        })));
                    }
                }
                // No old page at all: a new page of a grown type (slots not updated hold no
                // record) or a field the schema just added, null in every record it has.
                let mut cells: Vec<FixedCell> = (0..count)
                    .map(|i| match old.map(|page| page.fixed_raw(i)) {
                        Some(Some(raw)) => cell(raw),
                        Some(None) => FixedCell::Hole,
                        None => FixedCell::Null,
                    })
                    .collect();
                for &(i, source) in updates {
                    cells[i] = new_cell(source);
                }
                encode_fixed(kind, &cells, &mut buf);
                let h = FixedHeader::parse(&buf, kind, count as u32).map_err(rebuilt)?;
                Ok(Page::Fixed(h, Bytes::from(buf).slice(PAGE_HEADER_LEN..)))
            }
            ColumnKind::Var(kind) => {
                let new_value = |source: Source| -> Result<Owned<'_>> {
                    Ok(match source {
                        Source::Delta(rank) => match a.reader.var_page(rank) {
                            Some((pg, j)) => read_var(&pg, kind, j).map_err(bad)?,
                            None => Owned::Null,
                        },
                        Source::Old(b) => match self.page(a.ty, a.column, b) {
                            Some((page, j)) => page.var_owned(kind, j).map_err(bad)?,
                            None => Owned::Null,
                        },
                        Source::Null => Owned::Null,
                    })
                };
                // The fast path: a page of the same length with few values replaced keeps
                // its bytes and holds the new values beside them.
                let (h, bytes, patches) = match old {
                    Some(Page::Var(h, b)) => (Some(*h), Some(b), &[][..]),
                    Some(Page::Patched(p)) => (Some(p.h), Some(&p.bytes), &p.patches[..]),
                    _ => (None, None, &[][..]),
                };
                if let (Some(h), Some(bytes)) = (h, bytes) {
                    let same_len = old.is_some_and(|p| p.len() == count);
                    if same_len && fits_patches(patches, updates, 1 << self.shift) {
                        let new = updates
                            .iter()
                            .map(|&(i, source)| Ok((i as u32, PatchValue::of(new_value(source)?))))
                            .collect::<Result<Vec<_>>>()?;
                        return Ok(Page::Patched(Arc::new(Patched {
                            h,
                            bytes: bytes.clone(),
                            patches: merge_patches(patches, new),
                        })));
                    }
                }
                // Values as owned parts first (elements must be unpacked), cells after.
                let mut values: Vec<Owned<'_>> = (0..count)
                    .map(|i| match old {
                        Some(page) if i < page.len() => page.var_owned(kind, i),
                        // See the fixed case above; a list, set or map is never null.
                        None if matches!(kind, VarKind::String | VarKind::Bytes) => Ok(Owned::Null),
                        _ => Ok(Owned::Hole),
                    })
                    .collect::<std::result::Result<_, _>>()
                    .map_err(bad)?;
                for &(i, source) in updates {
                    values[i] = new_value(source)?;
                }
                let cells: Vec<VarCell<'_>> = values.iter().map(Owned::cell).collect();
                // A page keeps its kind: a dictionary page (and a new page) is written as
                // one again where that is smaller; a plain page stays plain, so rebuilding
                // pages of distinct values (titles) does not hash them on every apply.
                let dictionary = match old {
                    Some(Page::Var(h, b)) => VarPage::from_parts(*h, b).is_dictionary(),
                    Some(Page::Patched(p)) => p.base().is_dictionary(),
                    _ => true,
                };
                encode_var(kind, &cells, dictionary, &mut buf);
                let h = VarHeader::parse(&buf, kind, count as u32).map_err(rebuilt)?;
                Ok(Page::Var(h, Bytes::from(buf)))
            }
        }
    }

    fn raw_at(&self, ty: TypeId, column: FieldId, o: Ordinal) -> Option<u64> {
        let (page, i) = self.page(ty, column, o)?;
        page.fixed_raw(i)?
    }

    /// How a column of `ty` is stored: pages, bytes, and the bit widths of its fixed pages.
    /// `None` for a type or column the schema lacks.
    pub fn column_stats(&self, ty: TypeId, column: FieldId) -> Option<ColumnStats> {
        let c = self.types.get(ty.index())?.columns.get(column.index())?;
        let mut stats = ColumnStats {
            pages: c.pages.list().len() as u64,
            ..ColumnStats::default()
        };
        for p in c.pages.list() {
            match p {
                Page::Fixed(h, b) => {
                    let page = FixedPage::from_parts(*h, b);
                    let width = page.width() as u8;
                    stats.bytes +=
                        (PAGE_HEADER_LEN + (page.len() * width as usize).div_ceil(8)) as u64;
                    stats.min_width = Some(stats.min_width.map_or(width, |w| w.min(width)));
                    stats.max_width = Some(stats.max_width.map_or(width, |w| w.max(width)));
                }
                Page::FixedPatched(f) => {
                    let width = f.base().width() as u8;
                    stats.bytes += p.byte_len();
                    stats.min_width = Some(stats.min_width.map_or(width, |w| w.min(width)));
                    stats.max_width = Some(stats.max_width.map_or(width, |w| w.max(width)));
                }
                Page::Var(h, b) => {
                    stats.bytes += p.byte_len();
                    stats.dictionary_pages += u64::from(VarPage::from_parts(*h, b).is_dictionary());
                }
                Page::Patched(patched) => {
                    stats.bytes += p.byte_len();
                    stats.dictionary_pages += u64::from(patched.base().is_dictionary());
                }
            }
        }
        Some(stats)
    }

    /// The ordinals of `ty` whose record may differ between `self` and `other`: those
    /// populated in one and not the other, and every populated ordinal of a page that the two
    /// versions do not share in some column. When `other` came from `self` by deltas (or the
    /// reverse), that is the records the deltas touched, found without reading a value; two
    /// versions loaded apart (or of different schemas) share nothing, so every populated
    /// ordinal is returned.
    pub fn differing_ordinals(&self, other: &Dataset, ty: TypeId) -> RoaringBitmap {
        let (Some(a), Some(b)) = (self.types.get(ty.index()), other.types.get(ty.index())) else {
            return RoaringBitmap::new();
        };
        let all = &a.populated | &b.populated;
        if (!Arc::ptr_eq(&self.schema, &other.schema) && self.schema != other.schema)
            || self.shift != other.shift
        {
            return all;
        }
        let mut out = &a.populated ^ &b.populated;
        let mut pages = RoaringBitmap::new();
        for (ca, cb) in a.columns.iter().zip(&b.columns) {
            if Arc::ptr_eq(&ca.pages, &cb.pages) {
                continue;
            }
            let (ca, cb) = (ca.pages.list(), cb.pages.list());
            for p in 0..ca.len().max(cb.len()) {
                let shared = matches!(
                    (ca.get(p), cb.get(p)),
                    (Some(x), Some(y)) if x.same(y)
                );
                if !shared {
                    pages.insert(p as u32);
                }
            }
        }
        for p in pages {
            let start = p << self.shift;
            let end = start.saturating_add(1 << self.shift);
            let mut range = RoaringBitmap::new();
            range.insert_range(start..end);
            out |= &all & &range;
        }
        out
    }

    /// This version as a snapshot blob, byte for byte what a producer writes for the same
    /// records (every record is read out, so it costs O(records): see
    /// `ConsumerBuilder::write_back_after`).
    pub fn encode_snapshot(&self) -> Result<Vec<u8>> {
        let mut state = shoal_format::DataState::new(self.schema.clone());
        for t in 0..self.schema.type_count() {
            let ty = TypeId(t as u32);
            for o in self.ordinals(ty) {
                state.insert(ty, o, RecordSource::record(self, ty, o)?)?;
            }
        }
        let mut out = Vec::new();
        shoal_format::write_snapshot(
            &state,
            self.version,
            &shoal_format::WriteOptions {
                page_shift: self.shift,
                ..Default::default()
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// True when both versions hold the same page (the same bytes, not a copy) for ordinal
    /// `o` of a column: its value cannot differ between them.
    pub(crate) fn same_page_at(
        &self,
        other: &Dataset,
        ty: TypeId,
        column: FieldId,
        o: Ordinal,
    ) -> bool {
        matches!(
            (self.page(ty, column, o), other.page(ty, column, o)),
            (Some((a, _)), Some((b, _))) if a.same(b)
        )
    }

    /// True when the two versions hold the same bytes for this page (for tests of sharing).
    #[doc(hidden)]
    pub fn shares_page(&self, other: &Dataset, ty: TypeId, column: FieldId, page: usize) -> bool {
        let get = |d: &Dataset| {
            d.types
                .get(ty.index())
                .and_then(|t| t.columns.get(column.index()))
                .and_then(|c| c.pages.list().get(page))
                .cloned()
        };
        matches!((get(self), get(other)), (Some(a), Some(b)) if a.same(&b))
    }
}

fn h_len(h: &FixedHeader, b: &Bytes) -> usize {
    FixedPage::from_parts(*h, b).len()
}

fn h_len_var(h: &VarHeader, b: &Bytes) -> usize {
    VarPage::from_parts(*h, b).len()
}

/// Everything `apply_column` needs about one column of one type.
struct ApplyColumn<'a> {
    ty: TypeId,
    column: FieldId,
    old: &'a Column,
    slot_count: u32,
    added: &'a [u32],
    bases: &'a [Option<Ordinal>],
    present: &'a RoaringBitmap,
    reader: shoal_format::ColumnReader<'a>,
}

/// Where a changed value comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The delta's column, at this rank among present values.
    Delta(usize),
    /// The previous version, at this ordinal (the base record).
    Old(Ordinal),
    /// No value.
    Null,
}

/// A var value read out of a page, ready to be re-encoded.
enum Owned<'a> {
    Hole,
    Null,
    Bytes(&'a [u8]),
    Ordinals(Vec<Ordinal>),
    Pairs(Vec<(Ordinal, Ordinal)>),
}

impl Owned<'_> {
    fn cell(&self) -> VarCell<'_> {
        match self {
            Owned::Hole => VarCell::Hole,
            Owned::Null => VarCell::Null,
            Owned::Bytes(b) => VarCell::Bytes(b),
            Owned::Ordinals(o) => VarCell::Ordinals(o),
            Owned::Pairs(p) => VarCell::Pairs(p),
        }
    }
}

fn read_var<'a>(
    page: &VarPage<'a>,
    kind: VarKind,
    i: usize,
) -> std::result::Result<Owned<'a>, shoal_format::page::ReadError> {
    Ok(match kind {
        VarKind::String | VarKind::Bytes => match page.bytes(i)? {
            Some(b) => Owned::Bytes(b),
            None => Owned::Null,
        },
        VarKind::Ordinals(_) => Owned::Ordinals(page.elements(i)?.map(|(o, _)| o).collect()),
        VarKind::Pairs(..) => Owned::Pairs(
            page.elements(i)?
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        ),
    })
}

/// Page handles for a column of a blob held in `bytes`.
fn pages_of(table: &PageTable, bytes: &Bytes) -> Vec<Page> {
    match table {
        PageTable::Fixed(pages) => pages
            .iter()
            .map(|(h, at)| Page::Fixed(*h, bytes.slice(*at..)))
            .collect(),
        PageTable::Var(pages) => pages
            .iter()
            .map(|(h, at)| Page::Var(*h, bytes.slice(*at..*at + h.byte_len())))
            .collect(),
    }
}

fn fixed_value(raw: Option<u64>, kind: FixedKind) -> FieldValue<'static> {
    let Some(r) = raw else {
        return FieldValue::Null;
    };
    match kind {
        FixedKind::Bool => FieldValue::Bool(r != 0),
        FixedKind::I32 => FieldValue::I32(r as i32),
        FixedKind::I64 => FieldValue::I64(r as i64),
        FixedKind::F32 => FieldValue::F32(f32::from_bits(r as u32)),
        FixedKind::F64 => FieldValue::F64(f64::from_bits(r)),
        FixedKind::Ref(_) => FieldValue::Ref(Ordinal(u32::try_from(r).unwrap_or(u32::MAX))),
    }
}

impl Dataset {
    /// A field of a record known to exist (the indexes hold only populated ordinals): no
    /// bitmap lookup.
    #[inline]
    pub(crate) fn value_unchecked(
        &self,
        ty: TypeId,
        field: FieldId,
        ordinal: Ordinal,
    ) -> Option<FieldValue<'_>> {
        match self.page(ty, field, ordinal)? {
            (page @ (Page::Fixed(..) | Page::FixedPatched(_)), i) => {
                let kind = match self.types[ty.index()].columns[field.index()].kind {
                    ColumnKind::Fixed(k) => k,
                    ColumnKind::Var(_) => return None,
                };
                Some(fixed_value(page.fixed_raw(i)?, kind))
            }
            (page, i) => {
                let bytes = page.var_bytes(i)?.ok()?;
                match self.types[ty.index()].columns[field.index()].kind {
                    ColumnKind::Var(VarKind::String) => Some(match bytes {
                        Some(b) => FieldValue::Str(std::str::from_utf8(b).ok()?),
                        None => FieldValue::Null,
                    }),
                    ColumnKind::Var(VarKind::Bytes) => {
                        Some(bytes.map_or(FieldValue::Null, FieldValue::Bytes))
                    }
                    _ => None,
                }
            }
        }
    }
}

impl RecordSource for Dataset {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.types
            .get(ty.index())
            .is_some_and(|t| t.populated.contains(ordinal.0))
    }

    fn field(
        &self,
        ty: TypeId,
        field: FieldId,
        ordinal: Ordinal,
    ) -> shoal_format::Result<FieldValue<'_>> {
        if !self.contains(ty, ordinal) {
            return Err(shoal_format::Error::NoSuchField(format!(
                "no record {ordinal} of {ty}"
            )));
        }
        let kind = *self
            .schema
            .columns(ty)
            .get(field.index())
            .ok_or_else(|| shoal_format::Error::NoSuchField(format!("no {field} in {ty}")))?;
        let damaged =
            |e| shoal_format::Error::NoSuchField(format!("record {ordinal} of {ty}: {e:?}"));
        Ok(match (kind, self.page(ty, field, ordinal)) {
            (ColumnKind::Fixed(k), Some((page, i))) => match page.fixed_raw(i) {
                Some(raw) => fixed_value(raw, k),
                None => FieldValue::Null,
            },
            (ColumnKind::Var(k), Some((page, i))) => match page.var_bytes(i) {
                Some(bytes) => match (k, bytes.map_err(damaged)?) {
                    (_, None) => FieldValue::Null,
                    (VarKind::String, Some(b)) => FieldValue::Str(
                        std::str::from_utf8(b).map_err(|_| damaged(ReadError::Utf8))?,
                    ),
                    (VarKind::Bytes, Some(b)) => FieldValue::Bytes(b),
                    _ => FieldValue::Null,
                },
                None => FieldValue::Null,
            },
            _ => FieldValue::Null,
        })
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> shoal_format::Result<Elements<'_>> {
        if !self.contains(ty, ordinal) {
            return Err(shoal_format::Error::NoSuchField(format!(
                "no record {ordinal} of {ty}"
            )));
        }
        match self
            .page(ty, FieldId(0), ordinal)
            .and_then(|(p, i)| p.var_elements(i))
        {
            Some(elements) => elements.map_err(|e| {
                shoal_format::Error::NoSuchField(format!("record {ordinal} of {ty}: {e:?}"))
            }),
            None => Ok(Elements::Slice([].iter())),
        }
    }
}
