//! The laws of the format, on random schemas, random datasets and random changes:
//! decode(encode(a)) == a; a + delta(a, b) == b, byte for byte against snapshot(b);
//! b + reverse(a, b) == a; the same across compatible schema changes; a snapshot's sections
//! encoded on several threads are the bytes of one thread.

mod common;

use common::random::{self, Rng};
use proptest::prelude::*;
use shoal_format::{
    write_delta, write_delta_of, write_snapshot, write_snapshot_on, DataState, DeltaView,
    OrdinalChanges, Overlay, PagedVersion, SnapshotView, TypeId, Version, WriteOptions,
};

fn snapshot(state: &DataState, version: u64, options: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let len = write_snapshot(state, Version(version), options, &mut out).unwrap();
    assert_eq!(len, out.len() as u64);
    out
}

fn delta(a: &DataState, b: &DataState, va: u64, vb: u64, options: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_delta(a, b, Version(va), Version(vb), options, &mut out).unwrap();
    out
}

/// Page shift 4, 5 or 10; dictionary pages with all but the second.
fn options(shift_choice: u8) -> WriteOptions {
    WriteOptions {
        page_shift: [4, 5, 10][shift_choice as usize % 3],
        dictionary: shift_choice % 3 != 1,
        ..WriteOptions::default()
    }
}

/// `b` as an overlay of `a`'s snapshot: `a`'s records that changed removed, `b`'s added;
/// with the changes of each type, forward.
fn overlay_of<'a>(
    base: &'a SnapshotView<&'a [u8]>,
    a: &DataState,
    b: &DataState,
) -> (Overlay<'a, SnapshotView<&'a [u8]>>, Vec<OrdinalChanges>) {
    let mut overlay = Overlay::new(base);
    let mut changes = Vec::new();
    for t in 0..a.schema().type_count() {
        let ty = TypeId(t as u32);
        let mut c = OrdinalChanges::default();
        for (o, r) in a.records(ty) {
            if b.get(ty, o) != Some(r) {
                c.removed.insert(o.0);
                overlay.remove(ty, o);
            }
        }
        for (o, r) in b.records(ty) {
            if a.get(ty, o) != Some(r) {
                c.added.insert(o.0);
                overlay.insert(ty, o, r.clone());
            }
        }
        changes.push(c);
    }
    (overlay, changes)
}

/// The changes from `a` to `b` (one schema), by comparing every record.
fn changes_between(a: &DataState, b: &DataState) -> Vec<OrdinalChanges> {
    (0..b.schema().type_count())
        .map(|t| {
            let ty = TypeId(t as u32);
            let mut c = OrdinalChanges::default();
            for (o, r) in a.records(ty) {
                if b.get(ty, o) != Some(r) {
                    c.removed.insert(o.0);
                }
            }
            for (o, r) in b.records(ty) {
                if a.get(ty, o) != Some(r) {
                    c.added.insert(o.0);
                }
            }
            c
        })
        .collect()
}

