//! The shoal side of `shoal bench`: producer cycles into a folder store, consumer start-up
//! from cached blobs, primary-key lookups, and applying the delta.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_consumer::{Consumer, Dataset};
use shoal_format::{DeltaView, FieldValue, Version};
use shoal_producer::{CycleReport, Producer};
use shoal_store::FsStore;

use super::catalog::{self, Catalog, Movie};
use super::Lookups;
use crate::error::{CliError, Result};

/// What the producer published, and how long its cycles took.
#[derive(Debug)]
pub struct Published {
    /// The first cycle (version 1: snapshot), once per repetition.
    pub cycle_v1: Vec<Duration>,
    /// The next cycle (version 2: snapshot, delta and reverse delta), once per repetition.
    pub cycle_v2: Vec<Duration>,
    /// The version holding the catalog's version 1.
    pub v1: Version,
    /// The version holding the catalog's version 2.
    pub v2: Version,
    /// Bytes of the snapshot of `v1`.
    pub snapshot_v1: u64,
    /// Bytes of the delta `v1` -> `v2`.
    pub delta: u64,
    /// Bytes of the reverse delta `v2` -> `v1`.
    pub reverse: u64,
    /// Movies the producer found changed in place, added and removed by the second cycle.
    pub movies: MovieChange,
}

/// How the producer saw the change to the `Movie` type.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MovieChange {
    /// Replaced in place (same primary key, other content).
    pub changed: u64,
    /// New keys.
    pub added: u64,
    /// Keys gone.
    pub removed: u64,
}

/// Runs both cycles `reps` times, each time with a new producer on an empty folder store:
/// the first repetition publishes into `store`, the others into folders under `scratch`,
/// removed after. The records are in memory: a cycle is the time of `run_cycle` (matching,
/// placing, checking, encoding, writing the blobs and the announcement).
pub async fn produce(
    catalog: &Catalog,
    store: &Path,
    scratch: &Path,
    reps: usize,
) -> Result<Published> {
    let mut cycle_v1 = Vec::with_capacity(reps);
    let mut cycle_v2 = Vec::with_capacity(reps);
    let mut reports = None;
    // Shared with each cycle's blocking thread (one copy for all repetitions).
    let (v1, v2): (Arc<[Movie]>, Arc<[Movie]>) =
        (catalog.v1.as_slice().into(), catalog.v2.as_slice().into());
    for rep in 0..reps {
        let dir = match rep {
            0 => store.to_path_buf(),
            _ => scratch.join(format!("cycle-{rep}")),
        };
        let mut producer = producer(&dir).await?;
        let (t1, r1) = timed_cycle(&mut producer, &v1).await?;
        let (t2, r2) = timed_cycle(&mut producer, &v2).await?;
        producer.close().await?;
        cycle_v1.push(t1);
        cycle_v2.push(t2);
        if rep == 0 {
            reports = Some((r1, r2));
        } else {
            remove_dir(&dir)?;
        }
    }
    let (r1, r2) = reports.ok_or_else(|| CliError::fail("no producer cycle ran"))?;
    published(cycle_v1, cycle_v2, &r1, &r2)
}

async fn producer(dir: &Path) -> Result<Producer> {
    let store = Arc::new(FsStore::new(dir)?);
    Ok(Producer::builder(store)
        .schema(catalog::schema())
        .root_type("Movie")
        // The bench's change is chosen (--change), not a failed upstream job.
        .max_removal(None)
        .build()
        .await?)
}

async fn timed_cycle(
    producer: &mut Producer,
    movies: &Arc<[Movie]>,
) -> Result<(Duration, CycleReport)> {
    let movies = movies.clone();
    let start = Instant::now();
    let report = producer
        .run_cycle(move |w| {
            for m in movies.iter() {
                w.add(m)?;
            }
            Ok::<_, shoal_producer::Error>(())
        })
        .await?;
    Ok((start.elapsed(), report))
}

