//! `docs/FORMAT.md` matches the code.
//!
//! - The worked examples' hex dumps are the bytes the writer produces, and the same dumps as in
//!   the document (both are pinned here, so neither can drift).
//! - `tests/doc_reader.py`, an independent reader written from the document alone (Python 3,
//!   standard library only: its own CRC-32C, roaring decoder, bit unpacking and page parsing),
//!   reads rich snapshots, deltas, reverse deltas, random blobs and the golden blobs, and what
//!   it prints must equal what the Rust side knows. A missing `python3` fails these tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use common::mutate::repair_checksums;
use common::random::{self, Rng};
use serde_json::{json, Value as Json};
use shoal_format::{
    keyindex::SECTION_KEY_INDEX, write_delta, write_snapshot, DataState, DeltaView, Elements,
    FieldId, FieldKind, Ordinal, Record, RecordSource, Schema, SnapshotView, TypeDef, TypeId,
    TypeKind, Value, Version, WriteOptions,
};

/// The worked snapshot of `docs/FORMAT.md`, byte for byte.
const SNAPSHOT_HEX: &str = "\
0000: 53 48 4f 41 4c 0d 0a 1a 01 00 00 00 01 04 00 00
0010: 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
0020: 31 00 00 00 20 bf c6 ad 01 00 00 00 05 00 00 00
0030: 4d 6f 76 69 65 01 02 00 00 00 02 00 00 00 69 64
0040: 03 05 00 00 00 74 69 74 6c 65 06 01 00 00 00 01
0050: 00 00 00 02 00 00 00 69 64 00 00 00 00 00 00 00
0060: 02 00 00 00 01 00 00 00 14 00 00 00 00 00 00 00
0070: 3a 30 00 00 01 00 00 00 00 00 01 00 10 00 00 00
0080: 00 00 01 00 00 00 00 00 00 02 00 00 02 00 00 00
0090: 07 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00a0: 08 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00b0: 00 00 00 00 00 00 00 00 01 03 01 00 02 00 00 00
00c0: 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00d0: 2d 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00e0: 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00f0: 41 6c 69 65 6e 00 00 00 00 00 00 00 00 00 00 00
0100: 01 00 00 00 00 00 00 00 00 00 00 00 95 60 ef 94
0110: 60 00 00 00 00 00 00 00 28 00 00 00 00 00 00 00
0120: 02 00 00 00 00 00 00 00 00 00 00 00 09 43 85 ac
0130: 88 00 00 00 00 00 00 00 30 00 00 00 00 00 00 00
0140: 02 00 00 00 00 00 00 00 01 00 00 00 b2 ab 19 2f
0150: b8 00 00 00 00 00 00 00 48 00 00 00 00 00 00 00
0160: 00 01 00 00 00 00 00 00 03 00 00 00 37 8d 46 a8
0170: 53 48 4f 41 4c 0d 0a 1a
";

/// The worked delta of `docs/FORMAT.md`, byte for byte.
const DELTA_HEX: &str = "\
0000: 53 48 4f 41 4c 0d 0a 1a 01 00 00 00 02 04 00 00
0010: 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
0020: 31 00 00 00 8d 42 8b 81 01 00 00 00 05 00 00 00
0030: 4d 6f 76 69 65 01 02 00 00 00 02 00 00 00 69 64
0040: 03 05 00 00 00 74 69 74 6c 65 06 01 00 00 00 01
0050: 00 00 00 02 00 00 00 69 64 00 00 00 00 00 00 00
0060: 02 00 00 00 02 00 00 00 12 00 00 00 00 00 00 00
0070: 3a 30 00 00 01 00 00 00 00 00 00 00 10 00 00 00
0080: 01 00 00 00 00 00 00 00 12 00 00 00 00 00 00 00
0090: 3a 30 00 00 01 00 00 00 00 00 00 00 10 00 00 00
00a0: 01 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00
00b0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00c0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00d0: 08 00 00 00 00 00 00 00 3a 30 00 00 00 00 00 00
00e0: 12 00 00 00 00 00 00 00 3a 30 00 00 01 00 00 00
00f0: 00 00 00 00 10 00 00 00 00 00 00 00 00 00 00 00
0100: 01 03 00 00 01 00 00 00 04 00 00 00 00 00 00 00
0110: 00 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00
0120: 00 00 00 00 00 00 00 00 48 65 61 74 00 00 00 00
0130: 20 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
0140: 00 00 00 00 2d aa eb 82 60 00 00 00 00 00 00 00
0150: 48 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
0160: 00 00 00 00 61 0c 93 6a a8 00 00 00 00 00 00 00
0170: 28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
0180: 00 00 00 00 6f 5e a0 33 d0 00 00 00 00 00 00 00
0190: 10 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
01a0: 01 00 00 00 c9 30 0b 2c e0 00 00 00 00 00 00 00
01b0: 58 00 00 00 00 00 00 00 38 01 00 00 00 00 00 00
01c0: 04 00 00 00 91 c2 af 57 53 48 4f 41 4c 0d 0a 1a
";

/// The options of the worked examples: page shift 4, and the key index shown apart (see
/// `worked_key_index_is_the_documented_one`).
fn worked_options() -> WriteOptions {
    WriteOptions {
        page_shift: 4,
        key_indexes: false,
        dictionary: false,
    }
}

