#!/usr/bin/env bash
# Load time and peak RSS for a large zone (default 1,000,000 records):
# zonesync, Knot DNS and NSD, each pinned to CPU $SERVER_CPU.
#   bench/load-memory.sh [RECORDS=1000000]
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-1000000}
DIR=$(mktemp -d /tmp/zonesync-bench.XXXXXX)
ZONE=bench.example
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/$ZONE.zone"
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
echo "machine: $(nproc) cores; zone: $RECORDS records ($(du -h "$DIR/$ZONE.zone" | cut -f1))"
for server in zonesync knot nsd; do
  port=$(free_port)
  start=$(date +%s.%N)
  start_$server "$DIR" "$port" $ZONE "$DIR/$ZONE.zone"; pid=$SERVER_PID
  wait_serial "$port" $ZONE 2026010101 600
  end=$(date +%s.%N)
  sleep 1
  rss=$(peak_rss_kb "$pid")
  # NSD forks its serving processes; count the largest of its processes.
  for child in $(descendants "$pid"); do
    c=$(peak_rss_kb "$child" 2>/dev/null || echo 0); [ "$c" -gt "$rss" ] && rss=$c
  done
  python3 -c "print(f'$server: load {($end-$start):.2f} s, peak RSS {$rss/1024:.0f} MiB, {$rss*1024/$RECORDS:.0f} bytes/record')"
  stop_pid "$pid"
done
rm -rf "$DIR"
