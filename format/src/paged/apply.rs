//! Applying a delta to a [`PagedVersion`], page by page.
//!
//! For each column, a page is rebuilt only if an added record lands on it with a value that
//! differs from what the page holds (an in-place edit whose column is not *present* in the
//! delta keeps the page), or if the page's length changes. Removals only clear bits. A page
//! with a few values replaced keeps its bytes: fixed values that fit its width and frame are
//! patched into a copy of its codes, others are held beside the shared page (see
//! `handle::Patched`) until they pass [`patch_limit`].

use std::sync::Arc;

use bytes::Bytes;
use roaring::RoaringBitmap;

use super::handle::{read_var, FixedPatched, Owned, Page, PatchValue, Patched, PAGE_HEADER_LEN};
use super::{Column, PagedType, PagedVersion};
use crate::page::{
    encode_fixed, encode_var, FixedCell, FixedHeader, PageError, ReadError, VarCell, VarHeader,
};
use crate::parallel::map_shares;
use crate::project::Projection;
use crate::section::ColumnReader;
use crate::{
    bitpack, ColumnKind, DeltaView, Error, FieldId, FixedKind, Ordinal, Result, Schema, TypeId,
    VarKind,
};

/// What applying a delta cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Column pages rebuilt (new memory).
    pub pages_rebuilt: u64,
    /// Column pages shared with the previous version.
    pub pages_shared: u64,
    /// Bytes of the rebuilt pages.
    pub bytes_rebuilt: u64,
}

/// How many values of a page may be patched before it is rebuilt (1/16 of a page).
fn patch_limit(per_page: usize) -> usize {
    (per_page / 16).max(1)
}

/// Whether a page already holding `patches` can take `updates` as patches too, within
/// [`patch_limit`].
fn fits_patches<V>(
    patches: &[(u32, V)],
    updates: impl Iterator<Item = usize>,
    per_page: usize,
) -> bool {
    let fresh = updates
        .filter(|i| patches.binary_search_by_key(&(*i as u32), |p| p.0).is_err())
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

/// Everything `apply_column` needs about one column of one type.
struct ApplyColumn<'a> {
    ty: TypeId,
    column: FieldId,
    old: &'a Column,
    slot_count: u32,
    added: &'a [u32],
    bases: &'a [Option<Ordinal>],
    present: &'a RoaringBitmap,
    reader: ColumnReader<'a>,
}

impl ApplyColumn<'_> {
    /// The number of values page `p` holds.
    fn count(&self, p: usize, per_page: usize) -> usize {
        per_page.min(self.slot_count as usize - p * per_page)
    }
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

impl PagedVersion {
    /// The next version: this one with `delta` applied, sharing every page the delta does
    /// not change; pages are rebuilt on up to `threads` threads. Checks that the delta starts
    /// at this version, has this schema (or changes it compatibly, format version 2: then it
    /// applies to this version read in its schema), removes only records that exist and adds
    /// only into free slots.
    pub fn apply<D: AsRef<[u8]>>(
        &self,
        delta: &DeltaView<D>,
        threads: usize,
    ) -> Result<(PagedVersion, ApplyStats)> {
        if delta.from_version() != self.version {
            return Err(self.mismatch(format!(
                "the delta starts at version {}",
                delta.from_version().0
            )));
        }
        if **delta.schema() != *self.schema {
            if !delta.layout().header.changes_schema {
                return Err(self.mismatch("the delta has another schema".into()));
            }
            return self.projected(delta.schema())?.apply(delta, threads);
        }
        if delta.layout().header.page_shift != self.shift {
            return Err(self.mismatch("the delta has another page size".into()));
        }
        let mut stats = ApplyStats::default();
        let types = (0..self.types.len())
            .map(|t| self.apply_type(delta, TypeId(t as u32), threads, &mut stats))
            .collect::<Result<_>>()?;
        let next = PagedVersion {
            version: delta.to_version(),
            schema: self.schema.clone(),
            shift: self.shift,
            types,
        };
        Ok((next, stats))
    }

    fn mismatch(&self, what: String) -> Error {
        Error::DeltaMismatch(what)
    }

