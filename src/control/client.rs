//! The control interface's client (`zonesync ctl`, and tests): blocking
//! calls, each one HTTP/1.1 request on its own connection, made with hyper
//! on a current-thread runtime of its own.

use super::{
    ChildReport, ErrorBody, NotifyQueued, PeerReport, PendingReport, RefreshQueued, ServerStatus,
    TxnCall, ZoneReload,
};
use crate::tsig::TsigKey;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{AUTHORIZATION, CONNECTION, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// The largest answer accepted (a status of many thousand zones fits).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    // The I/O error is in the message, not a `source`: anyhow's `{:#}`
    // would print it a second time after the hint.
    #[error("cannot reach the control interface at {addr}: {error} (is zonesync running with server.control set?)")]
    Connect { addr: SocketAddr, error: io::Error },
    #[error("control interface at {addr}: no answer within {} s", timeout.as_secs_f64())]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("control interface at {addr}: {message}")]
    Protocol { addr: SocketAddr, message: String },
    /// The server answered with an error status (404 unknown zone, 409
    /// refused, 500 failed, 400 bad request…).
    #[error("{message} (HTTP {status})")]
    Status { status: u16, message: String },
    #[error("control interface at {addr}: undecodable answer: {error}")]
    Decode {
        addr: SocketAddr,
        error: serde_json::Error,
    },
    #[error("starting the client's runtime: {0}")]
    Runtime(io::Error),
}

/// One control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call<'a> {
    Status,
    Metrics,
    Reload {
        zone: Option<&'a str>,
        force: bool,
    },
    Notify {
        zone: &'a str,
    },
    Refresh {
        zone: &'a str,
        retransfer: bool,
    },
    CsyncScan {
        zone: Option<&'a str>,
        child: Option<&'a str>,
        dry_run: bool,
    },
    CsyncPending,
    CsyncApprove {
        child: &'a str,
    },
    /// A control transaction request for `zone`.
    Txn {
        zone: &'a str,
        call: &'a TxnCall,
    },
    ZoneAdd {
        zone: &'a str,
        template: &'a str,
        file: Option<&'a str>,
    },
    ZoneRemove {
        zone: &'a str,
    },
    /// A zone's peer history, and these addresses whatever it holds.
    Peers {
        zone: &'a str,
        with: &'a [IpAddr],
    },
}

