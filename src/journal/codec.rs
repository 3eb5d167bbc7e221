//! The binary form of the journal: header, frames and changeset payloads
//! (the layout is in the module documentation of [`super`]).
//!
//! Decoding uses checked access only: the file may be torn by a crash or
//! damaged on disk, and that must end in a warning, never a panic.

use super::{Changeset, Record};
use crate::serial::Serial;

pub const MAGIC: &[u8; 8] = b"ZSJOURNL";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 12;
/// Length and checksum in front of each payload.
pub const FRAME_HEADER_LEN: usize = 8;

pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&VERSION.to_be_bytes());
    h
}

/// Why a record or changeset does not fit the format's length fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("owner name too long")]
    OwnerTooLong,
    #[error("RDATA of a type {rtype} record longer than 65535")]
    RdataTooLong { rtype: u16 },
    #[error("more than 2^32 records")]
    TooManyRecords,
    #[error("changeset larger than 4 GiB")]
    TooLarge,
}

/// The whole frame for a changeset, or what makes it unstorable.
pub fn encode_frame(c: &Changeset) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0u8; FRAME_HEADER_LEN];
    out.extend_from_slice(&c.from_serial.get().to_be_bytes());
    out.extend_from_slice(&c.to_serial.get().to_be_bytes());
    put_record(&mut out, &c.old_soa)?;
    put_record(&mut out, &c.new_soa)?;
    for list in [&c.removed, &c.added] {
        let count = u32::try_from(list.len()).map_err(|_| EncodeError::TooManyRecords)?;
        out.extend_from_slice(&count.to_be_bytes());
        for r in list {
            put_record(&mut out, r)?;
        }
    }
    let payload = out.get(FRAME_HEADER_LEN..).unwrap_or(&[]);
    let len = u32::try_from(payload.len()).map_err(|_| EncodeError::TooLarge)?;
    let crc = crc32fast::hash(payload);
    out[..4].copy_from_slice(&len.to_be_bytes());
    out[4..8].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

pub(super) fn put_record(out: &mut Vec<u8>, r: &Record) -> Result<(), EncodeError> {
    put_fields(out, &r.owner, r.rtype, r.ttl, &r.rdata)
}

/// [`put_record`] of a record given by its fields.
pub(super) fn put_fields(
    out: &mut Vec<u8>,
    owner: &[u8],
    rtype: u16,
    ttl: u32,
    rdata: &[u8],
) -> Result<(), EncodeError> {
    let owner_len = u16::try_from(owner.len()).map_err(|_| EncodeError::OwnerTooLong)?;
    let rdata_len = u16::try_from(rdata.len()).map_err(|_| EncodeError::RdataTooLong { rtype })?;
    out.extend_from_slice(&owner_len.to_be_bytes());
    out.extend_from_slice(owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&rdata_len.to_be_bytes());
    out.extend_from_slice(rdata);
    Ok(())
}

/// What reading one frame at the start of a buffer found.
#[derive(Debug)]
pub enum Frame {
    /// A good frame: the changeset and the frame's total length.
    Good(Changeset, usize),
    /// The buffer ends inside the frame (a torn write).
    Torn,
    /// The checksum fails, or the payload does not parse.
    Corrupt(&'static str),
}

/// Reads the frame at the start of `buf` (which is not empty).
pub fn read_frame(buf: &[u8]) -> Frame {
    let Some(head) = buf.get(..FRAME_HEADER_LEN) else {
        return Frame::Torn;
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let Some(payload) = FRAME_HEADER_LEN
        .checked_add(len)
        .and_then(|end| buf.get(FRAME_HEADER_LEN..end))
    else {
        return Frame::Torn;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Corrupt("checksum mismatch");
    }
    match decode_payload(payload) {
        Some(c) => Frame::Good(c, FRAME_HEADER_LEN + len),
        // Checksum good but unparsable: written wrong, not torn; treated
        // the same, since nothing after it can be trusted either.
        None => Frame::Corrupt("checksum good but the changeset does not parse"),
    }
}

pub(super) struct Reader<'a> {
    pub(super) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(super) fn record(&mut self) -> Option<Record> {
        let owner_len = self.u16()? as usize;
        let owner = self.take(owner_len)?.to_vec();
        let rtype = self.u16()?;
        let ttl = self.u32()?;
        let rdata_len = self.u16()? as usize;
        let rdata = self.take(rdata_len)?.to_vec();
        Some(Record {
            owner,
            rtype,
            ttl,
            rdata,
        })
    }
    fn records(&mut self) -> Option<Vec<Record>> {
        let count = self.u32()? as usize;
        // The count comes from disk: reserve no more than the remaining
        // octets could hold (a record takes at least 10), so a damaged
        // count cannot make us allocate gigabytes.
        let mut out = Vec::with_capacity(count.min(self.rest.len() / 10));
        for _ in 0..count {
            out.push(self.record()?);
        }
        Some(out)
    }
}

fn decode_payload(payload: &[u8]) -> Option<Changeset> {
    let mut r = Reader { rest: payload };
    let c = Changeset {
        from_serial: Serial(r.u32()?),
        to_serial: Serial(r.u32()?),
        old_soa: r.record()?,
        new_soa: r.record()?,
        removed: r.records()?,
        added: r.records()?,
    };
    // Trailing octets mean the writer and reader disagree on the layout.
    r.rest.is_empty().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &[u8], rtype: u16, rdata: &[u8]) -> Record {
        Record {
            owner: owner.to_vec(),
            rtype,
            ttl: 300,
            rdata: rdata.to_vec(),
        }
    }

    fn sample() -> Changeset {
        Changeset {
            from_serial: Serial(7),
            to_serial: Serial(8),
            old_soa: rec(b"\x07example\0", 6, b"old"),
            new_soa: rec(b"\x07example\0", 6, b"new"),
            removed: vec![rec(b"\x03www\x07example\0", 1, &[192, 0, 2, 1])],
            added: vec![
                rec(b"\x03www\x07example\0", 1, &[192, 0, 2, 2]),
                rec(b"\x03www\x07example\0", 16, b""),
            ],
        }
    }

    #[test]
    fn a_frame_decodes_to_the_changeset_it_encodes() {
        let frame = encode_frame(&sample()).unwrap();
        match read_frame(&frame) {
            Frame::Good(c, len) => assert_eq!((c, len), (sample(), frame.len())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_cut_short_frame_is_torn_and_never_panics() {
        let frame = encode_frame(&sample()).unwrap();
        for cut in 0..frame.len() {
            assert!(matches!(read_frame(&frame[..cut]), Frame::Torn), "{cut}");
        }
    }

    #[test]
    fn every_flipped_payload_byte_fails_the_checksum() {
        let frame = encode_frame(&sample()).unwrap();
        for i in FRAME_HEADER_LEN..frame.len() {
            let mut f = frame.clone();
            f[i] ^= 0x40;
            assert!(matches!(read_frame(&f), Frame::Corrupt(_)), "{i}");
        }
    }

    #[test]
    fn a_payload_with_a_good_checksum_but_bad_layout_is_corrupt() {
        // A record count far beyond the payload, with a checksum to match.
        let mut payload = vec![0u8; 8];
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        frame.extend_from_slice(&payload);
        assert!(matches!(read_frame(&frame), Frame::Corrupt(_)));
    }
}
