//! Producer cycles end to end on a folder store: what is published decodes to exactly what
//! the producer holds, ordinals are kept, chains continue across restarts.

mod common;

use std::collections::BTreeMap;

use common::*;
use shoal_format::{
    DataState, FieldKind, FieldValue, ObjectPacker, Ordinal, TypeDef, TypeId, Value, Version,
};
use shoal_producer::{Error, Producer};
use shoal_store::{read_announced, BlobName};

const MOVIE: TypeId = TypeId(0);

async fn full_cycle(
    producer: &mut Producer,
    movies: &BTreeMap<i64, Movie>,
) -> shoal_producer::Result<shoal_producer::CycleReport> {
    publish(producer, movies).await
}

fn ordinal_of(state: &DataState, id: i64) -> Option<Ordinal> {
    state
        .records(MOVIE)
        .find(|(_, r)| matches!(r, shoal_format::Record::Object(v) if v[0] == Value::I64(id)))
        .map(|(o, _)| o)
}

#[tokio::test]
async fn first_cycle_snapshot_then_deltas_and_no_change_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(1);
    let mut movies = catalog(&mut rng, 200);

    let r1 = full_cycle(&mut producer, &movies).await.unwrap();
    assert!(r1.published);
    assert_eq!(r1.version, Version(1));
    let offered: usize = movies
        .values()
        .map(|m| 2 + m.tags.len() + usize::from(m.country.is_some()))
        .sum();
    assert_eq!(r1.records_offered as usize, offered);
    let keys: Vec<_> = r1.blobs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["snapshot/1"]);
    assert_eq!(r1.types[0].added, 200);
    assert_eq!(
        read_announced(&*store).await.unwrap().unwrap().version,
        Version(1)
    );
    assert_eq!(
        snapshot_state(&*store, Version(1)).await,
        producer.state().unwrap()
    );

    // The same data again: nothing published, same version.
    let again = full_cycle(&mut producer, &movies).await.unwrap();
    assert!(!again.published);
    assert_eq!(again.version, Version(1));
    let keys: Vec<_> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["announced", "producer.lock", "snapshot/1"]);

    // Edit one movie, remove one, add one.
    let v1 = producer.state().unwrap();
    let edited = ordinal_of(&v1, 10).unwrap();
    let removed = ordinal_of(&v1, 20).unwrap();
    let kept = ordinal_of(&v1, 30).unwrap();
    movies.get_mut(&10).unwrap().rating = 9.9;
    movies.remove(&20);
    movies.insert(1000, movie(&mut rng, 1000));
    let r2 = full_cycle(&mut producer, &movies).await.unwrap();
    assert_eq!(r2.version, Version(2));
    let keys: Vec<_> = r2.blobs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["delta/1-2", "reverse/2-1", "snapshot/2"]);
    let m = &r2.types[0];
    assert_eq!((m.added, m.removed, m.changed), (1, 1, 1), "{r2}");
    let v2 = &producer.state().unwrap();
    assert_eq!(ordinal_of(v2, 10), Some(edited), "an edit stays in place");
    assert_eq!(
        ordinal_of(v2, 30),
        Some(kept),
        "an unchanged record keeps its ordinal"
    );
    // One freed slot on a page is not worth a page copy: the new record is appended.
    assert_eq!(ordinal_of(v2, 1000), Some(Ordinal(200)));
    assert_eq!(v2.get(MOVIE, removed), None);
    assert_eq!(snapshot_state(&*store, Version(2)).await, *v2);
    assert_eq!(
        apply(&*store, BlobName::Delta(Version(1), Version(2)), &v1).await,
        *v2
    );
    assert_eq!(
        apply(&*store, BlobName::Reverse(Version(2), Version(1)), v2).await,
        v1
    );
    // Three changed records cost far less than the dataset (mostly the schema and tables).
    assert!(
        r2.blob_size("delta/1-2").unwrap() * 3 < r2.blob_size("snapshot/2").unwrap(),
        "{r2}"
    );
}

