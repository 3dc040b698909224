//! Shared by the producer's tests and the consumer's (included by path): a small movie catalog,
//! random changes, and checks that what a store holds decodes to what the producer published.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use shoal_format::{DataState, DeltaView, FieldKind, Schema, SnapshotView, TypeDef, Version};
use shoal_store::{BlobName, BlobStore, FsStore};

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Movie {
    pub id: i64,
    pub title: String,
    pub year: i32,
    pub rating: f64,
    pub country: Option<Country>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Country {
    pub code: String,
}

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
        .unwrap(),
    )
}

/// A small deterministic random generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const COUNTRIES: [&str; 6] = ["US", "FR", "JP", "IN", "BR", "DE"];
const TAGS: [&str; 8] = [
    "noir", "heist", "space", "love", "war", "family", "cult", "indie",
];

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

/// A catalog of movies by id.
pub fn catalog(rng: &mut Rng, n: i64) -> BTreeMap<i64, Movie> {
    (0..n).map(|id| (id, movie(rng, id))).collect()
}

/// Random adds, removes and edits: about `percent`% of the records change.
pub fn mutate(rng: &mut Rng, movies: &mut BTreeMap<i64, Movie>, next_id: &mut i64, percent: u64) {
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
                let m = movies.get_mut(&id).unwrap();
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

/// One full cycle publishing `movies` (the cycle runs off the runtime, so its closure owns
/// a copy).
pub async fn publish(
    producer: &mut shoal_producer::Producer,
    movies: &BTreeMap<i64, Movie>,
) -> shoal_producer::Result<shoal_producer::CycleReport> {
    let movies = movies.clone();
    producer
        .run_cycle(move |w| {
            for m in movies.values() {
                w.add(m)?;
            }
            Ok::<_, shoal_producer::Error>(())
        })
        .await
}

pub fn fs_store(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    Arc::new(FsStore::new(dir).unwrap())
}

/// A blob's plain bytes (unpacked when the store keeps it packed).
pub async fn plain(store: &dyn BlobStore, key: &str) -> bytes::Bytes {
    let stored = store.get(key).await.unwrap();
    shoal_store::packing::unpack(stored, &store.location(), key).unwrap()
}

pub async fn snapshot_state(store: &dyn BlobStore, v: Version) -> DataState {
    let bytes = plain(store, &BlobName::Snapshot(v).key()).await;
    let view = SnapshotView::open(bytes).unwrap();
    view.verify().unwrap();
    assert_eq!(view.layout().header.to, v);
    view.to_state().unwrap()
}

pub async fn apply(store: &dyn BlobStore, name: BlobName, state: &DataState) -> DataState {
    let bytes = plain(store, &name.key()).await;
    let view = DeltaView::open(bytes).unwrap();
    view.verify().unwrap();
    view.apply(state).unwrap()
}
