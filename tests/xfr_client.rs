//! `zonesync xfr`, the transfer client, against real primaries: zonesync
//! itself and Knot DNS, with kdig's view of the same transfer as the
//! reference.

mod common;

use common::*;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
const WRONG_SECRET: &str = "AAAAwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";

/// How long one `zonesync xfr` run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(40);

/// example.com with many record types and `n` hosts (`n + 13` records).
/// Hosts are written out, not `$GENERATE`d: Knot reads this file too.
fn zone(serial: u32, n: usize) -> String {
    let hosts: String = (1..=n)
        .map(|i| format!("host{i} TXT \"host number {i} with some padding text\"\n"))
        .collect();
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\n@ MX 10 mail\n\
         @ TXT \"v=spf1 mx -all\" \"second string\"\n\
         ns1 A 192.0.2.53\nns1 AAAA 2001:db8::53\nmail A 192.0.2.25\n\
         _sip._udp SRV 10 5 5060 mail\nsub NS ns.sub\nns.sub A 192.0.2.100\n\
         www CNAME @\nblob TYPE65280 \\# 3 010203\n{hosts}"
    )
}

fn open_config() -> String {
    format!(
        "[server]\nudp_workers = 1\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

/// The transfer needs the key xfr-key.
fn keyed_config() -> String {
    format!(
        "[server]\nudp_workers = 1\n\n[[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}allow_transfer = [{{ from = \"127.0.0.0/8\", key = \"xfr-key\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

/// Runs `zonesync xfr example.com --server ADDR ARGS...`, bounded.
fn xfr(server: SocketAddr, args: &[&str]) -> Output {
    let mut cmd = zonesync();
    cmd.args(["xfr", "example.com", "--server", &server.to_string()])
        .args(args);
    run_with_timeout(cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a successful run and returns its stdout.
fn success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "zonesync xfr failed ({}):\n{}\nstdout starts:\n{}",
        out.status,
        stderr(out),
        &stdout(out)[..stdout(out).len().min(2000)]
    );
    stdout(out)
}

/// Asserts a failed run (exit 1, nothing of the zone printed) and returns
/// its stderr.
fn failure(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "zonesync xfr should fail:\n{}{}",
        stdout(out),
        stderr(out)
    );
    assert!(
        records(&stdout(out)).is_empty(),
        "nothing is printed:\n{}",
        stdout(out)
    );
    let err = stderr(out);
    // The error is the last line; log lines may come before it.
    assert!(err.lines().any(|l| l.starts_with("zonesync: ")), "{err}");
    err
}

/// The record lines of dig-like output, each normalised (blanks collapsed,
/// lower case, the hex of RFC 3597 RDATA in one word) so that layout
/// choices do not matter.
fn records(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .map(|l| {
            let line = l.split_whitespace().collect::<Vec<_>>().join(" ");
            let line = match line.split_once(" \\# ") {
                Some((head, generic)) => match generic.split_once(' ') {
                    Some((len, hex)) => format!("{head} \\# {len} {}", hex.replace(' ', "")),
                    None => line.clone(),
                },
                None => line,
            };
            line.to_ascii_lowercase()
        })
        .collect()
}

/// Asserts that two record lists hold the same records, in any order,
/// showing only the differences.
fn assert_same_records(ours: &[String], theirs: &[String], what: &str) {
    let (mut ours, mut theirs) = (ours.to_vec(), theirs.to_vec());
    ours.sort();
    theirs.sort();
    let only_ours: Vec<&String> = ours.iter().filter(|r| !theirs.contains(r)).collect();
    let only_theirs: Vec<&String> = theirs.iter().filter(|r| !ours.contains(r)).collect();
    assert!(
        ours == theirs,
        "{what}: only in ours: {only_ours:#?}\nonly in theirs: {only_theirs:#?}\n\
         ({} records vs {})",
        ours.len(),
        theirs.len()
    );
}

/// The `;; ...` summary line.
fn summary(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| l.starts_with(";; "))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"))
        .to_owned()
}

/// kdig's output for `args` against `server`; `None` without kdig.
fn kdig(server: SocketAddr, args: &[&str]) -> Option<String> {
    let mut cmd = Command::new(which("kdig")?);
    cmd.arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(args);
    let out = run_with_timeout(cmd, RUN_LIMIT).ok()?;
    assert!(
        out.status.success(),
        "kdig {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits (bounded) until `server` answers the SOA of example.com with
/// `serial` over UDP.
fn wait_serial(server: SocketAddr, serial: u32) -> bool {
    wait_until(Duration::from_secs(15), || {
        soa_serial_at(server, "example.com") == Some(serial)
    })
}

// ---------------------------------------------------------------------------
// Against zonesync

#[test]
fn axfr_prints_every_record_as_kdig_does() {
    let s = Server::start(&open_config(), &[("example.com.zone", &zone(5, 3000))]);
    let out = success(&xfr(s.addr(), &[]));
    let ours = records(&out);
    assert_eq!(ours.len(), 3013 + 1, "every record, the SOA twice");
    assert!(ours.first().is_some_and(|r| r.contains(" soa ")));
    assert!(ours.last().is_some_and(|r| r.contains(" soa ")));
    assert!(
        ours.contains(
            &"host3000.example.com. 3600 in txt \"host number 3000 with some padding text\""
                .to_owned()
        ),
        "TXT in presentation form, absolute names"
    );
    let line = summary(&out);
    assert!(
        line.starts_with(";; 3014 records, ") && line.ends_with(", serial 5 (AXFR)"),
        "{line}"
    );
    assert!(
        !line.contains(" 1 message,"),
        "3000 TXT records take several messages: {line}"
    );
    let Some(reference) = kdig(s.addr(), &["example.com", "AXFR"]) else {
        panic!("kdig is not installed: scripts/install-test-deps.sh installs it");
    };
    assert_same_records(&ours, &records(&reference), "zonesync xfr vs kdig");
}

#[test]
fn axfr_signed_with_the_key_in_each_accepted_form() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(7, 500))]);
    for key in [
        format!("xfr-key:hmac-sha256:{SECRET}"),
        format!("hmac-sha256:xfr-key:{SECRET}"),
        format!("xfr-key:{SECRET}"),
    ] {
        let out = success(&xfr(s.addr(), &["--key", &key]));
        assert_eq!(records(&out).len(), 513 + 1, "{key}");
        assert!(summary(&out).ends_with("serial 7 (AXFR)"));
    }
}

