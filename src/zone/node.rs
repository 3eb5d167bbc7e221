//! A node packed into one contiguous blob: key, flags and every RRset with
//! its RDATA and signatures. One blob per owner name keeps a large zone
//! small (no per-RRset or per-record boxes) and a lookup to one cache miss
//! for the key check and one or two for the data.
//!
//! Blobs live in shared blocks ([`NodeBlocks`]): a version built whole (a
//! load, an AXFR, a snapshot) packs its nodes into blocks of about 64 KiB,
//! so replacing it frees whole blocks, which the allocator can give back
//! to the system. With one allocation per node, a primary reloading every
//! second kept the old versions' pages half-used by the new one's nodes
//! (bench/soak.sh: the heap 60% above one version after 20 reloads).
//! A node made alone (a change applied by IXFR or UPDATE) is a block of
//! its own.
//!
//! Layout (integers little-endian):
//! ```text
//! 0      flags           u8
//! 1      RRset count     u8
//! 2..4   key length      u16
//! 4..    key
//!        per RRset: type u16, TTL u32, signature TTL u32,
//!                   data length u32, signature data length u32   (18 octets)
//!        per RRset, in the same order: data block, then signature block
//! ```
//! A data block is `RDLENGTH (u16 big-endian) ‖ RDATA` per record,
//! uncompressed, so records are written out with a copy.

use std::fmt;
use std::sync::Arc;

const HEADER: usize = 4;
const ENTRY: usize = 18;

/// Nodes packed together: a block holds nodes while it is below this
/// size (a larger node gets a block of its own).
const BLOCK: usize = 64 * 1024;

/// A shared handle to a packed node: its blob within a block.
#[derive(Clone)]
pub struct Node {
    block: Arc<[u8]>,
    at: u32,
    len: u32,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut name = Vec::new();
        self.name_into(&mut name);
        f.debug_struct("Node")
            .field("name", &crate::name::display(&name))
            .field("flags", &self.flags())
            .field(
                "types",
                &self.rrsets().map(|r| r.rtype()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Asks the CPU to bring the cache line at `at` in; a hint, no more.
pub(crate) fn prefetch_line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes no memory, whatever the
    // address.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch(at.cast::<i8>(), _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// How many nodes ahead [`Ahead`] prefetches.
const PREFETCH_DISTANCE: usize = 16;

/// Nodes from `inner`, each prefetched [`PREFETCH_DISTANCE`] nodes before
/// it is handed out.
pub struct Ahead<'a, I: Iterator<Item = &'a Node>> {
    inner: I,
    ring: [Option<&'a Node>; PREFETCH_DISTANCE],
    at: usize,
}

impl<'a, I: Iterator<Item = &'a Node>> Ahead<'a, I> {
    pub fn new(mut inner: I) -> Self {
        let mut ring = [None; PREFETCH_DISTANCE];
        for slot in ring.iter_mut() {
            *slot = inner.next();
            if let Some(n) = slot {
                n.prefetch();
            }
        }
        Ahead { inner, ring, at: 0 }
    }
}

impl<'a, I: Iterator<Item = &'a Node>> Iterator for Ahead<'a, I> {
    type Item = &'a Node;
    fn next(&mut self) -> Option<&'a Node> {
        let slot = self.ring.get_mut(self.at)?;
        let node = slot.take()?;
        *slot = self.inner.next();
        if let Some(n) = slot {
            n.prefetch();
        }
        self.at = (self.at + 1) % PREFETCH_DISTANCE;
        Some(node)
    }
}

/// One RRset of a node, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct Rrset<'a> {
    rtype: u16,
    ttl: u32,
    data: &'a [u8],
    sigs: Option<SigSet<'a>>,
}

/// The RRSIGs covering one RRset (RFC 4035 §2.2), same block layout.
#[derive(Debug, Clone, Copy)]
pub struct SigSet<'a> {
    pub ttl: u32,
    pub data: &'a [u8],
}

