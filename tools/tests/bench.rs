//! `shoal bench` end to end: the built binary on a small catalog, its JSON report checked for
//! completeness and plausibility.

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("bench")
        .args(args)
        .output()
        .expect("shoal runs")
}

fn number(report: &Value, path: &str) -> f64 {
    report
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing from {report:#}"))
}

#[test]
fn bench_reports_every_figure_plausibly() {
    let out = bench(&["--records", "2000", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");

    assert_eq!(number(&r, "/records"), 2000.0);
    let figures = [
        "cycle_v1",
        "cycle_v2",
        "snapshot_v1",
        "delta",
        "reverse_delta",
        "startup",
        "memory",
        "lookup",
        "apply",
    ];
    for name in figures {
        for side in ["shoal", "baseline", "ratio"] {
            let v = number(&r, &format!("/figures/{name}/{side}"));
            assert!(v.is_finite() && v > 0.0, "{name}.{side} = {v}");
        }
    }
    for part in ["private", "mapped"] {
        assert!(number(&r, &format!("/memory_split/{part}")) > 0.0, "{part}");
    }

    let snapshot = number(&r, "/figures/snapshot_v1/shoal");
    assert!(number(&r, "/figures/delta/shoal") < snapshot);
    assert!(number(&r, "/figures/reverse_delta/shoal") < snapshot);
    // The snapshot is smaller than the JSON lines.
    assert!(number(&r, "/figures/snapshot_v1/ratio") < 1.0);

    let keys = number(&r, "/repetitions/lookup_keys");
    assert!(keys > 0.0);
    assert_eq!(number(&r, "/lookups_found/shoal"), keys);
    assert_eq!(number(&r, "/lookups_found/baseline"), keys);

    let expected = number(&r, "/records_after_apply/expected");
    assert_eq!(number(&r, "/records_after_apply/shoal"), expected);
    assert_eq!(number(&r, "/records_after_apply/baseline"), expected);

    // 1% of 2000 edited, 0.5% removed and added, give or take chance.
    let edited = number(&r, "/change/edited");
    let removed = number(&r, "/change/removed");
    assert!((5.0..=45.0).contains(&edited), "{edited} edited");
    assert!((1.0..=25.0).contains(&removed), "{removed} removed");
    assert_eq!(number(&r, "/change/added"), removed);
    assert_eq!(number(&r, "/change/producer/removed"), removed);
    assert_eq!(number(&r, "/change/producer/added"), removed);
    assert!(number(&r, "/change/producer/changed") <= edited);
}

#[test]
fn bench_prints_one_table_and_keeps_files_on_request() {
    let keep = tempfile::tempdir().expect("tempdir");
    let dir = keep.path().join("kept");
    let dir_arg = dir.to_str().expect("utf-8 path");
    let out = bench(&["--records", "500", "--change-pct", "10", "--keep", dir_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for row in [
        "producer cycle v1",
        "snapshot v1",
        "delta v1 -> v2",
        "start-up to first key lookup",
        "resident memory after load",
        "key lookup + one field read",
        "apply delta v1 -> v2",
    ] {
        assert!(text.contains(row), "no {row:?} in\n{text}");
    }
    assert!(dir.join("v1.jsonl").is_file());
    assert!(dir.join("store").is_dir());

    // The kept folder is not empty any more: a second run refuses it (bad usage).
    let again = bench(&["--records", "500", "--keep", dir_arg]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn bench_refuses_a_change_it_cannot_make() {
    for pct in ["0", "80", "-1"] {
        let out = bench(&["--records", "100", &format!("--change-pct={pct}")]);
        assert_eq!(out.status.code(), Some(2), "--change-pct {pct}");
    }
}
