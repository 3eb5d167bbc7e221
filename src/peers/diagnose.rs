//! Why a secondary is behind, lame or different: the replication
//! doctor's rules (docs/design/replication-doctor.md §3) as one pure
//! function, so that the monitor and `verify` share them and every code
//! is unit-tested without a network. No I/O, no clock: the caller says
//! what time it is.
//!
//! The rules look at the row's [`PeerView`] (what the primary saw of that
//! address) from `T`, the time the reference version was published, and
//! the first rule that holds wins: the evidence nearest the failure first
//! (a refused transfer explains more than a NOTIFY nobody answered).

use super::report::{EventView, HealKind, NotifyResult, PeerView, TransferResult, WhatView};
use crate::acl::Denial;
use crate::clock::UnixMs;
use crate::serial::Serial;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// What the monitor says of the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    /// Answers with an older serial.
    Behind,
    /// Does not serve the zone.
    Lame,
    /// Same serial, other content.
    Different,
}

/// Everything the rules look at for one row.
#[derive(Debug, Clone)]
pub struct Case<'a> {
    /// The zone's name, for messages ("add … to zone example.com's notify").
    pub zone: &'a str,
    /// The row's DNS address.
    pub address: SocketAddr,
    pub status: RowStatus,
    /// The serial the row serves (none when lame).
    pub served: Option<Serial>,
    /// The serial it should serve.
    pub reference: Option<Serial>,
    /// `T`: when the reference was published; the epoch for a lame row
    /// (any evidence counts then).
    pub since_ms: UnixMs,
    /// Now, as the caller's clock says.
    pub now_ms: UnixMs,
    /// How long a transfer served may take to show before it counts as
    /// not loaded.
    pub heal_after_ms: u64,
    /// The row IP's history; `None`: no peer history at all (a standalone
    /// monitor without `primary_control`).
    pub peer: Option<&'a PeerView>,
    /// The address is one of the zone's NOTIFY targets.
    pub notify_target: bool,
    /// A NOTIFY round is planned or running for the zone.
    pub notify_running: bool,
    /// The differing RRsets, when someone diffed them.
    pub content_diff: Option<&'a str>,
    /// The monitor's verdict texts for the row, the fallback of a
    /// `different` row without a diff.
    pub verdicts: &'a [String],
    /// The zone's `allow_transfer` rules as text ("from 127.0.0.0/8 key
    /// xfr-key").
    pub allow_transfer: &'a [String],
    /// Where those rules are written ("zonesync.toml:14").
    pub allow_transfer_at: Option<&'a str>,
    /// The zone's SOA REFRESH, when known (for `not-notified`).
    pub refresh_s: Option<u32>,
}

/// The diagnosis codes, in the order the rules are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    DifferentContent,
    TransferRefused,
    TransferFailed,
    ServedOldAfterTransfer,
    NotifyRefused,
    NotifyUnacknowledged,
    NeverAsked,
    NotNotified,
    Unknown,
}

impl Code {
    pub const ALL: [Code; 9] = [
        Code::DifferentContent,
        Code::TransferRefused,
        Code::TransferFailed,
        Code::ServedOldAfterTransfer,
        Code::NotifyRefused,
        Code::NotifyUnacknowledged,
        Code::NeverAsked,
        Code::NotNotified,
        Code::Unknown,
    ];

    /// As `/status`, the store and the metrics name it.
    pub fn name(self) -> &'static str {
        match self {
            Code::DifferentContent => "different-content",
            Code::TransferRefused => "transfer-refused",
            Code::TransferFailed => "transfer-failed",
            Code::ServedOldAfterTransfer => "served-old-after-transfer",
            Code::NotifyRefused => "notify-refused",
            Code::NotifyUnacknowledged => "notify-unacknowledged",
            Code::NeverAsked => "never-asked",
            Code::NotNotified => "not-notified",
            Code::Unknown => "unknown",
        }
    }
}

