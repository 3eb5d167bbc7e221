//! The healing rule, one check at a time: an episode starts only for a
//! NOTIFY diagnosis of a row we may heal, follows the tries the history
//! shows, ends healed with the catch-up time, or says heal-failed once;
//! a newer change starts over; addresses outside the NS set and our own
//! are never healed.

use super::*;
use crate::peers::diagnose::{Code, Diagnosis};
use crate::peers::report::EventView;
use std::net::IpAddr;

const T: u64 = 1_800_000_000_000;
const S: u64 = 1_000;

fn to() -> SocketAddr {
    "127.0.0.2:5300".parse().unwrap()
}

fn diagnosis(code: Code, heal: Option<HealKind>) -> Diagnosis {
    Diagnosis {
        code,
        message: "m".into(),
        since_ms: T,
        heal,
    }
}

fn heal_notify(at_ms: u64, outcome: NotifyResult) -> EventView {
    EventView {
        at_ms,
        what: WhatView::Notify {
            serial: Serial(21),
            port: 5300,
            key: None,
            tries: 1,
            outcome,
            heal: true,
        },
    }
}

fn peer(events: Vec<EventView>) -> PeerView {
    let mut p = PeerView::unknown(IpAddr::from([127, 0, 0, 2]));
    p.events = events.into_iter().rev().collect();
    p
}

fn plan(tries: u32, spent: bool) -> HealPlan {
    HealPlan {
        to: to(),
        tries,
        max: 3,
        spacing_ms: S,
        started_ms: T,
        last_ms: Some(T),
        next_ms: (!spent).then_some(T + S),
    }
}

/// A check of a row serving `served` against reference 21.
fn check<'a>(
    served: u32,
    d: Option<&'a Diagnosis>,
    peer: Option<&'a PeerView>,
    plan: Option<&'a HealPlan>,
    now: u64,
) -> HealCheck<'a> {
    HealCheck {
        to: to(),
        served: Some(Serial(served)),
        reference: Some(Serial(21)),
        diagnosis: d,
        peer,
        plan,
        allowed: true,
        control: None,
        tries: 3,
        heal_after_ms: S,
        now,
    }
}

#[test]
fn a_notify_diagnosis_starts_one_episode_and_asks_the_primary_once() {
    let d = diagnosis(Code::NotNotified, Some(HealKind::Notify));
    let mut ep = None;
    let out = step(&mut ep, &check(20, Some(&d), None, None, T));
    assert_eq!(
        out.asks,
        [HealAsk::Notify {
            to: to(),
            tries: 3,
            spacing: Duration::from_secs(1)
        }]
    );
    assert_eq!(out.counts, [("notify", "asked")]);
    assert_eq!(out.events[0].0, "heal");
    assert!(out.events[0]
        .1
        .contains("not-notified: NOTIFY to 127.0.0.2:5300 planned"));
    let started = ep.clone().unwrap();
    assert_eq!((started.serial, started.code), (Serial(21), "not-notified"));
    let again = step(
        &mut ep,
        &check(20, Some(&d), None, Some(&plan(0, false)), T + 10),
    );
    assert!(
        again.asks.is_empty() && again.events.is_empty(),
        "{again:?}"
    );
}

#[test]
fn no_episode_for_other_diagnoses_or_rows_we_may_not_heal() {
    let refused = diagnosis(Code::TransferRefused, None);
    let refresh = diagnosis(Code::TransferFailed, Some(HealKind::Refresh));
    let notify = diagnosis(Code::NeverAsked, Some(HealKind::Notify));
    for d in [&refused, &refresh] {
        let mut ep = None;
        assert_eq!(
            step(&mut ep, &check(20, Some(d), None, None, T)),
            HealOutcome::default()
        );
        assert!(ep.is_none());
    }
    let mut ep = None;
    let mut c = check(20, Some(&notify), None, None, T);
    c.allowed = false;
    assert_eq!(step(&mut ep, &c), HealOutcome::default());
    c.allowed = true;
    c.tries = 0;
    assert_eq!(step(&mut ep, &c), HealOutcome::default(), "heal_tries = 0");
    assert!(ep.is_none());
}

