//! Finding a zone's nameservers and their addresses: the parent's
//! delegation (NS and glue), the apex NS set, and every A/AAAA of each
//! name (glue, then the zone itself, then the resolver).

use super::probe::{self, lower_fqdn};
use crate::exchange::{Client, Query, QueryError};
use domain::base::iana::{Rcode, Rtype};
use domain::base::message::Message;
use domain::base::name::{Name, ParsedName, ToName};
use domain::rdata::AllRecordData;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// What the parent says: its NS names for the zone and the glue.
#[derive(Debug, Default, Clone)]
pub struct Delegation {
    /// `None` when no parent server answered usefully.
    pub ns: Option<BTreeSet<String>>,
    pub glue: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Parent servers that failed, and why.
    pub problems: Vec<String>,
}

/// Why servers, names or addresses were not found. They become the
/// report's problems; the check goes on with what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no resolver to find the parent's servers (give --resolver or --parent-ns)")]
    NoResolver,
    /// The apex NS set was to come from the resolver, and there is none.
    #[error("no resolver")]
    NoResolverForNs,
    #[error("the root zone has no parent")]
    Root,
    /// `question` is `SOA name.` or `NS name.`.
    #[error("resolver {resolver}: {question}: {error}")]
    Query {
        resolver: SocketAddr,
        question: String,
        error: QueryError,
    },
    #[error("resolver {resolver}: no SOA for {name} (RCODE {rcode})")]
    NoSoa {
        resolver: SocketAddr,
        name: String,
        rcode: Rcode,
    },
    #[error("resolver {resolver}: no NS records for the parent zone {apex}")]
    NoNs { resolver: SocketAddr, apex: String },
    #[error("no address for any server of the parent zone {0}")]
    NoAddress(String),
    #[error("resolver {resolver}: no NS records for {zone} (RCODE {rcode})")]
    NoApexNs {
        resolver: SocketAddr,
        zone: String,
        rcode: Rcode,
    },
    #[error("{name}: {reason}")]
    BadName { name: String, reason: String },
    #[error("{0}: no glue and no resolver to look it up")]
    NoGlueNoResolver(String),
    /// `why` says, per type, the RCODE or the failure.
    #[error("{name}: no address from the resolver {resolver} ({why})")]
    Unresolved {
        name: String,
        resolver: SocketAddr,
        why: String,
    },
}

fn parse_name(name: &str) -> Result<Name<Vec<u8>>, DiscoveryError> {
    Name::from_str(name).map_err(
        |e: domain::base::name::FromStrError| DiscoveryError::BadName {
            name: name.to_owned(),
            reason: e.to_string(),
        },
    )
}

/// Where discovery looks things up.
pub struct Discovery<'a> {
    pub client: &'a Client,
    pub zone: &'a Name<Vec<u8>>,
    pub resolver: Option<SocketAddr>,
    /// Port for addresses found (glue, A/AAAA).
    pub port: u16,
}