/// An RRset to pack into a node.
pub struct RrsetData<'a> {
    pub rtype: u16,
    pub ttl: u32,
    pub data: &'a [u8],
    pub sigs: Option<(u32, &'a [u8])>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl Node {
    /// Packs a node. RRsets should come sorted by type; at most 255.
    pub fn pack(key: &[u8], flags: u8, rrsets: &[RrsetData<'_>]) -> Node {
        Self::pack_with(&mut Vec::new(), key, flags, rrsets)
    }

    /// [`pack`](Self::pack) through a caller's scratch buffer, so building
    /// a node allocates once.
    pub fn pack_with(b: &mut Vec<u8>, key: &[u8], flags: u8, rrsets: &[RrsetData<'_>]) -> Node {
        b.clear();
        append_blob(b, key, flags, rrsets);
        Node::alone(b)
    }

    /// A node in a block of its own.
    fn alone(blob: &[u8]) -> Node {
        Node {
            block: Arc::from(blob),
            at: 0,
            len: blob.len() as u32,
        }
    }

    /// The packed octets (layout in the module documentation).
    fn blob(&self) -> &[u8] {
        let at = self.at as usize;
        self.block.get(at..at + self.len as usize).unwrap_or(&[])
    }

    pub fn flags(&self) -> u8 {
        self.blob().first().copied().unwrap_or(0)
    }

    pub fn has_flag(&self, f: u8) -> bool {
        self.flags() & f != 0
    }

    fn count(&self) -> usize {
        self.blob().get(1).copied().unwrap_or(0) as usize
    }

    fn key_len(&self) -> usize {
        u16_at(self.blob(), 2) as usize
    }

    pub fn key(&self) -> &[u8] {
        self.blob()
            .get(HEADER..HEADER + self.key_len())
            .unwrap_or(&[])
    }

    pub fn is_empty_nonterminal(&self) -> bool {
        self.count() == 0
    }

    /// The RRsets, in type order.
    pub fn rrsets(&self) -> RrsetIter<'_> {
        let table = HEADER + self.key_len();
        RrsetIter {
            blob: self.blob(),
            index: 0,
            count: self.count(),
            table,
            data: table + ENTRY * self.count(),
        }
    }

    pub fn rrset(&self, rtype: u16) -> Option<Rrset<'_>> {
        self.rrsets().find(|r| r.rtype == rtype)
    }

    /// The lower-case wire name of this node.
    pub fn name_into(&self, out: &mut Vec<u8>) {
        crate::name::name_from_key(self.key(), out)
    }

    /// Asks the CPU to bring this node's data into the cache ahead of its
    /// use: walks over a whole version ([`Ahead`]) visit nodes in hash
    /// order, far from their order in memory, and a cache miss per node
    /// was most of the cost of an AXFR.
    pub fn prefetch(&self) {
        let at = self.block.as_ptr().wrapping_add(self.at as usize);
        prefetch_line(at);
        prefetch_line(at.wrapping_add(64));
    }

    /// Whether both handles are the same packed node (not merely equal).
    pub fn same(&self, other: &Node) -> bool {
        Arc::ptr_eq(&self.block, &other.block) && self.at == other.at
    }

    /// Whether both nodes hold the same packed data (key, flags, RRsets in
    /// the same order): true for the same node, and for a node packed
    /// again from the same records (a reload of a file with that name
    /// unchanged), where it saves listing and comparing the records.
    pub fn same_content(&self, other: &Node) -> bool {
        self.same(other) || self.blob() == other.blob()
    }

    /// A copy of this node with other flags (a change above it moved a
    /// zone cut or a DNAME): one allocation, the data copied as is.
    pub(crate) fn with_flags(&self, flags: u8) -> Node {
        let mut b = self.blob().to_vec();
        if let Some(f) = b.first_mut() {
            *f = flags;
        }
        Node::alone(&b)
    }
}

/// Appends a node's blob to `b` (layout in the module documentation).
/// RRsets should come sorted by type; at most 255.
fn append_blob(b: &mut Vec<u8>, key: &[u8], flags: u8, rrsets: &[RrsetData<'_>]) {
    let count = rrsets.len().min(255);
    let data_len: usize = rrsets[..count]
        .iter()
        .map(|r| r.data.len() + r.sigs.map_or(0, |s| s.1.len()))
        .sum();
    b.reserve(HEADER + key.len() + ENTRY * count + data_len);
    b.push(flags);
    b.push(count as u8);
    b.extend_from_slice(&(key.len() as u16).to_le_bytes());
    b.extend_from_slice(key);
    for r in &rrsets[..count] {
        b.extend_from_slice(&r.rtype.to_le_bytes());
        b.extend_from_slice(&r.ttl.to_le_bytes());
        b.extend_from_slice(&r.sigs.map_or(0, |s| s.0).to_le_bytes());
        b.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(r.sigs.map_or(0, |s| s.1.len()) as u32).to_le_bytes());
    }
    for r in &rrsets[..count] {
        b.extend_from_slice(r.data);
        if let Some((_, sigs)) = r.sigs {
            b.extend_from_slice(sigs);
        }
    }
}