fn reversed(changes: &[OrdinalChanges]) -> Vec<OrdinalChanges> {
    changes
        .iter()
        .map(|c| OrdinalChanges {
            removed: c.added.clone(),
            added: c.removed.clone(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn an_overlay_writes_the_bytes_its_state_writes(seed in any::<u64>(), size in 0u64..120, pct in 0u64..60, shift in 0u8..3) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, size);
        let b = random::change(&mut rng, &a, pct);
        let opts = options(shift);
        let a_bytes = snapshot(&a, 1, &opts);
        let base = SnapshotView::open(a_bytes.as_slice()).unwrap();
        let (next, changes) = overlay_of(&base, &a, &b);
        let mut out = Vec::new();
        write_snapshot(&next, Version(2), &opts, &mut out).unwrap();
        prop_assert_eq!(&out, &snapshot(&b, 2, &opts));
        for threads in [2, 3] {
            out.clear();
            write_snapshot_on(&next, Version(2), &opts, threads, &mut out).unwrap();
            prop_assert_eq!(&out, &snapshot(&b, 2, &opts), "sections on {} threads", threads);
        }
        out.clear();
        write_delta_of(&base, &next, &changes, Version(1), Version(2), &opts, &mut out).unwrap();
        prop_assert_eq!(&out, &delta(&a, &b, 1, 2, &opts));
        out.clear();
        write_delta_of(&next, &base, &reversed(&changes), Version(2), Version(1), &opts, &mut out).unwrap();
        prop_assert_eq!(&out, &delta(&b, &a, 2, 1, &opts));
        let d = delta(&a, &b, 1, 2, &opts);
        let paged = PagedVersion::open(bytes::Bytes::from(a_bytes.clone())).unwrap();
        let (applied, _) = paged.apply(&DeltaView::open(d.as_slice()).unwrap(), 2).unwrap();
        out.clear();
        write_snapshot(&applied, Version(2), &opts, &mut out).unwrap();
        prop_assert_eq!(&out, &snapshot(&b, 2, &opts));
    }

    #[test]
    fn decode_of_encode_is_the_state(seed in any::<u64>(), size in 0u64..120, shift in 0u8..3) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let state = random::state(&mut rng, &schema, size);
        let bytes = snapshot(&state, 7, &options(shift));
        let view = SnapshotView::open(bytes.as_slice()).unwrap();
        view.verify().unwrap();
        prop_assert_eq!(view.version(), Version(7));
        prop_assert_eq!(view.to_state().unwrap(), state);
    }

    #[test]
    fn delta_applied_to_a_equals_snapshot_of_b(seed in any::<u64>(), size in 0u64..120, pct in 0u64..60, shift in 0u8..3) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, size);
        let b = random::change(&mut rng, &a, pct);
        let opts = options(shift);
        let d = delta(&a, &b, 1, 2, &opts);
        let view = DeltaView::open(d.as_slice()).unwrap();
        view.verify().unwrap();
        let applied = view.apply(&a).unwrap();
        prop_assert_eq!(snapshot(&applied, 2, &opts), snapshot(&b, 2, &opts));
        prop_assert_eq!(applied, b);
    }

    #[test]
    fn reverse_delta_applied_to_b_equals_a(seed in any::<u64>(), size in 0u64..120, pct in 0u64..60, shift in 0u8..3) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, size);
        let b = random::change(&mut rng, &a, pct);
        let opts = options(shift);
        let r = delta(&b, &a, 2, 1, &opts);
        let view = DeltaView::open(r.as_slice()).unwrap();
        prop_assert_eq!(view.kind(), shoal_format::BlobKind::Reverse);
        let applied = view.apply(&b).unwrap();
        prop_assert_eq!(snapshot(&applied, 1, &opts), snapshot(&a, 1, &opts));
        prop_assert_eq!(applied, a);
    }

    #[test]
    fn a_delta_across_a_schema_change_reaches_the_new_state_and_back(seed in any::<u64>(), size in 0u64..100, pct in 0u64..60, shift in 0u8..3) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, size);
        let evolved = random::evolve(&mut rng, &schema);
        let b = random::migrate(&mut rng, &a, &evolved, pct);
        let opts = options(shift);
        let d = delta(&a, &b, 1, 2, &opts);
        let view = DeltaView::open(d.as_slice()).unwrap();
        view.verify().unwrap();
        let format = match (opts.dictionary, schema == evolved) {
            (true, _) => 3,
            (false, true) => 1,
            (false, false) => 2,
        };
        prop_assert_eq!(view.layout().header.format, format);
        let applied = view.apply(&a).unwrap();
        prop_assert_eq!(snapshot(&applied, 2, &opts), snapshot(&b, 2, &opts));
        prop_assert_eq!(&applied, &b);
        let r = delta(&b, &a, 2, 1, &opts);
        let back = DeltaView::open(r.as_slice()).unwrap().apply(&b).unwrap();
        prop_assert_eq!(snapshot(&back, 1, &opts), snapshot(&a, 1, &opts));
        // Written from the two snapshots, read in place, with the changes given.
        let (a_bytes, b_bytes) = (snapshot(&a, 1, &opts), snapshot(&b, 2, &opts));
        let (a_view, b_view) = (SnapshotView::open(a_bytes.as_slice()).unwrap(), SnapshotView::open(b_bytes.as_slice()).unwrap());
        let changes = changes_between(&a.projected(evolved.clone()).unwrap(), &b);
        let mut out = Vec::new();
        write_delta_of(&a_view, &b_view, &changes, Version(1), Version(2), &opts, &mut out).unwrap();
        prop_assert_eq!(&out, &d);
    }

    #[test]
    fn a_chain_of_deltas_reaches_the_last_state(seed in any::<u64>(), size in 0u64..80) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let opts = options(0);
        let mut states = vec![random::state(&mut rng, &schema, size)];
        for _ in 0..4 {
            let last = states.last().unwrap();
            let next = if rng.chance(40) {
                let evolved = random::evolve(&mut rng, last.schema());
                random::migrate(&mut rng, last, &evolved, 20)
            } else {
                random::change(&mut rng, last, 20)
            };
            states.push(next);
        }
        let mut current = states[0].clone();
        for (i, pair) in states.windows(2).enumerate() {
            let d = delta(&pair[0], &pair[1], i as u64 + 1, i as u64 + 2, &opts);
            current = DeltaView::open(d.as_slice()).unwrap().apply(&current).unwrap();
        }
        prop_assert_eq!(&current, states.last().unwrap());
    }

    /// The engine a consumer keeps its pages with: one paged version carried along a chain
    /// with schema changes and back by reverse deltas (pages shared, patched and rebuilt
    /// across steps), written out at each step as the target's snapshot, byte for byte.
    #[test]
    fn a_chain_applied_page_by_page_encodes_each_target(seed in any::<u64>(), size in 0u64..120, shift in 0u8..3) {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let opts = options(shift);
        let plain = WriteOptions { page_shift: opts.page_shift, ..WriteOptions::default() };
        let mut states = vec![random::state(&mut rng, &schema, size)];
        for _ in 0..4 {
            let last = states.last().unwrap();
            let next = if rng.chance(30) {
                let evolved = random::evolve(&mut rng, last.schema());
                random::migrate(&mut rng, last, &evolved, 20)
            } else {
                random::change(&mut rng, last, 20)
            };
            states.push(next);
        }
        let first = snapshot(&states[0], 1, &opts);
        let mut paged = PagedVersion::open(bytes::Bytes::from(first)).unwrap();
        let steps: Vec<(usize, usize)> = (1..states.len())
            .map(|i| (i - 1, i))
            .chain((1..states.len()).rev().map(|i| (i, i - 1)))
            .collect();
        for (from, to) in steps {
            let d = delta(&states[from], &states[to], from as u64 + 1, to as u64 + 1, &opts);
            paged = paged.apply(&DeltaView::open(d.as_slice()).unwrap(), 2).unwrap().0;
            let expected = snapshot(&states[to], to as u64 + 1, &plain);
            prop_assert_eq!(paged.encode_snapshot().unwrap(), expected, "{} -> {}", from, to);
        }
    }
}

#[test]
fn delta_applied_to_the_wrong_state_is_refused() {
    let mut rng = Rng::new(42);
    let schema = random::schema(&mut rng);
    let mut a = random::state(&mut rng, &schema, 50);
    while a.is_empty() {
        a = random::state(&mut rng, &schema, 50);
    }
    let b = random::change(&mut rng, &a, 50);
    let d = delta(&a, &b, 1, 2, &WriteOptions::default());
    let view = DeltaView::open(d.as_slice()).unwrap();
    let empty = DataState::new(schema.clone());
    if a != b {
        let err = view.apply(&empty).unwrap_err();
        assert!(err.to_string().contains("cannot apply delta"), "{err}");
    }
}

#[test]
fn a_delta_is_not_a_snapshot() {
    let mut rng = Rng::new(3);
    let schema = random::schema(&mut rng);
    let a = random::state(&mut rng, &schema, 10);
    let d = delta(&a, &a, 1, 2, &WriteOptions::default());
    let err = SnapshotView::open(d.as_slice()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a snapshot blob, found a delta blob"
    );
    let s = snapshot(&a, 1, &WriteOptions::default());
    assert!(DeltaView::open(s.as_slice()).is_err());
}
