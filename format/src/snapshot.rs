//! Snapshots: a whole version of a dataset, written column by column and page by page, and
//! read in place by [`SnapshotView`] over any bytes (`Vec<u8>`, `bytes::Bytes`, a memory map).

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use roaring::RoaringBitmap;

use crate::blob::{BlobKind, BlobLayout, BlobWriter, Header, SECTION_COLUMN, SECTION_TYPE};
use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId, Version};
use crate::keyindex::{
    self, check_placement, indexed_key, KeyIndexHeader, EMPTY_SLOT, KEY_INDEX_HEADER_LEN,
    SECTION_KEY_INDEX,
};
use crate::parallel::for_each_in_order;
use crate::read::{missing, Elements, FieldValue, RecordSource, VersionSource};
use crate::schema::{ColumnKind, Schema, TypeKind};
use crate::section::{
    encode_bands, read_error, read_pages, read_type_section, write_pages, write_type_section, Cell,
    ColumnReader, PageBand, PageTable,
};
use crate::state::DataState;

/// The default page size: 2^10 = 1024 ordinals (see `docs/FORMAT.md` for the measurement).
pub const DEFAULT_PAGE_SHIFT: u8 = 10;

/// Choices a writer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Ordinals per page as a power of two, 4 to 16.
    pub page_shift: u8,
    /// Write a key index section for each type keyed by its own fields, so consumers start
    /// without building one (see [`crate::keyindex`]). On by default.
    pub key_indexes: bool,
    /// Store a string or bytes page as codes into its distinct values when that is smaller
    /// (format version 3: older readers refuse such blobs by their version). On by default.
    pub dictionary: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            page_shift: DEFAULT_PAGE_SHIFT,
            key_indexes: true,
            dictionary: true,
        }
    }
}

impl WriteOptions {
    /// The format version of the blobs written with these options: 3 with dictionary pages,
    /// else `plain` (1, or 2 for a delta that changes the schema).
    pub(crate) fn format(&self, plain: u32) -> u32 {
        if self.dictionary {
            3
        } else {
            plain
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if (crate::blob::MIN_PAGE_SHIFT..=crate::blob::MAX_PAGE_SHIFT).contains(&self.page_shift) {
            return Ok(());
        }
        Err(Error::Schema(format!(
            "page shift {} outside {}..={}",
            self.page_shift,
            crate::blob::MIN_PAGE_SHIFT,
            crate::blob::MAX_PAGE_SHIFT
        )))
    }
}

/// Writes `source` (a [`DataState`], or any other [`VersionSource`]) as the snapshot of
/// `version`, streaming to `w`; returns the bytes written. Every value is read in place from
/// the source, so the bytes depend only on the records, never on where they are held.
///
/// Memory beyond the source itself is one page and one page directory at a time, and a key
/// index's table while it is written.
pub fn write_snapshot<S: VersionSource + Sync + ?Sized, W: Write>(
    source: &S,
    version: Version,
    options: &WriteOptions,
    w: W,
) -> Result<u64> {
    write_snapshot_on(source, version, options, 1, w)
}

/// [`write_snapshot`], its sections encoded on up to `threads` threads, each taking the next
/// job as it finishes one, and appended in order: the same bytes. A job is a section, or a
/// band of a large column's pages (see `BAND_PAGES`), or a band of rows of a large object
/// type's group of columns (see `column_groups`); a large keyed type's key index is
/// computed beside them (see `KeysAside`). A job's output encoded while one before it is
/// still being encoded waits in memory, at most `SECTIONS_AHEAD` per thread (with 1 thread
/// none does: each section is written as it is encoded). A section does not depend on where
/// it lands (each starts 8-aligned and is padded to 8), so one encoded apart is appended as
/// it is.
pub fn write_snapshot_on<S: VersionSource + Sync + ?Sized, W: Write>(
    source: &S,
    version: Version,
    options: &WriteOptions,
    threads: usize,
    w: W,
) -> Result<u64> {
    options.check()?;
    let header = Header {
        format: options.format(1),
        changes_schema: false,
        kind: BlobKind::Snapshot,
        page_shift: options.page_shift,
        from: Version(0),
        to: version,
    };
    let schema = source.schema();
    let mut writer = BlobWriter::new(w, &header, schema)?;
    let types: Vec<OfType<'_>> = (0..schema.type_count())
        .map(|t| OfType::of(source, TypeId(t as u32)))
        .collect();
    if threads <= 1 {
        for &(of_type, part) in &jobs_of(&types, schema, options, false) {
            write_part(&mut writer, source, of_type, part, options)?;
        }
    } else {
        let mut types = types;
        types
            .iter_mut()
            .for_each(|t| t.key_aside = key_aside(schema, t, options));
        let jobs = jobs_of(&types, schema, options, true);
        let encode =
            |&(of_type, part): &(&OfType<'_>, Part)| Piece::encode(source, of_type, part, options);
        let ahead = threads * SECTIONS_AHEAD;
        std::thread::scope(|scope| {
            let keys = KeysAside::start(scope, source, &types);
            let mut assembly = Assembly {
                offsets: Vec::new(),
                held: Vec::new(),
                keys,
            };
            for_each_in_order(&jobs, (threads, ahead), encode, |piece| {
                piece?.append_to(&mut writer, &mut assembly)
            })
        })?;
    }
    let (_, len) = writer.finish()?;
    Ok(len)
}

/// True when the key index of a type is computed beside the work queue: a keyed type of
/// more than [`BAND_PAGES`] pages, whose key index job (reading every key, sorting every
/// slot) would otherwise start only after its columns and end last, on one thread.
fn key_aside(schema: &Schema, of_type: &OfType<'_>, options: &WriteOptions) -> bool {
    let pages = (of_type.slot_count as usize).div_ceil(1 << options.page_shift);
    options.key_indexes && pages > BAND_PAGES && indexed_key(schema, of_type.ty).is_some()
}

/// The sorted key index slots of the types whose key index is computed aside, one type
/// after the other on a thread of its own, from the start of the encode: the appending
/// thread takes each at its section's place. At most one finished type's slots wait.
struct KeysAside {
    rx: std::sync::mpsc::Receiver<(TypeId, Result<Vec<keyindex::Slot>>)>,
}

impl KeysAside {
    fn start<'scope, 'env, S: VersionSource + Sync + ?Sized>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        source: &'env S,
        types: &'env [OfType<'env>],
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(0);
        scope.spawn(move || {
            for of_type in types.iter().filter(|t| t.key_aside) {
                let fields = indexed_key(source.schema(), of_type.ty).unwrap_or_default();
                let slots = sorted_key_slots(source, of_type, &fields);
                if tx.send((of_type.ty, slots)).is_err() {
                    return; // the encode stopped
                }
            }
        });
        KeysAside { rx }
    }

