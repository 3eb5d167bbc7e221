//! The replication monitor end to end, on loopback: a zonesync primary
//! with `[monitor]` in its own configuration (so its publishing a change
//! starts the propagation clock), two zonesync secondaries, and a small
//! webhook receiver in the test.
//!
//! A change spreads and its propagation time per server appears in
//! `/status` and `/api/changes`; one secondary is stopped: exactly one
//! alert reaches the webhook, then exactly one recovery when it is back;
//! `/metrics` parses as Prometheus text (prometheus-parse); a restart of
//! the process keeps the history. `zonesync monitor` alone watches the
//! same servers from its own configuration file.

mod common;

use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\nwww TXT \"version {serial}\"\n"
    )
}

/// A script: whether ns3's row shows `status` (the dashboard's hooks:
/// `data-server`, `data-status`).
fn row_is(status: &str) -> String {
    format!(
        "const r = document.querySelector('#zones tr[data-server^=\"ns3.example.com.\"]');\n\
         return !!r && r.getAttribute('data-status') === '{status}';"
    )
}

fn status(addr: SocketAddr) -> Value {
    let (code, body) = http_get(addr, "/status");
    if code != 200 {
        return Value::Null;
    }
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn zone_view(addr: SocketAddr) -> Value {
    status(addr)["zones"][0].clone()
}

struct Setup {
    primary: Server,
    s1: Server,
    s2: Server,
    dashboard: SocketAddr,
    webhook: Webhook,
}

fn secondary(addr: SocketAddr, primary: SocketAddr) -> Server {
    Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n"
        ),
        &[],
        &StartOptions {
            addr: Some(addr),
            ..StartOptions::default()
        },
    )
}

fn monitor_section(
    dashboard: SocketAddr,
    webhook: SocketAddr,
    servers: &[(&str, SocketAddr)],
) -> String {
    let ns: Vec<String> = servers
        .iter()
        .map(|(n, a)| format!("\"{n}={a}\""))
        .collect();
    format!(
        "[monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nfast_interval_ms = 100\nalert_after = 1\ntimeout_ms = 300\nresolver = \"127.0.0.1:9\"\n\
         [monitor.alerts]\nwebhook = \"http://{webhook}/hook\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nns = [{}]\n",
        ns.join(", ")
    )
}

impl Setup {
    fn start() -> Setup {
        let (a1, a2, primary_addr) = (free_addr(), free_addr(), free_addr());
        let dashboard = free_addr();
        let webhook = Webhook::start();
        let servers = [
            ("ns1.example.com", primary_addr),
            ("ns2.example.com", a1),
            ("ns3.example.com", a2),
        ];
        let primary = Server::start_with(
            &format!(
                "[server]\nudp_workers = 1\nnotify_delay_ms = 10\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{a1}\", \"{a2}\"]\n{}",
                zone_entry("example.com", "example.com.zone"),
                monitor_section(dashboard, webhook.addr, &servers)
            ),
            &[("example.com.zone", &zone(1))],
            &StartOptions {
                addr: Some(primary_addr),
                ..StartOptions::default()
            },
        );
        let s1 = secondary(a1, primary_addr);
        let s2 = secondary(a2, primary_addr);
        let setup = Setup {
            primary,
            s1,
            s2,
            dashboard,
            webhook,
        };
        assert!(
            wait_until(Duration::from_secs(15), || zone_view(dashboard)["state"]
                == "ok"
                && zone_view(dashboard)["servers"]
                    .as_array()
                    .map_or(0, |a| a.len())
                    == 3),
            "the monitor sees 3 servers in sync: {}\n{}",
            zone_view(dashboard),
            setup.logs()
        );
        setup
    }

    fn logs(&self) -> String {
        format!(
            "--- primary + monitor ---\n{}\n--- s1 ---\n{}\n--- s2 ---\n{}",
            self.primary.log(),
            self.s1.log(),
            self.s2.log()
        )
    }
}

