//! The sections inside a blob: a type section (slot count and ordinal bitmaps) and column
//! sections (pages and a page directory), written and parsed here for snapshots and deltas
//! alike.
//!
//! Parsing a column section reads its directory and every page header (O(pages), not
//! O(records)) so that every later read is in bounds without further checks. The directory's
//! size is checked against the section before anything is allocated: a section that claims
//! 2^60 records is an error, not an abort.

use std::io::Write;
use std::ops::Range;

use roaring::RoaringBitmap;

use crate::blob::{align8, le_u32, le_u64, BlobLayout, BlobWriter, SectionEntry};
use crate::error::{Error, Result};
use crate::page::{
    encode_fixed, encode_var, FixedCell, FixedHeader, FixedPage, ReadError, VarCell, VarHeader,
    VarPage, PAGE_HEADER_LEN,
};
use crate::read::{Elements, FieldValue};
use crate::record::{Record, Value};
use crate::schema::{ColumnKind, FixedKind, VarKind};

/// What the writer puts in one slot of a column.
#[derive(Debug, Clone)]
pub(crate) enum Cell<'a> {
    /// An unpopulated ordinal.
    Hole,
    /// A field of an object record.
    Value(&'a Value),
    /// A whole list, set or map record.
    Record(&'a Record),
    /// A field read in place from a [`RecordSource`](crate::RecordSource).
    Field(FieldValue<'a>),
    /// A list, set or map read in place from a [`RecordSource`](crate::RecordSource).
    Elements(Elements<'a>),
}

fn fixed_cell(cell: &Cell<'_>) -> FixedCell {
    match cell {
        Cell::Value(v) => fixed_of(FieldValue::from(*v)),
        Cell::Field(v) => fixed_of(*v),
        Cell::Hole | Cell::Record(_) | Cell::Elements(_) => FixedCell::Hole,
    }
}

fn fixed_of(v: FieldValue<'_>) -> FixedCell {
    match v {
        FieldValue::Bool(b) => FixedCell::Raw(b as u64),
        FieldValue::I32(x) => FixedCell::Raw(x as i64 as u64),
        FieldValue::I64(x) => FixedCell::Raw(x as u64),
        FieldValue::F32(x) => FixedCell::Raw(x.to_bits() as u64),
        FieldValue::F64(x) => FixedCell::Raw(x.to_bits()),
        FieldValue::Ref(o) => FixedCell::Raw(o.0 as u64),
        FieldValue::Null | FieldValue::Str(_) | FieldValue::Bytes(_) => FixedCell::Null,
    }
}

fn var_cell<'a>(cell: &Cell<'a>) -> VarCell<'a> {
    match cell {
        Cell::Hole => VarCell::Hole,
        Cell::Value(v) => var_of(FieldValue::from(*v)),
        Cell::Field(v) => var_of(*v),
        Cell::Record(Record::List(e)) | Cell::Record(Record::Set(e)) => VarCell::Ordinals(e),
        Cell::Record(Record::Map(e)) => VarCell::Pairs(e),
        Cell::Record(Record::Object(_)) => VarCell::Hole,
        Cell::Elements(e) => VarCell::Elements(e.clone()),
    }
}

fn var_of(v: FieldValue<'_>) -> VarCell<'_> {
    match v {
        FieldValue::Str(s) => VarCell::Bytes(s.as_bytes()),
        FieldValue::Bytes(b) => VarCell::Bytes(b),
        _ => VarCell::Null,
    }
}

/// The cell of column `column` of a record, or a hole.
pub(crate) fn cell_of(record: Option<&Record>, column: usize) -> Cell<'_> {
    match record {
        None => Cell::Hole,
        Some(Record::Object(values)) => values.get(column).map_or(Cell::Hole, Cell::Value),
        Some(r) => Cell::Record(r),
    }
}

/// Writes a type section: the slot count and the given bitmaps.
pub(crate) fn write_type_section<W: Write>(
    w: &mut BlobWriter<W>,
    slot_count: u32,
    bitmaps: &[&RoaringBitmap],
) -> Result<()> {
    let mut buf = Vec::new();
    buf.extend_from_slice(&slot_count.to_le_bytes());
    buf.extend_from_slice(&(bitmaps.len() as u32).to_le_bytes());
    for b in bitmaps {
        write_bitmap(b, &mut buf)?;
    }
    w.write(&buf)
}

/// Appends a bitmap: its length as u64, its portable serialization (run containers where
/// they are smaller), zero padding to 8 bytes.
pub(crate) fn write_bitmap(bitmap: &RoaringBitmap, buf: &mut Vec<u8>) -> Result<()> {
    let len_at = buf.len();
    buf.extend_from_slice(&[0u8; 8]);
    // `optimize` keeps a run container where runs and an array tie, so it starts from one
    // representation: the bytes depend on the set only, not on how it was built.
    let mut optimized = bitmap.clone();
    optimized.remove_run_compression();
    optimized.optimize();
    optimized.serialize_into(&mut *buf)?;
    let len = (buf.len() - len_at - 8) as u64;
    buf[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
    buf.resize(align8(buf.len() as u64) as usize, 0);
    Ok(())
}

/// Reads a bitmap written by [`write_bitmap`] at `at` within `section`; returns it and the
/// offset just past it.
pub(crate) fn read_bitmap(
    layout: &BlobLayout,
    entry: &SectionEntry,
    section: &[u8],
    at: usize,
) -> Result<(RoaringBitmap, usize)> {
    let out_of_range = |needed: u64| Error::OutOfRange {
        at: layout.location(entry, at as u64),
        needed,
        available: section.len() as u64,
    };
    let len_bytes = section
        .get(at..at + 8)
        .ok_or_else(|| out_of_range(at as u64 + 8))?;
    let len = le_u64(len_bytes);
    let end = (at as u64 + 8)
        .checked_add(len)
        .filter(|&e| e <= section.len() as u64)
        .ok_or_else(|| out_of_range((at as u64 + 8).saturating_add(len)))?;
    let mut reader = &section[at + 8..end as usize];
    let bitmap = RoaringBitmap::deserialize_from(&mut reader).map_err(|e| {
        Error::malformed(
            layout.location(entry, at as u64 + 8),
            format!("roaring bitmap: {e}"),
        )
    })?;
    if !reader.is_empty() {
        return Err(Error::malformed(
            layout.location(entry, at as u64 + 8),
            format!("{} bytes after the roaring bitmap", reader.len()),
        ));
    }
    Ok((bitmap, align8(end) as usize))
}

/// A parsed type section.
pub(crate) struct TypeSection {
    pub slot_count: u32,
    pub bitmaps: Vec<RoaringBitmap>,
}

pub(crate) fn read_type_section(
    layout: &BlobLayout,
    bytes: &[u8],
    entry: &SectionEntry,
    expected_bitmaps: u32,
) -> Result<TypeSection> {
    let section = section_bytes(bytes, entry);
    let head = section.get(0..8).ok_or_else(|| Error::OutOfRange {
        at: layout.location(entry, 0),
        needed: 8,
        available: section.len() as u64,
    })?;
    let slot_count = le_u32(&head[0..4]);
    let count = le_u32(&head[4..8]);
    if count != expected_bitmaps {
        return Err(Error::malformed(
            layout.location(entry, 4),
            format!("{count} bitmaps, expected {expected_bitmaps}"),
        ));
    }
    let mut at = 8;
    let mut bitmaps = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (bitmap, next) = read_bitmap(layout, entry, section, at)?;
        bitmaps.push(bitmap);
        at = next;
    }
    if at != section.len() {
        return Err(Error::malformed(
            layout.location(entry, at as u64),
            format!("{} bytes after the bitmaps", section.len() - at),
        ));
    }
    Ok(TypeSection {
        slot_count,
        bitmaps,
    })
}

pub(crate) fn section_bytes<'a>(bytes: &'a [u8], entry: &SectionEntry) -> &'a [u8] {
    bytes
        .get(entry.offset as usize..(entry.offset + entry.len) as usize)
        .unwrap_or(&[])
}