fn published(
    cycle_v1: Vec<Duration>,
    cycle_v2: Vec<Duration>,
    r1: &CycleReport,
    r2: &CycleReport,
) -> Result<Published> {
    if !r2.published {
        return Err(CliError::fail(
            "version 2 of the catalog equals version 1, so no delta was published: raise --records or --change-pct",
        ));
    }
    let (v1, v2) = (r1.version, r2.version);
    let blob = |report: &CycleReport, name: String| {
        report
            .blob_size(&name)
            .ok_or_else(|| CliError::fail(format!("the producer wrote no {name}")))
    };
    let movie = r2
        .types
        .iter()
        .find(|t| t.name == "Movie")
        .ok_or_else(|| CliError::fail("the cycle reported no Movie type"))?;
    Ok(Published {
        cycle_v1,
        cycle_v2,
        v1,
        v2,
        snapshot_v1: blob(r1, format!("snapshot/{}", v1.0))?,
        delta: blob(r2, format!("delta/{}-{}", v1.0, v2.0))?,
        reverse: blob(r2, format!("reverse/{}-{}", v2.0, v1.0))?,
        movies: MovieChange {
            changed: movie.changed,
            added: movie.added,
            removed: movie.removed,
        },
    })
}

fn remove_dir(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir)
        .map_err(|e| CliError::fail(format!("cannot remove {}: {e}", dir.display())))
}

/// A consumer on the folder store `store` with its cache in `cache` and a primary-key index
/// on `Movie`.
pub fn consumer(store: &Path, cache: &Path) -> Result<Consumer> {
    let store = Arc::new(FsStore::new(store)?);
    Ok(Consumer::builder(store)
        .cache_dir(cache)
        .primary_key_index("Movie")
        .build()?)
}

/// Fills `cache` with the blobs of `version` (not timed: start-up is measured from a warm
/// cache, as a restarted service finds it).
pub async fn warm_cache(store: &Path, cache: &Path, version: Version) -> Result<()> {
    consumer(store, cache)?.refresh_to(version).await?;
    Ok(())
}

/// Start-up `reps` times: a new consumer on the warm cache loads `version` (maps the
/// snapshot, checks its checksums, builds the key index) and finds `key`. Returns the times
/// and the last consumer, still loaded.
pub async fn startup(
    store: &Path,
    cache: &Path,
    version: Version,
    key: i64,
    reps: usize,
) -> Result<(Vec<Duration>, Consumer)> {
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let start = Instant::now();
        let consumer = consumer(store, cache)?;
        consumer.refresh_to(version).await?;
        let data = loaded(&consumer)?;
        let pk = data.index_id("Movie")?;
        let found = data.find(pk, &[FieldValue::I64(key)]);
        times.push(start.elapsed());
        if found.is_none() {
            return Err(CliError::fail(format!(
                "key {key} not found after start-up"
            )));
        }
        last = Some(consumer);
    }
    let consumer = last.ok_or_else(|| CliError::fail("no start-up ran"))?;
    Ok((times, consumer))
}

/// The consumer's current dataset.
pub fn loaded(consumer: &Consumer) -> Result<Arc<Dataset>> {
    consumer
        .current()
        .ok_or_else(|| CliError::fail("the consumer holds no version"))
}

/// Looks up every key by primary key and reads its rating, `rounds` times.
pub fn lookups(data: &Dataset, keys: &[i64], rounds: usize) -> Result<Lookups> {
    let pk = data.index_id("Movie")?;
    let rating = data.field("Movie", "rating")?;
    let lookup = |k: i64| {
        data.find(pk, &[FieldValue::I64(k)])
            .and_then(|o| data.get_f64(rating, o))
    };
    let found = keys.iter().filter(|k| lookup(**k).is_some()).count();
    let ns = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let sum: f64 = keys.iter().map(|k| lookup(*k).unwrap_or(0.0)).sum();
            black_box(sum);
            start.elapsed().as_nanos() as f64 / keys.len().max(1) as f64
        })
        .collect();
    Ok(Lookups { ns, found })
}

/// Applies the delta (its bytes read into memory and unpacked before timing) to `base` `reps` times:
/// opening the delta (its checksums checked) and building the next dataset with its key
/// index. Returns the times and the records of `Movie` in the result.
pub fn apply(base: &Dataset, delta: &Path, reps: usize) -> Result<(Vec<Duration>, u64)> {
    let stored = Bytes::from(
        std::fs::read(delta)
            .map_err(|e| CliError::fail(format!("cannot read {}: {e}", delta.display())))?,
    );
    // As the store holds it (packed, maybe): unpacked once, as a consumer's cache holds it.
    let bytes = shoal_store::packing::unpack(stored, &delta.display().to_string(), "delta")?;
    let movie = base.type_id("Movie")?;
    let mut times = Vec::with_capacity(reps);
    let mut records = 0;
    for _ in 0..reps {
        let start = Instant::now();
        let view = DeltaView::open(bytes.clone())?;
        let (next, _stats) = base.apply(&view)?;
        times.push(start.elapsed());
        records = next.len(movie);
    }
    Ok((times, records))
}
