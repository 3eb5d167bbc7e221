//! Building a [`ZoneVersion`] from records, with the checks every zone must
//! pass before it may be served (RFC 1034 §4.2.1, RFC 2181 §10, RFC 6672).

use super::apply::Descendants;
use super::index::{IndexHasher, NameIndex};
use super::node::{push_rdata, Node, NodeBlocks, RrsetData};
use super::{flags, rtype, soa_field, Retire, ZoneVersion};
use crate::name;
use domain::base::iana::Rtype;
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

/// One node's records while it is checked and packed.
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
    /// File id and line of the RRset's first record (0 = none).
    pos: (u16, u32),
}

/// Where a record came from: a file and a line.
pub type RecordPos<'a> = (&'a std::path::Path, u32);

/// Collects records, then checks them and builds an immutable version.
///
/// Records are appended to one flat arena as they come (about 15 octets
/// beyond the owner key and RDATA each), sorted once by owner, type and
/// RDATA, and packed node by node: no per-record allocation, and
/// duplicates end up side by side.
pub struct ZoneBuilder {
    origin: Vec<u8>,
    origin_key: Box<[u8]>,
    /// `key_len u16 ‖ key ‖ type u16 ‖ ttl u32 ‖ file u16 ‖ line u32 ‖
    /// rdlen u16 ‖ rdata`, native endian, one after the other.
    arena: Vec<u8>,
    /// Offset of each record in the arena, in arrival order.
    records: Vec<u32>,
    files: Vec<std::path::PathBuf>,
    /// Position of the apex SOA, for errors about it.
    apex_soa_pos: Option<String>,
    /// Reused to pack each node.
    blocks: NodeBlocks,
    errors: Vec<BuildError>,
    warnings: Vec<BuildError>,
    /// The index hasher to build with (`hash_like`); else a new one.
    hasher: Option<IndexHasher>,
}

/// A record in the arena.
struct Entry<'a> {
    key: &'a [u8],
    rtype: u16,
    ttl: u32,
    file: u16,
    line: u32,
    rdata: &'a [u8],
}

