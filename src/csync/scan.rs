//! Asking a child's nameservers (RFC 7477 §4, RFC 9975): every address of
//! every nameserver in the parent's delegation, each on its own: SOA,
//! DNSKEY, CSYNC, the types of the CSYNC bitmap (NS first, then A/AAAA of
//! the NS names inside the child), then SOA again. Every RRset is
//! validated from the parent's DS set before it is used, and a proven
//! absence (NODATA) too; a serial that moved during the queries spoils
//! the server's answers.
//!
//! The queries go through the async client (`exchange::Client`, the
//! verifier's too): UDP with retries, TCP on truncation, DO set, a bound
//! on queries in flight.

use super::decide::{ServerData, ServerResult};
use super::delegation::{canonical_rdata, in_bailiwick, lower, rrset_at, Delegation, RrsetData};
use super::validate::{rrsets_in, Insecure, TrustedKeys, WireRrset};
use crate::exchange::{Client, Query, QueryError};
use crate::name;
use crate::rdata::csync::Csync;
use crate::rdata::csync::CsyncError;
use crate::serial::Serial;
use crate::verify::probe::addresses_in;
use crate::zone::{rtype, ZoneVersion};
use domain::base::iana::{Rcode, Rtype};
use domain::base::message::Message;
use domain::base::message::Section;
use domain::base::name::Name;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a server's answers cannot be used (or a server cannot be asked).
/// `what` is the question: `child.example. NS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("bad name: {0}")]
    BadName(String),
    #[error("{what}: {error}")]
    Query { what: String, error: QueryError },
    #[error("{what}: answered {rcode}")]
    Rcode { what: String, rcode: Rcode },
    #[error("{what}: answer not authoritative (lame)")]
    Lame { what: String },
    #[error("{what}: the name does not exist (NXDOMAIN)")]
    NxDomain { what: String },
    /// The RRset did not validate.
    #[error("{what}: {problem}")]
    Insecure { what: String, problem: Insecure },
    /// No RRset, and its absence did not validate.
    #[error("{what}: no records, and {problem}")]
    UnprovenNoData { what: String, problem: Insecure },
    #[error("no DNSKEY RRset: the child is not signed")]
    NoDnskey,
    /// The child's keys do not follow from the parent's DS set.
    #[error("DNSKEY: {0}")]
    Keys(Insecure),
    #[error("no SOA at the apex")]
    NoSoa,
    #[error("malformed SOA")]
    MalformedSoa,
    #[error("{0} SOA: no SOA in the answer")]
    NoSoaInAnswer(String),
    #[error("malformed CSYNC: {0}")]
    MalformedCsync(CsyncError),
    #[error("no NS RRset at the apex")]
    NoNs,
    #[error("the SOA serial moved from {before} to {after} during the scan")]
    SerialMoved { before: Serial, after: Serial },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("{0} is outside the parent zone and no resolver is configured")]
    NoResolver(String),
    #[error("resolving {name}: {error}")]
    Resolve { name: String, error: QueryError },
    /// A scan task panicked (a bug); the text is the task's.
    #[error("scan task failed: {0}")]
    Task(String),
    #[error("new nameserver {ns}: {error}")]
    NewServer { ns: String, error: Box<ScanError> },
    /// RFC 9975: a new server must answer for the child before the parent
    /// points at it.
    #[error("new nameserver {ns} ({addr}) does not answer authoritatively for {child}: {error}")]
    NewServerNotAuthoritative {
        ns: String,
        addr: SocketAddr,
        child: String,
        error: Box<ScanError>,
    },
}

/// How the agent reaches nameservers.
#[derive(Clone)]
pub struct Scanner {
    pub client: Arc<Client>,
    /// For NS names the parent has no address of (outside its zone).
    pub resolver: Option<SocketAddr>,
    /// The port nameservers are asked on (53; others in test setups).
    pub port: u16,
}

/// One answer from an authoritative server, checked: our question, AA,
/// NOERROR or NXDOMAIN.
struct Authoritative {
    message: Message<Vec<u8>>,
}

impl Authoritative {
    fn rcode(&self) -> Rcode {
        self.message.header().rcode()
    }

    /// The answer section's RRset of `owner`/`t`, if any.
    fn rrset(&self, owner: &[u8], t: u16) -> Option<WireRrset> {
        let owner = lower(owner);
        rrsets_in(&self.message, Section::Answer)
            .into_iter()
            .find(|s| s.rtype == t && s.owner == owner)
    }

    fn authority(&self) -> Vec<WireRrset> {
        rrsets_in(&self.message, Section::Authority)
    }
}

fn to_name(wire: &[u8]) -> Result<Name<Vec<u8>>, ScanError> {
    Name::from_octets(wire.to_vec()).map_err(|e| ScanError::BadName(e.to_string()))
}

fn type_name(t: u16) -> String {
    crate::dnssec::type_name(t)
}

