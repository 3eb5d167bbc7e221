//! NOTIFY out (RFC 1996): after a zone changes, tell its secondaries, so
//! they refresh at once instead of at the next SOA REFRESH.
//!
//! Each zone with targets has one task. A change only wakes it; the task
//! waits `delay` so that a burst of changes makes one round of NOTIFYs
//! (for the serial current by then), and sends to every target at once.
//! Each NOTIFY is retried with doubling timeouts until the target answers
//! or the retries run out; either outcome is logged (RFC 1996 §3.6).
//!
//! Targets are the configured ones, each optionally with a TSIG key (the
//! NOTIFY is signed and the answer must verify), plus, with `notify_ns`,
//! the addresses of the zone's NS records (RFC 1996 §3.5): those whose
//! names are inside the zone, from their A/AAAA records, on port 53,
//! except the SOA MNAME (the primary itself, as BIND does) and our own
//! listen addresses. NS names outside the zone are skipped: an
//! authoritative server has no resolver to find their addresses, so such
//! secondaries belong in `notify`.

use crate::name;
use crate::tsig::{ClientSigner, TsigKey};
use crate::wire::{flag, opcode, MessageWriter, Owner, Section, CLASS_IN};
use crate::zone::{rtype, Zone, ZoneVersion};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

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

/// The handle of a zone's NOTIFY task: [`changed`](Self::changed) after
/// every change that is published.
#[derive(Debug, Clone)]
pub struct Notifier {
    wake: mpsc::Sender<()>,
    counters: Arc<NotifyCounters>,
}

impl Notifier {
    /// Starts the task for `zone` (needs a tokio runtime).
    pub fn spawn(
        zone: Arc<Zone>,
        targets: Vec<NotifyTarget>,
        settings: NotifySettings,
    ) -> Notifier {
        // One pending wake-up is enough: changes while it waits are batched.
        let (wake, rx) = mpsc::channel(1);
        let counters = Arc::new(NotifyCounters::default());
        tokio::spawn(run(zone, targets, settings, rx, counters.clone()));
        Notifier { wake, counters }
    }

    /// What this zone's NOTIFY task has sent and heard back.
    pub fn counters(&self) -> &Arc<NotifyCounters> {
        &self.counters
    }

    /// The zone changed: notify its targets soon.
    pub fn changed(&self) {
        let _ = self.wake.try_send(());
    }
}

async fn run(
    zone: Arc<Zone>,
    targets: Vec<NotifyTarget>,
    settings: NotifySettings,
    mut wake: mpsc::Receiver<()>,
    counters: Arc<NotifyCounters>,
) {
    while wake.recv().await.is_some() {
        // A change during a round (a target still being retried) cancels
        // what is left of it: the new round announces the newer serial at
        // once instead of after the old one's retries (as BIND and Knot).
        loop {
            tokio::time::sleep(settings.delay).await;
            while wake.try_recv().is_ok() {}
            let Some(mut round) = start_round(&zone, &targets, &settings, &counters) else {
                break;
            };
            let newer = tokio::select! {
                _ = async { while round.join_next().await.is_some() {} } => false,
                woke = wake.recv() => {
                    if woke.is_none() {
                        return;
                    }
                    true
                }
            };
            if !newer {
                break;
            }
            round.abort_all();
            tracing::debug!(zone = %name::display(zone.origin()), "zone changed again: NOTIFY round restarted");
        }
    }
}

/// Sends NOTIFY for the served version to every target, each in a task.
fn start_round(
    zone: &Arc<Zone>,
    targets: &[NotifyTarget],
    settings: &NotifySettings,
    counters: &Arc<NotifyCounters>,
) -> Option<tokio::task::JoinSet<()>> {
    let version = zone.snapshot()?;
    let soa = version
        .soa()
        .and_then(|s| Some((s.ttl(), s.rdatas().next()?.to_vec())));
    let serial = version.serial();
    let zone_name = name::display(zone.origin());
    let mut round = targets.to_vec();
    if settings.notify_ns {
        for addr in ns_addresses(&version) {
            if !settings.own.contains(&addr) && !round.iter().any(|t| t.addr == addr) {
                round.push(NotifyTarget { addr, key: None });
            }
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for target in round {
        let message = notify_message(next_id(), zone.origin(), soa.as_ref());
        let zone_name = zone_name.clone();
        let settings = settings.clone();
        let counters = counters.clone();
        set.spawn(async move {
            let addr = target.addr;
            let key = target.key.as_ref().map_or("none", |k| k.name.as_str()).to_owned();
            match send_notify(&target, message, &settings, &counters).await {
                Ok((tries, rcode)) => {
                    counters.acknowledged.fetch_add(1, Relaxed);
                    tracing::info!(zone = %zone_name, serial, target = %addr, key, tries, rcode, "NOTIFY acknowledged");
                }
                Err(e) => {
                    counters.failed.fetch_add(1, Relaxed);
                    tracing::warn!(zone = %zone_name, serial, target = %addr, key, error = %e, "NOTIFY gave up");
                }
            }
        });
    }
    Some(set)
}

/// A message id that a target cannot guess from the previous one.
fn next_id() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one(nanos) as u16
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

/// Sends until a matching answer comes (signed and verified when the
/// target has a key): returns the tries it took and the answer's RCODE.
async fn send_notify(
    target: &NotifyTarget,
    mut message: Vec<u8>,
    settings: &NotifySettings,
    counters: &NotifyCounters,
) -> std::io::Result<(u32, u16)> {
    let mut signer = match &target.key {
        Some(key) => Some(
            ClientSigner::sign_request(key, &mut message)
                .map_err(|e| std::io::Error::other(format!("TSIG signing failed: {e}")))?,
        ),
        None => None,
    };
    let target = target.addr;
    let local: SocketAddr = match target.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    let id = message.get(0..2).map_or([0, 0], |b| [b[0], b[1]]);
    let mut buf = vec![0u8; 4096];
    for attempt in 1..=settings.retries + 1 {
        socket.send(&message).await?;
        counters.sent.fetch_add(1, Relaxed);
        let timeout = crate::replication::timing::notify_try_timeout(settings.timeout, attempt);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break, // timed out: send again
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    // Nobody listens yet (a secondary starting): wait out
                    // the timeout as for a lost datagram, or every retry
                    // would be spent within a millisecond.
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(n)) => {
                    let Some(reply) = buf.get(..n) else { continue };
                    // An answer to this NOTIFY: same id, QR set, opcode NOTIFY.
                    if n >= 12
                        && reply[0..2] == id
                        && reply[2] & 0x80 != 0
                        && (reply[2] >> 3) & 0x0f == opcode::NOTIFY
                    {
                        if let Some(signer) = signer.as_mut() {
                            // A signed NOTIFY's answer must be signed too
                            // (RFC 8945 §5.3); an error (BADKEY…) will not
                            // go away by sending again.
                            signer.verify_response(reply).map_err(|e| {
                                std::io::Error::other(format!("TSIG of the answer: {e}"))
                            })?;
                        }
                        return Ok((attempt, (reply[3] & 0x0f) as u16));
                    }
                }
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer after {} tries", settings.retries + 1),
    ))
}
