//! Parsing an incoming request without copying or allocating.

use super::{HEADER_LEN, MAX_MESSAGE};
use crate::name::MAX_NAME_LEN;

/// The question of a request; `name` is a slice of the message, in the
/// case the client used.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub name: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
}

/// What the client said in its OPT record (RFC 6891 §6.1.3).
#[derive(Debug, Clone, Copy, Default)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    pub nsid: bool,
    pub expire: bool,
    /// ZONEVERSION (RFC 9660) asked for, with the empty option a query
    /// carries.
    pub zoneversion: bool,
    /// Where the data of the first COOKIE option (RFC 7873) is in the
    /// message: offset and length, whatever the length (judging it is
    /// `query::cookie`'s, which may be turned off). See
    /// [`Request::cookie`]. Later COOKIE options are ignored.
    pub cookie: Option<(usize, usize)>,
    /// An option that is malformed by its own RFC's rules (today: a
    /// non-empty ZONEVERSION). The request is otherwise readable, so it is
    /// answered FORMERR *with* an OPT record (RFC 6891 §7), which
    /// `parse_request` cannot do; the reason is for the log.
    pub bad_option: Option<&'static str>,
}

/// A parsed request. Sections other than the question and OPT are only
/// checked for well-formedness here; later layers (NOTIFY, UPDATE, TSIG)
/// read them from `message` themselves.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub message: &'a [u8],
    pub id: u16,
    /// The flags word as received.
    pub flags: u16,
    pub question: Question<'a>,
    /// Offset just past the question.
    pub question_end: usize,
    pub edns: Option<Edns>,
    /// A TSIG record is present (RFC 8945 §5.1: it must be the last
    /// record; `tsig` checks that and everything else about it).
    pub tsig: bool,
}

impl<'a> Request<'a> {
    pub fn opcode(&self) -> u8 {
        opcode_of(self.flags)
    }

    /// The data of the request's COOKIE option, if it has one.
    pub fn cookie(&self) -> Option<&'a [u8]> {
        let (at, len) = self.edns?.cookie?;
        self.message.get(at..at.checked_add(len)?)
    }
}

/// The opcode in a header's flags word (RFC 1035 §4.1.1).
pub fn opcode_of(flags: u16) -> u8 {
    ((flags >> 11) & 0x0f) as u8
}

/// Why a request could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Too short to have a header, or itself a response: no answer at all.
    #[error("message dropped ({0})")]
    Drop(&'static str),
    /// Broken after the header: answered with FORMERR, echoing the id and
    /// opcode (and the question, when `question_end` is set).
    #[error("malformed request ({reason})")]
    FormErr {
        id: u16,
        flags: u16,
        reason: &'static str,
        question_end: Option<usize>,
    },
    /// An opcode we do not implement ([`super::opcode::is_implemented`])
    /// in a message that does not read as a query: answered NOTIMP with
    /// the header alone.
    #[error("opcode {opcode} not implemented")]
    NotImp { id: u16, flags: u16, opcode: u8 },
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.buf.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(b)
    }

    /// An uncompressed name (the question): returns its slice.
    fn plain_name(&mut self) -> Result<&'a [u8], &'static str> {
        let start = self.pos;
        loop {
            let len = self.u8().ok_or("truncated name")?;
            match len {
                0 => break,
                1..=63 => {
                    self.bytes(len as usize).ok_or("truncated name")?;
                }
                0xc0..=0xff => return Err("compressed question name"),
                _ => return Err("bad label type"),
            }
            if self.pos - start > MAX_NAME_LEN {
                return Err("name too long");
            }
        }
        if self.pos - start > MAX_NAME_LEN {
            return Err("name too long");
        }
        Ok(&self.buf[start..self.pos])
    }

    /// Skips a possibly compressed name; returns whether it is the root.
    fn skip_name(&mut self) -> Result<bool, &'static str> {
        let start = self.pos;
        loop {
            let len = self.u8().ok_or("truncated name")?;
            match len {
                0 => return Ok(self.pos - start == 1),
                1..=63 => {
                    self.bytes(len as usize).ok_or("truncated name")?;
                }
                0xc0..=0xff => {
                    self.u8().ok_or("truncated name")?;
                    return Ok(false);
                }
                _ => return Err("bad label type"),
            }
            if self.pos - start > MAX_NAME_LEN {
                return Err("name too long");
            }
        }
    }
}

