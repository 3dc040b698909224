//! The timeline's counts: for each version the store can build, its records per object type
//! and what changed since the previous reachable version (added, removed, changed per keyed
//! type, by [`diff::report`], the engine of `shoal diff`).
//!
//! One background task works the steps out oldest first, with its own consumer moving along
//! the chain (so each step costs what its delta changed), and keeps each result keyed by its
//! version pair. A request never waits for it: it gets what is done, the rest marked
//! `pending`. A step that failed (the store was down, a blob was bad) says why, and is tried
//! again by a request at least [`RETRY`] later, so an outage does not stick. Only the newest
//! [`TIMELINE_VERSIONS`] versions are counted and sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use shoal_consumer::Dataset;
use shoal_format::{TypeId, TypeKind};
use shoal_store::BlobStore;

use crate::cli::Global;
use crate::cmd::diff::{self, Pair, Via};
use crate::explorer::error::ApiError;

/// How long a failed step waits before a request tries it again.
pub const RETRY: Duration = Duration::from_secs(5);

/// The most versions the timeline counts and sends (the newest).
pub const TIMELINE_VERSIONS: usize = 200;

/// A step of the timeline: the previous reachable version (none for the oldest) and the
/// version.
type Step = (Option<u64>, u64);

/// One version's counts.
#[derive(Debug, Clone, Serialize)]
pub struct VersionCounts {
    /// The version.
    pub version: u64,
    /// The version the changes are counted from (none for the oldest).
    pub from: Option<u64>,
    /// True while the background task has not worked this version out yet.
    pub pending: bool,
    /// Why the counts could not be worked out, if they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When a failed step may be tried again.
    #[serde(skip)]
    retry_at: Option<Instant>,
    /// Records per object type.
    pub records: Vec<TypeRecords>,
    /// Added, removed, changed per keyed type since `from` (empty for the oldest).
    pub changes: Vec<TypeChanges>,
}

/// How many records one type holds.
#[derive(Debug, Clone, Serialize)]
pub struct TypeRecords {
    /// The type.
    pub name: String,
    /// Its records.
    pub records: u64,
}

/// What changed in one type, as `shoal diff --summary` counts it.
#[derive(Debug, Clone, Serialize)]
pub struct TypeChanges {
    /// The type.
    pub name: String,
    /// Records added.
    pub added_count: u64,
    /// Records removed.
    pub removed_count: u64,
    /// Records changed.
    pub changed_count: u64,
}

/// What `/api/timeline` answers: every reachable version, oldest first.
#[derive(Debug, Serialize)]
pub struct Report {
    /// True while some version is still pending.
    pub pending: bool,
    /// The versions, oldest first.
    pub versions: Vec<VersionCounts>,
}

/// The counts worked out so far, and the task working out the rest.
pub struct Timeline {
    store: Arc<dyn BlobStore>,
    global: Global,
    done: Arc<Mutex<HashMap<Step, VersionCounts>>>,
    running: Arc<AtomicBool>,
}

impl Timeline {
    /// The timeline of `store`; `global` (with no `--cache`) makes the task's consumer.
    pub fn new(store: Arc<dyn BlobStore>, global: Global) -> Self {
        Timeline {
            store,
            global,
            done: Arc::default(),
            running: Arc::default(),
        }
    }

    /// The counts of `reachable` (any order) as far as they are known; starts the
    /// background task when some are not.
    pub fn report(&self, reachable: &[u64]) -> Report {
        let steps = steps(reachable);
        let done = self.done.lock().expect("timeline lock");
        let versions: Vec<VersionCounts> = steps
            .iter()
            .map(|s| done.get(s).cloned().unwrap_or_else(|| pending(*s)))
            .collect();
        drop(done);
        let now = Instant::now();
        let missing: Vec<Step> = steps
            .into_iter()
            .zip(&versions)
            .filter(|(_, c)| c.pending || c.retry_at.is_some_and(|at| at <= now))
            .map(|(s, _)| s)
            .collect();
        let pending = versions.iter().any(|c| c.pending);
        if !missing.is_empty() {
            self.start(missing);
        }
        Report { pending, versions }
    }

