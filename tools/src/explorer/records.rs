//! Records of a loaded version as the API sends them: a page of a type, or one record by
//! key, each with its key and its references (type, ordinal and key of the record each
//! reference points at, so the page can link to it).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value as Json;
use shoal_consumer::Dataset;
use shoal_format::{FieldId, FieldKind, FieldValue, Ordinal, RecordSource, TypeId, TypeKind};

use crate::changes::KeyReader;
use crate::cmd::read::type_of;
use crate::explorer::cache::FILTER_INDEX;
use crate::explorer::error::ApiError;
use crate::explorer::filter::{FieldEquals, Filter, FoundBy};
use crate::render;

/// The most records one page may hold.
pub const MAX_LIMIT: u64 = 200;

/// One record with what a page needs to show and link it.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Its ordinal in this version.
    pub ordinal: u32,
    /// Its primary key, one value per key field (empty for a type without one).
    pub key: Vec<Json>,
    /// The record, references expanded (as `shoal get` prints it).
    pub record: Json,
    /// Where each of its reference fields points.
    pub refs: Vec<Reference>,
}

/// A reference field of a record and the record it points at.
#[derive(Debug, Serialize)]
pub struct Reference {
    /// The field.
    pub field: String,
    /// The referenced type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The referenced record's ordinal.
    pub ordinal: u32,
    /// The referenced record's primary key (empty when its type has none).
    pub key: Vec<Json>,
}

/// A page of a type's records.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The version read.
    pub version: u64,
    /// The type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The type's key fields.
    pub key_fields: Vec<String>,
    /// The filter asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<FieldEquals>,
    /// How the filter was answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<FoundBy>,
    /// Records of the type in this version (that pass the filter).
    pub total: u64,
    /// The first record's position.
    pub offset: u64,
    /// The page size asked for (capped at [`MAX_LIMIT`]).
    pub limit: u64,
    /// The records, in ordinal order.
    pub records: Vec<Row>,
}

/// Records `offset..offset + limit` of `type_name`, in ordinal order: all of them, or those
/// that pass `filter`, found through `indexed` (the version with a hash index on the
/// filter's field, [`FILTER_INDEX`]) when given and the filter can use it, else by a scan.
pub fn page(
    data: &Dataset,
    type_name: &str,
    filter: Option<(FieldEquals, Option<Arc<Dataset>>)>,
    offset: u64,
    limit: u64,
) -> Result<Page, ApiError> {
    let ty = type_of(data, type_name)?;
    let keys = KeyReader::new(data.schema(), ty)?;
    let limit = limit.min(MAX_LIMIT);
    let (total, ordinals, found_by) = match &filter {
        None => (data.len(ty), window(data, ty, offset, limit), None),
        Some((f, indexed)) => {
            let filter = Filter::new(data, ty, &f.field, &f.value)?;
            let (total, ordinals, by) = match (indexed, filter.index_key()) {
                (Some(ix), Some(key)) => looked_up(ix, key, offset, limit)?,
                _ => scanned(data, ty, &filter, offset, limit)?,
            };
            (total, ordinals, Some(by))
        }
    };
    let records = ordinals
        .into_iter()
        .map(|o| row(data, ty, &keys, o))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Page {
        version: data.version().0,
        type_name: type_name.to_string(),
        key_fields: keys.fields,
        filter: filter.map(|(f, _)| f),
        found_by,
        total,
        offset,
        limit,
        records,
    })
}

/// Ordinals `offset..offset + limit` of `ty`.
fn window(data: &Dataset, ty: TypeId, offset: u64, limit: u64) -> Vec<Ordinal> {
    data.ordinals(ty)
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
}

/// How many records hold `key` in `indexed`'s filter index, and the ordinals of matches
/// `offset..offset + limit`.
fn looked_up(
    indexed: &Dataset,
    key: FieldValue<'_>,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Ordinal>, FoundBy), ApiError> {
    let index = indexed
        .index_id(FILTER_INDEX)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let key = [key];
    let mut all: Vec<Ordinal> = indexed.find_all(index, &key).collect();
    all.sort_unstable();
    let page = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .copied()
        .collect();
    Ok((all.len() as u64, page, FoundBy::Index))
}

/// How many records of `ty` pass `filter`, and the ordinals of matches
/// `offset..offset + limit`: one scan.
fn scanned(
    data: &Dataset,
    ty: TypeId,
    filter: &Filter,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Ordinal>, FoundBy), ApiError> {
    let (mut total, mut out) = (0u64, Vec::new());
    for o in data.ordinals(ty) {
        if !filter.matches(data, o)? {
            continue;
        }
        if total >= offset && (out.len() as u64) < limit {
            out.push(o);
        }
        total += 1;
    }
    Ok((total, out, FoundBy::Scan))
}

/// Record `o` of `ty` as a [`Row`].
pub fn row(data: &Dataset, ty: TypeId, keys: &KeyReader, o: Ordinal) -> Result<Row, ApiError> {
    Ok(Row {
        ordinal: o.0,
        key: keys.read(data, o)?,
        record: render::record(data, ty, o)?,
        refs: references(data, ty, o)?,
    })
}

/// Where each reference field of record `o` points (none for lists, sets and maps).
fn references(data: &Dataset, ty: TypeId, o: Ordinal) -> Result<Vec<Reference>, ApiError> {
    let schema = data.schema();
    let Some(TypeKind::Object { fields, .. }) = schema.type_def(ty).map(|d| &d.kind) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let FieldKind::Reference(target) = &f.kind else {
            continue;
        };
        let FieldValue::Ref(to) = RecordSource::field(data, ty, FieldId(i as u32), o)? else {
            continue;
        };
        let target_ty = type_of(data, target)?;
        out.push(Reference {
            field: f.name.clone(),
            type_name: target.clone(),
            ordinal: to.0,
            key: KeyReader::new(schema, target_ty)?.read(data, to)?,
        });
    }
    Ok(out)
}
