//! One test per code, each tie-break the design names, and a row without
//! peer history.

use super::*;
use crate::peers::report::{RequestKind, SentKind, Via};

/// 12:00:00 UTC on some day.
const T: UnixMs = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 12 * 3_600_000;
const ADDR: &str = "192.0.2.7:53";

fn rules() -> Vec<String> {
    vec!["from 192.0.2.0/24 key xfr-key".to_owned()]
}

fn peer() -> PeerView {
    PeerView::unknown(ADDR.parse::<SocketAddr>().unwrap().ip())
}

/// A behind row serving 20 while 21 is the reference, published at T,
/// looked at 2 min later with heal_after 60 s.
fn case<'a>(peer: Option<&'a PeerView>, rules: &'a [String]) -> Case<'a> {
    Case {
        zone: "example.com",
        address: ADDR.parse().unwrap(),
        status: RowStatus::Behind,
        served: Some(Serial(20)),
        reference: Some(Serial(21)),
        since_ms: T,
        now_ms: T + 120_000,
        heal_after_ms: 60_000,
        peer,
        notify_target: true,
        notify_running: false,
        content_diff: None,
        verdicts: &[],
        allow_transfer: rules,
        allow_transfer_at: Some("zonesync.toml:14"),
        refresh_s: Some(3600),
    }
}

fn notify(at_ms: UnixMs, serial: u32, outcome: NotifyResult) -> EventView {
    EventView {
        at_ms,
        what: WhatView::Notify {
            serial: Serial(serial),
            port: 53,
            key: Some("notify-key".to_owned()),
            tries: 6,
            outcome,
            heal: false,
        },
    }
}

fn transfer(at_ms: UnixMs, key: Option<&str>, outcome: TransferResult) -> EventView {
    EventView {
        at_ms,
        what: WhatView::Transfer {
            request: RequestKind::Axfr,
            asked: None,
            key: key.map(String::from),
            via: Via::Plain,
            outcome,
        },
    }
}

fn served(serial: u32) -> TransferResult {
    TransferResult::Served {
        serial: Serial(serial),
        sent: SentKind::Full,
        changesets: None,
        instead_of_ixfr: None,
        records: 1204,
        bytes: 41_000,
        messages: 3,
        ms: 12,
    }
}

fn refused(denial: Denial) -> TransferResult {
    TransferResult::Refused {
        denial,
        reason: denial.to_string(),
    }
}

fn tsig(error: &str) -> TransferResult {
    TransferResult::Tsig {
        error: error.to_owned(),
    }
}

fn run(c: &Case<'_>) -> Diagnosis {
    diagnose(c).expect("a diagnosis")
}

fn assert_code(d: &Diagnosis, code: Code, parts: &[&str]) {
    assert_eq!(d.code, code, "{d:?}");
    for p in parts {
        assert!(d.message.contains(p), "{:?} lacks {p:?}", d.message);
    }
}

#[test]
fn codes_are_named_in_kebab_case_in_rule_order() {
    let names: Vec<&str> = Code::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "different-content",
            "transfer-refused",
            "transfer-failed",
            "served-old-after-transfer",
            "notify-refused",
            "notify-unacknowledged",
            "never-asked",
            "not-notified",
            "unknown"
        ]
    );
}

#[test]
fn a_different_row_is_different_content_with_the_diff_and_no_heal() {
    let mut p = peer();
    p.events.push(EventView {
        at_ms: T + 3_000,
        what: WhatView::NotifyIn { rcode: 9 },
    });
    let r = rules();
    let mut c = case(Some(&p), &r);
    c.status = RowStatus::Different;
    c.content_diff = Some("www.example.com. A: we serve 192.0.2.1, it serves 192.0.2.99");
    let d = run(&c);
    assert_code(
        &d,
        Code::DifferentContent,
        &[
            "www.example.com. A",
            "192.0.2.99",
            "NOTIFY to us from 192.0.2.7 at 12:00:03",
            "find who else loads this zone",
        ],
    );
    assert_eq!(d.heal, None);
}

