//! The control interface: a small HTTP/1.1 server on a loopback address
//! (`server.control`) and its client, `zonesync ctl`. With
//! `server.control_key`, every request must be signed with that key
//! ([`auth`]; 401 otherwise), and the address may be any.
//!
//! The server knows nothing of the server's internals: the running server
//! implements [`ControlHandler`], and this module turns HTTP requests into
//! calls of it and its answers into JSON. The data types are shared by both
//! ends, so the client decodes exactly what the server encodes.
//!
//! Routes (answers `application/json` but for `/metrics`; errors are
//! `{"error": "..."}`):
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /status` | [`ServerStatus`] |
//! | `GET /metrics` | Prometheus text format 0.0.4 ([`ControlHandler::metrics`]) |
//! | `POST /reload[?zone=NAME][&force=1]` | `[`[`ZoneReload`]`]` |
//! | `POST /notify?zone=NAME` | [`NotifyQueued`] |
//! | `POST /refresh?zone=NAME[&retransfer=1]` | [`RefreshQueued`] |
//! | `POST /csync/scan[?zone=PARENT][&child=NAME][&dry_run=1]` | `[`[`ChildReport`]`]` |
//! | `GET /csync/pending` | `[`[`PendingReport`]`]` |
//! | `POST /csync/approve?child=NAME` | [`ChildReport`] |
//! | `POST /zone?zone=NAME&op=OP…` | [`TxnReport`] |
//! | `POST /zone-add?zone=NAME&template=T[&file=PATH]` | [`ZoneChange`] |
//! | `POST /zone-remove?zone=NAME` | [`ZoneChange`] |
//! | `GET /peers?zone=NAME[&with=IP,IP…]` | [`PeerReport`] |
//!
//! Unknown zone → 404, refused → 409, failed → 500, bad request → 400,
//! unknown path → 404, wrong method → 405, not signed with the control
//! key (when there is one) → 401.

pub mod auth;
pub mod client;
mod http;
pub mod report;
#[cfg(test)]
mod tests;

pub use client::{Client, ClientError};
pub use http::{
    parse_request, serve, ControlRequest, ControlServer, ControlSettings, RequestError,
    PEERS_WITH_MAX,
};

pub use crate::csync::agent::{ChildReport, PendingReport};
pub use crate::peers::PeerReport;
use crate::serial::Serial;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// A handler's answer that takes network time (CSYNC scans).
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, ControlError>> + Send + 'a>>;

/// What the running server offers the control interface.
pub trait ControlHandler: Send + Sync + 'static {
    /// A snapshot of the server and its zones. Called on the runtime: it
    /// must not block (no file or network I/O).
    fn status(&self) -> ServerStatus;
    /// The server's counters and gauges in the Prometheus text format
    /// (`text/plain; version=0.0.4`), for a scraper. Called on the
    /// runtime: it must not block (it reads counters and takes the
    /// journals' locks only briefly).
    fn metrics(&self) -> String;
    /// Reloads one zone (`Some`) or every zone (`None`) from its files;
    /// `force` reloads even when the files look unchanged. Blocking (loads
    /// zone files): called on a blocking thread.
    fn reload(&self, zone: Option<&str>, force: bool) -> Result<Vec<ZoneReload>, ControlError>;
    /// Queues NOTIFY of the zone's current serial to its targets. Called on
    /// the runtime: it must only queue, not send.
    fn notify(&self, zone: &str) -> Result<NotifyQueued, ControlError>;
    /// Queues a refresh of a secondary zone (SOA check, transfer if
    /// behind), or with `retransfer` an AXFR whatever the serials. Called
    /// on the runtime: it must only queue.
    fn refresh(&self, zone: &str, retransfer: bool) -> Result<RefreshQueued, ControlError>;
    /// Scans CSYNC children now: of `zone` (or of every parent zone with
    /// `[zone.csync]`), only `child` when given; `dry_run` changes
    /// nothing. Asks the children's servers: awaited on the runtime.
    fn csync_scan<'a>(
        &'a self,
        zone: Option<&'a str>,
        child: Option<&'a str>,
        dry_run: bool,
    ) -> Pending<'a, Vec<ChildReport>>;
    /// The CSYNC changes waiting for approval. Must not block.
    fn csync_pending(&self) -> Vec<PendingReport>;
    /// Approves the change waiting for `child` and applies it.
    fn csync_approve<'a>(&'a self, child: &'a str) -> Pending<'a, ChildReport>;
    /// A control transaction request for a primary zone (`ctl
    /// zone-begin` …). Blocking (a commit writes the journal): called on
    /// a blocking thread.
    fn txn(&self, zone: &str, call: &TxnCall) -> Result<TxnReport, ControlError>;
    /// Adds the zone `zone` made from the `[[template]]` named `template`
    /// (a primary's zone file: `file`, else the template's), serves it
    /// and keeps it across restarts (`ctl zone-add`). Awaited on the
    /// runtime.
    fn zone_add<'a>(
        &'a self,
        zone: &'a str,
        template: &'a str,
        file: Option<&'a str>,
    ) -> Pending<'a, ZoneChange>;
    /// Removes a zone added at run time, and what it kept under
    /// `data_dir` (`ctl zone-remove`). Awaited on the runtime.
    fn zone_remove<'a>(&'a self, zone: &'a str) -> Pending<'a, ZoneChange>;
    /// What the server saw of the zone's peers (`ctl peers`), and of each
    /// address in `with` even when the history holds nothing of it.
    /// Called on the runtime: it must not block (it copies the zone's
    /// history under its lock).
    fn peers(&self, zone: &str, with: &[std::net::IpAddr]) -> Result<PeerReport, ControlError>;
}

