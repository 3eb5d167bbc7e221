//! The monitor's HTTP server over real TCP on 127.0.0.1: every route, its
//! content type and errors, the event stream (first status at once, then
//! only changes, keep-alives, the stream cap, shutdown), from a fake
//! `MonitorView` whose answers and received arguments the tests control.
//!
//! `/api/peers` with the real binary: a monitor inside `serve` shows the
//! server's own peer history (a secondary's transfer), a standalone
//! monitor reads it from the zone's `primary_control`, and without one
//! says there is none.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zonesync::monitor::api::{
    ChangeView, EventView, HistoryPoint, HistoryView, MonitorView, ServerView, StatusView, ZoneView,
};
use zonesync::monitor::http::{DashboardServer, DashboardSettings};
use zonesync::net::Shutdown;
use zonesync::serial::Serial;

/// Bound of one exchange in these tests.
const EXCHANGE: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn server(ns: &str, port: u16, serial: Option<u32>, status: &str) -> ServerView {
    ServerView {
        server: format!("{ns}@127.0.0.1:{port}"),
        ns: ns.into(),
        addr: format!("127.0.0.1:{port}"),
        serial: serial.map(Serial),
        lag: serial.map(|s| 2024010102_i64 - i64::from(s)),
        status: status.into(),
        rtt_ms: Some(1.5),
        behind_since_ms: None,
        catch_up_ms: Some(1200),
        expire_left: Some(604_800),
        detail: None,
        zonemd: None,
        diagnosis: None,
    }
}

fn zone(serial2: u32) -> ZoneView {
    let mut caught_up = BTreeMap::new();
    caught_up.insert("ns1.example.com.@127.0.0.1:5301".to_string(), 1_000_500);
    ZoneView {
        zone: "example.com.".into(),
        state: if serial2 == 2024010102 {
            "ok".into()
        } else {
            "out-of-sync".into()
        },
        reference_serial: Some(Serial(2024010102)),
        last_check_ms: Some(1_000_000),
        servers: vec![
            server("ns1.example.com.", 5301, Some(2024010102), "ok"),
            server(
                "ns2.example.com.",
                5302,
                Some(serial2),
                if serial2 == 2024010102 {
                    "ok"
                } else {
                    "behind"
                },
            ),
        ],
        last_change: Some(ChangeView {
            serial: Serial(2024010102),
            started_ms: 1_000_000,
            origin: "published".into(),
            caught_up,
            complete_ms: None,
        }),
        problems: vec![],
    }
}

/// A monitor whose status the test sets; it stamps `generated_ms` anew at
/// each call, as a real one may, and records what it was asked.
struct Fake {
    zone: Mutex<ZoneView>,
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn new() -> Arc<Fake> {
        Arc::new(Fake {
            zone: Mutex::new(zone(2024010102)),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn set_serial2(&self, serial: u32) {
        *self.zone.lock().unwrap() = zone(serial);
    }

    fn last_call(&self) -> String {
        self.calls
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    fn known(zone: &str) -> bool {
        zone == "example.com."
    }
}

impl MonitorView for Fake {
    fn status(&self) -> StatusView {
        StatusView {
            version: "test".into(),
            generated_ms: now_ms(),
            zones: vec![self.zone.lock().unwrap().clone()],
        }
    }

    fn history(&self, zone: &str, since_ms: u64) -> Option<HistoryView> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("history {zone} {since_ms}"));
        Fake::known(zone).then(|| HistoryView {
            zone: zone.into(),
            since_ms,
            points: vec![HistoryPoint {
                server: "ns1.example.com.@127.0.0.1:5301".into(),
                time_ms: since_ms + 1,
                serial: Some(Serial(7)),
                status: "ok".into(),
            }],
        })
    }

    fn events(&self, zone: Option<&str>, limit: usize) -> Vec<EventView> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("events {zone:?} {limit}"));
        vec![EventView {
            zone: "example.com.".into(),
            time_ms: 5,
            kind: "mismatch-began".into(),
            server: Some("ns2.example.com.@127.0.0.1:5302".into()),
            detail: "serial 2024010101, reference 2024010102".into(),
        }]
    }