#[test]
fn propagation_alerts_recovery_metrics_and_history() {
    let mut s = Setup::start();
    let dash = s.dashboard;

    // A change: the primary publishes serial 2, the secondaries follow.
    s.primary.rewrite("example.com.zone", &zone(2));
    s.primary.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(15), || {
            let c = &zone_view(dash)["last_change"];
            c["serial"] == 2 && !c["complete_ms"].is_null()
        }),
        "the change completes: {}\n{}",
        zone_view(dash),
        s.logs()
    );
    let view = zone_view(dash);
    assert_eq!(view["last_change"]["origin"], "published", "{view}");
    let servers = view["servers"].as_array().cloned().unwrap_or_default();
    for server in &servers {
        let t = server["catch_up_ms"].as_u64();
        assert!(
            t.is_some_and(|t| t < 10_000),
            "every server has its time to catch up: {server}"
        );
    }
    let (code, changes) = http_get(dash, "/api/changes?zone=example.com");
    assert_eq!(code, 200, "{changes}");
    assert!(changes.contains("\"serial\":2"), "{changes}");

    // One secondary stops: one alert, and no second one while it stays down.
    s.s2.signal("TERM");
    assert!(s.s2.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        wait_until(Duration::from_secs(15), || !s.webhook.received().is_empty()),
        "an alert: {}\n{}",
        zone_view(dash),
        s.logs()
    );
    std::thread::sleep(Duration::from_secs(3));
    let got = s.webhook.received();
    assert_eq!(got.len(), 1, "exactly one alert: {got:#?}");
    assert_eq!(got[0]["state"], "alert");
    assert_eq!(got[0]["condition"], "unreachable");
    assert!(
        got[0]["server"]
            .as_str()
            .unwrap_or("")
            .starts_with("ns3.example.com."),
        "{got:#?}"
    );
    let view = zone_view(dash);
    assert_eq!(view["state"], "degraded", "{view}");

    // The dashboard in a real browser shows the stopped server's row.
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let browser = rt.block_on(Browser::start(1280, 1800));
    let shots = browser.dir().join("screenshots");
    rt.block_on(async {
        browser.goto(&format!("http://{dash}/")).await;
        browser
            .wait_for(
                "the stopped server's row",
                Duration::from_secs(20),
                &row_is("unreachable"),
            )
            .await;
        browser
            .eval("window.__noReload = 'still here'; return true;")
            .await;
        let shot = browser.screenshot(&shots.join("monitor-down.png")).await;
        println!("screenshot (secondary down): {}", shot.display());
    });

    // It comes back: one recovery.
    s.s2.restart(false);
    assert!(
        wait_until(Duration::from_secs(15), || s.webhook.received().len() >= 2),
        "a recovery: {:#?}\n{}",
        s.webhook.received(),
        s.logs()
    );
    std::thread::sleep(Duration::from_secs(2));
    let got = s.webhook.received();
    assert_eq!(got.len(), 2, "one alert, one recovery: {got:#?}");
    assert_eq!(got[1]["state"], "recovered");
    assert_eq!(got[1]["condition"], "unreachable");
    assert!(
        wait_until(Duration::from_secs(10), || zone_view(dash)["state"] == "ok"),
        "{}",
        zone_view(dash)
    );
    // The page follows by itself, without a reload.
    rt.block_on(async {
        browser
            .wait_for("the recovered row", Duration::from_secs(20), &row_is("ok"))
            .await;
        let kept = browser.eval("return window.__noReload || null;").await;
        assert_eq!(
            kept,
            Value::String("still here".into()),
            "the page was reloaded"
        );
        let shot = browser
            .screenshot(&shots.join("monitor-recovered.png"))
            .await;
        println!("screenshot (recovered): {}", shot.display());
    });
    rt.block_on(browser.close());
    let (_, events) = http_get(dash, "/api/events?zone=example.com&limit=100");
    for kind in ["unreachable", "recovered", "change-seen", "change-complete"] {
        assert!(
            events.contains(&format!("\"kind\":\"{kind}\"")),
            "{kind}: {events}"
        );
    }

    // /metrics is Prometheus text.
    let (code, text) = http_get(dash, "/metrics");
    assert_eq!(code, 200);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}: {text}"));
    let names: std::collections::BTreeSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for want in [
        "zonesync_monitor_serial",
        "zonesync_monitor_up",
        "zonesync_monitor_propagation_seconds",
        "zonesync_monitor_zone_in_sync",
    ] {
        assert!(names.contains(want), "{want} in {names:?}\n{text}");
    }

    // A restart keeps the history.
    let (_, before) = http_get(dash, "/api/history?zone=example.com&since_ms=0");
    let before: Value = serde_json::from_str(&before).unwrap_or(Value::Null);
    let first = before["points"][0]["time_ms"].as_u64().unwrap_or(0);
    assert!(first > 0, "{before}");
    s.primary.restart(false);
    assert!(
        wait_until(Duration::from_secs(10), || status(dash) != Value::Null),
        "{}",
        s.logs()
    );
    let (_, after) = http_get(dash, "/api/history?zone=example.com&since_ms=0");
    let after: Value = serde_json::from_str(&after).unwrap_or(Value::Null);
    assert_eq!(
        after["points"][0]["time_ms"].as_u64(),
        Some(first),
        "{after}"
    );
    let (_, changes) = http_get(dash, "/api/changes?zone=example.com");
    assert!(changes.contains("\"serial\":2"), "{changes}");
}