/// `POST /zone-add`, `POST /zone-remove`: the zone added or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneChange {
    pub zone: String,
    /// `added` or `removed`.
    pub action: String,
    /// `primary` or `secondary`.
    pub role: String,
    /// The serial served (a secondary added has none until its first
    /// transfer).
    pub serial: Option<Serial>,
}

/// A control transaction request (`ctl zone-begin`, `zone-set`, …), as
/// Knot's `knotc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnCall {
    Begin,
    Set {
        owner: String,
        ttl: Option<u32>,
        rtype: String,
        rdata: String,
    },
    Unset {
        owner: String,
        rtype: Option<String>,
        rdata: Option<String>,
    },
    Diff,
    Get {
        owner: Option<String>,
        rtype: Option<String>,
    },
    Commit,
    Abort,
}

impl TxnCall {
    /// The `op` parameter of `POST /zone`.
    pub fn op(&self) -> &'static str {
        match self {
            TxnCall::Begin => "begin",
            TxnCall::Set { .. } => "set",
            TxnCall::Unset { .. } => "unset",
            TxnCall::Diff => "diff",
            TxnCall::Get { .. } => "get",
            TxnCall::Commit => "commit",
            TxnCall::Abort => "abort",
        }
    }
}

/// `POST /zone`: what a transaction request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnReport {
    pub zone: String,
    pub op: String,
    /// `begin`: the serial served; `commit`: the new serial (none when
    /// the transaction changed nothing).
    pub serial: Option<Serial>,
    /// `commit`: the serial it replaced.
    pub from_serial: Option<Serial>,
    /// `diff`, `commit`: `-`/`+` record lines; `get`: record lines.
    pub lines: Vec<String>,
}

/// Why a control request could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such zone is configured (HTTP 404).
    #[error("unknown zone {0:?}")]
    UnknownZone(String),
    /// The request is not allowed now or for this zone, e.g. a reload of a
    /// secondary zone (HTTP 409).
    #[error("refused: {0}")]
    Refused(String),
    /// The request was allowed but could not be done (HTTP 500).
    #[error("failed: {0}")]
    Failed(String),
}

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// zonesync's version (`CARGO_PKG_VERSION`).
    pub version: String,
    pub uptime_secs: u64,
    pub zones: Vec<ZoneStatus>,
}

