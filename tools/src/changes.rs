//! What changed between two loaded versions, record by record: the engine of `shoal diff`
//! and `shoal watch`.
//!
//! Versions that one consumer reached from the other by deltas share every column page the
//! deltas did not touch, so only the ordinals on unshared pages are candidates
//! ([`Dataset::differing_ordinals`]): the cost follows the change, not the dataset. Each
//! candidate is compared field by field; a reference counts as unchanged only if it points
//! at the same ordinal *and* that record did not change itself (found the same way, type by
//! type). Records are then matched by primary key: added, removed, changed (with the fields
//! that changed); types without a key are matched by value (added and removed only).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use roaring::RoaringBitmap;
use serde::Serialize;
use serde_json::Value as Json;
use shoal_consumer::Dataset;
use shoal_format::{
    FieldId, FieldKind, FieldValue, Ordinal, RecordSource, Schema, TypeId, TypeKind,
};

use crate::render;

/// The changed ordinals of each type between two versions, worked out on demand.
pub struct Changes<'a> {
    a: &'a Dataset,
    b: &'a Dataset,
    /// Shared, not copied: a reference field asks for its target's set once per candidate.
    memo: HashMap<TypeId, Arc<RoaringBitmap>>,
    busy: Vec<TypeId>,
}

impl<'a> Changes<'a> {
    /// Changes from `a` to `b`.
    pub fn new(a: &'a Dataset, b: &'a Dataset) -> Self {
        Changes {
            a,
            b,
            memo: HashMap::new(),
            busy: Vec::new(),
        }
    }

    /// Ordinals of `ty` whose record is in one version only, or differs between them.
    pub fn changed(&mut self, ty: TypeId) -> shoal_format::Result<Arc<RoaringBitmap>> {
        if let Some(done) = self.memo.get(&ty) {
            return Ok(done.clone());
        }
        let candidates = self.b.differing_ordinals(self.a, ty);
        if self.busy.contains(&ty) {
            // A type that refers to itself (through others): every candidate counts.
            return Ok(Arc::new(candidates));
        }
        self.busy.push(ty);
        let pa = self.a.populated(ty).cloned().unwrap_or_default();
        let pb = self.b.populated(ty).cloned().unwrap_or_default();
        let mut out = &pa ^ &pb;
        let both = &candidates & &(&pa & &pb);
        for o in both {
            if !self.same(ty, Ordinal(o))? {
                out.insert(o);
            }
        }
        self.busy.pop();
        let out = Arc::new(out);
        self.memo.insert(ty, out.clone());
        Ok(out)
    }

    /// True when the record at `o` (present in both) is the same in both versions.
    fn same(&mut self, ty: TypeId, o: Ordinal) -> shoal_format::Result<bool> {
        let schema: &Schema = self.a.schema();
        let def = schema.type_def(ty).expect("a type of the schema");
        match &def.kind {
            TypeKind::Object { fields, .. } => {
                for (i, f) in fields.iter().enumerate() {
                    let id = FieldId(i as u32);
                    let (x, y) = (
                        RecordSource::field(self.a, ty, id, o)?,
                        RecordSource::field(self.b, ty, id, o)?,
                    );
                    if !same_value(&x, &y) {
                        return Ok(false);
                    }
                    if let (FieldValue::Ref(r), FieldKind::Reference(target)) = (x, &f.kind) {
                        let target = schema.type_id(target).expect("schema resolved");
                        if self.changed(target)?.contains(r.0) {
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
            }
            TypeKind::List { element } | TypeKind::Set { element } => {
                let element = schema.type_id(element).expect("schema resolved");
                let x: Vec<_> = self.a.elements(ty, o)?.collect();
                let y: Vec<_> = self.b.elements(ty, o)?.collect();
                if x != y {
                    return Ok(false);
                }
                let changed = self.changed(element)?;
                Ok(x.iter().all(|(e, _)| !changed.contains(e.0)))
            }
            TypeKind::Map { key, value } => {
                let key = schema.type_id(key).expect("schema resolved");
                let value = schema.type_id(value).expect("schema resolved");
                let x: Vec<_> = self.a.elements(ty, o)?.collect();
                let y: Vec<_> = self.b.elements(ty, o)?.collect();
                if x != y {
                    return Ok(false);
                }
                let (ck, cv) = (self.changed(key)?, self.changed(value)?);
                Ok(x.iter()
                    .all(|(k, v)| !ck.contains(k.0) && v.is_none_or(|v| !cv.contains(v.0))))
            }
        }
    }
}

/// `older` read in `newer`'s schema when the two differ (a compatible change: fields the
/// change added read as null before it, fields it dropped are not compared), so records line
/// up field by field; an error when the change is not compatible.
pub fn aligned<'a>(
    older: &'a Dataset,
    newer: &Dataset,
) -> shoal_consumer::Result<std::borrow::Cow<'a, Dataset>> {
    if older.schema() == newer.schema() {
        return Ok(std::borrow::Cow::Borrowed(older));
    }
    older.projected(newer.schema()).map(std::borrow::Cow::Owned)
}

/// Bit-exact equality of two field values (NaN equals NaN, as the format stores it).
fn same_value(x: &FieldValue<'_>, y: &FieldValue<'_>) -> bool {
    match (x, y) {
        (FieldValue::F32(a), FieldValue::F32(b)) => a.to_bits() == b.to_bits(),
        (FieldValue::F64(a), FieldValue::F64(b)) => a.to_bits() == b.to_bits(),
        _ => x == y,
    }
}

/// One changed field of a changed record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field's name.
    pub field: String,
    /// Its value before (null when it had none).
    pub old: Json,
    /// Its value after.
    pub new: Json,
}

