//! zonesync as a secondary (RFC 1034 §4.3.5, RFC 1995, RFC 1996): of a
//! zonesync primary, through restarts, expiry and recovery.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// example.com at `serial` with hosts `first..=last`; REFRESH/RETRY/EXPIRE
/// given (seconds).
fn zone(serial: u32, first: usize, last: usize, timers: (u32, u32, u32)) -> String {
    let (refresh, retry, expire) = timers;
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} {refresh} {retry} {expire} 300\n\
         @ NS ns1\nns1 A 192.0.2.53\nwww CNAME @\n\
         $GENERATE {first}-{last} host$ TXT \"host number $\"\n"
    )
}

const SLOW: (u32, u32, u32) = (3600, 600, 1_209_600);

fn primary_config(secondary: SocketAddr) -> String {
    format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{secondary}\"]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

fn secondary_config(primaries: &[SocketAddr], extra_server: &str) -> String {
    let list: Vec<String> = primaries
        .iter()
        .map(|p| format!("{{ address = \"{p}\" }}"))
        .collect();
    format!(
        "[server]\nudp_workers = 1\n{extra_server}[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\nprimaries = [{}]\nallow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        list.join(", ")
    )
}

fn start_secondary(addr: SocketAddr, config: &str) -> Server {
    let opts = StartOptions {
        addr: Some(addr),
        ..StartOptions::default()
    };
    Server::start_with(config, &[], &opts)
}

fn served(addr: SocketAddr) -> Option<u32> {
    soa_serial_at(addr, "example.com")
}

fn wait_serial(addr: SocketAddr, serial: u32, within: Duration, logs: &[&Server]) {
    wait_serial_at(addr, "example.com", serial, within, || {
        let all: Vec<String> = logs.iter().map(|s| s.log()).collect();
        all.join("\n-----\n")
    });
}

fn txt(addr: SocketAddr, name: &str) -> ResponseCode {
    query_udp(addr, name, RecordType::TXT, &QueryOpts::plain()).response_code()
}

#[test]
fn secondary_transfers_then_follows_changes_by_notify_and_ixfr() {
    let sec_addr = free_addr();
    let p = Server::start(
        &primary_config(sec_addr),
        &[("example.com.zone", &zone(1, 1, 50, SLOW))],
    );
    let s = start_secondary(sec_addr, &secondary_config(&[p.addr()], ""));
    wait_serial(sec_addr, 1, Duration::from_secs(10), &[&p, &s]);
    assert_eq!(txt(sec_addr, "host50.example.com"), ResponseCode::NoError);
    assert!(
        s.wait_for_log("AXFR", Duration::from_secs(5)),
        "{}",
        s.log()
    );

    for serial in 2..=3u32 {
        p.rewrite(
            "example.com.zone",
            &zone(serial, serial as usize, 49 + serial as usize, SLOW),
        );
        let t0 = Instant::now();
        p.signal("HUP");
        wait_serial(sec_addr, serial, Duration::from_secs(5), &[&p, &s]);
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "NOTIFY made the change arrive at once: {:?}",
            t0.elapsed()
        );
    }
    assert_eq!(txt(sec_addr, "host52.example.com"), ResponseCode::NoError);
    assert_eq!(txt(sec_addr, "host1.example.com"), ResponseCode::NXDomain);
    assert!(s.log().contains("NOTIFY received"), "{}", s.log());
    assert!(
        s.wait_for_log("IXFR 2 -> 3", Duration::from_secs(5)),
        "the change came by IXFR:\n{}",
        s.log()
    );
    assert!(
        p.wait_for_log("IXFR (incremental) sent", Duration::from_secs(5)),
        "{}",
        p.log()
    );
}

#[test]
fn secondary_restarts_serving_at_once_without_a_transfer() {
    let sec_addr = free_addr();
    let p = Server::start(
        &primary_config(sec_addr),
        &[("example.com.zone", &zone(7, 1, 20, SLOW))],
    );
    let mut s = start_secondary(sec_addr, &secondary_config(&[p.addr()], ""));
    wait_serial(sec_addr, 7, Duration::from_secs(10), &[&p, &s]);
    p.rewrite("example.com.zone", &zone(8, 2, 21, SLOW));
    p.signal("HUP");
    wait_serial(sec_addr, 8, Duration::from_secs(5), &[&p, &s]);
    let transfers_before = p.log().matches(" sent").count();

    s.restart(true);
    assert_eq!(
        served(sec_addr),
        Some(8),
        "served at once from disk after kill -9\n{}",
        s.log()
    );
    assert_eq!(txt(sec_addr, "host21.example.com"), ResponseCode::NoError);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.log().matches(" sent").count(),
        transfers_before,
        "REFRESH is an hour away: no transfer after the restart\n{}",
        p.log()
    );
    assert!(s.log().contains("restored from disk"), "{}", s.log());
}

