//! What a producer holds between cycles: its current version (its own snapshot, read in
//! place) and the two indexes a cycle matches against (see `index`).
//!
//! The indexes of a version a cycle made are the previous version's updated with the cycle's
//! changes. Nothing before the announcement needs them (duplicate keys are found in the
//! snapshot's key index sections, see `cycle`), so they are updated **after** it, on a thread
//! of their own ([`Data::move_on`]), and a later cycle waits for them when it first looks one
//! up. A producer that exits after publishing (`shoal produce`, a batch job) never waits, and
//! its cycle is not held up by work for a cycle it will not run: at 10M records that was a
//! third of the encoding phase's CPU, and 0.4 GB of peak memory.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use shoal_format::{
    write_snapshot, DataState, Ordinal, Schema, SnapshotView, Version, WriteOptions,
};

use crate::error::Result;
use crate::index::{Hasher, KeyIndex, RecordIndex};

/// The version a producer is on: its own snapshot, held as plain bytes and read in place.
/// Between cycles this and the indexes are all the producer holds (see `docs/PRODUCER.md`).
pub(crate) type Current = SnapshotView<Bytes>;

/// A version with the indexes a cycle matches against.
pub(crate) struct Data {
    pub(crate) current: Current,
    indexes: Indexes,
}

/// What a cycle changed, as the indexes need it: per type, the ordinals removed and added,
/// and the record hash of each added one.
pub(crate) struct IndexChanges {
    pub(crate) removed: Vec<Vec<Ordinal>>,
    pub(crate) added: Vec<Vec<Ordinal>>,
    pub(crate) added_hashes: Vec<Vec<u64>>,
}

impl Data {
    /// `version` with its indexes built (a duplicate primary key is logged and kept).
    ///
    /// The two indexes are built side by side, and the identity index's hashes on `threads`
    /// threads: restoring 10M records spent most of its time here.
    pub(crate) fn of(version: Current, hasher: &Hasher, threads: usize) -> Data {
        let ((keys, duplicate), index) = std::thread::scope(|scope| {
            let keys = scope.spawn(|| KeyIndex::build(&version, hasher.clone()));
            let index = RecordIndex::build(&version, hasher.clone(), threads);
            (
                keys.join().expect("building the key index does not panic"),
                index,
            )
        });
        if let Some(d) = duplicate {
            tracing::warn!(?d, "the restored version holds a duplicate primary key");
        }
        Data {
            current: version,
            indexes: Indexes::built(index, keys),
        }
    }

    /// The empty version of `schema`, before the first cycle.
    pub(crate) fn empty(schema: &Arc<Schema>, hasher: &Hasher) -> Result<Data> {
        let mut bytes = Vec::new();
        let empty = DataState::new(schema.clone());
        write_snapshot(&empty, Version(0), &WriteOptions::default(), &mut bytes)?;
        Ok(Data::of(SnapshotView::open(Bytes::from(bytes))?, hasher, 1))
    }

    /// Moves `data` on to the version a cycle made (`current`): its indexes are the previous
    /// version's updated with `changes`, on a thread of their own. The previous version is
    /// moved to that thread, so when nothing else holds it its indexes are updated where they
    /// are instead of copied first.
    pub(crate) fn move_on(data: &mut Arc<Data>, current: Current, changes: IndexChanges) {
        let next = Arc::new(Data {
            current,
            indexes: Indexes::default(),
        });
        let previous = std::mem::replace(data, Arc::clone(&next));
        let version = Arc::clone(&next);
        let update = move || update_indexes(previous, &version.current, &changes);
        let handle = std::thread::Builder::new()
            .name("shoal-indexes".into())
            .spawn(update)
            .expect("the system starts a thread");
        *next.indexes.lock_building() = Some(handle);
    }

    /// The identity index (waits for it if it is still being updated).
    pub(crate) fn index(&self) -> &RecordIndex {
        &self.indexes.get().0
    }

    /// The primary-key index (waits for it if it is still being updated).
    pub(crate) fn keys(&self) -> &KeyIndex {
        &self.indexes.get().1
    }
}

/// `previous`'s indexes updated with what a cycle changed to make `next`: moved out of it
/// when no one else holds it, copied otherwise.
fn update_indexes(
    mut previous: Arc<Data>,
    next: &Current,
    changes: &IndexChanges,
) -> (RecordIndex, KeyIndex) {
    let (mut index, mut keys) = match Arc::get_mut(&mut previous) {
        Some(data) => data.indexes.take(),
        None => previous.indexes.get().clone(),
    };
    let IndexChanges {
        removed,
        added,
        added_hashes,
    } = changes;
    let before = &previous.current;
    index.update(before, next, removed, added, added_hashes);
    if let Some(d) = keys.update(before, next, removed, added) {
        // The cycle's checks refuse a version with a duplicate key before it is announced.
        tracing::warn!(?d, "the published version holds a duplicate primary key");
    }
    (index, keys)
}

/// A version's two indexes: built, or being built on a thread of their own.
#[derive(Default)]
struct Indexes {
    built: OnceLock<(RecordIndex, KeyIndex)>,
    building: Mutex<Option<JoinHandle<(RecordIndex, KeyIndex)>>>,
}

impl Indexes {
    fn built(index: RecordIndex, keys: KeyIndex) -> Self {
        Indexes {
            built: OnceLock::from((index, keys)),
            building: Mutex::default(),
        }
    }

    /// The indexes, once built: a panic while building them is raised here.
    fn get(&self) -> &(RecordIndex, KeyIndex) {
        self.built.get_or_init(|| {
            let handle = self.lock_building().take();
            let handle = handle.expect("a version's indexes are built or being built");
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// The indexes, moved out (the version keeps none).
    fn take(&mut self) -> (RecordIndex, KeyIndex) {
        self.get();
        self.built.take().expect("just built")
    }

    fn lock_building(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<JoinHandle<(RecordIndex, KeyIndex)>>> {
        // A poisoned lock holds nothing half-changed: an `Option` taken or set whole.
        self.building.lock().unwrap_or_else(|e| e.into_inner())
    }
}
