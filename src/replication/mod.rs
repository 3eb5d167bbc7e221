//! Per-zone events: what happens to a configured zone over its life.
//!
//! For a primary zone that is the **load** event: read the zone file,
//! decide the serial to publish ([`load::decide`], the serial policy),
//! compute the changeset against the version being served, record it
//! durably (the state file, then the journal), publish the new version,
//! and queue NOTIFY. Loads of one zone run one at a time (SIGHUP and the
//! control interface may ask at once); queries and transfers keep using
//! the versions they hold meanwhile.
//!
//! # Order of the durable steps, and what a crash at each point leaves
//!
//! 1. The state file (served serial, file serial, content digest) is
//!    replaced atomically. A crash after it: the restart finds the file
//!    matching the state, serves it at the recorded serial; the journal
//!    does not reach that serial, so IXFR from older serials falls back to
//!    AXFR, and the next change starts a new history.
//! 2. The changeset is appended to the journal and fsynced. A crash after
//!    it: the restart serves the same version, and the journal leads to it.
//! 3. The version is published (memory only) and NOTIFY is queued.
//!
//! A torn journal frame is dropped at restart ([`Journal::open`]). The
//! zone file is written by the server only for a zone changed by UPDATE
//! (the Flush event, see [`dynamic`]).

pub mod dnssec;
pub mod dynamic;
pub mod events;
pub mod heal;
pub mod load;
mod peers;
pub mod registry;
pub mod secondary;
pub mod state;
pub mod timing;
pub mod zonemd;

use crate::clock::{SharedClock, UnixMs};
use crate::config::{SerialPolicy, ServerConfig, ZoneConfig};
use crate::csync::agent::ParentAgent;
use crate::journal::{self, Journal, JournalLimits, JournalReader};
use crate::loader::{self, LoadOptions};
use crate::notify::Notifier;
use crate::peers::ZonePeers;
use crate::serial::Serial;
use crate::zone::{Zone, ZoneVersion};
use events::{Event, EventZone};
use load::{Decision, FileContent};
use state::PublishedState;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// A zone's journal, shared with the transfer responder.
pub type SharedJournal = Arc<Mutex<Journal>>;

/// A version just published, for those who follow changes (the monitor
/// inside `serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The zone's apex, wire format (lower case).
    pub origin: Vec<u8>,
    pub serial: Serial,
    /// When it was published (the zones' clock).
    pub at: UnixMs,
}

/// What zones share with the rest of the server: the clock their timers
/// read, the way secondaries reach their primaries, and where new
/// versions are announced. The server uses the real ones; tests fakes.
#[derive(Clone)]
pub struct ZoneDeps {
    pub clock: SharedClock,
    pub upstream: Arc<dyn secondary::Upstream>,
    pub publishes: tokio::sync::broadcast::Sender<Published>,
    /// Refreshes (SOA check, transfer in) running at once, server-wide.
    pub refreshes: Arc<tokio::sync::Semaphore>,
    /// The TLS client configurations of primaries with `tls` (XoT in),
    /// read at start.
    pub tls_clients: Arc<crate::tls::client::ClientTlsCache>,
    /// When each address last asked each zone's SOA: written by the query
    /// path (`Answerer::with_sightings`), read for the peer reports.
    pub sightings: Arc<crate::peers::SoaSightings>,
    /// Transfers to peers that completed (`xfr::Transfers::with_peer_news`),
    /// for the monitor inside `serve`; a send only while it listens.
    pub peer_news: tokio::sync::broadcast::Sender<crate::peers::PeerNews>,
    /// How NOTIFYs are sent (`[server]`), for the replication doctor's
    /// heal NOTIFYs, which a zone without NOTIFY targets sends too.
    pub notify: crate::notify::NotifySettings,
}

impl ZoneDeps {
    /// The system clock, and room for a burst of publications (a follower
    /// that falls behind skips some, and is told so).
    pub fn real() -> ZoneDeps {
        ZoneDeps::with_clock(Arc::new(crate::clock::SystemClock))
    }

    pub fn with_clock(clock: SharedClock) -> ZoneDeps {
        ZoneDeps {
            clock,
            upstream: Arc::new(secondary::NetUpstream),
            publishes: tokio::sync::broadcast::channel(1024).0,
            refreshes: Arc::new(tokio::sync::Semaphore::new(10)),
            tls_clients: Arc::default(),
            sightings: Arc::default(),
            peer_news: tokio::sync::broadcast::channel(1024).0,
            notify: crate::notify::NotifySettings::default(),
        }
    }

    /// The primaries' TLS configurations read at start.
    pub fn with_tls_clients(mut self, cache: Arc<crate::tls::client::ClientTlsCache>) -> ZoneDeps {
        self.tls_clients = cache;
        self
    }

    /// How this server sends NOTIFY (`[server]`).
    pub fn with_notify(mut self, settings: crate::notify::NotifySettings) -> ZoneDeps {
        self.notify = settings;
        self
    }

    /// At most `limit` refreshes at once (`server.refresh_limit`).
    pub fn with_refresh_limit(mut self, limit: usize) -> ZoneDeps {
        self.refreshes = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
        self
    }
}

