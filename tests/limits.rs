//! Per-client and global limits (issue 18), on the real binary over
//! loopback:
//!
//! - `tcp_max_connections_per_client`: one address at its cap has further
//!   connections closed at accept, while a second address (127.0.0.2)
//!   still connects and is answered; a slot given back is usable again;
//!   the refusals are logged once and counted in `/metrics`.
//! - `transfer_limit_per_client`: with a cap of 1, a second AXFR from an
//!   address whose first is still streaming gets SERVFAIL, while another
//!   address transfers the zone.
//! - NOTIFY flood: a zonesync secondary of a scripted primary (UDP SOA,
//!   TCP AXFR/IXFR, every request counted) gets 10,000 NOTIFYs for the
//!   zone from the primary's address; the primary sees a handful of SOA
//!   queries, the secondary answers throughout and still follows a real
//!   change announced afterwards.
//!
//! Every socket has a timeout and every loop is bounded in count and time.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A TCP connection to `to` from `src` (any port), with a receive buffer
/// of `rcvbuf` octets when given (set before the connection, so the
/// window stays small), and 5 s timeouts.
fn connect_from(src: IpAddr, to: SocketAddr, rcvbuf: Option<usize>) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n)?;
    }
    s.bind(&SocketAddr::new(src, 0).into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(2))?;
    let stream: TcpStream = s.into();
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

/// Sends one DNS message with its 2-octet length.
fn send_framed(stream: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    stream.write_all(&framed)
}

/// Reads one DNS message; `Ok(None)` when the peer closed.
fn read_framed(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg)?;
    Ok(Some(msg))
}

