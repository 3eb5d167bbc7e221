#!/usr/bin/env bash
# Change propagation: time from "the primary is told its zone file changed"
# to "the secondary serves the new serial", for
#   A: zonesync primary -> Knot DNS secondary   (signal: kill -HUP)
#   B: Knot DNS primary -> Knot DNS secondary   (signal: knotc zone-reload)
# Both pairs run side by side on loopback; primaries pinned to CPU
# $SERVER_CPU, secondaries and the poller to CPU $CLIENT_CPU. The zone has
# RECORDS (default 10,000) records, so a full AXFR would show.
#   bench/propagation.sh [CHANGES=20]
#   env: RECORDS=10000 NOTIFY_DELAY_MS=0 (zonesync's server.notify_delay_ms)
#        SETTLE_MS=1100 (pause before each change; see below) SHOW_LOGS=N (print
#        the last N lines of each server's log)
# Each change (A and B alternate) rewrites the zone file with one A record
# changed and the serial + 1, then takes T0, signals the primary, and polls
# the secondary's SOA over UDP every 1 ms (at most 10 s) until it answers
# the new serial: T1. Latency = T1 - T0. Prints each change, then median,
# p90, min and max per setup, the ratio A/B, and how the secondaries and
# primaries logged the transfers (IXFR expected for every change).
source "$(dirname "$0")/lib.sh"
CHANGES=${1:-20}
RECORDS=${RECORDS:-10000}
NOTIFY_DELAY_MS=${NOTIFY_DELAY_MS:-0}
# A Knot 3.2 secondary that gets a NOTIFY within a second of its previous
# refresh only refreshes when a timer it set 1 s after that refresh fires
# (strace of its event thread), seen as ~550 ms outliers in A and B alike.
# Each setup's changes are 2 x SETTLE_MS apart, so the default keeps clear.
SETTLE_MS=${SETTLE_MS:-1100}
ZONE=example.com
SERIAL=2026010101
DIR=$(mktemp -d /tmp/zonesync-prop.XXXXXX)
trap 'cleanup; rm -rf "$DIR"' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
need_tools knotd knotc

mkdir -p "$DIR/a" "$DIR/b" "$DIR/ka" "$DIR/kp" "$DIR/kb"
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/a/$ZONE.zone"
cp "$DIR/a/$ZONE.zone" "$DIR/b/$ZONE.zone"
ZP=$(free_port); SA=$(free_port); KP=$(free_port); SB=$(free_port)

start_knotd() { # CPU CONF LOG; sets SERVER_PID
  taskset -c "$1" knotd -c "$2" >"$3" 2>&1 &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
}

# knot_secondary DIR PORT PRIMARY_PORT: the same secondary for A and B.
knot_secondary() {
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
  start_knotd "$CLIENT_CPU" "$1/knot.conf" "$1/knot.log"
}

# A: zonesync primary, NOTIFY to secondary A.
cat > "$DIR/a/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$ZP"]
data_dir = "$DIR/a/data"
udp_workers = 1
notify_delay_ms = $NOTIFY_DELAY_MS
[[zone]]
name = "$ZONE"
file = "$DIR/a/$ZONE.zone"
role = "primary"
serial_policy = "keep"
allow_transfer = [{ from = "127.0.0.0/8" }]
notify = ["127.0.0.1:$SA"]
CONF
taskset -c "$SERVER_CPU" "$ZONESYNC" --log info serve --config "$DIR/a/zonesync.toml" "${ALLOW_ROOT[@]}" >"$DIR/a/zonesync.log" 2>&1 &
ZS_PID=$!; PIDS+=($ZS_PID)

# B: Knot primary (zone-file differences go to its journal, served as
# IXFR), NOTIFY to secondary B.
cat > "$DIR/kp/knot.conf" <<CONF
server:
    rundir: "$DIR/kp"
    listen: 127.0.0.1@$KP
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$DIR/kp/knot.sock"
database:
    storage: "$DIR/kp"
log:
  - target: stderr
    any: info
remote:
  - id: secondary
    address: 127.0.0.1@$SB
acl:
  - id: transfer
    address: 127.0.0.0/8
    action: transfer
zone:
  - domain: $ZONE
    file: "$DIR/b/$ZONE.zone"
    notify: secondary
    acl: transfer
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
CONF
start_knotd "$SERVER_CPU" "$DIR/kp/knot.conf" "$DIR/kp/knot.log"