/// A record matched in both versions that changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    /// Its primary key (one value per key field).
    pub key: Vec<Json>,
    /// The fields that changed.
    pub fields: Vec<FieldChange>,
}

/// What changed in one type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeDiff {
    /// The type.
    pub name: String,
    /// The primary key's field paths (empty for a type without one).
    pub key_fields: Vec<String>,
    /// How many records were added, removed, changed.
    pub added_count: u64,
    /// See `added_count`.
    pub removed_count: u64,
    /// See `added_count`.
    pub changed_count: u64,
    /// Records only in the newer version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<Json>,
    /// Records only in the older version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Json>,
    /// Records in both that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<Changed>,
}

/// The types worth reporting by default: object types with a primary key (the records a
/// user publishes), or every object type when none has a key.
pub fn default_types(schema: &Schema) -> Vec<TypeId> {
    let objects = || {
        (0..schema.type_count() as u32).map(TypeId).filter(|t| {
            matches!(
                schema.type_def(*t).map(|d| &d.kind),
                Some(TypeKind::Object { .. })
            )
        })
    };
    let keyed: Vec<TypeId> = objects()
        .filter(|t| schema.type_def(*t).and_then(|d| d.key()).is_some())
        .collect();
    if keyed.is_empty() {
        objects().collect()
    } else {
        keyed
    }
}

/// The differences of `ty` from `changes`' older version to its newer one; with `detail`,
/// the records and fields too (else only the counts).
pub fn diff_type(
    changes: &mut Changes<'_>,
    ty: TypeId,
    detail: bool,
) -> shoal_format::Result<TypeDiff> {
    let (a, b) = (changes.a, changes.b);
    let schema = b.schema();
    let def = schema.type_def(ty).expect("a type of the schema");
    let changed = changes.changed(ty)?;
    let mut out = TypeDiff {
        name: def.name.clone(),
        ..TypeDiff::default()
    };
    if def.key().is_none() {
        // No key: match by value.
        let mut count: BTreeMap<String, (i64, Json)> = BTreeMap::new();
        for o in changed.iter().map(Ordinal) {
            for (data, sign) in [(a, -1), (b, 1)] {
                if RecordSource::contains(data, ty, o) {
                    let json = render::record(data, ty, o)?;
                    count.entry(json.to_string()).or_insert((0, json)).0 += sign;
                }
            }
        }
        for (_, (n, json)) in count {
            match n {
                n if n > 0 => {
                    out.added_count += n as u64;
                    if detail {
                        out.added.push(json);
                    }
                }
                n if n < 0 => {
                    out.removed_count += n.unsigned_abs();
                    if detail {
                        out.removed.push(json);
                    }
                }
                _ => {}
            }
        }
        return Ok(out);
    };
    let keys = KeyReader::new(schema, ty)?;
    out.key_fields = keys.fields.clone();
    let key_of = |data: &Dataset, o: Ordinal| keys.read(data, o);
    let mut before: BTreeMap<String, (Vec<Json>, Ordinal)> = BTreeMap::new();
    let mut after: BTreeMap<String, (Vec<Json>, Ordinal)> = BTreeMap::new();
    for o in changed.iter().map(Ordinal) {
        if RecordSource::contains(a, ty, o) {
            let k = key_of(a, o)?;
            before.insert(Json::from(k.clone()).to_string(), (k, o));
        }
        if RecordSource::contains(b, ty, o) {
            let k = key_of(b, o)?;
            after.insert(Json::from(k.clone()).to_string(), (k, o));
        }
    }
    for (text, (k, ob)) in &after {
        match before.get(text) {
            None => {
                out.added_count += 1;
                if detail {
                    out.added.push(render::record(b, ty, *ob)?);
                }
            }
            Some((_, oa)) => {
                let (x, y) = (render::record(a, ty, *oa)?, render::record(b, ty, *ob)?);
                if x != y {
                    out.changed_count += 1;
                    if detail {
                        out.changed.push(Changed {
                            key: k.clone(),
                            fields: field_changes(&x, &y),
                        });
                    }
                }
            }
        }
    }
    for (text, (_, oa)) in &before {
        if !after.contains_key(text) {
            out.removed_count += 1;
            if detail {
                out.removed.push(render::record(a, ty, *oa)?);
            }
        }
    }
    Ok(out)
}

