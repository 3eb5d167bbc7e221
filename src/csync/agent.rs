//! The parental agent of one parent zone (`[zone.csync]`): one task that
//! scans each child on its interval, at once on NOTIFY(CSYNC) for it
//! (RFC 9859), or when an operator asks (`zonesync csync scan`,
//! `approve`), decides by [`super::decide`], and applies a change by
//! editing the zone file and loading it (`super::edit`, then the zone's
//! normal load: journal, serial, NOTIFY, IXFR to the secondaries).
//!
//! One scan at a time per parent, so two changes never race on the file.
//! Every decision that differs from the child's previous one goes to the
//! audit log, and to the server log.

use super::decide::{decide, CsyncOutcome, Decision, Memory, ServerResult};
use super::delegation::{self, Delegation};
use super::edit;
use super::scan::Scanner;
use super::state::{AuditEntry, AuditLog, ChildState, ParentState, Pending};
use crate::clock::SharedClock;
use crate::config::{CsyncConfig, ServerConfig};
use crate::exchange::Client;
use crate::loader::LoadOptions;
use crate::name;
use crate::replication::events::Event;
use crate::replication::{file_stem, timing, LoadKind, ManagedZone};
use crate::serial::Serial;
use crate::zone::{rtype, ZoneVersion};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one scan of one child found and did; the control interface's
/// answer to `csync scan` and `approve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildReport {
    pub parent: String,
    pub child: String,
    pub outcome: CsyncOutcome,
    pub csync_serial: Option<Serial>,
    pub reason: String,
    /// `- record` / `+ record`.
    pub changes: Vec<String>,
    /// One line per address asked: what it said or why it failed.
    pub servers: Vec<String>,
    /// The parent's serial after an applied change.
    pub parent_serial: Option<Serial>,
    /// How long the scan (and the change) took.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// A change waiting for approval, for `csync pending`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReport {
    pub parent: String,
    pub child: String,
    pub csync_serial: Serial,
    pub since: u64,
    pub changes: Vec<String>,
}

/// Why a scan or an approval asked for (`csync scan CHILD`, `csync
/// approve`) cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("the parent zone is not loaded")]
    NotLoaded,
    #[error("{0} is not a delegation this agent follows (see [zone.csync] children)")]
    NotFollowed(String),
    #[error("no change waits for approval for {0}")]
    NothingPending(String),
    /// The scan after an approval reported nothing (a bug).
    #[error("no scan ran")]
    NoScan,
}

/// Why an approved change did not end up served (the report's reason).
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error("the parent zone has no file")]
    NoFile,
    #[error("{0}")]
    Edit(edit::EditError),
    #[error("the zone file was changed but did not load: {0}")]
    NotLoaded(String),
    #[error("nothing served after the load")]
    NothingServed,
    #[error("after the load the delegation is not the one asked for")]
    NotAsAsked,
}

/// Scan for real, or only say what would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

/// The agent of one parent zone.
pub struct ParentAgent {
    zone: Arc<ManagedZone>,
    /// The zone's name with the final dot, for reports.
    parent: String,
    config: CsyncConfig,
    /// The configured children (lower-case wire); `None`: all delegations.
    children: Option<BTreeSet<Vec<u8>>>,
    scanner: Scanner,
    state: Mutex<ParentState>,
    state_path: PathBuf,
    audit: AuditLog,
    /// Children named by NOTIFY(CSYNC) since the last CsyncScan event.
    notified: Mutex<BTreeSet<Vec<u8>>>,
    one_scan: tokio::sync::Mutex<()>,
    /// Unix seconds the agent was made: a child never scanned is first
    /// due one interval later (NOTIFY(CSYNC) and operators need not wait).
    started: u64,
    clock: SharedClock,
}

