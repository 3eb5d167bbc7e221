//! What zonesync answers, query by query, against a running server.
//!
//! One test per behaviour, named for it; each names the RFC section it
//! checks. The zones are `tests/fixtures/answers/*.zone`: example.com holds
//! one name per rule (its comments say which), example.net has an SOA TTL
//! below its MINIMUM, and sub.example.com is the child of example.com's
//! delegation, served in the one test about DS with both sides served.

mod common;

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::{Record, RecordType};
use std::time::{Duration, Instant};

const EXAMPLE_COM: &str = include_str!("fixtures/answers/example.com.zone");
const EXAMPLE_NET: &str = include_str!("fixtures/answers/example.net.zone");
const NSID: &str = "test-nsid-1";

fn config() -> String {
    format!(
        "[server]\nnsid = \"{NSID}\"\nedns_udp_max = 1232\nudp_workers = 1\ntcp_idle_timeout = 2\n{}{}",
        zone_entry("example.com", "example.com.zone"),
        zone_entry("example.net", "example.net.zone"),
    )
}

fn start() -> Server {
    Server::start(
        &config(),
        &[
            ("example.com.zone", EXAMPLE_COM),
            ("example.net.zone", EXAMPLE_NET),
        ],
    )
}

/// A plain UDP query.
fn ask(s: &Server, name: &str, rtype: RecordType) -> Message {
    query_udp(s.addr(), name, rtype, &QueryOpts::plain())
}

/// `owner ttl TYPE rdata` with the owner lower-cased, sorted.
fn lines(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.name().to_ascii().to_ascii_lowercase(),
                r.ttl(),
                type_text(r),
                rdata_text(r)
            )
        })
        .collect();
    v.sort();
    v
}

/// `owner TYPE` per record, owner lower-cased, in message order.
fn owners_types(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.name().to_ascii().to_ascii_lowercase(),
                type_text(r)
            )
        })
        .collect()
}

#[track_caller]
fn assert_rcode(msg: &Message, want: u16, what: &str) {
    assert_eq!(
        rcode(msg),
        want,
        "{what}: expected rcode {}, got {}\n{}",
        rcode_name(want),
        rcode_name(rcode(msg)),
        describe(msg)
    );
}

#[track_caller]
fn assert_flag(msg: &Message, bit: u16, set: bool, what: &str) {
    let name = flags_text(bit).to_uppercase();
    assert_eq!(
        flags(msg) & bit != 0,
        set,
        "{what}: expected {name} {}, got flags [{}]\n{}",
        if set { "set" } else { "clear" },
        flags_text(flags(msg)),
        describe(msg)
    );
}

#[track_caller]
fn assert_records(msg: &Message, section: &[Record], want: &[&str], what: &str) {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(lines(section), want, "{what}\n{}", describe(msg));
}

/// A negative answer: `rcode`, AA, empty answer, and exactly the zone's SOA
/// in authority with TTL `neg_ttl` (RFC 2308 §3, §5).
#[track_caller]
fn assert_negative(msg: &Message, want_rcode: u16, zone: &str, neg_ttl: u32, what: &str) {
    assert_rcode(msg, want_rcode, what);
    assert_flag(msg, flag::AA, true, what);
    assert!(
        msg.answers().is_empty(),
        "{what}: expected an empty answer section\n{}",
        describe(msg)
    );
    let soa: Vec<(String, u32)> = of_type(msg.name_servers(), RecordType::SOA)
        .iter()
        .map(|r| (r.name().to_ascii().to_ascii_lowercase(), r.ttl()))
        .collect();
    assert_eq!(
        soa,
        vec![(zone.to_string(), neg_ttl)],
        "{what}: expected the SOA of {zone} in authority with TTL {neg_ttl} \
         (RFC 2308 §5: min(SOA TTL, MINIMUM))\n{}",
        describe(msg)
    );
}

// ---------------------------------------------------------------------------
// RFC 1034 §4.3.2: the lookup

#[test]
fn exact_match_is_answered_authoritatively() {
    let s = start();
    let m = ask(&s, "www.example.com", RecordType::A);
    assert_rcode(&m, rcode::NOERROR, "www.example.com A");
    assert_flag(
        &m,
        flag::AA,
        true,
        "www.example.com A (RFC 1034 §4.3.2 step 3a)",
    );
    assert_records(
        &m,
        m.answers(),
        &["www.example.com. 3600 A 192.0.2.80"],
        "www.example.com A: answer",
    );

    let m = ask(&s, "www.example.com", RecordType::AAAA);
    assert_records(
        &m,
        m.answers(),
        &["www.example.com. 3600 AAAA 2001:db8::80"],
        "www AAAA: only the AAAA RRset",
    );
}

#[test]
fn cname_chain_inside_the_zone_is_followed() {
    let s = start();
    let m = ask(&s, "chain1.example.com", RecordType::A);
    assert_rcode(&m, rcode::NOERROR, "chain1 A");
    assert_flag(&m, flag::AA, true, "chain1 A");
    assert_eq!(
        owners_types(m.answers()),
        vec![
            "chain1.example.com. CNAME",
            "chain2.example.com. CNAME",
            "www.example.com. A",
        ],
        "chain1 A: RFC 1034 §4.3.2 step 3a: CNAME, CNAME, then the A of the target, in chain order\n{}",
        describe(&m)
    );
    assert_records(
        &m,
        m.answers(),
        &[
            "chain1.example.com. 3600 CNAME chain2.example.com.",
            "chain2.example.com. 3600 CNAME www.example.com.",
            "www.example.com. 3600 A 192.0.2.80",
        ],
        "chain1 A: records",
    );
}

#[test]
fn cname_query_returns_the_cname_itself() {
    let s = start();
    let m = ask(&s, "alias.example.com", RecordType::CNAME);
    assert_rcode(&m, rcode::NOERROR, "alias CNAME");
    assert_records(
        &m,
        m.answers(),
        &["alias.example.com. 3600 CNAME www.example.com."],
        "alias CNAME: the CNAME, not followed",
    );
}

#[test]
fn cname_leaving_the_served_zones_ends_the_chain() {
    let s = start();
    let m = ask(&s, "external.example.com", RecordType::A);
    assert_rcode(
        &m,
        rcode::NOERROR,
        "external A (CNAME to www.example.org, not served)",
    );
    assert_records(
        &m,
        m.answers(),
        &["external.example.com. 3600 CNAME www.example.org."],
        "external A: only the CNAME (RFC 1034 §4.3.2 step 3a: the target is not ours)",
    );
}

