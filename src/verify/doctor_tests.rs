//! The doctor's rows on made-up reports and peer histories (the control
//! interface and real secondaries are in tests/verify.rs).

use super::*;
use crate::acl::Denial;
use crate::peers::report::{EventView, NotifyResult, RequestKind, TransferResult, Via, WhatView};
use crate::serial::Serial;
use crate::verify::probe::Failure;
use crate::verify::tests::{answering, failing, options, target, zone};
use crate::verify::verdict::judge;
use crate::verify::{report, NsSets, Options};
use std::collections::BTreeSet;

/// When the primary published serial 21.
const T: UnixMs = 1_800_000_000_000;
const PRIMARY: &str = "127.0.0.9:53";
const BEHIND: &str = "127.0.0.2:53";
const OK: &str = "127.0.0.3:53";
const LAME: &str = "[::1]:53";

/// `--primary` at 21, one row behind at 20, one up to date, one lame.
fn checked() -> ZoneReport {
    let mut primary = target("primary", PRIMARY);
    primary.sources = BTreeSet::from([Source::Primary]);
    let options = Options {
        primary: Some(PRIMARY.parse().unwrap()),
        ..options()
    };
    judge(
        &zone(),
        &options,
        vec![
            primary,
            target("ns2.", BEHIND),
            target("ns3.", OK),
            target("ns4.", LAME),
        ],
        vec![
            answering(PRIMARY, 21),
            answering(BEHIND, 20),
            answering(OK, 21),
            failing(LAME, Failure::Lame("answers REFUSED".into())),
        ],
        NsSets::default(),
        Vec::new(),
    )
}

fn refused_at(at_ms: UnixMs) -> EventView {
    EventView {
        at_ms,
        what: WhatView::Transfer {
            request: RequestKind::Axfr,
            asked: None,
            key: None,
            via: Via::Plain,
            outcome: TransferResult::Refused {
                denial: Denial::Key,
                reason: Denial::Key.to_string(),
            },
        },
    }
}

fn view(addr: &str, refused: Option<UnixMs>) -> PeerView {
    let ip = addr.parse::<SocketAddr>().unwrap().ip();
    let mut view = PeerView::unknown(ip);
    if let Some(at) = refused {
        view.last_transfer = Some(refused_at(at));
        view.last_refusal = Some(refused_at(at));
        view.events = vec![refused_at(at)];
    }
    view
}

/// The primary's history: both the behind and the lame row asked without
/// the key (the lame one long before the change), the behind one was
/// sent NOTIFY and acknowledged it.
fn history() -> PeerReport {
    let mut behind = view(BEHIND, Some(T + 2_000));
    behind.notify_target = true;
    behind.last_notify = Some(EventView {
        at_ms: T + 1_000,
        what: WhatView::Notify {
            serial: Serial(21),
            port: 53,
            key: None,
            tries: 1,
            outcome: NotifyResult::Acknowledged { rcode: 0 },
            heal: false,
        },
    });
    PeerReport {
        zone: "example.com".into(),
        serial: Some(Serial(21)),
        published_ms: Some(T),
        notify_running: false,
        notify_targets: vec![BEHIND.into()],
        allow_transfer: vec!["from 127.0.0.0/8 key xfr-key".into()],
        allow_transfer_at: Some("zonesync.toml:7".into()),
        peers: vec![behind, view(OK, None), view(LAME, Some(T - 600_000))],
    }
}

#[test]
fn behind_and_lame_rows_are_diagnosed_and_the_primary_and_ok_rows_not() {
    let report = checked();
    let found = diagnoses(&report, &history(), T + 5_000);
    let addrs: Vec<String> = found.keys().map(ToString::to_string).collect();
    assert_eq!(addrs, [BEHIND, LAME], "{found:?}");
    for d in found.values() {
        assert_eq!(d.code, diagnose::Code::TransferRefused, "{d:?}");
        assert!(d.message.contains("xfr-key"), "{}", d.message);
        assert!(d.message.contains("zonesync.toml:7"), "{}", d.message);
    }
    // The lame row's refusal is from before the change: any evidence
    // counts for a row that does not serve the zone at all.
    let lame = &found[&LAME.parse::<SocketAddr>().unwrap()];
    assert_eq!(lame.since_ms, T - 600_000);
}

/// A refusal older than the reference's publication says nothing of a
/// behind row: the acknowledged NOTIFY with no ask since does.
#[test]
fn evidence_before_the_change_does_not_count_for_a_behind_row() {
    let report = checked();
    let mut peers = history();
    let behind = peers
        .peers
        .iter_mut()
        .find(|p| p.address.to_string() == "127.0.0.2")
        .unwrap();
    behind.last_transfer = Some(refused_at(T - 1));
    behind.last_refusal = Some(refused_at(T - 1));
    let found = diagnoses(&report, &peers, T + 5_000);
    let d = &found[&BEHIND.parse::<SocketAddr>().unwrap()];
    assert_eq!(d.code, diagnose::Code::NeverAsked, "{d:?}");
}

