#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is installed (Debian's `chromium` package, for the
# browser test of `shoal ui`: tools/tests/explorer_browser.rs) and prints its path.
# Installs it with apt-get when missing (as root, or with sudo when there is one).
#
#   bash scripts/chromium.sh        -> /usr/bin/chromium
set -euo pipefail

find_chromium() {
    command -v chromium || command -v chromium-browser || true
}

bin="$(find_chromium)"
if [ -z "$bin" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "chromium is missing and this user cannot install it" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "installing chromium with apt-get..." >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
    bin="$(find_chromium)"
fi
[ -n "$bin" ] || { echo "chromium did not install" >&2; exit 1; }
echo "$bin"
