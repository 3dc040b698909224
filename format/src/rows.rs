//! Records packed into bytes, for holding many of them compactly: [`Rows`].
//!
//! A [`Record`] on the heap costs a `Value` of 24 bytes per field plus an allocation per
//! string or list; a movie of the example catalog takes about 300 bytes that way. Packed, it
//! takes about 50: integers as zigzag varints, strings inline, references as 4 little-endian
//! bytes (so they can be rewritten in place). A producer holds the records of a cycle that
//! are new this way, and an [`Overlay`](crate::Overlay) its added records, so a first cycle of
//! 100M records fits in memory.
//!
//! A row is self-describing: a kind byte, then for an object a field count and one tag byte
//! and payload per field; for a list or set a count and the element ordinals; for a map a
//! count and the key and value ordinals of each entry. The same record always packs to the
//! same bytes (floats by their bits), so two packed records are equal exactly when their bytes
//! are. Rows are read in place: a string field is a `&str` into the row.
//!
//! Rows are kept in chunks of a fixed number of rows, each a byte buffer and the start of each
//! row in it: 4 bytes of bookkeeping per row, and no buffer of gigabytes to double.

use crate::ids::{FieldId, Ordinal};
use crate::read::{Elements, FieldValue};
use crate::record::Record;
use crate::schema::{TypeDef, TypeKind};

/// Rows per chunk.
const CHUNK_SHIFT: u32 = 14;

const OBJECT: u8 = 0;
const LIST: u8 = 1;
const SET: u8 = 2;
const MAP: u8 = 3;

/// Records packed one after another (see the module doc); row `i` is the `i`-th pushed.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    chunks: Vec<Chunk>,
    len: u32,
}

#[derive(Debug, Default, Clone)]
struct Chunk {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Rows {
    /// No rows.
    pub fn new() -> Self {
        Rows::default()
    }

    /// No rows, with room for `rows` rows (at most a chunk's) of `bytes` bytes in all.
    pub fn with_capacity(rows: u32, bytes: usize) -> Self {
        let chunk = Chunk {
            bytes: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(rows.min(1 << CHUNK_SHIFT) as usize),
        };
        Rows {
            chunks: vec![chunk],
            len: 0,
        }
    }

    /// The number of rows.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed bytes of `record`, appended to `out`.
    pub fn pack(record: &Record, out: &mut Vec<u8>) {
        match record {
            Record::Object(values) => {
                Self::pack_object(values.iter().map(FieldValue::from), out);
            }
            Record::List(e) => Self::pack_list(false, e, out),
            Record::Set(e) => Self::pack_list(true, e, out),
            Record::Map(e) => {
                out.push(MAP);
                put_varint(out, e.len() as u64);
                for (k, v) in e {
                    out.extend_from_slice(&k.0.to_le_bytes());
                    out.extend_from_slice(&v.0.to_le_bytes());
                }
            }
        }
    }

    /// The packed bytes of the object record whose fields hold `values`, appended to `out`:
    /// what [`Rows::pack`] makes of the same record, for a record read where it lives.
    pub fn pack_object<'v>(
        values: impl ExactSizeIterator<Item = FieldValue<'v>>,
        out: &mut Vec<u8>,
    ) {
        Self::pack_object_head(values.len(), out);
        values.for_each(|v| Self::pack_field(v, out));
    }

    /// The start of a packed object record of `fields` fields, appended to `out`: then
    /// [`Rows::pack_field`] each field's value, in order (a record built column by column,
    /// with nothing on the heap per value).
    pub fn pack_object_head(fields: usize, out: &mut Vec<u8>) {
        out.push(OBJECT);
        put_varint(out, fields as u64);
    }

    /// One field's value of a packed object record, appended to `out` (see
    /// [`Rows::pack_object_head`]).
    pub fn pack_field(value: FieldValue<'_>, out: &mut Vec<u8>) {
        pack_value(value, out);
    }

    /// The packed bytes of a list (or, `set`, a set) record of `elements`, appended to `out`.
    pub fn pack_list(set: bool, elements: &[Ordinal], out: &mut Vec<u8>) {
        out.push(if set { SET } else { LIST });
        put_varint(out, elements.len() as u64);
        elements
            .iter()
            .for_each(|o| out.extend_from_slice(&o.0.to_le_bytes()));
    }