    /// Type `ty` after `delta`: its records checked, its columns applied.
    fn apply_type<D: AsRef<[u8]>>(
        &self,
        delta: &DeltaView<D>,
        ty: TypeId,
        threads: usize,
        stats: &mut ApplyStats,
    ) -> Result<PagedType> {
        let old = &self.types[ty.index()];
        let added = delta.added(ty).cloned().unwrap_or_default();
        let populated = self.populated_after(delta, ty, &added)?;
        let slot_count = delta.slot_count(ty);
        let added: Vec<u32> = added.iter().collect();
        let bases: Vec<Option<Ordinal>> = delta.bases(ty);
        self.check_bases(ty, &added, &bases)?;
        let mut columns = Vec::with_capacity(old.columns.len());
        for (c, column) in old.columns.iter().enumerate() {
            let (present, reader) = delta.column(ty, FieldId(c as u32))?;
            let a = ApplyColumn {
                ty,
                column: FieldId(c as u32),
                old: column,
                slot_count,
                added: &added,
                bases: &bases,
                present,
                reader,
            };
            columns.push(self.apply_column(a, threads, stats)?);
        }
        Ok(PagedType {
            populated,
            slot_count,
            columns,
        })
    }

    /// The populated ordinals of `ty` after `delta`, checked: it removes only records that
    /// exist, adds only into free slots, and leaves none beyond its slot count, which grows
    /// only by the records it adds.
    fn populated_after<D: AsRef<[u8]>>(
        &self,
        delta: &DeltaView<D>,
        ty: TypeId,
        added: &RoaringBitmap,
    ) -> Result<RoaringBitmap> {
        let old = &self.types[ty.index()];
        let name = &self.schema.types()[ty.index()].name;
        let removed = delta.removed(ty).cloned().unwrap_or_default();
        if !removed.is_subset(&old.populated) {
            return Err(self.mismatch(format!(
                "it removes records of type `{name}` that do not exist"
            )));
        }
        let mut populated = &old.populated - &removed;
        if !populated.is_disjoint(added) {
            return Err(self.mismatch(format!(
                "it adds records of type `{name}` into occupied slots"
            )));
        }
        populated |= added;
        let slot_count = delta.slot_count(ty);
        if populated.max().is_some_and(|m| m >= slot_count) {
            return Err(self.mismatch("a record lies beyond the slot count".into()));
        }
        // A larger slot count (which sizes the page tables) is a hostile or broken delta.
        let grown = added.max().map_or(0, |m| m + 1);
        if slot_count > old.slot_count.max(grown) {
            return Err(self.mismatch(format!(
                "type `{name}` grows to {slot_count} slots, beyond its records"
            )));
        }
        Ok(populated)
    }

    /// Every base of a record added elsewhere than in place is a record of this version (a
    /// base in place is one the delta removes, checked with the removals).
    fn check_bases(&self, ty: TypeId, added: &[u32], bases: &[Option<Ordinal>]) -> Result<()> {
        let populated = &self.types[ty.index()].populated;
        let missing = added.iter().zip(bases).find_map(|(&o, b)| {
            b.filter(|b| b.0 != o && !populated.contains(b.0))
                .map(|b| (o, b))
        });
        match missing {
            Some((o, b)) => Err(self.mismatch(format!(
                "it builds {} of type `{}` on {b}, which is not there",
                Ordinal(o),
                self.schema.types()[ty.index()].name
            ))),
            None => Ok(()),
        }
    }

    /// What changes in a column, page by page: (index in page, where the value comes from).
    fn updates(&self, a: &ApplyColumn<'_>) -> Vec<Vec<(usize, Source)>> {
        let per_page = 1usize << self.shift;
        let mut updates = vec![Vec::new(); (a.slot_count as usize).div_ceil(per_page)];
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
        updates
    }

    fn apply_column(
        &self,
        a: ApplyColumn<'_>,
        threads: usize,
        stats: &mut ApplyStats,
    ) -> Result<Column> {
        let per_page = 1usize << self.shift;
        let old = a.old.pages.try_list()?;
        let updates = self.updates(&a);
        let n_pages = updates.len();
        // A column the delta leaves alone (no value to write, same page count and lengths)
        // keeps its whole page table.
        let untouched = updates.iter().all(Vec::is_empty)
            && old.len() == n_pages
            && old
                .last()
                .is_none_or(|last| last.len() == a.count(n_pages - 1, per_page));
        if untouched {
            stats.pages_shared += n_pages as u64;
            return Ok(a.old.clone());
        }
        // Which pages are shared and which are rebuilt; rebuilt ones are made on several
        // threads when there are many (pages are independent).
        let mut pages: Vec<Option<Page>> = Vec::with_capacity(n_pages);
        let mut work: Vec<usize> = Vec::new();
        for (p, page_updates) in updates.iter().enumerate() {
            match old.get(p) {
                Some(page) if page_updates.is_empty() && page.len() == a.count(p, per_page) => {
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
                    let count = a.count(p, per_page);
                    Ok((p, self.rebuild(&a, count, old.get(p), &updates[p])?))
                })
                .collect()
        };
        let built = if work.len() >= 32 {
            map_shares(&work, threads, build)
                .into_iter()
                .collect::<Result<Vec<_>>>()?
                .concat()
        } else {
            build(&work)?
        };
        for (p, page) in built {
            stats.pages_rebuilt += 1;
            stats.bytes_rebuilt += page.new_bytes();
            pages[p] = Some(page);
        }
        let pages = pages.into_iter().flatten().collect();
        Ok(Column::built(a.old.kind, pages))
    }

