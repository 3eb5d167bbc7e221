//! DNSSEC for presigned zones. zonesync does not sign: zones
//! come signed (by `dnssec-signzone`, `ldns-signzone`, a signer in front
//! of us). This module checks them when they are loaded, so an operator
//! learns of a broken signer before resolvers do:
//!
//! - [`check`]: [`check_zone`] walks a version in canonical order and
//!   reports [`Finding`]s: RRsets without RRSIGs (RFC 4035 §2.2),
//!   signatures that do not verify, have expired, are not yet valid, or
//!   expire before the SOA EXPIRE has passed, and broken NSEC (RFC 4034
//!   §4, RFC 4035 §2.3) or NSEC3 (RFC 5155 §7.1) chains.
//! - [`rdata`]: the DNSSEC record types read from RDATA, key tags, type
//!   bit maps and the canonical form of RDATA (RFC 4034 §6.2).
//! - `denial`: the NSEC and NSEC3 chain checks.
//! - `signature`: building the signed data (RFC 4034 §3.1.8.1) and
//!   verifying it with `domain`'s ring-backed keys.
//!
//! Whether findings are warnings or stop a load is the zone's
//! `dnssec_checks` setting (`config::DnssecChecks`); `zonesync
//! check-zone` prints them.

pub mod check;
mod denial;
pub mod rdata;
pub(crate) mod signature;
#[cfg(test)]
mod tests;

pub use check::{check_zone, is_signed, CheckOptions, Report};

use crate::name;
use std::fmt;

/// What a finding is about; its text form (`rrsig-missing`, …) is printed
/// with it, so an operator can grep logs and tests can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// An authoritative RRset has no RRSIG by a key of the apex DNSKEY
    /// set (or none of one of its algorithms).
    RrsigMissing,
    /// A signature does not verify with the key it names.
    RrsigBogus,
    /// A signature's expiration time has passed.
    RrsigExpired,
    /// A signature's inception time has not come yet.
    RrsigNotYetValid,
    /// A signature expires before now + SOA EXPIRE.
    RrsigExpiresSoon,
    /// An RRSIG that cannot be used: malformed, another signer name, a
    /// wrong labels field, or covering a type the name does not have.
    RrsigInvalid,
    /// The apex DNSKEY set has no usable zone key.
    DnskeyUnusable,
    /// An authoritative name has no NSEC, or a name that must not has one.
    NsecMissing,
    NsecExtra,
    /// An NSEC's next name is not the next name in canonical order.
    NsecChain,
    /// An NSEC or NSEC3 type bit map does not list the name's types.
    Bitmap,
    /// NSEC3PARAM at the apex and the NSEC3 records disagree.
    Nsec3paramMismatch,
    /// An authoritative name has no NSEC3 in its chain.
    Nsec3Missing,
    /// An NSEC3 matches no name of the zone, or its owner is malformed.
    Nsec3Extra,
    /// An NSEC3's next hashed owner is not the next hash of the chain.
    Nsec3Chain,
    /// A signed zone with neither an NSEC nor an NSEC3 chain.
    DenialMissing,
    /// An NSEC3 chain with more than [`MAX_NSEC3_ITERATIONS`] additional
    /// iterations: validators treat its answers as insecure or bogus
    /// (RFC 9276 §3.2).
    Nsec3Iterations,
    /// An NSEC3 chain with additional iterations or a salt, which
    /// RFC 9276 §3.1 advises against; a note.
    Nsec3Parameters,
    /// Something could not be checked (an algorithm we do not support).
    NotChecked,
}

/// The most additional NSEC3 iterations that validators still accept:
/// BIND 9.20, PowerDNS Recursor and Knot Resolver treat answers with more
/// as insecure (RFC 9276 §3.2 leaves the limit to them).
pub const MAX_NSEC3_ITERATIONS: u16 = 50;

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::RrsigMissing => "rrsig-missing",
            Code::RrsigBogus => "rrsig-bogus",
            Code::RrsigExpired => "rrsig-expired",
            Code::RrsigNotYetValid => "rrsig-not-yet-valid",
            Code::RrsigExpiresSoon => "rrsig-expires-soon",
            Code::RrsigInvalid => "rrsig-invalid",
            Code::DnskeyUnusable => "dnskey-unusable",
            Code::NsecMissing => "nsec-missing",
            Code::NsecExtra => "nsec-extra",
            Code::NsecChain => "nsec-chain",
            Code::Bitmap => "type-bitmap",
            Code::Nsec3paramMismatch => "nsec3param-mismatch",
            Code::Nsec3Missing => "nsec3-missing",
            Code::Nsec3Extra => "nsec3-extra",
            Code::Nsec3Chain => "nsec3-chain",
            Code::DenialMissing => "denial-missing",
            Code::Nsec3Iterations => "nsec3-iterations",
            Code::Nsec3Parameters => "nsec3-parameters",
            Code::NotChecked => "not-checked",
        }
    }

    /// Findings that say what was *not* checked, or give advice, are
    /// notes: they never stop a load, whatever `dnssec_checks` says.
    pub fn is_note(self) -> bool {
        matches!(self, Code::NotChecked | Code::Nsec3Parameters)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem: what, where (owner and type), and why it matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    /// The owner, lower-case wire format.
    pub owner: Vec<u8>,
    /// The RRset's type, when the finding is about one.
    pub rtype: Option<u16>,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DNSSEC {}: {}", self.code, name::display(&self.owner))?;
        if let Some(t) = self.rtype {
            write!(f, " {}", type_name(t))?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The mnemonic of a type (`TYPE65280` for unknown ones).
pub fn type_name(t: u16) -> String {
    domain::base::iana::Rtype::from_int(t).to_string()
}

/// The mnemonic of a DNSSEC algorithm number, with the number.
pub fn algorithm_name(a: u8) -> String {
    match domain::base::iana::SecurityAlgorithm::from_int(a).to_mnemonic_str() {
        Some(m) => format!("algorithm {a} ({m})"),
        None => format!("algorithm {a}"),
    }
}
