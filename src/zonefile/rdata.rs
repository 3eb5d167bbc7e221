//! Record data of one entry to uncompressed wire format.
//!
//! Most types go through `domain`'s `ZoneRecordData::scan`; CSYNC and SPF,
//! which it lacks, are handled here, and SOA timers get BIND's TTL units
//! converted first.

use std::borrow::Cow;
use std::convert::Infallible;

use domain::base::iana::Rtype;
use domain::base::name::ParsedName;
use domain::base::rdata::{ComposeRecordData, ParseRecordData};
use domain::base::Name;
use domain::dep::octseq::parse::Parser;
use domain::rdata::{Txt, ZoneRecordData};

use super::fast;
use super::lexer::Token;
use super::scanner::{ScanError, TokenScanner};
use super::ttl::{parse_ttl, TtlError};
use crate::rdata::csync::Csync;
use crate::rdata::rtype_to_presentation;

pub const SOA: u16 = 6;
pub const SPF: u16 = 99;
pub const CSYNC: u16 = 62;

/// Longest rdata, as RDLENGTH is 16 bits (RFC 1035 §3.2.1).
const MAX_RDATA: usize = 65535;

/// A problem with the rdata of an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RdataError {
    /// Line of the offending token, when one is to blame.
    pub line: Option<u32>,
    pub message: String,
}

impl RdataError {
    fn new(line: Option<u32>, message: String) -> Self {
        RdataError { line, message }
    }
}

