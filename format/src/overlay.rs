//! A version made of another version and its changes: records removed, and records added at
//! ordinals of their own. Every record that did not change is read in place from the base
//! (a snapshot in a blob, say), so a version that differs from a large one by a few records
//! costs the few records. The producer's next version is one; the writers encode it like any
//! other [`VersionSource`].

use std::borrow::Cow;
use std::ops::Range;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::read::{missing, Elements, FieldValue, RecordSource, VersionSource};
use crate::record::Record;
use crate::rows::{Row, Rows};
use crate::schema::Schema;

/// `base` with records removed and added (see the module doc).
#[derive(Debug)]
pub struct Overlay<'a, S: ?Sized> {
    base: &'a S,
    types: Vec<Layer>,
}

/// One type's changes over the base.
#[derive(Debug, Default)]
struct Layer {
    /// Ordinals of the base no longer read from it (removed, or replaced by `added`).
    hidden: RoaringBitmap,
    /// The added records, packed.
    rows: Rows,
    /// (ordinal, row) of each added record, in ordinal order, so that a writer walks a
    /// page's added records in one pass.
    added: Vec<(u32, u32)>,
    populated: RoaringBitmap,
}

impl Layer {
    /// Where `ordinal` is (or would go) in `added`. A dense run of added ordinals (a first
    /// cycle adds 0..n) is found at its offset from the first; otherwise by binary search.
    fn find(&self, ordinal: u32) -> std::result::Result<usize, usize> {
        let first = self.added.first().map_or(0, |&(o, _)| o);
        let guess = ordinal.checked_sub(first).map(|i| i as usize);
        if let Some(i) = guess.filter(|&i| self.added.get(i).is_some_and(|&(o, _)| o == ordinal)) {
            return Ok(i);
        }
        self.added.binary_search_by_key(&ordinal, |&(o, _)| o)
    }

    fn row(&self, ordinal: u32) -> Option<Row<'_>> {
        let i = self.find(ordinal).ok()?;
        self.rows.row(self.added[i].1)
    }

    /// Puts row `row` at `ordinal`: appended when it is past every added ordinal (the usual
    /// case), else put in its place.
    fn place(&mut self, ordinal: u32, row: u32) {
        if self.added.last().is_none_or(|&(o, _)| o < ordinal) {
            self.added.push((ordinal, row));
            return;
        }
        match self.find(ordinal) {
            Ok(i) => self.added[i].1 = row,
            Err(i) => self.added.insert(i, (ordinal, row)),
        }
    }

    /// The added records at ordinals in `range`.
    fn added_in(&self, range: Range<u32>) -> impl Iterator<Item = (u32, Row<'_>)> {
        let from = self.added.partition_point(|&(o, _)| o < range.start);
        self.added[from..]
            .iter()
            .take_while(move |&&(o, _)| o < range.end)
            .filter_map(|&(o, r)| Some((o, self.rows.row(r)?)))
    }
}

impl<'a, S: VersionSource + ?Sized> Overlay<'a, S> {
    /// `base` unchanged.
    pub fn new(base: &'a S) -> Self {
        let types = (0..base.schema().type_count())
            .map(|t| Layer {
                populated: base.populated(TypeId(t as u32)).into_owned(),
                ..Layer::default()
            })
            .collect();
        Overlay { base, types }
    }

