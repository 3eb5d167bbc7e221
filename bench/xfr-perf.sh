#!/usr/bin/env bash
# AXFR out: how fast zonesync and Knot DNS send a whole zone. Both serve
# the same generated zone side by side (each pinned to CPU $SERVER_CPU);
# each client (pinned to CPU $CLIENT_CPU) reads the whole transfer, REPS
# times per server, alternating servers.
#   bench/xfr-perf.sh [RECORDS=1000000]        (REPS=5 in the environment to change)
# Clients: kdig and, when the binary has it, `zonesync xfr`; both print
# every record, into a pipe to grep that keeps only their summary line
# (the pipeline pinned to CPU $CLIENT_CPU). Each client is used against both
# servers; compare servers within one client.
# Prints every transfer, then per client and server: median wall seconds,
# records/s, server CPU seconds per transfer (user+system of the server
# process, 10 ms ticks), messages; and the ratios zonesync/Knot.
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-1000000}
REPS=${REPS:-5}
ZONE=example.com
XFR_FROM=127.0.0.0/8
DIR=$(mktemp -d /tmp/zonesync-xfr.XXXXXX)
trap 'cleanup; rm -rf "$DIR"' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
need_tools kdig knotd

python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/$ZONE.zone"
EXPECT=$(grep -vc '^\$' "$DIR/$ZONE.zone")
CLIENTS=(kdig)
if "$ZONESYNC" xfr --help >/dev/null 2>&1; then CLIENTS+=(zonesync-xfr); else
  echo "note: $ZONESYNC has no 'xfr' command; only kdig is used"; fi
echo "machine: $(nproc) cores, $(uname -r); zone: $EXPECT records ($(du -h "$DIR/$ZONE.zone" | cut -f1)); $REPS transfers per client and server"
echo "servers on CPU $SERVER_CPU, client on CPU $CLIENT_CPU; $(knotd -V 2>&1 | head -1)"

declare -A PORT PID
for server in zonesync knot; do
  PORT[$server]=$(free_port)
  start_$server "$DIR" "${PORT[$server]}" $ZONE "$DIR/$ZONE.zone"; PID[$server]=$SERVER_PID
done
for server in zonesync knot; do wait_serial "${PORT[$server]}" $ZONE 2026010101 600; done

# The exact client commands (PORT replaced per server).
kdig_cmd='kdig @127.0.0.1 -p PORT +time=60 +retry=0 example.com AXFR | grep "^;; Received"'
zs_cmd="$ZONESYNC xfr example.com --server 127.0.0.1:PORT --timeout 600 | grep '^;; [0-9]* records'"

# xfr_once CLIENT SERVER: one transfer; appends "client server seconds records messages cpu_s" to results.
xfr_once() {
  local cmd port=${PORT[$2]}
  case $1 in
    kdig) cmd=${kdig_cmd//PORT/$port} ;;
    zonesync-xfr) cmd=${zs_cmd//PORT/$port} ;;
  esac
  timed_transfer "${PID[$2]}" "$1" "$cmd" "$1 against $2" "$DIR/$2.log" || return 1
  echo "$1 $2 $CLIENT_S $EXPECT $XFR_MESSAGES $CLIENT_CPU_S" | tee -a "$DIR/results"
}

echo "client server seconds zone_records messages server_cpu_s"
for rep in $(seq 1 "$REPS"); do
  for client in "${CLIENTS[@]}"; do
    for server in zonesync knot; do xfr_once "$client" "$server"; done
  done
done
for server in zonesync knot; do
  [ -s "$DIR/$server.log" ] && { echo "--- $server log:"; tail -5 "$DIR/$server.log"; }
done

echo
echo "command: bench/xfr-perf.sh $RECORDS   (REPS=$REPS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
echo "client kdig:         $kdig_cmd"
[[ " ${CLIENTS[*]} " == *" zonesync-xfr "* ]] && echo "client zonesync-xfr: $zs_cmd"
python3 - "$DIR/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for client in dict.fromkeys(r[0] for r in rows):
    for server in ("zonesync", "knot"):
        rs = [r for r in rows if r[0] == client and r[1] == server]
        secs = statistics.median(float(r[2]) for r in rs)
        cpu = statistics.median(float(r[5]) for r in rs)
        med[client, server] = (secs, int(rs[0][3]) / secs, cpu, rs[0][4], len(rs))
print(f"{'client':<13} {'server':<9} {'median s':>9} {'records/s':>11} {'server CPU s':>12} {'messages':>8}  runs")
for (client, server), (secs, rate, cpu, msgs, n) in med.items():
    print(f"{client:<13} {server:<9} {secs:>9.3f} {rate:>11,.0f} {cpu:>12.2f} {msgs:>8}  {n}")
for client in dict.fromkeys(c for c, _ in med):
    z, k = med[client, "zonesync"], med[client, "knot"]
    cpu = f"{z[2] / k[2]:.2f}" if k[2] > 0 else "n/a (Knot under one tick)"
    print(f"ratio zonesync/knot ({client}): time {z[0] / k[0]:.2f}, records/s {z[1] / k[1]:.2f}, server CPU {cpu}")
PY
