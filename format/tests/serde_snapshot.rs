//! The serde mapping through a snapshot read in place: derive structs written into records,
//! encoded, and read back from the blob (owned and borrowing). The mapping rules and error
//! messages are unit-tested in `src/ser.rs` and `src/de.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use shoal_format::{
    add, from_source_named, write_snapshot, FieldKind, Ordinal, Schema, SnapshotView, StateBuilder,
    TypeDef, TypeId, Version, WriteOptions,
};

fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .field("rating", FieldKind::F64)
                .field("poster", FieldKind::Bytes)
                .reference("country", "Country")
                .reference("genres", "GenreList")
                .reference("tags", "TagSet")
                .reference("extras", "Props")
                .reference("director", "Person")
                .primary_key(&["id"]),
            TypeDef::object("Country").field("code", FieldKind::String),
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::object("Person")
                .field("name", FieldKind::String)
                .field("born", FieldKind::I32),
            TypeDef::list("GenreList", "Tag"),
            TypeDef::set("TagSet", "Tag"),
            TypeDef::map("Props", "Tag", "Tag"),
        ])
        .unwrap(),
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Person {
    name: String,
    born: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Movie {
    id: i64,
    title: String,
    year: i32,
    rating: f64,
    poster: Vec<u8>,
    country: String,
    genres: Vec<String>,
    tags: BTreeSet<String>,
    extras: BTreeMap<String, String>,
    director: Option<Person>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct MovieView<'a> {
    id: i64,
    title: &'a str,
    country: &'a str,
    genres: Vec<&'a str>,
    director: Option<PersonView<'a>>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct PersonView<'a> {
    name: &'a str,
}

/// An older client: knows fewer fields.
#[derive(Debug, PartialEq, Deserialize)]
struct OldMovie {
    id: i64,
    year: i32,
}

/// A newer client: expects a field this schema does not have.
#[derive(Debug, PartialEq, Deserialize)]
struct NewMovie {
    id: i64,
    sequel_of: Option<i64>,
}

fn movie_strategy() -> impl Strategy<Value = Movie> {
    let words = prop::sample::select(vec!["Drama", "Comedy", "Noir", "café", "日本", ""]);
    (
        any::<i64>(),
        "[a-zA-Z é]{0,20}",
        1900i32..2030,
        (0u32..100).prop_map(|r| r as f64 / 10.0),
        prop::collection::vec(any::<u8>(), 0..8),
        prop::collection::vec(words.clone(), 0..4),
        prop::collection::btree_set(words.clone(), 0..4),
        prop::collection::btree_map(words.clone(), words.clone(), 0..3),
        prop::option::of(
            ("[a-z]{1,8}", 1900i32..2000).prop_map(|(name, born)| Person { name, born }),
        ),
    )
        .prop_map(
            |(id, title, year, rating, poster, genres, tags, extras, director)| Movie {
                id,
                title,
                year,
                rating,
                poster,
                country: "US".into(),
                genres: genres.into_iter().map(str::to_owned).collect(),
                tags: tags.into_iter().map(str::to_owned).collect(),
                extras: extras
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                director,
            },
        )
}

proptest! {
    #[test]
    fn movies_round_trip_through_records_and_snapshots(movies in prop::collection::vec(movie_strategy(), 1..20)) {
        let mut b = StateBuilder::new(schema());
        let ordinals: Vec<Ordinal> = movies.iter().map(|m| add(&mut b, "Movie", m).unwrap()).collect();
        let state = b.finish();
        let mut bytes = Vec::new();
        write_snapshot(&state, Version(1), &WriteOptions { page_shift: 4, ..WriteOptions::default() }, &mut bytes).unwrap();
        let view = SnapshotView::open(bytes.as_slice()).unwrap();
        for (m, o) in movies.iter().zip(&ordinals) {
            let from_state: Movie = from_source_named(&state, "Movie", *o).unwrap();
            prop_assert_eq!(&from_state, m);
            let from_blob: Movie = from_source_named(&view, "Movie", *o).unwrap();
            prop_assert_eq!(&from_blob, m);
            let borrowed: MovieView<'_> = from_source_named(&view, "Movie", *o).unwrap();
            prop_assert_eq!(borrowed.title, m.title.as_str());
            prop_assert_eq!(borrowed.genres, m.genres.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert_eq!(borrowed.director.map(|d| d.name), m.director.as_ref().map(|d| d.name.as_str()));
        }
    }
}

fn sample() -> Movie {
    Movie {
        id: 7,
        title: "Alien".into(),
        year: 1979,
        rating: 8.5,
        poster: vec![1, 2],
        country: "US".into(),
        genres: vec!["Horror".into(), "Sci-Fi".into()],
        tags: BTreeSet::new(),
        extras: BTreeMap::new(),
        director: Some(Person {
            name: "Scott".into(),
            born: 1937,
        }),
    }
}

#[test]
fn old_and_new_struct_definitions_both_read() {
    let mut b = StateBuilder::new(schema());
    let o = add(&mut b, "Movie", &sample()).unwrap();
    let state = b.finish();
    let old: OldMovie = from_source_named(&state, "Movie", o).unwrap();
    assert_eq!(old, OldMovie { id: 7, year: 1979 });
    let new: NewMovie = from_source_named(&state, "Movie", o).unwrap();
    assert_eq!(
        new,
        NewMovie {
            id: 7,
            sequel_of: None
        }
    );
}

#[test]
fn identical_nested_records_are_stored_once() {
    let mut b = StateBuilder::new(schema());
    let mut other = sample();
    other.id = 8;
    add(&mut b, "Movie", &sample()).unwrap();
    add(&mut b, "Movie", &other).unwrap();
    let state = b.finish();
    let genre_lists = state.schema().type_id("GenreList").unwrap();
    assert_eq!(
        state.len(genre_lists),
        1,
        "both movies share one genre list"
    );
    assert_eq!(state.len(TypeId(0)), 2);
}
