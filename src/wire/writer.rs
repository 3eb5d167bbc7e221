//! Writing a response into a fixed buffer, with name compression
//! (RFC 1035 §4.1.4) and all-or-nothing RRsets.

use super::HEADER_LEN;
use crate::zone::rtype;

/// Message sections, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

/// The record did not fit within the size limit; nothing of it was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message full")]
pub struct WriteError;

/// How many earlier name positions compression remembers. A response with
/// more distinct names than this is still correct, only less compressed.
const COMPRESS_SLOTS: usize = 64;

/// Largest offset a compression pointer can reach (14 bits).
const MAX_POINTER: usize = 0x3fff;

/// Slots of a [`NameTable`].
const TABLE_SLOTS: usize = 1024;

/// Where names start in a message, by a hash of the name: a zone
/// transfer's messages hold thousands of names, which the small table
/// searched in order (enough for an answer) would neither reach nor hold.
/// A slot keeps the last name of its hash; a lookup checks the name at
/// the offset it finds, so a collision costs compression, never
/// correctness.
pub struct NameTable {
    slots: [u16; TABLE_SLOTS],
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable {
            slots: [0; TABLE_SLOTS],
        }
    }
}

impl NameTable {
    /// Case-insensitive FNV-1a of a wire name, to a slot.
    fn slot(name: &[u8]) -> usize {
        let mut h: u32 = 0x811c_9dc5;
        for &b in name {
            h = (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193);
        }
        (h ^ (h >> 16)) as usize % TABLE_SLOTS
    }
}

pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    /// Sections may not grow past this (room for OPT is kept back).
    limit: usize,
    counts: [u16; 3],
    section: Section,
    /// Offsets where a name (or a name's suffix) starts in the message.
    names: [u16; COMPRESS_SLOTS],
    nnames: usize,
    /// Used instead of `names` when given (`with_table`).
    table: Option<&'b mut NameTable>,
}

impl<'b> MessageWriter<'b> {
    /// A writer over `buf`, with messages limited to `limit` octets.
    pub fn new(buf: &'b mut [u8], limit: usize) -> Self {
        let limit = limit.min(buf.len());
        MessageWriter {
            buf,
            pos: 0,
            limit,
            counts: [0; 3],
            section: Section::Answer,
            names: [0; COMPRESS_SLOTS],
            nnames: 0,
            table: None,
        }
    }

    /// A writer that remembers names in `table` (for messages with many
    /// names: zone transfers).
    pub fn with_table(buf: &'b mut [u8], limit: usize, table: &'b mut NameTable) -> Self {
        let mut w = MessageWriter::new(buf, limit);
        w.table = Some(table);
        w
    }

    /// Header with the given id and flags, all counts zero.
    pub fn header(&mut self, id: u16, flags: u16) {
        if self.buf.len() < HEADER_LEN {
            return;
        }
        self.buf[..HEADER_LEN].fill(0);
        self.buf[0..2].copy_from_slice(&id.to_be_bytes());
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
        self.pos = HEADER_LEN;
        self.counts = [0; 3];
        self.nnames = 0;
        if let Some(table) = self.table.as_deref_mut() {
            table.slots.fill(0);
        }
    }

    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    pub fn set_rcode(&mut self, rcode: u16) {
        let flags = (self.flags() & !0x000f) | (rcode & 0x000f);
        self.set_flags(flags);
    }

    /// Copies the question as asked (RFC 1035 §7.3: echo it exactly).
    pub fn question(&mut self, question: &[u8]) -> Result<(), WriteError> {
        let end = self.pos + question.len();
        if end > self.limit {
            return Err(WriteError);
        }
        self.buf[self.pos..end].copy_from_slice(question);
        self.remember_name(self.pos, question);
        self.pos = end;
        self.buf[4..6].copy_from_slice(&1u16.to_be_bytes());
        Ok(())
    }

    /// Position of the question name, for pointers to it.
    pub fn qname_offset(&self) -> u16 {
        HEADER_LEN as u16
    }

    pub fn len(&self) -> usize {
        self.pos
    }

