//! The CSYNC parental agent end to end (RFC 7477, RFC 9975), all on
//! loopback: the parent zone `example.` on a zonesync primary with
//! `[zone.csync]` and a zonesync secondary; the child `child.example.`
//! signed at test time by `dnssec-signzone` (bind9-utils, ECDSA P-256)
//! and served by zonesync (and Knot in the first test) on 127.0.0.11,
//! .12 and .13, one port for all, as its NS names' glue says.
//!
//! The child changes its NS set and glue and publishes CSYNC; `zonesync
//! csync scan` makes the agent ask every server, validate from the
//! parent's DS, and apply: the parent's file, serial and delegation
//! change, and the secondary follows by IXFR. Each rule then has a test
//! in which the parent does *not* change: bad signature, unsigned child,
//! `immediate` clear (queued until `csync approve`), unknown flag, unknown
//! type, `soaminimum` not met on one server, servers disagreeing, the SOA
//! serial moving during the scan (a proxy in the test sends the last SOA
//! query to a server one serial ahead), two CSYNC records; and an NS name
//! outside the child keeps the parent's glue.

mod common;

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zonesync::csync::agent::ChildReport;
use zonesync::serial::Serial;

const ALGORITHM: &str = "ECDSAP256SHA256";

/// The child's zone: NS names (relative to the child, or absolute) with
/// their addresses (`127.0.0.N` for names inside the child), and CSYNC
/// RDATA lines.
#[derive(Clone)]
struct Child {
    serial: u32,
    ns: Vec<(&'static str, Option<u8>)>,
    csync: Vec<String>,
    extra: String,
}

impl Child {
    fn new(serial: u32, ns: &[(&'static str, Option<u8>)]) -> Child {
        Child {
            serial,
            ns: ns.to_vec(),
            csync: Vec::new(),
            extra: String::new(),
        }
    }

    fn csync(mut self, rdata: &str) -> Child {
        self.csync.push(rdata.into());
        self
    }

    fn text(&self) -> String {
        let mut t = format!(
            "$ORIGIN child.example.\n$TTL 300\n@ SOA ns1 hostmaster {} 3600 600 1209600 300\nwww A 192.0.2.80\n",
            self.serial
        );
        for (name, last) in &self.ns {
            t.push_str(&format!("@ NS {name}\n"));
            if let Some(n) = last {
                t.push_str(&format!("{name} A 127.0.0.{n}\n"));
            }
        }
        for c in &self.csync {
            t.push_str(&format!("@ CSYNC {c}\n"));
        }
        t.push_str(&self.extra);
        t
    }
}

/// NS ns1 and ns2, the delegation the parent starts with.
fn child_v1() -> Child {
    Child::new(1, &[("ns1", Some(11)), ("ns2", Some(12))])
}

/// ns2 replaced by ns3 (127.0.0.13), CSYNC for serial 2: immediate and
/// soaminimum, NS A AAAA.
fn child_v2() -> Child {
    Child::new(2, &[("ns1", Some(11)), ("ns3", Some(13))]).csync("2 3 NS A AAAA")
}

struct Setup {
    dir: TempDir,
    keys: ZoneKeys,
    port: u16,
    parent: Server,
    secondary: Server,
    /// The child's servers, by the last octet of their address.
    children: Vec<(u8, Server)>,
}

/// A zonesync server of the child on 127.0.0.`octet`; `notify_csync`:
/// where it sends NOTIFY(CSYNC) when its CSYNC changes.
fn child_server(port: u16, octet: u8, signed: &str, notify_csync: Option<SocketAddr>) -> Server {
    let opts = StartOptions {
        addr: Some(SocketAddr::new(lo(octet), port)),
        ..StartOptions::default()
    };
    let notify = notify_csync.map_or(String::new(), |a| format!("notify_csync = [\"{a}\"]\n"));
    Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n{}{notify}",
            zone_entry("child.example", "child.example.zone")
        ),
        &[("child.example.zone", signed)],
        &opts,
    )
}

impl Setup {
    /// The parent delegating to ns1/ns2 (with DS unless `unsigned`), its
    /// secondary, and child servers at `octets` serving `child`.
    fn start(child: &Child, octets: &[u8], unsigned: bool) -> Setup {
        Setup::start_with(child, octets, unsigned, false)
    }