/// How a version comes to be published, which decides who is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// A new version (a load, a transfer in): checked in the background
    /// (DNSSEC `warn`), and announced: NOTIFY to the secondaries,
    /// NOTIFY(CSYNC) when its CSYNC changed, the monitor.
    New,
    /// The copy kept on disk, served again at start: checked, not
    /// announced (the secondaries have it already).
    Restored,
    /// A copy withdrawn at EXPIRE and confirmed again by a primary: the
    /// very version that was served, so nothing is checked or announced.
    Revived,
}

/// What every configured zone has, whatever its role; both roles
/// dereference to it.
pub struct ZoneCore {
    pub zone: Arc<Zone>,
    pub config: ZoneConfig,
    pub journal: Option<SharedJournal>,
    /// The journal for readers (IXFR out, status, metrics): never waits
    /// for a load or transfer writing it.
    pub journal_reader: Option<JournalReader>,
    pub notifier: Option<Notifier>,
    /// What this server saw of the zone's peers: NOTIFYs sent and their
    /// answers, transfers asked for and how they ended.
    pub peers: Arc<ZonePeers>,
    /// The replication doctor's NOTIFYs to peers it found behind.
    pub healer: heal::Healer,
    /// When the version served was published (the zone's clock; 0:
    /// never), for peer reports: what a peer did since.
    published_ms: std::sync::atomic::AtomicU64,
    /// The DNSSEC checks of what the zone publishes.
    pub dnssec: dnssec::ZoneDnssec,
    /// ZONEMD: verified in what the zone publishes, or made for it.
    pub zonemd: zonemd::ZoneZonemd,
    /// The zone's event table, run by its dispatcher.
    pub events: events::Events,
    /// Where the serial of a NOTIFY round still owed is kept
    /// (`state/<zone>.notify.toml`), so a restart finishes it.
    notify_owed: Option<PathBuf>,
    pub deps: ZoneDeps,
}

/// A NOTIFY round announced and not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyOwed {
    serial: u32,
}

impl ZoneCore {
    pub fn new(
        zone: Arc<Zone>,
        config: ZoneConfig,
        journal: Option<SharedJournal>,
        notifier: Option<Notifier>,
        deps: ZoneDeps,
    ) -> ZoneCore {
        let journal_reader = journal
            .as_ref()
            .and_then(|j| j.lock().ok().map(|j| j.reader()));
        ZoneCore {
            notify_owed: None,
            dnssec: dnssec::ZoneDnssec::new(&config, deps.clock.clone()),
            zonemd: zonemd::ZoneZonemd::new(&config),
            peers: Arc::new(ZonePeers::new(deps.clock.clone())),
            healer: heal::Healer::new(
                notifier
                    .as_ref()
                    .map(|n| n.targets().to_vec())
                    .unwrap_or_default(),
                deps.notify.clone(),
            ),
            published_ms: std::sync::atomic::AtomicU64::new(0),
            zone,
            config,
            journal,
            journal_reader,
            notifier,
            events: events::Events::default(),
            deps,
        }
    }

    pub fn clock(&self) -> &SharedClock {
        &self.deps.clock
    }

    /// Keeps the serial of a NOTIFY round owed in `path`, so that one
    /// cut short by a stop is finished at the next start.
    pub fn with_notify_owed(mut self, path: PathBuf) -> ZoneCore {
        self.notify_owed = self.notifier.as_ref().map(|_| path);
        self
    }

