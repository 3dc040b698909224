//! The conformance suite and the S3 store's own promises (checksums in metadata, paging,
//! clear errors), against a real S3-compatible server.
//!
//! `bash scripts/test.sh` starts the server and sets `SHOAL_TEST_S3_ENDPOINT` and
//! `SHOAL_TEST_S3_BUCKET`. Without them these tests fail: a test that skips itself silently
//! would let the S3 store go untested.
#![cfg(feature = "s3")]

mod conformance;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use shoal_store::{read_announced, BlobStore, Error, S3Config, S3Store, ANNOUNCED, MIN_PART_SIZE};

/// The server and bucket `scripts/test.sh` started.
fn server() -> (String, String) {
    let hint = "run the tests with `bash scripts/test.sh`, which installs and starts the S3 \
                test server and sets it";
    let endpoint = std::env::var("SHOAL_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| panic!("SHOAL_TEST_S3_ENDPOINT is not set: {hint}"));
    let bucket = std::env::var("SHOAL_TEST_S3_BUCKET")
        .unwrap_or_else(|_| panic!("SHOAL_TEST_S3_BUCKET is not set: {hint}"));
    (endpoint, bucket)
}

/// A prefix of this test process, so runs against a long-lived server never meet.
fn run_prefix() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("shoal-tests/{}-{nanos}", std::process::id())
    })
}

/// A fresh prefix per case.
fn base(case: &str) -> String {
    format!("{}/{case}", run_prefix())
}

/// The store of every test: small parts (so a 12 MiB blob takes three) and pages of 7 keys
/// (so every listing, the conformance paging case included, crosses pages).
fn config(prefix: &str) -> S3Config {
    let (endpoint, bucket) = server();
    let mut config = S3Config::new(bucket, prefix);
    config.endpoint_url = Some(endpoint);
    config.region = Some("us-east-1".into());
    config.force_path_style = true;
    config.credentials = Some((
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "shoal-test".into()),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "shoal-test-secret".into()),
    ));
    config.poll_interval = Duration::from_millis(100);
    config.part_size = MIN_PART_SIZE;
    config.list_page_size = Some(7);
    config
}

async fn store(case: &str) -> S3Store {
    let store = S3Store::connect(config(&base(case))).await.unwrap();
    store.create_bucket_if_missing().await.unwrap();
    store
}

/// `conformance::Make` is synchronous; connecting is async, so block in place (the
/// conformance cases run on a multi-threaded runtime).
fn make() -> conformance::Make {
    Box::new(|prefix: &str| {
        let config = config(prefix);
        let store = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let store = S3Store::connect(config).await.unwrap();
                store.create_bucket_if_missing().await.unwrap();
                store
            })
        });
        Arc::new(store) as Arc<dyn BlobStore>
    })
}

conformance_tests!(make(), base);

