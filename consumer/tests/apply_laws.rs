//! The consumer's delta application (page sharing, rebuilt pages) against the format's
//! truth, on random schemas (every field kind, lists, sets, maps, references), random
//! datasets and random changes: a dataset loaded from snapshot(a) with delta(a, b) applied
//! holds exactly b; chains of deltas, and reverse deltas back.

#[path = "support/blobs.rs"]
mod blobs;
#[path = "../../format/tests/common/random.rs"]
mod random;

use blobs::{delta, snapshot};
use bytes::Bytes;
use proptest::prelude::*;
use random::Rng;
use shoal_consumer::Dataset;
use shoal_format::{DataState, DeltaView, RecordSource, TypeId, Version, WriteOptions};

fn assert_holds(data: &Dataset, truth: &DataState) {
    for t in 0..truth.schema().type_count() {
        let ty = TypeId(t as u32);
        assert_eq!(
            data.populated(ty).cloned().unwrap_or_default(),
            truth.populated(ty)
        );
        for (o, record) in truth.records(ty) {
            assert_eq!(&data.record(ty, o).unwrap(), record, "type {t} #{}", o.0);
        }
    }
}

/// Every ordinal whose record differs between two versions (or exists in one only) is among
/// the `differing_ordinals` the page handles point to (what `shoal diff` compares).
fn assert_differences_found(a: &Dataset, b: &Dataset, truth_a: &DataState, truth_b: &DataState) {
    for t in 0..truth_a.schema().type_count() {
        let ty = TypeId(t as u32);
        let found = b.differing_ordinals(a, ty);
        let all = truth_a.populated(ty) | truth_b.populated(ty);
        for o in all {
            let o = shoal_format::Ordinal(o);
            if truth_a.get(ty, o) != truth_b.get(ty, o) {
                assert!(
                    found.contains(o.0),
                    "type {t} #{} differs but was not found",
                    o.0
                );
            }
        }
    }
}

/// From `first` (loaded from the snapshot of `states[0]`), the delta to each next state and
/// the reverse deltas back: every version holds its state; `check` runs on each version
/// reached forward, with its index in `states`.
fn forth_and_back(
    first: Dataset,
    states: &[DataState],
    options: &WriteOptions,
    mut check: impl FnMut(&Dataset, usize),
) {
    let mut data = first;
    assert_holds(&data, &states[0]);
    for i in 1..states.len() {
        let d = delta(&states[i - 1], &states[i], i as u64, i as u64 + 1, options);
        data = apply(&data, d);
        assert_eq!(data.version(), Version(i as u64 + 1));
        assert_holds(&data, &states[i]);
        check(&data, i);
    }
    for i in (1..states.len()).rev() {
        let r = delta(&states[i], &states[i - 1], i as u64 + 1, i as u64, options);
        data = apply(&data, r);
        assert_holds(&data, &states[i - 1]);
    }
}

