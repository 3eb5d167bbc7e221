//! The zone store: immutable, versioned zones built for fast lookup.
//!
//! A [`ZoneVersion`] is a complete, checked copy of one zone at one serial.
//! Once published it never changes; a change (reload, later IXFR, UPDATE or
//! CSYNC) builds a new version that shares every untouched node with the old
//! one: nodes are reference-counted and found through a persistent hash
//! trie ([`index::NameIndex`]), so a change copies only the trie path to the
//! names it touches. Publishing swaps one pointer ([`Zone::publish`]); a
//! query holds on to the version it started with.
//!
//! RRsets are kept ready to write: each node is one allocation holding its
//! key, flags and the RDATA of every RRset in uncompressed wire format, with
//! the RRSIGs that cover an RRset beside it (so DNSSEC answers need no
//! second lookup). See [`node`] for the layout.

mod apply;
mod build;
pub mod denial;
mod digest;
pub use digest::node_digest;
pub mod index;
pub mod node;
mod table;

pub use apply::ApplyError;
pub use build::{BuildError, ZoneBuilder};
pub use node::{Node, Rdatas, Rrset, SigSet};
pub use table::{SharedZoneTable, Zone, ZoneTable};

use crate::name;
use crate::serial::Serial;
use index::NameIndex;

/// Record types the store treats specially (IANA numbers).
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const HINFO: u16 = 13;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const NSEC3PARAM: u16 = 51;
    pub const CSYNC: u16 = 62;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const TKEY: u16 = 249;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

/// Flags of a node, computed when the version is built.
pub mod flags {
    /// A delegation point: NS here, and this is not the apex.
    pub const CUT: u8 = 1;
    /// Below a delegation point: only glue lives here.
    pub const BELOW_CUT: u8 = 2;
    /// Has a CNAME (and then nothing else but DNSSEC records).
    pub const CNAME: u8 = 4;
    /// Has a DNAME: names below it are redirected (RFC 6672).
    pub const DNAME: u8 = 8;
    /// The zone apex.
    pub const APEX: u8 = 16;
}

/// A complete, checked zone at one serial. Immutable once built.
#[derive(Debug)]
pub struct ZoneVersion {
    origin: Box<[u8]>,
    origin_labels: usize,
    serial: Serial,
    nodes: NameIndex,
    apex: Node,
    record_count: usize,
    /// How many nodes lie below each node that has any, so that
    /// [`apply`](ZoneVersion::apply) knows when an empty non-terminal
    /// goes and whether a new zone cut has descendants to re-flag.
    descendants: apply::Descendants,
    /// NSEC and NSEC3 owners in order, for denial of existence.
    denial: denial::Denial,
    /// Keep last (fields drop in order).
    _retire: Retire,
}

/// Versions with at least this many names are worth a trim when dropped
/// (see `memory`): a smaller one frees too little to matter.
const LARGE_VERSION: usize = 1000;

/// The last field of a [`ZoneVersion`], so dropped after every other:
/// when a large version goes, it says so once its memory is freed.
#[derive(Debug)]
struct Retire {
    large: bool,
}

impl Retire {
    fn for_names(names: usize) -> Retire {
        Retire {
            large: names >= LARGE_VERSION,
        }
    }
}

impl Drop for Retire {
    fn drop(&mut self) {
        if self.large {
            crate::memory::note_freed();
        }
    }
}

