//! The monitor's HTTP/1.1 server (hyper): the dashboard page and its
//! assets (compiled in, so it works with no internet), the JSON API the
//! page reads, Prometheus metrics, and a Server-Sent Events stream of the
//! status.
//!
//! Bounds, as in `control::http`: a connection cap, a header timeout, a
//! whole-exchange timeout, one request per connection; and for the event
//! stream: a cap on streams at once, a lifetime after which the browser
//! reconnects, a small send queue whose overflow ends the stream (a client
//! that does not read cannot make us buffer), and the shutdown flag.

use super::api::{MonitorView, PeersAnswer};
use crate::net::http::{percent_decode, ParamError};
use crate::net::Shutdown;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame};
use hyper::header::{
    HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Request line plus headers; a browser sends a few hundred octets, more
/// with cookies of other local services on the same host name.
const MAX_HEADER_SIZE: usize = 16 * 1024;
/// `since_ms` of `/api/history` when not given: the last hour.
const DEFAULT_HISTORY: Duration = Duration::from_secs(3600);
/// `limit` of `/api/events` and `/api/changes` when not given.
const DEFAULT_EVENTS: usize = 100;
const DEFAULT_CHANGES: usize = 20;
/// Larger `limit`s are cut to this, so one request cannot ask the store
/// for everything it holds.
pub const MAX_LIMIT: usize = 1000;
/// Longest zone name in presentation form (255 octets on the wire).
pub const MAX_ZONE_LEN: usize = 1024;
/// Stream messages queued for one client; a client that lets this many
/// pile up is not reading, and its stream ends.
const STREAM_QUEUE: usize = 8;
/// What the browser waits before reconnecting a stream that ended (SSE
/// `retry:`), in milliseconds.
const STREAM_RETRY_MS: u64 = 3000;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// Only our own compiled-in scripts and styles, and requests back to us:
/// the page never needs anything else, so injected markup could do nothing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The response body: whole (pages, JSON) or streamed (events).
type ResBody = BoxBody<Bytes, Infallible>;

/// Limits of the dashboard server.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// Connections served at once (streams included); further ones wait
    /// in the listen backlog until a slot frees.
    pub max_connections: usize,
    /// Time a client has to send its request line and headers.
    pub header_timeout: Duration,
    /// Time one ordinary exchange may last, request to last octet of the
    /// answer, so a client that never reads gives its slot back.
    pub connection_timeout: Duration,
    /// Event streams open at once; one more gets 503 (the page then polls).
    pub max_streams: usize,
    /// How often a stream looks for a new status.
    pub stream_poll: Duration,
    /// Quiet time after which a stream sends a comment line: it keeps
    /// proxies from closing the stream and finds clients that went away.
    pub stream_keepalive: Duration,
    /// A stream ends after this long and the browser reconnects, so no
    /// connection is held for ever.
    pub stream_lifetime: Duration,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(30),
            max_streams: 32,
            stream_poll: Duration::from_secs(1),
            stream_keepalive: Duration::from_secs(15),
            stream_lifetime: Duration::from_secs(3600),
        }
    }
}

/// A bound dashboard listener, not yet serving.
///
/// Binding is separate from serving so that a bind failure is reported at
/// start-up, before the serving task is spawned.
#[derive(Debug)]
pub struct DashboardServer {
    listener: TcpListener,
    settings: DashboardSettings,
}

impl DashboardServer {
    /// Binds `addr`. Must be called within a tokio runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<DashboardServer> {
        Ok(DashboardServer {
            listener: crate::net::http::bind(addr, 128)?,
            settings: DashboardSettings::default(),
        })
    }

    pub fn with_settings(mut self, settings: DashboardSettings) -> DashboardServer {
        self.settings = settings;
        self
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is triggered; connections still open then
    /// are dropped, and open streams end within one `stream_poll`.
    pub async fn run(self, view: Arc<dyn MonitorView>, shutdown: Shutdown) {
        let settings = Arc::new(self.settings);
        let ctx = Arc::new(Ctx {
            view,
            streams: Arc::new(Semaphore::new(settings.max_streams)),
            shutdown: shutdown.clone(),
            settings: settings.clone(),
        });
        let max = settings.max_connections;
        crate::net::http::accept_loop(
            &self.listener,
            max,
            &shutdown,
            "dashboard",
            |stream, peer| serve_connection(stream, peer, ctx.clone()),
        )
        .await;
    }
}