/// Reads the primary key of records of one type, following references for dotted paths
/// (`country.code`).
pub struct KeyReader {
    /// The key's field paths, dotted.
    pub fields: Vec<String>,
    steps: Vec<Vec<(TypeId, FieldId)>>,
}

impl KeyReader {
    /// The key reader of `ty`; a type without a primary key has an empty one.
    pub fn new(schema: &Schema, ty: TypeId) -> shoal_format::Result<KeyReader> {
        let def = schema.type_def(ty).expect("a type of the schema");
        let mut keys = KeyReader {
            fields: Vec::new(),
            steps: Vec::new(),
        };
        for p in def.key().into_iter().flatten() {
            let (steps, _) = schema
                .resolve_path(ty, p)
                .map_err(shoal_format::Error::NoSuchField)?;
            keys.fields.push(p.0.join("."));
            keys.steps.push(steps);
        }
        Ok(keys)
    }

    /// The key of record `o`: one JSON scalar per key field.
    pub fn read(&self, data: &Dataset, o: Ordinal) -> shoal_format::Result<Vec<Json>> {
        self.steps
            .iter()
            .map(|path| {
                let mut o = o;
                for (i, (t, f)) in path.iter().enumerate() {
                    let v = RecordSource::field(data, *t, *f, o)?;
                    if i + 1 == path.len() {
                        return Ok(scalar(&v));
                    }
                    match v {
                        FieldValue::Ref(next) => o = next,
                        _ => return Ok(Json::Null),
                    }
                }
                Ok(Json::Null)
            })
            .collect()
    }
}

fn scalar(v: &FieldValue<'_>) -> Json {
    match *v {
        FieldValue::Null => Json::Null,
        FieldValue::Bool(b) => Json::Bool(b),
        FieldValue::I32(n) => Json::from(n),
        FieldValue::I64(n) => Json::from(n),
        FieldValue::F32(x) => Json::from(x as f64),
        FieldValue::F64(x) => Json::from(x),
        FieldValue::Str(s) => Json::from(s),
        FieldValue::Bytes(b) => Json::from(String::from_utf8_lossy(b).into_owned()),
        FieldValue::Ref(o) => Json::from(o.0),
    }
}

/// The top-level fields that differ between two renderings of a record.
pub fn field_changes(x: &Json, y: &Json) -> Vec<FieldChange> {
    match (x, y) {
        (Json::Object(x), Json::Object(y)) => {
            let mut names: Vec<&String> = x.keys().collect();
            names.extend(y.keys().filter(|k| !x.contains_key(*k)));
            names
                .into_iter()
                .filter_map(|n| {
                    let (old, new) = (
                        x.get(n).cloned().unwrap_or(Json::Null),
                        y.get(n).cloned().unwrap_or(Json::Null),
                    );
                    (old != new).then(|| FieldChange {
                        field: n.clone(),
                        old,
                        new,
                    })
                })
                .collect()
        }
        _ => vec![FieldChange {
            field: String::new(),
            old: x.clone(),
            new: y.clone(),
        }],
    }
}