    /// With `notify`, the child's servers send NOTIFY(CSYNC) to the parent.
    fn start_with(child: &Child, octets: &[u8], unsigned: bool, notify: bool) -> Setup {
        let dir = TempDir::new("csync");
        let keys = ZoneKeys::generate(dir.path(), "child.example", Signer::Bind, ALGORITHM);
        let ips: Vec<_> = [11, 12, 13, 14].iter().map(|&n| lo(n)).collect();
        let port = free_port_on(&ips);
        let signed = sign(&keys, child);
        let ds = if unsigned {
            String::new()
        } else {
            format!("{}\n", keys.ds())
        };
        let parent_zone = format!(
            "$ORIGIN example.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 1209600 300\n@ NS ns\nns A 127.0.0.1\n\
             ; the child\nchild 3600 NS ns1.child\nchild 3600 NS ns2.child\n{ds}\
             ns1.child 3600 A 127.0.0.11\nns2.child 3600 A 127.0.0.12\n\
             sibling NS ns.sibling\nns.sibling A 127.0.0.11\n"
        );
        let sec_addr = free_addr();
        let control = free_addr();
        let parent = Server::start(
            &format!(
                "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ncontrol = \"{control}\"\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{sec_addr}\"]\n\
                 [zone.csync]\nchildren = [\"child.example\"]\ninterval = 3600\nretry = 1\nport = {port}\nresolver = \"127.0.0.1:9\"\n",
                zone_entry("example", "example.zone")
            ),
            &[("example.zone", &parent_zone)],
        );
        let secondary = Server::start_with(
            &format!(
                "[server]\nudp_workers = 1\n[[zone]]\nname = \"example\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{}\" }}]\n",
                parent.addr()
            ),
            &[],
            &StartOptions {
                addr: Some(sec_addr),
                ..StartOptions::default()
            },
        );
        let notify_to = notify.then(|| parent.addr());
        let children = octets
            .iter()
            .map(|&o| (o, child_server(port, o, &signed, notify_to)))
            .collect();
        let setup = Setup {
            dir,
            keys,
            port,
            parent,
            secondary,
            children,
        };
        assert!(
            wait_until(Duration::from_secs(10), || serial(setup.secondary.addr())
                == Some(1)),
            "{}",
            setup.logs()
        );
        setup
    }

    fn logs(&self) -> String {
        let mut out = format!(
            "--- parent ---\n{}\n--- secondary ---\n{}\n",
            self.parent.log(),
            self.secondary.log()
        );
        for (o, s) in &self.children {
            out.push_str(&format!("--- child server 127.0.0.{o} ---\n{}\n", s.log()));
        }
        out
    }

    /// Serves `child` (signed) on the servers at `octets`.
    fn publish(&self, child: &Child, octets: &[u8]) {
        let signed = sign(&self.keys, child);
        self.publish_signed(&signed, child.serial, octets);
    }

    fn publish_signed(&self, signed: &str, serial_wanted: u32, octets: &[u8]) {
        for (o, s) in self.children.iter().filter(|(o, _)| octets.contains(o)) {
            s.rewrite("child.example.zone", signed);
            s.signal("HUP");
            let addr = SocketAddr::new(lo(*o), self.port);
            assert!(
                wait_until(Duration::from_secs(10), || child_serial(addr)
                    == Some(serial_wanted)),
                "child server {addr} does not serve serial {serial_wanted}\n{}",
                s.log()
            );
        }
    }

