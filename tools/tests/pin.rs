//! `shoal pin` / `shoal unpin` as an operator runs them at 3 a.m.: a version the store
//! cannot build is refused, a pin is shown by `versions`, survives the producer publishing,
//! and is lifted by `unpin`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

fn example(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/catalog")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

fn shoal(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the shoal binary runs")
}

fn stdout(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn versions(store: &Path) -> Json {
    serde_json::from_str(&stdout(&shoal(store, &["--json", "versions"]), 0)).unwrap()
}

fn produce(store: &Path, input: &str) {
    let schema = example("schema.toml");
    stdout(
        &shoal(
            store,
            &["produce", "--schema", &schema, "--input", &example(input)],
        ),
        0,
    );
}

#[test]
fn a_pin_holds_while_the_producer_publishes_and_unpin_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("store");
    let out = shoal(&store, &["pin", "--version", "1"]);
    assert_eq!(out.status.code(), Some(1), "no store, nothing to pin");
    produce(&store, "v1.jsonl");
    produce(&store, "v2.jsonl");

    let out = shoal(&store, &["pin", "--version", "7"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("version 7 cannot be built"), "{err}");
    assert!(err.contains("nothing was pinned"), "{err}");
    assert_eq!(versions(&store)["pinned"], Json::Null);

    let text = stdout(&shoal(&store, &["pin", "--version", "1"]), 0);
    assert!(text.contains("pinned to version 1"), "{text}");
    let v = versions(&store);
    assert_eq!(
        (v["announced"].as_u64(), v["pinned"].as_u64()),
        (Some(2), Some(1))
    );
    let text = stdout(&shoal(&store, &["versions"]), 0);
    assert!(text.contains("PINNED to version 1"), "{text}");
    assert!(text.contains("<- pinned"), "{text}");

    // The producer keeps publishing under the pin, and the pin stays.
    produce(&store, "v1.jsonl");
    let v = versions(&store);
    assert_eq!(
        (v["announced"].as_u64(), v["pinned"].as_u64()),
        (Some(3), Some(1))
    );

    let text = stdout(&shoal(&store, &["unpin"]), 0);
    assert!(text.contains("unpinned (was version 1)"), "{text}");
    let v = versions(&store);
    assert_eq!(
        (v["announced"].as_u64(), v["pinned"].as_u64()),
        (Some(3), None)
    );
}
