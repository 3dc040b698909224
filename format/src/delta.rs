//! Deltas and reverse deltas: what changed from one version to another, per type.
//!
//! A delta holds, per type, the **removed** ordinals of the old version, the **added** ordinals
//! of the new one (roaring bitmaps), and the added records in the snapshot's columnar page
//! encoding. A record that replaces another (same primary key, or the same ordinal) names
//! that record as its **base**, and each column stores a value only for the added records
//! whose value differs from their base's: an edit of one field costs one value, not a whole
//! record. Applying `delta(A -> B)` to `A` gives `B` exactly; a reverse delta is the same
//! structure from `B` back to `A`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use roaring::RoaringBitmap;

use crate::blob::{
    BlobKind, BlobLayout, BlobWriter, Header, SectionEntry, SECTION_BASES, SECTION_COLUMN,
    SECTION_TYPE,
};
use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId, Version};
use crate::paged::PagedVersion;
use crate::project::Projected;
use crate::read::{RecordSource, VersionSource};
use crate::record::{Record, Value};
use crate::schema::{ColumnKind, FixedKind, Schema};
use crate::section::{
    cell_of, read_bitmap, read_error, read_pages, read_type_section, write_bitmap, write_pages,
    write_type_section, Cell, ColumnReader, PageTable,
};
use crate::snapshot::{check_value, write_snapshot, WriteOptions};
use crate::state::DataState;

/// What changed in one type between two versions, by ordinal: the ordinals of the old
/// version that are gone, and those of the new version that hold a new record. An ordinal in
/// both is a record replaced in place. This is all [`write_delta_of`] needs to know: the
/// records themselves are read from the two versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrdinalChanges {
    /// Ordinals of the old version whose record is gone.
    pub removed: RoaringBitmap,
    /// Ordinals of the new version whose record is new.
    pub added: RoaringBitmap,
}

impl OrdinalChanges {
    /// The changes of `ty` between two versions of one schema, found by comparing every
    /// record the two both hold (O(records): for tests, tools, and the rare cycle that must).
    pub fn between<F, T>(from: &F, to: &T, ty: TypeId) -> Result<Self>
    where
        F: VersionSource + ?Sized,
        T: VersionSource + ?Sized,
    {
        let (old, new) = (from.populated(ty), to.populated(ty));
        let mut changes = OrdinalChanges {
            removed: old.as_ref() - new.as_ref(),
            added: new.as_ref() - old.as_ref(),
        };
        for o in (old.as_ref() & new.as_ref()).iter() {
            if from.record(ty, Ordinal(o))? != to.record(ty, Ordinal(o))? {
                changes.removed.insert(o);
                changes.added.insert(o);
            }
        }
        Ok(changes)
    }
}

/// The changes of one type with the records they involve, read out of the two versions
/// (O(changes)).
struct TypeChanges {
    removed: RoaringBitmap,
    added: Vec<(Ordinal, Record)>,
    bases: Vec<Option<(Ordinal, Record)>>,
}

impl TypeChanges {
    fn read<F, T>(from: &F, to: &T, ty: TypeId, changes: &OrdinalChanges) -> Result<Self>
    where
        F: RecordSource + ?Sized,
        T: RecordSource + ?Sized,
    {
        let added: Vec<(Ordinal, Record)> = changes
            .added
            .iter()
            .map(|o| Ok((Ordinal(o), to.record(ty, Ordinal(o))?)))
            .collect::<Result<_>>()?;
        let bases = find_bases(from, to, ty, &changes.removed, &changes.added)
            .into_iter()
            .map(|b| b.map(|b| Ok((b, from.record(ty, b)?))).transpose())
            .collect::<Result<_>>()?;
        Ok(TypeChanges {
            removed: changes.removed.clone(),
            added,
            bases,
        })
    }

    /// The indexes of added records that store a value for `column`: those without a base,
    /// and those whose value differs from their base's.
    fn present(&self, column: usize) -> RoaringBitmap {
        let mut present = RoaringBitmap::new();
        for (i, ((_, record), base)) in self.added.iter().zip(&self.bases).enumerate() {
            let differs = match base {
                None => true,
                Some((_, b)) => {
                    !same_cell(&cell_of(Some(record), column), &cell_of(Some(b), column))
                }
            };
            if differs {
                present.insert(i as u32);
            }
        }
        present
    }
}

