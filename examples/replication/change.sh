#!/usr/bin/env bash
# Makes one change to demo.example on the replication demo's primary
# (run.sh), as an operator would by hand: a control transaction
# (`zonesync ctl zone-begin`, `zone-unset`, `zone-set`, `zone-commit`)
# replacing www.demo.example's TXT record. The primary moves the serial by
# one, journals the change and NOTIFYs the secondaries, which transfer it
# by IXFR; the dashboard shows it spreading. Prints the new serial.
#
#   examples/replication/change.sh [CONTROL_ADDR [TEXT]]
#
# CONTROL_ADDR: the primary's control interface, as run.sh prints it
# (default 127.0.0.1:$((DEMO_PORT + 8)), DEMO_PORT 5350); TEXT: the new TXT
# (default: "demo: changed at HH:MM:SS"). ZONESYNC: the binary, found as
# run.sh finds it (no build here).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZONE=demo.example
CONTROL=${1:-127.0.0.1:$((${DEMO_PORT:-5350} + 8))}
TEXT=${2:-demo: changed at $(date +%H:%M:%S)}

die() { printf 'change.sh: %s\n' "$*" >&2; exit 1; }

if [ -z "${ZONESYNC:-}" ]; then
  ZONESYNC=${CARGO_TARGET_DIR:-$ROOT/target}/release/zonesync
  case $ZONESYNC in /*) ;; *) ZONESYNC=$ROOT/$ZONESYNC ;; esac
  [ -x "$ZONESYNC" ] || ZONESYNC=$(command -v zonesync || true)
fi
[ -n "$ZONESYNC" ] && [ -x "$ZONESYNC" ] || die "no zonesync binary: set ZONESYNC"

ctl() { "$ZONESYNC" ctl --control "$CONTROL" "$@"; }

# A TXT string in presentation form: quoted, with \ and " escaped.
quoted=${TEXT//\\/\\\\}
quoted="\"${quoted//\"/\\\"}\""

ctl zone-begin "$ZONE" >/dev/null || die "cannot open a transaction on $CONTROL (is run.sh running?)"
if ! { ctl zone-unset "$ZONE" www TXT >/dev/null &&
  ctl zone-set "$ZONE" www 300 TXT "$quoted" >/dev/null &&
  out=$(ctl zone-commit "$ZONE"); }; then
  ctl zone-abort "$ZONE" >/dev/null 2>&1 || true
  die "the change failed (transaction aborted)"
fi
# "demo.example: committed, serial 2026010100 -> 2026010101"
[[ $out =~ serial\ ([0-9]+)\ -\>\ ([0-9]+) ]] || die "unexpected answer to zone-commit: $out"
printf 'www.%s TXT %s: serial %s -> %s\n' "$ZONE" "$quoted" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
printf 'new serial %s\n' "${BASH_REMATCH[2]}"
