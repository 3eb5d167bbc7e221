#!/usr/bin/env bash
# `zonesync verify` at scale: ZONES (1,000) small zones, each served by the
# same 4 nameservers of 4 vendors on loopback, checked in one command.
# Goal (the issue): under 5 seconds wall time.
#   ns1 = zonesync, ns2 = Knot, ns3 = NSD, ns4 = BIND, each on 127.0.0.1
#   with a port of its own (BIND only listens on addresses configured on an
#   interface, and lo has 127.0.0.1 alone), all serving every zone, all
#   pinned to CPU $SERVER_CPU; verify (and the baselines) on $CLIENT_CPU.
# Each zone zNNNN.test.: SOA, NS ns1..ns4 (in-zone, A 127.0.0.1, no glue
# needed), apex A and MX, www and mail A: 13 records.
# BEHIND (nsd) serves every 10th zone (zone number ending in 3) one serial
# older, so verify has BEHIND_ZONES serial-behind verdicts to produce;
# AXFR_OPEN (knot) allows AXFR from 127.0.0.0/8, so every zone also gets an
# axfr-open warning (AXFR_OPEN=none: no server allows it). Every other server
# refuses transfers. A zone's expected status is therefore CRITICAL (behind)
# or WARNING (axfr-open), and the exit code 2.
#   bench/verify.sh [ZONES=1000]
#   env: REPS=5 (timed runs of the plain table output)
#        BEHIND=zonesync|knot|nsd|bind (nsd)  AXFR_OPEN=zonesync|knot|nsd|bind|none (knot)
#        SERVERS=file|flags (file: each line of the --zones file names its
#          4 servers, NAME=ADDR:PORT; flags: one --ns per server for all zones)
#        VERIFY_ARGS="..." (added to every verify run, e.g. --concurrency 512)
#        VERIFY_LIMIT_S=120 (bound per verify run)  START_LIMIT_S=120 (per server)
#        KEEP=1 (keep the temp dir: configs, logs, verify's outputs)
# Printed: per run the wall time (measured around the process, EPOCHREALTIME),
# the peak RSS, user+system CPU (/usr/bin/time -v), the exit code and the
# number of verdict lines; the median, min and max of the REPS runs; one run
# with --json (verdicts counted by code and checked against the zones made
# to be behind) and one with --no-axfr-check (the cost of the AXFR check).
# There is no competitor tool to compare against (no other checker asks
# 1,000 zones x 4 servers in one command), so two baselines for the bare
# 4,000 SOA queries only (verify also asks NS and, unless --no-axfr-check,
# opens a TCP connection per zone and server for the AXFR): `dig -f` of all
# 4,000, one at a time (what a script around dig does, minus 4,000 process
# starts), and, when installed, dnsperf: one process per server, all four at
# once, each 1,000 SOA queries with up to 64 in flight (256 in all: verify's
# default --concurrency). They are the floor, not a competitor.
source "$(dirname "$0")/lib.sh"
ZONES=${1:-${ZONES:-1000}}
REPS=${REPS:-5}
BEHIND=${BEHIND:-nsd}
AXFR_OPEN=${AXFR_OPEN:-knot}
SERVERS=${SERVERS:-file}
VERIFY_ARGS=${VERIFY_ARGS:-}
VERIFY_LIMIT_S=${VERIFY_LIMIT_S:-120}
START_LIMIT_S=${START_LIMIT_S:-120}
SERIAL=2026010102 # current; the behind server's old copies are at SERIAL - 1
VENDORS=(zonesync knot nsd bind)
declare -A ADDR PORT # ADDR[v]: ADDRESS:PORT of vendor v's server
for v in "${VENDORS[@]}"; do
  for _ in 1 2 3 4 5; do # four different ports
    PORT[$v]=$(free_port); [[ " ${ADDR[*]:-} " == *":${PORT[$v]} "* ]] || break
  done
  ADDR[$v]=127.0.0.1:${PORT[$v]}
