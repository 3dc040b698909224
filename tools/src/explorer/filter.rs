//! Records of a type whose field equals a value: `?field=year&value=1999`, or through a
//! reference, `?field=country.code&value=PL`.
//!
//! The value is parsed by the field's kind (an integer for `i32` and `i64`, a number for `f32`
//! and `f64`, `true` or `false`, else the text itself), so `1999` matches the integer, not
//! the string. A filter on a field of any kind but a float is answered by a hash index on
//! the field path (the consumer's, built once per version and field, then kept: see
//! [`crate::explorer::cache`]); a float is compared as a number (`-0.0` equals `0.0`), which
//! an index keyed by bits cannot do, so it is a scan of the type.

use serde::Serialize;
use shoal_consumer::Dataset;
use shoal_format::{FieldId, FieldKind, FieldPath, FieldValue, Ordinal, RecordSource, TypeId};

use crate::explorer::error::ApiError;

/// A filter as the request gives it: a field path and a value, both text.
#[derive(Debug, Clone, Serialize)]
pub struct FieldEquals {
    /// The field's path, dotted through references (`country.code`).
    pub field: String,
    /// The value, as text.
    pub value: String,
}

/// The value a filter looks for, typed by the field's kind.
#[derive(Debug, Clone, PartialEq)]
enum Wanted {
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    Text(String),
}

/// A field path and the value it must hold.
#[derive(Debug)]
pub struct Filter {
    steps: Vec<(TypeId, FieldId)>,
    kind: FieldKind,
    wanted: Wanted,
}

/// How a filter is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FoundBy {
    /// A hash index on the field path.
    Index,
    /// Reading the field of every record of the type.
    Scan,
}

impl Filter {
    /// The filter `field == value` on records of `ty`: a 400 naming the field when the
    /// type has no such scalar field, or naming the value when it does not parse as the
    /// field's kind.
    pub fn new(data: &Dataset, ty: TypeId, field: &str, value: &str) -> Result<Filter, ApiError> {
        let (steps, kind) = data
            .schema()
            .resolve_path(ty, &FieldPath::parse(field))
            .map_err(|reason| ApiError::bad_request(format!("field={field:?}: {reason}")))?;
        let wanted = parse(&kind, value).ok_or_else(|| {
            ApiError::bad_request(format!(
                "value={value:?}: field {field} is {}, and {value:?} is not one",
                kind_name(&kind)
            ))
        })?;
        Ok(Filter {
            steps,
            kind,
            wanted,
        })
    }

    /// How this filter is answered: by an index unless the field is a float.
    pub fn found_by(&self) -> FoundBy {
        match self.wanted {
            Wanted::F32(_) | Wanted::F64(_) => FoundBy::Scan,
            _ => FoundBy::Index,
        }
    }

    /// The value as a key of a hash index on the field, typed as the field stores it
    /// (`None` for a float: see [`Filter::found_by`]).
    pub fn index_key(&self) -> Option<FieldValue<'_>> {
        Some(match (&self.wanted, &self.kind) {
            (Wanted::Bool(b), _) => FieldValue::Bool(*b),
            (Wanted::Int(n), FieldKind::I32) => FieldValue::I32(i32::try_from(*n).ok()?),
            (Wanted::Int(n), _) => FieldValue::I64(*n),
            (Wanted::Text(t), FieldKind::Bytes) => FieldValue::Bytes(t.as_bytes()),
            (Wanted::Text(t), _) => FieldValue::Str(t),
            (Wanted::F32(_) | Wanted::F64(_), _) => return None,
        })
    }

    /// True when record `o` holds the value (a missing value or a broken reference does not).
    pub fn matches(&self, data: &Dataset, o: Ordinal) -> Result<bool, ApiError> {
        let mut o = o;
        for (i, (t, f)) in self.steps.iter().enumerate() {
            let v = RecordSource::field(data, *t, *f, o)?;
            if i + 1 == self.steps.len() {
                return Ok(equals(&v, &self.wanted));
            }
            let FieldValue::Ref(next) = v else {
                return Ok(false);
            };
            o = next;
        }
        Ok(false)
    }
}

fn parse(kind: &FieldKind, value: &str) -> Option<Wanted> {
    match kind {
        FieldKind::Bool => value.parse().ok().map(Wanted::Bool),
        FieldKind::I32 => value.parse::<i32>().ok().map(|n| Wanted::Int(n.into())),
        FieldKind::I64 => value.parse().ok().map(Wanted::Int),
        FieldKind::F32 => value.parse().ok().map(Wanted::F32),
        FieldKind::F64 => value.parse().ok().map(Wanted::F64),
        FieldKind::String | FieldKind::Bytes => Some(Wanted::Text(value.to_string())),
        FieldKind::Reference(_) => None,
    }
}

fn kind_name(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Bool => "a bool (true or false)",
        FieldKind::I32 => "an i32",
        FieldKind::I64 => "an i64",
        FieldKind::F32 => "an f32",
        FieldKind::F64 => "an f64",
        FieldKind::String => "a string",
        FieldKind::Bytes => "bytes",
        FieldKind::Reference(_) => "a reference",
    }
}

fn equals(v: &FieldValue<'_>, wanted: &Wanted) -> bool {
    match (v, wanted) {
        (FieldValue::Bool(a), Wanted::Bool(b)) => a == b,
        (FieldValue::I32(a), Wanted::Int(b)) => i64::from(*a) == *b,
        (FieldValue::I64(a), Wanted::Int(b)) => a == b,
        (FieldValue::F32(a), Wanted::F32(b)) => a == b,
        (FieldValue::F64(a), Wanted::F64(b)) => a == b,
        (FieldValue::Str(a), Wanted::Text(b)) => a == b,
        (FieldValue::Bytes(a), Wanted::Text(b)) => *a == b.as_bytes(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_parsed_by_the_fields_kind() {
        assert_eq!(parse(&FieldKind::I32, "1999"), Some(Wanted::Int(1999)));
        assert_eq!(parse(&FieldKind::I32, "99999999999"), None);
        assert_eq!(parse(&FieldKind::I64, "x"), None);
        assert_eq!(parse(&FieldKind::Bool, "true"), Some(Wanted::Bool(true)));
        assert_eq!(parse(&FieldKind::F64, "6.5"), Some(Wanted::F64(6.5)));
        assert_eq!(
            parse(&FieldKind::String, "1999"),
            Some(Wanted::Text("1999".into()))
        );
    }

    #[test]
    fn an_integer_matches_an_integer_and_never_a_string() {
        assert!(equals(&FieldValue::I32(1999), &Wanted::Int(1999)));
        assert!(!equals(&FieldValue::Str("1999"), &Wanted::Int(1999)));
        assert!(!equals(&FieldValue::Null, &Wanted::Int(1999)));
    }
}
