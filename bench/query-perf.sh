#!/usr/bin/env bash
# Queries per second: zonesync, Knot DNS and NSD serving the same
# 100,000-record zone, one after the other in one run, each server pinned
# to CPU $SERVER_CPU and dnsperf to CPU $CLIENT_CPU.
#   bench/query-perf.sh [RECORDS=100000] [SECONDS=15] [ROUNDS=3]
#   env: MODE=udp (the default: 8 clients, 500 queries outstanding)
#        MODE=tcp (100 connections, queries pipelined on each, 500 outstanding)
#        MODE=nsec | MODE=nsec3 (UDP with DO=1 against the zone signed by
#        ldns-signzone, ECDSA P-256, NSEC or NSEC3 without opt-out)
#        UDP_WORKERS=1 (zonesync's udp_workers, Knot's udp-workers, NSD's
#        server-count; with 2, SERVER_CPU=0,1 shares the cores with
#        dnsperf: compare the server CPU per answer with one worker's)
# Each server is measured once it is idle after its load (zonesync checks
# a signed zone's signatures in the background first: 7 s for 100,000
# records signed with NSEC3).
# Prints each round's qps and the median per server, and the ratios.
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-100000}; DURATION=${2:-15}; ROUNDS=${3:-3}
DIR=$(mktemp -d /tmp/zonesync-bench.XXXXXX)
ZONE=bench.example
MODE=${MODE:-udp}
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/$ZONE.zone" "$DIR/queries.txt" 200000
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
CLIENT_ARGS=(-c 8 -q 500)
case $MODE in
  udp) ;;
  # dnsperf's 100 connections all come from 127.0.0.1: over zonesync's
  # default cap of 32 per client (tcp_max_connections_per_client), which
  # Knot and NSD do not have; lifted here, as for a farm behind one NAT.
  tcp) CLIENT_ARGS=(-m tcp -c 100 -q 500)
       export ZONESYNC_SERVER_LINES="tcp_max_connections_per_client = 0" ;;
  nsec|nsec3)
    need_tools ldns-keygen ldns-signzone
    key=$(cd "$DIR" && ldns-keygen -a ECDSAP256SHA256 $ZONE)
    mv "$DIR/$ZONE.zone" "$DIR/plain.zone"
    nsec3=(); [ "$MODE" = nsec3 ] && nsec3=(-n -t 0)
    ldns-signzone "${nsec3[@]}" -o "$ZONE." -f "$DIR/$ZONE.zone" "$DIR/plain.zone" "$DIR/$key"
    CLIENT_ARGS=(-c 8 -q 500 -D) ;;
  *) echo "MODE is udp, tcp, nsec or nsec3" >&2; exit 2 ;;
esac
echo "machine: $(nproc) cores, $(uname -r); zone: $RECORDS records; mode $MODE (dnsperf ${CLIENT_ARGS[*]}); dnsperf -l $DURATION, $ROUNDS rounds"
# per_answer TICKS_BEFORE TICKS_AFTER ANSWERS: µs of CPU per answer.
per_answer() { python3 -c "print(f'{($2-$1)/$(getconf CLK_TCK)*1e6/max($3,1):.2f}')"; }
declare -A RESULTS CPU USER
for round in $(seq 1 "$ROUNDS"); do
  for server in zonesync knot nsd; do
    port=$(free_port)
    start_$server "$DIR" "$port" $ZONE "$DIR/$ZONE.zone"; pid=$SERVER_PID
    wait_serial "$port" $ZONE 2026010101 120
    wait_idle "$pid" 120
    before=$(cpu_ticks "$pid"); before_user=$(cpu_ticks "$pid" user)
    out=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$DIR/queries.txt" \
          -l "$DURATION" "${CLIENT_ARGS[@]}" 2>&1)
    after=$(cpu_ticks "$pid"); after_user=$(cpu_ticks "$pid" user)
    qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
    done_q=$(echo "$out" | awk '/Queries completed/ {print $3}')
    # Server CPU per answer: the fair figure when the one-core client,
    # not the server, is the limit (then all servers show similar qps).
    us=$(per_answer "$before" "$after" "$done_q"); user=$(per_answer "$before_user" "$after_user" "$done_q")
    stop_pid "$pid"
    echo "round $round $server: $qps qps, $us µs server CPU per answer ($user µs of it in user space)"
    RESULTS[$server]="${RESULTS[$server]:-} $qps"
    CPU[$server]="${CPU[$server]:-} $us"
    USER[$server]="${USER[$server]:-} $user"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
zs=$(echo "${RESULTS[zonesync]}" | median); kn=$(echo "${RESULTS[knot]}" | median); ns=$(echo "${RESULTS[nsd]}" | median)
echo "median qps: zonesync $zs, knot $kn, nsd $ns"
zc=$(echo "${CPU[zonesync]}" | median); kc=$(echo "${CPU[knot]}" | median); nc=$(echo "${CPU[nsd]}" | median)
echo "median server CPU per answer (µs): zonesync $zc, knot $kc, nsd $nc"
zu=$(echo "${USER[zonesync]}" | median); ku=$(echo "${USER[knot]}" | median); nu=$(echo "${USER[nsd]}" | median)
# The rest is the kernel's (the UDP or TCP stack), much the same for all
# three: it bounds how far any server's own code can bring the ratio.
echo "median of it in user space (µs): zonesync $zu, knot $ku, nsd $nu"
python3 -c "print(f'ratios: zonesync/knot {$zs/$kn:.2f}, zonesync/nsd {$zs/$ns:.2f}; CPU per answer zonesync/knot {$zc/$kc:.2f}')"
rm -rf "$DIR"
