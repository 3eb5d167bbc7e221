//! The control interface's request handling (`control::parse_request`,
//! what the server's router calls on each request line before the
//! handler): path, method, query parameters, the arguments each `ctl`
//! request needs.
//!
//! Checks:
//! - any request line gives a request or an error whose status is 400, 404
//!   or 405 (never a panic, never a 5xx): a 404 only for a path no route
//!   has, a 405 only for a method the path does not take;
//! - a request read round-trips through the client: its `Call`'s method and
//!   target (`control::client::Call::target`, what `zonesync ctl` sends)
//!   read back as the same request;
//! - a `Call` made from the input (mode 1) is read back as itself: every
//!   value the client can send arrives as sent (percent-encoding both ways).
//!
//! Input: byte 0 even: method (index into a list, byte 1), then path and
//! query as text split at the first `?`; odd: a `Call` built from the
//! input's fields (see `call_from`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::control::{parse_request, ControlRequest, RequestError, TxnCall};

const METHODS: [&str; 6] = ["GET", "POST", "HEAD", "PUT", "get", "DELETE"];
const PATHS: [&str; 13] = [
    "/status",
    "/metrics",
    "/reload",
    "/notify",
    "/refresh",
    "/csync/scan",
    "/csync/pending",
    "/csync/approve",
    "/zone",
    "/zone-add",
    "/zone-remove",
    "/peers",
    "/nope",
];

fn round_trip(request: &ControlRequest) {
    let call = request.call();
    let method = call.method();
    let target = call.target();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    match parse_request(method.as_str(), path, query) {
        Ok(back) => assert_eq!(&back, request, "{method} {target} reads back otherwise"),
        Err(e) => panic!("{method} {target} (from {request:?}) is refused: {e}"),
    }
}

fn check_line(method: &str, path: &str, query: &str) {
    match parse_request(method, path, query) {
        Ok(request) => round_trip(&request),
        Err(e) => {
            let status = e.status();
            assert!(matches!(status, 400 | 404 | 405), "status {status} for {e}");
            let known = PATHS[..PATHS.len() - 1].contains(&path);
            match e {
                RequestError::NoSuchPath(_) => assert!(!known, "404 for {path}"),
                RequestError::WrongMethod { allowed, .. } => {
                    assert!(known);
                    assert_ne!(method, allowed, "405 for the method the path takes");
                }
                _ => assert!(known),
            }
        }
    }
}

/// Splits `data` into up to `n` strings at 0x00 bytes (lossy UTF-8).
fn fields(data: &[u8], n: usize) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = data
        .splitn(n, |&b| b == 0)
        .map(|f| {
            // 0xFF alone: the field is absent.
            (f != [0xFF]).then(|| String::from_utf8_lossy(f).into_owned())
        })
        .collect();
    out.resize(n, None);
    out
}

fn call_from(data: &[u8]) -> Option<ControlRequest> {
    let (&which, rest) = data.split_first()?;
    let (&flags, rest) = rest.split_first()?;
    let f = fields(rest, 5);
    let some = |i: usize| f[i].clone().filter(|s| !s.is_empty());
    let need = |i: usize| some(i);
    let flag = |bit: u8| flags & (1 << bit) != 0;
    Some(match which % 12 {
        0 => ControlRequest::Status,
        1 => ControlRequest::Metrics,
        2 => ControlRequest::Reload {
            zone: some(0),
            force: flag(0),
        },
        3 => ControlRequest::Notify { zone: need(0)? },
        4 => ControlRequest::Refresh {
            zone: need(0)?,
            retransfer: flag(0),
        },
        5 => ControlRequest::CsyncScan {
            zone: some(0),
            child: some(1),
            dry_run: flag(0),
        },
        6 => ControlRequest::CsyncPending,
        7 => ControlRequest::CsyncApprove { child: need(1)? },
        8 => ControlRequest::ZoneAdd {
            zone: need(0)?,
            template: need(1)?,
            file: some(2),
        },
        9 => ControlRequest::ZoneRemove { zone: need(0)? },
        10 => ControlRequest::Peers {
            zone: need(0)?,
            // The addresses field 1 names, those that read as addresses.
            with: f[1]
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
                .take(8)
                .collect(),
        },
        _ => {
            let ttl = flag(1).then(|| u32::from_be_bytes([flags, which, flags, which]));
            let call = match flags % 7 {
                0 => TxnCall::Begin,
                1 => TxnCall::Set {
                    owner: f[1].clone()?,
                    ttl,
                    rtype: f[2].clone()?,
                    rdata: f[3].clone()?,
                },
                2 => TxnCall::Unset {
                    owner: f[1].clone()?,
                    rtype: f[2].clone(),
                    rdata: f[3].clone(),
                },
                3 => TxnCall::Diff,
                4 => TxnCall::Get {
                    owner: f[1].clone(),
                    rtype: f[2].clone(),
                },
                5 => TxnCall::Commit,
                _ => TxnCall::Abort,
            };
            ControlRequest::Txn {
                zone: need(0)?,
                call,
            }
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let Some((&m, line)) = rest.split_first() else {
            return;
        };
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let method = METHODS[usize::from(m) % METHODS.len()];
        // A path from the list when the line does not start with '/'.
        let (path, query) = line.split_once('?').unwrap_or((line, ""));
        if path.starts_with('/') {
            check_line(method, path, query);
        } else {
            let p = PATHS[usize::from(m / 8) % PATHS.len()];
            check_line(method, p, line);
        }
    } else if let Some(request) = call_from(rest) {
        round_trip(&request);
    }
});