/// Writes the pages of `count` values of a column and the page directory, into the open
/// section. `cells(start, end, out)` pushes the cells of values `start..end`.
pub(crate) fn write_pages<'a, W: Write>(
    w: &mut BlobWriter<W>,
    kind: ColumnKind,
    count: usize,
    (page_shift, dictionary): (u8, bool),
    mut cells: impl FnMut(usize, usize, &mut Vec<Cell<'a>>) -> Result<()>,
) -> Result<()> {
    let mut encoder = PageEncoder::new(kind, count, (page_shift, dictionary));
    let pages = count.div_ceil(1 << page_shift);
    let mut offsets = Vec::with_capacity(pages);
    let mut buf = Vec::new();
    for page in 0..pages {
        buf.clear();
        encoder.encode(page, &mut cells, &mut buf)?;
        offsets.push(w.section_pos());
        w.write(&buf)?;
    }
    write_directory(w, &offsets)
}

/// The page directory that closes a column section: where each page starts in it.
fn write_directory<W: Write>(w: &mut BlobWriter<W>, offsets: &[u64]) -> Result<()> {
    let bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
    w.write(&bytes)
}

/// Encodes the pages of a column of `count` values one at a time (its buffers reused).
struct PageEncoder<'a> {
    kind: ColumnKind,
    count: usize,
    page_shift: u8,
    dictionary: bool,
    cells: Vec<Cell<'a>>,
    fixed: Vec<FixedCell>,
    var: Vec<VarCell<'a>>,
}

