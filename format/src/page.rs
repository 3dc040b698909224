//! Column pages: the unit a consumer shares between versions.
//!
//! Every column of a type is cut into pages of `2^page_shift` ordinals. A **fixed page** holds
//! bit-packed codes at the page's own width with a frame of reference (`value = base + code`),
//! a reserved null code, and for floats an optional decimal scaling (`value = n / 10^scale`,
//! chosen only when it reproduces every value bit for bit). A **var page** holds bit-packed end
//! offsets into a heap of bytes (strings, bytes) or into packed arrays of ordinals (the
//! elements of lists and sets, the keys and values of maps). Layouts are in `docs/FORMAT.md`.
//!
//! Parsing a page checks its header and that its length is exactly what the header implies,
//! so every later read stays in bounds; a read never allocates.

use crate::bitpack::{self, bits_needed, packed_len};
use crate::ids::Ordinal;
use crate::read::Elements;
use crate::schema::{FixedKind, VarKind};

/// Bytes of every page header.
pub const PAGE_HEADER_LEN: usize = 24;

/// The largest decimal scale tried for f64 columns.
pub const MAX_SCALE_F64: u8 = 18;
/// The largest decimal scale tried for f32 columns.
pub const MAX_SCALE_F32: u8 = 10;

const POW10_F64: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

const ENCODING_PLAIN: u8 = 0;
const ENCODING_DECIMAL: u8 = 1;
const FLAG_HAS_NULLS: u8 = 1;

/// Var page layouts.
const LAYOUT_HEAP: u8 = 1;
const LAYOUT_ORDINALS: u8 = 2;
const LAYOUT_PAIRS: u8 = 3;
/// Strings or bytes as codes into the page's dictionary of distinct values (format version 3).
const LAYOUT_DICT: u8 = 4;

/// One slot of a fixed page as the writer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedCell {
    /// An unpopulated ordinal: stored as code 0, never read.
    Hole,
    /// A null value.
    Null,
    /// A value as raw bits: bool 0/1, ints sign-extended to 64 bits, floats as IEEE bits,
    /// references as the ordinal.
    Raw(u64),
}

