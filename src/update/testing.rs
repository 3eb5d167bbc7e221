//! Building UPDATE messages in unit tests.

use super::message::class;
use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::message_builder::{MessageBuilder, StaticCompressor};
use domain::base::name::Name;
use domain::base::rdata::UnknownRecordData;
use domain::base::Ttl;
use std::str::FromStr;

/// One record: owner, class (`IN`, `ANY`, `NONE`), type, TTL, RDATA in
/// presentation format ("" for none).
pub type Rr<'a> = (&'a str, &'a str, &'a str, u32, &'a str);

/// The RDATA of `rtype` written as `text` (presentation format), in wire
/// format with names in full.
pub fn rdata(rtype: &str, text: &str) -> Vec<u8> {
    if text.is_empty() {
        return Vec::new();
    }
    let line = format!("x.test. 0 IN {rtype} {text}\n");
    let origin = crate::name::test_wire("test.");
    let parsed = crate::zonefile::parse_str(
        &line,
        std::path::Path::new("t.zone"),
        &crate::zonefile::ParseOptions::new(origin),
    )
    .unwrap_or_else(|e| panic!("{text}: {e:?}"));
    parsed.records[0].rdata.clone()
}

/// An UPDATE for `zone` with owner names compressed.
pub fn update_message(zone: &str, prerequisites: &[Rr<'_>], updates: &[Rr<'_>]) -> Vec<u8> {
    let mut b = MessageBuilder::from_target(StaticCompressor::new(Vec::new())).unwrap();
    b.header_mut().set_id(0x4242);
    b.header_mut().set_opcode(Opcode::UPDATE);
    let mut q = b.question();
    q.push((Name::<Vec<u8>>::from_str(zone).unwrap(), Rtype::SOA))
        .unwrap();
    let mut a = q.answer();
    for rr in prerequisites {
        a.push(record(rr)).unwrap();
    }
    let mut u = a.authority();
    for rr in updates {
        u.push(record(rr)).unwrap();
    }
    u.finish().into_target()
}

type Built = (Name<Vec<u8>>, Class, Ttl, UnknownRecordData<Vec<u8>>);

fn record(&(owner, cls, rtype, ttl, text): &Rr<'_>) -> Built {
    let cls = match cls {
        "IN" => class::IN,
        "ANY" => class::ANY,
        "NONE" => class::NONE,
        other => panic!("class {other}"),
    };
    let t = crate::rdata::rtype_from_presentation(rtype).unwrap();
    (
        Name::from_str(owner).unwrap(),
        Class::from_int(cls),
        Ttl::from_secs(ttl),
        UnknownRecordData::from_octets(Rtype::from_int(t), rdata(rtype, text)).unwrap(),
    )
}
