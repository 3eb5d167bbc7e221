#!/usr/bin/env bash
# Runs every test: installs the real DNS servers the tests use as peers,
# then the unit and integration tests (cargo test), with lints first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --release --all-targets
