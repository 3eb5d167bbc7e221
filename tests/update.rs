//! RFC 2136 UPDATE against the real binary, sent by Debian's `nsupdate`
//! (BIND) and `knsupdate` (Knot): prerequisites, operations, the apex
//! rules, `allow_update` by key, name and type, TSIG failures, the answer
//! over UDP and TCP, durability across kill -9, and the zone file flushed.

mod common;

use common::*;
use hickory_proto::rr::RecordType;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

const KEY: &str = "ddns-key";
const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
const ACME: &str = "acme-key";
const ACME_SECRET: &str = "YWNtZS1hY21lLWFjbWUtYWNtZS1hY21lLWFjbWUtYWNtZQ==";

const ZONE: &str = "$ORIGIN example.com.
$TTL 300
@ IN SOA ns1 hostmaster 10 3600 600 86400 300
@ NS ns1
@ NS ns2
ns1 A 192.0.2.1
ns2 A 192.0.2.2
www A 192.0.2.10
alias CNAME www
";

/// A primary for example.com with two keys: `ddns-key` may change
/// anything, `acme-key` only TXT at `_acme-challenge` names.
fn config(flush_delay: u32, control: std::net::SocketAddr, server_extra: &str) -> String {
    format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n{server_extra}\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\n\
         [[key]]\nname = \"{ACME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{ACME_SECRET}\"\n{}\
         flush_delay = {flush_delay}\n\
         [[zone.allow_update]]\nkey = \"{KEY}\"\n\
         [[zone.allow_update]]\nkey = \"{ACME}\"\nnames = [\"_acme-challenge.example.com.\"]\ntypes = [\"TXT\"]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

fn start(flush_delay: u32) -> Server {
    start_with_control(flush_delay).0
}

fn start_with_control(flush_delay: u32) -> (Server, std::net::SocketAddr) {
    start_configured(flush_delay, "")
}

fn start_configured(flush_delay: u32, server_extra: &str) -> (Server, std::net::SocketAddr) {
    let control = free_addr();
    let s = Server::start(
        &config(flush_delay, control, server_extra),
        &[("example.com.zone", ZONE)],
    );
    (s, control)
}

/// `zonesync ctl --control ADDR ARGS...`: success and output.
fn ctl(control: std::net::SocketAddr, args: &[&str]) -> (bool, String) {
    let mut cmd = zonesync();
    cmd.args(["ctl", "--control", &control.to_string()])
        .args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(30)).expect("zonesync ctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What an update client said: whether it succeeded, and its output.
struct Outcome {
    ok: bool,
    output: String,
}

/// Runs `program` (`nsupdate` or `knsupdate`) with `args` and `script`
/// on stdin, addressed to `s`; bounded in time.
fn run_update(program: &str, args: &[&str], s: &Server, script: &str) -> Outcome {
    let (ok, output) = run_update_client(program, args, s.addr(), "example.com.", script);
    Outcome { ok, output }
}

fn nsupdate(s: &Server, key: Option<(&str, &str)>, script: &str) -> Outcome {
    let secret = key.map(|(name, secret)| format!("hmac-sha256:{name}:{secret}"));
    let mut args = Vec::new();
    if let Some(secret) = &secret {
        args.extend(["-y", secret.as_str()]);
    }
    run_update("nsupdate", &args, s, script)
}

fn nsupdate_ok(s: &Server, script: &str) {
    let out = nsupdate(s, Some((KEY, SECRET)), script);
    assert!(
        out.ok,
        "nsupdate failed:\n{script}\n{}\n{}",
        out.output,
        s.log()
    );
}

/// The update failed and nsupdate reported `rcode`.
fn nsupdate_fails(s: &Server, key: Option<(&str, &str)>, script: &str, rcode: &str) {
    let out = nsupdate(s, key, script);
    assert!(
        !out.ok && out.output.contains(rcode),
        "expected {rcode} for:\n{script}\ngot ok={} {}\n{}",
        out.ok,
        out.output,
        s.log()
    );
}

/// The RDATA of `name`/`rtype` served, as text, sorted.
fn served(s: &Server, name: &str, rtype: RecordType) -> Vec<String> {
    let m = query_udp(s.addr(), name, rtype, &QueryOpts::plain());
    let mut v: Vec<String> = m
        .answers()
        .iter()
        .filter(|r| r.record_type() == rtype)
        .filter_map(|r| r.data().map(|d| d.to_string()))
        .collect();
    v.sort();
    v
}

/// The server logged a flush, and the zone file holds `line`.
fn assert_flushed(s: &Server, line: &str) {
    assert!(
        s.wait_for_log("zone file flushed", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    let file = std::fs::read_to_string(s.file("example.com.zone")).unwrap();
    assert!(file.lines().any(|l| l == line), "{line} in:\n{file}");
}

fn serial(s: &Server) -> u32 {
    soa_serial_at(s.addr(), "example.com").expect("SOA")
}

#[test]
fn nsupdate_adds_replaces_and_deletes_and_the_serial_follows() {
    let s = start(0);
    nsupdate_ok(
        &s,
        "update add new.example.com. 60 A 192.0.2.50\nupdate add new.example.com. 60 A 192.0.2.51\n\
         update add www.example.com. 300 AAAA 2001:db8::10\nupdate delete alias.example.com. CNAME",
    );
    assert_eq!(serial(&s), 11, "one UPDATE, one serial step");
    assert_eq!(
        served(&s, "new.example.com", RecordType::A),
        ["192.0.2.50", "192.0.2.51"]
    );
    assert_eq!(
        served(&s, "www.example.com", RecordType::AAAA),
        ["2001:db8::10"]
    );
    assert!(served(&s, "alias.example.com", RecordType::CNAME).is_empty());

    // One record deleted, a name deleted whole; over TCP (-v).
    let out = run_update(
        "nsupdate",
        &["-v", "-y", &format!("hmac-sha256:{KEY}:{SECRET}")],
        &s,
        "update delete new.example.com. A 192.0.2.50\nupdate delete www.example.com.",
    );
    assert!(out.ok, "{}\n{}", out.output, s.log());
    assert_eq!(serial(&s), 12);
    assert_eq!(served(&s, "new.example.com", RecordType::A), ["192.0.2.51"]);
    assert!(served(&s, "www.example.com", RecordType::A).is_empty());

    // An UPDATE that changes nothing does not move the serial.
    nsupdate_ok(&s, "update delete nothing.example.com. A");
    assert_eq!(serial(&s), 12);
    // A newer SOA from the client sets the serial.
    nsupdate_ok(
        &s,
        "update add example.com. 300 SOA ns1.example.com. hostmaster.example.com. 500 3600 600 86400 300",
    );
    assert_eq!(serial(&s), 500);
}

#[test]
fn each_prerequisite_is_checked_with_its_rcode() {
    let s = start(0);
    let cases = [
        ("prereq yxdomain nope.example.com.", "NXDOMAIN"),
        ("prereq nxdomain www.example.com.", "YXDOMAIN"),
        ("prereq yxrrset www.example.com. AAAA", "NXRRSET"),
        ("prereq nxrrset www.example.com. A", "YXRRSET"),
        ("prereq yxrrset www.example.com. A 192.0.2.99", "NXRRSET"),
    ];
    for (prereq, rcode) in cases {
        nsupdate_fails(
            &s,
            Some((KEY, SECRET)),
            &format!("{prereq}\nupdate add p.example.com. 60 A 192.0.2.7"),
            rcode,
        );
    }
    assert_eq!(serial(&s), 10, "a failed prerequisite changes nothing");
    assert!(served(&s, "p.example.com", RecordType::A).is_empty());
    // All of them holding.
    nsupdate_ok(
        &s,
        "prereq yxdomain www.example.com.\nprereq nxdomain p.example.com.\n\
         prereq yxrrset www.example.com. A\nprereq nxrrset www.example.com. AAAA\n\
         prereq yxrrset www.example.com. A 192.0.2.10\nupdate add p.example.com. 60 A 192.0.2.7",
    );
    assert_eq!(served(&s, "p.example.com", RecordType::A), ["192.0.2.7"]);
}

#[test]
fn the_apex_keeps_its_soa_and_a_nameserver() {
    let s = start(0);
    nsupdate_ok(
        &s,
        "update delete example.com. NS\nupdate delete example.com. SOA\nupdate delete example.com.",
    );
    assert_eq!(served(&s, "example.com", RecordType::NS).len(), 2);
    nsupdate_ok(
        &s,
        "update delete example.com. NS ns1.example.com.\nupdate delete example.com. NS ns2.example.com.",
    );
    assert_eq!(
        served(&s, "example.com", RecordType::NS),
        ["ns2.example.com."],
        "the last NS stays"
    );
    // An older SOA is ignored.
    nsupdate_ok(
        &s,
        "update add example.com. 300 SOA ns1.example.com. hostmaster.example.com. 5 3600 600 86400 300",
    );
    assert!(serial(&s) > 10);
}

#[test]
fn allow_update_decides_by_key_name_and_type() {
    let s = start(0);
    let acme = Some((ACME, ACME_SECRET));
    let out = nsupdate(
        &s,
        acme,
        "update add _acme-challenge.example.com. 60 TXT \"token\"",
    );
    assert!(out.ok, "{}\n{}", out.output, s.log());
    assert_eq!(
        served(&s, "_acme-challenge.example.com", RecordType::TXT),
        ["token"]
    );
    // Another type, another name, or one allowed and one not: REFUSED,
    // nothing changes.
    nsupdate_fails(
        &s,
        acme,
        "update add _acme-challenge.example.com. 60 CAA 0 issue \"ca.example\"",
        "REFUSED",
    );
    nsupdate_fails(
        &s,
        acme,
        "update add www.example.com. 60 TXT \"x\"",
        "REFUSED",
    );
    nsupdate_fails(
        &s,
        acme,
        "update add _acme-challenge.example.com. 60 TXT \"two\"\nupdate delete www.example.com. A",
        "REFUSED",
    );
    assert_eq!(served(&s, "www.example.com", RecordType::A), ["192.0.2.10"]);
    // No key at all, an unknown key, a wrong secret.
    nsupdate_fails(
        &s,
        None,
        "update add x.example.com. 60 A 192.0.2.1",
        "REFUSED",
    );
    nsupdate_fails(
        &s,
        Some(("other-key", SECRET)),
        "update add x.example.com. 60 A 192.0.2.1",
        "NOTAUTH",
    );
    let out = nsupdate(
        &s,
        Some((KEY, ACME_SECRET)),
        "update add x.example.com. 60 A 192.0.2.1",
    );
    assert!(!out.ok, "{}", out.output);
    assert!(
        out.output.contains("NOTAUTH")
            || out.output.contains("BADSIG")
            || out.output.contains("tsig"),
        "{}",
        out.output
    );
    assert!(served(&s, "x.example.com", RecordType::A).is_empty());
    // Outside the zone.
    nsupdate_fails(
        &s,
        Some((KEY, SECRET)),
        "update add www.example.org. 60 A 192.0.2.1",
        "NOTZONE",
    );
}

/// `/metrics` of the control interface.
fn metrics(control: std::net::SocketAddr) -> String {
    use std::io::Read;
    let mut conn = std::net::TcpStream::connect(control).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: zonesync\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = conn.read_to_string(&mut text);
    text
}

#[test]
fn answers_to_update_are_counted_by_rcode() {
    let (s, control) = start_with_control(0);
    nsupdate_ok(&s, "update add m.example.com. 60 A 192.0.2.1");
    nsupdate_fails(
        &s,
        None,
        "update add m2.example.com. 60 A 192.0.2.1",
        "REFUSED",
    );
    let text = metrics(control);
    assert!(
        text.contains("zonesync_updates_total{rcode=\"NOERROR\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("zonesync_updates_total{rcode=\"REFUSED\"} 1"),
        "{text}"
    );
}

#[test]
fn knsupdate_works_too() {
    let s = start(0);
    let out = run_update(
        "knsupdate",
        &["-y", &format!("hmac-sha256:{KEY}:{SECRET}")],
        &s,
        "add k.example.com. 60 A 192.0.2.77\nprereq nxdomain k.example.com.",
    );
    assert!(out.ok, "{}\n{}", out.output, s.log());
    assert_eq!(served(&s, "k.example.com", RecordType::A), ["192.0.2.77"]);
    let out = run_update(
        "knsupdate",
        &["-y", &format!("hmac-sha256:{KEY}:{SECRET}")],
        &s,
        "prereq nxdomain k.example.com.\nadd k2.example.com. 60 A 192.0.2.78",
    );
    assert!(!out.ok && out.output.contains("YXDOMAIN"), "{}", out.output);
}

/// The keys in the forms operators keep them: a BIND key file for
/// `nsupdate -k`, a Knot key file for `knsupdate -k`.
#[test]
fn key_files_work_with_both_clients() {
    let s = start(0);
    let key_file = s.dir().join("ddns.key");
    std::fs::write(
        &key_file,
        format!("key \"{KEY}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{SECRET}\";\n}};\n"),
    )
    .unwrap();
    let path = key_file.to_str().unwrap();
    let out = run_update(
        "nsupdate",
        &["-k", path],
        &s,
        "update add kf1.example.com. 60 A 192.0.2.81",
    );
    assert!(out.ok, "nsupdate -k: {}\n{}", out.output, s.log());
    // Knot's key file holds the key as `-y` takes it.
    let knot_key = s.dir().join("ddns.knot.key");
    std::fs::write(&knot_key, format!("hmac-sha256:{KEY}:{SECRET}\n")).unwrap();
    let out = run_update(
        "knsupdate",
        &["-k", knot_key.to_str().unwrap()],
        &s,
        "add kf2.example.com. 60 A 192.0.2.82",
    );
    assert!(out.ok, "knsupdate -k: {}\n{}", out.output, s.log());
    assert_eq!(served(&s, "kf1.example.com", RecordType::A), ["192.0.2.81"]);
    assert_eq!(served(&s, "kf2.example.com", RecordType::A), ["192.0.2.82"]);
}

#[test]
fn an_acknowledged_update_survives_kill9_and_is_flushed_to_the_file() {
    // A long flush delay: the change is only in the journal when killed.
    let mut s = start(3600);
    nsupdate_ok(&s, "update add durable.example.com. 60 A 192.0.2.60");
    assert_eq!(serial(&s), 11);
    s.restart(true);
    assert_eq!(serial(&s), 11, "{}", s.log());
    assert_eq!(
        served(&s, "durable.example.com", RecordType::A),
        ["192.0.2.60"]
    );
    // The restart replayed the journal and flushed at once.
    assert_flushed(&s, "durable.example.com. 60 IN A 192.0.2.60");
    let check = zonesync()
        .args(["check-zone", "--origin", "example.com"])
        .arg(s.file("example.com.zone"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let named = Command::new("named-checkzone")
        .arg("example.com")
        .arg(s.file("example.com.zone"))
        .output()
        .unwrap();
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stdout)
    );
    // Restarted again: the flushed file is served, at the same serial.
    s.restart(false);
    assert_eq!(serial(&s), 11);
    assert_eq!(
        served(&s, "durable.example.com", RecordType::A),
        ["192.0.2.60"]
    );
}

#[test]
fn unflushed_changes_outlive_the_journal_limits() {
    let (mut s, _) = start_configured(3600, "journal_max_changesets = 2");
    for i in 1..=5 {
        nsupdate_ok(
            &s,
            &format!("update add h{i}.example.com. 60 A 192.0.2.{i}"),
        );
    }
    assert_eq!(serial(&s), 15);
    s.restart(true);
    assert_eq!(serial(&s), 15, "{}", s.log());
    for i in 1..=5 {
        let name = format!("h{i}.example.com");
        assert_eq!(served(&s, &name, RecordType::A), [format!("192.0.2.{i}")]);
    }
}

#[test]
fn an_edit_of_the_file_while_changes_are_unflushed_loses_neither() {
    let (s, control) = start_with_control(3600);
    nsupdate_ok(&s, "update add dyn.example.com. 60 A 192.0.2.61");
    assert_eq!(serial(&s), 11);
    let (_, status) = ctl(control, &["status"]);
    assert!(
        status.contains("the zone file holds serial 10"),
        "status shows what is not flushed: {status}"
    );
    // The operator edits the file meanwhile and reloads.
    let edited = ZONE.replace(" 10 3600", " 20 3600") + "edited A 192.0.2.62\n";
    s.rewrite("example.com.zone", &edited);
    let (ok, text) = ctl(control, &["reload", "example.com"]);
    assert!(
        !ok && text.contains("UPDATE"),
        "the refusal says why: {text}"
    );
    assert_eq!(serial(&s), 11, "the dynamic change is still served");
    assert_eq!(served(&s, "dyn.example.com", RecordType::A), ["192.0.2.61"]);
    assert!(served(&s, "edited.example.com", RecordType::A).is_empty());
    assert_eq!(
        std::fs::read_to_string(s.file("example.com.zone")).unwrap(),
        edited,
        "the edit is not overwritten"
    );
    // Forced: the file wins, and the change is logged as dropped.
    let (ok, text) = ctl(control, &["reload", "example.com", "--force"]);
    assert!(ok, "{text}");
    assert_eq!(
        served(&s, "edited.example.com", RecordType::A),
        ["192.0.2.62"]
    );
    assert!(s.log().contains("dropped"), "{}", s.log());
}

#[test]
fn a_control_transaction_is_shown_then_committed_or_refused_whole() {
    let (s, control) = start_with_control(0);
    let zone = "example.com";
    let (ok, text) = ctl(control, &["zone-begin", zone]);
    assert!(ok && text.contains("open at serial 10"), "{text}");
    let (ok, text) = ctl(control, &["zone-begin", zone]);
    assert!(!ok && text.contains("already open"), "one per zone: {text}");
    let (_, status) = ctl(control, &["status"]);
    assert!(
        status.contains("transaction open since serial 10"),
        "{status}"
    );
    for args in [
        &["zone-set", zone, "txn", "120", "A", "192.0.2.70"][..],
        &["zone-set", zone, "txn.example.com.", "A", "192.0.2.71"],
        &["zone-set", zone, "@", "TXT", "\"v=spf1", "-all\""],
        &["zone-unset", zone, "alias"],
        &["zone-unset", zone, "www", "A", "192.0.2.10"],
    ] {
        let (ok, text) = ctl(control, args);
        assert!(ok, "{args:?}: {text}");
    }
    let (ok, diff) = ctl(control, &["zone-diff", zone]);
    assert!(ok, "{diff}");
    for line in [
        "+ txn.example.com. 120 IN A 192.0.2.70",
        "+ txn.example.com. 120 IN A 192.0.2.71",
        "+ example.com. 300 IN TXT \"v=spf1 -all\"",
        "- alias.example.com. 300 IN CNAME www.example.com.",
        "- www.example.com. 300 IN A 192.0.2.10",
    ] {
        assert!(diff.lines().any(|l| l == line), "{line} in:\n{diff}");
    }
    let (_, got) = ctl(control, &["zone-get", zone, "txn", "A"]);
    assert_eq!(got.lines().count(), 2, "the transaction's view: {got}");
    assert_eq!(serial(&s), 10, "nothing served before the commit");
    assert!(served(&s, "txn.example.com", RecordType::A).is_empty());
    let (ok, text) = ctl(control, &["zone-commit", zone]);
    assert!(ok && text.contains("serial 10 -> 11"), "{text}");
    assert_eq!(serial(&s), 11);
    assert_eq!(
        served(&s, "txn.example.com", RecordType::A),
        ["192.0.2.70", "192.0.2.71"]
    );
    assert!(served(&s, "www.example.com", RecordType::A).is_empty());
    let (ok, text) = ctl(control, &["zone-diff", zone]);
    assert!(
        !ok && text.contains("no transaction"),
        "closed by the commit: {text}"
    );

    // A commit that breaks a rule is refused; nothing changes, and the
    // transaction stays open until aborted.
    ctl(control, &["zone-begin", zone]);
    ctl(control, &["zone-set", zone, "ok", "A", "192.0.2.80"]);
    ctl(control, &["zone-set", zone, "txn", "CNAME", "ok"]);
    let (ok, text) = ctl(control, &["zone-commit", zone]);
    assert!(!ok && text.contains("CNAME"), "{text}");
    assert_eq!(serial(&s), 11);
    assert!(served(&s, "ok.example.com", RecordType::A).is_empty());
    let (ok, text) = ctl(control, &["zone-abort", zone]);
    assert!(ok && text.contains("aborted"), "{text}");
    let (ok, text) = ctl(control, &["zone-set", zone, "ok", "A", "192.0.2.80"]);
    assert!(!ok && text.contains("no transaction"), "{text}");
    // Bad input is refused at once.
    ctl(control, &["zone-begin", zone]);
    let (ok, text) = ctl(control, &["zone-set", zone, "x", "A", "not-an-address"]);
    assert!(!ok, "{text}");
    let (ok, text) = ctl(
        control,
        &["zone-set", zone, "x.example.org.", "A", "192.0.2.1"],
    );
    assert!(!ok && text.contains("not a name in the zone"), "{text}");
    // The committed change was flushed to the file (flush_delay 0).
    assert_flushed(&s, "txn.example.com. 120 IN A 192.0.2.70");
}

/// UPDATEs arriving together are applied one after the other, each with
/// its own serial, and all journaled (a burst shares one fsync): all
/// survive a kill -9.
#[test]
fn concurrent_updates_each_apply_and_survive_a_crash() {
    let mut s = start(3600);
    let addr = s.addr();
    let threads: Vec<_> = (1..=8)
        .map(|i| {
            std::thread::spawn(move || {
                run_update_client(
                    "nsupdate",
                    &["-y", &format!("hmac-sha256:{KEY}:{SECRET}")],
                    addr,
                    "example.com.",
                    &format!("update add c{i}.example.com. 60 A 192.0.2.{i}"),
                )
            })
        })
        .collect();
    for t in threads {
        let (ok, out) = t.join().unwrap();
        assert!(ok, "{out}");
    }
    assert_eq!(serial(&s), 18, "one serial per UPDATE");
    s.restart(true);
    assert_eq!(serial(&s), 18, "{}", s.log());
    for i in 1..=8 {
        let name = format!("c{i}.example.com");
        assert_eq!(served(&s, &name, RecordType::A), [format!("192.0.2.{i}")]);
    }
}
