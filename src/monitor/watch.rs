//! The monitor's core: one task per zone runs `verify::check_zone` (every
//! nameserver, every address), turns each report into samples, events,
//! propagation times and alerts, keeps them in the store, and renders the
//! views the dashboard and `/metrics` show.
//!
//! Propagation: when the reference serial (the highest seen, or the
//! configured primary's) moves to a new serial, a change starts: at the
//! moment the primary published it when the monitor runs inside the
//! primary's process (the zone table is watched for that), else when the
//! serial was first seen. Each server's catch-up time is when it was first
//! seen serving that serial or a later one; while a change is spreading
//! the zone is checked every `fast_interval_ms` instead of every
//! `interval`, so the times are that precise.
//!
//! Alerts: a server that stays behind, lame, unreachable, or whose EDNS
//! EXPIRE left is low, for `alert_after` seconds gets one alert per
//! condition, and one recovery when the condition ends.

use super::alert::{Alert, Alerter};
use super::api::{
    ChangeView, DiagnosisView, EventView, HistoryPoint, HistoryView, MonitorView, PeersAnswer,
    ServerView, StatusView, ZoneView, NO_PEER_HISTORY,
};
use super::config::{MonitorConfig, MonitorConfigError};
use super::content::DiffCache;
use super::doctor::{ControlSide, PrimarySide};
use super::heal::{HealAsk, HealCheck, HealEpisode};
use super::prometheus::{Exposition, Kind};
use super::store::{Event, Propagation, Sample, Store};
use crate::exchange::Client;
use crate::peers::{diagnose, PeerView};
use crate::replication::heal::HealPlan;
use crate::serial::Serial;
use crate::verify::{self, Options, Row, RowStatus, ZoneReport, ZoneSpec};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Conditions that alert.
const OUT_OF_SYNC: &str = "out-of-sync";
const UNREACHABLE: &str = "unreachable";
const LAME: &str = "lame";
const EXPIRING: &str = "expiring";
const HEAL_FAILED: &str = "heal-failed";

/// What is remembered of one server address between checks.
#[derive(Debug, Clone, Default)]
struct ServerTrack {
    status: String,
    /// Since when each active condition holds (unix ms).
    conditions: BTreeMap<&'static str, u64>,
    /// Conditions an alert went out for (a recovery follows).
    alerted: BTreeSet<&'static str>,
    behind_since: Option<u64>,
    view: Option<ServerView>,
    /// Serial, status and time of the last sample stored.
    stored: Option<(Option<Serial>, String, u64)>,
    /// Why it is behind, lame or different, once that held `heal_after`.
    diagnosis: Option<DiagnosisView>,
    /// What is being done to bring it up to date.
    heal: Option<HealEpisode>,
}

#[derive(Debug, Default)]
struct ZoneState {
    servers: BTreeMap<String, ServerTrack>,
    /// The change being followed, or the last one.
    change: Option<Propagation>,
    /// Serials the primary in this process published, and when, the
    /// latest last.
    published: VecDeque<(Serial, u64)>,
    out_of_sync: bool,
    view: Option<ZoneView>,
    checks: u64,
    /// Diagnoses given, per (server, code), for `/metrics`: kept when a
    /// server goes (a counter never goes down).
    diagnoses: BTreeMap<(String, &'static str), u64>,
    /// Heal actions and results, per (server, action, result), for
    /// `/metrics`.
    heals: BTreeMap<(String, &'static str, &'static str), u64>,
    /// What this check asks of the primary for healing, carried out once
    /// the lock is released.
    asks: Vec<HealAsk>,
}

/// What the doctor read of the primary for one check: the zone's peer
/// report (`None`: no peer history) and the primary's own addresses.
#[derive(Debug, Default)]
struct Doctor {
    report: Option<crate::peers::PeerReport>,
    own: Vec<SocketAddr>,
    /// The side heals (the server the monitor runs in).
    heals: bool,
    /// The primary's heal plans for the rows being healed.
    plans: Vec<HealPlan>,
    /// What differs between us and each `different` row, when told.
    diffs: BTreeMap<SocketAddr, String>,
}

/// What a row is looked at with besides itself.
struct Look<'a> {
    doctor: &'a Doctor,
    verdicts: &'a [verify::Verdict],
}

/// One watched zone.
struct Watched {
    name: String,
    spec: ZoneSpec,
    options: Options,
    state: Mutex<ZoneState>,
    wake: tokio::sync::Notify,
    /// The `[[monitor.catalog]]` (its name) that lists it, if any.
    catalog: Option<String>,
    /// Set when its catalog no longer lists it: its task ends.
    retired: std::sync::atomic::AtomicBool,
    /// Its `primary_control`: where its peer history is read.
    control: Option<Arc<ControlSide>>,
    /// Its `different` rows' content diffs, one per row and serial.
    diffs: Arc<DiffCache>,
}

impl Watched {
    /// The addresses of the rows being healed.
    fn healing(&self) -> Vec<SocketAddr> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        state
            .servers
            .values()
            .filter_map(|t| Some(t.heal.as_ref()?.to))
            .collect()
    }

    /// The IPs of its rows at the last check, for the peer report.
    fn row_ips(&self) -> Vec<IpAddr> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        let addrs = state.view.iter().flat_map(|v| &v.servers);
        super::doctor::row_ips(addrs.map(|s| s.addr.as_str()))
    }
}

/// A server's ZONEMD as shown: its records, and what a transfer of the
/// zone said of it (the monitor transfers once per new ZONEMD).
fn zonemd_text(probe: &verify::probe::Probe) -> Option<String> {
    let records = probe.zonemd.as_ref().filter(|v| !v.text.is_empty())?;
    let mut text = records.text.join(" | ");
    match &probe.zonemd_transfer {
        Some(Ok(_)) => text.push_str(" (the zone transferred matches it)"),
        Some(Err(problem)) => text.push_str(&format!(
            " (the zone transferred does NOT match: {problem})"
        )),
        None => {}
    }
    Some(text)
}

/// A zone to watch, its last change read back from the store.
fn watched(
    store: &Store,
    zone: domain::base::Name<Vec<u8>>,
    ns: Vec<(String, std::net::SocketAddr)>,
    resolver: Option<std::net::SocketAddr>,
    port: u16,
    primary: Option<std::net::SocketAddr>,
    catalog: Option<String>,
) -> Watched {
    let name = verify::fqdn(&zone);
    let zonemd_checks = Arc::new(verify::probe::ZonemdChecks::default());
    let state = ZoneState {
        change: store.propagations(&name, 1).ok().and_then(|mut p| p.pop()),
        ..ZoneState::default()
    };
    Watched {
        name,
        spec: ZoneSpec { zone, ns },
        options: Options {
            resolver,
            parent_ns: Vec::new(),
            port,
            primary,
            max_lag: 0,
            records: Vec::new(),
            axfr_check: false,
            zonemd_checks: Some(zonemd_checks),
        },
        state: Mutex::new(state),
        wake: tokio::sync::Notify::new(),
        catalog,
        retired: std::sync::atomic::AtomicBool::new(false),
        control: None,
        diffs: Arc::new(DiffCache::default()),
    }
}