fn page_shift_4() -> WriteOptions {
    WriteOptions {
        page_shift: 4,
        ..WriteOptions::default()
    }
}

// ---- the worked examples ----

fn tiny_schema() -> Arc<Schema> {
    Arc::new(
        Schema::new(vec![TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String)
            .primary_key(&["id"])])
        .unwrap(),
    )
}

fn tiny_movie(id: i64, title: Option<&str>) -> Record {
    Record::Object(vec![
        Value::I64(id),
        title.map_or(Value::Null, |t| Value::String(t.into())),
    ])
}

/// Version 1 of the worked example: `{7, "Alien"}` at ordinal 0, `{9, null}` at ordinal 1.
fn tiny_v1() -> DataState {
    let mut s = DataState::new(tiny_schema());
    s.insert(TypeId(0), Ordinal(0), tiny_movie(7, Some("Alien")))
        .unwrap();
    s.insert(TypeId(0), Ordinal(1), tiny_movie(9, None))
        .unwrap();
    s
}

/// Version 2: movie 9 gets a title, in place.
fn tiny_v2() -> DataState {
    let mut s = tiny_v1();
    s.insert(TypeId(0), Ordinal(1), tiny_movie(9, Some("Heat")))
        .unwrap();
    s
}

/// The layout of the hex dumps in `docs/FORMAT.md`: 16 bytes a line, offset first.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        out += &format!("{:04x}: {}\n", i * 16, hex.join(" "));
    }
    out
}

/// Every fenced block of `docs/FORMAT.md` made only of hex dump lines, in document order.
fn documented_dumps() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let is_dump_line = |l: &str| {
        l.len() > 6 && l.as_bytes()[4] == b':' && l[..4].bytes().all(|b| b.is_ascii_hexdigit())
    };
    doc.split("```")
        .skip(1)
        .step_by(2)
        .filter_map(|block| {
            let lines: Vec<&str> = block.lines().filter(|l| !l.is_empty()).collect();
            (!lines.is_empty() && lines.iter().all(|l| is_dump_line(l)))
                .then(|| lines.iter().map(|l| format!("{l}\n")).collect())
        })
        .collect()
}

#[test]
fn worked_example_blob_is_the_documented_one() {
    let mut bytes = Vec::new();
    write_snapshot(&tiny_v1(), Version(1), &worked_options(), &mut bytes).unwrap();
    assert_eq!(
        hex_dump(&bytes),
        SNAPSHOT_HEX,
        "the writer no longer produces the worked example"
    );
    let dumps = documented_dumps();
    assert_eq!(
        dumps.first().map(String::as_str),
        Some(SNAPSHOT_HEX),
        "the first hex dump of docs/FORMAT.md is not the worked snapshot"
    );
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.to_state().unwrap(), tiny_v1());
}

#[test]
fn worked_example_delta_is_the_documented_one() {
    let mut bytes = Vec::new();
    write_delta(
        &tiny_v1(),
        &tiny_v2(),
        Version(1),
        Version(2),
        &worked_options(),
        &mut bytes,
    )
    .unwrap();
    assert_eq!(
        hex_dump(&bytes),
        DELTA_HEX,
        "the writer no longer produces the worked delta"
    );
    let dumps = documented_dumps();
    assert_eq!(
        dumps.get(1).map(String::as_str),
        Some(DELTA_HEX),
        "the second hex dump of docs/FORMAT.md is not the worked delta"
    );
    assert_eq!(dumps.len(), 3, "docs/FORMAT.md has an unpinned hex dump");
    let view = DeltaView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    assert_eq!(view.apply(&tiny_v1()).unwrap(), tiny_v2());
}

/// The key index section of the worked snapshot, byte for byte (the third hex dump).
#[test]
fn worked_key_index_is_the_documented_one() {
    let mut bytes = Vec::new();
    write_snapshot(&tiny_v1(), Version(1), &page_shift_4(), &mut bytes).unwrap();
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    view.verify().unwrap();
    let entry = view
        .layout()
        .find(SECTION_KEY_INDEX, TypeId(0), 0)
        .copied()
        .expect("a key index section");
    let section = &bytes[entry.offset as usize..(entry.offset + entry.len) as usize];
    assert_eq!(
        documented_dumps().get(2).map(String::as_str),
        Some(hex_dump(section).as_str()),
        "the third hex dump of docs/FORMAT.md is not the worked key index"
    );
}

/// A key index whose entry names the wrong record, checksums repaired: both readers refuse it.
#[test]
fn a_damaged_key_index_is_refused_by_both_readers() {
    let mut bytes = Vec::new();
    write_snapshot(&rich_v1(), Version(1), &page_shift_4(), &mut bytes).unwrap();
    let layout = SnapshotView::open(bytes.as_slice())
        .unwrap()
        .layout()
        .clone();
    let entry = layout
        .entries
        .iter()
        .find(|e| e.kind == SECTION_KEY_INDEX)
        .copied()
        .expect("the rich snapshot has a key index");
    let slots = (entry.offset as usize + 32)..(entry.offset + entry.len) as usize;
    let first = slots
        .step_by(8)
        .find(|&at| bytes[at..at + 8] != [0; 8])
        .expect("an entry");
    bytes[first] ^= 1; // another ordinal
    repair_checksums(&mut bytes);
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    let err = view.verify().unwrap_err().to_string();
    assert!(err.contains("key index of"), "{err}");
    let dir = TempDir::new("damaged-key-index");
    let path = dir.write("snapshot.blob", &bytes);
    let stderr = rejected_by_python(&path);
    assert!(stderr.contains("key index of"), "{stderr}");
}