impl ZoneVersion {
    /// The apex name, lower-case wire format.
    pub fn origin(&self) -> &[u8] {
        &self.origin
    }
    pub fn origin_labels(&self) -> usize {
        self.origin_labels
    }
    pub fn serial(&self) -> Serial {
        self.serial
    }
    pub fn apex(&self) -> &Node {
        &self.apex
    }
    pub fn record_count(&self) -> usize {
        self.record_count
    }
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
    /// The node with exactly this key.
    pub fn get(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key)
    }
    /// Starts fetching the lookup path of `key` into the cache, for a
    /// [`get`](Self::get) soon after (see [`index::PathPrefetch`]).
    pub fn prefetch_start(&self, key: &[u8]) -> index::PathPrefetch {
        self.nodes.prefetch_start(key)
    }
    /// The next level of a path started by [`prefetch_start`](Self::prefetch_start).
    pub fn prefetch_step(&self, path: &mut index::PathPrefetch) {
        self.nodes.prefetch_step(path)
    }
    /// All nodes, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }
    /// All nodes, in no particular order, each prefetched a few nodes
    /// ahead: for walks that read every node's records (transfers,
    /// snapshots, digests).
    pub fn nodes_ahead(&self) -> impl Iterator<Item = &Node> {
        node::Ahead::new(self.nodes.iter())
    }
    /// How the names are indexed, for [`ZoneBuilder::hash_like`].
    pub(crate) fn index_hasher(&self) -> &index::IndexHasher {
        self.nodes.hasher()
    }
    /// The nodes that differ between this version and `new`, side by side
    /// when both index names alike (see [`NameIndex::diff`]); `false`,
    /// having called nothing, when they do not.
    pub fn diff_nodes(
        &self,
        new: &ZoneVersion,
        changed: &mut dyn FnMut(Option<&Node>, Option<&Node>),
    ) -> bool {
        self.nodes.diff(&new.nodes, changed)
    }
    /// The NSEC3 whose hashed owner is `key`, exactly: one lookup in the
    /// name index (which holds the NSEC3 owners too), not a walk down the
    /// chain's tree, whose every step reads another node's key.
    pub fn nsec3_matching(&self, key: &[u8]) -> Option<&Node> {
        self.get(key).filter(|n| n.rrset(rtype::NSEC3).is_some())
    }
    /// The orders of the NSEC and NSEC3 chains.
    pub fn denial(&self) -> &denial::Denial {
        &self.denial
    }
    /// The SOA RRset of the apex (always present: checked at build).
    pub fn soa(&self) -> Option<Rrset<'_>> {
        self.apex.rrset(rtype::SOA)
    }
    /// This version with the SOA serial set to `serial` (a serial policy
    /// moving it): shares every node but the apex.
    pub fn with_serial(&self, serial: Serial) -> ZoneVersion {
        type Block = (u16, u32, Vec<u8>, Option<(u32, Vec<u8>)>);
        let mut blocks: Vec<Block> = Vec::new();
        for set in self.apex.rrsets() {
            let mut data = Vec::with_capacity(set.data().len());
            for rdata in set.rdatas() {
                if set.rtype() == rtype::SOA {
                    node::push_rdata(&mut data, &set_soa_serial(rdata, serial));
                } else {
                    node::push_rdata(&mut data, rdata);
                }
            }
            let sigs = set.sigs().map(|s| (s.ttl, s.data.to_vec()));
            blocks.push((set.rtype(), set.ttl(), data, sigs));
        }
        let rrsets: Vec<node::RrsetData<'_>> = blocks
            .iter()
            .map(|(t, ttl, data, sigs)| node::RrsetData {
                rtype: *t,
                ttl: *ttl,
                data,
                sigs: sigs.as_ref().map(|(ttl, d)| (*ttl, &d[..])),
            })
            .collect();
        let apex = Node::pack(self.apex.key(), self.apex.flags(), &rrsets);
        let mut denial = self.denial.clone();
        denial.replace(Some(&self.apex), Some(&apex), true);
        ZoneVersion {
            origin: self.origin.clone(),
            origin_labels: self.origin_labels,
            serial,
            nodes: self.nodes.insert(apex.clone()),
            apex,
            record_count: self.record_count,
            descendants: self.descendants.clone(),
            denial,
            _retire: Retire::for_names(self.nodes.len()),
        }
    }

    /// TTL for negative answers: min(SOA TTL, SOA MINIMUM), RFC 2308 §5.
    pub fn negative_ttl(&self) -> u32 {
        self.soa()
            .and_then(|soa| {
                let rdata = soa.rdatas().next()?;
                let min = soa_field(rdata, 4)?;
                Some(min.min(soa.ttl()))
            })
            .unwrap_or(0)
    }
}

/// A version of `origin` (presentation form) built from zone-file `text`,
/// for unit tests; panics on input that does not load.
#[cfg(test)]
pub fn test_version(origin: &str, text: &str) -> ZoneVersion {
    let origin = crate::name::test_wire(origin);
    let parsed = crate::zonefile::parse_str(
        text,
        std::path::Path::new("test.zone"),
        &crate::zonefile::ParseOptions::new(origin.clone()),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let mut b = ZoneBuilder::new(&origin).expect("origin");
    for r in &parsed.records {
        b.add(&r.owner, r.rtype, r.ttl, &r.rdata, None);
    }
    b.finish().unwrap_or_else(|e| panic!("{e:?}")).0
}

/// SOA RDATA with its serial replaced (unchanged if it is malformed).
pub fn set_soa_serial(rdata: &[u8], serial: Serial) -> Vec<u8> {
    let mut out = rdata.to_vec();
    let at = name::wire_len(rdata)
        .and_then(|m| Some(m + name::wire_len(rdata.get(m..)?)?))
        .unwrap_or(usize::MAX);
    if let Some(field) = out.get_mut(at..at.saturating_add(4)) {
        field.copy_from_slice(&serial.get().to_be_bytes());
    }
    out
}

/// The serial of SOA RDATA (`None` if it is malformed).
pub fn soa_serial(rdata: &[u8]) -> Option<Serial> {
    soa_field(rdata, 0).map(Serial)
}

/// The `index`-th 32-bit field after the two names of SOA RDATA
/// (0 = serial, 1 = refresh, 2 = retry, 3 = expire, 4 = minimum).
pub fn soa_field(rdata: &[u8], index: usize) -> Option<u32> {
    let mname = name::wire_len(rdata)?;
    let rname = name::wire_len(rdata.get(mname..)?)?;
    let at = mname + rname + 4 * index;
    let b = rdata.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
