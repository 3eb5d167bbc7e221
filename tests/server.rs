//! The server process: reloads, start-up failures, signals, command line
//! and configuration.

mod common;

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A small example.com with this serial; line 6 is `www A 192.0.2.80`.
fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n\
         $TTL 3600\n\
         @    SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         \x20    NS  ns1\n\
         ns1  A   192.0.2.53\n\
         www  A   192.0.2.80\n"
    )
}

fn config_one() -> String {
    format!(
        "[server]\nudp_workers = 1\n{}",
        zone_entry("example.com", "example.com.zone")
    )
}

/// The serial of the SOA in an answer, if any.
fn serial_of(m: &Message) -> Option<u32> {
    m.answers().iter().find_map(|r| match r.data() {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    })
}

/// The serial `name` is served with now (`None`: no SOA in the answer).
fn served_serial(s: &Server, name: &str) -> Option<u32> {
    serial_of(&query_udp(
        s.addr(),
        name,
        RecordType::SOA,
        &QueryOpts::plain(),
    ))
}

#[test]
fn sighup_reloads_a_changed_zone_file() {
    let s = Server::start(&config_one(), &[("example.com.zone", &zone(1))]);
    assert_eq!(
        served_serial(&s, "example.com"),
        Some(1),
        "serial before the reload"
    );
    s.rewrite("example.com.zone", &zone(2));
    s.signal("HUP");
    let reloaded = wait_until(Duration::from_secs(10), || {
        served_serial(&s, "example.com") == Some(2)
    });
    assert!(
        reloaded,
        "zone file rewritten with serial 2 and SIGHUP sent: still serving serial {:?} after 10 s\n{}",
        served_serial(&s, "example.com"),
        s.log()
    );
}

#[test]
fn sighup_reloads_when_only_an_included_file_changed() {
    let main = format!("{}$INCLUDE hosts.inc\n", zone(1));
    // The operator edits only the included file, so the serial in the
    // main file stays: serial_policy "increment" moves it.
    let s = Server::start(
        &format!("{}serial_policy = \"increment\"\n", config_one()),
        &[
            ("example.com.zone", &main),
            ("hosts.inc", "mail A 192.0.2.25\n"),
        ],
    );
    let address = |s: &Server| {
        let m = query_udp(
            s.addr(),
            "mail.example.com",
            RecordType::A,
            &QueryOpts::plain(),
        );
        m.answers()
            .iter()
            .find_map(|r| r.data().map(|d| d.to_string()))
    };
    assert_eq!(
        address(&s).as_deref(),
        Some("192.0.2.25"),
        "mail A from hosts.inc before the change"
    );
    s.rewrite("hosts.inc", "mail A 192.0.2.26\n");
    s.signal("HUP");
    let reloaded = wait_until(Duration::from_secs(10), || {
        address(&s).as_deref() == Some("192.0.2.26")
    });
    assert!(
        reloaded,
        "hosts.inc ($INCLUDEd) changed and SIGHUP sent: mail A is still {:?} after 10 s\n{}",
        address(&s),
        s.log()
    );
    assert_eq!(served_serial(&s, "example.com"), Some(2), "serial 1 + 1");
}

