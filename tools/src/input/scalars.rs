//! Arrow scalar columns as values of a shoal field, one value at a time: the one set of
//! rules for what an Arrow value becomes (see the table in [`columns`](super::columns)).
//!
//! A value is read where the column holds it ([`Scalars::at`]), so a root record is packed
//! straight from its batch's columns, with no `Value` (nor `String`) per value in between.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray};
use arrow_buffer::ArrowNativeType;
use arrow_schema::{DataType, TimeUnit};
use shoal_format::{FieldKind, FieldValue};

/// A scalar column read as values of one field kind (the column's type checked against
/// the kind by [`plan_field`](super::columns::plan_field)).
pub struct Scalars {
    kind: FieldKind,
    column: Column,
}

enum Column {
    Nulls,
    Bool(BooleanArray),
    /// Utf8, LargeUtf8, Utf8View.
    Text(ArrayRef),
    /// Binary, LargeBinary, BinaryView, FixedSizeBinary.
    Binary(ArrayRef),
    Float(Box<dyn FloatAt>),
    Int(Box<dyn IntAt>),
}

impl Scalars {
    /// Reads `array` (a dictionary as its values) as values of `kind`; an error when its
    /// Arrow type is not one a scalar field takes.
    pub fn new(kind: &FieldKind, array: &dyn Array) -> Result<Self, String> {
        use DataType as D;
        let column = match array.data_type() {
            D::Dictionary(..) => return Scalars::new(kind, flatten(array)?.as_ref()),
            D::Null => Column::Nulls,
            D::Boolean => Column::Bool(array.as_boolean().clone()),
            D::Utf8 | D::LargeUtf8 | D::Utf8View => Column::Text(array.slice(0, array.len())),
            D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => {
                Column::Binary(array.slice(0, array.len()))
            }
            D::Float16 | D::Float32 | D::Float64 | D::Decimal128(..) => {
                Column::Float(floats(array))
            }
            dt => Column::Int(
                ints(array)
                    .ok_or_else(|| format!("{dt} is not the type the column was checked as"))?,
            ),
        };
        Ok(Scalars {
            kind: kind.clone(),
            column,
        })
    }

    /// The value at `i`, or what is wrong with it.
    pub fn at(&self, i: usize) -> Result<FieldValue<'_>, String> {
        let value = match &self.column {
            Column::Nulls => return Ok(FieldValue::Null),
            Column::Bool(a) if a.is_null(i) => return Ok(FieldValue::Null),
            Column::Bool(a) => return Ok(FieldValue::Bool(a.value(i))),
            Column::Text(a) | Column::Binary(a) if a.is_null(i) => return Ok(FieldValue::Null),
            Column::Text(a) if self.kind == FieldKind::String => {
                return Ok(FieldValue::Str(super::columns::string_at(a.as_ref(), i)))
            }
            Column::Text(a) => super::columns::string_at(a.as_ref(), i).as_bytes(),
            Column::Binary(a) => binary_at(a.as_ref(), i),
            Column::Float(a) => return a.at(i).map_or(Ok(FieldValue::Null), |x| self.float(x)),
            Column::Int(a) => return a.at(i).map_or(Ok(FieldValue::Null), |n| self.int(n?)),
        };
        Ok(FieldValue::Bytes(value))
    }

    /// A floating-point number as the field's value: a NaN or an infinity is refused.
    fn float(&self, x: f64) -> Result<FieldValue<'static>, String> {
        if !x.is_finite() {
            return Err(format!("{x} is not a finite number"));
        }
        Ok(match self.kind {
            FieldKind::F32 => FieldValue::F32(x as f32),
            _ => FieldValue::F64(x),
        })
    }

    /// An integer as the field's value (an i32 field's range-checked).
    fn int(&self, n: i64) -> Result<FieldValue<'static>, String> {
        Ok(match self.kind {
            FieldKind::I32 => FieldValue::I32(i32::try_from(n).map_err(|_| {
                format!("expected an integer that fits an i32, found the number {n}")
            })?),
            FieldKind::F32 => FieldValue::F32(n as f32),
            FieldKind::F64 => FieldValue::F64(n as f64),
            _ => FieldValue::I64(n),
        })
    }
}

/// A dictionary column as the column of its values.
pub fn flatten(array: &dyn Array) -> Result<ArrayRef, String> {
    let dict = array.as_any_dictionary();
    arrow_select::take::take(dict.values().as_ref(), dict.keys(), None)
        .map_err(|e| format!("cannot read a dictionary: {e}"))
}

