//! The running server: loads the configured zones, starts the listeners,
//! and handles signals (SIGHUP reloads changed zone files, SIGTERM and
//! SIGINT stop cleanly).

use crate::acl::Acl;
use crate::config::{self, Config};
use crate::net::{self, Shutdown, TcpSettings};
use crate::notify::{Notifier, NotifySettings};
use crate::query::{Answerer, QueryConfig, QueryStats};
use crate::replication::ManagedZone;
use crate::xfr::{Transfers, XfrZone};
use crate::zone::{SharedZoneTable, Zone, ZoneTable};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

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
    let served: Vec<Arc<ManagedZone>> = config
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
                Notifier::spawn(
                    zone.clone(),
                    zc.notify.iter().map(|t| t.addr()).collect(),
                    settings,
                )
            });
            Ok(Arc::new(ManagedZone::new(
                zone,
                zc.clone(),
                &config.server,
                notifier,
            )))
        })
        .collect::<anyhow::Result<_>>()?;
    let table: Arc<SharedZoneTable> = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(
        served.iter().map(|s| s.zone().clone()),
    )));
    for zone in &served {
        let zone = zone.clone();
        tokio::task::spawn_blocking(move || zone.load(false)).await?;
    }

    let query_config = QueryConfig {
        edns_udp_max: config.server.edns_udp_max,
        nsid: config.server.nsid.as_ref().map(|s| s.as_bytes().into()),
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
    let answerer = Arc::new(
        Answerer::new(table, query_config, Arc::new(QueryStats::default()))
            .with_keys(Arc::new(keys))
            .with_transfers(transfers.clone()),
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
async fn signals(served: &[Arc<ManagedZone>]) -> anyhow::Result<()> {
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
async fn reload_changed(served: &[Arc<ManagedZone>]) {
    tracing::info!("SIGHUP: reloading changed zone files");
    for zone in served {
        if !zone.needs_reload() {
            continue;
        }
        let zone = zone.clone();
        let _ = tokio::task::spawn_blocking(move || zone.load(false)).await;
    }
}
