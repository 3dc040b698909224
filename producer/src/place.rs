//! Where new records go, and the next version that results.
//!
//! When a cycle ends, every pending record gets its final ordinal, type by type:
//!
//! 1. **In place.** A new record of a keyed type whose primary key belonged to a record that
//!    the cycle removed takes that record's ordinal: an edit stays where it was. The delta
//!    then codes it against its old self (a base distance of 0 and only the changed fields),
//!    and the consumer copies the one page it sits on.
//! 2. **Freed slots, page by page** ([`Placement::FillFreed`], the default). Other new
//!    records fill the free slots (holes left by earlier cycles, slots freed now) of pages
//!    that have at least an eighth of their slots free, fullest pages first: each page filled
//!    takes at least 128 records (at 1024 per page), so filling costs no more pages than
//!    appending, and the ordinal space stops growing once removals accumulate. A page with a
//!    few scattered holes waits until more of it is free.
//! 3. **Append.** What is left goes after the highest ordinal, in arrival order, filling
//!    whole new pages. [`Placement::Append`] sends every new record there: fewest pages
//!    touched per cycle, at the price of holes that are never reused.
//!
//! The measurements behind the default are in `docs/PRODUCER.md`.

use std::collections::HashMap;

use shoal_format::{
    FieldId, FieldKind, FieldValue, Ordinal, Overlay, RecordSource, RefAt, Row, Rows, Schema,
    TypeId, TypeKind, VersionSource,
};

use shoal_format::parallel::map_shares;

use crate::data::Current;
use crate::error::{Error, Result};
use crate::index::{KeyIndex, RecordIndex};
use crate::records::WithPending;
use crate::writer::{Bitset, Changes, PROVISIONAL};

/// How new records are given ordinals (after edits, which always stay in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Fill the free slots of pages that are at least an eighth free, fullest first, then
    /// append (default).
    #[default]
    FillFreed,
    /// Always append after the highest ordinal; free slots stay empty.
    Append,
}

/// The result of placing a cycle's changes: the next version (the current one with the
/// changes over it) and what changed.
#[derive(Debug)]
pub(crate) struct Placed<'a> {
    pub(crate) next: Overlay<'a, Current>,
    /// Per type: ordinals of the current version that are gone (including edited ones).
    pub(crate) removed: Vec<Vec<Ordinal>>,
    /// Per type: ordinals of new records in the next version (including edited ones), sorted.
    pub(crate) added: Vec<Vec<Ordinal>>,
    /// Per type: the record hash of each of `added`.
    pub(crate) added_hashes: Vec<Vec<u64>>,
    /// Per type: how many new records replaced a removed one in place (edits).
    pub(crate) edited: Vec<u64>,
    /// Per type: distinct column pages that new records land on.
    pub(crate) pages_touched: Vec<u64>,
    /// Per type, sorted: the new records holding a reference that placing did not point at a
    /// record it placed (an ordinal of the current version, or a provisional one that names
    /// no live record). Only these can refer to a record missing from the next version: a
    /// reference placing rewrote points at a record it placed.
    pub(crate) unchecked: Vec<Vec<Ordinal>>,
}

impl Placed<'_> {
    pub(crate) fn is_unchanged(&self) -> bool {
        self.removed.iter().all(Vec::is_empty) && self.added.iter().all(Vec::is_empty)
    }
}

/// The types a record's references point at, per type of a schema.
#[derive(Debug, Clone)]
pub(crate) enum RefTargets {
    Object(Vec<Option<TypeId>>),
    Elements(TypeId),
    Map(TypeId, TypeId),
}

impl RefTargets {
    pub(crate) fn of(schema: &Schema) -> Vec<RefTargets> {
        let id = |name: &str| {
            schema
                .type_id(name)
                .expect("a valid schema names known types")
        };
        schema
            .types()
            .iter()
            .map(|def| match &def.kind {
                TypeKind::Object { fields, .. } => RefTargets::Object(
                    fields
                        .iter()
                        .map(|f| match &f.kind {
                            FieldKind::Reference(t) => Some(id(t)),
                            _ => None,
                        })
                        .collect(),
                ),
                TypeKind::List { element } | TypeKind::Set { element } => {
                    RefTargets::Elements(id(element))
                }
                TypeKind::Map { key, value } => RefTargets::Map(id(key), id(value)),
            })
            .collect()
    }

