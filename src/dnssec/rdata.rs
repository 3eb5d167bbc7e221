//! Reading the DNSSEC record types from RDATA (RFC 4034, RFC 5155), and
//! the canonical form of RDATA that signatures are computed over (RFC
//! 4034 §6.2 as corrected by RFC 6840 §5.1). Every parser returns `None`
//! on malformed data: zone data comes from files.

use crate::name;
use crate::zone::rtype;

/// An RRSIG's RDATA (RFC 4034 §3.1).
#[derive(Debug, Clone, Copy)]
pub struct Rrsig<'a> {
    pub covered: u16,
    pub algorithm: u8,
    pub labels: u8,
    pub original_ttl: u32,
    pub expiration: u32,
    pub inception: u32,
    pub key_tag: u16,
    pub signer: &'a [u8],
    pub signature: &'a [u8],
    /// The fixed fields: what the signed data starts with, before the
    /// signer's name (RFC 4034 §3.1.8.1).
    pub fixed: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> Rrsig<'a> {
    pub fn parse(rdata: &'a [u8]) -> Option<Rrsig<'a>> {
        let fixed = rdata.get(..18)?;
        let rest = rdata.get(18..)?;
        let signer_len = name::wire_len(rest)?;
        let (signer, signature) = rest.split_at_checked(signer_len)?;
        Some(Rrsig {
            covered: u16_at(fixed, 0)?,
            algorithm: *fixed.get(2)?,
            labels: *fixed.get(3)?,
            original_ttl: u32_at(fixed, 4)?,
            expiration: u32_at(fixed, 8)?,
            inception: u32_at(fixed, 12)?,
            key_tag: u16_at(fixed, 16)?,
            signer,
            signature,
            fixed,
        })
    }
}

/// A DNSKEY's RDATA (RFC 4034 §2.1).
#[derive(Debug, Clone, Copy)]
pub struct Dnskey<'a> {
    pub flags: u16,
    pub protocol: u8,
    pub algorithm: u8,
    pub public_key: &'a [u8],
    pub key_tag: u16,
}

/// The Zone Key flag (RFC 4034 §2.1.1): only such keys sign zone data.
pub const ZONE_KEY: u16 = 0x0100;

impl<'a> Dnskey<'a> {
    pub fn parse(rdata: &'a [u8]) -> Option<Dnskey<'a>> {
        Some(Dnskey {
            flags: u16_at(rdata, 0)?,
            protocol: *rdata.get(2)?,
            algorithm: *rdata.get(3)?,
            public_key: rdata.get(4..)?,
            key_tag: key_tag(rdata),
        })
    }

    /// A key that may verify signatures over zone data: Zone Key flag
    /// set and protocol 3 (RFC 4034 §2.1.1, §2.1.2).
    pub fn is_zone_key(&self) -> bool {
        self.flags & ZONE_KEY != 0 && self.protocol == 3
    }
}

/// The key tag of DNSKEY RDATA (RFC 4034 Appendix B).
pub fn key_tag(rdata: &[u8]) -> u16 {
    if rdata.get(3) == Some(&1) {
        // RSA/MD5 (Appendix B.1): the third-to-last and second-to-last
        // octets of the public key.
        let n = rdata.len();
        return match (n.checked_sub(3).and_then(|i| rdata.get(i..i + 2)), n >= 7) {
            (Some(b), true) => u16::from_be_bytes([b[0], b[1]]),
            _ => 0,
        };
    }
    let mut ac: u32 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 {
            u32::from(b)
        } else {
            u32::from(b) << 8
        };
    }
    ac += (ac >> 16) & 0xffff;
    (ac & 0xffff) as u16
}

/// An NSEC's RDATA (RFC 4034 §4.1).
#[derive(Debug, Clone)]
pub struct Nsec<'a> {
    pub next: &'a [u8],
    pub types: Vec<u16>,
}

impl<'a> Nsec<'a> {
    pub fn parse(rdata: &'a [u8]) -> Option<Nsec<'a>> {
        let len = name::wire_len(rdata)?;
        let (next, bitmap) = rdata.split_at_checked(len)?;
        Some(Nsec {
            next,
            types: bitmap_types(bitmap)?,
        })
    }
}

/// The hash parameters shared by NSEC3 and NSEC3PARAM (RFC 5155 §3.1,
/// §4.1): which chain a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nsec3Params {
    pub algorithm: u8,
    pub iterations: u16,
    pub salt: Vec<u8>,
}