#[test]
fn secondary_expires_without_its_primary_and_recovers() {
    let sec_addr = free_addr();
    // REFRESH 2 s, RETRY 1 s, EXPIRE 4 s.
    let timers = (2, 1, 4);
    let mut p = Server::start(
        &primary_config(sec_addr),
        &[("example.com.zone", &zone(3, 1, 5, timers))],
    );
    let s = start_secondary(
        sec_addr,
        &secondary_config(&[p.addr()], "retry_min = 1\nrefresh_min = 1\n"),
    );
    wait_serial(sec_addr, 3, Duration::from_secs(10), &[&p, &s]);

    p.signal("KILL");
    let _ = p.wait_exit(Duration::from_secs(5));
    let expired = wait_until(Duration::from_secs(15), || {
        query_udp(
            sec_addr,
            "example.com",
            RecordType::SOA,
            &QueryOpts::plain(),
        )
        .response_code()
            == ResponseCode::ServFail
    });
    assert!(
        expired,
        "EXPIRE (4 s) passed without a primary: SERVFAIL\n{}",
        s.log()
    );
    assert!(s.log().contains("EXPIRED"), "{}", s.log());
    assert!(
        s.log().contains("refresh failed"),
        "retries were logged\n{}",
        s.log()
    );

    p.restart(false);
    wait_serial(sec_addr, 3, Duration::from_secs(15), &[&p, &s]);
}

#[test]
fn notify_from_a_stranger_is_refused() {
    let sec_addr = free_addr();
    let p = Server::start(
        &primary_config(sec_addr),
        &[("example.com.zone", &zone(1, 1, 3, SLOW))],
    );
    let s = start_secondary(sec_addr, &secondary_config(&[p.addr()], ""));
    wait_serial(sec_addr, 1, Duration::from_secs(10), &[&p, &s]);
    // A NOTIFY from 127.0.0.9, which is neither the primary nor allowed.
    let mut q = build_query(
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain().opcode(4),
    );
    q[2] |= 0x04; // AA
    let socket = std::net::UdpSocket::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    socket.send_to(&q, sec_addr).expect("send");
    let mut buf = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    let m = parse(&buf[..n]);
    assert_eq!(m.response_code(), ResponseCode::Refused);
    assert!(
        s.wait_for_log("NOTIFY refused", Duration::from_secs(2)),
        "{}",
        s.log()
    );
}

#[test]
fn chain_primary_to_secondary_to_secondary() {
    let mid_addr = free_addr();
    let end_addr = free_addr();
    let p = Server::start(
        &primary_config(mid_addr),
        &[("example.com.zone", &zone(10, 1, 30, SLOW))],
    );
    let mid_config = format!(
        "{}notify = [\"{end_addr}\"]\n",
        secondary_config(&[p.addr()], "notify_delay_ms = 10\n")
    );
    let mid = start_secondary(mid_addr, &mid_config);
    let end = start_secondary(end_addr, &secondary_config(&[mid_addr], ""));
    wait_serial(end_addr, 10, Duration::from_secs(10), &[&p, &mid, &end]);
    p.rewrite("example.com.zone", &zone(11, 2, 31, SLOW));
    p.signal("HUP");
    wait_serial(end_addr, 11, Duration::from_secs(5), &[&p, &mid, &end]);
    assert!(
        mid.wait_for_log("IXFR (incremental) sent", Duration::from_secs(5)),
        "the middle serves IXFR from its journal\n{}",
        mid.log()
    );
}

/// The EXPIRE option (RFC 7314) in an answer to an SOA query asking for
/// it: the last option of the OPT record (no NSID is configured).
fn expire_option(addr: SocketAddr) -> Option<u32> {
    let q = build_query(
        "example.com",
        RecordType::SOA,
        &QueryOpts::edns(1232).option(9, &[]),
    );
    let r = exchange_udp(addr, &q).ok()?;
    let tail = r.get(r.len().checked_sub(8)?..)?;
    (tail[..4] == [0, 9, 0, 4]).then(|| u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]))
}

#[test]
fn edns_expire_is_answered_by_primary_and_secondary() {
    let sec_addr = free_addr();
    let p = Server::start(
        &primary_config(sec_addr),
        &[("example.com.zone", &zone(1, 1, 3, SLOW))],
    );
    let s = start_secondary(sec_addr, &secondary_config(&[p.addr()], ""));
    wait_serial(sec_addr, 1, Duration::from_secs(10), &[&p, &s]);
    assert_eq!(
        expire_option(p.addr()),
        Some(1_209_600),
        "a primary answers its SOA EXPIRE"
    );
    let left = expire_option(sec_addr).expect("the secondary answers EXPIRE");
    assert!(
        (1_209_600 - 60..=1_209_600).contains(&left),
        "a secondary answers the time left before it expires: {left}"
    );
}