#[test]
fn each_try_in_the_history_is_an_event_and_catching_up_says_healed_with_the_time() {
    let d = diagnosis(Code::NotNotified, Some(HealKind::Notify));
    let mut ep = None;
    step(&mut ep, &check(20, Some(&d), None, None, T));
    let tried = peer(vec![heal_notify(
        T + 5,
        NotifyResult::Acknowledged { rcode: 0 },
    )]);
    let out = step(
        &mut ep,
        &check(20, Some(&d), Some(&tried), Some(&plan(1, false)), T + 10),
    );
    assert_eq!(
        out.events,
        [(
            "heal",
            "NOTIFY to 127.0.0.2:5300, try 1 of 3: acknowledged".to_owned()
        )]
    );
    assert_eq!(out.counts, [("notify", "acknowledged")]);
    let seen_again = step(
        &mut ep,
        &check(20, Some(&d), Some(&tried), Some(&plan(1, false)), T + 20),
    );
    assert!(seen_again.events.is_empty(), "a try is told once");

    let out = step(&mut ep, &check(21, None, Some(&tried), None, T + 46));
    assert!(ep.is_none(), "the episode ends");
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].0, "healed");
    assert!(
        out.events[0].1.starts_with("healed by NOTIFY at ")
            && out.events[0].1.ends_with("caught up 41 ms later"),
        "{}",
        out.events[0].1
    );
    assert_eq!(out.asks, [HealAsk::Stop { to: to() }]);
    assert_eq!(out.counts, [("heal", "healed")]);
}

#[test]
fn spent_tries_say_heal_failed_once_heal_after_later_with_what_was_tried() {
    let d = diagnosis(Code::NeverAsked, Some(HealKind::Notify));
    let mut ep = None;
    step(&mut ep, &check(20, Some(&d), None, None, T));
    let tried = peer(vec![
        heal_notify(T + 1, NotifyResult::Acknowledged { rcode: 0 }),
        heal_notify(T + S, NotifyResult::NoAnswer),
        heal_notify(T + 3 * S, NotifyResult::Acknowledged { rcode: 5 }),
    ]);
    let spent = plan(3, true);
    let early = step(
        &mut ep,
        &check(20, Some(&d), Some(&tried), Some(&spent), T + 3 * S + 10),
    );
    assert_eq!(early.events.len(), 3, "three tries told");
    assert!(early.events[2].1.ends_with("try 3 of 3: answered RCODE 5"));
    assert_eq!(early.failed, None, "not before heal_after has passed");

    let late = step(
        &mut ep,
        &check(20, Some(&d), Some(&tried), Some(&spent), T + 4 * S),
    );
    let text = late.failed.clone().expect("heal-failed");
    assert!(text.starts_with("never-asked: tried NOTIFY ×3 ("), "{text}");
    assert!(
        text.contains("no answer") && text.ends_with("; still serving 20, not 21"),
        "{text}"
    );
    assert_eq!(late.events, [("heal-failed", text.clone())]);
    assert_eq!(late.counts, [("heal", "failed")]);
    assert_eq!(ep.as_ref().unwrap().failed.as_deref(), Some(text.as_str()));
    let later = step(
        &mut ep,
        &check(20, Some(&d), Some(&tried), Some(&spent), T + 60 * S),
    );
    assert_eq!(later, HealOutcome::default(), "said once, no new tries");
}

#[test]
fn a_newer_change_ends_the_episode_and_starts_its_own() {
    let d = diagnosis(Code::NotifyUnacknowledged, Some(HealKind::Notify));
    let mut ep = None;
    step(&mut ep, &check(20, Some(&d), None, None, T));
    let mut newer = check(20, Some(&d), None, None, T + 5 * S);
    newer.reference = Some(Serial(22));
    let out = step(&mut ep, &newer);
    assert_eq!(out.asks[0], HealAsk::Stop { to: to() });
    assert!(matches!(out.asks[1], HealAsk::Notify { .. }));
    assert_eq!(ep.unwrap().serial, Serial(22));
}

fn target(sources: &[Source], addr: &str) -> Target {
    Target {
        name: "ns2.example.com.".into(),
        addr: addr.parse().unwrap(),
        sources: sources.iter().copied().collect(),
    }
}

#[test]
fn only_addresses_named_in_ns_or_the_apex_and_not_ours_may_be_healed() {
    let own: Vec<SocketAddr> = vec![
        "127.0.0.1:5300".parse().unwrap(),
        "0.0.0.0:53".parse().unwrap(),
    ];
    assert!(may_heal(&target(&[Source::Child], "127.0.0.2:5300"), &own));
    assert!(may_heal(
        &target(&[Source::Explicit], "127.0.0.2:5300"),
        &own
    ));
    assert!(may_heal(
        &target(&[Source::Parent, Source::Child], "127.0.0.2:5300"),
        &own
    ));
    assert!(
        !may_heal(&target(&[Source::Parent], "127.0.0.2:5300"), &own),
        "only the delegation names it"
    );
    assert!(!may_heal(
        &target(&[Source::Primary], "127.0.0.2:5300"),
        &own
    ));
    assert!(
        !may_heal(&target(&[Source::Child], "127.0.0.1:5300"), &own),
        "ours"
    );
    assert!(
        !may_heal(&target(&[Source::Child], "127.0.0.3:53"), &own),
        "ours through a wildcard listen address"
    );
}