#[test]
fn wrong_secret_is_an_error_naming_badsig() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(7, 5))]);
    let key = format!("xfr-key:hmac-sha256:{WRONG_SECRET}");
    let err = failure(&xfr(s.addr(), &["--key", &key]));
    assert!(err.contains("BADSIG"), "{err}");
    assert!(!err.contains(WRONG_SECRET), "the secret stays out: {err}");
}

#[test]
fn unknown_key_is_an_error_naming_badkey() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(7, 5))]);
    let key = format!("other-key:hmac-sha256:{SECRET}");
    let err = failure(&xfr(s.addr(), &["--key", &key]));
    assert!(err.contains("BADKEY"), "{err}");
}

#[test]
fn unsigned_request_when_the_acl_needs_a_key_is_refused() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(7, 5))]);
    let err = failure(&xfr(s.addr(), &[]));
    assert!(err.contains("REFUSED"), "{err}");
}

#[test]
fn ixfr_from_the_current_serial_is_up_to_date() {
    let s = Server::start(&open_config(), &[("example.com.zone", &zone(5, 20))]);
    let out = success(&xfr(s.addr(), &["--ixfr", "5"]));
    assert_eq!(records(&out).len(), 1, "the SOA alone:\n{out}");
    assert!(
        summary(&out).ends_with("serial 5 (IXFR: up to date)"),
        "{out}"
    );
}

/// Our IXFR answers come from the journal when it has the changes, in AXFR
/// form otherwise: either is right, as long as it ends at the new serial.
#[test]
fn ixfr_from_an_older_serial_ends_at_the_new_serial() {
    let config = open_config().replace("[server]\n", "[server]\ndata_dir = \"data\"\n");
    let s = Server::start(&config, &[("example.com.zone", &zone(5, 20))]);
    s.rewrite("example.com.zone", &zone(6, 21));
    s.signal("HUP");
    assert!(wait_serial(s.addr(), 6), "no reload:\n{}", s.log());
    let out = success(&xfr(s.addr(), &["--ixfr", "5"]));
    let line = summary(&out);
    assert!(
        line.ends_with("serial 6 (IXFR: full zone)")
            || line.contains("serial 6 (IXFR: incremental, "),
        "{out}"
    );
    assert!(
        records(&out)
            .iter()
            .any(|r| r.starts_with("host21.example.com.")),
        "the new record is in the answer either way:\n{out}"
    );
    if let Some(reference) = kdig(s.addr(), &["example.com", "IXFR=5"]) {
        assert_eq!(records(&out), records(&reference), "as kdig received it");
    }
}