/// One slot of a var page as the writer sees it.
#[derive(Debug, Clone)]
pub enum VarCell<'a> {
    /// An unpopulated ordinal: stored as an empty value, never read.
    Hole,
    /// A null string or byte string.
    Null,
    /// A string or byte string.
    Bytes(&'a [u8]),
    /// The elements of a list or set.
    Ordinals(&'a [Ordinal]),
    /// The entries of a map.
    Pairs(&'a [(Ordinal, Ordinal)]),
    /// The elements of a list or set, or the entries of a map, read in place from where the
    /// record lives (another page).
    Elements(Elements<'a>),
}

/// Why a page could not be parsed; the caller adds where the page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError(pub String);

/// Why a value could not be read from a parsed page (possible only in a hostile blob whose
/// checksums were never verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// End offsets that run backwards or past the heap.
    BadRange {
        /// The start offset.
        start: u64,
        /// The end offset.
        end: u64,
        /// The heap length.
        limit: u64,
    },
    /// A string that is not UTF-8.
    Utf8,
}

/// Appends a fixed page of `cells` (at most `2^page_shift` of them).
pub fn encode_fixed(kind: FixedKind, cells: &[FixedCell], out: &mut Vec<u8>) {
    let (encoding, scale, raws) = choose_encoding(kind, cells);
    let signed = matches!(kind, FixedKind::I32 | FixedKind::I64) || encoding == ENCODING_DECIMAL;
    let values = raws.iter().filter_map(|c| match c {
        FixedCell::Raw(v) => Some(*v),
        _ => None,
    });
    let (base, max_code) = frame(values, signed);
    let has_nulls = raws.contains(&FixedCell::Null);
    let null_code = match (has_nulls, max_code) {
        (false, _) | (true, None) => 0,
        (true, Some(max)) if max < u64::MAX => max + 1,
        (true, Some(_)) => free_code(&raws, base),
    };
    let width = bits_needed(max_code.unwrap_or(0).max(null_code));
    out.push(encoding);
    out.push(width as u8);
    out.push(if has_nulls { FLAG_HAS_NULLS } else { 0 });
    out.push(scale);
    out.extend_from_slice(&(cells.len() as u32).to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&null_code.to_le_bytes());
    let codes = raws.iter().map(|c| match c {
        FixedCell::Hole => 0,
        FixedCell::Null => null_code,
        FixedCell::Raw(v) => v.wrapping_sub(base),
    });
    bitpack::pack(codes, width, out);
}

/// The base (smallest value) and the largest code of a frame of reference, or no code at all.
fn frame(values: impl Iterator<Item = u64>, signed: bool) -> (u64, Option<u64>) {
    let mut lo: Option<u64> = None;
    let mut hi = 0u64;
    for v in values {
        let key = |x: u64| if signed { x ^ (1 << 63) } else { x };
        match lo {
            None => {
                lo = Some(v);
                hi = v;
            }
            Some(l) => {
                if key(v) < key(l) {
                    lo = Some(v);
                }
                if key(v) > key(hi) {
                    hi = v;
                }
            }
        }
    }
    match lo {
        None => (0, None),
        Some(base) => (base, Some(hi.wrapping_sub(base))),
    }
}

/// A code no value uses, for the one case where `max_code + 1` overflows: every 64-bit code
/// is in range, but a page holds far fewer values than that, so a gap exists.
fn free_code(cells: &[FixedCell], base: u64) -> u64 {
    let mut codes: Vec<u64> = cells
        .iter()
        .filter_map(|c| match c {
            FixedCell::Raw(v) => Some(v.wrapping_sub(base)),
            _ => None,
        })
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let mut candidate = 0u64;
    for c in codes {
        if c != candidate {
            break;
        }
        candidate += 1;
    }
    candidate
}

/// Picks plain or decimal encoding; for decimal, returns the cells rewritten as integers.
fn choose_encoding(kind: FixedKind, cells: &[FixedCell]) -> (u8, u8, Vec<FixedCell>) {
    let plain = (ENCODING_PLAIN, 0, cells.to_vec());
    let max_scale = match kind {
        FixedKind::F64 => MAX_SCALE_F64,
        FixedKind::F32 => MAX_SCALE_F32,
        _ => return plain,
    };
    let is_f32 = kind == FixedKind::F32;
    let mut scale = 0u8;
    for cell in cells {
        let FixedCell::Raw(bits) = *cell else {
            continue;
        };
        while decimal_mantissa(bits, scale, is_f32).is_none() {
            scale += 1;
            if scale > max_scale {
                return plain;
            }
        }
    }
    let mut ints = Vec::with_capacity(cells.len());
    for cell in cells {
        ints.push(match *cell {
            FixedCell::Raw(bits) => match decimal_mantissa(bits, scale, is_f32) {
                Some(n) => FixedCell::Raw(n as u64),
                None => return plain,
            },
            other => other,
        });
    }
    (ENCODING_DECIMAL, scale, ints)
}

/// The integer `n` with `n / 10^scale == value` bit for bit, if there is one.
fn decimal_mantissa(bits: u64, scale: u8, is_f32: bool) -> Option<i64> {
    let (x, limit) = if is_f32 {
        (f32::from_bits(bits as u32) as f64, (1u64 << 24) as f64)
    } else {
        (f64::from_bits(bits), (1u64 << 53) as f64)
    };
    let n = (x * POW10_F64[scale as usize]).round();
    if !n.is_finite() || n.abs() > limit {
        return None;
    }
    let n = n as i64;
    (decode_decimal(n as u64, scale, is_f32) == bits).then_some(n)
}

/// The float bits of a decimal-encoded value: `n / 10^scale`, in the column's own precision.
#[inline]
fn decode_decimal(raw: u64, scale: u8, is_f32: bool) -> u64 {
    let n = raw as i64;
    if is_f32 {
        let p = POW10_F32.get(scale as usize).copied().unwrap_or(1.0);
        ((n as f32) / p).to_bits() as u64
    } else {
        let p = POW10_F64.get(scale as usize).copied().unwrap_or(1.0);
        ((n as f64) / p).to_bits()
    }
}

/// The parsed header of a fixed page: everything needed to read a value but the packed codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    base: u64,
    null_code: u64,
    count: u32,
    width: u8,
    has_nulls: bool,
    decimal: bool,
    scale: u8,
    is_f32: bool,
}

impl FixedHeader {
    /// The code that stores `cell` in a page with this header, if it fits the page as it is
    /// (same width, frame of reference, null code and decimal scale): then a copy of the page
    /// can be patched in place with [`bitpack::set`] instead of being encoded again. `None`
    /// when the page must be encoded again.
    pub fn code_of(&self, cell: FixedCell) -> Option<u64> {
        match cell {
            FixedCell::Hole => Some(0),
            // A null code that does not fit the width (a hostile header) cannot be patched.
            FixedCell::Null => self
                .has_nulls
                .then_some(self.null_code)
                .filter(|c| self.width >= 64 || c >> self.width == 0),
            FixedCell::Raw(bits) => {
                let raw = if self.decimal {
                    decimal_mantissa(bits, self.scale, self.is_f32)? as u64
                } else {
                    bits
                };
                let code = raw.wrapping_sub(self.base);
                if self.width < 64 && code >> self.width != 0 {
                    return None;
                }
                if self.has_nulls && code == self.null_code {
                    return None;
                }
                Some(code)
            }
        }
    }

    /// The width of the page's codes in bits.
    pub fn width(&self) -> u32 {
        self.width as u32
    }

    /// The number of values in the page.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Parses and checks a page of `expected_count` values of `kind`; `bytes` is exactly the
    /// page. The packed codes start at [`PAGE_HEADER_LEN`].
    pub fn parse(bytes: &[u8], kind: FixedKind, expected_count: u32) -> Result<Self, PageError> {
        let header = header(bytes)?;
        let [encoding, width, flags, scale] = [header[0], header[1], header[2], header[3]];
        let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let base = le_u64(&header[8..16]);
        let null_code = le_u64(&header[16..24]);
        if count != expected_count {
            return Err(PageError(format!(
                "page holds {count} values, expected {expected_count}"
            )));
        }
        if width > 64 {
            return Err(PageError(format!("width {width} exceeds 64 bits")));
        }
        if flags & !FLAG_HAS_NULLS != 0 {
            return Err(PageError(format!("unknown flags {flags:#04x}")));
        }
        let has_nulls = flags & FLAG_HAS_NULLS != 0;
        if !has_nulls && null_code != 0 {
            return Err(PageError("null code set on a page without nulls".into()));
        }
        let decimal = match (encoding, kind) {
            (ENCODING_PLAIN, _) if scale == 0 => false,
            (ENCODING_DECIMAL, FixedKind::F64) if scale <= MAX_SCALE_F64 => true,
            (ENCODING_DECIMAL, FixedKind::F32) if scale <= MAX_SCALE_F32 => true,
            _ => {
                return Err(PageError(format!(
                    "encoding {encoding} with scale {scale} is not valid for {kind:?}"
                )))
            }
        };
        let needed = packed_len(count as usize, width as u32);
        let packed = bytes.len() - PAGE_HEADER_LEN;
        if packed != needed {
            return Err(PageError(format!(
                "packed area is {packed} bytes, header implies {needed}"
            )));
        }
        Ok(FixedHeader {
            base,
            null_code,
            count,
            width,
            has_nulls,
            decimal,
            scale,
            is_f32: kind == FixedKind::F32,
        })
    }
}

/// A parsed fixed page, borrowing its packed codes.
#[derive(Debug, Clone, Copy)]
pub struct FixedPage<'a> {
    h: FixedHeader,
    packed: &'a [u8],
}

