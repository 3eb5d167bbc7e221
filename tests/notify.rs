//! NOTIFY out (RFC 1996): sent after a zone loads or changes, retried
//! until answered, batched over a short delay.

mod common;

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::{RData, RecordType};
use std::net::UdpSocket;
use std::time::Duration;

fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n"
    )
}

/// Waits (bounded) for one NOTIFY on `socket`.
fn receive(socket: &UdpSocket) -> Option<(Vec<u8>, std::net::SocketAddr)> {
    let mut buf = vec![0u8; 4096];
    socket.set_read_timeout(Some(Duration::from_secs(6))).ok()?;
    let (n, from) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some((buf, from))
}

fn soa_serial(m: &Message) -> Option<u32> {
    m.answers().iter().find_map(|r| match r.data() {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    })
}

#[test]
fn notify_is_sent_retried_until_answered_and_sent_again_after_a_change() {
    let target = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = target.local_addr().expect("addr").port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\n{}notify = [\"127.0.0.1:{port}\"]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(1))]);

    // After the first load: a NOTIFY for the zone, with the SOA.
    let (first, from) = receive(&target).expect("a NOTIFY after the zone loaded");
    let m = parse(&first);
    assert_eq!(m.op_code(), OpCode::Notify);
    assert_eq!(m.message_type(), MessageType::Query);
    assert!(m.header().authoritative(), "AA is set (RFC 1996 §3.7)");
    assert_eq!(m.queries()[0].name().to_ascii(), "example.com.");
    assert_eq!(m.queries()[0].query_type(), RecordType::SOA);
    assert_eq!(soa_serial(&m), Some(1));

    // Not answered: it comes again, same id, within the 1 s timeout.
    let (again, _) = receive(&target).expect("a retry when the NOTIFY is not answered");
    assert_eq!(again[0..2], first[0..2], "a retry keeps the id");
    let mut answer = again.clone();
    answer[2] |= 0x80; // QR: this is the answer
    target.send_to(&answer, from).expect("answer");
    assert!(
        s.wait_for_log("NOTIFY acknowledged", Duration::from_secs(5)),
        "the answer is logged:\n{}",
        s.log()
    );

    // A change and a reload: a new NOTIFY with the new serial.
    s.rewrite("example.com.zone", &zone(2));
    s.signal("HUP");
    let next = loop {
        let (msg, from) = receive(&target).expect("a NOTIFY after the change");
        let m = parse(&msg);
        let mut ack = msg.clone();
        ack[2] |= 0x80;
        let _ = target.send_to(&ack, from);
        if soa_serial(&m) == Some(2) {
            break m;
        }
    };
    assert_eq!(next.op_code(), OpCode::Notify);
}

#[test]
fn notify_gives_up_after_its_retries_and_says_so() {
    let target = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = target.local_addr().expect("addr").port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\nnotify_retries = 1\n{}notify = [\"127.0.0.1:{port}\"]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(1))]);
    assert!(receive(&target).is_some());
    assert!(receive(&target).is_some(), "one retry");
    assert!(
        s.wait_for_log("NOTIFY gave up", Duration::from_secs(6)),
        "giving up is logged:\n{}",
        s.log()
    );
}

/// `notify_ns`: the addresses of the zone's in-zone NS, except the SOA
/// MNAME's and our own, get a NOTIFY on port 53 (RFC 1996 §3.5).
#[test]
fn notify_ns_reaches_the_in_zone_name_servers_but_not_the_primary() {
    // Port 53 on a loopback address of our own; root is needed for it.
    let Ok(ns2) = UdpSocket::bind("127.0.0.53:53").or_else(|_| UdpSocket::bind("127.0.0.54:53"))
    else {
        panic!("cannot bind a loopback address on port 53 (the test needs root)");
    };
    let ns2_ip = ns2.local_addr().expect("addr").ip();
    let zone = format!(
        "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2\n@ NS ns.elsewhere.example.\nns1 A 127.0.0.1\nns2 A {ns2_ip}\n"
    );
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\nnotify_retries = 0\n{}notify_ns = true\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone)]);
    let (msg, from) = receive(&ns2).expect("a NOTIFY to ns2's address on port 53");
    let m = parse(&msg);
    assert_eq!(m.op_code(), OpCode::Notify);
    assert_eq!(soa_serial(&m), Some(1));
    let mut answer = msg.clone();
    answer[2] |= 0x80;
    ns2.send_to(&answer, from).expect("answer");
    let target = format!("target={ns2_ip}:53");
    assert!(
        s.wait_for_log(&target, Duration::from_secs(5)),
        "{}",
        s.log()
    );
    // ns1 (127.0.0.1:53) is the SOA MNAME: never notified; the NS outside
    // the zone has no address we know.
    assert!(!s.log().contains("target=127.0.0.1:53"), "{}", s.log());
}

/// A change while a NOTIFY is still being retried announces the new
/// serial at once, not after the old one's retries.
#[test]
fn a_newer_change_cuts_the_retries_of_the_older_notify_short() {
    let target = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = target.local_addr().expect("addr").port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\n{}notify = [\"127.0.0.1:{port}\"]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(1))]);
    let (first, _) = receive(&target).expect("NOTIFY for serial 1");
    assert_eq!(soa_serial(&parse(&first)), Some(1));
    // Not answered. The retry would come after 1 s; the change comes first.
    s.rewrite("example.com.zone", &zone(2));
    let t0 = std::time::Instant::now();
    s.signal("HUP");
    loop {
        let (msg, from) = receive(&target).expect("a NOTIFY for serial 2");
        let serial = soa_serial(&parse(&msg));
        if serial == Some(2) {
            assert!(
                t0.elapsed() < Duration::from_millis(900),
                "serial 2 announced at once: {:?}",
                t0.elapsed()
            );
            let mut answer = msg.clone();
            answer[2] |= 0x80;
            target.send_to(&answer, from).expect("answer");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "serial 2 never announced"
        );
    }
    assert!(
        s.wait_for_log("serial=2", Duration::from_secs(3)),
        "{}",
        s.log()
    );
}
