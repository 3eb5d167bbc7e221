//! The control server and client against a fake handler. Every wait is
//! bounded: the client has a timeout, raw sockets have read timeouts.

use super::http::Params;
use super::*;
use crate::net::Shutdown;
use crate::tsig::TsigKey;
use hyper::Method;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Zones: "example.com" (2 targets), "locked.example" (reload refused),
/// "broken.example" (reload fails in its outcome).
#[derive(Default)]
struct Fake {
    reloads: Mutex<Vec<(Option<String>, bool)>>,
    reload_delay: Duration,
    zones: usize,
}

const ZONES: [&str; 3] = ["example.com", "locked.example", "broken.example"];

impl ControlHandler for Fake {
    fn csync_scan<'a>(
        &'a self,
        _zone: Option<&'a str>,
        _child: Option<&'a str>,
        _dry_run: bool,
    ) -> crate::control::Pending<'a, Vec<ChildReport>> {
        Box::pin(async { Err(ControlError::Refused("no CSYNC here".into())) })
    }

    fn csync_pending(&self) -> Vec<PendingReport> {
        Vec::new()
    }

    fn csync_approve<'a>(&'a self, _child: &'a str) -> crate::control::Pending<'a, ChildReport> {
        Box::pin(async { Err(ControlError::Refused("no CSYNC here".into())) })
    }

    fn txn(
        &self,
        zone: &str,
        call: &crate::control::TxnCall,
    ) -> Result<crate::control::TxnReport, ControlError> {
        Err(ControlError::Refused(format!(
            "{zone}: no {} here",
            call.op()
        )))
    }

    fn zone_add<'a>(
        &'a self,
        zone: &'a str,
        template: &'a str,
        _file: Option<&'a str>,
    ) -> super::Pending<'a, super::ZoneChange> {
        Box::pin(async move {
            Err(ControlError::Refused(format!(
                "{zone}: no template {template} here"
            )))
        })
    }

    fn zone_remove<'a>(&'a self, zone: &'a str) -> super::Pending<'a, super::ZoneChange> {
        Box::pin(async move { Err(ControlError::UnknownZone(zone.into())) })
    }

    /// example.com: the addresses asked about, nothing seen of them.
    fn peers(
        &self,
        zone: &str,
        with: &[std::net::IpAddr],
    ) -> Result<super::PeerReport, ControlError> {
        if zone != "example.com" {
            return Err(ControlError::UnknownZone(zone.into()));
        }
        Ok(super::PeerReport {
            zone: zone.into(),
            serial: Some(Serial(3)),
            published_ms: Some(1_700_000_000_000),
            notify_running: false,
            notify_targets: vec!["127.0.0.2:53".into()],
            allow_transfer: vec!["from 127.0.0.0/8".into()],
            allow_transfer_at: Some("zonesync.toml:9".into()),
            peers: with
                .iter()
                .map(|ip| crate::peers::PeerView::unknown(*ip))
                .collect(),
        })
    }

    fn status(&self) -> ServerStatus {
        let zones = (0..self.zones.max(1))
            .map(|i| ZoneStatus {
                name: format!("z{i}.example"),
                role: "primary".into(),
                serial: Some(Serial(i as u32)),
                records: Some(10),
                loaded_at_unix: Some(1_700_000_000),
                last_error: None,
                journal: None,
                notify_targets: vec!["127.0.0.2:53".into()],
                transfers_out: 0,
                secondary: None,
                dynamic: None,
                catalog: None,
            })
            .collect();
        ServerStatus {
            version: "9.9.9".into(),
            uptime_secs: 42,
            zones,
        }
    }

    fn metrics(&self) -> String {
        "# HELP zonesync_fake_total A fake counter\n\
         # TYPE zonesync_fake_total counter\n\
         zonesync_fake_total{zone=\"example.com\"} 7\n"
            .into()
    }

    fn reload(&self, zone: Option<&str>, force: bool) -> Result<Vec<ZoneReload>, ControlError> {
        // A blocking call, as loading a zone file is.
        std::thread::sleep(self.reload_delay);
        if let Ok(mut r) = self.reloads.lock() {
            r.push((zone.map(String::from), force));
        }
        let names: Vec<&str> = match zone {
            None => ZONES.to_vec(),
            Some("locked.example") => return Err(ControlError::Refused("zone is locked".into())),
            Some(z) if ZONES.contains(&z) => vec![z],
            Some(z) => return Err(ControlError::UnknownZone(z.into())),
        };
        Ok(names
            .into_iter()
            .map(|z| ZoneReload {
                zone: z.into(),
                outcome: if z == "broken.example" {
                    ReloadOutcome::Failed
                } else {
                    ReloadOutcome::Loaded
                },
                old_serial: Some(Serial(1)),
                serial: Some(Serial(2)),
                message: None,
            })
            .collect())
    }

    fn notify(&self, zone: &str) -> Result<NotifyQueued, ControlError> {
        match zone {
            "example.com" => Ok(NotifyQueued {
                zone: zone.into(),
                targets: 2,
            }),
            _ => Err(ControlError::UnknownZone(zone.into())),
        }
    }

    fn refresh(&self, zone: &str, retransfer: bool) -> Result<RefreshQueued, ControlError> {
        match zone {
            "example.com" => Ok(RefreshQueued {
                zone: zone.into(),
                retransfer,
            }),
            _ => Err(ControlError::UnknownZone(zone.into())),
        }
    }
}