/// Different content wins over every other piece of evidence.
#[test]
fn different_content_wins_over_a_refused_transfer() {
    let mut p = peer();
    p.last_transfer = Some(transfer(T + 1, None, refused(Denial::Key)));
    let r = rules();
    let mut c = case(Some(&p), &r);
    c.status = RowStatus::Different;
    c.verdicts = &[];
    assert_code(&run(&c), Code::DifferentContent, &["192.0.2.7:53"]);
}

#[test]
fn a_different_row_without_history_is_still_different_content() {
    let r = rules();
    let verdicts = vec!["same serial 21, other content: www/A".to_owned()];
    let mut c = case(None, &r);
    c.status = RowStatus::Different;
    c.verdicts = &verdicts;
    assert_code(&run(&c), Code::DifferentContent, &["www/A"]);
}

#[test]
fn a_row_without_peer_history_is_unknown_saying_so() {
    let r = rules();
    let d = run(&case(None, &r));
    assert_code(&d, Code::Unknown, &[NO_HISTORY]);
    assert_eq!(d.heal, None);
}

#[test]
fn a_transfer_without_the_key_is_transfer_refused_naming_the_key_and_the_line() {
    let mut p = peer();
    p.last_transfer = Some(transfer(T + 3_000, None, refused(Denial::Key)));
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::TransferRefused,
        &[
            "AXFR refused at 12:00:03",
            "asked without a key",
            "xfr-key (zonesync.toml:14)",
            "give the secondary that key",
        ],
    );
    assert_eq!(d.heal, None);
    assert_eq!(d.since_ms, T + 3_000);
}

#[test]
fn transfer_refused_reasons_each_say_what_to_fix() {
    let r = rules();
    let cases = [
        (
            tsig("BADKEY"),
            Some("xfr"),
            "which this server does not have",
        ),
        (tsig("BADKEY"), Some("xfr"), "(we have: xfr-key)"),
        // The error's name, as the secondary's log says it.
        (
            tsig("BADKEY"),
            Some("xfr"),
            "TSIG BADKEY: signed with key \"xfr\"",
        ),
        (
            tsig("BADSIG"),
            Some("xfr-key"),
            "\"xfr-key\" has another secret",
        ),
        (tsig("BADTIME"), Some("xfr-key"), "more than 300 s"),
        (
            refused(Denial::Address),
            None,
            "add `{ from = \"192.0.2.7/32\", key = … }` to allow_transfer (zonesync.toml:14)",
        ),
        (
            refused(Denial::Key),
            Some("other"),
            "signed with key \"other\", but allow_transfer wants xfr-key",
        ),
        (refused(Denial::NotTls), None, "not over TLS"),
    ];
    for (outcome, key, want) in cases {
        let mut p = peer();
        p.last_transfer = Some(transfer(T + 1, key, outcome));
        assert_code(&run(&case(Some(&p), &r)), Code::TransferRefused, &[want]);
    }
}

#[test]
fn a_signed_soa_query_failing_tsig_is_transfer_refused() {
    let mut p = peer();
    p.last_refusal = Some(EventView {
        at_ms: T + 5,
        what: WhatView::SoaQuery {
            key: Some("xfr-key".to_owned()),
            tsig_error: "BADSIG".to_owned(),
        },
    });
    let r = rules();
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::TransferRefused,
        &["signed query refused", "BADSIG"],
    );
}

/// Tie-break: a refusal is only the story when nothing newer was served.
#[test]
fn a_soa_refusal_before_the_last_transfer_does_not_count() {
    let mut p = peer();
    p.last_refusal = Some(EventView {
        at_ms: T + 5,
        what: WhatView::SoaQuery {
            key: Some("xfr-key".to_owned()),
            tsig_error: "BADSIG".to_owned(),
        },
    });
    p.last_transfer = Some(transfer(T + 10, Some("xfr-key"), served(21)));
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(&d, Code::ServedOldAfterTransfer, &[]);
}

/// Tie-break: for a behind row only evidence from T on counts; for a lame
/// row (T = the epoch) the last ever does.
#[test]
fn a_refusal_before_the_change_counts_only_for_a_lame_row() {
    let mut p = peer();
    p.last_transfer = Some(transfer(T - 60_000, None, refused(Denial::Key)));
    let r = rules();
    let behind = run(&case(Some(&p), &r));
    assert_ne!(behind.code, Code::TransferRefused, "{behind:?}");
    let mut lame = case(Some(&p), &r);
    lame.status = RowStatus::Lame;
    lame.served = None;
    lame.since_ms = 0;
    assert_code(&run(&lame), Code::TransferRefused, &["asked without a key"]);
}

