#!/usr/bin/env bash
# Soak with faults (issue 18): DURATION seconds (default 60) of dnsperf at
# the highest rate it gives against a zonesync primary serving a
# RECORDS-record zone (default 100,000), while at the same time
#   - the zone changes every second (the zone file rewritten, SIGHUP: a
#     reload), each change going out by NOTIFY and IXFR to two zonesync
#     secondaries and one Knot secondary;
#   - a client opens 1,000 TCP connections to the primary and abandons
#     them (never sends a byte);
#   - one zonesync secondary is killed with SIGKILL and restarted every
#     10 seconds.
# Then every secondary must reach the primary's last serial, and its
# content (AXFR, compared as a set of records) must equal the primary's.
#   bench/soak.sh [DURATION=60]
#   env: RECORDS=100000, ZONESYNC=path (default target/release/zonesync)
# The primary runs on CPU $SERVER_CPU; dnsperf, the secondaries and the
# drivers on $CLIENT_CPU. Prints queries sent/answered/lost, latency
# p50/p99 (from dnsperf -v, every answer's latency), answers by RCODE,
# each secondary's final serial and whether its content equals the
# primary's, the primary's RSS at start and end, and the abandoned
# connections' fate. Exits non-zero when a secondary did not converge.
source "$(dirname "$0")/lib.sh"
DURATION=${1:-60}
RECORDS=${RECORDS:-100000}
ZONE=bench.example
SERIAL=2026010101
DIR=$(mktemp -d /tmp/zonesync-soak.XXXXXX)
trap 'cleanup; rm -rf "$DIR"' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
need_tools knotd dnsperf kdig taskset

mkdir -p "$DIR"/{p,s1,s2,k}
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/p/$ZONE.zone" "$DIR/queries.txt" 200000
P=$(free_port); S1=$(free_port); S2=$(free_port); K=$(free_port); CTL=$(free_port)

start() { # CPU LOG CMD...; sets LAST_PID, appends to PIDS
  local cpu=$1 log=$2; shift 2
  taskset -c "$cpu" "$@" >>"$log" 2>&1 &
  LAST_PID=$!; PIDS+=($LAST_PID)
}

cat > "$DIR/p/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$P"]
data_dir = "$DIR/p/data"
udp_workers = 1
control = "127.0.0.1:$CTL"
[[zone]]
name = "$ZONE"
file = "$DIR/p/$ZONE.zone"
role = "primary"
allow_transfer = [{ from = "127.0.0.0/8" }]
notify = ["127.0.0.1:$S1", "127.0.0.1:$S2", "127.0.0.1:$K"]
CONF
for s in s1 s2; do
  port=$([ $s = s1 ] && echo "$S1" || echo "$S2")
  cat > "$DIR/$s/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$port"]
data_dir = "$DIR/$s/data"
udp_workers = 1
[[zone]]
name = "$ZONE"
role = "secondary"
primaries = [{ address = "127.0.0.1:$P" }]
allow_transfer = [{ from = "127.0.0.0/8" }]
CONF
done
cat > "$DIR/k/knot.conf" <<CONF
server:
    rundir: "$DIR/k"
    listen: 127.0.0.1@$K
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$DIR/k"
log:
  - target: stderr
    any: info
remote:
  - id: primary
    address: 127.0.0.1@$P
acl:
  - id: local
    address: 127.0.0.0/8
    action: [notify, transfer]
zone:
  - domain: $ZONE
    master: primary
    acl: local
    file: "$DIR/k/$ZONE.zone"
    zonefile-sync: -1
    journal-content: changes
CONF