#[tokio::test]
async fn fifty_random_cycles_decode_exactly_and_a_restarted_producer_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(7)
        .keep_versions(1000)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(50);
    let mut movies = catalog(&mut rng, 10_000);
    let mut next_id = 10_000;
    let mut truth: BTreeMap<u64, DataState> = BTreeMap::new();
    for cycle in 0..50 {
        if cycle > 0 {
            mutate(&mut rng, &mut movies, &mut next_id, 1 + cycle % 4);
        }
        let report = full_cycle(&mut producer, &movies).await.unwrap();
        assert!(report.published, "cycle {cycle}");
        assert_eq!(producer.state().unwrap().len(MOVIE), movies.len());
        truth.insert(report.version.0, producer.state().unwrap());
    }
    assert_eq!(producer.version(), Some(Version(50)));

    // Every snapshot decodes to the state of its version.
    let snapshots: Vec<u64> = store
        .list("snapshot/")
        .await
        .unwrap()
        .iter()
        .map(|i| i.key["snapshot/".len()..].parse().unwrap())
        .collect();
    assert_eq!(snapshots, [1, 15, 22, 29, 36, 43, 50, 8]); // sorted as keys
    for v in &snapshots {
        assert_eq!(
            snapshot_state(&*store, Version(*v)).await,
            truth[v],
            "snapshot {v}"
        );
    }
    // The delta chain from the first snapshot walks through every version exactly.
    let mut state = snapshot_state(&*store, Version(1)).await;
    for v in 2..=50u64 {
        state = apply(&*store, BlobName::Delta(Version(v - 1), Version(v)), &state).await;
        assert_eq!(state, truth[&v], "version {v} by deltas");
    }
    // And the reverse chain walks back.
    for v in (1..50u64).rev() {
        state = apply(
            &*store,
            BlobName::Reverse(Version(v + 1), Version(v)),
            &state,
        )
        .await;
        assert_eq!(state, truth[&v], "version {v} by reverse deltas");
    }

    // A restarted producer restores version 50 and continues the chain.
    producer.close().await.unwrap();
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(7)
        .keep_versions(1000)
        .build()
        .await
        .unwrap();
    assert_eq!(producer.version(), Some(Version(50)));
    assert_eq!(producer.state().unwrap(), truth[&50]);
    let unchanged = full_cycle(&mut producer, &movies).await.unwrap();
    assert!(
        !unchanged.published,
        "a restored producer sees no change in the same data"
    );
    mutate(&mut rng, &mut movies, &mut next_id, 2);
    let report = full_cycle(&mut producer, &movies).await.unwrap();
    assert_eq!(report.version, Version(51));
    assert!(report.blob_size("delta/50-51").is_some());
    let state = apply(
        &*store,
        BlobName::Delta(Version(50), Version(51)),
        &truth[&50],
    )
    .await;
    assert_eq!(state, producer.state().unwrap());
    // The delta is small: unchanged records kept their ordinals across the restart.
    let changed: u64 = report
        .types
        .iter()
        .map(|t| t.added + t.removed + t.changed)
        .sum();
    assert!(
        report.blob_size("delta/50-51").unwrap() < 200 + changed * 120,
        "{report}"
    );
}

#[tokio::test]
async fn retention_keeps_a_snapshot_and_the_deltas_of_the_last_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(3)
        .keep_versions(4)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(7);
    let mut movies = catalog(&mut rng, 100);
    let mut next_id = 100;
    while producer.version() != Some(Version(12)) {
        mutate(&mut rng, &mut movies, &mut next_id, 5);
        full_cycle(&mut producer, &movies).await.unwrap();
    }
    // Versions 1..=12; snapshots at 1, 4, 7, 10; kept versions 9..=12 need snapshot 7.
    let keys: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    let mut expected = vec!["announced".to_string(), "producer.lock".to_string()];
    expected.extend(["snapshot/7", "snapshot/10"].map(String::from));
    for v in 7..12 {
        expected.push(format!("delta/{}-{}", v, v + 1));
        expected.push(format!("reverse/{}-{}", v + 1, v));
    }
    expected.sort();
    assert_eq!(keys, expected);
    // What is left still restores the announced version.
    producer.close().await.unwrap();
    let restored = Producer::builder(store)
        .schema(schema())
        .build()
        .await
        .unwrap();
    assert_eq!(restored.version(), Some(Version(12)));
}

