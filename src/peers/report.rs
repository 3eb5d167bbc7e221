//! A zone's peer history as data for others: `ctl peers` (the control
//! interface's `GET /peers`), and later the monitor and `verify`. Plain
//! serde types, read back by the client exactly as the server wrote them;
//! the history's own types stay private to it (`Arc<str>`s shared with
//! the key store, `&'static str`s).

use super::history::{
    FullReason, HealAction, NotifyOutcome, PeerEvent, PeerLog, PeerWhat, Sent, XfrOutcome,
    XfrRequest,
};
use crate::acl::{Denial, Transport};
use crate::clock::UnixMs;
use crate::serial::Serial;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One zone's peers as this server saw them (`ZoneCore::peer_report`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    /// The zone's name as configured.
    pub zone: String,
    /// The serial served; none before the first load.
    pub serial: Option<Serial>,
    /// When the version served was published here (Unix ms).
    pub published_ms: Option<UnixMs>,
    /// A NOTIFY round planned or running.
    pub notify_running: bool,
    /// The configured NOTIFY targets, "address:port".
    pub notify_targets: Vec<String>,
    /// The `allow_transfer` rules, one text each ("from 127.0.0.0/8 key
    /// xfr-key"); empty: no transfer is allowed.
    pub allow_transfer: Vec<String>,
    /// Where the rules are written ("zonesync.toml:14"), when known.
    #[serde(default)]
    pub allow_transfer_at: Option<String>,
    /// Every peer in the history, then the addresses asked about.
    pub peers: Vec<PeerView>,
}

impl PeerReport {
    /// The peer at `ip` (IPv4-mapped folded, as the history keys it).
    pub fn peer(&self, ip: IpAddr) -> Option<&PeerView> {
        let ip = super::fold(ip);
        self.peers.iter().find(|p| super::fold(p.address) == ip)
    }

    /// `ip` is one of the zone's NOTIFY targets: configured, or sent one
    /// in a round.
    pub fn is_notify_target(&self, ip: IpAddr) -> bool {
        let ip = super::fold(ip);
        self.peer(ip).is_some_and(|p| p.notify_target)
            || self.notify_targets.iter().any(|t| {
                t.parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| super::fold(a.ip()) == ip)
            })
    }
}

/// What the history holds of one peer address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub address: IpAddr,
    /// We send it NOTIFY (configured, or sent in a round).
    pub notify_target: bool,
    /// When it last asked the zone's SOA (or IXFR over UDP); none when
    /// never, or when the sighting was evicted from the server's table.
    pub last_soa_query_ms: Option<UnixMs>,
    pub last_notify: Option<EventView>,
    pub last_transfer: Option<EventView>,
    /// The last transfer refused, or signed query failing TSIG.
    pub last_refusal: Option<EventView>,
    pub last_heal: Option<EventView>,
    /// The latest events of any kind, newest first.
    pub events: Vec<EventView>,
}

impl PeerView {
    /// A peer the history holds nothing of (an address asked about).
    pub fn unknown(address: IpAddr) -> PeerView {
        PeerView {
            address,
            notify_target: false,
            last_soa_query_ms: None,
            last_notify: None,
            last_transfer: None,
            last_refusal: None,
            last_heal: None,
            events: Vec::new(),
        }
    }

    /// What `log` holds of `address`.
    pub fn of(address: IpAddr, log: &PeerLog) -> PeerView {
        let view = |e: Option<&PeerEvent>| e.map(EventView::of);
        PeerView {
            address,
            notify_target: log.notify_target(),
            last_soa_query_ms: None,
            last_notify: view(log.last_notify()),
            last_transfer: view(log.last_transfer()),
            last_refusal: view(log.last_refusal()),
            last_heal: view(log.last_heal()),
            events: log.events().map(EventView::of).collect(),
        }
    }
}

/// One event, when (Unix ms), and what, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub at_ms: UnixMs,
    #[serde(flatten)]
    pub what: WhatView,
}