    /// The sorted slots of `ty`, the next type computed aside.
    fn next(&mut self, ty: TypeId) -> Result<Vec<keyindex::Slot>> {
        match self.rx.recv().ok() {
            Some((t, slots)) if t == ty => slots,
            _ => Err(Error::Schema(format!(
                "{ty}: its key index was not computed beside the encode"
            ))),
        }
    }
}

/// How far past the first section not yet written a thread may start one, in sections per
/// thread: at most `threads` times this many encoded sections wait in memory.
const SECTIONS_AHEAD: usize = 2;

/// A column of more pages than this is encoded in bands of this many pages, each a job of
/// its own, when sections are encoded on several threads: so the last large column (a list
/// type's elements, say) is not left to one thread while the others have nothing to do.
const BAND_PAGES: usize = 256;

/// Every section of the snapshot, in the order they are written; with `bands`, the columns
/// of more than [`BAND_PAGES`] pages in bands.
fn jobs_of<'t>(
    types: &'t [OfType<'t>],
    schema: &Schema,
    options: &WriteOptions,
    bands: bool,
) -> Vec<(&'t OfType<'t>, Part)> {
    let pages_of = |t: &OfType<'_>| (t.slot_count as usize).div_ceil(1 << options.page_shift);
    let is_object = |ty: TypeId| {
        let kind = &schema.types()[ty.index()].kind;
        matches!(kind, TypeKind::Object { .. })
    };
    types
        .iter()
        .flat_map(|of_type| {
            let parts = parts_of(schema, of_type.ty, options).into_iter();
            let pages = pages_of(of_type);
            let banded = bands && pages > BAND_PAGES;
            let rows = banded && is_object(of_type.ty);
            let groups = column_groups(schema.columns(of_type.ty));
            parts.flat_map(move |part| match part {
                Part::Column(column) if rows => match groups.iter().find(|g| g.0 == column.0) {
                    Some(&group) => row_parts(group, pages).map(|r| (of_type, r)).collect(),
                    None => vec![], // in the band of rows of its group
                },
                Part::Column(column) if banded => band_parts(column, pages)
                    .map(|band| (of_type, band))
                    .collect(),
                part => vec![(of_type, part)],
            })
        })
        .collect()
}

/// The bands of a column of `pages` pages.
fn band_parts(column: FieldId, pages: usize) -> impl Iterator<Item = Part> {
    (0..pages).step_by(BAND_PAGES).map(move |first| Part::Band {
        column,
        first,
        end: (first + BAND_PAGES).min(pages),
        pages,
    })
}

/// The bands of rows of a group of columns (first, count) of an object type of `pages`
/// pages.
fn row_parts((column, columns): (u32, u32), pages: usize) -> impl Iterator<Item = Part> {
    (0..pages).step_by(BAND_PAGES).map(move |first| Part::Rows {
        column: FieldId(column),
        columns,
        first,
        end: (first + BAND_PAGES).min(pages),
        pages,
    })
}

/// At most this many columns of a group are held in memory while its first is appended
/// (see [`column_groups`]).
const HELD_COLUMNS: u32 = 7;

/// The groups of an object type's columns (first, count) encoded from one read of each
/// record. A group's first column is appended band by band; the bands of the others wait
/// until its section is done (sections follow each other), so they should be small: a
/// group starts at each variable-width column (strings, the large ones) and holds at most
/// [`HELD_COLUMNS`] more. The catalog's movies: `id`, then `title` and the six numbers and
/// references after it (held: 76 MB at 10M records, where all seven after `id` would be
/// 242 MB). Each group reads the records once more.
fn column_groups(kinds: &[ColumnKind]) -> Vec<(u32, u32)> {
    let mut groups: Vec<(u32, u32)> = Vec::new();
    for (c, kind) in kinds.iter().enumerate() {
        match groups.last_mut() {
            Some(group) if matches!(kind, ColumnKind::Fixed(_)) && group.1 <= HELD_COLUMNS => {
                group.1 += 1;
            }
            _ => groups.push((c as u32, 1)),
        }
    }
    groups
}

/// A job's output, encoded on a worker thread: whole sections, or a band of a column's
/// pages, or a band of every column of an object type.
enum Piece {
    Sections(BlobWriter<Vec<u8>>),
    Band {
        ty: TypeId,
        column: FieldId,
        band: PageBand,
        first: bool,
        last: bool,
    },
    Rows {
        ty: TypeId,
        column: FieldId,
        bands: Vec<PageBand>,
        first: bool,
        last: bool,
    },
    /// The place of the key index section of `ty`, computed beside the work queue.
    KeyIndexAside(TypeId),
}