#[test]
fn cname_to_a_missing_name_is_nxdomain_with_the_cname() {
    let s = start();
    let m = ask(&s, "dangling.example.com", RecordType::A);
    let what = "dangling A (CNAME to nothere.example.com, which does not exist)";
    assert_rcode(
        &m,
        rcode::NXDOMAIN,
        &format!("{what}: RFC 6604 §2.1: the rcode is that of the last name"),
    );
    assert_records(
        &m,
        m.answers(),
        &["dangling.example.com. 3600 CNAME nothere.example.com."],
        what,
    );
    assert_eq!(
        of_type(m.name_servers(), RecordType::SOA).len(),
        1,
        "{what}: SOA in authority\n{}",
        describe(&m)
    );
}

#[test]
fn cname_loop_gets_a_bounded_answer() {
    let s = start();
    let m = ask(&s, "loop1.example.com", RecordType::A);
    assert!(
        matches!(rcode(&m), rcode::NOERROR | rcode::SERVFAIL),
        "loop1 A (loop1 -> loop2 -> loop1): expected NOERROR or SERVFAIL\n{}",
        describe(&m)
    );
    assert!(
        lines(m.answers())
            .contains(&"loop1.example.com. 3600 CNAME loop2.example.com.".to_string()),
        "loop1 A: expected at least loop1's CNAME in the answer\n{}",
        describe(&m)
    );
}

#[test]
fn mx_answer_carries_the_exchange_address_in_additional() {
    let s = start();
    let m = ask(&s, "example.com", RecordType::MX);
    assert_records(
        &m,
        m.answers(),
        &["example.com. 3600 MX 10 mail.example.com."],
        "example.com MX: answer",
    );
    let a: Vec<String> = lines(m.additionals())
        .into_iter()
        .filter(|l| l.contains(" A "))
        .collect();
    assert_eq!(
        a,
        vec!["mail.example.com. 3600 A 192.0.2.25"],
        "example.com MX: RFC 1035 §3.3.9 additional section processing: the A of mail\n{}",
        describe(&m)
    );
}

// ---------------------------------------------------------------------------
// RFC 6672: DNAME

#[test]
fn dname_substitution_adds_dname_and_synthesized_cname() {
    let s = start();
    let m = ask(&s, "www.dn.example.com", RecordType::A);
    assert_rcode(&m, rcode::NOERROR, "www.dn.example.com A");
    assert_flag(&m, flag::AA, true, "www.dn.example.com A");
    let got = lines(m.answers());
    for want in [
        "dn.example.com. 3600 DNAME example.net.",
        // RFC 6672 §3.1: the CNAME's TTL is the DNAME's.
        "www.dn.example.com. 3600 CNAME www.example.net.",
    ] {
        assert!(
            got.contains(&want.to_string()),
            "www.dn.example.com A: RFC 6672 §3.1/§3.2 expected `{want}` in the answer\n{}",
            describe(&m)
        );
    }
    assert_eq!(
        owners_types(m.answers()).get(..2),
        Some(
            &[
                "dn.example.com. DNAME".to_string(),
                "www.dn.example.com. CNAME".to_string()
            ][..]
        ),
        "www.dn.example.com A: the DNAME comes before the synthesized CNAME\n{}",
        describe(&m)
    );
}

#[test]
fn dname_substitution_is_followed_inside_the_zone() {
    let s = start();
    let m = ask(&s, "www.dn2.example.com", RecordType::A);
    assert_rcode(&m, rcode::NOERROR, "www.dn2.example.com A");
    assert_records(
        &m,
        m.answers(),
        &[
            "dn2.example.com. 3600 DNAME target.example.com.",
            "www.dn2.example.com. 3600 CNAME www.target.example.com.",
            "www.target.example.com. 3600 A 192.0.2.7",
        ],
        "www.dn2.example.com A: DNAME, synthesized CNAME, then the target's A (RFC 6672 §3.2)",
    );
}

#[test]
fn dname_does_not_redirect_its_own_owner() {
    let s = start();
    let m = ask(&s, "dn.example.com", RecordType::A);
    assert_negative(
        &m,
        rcode::NOERROR,
        "example.com.",
        300,
        "dn.example.com A: RFC 6672 §2.3: the owner is not redirected, NODATA",
    );
    let m = ask(&s, "dn.example.com", DNAME);
    assert_records(
        &m,
        m.answers(),
        &["dn.example.com. 3600 DNAME example.net."],
        "dn.example.com DNAME",
    );
}

#[test]
fn dname_substitution_too_long_gives_yxdomain() {
    let s = start();
    // 60 + 18 octets asked; 60 + 205 after substitution > 255.
    let label = "x".repeat(59);
    let qname = format!("{label}.long.example.com");
    let m = ask(&s, &qname, RecordType::A);
    assert_rcode(
        &m,
        rcode::YXDOMAIN,
        &format!("{qname} A: RFC 6672 §2.2: substituted name longer than 255 octets"),
    );
    assert!(
        of_type(m.answers(), RecordType::CNAME).is_empty(),
        "{qname} A: no CNAME may be synthesized\n{}",
        describe(&m)
    );
}

// ---------------------------------------------------------------------------
// RFC 4592: wildcards

#[test]
fn wildcard_answer_has_the_query_name_as_owner() {
    let s = start();
    let m = ask(&s, "foo.wild.example.com", RecordType::A);
    assert_rcode(&m, rcode::NOERROR, "foo.wild.example.com A");
    assert_flag(&m, flag::AA, true, "foo.wild.example.com A");
    assert_records(
        &m,
        m.answers(),
        &["foo.wild.example.com. 3600 A 192.0.2.99"],
        "foo.wild.example.com A: RFC 4592 §3.3.1/RFC 1034 §4.3.3: synthesized with owner = QNAME",
    );
}

#[test]
fn wildcard_matches_more_than_one_label() {
    let s = start();
    let m = ask(&s, "a.b.wild.example.com", RecordType::A);
    assert_records(
        &m,
        m.answers(),
        &["a.b.wild.example.com. 3600 A 192.0.2.99"],
        "a.b.wild.example.com A: closest encloser wild.example.com, *.wild matches (RFC 4592 §2.2.1)",
    );
}