/// Reads the record at `off`; the arena is written only by `add`, so the
/// layout holds (a short read yields an empty record, never a panic).
fn entry(arena: &[u8], off: u32) -> Entry<'_> {
    let a = arena.get(off as usize..).unwrap_or(&[]);
    let u16_at = |i: usize| {
        a.get(i..i + 2)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        a.get(i..i + 4)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let klen = u16_at(0) as usize;
    let key = a.get(2..2 + klen).unwrap_or(&[]);
    let at = 2 + klen;
    let rdlen = u16_at(at + 12) as usize;
    Entry {
        key,
        rtype: u16_at(at),
        ttl: u32_at(at + 2),
        file: u16_at(at + 6),
        line: u32_at(at + 8),
        rdata: a.get(at + 14..at + 14 + rdlen).unwrap_or(&[]),
    }
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
            arena: Vec::new(),
            records: Vec::new(),
            files: Vec::new(),
            apex_soa_pos: None,
            blocks: NodeBlocks::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            hasher: None,
        })
    }

    /// Indexes the version built as `like` does, so that diffing one
    /// against the other walks both side by side (a reload, diffed
    /// against the version served, see `journal::diff`).
    pub fn hash_like(&mut self, like: &ZoneVersion) {
        self.hasher = Some(like.index_hasher().clone());
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

    fn set_pos(&self, set: &DraftSet) -> Option<String> {
        self.pos_string(set.pos.0, set.pos.1)
    }

    fn pos_string(&self, file: u16, line: u32) -> Option<String> {
        let f = self.files.get(file.checked_sub(1)? as usize)?;
        Some(format!("{}:{line}", f.display()))
    }

    /// Adds one record. Duplicates are dropped (RFC 2181 §5); a TTL that
    /// differs within an RRset is set to the first one, with a warning
    /// (RFC 2181 §5.2), as BIND and Knot do.
    pub fn add(
        &mut self,
        owner: &[u8],
        rr_type: u16,
        ttl: u32,
        rdata: &[u8],
        pos: Option<RecordPos<'_>>,
    ) {
        let pos_text = || pos.map(|(f, l)| format!("{}:{l}", f.display()));
        let Some(key) = name::KeyBuf::new(owner) else {
            self.error(pos_text().as_deref(), "invalid owner name".into());
            return;
        };
        let key = key.as_slice();
        if !key.starts_with(&self.origin_key) {
            let message = format!(
                "out-of-zone record {} (zone is {})",
                name::display(owner),
                name::display(&self.origin)
            );
            self.error(pos_text().as_deref(), message);
            return;
        }
        if rdata.len() > u16::MAX as usize {
            self.error(
                pos_text().as_deref(),
                "RDATA longer than 65535 octets".into(),
            );
            return;
        }
        if matches!(rr_type, rtype::OPT | rtype::TSIG | rtype::TKEY)
            || (rtype::IXFR..=rtype::ANY).contains(&rr_type)
        {
            let message = format!(
                "{} is not a record type a zone can hold",
                type_name(rr_type)
            );
            self.error(pos_text().as_deref(), message);
            return;
        }
        if rr_type == rtype::RRSIG && rdata.len() < 2 {
            self.error(pos_text().as_deref(), "RRSIG RDATA too short".into());
            return;
        }
        let Ok(offset) = u32::try_from(self.arena.len()) else {
            self.error(pos_text().as_deref(), "zone larger than 4 GiB".into());
            return;
        };
        let (file, line) = match pos {
            Some((path, line)) => (self.file_id(path), line),
            None => (0, 0),
        };
        let a = &mut self.arena;
        a.extend_from_slice(&(key.len() as u16).to_ne_bytes());
        a.extend_from_slice(key);
        a.extend_from_slice(&rr_type.to_ne_bytes());
        a.extend_from_slice(&ttl.to_ne_bytes());
        a.extend_from_slice(&file.to_ne_bytes());
        a.extend_from_slice(&line.to_ne_bytes());
        a.extend_from_slice(&(rdata.len() as u16).to_ne_bytes());
        a.extend_from_slice(rdata);
        self.records.push(offset);
    }

    /// 1-based index of a file (0 = no position).
    fn file_id(&mut self, path: &std::path::Path) -> u16 {
        if let Some(i) = self.files.iter().rposition(|f| f == path) {
            return (i + 1) as u16;
        }
        if self.files.len() >= u16::MAX as usize - 1 {
            return 0;
        }
        self.files.push(path.to_owned());
        self.files.len() as u16
    }

    /// Problems that do not stop the zone from loading.
    pub fn warnings(&self) -> &[BuildError] {
        &self.warnings
    }

    /// Checks the zone and builds the version; all problems found are
    /// returned together.
    pub fn finish(mut self) -> Result<(ZoneVersion, Vec<BuildError>), Vec<BuildError>> {
        let mut order = std::mem::take(&mut self.records);
        let arena = std::mem::take(&mut self.arena);
        // Owner, then type, then RDATA; arrival order last, so the first
        // record of an RRset comes first and duplicates are neighbours.
        // The 8 key octets after the apex decide most comparisons without
        // touching the arena (every key starts with the apex's key).
        let skip = self.origin_key.len();
        let mut keyed: Vec<(u64, u32)> = order
            .iter()
            .map(|&o| {
                let key = entry(&arena, o).key;
                let mut prefix = [0u8; 8];
                let tail = key.get(skip..).unwrap_or(&[]);
                let n = tail.len().min(8);
                prefix[..n].copy_from_slice(&tail[..n]);
                (u64::from_be_bytes(prefix), o)
            })
            .collect();
        keyed.sort_unstable_by(|&(pa, a), &(pb, b)| {
            pa.cmp(&pb).then_with(|| {
                let (x, y) = (entry(&arena, a), entry(&arena, b));
                (x.key, x.rtype, x.rdata, a).cmp(&(y.key, y.rtype, y.rdata, b))
            })
        });
        order.clear();
        order.extend(keyed.iter().map(|&(_, o)| o));
        drop(keyed);
        let (nodes, record_count) = self.pack_nodes(&arena, &order);
        drop(order);
        drop(arena);
        let apex = nodes.iter().find(|n| n.key() == &*self.origin_key).cloned();
        self.check_apex(apex.as_ref());
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let Some(apex) = apex else {
            return Err(vec![BuildError {
                pos: None,
                message: "zone has no apex".into(),
            }]);
        };
        let serial = apex
            .rrset(rtype::SOA)
            .and_then(|s| s.rdatas().next())
            .and_then(super::soa_serial)
            .unwrap_or_default();
        let descendants = Descendants::from_sorted(&nodes);
        let denial = super::denial::Denial::build(&nodes, &apex);
        let version = ZoneVersion {
            origin_labels: name::label_count(&self.origin),
            origin: self.origin.into_boxed_slice(),
            serial,
            _retire: Retire::for_names(nodes.len()),
            nodes: match self.hasher.take() {
                Some(hasher) => NameIndex::build_with(nodes, hasher),
                None => NameIndex::build(nodes),
            },
            apex,
            record_count,
            descendants,
            denial,
        };
        Ok((version, self.warnings))
    }

    fn check_apex(&mut self, apex: Option<&Node>) {
        let origin = name::display(&self.origin);
        let soa = apex.and_then(|n| n.rrset(rtype::SOA));
        let problem = match soa {
            None => Some(format!("no SOA record at the zone apex {origin}")),
            Some(s) if s.len() > 1 => Some(format!("more than one SOA record at {origin}")),
            Some(s) if s.rdatas().next().and_then(|r| soa_field(r, 4)).is_none() => {
                Some("malformed SOA RDATA".into())
            }
            Some(_) => None,
        };
        if let Some(message) = problem {
            let pos = self.apex_soa_pos.clone();
            self.error(pos.as_deref(), message);
        }
        if apex.is_none_or(|n| n.rrset(rtype::NS).is_none()) {
            self.error(None, format!("no NS records at the zone apex {origin}"));
        }
    }

    /// Groups the sorted records into nodes, adds the empty non-terminals
    /// (RFC 4592 §2.2.2), checks each node against its place in the tree
    /// and packs it. Keys come in canonical order, so a node's ancestors
    /// come before it and a delegation's descendants follow it directly.
    fn pack_nodes(&mut self, arena: &[u8], order: &[u32]) -> (Vec<Node>, usize) {
        let mut records = 0usize;
        let mut walk = TreeWalk::default();
        let mut i = 0;
        while i < order.len() {
            let key = entry(arena, order[i]).key;
            let n = order[i..]
                .iter()
                .take_while(|&&o| entry(arena, o).key == key)
                .count();
            let (draft, count) = self.draft_node(arena, &order[i..i + n]);
            records += count;
            let missing: Vec<usize> = empty_ancestors(key, &self.origin_key, &walk.path).collect();
            for ent in missing {
                let ent_key = &key[..ent];
                self.check_and_pack(&mut walk, ent_key, DraftNode::default());
            }
            self.check_and_pack(&mut walk, key, draft);
            i += n;
        }
        (std::mem::take(&mut self.blocks).finish(), records)
    }

    /// The RRsets of one owner from its sorted records.
    fn draft_node(&mut self, arena: &[u8], offsets: &[u32]) -> (DraftNode, usize) {
        let mut node = DraftNode::default();
        let mut count = 0;
        let mut prev: Option<Entry<'_>> = None;
        let covered = |e: &Entry<'_>| {
            if e.rtype == rtype::RRSIG {
                e.rdata
                    .get(0..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
            } else {
                e.rtype
            }
        };
        for (j, &off) in offsets.iter().enumerate() {
            let e = entry(arena, off);
            let is_sig = e.rtype == rtype::RRSIG;
            let set_type = covered(&e);
            if prev
                .as_ref()
                .is_some_and(|p| p.rtype == e.rtype && p.rdata == e.rdata)
            {
                continue; // a duplicate record (RFC 2181 §5)
            }
            let sets = if is_sig {
                &mut node.sigs
            } else {
                &mut node.sets
            };
            let new_set = sets.last().is_none_or(|s| s.rtype != set_type);
            if new_set {
                // The sort orders an RRset by RDATA, not by arrival: the
                // TTL and position of the earliest record stand for it.
                let first = offsets[j..]
                    .iter()
                    .copied()
                    .take_while(|&o| {
                        let x = entry(arena, o);
                        x.rtype == e.rtype && covered(&x) == set_type
                    })
                    .min()
                    .unwrap_or(off);
                let f = entry(arena, first);
                let pos = (f.file, f.line);
                let sets = if is_sig {
                    &mut node.sigs
                } else {
                    &mut node.sets
                };
                sets.push(DraftSet {
                    rtype: set_type,
                    ttl: f.ttl,
                    block: Vec::new(),
                    count: 0,
                    pos,
                });
            }
            let sets = if is_sig {
                &mut node.sigs
            } else {
                &mut node.sets
            };
            let Some(set) = sets.last_mut() else {
                continue;
            };
            push_rdata(&mut set.block, e.rdata);
            set.count += 1;
            count += 1;
            let differs = !is_sig && set.ttl != e.ttl;
            if differs {
                let pos = self.pos_string(e.file, e.line);
                let message = format!(
                    "TTL {} differs from the TTL {} of the other {} records of this name; using the first",
                    e.ttl,
                    set.ttl,
                    type_name(e.rtype)
                );
                self.warn(pos.as_deref(), message);
            }
            prev = Some(e);
        }
        if let Some(soa) = node.sets.iter().find(|s| s.rtype == rtype::SOA) {
            if self.apex_soa_pos.is_none() {
                self.apex_soa_pos = self.pos_string(soa.pos.0, soa.pos.1);
            }
        }
        (node, count)
    }

    /// Flags and checks one node (RFC 1034 §4.2.1, RFC 2181 §10.1, RFC
    /// 6672 §2.3) and packs it.
    fn check_and_pack(&mut self, walk: &mut TreeWalk, key: &[u8], draft: DraftNode) {
        let is_apex = *key == *self.origin_key;
        walk.enter(key);
        let mut node_flags = 0u8;
        if is_apex {
            node_flags |= flags::APEX;
        }
        if let Some(cut_name) = walk.cut_name() {
            node_flags |= flags::BELOW_CUT;
            self.check_glue(&draft, key, &cut_name);
        } else {
            if let Some(dname_owner) = walk.dname_name() {
                if !draft.sets.is_empty() {
                    let (o, d) = (display_key(key), name::display(&dname_owner));
                    let pos = draft.sets.first().and_then(|s| self.set_pos(s));
                    self.warn(
                        pos.as_deref(),
                        format!("{o} is occluded by the DNAME at {d}"),
                    );
                }
            }
            let has = |t: u16| draft.sets.iter().any(|s| s.rtype == t);
            if has(rtype::NS) && !is_apex {
                node_flags |= flags::CUT;
                walk.cut = Some(key.len());
                self.check_delegation_point(&draft, key);
            }
            if has(rtype::DNAME) && walk.dname.is_none() {
                node_flags |= flags::DNAME;
                walk.dname = Some(key.len());
            }
            if has(rtype::CNAME) {
                node_flags |= flags::CNAME;
            }
            self.check_node(&draft, key, is_apex);
        }
        finish_node(&mut self.blocks, key, draft, node_flags)
    }

    fn check_node(&mut self, draft: &DraftNode, key: &[u8], is_apex: bool) {
        for set in &draft.sets {
            let pos = || self.set_pos(set);
            let display = || display_key(key);
            match set.rtype {
                rtype::SOA if !is_apex => {
                    let m = format!("SOA record at {}, which is not the zone apex", display());
                    self.error(pos().as_deref(), m)
                }
                rtype::CNAME if set.count > 1 => {
                    let m = format!("more than one CNAME record at {}", display());
                    self.error(pos().as_deref(), m)
                }
                rtype::DNAME if set.count > 1 => {
                    let m = format!("more than one DNAME record at {}", display());
                    self.error(pos().as_deref(), m)
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
                        let m = format!("CNAME and other data ({t}) at {}", display());
                        self.error(pos().as_deref(), m);
                    }
                }
                _ => {}
            }
        }
    }

    fn check_delegation_point(&mut self, draft: &DraftNode, key: &[u8]) {
        for set in &draft.sets {
            if !matches!(
                set.rtype,
                rtype::NS | rtype::DS | rtype::NSEC | rtype::A | rtype::AAAA
            ) {
                let pos = self.set_pos(set);
                let (t, o) = (type_name(set.rtype), display_key(key));
                self.warn(
                    pos.as_deref(),
                    format!("{t} at delegation point {o} is not authoritative and is not served"),
                );
            }
        }
    }

    /// RFC 1034 §4.2.1: below a zone cut only glue (addresses) may appear.
    fn check_glue(&mut self, draft: &DraftNode, key: &[u8], cut: &[u8]) {
        for set in &draft.sets {
            if !matches!(set.rtype, rtype::A | rtype::AAAA) {
                let pos = self.set_pos(set);
                let (t, o, c) = (type_name(set.rtype), display_key(key), name::display(cut));
                self.error(
                    pos.as_deref(),
                    format!("{t} record at {o} below the delegation {c}: only glue (A, AAAA) is allowed there"),
                );
            }
        }
    }
}

