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

// ---------------------------------------------------------------------------
// `ctl peers`: the peer history, one peer per loopback address (the
// history is keyed by IP; Linux answers on all of 127.0.0.0/8).

const XFR_SECRET: &str = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=";

/// Who does what in the peers scenario.
const NOTIFIED: [u8; 4] = [127, 0, 0, 5];
const ASKER: [u8; 4] = [127, 0, 0, 2];
const REFUSED: [u8; 4] = [127, 0, 0, 3];
const BADKEY: [u8; 4] = [127, 0, 0, 4];
const FELL_BACK: [u8; 4] = [127, 0, 0, 6];
const BAD_QUERY: [u8; 4] = [127, 0, 0, 7];

/// A TCP connection to `server` from `src`.
fn tcp_from(src: [u8; 4], server: SocketAddr) -> TcpConn {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((src, 0)).into())
        .expect("bind a loopback source address");
    s.connect_timeout(&server.into(), Duration::from_secs(5))
        .expect("connect");
    let conn = TcpConn::from_stream(s.into());
    conn.set_timeout(Duration::from_secs(10));
    conn
}

/// Sends a transfer request and reads until the closing SOA, an error
/// answer or the end; returns the RCODE of the first answer.
fn transfer_from(src: [u8; 4], server: SocketAddr, request: &[u8]) -> u16 {
    let mut conn = tcp_from(src, server);
    conn.send(request).expect("send");
    let mut first = None;
    let mut soas = 0;
    while let Ok(Some(bytes)) = conn.recv() {
        let rcode = header_rcode_of(&bytes);
        first.get_or_insert(rcode);
        let m = parse(&bytes);
        soas += of_type(m.answers(), hickory_proto::rr::RecordType::SOA).len();
        if rcode != 0 || soas >= 2 {
            break;
        }
    }
    first.expect("an answer")
}

/// An IXFR request from serial `from` (RFC 1995 §3: its SOA in the
/// authority section).
fn ixfr_request(from: u32) -> Vec<u8> {
    let mut q = build_query(
        "example.com",
        hickory_proto::rr::RecordType::IXFR,
        &QueryOpts::plain(),
    );
    q[9] = 1;
    q.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0]);
    q.extend_from_slice(&from.to_be_bytes());
    q.extend_from_slice(&[0; 16]);
    q
}

/// `request` signed with a key the server does not have ("nokey").
fn signed_with_unknown_key(mut request: Vec<u8>) -> Vec<u8> {
    let key =
        zonesync::tsig::TsigKey::from_config("nokey", "hmac-sha256", XFR_SECRET).expect("key");
    zonesync::tsig::ClientSigner::sign_request(&key, &mut request).expect("signed");
    request
}

/// One UDP exchange from `src`; the answer's RCODE.
fn udp_from(src: [u8; 4], server: SocketAddr, request: &[u8]) -> u16 {
    let socket = std::net::UdpSocket::bind(SocketAddr::from((src, 0))).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.send_to(request, server).expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    header_rcode_of(&buf[..n])
}