/// What every request handler needs.
struct Ctx {
    view: Arc<dyn MonitorView>,
    streams: Arc<Semaphore>,
    shutdown: Shutdown,
    settings: Arc<DashboardSettings>,
}

/// One connection, one request: keep-alive is off, so a client cannot
/// hold a slot between requests.
async fn serve_connection(stream: TcpStream, peer: SocketAddr, ctx: Arc<Ctx>) {
    // Set by the stream route: its exchange rightly outlasts
    // `connection_timeout`, and is bounded by `stream_lifetime` instead.
    let streaming = Arc::new(AtomicBool::new(false));
    let settings = ctx.settings.clone();
    let service = hyper::service::service_fn({
        let streaming = streaming.clone();
        move |req| {
            let ctx = ctx.clone();
            let streaming = streaming.clone();
            async move { Ok::<_, Infallible>(handle(req, peer, &ctx, &streaming).await) }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(false)
        .max_header_size(MAX_HEADER_SIZE);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut outcome = tokio::time::timeout(settings.connection_timeout, conn.as_mut()).await;
    if outcome.is_err() && streaming.load(Ordering::SeqCst) {
        // The stream ends itself at its lifetime; the margin covers its
        // last poll.
        let rest = settings.stream_lifetime + settings.stream_poll + settings.connection_timeout;
        outcome = tokio::time::timeout(rest, conn.as_mut()).await;
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "dashboard connection ended"),
        Err(_) => tracing::debug!(%peer, "dashboard connection cut: took too long"),
    }
}

/// Routes one request and logs it.
async fn handle(
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    ctx: &Arc<Ctx>,
    streaming: &AtomicBool,
) -> Response<ResBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let if_none_match = req.headers().get(IF_NONE_MATCH).cloned();
    // The body is never read: no route takes one, and with keep-alive off
    // hyper closes the connection instead of draining it.
    drop(req);
    let mut response = route(
        &method,
        &path,
        &query,
        if_none_match.as_ref(),
        ctx,
        streaming,
    )
    .await;
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
        .headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Debug, not info: an open dashboard polls every few seconds.
    tracing::debug!(
        %method,
        path = %truncate(&path, 100),
        query = %truncate(&query, 200),
        %peer,
        status = response.status().as_u16(),
        "dashboard request"
    );
    response
}

/// A compiled-in file of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// `/`, `/index.html`.
    Page,
    /// `/assets/app.js`.
    Script,
    /// `/assets/app.css`.
    Style,
    /// `/assets/favicon.svg`, `/favicon.ico`.
    Icon,
}

impl Asset {
    /// The file's text.
    pub fn text(self) -> &'static str {
        match self {
            Asset::Page => INDEX_HTML,
            Asset::Script => APP_JS,
            Asset::Style => APP_CSS,
            Asset::Icon => FAVICON_SVG,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Asset::Page => "text/html; charset=utf-8",
            Asset::Script => "text/javascript; charset=utf-8",
            Asset::Style => "text/css; charset=utf-8",
            Asset::Icon => "image/svg+xml",
        }
    }
}

