//! [`Producer`] and its builder: cycles, publishing, restore and retention.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_format::{
    write_delta, write_snapshot, DataState, DeltaView, Ordinal, Schema, SnapshotView, TypeId,
    TypeKind, Value, Version, WriteOptions,
};
use shoal_store::{announce, read_announced, Announced, BlobName, BlobStore};

use crate::error::{BoxError, Error, Result};
use crate::index::{key_with, Hasher, KeyIndex, RecordIndex};
use crate::lease::{owner_id, Lease};
use crate::offload::{self, Offload, Plan};
use crate::place::{place, Placed, Placement, RefTargets};
use crate::report::{CycleReport, Timings, TypeReport};
use crate::validate::{CycleView, RemovalGuard, Validator};
use crate::writer::{Bitset, Changes, CycleWriter, IncrementalWriter, PROVISIONAL};

/// Configures a [`Producer`].
pub struct ProducerBuilder {
    store: Arc<dyn BlobStore>,
    schema: Option<Arc<Schema>>,
    root: Option<String>,
    snapshot_every: u32,
    keep_versions: usize,
    validators: Vec<Box<dyn Validator>>,
    placement: Placement,
    page_shift: u8,
    lease_ttl: Duration,
    break_lease: bool,
    removal_guard: RemovalGuard,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("store", &self.store.location())
            .field("root", &self.root)
            .field("snapshot_every", &self.snapshot_every)
            .field("keep_versions", &self.keep_versions)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    /// The schema of the dataset (required).
    pub fn schema(mut self, schema: impl Into<Arc<Schema>>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The schema of the serde type `T` (see [`crate::schema_of`]), with `primary_key` as its
    /// key; `T`'s type becomes the root type.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Movie { id: i64, title: String, tags: Vec<String> }
    /// # let store = Arc::new(shoal_store::FsStore::new(tempfile::tempdir()?.path())?);
    /// let builder = shoal_producer::Producer::builder(store).schema_of::<Movie>(&["id"])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn schema_of<T: serde::de::DeserializeOwned>(self, primary_key: &[&str]) -> Result<Self> {
        let (schema, root) = crate::infer::schema_of::<T>(primary_key)?;
        Ok(self.schema(schema).root_type(&root))
    }

    /// The type that [`CycleWriter::add`] and [`IncrementalWriter::upsert`] write. Defaults to
    /// the schema's only object type that no other type refers to.
    pub fn root_type(mut self, name: &str) -> Self {
        self.root = Some(name.to_string());
        self
    }

    /// Publish a snapshot every `n` published versions (and always the first). Default 1:
    /// every version has a snapshot, so a new consumer never replays deltas to start.
    pub fn snapshot_every(mut self, n: u32) -> Self {
        self.snapshot_every = n.max(1);
        self
    }

    /// Keep the blobs of the last `n` versions (default 10, at least 1). Older blobs are
    /// deleted once no kept version needs them: the newest snapshot at or before the oldest
    /// kept version stays, with every delta after it.
    pub fn keep_versions(mut self, n: usize) -> Self {
        self.keep_versions = n.max(1);
        self
    }

    /// Adds a validator; it runs before every announcement and can veto the cycle.
    pub fn validator(mut self, validator: impl Validator + 'static) -> Self {
        self.validators.push(Box::new(validator));
        self
    }

    /// Adds a boxed validator (see [`crate::validator_fn`]).
    pub fn boxed_validator(mut self, validator: Box<dyn Validator>) -> Self {
        self.validators.push(validator);
        self
    }

    /// The largest share of a type's records, in percent, that one cycle may remove; a cycle
    /// that removes more is refused with [`Error::TooManyRemovals`] before anything is
    /// published. Default `Some(10.0)`; `None` lifts the limit. Skipped on the first cycle.
    ///
    /// This guards the fleet against a truncated input (an upstream job that failed half way).
    /// Removals count records of the current version the next one no longer holds, not edits:
    /// for a type with a primary key, a record replaced by one with the same key is an edit;
    /// for a type without one, the net loss is counted. Removing at most 10 records of a type
    /// is always allowed, so small types can change. Applies to incremental cycles too.
    pub fn max_removal(mut self, percent: Option<f64>) -> Self {
        self.removal_guard.max_percent = percent;
        self
    }

