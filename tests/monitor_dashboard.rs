//! The monitor's dashboard in a real headless browser (chromium under
//! chromedriver): served in-process from a fake `MonitorView`, the page
//! must show a server falling behind and then recovering, live (over the
//! event stream, without a reload), and the same by polling when the
//! stream is refused. Screenshots go to the test's temp dir.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zonesync::monitor::api::{
    ChangeView, DiagnosisView, EventView, HistoryPoint, HistoryView, MonitorView, ServerView,
    StatusView, ZoneView,
};
use zonesync::monitor::http::{DashboardServer, DashboardSettings};
use zonesync::net::Shutdown;
use zonesync::serial::Serial;

/// Bound for the page to show a change (the stream polls every 250 ms
/// here; polling every 5 s).
const SHOW_TIMEOUT: Duration = Duration::from_secs(20);

const ZONE: &str = "example.com.";
const NS1: &str = "ns1.example.com.@127.0.0.1:5301";
const NS2: &str = "ns2.example.com.@127.0.0.1:5302";
const NS3: &str = "ns3.example.com.@127.0.0.1:5303";
const OLD: u32 = 2024010101;
const NEW: u32 = 2024010102;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    /// All on OLD.
    Ok,
    /// NEW published; ns1 and ns3 serve it, ns2 is behind.
    Behind,
    /// ns2 caught up.
    Recovered,
}

struct World {
    phase: Phase,
    /// When the change to NEW began.
    change_ms: u64,
    history: Vec<HistoryPoint>,
    events: Vec<EventView>,
}

/// A monitor whose state the test moves through [`Phase`]s.
struct Fake {
    world: Mutex<World>,
}

impl Fake {
    fn new() -> Arc<Fake> {
        let now = now_ms();
        let mut history = Vec::new();
        // Ten minutes of quiet history: every server on OLD.
        for i in 0..20u64 {
            for server in [NS1, NS2, NS3] {
                history.push(point(server, now - 600_000 + i * 30_000, Some(OLD), "ok"));
            }
        }
        Arc::new(Fake {
            world: Mutex::new(World {
                phase: Phase::Ok,
                change_ms: 0,
                history,
                events: vec![EventView {
                    zone: ZONE.into(),
                    time_ms: now - 600_000,
                    kind: "monitor-started".into(),
                    server: None,
                    detail: "watching 3 server addresses".into(),
                }],
            }),
        })
    }

    fn fall_behind(&self) {
        let now = now_ms();
        let mut w = self.world.lock().unwrap();
        w.phase = Phase::Behind;
        w.change_ms = now - 4_000;
        w.history.push(point(NS1, now - 3_000, Some(NEW), "ok"));
        w.history.push(point(NS3, now - 2_000, Some(NEW), "ok"));
        w.history.push(point(NS2, now - 1_000, Some(OLD), "behind"));
        // The doctor's heal, before the newest event.
        w.events.push(EventView {
            zone: ZONE.into(),
            time_ms: now - 1_500,
            kind: "heal".into(),
            server: Some(NS2.into()),
            detail: "not-notified: NOTIFY to 127.0.0.1:5302 planned, up to 3 tries".into(),
        });
        w.events.push(EventView {
            zone: ZONE.into(),
            time_ms: now - 1_000,
            kind: "mismatch-began".into(),
            server: Some(NS2.into()),
            detail: format!("serves {OLD}, reference {NEW}"),
        });
    }

    fn recover(&self) {
        let now = now_ms();
        let mut w = self.world.lock().unwrap();
        w.phase = Phase::Recovered;
        w.history.push(point(NS2, now, Some(NEW), "ok"));
        w.events.push(EventView {
            zone: ZONE.into(),
            time_ms: now - 1,
            kind: "healed".into(),
            server: Some(NS2.into()),
            detail: "healed by NOTIFY at 12:00:03, caught up 41 ms later".into(),
        });
        w.events.push(EventView {
            zone: ZONE.into(),
            time_ms: now,
            kind: "mismatch-ended".into(),
            server: Some(NS2.into()),
            detail: format!("serves {NEW}"),
        });
    }
}

fn point(server: &str, time_ms: u64, serial: Option<u32>, status: &str) -> HistoryPoint {
    HistoryPoint {
        server: server.into(),
        time_ms,
        serial: serial.map(Serial),
        status: status.into(),
    }
}

