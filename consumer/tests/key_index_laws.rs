//! Key index sections across random delta chains: a consumer that starts from a snapshot's
//! key index and applies deltas holds, at every version, exactly the key table the producer
//! writes into that version's snapshot (byte for byte), and finds every record by its key.
//! Small datasets cross a capacity step at almost every delta (the table is re-placed);
//! larger ones are edited slot by slot.

#[path = "support/blobs.rs"]
mod blobs;
#[path = "../../format/tests/common/random.rs"]
mod random;

use blobs::{delta, snapshot};
use proptest::prelude::*;
use random::Rng;
use shoal_consumer::{Dataset, IndexSpec};
use shoal_format::{DataState, DeltaView, FieldValue, Record, TypeId, Value, WriteOptions};

/// The primary key of type 0 (`O0`, keyed by `id`) of every random schema.
fn spec() -> Vec<IndexSpec> {
    vec![IndexSpec {
        name: "pk".into(),
        type_name: "O0".into(),
        paths: vec![],
    }]
}

fn load(state: &DataState, v: u64, options: &WriteOptions) -> Dataset {
    Dataset::from_snapshot(snapshot(state, v, options))
        .unwrap()
        .with_indexes(&spec())
        .unwrap()
}

/// The dataset's key table is the one of the snapshot of the same state, and every record
/// of type 0 is found by its id.
fn assert_index_of(data: &Dataset, truth: &DataState, v: u64, options: &WriteOptions) {
    let pk = data.index_id("pk").unwrap();
    let fresh = load(truth, v, options);
    let slots = data
        .key_index_slots(pk)
        .expect("a key table, carried by deltas");
    assert_eq!(Some(slots), fresh.key_index_slots(pk), "version {v}");
    for (_, record) in truth.records(TypeId(0)) {
        let Record::Object(values) = record else {
            unreachable!()
        };
        let Value::I64(id) = values[0] else { continue };
        let found = data.find(pk, &[FieldValue::I64(id)]).expect("found by key");
        assert!(
            matches!(truth.get(TypeId(0), found), Some(Record::Object(v)) if matches!(v[0], Value::I64(x) if x == id)),
            "id {id} found at #{}, which has another key",
            found.0
        );
    }
    assert_eq!(data.find(pk, &[FieldValue::I64(-5)]), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn the_key_table_after_a_chain_is_the_snapshots(
        seed in any::<u64>(),
        size in 0u64..400,
        percent in 1u64..60,
    ) {
        let mut rng = Rng::new(seed);
        let options = WriteOptions { page_shift: 4, ..WriteOptions::default() };
        let schema = random::schema(&mut rng);
        let mut states = vec![random::state(&mut rng, &schema, size)];
        for _ in 0..5 {
            let next = random::change(&mut rng, states.last().unwrap(), percent);
            states.push(next);
        }
        let mut data = load(&states[0], 1, &options);
        assert_index_of(&data, &states[0], 1, &options);
        for i in 1..states.len() {
            let d = delta(&states[i - 1], &states[i], i as u64, i as u64 + 1, &options);
            let (next, stats) = data.apply(&DeltaView::open(d).unwrap()).unwrap();
            prop_assert_eq!(stats.key_tables_rebuilt, 0);
            data = next;
            assert_index_of(&data, &states[i], i as u64 + 1, &options);
        }
        for i in (1..states.len()).rev() {
            let r = delta(&states[i], &states[i - 1], i as u64 + 1, i as u64, &options);
            let (next, stats) = data.apply(&DeltaView::open(r).unwrap()).unwrap();
            prop_assert_eq!(stats.key_tables_rebuilt, 0);
            data = next;
            assert_index_of(&data, &states[i - 1], i as u64, &options);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    /// Deltas that change the schema carry the key table along, page for page.
    #[test]
    fn the_key_table_crosses_schema_changes(seed in any::<u64>(), size in 0u64..400) {
        let mut rng = Rng::new(seed);
        let options = WriteOptions { page_shift: 4, ..WriteOptions::default() };
        let schema = random::schema(&mut rng);
        let mut states = vec![random::state(&mut rng, &schema, size)];
        for _ in 0..4 {
            let last = states.last().unwrap();
            let evolved = random::evolve(&mut rng, last.schema());
            states.push(random::migrate(&mut rng, last, &evolved, 10));
        }
        let mut data = load(&states[0], 1, &options);
        for i in 1..states.len() {
            let d = delta(&states[i - 1], &states[i], i as u64, i as u64 + 1, &options);
            let (next, stats) = data.apply(&DeltaView::open(d).unwrap()).unwrap();
            prop_assert_eq!(stats.key_tables_rebuilt, 0);
            data = next;
            assert_index_of(&data, &states[i], i as u64 + 1, &options);
        }
    }
}

/// A snapshot written without key index sections (as every snapshot before them) still
/// gives a primary-key index, built at load.
#[test]
fn a_snapshot_without_the_section_builds_its_index() {
    let mut rng = Rng::new(7);
    let schema = random::schema(&mut rng);
    let state = random::state(&mut rng, &schema, 300);
    let plain = WriteOptions {
        key_indexes: false,
        ..WriteOptions::default()
    };
    let data = load(&state, 1, &plain);
    let pk = data.index_id("pk").unwrap();
    assert_eq!(data.key_index_slots(pk), None, "built, not read");
    for (o, record) in state.records(TypeId(0)) {
        let Record::Object(values) = record else {
            unreachable!()
        };
        if let Value::I64(id) = values[0] {
            assert_eq!(data.find(pk, &[FieldValue::I64(id)]), Some(o));
        }
    }
}
