//! The baseline side of `shoal bench`: the catalog as JSON lines, loaded with serde_json into
//! a `HashMap<u64, Movie>`, as a service without shoal would hold it.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use super::catalog::{ChangeSet, Movie};
use super::Lookups;
use crate::error::{CliError, Result};

/// The catalog held by key.
pub type Map = HashMap<u64, Movie>;

/// `movies` as JSON lines.
pub fn serialise(movies: &[Movie]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(200 * movies.len());
    for m in movies {
        serde_json::to_writer(&mut out, m)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Serialises `movies` `reps` times; returns the times and the JSON lines.
pub fn serialise_timed(movies: &[Movie], reps: usize) -> Result<(Vec<Duration>, Vec<u8>)> {
    let mut times = Vec::with_capacity(reps);
    let mut lines = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        lines = serialise(movies)?;
        times.push(start.elapsed());
    }
    Ok((times, lines))
}

/// One direction of a change as JSON: the upserted records as JSON lines, then the removed
/// ids as one JSON array.
#[derive(Debug)]
pub struct ChangeJson {
    /// Records inserted or replaced, one JSON object per line.
    pub upserts: Vec<u8>,
    /// Ids removed: `[12,345,...]`.
    pub removals: Vec<u8>,
}

impl ChangeJson {
    /// Serialises `change`.
    pub fn new(change: &ChangeSet<'_>) -> Result<Self> {
        let mut upserts = Vec::new();
        for m in &change.upserts {
            serde_json::to_writer(&mut upserts, m)?;
            upserts.push(b'\n');
        }
        Ok(ChangeJson {
            upserts,
            removals: serde_json::to_vec(&change.removals)?,
        })
    }

    /// Its bytes.
    pub fn len(&self) -> u64 {
        (self.upserts.len() + self.removals.len()) as u64
    }
}

/// The movies of JSON lines, parsed one by one.
fn movies(lines: &[u8]) -> impl Iterator<Item = Result<Movie>> + '_ {
    lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Ok(serde_json::from_slice(l)?))
}

/// Parses JSON lines of movies into a map by id.
pub fn parse(lines: &[u8]) -> Result<Map> {
    movies(lines).map(|m| m.map(|m| (m.id as u64, m))).collect()
}

/// Reads the JSON lines file `path` and parses it into a map.
pub fn load(path: &Path) -> Result<Map> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::fail(format!("cannot read {}: {e}", path.display())))?;
    parse(&bytes)
}

/// Loads `path` `reps` times (reading the file and parsing it); returns the times and the
/// last map.
pub fn load_timed(path: &Path, reps: usize) -> Result<(Vec<Duration>, Map)> {
    let mut times = Vec::with_capacity(reps);
    let mut map = Map::new();
    for _ in 0..reps {
        drop(map);
        let start = Instant::now();
        map = load(path)?;
        times.push(start.elapsed());
    }
    Ok((times, map))
}

/// Gets every key and reads its rating, `rounds` times.
pub fn lookups(map: &Map, keys: &[i64], rounds: usize) -> Lookups {
    let lookup = |k: i64| map.get(&(k as u64)).map(|m| m.rating);
    let found = keys.iter().filter(|k| lookup(**k).is_some()).count();
    let ns = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let sum: f64 = keys.iter().map(|k| lookup(*k).unwrap_or(0.0)).sum();
            black_box(sum);
            start.elapsed().as_nanos() as f64 / keys.len().max(1) as f64
        })
        .collect();
    Lookups { ns, found }
}

/// Applies `forward` to `map` `reps` times, in place: parses the upserted lines and inserts
/// each record, parses the removed ids and removes each. Between repetitions (not timed) the
/// map goes back with `reverse`. Returns the times and the map's length after the change.
pub fn apply_timed(
    map: &mut Map,
    forward: &ChangeJson,
    reverse: &ChangeSet<'_>,
    reps: usize,
) -> Result<(Vec<Duration>, u64)> {
    let mut times = Vec::with_capacity(reps);
    let mut records = 0;
    for _ in 0..reps {
        let start = Instant::now();
        apply(map, forward)?;
        times.push(start.elapsed());
        records = map.len() as u64;
        restore(map, reverse);
    }
    Ok((times, records))
}

fn apply(map: &mut Map, change: &ChangeJson) -> Result<()> {
    for m in movies(&change.upserts) {
        let m = m?;
        map.insert(m.id as u64, m);
    }
    let removals: Vec<i64> = serde_json::from_slice(&change.removals)?;
    for id in removals {
        map.remove(&(id as u64));
    }
    Ok(())
}

fn restore(map: &mut Map, reverse: &ChangeSet<'_>) {
    for m in &reverse.upserts {
        map.insert(m.id as u64, (*m).clone());
    }
    for id in &reverse.removals {
        map.remove(&(*id as u64));
    }
}