    /// The message written so far.
    pub fn message(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    pub fn is_empty(&self) -> bool {
        self.pos <= HEADER_LEN
    }

    pub fn count(&self, section: Section) -> u16 {
        self.counts[section as usize]
    }

    /// Lowers the limit (e.g. to keep room for OPT).
    pub fn reserve(&mut self, bytes: usize) {
        self.limit = self.limit.saturating_sub(bytes);
    }

    /// Gives back room kept with [`reserve`](Self::reserve).
    pub fn release(&mut self, bytes: usize) {
        self.limit = (self.limit + bytes).min(self.buf.len());
    }

    pub fn start_section(&mut self, section: Section) {
        debug_assert!(section >= self.section);
        self.section = section;
    }

    /// A mark to roll back to (everything after it is dropped).
    pub fn mark(&self) -> Mark {
        Mark {
            pos: self.pos,
            counts: self.counts,
            nnames: self.nnames,
        }
    }

    pub fn rollback(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.counts = mark.counts;
        self.nnames = mark.nnames;
    }

    /// Writes every record of an RRset, or none of them.
    /// `owner` is either a pointer to an earlier name or a wire name.
    pub fn rrset<'r>(
        &mut self,
        owner: Owner<'_>,
        rr_type: u16,
        ttl: u32,
        rdatas: impl Iterator<Item = &'r [u8]>,
    ) -> Result<(), WriteError> {
        let mark = self.mark();
        for rdata in rdatas {
            if let Err(e) = self.record(owner, rr_type, ttl, rdata) {
                self.rollback(mark);
                return Err(e);
            }
        }
        Ok(())
    }

