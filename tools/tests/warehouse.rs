//! `shoal produce` from a Parquet data set as a warehouse engine leaves it: part files under
//! Hive partition folders (`year=1995/`), with `_SUCCESS` and `.crc` side files, in a folder
//! and on the S3 test server. The published versions equal those from the JSON lines, the
//! diff is exact, and bad part files are refused with one error and nothing published.

mod warehouse_common;

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, BooleanArray, Float32Array, RecordBatch};
use arrow_select::filter::filter_record_batch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use warehouse_common::*;

/// The example catalog's `v1` or `v2` Parquet file as one batch.
fn catalog(version: &str) -> RecordBatch {
    let file = std::fs::File::open(example(&format!("{version}.parquet"))).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn write(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Writes `batch` as Spark does with `partitionBy("year")`: one folder per year without the
/// `year` column, two part files in each (when it has two rows or more), a `.crc` beside each
/// part, `_SUCCESS` at the top. Returns the part files.
fn write_partitioned(dir: &Path, batch: &RecordBatch) -> Vec<std::path::PathBuf> {
    let year_at = batch.schema().index_of("year").unwrap();
    let years = years_of(batch.column(year_at));
    let mut distinct: Vec<i32> = years.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut without_year = batch.clone();
    without_year.remove_column(year_at);
    let mut parts = Vec::new();
    for year in distinct {
        let mask: BooleanArray = years.iter().map(|y| Some(*y == Some(year))).collect();
        let rows = filter_record_batch(&without_year, &mask).unwrap();
        let half = rows.num_rows() / 2;
        for (i, (offset, len)) in [(0, half), (half, rows.num_rows() - half)]
            .into_iter()
            .enumerate()
        {
            if len == 0 {
                continue;
            }
            let name = format!("part-{i:05}-6a1b.c000.snappy.parquet");
            let path = dir.join(format!("year={year}")).join(&name);
            write(&path, &rows.slice(offset, len));
            std::fs::write(path.with_file_name(format!(".{name}.crc")), b"crc").unwrap();
            parts.push(path);
        }
    }
    std::fs::write(dir.join("_SUCCESS"), b"").unwrap();
    parts
}

/// The years of an integer column.
fn years_of(column: &ArrayRef) -> Vec<Option<i32>> {
    match column.data_type() {
        arrow_schema::DataType::Int32 => column.as_primitive::<Int32Type>().iter().collect(),
        arrow_schema::DataType::Int16 => {
            let years = column.as_primitive::<arrow_array::types::Int16Type>();
            years.iter().map(|y| y.map(i32::from)).collect()
        }
        other => panic!("year is {other}"),
    }
}

#[test]
fn a_partitioned_folder_publishes_what_the_json_lines_publish() {
    let dir = tempfile::tempdir().unwrap();
    let (from_set, from_lines) = (dir.path().join("set"), dir.path().join("lines"));
    let (from_set, from_lines) = (from_set.to_str().unwrap(), from_lines.to_str().unwrap());
    for (n, version) in ["v1", "v2"].into_iter().enumerate() {
        let data = dir.path().join(version);
        let parts = write_partitioned(&data, &catalog(version));
        assert!(parts.len() > 100, "{} part files", parts.len());
        let report = produce(from_set, data.to_str().unwrap());
        assert_eq!(report["version"], n as u64 + 1);
        assert_eq!(report["records_read"], 3000);
        produce(from_lines, &example(&format!("{version}.jsonl")));
        let expected = records(&example(&format!("{version}.jsonl")));
        assert_eq!(dump(from_set, n as u64 + 1), expected);
    }
    let (old, new) = (records(&example("v1.jsonl")), records(&example("v2.jsonl")));
    assert_diff_exact(from_set, &old, &new);
}

#[test]
fn a_partitioned_data_set_on_s3_publishes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    for (n, version) in ["v1", "v2"].into_iter().enumerate() {
        let data = dir.path().join(version);
        write_partitioned(&data, &catalog(version));
        let (url, config) = s3_prefix(&format!("warehouse-{version}"));
        upload(&data, &config);
        let report = produce(store, &format!("{url}/"));
        assert_eq!(report["version"], n as u64 + 1);
        assert_eq!(report["records_read"], 3000);
    }
    let (old, new) = (records(&example("v1.jsonl")), records(&example("v2.jsonl")));
    assert_eq!(dump(store, 2), new);
    assert_diff_exact(store, &old, &new);
}

/// Publishes v1 from a folder, then runs `produce` on `data` and expects it refused with
/// `message`, version 1 still announced.
fn refused(dir: &Path, data: &Path, message: &str) -> String {
    let store = dir.join("store");
    let store = store.to_str().unwrap();
    let v1 = dir.join("v1");
    if !v1.exists() {
        write_partitioned(&v1, &catalog("v1"));
        produce(store, v1.to_str().unwrap());
    }
    let args = [
        "produce",
        "--schema",
        &example("schema.toml"),
        "--input",
        data.to_str().unwrap(),
    ];
    let err = failed(&shoal(store, &args));
    assert!(err.contains(message), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    let versions = json(&shoal(store, &["versions", "--json"]));
    assert_eq!(versions["announced"], 1);
    err
}

#[test]
fn a_part_file_that_is_not_parquet_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v2");
    let parts = write_partitioned(&data, &catalog("v2"));
    std::fs::write(&parts[40], b"year,title\n1999,Heat\n").unwrap();
    let name = parts[40].display().to_string();
    let err = refused(dir.path(), &data, "not a Parquet file");
    assert!(err.contains(&name), "{err}");
}

#[test]
fn a_column_whose_type_changed_between_parts_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v2");
    let parts = write_partitioned(&data, &catalog("v2"));
    // One part written by a job that made `rating` a float32.
    let file = std::fs::File::open(&parts[30]).unwrap();
    let mut batch = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let at = batch.schema().index_of("rating").unwrap();
    let ratings = batch
        .column(at)
        .as_primitive::<arrow_array::types::Float64Type>()
        .clone();
    let narrow: ArrayRef = Arc::new(
        ratings
            .iter()
            .map(|r| r.map(|r| r as f32))
            .collect::<Float32Array>(),
    );
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    for (i, field) in batch.schema().fields().iter().enumerate() {
        let column = if i == at {
            narrow.clone()
        } else {
            batch.column(i).clone()
        };
        columns.push((field.name().clone(), column));
    }
    batch = RecordBatch::try_from_iter(columns).unwrap();
    assert_eq!(batch.column(at).len(), ratings.len());
    write(&parts[30], &batch);
    let err = refused(
        dir.path(),
        &data,
        "column `rating` is Float32 here but Float64 in",
    );
    assert!(err.contains(&parts[30].display().to_string()), "{err}");
}