/// A query on `stream` answered NOERROR.
fn answered(stream: &mut TcpStream, name: &str) -> Result<(), String> {
    let q = build_query(name, RecordType::SOA, &QueryOpts::plain());
    send_framed(stream, &q).map_err(|e| format!("send: {e}"))?;
    match read_framed(stream) {
        Ok(Some(a)) if header_rcode_of(&a) == 0 => Ok(()),
        Ok(Some(a)) => Err(format!("rcode {}", rcode_name(header_rcode_of(&a)))),
        Ok(None) => Err("closed".into()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Whether the server closed `stream` without answering a query on it
/// (EOF or reset) within the read timeout.
fn closed_without_answer(stream: &mut TcpStream) -> Result<(), String> {
    let q = build_query("example.com", RecordType::SOA, &QueryOpts::plain());
    // The send itself may already fail on a reset connection.
    let _ = send_framed(stream, &q);
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(())
        }
        Ok(n) => Err(format!("answered ({n} octets)")),
        Err(e) => Err(format!("not closed: {e}")),
    }
}

/// The value of `zonesync_limit_hits_total{limit="<limit>"}` at the
/// control interface `control`.
fn limit_hits(control: SocketAddr, limit: &str) -> u64 {
    let (code, text) = http_get(control, "/metrics");
    assert_eq!(code, 200, "{text}");
    let prefix = format!("zonesync_limit_hits_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
}

fn primary_config(extra: &str, control: SocketAddr) -> String {
    format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n{extra}\n\
         [[zone]]\nname = \"example.com\"\nfile = \"example.com.zone\"\nrole = \"primary\"\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n"
    )
}

#[test]
fn tcp_connections_over_the_per_client_cap_are_closed_while_another_client_connects() {
    const CAP: usize = 4;
    const EXTRA: usize = 6;
    let control = free_addr();
    let zone = hosts_a_zone("example.com", 1, 10);
    let s = Server::start(
        &primary_config(&format!("tcp_max_connections_per_client = {CAP}"), control),
        &[("example.com.zone", &zone)],
    );
    assert!(
        s.wait_for_log("control interface listening", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    // The start-up check's connections are closed; wait until the server
    // has seen them go (bounded), then take the cap.
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while held.len() < CAP && Instant::now() < deadline {
        let mut c = connect_from(LOCAL, s.addr(), None).expect("connect");
        if answered(&mut c, "example.com").is_ok() {
            held.push(c);
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(
        held.len(),
        CAP,
        "{CAP} connections from 127.0.0.1 answered\n{}",
        s.log()
    );

    // Over the cap: closed at accept, quickly.
    for i in 0..EXTRA {
        let t0 = Instant::now();
        let mut c = connect_from(LOCAL, s.addr(), None).expect("connect (the kernel accepts)");
        if let Err(e) = closed_without_answer(&mut c) {
            panic!(
                "connection {} from 127.0.0.1: {e}\n{}",
                CAP + i + 1,
                s.log()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "closed after {:?}",
            t0.elapsed()
        );
    }

    // Another client still connects and is answered.
    let mut other = connect_from(OTHER, s.addr(), None).expect("connect from 127.0.0.2");
    answered(&mut other, "example.com")
        .unwrap_or_else(|e| panic!("127.0.0.2 not answered: {e}\n{}", s.log()));
    // The held ones still work.
    for c in &mut held {
        answered(c, "www.example.com").expect("a held connection still answered");
    }

    assert_eq!(
        limit_hits(control, "tcp_connections_per_client"),
        EXTRA as u64
    );
    assert_eq!(limit_hits(control, "tcp_connections"), 0);

    // A slot given back is usable again (the close is seen asynchronously).
    drop(held.pop());
    let again = wait_until(Duration::from_secs(5), || {
        connect_from(LOCAL, s.addr(), None)
            .map(|mut c| answered(&mut c, "example.com").is_ok())
            .unwrap_or(false)
    });
    assert!(
        again,
        "127.0.0.1 connects again after closing one\n{}",
        s.log()
    );

    // Logged once (one line per 10 s), counted each time.
    let log = s.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("tcp_max_connections_per_client open from this client"))
        .count();
    assert_eq!(lines, 1, "one warning for {EXTRA} refusals\n{log}");
    assert!(log.contains("client=127.0.0.1"), "{log}");
}

/// Reads one AXFR to its end on `stream`: the records, or the rcode of a
/// refusal. Bounded by the stream's read timeout and 30 s in all.
fn read_axfr(stream: &mut TcpStream) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut records, mut soas) = (0usize, 0usize);
    while Instant::now() < deadline {
        let msg = read_framed(stream)
            .map_err(|e| format!("read: {e}"))?
            .ok_or("closed mid-transfer")?;
        let m = parse(&msg);
        if m.response_code() != ResponseCode::NoError {
            return Err(format!("rcode {}", m.response_code()));
        }
        records += m.answers().len();
        soas += of_type(m.answers(), RecordType::SOA).len();
        if soas >= 2 {
            return Ok(records);
        }
    }
    Err("not done within 30 s".into())
}

fn axfr_request(stream: &mut TcpStream) {
    let q = build_query("example.com", RecordType::AXFR, &QueryOpts::plain());
    send_framed(stream, &q).expect("send AXFR");
}

#[test]
fn a_second_concurrent_transfer_to_one_client_is_refused_while_another_client_transfers() {
    const HOSTS: usize = 100_000;
    let control = free_addr();
    let zone = hosts_a_zone("example.com", 1, HOSTS);
    let opts = StartOptions {
        ready_timeout: Duration::from_secs(60),
        ..StartOptions::default()
    };
    let s = Server::start_with(
        &primary_config("transfer_limit_per_client = 1", control),
        &[("example.com.zone", &zone)],
        &opts,
    );

    // A first AXFR from 127.0.0.1 that reads one message and then
    // stalls: with a small receive window the server's stream blocks,
    // holding the client's one transfer slot.
    let mut first = connect_from(LOCAL, s.addr(), Some(4096)).expect("connect");
    axfr_request(&mut first);
    let msg = read_framed(&mut first)
        .expect("first message")
        .expect("not closed");
    assert_eq!(header_rcode_of(&msg), 0, "the first transfer starts");

    // A second from the same address: SERVFAIL at once.
    let mut second = connect_from(LOCAL, s.addr(), None).expect("connect");
    axfr_request(&mut second);
    let msg = read_framed(&mut second)
        .expect("an answer")
        .expect("not closed");
    assert_eq!(
        rcode_name(header_rcode_of(&msg)),
        "SERVFAIL",
        "the second transfer to 127.0.0.1 is refused\n{}",
        s.log()
    );

    // Another address transfers the whole zone meanwhile.
    let mut other = connect_from(OTHER, s.addr(), None).expect("connect from 127.0.0.2");
    axfr_request(&mut other);
    let records =
        read_axfr(&mut other).unwrap_or_else(|e| panic!("AXFR to 127.0.0.2: {e}\n{}", s.log()));
    assert_eq!(records, HOSTS + 5, "the whole zone, both SOAs");

    // Once the first is gone, 127.0.0.1 transfers again.
    drop(first);
    let mut ok = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok && Instant::now() < deadline {
        let mut again = connect_from(LOCAL, s.addr(), None).expect("connect");
        axfr_request(&mut again);
        ok = read_axfr(&mut again).is_ok();
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(ok, "127.0.0.1 transfers again\n{}", s.log());
    assert!(limit_hits(control, "transfers_per_client") >= 1);
    assert!(
        s.log()
            .contains("transfer_limit_per_client reached for this client"),
        "{}",
        s.log()
    );
}

// ---------------------------------------------------------------------------
// A scripted primary for the NOTIFY flood

const T_SOA: u16 = 6;
const T_IXFR: u16 = 251;
const T_AXFR: u16 = 252;

/// The records of example.com at `serial`, SOA first (not repeated).
fn zone_records(serial: u32) -> Vec<(Vec<u8>, u16, Vec<u8>)> {
    let mut soa = wire_name("ns1.example.com");
    soa.extend(wire_name("hostmaster.example.com"));
    // REFRESH an hour: only NOTIFY starts a refresh in this test.
    for n in [serial, 3600, 60, 1_209_600, 300] {
        soa.extend(n.to_be_bytes());
    }
    vec![
        (wire_name("example.com"), T_SOA, soa),
        (wire_name("example.com"), 2, wire_name("ns1.example.com")),
        (wire_name("ns1.example.com"), 1, vec![192, 0, 2, 53]),
        (
            wire_name("www.example.com"),
            1,
            vec![192, 0, 2, serial as u8],
        ),
    ]
}

/// A response to the query `q` (its question echoed) with `answers`.
fn response_to(q: &[u8], answers: &[(Vec<u8>, u16, Vec<u8>)]) -> Option<Vec<u8>> {
    let name_end = skip_wire_name(q, 12)?;
    let question = q.get(12..name_end + 4)?;
    let id = u16::from_be_bytes([*q.first()?, *q.get(1)?]);
    let mut out = header(id, 0x8400, 1, answers.len() as u16, 0, 0);
    out.extend_from_slice(question);
    for (owner, rtype, rdata) in answers {
        out.extend_from_slice(owner);
        out.extend(rtype.to_be_bytes());
        out.extend(1u16.to_be_bytes());
        out.extend(300u32.to_be_bytes());
        out.extend((rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    Some(out)
}

/// The query type of a request, if it has a question.
fn qtype_of(q: &[u8]) -> Option<u16> {
    let end = skip_wire_name(q, 12)?;
    Some(u16::from_be_bytes([*q.get(end)?, *q.get(end + 1)?]))
}

/// Answers SOA queries (UDP and TCP) and transfers (TCP, the whole zone
/// in one message, AXFR-style for IXFR too) for example.com at `serial`,
/// counting each kind; stops when dropped.
struct ScriptedPrimary {
    addr: SocketAddr,
    serial: Arc<AtomicU32>,
    soa_queries: Arc<AtomicUsize>,
    transfers: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ScriptedPrimary {
    fn start() -> ScriptedPrimary {
        let (udp, tcp) = (0..20)
            .find_map(|_| {
                let addr = free_addr();
                Some((UdpSocket::bind(addr).ok()?, TcpListener::bind(addr).ok()?))
            })
            .expect("a port for the scripted primary");
        let addr = udp.local_addr().expect("addr");
        let mut p = ScriptedPrimary {
            addr,
            serial: Arc::new(AtomicU32::new(1)),
            soa_queries: Arc::default(),
            transfers: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
        };
        let (serial, soa, stop) = (p.serial.clone(), p.soa_queries.clone(), p.stop.clone());
        let udp_thread = std::thread::spawn(move || {
            udp.set_read_timeout(Some(Duration::from_millis(50))).ok();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                if qtype_of(q) != Some(T_SOA) {
                    continue;
                }
                soa.fetch_add(1, Ordering::SeqCst);
                let records = zone_records(serial.load(Ordering::SeqCst));
                if let Some(a) = response_to(q, &records[..1]) {
                    let _ = udp.send_to(&a, peer);
                }
            }
        });
        let (serial, soa, xfr, stop) = (
            p.serial.clone(),
            p.soa_queries.clone(),
            p.transfers.clone(),
            p.stop.clone(),
        );
        let tcp_thread = std::thread::spawn(move || {
            tcp.set_nonblocking(true).ok();
            while !stop.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                // One request per connection, served inline: enough here.
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                let Ok(Some(q)) = read_framed(&mut stream) else {
                    continue;
                };
                let mut records = zone_records(serial.load(Ordering::SeqCst));
                let answer = match qtype_of(&q) {
                    Some(T_SOA) => {
                        soa.fetch_add(1, Ordering::SeqCst);
                        response_to(&q, &records[..1])
                    }
                    Some(T_AXFR | T_IXFR) => {
                        xfr.fetch_add(1, Ordering::SeqCst);
                        records.push(records[0].clone());
                        response_to(&q, &records)
                    }
                    _ => None,
                };
                if let Some(a) = answer {
                    let _ = send_framed(&mut stream, &a);
                }
            }
        });
        p.threads = vec![udp_thread, tcp_thread];
        p
    }

    /// SOA queries and transfers asked so far: what a refresh costs it.
    fn asked(&self) -> (usize, usize) {
        (
            self.soa_queries.load(Ordering::SeqCst),
            self.transfers.load(Ordering::SeqCst),
        )
    }
}

impl Drop for ScriptedPrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A NOTIFY for example.com (opcode 4, AA) without an SOA: the secondary
/// must ask the primary.
fn notify_message(id: u16) -> Vec<u8> {
    let mut q = build_query(
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain().opcode(4).id(id),
    );
    q[2] |= 0x04;
    q
}

/// The `www.example.com` address the secondary serves, over TCP (UDP
/// is what the flood fills).
fn www_at(addr: SocketAddr) -> Option<u8> {
    let m = query_tcp(addr, "www.example.com", RecordType::A, &QueryOpts::plain());
    match m.answers().first().and_then(|a| a.data()) {
        Some(RData::A(a)) => Some(a.0.octets()[3]),
        _ => None,
    }
}

#[test]
fn a_notify_flood_makes_a_handful_of_soa_queries_and_the_secondary_keeps_answering() {
    const FLOOD: usize = 10_000;
    let primary = ScriptedPrimary::start();
    let control = free_addr();
    let config = format!(
        "[server]\ncontrol = \"{control}\"\n\
         [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"{}\" }}]\n",
        primary.addr
    );
    let s = Server::start(&config, &[]);
    wait_serial_at(s.addr(), "example.com", 1, Duration::from_secs(10), || {
        s.log()
    });
    let before = primary.asked();

    // The flood, from the primary's address (any port), in batches so
    // it takes about a second; the answers are read and sorted.
    let socket = UdpSocket::bind((LOCAL, 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let reader = socket.try_clone().expect("clone");
    let done = Arc::new(AtomicBool::new(false));
    let (accepted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let answers = {
        let (done, accepted, refused) = (done.clone(), accepted.clone(), refused.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                match reader.recv(&mut buf) {
                    Ok(n) => match buf.get(..n).map(header_rcode_of) {
                        Some(0) => accepted.fetch_add(1, Ordering::SeqCst),
                        Some(5) => refused.fetch_add(1, Ordering::SeqCst),
                        _ => 0,
                    },
                    Err(_) if done.load(Ordering::SeqCst) => break,
                    Err(_) => 0,
                };
            }
        })
    };
    let t0 = Instant::now();
    let mut served_during = Vec::new();
    for batch in 0..(FLOOD / 100) {
        for i in 0..100 {
            let id = (batch * 100 + i) as u16;
            socket.send_to(&notify_message(id), s.addr()).expect("send");
        }
        if batch % 20 == 0 {
            served_during.push(www_at(s.addr()));
        }
        std::thread::sleep(Duration::from_millis(8));
    }
    let flood_took = t0.elapsed();
    served_during.push(www_at(s.addr()));
    // The refresh the last NOTIFYs planned runs within a second; wait
    // past it.
    std::thread::sleep(Duration::from_secs(3));
    done.store(true, Ordering::SeqCst);
    answers.join().expect("reader");
    let after = primary.asked();
    let soa_queries = after.0 - before.0;
    let (accepted, refused) = (
        accepted.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    );
    println!(
        "{FLOOD} NOTIFYs in {flood_took:?}: {accepted} NOERROR, {refused} REFUSED; \
         the primary got {soa_queries} SOA queries and {} transfer requests",
        after.1 - before.1
    );
    assert!(
        (1..=5).contains(&soa_queries),
        "{soa_queries} SOA queries for {FLOOD} NOTIFYs (flood took {flood_took:?})\n{}",
        s.log()
    );
    assert_eq!(after.1, before.1, "no transfer: nothing changed");
    assert!(
        served_during.iter().all(|w| *w == Some(1)),
        "the secondary answered during the flood: {served_during:?}"
    );
    assert!(
        refused > 0,
        "notify_in_rate refused some ({accepted} accepted)"
    );
    assert!(limit_hits(control, "notify_in_rate") >= refused as u64);
    let warnings = s
        .log()
        .lines()
        .filter(|l| l.contains("notify_in_rate exceeded"))
        .count();
    assert!(
        (1..=2).contains(&warnings),
        "logged once per 10 s, not per NOTIFY: {warnings} lines"
    );

    // A real change announced afterwards is still followed at once.
    primary.serial.store(2, Ordering::SeqCst);
    let t1 = Instant::now();
    socket.send_to(&notify_message(1), s.addr()).expect("send");
    wait_serial_at(s.addr(), "example.com", 2, Duration::from_secs(10), || {
        s.log()
    });
    println!("serial 2 served {:?} after its NOTIFY", t1.elapsed());
    assert_eq!(www_at(s.addr()), Some(2));
}
