#!/usr/bin/env bash
# zonesync as a secondary, with Knot DNS as the anchor. Four parts in one
# run, on loopback; primaries pinned to CPU $SERVER_CPU, secondaries and
# pollers to CPU $CLIENT_CPU; every server stopped by its PID.
#   1. Propagation, RECORDS (10,000)-record zone: Z = zonesync primary ->
#      zonesync secondary, K = Knot primary -> Knot secondary, side by side,
#      CHANGES (20) changes each, alternating. bench/propagation.sh's driver
#      (lib.sh prop_driver): rewrite the zone file (one A record, serial + 1),
#      T0, kill -HUP (Z) or knotc zone-reload (K), poll the secondary's SOA
#      every 1 ms until it answers the new serial (T1); latency = T1 - T0.
#   2. One-record IXFR into a RECORDS_BIG (1,000,000)-record zone: the Z
#      pair, then the K pair (one pair at a time): initial AXFR, then
#      CHANGES_BIG (10) changes with the same driver. Per change: latency,
#      and the transfer and refresh times the secondary logged; the
#      secondary's RSS (VmRSS) and peak (VmHWM) after the initial AXFR and
#      after the changes.
#   3. AXFR in of the RECORDS_BIG zone from one primary (AXFR_PRIMARY:
#      zonesync, the default, or knot): a fresh zonesync secondary and a
#      fresh Knot secondary, AXFR_REPS (3) times each, alternating. Seconds
#      from starting the process to it answering the serial (SOA poll every
#      10 ms), and its peak RSS (VmHWM) 1 s later.
#   4. A restart from the secondary's own copy of the RECORDS_BIG zone:
#      each secondary transfers it, is stopped by SIGTERM and started
#      again; zonesync loads its snapshot, Knot its journal (here with
#      journal-content: all, zonefile-load: none). Seconds from the second
#      start to answering the serial, and the peak RSS 1 s later.
#   bench/secondary.sh [CHANGES=20]
#   env: RECORDS=10000 RECORDS_BIG=1000000 CHANGES_BIG=10 AXFR_REPS=3
#        AXFR_PRIMARY=zonesync|knot NOTIFY_DELAY_MS=0 SETTLE_MS=1100
#        BIG_LIMIT_S=120 (bound per change and per AXFR in part 2 and 3)
#        KEEP=1 (keep the temp dir with every server's log)
# The Knot secondaries keep nothing on disk (journal-content: none,
# zonefile-sync: -1, as in bench/propagation.sh); a zonesync secondary
# writes its snapshot (after an AXFR) and journal (after an IXFR) under
# data_dir (here in /tmp) before it serves the new version.
source "$(dirname "$0")/lib.sh"
CHANGES=${1:-${CHANGES:-20}}
RECORDS=${RECORDS:-10000}
RECORDS_BIG=${RECORDS_BIG:-1000000}
CHANGES_BIG=${CHANGES_BIG:-10}
AXFR_REPS=${AXFR_REPS:-3}
AXFR_PRIMARY=${AXFR_PRIMARY:-zonesync}
NOTIFY_DELAY_MS=${NOTIFY_DELAY_MS:-0}
# Pause before each change: a Knot 3.2 secondary NOTIFYed within a second of
# its previous refresh waits for a timer (see bench/propagation.sh).
SETTLE_MS=${SETTLE_MS:-1100}
BIG_LIMIT_S=${BIG_LIMIT_S:-120}
ZONE=example.com
SERIAL=2026010101
XFR_FROM=127.0.0.0/8 # for lib.sh's start_zonesync / start_knot (part 3's primary)
case $AXFR_PRIMARY in zonesync|knot) ;; *) echo "AXFR_PRIMARY must be zonesync or knot" >&2; exit 2 ;; esac
DIR=$(mktemp -d /tmp/zonesync-secondary.XXXXXX)
trap 'cleanup; if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
need_tools knotd knotc dig
prop_driver "$DIR/prop.py"

# --- servers. Configs: DIR PORT ...; run_*: DIR CPU, sets SERVER_PID.
zs_primary() { # DIR PORT ZONEFILE NOTIFY_PORT
  cat > "$1/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$2"]