/// Presentation form of the name of a key, for messages.
fn display_key(key: &[u8]) -> String {
    let mut wire = Vec::new();
    name::name_from_key(key, &mut wire);
    name::display(&wire)
}

/// The path from the apex to the node being packed: the key lengths of
/// the ancestors seen, and of the delegation and DNAME above, if any.
#[derive(Default)]
struct TreeWalk {
    /// Keys of the nodes on the path from the apex, outermost first.
    path: Vec<Box<[u8]>>,
    /// Key length of the delegation point the path is below.
    cut: Option<usize>,
    /// Key length of the DNAME owner the path is below.
    dname: Option<usize>,
}

impl TreeWalk {
    /// Moves to `key`: leaves the ancestors that are not its ancestors.
    fn enter(&mut self, key: &[u8]) {
        while self.path.last().is_some_and(|p| !key.starts_with(p)) {
            self.path.pop();
        }
        let depth = self.path.last().map_or(0, |p| p.len());
        if self.cut.is_some_and(|c| c > depth) {
            self.cut = None;
        }
        if self.dname.is_some_and(|d| d > depth) {
            self.dname = None;
        }
        self.path.push(key.into());
    }

    fn ancestor_name(&self, len: usize) -> Option<Vec<u8>> {
        let key = self.path.iter().find(|p| p.len() == len)?;
        let mut out = Vec::new();
        name::name_from_key(key, &mut out);
        Some(out)
    }

