//! The mutation suite: truncated, bit-flipped and spliced real blobs, with and without their
//! checksums repaired, fed to every decoder. Every outcome must be a typed error or a clean
//! read: never a panic, never a read out of bounds, never an unbounded allocation.

mod common;

use common::mutate::{le_u64, repair_checksums};
use common::random::{self, Rng};
use shoal_format::{
    keyindex::SECTION_KEY_INDEX, write_delta, write_snapshot, ColumnKind, DataState, DeltaView,
    FieldId, RecordSource, SectionEntry, SnapshotView, TypeId, VarKind, Version, WriteOptions,
};

fn blobs(seed: u64) -> (DataState, Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let schema = random::schema(&mut rng);
    let a = random::state(&mut rng, &schema, 40);
    let b = random::change(&mut rng, &a, 30);
    let opts = WriteOptions {
        page_shift: 4,
        ..WriteOptions::default()
    };
    let mut snap = Vec::new();
    write_snapshot(&a, Version(1), &opts, &mut snap).unwrap();
    let mut delta = Vec::new();
    write_delta(&a, &b, Version(1), Version(2), &opts, &mut delta).unwrap();
    (a, snap, delta)
}

/// Opens `bytes` with every decoder and reads everything that opens; true if one opened.
fn exercise(bytes: &[u8], base: &DataState) -> bool {
    let mut opened = false;
    if let Ok(view) = SnapshotView::open(bytes) {
        opened = true;
        let _ = view.verify();
        let _ = view.to_state();
        read_all_columns(&view);
    }
    if let Ok(view) = DeltaView::open(bytes) {
        opened = true;
        let _ = view.verify();
        let _ = view.apply(base);
        for t in 0..view.schema().type_count() {
            let ty = TypeId(t as u32);
            let added = view.added(ty).map_or(0, |a| a.len());
            for i in 0..added as usize {
                let _ = view.base(ty, i);
            }
            let _ = view.bases(ty);
            for c in 0..view.schema().columns(ty).len() {
                if let Ok((present, reader)) = view.column(ty, FieldId(c as u32)) {
                    for i in 0..present.len() as usize + 2 {
                        let _ = reader.value(i);
                        let _ = reader.elements(i).map(|e| e.count());
                    }
                }
            }
        }
    }
    opened
}