/// A dashboard request as the server reads it from its request line (the
/// body is never read: no route takes one). [`parse_request`] makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardRequest {
    /// A page or asset (any query ignored: a bookmark may carry one).
    Asset(Asset),
    /// `/status`: the `StatusView`.
    Status,
    /// `/metrics`: Prometheus text.
    Metrics,
    /// `/api/history?zone=NAME[&since_ms=MS]`: `since_ms` defaults to an
    /// hour before the request.
    History { zone: String, since_ms: Option<u64> },
    /// `/api/events[?zone=NAME][&limit=N]`.
    Events { zone: Option<String>, limit: usize },
    /// `/api/changes?zone=NAME[&limit=N]`.
    Changes { zone: String, limit: usize },
    /// `/api/peers?zone=NAME`: the zone's peer history (`PeerReport`).
    Peers { zone: String },
    /// `/api/stream`: Server-Sent Events.
    Stream,
}

/// Why a request is answered with an error before the monitor is asked;
/// [`RequestError::status`] is the HTTP status (4xx), the text the
/// answer's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// 404.
    #[error("no such path: {0}")]
    NoSuchPath(String),
    /// 405 (`Allow: GET, HEAD`).
    #[error("{0} takes GET or HEAD")]
    WrongMethod(String),
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
            RequestError::WrongMethod(_) => 405,
            RequestError::Params(_) | RequestError::Usage(_) => 400,
        }
    }
}

/// Reads a dashboard request from the method, path and query (without
/// `?`; empty when there is none) of its request line, as the server
/// does before it asks the monitor: the path, the method (GET or HEAD),
/// then the API's parameters: each taken by the path, once, well
/// encoded; zone names lower-cased and made absolute, at most
/// [`MAX_ZONE_LEN`] long; `limit` cut to [`MAX_LIMIT`].
pub fn parse_request(
    method: &str,
    path: &str,
    query: &str,
) -> Result<DashboardRequest, RequestError> {
    let asset = match path {
        "/" | "/index.html" => Some(Asset::Page),
        "/assets/app.js" => Some(Asset::Script),
        "/assets/app.css" => Some(Asset::Style),
        "/assets/favicon.svg" | "/favicon.ico" => Some(Asset::Icon),
        "/status" | "/metrics" | "/api/history" | "/api/events" | "/api/changes" | "/api/peers"
        | "/api/stream" => None,
        _ => return Err(RequestError::NoSuchPath(path.to_owned())),
    };
    if method != "GET" && method != "HEAD" {
        return Err(RequestError::WrongMethod(path.to_owned()));
    }
    if let Some(asset) = asset {
        return Ok(DashboardRequest::Asset(asset));
    }
    let allowed: &[&str] = match path {
        "/api/history" => &["zone", "since_ms"],
        "/api/events" => &["zone", "limit"],
        "/api/changes" => &["zone", "limit"],
        "/api/peers" => &["zone"],
        _ => &[],
    };
    let params = Params::parse(query, path, allowed)?;
    Ok(match path {
        "/status" => DashboardRequest::Status,
        "/metrics" => DashboardRequest::Metrics,
        "/api/history" => DashboardRequest::History {
            zone: params
                .zone
                .ok_or(RequestError::Usage("/api/history needs ?zone=NAME"))?,
            since_ms: params.since_ms,
        },
        "/api/events" => DashboardRequest::Events {
            zone: params.zone,
            limit: params.limit.unwrap_or(DEFAULT_EVENTS),
        },
        "/api/changes" => DashboardRequest::Changes {
            zone: params
                .zone
                .ok_or(RequestError::Usage("/api/changes needs ?zone=NAME"))?,
            limit: params.limit.unwrap_or(DEFAULT_CHANGES),
        },
        "/api/peers" => DashboardRequest::Peers {
            zone: params
                .zone
                .ok_or(RequestError::Usage("/api/peers needs ?zone=NAME"))?,
        },
        _ => DashboardRequest::Stream,
    })
}

