//! The `shoal` binary end to end, as a person runs it: produce two versions of the example
//! catalog (JSON lines and Parquet), diff them and check the exact changes against the input
//! files, get and dump records, verify a good store and a damaged one, refuse bad input with
//! line numbers and publish nothing, watch a new version arrive; and the same against the S3
//! test server (`bash scripts/test.sh` starts it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example(file: &str) -> String {
    root()
        .join("examples/catalog")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

/// Runs `shoal --store <store> <args>`, with the S3 test server's endpoint when set.
fn shoal(store: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.arg("--store").arg(store).args(args);
    if let Ok(endpoint) = std::env::var("SHOAL_TEST_S3_ENDPOINT") {
        cmd.arg("--endpoint-url").arg(endpoint);
    }
    cmd.output().expect("the shoal binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn json(out: &Output) -> Json {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

/// Asserts the exit code and returns stderr (ending with one `error: ` line for failures).
fn failed(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") || code == 2, "{err}");
    err
}

/// The example's records by id, read straight from a JSON lines file.
fn records(file: &str) -> BTreeMap<i64, Json> {
    std::fs::read_to_string(example(file))
        .unwrap()
        .lines()
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            (j["id"].as_i64().unwrap(), j)
        })
        .collect()
}

fn produce(store: &str, input: &str) -> Json {
    json(&shoal(
        store,
        &[
            "produce",
            "--schema",
            &example("schema.toml"),
            "--input",
            &example(input),
            "--json",
        ],
    ))
}

/// Produces v1 then v2 of the example from `ext` files and checks what a user would look at
/// afterwards against the input files themselves.
fn two_versions_then_look(store: &str, ext: &str) {
    let v1 = produce(store, &format!("v1.{ext}"));
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["records_read"], 3000);
    // Where the cycle's time went: phases that add up to at most the whole.
    let phase = |name: &str| v1["phases"][name].as_f64().unwrap();
    let sequential = ["collect", "place", "encode", "publish"].map(phase);
    assert!(sequential.iter().all(|&t| t >= 0.0) && phase("collect") > 0.0);
    assert!(sequential.iter().sum::<f64>() <= v1["seconds"].as_f64().unwrap());
    assert!(phase("validate") <= phase("encode"));
    let v2 = produce(store, &format!("v2.{ext}"));
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["previous"], 1);
    let movie = &v2["types"][0];
    assert_eq!(movie["name"], "Movie");

    let (old, new) = (records("v1.jsonl"), records("v2.jsonl"));
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
    for (id, n) in &new {
        if let Some(o) = old.get(id) {
            for (field, value) in n.as_object().unwrap() {
                if o[field] != *value {
                    changed.entry(*id).or_default().insert(field.clone());
                }
            }
        }
    }
    assert!(!added.is_empty() && !removed.is_empty() && !changed.is_empty());
    assert_eq!(movie["added"], added.len() as u64);
    assert_eq!(movie["removed"], removed.len() as u64);
    assert_eq!(movie["changed"], changed.len() as u64);

    let diff = json(&shoal(
        store,
        &["diff", "--from", "1", "--to", "2", "--json"],
    ));
    assert_eq!(diff["via"], serde_json::json!(["delta/1-2"]));
    let t = &diff["types"][0];
    assert_eq!(t["name"], "Movie");
    let ids = |list: &Json| -> BTreeSet<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&t["added"]), added);
    assert_eq!(ids(&t["removed"]), removed);
    for r in t["added"].as_array().unwrap() {
        assert_eq!(
            *r,
            new[&r["id"].as_i64().unwrap()],
            "an added record as published"
        );
    }
    let got: BTreeMap<i64, BTreeSet<String>> = t["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["key"][0].as_i64().unwrap();
            let fields = c["fields"].as_array().unwrap();
            for f in fields {
                let name = f["field"].as_str().unwrap();
                assert_eq!(f["old"], old[&id][name], "old value of {id}.{name}");
                assert_eq!(f["new"], new[&id][name], "new value of {id}.{name}");
            }
            let names = fields
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_string())
                .collect();
            (id, names)
        })
        .collect();
    assert_eq!(got, changed);

    // Backwards, by the reverse delta: the same changes the other way.
    let back = json(&shoal(
        store,
        &["diff", "--from", "2", "--to", "1", "--summary", "--json"],
    ));
    assert_eq!(back["via"], serde_json::json!(["reverse/2-1"]));
    assert_eq!(back["types"][0]["added_count"], removed.len() as u64);
    assert_eq!(back["types"][0]["changed_count"], changed.len() as u64);

    // get: a changed record in each version, as the input has it.
    let id = changed.keys().next().unwrap().to_string();
    let now = json(&shoal(store, &["get", "--type", "Movie", "--key", &id]));
    assert_eq!(now, new[&now["id"].as_i64().unwrap()]);
    let then = json(&shoal(
        store,
        &["get", "--type", "Movie", "--key", &id, "--version", "1"],
    ));
    assert_eq!(then, old[&then["id"].as_i64().unwrap()]);
    let gone = removed.iter().next().unwrap().to_string();
    let err = failed(
        &shoal(store, &["get", "--type", "Movie", "--key", &gone]),
        1,
    );
    assert!(
        err.contains(&format!("no Movie with id = {gone} in version 2")),
        "{err}"
    );

    // dump: every record of version 1, exactly the input.
    let dumped = ok(&shoal(
        store,
        &["dump", "--type", "Movie", "--version", "1"],
    ));
    let dumped: BTreeMap<i64, Json> = dumped
        .lines()
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            (j["id"].as_i64().unwrap(), j)
        })
        .collect();
    assert_eq!(dumped, old);

    // versions and inspect see both versions.
    let versions = json(&shoal(store, &["versions", "--json"]));
    assert_eq!(versions["announced"], 2);
    let listed = versions["versions"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|v| v["reachable"] == true));
    let inspect = json(&shoal(store, &["inspect", "--json"]));
    assert_eq!(inspect["version"], 2);
    assert_eq!(inspect["types"][0]["records"], 3000);
    assert!(inspect["types"][0]["bytes"].as_u64().unwrap() > 10_000);

    // verify: all good.
    let report = json(&shoal(store, &["verify", "--json"]));
    assert_eq!(report["blobs_checked"], 4);
    assert_eq!(report["chains_checked"], 2);
    assert_eq!(report["faults"], serde_json::json!([]));

    // Publishing the same input again changes nothing.
    let again = produce(store, &format!("v2.{ext}"));
    assert_eq!(again["published"], false);
    assert_eq!(again["version"], 2);
}

