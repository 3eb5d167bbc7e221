//! How a check is shown: the table a person reads, the Nagios/Icinga
//! plugin line, and the JSON document (schema `zonesync-verify/1`,
//! docs/verify.md).

use super::fqdn;
use super::verdict::{RowStatus, Severity, ZoneReport};
use serde_json::{json, Value};
use std::fmt::Write;

/// The worst status of all zones (OK when there are none).
pub fn overall(reports: &[ZoneReport]) -> Severity {
    reports
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Severity::Ok)
}

/// One zone's table and its verdicts.
pub fn table(report: &ZoneReport) -> String {
    let mut out = String::new();
    let reference = match &report.reference {
        Some(r) if r.source == "primary" => format!(
            "reference serial {} (primary {})",
            r.serial,
            r.address.map(|a| a.to_string()).unwrap_or_default()
        ),
        Some(r) => format!("reference serial {} (highest)", r.serial),
        None => "no serial seen".to_owned(),
    };
    let _ = writeln!(
        out,
        "{}  {reference}  {}",
        fqdn(&report.zone),
        report.status.as_str()
    );
    // A ZONEMD column only for zones that have one somewhere.
    let zonemd = report
        .rows
        .iter()
        .any(|r| r.probe.zonemd.as_ref().is_some_and(|v| !v.text.is_empty()));
    let mut header = ["NAME", "ADDRESS", "SERIAL", "LAG", "STATUS", "RTT"]
        .map(str::to_owned)
        .to_vec();
    if zonemd {
        header.push("ZONEMD".to_owned());
    }
    let columns = header.len();
    let mut lines = vec![header];
    for row in &report.rows {
        let seen = row.probe.result.as_ref().ok();
        let mut line = vec![
            row.target.name.clone(),
            row.target.addr.to_string(),
            seen.map_or("-".into(), |s| s.serial.to_string()),
            row.lag.map_or("-".into(), |l| l.to_string()),
            row.status.as_str().to_owned(),
            seen.map_or("-".into(), |s| {
                format!("{:.1} ms", s.rtt.as_secs_f64() * 1000.0)
            }),
        ];
        if zonemd {
            line.push(zonemd_cell(row));
        }
        lines.push(line);
    }
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|l| l.get(c).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    // The header, then each row with its diagnosis (if any) under it.
    let rows = std::iter::once(None).chain(report.rows.iter().map(Some));
    for (line, row) in lines.iter().zip(rows) {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            if c + 1 == line.len() {
                text.push_str(cell);
            } else {
                let width = widths.get(c).copied().unwrap_or(0);
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
        if let Some(d) = row.and_then(|r| report.diagnoses.get(&r.target.addr)) {
            let _ = writeln!(out, "  why: {}: {}", d.code.name(), d.message);
        }
    }
    for verdict in &report.verdicts {
        let _ = writeln!(
            out,
            "{} {}: {}",
            verdict.severity.as_str(),
            verdict.code,
            verdict.message
        );
    }
    out
}

/// A row's ZONEMD, shortened: "SERIAL HASH DIGEST…" per record, and
/// whether the zone it transfers matches it.
fn zonemd_cell(row: &super::verdict::Row) -> String {
    let Some(view) = &row.probe.zonemd else {
        return "-".into();
    };
    if view.text.is_empty() {
        return "none".into();
    }
    let mut cells: Vec<String> = view
        .text
        .iter()
        .map(|t| {
            let fields: Vec<&str> = t.split_whitespace().collect();
            match fields.as_slice() {
                [serial, _scheme, hash, digest @ ..] => {
                    let digest = digest.concat().to_ascii_lowercase();
                    let short: String = digest.chars().take(16).collect();
                    format!("{serial} {hash} {short}…")
                }
                _ => t.clone(),
            }
        })
        .collect();
    match &row.probe.zonemd_transfer {
        Some(Ok(_)) => cells.push("(transfer verified)".into()),
        Some(Err(_)) => cells.push("(transfer MISMATCH)".into()),
        None => {}
    }
    cells.join(" ")
}

/// The summary of many zones: one line per zone.
pub fn summary(reports: &[ZoneReport]) -> String {
    let mut out = String::new();
    let width = reports
        .iter()
        .map(|r| fqdn(&r.zone).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<8}  {:>10}  SERVERS  PROBLEMS",
        "ZONE", "STATUS", "SERIAL"
    );
    for report in reports {
        let serial = report
            .reference
            .as_ref()
            .map_or("-".into(), |r| r.serial.to_string());
        let ok = report.count(RowStatus::Ok);
        let codes: Vec<&str> = {
            let mut codes: Vec<&str> = report.verdicts.iter().map(|v| v.code).collect();
            codes.dedup();
            codes
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:>10}  {:>3}/{:<3}  {}",
            fqdn(&report.zone),
            report.status.as_str(),
            serial,
            ok,
            report.rows.len(),
            if codes.is_empty() {
                "-".to_owned()
            } else {
                codes.join(",")
            }
        );
    }
    let counts = Counts::of(reports);
    let _ = writeln!(
        out,
        "{} zones: {} OK, {} WARNING, {} CRITICAL, {} UNKNOWN",
        reports.len(),
        counts.ok,
        counts.warning,
        counts.critical,
        counts.unknown
    );
    out
}

