#!/usr/bin/env bash
# The cost of `zonesync monitor` watching many zones, and the accuracy of
# the catch-up times it records.
#   ZONES (1,000) small zones zNNNN.test. (verify.sh's zones with two NS:
#   SOA, NS ns1 ns2, ns1/ns2 A 127.0.0.1, apex A and MX, www and mail A),
#   each served by zonesync (ns1) and Knot (ns2) on 127.0.0.1, each server
#   with its own copy of the files, both pinned to CPU $SERVER_CPU; one
#   `zonesync monitor` process (a monitor-only config: every zone with
#   ns = ["ns1.Z=ZONESYNC", "ns2.Z=KNOT"], interval 10 s, fast_interval_ms
#   500, alert_after 60, resolver 127.0.0.1:9 (never asked: the servers are
#   given), its redb database in the temp dir) pinned to CPU $CLIENT_CPU.
#   bench/monitor.sh [ZONES=1000]
#   env: WARMUP_S=20 WINDOW_S=300 (measured window, after the warm-up; 300 s
#          holds one 5-minute re-store of every unchanged server, see below)
#        INTERVAL=10 FAST_MS=500 (the monitor's interval, fast_interval_ms)
#        REQS=20 REQ_GAP_S=0.5 (timed GET /status and /metrics each, spaced)
#        PERF_S=10 (perf record of the monitor after the window; 0: none)
#        PROP_ZONES=10 LAG_MS=2000 LEAD_MS=300 (propagation run, below)
#        START_LIMIT_S=120 (per server start)  KEEP=1 (keep the temp dir)
# The monitor stores a server's sample only when its serial or status
# changes, or 5 minutes after the last one stored, and commits samples
# once a second from a writer thread; so the history no longer holds one
# sample per check, and checks are counted from /metrics instead.
# Phases:
# 1. warm-up, then the window: the monitor's CPU time (user+sys from
#    /proc/PID/stat), VmRSS/VmHWM, its /proc/PID/io (write_bytes, syscw),
#    the database file's growth (both extrapolated per hour). Just before
#    and just after the window (outside its CPU figure), a snapshot: GET
#    /metrics, /status, /metrics. Checks = the sum of
#    zonesync_monitor_checks_total{zone} between the two snapshots, against
#    the configured ZONES/INTERVAL per second; each zone's checks in the
#    window; its mean period = (last_check_ms at the end - at the start) /
#    its checks (zones checked during a snapshot's GETs are left out;
#    window / checks would be quantised to whole checks). The end's /status
#    holds every zone's last check, all within the last interval: their
#    spread shows whether the checks come in waves (the first checks are
#    spread 10 ms apart). GET /api/history of every zone afterwards: the
#    samples stored in the window (a steady run: each server every 5 min).
#    From the end snapshot: zone states, server statuses, SOA RTTs.
# 2. REQS timed GETs of /status, then of /metrics (curl -w time_total,
#    REQ_GAP_S apart, so they sample the whole check cycle): median/min/max.
# 3. (PERF_S > 0 and perf works) perf record of the monitor: top symbols.
# 4. Propagation: PROP_ZONES zones get a new serial (and www A) on zonesync
#    (file rewritten, `zonesync ctl reload ZONE`), and on Knot LAG_MS after
#    zonesync served it (its own copy rewritten, `knotc zone-reload ZONE`).
#    A standalone monitor starts a change's clock when it first sees the new
#    serial, at the zone's next check (up to INTERVAL later); if Knot caught
#    up before that, both servers would read 0. So each zone is changed
#    LEAD_MS before its next check is due (its last_check_ms + INTERVAL from
#    /status): the monitor then sees zonesync's serial first and Knot's
#    within fast_interval_ms of Knot serving it. The script polls both
#    servers' SOA over UDP (2 ms) for the true times, and reads
#    /api/changes?zone=Z: per zone the monitor's catch-up times, how late it
#    saw zonesync's change (first seen − served) and Knot's catch-up
#    (monitor's caught_up − Knot served; expected 0..FAST_MS).
# Every wait is bounded; every process is stopped by its PID (trap EXIT).
source "$(dirname "$0")/lib.sh"
ZONES=${1:-${ZONES:-1000}}
WARMUP_S=${WARMUP_S:-20}
WINDOW_S=${WINDOW_S:-300}
INTERVAL=${INTERVAL:-10}
FAST_MS=${FAST_MS:-500}
REQS=${REQS:-20}
REQ_GAP_S=${REQ_GAP_S:-0.5}
PERF_S=${PERF_S:-10}
PROP_ZONES=${PROP_ZONES:-10}
LAG_MS=${LAG_MS:-2000}
LEAD_MS=${LEAD_MS:-300}
START_LIMIT_S=${START_LIMIT_S:-120}
SERIAL=2026010100
[ "$ZONES" -ge 1 ] && [ "$ZONES" -le 9999 ] || { echo "ZONES must be 1..9999" >&2; exit 2; }
[ "$PROP_ZONES" -le "$ZONES" ] || PROP_ZONES=$ZONES
need_tools knotd knotc dig curl taskset python3 getconf
DIR=$(mktemp -d /tmp/zonesync-monitor.XXXXXX)
trap 'cleanup; if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi' EXIT
[ -x "$ZONESYNC" ] || (cd "$ROOT" && cargo build --release --quiet)
HZ=$(getconf CLK_TCK)

