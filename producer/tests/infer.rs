//! A schema from serde types: the producer publishes the types as they are, and they read
//! back equal.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use shoal_format::{TypeId, TypeKind};
use shoal_producer::{schema_of, Error, Producer};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Shelf {
    id: u32,
    label: Option<String>,
    books: Vec<Book>,
    counts: HashMap<String, i64>,
    weight_kg: f32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Book {
    isbn: String,
    pages: u16,
}

#[test]
fn the_schema_follows_the_serde_mapping() {
    let (schema, root) = schema_of::<Movie>(&["id"]).unwrap();
    assert_eq!(root, "Movie");
    let names: Vec<&str> = schema.types().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Movie", "Country", "MovieTags", "MovieTagsItem"]);
    assert!(matches!(
        &schema.types()[2].kind,
        TypeKind::List { element } if element == "MovieTagsItem"
    ));
    assert_eq!(schema.types()[0].key().unwrap().len(), 1);

    let (schema, _) = schema_of::<Shelf>(&["id"]).unwrap();
    let names: Vec<&str> = schema.types().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Shelf",
            "Book",
            "ShelfBooks",
            "ShelfCounts",
            "ShelfCountsKey",
            "ShelfCountsValue"
        ]
    );

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    enum Colour {
        Red,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Painted {
        colour: Colour,
    }
    let err = schema_of::<Painted>(&[]).unwrap_err();
    assert!(err.to_string().contains("Painted.colour"), "{err}");
}

#[tokio::test]
async fn a_producer_built_from_serde_types_publishes_what_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema_of::<Shelf>(&["id"])
        .unwrap()
        .build()
        .await
        .unwrap();
    let shelves: Vec<Shelf> = (0..50u32)
        .map(|i| Shelf {
            id: i,
            label: (i % 3 != 0).then(|| format!("shelf {i}")),
            books: (0..i % 4)
                .map(|b| Book {
                    isbn: format!("978-{}", b * 7),
                    pages: 100 + b as u16,
                })
                .collect(),
            counts: [("read".to_string(), i as i64), ("lent".to_string(), 1)].into(),
            weight_kg: i as f32 / 2.0,
        })
        .collect();
    let offered = shelves.clone();
    let report = producer
        .run_cycle(move |w| {
            for s in &offered {
                w.add(s)?;
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let state = snapshot_state(&*store, report.version).await;
    let mut read: BTreeMap<u32, Shelf> = BTreeMap::new();
    for (o, _) in state.records(TypeId(0)) {
        let s: Shelf = shoal_format::from_source(&state, TypeId(0), o).unwrap();
        read.insert(s.id, s);
    }
    assert_eq!(read.into_values().collect::<Vec<_>>(), shelves);
}