    /// Page `old` (`None`: there was none) of `count` values with `updates` written.
    ///
    /// Slots of the old page keep their values, removed ones included: the populated bitmap
    /// says which slots hold records, so a stale value is never read, and finding holes
    /// would cost a bitmap lookup per slot. Slots beyond the old page are holes until an
    /// added record fills them (every added record is among the updates).
    fn rebuild(
        &self,
        a: &ApplyColumn<'_>,
        count: usize,
        old: Option<&Page>,
        updates: &[(usize, Source)],
    ) -> Result<Page> {
        match a.old.kind {
            ColumnKind::Fixed(kind) => self.rebuild_fixed(a, kind, count, old, updates),
            ColumnKind::Var(kind) => self.rebuild_var(a, kind, count, old, updates),
        }
    }

    fn rebuild_fixed(
        &self,
        a: &ApplyColumn<'_>,
        kind: FixedKind,
        count: usize,
        old: Option<&Page>,
        updates: &[(usize, Source)],
    ) -> Result<Page> {
        let cell = |r: Option<u64>| r.map_or(FixedCell::Null, FixedCell::Raw);
        let new_cell = |source: Source| match source {
            Source::Delta(rank) => cell(a.reader.fixed_page(rank).and_then(|(pg, j)| pg.raw(j))),
            Source::Old(b) => cell(self.raw(a.ty, a.column, b)),
            Source::Null => FixedCell::Null,
        };
        let cells: Vec<(usize, FixedCell)> =
            updates.iter().map(|&(i, s)| (i, new_cell(s))).collect();
        if let Some(page) = patched_codes(old, count, &cells) {
            return Ok(page);
        }
        if let Some(page) = patched_fixed(old, count, &cells, 1 << self.shift) {
            return Ok(page);
        }
        // No old page at all: a new page of a grown type (slots not updated hold no record)
        // or a field the schema just added, null in every record it has.
        let mut all: Vec<FixedCell> = (0..count)
            .map(|i| match old.map(|page| page.fixed_raw(i)) {
                Some(Some(raw)) => cell(raw),
                Some(None) => FixedCell::Hole,
                None => FixedCell::Null,
            })
            .collect();
        for &(i, c) in &cells {
            all[i] = c;
        }
        let mut buf = Vec::new();
        encode_fixed(kind, &all, &mut buf);
        let h = FixedHeader::parse(&buf, kind, count as u32).map_err(|e| rebuilt(a.ty, e))?;
        Ok(Page::Fixed(h, Bytes::from(buf).slice(PAGE_HEADER_LEN..)))
    }

