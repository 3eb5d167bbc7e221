//! The monitor's view of the server it runs in (`[monitor]` in `serve`):
//! the zones' peer histories, where the server listens, what it serves,
//! read through the registry as the control handler reads them.

use crate::monitor::doctor::PrimarySide;
use crate::peers::PeerReport;
use crate::replication::registry::Registry;
use crate::zone::ZoneVersion;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The server's side for the monitor; every call answers from memory.
pub(super) struct ServerSide {
    pub(super) zones: Arc<Registry>,
    /// `server.listen`.
    pub(super) listen: Vec<SocketAddr>,
}

impl PrimarySide for ServerSide {
    /// One copy of the zone's history under its lock (`peer_report`).
    fn peers(&self, zone: &str, extra: &[IpAddr]) -> Option<PeerReport> {
        Some(self.zones.load().find(zone)?.core().peer_report(extra))
    }

    fn own_addresses(&self) -> Vec<SocketAddr> {
        self.listen.clone()
    }

    fn served(&self, zone: &str) -> Option<Arc<ZoneVersion>> {
        self.zones.load().find(zone)?.zone().snapshot()
    }
}
