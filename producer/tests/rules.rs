//! Incremental cycles, validators, the one-writer lease and schema changes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use shoal_format::{DeltaView, FieldKind, Schema, TypeDef, Value, Version};
use shoal_producer::{validator_fn, Error, Producer, RecordCountChange};
use shoal_store::{read_announced, BlobName, BlobStore};

async fn full(
    producer: &mut Producer,
    movies: &BTreeMap<i64, Movie>,
) -> shoal_producer::Result<shoal_producer::CycleReport> {
    publish(producer, movies).await
}

async fn blob_bytes(store: &dyn BlobStore) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for info in store.list("").await.unwrap() {
        if info.key != "producer.lock" {
            out.insert(
                info.key.clone(),
                store.get(&info.key).await.unwrap().to_vec(),
            );
        }
    }
    out
}

/// The same changes, sent whole to one producer and as upserts and deletes to another,
/// publish byte-identical blobs.
#[tokio::test]
async fn incremental_cycles_publish_what_full_cycles_publish() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a_store, b_store) = (fs_store(a_dir.path()), fs_store(b_dir.path()));
    let mut full_producer = Producer::builder(a_store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut incremental = Producer::builder(b_store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(99);
    let mut movies = catalog(&mut rng, 2_000);
    full(&mut full_producer, &movies).await.unwrap();
    full(&mut incremental, &movies).await.unwrap();
    let mut next_id = 2_000;
    for cycle in 0..15 {
        let before = movies.clone();
        mutate(&mut rng, &mut movies, &mut next_id, 3);
        let a = full(&mut full_producer, &movies).await.unwrap();
        // Upserts in id order (the order a full cycle adds them in), then deletes.
        let (before, movies) = (before, movies.clone());
        let b = incremental
            .run_incremental(move |w| {
                for (id, m) in &movies {
                    if before.get(id) != Some(m) {
                        w.upsert(m)?;
                    }
                }
                for id in before.keys() {
                    if !movies.contains_key(id) {
                        assert!(w.delete("Movie", &[Value::I64(*id)])?);
                    }
                }
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        assert_eq!(a.version, b.version, "cycle {cycle}");
        assert_eq!(a.types, b.types, "cycle {cycle}");
        assert_eq!(
            full_producer.state().unwrap(),
            incremental.state().unwrap(),
            "cycle {cycle}"
        );
    }
    assert_eq!(blob_bytes(&*a_store).await, blob_bytes(&*b_store).await);

    // Upserting what is already there changes nothing; deleting a missing key is a no-op.
    let first = movies.values().next().unwrap().clone();
    let report = incremental
        .run_incremental(move |w| {
            w.upsert(&first)?;
            assert!(!w.delete("Movie", &[Value::I64(-1)])?);
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    assert!(!report.published);
}

#[tokio::test]
async fn an_incremental_delete_drops_records_nothing_refers_to_any_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store)
        .schema(schema())
        .build()
        .await
        .unwrap();
    let movie = |id, code: &str, tag: &str| Movie {
        id,
        title: format!("m{id}"),
        year: 2000,
        rating: 5.0,
        country: Some(Country { code: code.into() }),
        tags: vec![tag.into()],
    };
    let movies: BTreeMap<i64, Movie> =
        [(1, movie(1, "FR", "noir")), (2, movie(2, "US", "heist"))].into();
    full(&mut producer, &movies).await.unwrap();
    let report = producer
        .run_incremental(|w| w.delete("Movie", &[Value::I64(2)]).map(|_| ()))
        .await
        .unwrap();
    let removed: Vec<(String, u64)> = report
        .types
        .iter()
        .map(|t| (t.name.clone(), t.removed))
        .collect();
    assert_eq!(
        removed,
        [("Movie", 1), ("Country", 1), ("TagList", 1), ("Tag", 1)].map(|(n, c)| (n.to_string(), c))
    );
    let state = producer.state().unwrap();
    assert_eq!(
        (0..4)
            .map(|t| state.len(shoal_format::TypeId(t)))
            .collect::<Vec<_>>(),
        [1, 1, 1, 1]
    );
}

#[tokio::test]
async fn validators_veto_and_the_producer_stays_on_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        // This test is about validators; the default removal guard would refuse first.
        .max_removal(None)
        .validator(RecordCountChange::of_type("Movie", 10.0))
        .boxed_validator(validator_fn("no future films", |cycle| {
            let movie = cycle.next.schema().type_id("Movie").unwrap();
            for o in cycle.next.populated(movie).iter() {
                let year = cycle
                    .next
                    .field(movie, shoal_format::FieldId(2), shoal_format::Ordinal(o))
                    .map_err(|e| e.to_string())?;
                if matches!(year, shoal_format::FieldValue::I32(y) if y > 2030) {
                    return Err(format!("a film from {year:?}"));
                }
            }
            Ok(())
        }))
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(5);
    let mut movies = catalog(&mut rng, 100);
    full(&mut producer, &movies).await.unwrap();
    let v1 = producer.state().unwrap();

    // 20% of the movies vanish: vetoed.
    let mut shrunk = movies.clone();
    shrunk.retain(|id, _| id % 5 != 0);
    let err = full(&mut producer, &shrunk).await.unwrap_err();
    match &err {
        Error::Vetoed {
            version,
            validator,
            reason,
        } => {
            assert_eq!(*version, Version(2));
            assert_eq!(validator, "record count change");
            assert!(reason.contains("`Movie` went from 100 to 80"), "{reason}");
        }
        other => panic!("{other}"),
    }
    // A user validator.
    let year = movies[&3].year;
    movies.get_mut(&3).unwrap().year = 2099;
    let err = full(&mut producer, &movies).await.unwrap_err();
    assert!(err.to_string().contains("no future films"), "{err}");
    assert!(err.to_string().contains("2099"), "{err}");
    // Duplicate primary keys, always on.
    let mut twin = movies.get(&4).unwrap().clone();
    twin.title = "another film with id 4".into();
    movies.get_mut(&3).unwrap().year = year;
    let offered = movies.clone();
    let err = producer
        .run_cycle(move |w| {
            for m in offered.values() {
                w.add(m)?;
            }
            w.add(&twin)?;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("duplicate primary keys") && err.to_string().contains("I64(4)"),
        "{err}"
    );
    // Nothing was announced, nothing changed.
    assert_eq!(producer.version(), Some(Version(1)));
    assert_eq!(producer.state().unwrap(), v1);
    assert_eq!(
        read_announced(&*store).await.unwrap().unwrap().version,
        Version(1)
    );
    // A valid cycle goes through and builds on version 1.
    movies.get_mut(&3).unwrap().rating = 0.25;
    let report = full(&mut producer, &movies).await.unwrap();
    assert_eq!(report.version, Version(2));
    assert_eq!(report.types[0].changed, 1, "{report}");
}

/// The example schema with `key` as Movie's primary key.
fn schema_keyed_by(key: &[&str]) -> Arc<Schema> {
    let mut types = schema().types().to_vec();
    types[0] = types[0].clone().primary_key(key);
    Arc::new(Schema::new(types).unwrap())
}

/// Two movies with one primary key are refused, in a first cycle and in a later one, whether
/// the snapshot's key index sections find them (the default: records whose keys hash alike
/// are neighbours there) or the next version's key index does (sections off); nothing is
/// announced. Keys of one integer (whose hash is the key) and of a string and an integer.
#[tokio::test]
async fn two_records_with_one_key_are_refused_with_or_without_key_index_sections() {
    for sections in [true, false] {
        for key in [&["id"][..], &["title", "year"]] {
            let case = format!("sections {sections}, key {key:?}");
            let dir = tempfile::tempdir().unwrap();
            let store = fs_store(dir.path());
            let mut producer = Producer::builder(store.clone())
                .schema(schema_keyed_by(key))
                .key_indexes(sections)
                .build()
                .await
                .unwrap();
            let movies = catalog(&mut Rng::new(9), 300);
            let mut twin = movies[&17].clone();
            twin.rating += 1.0;
            twin.id = if key == ["id"] { 17 } else { 1000 };
            let with_twin = |movies: &BTreeMap<i64, Movie>| {
                let (movies, twin) = (movies.clone(), twin.clone());
                move |w: &mut shoal_producer::CycleWriter<'_>| {
                    for m in movies.values() {
                        w.add(m)?;
                    }
                    w.add(&twin).map(|_| ())
                }
            };
            let refused = |err: Error| match err {
                Error::Vetoed {
                    validator, reason, ..
                } => {
                    assert_eq!(validator, "duplicate primary keys", "{case}");
                    let shown = if key == ["id"] {
                        "I64(17)"
                    } else {
                        "Title 17 #"
                    };
                    assert!(reason.contains(shown), "{case}: {reason}");
                }
                other => panic!("{case}: {other}"),
            };
            refused(producer.run_cycle(with_twin(&movies)).await.unwrap_err());
            assert_eq!(producer.version(), None, "{case}");
            assert!(read_announced(&*store).await.unwrap().is_none(), "{case}");
            full(&mut producer, &movies).await.unwrap();
            refused(producer.run_cycle(with_twin(&movies)).await.unwrap_err());
            assert_eq!(producer.version(), Some(Version(1)), "{case}");
            let mut edited = movies.clone();
            edited.get_mut(&3).unwrap().rating = 0.5;
            let report = full(&mut producer, &edited).await.unwrap();
            assert_eq!(report.types[0].changed, 1, "{case}: {report}");
        }
    }
}

/// A record given packed (as the columnar input gives them) whose reference points at no
/// record of the next version is refused, naming both, and nothing is announced.
#[tokio::test]
async fn a_record_that_refers_to_no_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let movie = |country: u32| {
        let values = vec![
            Value::I64(1000),
            Value::String("Heat".into()),
            Value::I32(1995),
            Value::F64(8.3),
            Value::Ref(shoal_format::Ordinal(country)),
            Value::Null,
        ];
        let mut packed = Vec::new();
        shoal_format::Rows::pack(&shoal_format::Record::Object(values), &mut packed);
        packed
    };
    let with_dangling = |movies: &BTreeMap<i64, Movie>, country: u32| {
        let (movies, packed) = (movies.clone(), movie(country));
        move |w: &mut shoal_producer::CycleWriter<'_>| {
            use shoal_format::RecordSink;
            for m in movies.values() {
                w.add(m)?;
            }
            w.add_packed(shoal_format::TypeId(0), &packed)?;
            Ok::<_, Error>(())
        }
    };
    let none = BTreeMap::new();
    let err = producer
        .run_cycle(with_dangling(&none, 5))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`Movie` #0 refers to `Country` #5"),
        "{err}"
    );
    assert_eq!(producer.version(), None);
    let movies = catalog(&mut Rng::new(3), 50);
    full(&mut producer, &movies).await.unwrap();
    let err = producer
        .run_cycle(with_dangling(&movies, 40))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refers to `Country` #40"), "{err}");
    assert_eq!(producer.version(), Some(Version(1)));
    // An ordinal in the range of this cycle's provisional ones that no record was given.
    let provisional = (1u32 << 31) + 7;
    let err = producer
        .run_cycle(with_dangling(&movies, provisional))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("refers to `Country` #{provisional}")),
        "{err}"
    );
    assert_eq!(producer.version(), Some(Version(1)));
    let announced = read_announced(&*store).await.unwrap().unwrap();
    assert_eq!(announced.version, Version(1));
}