/// Why, what to check, and what would heal it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub code: Code,
    /// For the operator: what happened and what to check.
    pub message: String,
    /// When the evidence is from (the event's time; `T` when none). The
    /// monitor keeps its own "first given" time per episode.
    pub since_ms: UnixMs,
    /// What would bring the row up to date; none when nothing we could
    /// send would help (a refusal, other content).
    pub heal: Option<HealKind>,
}

/// The message of a row without any peer history.
pub const NO_HISTORY: &str =
    "no peer history: run the monitor inside the primary or set primary_control";

/// The first rule that holds, or `None` when it is too early to tell (a
/// transfer was served less than `heal_after` ago: the row may be loading
/// it).
pub fn diagnose(case: &Case<'_>) -> Option<Diagnosis> {
    if case.status == RowStatus::Different {
        return Some(different_content(case));
    }
    let Some(peer) = case.peer else {
        return Some(found(case, Code::Unknown, NO_HISTORY.to_owned(), None));
    };
    let facts = Facts::of(case, peer);
    if let Some(d) = transfer_refused(case, &facts) {
        return Some(d);
    }
    if let Some(d) = transfer_failed(case, &facts) {
        return Some(d);
    }
    match served_old(case, &facts) {
        Served::Old(d) => return Some(d),
        Served::TooEarly => return None,
        Served::No => {}
    }
    notify_refused(case, &facts)
        .or_else(|| notify_unacknowledged(case, &facts))
        .or_else(|| never_asked(case, &facts))
        .or_else(|| not_notified(case, &facts))
        .or_else(|| Some(unknown(case, &facts)))
}

/// The row's evidence from `T` on.
struct Facts<'a> {
    /// The last transfer asked at or after `T`.
    transfer: Option<&'a EventView>,
    /// The last signed query that failed TSIG at or after `T`.
    soa_refusal: Option<&'a EventView>,
    /// The last NOTIFY at or after `T` for the reference serial or newer.
    notify: Option<&'a EventView>,
    /// The last SOA query seen at or after `T`.
    sighting: Option<UnixMs>,
}

impl<'a> Facts<'a> {
    fn of(case: &Case<'_>, peer: &'a PeerView) -> Facts<'a> {
        let since = case.since_ms;
        let recent = |e: &'a Option<EventView>| e.as_ref().filter(move |e| e.at_ms >= since);
        let soa_refusal =
            recent(&peer.last_refusal).filter(|e| matches!(e.what, WhatView::SoaQuery { .. }));
        let notify = recent(&peer.last_notify).filter(|e| match &e.what {
            WhatView::Notify { serial, .. } => at_least(*serial, case.reference),
            _ => false,
        });
        Facts {
            transfer: recent(&peer.last_transfer),
            soa_refusal,
            notify,
            sighting: peer.last_soa_query_ms.filter(|&t| t >= case.since_ms),
        }
    }

    /// The row asked since `T`: a SOA query or a transfer.
    fn asked(&self) -> bool {
        self.sighting.is_some() || self.transfer.is_some() || self.soa_refusal.is_some()
    }
}

/// `serial` is the reference or newer (any serial when none is known).
fn at_least(serial: Serial, reference: Option<Serial>) -> bool {
    reference.is_none_or(|r| !serial.is_before(r))
}

fn notify_in(peer: &PeerView) -> Option<&EventView> {
    peer.events
        .iter()
        .find(|e| matches!(e.what, WhatView::NotifyIn { .. }))
}

fn found(case: &Case<'_>, code: Code, message: String, heal: Option<HealKind>) -> Diagnosis {
    found_at(case.since_ms, code, message, heal)
}

fn found_at(since_ms: UnixMs, code: Code, message: String, heal: Option<HealKind>) -> Diagnosis {
    Diagnosis {
        code,
        message,
        since_ms,
        heal,
    }
}