done
declare -A NSNAME=([zonesync]=ns1 [knot]=ns2 [nsd]=ns3 [bind]=ns4)
case $BEHIND in zonesync|knot|nsd|bind) ;; *) echo "BEHIND must be zonesync, knot, nsd or bind" >&2; exit 2 ;; esac
case $AXFR_OPEN in zonesync|knot|nsd|bind|none) ;; *) echo "AXFR_OPEN must be zonesync, knot, nsd, bind or none" >&2; exit 2 ;; esac
case $SERVERS in file|flags) ;; *) echo "SERVERS must be file or flags" >&2; exit 2 ;; esac
[ "$ZONES" -ge 1 ] && [ "$ZONES" -le 9999 ] || { echo "ZONES must be 1..9999" >&2; exit 2; }
need_tools knotd nsd named dig taskset /usr/bin/time
DIR=$(mktemp -d /tmp/zonesync-verify.XXXXXX)
trap 'cleanup; if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)

# ---------------------------------------------------------------- zones
# zones.tsv: NAME CURRENT_FILE OLD_FILE_OR_- ; old/ holds the behind copies.
mkdir -p "$DIR/zones" "$DIR/old"
python3 - "$DIR" "$ZONES" "$SERIAL" <<'PY'
import sys
d, n, serial = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def zone(name, i, serial, www):
    return (f"$ORIGIN {name}\n$TTL 3600\n"
            f"@ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n"
            "@ NS ns1\n@ NS ns2\n@ NS ns3\n@ NS ns4\n"
            "ns1 A 127.0.0.1\nns2 A 127.0.0.1\nns3 A 127.0.0.1\nns4 A 127.0.0.1\n"
            f"@ A 192.0.2.{i % 250 + 1}\n@ MX 10 mail\n"
            f"www A {www}\nmail A 198.51.100.{i % 250 + 1}\n")
with open(f"{d}/zones.tsv", "w") as tsv:
    for i in range(1, n + 1):
        name = f"z{i:04d}.test."
        cur = f"{d}/zones/{name}zone"
        open(cur, "w").write(zone(name, i, serial, f"203.0.113.{i % 250 + 1}"))
        old = "-"
        if i % 10 == 3:  # behind on one server: older serial, an older www
            old = f"{d}/old/{name}zone"
            open(old, "w").write(zone(name, i, serial - 1, "203.0.113.254"))
        tsv.write(f"{name} {cur} {old}\n")
PY
BEHIND_ZONES=$(awk '$3 != "-"' "$DIR/zones.tsv" | wc -l)
LAST=$(tail -1 "$DIR/zones.tsv" | awk '{print $1}')
LAST_OLD=$(tail -1 "$DIR/zones.tsv" | awk '{print $3}')
# zone_file VENDOR CUR OLD: sets ZF, the file VENDOR serves for the zone (no subshell: 4,000 calls).
zone_file() { ZF=$2; if [ "$1" = "$BEHIND" ] && [ "$3" != - ]; then ZF=$3; fi; }

