//! The benchmark catalog of `../shared/datasets/gen_catalog.py`: generate it, read its JSON
//! lines, and turn each version into a [`DataState`] the way a producer would (unchanged
//! movies keep their ordinal, an edited movie is replaced in place, a removed one frees its
//! slot, a new one is appended; nested records are deduplicated, unreferenced ones dropped).
//! Shared by the `catalog` example and the format benchmarks.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shoal_format::{DataState, FieldKind, Ordinal, Record, Schema, TypeDef, TypeId, Value};

/// One title of the catalog, as in the JSON lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    pub id: i64,
    pub title: String,
    pub year: i32,
    pub rating: f64,
    pub runtime_min: i32,
    pub country: String,
    pub genres: Vec<String>,
    pub tags: Vec<String>,
}

pub const MOVIE: TypeId = TypeId(0);
pub const COUNTRY: TypeId = TypeId(1);
pub const GENRE: TypeId = TypeId(2);
pub const TAG: TypeId = TypeId(3);
pub const GENRES: TypeId = TypeId(4);
pub const TAGS: TypeId = TypeId(5);

/// The catalog schema: strings that repeat (country, genre, tag) are records of their own,
/// genre and tag lists are list types, so identical lists are stored once.
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

/// The folder holding `v1.jsonl` and `v2.jsonl` for `n` records, generated on first use.
pub fn ensure_catalog(n: usize) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target"));
    let dir = target.join(format!("catalog-{n}"));
    if dir.join("v2.jsonl").exists() {
        return dir;
    }
    let script = manifest.join("../../shared/datasets/gen_catalog.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(n.to_string())
        .arg(&dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    assert!(status.success(), "{} failed", script.display());
    dir
}

/// Reads a JSON lines file of movies.
pub fn read_movies(path: &Path) -> Vec<Movie> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::io::BufReader::new(file)
        .lines()
        .map(|line| serde_json::from_str(&line.expect("readable")).expect("a movie"))
        .collect()
}

/// A catalog version under construction, remembering how to reach every record.
#[derive(Clone)]
pub struct Catalog {
    pub state: DataState,
    intern: Vec<HashMap<Record, Ordinal>>,
    next: Vec<u32>,
    by_id: HashMap<i64, Ordinal>,
}

impl Catalog {
    /// Version 1: every movie appended in file order.
    pub fn first(movies: &[Movie]) -> Self {
        let schema = schema();
        let n = schema.type_count();
        let mut c = Catalog {
            state: DataState::new(schema),
            intern: vec![HashMap::new(); n],
            next: vec![0; n],
            by_id: HashMap::with_capacity(movies.len()),
        };
        for m in movies {
            let r = c.movie_record(m);
            c.append_movie(m.id, r);
        }
        c
    }

    /// The next version from the whole new dataset, as a producer would build it.
    pub fn next(&self, movies: &[Movie]) -> Self {
        let mut c = self.clone();
        let mut seen = HashSet::with_capacity(movies.len());
        for m in movies {
            seen.insert(m.id);
            let r = c.movie_record(m);
            match c.by_id.get(&m.id).copied() {
                Some(o) if c.state.get(MOVIE, o) == Some(&r) => {}
                Some(o) => {
                    c.state.insert(MOVIE, o, r).expect("a movie fits");
                }
                None => c.append_movie(m.id, r),
            }
        }
        let gone: Vec<(i64, Ordinal)> = c
            .by_id
            .iter()
            .filter(|(id, _)| !seen.contains(id))
            .map(|(id, o)| (*id, *o))
            .collect();
        for (id, o) in gone {
            c.state.remove(MOVIE, o);
            c.by_id.remove(&id);
        }
        c.drop_unreferenced();
        c
    }

    fn append_movie(&mut self, id: i64, r: Record) {
        let o = Ordinal(self.next[MOVIE.index()]);
        self.next[MOVIE.index()] += 1;
        self.state.insert(MOVIE, o, r).expect("a movie fits");
        self.by_id.insert(id, o);
    }

    fn intern(&mut self, ty: TypeId, r: Record) -> Ordinal {
        if let Some(o) = self.intern[ty.index()].get(&r) {
            return *o;
        }
        let o = Ordinal(self.next[ty.index()]);
        self.next[ty.index()] += 1;
        self.intern[ty.index()].insert(r.clone(), o);
        self.state.insert(ty, o, r).expect("a record fits");
        o
    }

    fn name(&mut self, ty: TypeId, s: &str) -> Ordinal {
        self.intern(ty, Record::Object(vec![Value::String(s.into())]))
    }

    pub fn movie_record(&mut self, m: &Movie) -> Record {
        let country = self.name(COUNTRY, &m.country);
        let genres: Vec<Ordinal> = m.genres.iter().map(|g| self.name(GENRE, g)).collect();
        let tags: Vec<Ordinal> = m.tags.iter().map(|t| self.name(TAG, t)).collect();
        let genres = self.intern(GENRES, Record::List(genres));
        let tags = self.intern(TAGS, Record::List(tags));
        Record::Object(vec![
            Value::I64(m.id),
            Value::String(m.title.as_str().into()),
            Value::I32(m.year),
            Value::F64(m.rating),
            Value::I32(m.runtime_min),
            Value::Ref(country),
            Value::Ref(genres),
            Value::Ref(tags),
        ])
    }

    /// Removes nested records no movie reaches any more.
    fn drop_unreferenced(&mut self) {
        let mut used: Vec<HashSet<Ordinal>> = vec![HashSet::new(); self.intern.len()];
        for (_, r) in self.state.records(MOVIE) {
            if let Record::Object(v) = r {
                for (ty, at) in [(COUNTRY, 5), (GENRES, 6), (TAGS, 7)] {
                    if let Value::Ref(o) = v[at] {
                        used[ty.index()].insert(o);
                    }
                }
            }
        }
        for (list, element) in [(GENRES, GENRE), (TAGS, TAG)] {
            for o in used[list.index()].clone() {
                if let Some(Record::List(e)) = self.state.get(list, o) {
                    used[element.index()].extend(e.iter().copied());
                }
            }
        }
        for ty in [COUNTRY, GENRE, TAG, GENRES, TAGS] {
            let unused: Vec<(Record, Ordinal)> = self.intern[ty.index()]
                .iter()
                .filter(|(_, o)| !used[ty.index()].contains(o))
                .map(|(r, o)| (r.clone(), *o))
                .collect();
            for (r, o) in unused {
                self.intern[ty.index()].remove(&r);
                self.state.remove(ty, o);
            }
        }
    }
}