    /// At start: a round still owed for the version served now is
    /// planned at once.
    pub fn plan_owed_notify(&self) {
        let Some(path) = &self.notify_owed else {
            return;
        };
        let owed = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<NotifyOwed>(&text)
                .map_err(|e| tracing::warn!(zone = self.name(), "{}: {e}; ignored", path.display()))
                .ok(),
            Err(_) => None,
        };
        let served = self.zone.snapshot().map(|v| v.serial());
        if owed.is_some_and(|o| Some(Serial(o.serial)) == served) {
            tracing::info!(zone = self.name(), serial = ?served, "a NOTIFY round was cut short by the stop: sending it again");
            self.events
                .schedule(Event::NotifyOut, self.deps.clock.now());
        }
    }

    /// Records that a round is owed for `serial` (or none, once done).
    fn set_notify_owed(&self, serial: Option<Serial>) {
        if let Some(path) = &self.notify_owed {
            write_notify_owed(self.name(), path, serial);
        }
    }

    /// Plans a NOTIFY round to the secondaries `delay` from now (a round
    /// planned sooner stays); false when the zone has no NOTIFY targets.
    pub fn announce(&self) -> bool {
        let Some(n) = &self.notifier else {
            return false;
        };
        let delay = u64::try_from(n.delay().as_millis()).unwrap_or(u64::MAX);
        let at = self.deps.clock.now().saturating_add(delay);
        self.events.schedule(Event::NotifyOut, at);
        true
    }

    /// The NotifyOut event: one round for the version served now, until
    /// every target is done or a newer round is planned.
    pub async fn notify_round(&self) {
        let Some(n) = &self.notifier else {
            return;
        };
        // Written when the round starts, not on the publish path (which
        // must stay quick), and beside the first tries rather than before
        // them: its two fsyncs would delay every secondary. A stop within
        // `notify_delay_ms` of a change, or before the record is down,
        // leaves the secondaries to their REFRESH timer.
        let serving = self.zone.snapshot().map(|v| v.serial());
        let owed = self.notify_owed.clone().map(|path| {
            let zone = self.name().to_owned();
            tokio::task::spawn_blocking(move || write_notify_owed(&zone, &path, serving))
        });
        // A newer round planned ends this one, and so does the zone's
        // removal (its secondaries are told by the catalog or not at all).
        let superseded =
            || self.events.deadline(Event::NotifyOut).is_some() || self.events.is_retired();
        let done = n
            .round(
                &self.zone,
                self.deps.clock.as_ref(),
                &self.peers,
                superseded,
                self.events.planned(),
            )
            .await;
        if let Some(owed) = owed {
            let _ = owed.await;
        }
        // Owed no more, unless a newer version came meanwhile (its own
        // announcement wrote its serial).
        if done.is_some() && done == self.zone.snapshot().map(|v| v.serial()) {
            self.set_notify_owed(None);
        }
    }

    /// Publishes `version` (from `source`, for the log) and tells whoever
    /// `how` calls for. Every version a zone serves goes out through here,
    /// and only here: queries see it at once; the journal must already
    /// lead to it.
    pub fn publish(&self, version: Arc<ZoneVersion>, source: &str, how: Publication) {
        let old = self.zone.snapshot();
        self.zone.publish(version.clone());
        self.published_ms
            .store(self.deps.clock.now(), std::sync::atomic::Ordering::Relaxed);
        if how == Publication::New {
            self.announce();
            if !self.config.notify_csync.is_empty()
                && crate::csync::notify::csync_changed(old.as_deref(), &version)
            {
                self.events
                    .schedule(Event::CsyncNotify, self.deps.clock.now());
            }
            // Nobody following is not an error.
            let _ = self.deps.publishes.send(Published {
                origin: self.zone.origin().to_vec(),
                serial: version.serial(),
                at: self.deps.clock.now(),
            });
        }
        if how != Publication::Revived && self.dnssec.after_publish(source, version) {
            self.events
                .schedule(Event::DnssecCheck, self.deps.clock.now());
        }
    }

    pub fn journal_reader(&self) -> Option<&JournalReader> {
        self.journal_reader.as_ref()
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn zone(&self) -> &Arc<Zone> {
        &self.zone
    }

    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    pub fn journal(&self) -> Option<&SharedJournal> {
        self.journal.as_ref()
    }

    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }
}

impl std::ops::Deref for ManagedZone {
    type Target = ZoneCore;
    fn deref(&self) -> &ZoneCore {
        &self.core
    }
}

/// A configured zone of either role.
#[derive(Clone)]
pub enum Managed {
    Primary(Arc<ManagedZone>),
    Secondary(Arc<secondary::SecondaryZone>),
}

impl Managed {
    /// What both roles have.
    pub fn core(&self) -> &ZoneCore {
        match self {
            Managed::Primary(z) => z,
            Managed::Secondary(z) => z,
        }
    }

    pub fn name(&self) -> &str {
        self.core().name()
    }

    pub fn zone(&self) -> &Arc<Zone> {
        self.core().zone()
    }

    pub fn config(&self) -> &ZoneConfig {
        self.core().config()
    }

    pub fn journal(&self) -> Option<&SharedJournal> {
        self.core().journal()
    }

    pub fn journal_reader(&self) -> Option<&JournalReader> {
        self.core().journal_reader()
    }

    pub fn notifier(&self) -> Option<&Notifier> {
        self.core().notifier()
    }
}

/// The journal of a zone under `data_dir/journal/`, or none (logged).
pub fn zone_journal(server: &ServerConfig, zone: &str) -> Option<SharedJournal> {
    let path = server
        .data_dir
        .join("journal")
        .join(format!("{}.journal", file_stem(zone)));
    let limits = JournalLimits {
        max_bytes: server.journal_max_bytes,
        max_changesets: server.journal_max_changesets,
    };
    open_journal(zone, &path, limits, None)
}

/// The result of a load event, for the log and the control interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOutcome {
    pub kind: LoadKind,
    pub old_serial: Option<Serial>,
    pub serial: Option<Serial>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    Loaded,
    Unchanged,
    Refused,
    Failed,
}

impl LoadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadKind::Loaded => "loaded",
            LoadKind::Unchanged => "unchanged",
            LoadKind::Refused => "refused",
            LoadKind::Failed => "failed",
        }
    }
}

/// What the zone's last load left, for status reports.
#[derive(Debug, Clone, Default)]
pub struct LoadStatus {
    pub loaded_at: Option<SystemTime>,
    pub last_error: Option<String>,
}

/// One configured zone and its events.
pub struct ManagedZone {
    core: ZoneCore,
    state_path: PathBuf,
    /// Held for the whole of a load: one at a time per zone.
    loading: Mutex<LoadMemory>,
    status: Mutex<LoadStatus>,
    /// Loads asked for (SIGHUP, `ctl reload`) that the Load event has not
    /// run yet.
    load_asks: Mutex<Vec<LoadAsk>>,
    /// The zone's CSYNC parental agent (`[zone.csync]`), which holds the
    /// zone: weak, so neither keeps the other alive.
    agent: std::sync::OnceLock<std::sync::Weak<ParentAgent>>,
    /// UPDATE requests the Update event has not run yet.
    update_asks: Mutex<Vec<dynamic::UpdateAsk>>,
    /// Who may UPDATE the zone (`allow_update`).
    update_policy: crate::update::UpdatePolicy,
    /// The control transaction open (`ctl zone-begin`), if any.
    txn: Mutex<Option<crate::update::txn::Transaction>>,
}

