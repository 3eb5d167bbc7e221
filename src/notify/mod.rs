//! NOTIFY out (RFC 1996): after a zone changes, tell its secondaries, so
//! they refresh at once instead of at the next SOA REFRESH.
//!
//! Each zone with targets has one task. A change only wakes it; the task
//! waits `delay` so that a burst of changes makes one round of NOTIFYs
//! (for the serial current by then), and sends to every target at once.
//! Each NOTIFY is retried with doubling timeouts until the target answers
//! or the retries run out; either outcome is logged (RFC 1996 §3.6).

use crate::name;
use crate::wire::{flag, opcode, MessageWriter, Owner, Section, CLASS_IN};
use crate::zone::{rtype, Zone};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            delay: Duration::from_millis(100),
            retries: 5,
            timeout: Duration::from_secs(1),
        }
    }
}

/// The handle of a zone's NOTIFY task: [`changed`](Self::changed) after
/// every change that is published.
#[derive(Debug, Clone)]
pub struct Notifier {
    wake: mpsc::Sender<()>,
}

impl Notifier {
    /// Starts the task for `zone` (needs a tokio runtime).
    pub fn spawn(zone: Arc<Zone>, targets: Vec<SocketAddr>, settings: NotifySettings) -> Notifier {
        // One pending wake-up is enough: changes while it waits are batched.
        let (wake, rx) = mpsc::channel(1);
        tokio::spawn(run(zone, targets, settings, rx));
        Notifier { wake }
    }

    /// The zone changed: notify its targets soon.
    pub fn changed(&self) {
        let _ = self.wake.try_send(());
    }
}

async fn run(
    zone: Arc<Zone>,
    targets: Vec<SocketAddr>,
    settings: NotifySettings,
    mut wake: mpsc::Receiver<()>,
) {
    while wake.recv().await.is_some() {
        tokio::time::sleep(settings.delay).await;
        while wake.try_recv().is_ok() {}
        let Some(version) = zone.snapshot() else {
            continue;
        };
        let soa = version
            .soa()
            .and_then(|s| Some((s.ttl(), s.rdatas().next()?.to_vec())));
        let serial = version.serial();
        let zone_name = name::display(zone.origin());
        let sends = targets.iter().map(|&target| {
            let message = notify_message(next_id(), zone.origin(), soa.as_ref());
            let zone_name = zone_name.clone();
            let settings = settings.clone();
            async move {
                match send_notify(target, &message, &settings).await {
                    Ok((tries, rcode)) => tracing::info!(zone = %zone_name, serial, %target, tries, rcode, "NOTIFY acknowledged"),
                    Err(e) => tracing::warn!(zone = %zone_name, serial, %target, error = %e, "NOTIFY gave up"),
                }
            }
        });
        futures_join_all(sends).await;
    }
}

/// Runs the futures concurrently and waits for all (no extra dependency
/// for what a JoinSet does with spawned tasks).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    while set.join_next().await.is_some() {}
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

/// Sends until a matching answer comes: returns the tries it took and the
/// answer's RCODE.
async fn send_notify(
    target: SocketAddr,
    message: &[u8],
    settings: &NotifySettings,
) -> std::io::Result<(u32, u16)> {
    let local: SocketAddr = match target.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    let id = message.get(0..2).map_or([0, 0], |b| [b[0], b[1]]);
    let mut timeout = settings.timeout;
    let mut buf = vec![0u8; 4096];
    for attempt in 1..=settings.retries + 1 {
        socket.send(message).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break, // timed out: send again
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                Ok(Err(e)) => return Err(e),
                Ok(Ok(n)) => {
                    let Some(reply) = buf.get(..n) else { continue };
                    // An answer to this NOTIFY: same id, QR set, opcode NOTIFY.
                    if n >= 12
                        && reply[0..2] == id
                        && reply[2] & 0x80 != 0
                        && (reply[2] >> 3) & 0x0f == opcode::NOTIFY
                    {
                        return Ok((attempt, (reply[3] & 0x0f) as u16));
                    }
                }
            }
        }
        timeout = timeout.saturating_mul(2);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer after {} tries", settings.retries + 1),
    ))
}
