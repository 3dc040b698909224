//! What the tests of `shoal ui` share: a store of three versions of the example catalog, and
//! the `shoal ui` process with a tiny HTTP client.
//!
//! The client is a hand-written HTTP/1.1 GET over `std::net::TcpStream` (`Connection:
//! close`, read to the end): tests that only GET JSON and pages need no HTTP client crate.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value as Json;

pub const XSS_IMG: &str = "<img src=x onerror=alert(1)>";
pub const XSS_SCRIPT: &str = "<script>alert(1)</script>";

pub fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/catalog")
        .join(file)
}

pub fn shoal(store: &Path, args: &[&str]) -> std::process::Output {
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

pub fn produce(store: &Path, input: &Path) {
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
pub fn records(path: &Path) -> BTreeMap<i64, Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            (j["id"].as_i64().unwrap(), j)
        })
        .collect()
}

/// A `shoal ui` process, stopped when dropped.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    pub fn start(store: &Path) -> Server {
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
    pub fn get(&self, path: &str) -> (u16, String) {
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
    pub fn json(&self, path: &str, status: u16) -> Json {
        let (got, body) = self.get(path);
        assert_eq!(got, status, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// A 4xx whose JSON error message contains `needle`.
    pub fn refused(&self, path: &str, status: u16, needle: &str) {
        let err = self.json(path, status);
        let message = err["error"].as_str().expect("an error message");
        assert!(message.contains(needle), "GET {path}: {message}");
    }
}

impl Server {
    /// `/api/events` opened (HTTP/1.0, so the stream is not chunked).
    pub fn events(&self) -> Events {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(s, "GET /api/events HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "GET /api/events: {line}");
        while line.trim() != "" {
            line.clear();
            reader.read_line(&mut line).unwrap();
        }
        Events { reader }
    }
}

/// Server-sent events as they arrive.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    /// The next event's name and data (keep-alive comments skipped); panics after a minute
    /// without one.
    pub fn next(&mut self) -> (String, String) {
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .expect("an event within a minute");
            assert!(n > 0, "the event stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() && !name.is_empty() {
                return (name, data);
            }
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }
}

impl Drop for Server {
    /// Stops the server as a service manager does (SIGTERM), so it removes its temporary
    /// cache; killed if it has not ended within ten seconds.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn dechunk(mut body: &str) -> String {
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
pub fn catalog(dir: &Path) -> (PathBuf, BTreeMap<i64, Json>, [i64; 2]) {
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
