//! The control interface through the real binary: `zonesync ctl` against
//! a running server.

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

fn zone(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\nns1 A 192.0.2.53\n{extra}"
    )
}

fn start() -> (Server, SocketAddr) {
    start_notifying(free_addr())
}

/// A server with a control interface that sends NOTIFY to `target`.
fn start_notifying(target: SocketAddr) -> (Server, SocketAddr) {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ncontrol = \"{control}\"\n{}notify = [\"{target}\"]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(10, ""))]);
    assert!(
        s.wait_for_log("control interface listening", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    (s, control)
}

fn ctl(args: &[&str]) -> Output {
    let mut cmd = zonesync();
    cmd.arg("ctl").args(args);
    run_with_timeout(cmd, Duration::from_secs(30)).expect("zonesync ctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ctl_status_shows_the_zone_its_serial_and_journal() {
    let (s, control) = start();
    let addr = control.to_string();
    let o = ctl(&["--control", &addr, "status"]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(
        text.contains("example.com") && text.contains("10"),
        "{text}"
    );

    s.rewrite("example.com.zone", &zone(11, "www A 192.0.2.80\n"));
    let o = ctl(&["--control", &addr, "reload", "example.com"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("11"), "{}", stdout(&o));

    // The config file names the control address too.
    let o = ctl(&[
        "--config",
        s.config_path().to_str().expect("path"),
        "--json",
        "status",
    ]);
    assert!(o.status.success(), "{o:?}");
    let json = stdout(&o);
    assert!(json.contains("\"serial\":11"), "{json}");
    assert!(
        json.contains("\"first_serial\":10") && json.contains("\"last_serial\":11"),
        "journal 10 -> 11: {json}"
    );
}

#[test]
fn ctl_reload_refuses_a_backwards_serial_unless_forced() {
    let (s, control) = start();
    let addr = control.to_string();
    s.rewrite("example.com.zone", &zone(9, "www A 192.0.2.80\n"));
    let o = ctl(&["--control", &addr, "reload", "example.com"]);
    assert!(!o.status.success(), "refused → exit 1: {o:?}");
    assert!(stdout(&o).contains("backwards"), "{}", stdout(&o));
    let q = query_udp(
        s.addr(),
        "example.com",
        hickory_proto::rr::RecordType::SOA,
        &QueryOpts::plain(),
    );
    assert!(
        q.answers()[0].to_string().contains(" 10 "),
        "still serial 10: {q:?}"
    );

    let o = ctl(&["--control", &addr, "reload", "example.com", "--force"]);
    assert!(o.status.success(), "{o:?}");
    let q = query_udp(
        s.addr(),
        "example.com",
        hickory_proto::rr::RecordType::SOA,
        &QueryOpts::plain(),
    );
    assert!(
        q.answers()[0].to_string().contains(" 9 "),
        "forced: serial 9: {q:?}"
    );
}

#[test]
fn ctl_notify_queues_and_unknown_zone_fails() {
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (s, control) = start_notifying(secondary.local_addr().expect("addr"));
    let addr = control.to_string();
    // Answers one NOTIFY; false when none came in time.
    let answer_one = || {
        let mut buf = [0u8; 512];
        let Ok((n, from)) = secondary.recv_from(&mut buf) else {
            return false;
        };
        buf[2] |= 0x80;
        secondary.send_to(&buf[..n], from).is_ok()
    };
    assert!(answer_one(), "the NOTIFY after the first load\n{}", s.log());
    assert!(
        s.wait_for_log("NOTIFY acknowledged", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    let o = ctl(&["--control", &addr, "notify", "example.com"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("NOTIFY queued"), "{}", stdout(&o));
    assert!(answer_one(), "ctl notify sent a NOTIFY\n{}", s.log());
    let o = ctl(&["--control", &addr, "notify", "nope.example"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown zone"),
        "{o:?}"
    );
}

#[test]
fn ctl_without_a_server_says_so() {
    let addr = free_addr().to_string();
    let o = ctl(&["--control", &addr, "status"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the control interface"),
        "{o:?}"
    );
}
