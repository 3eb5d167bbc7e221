//! The control interface's HTTP/1.1 server (hyper): routing, query
//! parsing, JSON answers, and the bounds that keep a stuck or hostile
//! local client from holding the server (connection cap, header timeout,
//! a whole-exchange timeout, one request per connection).

use super::auth::{AuthError, Verifier, SCHEME};
use super::client::Call;
use super::{ControlError, ControlHandler, ErrorBody, TxnCall};
use crate::net::http::{percent_decode, ParamError};
use crate::net::Shutdown;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Request line plus headers; our requests need a few hundred octets.
const MAX_HEADER_SIZE: usize = 8192;

/// Limits of the control server.
#[derive(Debug, Clone)]
pub struct ControlSettings {
    /// Connections served at once; further ones wait in the listen backlog
    /// until a slot frees (a control client would rather wait than fail).
    pub max_connections: usize,
    /// Time a client has to send its request line and headers.
    pub header_timeout: Duration,
    /// Time one connection may last in all, request to last octet of the
    /// answer: long enough for a reload of big zones, short enough that a
    /// client that never reads its answer gives its slot back.
    pub connection_timeout: Duration,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            max_connections: 16,
            header_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(600),
        }
    }
}

/// A bound control listener, not yet serving.
///
/// Binding is separate from serving so that a bind failure is reported at
/// start-up, before the serving task is spawned.
#[derive(Debug)]
pub struct ControlServer {
    listener: TcpListener,
    settings: ControlSettings,
    /// The control key: when set, every request must be signed with it.
    key: Option<Arc<Verifier>>,
}

impl ControlServer {
    /// Binds `addr`. Must be called within a tokio runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<ControlServer> {
        Ok(ControlServer {
            listener: crate::net::http::bind(addr, 64)?,
            settings: ControlSettings::default(),
            key: None,
        })
    }

    /// Requires every request to be signed with `key` (`server.control_key`).
    pub fn with_key(mut self, key: &crate::tsig::TsigKey) -> ControlServer {
        self.key = Some(Arc::new(Verifier::new(key)));
        self
    }

    pub fn with_settings(mut self, settings: ControlSettings) -> ControlServer {
        self.settings = settings;
        self
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is triggered; connections still open then
    /// are dropped (a reload already running finishes on its thread).
    pub async fn run(self, handler: Arc<dyn ControlHandler>, shutdown: Shutdown) {
        let settings = self.settings;
        let max = settings.max_connections;
        let key = self.key;
        crate::net::http::accept_loop(&self.listener, max, &shutdown, "control", |stream, peer| {
            let (handler, settings, key) = (handler.clone(), settings.clone(), key.clone());
            async move { serve_connection(stream, peer, handler, key, &settings).await }
        })
        .await;
    }
}

/// Binds `addr` and serves until `shutdown` (for callers that do not need
/// the bind error before spawning).
pub async fn serve(
    addr: SocketAddr,
    handler: Arc<dyn ControlHandler>,
    shutdown: Shutdown,
) -> io::Result<()> {
    ControlServer::bind(addr)?.run(handler, shutdown).await;
    Ok(())
}

