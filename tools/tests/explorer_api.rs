//! `shoal ui`'s JSON API end to end: the binary serves a store of three versions of the
//! example catalog (JSON lines, Parquet, then JSON lines with markup in two titles) and each
//! route is checked against the input files and against `shoal diff --json`; bad versions,
//! types and keys get a 4xx with a JSON message.

mod explorer_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use explorer_common::{catalog, example, produce, records, shoal, Server, XSS_IMG, XSS_SCRIPT};
use serde_json::Value as Json;

#[test]
fn every_route_answers_with_the_stores_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let (store, v2, [img, script]) = catalog(dir.path());
    let v1 = records(&example("v1.jsonl"));
    let server = Server::start(&store);

    // The timeline: three reachable versions, the newest announced.
    let l = server.json("/api/versions", 200);
    assert_eq!(l["announced"], 3);
    let versions: Vec<u64> = l["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert!(l["versions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["reachable"] == true));
    assert_eq!(l["versions"][0]["announced"], true);
    assert!(l["versions"][2]["snapshot_bytes"].as_u64().unwrap() > 0);
    assert!(l["versions"][0]["written"].is_string());

    // A version: the types, their records and bytes.
    let inspect = server.json("/api/versions/1", 200);
    let movie = &inspect["types"][0];
    assert_eq!(movie["name"], "Movie");
    assert_eq!(movie["records"], v1.len() as u64);
    assert_eq!(movie["key"], serde_json::json!(["id"]));
    assert!(movie["bytes"].as_u64().unwrap() > 0);
    assert!(movie["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "title"));

    // One record by key, as the input file has it, with its references.
    let (id, want) = v1.iter().next().unwrap();
    let got = server.json(&format!("/api/versions/1/types/Movie/key/{id}"), 200);
    assert_eq!(got["record"], *want);
    assert_eq!(got["record"]["title"], want["title"]);
    assert_eq!(got["key"], serde_json::json!([id]));
    let country = got["refs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "country");
    let country = country.expect("a country reference");
    assert_eq!(country["type"], "Country");
    // Country has no key: the reference is followed by ordinal, to the record's country.
    let at = format!(
        "/api/versions/1/types/Country/ordinal/{}",
        country["ordinal"]
    );
    let target = server.json(&at, 200);
    assert_eq!(target["record"], want["country"]);
    server.refused(
        "/api/versions/1/types/Country/ordinal/999999",
        404,
        "no Country at ordinal",
    );
    server.refused(
        "/api/versions/1/types/Country/ordinal/x",
        404,
        "whole numbers",
    );

    // A page of records, capped.
    let page = server.json("/api/versions/2/types/Movie/records?offset=10&limit=5", 200);
    assert_eq!(page["total"], v2.len() as u64);
    assert_eq!(page["records"].as_array().unwrap().len(), 5);
    let capped = server.json("/api/versions/2/types/Movie/records?limit=100000", 200);
    assert_eq!(capped["records"].as_array().unwrap().len(), 200);

    // Markup in data is data: returned as a JSON string, exactly.
    let r = server.json(&format!("/api/versions/3/types/Movie/key/{img}"), 200);
    assert_eq!(r["record"]["title"], XSS_IMG);
    let r = server.json(&format!("/api/versions/3/types/Movie/key/{script}"), 200);
    assert_eq!(r["record"]["title"], XSS_SCRIPT);

    filter_finds_every_record_with_the_value(&server, &v1);
    diff_matches_the_cli(&server, &store);
    timeline_counts_match_the_cli(&server, &store, &v1, &v2);
    history_follows_the_chain(&server, &v1, &v2, img);
}

/// Every record of `/api/versions/1/types/Movie/records?field=..&value=..`, page by page
/// (20 a page), and the total the first page gave.
/// Every page of a filter: the total, the records, and how the server found them. The
/// pages together hold each match once, in ordinal order.
fn filtered(server: &Server, field: &str, value: &str) -> (u64, Vec<Json>, String) {
    let (mut rows, mut ordinals) = (Vec::new(), Vec::new());
    loop {
        let page = server.json(
            &format!(
                "/api/versions/1/types/Movie/records?field={field}&value={value}&limit=20&offset={}",
                rows.len()
            ),
            200,
        );
        let got = page["records"].as_array().unwrap();
        rows.extend(got.iter().map(|r| r["record"].clone()));
        ordinals.extend(got.iter().map(|r| r["ordinal"].as_u64().unwrap()));
        if got.is_empty() {
            assert!(ordinals.windows(2).all(|w| w[0] < w[1]), "{ordinals:?}");
            let by = page["found_by"].as_str().unwrap().to_string();
            return (page["total"].as_u64().unwrap(), rows, by);
        }
    }
}

fn filter_finds_every_record_with_the_value(server: &Server, v1: &BTreeMap<i64, Json>) {
    // The year most movies of v1.jsonl share, so the matches take several pages.
    let mut years: BTreeMap<i64, u64> = BTreeMap::new();
    for r in v1.values() {
        *years.entry(r["year"].as_i64().unwrap()).or_default() += 1;
    }
    let (&year, &count) = years.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(count > 20, "several pages of {year}");
    let (total, rows, by) = filtered(server, "year", &year.to_string());
    assert_eq!(by, "index");
    assert_eq!(total, count);
    assert_eq!(rows.len() as u64, count);
    assert!(rows.iter().all(|r| r["year"] == year), "only {year}");
    // Through a reference, and a string.
    let pl = v1.values().filter(|r| r["country"] == "PL").count() as u64;
    let (total, rows, by) = filtered(server, "country.code", "PL");
    assert_eq!(by, "index");
    assert_eq!(total, pl);
    assert!(rows.iter().all(|r| r["country"] == "PL"));
    // A float, as the file has it.
    let rating = &v1.values().next().unwrap()["rating"];
    let want = v1.values().filter(|r| r["rating"] == *rating).count() as u64;
    // A float is compared as a number, by a scan.
    let (total, _, by) = filtered(server, "rating", &rating.to_string());
    assert_eq!((total, by.as_str()), (want, "scan"));
    assert_eq!(filtered(server, "year", "1").0, 0);
}

fn diff_matches_the_cli(server: &Server, store: &Path) {
    let cli: Json = serde_json::from_slice(
        &shoal(store, &["diff", "--from", "1", "--to", "2", "--json"]).stdout,
    )
    .unwrap();
    let d = server.json("/api/diff?from=1&to=2&limit=7", 200);
    assert_eq!(d["via"], cli["via"]);
    for (api, cli) in d["summary"]
        .as_array()
        .unwrap()
        .iter()
        .zip(cli["types"].as_array().unwrap())
    {
        assert_eq!(api["name"], cli["name"]);
        for count in ["added_count", "removed_count", "changed_count"] {
            assert_eq!(api[count], cli[count], "{count} of {}", cli["name"]);
        }
    }
    let t = &cli["types"][0];
    let total = ["added_count", "removed_count", "changed_count"]
        .iter()
        .map(|c| t[c].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(d["total"], total);
    assert_eq!(d["records"].as_array().unwrap().len(), 7);
    assert_eq!(d["records"][0]["change"], "changed");
    assert_eq!(d["records"][0]["key"], t["changed"][0]["key"]);
    assert_eq!(d["records"][0]["fields"], t["changed"][0]["fields"]);
    let backwards = server.json("/api/diff?from=2&to=1&type=Movie", 200);
    assert_eq!(backwards["summary"][0]["added_count"], t["removed_count"]);
}

/// `/api/timeline`, polled until nothing is pending (at most 60 s).
fn timeline(server: &Server) -> Json {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = server.json("/api/timeline", 200);
        if t["pending"] == false {
            return t;
        }
        assert!(Instant::now() < deadline, "the timeline still pending: {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn timeline_counts_match_the_cli(
    server: &Server,
    store: &Path,
    v1: &BTreeMap<i64, Json>,
    v2: &BTreeMap<i64, Json>,
) {
    let t = timeline(server);
    let versions = t["versions"].as_array().unwrap();
    let order: Vec<u64> = versions
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [1, 2, 3]);
    let movies = |v: &Json| {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "Movie")
            .expect("Movie's records")["records"]
            .clone()
    };
    assert_eq!(movies(&versions[0]), v1.len() as u64);
    assert_eq!(movies(&versions[1]), v2.len() as u64);
    assert_eq!(versions[0]["from"], Json::Null);
    assert!(versions[0]["changes"].as_array().unwrap().is_empty());
    for (i, from) in [(1, "1"), (2, "2")] {
        let to = (i + 1).to_string();
        let cli: Json = serde_json::from_slice(
            &shoal(store, &["diff", "--from", from, "--to", &to, "--json"]).stdout,
        )
        .unwrap();
        let step = &versions[i];
        assert_eq!(step["from"].to_string(), from);
        let changes = step["changes"].as_array().unwrap();
        let types = cli["types"].as_array().unwrap();
        assert_eq!(changes.len(), types.len());
        for (api, cli) in changes.iter().zip(types) {
            assert_eq!(api["name"], cli["name"]);
            for count in ["added_count", "removed_count", "changed_count"] {
                assert_eq!(
                    api[count], cli[count],
                    "{count} of {} to v{to}",
                    cli["name"]
                );
            }
        }
    }
    // The 1 -> 2 step changed something, and 2 -> 3 exactly the two titles.
    assert_ne!(versions[1]["changes"][0]["changed_count"], 0);
    assert_eq!(versions[2]["changes"][0]["changed_count"], 2);
}

fn history_follows_the_chain(
    server: &Server,
    v1: &BTreeMap<i64, Json>,
    v2: &BTreeMap<i64, Json>,
    img: i64,
) {
    let h = server.json(&format!("/api/types/Movie/key/{img}/history"), 200);
    assert_eq!(h["versions"], serde_json::json!([1, 2, 3]));
    let events = h["events"].as_array().unwrap();
    let last = events.last().unwrap();
    assert_eq!(last["version"], 3);
    assert_eq!(last["change"], "changed");
    assert_eq!(last["fields"][0]["field"], "title");
    assert_eq!(last["fields"][0]["old"], v2[&img]["title"]);
    assert_eq!(last["fields"][0]["new"], XSS_IMG);
    let first = &events[0];
    match v1.get(&img) {
        Some(r) => {
            assert_eq!(first["version"], 1);
            assert_eq!(first["change"], "present");
            assert_eq!(first["record"], *r);
        }
        None => {
            assert_eq!(first["version"], 2);
            assert_eq!(first["change"], "added");
        }
    }
    // A record removed from v1 to v2: present, then removed.
    let gone = v1.keys().find(|k| !v2.contains_key(k)).unwrap();
    let h = server.json(&format!("/api/types/Movie/key/{gone}/history"), 200);
    let changes: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["present", "removed"]);
}

#[test]
fn bad_requests_get_a_4xx_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    produce(&store, &example("v1.jsonl"));
    let server = Server::start(&store);
    server.refused("/api/versions/9", 404, "version 9 cannot be built");
    server.refused("/api/versions/abc", 400, "a version is a whole number");
    server.refused("/api/versions/1/types/Nope/records", 400, "no such type");
    server.refused("/api/versions/1/types/Movie/records?limit=x", 400, "limit");
    server.refused(
        "/api/versions/1/types/Movie/key/notanumber",
        400,
        "id is an i64",
    );
    server.refused("/api/versions/1/types/Movie/key/1/2", 400, "key of 1 field");
    server.refused(
        "/api/versions/1/types/Movie/key/999999999",
        404,
        "no Movie with id = 999999999",
    );
    server.refused(
        "/api/versions/1/types/Country/key/US",
        400,
        "no primary key",
    );
    let movies = "/api/versions/1/types/Movie/records";
    server.refused(
        &format!("{movies}?field=nope&value=1"),
        400,
        "no field `nope`",
    );
    server.refused(&format!("{movies}?field=year&value=abc"), 400, "\"abc\"");
    server.refused(&format!("{movies}?field=year&value=abc"), 400, "an i32");
    server.refused(&format!("{movies}?field=year"), 400, "value=");
    server.refused(&format!("{movies}?value=1999"), 400, "field=");
    server.refused(
        &format!("{movies}?field=country&value=PL"),
        400,
        "reference",
    );
    server.refused("/api/diff?from=1", 400, "to=");
    server.refused("/api/diff?from=1&to=7", 404, "version 7");
    server.refused("/api/types/Nope/key/1/history", 400, "no such type");
    server.refused("/api/types/Movie/key/1", 404, "/history");
    server.refused("/api/nothing", 404, "no such page");
    server.refused("/etc/passwd", 404, "no such page");
    // The page itself.
    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/app.js\""));
    let (status, script) = server.get("/app.js");
    assert_eq!(status, 200);
    assert!(!script.contains("innerHTML"), "data goes in as text only");
}

