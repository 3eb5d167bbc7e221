//! The running server: loads the configured zones, starts the listeners,
//! and handles signals (SIGHUP reloads changed zone files, SIGTERM and
//! SIGINT stop cleanly).

use crate::acl::Acl;
use crate::config::ZoneConfig;
use crate::config::{self, Config};
use crate::control::{
    ChildReport, ControlError, ControlHandler, ControlServer, JournalStatus, NotifyQueued,
    PendingReport, PrimaryInfo, RefreshQueued, ReloadOutcome, SecondaryInfo, ServerStatus,
    ZoneReload, ZoneStatus,
};
use crate::csync::agent::Mode as CsyncMode;
use crate::csync::agent::ParentAgent;
use crate::net::{self, Shutdown, TcpSettings};
use crate::notify::{Notifier, NotifySettings, NotifyTarget};
use crate::query::{cookie, Answerer, QueryConfig, QueryStats};
use crate::query::{NotifyListener, NotifyVerdict};
use crate::replication::secondary::{self, SecondaryZone};
use crate::replication::{LoadKind, Managed, ManagedZone};
use crate::xfr::incoming::Primary;
use crate::xfr::{Transfers, XfrZone};
use crate::zone::{SharedZoneTable, Zone, ZoneTable};
use anyhow::Context;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Sets up one configured zone: its NOTIFY task, journal and role.
fn managed_zone(config: &Config, zc: &ZoneConfig) -> anyhow::Result<Managed> {
    let origin = config::parse_zone_name(&zc.name).map_err(anyhow::Error::msg)?;
    let zone = Arc::new(Zone::new(&origin).context("zone name")?);
    let notifier = (!zc.notify.is_empty() || zc.notify_ns).then(|| {
        let settings = NotifySettings {
            delay: Duration::from_millis(config.server.notify_delay_ms),
            retries: config.server.notify_retries,
            notify_ns: zc.notify_ns,
            own: config.server.listen.clone(),
            ..NotifySettings::default()
        };
        let targets = zc
            .notify
            .iter()
            .map(|t| NotifyTarget {
                addr: t.addr(),
                key: t.key().and_then(|k| config.tsig_key(k)),
            })
            .collect();
        Notifier::spawn(zone.clone(), targets, settings)
    });
    Ok(match zc.role {
        config::Role::Primary => Managed::Primary(Arc::new(ManagedZone::new(
            zone,
            zc.clone(),
            &config.server,
            notifier,
        ))),
        config::Role::Secondary => {
            let primaries = zc
                .primaries
                .iter()
                .map(|p| Primary {
                    addr: p.address,
                    key: p.key.as_deref().and_then(|k| config.tsig_key(k)),
                })
                .collect();
            let journal = crate::replication::zone_journal(&config.server, &zc.name);
            Managed::Secondary(Arc::new(SecondaryZone::new(
                zone,
                zc.clone(),
                primaries,
                &config.server,
                journal,
                notifier,
                &crate::replication::file_stem(&zc.name),
            )))
        }
    })
}

/// The DNS COOKIE secret: `server.cookie_secret` (shared by an anycast
/// set), else the one kept in `data_dir/cookie_secret`, made at the first
/// start; none with `server.cookies = false`.
fn cookie_secret(server: &config::ServerConfig) -> anyhow::Result<Option<cookie::Secret>> {
    if !server.cookies {
        return Ok(None);
    }
    let secret = match &server.cookie_secret {
        Some(hex) => cookie::Secret::from_hex(hex).context("server.cookie_secret")?,
        None => cookie::Secret::load_or_create(&server.data_dir.join(COOKIE_SECRET_FILE))
            .context("the DNS COOKIE secret")?,
    };
    Ok(Some(secret))
}

/// Where a generated DNS COOKIE secret is kept, under `data_dir`.
pub const COOKIE_SECRET_FILE: &str = "cookie_secret";

