//! The rules of RFC 7477 §3–4 (as updated by RFC 9975) over what every
//! server of a child said: a pure function, so each rule is tested alone.
//!
//! Every address of every nameserver in the parent's delegation must have
//! answered, with validated data, the same CSYNC and the same RRsets. Then:
//! one CSYNC record only; no flag bit but `immediate` and `soaminimum`;
//! no type but NS, A and AAAA; with `soaminimum` (§2.1.1.2.2) every
//! server's SOA serial at least the CSYNC serial (the flag is about
//! *which servers' data may be used*, nothing else); a CSYNC serial not
//! newer than the last one processed changes nothing; the new delegation
//! keeps at least one NS and an address for every NS name inside the
//! child; without `immediate` (§2.1.1.2.1) the change waits for an
//! operator.

use super::delegation::{self, in_bailiwick, Change, Delegation, RrsetData};
use super::scan::ScanError;
use crate::name;
use crate::rdata::csync::Csync;
use crate::serial::Serial;
use crate::zone::rtype;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;

/// The types this agent can synchronise (RFC 7477 §3.2).
pub const HANDLED_TYPES: [u16; 3] = [rtype::NS, rtype::A, rtype::AAAA];

/// What one address of one nameserver gave, every RRset validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerData {
    /// The child's SOA serial (the same before and after the other
    /// queries, or the scan of this server failed).
    pub serial: Serial,
    /// The CSYNC records at the apex (none: the child publishes none).
    pub csync: Vec<Csync>,
    /// The apex NS RRset, when NS is in the CSYNC's bitmap.
    pub ns: Option<RrsetData>,
    /// A/AAAA RRsets of the NS names inside the child, for the types in
    /// the bitmap; a proven absence is an empty set.
    pub addresses: BTreeMap<(Vec<u8>, u16), RrsetData>,
}

impl ServerData {
    /// What must agree between servers: the data, not its TTLs (a child
    /// server answering from a cache-like store may count TTLs down; the
    /// parent keeps its own TTLs anyway).
    fn comparable(&self) -> Comparable<'_> {
        (
            &self.csync,
            self.ns.as_ref().map(|n| &n.rdatas),
            self.addresses.iter().map(|(k, v)| (k, &v.rdatas)).collect(),
        )
    }
}

/// [`ServerData`] without TTLs: CSYNC records, NS targets, addresses.
type Comparable<'a> = (
    &'a [Csync],
    Option<&'a BTreeSet<Vec<u8>>>,
    Vec<(&'a (Vec<u8>, u16), &'a BTreeSet<Vec<u8>>)>,
);

/// One address of one nameserver and what it gave.
#[derive(Debug, Clone)]
pub struct ServerResult {
    pub ns: Vec<u8>,
    pub addr: SocketAddr,
    pub data: Result<ServerData, ScanError>,
}

impl ServerResult {
    pub fn label(&self) -> String {
        format!("{} ({})", name::display(&self.ns), self.addr)
    }
}

/// What the agent remembers of a child between scans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// The last CSYNC serial acted on (applied, or found in sync).
    pub last_serial: Option<Serial>,
    /// A CSYNC serial an operator approved (`csync approve`).
    pub approved_serial: Option<Serial>,
}

/// The outcome of one scan of one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No server publishes a CSYNC.
    NoCsync,
    /// This CSYNC serial was processed before.
    AlreadyProcessed { serial: Serial },
    /// The delegation already is what the child asks for.
    InSync { serial: Serial },
    /// This CSYNC cannot be processed; nothing changes until the child
    /// publishes another one.
    Rejected {
        serial: Option<Serial>,
        reason: String,
    },
    /// Nothing can be decided now (a server failed or disagrees, the
    /// serials are not there yet); tried again with back-off.
    Retry { reason: String },
    /// `immediate` is clear and no operator approved this serial yet.
    Waiting {
        serial: Serial,
        change: Change,
        to: Delegation,
    },
    /// Change the delegation.
    Apply {
        serial: Serial,
        change: Change,
        to: Delegation,
    },
}