    /// `zonesync csync <args> --config PARENT --json`: exit status and
    /// stdout.
    fn csync(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut cmd = zonesync();
        cmd.arg("csync")
            .args(args)
            .arg("--config")
            .arg(self.parent.config_path())
            .arg("--json");
        let out = run_with_timeout(cmd, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("zonesync csync {args:?}: {e}"));
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `csync scan example --child child.example`: the child's report.
    fn scan(&self) -> ChildReport {
        let (code, out) = self.csync(&["scan", "example", "--child", "child.example"]);
        let reports: Vec<ChildReport> = serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!("csync scan output ({code:?}): {e}\n{out}\n{}", self.logs())
        });
        assert_eq!(reports.len(), 1, "{out}");
        reports.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    /// The parent's NS set for the child (its referral) at `addr`.
    fn delegation_at(&self, addr: SocketAddr) -> BTreeSet<String> {
        let m = query_udp(addr, "child.example", RecordType::NS, &QueryOpts::plain());
        ns_names(&m)
    }

    /// Nothing changed in the parent: serial 1, ns1 + ns2, file intact.
    #[track_caller]
    fn assert_parent_unchanged(&self, why: &str) {
        assert_eq!(
            serial(self.parent.addr()),
            Some(1),
            "{why}\n{}",
            self.logs()
        );
        assert_eq!(
            self.delegation_at(self.parent.addr()),
            names(&["ns1.child.example.", "ns2.child.example."]),
            "{why}\n{}",
            self.logs()
        );
        let file = std::fs::read_to_string(self.parent.file("example.zone")).unwrap_or_default();
        assert!(!file.contains("zonesync csync"), "{why}: {file}");
    }

    #[track_caller]
    fn assert_outcome(&self, report: &ChildReport, outcome: &str, reason: &str) {
        assert!(
            report.outcome == outcome && report.reason.contains(reason),
            "expected {outcome} with {reason:?}, got {report:#?}\n{}",
            self.logs()
        );
    }

    fn audit(&self) -> String {
        let _ = &self.dir;
        let path = self.parent.dir().join("data/state/example.csync-audit.log");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            let found = std::fs::read_dir(self.parent.dir())
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path().display().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            panic!("{}: {e} ({found:?})", path.display())
        })
    }
}

