//! Following the store, as `shoal watch` does: one task watches the announcement (file-system
//! events on a folder, polling on S3: the store's own [`shoal_store::Watch`]) and lists the
//! store again after each change. Pages subscribe to `/api/events` (server-sent events) and
//! get the new listing pushed, instead of each tab polling the store.
//!
//! What is pushed is a [`Seen`]: the listing, or why the store could not be listed. A failed
//! listing keeps the last good one for `/api/versions` readers that ask for it; the page
//! shows the failure and keeps the data it has.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use shoal_store::{BlobStore, ANNOUNCED};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cmd::versions::{listing, Listing};

/// The store as last seen.
#[derive(Clone)]
pub enum Seen {
    /// Not listed yet.
    Nothing,
    /// What the store holds.
    Listing(Arc<Listing>),
    /// The last listing failed: why.
    Unreachable(String),
}

/// The follower task and the channel it feeds; the task stops when this is dropped.
pub struct Live {
    rx: watch::Receiver<Seen>,
    task: JoinHandle<()>,
}

impl Live {
    /// Starts following `store`.
    pub fn start(store: Arc<dyn BlobStore>) -> Live {
        let (tx, rx) = watch::channel(Seen::Nothing);
        let task = tokio::spawn(follow(store, tx));
        Live { rx, task }
    }

    /// A receiver of every new [`Seen`], starting with the current one.
    pub fn subscribe(&self) -> watch::Receiver<Seen> {
        let mut rx = self.rx.clone();
        rx.mark_changed();
        rx
    }

    /// `/api/events`: a `versions` event with the listing (the one `/api/versions` gives)
    /// at once and after every change, or an `unreachable` event with the reason.
    pub fn events(&self) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
        let stream = stream::unfold(self.subscribe(), |mut rx| async move {
            loop {
                rx.changed().await.ok()?;
                let seen = rx.borrow_and_update().clone();
                if let Some(e) = event(&seen) {
                    return Some((Ok(e), rx));
                }
            }
        });
        Sse::new(stream).keep_alive(KeepAlive::default())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event that tells a page what was seen (nothing before the first listing).
fn event(seen: &Seen) -> Option<Event> {
    Some(match seen {
        Seen::Nothing => return None,
        Seen::Listing(l) => Event::default()
            .event("versions")
            .json_data(&**l)
            .unwrap_or_else(|e| unreachable_event(&format!("the listing as JSON: {e}"))),
        Seen::Unreachable(why) => unreachable_event(why),
    })
}

fn unreachable_event(why: &str) -> Event {
    let body = serde_json::json!({ "error": why }).to_string();
    Event::default().event("unreachable").data(body)
}

/// How long to wait before trying again to watch a store that could not be watched.
const RETRY: Duration = Duration::from_secs(10);

/// Lists the store now and after every change of its announcement.
async fn follow(store: Arc<dyn BlobStore>, tx: watch::Sender<Seen>) {
    let mut watch = store.watch(ANNOUNCED).await.ok();
    loop {
        let seen = match listing(&*store).await {
            Ok(l) => Seen::Listing(Arc::new(l)),
            Err(e) => Seen::Unreachable(format!("listing the store: {}", e.message)),
        };
        tx.send_replace(seen);
        match watch.as_mut() {
            Some(w) => w.changed().await,
            None => {
                // No watch (the store failed when asked): list again after a pause.
                tokio::time::sleep(RETRY).await;
                watch = store.watch(ANNOUNCED).await.ok();
            }
        }
    }
}