fn same_cell(a: &Cell<'_>, b: &Cell<'_>) -> bool {
    match (a, b) {
        (Cell::Value(x), Cell::Value(y)) => x == y,
        (Cell::Record(x), Cell::Record(y)) => x == y,
        (Cell::Hole, Cell::Hole) => true,
        _ => false,
    }
}

/// Pairs each added ordinal with the ordinal of the record it replaces: the same ordinal,
/// or the removed record with the same primary key.
fn find_bases<F, T>(
    from: &F,
    to: &T,
    ty: TypeId,
    removed: &RoaringBitmap,
    added: &RoaringBitmap,
) -> Vec<Option<Ordinal>>
where
    F: RecordSource + ?Sized,
    T: RecordSource + ?Sized,
{
    let by_key = key_paths(from.schema(), ty).map(|paths| {
        let mut map = HashMap::new();
        for o in removed.iter().map(Ordinal) {
            if !to.contains(ty, o) {
                if let Some(k) = key_of(from, o, &paths) {
                    map.insert(k, o);
                }
            }
        }
        (paths, map)
    });
    added
        .iter()
        .map(Ordinal)
        .map(|o| {
            let base = if removed.contains(o.0) {
                Some(o)
            } else {
                by_key
                    .as_ref()
                    .and_then(|(paths, map)| map.get(&key_of(to, o, paths)?).copied())
            };
            base.filter(|b| from.contains(ty, *b))
        })
        .collect()
}

type KeyPath = Vec<(TypeId, FieldId)>;

/// The bases section stores, per added record, `added ordinal - base ordinal` (null for no
/// base): 0 for a record replaced in place, so such pages pack to a bit or two per record.
const BASES_KIND: ColumnKind = ColumnKind::Fixed(FixedKind::I64);

fn key_paths(schema: &Schema, ty: TypeId) -> Option<Vec<KeyPath>> {
    let key = schema.type_def(ty)?.key()?;
    key.iter()
        .map(|p| schema.resolve_path(ty, p).ok().map(|(steps, _)| steps))
        .collect()
}

/// The primary key values of a record, following references; `None` when a reference on
/// the way is missing.
fn key_of<S: RecordSource + ?Sized>(
    state: &S,
    ordinal: Ordinal,
    paths: &[KeyPath],
) -> Option<Vec<Value>> {
    let mut key = Vec::with_capacity(paths.len());
    for steps in paths {
        let mut at = ordinal;
        let mut value = Value::Null;
        for (i, (t, f)) in steps.iter().enumerate() {
            let v = state.field(*t, *f, at).ok()?;
            if i + 1 == steps.len() {
                value = v.to_value();
            } else if let crate::FieldValue::Ref(next) = v {
                at = next;
            } else {
                return None;
            }
        }
        key.push(value);
    }
    Some(key)
}

/// Writes the delta from `from` (at `from_version`) to `to` (at `to_version`), streaming to
/// `w`; returns the bytes written. It is a forward delta when `from_version < to_version` and
/// a reverse delta when `from_version > to_version`. When the two schemas differ, the change
/// must be compatible: `from` is compared in `to`'s schema (see [`Projected`]). The changes
/// are found by comparing every record; [`write_delta_of`] takes them as given.
pub fn write_delta<W: Write>(
    from: &DataState,
    to: &DataState,
    from_version: Version,
    to_version: Version,
    options: &WriteOptions,
    w: W,
) -> Result<u64> {
    let projected;
    let (from, changes_schema) = if from.schema() == to.schema() {
        (from, false)
    } else {
        projected = from.projected(to.schema().clone())?;
        (&projected, true)
    };
    let changes: Vec<OrdinalChanges> = (0..to.schema().type_count())
        .map(|t| OrdinalChanges::between(from, to, TypeId(t as u32)))
        .collect::<Result<_>>()?;
    let versions = (from_version, to_version);
    write_changes(from, to, &changes, versions, options, changes_schema, w)
}

