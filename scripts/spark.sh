#!/usr/bin/env bash
# Installs PySpark (PyPI) into a virtual environment under ${SHOAL_CACHE:-$HOME/.cache/shoal}
# (once: a second run installs nothing) and runs a PySpark program with it in local mode, on
# the machine's Java 17 (installed with apt-get only when `java` is missing).
#
#   bash scripts/spark.sh                       installs, prints the venv's python
#   bash scripts/spark.sh PROGRAM.py [ARGS...]  installs, then runs PROGRAM.py with ARGS
#
# The Spark tests (tools/tests/warehouse_spark.rs) run scripts/spark/write_catalog.py this
# way. Needs python3 with the venv module (and pip inside it).
set -euo pipefail

cache="${SHOAL_CACHE:-$HOME/.cache/shoal}"
venv="$cache/spark-venv"
# The version the tests were written against; a new one replaces it once they pass with it.
pyspark_version=4.3.0

fail() {
    echo "spark.sh: $*" >&2
    exit 1
}

install_java() {
    command -v java >/dev/null && return
    command -v apt-get >/dev/null || fail "java is missing and apt-get is not here: install a Java 17 runtime"
    echo "spark.sh: installing openjdk-17-jre-headless (once)" >&2
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq openjdk-17-jre-headless >&2 ||
        fail "apt-get could not install openjdk-17-jre-headless"
}

install_pyspark() {
    if [ "$("$venv/bin/python" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null)" = "$pyspark_version" ]; then
        return
    fi
    command -v python3 >/dev/null || fail "python3 is needed to install pyspark"
    echo "spark.sh: installing pyspark==$pyspark_version into $venv (once)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2 || fail "python3 -m venv $venv failed (install python3-venv)"
    "$venv/bin/python" -m pip install --quiet "pyspark==$pyspark_version" >&2 ||
        fail "pip could not install pyspark==$pyspark_version into $venv"
}

install_java
install_pyspark
if [ $# -eq 0 ]; then
    echo "$venv/bin/python"
    exit 0
fi
# Local mode, no web UI, quiet logs; the driver binds to loopback.
export PYSPARK_PYTHON="$venv/bin/python" SPARK_LOCAL_IP=127.0.0.1
exec "$venv/bin/python" "$@"
