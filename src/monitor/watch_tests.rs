//! The monitor's side of the peer history: where `/api/peers` reads a
//! zone's report (the server it runs in, or the zone's `primary_control`),
//! which addresses it asks about, and which transfers wake a check.

use super::*;
use crate::peers::{PeerNews, PeerReport};
use crate::zone::ZoneVersion;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A directory for one test's store, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "zonesync-watch-{name}-{}-{}",
            std::process::id(),
            crate::wire::random_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A monitor (not started) watching example.com, and with
/// `primary_control` that zone's control.
fn monitor(dir: &TempDir, primary_control: Option<SocketAddr>) -> Arc<Monitor> {
    let control = primary_control.map_or(String::new(), |c| format!("primary_control = \"{c}\"\n"));
    let text = format!(
        "database = \"{}\"\nresolver = \"127.0.0.1:9\"\n\
         [[zone]]\nname = \"example.com\"\nns = [\"ns1.example.com=127.0.0.1:5300\"]\n{control}",
        dir.0.join("monitor.redb").display()
    );
    let config: MonitorConfig = toml::from_str(&text).unwrap();
    Monitor::new(config).unwrap()
}

/// Gives example.com rows at these addresses, as a check would.
fn set_rows(monitor: &Monitor, addrs: &[&str]) {
    let zone = monitor.find("example.com").unwrap();
    let servers = addrs
        .iter()
        .map(|a| ServerView {
            server: format!("ns.example.com.@{a}"),
            ns: "ns.example.com.".into(),
            addr: (*a).into(),
            serial: None,
            lag: None,
            status: "ok".into(),
            rtt_ms: None,
            behind_since_ms: None,
            catch_up_ms: None,
            expire_left: None,
            detail: None,
            zonemd: None,
            diagnosis: None,
        })
        .collect();
    zone.state.lock().unwrap().view = Some(ZoneView {
        zone: zone.name.clone(),
        state: "ok".into(),
        reference_serial: None,
        last_check_ms: None,
        servers,
        last_change: None,
        problems: Vec::new(),
    });
}

/// A server side that serves example.com and remembers what it was asked.
#[derive(Default)]
struct FakeSide {
    asked: Mutex<Vec<(String, Vec<IpAddr>)>>,
    /// The version it serves.
    version: Option<Arc<ZoneVersion>>,
}

impl PrimarySide for FakeSide {
    fn peers(&self, zone: &str, extra: &[IpAddr]) -> Option<PeerReport> {
        self.asked
            .lock()
            .unwrap()
            .push((zone.to_owned(), extra.to_vec()));
        (zone == "example.com.").then(|| PeerReport {
            zone: "example.com".into(),
            serial: Some(Serial(7)),
            published_ms: None,
            notify_running: false,
            notify_targets: Vec::new(),
            allow_transfer: Vec::new(),
            allow_transfer_at: None,
            peers: extra
                .iter()
                .map(|ip| crate::peers::PeerView::unknown(*ip))
                .collect(),
        })
    }