/// Writes the delta from `from` to `to` whose changes, per type, are `changes`: what
/// [`write_delta`] writes for the same versions, reading only the records that changed.
/// When the schemas differ, `changes` are those between `from` read in `to`'s schema
/// ([`Projected`]) and `to`, and the delta is written in format version 2.
pub fn write_delta_of<F, T, W>(
    from: &F,
    to: &T,
    changes: &[OrdinalChanges],
    from_version: Version,
    to_version: Version,
    options: &WriteOptions,
    w: W,
) -> Result<u64>
where
    F: VersionSource + ?Sized,
    T: VersionSource + ?Sized,
    W: Write,
{
    let versions = (from_version, to_version);
    if from.schema() == to.schema() {
        return write_changes(from, to, changes, versions, options, false, w);
    }
    let projected = Projected::new(from, to.schema())?;
    write_changes(&projected, to, changes, versions, options, true, w)
}

/// [`write_delta_of`] with `from` already in `to`'s schema; `changes_schema` when `from`
/// was read in it from another schema (format version 2).
fn write_changes<F, T, W>(
    from: &F,
    to: &T,
    changes: &[OrdinalChanges],
    (from_version, to_version): (Version, Version),
    options: &WriteOptions,
    changes_schema: bool,
    w: W,
) -> Result<u64>
where
    F: VersionSource + ?Sized,
    T: VersionSource + ?Sized,
    W: Write,
{
    options.check()?;
    let kind = match from_version.cmp(&to_version) {
        std::cmp::Ordering::Less => BlobKind::Delta,
        std::cmp::Ordering::Greater => BlobKind::Reverse,
        std::cmp::Ordering::Equal => {
            return Err(Error::DeltaMismatch(format!(
                "a delta needs two different versions, got {from_version} twice"
            )))
        }
    };
    let header = Header {
        format: options.format(if changes_schema { 2 } else { 1 }),
        changes_schema,
        kind,
        page_shift: options.page_shift,
        from: from_version,
        to: to_version,
    };
    let schema = to.schema();
    if changes.len() != schema.type_count() {
        return Err(Error::DeltaMismatch(format!(
            "changes given for {} types of {}",
            changes.len(),
            schema.type_count()
        )));
    }
    let mut writer = BlobWriter::new(w, &header, schema)?;
    for (t, type_changes) in changes.iter().enumerate() {
        let ty = TypeId(t as u32);
        let changes = TypeChanges::read(from, to, ty, type_changes)?;
        write_type_changes(
            &mut writer,
            schema,
            ty,
            to.slot_count(ty),
            &changes,
            options,
        )?;
    }
    let (_, len) = writer.finish()?;
    Ok(len)
}

fn write_type_changes<W: Write>(
    writer: &mut BlobWriter<W>,
    schema: &Schema,
    ty: TypeId,
    slot_count: u32,
    changes: &TypeChanges,
    options: &WriteOptions,
) -> Result<()> {
    let added: RoaringBitmap = changes.added.iter().map(|(o, _)| o.0).collect();
    writer.begin(SECTION_TYPE, ty, 0);
    write_type_section(writer, slot_count, &[&changes.removed, &added])?;
    writer.end()?;

    let base_values: Vec<Value> = changes
        .added
        .iter()
        .zip(&changes.bases)
        .map(|((o, _), b)| {
            b.as_ref().map_or(Value::Null, |(base, _)| {
                Value::I64(o.0 as i64 - base.0 as i64)
            })
        })
        .collect();
    writer.begin(SECTION_BASES, ty, 0);
    write_pages(
        writer,
        BASES_KIND,
        base_values.len(),
        (options.page_shift, options.dictionary),
        |s, e, out| {
            out.extend(base_values[s..e].iter().map(Cell::Value));
            Ok(())
        },
    )?;
    writer.end()?;

    for (c, kind) in schema.columns(ty).iter().enumerate() {
        let present = changes.present(c);
        let indexes: Vec<usize> = present.iter().map(|i| i as usize).collect();
        writer.begin(SECTION_COLUMN, ty, c as u32);
        let mut prefix = Vec::new();
        write_bitmap(&present, &mut prefix)?;
        writer.write(&prefix)?;
        write_pages(
            writer,
            *kind,
            indexes.len(),
            (options.page_shift, options.dictionary),
            |s, e, out| {
                out.extend(
                    indexes[s..e]
                        .iter()
                        .map(|&i| cell_of(Some(&changes.added[i].1), c)),
                );
                Ok(())
            },
        )?;
        writer.end()?;
    }
    Ok(())
}