/// What the writer thread puts in the store.
enum Write {
    Samples(Vec<Sample>),
    Event(Event),
    Propagation(Propagation),
}

/// Samples are committed at most once a second, all zones together: a
/// commit is an fsync, and one per check (100 a second for 1,000 zones
/// every 10 s) wrote 13.5 GB an hour to store 46 kB (bench/monitor.sh).
/// Events and propagations, rare and worth keeping, are committed as
/// they come. The store blocks, so this is a thread, not a task. A crash
/// loses at most the last second of samples.
const SAMPLE_COMMIT_EVERY: Duration = Duration::from_secs(1);

fn spawn_writer(store: Arc<Store>) -> std::sync::mpsc::Sender<Write> {
    let (tx, rx) = std::sync::mpsc::channel::<Write>();
    let spawned = std::thread::Builder::new()
        .name("monitor-store".into())
        .spawn(move || {
            let mut pending: Vec<Sample> = Vec::new();
            let mut since = std::time::Instant::now();
            loop {
                let got = rx.recv_timeout(SAMPLE_COMMIT_EVERY);
                let closed = matches!(got, Err(std::sync::mpsc::RecvTimeoutError::Disconnected));
                let result = match got {
                    Ok(Write::Samples(mut s)) => {
                        if pending.is_empty() {
                            since = std::time::Instant::now();
                        }
                        pending.append(&mut s);
                        Ok(())
                    }
                    Ok(Write::Event(e)) => store.add_event(&e),
                    Ok(Write::Propagation(p)) => store.put_propagation(&p),
                    Err(_) => Ok(()),
                };
                if let Err(e) = result {
                    tracing::warn!("monitor store: {e}");
                }
                if !pending.is_empty() && (closed || since.elapsed() >= SAMPLE_COMMIT_EVERY) {
                    if let Err(e) = store.add_samples(&pending) {
                        tracing::warn!(samples = pending.len(), "monitor store: {e}");
                    }
                    pending.clear();
                }
                if closed {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("monitor: cannot start the store's writer thread: {e}");
    }
    tx
}

/// A server whose serial and status do not change is stored every this
/// often (the chart needs a point now and then; every check would be
/// 30 times the data for nothing).
const SAMPLE_AT_LEAST_EVERY_MS: u64 = 300_000;

/// The monitor: what it watches, its store, its alerts.
pub struct Monitor {
    config: MonitorConfig,
    store: Arc<Store>,
    writer: Mutex<std::sync::mpsc::Sender<Write>>,
    client: Arc<Client>,
    /// Every watched zone: the configured ones, then catalogs' members as
    /// they come (replaced whole on a change; read by cloning the list).
    zones: std::sync::RwLock<Vec<Arc<Watched>>>,
    resolver: Option<std::net::SocketAddr>,
    alerter: Alerter,
    /// The server's own metrics when the monitor runs inside `serve`.
    server_metrics: Mutex<Option<Box<dyn Fn() -> String + Send + Sync>>>,
    /// The server's side when the monitor runs inside `serve`.
    primary: Mutex<Option<Arc<dyn PrimarySide>>>,
}

/// Why the monitor cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Config(#[from] MonitorConfigError),
    #[error("{}: {error}", dir.display())]
    DataDir {
        dir: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("binding the dashboard {addr}: {error}")]
    Bind {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("SIGTERM handler: {0}")]
    Signal(std::io::Error),
}

impl Monitor {
    /// Opens the store and sets the zones up (nothing runs yet).
    pub fn new(config: MonitorConfig) -> Result<Arc<Monitor>, MonitorError> {
        config.check()?;
        let path = config
            .database
            .clone()
            .unwrap_or_else(|| "monitor.redb".into());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| MonitorError::DataDir {
                dir: dir.to_owned(),
                error,
            })?;
        }
        let store = Arc::new(Store::open(&path)?);
        let resolver = config.resolver.or_else(verify::system_resolver);
        let mut zones = Vec::new();
        for (index, z) in config.zones.iter().enumerate() {
            let zone = verify::parse_zone(&z.name)
                .map_err(|error| MonitorConfigError::ZoneName { index, error })?;
            let ns =
                z.ns.iter()
                    .map(|n| verify::parse_ns(n, z.port))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| MonitorConfigError::Server { index, error })?;
            let records = z
                .record_specs()
                .map_err(|error| MonitorConfigError::Records { index, error })?;
            let w = watched(&store, zone, ns, resolver, z.port, z.primary, None);
            let key = match &z.primary_control_key {
                Some(name) => Some(config.control_key(name).map_err(|problem| {
                    MonitorConfigError::ControlKey {
                        name: name.clone(),
                        problem,
                    }
                })?),
                None => None,
            };
            let control = z
                .primary_control
                .map(|c| Arc::new(ControlSide::new(c, key.clone())));
            let options = Options {
                records,
                ..w.options
            };
            zones.push(Arc::new(Watched {
                control,
                options,
                ..w
            }));
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        Ok(Arc::new(Monitor {
            writer: Mutex::new(spawn_writer(store.clone())),
            alerter: Alerter::new(config.alerts.clone()),
            client: Client::new(timeout, 2, false, 256),
            store,
            zones: std::sync::RwLock::new(zones),
            resolver,
            config,
            server_metrics: Mutex::new(None),
            primary: Mutex::new(None),
        }))
    }

    /// Starts the zones' tasks and the pruning of old history.
    pub fn start(self: &Arc<Self>) {
        // 10 ms apart, within one interval: 1,000 zones started at once
        // came back in one burst every interval for good.
        let interval_ms = u64::from(self.config.interval) * 1000;
        for (i, z) in self.zones().into_iter().enumerate() {
            let monitor = self.clone();
            let offset = Duration::from_millis((i as u64 * 10) % interval_ms.max(1));
            tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                monitor.watch(z).await
            });
        }
        for catalog in self.config.catalogs.clone() {
            let monitor = self.clone();
            tokio::spawn(async move { monitor.follow_catalog(catalog).await });
        }
        let monitor = self.clone();
        tokio::spawn(async move {
            loop {
                let keep = u64::from(monitor.config.retention_days) * 86_400_000;
                let cut = now_ms().saturating_sub(keep);
                let store = monitor.store.clone();
                match tokio::task::spawn_blocking(move || store.prune(cut)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(removed = n, "monitor history pruned"),
                    Ok(Err(e)) => tracing::warn!("monitor history not pruned: {e}"),
                    _ => {}
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        });
    }

    /// Inside `serve`: follows the zones' publications, so a change to a
    /// watched zone starts that change's clock at the moment it was
    /// published, and the zone is checked at once.
    pub fn follow_publishes(
        self: &Arc<Self>,
        publishes: broadcast::Receiver<crate::replication::Published>,
    ) {
        self.follow(publishes, "publications", Monitor::published);
    }

    fn published(&self, published: crate::replication::Published) {
        let Some(zone) = self.find_origin(&published.origin) else {
            return;
        };
        if let Ok(mut s) = zone.state.lock() {
            s.published.push_back((published.serial, published.at));
            while s.published.len() > 16 {
                s.published.pop_front();
            }
        }
        zone.wake.notify_one();
    }

    /// Inside `serve`: follows the transfers served to peers
    /// (`ZoneDeps::peer_news`), so a secondary's catch-up is measured
    /// right after it received the zone, not at the next check.
    pub fn follow_peer_news(self: &Arc<Self>, news: broadcast::Receiver<crate::peers::PeerNews>) {
        self.follow(news, "transfer news", Monitor::peer_news);
    }

    /// Checks the zone at once when the peer is one of its rows: any other
    /// client (this monitor's own transfers, someone running AXFR in a
    /// loop) must not make the monitor query every server as often.
    fn peer_news(&self, news: crate::peers::PeerNews) {
        let Some(zone) = self.find_origin(&news.origin) else {
            return;
        };
        if zone.row_ips().contains(&news.ip) {
            zone.wake.notify_one();
        }
    }

    /// Hands each message of `rx` to `each` until the channel closes; a
    /// burst that overflowed it is logged and skipped.
    fn follow<T: Clone + Send + 'static>(
        self: &Arc<Self>,
        mut rx: broadcast::Receiver<T>,
        what: &'static str,
        each: fn(&Monitor, T),
    ) {
        use broadcast::error::RecvError;
        let monitor = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(message) => each(&monitor, message),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "monitor: {what} missed (too many at once)");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// The watched zone with this apex (wire format, any case).
    fn find_origin(&self, origin: &[u8]) -> Option<Arc<Watched>> {
        self.zones().into_iter().find(|z| {
            crate::config::parse_zone_name(&z.name).is_ok_and(|o| o.eq_ignore_ascii_case(origin))
        })
    }

    /// Watches every member of `catalog`: transfers the catalog from its
    /// primary every `interval` and starts or ends the members' watches
    /// as it changes (a catalog that cannot be read leaves them as they
    /// are).
    async fn follow_catalog(self: Arc<Self>, catalog: super::config::WatchedCatalog) {
        let interval = Duration::from_secs(u64::from(self.config.interval));
        let ns: Vec<(String, std::net::SocketAddr)> = catalog
            .ns
            .iter()
            .filter_map(|n| verify::parse_ns(n, catalog.port).ok())
            .collect();
        loop {
            match read_catalog(&catalog).await {
                Ok(members) => self.set_members(&catalog, &ns, members),
                Err(e) => tracing::warn!(catalog = %catalog.name, "monitor: catalog not read: {e}"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Makes the watched members of `catalog` exactly `members`.
    fn set_members(
        self: &Arc<Self>,
        catalog: &super::config::WatchedCatalog,
        ns: &[(String, std::net::SocketAddr)],
        members: Vec<domain::base::Name<Vec<u8>>>,
    ) {
        let mut started = Vec::new();
        {
            let mut zones = match self.zones.write() {
                Ok(z) => z,
                Err(p) => p.into_inner(),
            };
            let wanted: BTreeSet<String> = members.iter().map(verify::fqdn).collect();
            zones.retain(|z| {
                let gone = z.catalog.as_deref() == Some(catalog.name.as_str())
                    && !wanted.contains(&z.name);
                if gone {
                    z.retired.store(true, std::sync::atomic::Ordering::SeqCst);
                    z.wake.notify_one();
                    tracing::info!(catalog = %catalog.name, zone = %z.name, "monitor: member no longer watched");
                }
                !gone
            });
            for zone in members {
                let name = verify::fqdn(&zone);
                if zones.iter().any(|z| z.name.eq_ignore_ascii_case(&name)) {
                    continue;
                }
                let w = Arc::new(watched(
                    &self.store,
                    zone,
                    ns.to_vec(),
                    self.resolver,
                    catalog.port,
                    Some(catalog.primary),
                    Some(catalog.name.clone()),
                ));
                tracing::info!(catalog = %catalog.name, zone = %w.name, "monitor: member watched");
                zones.push(w.clone());
                started.push(w);
            }
        }
        for w in started {
            let monitor = self.clone();
            tokio::spawn(async move { monitor.watch(w).await });
        }
    }

    /// Adds the server's own metrics to `/metrics`.
    pub fn set_server_metrics(&self, f: Box<dyn Fn() -> String + Send + Sync>) {
        if let Ok(mut m) = self.server_metrics.lock() {
            *m = Some(f);
        }
    }

    /// Inside `serve`: the server's side (its peer histories, addresses,
    /// versions), read for zones without a `primary_control`.
    pub fn set_primary(&self, side: Arc<dyn PrimarySide>) {
        if let Ok(mut p) = self.primary.lock() {
            *p = Some(side);
        }
    }

    fn primary(&self) -> Option<Arc<dyn PrimarySide>> {
        self.primary.lock().ok().and_then(|p| p.clone())
    }

    async fn watch(&self, zone: Arc<Watched>) {
        loop {
            if zone.retired.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let report = verify::check_zone(&self.client, &zone.options, &zone.spec).await;
            // One time for the doctor and the absorb: a row absorb finds
            // due for a diagnosis is one the doctor read the primary for
            // (else it would be told "no peer history" for one check).
            let now = now_ms();
            // Read before the state lock is taken, never under it.
            let doctor = self.doctor(&zone, &report, now).await;
            let (spreading, asks) = self.absorb(&zone, &report, &doctor, now);
            self.heal(&zone, asks).await;
            let pause = if spreading {
                Duration::from_millis(self.config.fast_interval_ms)
            } else {
                Duration::from_secs(u64::from(self.config.interval))
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = zone.wake.notified() => {}
            }
        }
    }

    /// The primary's side for this check, when a row is behind, lame or
    /// different and a condition held `heal_after` (else nothing is
    /// asked: a `primary_control` is not asked every fast check of a
    /// change spreading normally). On a blocking thread: a `ControlSide`
    /// waits for an HTTP exchange.
    async fn doctor(&self, zone: &Watched, report: &ZoneReport, now: u64) -> Doctor {
        let ailing = report.rows.iter().any(|r| {
            matches!(
                r.status,
                RowStatus::Behind | RowStatus::Lame | RowStatus::Different
            )
        }) && self.diagnosis_due(zone, now);
        let healing = zone.healing();
        let side: Option<Arc<dyn PrimarySide>> = match &zone.control {
            Some(c) => Some(c.clone()),
            None => self.primary(),
        };
        let Some(side) = side.filter(|_| ailing || !healing.is_empty()) else {
            return Doctor::default();
        };
        let name = zone.name.clone();
        let addrs: Vec<String> = report
            .rows
            .iter()
            .map(|r| r.target.addr.to_string())
            .collect();
        let extra = super::doctor::row_ips(addrs.iter().map(String::as_str));
        let different: Vec<Different> = report
            .rows
            .iter()
            .filter(|r| r.status == RowStatus::Different)
            .filter_map(|r| {
                Some(Different {
                    addr: r.target.addr,
                    primary: r.target.sources.contains(&verify::Source::Primary),
                    serial: r.serial()?,
                    records: r.probe.records.clone(),
                })
            })
            .collect();
        let cache = zone.diffs.clone();
        cache.keep(&different.iter().map(|d| d.addr).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || {
            let own = side.own_addresses();
            let diffs = content_diffs(side.as_ref(), &name, &different, &own, &cache);
            Doctor {
                report: side.peers(&name, &extra),
                own,
                heals: side.heals(),
                plans: healing
                    .iter()
                    .filter_map(|to| side.heal_plan(&name, *to))
                    .collect(),
                diffs,
            }
        })
        .await
        .unwrap_or_default()
    }

    /// Takes one report in, with what the doctor read; whether a change
    /// is still spreading (or a row being healed), and what to ask of
    /// the primary for healing.
    fn absorb(
        &self,
        zone: &Watched,
        report: &ZoneReport,
        doctor: &Doctor,
        now: u64,
    ) -> (bool, Vec<HealAsk>) {
        let look = Look {
            doctor,
            verdicts: &report.verdicts,
        };
        let Ok(mut state) = zone.state.lock() else {
            return (false, Vec::new());
        };
        state.checks += 1;
        let mut events = Vec::new();
        let reference = report.reference.as_ref().map(|r| r.serial);
        let spreading = self.follow_change(zone, &mut state, report, reference, now, &mut events);
        let mut samples = Vec::new();
        let mut servers = Vec::new();
        let mut seen = BTreeSet::new();
        for row in &report.rows {
            let label = label(row);
            seen.insert(label.clone());
            let view = self.server_view(zone, &mut state, row, &look, now, &mut events);
            let track = state.servers.entry(label.clone()).or_default();
            let unchanged = track.stored.as_ref().is_some_and(|(serial, status, at)| {
                *serial == view.serial
                    && *status == view.status
                    && now.saturating_sub(*at) < SAMPLE_AT_LEAST_EVERY_MS
            });
            if unchanged {
                servers.push(view);
                continue;
            }
            track.stored = Some((view.serial, view.status.clone(), now));
            samples.push(Sample {
                zone: zone.name.clone(),
                server: label,
                time_ms: now,
                serial: view.serial,
                status: view.status.clone(),
                rtt_ms: view.rtt_ms,
                expire_left: view.expire_left,
                detail: view.detail.clone(),
            });
            servers.push(view);
        }
        // A server no longer listed (discovery changed) is forgotten, and
        // so is its healing.
        let gone: Vec<SocketAddr> = state
            .servers
            .iter()
            .filter(|(k, _)| !seen.contains(*k))
            .filter_map(|(_, t)| Some(t.heal.as_ref()?.to))
            .collect();
        state
            .asks
            .extend(gone.into_iter().map(|to| HealAsk::Stop { to }));
        state.servers.retain(|k, _| seen.contains(k));
        let healing = state.servers.values().any(|t| t.heal.is_some());
        let asks = std::mem::take(&mut state.asks);
        let zone_state = zone_state(&servers);
        let out_of_sync = zone_state == "out-of-sync";
        if out_of_sync != state.out_of_sync {
            state.out_of_sync = out_of_sync;
            events.push(event(
                zone,
                now,
                if out_of_sync {
                    "mismatch-began"
                } else {
                    "mismatch-ended"
                },
                None,
                match reference {
                    Some(r) if out_of_sync => format!("not every server serves serial {r}"),
                    Some(r) => format!("every server serves serial {r}"),
                    None => String::new(),
                },
            ));
        }
        let problems = report.verdicts.iter().map(|v| v.message.clone()).collect();
        state.view = Some(ZoneView {
            zone: zone.name.clone(),
            state: zone_state.into(),
            reference_serial: reference,
            last_check_ms: Some(now),
            servers,
            last_change: state.change.as_ref().map(change_view),
            problems,
        });
        drop(state);
        self.write(Write::Samples(samples));
        for e in events {
            self.write(Write::Event(e));
        }
        (spreading || healing, asks)
    }

    /// Carries out a check's heal asks on the primary's side, on a
    /// blocking thread (as the doctor's reads); a refusal is an event.
    async fn heal(&self, zone: &Watched, asks: Vec<HealAsk>) {
        if asks.is_empty() {
            return;
        }
        let side: Option<Arc<dyn PrimarySide>> = match &zone.control {
            Some(c) => Some(c.clone()),
            None => self.primary(),
        };
        let name = zone.name.clone();
        let config = self.config.clone();
        let done = tokio::task::spawn_blocking(move || {
            super::heal::ask(side.as_deref(), &config, &name, &asks)
        })
        .await
        .unwrap_or_default();
        let now = now_ms();
        let mut events = Vec::new();
        if let Ok(mut state) = zone.state.lock() {
            for asked in done {
                let (to, detail, count) = match &asked {
                    super::heal::Asked::NotifyRefused { to, error } => (
                        *to,
                        Some(format!("NOTIFY to {to} not planned: {error}")),
                        None,
                    ),
                    super::heal::Asked::Control { to, action, result } => {
                        let label = super::heal::action_label(*action);
                        let outcome = if result.is_ok() { "queued" } else { "failed" };
                        let track = state
                            .servers
                            .values_mut()
                            .find(|t| t.heal.as_ref().is_some_and(|e| e.to == *to));
                        let detail =
                            track.and_then(|t| super::heal::answered(&mut t.heal, *action, result));
                        (*to, detail, Some((label, outcome)))
                    }
                };
                let label = state
                    .servers
                    .iter()
                    .find(|(_, t)| t.heal.as_ref().is_some_and(|e| e.to == to))
                    .map(|(l, _)| l.clone());
                if let (Some(label), Some((action, result))) = (&label, count) {
                    *state
                        .heals
                        .entry((label.clone(), action, result))
                        .or_insert(0) += 1;
                }
                if let Some(detail) = detail {
                    events.push(event(zone, now, "heal", label.as_deref(), detail));
                }
            }
        }
        for e in events {
            self.write(Write::Event(e));
        }
    }

    /// Starts or advances the propagation of the reference serial.
    fn follow_change(
        &self,
        zone: &Watched,
        state: &mut ZoneState,
        report: &ZoneReport,
        reference: Option<Serial>,
        now: u64,
        events: &mut Vec<Event>,
    ) -> bool {
        let Some(reference) = reference else {
            return false;
        };
        let newer = state
            .change
            .as_ref()
            .is_none_or(|c| reference.is_after(c.serial));
        if newer {
            let published = state.published.iter().rev().find(|p| p.0 == reference);
            let (started, origin) = match published {
                Some(&(_, t)) => (t, "published"),
                None => (now, "first-seen"),
            };
            // The first check after a start sees the zone as it is: that
            // is no change to time.
            let first_look = state.checks == 1 && state.change.is_none();
            let mut change = Propagation {
                zone: zone.name.clone(),
                serial: reference,
                started_ms: started,
                origin: origin.into(),
                caught_up: BTreeMap::new(),
                complete_ms: None,
            };
            if first_look && origin == "first-seen" {
                change.complete_ms = Some(now);
            } else {
                events.push(event(
                    zone,
                    now,
                    "change-seen",
                    None,
                    format!("serial {reference} ({origin})"),
                ));
            }
            state.change = Some(change);
        }
        let Some(change) = state.change.as_mut() else {
            return false;
        };
        if change.complete_ms.is_some() && !newer {
            return false;
        }
        let mut updated = newer;
        for row in &report.rows {
            let Some(s) = row.serial() else { continue };
            if s >= change.serial {
                let label = label(row);
                if !change.caught_up.contains_key(&label) {
                    // Never before the change started (a server seen with
                    // it before the primary's publish was recorded).
                    change.caught_up.insert(label, now.max(change.started_ms));
                    updated = true;
                }
            }
        }
        let all = !report.rows.is_empty()
            && report
                .rows
                .iter()
                .all(|r| change.caught_up.contains_key(&label(r)));
        if all && change.complete_ms.is_none() {
            let done = change.caught_up.values().copied().max().unwrap_or(now);
            change.complete_ms = Some(done);
            updated = true;
            events.push(event(
                zone,
                now,
                "change-complete",
                None,
                format!(
                    "serial {} on every server after {} ms",
                    change.serial,
                    done.saturating_sub(change.started_ms)
                ),
            ));
        }
        if updated {
            self.write(Write::Propagation(change.clone()));
        }
        change.complete_ms.is_none()
    }

    /// The row as shown, with its conditions, events and alerts.
    fn server_view(
        &self,
        zone: &Watched,
        state: &mut ZoneState,
        row: &Row,
        look: &Look<'_>,
        now: u64,
        events: &mut Vec<Event>,
    ) -> ServerView {
        let label = label(row);
        let label = label.as_str();
        let seen = row.probe.result.as_ref().ok();
        let expire_left = seen.and_then(|s| s.expire);
        let expiring = expire_left.is_some_and(|e| e < self.config.expire_warning);
        let mut status = row.status.as_str().to_string();
        if status == RowStatus::Ok.as_str() && expiring {
            status = EXPIRING.into();
        }
        let detail = match &row.probe.result {
            Err(verify::probe::Failure::Unreachable(why) | verify::probe::Failure::Lame(why)) => {
                Some(why.clone())
            }
            Ok(_) => None,
        };
        let catch_up_ms = state.change.as_ref().and_then(|c| {
            c.caught_up
                .get(label)
                .map(|t| t.saturating_sub(c.started_ms))
        });
        let reference = state.change.as_ref().map(|c| c.serial);
        let started_ms = state.change.as_ref().map(|c| c.started_ms);
        let track = state.servers.entry(label.to_string()).or_default();
        let mut active: BTreeSet<&'static str> = [
            (
                matches!(row.status, RowStatus::Behind | RowStatus::Different),
                OUT_OF_SYNC,
            ),
            (row.status == RowStatus::Unreachable, UNREACHABLE),
            (row.status == RowStatus::Lame, LAME),
            (expiring, EXPIRING),
        ]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect();
        if track.status != status {
            let before = std::mem::replace(&mut track.status, status.clone());
            let kind = match status.as_str() {
                "unreachable" | "lame" | "expiring" => Some(status.as_str()),
                "ok" if matches!(before.as_str(), "unreachable" | "lame" | "expiring") => {
                    Some("recovered")
                }
                _ => None,
            };
            if let Some(kind) = kind {
                events.push(event(
                    zone,
                    now,
                    kind,
                    Some(label),
                    detail
                        .clone()
                        .unwrap_or_else(|| format!("{before} → {status}")),
                ));
            }
        }
        track.behind_since = if active.contains(OUT_OF_SYNC) {
            track.behind_since.or(Some(now))
        } else {
            None
        };
        for &c in &active {
            track.conditions.entry(c).or_insert(now);
        }
        let found = self.row_diagnosis(zone, row, track, look, (reference, started_ms), now);
        let healed = self.heal_step(row, track, look, found.as_ref(), reference, now);
        track.diagnosis = match (found, track.diagnosis.take()) {
            (None, _) => None,
            (Some(d), Some(before)) if before.code == d.code.name() => Some(DiagnosisView {
                message: d.message,
                ..before
            }),
            (Some(d), _) => {
                let code = d.code.name();
                *state
                    .diagnoses
                    .entry((label.to_string(), code))
                    .or_insert(0) += 1;
                events.push(event(
                    zone,
                    now,
                    "diagnosis",
                    Some(label),
                    format!("{code}: {}", d.message),
                ));
                Some(DiagnosisView {
                    code: code.into(),
                    message: d.message,
                    since_ms: now,
                })
            }
        };
        let diagnosis = track.diagnosis.clone();
        let after = u64::from(self.config.alert_after) * 1000;
        let heal_failed = apply_heal(zone, state, label, healed, (now, after), events);
        if heal_failed.is_some() {
            active.insert(HEAL_FAILED);
        }
        let track = state.servers.entry(label.to_string()).or_default();
        let notice = |state: &str, condition: &str, since: u64, detail: String| Alert {
            state: state.into(),
            zone: zone.name.clone(),
            server: label.into(),
            condition: condition.into(),
            since_ms: since,
            time_ms: now,
            serial: row.serial(),
            reference_serial: reference,
            detail,
            diagnosis: None,
        };
        for &c in &active {
            let since = *track.conditions.entry(c).or_insert(now);
            if now.saturating_sub(since) >= after && track.alerted.insert(c) {
                let why = match (c, &heal_failed) {
                    (HEAL_FAILED, Some(tried)) => tried.clone(),
                    _ => detail
                        .clone()
                        .unwrap_or_else(|| format!("{c} since {} s", (now - since) / 1000)),
                };
                // The diagnosis, when there is one, says more than the
                // condition's own text.
                let alert = match diagnosis.clone().filter(|_| c == OUT_OF_SYNC || c == LAME) {
                    Some(d) => Alert {
                        detail: d.message.clone(),
                        diagnosis: Some(d),
                        ..notice("alert", c, since, why)
                    },
                    None => notice("alert", c, since, why),
                };
                self.alerter.send(alert);
                events.push(event(
                    zone,
                    now,
                    "alert",
                    Some(label),
                    format!("{c} for {} s", (now - since) / 1000),
                ));
            }
        }
        let ended: Vec<&'static str> = track
            .conditions
            .keys()
            .copied()
            .filter(|c| !active.contains(c))
            .collect();
        for c in ended {
            let since = track.conditions.remove(c).unwrap_or(now);
            if track.alerted.remove(c) {
                let why = format!("{c} ended after {} s", now.saturating_sub(since) / 1000);
                self.alerter.send(notice("recovered", c, since, why));
                events.push(event(
                    zone,
                    now,
                    "recovery",
                    Some(label),
                    format!("{c} ended"),
                ));
            }
        }
        let view = ServerView {
            server: label.into(),
            ns: row.target.name.clone(),
            addr: row.target.addr.to_string(),
            serial: row.serial(),
            lag: row.lag,
            status,
            rtt_ms: seen.map(|s| s.rtt.as_secs_f64() * 1000.0),
            behind_since_ms: track.behind_since,
            catch_up_ms,
            expire_left,
            detail,
            zonemd: zonemd_text(&row.probe),
            diagnosis,
        };
        track.view = Some(view.clone());
        view
    }

    /// Some row's out-of-sync or lame condition has held `heal_after`.
    /// The state lock is taken for this look only.
    fn diagnosis_due(&self, zone: &Watched, now: u64) -> bool {
        let after = u64::from(self.config.heal_after) * 1000;
        let Ok(state) = zone.state.lock() else {
            return false;
        };
        state.servers.values().any(|t| {
            [OUT_OF_SYNC, LAME].iter().any(|c| {
                t.conditions
                    .get(c)
                    .is_some_and(|&since| now.saturating_sub(since) >= after)
            })
        })
    }

    /// One check of the row's healing (`monitor::heal`): what it found
    /// and what to ask.
    fn heal_step(
        &self,
        row: &Row,
        track: &mut ServerTrack,
        look: &Look<'_>,
        diagnosis: Option<&diagnose::Diagnosis>,
        reference: Option<Serial>,
        now: u64,
    ) -> super::heal::HealOutcome {
        let doctor = look.doctor;
        let wants =
            diagnosis.is_some_and(|d| d.heal == Some(crate::peers::report::HealKind::Notify));
        if wants && self.config.heal && !doctor.heals && doctor.report.is_some() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::info!("monitor: diagnoses only: healing (NOTIFY) needs the monitor inside the primary ([monitor] in serve)");
            });
        }
        // Nothing is sent to a server that does not answer, nor when the
        // operator turned healing off.
        let answers = self.config.heal && matches!(row.status, RowStatus::Behind | RowStatus::Lame);
        let ip = crate::peers::fold(row.target.addr.ip());
        let peer = doctor
            .report
            .as_ref()
            .and_then(|r| r.peers.iter().find(|p| crate::peers::fold(p.address) == ip));
        let check = HealCheck {
            to: row.target.addr,
            served: row.serial(),
            reference,
            diagnosis,
            peer,
            plan: doctor.plans.iter().find(|p| p.to == row.target.addr),
            allowed: answers && doctor.heals && super::heal::may_heal(&row.target, &doctor.own),
            control: self
                .config
                .secondary_at(row.target.addr)
                .filter(|_| answers)
                .map(|s| s.control),
            tries: self.config.heal_tries,
            heal_after_ms: u64::from(self.config.heal_after) * 1000,
            now,
        };
        super::heal::step(&mut track.heal, &check)
    }

    /// The doctor's word on a behind, lame or different row whose
    /// condition held `heal_after` (docs/design/replication-doctor.md §3);
    /// none for other rows and for rows that are ours. `change` is the
    /// reference serial and when its change started.
    fn row_diagnosis(
        &self,
        zone: &Watched,
        row: &Row,
        track: &ServerTrack,
        look: &Look<'_>,
        change: (Option<Serial>, Option<u64>),
        now: u64,
    ) -> Option<diagnose::Diagnosis> {
        let (status, condition) = match row.status {
            RowStatus::Behind => (diagnose::RowStatus::Behind, OUT_OF_SYNC),
            RowStatus::Different => (diagnose::RowStatus::Different, OUT_OF_SYNC),
            RowStatus::Lame => (diagnose::RowStatus::Lame, LAME),
            _ => return None,
        };
        let heal_after_ms = u64::from(self.config.heal_after) * 1000;
        let held = now.saturating_sub(*track.conditions.get(condition)?);
        if held < heal_after_ms || ours(row, &look.doctor.own) {
            return None;
        }
        let (reference, started_ms) = change;
        let ip = crate::peers::fold(row.target.addr.ip());
        let report = look.doctor.report.as_ref();
        let unknown = PeerView::unknown(ip);
        let peer = report.map(|r| {
            r.peers
                .iter()
                .find(|p| crate::peers::fold(p.address) == ip)
                .unwrap_or(&unknown)
        });
        // T: when the primary published the reference, else when the
        // change was first seen; any evidence counts for a lame row.
        let published = report
            .filter(|r| reference.is_some() && r.serial == reference)
            .and_then(|r| r.published_ms);
        let since_ms = match status {
            diagnose::RowStatus::Lame => 0,
            _ => published.or(started_ms).unwrap_or(0),
        };
        let verdicts: Vec<String> = look
            .verdicts
            .iter()
            .filter(|v| v.servers.contains(&row.target.addr))
            .map(|v| v.message.clone())
            .collect();
        let notify_target = peer.is_some_and(|p| p.notify_target)
            || report.is_some_and(|r| {
                r.notify_targets.iter().any(|t| {
                    t.parse::<SocketAddr>()
                        .is_ok_and(|a| crate::peers::fold(a.ip()) == ip)
                })
            });
        let case = diagnose::Case {
            zone: &zone.name,
            address: row.target.addr,
            status,
            served: row.serial(),
            reference,
            since_ms,
            now_ms: now,
            heal_after_ms,
            peer,
            notify_target,
            notify_running: report.is_some_and(|r| r.notify_running),
            content_diff: look.doctor.diffs.get(&row.target.addr).map(String::as_str),
            verdicts: &verdicts,
            allow_transfer: report.map_or(&[], |r| r.allow_transfer.as_slice()),
            allow_transfer_at: report.and_then(|r| r.allow_transfer_at.as_deref()),
            refresh_s: None,
        };
        diagnose::diagnose(&case)
    }

    fn write(&self, w: Write) {
        if let Ok(tx) = self.writer.lock() {
            let _ = tx.send(w);
        }
    }

    fn find(&self, zone: &str) -> Option<Arc<Watched>> {
        let want = zone.trim_end_matches('.').to_ascii_lowercase();
        self.zones()
            .into_iter()
            .find(|z| z.name.trim_end_matches('.').eq_ignore_ascii_case(&want))
    }

    /// The zones watched now.
    fn zones(&self) -> Vec<Arc<Watched>> {
        match self.zones.read() {
            Ok(z) => z.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn monitor_metrics(&self, out: &mut Exposition) {
        type Diagnoses = BTreeMap<(String, &'static str), u64>;
        type Heals = BTreeMap<(String, &'static str, &'static str), u64>;
        let views: Vec<(ZoneView, u64, Diagnoses, Heals)> = self
            .zones()
            .iter()
            .filter_map(|z| {
                let s = z.state.lock().ok()?;
                Some((
                    s.view.clone()?,
                    s.checks,
                    s.diagnoses.clone(),
                    s.heals.clone(),
                ))
            })
            .collect();
        let families: [(&str, Kind, &str); 11] = [
            (
                "zonesync_monitor_zone_in_sync",
                Kind::Gauge,
                "1 when every server of the zone serves the reference serial",
            ),
            (
                "zonesync_monitor_reference_serial",
                Kind::Gauge,
                "The zone's reference serial (the highest seen, or the primary's)",
            ),
            (
                "zonesync_monitor_serial",
                Kind::Gauge,
                "The SOA serial a server address serves",
            ),
            (
                "zonesync_monitor_lag",
                Kind::Gauge,
                "RFC 1982 serial distance behind the reference",
            ),
            (
                "zonesync_monitor_up",
                Kind::Gauge,
                "1 when the address answers authoritatively for the zone",
            ),
            (
                "zonesync_monitor_rtt_seconds",
                Kind::Gauge,
                "Round-trip time of the SOA query",
            ),
            (
                "zonesync_monitor_propagation_seconds",
                Kind::Gauge,
                "Time the address took to serve the last change",
            ),
            (
                "zonesync_monitor_checks_total",
                Kind::Counter,
                "Checks of the zone (every server, every address) since the monitor started",
            ),
            (
                "zonesync_monitor_expire_left_seconds",
                Kind::Gauge,
                "EDNS EXPIRE left on the address (secondaries)",
            ),
            (
                "zonesync_monitor_diagnoses_total",
                Kind::Counter,
                "Diagnoses the replication doctor gave the address, by code",
            ),
            (
                "zonesync_monitor_heals_total",
                Kind::Counter,
                "Heal actions for the address (NOTIFY asked, each try's answer) and their end (healed, failed)",
            ),
        ];
        for (name, kind, help) in families {
            out.family(name, kind, help);
        }
        for (z, checks, diagnoses, heals) in &views {
            let zl = [("zone", z.zone.as_str())];
            for ((server, action, result), n) in heals {
                let l = [
                    ("zone", z.zone.as_str()),
                    ("server", server.as_str()),
                    ("action", action),
                    ("result", result),
                ];
                out.sample("zonesync_monitor_heals_total", &l, *n as f64);
            }
            for ((server, code), n) in diagnoses {
                let l = [
                    ("zone", z.zone.as_str()),
                    ("server", server.as_str()),
                    ("code", code),
                ];
                out.sample("zonesync_monitor_diagnoses_total", &l, *n as f64);
            }
            out.sample("zonesync_monitor_checks_total", &zl, *checks as f64);
            out.sample(
                "zonesync_monitor_zone_in_sync",
                &zl,
                f64::from(u8::from(z.state == "ok")),
            );
            if let Some(r) = z.reference_serial {
                out.sample("zonesync_monitor_reference_serial", &zl, f64::from(r.get()));
            }
            for s in &z.servers {
                let l = [("zone", z.zone.as_str()), ("server", s.server.as_str())];
                if let Some(v) = s.serial {
                    out.sample("zonesync_monitor_serial", &l, f64::from(v.get()));
                }
                if let Some(v) = s.lag {
                    out.sample("zonesync_monitor_lag", &l, v as f64);
                }
                let up = !matches!(s.status.as_str(), "unreachable" | "lame");
                out.sample("zonesync_monitor_up", &l, f64::from(u8::from(up)));
                if let Some(v) = s.rtt_ms {
                    out.sample("zonesync_monitor_rtt_seconds", &l, v / 1000.0);
                }
                if let Some(v) = s.catch_up_ms {
                    out.sample(
                        "zonesync_monitor_propagation_seconds",
                        &l,
                        v as f64 / 1000.0,
                    );
                }
                if let Some(v) = s.expire_left {
                    out.sample("zonesync_monitor_expire_left_seconds", &l, f64::from(v));
                }
            }
        }
    }
}

/// What a check of a row's healing found, into the zone's state: the
/// counters, the asks, the events, and a `heal-failed` condition once the
/// tries are spent (said at once: `alert_after` does not delay it again).
/// The episode's failure text while it stands.
fn apply_heal(
    zone: &Watched,
    state: &mut ZoneState,
    label: &str,
    healed: super::heal::HealOutcome,
    (now, alert_after): (u64, u64),
    events: &mut Vec<Event>,
) -> Option<String> {
    for &(action, result) in &healed.counts {
        *state
            .heals
            .entry((label.to_string(), action, result))
            .or_insert(0) += 1;
    }
    state.asks.extend(healed.asks);
    for (kind, detail) in healed.events {
        events.push(event(zone, now, kind, Some(label), detail));
    }
    let track = state.servers.entry(label.to_string()).or_default();
    if healed.failed.is_some() {
        track
            .conditions
            .insert(HEAL_FAILED, now.saturating_sub(alert_after));
    }
    track.heal.as_ref().and_then(|e| e.failed.clone())
}

fn label(row: &Row) -> String {
    format!("{}@{}", row.target.name, row.target.addr)
}

/// A row at one of the primary's own addresses, or the configured
/// primary itself: the monitor's own probes come from there, and the
/// doctor never diagnoses us. A wildcard listen address (`0.0.0.0:53`)
/// owns that port on loopback.
fn ours(row: &Row, own: &[SocketAddr]) -> bool {
    ours_at(
        row.target.addr,
        row.target.sources.contains(&verify::Source::Primary),
        own,
    )
}

fn ours_at(addr: SocketAddr, primary: bool, own: &[SocketAddr]) -> bool {
    primary
        || own.iter().any(|o| {
            *o == addr
                || (o.ip().is_unspecified() && o.port() == addr.port() && addr.ip().is_loopback())
        })
}

/// A `different` row, as the content diff needs it.
struct Different {
    addr: SocketAddr,
    /// The row is the configured primary.
    primary: bool,
    serial: Serial,
    /// The `records` RRsets it answered.
    records: Vec<(verify::probe::RrsetKey, Option<verify::probe::RrsetView>)>,
}

/// What differs between the version the primary serves and each
/// `different` row at the same serial (rows that are ours aside): the
/// row's zone transferred, or the `records` it answered when it does not
/// transfer it to us. Once per row and serial (`cache`); blocks for the
/// transfers, each bounded by `content::TRANSFER_TIMEOUT`.
fn content_diffs(
    side: &dyn PrimarySide,
    zone: &str,
    rows: &[Different],
    own: &[SocketAddr],
    cache: &DiffCache,
) -> BTreeMap<SocketAddr, String> {
    let mut diffs = BTreeMap::new();
    let rows: Vec<&Different> = rows
        .iter()
        .filter(|d| !ours_at(d.addr, d.primary, own))
        .collect();
    if rows.is_empty() {
        return diffs;
    }
    let Some(served) = side.served(zone) else {
        return diffs;
    };
    for row in rows {
        // Another serial is another story (behind, ahead), not a diff.
        if row.serial != served.serial() {
            continue;
        }
        let text = match cache.get(row.addr, row.serial) {
            Some(text) => text,
            None => {
                let ip = row.addr.ip();
                let transferred = super::content::transfer(row.addr, &served)
                    .map_err(|e| {
                        tracing::info!(zone, server = %row.addr, "monitor: content diff without its zone: {e}")
                    })
                    .ok();
                let text = transferred
                    .and_then(|theirs| super::content::diff_versions(&served, &theirs, ip))
                    .or_else(|| super::content::diff_listed(&served, &row.records, ip));
                cache.put(row.addr, row.serial, text.clone());
                text
            }
        };
        if let Some(text) = text {
            diffs.insert(row.addr, text);
        }
    }
    diffs
}

fn event(zone: &Watched, now: u64, kind: &str, server: Option<&str>, detail: String) -> Event {
    Event {
        zone: zone.name.clone(),
        time_ms: now,
        kind: kind.into(),
        server: server.map(String::from),
        detail,
    }
}

/// "ok", "out-of-sync" (someone behind or different), "degraded"
/// (someone lame, unreachable or expiring), "unknown" (nobody asked).
fn zone_state(servers: &[ServerView]) -> &'static str {
    if servers.is_empty() {
        return "unknown";
    }
    if servers
        .iter()
        .any(|s| matches!(s.status.as_str(), "behind" | "ahead" | "different"))
    {
        return "out-of-sync";
    }
    if servers.iter().any(|s| s.status != "ok") {
        return "degraded";
    }
    "ok"
}

fn change_view(p: &Propagation) -> ChangeView {
    ChangeView {
        serial: p.serial,
        started_ms: p.started_ms,
        origin: p.origin.clone(),
        caught_up: p.caught_up.clone(),
        complete_ms: p.complete_ms,
    }
}

impl MonitorView for Monitor {
    fn status(&self) -> StatusView {
        StatusView {
            version: env!("CARGO_PKG_VERSION").into(),
            generated_ms: now_ms(),
            zones: self
                .zones()
                .iter()
                .map(|z| {
                    z.state
                        .lock()
                        .ok()
                        .and_then(|s| s.view.clone())
                        .unwrap_or_else(|| ZoneView {
                            zone: z.name.clone(),
                            state: "unknown".into(),
                            reference_serial: None,
                            last_check_ms: None,
                            servers: Vec::new(),
                            last_change: None,
                            problems: vec!["not checked yet".into()],
                        })
                })
                .collect(),
        }
    }

    fn history(&self, zone: &str, since_ms: u64) -> Option<HistoryView> {
        let z = self.find(zone)?;
        let points = self
            .store
            .samples(&z.name, since_ms, u64::MAX)
            .unwrap_or_default()
            .into_iter()
            .map(|s| HistoryPoint {
                server: s.server,
                time_ms: s.time_ms,
                serial: s.serial,
                status: s.status,
            })
            .collect();
        Some(HistoryView {
            zone: z.name.clone(),
            since_ms,
            points,
        })
    }

    fn events(&self, zone: Option<&str>, limit: usize) -> Vec<EventView> {
        let name = zone.and_then(|z| self.find(z)).map(|z| z.name.clone());
        if zone.is_some() && name.is_none() {
            return Vec::new();
        }
        self.store
            .events(name.as_deref(), limit)
            .unwrap_or_default()
            .into_iter()
            .map(|e| EventView {
                zone: e.zone,
                time_ms: e.time_ms,
                kind: e.kind,
                server: e.server,
                detail: e.detail,
            })
            .collect()
    }

    fn changes(&self, zone: &str, limit: usize) -> Option<Vec<ChangeView>> {
        let z = self.find(zone)?;
        let mut stored = self.store.propagations(&z.name, limit).unwrap_or_default();
        // The change being followed is fresher in memory than in the store
        // (the writer thread may not have committed it yet).
        if let Some(current) = z.state.lock().ok().and_then(|s| s.change.clone()) {
            stored.retain(|p| p.serial != current.serial);
            stored.insert(0, current);
            stored.truncate(limit);
        }
        Some(stored.iter().map(change_view).collect())
    }

    /// The zone's `primary_control` when it has one (it names the zone's
    /// primary), else the server the monitor runs in. Blocks for the
    /// control's answer: the HTTP server calls it on a blocking thread.
    fn peers(&self, zone: &str) -> PeersAnswer {
        let Some(z) = self.find(zone) else {
            return PeersAnswer::UnknownZone;
        };
        let extra = z.row_ips();
        if let Some(control) = &z.control {
            return match control.report(&z.name, &extra) {
                Ok(report) => PeersAnswer::Report(Box::new(report)),
                Err(e) => PeersAnswer::ControlFailed(format!(
                    "no peer history from the primary's control {}: {e}",
                    control.addr()
                )),
            };
        }
        let Some(side) = self.primary() else {
            return PeersAnswer::NoHistory(NO_PEER_HISTORY.into());
        };
        match side.peers(&z.name, &extra) {
            Some(report) => PeersAnswer::Report(Box::new(report)),
            None => PeersAnswer::NoHistory(format!(
                "no peer history: this server does not serve zone {}",
                z.name
            )),
        }
    }

    fn metrics(&self) -> String {
        let mut out = Exposition::new();
        self.monitor_metrics(&mut out);
        let mut text = out.finish();
        if let Ok(f) = self.server_metrics.lock() {
            if let Some(f) = f.as_ref() {
                text.push_str(&f());
            }
        }
        text
    }
}

/// The members of `catalog`, transferred (AXFR) from its primary.
async fn read_catalog(
    catalog: &super::config::WatchedCatalog,
) -> Result<Vec<domain::base::Name<Vec<u8>>>, String> {
    let origin = crate::config::parse_zone_name(&catalog.name).map_err(|e| e.to_string())?;
    let primary = catalog.primary;
    let members = tokio::task::spawn_blocking(move || {
        crate::catalog::transfer::members_from(primary, &origin)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(members
        .into_iter()
        .filter_map(|wire| domain::base::Name::from_octets(wire).ok())
        .collect())
}

/// `zonesync monitor`: watches until SIGINT or SIGTERM.
pub fn run(config: MonitorConfig) -> Result<(), MonitorError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zonesync-monitor")
        .enable_all()
        .build()
        .map_err(MonitorError::Runtime)?;
    runtime.block_on(async move {
        let monitor = Monitor::new(config.clone())?;
        monitor.start();
        let shutdown = crate::net::Shutdown::default();
        let mut dashboard = None;
        if let Some(addr) = config.listen {
            let server = super::http::DashboardServer::bind(addr)
                .map_err(|error| MonitorError::Bind { addr, error })?;
            dashboard = Some(tokio::spawn(server.run(monitor.clone(), shutdown.clone())));
            tracing::info!(%addr, "monitor dashboard listening (HTTP)");
        }
        tracing::info!(zones = config.zones.len(), "monitor started");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(MonitorError::Signal)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("monitor shutting down");
        shutdown.trigger();
        if let Some(d) = dashboard {
            let _ = d.await;
        }
        Ok(())
    })
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