#[test]
fn sighup_with_a_broken_zone_file_keeps_the_old_version() {
    let s = Server::start(&config_one(), &[("example.com.zone", &zone(1))]);
    // Serial 2, but line 6 has an address that is not one.
    let broken = zone(2).replace("www  A   192.0.2.80", "www  A   192.0.2.300");
    s.rewrite("example.com.zone", &broken);
    s.signal("HUP");
    let named = s.wait_for_log("example.com.zone:6", Duration::from_secs(10));
    let log = s.log();
    assert!(
        named,
        "broken zone file (bad A at line 6) reloaded: expected the log to name `example.com.zone:6`\n{log}"
    );
    assert_eq!(
        served_serial(&s, "example.com"),
        Some(1),
        "after a failed reload the old version (serial 1) must still be served\n{log}"
    );
    let m = query_udp(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert_eq!(
        (rcode(&m), m.answers().len()),
        (rcode::NOERROR, 1),
        "www A after a failed reload: the old data must still be served\n{}",
        describe(&m)
    );
}

#[test]
fn zone_that_fails_at_start_up_gets_servfail_while_others_are_served() {
    let good = "$ORIGIN example.net.\n$TTL 3600\n@ SOA ns1 hostmaster 5 7200 1800 1209600 300\n  NS ns1\nns1 A 198.51.100.53\n";
    let config = format!(
        "[server]\nudp_workers = 1\n{}{}",
        zone_entry("example.net", "example.net.zone"),
        zone_entry("example.com", "example.com.zone"),
    );
    // example.com has no SOA.
    let bad = "$ORIGIN example.com.\n$TTL 3600\n@ NS ns1\nns1 A 192.0.2.53\n";
    let s = Server::start(
        &config,
        &[("example.net.zone", good), ("example.com.zone", bad)],
    );
    let m = query_udp(
        s.addr(),
        "ns1.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert_eq!(
        rcode(&m),
        rcode::SERVFAIL,
        "ns1.example.com A: example.com failed to load, expected SERVFAIL\n{}",
        describe(&m)
    );
    let m = query_udp(
        s.addr(),
        "example.net",
        RecordType::SOA,
        &QueryOpts::plain(),
    );
    assert_eq!(
        (rcode(&m), serial_of(&m)),
        (rcode::NOERROR, Some(5)),
        "example.net SOA: a good zone must be served though another failed\n{}",
        describe(&m)
    );
    assert!(
        s.log().contains("example.com.zone"),
        "the log must name the zone file that failed\n{}",
        s.log()
    );
}

#[test]
fn zone_that_failed_at_start_up_is_served_after_it_is_fixed_and_sighup() {
    let bad = "$ORIGIN example.com.\n$TTL 3600\n@ NS ns1\nns1 A 192.0.2.53\n";
    let s = Server::start(&config_one(), &[("example.com.zone", bad)]);
    let m = query_udp(
        s.addr(),
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain(),
    );
    assert_eq!(
        rcode(&m),
        rcode::SERVFAIL,
        "example.com without SOA at start-up\n{}",
        describe(&m)
    );
    s.rewrite("example.com.zone", &zone(3));
    s.signal("HUP");
    let served = wait_until(Duration::from_secs(10), || {
        let m = query_udp(
            s.addr(),
            "example.com",
            RecordType::SOA,
            &QueryOpts::plain(),
        );
        serial_of(&m) == Some(3)
    });
    assert!(
        served,
        "zone fixed (serial 3) and SIGHUP sent: still not served after 10 s\n{}",
        s.log()
    );
}

#[test]
fn sigterm_exits_with_status_0_within_5_seconds() {
    let mut s = Server::start(&config_one(), &[("example.com.zone", &zone(1))]);
    // A TCP connection left open must not hold the shutdown up.
    let _idle = TcpConn::connect(s.addr()).expect("TCP connect");
    let started = Instant::now();
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(5));
    let log = s.log();
    let status = status.unwrap_or_else(|| panic!("SIGTERM: still running after 5 s\n{log}"));
    assert!(
        status.success(),
        "SIGTERM: expected exit status 0, got {status} after {:?}\n{log}",
        started.elapsed()
    );
}

#[test]
fn listen_flag_overrides_the_configuration() {
    let opts = StartOptions {
        listen_via_flag: true,
        ..StartOptions::default()
    };
    let s = Server::start_with(&config_one(), &[("example.com.zone", &zone(1))], &opts);
    assert_eq!(
        served_serial(&s, "example.com"),
        Some(1),
        "answers on the --listen address"
    );
    let q = build_query("example.com", RecordType::SOA, &QueryOpts::plain());
    let r = raw_udp(s.config_addr(), &q);
    assert!(
        r.is_none(),
        "--listen {} given: the address of the configuration, {}, must not be served (UDP answered)",
        s.addr(),
        s.config_addr()
    );
    assert!(
        TcpConn::connect_timeout(s.config_addr(), Duration::from_secs(1)).is_err(),
        "--listen {} given: the address of the configuration, {}, must not be served (TCP accepted)",
        s.addr(),
        s.config_addr()
    );
}