start "$SERVER_CPU" "$DIR/p/log" "$ZONESYNC" --log info serve --config "$DIR/p/zonesync.toml" "${ALLOW_ROOT[@]}"
PRIMARY=$LAST_PID
wait_serial "$P" $ZONE $SERIAL 120
start "$CLIENT_CPU" "$DIR/s1/log" "$ZONESYNC" --log info serve --config "$DIR/s1/zonesync.toml" "${ALLOW_ROOT[@]}"
start "$CLIENT_CPU" "$DIR/s2/log" "$ZONESYNC" --log info serve --config "$DIR/s2/zonesync.toml" "${ALLOW_ROOT[@]}"
S2_PID=$LAST_PID
start "$CLIENT_CPU" "$DIR/k/log" knotd -c "$DIR/k/knot.conf"
for port in "$S1" "$S2" "$K"; do wait_serial "$port" $ZONE $SERIAL 120; done
RSS_START=$(vm_kb "$PRIMARY" VmRSS)
echo "machine: $(nproc) cores, $(uname -r); zone: $RECORDS records; soak ${DURATION} s"
echo "primary pid $PRIMARY on CPU $SERVER_CPU, RSS at start ${RSS_START} kB"

# The change driver: every second, the zone file gets a new serial and a
# changed TXT record, written to a temporary file and renamed over it,
# then SIGHUP. Prints the last serial.
cat > "$DIR/change.py" <<'PY'
import os, signal, sys, time
path, pid, serial, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
base = open(path).read()
head, sep, rest = base.partition("\n@ SOA ")
soa_rest = rest.split("\n", 1)
fields = soa_rest[0].split()
start = time.monotonic()
end = start + duration
n = 0
while time.monotonic() < end:
    n += 1
    fields[2] = str(serial + n)
    text = head + sep + " ".join(fields) + "\n" + soa_rest[1] + f'soak-change TXT "change {n}"\n'
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    os.kill(pid, signal.SIGHUP)
    time.sleep(max(0.0, start + n - time.monotonic()))
print(serial + n)
PY

# The abandoning client: opens 1,000 TCP connections over the first half
# of the run, never writes, keeps them until the end; counts how many the
# server closed (EOF or reset) before then.
cat > "$DIR/abandon.py" <<'PY'
import select, socket, sys, time
port, count, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks, refused = [], 0
pace = (duration / 2) / count
start = time.monotonic()
for i in range(count):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    except OSError:
        refused += 1
        s.close()
    time.sleep(max(0.0, start + (i + 1) * pace - time.monotonic()))
closed = 0
deadline = start + duration
while time.monotonic() < deadline and socks:
    r, _, _ = select.select(socks, [], [], 0.5)
    for s in r:
        try:
            data = s.recv(1)
        except OSError:
            data = b""
        if not data:
            closed += 1
            socks.remove(s)
            s.close()
for s in socks:
    s.close()
print(f"{count} opened, {refused} refused at connect, {closed} closed by the server within the run, {len(socks)} still open at the end")
PY

# The killer: SIGKILL the second zonesync secondary every 10 s, restart it.
killer() {
  local end=$((SECONDS + DURATION)) pid=$S2_PID kills=0
  while [ $((SECONDS + 10)) -le $end ]; do
    sleep 10
    echo "$(vm_kb "$PRIMARY" VmRSS)" >> "$DIR/rss"
    kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    taskset -c "$CLIENT_CPU" "$ZONESYNC" --log info serve --config "$DIR/s2/zonesync.toml" "${ALLOW_ROOT[@]}" >>"$DIR/s2/log" 2>&1 &
    pid=$!
    echo "$pid" > "$DIR/s2.pid"
  done
  echo "$kills" > "$DIR/kills"
}

python3 "$DIR/change.py" "$DIR/p/$ZONE.zone" "$PRIMARY" "$SERIAL" "$DURATION" > "$DIR/last_serial" &
CHANGER=$!; PIDS+=($CHANGER)
taskset -c "$CLIENT_CPU" python3 "$DIR/abandon.py" "$P" 1000 "$DURATION" > "$DIR/abandon.out" &
ABANDON=$!; PIDS+=($ABANDON)
killer &
KILLER=$!; PIDS+=($KILLER)

