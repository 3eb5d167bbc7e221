//! NOTIFY out (RFC 1996): after a zone changes, tell its secondaries, so
//! they refresh at once instead of at the next SOA REFRESH.
//!
//! A zone with targets has a [`Notifier`]; each new version it publishes
//! plans the zone's NotifyOut event `delay` later (a burst of changes
//! makes one round, for the serial current by then). A round
//! ([`Notifier::round`]) is a small state machine: one message (and id)
//! per target, sent from one socket per address family, retried with
//! doubling timeouts (`replication::timing::notify_try_timeout`) until the
//! target answers or the tries run out; either outcome is logged
//! (RFC 1996 §3.6). A newer change planned meanwhile ends the round (its
//! tries count as sent, neither acknowledged nor failed) and starts a new
//! one for the newer serial, as BIND and Knot do.
//!
//! Targets are the configured ones, each optionally with a TSIG key (the
//! NOTIFY is signed and the answer must verify), plus, with `notify_ns`,
//! the addresses of the zone's NS records (RFC 1996 §3.5): those whose
//! names are inside the zone, from their A/AAAA records, on port 53,
//! except the SOA MNAME (the primary itself, as BIND does) and our own
//! listen addresses. NS names outside the zone are skipped: an
//! authoritative server has no resolver to find their addresses, so such
//! secondaries belong in `notify`.

mod round;

use crate::name;
use crate::tsig::TsigKey;
use crate::wire::{flag, opcode, MessageWriter, Owner, Section, CLASS_IN};
use crate::zone::{rtype, ZoneVersion};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How NOTIFYs are sent.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Wait after a change before notifying, to batch bursts.
    pub delay: Duration,
    /// Sends per target beyond the first.
    pub retries: u32,
    /// Time to wait for the first answer; doubled after each try.
    pub timeout: Duration,
    /// Also notify the zone's NS (see the module documentation).
    pub notify_ns: bool,
    /// Our listen addresses: never notified.
    pub own: Vec<SocketAddr>,
}

/// Where to send a NOTIFY, and the key to sign it with.
#[derive(Clone)]
pub struct NotifyTarget {
    pub addr: SocketAddr,
    pub key: Option<TsigKey>,
}

impl std::fmt::Debug for NotifyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyTarget")
            .field("addr", &self.addr)
            .field("key", &self.key.as_ref().map(|k| &k.name))
            .finish()
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            delay: Duration::from_millis(100),
            retries: 5,
            timeout: Duration::from_secs(1),
            notify_ns: false,
            own: Vec::new(),
        }
    }
}

/// NOTIFYs of one zone since the start, for metrics. A round cut short by
/// a newer change counts its tries as sent but neither acknowledged nor
/// failed: the newer round answers for that change.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    failed: AtomicU64,
}

impl NotifyCounters {
    /// Datagrams sent: every try, so retries show as sent > acknowledged.
    pub fn sent(&self) -> u64 {
        self.sent.load(Relaxed)
    }
    /// Targets that answered.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Relaxed)
    }
    /// Targets given up on (retries spent, or an answer that failed TSIG).
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }
}

/// A zone's NOTIFY targets and settings, and what its rounds counted.
#[derive(Debug)]
pub struct Notifier {
    targets: Vec<NotifyTarget>,
    settings: NotifySettings,
    counters: Arc<NotifyCounters>,
}

impl Notifier {
    pub fn new(targets: Vec<NotifyTarget>, settings: NotifySettings) -> Notifier {
        Notifier {
            targets,
            settings,
            counters: Arc::default(),
        }
    }

    /// The configured targets (not those `notify_ns` adds).
    pub fn targets(&self) -> &[NotifyTarget] {
        &self.targets
    }

    /// What this zone's NOTIFY rounds have sent and heard back.
    pub fn counters(&self) -> &Arc<NotifyCounters> {
        &self.counters
    }

    /// How long after a change its round starts.
    pub fn delay(&self) -> Duration {
        self.settings.delay
    }
}

/// RFC 1996 §3.7: opcode NOTIFY, AA, the zone's SOA as the question and
/// the current SOA in the answer section (a hint for the secondary).
pub fn notify_message(id: u16, origin: &[u8], soa: Option<&(u32, Vec<u8>)>) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut w = MessageWriter::new(&mut buf, 1024);
    w.header(id, ((opcode::NOTIFY as u16) << 11) | flag::AA);
    let mut question = origin.to_vec();
    question.extend_from_slice(&rtype::SOA.to_be_bytes());
    question.extend_from_slice(&CLASS_IN.to_be_bytes());
    let _ = w.question(&question);
    if let Some((ttl, rdata)) = soa {
        w.start_section(Section::Answer);
        let _ = w.rrset(
            Owner::Pointer(w.qname_offset()),
            rtype::SOA,
            *ttl,
            std::iter::once(&rdata[..]),
        );
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

/// The addresses of the zone's NS (port 53) that the zone itself holds
/// (glue or in-zone A/AAAA), without the SOA MNAME's.
fn ns_addresses(version: &ZoneVersion) -> Vec<SocketAddr> {
    let mname = version
        .soa()
        .and_then(|s| s.rdatas().next())
        .and_then(|r| Some(r.get(..name::wire_len(r)?)?.to_ascii_lowercase()));
    let mut out = Vec::new();
    let Some(ns) = version.apex().rrset(rtype::NS) else {
        return out;
    };
    for target in ns.rdatas() {
        let target = target.to_ascii_lowercase();
        if mname.as_deref() == Some(&target[..]) || !name::is_subdomain(&target, version.origin()) {
            continue;
        }
        let Some(node) = name::key_of(&target).and_then(|k| version.get(&k).cloned()) else {
            continue;
        };
        for set in node.rrsets() {
            for rdata in set.rdatas() {
                let ip: Option<IpAddr> = match (set.rtype(), rdata.len()) {
                    (rtype::A, 4) => <[u8; 4]>::try_from(rdata).ok().map(IpAddr::from),
                    (rtype::AAAA, 16) => <[u8; 16]>::try_from(rdata).ok().map(IpAddr::from),
                    _ => None,
                };
                out.extend(ip.map(|ip| SocketAddr::new(ip, 53)));
            }
        }
    }
    out
}