impl<'a> FixedPage<'a> {
    /// Parses a page of `expected_count` values of `kind`; `bytes` is exactly the page.
    #[cfg(test)]
    pub fn parse(bytes: &'a [u8], kind: FixedKind, expected_count: u32) -> Result<Self, PageError> {
        let h = FixedHeader::parse(bytes, kind, expected_count)?;
        Ok(FixedPage {
            h,
            packed: &bytes[PAGE_HEADER_LEN..],
        })
    }

    /// A page from a header parsed earlier and the bytes from its packed codes on (they may
    /// run past the page: reads never look beyond what the header allows).
    #[inline]
    pub fn from_parts(h: FixedHeader, packed: &'a [u8]) -> Self {
        FixedPage { h, packed }
    }

    /// The number of values in the page.
    pub fn len(&self) -> usize {
        self.h.count as usize
    }

    /// The page's bit width.
    pub fn width(&self) -> u32 {
        self.h.width as u32
    }

    /// The raw bits of value `i` (see [`FixedCell::Raw`]), or `None` for null.
    #[inline]
    pub fn raw(&self, i: usize) -> Option<u64> {
        let h = &self.h;
        let code = bitpack::get(self.packed, h.width as u32, i);
        if h.has_nulls && code == h.null_code {
            return None;
        }
        let raw = h.base.wrapping_add(code);
        if h.decimal {
            return Some(decode_decimal(raw, h.scale, h.is_f32));
        }
        Some(raw)
    }

    /// Value `i` as an i64 (for i64 columns).
    #[inline]
    pub fn i64(&self, i: usize) -> Option<i64> {
        self.raw(i).map(|r| r as i64)
    }

    /// Value `i` as an i32 (for i32 columns).
    #[inline]
    pub fn i32(&self, i: usize) -> Option<i32> {
        self.raw(i).map(|r| r as i32)
    }

    /// Value `i` as an f64 (for f64 columns).
    #[inline]
    pub fn f64(&self, i: usize) -> Option<f64> {
        self.raw(i).map(f64::from_bits)
    }

    /// Value `i` as an f32 (for f32 columns).
    #[inline]
    pub fn f32(&self, i: usize) -> Option<f32> {
        self.raw(i).map(|r| f32::from_bits(r as u32))
    }

    /// Value `i` as a bool (for bool columns).
    #[inline]
    pub fn bool(&self, i: usize) -> Option<bool> {
        self.raw(i).map(|r| r != 0)
    }

    /// Value `i` as an ordinal (for reference columns). A value beyond the ordinal range reads
    /// as `u32::MAX`, which is never a populated ordinal.
    #[inline]
    pub fn ordinal(&self, i: usize) -> Option<Ordinal> {
        self.raw(i)
            .map(|r| Ordinal(u32::try_from(r).unwrap_or(u32::MAX)))
    }
}