fn server_view(server: &str, serial: u32, reference: u32, status: &str) -> ServerView {
    let (ns, addr) = server.split_once('@').unwrap();
    ServerView {
        server: server.into(),
        ns: ns.into(),
        addr: addr.into(),
        serial: Some(Serial(serial)),
        lag: Some(i64::from(reference) - i64::from(serial)),
        status: status.into(),
        rtt_ms: Some(0.8),
        behind_since_ms: None,
        catch_up_ms: None,
        expire_left: Some(1_209_600),
        detail: None,
        zonemd: None,
        diagnosis: None,
    }
}

impl MonitorView for Fake {
    fn status(&self) -> StatusView {
        let w = self.world.lock().unwrap();
        let now = now_ms();
        let (state, reference, servers, change, problems) = match w.phase {
            Phase::Ok => (
                "ok",
                OLD,
                vec![
                    server_view(NS1, OLD, OLD, "ok"),
                    server_view(NS2, OLD, OLD, "ok"),
                    server_view(NS3, OLD, OLD, "ok"),
                ],
                None,
                vec![],
            ),
            Phase::Behind | Phase::Recovered => {
                let behind = w.phase == Phase::Behind;
                let mut ns2 = server_view(
                    NS2,
                    if behind { OLD } else { NEW },
                    NEW,
                    if behind { "behind" } else { "ok" },
                );
                let mut caught_up = BTreeMap::new();
                caught_up.insert(NS1.to_string(), w.change_ms + 1_000);
                caught_up.insert(NS3.to_string(), w.change_ms + 2_000);
                if behind {
                    ns2.behind_since_ms = Some(w.change_ms);
                    ns2.detail = Some("no NOTIFY acknowledged".into());
                    ns2.diagnosis = Some(DiagnosisView {
                        code: "not-notified".into(),
                        message: "127.0.0.1 is not a NOTIFY target".into(),
                        since_ms: w.change_ms,
                    });
                } else {
                    caught_up.insert(NS2.to_string(), w.change_ms + 9_000);
                    ns2.catch_up_ms = Some(9_000);
                }
                let mut ns1 = server_view(NS1, NEW, NEW, "ok");
                ns1.catch_up_ms = Some(1_000);
                let mut ns3 = server_view(NS3, NEW, NEW, "ok");
                ns3.catch_up_ms = Some(2_000);
                (
                    if behind { "out-of-sync" } else { "ok" },
                    NEW,
                    vec![ns1, ns2, ns3],
                    Some(ChangeView {
                        serial: Serial(NEW),
                        started_ms: w.change_ms,
                        origin: "published".into(),
                        caught_up,
                        complete_ms: (!behind).then_some(w.change_ms + 9_000),
                    }),
                    if behind {
                        vec![format!("{NS2} serves {OLD}, 1 behind {NEW}")]
                    } else {
                        vec![]
                    },
                )
            }
        };
        StatusView {
            version: "test".into(),
            generated_ms: now,
            zones: vec![ZoneView {
                zone: ZONE.into(),
                state: state.into(),
                reference_serial: Some(Serial(reference)),
                last_check_ms: Some(now - 2_000),
                servers,
                last_change: change,
                problems,
            }],
        }
    }

    fn history(&self, zone: &str, since_ms: u64) -> Option<HistoryView> {
        let w = self.world.lock().unwrap();
        (zone == ZONE).then(|| HistoryView {
            zone: zone.into(),
            since_ms,
            points: w
                .history
                .iter()
                .filter(|p| p.time_ms >= since_ms)
                .cloned()
                .collect(),
        })
    }

    fn events(&self, zone: Option<&str>, limit: usize) -> Vec<EventView> {
        let w = self.world.lock().unwrap();
        let mut events: Vec<EventView> = w
            .events
            .iter()
            .filter(|e| zone.is_none_or(|z| z == e.zone))
            .cloned()
            .collect();
        events.reverse();
        events.truncate(limit);
        events
    }

    fn changes(&self, zone: &str, _limit: usize) -> Option<Vec<ChangeView>> {
        (zone == ZONE).then(Vec::new)
    }

