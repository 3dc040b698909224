//! The routes: the JSON API under `/api/` and the embedded page.
//!
//! Every handler parses its own input (a path or query that does not parse is a 400 with a
//! JSON message, never a framework's plain-text rejection), and sends CPU work (rendering
//! pages of records, diffs) to blocking threads.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value as Json_};
use shoal_consumer::Dataset;
use shoal_format::{Ordinal, RecordSource, TypeId};

use crate::cmd::diff;
use crate::cmd::inspect;
use crate::cmd::read::{lookup, not_found, type_of};
use crate::cmd::versions::Listing;
use crate::explorer::error::ApiError;
use crate::explorer::filter::FieldEquals;
use crate::explorer::records::{self, Page, Row};
use crate::explorer::{assets, history, timeline, Explorer};

type Shared = Arc<Explorer>;
type Reply<T> = Result<Json<T>, ApiError>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The explorer's routes.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::script))
        .route("/app.css", get(assets::style))
        .route("/api/versions", get(versions))
        .route("/api/events", get(events))
        .route("/api/timeline", get(timeline))
        .route("/api/versions/{v}", get(version))
        .route("/api/versions/{v}/types/{type}/records", get(records))
        .route("/api/versions/{v}/types/{type}/key/{*key}", get(record))
        .route("/api/versions/{v}/types/{type}/ordinal/{o}", get(record_at))
        .route("/api/diff", get(diff))
        .route("/api/types/{type}/key/{*key}", get(history))
        .fallback(|| async {
            ApiError::not_found("no such page or API route; the API is under /api/")
        })
        .with_state(state)
}

async fn versions(State(s): State<Shared>) -> Reply<Listing> {
    Ok(Json(s.versions.listing().await?))
}

/// Server-sent events: the listing now and after every change of the store.
async fn events(State(s): State<Shared>) -> impl axum::response::IntoResponse {
    s.live.events()
}

/// Records per type and changes per version, as far as the background task has got.
async fn timeline(State(s): State<Shared>) -> Reply<timeline::Report> {
    Ok(Json(s.timeline.report(&s.reachable().await?)))
}

async fn version(
    State(s): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Reply<inspect::Report> {
    let Path(v) = path.map_err(bad_path)?;
    let data = s.versions.get(parse_version(&v)?).await?;
    Ok(Json(inspect::report(&data)))
}

/// A page of a type's records; with `field=<path>&value=<value>`, only those whose field
/// holds the value (through a hash index on the field, see [`crate::explorer::filter`]).
async fn records(
    State(s): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Params,
) -> Reply<Page> {
    let Path((v, ty)) = path.map_err(bad_path)?;
    let q = params(query)?;
    let (offset, limit) = (number(&q, "offset", 0)?, number(&q, "limit", 50)?);
    let v = parse_version(&v)?;
    let data = s.versions.get(v).await?;
    let filter = match field_filter(&q)? {
        None => None,
        Some(f) => {
            let indexed = s.filter_index(&data, v, &ty, &f).await?;
            Some((f, indexed))
        }
    };
    let page =
        tokio::task::spawn_blocking(move || records::page(&data, &ty, filter, offset, limit))
            .await??;
    Ok(Json(page))
}

/// One record by key: `/api/versions/3/types/Movie/key/42` (one path segment per key field).
#[derive(Serialize)]
struct Found {
    version: u64,
    #[serde(rename = "type")]
    type_name: String,
    key_fields: Vec<String>,
    #[serde(flatten)]
    row: Row,
}

async fn record(
    State(s): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Reply<Found> {
    let Path((v, ty, key)) = path.map_err(bad_path)?;
    let data = s.versions.get(parse_version(&v)?).await?;
    let key = split_key(&key);
    let Some((id, o)) = lookup(&data, &ty, &key)? else {
        return Err(ApiError::not_found(not_found(&data, &ty, &key)));
    };
    found(&data, ty, id, o)
}

fn found(data: &Dataset, ty: String, id: TypeId, o: Ordinal) -> Reply<Found> {
    let keys = crate::changes::KeyReader::new(data.schema(), id)?;
    Ok(Json(Found {
        version: data.version().0,
        type_name: ty,
        row: records::row(data, id, &keys, o)?,
        key_fields: keys.fields,
    }))
}

/// One record by ordinal: how a record of a type without a primary key is linked to (a
/// reference's `ordinal`). Ordinals are per version.
async fn record_at(
    State(s): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Reply<Found> {
    let Path((v, ty, o)) = path.map_err(bad_path)?;
    let data = s.versions.get(parse_version(&v)?).await?;
    let id = type_of(&data, &ty)?;
    let o = o
        .parse()
        .ok()
        .map(Ordinal)
        .filter(|o| RecordSource::contains(&*data, id, *o))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no {ty} at ordinal {o:?} in version {v}: ordinals are whole numbers, below {}",
                data.slot_count(id)
            ))
        })?;
    found(&data, ty, id, o)
}