struct Counts {
    ok: usize,
    warning: usize,
    critical: usize,
    unknown: usize,
}

impl Counts {
    fn of(reports: &[ZoneReport]) -> Counts {
        let count = |s: Severity| reports.iter().filter(|r| r.status == s).count();
        Counts {
            ok: count(Severity::Ok),
            warning: count(Severity::Warning),
            critical: count(Severity::Critical),
            unknown: count(Severity::Unknown),
        }
    }
}

/// The Nagios/Icinga plugin line with performance data.
pub fn nagios(reports: &[ZoneReport]) -> String {
    let status = overall(reports);
    if let [report] = reports {
        let mut problems = Vec::new();
        for (status, word) in [
            (RowStatus::Behind, "behind"),
            (RowStatus::Ahead, "ahead"),
            (RowStatus::Unreachable, "unreachable"),
            (RowStatus::Lame, "lame"),
            (RowStatus::Different, "different"),
        ] {
            let n = report.count(status);
            if n > 0 {
                problems.push(format!("{n} {word}"));
            }
        }
        for verdict in &report.verdicts {
            if matches!(
                verdict.code,
                "ns-mismatch"
                    | "axfr-open"
                    | "address-mismatch"
                    | "discovery"
                    | "no-servers"
                    | "primary-unreachable"
                    | super::doctor::UNAVAILABLE
            ) && !problems.iter().any(|p| p == verdict.code)
            {
                problems.push(verdict.code.to_owned());
            }
        }
        let mut text = match (&report.reference, problems.is_empty()) {
            (Some(r), true) => {
                let n = report.rows.len();
                let s = if n == 1 { "" } else { "s" };
                format!("{n} server{s} at serial {}", r.serial)
            }
            (_, true) => "no serial".to_owned(),
            (_, false) => problems.join(", "),
        };
        if let Some(codes) = diagnosis_codes(report) {
            let _ = write!(text, " (why: {codes})");
        }
        let rtt_max = report
            .rows
            .iter()
            .filter_map(|r| r.probe.result.as_ref().ok().map(|s| s.rtt.as_secs_f64()))
            .fold(0.0, f64::max);
        return format!(
            "ZONESYNC VERIFY {} - {}: {text} | servers={};;;0 ok={};;;0 max_lag={};;;0 rtt_max={rtt_max:.6}s;;;0",
            status.as_str(),
            fqdn(&report.zone),
            report.rows.len(),
            report.count(RowStatus::Ok),
            report.max_lag(),
        );
    }
    let counts = Counts::of(reports);
    let mut bad: Vec<String> = reports
        .iter()
        .filter(|r| r.status != Severity::Ok)
        .take(5)
        .map(|r| {
            let mut text = format!("{} {}", fqdn(&r.zone), r.status.as_str());
            if let Some(codes) = diagnosis_codes(r) {
                let _ = write!(text, " why: {codes}");
            }
            text
        })
        .collect();
    if reports.iter().filter(|r| r.status != Severity::Ok).count() > bad.len() {
        bad.push("...".into());
    }
    format!(
        "ZONESYNC VERIFY {} - {} zones: {} OK, {} WARNING, {} CRITICAL, {} UNKNOWN{} | zones={};;;0 ok={};;;0 warning={};;;0 critical={};;;0 unknown={};;;0",
        status.as_str(),
        reports.len(),
        counts.ok,
        counts.warning,
        counts.critical,
        counts.unknown,
        if bad.is_empty() { String::new() } else { format!(" ({})", bad.join(", ")) },
        reports.len(),
        counts.ok,
        counts.warning,
        counts.critical,
        counts.unknown
    )
}