async fn route(
    method: &Method,
    path: &str,
    query: &str,
    if_none_match: Option<&HeaderValue>,
    ctx: &Arc<Ctx>,
    streaming: &AtomicBool,
) -> Response<ResBody> {
    let request = match parse_request(method.as_str(), path, query) {
        Ok(r) => r,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = error(status, e.to_string());
            if let RequestError::WrongMethod(_) = e {
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            return response;
        }
    };
    let view = ctx.view.clone();
    match request {
        DashboardRequest::Asset(asset) => static_asset(asset, if_none_match),
        DashboardRequest::Status => match blocking(move || view.status()).await {
            Ok(status) => json(StatusCode::OK, &status),
            Err(response) => response,
        },
        DashboardRequest::Metrics => match blocking(move || view.metrics()).await {
            Ok(text) => {
                let mut response = whole(StatusCode::OK, Bytes::from(text));
                set(
                    &mut response,
                    CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                );
                set(&mut response, CACHE_CONTROL, "no-store");
                response
            }
            Err(response) => response,
        },
        DashboardRequest::History { zone, since_ms } => {
            let since_ms = since_ms.unwrap_or_else(|| {
                now_ms().saturating_sub(u64::try_from(DEFAULT_HISTORY.as_millis()).unwrap_or(0))
            });
            let name = zone.clone();
            match blocking(move || view.history(&name, since_ms)).await {
                Ok(Some(history)) => json(StatusCode::OK, &history),
                Ok(None) => unknown_zone(&zone),
                Err(response) => response,
            }
        }
        DashboardRequest::Events { zone, limit } => {
            match blocking(move || view.events(zone.as_deref(), limit)).await {
                Ok(events) => json(StatusCode::OK, &events),
                Err(response) => response,
            }
        }
        DashboardRequest::Changes { zone, limit } => {
            let name = zone.clone();
            match blocking(move || view.changes(&name, limit)).await {
                Ok(Some(changes)) => json(StatusCode::OK, &changes),
                Ok(None) => unknown_zone(&zone),
                Err(response) => response,
            }
        }
        DashboardRequest::Peers { zone } => {
            let name = zone.clone();
            match blocking(move || view.peers(&name)).await {
                Ok(answer) => peers_answer(answer, &zone),
                Err(response) => response,
            }
        }
        DashboardRequest::Stream => event_stream(method, ctx, streaming),
    }
}

/// `/api/peers`: the report, or why there is none.
fn peers_answer(answer: PeersAnswer, zone: &str) -> Response<ResBody> {
    match answer {
        PeersAnswer::Report(report) => json(StatusCode::OK, &report),
        PeersAnswer::UnknownZone => unknown_zone(zone),
        PeersAnswer::NoHistory(why) => error(StatusCode::NOT_FOUND, why),
        PeersAnswer::ControlFailed(why) => error(StatusCode::BAD_GATEWAY, why),
    }
}

/// A compiled-in file, with a validator so a reload of the page costs a
/// 304; the page itself is always revalidated so a new binary's page is
/// picked up at once, the assets after a few minutes at most.
fn static_asset(asset: Asset, if_none_match: Option<&HeaderValue>) -> Response<ResBody> {
    let (text, content_type) = (asset.text(), asset.content_type());
    let etag = format!("\"{:08x}\"", crc32fast::hash(text.as_bytes()));
    let cache = if asset == Asset::Page {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    let fresh = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        let mut r = Response::new(Empty::new().boxed());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = whole(StatusCode::OK, Bytes::from_static(text.as_bytes()));
        set(&mut r, CONTENT_TYPE, content_type);
        r
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(ETAG, v);
    }
    set(&mut response, CACHE_CONTROL, cache);
    if content_type.starts_with("text/html") {
        set(&mut response, CONTENT_SECURITY_POLICY, CSP);
    }
    response
}

/// `GET /api/stream`: Server-Sent Events. A `status` event with the
/// `StatusView` JSON at once and then whenever it changes.
fn event_stream(method: &Method, ctx: &Arc<Ctx>, streaming: &AtomicBool) -> Response<ResBody> {
    if *method == Method::HEAD {
        // Nothing would be sent: do not start a stream for it.
        let mut response = Response::new(Empty::new().boxed());
        set_stream_headers(&mut response);
        return response;
    }
    let Ok(permit) = ctx.streams.clone().try_acquire_owned() else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams; poll /status instead".into(),
        );
        set(&mut response, RETRY_AFTER, "30");
        return response;
    };
    streaming.store(true, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(feed_stream(
        ctx.view.clone(),
        tx,
        ctx.shutdown.clone(),
        ctx.settings.clone(),
        permit,
    ));
    let mut response = Response::new(ChannelBody { rx }.boxed());
    set_stream_headers(&mut response);
    response
}

