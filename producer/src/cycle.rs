//! The CPU work of a cycle: running the caller's closure (matching every record against the
//! current version), placing new records, checking the next version and encoding its blobs.
//!
//! It runs on a blocking thread (`Producer::run_cycle` hands a [`Cycle`] to
//! `tokio::task::spawn_blocking`), never on the caller's executor. A `Cycle` owns what it
//! reads, shared through `Arc`s with the producer: the settings ([`Setup`]) and the current
//! version with its indexes ([`Data`]). It returns the next version and its blobs
//! ([`Prepared`]) without touching the producer, which moves to them only after the
//! announcement: a cycle that fails, panics or is dropped half way leaves the producer on
//! the version it was on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_format::{
    keyindex::indexed_key, write_delta_of, write_snapshot_on, Ordinal, OrdinalChanges, Overlay,
    Projected, RecordSource, Schema, SnapshotView, TypeId, Value, Version, VersionSource,
    WriteOptions,
};
use shoal_store::BlobName;

use crate::data::{Current, Data, IndexChanges};
use crate::error::{BoxError, Error, Result};
use crate::index::{key_with, Duplicate, Hasher};
use crate::offload::{self, Offload, Plan};
use crate::place::{place, Placed, Placement, RefTargets};
use crate::records::WithPending;
use crate::report::{CycleReport, Timings, TypeReport};
use crate::validate::{CycleView, RemovalGuard, Validator};
use crate::writer::{Bitset, Changes, CycleWriter, IncrementalWriter, PROVISIONAL};

/// The producer's settings, fixed when it is built.
pub(crate) struct Setup {
    pub(crate) schema: Arc<Schema>,
    pub(crate) root: Option<String>,
    pub(crate) hasher: Hasher,
    pub(crate) targets: Vec<RefTargets>,
    pub(crate) options: Options,
    pub(crate) validators: Vec<Box<dyn Validator>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) snapshot_every: u32,
    pub(crate) keep_versions: usize,
    pub(crate) placement: Placement,
    pub(crate) page_shift: u8,
    /// Write key index sections into snapshots (see `shoal_format::keyindex`).
    pub(crate) key_indexes: bool,
    /// Dictionary pages for repeated strings (format version 3).
    pub(crate) dictionary: bool,
    pub(crate) removal_guard: RemovalGuard,
    /// Threads a cycle may keep busy: 1 runs matching and encoding on the cycle's own
    /// thread; 2 or more match in a pipeline of three threads (see `offload`) and encode the
    /// snapshot beside the checks and the deltas.
    pub(crate) threads: usize,
    /// The zstd level blobs are packed at before they are put; `None`: plain.
    pub(crate) pack_level: Option<i32>,
}

impl Options {
    /// How the blobs are written.
    pub(crate) fn write_options(&self) -> WriteOptions {
        WriteOptions {
            page_shift: self.page_shift,
            key_indexes: self.key_indexes,
            dictionary: self.dictionary,
        }
    }
}

/// One cycle's inputs, moved onto a blocking thread.
pub(crate) struct Cycle {
    pub(crate) setup: Arc<Setup>,
    pub(crate) data: Arc<Data>,
    /// The version the producer is on.
    pub(crate) previous: Option<Version>,
    /// The restored version has a schema this one cannot read in place: publish a snapshot
    /// only.
    pub(crate) schema_changed: bool,
    /// The restored version in its own schema, when this schema is a compatible change of it
    /// (`data` holds it read in this schema): the deltas go from it.
    pub(crate) before_change: Option<Arc<Current>>,
    pub(crate) cycles_since_snapshot: u32,
    pub(crate) start: Instant,
}

/// What a cycle's CPU work hands back to be published.
pub(crate) enum Prepared {
    /// Nothing changed: nothing to publish.
    Unchanged(CycleReport),
    /// A new version to publish.
    Publish(Box<Next>),
}

/// A new version, checked and encoded, not yet published.
pub(crate) struct Next {
    pub(crate) version: Version,
    /// The version itself; its indexes are updated from the current ones with `changes` once
    /// it is published ([`Data::move_on`]).
    pub(crate) current: Current,
    pub(crate) changes: IndexChanges,
    pub(crate) blobs: Vec<(BlobName, Bytes)>,
    pub(crate) with_snapshot: bool,
    /// When the cycle started.
    pub(crate) start: Instant,
    /// The report, but for the blobs written and the publish and total times.
    pub(crate) report: CycleReport,
}

