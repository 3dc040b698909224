//! What a cycle's closure writes into: [`CycleWriter`] for a full cycle (the whole dataset)
//! and [`IncrementalWriter`] for upserts and deletes by primary key.
//!
//! Records arrive one at a time, children before parents (serde serialises nested structs
//! first), and each is matched at once against the current version:
//!
//! - a record identical to one of the current version keeps that ordinal (it is *seen*);
//! - an identical record added twice in a cycle is stored once (dedup);
//! - anything else is *pending*: it gets a provisional ordinal (2^31 + its index among the
//!   type's pending records) that parents may refer to, and its final ordinal is chosen when
//!   the cycle ends and the freed slots are known (see `place`).
//!
//! A provisional ordinal never equals a real one (ordinals stay below 2^31), so a record that
//! points at a pending record is itself pending: "unchanged" means unchanged all the way down.

use serde::Serialize;
use shoal_format::{Ordinal, PackedObject, Record, RecordSink, Row, Rows, Schema, TypeId, Value};

use crate::cycle::Op;
use crate::data::Current;
use crate::error::{Error, Result};
use crate::index::{repeats, Guess, KeyIndex, Recent, RecordIndex};
use crate::pending::PendingIndex;

/// Ordinals at or above this are provisional (pending records of the current cycle).
pub(crate) const PROVISIONAL: u32 = 1 << 31;

/// At most this many pending records per type and cycle: provisional ordinals stay below
/// `offload::DEFERRED`.
pub(crate) const MAX_PENDING: u32 = 1 << 30;

/// The records of one cycle, matched against the current version.
#[derive(Debug)]
pub(crate) struct Changes {
    /// Per type: the ordinals of the current version that the cycle keeps.
    pub(crate) seen: Vec<Bitset>,
    /// Per type: records that are not in the current version, in arrival order, packed (a
    /// first cycle holds every record here).
    pub(crate) pending: Vec<Rows>,
    /// Per type: the hash of each pending record (reused by the indexes of the next version).
    pub(crate) pending_hashes: Vec<Vec<u64>>,
    /// Per type: dedup of `pending`.
    pending_index: Vec<PendingIndex>,
    /// Records added by the caller (before dedup).
    pub(crate) offered: u64,
    /// Per type: ordinals of one-string records seen this cycle, found without building a
    /// record (tags, codes, names repeat millions of times).
    strings: Vec<hashbrown::HashMap<Box<str>, Ordinal>>,
    /// The record being matched, packed.
    scratch: Vec<u8>,
    /// Per type: the ordinal the next record is tried at before the index is probed.
    guesses: Vec<Guess>,
    /// Per type: ordinals the index found lately, tried next.
    recent: Vec<Recent>,
    /// A type whose pending records are stored as they come and deduplicated all at once by
    /// [`Changes::dedup_deferred`] (the root type on its matching thread: nothing refers to a
    /// root record, so no caller needs its provisional ordinal).
    deferred_dedup: Option<TypeId>,
}

impl Changes {
    pub(crate) fn new(types: usize) -> Self {
        Changes {
            seen: (0..types).map(|_| Bitset::default()).collect(),
            pending: vec![Rows::new(); types],
            pending_hashes: vec![Vec::new(); types],
            pending_index: vec![PendingIndex::default(); types],
            offered: 0,
            strings: (0..types).map(|_| hashbrown::HashMap::new()).collect(),
            scratch: Vec::new(),
            guesses: vec![Guess::default(); types],
            recent: vec![Recent::default(); types],
            deferred_dedup: None,
        }
    }

    /// Changes whose records of `ty` are deduplicated only by [`Changes::dedup_deferred`].
    pub(crate) fn deferring_dedup(types: usize, ty: TypeId) -> Self {
        Changes {
            deferred_dedup: Some(ty),
            ..Changes::new(types)
        }
    }

    /// Stores a packed pending record of `ty` with its hash, without deduplicating it yet.
    fn push_packed(&mut self, ty: TypeId, packed: &[u8], hash: u64) -> Option<u32> {
        let t = ty.index();
        if self.pending[t].len() >= MAX_PENDING {
            return None;
        }
        self.pending_hashes[t].push(hash);
        Some(self.pending[t].push_packed(packed))
    }