    /// The version this one changes.
    pub fn base(&self) -> &'a S {
        self.base
    }

    /// Removes the record at `ordinal` (a base record or an added one); false when there was
    /// none.
    pub fn remove(&mut self, ty: TypeId, ordinal: Ordinal) -> bool {
        let Some(layer) = self.types.get_mut(ty.index()) else {
            return false;
        };
        if let Ok(i) = layer.find(ordinal.0) {
            layer.added.remove(i);
        }
        layer.hidden.insert(ordinal.0);
        layer.populated.remove(ordinal.0)
    }

    /// Puts `record` at `ordinal`, replacing what was there. The record must fit the type
    /// (as the records a [`StateBuilder`](crate::StateBuilder) or a delta hands out do):
    /// writing a version that holds a record of the wrong shape fails.
    pub fn insert(&mut self, ty: TypeId, ordinal: Ordinal, record: Record) {
        if let Some(layer) = self.types.get_mut(ty.index()) {
            layer.hidden.insert(ordinal.0);
            layer.populated.insert(ordinal.0);
            let row = layer.rows.push(&record);
            layer.place(ordinal.0, row);
        }
    }

    /// Puts packed records at ordinals: for each `(ordinal, i)` of `placed`, row `i` of
    /// `rows` (rows not placed are dropped). The records must fit the type, as for
    /// [`Overlay::insert`].
    pub fn insert_rows(&mut self, ty: TypeId, rows: Rows, placed: Vec<(Ordinal, u32)>) {
        let Some(layer) = self.types.get_mut(ty.index()) else {
            return;
        };
        let placed = placed.into_iter().map(|(o, i)| (o.0, i));
        if !layer.rows.is_empty() {
            for (o, i) in placed {
                let row = rows.packed(i).map(|p| layer.rows.push_packed(p));
                row.inspect(|&row| layer.place(o, row));
                layer.hidden.insert(o);
                layer.populated.insert(o);
            }
            return;
        }
        let mut added: Vec<(u32, u32)> = layer.added.drain(..).chain(placed).collect();
        added.sort_unstable_by_key(|&(o, _)| o);
        let sorted = added.iter().map(|&(o, _)| o);
        let ordinals =
            RoaringBitmap::from_sorted_iter(sorted.clone()).unwrap_or_else(|_| sorted.collect()); // an ordinal twice: the last row wins

        layer.hidden |= &ordinals;
        layer.populated |= &ordinals;
        layer.added = added;
        layer.rows = rows;
    }

    /// The added records of `ty` in ordinal order, read in place.
    pub fn added_rows(&self, ty: TypeId) -> impl Iterator<Item = (Ordinal, Row<'_>)> {
        self.types
            .get(ty.index())
            .into_iter()
            .flat_map(|l| l.added_in(0..u32::MAX))
            .map(|(o, r)| (Ordinal(o), r))
    }

    /// The added record at `ordinal`, if one was inserted there, read in place.
    pub fn added(&self, ty: TypeId, ordinal: Ordinal) -> Option<Row<'_>> {
        self.types.get(ty.index())?.row(ordinal.0)
    }

    /// The number of records of `ty`.
    pub fn len(&self, ty: TypeId) -> u64 {
        self.types.get(ty.index()).map_or(0, |l| l.populated.len())
    }

    /// Bytes held by the added records, packed (see [`Rows`]).
    pub fn added_size(&self) -> usize {
        self.types.iter().map(|l| l.rows.heap_size()).sum()
    }

    /// True when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(|l| l.populated.is_empty())
    }

    /// Where the record at `ordinal` lives: `Some(Some(record))` added here, `Some(None)` in
    /// the base, `None` nowhere.
    fn locate(&self, ty: TypeId, ordinal: Ordinal) -> Option<Option<Row<'_>>> {
        let layer = self.types.get(ty.index())?;
        if layer.hidden.contains(ordinal.0) {
            return layer.row(ordinal.0).map(Some);
        }
        self.base.contains(ty, ordinal).then_some(None)
    }
}

/// Field `field` of an added record of `ty`.
fn row_field(row: Row<'_>, ty: TypeId, field: FieldId) -> Result<FieldValue<'_>> {
    row.field(field)
        .ok_or_else(|| Error::NoSuchField(format!("no {field} in {ty}")))
}

/// The elements of an added record of `ty`.
fn row_elements(row: Row<'_>, ty: TypeId) -> Result<Elements<'_>> {
    row.elements()
        .ok_or_else(|| Error::NoSuchField(format!("{ty} is an object type")))
}

impl<S: VersionSource + ?Sized> RecordSource for Overlay<'_, S> {
    fn schema(&self) -> &Schema {
        self.base.schema()
    }

    fn contains(&self, ty: TypeId, ordinal: Ordinal) -> bool {
        self.types
            .get(ty.index())
            .is_some_and(|l| l.populated.contains(ordinal.0))
    }

    fn field(&self, ty: TypeId, field: FieldId, ordinal: Ordinal) -> Result<FieldValue<'_>> {
        match self.locate(ty, ordinal) {
            Some(None) => self.base.field(ty, field, ordinal),
            Some(Some(r)) => row_field(r, ty, field),
            None => Err(missing(self.schema(), ty, ordinal)),
        }
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
        match self.locate(ty, ordinal) {
            Some(None) => self.base.elements(ty, ordinal),
            Some(Some(r)) => row_elements(r, ty),
            None => Err(missing(self.schema(), ty, ordinal)),
        }
    }
}

impl<S: VersionSource + ?Sized> Overlay<'_, S> {
    /// The base's values for `range`, with the changes of this overlay written over them.
    fn patch<'s, T>(
        &'s self,
        ty: TypeId,
        range: Range<u32>,
        out: &mut Vec<Option<T>>,
        from_base: impl FnOnce(Range<u32>, &mut Vec<Option<T>>) -> Result<()>,
        of_record: impl Fn(Row<'s>) -> Result<T>,
    ) -> Result<()> {
        let first = out.len();
        from_base(range.clone(), out)?;
        let Some(layer) = self.types.get(ty.index()) else {
            return Ok(());
        };
        let mut hidden = layer.hidden.range(range.clone()).peekable();
        if hidden.peek().is_none() {
            return Ok(());
        }
        for o in hidden {
            out[first + (o - range.start) as usize] = None;
        }
        for (o, r) in layer.added_in(range.clone()) {
            out[first + (o - range.start) as usize] = Some(of_record(r)?);
        }
        Ok(())
    }
}

