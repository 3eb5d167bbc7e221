//! The server's own Prometheus metrics (`GET /metrics` on the control
//! interface, and on the monitor's dashboard with `[monitor]`), from a
//! zonesync primary and a zonesync secondary on loopback: queries by
//! RCODE, NOTIFY, transfers out and in, journal depth, serials, EXPIRE.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// REFRESH, RETRY and EXPIRE long enough that only NOTIFY moves the
/// secondary during the test.
const EXPIRE: u32 = 1_209_600;

fn zone(serial: u32, hosts: usize) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 3600 600 {EXPIRE} 300\n\
         @ NS ns1\nns1 A 192.0.2.53\n\
         $GENERATE 1-{hosts} host$ TXT \"host number $\"\n"
    )
}

/// The primary, with `[monitor]` watching both servers of the zone.
fn primary_config(
    primary: SocketAddr,
    secondary: SocketAddr,
    control: SocketAddr,
    dashboard: SocketAddr,
) -> String {
    format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ncontrol = \"{control}\"\n{}\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{secondary}\"]\n\
         [monitor]\nlisten = \"{dashboard}\"\ntimeout_ms = 300\nresolver = \"127.0.0.1:9\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nprimary = \"{primary}\"\n\
         ns = [\"ns1.example.com={primary}\", \"ns2.example.com={secondary}\"]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

fn secondary_config(primary: SocketAddr, control: SocketAddr) -> String {
    format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n[[zone]]\nname = \"example.com\"\n\
         role = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n"
    )
}

fn served(addr: SocketAddr) -> Option<u32> {
    let m = query_udp(addr, "example.com", RecordType::SOA, &QueryOpts::plain());
    match m.answers().first().and_then(|a| a.data()) {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    }
}

/// `GET path` over HTTP/1.1: the status line's code, the headers (lower
/// case) and the body. The server closes after one answer.
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((code, head.to_ascii_lowercase(), body.to_owned()))
}

/// A parsed `/metrics` answer.
struct Metrics {
    text: String,
    scrape: prometheus_parse::Scrape,
}

impl Metrics {
    fn get(addr: SocketAddr) -> Metrics {
        let (code, head, text) = http_get(addr, "/metrics").expect("GET /metrics");
        assert_eq!(code, 200, "{head}\n{text}");
        assert!(
            head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"));
        Metrics { text, scrape }
    }

    /// The value of the sample of `metric` whose labels include `labels`.
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self
            .scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .collect();
        assert!(found.len() <= 1, "{metric} {labels:?}: {found:?}");
        found.first().copied()
    }

    /// Like [`value`](Self::value), panicking with the text when absent.
    fn must(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(metric, labels)
            .unwrap_or_else(|| panic!("no {metric} {labels:?} in\n{}", self.text))
    }

    fn counter_type(&self, metric: &str) -> bool {
        self.text.contains(&format!("# TYPE {metric} counter\n"))
    }
}

const ZONE: (&str, &str) = ("zone", "example.com");

