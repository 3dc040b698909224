//! A version made of another version and its changes: records removed, and records added at
//! ordinals of their own. Every record that did not change is read in place from the base
//! (a snapshot in a blob, say), so a version that differs from a large one by a few records
//! costs the few records. The producer's next version is one; the writers encode it like any
//! other [`VersionSource`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::ids::{FieldId, Ordinal, TypeId};
use crate::read::{missing, Elements, FieldValue, RecordSource, VersionSource};
use crate::record::Record;
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
    /// In ordinal order, so that a writer walks a page's added records in one pass.
    added: BTreeMap<u32, Record>,
    populated: RoaringBitmap,
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
        layer.added.remove(&ordinal.0);
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
            layer.added.insert(ordinal.0, record);
        }
    }

    /// The added record at `ordinal`, if one was inserted there.
    pub fn added(&self, ty: TypeId, ordinal: Ordinal) -> Option<&Record> {
        self.types.get(ty.index())?.added.get(&ordinal.0)
    }

    /// Per type: the base ordinals no longer read from it (removed or replaced), and the
    /// records added, by ordinal.
    pub fn into_changes(self) -> Vec<(RoaringBitmap, BTreeMap<u32, Record>)> {
        self.types
            .into_iter()
            .map(|l| (l.hidden, l.added))
            .collect()
    }

    /// The number of records of `ty`.
    pub fn len(&self, ty: TypeId) -> u64 {
        self.types.get(ty.index()).map_or(0, |l| l.populated.len())
    }

    /// True when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(|l| l.populated.is_empty())
    }

    /// Where the record at `ordinal` lives: `Some(Some(record))` added here, `Some(None)` in
    /// the base, `None` nowhere.
    fn locate(&self, ty: TypeId, ordinal: Ordinal) -> Option<Option<&Record>> {
        let layer = self.types.get(ty.index())?;
        if layer.hidden.contains(ordinal.0) {
            return layer.added.get(&ordinal.0).map(Some);
        }
        self.base.contains(ty, ordinal).then_some(None)
    }
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
            Some(Some(r)) => crate::read::field_of(r, ty, field),
            None => Err(missing(self.schema(), ty, ordinal)),
        }
    }

    fn elements(&self, ty: TypeId, ordinal: Ordinal) -> Result<Elements<'_>> {
        match self.locate(ty, ordinal) {
            Some(None) => self.base.elements(ty, ordinal),
            Some(Some(r)) => crate::read::elements_of(r, ty),
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
        of_record: impl Fn(&'s Record) -> Result<T>,
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
        for (o, r) in layer.added.range(range.clone()) {
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
            |r| crate::read::field_of(r, ty, field),
        )
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
            |r| crate::read::elements_of(r, ty),
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