impl<'a> PageEncoder<'a> {
    fn new(kind: ColumnKind, count: usize, (page_shift, dictionary): (u8, bool)) -> Self {
        let per_page = 1usize << page_shift;
        PageEncoder {
            kind,
            count,
            page_shift,
            dictionary,
            cells: Vec::with_capacity(per_page),
            fixed: Vec::with_capacity(per_page),
            var: Vec::with_capacity(per_page),
        }
    }

    /// Appends page `page` to `out`, its cells from `cells(start, end, out)`.
    fn encode(
        &mut self,
        page: usize,
        cells: &mut impl FnMut(usize, usize, &mut Vec<Cell<'a>>) -> Result<()>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let (start, end) = self.page_range(page);
        let mut page_cells = std::mem::take(&mut self.cells);
        page_cells.clear();
        cells(start, end, &mut page_cells)?;
        debug_assert_eq!(page_cells.len(), end - start);
        self.encode_cells(&page_cells, out);
        self.cells = page_cells;
        Ok(())
    }

    /// The ordinals of page `page`.
    fn page_range(&self, page: usize) -> (usize, usize) {
        let start = page << self.page_shift;
        (start, (start + (1 << self.page_shift)).min(self.count))
    }

    /// Appends the page of `cells` (a whole page's) to `out`.
    fn encode_cells(&mut self, cells: &[Cell<'a>], out: &mut Vec<u8>) {
        match self.kind {
            ColumnKind::Fixed(k) => {
                self.fixed.clear();
                self.fixed.extend(cells.iter().map(fixed_cell));
                encode_fixed(k, &self.fixed, out);
            }
            ColumnKind::Var(k) => {
                self.var.clear();
                self.var.extend(cells.iter().map(var_cell));
                encode_var(k, &self.var, self.dictionary, out);
            }
        }
    }
}

/// The bands of pages `pages` of several columns of `count` values each (an object type's),
/// read a page of every column at once: `cells(start, end, out)` pushes the cells of values
/// `start..end` of column `c` to `out[c]`. So a record read field by field is read once for
/// all its columns, not once a column.
pub(crate) fn encode_bands<'a>(
    kinds: &[ColumnKind],
    count: usize,
    pages: Range<usize>,
    options: (u8, bool),
    mut cells: impl FnMut(usize, usize, &mut [Vec<Cell<'a>>]) -> Result<()>,
) -> Result<Vec<PageBand>> {
    let mut encoders: Vec<PageEncoder<'a>> = kinds
        .iter()
        .map(|&kind| PageEncoder::new(kind, count, options))
        .collect();
    let mut bands: Vec<PageBand> = kinds.iter().map(|_| PageBand::default()).collect();
    let mut columns: Vec<Vec<Cell<'a>>> = kinds.iter().map(|_| Vec::new()).collect();
    for page in pages {
        let Some((start, end)) = encoders.first().map(|e| e.page_range(page)) else {
            break;
        };
        columns.iter_mut().for_each(Vec::clear);
        cells(start, end, &mut columns)?;
        for ((encoder, band), column) in encoders.iter_mut().zip(&mut bands).zip(&columns) {
            debug_assert_eq!(column.len(), end - start);
            band.starts.push(band.bytes.len() as u64);
            encoder.encode_cells(column, &mut band.bytes);
        }
    }
    Ok(bands)
}

/// A band of consecutive pages of one column, encoded apart (on another thread) and
/// appended to its section later by [`PageBand::append`]: the same bytes as
/// [`write_pages`] writes, since a page does not depend on where it lands.
#[derive(Debug, Default)]
pub(crate) struct PageBand {
    bytes: Vec<u8>,
    /// Where each page starts in `bytes`.
    starts: Vec<u64>,
}

impl PageBand {
    /// Pages `pages` of a column of `count` values; `cells` as for [`write_pages`].
    pub(crate) fn encode<'a>(
        kind: ColumnKind,
        count: usize,
        pages: Range<usize>,
        options: (u8, bool),
        mut cells: impl FnMut(usize, usize, &mut Vec<Cell<'a>>) -> Result<()>,
    ) -> Result<PageBand> {
        let mut encoder = PageEncoder::new(kind, count, options);
        let mut band = PageBand::default();
        for page in pages {
            band.starts.push(band.bytes.len() as u64);
            encoder.encode(page, &mut cells, &mut band.bytes)?;
        }
        Ok(band)
    }

    /// Writes the band into the open section after the bands before it, whose page starts
    /// are in `offsets`; the last band (`last`) writes the page directory too.
    pub(crate) fn append<W: Write>(
        self,
        w: &mut BlobWriter<W>,
        offsets: &mut Vec<u64>,
        last: bool,
    ) -> Result<()> {
        let at = w.section_pos();
        offsets.extend(self.starts.iter().map(|s| at + s));
        w.write(&self.bytes)?;
        if last {
            write_directory(w, offsets)?;
        }
        Ok(())
    }
}

/// The parsed pages of one column: each page's header and where its bytes start in the blob.
#[derive(Debug, Clone)]
pub enum PageTable {
    /// Fixed pages: header and the offset of the packed codes.
    Fixed(Vec<(FixedHeader, usize)>),
    /// Var pages: header and the offset of the page.
    Var(Vec<(VarHeader, usize)>),
}

/// Parses the page directory and every page header of a column section whose pages start
/// at `prefix` and hold `count` values.
pub(crate) fn read_pages(
    layout: &BlobLayout,
    bytes: &[u8],
    entry: &SectionEntry,
    prefix: usize,
    kind: ColumnKind,
    count: u64,
) -> Result<PageTable> {
    let section = section_bytes(bytes, entry);
    let per_page = 1u64 << layout.header.page_shift;
    let n_pages = count.div_ceil(per_page);
    let dir_len = n_pages.saturating_mul(8);
    if (prefix as u64).saturating_add(dir_len) > section.len() as u64 {
        return Err(Error::OutOfRange {
            at: layout.location(entry, prefix as u64),
            needed: (prefix as u64).saturating_add(dir_len),
            available: section.len() as u64,
        });
    }
    let dir_start = section.len() - dir_len as usize;
    let offset = |i: usize| le_u64(&section[dir_start + i * 8..dir_start + i * 8 + 8]);
    let n_pages = n_pages as usize;
    let mut table = match kind {
        ColumnKind::Fixed(_) => PageTable::Fixed(Vec::with_capacity(n_pages)),
        ColumnKind::Var(_) => PageTable::Var(Vec::with_capacity(n_pages)),
    };
    let mut expected_start = prefix as u64;
    for page in 0..n_pages {
        let start = offset(page);
        let end = if page + 1 < n_pages {
            offset(page + 1)
        } else {
            dir_start as u64
        };
        if start != expected_start
            || start > end
            || end > dir_start as u64
            || !start.is_multiple_of(8)
        {
            return Err(Error::malformed(
                layout.location(entry, (dir_start + page * 8) as u64),
                format!("page {page} at {start}..{end} does not follow the previous page ({expected_start})"),
            ));
        }
        expected_start = end;
        let page_bytes = &section[start as usize..end as usize];
        let values = per_page.min(count - page as u64 * per_page) as u32;
        let at_page = |e: crate::page::PageError| {
            Error::malformed(
                layout.location(entry, start),
                format!("page {page}: {}", e.0),
            )
        };
        let absolute = entry.offset as usize + start as usize;
        match (&mut table, kind) {
            (PageTable::Fixed(pages), ColumnKind::Fixed(k)) => {
                let h = FixedHeader::parse(page_bytes, k, values).map_err(at_page)?;
                pages.push((h, absolute + PAGE_HEADER_LEN));
            }
            (PageTable::Var(pages), ColumnKind::Var(k)) => {
                let h = VarHeader::parse(page_bytes, k, values).map_err(at_page)?;
                pages.push((h, absolute));
            }
            _ => unreachable!("the table was made for this kind"),
        }
    }
    Ok(table)
}

/// Reads values of a column by index, in place.
#[derive(Debug, Clone, Copy)]
pub struct ColumnReader<'a> {
    table: &'a PageTable,
    data: &'a [u8],
    kind: ColumnKind,
    shift: u32,
}

impl<'a> ColumnReader<'a> {
    pub(crate) fn new(table: &'a PageTable, data: &'a [u8], kind: ColumnKind, shift: u8) -> Self {
        ColumnReader {
            table,
            data,
            kind,
            shift: shift as u32,
        }
    }

    /// The parsed pages of the column: each page's header and where it starts in the blob
    /// (for a fixed page, where its packed codes start). A consumer keeps these to read pages
    /// from its own copy of the bytes.
    pub(crate) fn table(&self) -> &'a PageTable {
        self.table
    }

    /// How the column is stored.
    pub fn kind(&self) -> ColumnKind {
        self.kind
    }

    /// The fixed page holding value `index`, and the index within it.
    #[inline]
    pub(crate) fn fixed_page(&self, index: usize) -> Option<(FixedPage<'a>, usize)> {
        let PageTable::Fixed(pages) = self.table else {
            return None;
        };
        let (h, at) = pages.get(index >> self.shift)?;
        let page = FixedPage::from_parts(*h, self.data.get(*at..).unwrap_or(&[]));
        Some((page, index & ((1 << self.shift) - 1)))
    }

    /// The var page holding value `index`, and the index within it.
    #[inline]
    pub(crate) fn var_page(&self, index: usize) -> Option<(VarPage<'a>, usize)> {
        let PageTable::Var(pages) = self.table else {
            return None;
        };
        let (h, at) = pages.get(index >> self.shift)?;
        let page = VarPage::from_parts(*h, self.data.get(*at..).unwrap_or(&[]));
        Some((page, index & ((1 << self.shift) - 1)))
    }

    /// Value `index` of a fixed column as raw bits; `None` for null or out of range.
    #[inline]
    pub fn raw(&self, index: usize) -> Option<u64> {
        let (page, i) = self.fixed_page(index)?;
        page.raw(i)
    }

    /// Value `index` of an i64 column.
    #[inline]
    pub fn i64(&self, index: usize) -> Option<i64> {
        self.raw(index).map(|r| r as i64)
    }

    /// Value `index` of a string column, in place.
    #[inline]
    pub fn str(&self, index: usize) -> Result<Option<&'a str>, ReadError> {
        match self.var_page(index) {
            Some((page, i)) => page.str(i),
            None => Ok(None),
        }
    }