# ---------------------------------------------------------------- servers
# Each in DIR/VENDOR with its own config, in the foreground, stopped by PID.
mkdir -p "${VENDORS[@]/#/$DIR/}"
{ # zonesync
  d=$DIR/zonesync
  printf '[server]\nlisten = ["%s"]\ndata_dir = "%s/data"\nudp_workers = 1\nnsid = "zonesync"\n' \
    "${ADDR[zonesync]}" "$d"
  while read -r name cur old; do
    zone_file zonesync "$cur" "$old"
    printf '[[zone]]\nname = "%s"\nfile = "%s"\nrole = "primary"\n' "$name" "$ZF"
    [ "$AXFR_OPEN" != zonesync ] || printf 'allow_transfer = [{ from = "127.0.0.0/8" }]\n'
  done < "$DIR/zones.tsv"
} > "$DIR/zonesync/zonesync.toml"
{ # Knot: the default template holds the common settings
  d=$DIR/knot
  cat <<CONF
server:
    rundir: "$d"
    listen: 127.0.0.1@${PORT[knot]}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    nsid: "knot"
database:
    storage: "$d"
log:
  - target: stderr
    any: warning
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: "$d"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
$([ "$AXFR_OPEN" != knot ] || echo "    acl: xfr")
zone:
CONF
  while read -r name cur old; do
    zone_file knot "$cur" "$old"
    printf '  - domain: %s\n    file: "%s"\n' "$name" "$ZF"
  done < "$DIR/zones.tsv"
} > "$DIR/knot/knot.conf"
{ # NSD (as lib.sh start_nsd, with one zone: entry per zone)
  d=$DIR/nsd
  cat <<CONF
server:
    ip-address: 127.0.0.1@${PORT[nsd]}
    server-count: 1
    username: ""
    zonesdir: "$d"
    database: ""
    pidfile: "$d/nsd.pid"
    xfrdfile: "$d/xfrd.state"
    zonelistfile: "$d/zone.list"
    logfile: "$d/nsd.log"
    verbosity: 0
    nsid: "ascii_nsd"
    # Debian builds NSD with response-rate limiting on; it would drop verify's bursts.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
CONF
  while read -r name cur old; do
    zone_file nsd "$cur" "$old"
    printf 'zone:\n    name: %s\n    zonefile: "%s"\n' "$name" "$ZF"
    [ "$AXFR_OPEN" != nsd ] || printf '    provide-xfr: 127.0.0.0/8 NOKEY\n'
  done < "$DIR/zones.tsv"
} > "$DIR/nsd/nsd.conf"
{ # BIND
  d=$DIR/bind
  cat <<CONF
options {
    directory "$d";
    pid-file "$d/named.pid";
    session-keyfile "$d/session.key";
    managed-keys-directory "$d";
    listen-on port ${PORT[bind]} { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
    server-id "bind";
    allow-transfer { $([ "$AXFR_OPEN" = bind ] && echo 127.0.0.0/8 || echo none); };
};
controls { };
CONF
  while read -r name cur old; do
    zone_file bind "$cur" "$old"
    printf 'zone "%s" { type primary; file "%s"; };\n' "$name" "$ZF"
  done < "$DIR/zones.tsv"
} > "$DIR/bind/named.conf"

declare -A PID
start() { # VENDOR
  local d=$DIR/$1
  case $1 in
    zonesync) taskset -c "$SERVER_CPU" "$ZONESYNC" --log warn serve --config "$d/zonesync.toml" "${ALLOW_ROOT[@]}" >"$d/zonesync.log" 2>&1 & ;;
    knot) taskset -c "$SERVER_CPU" knotd -c "$d/knot.conf" >"$d/knot.log" 2>&1 & ;;
    nsd) taskset -c "$SERVER_CPU" nsd -d -c "$d/nsd.conf" >>"$d/nsd.log" 2>&1 & ;;
    bind) taskset -c "$SERVER_CPU" named -g -n 1 -c "$d/named.conf" >"$d/named.log" 2>&1 & ;;
  esac
  PID[$1]=$!; PIDS+=($!)
}
# wait_soa VENDOR ZONE SERIAL LIMIT_S: until the server answers the SOA with
# SERIAL (at most LIMIT_S seconds, one try per 50 ms at most).
wait_soa() {
  local end=$((SECONDS + $4)) i s
  for ((i = 0; i < $4 * 20 && SECONDS < end; i++)); do
    s=$(dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "${PORT[$1]}" "$2" SOA 2>/dev/null | awk '{print $3}' || true)
    [ "$s" = "$3" ] && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "$1 on ${ADDR[$1]} did not serve $2 serial $3 within $4 s; its log:" >&2
  tail -5 "$DIR/$1/"*.log >&2
  return 1
}

echo "machine: $(nproc) cores, $(uname -r); $ZONESYNC"
echo "servers: zonesync ${ADDR[zonesync]}, $(knotd -V 2>&1 | head -1 | sed 's/knotd (Knot DNS), version/Knot/') ${ADDR[knot]}, $(nsd -v 2>&1 | head -1 | sed 's/ version//') ${ADDR[nsd]}, $(named -v | awk '{print $1, $2}') ${ADDR[bind]}; CPU $SERVER_CPU"
echo "zones: $ZONES x $(grep -vc '^\$' "$DIR/zones/$LAST"zone) records; $BEHIND_ZONES behind by one serial on $BEHIND; AXFR open on $AXFR_OPEN; verify on CPU $CLIENT_CPU"
for v in "${VENDORS[@]}"; do
  t0=$EPOCHREALTIME; start "$v"
  exp=$SERIAL; [ "$v" != "$BEHIND" ] || [ "$LAST_OLD" = - ] || exp=$((SERIAL - 1))
  wait_soa "$v" "$LAST" "$exp" "$START_LIMIT_S"
  echo "$v serves $LAST after $(python3 -c "print(f'{$EPOCHREALTIME - $t0:.2f}')") s, RSS $(vm_kb "${PID[$v]}" VmRSS) kB (pid ${PID[$v]})"
