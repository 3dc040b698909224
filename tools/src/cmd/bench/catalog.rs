//! The benchmark catalog of `shared/datasets/gen_catalog.py`, generated in Rust: the same
//! fields, word lists and distributions, from a seeded splitmix64 generator (so the same
//! records on every run and machine, though not the script's exact records: Python draws from
//! a Mersenne Twister).
//!
//! Version 1 holds `records` titles with distinct ids drawn from `1..20 * records`. Version 2
//! walks version 1 in order: a record is removed with probability P/2 %, else edited with
//! probability P % (its rating, title or tags drawn again, one of the three at random), else
//! kept; then as many new titles as were removed are appended with fresh ids. P = 1 is the
//! script's change (1% edited, 0.5% removed, 0.5% added).

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shoal_format::{FieldKind, Schema, TypeDef};

/// One title of the catalog, as in the script's JSON lines (and the producer's input: the
/// country, genre and tag strings become the one-string-field types of the schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    /// The primary key.
    pub id: i64,
    /// One to five words, each capitalised.
    pub title: String,
    /// 1920 to 2026.
    pub year: i32,
    /// 1.0 to 10.0, one decimal.
    pub rating: f64,
    /// 3 to 240.
    pub runtime_min: i32,
    /// One of [`COUNTRIES`].
    pub country: String,
    /// One to three of [`GENRES`], sorted.
    pub genres: Vec<String>,
    /// Zero to six of 400 tags `tag000`..`tag399`, sorted.
    pub tags: Vec<String>,
}

/// The catalog's schema (as in `format/examples/catalog/load.rs`): the strings that repeat
/// (country, genre, tag) are records of their own, and genre and tag lists are list types, so
/// each distinct list is stored once.
pub fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .field("rating", FieldKind::F64)
                .field("runtime_min", FieldKind::I32)
                .reference("country", "Country")
                .reference("genres", "GenreList")
                .reference("tags", "TagList")
                .primary_key(&["id"]),
            TypeDef::object("Country").field("code", FieldKind::String),
            TypeDef::object("Genre").field("name", FieldKind::String),
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::list("GenreList", "Genre"),
            TypeDef::list("TagList", "Tag"),
        ])
        .expect("the catalog schema is valid"),
    )
}

/// The genres.
pub const GENRES: [&str; 22] = [
    "Drama",
    "Comedy",
    "Action",
    "Thriller",
    "Documentary",
    "Horror",
    "Romance",
    "Animation",
    "Crime",
    "Sci-Fi",
    "Fantasy",
    "Family",
    "Mystery",
    "Music",
    "Western",
    "War",
    "History",
    "Sport",
    "Biography",
    "Reality",
    "Anime",
    "Kids",
];

/// The country codes.
pub const COUNTRIES: [&str; 30] = [
    "US", "GB", "FR", "DE", "JP", "KR", "IN", "ES", "IT", "BR", "MX", "CA", "AU", "SE", "DK", "NO",
    "NL", "BE", "PL", "TR", "AR", "CO", "NG", "ZA", "EG", "TH", "PH", "ID", "CN", "TW",
];

/// The words titles are made of (the script's list, duplicates included, so each word is
/// drawn as often as there).
const WORDS: &str = "the of and a to in is you that it he was for on are as with his they at \
    be this from have or by one had not but what all were when we there can an your which \
    their said if do will each about how up out them then she many some so these would other \
    into has more her two like him see time could no make than first been its who now people \
    my made over did down only way find use may water long little very after words called \
    just where most know get through back much before go good new write our used me man too \
    any day same right look think also around another came come work three word must because \
    does part even place well such here take why things help put years different away again \
    off went old number great tell men say small every found still between name should home \
    big give air line set own under read last never us left end along while might next sound \
    below saw something thought both few those always looked show large often together asked \
    house don world going want school important until form food keep children feet land side \
    without boy once animals life enough took sometimes four head above kind began almost \
    live page got earth need far hand high year mother light parts country father let night \
    following picture being study second eyes soon times story boys since white days ever \
    paper hard near sentence better best across during today others however sure means knew \
    its try told young miles sun ways thing whole hear example heard several change answer \
    room sea against top turned learn point city play toward five using himself usually";

