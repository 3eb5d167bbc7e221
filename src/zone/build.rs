//! Building a [`ZoneVersion`] from records, with the checks every zone must
//! pass before it may be served (RFC 1034 §4.2.1, RFC 2181 §10, RFC 6672).

use super::index::NameIndex;
use super::node::{push_rdata, Node, Rdatas, RrsetData};
use super::{flags, rtype, soa_field, ZoneVersion};
use crate::name;
use domain::base::iana::Rtype;
use std::collections::BTreeMap;
use std::fmt;

/// A problem found while building a zone: where, and what.
#[derive(Debug, Clone, thiserror::Error)]
pub struct BuildError {
    /// `file:line` of the record, when it came from a file.
    pub pos: Option<String>,
    pub message: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{}: {}", pos, self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Default)]
struct DraftNode {
    sets: Vec<DraftSet>,
    sigs: Vec<DraftSet>,
}

struct DraftSet {
    /// The RRset's type; for RRSIGs, the type covered.
    rtype: u16,
    ttl: u32,
    block: Vec<u8>,
    count: usize,
    pos: Option<String>,
}

impl DraftSet {
    fn contains(&self, rdata: &[u8]) -> bool {
        Rdatas::from_block(&self.block).any(|r| r == rdata)
    }
}

/// Collects records, then checks them and builds an immutable version.
pub struct ZoneBuilder {
    origin: Vec<u8>,
    origin_key: Box<[u8]>,
    nodes: BTreeMap<Box<[u8]>, DraftNode>,
    errors: Vec<BuildError>,
    warnings: Vec<BuildError>,
    records: usize,
}

fn type_name(t: u16) -> String {
    Rtype::from_int(t).to_string()
}

impl ZoneBuilder {
    /// `origin` is the apex in wire format.
    pub fn new(origin: &[u8]) -> Result<ZoneBuilder, BuildError> {
        let mut origin = origin.to_vec();
        name::make_lowercase(&mut origin);
        let origin_key = name::key_of(&origin).ok_or_else(|| BuildError {
            pos: None,
            message: "invalid zone name".into(),
        })?;
        Ok(ZoneBuilder {
            origin,
            origin_key,
            nodes: BTreeMap::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            records: 0,
        })
    }

    pub fn origin(&self) -> &[u8] {
        &self.origin
    }

    fn error(&mut self, pos: Option<&str>, message: String) {
        self.errors.push(BuildError {
            pos: pos.map(str::to_owned),
            message,
        });
    }

    fn warn(&mut self, pos: Option<&str>, message: String) {
        self.warnings.push(BuildError {
            pos: pos.map(str::to_owned),
            message,
        });
    }

    /// Adds one record. Duplicates are dropped (RFC 2181 §5); a TTL that
    /// differs within an RRset is set to the first one, with a warning
    /// (RFC 2181 §5.2), as BIND and Knot do.
    pub fn add(&mut self, owner: &[u8], rr_type: u16, ttl: u32, rdata: &[u8], pos: Option<&str>) {
        let Some(key) = name::key_of(owner) else {
            self.error(pos, "invalid owner name".into());
            return;
        };
        if !key.starts_with(&self.origin_key) {
            self.error(
                pos,
                format!(
                    "out-of-zone record {} (zone is {})",
                    name::display(owner),
                    name::display(&self.origin)
                ),
            );
            return;
        }
        if rdata.len() > u16::MAX as usize {
            self.error(pos, "RDATA longer than 65535 octets".into());
            return;
        }
        if matches!(rr_type, rtype::OPT | rtype::TSIG | rtype::TKEY)
            || (rtype::IXFR..=rtype::ANY).contains(&rr_type)
        {
            self.error(
                pos,
                format!(
                    "{} is not a record type a zone can hold",
                    type_name(rr_type)
                ),
            );
            return;
        }
        let (covered, is_sig) = if rr_type == rtype::RRSIG {
            match rdata.get(0..2) {
                Some(b) => (u16::from_be_bytes([b[0], b[1]]), true),
                None => {
                    self.error(pos, "RRSIG RDATA too short".into());
                    return;
                }
            }
        } else {
            (rr_type, false)
        };
        let node = self.nodes.entry(key).or_default();
        let sets = if is_sig {
            &mut node.sigs
        } else {
            &mut node.sets
        };
        let set = match sets.iter_mut().position(|s| s.rtype == covered) {
            Some(i) => &mut sets[i],
            None => {
                sets.push(DraftSet {
                    rtype: covered,
                    ttl,
                    block: Vec::new(),
                    count: 0,
                    pos: pos.map(str::to_owned),
                });
                sets.last_mut().expect("just pushed")
            }
        };
        if set.contains(rdata) {
            return;
        }
        let ttl_differs = set.ttl != ttl && !is_sig;
        let first_ttl = set.ttl;
        push_rdata(&mut set.block, rdata);
        set.count += 1;
        self.records += 1;
        if ttl_differs {
            self.warn(
                pos,
                format!(
                    "TTL {} of {} {} differs from the RRset's TTL {}; using {}",
                    ttl,
                    name::display(owner),
                    type_name(rr_type),
                    first_ttl,
                    first_ttl
                ),
            );
        }
    }

