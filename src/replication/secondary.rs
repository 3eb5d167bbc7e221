//! A secondary zone's events (RFC 1034 §4.3.5, RFC 1996, RFC 7314): the
//! refresh timer, RETRY with back-off, EXPIRE, NOTIFY in, and the
//! transfers they lead to.
//!
//! What it does over time is its [`events`](super::events): Refresh
//! (REFRESH, RETRY, NOTIFY in, `ctl refresh`), Transfer (`ctl
//! retransfer`), Expire and Snapshot, each handled in its own file and run
//! by the zone's dispatcher; the refresh itself (SOA queries, transfer,
//! apply, disk writes) runs on a blocking thread, one at a time.
//!
//! A refresh asks every primary for its SOA, in the configured order, and
//! transfers from the one with the highest serial (RFC 1982) ahead of ours:
//! IXFR first, AXFR on any failure (`xfr::incoming`); then, if that primary
//! fails, the next one with a serial ahead of ours. A primary behind us
//! never rolls the zone back. What is applied is checked first (an IXFR
//! must apply exactly, `ZoneVersion::apply`; an AXFR must build a valid
//! zone) and published atomically, so a failed or broken transfer changes
//! nothing served.
//!
//! # Durability
//!
//! After a full transfer the zone is written as a snapshot
//! (`journal::snapshot`), then its changeset against the previous version
//! is journaled; after an IXFR its changesets are journaled (and every
//! `SNAPSHOT_EVERY` changesets a new snapshot is written, so the journal
//! can be trimmed without losing the way back). The timers go to a small
//! state file. At start the snapshot plus the journal's changesets from
//! its serial give the last version applied; it is served at once unless
//! its EXPIRE deadline passed while we were stopped.

use super::events::{self, Event, EventZone, Events};
use super::timing::{self, SoaTimers, Timing};
use super::{Publication, SharedJournal, ZoneCore, ZoneDeps};
use crate::acl::Acl;
use crate::clock::UnixMs;
use crate::config::{ServerConfig, ZoneConfig};
use crate::durable::{self, FileError};
use crate::journal::{self, snapshot, Changeset, Record};
use crate::notify::Notifier;
use crate::serial::Serial;
use crate::xfr::incoming::{
    self, FetchError, Fetched, IxfrFailure, Limits, Payload, Primary, SoaAnswer,
};
use crate::zone::{Zone, ZoneVersion};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A new snapshot after this many changesets applied by IXFR.
pub(super) const SNAPSHOT_EVERY: usize = 64;

/// What is asked of a secondary from outside its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A NOTIFY from an allowed source (RFC 1996 §4.7: check the SOA now).
    Notify,
    /// `ctl refresh`.
    Refresh,
    /// `ctl retransfer`: AXFR from the primaries, whatever the serials.
    Retransfer,
}

/// How a secondary reaches its primaries: the network, or a test's fake.
pub trait Upstream: Send + Sync {
    /// The primary's SOA for `zone` (UDP, TCP on truncation or failure).
    fn query_soa(
        &self,
        primary: &Primary,
        zone: &[u8],
        timeout: Duration,
    ) -> Result<SoaAnswer, FetchError>;

    /// A transfer: IXFR from `current` when given (AXFR on failure), else
    /// AXFR.
    fn fetch(
        &self,
        primary: &Primary,
        zone: &[u8],
        current: Option<(Serial, &Record)>,
        limits: &Limits,
    ) -> Result<Fetched, FetchError>;
}

/// The primaries over the network (`xfr::incoming`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NetUpstream;

impl Upstream for NetUpstream {
    fn query_soa(
        &self,
        primary: &Primary,
        zone: &[u8],
        timeout: Duration,
    ) -> Result<SoaAnswer, FetchError> {
        incoming::query_soa(primary, zone, timeout)
    }

    fn fetch(
        &self,
        primary: &Primary,
        zone: &[u8],
        current: Option<(Serial, &Record)>,
        limits: &Limits,
    ) -> Result<Fetched, FetchError> {
        incoming::fetch_zone(primary, zone, current, limits)
    }
}

