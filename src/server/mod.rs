//! The running server: loads the configured zones, starts the listeners,
//! and handles signals (SIGHUP reloads changed zone files, SIGTERM and
//! SIGINT stop cleanly).

mod catalogs;
mod control;
mod doctor;
mod metrics;
pub mod zoneset;

pub use metrics::server_metrics;

use crate::acl::TransferAcl;
use crate::config::ZoneConfig;
use crate::config::{self, Config};
use crate::control::ControlServer;
use crate::csync::agent::ParentAgent;
use crate::net::limit::{self, LimitLog, PerClient, SourceRate};
use crate::net::{self, Shutdown, TcpSettings};
use crate::notify::{Notifier, NotifySettings, NotifyTarget};
use crate::peers::{PeerEvent, PeerWhat, ZonePeers};
use crate::privileges::RunsAs;
use crate::query::{cookie, Answerer, QueryConfig, QueryStats};
use crate::query::{NotifyListener, NotifyVerdict, PeerLog};
use crate::replication::events;
use crate::replication::registry::{Registry, Zones};
use crate::replication::secondary::SecondaryZone;
use crate::replication::{LoadAsk, Managed, ManagedZone, ZoneDeps};
use crate::tls::client::ClientTlsCache;
use crate::tls::server::ServerTls;
use crate::xfr::incoming::Primary;
use crate::xfr::{Transfers, XfrZone};
use crate::zone::{SharedZoneTable, Zone, ZoneTable};
use anyhow::Context;
use control::ServerControl;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How this server sends NOTIFY (`[server]`), for every zone.
fn notify_settings(config: &Config) -> NotifySettings {
    NotifySettings {
        delay: Duration::from_millis(config.server.notify_delay_ms),
        retries: config.server.notify_retries,
        own: config.server.listen.clone(),
        ..NotifySettings::default()
    }
}

/// Sets up one configured zone: its NOTIFY task, journal and role.
fn managed_zone(config: &Config, zc: &ZoneConfig, deps: &ZoneDeps) -> anyhow::Result<Managed> {
    let origin = config::parse_zone_name(&zc.name).map_err(anyhow::Error::msg)?;
    let zone = Arc::new(Zone::new(&origin).context("zone name")?);
    let notifier = (!zc.notify.is_empty() || zc.notify_ns).then(|| {
        let settings = NotifySettings {
            notify_ns: zc.notify_ns,
            ..notify_settings(config)
        };
        let targets = zc
            .notify
            .iter()
            .map(|t| NotifyTarget {
                addr: t.addr(),
                key: t.key().and_then(|k| config.tsig_key(k)),
            })
            .collect();
        Notifier::new(targets, settings)
    });
    Ok(match zc.role {
        config::Role::Primary => Managed::Primary(Arc::new(ManagedZone::new(
            zone,
            zc.clone(),
            &config.server,
            notifier,
            deps.clone(),
        ))),
        config::Role::Secondary => {
            let primaries = zc
                .primaries
                .iter()
                .map(|p| primary(config, p, deps))
                .collect::<anyhow::Result<_>>()?;
            let journal = crate::replication::zone_journal(&config.server, &zc.name);
            Managed::Secondary(Arc::new(SecondaryZone::new(
                zone,
                zc.clone(),
                primaries,
                &config.server,
                journal,
                notifier,
                &crate::replication::file_stem(&zc.name),
                deps.clone(),
            )))
        }
    })
}

/// A secondary's primary: its TSIG key, and the TLS configuration read
/// at start when it has `tls`.
fn primary(config: &Config, p: &config::PrimaryConfig, deps: &ZoneDeps) -> anyhow::Result<Primary> {
    let key = p.key.as_deref().and_then(|k| config.tsig_key(k));
    let primary = Primary::new(p.address, key);
    let Some(tls) = &p.tls else {
        return Ok(primary);
    };
    let client = deps
        .tls_clients
        .get(&tls.client_settings(), p.address.ip())
        .with_context(|| format!("primary {}: tls", p.address))?;
    Ok(primary.with_tls(client))
}