#[test]
fn an_aborted_or_limited_transfer_is_transfer_failed() {
    let r = rules();
    let mut p = peer();
    p.last_transfer = Some(transfer(
        T + 1,
        None,
        TransferResult::Aborted {
            error: "connection reset".to_owned(),
            bytes: 4096,
        },
    ));
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::TransferFailed,
        &["aborted", "4096 octets", "connection reset"],
    );
    assert_eq!(d.heal, Some(HealKind::Refresh));
    p.last_transfer = Some(transfer(
        T + 1,
        None,
        TransferResult::OverLimit {
            limit: "transfer_limit_per_client".to_owned(),
        },
    ));
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::TransferFailed,
        &["transfer_limit_per_client reached"],
    );
    p.last_transfer = Some(transfer(T + 1, None, TransferResult::NotLoaded));
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::TransferFailed,
        &["not loaded"],
    );
}

#[test]
fn a_transfer_served_yet_old_after_heal_after_is_served_old_after_transfer() {
    let mut p = peer();
    p.last_transfer = Some(transfer(T + 3_000, None, served(21)));
    p.last_notify = Some(notify(T, 21, NotifyResult::NoAnswer));
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::ServedOldAfterTransfer,
        &[
            "AXFR of serial 21 (1204 records, 41000 octets) completed to 192.0.2.7 at 12:00:03",
            "yet it serves 20",
            "look for serial 21 in its log",
        ],
    );
    assert_eq!(d.heal, Some(HealKind::Retransfer));
}

/// Tie-break: within heal_after of the transfer, the row may be loading:
/// no diagnosis yet, not a notify code.
#[test]
fn a_transfer_served_within_heal_after_gives_no_diagnosis_yet() {
    let mut p = peer();
    p.last_transfer = Some(transfer(T + 100_000, None, served(21)));
    let r = rules();
    assert_eq!(diagnose(&case(Some(&p), &r)), None);
}

/// An IXFR answered "current" for the reference counts as served.
#[test]
fn an_ixfr_current_from_the_reference_is_served_old_after_transfer() {
    let mut p = peer();
    p.last_transfer = Some(EventView {
        at_ms: T + 1,
        what: WhatView::Transfer {
            request: RequestKind::Ixfr,
            asked: Some(Serial(21)),
            key: None,
            via: Via::Plain,
            outcome: TransferResult::Served {
                serial: Serial(21),
                sent: SentKind::Current,
                changesets: None,
                instead_of_ixfr: None,
                records: 1,
                bytes: 60,
                messages: 1,
                ms: 0,
            },
        },
    });
    let r = rules();
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::ServedOldAfterTransfer,
        &["IXFR of serial 21"],
    );
}

/// A transfer of an older serial than the reference is no evidence of
/// a load failure.
#[test]
fn a_transfer_of_an_older_serial_is_not_served_old() {
    let mut p = peer();
    p.last_transfer = Some(transfer(T + 1, None, served(20)));
    let r = rules();
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::Unknown,
        &["asked a transfer"],
    );
}

#[test]
fn a_refused_notify_is_notify_refused_with_the_rcode() {
    let mut p = peer();
    p.last_notify = Some(notify(T + 1, 21, NotifyResult::Acknowledged { rcode: 5 }));
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::NotifyRefused,
        &["answered NOTIFY with REFUSED", "allow-notify/ACL"],
    );
    assert_eq!(d.heal, Some(HealKind::Refresh));
    p.last_notify = Some(notify(
        T + 1,
        21,
        NotifyResult::TsigFailed {
            error: "BADKEY".to_owned(),
        },
    ));
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::NotifyRefused,
        &["signed with notify-key with BADKEY", "no key of that name"],
    );
}

/// Tie-break: the transfer evidence wins over the NOTIFY's.
#[test]
fn a_refused_transfer_wins_over_a_refused_notify() {
    let mut p = peer();
    p.last_notify = Some(notify(T + 1, 21, NotifyResult::Acknowledged { rcode: 5 }));
    p.last_transfer = Some(transfer(T + 2, None, refused(Denial::Key)));
    let r = rules();
    assert_code(&run(&case(Some(&p), &r)), Code::TransferRefused, &[]);
}

