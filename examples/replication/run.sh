#!/usr/bin/env bash
# The replication demo: one command starts, on 127.0.0.1 and unprivileged
# ports,
#   - a zonesync primary serving demo.example (demo.example.zone), with its
#     control interface and the replication monitor's dashboard
#     (primary.toml),
#   - a zonesync secondary (secondary.toml),
#   - a second secondary: Knot DNS when knotd is installed (knot.conf), else
#     another zonesync secondary,
# waits until each serves the zone, then prints the dashboard's URL and the
# command that makes a change (change.sh). Ctrl-C (SIGINT) or SIGTERM stops
# every process it started, and removes its work directory.
#
#   examples/replication/run.sh
#
# Environment (all optional):
#   ZONESYNC        the zonesync binary; default $CARGO_TARGET_DIR/release/zonesync
#                   or target/release/zonesync of this checkout, brought up
#                   to date with `cargo build --release` first
#   DEMO_PORT       base port (5350): primary DEMO_PORT, secondaries +1 and
#                   +2, control interface +8, dashboard +9; each can be set
#                   alone: PRIMARY_PORT SECONDARY1_PORT SECONDARY2_PORT
#                   CONTROL_PORT DASHBOARD_PORT
#   DEMO_DIR        work directory (configurations, zone copies, logs, pids);
#                   default a new mktemp -d. Created if missing; must be
#                   empty; removed when the demo stops (unless KEEP=1).
#   DEMO_KNOT=0     no Knot even when knotd is installed
#   DEMO_TIMEOUT    stop by itself after this many seconds (0, default: never)
#   KEEP=1          keep the work directory (logs) after stopping
#
# Run as root, the zonesync servers get `serve --allow-root` (they bind
# only unprivileged loopback ports). $DEMO_DIR/pids lists the started
# processes, one "PID NAME" a line; each logs to $DEMO_DIR/NAME/log.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZONE=demo.example
START_LIMIT=30 # seconds for each server to serve the zone, and for the dashboard

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------- the binary
ZONESYNC_GIVEN=${ZONESYNC:-}
if [ -n "$ZONESYNC_GIVEN" ]; then
  [ -x "$ZONESYNC_GIVEN" ] || die "ZONESYNC=$ZONESYNC_GIVEN is not an executable file"
  ZONESYNC=$ZONESYNC_GIVEN
else
  ZONESYNC=${CARGO_TARGET_DIR:-$ROOT/target}/release/zonesync
  case $ZONESYNC in /*) ;; *) ZONESYNC=$ROOT/$ZONESYNC ;; esac
  # Always through cargo: a no-op when the binary is current, and never a
  # stale binary after a pull.
  say "building zonesync (cargo build --release) ..."
  (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
  [ -x "$ZONESYNC" ] || die "no binary at $ZONESYNC after the build"
fi

# ---------------------------------------------------------------- the ports
DEMO_PORT=${DEMO_PORT:-5350}
PRIMARY_PORT=${PRIMARY_PORT:-$DEMO_PORT}
SECONDARY1_PORT=${SECONDARY1_PORT:-$((DEMO_PORT + 1))}
SECONDARY2_PORT=${SECONDARY2_PORT:-$((DEMO_PORT + 2))}
CONTROL_PORT=${CONTROL_PORT:-$((DEMO_PORT + 8))}
DASHBOARD_PORT=${DASHBOARD_PORT:-$((DEMO_PORT + 9))}
ALL_PORTS=("$PRIMARY_PORT" "$SECONDARY1_PORT" "$SECONDARY2_PORT" "$CONTROL_PORT" "$DASHBOARD_PORT")
for p in "${ALL_PORTS[@]}"; do
  [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1024 ] && [ "$p" -le 65535 ] ||
    die "port $p: ports must be numbers from 1024 to 65535"
done
[ "$(printf '%s\n' "${ALL_PORTS[@]}" | sort -u | wc -l)" -eq ${#ALL_PORTS[@]} ] ||
  die "the five ports must differ: ${ALL_PORTS[*]}"

# `serve` refuses to stay root unless told (--allow-root, in builds that
# have it): the demo runs its servers as whoever runs it.
SERVE_ARGS=()
if [ "$(id -u)" = 0 ]; then
  SERVE_HELP=$("$ZONESYNC" serve --help 2>&1 || true)
  if [[ $SERVE_HELP == *--allow-root* ]]; then SERVE_ARGS=(--allow-root); fi
fi

KNOTD=
if [ "${DEMO_KNOT:-1}" != 0 ]; then
  KNOTD=$(command -v knotd || true)
  for d in /usr/sbin /usr/local/sbin /sbin; do # not always in a user's PATH
    if [ -z "$KNOTD" ] && [ -x "$d/knotd" ]; then KNOTD=$d/knotd; fi
  done
fi

# ----------------------------------------------------- work dir and cleanup
if [ -n "${DEMO_DIR:-}" ]; then
  mkdir -p "$DEMO_DIR"
  [ -z "$(ls -A "$DEMO_DIR")" ] || die "DEMO_DIR=$DEMO_DIR is not empty"
  DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
else
  DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/zonesync-demo.XXXXXX")
fi

PIDS=()     # every server started, in order
NAMES=()    # their names (= their directory under $DEMO_DIR)
SLEEP_PID=  # the main loop's current sleep
: > "$DEMO_DIR/pids"

# Whether PID is running: not gone, not a zombie (a child that exited but
# was not reaped yet).
alive() {
  local stat
  if [ -d /proc/self ]; then
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

stop_all() {
  local pid i
  [ -z "$SLEEP_PID" ] || kill "$SLEEP_PID" 2>/dev/null || true
  [ ${#PIDS[@]} -gt 0 ] || return 0
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do # 10 s at most
    local left=0
    for pid in "${PIDS[@]}"; do if alive "$pid"; then left=1; fi; done
    [ $left = 1 ] || break
    sleep 0.1
  done
  for i in "${!PIDS[@]}"; do
    if alive "${PIDS[$i]}"; then
      say "${NAMES[$i]} (pid ${PIDS[$i]}) did not stop on SIGTERM within 10 s: SIGKILL" >&2
      kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done # reap
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  stop_all
  if [ ${#PIDS[@]} -gt 0 ]; then say "stopped: ${NAMES[*]}"; fi
  if [ "${KEEP:-0}" = 1 ]; then
    say "kept $DEMO_DIR (logs: $DEMO_DIR/*/log)"
  else
    rm -rf "$DEMO_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------- processes
