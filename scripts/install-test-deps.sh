#!/usr/bin/env bash
# Installs the Debian packages the tests talk to (real peers: Knot DNS,
# BIND 9, NSD; client tools; dnsperf for bench/; chromium and its
# WebDriver for the monitor dashboard's browser test; prometheus for
# promtool, which tests/promtool.rs runs). A policy-rc.d that returns 101
# keeps the packages' own daemons (prometheus's too) from starting.
# systemd-analyze, man and setpriv check the unit, the man pages and
# binding port 53 without root (tests/packaging.rs, tests/privileges.rs);
# cargo-deb builds the Debian package there.
set -euo pipefail
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked --version 3.8.0
fi
pkgs=(knot knot-dnsutils nsd bind9 bind9-dnsutils bind9-utils ldnsutils dnsperf chromium chromium-driver
  prometheus # promtool for the metrics-naming test
  openssl # certificates made at test time (tests/xot.rs)
  systemd man-db util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