# Secondaries start once the primaries serve (else their first refresh
# fails and waits for a retry); they begin with an AXFR.
for port in $ZP $KP; do wait_serial "$port" $ZONE $SERIAL 60; done
knot_secondary "$DIR/ka" "$SA" "$ZP"
knot_secondary "$DIR/kb" "$SB" "$KP"
for port in $SA $SB; do wait_serial "$port" $ZONE $SERIAL 60; done
echo "machine: $(nproc) cores, $(uname -r); $(knotd -V 2>&1 | head -1)"
echo "zone: $(grep -vc '^\$' "$DIR/a/$ZONE.zone") records; $CHANGES changes per setup; zonesync notify_delay_ms = $NOTIFY_DELAY_MS; pause $SETTLE_MS ms before each change"
echo "primaries on CPU $SERVER_CPU, secondaries and poller on CPU $CLIENT_CPU"

cat > "$DIR/prop.py" <<'PY'
"""Edits the zone files, signals the primaries, polls the secondaries."""
import os, random, re, signal, socket, struct, subprocess, sys, time

changes, settle, serial0 = int(sys.argv[1]), int(sys.argv[2]) / 1000, int(sys.argv[3])
setups = []  # (label, zone file, secondary port, how to signal)
for spec in sys.argv[4:]:
    label, path, port, how = spec.split(",", 3)
    setups.append((label, path, int(port), how))
LIMIT = 10.0     # seconds per change
INTERVAL = 0.001  # between SOA queries

def query(qid):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)  # RD off
    for label in b"example.com".split(b"."):
        q += bytes([len(label)]) + label
    return q + b"\0" + struct.pack(">HH", 6, 1)

def skip_name(m, i):
    while True:
        n = m[i]
        if n & 0xC0 == 0xC0:
            return i + 2
        if n == 0:
            return i + 1
        i += n + 1

def soa_serial(m, qid):
    """The serial of the SOA answer to query qid, else None."""
    try:
        rid, flags, qd, an = struct.unpack(">HHHH", m[:8])
        if rid != qid or flags & 0xF != 0 or an < 1:
            return None
        i = 12
        for _ in range(qd):
            i = skip_name(m, i) + 4
        i = skip_name(m, i)
        rtype, _, _, rdlen = struct.unpack(">HHIH", m[i:i + 10])
        if rtype != 6:
            return None
        i = skip_name(m, skip_name(m, i + 10))
        return struct.unpack(">I", m[i:i + 4])[0]
    except (IndexError, struct.error):
        return None

def poll(port, serial, t0):
    """Seconds from t0 until the server on port answers serial; None after LIMIT."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    qid = random.randrange(65536)
    next_send = 0.0
    try:
        while True:
            now = time.perf_counter()
            if now - t0 > LIMIT:
                return None
            if now >= next_send:
                qid = (qid + 1) & 0xFFFF
                s.send(query(qid))
                next_send = now + INTERVAL
            s.settimeout(max(next_send - time.perf_counter(), 0.0001))
            try:
                m = s.recv(4096)
            except (socket.timeout, ConnectionRefusedError):
                continue
            if soa_serial(m, qid) == serial:
                return time.perf_counter() - t0
    finally:
        s.close()

def rewrite(path, n, serial):
    """The zone file with the serial set and host<n>'s A record changed."""
    with open(path) as f:
        text = f.read()
    text, k = re.subn(r"^(@ SOA \S+ \S+ )\d+", rf"\g<1>{serial}", text, count=1, flags=re.M)
    assert k == 1, "no SOA line"
    text, k = re.subn(rf"^host{n} A \S+$", f"host{n} A 10.200.{(n >> 8) & 255}.{n & 255}", text, count=1, flags=re.M)
    assert k == 1, f"no host{n} A line"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)

print("setup change serial latency_ms signal_ms")
for n in range(1, changes + 1):
    serial = serial0 + n
    for label, path, port, how in setups:
        time.sleep(settle)
        rewrite(path, n, serial)
        kind, _, arg = how.partition(":")
        t0 = time.perf_counter()
        if kind == "hup":
            os.kill(int(arg), signal.SIGHUP)
        else:  # knotc:SOCKET
            subprocess.run(["knotc", "-s", arg, "zone-reload", "example.com"], check=True,
                           stdout=subprocess.DEVNULL, timeout=LIMIT)
        signalled = time.perf_counter() - t0
        took = poll(port, serial, t0)
        shown = f"{took * 1000:.2f}" if took is not None else "timeout"
        print(f"{label} {n} {serial} {shown} {signalled * 1000:.2f}", flush=True)
PY

LOGS=("$DIR/a/zonesync.log" "$DIR/ka/knot.log" "$DIR/kp/knot.log" "$DIR/kb/knot.log")
declare -A SKIP # log lines from start-up, not counted below
for f in "${LOGS[@]}"; do SKIP[$f]=$(wc -l < "$f"); done