    /// Deduplicates the pending records of the deferred type (see
    /// [`Changes::deferring_dedup`]) on `threads` threads: the first of identical records
    /// stays. Its dedup table stays empty: no record of the type is looked up again in the
    /// cycle (see [`Changes::absorb`]).
    pub(crate) fn dedup_deferred(&mut self, threads: usize) {
        let Some(ty) = self.deferred_dedup.take() else {
            return;
        };
        let t = ty.index();
        let (rows, hashes) = (&self.pending[t], &self.pending_hashes[t]);
        let same = |a: u32, b: u32| rows.packed(a) == rows.packed(b);
        let duplicates = repeats(hashes, same, threads);
        if duplicates.is_empty() {
            return;
        }
        let mut kept = (
            Rows::new(),
            Vec::with_capacity(hashes.len() - duplicates.len()),
        );
        for i in (0..rows.len()).filter(|i| duplicates.binary_search(i).is_err()) {
            kept.0
                .push_packed(rows.packed(i).expect("a row below the count"));
            kept.1.push(hashes[i as usize]);
        }
        (self.pending[t], self.pending_hashes[t]) = kept;
    }

    /// Stores a packed pending record of `ty` with its known hash (dedup included); returns
    /// its index among the type's pending records, or `None` past [`MAX_PENDING`].
    fn adopt_packed(&mut self, ty: TypeId, packed: &[u8], hash: u64) -> Option<u32> {
        let t = ty.index();
        let pending = &mut self.pending[t];
        // One probe of the table for both the lookup and the insert.
        let vacant = match self.pending_index[t].find(hash, |i| pending.packed(i) == Some(packed)) {
            Ok(seen) => return Some(seen),
            Err(_) if pending.len() >= MAX_PENDING => return None,
            Err(vacant) => vacant,
        };
        let i = pending.push_packed(packed);
        self.pending_hashes[t].push(hash);
        self.pending_index[t].insert(vacant, i);
        Some(i)
    }

    /// Takes in the pending records another thread matched for `ty`; returns where each
    /// landed among this cycle's. When this side had none and `other`'s records are
    /// deduplicated as they are (`deduplicated`: none was rewritten since), they are moved
    /// over whole, with their dedup table (an empty one for a type whose dedup was
    /// deferred: nothing adds a record of it after this).
    pub(crate) fn absorb(
        &mut self,
        ty: TypeId,
        other: &mut Changes,
        deduplicated: bool,
    ) -> Result<Vec<u32>> {
        let t = ty.index();
        if self.pending[t].is_empty() && deduplicated {
            std::mem::swap(&mut self.pending[t], &mut other.pending[t]);
            std::mem::swap(&mut self.pending_hashes[t], &mut other.pending_hashes[t]);
            std::mem::swap(&mut self.pending_index[t], &mut other.pending_index[t]);
            return Ok((0..self.pending[t].len()).collect());
        }
        let rows = &other.pending[t];
        (0..rows.len())
            .map(|i| {
                let packed = rows.packed(i).expect("a row below the count");
                self.adopt_packed(ty, packed, other.pending_hashes[t][i as usize])
                    .ok_or_else(too_many)
            })
            .collect()
    }

    /// Matches one checked record: its kept ordinal, or a provisional one.
    pub(crate) fn add(
        &mut self,
        current: &Current,
        index: &RecordIndex,
        ty: TypeId,
        record: Record,
    ) -> Result<Ordinal> {
        let mut packed = std::mem::take(&mut self.scratch);
        packed.clear();
        Rows::pack(&record, &mut packed);
        let matched = self.add_packed(current, index, ty, &packed);
        self.scratch = packed;
        matched
    }

    /// Matches one checked record, packed by `Rows::pack`.
    pub(crate) fn add_packed(
        &mut self,
        current: &Current,
        index: &RecordIndex,
        ty: TypeId,
        packed: &[u8],
    ) -> Result<Ordinal> {
        self.offered += 1;
        let row = Row::of(packed);
        let guess = &mut self.guesses[ty.index()];
        if let Some(o) = guess.find(current, ty, row) {
            self.seen[ty.index()].insert(o.0);
            return Ok(o);
        }
        let hash = index.hash_row(row);
        let recent = &mut self.recent[ty.index()];
        let found = recent.find(current, ty, row, hash).or_else(|| {
            let o = index.find(current, ty, row, hash)?;
            recent.remember(hash, o);
            Some(o)
        });
        if let Some(o) = found {
            guess.found(o);
            self.seen[ty.index()].insert(o.0);
            return Ok(o);
        }
        let i = if self.deferred_dedup == Some(ty) {
            self.push_packed(ty, packed, hash)
        } else {
            self.adopt_packed(ty, packed, hash)
        };
        Ok(Ordinal(PROVISIONAL + i.ok_or_else(too_many)?))
    }
}

