#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (`cargo install cargo-deb`):
# the binary, then the man pages (gzipped, as Debian wants them) and shell
# completions it generates (so they match it), then
# target/debian/zonesync_*.deb.
# Usage: scripts/build-deb.sh [cargo-deb options, e.g. --fast, -o DIR]
# NO_BUILD=1 packages the binary already built; PROFILE=dev packages the
# debug build (what `cargo test` without --release made).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
case "$profile" in
  release) dir=release ;;
  dev) dir=debug ;;
  *) dir=$profile ;;
esac
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ "${NO_BUILD:-0}" != 1 ]; then
  cargo build --profile "$profile" --locked
fi
out="$target_dir/$dir"
rm -rf "$out/man" "$out/completions"
"$out/zonesync" man --out "$out/man" >/dev/null
gzip -9n "$out"/man/*
mkdir -p "$out/completions"
"$out/zonesync" completions bash >"$out/completions/zonesync.bash"
"$out/zonesync" completions zsh >"$out/completions/_zonesync"
"$out/zonesync" completions fish >"$out/completions/zonesync.fish"
cargo deb --no-build --profile "$profile" "$@"