impl Decision {
    /// The word the audit log and `csync scan` use.
    pub fn outcome(&self) -> CsyncOutcome {
        match self {
            Decision::NoCsync => CsyncOutcome::NoCsync,
            Decision::AlreadyProcessed { .. } => CsyncOutcome::AlreadyProcessed,
            Decision::InSync { .. } => CsyncOutcome::InSync,
            Decision::Rejected { .. } => CsyncOutcome::Rejected,
            Decision::Retry { .. } => CsyncOutcome::Retry,
            Decision::Waiting { .. } => CsyncOutcome::Waiting,
            // Decided, not yet done: what a dry run reports.
            Decision::Apply { .. } => CsyncOutcome::WouldApply,
        }
    }
}

/// How one scan of one child ended: in reports (`csync scan`, `approve`),
/// the state file's `last_outcome` and the audit log, always by the same
/// kebab-case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsyncOutcome {
    /// The change was made in the parent zone.
    Applied,
    /// A dry run found a change to make.
    WouldApply,
    /// `immediate` clear: the change waits for `csync approve`.
    Waiting,
    /// An operator approved the change waiting (logged before the scan
    /// that applies it).
    Approved,
    InSync,
    AlreadyProcessed,
    NoCsync,
    Rejected,
    /// Something to try again later (back-off).
    Retry,
    /// The change could not be made.
    Failed,
    /// No DS for the child: nothing can be validated.
    Insecure,
    NotDelegated,
}

impl CsyncOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CsyncOutcome::Applied => "applied",
            CsyncOutcome::WouldApply => "would-apply",
            CsyncOutcome::Waiting => "waiting",
            CsyncOutcome::Approved => "approved",
            CsyncOutcome::InSync => "in-sync",
            CsyncOutcome::AlreadyProcessed => "already-processed",
            CsyncOutcome::NoCsync => "no-csync",
            CsyncOutcome::Rejected => "rejected",
            CsyncOutcome::Retry => "retry",
            CsyncOutcome::Failed => "failed",
            CsyncOutcome::Insecure => "insecure",
            CsyncOutcome::NotDelegated => "not-delegated",
        }
    }

    /// Whether the next scan backs off (RETRY doubled per failure).
    pub fn backs_off(self) -> bool {
        matches!(self, CsyncOutcome::Retry | CsyncOutcome::Failed)
    }
}

impl fmt::Display for CsyncOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compared with its name (`report.outcome == "applied"`).
impl PartialEq<&str> for CsyncOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::NoCsync => f.write_str("the child publishes no CSYNC record"),
            Decision::AlreadyProcessed { serial } => {
                write!(f, "CSYNC serial {serial} was already processed")
            }
            Decision::InSync { serial } => write!(
                f,
                "CSYNC serial {serial}: the delegation already matches the child"
            ),
            Decision::Rejected { serial, reason } => match serial {
                Some(s) => write!(f, "CSYNC serial {s} not processed: {reason}"),
                None => write!(f, "CSYNC not processed: {reason}"),
            },
            Decision::Retry { reason } => write!(f, "no change for now: {reason}"),
            Decision::Waiting { serial, change, .. } => write!(
                f,
                "CSYNC serial {serial} (immediate flag clear) waits for approval: {} record(s) to change",
                change.removed.len() + change.added.len()
            ),
            Decision::Apply { serial, change, .. } => write!(
                f,
                "CSYNC serial {serial}: {} record(s) to change",
                change.removed.len() + change.added.len()
            ),
        }
    }
}