data_dir = "$1/data"
udp_workers = 1
notify_delay_ms = $NOTIFY_DELAY_MS
[[zone]]
name = "$ZONE"
file = "$3"
role = "primary"
serial_policy = "keep"
allow_transfer = [{ from = "127.0.0.0/8" }]
notify = ["127.0.0.1:$4"]
CONF
}
zs_secondary() { # DIR PORT PRIMARY_PORT CONTROL_PORT
  cat > "$1/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$2"]
data_dir = "$1/data"
udp_workers = 1
notify_delay_ms = $NOTIFY_DELAY_MS
control = "127.0.0.1:$4"
[[zone]]
name = "$ZONE"
role = "secondary"
primaries = [{ address = "127.0.0.1:$3" }]
allow_transfer = [{ from = "127.0.0.0/8" }]
CONF
}
run_zs() {
  taskset -c "$2" "$ZONESYNC" --log info serve --config "$1/zonesync.toml" "${ALLOW_ROOT[@]}" >"$1/zonesync.log" 2>&1 &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
}
knot_primary() { # DIR PORT ZONEFILE NOTIFY_PORT (zone-file differences journaled, served as IXFR)
  cat > "$1/knot.conf" <<CONF
server:
    rundir: "$1"
    listen: 127.0.0.1@$2
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$1/knot.sock"
database:
    storage: "$1"
log:
  - target: stderr
    any: info
remote:
  - id: secondary
    address: 127.0.0.1@$4
acl:
  - id: transfer
    address: 127.0.0.0/8
    action: transfer
zone:
  - domain: $ZONE
    file: "$3"
    notify: secondary
    acl: transfer
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
CONF
}
knot_secondary() { # DIR PORT PRIMARY_PORT (the same as bench/propagation.sh's)
  cat > "$1/knot.conf" <<CONF
server:
    rundir: "$1"
    listen: 127.0.0.1@$2
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$1"
log:
  - target: stderr
    any: info
remote:
  - id: primary
    address: 127.0.0.1@$3
acl:
  - id: notify
    address: 127.0.0.0/8
    action: notify
zone:
  - domain: $ZONE
    master: primary
    acl: notify
    file: "$1/$ZONE.zone"
    zonefile-sync: -1
    journal-content: none
CONF
}
knot_secondary_kept() { # DIR PORT PRIMARY_PORT: keeps the zone in its journal and loads it from there
  knot_secondary "$@"
  sed -i 's/    journal-content: none/    journal-content: all\n    zonefile-load: none/' "$1/knot.conf"
}
run_knot() {
  taskset -c "$2" knotd -c "$1/knot.conf" >"$1/knot.log" 2>&1 &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
}

# start_pair DIR KIND ZONEFILE: KIND (zs|knot) primary on SERVER_CPU and
# secondary on CLIENT_CPU, each serving SERIAL; sets PRI_PID SEC_PID SEC_PORT
# HOW (the driver's signal spec) PRI_LOG SEC_LOG.
start_pair() {
  local d=$1 pport cport
  mkdir -p "$d/p" "$d/s"
  pport=$(free_port); SEC_PORT=$(free_port); cport=$(free_port)
  if [ "$2" = zs ]; then
    zs_primary "$d/p" "$pport" "$3" "$SEC_PORT"; run_zs "$d/p" "$SERVER_CPU"; PRI_PID=$SERVER_PID
    HOW=hup:$PRI_PID; PRI_LOG=$d/p/zonesync.log; SEC_LOG=$d/s/zonesync.log
  else
    knot_primary "$d/p" "$pport" "$3" "$SEC_PORT"; run_knot "$d/p" "$SERVER_CPU"; PRI_PID=$SERVER_PID
    HOW=knotc:$d/p/knot.sock; PRI_LOG=$d/p/knot.log; SEC_LOG=$d/s/knot.log
  fi
  # The secondary starts once the primary serves (else its first refresh
  # fails and waits for a retry); it begins with an AXFR.
  wait_serial "$pport" $ZONE $SERIAL 600
  if [ "$2" = zs ]; then zs_secondary "$d/s" "$SEC_PORT" "$pport" "$cport"; run_zs "$d/s" "$CLIENT_CPU"
  else knot_secondary "$d/s" "$SEC_PORT" "$pport"; run_knot "$d/s" "$CLIENT_CPU"; fi
  SEC_PID=$SERVER_PID
  wait_serial "$SEC_PORT" $ZONE $SERIAL 600
}