fn sign(keys: &ZoneKeys, child: &Child) -> String {
    let now = unix_now();
    keys.sign(
        &child.text(),
        Denial::Nsec,
        &Nsec3Params::default(),
        now - 3600,
        now + 30 * 86_400,
    )
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn ns_names(m: &Message) -> BTreeSet<String> {
    m.answers()
        .iter()
        .chain(m.name_servers())
        .filter_map(|r| match r.data() {
            Some(RData::NS(ns)) => Some(ns.0.to_ascii().to_lowercase()),
            _ => None,
        })
        .collect()
}

fn serial(addr: SocketAddr) -> Option<u32> {
    authoritative_serial(addr, "example", Duration::from_secs(2))
}

fn child_serial(addr: SocketAddr) -> Option<u32> {
    authoritative_serial(addr, "child.example", Duration::from_secs(2))
}

#[test]
fn a_new_nameserver_reaches_the_parent_and_its_secondary() {
    // The child already moved from ns2 to ns3; Knot serves it on .11,
    // zonesync on .12 (still named in the parent) and .13 (new).
    let v2 = child_v2();
    let mut s = Setup::start(&v2, &[12, 13], false);
    let signed = sign(&s.keys, &v2);
    let knot = AuthServer::knot(
        SocketAddr::new(lo(11), s.port),
        &[ZoneFile::new("child.example", signed)],
        Transfers::Refused,
    );
    let dry = {
        let (code, out) = s.csync(&["scan", "example", "--child", "child.example", "--dry-run"]);
        assert_eq!(code, Some(0), "{out}");
        let r: Vec<ChildReport> =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        r
    };
    s.assert_outcome(&dry[0], "would-apply", "CSYNC serial 2");
    s.assert_parent_unchanged("a dry run changes nothing");

    let r = s.scan();
    s.assert_outcome(&r, "applied", "CSYNC serial 2");
    println!("scan, validation and change took {} ms", r.elapsed_ms);
    assert_eq!(
        r.servers.len(),
        2,
        "every address of ns1 and ns2 was asked: {r:#?}"
    );
    assert_eq!(
        r.changes,
        [
            "- child.example. 3600 IN NS ns1.child.example.",
            "- child.example. 3600 IN NS ns2.child.example.",
            "- ns2.child.example. 3600 IN A 127.0.0.12",
            "+ child.example. 3600 IN NS ns1.child.example.",
            "+ child.example. 3600 IN NS ns3.child.example.",
            "+ ns3.child.example. 3600 IN A 127.0.0.13",
        ]
    );
    assert_eq!(r.parent_serial, Some(Serial(2)), "{}", s.logs());
    assert_eq!(serial(s.parent.addr()), Some(2));
    let want = names(&["ns1.child.example.", "ns3.child.example."]);
    assert_eq!(s.delegation_at(s.parent.addr()), want);
    // The secondary follows by NOTIFY and IXFR.
    assert!(
        wait_until(Duration::from_secs(10), || serial(s.secondary.addr())
            == Some(2)),
        "{}",
        s.logs()
    );
    assert_eq!(s.delegation_at(s.secondary.addr()), want);
    assert!(
        s.secondary
            .wait_for_log("IXFR 1 -> 2", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    // The file says what happened, the rest of it as it was.
    let file = std::fs::read_to_string(s.parent.file("example.zone")).unwrap_or_default();
    assert!(
        file.contains("; the child\n")
            && file.contains("zonesync csync: child.example. CSYNC serial 2"),
        "{file}"
    );
    let audit = s.audit();
    assert!(
        audit.contains("\"outcome\":\"applied\"") && audit.contains("\"parent_serial\":2"),
        "{audit}"
    );

    // Nothing is applied twice, across a restart of the parent too.
    s.parent.restart(false);
    let again = s.scan();
    s.assert_outcome(&again, "already-processed", "serial 2");
    assert_eq!(serial(s.parent.addr()), Some(2));
    drop(knot);
    let _ = &mut s;
}

#[test]
fn immediate_clear_waits_for_approval() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    let mut v2 = Child::new(
        2,
        &[("ns1", Some(11)), ("ns2", Some(12)), ("ns4", Some(11))],
    )
    .csync("2 2 NS A AAAA");
    v2.extra.clear();
    s.publish(&v2, &[11, 12]);
    let r = s.scan();
    s.assert_outcome(&r, "waiting", "approve");
    s.assert_parent_unchanged("immediate clear: queued");
    let (code, out) = s.csync(&["pending"]);
    assert!(
        code == Some(0) && out.contains("child.example.") && out.contains("ns4.child.example."),
        "{out}"
    );
    let (code, out) = s.csync(&["approve", "child.example"]);
    assert_eq!(code, Some(0), "{out}\n{}", s.logs());
    let approved: ChildReport = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    s.assert_outcome(&approved, "applied", "serial 2");
    assert_eq!(serial(s.parent.addr()), Some(2));
    assert!(s
        .delegation_at(s.parent.addr())
        .contains("ns4.child.example."));
    let (_, out) = s.csync(&["pending"]);
    assert!(out.trim() == "[]", "nothing waits any more: {out}");
    assert!(
        s.audit().contains("\"outcome\":\"approved\""),
        "{}",
        s.audit()
    );
}

#[test]
fn a_bad_signature_changes_nothing() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    let v2 = Child::new(
        2,
        &[("ns1", Some(11)), ("ns2", Some(12)), ("ns4", Some(11))],
    )
    .csync("2 3 NS A AAAA");
    let signed = sign(&s.keys, &v2);
    // One character of the RRSIG over the apex NS RRset changed.
    let tampered = flip_signature(&signed, "child.example.", "NS");
    s.publish_signed(&signed, 2, &[11]);
    s.publish_signed(&tampered, 2, &[12]);
    let r = s.scan();
    s.assert_outcome(&r, "retry", "127.0.0.12");
    assert!(r.reason.contains("NS"), "{r:#?}");
    s.assert_parent_unchanged("a bogus RRSIG on one server");
}

#[test]
fn an_unsigned_child_changes_nothing() {
    let s = Setup::start(&child_v1(), &[11, 12], true);
    s.publish(&child_v2(), &[11, 12]);
    let r = s.scan();
    s.assert_outcome(&r, "insecure", "no DS");
    s.assert_parent_unchanged("no DS: nothing can be validated");
}

#[test]
fn unknown_flags_and_types_and_two_records_are_not_processed() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    let cases = [
        (
            Child::new(2, &[("ns1", Some(11)), ("ns4", Some(11))]).csync("2 7 NS A AAAA"),
            "unknown flag",
        ),
        (
            Child::new(3, &[("ns1", Some(11)), ("ns4", Some(11))]).csync("3 3 NS A AAAA MX"),
            "MX",
        ),
        (
            Child::new(4, &[("ns1", Some(11)), ("ns4", Some(11))])
                .csync("4 3 NS A AAAA")
                .csync("4 1 NS"),
            "2 CSYNC records",
        ),
    ];
    for (child, why) in cases {
        s.publish(&child, &[11, 12]);
        let r = s.scan();
        s.assert_outcome(&r, "rejected", why);
        s.assert_parent_unchanged(why);
    }
}