    fn rebuild_var(
        &self,
        a: &ApplyColumn<'_>,
        kind: VarKind,
        count: usize,
        old: Option<&Page>,
        updates: &[(usize, Source)],
    ) -> Result<Page> {
        let bad = |e| unreadable(a.ty, e);
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
        if let Some(page) = patched_var(old, count, updates, 1 << self.shift, &new_value)? {
            return Ok(page);
        }
        // Values as owned parts first (elements must be unpacked), cells after.
        let mut values: Vec<Owned<'_>> = (0..count)
            .map(|i| match old {
                Some(page) if i < page.len() => page.var_owned(kind, i),
                // See `rebuild_fixed`; a list, set or map is never null.
                None if matches!(kind, VarKind::String | VarKind::Bytes) => Ok(Owned::Null),
                _ => Ok(Owned::Hole),
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?;
        for &(i, source) in updates {
            values[i] = new_value(source)?;
        }
        let cells: Vec<VarCell<'_>> = values.iter().map(Owned::cell).collect();
        // A page keeps its kind: a dictionary page (and a new page) is written as one again
        // where that is smaller; a plain page stays plain, so rebuilding pages of distinct
        // values (titles) does not hash them on every apply.
        let dictionary = old.is_none_or(Page::is_dictionary);
        let mut buf = Vec::new();
        encode_var(kind, &cells, dictionary, &mut buf);
        let h = VarHeader::parse(&buf, kind, count as u32).map_err(|e| rebuilt(a.ty, e))?;
        Ok(Page::Var(h, Bytes::from(buf)))
    }

    /// This version read in `schema`, a compatible change of its own (see [`Projection`]):
    /// types and fields matched by name, every column the two share shared whole, a new field
    /// without pages (it reads as null), a new type without records. How a delta that changes
    /// the schema applies, and how two versions of different schemas are compared.
    pub fn projected(&self, schema: &Arc<Schema>) -> Result<PagedVersion> {
        let map = Projection::new(&self.schema, schema)?;
        let types = (0..schema.type_count())
            .map(|t| self.projected_type(schema, &map, TypeId(t as u32)))
            .collect();
        Ok(PagedVersion {
            version: self.version,
            schema: schema.clone(),
            shift: self.shift,
            types,
        })
    }

    /// Type `ty` of `schema` (see [`projected`](Self::projected)).
    fn projected_type(&self, schema: &Schema, map: &Projection, ty: TypeId) -> PagedType {
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
        PagedType {
            populated: old.map(|t| t.populated.clone()).unwrap_or_default(),
            slot_count: old.map_or(0, |t| t.slot_count),
            columns,
        }
    }
}

/// The fast path of a fixed page: when every new value fits the old page's width, frame and
/// scale, a copy of its codes patched (a memcpy and k bit writes).
fn patched_codes(old: Option<&Page>, count: usize, cells: &[(usize, FixedCell)]) -> Option<Page> {
    let Some(Page::Fixed(h, b)) = old else {
        return None;
    };
    if h.count() != count {
        return None;
    }
    let codes: Vec<(usize, u64)> = cells
        .iter()
        .map(|&(i, c)| h.code_of(c).map(|code| (i, code)))
        .collect::<Option<_>>()?;
    let len = bitpack::packed_len(count, h.width());
    let mut packed = b[..len].to_vec();
    for (i, code) in codes {
        bitpack::set(&mut packed, h.width(), i, code);
    }
    Some(Page::Fixed(*h, Bytes::from(packed)))
}

/// Next for a fixed page: values that do not fit (or a page patched before) are held beside
/// the shared codes, while they are few.
fn patched_fixed(
    old: Option<&Page>,
    count: usize,
    cells: &[(usize, FixedCell)],
    per_page: usize,
) -> Option<Page> {
    let (h, codes, patches) = match old? {
        Page::Fixed(h, b) => (*h, b, &[][..]),
        Page::FixedPatched(p) => (p.h, &p.codes, &p.patches[..]),
        _ => return None,
    };
    if h.count() != count || !fits_patches(patches, cells.iter().map(|c| c.0), per_page) {
        return None;
    }
    let new = cells.iter().map(|&(i, c)| {
        let raw = match c {
            FixedCell::Raw(r) => Some(r),
            FixedCell::Null | FixedCell::Hole => None,
        };
        (i as u32, raw)
    });
    Some(Page::FixedPatched(Arc::new(FixedPatched {
        h,
        codes: codes.clone(),
        patches: merge_patches(patches, new.collect()),
    })))
}

/// The fast path of a var page: a page of the same length with few values replaced keeps its
/// bytes and holds the new values beside them.
fn patched_var<'a>(
    old: Option<&Page>,
    count: usize,
    updates: &[(usize, Source)],
    per_page: usize,
    new_value: &impl Fn(Source) -> Result<Owned<'a>>,
) -> Result<Option<Page>> {
    let (h, bytes, patches) = match old {
        Some(Page::Var(h, b)) => (*h, b, &[][..]),
        Some(Page::Patched(p)) => (p.h, &p.bytes, &p.patches[..]),
        _ => return Ok(None),
    };
    if h.count() != count || !fits_patches(patches, updates.iter().map(|u| u.0), per_page) {
        return Ok(None);
    }
    let new = updates
        .iter()
        .map(|&(i, source)| Ok((i as u32, PatchValue::of(new_value(source)?))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Page::Patched(Arc::new(Patched {
        h,
        bytes: bytes.clone(),
        patches: merge_patches(patches, new),
    }))))
}

fn unreadable(ty: TypeId, e: ReadError) -> Error {
    Error::DeltaMismatch(format!("a page of type {ty} cannot be read: {e:?}"))
}

fn rebuilt(ty: TypeId, e: PageError) -> Error {
    Error::DeltaMismatch(format!(
        "a rebuilt page of type {ty} does not parse: {}",
        e.0
    ))
}