#[tokio::test]
async fn one_writer_per_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut first = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(3);
    let movies = catalog(&mut rng, 50);
    full(&mut first, &movies).await.unwrap();

    let err = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("another producer holds the lease"),
        "{err}"
    );

    // An operator breaks the lease (the first producer is presumed dead): the first one
    // finds out at its next cycle and announces nothing.
    let mut second = Producer::builder(store.clone())
        .schema(schema())
        .break_lease(true)
        .build()
        .await
        .unwrap();
    assert_eq!(second.version(), Some(Version(1)));
    let mut changed = movies.clone();
    changed.get_mut(&1).unwrap().rating = 0.5;
    let err = full(&mut first, &changed).await.unwrap_err();
    assert!(matches!(err, Error::LostLease { .. }), "{err}");
    assert_eq!(
        read_announced(&*store).await.unwrap().unwrap().version,
        Version(1)
    );
    let report = full(&mut second, &changed).await.unwrap();
    assert_eq!(report.version, Version(2));
    second.close().await.unwrap();

    // After a clean close the next producer starts at once; an expired lease is taken over.
    // (The TTL leaves seconds of margin for the refused attempt on a loaded machine: with
    // 1 s, the lease sometimes expired before the second builder looked at it.)
    let short = Producer::builder(store.clone())
        .schema(schema())
        .lease_ttl(Duration::from_secs(4))
        .build()
        .await
        .unwrap();
    drop(short); // a crash: the lease stays behind
    assert!(Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let next = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    assert_eq!(next.version(), Some(Version(2)));
}