    /// The delegation the current node is strictly below.
    fn cut_name(&self) -> Option<Vec<u8>> {
        let current = self.path.last()?.len();
        self.cut
            .filter(|&c| c < current)
            .and_then(|c| self.ancestor_name(c))
    }

    /// The DNAME owner the current node is strictly below.
    fn dname_name(&self) -> Option<Vec<u8>> {
        let current = self.path.last()?.len();
        self.dname
            .filter(|&d| d < current)
            .and_then(|d| self.ancestor_name(d))
    }
}

/// Key lengths of the ancestors of `key` below the apex that are not on
/// `path` (so are not nodes yet), outermost first.
fn empty_ancestors<'p>(
    key: &'p [u8],
    origin_key: &'p [u8],
    path: &'p [Box<[u8]>],
) -> impl Iterator<Item = usize> + 'p {
    let known = path
        .iter()
        .rev()
        .find(|p| key.starts_with(p) && p.len() < key.len())
        .map_or(0, |p| p.len());
    let from = known.max(origin_key.len());
    let mut i = from;
    std::iter::from_fn(move || {
        while i < key.len() {
            let at = i;
            match key[at] {
                0 => {
                    i += 1;
                    if at + 1 < key.len() && at + 1 > from {
                        return Some(at + 1);
                    }
                }
                1 => i += 2,
                _ => i += 1,
            }
        }
        None
    })
}

