//! Following a store unattended: the [`Follower`] task, its retry policy, and the
//! [`Status`] an operator alerts on.
//!
//! The follower reads the announcement, moves to its target (the pinned version if an
//! operator pinned one, else the announced version), and waits for the store's watch to wake
//! it. A failed refresh is tried again with exponential backoff and jitter, **independently of
//! the watch**: a blob that was unreadable for a minute is fetched once it is back, whether
//! or not anything new is announced. An optional spread delays the fetch of a new version by
//! a random share of a window, so a fleet does not hit the store in the same second.

use std::time::{Duration, SystemTime};

use shoal_format::Version;
use shoal_store::{jittered, Watch, ANNOUNCED};

use crate::consumer::Consumer;

/// How a follower retries and spreads its fetches (see [`ConsumerBuilder`]).
///
/// [`ConsumerBuilder`]: crate::ConsumerBuilder
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowOptions {
    /// The first pause after a failed refresh (default 1 s); it doubles at every failure.
    pub backoff_min: Duration,
    /// The longest pause between retries (default 5 min).
    pub backoff_max: Duration,
    /// Before fetching a new version, wait a random time up to this (default 0: at once).
    pub spread: Duration,
    /// How often to look at the announcement when the store cannot be watched (default 5 s).
    pub poll_fallback: Duration,
    /// How often to read the announcement even though the watch did not fire (default
    /// 5 min): a lost file-system event or a watch stuck on a failing poll cannot leave a
    /// consumer on an old version for longer.
    pub resync: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            spread: Duration::ZERO,
            poll_fallback: Duration::from_secs(5),
            resync: Duration::from_secs(300),
        }
    }
}

impl FollowOptions {
    /// The pause after the `failures`-th failure in a row: `backoff_min` doubled per
    /// failure, capped at `backoff_max`, then drawn uniformly from its upper half so a fleet
    /// that failed together does not retry together.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled = self
            .backoff_min
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let cap = doubled.min(self.backoff_max);
        cap.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

/// How far behind its store a consumer is: what an operator alerts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The version served now.
    pub served: Option<Version>,
    /// The version the store announced when last read.
    pub announced: Option<Version>,
    /// The version the consumer is held on: pinned in this process
    /// ([`Consumer::pin`]), else by an operator in the store (`shoal pin`).
    pub pinned: Option<Version>,
    /// When a refresh last succeeded (moved, or found the consumer already on its target).
    pub last_success: Option<SystemTime>,
    /// Refreshes that failed since the last success.
    pub consecutive_failures: u32,
    /// Why the last refresh failed, while it is failing.
    pub last_error: Option<String>,
}

impl Status {
    /// The version the consumer should serve: the pin, else the announced version.
    pub fn target(&self) -> Option<Version> {
        self.pinned.or(self.announced)
    }

    /// True when the consumer serves its target.
    pub fn is_current(&self) -> bool {
        self.served.is_some() && self.served == self.target()
    }

    /// Time since the last successful refresh.
    pub fn since_success(&self) -> Option<Duration> {
        self.last_success
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default())
    }
}

/// A running follower (see [`Consumer::follow`]). Dropping it, or [`stop`](Self::stop),
/// stops the task and its watch; the consumer keeps serving the version it is on.
#[derive(Debug)]
#[must_use = "dropping a Follower stops following"]
pub struct Follower {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Follower {
    pub(crate) fn spawn(consumer: Consumer) -> Follower {
        Follower {
            task: Some(tokio::spawn(run(consumer))),
        }
    }

    /// Stops following and waits until the task has ended (a refresh in flight is
    /// abandoned; the current version stays).
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// True while the task runs.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The follower's loop: refresh, then wait for the watch or the resync period (after a
/// success) or for the backoff or the watch (after a failure), whichever comes first.
async fn run(consumer: Consumer) {
    let options = consumer.follow_options();
    let mut watch = open_watch(&consumer).await;
    let mut failures = 0u32;
    let mut spread_for = None;
    loop {
        match step(&consumer, &options, &mut spread_for).await {
            Ok(()) => {
                failures = 0;
                tokio::select! {
                    _ = changed(&mut watch, &options) => {}
                    _ = tokio::time::sleep(jittered(options.resync)) => {}
                }
            }
            Err(()) => {
                failures += 1;
                let pause = options.backoff(failures);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = changed(&mut watch, &options) => {}
                }
            }
        }
        if watch.is_none() {
            watch = open_watch(&consumer).await;
        }
    }
}

/// One look at the announcement and, if the consumer is not on its target, one refresh
/// (after the spread delay, once per target). Failures are reported by the consumer.
async fn step(
    consumer: &Consumer,
    options: &FollowOptions,
    spread_for: &mut Option<Version>,
) -> Result<(), ()> {
    let (target, announced) = consumer.read_target().await.map_err(|_| ())?;
    if consumer.version() == Some(target) {
        consumer.confirm_current();
        return Ok(());
    }
    if !options.spread.is_zero() && *spread_for != Some(target) {
        *spread_for = Some(target);
        tokio::time::sleep(options.spread.mul_f64(fastrand::f64())).await;
    }
    consumer
        .refresh_with(target, announced.as_ref())
        .await
        .map(|_| ())
        .map_err(|_| ())
}

async fn open_watch(consumer: &Consumer) -> Option<Watch> {
    match consumer.store().watch(ANNOUNCED).await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the announcement; polling it");
            None
        }
    }
}

/// Waits for the watch, or a jittered poll interval without one.
async fn changed(watch: &mut Option<Watch>, options: &FollowOptions) {
    match watch {
        Some(w) => w.changed().await,
        None => tokio::time::sleep(jittered(options.poll_fallback)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        let o = FollowOptions {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ..FollowOptions::default()
        };
        for (failures, full) in [(1, 1), (2, 2), (3, 4), (7, 60), (40, 60)] {
            for _ in 0..50 {
                let pause = o.backoff(failures);
                let full = Duration::from_secs(full);
                assert!(pause >= full / 2 && pause <= full, "{failures}: {pause:?}");
            }
        }
    }

    #[test]
    fn a_status_is_current_when_it_serves_its_target() {
        let mut s = Status {
            served: Some(Version(3)),
            announced: Some(Version(4)),
            ..Status::default()
        };
        assert!(!s.is_current());
        s.pinned = Some(Version(3));
        assert_eq!(s.target(), Some(Version(3)));
        assert!(s.is_current());
    }
}
