#!/usr/bin/env bash
# ZONEMD (RFC 8976) of a large zone: how long verifying its digest takes
# against how long loading it takes (the goal: under the load time), for
# zonesync (`check-zone`: parse and build, then ZONEMD) and, as the other
# implementation at hand, ldns (`ldns-verify-zone -Z`). The ZONEMD is
# made by ldns-signzone -Z -z 1:1 (SHA-384). Pinned to SERVER_CPU; REPS
# runs each, medians.
#
#   bench/zonemd.sh [RECORDS]      (default 1000000; REPS=3)
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-1000000}
REPS=${REPS:-3}
ZONE=bench.example
DIR=$(mktemp -d)
trap 'cleanup; rm -rf "$DIR"' EXIT
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/plain.zone"
ldns-signzone -Z -z 1:1 -o $ZONE. -f "$DIR/$ZONE.zone" "$DIR/plain.zone"
echo "zone: $(grep -c . "$DIR/$ZONE.zone") lines, ZONEMD by ldns-signzone -Z -z 1:1 (SHA-384)"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
load=(); digest=(); ldns=()
for _ in $(seq "$REPS"); do
  out=$(taskset -c "$SERVER_CPU" "$ZONESYNC" check-zone --origin $ZONE --no-dnssec "$DIR/$ZONE.zone")
  echo "$out" | grep -q "ZONEMD verified" || { echo "$out" >&2; exit 1; }
  load+=("$(echo "$out" | sed -n 's/.*parsed and built in \([0-9.]*\) s.*/\1/p')")
  digest+=("$(echo "$out" | sed -n 's/.*ZONEMD verified (.*, \([0-9.]*\) s).*/\1/p')")
  t0=$(date +%s.%N)
  taskset -c "$SERVER_CPU" ldns-verify-zone -Z "$DIR/$ZONE.zone" >/dev/null
  ldns+=("$(echo "$(date +%s.%N) - $t0" | bc)")
done
L=$(printf '%s\n' "${load[@]}" | median)
D=$(printf '%s\n' "${digest[@]}" | median)
V=$(printf '%s\n' "${ldns[@]}" | median)
echo "zonesync: load (parse + build) median ${L} s; ZONEMD verify median ${D} s; ratio verify/load $(echo "scale=2; $D / $L" | bc)"
echo "ldns-verify-zone -Z (read + verify): median ${V} s"
echo "runs: load ${load[*]} | zonemd ${digest[*]} | ldns ${ldns[*]}"