# dnsperf -v prints every answer's RCODE and latency; awk keeps a
# histogram in 10 µs buckets (not the lines) and the statistics.
taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$P" -d "$DIR/queries.txt" -l "$DURATION" \
    -c 8 -q 500 -v 2>&1 | awk -v out="$DIR/latency" '
  /^> / { n++; b = int($NF * 100000); h[b]++; if (b > max) max = b; next }
  { print }
  END {
    want50 = n * 0.50; want99 = n * 0.99; want999 = n * 0.999; c = 0; p50 = p99 = p999 = -1
    for (i = 0; i <= max; i++) { c += h[i];
      if (p50 < 0 && c >= want50) p50 = i; if (p99 < 0 && c >= want99) p99 = i; if (p999 < 0 && c >= want999) p999 = i }
    printf "latency: p50 %.0f-%.0f us, p99 %.0f-%.0f us, p99.9 %.0f-%.0f us (of %d answers)\n",
      p50 * 10, p50 * 10 + 10, p99 * 10, p99 * 10 + 10, p999 * 10, p999 * 10 + 10, n > out
  }' > "$DIR/dnsperf.out"
wait "$CHANGER" "$ABANDON" "$KILLER" || true
LAST=$(cat "$DIR/last_serial")
[ -f "$DIR/s2.pid" ] && PIDS+=($(cat "$DIR/s2.pid"))

echo "== dnsperf"
grep -E "Queries sent|Queries completed|Queries lost|Response codes|Queries per second|Average Latency" "$DIR/dnsperf.out" | sed 's/^ */  /'
sed 's/^/  /' "$DIR/latency"
echo "== faults"
echo "  zone changes: $((LAST - SERIAL)) (serial $SERIAL -> $LAST), one reload each"
echo "  secondary killed -9 and restarted: $(cat "$DIR/kills" 2>/dev/null || echo 0) times"
echo "  abandoned TCP connections: $(cat "$DIR/abandon.out")"
echo "== convergence (AXFR compared as sets of records)"
axfr_set() { # PORT: the zone's records, one per line, sorted
  kdig -p "$1" @127.0.0.1 AXFR $ZONE +nocomments +nostats +noquestion 2>/dev/null |
    awk 'NF && $1 !~ /^;/ {$1 = tolower($1); print}' | sort -u
}
for port in "$S1" "$S2" "$K"; do wait_serial "$port" $ZONE "$LAST" 60 || true; done
axfr_set "$P" > "$DIR/primary.set"
status=0
for pair in "zonesync-1:$S1" "zonesync-2 (killed):$S2" "knot:$K"; do
  name=${pair%:*}; port=${pair##*:}
  serial=$(dig +short -p "$port" @127.0.0.1 $ZONE SOA | awk '{print $3}')
  axfr_set "$port" > "$DIR/$port.set"
  if cmp -s "$DIR/primary.set" "$DIR/$port.set"; then same="same content"; else
    same="DIFFERENT content ($(comm -3 "$DIR/primary.set" "$DIR/$port.set" | wc -l) records differ)"; status=1; fi
  [ "$serial" = "$LAST" ] || status=1
  echo "  $name: serial $serial (primary $LAST), $same, $(wc -l < "$DIR/$port.set") records"
done
# The end: once every secondary has caught up and the primary is quiet.
sleep 2
RSS_END=$(vm_kb "$PRIMARY" VmRSS)
echo "== primary"
python3 -c "print(f'  RSS: start {$RSS_START} kB, end {$RSS_END} kB, growth {($RSS_END-$RSS_START)*100/$RSS_START:+.1f}%')"
# The first sample (10 s in) holds what any reload needs (the old and the
# new version side by side, once): growth after it is what the run adds.
WARM=$(head -1 "$DIR/rss")
echo "  RSS every 10 s: $(tr '\n' ' ' < "$DIR/rss")kB; from 10 s in to the end: $(python3 -c "print(f'{($RSS_END-$WARM)*100/$WARM:+.1f}%')")"
echo "  warnings and errors in its log: $(grep -c -E ' (WARN|ERROR) ' "$DIR/p/log" || true)"
grep -E ' (WARN|ERROR) ' "$DIR/p/log" | sed 's/^/    /' | sort | uniq -c | sort -rn | head -5 || true
exit $status