/// A diff: the counts of every type first, then one page of the changed records.
#[derive(Serialize)]
struct DiffPage {
    from: u64,
    to: u64,
    via: Vec<String>,
    summary: Vec<Counts>,
    total: u64,
    offset: u64,
    limit: u64,
    records: Vec<Json_>,
}

#[derive(Serialize)]
struct Counts {
    name: String,
    key_fields: Vec<String>,
    added_count: u64,
    removed_count: u64,
    changed_count: u64,
}

async fn diff(State(s): State<Shared>, query: Params) -> Reply<DiffPage> {
    let q = params(query)?;
    let from = required(&q, "from")?;
    let to = required(&q, "to")?;
    let (offset, limit) = (
        number(&q, "offset", 0)?,
        number(&q, "limit", 50)?.min(records::MAX_LIMIT),
    );
    let types: Vec<String> = q
        .get("type")
        .filter(|t| !t.is_empty())
        .cloned()
        .into_iter()
        .collect();
    let report = s.diff(from, to, types).await?;
    Ok(Json(diff_page(&report, offset, limit)))
}

fn diff_page(report: &diff::Report, offset: u64, limit: u64) -> DiffPage {
    let summary = report
        .types
        .iter()
        .map(|t| Counts {
            name: t.name.clone(),
            key_fields: t.key_fields.clone(),
            added_count: t.added_count,
            removed_count: t.removed_count,
            changed_count: t.changed_count,
        })
        .collect::<Vec<_>>();
    let total = summary
        .iter()
        .map(|c| c.added_count + c.removed_count + c.changed_count)
        .sum();
    let records = report
        .types
        .iter()
        .flat_map(|t| {
            let name = &t.name;
            let changed = t.changed.iter().map(move |c| {
                json!({"type": name, "change": "changed", "key": c.key, "fields": c.fields})
            });
            let added = t
                .added
                .iter()
                .map(move |r| json!({"type": name, "change": "added", "record": r}));
            let removed = t
                .removed
                .iter()
                .map(move |r| json!({"type": name, "change": "removed", "record": r}));
            changed.chain(added).chain(removed)
        })
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .collect();
    DiffPage {
        from: report.from,
        to: report.to,
        via: report.via.clone(),
        summary,
        total,
        offset,
        limit,
        records,
    }
}

/// `/api/types/Movie/key/42/history`: the wildcard holds the key and the `history` suffix.
async fn history(
    State(s): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Reply<history::History> {
    let Path((ty, rest)) = path.map_err(bad_path)?;
    let Some(key) = rest.strip_suffix("/history") else {
        return Err(ApiError::not_found(format!(
            "/api/types/{ty}/key/{rest}: a record's history is at /api/types/{ty}/key/<key>/history"
        )));
    };
    Ok(Json(s.history(&ty, &split_key(key)).await?))
}

fn split_key(key: &str) -> Vec<String> {
    key.split('/').map(str::to_string).collect()
}

fn bad_path(e: PathRejection) -> ApiError {
    ApiError::bad_request(format!("bad path: {e}"))
}

fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))
}

fn parse_version(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "version {text:?}: a version is a whole number, such as 3"
        ))
    })
}

fn number(q: &HashMap<String, String>, name: &str, default: u64) -> Result<u64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::bad_request(format!("{name}={text:?}: give a whole number"))),
    }
}

/// `field=` and `value=`, both or neither.
fn field_filter(q: &HashMap<String, String>) -> Result<Option<FieldEquals>, ApiError> {
    match (q.get("field"), q.get("value")) {
        (None, None) => Ok(None),
        (Some(field), Some(value)) => Ok(Some(FieldEquals {
            field: field.clone(),
            value: value.clone(),
        })),
        (Some(field), None) => Err(ApiError::bad_request(format!(
            "field={field:?}: give the value too, value=<value>"
        ))),
        (None, Some(value)) => Err(ApiError::bad_request(format!(
            "value={value:?}: give the field too, field=<path such as year or country.code>"
        ))),
    }
}

fn required(q: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    match q.get(name) {
        None => Err(ApiError::bad_request(format!("give {name}=<version>"))),
        Some(text) => {
            parse_version(text).map_err(|e| ApiError::bad_request(format!("{name}: {}", e.message)))
        }
    }
}
