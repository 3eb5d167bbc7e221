//! Fault tests for the secondary role (issue 4): a zonesync secondary
//! against a scripted primary that answers its SOA queries and transfers
//! badly on purpose (malformed, cut, inconsistent or broken IXFR, wrong
//! TSIG MACs, invalid zones, older serials, a stalled AXFR, silence).
//!
//! Every test first has the secondary take serial 1 by a good AXFR, then
//! offers serial 2 (or more) and misbehaves. Throughout, a watcher queries
//! the secondary for names whose existence differs between serials and
//! checks each answer against the SOA of the same answer: a secondary
//! serving a mix of two versions, or a version never offered in full,
//! fails the test. At the end the secondary's whole zone (AXFR from it) is
//! compared with the expected version.
//!
//! The scripted primary is a UDP thread (SOA queries) and a TCP thread
//! (one connection thread per SOA query or transfer, 2-octet framing) on
//! one 127.0.0.1 port; they stop on a flag (socket timeouts of 50 ms) when
//! it is dropped. Every wait is bounded.

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zonesync::tsig::{check_request, Keys, RequestAuth, SignedRequest, TsigKey};

const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
const KEY_NAME: &str = "xfr-key";

const T_A: u16 = 1;
const T_NS: u16 = 2;
const T_SOA: u16 = 6;
const T_TXT: u16 = 16;
const T_IXFR: u16 = 251;
const T_AXFR: u16 = 252;

// ---------------------------------------------------------------------------
// The zone the scripted primary serves

/// SOA REFRESH, RETRY, EXPIRE (seconds).
type Timers = (u32, u32, u32);

/// REFRESH an hour away (only NOTIFY or `ctl refresh` starts a refresh),
/// RETRY 1 s (with `retry_min = 1`, failures are retried quickly).
const QUIET: Timers = (3600, 1, 1_209_600);

/// Hosts common to every serial (so that an AXFR takes several messages).
const HOSTS: usize = 30;
/// Records per AXFR message.
const PER_MESSAGE: usize = 10;

#[derive(Clone, Debug)]
struct Rec {
    owner: Vec<u8>,
    rtype: u16,
    rdata: Vec<u8>,
}

fn rec(owner: &str, rtype: u16, rdata: Vec<u8>) -> Rec {
    Rec {
        owner: wire_name(owner),
        rtype,
        rdata,
    }
}

fn soa(serial: u32, timers: Timers) -> Rec {
    let mut rdata = wire_name("ns1.example.com");
    rdata.extend(wire_name("hostmaster.example.com"));
    for n in [serial, timers.0, timers.1, timers.2, 300] {
        rdata.extend(n.to_be_bytes());
    }
    rec("example.com", T_SOA, rdata)
}

fn a(owner: &str, last: u8) -> Rec {
    rec(owner, T_A, vec![192, 0, 2, last])
}

fn txt(owner: &str, text: &str) -> Rec {
    let mut rdata = vec![text.len() as u8];
    rdata.extend(text.as_bytes());
    rec(owner, T_TXT, rdata)
}

/// `www A 192.0.2.(10 + serial)`: differs in every serial.
fn www(serial: u32) -> Rec {
    a("www.example.com", 10 + serial as u8)
}

/// `only<serial> TXT`: exists in that serial only.
fn marker(serial: u32) -> Rec {
    txt(
        &format!("only{serial}.example.com"),
        &format!("serial {serial}"),
    )
}

/// The zone at `serial`, SOA first (not repeated).
fn zone_records(serial: u32, timers: Timers) -> Vec<Rec> {
    let mut records = vec![
        soa(serial, timers),
        rec("example.com", T_NS, wire_name("ns1.example.com")),
        a("ns1.example.com", 53),
        www(serial),
        marker(serial),
    ];
    records.extend(
        (1..=HOSTS).map(|i| txt(&format!("host{i}.example.com"), &format!("host number {i}"))),
    );
    records
}

/// The IXFR changeset `from -> from + 1` (RFC 1995 §4 order).
fn changeset(from: u32, timers: Timers) -> Vec<Rec> {
    vec![
        soa(from, timers),
        www(from),
        marker(from),
        soa(from + 1, timers),
        www(from + 1),
        marker(from + 1),
    ]
}

// ---------------------------------------------------------------------------
// Wire format, by hand (so that it can be broken on purpose)

/// The parts of a query the scripted primary looks at.
struct Query {
    id: u16,
    opcode: u8,
    /// The question, name (as sent), type and class.
    question: Vec<u8>,
    qtype: u16,
    /// The serial of the SOA in the authority section (an IXFR query).
    client_serial: Option<u32>,
}

fn u16_at(b: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(pos..pos + 2)?.try_into().ok()?))
}

