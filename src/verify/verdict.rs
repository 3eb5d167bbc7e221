//! From the answers of every address to one row per address and the
//! verdicts: who is behind (RFC 1982), who does not answer or answers
//! lamely, who differs at the same serial, whose addresses disagree,
//! whether the parent agrees with the apex, who transfers to anyone.

use super::probe::{Failure, Probe, RrsetView};
use super::{fqdn, NsSets, Options, Source, Target};
use crate::peers::diagnose::Diagnosis;
use crate::serial::Serial;
use domain::base::name::Name;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Nagios/Icinga states. Ordered by how bad they are for a summary:
/// OK < WARNING < UNKNOWN < CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Unknown => "UNKNOWN",
            Severity::Critical => "CRITICAL",
        }
    }

    /// The plugin exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub servers: Vec<SocketAddr>,
}

/// A row's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Ok,
    Behind,
    Ahead,
    Unreachable,
    Lame,
    Different,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Ok => "ok",
            RowStatus::Behind => "behind",
            RowStatus::Ahead => "ahead",
            RowStatus::Unreachable => "unreachable",
            RowStatus::Lame => "lame",
            RowStatus::Different => "different",
        }
    }
}

/// One nameserver address.
#[derive(Debug, Clone)]
pub struct Row {
    pub target: Target,
    pub probe: Probe,
    pub status: RowStatus,
    /// RFC 1982 distance to the reference: positive when behind.
    pub lag: Option<i64>,
}

impl Row {
    pub fn serial(&self) -> Option<Serial> {
        self.probe.result.as_ref().ok().map(|s| s.serial)
    }

    /// "ns1.example.com. 127.0.0.1:53".
    pub fn label(&self) -> String {
        format!("{} {}", self.target.name, self.target.addr)
    }
}

/// What the serials are compared with.
#[derive(Debug, Clone)]
pub struct Reference {
    pub serial: Serial,
    /// "highest" or "primary".
    pub source: &'static str,
    pub address: Option<SocketAddr>,
}

/// Everything about one zone.
#[derive(Debug, Clone)]
pub struct ZoneReport {
    pub zone: Name<Vec<u8>>,
    pub status: Severity,
    pub reference: Option<Reference>,
    pub ns: NsSets,
    pub rows: Vec<Row>,
    pub verdicts: Vec<Verdict>,
    /// Why rows are behind, lame or different, by their address: given by
    /// `verify --primary-control` (`doctor`), empty otherwise.
    pub diagnoses: BTreeMap<SocketAddr, Diagnosis>,
}

impl ZoneReport {
    /// A zone that could not be checked at all.
    pub fn failed(zone: Name<Vec<u8>>, why: &str) -> ZoneReport {
        ZoneReport {
            zone,
            status: Severity::Unknown,
            reference: None,
            ns: NsSets::default(),
            rows: Vec::new(),
            verdicts: vec![Verdict {
                code: "no-servers",
                severity: Severity::Unknown,
                message: why.to_owned(),
                servers: Vec::new(),
            }],
            diagnoses: BTreeMap::new(),
        }
    }

    /// Rows in a status.
    pub fn count(&self, status: RowStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }

    /// The largest lag of a row behind the reference.
    pub fn max_lag(&self) -> i64 {
        self.rows
            .iter()
            .filter_map(|r| r.lag)
            .max()
            .unwrap_or(0)
            .max(0)
    }
}