/// Parses a request (RFC 1035 §4.1). Never panics on any input.
///
/// The opcode is judged before anything after the header. RFC 8906 §3.1.4:
/// an opcode we do not implement is answered NOTIMP, and nothing but the
/// header of such a message need follow the layout of a query; so for
/// those opcodes a body that is not one question (none at all, as the
/// EDNS compliance test sends with `+header-only +opcode=15`) is no format
/// error but [`ParseError::NotImp`]. A body that does read as a query is
/// returned as usual, so that the NOTIMP answer can echo its question and
/// OPT record.
pub fn parse_request(msg: &[u8]) -> Result<Request<'_>, ParseError> {
    match parse_query_layout(msg) {
        Err(ParseError::FormErr { id, flags, .. })
            if !super::opcode::is_implemented(opcode_of(flags)) =>
        {
            Err(ParseError::NotImp {
                id,
                flags,
                opcode: opcode_of(flags),
            })
        }
        parsed => parsed,
    }
}

/// A message laid out as RFC 1035 §4.1 queries are: one question, records
/// in the other sections, at most one OPT.
fn parse_query_layout(msg: &[u8]) -> Result<Request<'_>, ParseError> {
    if msg.len() < HEADER_LEN {
        return Err(ParseError::Drop("shorter than a header"));
    }
    if msg.len() > MAX_MESSAGE {
        return Err(ParseError::Drop("longer than a DNS message"));
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & super::flag::QR != 0 {
        return Err(ParseError::Drop("a response, not a request"));
    }
    let count = |i: usize| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]);
    let (qd, an, ns, ar) = (count(0), count(1), count(2), count(3));
    let formerr = |reason, question_end| ParseError::FormErr {
        id,
        flags,
        reason,
        question_end,
    };
    if qd != 1 {
        return Err(formerr("QDCOUNT is not 1", None));
    }
    let mut cur = Cursor {
        buf: msg,
        pos: HEADER_LEN,
    };
    let name = cur.plain_name().map_err(|r| formerr(r, None))?;
    let qtype = cur.u16().ok_or(formerr("truncated question", None))?;
    let qclass = cur.u16().ok_or(formerr("truncated question", None))?;
    let question_end = cur.pos;
    let question = Question {
        name,
        qtype,
        qclass,
    };
    let fe = |r| formerr(r, Some(question_end));
    for _ in 0..(an as usize + ns as usize) {
        skip_record(&mut cur).map_err(fe)?;
    }
    let mut edns = None;
    let mut tsig = false;
    for _ in 0..ar {
        let owner_is_root = cur.skip_name().map_err(fe)?;
        let rtype = cur.u16().ok_or(fe("truncated record"))?;
        let class = cur.u16().ok_or(fe("truncated record"))?;
        let ttl = cur.u32().ok_or(fe("truncated record"))?;
        let rdlen = cur.u16().ok_or(fe("truncated record"))?;
        let rdata_at = cur.pos;
        let rdata = cur.bytes(rdlen as usize).ok_or(fe("truncated record"))?;
        if rtype == crate::zone::rtype::TSIG {
            tsig = true;
        }
        if rtype != crate::zone::rtype::OPT {
            continue;
        }
        if edns.is_some() {
            return Err(fe("more than one OPT record"));
        }
        if !owner_is_root {
            return Err(fe("OPT owner is not the root"));
        }
        edns = Some(parse_opt(class, ttl, rdata, rdata_at).map_err(fe)?);
    }
    if cur.pos != msg.len() {
        return Err(fe("trailing data after the last record"));
    }
    Ok(Request {
        message: msg,
        id,
        flags,
        question,
        question_end,
        edns,
        tsig,
    })
}