/// `2026-11-21 23:30:00 UTC`.
fn utc(unix: u64) -> String {
    let unix = i64::try_from(unix).unwrap_or(0);
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = crate::serial::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn display_name(wire: &[u8]) -> String {
    name::display(wire)
}

impl ParentAgent {
    /// The agent of `zone` when its config has `[zone.csync]`.
    pub fn new(
        zone: Arc<ManagedZone>,
        server: &ServerConfig,
        clock: SharedClock,
    ) -> Option<Arc<ParentAgent>> {
        let config = zone.config().csync.clone()?;
        let stem = file_stem(zone.name());
        let state_dir = server.data_dir.join("state");
        let state_path = state_dir.join(format!("{stem}.csync.toml"));
        let state = ParentState::read(&state_path).unwrap_or_else(|e| {
            tracing::warn!(zone = zone.name(), "{e}; CSYNC state starts afresh");
            ParentState::default()
        });
        let children = (!config.children.is_empty()).then(|| {
            config
                .children
                .iter()
                .filter_map(|c| crate::config::parse_zone_name(c).ok())
                .map(|w| delegation::lower(&w))
                .collect()
        });
        let scanner = Scanner {
            client: Client::new(Duration::from_secs(2), 2, false, 64),
            resolver: config.resolver.or_else(crate::verify::system_resolver),
            port: config.port,
        };
        let agent = Arc::new(ParentAgent {
            parent: display_name(zone.zone().origin()),
            audit: AuditLog::new(state_dir.join(format!("{stem}.csync-audit.log"))),
            zone,
            config,
            children,
            scanner,
            state: Mutex::new(state),
            state_path,
            notified: Mutex::new(BTreeSet::new()),
            one_scan: tokio::sync::Mutex::new(()),
            started: clock.now_unix(),
            clock,
        });
        agent.zone.set_agent(&agent);
        agent.plan();
        Some(agent)
    }

    pub fn origin(&self) -> &[u8] {
        self.zone.zone().origin()
    }

    /// Whether `child` (wire) is one of the delegations this agent follows.
    pub fn follows(&self, child: &[u8]) -> bool {
        let child = delegation::lower(child);
        match &self.children {
            Some(list) => list.contains(&child),
            None => {
                name::is_subdomain(&child, &delegation::lower(self.origin()))
                    && child.len() > self.origin().len()
            }
        }
    }

    /// NOTIFY(CSYNC) for `child`: scan it now (the parent zone's
    /// CsyncScan event). Never blocks; a child named again before the scan
    /// is scanned once.
    pub fn notified(&self, child: &[u8]) {
        if let Ok(mut n) = self.notified.lock() {
            n.insert(delegation::lower(child));
        }
        self.zone
            .core()
            .events
            .schedule(Event::CsyncScan, self.clock.now());
    }

    /// Plans the CsyncScan event when the earliest child is due.
    pub fn plan(&self) {
        let at = self.next_scan_at().saturating_mul(1000);
        self.zone.core().events.schedule(Event::CsyncScan, at);
    }

    /// The children to scan now: configured or every delegation.
    fn children_of(&self, version: &ZoneVersion) -> Vec<Vec<u8>> {
        match &self.children {
            Some(list) => list.iter().cloned().collect(),
            None => delegation::delegation_points(version)
                .into_iter()
                .map(|c| delegation::lower(&c))
                .collect(),
        }
    }

    /// The CsyncScan event: the children NOTIFY(CSYNC) named, then those
    /// due; then the next scan is planned.
    pub async fn on_event(&self) {
        let named = self
            .notified
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default();
        for child in named {
            if self.follows(&child) {
                tracing::info!(zone = self.zone.name(), child = %display_name(&child), "NOTIFY(CSYNC): scanning the child");
                let _ = self.scan(Some(&child), Mode::Apply).await;
            } else {
                tracing::info!(zone = self.zone.name(), child = %display_name(&child), "NOTIFY(CSYNC) for a name this agent does not follow: ignored");
            }
        }
        let _ = self.scan_due().await;
        self.plan();
    }

    /// When `child` is next due.
    fn due_at(&self, state: &ChildState) -> u64 {
        match state.next_scan {
            0 => self.started + u64::from(self.config.interval),
            t => t,
        }
    }

    /// When the earliest child is due, in Unix seconds (at most the
    /// interval from now, at least a second).
    fn next_scan_at(&self) -> u64 {
        let now = self.clock.now_unix();
        let children = self
            .zone
            .zone()
            .snapshot()
            .map(|v| self.children_of(&v))
            .unwrap_or_default();
        let next = children
            .iter()
            .map(|c| self.due_at(&self.child_state(c)))
            .min()
            .unwrap_or(now + u64::from(self.config.interval));
        next.clamp(now + 1, now + u64::from(self.config.interval).max(1))
    }

    async fn scan_due(&self) -> Vec<ChildReport> {
        let Some(version) = self.zone.zone().snapshot() else {
            return Vec::new();
        };
        let now = self.clock.now_unix();
        let due: Vec<Vec<u8>> = self
            .children_of(&version)
            .into_iter()
            .filter(|c| self.due_at(&self.child_state(c)) <= now)
            .collect();
        let mut reports = Vec::new();
        for child in due {
            if let Ok(mut r) = self.scan(Some(&child), Mode::Apply).await {
                reports.append(&mut r);
            }
        }
        reports
    }

    fn key(child: &[u8]) -> String {
        display_name(&delegation::lower(child))
    }

    fn child_state(&self, child: &[u8]) -> ChildState {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.children.get(&Self::key(child)).cloned())
            .unwrap_or_default()
    }

    fn update_state(&self, child: &[u8], f: impl FnOnce(&mut ChildState)) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        f(state.children.entry(Self::key(child)).or_default());
        if let Err(e) = state.write(&self.state_path) {
            tracing::error!(zone = self.zone.name(), "cannot save the CSYNC state: {e}");
        }
    }

    /// Scans `only` (a child, wire) or every child followed.
    pub async fn scan(
        &self,
        only: Option<&[u8]>,
        mode: Mode,
    ) -> Result<Vec<ChildReport>, AgentError> {
        let _one = self.one_scan.lock().await;
        let version = self.zone.zone().snapshot().ok_or(AgentError::NotLoaded)?;
        let children = match only {
            Some(c) if self.follows(c) => vec![delegation::lower(c)],
            Some(c) => return Err(AgentError::NotFollowed(display_name(c))),
            None => self.children_of(&version),
        };
        let mut reports = Vec::new();
        for child in children {
            // Each child sees the version the previous change published.
            let version = self
                .zone
                .zone()
                .snapshot()
                .unwrap_or_else(|| version.clone());
            reports.push(self.scan_child(&version, &child, mode).await);
        }
        Ok(reports)
    }

    /// Approves the change waiting for `child` and applies it (after a
    /// fresh scan: the child must still ask for the same serial).
    pub async fn approve(&self, child: &[u8]) -> Result<ChildReport, AgentError> {
        if !self.follows(child) {
            return Err(AgentError::NotFollowed(display_name(child)));
        }
        let pending = self
            .child_state(child)
            .pending
            .ok_or_else(|| AgentError::NothingPending(display_name(child)))?;
        self.update_state(child, |s| s.approved_serial = Some(pending.serial));
        self.record(
            child,
            CsyncOutcome::Approved,
            Some(pending.serial),
            "approved by the operator".into(),
            pending.changes.clone(),
            None,
            true,
        );
        let mut reports = self.scan(Some(child), Mode::Apply).await?;
        reports.pop().ok_or(AgentError::NoScan)
    }

    /// The changes waiting for approval.
    pub fn pending(&self) -> Vec<PendingReport> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        state
            .children
            .iter()
            .filter_map(|(child, s)| {
                let p = s.pending.as_ref()?;
                Some(PendingReport {
                    parent: self.parent.clone(),
                    child: child.clone(),
                    csync_serial: p.serial,
                    since: p.since,
                    changes: p.changes.clone(),
                })
            })
            .collect()
    }

    async fn scan_child(
        &self,
        version: &Arc<ZoneVersion>,
        child: &[u8],
        mode: Mode,
    ) -> ChildReport {
        let started = std::time::Instant::now();
        let mut report = self.scan_child_timed(version, child, mode).await;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report
    }

    async fn scan_child_timed(
        &self,
        version: &Arc<ZoneVersion>,
        child: &[u8],
        mode: Mode,
    ) -> ChildReport {
        let now = self.clock.now_unix();
        let mut report = ChildReport {
            parent: self.parent.clone(),
            child: display_name(child),
            outcome: CsyncOutcome::Failed,
            csync_serial: None,
            reason: String::new(),
            changes: Vec::new(),
            servers: Vec::new(),
            parent_serial: None,
            elapsed_ms: 0,
        };
        let Some(current) = delegation::read(version, child) else {
            report.outcome = CsyncOutcome::NotDelegated;
            report.reason = format!("the parent has no NS for {}", report.child);
            self.finish(child, mode, &report, now);
            return report;
        };
        if current.ds.is_empty() {
            report.outcome = CsyncOutcome::Insecure;
            report.reason = "no DS for the child in the parent: its data cannot be validated, and CSYNC is only acted on from a secure child (RFC 7477 §4.1)".into();
            self.finish(child, mode, &report, now);
            return report;
        }
        let results = self.scanner.observe_all(version, &current, now).await;
        report.servers = results.iter().map(describe_server).collect();
        let state = self.child_state(child);
        let memory = Memory {
            last_serial: state.last_serial,
            approved_serial: state.approved_serial,
        };
        let mut decision = decide(&current, &results, &memory);
        if let Decision::Apply { to, .. } | Decision::Waiting { to, .. } = &decision {
            if let Err(e) = self.scanner.check_new_servers(version, &current, to).await {
                decision = Decision::Retry {
                    reason: e.to_string(),
                };
            }
        }
        report.reason = decision.to_string();
        match decision {
            Decision::Apply { serial, change, to } => {
                report.csync_serial = Some(serial);
                report.changes = change.lines();
                if mode == Mode::DryRun {
                    report.outcome = CsyncOutcome::WouldApply;
                } else {
                    self.apply(version, &current, &to, change, serial, &mut report)
                        .await;
                }
            }
            Decision::Waiting { serial, change, .. } => {
                report.outcome = CsyncOutcome::Waiting;
                report.csync_serial = Some(serial);
                report.changes = change.lines();
                report.reason = format!(
                    "{}; approve with `zonesync csync approve {}`",
                    report.reason, report.child
                );
            }
            other => {
                report.outcome = other.outcome();
                report.csync_serial = match other {
                    Decision::AlreadyProcessed { serial } | Decision::InSync { serial } => {
                        Some(serial)
                    }
                    Decision::Rejected { serial, .. } => serial,
                    _ => None,
                };
            }
        }
        self.finish(child, mode, &report, now);
        report
    }

    /// Edits the zone file and loads it, on a blocking thread; fills the
    /// report's outcome.
    async fn apply(
        &self,
        version: &Arc<ZoneVersion>,
        current: &Delegation,
        to: &Delegation,
        change: delegation::Change,
        serial: Serial,
        report: &mut ChildReport,
    ) {
        if version.apex().rrset(rtype::DNSKEY).is_some() {
            report.outcome = CsyncOutcome::Failed;
            report.reason = "the parent zone is presigned here: a new serial would leave its SOA RRSIG stale, so the change must go through its signer".into();
            return;
        }
        let zone = self.zone.clone();
        let (version, to) = (version.clone(), to.clone());
        let child_name = report.child.clone();
        let from_serial = version.serial();
        let note = format!(
            "zonesync csync: {child_name} CSYNC serial {serial}, applied {} (parent serial was {from_serial})",
            utc(self.clock.now_unix())
        );
        let _ = current;
        let job = tokio::task::spawn_blocking(move || -> Result<Option<Serial>, ApplyError> {
            let file = zone.config().file.clone().ok_or(ApplyError::NoFile)?;
            let opts = LoadOptions {
                include_anywhere: zone.config().include_anywhere,
            };
            edit::edit_zone_file(&file, &version, &opts, &change, &note)
                .map_err(ApplyError::Edit)?;
            let outcome = zone.load_after_own_edit();
            if outcome.kind != LoadKind::Loaded {
                return Err(ApplyError::NotLoaded(outcome.message.unwrap_or_default()));
            }
            let served = zone.zone().snapshot().ok_or(ApplyError::NothingServed)?;
            match delegation::read(&served, &to.child) {
                Some(now) if now.ns == to.ns && now.glue == to.glue => Ok(outcome.serial),
                _ => Err(ApplyError::NotAsAsked),
            }
        });
        match job.await {
            Ok(Ok(parent_serial)) => {
                report.outcome = CsyncOutcome::Applied;
                report.parent_serial = parent_serial;
            }
            Ok(Err(e)) => {
                report.outcome = CsyncOutcome::Failed;
                report.reason = e.to_string();
            }
            Err(e) => {
                report.outcome = CsyncOutcome::Failed;
                report.reason = format!("the change task failed: {e}");
            }
        }
    }

    /// Remembers the outcome (not for a dry run), sets the next scan and
    /// writes the audit log.
    fn finish(&self, child: &[u8], mode: Mode, report: &ChildReport, now: u64) {
        if mode == Mode::DryRun {
            return;
        }
        let (interval, retry) = (self.config.interval, self.config.retry);
        let before = self.child_state(child);
        let outcome = report.outcome;
        let serial = report.csync_serial;
        self.update_state(child, |s| {
            s.last_scan = now;
            s.last_outcome = Some(outcome.to_string());
            s.last_reason = Some(report.reason.clone());
            match outcome {
                CsyncOutcome::Applied | CsyncOutcome::InSync => {
                    s.last_serial = serial.or(s.last_serial);
                    s.approved_serial = None;
                    s.pending = None;
                }
                CsyncOutcome::Waiting => {
                    let since = s
                        .pending
                        .as_ref()
                        .filter(|p| Some(p.serial) == serial)
                        .map_or(now, |p| p.since);
                    s.pending = serial.map(|serial| Pending {
                        serial,
                        changes: report.changes.clone(),
                        since,
                    });
                }
                _ => {}
            }
            if outcome.backs_off() {
                s.failures = s.failures.saturating_add(1);
            } else {
                s.failures = 0;
            }
            s.next_scan = timing::csync_next_scan(now, s.failures, retry, interval);
        });
        let changed = before.last_outcome.as_deref() != Some(outcome.as_str())
            || before.last_reason.as_deref() != Some(report.reason.as_str());
        let always = matches!(outcome, CsyncOutcome::Applied | CsyncOutcome::Failed);
        self.record(
            child,
            outcome,
            serial,
            report.reason.clone(),
            report.changes.clone(),
            report.parent_serial,
            changed || always,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        child: &[u8],
        outcome: CsyncOutcome,
        csync_serial: Option<Serial>,
        reason: String,
        changes: Vec<String>,
        parent_serial: Option<Serial>,
        to_audit: bool,
    ) {
        let child_name = display_name(child);
        match outcome {
            CsyncOutcome::Applied | CsyncOutcome::Approved => {
                tracing::info!(zone = self.zone.name(), child = %child_name, outcome = outcome.as_str(), ?csync_serial, ?parent_serial, changes = ?changes, "CSYNC: {reason}")
            }
            CsyncOutcome::Failed | CsyncOutcome::Rejected | CsyncOutcome::Insecure => {
                tracing::warn!(zone = self.zone.name(), child = %child_name, outcome = outcome.as_str(), ?csync_serial, "CSYNC: {reason}")
            }
            _ => {
                tracing::info!(zone = self.zone.name(), child = %child_name, outcome = outcome.as_str(), ?csync_serial, "CSYNC: {reason}")
            }
        }
        if !to_audit {
            return;
        }
        let entry = AuditEntry {
            time: self.clock.now_unix(),
            parent: self.parent.clone(),
            child: child_name,
            outcome: outcome.to_string(),
            csync_serial,
            reason,
            changes,
            parent_serial,
        };
        if let Err(e) = self.audit.append(&entry) {
            tracing::error!(
                zone = self.zone.name(),
                "cannot write the CSYNC audit log: {e}"
            );
        }
    }
}

