//! Per-client and global limits, and how they are reported.
//!
//! - [`LimitLog`]: one per kind of limit. Every time the limit turns a
//!   client away it is counted (for `/metrics`), but a warning is logged
//!   at most once per [`LOG_INTERVAL_MS`]: the first hit after a quiet
//!   interval logs one line naming that client and how many hits there
//!   were since the previous line. A flood of refused connections or
//!   NOTIFYs makes one line every ten seconds, not one per packet.
//! - [`PerClient`]: how many of something (TCP connections, transfers)
//!   one client has at once, as a [`ClientSlot`] held while it lasts. The
//!   table is touched when the slot is taken and when it is dropped, never
//!   per query.
//! - [`SourceRate`]: a token bucket per source (NOTIFY in), in a fixed
//!   table that allocates nothing and never grows.
//!
//! Clients are counted by [`ClientKey`]: an IPv4 address, or the /64 of
//! an IPv6 address (one host usually holds a whole /64, so counting per
//! /128 would let it take 2^64 shares).

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// At most one warning per limit kind in this many milliseconds.
pub const LOG_INTERVAL_MS: u64 = 10_000;

/// The counts and the rate of warnings of one kind of limit.
#[derive(Debug)]
pub struct LimitLog {
    /// The `limit` label in `/metrics` and the log line.
    kind: &'static str,
    /// What the warning says happened, e.g. "TCP connection closed at
    /// accept: tcp_max_connections_per_client reached".
    what: &'static str,
    /// When the last warning was logged ([`now_ms`]); 0: never.
    last: AtomicU64,
    /// Hits since the last warning.
    pending: AtomicU64,
    /// Hits since the start.
    total: AtomicU64,
}

impl LimitLog {
    pub const fn new(kind: &'static str, what: &'static str) -> LimitLog {
        LimitLog {
            kind,
            what,
            last: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// The limit turned `client` away (for `zone`, when it is about one):
    /// counted, and logged when the last line is old enough.
    pub fn hit(&self, client: Option<IpAddr>, zone: Option<&dyn fmt::Display>) {
        if let Some(n) = self.hit_at(now_ms()) {
            tracing::warn!(
                limit = self.kind,
                client = client.map(tracing::field::display),
                zone = zone.map(tracing::field::display),
                since_last_report = n,
                "{} ({n} since the last report; reported at most every {} s)",
                self.what,
                LOG_INTERVAL_MS / 1000,
            );
        }
    }

    /// Counts a hit at `now` (milliseconds, never 0); `Some(hits since
    /// the last line, this one included)` when a line is due now.
    pub fn hit_at(&self, now: u64) -> Option<u64> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.pending.fetch_add(1, Ordering::Relaxed);
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < LOG_INTERVAL_MS {
            return None;
        }
        // One thread wins the right to log; the others' hits are in
        // `pending` for this line or the next.
        self.last
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.pending.swap(0, Ordering::Relaxed))
    }

