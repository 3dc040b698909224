//! A real Apache Iceberg table, written by pyiceberg (PyPI; a SQL catalog on SQLite, data in
//! a folder or on the S3 test server; installed by `scripts/iceberg.sh`) with an append of
//! the example catalog's v1, an overwrite with v2, a copy-on-write delete, a position delete
//! file and an equality delete file (merge-on-read; see `scripts/iceberg/write_catalog.py`):
//! `shoal produce` publishes each snapshot, through the catalog and from the table's
//! metadata file, and `shoal diff` lists exactly what changed. A deletion vector, a missing
//! table, an unreachable catalog, an unreachable S3 endpoint and an unknown snapshot are one
//! error each, and nothing is published.

mod warehouse_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use warehouse_common::*;

/// Runs scripts/iceberg/write_catalog.py into `dir`; returns what it prints.
fn pyiceberg_writes_the_catalog(dir: &Path) -> Json {
    pyiceberg_writes_the_catalog_to(dir, None)
}

/// Runs scripts/iceberg/write_catalog.py with its catalog in `dir` and the table's files in
/// `warehouse` (an `s3://` location on the S3 test server), else in `dir`.
fn pyiceberg_writes_the_catalog_to(dir: &Path, warehouse: Option<&str>) -> Json {
    let mut command = Command::new("bash");
    command
        .arg(root().join("scripts/iceberg.sh"))
        .arg(root().join("scripts/iceberg/write_catalog.py"))
        .arg(example("v1.jsonl"))
        .arg(example("v2.jsonl"))
        .arg(dir)
        .args(warehouse);
    if let Ok(endpoint) = std::env::var("SHOAL_TEST_S3_ENDPOINT") {
        command.env("AWS_ENDPOINT_URL", endpoint);
    }
    let out = command.output().expect("bash runs scripts/iceberg.sh");
    assert!(
        out.status.success(),
        "scripts/iceberg.sh failed (it installs pyiceberg from PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("write_catalog.py prints JSON")
}

fn produce_snapshot(store: &str, table: &str, snapshot: &Json) -> std::process::Output {
    let id = snapshot["id"].to_string();
    let schema = example("schema.toml");
    let args = [
        "produce",
        "--schema",
        &schema,
        "--input",
        table,
        "--snapshot",
        &id,
        // The deletes remove up to a fifth of the movies: not what this test is about.
        "--max-removal",
        "100",
        "--json",
    ];
    shoal(store, &args)
}

/// The table's records at each of its first five snapshots: v1, v2, v2 without the movies
/// before `delete_before`, then without the ids that are multiples of
/// `position_delete_every`, then of `equality_delete_every`.
fn expected_records(written: &Json) -> [BTreeMap<i64, Json>; 5] {
    let v1 = records(&example("v1.jsonl"));
    let v2 = records(&example("v2.jsonl"));
    let without = |from: &BTreeMap<i64, Json>, gone: &dyn Fn(i64, &Json) -> bool| {
        let mut kept = from.clone();
        kept.retain(|id, m| !gone(*id, m));
        assert!(kept.len() < from.len());
        kept
    };
    let before = written["delete_before"].as_i64().unwrap();
    let v3 = without(&v2, &|_, m| m["year"].as_i64().unwrap() < before);
    let every = written["position_delete_every"].as_i64().unwrap();
    let v4 = without(&v3, &|id, _| id % every == 0);
    let every = written["equality_delete_every"].as_i64().unwrap();
    let v5 = without(&v4, &|id, _| id % every == 0);
    [v1, v2, v3, v4, v5]
}

/// Publishes each of the table's first five snapshots into `store` and checks each version
/// and the diffs between them exactly; the sixth (a deletion vector) is refused.
fn each_snapshot_publishes_exactly(store: &str, table: &str, written: &Json) {
    let snapshots = written["snapshots"].as_array().unwrap();
    let expected = expected_records(written);
    for (n, (snapshot, expected)) in snapshots.iter().zip(&expected).enumerate() {
        let report = json(&produce_snapshot(store, table, snapshot));
        assert_eq!(report["version"], n as u64 + 1);
        assert_eq!(report["records_read"], expected.len() as u64);
        assert_eq!(&dump(store, n as u64 + 1), expected);
    }
    assert_diff_exact(store, &expected[0], &expected[1]);
    for from in 2..5 {
        let (old, new) = (&expected[from - 1], &expected[from]);
        let counts = assert_diff_between(store, from as u64, from as u64 + 1, old, new);
        assert_eq!(counts, [0, old.len() - new.len(), 0], "only removals");
    }
    let err = failed(&produce_snapshot(store, table, &snapshots[5]));
    assert!(err.contains("deletion vector"), "{err}");
    assert!(err.contains(".puffin"), "names the file: {err}");
    assert!(err.contains("nothing was published"), "{err}");
    assert_eq!(json(&shoal(store, &["versions", "--json"]))["announced"], 5);
}

/// The table's records at its fifth snapshot, the one after the equality delete.
fn fifth_records(written: &Json) -> BTreeMap<i64, Json> {
    let [.., v5] = expected_records(written);
    v5
}

#[test]
fn each_snapshot_of_an_iceberg_table_publishes_with_an_exact_diff() {
    let dir = tempfile::tempdir().unwrap();
    let written = pyiceberg_writes_the_catalog(&dir.path().join("lake"));
    let table = format!("iceberg:{}#shop.movies", written["uri"].as_str().unwrap());
    let store = dir.path().join("store");
    each_snapshot_publishes_exactly(store.to_str().unwrap(), &table, &written);

    // The table from a metadata file (a static table): its snapshot with an equality delete.
    let metadata = written["snapshots"][4]["metadata"].as_str().unwrap();
    let metadata = metadata.strip_prefix("file://").unwrap_or(metadata);
    let store = dir.path().join("store-static");
    let store = store.to_str().unwrap();
    let schema = example("schema.toml");
    ok(&shoal(
        store,
        &["produce", "--schema", &schema, "--input", metadata],
    ));
    assert_eq!(dump(store, 1), fifth_records(&written));
}

#[test]
fn an_iceberg_table_on_s3_publishes_each_snapshot_with_an_exact_diff() {
    let dir = tempfile::tempdir().unwrap();
    let (warehouse, _) = s3_prefix("iceberg");
    let lake = dir.path().join("lake");
    let written = pyiceberg_writes_the_catalog_to(&lake, Some(&warehouse));
    let metadata = written["snapshots"][4]["metadata"].as_str().unwrap();
    assert!(metadata.starts_with(&warehouse), "{metadata} is on S3");
    assert!(
        !lake.join("warehouse/shop").exists(),
        "no table files local"
    );
    let table = format!("iceberg:{}#shop.movies", written["uri"].as_str().unwrap());
    let store = dir.path().join("store");
    each_snapshot_publishes_exactly(store.to_str().unwrap(), &table, &written);

    // The table from its metadata file's S3 URL (the snapshot with an equality delete).
    let store = dir.path().join("store-static");
    let store = store.to_str().unwrap();
    let schema = example("schema.toml");
    ok(&shoal(
        store,
        &["produce", "--schema", &schema, "--input", metadata],
    ));
    assert_eq!(dump(store, 1), fifth_records(&written));

    // An S3 endpoint that does not answer: one error, nothing published.
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["--store", store, "--endpoint-url", "http://127.0.0.1:9"])
        .args(["produce", "--schema", &schema, "--input", &table])
        .output()
        .unwrap();
    let err = failed(&out);
    assert!(err.contains("cannot load the table"), "{err}");
    assert!(err.contains("http://127.0.0.1:9/"), "names where: {err}");
    assert!(err.contains("nothing was published"), "{err}");
    assert_eq!(json(&shoal(store, &["versions", "--json"]))["announced"], 1);
}

#[test]
fn a_missing_table_an_unreachable_catalog_or_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let written = pyiceberg_writes_the_catalog(&dir.path().join("lake"));
    let uri = written["uri"].as_str().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let first = &written["snapshots"][0];
    json(&produce_snapshot(
        store,
        &format!("iceberg:{uri}#shop.movies"),
        first,
    ));
    let refused = |table: &str, snapshot: &Json, message: &str| {
        let err = failed(&produce_snapshot(store, table, snapshot));
        assert!(err.contains(message), "{err}");
        assert!(err.contains("nothing was published"), "{err}");
    };
    let next = &written["snapshots"][1];
    refused(
        &format!("iceberg:{uri}#shop.nope"),
        next,
        "cannot load the table from the catalog named `default`",
    );
    refused(
        "iceberg:sqlite:///nowhere/catalog.db#shop.movies",
        next,
        "no catalog database at /nowhere/catalog.db",
    );
    let table = format!("iceberg:{uri}#shop.movies");
    refused(
        &table,
        &serde_json::json!({"id": 42}),
        "no snapshot 42; the table has",
    );
    assert_eq!(json(&shoal(store, &["versions", "--json"]))["announced"], 1);
}