// ---- running the independent reader ----

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "shoal-format-doc-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {dir:?}: {e}"));
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        path
    }
}

impl Drop for TempDir {
    /// Removes the directory, unless `SHOAL_KEEP_DOC_BLOBS` is set (to inspect the blobs).
    fn drop(&mut self) {
        if std::env::var_os("SHOAL_KEEP_DOC_BLOBS").is_some() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn python(args: &[&Path]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/doc_reader.py");
    Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs `python3` (Python 3.6 or later) on PATH to run {}, and could not \
                 start it: {e}",
                script.display()
            )
        })
}

/// Runs the reader and parses its output, one JSON object per line.
fn read_with_python(args: &[&Path]) -> Vec<Json> {
    let out = python(args);
    assert!(
        out.status.success(),
        "doc_reader.py {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("doc_reader.py prints UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Runs the reader on a blob that must be rejected; returns its message.
fn rejected_by_python(path: &Path) -> String {
    let out = python(&[path]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "doc_reader.py accepted a bad blob (stderr: {stderr})"
    );
    assert!(
        out.stdout.is_empty(),
        "doc_reader.py printed records of a bad blob"
    );
    assert!(
        stderr.starts_with("doc_reader: ") && !stderr.contains("Traceback"),
        "{stderr}"
    );
    stderr
}

fn assert_lines_eq(got: &[Json], expected: &[Json], what: &str) {
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g, e, "{what}: line {i} differs");
    }
    assert_eq!(got.len(), expected.len(), "{what}: number of lines");
}

// ---- what the Rust side knows, in the reader's JSON ----

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!({ "bool": b }),
        Value::I32(x) => json!({ "i32": x }),
        Value::I64(x) => json!({ "i64": x }),
        Value::F32(x) => json!({ "f32": format!("{:08x}", x.to_bits()) }),
        Value::F64(x) => json!({ "f64": format!("{:016x}", x.to_bits()) }),
        Value::String(s) => json!({ "string": s }),
        Value::Bytes(b) => json!({ "bytes": hex(b) }),
        Value::Ref(o) => json!({ "ref": o.0 }),
    }
}

fn elements_json(elements: Elements<'_>, map: bool) -> Json {
    if map {
        elements
            .map(|(k, v)| json!([k.0, v.expect("a map entry has a value").0]))
            .collect()
    } else {
        elements.map(|(o, _)| json!(o.0)).collect()
    }
}

fn schema_json(schema: &Schema) -> Json {
    schema
        .types()
        .iter()
        .map(|t| match &t.kind {
            TypeKind::Object { fields, .. } => {
                let fields: Vec<Json> = fields
                    .iter()
                    .map(|f| match &f.kind {
                        FieldKind::Reference(target) => {
                            json!({ "name": f.name, "kind": "ref", "target": target })
                        }
                        kind => json!({ "name": f.name, "kind": kind.to_string() }),
                    })
                    .collect();
                let key: Vec<&Vec<String>> = t.key().unwrap_or(&[]).iter().map(|p| &p.0).collect();
                json!({ "name": t.name, "kind": "object", "fields": fields, "key": key })
            }
            TypeKind::List { element } => {
                json!({ "name": t.name, "kind": "list", "element": element })
            }
            TypeKind::Set { element } => {
                json!({ "name": t.name, "kind": "set", "element": element })
            }
            TypeKind::Map { key, value } => {
                json!({ "name": t.name, "kind": "map", "key_type": key, "value_type": value })
            }
        })
        .collect()
}

fn header_json(blob: &str, from: u64, to: u64, schema: &Schema) -> Json {
    json!({
        "blob": blob,
        "format_version": 1,
        "page_shift": 4,
        "from": from,
        "to": to,
        "schema": schema_json(schema),
    })
}

/// One line per record of `source`, types in index order, ordinals ascending, read through
/// [`RecordSource`].
fn records_json(
    source: &impl RecordSource,
    ordinals: impl Fn(TypeId) -> Vec<Ordinal>,
) -> Vec<Json> {
    let schema = source.schema();
    let mut lines = Vec::new();
    for (t, def) in schema.types().iter().enumerate() {
        let ty = TypeId(t as u32);
        for o in ordinals(ty) {
            let record = source.record(ty, o).unwrap();
            let mut line = json!({ "type": def.name, "ordinal": o.0 });
            match (&def.kind, record) {
                (TypeKind::Object { fields, .. }, Record::Object(values)) => {
                    let map: serde_json::Map<String, Json> = fields
                        .iter()
                        .zip(&values)
                        .map(|(f, v)| (f.name.clone(), value_json(v)))
                        .collect();
                    line["fields"] = Json::Object(map);
                }
                (_, Record::List(e) | Record::Set(e)) => {
                    line["elements"] = e.iter().map(|o| json!(o.0)).collect();
                }
                (_, Record::Map(e)) => {
                    line["entries"] = e.iter().map(|(k, v)| json!([k.0, v.0])).collect();
                }
                (_, other) => panic!("{} holds {other:?}", def.name),
            }
            lines.push(line);
        }
    }
    lines
}