fn set_stream_headers(response: &mut Response<ResBody>) {
    set(response, CONTENT_TYPE, "text/event-stream; charset=utf-8");
    set(response, CACHE_CONTROL, "no-store");
    // Asks a buffering reverse proxy (nginx) to pass events on at once.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
}

/// Writes one stream's events until the client goes, the stream's
/// lifetime is over or the server shuts down. Holds the stream's slot.
async fn feed_stream(
    view: Arc<dyn MonitorView>,
    tx: mpsc::Sender<Bytes>,
    shutdown: Shutdown,
    settings: Arc<DashboardSettings>,
    _permit: OwnedSemaphorePermit,
) {
    let started = Instant::now();
    let mut poll = tokio::time::interval(settings.stream_poll.max(Duration::from_millis(10)));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_key: Option<Vec<u8>> = None;
    let mut last_sent = Instant::now();
    if !offer(&tx, Bytes::from(format!("retry: {STREAM_RETRY_MS}\n\n"))) {
        return;
    }
    loop {
        poll.tick().await;
        if shutdown.is_triggered()
            || tx.is_closed()
            || started.elapsed() >= settings.stream_lifetime
        {
            return;
        }
        let view = view.clone();
        let Ok(mut status) = tokio::task::spawn_blocking(move || view.status()).await else {
            return;
        };
        // The core may stamp `generated_ms` with the time of each call:
        // compared with it, every poll would be a change.
        let generated_ms = std::mem::take(&mut status.generated_ms);
        let Ok(key) = serde_json::to_vec(&status) else {
            return;
        };
        if last_key.as_ref() != Some(&key) {
            status.generated_ms = generated_ms;
            let Ok(json) = serde_json::to_string(&status) else {
                return;
            };
            // Compact JSON has no line breaks, so it is one `data:` line.
            let message = format!("event: status\ndata: {json}\n\n");
            if !offer(&tx, Bytes::from(message)) {
                return;
            }
            last_key = Some(key);
            last_sent = Instant::now();
        } else if last_sent.elapsed() >= settings.stream_keepalive {
            if !offer(&tx, Bytes::from_static(b": keep-alive\n\n")) {
                return;
            }
            last_sent = Instant::now();
        }
    }
}

/// Queues one message; false when the client is gone or not reading.
fn offer(tx: &mpsc::Sender<Bytes>, message: Bytes) -> bool {
    match tx.try_send(message) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::debug!("dashboard stream ended: client not reading");
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// A response body fed by a channel; ends when the sender is dropped.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// Runs a call into the monitor on a blocking thread (it may take a lock
/// or read the store); a panic in it becomes a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response<ResBody>> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the monitor did not answer: {e}"),
        )
    })
}

/// The query parameters of the API routes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    zone: Option<String>,
    since_ms: Option<u64>,
    limit: Option<usize>,
}