fn describe_server(r: &ServerResult) -> String {
    match &r.data {
        Ok(d) => {
            let csync: Vec<String> = d.csync.iter().map(|c| c.to_string()).collect();
            let csync = if csync.is_empty() {
                "no CSYNC".to_string()
            } else {
                format!("CSYNC {}", csync.join(" | "))
            };
            format!("{}: serial {}, {csync}", r.label(), d.serial)
        }
        Err(e) => format!("{}: {e}", r.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::config::ZoneConfig;
    use crate::replication::events::{step, Event};
    use crate::replication::ZoneDeps;
    use crate::zone::Zone;

    /// A parent delegating `child` (with a DS, so it is scanned) to a
    /// nameserver on a loopback port where nothing listens.
    fn parent(dir: &std::path::Path, port: u16) -> (Arc<ManagedZone>, ManualClock) {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("example.com.zone");
        std::fs::write(
            &file,
            "$ORIGIN example.com.\n$TTL 300\n@ SOA ns host 1 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n\
             child NS ns.child\nns.child A 127.0.0.1\n\
             child DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000\n",
        )
        .unwrap();
        let config: ZoneConfig = toml::from_str(&format!(
            "name = \"example.com\"\nrole = \"primary\"\nfile = \"{}\"\n\
             [csync]\nchildren = [\"child.example.com\"]\ninterval = 3600\nretry = 60\nport = {port}\n\
             resolver = \"127.0.0.1:{port}\"",
            file.display()
        ))
        .unwrap();
        let server = ServerConfig {
            data_dir: dir.join("data"),
            ..ServerConfig::default()
        };
        let clock = ManualClock::at(1_800_000_000_000);
        let zone = Arc::new(Zone::new(&crate::name::test_wire("example.com")).unwrap());
        let z = Arc::new(ManagedZone::new(
            zone,
            config,
            &server,
            None,
            ZoneDeps::with_clock(clock.shared()),
        ));
        z.load(false);
        (z, clock)
    }

    #[test]
    fn scans_that_decide_nothing_back_off_up_to_the_interval() {
        let dir = std::env::temp_dir().join(format!("zonesync-agent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .unwrap()
            .port();
        let (zone, clock) = parent(&dir, port);
        let server = ServerConfig {
            data_dir: dir.join("data"),
            ..ServerConfig::default()
        };
        let agent = ParentAgent::new(zone.clone(), &server, clock.shared()).expect("an agent");
        let child = crate::name::test_wire("child.example.com");
        let due = || zone.core().events.deadline(Event::CsyncScan).unwrap();
        // Never scanned: first due one interval after the start.
        assert_eq!(due(), clock.now() + 3_600_000);
        let mut waits = Vec::new();
        for _ in 0..8 {
            clock.set(due());
            assert_eq!(step(&zone), [Event::CsyncScan]);
            let state = agent.child_state(&child);
            assert!(state.last_outcome.as_deref() == Some("retry"), "{state:?}");
            waits.push((due() - clock.now()) / 1000);
        }
        assert_eq!(waits, [60, 120, 240, 480, 960, 1_920, 3_600, 3_600]);
        // NOTIFY(CSYNC) makes a scan due at once.
        agent.notified(&child);
        assert_eq!(due(), clock.now());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