    /// Problems that do not stop the zone from loading.
    pub fn warnings(&self) -> &[BuildError] {
        &self.warnings
    }

    /// Checks the zone and builds the version; all problems found are
    /// returned together.
    pub fn finish(mut self) -> Result<(ZoneVersion, Vec<BuildError>), Vec<BuildError>> {
        self.check_apex();
        self.add_empty_nonterminals();
        let nodes = self.check_and_flag();
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let apex = nodes.iter().find(|n| n.key() == &*self.origin_key).cloned();
        let Some(apex) = apex else {
            return Err(vec![BuildError {
                pos: None,
                message: "zone has no apex".into(),
            }]);
        };
        let serial = apex
            .rrset(rtype::SOA)
            .and_then(|s| s.rdatas().next())
            .and_then(|r| soa_field(r, 0))
            .unwrap_or(0);
        let version = ZoneVersion {
            origin_labels: name::label_count(&self.origin),
            origin: self.origin.into_boxed_slice(),
            serial,
            nodes: NameIndex::build(nodes),
            apex,
            record_count: self.records,
        };
        Ok((version, self.warnings))
    }

    fn check_apex(&mut self) {
        let origin = name::display(&self.origin);
        let apex = self.nodes.get(&self.origin_key);
        let soa = apex.and_then(|n| n.sets.iter().find(|s| s.rtype == rtype::SOA));
        let problem = match soa {
            None => Some((None, format!("no SOA record at the zone apex {origin}"))),
            Some(s) if s.count > 1 => Some((
                s.pos.clone(),
                format!("more than one SOA record at {origin}"),
            )),
            Some(s)
                if first_rdata(&s.block)
                    .and_then(|r| soa_field(r, 4))
                    .is_none() =>
            {
                Some((s.pos.clone(), "malformed SOA RDATA".into()))
            }
            Some(_) => None,
        };
        let has_ns = apex.is_some_and(|n| n.sets.iter().any(|s| s.rtype == rtype::NS));
        if let Some((pos, message)) = problem {
            self.error(pos.as_deref(), message);
        }
        if !has_ns {
            self.error(None, format!("no NS records at the zone apex {origin}"));
        }
    }

    /// Every name between the apex and an owner exists (RFC 4592 §2.2.2).
    fn add_empty_nonterminals(&mut self) {
        let mut missing = Vec::new();
        for key in self.nodes.keys() {
            let mut i = self.origin_key.len();
            while i < key.len() {
                match key[i] {
                    0 => {
                        let prefix = &key[..=i];
                        if prefix.len() < key.len() && !self.nodes.contains_key(prefix) {
                            missing.push(Box::<[u8]>::from(prefix));
                        }
                        i += 1;
                    }
                    1 => i += 2,
                    _ => i += 1,
                }
            }
        }
        for key in missing {
            self.nodes.entry(key).or_default();
        }
    }

    /// Checks each node against its place in the tree, sets its flags, and
    /// turns it into its final form. Keys come in canonical order, so a
    /// delegation's descendants follow it directly.
    fn check_and_flag(&mut self) -> Vec<Node> {
        let nodes = std::mem::take(&mut self.nodes);
        let mut out = Vec::with_capacity(nodes.len());
        let mut cut: Option<(Box<[u8]>, Vec<u8>)> = None;
        let mut dname: Option<(Box<[u8]>, Vec<u8>)> = None;
        let mut owner = Vec::new();
        for (key, draft) in nodes {
            name::name_from_key(&key, &mut owner);
            let is_apex = *key == *self.origin_key;
            if cut.as_ref().is_some_and(|(k, _)| !key.starts_with(k)) {
                cut = None;
            }
            if dname.as_ref().is_some_and(|(k, _)| !key.starts_with(k)) {
                dname = None;
            }
            let mut node_flags = 0u8;
            if is_apex {
                node_flags |= flags::APEX;
            }
            if let Some((_, cut_name)) = &cut {
                node_flags |= flags::BELOW_CUT;
                let cut_name = cut_name.clone();
                self.check_glue(&draft, &owner, &cut_name);
            } else {
                if let Some((_, dname_owner)) = &dname {
                    if !draft.sets.is_empty() {
                        let (o, d) = (name::display(&owner), name::display(dname_owner));
                        let pos = draft.sets.first().and_then(|s| s.pos.clone());
                        self.warn(
                            pos.as_deref(),
                            format!("{o} is occluded by the DNAME at {d}"),
                        );
                    }
                }
                let has = |t: u16| draft.sets.iter().any(|s| s.rtype == t);
                if has(rtype::NS) && !is_apex {
                    node_flags |= flags::CUT;
                    cut = Some((key.clone(), owner.clone()));
                    self.check_delegation_point(&draft, &owner);
                }
                if has(rtype::DNAME) && dname.is_none() {
                    node_flags |= flags::DNAME;
                    dname = Some((key.clone(), owner.clone()));
                }
                if has(rtype::CNAME) {
                    node_flags |= flags::CNAME;
                }
                self.check_node(&draft, &owner, is_apex);
            }
            out.push(finish_node(&key, draft, node_flags));
        }
        out
    }