impl<S: VersionSource + ?Sized> VersionSource for Overlay<'_, S> {
    fn column_values<'s>(
        &'s self,
        ty: TypeId,
        field: FieldId,
        range: Range<u32>,
        out: &mut Vec<Option<FieldValue<'s>>>,
    ) -> Result<()> {
        self.patch(
            ty,
            range,
            out,
            |range, out| self.base.column_values(ty, field, range, out),
            |r| row_field(r, ty, field),
        )
    }

    fn object_values<'s>(
        &'s self,
        ty: TypeId,
        first: FieldId,
        range: Range<u32>,
        out: &mut [Vec<Option<FieldValue<'s>>>],
    ) -> Result<()> {
        let firsts: Vec<usize> = out.iter().map(Vec::len).collect();
        self.base.object_values(ty, first, range.clone(), out)?;
        let Some(layer) = self.types.get(ty.index()) else {
            return Ok(());
        };
        let at = |o: u32| (o - range.start) as usize;
        for o in layer.hidden.range(range.clone()) {
            for (values, start) in out.iter_mut().zip(&firsts) {
                values[start + at(o)] = None;
            }
        }
        for (o, row) in layer.added_in(range.clone()) {
            let mut fields = row.fields_from(first);
            for (i, (values, start)) in out.iter_mut().zip(&firsts).enumerate() {
                let field = FieldId(first.0 + i as u32);
                let value = fields.next();
                let value = value.ok_or_else(|| Error::NoSuchField(format!("no {field} in {ty}")));
                values[start + at(o)] = Some(value?);
            }
        }
        Ok(())
    }

    fn column_elements<'s>(
        &'s self,
        ty: TypeId,
        range: Range<u32>,
        out: &mut Vec<Option<Elements<'s>>>,
    ) -> Result<()> {
        self.patch(
            ty,
            range,
            out,
            |range, out| self.base.column_elements(ty, range, out),
            |r| row_elements(r, ty),
        )
    }

    fn slot_count(&self, ty: TypeId) -> u32 {
        self.types
            .get(ty.index())
            .and_then(|l| l.populated.max())
            .map_or(0, |m| m + 1)
    }

    fn populated(&self, ty: TypeId) -> Cow<'_, RoaringBitmap> {
        self.types
            .get(ty.index())
            .map_or_else(Cow::default, |l| Cow::Borrowed(&l.populated))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::record::Value;
    use crate::schema::{FieldKind, TypeDef};
    use crate::state::DataState;

    fn tag(name: &str) -> Record {
        Record::Object(vec![Value::String(name.into())])
    }

    fn base() -> DataState {
        let schema = Schema::new(vec![TypeDef::object("Tag").field("name", FieldKind::String)]);
        let mut state = DataState::new(Arc::new(schema.unwrap()));
        for (o, name) in ["a", "b", "c"].iter().enumerate() {
            state
                .insert(TypeId(0), Ordinal(o as u32), tag(name))
                .unwrap();
        }
        state
    }

    #[test]
    fn packed_rows_and_single_records_read_alike_wherever_they_land() {
        let base = base();
        let mut next = Overlay::new(&base);
        let mut rows = Rows::new();
        ["x", "dropped", "y"].iter().for_each(|n| {
            rows.push(&tag(n));
        });
        next.remove(TypeId(0), Ordinal(1));
        next.insert_rows(TypeId(0), rows, vec![(Ordinal(5), 0), (Ordinal(1), 2)]);
        next.insert(TypeId(0), Ordinal(3), tag("z"));
        next.remove(TypeId(0), Ordinal(5));
        let name = |o: u32| next.field(TypeId(0), FieldId(0), Ordinal(o)).ok();
        assert_eq!(name(0), Some(FieldValue::Str("a")));
        assert_eq!(name(1), Some(FieldValue::Str("y")));
        assert_eq!(name(3), Some(FieldValue::Str("z")));
        assert_eq!(name(5), None);
        assert_eq!(next.len(TypeId(0)), 4);
        assert_eq!(
            next.added(TypeId(0), Ordinal(1)).map(|r| r.to_record()),
            Some(Some(tag("y")))
        );
        assert!(next.added(TypeId(0), Ordinal(5)).is_none());
    }
}