    /// Calls `f(target type, ordinal)` for every reference of record `o` of `ty`, read in
    /// place from `source`.
    pub(crate) fn for_each_at<S: RecordSource + ?Sized>(
        &self,
        source: &S,
        ty: TypeId,
        o: Ordinal,
        mut f: impl FnMut(TypeId, Ordinal),
    ) -> shoal_format::Result<()> {
        match self {
            RefTargets::Object(targets) => {
                for (i, t) in targets.iter().enumerate() {
                    if let Some(t) = t {
                        if let FieldValue::Ref(r) = source.field(ty, FieldId(i as u32), o)? {
                            f(*t, r);
                        }
                    }
                }
            }
            RefTargets::Elements(t) => source.elements(ty, o)?.for_each(|(e, _)| f(*t, e)),
            RefTargets::Map(k, v) => {
                for (a, b) in source.elements(ty, o)? {
                    f(*k, a);
                    if let Some(b) = b {
                        f(*v, b);
                    }
                }
            }
        }
        Ok(())
    }

    /// The type a reference at `at` points at.
    pub(crate) fn at(&self, at: RefAt) -> TypeId {
        match (self, at) {
            (RefTargets::Object(targets), RefAt::Field(f)) => {
                targets[f.index()].expect("a reference field has a target type")
            }
            (&RefTargets::Elements(t), _) | (&RefTargets::Map(t, _), RefAt::Key) => t,
            (&RefTargets::Map(_, v), _) => v,
            (RefTargets::Object(_), _) => unreachable!("an object row holds no elements"),
        }
    }

    /// Calls `f(target type, ordinal)` for every reference of a packed record.
    pub(crate) fn for_each_row(&self, row: Row<'_>, mut f: impl FnMut(TypeId, Ordinal)) {
        match self {
            RefTargets::Object(targets) => row.for_each_ref_ordinal(|at, o| {
                if let RefAt::Field(field) = at {
                    if let Some(Some(t)) = targets.get(field.index()) {
                        f(*t, o);
                    }
                }
            }),
            RefTargets::Elements(t) => row
                .elements()
                .into_iter()
                .flatten()
                .for_each(|(e, _)| f(*t, e)),
            RefTargets::Map(k, v) => {
                for (a, b) in row.elements().into_iter().flatten() {
                    f(*k, a);
                    b.into_iter().for_each(|b| f(*v, b));
                }
            }
        }
    }
}

// Several per-type vectors are indexed by the same type number.
#[allow(clippy::needless_range_loop)]
/// Places the pending records of `changes` (those set in `live`, or all) and builds the next
/// version from `current`.
pub(crate) fn place<'a>(
    current: &'a Current,
    index: &RecordIndex,
    keys: &KeyIndex,
    mut changes: Changes,
    live: Option<&[Bitset]>,
    (policy, page_shift): (Placement, u8),
    threads: usize,
) -> Result<Placed<'a>> {
    let schema = current.schema_arc().clone();
    let types = schema.type_count();
    let targets = RefTargets::of(&schema);
    let is_live = |t: usize, i: usize| live.is_none_or(|l| l[t].contains(i as u32));

    let mut finals: Vec<Vec<Option<Ordinal>>> = Vec::with_capacity(types);
    let mut removed = Vec::with_capacity(types);
    let mut edited = vec![0u64; types];
    for t in 0..types {
        let ty = TypeId(t as u32);
        let seen = &changes.seen[t];
        let populated = VersionSource::populated(current, ty);
        let gone: Vec<Ordinal> = populated
            .iter()
            .map(Ordinal)
            .filter(|o| !seen.contains(o.0))
            .collect();
        let pending = &changes.pending[t];
        let mut fin: Vec<Option<Ordinal>> = vec![None; pending.len() as usize];

        // 1. Edits stay in place.
        let mut claimed = Bitset::default();
        if keys.paths(ty).is_some() && !gone.is_empty() {
            let mut gone_set = Bitset::default();
            gone.iter().for_each(|o| gone_set.insert(o.0));
            let get = WithPending {
                version: current,
                pending: &changes.pending,
            };
            for i in 0..pending.len() as usize {
                if !is_live(t, i) {
                    continue;
                }
                let me = Ordinal(PROVISIONAL + i as u32);
                if let Some(old) = keys.find_like(current, &get, ty, me) {
                    if gone_set.contains(old.0) && !claimed.contains(old.0) {
                        claimed.insert(old.0);
                        fin[i] = Some(old);
                        edited[t] += 1;
                    }
                }
            }
        }

        // 2. Free slots, fullest pages first.
        let slot_count = current.slot_count(ty);
        let mut free: Vec<u32> = Vec::new();
        if policy == Placement::FillFreed {
            let mut populated_or_claimed = Bitset::default();
            for o in populated.iter() {
                if seen.contains(o) {
                    populated_or_claimed.insert(o);
                }
            }
            let mut by_page: HashMap<u32, Vec<u32>> = HashMap::new();
            for o in 0..slot_count {
                if !populated_or_claimed.contains(o) && !claimed.contains(o) {
                    by_page.entry(o >> page_shift).or_default().push(o);
                }
            }
            // A page with a few free slots is left alone: filling it would copy a page for a
            // record or two. Once an eighth of a page is free, filling it costs one page per
            // 128 records (at 1024 per page), as good as appending.
            let worth = ((1usize << page_shift) / 8).max(1);
            let mut pages: Vec<(u32, Vec<u32>)> = by_page
                .into_iter()
                .filter(|(_, slots)| slots.len() >= worth)
                .collect();
            pages.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
            free = pages.into_iter().flat_map(|(_, slots)| slots).collect();
        }
        // 3. Append.
        let mut free = free.into_iter();
        let mut next_slot = slot_count;
        for (i, f) in fin.iter_mut().enumerate() {
            if f.is_some() || !is_live(t, i) {
                continue;
            }
            let o = match free.next() {
                Some(o) => o,
                None => {
                    let o = next_slot;
                    next_slot += 1;
                    o
                }
            };
            if o >= PROVISIONAL {
                return Err(Error::Usage(format!(
                    "type `{}` would need more than 2^31 ordinals",
                    schema.types()[t].name
                )));
            }
            *f = Some(Ordinal(o));
        }
        finals.push(fin);
        removed.push(gone);
    }

    // Final ordinals known: rewrite provisional references, then build the next version.
    let mut next = Overlay::new(current);
    for (t, gone) in removed.iter().enumerate() {
        for &o in gone {
            next.remove(TypeId(t as u32), o);
        }
    }
    let mut added = Vec::with_capacity(types);
    let mut added_hashes = Vec::with_capacity(types);
    let mut pages_touched = Vec::with_capacity(types);
    let mut unchecked = Vec::with_capacity(types);
    for t in 0..types {
        let mut rows = std::mem::take(&mut changes.pending[t]);
        let hashes = std::mem::take(&mut changes.pending_hashes[t]);
        let hashing = (index, threads);
        let finalized = finalize_rows(&mut rows, hashes, &finals, &targets[t], t, hashing);
        let mut list = finalized.list;
        unchecked.push(finalized.unchecked);
        list.sort_unstable_by_key(|(o, _, _)| *o);
        let mut pages: Vec<u32> = list.iter().map(|(o, _, _)| o.0 >> page_shift).collect();
        pages.dedup();
        pages_touched.push(pages.len() as u64);
        added_hashes.push(list.iter().map(|(_, _, h)| *h).collect());
        added.push(list.iter().map(|(o, _, _)| *o).collect());
        let placed = list.into_iter().map(|(o, i, _)| (o, i)).collect();
        next.insert_rows(TypeId(t as u32), rows, placed);
    }
    Ok(Placed {
        next,
        removed,
        added,
        added_hashes,
        edited,
        pages_touched,
        unchecked,
    })
}

