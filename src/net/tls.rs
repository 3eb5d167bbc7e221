//! The TLS listener (DNS over TLS, RFC 7858, and XoT, RFC 9103): accept,
//! handshake within the idle timeout, then the TCP listener's connection
//! (`tcp::Connection`) over the TLS stream, with the client's certificate
//! (if any) handed to the transfer rules.

use super::tcp::{accept_loop, Connection};
use super::{Shutdown, TcpSettings};
use crate::acl::Transport;
use crate::query::Answerer;
use crate::tls::server::{client_pin, handshake_failure, ServerTls};
use crate::xfr::Transfers;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Accepts TLS connections on `listener` until `shutdown`.
pub async fn serve_tls(
    listener: TcpListener,
    tls: ServerTls,
    answerer: Arc<Answerer>,
    transfers: Arc<Transfers>,
    settings: TcpSettings,
    shutdown: Shutdown,
) {
    let acceptor = TlsAcceptor::from(tls.config());
    let open = settings.open.clone();
    let per_client = settings.per_client.clone();
    accept_loop(
        listener,
        open,
        per_client,
        shutdown.clone(),
        "TLS",
        move |stream, peer| {
            let _ = stream.set_nodelay(true);
            let conn = Connection::new(&answerer, &transfers, peer, &settings);
            serve_one(acceptor.clone(), stream, conn, shutdown.clone())
        },
    )
    .await
}

/// The handshake, then queries and transfers until the client leaves.
async fn serve_one(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    mut conn: Connection,
    shutdown: Shutdown,
) {
    let peer = conn.peer;
    let Some(mut tls) = handshake(&acceptor, stream, peer, conn.idle).await else {
        return;
    };
    let client = client_pin(tls.get_ref().1);
    tracing::debug!(%peer, client_cert = ?client, "TLS connection");
    conn.transport = Transport::Tls { client };
    if let Err(e) = conn.run(&mut tls, &shutdown).await {
        tracing::debug!(error = %e, %peer, "TLS connection ended");
    }
    // close_notify, so the client knows nothing was cut off.
    let _ = tokio::time::timeout(conn.idle, tls.shutdown()).await;
}

/// A failed handshake is logged once, with the peer and why (a plain DNS
/// client, an untrusted or missing certificate, ALPN without "dot").
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    timeout: std::time::Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            match handshake_failure(&e) {
                Some(reason) => tracing::warn!(%peer, reason, "TLS handshake failed"),
                None => tracing::debug!(%peer, "TLS connection closed before the handshake"),
            }
            None
        }
        Err(_) => {
            tracing::warn!(%peer, reason = "timed out", "TLS handshake failed");
            None
        }
    }
}