fn different_content(case: &Case<'_>) -> Diagnosis {
    let mut message = match (case.content_diff, case.verdicts.first()) {
        (Some(diff), _) => diff.to_owned(),
        (None, Some(verdict)) => verdict.clone(),
        (None, None) => format!("{} serves other content at the same serial", case.address),
    };
    if let Some(e) = case.peer.and_then(notify_in) {
        let _ = write!(
            message,
            "; NOTIFY to us from {} at {}",
            case.address.ip(),
            clock(e.at_ms)
        );
    }
    message.push_str(": a second primary or a hand edit: find who else loads this zone");
    found(case, Code::DifferentContent, message, None)
}

fn transfer_refused(case: &Case<'_>, facts: &Facts<'_>) -> Option<Diagnosis> {
    // The newest of the last transfer and the last failed signed query:
    // a refusal followed by a transfer served is no longer the story.
    let event = match (facts.transfer, facts.soa_refusal) {
        (Some(t), Some(s)) if s.at_ms > t.at_ms => s,
        (Some(t), _) => t,
        (None, s) => s?,
    };
    let why = refusal_text(case, event)?;
    let message = format!(
        "{} refused at {}: {why}",
        asked_what(event),
        clock(event.at_ms)
    );
    Some(found_at(event.at_ms, Code::TransferRefused, message, None))
}

/// "AXFR", "IXFR", or "signed SOA query".
fn asked_what(event: &EventView) -> &'static str {
    match &event.what {
        WhatView::Transfer { request, .. } => request.name(),
        _ => "signed query",
    }
}

/// Why the event is a refusal, for the operator; `None` when it is none.
fn refusal_text(case: &Case<'_>, event: &EventView) -> Option<String> {
    match &event.what {
        WhatView::Transfer {
            key,
            outcome: TransferResult::Refused { denial, reason },
            ..
        } => Some(denial_text(case, *denial, key.as_deref(), reason)),
        WhatView::Transfer {
            key,
            outcome: TransferResult::Tsig { error },
            ..
        } => Some(tsig_text(case, error, key.as_deref())),
        WhatView::SoaQuery { key, tsig_error } => Some(tsig_text(case, tsig_error, key.as_deref())),
        _ => None,
    }
}

/// The rules' file and line, " (zonesync.toml:14)", or nothing.
fn at(case: &Case<'_>) -> String {
    case.allow_transfer_at
        .map(|a| format!(" ({a})"))
        .unwrap_or_default()
}

