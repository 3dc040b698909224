#!/usr/bin/env bash
# Makes sure a headless-capable Chromium and its WebDriver are installed (Debian's `chromium`
# and `chromium-driver` packages, for the browser test of `shoal ui`:
# tools/tests/explorer_browser.rs) and prints their paths, one a line.
# Installs them with apt-get when missing (as root, or with sudo when there is one).
#
#   bash scripts/chromium.sh        -> /usr/bin/chromium
#                                      /usr/bin/chromedriver
set -euo pipefail

find_chromium() {
    command -v chromium || command -v chromium-browser || true
}

if [ -z "$(find_chromium)" ] || ! command -v chromedriver >/dev/null; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "chromium is missing and this user cannot install it" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "installing chromium and chromium-driver with apt-get..." >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
fi
bin="$(find_chromium)"
[ -n "$bin" ] || { echo "chromium did not install" >&2; exit 1; }
command -v chromedriver >/dev/null || { echo "chromedriver did not install" >&2; exit 1; }
echo "$bin"
command -v chromedriver