    /// Let a cycle remove every record of a type that has some (default `false`: such a cycle
    /// is refused with [`Error::WouldEmpty`], the guard against an empty input file). An
    /// allowed emptying is not held to [`max_removal`](Self::max_removal) either.
    pub fn allow_empty(mut self, yes: bool) -> Self {
        self.removal_guard.allow_empty = yes;
        self
    }

    /// How new records are placed (default [`Placement::FillFreed`]).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Ordinals per column page, as a power of two (default 10: 1024).
    pub fn page_shift(mut self, shift: u8) -> Self {
        self.page_shift = shift;
        self
    }

    /// How long the producer's lease lasts without renewal (default 10 minutes; renewed at
    /// every cycle).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Take the lease even if another producer holds it: for restarting after a crash, when
    /// the operator knows the old process is gone.
    pub fn break_lease(mut self, yes: bool) -> Self {
        self.break_lease = yes;
        self
    }

    /// Takes the store's lease and restores the announced version, if there is one.
    pub async fn build(self) -> Result<Producer> {
        let schema = self
            .schema
            .ok_or_else(|| Error::Usage("ProducerBuilder needs a schema".into()))?;
        let root = match self.root {
            Some(r) => {
                schema
                    .type_id(&r)
                    .ok_or_else(|| Error::Usage(format!("no type `{r}` in the schema")))?;
                Some(r)
            }
            None => only_root(&schema),
        };
        if let Some(pct) = self.removal_guard.max_percent.filter(|p| !(*p >= 0.0)) {
            return Err(Error::Usage(format!(
                "max_removal {pct}: give a percentage of 0 or more, or None for no limit"
            )));
        }
        if !(4..=16).contains(&self.page_shift) {
            return Err(Error::Usage(format!(
                "page shift {} outside 4..=16",
                self.page_shift
            )));
        }
        let store = self.store;
        let lease = Lease::acquire(&*store, owner_id(), self.lease_ttl, self.break_lease).await?;
        let hasher = Hasher::default();
        let empty = DataState::new(schema.clone());
        let targets = RefTargets::of(&schema);
        let mut producer = Producer {
            index: RecordIndex::build(&empty, hasher.clone()),
            keys: KeyIndex::build(&empty, hasher.clone()).0,
            current: empty,
            hasher,
            schema,
            root,
            version: None,
            announced: None,
            schema_changed: false,
            cycles_since_snapshot: 0,
            options: Options {
                snapshot_every: self.snapshot_every,
                keep_versions: self.keep_versions,
                placement: self.placement,
                page_shift: self.page_shift,
                removal_guard: self.removal_guard,
            },
            validators: self.validators,
            lease: Some(lease),
            targets,
            last_snapshot_size: 0,
            uncertain: false,
            store,
        };
        let restored = producer.restore().await;
        if restored.is_err() {
            if let Some(lease) = producer.lease.take() {
                let _ = lease.release(&*producer.store).await;
            }
        }
        restored?;
        Ok(producer)
    }
}

/// The schema's only object type that no type refers to.
fn only_root(schema: &Schema) -> Option<String> {
    let mut referenced = BTreeSet::new();
    for t in RefTargets::of(schema) {
        match t {
            RefTargets::Object(f) => referenced.extend(f.into_iter().flatten()),
            RefTargets::Elements(e) => {
                referenced.insert(e);
            }
            RefTargets::Map(k, v) => {
                referenced.insert(k);
                referenced.insert(v);
            }
        }
    }
    let mut roots = schema.types().iter().enumerate().filter(|(t, def)| {
        matches!(def.kind, TypeKind::Object { .. }) && !referenced.contains(&TypeId(*t as u32))
    });
    let first = roots.next()?;
    roots.next().is_none().then(|| first.1.name.clone())
}