    /// The packed bytes of the list, set or map record of `kind` holding `elements`,
    /// appended to `out` (what [`Rows::pack`] makes of the same record; an object kind
    /// packs as a list).
    pub fn pack_elements(kind: &TypeKind, elements: Elements<'_>, out: &mut Vec<u8>) {
        out.push(match kind {
            TypeKind::Set { .. } => SET,
            TypeKind::Map { .. } => MAP,
            _ => LIST,
        });
        put_varint(out, elements.len() as u64);
        for (k, v) in elements {
            out.extend_from_slice(&k.0.to_le_bytes());
            if let Some(v) = v {
                out.extend_from_slice(&v.0.to_le_bytes());
            }
        }
    }

    /// Appends `record`; returns its row number.
    pub fn push(&mut self, record: &Record) -> u32 {
        let chunk = self.open_chunk();
        chunk.starts.push(chunk.bytes.len() as u32);
        Self::pack(record, &mut chunk.bytes);
        self.len += 1;
        self.len - 1
    }

    /// Appends a row packed by [`Rows::pack`]; returns its row number.
    pub fn push_packed(&mut self, packed: &[u8]) -> u32 {
        let chunk = self.open_chunk();
        chunk.starts.push(chunk.bytes.len() as u32);
        chunk.bytes.extend_from_slice(packed);
        self.len += 1;
        self.len - 1
    }

    /// The chunk the next row goes into. A full chunk is trimmed to its length, and the
    /// next one made with room for as many bytes, rows of one type being alike.
    fn open_chunk(&mut self) -> &mut Chunk {
        if self.chunks.len() <= (self.len >> CHUNK_SHIFT) as usize {
            let full = self.chunks.last_mut().map_or(0, |full| {
                full.bytes.shrink_to_fit();
                full.bytes.len()
            });
            self.chunks.push(Chunk {
                bytes: Vec::with_capacity(full),
                starts: Vec::with_capacity(1 << CHUNK_SHIFT),
            });
        }
        self.chunks.last_mut().expect("a chunk was just opened")
    }

    /// The packed bytes of row `i`, or `None` past the last row.
    pub fn packed(&self, i: u32) -> Option<&[u8]> {
        let chunk = self.chunks.get((i >> CHUNK_SHIFT) as usize)?;
        let j = (i & ((1 << CHUNK_SHIFT) - 1)) as usize;
        let start = *chunk.starts.get(j)? as usize;
        let end = chunk
            .starts
            .get(j + 1)
            .map_or(chunk.bytes.len(), |&e| e as usize);
        Some(&chunk.bytes[start..end])
    }

    /// Row `i`, read in place, or `None` past the last row.
    pub fn row(&self, i: u32) -> Option<Row<'_>> {
        self.packed(i).map(Row)
    }

    /// Rewrites every reference of row `i` with `map(where, ordinal)`, in place.
    pub fn rewrite_refs(&mut self, i: u32, map: impl FnMut(RefAt, Ordinal) -> Ordinal) {
        let Some(chunk) = self.chunks.get_mut((i >> CHUNK_SHIFT) as usize) else {
            return;
        };
        chunk.rewrite_refs((i & ((1 << CHUNK_SHIFT) - 1)) as usize, map);
    }

    /// Rewrites every reference of every row in place, on `threads` threads (shares of whole
    /// chunks): `map(row, where, ordinal)` gives each reference's ordinal. Says which rows
    /// had a reference moved and which had one left where it was.
    pub fn rewrite_all_refs(
        &mut self,
        threads: usize,
        map: impl Fn(u32, RefAt, Ordinal) -> Ordinal + Sync,
    ) -> Rewritten {
        let rewrite_share = |first: usize, chunks: &mut [Chunk]| -> Rewritten {
            let mut rewritten = Rewritten::default();
            for (c, chunk) in chunks.iter_mut().enumerate() {
                let base = ((first + c) << CHUNK_SHIFT) as u32;
                for j in 0..chunk.starts.len() {
                    let row = base + j as u32;
                    let (mut moved, mut stayed) = (false, false);
                    chunk.rewrite_refs(j, |at, o| {
                        let to = map(row, at, o);
                        moved |= to != o;
                        stayed |= to == o;
                        to
                    });
                    if moved {
                        rewritten.moved.push(row);
                    }
                    if stayed {
                        rewritten.stayed.push(row);
                    }
                }
            }
            rewritten
        };
        let shares = crate::parallel::map_shares_mut(&mut self.chunks, threads, rewrite_share);
        Rewritten {
            moved: shares.iter().flat_map(|s| &s.moved).copied().collect(),
            stayed: shares.iter().flat_map(|s| &s.stayed).copied().collect(),
        }
    }

    /// The rows' packed bytes, in all.
    pub fn byte_len(&self) -> usize {
        self.chunks.iter().map(|c| c.bytes.len()).sum()
    }

    /// Bytes held, bookkeeping included.
    pub fn heap_size(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.bytes.capacity() + 4 * c.starts.capacity())
            .sum()
    }
}