/// Decides for `current` (the parent's delegation) from `results` (every
/// address of every nameserver of `current`).
pub fn decide(current: &Delegation, results: &[ServerResult], memory: &Memory) -> Decision {
    if results.is_empty() {
        return Decision::Retry {
            reason: "no address to ask for any nameserver of the delegation".into(),
        };
    }
    let mut failed = results.iter().filter_map(|r| match &r.data {
        Err(e) => Some(format!("{}: {e}", r.label())),
        Ok(_) => None,
    });
    if let Some(first) = failed.next() {
        let more = failed.count();
        let reason = if more > 0 {
            format!("{first} (and {more} more)")
        } else {
            first
        };
        return Decision::Retry { reason };
    }
    let data: Vec<(&ServerResult, &ServerData)> = results
        .iter()
        .filter_map(|r| r.data.as_ref().ok().map(|d| (r, d)))
        .collect();
    let Some(&(first_server, first)) = data.first() else {
        return Decision::Retry {
            reason: "no server answered".into(),
        };
    };
    if let Some((other, _)) = data
        .iter()
        .find(|(_, d)| d.comparable() != first.comparable())
    {
        return Decision::Retry {
            reason: format!(
                "the servers disagree: {} and {} give different CSYNC or RRsets",
                first_server.label(),
                other.label()
            ),
        };
    }
    let csync = match first.csync.as_slice() {
        [] => return Decision::NoCsync,
        [one] => one,
        more => {
            return Decision::Rejected {
                serial: None,
                reason: format!(
                    "{} CSYNC records at the apex; RFC 7477 §2.1 allows one",
                    more.len()
                ),
            }
        }
    };
    let serial = csync.serial;
    let reject = |reason: String| Decision::Rejected {
        serial: Some(serial),
        reason,
    };
    if csync.unknown_flags() != 0 {
        return reject(format!(
            "unknown flag bits {:#06x} (only immediate and soaminimum are defined)",
            csync.unknown_flags()
        ));
    }
    if let Some(t) = csync.types.iter().find(|t| !HANDLED_TYPES.contains(t)) {
        return reject(format!(
            "type {} in the type bitmap is not one this agent synchronises (NS, A, AAAA)",
            crate::dnssec::type_name(*t)
        ));
    }
    if let Some(last) = memory.last_serial {
        if !serial.is_after(last) {
            return Decision::AlreadyProcessed { serial };
        }
    }
    if csync.soaminimum() {
        if let Some((r, d)) = data.iter().find(|(_, d)| d.serial.is_before(serial)) {
            return Decision::Retry {
                reason: format!(
                    "soaminimum: {} serves SOA serial {}, below the CSYNC serial {serial}",
                    r.label(),
                    d.serial
                ),
            };
        }
    }
    let to = match target(current, csync, first) {
        Ok(to) => to,
        Err(e) => return reject(e.to_string()),
    };
    let change = delegation::change(current, &to);
    if change.is_empty() {
        return Decision::InSync { serial };
    }
    if !csync.immediate() && memory.approved_serial != Some(serial) {
        return Decision::Waiting { serial, change, to };
    }
    Decision::Apply { serial, change, to }
}

/// Why the delegation a CSYNC asks for cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum TargetError {
    #[error("NS is in the bitmap but no NS RRset was fetched")]
    NsNotFetched,
    #[error("the child's NS RRset is empty: a delegation is never left without NS")]
    EmptyNs,
    #[error("no {rtype} data was fetched for {owner}")]
    NotFetched { rtype: String, owner: String },
    #[error(
        "{0} is inside the child but would have no address (glue): the delegation would be lame"
    )]
    NoGlue(String),
}

/// The delegation the child asks for: its NS set (if NS is in the
/// bitmap) and, for the NS names inside the child, its addresses of the
/// types in the bitmap; the rest as the parent has it.
fn target(
    current: &Delegation,
    csync: &Csync,
    data: &ServerData,
) -> Result<Delegation, TargetError> {
    let mut to = current.clone();
    if csync.types.contains(&rtype::NS) {
        let ns = data.ns.as_ref().ok_or(TargetError::NsNotFetched)?;
        if ns.rdatas.is_empty() {
            return Err(TargetError::EmptyNs);
        }
        to.ns = ns.rdatas.clone();
    }
    to.glue.retain(|(owner, _), _| to.ns.contains(owner));
    for owner in to.ns.iter().filter(|n| in_bailiwick(n, &current.child)) {
        for t in [rtype::A, rtype::AAAA] {
            if !csync.types.contains(&t) {
                continue;
            }
            let key = (owner.clone(), t);
            match data.addresses.get(&key) {
                Some(set) if set.rdatas.is_empty() => {
                    to.glue.remove(&key);
                }
                Some(set) => {
                    let ttl = current.glue.get(&key).map_or(current.ns_ttl, |g| g.ttl);
                    to.glue.insert(
                        key,
                        RrsetData {
                            ttl,
                            rdatas: set.rdatas.clone(),
                        },
                    );
                }
                None => {
                    return Err(TargetError::NotFetched {
                        rtype: crate::dnssec::type_name(t),
                        owner: name::display(owner),
                    })
                }
            }
        }
        let has_address = [rtype::A, rtype::AAAA]
            .iter()
            .any(|&t| to.glue.contains_key(&(owner.clone(), t)));
        if !has_address {
            return Err(TargetError::NoGlue(name::display(owner)));
        }
    }
    Ok(to)
}

#[cfg(test)]
mod tests;
