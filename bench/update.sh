#!/usr/bin/env bash
# Dynamic updates (RFC 2136), side by side in one run:
#   throughput: single-record UPDATEs per second, TSIG-signed, one client
#     waiting for each answer, to a zonesync, a Knot and a BIND primary;
#   propagation: UPDATE sent -> the secondary serves the new serial,
#     median/p90 of CHANGES updates, for
#       A: zonesync -> zonesync   B: zonesync -> Knot
#       C: Knot -> Knot           D: BIND -> NSD
#       E: Knot -> Knot, the change made by knotc zone-begin/zone-set/
#          zone-commit (T0 just before zone-commit; knotc's own start-up
#          is in the figure)
#     (every primary NOTIFYs at once: zonesync notify_delay_ms = 0, BIND
#     notify-delay 0, Knot by default).
#   bench/update.sh [CHANGES=50]
#   env: RECORDS=10000 (zone size; RECORDS=1000000 shows whether the time
#        grows with the zone) UPDATES=500 (throughput run) PAUSE_MS=2500
#        (between propagation updates: a Knot 3.2 secondary NOTIFYed within
#        a second of its last refresh waits for a 1 s timer (see
#        propagation.sh); once one refresh is late, a pause under 2 s keeps
#        every later one within that second)
# Primaries run on CPU $SERVER_CPU, secondaries and the client on
# $CLIENT_CPU. The client is examples/update_probe.rs: each UPDATE
# replaces the A record of probe.ZONE (the zone keeps its size); "serving"
# is from sending the UPDATE to the secondary answering the primary's new
# serial (polled every 100 us over UDP).
source "$(dirname "$0")/lib.sh"
CHANGES=${1:-50}
RECORDS=${RECORDS:-10000}
UPDATES=${UPDATES:-500}
PAUSE_MS=${PAUSE_MS:-2500}
ZONE=example.com
SERIAL=2026010101
KEY=bench-key
SECRET=c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==
DIR=$(mktemp -d /tmp/zonesync-update.XXXXXX)
trap 'cleanup; rm -rf "$DIR"' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
(cd "$ROOT" && cargo build --release --quiet --example update_probe)
PROBE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/update_probe
need_tools knotd named nsd

mkdir -p "$DIR"/{zp,zs,zk,kp,ks,bp,ns}
python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/zone"
for d in zp kp bp; do cp "$DIR/zone" "$DIR/$d/$ZONE.zone"; done
P_ZS=$(free_port); S_ZS=$(free_port); S_ZK=$(free_port)
P_K=$(free_port); S_K=$(free_port); P_B=$(free_port); S_N=$(free_port)

start() { # CPU LOG CMD...; appends to PIDS
  local cpu=$1 log=$2; shift 2
  taskset -c "$cpu" "$@" >"$log" 2>&1 &
  PIDS+=($!)
}

# A and B: one zonesync primary NOTIFYing both secondaries.
cat > "$DIR/zp/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$P_ZS"]
data_dir = "$DIR/zp/data"
udp_workers = 1
notify_delay_ms = 0
[[key]]
name = "$KEY"
secret = "$SECRET"
[[zone]]
name = "$ZONE"
file = "$DIR/zp/$ZONE.zone"
role = "primary"
allow_transfer = [{ from = "127.0.0.0/8" }]
notify = ["127.0.0.1:$S_ZS", "127.0.0.1:$S_ZK"]
[[zone.allow_update]]
key = "$KEY"
CONF
start "$SERVER_CPU" "$DIR/zp/log" "$ZONESYNC" --log info serve --config "$DIR/zp/zonesync.toml" "${ALLOW_ROOT[@]}"
cat > "$DIR/zs/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$S_ZS"]
data_dir = "$DIR/zs/data"
udp_workers = 1
[[zone]]
name = "$ZONE"
role = "secondary"
primaries = [{ address = "127.0.0.1:$P_ZS" }]
CONF

knot_conf() { # DIR PORT ZONE-LINES
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
key:
  - id: $KEY
    algorithm: hmac-sha256
    secret: $SECRET
$3
CONF
}
knot_secondary() { # DIR PORT PRIMARY_PORT
  knot_conf "$1" "$2" "remote:
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
    file: \"$1/$ZONE.zone\"
    zonefile-sync: -1
    journal-content: none"
  start "$CLIENT_CPU" "$1/log" knotd -c "$1/knot.conf"
}

# C: a Knot primary taking UPDATE (TSIG), NOTIFY to a Knot secondary.
knot_conf "$DIR/kp" "$P_K" "control:
    listen: \"$DIR/kp/knot.sock\"
remote:
  - id: secondary
    address: 127.0.0.1@$S_K
acl:
  - id: transfer
    address: 127.0.0.0/8
    action: transfer
  - id: update
    key: $KEY
    action: update
zone:
  - domain: $ZONE
    file: \"$DIR/kp/$ZONE.zone\"
    notify: secondary
    acl: [transfer, update]
    journal-content: changes"
start "$SERVER_CPU" "$DIR/kp/log" knotd -c "$DIR/kp/knot.conf"

