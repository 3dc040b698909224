//! [`PagedVersion`]: one version of the data held as page handles, and the one engine that
//! applies deltas.
//!
//! A paged version is, per type, the populated bitmap and, per column, a table of **page
//! handles** (see `handle`): a parsed page header and a [`Bytes`] that points either into
//! a snapshot's buffer (a memory map, usually) or into a buffer of its own. Opening a
//! snapshot makes the tables lazily (O(types); a column's handles are made on first read);
//! reading a field is a shift, a mask and a bit-unpack in the page.
//!
//! **Applying a delta** (`apply`) builds the next version and shares every page the delta
//! does not touch: handles are cloned (a reference count), bytes are not. So the work and
//! the new memory of a refresh follow the size of the change. This is the only code that
//! applies a delta: the consumer reads its versions through it, the producer replays the
//! deltas it restores through it, and [`DeltaView::apply`](crate::DeltaView::apply) on a
//! [`DataState`](crate::DataState) goes through it too.

mod apply;
mod handle;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use roaring::RoaringBitmap;

use crate::page::ReadError;
use crate::read::missing;
use crate::snapshot::SnapshotView;
use crate::{
    ColumnKind, Elements, Error, FieldId, FieldValue, FixedKind, Ordinal, RecordSource, Result,
    Schema, TypeId, VarKind, Version, VersionSource, WriteOptions,
};

pub use apply::ApplyStats;
use handle::{pages_of, Page};

/// One version of the data, read in place from page handles (see the module doc).
#[derive(Debug, Clone)]
pub struct PagedVersion {
    version: Version,
    schema: Arc<Schema>,
    shift: u8,
    types: Vec<PagedType>,
}

#[derive(Debug, Clone)]
struct PagedType {
    populated: RoaringBitmap,
    slot_count: u32,
    columns: Vec<Column>,
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
/// a read needs them, so that opening a snapshot is O(types), not O(pages).
#[derive(Debug)]
struct Pages {
    list: OnceLock<Vec<Page>>,
    /// The snapshot and column the handles come from, until they are made.
    snapshot: Option<(Arc<Loaded>, TypeId, FieldId)>,
}

/// The snapshot a version was opened from, and the first damage found in it.
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
            // The first damage found is kept (see `PagedVersion::damage`).
            let _ = source.damage.set(e.to_string());
        })?;
        Ok(self
            .list
            .get_or_init(|| pages_of(reader.table(), source.view.data())))
    }
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

impl PagedVersion {
    /// A version over the bytes of a snapshot (a memory map, or any buffer). Checks the
    /// header, section table and type sections; a column's page headers are checked when it
    /// is first read (see [`damage`](Self::damage)). Checksums are the caller's business.
    pub fn open(bytes: Bytes) -> Result<Self> {
        Ok(Self::of(SnapshotView::open(bytes)?))
    }