/// What happened; JSON `kind`: `notify`, `transfer`, `soa-query`,
/// `notify-in`, `heal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WhatView {
    /// A NOTIFY we sent, at its end.
    Notify {
        serial: Serial,
        port: u16,
        key: Option<String>,
        tries: u32,
        outcome: NotifyResult,
        heal: bool,
    },
    /// A transfer the peer asked for, at its end.
    Transfer {
        request: RequestKind,
        /// An IXFR's serial (the client's).
        asked: Option<Serial>,
        /// The key that signed it, or for a TSIG failure the one named.
        key: Option<String>,
        /// `plain` (UDP or TCP) or `tls`.
        via: Via,
        outcome: TransferResult,
    },
    /// A signed query that failed TSIG.
    SoaQuery {
        key: Option<String>,
        tsig_error: String,
    },
    /// A NOTIFY to us for this zone, and our answer's RCODE.
    NotifyIn { rcode: u8 },
    /// Something done to bring the peer up to date.
    Heal { action: HealKind, result: String },
}

/// How a NOTIFY ended; JSON `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum NotifyResult {
    /// Answered with `rcode` (REFUSED counts: the RCODE says).
    Acknowledged {
        rcode: u8,
    },
    NoAnswer,
    SendFailed {
        error: String,
    },
    /// The answer failed our TSIG.
    TsigFailed {
        error: String,
    },
    /// A newer round took over.
    CutShort,
}

/// How a transfer ended; JSON `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum TransferResult {
    Served {
        serial: Serial,
        sent: SentKind,
        /// An incremental answer's changesets.
        changesets: Option<u32>,
        /// Why an IXFR got the whole zone.
        instead_of_ixfr: Option<FullWhy>,
        records: u64,
        bytes: u64,
        messages: u32,
        ms: u32,
    },
    /// By `allow_transfer`: the rule that came closest, and its text.
    Refused {
        denial: Denial,
        reason: String,
    },
    /// The request's TSIG failed (BADKEY, BADSIG, BADTIME…).
    Tsig {
        error: String,
    },
    NotLoaded,
    /// The limit that turned it away.
    OverLimit {
        limit: String,
    },
    Aborted {
        error: String,
        bytes: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    Axfr,
    Ixfr,
    IxfrUdp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    Plain,
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SentKind {
    Incremental,
    Full,
    /// Our SOA alone: the client was current.
    Current,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullWhy {
    NoJournal,
    HistoryMissing,
    ChangesLarger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealKind {
    Notify,
    Refresh,
    Retransfer,
}

impl EventView {
    pub fn of(event: &PeerEvent) -> EventView {
        EventView {
            at_ms: event.at,
            what: WhatView::of(&event.what),
        }
    }
}

impl WhatView {
    fn of(what: &PeerWhat) -> WhatView {
        let text = |s: &Option<std::sync::Arc<str>>| s.as_deref().map(String::from);
        match what {
            PeerWhat::Notify {
                serial,
                port,
                key,
                tries,
                outcome,
                heal,
            } => WhatView::Notify {
                serial: *serial,
                port: *port,
                key: text(key),
                tries: *tries,
                outcome: NotifyResult::of(outcome),
                heal: *heal,
            },
            PeerWhat::Transfer {
                request,
                key,
                via,
                outcome,
            } => {
                let (request, asked) = RequestKind::of(*request);
                WhatView::Transfer {
                    request,
                    asked,
                    key: text(key),
                    via: Via::of(via),
                    outcome: TransferResult::of(outcome),
                }
            }
            PeerWhat::SoaQuery { key, tsig_error } => WhatView::SoaQuery {
                key: key.as_deref().map(String::from),
                tsig_error: (*tsig_error).to_owned(),
            },
            PeerWhat::NotifyIn { rcode } => WhatView::NotifyIn { rcode: *rcode },
            PeerWhat::Heal { action, result } => WhatView::Heal {
                action: HealKind::of(*action),
                result: result.to_string(),
            },
        }
    }
}

impl NotifyResult {
    fn of(outcome: &NotifyOutcome) -> NotifyResult {
        match outcome {
            NotifyOutcome::Acknowledged { rcode } => NotifyResult::Acknowledged { rcode: *rcode },
            NotifyOutcome::NoAnswer => NotifyResult::NoAnswer,
            NotifyOutcome::SendFailed(e) => NotifyResult::SendFailed {
                error: e.to_string(),
            },
            NotifyOutcome::TsigFailed(e) => NotifyResult::TsigFailed {
                error: e.to_string(),
            },
            NotifyOutcome::CutShort => NotifyResult::CutShort,
        }
    }
}

impl TransferResult {
    fn of(outcome: &XfrOutcome) -> TransferResult {
        match outcome {
            XfrOutcome::Served {
                serial,
                sent,
                records,
                bytes,
                messages,
                ms,
            } => {
                let (sent, changesets, instead_of_ixfr) = match sent {
                    Sent::Incremental { changesets } => {
                        (SentKind::Incremental, Some(*changesets), None)
                    }
                    Sent::Full { instead_of_ixfr } => {
                        (SentKind::Full, None, instead_of_ixfr.map(FullWhy::of))
                    }
                    Sent::Current => (SentKind::Current, None, None),
                };
                TransferResult::Served {
                    serial: *serial,
                    sent,
                    changesets,
                    instead_of_ixfr,
                    records: *records,
                    bytes: *bytes,
                    messages: *messages,
                    ms: *ms,
                }
            }
            XfrOutcome::Refused(denial) => TransferResult::Refused {
                denial: *denial,
                reason: denial.to_string(),
            },
            XfrOutcome::Tsig { error } => TransferResult::Tsig {
                error: (*error).to_owned(),
            },
            XfrOutcome::NotLoaded => TransferResult::NotLoaded,
            XfrOutcome::OverLimit(limit) => TransferResult::OverLimit {
                limit: (*limit).to_owned(),
            },
            XfrOutcome::Aborted { error, bytes } => TransferResult::Aborted {
                error: error.to_string(),
                bytes: *bytes,
            },
        }
    }
}

impl RequestKind {
    /// The kind, and an IXFR's serial.
    fn of(request: XfrRequest) -> (RequestKind, Option<Serial>) {
        match request {
            XfrRequest::Axfr => (RequestKind::Axfr, None),
            XfrRequest::Ixfr { asked } => (RequestKind::Ixfr, asked),
            XfrRequest::IxfrUdp { asked } => (RequestKind::IxfrUdp, Some(asked)),
        }
    }

    /// As DNS people write it.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Axfr => "AXFR",
            RequestKind::Ixfr => "IXFR",
            RequestKind::IxfrUdp => "IXFR/UDP",
        }
    }
}

impl Via {
    fn of(transport: &Transport) -> Via {
        match transport {
            Transport::Plain => Via::Plain,
            Transport::Tls { .. } => Via::Tls,
        }
    }
}

impl FullWhy {
    fn of(reason: FullReason) -> FullWhy {
        match reason {
            FullReason::NoJournal => FullWhy::NoJournal,
            FullReason::HistoryMissing => FullWhy::HistoryMissing,
            FullReason::ChangesLarger => FullWhy::ChangesLarger,
        }
    }

    /// Why, for people.
    pub fn text(self) -> &'static str {
        match self {
            FullWhy::NoJournal => "no journal",
            FullWhy::HistoryMissing => "its serial is not in the journal",
            FullWhy::ChangesLarger => "the changes are not smaller",
        }
    }
}