# D: a BIND primary taking UPDATE, NOTIFY (no delay) to an NSD secondary.
cat > "$DIR/bp/named.conf" <<CONF
options {
    directory "$DIR/bp";
    listen-on port $P_B { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "$DIR/bp/named.pid";
    session-keyfile "$DIR/bp/session.key";
    managed-keys-directory "$DIR/bp";
    recursion no;
    dnssec-validation no;
    notify explicit;
    notify-delay 0;
    allow-transfer { 127.0.0.0/8; };
};
controls { };
key "$KEY" { algorithm hmac-sha256; secret "$SECRET"; };
zone "$ZONE" {
    type primary;
    file "$DIR/bp/$ZONE.zone";
    allow-update { key "$KEY"; };
    also-notify { 127.0.0.1 port $S_N; };
};
CONF
start "$SERVER_CPU" "$DIR/bp/log" named -g -n 1 -c "$DIR/bp/named.conf"

for port in $P_ZS $P_K $P_B; do wait_serial "$port" $ZONE $SERIAL 300; done
start "$CLIENT_CPU" "$DIR/zs/log" "$ZONESYNC" --log info serve --config "$DIR/zs/zonesync.toml" "${ALLOW_ROOT[@]}"
knot_secondary "$DIR/zk" "$S_ZK" "$P_ZS"
knot_secondary "$DIR/ks" "$S_K" "$P_K"
cat > "$DIR/ns/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$S_N
    port: $S_N
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$DIR/ns"
    pidfile: "$DIR/ns/nsd.pid"
    xfrdfile: "$DIR/ns/xfrd.state"
    zonelistfile: "$DIR/ns/zone.list"
    xfrdir: "$DIR/ns"
    database: ""
    server-count: 1
    verbosity: 2
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: "$DIR/ns/$ZONE.zone"
    request-xfr: 127.0.0.1@$P_B NOKEY
    allow-notify: 127.0.0.0/8 NOKEY
CONF
start "$CLIENT_CPU" "$DIR/ns/log" nsd -d -c "$DIR/ns/nsd.conf"
for port in $S_ZS $S_ZK $S_K $S_N; do wait_serial "$port" $ZONE $SERIAL 300; done

echo "zone: $RECORDS records; $CHANGES updates per setup, $PAUSE_MS ms apart; throughput: $UPDATES updates"
echo "versions: zonesync $("$ZONESYNC" --version | awk '{print $2}'), $(knotd -V | head -1), $(named -v), NSD $(nsd -v 2>&1 | head -1 | awk '{print $3}')"
probe() { taskset -c "$CLIENT_CPU" "$PROBE" --zone $ZONE --key "hmac-sha256:$KEY:$SECRET" "$@"; }

echo "== propagation (UPDATE -> secondary serving), ms"
declare -A MED
for setup in "A zonesync->zonesync $P_ZS $S_ZS" "B zonesync->Knot $P_ZS $S_ZK" \
             "C Knot->Knot $P_K $S_K" "D BIND->NSD $P_B $S_N"; do
  set -- $setup
  line=$(probe --primary 127.0.0.1:$3 --secondary 127.0.0.1:$4 --count "$CHANGES" --pause-ms "$PAUSE_MS" --quiet)
  MED[$1]=$(echo "$line" | sed -E 's/.*serving median ([0-9.]+).*/\1/')
  printf '%s %-20s %s\n' "$1" "$2" "$line"
done

KC="knotc -s $DIR/kp/knot.sock"
E=()
for i in $(seq 1 "$CHANGES"); do
  $KC zone-begin $ZONE >/dev/null
  $KC zone-unset $ZONE probekc A >/dev/null 2>&1 || true
  $KC zone-set $ZONE probekc 60 A "10.1.$((i / 256)).$((i % 256))" >/dev/null
  t0=$(date +%s%N)
  $KC zone-commit $ZONE >/dev/null
  E+=("$(probe --primary 127.0.0.1:$P_K --secondary 127.0.0.1:$S_K --watch-since "$t0" | awk '{print $2}')")
  sleep "$(python3 -c "print($PAUSE_MS/1000)")"
done
MED[E]=$(printf '%s\n' "${E[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int(NR/2)+1]}')
P90E=$(printf '%s\n' "${E[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int(NR*9/10)+1]}')
printf 'E %-20s changes %s serving median %s ms p90 %s ms\n' "Knot->Knot(knotc)" "$CHANGES" "${MED[E]}" "$P90E"

echo "== throughput (one client, each UPDATE waits for its answer)"
for setup in "zonesync $P_ZS" "Knot $P_K" "BIND $P_B"; do
  set -- $setup
  printf '%-9s %s\n' "$1" "$(probe --primary 127.0.0.1:$2 --count "$UPDATES" --quiet)"
done
echo "ratios of propagation medians: A/C $(python3 -c "print(round(${MED[A]}/${MED[C]},3))")," \
     "A/D $(python3 -c "print(round(${MED[A]}/${MED[D]},3))"), A/E $(python3 -c "print(round(${MED[A]}/${MED[E]},3))")"
