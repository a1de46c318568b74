#!/bin/sh
# Installs the Debian packages chaejeom builds and runs with, if any is missing.
set -e
PKGS="build-essential pkg-config libopenblas-dev libopenblas-openmp-dev libsqlite3-dev zlib1g-dev libcurl4-openssl-dev libjansson-dev libpcre2-dev libmicrohttpd-dev sqlite3 gnuplot-nox"
# The test suite also renders the HTML report in a headless browser, parses
# JUnit XML with python3, and fuzzes with clang's libFuzzer.
[ "${1:-}" = "--test" ] && PKGS="$PKGS python3 chromium clang libclang-rt-dev valgrind"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "chaejeom: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