fn too_many() -> Error {
    Error::Usage("more than 2^30 new records of one type".into())
}

impl Changes {
    /// Matches the one-string record of `ty` holding `value`.
    pub(crate) fn add_str(
        &mut self,
        current: &Current,
        index: &RecordIndex,
        ty: TypeId,
        value: &str,
    ) -> Result<Ordinal> {
        /// Past this many distinct strings a type is not a small vocabulary: stop caching.
        const MAX_CACHED: usize = 1 << 16;
        if let Some(&o) = self.strings[ty.index()].get(value) {
            self.offered += 1;
            return Ok(o);
        }
        let record = Record::Object(vec![shoal_format::Value::String(value.into())]);
        let o = self.add(current, index, ty, record)?;
        let cache = &mut self.strings[ty.index()];
        if cache.len() < MAX_CACHED {
            cache.insert(value.into(), o);
        }
        Ok(o)
    }
}

/// A plain growable bit set over ordinals.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bitset(Vec<u64>);

impl Bitset {
    /// The set of `sorted` (ascending).
    pub(crate) fn of_sorted(sorted: impl DoubleEndedIterator<Item = u32> + Clone) -> Self {
        let words = sorted
            .clone()
            .next_back()
            .map_or(0, |max| max as usize / 64 + 1);
        let mut set = Bitset(vec![0; words]);
        sorted.for_each(|i| set.0[(i / 64) as usize] |= 1 << (i % 64));
        set
    }

    pub(crate) fn insert(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }

    pub(crate) fn union_with(&mut self, other: &Bitset) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    pub(crate) fn contains(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// Receives the whole dataset of a full cycle: [`CycleWriter::add`] each record (and serde
/// adds every record it refers to). Records the cycle does not add are removed.
pub struct CycleWriter<'a> {
    pub(crate) schema: &'a Schema,
    pub(crate) current: &'a Current,
    pub(crate) index: &'a RecordIndex,
    pub(crate) root: Option<&'a str>,
    pub(crate) changes: Changes,
    /// Records of the root type go to a matching thread in batches (full cycles only).
    pub(crate) offload: Option<crate::offload::Offload>,
}

impl std::fmt::Debug for CycleWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleWriter")
            .field("root", &self.root)
            .field("offered", &self.changes.offered)
            .finish()
    }
}

impl CycleWriter<'_> {
    /// Adds `value` as a record of the producer's root type (set with
    /// `ProducerBuilder::root_type`, or the schema's only type that no other type refers to),
    /// and every record it refers to.
    pub fn add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let root = self.root.ok_or_else(|| {
            Error::Usage(
                "no root type: the schema has several types no other type refers to; \
                 set ProducerBuilder::root_type or use add_as"
                    .into(),
            )
        })?;
        shoal_format::add(self, root, value)?;
        self.offload_error()
    }

    /// Adds `value` as a record of the type named `type_name`.
    pub fn add_as<T: Serialize + ?Sized>(&mut self, type_name: &str, value: &T) -> Result<()> {
        shoal_format::add(self, type_name, value)?;
        self.offload_error()
    }

    fn offload_error(&mut self) -> Result<()> {
        match &self.offload {
            Some(o) if o.is_closed() => Err(Error::Usage("the matching thread stopped".into())),
            _ => Ok(()),
        }
    }

    /// Sends the last batch to the matching thread and lets it finish.
    pub(crate) fn finish_offload(&mut self) {
        if let Some(mut o) = self.offload.take() {
            o.send();
        }
    }

    /// Adds a record in the dynamic model. Its references must be ordinals handed out by
    /// this writer in this cycle (a reference that is not is refused, or a format error).
    /// The returned ordinal is for references; a root record's (which nothing refers to)
    /// means nothing while matching runs on other threads.
    pub fn add_record(&mut self, ty: TypeId, mut record: Record) -> Result<Ordinal> {
        self.schema.check_record(ty, &mut record)?;
        if let Some(o) = self.offload.as_mut().filter(|o| o.wants(ty)) {
            return o.push(ty, record); // as records from serde go: see `offload`
        }
        self.changes.add(self.current, self.index, ty, record)
    }

    /// How many records were added so far (before dedup).
    pub fn offered(&self) -> u64 {
        self.changes.offered
    }
}