impl Piece {
    fn encode<S: VersionSource + ?Sized>(
        source: &S,
        of_type: &OfType<'_>,
        part: Part,
        options: &WriteOptions,
    ) -> Result<Piece> {
        let (ty, count) = (of_type.ty, of_type.slot_count as usize);
        let kinds = source.schema().columns(ty);
        match part {
            Part::Band {
                column,
                first,
                end,
                pages,
            } => {
                let cells = column_cells(source, ty, column);
                let kind = kinds[column.index()];
                let band = PageBand::encode(kind, count, first..end, page_options(options), cells)?;
                let (first, last) = (first == 0, end == pages);
                Ok(Piece::Band {
                    ty,
                    column,
                    band,
                    first,
                    last,
                })
            }
            Part::Rows {
                column,
                columns,
                first,
                end,
                pages,
            } => {
                let kinds = &kinds[column.index()..][..columns as usize];
                let cells = row_cells(source, ty, column, kinds.len());
                let bands = encode_bands(kinds, count, first..end, page_options(options), cells)?;
                let (first, last) = (first == 0, end == pages);
                Ok(Piece::Rows {
                    ty,
                    column,
                    bands,
                    first,
                    last,
                })
            }
            Part::KeyIndex if of_type.key_aside => Ok(Piece::KeyIndexAside(ty)),
            part => {
                let mut sections = BlobWriter::detached();
                write_part(&mut sections, source, of_type, part, options)?;
                Ok(Piece::Sections(sections))
            }
        }
    }

    /// Appends the piece to the blob, with what `assembly` carries from the pieces before.
    fn append_to<W: Write>(
        self,
        writer: &mut BlobWriter<W>,
        assembly: &mut Assembly,
    ) -> Result<()> {
        match self {
            Piece::Sections(sections) => writer.append(sections),
            Piece::Band {
                ty,
                column,
                band,
                first,
                last,
            } => {
                if first {
                    writer.begin(SECTION_COLUMN, ty, column.0);
                    assembly.offsets.clear();
                }
                band.append(writer, &mut assembly.offsets, last)?;
                if last {
                    writer.end()?;
                }
                Ok(())
            }
            Piece::Rows {
                ty,
                column,
                bands,
                first,
                last,
            } => assembly.rows(writer, (ty, column), bands, (first, last)),
            Piece::KeyIndexAside(ty) => write_key_index_of(writer, ty, assembly.keys.next(ty)?),
        }
    }
}

/// What the appending thread carries from one piece to the next: the page starts of the
/// column section being appended, and the bands of a group's columns after its first, held
/// until the first column's section is done (see [`column_groups`]).
struct Assembly {
    offsets: Vec<u64>,
    held: Vec<Vec<PageBand>>,
    keys: KeysAside,
}

impl Assembly {
    /// Appends a band of the group of columns of `ty` from `column` on (its first and last,
    /// or one between): the first column's band to its section, the others held until the
    /// last band, when each of their sections is written whole.
    fn rows<W: Write>(
        &mut self,
        writer: &mut BlobWriter<W>,
        (ty, column): (TypeId, FieldId),
        bands: Vec<PageBand>,
        (first, last): (bool, bool),
    ) -> Result<()> {
        if first {
            writer.begin(SECTION_COLUMN, ty, column.0);
            self.offsets.clear();
            self.held = (1..bands.len()).map(|_| Vec::new()).collect();
        }
        let mut bands = bands.into_iter();
        if let Some(band) = bands.next() {
            band.append(writer, &mut self.offsets, last)?;
        }
        self.held.iter_mut().zip(bands).for_each(|(h, b)| h.push(b));
        if !last {
            return Ok(());
        }
        writer.end()?;
        for (c, held) in std::mem::take(&mut self.held).into_iter().enumerate() {
            writer.begin(SECTION_COLUMN, ty, column.0 + 1 + c as u32);
            self.offsets.clear();
            let n = held.len();
            for (k, band) in held.into_iter().enumerate() {
                band.append(writer, &mut self.offsets, k + 1 == n)?;
            }
            writer.end()?;
        }
        Ok(())
    }
}

/// What every section of a type needs to know of it.
struct OfType<'a> {
    ty: TypeId,
    populated: Cow<'a, RoaringBitmap>,
    slot_count: u32,
    /// Its key index is computed beside the work queue (see [`KeysAside`]).
    key_aside: bool,
}

impl<'a> OfType<'a> {
    fn of<S: VersionSource + ?Sized>(source: &'a S, ty: TypeId) -> Self {
        OfType {
            ty,
            populated: source.populated(ty),
            slot_count: source.slot_count(ty),
            key_aside: false,
        }
    }
}

/// A section of a type, or a part of one.
#[derive(Debug, Clone, Copy)]
enum Part {
    Type,
    Column(FieldId),
    /// Pages `first..end` of a column of `pages` pages.
    Band {
        column: FieldId,
        first: usize,
        end: usize,
        pages: usize,
    },
    /// Pages `first..end` of `columns` columns from `column` on of an object type of
    /// `pages` pages.
    Rows {
        column: FieldId,
        columns: u32,
        first: usize,
        end: usize,
        pages: usize,
    },
    KeyIndex,
}

/// The sections of `ty`, in the order they are written: its type section, its columns, its
/// key index.
fn parts_of(schema: &Schema, ty: TypeId, options: &WriteOptions) -> Vec<Part> {
    let columns = (0..schema.columns(ty).len()).map(|c| Part::Column(FieldId(c as u32)));
    let key = indexed_key(schema, ty).filter(|_| options.key_indexes);
    std::iter::once(Part::Type)
        .chain(columns)
        .chain(key.map(|_| Part::KeyIndex))
        .collect()
}

fn write_part<S: VersionSource + ?Sized, W: Write>(
    writer: &mut BlobWriter<W>,
    source: &S,
    of_type: &OfType<'_>,
    part: Part,
    options: &WriteOptions,
) -> Result<()> {
    let (schema, ty) = (source.schema(), of_type.ty);
    match part {
        Part::Type => {
            writer.begin(SECTION_TYPE, ty, 0);
            write_type_section(writer, of_type.slot_count, &[&of_type.populated])?;
            writer.end()
        }
        Part::Column(column) => {
            writer.begin(SECTION_COLUMN, ty, column.0);
            write_column(writer, source, of_type, column, options)?;
            writer.end()
        }
        Part::Band { .. } | Part::Rows { .. } => Err(Error::Schema(format!(
            "{ty}: a band of pages is encoded apart, not written in place"
        ))),
        Part::KeyIndex => {
            let fields = indexed_key(schema, ty).unwrap_or_default();
            write_key_index(writer, source, of_type, &fields)
        }
    }
}

