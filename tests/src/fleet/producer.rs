//! The producer process: restores from the store (breaking the lease of the run it replaces,
//! which was killed), then publishes the soak's versions one per interval up to the last,
//! appending a line to `published.jsonl` after each announcement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_producer::{Error, Producer};
use shoal_store::FaultyStore;

use super::args::Args;
use super::files::{append_line, now_ms, published_path, Published};
use super::store;
use super::truth::Generator;
use crate::catalog::{schema, Movie};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the producer until it has announced the last version.
pub async fn run(args: &Args) -> Result<(), BoxError> {
    let location = args.store.as_deref().unwrap_or_default();
    let poll = Duration::from_millis(args.poll_ms);
    let opened = store::open(location, args.endpoint_url.as_deref(), poll).await?;
    // No faults: on a folder store the wrapper only counts the calls.
    let counted = Arc::new(FaultyStore::new(opened.store(), 0));
    let mut producer = Producer::builder(counted.clone())
        .schema(schema())
        .snapshot_every(8)
        .keep_versions(16)
        .break_lease(true)
        .build()
        .await?;
    let generator = Generator::new(args.seed, args.records, args.change_percent);
    let interval = Duration::from_millis(args.interval_ms);
    let mut last = Instant::now();
    loop {
        let next = producer.version().map_or(1, |v| v.0 + 1);
        if next > args.versions {
            return Ok(());
        }
        tokio::time::sleep_until((last + interval).into()).await;
        last = Instant::now();
        let (blobs, announced_ago) = publish(&mut producer, &generator, next).await?;
        let line = Published {
            version: next,
            at_ms: now_ms().saturating_sub(announced_ago.as_millis() as u64),
            blobs,
            pid: std::process::id(),
            requests: opened.requests(Some(&counted)),
        };
        append_line(&published_path(args.work()), &line)?;
    }
}

/// One full cycle publishing version `version`: the blobs it wrote, and how long ago it
/// announced (the cycle deletes old blobs after the announcement, which can take seconds on
/// a busy S3 server; the consumers see the version meanwhile).
async fn publish(
    producer: &mut Producer,
    generator: &Generator,
    version: u64,
) -> Result<(Vec<(String, u64)>, Duration), BoxError> {
    let movies: Vec<Movie> = generator.dataset(version).into_values().collect();
    let report = producer
        .run_cycle(move |w| {
            for m in &movies {
                w.add(m)?;
            }
            Ok::<_, Error>(())
        })
        .await?;
    if !report.published || report.version.0 != version {
        return Err(format!("cycle {version} published version {}", report.version.0).into());
    }
    let t = &report.timings;
    let to_announcement = t.collect + t.place + t.encode + t.publish;
    Ok((report.blobs, t.total.saturating_sub(to_announcement)))
}