/// The key names the `allow_transfer` rules want ("from … key NAME").
fn rule_keys<'a>(case: &Case<'a>) -> Vec<&'a str> {
    let mut keys: Vec<&str> = case
        .allow_transfer
        .iter()
        .filter_map(|rule| {
            let mut words = rule.split_whitespace();
            words.find(|w| *w == "key")?;
            words.next()
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn keys_text(case: &Case<'_>) -> String {
    let keys = rule_keys(case);
    if keys.is_empty() {
        "no key".to_owned()
    } else {
        keys.join(", ")
    }
}

fn denial_text(case: &Case<'_>, denial: Denial, key: Option<&str>, reason: &str) -> String {
    let ip = case.address.ip();
    match (denial, key) {
        (Denial::Key, None) => format!(
            "asked without a key; allow_transfer wants {}{}: give the secondary that key",
            keys_text(case),
            at(case)
        ),
        (Denial::Key, Some(k)) => format!(
            "signed with key \"{k}\", but allow_transfer wants {}{}: give the secondary that key",
            keys_text(case),
            at(case)
        ),
        (Denial::Address, _) => format!(
            "{ip} is in no allow_transfer rule: add `{{ from = \"{ip}/{}\", key = … }}` to allow_transfer{}",
            host_bits(ip),
            at(case)
        ),
        (Denial::NoRule, _) => format!(
            "the zone has no allow_transfer rule: add `{{ from = \"{ip}/{}\", key = … }}`{}",
            host_bits(ip),
            at(case)
        ),
        _ => format!("{reason}{}", at(case)),
    }
}

fn host_bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn tsig_text(case: &Case<'_>, error: &str, key: Option<&str>) -> String {
    let k = key.unwrap_or("?");
    match error {
        "BADKEY" => format!(
            "TSIG BADKEY: signed with key \"{k}\", which this server does not have: key names must match exactly (we have: {})",
            keys_text(case)
        ),
        "BADSIG" => format!(
            "TSIG BADSIG: key \"{k}\" has another secret on the secondary: copy the secret from this server's [[key]] \"{k}\""
        ),
        "BADTIME" => format!(
            "TSIG BADTIME with key \"{k}\": clocks differ by more than 300 s: check NTP on both"
        ),
        other => format!("TSIG {other} with key \"{k}\""),
    }
}

fn transfer_failed(_case: &Case<'_>, facts: &Facts<'_>) -> Option<Diagnosis> {
    let event = facts.transfer?;
    let WhatView::Transfer {
        request, outcome, ..
    } = &event.what
    else {
        return None;
    };
    let when = clock(event.at_ms);
    let what = request.name();
    let message = match outcome {
        TransferResult::Aborted { error, bytes } => {
            format!("{what} aborted at {when} after {bytes} octets: {error}")
        }
        TransferResult::OverLimit { limit } => {
            format!("{what} turned away at {when}: {limit} reached (too many transfers at once)")
        }
        TransferResult::NotLoaded => {
            format!("{what} asked at {when} while the zone was not loaded here")
        }
        _ => return None,
    };
    Some(found_at(
        event.at_ms,
        Code::TransferFailed,
        message,
        Some(HealKind::Refresh),
    ))
}

enum Served {
    /// Served, and still old `heal_after` later.
    Old(Diagnosis),
    /// Served less than `heal_after` ago.
    TooEarly,
    No,
}

fn served_old(case: &Case<'_>, facts: &Facts<'_>) -> Served {
    let Some(event) = facts.transfer else {
        return Served::No;
    };
    let WhatView::Transfer {
        request,
        asked,
        outcome:
            TransferResult::Served {
                serial,
                sent,
                records,
                bytes,
                ..
            },
        ..
    } = &event.what
    else {
        return Served::No;
    };
    // An IXFR answered "current" says the row had the reference already.
    let had = match sent {
        super::report::SentKind::Current => asked.unwrap_or(*serial),
        _ => *serial,
    };
    let still_old = case.served.is_none_or(|s| !at_least(s, Some(had)));
    if !at_least(had, case.reference) || !still_old {
        return Served::No;
    }
    if case.now_ms.saturating_sub(event.at_ms) < case.heal_after_ms {
        return Served::TooEarly;
    }
    let serves = case
        .served
        .map(|s| format!("it serves {s}"))
        .unwrap_or_else(|| "it does not serve the zone".to_owned());
    let message = format!(
        "{} of serial {had} ({records} records, {bytes} octets) completed to {} at {}, yet {serves}: \
         it did not load what it received (ZONEMD, DNSSEC checks, its disk or zone file): \
         look for serial {had} in its log",
        request.name(),
        case.address.ip(),
        clock(event.at_ms)
    );
    Served::Old(found_at(
        event.at_ms,
        Code::ServedOldAfterTransfer,
        message,
        Some(HealKind::Retransfer),
    ))
}

fn notify_refused(case: &Case<'_>, facts: &Facts<'_>) -> Option<Diagnosis> {
    let event = facts.notify?;
    let WhatView::Notify { key, outcome, .. } = &event.what else {
        return None;
    };
    let message = match outcome {
        NotifyResult::Acknowledged { rcode } if *rcode != 0 => format!(
            "{} answered NOTIFY with {} at {}: its allow-notify/ACL does not list this primary's address (where our NOTIFY comes from)",
            case.address,
            rcode_name(*rcode),
            clock(event.at_ms)
        ),
        NotifyResult::TsigFailed { error } => format!(
            "{} answered our NOTIFY signed with {} with {error} at {}: it has no key of that name, or another secret",
            case.address,
            key.as_deref().unwrap_or("no key"),
            clock(event.at_ms)
        ),
        _ => return None,
    };
    Some(found_at(
        event.at_ms,
        Code::NotifyRefused,
        message,
        Some(HealKind::Refresh),
    ))
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        1 => "FORMERR".to_owned(),
        2 => "SERVFAIL".to_owned(),
        3 => "NXDOMAIN".to_owned(),
        4 => "NOTIMP".to_owned(),
        5 => "REFUSED".to_owned(),
        9 => "NOTAUTH".to_owned(),
        other => format!("RCODE {other}"),
    }
}

fn notify_unacknowledged(case: &Case<'_>, facts: &Facts<'_>) -> Option<Diagnosis> {
    let event = facts.notify?;
    if facts.asked() {
        return None;
    }
    let WhatView::Notify {
        serial,
        port,
        tries,
        outcome,
        ..
    } = &event.what
    else {
        return None;
    };
    let to = SocketAddr::new(case.address.ip(), *port);
    let message = match outcome {
        NotifyResult::NoAnswer => format!(
            "NOTIFY for serial {serial} sent {tries} times to {to} until {}, never answered: firewall, port, or the server was down",
            clock(event.at_ms)
        ),
        NotifyResult::SendFailed { error } => format!(
            "NOTIFY for serial {serial} to {to} could not be sent ({error}) at {}: check the address and our network",
            clock(event.at_ms)
        ),
        _ => return None,
    };
    Some(found_at(
        event.at_ms,
        Code::NotifyUnacknowledged,
        message,
        Some(HealKind::Notify),
    ))
}

fn never_asked(case: &Case<'_>, facts: &Facts<'_>) -> Option<Diagnosis> {
    let event = facts.notify?;
    let acknowledged = matches!(
        &event.what,
        WhatView::Notify {
            outcome: NotifyResult::Acknowledged { rcode: 0 },
            ..
        }
    );
    if !acknowledged || facts.asked() {
        return None;
    }
    let ip = case.address.ip();
    let message = format!(
        "acknowledged NOTIFY at {}, yet no SOA query seen and no transfer asked from {ip}: \
         its primaries point elsewhere, or it asks from another address",
        clock(event.at_ms)
    );
    Some(found_at(
        event.at_ms,
        Code::NeverAsked,
        message,
        Some(HealKind::Notify),
    ))
}

fn not_notified(case: &Case<'_>, facts: &Facts<'_>) -> Option<Diagnosis> {
    if facts.notify.is_some() || case.notify_running || facts.asked() {
        return None;
    }
    let refresh = case
        .refresh_s
        .map(|r| format!(" ({r} s)"))
        .unwrap_or_default();
    let ip = case.address.ip();
    let first = if case.notify_target {
        format!("no NOTIFY for the change went to {ip}, although it is a NOTIFY target,")
    } else {
        format!(
            "{ip} is not a NOTIFY target (add \"{}\" to zone {}'s notify, or notify_ns = true)",
            case.address, case.zone
        )
    };
    let message = format!(
        "{first} and has not asked since the change (no SOA query seen): it waits for its SOA REFRESH{refresh}"
    );
    Some(found(
        case,
        Code::NotNotified,
        message,
        Some(HealKind::Notify),
    ))
}

/// None of the rules held: say what was found.
fn unknown(case: &Case<'_>, facts: &Facts<'_>) -> Diagnosis {
    let mut parts = Vec::new();
    if let Some(t) = facts.sighting {
        parts.push(format!("asked our SOA at {}", clock(t)));
    }
    match facts.transfer {
        Some(e) => parts.push(format!("asked a transfer at {}", clock(e.at_ms))),
        None => parts.push("requested no transfer".to_owned()),
    }
    if facts.notify.is_none() && case.notify_running {
        parts.push("a NOTIFY round is still running".to_owned());
    }
    found(case, Code::Unknown, parts.join(", "), None)
}

/// "12:00:03" (UTC) of a Unix time in ms: the messages are read beside
/// logs of the same day.
pub fn clock(ms: UnixMs) -> String {
    let secs = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
#[path = "diagnose_tests.rs"]
mod tests;