fn binary_at(a: &dyn Array, i: usize) -> &[u8] {
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().value(i),
        DataType::LargeBinary => a.as_binary::<i64>().value(i),
        DataType::BinaryView => a.as_binary_view().value(i),
        _ => a.as_fixed_size_binary().value(i),
    }
}

/// A floating-point (or decimal) column's value as an f64; `None` for a null.
trait FloatAt {
    fn at(&self, i: usize) -> Option<f64>;
}

/// A column of floats and how each becomes an f64.
struct Floats<T: ArrowPrimitiveType, F> {
    array: PrimitiveArray<T>,
    to_f64: F,
}

impl<T: ArrowPrimitiveType, F: Fn(T::Native) -> f64> FloatAt for Floats<T, F> {
    fn at(&self, i: usize) -> Option<f64> {
        (!self.array.is_null(i)).then(|| (self.to_f64)(self.array.value(i)))
    }
}

fn floats(a: &dyn Array) -> Box<dyn FloatAt> {
    fn of<T: ArrowPrimitiveType>(
        a: &dyn Array,
        to_f64: impl Fn(T::Native) -> f64 + 'static,
    ) -> Box<dyn FloatAt> {
        let array = a.as_primitive::<T>().clone();
        Box::new(Floats { array, to_f64 })
    }
    match a.data_type() {
        DataType::Float16 => of::<Float16Type>(a, |v| v.to_f64()),
        DataType::Float32 => of::<Float32Type>(a, f64::from),
        DataType::Decimal128(_, scale) => {
            let scale = 10f64.powi(i32::from(*scale));
            of::<Decimal128Type>(a, move |v| v as f64 / scale)
        }
        _ => of::<Float64Type>(a, |v| v),
    }
}

/// An integer-like column's value as an i64 (an unsigned one too large for it: an error
/// naming it); `None` for a null.
trait IntAt {
    fn at(&self, i: usize) -> Option<Result<i64, String>>;
}

impl<T: ArrowPrimitiveType> IntAt for PrimitiveArray<T>
where
    T::Native: std::fmt::Display,
{
    fn at(&self, i: usize) -> Option<Result<i64, String>> {
        (!self.is_null(i)).then(|| {
            let v = self.value(i);
            v.to_i64().ok_or_else(|| {
                format!("expected an integer that fits an i64, found the number {v}")
            })
        })
    }
}

/// An integer-like column (integers, dates, times, timestamps, durations); `None` for a
/// column of another type.
fn ints(a: &dyn Array) -> Option<Box<dyn IntAt>> {
    use DataType as D;
    fn of<T: ArrowPrimitiveType>(a: &dyn Array) -> Option<Box<dyn IntAt>>
    where
        T::Native: std::fmt::Display,
    {
        Some(Box::new(a.as_primitive::<T>().clone()))
    }
    match a.data_type() {
        D::Int8 => of::<Int8Type>(a),
        D::Int16 => of::<Int16Type>(a),
        D::Int32 => of::<Int32Type>(a),
        D::Int64 => of::<Int64Type>(a),
        D::UInt8 => of::<UInt8Type>(a),
        D::UInt16 => of::<UInt16Type>(a),
        D::UInt32 => of::<UInt32Type>(a),
        D::UInt64 => of::<UInt64Type>(a),
        D::Date32 => of::<Date32Type>(a),
        D::Date64 => of::<Date64Type>(a),
        D::Timestamp(TimeUnit::Second, _) => of::<TimestampSecondType>(a),
        D::Timestamp(TimeUnit::Millisecond, _) => of::<TimestampMillisecondType>(a),
        D::Timestamp(TimeUnit::Microsecond, _) => of::<TimestampMicrosecondType>(a),
        D::Timestamp(TimeUnit::Nanosecond, _) => of::<TimestampNanosecondType>(a),
        D::Time32(TimeUnit::Second) => of::<Time32SecondType>(a),
        D::Time32(_) => of::<Time32MillisecondType>(a),
        D::Time64(TimeUnit::Microsecond) => of::<Time64MicrosecondType>(a),
        D::Time64(_) => of::<Time64NanosecondType>(a),
        D::Duration(TimeUnit::Second) => of::<DurationSecondType>(a),
        D::Duration(TimeUnit::Millisecond) => of::<DurationMillisecondType>(a),
        D::Duration(TimeUnit::Microsecond) => of::<DurationMicrosecondType>(a),
        D::Duration(TimeUnit::Nanosecond) => of::<DurationNanosecondType>(a),
        _ => None,
    }
}