#[test]
fn a_notify_nobody_answered_is_notify_unacknowledged() {
    let mut p = peer();
    p.last_notify = Some(notify(T + 31_000, 21, NotifyResult::NoAnswer));
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::NotifyUnacknowledged,
        &[
            "sent 6 times to 192.0.2.7:53 until 12:00:31",
            "never answered: firewall, port, or the server was down",
        ],
    );
    assert_eq!(d.heal, Some(HealKind::Notify));
}

/// Tie-break: a NOTIFY for an older serial says nothing of this change.
#[test]
fn a_notify_for_an_older_serial_does_not_count() {
    let mut p = peer();
    p.last_notify = Some(notify(T + 1, 20, NotifyResult::NoAnswer));
    p.notify_target = true;
    let r = rules();
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::NotNotified,
        &["no NOTIFY for the change went to 192.0.2.7"],
    );
}

/// Tie-break: unanswered NOTIFY, but the row asked anyway: not the story.
#[test]
fn an_unanswered_notify_with_an_ask_since_is_not_notify_unacknowledged() {
    let mut p = peer();
    p.last_notify = Some(notify(T + 1, 21, NotifyResult::NoAnswer));
    p.last_soa_query_ms = Some(T + 4_000);
    let r = rules();
    assert_code(
        &run(&case(Some(&p), &r)),
        Code::Unknown,
        &["asked our SOA at 12:00:04, requested no transfer"],
    );
}

#[test]
fn an_acknowledged_notify_without_an_ask_is_never_asked() {
    let mut p = peer();
    p.last_notify = Some(notify(T, 21, NotifyResult::Acknowledged { rcode: 0 }));
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::NeverAsked,
        &[
            "acknowledged NOTIFY at 12:00:00",
            "no SOA query seen and no transfer asked from 192.0.2.7",
            "its primaries point elsewhere",
        ],
    );
    assert_eq!(d.heal, Some(HealKind::Notify));
}

/// Tie-break: a sighting from before the change is no ask.
#[test]
fn a_sighting_before_the_change_does_not_count_as_an_ask() {
    let mut p = peer();
    p.last_notify = Some(notify(T, 21, NotifyResult::Acknowledged { rcode: 0 }));
    p.last_soa_query_ms = Some(T - 1);
    let r = rules();
    assert_code(&run(&case(Some(&p), &r)), Code::NeverAsked, &[]);
}

#[test]
fn an_address_outside_notify_that_never_asked_is_not_notified() {
    let p = peer();
    let r = rules();
    let mut c = case(Some(&p), &r);
    c.notify_target = false;
    let d = run(&c);
    assert_code(
        &d,
        Code::NotNotified,
        &[
            "192.0.2.7 is not a NOTIFY target (add \"192.0.2.7:53\" to zone example.com's notify, or notify_ns = true)",
            "waits for its SOA REFRESH (3600 s)",
        ],
    );
    assert_eq!(d.heal, Some(HealKind::Notify));
}

/// Tie-break: while a round runs, not-notified would be premature.
#[test]
fn a_running_notify_round_is_not_not_notified() {
    let p = peer();
    let r = rules();
    let mut c = case(Some(&p), &r);
    c.notify_running = true;
    assert_code(
        &run(&c),
        Code::Unknown,
        &["a NOTIFY round is still running"],
    );
}

/// The design's `unknown` case: a row that asked our SOA after the change
/// and requested no transfer.
#[test]
fn a_row_that_asked_the_soa_but_no_transfer_is_unknown_with_the_facts() {
    let mut p = peer();
    p.last_soa_query_ms = Some(T + 4_000);
    let r = rules();
    let d = run(&case(Some(&p), &r));
    assert_code(
        &d,
        Code::Unknown,
        &["asked our SOA at 12:00:04, requested no transfer"],
    );
    assert_eq!(d.heal, None);
}

#[test]
fn clock_reads_hours_minutes_seconds_utc() {
    assert_eq!(clock(T + 3_723_000), "13:02:03");
    assert_eq!(clock(0), "00:00:00");
}