    fn changes(&self, zone: &str, limit: usize) -> Option<Vec<ChangeView>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("changes {zone} {limit}"));
        Fake::known(zone).then(|| vec![self.zone.lock().unwrap().last_change.clone().unwrap()])
    }

    fn metrics(&self) -> String {
        "# TYPE zonesync_monitor_up gauge\nzonesync_monitor_up 1\n".into()
    }
}

/// A running server; stops (and waits for) it on drop.
struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(EXCHANGE, task)
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

fn test_settings() -> DashboardSettings {
    DashboardSettings {
        stream_poll: Duration::from_millis(50),
        stream_keepalive: Duration::from_millis(300),
        ..DashboardSettings::default()
    }
}

fn start(view: Arc<Fake>, settings: DashboardSettings) -> Running {
    let server = DashboardServer::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_settings(settings);
    let addr = server.local_addr().unwrap();
    let shutdown = Shutdown::default();
    let task = tokio::spawn(server.run(view, shutdown.clone()));
    Running {
        addr,
        shutdown,
        task: Some(task),
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn json(&self) -> serde_json::Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        serde_json::from_slice(&self.body).unwrap()
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// One request, the whole answer (the server closes after each).
async fn request(addr: SocketAddr, method: &str, target: &str, extra: &str) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(EXCHANGE, exchange)
        .await
        .expect("answer in time");
    parse_reply(&raw, method == "HEAD")
}

async fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, "").await
}