#[test]
fn a_partition_value_that_does_not_fit_its_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v2");
    let parts = write_partitioned(&data, &catalog("v2"));
    let bad = data.join("year=nineteen/part-00000.parquet");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::copy(&parts[0], &bad).unwrap();
    refused(
        dir.path(),
        &data,
        "partition folder `year=nineteen`: \"nineteen\" is not an integer",
    );
}

/// `shoal produce --key id --root Movie --input ...`: the schema inferred from the input.
fn produce_inferred(store: &str, input: &str) -> std::process::Output {
    let args = [
        "produce", "--key", "id", "--root", "Movie", "--input", input, "--json",
    ];
    shoal(store, &args)
}

#[test]
fn without_a_schema_file_the_inferred_schema_publishes_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    for (n, version) in ["v1", "v2"].into_iter().enumerate() {
        let data = dir.path().join(version);
        write_partitioned(&data, &catalog(version));
        let report = json(&produce_inferred(store, data.to_str().unwrap()));
        assert_eq!(report["version"], n as u64 + 1);
        let expected = records(&example(&format!("{version}.jsonl")));
        assert_eq!(dump(store, n as u64 + 1), expected);
    }
    let inspect = json(&shoal(store, &["inspect", "--json"]));
    let types: Vec<&str> = inspect["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["Movie", "Country", "Genre", "GenreList", "Tag", "TagList"]
    );
    let (old, new) = (records(&example("v1.jsonl")), records(&example("v2.jsonl")));
    assert_diff_exact(store, &old, &new);
}

#[test]
fn an_inferred_schema_that_differs_from_the_announced_one_is_refused_naming_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    // JSON lines give every integer as i64; the Parquet files have `year` as an i32.
    ok(&produce_inferred(store, &example("v1.jsonl")));
    let err = failed(&produce_inferred(store, &example("v2.parquet")));
    assert!(err.contains("differs from version 1's"), "{err}");
    assert!(
        err.contains("field `Movie.year` changed from i64 to i32"),
        "{err}"
    );
    assert!(
        err.contains("field `Movie.runtime_min` changed from i64 to i32"),
        "{err}"
    );
    assert!(err.contains("nothing was published"), "{err}");
    assert_eq!(json(&shoal(store, &["versions", "--json"]))["announced"], 1);
    // The same kinds (JSON lines again): published.
    let report = json(&produce_inferred(store, &example("v2.jsonl")));
    assert_eq!(report["version"], 2);
}

#[test]
fn schema_infer_prints_a_schema_file_that_produce_takes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v1");
    write_partitioned(&data, &catalog("v1"));
    let args = [
        "schema",
        "infer",
        "--input",
        data.to_str().unwrap(),
        "--key",
        "id",
        "--root",
        "Movie",
    ];
    let text = ok(&shoal("unused", &args));
    assert!(
        text.contains("# country: 30 distinct values in 3000 rows: a reference type"),
        "{text}"
    );
    assert!(text.contains("\"country: Country\""), "{text}");
    assert!(text.contains("\"title: string\""), "{text}");
    assert!(text.contains("\"year: i32\""), "{text}");
    let schema = dir.path().join("schema.toml");
    std::fs::write(&schema, &text).unwrap();
    let store = dir.path().join("store");
    let args = [
        "produce",
        "--schema",
        schema.to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
    ];
    ok(&shoal(store.to_str().unwrap(), &args));
    assert_eq!(
        dump(store.to_str().unwrap(), 1),
        records(&example("v1.jsonl"))
    );

    let err = failed(&shoal(
        "unused",
        &[
            "schema",
            "infer",
            "--input",
            data.to_str().unwrap(),
            "--key",
            "idd",
        ],
    ));
    assert!(err.contains("no field `idd` for --key"), "{err}");
}