/// Runs `serve` with this configuration; it must fail at once.
fn serve_must_fail(config: &str, what: &str) -> String {
    let dir = TempDir::new("badconfig");
    dir.write("example.com.zone", zone(1));
    let path = dir.write("zonesync.toml", with_listen(config, free_addr()));
    let mut cmd = zonesync();
    cmd.arg("serve")
        .arg("--config")
        .arg(&path)
        .args(allow_root());
    let out =
        run_with_timeout(cmd, Duration::from_secs(10)).unwrap_or_else(|e| panic!("{what}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{what}: expected a non-zero exit, got {}\n{stderr}",
        out.status
    );
    stderr
}

#[test]
fn unknown_config_key_exits_non_zero_naming_the_key() {
    let config = format!(
        "[server]\nudp_workerz = 1\n{}",
        zone_entry("example.com", "example.com.zone")
    );
    let stderr = serve_must_fail(&config, "unknown key server.udp_workerz");
    assert!(
        stderr.contains("udp_workerz"),
        "unknown key server.udp_workerz: stderr must name it\n{stderr}"
    );

    let config = "[server]\n\n[[zone]]\nname = \"example.com\"\nfile = \"example.com.zone\"\nrole = \"primary\"\nrefresh = 60\n";
    let stderr = serve_must_fail(config, "unknown key zone.refresh");
    assert!(
        stderr.contains("refresh"),
        "unknown key zone[0].refresh: stderr must name it\n{stderr}"
    );

    let config = format!(
        "[sever]\nnsid = \"x\"\n{}",
        zone_entry("example.com", "example.com.zone")
    );
    let stderr = serve_must_fail(&config, "unknown table [sever]");
    assert!(
        stderr.contains("sever"),
        "unknown table [sever]: stderr must name it\n{stderr}"
    );
}

/// example.com with about `n` A records and this serial.
fn large_zone(serial: u32, n: usize) -> String {
    let mut z = String::with_capacity(n * 32);
    z.push_str(&zone(serial));
    for i in 0..n {
        let _ = writeln!(
            z,
            "h{i} A 10.{}.{}.{}",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        );
    }
    z
}

#[test]
fn queries_keep_being_answered_during_a_large_reload() {
    const RECORDS: usize = 200_000;
    let s = Server::start(&config_one(), &[("example.com.zone", &zone(1))]);
    s.rewrite("example.com.zone", &large_zone(2, RECORDS));
    let started = Instant::now();
    s.signal("HUP");
    let deadline = started + Duration::from_secs(300);
    let mut last_answer = started;
    let mut max_gap = Duration::ZERO;
    let mut answered = 0usize;
    let mut reloaded_after = None;
    while Instant::now() < deadline {
        // Alternate: the SOA (to see the new serial) and a plain A.
        let (name, rtype) = if answered.is_multiple_of(2) {
            ("example.com", RecordType::SOA)
        } else {
            ("www.example.com", RecordType::A)
        };
        match try_query_udp(
            s.addr(),
            name,
            rtype,
            &QueryOpts::plain(),
            Duration::from_secs(2),
        ) {
            Ok(m) if rcode(&m) == rcode::NOERROR && !m.answers().is_empty() => {
                let now = Instant::now();
                max_gap = max_gap.max(now - last_answer);
                last_answer = now;
                answered += 1;
                if serial_of(&m) == Some(2) {
                    reloaded_after = Some(now - started);
                    break;
                }
            }
            Ok(m) => panic!(
                "{name} {rtype} during the reload: unexpected answer\n{}",
                describe(&m)
            ),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = s.log();
    let took = reloaded_after.unwrap_or_else(|| {
        panic!("the {RECORDS}-record zone was not served within 300 s of SIGHUP\n{log}")
    });
    eprintln!("reload of {RECORDS} records: {took:?}, {answered} answers meanwhile, longest gap {max_gap:?}");
    assert!(
        max_gap <= Duration::from_secs(1),
        "during the reload of {RECORDS} records (took {took:?}) queries went unanswered for {max_gap:?} \
         (at most 1 s allowed; {answered} answers)"
    );
    let m = query_udp(
        s.addr(),
        "h199999.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert_eq!(
        m.answers().len(),
        1,
        "h199999 A after the reload\n{}",
        describe(&m)
    );
}

#[test]
fn tcp_connection_cap_closes_extra_connections_and_udp_keeps_answering() {
    let config = format!(
        "[server]\nudp_workers = 1\ntcp_max_connections = 2\ntcp_idle_timeout = 30\n{}",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(7))]);
    let q = build_query("example.com", RecordType::SOA, &QueryOpts::plain());
    // Two connections take both slots (each proven open by an answer).
    // The start-up check's own TCP query holds a slot until the server
    // has read its close, which a loaded machine can delay: a connection
    // refused meanwhile is retried, a bounded number of times.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut answered = None;
        for _ in 0..30 {
            let mut c = TcpConn::connect(s.addr()).expect("connect");
            if c.send(&q).is_ok() && matches!(c.recv(), Ok(Some(_))) {
                answered = Some(c);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        held.push(answered.expect("a connection under the cap is answered"));
    }
    // The third is accepted and closed at once, without an answer.
    let mut third = TcpConn::connect(s.addr()).expect("connect");
    let _ = third.send(&q);
    assert!(
        third.wait_closed(Duration::from_secs(3)),
        "a connection over tcp_max_connections = 2 must be closed"
    );
    assert_eq!(
        served_serial(&s, "example.com"),
        Some(7),
        "UDP answers while TCP is full"
    );
    // A slot freed is usable again.
    drop(held.pop());
    let ok = wait_until(Duration::from_secs(5), || {
        let Ok(mut c) = TcpConn::connect(s.addr()) else {
            return false;
        };
        c.send(&q).is_ok() && matches!(c.recv(), Ok(Some(_)))
    });
    assert!(
        ok,
        "after one connection closed, a new one must be answered"
    );
}

#[test]
fn ipv6_loopback_is_served_over_udp_and_tcp() {
    let dir = TempDir::new("ipv6");
    dir.write("example.com.zone", zone(9));
    let port = free_port();
    let v6: std::net::SocketAddr = format!("[::1]:{port}").parse().expect("address");
    let config = dir.write(
        "zonesync.toml",
        format!(
            "[server]\nlisten = [\"{v6}\"]\nudp_workers = 1\n{}",
            zone_entry("example.com", "example.com.zone")
        ),
    );
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let mut child = zonesync()
        .args(["serve", "--config"])
        .arg(&config)
        .args(allow_root())
        .stderr(log)
        .spawn()
        .expect("start zonesync");
    let q = build_query("example.com", RecordType::SOA, &QueryOpts::plain());
    let answered = wait_until(Duration::from_secs(10), || exchange_udp(v6, &q).is_ok());
    let tcp = exchange_tcp(v6, &q).map(|r| parse(&r));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(answered, "no UDP answer on {v6}; log:\n{log}");
    let tcp = tcp.unwrap_or_else(|e| panic!("no TCP answer on {v6}: {e}; log:\n{log}"));
    assert_eq!(serial_of(&tcp), Some(9), "TCP over IPv6 answers the SOA");
}

/// `--log-format json`: every log line is one JSON object, the event's
/// fields (zone, serial) as fields.
#[test]
fn json_log_lines_carry_the_events_fields() {
    let opts = StartOptions {
        extra_args: vec!["--log-format".into(), "json".into()],
        ..StartOptions::default()
    };
    let s = Server::start_with(&config_one(), &[("example.com.zone", &zone(7))], &opts);
    assert!(
        s.wait_for_log("zone loaded", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    let log = s.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let loaded = lines
        .iter()
        .find(|l| l["message"] == "zone loaded")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(loaded["level"], "INFO", "{loaded}");
    assert_eq!(loaded["fields"]["zone"], "example.com", "{loaded}");
    assert_eq!(loaded["fields"]["serial"], "7", "{loaded}");
    let stamp = loaded["timestamp"].as_str().unwrap_or_default();
    assert!(stamp.len() == 27 && stamp.ends_with('Z'), "{stamp}");
}