/// Appends a var page of `cells`, all of the layout that `kind` implies; with `dictionary`,
/// a string or bytes page is stored as codes into its distinct values when that is smaller
/// (layout 4, format version 3).
pub fn encode_var(kind: VarKind, cells: &[VarCell<'_>], dictionary: bool, out: &mut Vec<u8>) {
    if dictionary && matches!(kind, VarKind::String | VarKind::Bytes) {
        let dict = Dictionary::of(cells);
        if dict.len() < heap_len(cells) {
            return dict.encode(cells, out);
        }
    }
    encode_plain_var(kind, cells, out)
}

/// The bytes of a heap page of `cells`.
fn heap_len(cells: &[VarCell<'_>]) -> usize {
    let total: usize = cells.iter().map(|c| heap_bytes(c).len()).sum();
    let nulls = cells.iter().any(|c| matches!(c, VarCell::Null));
    PAGE_HEADER_LEN
        + packed_len(cells.len(), bits_needed(total as u64))
        + if nulls { packed_len(cells.len(), 1) } else { 0 }
        + total.div_ceil(8) * 8
}

/// The bytes a heap cell stores (none for a null or a hole).
fn heap_bytes<'c>(cell: &VarCell<'c>) -> &'c [u8] {
    match cell {
        VarCell::Bytes(b) => b,
        _ => &[],
    }
}

/// The distinct values of a page in order of first use, and each value's code.
struct Dictionary<'c> {
    values: Vec<&'c [u8]>,
    codes: Vec<u64>,
    heap: usize,
    nulls: bool,
}

