//! The dynamic record model: one [`Record`] per ordinal of a type, object records holding one
//! [`Value`] per field.
//!
//! Equality and hashing are bit-exact for floats (`NaN == NaN`, `0.0 != -0.0`), which is what
//! dedup needs: two records are the same record when they would encode to the same bits.

use std::hash::{Hash, Hasher};

use crate::ids::Ordinal;

/// The value of one field of an object record.
#[derive(Debug, Clone)]
pub enum Value {
    /// No value: every field is nullable.
    Null,
    /// A bool.
    Bool(bool),
    /// An i32.
    I32(i32),
    /// An i64.
    I64(i64),
    /// An f32.
    F32(f32),
    /// An f64.
    F64(f64),
    /// A string.
    String(Box<str>),
    /// A byte string.
    Bytes(Box<[u8]>),
    /// A reference to a record of the field's target type.
    Ref(Ordinal),
}

/// A record of one type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Record {
    /// An object record: one value per field, in field order.
    Object(Vec<Value>),
    /// A list record: element ordinals in order.
    List(Vec<Ordinal>),
    /// A set record: element ordinals, sorted and without duplicates.
    Set(Vec<Ordinal>),
    /// A map record: (key, value) ordinal pairs, sorted by key, keys unique.
    Map(Vec<(Ordinal, Ordinal)>),
}

impl Value {
    fn tag(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::I32(_) => 2,
            Value::I64(_) => 3,
            Value::F32(_) => 4,
            Value::F64(_) => 5,
            Value::String(_) => 6,
            Value::Bytes(_) => 7,
            Value::Ref(_) => 8,
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::I32(a), Value::I32(b)) => a == b,
            (Value::I64(a), Value::I64(b)) => a == b,
            (Value::F32(a), Value::F32(b)) => a.to_bits() == b.to_bits(),
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Ref(a), Value::Ref(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.tag());
        match self {
            Value::Null => {}
            Value::Bool(v) => v.hash(state),
            Value::I32(v) => v.hash(state),
            Value::I64(v) => v.hash(state),
            Value::F32(v) => v.to_bits().hash(state),
            Value::F64(v) => v.to_bits().hash(state),
            Value::String(v) => v.hash(state),
            Value::Bytes(v) => v.hash(state),
            Value::Ref(v) => v.hash(state),
        }
    }
}

impl Record {
    /// Brings a set or map into its canonical order (sorted, duplicates removed); other
    /// records are left as they are. Returns false when a map holds one key twice.
    pub fn canonicalize(&mut self) -> bool {
        match self {
            Record::Set(elements) => {
                elements.sort_unstable();
                elements.dedup();
                true
            }
            Record::Map(entries) => {
                entries.sort_unstable();
                entries.dedup();
                entries.windows(2).all(|w| w[0].0 != w[1].0)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_three_words() {
        // Producers hold millions of records: strings and bytes are boxed slices, so a value
        // costs 24 bytes, not 32.
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn floats_compare_by_bits() {
        assert_eq!(Value::F64(f64::NAN), Value::F64(f64::NAN));
        assert_ne!(Value::F64(0.0), Value::F64(-0.0));
    }

    #[test]
    fn map_with_duplicate_key_is_not_canonical() {
        let mut r = Record::Map(vec![(Ordinal(1), Ordinal(2)), (Ordinal(1), Ordinal(3))]);
        assert!(!r.canonicalize());
        let mut s = Record::Set(vec![Ordinal(3), Ordinal(1), Ordinal(3)]);
        assert!(s.canonicalize());
        assert_eq!(s, Record::Set(vec![Ordinal(1), Ordinal(3)]));
    }
}
