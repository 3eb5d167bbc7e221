//! `zonesync verify` (docs/verify.md) against real nameservers of every
//! vendor: zonesync, Knot DNS, NSD and BIND 9, each serving a zone file on
//! its own loopback address (127.0.0.x, and ::1) on one port per test.
//!
//! Each scenario checks the verdict codes, the table's STATUS column, the
//! JSON report and the exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//! Every JSON report is also checked against the rules of the schema
//! ([`check_report`]): severities of the codes, a zone's status as the most
//! severe of its verdicts, the summary counts, `exit_code`.
//!
//! knotd, nsd and named are required peers: a missing one fails the test.
//!
//! `ZONESYNC_TEST_SHOW=1 cargo test --release --test verify -- --nocapture`
//! prints every verify run (arguments, exit code, output).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The zone under test.
const ZONE: &str = "example.test.";
/// Its serial on servers that are up to date.
const N: u32 = 2026010105;
/// Bound for one `zonesync verify` run.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Zones and servers

/// A zone file for `origin` at `serial`: NS records for every distinct name
/// of `ns` (labels relative to the origin, or absolute with a final dot),
/// an A or AAAA record for each (name, address) that is in the zone, and
/// `www A {www}`.
fn zone_text(origin: &str, serial: u32, ns: &[(&str, IpAddr)], www: &str) -> String {
    let mut s = format!(
        "$ORIGIN {origin}\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n"
    );
    let mut names = Vec::new();
    for (name, _) in ns {
        if !names.contains(name) {
            names.push(*name);
            s.push_str(&format!("@ NS {name}\n"));
        }
    }
    for (name, ip) in ns {
        if name.ends_with('.') {
            continue;
        }
        let rtype = if ip.is_ipv6() { "AAAA" } else { "A" };
        s.push_str(&format!("{name} {rtype} {ip}\n"));
    }
    s.push_str(&format!("www A {www}\n"));
    s
}

/// The zone under test at `serial` with `www A {www}`.
fn example(serial: u32, ns: &[(&str, IpAddr)], www: &str) -> Vec<ZoneFile> {
    vec![ZoneFile::new(ZONE, zone_text(ZONE, serial, ns, www))]
}

/// `label.example.test.`
fn fqdn(label: &str) -> String {
    format!("{label}.{ZONE}")
}

/// `--ns NAME=ADDR` for each (label in the zone, address).
fn ns_args(servers: &[(&str, SocketAddr)]) -> Vec<String> {
    servers
        .iter()
        .flat_map(|(label, addr)| {
            let name = if label.ends_with('.') {
                label.to_string()
            } else {
                fqdn(label)
            };
            ["--ns".to_string(), format!("{name}={addr}")]
        })
        .collect()
}

/// `ns1`, `ns2`, ...: the labels of the zone's nameservers, in order.
const NS_LABELS: [&str; 5] = ["ns1", "ns2", "ns3", "ns4", "ns5"];

/// The nameservers `ns1`, `ns2`, ... of the zone under test at `ips`, in
/// order (for [`example`]).
fn nameservers(ips: &[IpAddr]) -> Vec<(&'static str, IpAddr)> {
    assert!(ips.len() <= NS_LABELS.len(), "too many nameservers");
    NS_LABELS.into_iter().zip(ips.iter().copied()).collect()
}

/// `ips` on one port that is free on all of them (UDP and TCP).
fn on_one_port(ips: &[IpAddr]) -> Vec<SocketAddr> {
    let port = free_port_on(ips);
    ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
}

/// Arguments checking the zone under test at `servers`: [`ZONE`], and
/// `--ns nsK.example.test.=ADDR` for the K-th address.
fn zone_args(servers: &[SocketAddr]) -> Vec<String> {
    assert!(servers.len() <= NS_LABELS.len(), "too many nameservers");
    let named: Vec<(&str, SocketAddr)> =
        NS_LABELS.into_iter().zip(servers.iter().copied()).collect();
    let mut args = vec![ZONE.to_string()];
    args.extend(ns_args(&named));
    args
}

/// A loopback port on which nothing listens (UDP or TCP) right now.
fn closed_addr() -> SocketAddr {
    SocketAddr::new(lo(1), free_port())
}

// ---------------------------------------------------------------------------
// Running verify

/// One `zonesync verify` run.
struct Run {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `zonesync verify ARGS` (bounded by [`VERIFY_TIMEOUT`]).
fn verify<S: AsRef<str>>(args: &[S]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let mut cmd = zonesync();
    cmd.arg("verify").args(&args);
    let t0 = Instant::now();
    let out = run_with_timeout(cmd, VERIFY_TIMEOUT)
        .unwrap_or_else(|e| panic!("zonesync verify {}: {e}", args.join(" ")));
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "zonesync verify {} died by a signal ({})\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let run = Run {
        args,
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t0.elapsed(),
    };
    // ZONESYNC_TEST_SHOW=1 (with --nocapture) prints every run.
    if std::env::var_os("ZONESYNC_TEST_SHOW").is_some() {
        eprintln!("{}", run.show());
    }
    run
}

/// [`verify`] with `--json` added; checks the report's own rules and the
/// exit code against it.
fn verify_json<S: AsRef<str>>(args: &[S]) -> (Run, Value) {
    let mut all: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    all.push("--json".into());
    let run = verify(&all);
    let json = run.json();
    check_report(&run, &json);
    (run, json)
}

impl Run {
    /// Everything about the run, for failure messages.
    fn show(&self) -> String {
        format!(
            "zonesync verify {}\nexit code {} after {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.took,
            self.stdout,
            self.stderr
        )
    }

    fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            code,
            "expected exit code {code} ({})\n{}",
            STATUSES[code as usize],
            self.show()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "verify panicked\n{}",
            self.show()
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", self.show()))
    }

    /// The table row of `addr`, split on blanks: NAME ADDRESS SERIAL LAG
    /// STATUS RTT...
    fn row(&self, addr: SocketAddr) -> Vec<String> {
        let addr = addr.to_string();
        let rows: Vec<Vec<String>> = self
            .stdout
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .filter(|t| t.len() >= 5 && t[1] == addr)
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "expected one table row with ADDRESS {addr}\n{}",
            self.show()
        );
        rows.into_iter().next().unwrap()
    }

    /// How many table rows there are (lines whose second column is an
    /// address).
    fn row_count(&self) -> usize {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|t| t.len() >= 5 && t[1].parse::<SocketAddr>().is_ok())
            .count()
    }

    /// Asserts the STATUS (and SERIAL and LAG) columns of `addr`'s row.
    fn expect_row(&self, addr: SocketAddr, expected: State) {
        let State {
            status,
            serial,
            lag,
        } = expected;
        let row = self.row(addr);
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        assert_eq!(
            (&row[2][..], &row[3][..], &row[4][..]),
            (
                &dash(serial.map(|s| s.to_string()))[..],
                &dash(lag.map(|l| l.to_string()))[..],
                status
            ),
            "row of {addr}: SERIAL LAG STATUS\n{}",
            self.show()
        );
    }

    /// The verdict lines (`SEVERITY code: message`) of the table output.
    fn verdict_lines(&self, code: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| {
                let mut t = l.split_whitespace();
                matches!(t.next(), Some("OK" | "WARNING" | "CRITICAL" | "UNKNOWN"))
                    && t.next() == Some(&format!("{code}:")[..])
            })
            .collect()
    }

    /// Asserts a verdict line `SEVERITY code: ...` mentioning each of
    /// `mentions`.
    fn expect_verdict_line(&self, code: &str, mentions: &[String]) {
        let severity = severity_of(code);
        let lines = self.verdict_lines(code);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(severity) && mentions.iter().all(|m| l.contains(&m[..]))),
            "expected a line \"{severity} {code}: ...\" mentioning {mentions:?}\n{}",
            self.show()
        );
    }

    fn expect_no_verdict_line(&self, code: &str) {
        assert!(
            self.verdict_lines(code).is_empty(),
            "expected no {code} verdict\n{}",
            self.show()
        );
    }

    /// The table's title line of `zone`: `ZONE  reference serial N
    /// (source[ ...])  STATUS` (the docs show `(highest)`; what follows
    /// the source, e.g. the primary's address, is not checked).
    fn expect_title(&self, zone: &str, serial: u32, source: &str, status: &str) {
        let serial = serial.to_string();
        let found = self.stdout.lines().any(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let n = t.len();
            n >= 6
                && t[..4] == [zone, "reference", "serial", &serial[..]]
                && (t[4] == format!("({source})")
                    || (t[4] == format!("({source}") && t[n - 2].ends_with(')')))
                && t[n - 1] == status
        });
        assert!(
            found,
            "expected a title line \"{zone}  reference serial {serial} ({source})  {status}\"\n{}",
            self.show()
        );
    }
}

// ---------------------------------------------------------------------------
// The JSON report

const STATUSES: [&str; 4] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

/// The documented verdict codes and their severities.
const VERDICTS: [(&str, &str); 13] = [
    ("serial-behind", "CRITICAL"),
    ("serial-ahead", "WARNING"),
    ("unreachable", "CRITICAL"),
    ("lame", "CRITICAL"),
    ("primary-unreachable", "CRITICAL"),
    ("content-mismatch", "CRITICAL"),
    ("address-mismatch", "CRITICAL"),
    ("ns-mismatch", "WARNING"),
    ("axfr-open", "WARNING"),
    ("axfr-unchecked", "OK"),
    ("discovery", "WARNING"),
    ("no-servers", "UNKNOWN"),
    ("peer-history-unavailable", "WARNING"),
];

/// The documented diagnosis codes (`--primary-control`).
const DIAGNOSES: [&str; 9] = [
    "different-content",
    "transfer-refused",
    "transfer-failed",
    "served-old-after-transfer",
    "notify-refused",
    "notify-unacknowledged",
    "never-asked",
    "not-notified",
    "unknown",
];

/// The documented severity of a verdict code.
fn severity_of(code: &str) -> &'static str {
    VERDICTS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, severity)| *severity)
        .unwrap_or_else(|| panic!("undocumented verdict code {code:?}"))
}

fn status_rank(status: &str) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or_else(|| panic!("undocumented status {status:?}"))
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