/// The pages of one column (of an object type; of a list, set or map type, its elements).
fn write_column<S: VersionSource + ?Sized, W: Write>(
    writer: &mut BlobWriter<W>,
    source: &S,
    of_type: &OfType<'_>,
    column: FieldId,
    options: &WriteOptions,
) -> Result<()> {
    let ty = of_type.ty;
    let kind = source.schema().columns(ty)[column.index()];
    let cells = column_cells(source, ty, column);
    let count = of_type.slot_count as usize;
    write_pages(writer, kind, count, page_options(options), cells)
}

fn page_options(options: &WriteOptions) -> (u8, bool) {
    (options.page_shift, options.dictionary)
}

/// What fills a page of a column: `cells(start, end, out)` pushes the cells of ordinals
/// `start..end`, read from `source` a page at a time.
fn column_cells<'s, S: VersionSource + ?Sized>(
    source: &'s S,
    ty: TypeId,
    column: FieldId,
) -> impl FnMut(usize, usize, &mut Vec<Cell<'s>>) -> Result<()> {
    let object = matches!(
        source.schema().types()[ty.index()].kind,
        TypeKind::Object { .. }
    );
    let (mut values, mut elements) = (Vec::new(), Vec::new());
    move |start, end, out| {
        let range = start as u32..end as u32;
        if object {
            values.clear();
            source.column_values(ty, column, range, &mut values)?;
            out.extend(values.iter().map(|v| v.map_or(Cell::Hole, Cell::Field)));
        } else {
            elements.clear();
            source.column_elements(ty, range, &mut elements)?;
            out.extend(
                elements
                    .drain(..)
                    .map(|e| e.map_or(Cell::Hole, Cell::Elements)),
            );
        }
        Ok(())
    }
}

/// What fills a page of `columns` columns of object type `ty` from `column` on:
/// `cells(start, end, out)` pushes the cells of ordinals `start..end` of column `column + i`
/// to `out[i]`, each record read once for all of them.
fn row_cells<'s, S: VersionSource + ?Sized>(
    source: &'s S,
    ty: TypeId,
    column: FieldId,
    columns: usize,
) -> impl FnMut(usize, usize, &mut [Vec<Cell<'s>>]) -> Result<()> {
    let mut values: Vec<Vec<Option<FieldValue<'s>>>> = vec![Vec::new(); columns];
    move |start, end, out| {
        values.iter_mut().for_each(Vec::clear);
        source.object_values(ty, column, start as u32..end as u32, &mut values)?;
        for (cells, values) in out.iter_mut().zip(&values) {
            cells.extend(values.iter().map(|v| v.map_or(Cell::Hole, Cell::Field)));
        }
        Ok(())
    }
}

/// The key index section of `ty` (see [`crate::keyindex`]): the canonical table of every
/// record's slot.
fn write_key_index<S: VersionSource + ?Sized, W: Write>(
    writer: &mut BlobWriter<W>,
    source: &S,
    of_type: &OfType<'_>,
    fields: &[FieldId],
) -> Result<()> {
    let slots = sorted_key_slots(source, of_type, fields)?;
    write_key_index_of(writer, of_type.ty, slots)
}

/// [`key_slots`], sorted.
fn sorted_key_slots<S: VersionSource + ?Sized>(
    source: &S,
    of_type: &OfType<'_>,
    fields: &[FieldId],
) -> Result<Vec<keyindex::Slot>> {
    let mut slots = key_slots(source, of_type, fields)?;
    slots.sort_unstable();
    Ok(slots)
}

/// The key index section of `ty` from its records' slots, sorted.
fn write_key_index_of<W: Write>(
    writer: &mut BlobWriter<W>,
    ty: TypeId,
    slots: Vec<keyindex::Slot>,
) -> Result<()> {
    let capacity = keyindex::capacity_for(slots.len() as u64);
    let len = keyindex::placed_len(&slots, capacity);
    let header = KeyIndexHeader {
        hash: keyindex::KEY_HASH_V1,
        capacity,
        entries: slots.len() as u64,
        slots: len,
    };
    writer.begin(SECTION_KEY_INDEX, ty, 0);
    writer.write(&header.to_bytes())?;
    const CHUNK: usize = 8 * 1024 * keyindex::SLOT_LEN;
    let mut buf = Vec::with_capacity(CHUNK);
    for slot in keyindex::placed(slots, capacity) {
        buf.extend_from_slice(&keyindex::slot_bytes(slot));
        if buf.len() >= CHUNK {
            writer.write(&buf)?;
            buf.clear();
        }
    }
    writer.write(&buf)?;
    let padding = keyindex::table_len(len) as usize - len as usize * keyindex::SLOT_LEN;
    writer.write(&[0u8; 8][..padding])?;
    writer.end()
}

/// The key index slot of every record of a type keyed by `fields`, in ordinal order. The
/// keys are read a column at a time, [`KEY_RUN`] ordinals at once, as the columns are
/// encoded: not a field of a record at a time.
fn key_slots<S: VersionSource + ?Sized>(
    source: &S,
    of_type: &OfType<'_>,
    fields: &[FieldId],
) -> Result<Vec<keyindex::Slot>> {
    let (ty, populated) = (of_type.ty, &of_type.populated);
    let mut slots = Vec::with_capacity(populated.len() as usize);
    let mut columns = vec![Vec::new(); fields.len()];
    for start in (0..of_type.slot_count).step_by(KEY_RUN) {
        let run = start..of_type.slot_count.min(start.saturating_add(KEY_RUN as u32));
        for (values, f) in columns.iter_mut().zip(fields) {
            values.clear();
            source.column_values(ty, *f, run.clone(), values)?;
        }
        for o in populated.range(run) {
            let at = (o - start) as usize;
            let hash = columns.iter().fold(keyindex::key_hash([]), |hash, values| {
                let value = values[at].unwrap_or(FieldValue::Null);
                keyindex::key_hash_step(hash, keyindex::field_word(&value))
            });
            slots.push(keyindex::slot_of(hash, o));
        }
    }
    Ok(slots)
}

/// Ordinals whose keys [`key_slots`] reads at once.
const KEY_RUN: usize = 1024;

/// A column's page table, parsed once, when first read: opening a snapshot of 100M records
/// does not walk its million page headers.
#[derive(Debug, Default)]
pub(crate) struct LazyTable(OnceLock<Result<PageTable>>);

impl Clone for LazyTable {
    fn clone(&self) -> Self {
        let copy = OnceLock::new();
        if let Some(parsed) = self.0.get() {
            let _ = copy.set(parsed.as_ref().cloned().map_err(again));
        }
        LazyTable(copy)
    }
}

/// The error a column's page table failed with, again for each later read.
fn again(e: &Error) -> Error {
    match e {
        Error::OutOfRange {
            at,
            needed,
            available,
        } => Error::OutOfRange {
            at: at.clone(),
            needed: *needed,
            available: *available,
        },
        Error::Malformed { at, reason } => Error::Malformed {
            at: at.clone(),
            reason: reason.clone(),
        },
        other => Error::NoSuchField(other.to_string()),
    }
}

/// One type of a snapshot: its ordinal space and its columns' page tables.
#[derive(Debug, Clone)]
pub(crate) struct TypeTable {
    pub slot_count: u32,
    pub populated: RoaringBitmap,
    /// Each column's section, and its page table once a read has needed it.
    pub columns: Vec<(LazyTable, crate::blob::SectionEntry)>,
    /// The key index section, when the snapshot has one for the type.
    pub key_index: Option<(KeyIndexHeader, crate::blob::SectionEntry)>,
}

/// Where a type's key index lies in a snapshot: its header, and the blob offset of its first
/// slot (slot `i` is the 12 bytes at `slots_offset + 12 i`, see [`keyindex::slot_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIndexRef {
    /// The section header.
    pub header: KeyIndexHeader,
    /// The blob offset of slot 0 (a multiple of 8).
    pub slots_offset: u64,
}