/// How many tags there are (`tag000`..`tag399`).
const TAG_COUNT: u64 = 400;

/// The seed of version 1 (the script's).
const SEED_V1: u64 = 20_261_122;
/// The seed of the change to version 2 (the script's).
const SEED_V2: u64 = 7;

/// Both versions of the catalog and what changed between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// Version 1.
    pub v1: Vec<Movie>,
    /// Version 2: version 1 in order, edits in place, removals left out, then the additions.
    pub v2: Vec<Movie>,
    /// Edited records: (position in `v1`, position in `v2`). An edit may draw the value the
    /// record had (as in the script), so a few edited records equal their originals.
    pub edited: Vec<(usize, usize)>,
    /// Positions in `v1` of the removed records.
    pub removed: Vec<usize>,
    /// How many records were added: the last ones of `v2`.
    pub added: usize,
}

/// One direction of the change as a key-value store would apply it: records to insert or
/// replace by id, and ids to remove.
#[derive(Debug, Clone)]
pub struct ChangeSet<'a> {
    /// Records inserted or replaced.
    pub upserts: Vec<&'a Movie>,
    /// Ids removed.
    pub removals: Vec<i64>,
}

impl Catalog {
    /// The added records.
    pub fn added(&self) -> &[Movie] {
        &self.v2[self.v2.len() - self.added..]
    }

    /// From version 1 to version 2: edited and added records upserted, removed ids removed.
    pub fn forward(&self) -> ChangeSet<'_> {
        let edited = self.edited.iter().map(|&(_, j)| &self.v2[j]);
        ChangeSet {
            upserts: edited.chain(self.added()).collect(),
            removals: self.removed.iter().map(|&i| self.v1[i].id).collect(),
        }
    }

    /// From version 2 back to version 1: the originals of edited and removed records
    /// upserted, added ids removed.
    pub fn reverse(&self) -> ChangeSet<'_> {
        let originals = self
            .edited
            .iter()
            .map(|&(i, _)| i)
            .chain(self.removed.iter().copied());
        ChangeSet {
            upserts: originals.map(|i| &self.v1[i]).collect(),
            removals: self.added().iter().map(|m| m.id).collect(),
        }
    }
}

/// Generates version 1 of `records` titles and version 2 with `change_pct` % of them edited,
/// half that removed and as many added. Deterministic: the same arguments give the same
/// catalog.
pub fn generate(records: usize, change_pct: f64) -> Catalog {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let tags: Vec<String> = (0..TAG_COUNT).map(|i| format!("tag{i:03}")).collect();
    let pools = Pools {
        words: &words,
        tags: &tags,
    };
    let id_bound = (records as u64 * 20).max(2);
    let mut rng = Rng::new(SEED_V1);
    let mut used = HashSet::with_capacity(records * 2);
    let ids: Vec<i64> = (0..records)
        .map(|_| fresh_id(&mut rng, &mut used, id_bound))
        .collect();
    let v1: Vec<Movie> = ids
        .into_iter()
        .map(|id| pools.movie(&mut rng, id))
        .collect();
    let mut rng = Rng::new(SEED_V2);
    let p_remove = change_pct / 200.0;
    let p_edit = p_remove + change_pct / 100.0;
    let mut catalog = Catalog {
        v2: Vec::with_capacity(records),
        v1: Vec::new(),
        edited: Vec::new(),
        removed: Vec::new(),
        added: 0,
    };
    for (i, movie) in v1.iter().enumerate() {
        let x = rng.unit();
        if x < p_remove {
            catalog.removed.push(i);
            continue;
        }
        let mut movie = movie.clone();
        if x < p_edit {
            pools.edit(&mut rng, &mut movie);
            catalog.edited.push((i, catalog.v2.len()));
        }
        catalog.v2.push(movie);
    }
    for _ in 0..catalog.removed.len() {
        let id = fresh_id(&mut rng, &mut used, id_bound);
        catalog.v2.push(pools.movie(&mut rng, id));
    }
    catalog.added = catalog.removed.len();
    catalog.v1 = v1;
    catalog
}

