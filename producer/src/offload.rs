//! Matching on three threads during a full cycle (when `ProducerBuilder::threads` is 2 or
//! more, by default `available_parallelism()`; with 1 the calling thread matches everything).
//!
//! The caller's closure runs on the calling thread: serde turns each value into records,
//! children first, and every record is matched against the current version. Most of that
//! time is spent in two places: matching the root records (a movie: its index has a slot per
//! record, so every lookup misses the cache) and matching the records only root records refer
//! to (a movie's tag list: the same). Nothing refers to a root record, and a *deferred* child
//! is referred to only by the root record that follows it, so neither ordinal is needed on
//! the calling thread. Both go, in order and in batches, down a pipeline:
//!
//! - a deferred child gets a placeholder ordinal (`DEFERRED + k`, k its position among the
//!   cycle's deferred children) that its root record holds until a second thread has matched
//!   the child and put the real (kept or provisional) ordinal in its place;
//! - the root record then goes on to a third thread, which matches it.
//!
//! **No assumption on the caller's order.** Serde adds a root's children just before it, but
//! a caller of the record sink may add a column's children before any root, or hand one
//! child's ordinal to several roots, in later batches. Placeholders are numbered per cycle,
//! not per batch, and the second thread keeps every child's real ordinal until the cycle ends
//! (4 bytes per deferred child offered), so a root gets the child whose placeholder it holds
//! whichever batch the child went in: batches go down one channel in order, so a child is
//! always matched before any root that holds its placeholder. A placeholder past those the
//! cycle handed out is [`Error::UnknownReference`] (it used to index past the batch: a
//! panic, or another batch's child).
//! Records the caller adds with `CycleWriter::add_record` take the same path.
//!
//! The three threads are the pipeline's stages, not a count tuned to a machine; on two cores
//! they keep both busy: serialising, matching children and
//! matching roots take similar time. When the closure returns, what the threads matched is
//! merged: kept ordinals, and
//! pending records appended (renumbered only if the calling thread also added records of a
//! deferred type through `add_record`, in which case root records are rewritten to match).
//! The result is the same `Changes` a single thread would build, record for record.

use std::sync::mpsc::{Receiver, SyncSender};

use shoal_format::{Ordinal, Record, RecordSource, RefAt, Rows, TypeId};

use crate::data::Current;
use crate::error::{Error, Result};
use crate::index::RecordIndex;
use crate::place::RefTargets;
use crate::writer::{Changes, PROVISIONAL};

/// Placeholder ordinals of deferred children (provisional ordinals stay below).
pub(crate) const DEFERRED: u32 = 0xC000_0000;

/// At most this many deferred children per cycle: their placeholders fill the ordinals from
/// [`DEFERRED`] up.
const MAX_DEFERRED: u32 = u32::MAX - DEFERRED;

/// Which types go to the second thread.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) root: TypeId,
    /// Types referred to only by fields of the root type (and not one-string records,
    /// which the calling thread finds without building a record).
    pub(crate) deferred: Vec<TypeId>,
}

impl Plan {
    /// The plan for `root`, or `None` when some type refers to the root type.
    pub(crate) fn new(
        schema: &shoal_format::Schema,
        targets: &[RefTargets],
        root: TypeId,
    ) -> Option<Plan> {
        let mut referrers: Vec<Vec<TypeId>> = vec![Vec::new(); targets.len()];
        for (t, target) in targets.iter().enumerate() {
            let from = TypeId(t as u32);
            match target {
                RefTargets::Object(fields) => {
                    for to in fields.iter().flatten() {
                        referrers[to.index()].push(from);
                    }
                }
                RefTargets::Elements(e) => referrers[e.index()].push(from),
                RefTargets::Map(k, v) => {
                    referrers[k.index()].push(from);
                    referrers[v.index()].push(from);
                }
            }
        }
        if !referrers[root.index()].is_empty() {
            return None;
        }
        let one_string = |t: TypeId| {
            matches!(
                schema.columns(t),
                [shoal_format::ColumnKind::Var(shoal_format::VarKind::String)]
            )
        };
        let deferred = (0..targets.len())
            .map(|t| TypeId(t as u32))
            .filter(|&t| {
                t != root
                    && !referrers[t.index()].is_empty()
                    && referrers[t.index()].iter().all(|&r| r == root)
                    && !one_string(t)
            })
            .collect();
        Some(Plan { root, deferred })
    }

    fn is_deferred(&self, ty: TypeId) -> bool {
        self.deferred.contains(&ty)
    }
}