/// An address the history holds nothing of is still diagnosed (as the
/// control's `with` would add it).
#[test]
fn a_row_the_history_does_not_hold_gets_a_diagnosis_too() {
    let report = checked();
    let mut peers = history();
    peers.peers.clear();
    peers.notify_targets.clear();
    let found = diagnoses(&report, &peers, T + 5_000);
    let d = &found[&BEHIND.parse::<SocketAddr>().unwrap()];
    assert_eq!(d.code, diagnose::Code::NotNotified, "{d:?}");
    assert!(d.message.contains("example.com"), "{}", d.message);
}

#[test]
fn the_table_json_and_nagios_line_carry_the_diagnosis() {
    let mut report = checked();
    report.diagnoses = diagnoses(&report, &history(), T + 5_000);
    let reports = [report];
    let table = report::table(&reports[0]);
    let lines: Vec<&str> = table.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.contains(BEHIND))
        .expect("the behind row");
    let why = lines.get(row + 1).copied().unwrap_or_default();
    assert!(why.starts_with("  why: transfer-refused: "), "{table}");
    let ok = lines.iter().position(|l| l.contains(OK)).expect("ok row");
    assert!(
        !lines.get(ok + 1).is_some_and(|l| l.contains("why:")),
        "{table}"
    );
    let json = report::json(&reports);
    let servers = json["zones"][0]["servers"].as_array().unwrap();
    for s in servers {
        let has = s.get("diagnosis").is_some();
        let want = s["address"] == BEHIND || s["address"] == LAME;
        assert_eq!(has, want, "{s}");
    }
    let behind = servers.iter().find(|s| s["address"] == BEHIND).unwrap();
    assert_eq!(behind["diagnosis"]["code"], "transfer-refused");
    assert!(behind["diagnosis"]["message"].is_string());
    assert_eq!(behind["diagnosis"]["since_ms"], T + 2_000);
    assert!(behind["diagnosis"]["heal"].is_null());
    assert_eq!(json["schema"], "zonesync-verify/1");
    let line = report::nagios(&reports);
    assert!(line.contains("(why: transfer-refused)"), "{line}");
    // Many zones: each zone's codes after its status.
    let two = [reports[0].clone(), reports[0].clone()];
    let line = report::nagios(&two);
    assert!(line.contains("CRITICAL why: transfer-refused"), "{line}");
}

/// Without `--primary-control` the JSON rows have no `diagnosis` key at
/// all: the report reads as before.
#[test]
fn without_diagnoses_the_json_rows_are_as_before() {
    let json = report::json(&[checked()]);
    for s in json["zones"][0]["servers"].as_array().unwrap() {
        assert!(s.get("diagnosis").is_none(), "{s}");
    }
}

/// A control nobody listens on: a WARNING verdict naming it for each zone
/// with rows to diagnose (asked once: the second zone reuses the error),
/// none for a zone in sync, and no row diagnosed.
#[test]
fn an_unreachable_control_is_a_warning_naming_it() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let client = Client::new(addr).with_timeout(std::time::Duration::from_secs(5));
    let in_sync = judge(
        &zone(),
        &options(),
        vec![target("ns3.", OK)],
        vec![answering(OK, 21)],
        NsSets::default(),
        Vec::new(),
    );
    let mut reports = vec![checked(), in_sync, checked()];
    diagnose_reports(&mut reports, &client, T);
    for i in [0, 2] {
        let r = &reports[i];
        let v: Vec<&Verdict> = r
            .verdicts
            .iter()
            .filter(|v| v.code == UNAVAILABLE)
            .collect();
        assert_eq!(v.len(), 1, "{:?}", r.verdicts);
        assert_eq!(v[0].severity, Severity::Warning);
        assert!(v[0].message.contains(&addr.to_string()), "{}", v[0].message);
        assert!(r.diagnoses.is_empty());
        // Already CRITICAL (a row behind): the warning does not lower it.
        assert_eq!(r.status, Severity::Critical);
    }
    assert!(reports[1].verdicts.is_empty(), "{:?}", reports[1].verdicts);
    assert_eq!(reports[1].status, Severity::Ok);
}

/// A zone whose only problem is a lame row keeps CRITICAL, and an OK
/// zone told a history is unavailable becomes a WARNING: the verdict's
/// severity counts as any other's.
#[test]
fn the_unavailable_verdict_raises_an_ok_status_to_warning() {
    let mut report = judge(
        &zone(),
        &options(),
        vec![target("ns3.", OK)],
        vec![answering(OK, 21)],
        NsSets::default(),
        Vec::new(),
    );
    unavailable(&mut report, "127.0.0.1:5380".parse().unwrap(), "refused");
    assert_eq!(report.status, Severity::Warning);
    assert!(report.verdicts[0].message.contains("127.0.0.1:5380"));
}