impl Call<'_> {
    /// The request's method.
    pub fn method(&self) -> Method {
        match self {
            Call::Status | Call::Metrics | Call::CsyncPending | Call::Peers { .. } => Method::GET,
            Call::Reload { .. }
            | Call::Notify { .. }
            | Call::Refresh { .. }
            | Call::CsyncScan { .. }
            | Call::CsyncApprove { .. }
            | Call::Txn { .. }
            | Call::ZoneAdd { .. }
            | Call::ZoneRemove { .. } => Method::POST,
        }
    }

    /// Path and query, the values percent-encoded.
    pub fn target(&self) -> String {
        match *self {
            Call::Status => "/status".into(),
            Call::Metrics => "/metrics".into(),
            Call::Reload { zone, force } => {
                let mut t = String::from("/reload");
                let mut sep = '?';
                if let Some(zone) = zone {
                    let _ = write!(t, "{sep}zone={}", percent_encode(zone));
                    sep = '&';
                }
                if force {
                    let _ = write!(t, "{sep}force=1");
                }
                t
            }
            Call::Notify { zone } => format!("/notify?zone={}", percent_encode(zone)),
            Call::CsyncScan {
                zone,
                child,
                dry_run,
            } => {
                let mut t = String::from("/csync/scan");
                let mut sep = '?';
                for (key, value) in [("zone", zone), ("child", child)] {
                    if let Some(v) = value {
                        let _ = write!(t, "{sep}{key}={}", percent_encode(v));
                        sep = '&';
                    }
                }
                if dry_run {
                    let _ = write!(t, "{sep}dry_run=1");
                }
                t
            }
            Call::CsyncPending => "/csync/pending".into(),
            Call::CsyncApprove { child } => {
                format!("/csync/approve?child={}", percent_encode(child))
            }
            Call::Txn { zone, call } => {
                let mut t = format!("/zone?zone={}&op={}", percent_encode(zone), call.op());
                let mut add = |key: &str, value: Option<&str>| {
                    if let Some(v) = value {
                        let _ = write!(t, "&{key}={}", percent_encode(v));
                    }
                };
                match call {
                    TxnCall::Set {
                        owner,
                        ttl,
                        rtype,
                        rdata,
                    } => {
                        add("owner", Some(owner));
                        add("ttl", ttl.map(|t| t.to_string()).as_deref());
                        add("type", Some(rtype));
                        add("rdata", Some(rdata));
                    }
                    TxnCall::Unset {
                        owner,
                        rtype,
                        rdata,
                    } => {
                        add("owner", Some(owner));
                        add("type", rtype.as_deref());
                        add("rdata", rdata.as_deref());
                    }
                    TxnCall::Get { owner, rtype } => {
                        add("owner", owner.as_deref());
                        add("type", rtype.as_deref());
                    }
                    TxnCall::Begin | TxnCall::Diff | TxnCall::Commit | TxnCall::Abort => {}
                }
                t
            }
            Call::ZoneAdd {
                zone,
                template,
                file,
            } => {
                let mut t = format!(
                    "/zone-add?zone={}&template={}",
                    percent_encode(zone),
                    percent_encode(template)
                );
                if let Some(file) = file {
                    let _ = write!(t, "&file={}", percent_encode(file));
                }
                t
            }
            Call::ZoneRemove { zone } => format!("/zone-remove?zone={}", percent_encode(zone)),
            Call::Peers { zone, with } => {
                let mut t = format!("/peers?zone={}", percent_encode(zone));
                if !with.is_empty() {
                    let list: Vec<String> = with.iter().map(IpAddr::to_string).collect();
                    let _ = write!(t, "&with={}", percent_encode(&list.join(",")));
                }
                t
            }
            Call::Refresh { zone, retransfer } => format!(
                "/refresh?zone={}{}",
                percent_encode(zone),
                if retransfer { "&retransfer=1" } else { "" }
            ),
        }
    }
}

/// A client of one control address.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    /// The control key every request is signed with, when the server
    /// wants one (`server.control_key`).
    key: Option<Arc<TsigKey>>,
}

