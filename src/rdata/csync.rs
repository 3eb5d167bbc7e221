//! CSYNC record data, RFC 7477 §2.1.
//!
//! `domain` 0.12.3 knows the CSYNC type number but has no typed record data
//! for it, so both the zone-file parser and anything that inspects CSYNC
//! records on the wire use this type.

use std::fmt;

use crate::serial::Serial;

use super::{rtype_from_presentation, rtype_to_presentation};

/// Child-to-parent synchronisation data (RFC 7477 §2.1.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Csync {
    /// SOA serial of the child zone the data was taken from.
    pub serial: Serial,
    /// Flags field; see [`Csync::IMMEDIATE`] and [`Csync::SOAMINIMUM`].
    pub flags: u16,
    /// Record types to synchronise, sorted ascending without duplicates.
    pub types: Vec<u16>,
}

/// `immediate`, bit 0 (RFC 7477 §2.1.1.2.1). When it is clear, a parental
/// agent MUST NOT process the CSYNC record until the zone administrator
/// approves it through some out-of-band mechanism; when set, the agent may
/// act on it as soon as it has checked it.
pub const IMMEDIATE: u16 = 0x0001;
/// `soaminimum`, bit 1 (RFC 7477 §2.1.1.2.2). When set, a parental agent
/// querying the child's authoritative servers MUST NOT act on data from a
/// server whose SOA serial is lower than this record's SOA Serial field
/// (compared as RFC 1982 serials), so a lagging server cannot feed it old
/// NS or glue. It has nothing to do with the SOA MINIMUM field or with any
/// delay, whatever the name suggests.
pub const SOAMINIMUM: u16 = 0x0002;
/// Every flag RFC 7477 defines. Publishers must leave the other bits clear,
/// and a parental agent must not process a record that sets a bit it does
/// not know (RFC 7477 §2.1.1.2), hence [`Csync::unknown_flags`].
pub const KNOWN_FLAGS: u16 = IMMEDIATE | SOAMINIMUM;

/// Why CSYNC data in presentation or wire format was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsyncError {
    #[error("missing SOA serial")]
    MissingSerial,
    #[error("missing flags")]
    MissingFlags,
    #[error("bad SOA serial \"{0}\"")]
    BadSerial(String),
    #[error("bad flags \"{0}\"")]
    BadFlags(String),
    #[error("unknown record type \"{0}\"")]
    UnknownType(String),
    #[error("CSYNC rdata truncated")]
    Truncated,
    #[error("type bitmap window {window} does not follow window {previous} in increasing order")]
    WindowOrder { previous: u8, window: u8 },
    #[error("type bitmap window {window} has length {len} (must be 1 to 32)")]
    BitmapLength { window: u8, len: u8 },
}

impl Csync {
    /// See the module-level [`IMMEDIATE`].
    pub const IMMEDIATE: u16 = IMMEDIATE;
    /// See the module-level [`SOAMINIMUM`].
    pub const SOAMINIMUM: u16 = SOAMINIMUM;

    /// Whether the `immediate` flag is set ([`IMMEDIATE`]).
    pub fn immediate(&self) -> bool {
        self.flags & IMMEDIATE != 0
    }

    /// Whether the `soaminimum` flag is set ([`SOAMINIMUM`]).
    pub fn soaminimum(&self) -> bool {
        self.flags & SOAMINIMUM != 0
    }

    /// The flag bits RFC 7477 does not define (0 when there are none). A
    /// parental agent must refuse a record where this is not 0.
    pub fn unknown_flags(&self) -> u16 {
        self.flags & !KNOWN_FLAGS
    }

    /// Builds the value, sorting and de-duplicating `types`.
    pub fn new(serial: Serial, flags: u16, mut types: Vec<u16>) -> Self {
        types.sort_unstable();
        types.dedup();
        Csync {
            serial,
            flags,
            types,
        }
    }