/// The codes of a zone's diagnoses, each once in row order
/// ("transfer-refused,not-notified"); none without any.
fn diagnosis_codes(report: &ZoneReport) -> Option<String> {
    let mut codes: Vec<&str> = Vec::new();
    for row in &report.rows {
        if let Some(d) = report.diagnoses.get(&row.target.addr) {
            if !codes.contains(&d.code.name()) {
                codes.push(d.code.name());
            }
        }
    }
    (!codes.is_empty()).then(|| codes.join(","))
}

/// The JSON document.
pub fn json(reports: &[ZoneReport]) -> Value {
    let status = overall(reports);
    let counts = Counts::of(reports);
    json!({
        "schema": "zonesync-verify/1",
        "status": status.as_str(),
        "exit_code": status.exit_code(),
        "summary": {
            "zones": reports.len(),
            "ok": counts.ok,
            "warning": counts.warning,
            "critical": counts.critical,
            "unknown": counts.unknown,
        },
        "zones": reports.iter().map(zone_json).collect::<Vec<_>>(),
    })
}

fn zone_json(report: &ZoneReport) -> Value {
    json!({
        "zone": fqdn(&report.zone),
        "status": report.status.as_str(),
        "reference": report.reference.as_ref().map(|r| json!({
            "serial": r.serial,
            "source": r.source,
            "address": r.address.map(|a| a.to_string()),
        })),
        "ns": {
            "parent": report.ns.parent.as_ref().map(|s| s.iter().collect::<Vec<_>>()),
            "child": report.ns.child.as_ref().map(|s| s.iter().collect::<Vec<_>>()),
        },
        "servers": report.rows.iter().map(|row| {
            let seen = row.probe.result.as_ref().ok();
            let error = match &row.probe.result {
                Ok(_) => None,
                Err(super::probe::Failure::Unreachable(e) | super::probe::Failure::Lame(e)) => Some(e.clone()),
            };
            let mut server = json!({
                "name": row.target.name,
                "address": row.target.addr.to_string(),
                "status": row.status.as_str(),
                "serial": seen.map(|s| s.serial),
                "lag": row.lag,
                "rtt_ms": seen.map(|s| (s.rtt.as_secs_f64() * 1e5).round() / 100.0),
                "transport": seen.map(|s| s.transport.as_str()),
                "rcode": row.probe.rcode.map(|r| r.to_string()),
                "aa": row.probe.aa,
                "error": error,
                "nsid": seen.and_then(|s| s.nsid.as_deref()).map(nsid_text),
                "expire": seen.and_then(|s| s.expire),
                "zoneversion": seen.and_then(|s| s.zoneversion.as_ref()).map(|z| json!({
                    "labels": z.labels,
                    "type": z.kind,
                    "serial": z.serial(),
                    "data": hex(&z.data),
                })),
                "axfr_open": row.probe.axfr_open,
                "axfr_error": row.probe.axfr_error,
                "zonemd": row.probe.zonemd.as_ref().map(|v| v.text.clone()),
                "zonemd_transfer": row.probe.zonemd_transfer.as_ref().map(|r| match r {
                    Ok(digest) => json!({ "verified": true, "digest": digest }),
                    Err(problem) => json!({ "verified": false, "problem": problem }),
                }),
                "sources": row.target.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            });
            // Only with --primary-control: absent, not null, otherwise, so
            // a report without it reads exactly as before.
            if let (Some(d), Some(fields)) =
                (report.diagnoses.get(&row.target.addr), server.as_object_mut())
            {
                fields.insert("diagnosis".into(), json!({
                    "code": d.code.name(),
                    "message": d.message,
                    "since_ms": d.since_ms,
                    "heal": d.heal,
                }));
            }
            server
        }).collect::<Vec<_>>(),
        "verdicts": report.verdicts.iter().map(|v| json!({
            "code": v.code,
            "severity": v.severity.as_str(),
            "message": v.message,
            "servers": v.servers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Printable ASCII as text, anything else as hex.
fn nsid_text(nsid: &[u8]) -> String {
    if nsid.iter().all(|b| (0x20..0x7f).contains(b)) {
        String::from_utf8_lossy(nsid).into_owned()
    } else {
        hex(nsid)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
