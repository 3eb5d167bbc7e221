# Shared helpers for the bench scripts: start/stop servers pinned to a core,
# wait for an answer, read peak RSS. Every server is stopped by its PID.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZONESYNC=${ZONESYNC:-$ROOT/target/release/zonesync}
# `serve` refuses to stay root without it being said (see src/privileges.rs);
# the benchmarks run their servers as whoever runs them.
ALLOW_ROOT=()
[ "$(id -u)" -ne 0 ] || ALLOW_ROOT=(--allow-root)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi; done; }
trap cleanup EXIT

# XFR_FROM=PREFIX (e.g. 127.0.0.0/8): start_zonesync and start_knot allow
# zone transfers (AXFR/IXFR) from it; unset = none.
XFR_FROM=${XFR_FROM:-}

# need_tools TOOL...: exits saying what to install when a tool is missing.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/install-test-deps.sh)" >&2; exit 1; }
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_serial PORT ZONE SERIAL TIMEOUT_S: until the server answers the SOA with SERIAL.
wait_serial() {
  local end=$((SECONDS + $4))
  while [ $SECONDS -lt $end ]; do
    s=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" SOA 2>/dev/null | awk '{print $3}' || true)
    [ "$s" = "$3" ] && return 0
    sleep 0.02
  done
  echo "server on port $1 did not serve $2 serial $3 within $4 s" >&2; return 1
}

# descendants PID: the process and all its descendants (NSD serves from a
# grandchild: xfrd -> main -> server).
descendants() {
  local p
  echo "$1"
  for p in $(pgrep -P "$1" 2>/dev/null || true); do descendants "$p"; done
}

# cpu_ticks PID [user]: user+system (or user only) clock ticks of a
# process tree. The command name in /proc/PID/stat may hold spaces ("nsd:
# main"): fields are counted after its closing parenthesis.
cpu_ticks() {
  local total=0 p t system=1
  [ "${2:-}" = user ] && system=0
  for p in $(descendants "$1"); do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk -v s=$system '{print $12 + s * $13}')
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# wait_idle PID TIMEOUT_S: until the server uses under 5% of a core over a
# second (work it starts after loading, e.g. zonesync's DNSSEC check of a
# signed zone, must not land in a measurement); at most TIMEOUT_S.
wait_idle() {
  local end=$((SECONDS + $2)) a b
  while [ $SECONDS -lt $end ]; do
    a=$(cpu_ticks "$1"); sleep 1; b=$(cpu_ticks "$1")
    [ $((b - a)) -lt $(($(getconf CLK_TCK) / 20)) ] && return 0
  done
  echo "server $1 still busy after $2 s" >&2
}

# timed_client SERVER_PID CMD: runs the client pipeline CMD (bash, pinned
# to CLIENT_CPU, at most 900 s); sets CLIENT_OUT (its output), CLIENT_S
# (wall seconds) and CLIENT_CPU_S (the user+system seconds of the server
# process meanwhile). Fails as CMD does, CLIENT_OUT holding why.
timed_client() {
  local before t0 t1 after
  before=$(cpu_ticks "$1")
  t0=$EPOCHREALTIME
  CLIENT_OUT=$(timeout 900 taskset -c "$CLIENT_CPU" bash -c "set -o pipefail; $2" 2>&1) || return 1
  t1=$EPOCHREALTIME
  sleep 0.2 # let the server finish the connection before reading its CPU time
  after=$(cpu_ticks "$1")
  CLIENT_S=$(python3 -c "print(f'{$t1 - $t0:.4f}')")
  CLIENT_CPU_S=$(python3 -c "print(f'{($after - $before) / $(getconf CLK_TCK):.2f}')")
}

# xfr_summary CLIENT OUT: "RECORDS MESSAGES" of a transfer client's summary
# line: kdig's ";; Received 532728 B (33 messages, 20000 records)",
# `zonesync xfr`'s ";; 20000 records, 9 messages, 49 ms, …".
xfr_summary() {
  case $1 in
    kdig) echo "$(echo "$2" | sed -n 's/.*, \([0-9]*\) records).*/\1/p') $(echo "$2" | sed -n 's/.*(\([0-9]*\) messages.*/\1/p')" ;;
    zonesync-xfr) echo "$(echo "$2" | sed -n 's/^;; \([0-9]*\) records.*/\1/p') $(echo "$2" | sed -n 's/.*records, \([0-9]*\) messages.*/\1/p')" ;;
  esac
}