#[test]
fn metrics_of_a_primary_and_its_secondary() {
    let sec_addr = free_addr();
    let (p_addr, p_control, s_control, dashboard) =
        (free_addr(), free_addr(), free_addr(), free_addr());
    let p = Server::start_with(
        &primary_config(p_addr, sec_addr, p_control, dashboard),
        &[("example.com.zone", &zone(1, 20))],
        &StartOptions {
            addr: Some(p_addr),
            ..StartOptions::default()
        },
    );
    let opts = StartOptions {
        addr: Some(sec_addr),
        ..StartOptions::default()
    };
    let s = Server::start_with(&secondary_config(p.addr(), s_control), &[], &opts);
    for server in [&p, &s] {
        assert!(
            server.wait_for_log("control interface listening", Duration::from_secs(5)),
            "{}",
            server.log()
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || served(sec_addr) == Some(1)),
        "the secondary did not transfer serial 1\n{}\n-----\n{}",
        p.log(),
        s.log()
    );

    // Queries: NOERROR, NXDOMAIN, and REFUSED for a zone not served.
    let sent: [(&str, &str, ResponseCode, usize); 3] = [
        ("NOERROR", "host1.example.com", ResponseCode::NoError, 3),
        ("NXDOMAIN", "nope.example.com", ResponseCode::NXDomain, 2),
        ("REFUSED", "www.example.org", ResponseCode::Refused, 4),
    ];
    let before = Metrics::get(p_control);
    for &(_, name, want, n) in &sent {
        for _ in 0..n {
            let m = query_udp(p.addr(), name, RecordType::TXT, &QueryOpts::plain());
            assert_eq!(m.response_code(), want, "{name}");
        }
    }

    // A change: the secondary is told by NOTIFY and follows by IXFR.
    p.rewrite("example.com.zone", &zone(2, 21));
    p.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || served(sec_addr) == Some(2)),
        "the secondary did not follow to serial 2\n{}\n-----\n{}",
        p.log(),
        s.log()
    );

    // The acknowledgment is counted once the answer is back, which may be
    // a moment after the secondary acted on it.
    let mut pm = Metrics::get(p_control);
    let acknowledged = |m: &Metrics| {
        m.value("zonesync_notify_acknowledged_total", &[ZONE])
            .unwrap_or(0.0)
    };
    let ixfr_out = |m: &Metrics| {
        m.value(
            "zonesync_transfers_out_total",
            &[ZONE, ("kind", "ixfr"), ("result", "ok")],
        )
        .unwrap_or(0.0)
    };
    assert!(
        wait_until(Duration::from_secs(10), || {
            pm = Metrics::get(p_control);
            acknowledged(&pm) >= 1.0 && ixfr_out(&pm) >= 1.0
        }),
        "no NOTIFY acknowledged or IXFR out counted\n{}\n{}",
        pm.text,
        p.log()
    );

    // The primary.
    for &(rcode, _, _, n) in &sent {
        let was = before.must("zonesync_queries_total", &[("rcode", rcode)]);
        let now = pm.must("zonesync_queries_total", &[("rcode", rcode)]);
        assert!(
            now >= was + n as f64,
            "{rcode}: {was} -> {now}\n{}",
            pm.text
        );
    }
    assert!(pm.counter_type("zonesync_queries_total"), "{}", pm.text);
    for name in [
        "zonesync_queries_malformed_total",
        "zonesync_queries_dropped_total",
        "zonesync_responses_truncated_total",
    ] {
        assert!(pm.must(name, &[]) >= 0.0);
    }
    let notify_sent = pm.must("zonesync_notify_sent_total", &[ZONE]);
    assert!(notify_sent >= acknowledged(&pm), "{}", pm.text);
    assert!(pm.must("zonesync_notify_failed_total", &[ZONE]) >= 0.0);
    assert!(
        pm.must(
            "zonesync_transfers_out_total",
            &[ZONE, ("kind", "axfr"), ("result", "ok")]
        ) >= 1.0,
        "the first transfer was AXFR\n{}",
        pm.text
    );
    assert_eq!(
        pm.must(
            "zonesync_transfers_out_total",
            &[ZONE, ("kind", "any"), ("result", "refused")]
        ),
        0.0
    );
    assert_eq!(
        pm.must("zonesync_zone_serial", &[ZONE, ("role", "primary")]),
        2.0,
        "{}",
        pm.text
    );
    assert_eq!(pm.must("zonesync_zone_loaded", &[ZONE]), 1.0);
    assert_eq!(pm.must("zonesync_journal_changesets", &[ZONE]), 1.0);
    assert!(pm.must("zonesync_journal_bytes", &[ZONE]) > 0.0);
    assert_eq!(
        pm.value("zonesync_transfers_in_total", &[ZONE]),
        None,
        "a primary has no transfers in\n{}",
        pm.text
    );
    assert_eq!(pm.value("zonesync_zone_expire_seconds", &[ZONE]), None);

    // The secondary.
    let sm = Metrics::get(s_control);
    let transfers_in =
        |result: &str| sm.must("zonesync_transfers_in_total", &[ZONE, ("result", result)]);
    assert!(transfers_in("axfr") >= 1.0, "{}", sm.text);
    assert!(transfers_in("ixfr") >= 1.0, "{}", sm.text);
    assert_eq!(transfers_in("failed"), 0.0, "{}", sm.text);
    assert!(transfers_in("up-to-date") >= 0.0);
    assert!(
        sm.counter_type("zonesync_transfers_in_total"),
        "{}",
        sm.text
    );
    assert_eq!(
        sm.must("zonesync_zone_serial", &[ZONE, ("role", "secondary")]),
        2.0,
        "{}",
        sm.text
    );
    assert_eq!(sm.must("zonesync_zone_loaded", &[ZONE]), 1.0);
    let expire = sm.must("zonesync_zone_expire_seconds", &[ZONE]);
    assert!(
        expire > 0.0 && expire <= f64::from(EXPIRE),
        "expire {expire}\n{}",
        sm.text
    );
    assert_eq!(sm.must("zonesync_journal_changesets", &[ZONE]), 1.0);
    // Queries the secondary answered: at least our SOA checks.
    assert!(sm.must("zonesync_queries_total", &[("rcode", "NOERROR")]) >= 1.0);

    // With [monitor], the dashboard's /metrics carries the same families
    // after its own.
    let dm = Metrics::get(dashboard);
    assert_eq!(
        dm.must("zonesync_zone_serial", &[ZONE, ("role", "primary")]),
        2.0,
        "{}",
        dm.text
    );
    assert!(
        dm.must("zonesync_queries_total", &[("rcode", "REFUSED")])
            >= pm.must("zonesync_queries_total", &[("rcode", "REFUSED")]),
        "{}",
        dm.text
    );
    assert!(
        dm.must("zonesync_notify_acknowledged_total", &[ZONE]) >= 1.0,
        "{}",
        dm.text
    );
}
