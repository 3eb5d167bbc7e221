#!/usr/bin/env bash
# XoT (RFC 9103): AXFR of one zone over plain TCP and over TLS 1.3, from
# zonesync and from BIND 9.18, in one run. Both servers serve the same
# generated zone side by side, each pinned to CPU $SERVER_CPU, each with a
# plain listener and a TLS one (a certificate for 127.0.0.1 made here by
# openssl, EC P-256); the clients, pinned to CPU $CLIENT_CPU, read whole
# transfers: `zonesync xfr` (--tls --ca) and kdig (+tls-ca), REPS times
# each per transport and server, alternating servers. Knot DNS 3.2 (the
# Debian version here) has no XoT: it is not in the run.
#   bench/xot.sh [RECORDS=1000000]        (REPS=3 in the environment to change)
# Prints every transfer, then per client, transport and server: median
# wall seconds, records/s and server CPU seconds per transfer
# (user+system of the server process from /proc/PID/stat, before and
# after, 10 ms ticks); the ratios zonesync/BIND per client and transport,
# and TLS/TCP per server and client (what TLS costs).
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-1000000}
REPS=${REPS:-3}
ZONE=example.com
DIR=$(mktemp -d /tmp/zonesync-xot.XXXXXX)
trap 'cleanup; rm -rf "$DIR"' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
need_tools kdig named openssl

python3 "$ROOT/bench/gen-zone.py" $ZONE "$RECORDS" "$DIR/$ZONE.zone"
EXPECT=$(grep -vc '^\$' "$DIR/$ZONE.zone")

# The PKI: a CA and the servers' certificate (both servers use it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DIR/ca.key" \
  -out "$DIR/ca.pem" -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DIR/server.key" \
  -out "$DIR/server.csr" -subj /CN=server 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$DIR/server.ext"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
  -days 2 -extfile "$DIR/server.ext" -out "$DIR/server.pem" 2>/dev/null

echo "machine: $(nproc) cores, $(uname -r); zone: $EXPECT records ($(du -h "$DIR/$ZONE.zone" | cut -f1)); $REPS transfers per client, transport and server"
echo "servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU; $(named -v); $(kdig --version | head -1)"
echo "note: $(knotd -V 2>&1 | head -1) has no XoT (Knot 3.3 added it): not measured"

declare -A PORT TLS PID
for server in zonesync bind; do PORT[$server]=$(free_port); TLS[$server]=$(free_port); done

mkdir -p "$DIR/zs"
cat > "$DIR/zs/zonesync.toml" <<CONF
[server]
listen = ["127.0.0.1:${PORT[zonesync]}"]
tls_listen = ["127.0.0.1:${TLS[zonesync]}"]
tls_certificate = "$DIR/server.pem"
tls_key = "$DIR/server.key"
data_dir = "$DIR/zs/data"
udp_workers = 1
[[zone]]
name = "$ZONE"
file = "$DIR/$ZONE.zone"
role = "primary"
allow_transfer = [{ from = "127.0.0.0/8" }]
CONF
taskset -c "$SERVER_CPU" "$ZONESYNC" --log warn serve --config "$DIR/zs/zonesync.toml" "${ALLOW_ROOT[@]}" >"$DIR/zonesync.log" 2>&1 &
PID[zonesync]=$!; PIDS+=("${PID[zonesync]}")

