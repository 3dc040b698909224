//! Primary-key and hash indexes, kept up to date across deltas, agree with the truth after
//! every version; a delta copies only the index shards it touches.

#[path = "../../producer/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use shoal_consumer::Consumer;
use shoal_format::{FieldValue, Ordinal, Version};
use shoal_producer::Producer;

async fn full(p: &mut Producer, movies: &BTreeMap<i64, Movie>) {
    publish(p, movies).await.unwrap();
}

#[tokio::test]
async fn indexes_follow_every_version() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        // Cycle 5 changes 90% of the movies (removing about 30%) on purpose.
        .max_removal(None)
        .build()
        .await
        .unwrap();
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .primary_key_index("Movie")
        .hash_index("by_year", "Movie", &["year"])
        .hash_index("by_country", "Movie", &["country.code"])
        .build()
        .unwrap();
    let mut rng = Rng::new(31);
    let mut movies = catalog(&mut rng, 3_000);
    let mut next_id = 3_000;
    for cycle in 0..20 {
        if cycle > 0 {
            // One large change, so the index is updated on two threads (>= 1024 changes).
            let percent = if cycle == 5 { 90 } else { 3 };
            mutate(&mut rng, &mut movies, &mut next_id, percent);
            // Edits in place that change a hash index's key (the year).
            let some: Vec<i64> = movies.keys().skip(cycle * 7).take(25).copied().collect();
            for id in some {
                movies.get_mut(&id).unwrap().year = 1950 + (id as i32 + cycle as i32) % 75;
            }
        }
        full(&mut producer, &movies).await;
        consumer.refresh().await.unwrap();
        let data = consumer.current().unwrap();
        let movie = data.type_id("Movie").unwrap();
        let (pk, by_year, by_country) = (
            data.index_id("Movie").unwrap(),
            data.index_id("by_year").unwrap(),
            data.index_id("by_country").unwrap(),
        );
        let id = data.field("Movie", "id").unwrap();
        for m in movies.values() {
            let o = data
                .find(pk, &[FieldValue::I64(m.id)])
                .expect("every id is found");
            assert_eq!(data.get_i64(id, o), Some(m.id));
        }
        assert_eq!(data.find(pk, &[FieldValue::I64(-5)]), None);
        assert_eq!(
            data.find(pk, &[FieldValue::I32(1)]),
            None,
            "a key of the wrong kind"
        );
        // Hash index on a field: all matches.
        let ids_of = |ordinals: Vec<Ordinal>| -> BTreeSet<i64> {
            ordinals
                .into_iter()
                .map(|o| data.get_i64(id, o).unwrap())
                .collect()
        };
        for year in [1950, 1960, 1990, 2010, 2024] {
            let want: BTreeSet<i64> = movies
                .values()
                .filter(|m| m.year == year)
                .map(|m| m.id)
                .collect();
            let got = ids_of(data.find_all(by_year, &[FieldValue::I32(year)]).collect());
            assert_eq!(got, want, "year {year}");
        }
        // Through a reference.
        for code in ["FR", "JP"] {
            let want: BTreeSet<i64> = movies
                .values()
                .filter(|m| m.country.as_ref().is_some_and(|c| c.code == code))
                .map(|m| m.id)
                .collect();
            let key = [FieldValue::Str(code)];
            let got = ids_of(data.find_all(by_country, &key).collect());
            assert_eq!(got, want, "country {code}");
        }
        assert_eq!(data.len(movie), movies.len() as u64);
    }

    // One edit copies at most two parts of the key index (out and in), shares the rest.
    let before = consumer.current().unwrap();
    let some_id = *movies.keys().nth(100).unwrap();
    movies
        .get_mut(&some_id)
        .unwrap()
        .title
        .push_str(" (restored)");
    full(&mut producer, &movies).await;
    consumer.refresh().await.unwrap();
    let after = consumer.current().unwrap();
    assert_eq!(after.version(), Version(21));
    let pk = after.index_id("Movie").unwrap();
    let (copied, parts) = after.index_parts_copied(&before, pk);
    assert!(copied <= 2, "{copied} of {parts} parts copied");
    assert!(after.find(pk, &[FieldValue::I64(some_id)]).is_some());
}