/// Packs the nodes of a version built whole into shared blocks of about
/// [`BLOCK`] octets; [`finish`](Self::finish) hands them out in the order
/// they were packed. Nodes only exist once their block is complete, so a
/// block is allocated once, at its final size (a small zone's last block
/// holds only what it needs).
#[derive(Default)]
pub struct NodeBlocks {
    /// The block being filled.
    open: Vec<u8>,
    /// Blocks filled: (first node, block).
    sealed: Vec<(usize, Arc<[u8]>)>,
    /// Every node packed: (offset in its block, length).
    placed: Vec<(u32, u32)>,
    /// The first node of the open block.
    open_from: usize,
}

impl NodeBlocks {
    pub fn new() -> NodeBlocks {
        NodeBlocks::default()
    }

    /// Packs one node. RRsets should come sorted by type; at most 255.
    pub fn pack(&mut self, key: &[u8], flags: u8, rrsets: &[RrsetData<'_>]) {
        let at = self.open.len();
        append_blob(&mut self.open, key, flags, rrsets);
        let len = self.open.len() - at;
        if at > 0 && self.open.len() > BLOCK {
            // This node does not fit: it opens the next block.
            let blob = self.open[at..].to_vec();
            self.open.truncate(at);
            self.seal();
            self.open.extend_from_slice(&blob);
            self.placed.push((0, len as u32));
        } else {
            self.placed.push((at as u32, len as u32));
        }
    }

    /// How many nodes were packed.
    pub fn len(&self) -> usize {
        self.placed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.placed.is_empty()
    }

    fn seal(&mut self) {
        if !self.open.is_empty() {
            self.sealed
                .push((self.open_from, Arc::from(&self.open[..])));
            self.open.clear();
        }
        self.open_from = self.placed.len();
    }

    /// The nodes, in the order they were packed.
    pub fn finish(mut self) -> Vec<Node> {
        self.seal();
        let mut nodes = Vec::with_capacity(self.placed.len());
        let mut blocks = self.sealed.iter().peekable();
        let mut block: Option<&Arc<[u8]>> = None;
        for (i, &(at, len)) in self.placed.iter().enumerate() {
            while let Some((_, b)) = blocks.next_if(|(from, _)| *from <= i) {
                block = Some(b);
            }
            if let Some(b) = block {
                nodes.push(Node {
                    block: Arc::clone(b),
                    at,
                    len,
                });
            }
        }
        nodes
    }
}

pub struct RrsetIter<'a> {
    blob: &'a [u8],
    index: usize,
    count: usize,
    table: usize,
    data: usize,
}

impl<'a> Iterator for RrsetIter<'a> {
    type Item = Rrset<'a>;
    fn next(&mut self) -> Option<Rrset<'a>> {
        if self.index >= self.count {
            return None;
        }
        let e = self.table + ENTRY * self.index;
        self.index += 1;
        let rtype = u16_at(self.blob, e);
        let ttl = u32_at(self.blob, e + 2);
        let sig_ttl = u32_at(self.blob, e + 6);
        let len = u32_at(self.blob, e + 10) as usize;
        let sig_len = u32_at(self.blob, e + 14) as usize;
        let data = self.blob.get(self.data..self.data + len)?;
        let sigs = self.blob.get(self.data + len..self.data + len + sig_len)?;
        self.data += len + sig_len;
        Some(Rrset {
            rtype,
            ttl,
            data,
            sigs: (sig_len > 0).then_some(SigSet {
                ttl: sig_ttl,
                data: sigs,
            }),
        })
    }
}

impl<'a> Rrset<'a> {
    pub fn rtype(&self) -> u16 {
        self.rtype
    }
    pub fn ttl(&self) -> u32 {
        self.ttl
    }
    /// The raw data block.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    pub fn rdatas(&self) -> Rdatas<'a> {
        Rdatas { rest: self.data }
    }
    pub fn len(&self) -> usize {
        self.rdatas().count()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn sigs(&self) -> Option<SigSet<'a>> {
        self.sigs
    }
}

impl<'a> SigSet<'a> {
    pub fn rdatas(&self) -> Rdatas<'a> {
        Rdatas { rest: self.data }
    }
}

/// Iterates the RDATA of an RRset block.
#[derive(Clone)]
pub struct Rdatas<'a> {
    rest: &'a [u8],
}

impl<'a> Rdatas<'a> {
    pub fn from_block(block: &'a [u8]) -> Self {
        Rdatas { rest: block }
    }
}

impl<'a> Iterator for Rdatas<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, tail) = self.rest.split_at_checked(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let (rdata, rest) = tail.split_at_checked(len)?;
        self.rest = rest;
        Some(rdata)
    }
}