/// The last contact with one primary, for `ctl status`.
#[derive(Debug, Clone, Default)]
pub struct PrimaryState {
    pub addr: Option<SocketAddr>,
    /// Reached over TLS (XoT).
    pub tls: bool,
    pub serial: Option<Serial>,
    pub last_contact: Option<SystemTime>,
    pub last_error: Option<String>,
}

/// A secondary zone's timers and last results, for `ctl status`.
#[derive(Debug, Clone, Default)]
pub struct SecondaryStatus {
    pub primaries: Vec<PrimaryState>,
    pub last_refresh: Option<SystemTime>,
    /// "up to date", "IXFR 5 -> 6 from …", "failed: …".
    pub last_result: Option<String>,
    pub next_refresh: Option<SystemTime>,
    pub expires_at: Option<SystemTime>,
    pub expired: bool,
    pub last_error: Option<String>,
    pub loaded_at: Option<SystemTime>,
}

/// Refreshes of one secondary zone since the start, by how each ended, for
/// metrics. Every refresh counts exactly once: the transfer that was
/// applied (an IXFR that fell back to AXFR counts as AXFR), up to date, or
/// failed (no primary answered, or no transfer could be applied).
#[derive(Debug, Default)]
pub struct TransferInCounters {
    axfr: AtomicU64,
    ixfr: AtomicU64,
    up_to_date: AtomicU64,
    pub(super) failed: AtomicU64,
}

impl TransferInCounters {
    /// Full transfers applied.
    pub fn axfr(&self) -> u64 {
        self.axfr.load(Relaxed)
    }
    /// Incremental transfers applied.
    pub fn ixfr(&self) -> u64 {
        self.ixfr.load(Relaxed)
    }
    /// Refreshes that found no primary ahead of us.
    pub fn up_to_date(&self) -> u64 {
        self.up_to_date.load(Relaxed)
    }
    /// Refreshes that changed nothing because they failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }
}

/// Timers kept across restarts (`data_dir/state/<zone>.secondary.toml`):
/// the persisted side of the Refresh and Expire events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Timers {
    /// Unix seconds; 0 = unset.
    pub(super) next_refresh: u64,
    pub(super) expires_at: u64,
    /// Failed refreshes in a row, for the RETRY back-off.
    pub(super) failures: u32,
    /// Changesets journaled since the last snapshot.
    pub(super) since_snapshot: usize,
}

impl std::ops::Deref for SecondaryZone {
    type Target = ZoneCore;
    fn deref(&self) -> &ZoneCore {
        &self.core
    }
}

/// One secondary zone.
pub struct SecondaryZone {
    core: ZoneCore,
    primaries: Vec<Primary>,
    allow_notify: Acl,
    timing: Timing,
    limits: Limits,
    snapshot_path: PathBuf,
    timers_path: PathBuf,
    timers: Mutex<Timers>,
    status: Mutex<SecondaryStatus>,
    transfers_in: TransferInCounters,
    /// The primary (index) whose NOTIFY announced a serial, and that
    /// serial: the next refresh transfers from it at once when that is
    /// ahead of ours, without asking every primary's SOA first.
    notified: Mutex<Option<(usize, Serial)>>,
    /// When the last NOTIFY planned a refresh for (the zone's clock), so
    /// that NOTIFYs start at most one refresh a second
    /// (`timing::notify_refresh_at`); none once a refresh brought a new
    /// version.
    notify_plan: Mutex<Option<UnixMs>>,
}

pub(super) fn unix_to_time(unix: u64) -> Option<SystemTime> {
    (unix > 0).then(|| UNIX_EPOCH + Duration::from_secs(unix))
}

