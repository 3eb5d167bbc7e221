//! Applying a changeset to a version without copying the zone: the step
//! that IXFR in, UPDATE and CSYNC share.
//!
//! [`ZoneVersion::apply`] builds the new version from the old one by
//! touching only the names the changeset names (plus the empty
//! non-terminals above them and, when a zone cut or DNAME appears or goes,
//! the names below it). Every other node is shared with the old version
//! through the persistent [`NameIndex`](super::index::NameIndex); the
//! result is exactly what [`ZoneBuilder`](super::ZoneBuilder) would build
//! from the same records (same RRset layout, RRSIG placement, flags, empty
//! non-terminals, counts), so `diff(old, old.apply(c)) == c` for every
//! changeset `c` that `diff` produces.
//!
//! # Semantics (RFC 1995 §4, RFC 2181 §5)
//!
//! - `from_serial` and `old_soa` must match the version; the result has
//!   `new_soa` as its SOA and `to_serial` as its serial.
//! - Every record of `removed` must be in the zone exactly (owner, type,
//!   TTL, RDATA), every record of `added` must not be (type and RDATA:
//!   a record that is there with another TTL is the same record, RFC 2181
//!   §5), or nothing is applied. All removals come before all additions.
//! - TTLs: an RRset has one TTL (RFC 2181 §5.2). If all the records of an
//!   RRset are removed and records of its type added, the set is new and
//!   takes the TTL of the first one added (this is how `diff` changes the
//!   TTL of an RRset). A record added to an RRset that keeps some of its
//!   records takes the RRset's TTL, with a warning, as the builder does
//!   ("the first TTL wins"). The same holds for the RRSIGs covering one
//!   type (silently, as in the builder).
//! - The zone's rules are those of the builder, checked on the names the
//!   changeset touches and on the names whose flags move: SOA only at the
//!   apex and NS at the apex, at most one CNAME and one DNAME per name,
//!   CNAME only beside DNSSEC records (NSEC, RRSIG), only glue (A, AAAA)
//!   below a zone cut. Data below a DNAME is only a warning in the builder
//!   and is accepted here without one. A name with more than 255 RRsets is
//!   refused (the node layout cannot hold it).
//!
//! # Empty non-terminals and flags
//!
//! The index is a hash trie: it cannot list a name's children. A version
//! therefore carries [`Descendants`]: for every node that has nodes below
//! it, how many (a persistent `imbl` hash map, so it is shared and
//! path-copied like the index; it holds only the inner nodes of the tree,
//! which in most zones are few). With it:
//!
//! - a new name gets its missing ancestors as empty non-terminals, and the
//!   counts of all its ancestors go up (O(depth));
//! - a name left without records is dropped when nothing is below it, and
//!   so is then every empty non-terminal above it left with nothing below;
//! - a node's flags depend on its own types and on whether an ancestor has
//!   NS (`BELOW_CUT`) or DNAME, which are O(depth) lookups. Only when NS
//!   (not at the apex) or DNAME appears or goes at a name can flags move
//!   below that name. When the count says every name below it is touched
//!   by the changeset anyway (the usual case: a delegation added or
//!   removed with its glue), nothing more is done; otherwise the names
//!   below it must be found, and with no ordered index that is one pass
//!   over the whole index. That pass, the only step not proportional to
//!   the change, happens only when a cut or DNAME is put above (or taken
//!   from above) names the changeset does not touch.
//!
//! A list of each node's children would avoid that pass, but it costs a
//! key per name (tens of MiB in a zone of a million names) for an event
//! that changes the delegation status of data already in the zone, which
//! a zone that is served rarely does. The counts are built by the builder
//! in one pass over the sorted nodes (about 12 ms for a million names).
//!
//! # Cost
//!
//! Each touched name costs one path copy in the index and O(depth) count
//! updates and lookups: measured (release, 2 cores) on a zone of a million
//! names, one record added or removed with the SOA: about 6 µs (11 µs with
//! two new empty non-terminals); 10,001 new names: about 70 ms; a cut put
//! over a name whose glue the change leaves (the scan): about 60 ms. A
//! change touching much of a zone is about as fast rebuilt by the builder.

use super::node::{push_rdata, Node, RrsetData};
use super::{flags, rtype, soa_field, Retire, ZoneVersion};
use crate::journal::{Changeset, Record};
use crate::name;
use crate::serial::Serial;
use domain::base::iana::Rtype;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

/// Why a changeset cannot be applied. The version it was applied to is
/// unchanged (versions are immutable); nothing is half-applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("changeset starts at serial {changeset}, but the zone is at serial {zone}")]
    SerialMismatch { zone: Serial, changeset: Serial },
    #[error("the changeset's old SOA is not the zone's SOA")]
    SoaMismatch,
    #[error("record to delete is not in the zone: {} {}", name::display(.owner), type_text(.rtype))]
    MissingRecord { owner: Vec<u8>, rtype: u16 },
    #[error("record to add is already in the zone: {} {}", name::display(.owner), type_text(.rtype))]
    DuplicateRecord { owner: Vec<u8>, rtype: u16 },
    #[error("record owner {} is outside the zone", name::display(.owner))]
    OutOfZone { owner: Vec<u8> },
    #[error("{0}")]
    Invalid(String),
}

fn type_text(t: &u16) -> String {
    Rtype::from_int(*t).to_string()
}

/// For each node with nodes below it, how many: lets a change know when an
/// empty non-terminal is left with nothing below, and whether a new zone
/// cut has names below it that the change does not touch.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct Descendants(imbl::HashMap<Arc<[u8]>, usize>);

impl fmt::Debug for Descendants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Descendants({} inner nodes)", self.0.len())
    }
}

impl Descendants {
    /// From all nodes of a zone in canonical order (a node's descendants
    /// follow it directly, as one run).
    pub(super) fn from_sorted(nodes: &[Node]) -> Descendants {
        let mut map = imbl::HashMap::new();
        // The ancestors of the current node, with their positions.
        let mut open: Vec<(&[u8], usize)> = Vec::new();
        let mut close = |open: &mut Vec<(&[u8], usize)>, end: usize| {
            if let Some((key, start)) = open.pop() {
                let below = end.saturating_sub(start + 1);
                if below > 0 {
                    map.insert(Arc::from(key), below);
                }
            }
        };
        for (i, node) in nodes.iter().enumerate() {
            let key = node.key();
            while open
                .last()
                .is_some_and(|(top, _)| !(key.len() > top.len() && key.starts_with(top)))
            {
                close(&mut open, i);
            }
            open.push((key, i));
        }
        while !open.is_empty() {
            close(&mut open, nodes.len());
        }
        Descendants(map)
    }

    fn get(&self, key: &[u8]) -> usize {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// A node `key` appears (`added`) or goes: every ancestor counts it.
    fn change(&mut self, key: &[u8], origin_len: usize, added: bool) {
        for len in ancestor_lens(key, origin_len) {
            let Some(a) = key.get(..len) else { continue };
            let left = match self.0.get_mut(a) {
                Some(count) if added => {
                    *count += 1;
                    continue;
                }
                Some(count) => {
                    *count = count.saturating_sub(1);
                    *count
                }
                None if added => {
                    self.0.insert(Arc::from(a), 1);
                    continue;
                }
                None => continue,
            };
            if left == 0 {
                self.0.remove(a);
            }
        }
    }
}

/// Key lengths of the strict ancestors of `key` from the apex (whose key
/// is `origin_len` long) down to its parent. A key's terminators are its
/// only zero octets (0 and 1 in labels are escaped as `1 x`, `x` ≠ 0).
fn ancestor_lens(key: &[u8], origin_len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    if key.len() <= origin_len {
        return out;
    }
    out.push(origin_len);
    let mut i = origin_len;
    while let Some(&b) = key.get(i) {
        match b {
            0 => {
                i += 1;
                if i < key.len() {
                    out.push(i);
                }
            }
            1 => i += 2,
            _ => i += 1,
        }
    }
    out
}

/// The type an RRSIG covers: the first two octets of its RDATA.
fn covered(rdata: &[u8]) -> Option<u16> {
    let b: [u8; 2] = rdata.get(..2)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// One RRset, or the RRSIGs covering one type, while a node changes.
struct Group<'a> {
    ttl: u32,
    /// Ordered by RDATA, as the builder stores them.
    rdatas: BTreeSet<&'a [u8]>,
}

impl<'a> Group<'a> {
    fn new(ttl: u32, rdatas: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Group {
            ttl,
            rdatas: rdatas.into_iter().collect(),
        }
    }

