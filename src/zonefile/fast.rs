//! Rdata of the most common types (A, AAAA, NS, CNAME, PTR, MX, TXT, SPF)
//! written straight into the output buffer.
//!
//! Going through `domain` costs a typed value per record, an allocation or
//! more per token, and a dispatch over every type it knows; for large zones
//! of plain address records that was a good part of the load time.
//!
//! This path only accepts input whose result it is sure of and declines
//! everything else (escapes, wrong token counts, any error), so `domain`
//! still decides every error message and every unusual case. A test checks
//! over many inputs that whatever this path accepts, `domain` accepts with
//! the same octets.

use super::lexer::Token;
use super::name::append_name;

const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const PTR: u16 = 12;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const SPF: u16 = 99;

/// Longest rdata, RFC 1035 §3.2.1.
const MAX_RDATA: usize = 65535;

/// Appends the rdata of `tokens` to `out` and returns true, or returns
/// false, with `out` in any state, if the slow path must decide.
pub fn parse(rtype: u16, tokens: &[Token<'_>], origin: &[u8], out: &mut Vec<u8>) -> bool {
    // The RFC 3597 marker makes any type generic; only unquoted, as in
    // `parse_rdata`. Other escapes are dealt with below, per type.
    if tokens.first().is_some_and(|t| !t.quoted && t.text == "\\#") {
        return false;
    }
    // Quoting makes no difference to any of these types: the scanner
    // reads a quoted token exactly like an unquoted one. Addresses and
    // numbers with a backslash fail to parse here and go the slow way;
    // names decode escapes with the very function the scanner uses.
    match (rtype, tokens) {
        (A, [addr]) => match ipv4(addr.text.as_bytes()) {
            Some(octets) => {
                out.extend_from_slice(&octets);
                true
            }
            None => false,
        },
        (AAAA, [addr]) => match ipv6(addr.text.as_bytes()) {
            Some(octets) => {
                out.extend_from_slice(&octets);
                true
            }
            None => false,
        },
        (NS | CNAME | PTR, [name]) => append_name(&name.text, origin, out).is_ok(),
        (MX, [pref, name]) => match decimal_u16(&pref.text) {
            Some(pref) => {
                out.extend_from_slice(&pref.to_be_bytes());
                append_name(&name.text, origin, out).is_ok()
            }
            None => false,
        },
        (TXT | SPF, [_, ..]) => {
            for token in tokens {
                // Without escapes a token's octets are its UTF-8 bytes. A
                // character string is at most 255 octets (RFC 1035 §3.3),
                // as much as its length octet can say.
                let octets = token.text.as_bytes();
                if octets.contains(&b'\\') {
                    return false;
                }
                let Ok(len) = u8::try_from(octets.len()) else {
                    return false;
                };
                out.push(len);
                out.extend_from_slice(octets);
                if out.len() > MAX_RDATA {
                    return false;
                }
            }
            true
        }
        _ => false,
    }
}

/// A plain decimal 16-bit number. `domain` also reads an empty token as 0;
/// that is left to it.
fn decimal_u16(text: &str) -> Option<u16> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u16, |acc, b| {
        let digit = u16::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// A dotted-quad IPv4 address in the one form `Ipv4Addr::from_str` (which
/// `domain` uses) reads: four decimal octets of one to three digits, no
/// leading zeros. Ours because the standard parser's generality showed in
/// the profile; anything it declines goes to the standard one anyway.
fn ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.first() == Some(&b'0')) {
            return None;
        }
        let value = part.iter().try_fold(0u16, |acc, &b| {
            let digit = u16::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
            Some(acc * 10 + digit)
        })?;
        *octet = u8::try_from(value).ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// An IPv6 address in the common forms: eight groups of one to four hex
/// digits, or fewer around one `::` that stands for at least one zero
/// group, as `Ipv6Addr::from_str` reads them. Forms with an IPv4 tail are
/// left to the standard parser, as is anything else this declines.
fn ipv6(text: &[u8]) -> Option<[u8; 16]> {
    let mut groups = [0u16; 8];
    match text.windows(2).position(|w| w == b"::") {
        None => {
            if hex_groups(text, &mut groups)? != 8 {
                return None;
            }
        }
        Some(at) => {
            let head = hex_groups(text.get(..at)?, &mut groups)?;
            let mut tail_groups = [0u16; 8];
            let tail = hex_groups(text.get(at + 2..)?, &mut tail_groups)?;
            if head + tail > 7 {
                return None;
            }
            groups
                .get_mut(8 - tail..)?
                .copy_from_slice(tail_groups.get(..tail)?);
        }
    }
    let mut octets = [0u8; 16];
    for (pair, group) in octets.chunks_exact_mut(2).zip(groups) {
        pair.copy_from_slice(&group.to_be_bytes());
    }
    Some(octets)
}

/// Colon-separated groups of one to four hex digits, stored from the
/// start of `groups`; how many there were. No text is no groups.
fn hex_groups(text: &[u8], groups: &mut [u16; 8]) -> Option<usize> {
    if text.is_empty() {
        return Some(0);
    }
    let mut count = 0;
    for part in text.split(|&b| b == b':') {
        if part.is_empty() || part.len() > 4 {
            return None;
        }
        let value = part.iter().try_fold(0u16, |acc, &b| {
            let digit = char::from(b).to_digit(16)?;
            Some(acc << 4 | u16::try_from(digit).ok()?)
        })?;
        *groups.get_mut(count)? = value;
        count += 1;
    }
    Some(count)
}