fn read_all_columns(view: &SnapshotView<&[u8]>) {
    let schema = view.schema_arc().clone();
    for t in 0..schema.type_count() {
        let ty = TypeId(t as u32);
        for (c, kind) in schema.columns(ty).iter().enumerate() {
            // A damaged page header fails the column's first read, not the open.
            let Ok(reader) = view.column(ty, FieldId(c as u32)) else {
                continue;
            };
            for i in 0..view.slot_count(ty) as usize + 2 {
                match kind {
                    ColumnKind::Var(VarKind::Ordinals(_) | VarKind::Pairs(..)) => {
                        let _ = reader.elements(i).map(|e| e.count());
                    }
                    _ => {
                        let _ = reader.value(i);
                    }
                }
            }
        }
        for o in view.ordinals(ty).take(200) {
            let _ = view.record(ty, o);
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    for seed in 0..4 {
        let (base, snap, delta) = blobs(seed);
        for blob in [&snap, &delta] {
            for cut in 0..blob.len() {
                let bytes = &blob[..cut];
                assert!(SnapshotView::open(bytes).is_err(), "seed {seed} cut {cut}");
                assert!(DeltaView::open(bytes).is_err(), "seed {seed} cut {cut}");
                let _ = exercise(bytes, &base);
            }
        }
    }
}

#[test]
fn every_bit_flip_is_caught_by_open_or_verify() {
    let (base, snap, delta) = blobs(11);
    for blob in [&snap, &delta] {
        for byte in 0..blob.len() {
            for bit in [0u8, 3, 7] {
                let mut bytes = blob.clone();
                bytes[byte] ^= 1 << bit;
                let snapshot_ok =
                    SnapshotView::open(bytes.as_slice()).is_ok_and(|v| v.verify().is_ok());
                let delta_ok = DeltaView::open(bytes.as_slice()).is_ok_and(|v| v.verify().is_ok());
                let padding = is_unread_padding(blob, byte);
                assert!(
                    padding || !(snapshot_ok || delta_ok),
                    "flip of bit {bit} at byte {byte} went unnoticed"
                );
                let _ = exercise(&bytes, &base);
            }
        }
    }
}

/// Zero padding after the schema is covered by no checksum (it is never read).
fn is_unread_padding(blob: &[u8], byte: usize) -> bool {
    let schema_len = u32::from_le_bytes(blob[32..36].try_into().unwrap()) as usize;
    byte >= 40 + schema_len && byte < (40 + schema_len).div_ceil(8) * 8
}

#[test]
fn bit_flips_with_repaired_checksums_never_panic() {
    let (mut tried, mut opened) = (0, 0);
    for seed in 20..26 {
        let (base, snap, delta) = blobs(seed);
        let mut rng = Rng::new(seed);
        for blob in [&snap, &delta] {
            for _ in 0..1500 {
                let mut bytes = blob.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
                repair_checksums(&mut bytes);
                tried += 1;
                opened += exercise(&bytes, &base) as u32;
            }
        }
    }
    assert!(
        opened * 5 > tried,
        "only {opened} of {tried} mutants opened: the suite does not reach the readers"
    );
}

#[test]
fn spliced_blobs_never_panic() {
    let (base, snap_a, delta_a) = blobs(31);
    let (_, snap_b, delta_b) = blobs(32);
    let mut rng = Rng::new(5);
    for (x, y) in [
        (&snap_a, &snap_b),
        (&delta_a, &delta_b),
        (&snap_a, &delta_b),
        (&delta_a, &snap_b),
    ] {
        for _ in 0..400 {
            let cut_x = rng.below(x.len() as u64) as usize;
            let cut_y = rng.below(y.len() as u64) as usize;
            let mut bytes = x[..cut_x].to_vec();
            bytes.extend_from_slice(&y[cut_y..]);
            let _ = exercise(&bytes, &base);
            repair_checksums(&mut bytes);
            let _ = exercise(&bytes, &base);
        }
    }
}

#[test]
fn random_bytes_with_a_valid_frame_never_panic() {
    let (base, snap, _) = blobs(40);
    let mut rng = Rng::new(9);
    let schema_len = u32::from_le_bytes(snap[32..36].try_into().unwrap()) as usize;
    let data_start = (40 + schema_len).div_ceil(8) * 8;
    let n = snap.len();
    let table_offset = le_u64(&snap[n - 24..]) as usize;
    let mut opened = 0;
    for _ in 0..2000 {
        let mut bytes = snap.clone();
        for _ in 0..1 + rng.below(4) {
            let at = data_start + rng.below((table_offset - data_start) as u64) as usize;
            bytes[at] = rng.next() as u8;
        }
        repair_checksums(&mut bytes);
        opened += exercise(&bytes, &base) as u32;
    }
    assert!(
        opened > 0,
        "no mutant opened: the suite does not reach the readers"
    );
}

#[test]
fn a_claim_of_four_billion_records_is_an_error_not_an_allocation() {
    let (_, snap, _) = blobs(50);
    let n = snap.len();
    let table_offset = le_u64(&snap[n - 24..]) as usize;
    let first_entry = table_offset;
    let type_section = le_u64(&snap[first_entry + 16..]) as usize;
    let mut bytes = snap.clone();
    bytes[type_section..type_section + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    repair_checksums(&mut bytes);
    let err = SnapshotView::open(bytes.as_slice()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("snapshot blob"), "{text}");
}

#[test]
fn errors_name_blob_section_and_offset() {
    let (_, snap, _) = blobs(60);
    let n = snap.len();
    let table_offset = le_u64(&snap[n - 24..]) as usize;
    let column_entry = table_offset + 32;
    let off = le_u64(&snap[column_entry + 16..]) as usize;
    let mut bytes = snap.clone();
    bytes[off] ^= 0xff;
    let view = SnapshotView::open(bytes.as_slice());
    let text = match view {
        Err(e) => e.to_string(),
        Ok(v) => v.verify().unwrap_err().to_string(),
    };
    assert!(text.contains("snapshot blob"), "{text}");
    assert!(text.contains("at byte"), "{text}");
}

/// Inputs that once made a decoder panic (found by the fuzzer), kept forever.
#[test]
fn inputs_that_once_failed_are_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let (base, _, _) = blobs(1);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = exercise(&bytes, &base);
        seen += 1;
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}

/// A snapshot of a random schema that has at least one key index section, and where its
/// sections lie.
fn keyed_snapshot() -> (Vec<u8>, Vec<SectionEntry>) {
    (0..200)
        .find_map(|seed| {
            let (_, snap, _) = blobs(seed);
            let layout = SnapshotView::open(snap.as_slice()).ok()?.layout().clone();
            let sections: Vec<SectionEntry> = layout
                .entries
                .iter()
                .filter(|e| e.kind == SECTION_KEY_INDEX && e.len > 32)
                .copied()
                .collect();
            (!sections.is_empty()).then_some((snap, sections))
        })
        .expect("a random schema with a primary key among 200 seeds")
}

#[test]
fn every_bit_flip_in_a_key_index_with_repaired_checksums_is_refused() {
    let (snap, sections) = keyed_snapshot();
    for section in sections {
        for byte in section.offset as usize..(section.offset + section.len) as usize {
            for bit in [0u8, 5, 7] {
                let mut bytes = snap.clone();
                bytes[byte] ^= 1 << bit;
                repair_checksums(&mut bytes);
                let refused = match SnapshotView::open(bytes.as_slice()) {
                    Err(_) => true,
                    Ok(view) => view.verify().is_err(),
                };
                assert!(
                    refused,
                    "flip of bit {bit} at byte {byte} of a key index went unnoticed"
                );
            }
        }
    }
}

/// A delta whose base (the record an added record is built on) is no record of the version
/// it applies to is refused: its values would be read from a slot that holds none. Every
/// flip of the bases section that moves the base of a moved record elsewhere is one.
#[test]
fn a_base_that_is_not_there_is_refused() {
    let schema = std::sync::Arc::new(
        shoal_format::Schema::new(vec![shoal_format::TypeDef::object("Movie")
            .field("id", shoal_format::FieldKind::I64)
            .field("title", shoal_format::FieldKind::String)
            .primary_key(&["id"])])
        .unwrap(),
    );
    let movie = |id: i64, title: &str| {
        shoal_format::Record::Object(vec![
            shoal_format::Value::I64(id),
            shoal_format::Value::String(title.into()),
        ])
    };
    let mut a = DataState::new(schema.clone());
    let mut b = DataState::new(schema);
    for (o, id) in [(0u32, 1i64), (1, 2), (4, 5), (6, 7)] {
        a.insert(TypeId(0), shoal_format::Ordinal(o), movie(id, "x"))
            .unwrap();
    }
    b.insert(TypeId(0), shoal_format::Ordinal(0), movie(1, "x"))
        .unwrap();
    // Movie 2 moves from ordinal 1 to 8, retitled: its base is ordinal 1.
    b.insert(TypeId(0), shoal_format::Ordinal(8), movie(2, "y"))
        .unwrap();
    let mut delta = Vec::new();
    write_delta(
        &a,
        &b,
        Version(1),
        Version(2),
        &WriteOptions::default(),
        &mut delta,
    )
    .unwrap();
    let layout = DeltaView::open(delta.as_slice()).unwrap().layout().clone();
    let bases = layout
        .entries
        .iter()
        .find(|e| e.kind == shoal_format::SECTION_BASES)
        .copied()
        .unwrap();
    let mut refused = 0;
    for byte in bases.offset as usize..(bases.offset + bases.len) as usize {
        for bit in 0..8 {
            let mut bytes = delta.clone();
            bytes[byte] ^= 1 << bit;
            repair_checksums(&mut bytes);
            let Ok(view) = DeltaView::open(bytes.as_slice()) else {
                continue;
            };
            let Some(base) = view.base(TypeId(0), 0) else {
                continue;
            };
            if base.0 != 8 && !a.populated(TypeId(0)).contains(base.0) {
                let err = view.apply(&a).unwrap_err();
                assert!(err.to_string().contains("which is not there"), "{err}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "no flip moved the base to an empty slot");
}
