//! A node packed into one allocation: key, flags and every RRset with its
//! RDATA and signatures. One allocation per owner name keeps a large zone
//! small (no per-RRset or per-record boxes) and a lookup to one cache miss
//! for the key check and one or two for the data.
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

/// A shared handle to a packed node.
#[derive(Clone)]
pub struct Node(Arc<[u8]>);

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
    /// a zone allocates once per node.
    pub fn pack_with(b: &mut Vec<u8>, key: &[u8], flags: u8, rrsets: &[RrsetData<'_>]) -> Node {
        b.clear();
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
        Node(Arc::from(&b[..]))
    }

    pub fn flags(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    pub fn has_flag(&self, f: u8) -> bool {
        self.flags() & f != 0
    }

    fn count(&self) -> usize {
        self.0.get(1).copied().unwrap_or(0) as usize
    }

    fn key_len(&self) -> usize {
        u16_at(&self.0, 2) as usize
    }

    pub fn key(&self) -> &[u8] {
        self.0.get(HEADER..HEADER + self.key_len()).unwrap_or(&[])
    }

    pub fn is_empty_nonterminal(&self) -> bool {
        self.count() == 0
    }

    /// The RRsets, in type order.
    pub fn rrsets(&self) -> RrsetIter<'_> {
        let table = HEADER + self.key_len();
        RrsetIter {
            blob: &self.0,
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

    /// Whether both handles share one allocation.
    pub fn same(&self, other: &Node) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A copy of this node with other flags (a change above it moved a
    /// zone cut or a DNAME): one allocation, the data copied as is.
    pub(crate) fn with_flags(&self, flags: u8) -> Node {
        let mut b = self.0.to_vec();
        if let Some(f) = b.first_mut() {
            *f = flags;
        }
        Node(Arc::from(b))
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
}
