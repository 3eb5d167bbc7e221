//! An UPDATE request (RFC 2136 §2) read into owned records: the zone
//! section, the prerequisites and the updates, with every name written out
//! in full (compression undone) and owners lower-cased.

use crate::wire::opcode;
use domain::base::iana::Opcode;
use domain::base::message::Message;
use domain::base::name::ParsedName;
use domain::base::rdata::ComposeRecordData;
use domain::base::record::ParsedRecord;
use domain::base::ToName;
use domain::rdata::AllRecordData;

/// CLASS values with a meaning of their own in an UPDATE (RFC 2136 §2.4,
/// §2.5).
pub mod class {
    pub const IN: u16 = 1;
    pub const NONE: u16 = 254;
    pub const ANY: u16 = 255;
}

/// One record of the prerequisite or update section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRr {
    /// Lower-case, uncompressed wire format.
    pub owner: Vec<u8>,
    pub class: u16,
    pub rtype: u16,
    pub ttl: u32,
    /// Names written out in full (their case as sent); empty for the
    /// RDLENGTH 0 forms.
    pub rdata: Vec<u8>,
}

/// An UPDATE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateMessage {
    pub id: u16,
    /// The zone section's name (lower-case wire format) and class.
    pub zone: Vec<u8>,
    pub zone_class: u16,
    pub prerequisites: Vec<UpdateRr>,
    pub updates: Vec<UpdateRr>,
}

/// Why a request is not a readable UPDATE: answered FORMERR (RFC 2136
/// §3.1.1, §3.8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("not an UPDATE request")]
    NotUpdate,
    #[error("the zone section holds {0} entries; it must hold exactly one")]
    ZoneCount(u16),
    #[error("the zone section's type is {0}; it must be SOA")]
    ZoneType(u16),
    #[error("{section}: {problem}")]
    Malformed {
        section: &'static str,
        problem: String,
    },
}

impl UpdateMessage {
    /// Reads `bytes` (the whole request, TSIG included: the additional
    /// section is not read here).
    pub fn parse(bytes: &[u8]) -> Result<UpdateMessage, MessageError> {
        let malformed = |section: &'static str| {
            move |e: &dyn std::fmt::Display| MessageError::Malformed {
                section,
                problem: e.to_string(),
            }
        };
        let message = Message::from_octets(bytes).map_err(|e| malformed("header")(&e))?;
        let header = message.header();
        if header.qr() || header.opcode() != Opcode::from_int(opcode::UPDATE) {
            return Err(MessageError::NotUpdate);
        }
        let zocount = message.header_counts().qdcount();
        if zocount != 1 {
            return Err(MessageError::ZoneCount(zocount));
        }
        let zone = message
            .sole_question()
            .map_err(|e| malformed("zone section")(&e))?;
        let ztype = zone.qtype().to_int();
        if ztype != crate::zone::rtype::SOA {
            return Err(MessageError::ZoneType(ztype));
        }
        let prerequisites = message
            .answer()
            .map_err(|e| malformed("prerequisite section")(&e))?
            .map(|r| {
                r.map_err(|e| malformed("prerequisite section")(&e))
                    .and_then(|r| read_rr(&r, "prerequisite section"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let updates = message
            .authority()
            .map_err(|e| malformed("update section")(&e))?
            .map(|r| {
                r.map_err(|e| malformed("update section")(&e))
                    .and_then(|r| read_rr(&r, "update section"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UpdateMessage {
            id: header.id(),
            zone: lower_wire(zone.qname()),
            zone_class: zone.qclass().to_int(),
            prerequisites,
            updates,
        })
    }
}

fn read_rr(
    record: &ParsedRecord<'_, &[u8]>,
    section: &'static str,
) -> Result<UpdateRr, MessageError> {
    let malformed = |problem: String| MessageError::Malformed { section, problem };
    let owner = lower_wire(&record.owner());
    // The RDLENGTH 0 forms (delete an RRset, "RRset exists") carry no
    // RDATA, which most types cannot even be parsed from.
    let rdata = if record.rdlen() == 0 {
        Vec::new()
    } else {
        let parsed = record
            .to_record::<AllRecordData<_, ParsedName<_>>>()
            .map_err(|e| malformed(format!("{}: {e}", crate::name::display(&owner))))?
            .ok_or_else(|| malformed("unreadable record".into()))?;
        let mut rdata = Vec::new();
        // A `Vec` target does not compress: names are written out in full.
        parsed
            .data()
            .compose_rdata(&mut rdata)
            .map_err(|_| malformed(format!("{}: RDATA too long", crate::name::display(&owner))))?;
        rdata
    };
    Ok(UpdateRr {
        owner,
        class: record.class().to_int(),
        rtype: record.rtype().to_int(),
        ttl: record.ttl().as_secs(),
        rdata,
    })
}

fn lower_wire(name: &impl ToName) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::from(name.compose_len()));
    for label in name.iter_labels() {
        // A parsed label is at most 63 octets.
        out.push(label.len() as u8);
        out.extend(label.as_slice().iter().map(u8::to_ascii_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::testing::update_message;

    #[test]
    fn reads_the_sections_and_undoes_compression() {
        let bytes = update_message(
            "Example.COM.",
            &[("www.example.com.", "ANY", "A", 0, "")],
            &[
                (
                    "WWW.example.com.",
                    "IN",
                    "CNAME",
                    300,
                    "Target.example.com.",
                ),
                ("old.example.com.", "ANY", "ANY", 0, ""),
                ("mx.example.com.", "NONE", "MX", 0, "10 Mail.example.com."),
            ],
        );
        let m = UpdateMessage::parse(&bytes).unwrap();
        assert_eq!(m.zone, crate::name::test_wire("example.com."));
        assert_eq!(m.zone_class, class::IN);
        assert_eq!(m.prerequisites.len(), 1);
        assert_eq!(m.prerequisites[0].class, class::ANY);
        assert!(m.prerequisites[0].rdata.is_empty());
        let u = &m.updates;
        assert_eq!(u[0].owner, crate::name::test_wire("www.example.com."));
        assert_eq!(u[0].rdata, crate::name::test_wire("Target.example.com."));
        assert_eq!((u[1].class, u[1].rtype), (class::ANY, 255));
        let mut mx = vec![0, 10];
        mx.extend(crate::name::test_wire("Mail.example.com."));
        assert_eq!((u[2].class, &u[2].rdata), (class::NONE, &mx));
    }

    #[test]
    fn a_query_or_a_bad_zone_section_is_refused() {
        let mut bytes = update_message("example.com.", &[], &[]);
        bytes[2] &= !0x78; // opcode QUERY
        assert_eq!(UpdateMessage::parse(&bytes), Err(MessageError::NotUpdate));
        let mut bytes = update_message("example.com.", &[], &[]);
        bytes[5] = 2; // ZOCOUNT 2
        assert!(UpdateMessage::parse(&bytes).is_err());
        assert!(UpdateMessage::parse(&bytes[..7]).is_err());
    }
}