/// Checks the rules every report follows (docs/verify.md "JSON").
fn check_report(run: &Run, json: &Value) {
    let ctx = || run.show();
    assert_eq!(json["schema"], "zonesync-verify/1", "schema\n{}", ctx());
    assert_eq!(
        json["exit_code"].as_i64(),
        Some(i64::from(run.code)),
        "exit_code must be the process's exit code\n{}",
        ctx()
    );
    let status = str_of(&json["status"], "status");
    assert_eq!(
        status_rank(status) as i32,
        run.code,
        "status {status} and exit code disagree\n{}",
        ctx()
    );
    let zones = json["zones"]
        .as_array()
        .unwrap_or_else(|| panic!("zones is not an array\n{}", ctx()));
    let summary = &json["summary"];
    assert_eq!(
        summary["zones"].as_u64(),
        Some(zones.len() as u64),
        "summary.zones\n{}",
        ctx()
    );
    let mut counts = [0u64; 4];
    let mut worst = 0;
    for z in zones {
        let zname = str_of(&z["zone"], "zones[].zone");
        let zstatus = str_of(&z["status"], "zones[].status");
        counts[status_rank(zstatus)] += 1;
        worst = worst.max(status_rank(zstatus));
        let verdicts = z["verdicts"]
            .as_array()
            .unwrap_or_else(|| panic!("{zname}: verdicts is not an array\n{}", ctx()));
        let mut severities = BTreeSet::new();
        for v in verdicts {
            let code = str_of(&v["code"], "verdicts[].code");
            let severity = str_of(&v["severity"], "verdicts[].severity");
            assert_eq!(
                severity,
                severity_of(code),
                "{zname}: severity of {code}\n{}",
                ctx()
            );
            severities.insert(status_rank(severity));
            assert!(
                v["message"].is_string(),
                "{zname}: {code} message\n{}",
                ctx()
            );
            assert!(
                v["servers"].is_array(),
                "{zname}: {code} servers\n{}",
                ctx()
            );
        }
        // "Most severe" between CRITICAL and UNKNOWN is not defined.
        if !(severities.contains(&2) && severities.contains(&3)) {
            let expected = severities.iter().max().copied().unwrap_or(0);
            assert_eq!(
                zstatus,
                STATUSES[expected],
                "{zname}: the status is the most severe verdict's\n{}",
                ctx()
            );
        }
        let reference = &z["reference"];
        assert!(
            matches!(reference["source"].as_str(), Some("highest" | "primary"))
                || reference["source"].is_null(),
            "{zname}: reference.source\n{}",
            ctx()
        );
        for s in z["servers"]
            .as_array()
            .unwrap_or_else(|| panic!("{zname}: servers is not an array\n{}", ctx()))
        {
            let st = str_of(&s["status"], "servers[].status");
            assert!(
                ["ok", "behind", "ahead", "unreachable", "lame", "different"].contains(&st),
                "{zname}: undocumented server status {st}\n{}",
                ctx()
            );
            if s["serial"].is_null() {
                assert!(
                    s["lag"].is_null(),
                    "{zname}: lag without a serial\n{}",
                    ctx()
                );
            }
            assert!(
                s["transport"].is_null() || matches!(s["transport"].as_str(), Some("udp" | "tcp")),
                "{zname}: transport\n{}",
                ctx()
            );
            assert!(
                s["axfr_open"].is_null() || s["axfr_open"].is_boolean(),
                "{zname}: axfr_open\n{}",
                ctx()
            );
            // axfr_error says why a check came to nothing, else null.
            assert!(
                s["axfr_error"].is_null()
                    || (s["axfr_open"].is_null() && s["axfr_error"].is_string()),
                "{zname}: axfr_error only with axfr_open null\n{}",
                ctx()
            );
            // Only with --primary-control, and only for rows behind,
            // lame or different.
            if let Some(d) = s.get("diagnosis") {
                assert!(
                    ["behind", "lame", "different"].contains(&st),
                    "{zname}: a diagnosis on a row {st}\n{}",
                    ctx()
                );
                assert!(
                    DIAGNOSES.contains(&str_of(&d["code"], "diagnosis.code")),
                    "{zname}: undocumented diagnosis {d}\n{}",
                    ctx()
                );
                assert!(
                    d["message"].is_string() && d["since_ms"].is_u64(),
                    "{zname}: diagnosis {d}\n{}",
                    ctx()
                );
                assert!(
                    d["heal"].is_null()
                        || matches!(
                            d["heal"].as_str(),
                            Some("notify" | "refresh" | "retransfer")
                        ),
                    "{zname}: diagnosis.heal {d}\n{}",
                    ctx()
                );
            }
            for src in s["sources"]
                .as_array()
                .unwrap_or_else(|| panic!("{zname}: sources is not an array\n{}", ctx()))
            {
                assert!(
                    matches!(
                        src.as_str(),
                        Some("parent" | "child" | "explicit" | "primary")
                    ),
                    "{zname}: undocumented source {src}\n{}",
                    ctx()
                );
            }
        }
    }
    for (i, key) in ["ok", "warning", "critical", "unknown"].iter().enumerate() {
        assert_eq!(
            summary[key].as_u64(),
            Some(counts[i]),
            "summary.{key}\n{}",
            ctx()
        );
    }
    let statuses: BTreeSet<usize> = zones
        .iter()
        .map(|z| status_rank(z["status"].as_str().unwrap_or("OK")))
        .collect();
    if !(statuses.contains(&2) && statuses.contains(&3)) {
        assert_eq!(
            status,
            STATUSES[worst],
            "the overall status is the most severe zone's\n{}",
            ctx()
        );
    }
}

/// The report of `zone` in `json`.
fn zone_of<'a>(json: &'a Value, zone: &str) -> &'a Value {
    json["zones"]
        .as_array()
        .and_then(|zs| zs.iter().find(|z| z["zone"] == zone))
        .unwrap_or_else(|| panic!("no zone {zone} in the report:\n{json:#}"))
}

/// The `servers[]` entry of `addr` in a zone's report.
fn server_of(zone: &Value, addr: SocketAddr) -> &Value {
    let addr = addr.to_string();
    let found: Vec<&Value> = zone["servers"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["address"] == addr[..]).collect())
        .unwrap_or_default();
    assert_eq!(
        found.len(),
        1,
        "expected one server entry with address {addr}:\n{zone:#}"
    );
    found[0]
}

