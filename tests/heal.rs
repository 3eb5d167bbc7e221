//! The replication doctor heals (docs/design/replication-doctor.md §4):
//! the monitor inside the primary's `serve` sends NOTIFY to a real Knot
//! secondary it found behind, and tells what it did and how long the
//! catch-up took.

mod common;

use common::{free_port_on, lo, lo6, require_tool, KillOnDrop, TempDir, PEER_LOG};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The zone at `serial`: ns1 is the primary, ns2 the Knot secondary on
/// 127.0.0.2; REFRESH an hour, so Knot never refreshes on its own within
/// a test.
fn zone_file(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n\
         @ NS ns1\n@ NS ns2\nns1 A 127.0.0.1\nns2 A 127.0.0.2\nwww TXT \"version {serial}\"\n"
    )
}

/// Knot DNS on `addr`, a secondary of `primary` for example.com that asks
/// from its own address (`via`), takes NOTIFY from loopback, and keeps its
/// copy and timers over a restart (its journal).
struct Knot {
    dir: TempDir,
    conf: std::path::PathBuf,
    process: Option<KillOnDrop>,
}

impl Knot {
    /// Knot's `primary` may be an address where nothing listens.
    fn start(addr: SocketAddr, primary: SocketAddr) -> Knot {
        let dir = TempDir::new("heal-knot");
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n\
             log:\n  - target: stderr\n    any: info\n\
             database:\n    storage: \"{d}\"\n\
             remote:\n  - id: primary\n    address: {pip}@{pport}\n    via: {ip}\n\
             acl:\n  - id: notify\n    address: 127.0.0.0/8\n    action: notify\n\
             zone:\n  - domain: example.com\n    master: primary\n    acl: notify\n    zonefile-sync: -1\n    journal-content: all\n    zonefile-load: none\n",
            d = dir.path().display(),
            ip = addr.ip(),
            port = addr.port(),
            pip = primary.ip(),
            pport = primary.port(),
        );
        let conf = dir.write("knot.conf", conf);
        let mut knot = Knot {
            dir,
            conf,
            process: None,
        };
        knot.run();
        knot
    }

    fn run(&mut self) {
        let knotd = require_tool("knotd", "knot");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(PEER_LOG))
            .expect("log");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("knotd");
        self.process = Some(KillOnDrop(child));
    }

    /// Stops it by SIGTERM (its PID), so that it writes its timers, and
    /// waits (bounded) for it to be gone; killed if it does not go.
    fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(p.0.id().to_string())
                .status();
            let _ = common::wait_timeout(&mut p.0, Duration::from_secs(10));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }
}

/// A primary of example.com on `p` with `[monitor]` inside (every row
/// diagnosed after a second, `heal_tries = 3`), its rows `ns`, and `more`
/// in its zone entry.
fn primary(p: SocketAddr, dashboard: SocketAddr, ns: &[String], more: &str) -> common::Server {
    let ns: Vec<String> = ns.iter().map(|n| format!("\"{n}\"")).collect();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_retries = 1\n\
         [monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nfast_interval_ms = 100\ntimeout_ms = 300\n\
         alert_after = 1\nheal_after = 1\nheal_tries = 3\nresolver = \"127.0.0.1:9\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nns = [{}]\n\
         {}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n{more}",
        ns.join(", "),
        common::zone_entry("example.com", "example.com.zone")
    );
    common::Server::start_with(
        &config,
        &[("example.com.zone", &zone_file(1))],
        &common::StartOptions {
            addr: Some(p),
            ..common::StartOptions::default()
        },
    )
}

/// The store's events of `kind` for example.com, oldest first.
fn events(dashboard: SocketAddr, kind: &str) -> Vec<String> {
    let (_, body) = common::http_get(dashboard, "/api/events?zone=example.com&limit=200");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let mut found: Vec<String> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    found.reverse();
    found
}