    fn metrics(&self) -> String {
        String::new()
    }
}

struct Served {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    fn start(view: Arc<Fake>, settings: DashboardSettings) -> Served {
        let server = DashboardServer::bind("127.0.0.1:0".parse().unwrap())
            .unwrap()
            .with_settings(settings);
        let addr = server.local_addr().unwrap();
        let shutdown = Shutdown::default();
        let task = tokio::spawn(server.run(view, shutdown.clone()));
        Served {
            addr,
            shutdown,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("dashboard server stops")
            .unwrap();
    }
}

/// A script that returns the status of `server`'s row in the zone's
/// table and the zone's state, as "state/status".
fn row_state(server: &str) -> String {
    format!(
        "const z = document.querySelector('#zones section[data-zone=\"{ZONE}\"]');\n\
         if (!z) return null;\n\
         const r = z.querySelector('table.servers tr[data-server=\"{server}\"]');\n\
         return z.getAttribute('data-state') + '/' + (r ? r.getAttribute('data-status') : 'none');"
    )
}

async fn wait_state(browser: &Browser, server: &str, want: &str, timeout: Duration) {
    let script = format!(
        "const got = (function () {{ {} }})(); return got === '{want}';",
        row_state(server)
    );
    browser
        .wait_for(&format!("{server} to show {want}"), timeout, &script)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_a_server_falling_behind_and_recovering() {
    let fake = Fake::new();
    let served = Served::start(
        fake.clone(),
        DashboardSettings {
            stream_poll: Duration::from_millis(250),
            ..DashboardSettings::default()
        },
    );
    let browser = Browser::start(1280, 2200).await;
    let shots = browser.dir().join("screenshots");

    browser.goto(&served.url()).await;
    wait_state(&browser, NS2, "ok/ok", SHOW_TIMEOUT).await;
    browser
        .wait_for(
            "the live stream",
            SHOW_TIMEOUT,
            "return document.body.getAttribute('data-mode') === 'live';",
        )
        .await;
    // Every zone's chart has one line per server once history came.
    browser
        .wait_for(
            "the serial chart",
            SHOW_TIMEOUT,
            "return document.querySelectorAll('#zones svg.chart path.line').length === 3;",
        )
        .await;
    // A mark that a reload would wipe.
    browser
        .eval("window.__noReload = 'still here'; return true;")
        .await;
    let first_render = browser
        .eval("return Number(document.body.getAttribute('data-updated-ms'));")
        .await
        .as_f64()
        .unwrap();
    assert!(first_render > 0.0);

    // ns2 falls behind: shown without a reload.
    fake.fall_behind();
    wait_state(&browser, NS2, "out-of-sync/behind", SHOW_TIMEOUT).await;
    wait_state(&browser, NS1, "out-of-sync/ok", SHOW_TIMEOUT).await;
    // The doctor's word: the code on the row, and the message in its cell.
    browser
        .wait_for(
            "the diagnosis",
            SHOW_TIMEOUT,
            &format!(
                "const r = document.querySelector('tr[data-server=\"{NS2}\"]');\n\
                 const w = r && r.querySelector('td.why');\n\
                 return r !== null && r.getAttribute('data-diagnosis') === 'not-notified'\n\
                     && w !== null && w.textContent.includes('is not a NOTIFY target');"
            ),
        )
        .await;
    browser
        .wait_for(
            "the mismatch event",
            SHOW_TIMEOUT,
            "const r = document.querySelector('#events tbody tr');\n\
             return r !== null && r.getAttribute('data-kind') === 'mismatch-began';",
        )
        .await;
    browser
        .wait_for(
            "the propagation of the last change",
            SHOW_TIMEOUT,
            "const t = document.querySelector('#zones section .change');\n\
             return t !== null && t.textContent.includes('Last change: serial 2024010102')\n\
                 && t.textContent.includes('1 server still behind');",
        )
        .await;
    // The chart now spans both serials.
    browser
        .wait_for(
            "the chart's new serial",
            SHOW_TIMEOUT,
            "const s = document.querySelector('#zones svg.chart');\n\
             return s !== null && s.textContent.includes('2024010102')\n\
                 && s.textContent.includes('2024010101');",
        )
        .await;
    let page = browser
        .eval(
            "const row = document.querySelector('tr[data-server=\"ns2.example.com.@127.0.0.1:5302\"]');\n\
             return {\n\
               marker: window.__noReload || null,\n\
               updated: Number(document.body.getAttribute('data-updated-ms')),\n\
               row: row ? row.innerText : '',\n\
               problems: document.querySelector('.problems') ? document.querySelector('.problems').innerText : '',\n\
               error: document.getElementById('error').hidden,\n\
               foreign: performance.getEntriesByType('resource')\n\
                 .map((e) => e.name).filter((n) => !n.startsWith(location.origin)),\n\
             };",
        )
        .await;
    assert_eq!(page["marker"], "still here", "the page was reloaded");
    assert!(page["updated"].as_f64().unwrap() > first_render, "{page}");
    let row = page["row"].as_str().unwrap();
    assert!(
        row.contains("2024010101") && row.contains("behind"),
        "{row}"
    );
    assert!(
        page["problems"].as_str().unwrap().contains("1 behind"),
        "{page}"
    );
    assert_eq!(page["error"], true, "the page shows an error: {page}");
    assert_eq!(page["foreign"], serde_json::json!([]), "{page}");

    let shot = browser
        .screenshot(&shots.join("dashboard-out-of-sync.png"))
        .await;
    println!("screenshot (out of sync): {}", shot.display());

    // ns2 catches up: shown without a reload.
    fake.recover();
    wait_state(&browser, NS2, "ok/ok", SHOW_TIMEOUT).await;
    browser
        .wait_for(
            "the diagnosis gone",
            SHOW_TIMEOUT,
            &format!(
                "const r = document.querySelector('tr[data-server=\"{NS2}\"]');\n\
                 return r !== null && !r.hasAttribute('data-diagnosis');"
            ),
        )
        .await;
    browser
        .wait_for(
            "the recovery event",
            SHOW_TIMEOUT,
            "const r = document.querySelector('#events tbody tr');\n\
             return r !== null && r.getAttribute('data-kind') === 'mismatch-ended';",
        )
        .await;
    // The heal and its outcome in the events table: the action, then the
    // catch-up time.
    browser
        .wait_for(
            "the heal and healed events",
            SHOW_TIMEOUT,
            "const rows = [...document.querySelectorAll('#events tbody tr')];\n\
             const heal = rows.find((r) => r.getAttribute('data-kind') === 'heal');\n\
             const healed = rows.find((r) => r.getAttribute('data-kind') === 'healed');\n\
             return heal !== undefined && heal.textContent.includes('NOTIFY to 127.0.0.1:5302 planned')\n\
                 && healed !== undefined && healed.textContent.includes('caught up 41 ms later');",
        )
        .await;
    browser
        .wait_for(
            "the completed propagation",
            SHOW_TIMEOUT,
            "const t = document.querySelector('#zones section .change');\n\
             return t !== null && t.textContent.includes('everywhere after 9.0 s');",
        )
        .await;
    assert_eq!(
        browser.eval("return window.__noReload || null;").await,
        "still here"
    );
    let shot = browser
        .screenshot(&shots.join("dashboard-recovered.png"))
        .await;
    println!("screenshot (recovered): {}", shot.display());

    // Without the stream (the server refuses it), the page polls.
    let polled_fake = Fake::new();
    let polled = Served::start(
        polled_fake.clone(),
        DashboardSettings {
            max_streams: 0,
            ..DashboardSettings::default()
        },
    );
    browser.goto(&polled.url()).await;
    wait_state(&browser, NS2, "ok/ok", SHOW_TIMEOUT).await;
    browser
        .wait_for(
            "polling mode",
            SHOW_TIMEOUT,
            "return document.body.getAttribute('data-mode') === 'polling';",
        )
        .await;
    browser
        .eval("window.__noReload = 'polled'; return true;")
        .await;
    polled_fake.fall_behind();
    wait_state(&browser, NS2, "out-of-sync/behind", SHOW_TIMEOUT).await;
    polled_fake.recover();
    wait_state(&browser, NS2, "ok/ok", SHOW_TIMEOUT).await;
    assert_eq!(
        browser.eval("return window.__noReload || null;").await,
        "polled"
    );

    browser.close().await;
    served.stop().await;
    polled.stop().await;
}
