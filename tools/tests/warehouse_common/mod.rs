//! What the warehouse tests share: running `shoal`, the example catalog's records, the exact
//! diff a v1 -> v2 publication must show, and the S3 test server.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn example(file: &str) -> String {
    root()
        .join("examples/catalog")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

/// Runs `shoal --store <store> <args>`, with the S3 test server's endpoint when set.
pub fn shoal(store: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.arg("--store").arg(store).args(args);
    if let Ok(endpoint) = std::env::var("SHOAL_TEST_S3_ENDPOINT") {
        cmd.arg("--endpoint-url").arg(endpoint);
    }
    cmd.output().expect("the shoal binary runs")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

pub fn json(out: &Output) -> Json {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

/// Asserts exit code 1 and returns the last line of stderr (the `error: ` line).
pub fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{err}");
    last
}

/// `shoal produce --input <input> --json` with the example's schema (or none: inferred).
pub fn produce(store: &str, input: &str) -> Json {
    json(&shoal(
        store,
        &[
            "produce",
            "--schema",
            &example("schema.toml"),
            "--input",
            input,
            "--json",
        ],
    ))
}

/// A JSON-lines file's records by id.
pub fn records(path: &str) -> BTreeMap<i64, Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            (j["id"].as_i64().unwrap(), j)
        })
        .collect()
}

/// Every Movie of `version` in `store`, by id, as `shoal dump` prints them.
pub fn dump(store: &str, version: u64) -> BTreeMap<i64, Json> {
    let v = version.to_string();
    ok(&shoal(store, &["dump", "--type", "Movie", "--version", &v]))
        .lines()
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            (j["id"].as_i64().unwrap(), j)
        })
        .collect()
}

/// Checks that `shoal diff --from 1 --to 2` on `store` lists exactly the changes between the
/// records `old` and `new` (which has some of each kind of change): the ids added and
/// removed, and each changed record's fields with their old and new values.
pub fn assert_diff_exact(store: &str, old: &BTreeMap<i64, Json>, new: &BTreeMap<i64, Json>) {
    let changes = assert_diff_between(store, 1, 2, old, new);
    assert!(changes.iter().all(|n| *n > 0), "{changes:?}");
}

/// Checks that `shoal diff --from <from> --to <to>` on `store` lists exactly the changes
/// between the records `old` and `new`; returns how many were added, removed and changed.
pub fn assert_diff_between(
    store: &str,
    from: u64,
    to: u64,
    old: &BTreeMap<i64, Json>,
    new: &BTreeMap<i64, Json>,
) -> [usize; 3] {
    let added: BTreeSet<i64> = new
        .keys()
        .filter(|k| !old.contains_key(k))
        .copied()
        .collect();
    let removed: BTreeSet<i64> = old
        .keys()
        .filter(|k| !new.contains_key(k))
        .copied()
        .collect();
    let mut changed: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for (id, n) in new {
        let Some(o) = old.get(id) else { continue };
        for (field, value) in n.as_object().unwrap() {
            if o[field] != *value {
                changed.entry(*id).or_default().insert(field.clone());
            }
        }
    }
    let (from, to) = (from.to_string(), to.to_string());
    let diff = json(&shoal(
        store,
        &["diff", "--from", &from, "--to", &to, "--json"],
    ));
    let t = &diff["types"][0];
    assert_eq!(t["name"], "Movie");
    // `shoal diff --json` leaves out an empty list.
    let empty = Vec::new();
    let list = |list: &Json| list.as_array().unwrap_or(&empty).clone();
    let ids = |records: &Json| -> BTreeSet<i64> {
        let records = list(records);
        records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(ids(&t["added"]), added);
    assert_eq!(ids(&t["removed"]), removed);
    for r in &list(&t["added"]) {
        assert_eq!(*r, new[&r["id"].as_i64().unwrap()], "an added record");
    }
    let mut got: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for c in &list(&t["changed"]) {
        let id = c["key"][0].as_i64().unwrap();
        for f in c["fields"].as_array().unwrap() {
            let name = f["field"].as_str().unwrap();
            assert_eq!(f["old"], old[&id][name], "old value of {id}.{name}");
            assert_eq!(f["new"], new[&id][name], "new value of {id}.{name}");
            got.entry(id).or_default().insert(name.to_string());
        }
    }
    assert_eq!(got, changed);
    [added.len(), removed.len(), changed.len()]
}

/// The S3 test server's bucket, made ready, and a fresh prefix in it: `scripts/test.sh` sets
/// SHOAL_TEST_S3_ENDPOINT and SHOAL_TEST_S3_BUCKET; without them the test fails rather than
/// skip.
pub fn s3_prefix(name: &str) -> (String, shoal_store::S3Config) {
    let hint = "run the tests with `bash scripts/test.sh`, which starts the S3 test server";
    let endpoint = std::env::var("SHOAL_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| panic!("SHOAL_TEST_S3_ENDPOINT is not set: {hint}"));
    let bucket = std::env::var("SHOAL_TEST_S3_BUCKET")
        .unwrap_or_else(|_| panic!("SHOAL_TEST_S3_BUCKET is not set: {hint}"));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let url = format!("s3://{bucket}/{name}-{}-{nanos}", std::process::id());
    let mut config = shoal_store::S3Config::from_env(&url).unwrap();
    config.endpoint_url = Some(endpoint);
    config.force_path_style = true;
    (url, config)
}

/// Uploads every file below `dir` (hidden and `_` files too, as an engine leaves them) to
/// the S3 location of `config`, keyed by its path below `dir`, with a plain client.
pub fn upload(dir: &Path, config: &shoal_store::S3Config) {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = shoal_store::S3Store::connect(config.clone()).await.unwrap();
        store.create_bucket_if_missing().await.unwrap();
        for path in files {
            let key = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let data = bytes::Bytes::from(std::fs::read(&path).unwrap());
            put_raw(&store, &key, data).await;
        }
    });
}

/// Puts `data` under `key` with the plain S3 client, as an engine would (no shoal metadata;
/// keys the store's own names refuse, like `.crc` side files, too).
async fn put_raw(store: &shoal_store::S3Store, key: &str, data: bytes::Bytes) {
    let config = store.config();
    let key = format!("{}/{key}", config.prefix.trim_end_matches('/'));
    store
        .client()
        .put_object()
        .bucket(&config.bucket)
        .key(key.trim_start_matches('/'))
        .body(data.to_vec().into())
        .send()
        .await
        .unwrap();
}