/// A control server on 127.0.0.1:0 on a runtime of its own, stopped on drop.
struct TestServer {
    addr: SocketAddr,
    handler: Arc<Fake>,
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    fn start(handler: Fake, settings: ControlSettings) -> TestServer {
        TestServer::start_keyed(handler, settings, None)
    }

    /// A server requiring requests signed with `key`, when given.
    fn start_keyed(handler: Fake, settings: ControlSettings, key: Option<&TsigKey>) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = {
            let _guard = rt.enter();
            let server = ControlServer::bind("127.0.0.1:0".parse().expect("addr"))
                .expect("bind")
                .with_settings(settings);
            match key {
                Some(key) => server.with_key(key),
                None => server,
            }
        };
        let addr = server.local_addr().expect("local addr");
        let handler = Arc::new(handler);
        let shutdown = Shutdown::default();
        let task = rt.spawn(server.run(handler.clone(), shutdown.clone()));
        TestServer {
            addr,
            handler,
            shutdown,
            task: Some(task),
            rt: Some(rt),
        }
    }

    fn default() -> TestServer {
        TestServer::start(Fake::default(), ControlSettings::default())
    }

    fn client(&self) -> Client {
        Client::new(self.addr).with_timeout(Duration::from_secs(10))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Sends `raw` and reads the whole answer (the server closes after one).
fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(raw).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_code(err: ClientError) -> u16 {
    match err {
        ClientError::Status { status, .. } => status,
        other => panic!("expected an HTTP error status, got {other:?}"),
    }
}

/// With a control key, only requests signed with it get an answer: an
/// unsigned, replayed or otherwise-signed one is 401 with what is wrong,
/// and the scheme in `WWW-Authenticate`.
#[test]
fn a_keyed_server_answers_signed_requests_only() {
    let secret = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
    let key = TsigKey::from_config("ctl-key", "hmac-sha256", secret).expect("key");
    let server = TestServer::start_keyed(Fake::default(), ControlSettings::default(), Some(&key));
    let err = server.client().status().expect_err("unsigned");
    let text = err.to_string();
    assert_eq!(status_code(err), 401);
    assert!(text.contains("ctl --key"), "{text}");
    let status = server
        .client()
        .with_key(key.clone())
        .status()
        .expect("signed");
    assert_eq!(status.version, "9.9.9");
    // Every call signs anew: a second one is no replay.
    server
        .client()
        .with_key(key.clone())
        .status()
        .expect("signed again");
    let header = super::auth::sign(&key, "GET", "/status", std::time::SystemTime::now());
    let raw = format!("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\n\r\n");
    let first = raw_exchange(server.addr, raw.as_bytes());
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let again = raw_exchange(server.addr, raw.as_bytes());
    assert!(again.starts_with("HTTP/1.1 401"), "{again}");
    assert!(again.contains("already used"), "{again}");
    assert!(
        again
            .to_ascii_lowercase()
            .contains("www-authenticate: zonesync-hmac"),
        "{again}"
    );
    let other = TsigKey::from_config("other-key", "hmac-sha256", secret).expect("key");
    let err = server
        .client()
        .with_key(other)
        .status()
        .expect_err("another key");
    let text = err.to_string();
    assert_eq!(status_code(err), 401);
    assert!(text.contains("other-key"), "{text}");
    // A route the key does not sign: refused before routing (no 404).
    let (status, _) = server
        .client()
        .request(Method::GET, "/no-such-path")
        .expect("an answer");
    assert_eq!(status, 401);
}

#[test]
fn status_round_trip() {
    let server = TestServer::default();
    let status = server.client().status().expect("status");
    assert_eq!(status.version, "9.9.9");
    assert_eq!(status.uptime_secs, 42);
    assert_eq!(status.zones.len(), 1);
    assert_eq!(status.zones[0].notify_targets, ["127.0.0.2:53"]);
}

#[test]
fn large_status_round_trip() {
    let server = TestServer::start(
        Fake {
            zones: 20_000,
            ..Fake::default()
        },
        ControlSettings::default(),
    );
    let status = server.client().status().expect("status");
    assert_eq!(status.zones.len(), 20_000);
    assert_eq!(status.zones[19_999].serial, Some(Serial(19_999)));
}

#[test]
fn reload_all_one_and_forced() {
    let server = TestServer::default();
    let client = server.client();
    let all = client.reload(None, false).expect("reload all");
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].outcome, ReloadOutcome::Failed);
    let one = client
        .reload(Some("example.com"), true)
        .expect("reload one");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].zone, "example.com");
    assert_eq!(
        (one[0].old_serial, one[0].serial),
        (Some(Serial(1)), Some(Serial(2)))
    );
    let seen = server.handler.reloads.lock().expect("lock").clone();
    assert_eq!(seen, [(None, false), (Some("example.com".into()), true)]);
}

