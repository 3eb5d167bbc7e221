//! `zonesync csync record`: the CSYNC record (RFC 7477 §2) a child zone
//! publishes at its apex to ask its parental agent to copy NS and glue
//! from it, built from the zone file so that its serial is right.
//!
//! The record is only printed: the zone file stays the source of truth
//! (ARCHITECTURE.md, "Loads, the journal and restarts"), so the operator
//! adds the line in the same edit that changes the delegation.

use std::fmt;
use std::path::PathBuf;

use crate::config::{self, Config, Role};
use crate::loader::{self, LoadError, LoadOptions};
use crate::rdata::csync::{Csync, IMMEDIATE, SOAMINIMUM};
use crate::rdata::{rtype_from_presentation, rtype_to_presentation};
use crate::zone::rtype;

/// `immediate` and `soaminimum`: the parent may act without a human, and
/// only on data from servers that already publish this serial or later
/// (RFC 7477 §2.1.1.2), which is what a child that just changed its NS set
/// wants.
pub const DEFAULT_FLAGS: u16 = IMMEDIATE | SOAMINIMUM;

/// NS, A and AAAA: the delegation and its glue, the only types RFC 7477
/// §3.2 defines processing for.
pub const DEFAULT_TYPES: [u16; 3] = [rtype::NS, rtype::A, rtype::AAAA];

/// Printed on stderr with the record. The parental agent compares the
/// record's serial with the SOA serial the child's servers answer
/// (`soaminimum`), so a record carrying any other serial than the one the
/// zone is published with is either acted on too early or never.
pub const SERIAL_HINT: &str = "hint: the serial must be the one the zone will be published with: \
     add this record in the same edit that changes NS/glue and bumps the SOA serial";

/// Why the zone to build the record for cannot be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("--origin {text:?}: {problem}")]
    BadOrigin {
        text: String,
        problem: config::NameError,
    },
    #[error("zone {text:?}: {problem}")]
    BadZone {
        text: String,
        problem: config::NameError,
    },
    #[error("zone {0:?} is not in the configuration")]
    NotConfigured(String),
    #[error(
        "zone {0:?} has no zone file here (role = \"secondary\"): \
         run this where its primary's file is"
    )]
    NoFile(String),
}

/// Why `--flags` or `--types` is not what the record can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("flags {0:?}: a number must be 0 to 65535")]
    FlagsRange(String),
    #[error(
        "unknown flag {0:?}: give immediate, soaminimum, both separated by a comma, \
         none, or a number"
    )]
    UnknownFlag(String),
    #[error("unknown record type {0:?}")]
    UnknownType(String),
}

/// Where the zone comes from.
#[derive(Clone, Debug)]
pub struct ZoneSource {
    /// The apex, lower-case wire format.
    pub origin: Vec<u8>,
    pub file: PathBuf,
    /// Allow `$INCLUDE` outside the zone file's directory.
    pub include_anywhere: bool,
}

impl ZoneSource {
    /// `--zone-file FILE --origin NAME`.
    pub fn from_file(
        file: PathBuf,
        origin: &str,
        include_anywhere: bool,
    ) -> Result<Self, SourceError> {
        let origin = config::parse_zone_name(origin).map_err(|problem| SourceError::BadOrigin {
            text: origin.to_owned(),
            problem,
        })?;
        Ok(ZoneSource {
            origin,
            file,
            include_anywhere,
        })
    }

    /// The zone named `zone` in a loaded configuration (its paths already
    /// resolved by [`Config::load`]). Only a primary has a zone file: a
    /// secondary's CSYNC comes from its primary by transfer.
    pub fn from_config(config: &Config, zone: &str) -> Result<Self, SourceError> {
        let wanted = config::parse_zone_name(zone).map_err(|problem| SourceError::BadZone {
            text: zone.to_owned(),
            problem,
        })?;
        let found = config
            .zones
            .iter()
            .find(|z| config::parse_zone_name(&z.name).is_ok_and(|name| name == wanted));
        let Some(found) = found else {
            return Err(SourceError::NotConfigured(zone.to_owned()));
        };
        match (found.role, &found.file) {
            (Role::Primary, Some(file)) => Ok(ZoneSource {
                origin: wanted,
                file: file.clone(),
                include_anywhere: found.include_anywhere,
            }),
            _ => Err(SourceError::NoFile(zone.to_owned())),
        }
    }
}

/// What goes into the record besides the serial.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub flags: u16,
    /// Record types, any order; duplicates are dropped.
    pub types: Vec<u16>,
    /// `None`: the zone's negative TTL ([`crate::zone::ZoneVersion::negative_ttl`]).
    pub ttl: Option<u32>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            flags: DEFAULT_FLAGS,
            types: DEFAULT_TYPES.to_vec(),
            ttl: None,
        }
    }
}

/// The record to publish, and what the zone told us on the way.
#[derive(Clone, Debug)]
pub struct CsyncRecord {
    /// The apex in presentation form, with the final dot.
    pub owner: String,
    pub ttl: u32,
    pub data: Csync,
    /// The load's warnings, each naming the file.
    pub warnings: Vec<String>,
    /// CSYNC records already at the apex of the file, which the new one
    /// replaces (a zone has one CSYNC RRset, and a parental agent reads
    /// only the apex's).
    pub existing: Vec<Csync>,
}

impl fmt::Display for CsyncRecord {
    /// One zone-file line: `<origin> <ttl> IN CSYNC <serial> <flags> <types>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} IN CSYNC {}", self.owner, self.ttl, self.data)
    }
}