impl<'c> Dictionary<'c> {
    fn of(cells: &[VarCell<'c>]) -> Self {
        let mut index: hashbrown::HashMap<&'c [u8], u64> =
            hashbrown::HashMap::with_capacity(cells.len());
        let mut values = Vec::new();
        let mut heap = 0;
        let codes = cells
            .iter()
            .map(|c| {
                let b = heap_bytes(c);
                *index.entry(b).or_insert_with(|| {
                    values.push(b);
                    heap += b.len();
                    values.len() as u64 - 1
                })
            })
            .collect();
        let nulls = cells.iter().any(|c| matches!(c, VarCell::Null));
        Dictionary {
            values,
            codes,
            heap,
            nulls,
        }
    }

    fn key_width(&self) -> u32 {
        bits_needed(self.values.len().saturating_sub(1) as u64)
    }

    /// The page's length in bytes.
    fn len(&self) -> usize {
        let n = self.codes.len();
        PAGE_HEADER_LEN
            + packed_len(n, self.key_width())
            + if self.nulls { packed_len(n, 1) } else { 0 }
            + packed_len(self.values.len(), bits_needed(self.heap as u64))
            + self.heap.div_ceil(8) * 8
    }

    fn encode(&self, cells: &[VarCell<'_>], out: &mut Vec<u8>) {
        let ends_width = bits_needed(self.heap as u64);
        out.push(LAYOUT_DICT);
        out.push(ends_width as u8);
        out.push(if self.nulls { FLAG_HAS_NULLS } else { 0 });
        out.push(self.key_width() as u8);
        out.extend_from_slice(&(cells.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.heap as u64).to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
        bitpack::pack(self.codes.iter().copied(), self.key_width(), out);
        if self.nulls {
            let nulls = cells.iter().map(|c| matches!(c, VarCell::Null) as u64);
            bitpack::pack(nulls, 1, out);
        }
        let ends = self.values.iter().scan(0u64, |end, v| {
            *end += v.len() as u64;
            Some(*end)
        });
        bitpack::pack(ends, ends_width, out);
        let start = out.len();
        for v in &self.values {
            out.extend_from_slice(v);
        }
        out.resize(start + self.heap.div_ceil(8) * 8, 0);
    }
}

/// Appends a var page of `cells` in the plain layout `kind` implies.
fn encode_plain_var(kind: VarKind, cells: &[VarCell<'_>], out: &mut Vec<u8>) {
    let mut ends = Vec::with_capacity(cells.len());
    let mut total = 0u64;
    let mut max_key = 0u64;
    let mut max_value = 0u64;
    for cell in cells {
        if let VarCell::Bytes(b) = cell {
            total += b.len() as u64;
        } else {
            for (k, v) in elements_of(cell) {
                max_key = max_key.max(k.0 as u64);
                max_value = max_value.max(v.map_or(0, |v| v.0 as u64));
                total += 1;
            }
        }
        ends.push(total);
    }
    let has_nulls = cells.iter().any(|c| matches!(c, VarCell::Null));
    let layout = match kind {
        VarKind::String | VarKind::Bytes => LAYOUT_HEAP,
        VarKind::Ordinals(_) => LAYOUT_ORDINALS,
        VarKind::Pairs(..) => LAYOUT_PAIRS,
    };
    let ends_width = bits_needed(total);
    let (key_width, value_width) = match layout {
        LAYOUT_HEAP => (0, 0),
        LAYOUT_ORDINALS => (bits_needed(max_key), 0),
        _ => (bits_needed(max_key), bits_needed(max_value)),
    };
    out.push(layout);
    out.push(ends_width as u8);
    out.push(if has_nulls { FLAG_HAS_NULLS } else { 0 });
    out.push(key_width as u8);
    out.extend_from_slice(&(cells.len() as u32).to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&[value_width as u8, 0, 0, 0, 0, 0, 0, 0]);
    bitpack::pack(ends, ends_width, out);
    if has_nulls {
        let nulls = cells.iter().map(|c| matches!(c, VarCell::Null) as u64);
        bitpack::pack(nulls, 1, out);
    }
    match layout {
        LAYOUT_HEAP => {
            let start = out.len();
            for cell in cells {
                if let VarCell::Bytes(b) = cell {
                    out.extend_from_slice(b);
                }
            }
            let len = out.len() - start;
            out.resize(start + len.div_ceil(8) * 8, 0);
        }
        LAYOUT_ORDINALS => {
            let keys = cells.iter().flat_map(elements_of).map(|(k, _)| k.0 as u64);
            bitpack::pack(keys, key_width, out);
        }
        _ => {
            let keys = cells.iter().flat_map(elements_of).map(|(k, _)| k.0 as u64);
            bitpack::pack(keys, key_width, out);
            let values = cells
                .iter()
                .flat_map(elements_of)
                .map(|(_, v)| v.map_or(0, |v| v.0 as u64));
            bitpack::pack(values, value_width, out);
        }
    }
}

/// The elements (with a map's values) of a collection cell; none for any other cell.
fn elements_of<'a>(cell: &VarCell<'a>) -> Elements<'a> {
    match cell {
        VarCell::Ordinals(e) => Elements::Slice(e.iter()),
        VarCell::Pairs(e) => Elements::Pairs(e.iter()),
        VarCell::Elements(e) => e.clone(),
        VarCell::Hole | VarCell::Null | VarCell::Bytes(_) => Elements::Slice([].iter()),
    }
}

/// The parsed header of a var page, with the offsets of its parts within the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarHeader {
    payload_count: u64,
    count: u32,
    /// Entries of a dictionary page's dictionary (0 for other layouts).
    dict_count: u32,
    /// Where a dictionary page's dictionary end offsets start.
    dict_at: usize,
    ends_width: u8,
    key_width: u8,
    value_width: u8,
    pairs: bool,
    heap: bool,
    has_nulls: bool,
    nulls_at: usize,
    payload_at: usize,
    values_at: usize,
}

impl VarHeader {
    /// The number of values in the page.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Parses and checks a page of `expected_count` values of `kind`; `bytes` is exactly the
    /// page.
    pub fn parse(bytes: &[u8], kind: VarKind, expected_count: u32) -> Result<Self, PageError> {
        let header = header(bytes)?;
        let [layout, ends_width, flags, key_width] = [header[0], header[1], header[2], header[3]];
        let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let payload_count = le_u64(&header[8..16]);
        let value_width = header[16];
        let dict_count = u32::from_le_bytes([header[20], header[21], header[22], header[23]]);
        let reserved = match layout {
            LAYOUT_DICT => &header[17..20],
            _ => &header[17..24],
        };
        if reserved.iter().any(|&b| b != 0) {
            return Err(PageError("reserved header bytes are not zero".into()));
        }
        if count != expected_count {
            return Err(PageError(format!(
                "page holds {count} values, expected {expected_count}"
            )));
        }
        let expected_layout = match kind {
            VarKind::String | VarKind::Bytes => LAYOUT_HEAP,
            VarKind::Ordinals(_) => LAYOUT_ORDINALS,
            VarKind::Pairs(..) => LAYOUT_PAIRS,
        };
        let dict = layout == LAYOUT_DICT && expected_layout == LAYOUT_HEAP;
        if layout != expected_layout && !dict {
            return Err(PageError(format!(
                "layout {layout}, expected {expected_layout}"
            )));
        }
        if flags & !FLAG_HAS_NULLS != 0 {
            return Err(PageError(format!("unknown flags {flags:#04x}")));
        }
        let has_nulls = flags & FLAG_HAS_NULLS != 0;
        let widths_ok = match layout {
            LAYOUT_HEAP => key_width == 0 && value_width == 0,
            LAYOUT_DICT => key_width <= 32 && value_width == 0,
            LAYOUT_ORDINALS => key_width <= 32 && value_width == 0 && !has_nulls,
            _ => key_width <= 32 && value_width <= 32 && !has_nulls,
        };
        if !widths_ok || ends_width > 64 {
            return Err(PageError(format!(
                "widths {ends_width}/{key_width}/{value_width} or null flag invalid for layout {layout}"
            )));
        }
        let mut cursor = Cursor {
            at: PAGE_HEADER_LEN,
            len: bytes.len(),
        };
        let (first, width) = match dict {
            true => ("codes", key_width),
            false => ("end offsets", ends_width),
        };
        cursor.take(packed_len(count as usize, width as u32), first)?;
        let nulls_at = match has_nulls {
            true => cursor.take(packed_len(count as usize, 1), "null bits")?,
            false => 0,
        };
        let dict_at = match dict {
            true => cursor.take(
                packed_len(dict_count as usize, ends_width as u32),
                "dictionary end offsets",
            )?,
            false => 0,
        };
        let remaining = (cursor.len - cursor.at) as u64;
        if payload_count > remaining.saturating_mul(8) {
            return Err(PageError(format!(
                "payload of {payload_count} exceeds the page"
            )));
        }
        let n = payload_count as usize;
        let (payload_at, values_at) = match layout {
            LAYOUT_HEAP | LAYOUT_DICT => (cursor.take(n.div_ceil(8) * 8, "heap")?, 0),
            LAYOUT_ORDINALS => (cursor.take(packed_len(n, key_width as u32), "elements")?, 0),
            _ => (
                cursor.take(packed_len(n, key_width as u32), "keys")?,
                cursor.take(packed_len(n, value_width as u32), "values")?,
            ),
        };
        if cursor.at != cursor.len {
            return Err(PageError(format!(
                "{} bytes after the payload",
                cursor.len - cursor.at
            )));
        }
        Ok(VarHeader {
            payload_count,
            count,
            dict_count: if dict { dict_count } else { 0 },
            dict_at,
            ends_width,
            key_width,
            value_width,
            pairs: layout == LAYOUT_PAIRS,
            heap: layout == LAYOUT_HEAP || dict,
            has_nulls,
            nulls_at,
            payload_at,
            values_at,
        })
    }
}

impl VarHeader {
    /// The page's length in bytes, header included: where the next page may start.
    pub fn byte_len(&self) -> usize {
        let n = self.payload_count as usize;
        if self.pairs {
            self.values_at + packed_len(n, self.value_width as u32)
        } else if self.heap {
            self.payload_at + n.div_ceil(8) * 8
        } else {
            self.payload_at + packed_len(n, self.key_width as u32)
        }
    }
}

/// A parsed var page, borrowing its offsets and payload.
#[derive(Debug, Clone, Copy)]
pub struct VarPage<'a> {
    h: VarHeader,
    bytes: &'a [u8],
}