impl HealKind {
    /// As the history records it.
    pub fn action(self) -> HealAction {
        match self {
            HealKind::Notify => HealAction::Notify,
            HealKind::Refresh => HealAction::Refresh,
            HealKind::Retransfer => HealAction::Retransfer,
        }
    }

    fn of(action: HealAction) -> HealKind {
        match action {
            HealAction::Notify => HealKind::Notify,
            HealAction::Refresh => HealKind::Refresh,
            HealAction::Retransfer => HealKind::Retransfer,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HealKind::Notify => "NOTIFY",
            HealKind::Refresh => "refresh",
            HealKind::Retransfer => "retransfer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::peers::ZonePeers;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A history with one event of every kind and outcome shape.
    fn history() -> ZonePeers {
        let peers = ZonePeers::new(ManualClock::at(1_800_000_000_000).shared());
        let at = peers.now();
        let record = |who: &str, what| peers.record(ip(who), PeerEvent { at, what });
        record(
            "192.0.2.1",
            PeerWhat::Notify {
                serial: Serial(7),
                port: 53,
                key: Some("notify-key".into()),
                tries: 2,
                outcome: NotifyOutcome::Acknowledged { rcode: 5 },
                heal: false,
            },
        );
        record(
            "192.0.2.2",
            PeerWhat::Transfer {
                request: XfrRequest::Ixfr {
                    asked: Some(Serial(3)),
                },
                key: None,
                via: Transport::Plain,
                outcome: XfrOutcome::Served {
                    serial: Serial(7),
                    sent: Sent::Full {
                        instead_of_ixfr: Some(FullReason::HistoryMissing),
                    },
                    records: 12,
                    bytes: 900,
                    messages: 1,
                    ms: 3,
                },
            },
        );
        record(
            "192.0.2.2",
            PeerWhat::Transfer {
                request: XfrRequest::Axfr,
                key: Some("nokey".into()),
                via: Transport::Plain,
                outcome: XfrOutcome::Tsig { error: "BADKEY" },
            },
        );
        record(
            "2001:db8::3",
            PeerWhat::Transfer {
                request: XfrRequest::Axfr,
                key: None,
                via: Transport::Tls { client: None },
                outcome: XfrOutcome::Refused(Denial::Key),
            },
        );
        record(
            "2001:db8::3",
            PeerWhat::SoaQuery {
                key: Some("k".into()),
                tsig_error: "BADSIG",
            },
        );
        record("192.0.2.4", PeerWhat::NotifyIn { rcode: 9 });
        record(
            "192.0.2.4",
            PeerWhat::Heal {
                action: HealAction::Notify,
                result: "acknowledged".into(),
            },
        );
        peers
    }

    fn views() -> Vec<PeerView> {
        history()
            .snapshot()
            .iter()
            .map(|(ip, log)| PeerView::of(*ip, log))
            .collect()
    }

    #[test]
    fn a_report_reads_back_as_written() {
        let report = PeerReport {
            zone: "example.com".into(),
            serial: Some(Serial(7)),
            published_ms: Some(1_800_000_000_000),
            notify_running: true,
            notify_targets: vec!["192.0.2.1:53".into()],
            allow_transfer: vec!["from 192.0.2.0/24".into()],
            allow_transfer_at: Some("zonesync.toml:14".into()),
            peers: views(),
        };
        let json = serde_json::to_string(&report).unwrap();
        let back: PeerReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn events_are_tagged_by_kind_and_outcomes_by_result() {
        let json = serde_json::to_value(views()).unwrap();
        let events: Vec<&serde_json::Value> = json
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["events"].as_array().unwrap())
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "notify",
                "transfer",
                "transfer",
                "heal",
                "notify-in",
                "soa-query",
                "transfer"
            ],
            "by address, newest first: {json}"
        );
        let ixfr = events[2];
        assert_eq!(ixfr["request"], "ixfr");
        assert_eq!(ixfr["asked"], 3);
        assert_eq!(ixfr["outcome"]["result"], "served");
        assert_eq!(ixfr["outcome"]["sent"], "full");
        assert_eq!(ixfr["outcome"]["instead_of_ixfr"], "history-missing");
        assert_eq!(events[1]["outcome"]["result"], "tsig");
        assert_eq!(events[1]["outcome"]["error"], "BADKEY");
        assert_eq!(events[1]["key"], "nokey");
        let refused = events[6];
        assert_eq!(refused["via"], "tls");
        assert_eq!(refused["outcome"]["denial"], "key");
        assert_eq!(refused["outcome"]["reason"], Denial::Key.to_string());
        assert_eq!(events[0]["outcome"]["result"], "acknowledged");
        assert_eq!(events[0]["outcome"]["rcode"], 5);
    }

    #[test]
    fn the_latest_refusal_is_a_signed_query_after_a_refused_transfer() {
        let views = views();
        let v6 = views
            .iter()
            .find(|v| v.address == ip("2001:db8::3"))
            .unwrap();
        assert!(matches!(
            v6.last_refusal.as_ref().map(|e| &e.what),
            Some(WhatView::SoaQuery { tsig_error, .. }) if tsig_error == "BADSIG"
        ));
        assert!(matches!(
            v6.last_transfer.as_ref().map(|e| &e.what),
            Some(WhatView::Transfer {
                outcome: TransferResult::Refused {
                    denial: Denial::Key,
                    ..
                },
                ..
            })
        ));
        let notified = views.iter().find(|v| v.address == ip("192.0.2.1")).unwrap();
        assert!(notified.notify_target);
        assert!(notified.last_notify.is_some());
    }
}