/// One type of a delta.
#[derive(Debug, Clone)]
struct DeltaType {
    slot_count: u32,
    removed: RoaringBitmap,
    added: RoaringBitmap,
    bases: (PageTable, SectionEntry),
    columns: Vec<(RoaringBitmap, PageTable, SectionEntry)>,
}

/// A delta or reverse delta read in place from `D`.
#[derive(Debug)]
pub struct DeltaView<D> {
    data: D,
    layout: BlobLayout,
    types: Vec<DeltaType>,
}

impl<D: AsRef<[u8]>> DeltaView<D> {
    /// Opens a delta or reverse delta blob; checks its header, section table, bitmaps and
    /// page headers.
    pub fn open(data: D) -> Result<Self> {
        let bytes = data.as_ref();
        let layout = BlobLayout::parse(bytes)?;
        if layout.header.kind == BlobKind::Snapshot {
            return Err(Error::WrongBlobKind {
                expected: BlobKind::Delta,
                found: BlobKind::Snapshot,
            });
        }
        let forward = layout.header.kind == BlobKind::Delta;
        if (layout.header.from < layout.header.to) != forward
            || layout.header.from == layout.header.to
        {
            return Err(Error::malformed(
                crate::Location {
                    blob: Some(layout.header.kind),
                    section: "header".into(),
                    offset: 16,
                },
                format!(
                    "versions {} -> {} do not fit a {}",
                    layout.header.from, layout.header.to, layout.header.kind
                ),
            ));
        }
        let mut types = Vec::with_capacity(layout.schema.type_count());
        for t in 0..layout.schema.type_count() {
            types.push(open_type(&layout, bytes, TypeId(t as u32))?);
        }
        Ok(DeltaView {
            data,
            layout,
            types,
        })
    }

    /// The header and section table.
    pub fn layout(&self) -> &BlobLayout {
        &self.layout
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.layout.schema
    }

    /// Delta or reverse delta.
    pub fn kind(&self) -> BlobKind {
        self.layout.header.kind
    }

    /// The version this delta applies to.
    pub fn from_version(&self) -> Version {
        self.layout.header.from
    }

    /// The version this delta leads to.
    pub fn to_version(&self) -> Version {
        self.layout.header.to
    }

    /// The ordinals of a type removed from the old version.
    pub fn removed(&self, ty: TypeId) -> Option<&RoaringBitmap> {
        self.types.get(ty.index()).map(|t| &t.removed)
    }

    /// The ordinals of a type added in the new version.
    pub fn added(&self, ty: TypeId) -> Option<&RoaringBitmap> {
        self.types.get(ty.index()).map(|t| &t.added)
    }

    /// The slot count of a type in the new version.
    pub fn slot_count(&self, ty: TypeId) -> u32 {
        self.types.get(ty.index()).map_or(0, |t| t.slot_count)
    }

    /// The base (replaced record, in the old version) of the `index`-th added record.
    /// A distance that leads outside the ordinal range reads as `u32::MAX`, never populated.
    pub fn base(&self, ty: TypeId, index: usize) -> Option<Ordinal> {
        let t = self.types.get(ty.index())?;
        let added = t.added.select(u32::try_from(index).ok()?)?;
        let distance = self.reader(&t.bases.0, BASES_KIND).i64(index)?;
        let base = (added as i64).checked_sub(distance)?;
        Some(Ordinal(u32::try_from(base).unwrap_or(u32::MAX)))
    }