fn parse_query(b: &[u8]) -> Option<Query> {
    let id = u16_at(b, 0)?;
    let opcode = (b.get(2)? >> 3) & 0x0f;
    if u16_at(b, 4)? != 1 {
        return None;
    }
    let name_end = skip_wire_name(b, 12)?;
    let qtype = u16_at(b, name_end)?;
    let question = b.get(12..name_end + 4)?.to_vec();
    let mut client_serial = None;
    if u16_at(b, 8)? >= 1 {
        // The first authority record: an SOA whose serial follows MNAME
        // and RNAME in its RDATA.
        let pos = skip_wire_name(b, name_end + 4)?;
        if u16_at(b, pos)? == T_SOA {
            let rdata = pos + 10;
            let serial_at = skip_wire_name(b, skip_wire_name(b, rdata)?)?;
            client_serial = Some(u32::from_be_bytes(
                b.get(serial_at..serial_at + 4)?.try_into().ok()?,
            ));
        }
    }
    Some(Query {
        id,
        opcode,
        question,
        qtype,
        client_serial,
    })
}

fn encode_record(out: &mut Vec<u8>, r: &Rec) {
    out.extend(&r.owner);
    out.extend(r.rtype.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out.extend(3600u32.to_be_bytes());
    out.extend((r.rdata.len() as u16).to_be_bytes());
    out.extend(&r.rdata);
}

/// A response to `q`: QR and AA set, the question echoed, `answers`
/// uncompressed.
fn response(q: &Query, rcode: u8, answers: &[Rec]) -> Vec<u8> {
    let flags = 0x8000 | 0x0400 | u16::from(rcode);
    let mut out = header(q.id, flags, 1, answers.len() as u16, 0, 0);
    out.extend(&q.question);
    for r in answers {
        encode_record(&mut out, r);
    }
    out
}

/// Responses of at most [`PER_MESSAGE`] records each.
fn in_messages(q: &Query, records: &[Rec]) -> Vec<Vec<u8>> {
    records
        .chunks(PER_MESSAGE)
        .map(|chunk| response(q, 0, chunk))
        .collect()
}

/// An AXFR answer body: the zone, then its SOA again.
fn axfr_body(mut records: Vec<Rec>) -> Vec<Rec> {
    let closing = records[0].clone();
    records.push(closing);
    records
}

// ---------------------------------------------------------------------------
// The scripted primary

/// How the primary answers an IXFR query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ixfr {
    /// The changesets from the client's serial, in two messages.
    Good,
    /// A header announcing three answers, then garbage.
    Garbage,
    /// The SOA, then a record whose RDLENGTH runs past the message.
    BadRdlength,
    /// The first of two messages, then the connection is closed.
    Cut,
    /// A changeset that also deletes a record the zone never had.
    DeleteMissing,
    /// A changeset from serial 5 to ours + 1 (the chain is broken).
    BrokenChain,
    /// [`Ixfr::Good`], with the MAC of the first message altered.
    BadMac,
    NotImp,
    Refused,
}

/// How the primary answers an AXFR query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Axfr {
    Good,
    /// The MAC of the first message altered.
    BadMac,
    /// The zone plus `evil.example.net A`.
    OutOfZone,
    /// The zone without its apex NS.
    NoApexNs,
    /// Half of the messages, then nothing (the connection held open).
    Stall,
    Refused,
    /// The zone at this serial, whatever the SOA query said.
    Serial(u32),
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    /// The serial of SOA answers and transfers.
    serial: u32,
    /// False: SOA queries get nothing over UDP, and a closed connection
    /// over TCP.
    soa_answers: bool,
    ixfr: Ixfr,
    axfr: Axfr,
}

struct Shared {
    plan: Mutex<Plan>,
    timers: Timers,
    keys: Option<Keys>,
    /// What was asked, in order, with when.
    events: Mutex<Vec<(Instant, String)>>,
    stop: AtomicBool,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn plan(&self) -> Plan {
        *self.plan.lock().unwrap()
    }

    fn event(&self, what: String) {
        self.events.lock().unwrap().push((Instant::now(), what));
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The signer of the answers to a request signed with our key.
    fn signer(&self, request: &[u8]) -> Option<SignedRequest> {
        match check_request(self.keys.as_ref()?, request) {
            RequestAuth::Signed(s) => Some(s),
            _ => None,
        }
    }
}

struct ScriptedPrimary {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What a TCP query gets.
struct Answer {
    messages: Vec<Vec<u8>>,
    /// Messages actually written.
    send: usize,
    /// After them, hold the connection open (until the peer closes it,
    /// the primary stops, or 20 s).
    stall: bool,
    /// Alter the MAC of the first message (after signing).
    bad_mac: bool,
}

impl Answer {
    fn all(messages: Vec<Vec<u8>>) -> Answer {
        Answer {
            send: messages.len(),
            messages,
            stall: false,
            bad_mac: false,
        }
    }
}

impl ScriptedPrimary {
    /// Serves the zone at `serial` with good transfers, signing answers
    /// to requests signed with `key`.
    fn start(serial: u32, timers: Timers, key: Option<TsigKey>) -> ScriptedPrimary {
        let keys = key.map(|k| Keys::new([k]).expect("keys"));
        for _ in 0..50 {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
            let addr = listener.local_addr().expect("local addr");
            let Ok(udp) = UdpSocket::bind(addr) else {
                continue;
            };
            let shared = Arc::new(Shared {
                plan: Mutex::new(Plan {
                    serial,
                    soa_answers: true,
                    ixfr: Ixfr::Good,
                    axfr: Axfr::Good,
                }),
                timers,
                keys,
                events: Mutex::new(Vec::new()),
                stop: AtomicBool::new(false),
                connections: Mutex::new(Vec::new()),
            });
            let (s1, s2) = (shared.clone(), shared.clone());
            let threads = vec![
                std::thread::spawn(move || serve_udp(udp, &s1)),
                std::thread::spawn(move || serve_tcp(listener, &s2)),
            ];
            return ScriptedPrimary {
                addr,
                shared,
                threads,
            };
        }
        panic!("no loopback port free for both TCP and UDP");
    }

