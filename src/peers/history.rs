//! The per-zone history of peers: a ring of recent events per peer IP,
//! plus the latest event of the kinds the doctor needs as evidence, kept
//! out of the ring so that a flood of one kind cannot push them out.

use crate::acl::{Denial, Transport};
use crate::clock::{SharedClock, UnixMs};
use crate::serial::Serial;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// Events kept per peer, of any kind (the ring).
pub const EVENTS_PER_PEER: usize = 32;

/// Peers kept per zone; beyond, the peer idle longest is forgotten, but
/// never one we send NOTIFY to (their number is bounded by the
/// configuration and the zone's NS set, not by traffic).
pub const PEERS_PER_ZONE: usize = 64;

/// The most octets of a text (an error) an event keeps.
pub const TEXT_MAX: usize = 200;

/// One thing that happened with a peer, and when (the zone's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEvent {
    pub at: UnixMs,
    pub what: PeerWhat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerWhat {
    /// A NOTIFY we sent, at its end: answered, given up, cut short.
    Notify {
        serial: Serial,
        port: u16,
        key: Option<Arc<str>>,
        /// Datagrams sent to this target in the round.
        tries: u32,
        outcome: NotifyOutcome,
        /// Sent to heal a peer the doctor found behind, not for a change.
        heal: bool,
    },
    /// A transfer the peer asked for, once at its end.
    Transfer {
        request: XfrRequest,
        /// The key that signed the request (verified), or for a TSIG
        /// failure the key name the request presented.
        key: Option<Arc<str>>,
        via: Transport,
        outcome: XfrOutcome,
    },
    /// A signed query that failed TSIG (recorded from step 3 on).
    SoaQuery {
        key: Option<Box<str>>,
        tsig_error: &'static str,
    },
    /// A NOTIFY to us for this zone, and our answer's RCODE.
    NotifyIn { rcode: u8 },
    /// Something the doctor did to bring the peer up to date.
    Heal {
        action: HealAction,
        result: Box<str>,
    },
}

/// How a NOTIFY to one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// Answered; any answer counts, a REFUSED one too (its RCODE says).
    Acknowledged { rcode: u8 },
    /// No answer after every try.
    NoAnswer,
    /// Not sent: the socket, or signing it, failed.
    SendFailed(Box<str>),
    /// Answered, but the answer failed our TSIG (BADKEY…).
    TsigFailed(Box<str>),
    /// A newer round took over before it ended.
    CutShort,
}

/// What a transfer request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XfrRequest {
    Axfr,
    /// Over TCP or TLS; `asked`: the serial in the request's SOA.
    Ixfr {
        asked: Option<Serial>,
    },
    IxfrUdp {
        asked: Serial,
    },
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrOutcome {
    Served {
        serial: Serial,
        sent: Sent,
        records: u64,
        /// Octets written, TCP length prefixes and TSIG records included.
        bytes: u64,
        messages: u32,
        ms: u32,
    },
    /// By `allow_transfer`, with the reason of the rule that came closest.
    Refused(Denial),
    /// The request's TSIG failed (BADKEY, BADSIG, BADTIME…).
    Tsig {
        error: &'static str,
    },
    NotLoaded,
    /// The limit that turned it away (`transfer_limit`…).
    OverLimit(&'static str),
    /// Started, and ended early (the connection went).
    Aborted {
        error: Box<str>,
        bytes: u64,
    },
}

impl XfrOutcome {
    /// A refusal the peer can fix on its side (ACL or key).
    fn is_refusal(&self) -> bool {
        matches!(self, XfrOutcome::Refused(_) | XfrOutcome::Tsig { .. })
    }
}

/// What a served transfer held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Incremental {
        changesets: u32,
    },
    /// The whole zone; for an IXFR, why not the changes (`None`: an AXFR,
    /// or an IXFR without a serial).
    Full {
        instead_of_ixfr: Option<FullReason>,
    },
    /// Our SOA alone: the client was current.
    Current,
}

/// Why an IXFR was answered with the whole zone (RFC 1995 §4 allows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullReason {
    /// The zone keeps no journal.
    NoJournal,
    /// The journal has no chain from the client's serial to ours.
    HistoryMissing,
    /// The changes would be as large as the zone.
    ChangesLarger,
}

/// What the doctor did to heal a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealAction {
    Notify,
    Refresh,
    Retransfer,
}