impl RecordSink for CycleWriter<'_> {
    fn schema(&self) -> &Schema {
        self.schema
    }

    fn add(&mut self, ty: TypeId, record: Record) -> shoal_format::Result<Ordinal> {
        if let Some(o) = self.offload.as_mut().filter(|o| o.wants(ty)) {
            // Matched on the other thread; see `offload`.
            return o.push(ty, record).map_err(format_error);
        }
        // Records from the serializer are already checked against the schema.
        self.changes
            .add(self.current, self.index, ty, record)
            .map_err(format_error)
    }

    fn add_str(&mut self, ty: TypeId, value: &str) -> shoal_format::Result<Ordinal> {
        self.changes
            .add_str(self.current, self.index, ty, value)
            .map_err(format_error)
    }

    fn add_str_again(&mut self, _ty: TypeId, ordinal: Ordinal) -> shoal_format::Result<Ordinal> {
        self.changes.offered += 1;
        Ok(ordinal)
    }

    fn add_packed(&mut self, ty: TypeId, packed: &[u8]) -> shoal_format::Result<Ordinal> {
        shoal_format::ser::check_packed(self.schema, ty, packed)?;
        self.add_fitting(ty, packed)
    }

    fn add_object(&mut self, ty: TypeId, row: PackedObject<'_>) -> shoal_format::Result<Ordinal> {
        match self.schema.type_def(ty) {
            Some(def) if row.fits(def) => self.add_fitting(ty, row.bytes()),
            def => Err(shoal_format::Error::Schema(format!(
                "a record packed for another type given as a record of {}",
                def.map_or_else(|| format!("type #{ty}"), |d| d.name.clone())
            ))),
        }
    }
}

impl CycleWriter<'_> {
    /// Matches a packed row known to be a whole record of `ty`.
    fn add_fitting(&mut self, ty: TypeId, packed: &[u8]) -> shoal_format::Result<Ordinal> {
        if let Some(o) = self.offload.as_mut().filter(|o| o.wants(ty)) {
            return o.push_packed(ty, packed).map_err(format_error);
        }
        self.changes
            .add_packed(self.current, self.index, ty, packed)
            .map_err(format_error)
    }
}

/// Receives the changes of an incremental cycle: [`upsert`](Self::upsert) records of keyed
/// types and [`delete`](Self::delete) by key. Everything else stays as it is; records that
/// nothing refers to any more are dropped, as a full cycle would drop them.
pub struct IncrementalWriter<'a> {
    pub(crate) inner: CycleWriter<'a>,
    pub(crate) keys: &'a KeyIndex,
    /// Upserts and deletes in call order; the last one on a key wins.
    pub(crate) ops: Vec<(TypeId, Op)>,
}

impl std::fmt::Debug for IncrementalWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalWriter")
            .field("operations", &self.ops.len())
            .finish()
    }
}

impl IncrementalWriter<'_> {
    /// Inserts `value` as a record of the root type, or replaces the record with the same
    /// primary key.
    pub fn upsert<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<Ordinal> {
        let root = self.inner.root.ok_or_else(|| {
            Error::Usage("no root type: set ProducerBuilder::root_type or use upsert_as".into())
        })?;
        self.upsert_as(root, value)
    }

    /// Inserts or replaces `value` as a record of the keyed type `type_name`.
    pub fn upsert_as<T: Serialize + ?Sized>(
        &mut self,
        type_name: &str,
        value: &T,
    ) -> Result<Ordinal> {
        let ty = self.keyed_type(type_name)?;
        let ordinal = shoal_format::add(&mut self.inner, type_name, value)?;
        self.ops.push((ty, Op::Upsert(ordinal)));
        Ok(ordinal)
    }

    /// Deletes the record of type `type_name` whose primary key is `key` (values in the
    /// order of the schema's key paths). Returns whether the current version holds one.
    pub fn delete(&mut self, type_name: &str, key: &[Value]) -> Result<bool> {
        let ty = self.keyed_type(type_name)?;
        let exists = self.keys.find(self.inner.current, ty, key).is_some();
        self.ops.push((ty, Op::Delete(key.to_vec())));
        Ok(exists)
    }

    fn keyed_type(&self, type_name: &str) -> Result<TypeId> {
        let ty = self
            .inner
            .schema
            .type_id(type_name)
            .ok_or_else(|| Error::Usage(format!("no type `{type_name}` in the schema")))?;
        if self.keys.paths(ty).is_none() {
            return Err(Error::Usage(format!(
                "type `{type_name}` has no primary key: incremental cycles upsert and delete by key"
            )));
        }
        Ok(ty)
    }
}

fn format_error(e: Error) -> shoal_format::Error {
    match e {
        Error::Format(e) => e,
        other => shoal_format::Error::Serde(other.to_string()),
    }
}