#[test]
fn reload_errors_map_to_statuses() {
    let server = TestServer::default();
    let client = server.client();
    let e = client.reload(Some("nope.example"), false).unwrap_err();
    assert!(
        e.to_string().contains("unknown zone \"nope.example\""),
        "{e}"
    );
    assert_eq!(status_code(e), 404);
    let e = client.reload(Some("locked.example"), false).unwrap_err();
    assert!(e.to_string().contains("zone is locked"), "{e}");
    assert_eq!(status_code(e), 409);
}

#[test]
fn notify_routes() {
    let server = TestServer::default();
    let client = server.client();
    let q = client.notify("example.com").expect("notify");
    assert_eq!((q.zone.as_str(), q.targets), ("example.com", 2));
    assert_eq!(status_code(client.notify("nope.example").unwrap_err()), 404);
    let (status, body) = client.request(Method::POST, "/notify").expect("request");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("needs ?zone=NAME"));
}

#[test]
fn unknown_paths_methods_and_parameters() {
    let server = TestServer::default();
    let client = server.client();
    let cases: [(Method, &str, u16); 17] = [
        (Method::GET, "/", 404),
        (Method::GET, "/statusx", 404),
        (Method::POST, "/status", 405),
        (Method::GET, "/reload", 405),
        (Method::DELETE, "/notify?zone=example.com", 405),
        (Method::GET, "/status?zone=example.com", 400),
        (Method::POST, "/metrics", 405),
        (Method::GET, "/metrics?zone=example.com", 400),
        (Method::POST, "/reload?force=maybe", 400),
        (Method::POST, "/reload?zone=a&zone=b", 400),
        (Method::POST, "/reload?zone=%zz", 400),
        (Method::POST, "/notify?zone=example.com&force=1", 400),
        (Method::POST, "/peers?zone=example.com", 405),
        (Method::GET, "/peers", 400),
        (Method::GET, "/peers?zone=example.com&with=", 400),
        (Method::GET, "/peers?zone=example.com&with=1.2.3", 400),
        (Method::GET, "/peers?zone=nope.example", 404),
    ];
    for (method, target, want) in cases {
        let (status, body) = client.request(method.clone(), target).expect("request");
        assert_eq!(status, want, "{method} {target}");
        let err: ErrorBody = serde_json::from_slice(&body).expect("error body is JSON");
        assert!(!err.error.is_empty());
    }
    // Percent-encoded names reach the handler decoded.
    let (status, _) = client
        .request(Method::POST, "/reload?zone=example%2Ecom&force")
        .expect("request");
    assert_eq!(status, 200);
    let seen = server.handler.reloads.lock().expect("lock").clone();
    assert_eq!(seen, [(Some("example.com".into()), true)]);
}