    /// [`base`](Self::base) of every added record of `ty`, in order, in one pass.
    pub fn bases(&self, ty: TypeId) -> Vec<Option<Ordinal>> {
        let Some(t) = self.types.get(ty.index()) else {
            return Vec::new();
        };
        let reader = self.reader(&t.bases.0, BASES_KIND);
        t.added
            .iter()
            .enumerate()
            .map(|(k, added)| {
                let base = (added as i64).checked_sub(reader.i64(k)?)?;
                Some(Ordinal(u32::try_from(base).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    /// For one column: which added records (by index among the added) store a value, and a
    /// reader of those values by their rank in that bitmap.
    pub fn column(
        &self,
        ty: TypeId,
        column: FieldId,
    ) -> Result<(&RoaringBitmap, ColumnReader<'_>)> {
        let kind = *self
            .layout
            .schema
            .columns(ty)
            .get(column.index())
            .ok_or_else(|| Error::NoSuchField(format!("no {column} in {ty}")))?;
        let (present, table, _) = &self.types[ty.index()].columns[column.index()];
        Ok((present, self.reader(table, kind)))
    }

    fn reader<'a>(&'a self, table: &'a PageTable, kind: ColumnKind) -> ColumnReader<'a> {
        ColumnReader::new(
            table,
            self.data.as_ref(),
            kind,
            self.layout.header.page_shift,
        )
    }

    /// Checks every section's checksum, then every stored value.
    pub fn verify(&self) -> Result<()> {
        self.layout.verify(self.data.as_ref())?;
        for t in 0..self.types.len() {
            let ty = TypeId(t as u32);
            for (c, (present, _, entry)) in self.types[t].columns.iter().enumerate() {
                let (_, reader) = self.column(ty, FieldId(c as u32))?;
                for i in 0..present.len() as usize {
                    check_value(&reader, i).map_err(|e| read_error(&self.layout, entry, i, e))?;
                }
            }
        }
        Ok(())
    }

    /// Applies the delta to `state` (which must be its from-version) and returns the new
    /// state, through the engine a consumer uses ([`PagedVersion::apply`]): the state is
    /// written as the from-version's snapshot, the delta applied to its pages, and every
    /// record read back. Checks what that engine checks: every removed record exists, every
    /// added slot is free, every base exists, the slot counts are the delta's.
    ///
    /// A delta whose schema differs from the state's (format version 2) applies to the state
    /// read in the delta's schema (see [`Projected`]); the change must be compatible.
    pub fn apply(&self, state: &DataState) -> Result<DataState> {
        let options = WriteOptions {
            page_shift: self.layout.header.page_shift,
            ..WriteOptions::default()
        };
        let mut bytes = Vec::new();
        write_snapshot(state, self.from_version(), &options, &mut bytes)?;
        let (next, _) = PagedVersion::open(Bytes::from(bytes))?.apply(self, 1)?;
        DataState::of(&next)
    }
}

fn open_type(layout: &BlobLayout, bytes: &[u8], ty: TypeId) -> Result<DeltaType> {
    let entry = layout.require(SECTION_TYPE, ty, 0)?;
    let section = read_type_section(layout, bytes, entry, 2)?;
    let mut bitmaps = section.bitmaps.into_iter();
    let removed = bitmaps.next().unwrap_or_default();
    let added = bitmaps.next().unwrap_or_default();
    if added.max().is_some_and(|m| m >= section.slot_count) {
        return Err(Error::malformed(
            layout.location(entry, 0),
            format!(
                "added ordinals reach beyond the slot count {}",
                section.slot_count
            ),
        ));
    }
    let n_added = added.len();
    let bases_entry = *layout.require(SECTION_BASES, ty, 0)?;
    let bases = read_pages(layout, bytes, &bases_entry, 0, BASES_KIND, n_added)?;
    let kinds = layout.schema.columns(ty);
    let mut columns = Vec::with_capacity(kinds.len());
    for (c, kind) in kinds.iter().enumerate() {
        let entry = *layout.require(SECTION_COLUMN, ty, c as u32)?;
        let section = crate::section::section_bytes(bytes, &entry);
        let (present, prefix) = read_bitmap(layout, &entry, section, 0)?;
        if present.max().is_some_and(|m| m as u64 >= n_added) {
            return Err(Error::malformed(
                layout.location(&entry, 0),
                format!("values for added record beyond the {n_added} added"),
            ));
        }
        let table = read_pages(layout, bytes, &entry, prefix, *kind, present.len())?;
        columns.push((present, table, entry));
    }
    Ok(DeltaType {
        slot_count: section.slot_count,
        removed,
        added,
        bases: (bases, bases_entry),
        columns,
    })
}