# timed_transfer SERVER_PID CLIENT CMD WHAT LOG: one whole transfer of a
# zone of EXPECT records by CLIENT (kdig or zonesync-xfr) running CMD,
# timed by timed_client; checks that it brought every record and the
# closing SOA; sets XFR_MESSAGES. WHAT names it in errors, followed by
# the tail of the server's LOG.
timed_transfer() {
  local records
  timed_client "$1" "$3" || {
    echo "$4 failed: $CLIENT_OUT" >&2; tail -5 "$5" >&2 || true; return 1; }
  read -r records XFR_MESSAGES <<< "$(xfr_summary "$2" "$CLIENT_OUT")"
  if [ "${records:-0}" != $((EXPECT + 1)) ]; then
    echo "$4: got '${records:-?}' records, expected $((EXPECT + 1)): $CLIENT_OUT" >&2; return 1
  fi
}

peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

start_zonesync() { # DIR PORT ZONE FILE; sets SERVER_PID
  cat > "$1/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$2"]
data_dir = "$1/zs-data"
udp_workers = ${UDP_WORKERS:-1}
${ZONESYNC_SERVER_LINES:-}
[[zone]]
name = "$3"
file = "$4"
role = "primary"
${XFR_FROM:+allow_transfer = [{ from = \"$XFR_FROM\" \}]}
CONF
  taskset -c "$SERVER_CPU" "$ZONESYNC" --log warn serve --config "$1/zonesync.toml" "${ALLOW_ROOT[@]}" >"$1/zonesync.log" 2>&1 &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
}

start_knot() { # DIR PORT ZONE FILE; sets SERVER_PID
  mkdir -p "$1/knot"
  cat > "$1/knot.conf" <<CONF
server:
    rundir: "$1/knot"
    listen: 127.0.0.1@$2
    udp-workers: ${UDP_WORKERS:-1}
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$1/knot"
log:
  - target: stderr
    any: warning
${XFR_FROM:+acl:
  - id: xfr
    address: $XFR_FROM
    action: transfer}
zone:
  - domain: $3
    file: "$4"
${XFR_FROM:+    acl: xfr}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
CONF
  taskset -c "$SERVER_CPU" knotd -c "$1/knot.conf" >"$1/knot.log" 2>&1 &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
}

start_nsd() { # DIR PORT ZONE FILE; sets SERVER_PID
  mkdir -p "$1/nsd"
  cat > "$1/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$2
    server-count: ${UDP_WORKERS:-1}
    username: ""
    zonesdir: "$1"
    database: ""
    pidfile: "$1/nsd/nsd.pid"
    xfrdfile: "$1/nsd/xfrd.state"
    zonelistfile: "$1/nsd/zone.list"
    logfile: "$1/nsd.log"
    verbosity: 0
    # Debian builds NSD with response-rate limiting on; it would throttle the benchmark.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $3
    zonefile: "$4"
CONF
  taskset -c "$SERVER_CPU" nsd -d -c "$1/nsd.conf" >>"$1/nsd.log" 2>&1 &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# stop_server PID: stop_pid, and drop PID from PIDS so the exit trap does
# not signal the number again (it may have been reused by then).
stop_server() {
  local i
  stop_pid "$1"
  for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" != "$1" ] || unset "PIDS[$i]"; done
}

# vm_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS now, VmHWM peak).
vm_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# prop_driver OUT: writes bench/propagation.sh's change driver (rewrite the
# zone file, signal the primary, poll the secondary's SOA every 1 ms) to OUT,
# copied out of that script so the two scripts run the same code. Each
# change is bounded by PROP_LIMIT_S (10 s unless set in the environment).
prop_driver() {
  awk '/^cat > "\$DIR\/prop\.py" <</ {on = 1; next} on && /^PY$/ {exit} on' "$ROOT/bench/propagation.sh" > "$1"
  grep -q '^LIMIT = 10\.0 ' "$1" && grep -q '^def poll(' "$1" ||
    { echo "prop_driver: no driver found in bench/propagation.sh" >&2; return 1; }
  sed -i 's/^LIMIT = 10\.0 /LIMIT = float(os.environ.get("PROP_LIMIT_S", "10")) /' "$1"
}
