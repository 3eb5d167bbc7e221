//! The child side's NOTIFY(CSYNC) (RFC 9859): when a zone we serve as
//! primary publishes a new CSYNC RRset, tell its parent's agent (the
//! DSYNC target, configured as `notify_csync`) so it scans now instead of
//! at its next interval. A hint only: the parent validates everything
//! itself, so the message is neither signed nor required to arrive.
//!
//! A zone whose new version changes its CSYNC plans its CsyncNotify event
//! (`replication::events`), which sends to every target, each tried three
//! times with a doubling timeout, and logs what came back.

use crate::name;
use crate::wire::{flag, opcode, MessageWriter};
use crate::zone::{rtype, ZoneVersion};
use std::net::SocketAddr;
use std::time::Duration;

/// How many times a target is tried, and the first wait.
const TRIES: u32 = 3;
const FIRST_TIMEOUT: Duration = Duration::from_millis(500);

/// The CSYNC RDATA at the apex of `v`, sorted.
fn csync_of(v: &ZoneVersion) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = v
        .apex()
        .rrset(rtype::CSYNC)
        .map(|s| s.rdatas().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether `new`, published after `old`, has a CSYNC RRset that is new
/// or changed: then the parent's agent is to be told.
pub fn csync_changed(old: Option<&ZoneVersion>, new: &ZoneVersion) -> bool {
    let now = csync_of(new);
    !now.is_empty() && old.is_none_or(|o| csync_of(o) != now)
}

/// The CsyncNotify event (blocking): NOTIFY(CSYNC) for `origin` to every
/// target, each tried up to three times, and what came back logged.
pub fn send_all(zone: &str, origin: &[u8], targets: &[SocketAddr]) {
    for &target in targets {
        match send(origin, target) {
            Ok(rcode) => tracing::info!(zone, %target, rcode, "NOTIFY(CSYNC) answered"),
            Err(e) => tracing::warn!(zone, %target, "NOTIFY(CSYNC) not answered: {e}"),
        }
    }
}

/// The message: opcode NOTIFY, the zone's name with type CSYNC as the
/// question (RFC 9859 §4).
pub fn message(id: u16, origin: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut w = MessageWriter::new(&mut buf, 512);
    w.header(id, (u16::from(opcode::NOTIFY) << 11) | flag::AA);
    let mut question = origin.to_vec();
    question.extend_from_slice(&rtype::CSYNC.to_be_bytes());
    question.extend_from_slice(&1u16.to_be_bytes());
    let _ = w.question(&question);
    let n = w.finish();
    buf.truncate(n);
    buf
}

/// Why a target did not answer a NOTIFY(CSYNC).
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Exchange(crate::exchange::ExchangeError),
    #[error("no answer from {target} for {zone} after {TRIES} tries")]
    NoAnswer { target: SocketAddr, zone: String },
}

/// Sends to one target until an answer with our id comes (up to
/// `TRIES` times, the wait doubling from `FIRST_TIMEOUT`); its RCODE.
fn send(origin: &[u8], target: SocketAddr) -> Result<u8, SendError> {
    let query = message(crate::wire::random_id(), origin);
    let mut timeout = FIRST_TIMEOUT;
    for _ in 0..TRIES {
        let deadline = std::time::Instant::now() + timeout;
        match crate::exchange::udp(target, &query, deadline) {
            Ok(answer) => return Ok(answer.get(3).map_or(0, |b| b & 0x0f)),
            Err(crate::exchange::ExchangeError::Timeout) => timeout *= 2,
            // Nobody listens yet (a parent starting): wait out the try as
            // for a lost datagram, as NOTIFY out does.
            Err(crate::exchange::ExchangeError::Io(e))
                if e.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()));
                timeout *= 2;
            }
            Err(e) => return Err(SendError::Exchange(e)),
        }
    }
    Err(SendError::NoAnswer {
        target,
        zone: name::display(origin),
    })
}
