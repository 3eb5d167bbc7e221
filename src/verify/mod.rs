//! The replication verifier: asks every nameserver of a zone, at every
//! address, for the zone's SOA (and the RRsets to compare) and says who is
//! out of sync and why. Used by `zonesync verify`; the engine
//! ([`check_zone`], [`probe::probe`]) is the same all-servers,
//! all-addresses query-and-compare the monitor and the CSYNC parental agent
//! need.
//!
//! - the queries go through [`crate::exchange::Client`] (UDP with
//!   retries, TCP on truncation, the AXFR check);
//! - [`discover`]: the parent's delegation, the apex NS set, addresses;
//! - [`probe`]: what one address says about the zone;
//! - [`verdict`]: the comparison, one row per address and the verdicts;
//! - [`report`]: the table, `--nagios` line and JSON;
//! - [`doctor`]: with `--primary-control`, why rows are behind, from the
//!   primary's peer history read over its control interface.

pub mod discover;
pub mod doctor;
pub mod probe;
pub mod report;
pub mod verdict;

use crate::exchange::Client;
use discover::{join_all, normalize, Discovery};
use domain::base::name::{Name, ToName};
use probe::RrsetKey;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
pub use verdict::{Row, RowStatus, Severity, Verdict, ZoneReport};

/// Where an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An NS name of the parent's delegation.
    Parent,
    /// An NS name of the zone's apex.
    Child,
    /// `--ns`.
    Explicit,
    /// `--primary`.
    Primary,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Parent => "parent",
            Source::Child => "child",
            Source::Explicit => "explicit",
            Source::Primary => "primary",
        }
    }
}

/// A nameserver address to ask.
#[derive(Debug, Clone)]
pub struct Target {
    /// The NS name (absolute, lower-case), or "primary" for a hidden
    /// primary.
    pub name: String,
    pub addr: SocketAddr,
    pub sources: BTreeSet<Source>,
}

/// How to check; the same for every zone of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Recursive resolver for the parent and out-of-zone names.
    pub resolver: Option<SocketAddr>,
    /// The parent's servers (instead of finding them through the resolver).
    pub parent_ns: Vec<SocketAddr>,
    /// Port of the addresses discovery finds.
    pub port: u16,
    /// The primary whose serial is the reference.
    pub primary: Option<SocketAddr>,
    /// Accepted serial difference.
    pub max_lag: u32,
    /// RRsets to compare, relative names already made absolute per zone.
    pub records: Vec<RecordSpec>,
    /// Check whether AXFR is open.
    pub axfr_check: bool,
    /// Transfer a zone that has a ZONEMD to check it against its data,
    /// once per address and ZONEMD served (the monitor, which does not
    /// check whether AXFR is open); `None`: only where the AXFR check
    /// found it open.
    pub zonemd_checks: Option<std::sync::Arc<probe::ZonemdChecks>>,
}

/// An `--records` entry: owner (relative to the zone unless absolute) and
/// type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    pub owner: String,
    pub rtype: domain::base::iana::Rtype,
}

/// Why an argument of the verifier (given on the command line, in a
/// `--zones` file or in `[[monitor.zone]]`) is not what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("bad domain name {text:?}: {reason}")]
    BadName { text: String, reason: String },
    #[error("expected ADDR, ADDR:PORT or [IPv6]:PORT")]
    BadAddress,
    #[error("{0:?}: expected NAME=ADDR[:PORT]")]
    NotNameAndAddress(String),
    /// The name or the address of a `NAME=ADDR[:PORT]`.
    #[error("{text:?}: {error}")]
    InServer { text: String, error: Box<ArgError> },
    #[error("{0:?}: expected OWNER/TYPE, e.g. www/A")]
    NotOwnerAndType(String),
    #[error("{0:?}: empty owner (use @ for the apex)")]
    EmptyOwner(String),
    #[error("{text:?}: unknown record type {rtype:?}")]
    UnknownType { text: String, rtype: String },
    /// A `--records` owner that is no name once made absolute in the zone.
    #[error("--records owner {text:?}: {reason}")]
    BadOwner { text: String, reason: String },
    /// A line of a `--zones` file.
    #[error("line {line}: {error}")]
    Line { line: usize, error: Box<ArgError> },
}

