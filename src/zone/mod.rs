//! The zone store: immutable, versioned zones built for fast lookup.
//!
//! A [`ZoneVersion`] is a complete, checked copy of one zone at one serial.
//! Once published it never changes; a change (reload, later IXFR, UPDATE or
//! CSYNC) builds a new version that shares every untouched node with the old
//! one, because the nodes sit in a persistent B-tree (`imbl::OrdSet`) of
//! reference-counted [`Node`]s. Publishing swaps one pointer
//! ([`Zone::publish`]); a query holds on to the version it started with.
//!
//! RRsets are kept ready to write: the RDATA of each record in uncompressed
//! wire format, one contiguous block per RRset, with the RRSIGs that cover
//! the RRset kept beside it (so DNSSEC answers need no second lookup).

mod build;
mod rrset;
mod table;

pub use build::{BuildError, ZoneBuilder};
pub use rrset::{Rdatas, Rrset, SigSet};
pub use table::{SharedZoneTable, Zone, ZoneTable};

use crate::name;
use imbl::OrdSet;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::sync::Arc;

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

/// One owner name and its RRsets. Names that exist only because something
/// below them exists (empty non-terminals, RFC 4592 §2.2.2) are nodes
/// with no RRsets, so that the lookup can tell NODATA from NXDOMAIN by
/// presence alone.
#[derive(Debug)]
pub struct Node {
    key: Box<[u8]>,
    rrsets: Box<[Rrset]>,
    flags: u8,
}

impl Node {
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    pub fn rrsets(&self) -> &[Rrset] {
        &self.rrsets
    }
    pub fn flags(&self) -> u8 {
        self.flags
    }
    pub fn has_flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    pub fn is_empty_nonterminal(&self) -> bool {
        self.rrsets.is_empty()
    }
    pub fn rrset(&self, rtype: u16) -> Option<&Rrset> {
        self.rrsets.iter().find(|r| r.rtype() == rtype)
    }
    /// The lower-case wire name of this node.
    pub fn name_into(&self, out: &mut Vec<u8>) {
        name::name_from_key(&self.key, out)
    }
}

/// A node in the ordered set, compared by key.
#[derive(Clone, Debug)]
pub struct NodeRef(pub Arc<Node>);

impl PartialEq for NodeRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}
impl Eq for NodeRef {}
impl PartialOrd for NodeRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for NodeRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key.cmp(&other.0.key)
    }
}
impl Borrow<[u8]> for NodeRef {
    fn borrow(&self) -> &[u8] {
        &self.0.key
    }
}

/// A complete, checked zone at one serial. Immutable once built.
#[derive(Debug)]
pub struct ZoneVersion {
    origin: Box<[u8]>,
    origin_labels: usize,
    serial: u32,
    nodes: OrdSet<NodeRef>,
    apex: Arc<Node>,
    record_count: usize,
}

impl ZoneVersion {
    /// The apex name, lower-case wire format.
    pub fn origin(&self) -> &[u8] {
        &self.origin
    }
    pub fn origin_labels(&self) -> usize {
        self.origin_labels
    }
    pub fn serial(&self) -> u32 {
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
        self.nodes.get(key).map(|n| &*n.0)
    }
    /// All nodes in canonical order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().map(|n| &*n.0)
    }
    /// The SOA RRset of the apex (always present: checked at build).
    pub fn soa(&self) -> Option<&Rrset> {
        self.apex.rrset(rtype::SOA)
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

/// The `index`-th 32-bit field after the two names of SOA RDATA
/// (0 = serial, 1 = refresh, 2 = retry, 3 = expire, 4 = minimum).
pub fn soa_field(rdata: &[u8], index: usize) -> Option<u32> {
    let mname = name::wire_len(rdata)?;
    let rname = name::wire_len(rdata.get(mname..)?)?;
    let at = mname + rname + 4 * index;
    let b = rdata.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