impl Chunk {
    /// Rewrites every reference of the chunk's row `j` in place (see [`RefWalk`]).
    fn rewrite_refs(&mut self, j: usize, mut map: impl FnMut(RefAt, Ordinal) -> Ordinal) {
        let Some(&start) = self.starts.get(j) else {
            return;
        };
        let end = self
            .starts
            .get(j + 1)
            .map_or(self.bytes.len(), |&e| e as usize);
        let row = &mut self.bytes[start as usize..end];
        let mut walk = RefWalk::of(row);
        while let Some((at, offset)) = walk.next(row) {
            let Some(word) = row.get_mut(offset..offset + 4) else {
                return;
            };
            let word: &mut [u8; 4] = word.try_into().expect("four bytes");
            *word = map(at, Ordinal(u32::from_le_bytes(*word))).0.to_le_bytes();
        }
    }
}

/// What [`Rows::rewrite_all_refs`] did, each list in row order (a row can be in both).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// Rows of which a reference moved: they hash differently now.
    pub moved: Vec<u32>,
    /// Rows of which a reference stayed where it was.
    pub stayed: Vec<u32>,
}

/// Where a reference sits in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefAt {
    /// In this field of an object.
    Field(FieldId),
    /// An element of a list or set.
    Element,
    /// The key of a map entry.
    Key,
    /// The value of a map entry.
    Value,
}

/// One packed record, read in place (see [`Rows`]).
#[derive(Debug, Clone, Copy)]
pub struct Row<'a>(&'a [u8]);

impl<'a> Row<'a> {
    /// Bytes packed by [`Rows::pack`], read in place (bytes packed otherwise read as a row
    /// with fewer fields or elements, never out of bounds).
    pub fn of(packed: &'a [u8]) -> Self {
        Row(packed)
    }

