//! What a server saw of each peer of a zone: the NOTIFYs it sent them
//! and how they were answered, the transfers they asked for and how each
//! ended, the NOTIFYs they sent us. The replication doctor reads it to
//! say why a secondary is behind (docs/design/replication-doctor.md).
//!
//! One [`ZonePeers`] per zone (`ZoneCore::peers`, both roles: a secondary
//! is a primary for its own secondaries), filled by `notify::round` and
//! `xfr::outgoing` (and the server's NOTIFY and TSIG-failure routers). It
//! is bounded whatever the traffic, takes its lock for one push or one
//! copy, and does no I/O: it only remembers.
//!
//! SOA queries are too many, and on a path that may not lock, for the
//! history: one [`SoaSightings`] per server (`ZoneDeps::sightings`) keeps
//! when each (zone, address) last asked, in a fixed table of atomics.

pub mod diagnose;
mod history;
pub mod report;
mod sightings;

pub(crate) use history::fold;
pub use history::{
    cut, FullReason, HealAction, NotifyOutcome, PeerEvent, PeerLog, PeerWhat, Sent, XfrOutcome,
    XfrRequest, ZonePeers, EVENTS_PER_PEER, PEERS_PER_ZONE, TEXT_MAX,
};
pub use report::{EventView, PeerReport, PeerView};
pub use sightings::{SoaSightings, SLOTS as SIGHTING_SLOTS};

/// A transfer to a peer completed (`ZoneDeps::peer_news`): the monitor
/// inside `serve` checks that zone at once, so a secondary's catch-up is
/// measured right after it received the data rather than at the next
/// check. Sent once per transfer served, only while someone listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNews {
    /// The zone's apex, wire format (as `replication::Published`).
    pub origin: Vec<u8>,
    /// The peer, IPv4-mapped folded to IPv4 (as the history keys it).
    pub ip: std::net::IpAddr,
}