/// The verdict codes of a zone's report.
fn codes(zone: &Value) -> Vec<String> {
    zone["verdicts"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|v| v["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The verdicts of a zone with this code.
fn verdicts<'a>(zone: &'a Value, code: &str) -> Vec<&'a Value> {
    zone["verdicts"]
        .as_array()
        .map(|v| v.iter().filter(|v| v["code"] == code).collect())
        .unwrap_or_default()
}

/// The addresses named by the verdicts of a zone with this code.
fn verdict_servers(zone: &Value, code: &str) -> BTreeSet<String> {
    verdicts(zone, code)
        .iter()
        .flat_map(|v| {
            v["servers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(String::from))
        })
        .collect()
}

fn addrs(list: &[SocketAddr]) -> BTreeSet<String> {
    list.iter().map(|a| a.to_string()).collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Asserts a server entry's status, serial and lag.
fn expect_server(zone: &Value, addr: SocketAddr, expected: State) {
    let s = server_of(zone, addr);
    assert_eq!(
        (
            s["status"].as_str(),
            s["serial"].as_u64(),
            s["lag"].as_i64()
        ),
        (
            Some(expected.status),
            expected.serial.map(u64::from),
            expected.lag
        ),
        "status, serial, lag of {addr}:\n{zone:#}"
    );
    if expected.serial.is_none() {
        assert!(
            s["serial"].is_null(),
            "serial of {addr} must be null:\n{zone:#}"
        );
        assert!(s["lag"].is_null(), "lag of {addr} must be null:\n{zone:#}");
    }
}

// ---------------------------------------------------------------------------
// What a scenario expects, in the table and in the JSON report alike

/// A server's STATUS, SERIAL and LAG (`None`: `-` in the table, null in
/// the JSON report).
#[derive(Debug, Clone, Copy)]
struct State {
    status: &'static str,
    serial: Option<u32>,
    lag: Option<i64>,
}

const fn state(status: &'static str, serial: Option<u32>, lag: Option<i64>) -> State {
    State {
        status,
        serial,
        lag,
    }
}

/// At the reference serial [`N`].
const OK: State = state("ok", Some(N), Some(0));
/// One serial behind [`N`].
const BEHIND: State = state("behind", Some(N - 1), Some(1));
/// At [`N`], with other content.
const DIFFERENT: State = state("different", Some(N), Some(0));
const UNREACHABLE: State = state("unreachable", None, None);
const LAME: State = state("lame", None, None);

/// What `verify` must report for the zone under test ([`ZONE`]), built
/// with [`expect`] and checked on the table ([`Expect::check_table`]), on
/// the JSON report ([`Expect::check_json`]) or on both ([`Expect::check`]):
///
/// - the exit code, and the same status for the report and the zone;
/// - the reference serial and its source: the table's title, the
///   report's `reference`;
/// - each server's state: its table row, its `servers[]` entry; with
///   [`Expect::no_other_servers`], no other row or entry;
/// - the verdict codes: those of [`Expect::verdict`] (with exactly the
///   servers it names), [`Expect::verdict_naming`] (naming at least
///   these) and [`Expect::line`], and none but these and those of
///   [`Expect::maybe`]. In the table, a verdict line of each code, one
///   mentioning each server named, one mentioning what each
///   [`Expect::line`] says; no line of a code not expected.
#[derive(Debug, Clone, Default)]
struct Expect {
    code: i32,
    reference: Option<(u32, &'static str)>,
    servers: Vec<(SocketAddr, State)>,
    no_other_servers: bool,
    /// (code, servers named, exactly these).
    verdicts: Vec<(&'static str, Vec<SocketAddr>, bool)>,
    /// (code, what one verdict line of it mentions).
    lines: Vec<(&'static str, Vec<String>)>,
    maybe: Vec<&'static str>,
}

/// A run of `verify` exiting with `code`.
fn expect(code: i32) -> Expect {
    Expect {
        code,
        ..Expect::default()
    }
}

impl Expect {
    /// The reference serial and its source (`highest`, `primary`).
    fn reference(mut self, serial: u32, source: &'static str) -> Self {
        self.reference = Some((serial, source));
        self
    }

    fn server(self, addr: SocketAddr, state: State) -> Self {
        self.servers([addr], state)
    }

    fn servers(mut self, addrs: impl IntoIterator<Item = SocketAddr>, state: State) -> Self {
        self.servers.extend(addrs.into_iter().map(|a| (a, state)));
        self
    }

    /// The servers given are all there are.
    fn no_other_servers(mut self) -> Self {
        self.no_other_servers = true;
        self
    }

    /// A verdict `code` naming exactly `servers`.
    fn verdict(mut self, code: &'static str, servers: &[SocketAddr]) -> Self {
        self.verdicts.push((code, servers.to_vec(), true));
        self
    }

    /// A verdict `code` naming at least `servers` (maybe none).
    fn verdict_naming(mut self, code: &'static str, servers: &[SocketAddr]) -> Self {
        self.verdicts.push((code, servers.to_vec(), false));
        self
    }

    /// A verdict `code` whose table line mentions each of `mentions`.
    fn line(mut self, code: &'static str, mentions: &[String]) -> Self {
        self.lines.push((code, mentions.to_vec()));
        self
    }

    /// A verdict `code` is allowed, not required.
    fn maybe(mut self, code: &'static str) -> Self {
        self.maybe.push(code);
        self
    }

    fn status(&self) -> &'static str {
        STATUSES[self.code as usize]
    }

    /// The codes that must be there.
    fn required(&self) -> BTreeSet<&'static str> {
        let verdicts = self.verdicts.iter().map(|(code, _, _)| *code);
        verdicts
            .chain(self.lines.iter().map(|(code, _)| *code))
            .collect()
    }

    /// Runs the table form of `verify ARGS` and checks it.
    fn check_table<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let run = verify(args);
        run.expect_code(self.code);
        if let Some((serial, source)) = self.reference {
            run.expect_title(ZONE, serial, source, self.status());
        }
        for (addr, s) in &self.servers {
            run.expect_row(*addr, *s);
        }
        if self.no_other_servers {
            assert_eq!(
                run.row_count(),
                self.servers.len(),
                "table rows\n{}",
                run.show()
            );
        }
        for (code, servers, _) in &self.verdicts {
            run.expect_verdict_line(code, &[]);
            for addr in servers {
                run.expect_verdict_line(code, &[addr.to_string()]);
            }
        }
        for (code, mentions) in &self.lines {
            run.expect_verdict_line(code, mentions);
        }
        let required = self.required();
        for (code, _) in VERDICTS {
            if !required.contains(code) && !self.maybe.contains(&code) {
                run.expect_no_verdict_line(code);
            }
        }
        run
    }

    /// Runs `verify ARGS --json` and checks the report; returns it for
    /// the scenario's own checks.
    fn check_json<S: AsRef<str>>(&self, args: &[S]) -> (Run, Value) {
        let (run, json) = verify_json(args);
        run.expect_code(self.code);
        assert_eq!(json["status"], self.status(), "status\n{}", run.show());
        self.check_zone(&run, &json, ZONE);
        (run, json)
    }

    /// Checks the report of `zone` in `json` (of `run`): its status is
    /// the one of the exit code expected.
    fn check_zone(&self, run: &Run, json: &Value, zone: &str) {
        let z = zone_of(json, zone);
        assert_eq!(z["status"], self.status(), "{zone}\n{}", run.show());
        let required = self.required();
        let allowed = |c: &str| required.contains(c) || self.maybe.contains(&c);
        let got: BTreeSet<String> = codes(z).into_iter().collect();
        assert!(
            required.iter().all(|c| got.contains(*c)) && got.iter().all(|c| allowed(c)),
            "{zone}: verdict codes: expected {required:?} (and maybe {:?})\n{}",
            self.maybe,
            run.show()
        );
        for (code, servers, exact) in &self.verdicts {
            let named = verdict_servers(z, code);
            let expected = addrs(servers);
            assert!(
                if *exact {
                    named == expected
                } else {
                    named.is_superset(&expected)
                },
                "{zone}: servers of {code}: expected {}{expected:?}\n{}",
                if *exact { "" } else { "at least " },
                run.show()
            );
        }
        if let Some((serial, source)) = self.reference {
            assert_eq!(
                (
                    z["reference"]["serial"].as_u64(),
                    z["reference"]["source"].as_str()
                ),
                (Some(u64::from(serial)), Some(source)),
                "{zone}: reference\n{}",
                run.show()
            );
        }
        for (addr, s) in &self.servers {
            expect_server(z, *addr, *s);
        }
        if self.no_other_servers {
            assert_eq!(
                z["servers"].as_array().map(Vec::len),
                Some(self.servers.len()),
                "{zone}: servers\n{}",
                run.show()
            );
        }
    }

    /// [`Expect::check_table`] and [`Expect::check_json`] of the same
    /// arguments; returns the JSON run and report.
    fn check<S: AsRef<str>>(&self, args: &[S]) -> (Run, Value) {
        self.check_table(args);
        self.check_json(args)
    }
}

// ---------------------------------------------------------------------------
// The peers themselves

/// The first message of an AXFR of `zone` from `addr` over TCP.
fn axfr_first(addr: SocketAddr, zone: &str) -> Result<hickory_proto::op::Message, String> {
    let q = build_query(
        zone,
        hickory_proto::rr::RecordType::AXFR,
        &QueryOpts::plain(),
    );
    let bytes = tcp_exchange(addr, &q, Duration::from_secs(3))?;
    hickory_proto::op::Message::from_vec(&bytes).map_err(|e| e.to_string())
}

/// Every vendor helper serves its zone file on 127.0.0.x and on ::1, sends
/// its NSID, transfers the zone only when open, and answers REFUSED for a
/// zone it does not serve (what the lame scenario relies on). Runs without
/// `verify`.
#[test]
fn every_vendor_serves_its_zone_file() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;
    // named listens on interface addresses only: 127.0.0.1.
    let ips = [lo(2), lo(3), lo(4), lo(1), lo6()];
    let port = free_port_on(&ips);
    let zones = example(N, &nameservers(&ips), "192.0.2.1");
    let vendors = [Vendor::Zonesync, Vendor::Knot, Vendor::Nsd, Vendor::Bind];
    for (i, vendor) in vendors.into_iter().enumerate() {
        for (ip, xfr) in [(ips[i], Transfers::Open), (lo6(), Transfers::Refused)] {
            let addr = SocketAddr::new(ip, port);
            let s = AuthServer::start(vendor, addr, &zones, xfr);
            let who = format!("{} on {addr} ({xfr:?})", vendor.name());
            assert_eq!(s.serial(ZONE), Some(N), "{who}: serial");

            let (bytes, m) =
                query_udp_wire(addr, ZONE, RecordType::SOA, &QueryOpts::edns(1232).nsid());
            assert!(m.header().authoritative(), "{who}: AA\n{}", describe(&m));
            assert_eq!(
                the_opt(&bytes).option(3),
                Some(vendor.name().as_bytes()),
                "{who}: NSID"
            );

            let www = query_udp(addr, &fqdn("www"), RecordType::A, &QueryOpts::plain());
            assert_eq!(www.answers().len(), 1, "{who}: www A\n{}", describe(&www));

            let axfr = axfr_first(addr, ZONE);
            match xfr {
                Transfers::Open => {
                    let m = axfr.unwrap_or_else(|e| panic!("{who}: AXFR: {e}"));
                    assert_eq!(m.response_code(), ResponseCode::NoError, "{who}: AXFR");
                    assert_eq!(
                        m.answers().first().map(|r| r.record_type()),
                        Some(RecordType::SOA),
                        "{who}: AXFR starts with the SOA\n{}",
                        describe(&m)
                    );
                }
                Transfers::Refused => {
                    // REFUSED, or the connection closed without an answer.
                    if let Ok(m) = axfr {
                        assert!(
                            m.response_code() != ResponseCode::NoError || m.answers().is_empty(),
                            "{who}: AXFR must be refused\n{}",
                            describe(&m)
                        );
                    }
                }
            }

            let other = query_udp(addr, "other.test", RecordType::SOA, &QueryOpts::plain());
            assert!(
                other.response_code() == ResponseCode::Refused && !other.header().authoritative(),
                "{who}: a zone it does not serve\n{}",
                describe(&other)
            );
        }
    }
}

/// Hex as in the JSON report (lower case, no separators).
fn hex_plain(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts that a server entry reports the EXPIRE (RFC 7314) and
/// ZONEVERSION (RFC 9660) options exactly as `addr` sends them to a query
/// asking for both (and NSID, with DO), or `null` when it sends none.
fn expect_edns_reported(run: &Run, entry: &Value, addr: SocketAddr) {
    let opts = QueryOpts::edns(1232)
        .dnssec_ok()
        .nsid()
        .option(9, &[])
        .option(19, &[]);
    let (bytes, _) = query_udp_wire(addr, ZONE, hickory_proto::rr::RecordType::SOA, &opts);
    let opt = the_opt(&bytes);
    let expire = opt
        .option(9)
        .and_then(|e| <[u8; 4]>::try_from(e).ok())
        .map(u32::from_be_bytes);
    assert_eq!(
        entry["expire"].as_u64(),
        expire.map(u64::from),
        "{addr}: expire as the server sends it\n{}",
        run.show()
    );
    assert!(expire.is_some() || entry["expire"].is_null());
    match opt.option(19) {
        None => assert!(
            entry["zoneversion"].is_null(),
            "{addr}: sends no ZONEVERSION\n{}",
            run.show()
        ),
        Some(zv) => {
            assert!(zv.len() >= 2, "{addr}: ZONEVERSION {zv:?}");
            let zvj = &entry["zoneversion"];
            assert_eq!(zvj["labels"], zv[0], "{addr}: labels\n{}", run.show());
            assert_eq!(zvj["type"], zv[1], "{addr}: type\n{}", run.show());
            assert_eq!(
                zvj["data"],
                hex_plain(&zv[2..]),
                "{addr}: data\n{}",
                run.show()
            );
            if zv[1] == 0 && zv.len() == 6 {
                let serial = u32::from_be_bytes([zv[2], zv[3], zv[4], zv[5]]);
                assert_eq!(zvj["serial"], serial, "{addr}: serial\n{}", run.show());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 1. In sync

/// zonesync, Knot, NSD and BIND serving one zone file: OK everywhere.
#[test]
fn four_vendors_in_sync_are_ok() {
    // named listens on interface addresses only: 127.0.0.1.
    let ips = [lo(2), lo(3), lo(4), lo(1)];
    let at = on_one_port(&ips);
    let zones = example(N, &nameservers(&ips), "192.0.2.1");
    let servers = [
        AuthServer::zonesync(at[0], &zones, Transfers::Refused),
        AuthServer::knot(at[1], &zones, Transfers::Refused),
        AuthServer::nsd(at[2], &zones, Transfers::Refused),
        AuthServer::bind(at[3], &zones, Transfers::Refused),
    ];
    let args = zone_args(&at);

    let in_sync = expect(0)
        .reference(N, "highest")
        .servers(servers.iter().map(|s| s.addr), OK)
        .no_other_servers();
    let table = in_sync.check_table(&args);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["NAME", "ADDRESS", "SERIAL", "LAG", "STATUS", "RTT"]),
        "table header\n{}",
        table.show()
    );

    let (run, json) = in_sync.check_json(&args);
    assert_eq!(
        json["summary"],
        serde_json::json!({"zones": 1, "ok": 1, "warning": 0, "critical": 0, "unknown": 0}),
        "{}",
        run.show()
    );
    let z = zone_of(&json, ZONE);
    assert_eq!(
        z["reference"],
        serde_json::json!({"serial": N, "source": "highest", "address": null}),
        "reference\n{}",
        run.show()
    );
    expect_ns_set(&run, z, "child", &NS_LABELS[..4]);
    for (i, s) in servers.iter().enumerate() {
        let e = server_of(z, s.addr);
        let who = s.vendor.name();
        assert_eq!(
            e["name"],
            fqdn(&format!("ns{}", i + 1)),
            "{who}: name\n{}",
            run.show()
        );
        assert_eq!(e["transport"], "udp", "{who}\n{}", run.show());
        assert_eq!(e["rcode"], "NOERROR", "{who}\n{}", run.show());
        assert_eq!(e["aa"], true, "{who}\n{}", run.show());
        assert!(e["error"].is_null(), "{who}\n{}", run.show());
        assert_eq!(e["nsid"], who, "{who}: NSID as text\n{}", run.show());
        let rtt = e["rtt_ms"].as_f64();
        assert!(
            rtt.is_some_and(|r| (0.0..1000.0).contains(&r)),
            "{who}: rtt_ms\n{}",
            run.show()
        );
        expect_edns_reported(&run, e, s.addr);
    }
    expect_sources(&run, z, &at, &["explicit"]);
    expect_axfr(&run, z, &at, Some(false));
    // zonesync sends EDNS EXPIRE (RFC 7314): a primary's is the SOA EXPIRE.
    assert_eq!(
        server_of(z, at[0])["expire"].as_u64(),
        Some(1209600),
        "zonesync's EXPIRE\n{}",
        run.show()
    );

    // One query in flight at a time: the same result.
    let mut serial = args.clone();
    serial.extend(["--concurrency".into(), "1".into()]);
    in_sync.check_json(&serial);

    // --tcp: every SOA answer over TCP.
    let mut tcp = args.clone();
    tcp.push("--tcp".into());
    let (run, json) = in_sync.check_json(&tcp);
    let z = zone_of(&json, ZONE);
    for s in &servers {
        assert_eq!(server_of(z, s.addr)["transport"], "tcp", "{}", run.show());
    }

    // --no-axfr-check: axfr_open is null (not checked).
    let mut no_axfr = args.clone();
    no_axfr.push("--no-axfr-check".into());
    let (run, json) = in_sync.check_json(&no_axfr);
    expect_axfr(&run, zone_of(&json, ZONE), &at, None);
}

// ---------------------------------------------------------------------------
// 2. A serial behind, --max-lag, --primary

/// NSD serves the previous serial: serial-behind CRITICAL naming it, OK
/// with `--max-lag 1`; `--primary` makes the primary's serial the
/// reference (a server ahead of it is serial-ahead, a WARNING).
#[test]
fn a_server_one_serial_behind() {
    let ips = [lo(2), lo(3), lo(4), lo(6)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips[..3]);
    let zs = AuthServer::zonesync(at[0], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let knot = AuthServer::knot(at[1], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let nsd = AuthServer::nsd(at[2], &example(N - 1, &ns, "192.0.2.1"), Transfers::Refused);
    // A hidden primary (in no NS set) at the new serial.
    let hidden = AuthServer::zonesync(at[3], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let args = zone_args(&[zs.addr, knot.addr, nsd.addr]);

    let (run, json) = expect(2)
        .reference(N, "highest")
        .servers([zs.addr, knot.addr], OK)
        .server(nsd.addr, BEHIND)
        .verdict("serial-behind", &[nsd.addr])
        .line("serial-behind", &[nsd.addr.to_string(), fqdn("ns3")])
        .check(&args);
    let z = zone_of(&json, ZONE);
    let message = str_of(&verdicts(z, "serial-behind")[0]["message"], "message");
    assert!(
        message.contains(&nsd.addr.to_string()) && message.contains(&(N - 1).to_string()),
        "the message names the server and its serial\n{}",
        run.show()
    );

    // One serial of lag allowed: ok, its lag shown.
    let mut lag = args.clone();
    lag.extend(["--max-lag".into(), "1".into()]);
    expect(0)
        .reference(N, "highest")
        .servers([zs.addr, knot.addr], OK)
        .server(nsd.addr, state("ok", Some(N - 1), Some(1)))
        .check(&lag);

    // The hidden primary is the reference, and is asked too.
    let mut primary = args.clone();
    primary.extend(["--primary".into(), hidden.addr.to_string()]);
    let (run, json) = expect(2)
        .reference(N, "primary")
        .servers([zs.addr, knot.addr, hidden.addr], OK)
        .server(nsd.addr, BEHIND)
        .verdict("serial-behind", &[nsd.addr])
        .check(&primary);
    let z = zone_of(&json, ZONE);
    assert_eq!(
        z["reference"],
        serde_json::json!({"serial": N, "source": "primary", "address": hidden.addr.to_string()}),
        "reference\n{}",
        run.show()
    );
    assert!(
        strings(&server_of(z, hidden.addr)["sources"]).contains("primary"),
        "the primary's entry has the source \"primary\"\n{}",
        run.show()
    );

    // The primary is the one behind: the others are ahead of it.
    let mut behind_primary = args.clone();
    behind_primary.extend(["--primary".into(), nsd.addr.to_string()]);
    expect(1)
        .reference(N - 1, "primary")
        .servers([zs.addr, knot.addr], state("ahead", Some(N), Some(-1)))
        .server(nsd.addr, state("ok", Some(N - 1), Some(0)))
        .verdict("serial-ahead", &[zs.addr, knot.addr])
        .check(&behind_primary);
}

// ---------------------------------------------------------------------------
// 3. Unreachable, primary-unreachable

/// A UDP socket that never answers and an address where nothing listens
/// are unreachable (CRITICAL), quickly with a short `--timeout`; a silent
/// `--primary` is primary-unreachable and the highest serial is the
/// reference.
#[test]
fn silent_and_closed_addresses_are_unreachable() {
    let ips = [lo(2), lo(3), lo(4), lo(5), lo(6)];
    let at = on_one_port(&ips);
    let zones = example(N, &nameservers(&ips[..4]), "192.0.2.1");
    let zs = AuthServer::zonesync(at[0], &zones, Transfers::Refused);
    let knot = AuthServer::knot(at[1], &zones, Transfers::Refused);
    let silent = SilentUdp::bind(at[2]);
    let closed = at[3];
    let mut args = zone_args(&[zs.addr, knot.addr, silent.addr, closed]);
    args.extend(["--timeout".into(), "300".into()]);

    let unreachable = expect(2)
        .reference(N, "highest")
        .servers([zs.addr, knot.addr], OK)
        .servers([silent.addr, closed], UNREACHABLE)
        .verdict("unreachable", &[silent.addr, closed]);
    let table = unreachable.check_table(&args);
    assert!(
        table.took < Duration::from_secs(10),
        "3 tries of 300 ms should not take {:?}\n{}",
        table.took,
        table.show()
    );

    let (run, json) = unreachable.check_json(&args);
    let z = zone_of(&json, ZONE);
    // "every try timed out": 1 + --retries (default 2).
    let silent_text = silent.addr.to_string();
    assert!(
        verdicts(z, "unreachable").iter().any(|v| {
            let names_it = v["servers"]
                .as_array()
                .is_some_and(|s| s.iter().any(|a| a == &silent_text[..]));
            names_it && v["message"].as_str().is_some_and(|m| m.contains("3 tries"))
        }),
        "the silent address's verdict says how many tries\n{}",
        run.show()
    );
    for addr in [silent.addr, closed] {
        let e = server_of(z, addr);
        assert!(e["rtt_ms"].is_null(), "{addr}: rtt_ms\n{}", run.show());
        assert!(
            e["error"].as_str().is_some_and(|s| !s.is_empty()),
            "{addr}: error says why\n{}",
            run.show()
        );
    }

    // --retries 0: one try each.
    let mut once = args.clone();
    once.extend(["--retries".into(), "0".into()]);
    unreachable.check_json(&once);

    // A primary that does not answer: its own row, unreachable.
    let mut primary = zone_args(&[zs.addr, knot.addr]);
    primary.extend([
        "--timeout".into(),
        "300".into(),
        "--primary".into(),
        silent.addr.to_string(),
    ]);
    expect(2)
        .reference(N, "highest")
        .servers([zs.addr, knot.addr], OK)
        .server(silent.addr, UNREACHABLE)
        .verdict_naming("primary-unreachable", &[silent.addr])
        .maybe("unreachable")
        .check(&primary);
}

// ---------------------------------------------------------------------------
// 4. Lame

/// Servers that do not serve the zone (REFUSED from zonesync, Knot and
/// NSD) and the parent's server (a referral, no AA) are lame.
#[test]
fn servers_not_authoritative_for_the_zone_are_lame() {
    let ips = [lo(2), lo(3), lo(4), lo(5), lo(6)];
    let at = on_one_port(&ips);
    let zones = example(N, &nameservers(&ips), "192.0.2.1");
    let zs = AuthServer::zonesync(at[0], &zones, Transfers::Refused);
    let other = vec![ZoneFile::new(
        "other.test.",
        zone_text("other.test.", 7, &[("ns1", lo(3))], "192.0.2.7"),
    )];
    let knot = AuthServer::knot(at[1], &other, Transfers::Refused);
    let zs_other = AuthServer::zonesync(at[2], &other, Transfers::Refused);
    let nsd = AuthServer::nsd(at[3], &other, Transfers::Refused);
    // The parent zone test. with the delegation: a referral.
    let parent = AuthServer::zonesync(at[4], &[parent_zone(&[("ns1", lo(2))])], Transfers::Refused);
    let lame = [knot.addr, zs_other.addr, nsd.addr, parent.addr];
    let mut args = zone_args(&[zs.addr, knot.addr, zs_other.addr, nsd.addr, parent.addr]);
    args.extend(["--timeout".into(), "500".into()]);

    let (run, json) = expect(2)
        .reference(N, "highest")
        .server(zs.addr, OK)
        .servers(lame, LAME)
        .verdict("lame", &lame)
        .check(&args);
    let z = zone_of(&json, ZONE);
    for addr in [knot.addr, zs_other.addr, nsd.addr] {
        let e = server_of(z, addr);
        assert_eq!(e["rcode"], "REFUSED", "{addr}\n{}", run.show());
        assert_eq!(e["aa"], false, "{addr}\n{}", run.show());
    }
    let referral = server_of(z, parent.addr);
    assert_eq!(referral["rcode"], "NOERROR", "a referral\n{}", run.show());
    assert_eq!(referral["aa"], false, "a referral\n{}", run.show());
}

// ---------------------------------------------------------------------------
// 5. Same serial, different content

/// NSD's file has another address for www at the same serial: only seen
/// with `--records www/A` (content-mismatch, row "different").
#[test]
fn same_serial_different_record_is_a_content_mismatch() {
    let ips = [lo(2), lo(3), lo(4)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    let zs = AuthServer::zonesync(at[0], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let knot = AuthServer::knot(at[1], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let nsd = AuthServer::nsd(at[2], &example(N, &ns, "192.0.2.99"), Transfers::Refused);
    let args = zone_args(&[zs.addr, knot.addr, nsd.addr]);

    let in_sync = expect(0).servers([zs.addr, knot.addr, nsd.addr], OK);
    let odd_www = expect(2)
        .servers([zs.addr, knot.addr], OK)
        .server(nsd.addr, DIFFERENT)
        .verdict("content-mismatch", &[nsd.addr]);

    // The SOA and the apex NS agree: nothing to see.
    in_sync.check_json(&args);

    for records in ["www/A", "www.example.test./A"] {
        let mut with = args.clone();
        with.extend(["--records".into(), records.into()]);
        odd_www.check(&with);
    }

    // An RRset all servers agree on.
    let mut agree = args.clone();
    agree.extend([
        "--records".into(),
        "ns1/A".into(),
        "--records".into(),
        "@/NS".into(),
    ]);
    in_sync.check_json(&agree);
}

/// NSD's apex NS set has one more name at the same serial: a
/// content-mismatch without `--records`.
#[test]
fn same_serial_different_apex_ns_is_a_content_mismatch() {
    let ips = [lo(2), lo(3), lo(4)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    let more = nameservers(&[lo(2), lo(3), lo(4), lo(5)]);
    let zs = AuthServer::zonesync(at[0], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let knot = AuthServer::knot(at[1], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let nsd = AuthServer::nsd(at[2], &example(N, &more, "192.0.2.1"), Transfers::Refused);
    let args = zone_args(&[zs.addr, knot.addr, nsd.addr]);
    expect(2)
        .servers([zs.addr, knot.addr], OK)
        .server(nsd.addr, DIFFERENT)
        .verdict("content-mismatch", &[nsd.addr])
        .check(&args);
}

// ---------------------------------------------------------------------------
// 6. Discovery from the parent, ns-mismatch, no-servers

/// The parent zone `test.` served by one server at 127.0.0.10: its NS
/// `ns` and, for each (label, address) of `delegation`, `example NS
/// label.example` with glue.
fn parent_zone(delegation: &[(&str, IpAddr)]) -> ZoneFile {
    let mut s = String::from(
        "$ORIGIN test.\n$TTL 3600\n@ SOA ns hostmaster 1 3600 600 1209600 300\n\
         @ NS ns\nns A 127.0.0.10\n",
    );
    for (label, ip) in delegation {
        s.push_str(&format!("example NS {label}.example\n"));
        let rtype = if ip.is_ipv6() { "AAAA" } else { "A" };
        s.push_str(&format!("{label}.example {rtype} {ip}\n"));
    }
    ZoneFile::new("test.", s)
}

/// Discovery through `--parent-ns`: the parent delegates to ns1 and ns2
/// (glue), the apex lists ns1, ns2 and ns3 (ns3's address from the zone
/// itself): ns-mismatch WARNING, and one row per address with where it
/// came from. A parent listing the same set: OK.
#[test]
fn parent_and_child_ns_sets_differ() {
    let ips = [lo(2), lo(3), lo(4), lo(10), lo(11)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips[..3]);
    let zones = example(N, &ns, "192.0.2.1");
    let zs = AuthServer::zonesync(at[0], &zones, Transfers::Refused);
    let knot = AuthServer::knot(at[1], &zones, Transfers::Refused);
    let nsd = AuthServer::nsd(at[2], &zones, Transfers::Refused);
    let parent = AuthServer::zonesync(at[3], &[parent_zone(&ns[..2])], Transfers::Refused);
    let full_parent = AuthServer::zonesync(at[4], &[parent_zone(&ns)], Transfers::Refused);
    // No resolver is needed: every name is in the zone (glue, or the
    // zone's own A records). One where nothing listens keeps it so.
    let resolver = closed_addr();
    let discover = |parent: SocketAddr| -> Vec<String> {
        vec![
            ZONE.to_string(),
            "--parent-ns".into(),
            parent.to_string(),
            "--port".into(),
            at[0].port().to_string(),
            "--resolver".into(),
            resolver.to_string(),
            "--timeout".into(),
            "500".into(),
        ]
    };

    let three = [zs.addr, knot.addr, nsd.addr];
    let (run, json) = expect(1)
        .reference(N, "highest")
        .servers(three, OK)
        .no_other_servers()
        .verdict_naming("ns-mismatch", &[])
        .check(&discover(parent.addr));
    let z = zone_of(&json, ZONE);
    expect_ns_set(&run, z, "parent", &NS_LABELS[..2]);
    expect_ns_set(&run, z, "child", &NS_LABELS[..3]);
    for (s, name, sources) in [
        (&zs, "ns1", &["parent", "child"][..]),
        (&knot, "ns2", &["parent", "child"][..]),
        (&nsd, "ns3", &["child"][..]),
    ] {
        let e = server_of(z, s.addr);
        assert_eq!(e["name"], fqdn(name), "{}", run.show());
        assert_eq!(
            strings(&e["sources"]),
            set(sources),
            "sources of {name}\n{}",
            run.show()
        );
    }

    // Explicit servers: the NS sets are still compared.
    let mut explicit = zone_args(&three);
    explicit.extend([
        "--parent-ns".into(),
        parent.addr.to_string(),
        "--resolver".into(),
        resolver.to_string(),
    ]);
    let (run, json) = expect(1)
        .servers(three, OK)
        .verdict_naming("ns-mismatch", &[])
        .check_json(&explicit);
    assert_eq!(
        strings(&server_of(zone_of(&json, ZONE), nsd.addr)["sources"]),
        set(&["explicit"]),
        "{}",
        run.show()
    );

    // A parent with the same NS set: OK, every address from both.
    let (run, json) = expect(0)
        .reference(N, "highest")
        .servers(three, OK)
        .no_other_servers()
        .check_json(&discover(full_parent.addr));
    let z = zone_of(&json, ZONE);
    assert_eq!(
        strings(&z["ns"]["parent"]),
        strings(&z["ns"]["child"]),
        "{}",
        run.show()
    );
    expect_sources(&run, z, &three, &["parent", "child"]);
}

/// Asserts the NS set `side` (`parent`, `child`) of a zone's report: the
/// nameservers `labels` of the zone under test.
fn expect_ns_set(run: &Run, zone: &Value, side: &str, labels: &[&str]) {
    let names: BTreeSet<String> = labels.iter().map(|l| fqdn(l)).collect();
    assert_eq!(
        strings(&zone["ns"][side]),
        names,
        "ns.{side}\n{}",
        run.show()
    );
}

/// Asserts the `sources` of each of `servers` in a zone's report.
fn expect_sources(run: &Run, zone: &Value, servers: &[SocketAddr], sources: &[&str]) {
    for addr in servers {
        assert_eq!(
            strings(&server_of(zone, *addr)["sources"]),
            set(sources),
            "sources of {addr}\n{}",
            run.show()
        );
    }
}

/// Discovery through a resolver alone (BIND forwarding `test.` to the
/// parent's server): the parent's apex from the SOA of `test.`, its NS
/// name resolved, the delegation and glue from there; every address asked
/// on `--port`. OK, rows from both NS sets.
#[test]
fn discovery_through_the_resolver() {
    let ips = [lo(1), lo(2), lo(3), lo(10)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips[1..3]);
    let zones = example(N, &ns, "192.0.2.1");
    let zs = AuthServer::zonesync(at[1], &zones, Transfers::Refused);
    let knot = AuthServer::knot(at[2], &zones, Transfers::Refused);
    // parent_zone() names ns.test. at 127.0.0.10.
    let parent = AuthServer::zonesync(at[3], &[parent_zone(&ns)], Transfers::Refused);
    let resolver_addr = SocketAddr::new(lo(1), free_port_on(&[lo(1)]));
    let resolver = BindResolver::start(resolver_addr, &[("test.", parent.addr)]);
    let args = [
        ZONE.to_string(),
        "--resolver".into(),
        resolver.addr.to_string(),
        "--port".into(),
        at[0].port().to_string(),
    ];
    let (run, json) = expect(0)
        .reference(N, "highest")
        .servers([zs.addr, knot.addr], OK)
        .no_other_servers()
        .check(&args);
    let z = zone_of(&json, ZONE);
    expect_ns_set(&run, z, "parent", &NS_LABELS[..2]);
    expect_ns_set(&run, z, "child", &NS_LABELS[..2]);
    expect_sources(&run, z, &[zs.addr, knot.addr], &["parent", "child"]);
}

/// A parent that does not delegate the zone: no nameserver to ask,
/// no-servers UNKNOWN (exit 3).
#[test]
fn no_nameserver_found_is_unknown() {
    let port = free_port_on(&[lo(10)]);
    let parent = AuthServer::zonesync(
        SocketAddr::new(lo(10), port),
        &[parent_zone(&[])],
        Transfers::Refused,
    );
    let args = [
        ZONE.to_string(),
        "--parent-ns".into(),
        parent.addr.to_string(),
        "--port".into(),
        port.to_string(),
        "--resolver".into(),
        closed_addr().to_string(),
        "--timeout".into(),
        "300".into(),
    ];
    // The resolver is down too: discovery WARNINGs may come with it.
    expect(3)
        .verdict_naming("no-servers", &[])
        .maybe("discovery")
        .no_other_servers()
        .check(&args);
}

/// A parent server that does not answer and an NS name that does not
/// resolve (outside the zone, and the resolver is down): discovery
/// WARNINGs saying which; the servers found are still checked.
#[test]
fn failed_parts_of_discovery_are_warnings() {
    let ips = [lo(2), lo(3), lo(10), lo(11)];
    let at = on_one_port(&ips);
    let lost = "ns.nowhere.invalid.";
    let ns = [("ns1", lo(2)), ("ns2", lo(3)), (lost, lo(9))];
    let zones = example(N, &ns, "192.0.2.1");
    let zs = AuthServer::zonesync(at[0], &zones, Transfers::Refused);
    let knot = AuthServer::knot(at[1], &zones, Transfers::Refused);
    let parent = AuthServer::zonesync(
        at[2],
        &[parent_zone(&[("ns1", lo(2)), ("ns2", lo(3))])],
        Transfers::Refused,
    );
    let silent_parent = SilentUdp::bind(at[3]);
    let args = [
        ZONE.to_string(),
        "--parent-ns".into(),
        parent.addr.to_string(),
        "--parent-ns".into(),
        silent_parent.addr.to_string(),
        "--port".into(),
        at[0].port().to_string(),
        "--resolver".into(),
        closed_addr().to_string(),
        "--timeout".into(),
        "300".into(),
    ];
    // The NS sets may differ too: the parent does not list the lost name.
    let (run, json) = expect(1)
        .servers([zs.addr, knot.addr], OK)
        .line("discovery", &[lost.to_string()])
        .line("discovery", &[silent_parent.addr.to_string()])
        .maybe("ns-mismatch")
        .check(&args);
    let z = zone_of(&json, ZONE);
    let said: String = verdicts(z, "discovery")
        .iter()
        .map(|v| format!("{} {}\n", v["message"], v["servers"]))
        .collect();
    assert!(
        said.contains(lost) && said.contains(&silent_parent.addr.to_string()),
        "the discovery verdicts say which name and which parent server\n{}",
        run.show()
    );
    assert!(
        strings(&z["ns"]["child"]).contains(lost),
        "the child's NS set has {lost}\n{}",
        run.show()
    );
}

// ---------------------------------------------------------------------------
// 7. Open AXFR

/// zonesync transfers the zone to anyone on loopback, Knot and NSD do not:
/// axfr-open WARNING naming zonesync's address; not checked with
/// `--no-axfr-check`.
#[test]
fn open_axfr_is_reported() {
    let ips = [lo(2), lo(3), lo(4)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    let zones = example(N, &ns, "192.0.2.1");
    let zs = AuthServer::zonesync(at[0], &zones, Transfers::Open);
    let knot = AuthServer::knot(at[1], &zones, Transfers::Refused);
    let nsd = AuthServer::nsd(at[2], &zones, Transfers::Refused);
    let args = zone_args(&[zs.addr, knot.addr, nsd.addr]);

    let three = [zs.addr, knot.addr, nsd.addr];
    let (run, json) = expect(1)
        .reference(N, "highest")
        .servers(three, OK)
        .verdict("axfr-open", &[zs.addr])
        .check(&args);
    let z = zone_of(&json, ZONE);
    expect_axfr(&run, z, &[zs.addr], Some(true));
    expect_axfr(&run, z, &[knot.addr, nsd.addr], Some(false));

    let mut unchecked = args.clone();
    unchecked.push("--no-axfr-check".into());
    let (run, json) = expect(0).servers(three, OK).check(&unchecked);
    expect_axfr(&run, zone_of(&json, ZONE), &three, None);
}

/// Asserts `axfr_open` of each of `servers` (null: not checked) and that
/// none has an `axfr_error`.
fn expect_axfr(run: &Run, zone: &Value, servers: &[SocketAddr], open: Option<bool>) {
    for addr in servers {
        let e = server_of(zone, *addr);
        assert_eq!(e["axfr_open"].as_bool(), open, "{addr}\n{}", run.show());
        assert!(
            e["axfr_open"].is_boolean() || e["axfr_open"].is_null(),
            "{addr}\n{}",
            run.show()
        );
        assert!(
            e["axfr_error"].is_null(),
            "{addr}: no axfr_error\n{}",
            run.show()
        );
    }
}

/// A server whose TCP never answers (made by the test: it answers the SOA
/// and NS of the zone over UDP; its TCP listener takes connections and
/// never reads them): the AXFR check times out, axfr-unchecked (OK) with
/// `axfr_error` saying why.
#[test]
fn an_axfr_check_that_times_out_is_unchecked() {
    let port = free_port_on(&[lo(2)]);
    let udp_only = UdpOnlyAuthority::start(SocketAddr::new(lo(2), port), N);
    let mut args = zone_args(&[udp_only.addr]);
    args.extend(["--timeout".into(), "300".into()]);

    let (run, json) = expect(0)
        .server(udp_only.addr, OK)
        .verdict("axfr-unchecked", &[udp_only.addr])
        .check(&args);
    let e = server_of(zone_of(&json, ZONE), udp_only.addr);
    assert!(e["axfr_open"].is_null(), "{}", run.show());
    assert!(
        e["axfr_error"].as_str().is_some_and(|s| !s.is_empty()),
        "axfr_error says why\n{}",
        run.show()
    );

    // Not checked at all: no verdict, no error.
    args.push("--no-axfr-check".into());
    let (run, json) = expect(0).server(udp_only.addr, OK).check_json(&args);
    expect_axfr(&run, zone_of(&json, ZONE), &[udp_only.addr], None);
}

/// A minimal authoritative server for the zone under test on UDP: SOA
/// (serial given) and NS `ns1` at the apex, AA, NODATA for other types;
/// EDNS ignored. On TCP it listens but never accepts (the kernel completes
/// connections into the backlog): queries there get no answer. Its thread
/// stops on drop (bounded: the socket reads with a timeout).
struct UdpOnlyAuthority {
    addr: SocketAddr,
    _tcp: std::net::TcpListener,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpOnlyAuthority {
    fn start(addr: SocketAddr, serial: u32) -> UdpOnlyAuthority {
        let socket = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind UDP {addr}: {e}"));
        let tcp =
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind TCP {addr}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(answer) = udp_only_answer(&buf[..n], serial) {
                    let _ = socket.send_to(&answer, peer);
                }
            }
        });
        UdpOnlyAuthority {
            addr,
            _tcp: tcp,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpOnlyAuthority {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The answer of [`UdpOnlyAuthority`] to a query; `None` for anything that
/// is not a query with one question.
fn udp_only_answer(query: &[u8], serial: u32) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 || counts_of(query)[0] != 1 {
        return None;
    }
    let mut pos = 12;
    loop {
        let len = *query.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    if query.len() < question_end {
        return None;
    }
    let rr = |rtype: u16, rdata: &[u8]| {
        let mut r = vec![0xc0, 12];
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&3600u32.to_be_bytes());
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    };
    let answers = match qtype {
        6 => {
            let mut soa = wire_name(&fqdn("ns1"));
            soa.extend_from_slice(&wire_name(&fqdn("hostmaster")));
            for v in [serial, 3600, 600, 1209600, 300] {
                soa.extend_from_slice(&v.to_be_bytes());
            }
            vec![rr(6, &soa)]
        }
        2 => vec![rr(2, &wire_name(&fqdn("ns1")))],
        _ => vec![],
    };
    let rd = u16::from_be_bytes([query[2], query[3]]) & 0x0100;
    let mut out = header(id_of(query), 0x8400 | rd, 1, answers.len() as u16, 0, 0);
    out.extend_from_slice(&query[12..question_end]);
    for a in answers {
        out.extend_from_slice(&a);
    }
    Some(out)
}

/// A signing key for the zone under test (dnssec-keygen, one KSK signing
/// everything) in its own directory.
struct Signer {
    dir: TempDir,
}

impl Signer {
    fn new() -> Signer {
        let dir = TempDir::new("verify-signer");
        let mut keygen = Command::new(require_tool("dnssec-keygen", "bind9-utils"));
        keygen
            .args(["-q", "-K", ".", "-f", "KSK", "-a", "ECDSAP256SHA256", ZONE])
            .current_dir(dir.path());
        run_peer_tool(keygen, String::new);
        Signer { dir }
    }

    /// `text` signed (dnssec-signzone) with signatures starting at
    /// `start` (`dnssec-signzone -s`: `+0` is now; `None` an hour ago).
    fn sign(&self, text: &str, start: Option<&str>) -> String {
        self.dir.write("in.db", text);
        let mut sign = Command::new(require_tool("dnssec-signzone", "bind9-utils"));
        sign.args(["-S", "-z", "-K", ".", "-o", ZONE, "-f", "out.db"]);
        if let Some(start) = start {
            sign.args(["-s", start]);
        }
        sign.arg("in.db").current_dir(self.dir.path());
        run_peer_tool(sign, String::new);
        std::fs::read_to_string(self.dir.join("out.db")).expect("signed zone")
    }
}

/// A signed zone at the same serial, signed twice (other RRSIGs of the
/// SOA): the SOA RRSIGs are compared, content-mismatch on the odd one.
#[test]
fn same_serial_different_soa_rrsig_is_a_content_mismatch() {
    // named listens on interface addresses only: 127.0.0.1.
    let ips = [lo(2), lo(3), lo(1)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    let text = zone_text(ZONE, N, &ns, "192.0.2.1");
    let signer = Signer::new();
    let first = vec![ZoneFile::new(ZONE, signer.sign(&text, None))];
    let again = vec![ZoneFile::new(ZONE, signer.sign(&text, Some("+0")))];
    assert_ne!(first[0].text, again[0].text, "two signings differ");
    let knot = AuthServer::knot(at[0], &first, Transfers::Refused);
    let nsd = AuthServer::nsd(at[1], &first, Transfers::Refused);
    let bind = AuthServer::bind(at[2], &again, Transfers::Refused);

    // Same signatures: OK.
    let same = zone_args(&[knot.addr, nsd.addr]);
    expect(0)
        .servers([knot.addr, nsd.addr], OK)
        .check_json(&same);

    let args = zone_args(&[knot.addr, nsd.addr, bind.addr]);
    expect(2)
        .servers([knot.addr, nsd.addr], OK)
        .server(bind.addr, DIFFERENT)
        .verdict("content-mismatch", &[bind.addr])
        .check(&args);
}

/// zonesync with `edns_udp_max = 512` truncates an SOA with long names:
/// verify asks again over TCP (transport "tcp"); Knot's fits over UDP.
#[test]
fn truncated_answer_is_asked_again_over_tcp() {
    let ips = [lo(2), lo(3)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    // Two 253-octet names in the SOA: more than 512 octets in all.
    let long = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(40)
    );
    let text = zone_text(ZONE, N, &ns, "192.0.2.1").replace(
        "@ SOA ns1 hostmaster",
        &format!("@ SOA {long}.mname {long}.rname"),
    );
    let zones = vec![ZoneFile::new(ZONE, text)];
    let zs = AuthServer::zonesync_with(at[0], &zones, Transfers::Refused, "edns_udp_max = 512");
    let knot = AuthServer::knot(at[1], &zones, Transfers::Refused);
    let probe = query_udp(
        zs.addr,
        ZONE,
        hickory_proto::rr::RecordType::SOA,
        &QueryOpts::edns(1232),
    );
    assert!(
        probe.header().truncated(),
        "the test needs a truncated answer from zonesync:\n{}",
        describe(&probe)
    );

    let args = zone_args(&[zs.addr, knot.addr]);
    let (run, json) = expect(0)
        .servers([zs.addr, knot.addr], OK)
        .check_json(&args);
    let z = zone_of(&json, ZONE);
    assert_eq!(server_of(z, zs.addr)["transport"], "tcp", "{}", run.show());
    assert_eq!(
        server_of(z, knot.addr)["transport"],
        "udp",
        "{}",
        run.show()
    );
}

// ---------------------------------------------------------------------------
// 8. IPv4 and IPv6 of one name

/// ns1 has an IPv4 address (zonesync, new serial) and ::1 (Knot, the old
/// serial): address-mismatch.
#[test]
fn ipv4_and_ipv6_addresses_of_one_name_disagree() {
    let ips = [lo(2), lo(3), lo6()];
    let at = on_one_port(&ips);
    let ns = [("ns1", lo(2)), ("ns1", lo6()), ("ns2", lo(3))];
    let zs = AuthServer::zonesync(at[0], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let nsd = AuthServer::nsd(at[1], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let knot6 = AuthServer::knot(at[2], &example(N - 1, &ns, "192.0.2.1"), Transfers::Refused);
    assert_eq!(knot6.addr.to_string(), format!("[::1]:{}", at[2].port()));
    let mut args = vec![ZONE.to_string()];
    args.extend(ns_args(&[
        ("ns1", zs.addr),
        ("ns1", knot6.addr),
        ("ns2", nsd.addr),
    ]));

    // The verdict names ns1's addresses, not ns2's. knot6 is behind too:
    // serial-behind may come with it.
    let (run, json) = expect(2)
        .servers([zs.addr, nsd.addr], OK)
        .server(knot6.addr, BEHIND)
        .verdict("address-mismatch", &[zs.addr, knot6.addr])
        .line("address-mismatch", &[fqdn("ns1")])
        .maybe("serial-behind")
        .check(&args);
    assert_eq!(
        server_of(zone_of(&json, ZONE), knot6.addr)["name"],
        fqdn("ns1"),
        "{}",
        run.show()
    );
}

// ---------------------------------------------------------------------------
// 9. Many zones

/// `--zones FILE`: three zones (one with its own servers on its line),
/// one CRITICAL: a summary, exit 2, every zone in the JSON.
#[test]
fn zones_file_checks_every_zone() {
    let at = on_one_port(&[lo(2), lo(3)]);
    let (a, b) = (at[0], at[1]);
    // NS names outside the zones, the same for all of them.
    let ns = [("ns1.example.test.", lo(2)), ("ns2.example.test.", lo(3))];
    let text = |zone: &str, serial: u32, ns: &[(&str, IpAddr)]| {
        ZoneFile::new(zone, zone_text(zone, serial, ns, "192.0.2.1"))
    };
    let _zs = AuthServer::zonesync(
        a,
        &[
            text("alpha.test.", N, &ns),
            text("broken.test.", N, &ns),
            text("third.test.", N, &ns[..1]),
        ],
        Transfers::Refused,
    );
    let _knot = AuthServer::knot(
        b,
        &[
            text("alpha.test.", N, &ns),
            text("broken.test.", N - 1, &ns),
        ],
        Transfers::Refused,
    );
    let dir = TempDir::new("verify-zones");
    let file = dir.write(
        "zones.txt",
        format!(
            "# zones checked by the test\n\
             alpha.test.\n\
             \n\
             broken.test   # one server is behind\n\
             third.test. ns1.example.test.={a}\n"
        ),
    );
    let mut args = vec!["--zones".to_string(), file.display().to_string()];
    args.extend(ns_args(&[
        ("ns1.example.test.", a),
        ("ns2.example.test.", b),
    ]));

    let table = verify(&args);
    table.expect_code(2);
    table.expect_title("alpha.test.", N, "highest", "OK");
    table.expect_title("broken.test.", N, "highest", "CRITICAL");
    table.expect_title("third.test.", N, "highest", "OK");
    table.expect_verdict_line("serial-behind", &[b.to_string()]);
    // A title line and a summary line per zone, each with its status.
    for (zone, status) in [
        ("alpha.test.", "OK"),
        ("broken.test.", "CRITICAL"),
        ("third.test.", "OK"),
    ] {
        let lines = table
            .stdout
            .lines()
            .filter(|l| {
                let t: Vec<&str> = l.split_whitespace().collect();
                t.contains(&zone) && t.contains(&status)
            })
            .count();
        assert!(
            lines >= 2,
            "{zone}: a title and a summary line with {status}\n{}",
            table.show()
        );
    }

    let (run, json) = verify_json(&args);
    run.expect_code(2);
    assert_eq!(json["status"], "CRITICAL", "{}", run.show());
    assert_eq!(
        json["summary"],
        serde_json::json!({"zones": 3, "ok": 2, "warning": 0, "critical": 1, "unknown": 0}),
        "{}",
        run.show()
    );
    expect(0)
        .servers([a, b], OK)
        .check_zone(&run, &json, "alpha.test.");
    expect(2)
        .server(a, OK)
        .server(b, BEHIND)
        .verdict("serial-behind", &[b])
        .check_zone(&run, &json, "broken.test.");
    // The servers on the zone's line replace --ns.
    expect(0)
        .server(a, OK)
        .no_other_servers()
        .check_zone(&run, &json, "third.test.");
}

// ---------------------------------------------------------------------------
// 10. Nagios

/// `--nagios`: one line, `ZONESYNC VERIFY STATUS - ZONE: ... | perfdata`.
#[test]
fn nagios_line_and_perfdata() {
    let ips = [lo(2), lo(3), lo(4)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    let zs = AuthServer::zonesync(at[0], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let knot = AuthServer::knot(at[1], &example(N - 1, &ns, "192.0.2.1"), Transfers::Refused);
    let silent = SilentUdp::bind(at[2]);

    let mut args = zone_args(&[zs.addr, knot.addr, silent.addr]);
    args.extend(["--timeout".into(), "300".into()]);
    let (run, text) = check_nagios(&args, 2, (3, 1, 1));
    assert!(
        text.starts_with(&format!("ZONESYNC VERIFY CRITICAL - {ZONE}: ")),
        "status and zone first\n{}",
        run.show()
    );
    assert!(
        text.contains("1 behind") && text.contains("1 unreachable"),
        "the problems counted\n{}",
        run.show()
    );

    check_nagios(&zone_args(&[zs.addr]), 0, (1, 1, 0));
}

/// Runs `verify ARGS --nagios`: exit `code` and a single line
/// `ZONESYNC VERIFY STATUS - ZONE... | PERFDATA`, the perfdata with these
/// (servers, ok, max_lag) ([`expect_perf`]). Returns the run and the text
/// before the perfdata.
fn check_nagios(args: &[String], code: i32, perf: (u32, u32, u32)) -> (Run, String) {
    let mut all = args.to_vec();
    all.push("--nagios".into());
    let run = verify(&all);
    run.expect_code(code);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line\n{}", run.show());
    let (text, perfdata) = lines[0]
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no \" | \" before the perfdata\n{}", run.show()));
    let status = STATUSES[code as usize];
    assert!(
        text.starts_with(&format!("ZONESYNC VERIFY {status} - {ZONE}")),
        "status and zone first\n{}",
        run.show()
    );
    let perfdata: Vec<String> = perfdata.split_whitespace().map(String::from).collect();
    expect_perf(&run, &perfdata, perf.0, perf.1, perf.2);
    let text = text.to_string();
    (run, text)
}

/// `servers=S;;;0 ok=O;;;0 max_lag=L;;;0 rtt_max=Xs;;;0`.
fn expect_perf(run: &Run, perf: &[String], servers: u32, ok: u32, max_lag: u32) {
    assert_eq!(perf.len(), 4, "four perfdata values\n{}", run.show());
    assert_eq!(
        &perf[..3],
        &[
            format!("servers={servers};;;0"),
            format!("ok={ok};;;0"),
            format!("max_lag={max_lag};;;0"),
        ],
        "{}",
        run.show()
    );
    let rtt = perf[3]
        .strip_prefix("rtt_max=")
        .and_then(|r| r.strip_suffix("s;;;0"))
        .and_then(|r| r.parse::<f64>().ok());
    assert!(
        rtt.is_some_and(|r| (0.0..1.0).contains(&r)),
        "rtt_max=SECONDSs;;;0\n{}",
        run.show()
    );
}

// ---------------------------------------------------------------------------
// 10b. Why: --primary-control

const XFR_KEY: &str = "xfr-key";
const XFR_SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";

/// A zonesync secondary on [::1] asking a primary that wants `xfr-key`
/// for transfers, without the key: its AXFR is refused and it never
/// serves the zone. `verify --primary-control` reads the primary's peer
/// history and says why in the table, the JSON report and the Nagios
/// line; the exit code is the lame row's, as without it.
#[test]
fn primary_control_says_why_a_secondary_without_the_key_is_lame() {
    let port = free_port_on(&[lo(1), lo6()]);
    let p = SocketAddr::new(lo(1), port);
    let p6 = SocketAddr::new(lo6(), port);
    let s = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let control = free_addr();
    let ns = nameservers(&[lo(1), lo6()]);
    let primary = Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\
             [[key]]\nname = \"{XFR_KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{XFR_SECRET}\"\n\
             {}allow_transfer = [{{ from = \"::1/128\", key = \"{XFR_KEY}\" }}]\n",
            zone_entry(ZONE, "zone.db")
        ),
        &[("zone.db", &zone_text(ZONE, N, &ns, "192.0.2.1"))],
        &StartOptions {
            addr: Some(p),
            extra_args: ["--listen", &p.to_string(), "--listen", &p6.to_string()]
                .map(String::from)
                .to_vec(),
            ..StartOptions::default()
        },
    );
    // The secondary names the primary at [::1], so it asks from ::1: the
    // primary's history tells it apart from verify's own queries.
    let secondary = Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n[[zone]]\nname = \"{ZONE}\"\nrole = \"secondary\"\n\
             primaries = [{{ address = \"{p6}\" }}]\n"
        ),
        &[],
        &StartOptions {
            addr: Some(s),
            ..StartOptions::default()
        },
    );
    let logs = || format!("{}\n--- secondary ---\n{}", primary.log(), secondary.log());
    assert!(
        primary.wait_for_log(
            "transfer refused by allow_transfer",
            Duration::from_secs(20)
        ),
        "the secondary's AXFR is refused\n{}",
        logs()
    );
    let mut args = zone_args(&[p, s]);
    args.extend(
        [
            "--primary",
            &p.to_string(),
            "--primary-control",
            &control.to_string(),
        ]
        .map(String::from),
    );
    let run = expect(2)
        .reference(N, "primary")
        .server(p, OK)
        .server(s, LAME)
        .no_other_servers()
        .verdict("lame", &[s])
        .maybe("axfr-open")
        .check_table(&args);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.split_whitespace().nth(1) == Some(&s.to_string()[..]))
        .unwrap_or_else(|| panic!("a row of {s}\n{}", run.show()));
    let why = lines.get(row + 1).copied().unwrap_or_default();
    assert!(
        why.starts_with("  why: transfer-refused: ")
            && why.contains("asked without a key")
            && why.contains(XFR_KEY),
        "the diagnosis under the row of {s}\n{}\n{}",
        run.show(),
        logs()
    );
    assert_eq!(
        run.stdout.matches("  why: ").count(),
        1,
        "only the lame row is diagnosed (not the primary's)\n{}",
        run.show()
    );

    let (run, json) = expect(2)
        .reference(N, "primary")
        .server(p, OK)
        .server(s, LAME)
        .verdict("lame", &[s])
        .maybe("axfr-open")
        .check_json(&args);
    let z = zone_of(&json, ZONE);
    let d = &server_of(z, s)["diagnosis"];
    assert_eq!(d["code"], "transfer-refused", "{}", run.show());
    assert!(
        str_of(&d["message"], "message").contains(XFR_KEY),
        "{}",
        run.show()
    );
    assert!(
        d["heal"].is_null(),
        "a refusal is never healed\n{}",
        run.show()
    );
    assert!(
        server_of(z, p).get("diagnosis").is_none(),
        "the primary's row has no diagnosis\n{}",
        run.show()
    );

    let mut nagios = args.clone();
    nagios.push("--nagios".into());
    let run = verify(&nagios);
    run.expect_code(2);
    assert!(
        run.stdout.contains("1 lame (why: transfer-refused)"),
        "{}",
        run.show()
    );

    // Without --primary-control: as before, no diagnosis anywhere.
    let plain = &args[..args.len() - 2];
    let (run, json) = verify_json(plain);
    run.expect_code(2);
    assert!(
        server_of(zone_of(&json, ZONE), s)
            .get("diagnosis")
            .is_none(),
        "{}",
        run.show()
    );
}

/// A `--primary-control` where nothing listens: a WARNING verdict naming
/// it, no row diagnosed, and the exit code the rows make (here a row
/// behind: CRITICAL).
#[test]
fn an_unreachable_primary_control_is_a_warning_naming_it() {
    let ips = [lo(2), lo(3)];
    let at = on_one_port(&ips);
    let ns = nameservers(&ips);
    let primary = AuthServer::zonesync(at[0], &example(N, &ns, "192.0.2.1"), Transfers::Refused);
    let behind = AuthServer::zonesync(at[1], &example(N - 1, &ns, "192.0.2.1"), Transfers::Refused);
    let control = closed_addr();
    let mut args = zone_args(&[primary.addr, behind.addr]);
    args.extend(
        [
            "--primary",
            &primary.addr.to_string(),
            "--primary-control",
            &control.to_string(),
        ]
        .map(String::from),
    );
    let (run, json) = expect(2)
        .reference(N, "primary")
        .server(primary.addr, OK)
        .server(behind.addr, BEHIND)
        .verdict("serial-behind", &[behind.addr])
        .verdict("peer-history-unavailable", &[])
        .line("peer-history-unavailable", &[control.to_string()])
        .check(&args);
    assert!(!run.stdout.contains("\"diagnosis\""), "{}", run.show());
    assert!(
        !json.to_string().contains("diagnosis"),
        "no row diagnosed\n{}",
        run.show()
    );

    // In sync: the control is not asked, and nothing is said of it.
    let mut in_sync = zone_args(&[primary.addr]);
    in_sync.extend(
        [
            "--primary",
            &primary.addr.to_string(),
            "--primary-control",
            &control.to_string(),
        ]
        .map(String::from),
    );
    expect(0)
        .reference(N, "primary")
        .server(primary.addr, OK)
        .check(&in_sync);
}

/// A primary whose control wants `server.control_key`: without
/// `--control-key` the history cannot be read (401, a WARNING naming the
/// control); with `--control-key NAME --config FILE` it is, and the lame
/// row is diagnosed.
#[test]
fn a_keyed_primary_control_is_read_with_control_key() {
    let control = free_addr();
    let key = format!(
        "[[key]]\nname = \"ctl-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{XFR_SECRET}\"\n"
    );
    let ns = nameservers(&[lo(1), lo(2)]);
    let primary = Server::start(
        &format!(
            "[server]\nudp_workers = 1\ncontrol = \"{control}\"\ncontrol_key = \"ctl-key\"\n{key}{}",
            zone_entry(ZONE, "zone.db")
        ),
        &[("zone.db", &zone_text(ZONE, N, &ns, "192.0.2.1"))],
    );
    // Serves another zone only: lame for ours.
    let other = AuthServer::zonesync(
        SocketAddr::new(lo(2), free_port_on(&[lo(2)])),
        &[ZoneFile::new(
            "other.test.",
            zone_text("other.test.", 1, &[("ns1", lo(2))], "192.0.2.1"),
        )],
        Transfers::Refused,
    );
    let p = primary.addr();
    let mut args = zone_args(&[p, other.addr]);
    args.extend(
        [
            "--primary",
            &p.to_string(),
            "--primary-control",
            &control.to_string(),
        ]
        .map(String::from),
    );
    let (run, json) = expect(2)
        .reference(N, "primary")
        .server(p, OK)
        .server(other.addr, LAME)
        .verdict("lame", &[other.addr])
        .verdict("peer-history-unavailable", &[])
        .line(
            "peer-history-unavailable",
            &[control.to_string(), "401".into()],
        )
        .check(&args);
    assert!(!json.to_string().contains("diagnosis"), "{}", run.show());

    let dir = TempDir::new("verify-control-key");
    let config = dir.write("keys.toml", &key);
    args.extend(
        [
            "--control-key",
            "ctl-key",
            "--config",
            &config.to_string_lossy(),
        ]
        .map(String::from),
    );
    let (run, json) = expect(2)
        .reference(N, "primary")
        .server(p, OK)
        .server(other.addr, LAME)
        .verdict("lame", &[other.addr])
        .check(&args);
    let d = &server_of(zone_of(&json, ZONE), other.addr)["diagnosis"];
    assert!(d["code"].is_string(), "{}\n{}", run.show(), primary.log());

    // A key the file does not have: a bad argument (UNKNOWN), said first.
    let n = args.len();
    args[n - 3] = "nokey".into();
    let run = verify(&args);
    run.expect_code(3);
    assert!(run.stderr.contains("nokey"), "{}", run.show());
}

// ---------------------------------------------------------------------------
// 11. Bad arguments

/// Bad arguments and unreadable files: UNKNOWN (exit 3), with a message.
#[test]
fn bad_arguments_exit_3() {
    let closed = closed_addr().to_string();
    let ns = format!("ns1.example.test.={closed}");
    let cases: Vec<Vec<String>> = [
        vec![],
        vec![ZONE, "--no-such-flag"],
        vec![ZONE, "--ns", "no-equals-sign"],
        vec![ZONE, "--ns", "ns1.example.test.=not-an-address"],
        vec![ZONE, "--ns", "ns1.example.test.=127.0.0.1:99999"],
        vec![ZONE, "--ns", &ns, "--timeout", "soon"],
        vec![ZONE, "--ns", &ns, "--max-lag", "-1"],
        vec![ZONE, "--ns", &ns, "--records", "www/NOSUCHTYPE"],
        vec![ZONE, "--ns", &ns, "--records", "no-slash"],
        vec![ZONE, "--ns", &ns, "--primary", "nowhere"],
        vec![ZONE, "--ns", &ns, "--primary-control", "127.0.0.1"],
        vec![ZONE, "--ns", &ns, "--control-key", "k"],
        vec![
            "--zones",
            "/nonexistent/zonesync-verify-zones.txt",
            "--ns",
            &ns,
        ],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for args in cases {
        let run = verify(&args);
        run.expect_code(3);
        assert!(
            !run.stderr.trim().is_empty() || !run.stdout.trim().is_empty(),
            "a bad argument is explained\n{}",
            run.show()
        );
    }
}

/// `verify --help` works (and is not an error).
#[test]
fn help_lists_the_documented_flags() {
    let mut cmd = zonesync();
    cmd.args(["verify", "--help"]);
    let out = run_with_timeout(cmd, Duration::from_secs(20)).expect("verify --help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify --help: {}\n{text}",
        out.status
    );
    for flag in [
        "--ns",
        "--parent-ns",
        "--resolver",
        "--port",
        "--primary",
        "--concurrency",
        "--timeout",
        "--retries",
        "--tcp",
        "--records",
        "--no-axfr-check",
        "--max-lag",
        "--json",
        "--nagios",
        "--zones",
        "--primary-control",
    ] {
        assert!(text.contains(flag), "--help mentions {flag}:\n{text}");
    }
}