/// `text` cut to at most [`TEXT_MAX`] octets, at a character boundary.
pub fn cut(text: &str) -> Box<str> {
    let mut end = text.len().min(TEXT_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().into()
}

/// What a zone's history holds of one peer.
#[derive(Debug, Clone, Default)]
pub struct PeerLog {
    ring: VecDeque<PeerEvent>,
    latest: Latest,
    /// When the last event came: the peer idle longest is evicted.
    active: UnixMs,
    /// We sent it a NOTIFY: never evicted.
    notify_target: bool,
}

/// The latest event of each kind the doctor weighs, out of the ring.
#[derive(Debug, Clone, Default)]
struct Latest {
    notify: Option<PeerEvent>,
    transfer: Option<PeerEvent>,
    /// A transfer refused (ACL, TSIG) or a signed query failing TSIG.
    refusal: Option<PeerEvent>,
    heal: Option<PeerEvent>,
}

impl Latest {
    /// The copies of `event` its slots keep; made before the lock is
    /// taken, so that the lock is held for moves only.
    fn of(event: &PeerEvent) -> Latest {
        let copy = || Some(event.clone());
        match &event.what {
            // A heal NOTIFY is the doctor's action, not the change's
            // announcement: the last NOTIFY for the change stays in view.
            PeerWhat::Notify { heal: true, .. } => Latest {
                heal: copy(),
                ..Latest::default()
            },
            PeerWhat::Notify { .. } => Latest {
                notify: copy(),
                ..Latest::default()
            },
            PeerWhat::Transfer { outcome, .. } => Latest {
                transfer: copy(),
                refusal: if outcome.is_refusal() { copy() } else { None },
                ..Latest::default()
            },
            PeerWhat::SoaQuery { .. } => Latest {
                refusal: copy(),
                ..Latest::default()
            },
            PeerWhat::NotifyIn { .. } => Latest::default(),
            PeerWhat::Heal { .. } => Latest {
                heal: copy(),
                ..Latest::default()
            },
        }
    }

    fn absorb(&mut self, newer: Latest) {
        let keep = |slot: &mut Option<PeerEvent>, new: Option<PeerEvent>| {
            if new.is_some() {
                *slot = new;
            }
        };
        keep(&mut self.notify, newer.notify);
        keep(&mut self.transfer, newer.transfer);
        keep(&mut self.refusal, newer.refusal);
        keep(&mut self.heal, newer.heal);
    }
}

impl PeerLog {
    fn push(&mut self, event: PeerEvent, latest: Latest) {
        self.active = self.active.max(event.at);
        self.notify_target |= matches!(event.what, PeerWhat::Notify { heal: false, .. });
        if self.ring.len() >= EVENTS_PER_PEER {
            self.ring.pop_front();
        }
        self.ring.push_back(event);
        self.latest.absorb(latest);
    }

    /// The ring's events, newest first.
    pub fn events(&self) -> impl Iterator<Item = &PeerEvent> {
        self.ring.iter().rev()
    }

    pub fn last_notify(&self) -> Option<&PeerEvent> {
        self.latest.notify.as_ref()
    }

    pub fn last_transfer(&self) -> Option<&PeerEvent> {
        self.latest.transfer.as_ref()
    }

    /// The last transfer refused, or signed query failing TSIG.
    pub fn last_refusal(&self) -> Option<&PeerEvent> {
        self.latest.refusal.as_ref()
    }

    pub fn last_heal(&self) -> Option<&PeerEvent> {
        self.latest.heal.as_ref()
    }

    /// When its last event came.
    pub fn active(&self) -> UnixMs {
        self.active
    }

    /// Whether we sent it a NOTIFY.
    pub fn notify_target(&self) -> bool {
        self.notify_target
    }
}

type Logs = HashMap<IpAddr, PeerLog>;

/// One zone's history of its peers, keyed by IP (a secondary asks from
/// ephemeral ports; IPv4-mapped addresses count as IPv4).
pub struct ZonePeers {
    clock: SharedClock,
    inner: Mutex<Logs>,
}

impl std::fmt::Debug for ZonePeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZonePeers").finish_non_exhaustive()
    }
}

impl ZonePeers {
    /// Events are timed by `clock`, the zone's.
    pub fn new(clock: SharedClock) -> ZonePeers {
        ZonePeers {
            clock,
            inner: Mutex::default(),
        }
    }

    /// The time an event happening now gets.
    pub fn now(&self) -> UnixMs {
        self.clock.now()
    }

    /// Records `event` for `ip`. Never held across I/O: the lock is taken
    /// for this push (and an eviction) alone.
    pub fn record(&self, ip: IpAddr, event: PeerEvent) {
        let latest = Latest::of(&event);
        let mut logs = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        push(&mut logs, fold(ip), event, latest);
    }

