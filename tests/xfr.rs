//! Zone transfers out (RFC 5936 AXFR, RFC 1995 IXFR) and their ACL, with
//! real peers: `dig`-like clients over TCP and Knot DNS as a secondary.

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// example.com with `n` generated hosts (so `n + 7` records).
fn zone(serial: u32, n: usize) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\nns1 A 192.0.2.53\n\
         sub NS ns.sub\nns.sub A 192.0.2.100\nwww CNAME @\n\
         $GENERATE 1-{n} host$ TXT \"host number $ with some padding text\"\n"
    )
}

fn config(acl: &str) -> String {
    format!(
        "[server]\nudp_workers = 1\n{}allow_transfer = {acl}\n",
        zone_entry("example.com", "example.com.zone")
    )
}

/// Sends an AXFR/IXFR over TCP (optionally from another loopback address)
/// and reads messages until the closing SOA or an error; bounded.
fn transfer(
    server: SocketAddr,
    from: Option<Ipv4Addr>,
    qtype: RecordType,
    ixfr_serial: Option<u32>,
) -> Vec<Message> {
    let mut q = build_query("example.com", qtype, &QueryOpts::plain());
    if let Some(serial) = ixfr_serial {
        // RFC 1995 §3: the client's SOA in the authority section.
        q[9] = 1;
        q.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0]);
        let mut rdata = vec![0u8, 0];
        rdata.extend_from_slice(&serial.to_be_bytes());
        rdata.extend_from_slice(&[0; 16]);
        q.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        q.extend_from_slice(&rdata);
    }
    let stream = match from {
        None => TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("connect"),
        Some(ip) => {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            s.bind(&SocketAddr::new(ip.into(), 0).into())
                .expect("bind client address");
            s.connect_timeout(&server.into(), Duration::from_secs(5))
                .expect("connect");
            s.into()
        }
    };
    let mut conn = TcpConn::from_stream(stream);
    conn.set_timeout(Duration::from_secs(10));
    conn.send(&q).expect("send");
    let mut msgs = Vec::new();
    // AXFR and incremental IXFR both end with our SOA after an even number
    // of SOAs (IXFR: ours, then two per changeset, then ours again).
    let mut soas = 0;
    let mut new_serial = None;
    for _ in 0..10_000 {
        let Some(bytes) = conn.recv().expect("receive") else {
            break;
        };
        assert!(bytes.len() <= 65535);
        let m = parse(&bytes);
        let mut last_is_new_soa = false;
        for r in m.answers() {
            last_is_new_soa = false;
            if let Some(RData::SOA(soa)) = r.data() {
                soas += 1;
                let serial = *new_serial.get_or_insert(soa.serial());
                last_is_new_soa = soa.serial() == serial;
            }
        }
        let done = m.response_code() != ResponseCode::NoError
            || (last_is_new_soa && soas % 2 == 0)
            || (soas == 1 && ixfr_serial.is_some() && m.answers().len() == 1 && msgs.is_empty());
        msgs.push(m);
        if done {
            break;
        }
    }
    msgs
}

fn records(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .flat_map(|m| {
            m.answers()
                .iter()
                .map(|r| r.to_string().to_ascii_lowercase())
        })
        .collect()
}

#[test]
fn axfr_sends_the_whole_zone_between_two_soas_in_several_messages() {
    let s = Server::start(
        &config("[{ from = \"127.0.0.1/32\" }]"),
        &[("example.com.zone", &zone(5, 3000))],
    );
    let msgs = transfer(s.addr(), None, RecordType::AXFR, None);
    assert!(
        msgs.len() > 1,
        "3000 TXT records need more than one 64 KiB message, got {}",
        msgs.len()
    );
    let recs = records(&msgs);
    assert_eq!(recs.len(), 3007 + 1, "every record once, the SOA twice");
    assert!(
        recs.first().is_some_and(|r| r.contains("soa"))
            && recs.last().is_some_and(|r| r.contains("soa"))
    );
    let unique: BTreeSet<&String> = recs.iter().collect();
    assert_eq!(unique.len(), 3007, "no record twice except the SOA");
    assert!(
        recs.iter().any(|r| r.starts_with("ns.sub.example.com.")),
        "glue is part of the zone"
    );
    assert!(msgs.iter().all(|m| m.header().authoritative()));
    assert_eq!(
        msgs[0].queries().len(),
        1,
        "the first message echoes the question"
    );
}

