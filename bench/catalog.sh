#!/usr/bin/env bash
# Catalog zones (RFC 9432): provisioning time and memory per member, a
# zonesync consumer and a Knot consumer of the same producer, in one run.
#   bench/catalog.sh [MEMBERS=1000]
# The producer is a zonesync primary serving MEMBERS small zones and two
# catalogs, one per consumer, both empty at first. For each consumer in
# turn: its catalog is rewritten to list every member and reloaded
# (`ctl reload`, NOTIFY at once); the time is from that reload to the
# consumer serving the last member (examples/catalog_probe.rs polls them
# all over UDP). RSS: the consumer's before and after, per member. Then
# the catalog is emptied: the time until no member is served any more.
# The producer and the probe run on CPU $SERVER_CPU, the consumers on
# $CLIENT_CPU.
source "$(dirname "$0")/lib.sh"
MEMBERS=${1:-1000}
DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/zonesync-catalog.XXXXXX")
trap 'cleanup; [ -n "${KEEP:-}" ] || rm -rf "$DIR"' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
(cd "$ROOT" && cargo build --release --quiet --example catalog_probe)
PROBE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/catalog_probe
command -v knotd >/dev/null || { echo "knotd is not installed (scripts/install-test-deps.sh)" >&2; exit 1; }

mkdir -p "$DIR"/{p,z,k}
P=$(free_port); Z=$(free_port); K=$(free_port); CTL=$(free_port)
start() { # CPU LOG CMD...; appends to PIDS, sets LAST_PID
  local cpu=$1 log=$2; shift 2
  taskset -c "$cpu" "$@" >"$log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

catalog_file() { # NAME SERIAL WITH_MEMBERS(0/1)
  {
    printf '$ORIGIN %s.\n$TTL 0\n@ SOA invalid. invalid. %s 3600 600 86400 0\n@ NS invalid.\nversion TXT "2"\n' "$1" "$2"
    if [ "$3" = 1 ]; then
      awk -v n="$MEMBERS" 'BEGIN { for (i = 0; i < n; i++) printf "m%d.zones PTR m%d.example.\n", i, i }'
    fi
  } > "$DIR/p/$1.zone"
}

# The producer.
{
  cat <<CONF
[server]
listen = ["127.0.0.1:$P"]
data_dir = "$DIR/p/data"
udp_workers = 1
notify_delay_ms = 0
control = "127.0.0.1:$CTL"
[[zone]]
name = "catz-z"
file = "catz-z.zone"
role = "primary"
allow_transfer = [{ from = "127.0.0.0/8" }]
notify = ["127.0.0.1:$Z"]
[[zone]]
name = "catz-k"
file = "catz-k.zone"
role = "primary"
allow_transfer = [{ from = "127.0.0.0/8" }]
notify = ["127.0.0.1:$K"]
CONF
  awk -v n="$MEMBERS" 'BEGIN { for (i = 0; i < n; i++) printf "[[zone]]\nname = \"m%d.example\"\nfile = \"zones/m%d.example.zone\"\nrole = \"primary\"\nallow_transfer = [{ from = \"127.0.0.0/8\" }]\n", i, i }'
} > "$DIR/p/zonesync.toml"
mkdir -p "$DIR/p/zones"
awk -v n="$MEMBERS" -v d="$DIR/p/zones" 'BEGIN { for (i = 0; i < n; i++) {
  f = d "/m" i ".example.zone"
  printf "$ORIGIN m%d.example.\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n", i > f
  close(f) } }'
catalog_file catz-z 1 0
catalog_file catz-k 1 0
start "$SERVER_CPU" "$DIR/p/log" "$ZONESYNC" --log warn serve --config "$DIR/p/zonesync.toml" "${ALLOW_ROOT[@]}"
wait_serial "$P" "m$((MEMBERS - 1)).example" 1 600

# The zonesync consumer.
cat > "$DIR/z/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:$Z"]
data_dir = "$DIR/z/data"
udp_workers = 1
[[zone]]
name = "catz-z"
role = "secondary"
primaries = [{ address = "127.0.0.1:$P" }]
[zone.catalog]
role = "consumer"
templates = ["member"]
[[template]]
name = "member"
role = "secondary"
primaries = [{ address = "127.0.0.1:$P" }]
CONF
start "$CLIENT_CPU" "$DIR/z/log" "$ZONESYNC" --log "${CONSUMER_LOG:-warn}" serve --config "$DIR/z/zonesync.toml" "${ALLOW_ROOT[@]}"
Z_PID=$LAST_PID

# The Knot consumer.
cat > "$DIR/k/knot.conf" <<CONF
server:
    rundir: "$DIR/k"
    listen: 127.0.0.1@$K
    udp-workers: 1
    tcp-workers: 1
database:
    storage: "$DIR/k"
log:
  - target: stderr
    any: info
remote:
  - id: producer
    address: 127.0.0.1@$P
acl:
  - id: notify
    address: 127.0.0.0/8
    action: notify
template:
  - id: default
    storage: "$DIR/k"
  - id: member
    storage: "$DIR/k"
    master: producer
    acl: notify
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: catz-k.
    master: producer
    acl: notify
    catalog-role: interpret
    catalog-template: member
CONF
start "$CLIENT_CPU" "$DIR/k/log" knotd -c "$DIR/k/knot.conf"
K_PID=$LAST_PID

wait_serial "$Z" catz-z 1 60
# Knot does not answer queries for a catalog it consumes: its log says.
end=$((SECONDS + 60))
until grep -q '\[catz-k.\] refresh.*serial none -> 1' "$DIR/k/log"; do
  [ $SECONDS -lt $end ] || { echo "Knot did not load catz-k" >&2; cat "$DIR/k/log" >&2; exit 1; }
  sleep 0.1
done
awk -v n="$MEMBERS" 'BEGIN { for (i = 0; i < n; i++) printf "m%d.example\n", i }' > "$DIR/members"

echo "members: $MEMBERS; versions: zonesync $("$ZONESYNC" --version | awk '{print $2}'), $(knotd --version | head -1)"
echo "command: bench/catalog.sh $MEMBERS (SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
measure() { # NAME PORT PID CATALOG
  local before after line
  before=$(rss_kb "$3")
  catalog_file "$4" 2 1
  line=$(taskset -c "$SERVER_CPU" "$PROBE" --server "127.0.0.1:$2" --zones "$DIR/members" --serial 1 --timeout 1200 -- \
    "$ZONESYNC" ctl --control "127.0.0.1:$CTL" reload "$4")
  sleep 1
  after=$(rss_kb "$3")
  printf '%-9s %s; RSS %s -> %s KiB, %s bytes per member\n' "$1" "$(echo "$line" | tail -1)" \
    "$before" "$after" "$(( (after - before) * 1024 / MEMBERS ))"
  # Then the catalog is emptied: until no member is served.
  catalog_file "$4" 3 0
  line=$(taskset -c "$SERVER_CPU" "$PROBE" --server "127.0.0.1:$2" --zones "$DIR/members" --serial 0 --timeout 1200 -- \
    "$ZONESYNC" ctl --control "127.0.0.1:$CTL" reload "$4")
  printf '%-9s removal: %s\n' "$1" "$(echo "$line" | tail -1 | sed 's/^served/gone/')"
}
measure zonesync "$Z" "$Z_PID" catz-z
measure Knot "$K" "$K_PID" catz-k