fn state_json(state: &DataState) -> Vec<Json> {
    records_json(state, |ty| state.records(ty).map(|(o, _)| o).collect())
}

/// The reader's output for a snapshot of `state`.
fn snapshot_json(state: &DataState, version: u64) -> Vec<Json> {
    let mut lines = vec![header_json("snapshot", 0, version, state.schema())];
    // Written with dictionary pages (the default): format version 3.
    lines[0]["format_version"] = json!(3);
    lines.extend(state_json(state));
    lines
}

/// The reader's output for `--apply` ending at `state`.
fn applied_json(state: &DataState, version: u64) -> Vec<Json> {
    let mut lines = vec![json!({
        "blob": "state",
        "version": version,
        "schema": schema_json(state.schema()),
    })];
    lines.extend(state_json(state));
    lines
}

/// The reader's output for a delta, as the Rust [`DeltaView`] reads it.
fn delta_json(bytes: &[u8]) -> Vec<Json> {
    let view = DeltaView::open(bytes).unwrap();
    view.verify().unwrap();
    let schema = view.schema().clone();
    let blob = match view.kind() {
        shoal_format::BlobKind::Delta => "delta",
        shoal_format::BlobKind::Reverse => "reverse",
        shoal_format::BlobKind::Snapshot => unreachable!("opened as a delta"),
    };
    let mut lines = vec![header_json(
        blob,
        view.from_version().0,
        view.to_version().0,
        &schema,
    )];
    lines[0]["format_version"] = json!(view.layout().header.format);
    for (t, def) in schema.types().iter().enumerate() {
        let ty = TypeId(t as u32);
        let added: Vec<u32> = view.added(ty).unwrap().iter().collect();
        let bases: Vec<Option<Ordinal>> = (0..added.len()).map(|i| view.base(ty, i)).collect();
        assert_eq!(
            view.bases(ty),
            bases,
            "bases in one pass agree with base one by one"
        );
        let distances: Vec<Json> = added
            .iter()
            .zip(&bases)
            .map(|(&o, b)| b.map_or(Json::Null, |b| json!(o as i64 - b.0 as i64)))
            .collect();
        lines.push(json!({
            "type": def.name,
            "slot_count": view.slot_count(ty),
            "removed": view.removed(ty).unwrap().iter().collect::<Vec<u32>>(),
            "added": added,
            "bases": bases.iter().map(|b| b.map(|b| b.0)).collect::<Vec<_>>(),
            "distances": distances,
        }));
        for c in 0..schema.columns(ty).len() {
            let (present, reader) = view.column(ty, FieldId(c as u32)).unwrap();
            let values: Vec<Json> = (0..present.len() as usize)
                .map(|k| match &def.kind {
                    TypeKind::Object { .. } => value_json(&reader.value(k).unwrap().to_value()),
                    TypeKind::Map { .. } => elements_json(reader.elements(k).unwrap(), true),
                    _ => elements_json(reader.elements(k).unwrap(), false),
                })
                .collect();
            lines.push(json!({
                "type": def.name,
                "column": c,
                "field": def.fields().get(c).map(|f| f.name.clone()),
                "present": present.iter().collect::<Vec<u32>>(),
                "values": values,
            }));
        }
    }
    lines
}

// ---- a rich dataset ----

fn rich_schema() -> Arc<Schema> {
    Arc::new(
        Schema::new(vec![
            TypeDef::object("Movie")
                .field("id", FieldKind::I64)
                .field("title", FieldKind::String)
                .field("year", FieldKind::I32)
                .field("rating", FieldKind::F64)
                .field("score", FieldKind::F32)
                .field("watched", FieldKind::Bool)
                .field("poster", FieldKind::Bytes)
                .reference("director", "Person")
                .reference("cast", "Cast")
                .reference("tags", "Tags")
                .reference("awards", "Awards")
                .primary_key(&["id"]),
            TypeDef::object("Person")
                .field("name", FieldKind::String)
                .field("born", FieldKind::I32)
                .field("height", FieldKind::F64)
                .primary_key(&["name"]),
            TypeDef::list("Cast", "Person"),
            TypeDef::set("Tags", "Tag"),
            TypeDef::object("Tag").field("label", FieldKind::String),
            TypeDef::map("Awards", "Tag", "Person"),
            TypeDef::object("Role")
                .reference("movie", "Movie")
                .reference("person", "Person")
                .field("character", FieldKind::String)
                .primary_key(&["movie.id", "person.name"]),
            TypeDef::object("Nothing").field("x", FieldKind::I64),
            TypeDef::object("Marker"),
        ])
        .unwrap(),
    )
}

const MOVIE: TypeId = TypeId(0);
const PERSON: TypeId = TypeId(1);
const CAST: TypeId = TypeId(2);
const TAGS: TypeId = TypeId(3);
const TAG: TypeId = TypeId(4);
const AWARDS: TypeId = TypeId(5);
const ROLE: TypeId = TypeId(6);
const MARKER: TypeId = TypeId(8);