    /// Hits since the start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The `limit` label.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Milliseconds since the first call in this process, plus one (so never
/// 0, which [`LimitLog`] reads as "never logged").
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// `tcp_max_connections` (TCP and TLS listeners alike).
pub static TCP_CONNECTIONS: LimitLog = LimitLog::new(
    "tcp_connections",
    "TCP connection closed at accept: tcp_max_connections open",
);
/// `tcp_max_connections_per_client`.
pub static TCP_CONNECTIONS_PER_CLIENT: LimitLog = LimitLog::new(
    "tcp_connections_per_client",
    "TCP connection closed at accept: tcp_max_connections_per_client open from this client",
);
/// `transfer_limit`.
pub static TRANSFERS: LimitLog = LimitLog::new(
    "transfers",
    "transfer refused (SERVFAIL): transfer_limit reached",
);
/// `transfer_limit_per_client`.
pub static TRANSFERS_PER_CLIENT: LimitLog = LimitLog::new(
    "transfers_per_client",
    "transfer refused (SERVFAIL): transfer_limit_per_client reached for this client",
);
/// `notify_in_rate`.
pub static NOTIFY_RATE: LimitLog = LimitLog::new(
    "notify_in_rate",
    "NOTIFY refused: notify_in_rate exceeded by this source",
);
/// The control interface's connection cap (clients wait in the backlog).
pub static CONTROL_CONNECTIONS: LimitLog = LimitLog::new(
    "control_connections",
    "control interface at its connection cap: further clients wait in the listen backlog",
);
/// The monitor dashboard's connection cap (clients wait in the backlog).
pub static DASHBOARD_CONNECTIONS: LimitLog = LimitLog::new(
    "dashboard_connections",
    "monitor dashboard at its connection cap: further clients wait in the listen backlog",
);

/// A zone's peer history was busy when a signed query failing TSIG was
/// to be recorded: the query path does not wait for it, so the event is
/// lost (and counted here).
pub static PEER_HISTORY_BUSY: LimitLog = LimitLog::new(
    "peer_history_busy",
    "a signed query failing TSIG was not recorded in the zone's peer history: it was busy",
);

/// Every limit, in the order `/metrics` lists them.
pub static ALL: [&LimitLog; 8] = [
    &TCP_CONNECTIONS,
    &TCP_CONNECTIONS_PER_CLIENT,
    &TRANSFERS,
    &TRANSFERS_PER_CLIENT,
    &NOTIFY_RATE,
    &CONTROL_CONNECTIONS,
    &DASHBOARD_CONNECTIONS,
    &PEER_HISTORY_BUSY,
];

/// Who a per-client limit counts: an IPv4 address (an IPv4-mapped IPv6
/// one included), or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    /// The upper 64 bits.
    V6(u64),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ClientKey::V4(a) => write!(f, "{}", std::net::Ipv4Addr::from(a)),
            ClientKey::V6(hi) => write!(f, "{}/64", Ipv6Addr::from(u128::from(hi) << 64)),
        }
    }
}

/// How many of something each client holds at once, at most `max` (0:
/// no cap, nothing counted).
#[derive(Debug)]
pub struct PerClient {
    max: usize,
    /// Clients holding at least one slot; an entry leaves with its last.
    held: Mutex<HashMap<ClientKey, usize>>,
}

/// One slot of a [`PerClient`] table, given back on drop.
#[derive(Debug)]
pub struct ClientSlot {
    table: Option<Arc<PerClient>>,
    key: ClientKey,
}