impl std::fmt::Display for Nsec3Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let salt = if self.salt.is_empty() {
            "-".to_string()
        } else {
            hex(&self.salt)
        };
        write!(
            f,
            "hash algorithm {}, {} iterations, salt {salt}",
            self.algorithm, self.iterations
        )
    }
}

/// Parses the leading `algorithm, flags, iterations, salt` of NSEC3 or
/// NSEC3PARAM RDATA; returns the flags and what follows the salt.
fn params_and_flags(rdata: &[u8]) -> Option<(Nsec3Params, u8, &[u8])> {
    let algorithm = *rdata.first()?;
    let flags = *rdata.get(1)?;
    let iterations = u16_at(rdata, 2)?;
    let salt_len = *rdata.get(4)? as usize;
    let salt = rdata.get(5..5 + salt_len)?.to_vec();
    let rest = rdata.get(5 + salt_len..)?;
    let params = Nsec3Params {
        algorithm,
        iterations,
        salt,
    };
    Some((params, flags, rest))
}

/// An NSEC3's RDATA (RFC 5155 §3.2).
#[derive(Debug, Clone)]
pub struct Nsec3 {
    pub params: Nsec3Params,
    pub flags: u8,
    pub next_hash: Vec<u8>,
    pub types: Vec<u16>,
}

/// The Opt-Out flag of NSEC3 (RFC 5155 §3.1.2.1).
pub const OPT_OUT: u8 = 1;

impl Nsec3 {
    pub fn parse(rdata: &[u8]) -> Option<Nsec3> {
        let (params, flags, rest) = params_and_flags(rdata)?;
        let hash_len = *rest.first()? as usize;
        let next_hash = rest.get(1..1 + hash_len)?.to_vec();
        let types = bitmap_types(rest.get(1 + hash_len..)?)?;
        Some(Nsec3 {
            params,
            flags,
            next_hash,
            types,
        })
    }
}

/// An NSEC3PARAM's RDATA (RFC 5155 §4.2): the parameters and flags.
pub fn parse_nsec3param(rdata: &[u8]) -> Option<(Nsec3Params, u8)> {
    let (params, flags, rest) = params_and_flags(rdata)?;
    rest.is_empty().then_some((params, flags))
}

/// The types of a type bit map (RFC 4034 §4.1.2), ascending; `None` if it
/// is malformed (windows out of order, a length of 0 or above 32).
pub fn bitmap_types(mut b: &[u8]) -> Option<Vec<u16>> {
    let mut types = Vec::new();
    let mut last_window: Option<u8> = None;
    while !b.is_empty() {
        let window = *b.first()?;
        let len = *b.get(1)? as usize;
        if !(1..=32).contains(&len) || last_window.is_some_and(|w| w >= window) {
            return None;
        }
        let bits = b.get(2..2 + len)?;
        for (i, &octet) in bits.iter().enumerate() {
            for bit in 0..8 {
                if octet & (0x80 >> bit) != 0 {
                    types.push(u16::from(window) << 8 | (i * 8 + bit) as u16);
                }
            }
        }
        last_window = Some(window);
        b = b.get(2 + len..)?;
    }
    Some(types)
}