impl Params {
    /// Parses `zone=NAME&limit=N`; a parameter the route does not take, or
    /// one given twice, is an error so a typo is not silently ignored.
    fn parse(query: &str, path: &str, allowed: &[&str]) -> Result<Params, ParamError> {
        let mut params = Params::default();
        let bad_value = |name, value: &str, expected| ParamError::BadValue {
            name,
            value: truncate(value, 50).to_owned(),
            expected,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key).ok_or(ParamError::BadEncoding)?;
            let value = percent_decode(value).ok_or(ParamError::BadEncoding)?;
            if !allowed.contains(&key.as_str()) {
                return Err(ParamError::NotTaken {
                    path: path.to_owned(),
                    key: truncate(&key, 50).to_owned(),
                });
            }
            match key.as_str() {
                "zone" => {
                    if params.zone.is_some() {
                        return Err(ParamError::Repeated("zone"));
                    }
                    params.zone = Some(normalize_zone(&value)?);
                }
                "since_ms" => {
                    if params.since_ms.is_some() {
                        return Err(ParamError::Repeated("since_ms"));
                    }
                    let since = value.parse::<u64>().map_err(|_| {
                        bad_value("since_ms", &value, "a Unix time in milliseconds")
                    })?;
                    params.since_ms = Some(since);
                }
                _ => {
                    if params.limit.is_some() {
                        return Err(ParamError::Repeated("limit"));
                    }
                    let limit = value
                        .parse::<usize>()
                        .map_err(|_| bad_value("limit", &value, "a count"))?;
                    params.limit = Some(limit.min(MAX_LIMIT));
                }
            }
        }
        Ok(params)
    }
}

/// The monitor's form of a zone name: lower case, absolute (a user typing
/// `Example.COM` means `example.com.`).
fn normalize_zone(zone: &str) -> Result<String, ParamError> {
    if zone.is_empty() {
        return Err(ParamError::Empty("zone"));
    }
    let mut name = zone.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    // The name as normalised: one at the limit without its final dot
    // would otherwise be taken here and refused when sent back.
    if name.len() > MAX_ZONE_LEN {
        return Err(ParamError::TooLong("zone"));
    }
    Ok(name)
}

/// The body of every error answer.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
}

fn unknown_zone(zone: &str) -> Response<ResBody> {
    error(
        StatusCode::NOT_FOUND,
        format!("unknown zone: {}", truncate(zone, 300)),
    )
}

fn error(status: StatusCode, message: String) -> Response<ResBody> {
    json(status, &ErrorBody { error: message })
}

fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<ResBody> {
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
    let mut response = whole(status, Bytes::from(bytes));
    set(&mut response, CONTENT_TYPE, "application/json");
    // The data changes with every check: a cached copy is a wrong one.
    set(&mut response, CACHE_CONTROL, "no-store");
    response
}

fn whole(status: StatusCode, bytes: Bytes) -> Response<ResBody> {
    let mut response = Response::new(Full::new(bytes).boxed());
    *response.status_mut() = status;
    response
}

