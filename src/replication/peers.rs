//! A zone's peer report (`ctl peers`, and the doctor later): its history
//! of peers, their SOA sightings, and what the zone says of transfers and
//! NOTIFY, read together so that the reader needs nothing else.

use super::events::{Event, Lane};
use super::ZoneCore;
use crate::acl::TransferRule;
use crate::peers::{PeerReport, PeerView};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

impl ZoneCore {
    /// Every peer in the zone's history, then each of `extra` the history
    /// does not hold (an address someone wants to know about: its SOA
    /// sighting is looked up all the same). Takes the history's lock for
    /// one copy; never blocks on I/O.
    pub fn peer_report(&self, extra: &[IpAddr]) -> PeerReport {
        let mut peers: Vec<PeerView> = self
            .peers
            .snapshot()
            .iter()
            .map(|(ip, log)| PeerView::of(*ip, log))
            .collect();
        for ip in extra.iter().map(|ip| crate::peers::fold(*ip)) {
            if !peers.iter().any(|p| p.address == ip) {
                peers.push(PeerView::unknown(ip));
            }
        }
        let targets: Vec<IpAddr> = self.config.notify.iter().map(|t| t.addr().ip()).collect();
        for peer in &mut peers {
            peer.last_soa_query_ms = self.deps.sightings.last(self.zone.key(), peer.address);
            peer.notify_target |= targets
                .iter()
                .any(|t| crate::peers::fold(*t) == peer.address);
        }
        PeerReport {
            zone: self.name().to_owned(),
            serial: self.zone.snapshot().map(|v| v.serial()),
            published_ms: self.published_ms(),
            notify_running: self.events.deadline(Event::NotifyOut).is_some()
                || self.events.busy(Lane::Notify),
            notify_targets: self
                .config
                .notify
                .iter()
                .map(|t| t.addr().to_string())
                .collect(),
            allow_transfer: self.config.allow_transfer.iter().map(rule_text).collect(),
            allow_transfer_at: self.config.allow_transfer_at.clone(),
            peers,
        }
    }

    /// When the version served was published here; none before the first.
    pub fn published_ms(&self) -> Option<crate::clock::UnixMs> {
        Some(self.published_ms.load(Ordering::Relaxed)).filter(|&ms| ms != 0)
    }
}

/// One `allow_transfer` rule as an operator would say it: "from
/// 127.0.0.0/8 key xfr-key tls".
pub fn rule_text(rule: &TransferRule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(from) = &rule.from {
        parts.push(format!("from {from}"));
    }
    if let Some(key) = &rule.key {
        parts.push(format!("key {key}"));
    }
    if rule.tls && !rule.needs_client_cert() {
        parts.push("tls".into());
    }
    if rule.client_cert && rule.cert.is_none() {
        parts.push("client_cert".into());
    }
    if let Some(pin) = &rule.cert {
        parts.push(format!("cert {pin}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::config::ZoneConfig;
    use crate::peers::{NotifyOutcome, PeerEvent, PeerWhat};
    use crate::replication::{Publication, ZoneDeps};
    use crate::serial::Serial;
    use crate::zone::Zone;
    use std::sync::Arc;

    fn core(clock: &ManualClock) -> ZoneCore {
        let config: ZoneConfig = toml::from_str(
            "name = \"example.com\"\nrole = \"primary\"\n\
             notify = [\"192.0.2.1:5300\"]\n\
             allow_transfer = [{ from = \"192.0.2.0/24\" }, { key = \"xfr-key\" }]",
        )
        .unwrap();
        let zone = Arc::new(Zone::new(&crate::name::test_wire("example.com")).unwrap());
        ZoneCore::new(
            zone,
            config,
            None,
            None,
            ZoneDeps::with_clock(clock.shared()),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_report_holds_the_history_the_sightings_and_the_addresses_asked_about() {
        let clock = ManualClock::at(1_800_000_000_000);
        let core = core(&clock);
        let empty = core.peer_report(&[]);
        assert_eq!((empty.serial, empty.published_ms), (None, None));
        assert!(empty.peers.is_empty());

        core.publish(
            Arc::new(crate::zone::test_version(
                "example.com",
                "$ORIGIN example.com.\n@ 300 SOA ns host 7 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n",
            )),
            "t",
            Publication::Restored,
        );
        core.peers.record(
            ip("192.0.2.1"),
            PeerEvent {
                at: clock.now(),
                what: PeerWhat::Notify {
                    serial: Serial(7),
                    port: 5300,
                    key: None,
                    tries: 1,
                    outcome: NotifyOutcome::NoAnswer,
                    heal: false,
                },
            },
        );
        let key = core.zone.key().to_vec();
        core.deps
            .sightings
            .see(&key, ip("192.0.2.9"), 1_800_000_000_500);
        let report = core.peer_report(&[ip("::ffff:192.0.2.9"), ip("192.0.2.1")]);
        assert_eq!(report.zone, "example.com");
        assert_eq!(report.serial, Some(Serial(7)));
        assert_eq!(report.published_ms, Some(1_800_000_000_000));
        assert_eq!(report.notify_targets, ["192.0.2.1:5300"]);
        assert_eq!(report.allow_transfer, ["from 192.0.2.0/24", "key xfr-key"]);
        let addresses: Vec<IpAddr> = report.peers.iter().map(|p| p.address).collect();
        assert_eq!(
            addresses,
            [ip("192.0.2.1"), ip("192.0.2.9")],
            "the history, then an address asked about once (folded to IPv4)"
        );
        assert!(report.peers[0].notify_target && report.peers[0].last_notify.is_some());
        assert_eq!(report.peers[1].last_soa_query_ms, Some(1_800_000_000_500));
        assert!(!report.peers[1].notify_target && report.peers[1].events.is_empty());
    }

    fn rule(text: &str) -> TransferRule {
        toml::from_str::<toml::Value>(&format!("r = {{ {text} }}"))
            .unwrap()
            .get("r")
            .unwrap()
            .clone()
            .try_into()
            .unwrap()
    }

    #[test]
    fn rules_read_as_written() {
        assert_eq!(
            rule_text(&rule("from = \"127.0.0.0/8\", key = \"xfr-key\"")),
            "from 127.0.0.0/8 key xfr-key"
        );
        assert_eq!(rule_text(&rule("key = \"k\", tls = true")), "key k tls");
        assert_eq!(
            rule_text(&rule("from = \"::1\", client_cert = true")),
            "from ::1/128 client_cert"
        );
    }
}