impl Scanner {
    async fn ask(
        &self,
        addr: SocketAddr,
        owner: &[u8],
        t: u16,
    ) -> Result<Authoritative, ScanError> {
        let q = Query::authoritative(&to_name(owner)?, Rtype::from_int(t));
        let what = format!("{} {}", name::display(owner), type_name(t));
        let answer = match self.client.query(addr, &q).await {
            Ok(answer) => answer,
            Err(error) => return Err(ScanError::Query { what, error }),
        };
        let header = answer.message.header();
        if header.rcode() != Rcode::NOERROR && header.rcode() != Rcode::NXDOMAIN {
            return Err(ScanError::Rcode {
                what,
                rcode: header.rcode(),
            });
        }
        if !header.aa() {
            return Err(ScanError::Lame { what });
        }
        Ok(Authoritative {
            message: answer.message,
        })
    }

    /// The RRset `owner`/`t`, validated; an empty set when its absence is
    /// proven (NODATA with a validated NSEC/NSEC3).
    async fn validated(
        &self,
        addr: SocketAddr,
        keys: &TrustedKeys,
        owner: &[u8],
        t: u16,
    ) -> Result<Option<WireRrset>, ScanError> {
        let what = || format!("{} {}", name::display(owner), type_name(t));
        let answer = self.ask(addr, owner, t).await?;
        if answer.rcode() == Rcode::NXDOMAIN {
            return Err(ScanError::NxDomain { what: what() });
        }
        match answer.rrset(owner, t) {
            Some(set) => {
                keys.validate(&set).map_err(|problem| ScanError::Insecure {
                    what: what(),
                    problem,
                })?;
                Ok(Some(set))
            }
            None => {
                keys.validate_nodata(owner, t, &answer.authority())
                    .map_err(|problem| ScanError::UnprovenNoData {
                        what: what(),
                        problem,
                    })?;
                Ok(None)
            }
        }
    }