/// What the transfer path needs of a zone: its apex, `allow_transfer`,
/// its journal's reader, fresh counters, its peer history.
fn xfr_zone(zone: &Managed) -> (Vec<u8>, XfrZone) {
    let xfr = XfrZone {
        acl: TransferAcl::new(zone.config().allow_transfer.clone()),
        journal: zone.journal_reader().cloned(),
        counters: Arc::default(),
        peers: Some(zone.core().peers.clone()),
    };
    (zone.zone().origin().to_vec(), xfr)
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
/// Serves until SIGTERM or SIGINT. `allow_root`: stay root when started
/// as root without `server.user` (`serve --allow-root`).
pub fn run(config: Config, allow_root: bool) -> anyhow::Result<()> {
    if config.server.listen.is_empty() {
        anyhow::bail!("no listen address: set server.listen or pass --listen");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zonesync")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, allow_root))
}

/// Zones loaded (primaries) or restored (secondaries) at start-up, at
/// most `STARTUP_LOADS` at a time: a first load waits on fsyncs (state
/// file, new journal), so one after the other took 10 s for 1,000 small
/// zones on a plain disk; a few at once keep the disk busy without
/// holding many large zones in memory at the same time.
/// Returns each zone's dispatcher, by apex.
async fn load_all(
    served: &[Managed],
) -> anyhow::Result<Vec<(Vec<u8>, tokio::task::JoinHandle<()>)>> {
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
    // One dispatcher per zone; the events the loads planned (DNSSEC
    // checks, NOTIFY(CSYNC)) wait in the tables until then.
    let mut dispatchers = Vec::with_capacity(served.len());
    for zone in served {
        let handle = match zone.clone() {
            Managed::Primary(z) => {
                z.core().plan_owed_notify();
                tokio::spawn(events::run(z))
            }
            Managed::Secondary(z) => tokio::spawn(z.run()),
        };
        dispatchers.push((zone.zone().origin().to_vec(), handle));
    }
    Ok(dispatchers)
}

/// The zones to serve: the configured ones, then those added at run time
/// (`data_dir/added-zones.toml`) whose template still exists and whose
/// name is not configured meanwhile (those are logged and kept in the
/// file, so nothing an operator added is forgotten).
fn zones_to_serve(
    config: &Config,
    consumed: &mut catalogs::Consumed,
) -> anyhow::Result<(Vec<ZoneConfig>, Vec<zoneset::AddedZone>)> {
    let mut zones = config.zones.clone();
    let members = consumed.zones_at_start(config, &zones);
    zones.extend(members);
    let added = zoneset::read_added(config).context("the zones added at run time")?;
    for a in &added {
        let taken = zones.iter().any(|z| {
            config::parse_zone_name(&z.name).ok() == config::parse_zone_name(&a.name).ok()
        });
        if taken {
            tracing::warn!(zone = %a.name, "added at run time and now in the configuration: the configuration's settings are used");
            continue;
        }
        match config.zone_from_template(&a.name, &a.template, a.file.clone()) {
            Ok(zc) => zones.push(zc),
            Err(e) => tracing::error!(
                zone = %a.name,
                "{}: not served: {e}",
                zoneset::ADDED_ZONES_FILE
            ),
        }
    }
    Ok((zones, added))
}

async fn serve(config: Config, allow_root: bool) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let workers = match config.server.udp_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let bound = bind_all(&config, workers)?;
    let tls_clients = primaries_tls(&config)?;
    let server = &config.server;
    match crate::privileges::drop_after_bind(
        server.user.as_deref(),
        server.group.as_deref(),
        allow_root,
    )? {
        RunsAs::Dropped { uid, gid } => tracing::info!(
            user = %crate::privileges::user_name(uid),
            uid,
            gid,
            "listeners bound; dropped root"
        ),
        RunsAs::Root => tracing::warn!("running as root (--allow-root)"),
        RunsAs::Unchanged { .. } => {}
    }
    let deps = ZoneDeps::real()
        .with_refresh_limit(config.server.refresh_limit)
        .with_tls_clients(tls_clients)
        .with_notify(notify_settings(&config));
    let mut consumed = catalogs::Consumed::read(&config);
    let (zone_configs, added) = zones_to_serve(&config, &mut consumed)?;
    let zone_configs: Vec<ZoneConfig> = zone_configs
        .iter()
        .map(|z| catalogs::as_produced(&config, z))
        .collect();
    for producer in config.zones.iter().filter(|z| config.is_producer(&z.name)) {
        catalogs::write_produced(&config, &producer.name, zone_configs.iter())
            .with_context(|| format!("generating the catalog {}", producer.name))?;
    }
    let served: Vec<Managed> = zone_configs
        .iter()
        .map(|zc| managed_zone(&config, zc, &deps))
        .collect::<anyhow::Result<_>>()?;
    let table: Arc<SharedZoneTable> = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(
        served.iter().map(|s| s.zone().clone()),
    )));
    let dispatchers = load_all(&served).await?;
    let agents: Vec<Arc<ParentAgent>> = served
        .iter()
        .filter_map(|z| match z {
            Managed::Primary(p) => ParentAgent::new(p.clone(), &config.server, deps.clock.clone()),
            Managed::Secondary(_) => None,
        })
        .collect();
    let zones = Arc::new(Registry::new(Zones::new(served, agents)));

    let query_config = QueryConfig {
        edns_udp_max: config.server.edns_udp_max,
        nsid: config.server.nsid.as_ref().map(|s| s.as_bytes().into()),
        cookies: cookie_secret(&config.server)?,
    };
    let xfr_zones = zones.load().iter().map(xfr_zone).collect();
    let keys = config.tsig_keys().map_err(anyhow::Error::msg)?;
    let transfers = Arc::new(
        Transfers::new(
            table.clone(),
            xfr_zones,
            keys.clone(),
            config.server.transfer_limit,
        )
        .with_per_client_limit(config.server.transfer_limit_per_client)
        .with_peer_news(deps.peer_news.clone()),
    );
    // Kept to be read by /metrics.
    let stats = Arc::new(QueryStats::default());
    let keys = Arc::new(keys);
    let updates =
        crate::update::intake::UpdateIntake::new(zones.clone(), keys.clone(), stats.clone());
    let mut answerer = Answerer::new(table.clone(), query_config, stats.clone());
    if let Some(rrl) = config.rrl.settings() {
        tracing::info!(
            rate = rrl.rate,
            slip = rrl.slip,
            "response rate limiting on"
        );
        answerer = answerer.with_rrl(crate::query::rrl::Rrl::new(&rrl));
    }
    let answerer = Arc::new(
        answerer
            .with_keys(keys)
            .with_updates(Arc::new(updates))
            .with_transfers(transfers.clone())
            .with_notify(Arc::new(NotifyRouter {
                zones: zones.clone(),
                rate: SourceRate::new(config.server.notify_in_rate),
            }))
            .with_sightings(deps.sightings.clone())
            .with_peer_log(Arc::new(PeerRouter {
                zones: zones.clone(),
            })),
    );
    let served_zones = Arc::new(zoneset::ServedZones::new(
        config.clone(),
        deps.clone(),
        zones.clone(),
        table.clone(),
        transfers.clone(),
        zoneset::AtStart {
            dispatchers,
            added,
            catalogs: consumed,
        },
    ));
    tokio::spawn(
        served_zones
            .clone()
            .follow_catalogs(deps.publishes.subscribe()),
    );
    // The zones are loaded: what their loading needed goes back now.
    crate::memory::note_freed();
    tokio::spawn(crate::memory::trim_when_freed());
    let shutdown = Shutdown::default();
    let tcp = TcpSettings {
        open: Arc::new(tokio::sync::Semaphore::new(
            config.server.tcp_max_connections,
        )),
        idle_timeout: Duration::from_secs(config.server.tcp_idle_timeout),
        per_client: PerClient::new(config.server.tcp_max_connections_per_client),
    };
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for (addr, sockets, listener) in bound.dns {
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
    if let Some((tls, listeners)) = bound.tls {
        for (addr, listener) in listeners {
            tasks.push(tokio::spawn(net::serve_tls(
                listener,
                tls.clone(),
                answerer.clone(),
                transfers.clone(),
                tcp.clone(),
                shutdown.clone(),
            )));
            tracing::info!(%addr, "listening on TLS (DNS over TLS, XoT)");
        }
    }

    if let Some(monitor_config) = config.monitor.clone() {
        let monitor = crate::monitor::watch::Monitor::new(monitor_config.clone())
            .map_err(anyhow::Error::msg)
            .context("monitor")?;
        monitor.start();
        // Subscribed after the start-up loads: those are not changes.
        monitor.follow_publishes(deps.publishes.subscribe());
        monitor.follow_peer_news(deps.peer_news.subscribe());
        monitor.set_primary(Arc::new(doctor::ServerSide {
            zones: zones.clone(),
            listen: config.server.listen.clone(),
        }));
        let (zones, transfers, stats) = (zones.clone(), transfers.clone(), stats.clone());
        monitor.set_server_metrics(Box::new(move || {
            server_metrics(&zones.load(), &transfers, &stats)
        }));
        if let (Some(addr), Some(dashboard)) = (monitor_config.listen, bound.dashboard) {
            tasks.push(tokio::spawn(
                dashboard.run(monitor.clone(), shutdown.clone()),
            ));
            tracing::info!(%addr, "monitor dashboard listening (HTTP)");
        }
    }

    if let (Some(addr), Some(control)) = (config.server.control, bound.control) {
        let handler = Arc::new(ServerControl {
            zones: zones.clone(),
            served: served_zones.clone(),
            transfers: transfers.clone(),
            stats: stats.clone(),
            started: Instant::now(),
        });
        tasks.push(tokio::spawn(control.run(handler, shutdown.clone())));
        let key = config.server.control_key.as_deref().unwrap_or("none");
        tracing::info!(%addr, key, "control interface listening (HTTP)");
    }

    // Handlers first: a SIGTERM right after READY=1 must stop us cleanly,
    // not meet the default action.
    let signals = Signals::install()?;
    crate::sd_notify::ready(config.zones.len());
    signals.until_stopped(&zones).await;
    crate::sd_notify::stopping();
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

/// The TLS files of every primary with `tls` (zones and templates),
/// read while still root, as the TLS listener's are; a file that cannot
/// be used stops the start, named with its setting.
fn primaries_tls(config: &Config) -> anyhow::Result<Arc<ClientTlsCache>> {
    let cache = Arc::new(ClientTlsCache::default());
    let problems = crate::loader::read_primaries_tls(config, &cache);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.into_iter().map(|p| p.text).collect();
        anyhow::bail!("{}", lines.join("\n"));
    }
    Ok(cache)
}