/// Populated persons of version 1: page 0 but a hole at 5, page 1 (16..32) all holes, then
/// 32..=44.
fn person_ordinals() -> Vec<u32> {
    (0..16).filter(|&o| o != 5).chain(32..=44).collect()
}

fn person(o: u32) -> Record {
    const NAMES: [&str; 6] = [
        "Ridley Scott",
        "Zoë",
        "黒澤明",
        "🐟 Fish",
        "O'Brien",
        "Ñandú",
    ];
    let name = match o {
        7 => Value::Null,
        _ => Value::String(format!("{} {o}", NAMES[o as usize % NAMES.len()]).into()),
    };
    let born = match o {
        0 => Value::I32(i32::MIN),
        1 => Value::I32(i32::MAX),
        2 => Value::Null,
        _ => Value::I32(-500 + 70 * o as i32),
    };
    let height = match o {
        // Page 2 holds values with no decimal form: a plain page.
        33 => Value::F64(f64::NAN),
        34 => Value::F64(-0.0),
        35 => Value::F64(f64::INFINITY),
        40 => Value::Null,
        // Page 0: two decimals, a decimal page of scale 2.
        _ => Value::F64((150 + o) as f64 / 100.0),
    };
    Record::Object(vec![name, born, height])
}

fn movie(o: u32, persons: &[u32]) -> Record {
    const TITLES: [&str; 7] = ["Alien", "Heat", "七人の侍", "Amélie", "🦈 Jaws", "Ran", "M"];
    let id = match o {
        // Page 2 spans the whole i64 range and has a null: its null code is a free code.
        33 => Value::I64(i64::MIN),
        34 => Value::I64(i64::MAX),
        35 => Value::Null,
        36 => Value::I64(0),
        _ => Value::I64(o as i64 * 1000 - 20_000),
    };
    let title = match o {
        _ if o % 9 == 4 => Value::Null,
        _ if o % 11 == 5 => Value::String("".into()),
        _ => Value::String(format!("{} {o}", TITLES[o as usize % TITLES.len()]).into()),
    };
    let year = match o {
        2 => Value::I32(-44),
        20 => Value::I32(i32::MIN),
        _ if o % 13 == 6 => Value::Null,
        _ => Value::I32(1950 + o as i32),
    };
    let rating = match o {
        _ if o % 7 == 1 => Value::Null,
        37 => Value::F64(f64::NAN),
        38 => Value::F64(-0.0),
        // Page 3: whole numbers, a decimal page of scale 0.
        48.. => Value::F64(o as f64 - 40.0),
        _ => Value::F64(1.0 + (o % 90) as f64 / 10.0),
    };
    let score = match o {
        18 => Value::F32(f32::NAN),
        19 => Value::F32(f32::INFINITY),
        // Page 3: all null.
        48.. => Value::Null,
        _ => Value::F32([3.25f32, -1.5, 0.1, 100.0, -7.75][o as usize % 5]),
    };
    let watched = match o % 3 {
        0 => Value::Bool(true),
        1 => Value::Bool(false),
        _ => Value::Null,
    };
    let poster = match o % 5 {
        0 => Value::Null,
        1 => Value::Bytes(Box::new([])),
        _ => Value::Bytes(vec![o as u8, 0, 0xff, 0x80 ^ o as u8].into()),
    };
    let director = match o % 6 {
        5 => Value::Null,
        _ => Value::Ref(Ordinal(persons[o as usize % persons.len()])),
    };
    let cast = match o % 20 {
        9 => Value::Null,
        c => Value::Ref(Ordinal(c)),
    };
    let awards = match o % 4 {
        3 => Value::Null,
        _ => Value::Ref(Ordinal(o % 12)),
    };
    Record::Object(vec![
        id,
        title,
        year,
        rating,
        score,
        watched,
        poster,
        director,
        cast,
        Value::Ref(Ordinal(o % 18)),
        awards,
    ])
}

fn role(movie: u32, person: u32, character: &str) -> Record {
    Record::Object(vec![
        Value::Ref(Ordinal(movie)),
        Value::Ref(Ordinal(person)),
        Value::String(character.into()),
    ])
}