/// Knot is in the zone's NS set but not in `notify`: after a change it
/// waits for its REFRESH, an hour away. The doctor says `not-notified`,
/// sends it NOTIFY, and Knot catches up; the events tell the heal, its
/// acknowledgment, and the catch-up time.
#[test]
fn knot_in_the_ns_set_but_not_in_notify_is_not_notified_then_healed_by_notify() {
    let port = free_port_on(&[lo(1), lo(2)]);
    let (p, k) = (SocketAddr::new(lo(1), port), SocketAddr::new(lo(2), port));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={k}"),
    ];
    let primary = primary(p, dashboard, &ns, "");
    let knot = Knot::start(k, p);
    let logs = || format!("{}\n--- knot ---\n{}", primary.log(), knot.log());
    common::wait_serial_at(k, "example.com", 1, Duration::from_secs(20), logs);

    primary.rewrite("example.com.zone", &zone_file(2));
    primary.signal("HUP");
    common::wait_serial_at(p, "example.com", 2, Duration::from_secs(10), logs);

    let healed = common::wait_until(Duration::from_secs(30), || {
        !events(dashboard, "healed").is_empty()
    });
    assert!(
        healed,
        "no healed event: {:?}\n{}",
        events(dashboard, "heal"),
        logs()
    );
    common::wait_serial_at(k, "example.com", 2, Duration::from_secs(5), logs);

    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses.iter().any(|d| d.starts_with("not-notified: ")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    assert!(
        heals
            .first()
            .is_some_and(|h| h.starts_with(&format!("not-notified: NOTIFY to {k} planned"))),
        "{heals:?}"
    );
    assert!(
        heals
            .iter()
            .any(|h| h.starts_with(&format!("NOTIFY to {k}, try 1 of 3: acknowledged"))),
        "{heals:?}\n{}",
        logs()
    );
    let healed = events(dashboard, "healed");
    assert_eq!(healed.len(), 1, "{healed:?}");
    assert!(
        healed[0].starts_with("healed by NOTIFY at ") && healed[0].ends_with(" ms later"),
        "{healed:?}"
    );
    assert!(events(dashboard, "heal-failed").is_empty());

    // The primary's peer history has the heal NOTIFY, apart from the
    // change's NOTIFYs (there were none).
    let (status, body) = common::http_get(dashboard, "/api/peers?zone=example.com");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let peer = json["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["address"] == "127.0.0.2")
        .cloned()
        .unwrap_or_default();
    assert_eq!(peer["last_heal"]["kind"], "notify", "{peer}");
    assert_eq!(peer["last_heal"]["heal"], true, "{peer}");
    assert!(peer["last_notify"].is_null(), "{peer}");
    assert_eq!(
        peer["last_transfer"]["outcome"]["result"], "served",
        "{peer}"
    );

    let (_, metrics) = common::http_get(dashboard, "/metrics");
    let server = format!("ns2.example.com.@{k}");
    for (action, result) in [
        ("notify", "asked"),
        ("notify", "acknowledged"),
        ("heal", "healed"),
    ] {
        let line = format!(
            "zonesync_monitor_heals_total{{zone=\"example.com.\",server=\"{server}\",action=\"{action}\",result=\"{result}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
}

/// Knot is notified and acknowledges, but its primary is an address
/// where nothing listens: it never asks us anything and serves nothing.
/// The doctor says `never-asked`, NOTIFYs it three times (each
/// acknowledged, none helping), then says `heal-failed` with what was
/// tried, once, and alerts.
#[test]
fn a_secondary_pointing_elsewhere_is_never_asked_and_heal_failed_after_its_tries() {
    let port = free_port_on(&[lo(1), lo(2), lo(9)]);
    let (p, k) = (SocketAddr::new(lo(1), port), SocketAddr::new(lo(2), port));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={k}"),
    ];
    let primary = primary(p, dashboard, &ns, &format!("notify = [\"{k}\"]\n"));
    let knot = Knot::start(k, SocketAddr::new(lo(9), port));
    let logs = || format!("{}\n--- knot ---\n{}", primary.log(), knot.log());

    let failed = common::wait_until(Duration::from_secs(40), || {
        !events(dashboard, "heal-failed").is_empty()
    });
    assert!(
        failed,
        "no heal-failed: {:?}\n{}",
        events(dashboard, "heal"),
        logs()
    );
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses.iter().any(|d| d.starts_with("never-asked: ")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    for n in 1..=3 {
        let want = format!("NOTIFY to {k}, try {n} of 3: acknowledged");
        assert!(heals.contains(&want), "{want}: {heals:?}\n{}", logs());
    }
    assert!(
        !heals.iter().any(|h| h.contains("try 4")),
        "no more than heal_tries: {heals:?}"
    );
    let failed = events(dashboard, "heal-failed");
    assert_eq!(failed.len(), 1, "said once: {failed:?}");
    assert!(
        failed[0].starts_with("never-asked: tried NOTIFY ×3 (")
            && failed[0].ends_with("; still not serving the zone (serial 1)"),
        "{failed:?}"
    );
    let alerted = common::wait_until(Duration::from_secs(5), || {
        events(dashboard, "alert")
            .iter()
            .any(|a| a.starts_with("heal-failed"))
    });
    assert!(alerted, "{:?}", events(dashboard, "alert"));
    // Nothing more is sent after the tries: the history's heal NOTIFYs
    // stay at three.
    std::thread::sleep(Duration::from_secs(2));
    let (_, body) = common::http_get(dashboard, "/api/peers?zone=example.com");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let sent = json["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["address"] == "127.0.0.2")
        .flat_map(|p| p["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["kind"] == "notify" && e["heal"] == true)
        .count();
    assert_eq!(sent, 3, "{body}");
}

/// Knot is down through the NOTIFY round of a change; started again, it
/// serves the old serial from its journal and would wait an hour for its
/// REFRESH. The doctor says `notify-unacknowledged` (the round's tries
/// went unanswered), NOTIFYs it now that it answers, and it catches up.
#[test]
fn knot_stopped_through_the_notify_round_is_notify_unacknowledged_then_healed_once_back() {
    let port = free_port_on(&[lo(1), lo(2)]);
    let (p, k) = (SocketAddr::new(lo(1), port), SocketAddr::new(lo(2), port));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={k}"),
    ];
    let primary = primary(p, dashboard, &ns, &format!("notify = [\"{k}\"]\n"));
    let mut knot = Knot::start(k, p);
    common::wait_serial_at(k, "example.com", 1, Duration::from_secs(20), || {
        format!("{}\n--- knot ---\n{}", primary.log(), knot.log())
    });

    knot.stop();
    primary.rewrite("example.com.zone", &zone_file(2));
    primary.signal("HUP");
    assert!(
        primary.wait_for_log("NOTIFY gave up", Duration::from_secs(20)),
        "{}",
        primary.log()
    );
    knot.run();
    let logs = || format!("{}\n--- knot ---\n{}", primary.log(), knot.log());
    let healed = common::wait_until(Duration::from_secs(30), || {
        !events(dashboard, "healed").is_empty()
    });
    assert!(
        healed,
        "no healed event: {:?}\n{}",
        events(dashboard, "heal"),
        logs()
    );
    common::wait_serial_at(k, "example.com", 2, Duration::from_secs(5), logs);
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses
            .iter()
            .any(|d| d.starts_with("notify-unacknowledged: NOTIFY for serial 2 sent 2 times")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    assert!(
        heals
            .iter()
            .any(|h| h.starts_with("notify-unacknowledged: NOTIFY to ")),
        "{heals:?}"
    );
    assert!(
        heals.iter().any(
            |h| h.starts_with(&format!("NOTIFY to {k}, try ")) && h.ends_with(": acknowledged")
        ),
        "{heals:?}"
    );
}

const CTL_KEY: &str = "ctl-key";
const CTL_SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
const NOTIFY_SECRET: &str = "Yl9EwiOEZBYmN3Q3NjBXZdDGv8Cc7IV+TrIcyqvNyVE=";

/// A zonesync secondary on [::1], its control keyed with ctl-key and named
/// in `[[monitor.secondary]]`, lacks the key the primary signs its NOTIFY
/// with, so it answers BADKEY. The doctor says `notify-refused`, asks it
/// through its control to refresh, and it catches up; the primary's peer
/// history has the refresh.
#[test]
fn notify_refused_then_healed_by_a_control_refresh() {
    let port = free_port_on(&[lo(1), lo6()]);
    let (p, p6) = (SocketAddr::new(lo(1), port), SocketAddr::new(lo6(), port));
    let s = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let control = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let dashboard = common::free_addr();
    let keys = format!(
        "[[key]]\nname = \"notify-key\"\nsecret = \"{NOTIFY_SECRET}\"\n\
         [[key]]\nname = \"{CTL_KEY}\"\nsecret = \"{CTL_SECRET}\"\n"
    );
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_retries = 1\n{keys}\
         [monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nfast_interval_ms = 100\ntimeout_ms = 300\n\
         alert_after = 1\nheal_after = 1\nresolver = \"127.0.0.1:9\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nns = [\"ns1.example.com={p}\", \"ns2.example.com={s}\"]\n\
         [[monitor.secondary]]\naddress = \"{s}\"\ncontrol = \"{control}\"\ncontrol_key = \"{CTL_KEY}\"\n\
         {}allow_transfer = [{{ from = \"::1/128\" }}]\nnotify = [{{ addr = \"{s}\", key = \"notify-key\" }}]\n",
        common::zone_entry("example.com", "example.com.zone")
    );
    let primary = common::Server::start_with(
        &config,
        &[("example.com.zone", &zone_file(1))],
        &common::StartOptions {
            addr: Some(p),
            extra_args: ["--listen", &p.to_string(), "--listen", &p6.to_string()]
                .map(String::from)
                .to_vec(),
            ..common::StartOptions::default()
        },
    );
    let secondary = common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\ncontrol = \"{control}\"\ncontrol_key = \"{CTL_KEY}\"\n\
             [[key]]\nname = \"{CTL_KEY}\"\nsecret = \"{CTL_SECRET}\"\n\
             [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{p6}\" }}]\n"
        ),
        &[],
        &common::StartOptions {
            addr: Some(s),
            ..common::StartOptions::default()
        },
    );
    let logs = || format!("{}\n--- secondary ---\n{}", primary.log(), secondary.log());
    common::wait_serial_at(s, "example.com", 1, Duration::from_secs(20), logs);

    primary.rewrite("example.com.zone", &zone_file(2));
    primary.signal("HUP");
    let healed = common::wait_until(Duration::from_secs(30), || {
        !events(dashboard, "healed").is_empty()
    });
    assert!(
        healed,
        "no healed event: {:?}\n{}",
        events(dashboard, "heal"),
        logs()
    );
    common::wait_serial_at(s, "example.com", 2, Duration::from_secs(5), logs);
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses
            .iter()
            .any(|d| d.starts_with("notify-refused: ") && d.contains("notify-key")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    let asked = format!("notify-refused: refresh via {control} asked");
    let queued = format!("refresh via {control}: queued");
    assert!(
        heals.contains(&asked) && heals.contains(&queued),
        "{heals:?}"
    );
    let healed = events(dashboard, "healed");
    assert!(
        healed[0].starts_with(&format!("healed by refresh via {control} at ")),
        "{healed:?}"
    );
    let (_, body) = common::http_get(dashboard, "/api/peers?zone=example.com");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let heal = json["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["address"] == "::1")
        .map(|p| p["last_heal"].clone())
        .unwrap_or_default();
    assert_eq!(heal["kind"], "heal", "{body}");
    assert_eq!(heal["action"], "refresh", "{body}");
    assert_eq!(heal["result"], "queued", "{body}");
}