#[test]
fn answers_are_json_and_a_body_is_ignored() {
    let server = TestServer::default();
    let out = raw_exchange(
        server.addr,
        b"POST /notify?zone=example.com HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("content-type: application/json\r\n"), "{out}");
    assert!(
        out.ends_with("{\"zone\":\"example.com\",\"targets\":2}\n"),
        "{out}"
    );
    let out = raw_exchange(server.addr, b"PUT /status HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    assert!(out.contains("allow: GET\r\n"), "{out}");
}

#[test]
fn metrics_are_prometheus_text() {
    let server = TestServer::default();
    let out = raw_exchange(server.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{out}"
    );
    assert!(
        out.ends_with("zonesync_fake_total{zone=\"example.com\"} 7\n"),
        "{out}"
    );
    let (status, body) = server
        .client()
        .request(Method::GET, "/metrics")
        .expect("request");
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    assert_eq!(scrape.samples.len(), 1, "{text}");
    assert_eq!(
        scrape.samples[0].value,
        prometheus_parse::Value::Counter(7.0)
    );
}

#[test]
fn garbage_and_huge_headers_are_refused() {
    let server = TestServer::default();
    let out = raw_exchange(server.addr, b"\x00\x01\x02 garbage\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let mut big = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend(b"\r\n\r\n");
    let out = raw_exchange(server.addr, &big);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    // The server still answers.
    server.client().status().expect("status after garbage");
}

fn fast_timeouts(max_connections: usize) -> ControlSettings {
    ControlSettings {
        max_connections,
        header_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(5),
    }
}

/// Waits (at most 5 s) for the server to close a connection that sent
/// `prefix` and then nothing; returns how long that took.
fn time_until_closed(addr: SocketAddr, prefix: &[u8]) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(prefix).expect("write");
    let mut out = Vec::new();
    // EOF, a reset, or (when hyper answers 408) the answer then EOF.
    let _ = s.read_to_end(&mut out);
    started.elapsed()
}

#[test]
fn silent_and_slow_clients_are_cut_off_by_the_header_timeout() {
    let server = TestServer::start(Fake::default(), fast_timeouts(16));
    let silent = time_until_closed(server.addr, b"");
    // Cut by the timeout (300 ms), not at once and not never.
    let cut = Duration::from_millis(250)..Duration::from_secs(3);
    assert!(cut.contains(&silent), "silent client kept {silent:?}");
    let partial = time_until_closed(server.addr, b"GET /status HTTP/1.1\r\nHost: x\r\n");
    assert!(cut.contains(&partial), "slow client kept {partial:?}");
}

#[test]
fn connection_cap_queues_clients_without_deadlock() {
    let server = TestServer::start(
        Fake {
            reload_delay: Duration::from_millis(100),
            ..Fake::default()
        },
        fast_timeouts(2),
    );
    // Two silent connections take both slots until the header timeout.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    server.client().status().expect("status waits for a slot");
    // It waited for the header timeout to free a slot.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "no wait: {waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    drop(idle);
    // Eight slow reloads through two slots all finish.
    let addr = server.addr;
    let workers: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                Client::new(addr)
                    .with_timeout(Duration::from_secs(10))
                    .reload(Some("example.com"), false)
            })
        })
        .collect();
    for w in workers {
        let got = w.join().expect("client thread").expect("reload");
        assert_eq!(got.len(), 1);
    }
    assert_eq!(server.handler.reloads.lock().expect("lock").len(), 8);
}

#[test]
fn unreachable_server_gives_a_clear_error() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let e = Client::new(addr)
        .with_timeout(Duration::from_secs(5))
        .status()
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("cannot reach the control interface at {addr}: ")));
    assert!(
        msg.ends_with("(is zonesync running with server.control set?)"),
        "{msg}"
    );
}