#[test]
fn wildcard_without_the_type_is_nodata() {
    let s = start();
    let m = ask(&s, "foo.wild.example.com", RecordType::MX);
    assert_negative(
        &m,
        rcode::NOERROR,
        "example.com.",
        300,
        "foo.wild.example.com MX: wildcard has no MX: NODATA (RFC 4592 §3.3.1)",
    );
}

#[test]
fn wildcard_is_not_applied_when_the_name_exists() {
    let s = start();
    let m = ask(&s, "sub.wild.example.com", RecordType::TXT);
    assert_negative(
        &m,
        rcode::NOERROR,
        "example.com.",
        300,
        "sub.wild.example.com TXT: the name exists (A only), so NODATA, not the wildcard's TXT (RFC 4592 §2.2.1)",
    );
    let m = ask(&s, "sub.wild.example.com", RecordType::A);
    assert_records(
        &m,
        m.answers(),
        &["sub.wild.example.com. 3600 A 192.0.2.98"],
        "sub.wild.example.com A: its own A",
    );
}

#[test]
fn wildcard_is_not_applied_below_an_existing_node() {
    let s = start();
    let m = ask(&s, "x.sub.wild.example.com", RecordType::A);
    assert_negative(
        &m,
        rcode::NXDOMAIN,
        "example.com.",
        300,
        "x.sub.wild.example.com A: closest encloser sub.wild has no wildcard child: NXDOMAIN (RFC 4592 §3.3.1)",
    );
}

#[test]
fn wildcard_cname_is_synthesized_and_followed() {
    let s = start();
    let m = ask(&s, "x.wc.example.com", RecordType::A);
    assert_rcode(&m, rcode::NOERROR, "x.wc.example.com A");
    assert_records(
        &m,
        m.answers(),
        &["x.wc.example.com. 3600 CNAME www.example.com.", "www.example.com. 3600 A 192.0.2.80"],
        "x.wc.example.com A: *.wc CNAME www synthesized with owner = QNAME, then followed (RFC 4592 §3.3.1, RFC 1034 §4.3.2)",
    );
}

// ---------------------------------------------------------------------------
// Delegations

#[test]
fn name_below_a_delegation_gets_a_referral() {
    let s = start();
    let m = ask(&s, "host.sub.example.com", RecordType::A);
    let what = "host.sub.example.com A (RFC 1034 §4.3.2 step 3b: referral)";
    assert_rcode(&m, rcode::NOERROR, what);
    assert_flag(&m, flag::AA, false, what);
    assert!(
        m.answers().is_empty(),
        "{what}: expected an empty answer\n{}",
        describe(&m)
    );
    assert_records(
        &m,
        m.name_servers(),
        &[
            "sub.example.com. 3600 NS ns.elsewhere.example.net.",
            "sub.example.com. 3600 NS ns.sub.example.com.",
        ],
        &format!("{what}: the NS RRset of the cut in authority"),
    );
    assert_records(
        &m,
        m.additionals(),
        &["ns.sub.example.com. 3600 A 192.0.2.100"],
        &format!("{what}: the glue in additional"),
    );
}

#[test]
fn delegation_point_itself_gets_a_referral() {
    let s = start();
    let m = ask(&s, "sub.example.com", RecordType::A);
    let what = "sub.example.com A (RFC 1034 §4.3.2 step 3b)";
    assert_rcode(&m, rcode::NOERROR, what);
    assert_flag(&m, flag::AA, false, what);
    assert!(
        m.answers().is_empty(),
        "{what}: expected an empty answer\n{}",
        describe(&m)
    );
    assert_eq!(
        of_type(m.name_servers(), RecordType::NS).len(),
        2,
        "{what}: expected the 2 NS of the cut in authority\n{}",
        describe(&m)
    );
    assert_records(
        &m,
        m.additionals(),
        &["ns.sub.example.com. 3600 A 192.0.2.100"],
        &format!("{what}: glue"),
    );
}

#[test]
fn ds_at_a_delegation_is_answered_by_the_parent_authoritatively() {
    let s = start();
    let m = ask(&s, "sub.example.com", RecordType::DS);
    let what = "sub.example.com DS (RFC 4035 §3.1.4.1: the parent side answers DS)";
    assert_rcode(&m, rcode::NOERROR, what);
    assert_flag(&m, flag::AA, true, what);
    assert_eq!(
        owners_types(m.answers()),
        vec!["sub.example.com. DS"],
        "{what}: expected the DS RRset in the answer\n{}",
        describe(&m)
    );
}

#[test]
fn ns_query_at_a_delegation_point_gets_a_referral() {
    let s = start();
    let m = ask(&s, "sub.example.com", RecordType::NS);
    let what = "sub.example.com NS: the parent is not authoritative for the child's NS (RFC 1034 §4.3.2 step 3b, RFC 2181 §6.1)";
    assert_flag(&m, flag::AA, false, what);
    assert!(
        m.answers().is_empty(),
        "{what}: expected the NS in authority, not in the answer\n{}",
        describe(&m)
    );
    assert_eq!(
        of_type(m.name_servers(), RecordType::NS).len(),
        2,
        "{what}\n{}",
        describe(&m)
    );
}

#[test]
fn glue_name_gets_a_referral_not_an_answer() {
    let s = start();
    let m = ask(&s, "ns.sub.example.com", RecordType::A);
    let what =
        "ns.sub.example.com A: glue is not authoritative data (RFC 1034 §4.2.1, §4.3.2 step 3b)";
    assert_flag(&m, flag::AA, false, what);
    assert!(
        m.answers().is_empty(),
        "{what}: expected a referral, not the glue as an answer\n{}",
        describe(&m)
    );
    assert_eq!(
        of_type(m.name_servers(), RecordType::NS).len(),
        2,
        "{what}\n{}",
        describe(&m)
    );
}

#[test]
fn referral_carries_the_ds_only_when_do_is_set() {
    let s = start();
    let m = query_udp(
        s.addr(),
        "host.sub.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).dnssec_ok(),
    );
    assert_eq!(
        of_type(m.name_servers(), RecordType::DS).len(),
        1,
        "host.sub A with DO=1: the DS of the cut belongs in the referral's authority section (RFC 4035 §3.1.4)\n{}",
        describe(&m)
    );
    let m = query_udp(
        s.addr(),
        "host.sub.example.com",
        RecordType::A,
        &QueryOpts::edns(1232),
    );
    assert!(
        of_type(m.name_servers(), RecordType::DS).is_empty(),
        "host.sub A with DO=0: no DS in the referral\n{}",
        describe(&m)
    );
}