/// Runs the server until SIGTERM or SIGINT.
pub fn run(config: Config) -> anyhow::Result<()> {
    if config.server.listen.is_empty() {
        anyhow::bail!("no listen address: set server.listen or pass --listen");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zonesync")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

/// Zones loaded (primaries) or restored (secondaries) at start-up, at
/// most `STARTUP_LOADS` at a time: a first load waits on fsyncs (state
/// file, new journal), so one after the other took 10 s for 1,000 small
/// zones on a plain disk; a few at once keep the disk busy without
/// holding many large zones in memory at the same time.
async fn load_all(served: &[Managed]) -> anyhow::Result<()> {
    const STARTUP_LOADS: usize = 8;
    let gate = Arc::new(tokio::sync::Semaphore::new(STARTUP_LOADS));
    let mut loads = tokio::task::JoinSet::new();
    for zone in served {
        let permit = Arc::clone(&gate).acquire_owned().await?;
        match zone.clone() {
            Managed::Primary(z) => {
                loads.spawn_blocking(move || {
                    z.load(false);
                    drop(permit);
                });
            }
            Managed::Secondary(z) => {
                loads.spawn_blocking(move || {
                    z.restore();
                    drop(permit);
                });
            }
        }
    }
    while let Some(done) = loads.join_next().await {
        done?;
    }
    for zone in served {
        if let Managed::Secondary(z) = zone.clone() {
            tokio::spawn(z.run());
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let served: Vec<Managed> = config
        .zones
        .iter()
        .map(|zc| managed_zone(&config, zc))
        .collect::<anyhow::Result<_>>()?;
    let table: Arc<SharedZoneTable> = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(
        served.iter().map(|s| s.zone().clone()),
    )));
    let monitor_table = table.clone();
    load_all(&served).await?;
    let agents: Vec<Arc<ParentAgent>> = served
        .iter()
        .filter_map(|z| match z {
            Managed::Primary(p) => ParentAgent::new(p.clone(), &config.server),
            Managed::Secondary(_) => None,
        })
        .collect();

    let query_config = QueryConfig {
        edns_udp_max: config.server.edns_udp_max,
        nsid: config.server.nsid.as_ref().map(|s| s.as_bytes().into()),
        cookies: cookie_secret(&config.server)?,
    };
    let xfr_zones = served
        .iter()
        .map(|z| {
            let xfr = XfrZone {
                acl: Acl::new(z.config().allow_transfer.clone()),
                journal: z.journal().cloned(),
                counters: Arc::default(),
            };
            (z.zone().origin().to_vec(), xfr)
        })
        .collect();
    let keys = config.tsig_keys().map_err(anyhow::Error::msg)?;
    let transfers = Arc::new(Transfers::new(
        table.clone(),
        xfr_zones,
        keys.clone(),
        config.server.transfer_limit,
    ));
    // Kept to be read by /metrics.
    let stats = Arc::new(QueryStats::default());
    let answerer = Arc::new(
        Answerer::new(table, query_config, stats.clone())
            .with_keys(Arc::new(keys))
            .with_transfers(transfers.clone())
            .with_notify(Arc::new(NotifyRouter {
                zones: served.clone(),
                agents: agents.clone(),
            })),
    );
    let shutdown = Shutdown::default();
    let workers = match config.server.udp_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let tcp = TcpSettings {
        max_connections: config.server.tcp_max_connections,
        idle_timeout: Duration::from_secs(config.server.tcp_idle_timeout),
    };
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for &addr in &config.server.listen {
        let sockets =
            net::bind_udp(addr, workers).with_context(|| format!("binding UDP {addr}"))?;
        let listener = bind_tcp(addr).with_context(|| format!("binding TCP {addr}"))?;
        threads.extend(net::spawn_udp_workers(
            sockets,
            answerer.clone(),
            shutdown.clone(),
        )?);
        tasks.push(tokio::spawn(net::serve_tcp(
            listener,
            answerer.clone(),
            transfers.clone(),
            tcp.clone(),
            shutdown.clone(),
        )));
        tracing::info!(%addr, udp_sockets = workers, "listening on UDP and TCP");
    }

    // Not awaited at shutdown (like secondaries' timers): a change being
    // applied is an atomic file write and a journaled load, so stopping
    // at any point leaves the last good state.
    for agent in &agents {
        tokio::spawn(agent.clone().run());
    }

    if let Some(monitor_config) = config.monitor.clone() {
        let monitor = crate::monitor::watch::Monitor::new(monitor_config.clone())
            .map_err(anyhow::Error::msg)
            .context("monitor")?;
        monitor.start();
        monitor.watch_local(monitor_table);
        let (zones, transfers, stats) = (served.clone(), transfers.clone(), stats.clone());
        monitor.set_server_metrics(Box::new(move || server_metrics(&zones, &transfers, &stats)));
        if let Some(addr) = monitor_config.listen {
            let dashboard = crate::monitor::http::DashboardServer::bind(addr)
                .with_context(|| format!("binding the monitor's dashboard {addr}"))?;
            tasks.push(tokio::spawn(
                dashboard.run(monitor.clone(), shutdown.clone()),
            ));
            tracing::info!(%addr, "monitor dashboard listening (HTTP)");
        }
    }

    if let Some(addr) = config.server.control {
        let control =
            ControlServer::bind(addr).with_context(|| format!("binding control {addr}"))?;
        let handler = Arc::new(ServerControl {
            zones: served.clone(),
            agents: agents.clone(),
            transfers: transfers.clone(),
            stats: stats.clone(),
            started: Instant::now(),
        });
        tasks.push(tokio::spawn(control.run(handler, shutdown.clone())));
        tracing::info!(%addr, "control interface listening (HTTP)");
    }

    signals(&served).await?;
    shutdown.trigger();
    for task in tasks {
        let _ = task.await;
    }
    for thread in threads {
        let _ = thread.join();
    }
    tracing::info!("stopped");
    Ok(())
}

fn bind_tcp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Waits for signals: SIGHUP reloads, SIGTERM/SIGINT return.
async fn signals(served: &[Managed]) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => reload_changed(served).await,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down");
    Ok(())
}

/// Reloads every zone whose files changed; queries keep being answered
/// from the old versions meanwhile.
async fn reload_changed(served: &[Managed]) {
    tracing::info!("SIGHUP: reloading changed zone files");
    for zone in served {
        let Managed::Primary(zone) = zone else {
            continue;
        };
        if !zone.needs_reload() {
            continue;
        }
        let zone = zone.clone();
        let _ = tokio::task::spawn_blocking(move || zone.load(false)).await;
    }
}

/// Routes NOTIFY in to the secondary zone it is for.
struct NotifyRouter {
    zones: Vec<Managed>,
    agents: Vec<Arc<ParentAgent>>,
}

impl NotifyListener for NotifyRouter {
    fn notify_csync(
        &self,
        parent: &[u8],
        child: &[u8],
        peer: Option<std::net::SocketAddr>,
    ) -> NotifyVerdict {
        let agent = self
            .agents
            .iter()
            .find(|a| a.origin() == parent && a.follows(child));
        let Some(agent) = agent else {
            tracing::info!(parent = %crate::name::display(parent), child = %crate::name::display(child), ?peer, "NOTIFY(CSYNC) for a child no CSYNC agent follows: REFUSED");
            return NotifyVerdict::Refused;
        };
        agent.notified(child);
        NotifyVerdict::Accepted
    }

    fn notify(
        &self,
        zone: &[u8],
        peer: Option<std::net::SocketAddr>,
        key: Option<&str>,
        serial: Option<u32>,
    ) -> NotifyVerdict {
        let found = self.zones.iter().find(|z| z.zone().origin() == zone);
        let Some(Managed::Secondary(z)) = found else {
            tracing::info!(zone = %crate::name::display(zone), ?peer, "NOTIFY for a zone we are not secondary for: NOTAUTH");
            return NotifyVerdict::NotSecondary;
        };
        if !z.notify_allowed(peer, key) {
            tracing::warn!(
                zone = z.name(),
                ?peer,
                key = key.unwrap_or("none"),
                "NOTIFY refused: not from a primary or an allow_notify rule"
            );
            return NotifyVerdict::Refused;
        }
        tracing::info!(zone = z.name(), ?peer, ?serial, "NOTIFY received");
        z.trigger(secondary::Event::Notify);
        NotifyVerdict::Accepted
    }
}

/// The control interface's view of the running server.
struct ServerControl {
    zones: Vec<Managed>,
    agents: Vec<Arc<ParentAgent>>,
    transfers: Arc<Transfers>,
    stats: Arc<QueryStats>,
    started: Instant,
}

fn unix(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

impl ServerControl {
    fn find(&self, name: &str) -> Result<&Managed, ControlError> {
        let wire =
            config::parse_zone_name(name).map_err(|_| ControlError::UnknownZone(name.into()))?;
        self.zones
            .iter()
            .find(|z| z.zone().origin() == &wire[..])
            .ok_or_else(|| ControlError::UnknownZone(name.into()))
    }

    fn secondary(&self, name: &str) -> Result<&Arc<SecondaryZone>, ControlError> {
        match self.find(name)? {
            Managed::Secondary(z) => Ok(z),
            Managed::Primary(_) => Err(ControlError::Refused(format!(
                "zone {name} is a primary: it has no primaries to refresh from"
            ))),
        }
    }

    fn zone_status(&self, z: &Managed) -> ZoneStatus {
        let version = z.zone().snapshot();
        let journal = z
            .journal()
            .and_then(|j| j.lock().ok())
            .map(|j| JournalStatus {
                first_serial: j.first_serial(),
                last_serial: j.last_serial(),
                changesets: j.len(),
                bytes: j.size_bytes(),
            });
        let transfers_out = self.transfers.counters(z.zone().origin()).map_or(0, |c| {
            [&c.axfr, &c.ixfr_incremental, &c.ixfr_full, &c.ixfr_current]
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .sum()
        });
        let (role, loaded_at, last_error, secondary) = match z {
            Managed::Primary(p) => {
                let st = p.status();
                ("primary", st.loaded_at, st.last_error, None)
            }
            Managed::Secondary(sz) => {
                let st = sz.status();
                let info = SecondaryInfo {
                    primaries: st
                        .primaries
                        .iter()
                        .map(|p| PrimaryInfo {
                            address: p.addr.map(|a| a.to_string()).unwrap_or_default(),
                            serial: p.serial,
                            last_contact_unix: unix(p.last_contact),
                            last_error: p.last_error.clone(),
                        })
                        .collect(),
                    last_refresh_unix: unix(st.last_refresh),
                    last_result: st.last_result.clone(),
                    next_refresh_unix: unix(st.next_refresh),
                    expires_at_unix: unix(st.expires_at),
                    expired: st.expired,
                };
                ("secondary", st.loaded_at, st.last_error, Some(info))
            }
        };
        ZoneStatus {
            name: z.name().to_owned(),
            role: role.into(),
            serial: version.as_ref().map(|v| v.serial()),
            records: version.as_ref().map(|v| v.record_count()),
            loaded_at_unix: unix(loaded_at),
            last_error,
            journal,
            notify_targets: z
                .config()
                .notify
                .iter()
                .map(|t| t.addr().to_string())
                .collect(),
            transfers_out,
            secondary,
        }
    }
}

fn reload_report(z: &Managed, force: bool) -> ZoneReload {
    let Managed::Primary(p) = z else {
        let serial = z.zone().snapshot().map(|v| v.serial());
        return ZoneReload {
            zone: z.name().to_owned(),
            outcome: ReloadOutcome::Refused,
            old_serial: serial,
            serial,
            message: Some(
                "a secondary zone has no file: use `ctl refresh` or `ctl retransfer`".into(),
            ),
        };
    };
    let o = p.load(force);
    ZoneReload {
        zone: z.name().to_owned(),
        outcome: match o.kind {
            LoadKind::Loaded => ReloadOutcome::Loaded,
            LoadKind::Unchanged => ReloadOutcome::Unchanged,
            LoadKind::Refused => ReloadOutcome::Refused,
            LoadKind::Failed => ReloadOutcome::Failed,
        },
        old_serial: o.old_serial,
        serial: o.serial,
        message: o.message,
    }
}

impl ServerControl {
    /// The agents a CSYNC request is for: of `zone` when given, else the
    /// one following `child` (the closest parent), else all.
    fn csync_agents(
        &self,
        zone: Option<&str>,
        child: Option<&[u8]>,
    ) -> Result<Vec<Arc<ParentAgent>>, ControlError> {
        if let Some(zone) = zone {
            let origin = config::parse_zone_name(zone)
                .map_err(|e| ControlError::UnknownZone(format!("{zone}: {e}")))?;
            let agent = self
                .agents
                .iter()
                .find(|a| a.origin().eq_ignore_ascii_case(&origin));
            return match agent {
                Some(a) => Ok(vec![a.clone()]),
                None if self.find(zone).is_ok() => Err(ControlError::Refused(format!(
                    "zone {zone} has no [zone.csync]"
                ))),
                None => Err(ControlError::UnknownZone(zone.into())),
            };
        }
        let Some(child) = child else {
            return Ok(self.agents.clone());
        };
        self.agents
            .iter()
            .filter(|a| a.follows(child))
            .max_by_key(|a| a.origin().len())
            .map(|a| vec![a.clone()])
            .ok_or_else(|| {
                ControlError::Refused(format!(
                    "no CSYNC agent follows {}",
                    crate::name::display(child)
                ))
            })
    }
}

fn child_name(child: Option<&str>) -> Result<Option<Vec<u8>>, ControlError> {
    child
        .map(|c| {
            config::parse_zone_name(c)
                .map_err(|e| ControlError::Refused(format!("child {c:?}: {e}")))
        })
        .transpose()
}

impl ControlHandler for ServerControl {
    fn csync_scan<'a>(
        &'a self,
        zone: Option<&'a str>,
        child: Option<&'a str>,
        dry_run: bool,
    ) -> crate::control::Pending<'a, Vec<ChildReport>> {
        Box::pin(async move {
            let child = child_name(child)?;
            let agents = self.csync_agents(zone, child.as_deref())?;
            let mode = if dry_run {
                CsyncMode::DryRun
            } else {
                CsyncMode::Apply
            };
            let mut reports = Vec::new();
            for agent in agents {
                let mut r = agent
                    .scan(child.as_deref(), mode)
                    .await
                    .map_err(ControlError::Refused)?;
                reports.append(&mut r);
            }
            Ok(reports)
        })
    }

    fn csync_pending(&self) -> Vec<PendingReport> {
        self.agents.iter().flat_map(|a| a.pending()).collect()
    }

    fn csync_approve<'a>(&'a self, child: &'a str) -> crate::control::Pending<'a, ChildReport> {
        Box::pin(async move {
            let wire = child_name(Some(child))?.unwrap_or_default();
            let agents = self.csync_agents(None, Some(&wire))?;
            let agent = agents
                .first()
                .ok_or_else(|| ControlError::Refused(format!("no CSYNC agent follows {child}")))?;
            agent.approve(&wire).await.map_err(ControlError::Refused)
        })
    }

    fn metrics(&self) -> String {
        server_metrics(&self.zones, &self.transfers, &self.stats)
    }

    fn status(&self) -> ServerStatus {
        ServerStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: self.started.elapsed().as_secs(),
            zones: self.zones.iter().map(|z| self.zone_status(z)).collect(),
        }
    }

    /// One zone: always loaded (`force` also accepts a serial that went
    /// backwards). All zones: the primaries whose files changed, or all
    /// primaries with `force`, like SIGHUP.
    fn reload(&self, zone: Option<&str>, force: bool) -> Result<Vec<ZoneReload>, ControlError> {
        match zone {
            Some(name) => Ok(vec![reload_report(self.find(name)?, force)]),
            None => Ok(self
                .zones
                .iter()
                .filter_map(|z| match z {
                    Managed::Primary(p) if force || p.needs_reload() => {
                        Some(reload_report(z, force))
                    }
                    Managed::Primary(p) => {
                        let serial = p.zone().snapshot().map(|v| v.serial());
                        Some(ZoneReload {
                            zone: z.name().to_owned(),
                            outcome: ReloadOutcome::Unchanged,
                            old_serial: serial,
                            serial,
                            message: Some("files unchanged".into()),
                        })
                    }
                    Managed::Secondary(_) => None,
                })
                .collect()),
        }
    }

    fn notify(&self, zone: &str) -> Result<NotifyQueued, ControlError> {
        let z = self.find(zone)?;
        let Some(notifier) = z.notifier() else {
            return Err(ControlError::Refused(format!(
                "zone {zone} has no NOTIFY targets (set notify or notify_ns)"
            )));
        };
        notifier.changed();
        Ok(NotifyQueued {
            zone: z.name().to_owned(),
            targets: z.config().notify.len(),
        })
    }

    fn refresh(&self, zone: &str, retransfer: bool) -> Result<RefreshQueued, ControlError> {
        let z = self.secondary(zone)?;
        let event = if retransfer {
            secondary::Event::Retransfer
        } else {
            secondary::Event::Refresh
        };
        z.trigger(event);
        Ok(RefreshQueued {
            zone: z.name().to_owned(),
            retransfer,
        })
    }
}