/// Every listener of the configuration, bound before anything else is
/// done, so that root can be dropped before the first file is written.
struct Bound {
    dns: Vec<(
        std::net::SocketAddr,
        Vec<std::net::UdpSocket>,
        tokio::net::TcpListener,
    )>,
    /// The TLS listener's configuration (its files read while still
    /// root, as they may be readable by root only) and its sockets.
    tls: Option<TlsListeners>,
    dashboard: Option<crate::monitor::http::DashboardServer>,
    control: Option<ControlServer>,
}

fn bind_all(config: &Config, workers: usize) -> anyhow::Result<Bound> {
    let mut dns = Vec::new();
    for &addr in &config.server.listen {
        let sockets =
            net::bind_udp(addr, workers).with_context(|| format!("binding UDP {addr}"))?;
        let listener = bind_tcp(addr).with_context(|| format!("binding TCP {addr}"))?;
        dns.push((addr, sockets, listener));
    }
    let tls = bind_tls(&config.server)?;
    let dashboard = match config.monitor.as_ref().and_then(|m| m.listen) {
        Some(addr) => Some(
            crate::monitor::http::DashboardServer::bind(addr)
                .with_context(|| format!("binding the monitor's dashboard {addr}"))?,
        ),
        None => None,
    };
    let control = match config.server.control {
        Some(addr) => {
            let server =
                ControlServer::bind(addr).with_context(|| format!("binding control {addr}"))?;
            Some(match &config.server.control_key {
                // Never an unsigned interface when a key was asked for.
                Some(name) => server.with_key(&config.tsig_key(name).with_context(|| {
                    format!("server.control_key: no usable [[key]] named {name:?}")
                })?),
                None => server,
            })
        }
        None => None,
    };
    Ok(Bound {
        dns,
        tls,
        dashboard,
        control,
    })
}

