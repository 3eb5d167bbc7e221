//! `zonesync check-zone FILE --origin NAME`: exit 0 and "OK" for a good
//! zone; exit 1 and `error: file:line: message` on stderr for each kind of
//! error. Fixtures: `tests/fixtures/check_zone/`, one error per file.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/check_zone")
        .join(name)
}

fn check_zone(file: &str, extra: &[&str]) -> Output {
    let mut cmd = zonesync();
    cmd.arg("check-zone")
        .arg(fixture(file))
        .args(["--origin", "example.com"])
        .args(extra);
    run_with_timeout(cmd, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("check-zone {file}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where an error must point.
enum At {
    /// `file:N:` for one of these lines.
    Lines(&'static [u32]),
    /// Zone-wide: the file named, no line.
    File,
}

/// `file` must fail with exit status 1 and an `error:` line on stderr that
/// names the file (and line) and contains one of `fragments`
/// (case-insensitive).
#[track_caller]
fn assert_error(file: &str, at: At, fragments: &[&str], what: &str) {
    let out = check_zone(file, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let ctx =
        format!("check-zone {file} ({what})\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit status 1, got {}: {ctx}",
        out.status
    );
    assert!(
        !stdout.lines().any(|l| l.trim() == "OK"),
        "a zone with errors must not be reported OK: {ctx}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert!(
        !errors.is_empty(),
        "expected `error: ...` lines on stderr: {ctx}"
    );
    let located = |l: &str| match &at {
        At::Lines(lines) => lines.iter().any(|n| l.contains(&format!("{file}:{n}: "))),
        At::File => l.contains(file),
    };
    let matches = |l: &str| {
        let lower = l.to_ascii_lowercase();
        fragments
            .iter()
            .any(|f| lower.contains(&f.to_ascii_lowercase()))
    };
    let where_ = match &at {
        At::Lines(lines) => format!("`{file}:LINE: ` with LINE in {lines:?}"),
        At::File => format!("`{file}`"),
    };
    assert!(
        errors.iter().any(|l| located(l) && matches(l)),
        "expected an `error:` line naming {where_} and saying one of {fragments:?}: {ctx}"
    );
}

#[test]
fn good_zone_is_ok() {
    let out = check_zone("good.zone", &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "OK"),
        "check-zone good.zone: expected exit 0 and OK, got {}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("error:"),
        "check-zone good.zone: no errors expected\n{stderr}"
    );
}

#[test]
fn include_inside_the_zone_directory_is_ok() {
    let out = check_zone("good-include.zone", &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "OK"),
        "check-zone good-include.zone ($INCLUDE hosts.inc): expected exit 0 and OK, got {}\n\
         --- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
}

#[test]
fn missing_soa_is_an_error() {
    assert_error(
        "missing-soa.zone",
        At::File,
        &["no SOA"],
        "no SOA at the apex (RFC 1035 §5.2)",
    );
}

#[test]
fn two_soas_is_an_error() {
    assert_error(
        "two-soas.zone",
        At::Lines(&[4, 5]),
        &["more than one SOA", "SOA"],
        "two SOA records (RFC 1035 §5.2)",
    );
}

#[test]
fn soa_below_the_apex_is_an_error() {
    assert_error(
        "soa-not-at-apex.zone",
        At::Lines(&[8]),
        &["not the zone apex", "apex"],
        "SOA at sub.example.com",
    );
}

#[test]
fn missing_apex_ns_is_an_error() {
    assert_error(
        "no-apex-ns.zone",
        At::File,
        &["no NS"],
        "no NS at the apex (RFC 1034 §4.2.1)",
    );
}

#[test]
fn cname_and_other_data_is_an_error() {
    assert_error(
        "cname-and-other-data.zone",
        At::Lines(&[7, 8, 9]),
        &["CNAME and other data"],
        "CNAME beside A (RFC 1034 §3.6.2, RFC 2181 §10.1)",
    );
}

#[test]
fn two_cnames_is_an_error() {
    assert_error(
        "two-cnames.zone",
        At::Lines(&[8, 9]),
        &["more than one CNAME"],
        "two CNAMEs at alias (RFC 2181 §10.1)",
    );
}

#[test]
fn out_of_zone_record_is_an_error() {
    assert_error(
        "out-of-zone.zone",
        At::Lines(&[8]),
        &["out-of-zone", "outside", "not in zone"],
        "www.example.org in example.com",
    );
}

#[test]
fn non_glue_below_a_delegation_is_an_error() {
    assert_error(
        "non-glue-below-delegation.zone",
        At::Lines(&[9]),
        &["below the delegation", "glue"],
        "TXT at txt.sub below the cut sub (RFC 1034 §4.2.1)",
    );
}

#[test]
fn ttl_out_of_range_is_an_error() {
    assert_error(
        "bad-ttl.zone",
        At::Lines(&[8]),
        &["TTL"],
        "TTL 4294967296 (RFC 2181 §8)",
    );
}

#[test]
fn malformed_ttl_directive_is_an_error() {
    assert_error(
        "bad-ttl-directive.zone",
        At::Lines(&[3]),
        &["TTL"],
        "$TTL 1h30",
    );
}

#[test]
fn unknown_type_is_an_error() {
    assert_error(
        "unknown-type.zone",
        At::Lines(&[8]),
        &["FOOBAR"],
        "type FOOBAR",
    );
}

#[test]
fn bad_rdata_is_an_error() {
    assert_error(
        "bad-rdata.zone",
        At::Lines(&[8]),
        &["192.0.2.300", "rdata", "address"],
        "A 192.0.2.300",
    );
}

#[test]
fn include_of_a_missing_file_is_an_error() {
    assert_error(
        "include-missing.zone",
        At::Lines(&[8]),
        &["does-not-exist.inc"],
        "$INCLUDE does-not-exist.inc",
    );
}

#[test]
fn include_escaping_the_zone_directory_is_an_error() {
    assert_error(
        "include-escape.zone",
        At::Lines(&[8]),
        &["include-anywhere", "include_anywhere", "directory"],
        "$INCLUDE ../escapee.inc",
    );
}

#[test]
fn include_escaping_the_zone_directory_is_allowed_with_include_anywhere() {
    let out = check_zone("include-escape.zone", &["--include-anywhere"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "OK"),
        "check-zone include-escape.zone --include-anywhere: expected exit 0 and OK, got {}\n\
         --- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
}
