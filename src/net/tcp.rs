//! TCP: 2-octet length framing (RFC 1035 §4.2.2, RFC 7766), several
//! queries per connection, an idle timeout, a connection cap and a cap
//! per client address (`limit::PerClient`). The connection is generic
//! over its stream, so the TLS listener (`net::tls`) serves the very same
//! framing, queries and transfers.

use super::limit::{self, PerClient};
use super::Shutdown;
use crate::acl::Transport;
use crate::query::{Answerer, TcpAnswer};
use crate::xfr::Transfers;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The longest a connection waits for an UPDATE's answer (a zone's
/// Update event behind a long load or flush); then it goes on without.
const UPDATE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct TcpSettings {
    /// Connections open at once over every TCP and TLS listener
    /// (`tcp_max_connections`): a permit each.
    pub open: Arc<Semaphore>,
    pub idle_timeout: Duration,
    /// Connections open per client address (IPv6: per /64), shared by
    /// every TCP and TLS listener; its cap 0: none.
    pub per_client: Arc<PerClient>,
}

/// Accepts connections on `listener` until `shutdown`.
pub async fn serve_tcp(
    listener: TcpListener,
    answerer: Arc<Answerer>,
    transfers: Arc<Transfers>,
    settings: TcpSettings,
    shutdown: Shutdown,
) {
    let open = settings.open.clone();
    let per_client = settings.per_client.clone();
    accept_loop(
        listener,
        open,
        per_client,
        shutdown.clone(),
        "TCP",
        move |stream, peer| {
            let _ = stream.set_nodelay(true);
            let conn = Connection::new(&answerer, &transfers, peer, &settings);
            let shutdown = shutdown.clone();
            async move {
                let mut stream = stream;
                if let Err(e) = conn.run(&mut stream, &shutdown).await {
                    tracing::debug!(error = %e, %peer, "TCP connection ended");
                }
            }
        },
    )
    .await
}

/// Accepts connections until `shutdown`, each served by the task `serve`
/// makes of it, at most what `open` permits and at most what `per_client`
/// allows from one client. A connection over either cap is closed at
/// once (the client can retry or use another server), counted and
/// logged once per interval (`limit`).
pub(super) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    open: Arc<Semaphore>,
    per_client: Arc<PerClient>,
    shutdown: Shutdown,
    what: &'static str,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tick.tick() => {
                if shutdown.is_triggered() { return; }
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(got) => got,
            Err(e) => {
                tracing::warn!(error = %e, "{what} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // The client's own cap first: one client at its cap is told so
        // however many others are connected.
        let Some(client_slot) = per_client.try_acquire(peer.ip()) else {
            limit::TCP_CONNECTIONS_PER_CLIENT.hit(Some(peer.ip()), None);
            drop(stream);
            continue;
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            limit::TCP_CONNECTIONS.hit(Some(peer.ip()), None);
            drop(stream);
            continue;
        };
        tracing::trace!(%peer, "{what} connection");
        let served = serve(stream, peer);
        tokio::spawn(async move {
            served.await;
            drop(permit);
            drop(client_slot);
        });
    }
}

/// One client connection, after any TLS handshake.
pub(super) struct Connection {
    pub(super) answerer: Arc<Answerer>,
    pub(super) transfers: Arc<Transfers>,
    pub(super) peer: SocketAddr,
    pub(super) idle: Duration,
    /// What transfer rules see of how the client came.
    pub(super) transport: Transport,
}

impl Connection {
    /// A connection as accepted: plain until a TLS handshake says more.
    pub(super) fn new(
        answerer: &Arc<Answerer>,
        transfers: &Arc<Transfers>,
        peer: SocketAddr,
        settings: &TcpSettings,
    ) -> Connection {
        Connection {
            answerer: answerer.clone(),
            transfers: transfers.clone(),
            peer,
            idle: settings.idle_timeout,
            transport: Transport::Plain,
        }
    }

    pub(super) async fn run<S>(&self, stream: &mut S, shutdown: &Shutdown) -> io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (answerer, idle) = (&*self.answerer, self.idle);
        // Made at the first request: a connection opened and never used
        // (or abandoned by a flood of them) costs no 128 KiB of buffers.
        let mut buffers: Option<(Vec<u8>, Vec<u8>)> = None;
        while !shutdown.is_triggered() {
            let mut len = [0u8; 2];
            match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
                Err(_) => return Ok(()), // idle: close quietly
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(r) => r?,
            };
            let (request, response) =
                buffers.get_or_insert_with(|| (vec![0u8; 65535], vec![0u8; 2 + 65535]));
            let len = u16::from_be_bytes(len) as usize;
            let Some(buf) = request.get_mut(..len) else {
                return Ok(());
            };
            tokio::time::timeout(idle, stream.read_exact(buf))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request body timed out"))??;
            let n = match answerer.answer_tcp(buf, self.peer, &mut response[2..]) {
                // Zone transfers are multi-message streams.
                TcpAnswer::Transfer(req) => {
                    self.transfers
                        .serve(&req, self.peer, self.transport, stream)
                        .await?;
                    continue;
                }
                TcpAnswer::Answered(n) => n,
                TcpAnswer::Dropped => continue,
                // Answered once the change is durable; the connection's
                // next request waits for it (answers stay in order).
                TcpAnswer::Update => {
                    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
                    answerer.update(
                        buf,
                        self.peer,
                        Box::new(move |out| {
                            let _ = tx.send(out);
                        }),
                    );
                    let Ok(Ok(out)) = tokio::time::timeout(UPDATE_WAIT, rx).await else {
                        continue;
                    };
                    let Ok(len) = u16::try_from(out.len()) else {
                        continue;
                    };
                    stream.write_all(&len.to_be_bytes()).await?;
                    stream.write_all(&out).await?;
                    stream.flush().await?;
                    continue;
                }
            };
            response[..2].copy_from_slice(&(n as u16).to_be_bytes());
            stream.write_all(&response[..2 + n]).await?;
            // TLS holds records back until flushed; TCP's flush is free.
            stream.flush().await?;
        }
        Ok(())
    }
}