/// One request for the Load event.
pub struct LoadAsk {
    /// Publish even a serial that went backwards (`ctl reload --force`).
    pub force: bool,
    /// Only if the zone's files changed (SIGHUP).
    pub if_changed: bool,
    /// Where the outcome goes (`ctl reload` waits for it).
    pub reply: Option<std::sync::mpsc::Sender<LoadOutcome>>,
}

/// What a load needs from the previous one.
#[derive(Default)]
struct LoadMemory {
    published: Option<PublishedState>,
    /// Files of the version being served, to tell whether a reload is due.
    files: Vec<(PathBuf, Option<SystemTime>)>,
    /// What a reload of a large file starts from (`loader::incremental`).
    image: Option<loader::incremental::FileImage>,
}

/// A primary's events: the checks and NOTIFY(CSYNC) after its loads.
impl EventZone for ManagedZone {
    fn core(&self) -> &ZoneCore {
        &self.core
    }

    fn handle_async(self: Arc<Self>, event: Event) -> Option<events::HandlerFuture> {
        match event {
            Event::NotifyOut => Some(Box::pin(async move { self.core.notify_round().await })),
            Event::HealNotify => Some(Box::pin(async move {
                events::heal_notify::handle(&self.core).await
            })),
            Event::CsyncScan => {
                let agent = self.agent.get().and_then(std::sync::Weak::upgrade)?;
                Some(Box::pin(async move { agent.on_event().await }))
            }
            _ => None,
        }
    }

    fn handle(&self, event: Event) {
        match event {
            // Without an agent (it is gone): nothing to scan.
            Event::CsyncScan => {}
            Event::Load => events::load::handle(self),
            Event::Update => events::update::handle(self),
            Event::Flush => events::flush::handle(self),
            Event::DnssecCheck => events::dnssec_check::handle(&self.core),
            Event::CsyncNotify => events::csync_notify::handle(&self.core),
            Event::NotifyOut
            | Event::HealNotify
            | Event::Expire
            | Event::Refresh
            | Event::Transfer
            | Event::Snapshot => {
                tracing::error!(
                    zone = self.name(),
                    event = event.name(),
                    "a secondary's event planned for a primary: ignored"
                );
            }
        }
    }
}