impl RecordSpec {
    /// Parses `OWNER/TYPE`: `www/A`, `@/MX`, `mail.example.com./AAAA`,
    /// `x/TYPE65`.
    pub fn parse(text: &str) -> Result<RecordSpec, ArgError> {
        let (owner, rtype) = text
            .rsplit_once('/')
            .ok_or_else(|| ArgError::NotOwnerAndType(text.to_owned()))?;
        if owner.is_empty() {
            return Err(ArgError::EmptyOwner(text.to_owned()));
        }
        let rtype = rtype
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| ArgError::UnknownType {
                text: text.to_owned(),
                rtype: rtype.to_owned(),
            })?;
        Ok(RecordSpec {
            owner: owner.to_owned(),
            rtype,
        })
    }

    /// The owner in `zone`.
    pub fn key(&self, zone: &Name<Vec<u8>>) -> Result<RrsetKey, ArgError> {
        let text = if self.owner == "@" {
            fqdn(zone)
        } else if self.owner.ends_with('.') {
            self.owner.clone()
        } else if zone.is_root() {
            format!("{}.", self.owner)
        } else {
            format!("{}.{}", self.owner, fqdn(zone))
        };
        let owner = text
            .parse()
            .map_err(|e: domain::base::name::FromStrError| ArgError::BadOwner {
                reason: e.to_string(),
                text,
            })?;
        Ok(RrsetKey {
            owner,
            rtype: self.rtype,
        })
    }
}

/// One zone to check: its name and, when given, its servers (no
/// discovery then).
#[derive(Debug, Clone)]
pub struct ZoneSpec {
    pub zone: Name<Vec<u8>>,
    pub ns: Vec<(String, SocketAddr)>,
}