/// A snapshot read in place from `D`.
///
/// Opening checks the header, the section table and every page header (cheap: proportional
/// to the number of pages, not records); [`SnapshotView::verify`] checks every checksum and
/// every value. Reads never allocate and never copy a string.
#[derive(Debug)]
pub struct SnapshotView<D> {
    data: D,
    layout: BlobLayout,
    types: Vec<TypeTable>,
}

impl<D: AsRef<[u8]>> SnapshotView<D> {
    /// Opens a snapshot blob, checking its header, its section table and every type section
    /// (slot counts, populated ordinals, key index headers): O(types), not O(pages). A
    /// column's page headers are checked when the column is first read, and a damaged
    /// column fails that read ([`SnapshotView::column`] and every read through it) with
    /// the error; [`SnapshotView::verify`] checks everything.
    pub fn open(data: D) -> Result<Self> {
        let bytes = data.as_ref();
        let layout = BlobLayout::parse(bytes)?;
        if layout.header.kind != BlobKind::Snapshot {
            return Err(Error::WrongBlobKind {
                expected: BlobKind::Snapshot,
                found: layout.header.kind,
            });
        }
        let mut types = Vec::with_capacity(layout.schema.type_count());
        for t in 0..layout.schema.type_count() {
            types.push(open_type(&layout, bytes, TypeId(t as u32))?);
        }
        Ok(SnapshotView {
            data,
            layout,
            types,
        })
    }

    /// The bytes the view reads from.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The header and section table.
    pub fn layout(&self) -> &BlobLayout {
        &self.layout
    }

    /// The version this snapshot holds.
    pub fn version(&self) -> Version {
        self.layout.header.to
    }

    /// The schema.
    pub fn schema_arc(&self) -> &Arc<Schema> {
        &self.layout.schema
    }

    /// The number of records of a type.
    pub fn len(&self, ty: TypeId) -> u64 {
        self.types.get(ty.index()).map_or(0, |t| t.populated.len())
    }

