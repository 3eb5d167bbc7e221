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
//! keeps serving the previous version; a secondary does the same with
//! what it receives by AXFR and IXFR. NSEC3 parameters are judged by
//! RFC 9276. Keys and signing come from `common::signing`. A missing
//! signer fails the test.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

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

/// How a zone is signed: by whom, with which algorithm, chain and NSEC3
/// parameters, and the validity period (Unix times).
#[derive(Clone, Debug)]
struct Signing {
    signer: Signer,
    algorithm: &'static str,
    denial: Denial,
    nsec3: Nsec3Params,
    inception: u64,
    expiration: u64,
}

fn now() -> u64 {
    unix_now()
}

impl Signing {
    /// Valid from an hour ago for 30 days (beyond the SOA EXPIRE); NSEC3
    /// with RFC 9276's parameters (no salt, no additional iterations).
    fn new(signer: Signer, algorithm: &'static str, denial: Denial) -> Signing {
        Signing {
            signer,
            algorithm,
            denial,
            nsec3: rfc9276(),
            inception: now() - 3600,
            expiration: now() + 30 * 86_400,
        }
    }

    fn valid(mut self, inception: u64, expiration: u64) -> Signing {
        self.inception = inception;
        self.expiration = expiration;
        self
    }

    fn nsec3(mut self, salt: &str, iterations: u16) -> Signing {
        self.nsec3 = Nsec3Params {
            salt: salt.into(),
            iterations,
        };
        self
    }
}

/// No salt, no additional iterations (RFC 9276 §3.1); `-` is "no salt"
/// to both signers.
fn rfc9276() -> Nsec3Params {
    Nsec3Params {
        salt: "-".into(),
        iterations: 0,
    }
}

