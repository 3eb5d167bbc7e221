//! The DNSSEC load-time checks through the real binary: zones signed at
//! test time by ldns (`ldns-keygen`, `ldns-signzone`) and BIND
//! (`dnssec-keygen`, `dnssec-signzone`), with keys generated into a
//! temporary directory, for NSEC, NSEC3 and NSEC3 opt-out and algorithms
//! 8 (RSASHA256), 13 (ECDSAP256SHA256) and 15 (ED25519).
//!
//! A clean signed zone gives no `warning:` from `zonesync check-zone`;
//! each tampered copy gives the finding it should (`DNSSEC <code>: owner
//! TYPE: ...`), as a warning, or as an error with `--dnssec-errors`. The
//! server logs the findings at load, and with `dnssec_checks = "error"`
//! keeps serving the previous version. A missing signer fails the test.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SOA EXPIRE of the test zone: two weeks.
const SOA_EXPIRE: u64 = 1_209_600;

/// The zone: a wildcard, an empty non-terminal, a secure and two insecure
/// delegations (one below empty non-terminals) with glue, a CNAME, a
/// DNAME, and an MX target in mixed case (canonical form lower-cases it).
fn unsigned_zone(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 {SOA_EXPIRE} 300\n\
         @ NS ns1\n@ NS ns.other.net.\n@ MX 10 Mail.Example.COM.\n\
         ns1 A 192.0.2.1\nmail A 192.0.2.25\n\
         www A 192.0.2.2\nwww AAAA 2001:db8::2\nwww TXT \"hello world\"\n\
         *.wild TXT \"wild\"\na.b.c TXT \"deep\"\nalias CNAME www\ndn DNAME other.net.\n\
         sub NS ns.sub\nns.sub A 192.0.2.3\n\
         secure NS ns.other.net.\n\
         secure DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000\n\
         x.insecure.deep NS ns.other.net.\n"
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Signer {
    Ldns,
    Bind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Denial {
    Nsec,
    /// Salt `abcd`, 2 iterations.
    Nsec3,
    Nsec3OptOut,
}

const ALGORITHMS: [(u8, &str); 3] = [(8, "RSASHA256"), (13, "ECDSAP256SHA256"), (15, "ED25519")];

/// How a zone is signed: by whom, with which algorithm and chain, and the
/// validity period (Unix times).
#[derive(Clone, Copy, Debug)]
struct Signing {
    signer: Signer,
    algorithm: &'static str,
    denial: Denial,
    inception: u64,
    expiration: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Signing {
    /// Valid from an hour ago for 30 days (beyond the SOA EXPIRE).
    fn new(signer: Signer, algorithm: &'static str, denial: Denial) -> Signing {
        Signing {
            signer,
            algorithm,
            denial,
            inception: now() - 3600,
            expiration: now() + 30 * 86_400,
        }
    }

    fn valid(mut self, inception: u64, expiration: u64) -> Signing {
        self.inception = inception;
        self.expiration = expiration;
        self
    }
}

/// Runs a signing tool in `dir`; panics with its output if it fails.
fn run(dir: &Path, tool: &str, package: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(require_tool(tool, package));
    cmd.current_dir(dir).args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{tool} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Signs `zone` (the text) in a directory under `dir` named after the
/// signing, with a KSK and a ZSK made there the first time (so signing
/// twice the same way reuses the keys), and returns the signed text, one
/// record per line.
fn sign(dir: &TempDir, zone: &str, s: Signing) -> String {
    let sub = format!(
        "{:?}-{}-{:?}-{}",
        s.signer, s.algorithm, s.denial, s.expiration
    );
    let work = dir.join(&sub);
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
    std::fs::write(work.join("zone"), zone).unwrap_or_else(|e| panic!("{sub}: {e}"));
    match s.signer {
        Signer::Ldns => sign_ldns(&work, s),
        Signer::Bind => sign_bind(&work, s),
    }
    std::fs::read_to_string(work.join("signed")).unwrap_or_else(|e| panic!("{sub}: {e}"))
}

fn sign_ldns(work: &Path, s: Signing) {
    let keygen = |ksk: bool| {
        let mut args = vec!["-a", s.algorithm];
        if s.algorithm.starts_with("RSA") {
            args.extend(["-b", "2048"]);
        }
        if ksk {
            args.push("-k");
        }
        args.push("example.com");
        let out = run(work, "ldns-keygen", "ldnsutils", &args);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let keys = work.join("keys");
    let (zsk, ksk) = match std::fs::read_to_string(&keys) {
        Ok(names) => {
            let (z, k) = names.split_once(' ').unwrap_or_default();
            (z.to_string(), k.to_string())
        }
        Err(_) => {
            let (z, k) = (keygen(false), keygen(true));
            std::fs::write(&keys, format!("{z} {k}")).unwrap_or_else(|e| panic!("{e}"));
            (z, k)
        }
    };
    let (i, e) = (s.inception.to_string(), s.expiration.to_string());
    let mut args = vec!["-i", &i, "-e", &e, "-f", "signed"];
    match s.denial {
        Denial::Nsec => {}
        Denial::Nsec3 => args.extend(["-n", "-s", "abcd", "-t", "2"]),
        Denial::Nsec3OptOut => args.extend(["-n", "-s", "abcd", "-t", "2", "-p"]),
    }
    args.extend(["zone", &zsk, &ksk]);
    run(work, "ldns-signzone", "ldnsutils", &args);
}

fn sign_bind(work: &Path, s: Signing) {
    // `-S` below signs with every key in the directory.
    let made = work.join("keys");
    for ksk in [false, true].into_iter().filter(|_| !made.exists()) {
        let mut args = vec!["-q", "-K", ".", "-a", s.algorithm, "-n", "ZONE"];
        if s.algorithm.starts_with("RSA") {
            args.extend(["-b", "2048"]);
        }
        if ksk {
            args.extend(["-f", "KSK"]);
        }
        args.push("example.com");
        run(work, "dnssec-keygen", "bind9-utils", &args);
    }
    std::fs::write(&made, "").unwrap_or_else(|e| panic!("{e}"));
    let (i, e) = (s.inception.to_string(), s.expiration.to_string());
    // -P: BIND's own verification after signing would refuse the expired
    // zones these tests make on purpose. -O full: one record per line.
    let mut args = vec![
        "-q",
        "-S",
        "-P",
        "-K",
        ".",
        "-O",
        "full",
        "-o",
        "example.com",
        "-f",
        "signed",
        "-s",
        &i,
        "-e",
        &e,
    ];
    match s.denial {
        Denial::Nsec => {}
        Denial::Nsec3 => args.extend(["-3", "abcd", "-H", "2"]),
        Denial::Nsec3OptOut => args.extend(["-3", "abcd", "-H", "2", "-A"]),
    }
    args.push("zone");
    run(work, "dnssec-signzone", "bind9-utils", &args);
}

/// `zonesync check-zone` on `text`, with more arguments.
fn check_zone(dir: &TempDir, name: &str, text: &str, extra: &[&str]) -> Output {
    let path = dir.write(name, text);
    let mut cmd = zonesync();
    cmd.arg("check-zone")
        .arg(&path)
        .args(["--origin", "example.com"])
        .args(extra);
    run_with_timeout(cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    )
}

/// The `warning: ...DNSSEC...` lines.
fn dnssec_warnings(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("warning: ") && l.contains("DNSSEC "))
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn assert_clean(dir: &TempDir, what: &str, text: &str) {
    let out = check_zone(dir, "clean.zone", text, &["--dnssec-errors"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: a freshly signed zone must have no DNSSEC findings: {}",
        describe(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("signed;") && stdout.contains(" 0 DNSSEC problems"),
        "{what}: {}",
        describe(&out)
    );
    assert!(
        !stderr(&out).contains("warning:"),
        "{what}: {}",
        describe(&out)
    );
}

/// `text` must give a `warning:` line with `DNSSEC <code>: <owner>[ TYPE]:`
/// (exit 0), and the same as `error:` with `--dnssec-errors` (exit 1).
#[track_caller]
fn assert_finding(dir: &TempDir, what: &str, text: &str, code: &str, at: &str) {
    let needle = format!("DNSSEC {code}: {at}");
    let out = check_zone(dir, "tampered.zone", text, &[]);
    assert_eq!(out.status.code(), Some(0), "{what}: {}", describe(&out));
    assert!(
        dnssec_warnings(&out).iter().any(|l| l.contains(&needle)),
        "{what}: expected a warning with `{needle}`: {}",
        describe(&out)
    );
    let out = check_zone(dir, "tampered.zone", text, &["--dnssec-errors"]);
    assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains(&needle)),
        "{what} with --dnssec-errors: expected an error with `{needle}`: {}",
        describe(&out)
    );
    assert!(
        stderr(&out).contains("not loaded"),
        "{what}: {}",
        describe(&out)
    );
}

/// Whether a line is the record `owner TYPE`, or `owner RRSIG TYPE` for
/// `t` = "RRSIG TYPE".
fn is_record(l: &str, owner: &str, t: &str) -> bool {
    let f: Vec<&str> = l.split_whitespace().collect();
    match (f.as_slice(), t.strip_prefix("RRSIG ")) {
        ([o, _, _, "RRSIG", covered, ..], Some(c)) => {
            o.eq_ignore_ascii_case(owner) && *covered == c
        }
        ([o, _, _, ty, ..], None) => o.eq_ignore_ascii_case(owner) && *ty == t,
        _ => false,
    }
}

fn without(text: &str, drop: impl Fn(&str) -> bool) -> String {
    let out: String = text
        .lines()
        .filter(|l| !drop(l))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(out.lines().count(), text.lines().count(), "nothing removed");
    out
}

/// Changes one base64 character in the middle of the signature of the
/// RRSIG over `owner TYPE`.
fn flip_signature(text: &str, owner: &str, t: &str) -> String {
    let rrsig = format!("RRSIG {t}");
    let mut flipped = 0;
    let out: String = text
        .lines()
        .map(|l| {
            if flipped == 0 && is_record(l, owner, &rrsig) {
                flipped += 1;
                // The last field is (the end of) the signature.
                let at = l.trim_end().len() - 10;
                let c = if l.as_bytes()[at] == b'A' { 'B' } else { 'A' };
                format!("{}{c}{}\n", &l[..at], &l[at + 1..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(flipped, 1, "no RRSIG {t} at {owner}");
    out
}

#[test]
fn zones_signed_by_ldns_have_no_findings() {
    let dir = TempDir::new("dnssec-ldns");
    for (_, alg) in ALGORITHMS {
        for denial in [Denial::Nsec, Denial::Nsec3, Denial::Nsec3OptOut] {
            let s = Signing::new(Signer::Ldns, alg, denial);
            assert_clean(&dir, &format!("{s:?}"), &sign(&dir, &unsigned_zone(1), s));
        }
    }
}

#[test]
fn zones_signed_by_bind_have_no_findings() {
    let dir = TempDir::new("dnssec-bind");
    for (_, alg) in ALGORITHMS {
        for denial in [Denial::Nsec, Denial::Nsec3, Denial::Nsec3OptOut] {
            let s = Signing::new(Signer::Bind, alg, denial);
            assert_clean(&dir, &format!("{s:?}"), &sign(&dir, &unsigned_zone(1), s));
        }
    }
}

#[test]
fn a_flipped_signature_is_reported_for_every_algorithm() {
    let dir = TempDir::new("dnssec-flip");
    for (number, alg) in ALGORITHMS {
        for signer in [Signer::Ldns, Signer::Bind] {
            let s = Signing::new(signer, alg, Denial::Nsec);
            let text = flip_signature(&sign(&dir, &unsigned_zone(1), s), "www.example.com.", "A");
            let what = format!("{s:?}, RRSIG A at www flipped");
            assert_finding(&dir, &what, &text, "rrsig-bogus", "www.example.com. A:");
            let out = check_zone(&dir, "tampered.zone", &text, &[]);
            assert!(
                stderr(&out).contains(&format!("algorithm {number} (")),
                "{what}: the message names the algorithm: {}",
                describe(&out)
            );
        }
    }
}

#[test]
fn a_deleted_nsec_is_reported_as_a_broken_chain() {
    let dir = TempDir::new("dnssec-nsec");
    for signer in [Signer::Ldns, Signer::Bind] {
        let s = Signing::new(signer, "ECDSAP256SHA256", Denial::Nsec);
        let text = without(&sign(&dir, &unsigned_zone(1), s), |l| {
            is_record(l, "mail.example.com.", "NSEC")
        });
        let what = format!("{s:?}, NSEC of mail deleted");
        assert_finding(&dir, &what, &text, "nsec-missing", "mail.example.com.:");
        // `dn` comes before `mail` in canonical order and still points to it.
        assert_finding(&dir, &what, &text, "nsec-chain", "dn.example.com. NSEC:");
    }
}

#[test]
fn a_deleted_nsec3_is_reported_as_a_broken_chain() {
    let dir = TempDir::new("dnssec-nsec3");
    let s = Signing::new(Signer::Ldns, "ED25519", Denial::Nsec3);
    let signed = sign(&dir, &unsigned_zone(1), s);
    // Any NSEC3 will do: one name loses its NSEC3, its predecessor's
    // next hash points to nothing.
    let victim = signed
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("NSEC3"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .expect("an NSEC3 record");
    let text = without(&signed, |l| is_record(l, &victim, "NSEC3"));
    assert_finding(&dir, "NSEC3 deleted", &text, "nsec3-missing", "");
    assert_finding(&dir, "NSEC3 deleted", &text, "nsec3-chain", "");
}

#[test]
fn a_signature_expired_at_signing_is_reported() {
    let dir = TempDir::new("dnssec-expired");
    let (start, end) = (now() - 20 * 86_400, now() - 86_400);
    for signer in [Signer::Ldns, Signer::Bind] {
        let s = Signing::new(signer, "ECDSAP256SHA256", Denial::Nsec).valid(start, end);
        let text = sign(&dir, &unsigned_zone(1), s);
        let what = format!("{s:?}, expired a day ago");
        assert_finding(&dir, &what, &text, "rrsig-expired", "example.com. SOA:");
        let out = check_zone(&dir, "tampered.zone", &text, &[]);
        assert!(
            stderr(&out).contains("more not shown"),
            "every signature expired: the rest are counted, not listed: {}",
            describe(&out)
        );
    }
}

#[test]
fn signatures_expiring_before_the_soa_expire_are_reported() {
    let dir = TempDir::new("dnssec-soon");
    // Valid for 3 more days; the SOA EXPIRE is 14 days.
    let (start, end) = (now() - 3600, now() + 3 * 86_400);
    for signer in [Signer::Ldns, Signer::Bind] {
        let s = Signing::new(signer, "ED25519", Denial::Nsec3).valid(start, end);
        let text = sign(&dir, &unsigned_zone(1), s);
        let what = format!("{s:?}, expiring in 3 days");
        assert_finding(
            &dir,
            &what,
            &text,
            "rrsig-expires-soon",
            "example.com. SOA:",
        );
        let out = check_zone(&dir, "tampered.zone", &text, &[]);
        assert!(
            stderr(&out).contains("SOA EXPIRE") && stderr(&out).contains("secondary"),
            "{what}: the warning says why it matters: {}",
            describe(&out)
        );
    }
}

#[test]
fn nsec3param_with_another_salt_is_reported() {
    let dir = TempDir::new("dnssec-salt");
    for signer in [Signer::Ldns, Signer::Bind] {
        let s = Signing::new(signer, "RSASHA256", Denial::Nsec3);
        let signed = sign(&dir, &unsigned_zone(1), s);
        let text: String = signed
            .lines()
            .map(|l| {
                if is_record(l, "example.com.", "NSEC3PARAM") {
                    // ldns writes the salt in lower case, BIND in upper case.
                    let l = l.replace(" abcd", " beef").replace("\tabcd", "\tbeef");
                    format!("{}\n", l.replace(" ABCD", " BEEF"))
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert_ne!(text, signed, "{s:?}: NSEC3PARAM salt not found");
        let what = format!("{s:?}, NSEC3PARAM salt changed");
        assert_finding(
            &dir,
            &what,
            &text,
            "nsec3param-mismatch",
            "example.com. NSEC3PARAM:",
        );
    }
}

#[test]
fn a_record_added_after_signing_is_reported_as_unsigned() {
    let dir = TempDir::new("dnssec-added");
    for (denial, signer) in [
        (Denial::Nsec, Signer::Bind),
        (Denial::Nsec3OptOut, Signer::Ldns),
    ] {
        let s = Signing::new(signer, "ECDSAP256SHA256", denial);
        let text = format!(
            "{}www.example.com. 300 IN MX 10 mail.example.com.\n",
            sign(&dir, &unsigned_zone(1), s)
        );
        let what = format!("{s:?}, MX added to www after signing");
        assert_finding(&dir, &what, &text, "rrsig-missing", "www.example.com. MX:");
        assert_finding(&dir, &what, &text, "type-bitmap", "www.example.com. NSEC");
    }
}

#[test]
fn check_zone_can_skip_the_checks_or_the_verification() {
    let dir = TempDir::new("dnssec-skip");
    let s = Signing::new(Signer::Ldns, "ECDSAP256SHA256", Denial::Nsec);
    let text = flip_signature(&sign(&dir, &unsigned_zone(1), s), "www.example.com.", "A");
    let out = check_zone(&dir, "t.zone", &text, &["--no-dnssec"]);
    assert!(dnssec_warnings(&out).is_empty(), "{}", describe(&out));
    let out = check_zone(
        &dir,
        "t.zone",
        &text,
        &["--no-dnssec-verify", "--dnssec-errors"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 signatures verified"),
        "{}",
        describe(&out)
    );
}

/// Serial 1, and serial 2 with the signature of www A flipped. Same keys
/// and validity, and Ed25519 signatures are deterministic: the two differ
/// only in the SOA, its RRSIG and www's RRSIG A.
fn signed_pair(dir: &TempDir) -> (String, String) {
    let s = Signing::new(Signer::Ldns, "ED25519", Denial::Nsec);
    let v1 = sign(dir, &unsigned_zone(1), s);
    let v2 = flip_signature(&sign(dir, &unsigned_zone(2), s), "www.example.com.", "A");
    (v1, v2)
}

fn serial(s: &Server) -> Option<u32> {
    authoritative_serial(s.addr(), "example.com", Duration::from_secs(2))
}

#[test]
fn the_server_logs_findings_with_the_zone_and_serves_the_zone() {
    let dir = TempDir::new("dnssec-serve-warn");
    let (v1, v2) = signed_pair(&dir);
    let s = Server::start(
        &zone_entry("example.com", "example.com.zone"),
        &[("example.com.zone", &v1)],
    );
    assert!(
        s.wait_for_log("DNSSEC checked", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert!(!s.log().contains("DNSSEC rrsig"), "{}", s.log());
    s.rewrite("example.com.zone", &v2);
    s.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || serial(&s) == Some(2)),
        "dnssec_checks = \"warn\" (the default): the tampered zone is served\n{}",
        s.log()
    );
    // With `warn` the checks run after publishing, in the background.
    let bogus = "DNSSEC rrsig-bogus: www.example.com. A";
    assert!(
        s.wait_for_log(bogus, Duration::from_secs(10)),
        "no rrsig-bogus warning in the log:\n{}",
        s.log()
    );
    let log = s.log();
    let line = log.lines().find(|l| l.contains(bogus)).unwrap_or_default();
    assert!(
        line.contains("WARN") && line.contains("zone=\"example.com\""),
        "a warning naming the zone: {line}"
    );
    // Serial 2 differs from serial 1 in the SOA and www A only (and their
    // RRSIGs): the rest was not verified again.
    assert!(
        s.wait_for_log("verified=2 unchanged=", Duration::from_secs(10)),
        "{}",
        s.log()
    );
}

#[test]
fn the_server_keeps_the_old_version_when_dnssec_checks_is_error() {
    let dir = TempDir::new("dnssec-serve-error");
    let (v1, v2) = signed_pair(&dir);
    let s = Server::start(
        &format!(
            "{}dnssec_checks = \"error\"\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &v1)],
    );
    assert_eq!(serial(&s), Some(1), "{}", s.log());
    s.rewrite("example.com.zone", &v2);
    s.signal("HUP");
    assert!(
        s.wait_for_log("zone load failed", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert_eq!(
        serial(&s),
        Some(1),
        "the tampered serial 2 must not replace serial 1\n{}",
        s.log()
    );
    assert!(
        s.log().contains("DNSSEC rrsig-bogus: www.example.com. A"),
        "{}",
        s.log()
    );
}
