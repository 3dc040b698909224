//! Packed blobs end to end, through the binary: `shoal produce` stores blobs zstd-packed by
//! default and plain with `--pack-level 0`; every reader (a consumer's `get` and `dump`,
//! `verify`, the producer restoring the announced version) reads packed, plain and mixed
//! stores alike, and finds the same records.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const SHOAL_MAGIC: &[u8] = b"SHOAL\r\n\x1a";

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/catalog")
        .join(file)
}

fn shoal(store: &Path, args: &[&str]) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_shoal"))
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn produce(store: &Path, input: &str, extra: &[&str]) {
    let (schema, input) = (example("schema.toml"), example(input));
    let mut args = vec![
        "produce",
        "--schema",
        schema.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend(extra);
    shoal(store, &args);
}

fn head(store: &Path, blob: &str) -> (Vec<u8>, u64) {
    let bytes = std::fs::read(store.join(blob)).unwrap();
    (bytes[..8].to_vec(), bytes.len() as u64)
}

#[test]
fn blobs_are_stored_packed_by_default_and_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (packed, plain) = (dir.path().join("packed"), dir.path().join("plain"));
    for v in ["v1.jsonl", "v2.jsonl"] {
        produce(&packed, v, &[]);
        produce(&plain, v, &["--pack-level", "0"]);
    }
    for blob in ["snapshot/2", "delta/1-2", "reverse/2-1"] {
        let (p, p_len) = head(&packed, blob);
        let (q, q_len) = head(&plain, blob);
        assert!(p.starts_with(&ZSTD_MAGIC), "{blob} packed");
        assert!(q.starts_with(SHOAL_MAGIC), "{blob} plain");
        assert!(p_len < q_len, "{blob}: {p_len} packed, {q_len} plain");
    }
    // Every reader finds the same records, in either store and in every version.
    for v in ["1", "2"] {
        let dump = |store: &Path| shoal(store, &["dump", "--type", "Movie", "--version", v]);
        assert_eq!(dump(&packed), dump(&plain), "version {v}");
    }
    for store in [&packed, &plain] {
        assert!(
            shoal(store, &["verify"]).contains("ok: no faults"),
            "{store:?}"
        );
    }
    // The producer restores a packed store: a third cycle with v1 again is a delta.
    produce(&packed, "v1.jsonl", &[]);
    assert!(packed.join("delta/2-3").exists());
}

#[test]
fn a_store_written_plain_then_packed_reads_across_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    produce(&store, "v1.jsonl", &["--pack-level", "0"]);
    produce(&store, "v2.jsonl", &[]);
    assert!(head(&store, "snapshot/1").0.starts_with(SHOAL_MAGIC));
    assert!(head(&store, "delta/1-2").0.starts_with(&ZSTD_MAGIC));
    // Version 2 reached from the plain snapshot by the packed delta: the same records as
    // the packed snapshot of version 2.
    std::fs::remove_file(store.join("snapshot/2")).unwrap();
    let by_delta = shoal(&store, &["dump", "--type", "Movie", "--version", "2"]);
    let want = std::fs::read_to_string(example("v2.jsonl")).unwrap();
    assert_eq!(by_delta.lines().count(), want.lines().count());
    assert!(shoal(&store, &["verify"]).contains("ok: no faults"));
}
