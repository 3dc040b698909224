#!/usr/bin/env bash
# The one test command: every test of every crate (unit, integration, property, doc tests).
# Installs and starts whatever the tests need, so it works on a fresh machine (today that is
# only the Rust toolchain; the S3 test server joins when the stores land).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
