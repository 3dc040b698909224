//! A field added to the catalog's schema between two versions: the producer publishes a
//! delta about one column in size (format version 2, with a snapshot beside it for older
//! consumers), and a consumer following the store moves across it by that delta, never
//! fetching the snapshot; readers written against the old
//! struct keep reading, readers of the new one see the new field.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shoal_consumer::{Consumer, Listener, RefreshEvent};
use shoal_format::{FieldKind, FieldValue, Schema, TypeKind, Version};
use shoal_producer::{Error, Producer};
use shoal_store::{BlobStore, FsStore};
use shoal_tests::catalog::{catalog, full_cycle, schema, Country, Movie, Rng};

#[derive(Default)]
struct Events(Mutex<Vec<RefreshEvent>>);

impl Listener for Events {
    fn on_refresh(&self, event: &RefreshEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
    fn on_failure(&self, _: &shoal_consumer::Error) {}
}

/// The movie of the new schema: the old one and a studio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MovieWithStudio {
    id: i64,
    title: String,
    year: i32,
    rating: f64,
    country: Option<Country>,
    tags: Vec<String>,
    studio: Option<String>,
}

/// The catalog's schema with `Movie.studio` added.
fn with_studio() -> Arc<Schema> {
    let mut types = schema().types().to_vec();
    if let TypeKind::Object { fields, .. } = &mut types[0].kind {
        fields.push(shoal_format::FieldDef {
            name: "studio".into(),
            kind: FieldKind::String,
        });
    }
    Arc::new(Schema::new(types).unwrap())
}

fn studio_of(m: &Movie) -> Option<String> {
    (m.id % 10 == 0).then(|| format!("S{}", m.id % 7))
}

async fn wait_for(consumer: &Consumer, v: Version) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while consumer.version() != Some(v) {
        assert!(Instant::now() < deadline, "never reached version {}", v.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_follows_an_added_field_by_delta_without_a_snapshot() {
    let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store: Arc<dyn BlobStore> = Arc::new(FsStore::new(dir.path()).unwrap());
    let mut rng = Rng::new(15);
    let movies = catalog(&mut rng, 2_000);
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    full_cycle(&mut producer, &movies).await.unwrap();
    producer.close().await.unwrap();

    let events = Arc::new(Events::default());
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache.path())
        .primary_key_index("Movie")
        .listener(events.clone())
        .build()
        .unwrap();
    let follow = consumer.follow();
    wait_for(&consumer, Version(1)).await;

    let mut producer = Producer::builder(store.clone())
        .schema(with_studio())
        .snapshot_every(10)
        .build()
        .await
        .unwrap();
    let next: Vec<MovieWithStudio> = movies
        .values()
        .map(|m| MovieWithStudio {
            id: m.id,
            title: m.title.clone(),
            year: m.year,
            rating: m.rating,
            country: m.country.clone(),
            tags: m.tags.clone(),
            studio: studio_of(m),
        })
        .collect();
    let report = producer
        .run_cycle(move |w| {
            for m in &next {
                w.add(m)?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let sizes: Vec<(&str, u64)> = report.blobs.iter().map(|(k, b)| (k.as_str(), *b)).collect();
    let names: Vec<&str> = sizes.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        ["delta/1-2", "reverse/2-1", "snapshot/2"],
        "{sizes:?}"
    );
    wait_for(&consumer, Version(2)).await;
    follow.stop().await;
    producer.close().await.unwrap();

    // Moved by the delta alone.
    let last = events.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.blobs, ["delta/1-2"], "{last:?}");
    // About one column: the studios of 200 movies, a few bytes each, plus their edits.
    let snapshot = std::fs::metadata(dir.path().join("snapshot/1"))
        .unwrap()
        .len();
    eprintln!("blobs {sizes:?}, snapshot 1: {snapshot} bytes");
    assert!(
        sizes[0].1 * 20 < snapshot,
        "delta {sizes:?}, snapshot {snapshot}"
    );

    let data = consumer.current().unwrap();
    let (ty, pk) = (
        data.type_id("Movie").unwrap(),
        data.index_id("Movie").unwrap(),
    );
    for m in movies.values() {
        let o = data.find(pk, &[FieldValue::I64(m.id)]).expect("indexed");
        let old: Movie = data.get(ty, o).unwrap();
        assert_eq!(&old, m, "read with the old struct");
        let new: MovieWithStudio = data.get(ty, o).unwrap();
        assert_eq!(new.studio, studio_of(m));
    }
}
