//! zonesync's secondary role against real primaries (issue 4, "How it is
//! shown"): Knot DNS and BIND 9 as TSIG primaries (signed AXFR, then a
//! signed NOTIFY and an incremental IXFR after each reload), a chain
//! Knot → zonesync → BIND, a secondary of two zonesync primaries
//! (failover, highest serial wins, no rollback), and the control commands
//! of a secondary (`ctl status`, `refresh`, `retransfer`).
//!
//! Every peer runs on loopback in its own temp directory, is killed by its
//! PID on drop, and every wait is bounded. Knot DNS and BIND 9 are required
//! test peers (scripts/install-test-deps.sh installs them): when missing,
//! these tests fail, they do not skip.
//!
//! The primaries send NOTIFY from 127.0.0.2 (Knot's `via`, BIND's
//! `notify-source`), which is not a primary's address: zonesync accepts it
//! only through `allow_notify = [{ from = "127.0.0.2/32", key = "xfr-key" }]`,
//! so an accepted NOTIFY is one signed with the key.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "xfr-key";
const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
const RNDC_SECRET: &str = "c2VjcmV0LWZvci1ybmRjLWluLXRoZS10ZXN0cy0xMjM=";
/// Bound for a peer to start, or to take or serve a serial.
const PEER_TIMEOUT: Duration = Duration::from_secs(15);
/// A change made on the primary is served by the secondary within this
/// (NOTIFY, SOA query, IXFR, apply).
const FOLLOW_WITHIN: Duration = Duration::from_secs(1);

/// example.com at `serial` with hosts `first..=last` written out (Knot
/// does not read `$GENERATE`) and `extra` records. REFRESH is an hour:
/// only a NOTIFY or `ctl refresh` makes a secondary look.
fn zone(serial: u32, first: usize, last: usize, extra: &str) -> String {
    let hosts: String = (first..=last)
        .map(|i| format!("host{i} TXT \"host number {i}\"\n"))
        .collect();
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\n@ MX 10 mail\n\
         ns1 A 192.0.2.53\nmail A 192.0.2.25\nwww CNAME @\n\
         sub NS ns.sub\nns.sub A 192.0.2.100\n{hosts}{extra}"
    )
}

fn key_table() -> String {
    format!("\n[[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n")
}

/// Transfers from loopback, no NOTIFY: a secondary at the end of a chain.
const LAST_IN_CHAIN: &str = "allow_transfer = [{ from = \"127.0.0.0/8\" }]\n";

/// A zonesync secondary of example.com with TSIG to its primary, taking
/// NOTIFY signed with the key from 127.0.0.2; `downstream` (its
/// `allow_transfer` and `notify`) goes at the end of the `[[zone]]` table.
fn signed_secondary_config(primary: SocketAddr, downstream: &str) -> String {
    format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\n{}\n\
         [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"{primary}\", key = \"{KEY}\" }}]\n\
         allow_notify = [{{ from = \"127.0.0.2/32\", key = \"{KEY}\" }}]\n{downstream}",
        key_table()
    )
}

/// A zonesync server on `addr` (so peers can be configured with it first).
fn start_at(addr: SocketAddr, config: &str) -> Server {
    let opts = StartOptions {
        addr: Some(addr),
        ..StartOptions::default()
    };
    Server::start_with(config, &[], &opts)
}

// ---------------------------------------------------------------------------
// Queries and checks

/// The serial `addr` serves for example.com (authoritatively), if any.
fn served(addr: SocketAddr) -> Option<u32> {
    soa_serial_at(addr, "example.com")
}

/// Waits (bounded) until `addr` serves `serial`; returns how long it took,
/// panics with `logs()` when it does not.
fn wait_serial(
    addr: SocketAddr,
    serial: u32,
    within: Duration,
    logs: impl Fn() -> String,
) -> Duration {
    wait_serial_at(addr, "example.com", serial, within, logs)
}

/// Asserts that `addr` answers `hostN.example.com TXT` (present) or
/// NXDOMAIN (absent), authoritatively.
fn assert_host(addr: SocketAddr, host: &str, present: bool) {
    let name = format!("{host}.example.com");
    let m = query_udp(addr, &name, RecordType::TXT, &QueryOpts::plain());
    if present {
        assert!(
            m.response_code() == ResponseCode::NoError
                && m.header().authoritative()
                && m.answers().len() == 1,
            "{addr} serves {name} TXT:\n{}",
            describe(&m)
        );
    } else {
        assert!(
            m.response_code() == ResponseCode::NXDomain && m.header().authoritative(),
            "{name} is not in the zone: {addr} answers NXDOMAIN:\n{}",
            describe(&m)
        );
    }
}

