use super::*;
use crate::update::testing::{rdata, update_message, Rr};
use crate::zone::test_version;

const ZONE: &str = "$ORIGIN example.com.
$TTL 300
@ IN SOA ns1 host 10 3600 600 86400 300
@ NS ns1
@ NS ns2
ns1 A 192.0.2.1
ns2 A 192.0.2.2
www A 192.0.2.10
www A 192.0.2.11
alias CNAME www
mx MX 10 Mail.example.com.
sub.deep TXT \"x\"
";

fn zone() -> ZoneVersion {
    test_version("example.com.", ZONE)
}

fn message(prereqs: &[Rr<'_>], updates: &[Rr<'_>]) -> UpdateMessage {
    UpdateMessage::parse(&update_message("example.com.", prereqs, updates)).unwrap()
}

fn prereq_rcode(prereqs: &[Rr<'_>]) -> u16 {
    match check_prerequisites(&zone(), &message(prereqs, &[]).prerequisites) {
        Ok(()) => rcode::NOERROR,
        Err(f) => f.rcode,
    }
}

/// The zone after `updates`, and the changeset's serials.
fn after(updates: &[Rr<'_>]) -> (ZoneVersion, u32, u32) {
    let v = zone();
    let c = changeset(&v, &message(&[], updates), SerialPolicy::Keep, 0)
        .unwrap()
        .expect("a change");
    let next = v.apply(&c).unwrap_or_else(|e| panic!("{e}: {c:?}"));
    (next, c.from_serial.get(), c.to_serial.get())
}

fn rrset(v: &ZoneVersion, owner: &str, t: u16) -> Option<(u32, Vec<Vec<u8>>)> {
    let s = rrset_in(v, &crate::name::test_wire(owner), t)?;
    let mut r = s.rdatas;
    r.sort();
    Some((s.ttl, r))
}

fn a(text: &str) -> Vec<u8> {
    rdata("A", text)
}

#[test]
fn each_prerequisite_kind_passes_and_fails_with_its_rcode() {
    use rcode::*;
    let cases: &[(Rr<'_>, u16)] = &[
        (("www.example.com.", "ANY", "ANY", 0, ""), NOERROR),
        (("nope.example.com.", "ANY", "ANY", 0, ""), NXDOMAIN),
        // An empty non-terminal is not "in use".
        (("deep.example.com.", "ANY", "ANY", 0, ""), NXDOMAIN),
        (("www.example.com.", "ANY", "A", 0, ""), NOERROR),
        (("www.example.com.", "ANY", "AAAA", 0, ""), NXRRSET),
        (("nope.example.com.", "NONE", "ANY", 0, ""), NOERROR),
        (("deep.example.com.", "NONE", "ANY", 0, ""), NOERROR),
        (("www.example.com.", "NONE", "ANY", 0, ""), YXDOMAIN),
        (("www.example.com.", "NONE", "AAAA", 0, ""), NOERROR),
        (("www.example.com.", "NONE", "A", 0, ""), YXRRSET),
        (("www.example.org.", "ANY", "ANY", 0, ""), NOTZONE),
        (("www.example.com.", "ANY", "A", 5, ""), FORMERR),
        (("www.example.com.", "ANY", "A", 0, "192.0.2.1"), FORMERR),
    ];
    for (rr, want) in cases {
        assert_eq!(prereq_rcode(&[*rr]), *want, "{rr:?}");
    }
}

#[test]
fn a_value_prerequisite_compares_the_whole_rrset_names_without_case() {
    let both = [
        ("www.example.com.", "IN", "A", 0, "192.0.2.11"),
        ("www.example.com.", "IN", "A", 0, "192.0.2.10"),
    ];
    assert_eq!(prereq_rcode(&both), rcode::NOERROR);
    assert_eq!(prereq_rcode(&both[..1]), rcode::NXRRSET, "a subset");
    let mx = [("mx.example.com.", "IN", "MX", 0, "10 MAIL.EXAMPLE.COM.")];
    assert_eq!(prereq_rcode(&mx), rcode::NOERROR);
    let other = [("mx.example.com.", "IN", "MX", 0, "20 mail.example.com.")];
    assert_eq!(prereq_rcode(&other), rcode::NXRRSET);
    let missing = [("nope.example.com.", "IN", "A", 0, "192.0.2.1")];
    assert_eq!(prereq_rcode(&missing), rcode::NXRRSET);
}

#[test]
fn a_failed_prerequisite_changes_nothing() {
    let m = message(
        &[("www.example.com.", "NONE", "A", 0, "")],
        &[("new.example.com.", "IN", "A", 300, "192.0.2.50")],
    );
    let err = changeset(&zone(), &m, SerialPolicy::Keep, 0).unwrap_err();
    assert_eq!(err.rcode, rcode::YXRRSET);
}

#[test]
fn adds_replace_equal_records_and_set_the_rrset_ttl() {
    let (v, from, to) = after(&[
        ("new.example.com.", "IN", "A", 60, "192.0.2.50"),
        ("www.example.com.", "IN", "A", 600, "192.0.2.12"),
        // Equal to one there (names compared without case): replaced.
        ("mx.example.com.", "IN", "MX", 300, "10 mail.EXAMPLE.com."),
    ]);
    assert_eq!((from, to), (10, 11));
    assert_eq!(v.serial(), Serial(11));
    assert_eq!(
        rrset(&v, "new.example.com.", 1),
        Some((60, vec![a("192.0.2.50")]))
    );
    let www = rrset(&v, "www.example.com.", 1).unwrap();
    assert_eq!(www.0, 600, "the RRset takes the added record's TTL");
    assert_eq!(www.1.len(), 3);
    let mx = rrset(&v, "mx.example.com.", rtype::MX).unwrap();
    assert_eq!(mx.1, vec![rdata("MX", "10 mail.EXAMPLE.com.")]);
}

#[test]
fn deletes_by_rrset_name_and_record_keep_the_apex_whole() {
    let (v, _, _) = after(&[
        ("www.example.com.", "NONE", "A", 0, "192.0.2.10"),
        ("alias.example.com.", "ANY", "ANY", 0, ""),
        ("mx.example.com.", "ANY", "MX", 0, ""),
        // The apex keeps its SOA and NS, and at least one NS.
        ("example.com.", "ANY", "ANY", 0, ""),
        ("example.com.", "ANY", "NS", 0, ""),
        ("example.com.", "ANY", "SOA", 0, ""),
        ("example.com.", "NONE", "NS", 0, "ns1.example.com."),
        ("example.com.", "NONE", "NS", 0, "NS2.example.com."),
        ("example.com.", "NONE", "SOA", 0, "a. b. 1 2 3 4 5"),
    ]);
    assert_eq!(
        rrset(&v, "www.example.com.", 1),
        Some((300, vec![a("192.0.2.11")]))
    );
    assert!(rrset(&v, "alias.example.com.", rtype::CNAME).is_none());
    assert!(rrset(&v, "mx.example.com.", rtype::MX).is_none());
    let ns = rrset(&v, "example.com.", rtype::NS).unwrap();
    assert_eq!(ns.1, vec![crate::name::test_wire("ns2.example.com.")]);
    assert!(rrset(&v, "example.com.", rtype::SOA).is_some());
}

#[test]
fn cname_and_other_data_never_meet() {
    let v = zone();
    // Data at a CNAME, a CNAME at data: both ignored, nothing changes.
    let m = message(
        &[],
        &[
            ("alias.example.com.", "IN", "A", 300, "192.0.2.1"),
            ("www.example.com.", "IN", "CNAME", 300, "alias.example.com."),
        ],
    );
    assert_eq!(changeset(&v, &m, SerialPolicy::Keep, 0), Ok(None));
    // A CNAME replaces a CNAME; a CNAME goes where the data was deleted
    // first in the same UPDATE.
    let (v, _, _) = after(&[
        ("alias.example.com.", "IN", "CNAME", 300, "mx.example.com."),
        ("www.example.com.", "ANY", "A", 0, ""),
        ("www.example.com.", "IN", "CNAME", 300, "alias.example.com."),
    ]);
    let alias = rrset(&v, "alias.example.com.", rtype::CNAME).unwrap();
    assert_eq!(alias.1, vec![crate::name::test_wire("mx.example.com.")]);
    assert!(rrset(&v, "www.example.com.", rtype::CNAME).is_some());
}

#[test]
fn an_soa_replaces_the_zones_only_with_a_later_serial() {
    let v = zone();
    let older = message(
        &[],
        &[(
            "example.com.",
            "IN",
            "SOA",
            300,
            "ns1.example.com. h. 9 1 1 1 1",
        )],
    );
    assert_eq!(changeset(&v, &older, SerialPolicy::Keep, 0), Ok(None));
    let (v, _, to) = after(&[(
        "example.com.",
        "IN",
        "SOA",
        300,
        "ns1.example.com. h. 100 7200 600 86400 300",
    )]);
    assert_eq!(to, 100);
    let soa = rrset(&v, "example.com.", rtype::SOA).unwrap();
    assert_eq!(crate::zone::soa_field(&soa.1[0], 1), Some(7200));
}

#[test]
fn the_serial_follows_the_zones_policy_and_nothing_moves_it_without_a_change() {
    let v = zone();
    let m = message(&[], &[("n.example.com.", "IN", "A", 300, "192.0.2.9")]);
    let now = 1_795_262_400; // 2026-11-21 12:00 UTC
    let c = changeset(&v, &m, SerialPolicy::Dateserial, now)
        .unwrap()
        .unwrap();
    assert_eq!(c.to_serial, Serial(2026112100));
    let c = changeset(&v, &m, SerialPolicy::Unixtime, now)
        .unwrap()
        .unwrap();
    assert_eq!(c.to_serial, Serial(1_795_262_400));
    let nothing = message(
        &[],
        &[
            ("www.example.com.", "IN", "A", 300, "192.0.2.10"),
            ("gone.example.com.", "ANY", "ANY", 0, ""),
            ("www.example.com.", "NONE", "AAAA", 0, "2001:db8::1"),
        ],
    );
    assert_eq!(changeset(&v, &nothing, SerialPolicy::Keep, 0), Ok(None));
}

#[test]
fn the_update_section_is_checked_before_anything_is_done() {
    use rcode::*;
    let cases: &[(Rr<'_>, u16)] = &[
        (("www.example.org.", "IN", "A", 300, "192.0.2.1"), NOTZONE),
        (("www.example.com.", "ANY", "A", 300, ""), FORMERR),
        (("www.example.com.", "ANY", "AXFR", 0, ""), FORMERR),
        (("www.example.com.", "NONE", "A", 300, "192.0.2.1"), FORMERR),
        (("www.example.com.", "NONE", "ANY", 0, ""), FORMERR),
        (("www.example.com.", "IN", "ANY", 300, ""), FORMERR),
        (
            ("www.example.com.", "IN", "NSEC", 300, "a.example.com. A"),
            REFUSED,
        ),
    ];
    for (rr, want) in cases {
        let m = message(
            &[],
            &[("ok.example.com.", "IN", "A", 300, "192.0.2.1"), *rr],
        );
        let got = changeset(&zone(), &m, SerialPolicy::Keep, 0).unwrap_err();
        assert_eq!(got.rcode, *want, "{rr:?}: {got}");
    }
}

#[test]
fn a_signed_zone_refuses_updates() {
    let signed = test_version("example.com.", &format!("{ZONE}@ DNSKEY 256 3 13 AQID\n"));
    let m = message(&[], &[("n.example.com.", "IN", "A", 300, "192.0.2.9")]);
    let err = changeset(&signed, &m, SerialPolicy::Keep, 0).unwrap_err();
    assert_eq!(err.rcode, rcode::REFUSED);
}