    fn block(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.rdatas.iter().map(|r| r.len() + 2).sum());
        for r in &self.rdatas {
            push_rdata(&mut b, r);
        }
        b
    }
}

/// A touched name: its records in the new version, borrowed from the old
/// node and from the changeset.
struct Draft<'a> {
    /// The node of this name in the old version.
    old: Option<&'a Node>,
    /// By type.
    sets: BTreeMap<u16, Group<'a>>,
    /// RRSIGs, by the type they cover.
    sigs: BTreeMap<u16, Group<'a>>,
    /// Whether the name is a node of the new version.
    present: bool,
    /// Whether its records differ from `old` (or it is new).
    dirty: bool,
}

impl<'a> Draft<'a> {
    /// Reads a node back into RRsets and RRSIG groups: RRSIGs beside an
    /// RRset cover its type; an RRSIG-only set (the builder's place for
    /// RRSIGs whose RRset is absent) holds RRSIGs of one covered type.
    fn from_node(old: Option<&'a Node>) -> Self {
        let mut d = Draft {
            old,
            sets: BTreeMap::new(),
            sigs: BTreeMap::new(),
            present: old.is_some(),
            dirty: false,
        };
        for set in old.into_iter().flat_map(Node::rrsets) {
            if set.rtype() == rtype::RRSIG {
                for r in set.rdatas() {
                    d.sigs
                        .entry(covered(r).unwrap_or(0))
                        .or_insert_with(|| Group::new(set.ttl(), []))
                        .rdatas
                        .insert(r);
                }
                continue;
            }
            d.sets
                .insert(set.rtype(), Group::new(set.ttl(), set.rdatas()));
            if let Some(sigs) = set.sigs() {
                d.sigs
                    .insert(set.rtype(), Group::new(sigs.ttl, sigs.rdatas()));
            }
        }
        d
    }

    fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.sigs.is_empty()
    }

    fn has(&self, t: u16) -> bool {
        self.sets.contains_key(&t)
    }

    fn group_of(&mut self, r: &Record) -> Option<(&mut BTreeMap<u16, Group<'a>>, u16)> {
        if r.rtype == rtype::RRSIG {
            Some((&mut self.sigs, covered(&r.rdata)?))
        } else {
            Some((&mut self.sets, r.rtype))
        }
    }

    /// Removes exactly this record (TTL included); false if it is absent.
    fn remove(&mut self, r: &Record) -> bool {
        let Some((groups, t)) = self.group_of(r) else {
            return false;
        };
        let Some(g) = groups.get_mut(&t) else {
            return false;
        };
        if g.ttl != r.ttl || !g.rdatas.remove(r.rdata.as_slice()) {
            return false;
        }
        if g.rdatas.is_empty() {
            groups.remove(&t);
        }
        self.dirty = true;
        true
    }

    /// Adds a record. `Err(())` if its type and RDATA are there already;
    /// `Ok(Some(ttl))` if it joined an RRset of another TTL, `ttl`.
    fn add(&mut self, r: &'a Record) -> Result<Option<u32>, ()> {
        let Some((groups, t)) = self.group_of(r) else {
            return Err(());
        };
        let g = groups.entry(t).or_insert_with(|| Group::new(r.ttl, []));
        if !g.rdatas.insert(r.rdata.as_slice()) {
            return Err(());
        }
        let ttl = g.ttl;
        self.dirty = true;
        Ok((ttl != r.ttl).then_some(ttl))
    }

    /// Packs the node as the builder does: RRsets by type, each with the
    /// RRSIGs covering it, then RRSIG-only sets by covered type.
    fn pack(&self, key: &[u8], node_flags: u8, scratch: &mut Vec<u8>) -> Result<Node, ApplyError> {
        type Block = (u16, u32, Vec<u8>, Option<(u32, Vec<u8>)>);
        let mut blocks: Vec<Block> = Vec::with_capacity(self.sets.len());
        for (&t, g) in &self.sets {
            let sigs = self.sigs.get(&t).map(|s| (s.ttl, s.block()));
            blocks.push((t, g.ttl, g.block(), sigs));
        }
        for (t, g) in &self.sigs {
            if !self.sets.contains_key(t) {
                blocks.push((rtype::RRSIG, g.ttl, g.block(), None));
            }
        }
        if blocks.len() > 255 {
            return Err(ApplyError::Invalid(format!(
                "more than 255 RRsets at {}",
                display_key(key)
            )));
        }
        let rrsets: Vec<RrsetData<'_>> = blocks
            .iter()
            .map(|(t, ttl, data, sigs)| RrsetData {
                rtype: *t,
                ttl: *ttl,
                data,
                sigs: sigs.as_ref().map(|(ttl, d)| (*ttl, &d[..])),
            })
            .collect();
        Ok(Node::pack_with(scratch, key, node_flags, &rrsets))
    }
}

fn display_key(key: &[u8]) -> String {
    let mut wire = Vec::new();
    name::name_from_key(key, &mut wire);
    name::display(&wire)
}

impl ZoneVersion {
    /// The version `change` leads to from this one (RFC 1995 §4), sharing
    /// every node it does not touch.
    ///
    /// `from_serial` and `old_soa` must match this version; every removed
    /// record must be here exactly (TTL included) and no added one may be
    /// (same type and RDATA); removals go first. An RRset whose records
    /// are all removed and then added again takes the TTL of the first one
    /// added; a record joining an RRset that keeps records takes the
    /// RRset's TTL (with a warning, as [`ZoneBuilder`](super::ZoneBuilder)
    /// does). The result must pass the builder's checks, and its nodes,
    /// flags and empty non-terminals are what the builder would make of
    /// the same records. The rules and the design are described in
    /// `src/zone/apply.rs`.
    ///
    /// The cost is proportional to the names changed, plus one pass over
    /// the index when a zone cut or DNAME appears or goes above names the
    /// change does not touch.
    pub fn apply(&self, change: &Changeset) -> Result<ZoneVersion, ApplyError> {
        check_framing(self, change)?;
        let origin_key = name::key_of(&self.origin)
            .ok_or_else(|| ApplyError::Invalid("invalid zone name".into()))?;
        let mut a = Apply {
            v: self,
            origin_key,
            work: BTreeMap::new(),
            counts: self.descendants.clone(),
        };
        a.records(change)?;
        a.link_new_nodes();
        a.unlink_empty_nodes();
        a.finish(change)
    }

    /// Applies `changes` one after the other (each must start where the
    /// previous one ended); the first error stops it.
    pub fn apply_all(&self, changes: &[Changeset]) -> Result<ZoneVersion, ApplyError> {
        let mut version = self.share();
        for change in changes {
            version = version.apply(change)?;
        }
        Ok(version)
    }

    /// A second handle on this version's data (nothing is copied).
    pub fn share(&self) -> ZoneVersion {
        ZoneVersion {
            origin: self.origin.clone(),
            origin_labels: self.origin_labels,
            serial: self.serial,
            nodes: self.nodes.clone(),
            apex: self.apex.clone(),
            record_count: self.record_count,
            descendants: self.descendants.clone(),
            denial: self.denial.clone(),
            _retire: Retire::for_names(self.nodes.len()),
        }
    }
}

fn check_framing(v: &ZoneVersion, c: &Changeset) -> Result<(), ApplyError> {
    if c.from_serial != v.serial {
        return Err(ApplyError::SerialMismatch {
            zone: v.serial,
            changeset: c.from_serial,
        });
    }
    let soa = v.soa();
    let old = &c.old_soa;
    let matches = old.rtype == rtype::SOA
        && old.owner.eq_ignore_ascii_case(&v.origin)
        && soa.is_some_and(|s| s.ttl() == old.ttl && s.len() == 1)
        && soa.and_then(|s| s.rdatas().next()) == Some(old.rdata.as_slice());
    if !matches {
        return Err(ApplyError::SoaMismatch);
    }
    let new = &c.new_soa;
    let origin = name::display(&v.origin);
    if new.rtype != rtype::SOA || !new.owner.eq_ignore_ascii_case(&v.origin) {
        return Err(ApplyError::Invalid(format!(
            "the new SOA is not an SOA record at the zone apex {origin}"
        )));
    }
    if new.rdata.len() > u16::MAX as usize || soa_field(&new.rdata, 4).is_none() {
        return Err(ApplyError::Invalid("malformed SOA RDATA".into()));
    }
    let serial = super::soa_serial(&new.rdata);
    if serial != Some(c.to_serial) {
        return Err(ApplyError::Invalid(format!(
            "the new SOA has serial {}, but the changeset leads to serial {}",
            serial.unwrap_or_default(),
            c.to_serial
        )));
    }
    Ok(())
}