fn skip_record(cur: &mut Cursor<'_>) -> Result<(), &'static str> {
    cur.skip_name()?;
    cur.bytes(8).ok_or("truncated record")?;
    let rdlen = cur.u16().ok_or("truncated record")?;
    cur.bytes(rdlen as usize).ok_or("truncated record")?;
    Ok(())
}

/// RFC 6891 §6.1.3: CLASS is the payload size, TTL holds the extended
/// RCODE, version and flags; options are (code, length, data) triples.
/// `rdata_at` is where the RDATA starts in the message.
fn parse_opt(class: u16, ttl: u32, rdata: &[u8], rdata_at: usize) -> Result<Edns, &'static str> {
    const MALFORMED: &str = "malformed OPT options";
    let mut edns = Edns {
        udp_size: class,
        version: (ttl >> 16) as u8,
        dnssec_ok: ttl & 0x8000 != 0,
        ..Edns::default()
    };
    let mut cur = Cursor { buf: rdata, pos: 0 };
    while cur.pos < rdata.len() {
        let code = cur.u16().ok_or(MALFORMED)?;
        let len = cur.u16().ok_or(MALFORMED)?;
        let data_at = cur.pos;
        cur.bytes(len as usize).ok_or(MALFORMED)?;
        match code {
            super::option::NSID => edns.nsid = true,
            super::option::COOKIE if edns.cookie.is_none() => {
                edns.cookie = Some((rdata_at + data_at, len as usize));
            }
            super::option::EXPIRE => edns.expire = true,
            // RFC 9660 §3: a client asks with an empty option; one with
            // data in a query is a format error (NSD answers FORMERR too).
            super::option::ZONEVERSION if len == 0 => edns.zoneversion = true,
            super::option::ZONEVERSION => {
                edns.bad_option = Some("ZONEVERSION with data in a query");
            }
            _ => {} // RFC 6891 §6.1.2: unknown options are ignored.
        }
    }
    Ok(edns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qd: u16, tail: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, qd as u8, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(tail);
        m
    }

    #[test]
    fn parses_plain_query() {
        let m = query(1, b"\x03www\x07example\x00\x00\x01\x00\x01");
        let r = parse_request(&m).unwrap();
        assert_eq!(r.id, 0x1234);
        assert_eq!(r.question.name, b"\x03www\x07example\x00");
        assert_eq!(r.question.qtype, 1);
        assert!(r.edns.is_none());
    }

    #[test]
    fn qdcount_zero_is_formerr() {
        let m = query(0, b"");
        assert!(matches!(parse_request(&m), Err(ParseError::FormErr { .. })));
    }

    /// A header alone with `opcode`, every other flag as in `flags`.
    fn header_only(opcode: u8, flags: u16) -> Vec<u8> {
        let f = (u16::from(opcode) << 11) | flags;
        let mut m = vec![0xab, 0xcd];
        m.extend(f.to_be_bytes());
        m.extend([0; 8]);
        m
    }

    #[test]
    fn an_unknown_opcode_is_judged_before_the_question() {
        // RFC 8906 §3.1.4: `dig +header-only +opcode=15` (and with every
        // flag set) is NOTIMP, not FORMERR.
        for flags in [0, 0x07f0] {
            let m = header_only(15, flags);
            assert_eq!(
                parse_request(&m).unwrap_err(),
                ParseError::NotImp {
                    id: 0xabcd,
                    flags: (15 << 11) | flags,
                    opcode: 15
                }
            );
        }
        // A body that is not a query at all, for an opcode we do not know.
        let mut m = header_only(3, 0);
        m[5] = 2;
        m.extend(b"\x00garbage");
        assert!(matches!(
            parse_request(&m),
            Err(ParseError::NotImp { opcode: 3, .. })
        ));
    }

    #[test]
    fn implemented_opcodes_keep_their_format_rules() {
        // QUERY and NOTIFY without a question stay FORMERR.
        for opcode in [0, 4] {
            let m = header_only(opcode, 0);
            assert!(
                matches!(parse_request(&m), Err(ParseError::FormErr { .. })),
                "opcode {opcode}"
            );
        }
    }

    #[test]
    fn an_unknown_opcode_with_a_question_is_still_read() {
        // So that the NOTIMP answer echoes the question (and OPT).
        let mut m = query(1, b"\x03www\x07example\x00\x00\x01\x00\x01");
        m[2] = 15 << 3;
        let r = parse_request(&m).unwrap();
        assert_eq!(r.opcode(), 15);
        assert_eq!(r.question.name, b"\x03www\x07example\x00");
    }

    #[test]
    fn two_opt_records_are_formerr() {
        let opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";
        let mut m = query(1, b"\x00\x00\x01\x00\x01");
        m[11] = 2;
        m.extend_from_slice(opt);
        m.extend_from_slice(opt);
        assert!(matches!(
            parse_request(&m),
            Err(ParseError::FormErr {
                reason: "more than one OPT record",
                ..
            })
        ));
    }

    #[test]
    fn opt_fields_are_read() {
        let mut m = query(1, b"\x00\x00\x01\x00\x01");
        m[11] = 1;
        m.extend_from_slice(
            b"\x00\x00\x29\x04\xd0\x00\x01\x80\x00\x00\x08\x00\x03\x00\x00\x00\x63\x00\x00",
        );
        let e = parse_request(&m).unwrap().edns.unwrap();
        assert_eq!(
            (e.udp_size, e.version, e.dnssec_ok, e.nsid),
            (1232, 1, true, true)
        );
    }

    /// A query for the root with an OPT whose RDATA is `options`.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut m = query(1, b"\x00\x00\x06\x00\x01");
        m[11] = 1;
        m.extend_from_slice(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00");
        m.extend_from_slice(&(options.len() as u16).to_be_bytes());
        m.extend_from_slice(options);
        m
    }

    #[test]
    fn empty_zoneversion_is_a_request_for_it() {
        let m = with_options(b"\x00\x13\x00\x00");
        let e = parse_request(&m).unwrap().edns.unwrap();
        assert!(e.zoneversion, "empty option 19 asks for ZONEVERSION: {e:?}");
        assert_eq!(e.bad_option, None);
        assert!(!e.nsid && !e.expire);
    }

    #[test]
    fn zoneversion_is_not_asked_without_the_option() {
        let m = with_options(b"\x00\x03\x00\x00");
        let e = parse_request(&m).unwrap().edns.unwrap();
        assert!(!e.zoneversion && e.nsid, "{e:?}");
    }

    #[test]
    fn non_empty_zoneversion_marks_the_request_malformed() {
        // RFC 9660 §3: LABELCOUNT, TYPE and a serial belong in answers only.
        let m = with_options(b"\x00\x13\x00\x06\x02\x00\x00\x00\x00\x01");
        let e = parse_request(&m)
            .expect("still a readable request")
            .edns
            .unwrap();
        assert!(!e.zoneversion, "{e:?}");
        assert_eq!(e.bad_option, Some("ZONEVERSION with data in a query"));
    }

    #[test]
    fn the_first_cookie_option_is_found_in_the_message() {
        let m = with_options(
            b"\x00\x03\x00\x00\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08\x00\x0a\x00\x01\xff",
        );
        let r = parse_request(&m).unwrap();
        assert_eq!(r.cookie(), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
        // Any length is read; `query::cookie` judges it.
        let r = with_options(b"\x00\x0a\x00\x03\x01\x02\x03");
        assert_eq!(parse_request(&r).unwrap().cookie(), Some(&[1, 2, 3][..]));
        let r = with_options(b"\x00\x03\x00\x00");
        assert_eq!(parse_request(&r).unwrap().cookie(), None);
    }

    #[test]
    fn option_cut_short_is_formerr() {
        let m = with_options(b"\x00\x13\x00\x06\x02");
        assert!(matches!(
            parse_request(&m),
            Err(ParseError::FormErr {
                reason: "malformed OPT options",
                ..
            })
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        for len in 0..600 {
            let mut m = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                m.push(seed as u8);
            }
            let _ = parse_request(&m);
        }
    }
}
