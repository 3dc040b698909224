//! Small integer types that carry their meaning, so an ordinal is never passed where a version
//! or a type index was expected.

use std::fmt;

/// A record's row number within its type: small, dense, and stable while the record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ordinal(pub u32);

/// A dataset version, picked by the producer and strictly increasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u64);

/// The index of a type in its [`Schema`](crate::Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TypeId(pub u32);

/// The index of a field within its object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FieldId(pub u32);

impl Ordinal {
    /// The ordinal as an index into a slice.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl TypeId {
    /// The type id as an index into a slice.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl FieldId {
    /// The field id as an index into a slice.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type {}", self.0)
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}", self.0)
    }
}