impl Discovery<'_> {
    /// The parent zone's servers through the resolver: the SOA of the
    /// zone's parent name names the parent's apex; its NS names resolved.
    pub async fn parent_servers(&self) -> Result<Vec<SocketAddr>, DiscoveryError> {
        let resolver = self.resolver.ok_or(DiscoveryError::NoResolver)?;
        let parent_name = self
            .zone
            .parent()
            .map(|p| p.to_name::<Vec<u8>>())
            .ok_or(DiscoveryError::Root)?;
        let failed = |question: String| {
            move |error| DiscoveryError::Query {
                resolver,
                question,
                error,
            }
        };
        let answer = self
            .client
            .query(resolver, &Query::recursive(&parent_name, Rtype::SOA))
            .await
            .map_err(failed(format!("SOA {}", super::fqdn(&parent_name))))?;
        let apex = soa_owner(&answer.message).ok_or_else(|| DiscoveryError::NoSoa {
            resolver,
            name: super::fqdn(&parent_name),
            rcode: answer.message.header().rcode(),
        })?;
        let answer = self
            .client
            .query(resolver, &Query::recursive(&apex, Rtype::NS))
            .await
            .map_err(failed(format!("NS {}", super::fqdn(&apex))))?;
        let names = ns_names(&answer.message, AnswerPart::Answer);
        if names.is_empty() {
            return Err(DiscoveryError::NoNs {
                resolver,
                apex: super::fqdn(&apex),
            });
        }
        let mut servers = Vec::new();
        for name in &names {
            for ip in self.resolve_with_resolver(name).await.unwrap_or_default() {
                servers.push(SocketAddr::new(ip, self.port));
            }
        }
        if servers.is_empty() {
            return Err(DiscoveryError::NoAddress(super::fqdn(&apex)));
        }
        Ok(servers)
    }

    /// The delegation as the parent's servers give it: the union of their
    /// NS sets and glue.
    pub async fn delegation(&self, parents: &[SocketAddr]) -> Delegation {
        let mut delegation = Delegation::default();
        let asks = parents.iter().map(|&addr| async move {
            let answer = self
                .client
                .query(addr, &Query::authoritative(self.zone, Rtype::NS))
                .await;
            (addr, answer)
        });
        for (addr, answer) in join_all(asks).await {
            let message = match answer {
                Ok(answer) => answer.message,
                Err(e) => {
                    delegation
                        .problems
                        .push(format!("parent server {addr}: {e}"));
                    continue;
                }
            };
            let rcode = message.header().rcode();
            // A referral, or the answer of a server that serves both the
            // parent and the child.
            let mut names = ns_names(&message, AnswerPart::Authority);
            if names.is_empty() && message.header().aa() {
                names = ns_names(&message, AnswerPart::Answer);
            }
            if rcode != Rcode::NOERROR || names.is_empty() {
                delegation.problems.push(format!(
                    "parent server {addr}: no delegation for {} (RCODE {rcode})",
                    super::fqdn(self.zone)
                ));
                continue;
            }
            delegation
                .ns
                .get_or_insert_with(BTreeSet::new)
                .extend(names);
            for (name, ip) in glue(&message) {
                delegation.glue.entry(name).or_default().insert(ip);
            }
        }
        delegation
    }

    /// The apex NS set as the given servers answer it (authoritative
    /// answers only), and the problems met.
    pub async fn apex_ns(&self, servers: &[SocketAddr]) -> Option<BTreeSet<String>> {
        let key = probe::RrsetKey {
            owner: self.zone.clone(),
            rtype: Rtype::NS,
        };
        let asks = servers
            .iter()
            .map(|&addr| probe::ask_rrset(self.client, addr, &key));
        let mut names: Option<BTreeSet<String>> = None;
        for view in join_all(asks).await.into_iter().flatten() {
            let set = names.get_or_insert_with(BTreeSet::new);
            for text in view.text {
                set.insert(normalize(&text));
            }
        }
        names.filter(|n| !n.is_empty())
    }

    /// The apex NS set from the resolver, when nothing else is known.
    pub async fn apex_ns_from_resolver(&self) -> Result<BTreeSet<String>, DiscoveryError> {
        let resolver = self.resolver.ok_or(DiscoveryError::NoResolverForNs)?;
        let answer = self
            .client
            .query(resolver, &Query::recursive(self.zone, Rtype::NS))
            .await
            .map_err(|error| DiscoveryError::Query {
                resolver,
                question: format!("NS {}", super::fqdn(self.zone)),
                error,
            })?;
        let names = ns_names(&answer.message, AnswerPart::Answer);
        if names.is_empty() {
            return Err(DiscoveryError::NoApexNs {
                resolver,
                zone: super::fqdn(self.zone),
                rcode: answer.message.header().rcode(),
            });
        }
        Ok(names)
    }

    /// Every address of `name`: glue, else (for names at or below the
    /// apex) the zone's own servers, else the resolver.
    pub async fn addresses(
        &self,
        name: &str,
        glue: &BTreeMap<String, BTreeSet<IpAddr>>,
        zone_servers: &[SocketAddr],
    ) -> Result<BTreeSet<IpAddr>, DiscoveryError> {
        if let Some(ips) = glue.get(name).filter(|ips| !ips.is_empty()) {
            return Ok(ips.clone());
        }
        let parsed = parse_name(name)?;
        if parsed.ends_with(self.zone) {
            for &server in zone_servers {
                let mut ips = BTreeSet::new();
                let mut answered = false;
                for rtype in [Rtype::A, Rtype::AAAA] {
                    let key = probe::RrsetKey {
                        owner: parsed.clone(),
                        rtype,
                    };
                    if let Ok(view) = probe::ask_rrset(self.client, server, &key).await {
                        answered = true;
                        ips.extend(view.text.iter().filter_map(|t| IpAddr::from_str(t).ok()));
                    }
                }
                if answered {
                    return Ok(ips);
                }
            }
        }
        self.resolve_with_resolver(name).await
    }

    async fn resolve_with_resolver(&self, name: &str) -> Result<BTreeSet<IpAddr>, DiscoveryError> {
        let resolver = self
            .resolver
            .ok_or_else(|| DiscoveryError::NoGlueNoResolver(name.to_owned()))?;
        let parsed = parse_name(name)?;
        let mut ips = BTreeSet::new();
        let mut why = Vec::new();
        for rtype in [Rtype::A, Rtype::AAAA] {
            match self
                .client
                .query(resolver, &Query::recursive(&parsed, rtype))
                .await
            {
                Ok(answer) => {
                    let found = probe::addresses_in(&answer.message);
                    if found.is_empty() {
                        why.push(format!("{rtype}: {}", answer.message.header().rcode()));
                    }
                    ips.extend(found);
                }
                Err(e) => why.push(format!("{rtype}: {e}")),
            }
        }
        if ips.is_empty() {
            return Err(DiscoveryError::Unresolved {
                name: name.to_owned(),
                resolver,
                why: why.join(", "),
            });
        }
        Ok(ips)
    }
}