done

# ---------------------------------------------------------------- baselines
# soa-VENDOR.batch: dig -f lines, every zone; soa-VENDOR.txt: dnsperf input.
for v in "${VENDORS[@]}"; do
  awk '{print $1, "SOA"}' "$DIR/zones.tsv" > "$DIR/soa-$v.txt"
  awk -v p="${PORT[$v]}" '{print "@127.0.0.1 -p", p, $1, "SOA"}' "$DIR/zones.tsv" > "$DIR/soa-$v.batch"
done
# The dig sweep is also the check that every server serves every zone at
# the serial it should: up to 5 sweeps, 1 s apart, until all answers are right.
sweep_ok=0
for try in 1 2 3 4 5; do
  t0=$EPOCHREALTIME
  for v in "${VENDORS[@]}"; do # one after the other
    taskset -c "$CLIENT_CPU" timeout $((ZONES + 30)) \
      dig +short +norec +time=1 +tries=1 -f "$DIR/soa-$v.batch" > "$DIR/dig-$v.out" 2>&1 || true
  done
  DIG_S=$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.3f}')")
  # "ns1.z0001.test. hostmaster.z0001.test. SERIAL 3600 600 1209600 300"
  bad=$(python3 - "$DIR" "$SERIAL" "$BEHIND" "${VENDORS[@]}" <<'PY'
import re, sys
d, serial, behind, vendors = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
want, got = {}, {}
for line in open(f"{d}/zones.tsv"):
    name, cur, old = line.split()
    for v in vendors:
        want[(name, v)] = serial - 1 if (v == behind and old != "-") else serial
for v in vendors:
    for line in open(f"{d}/dig-{v}.out"):
        m = re.match(r"ns1\.(\S+) \S+ (\d+) ", line)
        if m:
            got[(m[1], v)] = int(m[2])
wrong = [k for k, s in want.items() if got.get(k) != s]
print(len(wrong), " ".join(f"{z}@{v}" for z, v in wrong[:5]))
PY
)
  if [ "${bad%% *}" = 0 ]; then sweep_ok=1; break; fi
  echo "sweep $try: $bad (wrong or missing answers; first ones)"; sleep 1
done
[ $sweep_ok = 1 ] || { echo "not every server serves every zone at its serial; stopping" >&2; exit 1; }
Q=$((ZONES * 4))
echo
echo "=== baselines: the $Q SOA queries alone (all answered with the expected serial)"
echo "dig -f, one at a time (4 batches, one per server, in turn): $DIG_S s"
DNSPERF_S=
if command -v dnsperf >/dev/null; then
  t0=$EPOCHREALTIME; dp=()
  for v in "${VENDORS[@]}"; do
    taskset -c "$CLIENT_CPU" timeout 60 dnsperf -s 127.0.0.1 -p "${PORT[$v]}" -d "$DIR/soa-$v.txt" \
      -n 1 -c 1 -q 64 -t 2 > "$DIR/dnsperf-$v.out" 2>&1 &
    dp+=($!)
  done
  for p in "${dp[@]}"; do wait "$p" || true; done
  DNSPERF_S=$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.3f}')")
  done_q=$(cat "$DIR"/dnsperf-*.out | awk '/Queries completed/ {n += $3} END {print n + 0}')
  echo "dnsperf, 4 at once, 64 in flight each: $DNSPERF_S s ($done_q of $Q completed; 2 s timeout)"
else
  echo "dnsperf: not installed, no concurrent baseline"
fi

# ---------------------------------------------------------------- verify
if ! "$ZONESYNC" verify --help >/dev/null 2>&1; then
  echo
  echo "STOP: '$ZONESYNC verify --help' fails: this build has no verify command yet" >&2
  echo "(servers and baselines above are fine; rebuild with cargo build --release)" >&2
  exit 3
fi
if [ "$SERVERS" = file ]; then # zone NAME=ADDR:PORT x 4 per line
  while read -r name cur old; do
    line=$name
    for v in "${VENDORS[@]}"; do line+=" ${NSNAME[$v]}.$name=${ADDR[$v]}"; done
    echo "$line"
  done < "$DIR/zones.tsv" > "$DIR/verify-zones.txt"
  NS_ARGS=()