/// One connection, one request: keep-alive is off, so a client cannot
/// hold a slot between requests.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<dyn ControlHandler>,
    key: Option<Arc<Verifier>>,
    settings: &ControlSettings,
) {
    let service = hyper::service::service_fn(move |req| {
        let (handler, key) = (handler.clone(), key.clone());
        async move { Ok::<_, Infallible>(handle(req, peer, handler, key.as_deref()).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(false)
        .max_header_size(MAX_HEADER_SIZE);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(settings.connection_timeout, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "control connection ended"),
        Err(_) => tracing::info!(%peer, "control connection cut: took too long"),
    }
}

/// Routes one request and logs it.
async fn handle(
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    handler: Arc<dyn ControlHandler>,
    key: Option<&Verifier>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let refused = key.and_then(|key| authorize(key, &req).err());
    // The body is never read: no route takes one, and with keep-alive off
    // hyper closes the connection instead of draining it.
    drop(req);
    let response = match refused {
        Some(e) => {
            tracing::info!(%peer, "control request refused: {e}");
            unauthorized(&e)
        }
        None => route(&method, &path, &query, handler).await,
    };
    tracing::info!(
        %method,
        path = %truncate(&path, 100),
        query = %truncate(&query, 200),
        %peer,
        status = response.status().as_u16(),
        "control request"
    );
    response
}

/// Checks the request's `Authorization` against the control key: over
/// its method and target as sent, at the server's clock.
fn authorize<B>(key: &Verifier, req: &Request<B>) -> Result<(), AuthError> {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |pq| pq.as_str());
    let header = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    key.check(header, req.method().as_str(), target, now)
}

/// 401, saying what is wrong and the scheme wanted.
fn unauthorized(e: &AuthError) -> Response<Full<Bytes>> {
    let mut response = error(StatusCode::UNAUTHORIZED, e.to_string());
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(SCHEME));
    response
}

/// A control request as the server reads it from its request line (the
/// body is never read: no route takes one). [`parse_request`] makes it;
/// [`ControlRequest::call`] is the client's [`Call`] that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlRequest {
    Status,
    Metrics,
    Reload {
        zone: Option<String>,
        force: bool,
    },
    Notify {
        zone: String,
    },
    Refresh {
        zone: String,
        retransfer: bool,
    },
    CsyncScan {
        zone: Option<String>,
        child: Option<String>,
        dry_run: bool,
    },
    CsyncPending,
    CsyncApprove {
        child: String,
    },
    Txn {
        zone: String,
        call: TxnCall,
    },
    ZoneAdd {
        zone: String,
        template: String,
        file: Option<String>,
    },
    ZoneRemove {
        zone: String,
    },
    /// A zone's peer history; `with`: addresses to report on even when
    /// the history holds nothing of them.
    Peers {
        zone: String,
        with: Vec<IpAddr>,
    },
}

/// The most addresses a `/peers?with=` names (a monitor's rows for one
/// zone; the request line stays within the header limit anyway).
pub const PEERS_WITH_MAX: usize = 256;

impl ControlRequest {
    /// The client's call for this request: its method and target read
    /// back as this request.
    pub fn call(&self) -> Call<'_> {
        match self {
            ControlRequest::Status => Call::Status,
            ControlRequest::Metrics => Call::Metrics,
            ControlRequest::Reload { zone, force } => Call::Reload {
                zone: zone.as_deref(),
                force: *force,
            },
            ControlRequest::Notify { zone } => Call::Notify { zone },
            ControlRequest::Refresh { zone, retransfer } => Call::Refresh {
                zone,
                retransfer: *retransfer,
            },
            ControlRequest::CsyncScan {
                zone,
                child,
                dry_run,
            } => Call::CsyncScan {
                zone: zone.as_deref(),
                child: child.as_deref(),
                dry_run: *dry_run,
            },
            ControlRequest::CsyncPending => Call::CsyncPending,
            ControlRequest::CsyncApprove { child } => Call::CsyncApprove { child },
            ControlRequest::Txn { zone, call } => Call::Txn { zone, call },
            ControlRequest::ZoneAdd {
                zone,
                template,
                file,
            } => Call::ZoneAdd {
                zone,
                template,
                file: file.as_deref(),
            },
            ControlRequest::ZoneRemove { zone } => Call::ZoneRemove { zone },
            ControlRequest::Peers { zone, with } => Call::Peers { zone, with },
        }
    }
}

/// Why a request is answered with an error before the handler is called;
/// [`RequestError::status`] is the HTTP status (4xx), the text the
/// answer's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// 404.
    #[error("no such path: {0}")]
    NoSuchPath(String),
    /// 405; `allowed` goes in the `Allow` header.
    #[error("{path} takes {allowed}")]
    WrongMethod { path: String, allowed: &'static str },
    /// 400: the query string.
    #[error("{0}")]
    Params(#[from] ParamError),
    /// 400: a parameter the route needs; the text says which.
    #[error("{0}")]
    Usage(&'static str),
}

impl RequestError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::NoSuchPath(_) => 404,
            RequestError::WrongMethod { .. } => 405,
            RequestError::Params(_) | RequestError::Usage(_) => 400,
        }
    }
}