#[test]
fn ds_is_answered_by_the_parent_when_the_child_zone_is_served_too() {
    let config = format!(
        "{}{}",
        config(),
        zone_entry("sub.example.com", "sub.example.com.zone")
    );
    let s = Server::start(
        &config,
        &[
            ("example.com.zone", EXAMPLE_COM),
            ("example.net.zone", EXAMPLE_NET),
            (
                "sub.example.com.zone",
                include_str!("fixtures/answers/sub.example.com.zone"),
            ),
        ],
    );
    let m = ask(&s, "sub.example.com", RecordType::DS);
    let what =
        "sub.example.com DS with both example.com and sub.example.com served (RFC 4035 §3.1.4.1)";
    assert_rcode(&m, rcode::NOERROR, what);
    assert_flag(&m, flag::AA, true, what);
    assert_eq!(
        owners_types(m.answers()),
        vec!["sub.example.com. DS"],
        "{what}: the parent's DS\n{}",
        describe(&m)
    );

    let m = ask(&s, "host.sub.example.com", RecordType::A);
    assert_flag(
        &m,
        flag::AA,
        true,
        "host.sub.example.com A: answered from the served child zone",
    );
    assert_records(
        &m,
        m.answers(),
        &["host.sub.example.com. 3600 A 192.0.2.101"],
        "host.sub A from the child",
    );
    let m = ask(&s, "sub.example.com", RecordType::NS);
    assert_flag(
        &m,
        flag::AA,
        true,
        "sub.example.com NS: the child's apex NS, authoritative",
    );
    assert_eq!(
        of_type(m.answers(), RecordType::NS).len(),
        2,
        "sub.example.com NS from the child\n{}",
        describe(&m)
    );
}

// ---------------------------------------------------------------------------
// RFC 2308: negative answers

#[test]
fn nxdomain_carries_the_soa_with_the_negative_ttl() {
    let s = start();
    let m = ask(&s, "nope.example.com", RecordType::A);
    assert_negative(
        &m,
        rcode::NXDOMAIN,
        "example.com.",
        300,
        "nope.example.com A (RFC 2308 §2.1, §3)",
    );
}

#[test]
fn nodata_carries_the_soa_with_the_negative_ttl() {
    let s = start();
    let m = ask(&s, "www.example.com", RecordType::MX);
    assert_negative(
        &m,
        rcode::NOERROR,
        "example.com.",
        300,
        "www.example.com MX (RFC 2308 §2.2, §3)",
    );
}

#[test]
fn negative_ttl_is_the_soa_ttl_when_below_minimum() {
    let s = start();
    let m = ask(&s, "nope.example.net", RecordType::A);
    assert_negative(
        &m,
        rcode::NXDOMAIN,
        "example.net.",
        60,
        "nope.example.net A (SOA TTL 60, MINIMUM 600)",
    );
    let m = ask(&s, "www.example.net", RecordType::TXT);
    assert_negative(
        &m,
        rcode::NOERROR,
        "example.net.",
        60,
        "www.example.net TXT (SOA TTL 60, MINIMUM 600)",
    );
}

#[test]
fn empty_non_terminal_is_nodata_not_nxdomain() {
    let s = start();
    for name in ["b.c.example.com", "c.example.com", "wild.example.com"] {
        let m = ask(&s, name, RecordType::A);
        assert_negative(
            &m,
            rcode::NOERROR,
            "example.com.",
            300,
            &format!("{name} A: empty non-terminal (RFC 4592 §2.2.2, RFC 8020)"),
        );
    }
}

#[test]
fn name_outside_the_served_zones_is_refused() {
    let s = start();
    for name in ["www.example.org", "notexample.com", "com"] {
        let m = ask(&s, name, RecordType::A);
        assert_rcode(
            &m,
            rcode::REFUSED,
            &format!("{name} A: not in a served zone"),
        );
        assert_flag(&m, flag::AA, false, &format!("{name} A: not authoritative"));
        assert!(
            m.answers().is_empty(),
            "{name} A: no answer expected\n{}",
            describe(&m)
        );
    }
}

// ---------------------------------------------------------------------------
// Malformed and unusual requests

/// A raw response to a raw request, checked to be an error response with
/// `want` rcode that echoes `id`.
#[track_caller]
fn assert_raw_rcode(resp: &[u8], id: u16, want: u16, what: &str) {
    assert!(
        resp.len() >= 12,
        "{what}: response shorter than a header: {}",
        hex(resp)
    );
    assert_eq!(
        id_of(resp),
        id,
        "{what}: response id differs from the query's: {}",
        hex(resp)
    );
    assert!(
        flags_of(resp) & flag::QR != 0,
        "{what}: QR not set: {}",
        hex(resp)
    );
    assert_eq!(
        header_rcode_of(resp),
        want,
        "{what}: expected rcode {}, got {}: {}",
        rcode_name(want),
        rcode_name(header_rcode_of(resp)),
        hex(resp)
    );
}

#[track_caller]
fn assert_still_answers(s: &Server, after: &str) {
    let m = ask(s, "www.example.com", RecordType::A);
    assert_rcode(
        &m,
        rcode::NOERROR,
        &format!("www.example.com A after {after}"),
    );
    assert_eq!(
        m.answers().len(),
        1,
        "www.example.com A after {after}\n{}",
        describe(&m)
    );
}