impl<'a> VarPage<'a> {
    /// Parses a page of `expected_count` values of `kind`; `bytes` is exactly the page.
    #[cfg(test)]
    pub fn parse(bytes: &'a [u8], kind: VarKind, expected_count: u32) -> Result<Self, PageError> {
        let h = VarHeader::parse(bytes, kind, expected_count)?;
        Ok(VarPage { h, bytes })
    }

    /// A page from a header parsed earlier and the bytes from the page's start on.
    #[inline]
    pub fn from_parts(h: VarHeader, bytes: &'a [u8]) -> Self {
        VarPage { h, bytes }
    }

    fn part(&self, at: usize) -> &'a [u8] {
        self.bytes.get(at..).unwrap_or(&[])
    }

    /// The number of values in the page.
    pub fn len(&self) -> usize {
        self.h.count as usize
    }

    /// True when value `i` is null.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        self.h.has_nulls && bitpack::get(self.part(self.h.nulls_at), 1, i) == 1
    }

    /// The payload range of value `i` (in a dictionary page, of its dictionary entry).
    #[inline]
    pub fn range(&self, i: usize) -> Result<(usize, usize), ReadError> {
        let w = self.h.ends_width as u32;
        let (ends, at) = match self.h.dict_at {
            0 => (self.part(PAGE_HEADER_LEN), i),
            dict_at => (self.part(dict_at), self.code(i)?),
        };
        let (start, end) = match at {
            0 => (0, bitpack::get(ends, w, 0)),
            _ => bitpack::get_pair(ends, w, at - 1),
        };
        if start > end || end > self.h.payload_count {
            return Err(ReadError::BadRange {
                start,
                end,
                limit: self.h.payload_count,
            });
        }
        Ok((start as usize, end as usize))
    }

    /// The dictionary code of value `i` of a dictionary page.
    #[inline]
    fn code(&self, i: usize) -> Result<usize, ReadError> {
        let code = bitpack::get(self.part(PAGE_HEADER_LEN), self.h.key_width as u32, i);
        if code >= u64::from(self.h.dict_count) {
            return Err(ReadError::BadRange {
                start: code,
                end: code,
                limit: u64::from(self.h.dict_count),
            });
        }
        Ok(code as usize)
    }

    /// True when the page stores codes into a dictionary (layout 4).
    pub fn is_dictionary(&self) -> bool {
        self.h.dict_at != 0
    }

    /// Value `i` as bytes, in place; `None` for null.
    #[inline]
    pub fn bytes(&self, i: usize) -> Result<Option<&'a [u8]>, ReadError> {
        if self.is_null(i) {
            return Ok(None);
        }
        let (start, end) = self.range(i)?;
        let at = self.h.payload_at;
        Ok(self.bytes.get(at + start..at + end))
    }

    /// Value `i` as a string, in place; `None` for null.
    #[inline]
    pub fn str(&self, i: usize) -> Result<Option<&'a str>, ReadError> {
        match self.bytes(i)? {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|_| ReadError::Utf8),
        }
    }

    /// The elements (or map entries) of value `i`, in place.
    #[inline]
    pub fn elements(&self, i: usize) -> Result<Elements<'a>, ReadError> {
        let (start, end) = self.range(i)?;
        let values = self
            .h
            .pairs
            .then(|| (self.part(self.h.values_at), self.h.value_width as u32));
        Ok(Elements::Packed {
            packed: self.part(self.h.payload_at),
            width: self.h.key_width as u32,
            values,
            next: start,
            end,
        })
    }
}