    /// Value `index` as a borrowed field value.
    pub fn value(&self, index: usize) -> Result<FieldValue<'a>, ReadError> {
        Ok(match self.kind {
            ColumnKind::Fixed(k) => match self.fixed_page(index) {
                None => FieldValue::Null,
                Some((page, i)) => fixed_value(&page, k, i),
            },
            ColumnKind::Var(k) => match self.var_page(index) {
                None => FieldValue::Null,
                Some((page, i)) => match k {
                    VarKind::String => page.str(i)?.map_or(FieldValue::Null, FieldValue::Str),
                    VarKind::Bytes => page.bytes(i)?.map_or(FieldValue::Null, FieldValue::Bytes),
                    VarKind::Ordinals(_) | VarKind::Pairs(..) => FieldValue::Null,
                },
            },
        })
    }

    /// The elements of value `index` of a list, set or map column.
    pub fn elements(&self, index: usize) -> Result<Elements<'a>, ReadError> {
        match self.var_page(index) {
            Some((page, i)) => page.elements(i),
            None => Ok(Elements::Slice([].iter())),
        }
    }
}

fn fixed_value<'a>(page: &FixedPage<'_>, kind: FixedKind, i: usize) -> FieldValue<'a> {
    let value = match kind {
        FixedKind::Bool => page.bool(i).map(FieldValue::Bool),
        FixedKind::I32 => page.i32(i).map(FieldValue::I32),
        FixedKind::I64 => page.i64(i).map(FieldValue::I64),
        FixedKind::F32 => page.f32(i).map(FieldValue::F32),
        FixedKind::F64 => page.f64(i).map(FieldValue::F64),
        FixedKind::Ref(_) => page.ordinal(i).map(FieldValue::Ref),
    };
    value.unwrap_or(FieldValue::Null)
}

/// Turns a page read error into an error naming the section.
pub(crate) fn read_error(
    layout: &BlobLayout,
    entry: &SectionEntry,
    index: usize,
    e: ReadError,
) -> Error {
    let reason = match e {
        ReadError::BadRange { start, end, limit } => {
            format!("value {index}: offsets {start}..{end} outside the heap of {limit}")
        }
        ReadError::Utf8 => format!("value {index}: string is not UTF-8"),
    };
    Error::malformed(layout.location(entry, 0), reason)
}