# fill TEMPLATE OUT NAME=VALUE...: the template with each {{NAME}} replaced.
fill() {
  local template=$1 out=$2 text kv
  shift 2
  text=$(<"$template")
  for kv in "$@"; do text=${text//"{{${kv%%=*}}}"/"${kv#*=}"}; done
  if [[ $text =~ \{\{[A-Z0-9_]+\}\} ]]; then die "$template: ${BASH_REMATCH[0]} left unfilled"; fi
  printf '%s\n' "$text" > "$out"
}

# start NAME PROGRAM ARGS...: in the background, cwd and log in $DEMO_DIR/NAME.
start() {
  local name=$1
  shift
  (cd "$DEMO_DIR/$name" && exec "$@" </dev/null >"$DEMO_DIR/$name/log" 2>&1) &
  PIDS+=($!)
  NAMES+=("$name")
  printf '%s %s\n' "$!" "$name" >> "$DEMO_DIR/pids"
}

# The SOA serial 127.0.0.1:PORT serves for the zone, or nothing.
soa_serial() {
  local out
  if command -v dig >/dev/null; then
    out=$(dig +short +norecurse +time=1 +tries=1 -p "$1" @127.0.0.1 "$ZONE" SOA 2>/dev/null || true)
  elif command -v kdig >/dev/null; then
    out=$(kdig +short +norecurse +time=1 +retry=0 -p "$1" @127.0.0.1 "$ZONE" SOA 2>/dev/null || true)
  else # a transfer (every server here allows them from loopback)
    out=$("$ZONESYNC" xfr "$ZONE" --server "127.0.0.1:$1" --timeout 2 2>/dev/null | tail -n 1 || true)
    [[ $out =~ serial\ ([0-9]+) ]] && out="x x ${BASH_REMATCH[1]}" || out=
  fi
  read -r _ _ out _ <<< "$out" || true
  [[ ${out:-} =~ ^[0-9]+$ ]] && printf '%s\n' "$out"
  return 0
}

# The log of a server, for an error.
show_log() {
  say "--- $1's log ($DEMO_DIR/$1/log, last 20 lines):" >&2
  tail -n 20 "$DEMO_DIR/$1/log" >&2 || true
}

# wait_serving NAME PORT: until the server answers the zone's SOA (bounded).
wait_serving() {
  local i serial=
  for ((i = 0; i < START_LIMIT * 4; i++)); do
    alive "${PIDS[-1]}" || { show_log "$1"; die "$1 exited while starting"; }
    serial=$(soa_serial "$2")
    [ -z "$serial" ] || { SERIALS+=("$serial"); return 0; }
    sleep 0.25
  done
  show_log "$1"
  die "$1 does not serve $ZONE on 127.0.0.1:$2 after ${START_LIMIT} s"
}

SERIALS=()
mkdir -p "$DEMO_DIR/primary"
cp "$HERE/demo.example.zone" "$DEMO_DIR/primary/"
fill "$HERE/primary.toml" "$DEMO_DIR/primary/zonesync.toml" \
  PRIMARY_PORT="$PRIMARY_PORT" SECONDARY1_PORT="$SECONDARY1_PORT" \
  SECONDARY2_PORT="$SECONDARY2_PORT" CONTROL_PORT="$CONTROL_PORT" \
  DASHBOARD_PORT="$DASHBOARD_PORT"
start primary "$ZONESYNC" --log info serve --config zonesync.toml "${SERVE_ARGS[@]}"
wait_serving primary "$PRIMARY_PORT"

# The secondaries start once the primary serves: their first transfer
# then succeeds at once instead of waiting for a retry.
mkdir -p "$DEMO_DIR/secondary1"
fill "$HERE/secondary.toml" "$DEMO_DIR/secondary1/zonesync.toml" \
  PORT="$SECONDARY1_PORT" PRIMARY_PORT="$PRIMARY_PORT"
start secondary1 "$ZONESYNC" --log info serve --config zonesync.toml "${SERVE_ARGS[@]}"
wait_serving secondary1 "$SECONDARY1_PORT"

mkdir -p "$DEMO_DIR/secondary2"
if [ -n "$KNOTD" ]; then
  SECONDARY2_KIND="Knot DNS ($("$KNOTD" -V 2>&1 | head -n 1 | sed 's/.*version //'))"
  fill "$HERE/knot.conf" "$DEMO_DIR/secondary2/knot.conf" \
    DIR="$DEMO_DIR/secondary2" PORT="$SECONDARY2_PORT" PRIMARY_PORT="$PRIMARY_PORT"
  start secondary2 "$KNOTD" -c knot.conf
else
  SECONDARY2_KIND=zonesync
  fill "$HERE/secondary.toml" "$DEMO_DIR/secondary2/zonesync.toml" \
    PORT="$SECONDARY2_PORT" PRIMARY_PORT="$PRIMARY_PORT"
  start secondary2 "$ZONESYNC" --log info serve --config zonesync.toml "${SERVE_ARGS[@]}"
fi
wait_serving secondary2 "$SECONDARY2_PORT"

# The dashboard answers (bounded).
http_ok() { # PORT PATH
  if command -v curl >/dev/null; then
    curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1$2" 2>/dev/null
  else
    local reply=
    exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    [[ $reply == "HTTP/1.1 200"* ]]
  fi
}
for ((i = 0; ; i++)); do
  http_ok "$DASHBOARD_PORT" /status && break
  [ $i -lt $((START_LIMIT * 4)) ] || die "no dashboard on 127.0.0.1:$DASHBOARD_PORT after ${START_LIMIT} s"
  sleep 0.25
done

# ------------------------------------------------------------------ report
CHANGE="$HERE/change.sh 127.0.0.1:$CONTROL_PORT"
case $HERE in "$PWD"/*) CHANGE=${CHANGE#"$PWD"/} ;; esac
[ -z "$ZONESYNC_GIVEN" ] || CHANGE="ZONESYNC=$(printf '%q' "$ZONESYNC") $CHANGE"
say "zonesync replication demo: $ZONE, serial ${SERIALS[0]}, on 127.0.0.1 (work directory $DEMO_DIR)"
say "  primary     zonesync  127.0.0.1:$PRIMARY_PORT  (pid ${PIDS[0]}; control 127.0.0.1:$CONTROL_PORT)"
say "  secondary1  zonesync  127.0.0.1:$SECONDARY1_PORT  (pid ${PIDS[1]})"
say "  secondary2  $SECONDARY2_KIND  127.0.0.1:$SECONDARY2_PORT  (pid ${PIDS[2]})"
say "Dashboard: http://127.0.0.1:$DASHBOARD_PORT/"
say "Make a change: $CHANGE"
say "Ask a secondary: dig @127.0.0.1 -p $SECONDARY2_PORT $ZONE SOA +short"
say "Press Ctrl-C to stop everything."

# ------------------------------------------- run until Ctrl-C (or a crash)
DEADLINE=0
[ "${DEMO_TIMEOUT:-0}" = 0 ] || DEADLINE=$((SECONDS + DEMO_TIMEOUT))
while :; do
  for i in "${!PIDS[@]}"; do
    alive "${PIDS[$i]}" || { show_log "${NAMES[$i]}"; die "${NAMES[$i]} (pid ${PIDS[$i]}) exited"; }
  done
  if [ "$DEADLINE" != 0 ] && [ "$SECONDS" -ge "$DEADLINE" ]; then
    say "DEMO_TIMEOUT=$DEMO_TIMEOUT s reached"
    exit 0
  fi
  sleep 1 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
  SLEEP_PID=
done