#[test]
fn zonesync_monitor_runs_alone() {
    let primary = Server::start(
        &format!(
            "[server]\nudp_workers = 1\n{}",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &zone(7))],
    );
    let dashboard = free_addr();
    let dir = TempDir::new("monitor-alone");
    let webhook = Webhook::start();
    let config = dir.write(
        "monitor.toml",
        monitor_section(
            dashboard,
            webhook.addr,
            &[("ns1.example.com", primary.addr())],
        ),
    );
    let log = dir.join("monitor.log");
    let mut cmd = zonesync();
    cmd.arg("monitor").arg("--config").arg(&config);
    cmd.stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")));
    let child = KillOnDrop(cmd.spawn().unwrap_or_else(|e| panic!("{e}")));
    assert!(
        wait_until(Duration::from_secs(15), || zone_view(dashboard)
            ["reference_serial"]
            == 7),
        "{}\n{}",
        zone_view(dashboard),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        dir.join("monitor.redb").is_file(),
        "the database is beside the configuration"
    );
    let (code, page) = http_get(dashboard, "/");
    assert_eq!(code, 200);
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page}"
    );
    drop(child);
}

/// `[[monitor.catalog]]`: every member of a catalog zone is watched
/// without being listed, and a member the catalog drops is no longer.
#[test]
fn the_monitor_watches_every_member_of_a_catalog() {
    let member = |origin: &str| {
        format!(
            "$ORIGIN {origin}.\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.53\n"
        )
    };
    let catalog = |serial: u32, entries: &str| {
        format!(
            "$ORIGIN catz.\n$TTL 0\n@ SOA invalid. invalid. {serial} 3600 600 86400 0\n@ NS invalid.\n\
             version TXT \"2\"\n{entries}"
        )
    };
    let mut config = String::from("[server]\nudp_workers = 1\n");
    for name in ["catz", "a.example", "b.example"] {
        config.push_str(&format!(
            "\n[[zone]]\nname = \"{name}\"\nfile = \"{name}.zone\"\nrole = \"primary\"\n\
             allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n"
        ));
    }
    let both = "m1.zones PTR a.example.\nm2.zones PTR b.example.\n";
    let primary = Server::start(
        &config,
        &[
            ("catz.zone", &catalog(1, both)),
            ("a.example.zone", &member("a.example")),
            ("b.example.zone", &member("b.example")),
        ],
    );
    let dashboard = free_addr();
    let dir = TempDir::new("monitor-catalog");
    let p = primary.addr();
    let config = dir.write(
        "monitor.toml",
        format!(
            "[monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nfast_interval_ms = 100\ntimeout_ms = 300\n\
             resolver = \"127.0.0.1:9\"\n\
             [[monitor.catalog]]\nname = \"catz\"\nprimary = \"{p}\"\nns = [\"ns1.example={p}\"]\n"
        ),
    );
    let log = dir.join("monitor.log");
    let mut cmd = zonesync();
    cmd.arg("monitor").arg("--config").arg(&config);
    cmd.stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")));
    let _child = KillOnDrop(cmd.spawn().unwrap_or_else(|e| panic!("{e}")));
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let watched = || -> Vec<(String, Value)> {
        status(dashboard)["zones"]
            .as_array()
            .map(|zones| {
                zones
                    .iter()
                    .map(|z| {
                        (
                            z["zone"].as_str().unwrap_or("").to_string(),
                            z["reference_serial"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(15), || {
            let w = watched();
            w.len() == 2 && w.iter().all(|(_, serial)| *serial == 1)
        }),
        "{:?}\n{}",
        watched(),
        logs()
    );
    primary.rewrite("catz.zone", &catalog(2, "m1.zones PTR a.example.\n"));
    primary.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(15), || {
            let w = watched();
            w.len() == 1 && w[0].0 == "a.example."
        }),
        "{:?}\n{}",
        watched(),
        logs()
    );
}
