//! Serde round trips over a catalog-like schema: whatever `ser::add` writes into a
//! `StateBuilder`, `de::from_source` reads back equal, into owned structs and into structs that
//! borrow from the state; older and newer struct definitions read the same records; identical
//! nested records are stored once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use shoal_format::{
    add, from_source, from_source_named, DataState, FieldKind, FieldValue, Ordinal, RecordSource,
    Schema, StateBuilder, TypeDef, TypeId,
};

fn schema() -> Arc<Schema> {
    let types = vec![
        TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String)
            .field("year", FieldKind::I32)
            .field("rating", FieldKind::F64)
            .field("runtime", FieldKind::I32)
            .reference("country", "Country")
            .reference("genres", "GenreList")
            .reference("tags", "TagSet")
            .reference("extras", "Props")
            .field("poster", FieldKind::Bytes)
            .reference("director", "Person")
            .primary_key(&["id"]),
        TypeDef::object("Country")
            .field("code", FieldKind::String)
            .field("name", FieldKind::String),
        TypeDef::list("GenreList", "Genre"),
        TypeDef::object("Genre").field("name", FieldKind::String),
        TypeDef::set("TagSet", "Tag"),
        TypeDef::object("Tag").field("name", FieldKind::String),
        TypeDef::map("Props", "Tag", "Tag"),
        TypeDef::object("Person")
            .field("name", FieldKind::String)
            .field("born", FieldKind::I32),
    ];
    Arc::new(Schema::new(types).expect("valid schema"))
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Movie {
    id: i64,
    title: String,
    year: i32,
    rating: f64,
    runtime: u16,
    country: Country,
    genres: Vec<String>,
    tags: BTreeSet<String>,
    extras: BTreeMap<String, String>,
    poster: Vec<u8>,
    director: Option<Person>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Country {
    code: String,
    name: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Person {
    name: String,
    born: i32,
}

/// The same movie, borrowing every string and byte string from where the records live.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct MovieView<'a> {
    id: i64,
    title: &'a str,
    year: i32,
    rating: f64,
    runtime: u16,
    #[serde(borrow)]
    country: CountryView<'a>,
    #[serde(borrow)]
    genres: Vec<&'a str>,
    #[serde(borrow)]
    tags: BTreeSet<&'a str>,
    #[serde(borrow)]
    extras: BTreeMap<&'a str, &'a str>,
    #[serde(with = "borrowed_bytes")]
    poster: &'a [u8],
    #[serde(borrow)]
    director: Option<PersonView<'a>>,
}

/// Writes a byte slice as a sequence of `u8`, as `Vec<u8>` does, so a view and an owned
/// movie serialize alike; reads it borrowed.
mod borrowed_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(bytes.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        <&[u8]>::deserialize(d)
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct CountryView<'a> {
    code: &'a str,
    name: &'a str,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct PersonView<'a> {
    name: &'a str,
    born: i32,
}

impl MovieView<'_> {
    fn to_owned(&self) -> Movie {
        let owned = |s: &&str| s.to_string();
        Movie {
            id: self.id,
            title: self.title.into(),
            year: self.year,
            rating: self.rating,
            runtime: self.runtime,
            country: Country {
                code: self.country.code.into(),
                name: self.country.name.into(),
            },
            genres: self.genres.iter().map(owned).collect(),
            tags: self.tags.iter().map(owned).collect(),
            extras: self
                .extras
                .iter()
                .map(|(k, v)| (owned(k), owned(v)))
                .collect(),
            poster: self.poster.to_vec(),
            director: self.director.as_ref().map(|p| Person {
                name: p.name.into(),
                born: p.born,
            }),
        }
    }
}

fn movie_type(state: &DataState) -> TypeId {
    state.schema().type_id("Movie").expect("Movie type")
}

/// Adds every movie with `ser::add` and returns the finished state and the ordinals.
fn write<T: Serialize>(movies: &[T]) -> (DataState, Vec<Ordinal>) {
    let mut builder = StateBuilder::new(schema());
    let ordinals = movies
        .iter()
        .map(|m| add(&mut builder, "Movie", m).expect("movie fits the schema"))
        .collect();
    (builder.finish(), ordinals)
}

fn alien() -> Movie {
    Movie {
        id: 1,
        title: "Alien".into(),
        year: 1979,
        rating: 8.5,
        runtime: 117,
        country: Country {
            code: "GB".into(),
            name: "United Kingdom".into(),
        },
        genres: vec!["Horror".into(), "Sci-Fi".into()],
        tags: ["space".into(), "crew".into()].into(),
        extras: [(
            "tagline".into(),
            "In space no one can hear you scream".into(),
        )]
        .into(),
        poster: vec![0x89, b'P', b'N', b'G'],
        director: Some(Person {
            name: "Ridley Scott".into(),
            born: 1937,
        }),
    }
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Drama", "Horror", "Sci-Fi", "Comedy", "Noir", "été", "",
    ])
    .prop_map(String::from)
}

fn country() -> impl Strategy<Value = Country> {
    (word(), ".{0,12}").prop_map(|(code, name)| Country { code, name })
}

fn person() -> impl Strategy<Value = Person> {
    (".{0,12}", any::<i32>()).prop_map(|(name, born)| Person { name, born })
}