fn question(name: &str, rtype: u16) -> Vec<u8> {
    let mut q = wire_name(name);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

#[test]
fn qdcount_zero_is_formerr() {
    let s = start();
    let q = header(0x1111, 0, 0, 0, 0, 0);
    let r = raw_udp(s.addr(), &q).expect("QDCOUNT=0: expected a FORMERR response, got none");
    assert_raw_rcode(
        &r,
        0x1111,
        rcode::FORMERR,
        "QDCOUNT=0 (RFC 9619 §3, RFC 1035 §4.1.1)",
    );
}

#[test]
fn qdcount_two_is_formerr() {
    let s = start();
    let mut q = header(0x2222, 0, 2, 0, 0, 0);
    q.extend_from_slice(&question("www.example.com", 1));
    q.extend_from_slice(&question("mail.example.com", 1));
    let r = raw_udp(s.addr(), &q).expect("QDCOUNT=2: expected a FORMERR response, got none");
    assert_raw_rcode(&r, 0x2222, rcode::FORMERR, "QDCOUNT=2 (RFC 9619 §3)");
}

#[test]
fn unknown_opcode_is_notimp() {
    let s = start();
    let q = build_query(
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain().opcode(3).id(0x3333),
    );
    let r = raw_udp(s.addr(), &q).expect("opcode 3: expected a NOTIMP response, got none");
    assert_raw_rcode(&r, 0x3333, rcode::NOTIMP, "opcode 3 (RFC 1035 §4.1.1)");
    assert_eq!(
        (flags_of(&r) >> 11) & 0x0f,
        3,
        "opcode 3: the response must echo the opcode: {}",
        hex(&r)
    );
    assert_eq!(
        counts_of(&r)[1],
        0,
        "opcode 3: no answer records expected: {}",
        hex(&r)
    );
}

/// `dig +noedns +header-only +opcode=15`, and the same with every header
/// flag set, as the EDNS compliance test sends them (RFC 8906 §3.1.4,
/// §8): NOTIMP, id and opcode echoed, the header alone, no flag but QR.
#[test]
fn header_only_unknown_opcode_is_notimp_with_no_flags() {
    let s = start();
    // AA, TC, RD, RA, Z, AD, CD.
    for (asked, what) in [(0u16, "opcode 15"), (0x07f0, "opcode 15, every flag")] {
        let q = header(0x4242, (15 << 11) | asked, 0, 0, 0, 0);
        for (transport, r) in [
            ("UDP", raw_udp(s.addr(), &q)),
            ("TCP", raw_tcp(s.addr(), &q)),
        ] {
            let r = r.unwrap_or_else(|| panic!("{what} over {transport}: no answer"));
            let what = format!("{what} over {transport}");
            assert_raw_rcode(&r, 0x4242, rcode::NOTIMP, &what);
            assert_eq!(
                flags_of(&r) & !0x000f,
                flag::QR | (15 << 11),
                "{what}: opcode echoed, AA/TC/RD/RA/Z/AD/CD clear: {}",
                hex(&r)
            );
            assert_eq!(counts_of(&r), [0; 4], "{what}: empty sections: {}", hex(&r));
        }
    }
}

/// UPDATE for a zone without `allow_update` (RFC 2136 §3.3: REFUSED by
/// policy, as BIND does) with RD and CD set: the zone section echoed, the
/// flags cleared. (`tests/update.rs` has UPDATE itself.)
#[test]
fn update_without_allow_update_is_refused_and_its_flags_are_cleared() {
    let s = start();
    let q = build_query(
        "example.com",
        RecordType::SOA,
        &QueryOpts::plain().opcode(5).rd().cd().id(0x5151),
    );
    let r = raw_udp(s.addr(), &q).expect("UPDATE: expected a REFUSED response, got none");
    assert_raw_rcode(&r, 0x5151, rcode::REFUSED, "UPDATE (RFC 2136 §3.3)");
    assert_eq!(flags_of(&r) & !0x000f, flag::QR | (5 << 11), "{}", hex(&r));
    assert_eq!(counts_of(&r), [1, 0, 0, 0], "{}", hex(&r));
}

#[test]
fn truncated_header_gets_no_answer() {
    let s = start();
    let r = raw_udp(s.addr(), &[0x44, 0x44, 0x01, 0x00, 0x00]);
    assert!(
        r.is_none(),
        "a 5-octet message: expected no answer (nothing to echo), got {}",
        hex(&r.unwrap_or_default())
    );
    assert_still_answers(&s, "a truncated header");
}

#[test]
fn truncated_question_gets_formerr_or_nothing() {
    let s = start();
    let mut q = header(0x5555, 0, 1, 0, 0, 0);
    q.extend_from_slice(b"\x03www\x07exam");
    if let Some(r) = raw_udp(s.addr(), &q) {
        assert_raw_rcode(&r, 0x5555, rcode::FORMERR, "a question cut inside its name");
    }
    let mut q = header(0x5556, 0, 1, 0, 0, 0);
    q.extend_from_slice(&wire_name("www.example.com"));
    q.extend_from_slice(&[0, 1, 0]);
    if let Some(r) = raw_udp(s.addr(), &q) {
        assert_raw_rcode(&r, 0x5556, rcode::FORMERR, "a question cut inside QCLASS");
    }
    assert_still_answers(&s, "truncated questions");
}

#[test]
fn garbage_after_the_question_gets_formerr_or_nothing() {
    let s = start();
    let mut q = build_query(
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain().id(0x6666),
    );
    q.extend_from_slice(b"\xde\xad\xbe\xef\x00\x01\x02");
    if let Some(r) = raw_udp(s.addr(), &q) {
        assert_raw_rcode(&r, 0x6666, rcode::FORMERR, "7 octets after the last record");
    }
    assert_still_answers(&s, "trailing garbage");
}

#[test]
fn compression_pointer_loop_gets_formerr_or_nothing() {
    let s = start();
    // The question name is a pointer to itself.
    let mut q = header(0x7777, 0, 1, 0, 0, 0);
    q.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    if let Some(r) = raw_udp(s.addr(), &q) {
        assert_raw_rcode(
            &r,
            0x7777,
            rcode::FORMERR,
            "question name pointing to itself",
        );
    }
    // A label, then a pointer back to the start of the name.
    let mut q = header(0x7778, 0, 1, 0, 0, 0);
    q.extend_from_slice(&[3, b'w', b'w', b'w', 0xc0, 0x0c, 0, 1, 0, 1]);
    if let Some(r) = raw_udp(s.addr(), &q) {
        assert_raw_rcode(
            &r,
            0x7778,
            rcode::FORMERR,
            "question name looping through a pointer",
        );
    }
    assert_still_answers(&s, "compression pointer loops");
    let r = raw_tcp(
        s.addr(),
        &[
            0x77, 0x79, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1,
        ],
    );
    if let Some(r) = r {
        assert_raw_rcode(&r, 0x7779, rcode::FORMERR, "pointer loop over TCP");
    }
    assert_still_answers(&s, "a pointer loop over TCP");
}

#[test]
fn responses_sent_to_the_server_are_not_answered() {
    let s = start();
    let mut q = build_query(
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain().id(0x8888),
    );
    q[2] |= 0x80; // QR=1
    let r = raw_udp(s.addr(), &q);
    assert!(
        r.is_none(),
        "a message with QR=1: expected no answer (loops between servers), got {}",
        hex(&r.unwrap_or_default())
    );
    assert_still_answers(&s, "a response");
}

// ---------------------------------------------------------------------------
// RFC 6891: EDNS

#[test]
fn opt_record_is_echoed() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(4096),
    );
    assert_rcode(&m, rcode::NOERROR, "www A with EDNS");
    let opt = the_opt(&bytes);
    assert_eq!(
        opt.version, 0,
        "OPT version must be 0 (RFC 6891 §6.1.3): {opt:?}"
    );
    assert_eq!(opt.ext_rcode, 0, "extended rcode must be 0: {opt:?}");
    assert_eq!(
        opt.payload, 1232,
        "OPT payload must be our edns_udp_max, 1232 (RFC 6891 §6.2.5): {opt:?}"
    );

    let (bytes, _) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert_eq!(
        raw_opts(&bytes).unwrap_or_default().len(),
        0,
        "no OPT may be sent to a client without EDNS (RFC 6891 §7): {}",
        hex(&bytes)
    );
}