/// Version 1: every field kind, nulls, NaN, negative ints, decimal floats, unicode, bytes,
/// references, lists, sets and maps, several pages at page shift 4, holes (a whole page of
/// them among the persons), a type without records and a type without fields.
fn rich_v1() -> DataState {
    let mut s = DataState::new(rich_schema());
    let persons = person_ordinals();
    for &o in &persons {
        s.insert(PERSON, Ordinal(o), person(o)).unwrap();
    }
    for o in (0..53).filter(|o| ![3, 17, 40].contains(o)) {
        s.insert(MOVIE, Ordinal(o), movie(o, &persons)).unwrap();
    }
    const LABELS: [&str; 10] = [
        "drama",
        "comédie",
        "日本映画",
        "🎬",
        "",
        "sci-fi",
        "noir",
        "war",
        "x\0y",
        "ÅÄÖ",
    ];
    for (o, label) in LABELS.iter().enumerate() {
        s.insert(
            TAG,
            Ordinal(o as u32),
            Record::Object(vec![Value::String((*label).into())]),
        )
        .unwrap();
    }
    for o in 0..18u32 {
        let tags = match o {
            4 => Vec::new(),
            _ => vec![(o * 3) % 9, (o * 7) % 9, o % 9],
        };
        s.insert(
            TAGS,
            Ordinal(o),
            Record::Set(tags.into_iter().map(Ordinal).collect()),
        )
        .unwrap();
    }
    for o in (0..20u32).filter(|&o| o != 9) {
        let mut cast: Vec<Ordinal> = (0..o % 5)
            .map(|k| Ordinal(persons[(o as usize * 3 + k as usize * 7) % persons.len()]))
            .collect();
        if o % 4 == 0 && !cast.is_empty() {
            cast.push(cast[0]);
        }
        s.insert(CAST, Ordinal(o), Record::List(cast)).unwrap();
    }
    for o in 0..12u32 {
        let entries = (0..o % 4)
            .map(|k| {
                (
                    Ordinal((o + 2 * k) % 9),
                    Ordinal(persons[(o + k) as usize % persons.len()]),
                )
            })
            .collect();
        s.insert(AWARDS, Ordinal(o), Record::Map(entries)).unwrap();
    }
    for (o, (m, p, c)) in [
        (0, 1, "Ripley"),
        (1, 0, "Neil"),
        (0, 4, "Ash"),
        (2, 3, "Kambei"),
        (5, 6, ""),
        (6, 9, "Hidetora"),
    ]
    .iter()
    .enumerate()
    {
        s.insert(ROLE, Ordinal(o as u32), role(*m, *p, c)).unwrap();
    }
    for o in [0, 2] {
        s.insert(MARKER, Ordinal(o), Record::Object(Vec::new()))
            .unwrap();
    }
    s
}

/// Version 2: edits in place, records moved to other ordinals under the same key (one to a
/// lower ordinal, one through a key path across references), removals, additions in holes
/// and beyond the slot count.
fn rich_v2() -> DataState {
    let mut s = rich_v1();
    let persons = person_ordinals();
    let edit = |s: &mut DataState, ty, o: u32, field: usize, value: Value| {
        let Some(Record::Object(mut values)) = s.get(ty, Ordinal(o)).cloned() else {
            panic!("no object at {o}");
        };
        values[field] = value;
        s.insert(ty, Ordinal(o), Record::Object(values)).unwrap();
    };
    edit(&mut s, MOVIE, 1, 1, Value::String("Alien³".into()));
    edit(&mut s, MOVIE, 2, 3, Value::F64(9.9));
    edit(&mut s, MOVIE, 33, 4, Value::F32(-0.0));
    let Some(Record::Object(mut moved)) = s.remove(MOVIE, Ordinal(10)) else {
        panic!("movie 10");
    };
    moved[1] = Value::String("Moved".into());
    s.insert(MOVIE, Ordinal(60), Record::Object(moved)).unwrap();
    s.remove(MOVIE, Ordinal(11));
    s.insert(MOVIE, Ordinal(3), movie(99, &persons)).unwrap();

    edit(&mut s, PERSON, 0, 1, Value::I32(1937));
    let Some(Record::Object(mut moved)) = s.remove(PERSON, Ordinal(40)) else {
        panic!("person 40");
    };
    moved[1] = Value::I32(-1);
    s.insert(PERSON, Ordinal(16), Record::Object(moved))
        .unwrap();
    s.insert(PERSON, Ordinal(20), person(20)).unwrap();

    s.insert(
        CAST,
        Ordinal(0),
        Record::List(vec![Ordinal(44), Ordinal(0), Ordinal(44)]),
    )
    .unwrap();
    s.insert(CAST, Ordinal(9), Record::List(vec![Ordinal(1)]))
        .unwrap();
    s.insert(
        AWARDS,
        Ordinal(1),
        Record::Map(vec![(Ordinal(8), Ordinal(32)), (Ordinal(0), Ordinal(1))]),
    )
    .unwrap();
    s.remove(TAG, Ordinal(9));
    s.remove(ROLE, Ordinal(2));
    s.insert(ROLE, Ordinal(10), role(0, 4, "Ash, again"))
        .unwrap();
    s.insert(MARKER, Ordinal(1), Record::Object(Vec::new()))
        .unwrap();
    s
}

struct Blobs {
    _dir: TempDir,
    v1: DataState,
    v2: DataState,
    snapshot1: PathBuf,
    snapshot2: PathBuf,
    delta: PathBuf,
    delta_bytes: Vec<u8>,
    reverse: PathBuf,
    reverse_bytes: Vec<u8>,
}