#[test]
fn soaminimum_not_met_on_one_server_changes_nothing() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    // Serial 5 announced; .12 still serves serial 4 with the same data.
    let ahead = Child::new(5, &[("ns1", Some(11)), ("ns4", Some(11))]).csync("5 3 NS A AAAA");
    let behind = Child {
        serial: 4,
        ..ahead.clone()
    };
    s.publish(&ahead, &[11]);
    s.publish(&behind, &[12]);
    let r = s.scan();
    s.assert_outcome(&r, "retry", "soaminimum");
    s.assert_parent_unchanged("one server below the CSYNC serial");
    // Without the flag the same servers are good enough.
    let ahead = Child::new(6, &[("ns1", Some(11)), ("ns4", Some(11))]).csync("6 1 NS A AAAA");
    let behind = Child {
        serial: 5,
        ..ahead.clone()
    };
    s.publish(&ahead, &[11]);
    s.publish(&behind, &[12]);
    let r = s.scan();
    s.assert_outcome(&r, "applied", "serial 6");
}

#[test]
fn servers_that_disagree_change_nothing() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    let a = Child::new(2, &[("ns1", Some(11)), ("ns4", Some(11))]).csync("2 3 NS A AAAA");
    let b = Child::new(2, &[("ns1", Some(11)), ("ns5", Some(11))]).csync("2 3 NS A AAAA");
    s.publish(&a, &[11]);
    s.publish(&b, &[12]);
    let r = s.scan();
    s.assert_outcome(&r, "retry", "disagree");
    s.assert_parent_unchanged("two servers, two NS sets");
}

#[test]
fn out_of_bailiwick_names_keep_the_parents_glue() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    // ns2 replaced by the sibling's server; the child cannot speak for
    // its address, so the parent's glue for it stays as it is.
    let v2 =
        Child::new(2, &[("ns1", Some(11)), ("ns.sibling.example.", None)]).csync("2 3 NS A AAAA");
    s.publish(&v2, &[11, 12]);
    let r = s.scan();
    s.assert_outcome(&r, "applied", "serial 2");
    assert!(
        !r.changes
            .iter()
            .any(|c| c.contains("ns.sibling.example. 3600 IN A") || c.starts_with("+ ns.sibling")),
        "{r:#?}"
    );
    assert!(s
        .delegation_at(s.parent.addr())
        .contains("ns.sibling.example."));
    let m = query_udp(
        s.parent.addr(),
        "ns.sibling.example",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert!(format!("{m:?}").contains("127.0.0.11"), "{m:?}");
}