#[test]
fn json_lines_two_versions_diff_get_dump_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    two_versions_then_look(store.to_str().unwrap(), "jsonl");
}

#[test]
fn parquet_gives_the_same_versions_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("jsonl"), dir.path().join("parquet"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    two_versions_then_look(b, "parquet");
    produce(a, "v1.jsonl");
    produce(a, "v2.jsonl");
    for v in ["1", "2"] {
        let x = ok(&shoal(a, &["dump", "--type", "Movie", "--version", v]));
        let y = ok(&shoal(b, &["dump", "--type", "Movie", "--version", v]));
        assert_eq!(x, y, "version {v}");
    }
}

/// A field added to the example's schema: `produce` publishes a delta across the change, and
/// `diff` lines the versions up by name both ways (the new field was null before).
#[test]
fn a_field_added_to_the_schema_goes_by_delta_and_diffs_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    produce(store, "v1.jsonl");
    let schema = std::fs::read_to_string(example("schema.toml"))
        .unwrap()
        .replace(
            "    \"tags: TagList\",\n",
            "    \"tags: TagList\",\n    \"studio: string\",\n",
        );
    assert!(schema.contains("studio"));
    let schema_path = dir.path().join("schema.toml");
    std::fs::write(&schema_path, schema).unwrap();
    let mut studios = BTreeMap::new();
    let lines: Vec<String> = records("v1.jsonl")
        .into_values()
        .map(|mut r| {
            let id = r["id"].as_i64().unwrap();
            if id % 10 == 0 {
                r["studio"] = Json::String(format!("S{}", id % 7));
                studios.insert(id, format!("S{}", id % 7));
            }
            r.to_string()
        })
        .collect();
    let input = dir.path().join("v1-studio.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let report = json(&shoal(
        store,
        &[
            "produce",
            "--schema",
            schema_path.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ],
    ));
    let blobs = report["blobs"].to_string();
    assert!(
        blobs.contains("delta/1-2") && blobs.contains("reverse/2-1"),
        "{blobs}"
    );

    let diff = json(&shoal(
        store,
        &["diff", "--from", "1", "--to", "2", "--json"],
    ));
    assert_eq!(diff["via"], serde_json::json!(["delta/1-2"]));
    let t = &diff["types"][0];
    assert_eq!(
        (t["added_count"].as_u64(), t["removed_count"].as_u64()),
        (Some(0), Some(0))
    );
    let changed: BTreeMap<i64, Json> = t["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"][0].as_i64().unwrap(), c["fields"].clone()))
        .collect();
    assert_eq!(changed.len(), studios.len());
    for (id, studio) in &studios {
        let want = serde_json::json!([{ "field": "studio", "old": null, "new": studio }]);
        assert_eq!(changed[id], want, "movie {id}");
    }
    let back = json(&shoal(
        store,
        &["diff", "--from", "2", "--to", "1", "--summary", "--json"],
    ));
    assert_eq!(
        back["types"][0]["changed_count"].as_u64(),
        Some(0),
        "{back}"
    );
    assert_eq!(
        back["schema"],
        serde_json::json!(["field `Movie.studio` removed"])
    );
    let text = ok(&shoal(
        store,
        &["diff", "--from", "1", "--to", "2", "--summary"],
    ));
    assert!(
        text.contains("schema: field `Movie.studio` added"),
        "{text}"
    );
    // A few studios among many nulls: each of its pages stores them once.
    let inspect = json(&shoal(store, &["inspect", "--json"]));
    let studio = inspect["types"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "studio")
        .cloned()
        .unwrap();
    assert_eq!(studio["dictionary_pages"], studio["pages"], "{studio}");
}

