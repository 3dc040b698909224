//! Hostile bytes in the consumer's own decoders (`Dataset::from_snapshot`, `Dataset::apply`,
//! and every read) and in its cache folder. A consumer maps blobs only after their checksums
//! verify, but its decoders must not trust that: here mutated blobs *with their checksums
//! repaired* reach them directly, and every outcome must be a typed error or a clean read,
//! never a panic or an out-of-bounds read. Damaged cache files are found when mapped, removed
//! and fetched again.

#[path = "../../format/tests/common/mutate.rs"]
mod mutate;
#[path = "../../format/tests/common/random.rs"]
mod random;

use std::sync::Arc;

use bytes::Bytes;
use random::Rng;
use shoal_consumer::{Consumer, Dataset};
use shoal_format::{
    write_delta, write_snapshot, DataState, DeltaView, FieldId, Ordinal, RecordSource, TypeId,
    TypeKind, Version, WriteOptions,
};

fn blobs(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let schema = random::schema(&mut rng);
    let a = random::state(&mut rng, &schema, 60);
    let b = random::change(&mut rng, &a, 30);
    let opts = WriteOptions {
        page_shift: 4,
        ..WriteOptions::default()
    };
    let mut snap = Vec::new();
    write_snapshot(&a, Version(1), &opts, &mut snap).unwrap();
    let mut delta = Vec::new();
    write_delta(&a, &b, Version(1), Version(2), &opts, &mut delta).unwrap();
    (snap, delta)
}

/// Reads every value of every slot (populated or not, and past the end) of a dataset.
fn read_everything(data: &Dataset) {
    let schema = data.schema().clone();
    for t in 0..schema.type_count() {
        let ty = TypeId(t as u32);
        let slots = data.slot_count(ty) + 2;
        let def = schema.type_def(ty).unwrap();
        for o in 0..slots.min(10_000) {
            let o = Ordinal(o);
            match &def.kind {
                TypeKind::Object { fields, .. } => {
                    for f in 0..fields.len() {
                        let _ = RecordSource::field(data, ty, FieldId(f as u32), o);
                    }
                }
                _ => {
                    let _ = data.elements(ty, o).map(|e| e.take(100_000).count());
                }
            }
            let _ = data.record(ty, o);
        }
    }
}

fn mutant(rng: &mut Rng, blob: &[u8]) -> Vec<u8> {
    let mut bytes = blob.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] ^= 1 << rng.below(8);
    }
    mutate::repair_checksums(&mut bytes);
    bytes
}

#[test]
fn mutated_snapshots_and_deltas_never_panic_the_consumer() {
    let (mut snapshots_opened, mut deltas_applied, mut tried) = (0, 0, 0);
    for seed in 0..12 {
        let (snap, delta) = blobs(seed);
        let good = Dataset::from_snapshot(Bytes::from(snap.clone())).unwrap();
        let mut rng = Rng::new(1000 + seed);
        for _ in 0..400 {
            tried += 1;
            // A hostile snapshot, then a good delta on top of it.
            if let Ok(data) = Dataset::from_snapshot(Bytes::from(mutant(&mut rng, &snap))) {
                snapshots_opened += 1;
                read_everything(&data);
                if let Ok(view) = DeltaView::open(delta.as_slice()) {
                    if let Ok((next, _)) = data.apply(&view) {
                        read_everything(&next);
                    }
                }
            }
            // A good snapshot, then a hostile delta.
            let bad = mutant(&mut rng, &delta);
            if let Ok(view) = DeltaView::open(bad.as_slice()) {
                if let Ok((next, _)) = good.apply(&view) {
                    deltas_applied += 1;
                    read_everything(&next);
                }
            }
        }
    }
    println!("{tried} mutants each: {snapshots_opened} snapshots opened, {deltas_applied} deltas applied");
    assert!(
        snapshots_opened * 5 > tried && deltas_applied * 10 > tried,
        "the mutants do not reach the readers: {snapshots_opened} / {deltas_applied} of {tried}"
    );
}

#[test]
fn truncated_and_spliced_blobs_are_refused() {
    let (snap, delta) = blobs(40);
    let (snap_b, _) = blobs(41);
    let good = Dataset::from_snapshot(Bytes::from(snap.clone())).unwrap();
    for cut in (0..snap.len()).step_by(7) {
        assert!(Dataset::from_snapshot(Bytes::from(snap[..cut].to_vec())).is_err());
    }
    for cut in (0..delta.len()).step_by(5) {
        if let Ok(view) = DeltaView::open(&delta[..cut]) {
            let _ = good.apply(&view);
        }
    }
    let mut rng = Rng::new(7);
    for _ in 0..300 {
        let (x, y) = (
            rng.below(snap.len() as u64) as usize,
            rng.below(snap_b.len() as u64) as usize,
        );
        let mut bytes = snap[..x].to_vec();
        bytes.extend_from_slice(&snap_b[y..]);
        mutate::repair_checksums(&mut bytes);
        if let Ok(data) = Dataset::from_snapshot(Bytes::from(bytes)) {
            read_everything(&data);
        }
    }
}