#[test]
fn a_new_version_is_pushed_to_the_page_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    produce(&store, &example("v1.jsonl"));
    let server = Server::start(&store);
    let mut events = server.events();
    let (name, data) = events.next();
    assert_eq!(name, "versions", "{data}");
    let first: Json = serde_json::from_str(&data).unwrap();
    assert_eq!(first["announced"], 1);

    produce(&store, &example("v2.jsonl"));
    let pushed = loop {
        let (name, data) = events.next();
        assert_eq!(name, "versions", "{data}");
        let l: Json = serde_json::from_str(&data).unwrap();
        if l["announced"] == 2 {
            break l;
        }
    };
    // The same listing /api/versions gives.
    assert_eq!(pushed, server.json("/api/versions", 200));
}

#[test]
fn a_timeline_step_that_failed_is_tried_again_once_the_store_heals() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    produce(&store, &example("v1.jsonl"));
    produce(&store, &example("v2.jsonl"));
    // Every snapshot damaged: no way to build any version.
    let snapshots: Vec<(PathBuf, Vec<u8>)> = ["snapshot/1", "snapshot/2"]
        .iter()
        .map(|s| (store.join(s), std::fs::read(store.join(s)).unwrap()))
        .collect();
    for (path, good) in &snapshots {
        let mut bad = good.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 0xff;
        std::fs::write(path, &bad).unwrap();
    }
    let server = Server::start(&store);

    let t = timeline(&server);
    assert!(t["versions"][0]["error"].is_string(), "{t}");

    for (path, good) in &snapshots {
        std::fs::write(path, good).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let healed = loop {
        let t = timeline(&server);
        let errors = t["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["error"].is_string());
        if !errors {
            break t;
        }
        assert!(Instant::now() < deadline, "the failure stuck: {t}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let v1 = records(&example("v1.jsonl")).len() as u64;
    assert_eq!(
        healed["versions"][0]["records"][0]["records"], v1,
        "{healed}"
    );
}