/// The TLS listener: certificate and key read, then its addresses bound.
fn bind_tls(server: &config::ServerConfig) -> anyhow::Result<Option<TlsListeners>> {
    let Some(tls) = ServerTls::from_config(server)? else {
        return Ok(None);
    };
    let mut listeners = Vec::new();
    for &addr in &server.tls_listen {
        let listener = bind_tcp(addr).with_context(|| format!("binding TLS {addr}"))?;
        listeners.push((addr, listener));
    }
    Ok(Some((tls, listeners)))
}

type TlsListeners = (
    ServerTls,
    Vec<(std::net::SocketAddr, tokio::net::TcpListener)>,
);

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
/// The signals `serve` acts on: SIGHUP reloads, SIGTERM and SIGINT stop.
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Reloads on each SIGHUP until SIGTERM or SIGINT.
    async fn until_stopped(mut self, zones: &Registry) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => reload_changed(&zones.load()),
                _ = self.term.recv() => break,
                _ = self.int.recv() => break,
            }
        }
        tracing::info!("shutting down");
    }
}

/// Plans a Load for every zone whose files changed (each zone's
/// dispatcher runs it; a few zones at once); queries keep being answered
/// from the old versions meanwhile.
fn reload_changed(zones: &Zones) {
    tracing::info!("SIGHUP: reloading changed zone files");
    for zone in zones.primaries() {
        if zone.needs_reload() {
            zone.ask_load(LoadAsk {
                force: false,
                if_changed: true,
                reply: None,
            });
        }
    }
}

/// Routes NOTIFY in to the secondary zone it is for, at most
/// `notify_in_rate` per second from one source (checked before anything
/// else, so a flood costs a hash and a lock per packet and one log line
/// per interval).
struct NotifyRouter {
    zones: Arc<Registry>,
    rate: SourceRate,
}