    fn set(&self, change: impl FnOnce(&mut Plan)) {
        change(&mut self.shared.plan.lock().unwrap());
    }

    fn events(&self) -> Vec<String> {
        let events = self.shared.events.lock().unwrap();
        events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Events starting with `prefix`, with when they happened.
    fn times_of(&self, prefix: &str) -> Vec<Instant> {
        let events = self.shared.events.lock().unwrap();
        events
            .iter()
            .filter(|(_, e)| e.starts_with(prefix))
            .map(|(t, _)| *t)
            .collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.times_of(prefix).len()
    }
}

impl Drop for ScriptedPrimary {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let connections: Vec<_> = self.shared.connections.lock().unwrap().drain(..).collect();
        for c in connections {
            let _ = c.join();
        }
    }
}

fn serve_udp(socket: UdpSocket, shared: &Shared) {
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 65535];
    while !shared.stopping() {
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let bytes = &buf[..n];
        let Some(q) = parse_query(bytes) else {
            continue;
        };
        if q.opcode != 0 || q.qtype != T_SOA {
            continue;
        }
        let plan = shared.plan();
        if !plan.soa_answers {
            shared.event("SOA/udp ignored".into());
            continue;
        }
        let mut signer = shared.signer(bytes);
        shared.event(format!(
            "SOA/udp{}",
            if signer.is_some() { " signed" } else { "" }
        ));
        let mut answer = response(&q, 0, &[soa(plan.serial, shared.timers)]);
        if let Some(s) = signer.as_mut() {
            s.sign_response(&mut answer).expect("sign");
        }
        let _ = socket.send_to(&answer, peer);
    }
}

fn serve_tcp(listener: TcpListener, shared: &Arc<Shared>) {
    listener.set_nonblocking(true).expect("nonblocking");
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                let s = shared.clone();
                let handle = std::thread::spawn(move || serve_connection(stream, &s));
                shared.connections.lock().unwrap().push(handle);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    let mut len = [0u8; 2];
    if stream.read_exact(&mut len).is_err() {
        return;
    }
    let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if stream.read_exact(&mut bytes).is_err() {
        return;
    }
    let Some(q) = parse_query(&bytes) else {
        return;
    };
    let mut signer = shared.signer(&bytes);
    let signed = if signer.is_some() { " signed" } else { "" };
    let plan = shared.plan();
    let answer = match q.qtype {
        T_SOA if plan.soa_answers => {
            shared.event("SOA/tcp".into());
            Answer::all(vec![response(&q, 0, &[soa(plan.serial, shared.timers)])])
        }
        T_SOA => {
            shared.event("SOA/tcp ignored".into());
            return;
        }
        T_IXFR => {
            shared.event(format!("IXFR from {:?}{signed}", q.client_serial));
            ixfr_answer(&q, &plan, shared.timers)
        }
        T_AXFR => {
            shared.event(format!("AXFR{signed}"));
            axfr_answer(&q, &plan, shared.timers)
        }
        _ => return,
    };
    let mut messages = answer.messages;
    if let Some(s) = signer.as_mut() {
        for m in messages.iter_mut() {
            // A message made unparsable on purpose stays unsigned.
            let _ = s.sign_response(m);
        }
    }
    if answer.bad_mac {
        // The last octet of the MAC: the TSIG RDATA ends with the
        // original id, the error and an empty other-data length.
        let m = &mut messages[0];
        let at = m.len() - 7;
        m[at] ^= 0xff;
    }
    for m in messages.iter().take(answer.send) {
        let mut framed = (m.len() as u16).to_be_bytes().to_vec();
        framed.extend(m);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
    let _ = stream.flush();
    if answer.stall {
        shared.event("stalled".into());
        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 512];
        while !shared.stopping() && Instant::now() < deadline {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        shared.event("stall ended".into());
    }
}

fn ixfr_answer(q: &Query, plan: &Plan, t: Timers) -> Answer {
    let to = plan.serial;
    let from = q.client_serial.unwrap_or(0);
    let good = || {
        if from >= to {
            return vec![response(q, 0, &[soa(to, t)])];
        }
        let mut first = vec![soa(to, t)];
        first.extend((from..to).flat_map(|s| changeset(s, t)));
        vec![response(q, 0, &first), response(q, 0, &[soa(to, t)])]
    };
    match plan.ixfr {
        Ixfr::Good => Answer::all(good()),
        Ixfr::BadMac => Answer {
            bad_mac: true,
            ..Answer::all(good())
        },
        Ixfr::Garbage => {
            let mut m = header(q.id, 0x8400, 1, 3, 0, 0);
            m.extend(&q.question);
            m.extend([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xc0, 0xff, 0x3f]);
            Answer::all(vec![m])
        }
        Ixfr::BadRdlength => {
            let mut m = header(q.id, 0x8400, 1, 2, 0, 0);
            m.extend(&q.question);
            encode_record(&mut m, &soa(to, t));
            m.extend(wire_name("www.example.com"));
            m.extend(T_A.to_be_bytes());
            m.extend(1u16.to_be_bytes());
            m.extend(3600u32.to_be_bytes());
            m.extend(200u16.to_be_bytes());
            m.extend([192, 0, 2, 1]);
            Answer::all(vec![m])
        }
        Ixfr::Cut => {
            let first = [soa(to, t), soa(from, t), www(from), marker(from)];
            let second = [
                soa(from + 1, t),
                www(from + 1),
                marker(from + 1),
                soa(to, t),
            ];
            Answer {
                send: 1,
                ..Answer::all(vec![response(q, 0, &first), response(q, 0, &second)])
            }
        }
        Ixfr::DeleteMissing => {
            let records = [
                soa(to, t),
                soa(from, t),
                www(from),
                marker(from),
                a("ghost.example.com", 99),
                soa(to, t),
                www(to),
                marker(to),
                soa(to, t),
            ];
            Answer::all(vec![response(q, 0, &records)])
        }
        Ixfr::BrokenChain => {
            let records = [
                soa(to, t),
                soa(5, t),
                www(from),
                marker(from),
                soa(to, t),
                www(to),
                marker(to),
                soa(to, t),
            ];
            Answer::all(vec![response(q, 0, &records)])
        }
        Ixfr::NotImp => Answer::all(vec![response(q, 4, &[])]),
        Ixfr::Refused => Answer::all(vec![response(q, 5, &[])]),
    }
}

fn axfr_answer(q: &Query, plan: &Plan, t: Timers) -> Answer {
    let zone = |serial| in_messages(q, &axfr_body(zone_records(serial, t)));
    match plan.axfr {
        Axfr::Good => Answer::all(zone(plan.serial)),
        Axfr::Serial(serial) => Answer::all(zone(serial)),
        Axfr::BadMac => Answer {
            bad_mac: true,
            ..Answer::all(zone(plan.serial))
        },
        Axfr::OutOfZone => {
            let mut records = zone_records(plan.serial, t);
            records.insert(3, a("evil.example.net", 66));
            Answer::all(in_messages(q, &axfr_body(records)))
        }
        Axfr::NoApexNs => {
            let mut records = zone_records(plan.serial, t);
            records.retain(|r| r.rtype != T_NS);
            Answer::all(in_messages(q, &axfr_body(records)))
        }
        Axfr::Stall => {
            let messages = zone(plan.serial);
            Answer {
                send: messages.len() / 2,
                stall: true,
                ..Answer::all(messages)
            }
        }
        Axfr::Refused => Answer::all(vec![response(q, 5, &[])]),
    }
}

// ---------------------------------------------------------------------------
// The secondary

fn key() -> TsigKey {
    TsigKey::from_config(KEY_NAME, "hmac-sha256", SECRET).expect("key")
}

/// A zonesync secondary of `primary` for example.com, with `extra` lines
/// in `[server]`.
fn start_secondary(primary: &ScriptedPrimary, signed: bool, extra: &str) -> Server {
    let (key_table, key_ref) = if signed {
        (
            format!("[[key]]\nname = \"{KEY_NAME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\n"),
            format!(", key = \"{KEY_NAME}\""),
        )
    } else {
        (String::new(), String::new())
    };
    let config = format!(
        "[server]\nudp_workers = 1\nretry_min = 1\nrefresh_min = 1\n{extra}\n{key_table}\
         [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"{}\"{key_ref} }}]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        primary.addr
    );
    Server::start(&config, &[])
}

/// The scripted primary at serial 1 and a secondary that has taken it by
/// AXFR (checked record by record).
fn setup(timers: Timers, signed: bool, extra: &str) -> (ScriptedPrimary, Server) {
    let p = ScriptedPrimary::start(1, timers, signed.then(key));
    let s = start_secondary(&p, signed, extra);
    wait_serial(&s, 1, Duration::from_secs(10), &p);
    assert_zone(&s, 1, timers);
    assert_eq!(p.count("AXFR"), 1, "{:?}", p.events());
    (p, s)
}

/// The serial the secondary answers with, if it answers with one.
fn served(addr: SocketAddr) -> Option<u32> {
    let m = try_query_udp(
        addr,
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain(),
        Duration::from_secs(1),
    )
    .ok()?;
    match m.answers().first().and_then(|a| a.data()) {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    }
}

fn rcode_of_soa(addr: SocketAddr) -> Option<ResponseCode> {
    try_query_udp(
        addr,
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain(),
        Duration::from_secs(1),
    )
    .ok()
    .map(|m| m.response_code())
}

fn wait_serial(s: &Server, serial: u32, within: Duration, p: &ScriptedPrimary) {
    wait_serial_at(s.addr(), "example.com", serial, within, || {
        format!("primary saw {:?}\n{}", p.events(), s.log())
    });
}

/// Sends a NOTIFY (RFC 1996) for example.com from 127.0.0.1, the
/// primary's address; it must be answered NOERROR.
fn notify(s: &Server) {
    let mut q = build_query(
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain().opcode(4),
    );
    q[2] |= 0x04; // AA
    let answer = exchange_udp(s.addr(), &q).unwrap_or_else(|e| panic!("NOTIFY: {e}"));
    assert_eq!(
        header_rcode_of(&answer),
        0,
        "NOTIFY not accepted\n{}",
        s.log()
    );
}

/// `zonesync ctl --control ADDR refresh example.com`.
fn ctl_refresh(control: SocketAddr) {
    let mut cmd = zonesync();
    cmd.args(["ctl", "--control", &control.to_string()])
        .args(["refresh", "example.com"]);
    let out = run_with_timeout(cmd, Duration::from_secs(10)).expect("ctl refresh");
    assert!(
        out.status.success(),
        "ctl refresh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lines of the secondary's log holding `needle`.
fn log_lines(s: &Server, needle: &str) -> Vec<String> {
    s.log()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Waits until `needle` is in the log `n` times or more.
fn wait_log_count(s: &Server, needle: &str, n: usize, within: Duration) {
    let ok = wait_until(within, || s.log().matches(needle).count() >= n);
    assert!(
        ok,
        "{needle:?} not logged {n} times within {within:?}\n{}",
        s.log()
    );
}

/// Prints what the secondary logged about its refreshes (shown with
/// `--nocapture`).
fn show(test: &str, s: &Server) {
    let lines: Vec<String> = s
        .log()
        .lines()
        .filter(|l| {
            ["refresh", "IXFR", "AXFR", "EXPIRED", "restored", "expired"]
                .iter()
                .any(|k| l.contains(k))
        })
        .map(str::to_owned)
        .collect();
    eprintln!("=== {test}: secondary log ===\n{}", lines.join("\n"));
}

// ---------------------------------------------------------------------------
// What the secondary serves

/// A record as text, for comparing zones.
fn record_text(r: &hickory_proto::rr::Record) -> String {
    r.to_string().to_ascii_lowercase()
}

/// The zone at `serial`, as [`record_text`] lines, sorted.
fn expected_zone(serial: u32, timers: Timers) -> Vec<String> {
    let q = Query {
        id: 1,
        opcode: 0,
        question: {
            let mut b = wire_name("example.com");
            b.extend(T_AXFR.to_be_bytes());
            b.extend(1u16.to_be_bytes());
            b
        },
        qtype: T_AXFR,
        client_serial: None,
    };
    let bytes = response(&q, 0, &zone_records(serial, timers));
    let message = Message::from_vec(&bytes).expect("our own zone parses");
    let mut lines: Vec<String> = message.answers().iter().map(record_text).collect();
    lines.sort();
    lines
}

/// The secondary's zone, by AXFR from it, as sorted [`record_text`] lines
/// (the closing SOA left out).
fn axfr_from(addr: SocketAddr) -> Result<Vec<String>, String> {
    let q = build_query("example.com", RecordType::AXFR, &QueryOpts::plain());
    let mut conn = TcpConn::connect_timeout(addr, Duration::from_secs(3))?;
    conn.send(&q)?;
    let mut lines = Vec::new();
    let mut soas = 0;
    for _ in 0..100 {
        let Some(bytes) = conn.recv()? else {
            break;
        };
        let m = Message::from_vec(&bytes).map_err(|e| e.to_string())?;
        if m.response_code() != ResponseCode::NoError {
            return Err(format!("AXFR answered {}", m.response_code()));
        }
        for r in m.answers() {
            if r.record_type() == RecordType::SOA {
                soas += 1;
                if soas == 2 {
                    lines.sort();
                    return Ok(lines);
                }
            }
            lines.push(record_text(r));
        }
    }
    Err(format!("AXFR incomplete after {} records", lines.len()))
}

/// The secondary serves exactly the zone at `serial`.
fn assert_zone(s: &Server, serial: u32, timers: Timers) {
    let got = axfr_from(s.addr()).unwrap_or_else(|e| panic!("{e}\n{}", s.log()));
    assert_eq!(
        got,
        expected_zone(serial, timers),
        "the secondary's zone is not exactly serial {serial}"
    );
}

/// Queries the secondary without pause for `only<k>.example.com A` (no such
/// type at that name: NODATA where it exists, NXDOMAIN where not; the SOA
/// in the authority section says which version answered) and records
/// every answer that is not that of a complete version among `allowed`.
struct Watch {
    stop: Arc<AtomicBool>,
    /// Answers checked so far.
    checked: Arc<AtomicUsize>,
    handle: Option<JoinHandle<Vec<String>>>,
}

/// Answers a [`Watch`] checks at least, before and after the events.
const MIN_CHECKS: usize = 10;

impl Watch {
    /// Starts the watcher and waits for its first checks.
    fn start(addr: SocketAddr, allowed: &'static [u32], servfail_ok: bool) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let checked = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), checked.clone());
        let handle = std::thread::spawn(move || {
            let mut bad = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut k = 0;
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                k += 1;
                let marker = 1 + k % 3;
                match check_once(addr, marker, allowed, servfail_ok) {
                    Ok(true) => {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(false) => {}
                    Err(e) if bad.len() < 20 => bad.push(e),
                    Err(_) => {}
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            bad
        });
        let watch = Watch {
            stop,
            checked,
            handle: Some(handle),
        };
        watch.wait_checks(MIN_CHECKS);
        watch
    }

    fn wait_checks(&self, n: usize) {
        let ok = wait_until(Duration::from_secs(10), || {
            self.checked.load(Ordering::SeqCst) >= n
        });
        assert!(
            ok,
            "the watcher checked only {} answers",
            self.checked.load(Ordering::SeqCst)
        );
    }

    /// Lets the watcher check a few more answers, stops it, and panics on
    /// any bad answer it saw.
    fn finish(mut self, s: &Server) {
        let more = self.checked.load(Ordering::SeqCst) + MIN_CHECKS;
        self.wait_checks(more);
        self.stop.store(true, Ordering::SeqCst);
        let bad = self.handle.take().unwrap().join().expect("watcher");
        assert!(
            bad.is_empty(),
            "the secondary served a version it should not have: {bad:#?}\n{}",
            s.log()
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One check: `Ok(false)` when no answer came (not an error: a restart).
fn check_once(
    addr: SocketAddr,
    marker: u32,
    allowed: &[u32],
    servfail_ok: bool,
) -> Result<bool, String> {
    let name = format!("only{marker}.example.com");
    let Ok(m) = try_query_udp(
        addr,
        &name,
        RecordType::A,
        &QueryOpts::plain(),
        Duration::from_millis(500),
    ) else {
        return Ok(false);
    };
    let exists = match m.response_code() {
        ResponseCode::NoError => true,
        ResponseCode::NXDomain => false,
        ResponseCode::ServFail if servfail_ok => return Ok(true),
        _ => return Err(format!("{name} A: {}", describe(&m))),
    };
    if !m.answers().is_empty() {
        return Err(format!("{name} A has an answer: {}", describe(&m)));
    }
    let serial = m.name_servers().iter().find_map(|r| match r.data() {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    });
    let Some(serial) = serial else {
        return Err(format!("{name} A: no SOA in authority: {}", describe(&m)));
    };
    if !allowed.contains(&serial) {
        return Err(format!(
            "{name} A answered from serial {serial}, not one of {allowed:?}"
        ));
    }
    if exists != (serial == marker) {
        return Err(format!(
            "torn version: {name} {} at serial {serial}",
            if exists { "exists" } else { "is missing" }
        ));
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// Tests

/// Offers serial 2 with IXFR answered as `ixfr` and a good AXFR: the
/// secondary must end at exactly serial 2, by AXFR, logging `why`.
fn bad_ixfr_then_good_axfr(test: &str, ixfr: Ixfr, why: &str) {
    let (p, s) = setup(QUIET, false, "");
    let watch = Watch::start(s.addr(), &[1, 2], false);
    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = ixfr;
    });
    notify(&s);
    wait_serial(&s, 2, Duration::from_secs(10), &p);
    // The summary line is written after the version is published.
    assert!(s.wait_for_log(why, Duration::from_secs(5)), "{}", s.log());
    assert!(
        s.wait_for_log("AXFR 1 -> 2", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    watch.finish(&s);
    assert_zone(&s, 2, QUIET);
    assert_eq!(
        p.events()
            .into_iter()
            .filter(|e| !e.starts_with("SOA"))
            .collect::<Vec<_>>(),
        ["AXFR", "IXFR from Some(1)", "AXFR"],
        "one IXFR, then one AXFR"
    );
    show(test, &s);
}

/// Case 1: IXFR answered with garbage after the header, then (serial 3)
/// with a record whose RDLENGTH runs past the message: AXFR each time.
#[test]
fn malformed_ixfr_falls_back_to_axfr() {
    let (p, s) = setup(QUIET, false, "");
    let watch = Watch::start(s.addr(), &[1, 2, 3], false);
    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = Ixfr::Garbage;
    });
    notify(&s);
    wait_serial(&s, 2, Duration::from_secs(10), &p);
    wait_log_count(&s, "IXFR failed", 1, Duration::from_secs(5));

    p.set(|plan| {
        plan.serial = 3;
        plan.ixfr = Ixfr::BadRdlength;
    });
    notify(&s);
    wait_serial(&s, 3, Duration::from_secs(10), &p);
    wait_log_count(&s, "IXFR failed", 2, Duration::from_secs(5));
    watch.finish(&s);
    assert_zone(&s, 3, QUIET);
    assert_eq!(p.count("IXFR from Some(1)"), 1, "{:?}", p.events());
    assert_eq!(p.count("IXFR from Some(2)"), 1, "{:?}", p.events());
    assert_eq!(p.count("AXFR"), 3, "{:?}", p.events());
    show("malformed IXFR", &s);
}

/// Case 2: the IXFR connection is closed after the first of two messages.
#[test]
fn ixfr_cut_in_the_middle_falls_back_to_axfr() {
    bad_ixfr_then_good_axfr("IXFR cut", Ixfr::Cut, "IXFR failed");
}

/// Case 3: the IXFR deletes a record the zone does not have.
#[test]
fn ixfr_that_does_not_apply_falls_back_to_axfr() {
    bad_ixfr_then_good_axfr(
        "IXFR deleting a missing record",
        Ixfr::DeleteMissing,
        "IXFR does not apply",
    );
}

/// Case 4: the IXFR's changeset starts at serial 5, not at ours.
#[test]
fn ixfr_with_a_broken_chain_falls_back_to_axfr() {
    bad_ixfr_then_good_axfr("IXFR broken chain", Ixfr::BrokenChain, "IXFR failed");
}

/// Case 5: with TSIG, wrong MACs on both transfers: the refresh fails and
/// is retried within seconds, serial 1 stays; then a good AXFR (the IXFR
/// still wrong) brings serial 2.
#[test]
fn tsig_wrong_mac_on_transfers() {
    let (p, s) = setup(QUIET, true, "");
    assert!(
        p.events().iter().any(|e| e == "AXFR signed"),
        "{:?}",
        p.events()
    );
    let watch = Watch::start(s.addr(), &[1, 2], false);
    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = Ixfr::BadMac;
        plan.axfr = Axfr::BadMac;
    });
    notify(&s);
    wait_log_count(&s, "refresh failed", 2, Duration::from_secs(8));
    let tries = p.times_of("IXFR from Some(1) signed");
    assert!(tries.len() >= 2, "{:?}", p.events());
    let gap = tries[1] - tries[0];
    assert!(
        gap < Duration::from_secs(4),
        "RETRY 1 s: the second attempt came after {gap:?}"
    );
    assert_eq!(served(s.addr()), Some(1), "{}", s.log());
    assert_zone(&s, 1, QUIET);

    p.set(|plan| plan.axfr = Axfr::Good);
    wait_serial(&s, 2, Duration::from_secs(10), &p);
    assert!(
        s.wait_for_log("IXFR failed", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    watch.finish(&s);
    assert_zone(&s, 2, QUIET);
    let failed = log_lines(&s, "refresh failed");
    assert!(
        failed[0].contains("TSIG") || failed[0].contains("BADSIG"),
        "the failure names TSIG: {failed:?}"
    );
    show("TSIG wrong MAC", &s);
}

/// Case 6: an AXFR with an out-of-zone record, then one without NS at the
/// apex: both rejected, serial 1 stays.
#[test]
fn invalid_axfr_is_rejected() {
    let control = free_addr();
    let (p, s) = setup(QUIET, false, &format!("control = \"{control}\"\n"));
    let watch = Watch::start(s.addr(), &[1], false);
    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = Ixfr::NotImp;
        plan.axfr = Axfr::OutOfZone;
    });
    notify(&s);
    wait_log_count(&s, "refresh failed", 1, Duration::from_secs(8));
    assert!(
        log_lines(&s, "refresh failed")[0].contains("out-of-zone record evil.example.net"),
        "{}",
        s.log()
    );

    p.set(|plan| plan.axfr = Axfr::NoApexNs);
    let axfrs = p.count("AXFR");
    ctl_refresh(control);
    let ok = wait_until(Duration::from_secs(8), || {
        p.count("AXFR") > axfrs
            && log_lines(&s, "refresh failed")
                .iter()
                .any(|l| l.contains("not valid"))
    });
    assert!(ok, "{:?}\n{}", p.events(), s.log());
    watch.finish(&s);
    assert_eq!(served(s.addr()), Some(1));
    assert_zone(&s, 1, QUIET);
    show("invalid AXFR", &s);
}

/// Case 7: a primary with an older serial (SOA and AXFR at 0) never rolls
/// the zone back, nor does one whose SOA says 2 but whose AXFR holds 0.
#[test]
fn older_serial_never_rolls_back() {
    let control = free_addr();
    let (p, s) = setup(QUIET, false, &format!("control = \"{control}\"\n"));
    let watch = Watch::start(s.addr(), &[1], false);
    p.set(|plan| plan.serial = 0);
    notify(&s);
    wait_log_count(&s, "up to date at serial 1", 1, Duration::from_secs(5));
    ctl_refresh(control);
    wait_log_count(&s, "up to date at serial 1", 2, Duration::from_secs(5));
    assert_eq!(p.count("IXFR"), 0, "{:?}", p.events());
    assert_eq!(p.count("AXFR"), 1, "{:?}", p.events());

    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = Ixfr::NotImp;
        plan.axfr = Axfr::Serial(0);
    });
    notify(&s);
    wait_log_count(&s, "refresh failed", 1, Duration::from_secs(8));
    assert!(
        log_lines(&s, "refresh failed")[0].contains("not rolling back"),
        "{}",
        s.log()
    );
    watch.finish(&s);
    assert_eq!(served(s.addr()), Some(1));
    assert_zone(&s, 1, QUIET);
    show("older serial", &s);
}

/// Case 8: kill -9 in the middle of a slow AXFR of serial 2: after the
/// restart serial 1 is served at once, complete, before any transfer.
#[test]
fn kill9_during_a_slow_axfr_keeps_serial_1() {
    let (p, mut s) = setup(QUIET, false, "");
    // Unanswered queries (while the process restarts) are not checked.
    let watch = Watch::start(s.addr(), &[1], false);
    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = Ixfr::NotImp;
        plan.axfr = Axfr::Stall;
    });
    notify(&s);
    assert!(
        wait_until(Duration::from_secs(10), || p.count("stalled") == 1),
        "{:?}\n{}",
        p.events(),
        s.log()
    );
    assert_eq!(served(s.addr()), Some(1), "half an AXFR changes nothing");
    // After the restart, no transfer can succeed.
    p.set(|plan| {
        plan.ixfr = Ixfr::Refused;
        plan.axfr = Axfr::Refused;
    });
    s.restart(true);
    assert_eq!(
        served(s.addr()),
        Some(1),
        "serial 1 served at once after kill -9\n{}",
        s.log()
    );
    assert_zone(&s, 1, QUIET);
    assert!(s.log().contains("restored from disk"), "{}", s.log());
    assert!(
        wait_until(Duration::from_secs(5), || p.count("stall ended") == 1),
        "the stalled connection closed with the process"
    );
    watch.finish(&s);

    // And it goes on: a good AXFR brings serial 2.
    let watch = Watch::start(s.addr(), &[1, 2], false);
    p.set(|plan| plan.axfr = Axfr::Good);
    notify(&s);
    wait_serial(&s, 2, Duration::from_secs(10), &p);
    watch.finish(&s);
    assert_zone(&s, 2, QUIET);
    show("kill -9 during AXFR", &s);
}

/// Case 9: EXPIRE 4 s, the primary goes silent: SERVFAIL; still SERVFAIL
/// after a restart (the copy on disk expired); serving again once the
/// primary answers.
#[test]
fn expired_stays_expired_across_a_restart() {
    let timers = (1, 1, 4);
    let (p, mut s) = setup(timers, false, "");
    let watch = Watch::start(s.addr(), &[1], true);
    p.set(|plan| plan.soa_answers = false);
    let servfail = wait_until(Duration::from_secs(15), || {
        rcode_of_soa(s.addr()) == Some(ResponseCode::ServFail)
    });
    assert!(servfail, "EXPIRE 4 s passed: SERVFAIL\n{}", s.log());
    assert!(s.log().contains("EXPIRED"), "{}", s.log());

    s.restart(true);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        let m = query_udp(
            s.addr(),
            "www.example.com",
            RecordType::A,
            &QueryOpts::plain(),
        );
        assert_eq!(
            m.response_code(),
            ResponseCode::ServFail,
            "an expired copy must not be served after a restart: {}\n{}",
            describe(&m),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        s.log().contains("expired while stopped"),
        "{}",
        log_lines(&s, "restored").join("\n")
    );

    p.set(|plan| plan.soa_answers = true);
    notify(&s);
    wait_serial(&s, 1, Duration::from_secs(15), &p);
    watch.finish(&s);
    assert_zone(&s, 1, timers);
    show("expired across restart", &s);
}

/// EXPIRE is kept while a refresh hangs: a primary that answers the SOA
/// query but stalls the AXFR must not keep the copy served past EXPIRE.
#[test]
fn expiry_is_not_postponed_by_a_stalled_transfer() {
    let timers = (1, 1, 4);
    let (p, s) = setup(timers, false, "xfr_in_timeout = 60\n");
    p.set(|plan| {
        plan.serial = 2;
        plan.ixfr = Ixfr::NotImp;
        plan.axfr = Axfr::Stall;
    });
    assert!(
        wait_until(Duration::from_secs(5), || p.count("stalled") == 1),
        "{:?}\n{}",
        p.events(),
        s.log()
    );
    let stalled = Instant::now();
    // The last refresh succeeded at most ~2 s before the stall began.
    let servfail = wait_until(Duration::from_secs(8), || {
        rcode_of_soa(s.addr()) == Some(ResponseCode::ServFail)
    });
    assert!(
        servfail,
        "EXPIRE (4 s) passed while an AXFR was stalled, yet the copy is still \
         served {:?} after the stall began (serving {:?}); primary saw {:?}\n{}",
        stalled.elapsed(),
        served(s.addr()),
        p.events(),
        s.log()
    );
    show("expiry during a stalled transfer", &s);
}
