#!/usr/bin/env bash
# Load time and peak RSS for a large zone (default 1,000,000 records), and
# the time to serve a one-record change after a reload: zonesync, Knot DNS
# and NSD, each pinned to CPU $SERVER_CPU, one at a time, each on its own
# copy of the same file.
#   bench/load-memory.sh [RECORDS=1000000]
#   env: RELOADS=5 (one-record changes per server)
# Per change: the SOA serial goes up by one and one A record (of host
# RECORDS/2, mid-file) gets a new address; T0; the reload is asked for
# (zonesync: SIGHUP; Knot: knotc zone-reload; NSD: SIGHUP); the SOA is
# polled every 5 ms until it answers the new serial (T1). zonesync has then
# journaled the change (it publishes after the journal's fsync).
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-1000000}
RELOADS=${RELOADS:-5}
DIR=$(mktemp -d /tmp/zonesync-bench.XXXXXX)
trap 'cleanup; rm -rf "$DIR"' EXIT
ZONE=bench.example
SERIAL=2026010101
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/base.zone"
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
MID=$(awk '/^host[0-9]+ A /{n++} END {print "host" int(n/2)}' "$DIR/base.zone")
echo "machine: $(nproc) cores; zone: $RECORDS records ($(du -h "$DIR/base.zone" | cut -f1)); changed record: $MID A"

# reload_asked SERVER PID: asks SERVER to reload its zone file.
reload_asked() {
  case $1 in
    zonesync | nsd) kill -HUP "$2" ;;
    knot) knotc -s "$DIR/knot/knot.sock" zone-reload $ZONE >/dev/null ;;
  esac
}

for server in zonesync knot nsd; do
  file="$DIR/$server.zone"
  cp "$DIR/base.zone" "$file"
  port=$(free_port)
  start=$(date +%s.%N)
  start_$server "$DIR" "$port" $ZONE "$file"; pid=$SERVER_PID
  wait_serial "$port" $ZONE $SERIAL 600
  end=$(date +%s.%N)
  sleep 1
  rss=$(peak_rss_kb "$pid")
  # NSD forks its serving processes; count the largest of its processes.
  for child in $(descendants "$pid"); do
    c=$(peak_rss_kb "$child" 2>/dev/null || echo 0); [ "$c" -gt "$rss" ] && rss=$c
  done
  python3 -c "print(f'$server: load {($end-$start):.2f} s, peak RSS {$rss/1024:.0f} MiB, {$rss*1024/$RECORDS:.0f} bytes/record')"
  times=()
  for n in $(seq 1 "$RELOADS"); do
    serial=$((SERIAL + n))
    sed -i "s/^\(@ SOA ns1 hostmaster\) [0-9]*/\1 $serial/; s/^$MID A .*/$MID A 10.254.$((n / 256)).$((n % 256))/" "$file"
    sleep 1.1 # a new mtime second: NSD and Knot compare mtimes
    t0=$(date +%s.%N)
    reload_asked $server "$pid"
    ok=""
    for _ in $(seq 1 12000); do
      s=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" $ZONE SOA 2>/dev/null | awk '{print $3}' || true)
      [ "$s" = "$serial" ] && { ok=1; break; }
      sleep 0.005
    done
    t1=$(date +%s.%N)
    [ -n "$ok" ] || { echo "$server: serial $serial not served within 60 s" >&2; break; }
    times+=("$(python3 -c "print(f'{$t1-$t0:.3f}')")")
  done
  rss=$(peak_rss_kb "$pid")
  for child in $(descendants "$pid"); do
    c=$(peak_rss_kb "$child" 2>/dev/null || echo 0); [ "$c" -gt "$rss" ] && rss=$c
  done
  python3 -c "
import statistics
t = [float(x) for x in '${times[*]}'.split()]
print(f'$server: one-record reload served in median {statistics.median(t):.3f} s (min {min(t):.3f}, max {max(t):.3f}, n={len(t)}); peak RSS after reloads {$rss/1024:.0f} MiB')" 2>/dev/null || echo "$server: no reload measured"
  stop_server "$pid"
done
