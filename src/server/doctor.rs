//! The monitor's view of the server it runs in (`[monitor]` in `serve`):
//! the zones' peer histories, where the server listens, what it serves,
//! read through the registry as the control handler reads them.

use crate::monitor::doctor::PrimarySide;
use crate::peers::report::HealKind;
use crate::peers::{cut, PeerEvent, PeerReport, PeerWhat};
use crate::replication::heal::HealPlan;
use crate::replication::registry::Registry;
use crate::zone::ZoneVersion;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

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

    fn heals(&self) -> bool {
        true
    }

    fn heal_notify(
        &self,
        zone: &str,
        to: SocketAddr,
        tries: u32,
        spacing: Duration,
    ) -> Result<(), String> {
        let zones = self.zones.load();
        let managed = zones
            .find(zone)
            .ok_or_else(|| format!("zone {zone} is not served here"))?;
        managed
            .core()
            .heal_notify(to, tries, spacing)
            .map_err(|e| e.to_string())
    }

    fn heal_stop(&self, zone: &str, to: SocketAddr) {
        if let Some(managed) = self.zones.load().find(zone) {
            managed.core().heal_stop(to);
        }
    }

    fn heal_plan(&self, zone: &str, to: SocketAddr) -> Option<HealPlan> {
        self.zones.load().find(zone)?.core().heal_plan(to)
    }

    fn record_heal(&self, zone: &str, to: SocketAddr, action: HealKind, result: &str) {
        let zones = self.zones.load();
        let Some(managed) = zones.find(zone) else {
            return;
        };
        let core = managed.core();
        let what = PeerWhat::Heal {
            action: action.action(),
            result: cut(result),
        };
        let at = core.clock().now();
        core.peers.record(to.ip(), PeerEvent { at, what });
    }
}
