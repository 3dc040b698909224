//! A record's history (Hollow's History UI): for one key, every version in which the record
//! was added, changed or removed, with the fields that changed.
//!
//! One consumer per type, with a primary-key index on the type, walks the reachable versions
//! oldest first; each step is a refresh (along a delta when the store has one, and the index
//! is updated incrementally), one lookup of the key in each version and a comparison of the
//! one record, references followed: a step costs what the delta changed, not the size of the
//! type. The consumers stay between requests ([`Walkers`]), so a second history of the same
//! type moves from where the last one ended instead of loading everything again.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value as Json;
use shoal_consumer::{Consumer, Dataset};
use shoal_format::{Ordinal, TypeId, Version};
use shoal_store::BlobStore;

use crate::changes::{field_changes, FieldChange};
use crate::cli::Global;
use crate::cmd::read::lookup;
use crate::explorer::error::ApiError;
use crate::render;

/// What happened to the record in one version.
#[derive(Debug, Serialize)]
pub struct Event {
    /// The version.
    pub version: u64,
    /// The version compared with (none for the oldest version walked).
    pub from: Option<u64>,
    /// `present` (in the oldest version walked), `added`, `changed` or `removed`.
    pub change: &'static str,
    /// The fields that changed (for `changed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The record after the change (before it, for `removed`).
    pub record: Json,
}

/// A record's history.
#[derive(Debug, Serialize)]
pub struct History {
    /// The type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The key, as given.
    pub key: Vec<String>,
    /// The versions walked, oldest first.
    pub versions: Vec<u64>,
    /// What happened, oldest first.
    pub events: Vec<Event>,
}

/// A consumer per type, indexed by the type's primary key, kept between requests.
pub struct Walkers {
    store: Arc<dyn BlobStore>,
    global: Global,
    /// One walk at a time: each holds its type's consumer for the whole walk.
    by_type: tokio::sync::Mutex<HashMap<String, Walker>>,
}

struct Walker {
    consumer: Consumer,
    _cache: Option<tempfile::TempDir>,
}

impl Walkers {
    /// Walkers over `store`; `global` (with no `--cache`) makes their consumers.
    pub fn new(store: Arc<dyn BlobStore>, global: Global) -> Self {
        Walkers {
            store,
            global,
            by_type: tokio::sync::Mutex::default(),
        }
    }

    /// The history of `type_name`'s record `key` over `versions` (oldest first).
    pub async fn history(
        &self,
        versions: Vec<u64>,
        type_name: &str,
        key: &[String],
    ) -> Result<History, ApiError> {
        let mut by_type = self.by_type.lock().await;
        if !by_type.contains_key(type_name) {
            let (consumer, cache) =
                crate::cmd::consumer(&self.global, self.store.clone(), &[type_name])?;
            let walker = Walker {
                consumer,
                _cache: cache,
            };
            by_type.insert(type_name.to_string(), walker);
        }
        let walker = &by_type[type_name];
        walk(&walker.consumer, versions, type_name, key).await
    }
}

/// Walks `versions` (oldest first) with `consumer` (indexed by `type_name`'s primary key).
async fn walk(
    consumer: &Consumer,
    versions: Vec<u64>,
    type_name: &str,
    key: &[String],
) -> Result<History, ApiError> {
    let mut events = Vec::new();
    let mut previous: Option<Arc<Dataset>> = None;
    for &v in &versions {
        consumer
            .refresh_to(Version(v))
            .await
            .map_err(|e| ApiError::internal(format!("loading version {v}: {e}")))?;
        let current = consumer
            .current()
            .ok_or_else(|| ApiError::internal("no version loaded"))?;
        let (before, after) = (previous.clone(), current.clone());
        let (t, k) = (type_name.to_string(), key.to_vec());
        let event =
            tokio::task::spawn_blocking(move || step(before.as_deref(), &after, &t, &k)).await??;
        events.extend(event);
        previous = Some(current);
    }
    Ok(History {
        type_name: type_name.to_string(),
        key: key.to_vec(),
        versions,
        events,
    })
}

/// What happened to the keyed record between `before` (none for the first version) and
/// `after`.
fn step(
    before: Option<&Dataset>,
    after: &Dataset,
    type_name: &str,
    key: &[String],
) -> Result<Option<Event>, ApiError> {
    let b = lookup(after, type_name, key)?;
    let Some(before) = before else {
        return Ok(match b {
            Some((ty, o)) => Some(event(after, None, "present", render::record(after, ty, o)?)),
            None => None,
        });
    };
    let a = lookup(before, type_name, key)?;
    Ok(match (a, b) {
        (None, None) => None,
        (None, Some((ty, o))) => Some(event(
            after,
            Some(before),
            "added",
            render::record(after, ty, o)?,
        )),
        (Some((ty, o)), None) => Some(event(
            after,
            Some(before),
            "removed",
            render::record(before, ty, o)?,
        )),
        (Some((_, oa)), Some((ty, ob))) => changed(before, after, ty, oa, ob)?,
    })
}

/// The `changed` event of a record found in both versions, if it changed (the two renderings,
/// references expanded, differ).
fn changed(
    before: &Dataset,
    after: &Dataset,
    ty: TypeId,
    oa: Ordinal,
    ob: Ordinal,
) -> Result<Option<Event>, ApiError> {
    let (x, y) = (
        render::record(before, ty, oa)?,
        render::record(after, ty, ob)?,
    );
    if x == y {
        return Ok(None);
    }
    let mut e = event(after, Some(before), "changed", y.clone());
    e.fields = field_changes(&x, &y);
    Ok(Some(e))
}

fn event(after: &Dataset, before: Option<&Dataset>, change: &'static str, record: Json) -> Event {
    Event {
        version: after.version().0,
        from: before.map(|b| b.version().0),
        change,
        fields: Vec::new(),
        record,
    }
}
