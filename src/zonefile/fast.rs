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

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

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
    // A backslash is an escape (or the RFC 3597 `\#` marker); decoding
    // those is left to the slow path.
    if tokens.iter().any(|t| t.text.as_bytes().contains(&b'\\')) {
        return false;
    }
    // Quoting makes no difference to any of these types: the scanner
    // reads a quoted token exactly like an unquoted one.
    match (rtype, tokens) {
        (A, [addr]) => match Ipv4Addr::from_str(&addr.text) {
            Ok(addr) => {
                out.extend_from_slice(&addr.octets());
                true
            }
            Err(_) => false,
        },
        (AAAA, [addr]) => match Ipv6Addr::from_str(&addr.text) {
            Ok(addr) => {
                out.extend_from_slice(&addr.octets());
                true
            }
            Err(_) => false,
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
