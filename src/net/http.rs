//! What the two HTTP listeners (the control interface and the monitor's
//! dashboard) share: binding, an accept loop with a cap on connections
//! that stops when the shutdown is triggered, and reading query strings
//! ([`percent_decode`], [`ParamError`]). Each serves its connections its
//! own way.

use super::limit::{self, LimitLog};
use super::Shutdown;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How often a waiting accept loop looks at the shutdown flag.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// Binds a TCP listener on `addr` with SO_REUSEADDR (a restart must not
/// fail on the previous run's TIME_WAIT sockets). Needs a tokio runtime.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Runs `fut` until it completes (`Some`) or `shutdown` is triggered.
pub async fn until_shutdown<F: Future>(fut: F, shutdown: &Shutdown) -> Option<F::Output> {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(SHUTDOWN_POLL);
    loop {
        tokio::select! {
            out = &mut fut => return Some(out),
            _ = tick.tick() => if shutdown.is_triggered() { return None; },
        }
    }
}

/// Accepts until `shutdown`, at most `max_connections` served at once
/// (further clients wait in the listen backlog: a `ctl` command waits
/// rather than fails), each by `serve` on a task of its own; connections
/// still open at shutdown are dropped. `what` names the listener in logs
/// ("control" or "dashboard"); reaching the cap is counted and logged
/// once per interval (`limit`).
pub async fn accept_loop<F, Fut>(
    listener: &TcpListener,
    max_connections: usize,
    shutdown: &Shutdown,
    what: &'static str,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set stays as small as the cap.
        while connections.try_join_next().is_some() {}
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                at_cap(what).hit(None, None);
                let Some(Ok(permit)) =
                    until_shutdown(slots.clone().acquire_owned(), shutdown).await
                else {
                    return;
                };
                permit
            }
        };
        let Some(accepted) = until_shutdown(listener.accept(), shutdown).await else {
            return;
        };
        let (stream, peer) = match accepted {
            Ok(got) => got,
            Err(e) => {
                // E.g. EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "{what} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = serve(stream, peer);
        connections.spawn(async move {
            connection.await;
            drop(permit);
        });
    }
}

/// The limit counting `what`'s listener at its cap.
fn at_cap(what: &str) -> &'static LimitLog {
    match what {
        "control" => &limit::CONTROL_CONNECTIONS,
        _ => &limit::DASHBOARD_CONNECTIONS,
    }
}

/// Why a query string is refused (400 Bad Request); the text is what the
/// answer says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("bad percent-encoding in query")]
    BadEncoding,
    /// A parameter the path does not take: a typo is not ignored.
    #[error("{path} takes no parameter {key:?}")]
    NotTaken { path: String, key: String },
    #[error("{0}: given more than once")]
    Repeated(&'static str),
    #[error("{0}: empty")]
    Empty(&'static str),
    #[error("{0}: missing")]
    Missing(&'static str),
    #[error("{0}: too long")]
    TooLong(&'static str),
    #[error("{name}: {value:?} is not {expected}")]
    BadValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Decodes a query string's `%XX` escapes and `+` (form encoding's
/// space); `None` on a broken escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex_value(bytes.next()?)?;
                let lo = hex_value(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