/// A type's placed records, from [`finalize_rows`].
struct Finalized {
    /// (final ordinal, row, hash) of each live pending record.
    list: Vec<(Ordinal, u32, u64)>,
    /// Final ordinals, sorted, of the records holding a reference not pointed at a record
    /// placed now (see [`Placed::unchecked`]).
    unchecked: Vec<Ordinal>,
}

/// Points the live pending records of type `t` at the final ordinals of what they refer to.
/// References are rewritten, and the rows whose references changed hashed again (every row,
/// in a first cycle), on `threads` threads. A provisional ordinal that names no live record
/// (none was handed out as it, say) is left as it is, for the reference check to refuse.
fn finalize_rows(
    rows: &mut Rows,
    mut hashes: Vec<u64>,
    finals: &[Vec<Option<Ordinal>>],
    targets: &RefTargets,
    t: usize,
    (index, threads): (&RecordIndex, usize),
) -> Finalized {
    let own = &finals[t];
    let rewritten = rows.rewrite_all_refs(threads, |i, at, r| {
        if r.0 < PROVISIONAL || own[i as usize].is_none() {
            return r;
        }
        let of_target = &finals[targets.at(at).index()];
        let placed = of_target.get((r.0 - PROVISIONAL) as usize).copied();
        placed.flatten().unwrap_or(r)
    });
    let rows = &*rows;
    let rehash = |share: &[u32]| -> Vec<u64> {
        share
            .iter()
            .map(|&i| index.hash_row(rows.row(i).expect("a row below the count")))
            .collect()
    };
    let again = map_shares(&rewritten.moved, threads, rehash).concat();
    for (&i, h) in rewritten.moved.iter().zip(again) {
        hashes[i as usize] = h;
    }
    let mut unchecked: Vec<Ordinal> = rewritten
        .stayed
        .iter()
        .filter_map(|&i| own[i as usize])
        .collect();
    unchecked.sort_unstable();
    let list = own
        .iter()
        .enumerate()
        .filter_map(|(i, fin)| fin.map(|o| (o, i as u32, hashes[i])))
        .collect();
    Finalized { list, unchecked }
}