/// Appends one record to an RRset block.
pub fn push_rdata(block: &mut Vec<u8>, rdata: &[u8]) {
    block.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    block.extend_from_slice(rdata);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_reads_back() {
        let mut a = Vec::new();
        push_rdata(&mut a, &[192, 0, 2, 1]);
        push_rdata(&mut a, &[192, 0, 2, 2]);
        let mut sig = Vec::new();
        push_rdata(&mut sig, b"signature");
        let mut txt = Vec::new();
        push_rdata(&mut txt, b"\x05hello");
        let node = Node::pack(
            b"com\0example\0",
            3,
            &[
                RrsetData {
                    rtype: 1,
                    ttl: 60,
                    data: &a,
                    sigs: Some((30, &sig)),
                },
                RrsetData {
                    rtype: 16,
                    ttl: 90,
                    data: &txt,
                    sigs: None,
                },
            ],
        );
        assert_eq!(node.key(), b"com\0example\0");
        assert_eq!(node.flags(), 3);
        let a_set = node.rrset(1).unwrap();
        assert_eq!(a_set.ttl(), 60);
        assert_eq!(
            a_set.rdatas().collect::<Vec<_>>(),
            vec![&[192, 0, 2, 1][..], &[192, 0, 2, 2]]
        );
        let s = a_set.sigs().unwrap();
        assert_eq!((s.ttl, s.rdatas().next().unwrap()), (30, &b"signature"[..]));
        let t = node.rrset(16).unwrap();
        assert_eq!(t.rdatas().next().unwrap(), b"\x05hello");
        assert!(t.sigs().is_none());
        assert!(node.rrset(28).is_none());
    }

    fn txt_rrset(data: &[u8]) -> RrsetData<'_> {
        RrsetData {
            rtype: 16,
            ttl: 60,
            data,
            sigs: None,
        }
    }

    #[test]
    fn blocks_hand_out_nodes_in_order_sharing_blocks() {
        let mut txt = Vec::new();
        push_rdata(&mut txt, &[b'x'; 200]);
        let mut huge = Vec::new();
        for _ in 0..400 {
            push_rdata(&mut huge, &[b'y'; 250]);
        }
        let mut blocks = NodeBlocks::new();
        let keys: Vec<Vec<u8>> = (0..1000).map(|i| format!("k{i}\0").into_bytes()).collect();
        for (i, key) in keys.iter().enumerate() {
            // One node larger than a block, in the middle.
            let data = if i == 500 { &huge } else { &txt };
            blocks.pack(key, (i % 7) as u8, &[txt_rrset(data)]);
        }
        assert_eq!(blocks.len(), 1000);
        let nodes = blocks.finish();
        assert_eq!(nodes.len(), 1000);
        for (i, (node, key)) in nodes.iter().zip(&keys).enumerate() {
            assert_eq!(node.key(), &key[..]);
            assert_eq!(node.flags(), (i % 7) as u8);
            let data = if i == 500 { &huge } else { &txt };
            assert_eq!(node.rrset(16).unwrap().data(), &data[..]);
        }
        // About 220 octets a node: 64 KiB blocks hold a few hundred each.
        let shared = |a: &Node, b: &Node| Arc::ptr_eq(&a.block, &b.block);
        assert!(shared(&nodes[0], &nodes[1]));
        assert!(!shared(&nodes[0], &nodes[999]));
        assert!(!shared(&nodes[499], &nodes[500]) && !shared(&nodes[500], &nodes[501]));
        assert!(nodes.iter().all(|n| n.block.len() <= BLOCK || n.at == 0));
        let distinct = nodes.windows(2).filter(|w| !shared(&w[0], &w[1])).count() + 1;
        assert!((4..=6).contains(&distinct), "{distinct} blocks");
        // `same` tells nodes apart within a block, and clones are the same.
        assert!(!nodes[0].same(&nodes[1]));
        assert!(nodes[3].same(&nodes[3].clone()));
    }

    #[test]
    fn a_small_zone_allocates_only_what_it_holds() {
        let mut txt = Vec::new();
        push_rdata(&mut txt, b"\x05hello");
        let mut blocks = NodeBlocks::new();
        blocks.pack(b"a\0", 0, &[txt_rrset(&txt)]);
        blocks.pack(b"b\0", 0, &[txt_rrset(&txt)]);
        let nodes = blocks.finish();
        let blob = HEADER + 2 + ENTRY + txt.len();
        assert_eq!(nodes[0].block.len(), 2 * blob);
        assert_eq!((nodes[1].at as usize, nodes[1].len as usize), (blob, blob));
        assert!(NodeBlocks::new().finish().is_empty());
    }
}
