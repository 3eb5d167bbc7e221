//! Human-readable output of `zonesync ctl` (the `--json` output is the
//! server's answer as is).

use super::client::{Call, Client, ClientError};
use super::{
    ChildReport, NotifyQueued, PendingReport, RefreshQueued, ReloadOutcome, ServerStatus,
    TxnReport, ZoneChange, ZoneReload, ZoneStatus,
};
use crate::clock::UnixMs;
use crate::peers::report::{
    EventView, NotifyResult, PeerReport, PeerView, SentKind, TransferResult, Via, WhatView,
};
use std::fmt::Write as _;
use std::net::IpAddr;

/// What `zonesync ctl` prints, and whether it exits 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlOutput {
    pub text: String,
    /// False when a zone's reload failed or was refused.
    pub ok: bool,
}

/// Makes `call` and renders the answer: the JSON as is when `json`, else
/// the human form (`now_unix` is the current time, for "loaded … ago").
pub fn ctl(
    client: &Client,
    call: Call<'_>,
    json: bool,
    now_unix: u64,
) -> Result<CtlOutput, ClientError> {
    let body = client.call_raw(call)?;
    // Decoded even for --json: the exit status depends on the outcomes.
    let (human, ok) = match call {
        Call::Status => (status(&client.decode_answer(&body)?, now_unix), true),
        // Prometheus text, not JSON: shown as it is.
        Call::Metrics => (String::from_utf8_lossy(&body).into_owned(), true),
        Call::Reload { .. } => reload(&client.decode_answer::<Vec<ZoneReload>>(&body)?),
        Call::Notify { .. } => (notify(&client.decode_answer(&body)?), true),
        Call::Refresh { .. } => (refresh(&client.decode_answer(&body)?), true),
        Call::CsyncScan { .. } => csync_reports(&client.decode_answer::<Vec<ChildReport>>(&body)?),
        Call::CsyncApprove { .. } => csync_reports(&[client.decode_answer::<ChildReport>(&body)?]),
        Call::Txn { .. } => (txn(&client.decode_answer(&body)?), true),
        Call::ZoneAdd { .. } | Call::ZoneRemove { .. } => {
            (zone_change(&client.decode_answer(&body)?), true)
        }
        Call::CsyncPending => (
            csync_pending(
                &client.decode_answer::<Vec<PendingReport>>(&body)?,
                now_unix,
            ),
            true,
        ),
        Call::Peers { with, .. } => {
            let report = client.decode_answer(&body)?;
            (peers(&report, with, now_unix.saturating_mul(1000)), true)
        }
    };
    let text = if json {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        human
    };
    Ok(CtlOutput { text, ok })
}

/// `zone-add`, `zone-remove`: the zone and what became of it.
pub fn zone_change(c: &ZoneChange) -> String {
    match c.serial {
        Some(serial) => format!("{}: {} ({}, serial {serial})\n", c.zone, c.action, c.role),
        None => format!("{}: {} ({})\n", c.zone, c.action, c.role),
    }
}

/// A transaction request's answer: what it did, then its lines.
pub fn txn(r: &TxnReport) -> String {
    let mut out = match (r.op.as_str(), r.serial, r.from_serial) {
        ("begin", Some(s), _) => format!("{}: transaction open at serial {s}\n", r.zone),
        ("commit", Some(to), Some(from)) => {
            format!("{}: committed, serial {from} -> {to}\n", r.zone)
        }
        ("commit", _, _) => format!("{}: committed, nothing changed\n", r.zone),
        ("abort", _, _) => format!("{}: transaction aborted\n", r.zone),
        ("diff", _, _) if r.lines.is_empty() => format!("{}: no change\n", r.zone),
        ("set" | "unset", _, _) => format!("{}: ok\n", r.zone),
        _ => String::new(),
    };
    for line in &r.lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Each child scanned: outcome and why, the changes, what each server
/// said. Not ok when a change failed.
pub fn csync_reports(reports: &[ChildReport]) -> (String, bool) {
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("no children to scan\n");
    }
    for r in reports {
        let serial = r
            .csync_serial
            .map_or(String::new(), |s| format!(" (CSYNC serial {s})"));
        let _ = writeln!(
            out,
            "{} in {}: {}{serial} ({} ms)",
            r.child, r.parent, r.outcome, r.elapsed_ms
        );
        let _ = writeln!(out, "  {}", r.reason);
        for c in &r.changes {
            let _ = writeln!(out, "  {c}");
        }
        if let Some(s) = r.parent_serial {
            let _ = writeln!(out, "  parent serial now {s}");
        }
        for s in &r.servers {
            let _ = writeln!(out, "  server {s}");
        }
    }
    let ok = !reports
        .iter()
        .any(|r| r.outcome == crate::csync::decide::CsyncOutcome::Failed);
    (out, ok)
}