#[test]
fn shutdown_stops_accepting() {
    let mut server = TestServer::default();
    server.client().status().expect("status");
    server.shutdown.trigger();
    let (rt, task) = (
        server.rt.as_ref().expect("runtime"),
        server.task.take().expect("task"),
    );
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), task).await })
        .expect("run returns after shutdown")
        .expect("run task");
    let e = server
        .client()
        .with_timeout(Duration::from_secs(3))
        .status()
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
}

#[test]
fn bind_failure_is_an_error() {
    let server = TestServer::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    assert!(ControlServer::bind(server.addr).is_err());
}

#[tokio::test]
async fn client_works_inside_a_runtime() {
    let server = TestServer::default();
    let addr = server.addr;
    let status = Client::new(addr)
        .with_timeout(Duration::from_secs(10))
        .status()
        .expect("status");
    assert_eq!(status.version, "9.9.9");
    // The test server's runtime must not be dropped inside this runtime.
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .expect("drop");
}

#[test]
fn peers_round_trip_with_the_addresses_asked_about() {
    let server = TestServer::default();
    let client = server.client();
    let with: Vec<std::net::IpAddr> = vec!["127.0.0.2".parse().unwrap(), "::1".parse().unwrap()];
    let report = client.peers("example.com", &with).expect("peers");
    assert_eq!(report.allow_transfer_at.as_deref(), Some("zonesync.toml:9"));
    let addresses: Vec<std::net::IpAddr> = report.peers.iter().map(|p| p.address).collect();
    assert_eq!(addresses, with);
    assert!(client
        .peers("example.com", &[])
        .expect("peers")
        .peers
        .is_empty());
    assert_eq!(
        super::client::Call::Peers {
            zone: "example.com",
            with: &with
        }
        .target(),
        "/peers?zone=example.com&with=127.0.0.2%2C%3A%3A1"
    );
}

#[test]
fn params_parse() {
    let p = |q: &str, path: &str| Params::parse(q, path);
    assert_eq!(p("", "/reload"), Ok(Params::default()));
    assert_eq!(
        p("zone=a.example&force=0", "/reload"),
        Ok(Params {
            zone: Some("a.example".into()),
            ..Params::default()
        })
    );
    assert_eq!(
        p("force=true", "/reload"),
        Ok(Params {
            force: true,
            ..Params::default()
        })
    );
    assert_eq!(
        p("zone=example&child=c.example&dry_run=1", "/csync/scan"),
        Ok(Params {
            zone: Some("example".into()),
            child: Some("c.example".into()),
            dry_run: true,
            ..Params::default()
        })
    );
    assert!(p("child=c.example", "/reload").is_err());
    assert!(p("zone=example", "/csync/approve").is_err());
    assert_eq!(
        p("zone=a.example&retransfer=1", "/refresh").map(|p| p.retransfer),
        Ok(true)
    );
    assert!(p("retransfer=1", "/reload").is_err());
    assert!(p("zone=", "/notify").is_err());
    assert!(p("force=1&force=1", "/reload").is_err());
    assert!(p("zone=%e2%82", "/reload").is_err()); // not UTF-8
    assert!(p("zone=%4", "/reload").is_err());
    assert!(p("x", "/status").is_err());
    assert_eq!(p("", "/metrics"), Ok(Params::default()));
    assert!(p("zone=a.example", "/metrics").is_err());
    assert_eq!(
        p("zone=a.example&with=192.0.2.1,2001:db8::1", "/peers").map(|p| p.with),
        Ok(vec![
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap()
        ])
    );
    assert!(p("with=192.0.2.1&with=192.0.2.2", "/peers").is_err());
    assert!(p("with=192.0.2.1,", "/peers").is_err());
    assert!(p("with=192.0.2.1", "/status").is_err());
    let many: Vec<String> = (0..=crate::control::PEERS_WITH_MAX)
        .map(|n| format!("10.0.{}.{}", n / 256, n % 256))
        .collect();
    assert!(p(&format!("with={}", many.join(",")), "/peers").is_err());
}