/// Reads a control request from the method, path and query (without
/// `?`; empty when there is none) of its request line, as the server
/// does before it calls the handler: the path, then the method it takes,
/// then the parameters (each taken by the path, once, well encoded), then
/// those the route needs.
pub fn parse_request(
    method: &str,
    path: &str,
    query: &str,
) -> Result<ControlRequest, RequestError> {
    let allowed = match path {
        "/status" | "/metrics" | "/csync/pending" | "/peers" => "GET",
        "/reload" | "/notify" | "/refresh" | "/csync/scan" | "/csync/approve" | "/zone"
        | "/zone-add" | "/zone-remove" => "POST",
        _ => return Err(RequestError::NoSuchPath(path.to_owned())),
    };
    if method != allowed {
        return Err(RequestError::WrongMethod {
            path: path.to_owned(),
            allowed,
        });
    }
    let params = Params::parse(query, path)?;
    let need = |v: Option<String>, usage: &'static str| v.ok_or(RequestError::Usage(usage));
    Ok(match path {
        "/status" => ControlRequest::Status,
        "/metrics" => ControlRequest::Metrics,
        "/reload" => ControlRequest::Reload {
            zone: params.zone,
            force: params.force,
        },
        "/refresh" => ControlRequest::Refresh {
            zone: need(params.zone, "/refresh needs ?zone=NAME")?,
            retransfer: params.retransfer,
        },
        "/csync/scan" => ControlRequest::CsyncScan {
            zone: params.zone,
            child: params.child,
            dry_run: params.dry_run,
        },
        "/csync/pending" => ControlRequest::CsyncPending,
        "/zone" => {
            let zone = need(params.zone.clone(), "/zone needs ?zone=NAME")?;
            let call = params.txn_call()?;
            ControlRequest::Txn { zone, call }
        }
        "/zone-add" => {
            let usage = "/zone-add needs ?zone=NAME&template=NAME";
            ControlRequest::ZoneAdd {
                zone: need(params.zone, usage)?,
                template: need(params.template, usage)?,
                file: params.file,
            }
        }
        "/zone-remove" => ControlRequest::ZoneRemove {
            zone: need(params.zone, "/zone-remove needs ?zone=NAME")?,
        },
        "/csync/approve" => ControlRequest::CsyncApprove {
            child: need(params.child, "/csync/approve needs ?child=NAME")?,
        },
        "/peers" => ControlRequest::Peers {
            zone: need(params.zone, "/peers needs ?zone=NAME")?,
            with: params.with,
        },
        _ => ControlRequest::Notify {
            zone: need(params.zone, "/notify needs ?zone=NAME")?,
        },
    })
}

async fn route(
    method: &Method,
    path: &str,
    query: &str,
    handler: Arc<dyn ControlHandler>,
) -> Response<Full<Bytes>> {
    let request = match parse_request(method.as_str(), path, query) {
        Ok(r) => r,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = error(status, e.to_string());
            if let RequestError::WrongMethod { allowed, .. } = e {
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allowed));
            }
            return response;
        }
    };
    match request {
        ControlRequest::Status => json(StatusCode::OK, &handler.status()),
        ControlRequest::Metrics => metrics(&*handler),
        ControlRequest::Reload { zone, force } => reload(handler, zone, force).await,
        ControlRequest::Refresh { zone, retransfer } => match handler.refresh(&zone, retransfer) {
            Ok(queued) => json(StatusCode::OK, &queued),
            Err(e) => control_error(&e),
        },
        ControlRequest::Notify { zone } => match handler.notify(&zone) {
            Ok(queued) => json(StatusCode::OK, &queued),
            Err(e) => control_error(&e),
        },
        ControlRequest::CsyncScan {
            zone,
            child,
            dry_run,
        } => {
            let result = handler
                .csync_scan(zone.as_deref(), child.as_deref(), dry_run)
                .await;
            match result {
                Ok(reports) => json(StatusCode::OK, &reports),
                Err(e) => control_error(&e),
            }
        }
        ControlRequest::CsyncPending => json(StatusCode::OK, &handler.csync_pending()),
        ControlRequest::Txn { zone, call } => txn(handler, zone, call).await,
        ControlRequest::ZoneAdd {
            zone,
            template,
            file,
        } => match handler.zone_add(&zone, &template, file.as_deref()).await {
            Ok(change) => json(StatusCode::OK, &change),
            Err(e) => control_error(&e),
        },
        ControlRequest::ZoneRemove { zone } => match handler.zone_remove(&zone).await {
            Ok(change) => json(StatusCode::OK, &change),
            Err(e) => control_error(&e),
        },
        ControlRequest::CsyncApprove { child } => match handler.csync_approve(&child).await {
            Ok(report) => json(StatusCode::OK, &report),
            Err(e) => control_error(&e),
        },
        ControlRequest::Peers { zone, with } => match handler.peers(&zone, &with) {
            Ok(report) => json(StatusCode::OK, &report),
            Err(e) => control_error(&e),
        },
    }
}