    fn check_node(&mut self, draft: &DraftNode, owner: &[u8], is_apex: bool) {
        let display = name::display(owner);
        for set in &draft.sets {
            let pos = set.pos.as_deref();
            match set.rtype {
                rtype::SOA if !is_apex => self.error(
                    pos,
                    format!("SOA record at {display}, which is not the zone apex"),
                ),
                rtype::CNAME if set.count > 1 => {
                    self.error(pos, format!("more than one CNAME record at {display}"))
                }
                rtype::DNAME if set.count > 1 => {
                    self.error(pos, format!("more than one DNAME record at {display}"))
                }
                rtype::CNAME => {
                    // RFC 2181 §10.1, RFC 4035 §2.5: only DNSSEC records
                    // may stand beside a CNAME.
                    if let Some(other) = draft
                        .sets
                        .iter()
                        .find(|s| !matches!(s.rtype, rtype::CNAME | rtype::NSEC | rtype::RRSIG))
                    {
                        let t = type_name(other.rtype);
                        self.error(pos, format!("CNAME and other data ({t}) at {display}"));
                    }
                }
                _ => {}
            }
        }
    }

    fn check_delegation_point(&mut self, draft: &DraftNode, owner: &[u8]) {
        for set in &draft.sets {
            if !matches!(
                set.rtype,
                rtype::NS | rtype::DS | rtype::NSEC | rtype::A | rtype::AAAA
            ) {
                let pos = set.pos.clone();
                let (t, o) = (type_name(set.rtype), name::display(owner));
                self.warn(
                    pos.as_deref(),
                    format!("{t} at delegation point {o} is not authoritative and is not served"),
                );
            }
        }
    }

    /// RFC 1034 §4.2.1: below a zone cut only glue (addresses) may appear.
    fn check_glue(&mut self, draft: &DraftNode, owner: &[u8], cut: &[u8]) {
        for set in &draft.sets {
            if !matches!(set.rtype, rtype::A | rtype::AAAA) {
                let pos = set.pos.clone();
                let (t, o, c) = (
                    type_name(set.rtype),
                    name::display(owner),
                    name::display(cut),
                );
                self.error(
                    pos.as_deref(),
                    format!("{t} record at {o} below the delegation {c}: only glue (A, AAAA) is allowed there"),
                );
            }
        }
    }
}

fn first_rdata(block: &[u8]) -> Option<&[u8]> {
    Rdatas::from_block(block).next()
}

fn finish_node(key: &[u8], draft: DraftNode, node_flags: u8) -> Node {
    let DraftNode { mut sets, sigs } = draft;
    sets.sort_by_key(|s| s.rtype);
    let mut used = vec![false; sigs.len()];
    let mut rrsets: Vec<RrsetData<'_>> = sets
        .iter()
        .map(|s| {
            let sig = sigs.iter().position(|g| g.rtype == s.rtype);
            if let Some(i) = sig {
                used[i] = true;
            }
            RrsetData {
                rtype: s.rtype,
                ttl: s.ttl,
                data: &s.block,
                sigs: sig.map(|i| (sigs[i].ttl, &sigs[i].block[..])),
            }
        })
        .collect();
    // RRSIGs whose covered RRset is absent are kept as an RRSIG "RRset" so
    // that nothing in the zone is silently lost (they are still served for
    // explicit RRSIG queries and transferred).
    for (g, _) in sigs.iter().zip(&used).filter(|(_, u)| !**u) {
        rrsets.push(RrsetData {
            rtype: rtype::RRSIG,
            ttl: g.ttl,
            data: &g.block,
            sigs: None,
        });
    }
    Node::pack(key, node_flags, &rrsets)
}