/// The comparison.
pub fn judge(
    zone: &Name<Vec<u8>>,
    options: &Options,
    targets: Vec<Target>,
    probes: Vec<Probe>,
    ns: NsSets,
    problems: Vec<String>,
) -> ZoneReport {
    let mut rows: Vec<Row> = targets
        .into_iter()
        .zip(probes)
        .map(|(target, probe)| Row {
            target,
            probe,
            status: RowStatus::Ok,
            lag: None,
        })
        .collect();
    let mut verdicts = Vec::new();
    if rows.is_empty() {
        verdicts.push(Verdict {
            code: "no-servers",
            severity: Severity::Unknown,
            message: format!("no nameserver address found for {}", fqdn(zone)),
            servers: Vec::new(),
        });
    }
    failures(&mut rows, &mut verdicts);
    let reference = reference(&rows, options, &mut verdicts);
    if let Some(reference) = &reference {
        lags(&mut rows, reference, options.max_lag, &mut verdicts);
    }
    content(&mut rows, options, &mut verdicts);
    addresses(&rows, &mut verdicts);
    ns_sets(&ns, &mut verdicts);
    axfr(&rows, &mut verdicts);
    zonemd_transfers(&mut rows, &mut verdicts);
    for problem in problems {
        verdicts.push(Verdict {
            code: "discovery",
            severity: Severity::Warning,
            message: problem,
            servers: Vec::new(),
        });
    }
    let status = verdicts
        .iter()
        .map(|v| v.severity)
        .max()
        .unwrap_or(Severity::Ok);
    ZoneReport {
        zone: zone.clone(),
        status,
        reference,
        ns,
        rows,
        verdicts,
        diagnoses: BTreeMap::new(),
    }
}

fn failures(rows: &mut [Row], verdicts: &mut Vec<Verdict>) {
    for row in rows.iter_mut() {
        let (status, code, why) = match &row.probe.result {
            Ok(_) => continue,
            Err(Failure::Unreachable(why)) => (RowStatus::Unreachable, "unreachable", why),
            Err(Failure::Lame(why)) => (RowStatus::Lame, "lame", why),
        };
        row.status = status;
        let message = format!("{}: {why}", row.label());
        verdicts.push(Verdict {
            code,
            severity: Severity::Critical,
            message,
            servers: vec![row.target.addr],
        });
    }
}

/// The primary's serial, or the highest (RFC 1982) seen.
fn reference(rows: &[Row], options: &Options, verdicts: &mut Vec<Verdict>) -> Option<Reference> {
    if let Some(primary) = options.primary {
        let row = rows
            .iter()
            .find(|r| r.target.sources.contains(&Source::Primary));
        if let Some(serial) = row.and_then(Row::serial) {
            return Some(Reference {
                serial,
                source: "primary",
                address: Some(primary),
            });
        }
        verdicts.push(Verdict {
            code: "primary-unreachable",
            severity: Severity::Critical,
            message: format!(
                "the primary {primary} gave no authoritative SOA; comparing with the highest serial"
            ),
            servers: vec![primary],
        });
    }
    let highest = Serial::newest(rows.iter().filter_map(Row::serial))?;
    Some(Reference {
        serial: highest,
        source: "highest",
        address: None,
    })
}

fn lags(rows: &mut [Row], reference: &Reference, max_lag: u32, verdicts: &mut Vec<Verdict>) {
    for row in rows.iter_mut() {
        let Some(serial) = row.serial() else { continue };
        let lag = i64::from(reference.serial.ahead_of(serial));
        row.lag = Some(lag);
        if lag > i64::from(max_lag) {
            row.status = RowStatus::Behind;
            let accepted = if max_lag > 0 {
                format!(" (accepted: {max_lag})")
            } else {
                String::new()
            };
            verdicts.push(Verdict {
                code: "serial-behind",
                severity: Severity::Critical,
                message: format!(
                    "{} is at {serial}, {lag} behind {}{accepted}",
                    row.label(),
                    reference.serial
                ),
                servers: vec![row.target.addr],
            });
        } else if lag < 0 && reference.source == "primary" {
            row.status = RowStatus::Ahead;
            verdicts.push(Verdict {
                code: "serial-ahead",
                severity: Severity::Warning,
                message: format!(
                    "{} is at {serial}, {} ahead of the primary's {}",
                    row.label(),
                    -lag,
                    reference.serial
                ),
                servers: vec![row.target.addr],
            });
        }
    }
}

const APEX_ZONEMD: &str = "apex ZONEMD";