/// Loads the zone (every check the server makes, so the errors are the
/// usual file:line ones) and builds its CSYNC record with the SOA serial
/// of the file.
///
/// The serial served can be ahead of the file's when the zone's
/// `serial_policy` moves it, never behind it (`replication::load`), so
/// `soaminimum` with the file's serial still lets the parent act once every
/// server has the new zone.
pub fn record(source: &ZoneSource, opts: &RecordOptions) -> Result<CsyncRecord, LoadError> {
    let loaded = loader::load_zone_file(
        &source.file,
        &source.origin,
        &LoadOptions {
            include_anywhere: source.include_anywhere,
        },
    )?;
    let version = &loaded.version;
    let existing = version
        .apex()
        .rrset(rtype::CSYNC)
        .map(|set| {
            set.rdatas()
                .filter_map(|rdata| Csync::from_wire(rdata).ok())
                .collect()
        })
        .unwrap_or_default();
    Ok(CsyncRecord {
        owner: crate::name::display(&source.origin),
        ttl: opts.ttl.unwrap_or_else(|| version.negative_ttl()),
        data: Csync::new(version.serial(), opts.flags, opts.types.clone()),
        warnings: loaded.warnings,
        existing,
    })
}

/// `--flags`: `none`, or a comma-separated list of `immediate` and
/// `soaminimum` (any case), or the Flags field as a decimal number (for
/// bits defined after RFC 7477).
pub fn parse_flags(text: &str) -> Result<u16, ArgError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| ArgError::FlagsRange(text.to_owned()));
    }
    if text.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    let mut flags = 0;
    for word in text.split(',').map(str::trim) {
        flags |= if word.eq_ignore_ascii_case("immediate") {
            IMMEDIATE
        } else if word.eq_ignore_ascii_case("soaminimum") {
            SOAMINIMUM
        } else {
            return Err(ArgError::UnknownFlag(word.to_owned()));
        };
    }
    Ok(flags)
}

/// `--types`: record types separated by commas (or spaces), as mnemonics
/// or `TYPEnnn` (RFC 3597 §5). An empty list is allowed: RFC 7477 does not
/// forbid a CSYNC that asks for nothing.
pub fn parse_types(text: &str) -> Result<Vec<u16>, ArgError> {
    let mut types = Vec::new();
    for word in text.split([',', ' ']).filter(|w| !w.is_empty()) {
        let rtype =
            rtype_from_presentation(word).ok_or_else(|| ArgError::UnknownType(word.to_owned()))?;
        types.push(rtype);
    }
    Ok(types)
}

/// The hint lines for stderr besides [`SERIAL_HINT`]: what is odd about the
/// request, in words.
pub fn notes(record: &CsyncRecord) -> Vec<String> {
    let mut notes = Vec::new();
    for old in &record.existing {
        notes.push(if *old == record.data {
            "note: the zone already has this record".to_string()
        } else {
            format!(
                "note: the zone already has \"{} IN CSYNC {old}\": replace it with this one",
                record.owner
            )
        });
    }
    if record.data.unknown_flags() != 0 {
        notes.push(format!(
            "note: flags {:#06x} are not defined by RFC 7477: parental agents that do not \
             know them must not process the record",
            record.data.unknown_flags()
        ));
    }
    if !record.data.immediate() {
        notes.push(
            "note: without `immediate` the parent acts only after its administrator approves"
                .to_string(),
        );
    }
    let unusual: Vec<String> = record
        .data
        .types
        .iter()
        .filter(|t| !DEFAULT_TYPES.contains(t))
        .map(|&t| rtype_to_presentation(t))
        .collect();
    if !unusual.is_empty() {
        notes.push(format!(
            "note: RFC 7477 defines processing for NS, A and AAAA only; a parental agent \
             may not act on {}",
            unusual.join(" ")
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::Serial;

    #[test]
    fn flags_by_name_number_or_none() {
        assert_eq!(parse_flags("immediate,soaminimum"), Ok(3));
        assert_eq!(parse_flags("SOAminimum"), Ok(2));
        assert_eq!(parse_flags("immediate"), Ok(1));
        assert_eq!(parse_flags("none"), Ok(0));
        assert_eq!(parse_flags("32769"), Ok(0x8001));
        assert!(parse_flags("65536").is_err());
        assert!(parse_flags("soon")
            .unwrap_err()
            .to_string()
            .contains("\"soon\""));
        assert!(parse_flags("").is_err());
        assert!(parse_flags("immediate,").is_err());
    }

    #[test]
    fn types_by_mnemonic_or_number() {
        assert_eq!(parse_types("NS,A,AAAA"), Ok(vec![2, 1, 28]));
        assert_eq!(parse_types("ns, caa TYPE65280"), Ok(vec![2, 257, 65280]));
        assert_eq!(parse_types(""), Ok(vec![]));
        assert!(parse_types("NS,BOGUS")
            .unwrap_err()
            .to_string()
            .contains("\"BOGUS\""));
    }

    #[test]
    fn the_line_is_a_zone_file_entry() {
        let record = CsyncRecord {
            owner: "example.com.".into(),
            ttl: 300,
            data: Csync::new(Serial(2024010101), DEFAULT_FLAGS, DEFAULT_TYPES.to_vec()),
            warnings: Vec::new(),
            existing: Vec::new(),
        };
        assert_eq!(
            record.to_string(),
            "example.com. 300 IN CSYNC 2024010101 3 A NS AAAA"
        );
        assert!(notes(&record).is_empty());
    }
}