/// RCODE mnemonics (RFC 1035, 2136, 8490) by the 4-bit header value.
const RCODE_NAMES: [&str; 12] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
];

/// The server's own metrics in the Prometheus text format: queries by
/// RCODE, transfers out and in, NOTIFY out, journal depth, and per zone
/// the served serial, whether it is served and (secondaries) the time to
/// EXPIRE. Read on a scrape, off the query path: the counters are relaxed
/// atomics the query path only increments.
pub fn server_metrics(zones: &[Managed], transfers: &Transfers, stats: &QueryStats) -> String {
    use crate::monitor::prometheus::{Exposition, Kind};
    let mut out = Exposition::new();
    query_metrics(&mut out, stats);

    let families: [(&str, Kind, &str); 10] = [
        (
            "zonesync_transfers_out_total",
            Kind::Counter,
            "Zone transfers sent, by kind (ixfr: changesets, ixfr-full: the whole zone, ixfr-current: our SOA alone) and result (refused by allow_transfer: kind any)",
        ),
        (
            "zonesync_transfers_in_total",
            Kind::Counter,
            "Refreshes of a secondary zone by result: axfr or ixfr applied, up-to-date, failed",
        ),
        (
            "zonesync_notify_sent_total",
            Kind::Counter,
            "NOTIFY datagrams sent, every try",
        ),
        (
            "zonesync_notify_acknowledged_total",
            Kind::Counter,
            "NOTIFYs a target answered",
        ),
        (
            "zonesync_notify_failed_total",
            Kind::Counter,
            "NOTIFYs given up on after the last try",
        ),
        (
            "zonesync_journal_changesets",
            Kind::Gauge,
            "Changesets in the zone's journal (IXFR history)",
        ),
        (
            "zonesync_journal_bytes",
            Kind::Gauge,
            "Size of the zone's journal file",
        ),
        (
            "zonesync_zone_serial",
            Kind::Gauge,
            "The SOA serial served",
        ),
        (
            "zonesync_zone_expire_seconds",
            Kind::Gauge,
            "Seconds until a secondary zone expires unless a refresh succeeds (0: expired or never transferred)",
        ),
        (
            "zonesync_zone_loaded",
            Kind::Gauge,
            "1 when the zone is served, 0 when not (never loaded, or expired)",
        ),
    ];
    for (name, kind, help) in families {
        out.family(name, kind, help);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for z in zones {
        let name = z.name();
        let zl = [("zone", name)];
        if let Some(c) = transfers.counters(z.zone().origin()) {
            for (kind, result, n) in [
                ("axfr", "ok", &c.axfr),
                ("ixfr", "ok", &c.ixfr_incremental),
                ("ixfr-full", "ok", &c.ixfr_full),
                ("ixfr-current", "ok", &c.ixfr_current),
                ("any", "refused", &c.refused),
            ] {
                out.sample(
                    "zonesync_transfers_out_total",
                    &[("zone", name), ("kind", kind), ("result", result)],
                    n.load(Ordering::Relaxed) as f64,
                );
            }
        }
        if let Managed::Secondary(s) = z {
            let c = s.transfers_in();
            for (result, n) in [
                ("axfr", c.axfr()),
                ("ixfr", c.ixfr()),
                ("up-to-date", c.up_to_date()),
                ("failed", c.failed()),
            ] {
                out.sample(
                    "zonesync_transfers_in_total",
                    &[("zone", name), ("result", result)],
                    n as f64,
                );
            }
        }
        if let Some(n) = z.notifier() {
            let c = n.counters();
            out.sample("zonesync_notify_sent_total", &zl, c.sent() as f64);
            out.sample(
                "zonesync_notify_acknowledged_total",
                &zl,
                c.acknowledged() as f64,
            );
            out.sample("zonesync_notify_failed_total", &zl, c.failed() as f64);
        }
        if let Some(j) = z.journal().and_then(|j| j.lock().ok()) {
            out.sample("zonesync_journal_changesets", &zl, j.len() as f64);
            out.sample("zonesync_journal_bytes", &zl, j.size_bytes() as f64);
        }
        let version = z.zone().snapshot();
        let role = match z {
            Managed::Primary(_) => "primary",
            Managed::Secondary(_) => "secondary",
        };
        if let Some(v) = &version {
            out.sample(
                "zonesync_zone_serial",
                &[("zone", name), ("role", role)],
                f64::from(v.serial()),
            );
        }
        if let Managed::Secondary(_) = z {
            // Past EXPIRE the zone is withdrawn; 0 also when never set, so
            // an alert on a low value fires for a zone with no copy.
            let left = match version {
                Some(_) => z.zone().expires_at().saturating_sub(now),
                None => 0,
            };
            out.sample("zonesync_zone_expire_seconds", &zl, left as f64);
        }
        out.sample(
            "zonesync_zone_loaded",
            &zl,
            f64::from(u8::from(version.is_some())),
        );
    }
    out.finish()
}

/// The query path's counters: every RCODE with a name (zeros included, so
/// a rate is defined from the first scrape), others only once seen.
fn query_metrics(out: &mut crate::monitor::prometheus::Exposition, stats: &QueryStats) {
    use crate::monitor::prometheus::Kind;
    out.family(
        "zonesync_queries_total",
        Kind::Counter,
        "Responses sent, by RCODE",
    );
    for rcode in 0..16u16 {
        let n = stats.rcode(rcode);
        let name = RCODE_NAMES.get(usize::from(rcode)).copied();
        let label = match name {
            Some(name) => std::borrow::Cow::Borrowed(name),
            None if n > 0 => std::borrow::Cow::Owned(format!("RCODE{rcode}")),
            None => continue,
        };
        out.sample("zonesync_queries_total", &[("rcode", &label)], n as f64);
    }
    out.family(
        "zonesync_queries_cookie_total",
        Kind::Counter,
        "Requests by their DNS COOKIE (RFC 7873): none, a client cookie only, a valid or an invalid server cookie",
    );
    for verdict in cookie::Verdict::COUNTED {
        out.sample(
            "zonesync_queries_cookie_total",
            &[("cookie", verdict.name())],
            stats.cookies(verdict) as f64,
        );
    }
    for (name, help, n) in [
        (
            "zonesync_queries_malformed_total",
            "Requests answered FORMERR because they could not be parsed",
            stats.malformed(),
        ),
        (
            "zonesync_queries_dropped_total",
            "Requests dropped without an answer (too short, or responses)",
            stats.dropped(),
        ),
        (
            "zonesync_responses_truncated_total",
            "UDP responses sent with TC=1",
            stats.truncated(),
        ),
    ] {
        out.family(name, Kind::Counter, help);
        out.sample(name, &[], n as f64);
    }
}