#[derive(Debug, Clone)]
struct Options {
    snapshot_every: u32,
    keep_versions: usize,
    placement: Placement,
    page_shift: u8,
    removal_guard: RemovalGuard,
}

/// Publishes versions of one dataset to one store prefix: the only writer there.
///
/// A cycle takes the new dataset, matches it against the current version (unchanged records
/// keep their ordinals), places new records, validates, writes the delta, the reverse delta
/// and (by cadence) a snapshot, and announces the new version last. On any error nothing is
/// announced and the producer stays on its current version.
///
/// The producer is a batch job: cycles run their CPU work (matching, encoding) on the calling
/// task.
pub struct Producer {
    store: Arc<dyn BlobStore>,
    schema: Arc<Schema>,
    root: Option<String>,
    current: DataState,
    index: RecordIndex,
    keys: KeyIndex,
    hasher: Hasher,
    version: Option<Version>,
    announced: Option<Announced>,
    /// The restored version has another schema: the next cycle starts over with a snapshot.
    schema_changed: bool,
    cycles_since_snapshot: u32,
    options: Options,
    validators: Vec<Box<dyn Validator>>,
    lease: Option<Lease>,
    targets: Vec<RefTargets>,
    /// The size of the last snapshot written or read, to size the next one's buffer.
    last_snapshot_size: u64,
    /// The last announcement's outcome is unknown: settle before the next cycle.
    uncertain: bool,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("store", &self.store.location())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// A builder publishing to `store`.
    pub fn builder(store: Arc<dyn BlobStore>) -> ProducerBuilder {
        ProducerBuilder {
            store,
            schema: None,
            root: None,
            snapshot_every: 1,
            keep_versions: 10,
            validators: Vec::new(),
            placement: Placement::default(),
            page_shift: shoal_format::DEFAULT_PAGE_SHIFT,
            lease_ttl: Duration::from_secs(600),
            break_lease: false,
            removal_guard: RemovalGuard::default(),
        }
    }

    /// The version the producer is on (the last announced), `None` before the first cycle.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The dataset at [`version`](Self::version).
    pub fn state(&self) -> &DataState {
        &self.current
    }