declare -A SKIP # log lines written before the changes
mark() { local f; for f in "$@"; do SKIP[$f]=$(wc -l < "$f"); done; }
since() { tail -n +$((SKIP[$1] + 1)) "$1"; }
# warnings LABEL LOG...: warning/error lines logged since mark.
warnings() {
  local label=$1 f bad; shift
  for f in "$@"; do
    bad=$(since "$f" | grep -i 'warn\|error\|fail' || true)
    [ -z "$bad" ] || { echo "--- $label: warnings/errors in ${f#$DIR/}:"; echo "$bad" | tail -10; }
  done
}
# drive LIMIT_S CHANGES SETUP...: bench/propagation.sh's driver, pinned to CLIENT_CPU.
drive() {
  local limit=$1 n=$2; shift 2
  PROP_LIMIT_S=$limit taskset -c "$CLIENT_CPU" timeout $((n * $# * (SETTLE_MS / 1000 + limit + 12) + 30)) \
    python3 "$DIR/prop.py" "$n" "$SETTLE_MS" "$SERIAL" "$@"
}

# serving.py PORT SERIAL LIMIT_S: polls the SOA over UDP every 10 ms; prints
# the wall-clock time (seconds since the epoch) of the first answer with SERIAL.
cat > "$DIR/serving.py" <<'PY'
import random, socket, struct, sys, time
port, serial, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def query(qid):
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 6, 1)
def skip_name(m, i):
    while True:
        n = m[i]
        if n & 0xC0 == 0xC0:
            return i + 2
        if n == 0:
            return i + 1
        i += n + 1
def soa_serial(m, qid):
    try:
        rid, flags, qd, an = struct.unpack(">HHHH", m[:8])
        if rid != qid or flags & 0xF != 0 or an < 1:
            return None
        i = 12
        for _ in range(qd):
            i = skip_name(m, i) + 4
        i = skip_name(m, i)
        if struct.unpack(">H", m[i:i + 2])[0] != 6:
            return None
        i = skip_name(m, skip_name(m, i + 10))
        return struct.unpack(">I", m[i:i + 4])[0]
    except (IndexError, struct.error):
        return None
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
qid = random.randrange(65536)
end = time.monotonic() + limit
while time.monotonic() < end:
    qid = (qid + 1) & 0xFFFF
    try:
        s.send(query(qid))
    except ConnectionRefusedError:
        pass
    deadline = time.monotonic() + 0.01
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            m = s.recv(4096)
        except socket.timeout:
            break
        except ConnectionRefusedError:  # not listening yet
            continue
        if soa_serial(m, qid) == serial:
            print(f"{time.time():.6f}")
            sys.exit(0)
sys.exit(f"port {port}: no SOA with serial {serial} within {limit} s")
PY

echo "machine: $(nproc) cores, $(uname -r); $(knotd -V 2>&1 | head -1); $ZONESYNC"
echo "primaries on CPU $SERVER_CPU, secondaries and pollers on CPU $CLIENT_CPU; zonesync notify_delay_ms = $NOTIFY_DELAY_MS; pause $SETTLE_MS ms before each change"

# ---------------------------------------------------------------- part 1
mkdir -p "$DIR/p1"
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/p1/zone"
cp "$DIR/p1/zone" "$DIR/p1/z.zone"; cp "$DIR/p1/zone" "$DIR/p1/k.zone"
start_pair "$DIR/p1/z" zs "$DIR/p1/z.zone"; Z_PRI=$PRI_PID Z_SEC=$SEC_PID Z_PORT=$SEC_PORT Z_HOW=$HOW Z_PLOG=$PRI_LOG Z_SLOG=$SEC_LOG
start_pair "$DIR/p1/k" knot "$DIR/p1/k.zone"; K_PRI=$PRI_PID K_SEC=$SEC_PID K_PORT=$SEC_PORT K_HOW=$HOW K_PLOG=$PRI_LOG K_SLOG=$SEC_LOG
echo
echo "=== part 1: propagation, $(grep -vc '^\$' "$DIR/p1/zone")-record zone, $CHANGES changes per setup (Z = zonesync -> zonesync, K = Knot -> Knot)"
mark "$Z_PLOG" "$Z_SLOG" "$K_PLOG" "$K_SLOG"
drive 10 "$CHANGES" "Z,$DIR/p1/z.zone,$Z_PORT,$Z_HOW" "K,$DIR/p1/k.zone,$K_PORT,$K_HOW" | tee "$DIR/p1.results"
sleep 0.5 # let the logs catch up
since "$Z_SLOG" > "$DIR/p1-Z.log"; since "$K_SLOG" > "$DIR/p1-K.log"
c() { since "$2" | grep -c -- "$1" || true; }
echo "primary Z (zonesync) sent: $(c 'IXFR (incremental) sent' "$Z_PLOG") IXFR incremental, $(c 'IXFR (full zone) sent' "$Z_PLOG") IXFR full zone, $(c 'AXFR sent' "$Z_PLOG") AXFR"
echo "primary K (Knot) sent: $(c 'IXFR, outgoing.*finished' "$K_PLOG") IXFR, $(c 'AXFR, outgoing.*finished' "$K_PLOG") AXFR"
warnings "part 1" "$Z_PLOG" "$Z_SLOG" "$K_PLOG" "$K_SLOG"
for p in $Z_SEC $Z_PRI $K_SEC $K_PRI; do stop_server "$p"; done

# ---------------------------------------------------------------- part 3 (before part 2: the primary at its first serial)
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS_BIG" "$DIR/big.zone"
BIG=$(grep -vc '^\$' "$DIR/big.zone")
echo
echo "=== part 3: AXFR in of a $BIG-record zone ($(du -h "$DIR/big.zone" | cut -f1)) from a $AXFR_PRIMARY primary, $AXFR_REPS runs per secondary"
mkdir -p "$DIR/p3"
P3_PORT=$(free_port)
start_$AXFR_PRIMARY "$DIR/p3" "$P3_PORT" $ZONE "$DIR/big.zone"; P3_PID=$SERVER_PID
wait_serial "$P3_PORT" $ZONE $SERIAL 600
# axfr_in KIND REP: a fresh secondary; appends "kind rep seconds hwm_kb rss_kb log".
axfr_in() {
  local d=$DIR/p3/$1-$2 port t0 t1 pid log
  mkdir -p "$d"; port=$(free_port)
  if [ "$1" = zonesync ]; then zs_secondary "$d" "$port" "$P3_PORT" "$(free_port)"; log=$d/zonesync.log
  else knot_secondary "$d" "$port" "$P3_PORT"; log=$d/knot.log; fi
  t0=$EPOCHREALTIME
  if [ "$1" = zonesync ]; then run_zs "$d" "$CLIENT_CPU"; else run_knot "$d" "$CLIENT_CPU"; fi
  pid=$SERVER_PID
  if ! t1=$(taskset -c "$CLIENT_CPU" python3 "$DIR/serving.py" "$port" $SERIAL "$BIG_LIMIT_S"); then
    tail -5 "$log" >&2; stop_server "$pid"; return 1
  fi
  sleep 1 # the peak after the switch, if any
  local hwm rss
  hwm=$(vm_kb "$pid" VmHWM); rss=$(vm_kb "$pid" VmRSS)
  stop_server "$pid"
  echo "$1 $2 $(python3 -c "print(f'{$t1 - $t0:.3f}')") $hwm $rss $log" | tee -a "$DIR/p3.results"
  rm -rf "$d/data" "$d/journal" "$d/timers" # the logs stay
}
echo "secondary run seconds peak_rss_kb rss_kb log"
for rep in $(seq 1 "$AXFR_REPS"); do
  for kind in zonesync knot; do axfr_in $kind "$rep"; done
done

# ---------------------------------------------------------------- part 4: a restart from what the secondary kept
echo
echo "=== part 4: restart of a secondary of the $BIG-record zone from its own copy (zonesync: snapshot; Knot: journal), $AXFR_REPS runs per secondary"
# from_disk KIND REP: a secondary transfers the zone, is stopped (SIGTERM),
# and started again; appends "kind rep seconds hwm_kb rss_kb log" of the
# second start (start -> it serves the serial, peak RSS 1 s later).
from_disk() {
  local d=$DIR/p4/$1-$2 port t0 t1 pid log
  mkdir -p "$d"; port=$(free_port)
  if [ "$1" = zonesync ]; then zs_secondary "$d" "$port" "$P3_PORT" "$(free_port)"; log=$d/zonesync.log
  else knot_secondary_kept "$d" "$port" "$P3_PORT"; log=$d/knot.log; fi
  if [ "$1" = zonesync ]; then run_zs "$d" "$CLIENT_CPU"; else run_knot "$d" "$CLIENT_CPU"; fi
  pid=$SERVER_PID
  taskset -c "$CLIENT_CPU" python3 "$DIR/serving.py" "$port" $SERIAL "$BIG_LIMIT_S" >/dev/null || { tail -5 "$log" >&2; stop_server "$pid"; return 1; }
  if [ "$1" = knot ]; then # it stores the zone in its journal after serving it
    for _ in $(seq 1 600); do grep -q 'zone stored to journal' "$log" && break; sleep 0.1; done
  fi
  stop_server "$pid"
  mv "$log" "$log.first"
  t0=$EPOCHREALTIME
  if [ "$1" = zonesync ]; then run_zs "$d" "$CLIENT_CPU"; else run_knot "$d" "$CLIENT_CPU"; fi
  pid=$SERVER_PID
  if ! t1=$(taskset -c "$CLIENT_CPU" python3 "$DIR/serving.py" "$port" $SERIAL "$BIG_LIMIT_S"); then
    tail -5 "$log" >&2; stop_server "$pid"; return 1
  fi
  sleep 1
  local hwm rss
  hwm=$(vm_kb "$pid" VmHWM); rss=$(vm_kb "$pid" VmRSS)
  stop_server "$pid"
  echo "$1 $2 $(python3 -c "print(f'{$t1 - $t0:.3f}')") $hwm $rss $log" | tee -a "$DIR/p4.results"
  rm -rf "$d/data" "$d/journal" "$d/timers"
}
echo "secondary run seconds peak_rss_kb rss_kb log"
for rep in $(seq 1 "$AXFR_REPS"); do
  for kind in zonesync knot; do from_disk $kind "$rep"; done
done
stop_server "$P3_PID"

# ---------------------------------------------------------------- part 2
echo
echo "=== part 2: one-record IXFR into the $BIG-record zone, $CHANGES_BIG changes per setup, one pair at a time"
: > "$DIR/p2.rss"
for S in Z K; do # not $s: lib.sh wait_serial sets it
  mkdir -p "$DIR/p2/$S"; cp "$DIR/big.zone" "$DIR/p2/$S.zone"
  if [ "$S" = Z ]; then start_pair "$DIR/p2/$S" zs "$DIR/p2/$S.zone"; else start_pair "$DIR/p2/$S" knot "$DIR/p2/$S.zone"; fi
  sleep 1 # the secondary done with its AXFR
  before="$(vm_kb "$SEC_PID" VmRSS) $(vm_kb "$SEC_PID" VmHWM)"
  # Peak RSS from here on: writing 5 to clear_refs resets VmHWM to VmRSS.
  reset=1; echo 5 2>/dev/null > "/proc/$SEC_PID/clear_refs" || reset=0
  mark "$PRI_LOG" "$SEC_LOG"
  drive "$BIG_LIMIT_S" "$CHANGES_BIG" "$S,$DIR/p2/$S.zone,$SEC_PORT,$HOW" | tee -a "$DIR/p2.results"
  sleep 1
  echo "$S $before $(vm_kb "$SEC_PID" VmRSS) $(vm_kb "$SEC_PID" VmHWM) $reset" >> "$DIR/p2.rss"
  since "$SEC_LOG" > "$DIR/p2-$S.log"
  if [ "$S" = Z ]; then
    echo "primary Z (zonesync) sent: $(c 'IXFR (incremental) sent' "$PRI_LOG") IXFR incremental, $(c 'IXFR (full zone) sent' "$PRI_LOG") IXFR full zone, $(c 'AXFR sent' "$PRI_LOG") AXFR; reloads: $(since "$PRI_LOG" | grep -o 'zone loaded.* ms=[0-9]*' | sed 's/.* ms=//' | tr '\n' ' ')ms"
    "$ZONESYNC" ctl --config "$DIR/p2/$S/s/zonesync.toml" --json status > "$DIR/p2-status.json" 2>&1 || true
  else
    echo "primary K (Knot) sent: $(c 'IXFR, outgoing.*finished' "$PRI_LOG") IXFR, $(c 'AXFR, outgoing.*finished' "$PRI_LOG") AXFR"
  fi
  warnings "part 2 $S" "$PRI_LOG" "$SEC_LOG"
  stop_server "$SEC_PID"; stop_server "$PRI_PID"
  rm -f "$DIR/p2/$S.zone"; rm -rf "$DIR/p2/$S/p/data" "$DIR/p2/$S/s/data"
done
[ -s "$DIR/p2-status.json" ] && echo "zonesync secondary after part 2 (ctl status): $(python3 -c '
import json, sys
z = json.load(open(sys.argv[1]))["zones"][0]
j, s = z["journal"], z["secondary"]
print("serial", z["serial"], "records", z["records"], "journal", j, "last result:", s["last_result"])' "$DIR/p2-status.json" 2>/dev/null || cat "$DIR/p2-status.json")"

# ---------------------------------------------------------------- summary
echo
echo "command: bench/secondary.sh $CHANGES   (RECORDS=$RECORDS RECORDS_BIG=$RECORDS_BIG CHANGES_BIG=$CHANGES_BIG AXFR_REPS=$AXFR_REPS AXFR_PRIMARY=$AXFR_PRIMARY NOTIFY_DELAY_MS=$NOTIFY_DELAY_MS SETTLE_MS=$SETTLE_MS BIG_LIMIT_S=$BIG_LIMIT_S SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
python3 - "$DIR" "$BIG" "$AXFR_PRIMARY" <<'PY'
import os, re, statistics, sys
D, big, axfr_primary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
NAMES = {"Z": "zonesync -> zonesync", "K": "Knot -> Knot", "zonesync": "zonesync", "knot": "Knot"}
med = statistics.median
bad = False

def driver_rows(path):
    return [l.split() for l in open(path) if l.strip() and not l.startswith("setup")]

def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, -(-9 * len(xs) // 10) - 1))]  # nearest rank

def transfers(path):
    """to-serial -> (kind, transfer ms, refresh ms) as the secondary logged them.
    zonesync: 'refresh: IXFR a -> b from P (1 changesets, N records, M messages, T ms) ... ms=R'
    (T: the transfer, from the IXFR/AXFR query to the last message parsed;
    R: the whole refresh: SOA query, transfer, apply, journal/snapshot, publish).
    Knot: '... IXFR, incoming, ..., finished, X seconds, ...' then
    '... refresh, ..., zone updated, Y seconds, serial a -> b' (10 ms steps)."""
    out, pending = {}, None
    for line in open(path, errors="replace"):
        m = re.search(r"refresh: (AXFR|IXFR) \S+ -> (\d+) from \S+ \((?:\d+ changesets, )?\d+ records, \d+ messages, (\d+) ms\)", line)
        if m:
            r = re.search(r"\bms=(\d+)", line)
            out[int(m[2])] = (m[1], float(m[3]), float(r[1]) if r else None)
            continue
        m = re.search(r"\] (AXFR|IXFR), incoming, remote \S+, finished, ([\d.]+) seconds", line)
        if m:
            pending = (m[1], float(m[2]) * 1000)
            continue
        m = re.search(r"zone updated, ([\d.]+) seconds, serial \S+ -> (\d+)", line)
        if m:
            kind, ms = pending or ("?", None)
            out[int(m[2])] = (kind, ms, float(m[1]) * 1000)
            pending = None
    return out

def f(x, fmt=".2f"):
    return "-" if x is None else format(x, fmt)

def latency_table(title, results, logs, labels, detail=False):
    global bad
    rows = driver_rows(results)
    print(title)
    print(f"{'setup':<22} {'median ms':>9} {'p90 ms':>8} {'min ms':>8} {'max ms':>8} {'timeouts':>8} {'IXFR':>5} {'AXFR':>5} {'xfr ms':>7} {'refresh ms':>10}")
    meds = {}
    for label in labels:
        rs = [r for r in rows if r[0] == label]
        lat = sorted(float(r[3]) for r in rs if r[3] != "timeout")
        timeouts = sum(r[3] == "timeout" for r in rs)
        bad |= timeouts > 0 or not rs
        t = transfers(logs[label])
        got = [t[int(r[2])] for r in rs if int(r[2]) in t]
        ixfr = sum(g[0] == "IXFR" for g in got)
        axfr = len(t) - ixfr
        xfr = [g[1] for g in got if g[1] is not None]
        ref = [g[2] for g in got if g[2] is not None]
        meds[label] = dict(lat=med(lat) if lat else None, xfr=med(xfr) if xfr else None, ref=med(ref) if ref else None)
        if not lat:
            print(f"{NAMES[label]:<22} {'-':>9} {'-':>8} {'-':>8} {'-':>8} {timeouts:>8} {ixfr:>5} {axfr:>5}")
            continue
        print(f"{NAMES[label]:<22} {med(lat):>9.2f} {p90(lat):>8.2f} {lat[0]:>8.2f} {lat[-1]:>8.2f} {timeouts:>8} {ixfr:>5} {axfr:>5} {f(meds[label]['xfr'], '7.1f')} {f(meds[label]['ref'], '10.1f')}")
        if detail:
            print(f"  per change, latency / secondary xfr / refresh ms: " + "  ".join(
                f"{r[3]}/{f(t.get(int(r[2]), (0, None, None))[1], '.0f')}/{f(t.get(int(r[2]), (0, None, None))[2], '.0f')}" for r in rs))
        if ixfr != len(rs) or axfr:
            print(f"  NOTE: {NAMES[label]}: {len(rs)} changes, the secondary logged {ixfr} IXFR and {axfr} other transfers")
    return meds

def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"

print()
print("(latency: change -> secondary serves it; xfr/refresh ms: medians of what the secondary logged per change,")
print(" zonesync 'T ms' (transfer) and 'ms=' (whole refresh), Knot 'finished, X seconds' and 'zone updated, Y seconds')")
m1 = latency_table("part 1: propagation", f"{D}/p1.results", {"Z": f"{D}/p1-Z.log", "K": f"{D}/p1-K.log"}, "ZK")
print(f"ratio zonesync/Knot (median latency): {ratio(m1['Z']['lat'], m1['K']['lat'])}   (below 1: zonesync faster)")

print()
m2 = latency_table(f"part 2: one-record IXFR into {big:,} records", f"{D}/p2.results", {"Z": f"{D}/p2-Z.log", "K": f"{D}/p2-K.log"}, "ZK", detail=True)
print(f"ratio zonesync/Knot: median latency {ratio(m2['Z']['lat'], m2['K']['lat'])}, secondary refresh {ratio(m2['Z']['ref'], m2['K']['ref'])}")
changes = max(1, len([r for r in driver_rows(f"{D}/p2.results") if r[0] == "Z"]))
print(f"{'secondary memory':<22} {'RSS MB after AXFR':>17} {'after changes':>13} {'per change kB':>13} {'peak MB: AXFR':>13} {'changes':>8}")
rss = {}
for line in open(f"{D}/p2.rss"):
    label, r0, h0, r1, h1, reset = line.split()
    r0, h0, r1, h1 = map(int, (r0, h0, r1, h1))
    rss[label] = r1
    per = (r1 - r0) / changes
    during = f"{h1 / 1024:>8.1f}" if reset == "1" else f"{'n/a':>8}"
    print(f"{NAMES[label]:<22} {r0 / 1024:>17.1f} {r1 / 1024:>13.1f} {per:>13.0f} {h0 / 1024:>13.1f} {during}")
    if per > 0.25 * r0:
        print(f"  NOTE: {NAMES[label]}: RSS grew by {per:.0f} kB per change, more than a quarter of its {r0} kB: a copy per change?")
    if reset == "1" and h1 > 1.5 * r0:
        print(f"  NOTE: {NAMES[label]}: peak RSS during the changes {h1} kB, over 1.5 x the {r0} kB after the AXFR: a transient copy?")
print("(peak during the changes: VmHWM reset through /proc/PID/clear_refs after the AXFR; n/a where that was refused)")
if "Z" in rss and "K" in rss:
    print(f"ratio zonesync/Knot (RSS after the changes): {rss['Z'] / rss['K']:.2f}")

print()
rows = [l.split() for l in open(f"{D}/p3.results") if l.strip()]
print(f"part 3: AXFR in of {big:,} records from the {'zonesync' if axfr_primary == 'zonesync' else 'Knot'} primary (start of the secondary -> it serves the serial)")
print(f"{'secondary':<10} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MB':>11} {'B/record':>9} {'xfr s':>7} {'refresh s':>9}  runs")
m3 = {}
for kind in ("zonesync", "knot"):
    rs = [r for r in rows if r[0] == kind]
    if not rs:
        bad = True
        continue
    secs = sorted(float(r[2]) for r in rs)
    hwm = med(int(r[3]) for r in rs)
    logged = [transfers(r[5]).get(2026010101) for r in rs]
    xfr = [g[1] for g in logged if g and g[1] is not None]
    ref = [g[2] for g in logged if g and g[2] is not None]
    m3[kind] = (med(secs), hwm)
    print(f"{NAMES[kind]:<10} {med(secs):>9.3f} {secs[0]:>7.3f} {secs[-1]:>7.3f} {hwm / 1024:>11.1f} {hwm * 1024 / big:>9.0f} "
          f"{f(med(xfr) / 1000 if xfr else None, '7.3f')} {f(med(ref) / 1000 if ref else None, '9.3f')}  {len(rs)}")
if len(m3) == 2:
    z, k = m3["zonesync"], m3["knot"]
    print(f"ratio zonesync/Knot: time {z[0] / k[0]:.2f}, peak RSS {z[1] / k[1]:.2f}   (below 1: zonesync faster / smaller)")

print()
rows = [l.split() for l in open(f"{D}/p4.results") if l.strip()] if os.path.exists(f"{D}/p4.results") else []
print(f"part 4: restart from its own copy, {big:,} records (zonesync: snapshot; Knot: journal; start -> it serves the serial)")
print(f"{'secondary':<10} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MB':>11} {'B/record':>9} {'RSS MB':>7}  runs")
m4 = {}
for kind in ("zonesync", "knot"):
    rs = [r for r in rows if r[0] == kind]
    if not rs:
        bad = True
        continue
    secs = sorted(float(r[2]) for r in rs)
    hwm = med(int(r[3]) for r in rs)
    rss = med(int(r[4]) for r in rs)
    m4[kind] = (med(secs), hwm)
    print(f"{NAMES[kind]:<10} {med(secs):>9.3f} {secs[0]:>7.3f} {secs[-1]:>7.3f} {hwm / 1024:>11.1f} {hwm * 1024 / big:>9.0f} {rss / 1024:>7.1f}  {len(rs)}")
if len(m4) == 2:
    z, k = m4["zonesync"], m4["knot"]
    print(f"ratio zonesync/Knot: time {z[0] / k[0]:.2f}, peak RSS {z[1] / k[1]:.2f}   (below 1: zonesync faster / smaller)")
sys.exit(1 if bad else 0)
PY
