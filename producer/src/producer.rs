//! [`Producer`] and its builder: cycles, publishing, restore and retention.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_format::{
    write_snapshot, DataState, DeltaView, PagedVersion, Projected, Schema, SnapshotView, TypeId,
    TypeKind, Version, VersionSource, WriteOptions,
};
use shoal_store::{announce_with, packing, read_announced, Announced, BlobName, BlobStore};

use crate::cycle::{Cycle, Next, Options, Prepared, Setup};
use crate::data::{Current, Data};
use crate::error::{BoxError, Error, Result};
use crate::index::Hasher;
use crate::lease::{owner_id, Lease};
use crate::place::{Placement, RefTargets};
use crate::report::CycleReport;
use crate::validate::{RemovalGuard, Validator};
use crate::writer::{CycleWriter, IncrementalWriter};

/// How many versions back the announcement's manifest names deltas (see
/// `Producer::manifest`): a consumer that many versions behind needs no LIST.
const MANIFEST_VERSIONS: u64 = 8;

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
    key_indexes: bool,
    dictionary: bool,
    lease_ttl: Duration,
    break_lease: bool,
    removal_guard: RemovalGuard,
    threads: Option<usize>,
    pack_level: Option<i32>,
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

    /// Whether snapshots carry a key index section for each type keyed by its own fields
    /// (default on): consumers then start without building the primary-key index, at about
    /// 10 bytes per record of snapshot (see `docs/FORMAT.md`, "Key index sections").
    pub fn key_indexes(mut self, on: bool) -> Self {
        self.key_indexes = on;
        self
    }

    /// Whether string and bytes pages whose values repeat are stored as codes into their
    /// distinct values when that is smaller (default on). Such blobs are format version 3:
    /// turn it off while consumers from before it still follow the store (they refuse
    /// version 3 blobs and keep serving the version they have).
    pub fn dictionary(mut self, on: bool) -> Self {
        self.dictionary = on;
        self
    }

    /// How long the producer's lease lasts without renewal (default 10 minutes; renewed at
    /// every cycle).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Threads a cycle may keep busy (default: `std::thread::available_parallelism()`). With
    /// 1, a cycle matches and encodes on its one blocking thread; with 2 or more, it matches
    /// in a pipeline of three threads and encodes the snapshot beside the deltas.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// The zstd level blobs are packed at before they are put (default
    /// [`shoal_store::packing::DEFAULT_LEVEL`]); `None` stores them plain. A blob that does not
    /// shrink is stored plain either way; readers tell the two apart by the blob's first bytes.
    pub fn pack_level(mut self, level: Option<i32>) -> Self {
        self.pack_level = level;
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
        if let Some(pct) = self
            .removal_guard
            .max_percent
            .filter(|p| p.is_nan() || *p < 0.0)
        {
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
        let data = Data::empty(&schema, &hasher)?;
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let setup = Setup {
            targets: RefTargets::of(&schema),
            hasher,
            schema,
            root,
            options: Options {
                snapshot_every: self.snapshot_every,
                keep_versions: self.keep_versions,
                placement: self.placement,
                page_shift: self.page_shift,
                key_indexes: self.key_indexes,
                dictionary: self.dictionary,
                removal_guard: self.removal_guard,
                threads,
                pack_level: self.pack_level,
            },
            validators: self.validators,
        };
        let mut producer = Producer {
            setup: Arc::new(setup),
            data: Arc::new(data),
            version: None,
            announced: None,
            schema_changed: false,
            before_change: None,
            cycles_since_snapshot: 0,
            lease: Some(lease),
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

/// Publishes versions of one dataset to one store prefix: the only writer there.
///
/// A cycle takes the new dataset, matches it against the current version (unchanged records
/// keep their ordinals), places new records, validates, writes the delta, the reverse delta
/// and (by cadence) a snapshot, and announces the new version last. On any error nothing is
/// announced and the producer stays on its current version.
///
/// A cycle's CPU work (the caller's closure, matching, placing, checking, encoding) and a
/// restore's (decoding, verifying, applying deltas, building indexes) run on tokio's blocking
/// threads (`spawn_blocking`); only store I/O runs on the caller's executor, so a service
/// that embeds the producer keeps serving during a cycle, even on a current-thread runtime.
/// The producer moves to the new version only once it is announced: a cycle that fails,
/// panics or is dropped leaves it on the version it was on.
pub struct Producer {
    store: Arc<dyn BlobStore>,
    /// Settings fixed at build, shared with the blocking thread of each cycle.
    setup: Arc<Setup>,
    /// The current version and its indexes, shared with the blocking thread of a cycle.
    data: Arc<Data>,
    version: Option<Version>,
    announced: Option<Announced>,
    /// The restored version has a schema this one cannot read in place (a field changed
    /// kind, a key changed): the next cycle starts over with a snapshot.
    schema_changed: bool,
    /// The restored version in its own schema, when the producer's schema is a compatible
    /// change of it (`data` holds it read in the new schema): the next cycle's deltas go from
    /// it, in format version 2, so consumers move across the change without a snapshot.
    before_change: Option<Arc<Current>>,
    cycles_since_snapshot: u32,
    lease: Option<Lease>,
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
            key_indexes: true,
            dictionary: true,
            lease_ttl: Duration::from_secs(600),
            break_lease: false,
            removal_guard: RemovalGuard::default(),
            threads: None,
            pack_level: Some(shoal_store::packing::DEFAULT_LEVEL),
        }
    }

    /// The version the producer is on (the last announced), `None` before the first cycle.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The dataset at [`version`](Self::version), read in place from the producer's own
    /// snapshot of it (what the producer holds between cycles).
    pub fn current(&self) -> &SnapshotView<Bytes> {
        &self.data.current
    }

    /// The dataset at [`version`](Self::version), decoded into memory: a copy that costs
    /// O(records), for tests and tools.
    pub fn state(&self) -> Result<DataState> {
        Ok(self.data.current.to_state()?)
    }

    /// The schema cycles write.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.setup.schema
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// A full cycle: `fill` adds the **whole** new dataset; records it does not add are
    /// removed. Publishes nothing (and returns the current version) when nothing changed.
    ///
    /// `fill` runs on a blocking thread (so it is `Send + 'static`: move into it what it
    /// reads), with the rest of the cycle's CPU work.
    pub async fn run_cycle<F, E>(&mut self, fill: F) -> Result<CycleReport>
    where
        F: FnOnce(&mut CycleWriter<'_>) -> std::result::Result<(), E> + Send + 'static,
        E: Into<BoxError>,
    {
        self.settle().await?;
        let cycle = self.cycle();
        let prepared = off_runtime("the cycle", move || cycle.full(fill)).await?;
        self.publish(prepared).await
    }

    /// An incremental cycle: `fill` upserts and deletes records by primary key; everything
    /// else stays. Publishes the same blobs a full cycle with the resulting dataset would.
    /// `fill` runs on a blocking thread, as in [`run_cycle`](Self::run_cycle).
    pub async fn run_incremental<F, E>(&mut self, fill: F) -> Result<CycleReport>
    where
        F: FnOnce(&mut IncrementalWriter<'_>) -> std::result::Result<(), E> + Send + 'static,
        E: Into<BoxError>,
    {
        self.settle().await?;
        if self.schema_changed {
            return Err(Error::Usage(
                "the store holds another schema: run a full cycle before incremental ones".into(),
            ));
        }
        let cycle = self.cycle();
        let prepared =
            off_runtime("the incremental cycle", move || cycle.incremental(fill)).await?;
        self.publish(prepared).await
    }

    /// What a cycle's blocking thread needs, shared with this producer.
    fn cycle(&self) -> Cycle {
        Cycle {
            setup: self.setup.clone(),
            data: self.data.clone(),
            previous: self.version,
            schema_changed: self.schema_changed,
            before_change: self.before_change.clone(),
            cycles_since_snapshot: self.cycles_since_snapshot,
            start: Instant::now(),
        }
    }

    /// Writes the blobs of a prepared version, announces it last, and moves to it.
    async fn publish(&mut self, prepared: Prepared) -> Result<CycleReport> {
        let next = match prepared {
            Prepared::Unchanged(report) => return Ok(report),
            Prepared::Publish(next) => *next,
        };
        let (version, previous, start) = (next.version, self.version, next.start);
        let t = Instant::now();
        let written = self.put_blobs(&next.blobs).await?;
        let announced = self.announce_next(version, previous, &written).await?;
        let publish_time = t.elapsed();
        let mut report = self.commit(next, announced);
        if let Err(e) = self.clean_up().await {
            tracing::warn!(error = %e, "could not delete old blobs; will retry next cycle");
        }
        report.blobs = written.iter().map(|(n, size)| (n.key(), *size)).collect();
        report.timings.publish = publish_time;
        report.timings.total = start.elapsed();
        tracing::info!(
            version = version.0,
            bytes = report.bytes_written(),
            ms = report.timings.total.as_millis() as u64,
            "cycle published"
        );
        Ok(report)
    }

    /// The blobs are packed (on blocking threads) and go up together (their writes and fsyncs
    /// overlap); all must succeed. Returns each blob's stored size.
    async fn put_blobs(&self, blobs: &[(BlobName, Bytes)]) -> Result<Vec<(BlobName, u64)>> {
        let mut puts = tokio::task::JoinSet::new();
        let (level, threads) = (self.setup.options.pack_level, self.setup.options.threads);
        for (i, (name, blob)) in blobs.iter().enumerate() {
            let (store, key, blob) = (self.store.clone(), name.key(), blob.clone());
            puts.spawn(async move {
                let stored = match level {
                    Some(level) => {
                        let pack = move || Ok(packing::pack(blob, level, threads)?);
                        off_runtime("packing a blob", pack).await?
                    }
                    None => blob,
                };
                Ok::<_, Error>((i, store.put(&key, stored).await?))
            });
        }
        let mut written = blobs.iter().map(|(n, _)| (*n, 0)).collect::<Vec<_>>();
        while let Some(done) = puts.join_next().await {
            let (i, info) = done.map_err(|source| Error::Interrupted {
                what: "a blob upload",
                source,
            })??;
            tracing::debug!(blob = %info.key, bytes = info.size, "blob written");
            written[i].1 = info.size;
        }
        Ok(written)
    }

    /// The manifest of the announcement of `version`: the blobs written for it, and the
    /// deltas and reverse deltas of the versions before it that the last announcement named,
    /// back [`MANIFEST_VERSIONS`] versions (never further than retention keeps). A consumer
    /// up to that many versions behind, or pinned that far back, needs no LIST.
    fn manifest(&self, version: Version, written: &[(BlobName, u64)]) -> Vec<(BlobName, u64)> {
        let reach = MANIFEST_VERSIONS.min(self.setup.options.keep_versions as u64 - 1);
        let oldest = version.0.saturating_sub(reach);
        let mut manifest = written.to_vec();
        let earlier = self
            .announced
            .iter()
            .flat_map(|a| &a.blobs)
            .filter(|(name, _)| {
                let first = name
                    .from_version()
                    .unwrap_or(name.to_version())
                    .min(name.to_version());
                !matches!(name, BlobName::Snapshot(_)) && first.0 >= oldest
            });
        manifest.extend(earlier);
        manifest
    }

    /// Renews the lease and announces `version` with its manifest, always last.
    async fn announce_next(
        &mut self,
        version: Version,
        previous: Option<Version>,
        written: &[(BlobName, u64)],
    ) -> Result<Announced> {
        // Until the outcome is known: a cycle dropped while announcing settles first.
        self.uncertain = true;
        if let Some(lease) = &mut self.lease {
            lease.renew(&*self.store).await?;
        }
        let manifest = self.manifest(version, written);
        let announcement = announce_with(&*self.store, version, &manifest, self.announced.as_ref());
        let announced = match announcement.await {
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
        self.uncertain = false;
        Ok(announced)
    }

    /// Committed: moves to the announced version. Returns its report, but for the blobs
    /// and the publish time.
    fn commit(&mut self, next: Next, announced: Announced) -> CycleReport {
        let Next {
            version,
            current,
            changes,
            with_snapshot,
            report,
            ..
        } = next;
        Data::move_on(&mut self.data, current, changes);
        self.version = Some(version);
        self.announced = Some(announced);
        self.schema_changed = false;
        self.before_change = None;
        self.cycles_since_snapshot = if with_snapshot {
            0
        } else {
            self.cycles_since_snapshot + 1
        };
        report
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
    /// then deltas forward. The blobs are read here; decoding, verifying, applying and
    /// building the indexes run on a blocking thread.
    async fn restore(&mut self) -> Result<()> {
        let Some(announced) = read_announced(&*self.store).await? else {
            return Ok(());
        };
        let target = announced.version;
        let fail = |reason: String| restore_error(&*self.store, target, reason);
        let names = self.blob_names().await?;
        let (state, cycles_since_snapshot) = restore_path(&names, target)
            .ok_or_else(|| fail("no snapshot with a chain of deltas leads to it".into()))?;
        let mut keys = vec![BlobName::Snapshot(state).key()];
        let mut at = state;
        while at != target {
            let next = next_delta(&names, at, target)
                .ok_or_else(|| fail(format!("no delta from version {}", at.0)))?;
            keys.push(BlobName::Delta(at, next).key());
            at = next;
        }
        let mut stored = Vec::new();
        for key in &keys {
            stored.push(self.store.get(key).await?);
        }
        let (setup, location) = (self.setup.clone(), self.store.location());
        let rebuilt = off_runtime("restoring the announced version", move || {
            let mut plain = keys
                .iter()
                .zip(stored)
                .map(|(key, bytes)| packing::unpack(bytes, &location, key))
                .collect::<shoal_store::Result<Vec<_>>>()
                .map_err(|e| Error::Restore {
                    location: location.clone(),
                    version: target,
                    reason: e.to_string(),
                })?;
            let deltas = plain.split_off(1);
            let snapshot = plain.pop().expect("the snapshot");
            rebuild(&setup, snapshot, deltas).map_err(|reason| Error::Restore {
                location,
                version: target,
                reason,
            })
        })
        .await?;
        (self.schema_changed, self.before_change) = (false, None);
        match rebuilt {
            Restored::Same(data) => self.data = Arc::new(data),
            Restored::Moved { data, before } => {
                tracing::info!(
                    version = target.0,
                    "the store holds an older schema this one extends; the next cycle publishes a delta across the change"
                );
                self.data = Arc::new(data);
                self.before_change = Some(Arc::new(before));
            }
            Restored::Incompatible(reason) => {
                tracing::warn!(
                    version = target.0,
                    %reason,
                    "the store holds another schema; the next cycle publishes a snapshot"
                );
                self.schema_changed = true;
                self.data = Arc::new(Data::empty(&self.setup.schema, &self.setup.hasher)?);
            }
        }
        self.version = Some(target);
        self.announced = Some(announced);
        self.cycles_since_snapshot = cycles_since_snapshot;
        tracing::info!(version = target.0, records = self.current_len(), "restored");
        Ok(())
    }

    fn current_len(&self) -> usize {
        (0..self.setup.schema.type_count())
            .map(|t| self.data.current.len(TypeId(t as u32)) as usize)
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
                .saturating_sub(self.setup.options.keep_versions as u64 - 1),
        );
        // Never delete what the store's own announcement needs (it may lag behind this
        // producer's version if an announcement write was lost), nor what the version an
        // operator pinned the fleet to needs.
        if let Some(a) = read_announced(&*self.store).await? {
            oldest_kept = oldest_kept.min(a.version).min(a.target());
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

/// Runs `work` on a blocking thread; a panic or a cancelled task (the runtime shutting down)
/// is [`Error::Interrupted`].
async fn off_runtime<T, W>(what: &'static str, work: W) -> Result<T>
where
    W: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| Error::Interrupted { what, source })?
}

/// The newest version a delta from `at` leads to, at most `target`.
fn next_delta(names: &[BlobName], at: Version, target: Version) -> Option<Version> {
    names
        .iter()
        .filter_map(|n| match n {
            BlobName::Delta(a, b) if *a == at && *b <= target => Some(*b),
            _ => None,
        })
        .max()
}

fn restore_error(store: &dyn BlobStore, version: Version, reason: String) -> Error {
    Error::Restore {
        location: store.location(),
        version,
        reason,
    }
}

/// What restoring found: the announced version, and how the producer's schema relates to
/// the version's own.
enum Restored {
    /// The same schema.
    Same(Data),
    /// A compatible change: the version read in the new schema, and as it is.
    Moved { data: Data, before: Current },
    /// A change that cannot be read in place: why.
    Incompatible(String),
}

/// Verifies a snapshot, applies the deltas after it (each over the version before, then
/// encoded as that version's snapshot, which is what the producer holds), and builds the
/// indexes, reading the version in the producer's schema when it is a compatible change.
fn rebuild(
    setup: &Setup,
    snapshot: Bytes,
    deltas: Vec<Bytes>,
) -> std::result::Result<Restored, String> {
    let (options, threads) = (setup.options.write_options(), setup.options.threads);
    let view = replay(snapshot, deltas, &options, threads).map_err(|e| e.to_string())?;
    if **view.schema_arc() == *setup.schema {
        return Ok(Restored::Same(Data::of(view, &setup.hasher, threads)));
    }
    let moved = match Projected::new(&view, &setup.schema) {
        Ok(projected) => encode(&projected, view.version(), &options),
        Err(e) => return Ok(Restored::Incompatible(e.to_string())),
    };
    let data = Data::of(moved.map_err(|e| e.to_string())?, &setup.hasher, threads);
    Ok(Restored::Moved { data, before: view })
}

/// The version `deltas` lead to from `snapshot`, as its own snapshot: the deltas applied
/// page by page (`PagedVersion::apply`, the consumer's engine, on `threads` threads), the
/// result encoded once. A delta that changes the schema applies to the version before read
/// in its schema.
fn replay(
    snapshot: Bytes,
    deltas: Vec<Bytes>,
    options: &WriteOptions,
    threads: usize,
) -> shoal_format::Result<Current> {
    let view = SnapshotView::open(snapshot)?;
    view.verify()?;
    if deltas.is_empty() {
        return Ok(view);
    }
    let mut version = PagedVersion::of(view);
    for bytes in deltas {
        let delta = DeltaView::open(bytes)?;
        delta.verify()?;
        version = version.apply(&delta, threads)?.0;
    }
    encode(&version, version.version(), options)
}

/// `source` encoded as the snapshot of `version`, opened.
fn encode<S: VersionSource + Sync + ?Sized>(
    source: &S,
    version: Version,
    options: &WriteOptions,
) -> shoal_format::Result<Current> {
    let mut bytes = Vec::new();
    write_snapshot(source, version, options, &mut bytes)?;
    SnapshotView::open(Bytes::from(bytes))
}