#[tokio::test]
async fn a_failing_input_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let err = producer
        .run_cycle(|w| {
            w.add(&Movie {
                id: 1,
                title: "x".into(),
                year: 1,
                rating: 1.0,
                country: None,
                tags: vec![],
            })?;
            Err::<(), shoal_producer::BoxError>("the upstream file is truncated".into())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(producer.version(), None);
    assert_eq!(read_announced(&*store).await.unwrap(), None);
    // A record of the wrong shape names the field.
    #[derive(serde::Serialize)]
    struct Wrong {
        id: String,
    }
    let err = producer
        .run_cycle(|w| w.add(&Wrong { id: "7".into() }).map(|_| ()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("id"), "{err}");
}

#[tokio::test]
async fn new_records_fill_pages_that_are_an_eighth_free_fullest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    // Pages of 16 ordinals: a page is worth filling once 2 of its slots are free.
    let mut producer = Producer::builder(store)
        .schema(schema())
        .page_shift(4)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(11);
    let mut movies = catalog(&mut rng, 64); // ordinals 0..64, four pages
    full_cycle(&mut producer, &movies).await.unwrap();
    // Free one slot on page 0 and three on page 2.
    for id in [1, 33, 34, 40] {
        movies.remove(&id);
    }
    full_cycle(&mut producer, &movies).await.unwrap();
    // Five new movies: three fill page 2, the lone hole on page 0 waits, two are appended.
    for id in 100..105 {
        movies.insert(id, movie(&mut rng, id));
    }
    let report = full_cycle(&mut producer, &movies).await.unwrap();
    let placed: Vec<u32> = (100..105)
        .map(|id| ordinal_of(&producer.state().unwrap(), id).unwrap().0)
        .collect();
    assert_eq!(placed, [33, 34, 40, 64, 65]);
    assert_eq!(report.types[0].pages_touched, 2, "{report}");
}

/// Every movie read back from the published state equals what was added.
fn assert_movies(state: &DataState, movies: &BTreeMap<i64, Movie>) {
    let mut read: Vec<Movie> = state
        .records(MOVIE)
        .map(|(o, _)| shoal_format::from_source(state, MOVIE, o).unwrap())
        .collect();
    read.sort_by_key(|m| m.id);
    assert_eq!(read, movies.values().cloned().collect::<Vec<_>>());
}

#[tokio::test]
async fn records_added_by_hand_and_by_serde_in_one_cycle_come_out_right() {
    // Tag lists are matched on the second thread for movies, and on this one when added by
    // hand: the two must be merged into one numbering.
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(21);
    let mut movies = catalog(&mut rng, 3000);
    movies.get_mut(&0).unwrap().tags.clear();
    let tag_lists = TypeId(2);
    let extra = move |w: &mut shoal_producer::CycleWriter<'_>| {
        // An empty tag list (also used by movies) and one no movie uses.
        w.add_record(tag_lists, shoal_format::Record::List(vec![]))?;
        let tag = w.add_record(
            TypeId(3),
            shoal_format::Record::Object(vec![Value::String("orphan".into())]),
        )?;
        w.add_record(tag_lists, shoal_format::Record::List(vec![tag]))?;
        Ok::<_, Error>(())
    };
    for round in 0..3 {
        let offered = movies.clone();
        let report = producer
            .run_cycle(move |w| {
                extra(w)?;
                for m in offered.values() {
                    w.add(m)?;
                }
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        assert_movies(&producer.state().unwrap(), &movies);
        assert_eq!(
            snapshot_state(&*store, report.version).await,
            producer.state().unwrap(),
            "round {round}"
        );
        let mut next_id = 10_000 + round * 100;
        mutate(&mut rng, &mut movies, &mut next_id, 10);
    }
}

/// Every movie's tag names, by id, as `state` holds them.
fn tags_by_movie(state: &DataState) -> BTreeMap<i64, Vec<String>> {
    let (tag_lists, tags) = (TypeId(2), TypeId(3));
    let name = |o: &Ordinal| match state.get(tags, *o) {
        Some(shoal_format::Record::Object(v)) => match &v[0] {
            Value::String(s) => s.to_string(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let mut by_movie = BTreeMap::new();
    for (_, movie) in state.records(TypeId(0)) {
        let shoal_format::Record::Object(values) = movie else {
            panic!("{movie:?}")
        };
        let (Value::I64(id), Value::Ref(list)) = (&values[0], &values[5]) else {
            panic!("{values:?}")
        };
        let Some(shoal_format::Record::List(items)) = state.get(tag_lists, *list) else {
            panic!("movie {id}: no tag list {list:?}")
        };
        by_movie.insert(*id, items.iter().map(name).collect());
    }
    by_movie
}

/// Adds, through the record sink, tag list `i` (one tag, `tag<i>`); returns its ordinal.
fn add_tag_list(w: &mut shoal_producer::CycleWriter<'_>, i: usize) -> Result<Ordinal, Error> {
    use shoal_format::{Record, RecordSink};
    let tag = Record::Object(vec![Value::String(format!("tag{i}").into())]);
    let tag = RecordSink::add(w, TypeId(3), tag)?;
    Ok(RecordSink::add(w, TypeId(2), Record::List(vec![tag]))?)
}

/// Adds, through the record sink, movie `id` with the tag list `list`.
fn add_movie(
    w: &mut shoal_producer::CycleWriter<'_>,
    id: usize,
    list: Ordinal,
) -> Result<(), Error> {
    let values = vec![
        Value::I64(id as i64),
        Value::String(format!("movie {id}").into()),
        Value::I32(2000),
        Value::F64(5.0),
        Value::Null,
        Value::Ref(list),
    ];
    shoal_format::RecordSink::add(w, TypeId(0), shoal_format::Record::Object(values))?;
    Ok(())
}

/// Movies in the offload tests: several batches of the matching pipeline.
const OFFLOAD_MOVIES: usize = 2000;

/// A producer on a fresh folder store, matching on `threads` threads.
async fn producer_on(
    dir: &std::path::Path,
    threads: usize,
) -> (Producer, std::sync::Arc<dyn shoal_store::BlobStore>) {
    let store = fs_store(dir);
    let producer = Producer::builder(store.clone())
        .schema(schema())
        .threads(threads)
        .build()
        .await
        .unwrap();
    (producer, store)
}

// With two threads or more, a movie's tag list is matched on another thread, batch by batch
// (`offload.rs`). A caller may add children long before their roots (a columnar reader adding
// a column's children first) or reuse a child's ordinal for a later root: each root must
// still get the child whose ordinal it holds.

#[tokio::test]
async fn children_added_before_every_root_are_the_ones_their_roots_get() {
    for threads in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let (mut producer, store) = producer_on(dir.path(), threads).await;
        let report = producer
            .run_cycle(move |w| {
                let lists = (0..OFFLOAD_MOVIES)
                    .map(|i| add_tag_list(w, i))
                    .collect::<Result<Vec<_>, _>>()?;
                for (id, list) in lists.into_iter().enumerate().rev() {
                    add_movie(w, id, list)?;
                }
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        let expected: BTreeMap<i64, Vec<String>> = (0..OFFLOAD_MOVIES)
            .map(|i| (i as i64, vec![format!("tag{i}")]))
            .collect();
        assert_eq!(
            tags_by_movie(&producer.state().unwrap()),
            expected,
            "{threads} threads"
        );
        assert_eq!(
            snapshot_state(&*store, report.version).await,
            producer.state().unwrap()
        );
    }
}

#[tokio::test]
async fn a_child_reused_by_roots_of_later_batches_stays_that_child() {
    for threads in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let (mut producer, store) = producer_on(dir.path(), threads).await;
        // Each movie adds a tag list of its own first; the even ones refer to the first.
        let report = producer
            .run_cycle(move |w| {
                let first = add_tag_list(w, 0)?;
                for id in 0..OFFLOAD_MOVIES {
                    let own = add_tag_list(w, id + 1)?;
                    add_movie(w, id, if id.is_multiple_of(2) { first } else { own })?;
                }
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        let tag = |i: usize| format!("tag{}", if i.is_multiple_of(2) { 0 } else { i + 1 });
        let expected: BTreeMap<i64, Vec<String>> = (0..OFFLOAD_MOVIES)
            .map(|i| (i as i64, vec![tag(i)]))
            .collect();
        assert_eq!(
            tags_by_movie(&producer.state().unwrap()),
            expected,
            "{threads} threads"
        );
        assert_eq!(
            snapshot_state(&*store, report.version).await,
            producer.state().unwrap()
        );
    }
}

#[tokio::test]
async fn a_reference_past_the_children_handed_out_is_a_typed_error_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, store) = producer_on(dir.path(), 2).await;
    let err = producer
        .run_cycle(move |w| {
            let list = add_tag_list(w, 0)?;
            add_movie(w, 0, Ordinal(list.0 + 10))
        })
        .await
        .unwrap_err();
    let Error::UnknownReference {
        type_name, field, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((type_name.as_str(), field.as_str()), ("Movie", "tags"));
    assert!(read_announced(&*store).await.unwrap().is_none(), "{err}");
}

/// Between cycles the producer holds its own snapshot of the current version: the bytes it
/// published when the cycle published one, and the same bytes when the cadence skipped it.
#[tokio::test]
async fn the_producer_holds_the_snapshot_of_its_version_whether_published_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .snapshot_every(2)
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(7);
    let mut movies = catalog(&mut rng, 3_000);
    let mut next_id = 3_000;
    let mut held = Vec::new();
    for _ in 0..4 {
        full_cycle(&mut producer, &movies).await.unwrap();
        held.push(producer.current().data().clone());
        mutate(&mut rng, &mut movies, &mut next_id, 5);
    }
    // Versions 1 and 3 published snapshots: the producer held exactly those bytes.
    for v in [1u64, 3] {
        let published = plain(&*store, &BlobName::Snapshot(Version(v)).key()).await;
        assert_eq!(held[v as usize - 1], published, "version {v}");
    }
    // Versions 2 and 4 published deltas only: what it held is what the deltas make.
    for v in [2u64, 4] {
        let before = shoal_format::SnapshotView::open(held[v as usize - 2].clone())
            .unwrap()
            .to_state()
            .unwrap();
        let name = BlobName::Delta(Version(v - 1), Version(v));
        let after = apply(&*store, name, &before).await;
        let view = shoal_format::SnapshotView::open(held[v as usize - 1].clone()).unwrap();
        view.verify().unwrap();
        assert_eq!(view.to_state().unwrap(), after, "version {v}");
    }
}

/// One full cycle adding `movies` in the order given.
async fn publish_in_order(
    producer: &mut Producer,
    movies: Vec<Movie>,
) -> shoal_producer::Result<shoal_producer::CycleReport> {
    producer
        .run_cycle(move |w| movies.iter().try_for_each(|m| w.add(m)))
        .await
}

#[tokio::test]
async fn the_same_records_in_any_order_match_and_publish_nothing() {
    // Matching tries the ordinal after the last match before the index: every order must
    // still find every record, whether the guesses hit, miss now and then, or never hit.
    for threads in [1, 2] {
        same_records_in_any_order(threads).await;
    }
}

async fn same_records_in_any_order(threads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, _) = producer_on(dir.path(), threads).await;
    let mut rng = Rng::new(7);
    let movies = catalog(&mut rng, 3000);
    publish(&mut producer, &movies).await.unwrap();
    let v1 = producer.state().unwrap();
    let in_order: Vec<Movie> = movies.values().cloned().collect();
    let mut reversed = in_order.clone();
    reversed.reverse();
    let mut rotated = in_order.clone();
    rotated.rotate_left(1234);
    let mut shuffled = in_order.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for (name, order) in [
        ("in order", in_order),
        ("reversed", reversed),
        ("rotated", rotated),
        ("shuffled", shuffled),
    ] {
        let report = publish_in_order(&mut producer, order).await.unwrap();
        assert!(!report.published, "{name}, {threads} threads: {report}");
        assert_eq!(producer.state().unwrap(), v1, "{name}, {threads} threads");
    }
}

#[tokio::test]
async fn a_record_added_twice_is_stored_once_where_it_first_came() {
    // On two threads new records (movies, and the tag lists many movies share) are
    // deduplicated all at once when the input ends: the first of identical records keeps its
    // place, as on one thread, where each is matched as it comes.
    let mut rng = Rng::new(11);
    let movies: Vec<Movie> = catalog(&mut rng, 3000).into_values().collect();
    let twice: Vec<Movie> = movies
        .iter()
        .enumerate()
        .flat_map(|(i, m)| std::iter::repeat_n(m.clone(), 1 + usize::from(i % 3 == 0)))
        .chain(movies[..500].iter().cloned())
        .collect();
    let once_dir = tempfile::tempdir().unwrap();
    let (mut once, _) = producer_on(once_dir.path(), 1).await;
    publish_in_order(&mut once, movies.clone()).await.unwrap();
    let once = once.state().unwrap();
    let lists = once.records(TypeId(2)).count();
    assert!(
        lists < 1000,
        "tag lists repeat across movies: {lists} lists"
    );
    for threads in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let (mut doubled, _) = producer_on(dir.path(), threads).await;
        let report = publish_in_order(&mut doubled, twice.clone()).await.unwrap();
        assert!(report.published, "{threads} threads: {report}");
        assert_eq!(doubled.state().unwrap(), once, "{threads} threads");
    }
}

#[tokio::test]
async fn records_added_packed_publish_what_the_same_records_publish_and_a_bent_row_is_refused() {
    use shoal_format::{Record, RecordSink, Rows};
    let movie = |id: i64, list: Ordinal| {
        Record::Object(vec![
            Value::I64(id),
            Value::String(format!("movie {id}").into()),
            Value::I32(2000),
            Value::F64(5.0),
            Value::Null,
            Value::Ref(list),
        ])
    };
    for threads in [1, 2] {
        let mut states = Vec::new();
        for packed in [None, Some(false), Some(true)] {
            let dir = tempfile::tempdir().unwrap();
            let (mut producer, _) = producer_on(dir.path(), threads).await;
            producer
                .run_cycle(move |w| {
                    let movies = schema().type_def(TypeId(0)).unwrap().clone();
                    let mut packer = ObjectPacker::new(&movies).unwrap();
                    for id in 0..300 {
                        let list = add_tag_list(w, id as usize % 7)?;
                        let record = movie(id, list);
                        match packed {
                            None => _ = RecordSink::add(w, TypeId(0), record)?,
                            Some(false) => {
                                let mut bytes = Vec::new();
                                Rows::pack(&record, &mut bytes);
                                w.add_packed(TypeId(0), &bytes)?;
                            }
                            Some(true) => {
                                _ = w.add_object(TypeId(0), by_packer(&mut packer, &record))?
                            }
                        }
                    }
                    Ok::<_, Error>(())
                })
                .await
                .unwrap();
            states.push(producer.state().unwrap());
        }
        assert_eq!(states[0], states[1], "{threads} threads");
        assert_eq!(states[0], states[2], "{threads} threads");
        assert_eq!(states[0].records(TypeId(0)).count(), 300);

        let dir = tempfile::tempdir().unwrap();
        let (mut producer, store) = producer_on(dir.path(), threads).await;
        let err = producer
            .run_cycle(move |w| {
                let list = add_tag_list(w, 0)?;
                let mut bytes = Vec::new();
                Rows::pack(&movie(1, list), &mut bytes);
                bytes[2] = 6; // the id tagged as a string
                w.add_packed(TypeId(0), &bytes)?;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not a record of type Movie"),
            "{err}"
        );
        assert!(read_announced(&*store).await.unwrap().is_none(), "{err}");

        let err = producer
            .run_cycle(move |w| {
                let other = TypeDef::object("Movie").field("id", FieldKind::I64);
                let mut packer = ObjectPacker::new(&other).unwrap();
                packer.push(FieldValue::I64(1)).unwrap();
                w.add_object(TypeId(0), packer.finish().unwrap())?;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("packed for another type"), "{err}");
        assert!(read_announced(&*store).await.unwrap().is_none(), "{err}");
    }
}

/// `record`, an object, packed by `packer`.
fn by_packer<'a>(
    packer: &'a mut ObjectPacker,
    record: &shoal_format::Record,
) -> shoal_format::PackedObject<'a> {
    let shoal_format::Record::Object(values) = record else {
        panic!("an object record");
    };
    packer.start();
    for value in values {
        packer.push(FieldValue::from(value)).unwrap();
    }
    packer.finish().unwrap()
}