fn movie() -> impl Strategy<Value = Movie> {
    (
        any::<i64>(),
        ".{0,20}",
        any::<i32>(),
        any::<f64>().prop_filter("NaN never equals itself", |r| !r.is_nan()),
        any::<u16>(),
        country(),
        prop::collection::vec(word(), 0..4),
        prop::collection::btree_set(word(), 0..4),
        prop::collection::btree_map(word(), ".{0,8}", 0..3),
        prop::collection::vec(any::<u8>(), 0..16),
        prop::option::of(person()),
    )
        .prop_map(
            |(
                id,
                title,
                year,
                rating,
                runtime,
                country,
                genres,
                tags,
                extras,
                poster,
                director,
            )| {
                Movie {
                    id,
                    title,
                    year,
                    rating,
                    runtime,
                    country,
                    genres,
                    tags,
                    extras,
                    poster,
                    director,
                }
            },
        )
}

proptest! {
    #[test]
    fn movies_read_back_equal_owned_and_borrowed(movies in prop::collection::vec(movie(), 1..6)) {
        let (state, ordinals) = write(&movies);
        prop_assert!(state.check_references().is_ok());
        let ty = movie_type(&state);
        for (movie, &ordinal) in movies.iter().zip(&ordinals) {
            let owned: Movie = from_source(&state, ty, ordinal).expect("owned read");
            prop_assert_eq!(&owned, movie);
            let view: MovieView<'_> = from_source(&state, ty, ordinal).expect("borrowed read");
            prop_assert_eq!(&view.to_owned(), movie);
        }
    }

    #[test]
    fn views_written_again_rebuild_the_same_state(movies in prop::collection::vec(movie(), 1..6)) {
        let (state, ordinals) = write(&movies);
        let ty = movie_type(&state);
        let views: Vec<MovieView<'_>> = ordinals
            .iter()
            .map(|&o| from_source(&state, ty, o).expect("borrowed read"))
            .collect();
        let (again, again_ordinals) = write(&views);
        prop_assert_eq!(again_ordinals, ordinals);
        prop_assert_eq!(again, state);
    }
}

#[test]
fn an_older_struct_reads_newer_records() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct MovieV1<'a> {
        id: i64,
        title: &'a str,
        #[serde(borrow)]
        director: Option<PersonV1<'a>>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct PersonV1<'a> {
        name: &'a str,
    }
    let (state, ordinals) = write(&[alien()]);
    let old: MovieV1<'_> = from_source(&state, movie_type(&state), ordinals[0]).unwrap();
    let expected = MovieV1 {
        id: 1,
        title: "Alien",
        director: Some(PersonV1 {
            name: "Ridley Scott",
        }),
    };
    assert_eq!(old, expected);
}

#[test]
fn a_newer_struct_reads_fields_the_schema_lacks_as_none() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct MovieV3<'a> {
        id: i64,
        title: &'a str,
        #[serde(borrow)]
        genres: Vec<&'a str>,
        #[serde(borrow)]
        sequel: Option<&'a str>,
        box_office: Option<i64>,
        #[serde(borrow)]
        director: Option<PersonV3<'a>>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct PersonV3<'a> {
        name: &'a str,
        died: Option<i32>,
    }
    let (state, ordinals) = write(&[alien()]);
    let newer: MovieV3<'_> = from_source(&state, movie_type(&state), ordinals[0]).unwrap();
    let expected = MovieV3 {
        id: 1,
        title: "Alien",
        genres: vec!["Horror", "Sci-Fi"],
        sequel: None,
        box_office: None,
        director: Some(PersonV3 {
            name: "Ridley Scott",
            died: None,
        }),
    };
    assert_eq!(newer, expected);
}

#[test]
fn identical_nested_records_are_stored_once() {
    let mut sequel = alien();
    sequel.id = 2;
    sequel.title = "Aliens".into();
    sequel.year = 1986;
    let (state, ordinals) = write(&[alien(), sequel]);
    assert_ne!(ordinals[0], ordinals[1]);
    let ty = movie_type(&state);
    let schema = state.schema().clone();
    let genres = schema.field_id(ty, "genres").unwrap();
    let first = state.field(ty, genres, ordinals[0]).unwrap();
    let second = state.field(ty, genres, ordinals[1]).unwrap();
    assert!(matches!(first, FieldValue::Ref(_)));
    assert_eq!(first, second, "both movies refer to one genre list");
    for (name, count) in [
        ("GenreList", 1),
        ("Genre", 2),
        ("Country", 1),
        ("Person", 1),
    ] {
        assert_eq!(state.len(schema.type_id(name).unwrap()), count, "{name}");
    }
}

#[test]
fn json_values_fill_the_same_records_as_structs() {
    let movie = alien();
    let json = serde_json::to_value(&movie).unwrap();
    let mut builder = StateBuilder::new(schema());
    let from_struct = add(&mut builder, "Movie", &movie).unwrap();
    let from_json = add(&mut builder, "Movie", &json).unwrap();
    assert_eq!(from_struct, from_json);
    let state = builder.finish();
    let back: Movie = from_source_named(&state, "Movie", from_json).unwrap();
    assert_eq!(back, movie);
}

#[test]
fn reads_through_a_dyn_record_source() {
    let (state, ordinals) = write(&[alien()]);
    let source: &dyn RecordSource = &state;
    let view: MovieView<'_> = from_source_named(source, "Movie", ordinals[0]).unwrap();
    assert_eq!(view.to_owned(), alien());
}
