//! The default guard against wiping the fleet: a cycle that empties a type, or removes more
//! than a share of its records (a truncated or empty input from a failed upstream job), is
//! refused before anything is published, unless the builder allows it.

mod common;

use std::collections::BTreeMap;

use common::*;
use shoal_format::{Value, Version};
use shoal_producer::{CycleReport, Error, Producer, ProducerBuilder, Result};
use shoal_store::{read_announced, BlobStore};

async fn full(producer: &mut Producer, movies: &BTreeMap<i64, Movie>) -> Result<CycleReport> {
    publish(producer, movies).await
}

/// A producer on a fresh store that published version 1 with 3,000 movies.
async fn at_version_1(
    dir: &std::path::Path,
    configure: impl FnOnce(ProducerBuilder) -> ProducerBuilder,
) -> (Producer, BTreeMap<i64, Movie>) {
    let builder = Producer::builder(fs_store(dir)).schema(schema());
    let mut producer = configure(builder).build().await.unwrap();
    let movies = catalog(&mut Rng::new(12), 3_000);
    let report = full(&mut producer, &movies).await.unwrap();
    assert_eq!(report.version, Version(1));
    (producer, movies)
}

async fn announced(store: &dyn BlobStore) -> Option<Version> {
    read_announced(store).await.unwrap().map(|a| a.version)
}

fn assert_nothing_published(producer: &Producer, store_version: Option<Version>) {
    assert_eq!(producer.version(), Some(Version(1)));
    assert_eq!(store_version, Some(Version(1)));
}

#[tokio::test]
async fn an_empty_input_after_a_full_version_is_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, _) = at_version_1(dir.path(), |b| b).await;
    let before = producer.state().unwrap();

    let err = full(&mut producer, &BTreeMap::new()).await.unwrap_err();
    match &err {
        Error::WouldEmpty {
            version,
            type_name,
            before,
        } => {
            assert_eq!(
                (*version, type_name.as_str(), *before),
                (Version(2), "Movie", 3_000)
            );
        }
        other => panic!("expected WouldEmpty, got {other}"),
    }
    assert!(err.to_string().contains("allow_empty"), "{err}");
    assert_nothing_published(&producer, announced(&**producer.store()).await);
    assert_eq!(producer.state().unwrap(), before);
}

#[tokio::test]
async fn a_truncated_input_is_refused_by_default_naming_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, movies) = at_version_1(dir.path(), |b| b).await;
    let third: BTreeMap<i64, Movie> = movies.into_iter().take(1_000).collect();

    let err = full(&mut producer, &third).await.unwrap_err();
    match &err {
        Error::TooManyRemovals {
            type_name,
            before,
            after,
            removed,
            max_percent,
            ..
        } => {
            assert_eq!(type_name, "Movie");
            assert_eq!((*before, *after, *removed), (3_000, 1_000, 2_000));
            assert_eq!(*max_percent, 10.0);
        }
        other => panic!("expected TooManyRemovals, got {other}"),
    }
    assert!(err.to_string().contains("max_removal"), "{err}");
    assert_nothing_published(&producer, announced(&**producer.store()).await);
}

#[tokio::test]
async fn an_incremental_cycle_deleting_most_records_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, _) = at_version_1(dir.path(), |b| b).await;
    let err = producer
        .run_incremental(|w| {
            for id in 0..500 {
                w.delete("Movie", &[Value::I64(id)])?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooManyRemovals { removed: 500, .. }),
        "{err}"
    );
    assert_nothing_published(&producer, announced(&**producer.store()).await);
}

#[tokio::test]
async fn edits_and_small_removals_pass_the_default_guard() {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, mut movies) = at_version_1(dir.path(), |b| b).await;
    // Every movie edited (same key) and 9% removed: edits are not removals.
    for m in movies.values_mut() {
        m.title.push('!');
    }
    movies.retain(|id, _| id % 100 >= 9);
    let report = full(&mut producer, &movies).await.unwrap();
    assert_eq!(report.version, Version(2));
    assert_eq!(report.types[0].removed, 270);
    assert_eq!(report.types[0].changed, 2_730);
}

#[tokio::test]
async fn a_legitimate_large_change_goes_through_when_the_builder_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, movies) = at_version_1(dir.path(), |b| b.max_removal(Some(80.0))).await;
    let third: BTreeMap<i64, Movie> = movies.into_iter().take(1_000).collect();
    let report = full(&mut producer, &third).await.unwrap();
    assert_eq!(report.version, Version(2));
    assert_eq!(report.types[0].records, 1_000);
    assert_eq!(announced(&**producer.store()).await, Some(Version(2)));

    // Emptying needs its own permission, even with no limit on the share.
    let dir = tempfile::tempdir().unwrap();
    let (mut producer, _) = at_version_1(dir.path(), |b| b.max_removal(None)).await;
    let err = full(&mut producer, &BTreeMap::new()).await.unwrap_err();
    assert!(matches!(err, Error::WouldEmpty { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let (mut producer, _) = at_version_1(dir.path(), |b| b.allow_empty(true)).await;
    let report = full(&mut producer, &BTreeMap::new()).await.unwrap();
    assert_eq!(report.version, Version(2));
    assert_eq!(report.types[0].records, 0);
}

#[tokio::test]
async fn a_negative_limit_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Producer::builder(fs_store(dir.path()))
        .schema(schema())
        .max_removal(Some(-1.0))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
}