    /// Parses the presentation format of RFC 7477 §2.1.1: serial, flags,
    /// then record type mnemonics or `TYPEnnn` (RFC 3597 §5).
    pub fn parse_presentation<I, S>(tokens: I) -> Result<Self, CsyncError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut tokens = tokens.into_iter();
        let serial = match tokens.next() {
            Some(tok) => parse_decimal::<u32>(tok.as_ref())
                .map(Serial)
                .ok_or_else(|| CsyncError::BadSerial(tok.as_ref().to_string()))?,
            None => return Err(CsyncError::MissingSerial),
        };
        let flags = match tokens.next() {
            Some(tok) => parse_decimal::<u16>(tok.as_ref())
                .ok_or_else(|| CsyncError::BadFlags(tok.as_ref().to_string()))?,
            None => return Err(CsyncError::MissingFlags),
        };
        let mut types = Vec::new();
        for tok in tokens {
            let tok = tok.as_ref();
            let rtype = rtype_from_presentation(tok)
                .ok_or_else(|| CsyncError::UnknownType(tok.to_string()))?;
            types.push(rtype);
        }
        Ok(Self::new(serial, flags, types))
    }

    /// Appends the wire format: serial, flags, then the type bitmap in the
    /// window-block format of RFC 4034 §4.1.2 (as RFC 7477 §2.1.1 requires):
    /// windows in increasing order, only windows with a type, each bitmap
    /// cut after its last non-zero octet.
    pub fn to_wire(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.serial.get().to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        // `types` is public, so it may not be sorted; a window must be
        // written once, with all of its types.
        let mut types = self.types.clone();
        types.sort_unstable();
        types.dedup();
        let mut iter = types.iter().peekable();
        while let Some(&first) = iter.peek() {
            let window = (*first >> 8) as u8;
            let mut bitmap = [0u8; 32];
            let mut used = 0usize;
            while let Some(&&rtype) = iter.peek() {
                if (rtype >> 8) as u8 != window {
                    break;
                }
                iter.next();
                let low = usize::from(rtype & 0xff);
                let octet = low / 8;
                if let Some(byte) = bitmap.get_mut(octet) {
                    *byte |= 0x80 >> (low % 8);
                }
                used = used.max(octet + 1);
            }
            out.push(window);
            out.push(used as u8);
            out.extend_from_slice(bitmap.get(..used).unwrap_or_default());
        }
    }

    /// Parses wire-format rdata: windows in strictly increasing order, each
    /// bitmap 1 to 32 octets (RFC 4034 §4.1.2), and nothing after the last
    /// window.
    ///
    /// Trailing zero octets in a bitmap (and so a window without types)
    /// are accepted although RFC 4034 says to omit them: they do not make
    /// the type list ambiguous, and refusing them would make a zone file
    /// written in `\#` form by another tool unloadable. [`Csync::to_wire`]
    /// never writes them.
    pub fn from_wire(data: &[u8]) -> Result<Self, CsyncError> {
        let serial_bytes: [u8; 4] = data
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(CsyncError::Truncated)?;
        let flag_bytes: [u8; 2] = data
            .get(4..6)
            .and_then(|s| s.try_into().ok())
            .ok_or(CsyncError::Truncated)?;
        let mut rest = data.get(6..).unwrap_or_default();
        let mut types = Vec::new();
        let mut previous: Option<u8> = None;
        while let Some((&window, tail)) = rest.split_first() {
            let (&len, tail) = tail.split_first().ok_or(CsyncError::Truncated)?;
            if let Some(previous) = previous {
                if window <= previous {
                    return Err(CsyncError::WindowOrder { previous, window });
                }
            }
            if !(1..=32).contains(&len) {
                return Err(CsyncError::BitmapLength { window, len });
            }
            let bitmap = tail.get(..usize::from(len)).ok_or(CsyncError::Truncated)?;
            for (index, &octet) in bitmap.iter().enumerate() {
                for bit in 0..8u16 {
                    if octet & (0x80 >> bit) != 0 {
                        // index < 32, so this stays below 256.
                        let low = (index as u16) * 8 + bit;
                        types.push(u16::from(window) << 8 | low);
                    }
                }
            }
            previous = Some(window);
            rest = tail.get(usize::from(len)..).unwrap_or_default();
        }
        Ok(Csync {
            serial: Serial(u32::from_be_bytes(serial_bytes)),
            flags: u16::from_be_bytes(flag_bytes),
            types,
        })
    }
}

impl fmt::Display for Csync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.serial, self.flags)?;
        for &rtype in &self.types {
            write!(f, " {}", rtype_to_presentation(rtype))?;
        }
        Ok(())
    }
}