fn finish_node(blocks: &mut NodeBlocks, key: &[u8], draft: DraftNode, node_flags: u8) {
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
    blocks.pack(key, node_flags, &rrsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::name::test_wire as wire;

    fn soa() -> Vec<u8> {
        let mut r = wire("ns.example.");
        r.extend(wire("host.example."));
        for v in [1u32, 2, 3, 4, 5] {
            r.extend(v.to_be_bytes());
        }
        r
    }

    fn builder() -> ZoneBuilder {
        let mut b = ZoneBuilder::new(&wire("example.")).unwrap();
        b.add(&wire("example."), rtype::SOA, 60, &soa(), None);
        b.add(&wire("example."), rtype::NS, 60, &wire("ns.example."), None);
        b
    }

    fn node<'v>(v: &'v ZoneVersion, n: &str) -> Option<&'v Node> {
        v.get(&name::key_of(&wire(n)).unwrap())
    }

    #[test]
    fn empty_non_terminals_exist_as_empty_nodes() {
        let mut b = builder();
        b.add(&wire("a.b.c.example."), rtype::A, 60, &[192, 0, 2, 1], None);
        let (v, _) = b.finish().unwrap();
        assert!(node(&v, "b.c.example.").unwrap().is_empty_nonterminal());
        assert!(node(&v, "c.example.").unwrap().is_empty_nonterminal());
        assert!(!node(&v, "a.b.c.example.").unwrap().is_empty_nonterminal());
        assert!(node(&v, "x.c.example.").is_none());
        assert_eq!(v.node_count(), 4);
    }

    #[test]
    fn delegation_flags_cover_exactly_the_subtree() {
        let mut b = builder();
        b.add(
            &wire("sub.example."),
            rtype::NS,
            60,
            &wire("ns.sub.example."),
            None,
        );
        b.add(
            &wire("ns.sub.example."),
            rtype::A,
            60,
            &[192, 0, 2, 53],
            None,
        );
        b.add(
            &wire("subway.example."),
            rtype::A,
            60,
            &[192, 0, 2, 9],
            None,
        );
        b.add(
            &wire("a.sub2.example."),
            rtype::A,
            60,
            &[192, 0, 2, 8],
            None,
        );
        let (v, _) = b.finish().unwrap();
        assert!(node(&v, "sub.example.").unwrap().has_flag(flags::CUT));
        assert!(node(&v, "ns.sub.example.")
            .unwrap()
            .has_flag(flags::BELOW_CUT));
        assert_eq!(node(&v, "subway.example.").unwrap().flags(), 0);
        assert_eq!(node(&v, "a.sub2.example.").unwrap().flags(), 0);
        assert!(node(&v, "example.").unwrap().has_flag(flags::APEX));
    }

    #[test]
    fn duplicates_are_dropped_and_the_first_ttl_wins() {
        let mut b = builder();
        b.add(&wire("www.example."), rtype::A, 300, &[192, 0, 2, 9], None);
        b.add(&wire("www.example."), rtype::A, 100, &[192, 0, 2, 1], None);
        b.add(&wire("www.example."), rtype::A, 300, &[192, 0, 2, 9], None);
        let (v, warnings) = b.finish().unwrap();
        let a = node(&v, "www.example.").unwrap().rrset(rtype::A).unwrap();
        assert_eq!((a.len(), a.ttl()), (2, 300));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(v.record_count(), 4);
    }

    #[test]
    fn rrsigs_sit_with_the_rrset_they_cover() {
        let mut b = builder();
        let mut sig = rtype::A.to_be_bytes().to_vec();
        sig.extend_from_slice(b"rest of an RRSIG");
        b.add(&wire("www.example."), rtype::A, 300, &[192, 0, 2, 9], None);
        b.add(&wire("www.example."), rtype::RRSIG, 300, &sig, None);
        let (v, _) = b.finish().unwrap();
        let a = node(&v, "www.example.").unwrap().rrset(rtype::A).unwrap();
        assert_eq!(a.sigs().unwrap().rdatas().next(), Some(&sig[..]));
    }

    #[test]
    fn zone_rules_are_errors() {
        let mut b = builder();
        b.add(
            &wire("www.example."),
            rtype::CNAME,
            60,
            &wire("x.example."),
            None,
        );
        b.add(&wire("www.example."), rtype::A, 60, &[192, 0, 2, 1], None);
        b.add(
            &wire("sub.example."),
            rtype::NS,
            60,
            &wire("ns.other."),
            None,
        );
        b.add(&wire("x.sub.example."), rtype::TXT, 60, b"\x01x", None);
        b.add(&wire("www.other."), rtype::A, 60, &[192, 0, 2, 1], None);
        let errors = b.finish().unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|e| e.contains("CNAME and other data")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("below the delegation")),
            "{text:?}"
        );
        assert!(text.iter().any(|e| e.contains("out-of-zone")), "{text:?}");
    }

    #[test]
    fn missing_soa_and_ns_are_errors() {
        let b = ZoneBuilder::new(&wire("example.")).unwrap();
        let text: Vec<String> = b
            .finish()
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(text.iter().any(|e| e.contains("no SOA")), "{text:?}");
        assert!(text.iter().any(|e| e.contains("no NS")), "{text:?}");
    }
}