impl ManagedZone {
    /// Sets a zone up: opens (or creates) its journal and reads its state
    /// under `server.data_dir`. A journal or state that cannot be used is
    /// logged and replaced by none: the zone is still served, secondaries
    /// get AXFR instead of IXFR.
    pub fn new(
        zone: Arc<Zone>,
        config: ZoneConfig,
        server: &ServerConfig,
        notifier: Option<Notifier>,
        deps: ZoneDeps,
    ) -> ManagedZone {
        let stem = file_stem(&config.name);
        let journal_path = server
            .data_dir
            .join("journal")
            .join(format!("{stem}.journal"));
        let state_path = server.data_dir.join("state").join(format!("{stem}.toml"));
        let limits = JournalLimits {
            max_bytes: server.journal_max_bytes,
            max_changesets: server.journal_max_changesets,
        };
        let state_dir = state_path.parent().unwrap_or(&server.data_dir);
        let published = match std::fs::create_dir_all(state_dir)
            .map_err(crate::durable::FileError::io(state_dir))
            .and_then(|()| PublishedState::read(&state_path))
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(zone = %config.name, "state unreadable, starting afresh: {e}");
                None
            }
        };
        // Changes after the file's serial may be UPDATEs not flushed yet:
        // kept whatever the limits until the first load has replayed them.
        let floor = published.map(|p| p.served_serial);
        let journal = open_journal(&config.name, &journal_path, limits, floor);
        // Checked with the configuration; a rule that fails here allows
        // nothing rather than more.
        let update_policy = crate::update::UpdatePolicy::new(zone.origin(), &config.allow_update)
            .unwrap_or_else(|(i, e)| {
                tracing::error!(zone = %config.name, "allow_update[{i}]: {e}; UPDATE refused");
                crate::update::UpdatePolicy::default()
            });
        ManagedZone {
            core: ZoneCore::new(zone, config, journal, notifier, deps).with_notify_owed(
                server
                    .data_dir
                    .join("state")
                    .join(format!("{stem}.notify.toml")),
            ),
            state_path,
            loading: Mutex::new(LoadMemory {
                published,
                files: Vec::new(),
                image: None,
            }),
            status: Mutex::new(LoadStatus::default()),
            load_asks: Mutex::new(Vec::new()),
            agent: std::sync::OnceLock::new(),
            update_asks: Mutex::new(Vec::new()),
            update_policy,
            txn: Mutex::new(None),
        }
    }

    pub fn status(&self) -> LoadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Who may UPDATE the zone.
    pub fn update_policy(&self) -> &crate::update::UpdatePolicy {
        &self.update_policy
    }

    /// Whether the zone's files changed since the version served was
    /// loaded (or nothing is served).
    pub fn needs_reload(&self) -> bool {
        self.core.zone.snapshot().is_none()
            || self
                .loading
                .lock()
                .map(|m| loader::files_changed(&m.files))
                .unwrap_or(true)
    }

    /// Gives the zone its parental agent, whose scans are its CsyncScan
    /// events.
    pub fn set_agent(&self, agent: &Arc<ParentAgent>) {
        let _ = self.agent.set(Arc::downgrade(agent));
    }

    /// What every zone has.
    pub fn core(&self) -> &ZoneCore {
        &self.core
    }

    /// Plans the Load event for `ask`.
    pub fn ask_load(&self, ask: LoadAsk) {
        if let Ok(mut asks) = self.load_asks.lock() {
            asks.push(ask);
        }
        self.core
            .events
            .schedule(Event::Load, self.core.clock().now());
    }

    /// A load through the Load event, waiting for its outcome (blocking;
    /// `ctl reload`): it runs on the zone's data lane like every other
    /// load, never beside one.
    pub fn load_and_wait(&self, force: bool) -> LoadOutcome {
        let (reply, outcome) = std::sync::mpsc::channel();
        self.ask_load(LoadAsk {
            force,
            if_changed: false,
            reply: Some(reply),
        });
        outcome.recv().unwrap_or_else(|_| {
            self.failed(
                self.core.zone.snapshot().map(|v| v.serial()),
                "the zone's events are not running".into(),
            )
        })
    }

    /// The asks the Load event is to answer.
    pub(crate) fn take_load_asks(&self) -> Vec<LoadAsk> {
        self.load_asks
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }

    /// A load (blocking: reads files, fsyncs): at start-up, and as the
    /// Load event's work. `force` publishes a file whose serial went
    /// backwards.
    pub fn load(&self, force: bool) -> LoadOutcome {
        self.load_with_policy(force, self.core.config.serial_policy)
    }

    /// A load after zonesync itself changed the file (CSYNC): the serial
    /// must move even when the zone's policy is `keep`, which protects
    /// against an operator's forgotten bump, not against our own edits;
    /// `keep` then counts as `increment`.
    pub fn load_after_own_edit(&self) -> LoadOutcome {
        let policy = match self.core.config.serial_policy {
            SerialPolicy::Keep => SerialPolicy::Increment,
            other => other,
        };
        self.load_with_policy(false, policy)
    }

    fn load_with_policy(&self, force: bool, policy: SerialPolicy) -> LoadOutcome {
        let started = Instant::now();
        let Ok(mut memory) = self.loading.lock() else {
            return self.failed(None, "an earlier load panicked".into());
        };
        let old = self.core.zone.snapshot();
        let old_serial = old.as_ref().map(|v| v.serial());
        let opts = LoadOptions {
            include_anywhere: self.core.config.include_anywhere,
        };
        let Some(file) = self.core.config.file.as_deref() else {
            return self.failed(old_serial, "the zone has no file to load".into());
        };
        let copy = loader::incremental::copy_path(&self.state_path);
        let reload = loader::Reload {
            served: old.as_deref(),
            image: memory.image.as_ref(),
            copy: Some(&copy),
        };
        let loaded = match loader::load_zone_file_from(file, self.core.zone.origin(), &opts, reload)
        {
            Ok(l) => l,
            Err(e) => {
                for line in &e.errors {
                    tracing::error!(zone = self.name(), "{line}");
                }
                return self.failed(
                    old_serial,
                    format!("{} error(s) in the zone file", e.errors.len()),
                );
            }
        };
        for w in &loaded.warnings {
            tracing::warn!(zone = self.name(), "{w}");
        }
        let file_path = file;
        let file = FileContent {
            serial: loaded.version.serial(),
            digest: loaded.digest,
        };
        if let loader::LoadHow::Whole(Some(why)) = &loaded.how {
            tracing::debug!(zone = self.name(), "file parsed whole: {why}");
        }
        let how = match loaded.how {
            loader::LoadHow::Chunks { parsed, of } => format!("{parsed} of {of} chunks parsed"),
            loader::LoadHow::Whole(_) => "parsed whole".to_string(),
        };
        let now = self.core.clock().now_unix();
        // Changes made by UPDATE that the file does not hold yet: a file
        // edited meanwhile would drop them, so it is served only by force
        // (and then decided against the serial really served).
        let mut prev = memory.published;
        if dynamic::unflushed(prev.as_ref(), old_serial) {
            let edited =
                prev.is_some_and(|p| p.digest != file.digest || p.file_serial != file.serial);
            if edited && !force {
                let why = format!(
                    "{} was edited while changes made by UPDATE (up to serial {}) are not in it yet;                      reload refused so that neither is lost (`zonesync ctl reload {} --force` serves the file                      and drops those changes)",
                    file_path.display(),
                    old_serial.unwrap_or_default(),
                    self.name()
                );
                tracing::error!(zone = self.name(), "{why}");
                return self.outcome(LoadKind::Refused, old_serial, old_serial, Some(why));
            }
            if edited {
                tracing::warn!(
                    zone = self.name(),
                    "forced reload: changes made by UPDATE that were not flushed are dropped"
                );
            }
            if let (Some(p), Some(s)) = (prev.as_mut(), old_serial) {
                p.served_serial = s;
            }
        }
        let decision = load::decide(prev.as_ref(), old.is_some(), file, policy, force, now);
        let (serial, note) = match decision {
            Decision::Unchanged => {
                memory.files = loaded.files;
                memory.image = self.keep_image(loaded.image);
                if let Some(p) = memory.published.as_mut() {
                    if p.file_serial != file.serial {
                        p.file_serial = file.serial;
                        self.write_state(p);
                    }
                }
                tracing::info!(zone = self.name(), serial = ?old_serial, "zone unchanged");
                return self.outcome(LoadKind::Unchanged, old_serial, old_serial, None);
            }
            Decision::Refuse(why) => {
                tracing::error!(zone = self.name(), serial = ?old_serial, "{why}");
                return self.outcome(LoadKind::Refused, old_serial, old_serial, Some(why));
            }
            Decision::Publish { serial, note } => (serial, note),
        };
        if let Some(note) = &note {
            tracing::warn!(zone = self.name(), "{note}");
        }
        let image = loaded.image;
        let version = if serial == file.serial {
            loaded.version
        } else {
            loaded.version.with_serial(serial)
        };
        // Only asked when nothing is served (first load after a start).
        let continues_history = memory.published.is_some_and(|p| p.digest == file.digest);
        let version = match (&old, memory.published) {
            (None, Some(_)) if continues_history => self.replay_unflushed(version),
            (None, Some(p)) => {
                self.warn_dropped_unflushed(p.served_serial);
                version
            }
            _ => version,
        };
        let source = file_path.display().to_string();
        let version = match self.core.zonemd.prepare_load(&source, version) {
            Ok(v) => Arc::new(v),
            Err(why) => {
                tracing::error!(zone = self.name(), serial = %serial, "{why}");
                return self.failed(old_serial, why.to_string());
            }
        };
        // Checked as it will be served: a serial moved by the policy
        // changes the SOA, and its RRSIG then no longer verifies.
        if let Err(why) = self
            .core
            .dnssec
            .before_publish(&file_path.display().to_string(), &version)
        {
            return self.failed(old_serial, why.to_string());
        }
        let published = PublishedState {
            served_serial: serial,
            file_serial: file.serial,
            digest: file.digest,
        };
        // A restart finds the state it wrote last: rewriting it (two
        // fsyncs) for each of thousands of zones is what slowed start-up.
        if memory.published != Some(published) {
            self.write_state(&published);
        }
        self.record_change(old.as_deref(), &version, continues_history);
        if old.is_some() {
            // The file holds everything served now: nothing to keep for
            // a replay.
            if let Some(mut j) = self.core.journal.as_ref().and_then(|j| j.lock().ok()) {
                j.keep_from_serial(None);
            }
        }
        let records = version.record_count();
        // Beyond `serial` when changes made by UPDATE were replayed.
        let serial = version.serial();
        self.core
            .publish(version, &file_path.display().to_string(), Publication::New);
        memory.published = Some(published);
        memory.files = loaded.files;
        let ms = started.elapsed().as_millis() as u64;
        memory.image = self.keep_image(image);
        tracing::info!(
            zone = self.name(),
            %serial,
            old_serial = ?old_serial,
            records,
            ms,
            how,
            "zone loaded"
        );
        self.outcome(LoadKind::Loaded, old_serial, Some(serial), note)
    }

    /// Journals the change from `old` to `new`. Without an old version in
    /// memory (first load) the change cannot be computed: the journal is
    /// kept only when it continues to exactly this content, otherwise a new
    /// history starts.
    fn record_change(&self, old: Option<&ZoneVersion>, new: &ZoneVersion, continues: bool) {
        let Some(journal) = &self.core.journal else {
            return;
        };
        let Ok(mut journal) = journal.lock() else {
            return;
        };
        let result = match old {
            Some(old) if old.serial() != new.serial() => {
                let started = Instant::now();
                let change = journal::diff(old, new);
                let (removed, added) = (change.removed.len(), change.added.len());
                journal.append(&change).map(|()| {
                    tracing::info!(
                        zone = self.name(),
                        from = %change.from_serial,
                        to = %change.to_serial,
                        removed,
                        added,
                        ms = started.elapsed().as_millis() as u64,
                        "changeset journaled"
                    )
                })
            }
            Some(_) => Ok(()),
            None if continues && journal.last_serial() == Some(new.serial()) => Ok(()),
            None => {
                if !journal.is_empty() {
                    tracing::info!(
                        zone = self.name(),
                        "zone file changed while stopped: journal history restarts (older serials get AXFR)"
                    );
                }
                journal.clear()
            }
        };
        if let Err(e) = result {
            tracing::error!(
                zone = self.name(),
                "{e}; secondaries will get AXFR instead of IXFR"
            );
        }
    }

    /// The image of the file now served, for the next reload; none when
    /// its copy cannot be written (that reload is then whole).
    fn keep_image(
        &self,
        pending: Option<loader::incremental::Pending>,
    ) -> Option<loader::incremental::FileImage> {
        pending?
            .keep()
            .map_err(|e| {
                tracing::warn!(
                    zone = self.name(),
                    "cannot keep a copy of the zone file for reloads (the next is whole): {e}"
                )
            })
            .ok()
    }

    fn write_state(&self, state: &PublishedState) {
        if let Err(e) = state.write(&self.state_path) {
            tracing::error!(zone = self.name(), "cannot record the zone's state: {e}");
        }
    }

    fn failed(&self, old_serial: Option<Serial>, why: String) -> LoadOutcome {
        let keeps = match old_serial {
            Some(s) => format!("still serving serial {s}"),
            None => "zone not served (SERVFAIL) until it loads".into(),
        };
        tracing::error!(zone = self.name(), "zone load failed; {keeps}");
        self.outcome(
            LoadKind::Failed,
            old_serial,
            old_serial,
            Some(format!("{why}; {keeps}")),
        )
    }

    fn outcome(
        &self,
        kind: LoadKind,
        old_serial: Option<Serial>,
        serial: Option<Serial>,
        message: Option<String>,
    ) -> LoadOutcome {
        if let Ok(mut status) = self.status.lock() {
            match kind {
                LoadKind::Loaded => {
                    status.loaded_at = Some(self.core.clock().now_system());
                    status.last_error = None;
                }
                LoadKind::Unchanged => status.last_error = None,
                LoadKind::Refused | LoadKind::Failed => status.last_error = message.clone(),
            }
        }
        LoadOutcome {
            kind,
            old_serial,
            serial,
            message,
        }
    }
}