# The zone-file rewrite happens before T0; the knotc process (start-up and
# its round trip on the control socket) is inside B's latency and shown as
# signal_ms.
taskset -c "$CLIENT_CPU" timeout $((CHANGES * 2 * (SETTLE_MS / 1000 + 22) + 30)) python3 "$DIR/prop.py" "$CHANGES" "$SETTLE_MS" "$SERIAL" \
  "A,$DIR/a/$ZONE.zone,$SA,hup:$ZS_PID" "B,$DIR/b/$ZONE.zone,$SB,knotc:$DIR/kp/knot.sock" | tee "$DIR/results"
sleep 0.5 # let the logs catch up

# Transfers logged during the changes (start-up lines skipped).
# Knot: "[example.com.] IXFR, incoming, remote …, finished, …";
# zonesync: "IXFR (incremental) sent" / "IXFR (full zone) sent" / "AXFR sent".
run_log() { tail -n +$((SKIP[$1] + 1)) "$1"; }
count() { run_log "$2" | grep -c -- "$1" || true; }
echo
echo "--- transfers logged during the $CHANGES changes (each change should be one IXFR, no AXFR)"
for s in A:ka B:kb; do
  f="$DIR/${s#*:}/knot.log"
  echo "secondary ${s%%:*} (Knot): $(count 'IXFR, incoming.*finished' "$f") IXFR, $(count 'AXFR, incoming.*finished' "$f") AXFR, $(count 'fallback to AXFR' "$f") fallbacks to AXFR"
done
f="$DIR/a/zonesync.log"
echo "primary A (zonesync): $(count 'IXFR (incremental) sent' "$f") IXFR incremental, $(count 'IXFR (full zone) sent' "$f") IXFR full zone, $(count 'IXFR sent over UDP' "$f") IXFR over UDP, $(count 'AXFR sent' "$f") AXFR; $(count 'NOTIFY acknowledged' "$f") NOTIFY acknowledged"
f="$DIR/kp/knot.log"
echo "primary B (Knot): $(count 'IXFR, outgoing.*finished' "$f") IXFR, $(count 'AXFR, outgoing.*finished' "$f") AXFR; $(count 'notify, outgoing.*serial' "$f") NOTIFY sent"
for s in ka kb; do
  n=$(count 'IXFR, incoming.*finished' "$DIR/$s/knot.log")
  [ "$n" = "$CHANGES" ] || echo "NOTE: secondary $s took $n IXFR for $CHANGES changes"
done
for f in "${LOGS[@]}"; do
  bad=$(run_log "$f" | grep -i 'warn\|error\|fail' || true)
  [ -z "$bad" ] || { echo "--- warnings/errors in ${f#$DIR/}:"; echo "$bad" | tail -10; }
done
if [ -n "${SHOW_LOGS:-}" ]; then
  for f in "${LOGS[@]}"; do echo "--- ${f#$DIR/}:"; tail -n "$SHOW_LOGS" "$f"; done
fi

echo
echo "command: bench/propagation.sh $CHANGES   (RECORDS=$RECORDS NOTIFY_DELAY_MS=$NOTIFY_DELAY_MS SETTLE_MS=$SETTLE_MS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
python3 - "$DIR/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("setup")]
names = {"A": "A zonesync -> Knot", "B": "B Knot -> Knot"}
med = {}
print(f"{'setup':<20} {'median ms':>9} {'p90 ms':>8} {'min ms':>8} {'max ms':>8} {'timeouts':>8} {'signal ms':>9}")
for label in ("A", "B"):
    rs = [r for r in rows if r[0] == label]
    lat = sorted(float(r[3]) for r in rs if r[3] != "timeout")
    sig = statistics.median(float(r[4]) for r in rs) if rs else 0
    timeouts = sum(r[3] == "timeout" for r in rs)
    if not lat:
        print(f"{names[label]:<20} {'-':>9} {'-':>8} {'-':>8} {'-':>8} {timeouts:>8}")
        continue
    p90 = lat[min(len(lat) - 1, max(0, -(-9 * len(lat) // 10) - 1))]  # nearest rank
    med[label] = statistics.median(lat)
    print(f"{names[label]:<20} {med[label]:>9.2f} {p90:>8.2f} {lat[0]:>8.2f} {lat[-1]:>8.2f} {timeouts:>8} {sig:>9.2f}")
if "A" in med and "B" in med:
    print(f"ratio A/B (median latency): {med['A'] / med['B']:.2f}   (below 1: zonesync's chain is faster)")
if any(r[3] == "timeout" for r in rows):
    sys.exit(1)
PY