#[test]
fn transfer_from_outside_the_acl_is_refused_and_logged() {
    let s = Server::start(
        &config("[{ from = \"127.0.0.1/32\" }]"),
        &[("example.com.zone", &zone(5, 10))],
    );
    let msgs = transfer(
        s.addr(),
        Some(Ipv4Addr::new(127, 0, 0, 2)),
        RecordType::AXFR,
        None,
    );
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].response_code(), ResponseCode::Refused);
    assert!(msgs[0].answers().is_empty(), "nothing of the zone is sent");
    assert!(
        s.wait_for_log("127.0.0.2", Duration::from_secs(2)),
        "the refusal names the peer:\n{}",
        s.log()
    );
}

#[test]
fn transfer_without_allow_transfer_is_refused() {
    let s = Server::start(&config("[]"), &[("example.com.zone", &zone(5, 10))]);
    let msgs = transfer(s.addr(), None, RecordType::AXFR, None);
    assert_eq!(msgs[0].response_code(), ResponseCode::Refused);
}

#[test]
fn axfr_over_udp_is_notimp_and_ixfr_over_udp_gets_the_soa() {
    let s = Server::start(
        &config("[{ from = \"127.0.0.1/32\" }]"),
        &[("example.com.zone", &zone(5, 10))],
    );
    let r = query_udp(
        s.addr(),
        "example.com",
        RecordType::AXFR,
        &QueryOpts::plain(),
    );
    assert_eq!(r.response_code(), ResponseCode::NotImp);
    let r = query_udp(
        s.addr(),
        "example.com",
        RecordType::IXFR,
        &QueryOpts::plain(),
    );
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert!(
        matches!(r.answers().first().and_then(|a| a.data()), Some(RData::SOA(soa)) if soa.serial() == 5)
    );
}

#[test]
fn ixfr_from_the_current_serial_is_one_soa_and_from_an_older_one_the_whole_zone() {
    let s = Server::start(
        &config("[{ from = \"127.0.0.1/32\" }]"),
        &[("example.com.zone", &zone(5, 10))],
    );
    let current = transfer(s.addr(), None, RecordType::IXFR, Some(5));
    assert_eq!(
        records(&current).len(),
        1,
        "client is current: our SOA alone"
    );
    let ahead = transfer(s.addr(), None, RecordType::IXFR, Some(6));
    assert_eq!(
        records(&ahead).len(),
        1,
        "client ahead (RFC 1982): our SOA alone"
    );
    let old = transfer(s.addr(), None, RecordType::IXFR, Some(4));
    assert_eq!(
        records(&old).len(),
        17 + 1,
        "no journal yet: the whole zone in AXFR form (RFC 1995 §4)"
    );
}

/// A Knot DNS secondary of `primary` for example.com, stopped on drop.
struct KnotSecondary {
    addr: SocketAddr,
    dir: TempDir,
    _knot: KillOnDrop,
}

impl KnotSecondary {
    /// `None` when knotd is not installed. With `tsig`, Knot signs its
    /// requests with xfr-key.
    fn start(primary: SocketAddr, tsig: bool) -> Option<KnotSecondary> {
        KnotSecondary::start_on(free_port(), primary, tsig)
    }

    /// [`start`](Self::start) on a chosen port. Knot accepts NOTIFY from
    /// loopback addresses.
    fn start_on(port: u16, primary: SocketAddr, tsig: bool) -> Option<KnotSecondary> {
        let knotd = require_tool("knotd", "knot");
        let dir = TempDir::new("knot-secondary");
        let (key_section, key_ref) = if tsig {
            (
                format!(
                    "key:\n  - id: xfr-key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n"
                ),
                "    key: xfr-key\n",
            )
        } else {
            (String::new(), "")
        };
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             log:\n  - target: stderr\n    any: info\n\
             database:\n    storage: \"{d}\"\n{key_section}\
             remote:\n  - id: primary\n    address: {ip}@{pport}\n{key_ref}\
             acl:\n  - id: notify\n    address: 127.0.0.0/8\n{key_ref}    action: notify\n\
             zone:\n  - domain: example.com\n    master: primary\n    acl: notify\n    zonefile-sync: -1\n    journal-content: none\n",
            d = dir.path().display(),
            ip = primary.ip(),
            pport = primary.port(),
        );
        let conf_path = dir.write("knot.conf", conf);
        let log = std::fs::File::create(dir.join("knot.log")).expect("log");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("knotd");
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        Some(KnotSecondary {
            addr,
            dir,
            _knot: KillOnDrop(child),
        })
    }

    /// Waits (bounded) until Knot serves `serial`; panics with both logs.
    fn wait_serial(&self, serial: u32, primary: &Server) {
        wait_serial_at(
            self.addr,
            "example.com",
            serial,
            Duration::from_secs(20),
            || {
                let knot_log =
                    std::fs::read_to_string(self.dir.join("knot.log")).unwrap_or_default();
                format!("knot log:\n{knot_log}\nzonesync log:\n{}", primary.log())
            },
        );
    }
}

