//! `docs/FORMAT.md` matches the code: the worked example's hex dump is the bytes the writer
//! produces, and an independent decoder written from the document's rules alone (its own bit
//! unpacking, page parsing and checksum checks; only roaring bitmaps come from the roaring
//! crate, as the document defers to the roaring spec) reads back every record of a snapshot.

mod common;

use std::sync::Arc;

use common::random::{self, Rng};
use shoal_format::{
    write_snapshot, DataState, FieldKind, Ordinal, Record, Schema, StateBuilder, TypeDef, TypeId,
    TypeKind, Value, Version, WriteOptions,
};

fn tiny_blob() -> Vec<u8> {
    let schema = Arc::new(
        Schema::new(vec![TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String)
            .primary_key(&["id"])])
        .unwrap(),
    );
    let mut b = StateBuilder::new(schema);
    b.add(
        TypeId(0),
        Record::Object(vec![Value::I64(7), Value::String("Alien".into())]),
    )
    .unwrap();
    b.add(TypeId(0), Record::Object(vec![Value::I64(9), Value::Null]))
        .unwrap();
    let mut bytes = Vec::new();
    write_snapshot(
        &b.finish(),
        Version(1),
        &WriteOptions { page_shift: 4 },
        &mut bytes,
    )
    .unwrap();
    bytes
}

fn documented_hex() -> Vec<u8> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md")).unwrap();
    let example = doc
        .split("## Worked example")
        .nth(1)
        .expect("a worked example section");
    let block = example.split("```").nth(1).expect("a hex block");
    block
        .lines()
        .filter_map(|l| l.split_once(": "))
        .flat_map(|(_, hex)| {
            hex.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn worked_example_blob_is_the_documented_one() {
    assert_eq!(tiny_blob(), documented_hex());
}

// ---- an independent reader, from docs/FORMAT.md ----

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Value `i` of a packed area: bit `b` of the stream is bit `b mod 8` of byte `b / 8`.
fn unpack(area: &[u8], width: usize, i: usize) -> u64 {
    (0..width).fold(0u64, |v, k| {
        let bit = i * width + k;
        v | (((area[bit / 8] >> (bit % 8)) & 1) as u64) << k
    })
}

fn packed_len(count: usize, width: usize) -> usize {
    (count * width).div_ceil(8).div_ceil(8) * 8 + 8
}

struct Doc<'a> {
    b: &'a [u8],
    shift: u32,
    table: Vec<(u16, u32, u32, usize, usize)>,
}

impl<'a> Doc<'a> {
    fn open(b: &'a [u8]) -> Self {
        assert_eq!(&b[0..8], b"SHOAL\r\n\x1a");
        assert_eq!(u32_at(b, 8), 1);
        let schema_len = u32_at(b, 32) as usize;
        let mut covered = b[0..36].to_vec();
        covered.extend_from_slice(&b[40..40 + schema_len]);
        assert_eq!(crc32c::crc32c(&covered), u32_at(b, 36), "header checksum");
        let n = b.len();
        assert_eq!(&b[n - 8..], b"SHOAL\r\n\x1a");
        let (table_at, count) = (u64_at(b, n - 24) as usize, u32_at(b, n - 16) as usize);
        assert_eq!(
            crc32c::crc32c(&b[table_at..n - 24]),
            u32_at(b, n - 12),
            "table checksum"
        );
        let table = (0..count)
            .map(|i| {
                let e = table_at + 32 * i;
                let (off, len) = (u64_at(b, e + 16) as usize, u64_at(b, e + 24) as usize);
                assert_eq!(
                    crc32c::crc32c(&b[off..off + len]),
                    u32_at(b, e + 12),
                    "section checksum"
                );
                (
                    u16::from_le_bytes([b[e], b[e + 1]]),
                    u32_at(b, e + 4),
                    u32_at(b, e + 8),
                    off,
                    len,
                )
            })
            .collect();
        Doc {
            b,
            shift: b[13] as u32,
            table,
        }
    }

    fn section(&self, kind: u16, ty: u32, col: u32) -> &'a [u8] {
        let (_, _, _, off, len) = *self
            .table
            .iter()
            .find(|e| (e.0, e.1, e.2) == (kind, ty, col))
            .unwrap();
        &self.b[off..off + len]
    }

    fn populated(&self, ty: u32) -> (u32, roaring::RoaringBitmap) {
        let s = self.section(1, ty, 0);
        let len = u64_at(s, 8) as usize;
        (
            u32_at(s, 0),
            roaring::RoaringBitmap::deserialize_from(&s[16..16 + len]).unwrap(),
        )
    }

    /// The bytes of the page holding value `i`, and `i` within it.
    fn page(&self, ty: u32, col: u32, slots: u32, i: usize) -> (&'a [u8], usize) {
        let s = self.section(2, ty, col);
        let n_pages = (slots as usize).div_ceil(1 << self.shift);
        let dir = s.len() - 8 * n_pages;
        let p = i >> self.shift;
        let start = u64_at(s, dir + 8 * p) as usize;
        let end = if p + 1 < n_pages {
            u64_at(s, dir + 8 * (p + 1)) as usize
        } else {
            dir
        };
        (&s[start..end], i & ((1 << self.shift) - 1))
    }

    fn fixed(&self, page: &[u8], i: usize, kind: &FieldKind) -> Value {
        let (encoding, width, has_nulls, scale) =
            (page[0], page[1] as usize, page[2] & 1 == 1, page[3]);
        let (base, null) = (u64_at(page, 8), u64_at(page, 16));
        let code = unpack(&page[24..], width, i);
        if has_nulls && code == null {
            return Value::Null;
        }
        let raw = base.wrapping_add(code);
        let float_bits = |is_f32: bool| match (encoding, is_f32) {
            (1, true) => ((raw as i64) as f32 / 10f32.powi(scale as i32)).to_bits() as u64,
            (1, false) => ((raw as i64) as f64 / 10f64.powi(scale as i32)).to_bits(),
            _ => raw,
        };
        match kind {
            FieldKind::Bool => Value::Bool(raw != 0),
            FieldKind::I32 => Value::I32(raw as i32),
            FieldKind::I64 => Value::I64(raw as i64),
            FieldKind::F32 => Value::F32(f32::from_bits(float_bits(true) as u32)),
            FieldKind::F64 => Value::F64(f64::from_bits(float_bits(false))),
            FieldKind::Reference(_) => Value::Ref(Ordinal(raw as u32)),
            _ => unreachable!("not a fixed kind"),
        }
    }

    /// The span of value `i` of a var page, its null bit, and the payload area.
    fn span(&self, page: &'a [u8], i: usize) -> (usize, usize, bool, &'a [u8]) {
        let (ends_w, has_nulls, count) =
            (page[1] as usize, page[2] & 1 == 1, u32_at(page, 4) as usize);
        let ends = &page[24..];
        let start = if i == 0 {
            0
        } else {
            unpack(ends, ends_w, i - 1) as usize
        };
        let end = unpack(ends, ends_w, i) as usize;
        let mut at = 24 + packed_len(count, ends_w);
        let null = has_nulls && unpack(&page[at..], 1, i) == 1;
        if has_nulls {
            at += packed_len(count, 1);
        }
        (start, end, null, &page[at..])
    }

    fn record(&self, schema: &Schema, ty: u32, slots: u32, o: usize) -> Record {
        match &schema.types()[ty as usize].kind {
            TypeKind::Object { fields, .. } => Record::Object(
                fields
                    .iter()
                    .enumerate()
                    .map(|(c, f)| {
                        let (page, i) = self.page(ty, c as u32, slots, o);
                        match f.kind {
                            FieldKind::String | FieldKind::Bytes => {
                                let (s, e, null, heap) = self.span(page, i);
                                match (null, &f.kind) {
                                    (true, _) => Value::Null,
                                    (_, FieldKind::String) => Value::String(
                                        String::from_utf8(heap[s..e].to_vec()).unwrap(),
                                    ),
                                    _ => Value::Bytes(heap[s..e].to_vec()),
                                }
                            }
                            _ => self.fixed(page, i, &f.kind),
                        }
                    })
                    .collect(),
            ),
            kind => {
                let (page, i) = self.page(ty, 0, slots, o);
                let (s, e, _, payload) = self.span(page, i);
                let (kw, vw, n) = (
                    page[3] as usize,
                    page[16] as usize,
                    u64_at(page, 8) as usize,
                );
                let keys = (s..e).map(|j| Ordinal(unpack(payload, kw, j) as u32));
                match kind {
                    TypeKind::List { .. } => Record::List(keys.collect()),
                    TypeKind::Set { .. } => Record::Set(keys.collect()),
                    _ => {
                        let values = &payload[packed_len(n, kw)..];
                        Record::Map(
                            keys.zip(s..e)
                                .map(|(k, j)| (k, Ordinal(unpack(values, vw, j) as u32)))
                                .collect(),
                        )
                    }
                }
            }
        }
    }
}