# Four different ports: zonesync DNS, Knot DNS, zonesync control, monitor HTTP.
PORTS=()
while [ ${#PORTS[@]} -lt 4 ]; do
  p=$(free_port); [[ " ${PORTS[*]:-} " == *" $p "* ]] || PORTS+=("$p")
done
ZS_PORT=${PORTS[0]} KNOT_PORT=${PORTS[1]} CTL_PORT=${PORTS[2]} MON_PORT=${PORTS[3]}
MON=http://127.0.0.1:$MON_PORT

# ---------------------------------------------------------------- helper
# One Python helper for the parts bash is poor at (JSON, DNS over UDP,
# timed schedules); subcommands below.
cat > "$DIR/mon.py" <<'PY'
import json, os, random, re, socket, statistics, struct, subprocess, sys, threading, time, urllib.request

def now_ms():
    return time.time() * 1000.0

def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")

def zone_text(name, i, serial, www):
    return (f"$ORIGIN {name}\n$TTL 3600\n"
            f"@ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n"
            "@ NS ns1\n@ NS ns2\n"
            "ns1 A 127.0.0.1\nns2 A 127.0.0.1\n"
            f"@ A 192.0.2.{i % 250 + 1}\n@ MX 10 mail\n"
            f"www A {www}\nmail A 198.51.100.{i % 250 + 1}\n")

def cmd_zones(d, n, serial, zs, knot):
    """zones/{zonesync,knot}/NAME.zone (the same text), zones.txt, monitor.toml's zones."""
    n, serial = int(n), int(serial)
    os.makedirs(f"{d}/zones/zonesync"); os.makedirs(f"{d}/zones/knot")
    with open(f"{d}/zones.txt", "w") as names, open(f"{d}/monitor-zones.toml", "w") as mz:
        for i in range(1, n + 1):
            name = f"z{i:04d}.test."
            text = zone_text(name, i, serial, f"203.0.113.{i % 250 + 1}")
            for v in ("zonesync", "knot"):
                open(f"{d}/zones/{v}/{name}zone", "w").write(text)
            names.write(name + "\n")
            mz.write(f'[[monitor.zone]]\nname = "{name}"\n'
                     f'ns = ["ns1.{name}=127.0.0.1:{zs}", "ns2.{name}=127.0.0.1:{knot}"]\n')

CHECKS_RE = re.compile(r'^zonesync_monitor_checks_total\{zone="([^"]*)"\} (\S+)$')

def metrics_checks(mon):
    """GET /metrics: (the request's mid time, zone -> zonesync_monitor_checks_total, the text)."""
    t0 = now_ms()
    with urllib.request.urlopen(f"{mon}/metrics", timeout=30) as r:
        text = r.read().decode()
    t1 = now_ms()
    checks = {}
    for l in text.splitlines():
        m = CHECKS_RE.match(l)
        if m:
            checks[m[1]] = int(float(m[2]))
    return (t0 + t1) / 2, checks, text

def cmd_snapshot(mon, out):
    """/metrics, /status, /metrics again: each zone's check counter
    (zonesync_monitor_checks_total) and last_check_ms, zone states, server
    statuses, SOA RTTs. A zone whose counter differs between the two /metrics
    reads was checked meanwhile: its last_check_ms may belong to either count."""
    ta, ca, _ = metrics_checks(mon)
    st = get(f"{mon}/status")
    tb, cb, metrics = metrics_checks(mon)
    if not cb:
        sys.exit("no zonesync_monitor_checks_total in /metrics: a monitor older than commit 2e4f3cd "
                 "(cargo build --release)")
    states, statuses, last = {}, {}, {}
    for z in st["zones"]:
        states[z["state"]] = states.get(z["state"], 0) + 1
        if z.get("last_check_ms"):
            last[z["zone"]] = z["last_check_ms"]
        for s in z["servers"]:
            statuses[s["status"]] = statuses.get(s["status"], 0) + 1
    rtt = [float(l.rsplit(" ", 1)[1]) * 1000 for l in metrics.splitlines()
           if l.startswith("zonesync_monitor_rtt_seconds{")]
    json.dump({"t_a_ms": ta, "t_b_ms": tb, "checks_a": ca, "checks_b": cb, "last_check_ms": last,
               "states": states, "statuses": statuses, "rtt_ms": rtt,
               "generated_ms": st["generated_ms"]}, open(out, "w"))

def cmd_window(mon, since, w0, w1, zones_file, start, end, interval, out):
    """The window from two snapshots (start, end) and the stored history.
    Checks: zonesync_monitor_checks_total, the start's second /metrics read
    to the end's first. Each zone's mean period: (last_check_ms at the end -
    at the start) / the checks between, for zones whose counter held still
    during both snapshots (window / checks is quantised: 300 s / 30 or 31).
    Phases: one /status holds every zone's last check, all within the last
    interval, so it shows how the checks are spread over the cycle. Samples
    stored in the window: /api/history (a sample's time is its check's)."""
    since, w0, w1, interval = int(since), float(w0), float(w1), int(interval)
    s0, s1 = json.load(open(start)), json.load(open(end))
    names = open(zones_file).read().split()
    c0, c1 = s0["checks_b"], s1["checks_a"]
    span_s = (s1["t_a_ms"] - s0["t_b_ms"]) / 1000
    per_zone = {n: c1.get(n, 0) - c0.get(n, 0) for n in names}
    checks = sum(per_zone.values())
    hist = {}
    for v in per_zone.values():
        hist[v] = hist.get(v, 0) + 1
    simple = [span_s / v for v in per_zone.values() if v > 0]
    periods, skipped = [], 0
    for n in names:
        steady = all(s["checks_a"].get(n) == s["checks_b"].get(n) for s in (s0, s1))
        l0, l1 = s0["last_check_ms"].get(n), s1["last_check_ms"].get(n)
        k = s1["checks_b"].get(n, 0) - s0["checks_b"].get(n, 0)
        if steady and l0 and l1 and k > 0:
            periods.append((l1 - l0) / k / 1000)
        else:
            skipped += 1
    rate = sum(1 / p for p in periods) * len(names) / max(1, len(periods))
    # Phases: every zone's last check at the end, over the last interval.
    last = sorted(s1["last_check_ms"].values())
    gaps = [b - a for a, b in zip(last, last[1:])]
    top = last[-1] if last else 0
    bins = [0] * interval
    for t in last:
        i = int((top - t) // 1000)
        if i < interval:
            bins[i] += 1
    waves, first, prev, count = [], None, None, 0
    for t in last:  # runs of checks with no pause over 2 s between them
        if prev is None or t - prev > 2000:
            if first is not None:
                waves.append(((prev - first) / 1000, count))
            first, count = t, 0
        count += 1; prev = t
    if first is not None:
        waves.append(((prev - first) / 1000, count))
    stored = samples = 0
    for name in names:
        h = get(f"{mon}/api/history?zone={name}&since_ms={since}")
        stored += len(h["points"])
        samples += sum(1 for p in h["points"] if w0 <= p["time_ms"] < w1)
    json.dump({"checks": checks, "span_s": span_s, "checks_per_zone": hist,
               "unchecked": sum(1 for v in per_zone.values() if v == 0),
               "period_simple_median_s": statistics.median(simple) if simple else None,
               "periods": periods, "periods_skipped": skipped, "rate_from_periods": rate,
               "phase_span_s": (last[-1] - last[0]) / 1000 if last else None,
               "phase_gap_max_ms": max(gaps) if gaps else None,
               "phase_gap_median_ms": statistics.median(gaps) if gaps else None,
               "phase_bins": bins, "waves": waves,
               "samples": samples, "stored_samples": stored}, open(out, "w"))

# --- DNS: one SOA query over UDP, the serial of the answer (None if none).
def qname(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"

def skip_name(m, i):
    while True:
        l = m[i]
        if l == 0:
            return i + 1
        if l & 0xC0 == 0xC0:
            return i + 2
        i += 1 + l

def soa_serial(sock, port, name):
    qid = random.randrange(65536)
    sock.sendto(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", 6, 1),
                ("127.0.0.1", port))
    try:
        while True:
            m = sock.recv(4096)
            if len(m) >= 12 and struct.unpack(">H", m[:2])[0] == qid:
                break
    except socket.timeout:
        return None
    if struct.unpack(">H", m[6:8])[0] < 1:
        return None
    i = skip_name(m, 12) + 4
    i = skip_name(m, i)
    rtype, _, _, rdlen = struct.unpack(">HHIH", m[i:i + 10])
    if rtype != 6:
        return None
    i += 10
    i = skip_name(m, i); i = skip_name(m, i)
    return struct.unpack(">I", m[i:i + 4])[0]

def wait_serial(port, name, serial, limit_s, step_s=0.002):
    """Polls until the server answers `serial`; the time it did (ms), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    end = time.time() + limit_s
    while time.time() < end:
        if soa_serial(s, port, name) == serial:
            return now_ms()
        time.sleep(step_s)
    return None

def bump(path, serial):
    """Rewrites a zone file atomically: the new serial and a new www A."""
    text = open(path).read()
    text = re.sub(r"(@ SOA ns1 hostmaster )\d+", lambda m: m[1] + str(serial), text)
    text = re.sub(r"www A \S+", f"www A 198.18.{serial % 250}.1", text)
    tmp = path + ".tmp"
    open(tmp, "w").write(text); os.rename(tmp, path)

def cmd_prop(d, mon, zs, knot, ctl, zonesync, knot_sock, n, lag_ms, lead_ms, fast_ms, interval, serial, out):
    """The propagation run (see the script's header)."""
    zs, knot, n, lag_ms, lead_ms = int(zs), int(knot), int(n), int(lag_ms), int(lead_ms)
    fast_ms, interval, new = int(fast_ms), int(interval), int(serial) + 1
    st = get(f"{mon}/status")
    t = now_ms()
    cands = []
    for z in st["zones"]:
        if z["state"] == "ok" and z.get("last_check_ms"):
            due = z["last_check_ms"] + interval * 1000  # the next check starts no earlier
            while due - lead_ms <= t + 1000:  # too close: the check after it (a period is
                due += interval * 1000        # the interval and a few ms)
            cands.append((due, z["zone"]))
    cands.sort()
    picked = cands[:n]
    if len(picked) < n:
        print(f"only {len(picked)} zones in state ok with a check due later; using those")
    results, lock = [], threading.Lock()

    def one(due, name):
        r = {"zone": name, "due_ms": due, "problems": []}
        time.sleep(max(0, (due - lead_ms - now_ms()) / 1000))
        bump(f"{d}/zones/zonesync/{name}zone", new)
        r["t0_ms"] = now_ms()
        p = subprocess.run([zonesync, "ctl", "--control", ctl, "reload", name],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            r["problems"].append(f"ctl reload: exit {p.returncode}: {p.stderr.strip()[:200]}")
        r["zs_ms"] = wait_serial(zs, name, new, 10)
        if r["zs_ms"] is None:
            r["problems"].append("zonesync did not serve the new serial within 10 s")
            r["zs_ms"] = now_ms()
        time.sleep(max(0, (r["zs_ms"] + lag_ms - now_ms()) / 1000))
        bump(f"{d}/zones/knot/{name}zone", new)
        r["knot_t0_ms"] = now_ms()
        p = subprocess.run(["knotc", "-s", knot_sock, "zone-reload", name],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            r["problems"].append(f"knotc zone-reload: exit {p.returncode}: {p.stdout.strip()[:200]}")
        r["knot_ms"] = wait_serial(knot, name, new, 10)
        if r["knot_ms"] is None:
            r["problems"].append("Knot did not serve the new serial within 10 s")
        # The monitor's record of the change, once complete.
        end = time.time() + interval * 3 + 10
        change = None
        while time.time() < end:
            ch = get(f"{mon}/api/changes?zone={name}&limit=1")
            if ch and ch[0]["serial"] == new and ch[0]["complete_ms"]:
                change = ch[0]; break
            time.sleep(0.2)
        r["change"] = change
        if change is None:
            r["problems"].append("the monitor did not record the change as complete")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=c) for c in picked]
    for th in threads: th.start()
    for th in threads: th.join()
    rows = []
    for r in sorted(results, key=lambda r: r["zone"]):
        c = r["change"] or {}
        up = c.get("caught_up", {})
        by = lambda port: next((v for k, v in up.items() if k.endswith(f":{port}")), None)
        zc, kc, start = by(zs), by(knot), c.get("started_ms")
        row = {"zone": r["zone"], "origin": c.get("origin"), "problems": r["problems"],
               "reload_ms": r["zs_ms"] - r["t0_ms"],
               "actual_lag_ms": (r["knot_ms"] - r["zs_ms"]) if r["knot_ms"] else None,
               "mon_zs_ms": (zc - start) if zc is not None and start else None,
               "mon_knot_ms": (kc - start) if kc is not None and start else None,
               "seen_zs_late_ms": (start - r["zs_ms"]) if start else None,
               "seen_knot_late_ms": (kc - r["knot_ms"]) if kc is not None and r["knot_ms"] else None,
               "bump_before_due_ms": r["due_ms"] - r["t0_ms"]}
        rows.append(row)
    json.dump(rows, open(out, "w"))
    f = lambda v: "-" if v is None else f"{v:.0f}"
    print(f"{'zone':<14} {'origin':<10} {'reload':>7} {'true_lag':>8} {'mon_zs':>7} {'mon_knot':>8} "
          f"{'zs_seen+':>8} {'knot_seen+':>10} {'due-bump':>8}  (ms)")
    for w in rows:
        print(f"{w['zone']:<14} {str(w['origin']):<10} {f(w['reload_ms']):>7} {f(w['actual_lag_ms']):>8} "
              f"{f(w['mon_zs_ms']):>7} {f(w['mon_knot_ms']):>8} {f(w['seen_zs_late_ms']):>8} "
              f"{f(w['seen_knot_late_ms']):>10} {f(w['bump_before_due_ms']):>8}"
              + ("  " + "; ".join(w["problems"]) if w["problems"] else ""))

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PY
py() { python3 "$DIR/mon.py" "$@"; }

# ---------------------------------------------------------------- zones and servers
py zones "$DIR" "$ZONES" "$SERIAL" "$ZS_PORT" "$KNOT_PORT"
LAST=$(tail -1 "$DIR/zones.txt")
mkdir -p "$DIR/zs" "$DIR/knot"
{
  printf '[server]\nlisten = ["127.0.0.1:%s"]\ncontrol = "127.0.0.1:%s"\ndata_dir = "%s/zs/data"\nudp_workers = 1\n' \
    "$ZS_PORT" "$CTL_PORT" "$DIR"
  while read -r name; do
    printf '[[zone]]\nname = "%s"\nfile = "%s/zones/zonesync/%szone"\nrole = "primary"\n' "$name" "$DIR" "$name"
  done < "$DIR/zones.txt"
} > "$DIR/zs/zonesync.toml"
{ # as verify.sh's Knot: the default template holds the common settings
  cat <<CONF
server:
    rundir: "$DIR/knot"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$DIR/knot"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$DIR/knot"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
CONF
  while read -r name; do printf '  - domain: %s\n    file: "%s/zones/knot/%szone"\n' "$name" "$DIR" "$name"; done < "$DIR/zones.txt"
} > "$DIR/knot/knot.conf"

declare -A PID
taskset -c "$SERVER_CPU" "$ZONESYNC" --log warn serve --config "$DIR/zs/zonesync.toml" "${ALLOW_ROOT[@]}" >"$DIR/zs/zonesync.log" 2>&1 &
PID[zonesync]=$!; PIDS+=($!)
taskset -c "$SERVER_CPU" knotd -c "$DIR/knot/knot.conf" >"$DIR/knot/knot.log" 2>&1 &
PID[knot]=$!; PIDS+=($!)
# wait_soa NAME PORT: until it answers the last zone's SOA with SERIAL (bounded).
wait_soa() {
  local end=$((SECONDS + START_LIMIT_S)) s
  while [ $SECONDS -lt $end ]; do
    s=$(dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$2" "$LAST" SOA 2>/dev/null | awk '{print $3}' || true)
    [ "$s" = "$SERIAL" ] && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 on port $2 did not serve $LAST serial $SERIAL within $START_LIMIT_S s; its log:" >&2
  tail -5 "$DIR"/"${1/zonesync/zs}"/*.log >&2
  exit 1
}
wait_soa zonesync "$ZS_PORT"
wait_soa knot "$KNOT_PORT"

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); $ZONESYNC"
echo "servers: zonesync 127.0.0.1:$ZS_PORT (pid ${PID[zonesync]}), $(knotd -V 2>&1 | head -1 | sed 's/knotd (Knot DNS), version/Knot/') 127.0.0.1:$KNOT_PORT (pid ${PID[knot]}); CPU $SERVER_CPU"
echo "zones: $ZONES x $(grep -vc '^\$' "$DIR/zones/zonesync/${LAST}zone") records, each on both servers"

# ---------------------------------------------------------------- monitor
{
  cat <<CONF
[monitor]
listen = "127.0.0.1:$MON_PORT"
database = "$DIR/mon/monitor.redb"
interval = $INTERVAL
fast_interval_ms = $FAST_MS
alert_after = 60
resolver = "127.0.0.1:9"
CONF
  cat "$DIR/monitor-zones.toml"
} > "$DIR/monitor.toml"
mkdir -p "$DIR/mon"
START_MS=$(python3 -c 'import time; print(int(time.time() * 1000))')
taskset -c "$CLIENT_CPU" "$ZONESYNC" --log info monitor --config "$DIR/monitor.toml" >"$DIR/mon/monitor.log" 2>&1 &
MPID=$!; PIDS+=($MPID)
up=0
for _ in $(seq 1 200); do # 20 s at most
  curl -sf -o /dev/null --max-time 2 "$MON/status" && { up=1; break; }
  kill -0 "$MPID" 2>/dev/null || break
  sleep 0.1
done
[ $up = 1 ] || { echo "the monitor did not answer $MON/status; its log:" >&2; tail -5 "$DIR/mon/monitor.log" >&2; exit 1; }
echo "monitor: pid $MPID on CPU $CLIENT_CPU, $MON, interval $INTERVAL s, fast_interval_ms $FAST_MS; database $DIR/mon/monitor.redb"

# ---------------------------------------------------------------- 1. window
ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
io() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/io"; }
dbsize() { stat -c %s "$DIR/mon/monitor.redb"; }
echo
echo "=== 1. warm-up $WARMUP_S s, then a $WINDOW_S s window"
[ "$WINDOW_S" -ge 300 ] || echo "note: a window under 300 s may hold none of the 5-minute re-stores of unchanged servers: database growth and disk writes then read low"
sleep "$WARMUP_S"
kill -0 "$MPID" 2>/dev/null || { echo "the monitor exited; its log:" >&2; tail -5 "$DIR/mon/monitor.log" >&2; exit 1; }
# Check counters and last checks just before the window and just after it
# (the GETs' own CPU stays outside the window's CPU figure).
py snapshot "$MON" "$DIR/snapshot-0.json"
W0=$(ms); C0=$(cpu_ticks "$MPID"); D0=$(dbsize); WB0=$(io "$MPID" write_bytes); SW0=$(io "$MPID" syscw)
ZC0=$(cpu_ticks "${PID[zonesync]}"); KC0=$(cpu_ticks "${PID[knot]}")
RSS0=$(vm_kb "$MPID" VmRSS)
sleep "$WINDOW_S"
W1=$(ms); C1=$(cpu_ticks "$MPID"); D1=$(dbsize); WB1=$(io "$MPID" write_bytes); SW1=$(io "$MPID" syscw)
ZC1=$(cpu_ticks "${PID[zonesync]}"); KC1=$(cpu_ticks "${PID[knot]}")
RSS1=$(vm_kb "$MPID" VmRSS); HWM1=$(vm_kb "$MPID" VmHWM)
py snapshot "$MON" "$DIR/snapshot.json"
py window "$MON" "$START_MS" "$W0" "$W1" "$DIR/zones.txt" "$DIR/snapshot-0.json" "$DIR/snapshot.json" "$INTERVAL" "$DIR/window.json"
python3 - "$DIR" "$ZONES" "$INTERVAL" "$W0" "$W1" "$C0" "$C1" "$HZ" "$D0" "$D1" "$RSS0" "$RSS1" "$HWM1" \
  "$WB0" "$WB1" "$SW0" "$SW1" "$ZC0" "$ZC1" "$KC0" "$KC1" <<'PY' | tee "$DIR/summary-1.txt"
import json, statistics, sys
a = sys.argv
d, zones, interval = a[1], int(a[2]), int(a[3])
w0, w1, c0, c1, hz, d0, d1, rss0, rss1, hwm, wb0, wb1, sw0, sw1, zc0, zc1, kc0, kc1 = map(int, a[4:22])
win = (w1 - w0) / 1000
w, s = json.load(open(f"{d}/window.json")), json.load(open(f"{d}/snapshot.json"))
pct = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")
cpu = (c1 - c0) / hz
cfg = zones / interval
got = w["checks"] / w["span_s"]          # checks/s, from the counters
per = w["periods"]
rtt = s["rtt_ms"]
# Samples a steady run stores: each server once per 5 minutes.
expected = 2 * zones * win / 300
out = {
 "window_s": win, "cpu_s": cpu, "cpu_pct": 100 * cpu / win, "cpu_ms_per_check": 1000 * cpu / max(1e-9, got * win),
 "rss_kb_start": rss0, "rss_kb": rss1, "hwm_kb": hwm,
 "checks": w["checks"], "checks_span_s": w["span_s"], "checks_per_s": got, "configured_per_s": cfg,
 "checks_per_zone": w["checks_per_zone"], "zones_unchecked": w["unchecked"],
 "period_median_s": statistics.median(per) if per else None, "period_p99_s": pct(per, 99) if per else None,
 "period_min_s": min(per) if per else None, "period_max_s": max(per) if per else None,
 "period_zones": len(per), "period_simple_median_s": w["period_simple_median_s"],
 "rate_from_periods": w["rate_from_periods"],
 "phase_span_s": w["phase_span_s"], "phase_gap_max_ms": w["phase_gap_max_ms"],
 "phase_gap_median_ms": w["phase_gap_median_ms"], "phase_bins": w["phase_bins"], "waves": w["waves"],
 "samples": w["samples"], "samples_expected": expected, "stored_samples": w["stored_samples"],
 "db_bytes_start": d0, "db_bytes": d1, "db_growth": d1 - d0, "db_growth_per_h": (d1 - d0) * 3600 / win,
 "write_bytes": wb1 - wb0, "write_bytes_per_h": (wb1 - wb0) * 3600 / win, "write_syscalls_per_s": (sw1 - sw0) / win,
 "zonesync_cpu_pct": 100 * (zc1 - zc0) / hz / win, "knot_cpu_pct": 100 * (kc1 - kc0) / hz / win,
 "states": s["states"], "statuses": s["statuses"],
 "rtt_median_ms": statistics.median(rtt) if rtt else None, "rtt_p99_ms": pct(rtt, 99) if rtt else None,
 "rtt_max_ms": max(rtt) if rtt else None,
}
json.dump(out, open(f"{d}/result-1.json", "w"))
print(f"window {win:.1f} s: monitor CPU {cpu:.2f} s = {out['cpu_pct']:.1f} % of one core, "
      f"{out['cpu_ms_per_check']:.2f} ms per check")
print(f"memory: VmRSS {rss0 / 1024:.1f} MB at the start, {rss1 / 1024:.1f} MB at the end; VmHWM {hwm / 1024:.1f} MB")
print(f"checks (zonesync_monitor_checks_total): {w['checks']} in {w['span_s']:.1f} s = {got:.1f}/s; "
      f"configured {cfg:.1f}/s ({100 * got / cfg:.1f} %); from each zone's period {w['rate_from_periods']:.1f}/s; "
      f"zones not checked in the window: {w['unchecked']}; checks per zone: "
      + ", ".join(f"{k}: {v} zones" for k, v in sorted(w["checks_per_zone"].items(), key=lambda kv: int(kv[0]))))
if per:
    print(f"period between a zone's checks ({len(per)} zones; last_check_ms span / checks): median "
          f"{out['period_median_s']:.3f} s, p99 {out['period_p99_s']:.3f} s, min {out['period_min_s']:.3f}, "
          f"max {out['period_max_s']:.3f} s (configured {interval} s; window / checks: median "
          f"{out['period_simple_median_s']:.2f} s)")
b = w["phase_bins"]
if b and w["phase_span_s"] is not None:
    print(f"phases (each zone's last check at the end, /status): spread over {w['phase_span_s']:.2f} s, "
          f"gap between successive zones median {w['phase_gap_median_ms']:.0f} ms, max {w['phase_gap_max_ms']:.0f} ms; "
          f"checks per second of the last {interval} s: min {min(b)}, max {max(b)} (uniform {zones / interval:.0f}); "
          f"waves (runs with no 2 s pause): {len(w['waves'])}")
print(f"database: {d0 / 1e6:.2f} -> {d1 / 1e6:.2f} MB, +{(d1 - d0) / 1e6:.3f} MB = {out['db_growth_per_h'] / 1e6:.1f} MB/h; "
      f"samples stored in the window {w['samples']} (a steady run: each server every 5 min, ~{expected:.0f}), "
      f"{w['stored_samples']} in all; disk writes {(wb1 - wb0) / 1e6:.2f} MB = {out['write_bytes_per_h'] / 1e6:.1f} MB/h, "
      f"{out['write_syscalls_per_s']:.1f} write calls/s")
print(f"servers (sharing one CPU): zonesync {out['zonesync_cpu_pct']:.1f} %, Knot {out['knot_cpu_pct']:.1f} % of one core")
print(f"at the end: zone states {s['states']}, server statuses {s['statuses']}; "
      f"SOA RTT of the last checks median {out['rtt_median_ms']:.2f} ms, p99 {out['rtt_p99_ms']:.2f}, max {out['rtt_max_ms']:.2f}")
PY

# ---------------------------------------------------------------- 2. response times
echo
echo "=== 2. GET /status and /metrics, $REQS each, $REQ_GAP_S s apart (curl on CPU $SERVER_CPU)"
: > "$DIR/http.txt"
for path in status metrics; do
  for _ in $(seq 1 "$REQS"); do
    r=$(taskset -c "$SERVER_CPU" curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total} %{size_download}' "$MON/$path" || echo "000 30 0")
    echo "$path $r" >> "$DIR/http.txt"
    sleep "$REQ_GAP_S"
  done
done
python3 - "$DIR" <<'PY' | tee "$DIR/summary-2.txt"
import json, statistics, sys
d = sys.argv[1]
rows = [l.split() for l in open(f"{d}/http.txt")]
out = {}
for path in ("status", "metrics"):
    t = [float(r[2]) * 1000 for r in rows if r[0] == path]
    codes = sorted({r[1] for r in rows if r[0] == path})
    size = max(int(r[3]) for r in rows if r[0] == path)
    out[path] = {"median_ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t), "bytes": size, "codes": codes}
    print(f"/{path}: median {statistics.median(t):.1f} ms, min {min(t):.1f}, max {max(t):.1f} ({len(t)} requests, "
          f"HTTP {','.join(codes)}, {size / 1024:.0f} KiB)")
json.dump(out, open(f"{d}/result-2.json", "w"))
PY

# ---------------------------------------------------------------- 3. perf
if [ "$PERF_S" -gt 0 ] && command -v perf >/dev/null &&
   perf record -q -o "$DIR/perf-probe.data" -- true >/dev/null 2>&1; then
  echo
  echo "=== 3. perf record -F 499 -p $MPID for $PERF_S s (on-CPU time only): top symbols"
  timeout $((PERF_S + 30)) perf record -q -F 499 -p "$MPID" -o "$DIR/perf.data" -- sleep "$PERF_S" >/dev/null 2>&1 || true
  perf report -i "$DIR/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1.5 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -25 | cut -c1-120 | tee "$DIR/summary-3.txt" || true
  # Off-CPU time (fsync) does not show above: the system calls' time, all threads.
  echo "perf trace -s -p $MPID for $PERF_S s: system calls by total time (all threads; a thread waiting in epoll is idle)"
  timeout $((PERF_S + 30)) perf trace -s -o "$DIR/trace.txt" -p "$MPID" -- sleep "$PERF_S" >/dev/null 2>&1 || true
  python3 - "$DIR/trace.txt" "$PERF_S" <<'PY' | tee -a "$DIR/summary-3.txt" || true
import collections, re, sys
calls, total, mx = collections.Counter(), collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r"\s+(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
    if m:
        calls[m[1]] += int(m[2]); total[m[1]] += float(m[4]); mx[m[1]] = max(mx[m[1]], float(m[7]))
for name, t in total.most_common(10):
    print(f"  {name:<16} {calls[name]:>8} calls {calls[name] / float(sys.argv[2]):>8.0f}/s  {t:>10.1f} ms total "
          f"{t / max(1, calls[name]):>8.3f} ms avg  {mx[name]:>8.1f} ms max")
PY
fi

# ---------------------------------------------------------------- 4. propagation
echo
echo "=== 4. propagation: $PROP_ZONES zones, zonesync first (ctl reload), Knot $LAG_MS ms after zonesync served it (knotc zone-reload)"
echo "each changed $LEAD_MS ms before its next check is due. Columns (ms): reload = ctl reload to zonesync serving it;"
echo "true_lag = Knot served - zonesync served (SOA polls); mon_zs, mon_knot = the monitor's catch-up times (/api/changes);"
echo "zs_seen+ = monitor's change start - zonesync served; knot_seen+ = monitor's Knot catch-up - Knot served (0..$FAST_MS expected)"
timeout $((INTERVAL * 6 + LAG_MS / 1000 + 120)) python3 "$DIR/mon.py" prop "$DIR" "$MON" "$ZS_PORT" "$KNOT_PORT" \
  "127.0.0.1:$CTL_PORT" "$ZONESYNC" "$DIR/knot/knot.sock" "$PROP_ZONES" "$LAG_MS" "$LEAD_MS" "$FAST_MS" "$INTERVAL" \
  "$SERIAL" "$DIR/prop.json" || echo "propagation run failed or timed out"

# ---------------------------------------------------------------- summary
echo
echo "command: bench/monitor.sh $ZONES   (WARMUP_S=$WARMUP_S WINDOW_S=$WINDOW_S INTERVAL=$INTERVAL FAST_MS=$FAST_MS REQS=$REQS REQ_GAP_S=$REQ_GAP_S PERF_S=$PERF_S PROP_ZONES=$PROP_ZONES LAG_MS=$LAG_MS LEAD_MS=$LEAD_MS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU)"
python3 - "$DIR" "$ZONES" "$INTERVAL" "$FAST_MS" "$LAG_MS" <<'PY'
import json, os, statistics, sys
d, zones, interval, fast, lag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r1, r2 = json.load(open(f"{d}/result-1.json")), json.load(open(f"{d}/result-2.json"))
prop = json.load(open(f"{d}/prop.json")) if os.path.exists(f"{d}/prop.json") else []
med = lambda xs: statistics.median(xs) if xs else None
f = lambda v, spec=".0f": "-" if v is None else format(v, spec)
rows = [
 ("zones x servers", f"{zones} x 2, interval {interval} s, fast_interval_ms {fast}"),
 ("monitor CPU", f"{r1['cpu_pct']:.1f} % of one core ({r1['cpu_s']:.2f} s in {r1['window_s']:.0f} s), {r1['cpu_ms_per_check']:.2f} ms per check"),
 ("monitor RSS", f"VmRSS {r1['rss_kb'] / 1024:.1f} MB, VmHWM {r1['hwm_kb'] / 1024:.1f} MB"),
 ("checks/s", f"{r1['checks_per_s']:.1f} (zonesync_monitor_checks_total over {r1['checks_span_s']:.0f} s; "
             f"{r1['rate_from_periods']:.1f} from the zones' periods) "
             f"vs {r1['configured_per_s']:.1f} configured ({100 * r1['checks_per_s'] / r1['configured_per_s']:.1f} %); "
             f"zones unchecked {r1['zones_unchecked']}"),
 ("spread of checks", (f"zones' last checks over {r1['phase_span_s']:.2f} s, largest gap {r1['phase_gap_max_ms']:.0f} ms; "
                       f"{min(r1['phase_bins'])}..{max(r1['phase_bins'])} checks per second (uniform {zones / interval:.0f}); "
                       f"{len(r1['waves'])} wave(s)") if r1["phase_span_s"] is not None else "-"),
 ("period per zone", f"median {f(r1['period_median_s'], '.3f')} s, p99 {f(r1['period_p99_s'], '.3f')} s, "
                     f"max {f(r1['period_max_s'], '.3f')} s ({r1['period_zones']} zones)"),
 ("database growth", f"{r1['db_growth_per_h'] / 1e6:.1f} MB/h ({r1['samples']} samples stored in {r1['window_s']:.0f} s, "
                     f"steady-state ~{r1['samples_expected']:.0f})"),
 ("disk writes", f"{r1['write_bytes_per_h'] / 1e6:.1f} MB/h, {r1['write_syscalls_per_s']:.1f} write calls/s"),
 ("/status", f"median {r2['status']['median_ms']:.1f} ms (max {r2['status']['max_ms']:.1f}), {r2['status']['bytes'] / 1024:.0f} KiB"),
 ("/metrics", f"median {r2['metrics']['median_ms']:.1f} ms (max {r2['metrics']['max_ms']:.1f}), {r2['metrics']['bytes'] / 1024:.0f} KiB"),
 ("SOA RTT (last checks)", f"median {f(r1['rtt_median_ms'], '.2f')} ms, p99 {f(r1['rtt_p99_ms'], '.2f')} ms"),
 ("server statuses", json.dumps(r1["statuses"])),
]
ok = [p for p in prop if p["mon_knot_ms"] is not None]
if prop:
    zs, kn = [p["mon_zs_ms"] for p in ok], [p["mon_knot_ms"] for p in ok]
    true = [p["actual_lag_ms"] for p in ok if p["actual_lag_ms"] is not None]
    seen_zs = [p["seen_zs_late_ms"] for p in ok]
    seen_kn = [p["seen_knot_late_ms"] for p in ok if p["seen_knot_late_ms"] is not None]
    inside = sum(1 for x in seen_kn if 0 <= x <= fast + 50)
    rows += [
     ("catch-up zonesync", f"median {f(med(zs))} ms (max {f(max(zs) if zs else None)}) over {len(ok)} of {len(prop)} changes"),
     ("catch-up Knot", f"median {f(med(kn))} ms (min {f(min(kn) if kn else None)}, max {f(max(kn) if kn else None)}); true lag median {f(med(true))} ms"),
     ("monitor lateness", f"zonesync's change first seen +{f(med(seen_zs))} ms (median); Knot's catch-up +{f(med(seen_kn))} ms "
                          f"(max {f(max(seen_kn) if seen_kn else None)}); {inside}/{len(seen_kn)} within fast_interval_ms"),
    ]
print("=== summary")
for k, v in rows:
    print(f"{k:<22} {v}")
PY