/// Writes both snapshots, the delta and the reverse delta of `v1 -> v2` into a fresh
/// temporary directory.
fn write_blobs(name: &str, v1: DataState, v2: DataState) -> Blobs {
    let dir = TempDir::new(name);
    let opts = page_shift_4();
    let mut bytes = Vec::new();
    write_snapshot(&v1, Version(1), &opts, &mut bytes).unwrap();
    let snapshot1 = dir.write("snapshot-1.blob", &bytes);
    let mut bytes = Vec::new();
    write_snapshot(&v2, Version(2), &opts, &mut bytes).unwrap();
    let snapshot2 = dir.write("snapshot-2.blob", &bytes);
    let mut delta_bytes = Vec::new();
    write_delta(&v1, &v2, Version(1), Version(2), &opts, &mut delta_bytes).unwrap();
    let delta = dir.write("delta-1-2.blob", &delta_bytes);
    let mut reverse_bytes = Vec::new();
    write_delta(&v2, &v1, Version(2), Version(1), &opts, &mut reverse_bytes).unwrap();
    let reverse = dir.write("reverse-2-1.blob", &reverse_bytes);
    Blobs {
        _dir: dir,
        v1,
        v2,
        snapshot1,
        snapshot2,
        delta,
        delta_bytes,
        reverse,
        reverse_bytes,
    }
}

/// Everything the reader prints about `blobs` equals what the Rust side knows.
fn check_with_python(blobs: &Blobs, what: &str) {
    let got = read_with_python(&[&blobs.snapshot1]);
    assert_lines_eq(
        &got,
        &snapshot_json(&blobs.v1, 1),
        &format!("{what}: snapshot 1"),
    );
    let got = read_with_python(&[&blobs.snapshot2]);
    assert_lines_eq(
        &got,
        &snapshot_json(&blobs.v2, 2),
        &format!("{what}: snapshot 2"),
    );

    let got = read_with_python(&[&blobs.delta]);
    assert_lines_eq(
        &got,
        &delta_json(&blobs.delta_bytes),
        &format!("{what}: delta"),
    );
    let got = read_with_python(&[&blobs.reverse]);
    assert_lines_eq(
        &got,
        &delta_json(&blobs.reverse_bytes),
        &format!("{what}: reverse"),
    );

    let got = read_with_python(&[Path::new("--apply"), &blobs.snapshot1, &blobs.delta]);
    assert_lines_eq(
        &got,
        &applied_json(&blobs.v2, 2),
        &format!("{what}: 1 + delta"),
    );
    let got = read_with_python(&[Path::new("--apply"), &blobs.snapshot2, &blobs.reverse]);
    assert_lines_eq(
        &got,
        &applied_json(&blobs.v1, 1),
        &format!("{what}: 2 + reverse"),
    );
}

#[test]
fn python_reader_decodes_a_rich_snapshot_and_its_deltas() {
    let blobs = write_blobs("rich", rich_v1(), rich_v2());
    // The dataset exercises what it claims to: several pages, holes, moved records.
    let view = SnapshotView::open(std::fs::read(&blobs.snapshot1).unwrap()).unwrap();
    assert_eq!(view.slot_count(MOVIE), 53);
    assert_eq!(view.slot_count(PERSON), 45);
    assert_eq!(view.slot_count(TypeId(7)), 0);
    let delta = DeltaView::open(blobs.delta_bytes.as_slice()).unwrap();
    let distances: Vec<Option<i64>> = [MOVIE, PERSON, ROLE]
        .iter()
        .flat_map(|&ty| {
            let added: Vec<u32> = delta.added(ty).unwrap().iter().collect();
            added
                .into_iter()
                .enumerate()
                .map(move |(i, o)| (ty, i, o))
                .collect::<Vec<_>>()
        })
        .map(|(ty, i, o)| delta.base(ty, i).map(|b| o as i64 - b.0 as i64))
        .collect();
    assert!(
        distances.contains(&Some(50)),
        "movie 10 moved to 60: {distances:?}"
    );
    assert!(
        distances.contains(&Some(-24)),
        "person 40 moved to 16: {distances:?}"
    );
    assert!(
        distances.contains(&Some(8)),
        "role 2 moved to 10: {distances:?}"
    );
    assert!(
        distances.contains(&None),
        "new records have no base: {distances:?}"
    );
    check_with_python(&blobs, "rich");
}

#[test]
fn python_reader_decodes_random_snapshots_and_deltas() {
    for seed in 0..6 {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, 40);
        let b = random::change(&mut rng, &a, 30);
        let blobs = write_blobs(&format!("random-{seed}"), a, b);
        check_with_python(&blobs, &format!("seed {seed}"));
    }
}

#[test]
fn python_reader_applies_deltas_across_schema_changes() {
    let mut changed = 0;
    for seed in 0..8 {
        let mut rng = Rng::new(seed);
        let schema = random::schema(&mut rng);
        let a = random::state(&mut rng, &schema, 40);
        let evolved = random::evolve(&mut rng, &schema);
        changed += usize::from(evolved != schema);
        let b = random::migrate(&mut rng, &a, &evolved, 30);
        let blobs = write_blobs(&format!("evolved-{seed}"), a, b);
        check_with_python(&blobs, &format!("seed {seed}"));
    }
    assert!(changed >= 4, "{changed} of 8 seeds changed the schema");
}