/// An id in `1..bound` not in `used` (then in it).
fn fresh_id(rng: &mut Rng, used: &mut HashSet<i64>, bound: u64) -> i64 {
    loop {
        let id = 1 + rng.below(bound - 1) as i64;
        if used.insert(id) {
            return id;
        }
    }
}

/// The lists records draw from.
struct Pools<'a> {
    words: &'a [&'a str],
    tags: &'a [String],
}

impl Pools<'_> {
    fn movie(&self, rng: &mut Rng, id: i64) -> Movie {
        let title = self.title(rng);
        let year = rng.between(1920, 2026) as i32;
        let rating = rating(rng);
        let runtime_min = rng.between(3, 240) as i32;
        let country = rng.choose(&COUNTRIES).to_string();
        let genre_count = rng.between(1, 3) as usize;
        let genres = sorted_sample(rng, &GENRES, genre_count);
        let tags = self.tags(rng);
        Movie {
            id,
            title,
            year,
            rating,
            runtime_min,
            country,
            genres,
            tags,
        }
    }

    /// Draws again one of the rating, the title or the tags.
    fn edit(&self, rng: &mut Rng, movie: &mut Movie) {
        match rng.below(3) {
            0 => movie.rating = rating(rng),
            1 => movie.title = self.title(rng),
            _ => movie.tags = self.tags(rng),
        }
    }

    /// One to five words, each capitalised (Python's `str.title()` on lowercase words).
    fn title(&self, rng: &mut Rng) -> String {
        let count = rng.between(1, 5);
        let mut title = String::new();
        for i in 0..count {
            if i > 0 {
                title.push(' ');
            }
            let word = rng.choose(self.words);
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                title.extend(first.to_uppercase());
                title.push_str(chars.as_str());
            }
        }
        title
    }

    fn tags(&self, rng: &mut Rng) -> Vec<String> {
        let count = rng.between(0, 6) as usize;
        sorted_sample(rng, self.tags, count)
    }
}

/// Uniform in [1.0, 10.0], rounded to one decimal.
fn rating(rng: &mut Rng) -> f64 {
    ((1.0 + 9.0 * rng.unit()) * 10.0).round() / 10.0
}

