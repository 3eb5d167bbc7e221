//! Unit tests of the DNSSEC checks over zones signed by real signers
//! (tests/fixtures/dnssec/, made as its README says: ldns-signzone and
//! dnssec-signzone, signatures valid from 2025-01-01 to 2035-01-01), each
//! tampered with in one way. The time is a parameter, so the fixtures
//! never expire.

use super::check::{check_zone, CheckOptions, Report};
use super::denial::nsec3_hash;
use super::rdata::{base32hex, Nsec3Params};
use super::Code;
use crate::name::test_wire as wire;
use crate::serial::Serial;
use crate::zone::{rtype, ZoneBuilder, ZoneVersion};
use crate::zonefile::{parse_str_each, ParseOptions};
use std::path::Path;

/// 2026-01-01T00:00:00Z: inside every fixture's validity period.
const NOW: u64 = 1_767_225_600;
/// 2035-01-01T00:00:00Z: when the fixtures' signatures expire.
const EXPIRATION: u64 = 2_051_222_400;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dnssec")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn version(text: &str) -> ZoneVersion {
    let origin = wire("example.com.");
    let mut b = ZoneBuilder::new(&origin).unwrap();
    let opts = ParseOptions::new(origin);
    parse_str_each(text, Path::new("t.zone"), &opts, &mut |r| {
        b.add(r.owner, r.rtype, r.ttl, r.rdata, None)
    })
    .unwrap();
    b.finish().unwrap().0
}

fn check_at(text: &str, now: u64) -> Report {
    check_zone(&version(text), &CheckOptions::new(now))
}

fn check(text: &str) -> Report {
    check_at(text, NOW)
}

/// The findings as (code, owner, type) for comparisons.
fn found(r: &Report) -> Vec<(Code, String, Option<u16>)> {
    r.findings
        .iter()
        .map(|f| (f.code, crate::name::display(&f.owner), f.rtype))
        .collect()
}

#[track_caller]
fn assert_has(r: &Report, code: Code, owner: &str, t: Option<u16>) {
    let all = found(r);
    assert!(
        all.contains(&(code, owner.to_string(), t)),
        "expected {code} at {owner} {t:?}; findings:\n{}",
        lines(r)
    );
}

fn lines(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| format!("  {f}\n"))
        .collect::<String>()
}