#[test]
fn a_damaged_blob_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    produce(s, "v1.jsonl");
    produce(s, "v2.jsonl");
    let blob = store.join("delta/1-2");
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[200] ^= 0x10;
    std::fs::write(&blob, bytes).unwrap();
    let out = shoal(s, &["verify"]);
    let err = failed(&out, 1);
    assert!(err.contains("delta/1-2"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAULT delta/1-2"), "{text}");
    assert!(!text.contains("FAULT snapshot"), "{text}");

    // A blob replaced whole, its checksum side file too, passes the store's check; the
    // format's own checks catch it: version 1's snapshot under version 2's name.
    std::fs::copy(store.join("snapshot/1"), store.join("snapshot/2")).unwrap();
    std::fs::copy(
        store.join("snapshot/.1.crc32c"),
        store.join("snapshot/.2.crc32c"),
    )
    .unwrap();
    let err = failed(&shoal(s, &["verify", "--version", "2"]), 1);
    assert!(
        err.contains("snapshot/2: its header says version 1"),
        "{err}"
    );
}

#[test]
fn bad_input_is_refused_with_its_line_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    produce(s, "v1.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(example("v2.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let bad_year = r#"{"id": 77, "title": "x", "year": "1999"}"#;
    // The lines replaced, and the error. v2.jsonl is about 30 chunks of the parser
    // (`input::jsonl`, 16 KiB each): with bad lines in two chunks, the first is named,
    // whichever chunk a thread finishes first.
    let cases: [(&[(usize, &str)], &str); 6] = [
        (&[(41, "{\"id\": 1, \"title\": ")], "line 42: not JSON"),
        (
            &[(9, bad_year)],
            "line 10, field `year`: expected an integer (i32), found the string \"1999\"",
        ),
        (
            &[(2999, r#"{"title": "No Key"}"#)],
            "line 3000, field `id`: missing primary key field `id` of type Movie",
        ),
        (
            &[(0, r#"{"id": 5, "genres": ["Drama", 7]}"#)],
            "line 1, field `genres[1]",
        ),
        (&[(2500, "{")], "line 2501: not JSON"),
        (&[(100, bad_year), (2500, "{")], "line 101, field `year`"),
    ];
    for ((replaced, expected), threads) in cases.iter().flat_map(|c| [(c, "1"), (c, "3")]) {
        let mut bad = lines.clone();
        for (at, line) in replaced.iter() {
            bad[*at] = line.to_string();
        }
        let input = dir.path().join("bad.jsonl");
        std::fs::write(&input, bad.join("\n")).unwrap();
        let out = shoal(
            s,
            &[
                "produce",
                "--schema",
                &example("schema.toml"),
                "--input",
                input.to_str().unwrap(),
                "--parse-threads",
                threads,
            ],
        );
        let err = failed(&out, 1);
        assert!(err.contains(expected), "{expected:?} not in {err}");
        assert!(err.contains("nothing was published"), "{err}");
        let versions = json(&shoal(s, &["versions", "--json"]));
        assert_eq!(versions["announced"], 1, "after {expected}");
    }
    // Standard input works too, and names itself.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["--store", s, "produce", "--schema", &example("schema.toml")])
        .args(["--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"id\": 1}\n{\"id\": 2, \"rating\": \"high\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = failed(&out, 1);
    assert!(err.contains("stdin line 2, field `rating`"), "{err}");
}

/// Runs `shoal produce` of `input` (a path) with `flags`.
fn produce_file(store: &str, input: &Path, flags: &[&str]) -> Output {
    let schema = example("schema.toml");
    let mut args = vec!["produce", "--schema", &schema, "--input"];
    args.push(input.to_str().unwrap());
    args.extend_from_slice(flags);
    shoal(store, &args)
}

fn announced_versions(store: &str) -> (Json, usize) {
    let versions = json(&shoal(store, &["versions", "--json"]));
    let count = versions["versions"].as_array().map_or(0, Vec::len);
    (versions["announced"].clone(), count)
}

#[test]
fn an_empty_or_truncated_input_is_refused_and_the_flags_allow_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    produce(s, "v1.jsonl");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let third = dir.path().join("third.jsonl");
    let v1 = std::fs::read_to_string(example("v1.jsonl")).unwrap();
    let lines: Vec<&str> = v1.lines().take(1_000).collect();
    std::fs::write(&third, lines.join("\n")).unwrap();

    let err = failed(&produce_file(s, &empty, &[]), 1);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for part in ["`Movie`", "3000", "--allow-empty", "nothing was published"] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    let err = failed(&produce_file(s, &third, &[]), 1);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for part in [
        "2000 of 3000 `Movie`",
        "--max-removal",
        "nothing was published",
    ] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    assert_eq!(announced_versions(s), (Json::from(1), 1));

    ok(&produce_file(s, &third, &["--max-removal", "70"]));
    assert_eq!(announced_versions(s).0, 2);
    ok(&produce_file(s, &empty, &["--allow-empty"]));
    assert_eq!(announced_versions(s).0, 3);
}

#[test]
fn usage_errors_exit_2_and_help_teaches_by_example() {
    let bin = || Command::new(env!("CARGO_BIN_EXE_shoal"));
    failed(
        &bin()
            .args(["produce", "--schema", "x.toml"])
            .output()
            .unwrap(),
        2,
    );
    failed(&bin().arg("frobnicate").output().unwrap(), 2);
    let help = bin().args(["diff", "--help"]).output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("shoal diff --from 1 --to 2"));

    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("store");
    let s = s.to_str().unwrap();
    // A read command on a store that does not exist: a failure that says what to do.
    let err = failed(&shoal(s, &["versions"]), 1);
    assert!(err.contains("shoal produce"), "{err}");
    produce(s, "v1.jsonl");
    let err = failed(&shoal(s, &["get", "--type", "Movie", "--key", "abc"]), 2);
    assert!(err.contains("--key abc: id is an i64"), "{err}");
    let err = failed(&shoal(s, &["get", "--type", "Film", "--key", "1"]), 2);
    assert!(err.contains("types: Movie, Country"), "{err}");
    let err = failed(
        &shoal(
            s,
            &["get", "--type", "Movie", "--key", "1", "--version", "9"],
        ),
        1,
    );
    assert!(err.contains("version 9"), "{err}");
}

#[test]
fn watch_prints_a_line_per_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    produce(s, "v1.jsonl");
    let watch = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["--store", s, "watch", "--count", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it load version 1 and start watching, then publish version 2.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    produce(s, "v2.jsonl");
    let out = watch.wait_with_output().unwrap();
    let text = ok(&out);
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[1]["version"], 2);
    assert_eq!(lines[1]["from"], 1);
    let (old, new) = (records("v1.jsonl"), records("v2.jsonl"));
    let added = new.keys().filter(|k| !old.contains_key(k)).count();
    assert_eq!(lines[1]["types"][0]["added"], added as u64);
    assert_eq!(lines[1]["blobs"], serde_json::json!(["delta/1-2"]));
}

/// `shoal watch` stopped the way a person or a service manager stops it (Ctrl-C, SIGTERM)
/// removes the temporary cache it loaded the versions into (a snapshot copy each time), and
/// says why it ended.
#[test]
fn a_stopped_watch_removes_its_temporary_cache() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let s = store.to_str().unwrap();
    produce(s, "v1.jsonl");
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let mut watch = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["--store", s, "watch", "--json"])
            .env("TMPDIR", &tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line is printed once version 1 is loaded into the cache.
        let mut first = String::new();
        BufReader::new(watch.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("\"version\":1"), "{first}");
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            1,
            "the cache is made"
        );
        let pid = watch.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        let out = watch.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{signal}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("stopped by SIG{}", &signal[1..])),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{signal} left {left:?}");
    }
}

