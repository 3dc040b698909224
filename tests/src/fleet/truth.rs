//! What every version holds, computed rather than stored: version `v` of a soak is a fixed
//! base catalog (from the seed) with about `percent`% of its movies changed by a generator
//! seeded from the seed and `v`. The producer publishes it, a restarted producer knows what
//! comes next, and a consumer recomputes the expected record of any key at any version.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{catalog, mutate, Movie, Movies, Rng};

/// New ids a version adds start here (base ids are `0..records`).
pub const FIRST_ADDED_ID: i64 = 1_000_000;

/// Makes the dataset of any version.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    percent: u64,
    base: Arc<Movies>,
}

impl Generator {
    /// The generator of a soak: `records` base movies, `percent`% changed per version.
    pub fn new(seed: u64, records: i64, percent: u64) -> Self {
        Generator {
            seed,
            percent,
            base: Arc::new(catalog(&mut Rng::new(seed), records)),
        }
    }

    /// Every movie of version `v`.
    pub fn dataset(&self, version: u64) -> Movies {
        let mut movies = (*self.base).clone();
        let mut next_id = FIRST_ADDED_ID;
        let mut rng = Rng::new(self.seed.wrapping_mul(0x1_0000_01B3) ^ version);
        mutate(&mut rng, &mut movies, &mut next_id, self.percent);
        movies
    }

    /// Ids a lookup may ask for: every base id and every id a version may add.
    pub fn id_space(&self) -> (i64, i64) {
        let base = self.base.len() as i64;
        (base, base * self.percent as i64 / 100 + 1)
    }
}

/// One version's movies, with their ids in a vector for random picks.
#[derive(Debug)]
pub struct Expected {
    /// Movies by id.
    pub movies: Movies,
    /// The ids of `movies`.
    pub ids: Vec<i64>,
}

impl Expected {
    /// The movie with this id, if the version holds one.
    pub fn get(&self, id: i64) -> Option<&Movie> {
        self.movies.get(&id)
    }
}

/// The expected versions a reader asked for lately.
#[derive(Debug)]
pub struct Truth {
    generator: Generator,
    known: HashMap<u64, Arc<Expected>>,
}

/// Versions kept computed (a reader moves among a few at a time).
const KEPT: usize = 8;

impl Truth {
    /// Expected versions from `generator`.
    pub fn new(generator: Generator) -> Self {
        Truth {
            generator,
            known: HashMap::new(),
        }
    }

    /// What version `v` holds.
    pub fn version(&mut self, v: u64) -> Arc<Expected> {
        if let Some(e) = self.known.get(&v) {
            return e.clone();
        }
        if self.known.len() >= KEPT {
            let oldest = *self.known.keys().min().expect("not empty");
            self.known.remove(&oldest);
        }
        let movies = self.generator.dataset(v);
        let ids = movies.keys().copied().collect();
        let e = Arc::new(Expected { movies, ids });
        self.known.insert(v, e.clone());
        e
    }

    /// The generator.
    pub fn generator(&self) -> &Generator {
        &self.generator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_the_same_whoever_computes_it() {
        let a = Generator::new(3, 200, 5);
        let b = Generator::new(3, 200, 5);
        assert_eq!(a.dataset(17), b.dataset(17));
        assert_ne!(a.dataset(17), a.dataset(18));
    }
}