async fn reload(
    handler: Arc<dyn ControlHandler>,
    zone: Option<String>,
    force: bool,
) -> Response<Full<Bytes>> {
    // Loading zone files blocks: keep it off the runtime's threads.
    let result = tokio::task::spawn_blocking(move || handler.reload(zone.as_deref(), force)).await;
    match result {
        Ok(Ok(reloads)) => json(StatusCode::OK, &reloads),
        Ok(Err(e)) => control_error(&e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload did not finish: {e}"),
        ),
    }
}

/// `POST /zone?zone=NAME&op=OP[&owner=…&ttl=…&type=…&rdata=…]`: a
/// control transaction request (a commit writes the journal: off the
/// runtime's threads).
async fn txn(
    handler: Arc<dyn ControlHandler>,
    zone: String,
    call: TxnCall,
) -> Response<Full<Bytes>> {
    match tokio::task::spawn_blocking(move || handler.txn(&zone, &call)).await {
        Ok(Ok(report)) => json(StatusCode::OK, &report),
        Ok(Err(e)) => control_error(&e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request did not finish: {e}"),
        ),
    }
}

/// `GET /metrics`: text for Prometheus, not JSON (a scraper reads only
/// its own format).
fn metrics(handler: &dyn ControlHandler) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(handler.metrics())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::monitor::prometheus::CONTENT_TYPE),
    );
    response
}

/// The query parameters a route accepts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Params {
    pub zone: Option<String>,
    pub force: bool,
    pub retransfer: bool,
    pub child: Option<String>,
    pub dry_run: bool,
    /// `/zone`: the transaction request and its arguments.
    pub op: Option<String>,
    pub owner: Option<String>,
    pub ttl: Option<u32>,
    pub rtype: Option<String>,
    pub rdata: Option<String>,
    /// `/zone-add`: the template, and a primary's zone file.
    pub template: Option<String>,
    pub file: Option<String>,
    /// `/peers`: addresses to report on.
    pub with: Vec<IpAddr>,
}

impl Params {
    /// Parses `zone=NAME&force=1`; parameters the route does not take, or
    /// given twice, are errors so a typo is not silently ignored.
    pub(super) fn parse(query: &str, path: &str) -> Result<Params, ParamError> {
        let mut params = Params::default();
        let mut seen_force = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key).ok_or(ParamError::BadEncoding)?;
            let value = percent_decode(value).ok_or(ParamError::BadEncoding)?;
            match key.as_str() {
                "child" if path == "/csync/scan" || path == "/csync/approve" => {
                    if params.child.is_some() {
                        return Err(ParamError::Repeated("child"));
                    }
                    if value.is_empty() {
                        return Err(ParamError::Empty("child"));
                    }
                    params.child = Some(value);
                }
                "dry_run" if path == "/csync/scan" => {
                    params.dry_run = parse_flag("dry_run", value)?;
                }
                "zone"
                    if path != "/status"
                        && path != "/metrics"
                        && path != "/csync/pending"
                        && path != "/csync/approve" =>
                {
                    if params.zone.is_some() {
                        return Err(ParamError::Repeated("zone"));
                    }
                    if value.is_empty() {
                        return Err(ParamError::Empty("zone"));
                    }
                    params.zone = Some(value);
                }
                "op" | "owner" | "type" | "rdata" if path == "/zone" => {
                    let slot = match key.as_str() {
                        "op" => &mut params.op,
                        "owner" => &mut params.owner,
                        "type" => &mut params.rtype,
                        _ => &mut params.rdata,
                    };
                    if slot.replace(value).is_some() {
                        return Err(ParamError::Repeated(match key.as_str() {
                            "op" => "op",
                            "owner" => "owner",
                            "type" => "type",
                            _ => "rdata",
                        }));
                    }
                }
                "template" | "file" if path == "/zone-add" => {
                    let (slot, name) = match key.as_str() {
                        "template" => (&mut params.template, "template"),
                        _ => (&mut params.file, "file"),
                    };
                    if value.is_empty() {
                        return Err(ParamError::Empty(name));
                    }
                    if slot.replace(value).is_some() {
                        return Err(ParamError::Repeated(name));
                    }
                }
                "ttl" if path == "/zone" => {
                    let ttl = value.parse().map_err(|_| ParamError::BadValue {
                        name: "ttl",
                        value: value.clone(),
                        expected: "a number of seconds",
                    })?;
                    if params.ttl.replace(ttl).is_some() {
                        return Err(ParamError::Repeated("ttl"));
                    }
                }
                "force" if path == "/reload" => {
                    if std::mem::replace(&mut seen_force, true) {
                        return Err(ParamError::Repeated("force"));
                    }
                    params.force = parse_flag("force", value)?;
                }
                "retransfer" if path == "/refresh" => {
                    params.retransfer = parse_flag("retransfer", value)?;
                }
                "with" if path == "/peers" => {
                    if !params.with.is_empty() {
                        return Err(ParamError::Repeated("with"));
                    }
                    params.with = parse_addresses(value)?;
                }
                _ => {
                    return Err(ParamError::NotTaken {
                        path: path.to_owned(),
                        key,
                    })
                }
            }
        }
        Ok(params)
    }
}

