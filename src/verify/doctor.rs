//! `verify --primary-control`: the replication doctor's word on the rows
//! that are behind, lame or different (docs/design/replication-doctor.md
//! §5). The primary's peer history is read over its control interface
//! (`GET /peers`), and [`crate::peers::diagnose`] — the rules the monitor
//! uses — is run once per row with `heal_after = 0`: a person running
//! verify by hand takes one look.
//!
//! The verifier otherwise only talks DNS; this is its one look inside a
//! server, and only when asked for.

use super::verdict::{Row, RowStatus, Severity, Verdict, ZoneReport};
use super::{fqdn, Source};
use crate::clock::UnixMs;
use crate::control::{Client, ClientError, PeerReport, PEERS_WITH_MAX};
use crate::peers::diagnose::{self, Case, Diagnosis};
use crate::peers::PeerView;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The verdict code of a peer history that could not be read.
pub const UNAVAILABLE: &str = "peer-history-unavailable";

/// Reads each zone's peer history from the primary's control (`client`)
/// and gives its behind, lame and different rows their diagnosis
/// ([`ZoneReport::diagnoses`]). Zones without such rows are not asked
/// about. A history that cannot be read is a `peer-history-unavailable`
/// verdict (WARNING) naming the control's address; once the control
/// cannot be reached at all, the zones after are not asked again (each
/// would wait for the same timeout).
pub fn diagnose_reports(reports: &mut [ZoneReport], client: &Client, now_ms: UnixMs) {
    let mut unreachable: Option<String> = None;
    for report in reports.iter_mut() {
        let rows = to_diagnose(report);
        if rows.is_empty() {
            continue;
        }
        if let Some(error) = &unreachable {
            unavailable(report, client.addr(), error);
            continue;
        }
        let ips = row_ips(rows.iter().map(|r| r.target.addr));
        match client.peers(&fqdn(&report.zone), &ips) {
            Ok(peers) => report.diagnoses = diagnoses(report, &peers, now_ms),
            Err(error) => {
                let text = error.to_string();
                if matches!(
                    error,
                    ClientError::Connect { .. } | ClientError::Timeout { .. }
                ) {
                    unreachable = Some(text.clone());
                }
                unavailable(report, client.addr(), &text);
            }
        }
    }
}

/// The rows the doctor has a word on: behind, lame or different, and not
/// the primary's own (`--primary`).
fn to_diagnose(report: &ZoneReport) -> Vec<&Row> {
    report
        .rows
        .iter()
        .filter(|r| status(r.status).is_some() && !r.target.sources.contains(&Source::Primary))
        .collect()
}

fn status(status: RowStatus) -> Option<diagnose::RowStatus> {
    match status {
        RowStatus::Behind => Some(diagnose::RowStatus::Behind),
        RowStatus::Lame => Some(diagnose::RowStatus::Lame),
        RowStatus::Different => Some(diagnose::RowStatus::Different),
        RowStatus::Ok | RowStatus::Ahead | RowStatus::Unreachable => None,
    }
}

/// Each IP once (IPv4-mapped folded), at most as many as the control
/// takes.
fn row_ips(addrs: impl Iterator<Item = SocketAddr>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = addrs.map(|a| crate::peers::fold(a.ip())).collect();
    ips.sort_unstable();
    ips.dedup();
    ips.truncate(PEERS_WITH_MAX);
    ips
}

/// The diagnosis of each row to diagnose, by its address, from the
/// primary's `peers` (a pure function: unit-tested without a network).
pub fn diagnoses(
    report: &ZoneReport,
    peers: &PeerReport,
    now_ms: UnixMs,
) -> BTreeMap<SocketAddr, Diagnosis> {
    let reference = report.reference.as_ref().map(|r| r.serial);
    let zone = fqdn(&report.zone);
    let zone = zone.trim_end_matches('.');
    // T: when the primary published the reference; without it (the
    // primary serves another serial) any evidence counts.
    let published = peers
        .published_ms
        .filter(|_| reference.is_some() && peers.serial == reference)
        .unwrap_or(0);
    let mut found = BTreeMap::new();
    for row in to_diagnose(report) {
        let Some(status) = status(row.status) else {
            continue;
        };
        let ip = row.target.addr.ip();
        let unknown = PeerView::unknown(crate::peers::fold(ip));
        let verdicts: Vec<String> = report
            .verdicts
            .iter()
            .filter(|v| v.servers.contains(&row.target.addr))
            .map(|v| v.message.clone())
            .collect();
        let case = Case {
            zone,
            address: row.target.addr,
            status,
            served: row.serial(),
            reference,
            since_ms: match status {
                diagnose::RowStatus::Lame => 0,
                _ => published,
            },
            now_ms,
            heal_after_ms: 0,
            peer: Some(peers.peer(ip).unwrap_or(&unknown)),
            notify_target: peers.is_notify_target(ip),
            notify_running: peers.notify_running,
            content_diff: None,
            verdicts: &verdicts,
            allow_transfer: &peers.allow_transfer,
            allow_transfer_at: peers.allow_transfer_at.as_deref(),
            refresh_s: None,
        };
        if let Some(diagnosis) = diagnose::diagnose(&case) {
            found.insert(row.target.addr, diagnosis);
        }
    }
    found
}

/// The zone's rows go undiagnosed: says why, as a WARNING.
fn unavailable(report: &mut ZoneReport, control: SocketAddr, error: &str) {
    report.verdicts.push(Verdict {
        code: UNAVAILABLE,
        severity: Severity::Warning,
        message: format!(
            "no peer history from the primary's control at {control}, rows not diagnosed: {error}"
        ),
        servers: Vec::new(),
    });
    report.status = report.status.max(Severity::Warning);
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