/// The whole zone as `server` sends it by AXFR (fetched with `zonesync
/// xfr`, signed with the key when `signed`): one record per line,
/// normalised and sorted, plus the summary line.
fn axfr(server: SocketAddr, signed: bool) -> (Vec<String>, String) {
    let mut cmd = zonesync();
    cmd.args(["xfr", "example.com", "--server", &server.to_string()]);
    if signed {
        cmd.args(["--key", &format!("{KEY}:hmac-sha256:{SECRET}")]);
    }
    let out = run_with_timeout(cmd, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "zonesync xfr from {server}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
        .collect();
    records.sort();
    let summary = text
        .lines()
        .rev()
        .find(|l| l.starts_with(";; "))
        .unwrap_or_default()
        .to_owned();
    (records, summary)
}

/// Asserts that `server` refuses an unsigned AXFR (so that the transfers
/// it served were signed with the key); returns zonesync xfr's error.
fn assert_unsigned_refused(server: SocketAddr) -> String {
    let mut cmd = zonesync();
    cmd.args(["xfr", "example.com", "--server", &server.to_string()]);
    let out = run_with_timeout(cmd, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    let err = stderr(&out);
    assert!(
        !out.status.success() && (err.contains("REFUSED") || err.contains("NOTAUTH")),
        "{server} refuses an unsigned AXFR: {}\n{err}",
        out.status
    );
    err
}

/// Asserts that two servers send exactly the same zone by AXFR.
fn assert_same_zone(a: (SocketAddr, bool), b: (SocketAddr, bool), serial: u32) {
    let (ra, sa) = axfr(a.0, a.1);
    let (rb, sb) = axfr(b.0, b.1);
    for s in [&sa, &sb] {
        assert!(s.contains(&format!("serial {serial} (AXFR)")), "{s}");
    }
    let only_a: Vec<&String> = ra.iter().filter(|r| !rb.contains(r)).collect();
    let only_b: Vec<&String> = rb.iter().filter(|r| !ra.contains(r)).collect();
    assert!(
        ra == rb,
        "{} and {} serve different zones at serial {serial}:\nonly at {}: {only_a:#?}\nonly at {}: {only_b:#?}",
        a.0,
        b.0,
        a.0,
        b.0
    );
}

/// Lines of `text` containing every one of `needles`.
fn lines_with<'a>(text: &'a str, needles: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect()
}

fn count_lines(text: &str, needles: &[&str]) -> usize {
    lines_with(text, needles).len()
}

/// Waits (bounded) until some line of `log()` has every one of `needles`.
fn wait_line(log: impl Fn() -> String, needles: &[&str], within: Duration) -> bool {
    wait_until(within, || count_lines(&log(), needles) > 0)
}

/// `zonesync ctl --control ADDR ARGS...`.
fn ctl(control: SocketAddr, args: &[&str]) -> Output {
    let mut cmd = zonesync();
    cmd.arg("ctl")
        .arg("--control")
        .arg(control.to_string())
        .args(args);
    run_with_timeout(cmd, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `zonesync ctl ARGS` and asserts that it succeeded; its stdout.
fn ctl_ok(control: SocketAddr, args: &[&str]) -> String {
    let o = ctl(control, args);
    assert!(
        o.status.success(),
        "zonesync ctl {args:?} failed ({}): {}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

// ---------------------------------------------------------------------------
// Peers

/// knotd serving example.com from a zone file, as a primary: transfers
/// only with the key xfr-key, IXFR from its journal (a reload computes the
/// difference to the zone file), NOTIFY signed with the key from
/// 127.0.0.2 to `notify`. Reloaded with `knotc zone-reload`.
struct KnotPrimary {
    // First: killed before its directory is removed.
    knotd: KillOnDrop,
    addr: SocketAddr,
    conf_path: PathBuf,
    dir: TempDir,
}

impl KnotPrimary {
    fn start(zone_text: &str, notify: SocketAddr) -> KnotPrimary {
        let knotd = require_tool("knotd", "knot");
        let dir = TempDir::new("knot-primary");
        let port = free_port();
        dir.write("example.com.zone", zone_text);
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             log:\n  - target: stderr\n    any: info\n\
             control:\n    listen: \"{d}/knot.sock\"\n\
             database:\n    storage: \"{d}\"\n\
             key:\n  - id: {KEY}\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: zonesync\n    address: {notify_ip}@{notify_port}\n    \
             key: {KEY}\n    via: 127.0.0.2\n\
             acl:\n  - id: signed\n    address: 127.0.0.0/8\n    key: {KEY}\n    action: transfer\n\
             zone:\n  - domain: example.com\n    storage: \"{d}\"\n    file: example.com.zone\n\
             \x20   zonefile-load: difference\n    zonefile-sync: -1\n    journal-content: changes\n\
             \x20   notify: [zonesync]\n    acl: [signed]\n",
            d = dir.path().display(),
            notify_ip = notify.ip(),
            notify_port = notify.port(),
        );
        let conf_path = dir.write("knot.conf", conf);
        let log = std::fs::File::create(dir.join("knot.log")).expect("knot.log");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("cannot start knotd");
        KnotPrimary {
            knotd: KillOnDrop(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            conf_path,
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knot.log")).unwrap_or_default()
    }

    fn wait_serial(&self, serial: u32) {
        wait_serial(self.addr, serial, PEER_TIMEOUT, || {
            format!("--- knot log ---\n{}", self.log())
        });
    }

    /// Replaces the zone file and has Knot reload it (`knotc -b
    /// zone-reload`, which returns once the reload is done).
    fn reload(&self, zone_text: &str) {
        let path = self.dir.write("example.com.zone", zone_text);
        bump_mtime(&path, 2);
        let mut cmd = Command::new(require_tool("knotc", "knot"));
        cmd.arg("-c")
            .arg(&self.conf_path)
            .args(["-b", "zone-reload", "example.com"]);
        run_peer_tool(cmd, || format!("--- knot log ---\n{}", self.log()));
    }
}

impl Drop for KnotPrimary {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- knot log (pid {}, {}) ---\n{}",
                self.knotd.0.id(),
                self.addr,
                self.log()
            );
        }
    }
}

/// BIND 9 `named` in the foreground (`-g`, logging to a file) at debug
/// level 3, in its own directory.
struct Named {
    // First: killed before its directory is removed.
    named: KillOnDrop,
    addr: SocketAddr,
    conf: String,
    /// The rndc port (a primary only).
    rndc_port: Option<u16>,
    dir: TempDir,
}

impl Named {
    /// named on 127.0.0.1:`port` with these `options` lines (besides the
    /// usual ones), the key xfr-key, `zone` (a whole `zone` statement) and
    /// `files` in its directory; with an rndc control channel when `rndc`.
    fn start(
        tag: &str,
        port: u16,
        options: &str,
        zone: &str,
        files: &[(&str, &str)],
        rndc: bool,
    ) -> Named {
        let dir = TempDir::new(tag);
        for (name, text) in files {
            dir.write(name, text);
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let rndc_port = rndc.then(free_port);
        let controls = match rndc_port {
            Some(p) => {
                dir.write(
                    "rndc.conf",
                    format!(
                        "key \"rndc-key\" {{ algorithm hmac-sha256; secret \"{RNDC_SECRET}\"; }};\n\
                         options {{ default-key \"rndc-key\"; default-server 127.0.0.1; default-port {p}; }};\n"
                    ),
                );
                format!(
                    "key \"rndc-key\" {{ algorithm hmac-sha256; secret \"{RNDC_SECRET}\"; }};\n\
                     controls {{ inet 127.0.0.1 port {p} allow {{ 127.0.0.1; }} keys {{ \"rndc-key\"; }}; }};\n"
                )
            }
            None => "controls { };\n".to_string(),
        };
        let conf = named_conf(
            &dir,
            addr,
            &format!("    recursion no;\n    dnssec-validation no;\n{options}"),
            &format!(
                "{controls}key \"{KEY}\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n{zone}"
            ),
        );
        let child = spawn_named(&dir, &conf, &["-d", "3"]);
        let mut n = Named {
            named: child,
            addr,
            conf,
            rndc_port,
            dir,
        };
        n.wait_running();
        n
    }

    /// Waits (bounded) for named's "running" line.
    fn wait_running(&mut self) {
        let deadline = Instant::now() + PEER_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.named.0.try_wait() {
                panic!("named exited during start-up ({status})");
            }
            if self.log().lines().any(|l| l.ends_with(" running")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "named did not log \"running\" within {PEER_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }

    fn wait_serial(&self, serial: u32, within: Duration) -> Duration {
        wait_serial(self.addr, serial, within, || {
            format!("--- named log ---\n{}", self.log())
        })
    }

    /// `rndc ARGS` against this named; its output.
    fn rndc(&self, args: &[&str]) -> String {
        assert!(self.rndc_port.is_some(), "named was started without rndc");
        let mut cmd = Command::new(require_tool("rndc", "bind9-utils"));
        cmd.arg("-c").arg(self.dir.join("rndc.conf")).args(args);
        run_peer_tool(cmd, || format!("--- named log ---\n{}", self.log()))
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let who = format!("named on {}", self.addr);
        show_peer_if_panicking(&who, &self.conf, || self.log());
    }
}

// ---------------------------------------------------------------------------
// 1. Knot DNS as the primary

/// Knot serves example.com with TSIG-only transfers and NOTIFYs zonesync
/// (signed); zonesync takes the zone by a signed AXFR, then follows two
/// reloads on Knot by NOTIFY and incremental IXFR, each within a second.
#[test]
fn knot_primary_with_tsig() {
    let started = Instant::now();
    let zs_addr = free_addr();
    let knot = KnotPrimary::start(&zone(10, 1, 20, ""), zs_addr);
    knot.wait_serial(10);
    let k = knot.addr.to_string();
    let s = start_at(zs_addr, &signed_secondary_config(knot.addr, LAST_IN_CHAIN));
    let logs = || {
        format!(
            "--- zonesync ---\n{}\n--- knot ---\n{}",
            s.log(),
            knot.log()
        )
    };

    // The initial transfer: a signed AXFR.
    wait_serial(zs_addr, 10, PEER_TIMEOUT, logs);
    let from = format!("-> 10 from {k} (");
    assert!(
        wait_line(
            || s.log(),
            &["refresh: AXFR", &from],
            Duration::from_secs(5)
        ),
        "zonesync logged \"refresh: AXFR ... {from}\"\n{}",
        logs()
    );
    // Knot 3.2 does not name the key in these lines; its only transfer
    // ACL needs xfr-key, so a transfer it serves was signed.
    assert!(
        wait_line(
            || knot.log(),
            &["AXFR, outgoing", "finished"],
            Duration::from_secs(5)
        ),
        "Knot logged a finished outgoing AXFR\n{}",
        logs()
    );
    assert_host(zs_addr, "host20", true);
    assert_host(zs_addr, "host21", false);

    // Two reloads on Knot: host21 comes; then host1 and www go.
    let changes = [
        (11, zone(11, 1, 21, "")),
        (12, zone(12, 2, 21, "").replace("www CNAME @\n", "")),
    ];
    for (serial, text) in &changes {
        let serial = *serial;
        let prev = serial - 1;
        let t0 = Instant::now();
        knot.reload(text);
        wait_serial(zs_addr, serial, Duration::from_secs(5), logs);
        let took = t0.elapsed();
        assert!(
            took < FOLLOW_WITHIN,
            "zonesync served {serial} {took:?} after the reload on Knot (> {FOLLOW_WITHIN:?})\n{}",
            logs()
        );
        let ixfr = format!("refresh: IXFR {prev} -> {serial} from {k} (1 changesets");
        assert!(
            wait_line(|| s.log(), &[&ixfr], Duration::from_secs(5)),
            "zonesync logged \"{ixfr}\"\n{}",
            logs()
        );
        let notified = format!("serial=Some({serial})");
        assert_eq!(
            count_lines(&s.log(), &["NOTIFY received", "127.0.0.2:", &notified]),
            1,
            "zonesync accepted one NOTIFY for {serial} from 127.0.0.2 (signed: allow_notify needs the key)\n{}",
            logs()
        );
        let outgoing = format!("serial {prev} -> {serial}");
        assert!(
            wait_line(
                || knot.log(),
                &["IXFR, outgoing", "started", &outgoing],
                Duration::from_secs(5)
            ),
            "Knot logged \"IXFR, outgoing ... started, {outgoing}\"\n{}",
            logs()
        );
        println!("knot -> zonesync: serial {serial} served {took:?} after the reload");
    }
    assert_host(zs_addr, "host21", true);
    assert_host(zs_addr, "host1", false);
    assert_host(zs_addr, "www", false);
    assert_host(zs_addr, "host2", true);
    let klog = knot.log();
    assert_eq!(
        count_lines(&klog, &["IXFR, outgoing", "started"]),
        2,
        "exactly two IXFRs\n{}",
        logs()
    );
    assert_eq!(
        count_lines(&klog, &["AXFR, outgoing", "started"]),
        1,
        "one AXFR, the first\n{}",
        logs()
    );
    assert!(!klog.contains("denied"), "Knot denied nothing\n{}", logs());
    for serial in [11, 12] {
        let notify = lines_with(&klog, &["notify, outgoing", &format!("serial {serial}")]);
        assert!(
            notify.len() == 1 && !notify[0].contains("failed"),
            "Knot's NOTIFY of {serial} was answered: {notify:?}\n{}",
            logs()
        );
    }
    assert!(
        !s.log().contains("refresh failed") && !s.log().contains("IXFR failed"),
        "{}",
        logs()
    );
    // What zonesync serves is exactly Knot's zone.
    assert_same_zone((knot.addr, true), (zs_addr, false), 12);
    // Knot's one transfer ACL needs the key: zonesync's transfers were
    // signed (Knot 3.2 does not name the key in its transfer lines).
    assert_unsigned_refused(knot.addr);
    println!("knot primary with TSIG: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 2. BIND 9 as the primary

/// named serves example.com as a primary with TSIG-only transfers,
/// `ixfr-from-differences` (a reload is journaled, so it serves IXFR) and
/// a signed NOTIFY to zonesync; zonesync follows two `rndc reload`s.
#[test]
fn bind_primary_with_tsig() {
    let started = Instant::now();
    let zs_addr = free_addr();
    let zone_stmt = format!(
        "zone \"example.com\" {{\n\
         \x20   type primary;\n\
         \x20   file \"example.com.db\";\n\
         \x20   notify explicit;\n\
         \x20   notify-delay 0;\n\
         \x20   also-notify {{ {ip} port {port} key \"{KEY}\"; }};\n\
         \x20   allow-transfer {{ key \"{KEY}\"; }};\n\
         \x20   ixfr-from-differences yes;\n\
         }};\n",
        ip = zs_addr.ip(),
        port = zs_addr.port()
    );
    let named = Named::start(
        "bind-primary",
        free_port(),
        // notify-rate: BIND's NOTIFY rate limiter ticks every 10/rate
        // seconds (500 ms at the default 20), which would hold the second
        // change's NOTIFY back for up to half a second.
        "    notify-source 127.0.0.2;\n    notify-rate 1000;\n",
        &zone_stmt,
        &[("example.com.db", &zone(20, 1, 20, ""))],
        true,
    );
    named.wait_serial(20, PEER_TIMEOUT);
    let b = named.addr.to_string();
    let s = start_at(zs_addr, &signed_secondary_config(named.addr, LAST_IN_CHAIN));
    let logs = || {
        format!(
            "--- zonesync ---\n{}\n--- named ---\n{}",
            s.log(),
            named.log()
        )
    };

    wait_serial(zs_addr, 20, PEER_TIMEOUT, logs);
    let from = format!("-> 20 from {b} (");
    assert!(
        wait_line(
            || s.log(),
            &["refresh: AXFR", &from],
            Duration::from_secs(5)
        ),
        "zonesync logged \"refresh: AXFR ... {from}\"\n{}",
        logs()
    );
    assert!(
        wait_line(
            || named.log(),
            &["transfer of 'example.com/IN': AXFR started", KEY],
            Duration::from_secs(5)
        ),
        "named logged a signed outgoing AXFR\n{}",
        logs()
    );

    let changes = [
        (21, zone(21, 1, 21, "")),
        (22, zone(22, 2, 21, "").replace("www CNAME @\n", "")),
    ];
    for (serial, text) in &changes {
        let serial = *serial;
        let prev = serial - 1;
        let path = named.dir.write("example.com.db", text);
        bump_mtime(&path, 2);
        let t0 = Instant::now();
        named.rndc(&["reload", "example.com"]);
        wait_serial(zs_addr, serial, Duration::from_secs(5), logs);
        let took = t0.elapsed();
        assert!(
            took < FOLLOW_WITHIN,
            "zonesync served {serial} {took:?} after rndc reload (> {FOLLOW_WITHIN:?})\n{}",
            logs()
        );
        let ixfr = format!("refresh: IXFR {prev} -> {serial} from {b} (1 changesets");
        assert!(
            wait_line(|| s.log(), &[&ixfr], Duration::from_secs(5)),
            "zonesync logged \"{ixfr}\"\n{}",
            logs()
        );
        let notified = format!("serial=Some({serial})");
        assert_eq!(
            count_lines(&s.log(), &["NOTIFY received", "127.0.0.2:", &notified]),
            1,
            "zonesync accepted one NOTIFY for {serial} from 127.0.0.2 (signed: allow_notify needs the key)\n{}",
            logs()
        );
        let started = format!(
            "transfer of 'example.com/IN': IXFR started: TSIG {KEY} (serial {prev} -> {serial})"
        );
        let ended = format!("(serial {serial})");
        for needles in [
            vec![started.as_str()],
            vec!["transfer of 'example.com/IN': IXFR ended", &ended],
        ] {
            assert!(
                wait_line(|| named.log(), &needles, Duration::from_secs(5)),
                "named logged a line with {needles:?}\n{}",
                logs()
            );
        }
        println!("bind -> zonesync: serial {serial} served {took:?} after rndc reload");
    }
    assert_host(zs_addr, "host21", true);
    assert_host(zs_addr, "host1", false);
    assert_host(zs_addr, "www", false);
    let nlog = named.log();
    // named's signed NOTIFYs (from 127.0.0.2), answered by zonesync.
    let target = format!("127.0.0.1#{}", zs_addr.port());
    let sending = format!("sending notify to {target} : TSIG ({KEY})");
    assert!(
        count_lines(&nlog, &[&sending]) >= 2,
        "named logged \"{sending}\" (at start, refused: zonesync was not up yet; for 21 and 22)\n{}",
        logs()
    );
    let answered = format!("notify response from {target}: NOERROR");
    assert_eq!(
        count_lines(&nlog, &[&answered]),
        2,
        "zonesync answered both signed NOTIFYs: \"{answered}\"\n{}",
        logs()
    );
    assert_eq!(
        count_lines(&nlog, &["transfer of 'example.com/IN': IXFR started", KEY]),
        2,
        "named sent two signed IXFRs\n{}",
        logs()
    );
    assert!(
        !nlog.contains("IXFR version not in journal") && !nlog.contains("denied"),
        "named served every IXFR from its journal, refused nothing\n{}",
        logs()
    );
    assert!(
        !s.log().contains("refresh failed") && !s.log().contains("IXFR failed"),
        "{}",
        logs()
    );
    assert_same_zone((named.addr, true), (zs_addr, false), 22);
    assert_unsigned_refused(named.addr);
    println!("bind primary with TSIG: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 3. Knot → zonesync → BIND

/// A chain: Knot (primary) → zonesync (secondary of Knot, primary of BIND)
/// → BIND (secondary), TSIG and NOTIFY on both hops. A change at the top
/// reaches BIND by NOTIFY and IXFR, which zonesync serves from the journal
/// of what it took from Knot by IXFR.
#[test]
fn zonesync_chain_to_bind() {
    let started = Instant::now();
    let mid_addr = free_addr();
    let bind_port = free_port();
    let knot = KnotPrimary::start(&zone(30, 1, 10, ""), mid_addr);
    knot.wait_serial(30);
    // The middle serves BIND signed transfers only, and NOTIFYs it signed.
    let downstream = format!(
        "allow_transfer = [{{ key = \"{KEY}\" }}]\n\
         notify = [{{ addr = \"127.0.0.1:{bind_port}\", key = \"{KEY}\" }}]\n"
    );
    let mid = start_at(mid_addr, &signed_secondary_config(knot.addr, &downstream));
    wait_serial(mid_addr, 30, PEER_TIMEOUT, || mid.log());

    let zone_stmt = format!(
        "zone \"example.com\" {{\n\
         \x20   type secondary;\n\
         \x20   file \"example.com.db\";\n\
         \x20   primaries {{ 127.0.0.1 port {} key \"{KEY}\"; }};\n\
         \x20   allow-notify {{ key \"{KEY}\"; }};\n\
         \x20   allow-transfer {{ 127.0.0.1; }};\n\
         }};\n",
        mid_addr.port()
    );
    let named = Named::start(
        "bind-secondary",
        bind_port,
        "    notify no;\n",
        &zone_stmt,
        &[],
        false,
    );
    let logs = || {
        format!(
            "--- knot ---\n{}\n--- zonesync ---\n{}\n--- named ---\n{}",
            knot.log(),
            mid.log(),
            named.log()
        )
    };
    named.wait_serial(30, PEER_TIMEOUT);
    let prefix = format!(
        "transfer of 'example.com/IN' from 127.0.0.1#{}:",
        mid_addr.port()
    );
    assert!(
        wait_line(
            || named.log(),
            &[&prefix, "Transfer status: success"],
            Duration::from_secs(5)
        ),
        "named took the zone from zonesync\n{}",
        logs()
    );

    let changes = [
        (31, zone(31, 1, 11, "")),
        (32, zone(32, 2, 11, "new A 192.0.2.99\n")),
    ];
    for (serial, text) in &changes {
        let serial = *serial;
        let prev = serial - 1;
        let t0 = Instant::now();
        knot.reload(text);
        named.wait_serial(serial, Duration::from_secs(10));
        let took = t0.elapsed();
        let ixfr = format!(
            "refresh: IXFR {prev} -> {serial} from {} (1 changesets",
            knot.addr
        );
        assert!(
            wait_line(|| mid.log(), &[&ixfr], Duration::from_secs(5)),
            "zonesync logged \"{ixfr}\"\n{}",
            logs()
        );
        let sent = format!("serial={serial}");
        assert!(
            wait_line(
                || mid.log(),
                &["IXFR (incremental) sent", &sent],
                Duration::from_secs(5)
            ),
            "zonesync served BIND an incremental IXFR to {serial}\n{}",
            logs()
        );
        assert!(
            wait_line(
                || mid.log(),
                &["NOTIFY acknowledged", &sent, &format!("key=\"{KEY}\"")],
                Duration::from_secs(5)
            ),
            "BIND acknowledged zonesync's signed NOTIFY for {serial}\n{}",
            logs()
        );
        // named's side of the same transfer.
        let done = "Transfer completed:";
        let completed = format!("(serial {serial})");
        assert!(
            wait_line(
                || named.log(),
                &[&prefix, done, &completed],
                Duration::from_secs(5)
            ),
            "named logged no completed transfer of {serial}\n{}",
            logs()
        );
        let nlog = named.log();
        let lines: Vec<&str> = nlog.lines().collect();
        let end = lines
            .iter()
            .position(|l| l.contains(&prefix) && l.contains(done) && l.ends_with(&completed))
            .expect("seen above");
        let begin = lines[..end]
            .iter()
            .rposition(|l| l.contains(&prefix) && l.contains(done))
            .map_or(0, |i| i + 1);
        let block = lines[begin..=end].join("\n");
        for needles in [
            vec!["received notify for zone 'example.com': TSIG 'xfr-key'".to_string()],
            vec![prefix.clone(), format!("requesting IXFR for serial {prev}")],
            vec![prefix.clone(), "got incremental response".into()],
            vec![format!(
                "zone example.com/IN: transferred serial {serial}: TSIG 'xfr-key'"
            )],
        ] {
            assert!(
                lines[begin..=end]
                    .iter()
                    .any(|l| needles.iter().all(|n| l.contains(n.as_str()))),
                "named's log of the transfer to {serial} has no line with {needles:?}:\n{block}"
            );
        }
        println!("knot -> zonesync -> bind: serial {serial} at BIND {took:?} after the reload");
    }
    assert_host(named.addr, "host11", true);
    assert_host(named.addr, "host1", false);
    let m = query_udp(
        named.addr,
        "new.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert_eq!(m.answers().len(), 1, "{}", describe(&m));
    // All three serve the same zone.
    assert_same_zone((knot.addr, true), (mid_addr, true), 32);
    assert_same_zone((mid_addr, true), (named.addr, false), 32);
    let mlog = mid.log();
    assert_eq!(
        count_lines(&mlog, &["IXFR (full zone) sent"]),
        0,
        "{}",
        logs()
    );
    assert!(!mlog.contains("NOTIFY gave up"), "{}", logs());
    println!("chain knot -> zonesync -> bind: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 4. Several primaries

/// A zonesync primary of example.com (transfers open to loopback, no
/// NOTIFY: the secondary is told with `ctl refresh`), with a control
/// interface when `control` is given.
fn zonesync_primary(zone_text: &str, control: Option<SocketAddr>) -> Server {
    let control = control.map_or(String::new(), |c| format!("control = \"{c}\"\n"));
    let config = format!(
        "[server]\nudp_workers = 1\n{control}{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    );
    Server::start(&config, &[("example.com.zone", zone_text)])
}

/// A zonesync secondary of example.com from `primaries` (in this order,
/// unsigned), with a control interface on `control`.
fn secondary_with_control(primaries: &[SocketAddr], control: SocketAddr) -> Server {
    let list: Vec<String> = primaries
        .iter()
        .map(|p| format!("{{ address = \"{p}\" }}"))
        .collect();
    let config = format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\n\
         [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\nprimaries = [{}]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        list.join(", ")
    );
    let s = Server::start(&config, &[]);
    assert!(
        s.wait_for_log("control interface listening", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    s
}

/// Rewrites a zonesync primary's zone file, reloads it (SIGHUP) and waits
/// until it serves `serial`.
fn change_primary(p: &Server, zone_text: &str, serial: u32) {
    p.rewrite("example.com.zone", zone_text);
    p.signal("HUP");
    wait_serial(p.addr(), serial, Duration::from_secs(10), || p.log());
}

/// `ctl refresh example.com` on the secondary, then waits (bounded) for
/// the refresh it causes to be logged with `needle`; returns that line.
fn refresh_and_wait(s: &Server, control: SocketAddr, needle: &str) -> String {
    let before = count_lines(&s.log(), &["refresh: "]) + count_lines(&s.log(), &["refresh failed"]);
    let out = ctl_ok(control, &["refresh", "example.com"]);
    assert_eq!(out, "example.com: refresh queued\n");
    let done = wait_until(Duration::from_secs(15), || {
        count_lines(&s.log(), &["refresh: "]) + count_lines(&s.log(), &["refresh failed"]) > before
    });
    assert!(done, "no refresh after `ctl refresh`\n{}", s.log());
    let log = s.log();
    let last = log
        .lines()
        .rfind(|l| l.contains("refresh: ") || l.contains("refresh failed"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        last.contains(needle),
        "the refresh logged {needle:?}; its line: {last}\n{log}"
    );
    last
}

/// The status line of one primary in `zonesync ctl status`.
fn primary_line(status: &str, primary: SocketAddr) -> String {
    let head = format!("  primary {primary}: ");
    status
        .lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no line for primary {primary} in:\n{status}"))
        .to_owned()
}

/// Two zonesync primaries A and B of the same zone; the secondary lists
/// A first. (b) both ahead, B further: B's serial is taken; (a) A down: a
/// refresh transfers from B; (c) A back with an older serial: nothing
/// rolls back, and `ctl status` shows both primaries' serials, A without
/// an error.
#[test]
fn several_primaries_failover_and_no_rollback() {
    let started = Instant::now();
    let mut a = zonesync_primary(&zone(1, 1, 5, ""), None);
    let b = zonesync_primary(&zone(1, 1, 5, ""), None);
    let control = free_addr();
    let s = secondary_with_control(&[a.addr(), b.addr()], control);
    let sec = s.addr();
    let logs = |a: &Server| {
        format!(
            "--- secondary ---\n{}\n--- A ({}) ---\n{}\n--- B ({}) ---\n{}",
            s.log(),
            a.addr(),
            a.log(),
            b.addr(),
            b.log()
        )
    };
    wait_serial(sec, 1, PEER_TIMEOUT, || logs(&a));
    assert!(
        wait_line(
            || s.log(),
            &["refresh: AXFR", &format!("-> 1 from {} (", a.addr())],
            Duration::from_secs(5)
        ),
        "equal serials: the first primary listed (A)\n{}",
        logs(&a)
    );

    // (b) A goes to 2 (with a record only A has), B to 3: B's is taken.
    change_primary(&a, &zone(2, 1, 5, "a-only TXT \"from A\"\n"), 2);
    change_primary(&b, &zone(3, 1, 6, ""), 3);
    let line = refresh_and_wait(
        &s,
        control,
        &format!("refresh: IXFR 1 -> 3 from {} (", b.addr()),
    );
    assert_eq!(served(sec), Some(3), "{line}");
    assert_host(sec, "host6", true);
    assert_host(sec, "a-only", false);

    // (a) A stops; B goes to 4; a refresh transfers from B.
    a.signal("KILL");
    assert!(a.wait_exit(Duration::from_secs(5)).is_some(), "A stopped");
    change_primary(&b, &zone(4, 1, 7, ""), 4);
    refresh_and_wait(
        &s,
        control,
        &format!("refresh: IXFR 3 -> 4 from {} (", b.addr()),
    );
    assert_eq!(served(sec), Some(4));
    assert_host(sec, "host7", true);
    let status = ctl_ok(control, &["status"]);
    println!("ctl status with A down:\n{status}");
    let a_line = primary_line(&status, a.addr());
    assert!(
        a_line.contains("last error:"),
        "A is down: its line shows the error\n{status}"
    );
    let b_line = primary_line(&status, b.addr());
    assert!(
        b_line.contains(": serial 4,") && !b_line.contains("last error"),
        "{status}"
    );

    // (c) A comes back at serial 2, behind us: no rollback.
    a.restart(false);
    assert_eq!(served(a.addr()), Some(2), "A is back at 2\n{}", a.log());
    let transfers_from_a = count_lines(&a.log(), &[" sent"]);
    refresh_and_wait(&s, control, "refresh: up to date at serial 4");
    assert_eq!(served(sec), Some(4), "no rollback to A's 2\n{}", logs(&a));
    assert_host(sec, "a-only", false);
    assert_host(sec, "host7", true);
    assert_eq!(
        count_lines(&a.log(), &[" sent"]),
        transfers_from_a,
        "nothing was transferred from A\n{}",
        logs(&a)
    );
    let status = ctl_ok(control, &["status"]);
    println!("ctl status with A back at 2:\n{status}");
    let a_line = primary_line(&status, a.addr());
    assert!(
        a_line.contains(": serial 2,") && !a_line.contains("error"),
        "A answers serial 2, no error: {a_line}\n{status}"
    );
    let b_line = primary_line(&status, b.addr());
    assert!(
        b_line.contains(": serial 4,") && !b_line.contains("error"),
        "{b_line}\n{status}"
    );
    let json = ctl_ok(control, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON status");
    let primaries = &v["zones"][0]["secondary"]["primaries"];
    assert_eq!(primaries[0]["address"], a.addr().to_string(), "{json}");
    assert_eq!(primaries[0]["serial"], 2, "{json}");
    assert!(primaries[0]["last_error"].is_null(), "{json}");
    assert_eq!(primaries[1]["serial"], 4, "{json}");
    assert_eq!(v["zones"][0]["serial"], 4, "{json}");
    // B (ahead or equal) is never rolled back either: the whole zone is B's.
    assert_same_zone((b.addr(), false), (sec, false), 4);
    println!("several primaries: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 5. The control commands of a secondary

/// `ctl status` of a secondary (human and JSON), `ctl retransfer` (an AXFR
/// although the serial is current), `ctl refresh` when up to date, and
/// `ctl refresh` of a primary zone (refused, exit 1).
#[test]
fn ctl_status_refresh_and_retransfer() {
    let started = Instant::now();
    let p_control = free_addr();
    let p = zonesync_primary(&zone(5, 1, 8, ""), Some(p_control));
    let control = free_addr();
    let s = secondary_with_control(&[p.addr()], control);
    let logs = || {
        format!(
            "--- secondary ---\n{}\n--- primary ---\n{}",
            s.log(),
            p.log()
        )
    };
    wait_serial(s.addr(), 5, PEER_TIMEOUT, logs);
    assert!(
        wait_line(|| s.log(), &["refresh: AXFR"], Duration::from_secs(5)),
        "{}",
        logs()
    );

    // Human status: the table row, then the secondary's timers and primary.
    let status = ctl_ok(control, &["status"]);
    println!("ctl status of a secondary:\n{status}");
    let row = status
        .lines()
        .find(|l| l.starts_with("example.com "))
        .unwrap_or_else(|| panic!("no row for example.com:\n{status}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.get(1..3), Some(&["secondary", "5"][..]), "{status}");
    let timers = status
        .lines()
        .find(|l| l.starts_with("example.com: last refresh "))
        .unwrap_or_else(|| panic!("no timers line:\n{status}"));
    let from = format!("-> 5 from {} (", p.addr());
    for needle in [" ago: AXFR ", &from, "; next refresh in ", "; expires in "] {
        assert!(
            timers.contains(needle),
            "{needle:?} in {timers:?}\n{status}"
        );
    }
    let p_line = primary_line(&status, p.addr());
    assert!(
        p_line.contains(": serial 5, seen ")
            && p_line.contains(" ago")
            && !p_line.contains("error"),
        "{p_line}\n{status}"
    );

    // JSON: the same, as the server sends it.
    let json = ctl_ok(control, &["--json", "status"]);
    println!("ctl --json status of a secondary:\n{json}");
    assert!(json.contains("\"secondary\":{"), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON status");
    let z = &v["zones"][0];
    assert_eq!(z["role"], "secondary", "{json}");
    assert_eq!(z["serial"], 5, "{json}");
    let sec = &z["secondary"];
    assert_eq!(
        sec["primaries"][0]["address"],
        p.addr().to_string(),
        "{json}"
    );
    assert_eq!(sec["primaries"][0]["serial"], 5, "{json}");
    assert!(sec["primaries"][0]["last_error"].is_null(), "{json}");
    assert!(
        sec["last_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("AXFR ")),
        "{json}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let next = sec["next_refresh_unix"].as_u64().expect("next refresh");
    let expires = sec["expires_at_unix"].as_u64().expect("expiry");
    // REFRESH 3600 (minus up to 10% jitter), EXPIRE 1209600.
    assert!(
        next > now + 3000 && next <= now + 3601,
        "next refresh {next} (now {now})\n{json}"
    );
    assert!(
        expires > now + 1_209_000 && expires <= now + 1_209_601,
        "expires {expires} (now {now})\n{json}"
    );
    assert_eq!(sec["expired"], false, "{json}");

    // refresh when current: an SOA query, no transfer.
    let sent = || count_lines(&p.log(), &[" sent"]);
    let axfrs = || count_lines(&p.log(), &["AXFR sent"]);
    assert!(
        wait_until(Duration::from_secs(5), || (sent(), axfrs()) == (1, 1)),
        "{}",
        logs()
    );
    refresh_and_wait(&s, control, "refresh: up to date at serial 5");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sent(), 1, "no transfer when up to date\n{}", logs());

    // retransfer: an AXFR although the serial is current.
    let out = ctl_ok(control, &["retransfer", "example.com"]);
    assert_eq!(out, "example.com: AXFR queued\n");
    assert!(
        wait_until(Duration::from_secs(10), || axfrs() == 2),
        "the primary logged a second \"AXFR sent\"\n{}",
        logs()
    );
    let again = format!("-> 5 from {} (", p.addr());
    assert!(
        wait_until(Duration::from_secs(5), || count_lines(
            &s.log(),
            &["refresh: AXFR", &again]
        ) == 2),
        "the secondary logged a second AXFR\n{}",
        logs()
    );
    assert_eq!(served(s.addr()), Some(5));
    assert_host(s.addr(), "host8", true);
    assert_eq!(sent(), 2, "{}", logs());
    assert_same_zone((p.addr(), false), (s.addr(), false), 5);

    // refresh and retransfer of a primary zone: refused, exit 1.
    for call in ["refresh", "retransfer"] {
        let o = ctl(p_control, &[call, "example.com"]);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        let err = stderr(&o);
        assert!(
            err.contains("zone example.com is a primary: it has no primaries to refresh from"),
            "ctl {call} of a primary zone says why: {err}"
        );
        assert!(stdout(&o).is_empty(), "{o:?}");
    }
    // An unknown zone: exit 1 too.
    let o = ctl(control, &["refresh", "example.org"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("example.org"), "{o:?}");
    println!("ctl on a secondary: {:?}", started.elapsed());
}
