#!/usr/bin/env bash
# Installs and starts a real S3-compatible server on 127.0.0.1 for the tests: moto's server
# (PyPI `moto[server]`, in memory, accepts any key), in a virtual environment under
# ${SHOAL_CACHE:-$HOME/.cache/shoal}/s3-venv so a second run skips the install.
#
#   bash scripts/s3-server.sh [PID_FILE]
#
# Picks a free port, waits (at most ~30 s) until the server answers, creates the bucket
# ${SHOAL_TEST_S3_BUCKET:-shoal-test} and prints the endpoint (http://127.0.0.1:PORT) as the
# last line of its standard output. The server keeps running in the background; its process
# id goes to PID_FILE (default: <cache>/s3-server.pid) and its log beside it, and whoever
# started it stops it (scripts/test.sh does, in a trap). Exits non-zero with a message on
# standard error when it cannot install or start the server.
#
# Needs python3 with the venv module (and pip inside it); nothing else.
set -euo pipefail

cache="${SHOAL_CACHE:-$HOME/.cache/shoal}"
venv="$cache/s3-venv"
pid_file="${1:-$cache/s3-server.pid}"
log="${pid_file%.pid}.log"
bucket="${SHOAL_TEST_S3_BUCKET:-shoal-test}"
# The version checked against aws-sdk-s3 (multipart, ranges, paging, If-None-Match and
# If-Match answering 412); a new one is checked by the S3 tests before it replaces it.
moto_version=5.2.5
moto_spec="moto[server]==$moto_version"

fail() {
    echo "s3-server.sh: $*" >&2
    exit 1
}

install() {
    if [ -x "$venv/bin/moto_server" ] &&
        [ "$("$venv/bin/python" -c 'import moto.server, moto; print(moto.__version__)' 2>/dev/null)" = "$moto_version" ]; then
        return
    fi
    command -v python3 >/dev/null || fail "python3 is needed to install the S3 test server"
    echo "s3-server.sh: installing $moto_spec into $venv (once)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2 ||
        fail "python3 -m venv $venv failed (install python3-venv)"
    "$venv/bin/python" -m pip install --quiet "$moto_spec" >&2 ||
        fail "pip could not install $moto_spec into $venv"
    [ -x "$venv/bin/moto_server" ] || fail "moto installed but $venv/bin/moto_server is missing"
}

free_port() {
    "$venv/bin/python" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# PUT /<bucket> creates the bucket (moto takes any signature); 409 means it is already there.
create_bucket() {
    "$venv/bin/python" - "$1" "$bucket" <<'EOF'
import sys, urllib.request, urllib.error
endpoint, bucket = sys.argv[1], sys.argv[2]
request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
try:
    urllib.request.urlopen(request, timeout=5).read()
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"creating bucket {bucket} at {endpoint}: HTTP {e.code}: {e.read()[:300]!r}")
EOF
}

answers() {
    "$venv/bin/python" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/", timeout=1).read()
EOF
}

install
mkdir -p "$(dirname "$pid_file")"
port="$(free_port)"
endpoint="http://127.0.0.1:$port"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
server=$!
echo "$server" >"$pid_file"

for _ in $(seq 1 150); do
    if answers "$endpoint"; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        tail -n 20 "$log" >&2 || true
        fail "moto_server exited at start (log: $log)"
    fi
    sleep 0.2
done
if ! answers "$endpoint"; then
    kill "$server" 2>/dev/null || true
    tail -n 20 "$log" >&2 || true
    fail "moto_server did not answer on $endpoint within 30 s (log: $log)"
fi
if ! create_bucket "$endpoint"; then
    kill "$server" 2>/dev/null || true
    fail "could not create the test bucket $bucket"
fi
echo "s3-server.sh: S3 server (moto, pid $server) on $endpoint, bucket $bucket" >&2
echo "$endpoint"