#[test]
fn do_bit_is_copied() {
    let s = start();
    let (bytes, _) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).dnssec_ok(),
    );
    assert!(
        the_opt(&bytes).dnssec_ok,
        "DO=1 in the query: expected DO=1 in the response (RFC 3225 §3)"
    );
    let (bytes, _) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232),
    );
    assert!(
        !the_opt(&bytes).dnssec_ok,
        "DO=0 in the query: expected DO=0 in the response (RFC 3225 §3)"
    );
}

#[test]
fn edns_version_1_gets_badvers() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).edns_version(1),
    );
    let opt = the_opt(&bytes);
    let full = (u16::from(opt.ext_rcode) << 4) | header_rcode_of(&bytes);
    assert_eq!(
        full,
        rcode::BADVERS,
        "EDNS version 1: expected BADVERS (16) (RFC 6891 §6.1.3), got {}\n{}",
        rcode_name(full),
        describe(&m)
    );
    assert_eq!(
        opt.version, 0,
        "BADVERS response must carry version 0, the highest we support: {opt:?}"
    );
    assert!(
        m.answers().is_empty(),
        "BADVERS: no answer expected\n{}",
        describe(&m)
    );
}

#[test]
fn two_opt_records_get_formerr() {
    let s = start();
    let opts = QueryOpts::edns(1232);
    let mut q = build_query("www.example.com", RecordType::A, &opts.clone().id(0x9999));
    q[11] = 2;
    q.extend_from_slice(&opt_record(&opts));
    let r = raw_udp(s.addr(), &q).expect("two OPT records: expected FORMERR, got no answer");
    assert_raw_rcode(
        &r,
        0x9999,
        rcode::FORMERR,
        "two OPT records (RFC 6891 §6.1.1)",
    );
}

#[test]
fn malformed_opt_option_gets_formerr_or_nothing() {
    let s = start();
    let mut q = build_query(
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).option(65001, b"abc").id(0x9a9a),
    );
    // The option (code, length, "abc") ends the message; make its length
    // field claim 9 octets of data where 3 follow.
    let n = q.len();
    q[n - 5..n - 3].copy_from_slice(&9u16.to_be_bytes());
    if let Some(r) = raw_udp(s.addr(), &q) {
        assert_raw_rcode(
            &r,
            0x9a9a,
            rcode::FORMERR,
            "an EDNS option longer than its OPT RDATA",
        );
    }
    assert_still_answers(&s, "a malformed OPT");
}

#[test]
fn unknown_edns_option_is_ignored() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).option(65001, b"hello"),
    );
    assert_rcode(
        &m,
        rcode::NOERROR,
        "www A with EDNS option 65001 (RFC 6891 §6.1.2: ignored)",
    );
    assert_records(
        &m,
        m.answers(),
        &["www.example.com. 3600 A 192.0.2.80"],
        "www A with an unknown option",
    );
    let opt = the_opt(&bytes);
    assert!(
        opt.option(65001).is_none(),
        "unknown option must not be echoed: {opt:?}"
    );
}

#[test]
fn nsid_is_returned_when_configured_and_asked() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).nsid(),
    );
    assert_rcode(&m, rcode::NOERROR, "www A with NSID");
    let opt = the_opt(&bytes);
    assert_eq!(
        opt.option(3),
        Some(NSID.as_bytes()),
        "NSID asked and configured as {NSID:?}: expected it in option 3 (RFC 5001 §2.3): {opt:?}"
    );
}

#[test]
fn nsid_is_not_sent_unless_asked() {
    let s = start();
    let (bytes, _) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232),
    );
    let opt = the_opt(&bytes);
    assert!(
        opt.option(3).is_none(),
        "NSID not asked: expected no option 3 (RFC 5001 §2.3): {opt:?}"
    );
}

/// ZONEVERSION (RFC 9660): asked with an empty option 19.
const ZONEVERSION: u16 = 19;
/// The SOA serial of fixtures/answers/example.com.zone.
const COM_SERIAL: u32 = 2024010101;

/// The ZONEVERSION data we expect: LABELCOUNT, TYPE 0 (SOA-SERIAL), the
/// 4-octet serial (RFC 9660 §2.1).
fn zoneversion(labels: u8, serial: u32) -> Vec<u8> {
    let mut data = vec![labels, 0];
    data.extend(serial.to_be_bytes());
    data
}

#[test]
fn zoneversion_names_the_zone_and_its_serial_when_asked() {
    let s = start();
    // Both zones' apexes have two labels.
    let labels = 2;
    for (name, rtype, want_rcode, serial) in [
        ("www.example.com", RecordType::A, rcode::NOERROR, COM_SERIAL),
        (
            "nothere.example.com",
            RecordType::A,
            rcode::NXDOMAIN,
            COM_SERIAL,
        ),
        ("example.net", RecordType::SOA, rcode::NOERROR, 7),
    ] {
        let (bytes, m) = query_udp_wire(
            s.addr(),
            name,
            rtype,
            &QueryOpts::edns(1232).option(ZONEVERSION, &[]),
        );
        let what = format!("{name} {rtype} asking ZONEVERSION");
        assert_rcode(&m, want_rcode, &what);
        let opt = the_opt(&bytes);
        assert_eq!(
            opt.option(ZONEVERSION),
            Some(&zoneversion(labels, serial)[..]),
            "{what}: expected LABELCOUNT {labels}, TYPE 0 (SOA-SERIAL), VERSION {serial} \
             (RFC 9660 §2.1): {opt:?}"
        );
    }
}

