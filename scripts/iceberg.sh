#!/usr/bin/env bash
# Installs pyiceberg (PyPI, with its SQL catalog on SQLite and pyarrow) into a virtual
# environment under ${SHOAL_CACHE:-$HOME/.cache/shoal} (once: a second run installs nothing)
# and runs a Python program with it.
#
#   bash scripts/iceberg.sh                       installs, prints the venv's python
#   bash scripts/iceberg.sh PROGRAM.py [ARGS...]  installs, then runs PROGRAM.py with ARGS
#
# The Iceberg tests (tools/tests/warehouse_iceberg.rs) run scripts/iceberg/write_catalog.py
# this way. Needs python3 with the venv module (and pip inside it).
set -euo pipefail

cache="${SHOAL_CACHE:-$HOME/.cache/shoal}"
venv="$cache/iceberg-venv"
# The version the tests were written against; a new one replaces it once they pass with it.
pyiceberg_version=0.12.0

fail() {
    echo "iceberg.sh: $*" >&2
    exit 1
}

installed() {
    "$venv/bin/python" -c 'from importlib.metadata import version; print(version("pyiceberg"))' 2>/dev/null
}

if [ "$(installed)" != "$pyiceberg_version" ]; then
    command -v python3 >/dev/null || fail "python3 is needed to install pyiceberg"
    spec="pyiceberg[sql-sqlite,pyarrow]==$pyiceberg_version"
    echo "iceberg.sh: installing $spec into $venv (once)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2 || fail "python3 -m venv $venv failed (install python3-venv)"
    "$venv/bin/python" -m pip install --quiet "$spec" >&2 || fail "pip could not install $spec"
fi
if [ $# -eq 0 ]; then
    echo "$venv/bin/python"
    exit 0
fi
exec "$venv/bin/python" "$@"