/// A UDP proxy in front of one child server: every query goes to
/// `backend`, except that once armed the third SOA query goes to
/// `other`. The agent asks SOA first, the validated SOA second, and SOA
/// again last, so the last answer comes from a server one serial ahead.
struct SoaSwitch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SoaSwitch {
    fn start(listen: SocketAddr, backend: SocketAddr, other: SocketAddr) -> SoaSwitch {
        let socket = UdpSocket::bind(listen).unwrap_or_else(|e| panic!("{listen}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap_or_else(|e| panic!("{e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let soa_seen = AtomicUsize::new(0);
            let mut buf = [0u8; 4096];
            // Bounded: stops on the flag, and after 10 minutes at most.
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let is_soa = Message::from_vec(&query)
                    .ok()
                    .and_then(|m| {
                        m.queries()
                            .first()
                            .map(|q| q.query_type() == RecordType::SOA)
                    })
                    .unwrap_or(false);
                let to = if is_soa && soa_seen.fetch_add(1, Ordering::SeqCst) == 2 {
                    other
                } else {
                    backend
                };
                if let Ok(answer) = exchange_udp(to, &query) {
                    let _ = socket.send_to(&answer, peer);
                }
            }
        });
        SoaSwitch {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SoaSwitch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_serial_that_moves_during_the_scan_changes_nothing() {
    // The parent names ns1 (.11) and ns2 (.12); .12 is the proxy, whose
    // backend is a real server on .14 at serial 2, and whose third SOA
    // query goes to .11, which serves serial 3 with the same CSYNC.
    let s = Setup::start(&child_v1(), &[11, 14], false);
    let v2 = Child::new(2, &[("ns1", Some(11)), ("ns2", Some(12))]).csync("2 1 NS A AAAA");
    let v3 = Child {
        serial: 3,
        ..v2.clone()
    };
    s.publish(&v3, &[11]);
    s.publish(&v2, &[14]);
    let proxy = SoaSwitch::start(
        SocketAddr::new(lo(12), s.port),
        SocketAddr::new(lo(14), s.port),
        SocketAddr::new(lo(11), s.port),
    );
    let r = s.scan();
    s.assert_outcome(&r, "retry", "moved from 2 to 3");
    s.assert_parent_unchanged("the SOA serial moved mid-scan");
    drop(proxy);
}

#[test]
fn a_child_on_zonesync_notifies_its_parent() {
    // The child's servers send NOTIFY(CSYNC) to the parent's agent when a
    // reload publishes a new CSYNC: the parent follows with no operator.
    let s = Setup::start_with(&child_v1(), &[11, 12], false, true);
    let v2 = Child::new(
        2,
        &[("ns1", Some(11)), ("ns2", Some(12)), ("ns4", Some(11))],
    )
    .csync("2 3 NS A AAAA");
    s.publish(&v2, &[11, 12]);
    assert!(
        wait_until(Duration::from_secs(15), || serial(s.parent.addr())
            == Some(2)),
        "{}",
        s.logs()
    );
    assert!(s
        .delegation_at(s.parent.addr())
        .contains("ns4.child.example."));
    let (_, child) = &s.children[0];
    assert!(
        child.wait_for_log("NOTIFY(CSYNC) answered", Duration::from_secs(5)),
        "{}",
        child.log()
    );
}

#[test]
fn notify_csync_starts_a_scan() {
    let s = Setup::start(&child_v1(), &[11, 12], false);
    let v2 = Child::new(
        2,
        &[("ns1", Some(11)), ("ns2", Some(12)), ("ns4", Some(11))],
    )
    .csync("2 3 NS A AAAA");
    s.publish(&v2, &[11, 12]);
    // RFC 9859: NOTIFY with the child's name and type CSYNC.
    let mut query = build_query(
        "child.example",
        RecordType::CSYNC,
        &QueryOpts::plain().opcode(4),
    );
    // No RD in a NOTIFY.
    query[2] &= !0x01;
    let answer = parse(&exchange_udp(s.parent.addr(), &query).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        answer.response_code(),
        hickory_proto::op::ResponseCode::NoError,
        "{answer:?}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || serial(s.parent.addr())
            == Some(2)),
        "NOTIFY(CSYNC) made the agent scan and apply\n{}",
        s.logs()
    );
    // A child the agent does not follow: REFUSED.
    let query = build_query(
        "sibling.example",
        RecordType::CSYNC,
        &QueryOpts::plain().opcode(4),
    );
    let answer = parse(&exchange_udp(s.parent.addr(), &query).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        answer.response_code(),
        hickory_proto::op::ResponseCode::Refused,
        "{answer:?}"
    );
}
