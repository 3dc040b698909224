//! Golden blobs: a snapshot, a delta and a reverse delta of format version 1, committed under
//! `tests/golden/v1/`, and a delta and a reverse delta that change the schema (format version
//! 2) under `tests/golden/v2/`, read by this test forever. They are never regenerated: a change
//! that makes this test fail breaks every blob already published, and needs a new format
//! version. The writer still writes the version-1 blobs byte for byte.
//!
//! Run once with `SHOAL_WRITE_GOLDEN=1` to create files that do not exist yet; existing files
//! are never overwritten.

use std::path::PathBuf;
use std::sync::Arc;

use shoal_format::{
    write_delta, write_snapshot, BlobKind, DataState, DeltaView, FieldKind, Ordinal, Record,
    Schema, SnapshotView, TypeDef, TypeId, Value, Version, WriteOptions,
};

fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .field("rating", FieldKind::F64)
                .field("score", FieldKind::F32)
                .field("family", FieldKind::Bool)
                .field("poster", FieldKind::Bytes)
                .reference("tags", "Tags")
                .reference("cast", "Cast")
                .primary_key(&["id"]),
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::list("Tags", "Tag"),
            TypeDef::set("Cast", "Tag"),
            TypeDef::map("Credits", "Tag", "Movie"),
        ])
        .unwrap(),
    )
}

fn movie(id: i64, title: Option<&str>, year: i32, rating: f64, tags: u32) -> Record {
    Record::Object(vec![
        Value::I64(id),
        title.map_or(Value::Null, |t| Value::String(t.into())),
        Value::I32(year),
        Value::F64(rating),
        Value::F32(-0.5),
        Value::Bool(id % 2 == 0),
        Value::Bytes(vec![id as u8, 0xff].into()),
        Value::Ref(Ordinal(tags)),
        Value::Null,
    ])
}

fn v1() -> DataState {
    let mut s = DataState::new(schema());
    let tag = |n: &str| Record::Object(vec![Value::String(n.into())]);
    for (o, name) in ["drama", "café", "日本"].iter().enumerate() {
        s.insert(TypeId(1), Ordinal(o as u32), tag(name)).unwrap();
    }
    s.insert(
        TypeId(2),
        Ordinal(0),
        Record::List(vec![Ordinal(2), Ordinal(0)]),
    )
    .unwrap();
    s.insert(TypeId(2), Ordinal(1), Record::List(vec![]))
        .unwrap();
    s.insert(
        TypeId(3),
        Ordinal(0),
        Record::Set(vec![Ordinal(1), Ordinal(0)]),
    )
    .unwrap();
    s.insert(
        TypeId(4),
        Ordinal(0),
        Record::Map(vec![(Ordinal(0), Ordinal(3))]),
    )
    .unwrap();
    let titles = [Some("Alien"), None, Some(""), Some("Heat")];
    for i in 0..40u32 {
        if i % 7 == 3 {
            continue;
        }
        let r = movie(
            1000 + i as i64,
            titles[i as usize % 4],
            1950 + i as i32,
            1.0 + i as f64 / 10.0,
            i % 2,
        );
        s.insert(TypeId(0), Ordinal(i), r).unwrap();
    }
    s
}

fn v2() -> DataState {
    let mut s = v1();
    s.remove(TypeId(0), Ordinal(5));
    s.insert(
        TypeId(0),
        Ordinal(6),
        movie(1006, Some("Ran"), 1985, 8.2, 0),
    )
    .unwrap();
    s.remove(TypeId(0), Ordinal(7));
    s.insert(
        TypeId(0),
        Ordinal(41),
        movie(1007, Some("Moved"), 1957, 1.7, 1),
    )
    .unwrap();
    s.insert(
        TypeId(0),
        Ordinal(40),
        movie(2000, Some("New"), 2026, 9.9, 1),
    )
    .unwrap();
    s.insert(TypeId(2), Ordinal(2), Record::List(vec![Ordinal(1)]))
        .unwrap();
    s
}

/// Version 2 with the schema changed: `Movie.score` gone, `Movie.studio` and the type
/// `Studio` new; two movies get a studio.
fn v3() -> DataState {
    let schema = Arc::new(
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .field("rating", FieldKind::F64)
                .field("family", FieldKind::Bool)
                .field("poster", FieldKind::Bytes)
                .reference("tags", "Tags")
                .reference("cast", "Cast")
                .field("studio", FieldKind::String)
                .primary_key(&["id"]),
            TypeDef::object("Tag").field("name", FieldKind::String),
            TypeDef::list("Tags", "Tag"),
            TypeDef::set("Cast", "Tag"),
            TypeDef::map("Credits", "Tag", "Movie"),
            TypeDef::object("Studio").field("name", FieldKind::String),
        ])
        .unwrap(),
    );
    let mut s = v2().projected(schema).unwrap();
    for (o, studio) in [(0, "Toho"), (6, "Fox")] {
        let Some(Record::Object(mut values)) = s.get(TypeId(0), Ordinal(o)).cloned() else {
            panic!("movie {o} is there")
        };
        values[8] = Value::String(studio.into());
        s.insert(TypeId(0), Ordinal(o), Record::Object(values))
            .unwrap();
    }
    s.insert(
        TypeId(5),
        Ordinal(0),
        Record::Object(vec![Value::String("Toho".into())]),
    )
    .unwrap();
    s
}