/// One application in progress.
struct Apply<'a> {
    v: &'a ZoneVersion,
    origin_key: Box<[u8]>,
    /// Every touched name by key (canonical order): named by a record, or
    /// an empty non-terminal appearing or going.
    work: BTreeMap<Box<[u8]>, Draft<'a>>,
    /// The new version's [`Descendants`].
    counts: Descendants,
}

impl<'a> Apply<'a> {
    fn draft(&mut self, key: &[u8]) -> &mut Draft<'a> {
        let v = self.v;
        self.work
            .entry(key.into())
            .or_insert_with(|| Draft::from_node(v.nodes.get(key)))
    }

    fn key_for(&self, r: &Record) -> Result<Box<[u8]>, ApplyError> {
        let key = (name::wire_len(&r.owner) == Some(r.owner.len()))
            .then(|| name::KeyBuf::new(&r.owner))
            .flatten()
            .ok_or_else(|| {
                ApplyError::Invalid(format!(
                    "malformed owner name of a {} record",
                    type_text(&r.rtype)
                ))
            })?;
        if !key.as_slice().starts_with(&self.origin_key) {
            return Err(ApplyError::OutOfZone {
                owner: r.owner.clone(),
            });
        }
        Ok(key.as_slice().into())
    }

    /// The SOA, then all removals, then all additions.
    fn records(&mut self, c: &'a Changeset) -> Result<(), ApplyError> {
        let origin_key = self.origin_key.clone();
        let apex = self.draft(&origin_key);
        apex.sets.insert(
            rtype::SOA,
            Group::new(c.new_soa.ttl, [c.new_soa.rdata.as_slice()]),
        );
        apex.dirty = true;
        let missing = |r: &Record| ApplyError::MissingRecord {
            owner: r.owner.clone(),
            rtype: r.rtype,
        };
        for r in &c.removed {
            let key = self.key_for(r)?;
            if r.rtype == rtype::SOA && key == origin_key {
                return Err(soa_in_lists());
            }
            if !self.draft(&key).remove(r) {
                return Err(missing(r));
            }
        }
        for r in &c.added {
            let key = self.key_for(r)?;
            check_addable(r, &key, &origin_key)?;
            match self.draft(&key).add(r) {
                Err(()) => {
                    return Err(ApplyError::DuplicateRecord {
                        owner: r.owner.clone(),
                        rtype: r.rtype,
                    })
                }
                Ok(Some(ttl)) if r.rtype != rtype::RRSIG => tracing::warn!(
                    zone = %name::display(&self.v.origin),
                    "TTL {} of an added {} record at {} differs from the TTL {ttl} of its RRset; using {ttl}",
                    r.ttl,
                    type_text(&r.rtype),
                    name::display(&r.owner),
                ),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Makes the new names nodes, with empty non-terminals above them
    /// where there is no node yet.
    fn link_new_nodes(&mut self) {
        let origin_len = self.origin_key.len();
        let new: Vec<Box<[u8]>> = self
            .work
            .iter()
            .filter(|(_, d)| !d.present && !d.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        // In canonical order: a new name's new ancestors come first.
        for key in new {
            for len in ancestor_lens(&key, origin_len) {
                let Some(a) = key.get(..len) else { continue };
                let present = match self.work.get(a) {
                    Some(d) => d.present,
                    None => self.v.nodes.get(a).is_some(),
                };
                if !present {
                    let d = self.draft(a);
                    d.present = true;
                    d.dirty = true;
                    self.counts.change(a, origin_len, true);
                }
            }
            let d = self.draft(&key);
            if !d.present {
                d.present = true;
                d.dirty = true;
                self.counts.change(&key, origin_len, true);
            }
        }
    }

    /// Drops the names left without records and without names below them,
    /// deepest first, and then the empty non-terminals above them that
    /// are left with nothing below.
    fn unlink_empty_nodes(&mut self) {
        let origin_len = self.origin_key.len();
        let mut candidates: BTreeSet<Box<[u8]>> = self
            .work
            .iter()
            .filter(|(k, d)| d.present && d.is_empty() && k.len() > origin_len)
            .map(|(k, _)| k.clone())
            .collect();
        // Descendants sort after their ancestors: the last key is never
        // above another candidate.
        while let Some(key) = candidates.pop_last() {
            if self.counts.get(&key) > 0 {
                continue; // stays, as an empty non-terminal
            }
            let d = self.draft(&key);
            d.present = false;
            d.dirty = true;
            self.counts.change(&key, origin_len, false);
            let Some(&parent_len) = ancestor_lens(&key, origin_len).last() else {
                continue;
            };
            let Some(parent) = key.get(..parent_len).filter(|p| p.len() > origin_len) else {
                continue;
            };
            let empty = match self.work.get(parent) {
                Some(d) => d.present && d.is_empty(),
                None => self
                    .v
                    .nodes
                    .get(parent)
                    .is_some_and(Node::is_empty_nonterminal),
            };
            if empty {
                self.draft(parent);
                candidates.insert(parent.into());
            }
        }
    }

    /// Whether the name has NS, and DNAME, in the new version.
    fn facts(&self, key: &[u8]) -> (bool, bool) {
        match self.work.get(key) {
            Some(d) if d.present => (d.has(rtype::NS), d.has(rtype::DNAME)),
            Some(_) => (false, false),
            None => self.v.nodes.get(key).map_or((false, false), |n| {
                (
                    n.rrset(rtype::NS).is_some(),
                    n.rrset(rtype::DNAME).is_some(),
                )
            }),
        }
    }

    /// The flags of `key` in the new version, given its own types (`has`),
    /// as `ZoneBuilder` sets them; and the key length of the zone cut it is
    /// below, if any.
    fn flags_of(&self, key: &[u8], has: impl Fn(u16) -> bool) -> (u8, Option<usize>) {
        let origin_len = self.origin_key.len();
        let is_apex = key.len() == origin_len;
        let mut cut = None;
        let mut dname_above = false;
        for len in ancestor_lens(key, origin_len) {
            let (ns, dname) = self.facts(key.get(..len).unwrap_or_default());
            if ns && len > origin_len {
                cut = Some(len);
                break;
            }
            dname_above |= dname;
        }
        let mut f = if is_apex { flags::APEX } else { 0 };
        if cut.is_some() {
            f |= flags::BELOW_CUT;
        } else {
            if has(rtype::NS) && !is_apex {
                f |= flags::CUT;
            }
            // Only the topmost DNAME of a branch is flagged.
            if has(rtype::DNAME) && !dname_above {
                f |= flags::DNAME;
            }
            if has(rtype::CNAME) {
                f |= flags::CNAME;
            }
        }
        (f, cut)
    }

    /// The builder's checks of one node: `sets` are its RRsets (RRSIGs
    /// not included) as (type, record count); `cut`, the key length of the
    /// zone cut it is below.
    fn check(
        &self,
        key: &[u8],
        sets: &[(u16, usize)],
        cut: Option<usize>,
    ) -> Result<(), ApplyError> {
        let at = || display_key(key);
        let err = |m: String| Err(ApplyError::Invalid(m));
        if let Some(cut) = cut {
            if let Some((t, _)) = sets
                .iter()
                .find(|(t, _)| !matches!(*t, rtype::A | rtype::AAAA))
            {
                let c = display_key(key.get(..cut).unwrap_or_default());
                return err(format!(
                    "{} record at {} below the delegation {c}: only glue (A, AAAA) is allowed there",
                    type_text(t),
                    at()
                ));
            }
            return Ok(());
        }
        let is_apex = key.len() == self.origin_key.len();
        for &(t, count) in sets {
            match t {
                rtype::SOA if !is_apex => {
                    return err(format!(
                        "SOA record at {}, which is not the zone apex",
                        at()
                    ))
                }
                rtype::CNAME if count > 1 => {
                    return err(format!("more than one CNAME record at {}", at()))
                }
                rtype::DNAME if count > 1 => {
                    return err(format!("more than one DNAME record at {}", at()))
                }
                rtype::CNAME => {
                    // RFC 2181 §10.1, RFC 4035 §2.5: only DNSSEC records
                    // may stand beside a CNAME.
                    if let Some((other, _)) = sets
                        .iter()
                        .find(|(s, _)| !matches!(*s, rtype::CNAME | rtype::NSEC | rtype::RRSIG))
                    {
                        return err(format!(
                            "CNAME and other data ({}) at {}",
                            type_text(other),
                            at()
                        ));
                    }
                }
                _ => {}
            }
        }
        if is_apex && !sets.iter().any(|(t, _)| *t == rtype::NS) {
            return err(format!("no NS records at the zone apex {}", at()));
        }
        Ok(())
    }

    /// Names where NS (not at the apex) or DNAME appeared or went, and that
    /// have names below them the change did not touch.
    fn moved_subtrees(&self) -> Vec<&[u8]> {
        let origin_len = self.origin_key.len();
        let mut out = Vec::new();
        for (key, d) in &self.work {
            let below_apex = key.len() > origin_len;
            let had = |t| d.old.is_some_and(|n| n.rrset(t).is_some());
            let has = |t| d.present && d.has(t);
            let ns_moved = below_apex && had(rtype::NS) != has(rtype::NS);
            if !ns_moved && had(rtype::DNAME) == has(rtype::DNAME) {
                continue;
            }
            let touched = self
                .work
                .range::<[u8], _>((Bound::Excluded(&key[..]), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(key))
                .filter(|(_, d)| d.present)
                .count();
            if self.counts.get(key) > touched {
                out.push(&key[..]);
            }
        }
        out
    }

    fn finish(self, c: &Changeset) -> Result<ZoneVersion, ApplyError> {
        let origin_len = self.origin_key.len();
        let mut nodes = self.v.nodes.clone();
        let mut denial = self.v.denial.clone();
        let mut apex = self.v.apex.clone();
        let mut scratch = Vec::new();
        let mut sets: Vec<(u16, usize)> = Vec::new();
        for (key, d) in &self.work {
            if !d.present {
                if let Some(old) = d.old {
                    nodes = nodes.remove(key);
                    denial.replace(Some(old), None, false);
                }
                continue;
            }
            let (f, cut) = self.flags_of(key, |t| d.has(t));
            sets.clear();
            sets.extend(d.sets.iter().map(|(t, g)| (*t, g.rdatas.len())));
            self.check(key, &sets, cut)?;
            let node = match d.old {
                Some(old) if !d.dirty && old.flags() == f => continue,
                Some(old) if !d.dirty => old.with_flags(f),
                _ => d.pack(key, f, &mut scratch)?,
            };
            if key.len() == origin_len {
                apex = node.clone();
            }
            denial.replace(d.old, Some(&node), key.len() == origin_len);
            nodes = nodes.insert(node);
        }
        let moved = self.moved_subtrees();
        if !moved.is_empty() {
            tracing::debug!(
                zone = %name::display(&self.v.origin),
                "a zone cut or DNAME moved above names the change does not touch: re-flagging them in one pass over the zone"
            );
            for n in self.v.nodes.iter() {
                let key = n.key();
                let below = moved
                    .iter()
                    .any(|m| key.len() > m.len() && key.starts_with(m));
                if !below || self.work.contains_key(key) {
                    continue;
                }
                let (f, cut) = self.flags_of(key, |t| n.rrset(t).is_some());
                sets.clear();
                sets.extend(
                    n.rrsets()
                        .filter(|s| s.rtype() != rtype::RRSIG)
                        .map(|s| (s.rtype(), s.len())),
                );
                self.check(key, &sets, cut)?;
                if f != n.flags() {
                    let flagged = n.with_flags(f);
                    denial.replace(Some(n), Some(&flagged), false);
                    nodes = nodes.insert(flagged);
                }
            }
        }
        let record_count = self
            .v
            .record_count
            .saturating_sub(c.removed.len())
            .saturating_add(c.added.len());
        Ok(ZoneVersion {
            origin: self.v.origin.clone(),
            origin_labels: self.v.origin_labels,
            serial: c.to_serial,
            _retire: Retire::for_names(nodes.len()),
            nodes,
            apex,
            record_count,
            descendants: self.counts,
            denial,
        })
    }
}

fn soa_in_lists() -> ApplyError {
    ApplyError::Invalid(
        "the apex SOA is changed by the changeset's old and new SOA, not by its record lists"
            .into(),
    )
}

/// What the builder refuses in a record, whatever the zone holds.
fn check_addable(r: &Record, key: &[u8], origin_key: &[u8]) -> Result<(), ApplyError> {
    let t = r.rtype;
    if t == rtype::SOA {
        if key == origin_key {
            return Err(soa_in_lists());
        }
        return Err(ApplyError::Invalid(format!(
            "SOA record at {}, which is not the zone apex",
            name::display(&r.owner)
        )));
    }
    if matches!(t, rtype::OPT | rtype::TSIG | rtype::TKEY)
        || (rtype::IXFR..=rtype::ANY).contains(&t)
    {
        return Err(ApplyError::Invalid(format!(
            "{} is not a record type a zone can hold",
            type_text(&t)
        )));
    }
    if r.rdata.len() > u16::MAX as usize {
        return Err(ApplyError::Invalid("RDATA longer than 65535 octets".into()));
    }
    if t == rtype::RRSIG && r.rdata.len() < 2 {
        return Err(ApplyError::Invalid("RRSIG RDATA too short".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::diff;
    use crate::name::test_wire as wire;
    use crate::zone::ZoneBuilder;
    use crate::zonefile::{self, ParseOptions};
    use std::path::Path;
    use std::time::{Duration, Instant};

    const HEAD: &str = "$ORIGIN example.\n$TTL 300\n\
        @ 60 SOA ns.example. host.example. SERIAL 2 3 4 5\n\
        @ NS ns.example.\n\
        ns A 192.0.2.53\n";

    /// A version of `example.` from zone-file text (after a fixed head
    /// with the SOA at `serial`, the apex NS and its address).
    fn text_zone(serial: u32, body: &str) -> ZoneVersion {
        let text = HEAD.replace("SERIAL", &serial.to_string()) + body;
        let parsed = zonefile::parse_str(
            &text,
            Path::new("test.zone"),
            &ParseOptions::new(wire("example.")),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let mut b = ZoneBuilder::new(&wire("example.")).unwrap();
        for r in &parsed.records {
            b.add(&r.owner, r.rtype, r.ttl, &r.rdata, None);
        }
        b.finish().unwrap_or_else(|e| panic!("{e:?}")).0
    }

    /// (owner, type, TTL, RDATA)
    type Spec = (Vec<u8>, u16, u32, Vec<u8>);

    fn soa_rdata(serial: u32) -> Vec<u8> {
        let mut r = wire("ns.example.");
        r.extend(wire("host.example."));
        for v in [serial, 2, 3, 4, 5] {
            r.extend(v.to_be_bytes());
        }
        r
    }

    fn spec_zone(serial: u32, records: &[Spec]) -> ZoneVersion {
        let mut b = ZoneBuilder::new(&wire("example.")).unwrap();
        b.add(&wire("example."), rtype::SOA, 60, &soa_rdata(serial), None);
        b.add(&wire("example."), rtype::NS, 60, &wire("ns.example."), None);
        for (owner, t, ttl, rdata) in records {
            b.add(owner, *t, *ttl, rdata, None);
        }
        b.finish().unwrap_or_else(|e| panic!("{e:?}")).0
    }

    type Layout<'a> = Vec<(u16, u32, &'a [u8], Option<(u32, &'a [u8])>)>;

    fn layout(n: &Node) -> Layout<'_> {
        n.rrsets()
            .map(|s| {
                let sigs = s.sigs().map(|g| (g.ttl, g.data));
                (s.rtype(), s.ttl(), s.data(), sigs)
            })
            .collect()
    }

    /// `got` holds what `want` holds: same records and SOA, same nodes with
    /// the same flags and the same packed layout, same counts.
    fn assert_same(got: &ZoneVersion, want: &ZoneVersion, what: &str) {
        let d = diff(got, want);
        assert!(
            d.removed.is_empty() && d.added.is_empty(),
            "{what}: contents differ: {d:?}"
        );
        assert_eq!(d.old_soa, d.new_soa, "{what}: SOA");
        assert_eq!(got.serial(), want.serial(), "{what}: serial");
        assert_eq!(got.node_count(), want.node_count(), "{what}: node count");
        assert_eq!(
            got.record_count(),
            want.record_count(),
            "{what}: record count"
        );
        for n in want.nodes() {
            let g = got
                .get(n.key())
                .unwrap_or_else(|| panic!("{what}: {n:?} missing"));
            assert_eq!(g.flags(), n.flags(), "{what}: flags of {n:?}");
            assert_eq!(layout(g), layout(n), "{what}: layout of {n:?}");
        }
        assert!(got.apex().same(got.get(got.apex().key()).unwrap()));
        assert_eq!(got.apex().key(), want.apex().key());
        assert_eq!(got.descendants, want.descendants, "{what}: descendants");
    }

    /// The key property: applying `diff(old, new)` to `old` gives `new`,
    /// and diffing `old` with the result gives the changeset back.
    fn round_trip(old: &ZoneVersion, new: &ZoneVersion, what: &str) -> ZoneVersion {
        let c = diff(old, new);
        let applied = old
            .apply(&c)
            .unwrap_or_else(|e| panic!("{what}: {e} applying {c:?}"));
        assert_same(&applied, new, what);
        assert_eq!(diff(old, &applied), c, "{what}: diff of the result");
        applied
    }

    fn both_ways(old_body: &str, new_body: &str) {
        let (old, new) = (text_zone(1, old_body), text_zone(2, new_body));
        round_trip(&old, &new, &format!("{old_body:?} -> {new_body:?}"));
        let back = text_zone(3, old_body);
        round_trip(&new, &back, &format!("{new_body:?} -> {old_body:?}"));
    }

    fn node<'v>(v: &'v ZoneVersion, n: &str) -> Option<&'v Node> {
        v.get(&name::key_of(&wire(n)).unwrap())
    }

    const SIG_A: &str = "RRSIG A 8 2 300 20300101000000 20200101000000 1 example. AAAA";
    const SIG_A2: &str = "RRSIG A 8 2 300 20300101000000 20200101000000 2 example. AAAA";
    const SIG_MX: &str = "RRSIG MX 8 2 300 20300101000000 20200101000000 3 example. AAAA";
    const SIG_SOA: &str = "RRSIG SOA 8 1 60 20300101000000 20200101000000 4 example. AAAA";

    #[test]
    fn hand_written_changes_round_trip() {
        let a = "www A 192.0.2.1\n";
        let a2 = "www A 192.0.2.1\nwww A 192.0.2.2\n";
        let cases: Vec<(String, String)> = vec![
            // Add and remove an A record, a name, a record of an RRset.
            (String::new(), a.into()),
            (a.into(), a2.into()),
            (a2.into(), "www A 192.0.2.2\nwww TXT hello\n".into()),
            // A whole RRset's TTL changes (diff removes and re-adds it).
            (a2.into(), "www 600 A 192.0.2.1\nwww 600 A 192.0.2.2\n".into()),
            // A delegation with glue below it, added or removed whole.
            (
                a.into(),
                format!("{a}sub NS ns.sub\nsub NS ns.other.\nns.sub A 192.0.2.7\nx.ns.sub AAAA ::1\n"),
            ),
            // A delegation put over names that stay (they become glue),
            // and taken away (the glue becomes ordinary data).
            (
                "sub A 192.0.2.1\nns.sub A 192.0.2.7\nx.y.sub AAAA ::1\n".into(),
                "sub A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.7\nx.y.sub AAAA ::1\n".into(),
            ),
            // The NS RRset of a delegation replaced: the cut stays.
            (
                "sub NS ns.sub\nns.sub A 192.0.2.7\n".into(),
                "sub NS ns2.sub\nns.sub A 192.0.2.7\n".into(),
            ),
            // A delegation with glue, then part of the glue goes.
            (
                "sub NS ns.sub\nns.sub A 192.0.2.7\na.b.sub A 192.0.2.8\n".into(),
                "sub NS ns.sub\nns.sub A 192.0.2.7\n".into(),
            ),
            // A deep name creates (and then removes) empty non-terminals.
            (String::new(), "a.b.c A 192.0.2.1\n".into()),
            (
                "a.b.c A 192.0.2.1\nd.c A 192.0.2.2\n".into(),
                "d.c A 192.0.2.2\n".into(),
            ),
            (
                "a.b.c A 192.0.2.1\n".into(),
                "a.b.c A 192.0.2.1\nx.y.z.b.c A 192.0.2.1\n".into(),
            ),
            // An empty non-terminal gets data, and loses it again.
            (
                "a.b.c A 192.0.2.1\n".into(),
                "a.b.c A 192.0.2.1\nb.c TXT x\n".into(),
            ),
            // A name with data whose last records go while names stay
            // below it (it becomes an empty non-terminal).
            (
                "b.c TXT x\na.b.c A 192.0.2.1\n".into(),
                "a.b.c A 192.0.2.1\n".into(),
            ),
            // A whole branch goes.
            (
                "a.b.c A 192.0.2.1\nb.c TXT x\nc MX 10 www\nwww A 192.0.2.1\n".into(),
                "www A 192.0.2.1\n".into(),
            ),
            // CNAME (with DNSSEC records beside it).
            (a.into(), format!("{a}alias CNAME www\nalias {SIG_A}\n")),
            (
                "alias CNAME www\n".into(),
                "alias CNAME www2\n".into(),
            ),
            (
                "alias CNAME www\n".into(),
                "alias A 192.0.2.1\n".into(),
            ),
            // DNAME, alone and with names below it; nested DNAMEs: only
            // the topmost is flagged, so removing it flags the one below.
            (a.into(), format!("{a}d DNAME target.\n")),
            (
                "x.d A 192.0.2.1\ny.x.d DNAME other.\n".into(),
                "d DNAME target.\nx.d A 192.0.2.1\ny.x.d DNAME other.\n".into(),
            ),
            (
                "y.x.d DNAME other.\n".into(),
                "@ DNAME target.\ny.x.d DNAME other.\n".into(),
            ),
            // RRSIGs beside their RRset, changed, and RRSIG-only sets.
            (format!("www A 192.0.2.1\nwww {SIG_A}\n"), format!("www A 192.0.2.1\nwww {SIG_A2}\n")),
            (format!("www A 192.0.2.1\nwww {SIG_A}\n"), format!("www {SIG_A}\n")),
            (format!("www {SIG_A}\nwww {SIG_MX}\n"), format!("www A 192.0.2.1\nwww {SIG_A}\nwww {SIG_MX}\n")),
            (
                format!("www A 192.0.2.1\nwww NSEC www.example. A RRSIG NSEC\nwww {SIG_MX}\n"),
                format!("www A 192.0.2.1\nwww {SIG_A}\nwww NSEC www.example. A RRSIG NSEC\nwww {SIG_MX}\nwww DNSKEY 256 3 8 AwEAAQ==\n"),
            ),
            (format!("ent.x {SIG_A}\n"), "x A 192.0.2.1\n".into()),
            // Only the SOA and its signature change.
            (a.into(), a.into()),
            (format!("@ {SIG_SOA}\n"), "@ RRSIG SOA 8 1 60 20300101000000 20200101000000 9 example. AAAA\n".into()),
            // The apex NS RRset changes.
            (a.into(), format!("{a}@ NS ns2.example.\n")),
        ];
        for (old, new) in &cases {
            both_ways(old, new);
        }
    }

    #[test]
    fn flags_follow_cuts_and_dnames() {
        let old = text_zone(1, "sub A 192.0.2.1\nns.sub A 192.0.2.7\nx.y.sub AAAA ::1\n");
        let new = text_zone(
            2,
            "sub NS ns.sub\nsub A 192.0.2.1\nns.sub A 192.0.2.7\nx.y.sub AAAA ::1\n",
        );
        let v = round_trip(&old, &new, "cut");
        assert!(node(&v, "sub.example.").unwrap().has_flag(flags::CUT));
        for n in ["ns.sub.example.", "y.sub.example.", "x.y.sub.example."] {
            assert_eq!(node(&v, n).unwrap().flags(), flags::BELOW_CUT, "{n}");
            assert_eq!(node(&old, n).unwrap().flags(), 0, "{n}: old untouched");
        }
        let v = round_trip(
            &new,
            &text_zone(3, "d DNAME t.\nx.d A 192.0.2.1\n"),
            "dname",
        );
        assert!(node(&v, "d.example.").unwrap().has_flag(flags::DNAME));
        assert!(node(&v, "sub.example.").is_none());
        assert!(node(&v, "y.sub.example.").is_none());
    }

    #[test]
    fn unchanged_nodes_are_shared() {
        let body: String = (0..1000).map(|i| format!("h{i} A 192.0.2.1\n")).collect();
        let old = text_zone(1, &body);
        let new = text_zone(2, &format!("{body}h5 A 192.0.2.2\n"));
        let v = round_trip(&old, &new, "one record");
        let shared = v
            .nodes()
            .filter(|n| old.get(n.key()).is_some_and(|o| o.same(n)))
            .count();
        // All but the apex and h5.
        assert_eq!(shared, v.node_count() - 2);
    }

    #[test]
    fn ttl_of_a_record_joining_an_rrset_is_the_rrsets() {
        let old = text_zone(1, "www A 192.0.2.1\n");
        let mut c = diff(&old, &text_zone(2, "www A 192.0.2.1\n"));
        let www = wire("www.example.");
        c.added.push(Record {
            owner: www.clone(),
            rtype: rtype::A,
            ttl: 900,
            rdata: vec![192, 0, 2, 2],
        });
        let v = old.apply(&c).unwrap();
        let a = node(&v, "www.example.").unwrap().rrset(rtype::A).unwrap();
        assert_eq!((a.len(), a.ttl()), (2, 300));
        assert_same(
            &v,
            &text_zone(2, "www A 192.0.2.1\nwww 900 A 192.0.2.2\n"),
            "first TTL wins",
        );
        // The whole RRset replaced: the new TTL, from its first record.
        let mut c = diff(&v, &text_zone(3, ""));
        c.added = vec![
            Record {
                owner: www.clone(),
                rtype: rtype::A,
                ttl: 30,
                rdata: vec![192, 0, 2, 9],
            },
            Record {
                owner: www.clone(),
                rtype: rtype::A,
                ttl: 40,
                rdata: vec![192, 0, 2, 8],
            },
        ];
        let w = v.apply(&c).unwrap();
        let a = node(&w, "www.example.").unwrap().rrset(rtype::A).unwrap();
        assert_eq!((a.len(), a.ttl()), (2, 30));
    }

    fn rec(owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) -> Record {
        Record {
            owner: wire(owner),
            rtype,
            ttl,
            rdata: rdata.to_vec(),
        }
    }

    fn invalid(e: ApplyError, part: &str) {
        match e {
            ApplyError::Invalid(m) if m.contains(part) => {}
            other => panic!("expected Invalid({part:?}), got {other:?}"),
        }
    }

    #[test]
    fn errors_apply_nothing() {
        let body =
            "www A 192.0.2.1\nwww TXT hi\nsub A 192.0.2.1\nx.sub TXT below\nalias CNAME www\n";
        let old = text_zone(1, body);
        let base = diff(&old, &text_zone(2, body));
        let with = |removed: Vec<Record>, added: Vec<Record>| Changeset {
            removed,
            added,
            ..base.clone()
        };
        let a1 = rec("www.example.", rtype::A, 300, &[192, 0, 2, 1]);
        let e = |c: &Changeset| old.apply(c).unwrap_err();

        let mut c = base.clone();
        c.from_serial = Serial(7);
        assert_eq!(
            e(&c),
            ApplyError::SerialMismatch {
                zone: Serial(1),
                changeset: Serial(7)
            }
        );
        let mut c = base.clone();
        c.old_soa.ttl += 1;
        assert_eq!(e(&c), ApplyError::SoaMismatch);
        let mut c = base.clone();
        c.old_soa.rdata = soa_rdata(9);
        assert_eq!(e(&c), ApplyError::SoaMismatch);
        let mut c = base.clone();
        c.to_serial = Serial(5);
        invalid(e(&c), "serial 2");
        let mut c = base.clone();
        c.new_soa.rdata.truncate(10);
        invalid(e(&c), "malformed SOA");

        // Removing what is not there: absent, another TTL, another name,
        // another type.
        let missing = |r: &Record| ApplyError::MissingRecord {
            owner: r.owner.clone(),
            rtype: r.rtype,
        };
        for r in [
            rec("www.example.", rtype::A, 300, &[192, 0, 2, 9]),
            rec("www.example.", rtype::A, 301, &[192, 0, 2, 1]),
            rec("nope.example.", rtype::A, 300, &[192, 0, 2, 1]),
            rec("www.example.", rtype::AAAA, 300, &[192, 0, 2, 1]),
            rec("www.example.", rtype::RRSIG, 300, &[0, 1]),
            rec("www.example.", rtype::RRSIG, 300, &[]),
        ] {
            assert_eq!(e(&with(vec![r.clone()], vec![])), missing(&r));
        }
        // The same record removed twice.
        assert_eq!(e(&with(vec![a1.clone(), a1.clone()], vec![])), missing(&a1));
        // Adding what is there (with its TTL or another), or twice.
        let dup = ApplyError::DuplicateRecord {
            owner: a1.owner.clone(),
            rtype: rtype::A,
        };
        assert_eq!(e(&with(vec![], vec![a1.clone()])), dup);
        let mut other_ttl = a1.clone();
        other_ttl.ttl = 5;
        assert_eq!(e(&with(vec![], vec![other_ttl])), dup);
        let new_a = rec("new.example.", rtype::A, 300, &[192, 0, 2, 1]);
        assert!(matches!(
            e(&with(vec![], vec![new_a.clone(), new_a.clone()])),
            ApplyError::DuplicateRecord { .. }
        ));
        // Removed, then added back: fine (removals come first).
        let v = old
            .apply(&with(vec![a1.clone()], vec![a1.clone()]))
            .unwrap();
        assert_same(&v, &text_zone(2, body), "remove and add back");

        let out = rec("www.example.org.", rtype::A, 300, &[192, 0, 2, 1]);
        assert_eq!(
            e(&with(vec![], vec![out.clone()])),
            ApplyError::OutOfZone {
                owner: out.owner.clone()
            }
        );
        assert!(matches!(
            e(&with(vec![out], vec![])),
            ApplyError::OutOfZone { .. }
        ));
        let mut bad = new_a.clone();
        bad.owner = vec![3, b'w', b'w'];
        invalid(e(&with(vec![], vec![bad])), "malformed owner");

        // The zone's rules.
        let cname = rec("alias.example.", rtype::CNAME, 300, &wire("x.example."));
        invalid(e(&with(vec![], vec![cname])), "more than one CNAME");
        let cname = rec("www.example.", rtype::CNAME, 300, &wire("x.example."));
        invalid(e(&with(vec![], vec![cname])), "CNAME and other data");
        let beside = rec("alias.example.", rtype::TXT, 300, b"\x01x");
        invalid(e(&with(vec![], vec![beside])), "CNAME and other data");
        let dname = |t: &str| rec("d.example.", rtype::DNAME, 300, &wire(t));
        invalid(
            e(&with(vec![], vec![dname("a."), dname("b.")])),
            "more than one DNAME",
        );
        // NS over a name with a TXT below it that the change leaves alone.
        let ns = rec("sub.example.", rtype::NS, 300, &wire("ns.sub.example."));
        invalid(e(&with(vec![], vec![ns.clone()])), "below the delegation");
        // ... fine once the TXT goes in the same change.
        let txt = rec("x.sub.example.", rtype::TXT, 300, b"\x05below");
        let v = old.apply(&with(vec![txt], vec![ns])).unwrap();
        assert!(node(&v, "sub.example.").unwrap().has_flag(flags::CUT));
        assert!(node(&v, "x.sub.example.").is_none());
        let sub = text_zone(1, "sub NS ns.sub\nns.sub A 192.0.2.1\n");
        let c = Changeset {
            added: vec![rec("ns.sub.example.", rtype::TXT, 300, b"\x01x")],
            ..diff(&sub, &text_zone(2, "sub NS ns.sub\nns.sub A 192.0.2.1\n"))
        };
        invalid(sub.apply(&c).unwrap_err(), "only glue");
        let apex_ns = rec("example.", rtype::NS, 300, &wire("ns.example."));
        invalid(
            e(&with(vec![apex_ns], vec![])),
            "no NS records at the zone apex",
        );
        let soa = rec("example.", rtype::SOA, 60, &soa_rdata(1));
        invalid(e(&with(vec![soa.clone()], vec![])), "old and new SOA");
        invalid(e(&with(vec![], vec![soa])), "old and new SOA");
        let soa = rec("www.example.", rtype::SOA, 60, &soa_rdata(1));
        invalid(e(&with(vec![], vec![soa])), "not the zone apex");
        let opt = rec("www.example.", rtype::OPT, 60, &[]);
        invalid(e(&with(vec![], vec![opt])), "not a record type");
        let sig = rec("www.example.", rtype::RRSIG, 60, &[1]);
        invalid(e(&with(vec![], vec![sig])), "RRSIG RDATA too short");
        let big = rec("www.example.", rtype::TXT, 60, &vec![0; 70_000]);
        invalid(e(&with(vec![], vec![big])), "65535");

        // The version applied to is as it was: the base change still
        // applies, and gives the same as a fresh build.
        let v = old.apply(&base).unwrap();
        assert_same(&v, &text_zone(2, body), "after errors");
        assert_same(&old, &text_zone(1, body), "old untouched");
    }

    #[test]
    fn apply_all_chains() {
        let bodies = [
            "",
            "a.b.c A 192.0.2.1\n",
            "a.b.c A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.2\n",
            "sub NS ns.sub\nns.sub A 192.0.2.2\nwww CNAME sub\n",
            "www A 192.0.2.1\n",
        ];
        let versions: Vec<ZoneVersion> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| text_zone(i as u32 + 1, b))
            .collect();
        let changes: Vec<Changeset> = versions.windows(2).map(|w| diff(&w[0], &w[1])).collect();
        let last = versions[0].apply_all(&changes).unwrap();
        assert_same(&last, &versions[4], "chain");
        let same = versions[0].apply_all(&[]).unwrap();
        assert_same(&same, &versions[0], "empty chain");
        // Out of order: the second one does not start where the first ends.
        assert!(matches!(
            versions[0].apply_all(&[changes[1].clone()]),
            Err(ApplyError::SerialMismatch { .. })
        ));
    }

    use crate::testing::Rng;

    fn random_owner(rng: &mut Rng) -> Vec<u8> {
        const LABELS: [&str; 8] = ["a", "b", "c", "d", "e", "f", "ns", "x"];
        let depth = *rng.pick(&[1, 1, 2, 2, 2, 3, 3, 4]);
        let mut name = String::new();
        for _ in 0..depth {
            name.push_str(LABELS[rng.below(LABELS.len())]);
            name.push('.');
        }
        name.push_str("example.");
        wire(&name)
    }

    fn fake_rrsig(covered: u16, tag: u8) -> Vec<u8> {
        let mut r = covered.to_be_bytes().to_vec();
        r.extend_from_slice(b"rest of an RRSIG ");
        r.push(tag);
        r
    }

    fn random_record(rng: &mut Rng, owner: Vec<u8>) -> Spec {
        let v = rng.below(3) as u8;
        let ttl = *rng.pick(&[60, 300, 3600]);
        let (t, rdata) = match rng.below(20) {
            0..=5 => (rtype::A, vec![192, 0, 2, v]),
            6..=7 => (rtype::AAAA, vec![v; 16]),
            8..=9 => (rtype::TXT, vec![1, b'a' + v]),
            10 => {
                let mut r = vec![0, 10];
                r.extend(wire("mail.example."));
                r[1] += v;
                (rtype::MX, r)
            }
            11..=12 => (
                rtype::NS,
                wire(["ns1.x.", "ns2.x.", "ns.d.example."][v as usize]),
            ),
            13 => (rtype::CNAME, wire(["t1.", "t2.", "t3."][v as usize])),
            14 => (rtype::DNAME, wire(["t1.", "t2.", "t3."][v as usize])),
            15 => (rtype::DS, vec![0, 1, 8, 2, v]),
            _ => {
                let covered = *rng.pick(&[
                    rtype::A,
                    rtype::A,
                    rtype::TXT,
                    rtype::NS,
                    rtype::MX,
                    rtype::CNAME,
                    rtype::DS,
                    rtype::RRSIG,
                ]);
                (rtype::RRSIG, fake_rrsig(covered, v))
            }
        };
        (owner, t, ttl, rdata)
    }

    /// Drops the records that would make the builder refuse the zone:
    /// anything but glue below a cut, data beside a CNAME, a second CNAME
    /// or DNAME, a CNAME at the apex.
    fn sanitize(records: Vec<Spec>) -> Vec<Spec> {
        let key = |o: &[u8]| name::key_of(o).unwrap();
        let apex = key(&wire("example."));
        let ns_owners: BTreeSet<Box<[u8]>> = records
            .iter()
            .filter(|r| r.1 == rtype::NS)
            .map(|r| key(&r.0))
            .filter(|k| *k != apex)
            .collect();
        let strictly_below = |k: &[u8], a: &[u8]| k.len() > a.len() && k.starts_with(a);
        let cuts: Vec<&Box<[u8]>> = ns_owners
            .iter()
            .filter(|k| !ns_owners.iter().any(|a| strictly_below(k, a)))
            .collect();
        let mut first_cname: BTreeMap<Box<[u8]>, Vec<u8>> = BTreeMap::new();
        let mut first_dname: BTreeMap<Box<[u8]>, Vec<u8>> = BTreeMap::new();
        for r in &records {
            let k = key(&r.0);
            if r.1 == rtype::CNAME && k != apex {
                first_cname.entry(k).or_insert_with(|| r.3.clone());
            } else if r.1 == rtype::DNAME {
                first_dname.entry(k).or_insert_with(|| r.3.clone());
            }
        }
        records
            .into_iter()
            .filter(|r| {
                let k = key(&r.0);
                if cuts.iter().any(|c| strictly_below(&k, c)) {
                    return matches!(r.1, rtype::A | rtype::AAAA);
                }
                if let Some(target) = first_cname.get(&k) {
                    return match r.1 {
                        rtype::CNAME => r.3 == *target,
                        t => matches!(t, rtype::RRSIG | rtype::NSEC),
                    };
                }
                match r.1 {
                    rtype::CNAME => false, // at the apex
                    rtype::DNAME => first_dname.get(&k) == Some(&r.3),
                    _ => true,
                }
            })
            .collect()
    }

    fn random_records(rng: &mut Rng) -> Vec<Spec> {
        let names = 50 + rng.below(150);
        let mut out = Vec::new();
        for _ in 0..names {
            let owner = random_owner(rng);
            for _ in 0..1 + rng.below(3) {
                out.push(random_record(rng, owner.clone()));
            }
        }
        out
    }

    fn random_edit(rng: &mut Rng, old: &[Spec]) -> Vec<Spec> {
        let mut recs = old.to_vec();
        let under = |r: &Spec, o: &[u8]| name::is_subdomain(&r.0, o);
        for _ in 0..1 + rng.below(6) {
            let some_owner = |rng: &mut Rng, recs: &[Spec]| {
                if recs.is_empty() {
                    random_owner(rng)
                } else {
                    rng.pick(recs).0.clone()
                }
            };
            match rng.below(10) {
                0 | 1 if !recs.is_empty() => {
                    let i = rng.below(recs.len());
                    recs.remove(i);
                }
                2 => {
                    let o = some_owner(rng, &recs);
                    recs.push(random_record(rng, o));
                }
                3 => {
                    let o = random_owner(rng);
                    recs.push(random_record(rng, o));
                }
                4 if !recs.is_empty() => {
                    // A whole RRset's TTL changes.
                    let (o, t) = {
                        let r = rng.pick(&recs);
                        (r.0.clone(), r.1)
                    };
                    let ttl = *rng.pick(&[60, 300, 3600, 7200]);
                    for r in recs.iter_mut().filter(|r| r.0 == o && r.1 == t) {
                        r.2 = ttl;
                    }
                }
                5 => {
                    // A delegation over a name that may have names below.
                    let o = some_owner(rng, &recs);
                    recs.push((o, rtype::NS, 300, wire("ns1.x.")));
                }
                6 if !recs.is_empty() => {
                    // A delegation (or any RRset) goes, its glue stays.
                    let o = rng.pick(&recs).0.clone();
                    recs.retain(|r| !(r.0 == o && r.1 == rtype::NS));
                }
                7 if !recs.is_empty() => {
                    // A whole branch goes.
                    let o = rng.pick(&recs).0.clone();
                    recs.retain(|r| !under(r, &o));
                }
                8 => {
                    let o = some_owner(rng, &recs);
                    let t = wire(["t1.", "t2."][rng.below(2)]);
                    recs.retain(|r| !(r.0 == o && r.1 == rtype::DNAME));
                    recs.push((o, rtype::DNAME, 300, t));
                }
                _ => {
                    // A deep new name (new empty non-terminals).
                    let mut o = random_owner(rng);
                    for _ in 0..rng.below(3) {
                        let mut deeper = wire("z");
                        deeper.pop();
                        deeper.extend(o);
                        o = deeper;
                    }
                    recs.push(random_record(rng, o));
                }
            }
        }
        sanitize(recs)
    }

    #[test]
    fn random_changes_round_trip() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut rescans, mut ents_added, mut ents_removed) = (0, 0, 0);
        for round in 0..300 {
            let mut recs = sanitize(random_records(&mut rng));
            let mut serial = rng.below(1000) as u32;
            let mut built = spec_zone(serial, &recs);
            // The version being changed is each time the result of the
            // previous apply, so counts and flags are carried along.
            let mut current = spec_zone(serial, &recs);
            for step in 0..8 {
                let next_recs = if step == 7 {
                    sanitize(random_records(&mut rng)) // a whole new zone
                } else {
                    random_edit(&mut rng, &recs)
                };
                serial = serial.wrapping_add(1);
                let next = spec_zone(serial, &next_recs);
                let what = format!("round {round} step {step}");
                rescans += usize::from(needs_rescan(&current, &next));
                let ents = |v: &ZoneVersion| {
                    v.nodes()
                        .filter(|n| n.is_empty_nonterminal())
                        .map(|n| n.key().to_vec())
                        .collect::<BTreeSet<_>>()
                };
                let (before, after) = (ents(&current), ents(&next));
                ents_added += usize::from(after.difference(&before).next().is_some());
                ents_removed += usize::from(before.difference(&after).next().is_some());
                let from_built = round_trip(&built, &next, &what);
                current = round_trip(&current, &next, &what);
                assert_same(&current, &from_built, &what);
                recs = next_recs;
                built = next;
            }
        }
        // The walk below a moved cut or DNAME was exercised.
        println!(
            "of 2400 changes: {rescans} move a cut or DNAME above untouched names, \
             {ents_added} add and {ents_removed} remove empty non-terminals"
        );
        assert!(rescans > 50, "{rescans}");
        assert!(ents_added > 200 && ents_removed > 200);
    }

    /// Whether applying diff(old, new) moves a cut or DNAME above a name
    /// the change does not touch (the one case that scans the index).
    fn needs_rescan(old: &ZoneVersion, new: &ZoneVersion) -> bool {
        let c = diff(old, new);
        let origin_len = name::key_of(old.origin()).unwrap().len();
        let touched: BTreeSet<Box<[u8]>> = c
            .removed
            .iter()
            .chain(&c.added)
            .map(|r| name::key_of(&r.owner).unwrap())
            .collect();
        let moved = |k: &[u8]| {
            let types = |v: &ZoneVersion| {
                v.get(k).map_or((false, false), |n| {
                    let ns = k.len() > origin_len && n.rrset(rtype::NS).is_some();
                    (ns, n.rrset(rtype::DNAME).is_some())
                })
            };
            types(old) != types(new)
        };
        old.nodes().any(|n| {
            let k = n.key();
            new.get(k).is_some()
                && !touched.contains(k)
                && ancestor_lens(k, origin_len).iter().any(|&l| moved(&k[..l]))
        })
    }

    fn big_zone(names: u32) -> ZoneVersion {
        let mut b = ZoneBuilder::new(&wire("example.")).unwrap();
        b.add(&wire("example."), rtype::SOA, 60, &soa_rdata(1), None);
        b.add(&wire("example."), rtype::NS, 60, &wire("ns.example."), None);
        let mut owner = Vec::new();
        for i in 0..names {
            let label = format!("host{i}");
            owner.clear();
            owner.push(label.len() as u8);
            owner.extend_from_slice(label.as_bytes());
            owner.extend(wire("example."));
            b.add(&owner, rtype::A, 300, &i.to_be_bytes(), None);
        }
        b.finish().unwrap().0
    }

    /// A change of one record (plus the SOA), on top of `v`.
    fn one_record(v: &ZoneVersion, record: Record, add: bool) -> Changeset {
        let mut soa = diff(v, v);
        soa.to_serial = v.serial().plus(1);
        soa.new_soa.rdata = crate::zone::set_soa_serial(&soa.new_soa.rdata, soa.to_serial);
        if add {
            soa.added.push(record);
        } else {
            soa.removed.push(record);
        }
        soa
    }

    /// Median time of `apply` over a few runs of each kind of change.
    fn time_small_changes(v: &ZoneVersion) -> Vec<(&'static str, Duration)> {
        let kinds: [(&str, Record, bool); 4] = [
            (
                "add A at a new name",
                rec("new.example.", rtype::A, 300, &[192, 0, 2, 1]),
                true,
            ),
            (
                "add A to an existing name",
                rec("host7.example.", rtype::A, 300, &[192, 0, 2, 1]),
                true,
            ),
            (
                "remove a name's only record",
                rec("host7.example.", rtype::A, 300, &7u32.to_be_bytes()),
                false,
            ),
            (
                "add a name 3 labels deep (2 new ENTs)",
                rec("a.b.c.example.", rtype::A, 300, &[192, 0, 2, 1]),
                true,
            ),
        ];
        kinds
            .into_iter()
            .map(|(what, r, add)| {
                let c = one_record(v, r, add);
                let mut times: Vec<Duration> = (0..15)
                    .map(|_| {
                        let t = Instant::now();
                        let next = v.apply(&c).unwrap();
                        let took = t.elapsed();
                        assert_eq!(
                            next.record_count(),
                            v.record_count() + usize::from(add) * 2 - 1
                        );
                        took
                    })
                    .collect();
                times.sort();
                (what, times[times.len() / 2])
            })
            .collect()
    }

    #[test]
    fn one_record_in_a_large_zone_is_fast() {
        let v = big_zone(200_000);
        for (what, took) in time_small_changes(&v) {
            println!("200,000 names: {what}: {took:?}");
            assert!(took < Duration::from_millis(50), "{what}: {took:?}");
        }
        let c = one_record(
            &v,
            rec("new.example.", rtype::A, 300, &[192, 0, 2, 1]),
            true,
        );
        let next = v.apply(&c).unwrap();
        assert_eq!(next.node_count(), v.node_count() + 1);
        assert_eq!(diff(&v, &next), c);
    }

    /// `cargo test --release --lib zone::apply -- --ignored --nocapture`
    #[test]
    #[ignore = "a million names: run by hand for the figure"]
    fn one_record_in_a_million_record_zone() {
        let t = Instant::now();
        let v = big_zone(1_000_000);
        println!("build of 1,000,000 names: {:?}", t.elapsed());
        let mut nodes: Vec<Node> = v.nodes().cloned().collect();
        nodes.sort_unstable_by(|a, b| a.key().cmp(b.key()));
        let t = Instant::now();
        let d = Descendants::from_sorted(&nodes);
        println!("of which descendant counts: {:?}", t.elapsed());
        assert_eq!(d, v.descendants);
        for (what, took) in time_small_changes(&v) {
            println!("1,000,000 names: {what}: {took:?}");
        }
        // A large change: 10,000 new names.
        let mut c = one_record(
            &v,
            rec("new.example.", rtype::A, 300, &[192, 0, 2, 1]),
            true,
        );
        c.added.extend(
            (0..10_000u32).map(|i| rec(&format!("n{i}.example."), rtype::A, 300, &i.to_be_bytes())),
        );
        let t = Instant::now();
        let w = v.apply(&c).unwrap();
        println!("1,000,000 names: add 10,001 names: {:?}", t.elapsed());
        assert_eq!(w.node_count(), v.node_count() + 10_001);
        // The one slow path: a cut put over a name the change leaves.
        let glue = rec("ns.host5.example.", rtype::A, 300, &[192, 0, 2, 1]);
        let v = v.apply(&one_record(&v, glue, true)).unwrap();
        let ns = rec("host5.example.", rtype::NS, 300, &wire("ns.host5.example."));
        let c = one_record(&v, ns, true);
        let t = Instant::now();
        let w = v.apply(&c).unwrap();
        println!(
            "1,000,000 names: NS over a name with untouched glue (scan): {:?}",
            t.elapsed()
        );
        assert!(node(&w, "ns.host5.example.")
            .unwrap()
            .has_flag(flags::BELOW_CUT));
    }
}