    /// One record. On error the message may hold part of it: callers go
    /// through [`rrset`](Self::rrset), which rolls back.
    fn record(
        &mut self,
        owner: Owner<'_>,
        rr_type: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), WriteError> {
        match owner {
            Owner::Pointer(offset) => self.put(&(0xc000 | offset).to_be_bytes())?,
            Owner::Name(name) => self.name(name, true)?,
            Owner::Prefixed(labels, offset) => {
                self.put(labels)?;
                self.put(&(0xc000 | offset).to_be_bytes())?;
            }
        }
        self.put(&rr_type.to_be_bytes())?;
        self.put(&super::CLASS_IN.to_be_bytes())?;
        self.put(&ttl.to_be_bytes())?;
        let rdlen_at = self.pos;
        self.put(&[0, 0])?;
        self.rdata(rr_type, rdata)?;
        let rdlen = (self.pos - rdlen_at - 2) as u16;
        self.buf[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        let c = &mut self.counts[self.section as usize];
        *c = c.checked_add(1).ok_or(WriteError)?;
        Ok(())
    }

    /// RDATA, compressing the names of the RFC 1035 types (RFC 3597 §4
    /// forbids it for every other type).
    fn rdata(&mut self, rr_type: u16, rdata: &[u8]) -> Result<(), WriteError> {
        let (prefix, names) = match rr_type {
            rtype::NS | rtype::CNAME | rtype::PTR | 3 | 4 | 7 | 8 | 9 => (0, 1),
            rtype::MX => (2, 1),
            rtype::SOA | 14 => (0, 2),
            _ => return self.put(rdata),
        };
        let Some((head, mut rest)) = rdata.split_at_checked(prefix) else {
            return self.put(rdata);
        };
        self.put(head)?;
        for _ in 0..names {
            match crate::name::wire_len(rest) {
                Some(len) => {
                    let (name, tail) = rest.split_at(len);
                    self.name(name, true)?;
                    rest = tail;
                }
                None => break,
            }
        }
        self.put(rest)
    }

    /// Writes a wire name, compressed against names written before.
    pub fn name(&mut self, name: &[u8], compress: bool) -> Result<(), WriteError> {
        let start = self.pos;
        let mut rest = name;
        loop {
            let Some(&len) = rest.first() else {
                return Err(WriteError);
            };
            if len == 0 {
                self.put(&[0])?;
                break;
            }
            if compress {
                if let Some(offset) = self.find_name(rest) {
                    self.put(&(0xc000 | offset).to_be_bytes())?;
                    break;
                }
            }
            let label = rest.get(..1 + len as usize).ok_or(WriteError)?;
            self.put(label)?;
            rest = &rest[label.len()..];
        }
        if compress {
            self.remember_name(start, name);
        }
        Ok(())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self.pos + bytes.len();
        if end > self.limit {
            return Err(WriteError);
        }
        self.buf[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Records where `name` and each of its suffixes start, for pointers.
    fn remember_name(&mut self, mut offset: usize, name: &[u8]) {
        let mut rest = name;
        while let Some(&len) = rest.first() {
            let full = self.table.is_none() && self.nnames == COMPRESS_SLOTS;
            if len == 0 || len > 63 || offset > MAX_POINTER || full {
                return;
            }
            // A label that was itself written as a pointer ends the name.
            if self.buf.get(offset).is_none_or(|&b| b != len) {
                return;
            }
            match self.table.as_deref_mut() {
                Some(table) => table.slots[NameTable::slot(rest)] = offset as u16,
                None => {
                    self.names[self.nnames] = offset as u16;
                    self.nnames += 1;
                }
            }
            offset += 1 + len as usize;
            rest = rest.get(1 + len as usize..).unwrap_or(&[]);
        }
    }

    /// An earlier position holding exactly `name` (case-insensitive).
    pub fn find_name(&self, name: &[u8]) -> Option<u16> {
        match self.table.as_deref() {
            Some(table) => {
                let off = *table.slots.get(NameTable::slot(name))?;
                (off != 0 && self.name_at_equals(off as usize, name)).then_some(off)
            }
            None => self.names[..self.nnames]
                .iter()
                .copied()
                .find(|&off| self.name_at_equals(off as usize, name)),
        }
    }

    /// Compares the (possibly compressed) name at `offset` with `name`,
    /// reading only what is written (a table slot may outlive a rollback).
    fn name_at_equals(&self, mut offset: usize, name: &[u8]) -> bool {
        let written = self.buf.get(..self.pos).unwrap_or(&[]);
        let mut rest = name;
        let mut hops = 0;
        loop {
            let Some(&len) = written.get(offset) else {
                return false;
            };
            if len >= 0xc0 {
                let Some(&lo) = written.get(offset + 1) else {
                    return false;
                };
                offset = (((len & 0x3f) as usize) << 8) | lo as usize;
                hops += 1;
                if hops > 64 {
                    return false;
                }
                continue;
            }
            let Some(&want) = rest.first() else {
                return false;
            };
            if len != want {
                return false;
            }
            if len == 0 {
                return true;
            }
            let n = len as usize;
            let (Some(have), Some(want)) =
                (written.get(offset + 1..offset + 1 + n), rest.get(1..1 + n))
            else {
                return false;
            };
            if !have.eq_ignore_ascii_case(want) {
                return false;
            }
            offset += 1 + n;
            rest = &rest[1 + n..];
        }
    }

    /// Writes an OPT record (RFC 6891 §6.1.2) outside the section limit:
    /// room for it was kept with [`reserve`](Self::reserve).
    pub fn opt(
        &mut self,
        udp_size: u16,
        ext_rcode: u8,
        dnssec_ok: bool,
        options: &[(u16, &[u8])],
    ) -> Result<(), WriteError> {
        let rdlen: usize = options.iter().map(|(_, d)| 4 + d.len()).sum();
        let need = 11 + rdlen;
        if self.pos + need > self.buf.len() {
            return Err(WriteError);
        }
        let saved = self.limit;
        self.limit = self.buf.len();
        let ttl = ((ext_rcode as u32) << 24) | if dnssec_ok { 0x8000 } else { 0 };
        self.put(&[0])?;
        self.put(&rtype::OPT.to_be_bytes())?;
        self.put(&udp_size.to_be_bytes())?;
        self.put(&ttl.to_be_bytes())?;
        self.put(&(rdlen as u16).to_be_bytes())?;
        for (code, data) in options {
            self.put(&code.to_be_bytes())?;
            self.put(&(data.len() as u16).to_be_bytes())?;
            self.put(data)?;
        }
        self.limit = saved;
        self.counts[Section::Additional as usize] += 1;
        Ok(())
    }

    /// Writes the section counts and returns the message length.
    pub fn finish(&mut self) -> usize {
        for (i, c) in self.counts.iter().enumerate() {
            let at = 6 + 2 * i;
            self.buf[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        self.pos
    }
}

/// The owner of a record: a pointer to a name already in the message, or
/// a name to write (compressed).
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    Pointer(u16),
    Name(&'a [u8]),
    /// Labels (without the root label) written out, then a pointer to
    /// the rest of the name: a zone transfer's owners are the apex plus
    /// a prefix, so this spares a search of the compression table.
    Prefixed(&'a [u8], u16),
}

#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pos: usize,
    counts: [u16; 3],
    nnames: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_against_question_and_rdata() {
        let mut buf = [0u8; 512];
        let mut w = MessageWriter::new(&mut buf, 512);
        w.header(1, 0x8400);
        w.question(b"\x03www\x07example\x03com\x00\x00\x02\x00\x01")
            .unwrap();
        w.start_section(Section::Answer);
        let ns = b"\x02ns\x07EXAMPLE\x03com\x00";
        w.rrset(
            Owner::Name(b"\x07example\x03com\x00"),
            rtype::NS,
            60,
            [&ns[..]].into_iter(),
        )
        .unwrap();
        w.start_section(Section::Additional);
        w.rrset(
            Owner::Name(b"\x02ns\x07example\x03com\x00"),
            rtype::A,
            60,
            [&[1u8, 2, 3, 4][..]].into_iter(),
        )
        .unwrap();
        let len = w.finish();
        let msg = &buf[..len];
        // owner of NS: pointer to offset 16 (example.com in the question)
        assert_eq!(&msg[33..35], &[0xc0, 16]);
        // NS rdata: "ns" then pointer to 16; A owner: pointer to the rdata name
        assert_eq!(&msg[45..50], b"\x02ns\xc0\x10");
        assert_eq!(&msg[50..52], &[0xc0, 45]);
        // Cross-check with an independent parser.
        let parsed = hickory_proto::op::Message::from_vec(msg).unwrap();
        assert_eq!(parsed.answers()[0].name().to_ascii(), "example.com.");
        assert_eq!(parsed.additionals()[0].name().to_ascii(), "ns.example.com.");
    }

    /// With a name table, thousands of names compress (beyond the 64 the
    /// small table holds), rolled-back names are never pointed to, and an
    /// independent parser reads every name back.
    #[test]
    fn a_name_table_compresses_many_names_and_survives_rollbacks() {
        let mut buf = vec![0u8; 65535];
        let mut table = NameTable::default();
        let mut w = MessageWriter::with_table(&mut buf, 65535, &mut table);
        w.header(1, 0x8400);
        w.question(b"\x07example\x03com\x00\x00\xfc\x00\x01")
            .unwrap();
        w.start_section(Section::Answer);
        let name = |i: usize| {
            let label = format!("host{i}");
            let mut n = vec![label.len() as u8];
            n.extend(label.as_bytes());
            n.extend(b"\x07EXAMPLE\x03com\x00");
            n
        };
        let mut expect = Vec::new();
        for i in 0..1500 {
            // Each owner is a name seen before as an MX target (from the
            // second on), so it compresses to a pointer through the table.
            let owner = name(i);
            let mut mx = vec![0, 10];
            mx.extend(name(i + 1));
            w.rrset(Owner::Name(&owner), rtype::MX, 60, [&mx[..]].into_iter())
                .unwrap();
            expect.push((i, i + 1));
            if i % 100 == 7 {
                // Written and rolled back: its names must not be used.
                let mark = w.mark();
                let gone = name(90_000 + i);
                w.rrset(
                    Owner::Name(&gone),
                    rtype::A,
                    60,
                    [&[1u8, 2, 3, 4][..]].into_iter(),
                )
                .unwrap();
                w.rollback(mark);
            }
        }
        let len = w.finish();
        // Compressed: far less than the names written out (~25 octets
        // each, twice per record).
        assert!(len < 1500 * 30, "{len} octets");
        let parsed = hickory_proto::op::Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(parsed.answers().len(), 1500);
        for (record, (owner, target)) in parsed.answers().iter().zip(expect) {
            assert_eq!(
                record.name().to_ascii().to_ascii_lowercase(),
                format!("host{owner}.example.com.")
            );
            let data = record.data().map(|d| d.to_string()).unwrap_or_default();
            assert_eq!(
                data.to_ascii_lowercase(),
                format!("10 host{target}.example.com.")
            );
        }
    }

    #[test]
    fn rrset_is_all_or_nothing() {
        let mut buf = [0u8; 512];
        let mut w = MessageWriter::new(&mut buf, 60);
        w.header(1, 0x8400);
        w.question(b"\x01a\x00\x00\x01\x00\x01").unwrap();
        let rdatas: [&[u8]; 3] = [&[1, 1, 1, 1], &[2, 2, 2, 2], &[3, 3, 3, 3]];
        let before = w.len();
        assert!(w
            .rrset(Owner::Pointer(12), rtype::A, 1, rdatas.into_iter())
            .is_err());
        assert_eq!(w.len(), before);
        assert_eq!(w.count(Section::Answer), 0);
    }
}