fn decode_by_the_document(bytes: &[u8], schema: &Arc<Schema>) -> DataState {
    let doc = Doc::open(bytes);
    let mut state = DataState::new(schema.clone());
    for t in 0..schema.type_count() as u32 {
        let (slots, populated) = doc.populated(t);
        for o in populated.iter() {
            state
                .insert(
                    TypeId(t),
                    Ordinal(o),
                    doc.record(schema, t, slots, o as usize),
                )
                .unwrap();
        }
    }
    state
}

#[test]
fn the_document_alone_decodes_the_worked_example() {
    let bytes = documented_hex();
    let schema = shoal_format::SnapshotView::open(bytes.as_slice())
        .unwrap()
        .schema_arc()
        .clone();
    let state = decode_by_the_document(&bytes, &schema);
    let r0 = Record::Object(vec![Value::I64(7), Value::String("Alien".into())]);
    assert_eq!(state.get(TypeId(0), Ordinal(0)), Some(&r0));
    assert_eq!(
        state.get(TypeId(0), Ordinal(1)),
        Some(&Record::Object(vec![Value::I64(9), Value::Null]))
    );
}

#[test]
fn the_document_alone_decodes_random_snapshots() {
    for seed in 0..60 {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let state = random::state(&mut rng, &schema, 70);
        let mut bytes = Vec::new();
        write_snapshot(
            &state,
            Version(3),
            &WriteOptions { page_shift: 4 },
            &mut bytes,
        )
        .unwrap();
        assert_eq!(
            decode_by_the_document(&bytes, &schema),
            state,
            "seed {seed}"
        );
    }
}