/// Records on their way to the second thread, packed on the calling thread (which builds and
/// frees each `Record` itself: a record freed on another thread cost glibc's allocator more
/// than building it). Row `i` of `rows` is `items[i]`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    items: Vec<Item>,
    rows: Rows,
}

/// What a row of a [`Batch`] is.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A deferred child of this type; its placeholder is `DEFERRED + ` its position among the
    /// cycle's deferred children.
    Child(TypeId),
    /// A root record, whose placeholders refer to children of this batch or earlier ones.
    Root,
}

impl Batch {
    fn push(&mut self, item: Item, packed: &[u8]) {
        self.items.push(item);
        self.rows.push_packed(packed);
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// An empty batch with room for what `sent` held: batches are alike, and a batch grown
    /// from nothing copies its bytes a dozen times.
    fn like(sent: &Batch) -> Self {
        Batch {
            items: Vec::with_capacity(sent.items.len()),
            rows: Rows::with_capacity(sent.rows.len(), sent.rows.byte_len()),
        }
    }
}

/// The sending side, held by the `CycleWriter`.
#[derive(Debug)]
pub(crate) struct Offload {
    plan: Plan,
    batch: Batch,
    children: u32,
    tx: SyncSender<Batch>,
    closed: bool,
    /// The record being queued, packed.
    scratch: Vec<u8>,
}

impl Offload {
    /// Root records per batch.
    const BATCH: usize = 256;

    pub(crate) fn new(plan: Plan, tx: SyncSender<Batch>) -> Self {
        Offload {
            plan,
            batch: Batch::default(),
            children: 0,
            tx,
            closed: false,
            scratch: Vec::new(),
        }
    }

    /// True when records of `ty` go to the second thread.
    pub(crate) fn wants(&self, ty: TypeId) -> bool {
        ty == self.plan.root || self.plan.is_deferred(ty)
    }

    /// Queues a record of a type it [`wants`](Self::wants); returns the ordinal to hand out
    /// (a placeholder for a child, nothing meaningful for a root record).
    pub(crate) fn push(&mut self, ty: TypeId, record: Record) -> Result<Ordinal> {
        let mut packed = std::mem::take(&mut self.scratch);
        packed.clear();
        Rows::pack(&record, &mut packed);
        let pushed = self.push_packed(ty, &packed);
        self.scratch = packed;
        pushed
    }

    /// [`push`](Self::push) for a record given packed.
    pub(crate) fn push_packed(&mut self, ty: TypeId, packed: &[u8]) -> Result<Ordinal> {
        if ty == self.plan.root {
            self.batch.push(Item::Root, packed);
            if self.batch.len() >= Self::BATCH * 3 {
                self.send();
            }
            return Ok(Ordinal(u32::MAX));
        }
        if self.children >= MAX_DEFERRED {
            return Err(Error::Usage(format!(
                "more than {MAX_DEFERRED} records of types only the root type refers to in one \
                 cycle"
            )));
        }
        self.batch.push(Item::Child(ty), packed);
        self.children += 1;
        Ok(Ordinal(DEFERRED + self.children - 1))
    }

    /// Sends what is queued (after a root record, or at the end).
    pub(crate) fn send(&mut self) {
        let next = Batch::like(&self.batch);
        let batch = std::mem::replace(&mut self.batch, next);
        if batch.len() > 0 && self.tx.send(batch).is_err() {
            self.closed = true;
        }
    }

    /// True when the second thread stopped (it failed; its error comes with the merge).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }
}

/// The second thread: matches the deferred children of each batch, puts their ordinals into
/// the root records, and passes the root records on to the third thread.
pub(crate) fn run_children(
    plan: &Plan,
    current: &Current,
    index: &RecordIndex,
    targets: &[RefTargets],
    rx: Receiver<Batch>,
    roots: SyncSender<Rows>,
) -> Result<Changes> {
    let mut changes = Changes::new(targets.len());
    let resolver = Resolver::new(plan, current, targets);
    // Every deferred child's real ordinal, by placeholder, for the whole cycle.
    let mut resolved: Vec<Ordinal> = Vec::new();
    for mut batch in rx {
        let mut out = Rows::new();
        for (i, &item) in batch.items.iter().enumerate() {
            let i = i as u32;
            match item {
                Item::Child(ty) => {
                    let packed = batch.rows.packed(i).expect("a row per item");
                    resolved.push(changes.add_packed(current, index, ty, packed)?);
                }
                Item::Root => {
                    resolver.resolve(&mut batch.rows, i, &resolved)?;
                    out.push_packed(batch.rows.packed(i).expect("a row per item"));
                }
            }
        }
        if roots.send(out).is_err() {
            break; // the third thread failed; its error comes with the merge
        }
    }
    Ok(changes)
}

/// Puts the real ordinals of deferred children in place of their placeholders in a root
/// record.
struct Resolver<'a> {
    /// Per field of the root type: the type it refers to, if any.
    targets: Vec<Option<TypeId>>,
    current: &'a Current,
    root: TypeId,
}

