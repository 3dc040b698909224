//! A small movie catalog (movies, countries, tag lists, tags) and seeded random changes to
//! it, the same model as the producer's own tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shoal_format::{DataState, FieldKind, Schema, TypeDef, TypeId};
use shoal_producer::{CycleReport, Error, Producer};

/// The root type's id in [`schema`].
pub const MOVIE: TypeId = TypeId(0);

/// A movie, the root record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    /// The primary key.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Release year.
    pub year: i32,
    /// Rating, one decimal.
    pub rating: f64,
    /// Country, shared between movies.
    pub country: Option<Country>,
    /// Tags, shared between movies.
    pub tags: Vec<String>,
}

/// A country, referred to by movies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Country {
    /// ISO code.
    pub code: String,
}

/// Movies by id.
pub type Movies = BTreeMap<i64, Movie>;

/// The catalog's schema.
pub fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .field("rating", FieldKind::F64)
                .reference("country", "Country")
                .reference("tags", "TagList")
                .primary_key(&["id"]),
            TypeDef::object("Country").field("code", FieldKind::String),
            TypeDef::list("TagList", "Tag"),
            TypeDef::object("Tag").field("name", FieldKind::String),
        ])
        .expect("the catalog schema is valid"),
    )
}

/// A small deterministic random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const COUNTRIES: [&str; 6] = ["US", "FR", "JP", "IN", "BR", "DE"];
const TAGS: [&str; 8] = [
    "noir", "heist", "space", "love", "war", "family", "cult", "indie",
];

/// A random movie with this id.
pub fn movie(rng: &mut Rng, id: i64) -> Movie {
    let tags = (0..rng.below(4))
        .map(|_| TAGS[rng.below(TAGS.len() as u64) as usize].to_string())
        .collect();
    Movie {
        id,
        title: format!("Title {id} #{}", rng.below(1000)),
        year: 1950 + rng.below(75) as i32,
        rating: rng.below(100) as f64 / 10.0,
        country: (!rng.chance(10)).then(|| Country {
            code: COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize].to_string(),
        }),
        tags,
    }
}

/// `n` random movies with ids `0..n`.
pub fn catalog(rng: &mut Rng, n: i64) -> Movies {
    (0..n).map(|id| (id, movie(rng, id))).collect()
}

/// Random removes, edits and adds (new ids from `next_id`): about `percent`% of the movies
/// change.
pub fn mutate(rng: &mut Rng, movies: &mut Movies, next_id: &mut i64, percent: u64) {
    let ids: Vec<i64> = movies.keys().copied().collect();
    for id in ids {
        if !rng.chance(percent) {
            continue;
        }
        match rng.below(3) {
            0 => {
                movies.remove(&id);
            }
            1 => {
                let Some(m) = movies.get_mut(&id) else {
                    continue;
                };
                match rng.below(3) {
                    0 => m.rating = rng.below(100) as f64 / 10.0,
                    1 => m.tags.push(TAGS[rng.below(8) as usize].to_string()),
                    _ => m.title.push('!'),
                }
            }
            _ => {
                let id = *next_id;
                *next_id += 1;
                movies.insert(id, movie(rng, id));
            }
        }
    }
}

/// The dataset a producer publishes as `version` in the crash test: 2,000 base movies with
/// about 5% changed, seeded from the version, so a restarted producer knows what comes next
/// and a checker knows what every version holds.
pub fn dataset_of(version: u64) -> Movies {
    let mut movies = catalog(&mut Rng::new(0), 2000);
    let mut next_id = 1_000_000;
    mutate(&mut Rng::new(version), &mut movies, &mut next_id, 5);
    movies
}

/// A full cycle publishing `movies`.
pub async fn full_cycle(
    producer: &mut Producer,
    movies: &Movies,
) -> shoal_producer::Result<CycleReport> {
    let movies = movies.clone();
    producer
        .run_cycle(move |w| {
            for m in movies.values() {
                w.add(m)?;
            }
            Ok::<_, Error>(())
        })
        .await
}

/// The movies a state holds, read back through serde.
pub fn movies_of(state: &DataState) -> Result<Movies, shoal_format::Error> {
    state
        .records(MOVIE)
        .map(|(o, _)| shoal_format::from_source::<Movie, _>(state, MOVIE, o).map(|m| (m.id, m)))
        .collect()
}
