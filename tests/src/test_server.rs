//! The S3 test server the tests run against (`scripts/test.sh` starts it and exports where
//! it is): a fresh prefix per test, and the configuration to reach it.

use std::time::Duration;

use shoal_store::S3Config;

const HINT: &str = "run the tests with `bash scripts/test.sh`, which starts the S3 test server";

/// The server's endpoint and bucket, from `SHOAL_TEST_S3_ENDPOINT` and
/// `SHOAL_TEST_S3_BUCKET`; panics with a hint when they are not set (an S3 test that skips
/// silently would leave S3 untested).
pub fn endpoint_and_bucket() -> (String, String) {
    let var =
        |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {HINT}"));
    (var("SHOAL_TEST_S3_ENDPOINT"), var("SHOAL_TEST_S3_BUCKET"))
}

/// A prefix no other test or run uses: `<case>/<pid>-<nanos>`.
pub fn fresh_prefix(case: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{case}/{}-{nanos}", std::process::id())
}

/// A configuration for a fresh prefix under `case` on the test server, watched every
/// `poll`.
pub fn config(case: &str, poll: Duration) -> S3Config {
    let (endpoint, bucket) = endpoint_and_bucket();
    let mut config = S3Config::new(bucket, fresh_prefix(case));
    config.endpoint_url = Some(endpoint);
    config.region = Some("us-east-1".into());
    config.force_path_style = true;
    config.credentials = Some((
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "shoal-test".into()),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "shoal-test-secret".into()),
    ));
    config.poll_interval = poll;
    config
}