else
  awk '{print $1}' "$DIR/zones.tsv" > "$DIR/verify-zones.txt"
  NS_ARGS=(); for v in "${VENDORS[@]}"; do NS_ARGS+=(--ns "${NSNAME[$v]}=${ADDR[$v]}"); done
fi
# listen_drops: the kernel's count of TCP connections dropped because a
# listen queue was full (a SYN then waits ~1 s for its retransmission).
listen_drops() { awk '/^TcpExt:/ {if (!h) {for (i = 1; i <= NF; i++) c[$i] = i; h = 1} else print $c["ListenDrops"]}' /proc/net/netstat; }
# run_verify LABEL ARGS...: one timed run; appends "label wall_s maxrss_kb cpu_s rc verdicts listen_drops" to runs.txt.
run_verify() {
  local label=$1 rc=0 t0 t1 wall rss cpu n drops; shift
  drops=$(listen_drops)
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086 # VERIFY_ARGS is split on purpose
  taskset -c "$CLIENT_CPU" timeout "$VERIFY_LIMIT_S" /usr/bin/time -v -o "$DIR/$label.time" \
    "$ZONESYNC" verify --zones "$DIR/verify-zones.txt" "${NS_ARGS[@]}" $VERIFY_ARGS "$@" \
    > "$DIR/$label.out" 2> "$DIR/$label.err" || rc=$?
  t1=$EPOCHREALTIME
  drops=$(($(listen_drops) - drops))
  wall=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/$label.time" 2>/dev/null)
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$DIR/$label.time" 2>/dev/null)
  if [[ $* == *--json* ]]; then
    n=$(python3 -c 'import json, sys; print(sum(len(z["verdicts"]) for z in json.load(open(sys.argv[1]))["zones"]))' "$DIR/$label.out" 2>/dev/null || echo "?")
  else # the table's verdict lines: "CRITICAL serial-behind: ..."
    n=$(grep -cE '^(CRITICAL|WARNING|UNKNOWN) [a-z-]+:' "$DIR/$label.out" || true)
  fi
  echo "$label $wall ${rss:-?} ${cpu:-?} $rc $n $drops" | tee -a "$DIR/runs.txt"
  case $rc in 0|1|2) ;; 124) echo "  ($label: stopped after $VERIFY_LIMIT_S s)" ;;
    *) echo "  ($label: exit $rc; stderr:)"; tail -5 "$DIR/$label.err" | sed 's/^/  /' ;; esac
}
echo
echo "=== zonesync verify --zones ($ZONES zones x 4 servers, SERVERS=$SERVERS${VERIFY_ARGS:+, $VERIFY_ARGS}); output to a file"
echo "run wall_s peak_rss_kb cpu_s exit verdicts listen_drops"
: > "$DIR/runs.txt"
for rep in $(seq 1 "$REPS"); do run_verify "table-$rep"; done
run_verify json --json
run_verify no-axfr --no-axfr-check

# ---------------------------------------------------------------- summary
echo
echo "command: bench/verify.sh $ZONES   (REPS=$REPS BEHIND=$BEHIND AXFR_OPEN=$AXFR_OPEN SERVERS=$SERVERS VERIFY_ARGS='$VERIFY_ARGS' SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
python3 - "$DIR" "$ZONES" "$BEHIND_ZONES" "${ADDR[$BEHIND]}" "$AXFR_OPEN" "${ADDR[$AXFR_OPEN]:-none}" "$DIG_S" "${DNSPERF_S:-}" \
  "$(for v in "${VENDORS[@]}"; do printf '%s=%s ' "${ADDR[$v]}" "$v"; done)" <<'PY'
import collections, json, statistics, sys
d, zones, behind, behind_addr, axfr_open, axfr_addr, dig_s, dnsperf_s, vendors = sys.argv[1:10]
vendor = dict(kv.split("=") for kv in vendors.split())
zones, behind = int(zones), int(behind)
runs = {}
for line in open(f"{d}/runs.txt"):
    label, wall, rss, cpu, rc, n, drops = line.split()
    runs[label] = (float(wall), rss, cpu, rc, n, drops)
