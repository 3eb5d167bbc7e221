//! The running server: loads the configured zones, starts the listeners,
//! and handles signals (SIGHUP reloads changed zone files, SIGTERM and
//! SIGINT stop cleanly).

use crate::acl::Acl;
use crate::config::{self, Config, ZoneConfig};
use crate::loader::{self, LoadOptions};
use crate::net::{self, Shutdown, TcpSettings};
use crate::notify::{Notifier, NotifySettings};
use crate::query::{Answerer, QueryConfig, QueryStats};
use crate::xfr::Transfers;
use crate::zone::{SharedZoneTable, Zone, ZoneTable};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A configured zone and what the server knows about its source.
struct ServedZone {
    zone: Arc<Zone>,
    config: ZoneConfig,
    /// Files of the version being served, to tell whether a reload is due.
    files: Mutex<Vec<(PathBuf, Option<SystemTime>)>>,
    /// NOTIFY to the zone's `notify` targets, when it has any.
    notifier: Option<Notifier>,
}

impl ServedZone {
    fn name(&self) -> &str {
        &self.config.name
    }

    /// Loads the zone file and publishes it; on failure the version being
    /// served (if any) stays.
    fn load(&self) -> bool {
        let opts = LoadOptions {
            include_anywhere: self.config.include_anywhere,
        };
        let started = std::time::Instant::now();
        match loader::load_zone_file(&self.config.file, self.zone.origin(), &opts) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(zone = self.name(), "{w}");
                }
                let old = self.zone.snapshot().map(|v| v.serial());
                let serial = loaded.version.serial();
                let records = loaded.version.record_count();
                self.zone.publish(Arc::new(loaded.version));
                if old != Some(serial) {
                    if let Some(n) = &self.notifier {
                        n.changed();
                    }
                }
                if let Ok(mut files) = self.files.lock() {
                    *files = loaded.files;
                }
                tracing::info!(
                    zone = self.name(),
                    serial,
                    old_serial = ?old,
                    records,
                    ms = started.elapsed().as_millis() as u64,
                    "zone loaded"
                );
                true
            }
            Err(e) => {
                for line in &e.errors {
                    tracing::error!(zone = self.name(), "{line}");
                }
                let keeps = match self.zone.snapshot() {
                    Some(v) => format!("still serving serial {}", v.serial()),
                    None => "zone not served (SERVFAIL) until it loads".into(),
                };
                tracing::error!(zone = self.name(), "zone load failed; {keeps}");
                false
            }
        }
    }

    fn needs_reload(&self) -> bool {
        self.zone.snapshot().is_none()
            || self
                .files
                .lock()
                .map(|f| loader::files_changed(&f))
                .unwrap_or(true)
    }
}

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

async fn serve(config: Config) -> anyhow::Result<()> {
    let served: Vec<Arc<ServedZone>> = config
        .zones
        .iter()
        .map(|zc| {
            let origin = config::parse_zone_name(&zc.name).map_err(anyhow::Error::msg)?;
            let zone = Arc::new(Zone::new(&origin).context("zone name")?);
            let notifier = (!zc.notify.is_empty()).then(|| {
                let settings = NotifySettings {
                    delay: Duration::from_millis(config.server.notify_delay_ms),
                    retries: config.server.notify_retries,
                    ..NotifySettings::default()
                };
                Notifier::spawn(zone.clone(), zc.notify.iter().map(|t| t.addr()).collect(), settings)
            });
            Ok(Arc::new(ServedZone {
                zone,
                config: zc.clone(),
                files: Mutex::new(Vec::new()),
                notifier,
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let table: Arc<SharedZoneTable> = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(
        served.iter().map(|s| s.zone.clone()),
    )));
    for zone in &served {
        let zone = zone.clone();
        tokio::task::spawn_blocking(move || zone.load()).await?;
    }

    let query_config = QueryConfig {
        edns_udp_max: config.server.edns_udp_max,
        nsid: config.server.nsid.as_ref().map(|s| s.as_bytes().into()),
    };
    let acls = config
        .zones
        .iter()
        .filter_map(|zc| {
            let origin = config::parse_zone_name(&zc.name).ok()?;
            Some((origin, Acl::new(zc.allow_transfer.clone())))
        })
        .collect();
    let keys = config.tsig_keys().map_err(anyhow::Error::msg)?;
    let transfers = Arc::new(Transfers::new(
        table.clone(),
        acls,
        keys.clone(),
        config.server.transfer_limit,
    ));
    let answerer = Arc::new(
        Answerer::new(table, query_config, Arc::new(QueryStats::default()))
            .with_keys(Arc::new(keys)),
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
async fn signals(served: &[Arc<ServedZone>]) -> anyhow::Result<()> {
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
async fn reload_changed(served: &[Arc<ServedZone>]) {
    tracing::info!("SIGHUP: reloading changed zone files");
    for zone in served {
        if !zone.needs_reload() {
            continue;
        }
        let zone = zone.clone();
        let _ = tokio::task::spawn_blocking(move || zone.load()).await;
    }
}