#[test]
fn zoneversion_of_a_referral_is_the_parent_zones() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "host.sub.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).option(ZONEVERSION, &[]),
    );
    assert_rcode(&m, rcode::NOERROR, "host.sub.example.com A (referral)");
    let opt = the_opt(&bytes);
    assert_eq!(
        opt.option(ZONEVERSION),
        Some(&zoneversion(2, COM_SERIAL)[..]),
        "a referral is generated from example.com: its version, LABELCOUNT 2: {opt:?}"
    );
}

#[test]
fn zoneversion_is_not_sent_unless_asked() {
    let s = start();
    let (bytes, _) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).nsid(),
    );
    let opt = the_opt(&bytes);
    assert!(
        opt.option(ZONEVERSION).is_none(),
        "ZONEVERSION not asked: expected no option 19 (RFC 9660 §3): {opt:?}"
    );
}

#[test]
fn zoneversion_is_not_sent_for_a_zone_we_do_not_serve() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.org",
        RecordType::A,
        &QueryOpts::edns(1232).option(ZONEVERSION, &[]),
    );
    assert_rcode(&m, rcode::REFUSED, "www.example.org A (not served)");
    let opt = the_opt(&bytes);
    assert!(
        opt.option(ZONEVERSION).is_none(),
        "not authoritative for example.org: expected no option 19 (RFC 9660 §3): {opt:?}"
    );
}

#[test]
fn non_empty_zoneversion_in_a_query_is_formerr() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(1232).option(ZONEVERSION, &zoneversion(2, 1)),
    );
    let what = "www A with a ZONEVERSION carrying data (RFC 9660 §3)";
    assert_rcode(&m, rcode::FORMERR, what);
    assert!(
        m.answers().is_empty(),
        "{what}: no answer\n{}",
        describe(&m)
    );
    let opt = the_opt(&bytes);
    assert!(
        opt.option(ZONEVERSION).is_none(),
        "{what}: a FORMERR names no version: {opt:?}"
    );
}

// ---------------------------------------------------------------------------
// Message size

#[test]
fn answer_larger_than_512_without_edns_is_truncated() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "medium.example.com",
        RecordType::TXT,
        &QueryOpts::plain(),
    );
    assert!(
        bytes.len() <= 512,
        "no EDNS: response must be at most 512 octets (RFC 1035 §4.2.1), got {}",
        bytes.len()
    );
    assert_flag(
        &m,
        flag::TC,
        true,
        "medium TXT (~700 octets) over UDP without EDNS (RFC 1035 §4.2.1, RFC 2181 §9)",
    );
}

#[test]
fn the_same_answer_over_tcp_is_complete() {
    let s = start();
    for (name, n) in [("medium.example.com", 6), ("big.example.com", 20)] {
        let m = query_tcp(s.addr(), name, RecordType::TXT, &QueryOpts::plain());
        assert_flag(&m, flag::TC, false, &format!("{name} TXT over TCP"));
        assert_eq!(
            m.answers().len(),
            n,
            "{name} TXT over TCP: expected all {n} records (RFC 7766 §8)\n{}",
            describe(&m)
        );
    }
    // The EDNS payload size is for UDP only (RFC 6891 §6.2.3).
    let m = query_tcp(
        s.addr(),
        "big.example.com",
        RecordType::TXT,
        &QueryOpts::edns(512),
    );
    assert_flag(
        &m,
        flag::TC,
        false,
        "big TXT over TCP with EDNS payload 512",
    );
    assert_eq!(
        m.answers().len(),
        20,
        "big TXT over TCP with EDNS payload 512: all 20 records\n{}",
        describe(&m)
    );
}

#[test]
fn edns_payload_size_is_honoured_up_to_edns_udp_max() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "medium.example.com",
        RecordType::TXT,
        &QueryOpts::edns(1232),
    );
    assert_flag(
        &m,
        flag::TC,
        false,
        &format!("medium TXT ({} octets) with EDNS 1232", bytes.len()),
    );
    assert_eq!(
        m.answers().len(),
        6,
        "medium TXT with EDNS 1232: expected all 6 records\n{}",
        describe(&m)
    );
}

#[test]
fn udp_response_never_exceeds_edns_udp_max() {
    let s = start();
    for name in ["big.example.com", "medium.example.com", "www.example.com"] {
        let (bytes, m) = query_udp_wire(
            s.addr(),
            name,
            RecordType::TXT,
            &QueryOpts::edns(4096).nsid(),
        );
        assert!(
            bytes.len() <= 1232,
            "{name} TXT, client offers 4096, edns_udp_max = 1232: got {} octets (RFC 6891 §6.2.5)",
            bytes.len()
        );
        if name == "big.example.com" {
            assert_flag(
                &m,
                flag::TC,
                true,
                "big TXT (~2300 octets) with EDNS 4096 but edns_udp_max 1232",
            );
            the_opt(&bytes);
        }
    }
}

#[test]
fn edns_payload_below_512_counts_as_512() {
    let s = start();
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::edns(100),
    );
    assert_flag(
        &m,
        flag::TC,
        false,
        &format!(
            "www A ({} octets) with EDNS payload 100 (RFC 6891 §6.2.5: treated as 512)",
            bytes.len()
        ),
    );
    assert_eq!(
        m.answers().len(),
        1,
        "www A with payload 100\n{}",
        describe(&m)
    );
    let (bytes, m) = query_udp_wire(
        s.addr(),
        "medium.example.com",
        RecordType::TXT,
        &QueryOpts::edns(100),
    );
    assert!(
        bytes.len() <= 512,
        "medium TXT with payload 100: at most 512 octets, got {}",
        bytes.len()
    );
    assert_flag(&m, flag::TC, true, "medium TXT with payload 100");
}

// ---------------------------------------------------------------------------
// Names, ANY and header bits

#[test]
fn matching_is_case_insensitive_and_question_keeps_the_client_case() {
    let s = start();
    let name = "WwW.ExAmPlE.cOm";
    let q = build_query(name, RecordType::A, &QueryOpts::plain());
    let r = exchange_udp(s.addr(), &q).expect("mixed-case query: no answer");
    let m = parse(&r);
    assert_rcode(
        &m,
        rcode::NOERROR,
        "WwW.ExAmPlE.cOm A (RFC 4343 §3: case-insensitive)",
    );
    assert_eq!(
        m.answers().len(),
        1,
        "WwW.ExAmPlE.cOm A: expected the A of www\n{}",
        describe(&m)
    );
    let qlen = wire_name(name).len() + 4;
    assert_eq!(
        r.get(12..12 + qlen),
        q.get(12..12 + qlen),
        "the question must be echoed as asked, case included (RFC 1035 §7.3, RFC 4343 §4)\n{}",
        describe(&m)
    );
}