fn golden(name: &str, write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    golden_in("v1", name, write)
}

fn golden_in(version: &str, name: &str, write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(version);
    let path = dir.join(name);
    if !path.exists() && std::env::var_os("SHOAL_WRITE_GOLDEN").is_some() {
        let mut bytes = Vec::new();
        write(&mut bytes);
        std::fs::write(&path, bytes).unwrap();
    }
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("golden blob {} is missing: {e}", path.display()))
}

/// The options the version-1 and version-2 blobs were written with.
fn options() -> WriteOptions {
    WriteOptions {
        page_shift: 4,
        dictionary: false,
        ..WriteOptions::default()
    }
}

#[test]
fn golden_v1_snapshot_decodes_to_version_1() {
    let bytes = golden("snapshot-1.blob", |out| {
        write_snapshot(&v1(), Version(1), &options(), out).unwrap();
    });
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.version(), Version(1));
    assert_eq!(view.to_state().unwrap(), v1());
    // Written before key index sections existed: the same bytes without them.
    let plain = WriteOptions {
        key_indexes: false,
        ..options()
    };
    let mut written = Vec::new();
    write_snapshot(&v1(), Version(1), &plain, &mut written).unwrap();
    assert!(
        written == bytes,
        "the writer still writes version 1 byte for byte"
    );
}

#[test]
fn golden_v1_delta_takes_version_1_to_version_2() {
    let bytes = golden("delta-1-2.blob", |out| {
        write_delta(&v1(), &v2(), Version(1), Version(2), &options(), out).unwrap();
    });
    let view = DeltaView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.kind(), BlobKind::Delta);
    assert_eq!(view.apply(&v1()).unwrap(), v2());
    let mut written = Vec::new();
    write_delta(
        &v1(),
        &v2(),
        Version(1),
        Version(2),
        &options(),
        &mut written,
    )
    .unwrap();
    assert!(
        written == bytes,
        "the writer still writes version 1 byte for byte"
    );
}

#[test]
fn golden_v1_reverse_delta_takes_version_2_to_version_1() {
    let bytes = golden("reverse-2-1.blob", |out| {
        write_delta(&v2(), &v1(), Version(2), Version(1), &options(), out).unwrap();
    });
    let view = DeltaView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.kind(), BlobKind::Reverse);
    assert_eq!(view.apply(&v2()).unwrap(), v1());
}

#[test]
fn golden_v2_delta_changes_the_schema_from_version_2_to_3() {
    let bytes = golden_in("v2", "delta-2-3.blob", |out| {
        write_delta(&v2(), &v3(), Version(2), Version(3), &options(), out).unwrap();
    });
    let view = DeltaView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.layout().header.format, 2);
    assert!(view.layout().header.changes_schema);
    assert_eq!(view.apply(&v2()).unwrap(), v3());
}

#[test]
fn golden_v2_reverse_delta_changes_the_schema_back_from_version_3_to_2() {
    let bytes = golden_in("v2", "reverse-3-2.blob", |out| {
        write_delta(&v3(), &v2(), Version(3), Version(2), &options(), out).unwrap();
    });
    let view = DeltaView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.layout().header.format, 2);
    assert!(view.layout().header.changes_schema);
    assert_eq!(view.apply(&v3()).unwrap(), v2());
}

#[test]
fn golden_v3_snapshot_with_dictionary_pages_decodes_to_version_1() {
    let opts = WriteOptions {
        page_shift: 4,
        ..WriteOptions::default()
    };
    let bytes = golden_in("v3", "snapshot-1.blob", |out| {
        write_snapshot(&v1(), Version(1), &opts, out).unwrap();
    });
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.layout().header.format, 3);
    assert_eq!(view.to_state().unwrap(), v1());
    let schema = view.schema_arc();
    let movie = schema.type_id("Movie").unwrap();
    let title = schema.field_id(movie, "title").unwrap();
    let paged = shoal_format::PagedVersion::open(bytes::Bytes::from(bytes.clone())).unwrap();
    let stats = paged.column_stats(movie, title).unwrap();
    // Four titles over sixteen movies a page: the two full pages are dictionary pages, the
    // last, of eight, is smaller plain.
    assert_eq!((stats.pages, stats.dictionary_pages), (3, 2));
}