/// Records in `path` (atomically) that a NOTIFY round is owed for
/// `serial`, or removes the record (`None`).
fn write_notify_owed(zone: &str, path: &std::path::Path, serial: Option<Serial>) {
    let result = match serial {
        Some(serial) => toml::to_string(&NotifyOwed {
            serial: serial.get(),
        })
        .map_err(std::io::Error::other)
        .and_then(|text| crate::durable::write_atomic(path, text.as_bytes())),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    };
    if let Err(e) = result {
        tracing::warn!(zone, "{}: {e}", path.display());
    }
}

/// A file name for a zone: its name without the final dot ("root" for the
/// root). Zone names in the config are letters, digits, '-', '_' and dots,
/// so this is safe as a file name.
/// Every file a zone keeps under `data_dir` (journal, secondary copy,
/// state files, CSYNC state), whether or not it exists: what removing the
/// zone at run time deletes. The zone file of a primary is the
/// operator's, never among them.
pub fn zone_files(server: &ServerConfig, name: &str) -> Vec<PathBuf> {
    let stem = file_stem(name);
    let (dir, state) = (&server.data_dir, server.data_dir.join("state"));
    vec![
        dir.join("journal").join(format!("{stem}.journal")),
        dir.join("zones").join(format!("{stem}.snapshot")),
        state.join(format!("{stem}.toml")),
        state.join(format!("{stem}.secondary.toml")),
        state.join(format!("{stem}.notify.toml")),
        state.join(format!("{stem}.csync.toml")),
        state.join(format!("{stem}.csync-audit.log")),
        // A primary's copy of its zone file (loader::incremental).
        state.join(format!("{stem}.text")),
        state.join(format!("{stem}.text.next")),
    ]
}