/// A primary at serial 10 that sends NOTIFY to a fake secondary on
/// 127.0.0.5 (which acknowledges it), after which: 127.0.0.2 asks the
/// SOA and transfers the zone, 127.0.0.3 is refused by `allow_transfer`,
/// 127.0.0.4 asks with a key the server does not have (BADKEY),
/// 127.0.0.6 asks IXFR from a serial the journal does not hold (the
/// whole zone instead), 127.0.0.7 sends a signed query failing TSIG.
fn peers_scenario() -> (Server, SocketAddr, u16) {
    let secondary = std::net::UdpSocket::bind(SocketAddr::from((NOTIFIED, 0))).expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let target = secondary.local_addr().expect("addr");
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ncontrol = \"{control}\"\n\
         [[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{XFR_SECRET}\"\n{}\
         notify = [\"{target}\"]\n\
         allow_transfer = [{{ from = \"127.0.0.2/32\" }}, {{ from = \"127.0.0.6/32\" }}, {{ key = \"xfr-key\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(10, ""))]);
    assert!(
        s.wait_for_log("control interface listening", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    let mut buf = [0u8; 512];
    let (n, from) = secondary
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("the NOTIFY after the first load: {e}\n{}", s.log()));
    buf[2] |= 0x80;
    secondary.send_to(&buf[..n], from).expect("answer NOTIFY");
    assert!(
        s.wait_for_log("NOTIFY acknowledged", Duration::from_secs(5)),
        "{}",
        s.log()
    );

    let soa = build_query(
        "example.com",
        hickory_proto::rr::RecordType::SOA,
        &QueryOpts::plain(),
    );
    let axfr = build_query(
        "example.com",
        hickory_proto::rr::RecordType::AXFR,
        &QueryOpts::plain(),
    );
    assert_eq!(udp_from(ASKER, s.addr(), &soa), 0, "SOA from 127.0.0.2");
    assert_eq!(
        transfer_from(ASKER, s.addr(), &axfr),
        0,
        "AXFR to 127.0.0.2"
    );
    assert_eq!(transfer_from(REFUSED, s.addr(), &axfr), 5, "REFUSED");
    let badkey = signed_with_unknown_key(axfr.clone());
    assert_eq!(
        transfer_from(BADKEY, s.addr(), &badkey),
        9,
        "BADKEY: NOTAUTH"
    );
    assert_eq!(
        transfer_from(FELL_BACK, s.addr(), &ixfr_request(5)),
        0,
        "IXFR from 5"
    );
    let bad_query = signed_with_unknown_key(soa);
    assert_eq!(
        udp_from(BAD_QUERY, s.addr(), &bad_query),
        9,
        "BADKEY: NOTAUTH"
    );
    (s, control, target.port())
}

/// `ctl peers --json example.com` once every peer of the scenario is in
/// it (a transfer is recorded as it ends, just after its last message).
fn peers_json(control: SocketAddr) -> serde_json::Value {
    let addr = control.to_string();
    let mut last = String::new();
    let complete = wait_until(Duration::from_secs(10), || {
        let o = ctl(&["--control", &addr, "--json", "peers", "example.com"]);
        assert!(o.status.success(), "{o:?}");
        last = stdout(&o);
        let json: serde_json::Value = serde_json::from_str(&last).expect("JSON");
        json["peers"].as_array().is_some_and(|p| p.len() == 6)
    });
    assert!(complete, "six peers in the report: {last}");
    serde_json::from_str(&last).expect("JSON")
}

fn peer(json: &serde_json::Value, ip: [u8; 4]) -> &serde_json::Value {
    let ip = std::net::Ipv4Addr::from(ip).to_string();
    json["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["address"] == ip.as_str()))
        .unwrap_or_else(|| panic!("{ip} in {json}"))
}

#[test]
fn ctl_peers_json_has_each_event_with_its_fields() {
    let (s, control, port) = peers_scenario();
    let json = peers_json(control);
    assert_eq!(json["zone"], "example.com");
    assert_eq!(json["serial"], 10);
    assert!(json["published_ms"].as_u64().is_some(), "{json}");
    let rules = json["allow_transfer"].to_string();
    assert!(
        rules.contains("from 127.0.0.2/32") && rules.contains("key xfr-key"),
        "{rules}"
    );
    // FILE:LINE of the rules in the configuration the server read.
    let at = json["allow_transfer_at"]
        .as_str()
        .expect("allow_transfer_at");
    let (file, line) = at.rsplit_once(':').expect("FILE:LINE");
    assert_eq!(std::path::Path::new(file), s.config_path(), "{at}");
    let text = std::fs::read_to_string(file).expect("the configuration");
    let n: usize = line.parse().expect("a line number");
    assert!(
        text.lines()
            .nth(n - 1)
            .is_some_and(|l| l.starts_with("allow_transfer = ")),
        "{at}:\n{text}"
    );

    let notified = peer(&json, NOTIFIED);
    assert_eq!(notified["notify_target"], true);
    let notify = &notified["last_notify"];
    assert_eq!(notify["kind"], "notify", "{notify}");
    assert_eq!(notify["serial"], 10);
    assert_eq!(notify["port"], port);
    assert_eq!(notify["tries"], 1);
    assert_eq!(notify["outcome"]["result"], "acknowledged");
    assert_eq!(notify["outcome"]["rcode"], 0);

    let asker = peer(&json, ASKER);
    assert!(asker["last_soa_query_ms"].as_u64().is_some(), "{asker}");
    let axfr = &asker["last_transfer"];
    assert_eq!(axfr["kind"], "transfer", "{axfr}");
    assert_eq!(axfr["request"], "axfr");
    assert_eq!(axfr["via"], "plain");
    assert_eq!(axfr["outcome"]["result"], "served");
    assert_eq!(axfr["outcome"]["serial"], 10);
    assert_eq!(axfr["outcome"]["sent"], "full");
    assert!(axfr["outcome"]["records"].as_u64() >= Some(3), "{axfr}");
    assert!(axfr["outcome"]["bytes"].as_u64() > Some(0), "{axfr}");
    assert_eq!(asker["last_refusal"], serde_json::Value::Null);

    let refused = &peer(&json, REFUSED)["last_refusal"];
    assert_eq!(refused["request"], "axfr", "{refused}");
    assert_eq!(refused["outcome"]["result"], "refused");
    assert_eq!(refused["outcome"]["denial"], "key");
    assert_eq!(
        refused["outcome"]["reason"],
        "not signed with a rule's TSIG key"
    );

    let badkey = &peer(&json, BADKEY)["last_refusal"];
    assert_eq!(badkey["key"], "nokey", "{badkey}");
    assert_eq!(badkey["outcome"]["result"], "tsig");
    assert_eq!(badkey["outcome"]["error"], "BADKEY");

    let ixfr = &peer(&json, FELL_BACK)["last_transfer"];
    assert_eq!(ixfr["request"], "ixfr", "{ixfr}");
    assert_eq!(ixfr["asked"], 5);
    assert_eq!(ixfr["outcome"]["result"], "served");
    assert_eq!(ixfr["outcome"]["sent"], "full");
    assert_eq!(ixfr["outcome"]["instead_of_ixfr"], "history-missing");

    let query = &peer(&json, BAD_QUERY)["last_refusal"];
    assert_eq!(query["kind"], "soa-query", "{query}");
    assert_eq!(query["key"], "nokey");
    assert_eq!(query["tsig_error"], "BADKEY");
    // The events ring holds them too, newest first.
    assert_eq!(peer(&json, REFUSED)["events"][0], *refused);
}

#[test]
fn ctl_peers_prints_a_line_per_peer_and_one_peers_events() {
    let (s, control, port) = peers_scenario();
    let _ = peers_json(control);
    let addr = control.to_string();
    let o = ctl(&["--control", &addr, "peers", "example.com"]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let line = |ip: [u8; 4]| {
        let ip = format!("{} ", std::net::Ipv4Addr::from(ip));
        text.lines()
            .find(|l| l.starts_with(&ip))
            .unwrap_or_else(|| panic!("a line for {ip}:\n{text}\n{}", s.log()))
            .to_owned()
    };
    assert!(
        text.starts_with("example.com: serial 10, published "),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("PEER ")
            && l.contains(" NOTIFY ")
            && l.contains(" LAST-ASK ")
            && l.contains(" LAST-TRANSFER ")
            && l.ends_with(" LAST-REFUSAL")),
        "{text}"
    );
    let notified = line(NOTIFIED);
    assert!(
        notified.contains(&format!("NOTIFY serial 10 to port {port}: acknowledged, ")),
        "{notified}"
    );
    let asker = line(ASKER);
    assert!(
        asker.contains("AXFR: serial 10, whole zone, ") && asker.ends_with(" -"),
        "asked, transferred, never refused: {asker}"
    );
    assert!(
        line(REFUSED).contains("AXFR: refused: not signed with a rule's TSIG key"),
        "{text}"
    );
    assert!(
        line(BADKEY).contains("AXFR (key nokey): TSIG BADKEY"),
        "{text}"
    );
    assert!(
        line(FELL_BACK)
            .contains("IXFR from 5: serial 10, whole zone (its serial is not in the journal)"),
        "{text}"
    );
    assert!(
        line(BAD_QUERY).contains("signed query (key nokey): BADKEY"),
        "{text}"
    );

    // One peer: its events, newest first.
    let o = ctl(&["--control", &addr, "peers", "example.com", "127.0.0.2"]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(
        text.contains("\n127.0.0.2 (not a NOTIFY target; asked the SOA "),
        "{text}"
    );
    assert!(
        text.contains(" ago  AXFR: serial 10, whole zone, "),
        "{text}"
    );
    let o = ctl(&["--control", &addr, "peers", "nope.example"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown zone"),
        "{o:?}"
    );
}

// ---------------------------------------------------------------------------
// The control key (`server.control_key`)

const CTL_KEY: &str = "ctl-key";
const CTL_SECRET: &str = "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3I=";

/// One raw HTTP exchange with `authorization` as its header (when given):
/// the status line and the body.
fn raw_get(addr: SocketAddr, target: &str, authorization: Option<&str>) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let header = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{header}\r\n"
    )
    .expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// A server whose control interface wants requests signed with ctl-key:
/// unsigned or replayed requests are 401 with what is wrong, `ctl --key`
/// with the configuration's key is let in, each call anew.
#[test]
fn a_control_key_lets_in_signed_requests_once_each() {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\ncontrol_key = \"{CTL_KEY}\"\n\
         [[key]]\nname = \"{CTL_KEY}\"\nalgorithm = \"hmac-sha512\"\nsecret = \"{CTL_SECRET}\"\n{}",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &zone(10, ""))]);
    assert!(
        s.wait_for_log("control interface listening", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    let addr = control.to_string();
    let config_path = s.config_path().to_string_lossy().into_owned();

    // No key: 401, saying what is wanted.
    let o = ctl(&["--control", &addr, "status"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{o:?}");
    assert!(
        err.contains("HTTP 401") && err.contains("ctl --key"),
        "{err}"
    );
    let (status, body) = raw_get(control, "/status", None);
    assert!(status.starts_with("HTTP/1.1 401"), "{status} {body}");

    // ctl --key with the configuration's key: let in, twice in a row.
    for _ in 0..2 {
        let o = ctl(&["--config", &config_path, "--key", CTL_KEY, "status"]);
        assert!(o.status.success(), "{o:?}\n{}", s.log());
        assert!(stdout(&o).contains("example.com"), "{o:?}");
    }
    let o = ctl(&[
        "--config",
        &config_path,
        "--key",
        CTL_KEY,
        "--json",
        "peers",
        "example.com",
    ]);
    assert!(o.status.success(), "{o:?}");
    // A key the configuration does not have: said before anything is sent.
    let o = ctl(&["--config", &config_path, "--key", "nokey", "status"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success() && err.contains("nokey"), "{err}");

    // A signed request sent twice: the second is a replay.
    let key =
        zonesync::tsig::TsigKey::from_config(CTL_KEY, "hmac-sha512", CTL_SECRET).expect("key");
    let signed =
        zonesync::control::auth::sign(&key, "GET", "/status", std::time::SystemTime::now());
    let (status, body) = raw_get(control, "/status", Some(&signed));
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
    let (status, body) = raw_get(control, "/status", Some(&signed));
    assert!(status.starts_with("HTTP/1.1 401"), "{status} {body}");
    assert!(body.contains("already used"), "{body}");
    // The same MAC for another request: it does not verify.
    let (status, body) = raw_get(control, "/metrics", Some(&signed));
    assert!(
        status.starts_with("HTTP/1.1 401") && body.contains("does not verify"),
        "{status} {body}"
    );
    assert!(s.log().contains("control request refused"), "{}", s.log());
}

/// A control key that is no `[[key]]`: the configuration is refused,
/// naming it; a control interface beyond loopback without a key too,
/// naming the fix.
#[test]
fn a_control_key_must_exist_and_is_what_a_wider_control_needs() {
    let dir = TempDir::new("control-key");
    let path = dir.write(
        "zonesync.toml",
        "[server]\nlisten = [\"127.0.0.1:5399\"]\ncontrol = \"127.0.0.1:5398\"\ncontrol_key = \"nokey\"\n",
    );
    let (printed, _log) = refused_config(&path);
    assert!(
        printed.contains("server.control_key") && printed.contains("nokey"),
        "{printed}"
    );
    let path = dir.write(
        "zonesync.toml",
        "[server]\nlisten = [\"127.0.0.1:5399\"]\ncontrol = \"192.0.2.1:5398\"\n",
    );
    let (printed, _log) = refused_config(&path);
    assert!(printed.contains("server.control_key"), "{printed}");
}