/// `name` absolute, as printed: "example.com.", "." for the root.
pub fn fqdn<N: ToName + ?Sized>(name: &N) -> String {
    let text = name.to_name::<Vec<u8>>().to_string();
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

/// The NS sets of the zone: the parent's (when asked) and the apex's.
#[derive(Debug, Clone, Default)]
pub struct NsSets {
    pub parent: Option<BTreeSet<String>>,
    pub child: Option<BTreeSet<String>>,
}

/// Checks one zone: finds the servers (unless given), asks them all, and
/// compares.
pub async fn check_zone(client: &Client, options: &Options, spec: &ZoneSpec) -> ZoneReport {
    let mut problems = Vec::new();
    let mut ns_sets = NsSets::default();
    let mut targets = if spec.ns.is_empty() {
        discover_targets(client, options, &spec.zone, &mut ns_sets, &mut problems).await
    } else {
        explicit_targets(
            client,
            options,
            &spec.zone,
            &spec.ns,
            &mut ns_sets,
            &mut problems,
        )
        .await
    };
    if let Some(primary) = options.primary {
        match targets.iter_mut().find(|t| t.addr == primary) {
            Some(target) => {
                target.sources.insert(Source::Primary);
            }
            None => targets.push(Target {
                name: "primary".into(),
                addr: primary,
                sources: BTreeSet::from([Source::Primary]),
            }),
        }
    }
    let records: Vec<RrsetKey> = options
        .records
        .iter()
        .filter_map(|spec_record| match spec_record.key(&spec.zone) {
            Ok(key) => Some(key),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        })
        .collect();
    let probes = join_all(
        targets
            .iter()
            .map(|t| probe::probe(client, t.addr, &spec.zone, &records, options)),
    )
    .await;
    let child_from_probes: BTreeSet<String> = probes
        .iter()
        .filter_map(|p| p.ns.as_ref())
        .flatten()
        .cloned()
        .collect();
    if ns_sets.child.is_none() && !child_from_probes.is_empty() {
        ns_sets.child = Some(child_from_probes);
    }
    verdict::judge(&spec.zone, options, targets, probes, ns_sets, problems)
}

/// `--ns` servers; the parent's NS set too when `--parent-ns` is given.
async fn explicit_targets(
    client: &Client,
    options: &Options,
    zone: &Name<Vec<u8>>,
    ns: &[(String, SocketAddr)],
    ns_sets: &mut NsSets,
    problems: &mut Vec<String>,
) -> Vec<Target> {
    if !options.parent_ns.is_empty() {
        let discovery = Discovery {
            client,
            zone,
            resolver: options.resolver,
            port: options.port,
        };
        let delegation = discovery.delegation(&options.parent_ns).await;
        problems.extend(delegation.problems);
        ns_sets.parent = delegation.ns;
    }
    ns.iter()
        .map(|(name, addr)| Target {
            name: normalize(name),
            addr: *addr,
            sources: BTreeSet::from([Source::Explicit]),
        })
        .collect()
}

/// Discovery: the parent's delegation, the apex NS set, every address of
/// every name of both.
async fn discover_targets(
    client: &Client,
    options: &Options,
    zone: &Name<Vec<u8>>,
    ns_sets: &mut NsSets,
    problems: &mut Vec<String>,
) -> Vec<Target> {
    let discovery = Discovery {
        client,
        zone,
        resolver: options.resolver,
        port: options.port,
    };
    let parents = if options.parent_ns.is_empty() {
        match discovery.parent_servers().await {
            Ok(servers) => servers,
            Err(e) => {
                problems.push(format!("parent: {e}"));
                Vec::new()
            }
        }
    } else {
        options.parent_ns.clone()
    };
    let delegation = discovery.delegation(&parents).await;
    problems.extend(delegation.problems.iter().cloned());
    ns_sets.parent = delegation.ns.clone();

    // Addresses of the parent's names first: they are who we can ask for
    // the apex NS set (and for in-zone names without glue).
    let mut addresses: BTreeMap<String, BTreeSet<std::net::IpAddr>> = BTreeMap::new();
    let parent_names = delegation.ns.clone().unwrap_or_default();
    resolve_names(
        &discovery,
        &parent_names,
        &delegation.glue,
        &[],
        &mut addresses,
        problems,
    )
    .await;
    let known: Vec<SocketAddr> = addresses
        .values()
        .flatten()
        .map(|ip| SocketAddr::new(*ip, options.port))
        .collect();
    let child = if known.is_empty() {
        match discovery.apex_ns_from_resolver().await {
            Ok(names) => Some(names),
            Err(e) => {
                problems.push(format!("apex NS: {e}"));
                None
            }
        }
    } else {
        discovery.apex_ns(&known).await
    };
    ns_sets.child = child.clone();
    let child_names = child.unwrap_or_default();
    let only_child: BTreeSet<String> = child_names.difference(&parent_names).cloned().collect();
    resolve_names(
        &discovery,
        &only_child,
        &delegation.glue,
        &known,
        &mut addresses,
        problems,
    )
    .await;

    let mut targets = Vec::new();
    for (name, ips) in addresses {
        let mut sources = BTreeSet::new();
        if parent_names.contains(&name) {
            sources.insert(Source::Parent);
        }
        if child_names.contains(&name) {
            sources.insert(Source::Child);
        }
        for ip in ips {
            targets.push(Target {
                name: name.clone(),
                addr: SocketAddr::new(ip, options.port),
                sources: sources.clone(),
            });
        }
    }
    targets
}

async fn resolve_names(
    discovery: &Discovery<'_>,
    names: &BTreeSet<String>,
    glue: &BTreeMap<String, BTreeSet<std::net::IpAddr>>,
    zone_servers: &[SocketAddr],
    addresses: &mut BTreeMap<String, BTreeSet<std::net::IpAddr>>,
    problems: &mut Vec<String>,
) {
    let lookups = names
        .iter()
        .map(|name| async move { (name, discovery.addresses(name, glue, zone_servers).await) });
    for (name, result) in join_all(lookups).await {
        match result {
            Ok(ips) if !ips.is_empty() => {
                addresses.insert(name.clone(), ips);
            }
            Ok(_) => problems.push(format!("{name}: no A or AAAA address")),
            Err(e) => problems.push(e.to_string()),
        }
    }
}

/// Checks every zone (the client bounds the queries in flight); reports
/// in the order given.
pub async fn check_zones(
    client: Arc<Client>,
    options: Arc<Options>,
    specs: Vec<ZoneSpec>,
) -> Vec<ZoneReport> {
    let mut tasks = tokio::task::JoinSet::new();
    let zones: Vec<Name<Vec<u8>>> = specs.iter().map(|s| s.zone.clone()).collect();
    for (i, spec) in specs.into_iter().enumerate() {
        let client = Arc::clone(&client);
        let options = Arc::clone(&options);
        tasks.spawn(async move { (i, check_zone(&client, &options, &spec).await) });
    }
    let mut reports: Vec<Option<ZoneReport>> = zones.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, report)) = done {
            if let Some(slot) = reports.get_mut(i) {
                *slot = Some(report);
            }
        }
    }
    // A check that panicked (a bug) still gets its line.
    reports
        .into_iter()
        .zip(zones)
        .map(|(report, zone)| {
            report.unwrap_or_else(|| ZoneReport::failed(zone, "the check of this zone failed"))
        })
        .collect()
}