    /// True when the snapshot holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(|t| t.populated.is_empty())
    }

    /// The size of a type's ordinal space (highest ordinal plus one).
    pub fn slot_count(&self, ty: TypeId) -> u32 {
        self.types.get(ty.index()).map_or(0, |t| t.slot_count)
    }

    /// The populated ordinals of a type.
    pub fn populated(&self, ty: TypeId) -> Option<&RoaringBitmap> {
        self.types.get(ty.index()).map(|t| &t.populated)
    }

    /// The populated ordinals of a type, in order.
    pub fn ordinals(&self, ty: TypeId) -> impl Iterator<Item = Ordinal> + '_ {
        self.populated(ty)
            .into_iter()
            .flat_map(|b| b.iter().map(Ordinal))
    }

    /// A reader of one column (an object field, or the elements of a collection type).
    ///
    /// It reads by ordinal without checking that the ordinal is populated: an unpopulated
    /// ordinal below the slot count reads as an unspecified value. Use
    /// [`RecordSource::contains`] where that matters.
    pub fn column(&self, ty: TypeId, column: FieldId) -> Result<ColumnReader<'_>> {
        let kind = *self
            .layout
            .schema
            .columns(ty)
            .get(column.index())
            .ok_or_else(|| Error::NoSuchField(format!("no {column} in {ty}")))?;
        let table = self.table(ty, column.index(), kind)?;
        Ok(ColumnReader::new(
            table,
            self.data.as_ref(),
            kind,
            self.layout.header.page_shift,
        ))
    }

    /// A reader of a column by type and field name.
    pub fn column_named(&self, type_name: &str, field: &str) -> Result<ColumnReader<'_>> {
        let schema = &self.layout.schema;
        let ty = schema
            .type_id(type_name)
            .ok_or_else(|| Error::NoSuchField(format!("no type `{type_name}`")))?;
        let f = schema
            .field_id(ty, field)
            .ok_or_else(|| Error::NoSuchField(format!("no field `{field}` in `{type_name}`")))?;
        self.column(ty, f)
    }

    /// A type's key index, when the snapshot has one (see [`crate::keyindex`]).
    pub fn key_index(&self, ty: TypeId) -> Option<KeyIndexRef> {
        let (header, entry) = self.types.get(ty.index())?.key_index?;
        Some(KeyIndexRef {
            header,
            slots_offset: entry.offset + KEY_INDEX_HEADER_LEN as u64,
        })
    }

    /// The pairs of records of `ty` whose keys hash alike, read from its key index section
    /// (`None` when the snapshot has none): entries are in hash order there, so such records
    /// are neighbours, and they are the only ones that can share a key. Each pair is (lower,
    /// higher ordinal). One pass over the slots.
    pub fn key_hash_twins(&self, ty: TypeId) -> Option<Vec<(Ordinal, Ordinal)>> {
        let index = self.key_index(ty)?;
        let start = index.slots_offset as usize;
        let len = index.header.slots as usize * keyindex::SLOT_LEN;
        let slots = self.data.as_ref().get(start..start + len)?;
        let entries = slots
            .chunks_exact(keyindex::SLOT_LEN)
            .map(keyindex::slot_from)
            .filter(|&s| s != EMPTY_SLOT);
        let mut twins = Vec::new();
        let mut last = EMPTY_SLOT;
        for slot in entries {
            if last != EMPTY_SLOT && keyindex::slot_hash(last) == keyindex::slot_hash(slot) {
                let ordinal = |s| Ordinal(keyindex::slot_ordinal(s));
                twins.push((ordinal(last), ordinal(slot)));
            }
            last = slot;
        }
        Some(twins)
    }

    /// Checks every column's page headers now rather than at first use (what opening used
    /// to check): O(pages).
    pub fn check_pages(&self) -> Result<()> {
        for (t, table) in self.types.iter().enumerate() {
            for c in 0..table.columns.len() {
                self.column(TypeId(t as u32), FieldId(c as u32))?;
            }
        }
        Ok(())
    }

    /// Checks every section's checksum, then every value (string offsets, UTF-8, elements),
    /// then every key index (see [`SnapshotView::verify_key_indexes`]).
    pub fn verify(&self) -> Result<()> {
        let bytes = self.data.as_ref();
        self.layout.verify(bytes)?;
        for (t, table) in self.types.iter().enumerate() {
            for (c, (_, entry)) in table.columns.iter().enumerate() {
                let reader = self.column(TypeId(t as u32), FieldId(c as u32))?;
                for i in 0..table.slot_count as usize {
                    check_value(&reader, i).map_err(|e| read_error(&self.layout, entry, i, e))?;
                }
            }
        }
        self.verify_key_indexes()
    }

    /// Checks that every key index is the canonical table of the type's keys: each entry in
    /// its place, each record once, each entry's hash the hash of its record's key. Reads
    /// every slot and every key once.
    pub fn verify_key_indexes(&self) -> Result<()> {
        for t in 0..self.types.len() {
            let ty = TypeId(t as u32);
            if let (Some(index), Some(fields)) =
                (self.key_index(ty), indexed_key(&self.layout.schema, ty))
            {
                self.verify_key_index(ty, index, &fields)?;
            }
        }
        Ok(())
    }

    fn verify_key_index(&self, ty: TypeId, index: KeyIndexRef, fields: &[FieldId]) -> Result<()> {
        let bytes = self.data.as_ref();
        let (_, entry) = self.types[ty.index()].key_index.expect("has an index");
        let slot = |i: u64| {
            let at = (index.slots_offset + keyindex::SLOT_LEN as u64 * i) as usize;
            keyindex::slot_from(&bytes[at..at + keyindex::SLOT_LEN])
        };
        let fault = |at: u64, why: String| {
            Error::malformed(
                self.layout.location(
                    &entry,
                    KEY_INDEX_HEADER_LEN as u64 + keyindex::SLOT_LEN as u64 * at,
                ),
                why,
            )
        };
        check_placement(&index.header, slot).map_err(|(at, why)| fault(at, why))?;
        let readers = fields
            .iter()
            .map(|f| self.column(ty, *f))
            .collect::<Result<Vec<_>>>()?;
        let mut seen = vec![0u64; (self.slot_count(ty) as usize).div_ceil(64)];
        for at in 0..index.header.slots {
            let s = slot(at);
            if s == EMPTY_SLOT {
                continue;
            }
            let o = keyindex::slot_ordinal(s);
            let (word, bit) = (o as usize / 64, 1u64 << (o % 64));
            if !self.contains(ty, Ordinal(o)) || seen[word] & bit != 0 {
                return Err(fault(
                    at,
                    format!("ordinal {o} is not a record, or is indexed twice"),
                ));
            }
            seen[word] |= bit;
            let mut words = Vec::with_capacity(readers.len());
            for (r, f) in readers.iter().zip(fields) {
                let v = r
                    .value(o as usize)
                    .map_err(|e| self.read_err(ty, f.index(), o as usize, e))?;
                words.push(keyindex::field_word(&v));
            }
            if keyindex::slot_of(keyindex::key_hash(words), o) != s {
                return Err(fault(
                    at,
                    format!("the entry of ordinal {o} does not hash its key"),
                ));
            }
        }
        Ok(())
    }

    /// Copies every record out into a [`DataState`].
    pub fn to_state(&self) -> Result<DataState> {
        DataState::of(self)
    }

    /// The page table of a column, parsed (every page header checked) on its first use.
    fn table(&self, ty: TypeId, column: usize, kind: ColumnKind) -> Result<&PageTable> {
        let t = &self.types[ty.index()];
        let (table, entry) = &t.columns[column];
        let bytes = self.data.as_ref();
        let parsed = table
            .0
            .get_or_init(|| read_pages(&self.layout, bytes, entry, 0, kind, t.slot_count as u64));
        parsed.as_ref().map_err(again)
    }

    fn read_err(
        &self,
        ty: TypeId,
        column: usize,
        index: usize,
        e: crate::page::ReadError,
    ) -> Error {
        let (_, entry) = &self.types[ty.index()].columns[column];
        read_error(&self.layout, entry, index, e)
    }
}