/// The changes waiting for `zonesync csync approve`.
pub fn csync_pending(pending: &[PendingReport], now_unix: u64) -> String {
    if pending.is_empty() {
        return "no CSYNC change waits for approval\n".into();
    }
    let mut out = String::new();
    for p in pending {
        let _ = writeln!(
            out,
            "{} in {}: CSYNC serial {}, waiting {}; approve with `zonesync csync approve {}`",
            p.child,
            p.parent,
            p.csync_serial,
            duration(now_unix.saturating_sub(p.since)),
            p.child
        );
        for c in &p.changes {
            let _ = writeln!(out, "  {c}");
        }
    }
    out
}

/// The status as a header line and a table of zones, `now_unix` being the
/// current time (to show how long ago each zone was loaded).
pub fn status(status: &ServerStatus, now_unix: u64) -> String {
    let mut out = format!(
        "zonesync {}, up {}, {} zone{}\n",
        status.version,
        duration(status.uptime_secs),
        status.zones.len(),
        if status.zones.len() == 1 { "" } else { "s" }
    );
    if status.zones.is_empty() {
        return out;
    }
    let header = [
        "ZONE", "ROLE", "SERIAL", "RECORDS", "LOADED", "JOURNAL", "XFR-OUT", "NOTIFY", "ERROR",
    ];
    let rows: Vec<[String; 9]> = status.zones.iter().map(|z| zone_row(z, now_unix)).collect();
    push_table(&mut out, &header, &rows);
    for z in &status.zones {
        if let Some(sec) = &z.secondary {
            secondary_lines(&mut out, &z.name, sec, now_unix);
        }
        if let Some(d) = &z.dynamic {
            if let Some(file) = d.file_serial {
                let _ = writeln!(
                    out,
                    "\n{}: the zone file holds serial {file}; the changes after it (UPDATE) are in the journal until the flush",
                    z.name
                );
            }
            if let Some(since) = d.transaction_since {
                let _ = writeln!(out, "\n{}: transaction open since serial {since}", z.name);
            }
        }
    }
    out
}

/// A secondary's timers and primaries, below the table.
fn secondary_lines(out: &mut String, zone: &str, s: &super::SecondaryInfo, now: u64) {
    let ago = |t: Option<u64>| {
        t.map_or("never".into(), |t| {
            format!("{} ago", duration(now.saturating_sub(t)))
        })
    };
    let until = |t: Option<u64>| {
        t.map_or("-".into(), |t| {
            if t <= now {
                "now".into()
            } else {
                format!("in {}", duration(t - now))
            }
        })
    };
    let _ = writeln!(
        out,
        "\n{zone}: last refresh {}: {}; next refresh {}; {}",
        ago(s.last_refresh_unix),
        s.last_result.as_deref().map_or("-".into(), one_line),
        until(s.next_refresh_unix),
        if s.expired {
            "EXPIRED (SERVFAIL)".to_string()
        } else {
            format!("expires {}", until(s.expires_at_unix))
        }
    );
    for p in &s.primaries {
        let serial = p.serial.map_or("-".into(), |v| v.to_string());
        let _ = write!(
            out,
            "  primary {}{}: serial {serial}, seen {}",
            p.address,
            if p.tls { " (TLS)" } else { "" },
            ago(p.last_contact_unix)
        );
        if let Some(e) = &p.last_error {
            let _ = write!(out, ", last error: {}", one_line(e));
        }
        out.push('\n');
    }
}

