//! The server's own Prometheus metrics (`/metrics` on the control
//! interface, and after the monitor's): queries by rcode, transfers out
//! and in, NOTIFY, journal depth, serial, expire, loaded.

use crate::query::{cookie, QueryStats};
use crate::replication::registry::Zones;
use crate::replication::Managed;
use crate::xfr::Transfers;
use std::sync::atomic::Ordering;

/// RCODE mnemonics (RFC 1035, 2136, 8490) by the 4-bit header value.
const RCODE_NAMES: [&str; 12] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
];

/// The server's own metrics in the Prometheus text format: queries by
/// RCODE, limits hit, transfers out and in, NOTIFY out, journal depth, and per zone
/// the served serial, whether it is served and (secondaries) the time to
/// EXPIRE. Read on a scrape, off the query path: the counters are relaxed
/// atomics the query path only increments.
pub fn server_metrics(zones: &Zones, transfers: &Transfers, stats: &QueryStats) -> String {
    use crate::monitor::prometheus::{Exposition, Kind};
    let mut out = Exposition::new();
    query_metrics(&mut out, stats);
    limit_metrics(&mut out);

    let families: [(&str, Kind, &str); 10] = [
        (
            "zonesync_transfers_out_total",
            Kind::Counter,
            "Zone transfers sent, by kind (ixfr: changesets, ixfr-full: the whole zone, ixfr-current: our SOA alone) and result (refused by allow_transfer: kind any)",
        ),
        (
            "zonesync_transfers_in_total",
            Kind::Counter,
            "Refreshes of a secondary zone by result: axfr or ixfr applied, up-to-date, failed",
        ),
        (
            "zonesync_notify_sent_total",
            Kind::Counter,
            "NOTIFY datagrams sent, every try",
        ),
        (
            "zonesync_notify_acknowledged_total",
            Kind::Counter,
            "NOTIFYs a target answered",
        ),
        (
            "zonesync_notify_failed_total",
            Kind::Counter,
            "NOTIFYs given up on after the last try",
        ),
        (
            "zonesync_journal_changesets",
            Kind::Gauge,
            "Changesets in the zone's journal (IXFR history)",
        ),
        (
            "zonesync_journal_bytes",
            Kind::Gauge,
            "Size of the zone's journal file",
        ),
        (
            "zonesync_zone_serial",
            Kind::Gauge,
            "The SOA serial served",
        ),
        (
            "zonesync_zone_expire_seconds",
            Kind::Gauge,
            "Seconds until a secondary zone expires unless a refresh succeeds (0: expired or never transferred)",
        ),
        (
            "zonesync_zone_loaded",
            Kind::Gauge,
            "1 when the zone is served, 0 when not (never loaded, or expired)",
        ),
    ];
    for (name, kind, help) in families {
        out.family(name, kind, help);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for z in zones.iter() {
        let name = z.name();
        let zl = [("zone", name)];
        if let Some(c) = transfers.counters(z.zone().origin()) {
            for (kind, result, n) in [
                ("axfr", "ok", &c.axfr),
                ("ixfr", "ok", &c.ixfr_incremental),
                ("ixfr-full", "ok", &c.ixfr_full),
                ("ixfr-current", "ok", &c.ixfr_current),
                ("any", "refused", &c.refused),
            ] {
                out.sample(
                    "zonesync_transfers_out_total",
                    &[("zone", name), ("kind", kind), ("result", result)],
                    n.load(Ordering::Relaxed) as f64,
                );
            }
        }
        if let Managed::Secondary(s) = z {
            let c = s.transfers_in();
            for (result, n) in [
                ("axfr", c.axfr()),
                ("ixfr", c.ixfr()),
                ("up-to-date", c.up_to_date()),
                ("failed", c.failed()),
            ] {
                out.sample(
                    "zonesync_transfers_in_total",
                    &[("zone", name), ("result", result)],
                    n as f64,
                );
            }
        }
        if let Some(n) = z.notifier() {
            let c = n.counters();
            out.sample("zonesync_notify_sent_total", &zl, c.sent() as f64);
            out.sample(
                "zonesync_notify_acknowledged_total",
                &zl,
                c.acknowledged() as f64,
            );
            out.sample("zonesync_notify_failed_total", &zl, c.failed() as f64);
        }
        if let Some(j) = z.journal_reader().map(|j| j.load()) {
            out.sample("zonesync_journal_changesets", &zl, j.len() as f64);
            out.sample("zonesync_journal_bytes", &zl, j.size_bytes() as f64);
        }
        let version = z.zone().snapshot();
        let role = match z {
            Managed::Primary(_) => "primary",
            Managed::Secondary(_) => "secondary",
        };
        if let Some(v) = &version {
            out.sample(
                "zonesync_zone_serial",
                &[("zone", name), ("role", role)],
                f64::from(v.serial().get()),
            );
        }
        if let Managed::Secondary(_) = z {
            // Past EXPIRE the zone is withdrawn; 0 also when never set, so
            // an alert on a low value fires for a zone with no copy.
            let left = match version {
                Some(_) => z.zone().expires_at().saturating_sub(now),
                None => 0,
            };
            out.sample("zonesync_zone_expire_seconds", &zl, left as f64);
        }
        out.sample(
            "zonesync_zone_loaded",
            &zl,
            f64::from(u8::from(version.is_some())),
        );
    }
    out.finish()
}

/// The query path's counters: every RCODE with a name (zeros included, so
/// a rate is defined from the first scrape), others only once seen.
fn query_metrics(out: &mut crate::monitor::prometheus::Exposition, stats: &QueryStats) {
    use crate::monitor::prometheus::Kind;
    out.family(
        "zonesync_queries_total",
        Kind::Counter,
        "Responses sent, by RCODE",
    );
    for rcode in 0..16u16 {
        let n = stats.rcode(rcode);
        let name = RCODE_NAMES.get(usize::from(rcode)).copied();
        let label = match name {
            Some(name) => std::borrow::Cow::Borrowed(name),
            None if n > 0 => std::borrow::Cow::Owned(format!("RCODE{rcode}")),
            None => continue,
        };
        out.sample("zonesync_queries_total", &[("rcode", &label)], n as f64);
    }
    out.family(
        "zonesync_updates_total",
        Kind::Counter,
        "Answers to UPDATE (RFC 2136), by RCODE",
    );
    for rcode in 0..16u16 {
        let n = stats.updates(rcode);
        if let Some(name) = RCODE_NAMES.get(usize::from(rcode)) {
            out.sample("zonesync_updates_total", &[("rcode", name)], n as f64);
        } else if n > 0 {
            out.sample(
                "zonesync_updates_total",
                &[("rcode", &format!("RCODE{rcode}"))],
                n as f64,
            );
        }
    }
    out.family(
        "zonesync_queries_cookie_total",
        Kind::Counter,
        "Requests by their DNS COOKIE (RFC 7873): none, a client cookie only, a valid or an invalid server cookie",
    );
    for verdict in cookie::Verdict::COUNTED {
        out.sample(
            "zonesync_queries_cookie_total",
            &[("cookie", verdict.name())],
            stats.cookies(verdict) as f64,
        );
    }
    out.family(
        "zonesync_rrl_limited_total",
        Kind::Counter,
        "UDP answers response rate limiting did not send whole: slipped (sent truncated, TC=1) or dropped, by class",
    );
    for class in crate::query::rrl::Class::ALL {
        for (action, name) in [
            (crate::query::rrl::Action::Slip, "slipped"),
            (crate::query::rrl::Action::Drop, "dropped"),
        ] {
            out.sample(
                "zonesync_rrl_limited_total",
                &[("class", class.name()), ("action", name)],
                stats.rrl(class, action) as f64,
            );
        }
    }
    for (name, help, n) in [
        (
            "zonesync_queries_malformed_total",
            "Requests answered FORMERR because they could not be parsed",
            stats.malformed(),
        ),
        (
            "zonesync_queries_dropped_total",
            "Requests dropped without an answer (too short, or responses)",
            stats.dropped(),
        ),
        (
            "zonesync_responses_truncated_total",
            "UDP responses sent with TC=1",
            stats.truncated(),
        ),
    ] {
        out.family(name, Kind::Counter, help);
        out.sample(name, &[], n as f64);
    }
}

/// How often each per-client or global limit turned a client away
/// (`net::limit`), every limit listed from the first scrape.
fn limit_metrics(out: &mut crate::monitor::prometheus::Exposition) {
    out.family(
        "zonesync_limit_hits_total",
        crate::monitor::prometheus::Kind::Counter,
        "Clients turned away by a limit: TCP/TLS connections closed at accept (tcp_connections, tcp_connections_per_client), transfers answered SERVFAIL (transfers, transfers_per_client), NOTIFYs answered REFUSED (notify_in_rate); for control_connections and dashboard_connections, times the listener reached its cap (clients then wait in the backlog); peer_history_busy: signed queries failing TSIG not recorded in a zone's peer history, which was busy",
    );
    for l in crate::net::limit::ALL {
        out.sample(
            "zonesync_limit_hits_total",
            &[("limit", l.kind())],
            l.total() as f64,
        );
    }
}