/// Writes the object `<prefix>/<key>` behind the store's back (any key, even one the store
/// refuses), with the given metadata.
async fn write_raw(store: &S3Store, key: &str, data: Vec<u8>, metadata: &[(&str, String)]) {
    let mut put = store
        .client()
        .put_object()
        .bucket(&store.config().bucket)
        .key(format!("{}/{key}", store.config().prefix))
        .body(ByteStream::from(data));
    for (name, value) in metadata {
        put = put.metadata(*name, value);
    }
    put.send().await.unwrap();
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksum_that_does_not_match_the_bytes_is_caught() {
    let store = store("flip").await;
    let data = conformance::noise(50_000, 9);
    let crc = crc32c::crc32c(&data);
    let mut flipped = data.clone();
    flipped[31_337] ^= 0x10;
    let metadata = [
        ("shoal-crc32c", format!("{crc:08x}")),
        ("shoal-length", data.len().to_string()),
    ];
    write_raw(&store, "snapshot/1", flipped, &metadata).await;

    let err = store.get("snapshot/1").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("snapshot/1") && text.contains("CRC-32C") && text.contains("s3://"),
        "{text}"
    );
    assert!(matches!(
        store.get_tagged("snapshot/1").await,
        Err(Error::Corrupt { .. })
    ));

    let dir = temp_dir();
    let dest = dir.path().join("copy");
    assert!(matches!(
        store.get_to_file("snapshot/1", &dest).await,
        Err(Error::Corrupt { .. })
    ));
    assert!(
        !dest.exists(),
        "a corrupt download never appears under the real name"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the temporary file is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_that_does_not_match_the_recorded_one_is_caught() {
    let store = store("truncated").await;
    let data = vec![7u8; 4000];
    let metadata = [
        ("shoal-crc32c", format!("{:08x}", crc32c::crc32c(&data))),
        ("shoal-length", "4096".to_string()),
    ];
    write_raw(&store, "delta/1-2", data, &metadata).await;
    let err = store.get("delta/1-2").await.unwrap_err();
    assert!(
        err.to_string().contains("4000 bytes, 4096 were stored"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_put_by_another_tool_are_read_without_a_checksum() {
    let store = store("by-hand").await;
    write_raw(&store, "snapshot/3", b"copied in".to_vec(), &[]).await;
    assert_eq!(&store.get("snapshot/3").await.unwrap()[..], b"copied in");
    let head = store.head("snapshot/3").await.unwrap().unwrap();
    assert_eq!((head.size, head.crc32c), (9, None));
    // Objects whose names a store could not have written stay out of listings.
    write_raw(&store, "odd/.hidden", b"x".to_vec(), &[]).await;
    let keys: Vec<_> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["snapshot/3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_records_checksum_and_length() {
    let store = store("metadata").await;
    let data = Bytes::from(conformance::noise(1234, 4));
    store.put("snapshot/1", data.clone()).await.unwrap();
    let head = store
        .client()
        .head_object()
        .bucket(&store.config().bucket)
        .key(store.object_key("snapshot/1").unwrap())
        .send()
        .await
        .unwrap();
    let metadata = head.metadata().unwrap();
    assert_eq!(
        metadata.get("shoal-crc32c").unwrap(),
        &format!("{:08x}", crc32c::crc32c(&data))
    );
    assert_eq!(metadata.get("shoal-length").unwrap(), "1234");
    assert_eq!(
        head.e_tag().unwrap().len(),
        34,
        "a single PUT has an MD5 ETag"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_larger_than_a_part_go_up_in_parts() {
    let store = store("multipart").await;
    let data = Bytes::from(conformance::noise(MIN_PART_SIZE + 4321, 5));
    let info = store.put("snapshot/2", data.clone()).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    let head = store
        .client()
        .head_object()
        .bucket(&store.config().bucket)
        .key(store.object_key("snapshot/2").unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().ends_with("-2\""),
        "a two-part upload: {:?}",
        head.e_tag()
    );
    assert!(store.get("snapshot/2").await.unwrap() == data);
    let info = store.head("snapshot/2").await.unwrap().unwrap();
    assert_eq!(info.crc32c, Some(crc32c::crc32c(&data)));
    // Nothing left half-done.
    assert!(uploads_under(&store, &base("multipart")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_file_upload_leaves_nothing() {
    let store = store("failed-upload").await;
    let dir = temp_dir();
    let err = store
        .put_file("snapshot/1", &dir.path().join("missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(store.head("snapshot/1").await.unwrap(), None);
}

/// Multipart uploads in progress under `prefix`.
async fn uploads_under(store: &S3Store, prefix: &str) -> Vec<String> {
    let listed = store
        .client()
        .list_multipart_uploads()
        .bucket(&store.config().bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    listed
        .uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_string))
        .collect()
}

/// A source that fails after the upload began (a pipe: its checksum pass reads it, then
/// seeking to the first part fails) leaves no multipart upload behind.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_that_fails_is_aborted() {
    let store = store("aborted").await;
    let prefix = base("aborted");
    // The check below has teeth: an upload left open is listed.
    let open = store
        .client()
        .create_multipart_upload()
        .bucket(&store.config().bucket)
        .key(format!("{prefix}/left-open"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        uploads_under(&store, &prefix).await,
        [format!("{prefix}/left-open")]
    );
    store
        .client()
        .abort_multipart_upload()
        .bucket(&store.config().bucket)
        .key(format!("{prefix}/left-open"))
        .upload_id(open.upload_id().unwrap())
        .send()
        .await
        .unwrap();

    let dir = temp_dir();
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // The first writer gives the checksum pass its bytes; the later ones, empty, let every
    // further open of the pipe for reading return (an empty writer adds no bytes, so the
    // checksum pass reads exactly the first writer's, whichever reader it meets).
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (writer_path, writer_done) = (fifo.clone(), done.clone());
    std::thread::spawn(move || {
        use std::io::Write;
        let data = conformance::noise(MIN_PART_SIZE + 1000, 6);
        let mut first = true;
        while !writer_done.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
                if std::mem::take(&mut first) {
                    let _ = pipe.write_all(&data);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let result =
        tokio::time::timeout(Duration::from_secs(60), store.put_file("snapshot/1", &fifo)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let err = result.expect("no hang").unwrap_err();
    assert!(matches!(err, Error::Io { op: "seek", .. }), "{err}");
    assert_eq!(store.head("snapshot/1").await.unwrap(), None);
    assert!(
        uploads_under(&store, &prefix).await.is_empty(),
        "the failed upload was aborted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_crosses_pages_of_seven() {
    let store = store("pages").await;
    assert_eq!(store.config().list_page_size, Some(7));
    for i in 0..22 {
        store
            .put(
                &format!("delta/{i:02}-{:02}", i + 1),
                Bytes::from(vec![1; i]),
            )
            .await
            .unwrap();
    }
    // The server honours max-keys, so the store really walks continuation tokens.
    let first = store
        .client()
        .list_objects_v2()
        .bucket(&store.config().bucket)
        .prefix(format!("{}/delta/", base("pages")))
        .max_keys(7)
        .send()
        .await
        .unwrap();
    assert_eq!(first.contents().len(), 7);
    assert_eq!(first.is_truncated(), Some(true));
    assert!(first.next_continuation_token().is_some());

    let listed = store.list("delta/").await.unwrap();
    assert_eq!(listed.len(), 22);
    assert!(listed.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(listed[21].key, "delta/21-22");
    assert_eq!(listed[21].size, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_names_bucket_and_prefix() {
    let store = store("location").await;
    let (_, bucket) = server();
    assert_eq!(
        store.location(),
        format!("s3://{bucket}/{}", base("location"))
    );
}

/// A port on which nothing listens (bound, read, released).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_there_is_a_clear_remote_error_not_a_hang() {
    let port = dead_port();
    let mut config = config("nowhere");
    config.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    config.max_attempts = 2;
    config.connect_timeout = Duration::from_millis(500);
    let store = S3Store::connect(config).await.unwrap();
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(30), store.get("snapshot/1"))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    let text = err.to_string();
    match &err {
        Error::Remote { op, key, .. } => assert_eq!((*op, key.as_str()), ("get", "snapshot/1")),
        other => panic!("{other:?}"),
    }
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("2 attempt"),
        "{text}"
    );
    let err = store.head("snapshot/1").await.unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
}

/// A bucket that is not there is an error that says so, never "no blob" (which would read as
/// "nothing announced yet").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_named_in_the_error_not_taken_for_a_missing_blob() {
    let mut config = config("x");
    config.bucket = format!("shoal-missing-{}", std::process::id());
    let store = S3Store::connect(config).await.unwrap();
    let err = store.get(ANNOUNCED).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Remote { .. }), "{text}");
    assert!(
        text.contains("404")
            && text.contains("NoSuchBucket")
            && text.contains("bucket does not exist"),
        "{text}"
    );
    assert!(matches!(
        read_announced(&store).await,
        Err(Error::Remote { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_replace_an_existing_file_only_when_whole() {
    let store = store("replace").await;
    let dir = temp_dir();
    let dest: PathBuf = dir.path().join("snapshot-1");
    std::fs::write(&dest, b"old").unwrap();
    store
        .put("snapshot/1", Bytes::from_static(b"new contents"))
        .await
        .unwrap();
    let info = store.get_to_file("snapshot/1", &dest).await.unwrap();
    assert_eq!(info.size, 12);
    assert_eq!(std::fs::read(&dest).unwrap(), b"new contents");
    assert!(store
        .get_to_file("missing", &dest)
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(std::fs::read(&dest).unwrap(), b"new contents");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