/// One zone in [`ServerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStatus {
    /// The zone's apex as configured, e.g. "example.com".
    pub name: String,
    /// "primary" or "secondary".
    pub role: String,
    /// Serial of the version being served; none before the first load.
    pub serial: Option<Serial>,
    /// Records in the version being served.
    pub records: Option<usize>,
    /// When the version being served was published (seconds since 1970).
    pub loaded_at_unix: Option<u64>,
    /// The last load or transfer error, when the last attempt failed.
    pub last_error: Option<String>,
    /// The zone's journal, once it has one.
    pub journal: Option<JournalStatus>,
    /// NOTIFY targets, as "address:port".
    pub notify_targets: Vec<String>,
    /// Zone transfers (AXFR/IXFR) served since start.
    pub transfers_out: u64,
    /// A secondary's primaries and timers.
    #[serde(default)]
    pub secondary: Option<SecondaryInfo>,
    /// A primary changed by UPDATE or a transaction: what its zone file
    /// holds, and an open transaction.
    #[serde(default)]
    pub dynamic: Option<DynamicInfo>,
    /// The catalog (RFC 9432) that lists the zone: the consumed catalog
    /// that provisioned it, or the catalog we produce that names it.
    #[serde(default)]
    pub catalog: Option<String>,
}

/// A primary's changes beyond its zone file (`GET /status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicInfo {
    /// The serial the zone file holds, when it is not the one served (the
    /// changes after it are in the journal until the flush).
    pub file_serial: Option<Serial>,
    /// The serial served when the open transaction began.
    pub transaction_since: Option<Serial>,
}

/// What a secondary zone knows of its primaries and timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondaryInfo {
    pub primaries: Vec<PrimaryInfo>,
    pub last_refresh_unix: Option<u64>,
    /// "up to date at serial 5", "IXFR 5 -> 6 from …", "failed: …".
    pub last_result: Option<String>,
    pub next_refresh_unix: Option<u64>,
    /// When the zone expires unless a refresh succeeds.
    pub expires_at_unix: Option<u64>,
    /// Past EXPIRE: answering SERVFAIL.
    pub expired: bool,
}

/// One primary of a secondary zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryInfo {
    pub address: String,
    /// SOA queries and transfers over TLS (XoT).
    #[serde(default)]
    pub tls: bool,
    /// The serial it answered last.
    pub serial: Option<Serial>,
    pub last_contact_unix: Option<u64>,
    pub last_error: Option<String>,
}

/// `POST /refresh`: a refresh (or retransfer) was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshQueued {
    pub zone: String,
    pub retransfer: bool,
}

/// A zone's journal in [`ZoneStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalStatus {
    /// The oldest serial an IXFR can start from; none when empty.
    pub first_serial: Option<Serial>,
    /// The serial the newest changeset leads to; none when empty.
    pub last_serial: Option<Serial>,
    pub changesets: usize,
    /// Size of the journal file.
    pub bytes: u64,
}

/// What a reload did to one zone (`POST /reload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReload {
    pub zone: String,
    pub outcome: ReloadOutcome,
    /// Serial served before the reload.
    pub old_serial: Option<Serial>,
    /// Serial served after the reload.
    pub serial: Option<Serial>,
    /// Why it was refused or failed; or a note (e.g. warnings).
    pub message: Option<String>,
}

/// The outcome of one zone's reload; JSON: "loaded", "unchanged",
/// "refused" or "failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadOutcome {
    /// A new version was published.
    Loaded,
    /// The files had not changed (and `force` was not given), or they
    /// loaded to the same serial and nothing was published.
    Unchanged,
    /// Not reloadable now, e.g. a secondary zone or a serial going back.
    Refused,
    /// The files did not load; the old version is still served.
    Failed,
}

impl ReloadOutcome {
    /// Whether `zonesync ctl reload` should exit non-zero.
    pub fn is_error(self) -> bool {
        matches!(self, ReloadOutcome::Refused | ReloadOutcome::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Loaded => "loaded",
            ReloadOutcome::Unchanged => "unchanged",
            ReloadOutcome::Refused => "refused",
            ReloadOutcome::Failed => "failed",
        }
    }
}

/// `POST /notify`: NOTIFY was queued for the zone's targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyQueued {
    pub zone: String,
    /// How many targets will be sent NOTIFY.
    pub targets: usize,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}