    /// A version over an opened snapshot.
    pub fn of(view: SnapshotView<Bytes>) -> Self {
        let schema = view.schema_arc().clone();
        let shift = view.layout().header.page_shift;
        let version = view.version();
        let source = Arc::new(Loaded {
            view,
            damage: OnceLock::new(),
        });
        let types = (0..schema.type_count())
            .map(|t| {
                let ty = TypeId(t as u32);
                let columns = schema.columns(ty).iter().enumerate();
                PagedType {
                    populated: source.view.populated(ty).cloned().unwrap_or_default(),
                    slot_count: source.view.slot_count(ty),
                    columns: columns
                        .map(|(c, kind)| Column::unread(*kind, &source, ty, FieldId(c as u32)))
                        .collect(),
                }
            })
            .collect();
        PagedVersion {
            version,
            schema,
            shift,
            types,
        }
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The schema.
    pub fn schema_arc(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The page size, as a shift: a page holds `2^shift` ordinals.
    pub fn page_shift(&self) -> u8 {
        self.shift
    }

    /// The number of records of a type.
    pub fn len(&self, ty: TypeId) -> u64 {
        self.types.get(ty.index()).map_or(0, |t| t.populated.len())
    }

    /// True when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(|t| t.populated.is_empty())
    }

    /// The populated ordinals of a type.
    pub fn populated_of(&self, ty: TypeId) -> Option<&RoaringBitmap> {
        self.types.get(ty.index()).map(|t| &t.populated)
    }

    /// What was found damaged in the snapshot this version was opened from (or came from by
    /// deltas): a column whose page headers do not parse when first read. Such a column
    /// reads as no value.
    pub fn damage(&self) -> Option<(Version, &str)> {
        self.sources().find_map(|s| {
            let damage = s.damage.get()?;
            Some((s.view.version(), damage.as_str()))
        })
    }

    /// Makes every column's page handles now instead of at first read (O(pages)): the
    /// first damage found, if any.
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
        let pages = self.types.iter().flat_map(|t| &t.columns);
        pages.fold((0, 0), |(n, bytes), c| {
            let list = c.pages.list();
            (
                n + list.len() as u64,
                bytes + list.iter().map(Page::byte_len).sum::<u64>(),
            )
        })
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
            stats.bytes += p.byte_len();
            stats.dictionary_pages += u64::from(p.is_dictionary());
            if let Some(width) = p.width() {
                stats.min_width = Some(stats.min_width.map_or(width, |w| w.min(width)));
                stats.max_width = Some(stats.max_width.map_or(width, |w| w.max(width)));
            }
        }
        Some(stats)
    }

    #[inline]
    fn page(&self, ty: TypeId, column: FieldId, o: Ordinal) -> Option<(&Page, usize)> {
        let c = self.types.get(ty.index())?.columns.get(column.index())?;
        self.page_of(c, o)
    }

    #[inline]
    fn page_of<'a>(&self, c: &'a Column, o: Ordinal) -> Option<(&'a Page, usize)> {
        let p = c.pages.list().get((o.0 >> self.shift) as usize)?;
        Some((p, (o.0 & ((1 << self.shift) - 1)) as usize))
    }

    /// The raw bits of a fixed field (see the page format); `None` for null, for a var
    /// field, or past the column. Unspecified for an ordinal that holds no record.
    #[inline]
    pub fn raw(&self, ty: TypeId, column: FieldId, o: Ordinal) -> Option<u64> {
        let (page, i) = self.page(ty, column, o)?;
        page.fixed_raw(i)?
    }

    /// The bytes of a string or bytes field, borrowed from the page; `None` for null, for
    /// another kind of field, or for a value that cannot be read (possible only in a blob
    /// that was never verified).
    #[inline]
    pub fn bytes(&self, ty: TypeId, column: FieldId, o: Ordinal) -> Option<&[u8]> {
        let (page, i) = self.page(ty, column, o)?;
        page.var_bytes(i)?.ok()?
    }

    /// A field of a record known to exist: no bitmap lookup. `None` for a list, set or map
    /// type, and for a value that cannot be read.
    #[inline]
    pub fn value_unchecked(
        &self,
        ty: TypeId,
        field: FieldId,
        o: Ordinal,
    ) -> Option<FieldValue<'_>> {
        let c = self.types.get(ty.index())?.columns.get(field.index())?;
        let (page, i) = self.page_of(c, o)?;
        match c.kind {
            ColumnKind::Fixed(k) => Some(fixed_value(page.fixed_raw(i)?, k)),
            ColumnKind::Var(k @ (VarKind::String | VarKind::Bytes)) => {
                var_value(k, page.var_bytes(i)?.ok()?).ok()
            }
            ColumnKind::Var(_) => None,
        }
    }

    /// True when both versions hold the same page (the same bytes, not a copy) for ordinal
    /// `o` of a column: its value cannot differ between them.
    pub fn same_page_at(&self, other: &Self, ty: TypeId, column: FieldId, o: Ordinal) -> bool {
        matches!(
            (self.page(ty, column, o), other.page(ty, column, o)),
            (Some((a, _)), Some((b, _))) if a.same(b)
        )
    }

    /// True when the two versions hold the same bytes for page `page` of a column.
    pub fn shares_page(&self, other: &Self, ty: TypeId, column: FieldId, page: usize) -> bool {
        let at = Ordinal(u32::try_from(page << self.shift).unwrap_or(u32::MAX));
        self.shift == other.shift && self.same_page_at(other, ty, column, at)
    }

    /// The ordinals of `ty` whose record may differ between `self` and `other`: those
    /// populated in one and not the other, and every populated ordinal of a page that the two
    /// versions do not share in some column. When `other` came from `self` by deltas (or the
    /// reverse), that is the records the deltas touched, found without reading a value; two
    /// versions opened apart (or of different schemas) share nothing, so every populated
    /// ordinal is returned.
    pub fn differing_ordinals(&self, other: &Self, ty: TypeId) -> RoaringBitmap {
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
        for p in unshared_pages(a, b) {
            let start = p << self.shift;
            let mut range = RoaringBitmap::new();
            range.insert_range(start..start.saturating_add(1 << self.shift));
            out |= &all & &range;
        }
        out
    }

    /// This version as a snapshot blob, byte for byte what a producer writes for the same
    /// records with the default options (every record is read out: O(records)).
    pub fn encode_snapshot(&self) -> Result<Vec<u8>> {
        let options = WriteOptions {
            page_shift: self.shift,
            ..Default::default()
        };
        let mut out = Vec::new();
        crate::write_snapshot(self, self.version, &options, &mut out)?;
        Ok(out)
    }
}

