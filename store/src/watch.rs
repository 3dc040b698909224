//! [`Watch`]: wakes a consumer when a watched object may have changed.
//!
//! Every backend polls: it reads a fingerprint of the object (length, checksum, time; an S3
//! ETag) every `interval` and wakes the watcher when it changes. A folder store also listens
//! to file-system events with `notify`, so a change is seen at once where events are
//! delivered; polling covers file systems where they are not (network mounts, some
//! containers).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Result;

/// A subscription to changes of one stored object. Dropping it stops the watching.
pub struct Watch {
    rx: watch::Receiver<u64>,
    tasks: Vec<JoinHandle<()>>,
    _keep: Option<Box<dyn Send + Sync>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("wakeups", &*self.rx.borrow())
            .finish()
    }
}

impl Watch {
    /// A watch that polls `fingerprint` about every `interval` and wakes on every change of
    /// its value (errors count as a change only once they clear, so a flaky store does not
    /// spin). Polls are jittered (see [`jittered`]) so a fleet started together does not
    /// poll the store in the same second.
    pub(crate) fn polling<F, Fut>(interval: Duration, mut fingerprint: F) -> (Self, Notifier)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<String>>> + Send,
    {
        let (tx, rx) = watch::channel(0u64);
        let notifier = Notifier(tx.clone());
        let task = tokio::spawn(async move {
            let mut last: Option<Option<String>> = None;
            // The first look at once (what later polls compare with), then jittered polls.
            loop {
                match fingerprint().await {
                    Ok(now) => {
                        if last.as_ref().is_some_and(|l| *l != now) {
                            tx.send_modify(|n| *n += 1);
                        }
                        last = Some(now);
                    }
                    Err(e) => tracing::debug!(error = %e, "watch poll failed"),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(jittered(interval)).await;
            }
        });
        (
            Watch {
                rx,
                tasks: vec![task],
                _keep: None,
            },
            notifier,
        )
    }

    /// Keeps `value` (an event watcher) alive as long as this watch.
    pub(crate) fn keep(mut self, value: Box<dyn Send + Sync>) -> Self {
        self._keep = Some(value);
        self
    }

    /// Waits until the object may have changed since the last call (or since the watch was
    /// made). Returns at once if a change happened in between.
    pub async fn changed(&mut self) {
        // The sender lives in the polling task, which runs until the watch is dropped.
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// How many changes were seen so far.
    pub fn wakeups(&self) -> u64 {
        *self.rx.borrow()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// `interval` scaled by a random factor in [0.8, 1.2): a thousand consumers polling every
/// 5 s spread their requests over the whole interval instead of keeping the phase they
/// started with.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// Wakes a [`Watch`] from outside its polling task (a file-system event callback).
#[derive(Clone)]
pub(crate) struct Notifier(watch::Sender<u64>);

impl Notifier {
    /// Wakes the watch.
    pub(crate) fn notify(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}