    /// The packed bytes (equal records have equal bytes).
    pub fn bytes(self) -> &'a [u8] {
        self.0
    }

    /// True when the row is a whole record of `def`: its kind, as many fields as the type
    /// has, each null or of its field's kind (a reference of a reference field), a set or
    /// map in its canonical order, and no byte past its end. What a sink checks of a row
    /// given to it packed.
    pub fn fits(self, def: &TypeDef) -> bool {
        let mut r = Reader(self.0);
        let (Some(kind), Some(count)) = (r.byte(), r.varint()) else {
            return false;
        };
        let width = match (&def.kind, kind) {
            (TypeKind::Object { fields, .. }, OBJECT) => {
                return count == fields.len() as u64
                    && fields.iter().all(|f| {
                        let tag = r.0.first().copied();
                        (tag == Some(0) || tag == Some(f.kind.code())) && r.skip().is_some()
                    })
                    && r.0.is_empty();
            }
            (TypeKind::List { .. }, LIST) | (TypeKind::Set { .. }, SET) => 4,
            (TypeKind::Map { .. }, MAP) => 8,
            _ => return false,
        };
        count.checked_mul(width) == Some(r.0.len() as u64) && (kind == LIST || self.canonical())
    }

    /// True when a set's elements, or a map's keys, rise strictly (see
    /// [`Record::canonicalize`]).
    fn canonical(self) -> bool {
        let mut keys = self.elements().into_iter().flatten().map(|(k, _)| k);
        let Some(mut last) = keys.next() else {
            return true;
        };
        keys.all(|k| std::mem::replace(&mut last, k) < k)
    }

    /// The value of `field`, or `None` when the row is not an object or has no such field.
    pub fn field(self, field: FieldId) -> Option<FieldValue<'a>> {
        let mut r = Reader(self.0);
        if r.byte()? != OBJECT {
            return None;
        }
        let count = r.varint()?;
        if u64::from(field.0) >= count {
            return None;
        }
        for _ in 0..field.0 {
            r.skip()?;
        }
        r.value()
    }

    /// The values of every field of an object row, in order (none for other rows).
    pub fn fields(self) -> impl Iterator<Item = FieldValue<'a>> {
        self.fields_from(FieldId(0))
    }

    /// The values of the fields of an object row from `first` on, in order (none for other
    /// rows): the fields before it are skipped, not read.
    pub fn fields_from(self, first: FieldId) -> impl Iterator<Item = FieldValue<'a>> {
        let mut r = Reader(self.0);
        let count = match r.byte() {
            Some(OBJECT) => r.varint().unwrap_or(0),
            _ => 0,
        };
        let skipped = (0..first.0.min(count as u32)).all(|_| r.skip().is_some());
        let from = if skipped { u64::from(first.0) } else { count };
        (from..count).map_while(move |_| r.value())
    }

    /// The number of fields of an object row; `None` for other rows.
    pub fn field_count(self) -> Option<usize> {
        let mut r = Reader(self.0);
        (r.byte()? == OBJECT).then(|| r.varint().map(|n| n as usize))?
    }

    /// The elements of a list, set or map row; `None` for an object.
    pub fn elements(self) -> Option<Elements<'a>> {
        let mut r = Reader(self.0);
        let kind = r.byte()?;
        let count = r.varint()? as usize;
        let width = match kind {
            LIST | SET => 4,
            MAP => 8,
            _ => return None,
        };
        let words = r.take(count.checked_mul(width)?)?;
        Some(Elements::Words {
            words,
            map: kind == MAP,
        })
    }

    /// The record, unpacked.
    pub fn to_record(self) -> Option<Record> {
        let kind = *self.0.first()?;
        Some(match kind {
            OBJECT => Record::Object(self.fields().map(FieldValue::to_value).collect()),
            LIST | SET => {
                let e = self.elements()?.map(|(o, _)| o).collect();
                if kind == LIST {
                    Record::List(e)
                } else {
                    Record::Set(e)
                }
            }
            _ => Record::Map(
                self.elements()?
                    .map(|(k, v)| (k, v.unwrap_or(Ordinal(0))))
                    .collect(),
            ),
        })
    }

    /// Calls `f(where, ordinal)` for every reference of the row, in order. The other values
    /// are skipped, not read (no title is checked for UTF-8 to find a movie's references).
    pub fn for_each_ref_ordinal(self, mut f: impl FnMut(RefAt, Ordinal)) {
        self.for_each_ref(|at, offset| {
            if let Some(word) = self.0.get(offset..offset + 4) {
                let word: [u8; 4] = word.try_into().expect("four bytes");
                f(at, Ordinal(u32::from_le_bytes(word)));
            }
        });
    }

    /// Calls `f(where, byte offset)` for every reference of the row.
    fn for_each_ref(self, mut f: impl FnMut(RefAt, usize)) {
        let mut walk = RefWalk::of(self.0);
        while let Some((at, offset)) = walk.next(self.0) {
            f(at, offset);
        }
    }
}

/// Where the references of a row are, one after another. It holds no borrow of the row (each
/// step is given it), so a row's references can be rewritten while it is walked: a reference
/// is 4 bytes whatever its value, so rewriting one moves nothing after it.
struct RefWalk {
    kind: u8,
    count: u64,
    /// The next value (or element) to look at.
    i: u64,
    /// Its byte offset.
    at: usize,
}

impl RefWalk {
    /// A walk of `row` (one with a bad head has no references).
    fn of(row: &[u8]) -> Self {
        let mut r = Reader(row);
        let (kind, count) = match (r.byte(), r.varint()) {
            (Some(kind), Some(count)) => (kind, count),
            _ => (OBJECT, 0),
        };
        RefWalk {
            kind,
            count,
            i: 0,
            at: row.len() - r.0.len(),
        }
    }

