//! `shoal ui`'s JSON API end to end: the binary serves a store of three versions of the
//! example catalog (JSON lines, Parquet, then JSON lines with markup in two titles) and each
//! route is checked against the input files and against `shoal diff --json`; bad versions,
//! types and keys get a 4xx with a JSON message.
//!
//! The client is a hand-written HTTP/1.1 GET over `std::net::TcpStream` (`Connection:
//! close`, read to the end): a test that only GETs JSON needs no HTTP client crate.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value as Json;

const XSS_IMG: &str = "<img src=x onerror=alert(1)>";
const XSS_SCRIPT: &str = "<script>alert(1)</script>";

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/catalog")
        .join(file)
}

fn shoal(store: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the shoal binary runs");
    assert!(
        out.status.success(),
        "shoal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn produce(store: &Path, input: &Path) {
    let schema = example("schema.toml");
    shoal(
        store,
        &[
            "produce",
            "--schema",
            schema.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ],
    );
}

/// The example's records by id, read straight from a JSON lines file.
fn records(path: &Path) -> BTreeMap<i64, Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            (j["id"].as_i64().unwrap(), j)
        })
        .collect()
}

/// A `shoal ui` process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(store: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("--store")
            .arg(store)
            .args(["ui", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("shoal ui starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("shoal ui: serving "), "{line}");
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .expect("an address")
            .to_string();
        Server { child, addr }
    }

    /// GETs `path`: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8(raw).expect("UTF-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    }

    /// GETs JSON that must come with `status`.
    fn json(&self, path: &str, status: u16) -> Json {
        let (got, body) = self.get(path);
        assert_eq!(got, status, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// A 4xx whose JSON error message contains `needle`.
    fn refused(&self, path: &str, status: u16, needle: &str) {
        let err = self.json(path, status);
        let message = err["error"].as_str().expect("an error message");
        assert!(message.contains(needle), "GET {path}: {message}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// A store of three versions: v1.jsonl, v2.parquet, then v2 with markup in two titles.
/// Returns the store, v2's records and the ids given markup.
fn catalog(dir: &Path) -> (PathBuf, BTreeMap<i64, Json>, [i64; 2]) {
    let store = dir.join("store");
    produce(&store, &example("v1.jsonl"));
    produce(&store, &example("v2.parquet"));
    let mut v2 = records(&example("v2.jsonl"));
    let ids: Vec<i64> = v2.keys().take(2).copied().collect();
    v2.get_mut(&ids[0]).unwrap()["title"] = Json::from(XSS_IMG);
    v2.get_mut(&ids[1]).unwrap()["title"] = Json::from(XSS_SCRIPT);
    let v3 = dir.join("v3.jsonl");
    let lines: Vec<String> = v2.values().map(|r| r.to_string()).collect();
    std::fs::write(&v3, lines.join("\n") + "\n").unwrap();
    produce(&store, &v3);
    (store, records(&example("v2.jsonl")), [ids[0], ids[1]])
}

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
    assert_eq!(country.expect("a country reference")["type"], "Country");

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

    diff_matches_the_cli(&server, &store);
    history_follows_the_chain(&server, &v1, &v2, img);
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