/// `text` with the lines for which `pick` is true replaced by `edit`.
fn edit_lines(text: &str, pick: impl Fn(&str) -> bool, edit: impl Fn(&str) -> String) -> String {
    let mut hits = 0;
    let out: String = text
        .lines()
        .map(|l| {
            if pick(l) {
                hits += 1;
                format!("{}\n", edit(l))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(hits > 0, "no line matched");
    out
}

/// Whether a line is the record `owner TYPE` (an RRSIG: `owner RRSIG
/// TYPE`).
fn is_record(l: &str, owner: &str, t: &str) -> bool {
    let f: Vec<&str> = l.split_whitespace().collect();
    match f.as_slice() {
        [o, _, _, "RRSIG", covered, ..] if t.starts_with("RRSIG ") => {
            o.eq_ignore_ascii_case(owner) && Some(*covered) == t.split(' ').nth(1)
        }
        [o, _, _, ty, ..] => o.eq_ignore_ascii_case(owner) && *ty == t,
        _ => false,
    }
}

fn signature_count(text: &str) -> usize {
    text.lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("RRSIG"))
        .count()
}

#[test]
fn clean_zones_from_both_signers_have_no_findings() {
    for name in ["nsec.zone", "nsec3.zone", "nsec3-optout.zone"] {
        let text = fixture(name);
        let r = check(&text);
        assert!(r.signed, "{name}");
        // nsec3.zone is salted, with 5 iterations: only RFC 9276's
        // advice, a note.
        let advice = usize::from(name == "nsec3.zone");
        assert_eq!(r.problems(), 0, "{name}:\n{}", lines(&r));
        assert_eq!(r.findings.len(), advice, "{name}:\n{}", lines(&r));
        assert!(
            r.findings.iter().all(|f| f.code == Code::Nsec3Parameters),
            "{name}:\n{}",
            lines(&r)
        );
        assert_eq!(r.verified, signature_count(&text), "{name}");
    }
}

#[test]
fn an_unsigned_zone_is_not_checked() {
    let r = check(&fixture("unsigned.zone"));
    assert!(!r.signed);
    assert!(r.findings.is_empty());
}

#[test]
fn a_flipped_signature_does_not_verify() {
    let text = edit_lines(
        &fixture("nsec.zone"),
        |l| is_record(l, "www.example.com.", "RRSIG A"),
        |l| {
            // A character in the middle of the base64 signature.
            let at = l.len() - 20;
            let c = if &l[at..at + 1] == "A" { "B" } else { "A" };
            format!("{}{c}{}", &l[..at], &l[at + 1..])
        },
    );
    let r = check(&text);
    assert_eq!(
        found(&r),
        vec![(Code::RrsigBogus, "www.example.com.".into(), Some(rtype::A))],
        "{}",
        lines(&r)
    );
}

#[test]
fn data_changed_after_signing_does_not_verify() {
    let text = fixture("nsec.zone").replace("\tA\t192.0.2.2\n", "\tA\t192.0.2.99\n");
    assert_has(
        &check(&text),
        Code::RrsigBogus,
        "www.example.com.",
        Some(rtype::A),
    );
}

#[test]
fn names_in_rdata_are_compared_in_canonical_case() {
    // Signed as `Mail.Example.COM.`; RFC 4034 §6.2 lower-cases MX targets
    // before signing, so any case verifies.
    let text = fixture("nsec.zone").replace("Mail.Example.COM.", "MAIL.EXAMPLE.com.");
    let r = check(&text);
    assert!(r.findings.is_empty(), "{}", lines(&r));
}

#[test]
fn expired_and_not_yet_valid_signatures_are_found() {
    let text = fixture("nsec.zone");
    let sigs = signature_count(&text);
    let r = check_at(&text, EXPIRATION + 1);
    assert_eq!(r.counts.get(&Code::RrsigExpired), Some(&sigs));
    assert_eq!(r.findings.len(), 20, "kept up to max_per_code");
    assert_eq!(
        r.omitted().collect::<Vec<_>>(),
        vec![(Code::RrsigExpired, sigs - 20)]
    );
    assert!(r.findings[0].message.contains("expired at 20350101000000"));

    let r = check_at(&text, 1_700_000_000);
    assert_eq!(r.counts.get(&Code::RrsigNotYetValid), Some(&sigs));
}

#[test]
fn signatures_expiring_within_the_soa_expire_are_found() {
    // SOA EXPIRE is 1209600 s (two weeks): one week before expiration.
    let text = fixture("nsec.zone");
    let r = check_at(&text, EXPIRATION - 7 * 86_400);
    assert_eq!(
        r.counts.get(&Code::RrsigExpiresSoon),
        Some(&signature_count(&text))
    );
    assert!(r.findings[0].message.contains("secondary"), "{}", lines(&r));
    // Three weeks before: fine.
    assert!(check_at(&text, EXPIRATION - 21 * 86_400)
        .findings
        .is_empty());
}

#[test]
fn a_deleted_nsec_breaks_the_chain() {
    let text: String = fixture("nsec.zone")
        .lines()
        .filter(|l| !is_record(l, "mail.example.com.", "NSEC"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = check(&text);
    assert_has(&r, Code::NsecMissing, "mail.example.com.", None);
    // The name before `mail` in canonical order still points to it.
    assert_has(&r, Code::NsecChain, "dn.example.com.", Some(rtype::NSEC));
    // Its RRSIG is left over.
    assert_has(
        &r,
        Code::RrsigInvalid,
        "mail.example.com.",
        Some(rtype::NSEC),
    );
    assert_eq!(r.findings.len(), 3, "{}", lines(&r));
}

#[test]
fn records_added_after_signing_have_no_rrsig() {
    let text = format!(
        "{}new.example.com. 300 IN A 192.0.2.9\nwww.example.com. 300 IN MX 10 mail.example.com.\n",
        fixture("nsec.zone")
    );
    let r = check(&text);
    assert_has(&r, Code::RrsigMissing, "new.example.com.", Some(rtype::A));
    assert_has(&r, Code::RrsigMissing, "www.example.com.", Some(rtype::MX));
    assert_has(&r, Code::NsecMissing, "new.example.com.", None);
    assert_has(&r, Code::Bitmap, "www.example.com.", Some(rtype::NSEC));
    assert_eq!(r.findings.len(), 4, "{}", lines(&r));
}

#[test]
fn glue_and_delegation_ns_need_no_signature_but_ds_does() {
    let r = check(&fixture("nsec.zone"));
    assert!(r.findings.is_empty());
    let text: String = fixture("nsec.zone")
        .lines()
        .filter(|l| !is_record(l, "secure.example.com.", "RRSIG DS"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = check(&text);
    assert_eq!(
        found(&r),
        vec![(
            Code::RrsigMissing,
            "secure.example.com.".into(),
            Some(rtype::DS)
        )],
        "{}",
        lines(&r)
    );
}

#[test]
fn nsec3param_with_another_salt_is_a_mismatch() {
    let text = edit_lines(
        &fixture("nsec3.zone"),
        |l| is_record(l, "example.com.", "NSEC3PARAM"),
        |l| l.replace(" abcd", " beef"),
    );
    let r = check(&text);
    let mismatches = r.counts.get(&Code::Nsec3paramMismatch).copied();
    assert_eq!(mismatches, Some(2), "{}", lines(&r));
    assert_has(
        &r,
        Code::Nsec3paramMismatch,
        "example.com.",
        Some(rtype::NSEC3PARAM),
    );
    // The NSEC3PARAM RRset changed after signing, too.
    assert_has(
        &r,
        Code::RrsigBogus,
        "example.com.",
        Some(rtype::NSEC3PARAM),
    );
}

fn hash_label(owner: &str, iterations: u16, salt: &[u8]) -> String {
    let p = Nsec3Params {
        algorithm: 1,
        iterations,
        salt: salt.to_vec(),
    };
    base32hex(&nsec3_hash(&wire(owner), &p))
}

#[test]
fn a_deleted_nsec3_leaves_its_name_uncovered() {
    let www = format!(
        "{}.example.com.",
        hash_label("www.example.com.", 5, &[0xab, 0xcd])
    );
    let text: String = fixture("nsec3.zone")
        .lines()
        .filter(|l| !is_record(l, &www, "NSEC3"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = check(&text);
    assert_has(&r, Code::Nsec3Missing, "www.example.com.", None);
    assert_eq!(r.counts.get(&Code::Nsec3Chain), Some(&1), "{}", lines(&r));
}

#[test]
fn nsec3_covers_empty_non_terminals() {
    // c.example.com. is an empty non-terminal above a.b.c.
    let ent = format!(
        "{}.example.com.",
        hash_label("c.example.com.", 5, &[0xab, 0xcd])
    );
    let text: String = fixture("nsec3.zone")
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with(&ent))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_has(&check(&text), Code::Nsec3Missing, "c.example.com.", None);
}

#[test]
fn insecure_delegations_may_lack_nsec3_only_under_opt_out() {
    // The BIND fixture is signed with opt-out and leaves out `sub`, the
    // unsigned delegation `x.insecure.deep` and the empty non-terminals
    // above it. Without the flag those are gaps.
    let text = edit_lines(
        &fixture("nsec3-optout.zone"),
        |l| l.split_whitespace().nth(3) == Some("NSEC3"),
        |l| l.replacen("NSEC3\t1 1 ", "NSEC3\t1 0 ", 1),
    );
    let r = check(&text);
    for name in [
        "sub.example.com.",
        "x.insecure.deep.example.com.",
        "insecure.deep.example.com.",
        "deep.example.com.",
    ] {
        assert_has(&r, Code::Nsec3Missing, name, None);
    }
    // The secure delegation is there either way.
    assert!(!found(&r).contains(&(Code::Nsec3Missing, "secure.example.com.".into(), None)));
}

#[test]
fn every_algorithm_of_the_dnskey_set_must_sign() {
    // An Ed25519 key added to an ECDSA-signed zone (RFC 4035 §2.2).
    let key = "example.com. 300 IN DNSKEY 256 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n";
    let r = check(&format!("{}{key}", fixture("nsec.zone")));
    let soa = found(&r)
        .into_iter()
        .find(|f| f.2 == Some(rtype::SOA))
        .unwrap();
    assert_eq!(soa.0, Code::RrsigMissing);
    assert!(r
        .findings
        .iter()
        .any(|f| f.message.contains("algorithm 15")));
    // And the DNSKEY RRset itself changed after signing.
    assert_has(&r, Code::RrsigBogus, "example.com.", Some(rtype::DNSKEY));
}

#[test]
fn keys_of_unknown_algorithms_are_notes_not_problems() {
    // Algorithm 253 (PRIVATEDNS) cannot be verified here; its absence
    // from every RRSIG is still a problem, the key itself only a note.
    let key = "example.com. 300 IN DNSKEY 256 3 253 AAAA\n";
    let r = check(&format!("{}{key}", fixture("nsec.zone")));
    assert_has(&r, Code::NotChecked, "example.com.", Some(rtype::DNSKEY));
    let notes = r.counts.get(&Code::NotChecked).copied().unwrap_or(0);
    assert_eq!(r.problems(), r.counts.values().sum::<usize>() - notes);
}

#[test]
fn a_serial_moved_by_the_serial_policy_breaks_the_soa_signature() {
    let v = version(&fixture("nsec.zone")).with_serial(Serial(2025010102));
    let r = check_zone(&v, &CheckOptions::new(NOW));
    assert_eq!(
        found(&r),
        vec![(Code::RrsigBogus, "example.com.".into(), Some(rtype::SOA))]
    );
}

#[test]
fn rrsets_unchanged_since_the_served_version_are_not_verified_again() {
    let text = fixture("nsec.zone");
    let old = version(&text);
    let new = version(&text.replace("\tA\t192.0.2.2\n", "\tA\t192.0.2.99\n"));
    let opts = CheckOptions {
        checked_before: Some(&old),
        ..CheckOptions::new(NOW)
    };
    let r = check_zone(&new, &opts);
    assert_eq!((r.verified, r.unchanged), (1, signature_count(&text) - 1));
    assert_has(&r, Code::RrsigBogus, "www.example.com.", Some(rtype::A));
}

#[test]
fn findings_keep_canonical_order_whatever_the_threads() {
    let text = check_text_with_many_findings();
    let v = version(&text);
    let one = check_zone(
        &v,
        &CheckOptions {
            threads: 1,
            ..CheckOptions::new(NOW)
        },
    );
    let three = check_zone(
        &v,
        &CheckOptions {
            threads: 3,
            ..CheckOptions::new(NOW)
        },
    );
    assert!(!one.findings.is_empty());
    assert_eq!(one.findings, three.findings);
    assert_eq!(one.counts, three.counts);
}

fn check_text_with_many_findings() -> String {
    let mut text = fixture("nsec3.zone");
    for i in 0..30 {
        text.push_str(&format!("n{i}.example.com. 300 IN A 192.0.2.{i}\n"));
    }
    text
}

#[test]
fn checks_off_the_crypto_still_find_the_rest() {
    let text = fixture("nsec.zone").replace("\tA\t192.0.2.2\n", "\tA\t192.0.2.99\n");
    let opts = CheckOptions {
        verify_signatures: false,
        ..CheckOptions::new(EXPIRATION + 1)
    };
    let r = check_zone(&version(&text), &opts);
    assert_eq!(r.verified, 0);
    assert!(r.counts.contains_key(&Code::RrsigExpired));
    assert!(!r.counts.contains_key(&Code::RrsigBogus));
}
