//! Response rate limiting on the real server over loopback: a flood from
//! one client prefix is limited (answers dropped, every second one sent
//! truncated with TC=1), while another prefix, a whitelisted prefix and
//! TCP from the flooding address are answered normally; name errors under
//! one zone share their bucket whatever the names; the limiting is logged
//! once and counted in /metrics.

mod common;

use common::*;
use hickory_proto::rr::RecordType;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const RATE: usize = 10;

fn zone() -> String {
    "$ORIGIN example.com.\n$TTL 3600\n\
     @ SOA ns1 hostmaster 1 3600 600 1209600 300\n\
     @ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n"
        .to_owned()
}

fn start() -> (Server, SocketAddr) {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\
         [rrl]\nrate = {RATE}\nslip = 2\nwhitelist = [\"127.0.9.0/24\"]\n{}",
        zone_entry("example.com", "example.com.zone")
    );
    (
        Server::start(&config, &[("example.com.zone", &zone())]),
        control,
    )
}

/// What came back for a burst of queries.
#[derive(Debug, Default)]
struct Burst {
    sent: usize,
    /// Whole answers (TC clear).
    answered: usize,
    /// Truncated answers: TC=1, nothing but the question.
    slipped: usize,
}

/// Sends `count` queries (names made by `name(i)`) from `source` as fast
/// as it can, then collects what comes back within a second of the last.
fn burst(
    server: SocketAddr,
    source: IpAddr,
    count: usize,
    name: impl Fn(usize) -> String,
) -> Burst {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind the client");
    let mut ids = HashSet::new();
    for i in 0..count {
        let query = build_query(
            &name(i),
            RecordType::A,
            &QueryOpts::plain().id(i as u16 + 1),
        );
        ids.insert(i as u16 + 1);
        socket.send_to(&query, server).expect("send");
    }
    let mut out = Burst {
        sent: count,
        ..Burst::default()
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            break;
        };
        let answer = &buf[..n];
        assert!(
            ids.remove(&id_of(answer)),
            "an answer to no query, or twice"
        );
        if flags_of(answer) & 0x0200 != 0 {
            assert_eq!(
                counts_of(answer),
                [1, 0, 0, 0],
                "a slipped answer holds the question only"
            );
            out.slipped += 1;
        } else {
            out.answered += 1;
        }
    }
    out
}

fn loopback(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_flood_from_one_prefix_is_limited_while_others_are_answered() {
    let (server, control) = start();
    let addr = server.addr();

    let flood = burst(addr, loopback("127.0.0.1"), 300, |_| {
        "www.example.com".into()
    });
    // The burst takes well under a second, but may straddle a second
    // boundary: at most two seconds' worth of whole answers.
    assert!(flood.answered >= RATE, "{flood:?}");
    assert!(flood.answered <= 2 * RATE, "{flood:?}");
    assert!(flood.slipped > 0, "no answer slipped: {flood:?}");
    let limited = flood.sent - flood.answered;
    // slip = 2: half of the limited answers are truncated, half dropped.
    assert!(
        flood.slipped.abs_diff(limited / 2) <= 1,
        "slip 2 sends every second limited answer: {flood:?}"
    );

    // Another /24 (loopback is all of 127/8), at once: its own buckets.
    let other = burst(addr, loopback("127.0.1.1"), RATE, |_| {
        "www.example.com".into()
    });
    assert_eq!((other.answered, other.slipped), (RATE, 0), "{other:?}");
    // A whitelisted prefix is never limited.
    let listed = burst(addr, loopback("127.0.9.7"), 100, |_| {
        "www.example.com".into()
    });
    assert_eq!((listed.answered, listed.slipped), (100, 0), "{listed:?}");
    // TCP proves the address: the flooding client is answered over it.
    let over_tcp = query_tcp(addr, "www.example.com", RecordType::A, &QueryOpts::plain());
    assert_eq!(over_tcp.answers().len(), 1);
    assert!(!over_tcp.truncated());

    // Random names under the zone are name errors counted per zone: one
    // bucket, so they are limited although no name repeats.
    let nx = burst(addr, loopback("127.0.2.1"), 200, |i| {
        format!("r{i}.nx.example.com")
    });
    assert!(nx.answered <= 2 * RATE, "{nx:?}");
    assert!(nx.slipped > 0, "{nx:?}");

    // Logged once (log_interval 10 s), not per answer.
    let lines = server.log().matches("response rate limit reached").count();
    assert_eq!(lines, 1, "{}", server.log());
    let (status, metrics) = http_get(control, "/metrics");
    assert_eq!(status, 200);
    for class in ["positive", "nxdomain"] {
        for action in ["slipped", "dropped"] {
            let line =
                format!("zonesync_rrl_limited_total{{class=\"{class}\",action=\"{action}\"}}");
            let value = metrics
                .lines()
                .find_map(|l| l.strip_prefix(&line))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {line} in\n{metrics}"));
            assert!(value > 0.0, "{line} {value}");
        }
    }
}

#[test]
fn rate_limiting_is_off_by_default() {
    let server = Server::start(
        &zone_entry("example.com", "example.com.zone"),
        &[("example.com.zone", &zone())],
    );
    let flood = burst(server.addr(), loopback("127.0.0.1"), 200, |_| {
        "www.example.com".into()
    });
    assert_eq!((flood.answered, flood.slipped), (200, 0), "{flood:?}");
}