#[test]
fn any_is_answered_minimally() {
    let s = start();
    for name in ["www.example.com", "example.com"] {
        let m = ask(&s, name, RecordType::ANY);
        assert_rcode(&m, rcode::NOERROR, &format!("{name} ANY"));
        let sets: std::collections::BTreeSet<String> =
            owners_types(m.answers()).into_iter().collect();
        let hinfo = m.answers().len() == 1 && m.answers()[0].record_type() == RecordType::HINFO;
        assert!(
            sets.len() == 1 || hinfo,
            "{name} ANY: RFC 8482 §4.1/§4.2: expected one RRset (or one HINFO), got {} RRsets\n{}",
            sets.len(),
            describe(&m)
        );
    }
}

#[test]
fn any_at_a_cname_returns_the_cname_only() {
    let s = start();
    let m = ask(&s, "alias.example.com", RecordType::ANY);
    assert_rcode(&m, rcode::NOERROR, "alias ANY");
    assert_records(
        &m,
        m.answers(),
        &["alias.example.com. 3600 CNAME www.example.com."],
        "alias ANY: QTYPE ANY matches the CNAME, so it is not followed (RFC 1034 §4.3.2 step 3a, \
         RFC 1035 §3.2.3), and one RRset is enough (RFC 8482 §4.1)",
    );
}

#[test]
fn owner_written_in_mixed_case_in_the_zone_is_found() {
    let s = start();
    for name in ["mixed.example.com", "MIXED.EXAMPLE.COM"] {
        let m = ask(&s, name, RecordType::A);
        assert_rcode(
            &m,
            rcode::NOERROR,
            &format!("{name} A (zone has MiXeD): RFC 4343 §3"),
        );
        assert_eq!(
            m.answers().len(),
            1,
            "{name} A: expected the A of MiXeD\n{}",
            describe(&m)
        );
    }
}

#[test]
fn rd_and_cd_are_copied_and_ra_is_clear() {
    let s = start();
    let m = query_udp(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain().rd().cd(),
    );
    let what = "query with RD=1 CD=1 (RFC 1035 §4.1.1, RFC 4035 §3.1.6)";
    assert_flag(&m, flag::RD, true, what);
    assert_flag(&m, flag::CD, true, what);
    assert_flag(
        &m,
        flag::RA,
        false,
        &format!("{what}: authoritative only, no recursion"),
    );
    let m = query_udp(
        s.addr(),
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    );
    assert_flag(&m, flag::RD, false, "query with RD=0");
    assert_flag(&m, flag::CD, false, "query with CD=0");
    assert_flag(&m, flag::RA, false, "query with RD=0");
}

// ---------------------------------------------------------------------------
// TCP

#[test]
fn tcp_pipelined_queries_are_both_answered() {
    let s = start();
    let q1 = build_query(
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain().id(0x0101),
    );
    let q2 = build_query(
        "mail.example.com",
        RecordType::A,
        &QueryOpts::plain().id(0x0202),
    );
    let mut conn = TcpConn::connect(s.addr()).expect("TCP connect");
    conn.send_pipelined(&[&q1, &q2]).expect("TCP write");
    let mut ids = Vec::new();
    for i in 0..2 {
        let r = conn
            .recv()
            .unwrap_or_else(|e| panic!("pipelined query {}: {e} (RFC 7766 §6.2.1.1)", i + 1))
            .unwrap_or_else(|| {
                panic!(
                    "connection closed before answer {} of 2 (RFC 7766 §6.2.1.1)",
                    i + 1
                )
            });
        let m = parse(&r);
        assert_rcode(&m, rcode::NOERROR, "pipelined query");
        assert_eq!(m.answers().len(), 1, "pipelined query\n{}", describe(&m));
        ids.push(m.id());
    }
    ids.sort();
    assert_eq!(
        ids,
        vec![0x0101, 0x0202],
        "both pipelined queries answered, each once"
    );
}

#[test]
fn tcp_query_split_across_writes_is_answered() {
    let s = start();
    let q = build_query("www.example.com", RecordType::A, &QueryOpts::plain());
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    let mut conn = TcpConn::connect(s.addr()).expect("TCP connect");
    for part in [&framed[..1], &framed[1..7], &framed[7..]] {
        conn.send_raw(part).expect("TCP write");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = conn
        .recv()
        .expect("TCP read")
        .expect("an answer to a query written in 3 pieces (RFC 7766 §8)");
    let m = parse(&r);
    assert_eq!(
        m.answers().len(),
        1,
        "query written in 3 pieces\n{}",
        describe(&m)
    );
}

#[test]
fn tcp_answer_larger_than_16k_is_complete() {
    let s = start();
    let (bytes, m) = query_tcp_wire(
        s.addr(),
        "huge.example.com",
        RecordType::TXT,
        &QueryOpts::plain(),
    );
    assert_flag(
        &m,
        flag::TC,
        false,
        &format!("huge TXT over TCP ({} octets)", bytes.len()),
    );
    assert_eq!(
        m.answers().len(),
        400,
        "huge TXT over TCP ({} octets, beyond the 14-bit compression pointer range): expected all 400 records\n",
        bytes.len()
    );
}

#[test]
fn tcp_idle_connection_is_closed_after_the_idle_timeout() {
    let s = start();
    let started = Instant::now();
    let mut silent = TcpConn::connect(s.addr()).expect("TCP connect");
    let mut used = TcpConn::connect(s.addr()).expect("TCP connect");
    // One exchange first: the connection is in use, then goes idle.
    used.send(&build_query(
        "www.example.com",
        RecordType::A,
        &QueryOpts::plain(),
    ))
    .expect("TCP write");
    used.recv()
        .expect("TCP read")
        .expect("an answer before going idle");
    for (what, conn) in [
        ("a connection that never sent a query", &mut silent),
        ("a connection after one query", &mut used),
    ] {
        let closed = conn.wait_closed(Duration::from_secs(6));
        let waited = started.elapsed();
        assert!(
            closed,
            "tcp_idle_timeout = 2: {what} still open after {waited:?} (RFC 7766 §6.2.3)"
        );
        assert!(
            waited >= Duration::from_millis(1500),
            "tcp_idle_timeout = 2: {what} closed too early, after {waited:?}"
        );
    }
}