fn control() -> SocketAddr {
    "[::1]:5381".parse().unwrap()
}

#[test]
fn a_refresh_diagnosis_with_a_control_asks_refresh_at_once_then_retransfer_then_fails() {
    let d = diagnosis(Code::NotifyRefused, Some(HealKind::Refresh));
    let mut ep = None;
    let mut c = check(20, Some(&d), None, None, T);
    c.allowed = false;
    assert_eq!(
        step(&mut ep, &c),
        HealOutcome::default(),
        "no control, no NOTIFY: nothing"
    );
    c.control = Some(control());
    let out = step(&mut ep, &c);
    assert_eq!(
        out.asks,
        [HealAsk::Control {
            to: to(),
            action: HealKind::Refresh
        }]
    );
    assert_eq!(
        out.events,
        [(
            "heal",
            "notify-refused: refresh via [::1]:5381 asked".to_owned()
        )]
    );
    assert_eq!(out.counts, [("refresh", "asked")]);
    assert_eq!(
        answered(&mut ep, HealKind::Refresh, &Ok(())).as_deref(),
        Some("refresh via [::1]:5381: queued")
    );

    let mut c = check(20, Some(&d), None, None, T + S - 1);
    c.control = Some(control());
    assert!(
        step(&mut ep, &c).asks.is_empty(),
        "heal_after between actions"
    );
    c.now = T + S;
    assert_eq!(
        step(&mut ep, &c).asks,
        [HealAsk::Control {
            to: to(),
            action: HealKind::Retransfer
        }]
    );
    answered(
        &mut ep,
        HealKind::Retransfer,
        &Err("connection refused".into()),
    );
    c.now = T + 2 * S;
    let out = step(&mut ep, &c);
    let text = out.failed.expect("heal-failed once both are tried");
    assert!(
        text.starts_with("notify-refused: tried refresh via [::1]:5381 at ")
            && text.contains("(queued), retransfer via [::1]:5381 at ")
            && text.contains("(failed: connection refused)")
            && text.ends_with("; still serving 20, not 21"),
        "{text}"
    );
    assert!(out.asks.is_empty());
}

#[test]
fn after_the_notify_tries_a_control_refresh_comes_and_catching_up_names_it() {
    let d = diagnosis(Code::NotNotified, Some(HealKind::Notify));
    let mut ep = None;
    let mut c = check(20, Some(&d), None, None, T);
    c.control = Some(control());
    let out = step(&mut ep, &c);
    assert!(
        matches!(out.asks[..], [HealAsk::Notify { .. }]),
        "NOTIFY first"
    );
    let tried = peer(vec![heal_notify(T + 1, NotifyResult::NoAnswer)]);
    let spent = plan(3, true);
    let mut c = check(20, Some(&d), Some(&tried), Some(&spent), T + 1 + S);
    c.control = Some(control());
    let out = step(&mut ep, &c);
    assert_eq!(
        out.asks,
        [HealAsk::Control {
            to: to(),
            action: HealKind::Refresh
        }],
        "{out:?}"
    );
    assert_eq!(out.failed, None);
    let mut c = check(21, None, Some(&tried), Some(&spent), T + 1 + S + 41);
    c.control = Some(control());
    let out = step(&mut ep, &c);
    assert!(
        out.events[0]
            .1
            .starts_with("healed by refresh via [::1]:5381 at ")
            && out.events[0].1.ends_with("caught up 41 ms later"),
        "{:?}",
        out.events
    );
    assert_eq!(
        out.asks,
        [HealAsk::Stop { to: to() }],
        "the NOTIFY plan ends too"
    );
}

#[test]
fn a_row_that_did_not_load_its_transfer_is_retransferred_at_once() {
    let d = diagnosis(Code::ServedOldAfterTransfer, Some(HealKind::Retransfer));
    let mut ep = None;
    let mut c = check(20, Some(&d), None, None, T);
    c.control = Some(control());
    let out = step(&mut ep, &c);
    assert_eq!(
        out.asks,
        [HealAsk::Control {
            to: to(),
            action: HealKind::Retransfer
        }]
    );
    c.now = T + S;
    let out = step(&mut ep, &c);
    assert!(out.failed.is_some(), "no refresh after it: {out:?}");
}
