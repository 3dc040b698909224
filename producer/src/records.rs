//! Records wherever they live: the current version's own snapshot (read in place), the next
//! version (an [`Overlay`](shoal_format::Overlay) of it), or the pending records of a cycle.
//!
//! The producer's indexes hold ordinals only and compare against the records where they are,
//! so identity (equality and hash) must not depend on where a record is held: a record packed
//! (a [`Row`]) and the same record read in place hash and compare alike ([`hash_row`] and
//! [`hash_at`], [`same_row`]). Floats compare by their bits, as they are encoded.

use std::hash::{BuildHasher, Hasher as _};
use std::ops::Range;

use shoal_format::{
    Elements, FieldId, FieldValue, Ordinal, RecordSource, Result, Row, Rows, Schema, TypeId,
    TypeKind, VersionSource,
};

use crate::index::Hasher;
use crate::writer::PROVISIONAL;

/// Feeds one value to a hasher: a tag, then its bits (a key's values; see [`hash_fields`]).
pub(crate) fn hash_value(h: &mut impl std::hash::Hasher, v: FieldValue<'_>) {
    match v {
        FieldValue::Null => h.write_u8(0),
        FieldValue::Bool(b) => h.write_u16(0x100 | b as u16),
        FieldValue::I32(x) => {
            h.write_u8(2);
            h.write_i32(x);
        }
        FieldValue::I64(x) => {
            h.write_u8(3);
            h.write_i64(x);
        }
        FieldValue::F32(x) => {
            h.write_u8(4);
            h.write_u32(x.to_bits());
        }
        FieldValue::F64(x) => {
            h.write_u8(5);
            h.write_u64(x.to_bits());
        }
        FieldValue::Str(s) => {
            h.write_u8(6);
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        FieldValue::Bytes(b) => {
            h.write_u8(7);
            h.write_usize(b.len());
            h.write(b);
        }
        FieldValue::Ref(o) => {
            h.write_u8(8);
            h.write_u32(o.0);
        }
    }
}

/// The same value, bit for bit (`NaN` equals itself, `0.0` differs from `-0.0`).
pub(crate) fn same_value(a: FieldValue<'_>, b: FieldValue<'_>) -> bool {
    match (a, b) {
        (FieldValue::F32(x), FieldValue::F32(y)) => x.to_bits() == y.to_bits(),
        (FieldValue::F64(x), FieldValue::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// The identity hash of a packed record: the hash of its bytes, which are equal exactly when
/// the records are (see [`Rows`]), so nothing is decoded.
pub(crate) fn hash_row(hasher: &Hasher, row: Row<'_>) -> u64 {
    let mut h = hasher.build_hasher();
    h.write(row.bytes());
    h.finish()
}

/// The identity hash of record `o` of `ty` read in place: [`hash_row`] of the same record
/// packed.
pub(crate) fn hash_at<S: RecordSource + ?Sized>(
    hasher: &Hasher,
    source: &S,
    ty: TypeId,
    o: Ordinal,
) -> Result<u64> {
    let mut packed = Vec::with_capacity(64);
    let kind = &type_def(source.schema(), ty)?.kind;
    match kind {
        TypeKind::Object { fields, .. } => {
            let values = (0..fields.len()).map(|f| source.field(ty, FieldId(f as u32), o));
            let values: Vec<FieldValue<'_>> = values.collect::<Result<_>>()?;
            Rows::pack_object(values.into_iter(), &mut packed);
        }
        _ => Rows::pack_elements(kind, source.elements(ty, o)?, &mut packed),
    }
    Ok(hash_row(hasher, Row::of(&packed)))
}

/// The definition of `ty`, or an error naming it.
fn type_def(schema: &Schema, ty: TypeId) -> Result<&shoal_format::TypeDef> {
    schema
        .type_def(ty)
        .ok_or_else(|| shoal_format::Error::NoSuchField(format!("no type {ty}")))
}

/// Reads page-sized chunks of columns at a time.
const CHUNK: u32 = 1024;

/// Calls `f` with each populated ordinal of `ty` in `range` and the values of `fields` there,
/// in ordinal order. Each column is read a chunk at a time
/// ([`VersionSource::column_values`]: a snapshot walks its pages in order) instead of one
/// field lookup per value, which is what restoring a large version spent its time on.
pub(crate) fn walk_columns<'s, S: VersionSource + ?Sized>(
    source: &'s S,
    ty: TypeId,
    fields: &[FieldId],
    range: Range<u32>,
    mut f: impl FnMut(Ordinal, &[FieldValue<'s>]),
) -> Result<()> {
    let populated = source.populated(ty);
    let mut columns: Vec<Vec<Option<FieldValue<'s>>>> = vec![Vec::new(); fields.len()];
    let mut row = Vec::with_capacity(fields.len());
    for start in range.clone().step_by(CHUNK as usize) {
        let chunk = start..(start + CHUNK).min(range.end);
        for (values, &field) in columns.iter_mut().zip(fields) {
            values.clear();
            source.column_values(ty, field, chunk.clone(), values)?;
        }
        for o in chunk.clone().filter(|&o| populated.contains(o)) {
            let i = (o - chunk.start) as usize;
            row.clear();
            row.extend(columns.iter().map(|c| c[i].unwrap_or(FieldValue::Null)));
            f(Ordinal(o), &row);
        }
    }
    Ok(())
}

/// [`hash_at`] of every record of `ty` whose ordinal is in `range`, in ordinal order, read
/// column by column (see [`walk_columns`]).
pub(crate) fn hashes_in<S: VersionSource + ?Sized>(
    hasher: &Hasher,
    source: &S,
    ty: TypeId,
    range: Range<u32>,
) -> Result<Vec<(Ordinal, u64)>> {
    let mut out = Vec::new();
    let Some(n) = field_count(source.schema(), ty) else {
        return elements_hashes_in(hasher, source, ty, range);
    };
    let fields: Vec<FieldId> = (0..n as u32).map(FieldId).collect();
    let mut packed = Vec::new();
    walk_columns(source, ty, &fields, range, |o, values| {
        packed.clear();
        Rows::pack_object(values.iter().copied(), &mut packed);
        out.push((o, hash_row(hasher, Row::of(&packed))));
    })?;
    Ok(out)
}

/// The hash of a run of values: their count, then each (a key's values).
pub(crate) fn hash_fields(hasher: &Hasher, values: &[FieldValue<'_>]) -> u64 {
    let mut h = hasher.build_hasher();
    h.write_usize(values.len());
    values.iter().for_each(|&v| hash_value(&mut h, v));
    h.finish()
}

/// [`hashes_in`] for a list, set or map type.
fn elements_hashes_in<S: VersionSource + ?Sized>(
    hasher: &Hasher,
    source: &S,
    ty: TypeId,
    range: Range<u32>,
) -> Result<Vec<(Ordinal, u64)>> {
    let kind = &type_def(source.schema(), ty)?.kind;
    let mut out = Vec::new();
    let (mut elements, mut packed) = (Vec::new(), Vec::new());
    for start in range.clone().step_by(CHUNK as usize) {
        let chunk = start..(start + CHUNK).min(range.end);
        elements.clear();
        source.column_elements(ty, chunk.clone(), &mut elements)?;
        for (o, e) in chunk.zip(elements.drain(..)) {
            if let Some(e) = e {
                packed.clear();
                Rows::pack_elements(kind, e, &mut packed);
                out.push((Ordinal(o), hash_row(hasher, Row::of(&packed))));
            }
        }
    }
    Ok(out)
}

/// True when record `o` of `ty` in `source` is the packed record `row`.
pub(crate) fn same_row<S: RecordSource + ?Sized>(
    source: &S,
    ty: TypeId,
    o: Ordinal,
    row: Row<'_>,
) -> bool {
    if row.field_count().is_some() {
        return row.fields().enumerate().all(|(f, v)| {
            source
                .field(ty, FieldId(f as u32), o)
                .is_ok_and(|x| same_value(x, v))
        });
    }
    let Some(mine) = row.elements() else {
        return false;
    };
    // A list's elements carry no value; a map's entries do.
    source.elements(ty, o).is_ok_and(|theirs| {
        theirs.len() == mine.len()
            && theirs
                .zip(mine)
                .all(|((k, v), (a, b))| k == a && (b.is_none() || v == b))
    })
}

/// The number of fields of an object type; `None` for a list, set or map type.
fn field_count(schema: &Schema, ty: TypeId) -> Option<usize> {
    match &schema.type_def(ty)?.kind {
        TypeKind::Object { fields, .. } => Some(fields.len()),
        _ => None,
    }
}

/// A version and a cycle's pending records: provisional ordinals (at or above
/// [`PROVISIONAL`]) read the pending records, the others the version.
pub(crate) struct WithPending<'a, S: ?Sized> {
    pub(crate) version: &'a S,
    pub(crate) pending: &'a [Rows],
}

impl<S: RecordSource + ?Sized> WithPending<'_, S> {
    fn pending(&self, ty: TypeId, o: Ordinal) -> Option<Row<'_>> {
        self.pending.get(ty.index())?.row(o.0 - PROVISIONAL)
    }

    fn missing(&self, ty: TypeId, o: Ordinal) -> shoal_format::Error {
        shoal_format::Error::NoSuchField(format!("no pending record {o} of {ty}"))
    }
}

impl<S: RecordSource + ?Sized> RecordSource for WithPending<'_, S> {
    fn schema(&self) -> &Schema {
        self.version.schema()
    }

    fn contains(&self, ty: TypeId, o: Ordinal) -> bool {
        if o.0 >= PROVISIONAL {
            self.pending(ty, o).is_some()
        } else {
            self.version.contains(ty, o)
        }
    }

    fn field(&self, ty: TypeId, field: FieldId, o: Ordinal) -> Result<FieldValue<'_>> {
        if o.0 < PROVISIONAL {
            return self.version.field(ty, field, o);
        }
        self.pending(ty, o)
            .and_then(|r| r.field(field))
            .ok_or_else(|| self.missing(ty, o))
    }

    fn elements(&self, ty: TypeId, o: Ordinal) -> Result<Elements<'_>> {
        if o.0 < PROVISIONAL {
            return self.version.elements(ty, o);
        }
        self.pending(ty, o)
            .and_then(|r| r.elements())
            .ok_or_else(|| self.missing(ty, o))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use shoal_format::{
        write_snapshot, DataState, FieldKind, Record, SnapshotView, TypeDef, Value, Version,
        WriteOptions,
    };

    use super::*;

    /// Objects of every scalar kind with nulls, a list and a map type, with holes, on pages
    /// of 16 so that chunks and shares cross pages.
    fn snapshot() -> (DataState, SnapshotView<Bytes>) {
        let schema = Arc::new(
            Schema::new(vec![
                TypeDef::object("Movie")
                    .field("id", FieldKind::I64)
                    .field("title", FieldKind::String)
                    .field("rating", FieldKind::F64)
                    .field("seen", FieldKind::Bool)
                    .field("tags", FieldKind::Reference("Tags".into()))
                    .primary_key(&["id"]),
                TypeDef::list("Tags", "Tag"),
                TypeDef::object("Tag").field("name", FieldKind::String),
                TypeDef::map("Votes", "Tag", "Tag"),
            ])
            .unwrap(),
        );
        let mut state = DataState::new(schema);
        for o in (0..100u32).filter(|o| o % 7 != 3) {
            let title = (o % 5 != 0).then(|| Value::String(format!("m{o}").into()));
            let movie = Record::Object(vec![
                Value::I64(o as i64 * 3),
                title.unwrap_or(Value::Null),
                Value::F64(o as f64 / 10.0),
                Value::Bool(o % 2 == 0),
                Value::Ref(Ordinal(o % 4)),
            ]);
            state.insert(TypeId(0), Ordinal(o), movie).unwrap();
        }
        for o in 0..4u32 {
            let tags = (0..o).map(Ordinal).collect();
            state
                .insert(TypeId(1), Ordinal(o), Record::List(tags))
                .unwrap();
            let tag = Record::Object(vec![Value::String(format!("t{o}").into())]);
            state.insert(TypeId(2), Ordinal(o), tag).unwrap();
        }
        let votes = Record::Map(vec![(Ordinal(0), Ordinal(1)), (Ordinal(2), Ordinal(3))]);
        state.insert(TypeId(3), Ordinal(1), votes).unwrap();
        // The same keys, one value apart.
        let other = Record::Map(vec![(Ordinal(0), Ordinal(1)), (Ordinal(2), Ordinal(2))]);
        state.insert(TypeId(3), Ordinal(2), other).unwrap();
        let options = WriteOptions {
            page_shift: 4,
            ..WriteOptions::default()
        };
        let mut bytes = Vec::new();
        write_snapshot(&state, Version(1), &options, &mut bytes).unwrap();
        (state, SnapshotView::open(Bytes::from(bytes)).unwrap())
    }

    fn hash_of(hasher: &Hasher, record: &Record) -> u64 {
        let mut packed = Vec::new();
        Rows::pack(record, &mut packed);
        hash_row(hasher, Row::of(&packed))
    }

    #[test]
    fn a_packed_record_is_the_same_as_itself_in_place_and_as_no_other() {
        let (state, view) = snapshot();
        for t in 0..4 {
            let ty = TypeId(t);
            let records: Vec<(Ordinal, &Record)> = state.records(ty).collect();
            for &(o, record) in &records {
                let mut packed = Vec::new();
                Rows::pack(record, &mut packed);
                for &(other, theirs) in &records {
                    let same = same_row(&view, ty, other, Row::of(&packed));
                    assert_eq!(
                        same,
                        theirs == record,
                        "type {t}: #{} against #{}",
                        o.0,
                        other.0
                    );
                }
            }
        }
    }

    #[test]
    fn hashes_read_column_by_column_are_the_hashes_of_the_records() {
        let (state, view) = snapshot();
        let hasher = Hasher::default();
        for t in 0..4 {
            let ty = TypeId(t);
            let slots = view.slot_count(ty);
            let all = hashes_in(&hasher, &view, ty, 0..slots).unwrap();
            let expected: Vec<(Ordinal, u64)> = state
                .records(ty)
                .map(|(o, r)| (o, hash_of(&hasher, r)))
                .collect();
            assert_eq!(all, expected, "type {t}");
            for &(o, h) in &all {
                assert_eq!(hash_at(&hasher, &view, ty, o).unwrap(), h);
            }
            // A range that starts and ends inside pages.
            let part = hashes_in(&hasher, &view, ty, 5..slots.min(37)).unwrap();
            let within: Vec<_> = all
                .iter()
                .filter(|(o, _)| (5..37).contains(&o.0))
                .copied()
                .collect();
            assert_eq!(part, within, "type {t}");
        }
    }
}