impl SecondaryZone {
    /// Sets a secondary up; `primaries` carry their TSIG keys.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        zone: Arc<Zone>,
        config: ZoneConfig,
        primaries: Vec<Primary>,
        server: &ServerConfig,
        journal: Option<SharedJournal>,
        notifier: Option<Notifier>,
        stem: &str,
        deps: ZoneDeps,
    ) -> SecondaryZone {
        let zones_dir = server.data_dir.join("zones");
        let state_dir = server.data_dir.join("state");
        for dir in [&zones_dir, &state_dir] {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::error!(zone = %config.name, "cannot create {}: {e}", dir.display());
            }
        }
        let timers_path = state_dir.join(format!("{stem}.secondary.toml"));
        let timers = read_timers(&timers_path).unwrap_or_else(|e| {
            tracing::warn!(zone = %config.name, "{e}; timers start afresh");
            Timers::default()
        });
        let limits = Limits {
            max_records: server.xfr_in_max_records,
            max_bytes: server.xfr_in_max_bytes,
            timeout: Duration::from_secs(server.xfr_in_timeout),
        };
        let status = SecondaryStatus {
            primaries: primaries
                .iter()
                .map(|p| PrimaryState {
                    addr: Some(p.addr),
                    tls: p.tls.is_some(),
                    ..PrimaryState::default()
                })
                .collect(),
            ..SecondaryStatus::default()
        };
        SecondaryZone {
            allow_notify: Acl::new(config.allow_notify.clone()),
            core: ZoneCore::new(zone, config, journal, notifier, deps)
                .with_notify_owed(state_dir.join(format!("{stem}.notify.toml"))),
            primaries,
            timing: Timing::from_config(server),
            limits,
            snapshot_path: zones_dir.join(format!("{stem}.snapshot")),
            timers_path,
            timers: Mutex::new(timers),
            status: Mutex::new(status),
            transfers_in: TransferInCounters::default(),
            notified: Mutex::new(None),
            notify_plan: Mutex::new(None),
        }
    }

    fn now_unix(&self) -> u64 {
        self.clock().now_unix()
    }

    pub fn status(&self) -> SecondaryStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Refreshes by result since the start.
    pub fn transfers_in(&self) -> &TransferInCounters {
        &self.transfers_in
    }

    /// Plans what `request` asks for now: a refresh, or a full transfer.
    /// Never lost, never blocks: a request while one is planned or running
    /// runs once, after it. True when it made the plan sooner.
    pub fn trigger(&self, request: Request) -> bool {
        tracing::info!(zone = self.name(), ?request, "refresh requested");
        let event = match request {
            Request::Notify | Request::Refresh => Event::Refresh,
            Request::Retransfer => Event::Transfer,
        };
        self.core.events.schedule(event, self.clock().now())
    }

    /// A NOTIFY from `peer` announcing `serial` (its answer's SOA, RFC
    /// 1996 §3.7): a refresh now, which, when the serial is ahead of ours
    /// and `peer` is a primary, starts with an IXFR from that primary
    /// (its answer carries the primary's SOA anyway) instead of a round
    /// of SOA queries; anything else falls back to the full refresh.
    ///
    /// NOTIFYs coalesce: one while a refresh is planned joins it, one
    /// while a refresh runs plans another after it (the change it
    /// announces may be newer than the SOA that refresh saw), and
    /// refreshes NOTIFY asks for start at most once a second until one
    /// brings a new version (`timing::notify_refresh_at`,
    /// [`notify_news_taken`](Self::notify_news_taken)), so a flood of
    /// NOTIFYs is not a flood of SOA queries to the primaries, while a
    /// primary changing the zone often is followed at once. True when it
    /// made the plan sooner.
    pub fn notified(&self, peer: Option<SocketAddr>, serial: Option<Serial>) -> bool {
        let from = peer.and_then(|p| {
            self.primaries
                .iter()
                .position(|pr| canonical_ip(pr.addr.ip()) == canonical_ip(p.ip()))
        });
        if let (Some(i), Some(serial), Ok(mut hint)) = (from, serial, self.notified.lock()) {
            *hint = Some((i, serial));
        }
        let mut last = self.notify_plan.lock().unwrap_or_else(|p| p.into_inner());
        let at = timing::notify_refresh_at(self.clock().now(), *last);
        *last = Some(at);
        self.core.events.schedule(Event::Refresh, at)
    }

    /// A refresh brought a new version: the next NOTIFY announces news
    /// again and refreshes at once, however soon it comes.
    pub fn notify_news_taken(&self) {
        *self.notify_plan.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// What every zone has.
    pub fn core(&self) -> &ZoneCore {
        &self.core
    }

    /// The zone's events (status, tests).
    pub fn events(&self) -> &Events {
        &self.core.events
    }

    /// Whether a NOTIFY from `peer` (signed with `key`) may trigger a
    /// refresh: from a primary's address (any port: NOTIFY comes from an
    /// ephemeral one) or an `allow_notify` rule.
    pub fn notify_allowed(&self, peer: Option<SocketAddr>, key: Option<&str>) -> bool {
        let Some(peer) = peer else {
            return false;
        };
        let ip = canonical_ip(peer.ip());
        self.primaries
            .iter()
            .any(|p| canonical_ip(p.addr.ip()) == ip)
            || self.allow_notify.allows(ip, key)
    }

    fn upstream(&self) -> &dyn Upstream {
        self.core.deps.upstream.as_ref()
    }

    /// Restores the last applied version from disk (blocking): served at
    /// once unless it expired while the server was stopped.
    pub fn restore(&self) {
        let version = match snapshot::read(&self.snapshot_path, self.core.zone.origin()) {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(zone = self.name(), "{e}; the zone will be transferred");
                return;
            }
        };
        let version = self.replay_journal(version);
        let expires_at = self.timers.lock().map(|t| t.expires_at).unwrap_or(0);
        let serial = version.serial();
        if timing::is_expired(expires_at, self.now_unix()) {
            tracing::warn!(
                zone = self.name(),
                %serial,
                "the copy on disk expired while stopped: SERVFAIL until a refresh succeeds"
            );
            self.update_status(|s| {
                s.expired = true;
                s.expires_at = unix_to_time(expires_at);
            });
            return;
        }
        self.core.zone.set_expires_at(expires_at);
        self.core.publish(
            Arc::new(version),
            &format!("the copy on disk (serial {serial})"),
            Publication::Restored,
        );
        self.update_status(|s| {
            s.loaded_at = Some(self.clock().now_system());
            s.expires_at = unix_to_time(expires_at);
        });
        tracing::info!(
            zone = self.name(),
            %serial,
            "secondary zone restored from disk"
        );
    }

    /// The snapshot brought forward by the journal's changesets.
    fn replay_journal(&self, version: ZoneVersion) -> ZoneVersion {
        let Some(changes) = self
            .journal
            .as_ref()
            .and_then(|j| j.lock().ok()?.changes_since(version.serial()))
        else {
            return version;
        };
        let mut current = version;
        for c in &changes {
            match current.apply(c) {
                Ok(next) => current = next,
                Err(e) => {
                    tracing::warn!(zone = self.name(), "journal changeset {} -> {} does not apply to the snapshot: {e}; serving serial {}", c.from_serial, c.to_serial, current.serial());
                    break;
                }
            }
        }
        current
    }

    /// Plans the events kept on disk, then runs the zone's dispatcher
    /// until the process ends. A restored zone keeps its refresh time; a
    /// new one refreshes now.
    pub async fn run(self: Arc<Self>) {
        let t = self.timers();
        self.events
            .schedule(Event::Refresh, t.next_refresh.saturating_mul(1000));
        if t.expires_at != 0 && self.core.zone.snapshot().is_some() {
            self.events
                .schedule(Event::Expire, t.expires_at.saturating_mul(1000));
        }
        if t.since_snapshot >= SNAPSHOT_EVERY {
            self.core
                .events
                .schedule(Event::Snapshot, self.clock().now());
        }
        self.core.plan_owed_notify();
        events::run(self).await;
    }

    /// EXPIRE reached (RFC 1035 §3.3.13): stop answering for the zone.
    pub(super) fn expire(&self) {
        let serial = self.core.zone.snapshot().map(|v| v.serial());
        self.core.zone.withdraw();
        self.update_status(|s| s.expired = true);
        tracing::error!(zone = self.name(), ?serial, "zone EXPIRED: no primary reachable within EXPIRE; answering SERVFAIL until a refresh succeeds");
    }

    /// The timers as they are now.
    pub(super) fn timers(&self) -> Timers {
        self.timers.lock().map(|t| *t).unwrap_or_default()
    }

    pub(super) fn timing(&self) -> &Timing {
        &self.timing
    }

    pub(super) fn transfers_in_counters(&self) -> &TransferInCounters {
        &self.transfers_in
    }

    /// Writes the version being served as the snapshot (blocking).
    pub(super) fn write_snapshot(&self) {
        let Some(version) = self.core.zone.snapshot() else {
            return;
        };
        match snapshot::write(&self.snapshot_path, &version) {
            Ok(()) => self.set_timers(|t| t.since_snapshot = 0),
            Err(e) => tracing::error!(zone = self.name(), "cannot write the zone to disk: {e}"),
        }
    }

    pub(super) fn refresh_once(&self, force_axfr: bool) -> Result<RefreshResult, RefreshError> {
        let current = self.core.zone.snapshot();
        let ours = current.as_ref().map(|v| v.serial());
        let hint = self.notified.lock().ok().and_then(|mut h| h.take());
        if let Some((i, serial)) = hint.filter(|_| !force_axfr) {
            let ahead = ours.is_none_or(|o| serial > o);
            if let (true, Some(primary)) = (ahead, self.primaries.get(i)) {
                match self.transfer_from(primary, current.as_deref(), false) {
                    Ok(summary) => {
                        self.update_status(|s| {
                            if let Some(ps) = s.primaries.get_mut(i) {
                                ps.serial = Some(serial);
                                ps.last_contact = Some(self.clock().now_system());
                                ps.last_error = None;
                            }
                        });
                        return Ok(RefreshResult {
                            summary: format!("{summary} (on NOTIFY)"),
                            expire_hint: None,
                        });
                    }
                    Err(e) => tracing::info!(
                        zone = self.name(),
                        primary = %primary,
                        "transfer on NOTIFY failed ({e}); asking every primary"
                    ),
                }
            }
        }
        let mut answers = Vec::new();
        let mut errors = Vec::new();
        for (i, p) in self.primaries.iter().enumerate() {
            match self
                .upstream()
                .query_soa(p, self.core.zone.origin(), Duration::from_secs(5))
            {
                Ok(a) => {
                    self.update_status(|s| {
                        if let Some(ps) = s.primaries.get_mut(i) {
                            ps.serial = Some(a.serial);
                            ps.last_contact = Some(self.clock().now_system());
                            ps.last_error = None;
                        }
                    });
                    answers.push((i, a.serial, a.expire));
                }
                Err(e) => {
                    let text = e.to_string();
                    self.update_status(|s| {
                        if let Some(ps) = s.primaries.get_mut(i) {
                            ps.last_error = Some(text);
                        }
                    });
                    errors.push(e);
                }
            }
        }
        if answers.is_empty() {
            return Err(RefreshError::NoPrimaryAnswered(errors));
        }
        // The refresh goes on with the others; a primary failing (a TLS
        // one refusing its certificate above all) is still said.
        for e in &errors {
            tracing::warn!(zone = self.name(), "refresh goes on without a primary: {e}");
        }
        let mut order: Vec<(usize, Serial)> = answers.iter().map(|a| (a.0, a.1)).collect();
        timing::transfer_order(&mut order);
        let expire_hint = order
            .first()
            .and_then(|first| answers.iter().find(|a| a.0 == first.0))
            .and_then(|a| a.2);
        let behind = |serial: Serial| ours.is_none_or(|o| serial > o);
        if !force_axfr && !answers.iter().any(|a| behind(a.1)) {
            self.transfers_in.up_to_date.fetch_add(1, Relaxed);
            return Ok(RefreshResult {
                summary: format!("up to date at serial {}", ours.unwrap_or_default()),
                expire_hint,
            });
        }
        let mut failures = Vec::new();
        for &(i, serial) in &order {
            if !force_axfr && !behind(serial) {
                continue;
            }
            let Some(primary) = self.primaries.get(i) else {
                continue;
            };
            match self.transfer_from(primary, current.as_deref(), force_axfr) {
                Ok(summary) => {
                    return Ok(RefreshResult {
                        summary,
                        expire_hint,
                    })
                }
                Err(e) => {
                    let text = e.to_string();
                    self.update_status(|s| {
                        if let Some(ps) = s.primaries.get_mut(i) {
                            ps.last_error = Some(text);
                        }
                    });
                    failures.push(e);
                }
            }
        }
        Err(RefreshError::TransfersFailed(failures))
    }

    /// Transfers from one primary and applies the result.
    fn transfer_from(
        &self,
        primary: &Primary,
        current: Option<&ZoneVersion>,
        force_axfr: bool,
    ) -> Result<String, TransferFailure> {
        let ours = if force_axfr {
            None
        } else {
            current.and_then(|v| Some((v.serial(), soa_record(v)?)))
        };
        let fetched = self
            .upstream()
            .fetch(
                primary,
                self.core.zone.origin(),
                ours.as_ref().map(|(s, r)| (*s, r)),
                &self.limits,
            )
            .map_err(|e| TransferFailure::Fetch(Box::new(e)))?;
        let how = fetched
            .fallback
            .as_ref()
            .map_or(String::new(), |why| format!(" (IXFR failed: {why})"));
        match self.apply(primary, current, fetched, force_axfr) {
            Ok(summary) => Ok(format!("{summary}{how}")),
            Err(ApplyFailure::IxfrDidNotApply(why))
                if incoming::after_ixfr_failure(IxfrFailure::DidNotApply) =>
            {
                tracing::warn!(zone = self.name(), primary = %primary, "IXFR does not apply ({why}); falling back to AXFR");
                let fetched = self
                    .upstream()
                    .fetch(primary, self.core.zone.origin(), None, &self.limits)
                    .map_err(|axfr| TransferFailure::AxfrAfterIxfr {
                        why: why.clone(),
                        axfr: Box::new(axfr),
                    })?;
                self.apply(primary, current, fetched, force_axfr)
                    .map(|s| format!("{s} (IXFR did not apply: {why})"))
                    .map_err(TransferFailure::Apply)
            }
            Err(e) => Err(TransferFailure::Apply(e)),
        }
    }

    /// A whole zone received (AXFR, or IXFR in AXFR form): checked,
    /// written, journaled and published, unless it would roll us back.
    fn apply_whole(
        &self,
        primary: &Primary,
        current: Option<&ZoneVersion>,
        built: Result<Arc<ZoneVersion>, InvalidTransfer>,
        serial: Serial,
        force_axfr: bool,
        stats: &str,
    ) -> Result<String, ApplyFailure> {
        let from = current.map(|v| v.serial());
        if let Some(ours) = from {
            if !force_axfr && !serial.is_after(ours) {
                return Err(ApplyFailure::Rejected(format!(
                    "{} sent serial {serial}, not ahead of ours ({ours}); not rolling back",
                    primary
                )));
            }
        }
        let version = built.map_err(|e| ApplyFailure::Rejected(e.to_string()))?;
        let source = format!("AXFR of serial {serial} from {}", primary);
        self.check_before_publish(&source, &version)?;
        if let Err(e) = snapshot::write(&self.snapshot_path, &version) {
            tracing::error!(
                zone = self.name(),
                "cannot write the zone to disk: {e}; a restart will transfer again"
            );
        }
        self.journal_full(current, &version);
        self.publish(version, &source);
        self.transfers_in.axfr.fetch_add(1, Relaxed);
        let from = from.map_or("(none)".to_string(), |s| s.to_string());
        Ok(format!(
            "AXFR {from} -> {serial} from {} ({stats})",
            primary
        ))
    }

    fn apply(
        &self,
        primary: &Primary,
        current: Option<&ZoneVersion>,
        fetched: Fetched,
        force_axfr: bool,
    ) -> Result<String, ApplyFailure> {
        let serial = fetched.serial;
        let stats = format!(
            "{} records, {} messages, {} ms",
            fetched.records,
            fetched.messages,
            fetched.elapsed.as_millis()
        );
        match fetched.payload {
            Payload::UpToDate => {
                self.transfers_in.up_to_date.fetch_add(1, Relaxed);
                Ok(format!("up to date at serial {serial} ({})", primary))
            }
            Payload::Full { soa, records } => {
                let built = build_full(self.core.zone.origin(), &soa, &records).map(Arc::new);
                drop(records);
                self.apply_whole(primary, current, built, serial, force_axfr, &stats)
            }
            Payload::Built(built) => {
                self.apply_whole(primary, current, built, serial, force_axfr, &stats)
            }
            Payload::Incremental(changes) => {
                let Some(base) = current else {
                    return Err(ApplyFailure::IxfrDidNotApply(
                        "we have no zone to apply it to".into(),
                    ));
                };
                let version = base
                    .apply_all(&changes)
                    .map_err(|e| ApplyFailure::IxfrDidNotApply(e.to_string()))?;
                let source = format!("IXFR {} -> {serial} from {}", base.serial(), primary);
                let version = Arc::new(version);
                self.check_before_publish(&source, &version)?;
                self.journal_changes(&changes);
                let n = changes.len();
                self.publish(version, &source);
                self.transfers_in.ixfr.fetch_add(1, Relaxed);
                Ok(format!(
                    "IXFR {} -> {serial} from {} ({n} changesets, {stats})",
                    base.serial(),
                    primary
                ))
            }
        }
    }

    /// What a transferred version must pass to be served: its ZONEMD
    /// (`zonemd`), then DNSSEC with `dnssec_checks = "error"`.
    fn check_before_publish(
        &self,
        source: &str,
        version: &Arc<ZoneVersion>,
    ) -> Result<(), ApplyFailure> {
        self.core
            .zonemd
            .check(source, version)
            .map_err(|e| ApplyFailure::Rejected(e.to_string()))?;
        self.core
            .dnssec
            .before_publish(source, version)
            .map_err(|e| ApplyFailure::Rejected(e.to_string()))
    }

    /// After an AXFR: the journal continues with the difference from the
    /// previous version when there is one (so our own secondaries still
    /// get IXFR), else starts afresh.
    fn journal_full(&self, old: Option<&ZoneVersion>, new: &ZoneVersion) {
        let Some(journal) = &self.core.journal else {
            return;
        };
        let Ok(mut journal) = journal.lock() else {
            return;
        };
        let result = match old {
            Some(old) if old.serial() != new.serial() => journal.append(&journal::diff(old, new)),
            // A retransfer at the same serial: the history still leads here.
            Some(_) if journal.last_serial() == Some(new.serial()) => Ok(()),
            _ => journal.clear(),
        };
        if let Err(e) = result {
            tracing::error!(zone = self.name(), "{e}");
        }
        self.set_timers(|t| t.since_snapshot = 0);
    }

    fn journal_changes(&self, changes: &[Changeset]) {
        if let Some(journal) = &self.core.journal {
            if let Ok(mut journal) = journal.lock() {
                for c in changes {
                    if let Err(e) = journal.append(c) {
                        tracing::error!(zone = self.name(), "{e}");
                    }
                }
            }
        }
        let mut due = false;
        self.set_timers(|t| {
            t.since_snapshot += changes.len();
            due = t.since_snapshot >= SNAPSHOT_EVERY;
        });
        if due {
            self.core
                .events
                .schedule(Event::Snapshot, self.clock().now());
        }
    }

    fn publish(&self, version: Arc<ZoneVersion>, source: &str) {
        self.core.publish(version, source, Publication::New);
        self.update_status(|s| {
            s.loaded_at = Some(self.clock().now_system());
            s.expired = false;
        });
    }

    pub(super) fn set_timers(&self, f: impl FnOnce(&mut Timers)) {
        let Ok(mut t) = self.timers.lock() else {
            return;
        };
        let before = *t;
        f(&mut t);
        // Unchanged (a first AXFR resetting a count that is 0): the file
        // already says so, and its fsyncs are a new member's main cost.
        if *t == before && self.timers_path.exists() {
            return;
        }
        let text = toml::to_string(&*t).unwrap_or_default();
        if let Err(e) = durable::write_atomic(&self.timers_path, text.as_bytes()) {
            tracing::error!(zone = self.name(), "cannot record the timers: {e}");
        }
    }

    pub(super) fn update_status(&self, f: impl FnOnce(&mut SecondaryStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

pub(super) struct RefreshResult {
    pub(super) summary: String,
    pub(super) expire_hint: Option<u32>,
}

/// Why a refresh changed nothing. Its `Display` is the line the log and
/// `ctl status` show ("refresh failed: …").
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Every primary's SOA query failed.
    #[error("no primary answered: {}", joined(.0))]
    NoPrimaryAnswered(Vec<FetchError>),
    /// Primaries ahead of us answered, and every transfer from them failed.
    #[error("{}", joined(.0))]
    TransfersFailed(Vec<TransferFailure>),
}

/// Why a transfer from one primary was not applied.
#[derive(Debug, thiserror::Error)]
pub enum TransferFailure {
    #[error("{0}")]
    Fetch(Box<FetchError>),
    #[error("{0}")]
    Apply(ApplyFailure),
    /// An IXFR that did not apply, and then the AXFR failed.
    #[error("IXFR did not apply ({why}), AXFR: {axfr}")]
    AxfrAfterIxfr { why: String, axfr: Box<FetchError> },
}

fn joined<E: std::fmt::Display>(errors: &[E]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug)]
pub enum ApplyFailure {
    /// The changesets do not fit our copy: try AXFR.
    IxfrDidNotApply(String),
    /// The transfer is unusable as it is.
    Rejected(String),
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyFailure::IxfrDidNotApply(w) => write!(f, "IXFR does not apply: {w}"),
            ApplyFailure::Rejected(w) => write!(f, "{w}"),
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// REFRESH, RETRY, EXPIRE of a version's SOA.
pub(super) fn soa_timers(v: &ZoneVersion) -> Option<SoaTimers> {
    let rdata = v.soa()?.rdatas().next()?;
    Some(SoaTimers {
        refresh: crate::zone::soa_field(rdata, 1)?,
        retry: crate::zone::soa_field(rdata, 2)?,
        expire: crate::zone::soa_field(rdata, 3)?,
    })
}

fn soa_record(v: &ZoneVersion) -> Option<Record> {
    let soa = v.soa()?;
    Some(Record {
        owner: v.origin().to_vec(),
        rtype: crate::zone::rtype::SOA,
        ttl: soa.ttl(),
        rdata: soa.rdatas().next()?.to_vec(),
    })
}

// The records of an AXFR as a zone: where a transfer in is read.
pub(crate) use crate::xfr::incoming::{build_full, InvalidTransfer};

fn read_timers(path: &std::path::Path) -> Result<Timers, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(FileError::format(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Timers::default()),
        Err(e) => Err(FileError::io(path)(e)),
    }
}

impl EventZone for SecondaryZone {
    fn core(&self) -> &ZoneCore {
        &self.core
    }

    fn handle_async(self: Arc<Self>, event: Event) -> Option<events::HandlerFuture> {
        match event {
            Event::NotifyOut => Some(Box::pin(async move { self.core.notify_round().await })),
            Event::HealNotify => Some(Box::pin(async move {
                events::heal_notify::handle(&self.core).await
            })),
            _ => None,
        }
    }

    fn handle(&self, event: Event) {
        match event {
            // Run as a task: see handle_async.
            Event::NotifyOut | Event::HealNotify => {}
            Event::Load | Event::Update | Event::Flush | Event::CsyncScan => tracing::error!(
                zone = self.name(),
                event = event.name(),
                "a primary's event planned for a secondary: ignored"
            ),
            Event::Refresh => events::refresh::handle(self, false),
            Event::Transfer => events::refresh::handle(self, true),
            Event::Expire => events::expire::handle(self),
            Event::Snapshot => events::snapshot::handle(self),
            Event::DnssecCheck => events::dnssec_check::handle(&self.core),
            Event::CsyncNotify => events::csync_notify::handle(&self.core),
        }
    }
}
