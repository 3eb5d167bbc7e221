//! What the monitor reads of the primary's side for the replication
//! doctor (docs/design/replication-doctor.md §3): the zone's peer history
//! (`PeerReport`: what the primary sent each secondary and what each
//! asked), the primary's own addresses, the version it serves.
//!
//! Two sources: the server the monitor runs in (`server::doctor::
//! ServerSide`, which `serve` hands to `Monitor::set_primary`), or a
//! zone's `primary_control` ([`ControlSide`]: the primary's control
//! interface, `GET /peers` over HTTP), which a standalone monitor needs
//! and which wins inside `serve` too (it names the zone's primary).

use crate::control::{Client, ClientError, PEERS_WITH_MAX};
use crate::peers::report::HealKind;
use crate::peers::PeerReport;
use crate::replication::heal::HealPlan;
use crate::zone::ZoneVersion;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The primary's side, as the monitor reads it.
///
/// The monitor calls these on a blocking thread (never on the async
/// runtime): the server's side answers from memory at once, taking a
/// zone's history lock for one copy and never waiting on the network,
/// but a [`ControlSide`] waits for an HTTP exchange.
pub trait PrimarySide: Send + Sync + 'static {
    /// The zone's peer report, with `extra` (the monitor's rows'
    /// addresses) looked up whether or not the history holds them; `None`
    /// when the primary does not serve the zone (or did not answer).
    fn peers(&self, zone: &str, extra: &[IpAddr]) -> Option<PeerReport>;
    /// The primary's own DNS addresses (`server.listen`): rows there are
    /// ours, never diagnosed.
    fn own_addresses(&self) -> Vec<SocketAddr>;
    /// The version the primary serves, to compare a peer's content with.
    fn served(&self, zone: &str) -> Option<Arc<ZoneVersion>>;

    /// Whether this side can heal (send NOTIFY for its zones): only the
    /// server the monitor runs in.
    fn heals(&self) -> bool {
        false
    }

    /// Plans heal NOTIFYs to `to` for `zone` (`ZoneCore::heal_notify`).
    fn heal_notify(
        &self,
        zone: &str,
        _to: SocketAddr,
        _tries: u32,
        _spacing: Duration,
    ) -> Result<(), String> {
        Err(format!(
            "zone {zone}: only a monitor inside the primary (`[monitor]` in serve) sends NOTIFY to heal"
        ))
    }

    /// Ends the plan for `to` (it caught up, or a newer change).
    fn heal_stop(&self, _zone: &str, _to: SocketAddr) {}

    /// The primary's heal plan for `to`, as it stands.
    fn heal_plan(&self, _zone: &str, _to: SocketAddr) -> Option<HealPlan> {
        None
    }

    /// Notes in the zone's peer history what the doctor did to `to`
    /// through its control, and the answer.
    fn record_heal(&self, _zone: &str, _to: SocketAddr, _action: HealKind, _result: &str) {}
}

/// How long a standalone monitor waits for a primary's control to answer
/// `GET /peers` (the dashboard's own exchange timeout is 30 s).
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// A primary reached through its control interface (`[[monitor.zone]]
/// primary_control`): a standalone monitor's view of the peer history.
/// Each call is one blocking HTTP exchange, bounded by
/// [`CONTROL_TIMEOUT`].
pub struct ControlSide {
    client: Client,
}

impl ControlSide {
    /// `key`: the control's `control_key`, when it wants one.
    pub fn new(control: SocketAddr, key: Option<crate::tsig::TsigKey>) -> ControlSide {
        let client = Client::new(control).with_timeout(CONTROL_TIMEOUT);
        ControlSide {
            client: match key {
                Some(key) => client.with_key(key),
                None => client,
            },
        }
    }

    /// The control's address.
    pub fn addr(&self) -> SocketAddr {
        self.client.addr()
    }

    /// `GET /peers?zone=ZONE&with=…`, the error kept (the API shows it).
    /// The control takes at most [`PEERS_WITH_MAX`] addresses: beyond
    /// those, the rest are not asked about.
    pub fn report(&self, zone: &str, extra: &[IpAddr]) -> Result<PeerReport, ClientError> {
        let with = extra.get(..PEERS_WITH_MAX).unwrap_or(extra);
        self.client.peers(zone, with)
    }
}

impl PrimarySide for ControlSide {
    fn peers(&self, zone: &str, extra: &[IpAddr]) -> Option<PeerReport> {
        self.report(zone, extra)
            .map_err(
                |e| tracing::warn!(zone, control = %self.addr(), "monitor: no peer history: {e}"),
            )
            .ok()
    }

    /// Not known: the control interface does not say where the server
    /// listens (a row at the zone's `primary` is the primary's anyway).
    fn own_addresses(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    /// Not reachable over the control interface.
    fn served(&self, _zone: &str) -> Option<Arc<ZoneVersion>> {
        None
    }
}

/// The addresses of a zone's rows ("ADDR:PORT" of each `ServerView`), for
/// the peer report's `extra`: each IP once (IPv4-mapped folded), in
/// order; an address that does not read is skipped.
pub fn row_ips<'a>(addrs: impl IntoIterator<Item = &'a str>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = addrs
        .into_iter()
        .filter_map(|a| a.parse::<SocketAddr>().ok())
        .map(|a| crate::peers::fold(a.ip()))
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ips_are_folded_once_each_and_odd_addresses_skipped() {
        let ips = row_ips([
            "127.0.0.2:53",
            "[::1]:5300",
            "127.0.0.2:5301",
            "[::ffff:127.0.0.3]:53",
            "not an address",
        ]);
        let want: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3", "::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(ips, want);
        assert!(row_ips([]).is_empty());
    }

    /// A control that does not answer: the error says where, and the
    /// trait's answer is "none" (logged), never a panic or a wait beyond
    /// the timeout.
    #[test]
    fn a_control_nobody_listens_on_gives_no_report() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let side = ControlSide::new(addr, None);
        let err = side.report("example.com", &[]).unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert_eq!(side.peers("example.com", &[]), None);
        assert!(side.own_addresses().is_empty());
        assert!(side.served("example.com").is_none());
    }
}