    /// The schema cycles write.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// A full cycle: `fill` adds the **whole** new dataset; records it does not add are
    /// removed. Publishes nothing (and returns the current version) when nothing changed.
    pub async fn run_cycle<F, E>(&mut self, fill: F) -> Result<CycleReport>
    where
        F: FnOnce(&mut CycleWriter<'_>) -> std::result::Result<(), E>,
        E: Into<BoxError>,
    {
        self.settle().await?;
        let start = Instant::now();
        let plan = self
            .root
            .as_deref()
            .and_then(|r| self.schema.type_id(r))
            .and_then(|root| Plan::new(&self.schema, &self.targets, root));
        let changes = std::thread::scope(|scope| -> Result<Changes> {
            let mut writer = self.writer();
            let workers = plan.as_ref().map(|plan| {
                let (tx, rx) = std::sync::mpsc::sync_channel(8);
                let (roots_tx, roots_rx) = std::sync::mpsc::sync_channel(8);
                writer.offload = Some(Offload::new(plan.clone(), tx));
                let (current, index, targets) = (&self.current, &self.index, &self.targets);
                let types = targets.len();
                let children = scope.spawn(move || {
                    offload::run_children(plan, current, index, targets, rx, roots_tx)
                });
                let roots =
                    scope.spawn(move || offload::run_roots(plan, current, index, types, roots_rx));
                (children, roots)
            });
            let filled = fill(&mut writer).map_err(|e| input_error(e.into()));
            writer.finish_offload();
            let mut changes = writer.changes;
            if let (Some((children, roots)), Some(plan)) = (workers, &plan) {
                let children = children.join().expect("the matching thread does not panic");
                let roots = roots.join().expect("the matching thread does not panic")?;
                offload::merge(
                    &mut changes,
                    children?,
                    roots,
                    plan,
                    &self.index,
                    &self.targets,
                );
            }
            filled?;
            Ok(changes)
        })?;
        let offered = changes.offered;
        let collect = start.elapsed();
        self.finish_cycle(changes, None, offered, start, collect)
            .await
    }

    /// An incremental cycle: `fill` upserts and deletes records by primary key; everything
    /// else stays. Publishes the same blobs a full cycle with the resulting dataset would.
    pub async fn run_incremental<F, E>(&mut self, fill: F) -> Result<CycleReport>
    where
        F: FnOnce(&mut IncrementalWriter<'_>) -> std::result::Result<(), E>,
        E: Into<BoxError>,
    {
        self.settle().await?;
        if self.schema_changed {
            return Err(Error::Usage(
                "the store holds another schema: run a full cycle before incremental ones".into(),
            ));
        }
        let start = Instant::now();
        let types = self.schema.type_count();
        let mut writer = IncrementalWriter {
            inner: self.writer(),
            keys: &self.keys,
            ops: Vec::new(),
        };
        fill(&mut writer).map_err(|e| input_error(e.into()))?;
        let IncrementalWriter { inner, ops, .. } = writer;
        let offered = inner.changes.offered;
        let mut changes = inner.changes;
        let live = self.resolve_incremental(&mut changes, ops, types)?;
        let collect = start.elapsed();
        self.finish_cycle(changes, Some(live), offered, start, collect)
            .await
    }

    fn writer(&self) -> CycleWriter<'_> {
        CycleWriter {
            schema: &self.schema,
            current: &self.current,
            index: &self.index,
            root: self.root.as_deref(),
            changes: Changes::new(self.schema.type_count()),
            offload: None,
        }
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
        let current = &self.current;
        // The last operation on each key wins.
        let mut last: HashMap<(TypeId, Vec<Value>), Option<Ordinal>> = HashMap::new();
        for (ty, op) in ops {
            let paths = self.keys.paths(ty).expect("checked when added");
            match op {
                Op::Delete(key) => {
                    last.insert((ty, key), None);
                }
                Op::Upsert(o) => {
                    let get = |t: TypeId, o: Ordinal| {
                        if o.0 >= PROVISIONAL {
                            changes.pending[t.index()].get((o.0 - PROVISIONAL) as usize)
                        } else {
                            current.get(t, o)
                        }
                    };
                    let key = key_with(&get, ty, o, paths).ok_or_else(|| {
                        Error::Usage(format!(
                            "an upserted `{}` record has no complete primary key",
                            self.schema.types()[ty.index()].name
                        ))
                    })?;
                    last.insert((ty, key), Some(o));
                }
            }
        }
        let mut dropped: Vec<Bitset> = vec![Bitset::default(); types];
        let mut roots: Vec<(TypeId, Ordinal)> = Vec::new();
        for ((ty, key), op) in &last {
            let existing = self.keys.find(current, *ty, key);
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
        let targets = RefTargets::of(&self.schema);
        let mut referenced: Vec<Bitset> = vec![Bitset::default(); types];
        for (t, target) in targets.iter().enumerate() {
            for (_, r) in current.records(TypeId(t as u32)) {
                target.for_each(r, |rt, ro| referenced[rt.index()].insert(ro.0));
            }
        }
        for t in 0..types {
            let ty = TypeId(t as u32);
            for (o, _) in current.records(ty) {
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
            let record = if o.0 >= PROVISIONAL {
                let i = o.0 - PROVISIONAL;
                if live[t].contains(i) {
                    continue;
                }
                live[t].insert(i);
                &changes.pending[t][i as usize]
            } else {
                if seen[t].contains(o.0) {
                    continue;
                }
                seen[t].insert(o.0);
                current.get(ty, o).ok_or_else(|| {
                    Error::Usage(format!("a record refers to a missing {ty} #{}", o.0))
                })?
            };
            targets[t].for_each(record, |rt, ro| stack.push((rt, ro)));
        }
        changes.seen = seen;
        Ok(live)
    }

    async fn finish_cycle(
        &mut self,
        changes: Changes,
        live: Option<Vec<Bitset>>,
        offered: u64,
        start: Instant,
        collect: Duration,
    ) -> Result<CycleReport> {
        let t = Instant::now();
        let placed = place(
            &self.current,
            &self.index,
            &self.keys,
            changes,
            live.as_deref(),
            self.options.placement,
            self.options.page_shift,
        )?;
        let place_time = t.elapsed();
        let previous = self.version;
        if let Some(v) = previous {
            if placed.is_unchanged() && !self.schema_changed {
                tracing::info!(version = v.0, "cycle: no change, nothing published");
                return Ok(CycleReport {
                    version: v,
                    previous,
                    published: false,
                    records_offered: offered,
                    types: self.type_reports(&placed),
                    blobs: Vec::new(),
                    timings: Timings {
                        collect,
                        place: place_time,
                        total: start.elapsed(),
                        ..Timings::default()
                    },
                });
            }
        }
        let version = Version(previous.map_or(1, |v| v.0 + 1));
        let first = previous.is_none();
        if !first {
            self.guard_removals(&placed, version)?;
        }
        let opts = WriteOptions {
            page_shift: self.options.page_shift,
        };
        let with_deltas = previous.is_some() && !self.schema_changed;
        let with_snapshot = first
            || self.schema_changed
            || self.cycles_since_snapshot + 1 >= self.options.snapshot_every;

        // The snapshot is encoded on a second thread while this one checks the next version
        // (references, the indexes it needs, validators) and encodes the two deltas: all of
        // them only read the two versions. A vetoed cycle throws the encoded bytes away.
        let t = Instant::now();
        let (current, next) = (&self.current, &placed.next);
        let size_hint = self.last_snapshot_size as usize;
        let encode_snapshot = || -> Result<Option<(BlobName, Bytes)>> {
            if !with_snapshot {
                return Ok(None);
            }
            // Sized from the last snapshot: a doubling vector would hold up to three
            // snapshots' worth of memory at the moment it grows.
            let mut snapshot = Vec::with_capacity(size_hint + size_hint / 8);
            write_snapshot(next, version, &opts, &mut snapshot)?;
            Ok(Some((BlobName::Snapshot(version), Bytes::from(snapshot))))
        };
        let encode_deltas = || -> Result<Vec<(BlobName, Bytes)>> {
            let mut out = Vec::new();
            if let (true, Some(prev)) = (with_deltas, previous) {
                let mut delta = Vec::new();
                write_delta(current, next, prev, version, &opts, &mut delta)?;
                out.push((BlobName::Delta(prev, version), Bytes::from(delta)));
                let mut reverse = Vec::new();
                write_delta(next, current, version, prev, &opts, &mut reverse)?;
                out.push((BlobName::Reverse(version, prev), Bytes::from(reverse)));
            }
            Ok(out)
        };
        let (checked, deltas, snapshot) = std::thread::scope(|scope| {
            let snapshot = scope.spawn(encode_snapshot);
            let checked = self.check_next(&placed, version, first);
            let deltas = match &checked {
                Ok(_) => encode_deltas(),
                Err(_) => Ok(Vec::new()),
            };
            let snapshot = snapshot
                .join()
                .expect("the snapshot encoder does not panic");
            (checked, deltas, snapshot)
        });
        let (next_index, next_keys, validate_time) = checked?;
        let mut blobs = deltas?;
        if let Some((name, bytes)) = snapshot? {
            self.last_snapshot_size = bytes.len() as u64;
            blobs.push((name, bytes));
        }
        let encode_time = t.elapsed();

        // Publish: blobs first, lease renewed, the announcement last.
        let t = Instant::now();
        // The blobs go up together (their writes and fsyncs overlap); all must succeed.
        let mut puts = tokio::task::JoinSet::new();
        for (i, (name, blob)) in blobs.iter().enumerate() {
            let (store, key, blob) = (self.store.clone(), name.key(), blob.clone());
            puts.spawn(async move { (i, store.put(&key, blob).await) });
        }
        let mut written = vec![(String::new(), 0); blobs.len()];
        while let Some(done) = puts.join_next().await {
            let (i, info) = done.map_err(|e| Error::Usage(format!("a blob upload failed: {e}")))?;
            let info = info?;
            tracing::debug!(blob = %info.key, bytes = info.size, "blob written");
            written[i] = (info.key, info.size);
        }
        if let Some(lease) = &mut self.lease {
            lease.renew(&*self.store).await?;
        }
        let announced = match announce(&*self.store, version, self.announced.as_ref()).await {
            Ok(a) => a,
            Err(e) => {
                // Did the announcement land anyway (its answer lost, a retry refused)? Read
                // it back: this version announced means success. If it cannot be read, the
                // outcome is unknown: the next cycle restores from the store first rather
                // than rewrite blobs of a version consumers may already follow.
                match read_announced(&*self.store).await {
                    Ok(Some(a)) if a.version == version => {
                        tracing::warn!(version = version.0, error = %e, "announcement landed though its answer was lost");
                        a
                    }
                    Ok(found) if e.is_precondition_failed() => {
                        self.uncertain = true;
                        return Err(Error::Raced {
                            location: self.store.location(),
                            expected: previous,
                            found: found.map(|a| a.version),
                        });
                    }
                    _ => {
                        self.uncertain = true;
                        return Err(e.into());
                    }
                }
            }
        };
        let publish_time = t.elapsed();

        // Committed: move to the new version.
        let report_types = self.type_reports(&placed);
        self.index = next_index;
        self.keys = next_keys;
        self.current = placed.next;
        self.version = Some(version);
        self.announced = Some(announced);
        self.schema_changed = false;
        self.cycles_since_snapshot = if with_snapshot {
            0
        } else {
            self.cycles_since_snapshot + 1
        };
        if let Err(e) = self.clean_up().await {
            tracing::warn!(error = %e, "could not delete old blobs; will retry next cycle");
        }
        let report = CycleReport {
            version,
            previous,
            published: true,
            records_offered: offered,
            types: report_types,
            blobs: written,
            timings: Timings {
                collect,
                place: place_time,
                validate: validate_time,
                encode: encode_time,
                publish: publish_time,
                total: start.elapsed(),
            },
        };
        tracing::info!(
            version = version.0,
            bytes = report.bytes_written(),
            ms = report.timings.total.as_millis() as u64,
            "cycle published"
        );
        Ok(report)
    }

    /// Checks the next version: every reference resolves, no primary key twice (while
    /// building the indexes the next version needs), and every validator agrees. Returns
    /// the indexes and the time it took.
    fn check_next(
        &self,
        placed: &Placed,
        version: Version,
        first: bool,
    ) -> Result<(RecordIndex, KeyIndex, Duration)> {
        let t = Instant::now();
        check_references(&placed.next, &self.targets)
            .map_err(|e| Error::Usage(format!("version {} would not be whole: {e}", version.0)))?;
        let mut next_index = self.index.clone();
        next_index.update(
            &self.current,
            &placed.next,
            &placed.removed,
            &placed.added,
            &placed.added_hashes,
        );
        let mut next_keys = self.keys.clone();
        if let Some(d) =
            next_keys.update(&self.current, &placed.next, &placed.removed, &placed.added)
        {
            let name = &self.schema.types()[d.ty.index()].name;
            let key = crate::index::key_with(
                &|t, o| placed.next.get(t, o),
                d.ty,
                d.second,
                next_keys.paths(d.ty).unwrap_or_default(),
            );
            let reason = format!(
                "two `{name}` records (#{} and #{}) share the primary key {:?}",
                d.first.0,
                d.second.0,
                key.unwrap_or_default()
            );
            tracing::warn!(version = version.0, %reason, "cycle vetoed");
            return Err(Error::Vetoed {
                version,
                validator: "duplicate primary keys".into(),
                reason,
            });
        }
        let view = CycleView {
            version,
            previous: &self.current,
            next: &placed.next,
            added: &placed.added,
            removed: &placed.removed,
            first,
        };
        for v in &self.validators {
            if let Err(reason) = v.validate(&view) {
                tracing::warn!(version = version.0, validator = v.name(), %reason, "cycle vetoed");
                return Err(Error::Vetoed {
                    version,
                    validator: v.name().to_string(),
                    reason,
                });
            }
        }
        Ok((next_index, next_keys, t.elapsed()))
    }

    /// The default guard against a truncated or empty input (see [`RemovalGuard`]).
    fn guard_removals(&self, placed: &Placed, version: Version) -> Result<()> {
        let changes = (&placed.removed[..], &placed.added[..], &placed.edited[..]);
        let checked =
            self.options
                .removal_guard
                .check(version, &self.current, &placed.next, changes);
        if let Err(e) = &checked {
            tracing::warn!(version = version.0, error = %e, "cycle refused");
        }
        checked
    }

    fn type_reports(&self, placed: &Placed) -> Vec<TypeReport> {
        self.schema
            .types()
            .iter()
            .enumerate()
            .map(|(t, def)| {
                let changed = placed.edited[t];
                TypeReport {
                    name: def.name.clone(),
                    records: placed.next.len(TypeId(t as u32)) as u64,
                    added: placed.added[t].len() as u64 - changed,
                    removed: placed.removed[t].len() as u64 - changed,
                    changed,
                    pages_touched: placed.pages_touched[t],
                }
            })
            .collect()
    }

    /// After an announcement whose outcome is unknown, starts over from what the store
    /// announces (restore), so no blob of an announced version is ever written again.
    async fn settle(&mut self) -> Result<()> {
        if !self.uncertain {
            return Ok(());
        }
        let announced = read_announced(&*self.store).await?;
        if announced.as_ref().map(|a| a.version) != self.version
            || announced.as_ref().map(|a| &a.tag) != self.announced.as_ref().map(|a| &a.tag)
        {
            tracing::warn!(store = %self.store.location(), "restoring the announced version after an uncertain announcement");
            self.restore().await?;
        }
        self.uncertain = false;
        Ok(())
    }

    /// Rebuilds the announced version from the store: the newest snapshot at or before it,
    /// then deltas forward.
    async fn restore(&mut self) -> Result<()> {
        let Some(announced) = read_announced(&*self.store).await? else {
            return Ok(());
        };
        let target = announced.version;
        let fail = |reason: String| Error::Restore {
            location: self.store.location(),
            version: target,
            reason,
        };
        let names = self.blob_names().await?;
        let (state, cycles_since_snapshot) = restore_path(&names, target)
            .ok_or_else(|| fail("no snapshot with a chain of deltas leads to it".into()))?;
        let mut bytes = self.store.get(&BlobName::Snapshot(state).key()).await?;
        self.last_snapshot_size = bytes.len() as u64;
        let view = SnapshotView::open(bytes.clone()).map_err(|e| fail(e.to_string()))?;
        view.verify().map_err(|e| fail(e.to_string()))?;
        let mut data = view.to_state().map_err(|e| fail(e.to_string()))?;
        let mut at = state;
        while at != target {
            let next = names
                .iter()
                .filter_map(|n| match n {
                    BlobName::Delta(a, b) if *a == at && *b <= target => Some(*b),
                    _ => None,
                })
                .max()
                .ok_or_else(|| fail(format!("no delta from version {}", at.0)))?;
            bytes = self.store.get(&BlobName::Delta(at, next).key()).await?;
            let delta = DeltaView::open(bytes.clone()).map_err(|e| fail(e.to_string()))?;
            delta.verify().map_err(|e| fail(e.to_string()))?;
            data = delta.apply(&data).map_err(|e| fail(e.to_string()))?;
            at = next;
        }
        if **data.schema() == *self.schema {
            self.index = RecordIndex::build(&data, self.hasher.clone());
            let (keys, duplicate) = KeyIndex::build(&data, self.hasher.clone());
            if let Some(d) = duplicate {
                tracing::warn!(?d, "the restored version holds a duplicate primary key");
            }
            self.keys = keys;
            self.current = data;
        } else {
            tracing::warn!(
                version = target.0,
                "the store holds another schema; the next cycle publishes a snapshot"
            );
            self.schema_changed = true;
            self.current = DataState::new(self.schema.clone());
            self.index = RecordIndex::build(&self.current, self.hasher.clone());
            self.keys = KeyIndex::build(&self.current, self.hasher.clone()).0;
        }
        self.version = Some(target);
        self.announced = Some(announced);
        self.cycles_since_snapshot = cycles_since_snapshot;
        tracing::info!(version = target.0, records = self.current_len(), "restored");
        Ok(())
    }

    fn current_len(&self) -> usize {
        (0..self.schema.type_count())
            .map(|t| self.current.len(TypeId(t as u32)))
            .sum()
    }

    async fn blob_names(&self) -> Result<Vec<BlobName>> {
        Ok(self
            .store
            .list("")
            .await?
            .into_iter()
            .filter_map(|i| i.key.parse::<BlobName>().ok())
            .collect())
    }

    /// Deletes blobs no kept version needs.
    async fn clean_up(&self) -> Result<()> {
        let Some(version) = self.version else {
            return Ok(());
        };
        let names = self.blob_names().await?;
        let mut oldest_kept = Version(
            version
                .0
                .saturating_sub(self.options.keep_versions as u64 - 1),
        );
        // Never delete what the store's own announcement needs (it may lag behind this
        // producer's version if an announcement write was lost).
        if let Some(a) = read_announced(&*self.store).await? {
            oldest_kept = oldest_kept.min(a.version);
        }
        // The newest snapshot at or before the oldest kept version anchors the window.
        let Some(anchor) = names
            .iter()
            .filter_map(|n| match n {
                BlobName::Snapshot(v) if *v <= oldest_kept => Some(*v),
                _ => None,
            })
            .max()
        else {
            return Ok(());
        };
        for name in names {
            let old = match name {
                BlobName::Snapshot(v) => v < anchor,
                BlobName::Delta(_, b) => b <= anchor,
                BlobName::Reverse(a, _) => a <= anchor,
            };
            if old {
                self.store.delete(&name.key()).await?;
                tracing::debug!(blob = %name, "deleted");
            }
        }
        Ok(())
    }

    /// Gives up the store's lease so another producer can start at once.
    pub async fn close(mut self) -> Result<()> {
        if let Some(lease) = self.lease.take() {
            lease.release(&*self.store).await?;
        }
        Ok(())
    }
}

/// The snapshot to restore `target` from (newest at or before it with deltas all the way),
/// and how many deltas lie between.
fn restore_path(names: &[BlobName], target: Version) -> Option<(Version, u32)> {
    let mut snapshots: Vec<Version> = names
        .iter()
        .filter_map(|n| match n {
            BlobName::Snapshot(v) if *v <= target => Some(*v),
            _ => None,
        })
        .collect();
    snapshots.sort_unstable_by(|a, b| b.cmp(a));
    let deltas: BTreeSet<(Version, Version)> = names
        .iter()
        .filter_map(|n| match n {
            BlobName::Delta(a, b) => Some((*a, *b)),
            _ => None,
        })
        .collect();
    'outer: for s in snapshots {
        let (mut at, mut steps) = (s, 0);
        while at != target {
            match deltas
                .iter()
                .filter(|(a, b)| *a == at && *b <= target)
                .map(|(_, b)| *b)
                .max()
            {
                Some(b) => {
                    at = b;
                    steps += 1;
                }
                None => continue 'outer,
            }
        }
        return Some((s, steps));
    }
    None
}

/// One operation of an incremental cycle.
#[derive(Debug)]
pub(crate) enum Op {
    /// Insert or replace the record at this (possibly provisional) ordinal.
    Upsert(Ordinal),
    /// Delete the record with this key.
    Delete(Vec<Value>),
}

/// Every reference of `state` points at a record (O(references), no allocation).
fn check_references(state: &DataState, targets: &[RefTargets]) -> std::result::Result<(), String> {
    let schema = state.schema();
    for (t, target) in targets.iter().enumerate() {
        let ty = TypeId(t as u32);
        for (o, record) in state.records(ty) {
            let mut missing = None;
            target.for_each(record, |rt, ro| {
                if missing.is_none() && state.get(rt, ro).is_none() {
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
