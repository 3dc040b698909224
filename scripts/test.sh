#!/usr/bin/env bash
# The one test command: every test of every crate (unit, integration, property, doc tests),
# with every feature on, so the S3 store runs too. Installs and starts what the tests need,
# so it works on a fresh machine: the S3 test server (scripts/s3-server.sh: moto from PyPI in
# a virtual environment under ${SHOAL_CACHE:-$HOME/.cache/shoal}; SHOAL_S3_SERVER=seaweedfs
# for SeaweedFS instead), stopped on exit; and PySpark for the Spark test
# (scripts/spark.sh: pyspark from PyPI in a virtual environment beside it, Java 17 with
# apt-get when `java` is missing) and pyiceberg for the Iceberg test (scripts/iceberg.sh).
#
#   bash scripts/test.sh [cargo test arguments]     e.g. -p shoal-store
set -euo pipefail
cd "$(dirname "$0")/.."

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/shoal-test.XXXXXX")"
stop_server() {
    if [ -s "$run_dir/s3-server.pid" ]; then
        local pid
        pid="$(cat "$run_dir/s3-server.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$run_dir"
}
trap stop_server EXIT

# The test server's keys (moto takes any; SeaweedFS is started with these). Never look for
# real credentials or instance metadata.
export AWS_ACCESS_KEY_ID=shoal-test AWS_SECRET_ACCESS_KEY=shoal-test-secret AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export SHOAL_TEST_S3_BUCKET="${SHOAL_TEST_S3_BUCKET:-shoal-test}"
SHOAL_TEST_S3_ENDPOINT="$(bash scripts/s3-server.sh "$run_dir/s3-server.pid" | tail -n 1)"
export SHOAL_TEST_S3_ENDPOINT

# Installed here, once, rather than inside the first test that runs a Spark job or writes
# an Iceberg table.
bash scripts/spark.sh >/dev/null
bash scripts/iceberg.sh >/dev/null

# The whole workspace unless the arguments pick packages (`-p shoal-store`).
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
    -p* | --package*) scope=() ;;
    esac
done
cargo test "${scope[@]}" --all-features "$@"