    /// The next reference of `row` (the row the walk was made of): where it is and the byte
    /// offset of its 4 bytes.
    fn next(&mut self, row: &[u8]) -> Option<(RefAt, usize)> {
        match self.kind {
            OBJECT => self.next_field(row),
            LIST | SET => self.next_word(4).map(|at| (RefAt::Element, at)),
            MAP => {
                let value = self.i % 2 == 1;
                let at = self.next_word(4)?;
                Some((if value { RefAt::Value } else { RefAt::Key }, at))
            }
            _ => None, // not a row `Rows::pack` makes: no references
        }
    }

    /// The offset of the next word of `width` bytes (a list's elements; a map's keys and
    /// values, two words an entry).
    fn next_word(&mut self, width: usize) -> Option<usize> {
        let limit = if self.kind == MAP {
            2 * self.count
        } else {
            self.count
        };
        if self.i >= limit {
            return None;
        }
        let at = self.at;
        self.i += 1;
        self.at += width;
        Some(at)
    }

    /// The next reference field of an object row, skipping the other fields.
    fn next_field(&mut self, row: &[u8]) -> Option<(RefAt, usize)> {
        while self.i < self.count {
            let field = FieldId(self.i as u32);
            let rest = row.get(self.at..)?;
            let mut r = Reader(rest);
            r.skip()?;
            let at = self.at;
            self.i += 1;
            self.at += rest.len() - r.0.len();
            if rest[0] == TAG_REF {
                return Some((RefAt::Field(field), at + 1));
            }
        }
        None
    }
}

const TAG_REF: u8 = 8;