fn header(bytes: &[u8]) -> Result<&[u8; PAGE_HEADER_LEN], PageError> {
    bytes.first_chunk::<PAGE_HEADER_LEN>().ok_or_else(|| {
        PageError(format!(
            "page of {} bytes is shorter than its header",
            bytes.len()
        ))
    })
}

/// Walks the parts of a page, checking each fits.
struct Cursor {
    at: usize,
    len: usize,
}

impl Cursor {
    fn take(&mut self, n: usize, what: &str) -> Result<usize, PageError> {
        let start = self.at;
        self.at = start
            .checked_add(n)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| {
                PageError(format!(
                    "{what} need {n} bytes, {} remain",
                    self.len - start
                ))
            })?;
        Ok(start)
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TypeId;

    fn fixed(kind: FixedKind, cells: &[FixedCell]) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        encode_fixed(kind, cells, &mut out);
        let width = FixedPage::parse(&out, kind, cells.len() as u32)
            .unwrap()
            .width();
        (out, width)
    }

    #[test]
    fn ints_use_a_frame_of_reference() {
        let cells: Vec<FixedCell> = (1990..2020).map(|y| FixedCell::Raw(y as u64)).collect();
        let (bytes, width) = fixed(FixedKind::I32, &cells);
        assert_eq!(width, 5);
        let page = FixedPage::parse(&bytes, FixedKind::I32, 30).unwrap();
        assert_eq!(page.i32(0), Some(1990));
        assert_eq!(page.i32(29), Some(2019));
    }

    #[test]
    fn negative_ints_and_nulls_round_trip() {
        let cells = [
            FixedCell::Raw(-5i64 as u64),
            FixedCell::Null,
            FixedCell::Raw(7),
            FixedCell::Hole,
        ];
        let (bytes, width) = fixed(FixedKind::I64, &cells);
        assert_eq!(width, 4);
        let page = FixedPage::parse(&bytes, FixedKind::I64, 4).unwrap();
        assert_eq!(page.i64(0), Some(-5));
        assert_eq!(page.i64(1), None);
        assert_eq!(page.i64(2), Some(7));
    }

    #[test]
    fn full_range_with_nulls_finds_a_free_null_code() {
        let cells = [
            FixedCell::Raw(i64::MIN as u64),
            FixedCell::Raw(i64::MAX as u64),
            FixedCell::Null,
            FixedCell::Raw(0),
        ];
        let (bytes, width) = fixed(FixedKind::I64, &cells);
        assert_eq!(width, 64);
        let page = FixedPage::parse(&bytes, FixedKind::I64, 4).unwrap();
        assert_eq!(page.i64(0), Some(i64::MIN));
        assert_eq!(page.i64(1), Some(i64::MAX));
        assert_eq!(page.i64(2), None);
        assert_eq!(page.i64(3), Some(0));
    }

    #[test]
    fn decimal_floats_pack_small_and_exact() {
        let ratings = [7.3f64, 1.0, 10.0, 5.5, 9.9];
        let cells: Vec<FixedCell> = ratings
            .iter()
            .map(|r| FixedCell::Raw(r.to_bits()))
            .collect();
        let (bytes, width) = fixed(FixedKind::F64, &cells);
        assert_eq!(width, 7, "ratings of one decimal fit in 7 bits");
        let page = FixedPage::parse(&bytes, FixedKind::F64, 5).unwrap();
        for (i, r) in ratings.iter().enumerate() {
            assert_eq!(page.f64(i).unwrap().to_bits(), r.to_bits());
        }
    }

    #[test]
    fn floats_that_are_not_decimal_stay_plain_and_exact() {
        let values = [f64::NAN, -0.0, f64::INFINITY, 0.1 + 0.2, 1e300];
        let cells: Vec<FixedCell> = values.iter().map(|r| FixedCell::Raw(r.to_bits())).collect();
        let (bytes, _) = fixed(FixedKind::F64, &cells);
        let page = FixedPage::parse(&bytes, FixedKind::F64, 5).unwrap();
        for (i, r) in values.iter().enumerate() {
            assert_eq!(page.f64(i).unwrap().to_bits(), r.to_bits());
        }
    }

    #[test]
    fn f32_decimals_are_exact() {
        let values = [3.25f32, -1.5, 0.1, 100.0];
        let cells: Vec<FixedCell> = values
            .iter()
            .map(|r| FixedCell::Raw(r.to_bits() as u64))
            .collect();
        let (bytes, _) = fixed(FixedKind::F32, &cells);
        let page = FixedPage::parse(&bytes, FixedKind::F32, 4).unwrap();
        for (i, r) in values.iter().enumerate() {
            assert_eq!(page.f32(i).unwrap().to_bits(), r.to_bits());
        }
    }

    #[test]
    fn all_null_page_has_width_zero() {
        let (bytes, width) = fixed(FixedKind::I32, &[FixedCell::Null, FixedCell::Null]);
        assert_eq!(width, 0);
        let page = FixedPage::parse(&bytes, FixedKind::I32, 2).unwrap();
        assert_eq!(page.i32(1), None);
    }

    #[test]
    fn strings_nulls_and_empties_are_distinct() {
        let cells = [
            VarCell::Bytes(b"Drama"),
            VarCell::Null,
            VarCell::Bytes(b""),
            VarCell::Hole,
            VarCell::Bytes("Café".as_bytes()),
        ];
        for dictionary in [false, true] {
            let mut out = Vec::new();
            encode_var(VarKind::String, &cells, dictionary, &mut out);
            let page = VarPage::parse(&out, VarKind::String, 5).unwrap();
            assert_eq!(page.h.byte_len(), out.len());
            assert_eq!(page.str(0), Ok(Some("Drama")));
            assert_eq!(page.str(1), Ok(None));
            assert_eq!(page.str(2), Ok(Some("")));
            assert_eq!(page.str(4), Ok(Some("Café")));
        }
    }

    #[test]
    fn repeated_strings_are_stored_once_when_that_is_smaller() {
        let words = ["drama", "comedy", "drama", "", "comedy", "drama"];
        let mut cells: Vec<VarCell<'_>> = (0..64)
            .map(|i| VarCell::Bytes(words[i % 6].as_bytes()))
            .collect();
        cells[7] = VarCell::Null;
        let (mut plain, mut dict) = (Vec::new(), Vec::new());
        encode_var(VarKind::String, &cells, false, &mut plain);
        encode_var(VarKind::String, &cells, true, &mut dict);
        assert!(
            dict.len() < plain.len(),
            "{} >= {}",
            dict.len(),
            plain.len()
        );
        let page = VarPage::parse(&dict, VarKind::String, 64).unwrap();
        assert!(page.is_dictionary());
        assert_eq!(page.h.byte_len(), dict.len());
        for (i, cell) in cells.iter().enumerate() {
            let want = match cell {
                VarCell::Bytes(b) => Some(std::str::from_utf8(b).unwrap()),
                _ => None,
            };
            assert_eq!(page.str(i), Ok(want), "value {i}");
        }
        // Distinct values: the plain page is the smaller, and is kept.
        let distinct: Vec<String> = (0..64).map(|i| format!("title {i}")).collect();
        let cells: Vec<VarCell<'_>> = distinct
            .iter()
            .map(|s| VarCell::Bytes(s.as_bytes()))
            .collect();
        let mut out = Vec::new();
        encode_var(VarKind::String, &cells, true, &mut out);
        assert!(!VarPage::parse(&out, VarKind::String, 64)
            .unwrap()
            .is_dictionary());
    }

    #[test]
    fn a_code_past_the_dictionary_is_an_error_not_a_panic() {
        let cells: Vec<VarCell<'_>> = (0..16)
            .map(|i| VarCell::Bytes(if i < 8 { b"aaaa" } else { b"bbbb" }))
            .collect();
        let mut out = Vec::new();
        encode_var(VarKind::String, &cells, true, &mut out);
        assert_eq!(out[0], LAYOUT_DICT);
        out[20] = 1; // one dictionary entry where the codes use two
        let page = VarPage::parse(&out, VarKind::String, 16).unwrap();
        assert_eq!(page.bytes(0), Ok(Some(&b"aaaa"[..])));
        assert!(page.bytes(15).is_err());
    }

    #[test]
    fn lists_and_maps_round_trip() {
        let a = [Ordinal(3), Ordinal(1), Ordinal(400)];
        let cells = [VarCell::Ordinals(&a), VarCell::Ordinals(&[])];
        let mut out = Vec::new();
        encode_var(VarKind::Ordinals(TypeId(0)), &cells, true, &mut out);
        let page = VarPage::parse(&out, VarKind::Ordinals(TypeId(0)), 2).unwrap();
        assert_eq!(page.h.byte_len(), out.len());
        let got: Vec<_> = page.elements(0).unwrap().map(|(o, _)| o).collect();
        assert_eq!(got, a);
        assert_eq!(page.elements(1).unwrap().count(), 0);

        let m = [(Ordinal(1), Ordinal(9)), (Ordinal(2), Ordinal(0))];
        let mut out = Vec::new();
        let kind = VarKind::Pairs(TypeId(0), TypeId(1));
        encode_var(kind, &[VarCell::Pairs(&m)], true, &mut out);
        let page = VarPage::parse(&out, kind, 1).unwrap();
        assert_eq!(page.h.byte_len(), out.len());
        let got: Vec<_> = page.elements(0).unwrap().collect();
        assert_eq!(
            got,
            vec![
                (Ordinal(1), Some(Ordinal(9))),
                (Ordinal(2), Some(Ordinal(0)))
            ]
        );
    }

    #[test]
    fn truncated_page_is_an_error() {
        let mut out = Vec::new();
        encode_var(
            VarKind::String,
            &[VarCell::Bytes(b"hello")],
            false,
            &mut out,
        );
        for cut in 0..out.len() {
            assert!(VarPage::parse(&out[..cut], VarKind::String, 1).is_err());
        }
        let mut out = Vec::new();
        encode_fixed(FixedKind::I32, &[FixedCell::Raw(5)], &mut out);
        for cut in 0..out.len() {
            assert!(FixedPage::parse(&out[..cut], FixedKind::I32, 1).is_err());
        }
    }
}