/// The same on the S3 test server: `bash scripts/test.sh` sets SHOAL_TEST_S3_ENDPOINT and
/// SHOAL_TEST_S3_BUCKET; without them this test fails rather than skip.
#[test]
fn the_same_against_the_s3_server() {
    let hint = "run the tests with `bash scripts/test.sh`, which starts the S3 test server";
    let endpoint = std::env::var("SHOAL_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| panic!("SHOAL_TEST_S3_ENDPOINT is not set: {hint}"));
    let bucket = std::env::var("SHOAL_TEST_S3_BUCKET")
        .unwrap_or_else(|_| panic!("SHOAL_TEST_S3_BUCKET is not set: {hint}"));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let url = format!("s3://{bucket}/cli-{}-{nanos}", std::process::id());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut config = shoal_store::S3Config::from_env(&url).unwrap();
        config.endpoint_url = Some(endpoint);
        config.force_path_style = true;
        let store = shoal_store::S3Store::connect(config).await.unwrap();
        store.create_bucket_if_missing().await.unwrap();
    });
    two_versions_then_look(&url, "jsonl");
}

/// Writes a Parquet file of the given columns (one row group per 2 rows).
fn parquet(path: &Path, columns: Vec<(&str, arrow_array::ArrayRef)>) {
    let batch = arrow_array::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn bad_parquet_is_refused_with_its_column_or_row() {
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    produce(s, "v1.jsonl");
    let run = |file: &Path| {
        shoal(
            s,
            &[
                "produce",
                "--schema",
                &example("schema.toml"),
                "--input",
                file.to_str().unwrap(),
            ],
        )
    };
    // A column of the wrong type: refused before any row, naming the column.
    let wrong_type = dir.path().join("wrong-type.parquet");
    parquet(
        &wrong_type,
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "year",
                Arc::new(StringArray::from(vec!["1999", "2000", "2001"])) as ArrayRef,
            ),
        ],
    );
    let err = failed(&run(&wrong_type), 1);
    assert!(err.contains("column `year` is Utf8"), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    // A value that does not fit its field, in the second row group: its row and field.
    let out_of_range = dir.path().join("out-of-range.parquet");
    parquet(
        &out_of_range,
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "year",
                Arc::new(Int64Array::from(vec![1999, 2000, 1 << 40])) as ArrayRef,
            ),
        ],
    );
    let err = failed(&run(&out_of_range), 1);
    assert!(err.contains("row 3, field `year`"), "{err}");
    let versions = json(&shoal(s, &["versions", "--json"]));
    assert_eq!(versions["announced"], 1);
}