fn pack_value(v: FieldValue<'_>, out: &mut Vec<u8>) {
    match v {
        FieldValue::Null => out.push(0),
        FieldValue::Bool(b) => out.extend_from_slice(&[1, b as u8]),
        FieldValue::I32(x) => {
            out.push(2);
            put_varint(out, zigzag(i64::from(x)));
        }
        FieldValue::I64(x) => {
            out.push(3);
            put_varint(out, zigzag(x));
        }
        FieldValue::F32(x) => {
            out.push(4);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        FieldValue::F64(x) => {
            out.push(5);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        FieldValue::Str(s) => {
            out.push(6);
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        FieldValue::Bytes(b) => {
            out.push(7);
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        FieldValue::Ref(o) => {
            out.push(TAG_REF);
            out.extend_from_slice(&o.0.to_le_bytes());
        }
    }
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// A cursor over a row's bytes; every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn word<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            x |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(x);
            }
        }
        None
    }

    /// Moves past one value without reading it (a string is not checked for UTF-8).
    fn skip(&mut self) -> Option<()> {
        let len = match self.byte()? {
            0 => 0,
            1 => 1,
            2 | 3 => return self.varint().map(drop),
            4 | TAG_REF => 4,
            5 => 8,
            6 | 7 => self.varint()? as usize,
            _ => return None,
        };
        self.take(len).map(drop)
    }

    fn value(&mut self) -> Option<FieldValue<'a>> {
        Some(match self.byte()? {
            0 => FieldValue::Null,
            1 => FieldValue::Bool(self.byte()? != 0),
            2 => FieldValue::I32(unzigzag(self.varint()?) as i32),
            3 => FieldValue::I64(unzigzag(self.varint()?)),
            4 => FieldValue::F32(f32::from_bits(u32::from_le_bytes(self.word()?))),
            5 => FieldValue::F64(f64::from_bits(u64::from_le_bytes(self.word()?))),
            6 => {
                let n = self.varint()? as usize;
                FieldValue::Str(std::str::from_utf8(self.take(n)?).ok()?)
            }
            7 => {
                let n = self.varint()? as usize;
                FieldValue::Bytes(self.take(n)?)
            }
            TAG_REF => FieldValue::Ref(Ordinal(u32::from_le_bytes(self.word()?))),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    fn records() -> Vec<Record> {
        vec![
            Record::Object(vec![
                Value::I64(-5),
                Value::String("Heat".into()),
                Value::Null,
                Value::F64(-0.0),
                Value::Ref(Ordinal(7)),
                Value::Bool(true),
                Value::I32(i32::MIN),
                Value::Bytes(vec![1, 2].into()),
                Value::F32(f32::NAN),
                Value::I64(i64::MAX),
            ]),
            Record::List(vec![Ordinal(3), Ordinal(1)]),
            Record::Set(vec![]),
            Record::Map(vec![(Ordinal(1), Ordinal(2)), (Ordinal(4), Ordinal(9))]),
        ]
    }

    #[test]
    fn a_packed_record_unpacks_to_itself_across_chunks() {
        let all: Vec<Record> = records().into_iter().cycle().take(40_000).collect();
        for mut rows in [Rows::new(), Rows::with_capacity(100, 1000)] {
            assert!(rows.is_empty() && rows.row(0).is_none());
            for r in &all {
                rows.push(r);
            }
            assert_eq!(rows.len(), 40_000);
            for (i, r) in all.iter().enumerate() {
                assert_eq!(rows.row(i as u32).unwrap().to_record().as_ref(), Some(r));
            }
            assert!(rows.row(40_000).is_none());
            let mut packed = Vec::new();
            all.iter().for_each(|r| Rows::pack(r, &mut packed));
            assert_eq!(rows.byte_len(), packed.len());
        }
    }

    #[test]
    fn fields_read_in_place_and_references_rewrite_in_place() {
        let mut rows = Rows::new();
        for r in records() {
            rows.push(&r);
        }
        let movie = rows.row(0).unwrap();
        assert_eq!(movie.field(FieldId(1)), Some(FieldValue::Str("Heat")));
        assert_eq!(movie.field(FieldId(4)), Some(FieldValue::Ref(Ordinal(7))));
        assert_eq!(movie.field(FieldId(10)), None);
        assert_eq!(movie.field_count(), Some(10));
        let refs = |row: Row<'_>| {
            let mut refs = Vec::new();
            row.for_each_ref_ordinal(|at, o| refs.push((at, o)));
            refs
        };
        assert_eq!(refs(movie), [(RefAt::Field(FieldId(4)), Ordinal(7))]);
        let map = rows.row(3).unwrap();
        let entries = [
            (RefAt::Key, 1),
            (RefAt::Value, 2),
            (RefAt::Key, 4),
            (RefAt::Value, 9),
        ];
        assert_eq!(refs(map), entries.map(|(at, o)| (at, Ordinal(o))));
        assert_eq!(
            refs(rows.row(1).unwrap()),
            [(RefAt::Element, Ordinal(3)), (RefAt::Element, Ordinal(1))]
        );
        rows.rewrite_refs(0, |at, o| {
            assert_eq!(at, RefAt::Field(FieldId(4)));
            Ordinal(o.0 + 100)
        });
        rows.rewrite_refs(3, |at, o| match at {
            RefAt::Key => o,
            _ => Ordinal(o.0 * 10),
        });
        let movie = rows.row(0).unwrap();
        assert_eq!(movie.field(FieldId(4)), Some(FieldValue::Ref(Ordinal(107))));
        assert_eq!(movie.field(FieldId(1)), Some(FieldValue::Str("Heat")));
        assert_eq!(
            rows.row(3).unwrap().to_record(),
            Some(Record::Map(vec![
                (Ordinal(1), Ordinal(20)),
                (Ordinal(4), Ordinal(90))
            ]))
        );
    }

    #[test]
    fn all_references_rewrite_on_threads_across_chunks_and_the_moved_and_kept_rows_are_named() {
        let all: Vec<Record> = records().into_iter().cycle().take(40_000).collect();
        let mut rows = Rows::new();
        for r in &all {
            rows.push(r);
        }
        // Each row's references move by its own number, but one row in three is left alone:
        // a row given the wrong number, or missed, reads wrong.
        let map = |row: u32, o: Ordinal| match row % 3 {
            0 => o,
            _ => Ordinal(o.0 + row),
        };
        let rewritten = rows.rewrite_all_refs(3, |row, _, o| map(row, o));
        let (mut expected_changed, mut expected_stayed) = (Vec::new(), Vec::new());
        for (i, record) in all.iter().enumerate() {
            let row = i as u32;
            let mut refs = 0;
            let mut moved = |o: &Ordinal| {
                refs += 1;
                map(row, *o)
            };
            let expected = match record {
                Record::Object(values) => Record::Object(
                    values
                        .iter()
                        .map(|v| match v {
                            Value::Ref(o) => Value::Ref(moved(o)),
                            v => v.clone(),
                        })
                        .collect(),
                ),
                Record::List(e) => Record::List(e.iter().map(moved).collect()),
                Record::Set(e) => Record::Set(e.iter().map(moved).collect()),
                Record::Map(e) => {
                    Record::Map(e.iter().map(|(k, v)| (moved(k), moved(v))).collect())
                }
            };
            if expected != *record {
                expected_changed.push(row);
            }
            if refs > 0 && row.is_multiple_of(3) {
                expected_stayed.push(row);
            }
            let got = rows.row(row).unwrap().to_record().unwrap();
            // NaN is not equal to itself: compare the packed bytes.
            let (mut a, mut b) = (Vec::new(), Vec::new());
            Rows::pack(&got, &mut a);
            Rows::pack(&expected, &mut b);
            assert_eq!(a, b, "row {row}");
        }
        assert_eq!(rewritten.moved, expected_changed);
        assert_eq!(rewritten.stayed, expected_stayed);
        assert!(rewritten.moved.len() > 15_000, "most rows hold references");
        assert!(rewritten.stayed.len() > 7_000, "a third of them stay");
    }

    #[test]
    fn equal_records_pack_to_equal_bytes_and_floats_by_their_bits() {
        let pack = |r: &Record| {
            let mut out = Vec::new();
            Rows::pack(r, &mut out);
            out
        };
        let a = Record::Object(vec![Value::F64(0.0)]);
        let b = Record::Object(vec![Value::F64(-0.0)]);
        assert_eq!(pack(&a), pack(&a.clone()));
        assert_ne!(pack(&a), pack(&b));
        assert_eq!(a == b, pack(&a) == pack(&b));
    }

    #[test]
    fn a_row_fits_its_own_type_and_no_other_nor_a_bent_copy() {
        use crate::schema::{FieldKind, Schema};
        let schema = Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .reference("tags", "Tags"),
            TypeDef::list("Tags", "Tag"),
            TypeDef::set("Seen", "Tag"),
            TypeDef::map("Votes", "Tag", "Tag"),
            TypeDef::object("Tag").field("name", FieldKind::String),
        ])
        .unwrap();
        let def = |name: &str| schema.type_def(schema.type_id(name).unwrap()).unwrap();
        let packed = |r: &Record| {
            let mut out = Vec::new();
            Rows::pack(r, &mut out);
            out
        };
        let movie = packed(&Record::Object(vec![
            Value::I64(7),
            Value::Null,
            Value::Ref(Ordinal(2)),
        ]));
        let fits = |bytes: &[u8], name: &str| Row::of(bytes).fits(def(name));
        assert!(fits(&movie, "Movie"));
        assert!(!fits(&movie, "Tag"), "another type");
        assert!(!fits(&movie[..movie.len() - 1], "Movie"), "cut short");
        assert!(
            !fits(&[&movie[..], &[0]].concat(), "Movie"),
            "a byte past its end"
        );
        let mut bent = movie.clone();
        bent[2] = 6; // the id tagged as a string
        assert!(!fits(&bent, "Movie"), "a value of another kind");
        let list = packed(&Record::List(vec![Ordinal(3), Ordinal(1)]));
        assert!(fits(&list, "Tags"));
        assert!(!fits(&list, "Seen"), "a list is no set");
        let mut set = Vec::new();
        Rows::pack_list(true, &[Ordinal(3), Ordinal(1)], &mut set);
        assert!(!fits(&set, "Seen"), "a set out of order");
        assert!(fits(
            &packed(&Record::Set(vec![Ordinal(1), Ordinal(3)])),
            "Seen"
        ));
        let votes = |k: u32| {
            packed(&Record::Map(vec![
                (Ordinal(1), Ordinal(2)),
                (Ordinal(k), Ordinal(0)),
            ]))
        };
        assert!(fits(&votes(4), "Votes"));
        assert!(!fits(&votes(1), "Votes"), "one key twice");
    }
}