fn apply(data: &Dataset, bytes: Bytes) -> Dataset {
    let view = DeltaView::open(bytes).unwrap();
    data.apply(&view).unwrap().0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn a_chain_of_deltas_applied_with_page_sharing_gives_each_state(
        seed in any::<u64>(),
        size in 0u64..150,
        shift in 0usize..3,
        percent in 1u64..60,
    ) {
        let mut rng = Rng::new(seed);
        let options = WriteOptions { page_shift: [4, 5, 10][shift], ..WriteOptions::default() };
        let schema = random::schema(&mut rng);
        let mut states = vec![random::state(&mut rng, &schema, size)];
        for _ in 0..4 {
            let next = random::change(&mut rng, states.last().unwrap(), percent);
            states.push(next);
        }
        let first = Dataset::from_snapshot(snapshot(&states[0], 1, &options)).unwrap();
        forth_and_back(first.clone(), &states, &options, |data, i| {
            assert_differences_found(&first, data, &states[0], &states[i]);
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Larger datasets on small pages: columns with dozens of rebuilt pages, which are
    /// rebuilt on two threads.
    #[test]
    fn many_rebuilt_pages_come_out_right(seed in any::<u64>(), size in 600u64..1500) {
        let mut rng = Rng::new(seed);
        let options = WriteOptions { page_shift: 4, ..WriteOptions::default() };
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, size);
        let b = random::change(&mut rng, &a, 60);
        let data = Dataset::from_snapshot(snapshot(&a, 1, &options)).unwrap();
        let next = apply(&data, delta(&a, &b, 1, 2, &options));
        assert_holds(&next, &b);
        let back = apply(&next, delta(&b, &a, 2, 1, &options));
        assert_holds(&back, &a);
    }
}

#[test]
fn a_delta_for_another_version_or_schema_is_refused() {
    let mut rng = Rng::new(3);
    let options = WriteOptions::default();
    let schema = random::schema(&mut rng);
    let a = random::state(&mut rng, &schema, 50);
    let b = random::change(&mut rng, &a, 20);
    let data = Dataset::from_snapshot(snapshot(&a, 1, &options)).unwrap();
    let wrong_version = DeltaView::open(delta(&a, &b, 5, 6, &options)).unwrap();
    let err = data.apply(&wrong_version).unwrap_err();
    assert!(err.to_string().contains("starts at version 5"), "{err}");
    let other_schema = random::schema(&mut Rng::new(99));
    let c = random::state(&mut rng, &other_schema, 10);
    let d = random::change(&mut rng, &c, 50);
    let foreign = DeltaView::open(delta(&c, &d, 1, 2, &options)).unwrap();
    if *other_schema != *schema {
        let err = data.apply(&foreign).unwrap_err();
        assert!(err.to_string().contains("another schema"), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Deltas that change the schema (format version 2) inside a chain, and back.
    #[test]
    fn a_chain_across_schema_changes_gives_each_state(
        seed in any::<u64>(),
        size in 0u64..150,
        shift in 0usize..3,
        percent in 1u64..60,
    ) {
        let mut rng = Rng::new(seed);
        let options = WriteOptions { page_shift: [4, 5, 10][shift], ..WriteOptions::default() };
        let schema = random::schema(&mut rng);
        let mut states = vec![random::state(&mut rng, &schema, size)];
        for _ in 0..4 {
            let last = states.last().unwrap();
            let evolved = random::evolve(&mut rng, last.schema());
            states.push(random::migrate(&mut rng, last, &evolved, percent));
        }
        let first = Dataset::from_snapshot(snapshot(&states[0], 1, &options)).unwrap();
        forth_and_back(first, &states, &options, |data, i| {
            assert_eq!(data.schema(), states[i].schema());
        });
    }
}

/// Adding a field nobody fills yet: every page of every other column is shared with the
/// version before, and the new field reads as null.
#[test]
fn a_new_empty_field_shares_every_other_page() {
    use shoal_format::{FieldKind, Ordinal, Record, Schema, TypeDef, Value};
    use std::sync::Arc;
    let movie = |extra: bool| {
        let t = TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String);
        let t = if extra {
            t.field("studio", FieldKind::String)
        } else {
            t
        };
        Arc::new(Schema::new(vec![t.primary_key(&["id"])]).unwrap())
    };
    let mut a = DataState::new(movie(false));
    for i in 0..1000u32 {
        let r = Record::Object(vec![
            Value::I64(i.into()),
            Value::String(format!("m{i}").into()),
        ]);
        a.insert(TypeId(0), Ordinal(i), r).unwrap();
    }
    let b = a.projected(movie(true)).unwrap();
    let options = WriteOptions {
        page_shift: 6,
        ..WriteOptions::default()
    };
    let data = Dataset::from_snapshot(snapshot(&a, 1, &options)).unwrap();
    let d = delta(&a, &b, 1, 2, &options);
    let view = DeltaView::open(d.clone()).unwrap();
    assert!(
        view.layout().header.format >= 2,
        "a delta that changes the schema"
    );
    let (next, stats) = data.apply(&view).unwrap();
    assert_holds(&next, &b);
    for column in 0..2 {
        for page in 0..16 {
            assert!(next.shares_page(&data, TypeId(0), shoal_format::FieldId(column), page));
        }
    }
    assert_eq!(stats.pages_shared, 32, "{stats:?}");
    let studio = next.field("Movie", "studio").unwrap();
    assert_eq!(next.get_str(studio, Ordinal(5)), None);
}