/// A child process killed and reaped on drop.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ipv6_server_address_in_brackets() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        println!("SKIPPED: no IPv6 loopback");
        return;
    }
    let dir = TempDir::new("xfr-ipv6");
    dir.write("example.com.zone", zone(3, 2));
    let v6: SocketAddr = format!("[::1]:{}", free_port()).parse().expect("address");
    let config = dir.write(
        "zonesync.toml",
        format!(
            "[server]\nlisten = [\"{v6}\"]\nudp_workers = 1\n{}allow_transfer = [{{ from = \"::1/128\" }}]\n",
            zone_entry("example.com", "example.com.zone")
        ),
    );
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let _server = Kill(
        zonesync()
            .args(["serve", "--config"])
            .arg(&config)
            .args(allow_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start zonesync"),
    );
    assert!(
        wait_serial(v6, 3),
        "no answer on {v6}:\n{}",
        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
    );
    let out = success(&xfr(v6, &[]));
    assert!(summary(&out).ends_with("serial 3 (AXFR)"), "{out}");
}

#[test]
fn silent_server_times_out_within_the_bound() {
    // Accepts the connection (the kernel does) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let started = Instant::now();
    let err = failure(&xfr(addr, &["--timeout", "1"]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("within 1 s"), "{err}");
}

#[test]
fn bad_arguments_are_errors() {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut cmd = zonesync();
    cmd.args(["xfr", "example.com", "--server", "localhost:53"]);
    let out = run_with_timeout(cmd, RUN_LIMIT).expect("run");
    assert!(failure(&out).contains("localhost"), "{}", stderr(&out));
    let bad_key = format!("xfr-key:hmac-md5:{SECRET}");
    let err = failure(&xfr(addr, &["--key", &bad_key]));
    assert!(
        err.contains("hmac-md5") || err.contains("NAME:ALG:SECRET"),
        "{err}"
    );
    assert!(!err.contains(SECRET), "the secret stays out: {err}");
}

// ---------------------------------------------------------------------------
// Against Knot DNS as the primary

#[test]
fn knot_primary_axfr_and_incremental_ixfr() {
    let Some(knot) = KnotPrimary::start(&zone(10, 200), SECRET, KnotAcl::Open) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(10);
    let out = success(&xfr(knot.addr, &[]));
    assert_eq!(records(&out).len(), 213 + 1);
    assert!(summary(&out).ends_with("serial 10 (AXFR)"), "{out}");
    if let Some(reference) = kdig(knot.addr, &["example.com", "AXFR"]) {
        assert_same_records(&records(&out), &records(&reference), "vs kdig");
    }

    // Two changes: a record added, then one removed; Knot keeps both
    // changesets in its journal.
    knot.change_zone(&zone(11, 201), 11);
    knot.change_zone(&zone(12, 201).replace("www CNAME @\n", ""), 12);
    let out = success(&xfr(knot.addr, &["--ixfr", "10"]));
    assert!(
        summary(&out).ends_with("serial 12 (IXFR: incremental, 2 changesets)"),
        "{out}\nknot log:\n{}",
        knot.log()
    );
    let got = records(&out);
    // SOA 12, [SOA 10, SOA 11, +host201], [SOA 11, -www, SOA 12], SOA 12
    assert_eq!(got.len(), 8, "{out}");
    assert!(got.iter().any(|r| r.starts_with("host201.example.com.")));
    assert!(got.iter().any(|r| r.starts_with("www.example.com.")));
    if let Some(reference) = kdig(knot.addr, &["example.com", "IXFR=10"]) {
        assert_eq!(got, records(&reference), "in the order received");
    }

    let out = success(&xfr(knot.addr, &["--ixfr", "12"]));
    assert!(
        summary(&out).ends_with("serial 12 (IXFR: up to date)"),
        "{out}"
    );
}

#[test]
fn knot_primary_signed_transfers() {
    let Some(knot) = KnotPrimary::start(&zone(20, 50), SECRET, KnotAcl::Open) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(20);
    let key = format!("xfr-key:hmac-sha256:{SECRET}");
    let out = success(&xfr(knot.addr, &["--key", &key]));
    assert_eq!(records(&out).len(), 63 + 1);
    knot.change_zone(&zone(21, 51), 21);
    let out = success(&xfr(knot.addr, &["--key", &key, "--ixfr", "20"]));
    assert!(
        summary(&out).ends_with("serial 21 (IXFR: incremental, 1 changeset)"),
        "{out}"
    );
    let wrong = format!("xfr-key:hmac-sha256:{WRONG_SECRET}");
    let err = failure(&xfr(knot.addr, &["--key", &wrong]));
    assert!(err.contains("BADSIG") || err.contains("NOTAUTH"), "{err}");
}