impl<'a> Resolver<'a> {
    fn new(plan: &Plan, current: &'a Current, targets: &[RefTargets]) -> Self {
        let targets = match &targets[plan.root.index()] {
            RefTargets::Object(t) => t.clone(),
            _ => Vec::new(),
        };
        Resolver {
            targets,
            current,
            root: plan.root,
        }
    }

    /// Replaces every placeholder in root row `i` of `rows` by the ordinal `resolved` holds
    /// for it.
    fn resolve(&self, rows: &mut Rows, i: u32, resolved: &[Ordinal]) -> Result<()> {
        let mut unknown = None;
        rows.rewrite_refs(i, |at, o| {
            let RefAt::Field(field) = at else { return o };
            if o.0 < DEFERRED || self.targets.get(field.index()).is_none_or(Option::is_none) {
                return o;
            }
            match resolved.get((o.0 - DEFERRED) as usize) {
                Some(&real) => real,
                None => {
                    unknown.get_or_insert((field.index(), o.0));
                    o
                }
            }
        });
        match unknown {
            Some((field, ordinal)) => Err(self.unknown(field, ordinal)),
            None => Ok(()),
        }
    }

    fn unknown(&self, field: usize, ordinal: u32) -> Error {
        let schema = self.current.schema();
        let def = schema
            .type_def(self.root)
            .expect("the root type is in the schema");
        Error::UnknownReference {
            type_name: def.name.clone(),
            field: def.fields()[field].name.clone(),
            ordinal,
        }
    }
}

/// The third thread: matches root records (the new ones are deduplicated at the end, all at
/// once, on `threads` threads: the input has ended, the other threads are done).
pub(crate) fn run_roots(
    plan: &Plan,
    current: &Current,
    index: &RecordIndex,
    (types, threads): (usize, usize),
    rx: Receiver<Rows>,
) -> Result<Changes> {
    let mut changes = Changes::deferring_dedup(types, plan.root);
    for batch in rx {
        for i in 0..batch.len() {
            let packed = batch.packed(i).expect("a row below the count");
            changes.add_packed(current, index, plan.root, packed)?;
        }
    }
    changes.dedup_deferred(threads);
    Ok(changes)
}

/// Folds what the other threads matched (deferred children, root records) into the
/// calling thread's changes.
pub(crate) fn merge(
    main: &mut Changes,
    mut children: Changes,
    mut roots: Changes,
    plan: &Plan,
    index: &RecordIndex,
    targets: &[RefTargets],
) -> Result<()> {
    main.offered += children.offered + roots.offered;
    // Deferred children first: where each of the second thread's pending records lands.
    let mut moved: Vec<Option<Vec<u32>>> = vec![None; targets.len()];
    let mut renumbered = false;
    for &ty in &plan.deferred {
        main.seen[ty.index()].union_with(&children.seen[ty.index()]);
        let map = main.absorb(ty, &mut children, true)?;
        renumbered |= map.iter().enumerate().any(|(i, &j)| i as u32 != j);
        moved[ty.index()] = Some(map);
    }
    let t = plan.root.index();
    main.seen[t].union_with(&roots.seen[t]);
    if renumbered {
        renumber(&mut roots, plan.root, &moved, index, &targets[t]);
    }
    // Renumbered records may have become equal: dedup them again.
    main.absorb(plan.root, &mut roots, !renumbered)?;
    Ok(())
}

/// Points the pending root records of `changes` at where their deferred children landed
/// (`moved`), and hashes them again.
fn renumber(
    changes: &mut Changes,
    root: TypeId,
    moved: &[Option<Vec<u32>>],
    index: &RecordIndex,
    targets: &RefTargets,
) {
    let t = root.index();
    for i in 0..changes.pending[t].len() {
        changes.pending[t].rewrite_refs(i, |at, o| {
            match (o.0 >= PROVISIONAL, &moved[targets.at(at).index()]) {
                (true, Some(map)) => Ordinal(PROVISIONAL + map[(o.0 - PROVISIONAL) as usize]),
                _ => o,
            }
        });
        let row = changes.pending[t].row(i).expect("a row below the count");
        changes.pending_hashes[t][i as usize] = index.hash_row(row);
    }
}