table = [v for k, v in runs.items() if k.startswith("table-")]
walls = [v[0] for v in table]
med = statistics.median(walls)
def mb(kb):
    return f"{int(kb) / 1024:.1f} MB" if kb.isdigit() else "?"
rss = [int(v[1]) for v in table if v[1].isdigit()]
print(f"verify, table output, {len(table)} runs: wall median {med:.3f} s, min {min(walls):.3f}, max {max(walls):.3f}; "
      f"peak RSS median {mb(str(int(statistics.median(rss)))) if rss else '?'}, max {mb(str(max(rss))) if rss else '?'}; "
      f"exit codes {sorted(set(v[3] for v in table))}; verdicts {sorted(set(v[4] for v in table))}")
print(f"goal < 5 s: {'met' if med < 5 else 'NOT met'} (median {med:.3f} s)")
for k, what in (("json", "--json"), ("no-axfr", "--no-axfr-check")):
    if k in runs:
        w, rss, cpu, rc, n, _ = runs[k]
        print(f"{what}: {w:.3f} s ({w / med:.2f} x the table median), peak RSS {mb(rss)}, CPU {cpu} s, exit {rc}, {n} verdicts")
drops = {k: int(v[5]) for k, v in runs.items() if v[5].isdigit() and int(v[5]) > 0}
if drops:
    print(f"NOTE: TCP connections dropped by full listen queues during {drops} (ListenDrops): "
          "each such connect waits ~1 s for its SYN to be sent again")
if "no-axfr" in runs:
    print(f"cost of the AXFR check: {med - runs['no-axfr'][0]:+.3f} s (table median minus the --no-axfr-check run)")
base = f"dig -f one at a time {float(dig_s):.3f} s (verify median / dig = {med / float(dig_s):.2f})"
if dnsperf_s:
    base += f"; dnsperf 4 x 64 in flight {float(dnsperf_s):.3f} s (verify / dnsperf = {med / float(dnsperf_s):.2f})"
print(f"baselines, {zones * 4} SOA queries only: {base}")
# The verdicts of the --json run, checked against what the servers were made to do.
try:
    j = json.load(open(f"{d}/json.out"))
except Exception as e:
    print(f"--json output unreadable: {e}"); sys.exit(0)
codes = collections.Counter(v["code"] for z in j["zones"] for v in z["verdicts"])
print(f"--json: status {j.get('status')}, exit_code {j.get('exit_code')}, summary {j.get('summary')}, "
      f"verdicts by code {dict(sorted(codes.items()))}")
per = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
rtt = collections.defaultdict(list)
for z in j["zones"]:
    for s in z["servers"]:
        v = vendor.get(s.get("address"), s.get("address"))
        per[v]["status"][s.get("status")] += 1
        per[v]["axfr_open"][json.dumps(s.get("axfr_open"))] += 1
        per[v]["transport"][s.get("transport")] += 1
        if s.get("rtt_ms") is not None:
            rtt[v].append(s["rtt_ms"])
for v, c in per.items():
    r = sorted(rtt[v])
    print(f"  {v}: status {dict(c['status'])}, axfr_open {dict(c['axfr_open'])}, transport {dict(c['transport'])}"
          + (f", SOA RTT median {r[len(r) // 2]:.2f} ms, max {r[-1]:.2f} ms" if r else ""))
expect_behind = {l.split()[0] for l in open(f"{d}/zones.tsv") if l.split()[2] != "-"}
got_behind = {z["zone"] for z in j["zones"] for v in z["verdicts"]
              if v["code"] == "serial-behind" and behind_addr in v.get("servers", [])}
expect = collections.Counter({"serial-behind": behind})
if axfr_open != "none":
    expect["axfr-open"] = zones
problems = []
if len(j["zones"]) != zones:
    problems.append(f"{len(j['zones'])} zones in the output, not {zones}")
if got_behind != expect_behind:
    problems.append(f"serial-behind on {behind_addr}: {len(got_behind & expect_behind)} of the {len(expect_behind)} "
                    f"expected zones, {len(got_behind - expect_behind)} others")
if codes != expect:
    problems.append(f"verdict codes {dict(codes)}, expected {dict(expect)}")
print("verdicts as expected" if not problems else "UNEXPECTED: " + "; ".join(problems))
PY
