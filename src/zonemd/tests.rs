//! The digest is checked against an independent implementation: ldns
//! (`ldns-signzone -z` makes ZONEMD records, `ldns-verify-zone` checks
//! them), on zones with what the canonical order and form make subtle:
//! upper-case names, glue, occluded data below a DNAME, wildcards,
//! RRSIGs among the types before and after theirs (46).

use super::*;
use crate::zone::test_version;
use std::path::{Path, PathBuf};
use std::process::Command;

const ZONE: &str = "$ORIGIN example.\n$TTL 3600\n\
@ 86400 SOA ns1 admin 2018031900 1800 900 604800 86400\n\
@ 86400 NS ns1\n@ 86400 NS NS2\n@ MX 10 Mail.Example.\n@ TXT \"v=spf1 -all\"\n\
ns1 A 203.0.113.63\nNS2 AAAA 2001:db8::63\nmail A 192.0.2.25\n\
*.w TXT \"wild\"\nsub NS ns.sub\nns.sub A 192.0.2.53\n\
d DNAME elsewhere.test.\nx.d A 192.0.2.99\nb A 192.0.2.1\nB A 192.0.2.2\n\
srv SRV 0 5 5060 Sip.Example.\n";

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Dir {
    let path = std::env::temp_dir().join(format!("zonesync-zonemd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    Dir(path)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (ldnsutils installed?)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

/// ldns-signzone's output for `zone` with ZONEMD of `hashes` (unsigned
/// unless `keys` are given).
fn ldns_zonemd(dir: &Path, zone: &str, hashes: &[&str], keys: &[String]) -> String {
    let input = dir.join("in.zone");
    let output = dir.join("out.zone");
    std::fs::write(&input, zone).unwrap();
    let mut cmd = Command::new("ldns-signzone");
    cmd.current_dir(dir).arg("-o").arg("example.");
    for h in hashes {
        cmd.args(["-z", h]);
    }
    if keys.is_empty() {
        cmd.arg("-Z");
    }
    cmd.arg("-f").arg(&output).arg(&input).args(keys);
    run(&mut cmd);
    std::fs::read_to_string(output).unwrap()
}

#[test]
fn digests_match_ldns_for_both_algorithms() {
    let dir = scratch("ldns");
    for (hash, alg) in [("1:1", HashAlg::Sha384), ("1:2", HashAlg::Sha512)] {
        let text = ldns_zonemd(&dir.0, ZONE, &[hash], &[]);
        let version = test_version("example.", &text);
        match verify(&version) {
            Verdict::Verified { hash, digest } => {
                assert_eq!(hash, alg);
                assert_eq!(digest.len(), if alg == HashAlg::Sha384 { 96 } else { 128 });
            }
            other => panic!("{hash}: {other:?}\n{text}"),
        }
    }
    // Both at once: either verifies.
    let text = ldns_zonemd(&dir.0, ZONE, &["1:1", "1:2"], &[]);
    assert!(matches!(
        verify(&test_version("example.", &text)),
        Verdict::Verified { .. }
    ));
}

#[test]
fn a_stamped_zone_passes_ldns_verify_zone() {
    let dir = scratch("stamp");
    let version = test_version("example.", ZONE);
    assert_eq!(verify(&version), Verdict::Absent);
    for alg in [HashAlg::Sha384, HashAlg::Sha512] {
        let stamped = stamp(&version, alg).unwrap().expect("a new version");
        assert!(matches!(verify(&stamped), Verdict::Verified { hash, .. } if hash == alg));
        // Stamping again changes nothing.
        assert!(stamp(&stamped, alg).unwrap().is_none());
        let path = dir.0.join("stamped.zone");
        std::fs::write(&path, crate::zonefile::write::zone_text(&stamped, "")).unwrap();
        let out = run(Command::new("ldns-verify-zone").arg("-Z").arg(&path));
        assert!(out.to_lowercase().contains("zone is verified"), "{out}");
    }
}

#[test]
fn a_changed_record_a_moved_serial_or_a_duplicate_is_refused() {
    let stamped = stamp(&test_version("example.", ZONE), HashAlg::Sha384)
        .unwrap()
        .unwrap();
    let text = crate::zonefile::write::zone_text(&stamped, "");
    let tampered = test_version("example.", &text.replace("192.0.2.25", "192.0.2.26"));
    match verify(&tampered) {
        Verdict::Invalid(Invalid::Mismatch {
            serial,
            hash,
            expected,
            computed,
        }) => {
            assert_eq!(serial, Serial(2018031900));
            assert_eq!(hash, HashAlg::Sha384);
            assert_ne!(expected, computed);
            assert_eq!(expected.len(), 96);
        }
        other => panic!("{other:?}"),
    }
    let moved = stamped.with_serial(Serial(2018031901));
    assert_eq!(
        verify(&moved),
        Verdict::Invalid(Invalid::SerialMismatch {
            zonemd: Serial(2018031900),
            soa: Serial(2018031901)
        })
    );
    let zonemd_line = text
        .lines()
        .find(|l| l.contains("ZONEMD"))
        .expect("ZONEMD line")
        .to_owned();
    // The same scheme and algorithm again, another digest.
    let twice = format!("{text}{}\n", zonemd_line.replace(" 1 1 ", " 1 1 00"));
    let v = test_version("example.", &twice);
    if v.apex().rrset(ZONEMD).map(|s| s.len()) == Some(2) {
        assert!(matches!(
            verify(&v),
            Verdict::Invalid(Invalid::Duplicate { .. })
        ));
    } else {
        panic!("the second ZONEMD did not parse as a second record:\n{twice}");
    }
    // Unknown scheme or algorithm only: nothing to check.
    let unknown = text.replace(&zonemd_line, &zonemd_line.replacen(" 1 1 ", " 1 240 ", 1));
    assert_eq!(
        verify(&test_version("example.", &unknown)),
        Verdict::Unsupported
    );
}

#[test]
fn a_signed_zones_zonemd_must_carry_a_valid_signature() {
    let dir = scratch("signed");
    let key = run(Command::new("ldns-keygen").current_dir(&dir.0).args([
        "-a",
        "ECDSAP256SHA256",
        "-k",
        "example.",
    ]))
    .trim()
    .to_owned();
    let text = ldns_zonemd(&dir.0, ZONE, &["1:1"], &[key]);
    let version = test_version("example.", &text);
    assert!(dnssec::is_signed(&version));
    assert!(
        matches!(verify(&version), Verdict::Verified { .. }),
        "{:?}",
        verify(&version)
    );
    // Without the RRSIG over the ZONEMD: refused.
    let unsigned: String = text
        .lines()
        .filter(|l| !(l.contains("RRSIG") && l.contains("ZONEMD")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        verify(&test_version("example.", &unsigned)),
        Verdict::Invalid(Invalid::Unsigned)
    );
}

#[test]
fn a_stamp_folds_into_the_change_before_it() {
    use crate::journal::diff;
    let v1 = stamp(&test_version("example.", ZONE), HashAlg::Sha384)
        .unwrap()
        .unwrap();
    // A change to serial 2018031901 that keeps the old ZONEMD (stale).
    let text = crate::zonefile::write::zone_text(&v1, "")
        .replace("2018031900 1800", "2018031901 1800")
        .replace("192.0.2.25", "192.0.2.26");
    let v2_stale = test_version("example.", &text);
    let mut change = diff(&v1, &v2_stale);
    let stamp = stamp_change(&v2_stale, HashAlg::Sha384).expect("stale: a stamp");
    let v2 = v2_stale.apply(&stamp).unwrap();
    fold(&mut change, stamp);
    // One changeset from v1 leads to the stamped v2, and is diff's.
    let via_fold = v1.apply(&change).unwrap();
    assert!(matches!(verify(&via_fold), Verdict::Verified { .. }));
    assert_eq!(diff(&v1, &via_fold), diff(&v1, &v2));
    assert_eq!(via_fold.content_digest(), v2.content_digest());
}
