//! One writer per store prefix: a lease object (`producer.lock`) taken with a conditional
//! write (`If-None-Match: *`), renewed with `If-Match` before every announcement, released on
//! [`Producer::close`](crate::Producer::close). A second producer finds the lease and stops with
//! [`Error::Locked`]; a producer whose lease was taken over (it expired while the process
//! stalled, or an operator broke it) finds out at its next renewal and announces nothing. The
//! announcement itself is written with `If-Match` too, so even two writers that both believe
//! they hold the lease cannot both announce.
//!
//! A crashed producer leaves its lease behind: it expires after its time to live (wall clock
//! of the writers), or a restarted producer breaks it on purpose
//! ([`ProducerBuilder::break_lease`](crate::ProducerBuilder::break_lease)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shoal_store::{BlobStore, Condition, Tag, LOCK};

use crate::error::{Error, Result};

/// A held lease.
#[derive(Debug)]
pub(crate) struct Lease {
    owner: String,
    ttl: Duration,
    tag: Tag,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A name for this process: host, pid and a random part.
pub(crate) fn owner_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}:{}:{nanos:08x}", std::process::id())
}

fn body(owner: &str, ttl: Duration) -> Bytes {
    Bytes::from(format!(
        "owner={owner} expires={}\n",
        now_secs() + ttl.as_secs().max(1)
    ))
}

fn parse(text: &str) -> (String, Option<u64>) {
    let mut owner = String::from("?");
    let mut expires = None;
    for part in text.split_whitespace() {
        if let Some(o) = part.strip_prefix("owner=") {
            owner = o.to_string();
        } else if let Some(e) = part.strip_prefix("expires=") {
            expires = e.parse().ok();
        }
    }
    (owner, expires)
}

impl Lease {
    /// Takes the lease, or fails with [`Error::Locked`] naming the holder. An expired lease,
    /// or any lease when `force` is set, is taken over.
    pub(crate) async fn acquire(
        store: &dyn BlobStore,
        owner: String,
        ttl: Duration,
        force: bool,
    ) -> Result<Lease> {
        for _ in 0..3 {
            match store
                .put_if(LOCK, body(&owner, ttl), Condition::IfAbsent)
                .await
            {
                Ok(tag) => return Ok(Lease { owner, ttl, tag }),
                Err(e) if e.is_precondition_failed() => {}
                Err(e) => return Err(e.into()),
            }
            let Some((bytes, tag)) = store.get_tagged(LOCK).await? else {
                continue; // released in between: try again
            };
            let (holder, expires) = parse(&String::from_utf8_lossy(&bytes));
            let expired = expires.is_none_or(|e| e <= now_secs());
            if !expired && !force {
                let until = expires.map_or(String::new(), |e| {
                    format!(", expires in {} s", e.saturating_sub(now_secs()))
                });
                return Err(Error::Locked {
                    location: store.location(),
                    holder: format!("{holder}{until}"),
                });
            }
            tracing::warn!(store = %store.location(), %holder, forced = force, "taking over a producer lease");
            match store
                .put_if(LOCK, body(&owner, ttl), Condition::IfMatch(tag))
                .await
            {
                Ok(tag) => return Ok(Lease { owner, ttl, tag }),
                Err(e) if e.is_precondition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Locked {
            location: store.location(),
            holder: "another producer, racing for it".into(),
        })
    }

    /// Extends the lease; [`Error::LostLease`] if it is no longer ours.
    pub(crate) async fn renew(&mut self, store: &dyn BlobStore) -> Result<()> {
        match store
            .put_if(
                LOCK,
                body(&self.owner, self.ttl),
                Condition::IfMatch(self.tag.clone()),
            )
            .await
        {
            Ok(tag) => {
                self.tag = tag;
                Ok(())
            }
            Err(e) if e.is_precondition_failed() => {
                // The renewal may have landed with its answer lost (a retried request): the
                // lease is still ours if it names this producer.
                if let Some((bytes, tag)) = store.get_tagged(LOCK).await? {
                    if parse(&String::from_utf8_lossy(&bytes)).0 == self.owner {
                        self.tag = tag;
                        return Ok(());
                    }
                }
                Err(Error::LostLease {
                    location: store.location(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the lease up (only if it is still ours).
    pub(crate) async fn release(self, store: &dyn BlobStore) -> Result<()> {
        if let Some((_, tag)) = store.get_tagged(LOCK).await? {
            if tag == self.tag {
                store.delete(LOCK).await?;
            }
        }
        Ok(())
    }
}