/// What is compared between servers at one serial: (what, view) pairs.
fn compared(row: &Row) -> Vec<(String, RrsetView)> {
    let mut items = Vec::new();
    let Ok(seen) = &row.probe.result else {
        return items;
    };
    items.push(("SOA".to_owned(), seen.soa.clone()));
    if !seen.rrsigs.rdata.is_empty() {
        items.push(("SOA RRSIG".to_owned(), seen.rrsigs.clone()));
    }
    if let Some(view) = &row.probe.ns_view {
        items.push(("apex NS".to_owned(), view.clone()));
    }
    if let Some(view) = &row.probe.zonemd {
        items.push((APEX_ZONEMD.to_owned(), view.clone()));
    }
    for (key, view) in &row.probe.records {
        if let Some(view) = view {
            items.push((key.to_string(), view.clone()));
        }
    }
    items
}

/// Servers at the same serial that answer differently.
fn content(rows: &mut [Row], options: &Options, verdicts: &mut Vec<Verdict>) {
    // Keyed by the number: serials have no total order, and the report
    // lists groups in a stable order.
    let mut by_serial: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(serial) = row.serial() {
            by_serial.entry(serial.get()).or_default().push(i);
        }
    }
    for (serial, members) in by_serial {
        if members.len() < 2 {
            continue;
        }
        let items: Vec<Vec<(String, RrsetView)>> = members
            .iter()
            .filter_map(|&i| rows.get(i))
            .map(compared)
            .collect();
        let mut what: Vec<String> = items.iter().flatten().map(|(w, _)| w.clone()).collect();
        what.dedup();
        let mut seen = std::collections::BTreeSet::new();
        what.retain(|w| seen.insert(w.clone()));
        for item in what {
            // Groups of equal answers: (view, member indexes).
            let mut groups: Vec<(RrsetView, Vec<usize>)> = Vec::new();
            for (&i, row_items) in members.iter().zip(&items) {
                let Some((_, view)) = row_items.iter().find(|(w, _)| *w == item) else {
                    continue;
                };
                match groups.iter_mut().find(|(v, _)| v.same_as(view)) {
                    Some((_, group)) => group.push(i),
                    None => groups.push((view.clone(), vec![i])),
                }
            }
            if groups.len() < 2 {
                continue;
            }
            let keep = majority(&groups, rows, options);
            let mut servers = Vec::new();
            let mut parts = Vec::new();
            for (g, (view, group)) in groups.iter().enumerate() {
                let names: Vec<String> = group
                    .iter()
                    .filter_map(|&i| rows.get(i))
                    .map(Row::label)
                    .collect();
                parts.push(format!("{} from {}", view.describe(), names.join(", ")));
                if g != keep {
                    for &i in group {
                        if let Some(row) = rows.get_mut(i) {
                            if row.status == RowStatus::Ok {
                                row.status = RowStatus::Different;
                            }
                            servers.push(row.target.addr);
                        }
                    }
                }
            }
            // Another ZONEMD at the same serial: other data, or another
            // publisher, whatever else matches.
            let code = if item == APEX_ZONEMD {
                "zonemd-mismatch"
            } else {
                "content-mismatch"
            };
            verdicts.push(Verdict {
                code,
                severity: Severity::Critical,
                message: format!("{item} at serial {serial} differs: {}", parts.join("; ")),
                servers,
            });
        }
    }
}

/// The group taken as right: the primary's, else the largest, else the
/// first.
fn majority(groups: &[(RrsetView, Vec<usize>)], rows: &[Row], options: &Options) -> usize {
    if options.primary.is_some() {
        let primary = groups.iter().position(|(_, members)| {
            members.iter().any(|&i| {
                rows.get(i)
                    .is_some_and(|r| r.target.sources.contains(&Source::Primary))
            })
        });
        if let Some(g) = primary {
            return g;
        }
    }
    let mut best = 0;
    for (g, (_, members)) in groups.iter().enumerate() {
        if members.len() > groups.get(best).map_or(0, |(_, m)| m.len()) {
            best = g;
        }
    }
    best
}