/// A cache file damaged on disk (bits flipped, truncated, replaced by another blob) is found
/// when a consumer maps it, removed, and fetched again: the consumer serves the right data.
#[tokio::test]
async fn damaged_cache_files_are_fetched_again() {
    let (snap, delta) = blobs(50);
    let store_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(shoal_store::FsStore::new(store_dir.path()).unwrap());
    use shoal_store::BlobStore;
    store
        .put("snapshot/1", Bytes::from(snap.clone()))
        .await
        .unwrap();
    store
        .put("delta/1-2", Bytes::from(delta.clone()))
        .await
        .unwrap();
    shoal_store::announce(&*store, Version(2), None)
        .await
        .unwrap();
    let truth: DataState = {
        let a = shoal_format::SnapshotView::open(snap.as_slice())
            .unwrap()
            .to_state()
            .unwrap();
        DeltaView::open(delta.as_slice())
            .unwrap()
            .apply(&a)
            .unwrap()
    };
    let consumer = || {
        Consumer::builder(store.clone())
            .cache_dir(cache.path())
            .build()
            .unwrap()
    };
    consumer().refresh().await.unwrap();
    let mut rng = Rng::new(3);
    for round in 0..40 {
        let file = cache.path().join(["snapshot/1", "delta/1-2"][round % 2]);
        let mut bytes = std::fs::read(&file).unwrap();
        match round % 4 {
            0 | 1 => {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            2 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
            _ => {
                bytes = if round % 2 == 0 {
                    delta.clone()
                } else {
                    snap.clone()
                }
            }
        }
        std::fs::write(&file, &bytes).unwrap();
        let c = consumer();
        c.refresh()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let data = c.current().unwrap();
        for t in 0..truth.schema().type_count() {
            let ty = TypeId(t as u32);
            for (o, record) in truth.records(ty) {
                assert_eq!(&data.record(ty, o).unwrap(), record, "round {round}");
            }
        }
        assert_eq!(
            std::fs::read(&file).unwrap().len(),
            [snap.len(), delta.len()][round % 2]
        );
    }
}

/// A cache file verified once is later mapped with the structural checks only (its verified
/// mark: a modification time no write gives). If its bits rot on disk without a write, the
/// refresh that trips over them removes it and fetches it again from the store.
#[tokio::test]
async fn a_verified_cache_file_that_rots_is_fetched_again() {
    let (snap, _) = blobs(51);
    let store_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(shoal_store::FsStore::new(store_dir.path()).unwrap());
    use shoal_store::BlobStore;
    store
        .put("snapshot/1", Bytes::from(snap.clone()))
        .await
        .unwrap();
    shoal_store::announce(&*store, Version(1), None)
        .await
        .unwrap();
    let consumer = || {
        Consumer::builder(store.clone())
            .cache_dir(cache.path())
            .build()
            .unwrap()
    };
    consumer().refresh().await.unwrap();
    let file = cache.path().join("snapshot/1");
    let marked = std::fs::metadata(&file).unwrap().modified().unwrap();
    // Rot a page header of the first column section, keeping the mark.
    let layout = shoal_format::SnapshotView::open(snap.as_slice())
        .unwrap()
        .layout()
        .clone();
    let column = layout
        .entries
        .iter()
        .find(|e| e.kind == shoal_format::SECTION_COLUMN && e.len > 0)
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[column.offset as usize + 1] ^= 0x3f; // the page's bit width
    std::fs::write(&file, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(marked)
        .unwrap();
    // Opening a verified file checks no page header: the rot shows when the column is
    // first read (here all at once, as the consumer does in the background after a load),
    // and the next refresh removes the file and loads a fresh copy.
    let c = consumer();
    c.refresh().await.expect("loaded without reading a column");
    let damaged = c.current().unwrap();
    assert!(damaged.check_columns().is_err(), "the rotten column fails");
    assert_eq!(damaged.damage().map(|(v, _)| v), Some(Version(1)));
    c.refresh().await.expect("fetched again from the store");
    let truth = shoal_format::SnapshotView::open(snap.as_slice())
        .unwrap()
        .to_state()
        .unwrap();
    let data = c.current().unwrap();
    assert!(data.damage().is_none());
    for (o, record) in truth.records(TypeId(0)) {
        assert_eq!(&data.record(TypeId(0), o).unwrap(), record);
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        snap,
        "the cache holds the good copy"
    );
}