fn zone_row(z: &ZoneStatus, now_unix: u64) -> [String; 9] {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let journal = z.journal.as_ref().map(|j| {
        let range = match (j.first_serial, j.last_serial) {
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => "empty".into(),
        };
        format!("{range} ({} changesets)", j.changesets)
    });
    let loaded = z
        .loaded_at_unix
        .map(|t| format!("{} ago", duration(now_unix.saturating_sub(t))));
    [
        z.name.clone(),
        match &z.catalog {
            Some(c) => format!("{} ({c})", z.role),
            None => z.role.clone(),
        },
        or_dash(z.serial.map(|s| s.to_string())),
        or_dash(z.records.map(|r| r.to_string())),
        or_dash(loaded),
        or_dash(journal),
        z.transfers_out.to_string(),
        z.notify_targets.len().to_string(),
        or_dash(z.last_error.as_ref().map(|e| one_line(e))),
    ]
}

/// Left-aligned cells; the last column is not padded.
fn push_row(out: &mut String, row: &[String], widths: &[usize]) {
    let mut line = String::new();
    for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
        if i + 1 == row.len() {
            line.push_str(cell);
        } else {
            let _ = write!(line, "{cell:<w$}  ");
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// A header and rows, each column as wide as its widest cell.
fn push_table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    push_row(out, &header.map(String::from), &widths);
    for row in rows {
        push_row(out, row, &widths);
    }
}

/// `ctl peers ZONE`: what the server saw of each peer, one line each;
/// with addresses (`ctl peers ZONE ADDR`), those peers' events instead.
/// `now_ms`: the current time, for "… ago".
pub fn peers(r: &PeerReport, with: &[IpAddr], now_ms: UnixMs) -> String {
    let ago = |at: UnixMs| format!("{} ago", duration(now_ms.saturating_sub(at) / 1000));
    let mut out = format!(
        "{}: serial {}, published {}{}\n",
        r.zone,
        r.serial.map_or("-".into(), |s| s.to_string()),
        r.published_ms.map_or("never".into(), ago),
        if r.notify_running {
            "; NOTIFY round running"
        } else {
            ""
        }
    );
    let at = r
        .allow_transfer_at
        .as_deref()
        .map_or(String::new(), |at| format!(" ({at})"));
    let rules = if r.allow_transfer.is_empty() {
        "none: nobody may transfer".to_string()
    } else {
        r.allow_transfer.join("; ")
    };
    let _ = writeln!(out, "allow_transfer{at}: {rules}");
    if with.is_empty() {
        peer_table(&mut out, r, &ago);
    } else {
        for address in with {
            let folded = crate::peers::fold(*address);
            match r.peers.iter().find(|p| p.address == folded) {
                Some(p) => peer_events(&mut out, p, &ago),
                None => {
                    let _ = writeln!(out, "\n{address}: not in the report");
                }
            }
        }
    }
    out
}

/// One line per peer.
fn peer_table(out: &mut String, r: &PeerReport, ago: &dyn Fn(UnixMs) -> String) {
    if r.peers.is_empty() {
        out.push_str("no peer seen yet\n");
        return;
    }
    let header = [
        "PEER",
        "NOTIFY",
        "LAST-HEAL",
        "LAST-ASK",
        "LAST-TRANSFER",
        "LAST-REFUSAL",
    ];
    let rows: Vec<[String; 6]> = r
        .peers
        .iter()
        .map(|p| {
            let at = |e: &EventView| format!("{}, {}", what_text(&e.what), ago(e.at_ms));
            let notify = match &p.last_notify {
                Some(e) => at(e),
                None if p.notify_target => "target, none sent yet".into(),
                None => "-".into(),
            };
            [
                p.address.to_string(),
                notify,
                p.last_heal.as_ref().map_or("-".into(), at),
                p.last_soa_query_ms.map_or("-".into(), ago),
                p.last_transfer.as_ref().map_or("-".into(), at),
                p.last_refusal.as_ref().map_or("-".into(), at),
            ]
        })
        .collect();
    push_table(out, &header, &rows);
}

/// A peer's events, newest first.
fn peer_events(out: &mut String, p: &PeerView, ago: &dyn Fn(UnixMs) -> String) {
    let target = if p.notify_target {
        "NOTIFY target"
    } else {
        "not a NOTIFY target"
    };
    let asked = p
        .last_soa_query_ms
        .map_or("never seen asking the SOA".into(), |at| {
            format!("asked the SOA {}", ago(at))
        });
    let _ = writeln!(out, "\n{} ({target}; {asked})", p.address);
    if p.events.is_empty() {
        out.push_str("  no events\n");
    }
    for e in &p.events {
        let _ = writeln!(out, "  {}  {}", ago(e.at_ms), what_text(&e.what));
    }
}

/// An event as a phrase: "NOTIFY serial 10: acknowledged", "AXFR: serial
/// 10 whole, 5 records, 312 B", "query: BADKEY (key k)".
fn what_text(what: &WhatView) -> String {
    let key = |k: &Option<String>| {
        k.as_deref()
            .map_or(String::new(), |k| format!(" (key {k})"))
    };
    match what {
        WhatView::Notify {
            serial,
            port,
            key: k,
            tries,
            outcome,
            heal,
        } => format!(
            "NOTIFY{} serial {serial} to port {port}{}: {}",
            if *heal { " (heal)" } else { "" },
            key(k),
            notify_text(outcome, *tries)
        ),
        WhatView::Transfer {
            request,
            asked,
            key: k,
            via,
            outcome,
        } => format!(
            "{}{}{}{}: {}",
            request.name(),
            asked.map_or(String::new(), |s| format!(" from {s}")),
            if *via == Via::Tls { " over TLS" } else { "" },
            key(k),
            transfer_text(outcome)
        ),
        WhatView::SoaQuery { key: k, tsig_error } => {
            format!("signed query{}: {tsig_error}", key(k))
        }
        WhatView::NotifyIn { rcode } => format!(
            "NOTIFY to us, answered {}: it takes itself for a primary of the zone",
            crate::wire::rcode::name(u16::from(*rcode))
        ),
        WhatView::Heal { action, result } => format!("heal by {}: {result}", action.name()),
    }
}

fn notify_text(outcome: &NotifyResult, tries: u32) -> String {
    match outcome {
        NotifyResult::Acknowledged { rcode: 0 } => "acknowledged".into(),
        NotifyResult::Acknowledged { rcode } => {
            format!("answered {}", crate::wire::rcode::name(u16::from(*rcode)))
        }
        NotifyResult::NoAnswer => format!(
            "no answer ({tries} tr{})",
            if tries == 1 { "y" } else { "ies" }
        ),
        NotifyResult::SendFailed { error } => format!("not sent: {error}"),
        NotifyResult::TsigFailed { error } => format!("answer failed TSIG: {error}"),
        NotifyResult::CutShort => "cut short by a newer round".into(),
    }
}

fn transfer_text(outcome: &TransferResult) -> String {
    match outcome {
        TransferResult::Served {
            serial,
            sent,
            changesets,
            instead_of_ixfr,
            records,
            bytes,
            ..
        } => {
            let what = match (sent, changesets, instead_of_ixfr) {
                (SentKind::Current, ..) => return format!("current at serial {serial}"),
                (SentKind::Incremental, n, _) => {
                    let n = n.unwrap_or(0);
                    format!("{n} changeset{}", if n == 1 { "" } else { "s" })
                }
                (SentKind::Full, _, Some(why)) => format!("whole zone ({})", why.text()),
                (SentKind::Full, _, None) => "whole zone".into(),
            };
            format!("serial {serial}, {what}, {records} records, {bytes} B")
        }
        TransferResult::Refused { reason, .. } => format!("refused: {reason}"),
        TransferResult::Tsig { error } => format!("TSIG {error}"),
        TransferResult::NotLoaded => "not loaded (SERVFAIL)".into(),
        TransferResult::OverLimit { limit } => format!("SERVFAIL: {limit} reached"),
        TransferResult::Aborted { error, bytes } => format!("aborted after {bytes} B: {error}"),
    }
}

/// One line per zone; the second value is true when every zone loaded or
/// was unchanged (else `zonesync ctl reload` exits 1).
pub fn reload(reloads: &[ZoneReload]) -> (String, bool) {
    let mut out = String::new();
    for r in reloads {
        let _ = writeln!(out, "{}", reload_line(r));
    }
    if reloads.is_empty() {
        out.push_str("no zones\n");
    }
    let ok = reloads.iter().all(|r| !r.outcome.is_error());
    (out, ok)
}

fn reload_line(r: &ZoneReload) -> String {
    let note = r
        .message
        .as_deref()
        .map(|m| format!(": {}", one_line(m)))
        .unwrap_or_default();
    match (r.outcome, r.serial, r.old_serial) {
        (ReloadOutcome::Loaded, Some(s), Some(old)) => {
            format!("{}: loaded serial {s} (was {old}){note}", r.zone)
        }
        (ReloadOutcome::Loaded, Some(s), None) => format!("{}: loaded serial {s}{note}", r.zone),
        (ReloadOutcome::Unchanged, Some(s), _) => {
            format!("{}: unchanged (serial {s}){note}", r.zone)
        }
        (outcome, _, _) => format!("{}: {}{note}", r.zone, outcome.as_str()),
    }
}

pub fn refresh(q: &RefreshQueued) -> String {
    let what = if q.retransfer { "AXFR" } else { "refresh" };
    format!("{}: {what} queued\n", q.zone)
}

pub fn notify(q: &NotifyQueued) -> String {
    format!(
        "{}: NOTIFY queued to {} target{}\n",
        q.zone,
        q.targets,
        if q.targets == 1 { "" } else { "s" }
    )
}

/// "3d 4h", "2h 5m", "4m 10s", "9s".
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Multi-line error messages (a zone file's list of errors) on one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::JournalStatus;
    use super::*;
    use crate::serial::Serial;

    fn zone(name: &str) -> ZoneStatus {
        ZoneStatus {
            name: name.into(),
            role: "primary".into(),
            serial: Some(Serial(5)),
            records: Some(12),
            loaded_at_unix: Some(1000),
            last_error: None,
            journal: Some(JournalStatus {
                first_serial: Some(Serial(1)),
                last_serial: Some(Serial(5)),
                changesets: 4,
                bytes: 300,
            }),
            notify_targets: vec!["127.0.0.2:53".into()],
            transfers_out: 3,
            dynamic: None,
            secondary: None,
            catalog: None,
        }
    }

    #[test]
    fn status_table() {
        let mut broken = zone("broken.example");
        broken.serial = None;
        broken.records = None;
        broken.loaded_at_unix = None;
        broken.journal = None;
        broken.last_error = Some("zone.db:3: bad TTL\nzone.db:9: no SOA".into());
        let s = ServerStatus {
            version: "0.1.0".into(),
            uptime_secs: 3725,
            zones: vec![zone("example.com"), broken],
        };
        let out = status(&s, 1090);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "zonesync 0.1.0, up 1h 2m, 2 zones");
        assert!(
            lines[1].starts_with("ZONE            ROLE     SERIAL"),
            "{out}"
        );
        assert!(lines[2].contains("1m 30s ago"), "{out}");
        assert!(lines[2].contains("1..5 (4 changesets)"), "{out}");
        assert!(
            lines[3].ends_with("zone.db:3: bad TTL; zone.db:9: no SOA"),
            "{out}"
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn reload_lines_and_exit() {
        let r = |outcome, old, serial, message: Option<&str>| ZoneReload {
            zone: "example.com".into(),
            outcome,
            old_serial: old,
            serial,
            message: message.map(String::from),
        };
        let (out, ok) = reload(&[
            r(
                ReloadOutcome::Loaded,
                Some(Serial(4)),
                Some(Serial(5)),
                None,
            ),
            r(ReloadOutcome::Loaded, None, Some(Serial(1)), None),
            r(
                ReloadOutcome::Unchanged,
                Some(Serial(5)),
                Some(Serial(5)),
                None,
            ),
        ]);
        assert!(ok);
        assert_eq!(
            out,
            "example.com: loaded serial 5 (was 4)\nexample.com: loaded serial 1\nexample.com: unchanged (serial 5)\n"
        );
        let (out, ok) = reload(&[
            r(
                ReloadOutcome::Refused,
                Some(Serial(5)),
                Some(Serial(5)),
                Some("secondary zone"),
            ),
            r(
                ReloadOutcome::Failed,
                Some(Serial(5)),
                Some(Serial(5)),
                Some("a:1: x\na:2: y"),
            ),
        ]);
        assert!(!ok);
        assert_eq!(
            out,
            "example.com: refused: secondary zone\nexample.com: failed: a:1: x; a:2: y\n"
        );
    }

    fn peer_report() -> PeerReport {
        use crate::peers::report::{RequestKind, SentKind};
        const NOW: UnixMs = 1_800_000_100_000;
        let event = |secs_ago: u64, what| EventView {
            at_ms: NOW - secs_ago * 1000,
            what,
        };
        let notified = event(
            30,
            WhatView::Notify {
                serial: Serial(10),
                port: 5300,
                key: None,
                tries: 1,
                outcome: NotifyResult::Acknowledged { rcode: 5 },
                heal: false,
            },
        );
        let served = event(
            20,
            WhatView::Transfer {
                request: RequestKind::Ixfr,
                asked: Some(Serial(4)),
                key: None,
                via: Via::Plain,
                outcome: TransferResult::Served {
                    serial: Serial(10),
                    sent: SentKind::Full,
                    changesets: None,
                    instead_of_ixfr: Some(crate::peers::report::FullWhy::HistoryMissing),
                    records: 5,
                    bytes: 312,
                    messages: 1,
                    ms: 2,
                },
            },
        );
        let refused = event(
            10,
            WhatView::Transfer {
                request: RequestKind::Axfr,
                asked: None,
                key: Some("nokey".into()),
                via: Via::Plain,
                outcome: TransferResult::Tsig {
                    error: "BADKEY".into(),
                },
            },
        );
        let mut target = PeerView::unknown("127.0.0.5".parse().unwrap());
        target.notify_target = true;
        target.last_notify = Some(notified.clone());
        target.events = vec![notified];
        let mut asker = PeerView::unknown("127.0.0.2".parse().unwrap());
        asker.last_heal = Some(EventView {
            at_ms: NOW - 20_000,
            what: WhatView::Heal {
                action: crate::peers::report::HealKind::Refresh,
                result: "queued".into(),
            },
        });
        asker.last_soa_query_ms = Some(NOW - 5000);
        asker.last_transfer = Some(refused.clone());
        asker.last_refusal = Some(refused.clone());
        asker.events = vec![refused, served];
        PeerReport {
            zone: "example.com".into(),
            serial: Some(Serial(10)),
            published_ms: Some(NOW - 60_000),
            notify_running: false,
            notify_targets: vec!["127.0.0.5:5300".into()],
            allow_transfer: vec!["from 127.0.0.2/32".into(), "key xfr-key".into()],
            allow_transfer_at: Some("zonesync.toml:14".into()),
            peers: vec![target, asker],
        }
    }

    #[test]
    fn peers_table_one_line_per_peer() {
        let out = peers(&peer_report(), &[], 1_800_000_100_000);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "example.com: serial 10, published 1m 0s ago");
        assert_eq!(
            lines[1],
            "allow_transfer (zonesync.toml:14): from 127.0.0.2/32; key xfr-key"
        );
        assert!(lines[2].starts_with("PEER       NOTIFY"), "{out}");
        assert!(
            lines[2].contains("LAST-ASK") && lines[2].ends_with("LAST-REFUSAL"),
            "{out}"
        );
        assert!(
            lines[3]
                .starts_with("127.0.0.5  NOTIFY serial 10 to port 5300: answered REFUSED, 30s ago"),
            "{out}"
        );
        assert!(lines[4].starts_with("127.0.0.2  -"), "{out}");
        assert!(
            lines[4].contains("  heal by refresh: queued, 20s ago  "),
            "the last heal: {out}"
        );
        assert!(lines[4].contains("5s ago"), "{out}");
        assert!(
            lines[4].ends_with("AXFR (key nokey): TSIG BADKEY, 10s ago"),
            "{out}"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn peers_with_an_address_lists_its_events() {
        let out = peers(
            &peer_report(),
            &["::ffff:127.0.0.2".parse().unwrap(), "::1".parse().unwrap()],
            1_800_000_100_000,
        );
        assert!(
            out.contains(
                "\n127.0.0.2 (not a NOTIFY target; asked the SOA 5s ago)\n\
                 \x20 10s ago  AXFR (key nokey): TSIG BADKEY\n\
                 \x20 20s ago  IXFR from 4: serial 10, whole zone (its serial is not in the journal), 5 records, 312 B\n"
            ),
            "{out}"
        );
        assert!(out.ends_with("\n::1: not in the report\n"), "{out}");
    }

    #[test]
    fn notify_line() {
        let q = NotifyQueued {
            zone: "example.com".into(),
            targets: 2,
        };
        assert_eq!(notify(&q), "example.com: NOTIFY queued to 2 targets\n");
    }
}