/// Servers whose transferred zone does not match its own ZONEMD.
fn zonemd_transfers(rows: &mut [Row], verdicts: &mut Vec<Verdict>) {
    for row in rows.iter_mut() {
        let Some(Err(problem)) = &row.probe.zonemd_transfer else {
            continue;
        };
        if row.status == RowStatus::Ok {
            row.status = RowStatus::Different;
        }
        verdicts.push(Verdict {
            code: "zonemd-invalid",
            severity: Severity::Critical,
            message: format!(
                "{}: the zone it transfers does not match its ZONEMD: {problem}",
                row.label()
            ),
            servers: vec![row.target.addr],
        });
    }
}

/// The addresses of one NS name that disagree on the serial or content.
fn addresses(rows: &[Row], verdicts: &mut Vec<Verdict>) {
    let mut by_name: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        if row.serial().is_some() && row.target.name != "primary" {
            by_name.entry(&row.target.name).or_default().push(row);
        }
    }
    for (name, members) in by_name {
        let Some(first) = members.first() else {
            continue;
        };
        let serials_differ = members.iter().any(|r| r.serial() != first.serial());
        let first_items = compared(first);
        let content_differs = members.iter().skip(1).any(|r| {
            compared(r).iter().any(|(what, view)| {
                first_items
                    .iter()
                    .find(|(w, _)| w == what)
                    .is_some_and(|(_, v)| !v.same_as(view))
            })
        });
        if !serials_differ && !content_differs {
            continue;
        }
        let detail: Vec<String> = members
            .iter()
            .map(|r| format!("{} at {}", r.target.addr, r.serial().unwrap_or_default()))
            .collect();
        let what = if serials_differ {
            "serials"
        } else {
            "content at the same serial"
        };
        verdicts.push(Verdict {
            code: "address-mismatch",
            severity: Severity::Critical,
            message: format!(
                "the addresses of {name} disagree on {what}: {}",
                detail.join(", ")
            ),
            servers: members.iter().map(|r| r.target.addr).collect(),
        });
    }
}

fn ns_sets(ns: &NsSets, verdicts: &mut Vec<Verdict>) {
    let (Some(parent), Some(child)) = (&ns.parent, &ns.child) else {
        return;
    };
    if parent == child {
        return;
    }
    let mut parts = Vec::new();
    let only_parent: Vec<&str> = parent.difference(child).map(String::as_str).collect();
    let only_child: Vec<&str> = child.difference(parent).map(String::as_str).collect();
    if !only_parent.is_empty() {
        parts.push(format!(
            "the parent's delegation lists {} not at the apex",
            only_parent.join(", ")
        ));
    }
    if !only_child.is_empty() {
        parts.push(format!(
            "the apex lists {} not in the parent's delegation",
            only_child.join(", ")
        ));
    }
    verdicts.push(Verdict {
        code: "ns-mismatch",
        severity: Severity::Warning,
        message: parts.join("; "),
        servers: Vec::new(),
    });
}

fn axfr(rows: &[Row], verdicts: &mut Vec<Verdict>) {
    // Addresses that answer the SOA but whose AXFR check came to nothing:
    // said, so a missing axfr-open is not read as "closed".
    let unchecked: Vec<String> = rows
        .iter()
        .filter(|r| r.probe.result.is_ok())
        .filter_map(|r| Some(format!("{} ({})", r.label(), r.probe.axfr_error.as_ref()?)))
        .collect();
    if !unchecked.is_empty() {
        verdicts.push(Verdict {
            code: "axfr-unchecked",
            severity: Severity::Ok,
            message: format!(
                "could not tell whether the zone is transferred without a key: {}",
                unchecked.join(", ")
            ),
            servers: rows
                .iter()
                .filter(|r| r.probe.result.is_ok() && r.probe.axfr_error.is_some())
                .map(|r| r.target.addr)
                .collect(),
        });
    }
    let open: Vec<&Row> = rows
        .iter()
        .filter(|r| r.probe.axfr_open == Some(true))
        .collect();
    if open.is_empty() {
        return;
    }
    let labels: Vec<String> = open.iter().map(|r| r.label()).collect();
    verdicts.push(Verdict {
        code: "axfr-open",
        severity: Severity::Warning,
        message: format!(
            "zone transfer open to this host (AXFR without a key): {}",
            labels.join(", ")
        ),
        servers: open.iter().map(|r| r.target.addr).collect(),
    });
}