    fn own_addresses(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    fn served(&self, _zone: &str) -> Option<Arc<ZoneVersion>> {
        self.version.clone()
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn without_a_primary_side_or_control_there_is_no_peer_history() {
    let dir = TempDir::new("no-side");
    let m = monitor(&dir, None);
    assert_eq!(
        m.peers("example.com."),
        PeersAnswer::NoHistory(NO_PEER_HISTORY.into())
    );
    assert_eq!(m.peers("other.example."), PeersAnswer::UnknownZone);
}

#[tokio::test]
async fn the_servers_side_is_asked_with_the_rows_addresses() {
    let dir = TempDir::new("server-side");
    let m = monitor(&dir, None);
    let side = Arc::new(FakeSide::default());
    m.set_primary(side.clone());
    set_rows(&m, &["127.0.0.2:5300", "[::1]:53", "127.0.0.2:53"]);
    match m.peers("EXAMPLE.com") {
        PeersAnswer::Report(report) => assert_eq!(report.peers.len(), 2, "{report:?}"),
        other => panic!("a report, not {other:?}"),
    }
    assert_eq!(
        side.asked.lock().unwrap().last().cloned(),
        Some(("example.com.".into(), vec![ip("127.0.0.2"), ip("::1")]))
    );
}

#[tokio::test]
async fn a_zone_the_server_does_not_serve_has_no_peer_history_and_says_so() {
    struct ServesNothing;
    impl PrimarySide for ServesNothing {
        fn peers(&self, _: &str, _: &[IpAddr]) -> Option<PeerReport> {
            None
        }
        fn own_addresses(&self) -> Vec<SocketAddr> {
            Vec::new()
        }
        fn served(&self, _: &str) -> Option<Arc<ZoneVersion>> {
            None
        }
    }
    let dir = TempDir::new("not-served");
    let m = monitor(&dir, None);
    m.set_primary(Arc::new(ServesNothing));
    match m.peers("example.com") {
        PeersAnswer::NoHistory(why) => {
            assert!(why.contains("does not serve zone example.com."), "{why}")
        }
        other => panic!("no history, not {other:?}"),
    }
}

/// `primary_control` names the zone's primary: it is asked even when the
/// monitor runs in a server, and a control that does not answer is a
/// failure naming it, not an empty history.
#[tokio::test]
async fn a_zone_with_primary_control_asks_it_and_names_it_when_it_fails() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let control = free.local_addr().unwrap();
    drop(free);
    let dir = TempDir::new("control");
    let m = monitor(&dir, Some(control));
    let side = Arc::new(FakeSide::default());
    m.set_primary(side.clone());
    let answer = tokio::task::spawn_blocking({
        let m = m.clone();
        move || m.peers("example.com")
    })
    .await
    .unwrap();
    match answer {
        PeersAnswer::ControlFailed(why) => {
            assert!(why.contains(&control.to_string()), "{why}")
        }
        other => panic!("a control failure, not {other:?}"),
    }
    assert!(
        side.asked.lock().unwrap().is_empty(),
        "the server not asked"
    );
}

/// A transfer to one of the zone's rows checks it at once; one to any
/// other client, or for a zone not watched, does not.
#[tokio::test]
async fn transfer_news_wakes_the_zone_only_for_its_rows() {
    let dir = TempDir::new("news");
    let m = monitor(&dir, None);
    set_rows(&m, &["[::ffff:127.0.0.2]:5300"]);
    let zone = m.find("example.com").unwrap();
    let woken = || {
        let zone = zone.clone();
        async move {
            tokio::time::timeout(Duration::from_millis(50), zone.wake.notified())
                .await
                .is_ok()
        }
    };
    let origin = crate::name::test_wire("example.com");
    let news = |origin: &[u8], ip: &str| PeerNews {
        origin: origin.to_vec(),
        ip: ip.parse().unwrap(),
    };
    m.peer_news(news(&origin, "127.0.0.9"));
    assert!(!woken().await, "a client that is not a row");
    m.peer_news(news(&crate::name::test_wire("other.example"), "127.0.0.2"));
    assert!(!woken().await, "a zone not watched");
    m.peer_news(news(&crate::name::test_wire("EXAMPLE.com"), "127.0.0.2"));
    assert!(woken().await, "a row's transfer");
}

// The doctor's wiring: when a row is diagnosed, with what, and where it
// shows (the row, the store's events, the metrics).

/// A monitor with `heal_after` (seconds).
fn doctor_monitor(dir: &TempDir, heal_after: u32) -> Arc<Monitor> {
    let text = format!(
        "database = \"{}\"\nresolver = \"127.0.0.1:9\"\nheal_after = {heal_after}\n\
         [[zone]]\nname = \"example.com\"\nns = [\"ns1.example.com=127.0.0.1:5300\"]\n",
        dir.0.join("monitor.redb").display()
    );
    Monitor::new(toml::from_str(&text).unwrap()).unwrap()
}

/// A check of example.com that found `addr` lame.
fn lame_report(addr: &str, source: verify::Source) -> ZoneReport {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut report = ZoneReport::failed(verify::parse_zone("example.com").unwrap(), "");
    report.verdicts.clear();
    report.rows.push(Row {
        target: verify::Target {
            name: "ns2.example.com.".into(),
            addr,
            sources: [source].into_iter().collect(),
        },
        probe: verify::probe::Probe {
            addr,
            result: Err(verify::probe::Failure::Lame("REFUSED".into())),
            rcode: None,
            aa: None,
            ns: None,
            ns_view: None,
            records: Vec::new(),
            axfr_open: None,
            axfr_error: None,
            zonemd: None,
            zonemd_transfer: None,
        },
        status: RowStatus::Lame,
        lag: None,
    });
    report
}

/// A peer report in which 127.0.0.2 asked AXFR without the key.
fn refused_report() -> PeerReport {
    use crate::peers::report::{EventView, RequestKind, TransferResult, Via, WhatView};
    let mut peer = crate::peers::PeerView::unknown(ip("127.0.0.2"));
    peer.last_transfer = Some(EventView {
        at_ms: 1_000,
        what: WhatView::Transfer {
            request: RequestKind::Axfr,
            asked: None,
            key: None,
            via: Via::Plain,
            outcome: TransferResult::Refused {
                denial: crate::acl::Denial::Key,
                reason: String::new(),
            },
        },
    });
    PeerReport {
        zone: "example.com".into(),
        serial: Some(Serial(7)),
        published_ms: None,
        notify_running: false,
        notify_targets: Vec::new(),
        allow_transfer: vec!["from 127.0.0.0/8 key xfr-key".into()],
        allow_transfer_at: Some("zonesync.toml:14".into()),
        peers: vec![peer],
    }
}

fn row_view(m: &Monitor) -> ServerView {
    let zone = m.find("example.com").unwrap();
    let state = zone.state.lock().unwrap();
    state.view.as_ref().unwrap().servers[0].clone()
}

/// The store's events of one kind, waited for a little (the writer is a
/// thread of its own).
async fn events_of(m: &Monitor, kind: &str, want: usize) -> Vec<String> {
    let mut found = Vec::new();
    for _ in 0..50 {
        found = m
            .events(Some("example.com"), 100)
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.detail)
            .collect();
        if found.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    found
}

#[tokio::test]
async fn a_row_is_diagnosed_once_its_condition_held_heal_after() {
    let dir = TempDir::new("heal-after");
    let m = doctor_monitor(&dir, 60);
    let zone = m.find("example.com").unwrap();
    let report = lame_report("127.0.0.2:5300", verify::Source::Explicit);
    let doctor = Doctor {
        report: Some(refused_report()),
        own: Vec::new(),
        ..Doctor::default()
    };
    let t = 1_800_000_000_000;
    m.absorb(&zone, &report, &doctor, t);
    m.absorb(&zone, &report, &doctor, t + 59_999);
    assert_eq!(row_view(&m).diagnosis, None, "too early");
    m.absorb(&zone, &report, &doctor, t + 60_000);
    let d = row_view(&m).diagnosis.expect("diagnosed after heal_after");
    assert_eq!(d.code, "transfer-refused");
    assert!(
        d.message.contains("xfr-key (zonesync.toml:14)"),
        "{}",
        d.message
    );
    assert_eq!(d.since_ms, t + 60_000);
    // The same code again: the same since, no second event, one count.
    m.absorb(&zone, &report, &doctor, t + 70_000);
    assert_eq!(row_view(&m).diagnosis.unwrap().since_ms, t + 60_000);
    let events = events_of(&m, "diagnosis", 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].starts_with("transfer-refused: "), "{events:?}");
    let metrics = m.metrics();
    let line = "zonesync_monitor_diagnoses_total{zone=\"example.com.\",\
                server=\"ns2.example.com.@127.0.0.2:5300\",code=\"transfer-refused\"} 1";
    assert!(metrics.contains(line), "{metrics}");
}

#[tokio::test]
async fn a_changed_code_is_a_new_diagnosis_and_an_ended_condition_clears_it() {
    let dir = TempDir::new("code-change");
    let m = doctor_monitor(&dir, 0);
    let zone = m.find("example.com").unwrap();
    let report = lame_report("127.0.0.2:5300", verify::Source::Explicit);
    let t = 1_800_000_000_000;
    m.absorb(&zone, &report, &Doctor::default(), t);
    let first = row_view(&m).diagnosis.unwrap();
    assert_eq!(first.code, "unknown");
    assert_eq!(first.message, crate::peers::diagnose::NO_HISTORY);
    let doctor = Doctor {
        report: Some(refused_report()),
        own: Vec::new(),
        ..Doctor::default()
    };
    m.absorb(&zone, &report, &doctor, t + 1_000);
    let second = row_view(&m).diagnosis.unwrap();
    assert_eq!(
        (second.code.as_str(), second.since_ms),
        ("transfer-refused", t + 1_000)
    );
    assert_eq!(events_of(&m, "diagnosis", 2).await.len(), 2);
    let mut fine = report.clone();
    fine.rows.clear();
    m.absorb(&zone, &fine, &doctor, t + 2_000);
    m.absorb(&zone, &report, &doctor, t + 3_000);
    assert_eq!(
        row_view(&m).diagnosis.unwrap().since_ms,
        t + 3_000,
        "a new episode"
    );
}

#[tokio::test]
async fn rows_that_are_ours_are_never_diagnosed() {
    let dir = TempDir::new("ours");
    let m = doctor_monitor(&dir, 0);
    let zone = m.find("example.com").unwrap();
    let doctor = Doctor {
        report: Some(refused_report()),
        own: vec!["0.0.0.0:5300".parse().unwrap()],
        ..Doctor::default()
    };
    let t = 1_800_000_000_000;
    m.absorb(
        &zone,
        &lame_report("127.0.0.2:5300", verify::Source::Explicit),
        &doctor,
        t,
    );
    assert_eq!(row_view(&m).diagnosis, None, "our wildcard listen address");
    let primary = lame_report("127.0.0.2:5301", verify::Source::Primary);
    m.absorb(&zone, &primary, &Doctor::default(), t);
    assert_eq!(row_view(&m).diagnosis, None, "the configured primary");
}

/// The primary's side is read only when a row ails and its condition
/// held heal_after, and off the runtime.
#[tokio::test]
async fn the_doctor_asks_the_primary_only_for_an_ailing_zone() {
    let dir = TempDir::new("doctor-asks");
    let m = doctor_monitor(&dir, 0);
    let side = Arc::new(FakeSide::default());
    m.set_primary(side.clone());
    let zone = m.find("example.com").unwrap();
    let lame = lame_report("[::ffff:127.0.0.2]:5300", verify::Source::Explicit);
    let mut fine = lame.clone();
    fine.rows.clear();
    assert!(
        m.doctor(&zone, &lame, now_ms()).await.report.is_none(),
        "no condition yet"
    );
    m.absorb(&zone, &lame, &Doctor::default(), now_ms());
    assert!(
        m.doctor(&zone, &fine, now_ms()).await.report.is_none(),
        "no row ails"
    );
    assert!(side.asked.lock().unwrap().is_empty());
    let doctor = m.doctor(&zone, &lame, now_ms()).await;
    assert!(doctor.report.is_some());
    let asked = side.asked.lock().unwrap().clone();
    assert_eq!(asked, [("example.com.".to_owned(), vec![ip("127.0.0.2")])]);
}

/// A check of example.com that found `addr` at serial 7 with other data:
/// www/A answered 192.0.2.99.
fn different_report(addr: SocketAddr) -> ZoneReport {
    let mut report = lame_report(&addr.to_string(), verify::Source::Explicit);
    let row = &mut report.rows[0];
    let empty = verify::probe::rrset_of(domain::base::iana::Rtype::SOA, None, []);
    row.probe.result = Ok(verify::probe::SoaSeen {
        serial: Serial(7),
        soa: empty.clone(),
        rrsigs: empty,
        rtt: Duration::from_millis(1),
        transport: crate::exchange::Transport::Udp,
        nsid: None,
        expire: None,
        zoneversion: None,
    });
    let www = verify::probe::RrsetKey {
        owner: "www.example.com.".parse().unwrap(),
        rtype: domain::base::iana::Rtype::A,
    };
    let answered = verify::probe::rrset_of(www.rtype, Some(300), [&[192u8, 0, 2, 99][..]]);
    row.probe.records = vec![(www, Some(answered))];
    row.status = RowStatus::Different;
    report
}

/// A `different` row that does not transfer the zone to us: the `records`
/// it answered are compared with what we serve, and the row is asked for
/// its zone once for its serial, however often it is checked.
#[tokio::test]
async fn a_different_row_is_diffed_once_per_serial() {
    let dir = TempDir::new("content-diff");
    let m = doctor_monitor(&dir, 0);
    let ours = crate::zone::test_version(
        "example.com.",
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 7 3600 600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.1\n",
    );
    m.set_primary(Arc::new(FakeSide {
        version: Some(Arc::new(ours)),
        ..FakeSide::default()
    }));
    // A server that takes the transfer's connection and closes it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let zone = m.find("example.com").unwrap();
    let report = different_report(addr);
    m.absorb(&zone, &report, &Doctor::default(), now_ms());
    let want = "www.example.com. A: primary has 192.0.2.1, 127.0.0.1 serves 192.0.2.99";
    for _ in 0..2 {
        let doctor = m.doctor(&zone, &report, now_ms()).await;
        assert_eq!(doctor.diffs.get(&addr).map(String::as_str), Some(want));
        m.absorb(&zone, &report, &doctor, now_ms());
        let d = row_view(&m).diagnosis.expect("diagnosed");
        assert_eq!(d.code, "different-content");
        assert!(d.message.starts_with(want), "{}", d.message);
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one transfer for the serial"
    );
    server.abort();
}