/// Knot DNS as a secondary of zonesync: it transfers the zone and serves it.
#[test]
fn knot_secondary_transfers_the_zone_and_serves_it() {
    let s = Server::start(
        &config("[{ from = \"127.0.0.0/8\" }]"),
        &[("example.com.zone", &zone(77, 500))],
    );
    let Some(knot) = KnotSecondary::start(s.addr(), false) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(77, &s);
    let r = query_udp(
        knot.addr,
        "host499.example.com",
        RecordType::TXT,
        &QueryOpts::plain(),
    );
    assert_eq!(r.answers().len(), 1, "Knot serves the transferred data");
    assert!(
        s.wait_for_log("AXFR sent", Duration::from_secs(5)),
        "zonesync logged the transfer:\n{}",
        s.log()
    );
}

const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";

fn keyed_config() -> String {
    format!(
        "[server]\nudp_workers = 1\n\n[[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}allow_transfer = [{{ from = \"127.0.0.0/8\", key = \"xfr-key\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

/// Runs kdig (Knot's dig, which verifies TSIG on the answer).
fn kdig(server: SocketAddr, args: &[&str]) -> Option<String> {
    let kdig = require_tool("kdig", "knot-dnsutils");
    let mut cmd = Command::new(kdig);
    cmd.arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(20)).ok()?;
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[test]
fn tsig_signed_axfr_is_served_and_verified_by_kdig() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(5, 2000))]);
    let key = format!("hmac-sha256:xfr-key:{SECRET}");
    let Some(out) = kdig(s.addr(), &["-y", &key, "example.com", "AXFR"]) else {
        panic!("kdig is not installed: scripts/install-test-deps.sh installs it");
    };
    assert!(
        !out.contains(";; ERROR") && !out.contains("failed to verify"),
        "kdig accepts every signed message:\n{out}"
    );
    assert!(out.contains("TSIG"), "the answers are signed:\n{out}");
    assert_eq!(
        out.matches("\tSOA\t").count(),
        2,
        "SOA first and last:\n{}",
        &out[..out.len().min(2000)]
    );
    assert!(out.contains("host2000.example.com."), "the whole zone came");
    // Unsigned, from an allowed address: the rule needs the key.
    let unsigned = transfer(s.addr(), None, RecordType::AXFR, None);
    assert_eq!(
        unsigned[0].response_code(),
        ResponseCode::Refused,
        "a key rule refuses unsigned requests"
    );
    // Signed with a wrong secret: BADSIG, nothing of the zone.
    let wrong = "hmac-sha256:xfr-key:AAAAwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
    let out = kdig(s.addr(), &["-y", wrong, "example.com", "AXFR"]).unwrap_or_default();
    assert!(
        out.contains("BADSIG") || out.contains("NOTAUTH"),
        "wrong secret → BADSIG:\n{out}"
    );
    assert!(
        !out.contains("host1.example.com"),
        "nothing is sent with a bad signature"
    );
    // An unknown key name: BADKEY.
    let out = kdig(
        s.addr(),
        &[
            "-y",
            &format!("hmac-sha256:other-key:{SECRET}"),
            "example.com",
            "AXFR",
        ],
    )
    .unwrap_or_default();
    assert!(
        out.contains("BADKEY") || out.contains("NOTAUTH"),
        "unknown key → BADKEY:\n{out}"
    );
    assert!(
        s.wait_for_log("TSIG check failed", Duration::from_secs(2)),
        "refusals are logged:\n{}",
        s.log()
    );
}