fn parse_reply(raw: &[u8], head: bool) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head_text = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if head {
        assert!(rest.is_empty(), "HEAD answer has a body");
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size_text = std::str::from_utf8(&data[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_and_assets() {
    let run = start(Fake::new(), test_settings());
    let page = get(run.addr, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.text().contains("id=\"zones\""));
    assert!(page.text().contains("/assets/app.js"));
    // A bookmark's query does not change the page.
    assert_eq!(get(run.addr, "/?zone=x").await.body, page.body);

    for (path, ctype, needle) in [
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
        ("/assets/app.css", "text/css; charset=utf-8", ".badge"),
        ("/assets/favicon.svg", "image/svg+xml", "<svg"),
        ("/favicon.ico", "image/svg+xml", "<svg"),
    ] {
        let r = get(run.addr, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ctype), "{path}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
        assert!(r.text().contains(needle), "{path}");
        // Revalidation: the validator saves the body.
        let etag = r.header("etag").unwrap().to_owned();
        let again = request(run.addr, "GET", path, &format!("If-None-Match: {etag}\r\n")).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        let stale = request(run.addr, "GET", path, "If-None-Match: \"0\"\r\n").await;
        assert_eq!(stale.status, 200);
    }

    // HEAD: the headers of GET, no body.
    let head = request(run.addr, "HEAD", "/assets/app.js", "").await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes() {
    let fake = Fake::new();
    let run = start(fake.clone(), test_settings());

    let status = get(run.addr, "/status").await;
    assert_eq!(status.status, 200);
    assert_eq!(status.header("cache-control"), Some("no-store"));
    let view: StatusView = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(view.zones, vec![zone(2024010102)]);
    assert_eq!(view.version, "test");

    // History: the given since, or the last hour; zone names normalised.
    let r = get(run.addr, "/api/history?zone=example.com.&since_ms=1234").await;
    assert_eq!(r.status, 200);
    let h: HistoryView = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(h.since_ms, 1234);
    assert_eq!(fake.last_call(), "history example.com. 1234");
    let before = now_ms();
    let r = get(run.addr, "/api/history?zone=EXAMPLE.com").await;
    assert_eq!(r.status, 200);
    let h: HistoryView = serde_json::from_slice(&r.body).unwrap();
    assert!(
        h.since_ms + 3_600_000 >= before && h.since_ms + 3_600_000 <= now_ms(),
        "{h:?}"
    );
    assert_eq!(h.zone, "example.com.");
    let r = get(run.addr, "/api/history?zone=nope.example.").await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("unknown zone"), "{r:?}");
    for bad in [
        "/api/history",
        "/api/history?zone=",
        "/api/history?zone=example.com&since_ms=yesterday",
        "/api/history?zone=example.com&limit=3",
        "/api/history?zone=a&zone=b",
    ] {
        let r = get(run.addr, bad).await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(!r.error().is_empty());
    }

    // Events: zone optional, limit 100 by default, at most 1000.
    let r = get(run.addr, "/api/events").await;
    assert_eq!(r.status, 200);
    let events: Vec<EventView> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "mismatch-began");
    assert_eq!(fake.last_call(), "events None 100");
    get(run.addr, "/api/events?zone=example.com&limit=5000").await;
    assert_eq!(fake.last_call(), "events Some(\"example.com.\") 1000");
    get(run.addr, "/api/events?limit=3").await;
    assert_eq!(fake.last_call(), "events None 3");
    assert_eq!(get(run.addr, "/api/events?limit=-1").await.status, 400);
    assert_eq!(get(run.addr, "/api/events?since_ms=1").await.status, 400);

    // Changes.
    let r = get(run.addr, "/api/changes?zone=example.com.").await;
    assert_eq!(r.status, 200);
    let changes: Vec<ChangeView> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(changes[0].serial, Serial(2024010102));
    assert_eq!(fake.last_call(), "changes example.com. 20");
    get(run.addr, "/api/changes?zone=example.com.&limit=2").await;
    assert_eq!(fake.last_call(), "changes example.com. 2");
    assert_eq!(get(run.addr, "/api/changes?zone=other.").await.status, 404);
    assert_eq!(get(run.addr, "/api/changes").await.status, 400);

    // Metrics: the Prometheus text format's content type, the text as is.
    let m = get(run.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(m.text(), fake.metrics());

    // Methods, paths, parameters.
    let post = request(run.addr, "POST", "/status", "Content-Length: 0\r\n").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(request(run.addr, "DELETE", "/", "").await.status, 405);
    let missing = get(run.addr, "/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.error().contains("/nope"));
    assert_eq!(get(run.addr, "/status?zone=x").await.status, 400);
    assert_eq!(get(run.addr, "/api/history?zone=%zz").await.status, 400);
    run.stop().await;
}

/// Reads a stream until `want` events (or comments, with `comments`) came,
/// or the deadline; returns what came.
async fn read_events(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    want: usize,
    comments: bool,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(buf).into_owned();
        let found: Vec<String> = text
            .split("\n\n")
            .filter(|m| m.contains("event: status") || (comments && m.contains(": keep-alive")))
            .map(str::to_owned)
            .collect();
        if found.len() >= want {
            return found;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return found;
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) => return found,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
        }
    }
}

fn status_of(message: &str) -> StatusView {
    let data = message
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    serde_json::from_str(data).unwrap()
}

async fn open_stream(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
    (stream, Vec::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream() {
    let fake = Fake::new();
    let run = start(
        fake.clone(),
        DashboardSettings {
            max_streams: 1,
            ..test_settings()
        },
    );
    let (mut stream, mut buf) = open_stream(run.addr).await;
    let first = read_events(&mut stream, &mut buf, 1, false, EXCHANGE).await;
    assert_eq!(first.len(), 1, "{:?}", String::from_utf8_lossy(&buf));
    let head = String::from_utf8_lossy(&buf).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    assert!(head.contains("retry: "));
    assert_eq!(status_of(&first[0]).zones, vec![zone(2024010102)]);

    // `generated_ms` moves at every poll, but only a real change is sent;
    // meanwhile keep-alive comments flow.
    let quiet = read_events(&mut stream, &mut buf, 2, false, Duration::from_millis(700)).await;
    assert_eq!(quiet.len(), 1, "a status without a change was sent");
    let with_comments = read_events(&mut stream, &mut buf, 2, true, EXCHANGE).await;
    assert!(with_comments.len() >= 2, "no keep-alive comment");

    // The stream cap: a second stream is refused, and the page polls.
    let refused = get(run.addr, "/api/stream").await;
    assert_eq!(refused.status, 503);
    assert!(refused.header("retry-after").is_some());
    // HEAD does not take a stream slot.
    let head = request(run.addr, "HEAD", "/api/stream", "").await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );

    // A change is sent.
    fake.set_serial2(2024010101);
    let events = read_events(&mut stream, &mut buf, 2, false, EXCHANGE).await;
    assert_eq!(events.len(), 2);
    let changed = status_of(&events[1]);
    assert_eq!(changed.zones[0].state, "out-of-sync");
    assert_eq!(changed.zones[0].servers[1].status, "behind");

    // Closing the client frees the slot (found at the next keep-alive).
    drop(stream);
    let deadline = Instant::now() + EXCHANGE;
    let mut reopened = None;
    while Instant::now() < deadline {
        let (mut s, mut b) = open_stream(run.addr).await;
        let got = read_events(&mut s, &mut b, 1, false, Duration::from_secs(2)).await;
        if got.len() == 1 {
            reopened = Some((s, b));
            break;
        }
        assert!(
            String::from_utf8_lossy(&b).contains(" 503 "),
            "{}",
            String::from_utf8_lossy(&b)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut stream, mut buf) = reopened.expect("slot freed after the client left");

    // Shutdown ends the stream: the connection closes within a poll.
    run.shutdown.trigger();
    let ended = tokio::time::timeout(EXCHANGE, async {
        let mut chunk = [0u8; 4096];
        for _ in 0..10_000 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "stream still open after shutdown");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_lifetime_and_header_timeout() {
    let run = start(
        Fake::new(),
        DashboardSettings {
            stream_lifetime: Duration::from_millis(400),
            header_timeout: Duration::from_millis(300),
            connection_timeout: Duration::from_millis(200),
            ..test_settings()
        },
    );
    // A stream outlives the ordinary exchange timeout, and ends at its
    // lifetime (the browser then reconnects).
    let (mut stream, mut buf) = open_stream(run.addr).await;
    let started = Instant::now();
    let ended = tokio::time::timeout(EXCHANGE, async {
        let mut chunk = [0u8; 4096];
        for _ in 0..10_000 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "stream never ended");
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(String::from_utf8_lossy(&buf).contains("event: status"));

    // A client that never finishes its headers is cut.
    let mut idle = TcpStream::connect(run.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(EXCHANGE, idle.read_to_end(&mut rest)).await;
    assert!(cut.is_ok(), "a silent client kept its connection");
    run.stop().await;
}

// ---------------------------------------------------------------------------
// `/api/peers` with the real binary: the peer history of the primary.

/// A primary's zone at `serial`, a REFRESH long enough that a secondary
/// transfers it once.
fn zone_file(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.1\nwww TXT \"version {serial}\"\n"
    )
}

/// `[monitor]` watching example.com at these `ns` entries, its dashboard
/// on `dashboard`; `zone_extra` goes into its `[[monitor.zone]]`.
fn monitor_toml(dashboard: SocketAddr, ns: &[String], zone_extra: &str) -> String {
    let ns: Vec<String> = ns.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "[monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nfast_interval_ms = 100\ntimeout_ms = 300\n\
         resolver = \"127.0.0.1:9\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nns = [{}]\n{zone_extra}",
        ns.join(", ")
    )
}

/// A primary of example.com (serial 1, AXFR open to loopback) on
/// `addr`, with `more` in its configuration.
fn primary(addr: SocketAddr, more: &str) -> common::Server {
    common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n{more}{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
            common::zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &zone_file(1))],
        &common::StartOptions {
            addr: Some(addr),
            ..common::StartOptions::default()
        },
    )
}

/// A zonesync secondary of example.com on `addr`, serving serial 1 from
/// `primary` once this returns.
fn secondary(addr: SocketAddr, primary: SocketAddr) -> common::Server {
    let s = common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
             primaries = [{{ address = \"{primary}\" }}]\n"
        ),
        &[],
        &common::StartOptions {
            addr: Some(addr),
            ..common::StartOptions::default()
        },
    );
    common::wait_serial_at(addr, "example.com", 1, Duration::from_secs(10), || s.log());
    s
}

/// `GET /api/peers?zone=example.com` on a dashboard: status and JSON.
fn api_peers(dashboard: SocketAddr, query: &str) -> (u16, serde_json::Value) {
    let (status, body) = common::http_get(dashboard, &format!("/api/peers{query}"));
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// The report once the peer at `ip` has a transfer in it (a transfer is
/// recorded as it ends, just after its last message).
fn report_with_transfer(
    dashboard: SocketAddr,
    ip: &str,
    logs: impl Fn() -> String,
) -> serde_json::Value {
    let mut last = (0, serde_json::Value::Null);
    let found = common::wait_until(Duration::from_secs(15), || {
        last = api_peers(dashboard, "?zone=example.com");
        last.0 == 200 && !peer_of(&last.1, ip)["last_transfer"].is_null()
    });
    assert!(
        found,
        "/api/peers shows the transfer to {ip}: {} {}\n{}",
        last.0,
        last.1,
        logs()
    );
    last.1
}

fn peer_of<'a>(report: &'a serde_json::Value, ip: &str) -> &'a serde_json::Value {
    report["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["address"] == ip))
        .unwrap_or(&serde_json::Value::Null)
}

/// What every report of these tests says of the secondary's transfer.
fn assert_served_serial_1(report: &serde_json::Value) {
    assert_eq!(report["zone"], "example.com", "{report}");
    assert_eq!(report["serial"], 1, "{report}");
    let transfer = &peer_of(report, "127.0.0.1")["last_transfer"];
    assert_eq!(transfer["kind"], "transfer", "{transfer}");
    assert_eq!(transfer["outcome"]["result"], "served", "{transfer}");
    assert_eq!(transfer["outcome"]["serial"], 1, "{transfer}");
    assert!(
        transfer["outcome"]["records"].as_u64() >= Some(4),
        "{transfer}"
    );
    assert!(
        report["allow_transfer"]
            .to_string()
            .contains("from 127.0.0.0/8"),
        "{report}"
    );
}

/// A monitor in `serve` reads the server's own history; the rows'
/// addresses are asked about too (127.0.0.3: a row nobody answers at,
/// which the history has never seen).
#[test]
fn api_peers_inside_serve_shows_a_secondarys_transfer() {
    let (p, s, dashboard) = (
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
    );
    let silent = SocketAddr::from(([127, 0, 0, 3], common::free_port()));
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={s}"),
        format!("ns3.example.com={silent}"),
    ];
    let primary = primary(p, &monitor_toml(dashboard, &ns, ""));
    let secondary = secondary(s, p);
    let logs = || format!("{}\n--- secondary ---\n{}", primary.log(), secondary.log());
    let mut report = report_with_transfer(dashboard, "127.0.0.1", logs);
    assert_served_serial_1(&report);
    // The rows' addresses come with the next check; the unanswering row
    // is in the report with nothing seen of it.
    assert!(
        common::wait_until(Duration::from_secs(15), || {
            report = api_peers(dashboard, "?zone=example.com").1;
            !peer_of(&report, "127.0.0.3").is_null()
        }),
        "{report}"
    );
    let unseen = peer_of(&report, "127.0.0.3");
    assert_eq!(unseen["last_transfer"], serde_json::Value::Null, "{unseen}");
    assert_eq!(unseen["events"], serde_json::json!([]), "{unseen}");

    let (status, unknown) = api_peers(dashboard, "?zone=other.example");
    assert_eq!(status, 404, "{unknown}");
    assert!(
        unknown["error"].to_string().contains("unknown zone"),
        "{unknown}"
    );
    assert_eq!(api_peers(dashboard, "").0, 400);
    assert_eq!(
        api_peers(dashboard, "?zone=example.com&with=1.2.3.4").0,
        400
    );
}

/// `zonesync monitor` with `[[monitor.zone]] primary_control`: the
/// primary's report, read from its control interface.
#[test]
fn api_peers_of_a_standalone_monitor_reads_the_primary_control() {
    let (p, s, control, dashboard) = (
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
    );
    let primary = primary(p, &format!("control = \"{control}\"\n"));
    let secondary = secondary(s, p);
    let dir = common::TempDir::new("monitor-control");
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={s}"),
    ];
    let config = dir.write(
        "monitor.toml",
        monitor_toml(
            dashboard,
            &ns,
            &format!("primary_control = \"{control}\"\n"),
        ),
    );
    let log = dir.join("monitor.log");
    let _monitor = standalone_monitor(&config, &log);
    let logs = || {
        format!(
            "{}\n--- secondary ---\n{}\n--- monitor ---\n{}",
            primary.log(),
            secondary.log(),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    };
    let report = report_with_transfer(dashboard, "127.0.0.1", logs);
    assert_served_serial_1(&report);
    // Where the primary's rules are written: its own file and line.
    let at = report["allow_transfer_at"].as_str().unwrap_or_default();
    let (file, line) = at.rsplit_once(':').unwrap_or_default();
    assert_eq!(
        std::path::Path::new(file),
        primary.config_path(),
        "{report}"
    );
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let line: usize = line.parse().unwrap_or(0);
    assert!(
        text.lines()
            .nth(line.saturating_sub(1))
            .is_some_and(|l| l.starts_with("allow_transfer = ")),
        "{at}:\n{text}"
    );
}

/// A primary whose control wants `control_key`: the standalone monitor
/// signs its reads with `primary_control_key` (a `[[key]]` of its own
/// file); without the key the control answers 401 and the API says so.
#[test]
fn api_peers_of_a_standalone_monitor_signs_a_keyed_primary_control() {
    let (p, s, control, dashboard) = (
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
    );
    let key =
        "[[key]]\nname = \"ctl-key\"\nsecret = \"9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=\"\n";
    let primary = primary(
        p,
        &format!("control = \"{control}\"\ncontrol_key = \"ctl-key\"\n{key}"),
    );
    let secondary = secondary(s, p);
    let dir = common::TempDir::new("monitor-keyed-control");
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={s}"),
    ];
    let unsigned_dashboard = common::free_addr();
    // Its own directory: each monitor keeps its database beside its file.
    let unsigned_dir = common::TempDir::new("monitor-unsigned-control");
    let unsigned = unsigned_dir.write(
        "unsigned.toml",
        monitor_toml(
            unsigned_dashboard,
            &ns,
            &format!("primary_control = \"{control}\"\n"),
        ),
    );
    let config = dir.write(
        "monitor.toml",
        format!(
            "{}{key}",
            monitor_toml(
                dashboard,
                &ns,
                &format!("primary_control = \"{control}\"\nprimary_control_key = \"ctl-key\"\n"),
            )
        ),
    );
    let log = dir.join("monitor.log");
    let _monitor = standalone_monitor(&config, &log);
    let logs = || {
        format!(
            "{}\n--- secondary ---\n{}\n--- monitor ---\n{}",
            primary.log(),
            secondary.log(),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    };
    let report = report_with_transfer(dashboard, "127.0.0.1", logs);
    assert_served_serial_1(&report);
    // The same monitor without the key: refused, and the API says why.
    let unsigned_log = unsigned_dir.join("unsigned.log");
    let _unsigned = standalone_monitor(&unsigned, &unsigned_log);
    let mut answer = (0, serde_json::Value::Null);
    let refused = common::wait_until(Duration::from_secs(15), || {
        answer = api_peers(unsigned_dashboard, "?zone=example.com");
        answer.0 == 502
    });
    assert!(refused, "{answer:?}\n{}", logs());
    assert!(answer.1.to_string().contains("401"), "{answer:?}");
}

/// `zonesync monitor` without `primary_control` has no peer history, and
/// says why.
#[test]
fn api_peers_of_a_standalone_monitor_without_primary_control_is_404() {
    let dashboard = common::free_addr();
    let dir = common::TempDir::new("monitor-no-control");
    let nobody = common::free_addr();
    let config = dir.write(
        "monitor.toml",
        monitor_toml(dashboard, &[format!("ns1.example.com={nobody}")], ""),
    );
    let log = dir.join("monitor.log");
    let _monitor = standalone_monitor(&config, &log);
    let mut answer = (0, serde_json::Value::Null);
    let up = common::wait_until(Duration::from_secs(10), || {
        answer = api_peers(dashboard, "?zone=example.com");
        answer.0 != 0
    });
    assert!(up, "{}", std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!(answer.0, 404, "{}", answer.1);
    assert_eq!(
        answer.1["error"],
        "no peer history: the monitor runs outside the primary and the zone has no primary_control"
    );
    let (status, unknown) = api_peers(dashboard, "?zone=other.example");
    assert_eq!(status, 404);
    assert!(
        unknown["error"].to_string().contains("unknown zone"),
        "{unknown}"
    );
}

/// `zonesync monitor --config CONFIG`, its log in `log`; killed on drop.
fn standalone_monitor(config: &std::path::Path, log: &std::path::Path) -> common::KillOnDrop {
    let mut cmd = common::zonesync();
    cmd.arg("monitor").arg("--config").arg(config);
    cmd.stderr(std::fs::File::create(log).expect("the monitor's log"));
    common::KillOnDrop(cmd.spawn().expect("zonesync monitor starts"))
}