/// The pages some column of two versions of one type does not share.
fn unshared_pages(a: &PagedType, b: &PagedType) -> RoaringBitmap {
    let mut pages = RoaringBitmap::new();
    for (ca, cb) in a.columns.iter().zip(&b.columns) {
        if Arc::ptr_eq(&ca.pages, &cb.pages) {
            continue;
        }
        let (ca, cb) = (ca.pages.list(), cb.pages.list());
        for p in 0..ca.len().max(cb.len()) {
            if !matches!((ca.get(p), cb.get(p)), (Some(x), Some(y)) if x.same(y)) {
                pages.insert(p as u32);
            }
        }
    }
    pages
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

/// A string or bytes value; null for a list, set or map column (read by `elements`).
fn var_value(
    kind: VarKind,
    bytes: Option<&[u8]>,
) -> std::result::Result<FieldValue<'_>, ReadError> {
    Ok(match (kind, bytes) {
        (_, None) => FieldValue::Null,
        (VarKind::String, Some(b)) => {
            FieldValue::Str(std::str::from_utf8(b).map_err(|_| ReadError::Utf8)?)
        }
        (VarKind::Bytes, Some(b)) => FieldValue::Bytes(b),
        _ => FieldValue::Null,
    })
}

impl RecordSource for PagedVersion {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.types
            .get(ty.index())
            .is_some_and(|t| t.populated.contains(ordinal.0))
    }

    fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>> {
        if !self.contains(ty, ordinal) {
            return Err(missing(&self.schema, ty, ordinal));
        }
        let kind = *self
            .schema
            .columns(ty)
            .get(field.index())
            .ok_or_else(|| Error::NoSuchField(format!("no {field} in {ty}")))?;
        let damaged = |e| Error::NoSuchField(format!("record {ordinal} of {ty}: {e:?}"));
        let Some((page, i)) = self.page(ty, field, ordinal) else {
            return Ok(FieldValue::Null);
        };
        Ok(match kind {
            ColumnKind::Fixed(k) => page
                .fixed_raw(i)
                .map_or(FieldValue::Null, |raw| fixed_value(raw, k)),
            ColumnKind::Var(k) => match page.var_bytes(i) {
                Some(bytes) => var_value(k, bytes.map_err(damaged)?).map_err(damaged)?,
                None => FieldValue::Null,
            },
        })
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
        if !self.contains(ty, ordinal) {
            return Err(missing(&self.schema, ty, ordinal));
        }
        match self
            .page(ty, FieldId(0), ordinal)
            .and_then(|(p, i)| p.var_elements(i))
        {
            Some(elements) => {
                elements.map_err(|e| Error::NoSuchField(format!("record {ordinal} of {ty}: {e:?}")))
            }
            None => Ok(Elements::Slice([].iter())),
        }
    }
}

impl VersionSource for PagedVersion {
    fn slot_count(&self, ty: TypeId) -> u32 {
        self.types.get(ty.index()).map_or(0, |t| t.slot_count)
    }

    fn populated(&self, ty: TypeId) -> Cow<'_, RoaringBitmap> {
        match self.types.get(ty.index()) {
            Some(t) => Cow::Borrowed(&t.populated),
            None => Cow::Owned(RoaringBitmap::new()),
        }
    }
}