    /// Spawns the task that works `missing` out, unless one is running already.
    fn start(&self, missing: Vec<Step>) {
        if self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let (store, global) = (self.store.clone(), self.global.clone());
        let (done, running) = (self.done.clone(), self.running.clone());
        tokio::spawn(async move {
            let result = work(&global, store, &missing, &done).await;
            if let Err(e) = result {
                let mut done = done.lock().expect("timeline lock");
                for s in &missing {
                    let fresh = done.get(s).is_none_or(|c| c.pending || c.error.is_some());
                    if fresh {
                        done.insert(*s, failed(*s, e.message.clone()));
                    }
                }
            }
            running.store(false, Ordering::SeqCst);
        });
    }
}

/// Each of the newest [`TIMELINE_VERSIONS`] reachable versions with the one before it,
/// oldest first.
fn steps(reachable: &[u64]) -> Vec<Step> {
    let mut v = reachable.to_vec();
    v.sort_unstable();
    v.dedup();
    let previous = std::iter::once(None).chain(v.iter().copied().map(Some));
    let all: Vec<Step> = previous.zip(v.iter().copied()).collect();
    let skip = all.len().saturating_sub(TIMELINE_VERSIONS);
    all[skip..].to_vec()
}

fn pending((from, version): Step) -> VersionCounts {
    VersionCounts {
        version,
        from,
        pending: true,
        error: None,
        retry_at: None,
        records: Vec::new(),
        changes: Vec::new(),
    }
}

/// Works out `steps` in order with one consumer, storing each result as it comes.
async fn work(
    global: &Global,
    store: Arc<dyn BlobStore>,
    steps: &[Step],
    done: &Mutex<HashMap<Step, VersionCounts>>,
) -> Result<(), ApiError> {
    let (consumer, _cache) = crate::cmd::consumer(global, store, &[])?;
    let via = Arc::new(Via::default());
    consumer.add_listener(via.clone());
    for &step in steps {
        let (from, to) = step;
        let pair = diff::between(&consumer, &via, from.unwrap_or(to), to).await?;
        let counts = tokio::task::spawn_blocking(move || counts(step, &pair))
            .await?
            .unwrap_or_else(|e| failed(step, e.message));
        done.lock().expect("timeline lock").insert(step, counts);
    }
    Ok(())
}

/// A step that failed: why, and when to try it again.
fn failed(step: Step, why: String) -> VersionCounts {
    VersionCounts {
        pending: false,
        error: Some(why),
        retry_at: Some(Instant::now() + RETRY),
        ..pending(step)
    }
}

/// The counts of one step from its loaded pair. CPU work.
fn counts(step: Step, pair: &Pair) -> Result<VersionCounts, ApiError> {
    let changes = match step.0 {
        None => Vec::new(),
        Some(_) => diff::report(pair, &[], false)?
            .types
            .into_iter()
            .map(|t| TypeChanges {
                name: t.name,
                added_count: t.added_count,
                removed_count: t.removed_count,
                changed_count: t.changed_count,
            })
            .collect(),
    };
    Ok(VersionCounts {
        version: step.1,
        from: step.0,
        pending: false,
        error: None,
        retry_at: None,
        records: records(&pair.newer),
        changes,
    })
}

/// Records per object type of `data`.
fn records(data: &Dataset) -> Vec<TypeRecords> {
    data.schema()
        .types()
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, TypeKind::Object { .. }))
        .map(|(i, t)| TypeRecords {
            name: t.name.clone(),
            records: data.len(TypeId(i as u32)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::steps;

    #[test]
    fn each_version_is_counted_from_the_reachable_one_before_it() {
        assert_eq!(steps(&[3, 1, 2]), [(None, 1), (Some(1), 2), (Some(2), 3)]);
        assert!(steps(&[]).is_empty());
    }

    #[test]
    fn only_the_newest_versions_are_counted() {
        let many: Vec<u64> = (1..=1000).collect();
        let s = steps(&many);
        assert_eq!(s.len(), super::TIMELINE_VERSIONS);
        assert_eq!(s.last(), Some(&(Some(999), 1000)));
        assert_eq!(s[0].0, Some(1000 - super::TIMELINE_VERSIONS as u64));
    }
}