    /// What one address of a child's nameserver says (see the module
    /// documentation). `current` is the parent's delegation.
    pub async fn observe(
        &self,
        current: &Delegation,
        addr: SocketAddr,
        now: u64,
    ) -> Result<ServerData, ScanError> {
        let child = &current.child;
        let serial_before = self.soa_serial(addr, child).await?;
        let dnskey = self
            .ask(addr, child, rtype::DNSKEY)
            .await?
            .rrset(child, rtype::DNSKEY)
            .ok_or(ScanError::NoDnskey)?;
        let keys =
            TrustedKeys::from_ds(child, &current.ds, &dnskey, now).map_err(ScanError::Keys)?;
        let soa = self
            .validated(addr, &keys, child, rtype::SOA)
            .await?
            .ok_or(ScanError::NoSoa)?;
        let serial = soa
            .rdatas
            .first()
            .and_then(|r| crate::zone::soa_serial(r))
            .ok_or(ScanError::MalformedSoa)?;
        let csync = match self.validated(addr, &keys, child, rtype::CSYNC).await? {
            None => Vec::new(),
            Some(set) => set
                .rdatas
                .iter()
                .map(|r| Csync::from_wire(r).map_err(ScanError::MalformedCsync))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let mut data = ServerData {
            serial,
            csync,
            ns: None,
            addresses: BTreeMap::new(),
        };
        // Only one CSYNC can be acted on; with more, nothing is.
        if let [one] = data.csync.as_slice() {
            let types = one.types.clone();
            self.fetch_types(addr, &keys, current, &types, &mut data)
                .await?;
        }
        let serial_after = self.soa_serial(addr, child).await?;
        if serial_after != serial_before || serial != serial_before {
            return Err(ScanError::SerialMoved {
                before: serial_before,
                after: serial_after,
            });
        }
        Ok(data)
    }

    /// NS first (when listed), then A and AAAA of the NS names inside the
    /// child, from the new NS set if NS is listed, else the parent's.
    async fn fetch_types(
        &self,
        addr: SocketAddr,
        keys: &TrustedKeys,
        current: &Delegation,
        types: &[u16],
        data: &mut ServerData,
    ) -> Result<(), ScanError> {
        let child = &current.child;
        let mut ns_names = current.ns.clone();
        if types.contains(&rtype::NS) {
            let set = self
                .validated(addr, keys, child, rtype::NS)
                .await?
                .ok_or(ScanError::NoNs)?;
            let ns = rrset_data(&set);
            ns_names = ns.rdatas.clone();
            data.ns = Some(ns);
        }
        for owner in ns_names.iter().filter(|n| in_bailiwick(n, child)) {
            for t in [rtype::A, rtype::AAAA] {
                if !types.contains(&t) {
                    continue;
                }
                let set = match self.validated(addr, keys, owner, t).await? {
                    Some(set) => rrset_data(&set),
                    None => RrsetData {
                        ttl: 0,
                        rdatas: BTreeSet::new(),
                    },
                };
                data.addresses.insert((owner.clone(), t), set);
            }
        }
        Ok(())
    }

    async fn soa_serial(&self, addr: SocketAddr, child: &[u8]) -> Result<Serial, ScanError> {
        self.ask(addr, child, rtype::SOA)
            .await?
            .rrset(child, rtype::SOA)
            .and_then(|s| s.rdatas.first().and_then(|r| crate::zone::soa_serial(r)))
            .ok_or_else(|| ScanError::NoSoaInAnswer(name::display(child)))
    }

    /// Every address of every name: the parent zone's own A/AAAA (glue,
    /// or its authoritative data), else the resolver's.
    pub async fn addresses_of(
        &self,
        parent: &ZoneVersion,
        names: &BTreeSet<Vec<u8>>,
        glue: &BTreeMap<(Vec<u8>, u16), RrsetData>,
    ) -> Vec<(Vec<u8>, Result<Vec<SocketAddr>, ScanError>)> {
        let mut out = Vec::new();
        for n in names {
            let mut ips: Vec<IpAddr> = Vec::new();
            for t in [rtype::A, rtype::AAAA] {
                let from_glue = glue.get(&(n.clone(), t)).cloned();
                let set = from_glue.or_else(|| rrset_at(parent, n, t));
                ips.extend(
                    set.iter()
                        .flat_map(|s| s.rdatas.iter())
                        .filter_map(|r| ip(r)),
                );
            }
            let found = if ips.is_empty() {
                self.resolve(n).await
            } else {
                Ok(ips)
            };
            let found = found.and_then(|ips| {
                if ips.is_empty() {
                    Err(ScanError::NoAddress(name::display(n)))
                } else {
                    Ok(ips
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, self.port))
                        .collect())
                }
            });
            out.push((n.clone(), found));
        }
        out
    }

    async fn resolve(&self, n: &[u8]) -> Result<Vec<IpAddr>, ScanError> {
        let Some(resolver) = self.resolver else {
            return Err(ScanError::NoResolver(name::display(n)));
        };
        let mut found = Vec::new();
        for t in [Rtype::A, Rtype::AAAA] {
            let q = Query::recursive(&to_name(n)?, t);
            match self.client.query(resolver, &q).await {
                Ok(a) => found.extend(addresses_in(&a.message)),
                Err(error) => {
                    return Err(ScanError::Resolve {
                        name: name::display(n),
                        error,
                    })
                }
            }
        }
        Ok(found)
    }

    /// Every address of every nameserver of `current`, asked at once.
    pub async fn observe_all(
        &self,
        parent: &ZoneVersion,
        current: &Delegation,
        now: u64,
    ) -> Vec<ServerResult> {
        let mut tasks = Vec::new();
        let mut results = Vec::new();
        for (ns, addrs) in self.addresses_of(parent, &current.ns, &current.glue).await {
            match addrs {
                Err(e) => results.push(ServerResult {
                    ns,
                    addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                    data: Err(e),
                }),
                Ok(addrs) => {
                    for addr in addrs {
                        let (scanner, current, ns) = (self.clone(), current.clone(), ns.clone());
                        tasks.push(tokio::spawn(async move {
                            let data = scanner.observe(&current, addr, now).await;
                            ServerResult { ns, addr, data }
                        }));
                    }
                }
            }
        }
        for t in tasks {
            match t.await {
                Ok(r) => results.push(r),
                Err(e) => results.push(ServerResult {
                    ns: Vec::new(),
                    addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
                    data: Err(ScanError::Task(e.to_string())),
                }),
            }
        }
        results
    }

    /// RFC 9975: a new nameserver must answer authoritatively for the
    /// child before the parent points resolvers at it. `to` is the new
    /// delegation (its glue gives the addresses of names inside the
    /// child).
    pub async fn check_new_servers(
        &self,
        parent: &ZoneVersion,
        from: &Delegation,
        to: &Delegation,
    ) -> Result<(), ScanError> {
        let new: BTreeSet<Vec<u8>> = to.ns.difference(&from.ns).cloned().collect();
        for (ns, addrs) in self.addresses_of(parent, &new, &to.glue).await {
            let addrs = addrs.map_err(|e| ScanError::NewServer {
                ns: name::display(&ns),
                error: Box::new(e),
            })?;
            for addr in addrs {
                self.soa_serial(addr, &to.child).await.map_err(|e| {
                    ScanError::NewServerNotAuthoritative {
                        ns: name::display(&ns),
                        addr,
                        child: name::display(&to.child),
                        error: Box::new(e),
                    }
                })?;
            }
        }
        Ok(())
    }
}

fn rrset_data(set: &WireRrset) -> RrsetData {
    RrsetData {
        ttl: set.ttl,
        rdatas: set
            .rdatas
            .iter()
            .map(|r| canonical_rdata(set.rtype, r))
            .collect(),
    }
}

fn ip(rdata: &[u8]) -> Option<IpAddr> {
    match rdata.len() {
        4 => <[u8; 4]>::try_from(rdata).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(rdata).ok().map(IpAddr::from),
        _ => None,
    }
}
