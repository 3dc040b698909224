//! Records of a loaded version as JSON, references expanded: what `get`, `dump` and `diff`
//! print.
//!
//! The shape is the one `shoal produce` reads, so `shoal dump` output can be produced again:
//! an object record is a JSON object, a list or set an array, a map an object keyed by the
//! key record's text, and a record of an object type with a single field is its bare value
//! (`"country": "FR"`). Null fields are left out.

use serde_json::{Map, Number, Value as Json};
use shoal_format::{FieldId, FieldValue, Ordinal, RecordSource, TypeId, TypeKind};

/// How deep references are followed before rendering stops with an error (a hostile blob
/// could make records refer to each other in a cycle).
const MAX_DEPTH: u32 = 64;

/// Renders record `o` of type `ty`.
pub fn record<S: RecordSource>(src: &S, ty: TypeId, o: Ordinal) -> shoal_format::Result<Json> {
    render(src, ty, o, 0)
}

fn render<S: RecordSource>(
    src: &S,
    ty: TypeId,
    o: Ordinal,
    depth: u32,
) -> shoal_format::Result<Json> {
    if depth > MAX_DEPTH {
        return Err(shoal_format::Error::NoSuchField(format!(
            "references nest deeper than {MAX_DEPTH} below record {o}: a cycle?"
        )));
    }
    let schema = src.schema();
    let def = schema
        .type_def(ty)
        .ok_or_else(|| shoal_format::Error::NoSuchField(format!("no type {}", ty.0)))?;
    Ok(match &def.kind {
        TypeKind::Object { fields, .. } => {
            if fields.len() == 1 {
                let v = src.field(ty, FieldId(0), o)?;
                return value(src, ty, FieldId(0), v, depth);
            }
            let mut map = Map::new();
            for (i, f) in fields.iter().enumerate() {
                let id = FieldId(i as u32);
                let v = src.field(ty, id, o)?;
                if !matches!(v, FieldValue::Null) {
                    map.insert(f.name.clone(), value(src, ty, id, v, depth)?);
                }
            }
            Json::Object(map)
        }
        TypeKind::List { element } | TypeKind::Set { element } => {
            let element = schema.type_id(element).expect("schema resolved");
            let mut items = Vec::new();
            for (e, _) in src.elements(ty, o)? {
                items.push(render(src, element, e, depth + 1)?);
            }
            Json::Array(items)
        }
        TypeKind::Map { key, value: val } => {
            let key = schema.type_id(key).expect("schema resolved");
            let val = schema.type_id(val).expect("schema resolved");
            let mut map = Map::new();
            for (k, v) in src.elements(ty, o)? {
                let k = match render(src, key, k, depth + 1)? {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                let v = match v {
                    Some(v) => render(src, val, v, depth + 1)?,
                    None => Json::Null,
                };
                map.insert(k, v);
            }
            Json::Object(map)
        }
    })
}

fn value<S: RecordSource>(
    src: &S,
    ty: TypeId,
    field: FieldId,
    v: FieldValue<'_>,
    depth: u32,
) -> shoal_format::Result<Json> {
    Ok(match v {
        FieldValue::Null => Json::Null,
        FieldValue::Bool(b) => Json::Bool(b),
        FieldValue::I32(n) => Json::from(n),
        FieldValue::I64(n) => Json::from(n),
        // Through the shortest decimal of the f32, so 8.1f32 prints as 8.1.
        FieldValue::F32(x) => float(x.to_string().parse().unwrap_or(x as f64)),
        FieldValue::F64(x) => float(x),
        FieldValue::Str(s) => Json::String(s.to_string()),
        FieldValue::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => Json::String(s.to_string()),
            Err(_) => Json::Array(b.iter().map(|b| Json::from(*b)).collect()),
        },
        FieldValue::Ref(target) => {
            let schema = src.schema();
            let def = schema.type_def(ty).expect("type of a read field");
            let name = match &def.fields()[field.0 as usize].kind {
                shoal_format::FieldKind::Reference(t) => t,
                _ => unreachable!("a reference value comes from a reference field"),
            };
            let target_ty = schema.type_id(name).expect("schema resolved");
            render(src, target_ty, target, depth + 1)?
        }
    })
}

/// A float as JSON; NaN and infinities (which JSON lacks) as strings.
fn float(x: f64) -> Json {
    Number::from_f64(x)
        .map(Json::Number)
        .unwrap_or_else(|| Json::String(x.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Converter;
    use serde_json::json;
    use shoal_format::StateBuilder;
    use std::sync::Arc;

    #[test]
    fn rendering_gives_back_what_was_read() {
        let file = crate::schema_file::parse(
            r#"
[types.Movie]
key = ["id"]
fields = ["id: i64", "title: string", "rating: f32", "country: Country", "tags: Tags", "cast: Cast", "blob: bytes"]
[types.Country]
fields = ["code: string"]
[types.Tags]
list = "Tag"
[types.Tag]
fields = ["name: string"]
[types.Cast]
map = ["Role", "Person"]
[types.Role]
fields = ["name: string"]
[types.Person]
fields = ["name: string", "born: i32"]
"#,
        )
        .unwrap();
        let schema = Arc::new(file.schema);
        let c = Converter::new(&schema, "Movie").unwrap();
        let mut sink = StateBuilder::new(schema.clone());
        let row = json!({"id": 7, "title": "Heat", "rating": 8.1, "country": "US",
            "tags": ["la", "crime", "la"], "cast": {"lead": {"name": "Al", "born": 1940}},
            "blob": "raw"});
        let o = c.add_row(&mut sink, &row).unwrap();
        let state = sink.finish();
        assert_eq!(record(&state, TypeId(0), o).unwrap(), row);
    }
}
