//! The monitor's JSON contract: what the core fills and the HTTP server
//! (`monitor::http`) sends, and what the dashboard reads.
//!
//! Times are Unix milliseconds (`*_ms`), so the page can compute relative
//! times against its own clock without parsing dates. Optional fields are
//! always present in the JSON (as `null`), so a reader can tell "not
//! known" from a field it does not know about; a missing optional field
//! still reads as `None` (serde's default for `Option`), so older
//! snapshots stay readable.

use crate::peers::PeerReport;
use crate::serial::Serial;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything the dashboard shows at once (`GET /status`, and each
/// `status` event of `GET /api/stream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// zonesync's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// When this view was made.
    pub generated_ms: u64,
    pub zones: Vec<ZoneView>,
}

/// One monitored zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneView {
    /// Absolute, with the final dot: `"example.com."`.
    pub zone: String,
    /// `"ok"`, `"out-of-sync"`, `"degraded"` or `"unknown"`.
    pub state: String,
    /// The serial every server should serve (the highest seen, RFC 1982).
    pub reference_serial: Option<Serial>,
    pub last_check_ms: Option<u64>,
    pub servers: Vec<ServerView>,
    /// The latest serial change and how far it has propagated.
    pub last_change: Option<ChangeView>,
    /// Human-readable findings of the last check.
    pub problems: Vec<String>,
}

/// One address of one nameserver of a zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// `ns` and `addr` together: `"ns1.example.com.@127.0.0.1:53"`; the key
    /// of the other views (`ChangeView::caught_up`, `HistoryPoint::server`).
    pub server: String,
    pub ns: String,
    pub addr: String,
    pub serial: Option<Serial>,
    /// Reference serial minus this serial (RFC 1982): > 0 behind, < 0 ahead.
    pub lag: Option<i64>,
    /// `"ok"`, `"behind"`, `"ahead"`, `"lame"`, `"unreachable"`,
    /// `"expiring"` or `"unknown"`.
    pub status: String,
    pub rtt_ms: Option<f64>,
    /// Since when it has served an older serial than the reference.
    pub behind_since_ms: Option<u64>,
    /// How long this server took to serve the last change.
    pub catch_up_ms: Option<u64>,
    /// Seconds of SOA EXPIRE left (EDNS EXPIRE, RFC 7314), when it says.
    pub expire_left: Option<u32>,
    pub detail: Option<String>,
    /// Its apex ZONEMD (RFC 8976) as served, "SERIAL SCHEME HASH DIGEST"
    /// per record; `None` when it has none (or did not say).
    #[serde(default)]
    pub zonemd: Option<String>,
    /// Why it is behind, lame or different (the replication doctor),
    /// once that held `heal_after`.
    #[serde(default)]
    pub diagnosis: Option<DiagnosisView>,
}

/// A row's diagnosis (`peers::diagnose`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosisView {
    /// "transfer-refused", "not-notified"…
    pub code: String,
    /// What happened and what to check.
    pub message: String,
    /// When this code was first given for the row's current condition.
    pub since_ms: u64,
}

/// One serial change and its propagation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeView {
    pub serial: Serial,
    /// When the change began: published by us, or first seen on any server.
    pub started_ms: u64,
    /// `"published"` or `"first-seen"`.
    pub origin: String,
    /// Server (`ServerView::server`) → when it first served `serial`.
    pub caught_up: BTreeMap<String, u64>,
    /// When the last server caught up.
    pub complete_ms: Option<u64>,
}

/// Serials each server served over time (`GET /api/history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryView {
    pub zone: String,
    pub since_ms: u64,
    pub points: Vec<HistoryPoint>,
}

/// One observation of one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub server: String,
    pub time_ms: u64,
    /// `None` when the server gave no serial (unreachable, lame).
    pub serial: Option<Serial>,
    pub status: String,
}

/// Something that happened to a zone (`GET /api/events`): a mismatch began
/// or ended, a server went lame, unreachable or near expiry, recovered…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub zone: String,
    pub time_ms: u64,
    pub kind: String,
    pub server: Option<String>,
    pub detail: String,
}

/// Why `/api/peers` has no report when the monitor has nowhere to read
/// one from.
pub const NO_PEER_HISTORY: &str =
    "no peer history: the monitor runs outside the primary and the zone has no primary_control";

/// What `GET /api/peers?zone=NAME` answers ([`MonitorView::peers`]).
#[derive(Debug, Clone, PartialEq)]
pub enum PeersAnswer {
    /// 200: the primary's peer report of the zone.
    Report(Box<PeerReport>),
    /// 404: not a zone the monitor watches.
    UnknownZone,
    /// 404: no peer history to read, and why ([`NO_PEER_HISTORY`], or
    /// the server the monitor runs in does not serve the zone).
    NoHistory(String),
    /// 502: the zone's `primary_control` did not give it, and why.
    ControlFailed(String),
}

/// What the HTTP server asks the monitor (implemented by the core).
///
/// The calls may block (a lock, a read from the store): the HTTP server
/// makes them on tokio's blocking threads.
pub trait MonitorView: Send + Sync + 'static {
    fn status(&self) -> StatusView;
    /// `None`: unknown zone.
    fn history(&self, zone: &str, since_ms: u64) -> Option<HistoryView>;
    /// Newest first, at most `limit`; every zone's when `zone` is `None`.
    fn events(&self, zone: Option<&str>, limit: usize) -> Vec<EventView>;
    /// Newest first, at most `limit`; `None`: unknown zone.
    fn changes(&self, zone: &str, limit: usize) -> Option<Vec<ChangeView>>;
    /// Prometheus text exposition, ready to send.
    fn metrics(&self) -> String;
    /// The zone's peer history as its primary keeps it, with the
    /// addresses of the zone's rows looked up too. A view that has no
    /// primary to ask has none.
    fn peers(&self, _zone: &str) -> PeersAnswer {
        PeersAnswer::NoHistory(NO_PEER_HISTORY.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_are_null_and_round_trip() {
        let server = ServerView {
            server: "ns1.example.com.@127.0.0.1:53".into(),
            ns: "ns1.example.com.".into(),
            addr: "127.0.0.1:53".into(),
            serial: None,
            lag: None,
            status: "unreachable".into(),
            rtt_ms: None,
            behind_since_ms: None,
            catch_up_ms: None,
            expire_left: None,
            zonemd: None,
            diagnosis: None,
            detail: Some("timed out".into()),
        };
        let json = serde_json::to_value(&server).unwrap();
        assert!(json["serial"].is_null());
        assert!(json.get("expire_left").is_some());
        let back: ServerView = serde_json::from_value(json).unwrap();
        assert_eq!(back, server);

        // A reader of an older snapshot without the optional fields.
        let sparse: ServerView = serde_json::from_str(
            r#"{"server":"a@127.0.0.1:53","ns":"a.","addr":"127.0.0.1:53","status":"ok"}"#,
        )
        .unwrap();
        assert_eq!(sparse.serial, None);
        assert_eq!(sparse.detail, None);
    }
}