fn set(response: &mut Response<ResBody>, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// At most `max` characters of `s`, for log lines and error messages.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &["zone", "since_ms", "limit"];

    #[test]
    fn params_parse_and_normalize() {
        let p = Params::parse("zone=Example.COM&since_ms=5&limit=7", "/x", ALL).unwrap();
        assert_eq!(
            p,
            Params {
                zone: Some("example.com.".into()),
                since_ms: Some(5),
                limit: Some(7),
            }
        );
        let p = Params::parse("zone=example.com.&limit=999999", "/x", ALL).unwrap();
        assert_eq!(p.limit, Some(MAX_LIMIT));
        assert_eq!(p.zone.as_deref(), Some("example.com."));
        let p = Params::parse("zone=%2E", "/x", ALL).unwrap();
        assert_eq!(p.zone.as_deref(), Some("."));
        assert_eq!(Params::parse("", "/x", &[]).unwrap(), Params::default());
    }

    #[test]
    fn api_peers_takes_one_zone_and_nothing_else() {
        assert_eq!(
            parse_request("GET", "/api/peers", "zone=Example.COM"),
            Ok(DashboardRequest::Peers {
                zone: "example.com.".into()
            })
        );
        for bad in ["", "zone=", "zone=a&zone=b", "zone=a&limit=1", "zone=%zz"] {
            let status = parse_request("GET", "/api/peers", bad).map_err(|e| e.status());
            assert_eq!(status, Err(400), "{bad:?}");
        }
        let post = parse_request("POST", "/api/peers", "zone=a").map_err(|e| e.status());
        assert_eq!(post, Err(405));
    }

    #[test]
    fn peers_answers_have_their_statuses() {
        let report = crate::peers::PeerReport {
            zone: "example.com".into(),
            serial: None,
            published_ms: None,
            notify_running: false,
            notify_targets: Vec::new(),
            allow_transfer: Vec::new(),
            allow_transfer_at: None,
            peers: Vec::new(),
        };
        let cases = [
            (PeersAnswer::Report(Box::new(report)), 200),
            (PeersAnswer::UnknownZone, 404),
            (PeersAnswer::NoHistory("why".into()), 404),
            (PeersAnswer::ControlFailed("why".into()), 502),
        ];
        for (answer, status) in cases {
            let shown = format!("{answer:?}");
            let response = peers_answer(answer, "example.com.");
            assert_eq!(response.status().as_u16(), status, "{shown}");
            assert_eq!(
                response.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
                Some(&b"application/json"[..])
            );
        }
    }

    #[test]
    fn params_reject_mistakes() {
        for bad in [
            "zone=",
            "zone=a&zone=b",
            "since_ms=-1",
            "since_ms=soon",
            "limit=ten",
            "limit=1&limit=2",
            "zone=%zz",
            "zone=%ff",
            "frobnicate=1",
        ] {
            assert!(Params::parse(bad, "/x", ALL).is_err(), "{bad}");
        }
        assert!(Params::parse("limit=1", "/api/history", &["zone", "since_ms"]).is_err());
        let long = format!("zone={}", "a".repeat(MAX_ZONE_LEN + 1));
        assert!(Params::parse(&long, "/x", ALL).is_err());
    }

    /// Found by the `dashboard_http` fuzz target: a zone name of
    /// `MAX_ZONE_LEN` octets without its final dot was taken and made one
    /// octet longer, so the name read back (as the page sends it again)
    /// was refused as too long.
    #[test]
    fn fuzz_replay_zone_at_the_length_limit_reads_back() {
        let input = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fuzz/dashboard-zone-at-the-length-limit.bin"
        ))
        .unwrap();
        // Byte 0: the method (0: GET); then path and query.
        assert_eq!(input[0], 0);
        let line = std::str::from_utf8(&input[1..]).unwrap();
        let (path, query) = line.split_once('?').unwrap();
        match parse_request("GET", path, query) {
            Ok(DashboardRequest::Changes { zone, limit }) => {
                let back = format!("zone={}&limit={limit}", percent_encode(&zone));
                assert_eq!(
                    parse_request("GET", path, &back),
                    Ok(DashboardRequest::Changes { zone, limit })
                );
            }
            Err(e) => assert_eq!(e, RequestError::Params(ParamError::TooLong("zone"))),
            other => panic!("{other:?}"),
        }
        let at_limit = format!("zone={}", "a".repeat(MAX_ZONE_LEN - 1));
        assert!(Params::parse(&at_limit, "/x", ALL).is_ok());
        let over = format!("zone={}", "a".repeat(MAX_ZONE_LEN));
        assert!(Params::parse(&over, "/x", ALL).is_err());
    }

    fn percent_encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn assets_are_self_contained() {
        // The dashboard must work with no internet: nothing is loaded
        // from anywhere but this server.
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("app.js", APP_JS),
            ("app.css", APP_CSS),
        ] {
            for needle in ["http://", "https://", "//cdn", "@import", "url("] {
                let hits: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
                // The SVG namespace URI is a name, not a fetch.
                let hits: Vec<&&str> = hits
                    .iter()
                    .filter(|l| !l.contains("http://www.w3.org/2000/svg"))
                    .collect();
                assert!(hits.is_empty(), "{name} refers to {needle}: {hits:?}");
            }
        }
        assert!(INDEX_HTML.contains("/assets/app.js"));
        assert!(INDEX_HTML.contains("/assets/app.css"));
        assert!(INDEX_HTML.contains("id=\"zones\""));
        assert!(INDEX_HTML.contains("id=\"events\""));
    }
}