/// NOTIFYs refused by the zone's rules: logged once per interval too, so
/// a flood from elsewhere does not flood the log (each at debug level).
static NOTIFY_NOT_ALLOWED: LimitLog = LimitLog::new(
    "notify_not_allowed",
    "NOTIFY refused: not from a primary or an allow_notify rule",
);

impl NotifyRouter {
    /// Whether one more NOTIFY from `peer` (about `zone`) is within
    /// `notify_in_rate`; counted and logged when not.
    fn within_rate(&self, peer: Option<std::net::SocketAddr>, zone: &[u8]) -> bool {
        let Some(ip) = peer.map(|p| p.ip()) else {
            return true;
        };
        if self.rate.allow(ip) {
            return true;
        }
        limit::NOTIFY_RATE.hit(Some(ip), Some(&crate::name::display(zone)));
        false
    }
}

/// Routes what the query path reports of peers to the zone's peer
/// history: signed queries that failed TSIG.
struct PeerRouter {
    zones: Arc<Registry>,
}

impl PeerLog for PeerRouter {
    /// Recorded without waiting (`try_record`): the query path must not
    /// queue behind a report copying the history. A miss is counted.
    fn tsig_failed(
        &self,
        zone: &[u8],
        peer: std::net::SocketAddr,
        error: &'static str,
        key: Option<&str>,
    ) {
        let zones = self.zones.load();
        let Some(z) = zones.get(zone) else {
            return;
        };
        let peers = &z.core().peers;
        let what = PeerWhat::SoaQuery {
            key: key.map(crate::peers::cut),
            tsig_error: error,
        };
        let event = PeerEvent {
            at: peers.now(),
            what,
        };
        if !peers.try_record(peer.ip(), event) {
            limit::PEER_HISTORY_BUSY.hit(Some(peer.ip()), Some(&crate::name::display(zone)));
        }
    }
}

/// A NOTIFY to a zone we are primary for, in its peer history: another
/// server believes it is a primary of it (a second primary, or a
/// secondary pointed at the wrong one).
fn notified_primary(peers: &ZonePeers, from: std::net::SocketAddr) {
    let what = PeerWhat::NotifyIn {
        rcode: NOTAUTH_CODE,
    };
    let at = peers.now();
    peers.record(from.ip(), PeerEvent { at, what });
}

/// The RCODE a NOTIFY for a zone we are not secondary for gets (a 4-bit
/// header RCODE: the cast keeps it whole).
const NOTAUTH_CODE: u8 = crate::wire::rcode::NOTAUTH as u8;

impl NotifyListener for NotifyRouter {
    fn notify_csync(
        &self,
        parent: &[u8],
        child: &[u8],
        peer: Option<std::net::SocketAddr>,
    ) -> NotifyVerdict {
        if !self.within_rate(peer, child) {
            return NotifyVerdict::Refused;
        }
        let zones = self.zones.load();
        let agent = zones.agent(parent).filter(|a| a.follows(child));
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
        serial: Option<crate::serial::Serial>,
    ) -> NotifyVerdict {
        if !self.within_rate(peer, zone) {
            return NotifyVerdict::Refused;
        }
        let zones = self.zones.load();
        let z = match zones.get(zone) {
            Some(Managed::Secondary(z)) => z,
            other => {
                tracing::info!(zone = %crate::name::display(zone), ?peer, "NOTIFY for a zone we are not secondary for: NOTAUTH");
                if let (Some(Managed::Primary(primary)), Some(peer)) = (other, peer) {
                    notified_primary(&primary.peers, peer);
                }
                return NotifyVerdict::NotSecondary;
            }
        };
        if !z.notify_allowed(peer, key) {
            tracing::debug!(
                zone = z.name(),
                ?peer,
                key = key.unwrap_or("none"),
                "NOTIFY refused: not from a primary or an allow_notify rule"
            );
            let name = z.name();
            NOTIFY_NOT_ALLOWED.hit(peer.map(|p| p.ip()), Some(&name));
            return NotifyVerdict::Refused;
        }
        // One line per refresh planned; NOTIFYs joining a planned one
        // (a burst, a flood) only at debug level.
        if z.notified(peer, serial) {
            tracing::info!(
                zone = z.name(),
                ?peer,
                ?serial,
                "NOTIFY received: refresh planned"
            );
        } else {
            tracing::debug!(
                zone = z.name(),
                ?peer,
                ?serial,
                "NOTIFY received: joins the refresh planned"
            );
        }
        NotifyVerdict::Accepted
    }
}