pub fn file_stem(name: &str) -> String {
    match name.trim_end_matches('.').to_ascii_lowercase() {
        s if s.is_empty() => "root".into(),
        s => s,
    }
}

fn open_journal(
    zone: &str,
    path: &std::path::Path,
    limits: JournalLimits,
    floor: Option<Serial>,
) -> Option<SharedJournal> {
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::error!(
                zone,
                "cannot create {}: {e}; no journal, IXFR falls back to AXFR",
                dir.display()
            );
            return None;
        }
    }
    match Journal::open_keeping(path, limits, floor) {
        Ok((journal, warnings)) => {
            for w in warnings {
                tracing::warn!(zone, "{w}");
            }
            Some(Arc::new(Mutex::new(journal)))
        }
        Err(e) => {
            tracing::error!(zone, "{e}; no journal, IXFR falls back to AXFR");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::name::test_wire;

    fn version(serial: u32) -> Arc<ZoneVersion> {
        version_of(&format!("$ORIGIN example.com.\n@ 300 SOA ns host {serial} 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n"))
    }

    fn version_of(text: &str) -> Arc<ZoneVersion> {
        Arc::new(crate::zone::test_version("example.com", text))
    }

    #[test]
    fn only_new_versions_are_announced() {
        let clock = ManualClock::at(1_000_000);
        let deps = ZoneDeps::with_clock(clock.shared());
        let mut followed = deps.publishes.subscribe();
        let config: ZoneConfig =
            toml::from_str("name = \"example.com\"\nrole = \"primary\"").unwrap();
        let zone = Arc::new(Zone::new(&test_wire("example.com")).unwrap());
        let core = ZoneCore::new(zone.clone(), config, None, None, deps);

        core.publish(version(1), "disk", Publication::Restored);
        assert_eq!(zone.snapshot().map(|v| v.serial()), Some(Serial(1)));
        clock.advance(std::time::Duration::from_millis(250));
        core.publish(version(2), "a load", Publication::New);
        assert_eq!(zone.snapshot().map(|v| v.serial()), Some(Serial(2)));
        zone.withdraw();
        core.publish(version(2), "confirmed", Publication::Revived);
        assert_eq!(zone.snapshot().map(|v| v.serial()), Some(Serial(2)));

        let announced = followed.try_recv().expect("the new version was announced");
        assert_eq!(
            announced,
            Published {
                origin: test_wire("example.com"),
                serial: Serial(2),
                at: 1_000_250,
            }
        );
        assert!(
            followed.try_recv().is_err(),
            "restore and revival are not announced"
        );
    }

    #[test]
    fn a_new_csync_or_a_signed_version_plans_its_event() {
        let clock = ManualClock::at(5_000);
        let config: ZoneConfig = toml::from_str(
            "name = \"example.com\"\nrole = \"primary\"\nnotify_csync = [\"127.0.0.1:5399\"]",
        )
        .unwrap();
        let zone = Arc::new(Zone::new(&test_wire("example.com")).unwrap());
        let core = ZoneCore::new(
            zone,
            config,
            None,
            None,
            ZoneDeps::with_clock(clock.shared()),
        );
        let plain =
            "$ORIGIN example.com.\n@ 300 SOA ns host 1 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n";
        core.publish(version_of(plain), "t", Publication::New);
        assert_eq!(
            core.events.table(),
            events::EventTable::default(),
            "nothing to do"
        );
        let with_csync = format!("{plain}@ 300 CSYNC 1 3 A NS AAAA\n").replace("host 1", "host 2");
        core.publish(version_of(&with_csync), "t", Publication::New);
        assert_eq!(core.events.deadline(Event::CsyncNotify), Some(5_000));
        core.events.set(Event::CsyncNotify, None);
        let same_csync = with_csync.replace("host 2", "host 3");
        core.publish(version_of(&same_csync), "t", Publication::New);
        assert_eq!(
            core.events.deadline(Event::CsyncNotify),
            None,
            "CSYNC unchanged"
        );

        let signed = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dnssec/nsec.zone"),
        )
        .unwrap();
        core.publish(version_of(&signed), "t", Publication::Restored);
        assert_eq!(core.events.deadline(Event::DnssecCheck), Some(5_000));
        core.dnssec.check_waiting();
        core.events.set(Event::DnssecCheck, None);
        core.publish(version_of(&signed), "t", Publication::Revived);
        assert_eq!(
            core.events.deadline(Event::DnssecCheck),
            None,
            "a revival is not checked again"
        );
    }

    fn core_with_notify(dir: &std::path::Path, target: std::net::SocketAddr) -> ZoneCore {
        let config: ZoneConfig =
            toml::from_str("name = \"example.com\"\nrole = \"primary\"").unwrap();
        let zone = Arc::new(Zone::new(&test_wire("example.com")).unwrap());
        let notifier = Notifier::new(
            vec![crate::notify::NotifyTarget {
                addr: target,
                key: None,
            }],
            crate::notify::NotifySettings::default(),
        );
        ZoneCore::new(zone, config, None, Some(notifier), ZoneDeps::real())
            .with_notify_owed(dir.join("example.com.notify.toml"))
    }

    #[tokio::test]
    async fn a_notify_round_cut_short_by_a_stop_is_sent_at_the_next_start() {
        let dir = std::env::temp_dir().join(format!("zonesync-owed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = target.local_addr().unwrap();

        let before = core_with_notify(&dir, addr);
        before.publish(version(1), "t", Publication::New);
        assert!(before.events.deadline(Event::NotifyOut).is_some());
        // The round starts (taken out of the table, as the dispatcher
        // does), and the target never answers …
        before.events.set(Event::NotifyOut, None);
        let started =
            tokio::time::timeout(std::time::Duration::from_millis(200), before.notify_round());
        assert!(started.await.is_err(), "still trying");
        let owed = std::fs::read_to_string(dir.join("example.com.notify.toml")).unwrap();
        assert_eq!(owed.trim(), "serial = 1");
        // … and the server stops: the next start serves serial 1 again.
        let after = core_with_notify(&dir, addr);
        after.publish(version(1), "disk", Publication::Restored);
        assert_eq!(
            after.events.deadline(Event::NotifyOut),
            None,
            "a restore announces nothing"
        );
        after.plan_owed_notify();
        assert!(
            after.events.deadline(Event::NotifyOut).is_some(),
            "the owed round is planned"
        );

        // The first round's datagrams are not this round's.
        let mut stale = [0u8; 512];
        while let Ok(Ok(_)) = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            target.recv_from(&mut stale),
        )
        .await
        {}
        // The round completes (the target answers): nothing is owed.
        let answer = async {
            let mut buf = [0u8; 512];
            let (n, from) = target.recv_from(&mut buf).await.unwrap();
            buf[2] |= 0x80;
            target.send_to(&buf[..n], from).await.unwrap();
        };
        after.events.set(Event::NotifyOut, None);
        let ((), ()) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(after.notify_round(), answer)
        })
        .await
        .expect("the round ended");
        assert!(
            !dir.join("example.com.notify.toml").exists(),
            "owed no more"
        );

        // A copy at another serial owes nothing for it.
        before.publish(version(2), "t", Publication::New);
        let other = core_with_notify(&dir, addr);
        other.publish(version(3), "disk", Publication::Restored);
        other.plan_owed_notify();
        assert_eq!(other.events.deadline(Event::NotifyOut), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