/// `str::parse` also accepts a leading `+`, which is not a decimal number
/// in presentation format.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csync_presentation_round_trip() {
        let c = Csync::parse_presentation(["2024010101", "3", "A", "NS", "AAAA"]).unwrap();
        assert_eq!(c.serial, Serial(2024010101));
        assert_eq!(c.flags, Csync::IMMEDIATE | Csync::SOAMINIMUM);
        assert_eq!(c.types, vec![1, 2, 28]);
        assert_eq!(c.to_string(), "2024010101 3 A NS AAAA");
    }

    #[test]
    fn csync_types_are_sorted_and_deduplicated() {
        let c = Csync::parse_presentation(["1", "0", "AAAA", "a", "TYPE1", "NS"]).unwrap();
        assert_eq!(c.types, vec![1, 2, 28]);
    }

    #[test]
    fn csync_generic_type_names_are_accepted() {
        let c = Csync::parse_presentation(["1", "0", "TYPE65280", "TYPE62"]).unwrap();
        assert_eq!(c.types, vec![62, 65280]);
        assert_eq!(c.to_string(), "1 0 CSYNC TYPE65280");
    }

    #[test]
    fn csync_presentation_errors() {
        assert_eq!(
            Csync::parse_presentation(Vec::<&str>::new()),
            Err(CsyncError::MissingSerial)
        );
        assert_eq!(
            Csync::parse_presentation(["1"]),
            Err(CsyncError::MissingFlags)
        );
        assert_eq!(
            Csync::parse_presentation(["x", "0"]),
            Err(CsyncError::BadSerial("x".into()))
        );
        assert_eq!(
            Csync::parse_presentation(["4294967296", "0"]),
            Err(CsyncError::BadSerial("4294967296".into()))
        );
        assert_eq!(
            Csync::parse_presentation(["1", "65536"]),
            Err(CsyncError::BadFlags("65536".into()))
        );
        assert_eq!(
            Csync::parse_presentation(["1", "0", "BOGUS"]),
            Err(CsyncError::UnknownType("BOGUS".into()))
        );
    }

    #[test]
    fn csync_wire_matches_rfc7477_example() {
        // RFC 7477 §2.2: "66 3 A NS AAAA".
        let c = Csync::parse_presentation(["66", "3", "A", "NS", "AAAA"]).unwrap();
        let mut wire = Vec::new();
        c.to_wire(&mut wire);
        assert_eq!(wire, [0, 0, 0, 66, 0, 3, 0, 4, 0x60, 0x00, 0x00, 0x08]);
        assert_eq!(Csync::from_wire(&wire).unwrap(), c);
    }

    #[test]
    fn csync_wire_uses_several_windows() {
        let c = Csync::new(Serial(7), 0, vec![65535, 1, 257, 256]);
        let mut wire = Vec::new();
        c.to_wire(&mut wire);
        assert_eq!(
            wire,
            [
                0, 0, 0, 7, 0, 0, // serial, flags
                0, 1, 0x40, // window 0: type 1
                1, 1, 0xc0, // window 1: types 256, 257
                255, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0x01, // window 255: type 65535
            ]
        );
        assert_eq!(Csync::from_wire(&wire).unwrap(), c);
    }

    #[test]
    fn csync_wire_with_no_types() {
        let c = Csync::new(Serial(1), 0, Vec::new());
        let mut wire = Vec::new();
        c.to_wire(&mut wire);
        assert_eq!(wire, [0, 0, 0, 1, 0, 0]);
        assert_eq!(Csync::from_wire(&wire).unwrap(), c);
        assert_eq!(c.to_string(), "1 0");
    }

    #[test]
    fn csync_from_wire_is_strict() {
        assert_eq!(Csync::from_wire(&[0, 0, 0]), Err(CsyncError::Truncated));
        assert_eq!(
            Csync::from_wire(&[0, 0, 0, 1, 0, 0, 0]),
            Err(CsyncError::Truncated)
        );
        assert_eq!(
            Csync::from_wire(&[0, 0, 0, 1, 0, 0, 0, 2, 0x40]),
            Err(CsyncError::Truncated)
        );
        assert_eq!(
            Csync::from_wire(&[0, 0, 0, 1, 0, 0, 0, 0]),
            Err(CsyncError::BitmapLength { window: 0, len: 0 })
        );
        let mut too_long = vec![0, 0, 0, 1, 0, 0, 0, 33];
        too_long.extend([1u8; 33]);
        assert_eq!(
            Csync::from_wire(&too_long),
            Err(CsyncError::BitmapLength { window: 0, len: 33 })
        );
        assert_eq!(
            Csync::from_wire(&[0, 0, 0, 1, 0, 0, 1, 1, 0x40, 0, 1, 0x40]),
            Err(CsyncError::WindowOrder {
                previous: 1,
                window: 0
            })
        );
        assert_eq!(
            Csync::from_wire(&[0, 0, 0, 1, 0, 0, 0, 1, 0x40, 0, 1, 0x40]),
            Err(CsyncError::WindowOrder {
                previous: 0,
                window: 0
            })
        );
        // A trailing byte that cannot start a window is left-over data.
        assert_eq!(
            Csync::from_wire(&[0, 0, 0, 1, 0, 0, 0, 1, 0x40, 5]),
            Err(CsyncError::Truncated)
        );
    }

    #[test]
    fn csync_flag_helpers() {
        let c = |flags| Csync::new(Serial(1), flags, Vec::new());
        assert!(!c(0).immediate() && !c(0).soaminimum());
        assert!(c(1).immediate() && !c(1).soaminimum());
        assert!(!c(2).immediate() && c(2).soaminimum());
        assert!(c(3).immediate() && c(3).soaminimum());
        assert_eq!(c(3).unknown_flags(), 0);
        assert_eq!(c(0x8003).unknown_flags(), 0x8000);
        assert_eq!(c(0x0004).unknown_flags(), 0x0004);
        assert!(c(0x8001).immediate());
    }

    #[test]
    fn csync_trailing_zero_octets_are_read_but_never_written() {
        // Type 1 (A) with two zero octets after it, then a window of zeros.
        let padded = [0, 0, 0, 9, 0, 3, 0, 3, 0x40, 0, 0, 1, 1, 0];
        let c = Csync::from_wire(&padded).unwrap();
        assert_eq!(c, Csync::new(Serial(9), 3, vec![1]));
        let mut wire = Vec::new();
        c.to_wire(&mut wire);
        assert_eq!(wire, [0, 0, 0, 9, 0, 3, 0, 1, 0x40]);
    }
}