/// `ADDR[:PORT]`, `[V6]:PORT` or a bare address (then `port`).
pub fn parse_addr(text: &str, port: u16) -> Result<SocketAddr, ArgError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, port))
        .map_err(|_| ArgError::BadAddress)
}

/// `NAME=ADDR[:PORT]`.
pub fn parse_ns(text: &str, port: u16) -> Result<(String, SocketAddr), ArgError> {
    let (name, addr) = text
        .split_once('=')
        .ok_or_else(|| ArgError::NotNameAndAddress(text.to_owned()))?;
    let in_server = |e| ArgError::InServer {
        text: text.to_owned(),
        error: Box::new(e),
    };
    let parsed = parse_zone(name).map_err(in_server)?;
    let addr = parse_addr(addr, port).map_err(in_server)?;
    Ok((fqdn(&parsed).to_ascii_lowercase(), addr))
}

/// A domain name given on the command line (absolute whether or not it
/// ends in a dot).
pub fn parse_zone(text: &str) -> Result<Name<Vec<u8>>, ArgError> {
    let absolute = if text.ends_with('.') {
        text.to_owned()
    } else {
        format!("{text}.")
    };
    absolute
        .parse()
        .map_err(|e: domain::base::name::FromStrError| ArgError::BadName {
            text: text.to_owned(),
            reason: e.to_string(),
        })
}

/// The lines of a `--zones` file: `ZONE [NAME=ADDR[:PORT] ...]`, `#`
/// comments; zones without servers get `default_ns`.
pub fn parse_zones_file(
    text: &str,
    default_ns: &[(String, SocketAddr)],
    port: u16,
) -> Result<Vec<ZoneSpec>, ArgError> {
    let mut specs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(zone) = words.next() else { continue };
        let at = |e| ArgError::Line {
            line: n + 1,
            error: Box::new(e),
        };
        let zone = parse_zone(zone).map_err(at)?;
        let ns = words
            .map(|w| parse_ns(w, port))
            .collect::<Result<Vec<_>, _>>()
            .map_err(at)?;
        specs.push(ZoneSpec {
            zone,
            ns: if ns.is_empty() {
                default_ns.to_vec()
            } else {
                ns
            },
        });
    }
    Ok(specs)
}

/// The first `nameserver` of /etc/resolv.conf, port 53.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("nameserver"), Some(addr)) => parse_addr(addr.split('%').next()?, 53).ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests;