impl PerClient {
    pub fn new(max: usize) -> Arc<PerClient> {
        Arc::new(PerClient {
            max,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`'s client, unless it already holds `max`.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let key = ClientKey::of(ip);
        if self.max == 0 {
            return Some(ClientSlot { table: None, key });
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: Some(self.clone()),
            key,
        })
    }

    /// Slots `ip`'s client holds now.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&ClientKey::of(ip)).copied().unwrap_or(0)
    }

    /// Clients holding a slot now.
    pub fn clients(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some(table) = &self.table else {
            return;
        };
        let mut held = table.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// Slots of a [`SourceRate`] table.
const RATE_SLOTS: usize = 1024;

/// A token bucket per source: `rate` per second, bursts of up to `rate`
/// (0: no cap). Sources share a fixed table by a hash with a random key,
/// so it never grows and cannot be aimed at: a source that finds its slot
/// taken by another starts a fresh bucket (a collision can only let a
/// little more through, never refuse a source that sent nothing).
pub struct SourceRate {
    rate: u64,
    slots: Box<[Mutex<Bucket>]>,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    key: Option<ClientKey>,
    /// Thousandths of a token.
    tokens: u64,
    /// When `tokens` was last brought up to date ([`now_ms`]).
    at: u64,
}

impl fmt::Debug for SourceRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceRate")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl SourceRate {
    pub fn new(rate: u32) -> SourceRate {
        SourceRate {
            rate: u64::from(rate),
            slots: (0..RATE_SLOTS)
                .map(|_| Mutex::new(Bucket::default()))
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Whether one more from `ip` is within the rate now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, now_ms())
    }

    /// [`allow`](Self::allow) at `now` (milliseconds).
    pub fn allow_at(&self, ip: IpAddr, now: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        let key = ClientKey::of(ip);
        let index = (self.hasher.hash_one(key) as usize) % self.slots.len();
        let Some(slot) = self.slots.get(index) else {
            return true;
        };
        let mut b = slot.lock().unwrap_or_else(|p| p.into_inner());
        let full = self.rate.saturating_mul(1000);
        if b.key != Some(key) {
            *b = Bucket {
                key: Some(key),
                tokens: full,
                at: now,
            };
        }
        let elapsed = now.saturating_sub(b.at);
        b.tokens = b
            .tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(full);
        b.at = now;
        if b.tokens < 1000 {
            return false;
        }
        b.tokens -= 1000;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_hit_is_logged_then_one_line_per_interval_with_the_count() {
        let l = LimitLog::new("test", "test limit reached");
        assert_eq!(l.hit_at(5), Some(1), "the first hit is reported");
        for t in 6..1_000 {
            assert_eq!(l.hit_at(t), None, "quiet within the interval");
        }
        assert_eq!(l.hit_at(5 + LOG_INTERVAL_MS - 1), None);
        // 994 + 1 hits since the first line, and this one.
        assert_eq!(l.hit_at(5 + LOG_INTERVAL_MS), Some(996));
        assert_eq!(l.hit_at(6 + LOG_INTERVAL_MS), None);
        assert_eq!(
            l.hit_at(100 * LOG_INTERVAL_MS),
            Some(2),
            "after a long quiet time, the one suppressed and this one"
        );
        assert_eq!(l.total(), 999);
    }

    #[test]
    fn hits_from_many_threads_make_one_line_and_are_all_counted() {
        let l = Arc::new(LimitLog::new("test", "test"));
        let lines = Arc::new(AtomicU64::new(0));
        let reported = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (l, lines, reported) = (l.clone(), lines.clone(), reported.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        if let Some(n) = l.hit_at(42) {
                            lines.fetch_add(1, Ordering::Relaxed);
                            reported.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(lines.load(Ordering::Relaxed), 1);
        assert_eq!(l.total(), 4000);
        // The rest are reported with the next line.
        let next = l.hit_at(42 + LOG_INTERVAL_MS).unwrap();
        assert_eq!(reported.load(Ordering::Relaxed) + next, 4001);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        assert_eq!(ClientKey::of(a).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of(v4));
        assert_eq!(ClientKey::of(v4).to_string(), "192.0.2.7");
    }

    #[test]
    fn a_client_holds_at_most_max_slots_and_gets_them_back_on_drop() {
        let t = PerClient::new(2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let a = t.try_acquire(one).expect("first");
        let b = t.try_acquire(one).expect("second");
        assert!(t.try_acquire(one).is_none(), "third refused");
        assert!(t.try_acquire(two).is_some(), "another client is not");
        assert_eq!(t.held_by(one), 2);
        drop(a);
        let c = t.try_acquire(one).expect("a slot given back");
        drop((b, c));
        assert_eq!(t.held_by(one), 0);
        assert_eq!(t.clients(), 0, "no entry left behind");
    }

    #[test]
    fn no_cap_counts_nothing() {
        let t = PerClient::new(0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let slots: Vec<_> = (0..100).map(|_| t.try_acquire(ip).unwrap()).collect();
        assert_eq!(t.clients(), 0);
        drop(slots);
    }

    #[test]
    fn a_source_gets_a_burst_of_rate_then_rate_per_second() {
        let r = SourceRate::new(10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let allowed = (0..1000).filter(|_| r.allow_at(ip, 1_000)).count();
        assert_eq!(allowed, 10, "a burst of one second's worth");
        assert!(r.allow_at(other, 1_000), "other sources are not limited");
        assert!(!r.allow_at(ip, 1_050), "a twentieth of a token");
        assert!(r.allow_at(ip, 1_100), "a tenth of a second: one token");
        let later = (0..1000).filter(|_| r.allow_at(ip, 60_000)).count();
        assert_eq!(later, 10, "refilled no higher than the burst");
        let unlimited = SourceRate::new(0);
        assert!((0..10_000).all(|_| unlimited.allow_at(ip, 1)));
    }
}