#[test]
fn python_reader_reads_every_roaring_container_form() {
    // Key 0: 5000 scattered ordinals, a bitmap container. Key 1: a run. Key 2: an array.
    // Key 3: a run again. Four containers with runs: the run cookie and an offset header.
    let schema =
        Arc::new(Schema::new(vec![TypeDef::object("Sparse").field("v", FieldKind::I32)]).unwrap());
    let ordinals: Vec<u32> = (0..10_000)
        .step_by(2)
        .chain(65_536..65_600)
        .chain([131_073, 131_077, 131_081])
        .chain(196_608..=196_700)
        .collect();
    let mut state = DataState::new(schema.clone());
    for &o in &ordinals {
        state
            .insert(
                TypeId(0),
                Ordinal(o),
                Record::Object(vec![Value::I32(-3 * o as i32)]),
            )
            .unwrap();
    }
    let dir = TempDir::new("roaring");
    let mut bytes = Vec::new();
    write_snapshot(
        &state,
        Version(5),
        &WriteOptions {
            page_shift: 16,
            ..WriteOptions::default()
        },
        &mut bytes,
    )
    .unwrap();
    // The populated bitmap starts at byte 16 of the type section: the run cookie, 4 containers.
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    let entry = view.layout().entries[0];
    let cookie_at = entry.offset as usize + 16;
    assert_eq!(bytes[cookie_at..cookie_at + 4], [0x3b, 0x30, 0x03, 0x00]);
    let path = dir.write("sparse.blob", &bytes);
    let got = read_with_python(&[&path]);
    let mut expected = snapshot_json(&state, 5);
    expected[0]["page_shift"] = json!(16);
    assert_lines_eq(&got, &expected, "sparse");
}

#[test]
fn python_reader_decodes_the_golden_blobs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1");
    let snapshot = std::fs::read(dir.join("snapshot-1.blob")).unwrap();
    let view = SnapshotView::open(snapshot.as_slice()).unwrap();
    view.verify().unwrap();
    let v1 = view.to_state().unwrap();
    let mut expected = vec![header_json("snapshot", 0, 1, view.schema_arc())];
    expected.extend(records_json(&view, |ty| view.ordinals(ty).collect()));
    let got = read_with_python(&[&dir.join("snapshot-1.blob")]);
    assert_lines_eq(&got, &expected, "golden snapshot");

    for name in ["delta-1-2.blob", "reverse-2-1.blob"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let got = read_with_python(&[&dir.join(name)]);
        assert_lines_eq(&got, &delta_json(&bytes), name);
    }
    let delta = std::fs::read(dir.join("delta-1-2.blob")).unwrap();
    let v2 = DeltaView::open(delta.as_slice())
        .unwrap()
        .apply(&v1)
        .unwrap();
    let got = read_with_python(&[
        Path::new("--apply"),
        &dir.join("snapshot-1.blob"),
        &dir.join("delta-1-2.blob"),
    ]);
    assert_lines_eq(&got, &applied_json(&v2, 2), "golden 1 + delta");
    let got = read_with_python(&[
        Path::new("--apply"),
        &dir.join("snapshot-1.blob"),
        &dir.join("delta-1-2.blob"),
        &dir.join("reverse-2-1.blob"),
    ]);
    assert_lines_eq(&got, &applied_json(&v1, 1), "golden 1 + delta + reverse");

    // Format version 2: a delta that changes the schema, and its reverse.
    let v2_dir = dir.with_file_name("v2");
    let schema_delta = std::fs::read(v2_dir.join("delta-2-3.blob")).unwrap();
    let got = read_with_python(&[&v2_dir.join("delta-2-3.blob")]);
    assert_lines_eq(&got, &delta_json(&schema_delta), "golden v2 delta");
    let v3 = DeltaView::open(schema_delta.as_slice())
        .unwrap()
        .apply(&v2)
        .unwrap();
    let chain = [
        Path::new("--apply"),
        &dir.join("snapshot-1.blob"),
        &dir.join("delta-1-2.blob"),
        &v2_dir.join("delta-2-3.blob"),
    ];
    assert_lines_eq(
        &read_with_python(&chain),
        &applied_json(&v3, 3),
        "golden to 3",
    );
    let reverse = v2_dir.join("reverse-3-2.blob");
    let back = [chain.as_slice(), &[reverse.as_path()]].concat();
    assert_lines_eq(
        &read_with_python(&back),
        &applied_json(&v2, 2),
        "golden to 3 and back",
    );
}

#[test]
fn python_reader_rejects_damaged_blobs() {
    let mut good = Vec::new();
    write_snapshot(&rich_v1(), Version(1), &page_shift_4(), &mut good).unwrap();
    let layout = SnapshotView::open(good.as_slice())
        .unwrap()
        .layout()
        .clone();
    let dir = TempDir::new("damaged");
    let column = layout.entries[3];
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let mut flipped = good.clone();
    flipped[column.offset as usize + 30] ^= 0x10;
    cases.push(("flipped", flipped, "checksum mismatch in section"));
    let mut header = good.clone();
    header[50] ^= 1;
    cases.push(("header", header, "header checksum mismatch"));
    cases.push((
        "truncated",
        good[..good.len() - 8].to_vec(),
        "does not end with the magic",
    ));
    let mut magic = good.clone();
    magic[0] = b'X';
    cases.push(("magic", magic, "bad magic"));
    let mut version = good.clone();
    version[8] = 4;
    cases.push(("version", version, "format version 4"));
    for (name, bytes, message) in cases {
        let path = dir.write(&format!("{name}.blob"), &bytes);
        let stderr = rejected_by_python(&path);
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
    let path = dir.write("good.blob", &good);
    assert!(python(&[&path]).status.success());
}