/// The blobs of a cycle to publish, and the next version's snapshot (published or not: the
/// producer holds it as its next current version).
struct Encoded {
    blobs: Vec<(BlobName, Bytes)>,
    snapshot: Bytes,
}

impl Cycle {
    /// A full cycle: `fill` adds the whole new dataset.
    pub(crate) fn full<F, E>(self, fill: F) -> Result<Prepared>
    where
        F: FnOnce(&mut CycleWriter<'_>) -> std::result::Result<(), E>,
        E: Into<BoxError>,
    {
        let changes = self.collect(fill)?;
        self.prepare(changes, None)
    }

    /// An incremental cycle: `fill` upserts and deletes records by primary key.
    pub(crate) fn incremental<F, E>(self, fill: F) -> Result<Prepared>
    where
        F: FnOnce(&mut IncrementalWriter<'_>) -> std::result::Result<(), E>,
        E: Into<BoxError>,
    {
        let types = self.setup.schema.type_count();
        let mut writer = IncrementalWriter {
            inner: self.writer(),
            keys: self.data.keys(),
            ops: Vec::new(),
        };
        fill(&mut writer).map_err(|e| input_error(e.into()))?;
        let IncrementalWriter { inner, ops, .. } = writer;
        let mut changes = inner.changes;
        let live = self.resolve_incremental(&mut changes, ops, types)?;
        self.prepare(changes, Some(live))
    }

    fn writer(&self) -> CycleWriter<'_> {
        CycleWriter {
            schema: &self.setup.schema,
            current: &self.data.current,
            index: self.data.index(),
            root: self.setup.root.as_deref(),
            changes: Changes::new(self.setup.schema.type_count()),
            offload: None,
        }
    }

    /// The matching pipeline's plan, when the root type allows one and there are threads
    /// to run it on.
    fn plan(&self) -> Option<Plan> {
        let Setup {
            schema,
            root,
            targets,
            options,
            ..
        } = &*self.setup;
        if options.threads < 2 {
            return None;
        }
        let root = schema.type_id(root.as_deref()?)?;
        Plan::new(schema, targets, root)
    }

    /// Runs `fill`, matching root records and their children on two more threads when a
    /// plan allows (see `offload`).
    fn collect<F, E>(&self, fill: F) -> Result<Changes>
    where
        F: FnOnce(&mut CycleWriter<'_>) -> std::result::Result<(), E>,
        E: Into<BoxError>,
    {
        let plan = self.plan();
        let (current, index, targets) =
            (&self.data.current, self.data.index(), &self.setup.targets);
        std::thread::scope(|scope| -> Result<Changes> {
            let mut writer = self.writer();
            let workers = plan.as_ref().map(|plan| {
                let (tx, rx) = std::sync::mpsc::sync_channel(8);
                let (roots_tx, roots_rx) = std::sync::mpsc::sync_channel(8);
                writer.offload = Some(Offload::new(plan.clone(), tx));
                let sizes = (targets.len(), self.setup.options.threads);
                let children = scope.spawn(move || {
                    offload::run_children(plan, current, index, targets, rx, roots_tx)
                });
                let roots =
                    scope.spawn(move || offload::run_roots(plan, current, index, sizes, roots_rx));
                (children, roots)
            });
            let filled = fill(&mut writer).map_err(|e| input_error(e.into()));
            writer.finish_offload();
            let mut changes = writer.changes;
            if let (Some((children, roots)), Some(plan)) = (workers, &plan) {
                let children = children.join().expect("the matching thread does not panic");
                let roots = roots.join().expect("the matching thread does not panic")?;
                offload::merge(&mut changes, children?, roots, plan, index, targets)?;
            }
            filled?;
            Ok(changes)
        })
    }

    /// Places the new records, then guards, checks and encodes the next version.
    fn prepare(self, changes: Changes, live: Option<Vec<Bitset>>) -> Result<Prepared> {
        let offered = changes.offered;
        let collect = self.start.elapsed();
        let t = Instant::now();
        let data = &self.data;
        let placed = place(
            &data.current,
            data.index(),
            data.keys(),
            changes,
            live.as_deref(),
            (self.setup.options.placement, self.setup.options.page_shift),
            self.setup.options.threads,
        )?;
        let place_time = t.elapsed();
        let mut report = CycleReport {
            version: self.previous.unwrap_or_default(),
            previous: self.previous,
            published: false,
            records_offered: offered,
            types: self.type_reports(&placed),
            blobs: Vec::new(),
            timings: Timings {
                collect,
                place: place_time,
                ..Timings::default()
            },
        };
        if let Some(v) = self.previous {
            let schema_moved = self.schema_changed || self.before_change.is_some();
            if placed.is_unchanged() && !schema_moved {
                tracing::info!(version = v.0, "cycle: no change, nothing published");
                report.timings.total = self.start.elapsed();
                return Ok(Prepared::Unchanged(report));
            }
        }
        let version = Version(self.previous.map_or(1, |v| v.0 + 1));
        if self.previous.is_some() {
            self.guard_removals(&placed, version)?;
        }
        let t = Instant::now();
        let (validate_time, Encoded { blobs, snapshot }) =
            self.check_and_encode(&placed, version)?;
        let Placed {
            next,
            removed,
            added,
            added_hashes,
            ..
        } = placed;
        drop(next); // the new records, packed: the snapshot holds them now
        let current = SnapshotView::open(snapshot)?;
        let keys_time = Instant::now();
        self.refuse_duplicate_keys(&current, version)?;
        report.version = version;
        report.published = true;
        report.timings.validate = validate_time + keys_time.elapsed();
        report.timings.encode = t.elapsed();
        let with_snapshot = blobs
            .iter()
            .any(|(n, _)| matches!(n, BlobName::Snapshot(_)));
        Ok(Prepared::Publish(Box::new(Next {
            version,
            current,
            changes: IndexChanges {
                removed,
                added,
                added_hashes,
            },
            blobs,
            with_snapshot,
            start: self.start,
            report,
        })))
    }

    /// Checks the next version and encodes its blobs (deltas first, the snapshot last). With
    /// two threads or more the snapshot is encoded on a second thread while this one checks
    /// the next version (references, validators) and encodes the two deltas: all of them only
    /// read the two versions. A vetoed cycle throws the bytes away. The snapshot is encoded
    /// every cycle, published or not: it is the producer's next current version. Returns the
    /// time the checks took.
    fn check_and_encode(
        &self,
        placed: &Placed<'_>,
        version: Version,
    ) -> Result<(Duration, Encoded)> {
        let first = self.previous.is_none();
        // A compatible schema change publishes a snapshot beside its deltas (format version
        // 2): a consumer too old to read them falls back to it instead of staying behind.
        let publish_snapshot = first
            || self.schema_changed
            || self.before_change.is_some()
            || self.cycles_since_snapshot + 1 >= self.setup.options.snapshot_every;
        let encode_snapshot = || self.encode_snapshot(&placed.next, version);
        let check_then_deltas = || {
            let checked = self.check_next(placed, version, first)?;
            let deltas = self.encode_deltas(placed, version)?;
            Ok::<_, Error>((checked, deltas))
        };
        let (checked, snapshot) = if self.setup.options.threads < 2 {
            let checked = check_then_deltas();
            let snapshot = match checked {
                Ok(_) => encode_snapshot(),
                Err(_) => Ok(Bytes::new()),
            };
            (checked, snapshot)
        } else {
            std::thread::scope(|scope| {
                let snapshot = scope.spawn(encode_snapshot);
                let checked = check_then_deltas();
                let snapshot = snapshot
                    .join()
                    .expect("the snapshot encoder does not panic");
                (checked, snapshot)
            })
        };
        let (checked, mut blobs) = checked?;
        let snapshot = snapshot?;
        if publish_snapshot {
            blobs.push((BlobName::Snapshot(version), snapshot.clone()));
        }
        Ok((checked, Encoded { blobs, snapshot }))
    }

    fn write_options(&self) -> WriteOptions {
        self.setup.options.write_options()
    }

    fn encode_snapshot(&self, next: &Overlay<'_, Current>, version: Version) -> Result<Bytes> {
        // Sized from the current snapshot, or from the added records when they are more (a
        // first cycle): a doubling vector would hold up to three snapshots' worth of memory
        // at the moment it grows.
        let size_hint = self.data.current.data().len().max(next.added_size());
        let mut snapshot = Vec::with_capacity(size_hint + size_hint / 8);
        // Its sections on the cycle's threads: beside the checks of a first cycle they share
        // the cores, and on a later cycle, whose checks are short, they have them.
        let threads = self.setup.options.threads;
        write_snapshot_on(next, version, &self.write_options(), threads, &mut snapshot)?;
        // Held until the next cycle as the current version: no spare capacity (the first
        // snapshot grew by doubling).
        snapshot.shrink_to_fit();
        Ok(Bytes::from(snapshot))
    }

    /// The delta and the reverse delta from the previous version, unless the schema changed
    /// incompatibly. Only the records that changed are read (`write_delta_of`). Across a
    /// compatible schema change they go from and to the previous version in its own schema
    /// (format version 2; see [`reverse_across`](Self::reverse_across)).
    fn encode_deltas(
        &self,
        placed: &Placed<'_>,
        version: Version,
    ) -> Result<Vec<(BlobName, Bytes)>> {
        let (Some(prev), false) = (self.previous, self.schema_changed) else {
            return Ok(Vec::new());
        };
        let (next, opts) = (&placed.next, self.write_options());
        let bitmap = |ordinals: &[Ordinal]| ordinals.iter().map(|o| o.0).collect();
        let forward: Vec<OrdinalChanges> = placed
            .removed
            .iter()
            .zip(&placed.added)
            .map(|(removed, added)| OrdinalChanges {
                removed: bitmap(removed),
                added: bitmap(added),
            })
            .collect();
        let (mut delta, mut reverse) = (Vec::new(), Vec::new());
        match &self.before_change {
            None => {
                let current = &self.data.current;
                write_delta_of(current, next, &forward, prev, version, &opts, &mut delta)?;
                let backward: Vec<OrdinalChanges> = forward.iter().map(swapped).collect();
                write_delta_of(next, current, &backward, version, prev, &opts, &mut reverse)?;
            }
            Some(before) => {
                let before = before.as_ref();
                write_delta_of(before, next, &forward, prev, version, &opts, &mut delta)?;
                let backward = reverse_across(next, before)?;
                write_delta_of(next, before, &backward, version, prev, &opts, &mut reverse)?;
            }
        }
        Ok(vec![
            (BlobName::Delta(prev, version), Bytes::from(delta)),
            (BlobName::Reverse(version, prev), Bytes::from(reverse)),
        ])
    }

    /// Turns the upserts and deletes of an incremental cycle into what a full cycle would
    /// have seen: the records kept, and the pending records that are live. Records nothing
    /// refers to any more are dropped; records that nothing referred to before (the roots)
    /// stay unless deleted or replaced.
    fn resolve_incremental(
        &self,
        changes: &mut Changes,
        ops: Vec<(TypeId, Op)>,
        types: usize,
    ) -> Result<Vec<Bitset>> {
        let current = &self.data.current;
        // The last operation on each key wins.
        let mut last: HashMap<(TypeId, Vec<Value>), Option<Ordinal>> = HashMap::new();
        for (ty, op) in ops {
            let paths = self.data.keys().paths(ty).expect("checked when added");
            match op {
                Op::Delete(key) => {
                    last.insert((ty, key), None);
                }
                Op::Upsert(o) => {
                    let get = WithPending {
                        version: current,
                        pending: &changes.pending,
                    };
                    let key = key_with(&get, ty, o, paths).ok_or_else(|| {
                        Error::Usage(format!(
                            "an upserted `{}` record has no complete primary key",
                            self.setup.schema.types()[ty.index()].name
                        ))
                    })?;
                    last.insert((ty, key), Some(o));
                }
            }
        }
        let mut dropped: Vec<Bitset> = vec![Bitset::default(); types];
        let mut roots: Vec<(TypeId, Ordinal)> = Vec::new();
        for ((ty, key), op) in &last {
            let existing = self.data.keys().find(current, *ty, key);
            match (op, existing) {
                (None, Some(e)) => dropped[ty.index()].insert(e.0),
                (None, None) => {}
                (Some(o), e) => {
                    if let Some(e) = e.filter(|e| e != o) {
                        dropped[ty.index()].insert(e.0);
                    }
                    roots.push((*ty, *o));
                }
            }
        }
        // Records of the current version that nothing refers to are roots too.
        let targets = RefTargets::of(&self.setup.schema);
        let mut referenced: Vec<Bitset> = vec![Bitset::default(); types];
        for (t, target) in targets.iter().enumerate() {
            let ty = TypeId(t as u32);
            for o in VersionSource::populated(current, ty).iter().map(Ordinal) {
                target.for_each_at(current, ty, o, |rt, ro| referenced[rt.index()].insert(ro.0))?;
            }
        }
        for t in 0..types {
            let ty = TypeId(t as u32);
            for o in VersionSource::populated(current, ty).iter().map(Ordinal) {
                if !referenced[t].contains(o.0) && !dropped[t].contains(o.0) {
                    roots.push((ty, o));
                }
            }
        }
        // Mark everything reachable from the roots.
        let mut seen: Vec<Bitset> = vec![Bitset::default(); types];
        let mut live: Vec<Bitset> = vec![Bitset::default(); types];
        let mut stack = roots;
        while let Some((ty, o)) = stack.pop() {
            let t = ty.index();
            if o.0 >= PROVISIONAL {
                let i = o.0 - PROVISIONAL;
                if live[t].contains(i) {
                    continue;
                }
                live[t].insert(i);
                let row = changes.pending[t].row(i).ok_or(Error::Usage(format!(
                    "a record refers to a missing pending {ty} #{i}"
                )))?;
                targets[t].for_each_row(row, |rt, ro| stack.push((rt, ro)));
            } else {
                if seen[t].contains(o.0) {
                    continue;
                }
                seen[t].insert(o.0);
                if !current.contains(ty, o) {
                    return Err(Error::Usage(format!(
                        "a record refers to a missing {ty} #{}",
                        o.0
                    )));
                }
                targets[t].for_each_at(current, ty, o, |rt, ro| stack.push((rt, ro)))?;
            }
        }
        changes.seen = seen;
        Ok(live)
    }

    /// Checks the next version: every reference resolves, no primary key twice (here only
    /// where the snapshot's key index sections cannot tell: see
    /// [`refuse_duplicate_keys`](Self::refuse_duplicate_keys)), and every validator agrees.
    /// Returns the time it took.
    fn check_next(&self, placed: &Placed<'_>, version: Version, first: bool) -> Result<Duration> {
        let t = Instant::now();
        check_references(placed, &self.setup.targets)
            .map_err(|e| Error::Usage(format!("version {} would not be whole: {e}", version.0)))?;
        if !self.sections_show_duplicate_keys() {
            let mut next_keys = self.data.keys().clone();
            let (before, next) = (&self.data.current, &placed.next);
            if let Some(d) = next_keys.update(before, next, &placed.removed, &placed.added) {
                return Err(self.duplicate_keys(version, d, next));
            }
        }
        let view = CycleView {
            version,
            previous: &self.data.current,
            next: &placed.next,
            added: &placed.added,
            removed: &placed.removed,
            first,
        };
        for v in &self.setup.validators {
            if let Err(reason) = v.validate(&view) {
                tracing::warn!(version = version.0, validator = v.name(), %reason, "cycle vetoed");
                return Err(Error::Vetoed {
                    version,
                    validator: v.name().to_string(),
                    reason,
                });
            }
        }
        Ok(t.elapsed())
    }

    /// True when the snapshot has a key index section for every keyed type (the default; not
    /// with key indexes off, nor for a key through a reference). Its entries are in hash
    /// order, so two records with one key are neighbours there: finding them costs one pass
    /// over the section, where building the next version's key index to find them took a
    /// third of the CPU of a first cycle's encoding (10M records).
    fn sections_show_duplicate_keys(&self) -> bool {
        let schema = &self.setup.schema;
        let mut keyed = (0..schema.type_count())
            .map(|t| TypeId(t as u32))
            .filter(|&ty| schema.type_def(ty).is_some_and(|d| d.key().is_some()));
        self.setup.options.key_indexes && keyed.all(|ty| indexed_key(schema, ty).is_some())
    }

    /// Refuses `next` when two records of a keyed type share a key, found among the records
    /// whose keys hash alike in its key index sections (see
    /// [`sections_show_duplicate_keys`](Self::sections_show_duplicate_keys); otherwise
    /// `check_next` did). Of several, the pair whose second record comes first is named.
    fn refuse_duplicate_keys(&self, next: &Current, version: Version) -> Result<()> {
        if !self.sections_show_duplicate_keys() {
            return Ok(());
        }
        let keys = self.data.keys();
        for t in 0..self.setup.schema.type_count() {
            let ty = TypeId(t as u32);
            let (Some(paths), Some(twins)) = (keys.paths(ty), next.key_hash_twins(ty)) else {
                continue;
            };
            let key = |o| key_with(next, ty, o, paths);
            let shared = twins
                .into_iter()
                .filter(|&(a, b)| key(a).is_some_and(|k| Some(k) == key(b)))
                .min_by_key(|&(a, b)| (b, a));
            if let Some((first, second)) = shared {
                let d = Duplicate { ty, first, second };
                return Err(self.duplicate_keys(version, d, next));
            }
        }
        Ok(())
    }

    /// The veto of a version in which two records share a primary key.
    fn duplicate_keys<S: RecordSource + ?Sized>(
        &self,
        version: Version,
        d: Duplicate,
        next: &S,
    ) -> Error {
        let name = &self.setup.schema.types()[d.ty.index()].name;
        let paths = self.data.keys().paths(d.ty).unwrap_or_default();
        let key = key_with(next, d.ty, d.second, paths).unwrap_or_default();
        let reason = format!(
            "two `{name}` records (#{} and #{}) share the primary key {key:?}",
            d.first.0, d.second.0,
        );
        tracing::warn!(version = version.0, %reason, "cycle vetoed");
        Error::Vetoed {
            version,
            validator: "duplicate primary keys".into(),
            reason,
        }
    }

    /// The default guard against a truncated or empty input (see [`RemovalGuard`]).
    fn guard_removals(&self, placed: &Placed<'_>, version: Version) -> Result<()> {
        let changes = (&placed.removed[..], &placed.added[..], &placed.edited[..]);
        let checked = self.setup.options.removal_guard.check(
            version,
            &self.data.current,
            &placed.next,
            changes,
        );
        if let Err(e) = &checked {
            tracing::warn!(version = version.0, error = %e, "cycle refused");
        }
        checked
    }

    fn type_reports(&self, placed: &Placed<'_>) -> Vec<TypeReport> {
        self.setup
            .schema
            .types()
            .iter()
            .enumerate()
            .map(|(t, def)| {
                let changed = placed.edited[t];
                TypeReport {
                    name: def.name.clone(),
                    records: placed.next.len(TypeId(t as u32)),
                    added: placed.added[t].len() as u64 - changed,
                    removed: placed.removed[t].len() as u64 - changed,
                    changed,
                    pages_touched: placed.pages_touched[t],
                }
            })
            .collect()
    }
}

/// One operation of an incremental cycle.
#[derive(Debug)]
pub(crate) enum Op {
    /// Insert or replace the record at this (possibly provisional) ordinal.
    Upsert(Ordinal),
    /// Delete the record with this key.
    Delete(Vec<Value>),
}

/// Every reference of a new record points at a record of the next version. Records that
/// did not change need no check: a full cycle keeps a record only when its references were
/// matched too, and an incremental one keeps what its live records reach (O(changes)). Of
/// the new records, only those placing left a reference of unchecked (`Placed::unchecked`):
/// none in a first cycle.
fn check_references(
    placed: &Placed<'_>,
    targets: &[RefTargets],
) -> std::result::Result<(), String> {
    let next = &placed.next;
    let schema = next.schema();
    // A type's records as a plain bit set, made when first referred to: a probe of the
    // version's bitmap for each of 40M references was half of this check at 10M records.
    let mut records: Vec<Option<Bitset>> = vec![None; targets.len()];
    for (t, target) in targets.iter().enumerate() {
        let ty = TypeId(t as u32);
        for &o in &placed.unchecked[t] {
            let Some(row) = next.added(ty, o) else {
                continue;
            };
            let mut missing = None;
            target.for_each_row(row, |rt, ro| {
                let of_type = records[rt.index()]
                    .get_or_insert_with(|| Bitset::of_sorted(next.populated(rt).iter()));
                if missing.is_none() && !of_type.contains(ro.0) {
                    missing = Some((rt, ro));
                }
            });
            if let Some((rt, ro)) = missing {
                return Err(format!(
                    "`{}` #{} refers to `{}` #{}, which this cycle did not add",
                    schema.types()[t].name,
                    o.0,
                    schema.types()[rt.index()].name,
                    ro.0
                ));
            }
        }
    }
    Ok(())
}

fn input_error(e: BoxError) -> Error {
    match e.downcast::<Error>() {
        Ok(e) => *e,
        Err(e) => Error::Input(e),
    }
}

/// The changes of `c` the other way round.
fn swapped(c: &OrdinalChanges) -> OrdinalChanges {
    OrdinalChanges {
        removed: c.added.clone(),
        added: c.removed.clone(),
    }
}

/// The changes from `next` read in `before`'s schema back to `before`, found by comparing
/// every record (once, on the cycle that changes the schema): the forward changes turned
/// round are not enough, since a field the new schema dropped must get its values back.
fn reverse_across<N: VersionSource + ?Sized>(
    next: &N,
    before: &Current,
) -> Result<Vec<OrdinalChanges>> {
    let next = Projected::new(next, before.schema())?;
    (0..before.schema().type_count())
        .map(|t| Ok(OrdinalChanges::between(&next, before, TypeId(t as u32))?))
        .collect()
}
