//! RRsets stored ready for the wire.

/// The records of one type at one owner. `data` holds each record's RDATA
/// as `RDLENGTH (u16, big-endian) ‖ RDATA`, uncompressed; names inside RDATA
/// are compressed, where RFC 3597 §4 allows it, only when written out.
#[derive(Debug, Clone)]
pub struct Rrset {
    rtype: u16,
    ttl: u32,
    data: Box<[u8]>,
    sigs: Option<Box<SigSet>>,
}

/// The RRSIGs covering one RRset (RFC 4035 §2.2), same block layout.
#[derive(Debug, Clone)]
pub struct SigSet {
    pub ttl: u32,
    pub data: Box<[u8]>,
}

impl Rrset {
    pub fn new(rtype: u16, ttl: u32, data: Box<[u8]>, sigs: Option<Box<SigSet>>) -> Self {
        Rrset {
            rtype,
            ttl,
            data,
            sigs,
        }
    }
    pub fn rtype(&self) -> u16 {
        self.rtype
    }
    pub fn ttl(&self) -> u32 {
        self.ttl
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn rdatas(&self) -> Rdatas<'_> {
        Rdatas { rest: &self.data }
    }
    pub fn len(&self) -> usize {
        self.rdatas().count()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn sigs(&self) -> Option<&SigSet> {
        self.sigs.as_deref()
    }
}

impl SigSet {
    pub fn rdatas(&self) -> Rdatas<'_> {
        Rdatas { rest: &self.data }
    }
}

/// Iterates the RDATA of an RRset block.
#[derive(Clone)]
pub struct Rdatas<'a> {
    rest: &'a [u8],
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

impl<'a> Rdatas<'a> {
    /// Iterates a raw RRset block.
    pub fn from_block(block: &'a [u8]) -> Self {
        Rdatas { rest: block }
    }
}