/// `name` absolute and lower-case.
pub fn normalize(name: &str) -> String {
    let mut text = name.to_ascii_lowercase();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

enum AnswerPart {
    Answer,
    Authority,
}

/// NS targets in a section.
fn ns_names(message: &Message<Vec<u8>>, part: AnswerPart) -> BTreeSet<String> {
    let section = match part {
        AnswerPart::Answer => message.answer(),
        AnswerPart::Authority => message.authority(),
    };
    let mut names = BTreeSet::new();
    let Ok(section) = section else {
        return names;
    };
    for record in section.flatten() {
        if record.rtype() != Rtype::NS {
            continue;
        }
        if let Ok(Some(record)) = record.to_record::<AllRecordData<_, ParsedName<_>>>() {
            if let AllRecordData::Ns(ns) = record.data() {
                names.insert(lower_fqdn(ns.nsdname()));
            }
        }
    }
    names
}

/// A and AAAA records in the additional section, by owner.
fn glue(message: &Message<Vec<u8>>) -> Vec<(String, IpAddr)> {
    let mut found = Vec::new();
    let Ok(section) = message.additional() else {
        return found;
    };
    for record in section.flatten() {
        let owner = lower_fqdn(&record.owner());
        if let Ok(Some(record)) = record.to_record::<AllRecordData<_, ParsedName<_>>>() {
            match record.data() {
                AllRecordData::A(a) => found.push((owner, a.addr().into())),
                AllRecordData::Aaaa(aaaa) => found.push((owner, aaaa.addr().into())),
                _ => {}
            }
        }
    }
    found
}

/// The owner of the SOA in the answer, or in the authority section (the
/// apex of the zone that holds a name that is not itself an apex).
fn soa_owner(message: &Message<Vec<u8>>) -> Option<Name<Vec<u8>>> {
    for section in [message.answer(), message.authority()] {
        let Ok(section) = section else { continue };
        for record in section.flatten() {
            if record.rtype() == Rtype::SOA {
                let owner = lower_fqdn(&record.owner());
                return Name::from_str(&owner).ok();
            }
        }
    }
    None
}

/// Runs the futures concurrently and returns their outputs in order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending: Vec<_> = futures.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, future)| match future.as_mut().poll(cx) {
            std::task::Poll::Ready(output) => {
                if let Some(slot) = outputs.get_mut(*i) {
                    *slot = Some(output);
                }
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