#[test]
fn knot_secondary_transfers_with_tsig() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(91, 100))]);
    let Some(knot) = KnotSecondary::start(s.addr(), true) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(91, &s);
}

#[test]
fn tsig_signed_query_gets_a_signed_answer() {
    let s = Server::start(&keyed_config(), &[("example.com.zone", &zone(5, 3))]);
    let key = format!("hmac-sha256:xfr-key:{SECRET}");
    for transport in ["+notcp", "+tcp"] {
        let Some(out) = kdig(s.addr(), &[transport, "-y", &key, "example.com", "SOA"]) else {
            panic!("kdig is not installed: scripts/install-test-deps.sh installs it");
        };
        assert!(
            out.contains("status: NOERROR"),
            "{transport}: answered:\n{out}"
        );
        assert!(
            out.contains("TSIG") && !out.contains("failed to verify"),
            "{transport}: signed and verified:\n{out}"
        );
    }
    let wrong = "hmac-sha256:xfr-key:AAAAwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
    let out = kdig(s.addr(), &["-y", wrong, "example.com", "SOA"]).unwrap_or_default();
    assert!(
        out.contains("BADSIG") || out.contains("NOTAUTH"),
        "wrong secret → BADSIG:\n{out}"
    );
}

/// A change on zonesync reaches a Knot secondary by NOTIFY, long before
/// the SOA REFRESH (7200 s) would have.
#[test]
fn knot_secondary_follows_a_change_by_notify() {
    let knot_port = free_port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"127.0.0.1:{knot_port}\"]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(1, 20))]);
    let Some(knot) = KnotSecondary::start_on(knot_port, s.addr(), false) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(1, &s);
    s.rewrite("example.com.zone", &zone(2, 21));
    s.signal("HUP");
    knot.wait_serial(2, &s);
    let r = query_udp(
        knot.addr,
        "host21.example.com",
        RecordType::TXT,
        &QueryOpts::plain(),
    );
    assert_eq!(r.answers().len(), 1, "Knot serves the new data");
    assert!(s.log().contains("NOTIFY acknowledged"), "{}", s.log());
    // Knot is strict about IXFR: a record deleted that was not there, or
    // added that was, fails the transfer. It pulled the change by IXFR and
    // applied it.
    let knot_log = std::fs::read_to_string(knot.dir.join("knot.log")).unwrap_or_default();
    assert!(
        s.wait_for_log("IXFR (incremental) sent", Duration::from_secs(5)),
        "zonesync sent an incremental IXFR:\n{}",
        s.log()
    );
    assert!(
        knot_log.contains("IXFR, incoming") && knot_log.contains("finished"),
        "Knot logged an incoming IXFR:\n{knot_log}"
    );
    assert!(!knot_log.contains("fallback to AXFR"), "{knot_log}");
}

/// Knot DNS follows each UPDATE made on zonesync (RFC 2136, signed with an
/// `allow_update` key) by NOTIFY and an incremental IXFR, as its log
/// shows; it never falls back to AXFR.
#[test]
fn knot_secondary_follows_updates_by_ixfr() {
    let knot_port = free_port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 0\n\n\
         [[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"127.0.0.1:{knot_port}\"]\n\
         [[zone.allow_update]]\nkey = \"xfr-key\"\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(1, 20))]);
    let Some(knot) = KnotSecondary::start_on(knot_port, s.addr(), false) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(1, &s);
    for serial in [2u32, 3] {
        let (ok, out) = run_update_client(
            "nsupdate",
            &["-y", &format!("hmac-sha256:xfr-key:{SECRET}")],
            s.addr(),
            "example.com.",
            &format!("update add dyn{serial}.example.com. 60 TXT \"update {serial}\""),
        );
        assert!(ok, "nsupdate: {out}\n{}", s.log());
        knot.wait_serial(serial, &s);
        let r = query_udp(
            knot.addr,
            &format!("dyn{serial}.example.com"),
            RecordType::TXT,
            &QueryOpts::plain(),
        );
        assert_eq!(r.answers().len(), 1, "Knot serves update {serial}");
    }
    let knot_log = std::fs::read_to_string(knot.dir.join("knot.log")).unwrap_or_default();
    let incoming = knot_log
        .lines()
        .filter(|l| l.contains("IXFR, incoming") && l.contains("finished"))
        .count();
    assert!(
        incoming >= 2,
        "Knot logged an incoming IXFR per UPDATE:\n{knot_log}"
    );
    assert!(!knot_log.contains("fallback to AXFR"), "{knot_log}");
    assert_eq!(
        s.log().matches("IXFR (incremental) sent").count(),
        2,
        "zonesync sent each change as an incremental IXFR:\n{}",
        s.log()
    );
}

// ---- IXFR from the journal, serial policy, restarts and crashes ----

/// example.com at `serial` with hosts `first..=last` (as in [`zone`]).
fn hosts_zone(serial: u32, first: usize, last: usize) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\nns1 A 192.0.2.53\n\
         sub NS ns.sub\nns.sub A 192.0.2.100\nwww CNAME @\n\
         $GENERATE {first}-{last} host$ TXT \"host number $ with some padding text\"\n"
    )
}

