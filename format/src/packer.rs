//! Object records packed a field at a time, each value checked against its field's kind as
//! it comes, so a sink can take the row without reading it again.
//!
//! A sink must not store a row that is not a whole record of its type
//! ([`Row::fits`](crate::Row::fits)), so a row given to it as bytes is read field by field
//! once more. An input that packs each root record column by column (the Parquet reader)
//! knows every field's kind as it packs it: [`ObjectPacker`] checks each value's kind as
//! it appends it, and a row it finished ([`PackedObject`]) proves that it fits a type with
//! the same kind of field at each place, which a sink checks with a few byte compares
//! ([`RecordSink::add_object`](crate::RecordSink::add_object)).

use crate::error::{Error, Result};
use crate::read::FieldValue;
use crate::rows::Rows;
use crate::schema::{TypeDef, TypeKind};

/// Packs object records of one type field by field (see the module doc).
#[derive(Debug, Clone)]
pub struct ObjectPacker {
    /// The type's name, for errors.
    name: String,
    /// Each field's kind code, in order.
    codes: Vec<u8>,
    /// The record being packed.
    bytes: Vec<u8>,
    /// How many fields it has so far.
    next: usize,
}

/// A whole object record packed by an [`ObjectPacker`], and the kind of each of its fields.
#[derive(Debug, Clone, Copy)]
pub struct PackedObject<'a> {
    codes: &'a [u8],
    bytes: &'a [u8],
}

impl ObjectPacker {
    /// A packer of records of `def`; `None` when it is not an object type.
    pub fn new(def: &TypeDef) -> Option<Self> {
        let TypeKind::Object { fields, .. } = &def.kind else {
            return None;
        };
        let mut packer = ObjectPacker {
            name: def.name.clone(),
            codes: fields.iter().map(|f| f.kind.code()).collect(),
            bytes: Vec::new(),
            next: 0,
        };
        packer.start();
        Some(packer)
    }

    /// Starts the next record, dropping what was packed so far.
    pub fn start(&mut self) {
        self.bytes.clear();
        Rows::pack_object_head(self.codes.len(), &mut self.bytes);
        self.next = 0;
    }

    /// Appends the next field's value. An error, and nothing appended, when the value is
    /// neither null nor of that field's kind, or when every field has its value already.
    pub fn push(&mut self, value: FieldValue<'_>) -> Result<()> {
        let Some(&code) = self.codes.get(self.next) else {
            return Err(self.invalid(format!("more than its {} fields given", self.codes.len())));
        };
        let given = value_code(&value);
        if given != 0 && given != code {
            return Err(self.invalid(format!("field #{} given a {value:?}", self.next)));
        }
        Rows::pack_field(value, &mut self.bytes);
        self.next += 1;
        Ok(())
    }

    /// The record, once every field has its value.
    pub fn finish(&self) -> Option<PackedObject<'_>> {
        (self.next == self.codes.len()).then_some(PackedObject {
            codes: &self.codes,
            bytes: &self.bytes,
        })
    }

    fn invalid(&self, reason: String) -> Error {
        Error::InvalidRecord {
            type_name: self.name.clone(),
            reason,
        }
    }
}

impl<'a> PackedObject<'a> {
    /// The packed bytes ([`Rows::pack`]'s, for the same record).
    pub fn bytes(self) -> &'a [u8] {
        self.bytes
    }

    /// True when `def` is an object type with the kind of field at each place that the
    /// record was packed for: then the record is a whole record of `def`, as
    /// [`Row::fits`](crate::Row::fits) would find, without reading it.
    pub fn fits(self, def: &TypeDef) -> bool {
        let TypeKind::Object { fields, .. } = &def.kind else {
            return false;
        };
        fields.len() == self.codes.len()
            && fields
                .iter()
                .zip(self.codes)
                .all(|(f, &c)| f.kind.code() == c)
    }
}

/// The kind code a value is packed with (0 for null).
fn value_code(value: &FieldValue<'_>) -> u8 {
    match value {
        FieldValue::Null => 0,
        FieldValue::Bool(_) => 1,
        FieldValue::I32(_) => 2,
        FieldValue::I64(_) => 3,
        FieldValue::F32(_) => 4,
        FieldValue::F64(_) => 5,
        FieldValue::Str(_) => 6,
        FieldValue::Bytes(_) => 7,
        FieldValue::Ref(_) => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldKind, Ordinal, Record, Row, Value};

    fn movie() -> TypeDef {
        TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String)
            .reference("country", "Country")
    }

    #[test]
    fn a_packed_object_is_the_row_rows_pack_makes_and_fits_its_type() {
        let def = movie();
        let mut packer = ObjectPacker::new(&def).expect("an object type");
        for round in 0..2 {
            packer.start();
            packer.push(FieldValue::I64(7 + round)).unwrap();
            assert!(packer.finish().is_none(), "two fields still missing");
            packer.push(FieldValue::Null).unwrap();
            packer.push(FieldValue::Ref(Ordinal(3))).unwrap();
            let row = packer.finish().expect("every field given");
            let record = Record::Object(vec![
                Value::I64(7 + round),
                Value::Null,
                Value::Ref(Ordinal(3)),
            ]);
            let mut packed = Vec::new();
            Rows::pack(&record, &mut packed);
            assert_eq!(row.bytes(), packed);
            assert!(row.fits(&def) && Row::of(row.bytes()).fits(&def));
        }
    }

    #[test]
    fn a_value_of_another_kind_or_one_too_many_is_refused_and_not_packed() {
        let def = movie();
        let mut packer = ObjectPacker::new(&def).unwrap();
        let wrong = packer.push(FieldValue::Str("7")).unwrap_err();
        assert!(wrong.to_string().contains("Movie"), "{wrong}");
        packer.push(FieldValue::I64(7)).unwrap();
        packer.push(FieldValue::Str("Heat")).unwrap();
        assert!(
            packer.push(FieldValue::I64(1)).is_err(),
            "a reference field"
        );
        packer.push(FieldValue::Ref(Ordinal(0))).unwrap();
        assert!(packer.push(FieldValue::Null).is_err(), "a fourth field");
        assert!(Row::of(packer.finish().unwrap().bytes()).fits(&def));
    }

    #[test]
    fn a_packed_object_fits_no_type_with_other_fields() {
        let def = movie();
        let mut packer = ObjectPacker::new(&def).unwrap();
        for value in [FieldValue::I64(1), FieldValue::Null, FieldValue::Null] {
            packer.push(value).unwrap();
        }
        let row = packer.finish().unwrap();
        let swapped = TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::Bytes)
            .reference("country", "Country");
        let shorter = TypeDef::object("Movie").field("id", FieldKind::I64);
        assert!(!row.fits(&swapped) && !row.fits(&shorter));
        assert!(!row.fits(&TypeDef::list("Movies", "Movie")));
        assert!(ObjectPacker::new(&TypeDef::list("Movies", "Movie")).is_none());
    }
}