impl Params {
    /// The transaction request `op` and its arguments name.
    fn txn_call(&self) -> Result<TxnCall, ParamError> {
        let need =
            |v: &Option<String>, what: &'static str| v.clone().ok_or(ParamError::Missing(what));
        Ok(match self.op.as_deref() {
            Some("begin") => TxnCall::Begin,
            Some("set") => TxnCall::Set {
                owner: need(&self.owner, "owner")?,
                ttl: self.ttl,
                rtype: need(&self.rtype, "type")?,
                rdata: need(&self.rdata, "rdata")?,
            },
            Some("unset") => TxnCall::Unset {
                owner: need(&self.owner, "owner")?,
                rtype: self.rtype.clone(),
                rdata: self.rdata.clone(),
            },
            Some("diff") => TxnCall::Diff,
            Some("get") => TxnCall::Get {
                owner: self.owner.clone(),
                rtype: self.rtype.clone(),
            },
            Some("commit") => TxnCall::Commit,
            Some("abort") => TxnCall::Abort,
            Some(other) => {
                return Err(ParamError::BadValue {
                    name: "op",
                    value: other.to_owned(),
                    expected: "begin, set, unset, diff, get, commit or abort",
                })
            }
            None => return Err(ParamError::Missing("op")),
        })
    }
}

/// `with=IP,IP…`: at least one, at most [`PEERS_WITH_MAX`].
fn parse_addresses(value: String) -> Result<Vec<IpAddr>, ParamError> {
    if value.is_empty() {
        return Err(ParamError::Empty("with"));
    }
    let addresses = value
        .split(',')
        .map(|a| a.parse::<IpAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ParamError::BadValue {
            name: "with",
            value: value.clone(),
            expected: "IP addresses separated by commas",
        })?;
    if addresses.len() > PEERS_WITH_MAX {
        return Err(ParamError::TooLong("with"));
    }
    Ok(addresses)
}

fn parse_flag(name: &'static str, value: String) -> Result<bool, ParamError> {
    match value.as_str() {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ParamError::BadValue {
            name,
            value,
            expected: "1/0/true/false",
        }),
    }
}

fn control_error(e: &ControlError) -> Response<Full<Bytes>> {
    let status = match e {
        ControlError::UnknownZone(_) => StatusCode::NOT_FOUND,
        ControlError::Refused(_) => StatusCode::CONFLICT,
        ControlError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

fn error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    json(status, &ErrorBody { error: message })
}

fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    // Encoding our own plain structs cannot fail; if it ever did, the
    // client still gets an error in the usual form.
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(mut b) => {
            b.push(b'\n');
            (status, b)
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            b"{\"error\":\"encoding the answer failed\"}\n".to_vec(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// At most `max` characters of `s`, for log lines.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}