fn policy_config(policy: &str) -> String {
    format!(
        "{}serial_policy = \"{policy}\"\n",
        config("[{ from = \"127.0.0.1/32\" }]")
    )
}

/// The serial example.com is served with.
fn served(s: &Server) -> Option<u32> {
    let m = query_udp(
        s.addr(),
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain(),
    );
    match m.answers().first().and_then(|a| a.data()) {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    }
}

fn wait_served(s: &Server, serial: u32) {
    let ok = wait_until(Duration::from_secs(10), || served(s) == Some(serial));
    assert!(
        ok,
        "serial {serial} not served; serving {:?}\n{}",
        served(s),
        s.log()
    );
}

/// A transfer's answer records in short form: "SOA <serial>" or
/// "<owner> <TYPE>".
fn shape(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .flat_map(|m| m.answers())
        .map(|r| match r.data() {
            Some(RData::SOA(soa)) => format!("SOA {}", soa.serial()),
            _ => format!(
                "{} {}",
                r.name().to_ascii().to_ascii_lowercase(),
                r.record_type()
            ),
        })
        .collect()
}

/// An IXFR from `serial` over TCP, in short form (see [`shape`]).
fn ixfr_from(s: &Server, serial: u32) -> Vec<String> {
    shape(&transfer(s.addr(), None, RecordType::IXFR, Some(serial)))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ixfr_sends_exactly_the_changes_of_each_reload() {
    let s = Server::start(
        &policy_config("keep"),
        &[("example.com.zone", &hosts_zone(1, 1, 10))],
    );
    // 1 -> 2: host1 goes, host11 comes.
    s.rewrite("example.com.zone", &hosts_zone(2, 2, 11));
    s.signal("HUP");
    wait_served(&s, 2);
    // 2 -> 3: host12 comes.
    s.rewrite("example.com.zone", &hosts_zone(3, 2, 12));
    s.signal("HUP");
    wait_served(&s, 3);

    let from1 = ixfr_from(&s, 1);
    assert_eq!(
        from1,
        strs(&[
            "SOA 3",
            "SOA 1",
            "host1.example.com. TXT",
            "SOA 2",
            "host11.example.com. TXT",
            "SOA 2",
            "SOA 3",
            "host12.example.com. TXT",
            "SOA 3",
        ]),
        "RFC 1995 §4: our SOA, each changeset (old SOA, deleted, new SOA, added), our SOA"
    );
    let from2 = ixfr_from(&s, 2);
    assert_eq!(
        from2,
        strs(&[
            "SOA 3",
            "SOA 2",
            "SOA 3",
            "host12.example.com. TXT",
            "SOA 3"
        ])
    );
    // Serial 0 is in no changeset: the whole zone, AXFR-style.
    let from0 = ixfr_from(&s, 0);
    assert_eq!(from0.len(), 7 + 11 + 1, "whole zone: {from0:?}");
    assert_eq!(from0.first().map(String::as_str), Some("SOA 3"));
    assert_eq!(from0.last().map(String::as_str), Some("SOA 3"));
    // Logged once the last message is out, maybe after we read it.
    assert!(
        s.wait_for_log("IXFR (incremental) sent", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert!(
        s.wait_for_log("IXFR (full zone) sent", Duration::from_secs(5)),
        "{}",
        s.log()
    );
}

/// A zone file of one line per host (no `$GENERATE`), large enough
/// (>= 64 KiB) for reloads by chunks.
fn listed_zone(serial: u32, hosts: std::ops::RangeInclusive<usize>) -> String {
    let mut text = format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\nns1 A 192.0.2.53\n"
    );
    for i in hosts {
        text.push_str(&format!(
            "host{i} TXT \"host number {i} with some padding text\"\n"
        ));
    }
    text
}

fn log_count(s: &Server, needle: &str) -> usize {
    s.log().matches(needle).count()
}

/// A large file is reloaded by chunks (only what changed is parsed), and
/// the changes journaled are exactly the edit's; when the copy of the
/// previous file is damaged, or after a restart, the reload is whole and
/// as exact.
#[test]
fn a_large_zone_file_reloads_by_chunks_with_exactly_its_changes() {
    let mut s = Server::start(
        &policy_config("keep"),
        &[("example.com.zone", &listed_zone(1, 1..=5000))],
    );
    assert_eq!(log_count(&s, "parsed whole"), 1, "{}", s.log());
    // 1 -> 2: host1 goes (at the top, with the SOA), host5001 comes (at
    // the end).
    s.rewrite("example.com.zone", &listed_zone(2, 2..=5001));
    s.signal("HUP");
    wait_served(&s, 2);
    assert!(
        s.wait_for_log("chunks parsed", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    let from1 = ixfr_from(&s, 1);
    assert_eq!(
        from1,
        strs(&[
            "SOA 2",
            "SOA 1",
            "host1.example.com. TXT",
            "SOA 2",
            "host5001.example.com. TXT",
            "SOA 2",
        ])
    );
    // The copy of the previous file damaged: the reload is whole.
    let copy = s.dir().join("data/state/example.com.text");
    assert!(
        copy.exists(),
        "no copy of the zone file at {}",
        copy.display()
    );
    std::fs::write(&copy, "damaged").unwrap();
    s.rewrite("example.com.zone", &listed_zone(3, 2..=5002));
    s.signal("HUP");
    wait_served(&s, 3);
    assert!(wait_until(Duration::from_secs(5), || log_count(
        &s,
        "parsed whole"
    ) == 2));
    let from2 = ixfr_from(&s, 2);
    assert_eq!(
        from2,
        strs(&[
            "SOA 3",
            "SOA 2",
            "SOA 3",
            "host5002.example.com. TXT",
            "SOA 3"
        ])
    );
    // After a restart (a whole load), the next reload is by chunks again.
    s.restart(false);
    let by_chunks = log_count(&s, "chunks parsed");
    s.rewrite("example.com.zone", &listed_zone(4, 3..=5002));
    s.signal("HUP");
    wait_served(&s, 4);
    assert!(wait_until(Duration::from_secs(5), || log_count(
        &s,
        "chunks parsed"
    ) == by_chunks + 1));
    let from3 = ixfr_from(&s, 3);
    assert_eq!(
        from3,
        strs(&["SOA 4", "SOA 3", "host2.example.com. TXT", "SOA 4", "SOA 4"])
    );
    let axfr = transfer(s.addr(), None, RecordType::AXFR, None);
    assert_eq!(records(&axfr).len(), 4 + 5000 + 1);
}

#[test]
fn ixfr_larger_than_the_zone_is_sent_as_the_whole_zone() {
    let s = Server::start(
        &policy_config("keep"),
        &[("example.com.zone", &hosts_zone(1, 1, 10))],
    );
    // Every host replaced: 20 changed records against a zone of 17.
    s.rewrite("example.com.zone", &hosts_zone(2, 11, 20));
    s.signal("HUP");
    wait_served(&s, 2);
    let r = ixfr_from(&s, 1);
    assert_eq!(r.len(), 17 + 1, "AXFR-style: {r:?}");
    assert_ne!(
        r.get(1).map(String::as_str),
        Some("SOA 1"),
        "not incremental"
    );
}

/// An IXFR query over UDP (RFC 1995 §2) for example.com from `serial`.
fn ixfr_udp(s: &Server, serial: u32) -> Message {
    let mut q = build_query("example.com", RecordType::IXFR, &QueryOpts::plain());
    q[9] = 1;
    q.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0]);
    let mut rdata = vec![0u8, 0];
    rdata.extend_from_slice(&serial.to_be_bytes());
    rdata.extend_from_slice(&[0; 16]);
    q.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    q.extend_from_slice(&rdata);
    parse(&exchange_udp(s.addr(), &q).expect("IXFR over UDP"))
}

#[test]
fn ixfr_over_udp_carries_changes_that_fit_and_only_the_soa_otherwise() {
    let s = Server::start(
        &policy_config("keep"),
        &[("example.com.zone", &hosts_zone(1, 1, 100))],
    );
    s.rewrite("example.com.zone", &hosts_zone(2, 2, 101));
    s.signal("HUP");
    wait_served(&s, 2);
    let small = ixfr_udp(&s, 1);
    assert_eq!(
        shape(std::slice::from_ref(&small)),
        strs(&[
            "SOA 2",
            "SOA 1",
            "host1.example.com. TXT",
            "SOA 2",
            "host101.example.com. TXT",
            "SOA 2"
        ])
    );
    // 20 hosts replaced: more than 512 octets, less than the zone.
    s.rewrite("example.com.zone", &hosts_zone(3, 22, 121));
    s.signal("HUP");
    wait_served(&s, 3);
    let big = ixfr_udp(&s, 2);
    assert_eq!(
        shape(std::slice::from_ref(&big)),
        strs(&["SOA 3"]),
        "too large for UDP: SOA only"
    );
    let tcp = ixfr_from(&s, 2);
    assert_eq!(
        tcp.get(1).map(String::as_str),
        Some("SOA 2"),
        "incremental over TCP"
    );
}

#[test]
fn serial_policy_keep_refuses_an_unbumped_change_and_a_backwards_serial() {
    let s = Server::start(
        &policy_config("keep"),
        &[("example.com.zone", &hosts_zone(5, 1, 10))],
    );
    s.rewrite("example.com.zone", &hosts_zone(5, 1, 11));
    s.signal("HUP");
    assert!(
        s.wait_for_log("was not increased", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert_eq!(served(&s), Some(5));
    let host11 = query_udp(
        s.addr(),
        "host11.example.com",
        RecordType::TXT,
        &QueryOpts::plain(),
    );
    assert_eq!(
        host11.response_code(),
        ResponseCode::NXDomain,
        "the refused content is not served"
    );

    s.rewrite("example.com.zone", &hosts_zone(4, 1, 11));
    s.signal("HUP");
    assert!(
        s.wait_for_log("went backwards from 5 to 4", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert_eq!(served(&s), Some(5));
}

#[test]
fn serial_policies_move_the_serial_forward() {
    type Expected = fn(u32) -> bool;
    let cases: [(&str, Expected); 3] = [
        ("increment", |s| s == 6),
        ("unixtime", |s| s > 1_700_000_000),
        ("dateserial", |s| {
            (2_026_000_000..2_100_000_000).contains(&s)
        }),
    ];
    for (policy, expected) in cases {
        let s = Server::start(
            &policy_config(policy),
            &[("example.com.zone", &hosts_zone(5, 1, 10))],
        );
        s.rewrite("example.com.zone", &hosts_zone(5, 1, 11));
        s.signal("HUP");
        let moved = wait_until(Duration::from_secs(10), || {
            served(&s).is_some_and(|x| x != 5)
        });
        let serial = served(&s).unwrap_or(0);
        assert!(
            moved && expected(serial),
            "{policy}: serial {serial}\n{}",
            s.log()
        );
        let r = ixfr_from(&s, 5);
        let new = format!("SOA {serial}");
        assert_eq!(
            r,
            vec![
                new.clone(),
                "SOA 5".into(),
                new.clone(),
                "host11.example.com. TXT".into(),
                new
            ],
            "{policy}"
        );
    }
}

#[test]
fn journal_and_served_serial_survive_restarts() {
    let mut s = Server::start(
        &policy_config("increment"),
        &[("example.com.zone", &hosts_zone(1, 1, 10))],
    );
    s.rewrite("example.com.zone", &hosts_zone(1, 1, 11));
    s.signal("HUP");
    wait_served(&s, 2);
    s.rewrite("example.com.zone", &hosts_zone(1, 1, 12));
    s.signal("HUP");
    wait_served(&s, 3);
    let before = ixfr_from(&s, 1);

    s.restart(false);
    assert_eq!(
        served(&s),
        Some(3),
        "the file still says 1; the served serial stays 3"
    );
    assert_eq!(ixfr_from(&s, 1), before, "same IXFR after a restart");
    s.restart(true);
    assert_eq!(served(&s), Some(3), "and after kill -9");
    assert_eq!(ixfr_from(&s, 1), before);

    // Changed while stopped: a new serial, and a new history.
    s.signal("TERM");
    s.wait_exit(Duration::from_secs(10));
    std::fs::write(s.file("example.com.zone"), hosts_zone(1, 1, 13)).expect("write zone");
    s.restart(false);
    assert_eq!(served(&s), Some(4), "increment from the served serial 3");
    let r = ixfr_from(&s, 3);
    assert_eq!(
        r.len(),
        7 + 13 + 1,
        "no changeset 3 -> 4 could be computed: whole zone: {r:?}"
    );
}

/// kill -9 at various moments of a reload of a large zone: after the
/// restart the server serves a complete version, the last one or the new
/// one, and IXFR from the first serial works or falls back to the whole
/// zone; never anything in between.
#[test]
fn kill9_during_reloads_leaves_a_complete_zone() {
    const HOSTS: usize = 60_000;
    let mut s = Server::start(
        &policy_config("keep"),
        &[("example.com.zone", &hosts_zone(1, 1, HOSTS))],
    );
    let mut serial = 1;
    for (round, delay_ms) in [0u64, 20, 60, 120, 250].into_iter().enumerate() {
        // Each round replaces one host: host `round+1` goes, a new one comes.
        let next = serial + 1;
        let text = hosts_zone(next, round + 2, HOSTS + round + 1);
        s.rewrite("example.com.zone", &text);
        s.signal("HUP");
        std::thread::sleep(Duration::from_millis(delay_ms));
        s.restart(true);
        let now = served(&s).expect("an SOA after the restart");
        assert!(
            now == serial || now == next,
            "round {round}: serial {now}, expected {serial} or {next}\n{}",
            s.log()
        );
        if now == serial {
            // The reload did not finish: do it again, cleanly.
            s.signal("HUP");
            wait_served(&s, next);
        }
        serial = next;
        let axfr = transfer(s.addr(), None, RecordType::AXFR, None);
        assert_eq!(
            records(&axfr).len(),
            7 + HOSTS + 1,
            "round {round}: a complete zone"
        );
        let ixfr = ixfr_from(&s, 1);
        let top = format!("SOA {serial}");
        assert_eq!(ixfr.first(), Some(&top));
        assert_eq!(ixfr.last(), Some(&top));
        if ixfr.get(1).map(String::as_str) == Some("SOA 1") {
            // Incremental: every round's changeset, none torn.
            let changesets = ixfr.iter().filter(|r| r.starts_with("SOA")).count() / 2 - 1;
            assert_eq!(changesets, serial as usize - 1, "round {round}: {ixfr:?}");
        } else {
            assert_eq!(ixfr.len(), 7 + HOSTS + 1, "round {round}: whole zone");
        }
    }
}

/// TSIG end to end with Knot: zonesync signs its NOTIFY with the key (Knot
/// accepts NOTIFY only with it), Knot pulls by signed IXFR.
#[test]
fn knot_secondary_with_tsig_follows_a_signed_notify_by_ixfr() {
    let knot_port = free_port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\n\
         [[key]]\nname = \"xfr-key\"\nsecret = \"{SECRET}\"\n{}\
         allow_transfer = [{{ key = \"xfr-key\" }}]\n\
         notify = [{{ addr = \"127.0.0.1:{knot_port}\", key = \"xfr-key\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(1, 20))]);
    let Some(knot) = KnotSecondary::start_on(knot_port, s.addr(), true) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(1, &s);
    s.rewrite("example.com.zone", &zone(2, 21));
    s.signal("HUP");
    knot.wait_serial(2, &s);
    let knot_log = std::fs::read_to_string(knot.dir.join("knot.log")).unwrap_or_default();
    assert!(
        s.wait_for_log("key=\"xfr-key\"", Duration::from_secs(5))
            || s.log().contains("key=xfr-key"),
        "{}",
        s.log()
    );
    assert!(s.log().contains("NOTIFY acknowledged"), "{}", s.log());
    assert!(
        s.wait_for_log("IXFR (incremental) sent", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert!(knot_log.contains("IXFR, incoming"), "{knot_log}");
    assert!(!knot_log.contains("denied"), "{knot_log}");
}