/// Parses the rdata tokens of a record of type `rtype` into `out`
/// (cleared first); relative names get `origin` appended. On error `out`
/// holds garbage.
pub fn parse_rdata(
    rtype: u16,
    tokens: &[Token<'_>],
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    out.clear();
    if fast::parse(rtype, tokens, origin, out) {
        return Ok(());
    }
    parse_rdata_general(rtype, tokens, origin, out)
}

/// [`parse_rdata`] without the fast path: every type through `domain`,
/// except the few it cannot scan.
pub fn parse_rdata_general(
    rtype: u16,
    tokens: &[Token<'_>],
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    out.clear();
    // RFC 3597 §5: `\#` only counts unquoted.
    let generic = tokens.first().is_some_and(|t| !t.quoted && t.text == "\\#");

    if rtype == CSYNC && !generic {
        return parse_csync(tokens, out);
    }

    let converted;
    let tokens = if rtype == SOA && !generic {
        converted = convert_soa_timers(tokens)?;
        converted.as_slice()
    } else {
        tokens
    };

    let mut scanner = TokenScanner::new(tokens, origin);
    let scanned = if rtype == SPF && !generic {
        // SPF has the same format as TXT (RFC 7208 §3.1 kept RFC 4408's).
        Txt::<Vec<u8>>::scan(&mut scanner).map(|txt| compose(&txt, out))
    } else {
        ZoneRecordData::<Vec<u8>, Name<Vec<u8>>>::scan(Rtype::from_int(rtype), &mut scanner)
            .map(|data| compose(&data, out))
    };
    if let Err(err) = scanned {
        return Err(describe_scan_error(rtype, err, &scanner, tokens));
    }
    if let Some(extra) = scanner.remaining().first() {
        return Err(RdataError::new(
            Some(extra.line),
            format!("trailing data \"{}\"", extra.text),
        ));
    }
    if out.len() > MAX_RDATA {
        return Err(RdataError::new(
            None,
            format!(
                "{} rdata longer than {MAX_RDATA} octets",
                rtype_to_presentation(rtype)
            ),
        ));
    }
    if generic {
        check_generic(rtype, out)?;
    }
    Ok(())
}

fn compose<R: ComposeRecordData>(data: &R, out: &mut Vec<u8>) {
    let res: Result<(), Infallible> = data.compose_rdata(out);
    match res {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

fn describe_scan_error(
    rtype: u16,
    err: ScanError,
    scanner: &TokenScanner<'_>,
    tokens: &[Token<'_>],
) -> RdataError {
    let type_name = rtype_to_presentation(rtype);
    let token = if err.end_of_entry {
        None
    } else {
        scanner.last_token()
    };
    let line = token
        .map(|t| t.line)
        .or_else(|| tokens.last().map(|t| t.line));
    let message = match (err.message.as_ref(), token) {
        ("expected IPv4 address", Some(t)) => format!("invalid IPv4 address \"{}\"", t.text),
        ("expected IPv6 address", Some(t)) => format!("invalid IPv6 address \"{}\"", t.text),
        ("unknown record type with concrete data", _) => {
            return RdataError::new(
                tokens.first().map(|t| t.line),
                format!(
                    "no presentation format known for type {type_name}; \
                     write it in the RFC 3597 form \"\\# <length> <hex>\""
                ),
            );
        }
        (msg, Some(t)) if !err.names_token => format!("{msg} at \"{}\"", t.text),
        (msg, _) => msg.to_string(),
    };
    RdataError::new(line, format!("bad {type_name} rdata: {message}"))
}

fn parse_csync(tokens: &[Token<'_>], out: &mut Vec<u8>) -> Result<(), RdataError> {
    let csync = Csync::parse_presentation(tokens.iter().map(|t| &*t.text)).map_err(|e| {
        RdataError::new(
            tokens.first().map(|t| t.line),
            format!("bad CSYNC rdata: {e}"),
        )
    })?;
    csync.to_wire(out);
    Ok(())
}

/// Rewrites REFRESH, RETRY, EXPIRE and MINIMUM given with BIND's units
/// (`1h`, `2w`) as plain seconds, which is all `domain` reads. The serial
/// stays as written: it is a number, not a duration.
fn convert_soa_timers<'a>(tokens: &[Token<'a>]) -> Result<Vec<Token<'a>>, RdataError> {
    const FIELDS: [&str; 4] = ["refresh", "retry", "expire", "minimum"];
    let mut out = tokens.to_vec();
    for (field, token) in FIELDS.iter().zip(out.iter_mut().skip(3)) {
        if token.quoted || token.text.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        match parse_ttl(&token.text) {
            Ok(secs) => token.text = Cow::Owned(secs.to_string()),
            Err(TtlError::Range) => {
                return Err(RdataError::new(
                    Some(token.line),
                    format!("bad SOA rdata: {field} \"{}\" is too large", token.text),
                ))
            }
            Err(TtlError::Syntax) => {
                return Err(RdataError::new(
                    Some(token.line),
                    format!("bad SOA rdata: invalid {field} \"{}\"", token.text),
                ))
            }
        }
    }
    Ok(out)
}

/// Generic rdata for a type with a known format must still be valid for
/// that type, or the server would hand out records it cannot itself read.
fn check_generic(rtype: u16, wire: &[u8]) -> Result<(), RdataError> {
    let invalid = |detail: String| {
        let type_name = rtype_to_presentation(rtype);
        RdataError::new(
            None,
            format!("bad {type_name} rdata: \\# data is not valid {type_name} rdata: {detail}"),
        )
    };
    if rtype == CSYNC {
        return Csync::from_wire(wire)
            .map(|_| ())
            .map_err(|e| invalid(e.to_string()));
    }
    if rtype == SPF {
        return check_charstrs(wire).map_err(|e| invalid(e.to_string()));
    }
    let mut parser = Parser::from_ref(wire);
    match ZoneRecordData::<&[u8], ParsedName<&[u8]>>::parse_rdata(
        Rtype::from_int(rtype),
        &mut parser,
    ) {
        Ok(_) if parser.remaining() > 0 => {
            Err(invalid(format!("{} octets left over", parser.remaining())))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// Why RDATA is not a sequence of character strings (RFC 1035 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum CharStrError {
    #[error("no character string")]
    Empty,
    #[error("character string runs past the end")]
    Overrun,
}

fn check_charstrs(mut wire: &[u8]) -> Result<(), CharStrError> {
    if wire.is_empty() {
        return Err(CharStrError::Empty);
    }
    while let Some((&len, rest)) = wire.split_first() {
        wire = rest.get(usize::from(len)..).ok_or(CharStrError::Overrun)?;
    }
    Ok(())
}

/// The SOA MINIMUM field: the last four octets of SOA rdata (RFC 1035
/// §3.3.13).
pub fn soa_minimum(rdata: &[u8]) -> Option<u32> {
    let start = rdata.len().checked_sub(4)?;
    let bytes: [u8; 4] = rdata.get(start..)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}