impl Client {
    /// A client with a 10-minute timeout per request (a reload of big
    /// zones may take minutes).
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            timeout: Duration::from_secs(600),
            key: None,
        }
    }

    /// Signs every request with `key`, the server's `control_key`
    /// ([`super::auth`]: `Authorization: Zonesync-HMAC …`, at this host's
    /// clock, which must be within 300 s of the server's).
    pub fn with_key(mut self, key: TsigKey) -> Client {
        self.key = Some(Arc::new(key));
        self
    }

    /// Sets the time one request may take, connecting included.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET /status`.
    pub fn status(&self) -> Result<ServerStatus, ClientError> {
        self.decode_answer(&self.call_raw(Call::Status)?)
    }

    /// `POST /reload`: one zone, or all when `zone` is `None`.
    pub fn reload(&self, zone: Option<&str>, force: bool) -> Result<Vec<ZoneReload>, ClientError> {
        self.decode_answer(&self.call_raw(Call::Reload { zone, force })?)
    }

    /// `POST /notify`.
    pub fn notify(&self, zone: &str) -> Result<NotifyQueued, ClientError> {
        self.decode_answer(&self.call_raw(Call::Notify { zone })?)
    }

    /// `POST /refresh`.
    pub fn refresh(&self, zone: &str, retransfer: bool) -> Result<RefreshQueued, ClientError> {
        self.decode_answer(&self.call_raw(Call::Refresh { zone, retransfer })?)
    }

    /// `POST /csync/scan`.
    pub fn csync_scan(
        &self,
        zone: Option<&str>,
        child: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<ChildReport>, ClientError> {
        self.decode_answer(&self.call_raw(Call::CsyncScan {
            zone,
            child,
            dry_run,
        })?)
    }

    /// `GET /csync/pending`.
    pub fn csync_pending(&self) -> Result<Vec<PendingReport>, ClientError> {
        self.decode_answer(&self.call_raw(Call::CsyncPending)?)
    }

    /// `POST /csync/approve`.
    pub fn csync_approve(&self, child: &str) -> Result<ChildReport, ClientError> {
        self.decode_answer(&self.call_raw(Call::CsyncApprove { child })?)
    }

    /// `GET /peers`: the zone's peer history, and `with`'s addresses.
    pub fn peers(&self, zone: &str, with: &[IpAddr]) -> Result<PeerReport, ClientError> {
        self.decode_answer(&self.call_raw(Call::Peers { zone, with })?)
    }

    /// Makes the call and returns the JSON body of a successful answer;
    /// an error status becomes [`ClientError::Status`].
    pub fn call_raw(&self, call: Call<'_>) -> Result<Bytes, ClientError> {
        let (status, body) = self.request(call.method(), &call.target())?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        // Error answers carry {"error": "..."}; anything else is shown raw.
        let message = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => e.error,
            Err(_) => String::from_utf8_lossy(&body).trim().to_owned(),
        };
        Err(ClientError::Status { status, message })
    }

    /// Any request: the status code and body, whatever the status.
    pub fn request(&self, method: Method, target: &str) -> Result<(u16, Bytes), ClientError> {
        let fut = async {
            tokio::time::timeout(self.timeout, self.exchange(method, target))
                .await
                .map_err(|_| ClientError::Timeout {
                    addr: self.addr,
                    timeout: self.timeout,
                })?
        };
        block_on(fut)
    }

    async fn exchange(&self, method: Method, target: &str) -> Result<(u16, Bytes), ClientError> {
        let addr = self.addr;
        let protocol = |message: String| ClientError::Protocol { addr, message };
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|error| ClientError::Connect { addr, error })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| protocol(e.to_string()))?;
        // The connection is driven on this runtime while we wait below.
        let driver = tokio::spawn(conn);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(target)
            .header(HOST, addr.to_string())
            .header(CONNECTION, "close");
        if let Some(key) = &self.key {
            let now = std::time::SystemTime::now();
            request = request.header(
                AUTHORIZATION,
                super::auth::sign(key, method.as_str(), target, now),
            );
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| protocol(format!("building the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| protocol(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| protocol(format!("reading the answer: {e}")))?
            .to_bytes();
        driver.abort();
        Ok((status, body))
    }

    /// Decodes the JSON body of a successful answer (from [`Client::call_raw`]).
    pub fn decode_answer<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|error| ClientError::Decode {
            addr: self.addr,
            error,
        })
    }
}

/// Runs `fut` to completion on a current-thread runtime of its own. Inside
/// another runtime (async tests), that is done on a scoped thread, since a
/// runtime cannot be started from a runtime thread.
fn block_on<F, T>(fut: F) -> Result<T, ClientError>
where
    F: Future<Output = Result<T, ClientError>> + Send,
    T: Send,
{
    let run = move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?
            .block_on(fut)
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|s| {
        s.spawn(run).join().unwrap_or_else(|_| {
            Err(ClientError::Runtime(io::Error::other(
                "client thread panicked",
            )))
        })
    })
}

/// Percent-encodes all but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Call::Status.target(), "/status");
        assert_eq!(
            Call::Reload {
                zone: None,
                force: false
            }
            .target(),
            "/reload"
        );
        assert_eq!(
            Call::Reload {
                zone: None,
                force: true
            }
            .target(),
            "/reload?force=1"
        );
        assert_eq!(
            Call::Reload {
                zone: Some("a b&c.example"),
                force: true
            }
            .target(),
            "/reload?zone=a%20b%26c.example&force=1"
        );
        assert_eq!(
            Call::Notify {
                zone: "example.com"
            }
            .target(),
            "/notify?zone=example.com"
        );
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for s in ["example.com", "a b+c&d=e%f", "ünï.example", "\\032.x"] {
            assert_eq!(
                crate::net::http::percent_decode(&percent_encode(s)).as_deref(),
                Some(s)
            );
        }
    }
}
