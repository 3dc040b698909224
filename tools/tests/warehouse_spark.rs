//! A real Spark job writes the example catalog, v1 then v2, as a Parquet data set partitioned
//! by `year` (PySpark from PyPI in local mode, installed by `scripts/spark.sh`); `shoal
//! produce` publishes each version, from the folder and from the S3 test server, and `shoal
//! diff` lists exactly the changes between the two JSON-lines files Spark read.
//!
//! Spark writes to a folder; for S3 the test uploads what it wrote (part files, `.crc` side
//! files, `_SUCCESS`) with a plain S3 client: Spark's own S3 connector (hadoop-aws) comes from
//! Maven Central, which the test machines do not reach.

mod warehouse_common;

use std::path::Path;
use std::process::Command;

use warehouse_common::*;

/// Runs the Spark job once for both versions, writing `<dir>/v1` and `<dir>/v2`.
fn spark_writes_the_catalog(dir: &Path) {
    let script = root().join("scripts/spark.sh");
    let job = root().join("scripts/spark/write_catalog.py");
    let mut args = vec![job.to_string_lossy().into_owned()];
    for version in ["v1", "v2"] {
        args.push(example(&format!("{version}.jsonl")));
        args.push(dir.join(version).to_string_lossy().into_owned());
    }
    let out = Command::new("bash")
        .arg(&script)
        .args(&args)
        .output()
        .expect("bash runs scripts/spark.sh");
    assert!(
        out.status.success(),
        "scripts/spark.sh failed (it installs pyspark and needs Java 17):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What Spark wrote: part files under `year=` folders, with `.crc` files and `_SUCCESS`.
fn assert_written_as_spark_writes(data: &Path) {
    assert!(data.join("_SUCCESS").exists());
    let years: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("year="))
        .collect();
    assert!(years.len() > 50, "{years:?}");
    let folder = data.join(&years[0]);
    let files: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files
        .iter()
        .any(|f| f.starts_with("part-") && f.ends_with(".snappy.parquet")));
    assert!(files
        .iter()
        .any(|f| f.starts_with('.') && f.ends_with(".crc")));
}

#[test]
fn a_spark_job_s_output_publishes_with_an_exact_diff_from_a_folder_and_from_s3() {
    let dir = tempfile::tempdir().unwrap();
    spark_writes_the_catalog(dir.path());
    let (old, new) = (records(&example("v1.jsonl")), records(&example("v2.jsonl")));

    // From the folder Spark wrote, with the example's schema file.
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    for (n, version) in ["v1", "v2"].into_iter().enumerate() {
        let data = dir.path().join(version);
        assert_written_as_spark_writes(&data);
        let report = produce(store, data.to_str().unwrap());
        assert_eq!(report["version"], n as u64 + 1);
        assert_eq!(report["records_read"], 3000);
    }
    assert_eq!(dump(store, 1), old);
    assert_eq!(dump(store, 2), new);
    assert_diff_exact(store, &old, &new);

    // From the S3 test server, the schema inferred from the data.
    let store = dir.path().join("store-s3");
    let store = store.to_str().unwrap();
    for (n, version) in ["v1", "v2"].into_iter().enumerate() {
        let (url, config) = s3_prefix(&format!("spark-{version}"));
        upload(&dir.path().join(version), &config);
        let args = [
            "produce", "--key", "id", "--root", "Movie", "--input", &url, "--json",
        ];
        let report = json(&shoal(store, &args));
        assert_eq!(report["version"], n as u64 + 1);
        assert_eq!(report["records_read"], 3000);
    }
    assert_eq!(dump(store, 2), new);
    assert_diff_exact(store, &old, &new);
}