    /// Records `event` unless another thread holds the history: for paths
    /// that must not wait. False when it was not recorded (the caller
    /// counts the miss).
    pub fn try_record(&self, ip: IpAddr, event: PeerEvent) -> bool {
        let latest = Latest::of(&event);
        let mut logs: MutexGuard<'_, Logs> = match self.inner.try_lock() {
            Ok(logs) => logs,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        push(&mut logs, fold(ip), event, latest);
        true
    }

    /// Every peer's log, copied under the lock, by address.
    pub fn snapshot(&self) -> Vec<(IpAddr, PeerLog)> {
        let mut out: Vec<(IpAddr, PeerLog)> = {
            let logs = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            logs.iter().map(|(ip, log)| (*ip, log.clone())).collect()
        };
        out.sort_by_key(|(ip, _)| *ip);
        out
    }

    /// One peer's log, copied.
    pub fn peer(&self, ip: IpAddr) -> Option<PeerLog> {
        let logs = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        logs.get(&fold(ip)).cloned()
    }
}

/// Adds `event` to the log of `ip`, making room for a new peer first.
fn push(logs: &mut Logs, ip: IpAddr, event: PeerEvent, latest: Latest) {
    if !logs.contains_key(&ip) {
        let target = matches!(event.what, PeerWhat::Notify { .. });
        if !make_room(logs, target) {
            return;
        }
    }
    logs.entry(ip).or_default().push(event, latest);
}

