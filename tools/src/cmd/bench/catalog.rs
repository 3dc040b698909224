//! The benchmark catalog of `shared/datasets/gen_catalog.py`, generated in Rust by the one
//! generator the producer's `catalog` example streams from (`format/examples/catalog/gen.rs`,
//! included here): the same fields, word lists and distributions, the same records on every
//! run and machine (though not the script's exact records: Python draws from a Mersenne
//! Twister). This module holds both versions and what changed, as `shoal bench` needs.
//!
//! Version 1 holds `records` titles with distinct ids in `1..20 * records`. Version 2 walks
//! version 1 in order: a record is removed with probability P/2 %, else edited with
//! probability P % (its rating, title or tags drawn again, one of the three at random), else
//! kept; then as many new titles as were removed are appended with fresh ids. P = 1 is the
//! script's change (1% edited, 0.5% removed, 0.5% added).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shoal_format::{FieldKind, Schema, TypeDef};

#[path = "../../../../format/examples/catalog/gen.rs"]
mod gen;

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
    /// One of the catalog's 30 country codes.
    pub country: String,
    /// One to three of the catalog's 22 genres, sorted.
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
    let slots: Vec<u64> = gen::slots(records as u64).collect();
    let v1: Vec<Movie> = slots.iter().map(|&s| gen::record(s)).collect();
    let mut catalog = Catalog {
        v2: Vec::with_capacity(records),
        v1: Vec::new(),
        edited: Vec::new(),
        removed: Vec::new(),
        added: 0,
    };
    for (i, (&s, movie)) in slots.iter().zip(&v1).enumerate() {
        match gen::change(s, change_pct) {
            gen::Change::Remove => catalog.removed.push(i),
            gen::Change::Keep => catalog.v2.push(movie.clone()),
            gen::Change::Edit => {
                catalog.edited.push((i, catalog.v2.len()));
                catalog.v2.push(gen::edit(s, movie.clone()));
            }
        }
    }
    let added: Vec<Movie> = catalog
        .removed
        .iter()
        .map(|&i| gen::added(slots[i]))
        .collect();
    catalog.added = added.len();
    catalog.v2.extend(added);
    catalog.v1 = v1;
    catalog
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::gen::{COUNTRIES, GENRES};
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
