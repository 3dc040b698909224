//! The fleet soak in its small configuration (about ten seconds per store): `shoal-fleet`
//! runs one producer and three consumer processes, kills both roles, cuts the consumers off
//! the store twice (blobs, then the announcement), pins and unpins the fleet, and every
//! value every consumer reads is checked against what the producer published. The test
//! reads the JSON report.
//!
//! The S3 case needs the test server `bash scripts/test.sh` starts (it sets
//! `SHOAL_TEST_S3_ENDPOINT` and `SHOAL_TEST_S3_BUCKET`); without them it fails, as the other
//! S3 tests do: a test that skips itself silently would let the S3 path go untested.

use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// One soak at a time: each starts four processes on a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the small soak on `store` (extra arguments appended) and returns its report.
fn soak(store: &str, extra: &[&str]) -> Value {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let args = [
        "--store",
        store,
        "--consumers",
        "3",
        "--versions",
        "30",
        "--interval-ms",
        "100",
        "--kills",
        "2",
        "--faults",
        "2",
        "--fault-ms",
        "500",
        "--pins",
        "1",
        "--seed",
        "11",
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_shoal-fleet"))
        .args(args)
        .args(extra)
        .arg("--work")
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(output.status.success(), "shoal-fleet failed: {report:#}");
    report
}

fn check(report: &Value) {
    let n = |path: &str| {
        report
            .pointer(path)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{path} missing in {report:#}"))
    };
    assert_eq!(n("/wrong_reads"), 0.0, "{report:#}");
    assert!(n("/reads") > 0.0, "{report:#}");
    assert_eq!(n("/versions"), 30.0, "{report:#}");
    assert_eq!(report["all_reached_last"], true, "{report:#}");
    assert_eq!(n("/staleness_ms/unreached"), 0.0, "{report:#}");
    // A producer killed between its announcement and its log line leaves one version
    // untimed.
    let timed = 3.0 * (30.0 - n("/producer_kills"));
    assert!(n("/staleness_ms/samples") >= timed, "{report:#}");
    assert!(n("/kills") >= 1.0, "{report:#}");
    assert!(n("/producer_kills") >= 1.0, "{report:#}");
    assert!(
        n("/faults_injected") >= 1.0 && n("/faulted_calls") >= 1.0,
        "{report:#}"
    );
    assert!(n("/pin/reached_by") >= 1.0, "{report:#}");
    assert!(report["pin"]["held_ms"].is_u64(), "unpinned: {report:#}");
    assert!(n("/snapshot_bytes_max") > 0.0, "{report:#}");
    // The store's snapshots may be packed; the cache holds plain blobs, so the bound is its
    // own largest snapshot.
    let snapshot = n("/cache_snapshot_max");
    assert!(snapshot > 0.0, "{report:#}");
    assert!(
        n("/cache_bytes_max") <= 4.0 * snapshot,
        "the cache holds a snapshot and a chain of deltas at most: {report:#}"
    );
    // Every version costs at least the announcement's GET; a LIST only at starts, after a
    // fault or a pin.
    assert!(
        n("/requests_per_consumer_per_version/get") >= 1.0,
        "{report:#}"
    );
    assert!(
        n("/requests_per_consumer_per_version/list") < 1.0,
        "{report:#}"
    );
    assert!(n("/producer_requests_per_version/put") >= 2.0, "{report:#}");
    assert!(n("/bytes_per_consumer_per_version") > 0.0, "{report:#}");
}

#[test]
fn a_small_fleet_on_the_folder_store_reads_only_what_was_published() {
    let store = tempfile::tempdir().unwrap();
    let report = soak(store.path().to_str().unwrap(), &[]);
    check(&report);
}

#[test]
fn a_small_fleet_on_the_s3_server_reads_only_what_was_published() {
    let (endpoint, bucket) = shoal_tests::test_server::endpoint_and_bucket();
    let prefix = shoal_tests::test_server::fresh_prefix("shoal-fleet");
    let store = format!("s3://{bucket}/{prefix}");
    let report = soak(&store, &["--endpoint-url", &endpoint, "--poll-ms", "200"]);
    check(&report);
    assert!(
        n_of(&report, "/requests_per_consumer_per_version/head") > 0.0,
        "the S3 watch polls with HEADs: {report:#}"
    );
}

fn n_of(report: &Value, path: &str) -> f64 {
    report.pointer(path).and_then(Value::as_f64).unwrap_or(0.0)
}