pub(crate) fn check_value(
    reader: &ColumnReader<'_>,
    i: usize,
) -> Result<(), crate::page::ReadError> {
    match reader.kind() {
        ColumnKind::Fixed(_) => Ok(()),
        ColumnKind::Var(crate::VarKind::Ordinals(_))
        | ColumnKind::Var(crate::VarKind::Pairs(..)) => reader.elements(i).map(|_| ()),
        ColumnKind::Var(_) => reader.value(i).map(|_| ()),
    }
}

fn open_type(layout: &BlobLayout, bytes: &[u8], ty: TypeId) -> Result<TypeTable> {
    let entry = layout.require(SECTION_TYPE, ty, 0)?;
    let section = read_type_section(layout, bytes, entry, 1)?;
    let populated = section.bitmaps.into_iter().next().unwrap_or_default();
    let canonical = match populated.max() {
        None => section.slot_count == 0,
        Some(max) => max.checked_add(1) == Some(section.slot_count),
    };
    if !canonical {
        return Err(Error::malformed(
            layout.location(entry, 0),
            format!(
                "slot count {} does not match the highest populated ordinal {:?}",
                section.slot_count,
                populated.max()
            ),
        ));
    }
    let kinds = layout.schema.columns(ty);
    let mut columns = Vec::with_capacity(kinds.len());
    for c in 0..kinds.len() {
        let entry = layout.require(SECTION_COLUMN, ty, c as u32)?;
        columns.push((LazyTable::default(), *entry));
    }
    let key_index = open_key_index(layout, bytes, ty, populated.len())?;
    Ok(TypeTable {
        slot_count: section.slot_count,
        populated,
        columns,
        key_index,
    })
}

/// The key index section of `ty`, its header checked, when the schema calls for one and the
/// blob has it (older snapshots do not; the consumer builds the index then).
fn open_key_index(
    layout: &BlobLayout,
    bytes: &[u8],
    ty: TypeId,
    records: u64,
) -> Result<Option<(KeyIndexHeader, crate::blob::SectionEntry)>> {
    let Some(entry) = layout.find(SECTION_KEY_INDEX, ty, 0) else {
        return Ok(None);
    };
    if indexed_key(&layout.schema, ty).is_none() {
        return Ok(None);
    }
    let section = &bytes[entry.offset as usize..(entry.offset + entry.len) as usize];
    let header = KeyIndexHeader::parse(section, records)
        .map_err(|why| Error::malformed(layout.location(entry, 0), why))?;
    Ok(Some((header, *entry)))
}

impl<D: AsRef<[u8]>> VersionSource for SnapshotView<D> {
    fn slot_count(&self, ty: TypeId) -> u32 {
        SnapshotView::slot_count(self, ty)
    }

    fn populated(&self, ty: TypeId) -> Cow<'_, RoaringBitmap> {
        SnapshotView::populated(self, ty).map_or_else(Cow::default, Cow::Borrowed)
    }

    fn column_values<'s>(
        &'s self,
        ty: TypeId,
        field: FieldId,
        range: std::ops::Range<u32>,
        out: &mut Vec<Option<FieldValue<'s>>>,
    ) -> Result<()> {
        let reader = self.column(ty, field)?;
        let populated = &self.types[ty.index()].populated;
        for o in range {
            out.push(match populated.contains(o) {
                true => Some(
                    reader
                        .value(o as usize)
                        .map_err(|e| self.read_err(ty, field.index(), o as usize, e))?,
                ),
                false => None,
            });
        }
        Ok(())
    }
}