mkdir -p "$DIR/bind"
cat > "$DIR/bind/named.conf" <<CONF
tls local-tls { key-file "$DIR/server.key"; cert-file "$DIR/server.pem"; };
options {
    directory "$DIR/bind";
    pid-file "$DIR/bind/named.pid";
    session-keyfile "$DIR/bind/session.key";
    managed-keys-directory "$DIR/bind";
    listen-on port ${PORT[bind]} { 127.0.0.1; };
    listen-on port ${TLS[bind]} tls local-tls { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    notify no;
    dnssec-validation no;
    allow-transfer { 127.0.0.0/8; };
};
controls { };
zone "$ZONE" { type primary; file "$DIR/$ZONE.zone"; };
CONF
named-checkconf "$DIR/bind/named.conf"
taskset -c "$SERVER_CPU" named -g -n 1 -c "$DIR/bind/named.conf" >"$DIR/bind.log" 2>&1 &
PID[bind]=$!; PIDS+=("${PID[bind]}")
for server in zonesync bind; do wait_serial "${PORT[$server]}" $ZONE 2026010101 600; done

# The exact client commands (PORT replaced per server and transport).
kdig_tcp='kdig @127.0.0.1 -p PORT +time=600 +retry=0 example.com AXFR | grep "^;; Received"'
kdig_tls="kdig @127.0.0.1 -p PORT +tls-ca=$DIR/ca.pem +tls-hostname=127.0.0.1 +time=600 +retry=0 example.com AXFR | grep '^;; Received'"
zs_tcp="$ZONESYNC xfr example.com --server 127.0.0.1:PORT --timeout 600 | grep '^;; [0-9]* records'"
zs_tls="$ZONESYNC xfr example.com --server 127.0.0.1:PORT --tls --ca $DIR/ca.pem --timeout 600 | grep '^;; [0-9]* records'"

# xfr_once CLIENT TRANSPORT SERVER: one transfer; appends
# "client transport server seconds records cpu_s" to results.
xfr_once() {
  local cmd port
  case $2 in tcp) port=${PORT[$3]} ;; tls) port=${TLS[$3]} ;; esac
  case $1-$2 in
    kdig-tcp) cmd=${kdig_tcp//PORT/$port} ;;
    kdig-tls) cmd=${kdig_tls//PORT/$port} ;;
    zonesync-xfr-tcp) cmd=${zs_tcp//PORT/$port} ;;
    zonesync-xfr-tls) cmd=${zs_tls//PORT/$port} ;;
  esac
  timed_transfer "${PID[$3]}" "$1" "$cmd" "$1 over $2 against $3" "$DIR/$3.log" || return 1
  echo "$1 $2 $3 $CLIENT_S $EXPECT $CLIENT_CPU_S" | tee -a "$DIR/results"
}

echo "client transport server seconds zone_records server_cpu_s"
for rep in $(seq 1 "$REPS"); do
  for client in zonesync-xfr kdig; do
    for transport in tcp tls; do
      for server in zonesync bind; do xfr_once "$client" "$transport" "$server"; done
    done
  done
done
for server in zonesync bind; do # warnings, but those of every start (root, BIND's build flags)
  problems=$(grep -iE 'warn|error' "$DIR/$server.log" | grep -vE 'allow-root|built with' | tail -5 || true)
  [ -z "$problems" ] || printf -- '--- %s log:\n%s\n' "$server" "$problems"
done
for server in zonesync bind; do stop_server "${PID[$server]}"; done

echo
echo "command: bench/xot.sh $RECORDS   (REPS=$REPS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
echo "clients: zonesync-xfr tcp: $zs_tcp"
echo "         zonesync-xfr tls: $zs_tls"
echo "         kdig tcp:         $kdig_tcp"
echo "         kdig tls:         $kdig_tls"
python3 - "$DIR/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for client in dict.fromkeys(r[0] for r in rows):
    for transport in ("tcp", "tls"):
        for server in ("zonesync", "bind"):
            rs = [r for r in rows if r[:3] == [client, transport, server]]
            secs = statistics.median(float(r[3]) for r in rs)
            cpu = statistics.median(float(r[5]) for r in rs)
            med[client, transport, server] = (secs, int(rs[0][4]) / secs, cpu, len(rs))
print(f"{'client':<13} {'transport':<9} {'server':<9} {'median s':>9} {'records/s':>11} {'server CPU s':>12}  runs")
for (client, transport, server), (secs, rate, cpu, n) in med.items():
    print(f"{client:<13} {transport:<9} {server:<9} {secs:>9.3f} {rate:>11,.0f} {cpu:>12.2f}  {n}")
ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "n/a"
for client in dict.fromkeys(c for c, _, _ in med):
    for transport in ("tcp", "tls"):
        z, b = med[client, transport, "zonesync"], med[client, transport, "bind"]
        print(f"zonesync/BIND ({client}, {transport}): time {ratio(z[0], b[0])}, server CPU {ratio(z[2], b[2])}")
for client in dict.fromkeys(c for c, _, _ in med):
    for server in ("zonesync", "bind"):
        t, p = med[client, "tls", server], med[client, "tcp", server]
        print(f"TLS/TCP ({client}, {server}): time {ratio(t[0], p[0])}, server CPU {ratio(t[2], p[2])}")
PY