/// Signs `zone` (the text) with a KSK and a ZSK made under `dir` for the
/// signer and algorithm the first time (signing twice the same way reuses
/// the keys: Ed25519 signatures then come out the same), and returns the
/// signed text, one record per line.
fn sign(dir: &TempDir, zone: &str, s: &Signing) -> String {
    static KEYS: Mutex<Vec<(PathBuf, ZoneKeys)>> = Mutex::new(Vec::new());
    let keys = {
        let mut made = KEYS.lock().unwrap_or_else(|e| e.into_inner());
        let found = made.iter().find(|(d, k)| {
            d.as_path() == dir.path() && k.signer == s.signer && k.algorithm == s.algorithm
        });
        match found {
            Some((_, k)) => k.clone(),
            None => {
                let k = ZoneKeys::generate(dir.path(), "example.com", s.signer, s.algorithm);
                made.push((dir.path().to_path_buf(), k.clone()));
                k
            }
        }
    };
    keys.sign(zone, s.denial, &s.nsec3, s.inception, s.expiration)
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

fn without(text: &str, drop: impl Fn(&str) -> bool) -> String {
    let out: String = text
        .lines()
        .filter(|l| !drop(l))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(out.lines().count(), text.lines().count(), "nothing removed");
    out
}

/// Every algorithm and chain `signer` makes loads without a finding.
fn assert_signer_clean(signer: Signer) {
    let dir = TempDir::new(&format!("dnssec-{}", signer.name()));
    for (_, alg) in ALGORITHMS {
        for denial in [Denial::Nsec, Denial::Nsec3, Denial::Nsec3OptOut] {
            let s = Signing::new(signer, alg, denial);
            assert_clean(&dir, &format!("{s:?}"), &sign(&dir, &unsigned_zone(1), &s));
        }
    }
}

#[test]
fn zones_signed_by_ldns_have_no_findings() {
    assert_signer_clean(Signer::Ldns);
}

#[test]
fn zones_signed_by_bind_have_no_findings() {
    assert_signer_clean(Signer::Bind);
}

#[test]
fn a_flipped_signature_is_reported_for_every_algorithm() {
    let dir = TempDir::new("dnssec-flip");
    for (number, alg) in ALGORITHMS {
        for signer in [Signer::Ldns, Signer::Bind] {
            let s = Signing::new(signer, alg, Denial::Nsec);
            let text = flip_signature(&sign(&dir, &unsigned_zone(1), &s), "www.example.com.", "A");
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
        let text = without(&sign(&dir, &unsigned_zone(1), &s), |l| {
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
    let signed = sign(&dir, &unsigned_zone(1), &s);
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
        let text = sign(&dir, &unsigned_zone(1), &s);
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
        let text = sign(&dir, &unsigned_zone(1), &s);
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
        let s = Signing::new(signer, "RSASHA256", Denial::Nsec3).nsec3("abcd", 2);
        let signed = sign(&dir, &unsigned_zone(1), &s);
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
fn nsec3_iterations_and_salt_are_judged_by_rfc_9276() {
    let dir = TempDir::new("dnssec-iterations");
    // A salt and a few iterations: a note, never an error.
    for signer in [Signer::Ldns, Signer::Bind] {
        let s = Signing::new(signer, "ECDSAP256SHA256", Denial::Nsec3).nsec3("abcd", 2);
        let text = sign(&dir, &unsigned_zone(1), &s);
        let out = check_zone(&dir, "salted.zone", &text, &["--dnssec-errors"]);
        assert_eq!(out.status.code(), Some(0), "{s:?}: {}", describe(&out));
        let notes = dnssec_warnings(&out);
        assert!(
            notes.len() == 1
                && notes[0].contains("DNSSEC nsec3-parameters: example.com. NSEC3:")
                && notes[0].contains("RFC 9276"),
            "{s:?}: one note on the NSEC3 parameters: {}",
            describe(&out)
        );
    }
    // Beyond what validators accept (ldns signs with any count; BIND's
    // signer may refuse).
    let s = Signing::new(Signer::Ldns, "ED25519", Denial::Nsec3).nsec3("-", 60);
    let text = sign(&dir, &unsigned_zone(1), &s);
    assert_finding(
        &dir,
        "60 iterations",
        &text,
        "nsec3-iterations",
        "example.com. NSEC3:",
    );
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
            sign(&dir, &unsigned_zone(1), &s)
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
    let text = flip_signature(&sign(&dir, &unsigned_zone(1), &s), "www.example.com.", "A");
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
    let v1 = sign(dir, &unsigned_zone(1), &s);
    let v2 = flip_signature(&sign(dir, &unsigned_zone(2), &s), "www.example.com.", "A");
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

/// A zonesync primary serving `v1` (clean) that NOTIFYs a zonesync
/// secondary with `secondary_zone_extra` in its zone entry; returns both
/// once the secondary serves serial 1.
fn primary_and_secondary(v1: &str, secondary_zone_extra: &str) -> (Server, Server) {
    let sec_addr = free_addr();
    let p = Server::start(
        &format!(
            "[server]\nudp_workers = 1\nnotify_delay_ms = 10\n{}dnssec_checks = \"off\"\nallow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{sec_addr}\"]\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", v1)],
    );
    let opts = StartOptions {
        addr: Some(sec_addr),
        ..StartOptions::default()
    };
    let s = Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{}\" }}]\n{secondary_zone_extra}",
            p.addr()
        ),
        &[],
        &opts,
    );
    assert!(
        wait_until(Duration::from_secs(10), || serial(&s) == Some(1)),
        "{}\n-----\n{}",
        p.log(),
        s.log()
    );
    (p, s)
}

#[test]
fn a_secondary_checks_what_it_receives_by_transfer() {
    let dir = TempDir::new("dnssec-secondary-warn");
    let (v1, v2) = signed_pair(&dir);
    let (p, s) = primary_and_secondary(&v1, "");
    assert!(
        s.wait_for_log("DNSSEC checked", Duration::from_secs(10)),
        "the AXFR is checked:\n{}",
        s.log()
    );
    p.rewrite("example.com.zone", &v2);
    p.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || serial(&s) == Some(2)),
        "with warn the tampered serial is served\n{}",
        s.log()
    );
    let bogus = "IXFR 1 -> 2 from";
    assert!(
        s.wait_for_log(
            "DNSSEC rrsig-bogus: www.example.com. A",
            Duration::from_secs(10)
        ),
        "the secondary reports the signer's mistake:\n{}",
        s.log()
    );
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("DNSSEC rrsig-bogus"))
        .unwrap_or_default();
    assert!(
        line.contains(bogus) && line.contains("zone=\"example.com\""),
        "the line names the transfer and the zone: {line}"
    );
    // Only what the IXFR changed was verified again.
    assert!(
        s.wait_for_log("verified=2 unchanged=", Duration::from_secs(10)),
        "{}",
        s.log()
    );
}

#[test]
fn a_secondary_with_dnssec_checks_error_keeps_its_version() {
    let dir = TempDir::new("dnssec-secondary-error");
    let (v1, v2) = signed_pair(&dir);
    let (p, s) = primary_and_secondary(&v1, "dnssec_checks = \"error\"\n");
    p.rewrite("example.com.zone", &v2);
    p.signal("HUP");
    assert!(
        s.wait_for_log("refresh failed", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert_eq!(
        serial(&s),
        Some(1),
        "the tampered serial 2 must not replace serial 1\n{}",
        s.log()
    );
    let log = s.log();
    assert!(
        log.contains("DNSSEC rrsig-bogus: www.example.com. A")
            && log.contains("DNSSEC problems in IXFR 1 -> 2"),
        "{log}"
    );
}