impl<D: AsRef<[u8]>> RecordSource for SnapshotView<D> {
    fn schema(&self) -> &Schema {
        &self.layout.schema
    }

    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.types
            .get(ty.index())
            .is_some_and(|t| t.populated.contains(ordinal.0))
    }

    fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>> {
        if !self.contains(ty, ordinal) {
            return Err(missing(self.schema(), ty, ordinal));
        }
        let reader = self.column(ty, field)?;
        reader
            .value(ordinal.index())
            .map_err(|e| self.read_err(ty, field.index(), ordinal.index(), e))
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
        if !self.contains(ty, ordinal) {
            return Err(missing(self.schema(), ty, ordinal));
        }
        let reader = self.column(ty, FieldId(0))?;
        if !matches!(
            reader.kind(),
            ColumnKind::Var(crate::VarKind::Ordinals(_) | crate::VarKind::Pairs(..))
        ) {
            return Err(Error::NoSuchField(format!("{ty} is an object type")));
        }
        reader
            .elements(ordinal.index())
            .map_err(|e| self.read_err(ty, 0, ordinal.index(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, Value};
    use crate::schema::{FieldKind, TypeDef};
    use crate::{Overlay, Rows};

    fn movie(id: i64, title: &str) -> Record {
        Record::Object(vec![Value::I64(id), Value::String(title.into())])
    }

    fn snapshot_of(movies: &[Record], options: &WriteOptions) -> SnapshotView<Vec<u8>> {
        let schema = Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .primary_key(&["id"]),
            TypeDef::object("Tag").field("name", FieldKind::String),
        ]);
        let mut state = DataState::new(Arc::new(schema.unwrap()));
        for (o, m) in movies.iter().enumerate() {
            state
                .insert(TypeId(0), Ordinal(o as u32), m.clone())
                .unwrap();
        }
        let mut bytes = Vec::new();
        write_snapshot(&state, Version(1), options, &mut bytes).unwrap();
        SnapshotView::open(bytes).unwrap()
    }

    #[test]
    fn records_whose_keys_hash_alike_are_neighbours_in_the_key_index() {
        let ids = [5, 1, 9, 5, 2, 1, 5];
        let movies: Vec<Record> = ids.iter().map(|&id| movie(id, "t")).collect();
        let view = snapshot_of(&movies, &WriteOptions::default());
        let mut twins = view.key_hash_twins(TypeId(0)).unwrap();
        twins.sort();
        let pairs = [(0, 3), (1, 5), (3, 6)].map(|(a, b)| (Ordinal(a), Ordinal(b)));
        assert_eq!(twins, pairs);
        let unique: Vec<Record> = (0..3000).map(|id| movie(id, "t")).collect();
        let view = snapshot_of(&unique, &WriteOptions::default());
        assert_eq!(view.key_hash_twins(TypeId(0)), Some(Vec::new()));
        assert_eq!(view.key_hash_twins(TypeId(1)), None, "Tag has no key");
        let options = WriteOptions {
            key_indexes: false,
            ..WriteOptions::default()
        };
        let view = snapshot_of(&movies, &options);
        assert_eq!(view.key_hash_twins(TypeId(0)), None, "no section written");
    }

    /// Movies with a title and a tag list, every seventh ordinal a hole, and 5,000 lists:
    /// at 16 records a page, more than [`BAND_PAGES`] pages of each.
    fn banded_state() -> DataState {
        let schema = Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .reference("tags", "Tags")
                .primary_key(&["id"]),
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::list("Tags", "Tag"),
        ]);
        let mut state = DataState::new(Arc::new(schema.unwrap()));
        let mut insert = |ty, o: u32, record| state.insert(TypeId(ty), Ordinal(o), record).unwrap();
        for t in 0..40 {
            insert(
                1,
                t,
                Record::Object(vec![Value::String(format!("tag{t}").into())]),
            );
        }
        for l in 0..5_000u32 {
            let tags = (0..l % 5).map(|k| Ordinal((l * 7 + k) % 40)).collect();
            insert(2, l, Record::List(tags));
        }
        for o in (0..6_000u32).filter(|o| o % 7 != 3) {
            let title = Value::String(format!("movie {}", o % 900).into());
            let fields = vec![
                Value::I64(i64::from(o) * 3),
                title,
                Value::Ref(Ordinal(o % 5_000)),
            ];
            insert(0, o, Record::Object(fields));
        }
        state
    }

    #[test]
    fn columns_encoded_in_bands_on_threads_are_the_bytes_one_thread_writes() {
        let state = banded_state();
        let options = WriteOptions {
            page_shift: 4,
            ..WriteOptions::default()
        };
        let types: Vec<OfType<'_>> = (0..3).map(|t| OfType::of(&state, TypeId(t))).collect();
        let jobs = jobs_of(&types, state.schema(), &options, true);
        let count = |ty, rows: bool| {
            let of = |part: &Part| match part {
                Part::Band { .. } => !rows,
                Part::Rows { .. } => rows,
                _ => false,
            };
            jobs.iter()
                .filter(|(t, p)| t.ty == TypeId(ty) && of(p))
                .count()
        };
        assert_eq!(
            [0, 1, 2].map(|ty| (count(ty, false), count(ty, true))),
            [(0, 2 * 2), (0, 0), (2, 0)],
            "the movies' two groups of columns in two bands of rows, the lists' elements in two bands"
        );
        let aside = types.iter().map(|t| key_aside(state.schema(), t, &options));
        assert_eq!(
            aside.collect::<Vec<_>>(),
            [true, false, false],
            "the movies' keys"
        );
        let mut one = Vec::new();
        write_snapshot(&state, Version(1), &options, &mut one).unwrap();
        for threads in [2, 3] {
            let mut banded = Vec::new();
            write_snapshot_on(&state, Version(1), &options, threads, &mut banded).unwrap();
            assert!(banded == one, "{threads} threads");
        }
        let view = SnapshotView::open(one).unwrap();
        view.verify().unwrap();
        let title = view.field(TypeId(0), FieldId(1), Ordinal(5_999)).unwrap();
        assert_eq!(title, FieldValue::Str("movie 599"));
    }

    #[test]
    fn a_group_of_columns_starts_at_each_string_and_holds_at_most_seven_more() {
        use crate::schema::{FixedKind, VarKind};
        let (int, string) = (
            ColumnKind::Fixed(FixedKind::I64),
            ColumnKind::Var(VarKind::String),
        );
        let movie = [int, string, int, int, int, int, int, int];
        assert_eq!(column_groups(&movie), [(0, 1), (1, 7)]);
        assert_eq!(column_groups(&[string, string, int]), [(0, 1), (1, 2)]);
        assert_eq!(column_groups(&[int; 17]), [(0, 8), (8, 8), (16, 1)]);
        assert!(column_groups(&[]).is_empty());
    }

    /// An overlay reads the bands of every column from its base and its added records (packed
    /// rows, read once for all their columns): the bytes its state writes on one thread.
    #[test]
    fn an_overlay_in_bands_of_rows_writes_the_bytes_its_state_writes() {
        let options = WriteOptions {
            page_shift: 4,
            ..WriteOptions::default()
        };
        let mut state = banded_state();
        let mut base_bytes = Vec::new();
        write_snapshot(&state, Version(1), &options, &mut base_bytes).unwrap();
        let base = SnapshotView::open(base_bytes).unwrap();
        let mut next = Overlay::new(&base);
        let movie = |o: u32, title: &str| {
            let fields = vec![
                Value::I64(i64::from(o) * 5),
                Value::String(title.into()),
                Value::Ref(Ordinal(o % 97)),
            ];
            Record::Object(fields)
        };
        // Removed, replaced in place, added in a hole, and appended past the base's slots.
        for o in (0..6_000u32).step_by(11).filter(|o| o % 7 != 3) {
            next.remove(TypeId(0), Ordinal(o));
            state.remove(TypeId(0), Ordinal(o));
        }
        let added = (0..6_400u32).filter(|o| o % 13 == 0 || *o >= 6_000);
        let mut rows = Rows::new();
        let mut placed = Vec::new();
        for (i, o) in added.enumerate() {
            let record = movie(o, &format!("new {o}"));
            rows.push(&record);
            placed.push((Ordinal(o), i as u32));
            state.insert(TypeId(0), Ordinal(o), record).unwrap();
        }
        next.insert_rows(TypeId(0), rows, placed);
        let mut one = Vec::new();
        write_snapshot(&state, Version(2), &options, &mut one).unwrap();
        for threads in [1, 2, 3] {
            let mut banded = Vec::new();
            write_snapshot_on(&next, Version(2), &options, threads, &mut banded).unwrap();
            assert!(banded == one, "{threads} threads");
        }
    }
}
