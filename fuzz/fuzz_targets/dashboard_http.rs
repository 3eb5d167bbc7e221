//! The monitor dashboard's request handling (`monitor::http::parse_request`,
//! what its router calls on each request line before asking the
//! monitor): path, method, the `/api/*` parameters.
//!
//! Checks:
//! - any request line gives a request or an error whose status is 400, 404
//!   or 405 (never a panic, never a 5xx): 404 only for a path no route
//!   has, 405 only for a method other than GET and HEAD;
//! - what is read is sane: a zone name lower-case, absolute, at most
//!   `MAX_ZONE_LEN` + 1 long; a `limit` at most `MAX_LIMIT`; the page and
//!   assets whatever the query;
//! - a request read round-trips: written back as a query string by a
//!   reference encoder, it reads as the same request.
//!
//! Input: byte 0: the method (index into a list), then path and query as
//! text split at the first `?` (a path from the list when the text does not
//! start with `/`).
#![no_main]

use std::fmt::Write as _;

use libfuzzer_sys::fuzz_target;
use zonesync::monitor::http::{
    parse_request, DashboardRequest, RequestError, MAX_LIMIT, MAX_ZONE_LEN,
};

const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "OPTIONS", "get"];
const PATHS: [&str; 13] = [
    "/",
    "/index.html",
    "/assets/app.js",
    "/assets/app.css",
    "/favicon.ico",
    "/status",
    "/metrics",
    "/api/history",
    "/api/events",
    "/api/changes",
    "/api/peers",
    "/api/stream",
    "/api/nope",
];
const KNOWN: [&str; 13] = [
    "/",
    "/index.html",
    "/assets/app.js",
    "/assets/app.css",
    "/assets/favicon.svg",
    "/favicon.ico",
    "/status",
    "/metrics",
    "/api/history",
    "/api/events",
    "/api/changes",
    "/api/peers",
    "/api/stream",
];

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn check_zone(zone: &str) {
    assert!(zone.ends_with('.'), "zone {zone:?} not absolute");
    assert!(
        !zone.bytes().any(|b| b.is_ascii_uppercase()),
        "zone {zone:?} not lower-case"
    );
    assert!(
        zone.len() <= MAX_ZONE_LEN + 1,
        "zone of {} octets",
        zone.len()
    );
}

/// The query string of a request, as the page would send it.
fn query_of(request: &DashboardRequest) -> String {
    let mut q = Vec::new();
    match request {
        DashboardRequest::History { zone, since_ms } => {
            q.push(format!("zone={}", encode(zone)));
            if let Some(s) = since_ms {
                q.push(format!("since_ms={s}"));
            }
        }
        DashboardRequest::Events { zone, limit } => {
            if let Some(z) = zone {
                q.push(format!("zone={}", encode(z)));
            }
            q.push(format!("limit={limit}"));
        }
        DashboardRequest::Changes { zone, limit } => {
            q.push(format!("zone={}", encode(zone)));
            q.push(format!("limit={limit}"));
        }
        DashboardRequest::Peers { zone } => q.push(format!("zone={}", encode(zone))),
        _ => {}
    }
    q.join("&")
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, line)) = data.split_first() else {
        return;
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let method = METHODS[usize::from(m) % METHODS.len()];
    let (path, query) = match line.split_once('?') {
        Some((p, q)) if p.starts_with('/') => (p, q),
        None if line.starts_with('/') => (line, ""),
        _ => (PATHS[usize::from(m / 8) % PATHS.len()], line),
    };
    match parse_request(method, path, query) {
        Ok(request) => {
            assert!(KNOWN.contains(&path), "{path} routed");
            assert!(method == "GET" || method == "HEAD");
            match &request {
                DashboardRequest::Asset(a) => {
                    // The same asset without the query.
                    assert_eq!(
                        parse_request(method, path, ""),
                        Ok(DashboardRequest::Asset(*a))
                    );
                    assert!(!a.text().is_empty() && !a.content_type().is_empty());
                    return;
                }
                DashboardRequest::History { zone, .. }
                | DashboardRequest::Changes { zone, .. }
                | DashboardRequest::Peers { zone } => check_zone(zone),
                DashboardRequest::Events { zone, .. } => {
                    if let Some(z) = zone {
                        check_zone(z);
                    }
                }
                _ => {}
            }
            if let DashboardRequest::Events { limit, .. }
            | DashboardRequest::Changes { limit, .. } = &request
            {
                assert!(*limit <= MAX_LIMIT, "limit {limit}");
            }
            let back = query_of(&request);
            assert_eq!(
                parse_request(method, path, &back),
                Ok(request.clone()),
                "{path}?{back} reads back otherwise"
            );
        }
        Err(e) => {
            let status = e.status();
            assert!(matches!(status, 400 | 404 | 405), "status {status} for {e}");
            match e {
                RequestError::NoSuchPath(_) => assert!(!KNOWN.contains(&path), "404 for {path}"),
                RequestError::WrongMethod(_) => {
                    assert!(KNOWN.contains(&path));
                    assert!(method != "GET" && method != "HEAD", "405 for {method}");
                }
                _ => assert!(KNOWN.contains(&path)),
            }
        }
    }
});