/// Whether a new peer may be added: below the cap, or once the peer idle
/// longest that is not a NOTIFY target is gone. With every peer a target,
/// only another target is added (the configuration bounds them).
fn make_room(logs: &mut Logs, newcomer_is_target: bool) -> bool {
    if logs.len() < PEERS_PER_ZONE {
        return true;
    }
    let idle = logs
        .iter()
        .filter(|(_, log)| !log.notify_target)
        .min_by_key(|(_, log)| log.active)
        .map(|(ip, _)| *ip);
    match idle {
        Some(ip) => {
            logs.remove(&ip);
            true
        }
        None => newcomer_is_target,
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is (a dual-stack
/// socket shows IPv4 peers so), as `notify::round` compares them.
pub(crate) fn fold(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    const T0: UnixMs = 1_800_000_000_000;

    fn peers() -> (ManualClock, ZonePeers) {
        let clock = ManualClock::at(T0);
        let peers = ZonePeers::new(clock.shared());
        (clock, peers)
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + n))
    }

    fn event(peers: &ZonePeers, what: PeerWhat) -> PeerEvent {
        PeerEvent {
            at: peers.now(),
            what,
        }
    }

    fn notify(serial: u32) -> PeerWhat {
        notify_as(serial, false)
    }

    fn heal_notify(serial: u32) -> PeerWhat {
        notify_as(serial, true)
    }

    fn notify_as(serial: u32, heal: bool) -> PeerWhat {
        PeerWhat::Notify {
            serial: Serial(serial),
            port: 53,
            key: None,
            tries: 1,
            outcome: NotifyOutcome::Acknowledged { rcode: 0 },
            heal,
        }
    }

    fn transfer(outcome: XfrOutcome) -> PeerWhat {
        PeerWhat::Transfer {
            request: XfrRequest::Axfr,
            key: None,
            via: Transport::Plain,
            outcome,
        }
    }

    #[test]
    fn the_ring_keeps_the_last_32_events_of_a_peer_newest_first() {
        let (_, peers) = peers();
        for serial in 0..100 {
            peers.record(ip(1), event(&peers, notify(serial)));
        }
        let log = peers.peer(ip(1)).unwrap();
        let serials: Vec<u32> = log
            .events()
            .map(|e| match e.what {
                PeerWhat::Notify { serial, .. } => serial.0,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(serials.len(), EVENTS_PER_PEER);
        assert_eq!(serials.first(), Some(&99), "newest first");
        assert_eq!(serials.last(), Some(&68), "the oldest kept");
    }

    #[test]
    fn the_latest_notify_transfer_refusal_and_heal_survive_a_flood() {
        let (clock, peers) = peers();
        peers.record(ip(1), event(&peers, notify(7)));
        let refused = event(&peers, transfer(XfrOutcome::Refused(Denial::Key)));
        peers.record(ip(1), refused.clone());
        let heal = event(
            &peers,
            PeerWhat::Heal {
                action: HealAction::Notify,
                result: "acknowledged".into(),
            },
        );
        peers.record(ip(1), heal.clone());
        for _ in 0..1000 {
            clock.advance(Duration::from_millis(1));
            peers.record(ip(1), event(&peers, PeerWhat::NotifyIn { rcode: 9 }));
        }
        let log = peers.peer(ip(1)).unwrap();
        assert!(
            log.events()
                .all(|e| matches!(e.what, PeerWhat::NotifyIn { .. })),
            "the ring holds the flood alone"
        );
        assert_eq!(log.last_notify().map(|e| &e.what), Some(&notify(7)));
        assert_eq!(log.last_transfer(), Some(&refused));
        assert_eq!(
            log.last_refusal(),
            Some(&refused),
            "a refusal is kept twice"
        );
        assert_eq!(log.last_heal(), Some(&heal));
        assert_eq!(log.active(), T0 + 1000);
    }

    #[test]
    fn a_heal_notify_is_the_last_heal_not_the_last_notify_and_makes_no_target() {
        let (_, peers) = peers();
        let healing = heal_notify(8);
        peers.record(ip(2), event(&peers, healing.clone()));
        let log = peers.peer(ip(2)).unwrap();
        assert_eq!(log.last_notify(), None);
        assert_eq!(log.last_heal().map(|e| &e.what), Some(&healing));
        assert!(!log.notify_target(), "a heal target may be evicted");
        peers.record(ip(2), event(&peers, notify(7)));
        peers.record(ip(2), event(&peers, healing.clone()));
        let log = peers.peer(ip(2)).unwrap();
        assert_eq!(
            log.last_notify().map(|e| &e.what),
            Some(&notify(7)),
            "the change's NOTIFY stays in view after a heal"
        );
        assert!(log.notify_target());
        assert_eq!(log.events().count(), 3);
    }

    #[test]
    fn a_served_transfer_is_not_a_refusal() {
        let (_, peers) = peers();
        let served = transfer(XfrOutcome::Served {
            serial: Serial(3),
            sent: Sent::Full {
                instead_of_ixfr: None,
            },
            records: 5,
            bytes: 300,
            messages: 1,
            ms: 2,
        });
        peers.record(ip(1), event(&peers, served.clone()));
        let log = peers.peer(ip(1)).unwrap();
        assert_eq!(log.last_transfer().map(|e| &e.what), Some(&served));
        assert_eq!(log.last_refusal(), None);
    }

    #[test]
    fn beyond_64_peers_the_idle_longest_goes_but_never_a_notify_target() {
        let (clock, peers) = peers();
        // The oldest three are NOTIFY targets.
        for n in 0..3 {
            peers.record(ip(n), event(&peers, notify(1)));
        }
        for n in 3..200 {
            clock.advance(Duration::from_millis(1));
            peers.record(ip(n), event(&peers, PeerWhat::NotifyIn { rcode: 9 }));
        }
        let kept: Vec<IpAddr> = peers.snapshot().into_iter().map(|(ip, _)| ip).collect();
        assert_eq!(kept.len(), PEERS_PER_ZONE);
        for n in 0..3 {
            assert!(kept.contains(&ip(n)), "NOTIFY target {} kept", ip(n));
        }
        let newest = 200 - (PEERS_PER_ZONE as u32 - 3);
        for n in 3..200 {
            assert_eq!(kept.contains(&ip(n)), n >= newest, "peer {}", ip(n));
        }
    }

    #[test]
    fn with_every_peer_a_notify_target_only_targets_are_added() {
        let (_, peers) = peers();
        for n in 0..PEERS_PER_ZONE as u32 {
            peers.record(ip(n), event(&peers, notify(1)));
        }
        peers.record(ip(100), event(&peers, PeerWhat::NotifyIn { rcode: 9 }));
        assert!(peers.peer(ip(100)).is_none(), "a stranger is not added");
        peers.record(ip(101), event(&peers, notify(1)));
        assert!(peers.peer(ip(101)).is_some(), "a target is");
        assert_eq!(peers.snapshot().len(), PEERS_PER_ZONE + 1);
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_peer() {
        let (_, peers) = peers();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        peers.record(mapped, event(&peers, notify(1)));
        peers.record(ip(1), event(&peers, notify(2)));
        let all = peers.snapshot();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, ip(1));
        assert_eq!(all[0].1.events().count(), 2);
    }

    #[test]
    fn try_record_gives_up_while_the_history_is_held() {
        let (_, peers) = peers();
        let held = peers.inner.lock().unwrap();
        assert!(!peers.try_record(ip(1), event(&peers, notify(1))));
        drop(held);
        assert!(peers.try_record(ip(1), event(&peers, notify(1))));
        assert_eq!(peers.snapshot().len(), 1);
    }

    #[test]
    fn texts_are_cut_at_200_octets_on_a_character_boundary() {
        assert_eq!(&*cut("short"), "short");
        assert_eq!(cut(&"a".repeat(300)).len(), TEXT_MAX);
        // "é" is two octets: 199 + 2 would pass the limit.
        let text = format!("{}é", "a".repeat(199));
        assert_eq!(&*cut(&text), "a".repeat(199));
    }
}