/// `k` distinct elements of `pool`, sorted (Python's `sorted(random.sample(pool, k))`).
fn sorted_sample<S: AsRef<str>>(rng: &mut Rng, pool: &[S], k: usize) -> Vec<String> {
    let mut picked: Vec<usize> = Vec::with_capacity(k);
    while picked.len() < k.min(pool.len()) {
        let i = rng.below(pool.len() as u64) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    let mut out: Vec<String> = picked
        .iter()
        .map(|&i| pool[i].as_ref().to_string())
        .collect();
    out.sort_unstable();
    out
}

/// splitmix64: small, fast, and good enough to draw benchmark data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias, below n / 2^64, is immaterial here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in [0, 1), 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn ids_are_unique(movies: &[Movie]) -> bool {
        let ids: HashSet<i64> = movies.iter().map(|m| m.id).collect();
        ids.len() == movies.len()
    }

    #[test]
    fn the_same_arguments_give_the_same_catalog() {
        assert_eq!(generate(3000, 1.0), generate(3000, 1.0));
        assert_ne!(generate(3000, 1.0).v1, generate(3001, 1.0).v1);
    }

    #[test]
    fn ids_are_unique_in_both_versions() {
        let c = generate(20_000, 5.0);
        assert!(ids_are_unique(&c.v1));
        assert!(ids_are_unique(&c.v2));
        assert!(c.v1.iter().all(|m| (1..400_000).contains(&m.id)));
    }

    #[test]
    fn fields_follow_the_script_distributions() {
        let c = generate(20_000, 1.0);
        for m in &c.v1 {
            assert!((1920..=2026).contains(&m.year));
            assert!((3..=240).contains(&m.runtime_min));
            assert!((1.0..=10.0).contains(&m.rating));
            assert_eq!((m.rating * 10.0).round() / 10.0, m.rating);
            assert!(COUNTRIES.contains(&m.country.as_str()));
            assert!((1..=3).contains(&m.genres.len()));
            assert!(m.genres.is_sorted() && m.tags.is_sorted());
            assert!(m.genres.iter().all(|g| GENRES.contains(&g.as_str())));
            assert!(m.tags.len() <= 6);
            assert!(m.tags.iter().all(|t| t.len() == 6 && t.starts_with("tag")));
            let words = m.title.split(' ').count();
            assert!((1..=5).contains(&words), "{}", m.title);
            assert!(m
                .title
                .split(' ')
                .all(|w| w.starts_with(char::is_uppercase)));
        }
        let empty_tags = c.v1.iter().filter(|m| m.tags.is_empty()).count();
        let expected = c.v1.len() / 7;
        assert!(empty_tags.abs_diff(expected) < expected / 5, "{empty_tags}");
    }

    /// Counts edited (same id, other content), removed and added records between versions.
    fn difference(c: &Catalog) -> (usize, usize, usize) {
        let before: HashMap<i64, &Movie> = c.v1.iter().map(|m| (m.id, m)).collect();
        let after: HashMap<i64, &Movie> = c.v2.iter().map(|m| (m.id, m)).collect();
        let edited = after
            .iter()
            .filter(|(id, m)| before.get(id).is_some_and(|b| b != *m))
            .count();
        let removed = before.keys().filter(|id| !after.contains_key(id)).count();
        let added = after.keys().filter(|id| !before.contains_key(id)).count();
        (edited, removed, added)
    }

    #[test]
    fn version_2_changes_the_requested_proportions() {
        let n = 50_000;
        for pct in [1.0, 10.0] {
            let c = generate(n, pct);
            let (edited, removed, added) = difference(&c);
            let want_edited = n as f64 * pct / 100.0;
            let want_removed = want_edited / 2.0;
            let near = |got: usize, want: f64| (got as f64 - want).abs() < want * 0.15;
            assert!(near(edited, want_edited), "{pct}%: {edited} edited");
            assert!(near(removed, want_removed), "{pct}%: {removed} removed");
            assert_eq!(added, removed);
            assert_eq!(c.v2.len(), c.v1.len());
            // The recorded change is the real one (a few edits draw the old value again).
            assert_eq!(c.removed.len(), removed);
            assert_eq!(c.added, added);
            assert!(c.edited.len() >= edited && c.edited.len() - edited < edited / 20 + 5);
        }
    }

    #[test]
    fn change_sets_lead_from_one_version_to_the_other() {
        let c = generate(5000, 4.0);
        let apply = |from: &[Movie], change: ChangeSet<'_>| {
            let mut map: HashMap<i64, Movie> = from.iter().map(|m| (m.id, m.clone())).collect();
            for m in change.upserts {
                map.insert(m.id, m.clone());
            }
            for id in change.removals {
                map.remove(&id);
            }
            map
        };
        let by_id =
            |v: &[Movie]| -> HashMap<i64, Movie> { v.iter().map(|m| (m.id, m.clone())).collect() };
        assert_eq!(apply(&c.v1, c.forward()), by_id(&c.v2));
        assert_eq!(apply(&c.v2, c.reverse()), by_id(&c.v1));
    }

    #[test]
    fn no_change_leaves_version_2_equal_to_version_1() {
        let c = generate(2000, 0.0);
        assert_eq!(c.v1, c.v2);
        assert!(c.edited.is_empty() && c.removed.is_empty() && c.added == 0);
    }
}