#[tokio::test]
async fn a_compatible_schema_change_publishes_a_delta_and_a_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(8);
    let movies = catalog(&mut rng, 30);
    full(&mut producer, &movies).await.unwrap();
    producer.close().await.unwrap();
    let v1 = snapshot_state(&*store, Version(1)).await;

    // Fields and types dropped, one field added and filled in for two movies.
    #[derive(serde::Serialize)]
    struct Slim {
        id: i64,
        title: String,
        studio: Option<String>,
    }
    let slim = Arc::new(
        Schema::new(vec![TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String)
            .field("studio", FieldKind::String)
            .primary_key(&["id"])])
        .unwrap(),
    );
    let mut producer = Producer::builder(store.clone())
        .schema(slim)
        .snapshot_every(10)
        .build()
        .await
        .unwrap();
    assert_eq!(producer.version(), Some(Version(1)));
    let report = producer
        .run_cycle(move |w| {
            for m in movies.values() {
                w.add(&Slim {
                    id: m.id,
                    title: m.title.clone(),
                    studio: (m.id % 15 == 0).then(|| "Toho".to_string()),
                })?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let keys: Vec<_> = report.blobs.iter().map(|(k, _)| k.as_str()).collect();
    // The snapshot too, for consumers too old to read a delta that changes the schema.
    assert_eq!(keys, ["delta/1-2", "reverse/2-1", "snapshot/2"]);
    let v2 = producer.state().unwrap();
    assert_eq!(
        apply(&*store, BlobName::Delta(Version(1), Version(2)), &v1).await,
        v2
    );
    assert_eq!(
        apply(&*store, BlobName::Reverse(Version(2), Version(1)), &v2).await,
        v1
    );
    let delta = plain(&*store, "delta/1-2").await;
    assert_eq!(
        DeltaView::open(delta).unwrap().layout().header.format,
        3,
        "dictionary pages on"
    );
}

#[tokio::test]
async fn an_incompatible_schema_change_publishes_a_snapshot_and_no_delta() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(8);
    let movies = catalog(&mut rng, 30);
    full(&mut producer, &movies).await.unwrap();
    producer.close().await.unwrap();

    // `year` changes kind: the version cannot be read in the new schema.
    #[derive(serde::Serialize)]
    struct Wide {
        id: i64,
        year: i64,
    }
    let wide = Arc::new(
        Schema::new(vec![TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("year", FieldKind::I64)
            .primary_key(&["id"])])
        .unwrap(),
    );
    let mut producer = Producer::builder(store.clone())
        .schema(wide)
        .build()
        .await
        .unwrap();
    assert_eq!(producer.version(), Some(Version(1)));
    let err = producer
        .run_incremental(|_| Ok::<_, Error>(()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("full cycle"), "{err}");
    let report = producer
        .run_cycle(move |w| {
            for m in movies.values() {
                w.add(&Wide {
                    id: m.id,
                    year: m.year.into(),
                })?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let keys: Vec<_> = report.blobs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["snapshot/2"]);
    assert_eq!(
        snapshot_state(&*store, Version(2)).await,
        producer.state().unwrap()
    );
}
