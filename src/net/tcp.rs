//! TCP: 2-octet length framing (RFC 1035 §4.2.2, RFC 7766), several
//! queries per connection, an idle timeout and a connection cap.

use super::Shutdown;
use crate::query::{Answerer, TcpAnswer};
use crate::xfr::Transfers;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The longest a connection waits for an UPDATE's answer (a zone's
/// Update event behind a long load or flush); then it goes on without.
const UPDATE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct TcpSettings {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown`.
pub async fn serve_tcp(
    listener: TcpListener,
    answerer: Arc<Answerer>,
    transfers: Arc<Transfers>,
    settings: TcpSettings,
    shutdown: Shutdown,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
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
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // At the cap, the new connection is closed at once rather than
        // left waiting: the client can retry or use another server.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "TCP connection refused: too many open");
            drop(stream);
            continue;
        };
        let answerer = answerer.clone();
        let transfers = transfers.clone();
        let idle = settings.idle_timeout;
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let conn = Connection {
                answerer: &answerer,
                transfers: &transfers,
                peer,
                idle,
            };
            if let Err(e) = conn.run(stream, &shutdown).await {
                tracing::debug!(error = %e, %peer, "TCP connection ended");
            }
            drop(permit);
        });
    }
}

struct Connection<'a> {
    answerer: &'a Answerer,
    transfers: &'a Transfers,
    peer: std::net::SocketAddr,
    idle: Duration,
}

impl Connection<'_> {
    async fn run(&self, mut stream: TcpStream, shutdown: &Shutdown) -> io::Result<()> {
        let (answerer, idle) = (self.answerer, self.idle);
        let _ = stream.set_nodelay(true);
        let mut request = vec![0u8; 65535];
        let mut response = vec![0u8; 2 + 65535];
        while !shutdown.is_triggered() {
            let mut len = [0u8; 2];
            match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
                Err(_) => return Ok(()), // idle: close quietly
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(r) => r?,
            };
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
                    self.transfers.serve(&req, self.peer, &mut stream).await?;
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
                    continue;
                }
            };
            response[..2].copy_from_slice(&(n as u16).to_be_bytes());
            stream.write_all(&response[..2 + n]).await?;
        }
        Ok(())
    }
}