/// Lower-case hexadecimal, for messages.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Base32 with the extended hex alphabet (RFC 4648 §7), no padding, as
/// NSEC3 owner labels are written (RFC 5155 §3.3).
pub fn base32hex(b: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(b.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &x in b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes an NSEC3 owner label; `None` if it is not base32hex (either
/// case) or leaves non-zero bits over.
pub fn decode_base32hex(label: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(label.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in label {
        let v = match c.to_ascii_lowercase() {
            d @ b'0'..=b'9' => d - b'0',
            l @ b'a'..=b'v' => l - b'a' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0 && bits < 5).then_some(out)
}

/// Where the domain names sit in RDATA of a type whose names are
/// lower-cased in canonical form: the octets before the first name, and
/// the number of names in a row. RFC 4034 §6.2 item 3 lists the types;
/// RFC 6840 §5.1 takes NSEC off the list (RRSIG stays).
enum NameLayout {
    /// `skip` fixed octets, then `count` names.
    Fixed { skip: usize, count: usize },
    /// NAPTR (RFC 3403): two u16, three character-strings, then a name.
    Naptr,
    /// A6 (RFC 2874): a prefix length, an address suffix, then a name
    /// when the prefix length is not 0.
    A6,
}

fn name_layout(rr_type: u16) -> Option<NameLayout> {
    use NameLayout::*;
    Some(match rr_type {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, NXT, DNAME
        rtype::NS | 3 | 4 | rtype::CNAME | 7 | 8 | 9 | rtype::PTR | 30 | rtype::DNAME => {
            Fixed { skip: 0, count: 1 }
        }
        // SOA, MINFO, RP
        rtype::SOA | 14 | 17 => Fixed { skip: 0, count: 2 },
        // MX, AFSDB, RT, KX
        rtype::MX | 18 | 21 | 36 => Fixed { skip: 2, count: 1 },
        // PX
        26 => Fixed { skip: 2, count: 2 },
        rtype::SRV => Fixed { skip: 6, count: 1 },
        // SIG, RRSIG
        24 | rtype::RRSIG => Fixed { skip: 18, count: 1 },
        35 => Naptr,
        38 => A6,
        _ => return None,
    })
}

/// Appends the canonical form of `rdata` (RFC 4034 §6.2): the names
/// embedded in the types listed there lower-cased, everything else as is.
/// Malformed RDATA is appended unchanged (its signature will not verify,
/// which is then reported).
pub fn push_canonical(rr_type: u16, rdata: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(rdata);
    let Some(layout) = name_layout(rr_type) else {
        return;
    };
    let Some(tail) = out.get_mut(start..) else {
        return;
    };
    let (at, count) = match layout {
        NameLayout::Fixed { skip, count } => (Some(skip), count),
        NameLayout::Naptr => (naptr_name_offset(tail), 1),
        NameLayout::A6 => (a6_name_offset(tail), 1),
    };
    let Some(mut at) = at else {
        return;
    };
    for _ in 0..count {
        let Some(len) = tail.get(at..).and_then(name::wire_len) else {
            return;
        };
        if let Some(n) = tail.get_mut(at..at + len) {
            name::make_lowercase(n);
        }
        at += len;
    }
}

fn naptr_name_offset(rdata: &[u8]) -> Option<usize> {
    let mut at = 4;
    for _ in 0..3 {
        at += 1 + *rdata.get(at)? as usize;
    }
    Some(at)
}

fn a6_name_offset(rdata: &[u8]) -> Option<usize> {
    let prefix = *rdata.first()? as usize;
    let suffix = (128usize.checked_sub(prefix)?).div_ceil(8);
    (prefix > 0).then_some(1 + suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::test_wire as wire;

    #[test]
    fn key_tags_match_ldns_keygen() {
        // Keys made by ldns-keygen, with the tags it printed.
        for (flags_alg, key, tag) in [
            (
                [1, 0, 3, 13],
                "/BVseZyxtCiiwLUtjfeSCUCWn3F69ERAqhz3T3cbmCuvPN722p8uGXbeC/6CnTzvNnX8SQhG1/OyfWEhz5HmeA==",
                15183,
            ),
            (
                [1, 0, 3, 8],
                "AwEAAewWb7Ue0tur8lkK/AiryjYmxAn+73TgfN1nzWo2Qix6jJ84d8p1KCsaK9yuBhhn2R5bWx3Rr7L/q1LGSXP5aqEtIbhy6VzHJDRXkgBIDk5h4U9dIGhgtaLwWhGW4O6JFCNv5idZHtFD7NMqHi8/vKVm05vTh94ZMc5+JXYrA46D",
                59896,
            ),
        ] {
            let mut rdata = flags_alg.to_vec();
            rdata.extend(base64_decode(key));
            let k = Dnskey::parse(&rdata).unwrap();
            assert_eq!(k.key_tag, tag);
            assert!(k.is_zone_key());
        }
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
        for c in s.bytes().filter(|&c| c != b'=') {
            acc = (acc << 6) | A.iter().position(|&a| a == c).unwrap() as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    #[test]
    fn bitmaps_round_trip_and_reject_disorder() {
        // RFC 4034 §4.3: A MX RRSIG NSEC TYPE1234.
        let b = [
            0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
        ];
        assert_eq!(bitmap_types(&b), Some(vec![1, 15, 46, 47, 1234]));
        assert_eq!(bitmap_types(&[4, 1, 0x20, 0, 1, 0x40]), None);
        assert_eq!(bitmap_types(&[0, 0]), None);
        assert_eq!(bitmap_types(&[0, 2, 0x40]), None);
        assert_eq!(bitmap_types(&[]), Some(vec![]));
    }

    #[test]
    fn base32hex_round_trips() {
        let h = [0x3b, 0xfe, 0x00, 0x01, 0xff, 0x80, 0x12, 0x34, 0x56, 0x78];
        let text = base32hex(&h);
        assert_eq!(text.len(), 16);
        assert_eq!(decode_base32hex(text.as_bytes()).unwrap(), h);
        assert_eq!(
            decode_base32hex(text.to_ascii_uppercase().as_bytes()).unwrap(),
            h
        );
        assert!(decode_base32hex(b"wxyz").is_none());
        // RFC 5155 Appendix A: the hash of "example" with salt aabbccdd,
        // 12 iterations.
        assert_eq!(
            decode_base32hex(b"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom").map(|h| h.len()),
            Some(20)
        );
    }

    #[test]
    fn canonical_form_lowercases_names_of_listed_types_only() {
        let mut mx = vec![0, 10];
        mx.extend(wire("Mail.Example."));
        let mut out = Vec::new();
        push_canonical(rtype::MX, &mx, &mut out);
        assert_eq!(&out[2..], &wire("mail.example.")[..]);

        let mut soa = wire("NS.Example.");
        soa.extend(wire("Host.Example."));
        soa.extend([0u8; 20]);
        out.clear();
        push_canonical(rtype::SOA, &soa, &mut out);
        let mut expect = wire("ns.example.");
        expect.extend(wire("host.example."));
        expect.extend([0u8; 20]);
        assert_eq!(out, expect);

        // NSEC's next name keeps its case (RFC 6840 §5.1); TXT is data.
        for (t, data) in [
            (rtype::NSEC, wire("A.example.")),
            (rtype::TXT, b"\x02AB".to_vec()),
        ] {
            out.clear();
            push_canonical(t, &data, &mut out);
            assert_eq!(out, data);
        }

        // NAPTR: the replacement after three character-strings.
        let mut naptr = vec![0, 1, 0, 2, 1, b'U', 0, 1, b'X'];
        naptr.extend(wire("Y.Example."));
        out.clear();
        push_canonical(35, &naptr, &mut out);
        assert_eq!(&out[9..], &wire("y.example.")[..]);
        assert_eq!(&out[..9], &naptr[..9]);

        // Malformed: copied as is, no panic.
        out.clear();
        push_canonical(rtype::MX, &[0], &mut out);
        assert_eq!(out, vec![0]);
    }

    #[test]
    fn rrsig_and_nsec3_parse_and_reject_truncation() {
        let mut r = vec![0, 1, 13, 2, 0, 0, 1, 44, 0, 0, 0, 9, 0, 0, 0, 1, 0x30, 0x39];
        r.extend(wire("example."));
        r.extend([1, 2, 3]);
        let s = Rrsig::parse(&r).unwrap();
        assert_eq!(
            (s.covered, s.algorithm, s.labels, s.original_ttl, s.key_tag),
            (1, 13, 2, 300, 12345)
        );
        assert_eq!((s.expiration, s.inception), (9, 1));
        assert_eq!(s.signature, &[1, 2, 3]);
        assert!(Rrsig::parse(&r[..20]).is_none());

        let n3 = [1, 1, 0, 12, 2, 0xaa, 0xbb, 3, 1, 2, 3, 0, 1, 0x40];
        let p = Nsec3::parse(&n3).unwrap();
        assert_eq!(p.params.iterations, 12);
        assert_eq!(p.params.salt, vec![0xaa, 0xbb]);
        assert_eq!(
            (p.flags, p.next_hash.clone(), p.types),
            (1, vec![1, 2, 3], vec![1])
        );
        assert!(Nsec3::parse(&n3[..9]).is_none());
        assert_eq!(
            parse_nsec3param(&[1, 0, 0, 0, 0]).map(|(p, f)| (p.salt, f)),
            Some((vec![], 0))
        );
    }
}
