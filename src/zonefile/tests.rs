use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::base::iana::Rtype;
use domain::base::name::ParsedName;
use domain::base::rdata::ParseRecordData;
use domain::dep::octseq::parse::Parser;
use domain::rdata::ZoneRecordData;

use super::lexer::{Lexer, Token};
use super::*;
use crate::rdata::csync::Csync;
use crate::serial::Serial;

const ORIGIN: &[u8] = b"\x07example\x03com\x00";

fn opts() -> ParseOptions {
    ParseOptions::new(ORIGIN.to_vec())
}

fn parse_with(text: &str, opts: &ParseOptions) -> ParsedZone {
    match parse_str(text, Path::new("test.zone"), opts) {
        Ok(zone) => zone,
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

fn parse(text: &str) -> ParsedZone {
    parse_with(text, &opts())
}

fn errors_with(text: &str, opts: &ParseOptions) -> Vec<ZoneFileError> {
    match parse_str(text, Path::new("test.zone"), opts) {
        Ok(zone) => panic!("expected errors, got {zone:#?}"),
        Err(errors) => errors,
    }
}

fn errors(text: &str) -> Vec<ZoneFileError> {
    errors_with(text, &opts())
}

/// The single error of `text`, as (line, message).
fn single_error(text: &str) -> (u32, String) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    (errs[0].line, errs[0].message.clone())
}

/// The single record of `text` with `$TTL 3600` in front.
fn rr(line: &str) -> ZoneFileRecord {
    let zone = parse(&format!("$TTL 3600\n{line}\n"));
    assert_eq!(zone.records.len(), 1, "{zone:#?}");
    zone.records.into_iter().next().unwrap()
}

fn wire(name: &str) -> Vec<u8> {
    name_from_presentation(name, b"\0").unwrap()
}

/// Rdata in presentation format as `domain` prints it, to compare parsed
/// rdata against known-good text without spelling out wire bytes.
fn present(rtype: u16, rdata: &[u8]) -> String {
    let mut parser = Parser::from_ref(rdata);
    let data = ZoneRecordData::<&[u8], ParsedName<&[u8]>>::parse_rdata(
        Rtype::from_int(rtype),
        &mut parser,
    )
    .unwrap()
    .unwrap();
    assert_eq!(parser.remaining(), 0);
    data.to_string()
}

fn lex(text: &str) -> Vec<lexer::Entry<'_>> {
    let mut lexer = Lexer::new(text, &[]);
    std::iter::from_fn(|| lexer.next_entry()).collect()
}

fn texts<'a>(tokens: &'a [Token<'_>]) -> Vec<&'a str> {
    tokens.iter().map(|t| &*t.text).collect()
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zonesync-zonefile-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- lexer ---------------------------------------------------------------

#[test]
fn lexer_splits_tokens_and_skips_comments_and_blank_lines() {
    let entries =
        lex("; header comment\n\nwww  IN\tA 192.0.2.1 ; trailing\n   \n  ; indented comment\n");
    assert_eq!(entries.len(), 1);
    assert_eq!(texts(&entries[0].tokens), ["www", "IN", "A", "192.0.2.1"]);
    assert_eq!(entries[0].line, 3);
    assert!(!entries[0].leading_space);
}

#[test]
fn lexer_parentheses_continue_an_entry_over_lines() {
    let entries = lex("@ SOA ns host (\n 1 ; serial\n 2 3\n 4 5 )\nnext A 1.2.3.4\n");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        texts(&entries[0].tokens),
        ["@", "SOA", "ns", "host", "1", "2", "3", "4", "5"]
    );
    assert_eq!(entries[0].line, 1);
    assert_eq!(entries[0].tokens[4].line, 2);
    assert_eq!(entries[1].line, 5);
}

#[test]
fn lexer_rejects_nested_parentheses() {
    let entries = lex("a TXT ( ( x ) )\n");
    assert_eq!(
        entries[0].error.as_ref().unwrap().message,
        "nested parenthesis"
    );
}

#[test]
fn lexer_rejects_unbalanced_parentheses() {
    let entries = lex("a TXT x )\n");
    assert_eq!(
        entries[0].error.as_ref().unwrap().message,
        "unbalanced parenthesis"
    );
    let entries = lex("a TXT (\n x\n");
    let err = entries[0].error.as_ref().unwrap();
    assert_eq!(
        (err.line, err.message.as_str()),
        (1, "unbalanced parenthesis")
    );
}

#[test]
fn lexer_quoted_strings_keep_spaces_semicolons_and_escaped_quotes() {
    let entries = lex(r#"a TXT "hello world; not a comment" "say \"hi\"" ""x"#);
    let tokens = &entries[0].tokens;
    assert_eq!(
        texts(tokens),
        [
            "a",
            "TXT",
            "hello world; not a comment",
            r#"say \"hi\""#,
            "",
            "x"
        ]
    );
    assert!(tokens[2].quoted && tokens[3].quoted && tokens[4].quoted);
    assert!(!tokens[5].quoted && !tokens[5].space_before);
}

#[test]
fn lexer_reports_unterminated_quoted_string() {
    let entries = lex("a TXT \"open\nb A 1.2.3.4\n");
    assert_eq!(entries.len(), 2);
    let err = entries[0].error.as_ref().unwrap();
    assert_eq!(
        (err.line, err.message.as_str()),
        (1, "unterminated quoted string")
    );
    assert!(entries[1].error.is_none());
}

#[test]
fn lexer_keeps_escapes_intact() {
    let entries = lex(r"a\.b\065 TXT a\ b \; \( \#");
    assert_eq!(
        texts(&entries[0].tokens),
        [r"a\.b\065", "TXT", r"a\ b", r"\;", r"\(", r"\#"]
    );
}

#[test]
fn lexer_marks_leading_whitespace_as_no_owner() {
    let entries = lex("a A 1.2.3.4\n\tA 1.2.3.5\n  AAAA ::1\n");
    let flags: Vec<bool> = entries.iter().map(|e| e.leading_space).collect();
    assert_eq!(flags, [false, true, true]);
}

#[test]
fn lexer_tolerates_crlf_line_ends() {
    let entries = lex("a A 1.2.3.4\r\nb TXT \"x\"\r\n\r\n");
    assert_eq!(entries.len(), 2);
    assert_eq!(texts(&entries[0].tokens), ["a", "A", "1.2.3.4"]);
    assert_eq!(texts(&entries[1].tokens), ["b", "TXT", "x"]);
    assert_eq!(entries[1].line, 2);
}

#[test]
fn lexer_skips_byte_order_mark() {
    let entries = lex("\u{feff}a A 1.2.3.4\n");
    assert_eq!(texts(&entries[0].tokens), ["a", "A", "1.2.3.4"]);
    assert!(!entries[0].leading_space);
}

#[test]
fn non_utf8_bytes_are_reported_with_their_line() {
    let dir = TempDir::new();
    let path = dir.write(
        "bad.zone",
        b"$TTL 60\na A 192.0.2.1\nb TXT \"\xff\xfe\"\n; comment \xc3\nc A 192.0.2.3\n",
    );
    let errs = parse_file(&path, &opts()).unwrap_err();
    let lines: Vec<(u32, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(lines, [(3, "invalid UTF-8"), (4, "invalid UTF-8")]);
    assert_eq!(errs[0].file, path);
}

// ---- entries --------------------------------------------------------------

#[test]
fn ttl_and_class_may_come_in_either_order() {
    let zone =
        parse("a 300 IN A 192.0.2.1\nb IN 300 A 192.0.2.2\nc IN A 192.0.2.3\nd 60 A 192.0.2.4\n");
    let got: Vec<(Vec<u8>, u32)> = zone
        .records
        .iter()
        .map(|r| (r.owner.clone(), r.ttl))
        .collect();
    assert_eq!(
        got,
        [
            (wire("a.example.com."), 300),
            (wire("b.example.com."), 300),
            (wire("c.example.com."), 300),
            (wire("d.example.com."), 60),
        ]
    );
    assert!(zone.records.iter().all(|r| r.class == 1 && r.rtype == 1));
}

#[test]
fn record_fields_and_position_are_filled_in() {
    let zone = parse("$TTL 3600\n\nwww IN A 192.0.2.1\n");
    let rec = &zone.records[0];
    assert_eq!(rec.owner, wire("www.example.com."));
    assert_eq!((rec.rtype, rec.class, rec.ttl), (1, 1, 3600));
    assert_eq!(rec.rdata, [192, 0, 2, 1]);
    assert_eq!(rec.pos.line, 3);
    assert_eq!(rec.pos.to_string(), "test.zone:3");
}

#[test]
fn class_in_may_be_written_generically() {
    assert_eq!(rr("a CLASS1 A 192.0.2.1").class, 1);
    assert_eq!(rr("a in a 192.0.2.1").rtype, 1);
}

#[test]
fn classes_other_than_in_are_rejected() {
    assert_eq!(
        single_error("$TTL 1\na CH TXT x\n"),
        (2, "record class CH not supported".to_string())
    );
    assert_eq!(
        single_error("$TTL 1\na 300 CLASS3 TXT x\n").1,
        "record class CLASS3 not supported"
    );
    assert_eq!(
        single_error("$TTL 1\na HS A 1.2.3.4\n").1,
        "record class HS not supported"
    );
}

#[test]
fn unknown_record_type_is_reported() {
    assert_eq!(
        single_error("$TTL 1\n\nwww IN AA 192.0.2.1\n"),
        (3, "unknown record type \"AA\"".to_string())
    );
}

#[test]
fn missing_record_type_is_reported() {
    assert_eq!(single_error("www 300 IN\n").1, "missing record type");
}

#[test]
fn meta_types_are_rejected() {
    assert_eq!(
        single_error("$TTL 1\na AXFR x\n").1,
        "record type AXFR cannot appear in a zone file"
    );
    assert_eq!(
        single_error("$TTL 1\na OPT x\n").1,
        "record type OPT cannot appear in a zone file"
    );
}

#[test]
fn bad_ttl_is_reported() {
    assert_eq!(
        single_error("www 1x IN A 192.0.2.1\n"),
        (1, "bad TTL \"1x\"".to_string())
    );
    assert_eq!(single_error("www 1h30 A 192.0.2.1\n").1, "bad TTL \"1h30\"");
}

#[test]
fn trailing_data_is_reported() {
    assert_eq!(
        single_error("$TTL 1\nwww A 192.0.2.1 foo\n"),
        (2, "trailing data \"foo\"".to_string())
    );
    assert_eq!(single_error("$TTL 60 extra\n").1, "trailing data \"extra\"");
}

#[test]
fn invalid_addresses_name_the_token() {
    assert_eq!(
        single_error("$TTL 1\nwww A 1.2.3\n"),
        (2, "bad A rdata: invalid IPv4 address \"1.2.3\"".to_string())
    );
    assert_eq!(
        single_error("$TTL 1\nwww AAAA 2001:db8::g\n").1,
        "bad AAAA rdata: invalid IPv6 address \"2001:db8::g\""
    );
}

#[test]
fn domain_rdata_errors_are_included() {
    let (line, msg) = single_error("$TTL 1\nwww MX ten mail\n");
    assert_eq!(line, 2);
    assert!(msg.starts_with("bad MX rdata: "), "{msg}");
    assert!(msg.contains("\"ten\""), "{msg}");
    let (_, msg) = single_error("$TTL 1\nwww MX 10\n");
    assert_eq!(msg, "bad MX rdata: missing data (unexpected end of entry)");
}

// ---- TTLs -------------------------------------------------------------------

#[test]
fn ttl_units_are_accepted_in_any_case() {
    assert_eq!(parse_ttl("3600"), Ok(3600));
    assert_eq!(parse_ttl("1h30m"), Ok(5400));
    assert_eq!(parse_ttl("2D"), Ok(172_800));
    assert_eq!(parse_ttl("1w"), Ok(604_800));
    assert_eq!(
        parse_ttl("1W2d3H4m5S"),
        Ok(604_800 + 172_800 + 10_800 + 240 + 5)
    );
    assert_eq!(parse_ttl("0"), Ok(0));
    assert_eq!(rr("a 1h30m A 192.0.2.1").ttl, 5400);
}

#[test]
fn ttl_syntax_errors() {
    for bad in ["", "h", "1x", "1h30", "-1", "1.5", "1hh"] {
        assert_eq!(parse_ttl(bad), Err(ttl::TtlError::Syntax), "{bad:?}");
    }
}

#[test]
fn ttl_above_2_pow_31_minus_1_is_rejected() {
    assert_eq!(parse_ttl("2147483647"), Ok(MAX_TTL));
    assert_eq!(parse_ttl("2147483648"), Err(ttl::TtlError::Range));
    assert_eq!(
        parse_ttl("99999999999999999999999"),
        Err(ttl::TtlError::Range)
    );
    assert_eq!(parse_ttl("4000w"), Err(ttl::TtlError::Range));
    let (line, msg) = single_error("a 2147483648 A 192.0.2.1\n");
    assert_eq!(line, 1);
    assert!(msg.starts_with("bad TTL \"2147483648\""), "{msg}");
    assert!(single_error("$TTL 4294967295\n").1.starts_with("bad TTL"));
}

#[test]
fn dollar_ttl_applies_and_accepts_units() {
    let zone = parse("$TTL 2h\na A 192.0.2.1\nb 60 A 192.0.2.2\nc A 192.0.2.3\n");
    let ttls: Vec<u32> = zone.records.iter().map(|r| r.ttl).collect();
    // RFC 2308 §4: $TTL, not the previous explicit TTL, fills in.
    assert_eq!(ttls, [7200, 60, 7200]);
}

#[test]
fn last_explicit_ttl_is_used_without_dollar_ttl() {
    let zone = parse("a 120 A 192.0.2.1\nb A 192.0.2.2\nc 30 A 192.0.2.3\nd A 192.0.2.4\n");
    let ttls: Vec<u32> = zone.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [120, 120, 30, 30]);
}

#[test]
fn default_ttl_option_is_used_when_nothing_else_gives_one() {
    let mut o = opts();
    o.default_ttl = Some(999);
    let zone = parse_with("a A 192.0.2.1\nb 5 A 192.0.2.2\nc A 192.0.2.3\n", &o);
    let ttls: Vec<u32> = zone.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [999, 5, 5]);
}

#[test]
fn soa_minimum_is_the_fallback_ttl_with_a_warning() {
    let zone = parse("@ SOA ns hostmaster 1 2 3 4 300\nwww A 192.0.2.1\n");
    let ttls: Vec<u32> = zone.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [300, 300]);
    assert_eq!(zone.warnings.len(), 1);
    assert!(zone.warnings[0].message.contains("SOA MINIMUM 300"));
    assert_eq!(zone.warnings[0].line, 1);
}

#[test]
fn missing_ttl_is_an_error() {
    assert_eq!(
        single_error("\nwww A 192.0.2.1\n"),
        (2, "no TTL given and no $TTL directive".to_string())
    );
}

#[test]
fn soa_timers_accept_ttl_units() {
    let a = rr("@ SOA ns hostmaster 2024010101 1d 2h 4w 1h");
    let b = rr("@ SOA ns hostmaster 2024010101 86400 7200 2419200 3600");
    assert_eq!(a.rdata, b.rdata);
    assert_eq!(
        present(6, &a.rdata),
        "ns.example.com. hostmaster.example.com. 2024010101 86400 7200 2419200 3600"
    );
    assert_eq!(
        single_error("$TTL 1\n@ SOA ns hostmaster 1 1x 2 3 4\n").1,
        "bad SOA rdata: invalid refresh \"1x\""
    );
    // The serial is a number, not a duration.
    assert!(single_error("$TTL 1\n@ SOA ns hostmaster 1h 1 2 3 4\n")
        .1
        .starts_with("bad SOA rdata"));
}

// ---- names ----------------------------------------------------------------

#[test]
fn owner_names_at_relative_absolute_and_escaped() {
    let zone = parse(concat!(
        "$TTL 1\n",
        "@ A 192.0.2.1\n",
        "www A 192.0.2.2\n",
        "host.example.org. A 192.0.2.3\n",
        "a\\.b A 192.0.2.4\n",
        "\\065bc A 192.0.2.5\n",
        "*.wild A 192.0.2.6\n",
        "WwW.MiXeD A 192.0.2.7\n",
        "sp\\ ace A 192.0.2.8\n",
    ));
    let owners: Vec<Vec<u8>> = zone.records.iter().map(|r| r.owner.clone()).collect();
    assert_eq!(owners[0], ORIGIN);
    assert_eq!(owners[1], wire("www.example.com."));
    assert_eq!(owners[2], wire("host.example.org."));
    assert_eq!(owners[3], b"\x03a.b\x07example\x03com\x00");
    assert_eq!(owners[4], wire("Abc.example.com."));
    assert_eq!(owners[5], wire("*.wild.example.com."));
    // Case is kept as written.
    assert_eq!(owners[6], b"\x03WwW\x05MiXeD\x07example\x03com\x00");
    assert_eq!(owners[7], b"\x06sp ace\x07example\x03com\x00");
}

#[test]
fn blank_owner_repeats_the_previous_owner() {
    let zone = parse("$TTL 1\nwww A 192.0.2.1\n    AAAA 2001:db8::1\n\tTXT x\n");
    assert!(zone
        .records
        .iter()
        .all(|r| r.owner == wire("www.example.com.")));
    assert_eq!(zone.records.len(), 3);
}

#[test]
fn blank_owner_without_previous_owner_is_an_error() {
    let (line, msg) = single_error("$TTL 1\n  A 192.0.2.1\n");
    assert_eq!(line, 2);
    assert!(msg.starts_with("no owner name"), "{msg}");
}

#[test]
fn label_longer_than_63_octets_is_rejected() {
    let label = "a".repeat(64);
    let (line, msg) = single_error(&format!("$TTL 1\n{label} A 192.0.2.1\n"));
    assert_eq!(line, 2);
    assert!(msg.contains("label longer than 63 octets"), "{msg}");
    assert!(rr(&format!("{} A 192.0.2.1", "a".repeat(63))).owner.len() == 64 + ORIGIN.len());
}

#[test]
fn name_longer_than_255_octets_is_rejected() {
    let long = vec!["a".repeat(60); 4].join(".");
    // 4 * 61 + 13 (example.com) = 257 octets.
    let (_, msg) = single_error(&format!("$TTL 1\n{long} A 192.0.2.1\n"));
    assert!(msg.contains("domain name longer than 255 octets"), "{msg}");
    let (_, msg) = single_error(&format!("$TTL 1\nwww CNAME {long}\n"));
    assert!(msg.contains("domain name longer than 255 octets"), "{msg}");
}

#[test]
fn name_helper_edge_cases() {
    assert_eq!(name_from_presentation(".", ORIGIN).unwrap(), [0]);
    assert_eq!(name_from_presentation("@", ORIGIN).unwrap(), ORIGIN);
    assert!(matches!(
        name_from_presentation("a..b", ORIGIN),
        Err(NameError::EmptyLabel(_))
    ));
    assert!(matches!(
        name_from_presentation(".a", ORIGIN),
        Err(NameError::EmptyLabel(_))
    ));
    assert!(matches!(
        name_from_presentation("a\\", ORIGIN),
        Err(NameError::BadEscape(_))
    ));
    assert!(matches!(
        name_from_presentation("a\\300", ORIGIN),
        Err(NameError::BadEscape(_))
    ));
    assert!(matches!(
        name_from_presentation("é", ORIGIN),
        Err(NameError::BadChar(_))
    ));
    assert_eq!(
        name_from_presentation("a\\.b.", ORIGIN).unwrap(),
        b"\x03a.b\x00"
    );
    assert_eq!(
        name_to_presentation(b"\x03a.b\x07example\x00"),
        "a\\.b.example."
    );
    assert_eq!(name_to_presentation(b"\x00"), ".");
    assert!(is_valid_wire_name(ORIGIN));
    assert!(!is_valid_wire_name(b"\x07example"));
    assert!(!is_valid_wire_name(b"\x00\x00"));
}

#[test]
fn rdata_names_are_completed_with_the_origin_and_keep_case() {
    let rec = rr("www CNAME Host.Sub");
    assert_eq!(rec.rdata, b"\x04Host\x03Sub\x07example\x03com\x00");
    assert_eq!(rr("www CNAME @").rdata, ORIGIN);
    assert_eq!(rr("www CNAME other.net.").rdata, wire("other.net."));
}

#[test]
fn invalid_origin_option_is_rejected() {
    let o = ParseOptions::new(b"\x07example".to_vec());
    let errs = parse_str("", Path::new("x"), &o).unwrap_err();
    assert!(errs[0].message.contains("origin"));
}

// ---- directives ---------------------------------------------------------------

#[test]
fn origin_directive_is_relative_to_the_current_origin() {
    let zone = parse(concat!(
        "$TTL 1\n",
        "$ORIGIN sub\n",
        "a A 192.0.2.1\n",
        "$ORIGIN deeper.sub.example.com.\n",
        "b A 192.0.2.2\n",
        "$origin other.net.\n",
        "@ A 192.0.2.3\n",
    ));
    let owners: Vec<Vec<u8>> = zone.records.iter().map(|r| r.owner.clone()).collect();
    assert_eq!(
        owners,
        [
            wire("a.sub.example.com."),
            wire("b.deeper.sub.example.com."),
            wire("other.net."),
        ]
    );
}

#[test]
fn unknown_directive_is_an_error() {
    assert_eq!(
        single_error("$FOO bar\n"),
        (1, "unknown directive \"$FOO\"".to_string())
    );
}

#[test]
fn include_applies_its_origin_only_inside_the_included_file() {
    let dir = TempDir::new();
    dir.write(
        "inc/hosts.zone",
        "@ A 192.0.2.10\nwww A 192.0.2.11\n  AAAA 2001:db8::11\n$ORIGIN changed.\n",
    );
    let top = dir.write(
        "main.zone",
        "$TTL 60\nfirst A 192.0.2.1\n$INCLUDE inc/hosts.zone sub\n  A 192.0.2.2\nlast A 192.0.2.3\n",
    );
    let zone = parse_file(&top, &opts()).unwrap();
    let got: Vec<(Vec<u8>, String)> = zone
        .records
        .iter()
        .map(|r| (r.owner.clone(), r.pos.to_string()))
        .collect();
    let inc = dir.0.join("inc/hosts.zone");
    let main = dir.0.join("main.zone");
    assert_eq!(
        got,
        [
            (wire("first.example.com."), format!("{}:2", main.display())),
            (wire("sub.example.com."), format!("{}:1", inc.display())),
            (wire("www.sub.example.com."), format!("{}:2", inc.display())),
            (wire("www.sub.example.com."), format!("{}:3", inc.display())),
            // The owner and origin of the including file are back.
            (wire("first.example.com."), format!("{}:4", main.display())),
            (wire("last.example.com."), format!("{}:5", main.display())),
        ]
    );
}

#[test]
fn include_without_origin_uses_the_current_origin() {
    let dir = TempDir::new();
    dir.write("b.zone", "x A 192.0.2.1\n");
    let top = dir.write("a.zone", "$TTL 60\n$ORIGIN net.\n$INCLUDE \"b.zone\"\n");
    let zone = parse_file(&top, &opts()).unwrap();
    assert_eq!(zone.records[0].owner, wire("x.net."));
}

#[test]
fn include_of_a_missing_file_is_reported() {
    let dir = TempDir::new();
    let top = dir.write("a.zone", "$TTL 60\n\n$INCLUDE x\n");
    let errs = parse_file(&top, &opts()).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 3);
    assert_eq!(errs[0].message, "$INCLUDE file \"x\" not found");
    assert_eq!(
        errs[0].to_string(),
        format!("{}:3: $INCLUDE file \"x\" not found", top.display())
    );
}

#[test]
fn include_may_not_escape_the_zone_directory() {
    let dir = TempDir::new();
    dir.write("outside.zone", "x A 192.0.2.1\n");
    let top = dir.write("zones/a.zone", "$TTL 60\n$INCLUDE ../outside.zone\n");
    let errs = parse_file(&top, &opts()).unwrap_err();
    assert_eq!(
        errs[0].message,
        "$INCLUDE \"../outside.zone\" escapes the zone directory"
    );

    let abs = dir.0.join("outside.zone");
    let top2 = dir.write(
        "zones/b.zone",
        format!("$TTL 60\n$INCLUDE {}\n", abs.display()),
    );
    let errs = parse_file(&top2, &opts()).unwrap_err();
    assert!(errs[0].message.ends_with("escapes the zone directory"));

    let mut o = opts();
    o.allow_include_anywhere = true;
    assert_eq!(parse_file(&top, &o).unwrap().records.len(), 1);

    let mut o = opts();
    o.include_root = Some(dir.0.clone());
    assert_eq!(parse_file(&top, &o).unwrap().records.len(), 1);
}

#[test]
fn include_nesting_is_limited() {
    let dir = TempDir::new();
    let top = dir.write("loop.zone", "$TTL 60\n$INCLUDE loop.zone\n");
    let errs = parse_file(&top, &opts()).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].message, "$INCLUDE nested too deeply (max 8)");

    let mut o = opts();
    o.max_include_depth = 1;
    dir.write("c.zone", "c A 192.0.2.3\n");
    dir.write("b.zone", "b A 192.0.2.2\n$INCLUDE c.zone\n");
    let top = dir.write("a.zone", "$TTL 60\n$INCLUDE b.zone\n");
    let errs = parse_file(&top, &o).unwrap_err();
    assert_eq!(errs[0].message, "$INCLUDE nested too deeply (max 1)");
    assert_eq!(errs[0].file, dir.0.join("b.zone"));
    assert_eq!(errs[0].line, 2);
    o.max_include_depth = 2;
    assert_eq!(parse_file(&top, &o).unwrap().records.len(), 2);
}

#[test]
fn include_in_parse_str_is_relative_to_the_given_file_name() {
    let dir = TempDir::new();
    dir.write("part.zone", "p A 192.0.2.1\n");
    let zone = parse_str(
        "$TTL 60\n$INCLUDE part.zone\n",
        &dir.0.join("virtual.zone"),
        &opts(),
    )
    .unwrap();
    assert_eq!(zone.records[0].owner, wire("p.example.com."));
}

#[test]
fn missing_top_file_is_reported() {
    let dir = TempDir::new();
    let errs = parse_file(&dir.0.join("nope.zone"), &opts()).unwrap_err();
    assert_eq!(errs[0].line, 0);
    assert_eq!(errs[0].message, "zone file not found");
}

// ---- $GENERATE ----------------------------------------------------------------

fn generated(text: &str) -> Vec<(String, u16, Vec<u8>)> {
    parse(text)
        .records
        .into_iter()
        .map(|r| (name_to_presentation(&r.owner), r.rtype, r.rdata))
        .collect()
}

#[test]
fn generate_bind_doc_example_ns_and_cname() {
    let recs = generated(concat!(
        "$TTL 86400\n",
        "$ORIGIN 0.0.192.IN-ADDR.ARPA.\n",
        "$GENERATE 1-2 @ NS SERVER$.EXAMPLE.\n",
        "$GENERATE 1-2 0 NS SERVER$.EXAMPLE.\n",
        "$GENERATE 1-127 $ CNAME $.0\n",
    ));
    assert_eq!(recs.len(), 2 + 2 + 127);
    assert_eq!(
        recs[0],
        ("0.0.192.IN-ADDR.ARPA.".into(), 2, wire("SERVER1.EXAMPLE."))
    );
    assert_eq!(
        recs[1],
        ("0.0.192.IN-ADDR.ARPA.".into(), 2, wire("SERVER2.EXAMPLE."))
    );
    assert_eq!(
        recs[2],
        (
            "0.0.0.192.IN-ADDR.ARPA.".into(),
            2,
            wire("SERVER1.EXAMPLE.")
        )
    );
    assert_eq!(
        recs[4],
        (
            "1.0.0.192.IN-ADDR.ARPA.".into(),
            5,
            wire("1.0.0.0.192.IN-ADDR.ARPA.")
        )
    );
    assert_eq!(
        recs[130],
        (
            "127.0.0.192.IN-ADDR.ARPA.".into(),
            5,
            wire("127.0.0.0.192.IN-ADDR.ARPA.")
        )
    );
}

#[test]
fn generate_modifiers_offset_width_and_base() {
    let recs = generated(concat!(
        "$TTL 60\n",
        "$GENERATE 9-10 h${0,3,x} A 10.0.0.$\n",
        "$GENERATE 9-10 h${0,3,X} A 10.0.0.$\n",
        "$GENERATE 7-8 o${0,4,o} A 10.0.0.$\n",
        "$GENERATE 1-2 p${-1} A 10.0.0.${100}\n",
        "$GENERATE 1-2 z${0,3} A 10.0.0.$\n",
        "$GENERATE 1-1 neg${-3,3,d} A 10.0.0.1\n",
    ));
    let owners: Vec<&str> = recs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        owners,
        [
            "h009.example.com.",
            "h00a.example.com.",
            "h009.example.com.",
            "h00A.example.com.",
            "o0007.example.com.",
            "o0010.example.com.",
            "p0.example.com.",
            "p1.example.com.",
            "z001.example.com.",
            "z002.example.com.",
            "neg-02.example.com.",
        ]
    );
    assert_eq!(recs[0].2, [10, 0, 0, 9]);
    assert_eq!(recs[6].2, [10, 0, 0, 101]);
}

#[test]
fn generate_nibble_mode_matches_bind() {
    let recs = generated(concat!(
        "$TTL 60\n",
        "$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.\n",
        "$GENERATE 10-11 ${0,3,n} PTR host$.example.\n",
        "$GENERATE 26-26 ${0,0,N} PTR host$.example.\n",
        "$GENERATE 1-1 ${0,4,n}x PTR host$.example.\n",
    ));
    let owners: Vec<&str> = recs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        owners,
        [
            "a.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            "b.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            "A.1.8.b.d.0.1.0.0.2.ip6.arpa.",
            // An even width leaves BIND's trailing label separator.
            "1.0.x.8.b.d.0.1.0.0.2.ip6.arpa.",
        ]
    );
    assert_eq!(recs[0].2, wire("host10.example."));
}

#[test]
fn generate_literal_dollar_signs() {
    let recs = generated("$TTL 60\n$GENERATE 1-1 a$$b TXT \\$x\n$GENERATE 1-1 c\\$d TXT x$\n");
    assert_eq!(recs[0].0, "a\\$b.example.com.");
    assert_eq!(recs[0].2, b"\x02$x");
    assert_eq!(recs[1].0, "c\\$d.example.com.");
    assert_eq!(recs[1].2, b"\x02x1");
}

#[test]
fn generate_accepts_ttl_class_and_step() {
    let zone = parse("$GENERATE 0-10/5 h$ 300 IN A 192.0.2.$\n$GENERATE 1-1 g IN 60 A 192.0.2.1\n");
    let got: Vec<(String, u32)> = zone
        .records
        .iter()
        .map(|r| (name_to_presentation(&r.owner), r.ttl))
        .collect();
    assert_eq!(
        got,
        [
            ("h0.example.com.".to_string(), 300),
            ("h5.example.com.".to_string(), 300),
            ("h10.example.com.".to_string(), 300),
            ("g.example.com.".to_string(), 60),
        ]
    );
    assert!(zone.records.iter().all(|r| r.pos.line <= 2));
}

#[test]
fn generate_quoted_rhs_is_read_as_rdata() {
    let recs = generated(
        "$TTL 60\n$GENERATE 1-2 host$ MX \"10 mail$\"\n$GENERATE 1-1 t TXT \"\\\"v=$ x\\\"\"\n",
    );
    assert_eq!(
        recs[0].2,
        [&[0u8, 10][..], &wire("mail1.example.com.")].concat()
    );
    assert_eq!(
        recs[1].2,
        [&[0u8, 10][..], &wire("mail2.example.com.")].concat()
    );
    assert_eq!(recs[2].2, b"\x05v=1 x");
}

#[test]
fn generate_count_is_limited() {
    let mut o = opts();
    o.max_generate = 100;
    let errs = errors_with("$TTL 60\n$GENERATE 0-100 h$ A 192.0.2.1\n", &o);
    assert_eq!(
        errs[0].message,
        "$GENERATE would create 101 records (max 100)"
    );
    assert_eq!(errs[0].line, 2);
    let errs = errors("$TTL 60\n$GENERATE 0-2147483647 h$ A 192.0.2.1\n");
    assert_eq!(
        errs[0].message,
        "$GENERATE would create 2147483648 records (max 65536)"
    );
}

#[test]
fn generate_bad_ranges_and_modifiers_are_reported() {
    for range in ["5-1", "1-2/0", "a-b", "1", "-1-2", "1-2147483648"] {
        let (_, msg) = single_error(&format!("$TTL 1\n$GENERATE {range} h$ A 192.0.2.1\n"));
        assert_eq!(msg, format!("invalid $GENERATE range \"{range}\""));
    }
    let (line, msg) = single_error("$TTL 1\n$GENERATE 1-3 h${0,3,q} A 192.0.2.1\n");
    assert_eq!(line, 2);
    assert_eq!(
        msg,
        "bad $GENERATE modifier \"${0,3,q}\" (in $GENERATE iteration 1)"
    );
    assert!(single_error("$TTL 1\n$GENERATE 1-3 h${0 A 192.0.2.1\n")
        .1
        .starts_with("bad $GENERATE modifier"));
    // Only one error for a template that fails on every iteration.
    let (_, msg) = single_error("$TTL 1\n$GENERATE 1-3 h$ A 192.0.2.$$\n");
    assert!(
        msg.starts_with("bad A rdata: invalid IPv4 address \"192.0.2.$\""),
        "{msg}"
    );
    assert!(single_error("$TTL 1\n$GENERATE 1-3 h$ AA x\n").1 == "unknown record type \"AA\"");
    assert!(single_error("$TTL 1\n$GENERATE 1-3 h$ A\n").1 == "$GENERATE needs rdata");
}

#[test]
fn generate_expansion_unit() {
    assert_eq!(generate::expand("a$b", 7).unwrap(), "a7b");
    assert_eq!(generate::expand("${10}", 7).unwrap(), "17");
    assert_eq!(generate::expand("${+1,2}", 7).unwrap(), "08");
    assert_eq!(generate::expand("${0,0,n}", 0x123).unwrap(), "3.2.1");
    assert_eq!(generate::expand("${0,5,n}", 0x1).unwrap(), "1.0.0");
    assert_eq!(generate::expand("${0,6,n}", 0x1).unwrap(), "1.0.0.");
    assert_eq!(generate::expand("${-8,0,x}", 7).unwrap(), "ffffffff");
    assert_eq!(generate::expand("\\$$", 7).unwrap(), "\\$7");
    assert!(generate::expand("${1,2,3,4}", 7).is_err());
    assert!(generate::expand("${x}", 7).is_err());
    assert_eq!(
        generate::GenRange::parse("1-10/3").map(|r| (r.count(), r.iter().collect::<Vec<_>>())),
        Some((4, vec![1, 4, 7, 10]))
    );
}

// ---- RFC 3597 -----------------------------------------------------------------

#[test]
fn generic_rdata_for_unknown_types() {
    let rec = rr("a TYPE65280 \\# 4 0A000001");
    assert_eq!(
        (rec.rtype, rec.rdata.as_slice()),
        (65280, &[10u8, 0, 0, 1][..])
    );
    let rec = rr("a TYPE65280 \\# 6 0A00 00 01 FFee");
    assert_eq!(rec.rdata, [10, 0, 0, 1, 0xff, 0xee]);
    let rec = rr("a TYPE65280 \\# 0");
    assert!(rec.rdata.is_empty());
}

#[test]
fn generic_rdata_for_known_types() {
    assert_eq!(rr("a A \\# 4 C0000201").rdata, [192, 0, 2, 1]);
    assert_eq!(rr("a TYPE1 192.0.2.1").rdata, [192, 0, 2, 1]);
    assert_eq!(rr("a TYPE1 \\# 4 C0000201").rtype, 1);
    let (_, msg) = single_error("$TTL 1\na A \\# 3 C00002\n");
    assert!(
        msg.starts_with("bad A rdata: \\# data is not valid A rdata"),
        "{msg}"
    );
    let (_, msg) = single_error("$TTL 1\na A \\# 5 C000020101\n");
    assert!(msg.contains("1 octets left over"), "{msg}");
}

#[test]
fn generic_rdata_length_must_match() {
    let (line, msg) = single_error("$TTL 1\na TYPE65280 \\# 5 0A000001\n");
    assert_eq!(line, 2);
    assert!(
        msg.starts_with("bad TYPE65280 rdata: generic data has incorrect length"),
        "{msg}"
    );
    let (_, msg) = single_error("$TTL 1\na TYPE65280 \\# 1 0A0\n");
    assert!(msg.starts_with("bad TYPE65280 rdata"), "{msg}");
}

#[test]
fn unknown_type_needs_generic_rdata() {
    let (_, msg) = single_error("$TTL 1\na TYPE65280 0A000001\n");
    assert!(
        msg.starts_with("no presentation format known for type TYPE65280"),
        "{msg}"
    );
    // A quoted \# is data, not the marker.
    let (_, msg) = single_error("$TTL 1\na TYPE65280 \"\\#\" 0\n");
    assert!(msg.starts_with("no presentation format known"), "{msg}");
}

// ---- DNSSEC ---------------------------------------------------------------------

const DNSKEY_RFC4034: &str = "256 3 5 ( AQPSKmynfzW4kyBv015MUG2DeIQ3
                                  Cbl+BBZH4b/0PY1kxkmvHjcZc8no
                                  kfzj31GajIQKY+5CptLr3buXA10h
                                  WqTkF7H6RfoRqXQeogmMHfpftf6z
                                  Mv1LyBUgia7za6ZEzOJBOztyvhjL
                                  742iU/TpPSEDhm2SNKLijfUppn1U
                                  aNvv4w== )";

#[test]
fn dnskey_parses() {
    let rec = rr(&format!("example.com. 86400 IN DNSKEY {DNSKEY_RFC4034}"));
    assert_eq!(rec.rtype, 48);
    assert_eq!(rec.rdata[..4], [0x01, 0x00, 3, 5]);
    assert!(present(48, &rec.rdata).starts_with("256 3 5 AQPSKmynfzW4kyBv015MUG2DeIQ3"));
    assert_eq!(rec.pos.line, 2);
}

#[test]
fn cdnskey_parses() {
    let rec = rr(&format!("@ CDNSKEY {DNSKEY_RFC4034}"));
    assert_eq!(rec.rtype, 60);
    let dnskey = rr(&format!("@ DNSKEY {DNSKEY_RFC4034}"));
    assert_eq!(rec.rdata, dnskey.rdata);
    // RFC 8078 §4: the delete request.
    assert_eq!(rr("@ CDNSKEY 0 3 0 AA==").rdata, [0, 0, 3, 0, 0]);
}

const RRSIG_SIG: &str = "oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTr
                                  PYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6o
                                  B9wfuh3DTJXUAfI/M0zmO/zz8bW0Rznl8O3t
                                  GNazPwQKkRN20XPXV6nwwfoXmJQbsLNrLfkG
                                  J5D6fwFm8nN+6pBzeDQfsS3Ap3o=";

#[test]
fn rrsig_parses_with_date_and_epoch_times() {
    let dated = rr(&format!(
        "host.example.com. 86400 IN RRSIG A 5 3 86400 20030322173103 (\n 20030220173103 2642 example.com.\n {RRSIG_SIG} )"
    ));
    let epoch = rr(&format!(
        "host.example.com. 86400 IN RRSIG A 5 3 86400 1048354263 (\n 1045762263 2642 example.com.\n {RRSIG_SIG} )"
    ));
    assert_eq!(dated.rtype, 46);
    assert_eq!(dated.rdata, epoch.rdata);
    // type covered, algorithm, labels, original TTL, expiration, inception.
    assert_eq!(
        dated.rdata[..18],
        [
            0, 1, 5, 3, 0, 1, 0x51, 0x80, 0x3e, 0x7c, 0x9d, 0xd7, 0x3e, 0x55, 0x10, 0xd7, 0x0a,
            0x52
        ]
    );
}

#[test]
fn nsec_parses() {
    let rec = rr("alfa.example.com. 86400 IN NSEC host.example.com. ( A MX RRSIG NSEC TYPE1234 )");
    assert_eq!(rec.rtype, 47);
    let mut expected = wire("host.example.com.");
    expected.extend_from_slice(&[
        0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, // window 0
        0x04, 0x1b, // window 4, 27 octets: type 1234
    ]);
    expected.extend_from_slice(&[0; 26]);
    expected.push(0x20);
    assert_eq!(rec.rdata, expected);
}

#[test]
fn nsec3_parses() {
    let rec = rr(concat!(
        "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com. NSEC3 1 1 12 aabbccdd (\n",
        "    2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS\n",
        "    SOA NSEC3PARAM RRSIG )"
    ));
    assert_eq!(rec.rtype, 50);
    assert_eq!(
        present(50, &rec.rdata),
        "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NS SOA MX RRSIG DNSKEY NSEC3PARAM"
    );
}

#[test]
fn nsec3param_parses() {
    let rec = rr("@ NSEC3PARAM 1 0 12 aabbccdd");
    assert_eq!(rec.rdata, [1, 0, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd]);
    assert_eq!(rr("@ NSEC3PARAM 1 0 0 -").rdata, [1, 0, 0, 0, 0]);
}

#[test]
fn ds_and_cds_parse() {
    let ds =
        rr("dskey.example.com. 86400 IN DS 60485 5 1 ( 2BB183AF5F22588179A53B0A98631FAD1A292118 )");
    assert_eq!(ds.rtype, 43);
    assert_eq!(
        present(43, &ds.rdata),
        "60485 5 1 2bb183af5f22588179a53b0a98631fad1a292118"
    );
    let cds = rr("dskey CDS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118");
    assert_eq!((cds.rtype, &cds.rdata), (59, &ds.rdata));
    assert_eq!(rr("@ CDS 0 0 0 00").rdata, [0, 0, 0, 0, 0]);
}

// ---- other types ------------------------------------------------------------------

#[test]
fn csync_parses_in_zone_files() {
    let rec = rr("@ CSYNC 2024010101 3 A NS AAAA TYPE65280");
    assert_eq!(rec.rtype, 62);
    let csync = Csync::from_wire(&rec.rdata).unwrap();
    assert_eq!(csync.serial, Serial(2024010101));
    assert_eq!(csync.flags, 3);
    assert_eq!(csync.types, [1, 2, 28, 65280]);
    assert_eq!(
        rr("@ TYPE62 66 3 A NS AAAA").rdata,
        [0, 0, 0, 66, 0, 3, 0, 4, 0x60, 0, 0, 8]
    );
    assert_eq!(
        rr("@ CSYNC \\# 12 000000420003 0004 60000008").rdata,
        [0, 0, 0, 66, 0, 3, 0, 4, 0x60, 0, 0, 8]
    );
    let (_, msg) = single_error("$TTL 1\n@ CSYNC 1 0 BOGUS\n");
    assert_eq!(msg, "bad CSYNC rdata: unknown record type \"BOGUS\"");
    let (_, msg) = single_error("$TTL 1\n@ CSYNC \\# 8 00000042 0003 0000\n");
    assert!(
        msg.starts_with("bad CSYNC rdata: \\# data is not valid CSYNC rdata"),
        "{msg}"
    );
}

#[test]
fn txt_with_quotes_semicolons_escapes_and_utf8() {
    let rec =
        rr(r#"txt TXT "v=spf1 include:_spf.example.com; -all" "say \"hi\"" plain \065\; "héllo""#);
    let mut expected = Vec::new();
    for s in [
        &b"v=spf1 include:_spf.example.com; -all"[..],
        b"say \"hi\"",
        b"plain",
        b"A;",
        "héllo".as_bytes(),
    ] {
        expected.push(s.len() as u8);
        expected.extend_from_slice(s);
    }
    assert_eq!(rec.rdata, expected);
    assert_eq!(rr("e TXT \"\"").rdata, [0]);
    let (_, msg) = single_error(&format!("$TTL 1\nt TXT \"{}\"\n", "x".repeat(256)));
    assert!(
        msg.contains("character string longer than 255 octets"),
        "{msg}"
    );
}

#[test]
fn spf_is_parsed_like_txt() {
    let spf = rr("@ SPF \"v=spf1 -all\"");
    assert_eq!(
        (spf.rtype, spf.rdata.as_slice()),
        (99, &b"\x0bv=spf1 -all"[..])
    );
}

#[test]
fn common_types_parse() {
    assert_eq!(
        rr("@ MX 10 mail").rdata,
        [&[0u8, 10][..], &wire("mail.example.com.")].concat()
    );
    assert_eq!(
        rr("_sip._tcp SRV 10 60 5060 sip.example.com.").rdata,
        [&[0u8, 10, 0, 60, 0x13, 0xc4][..], &wire("sip.example.com.")].concat()
    );
    assert_eq!(
        rr("@ CAA 0 issue \"letsencrypt.org\"").rdata,
        [&[0u8, 5][..], b"issue", b"letsencrypt.org"].concat()
    );
    assert_eq!(rr("www AAAA 2001:db8::1").rdata.len(), 16);
    assert_eq!(rr("h HINFO \"PC\" \"Linux\"").rdata, b"\x02PC\x05Linux");
    let tlsa = rr("_443._tcp TLSA 3 1 1 ( 0C72AC70B745AC19998811B131D662C9 AC69DBDBE7CB23E5B514B56664C5D3D6 )");
    assert_eq!(tlsa.rdata.len(), 3 + 32);
}

#[test]
fn https_joins_key_and_quoted_value() {
    let rec = rr("@ HTTPS 1 . alpn=\"h2,h3\" port=443");
    assert_eq!(rec.rtype, 65);
    let expected = [
        &[0u8, 1, 0][..],                            // priority 1, target "."
        &[0, 1, 0, 6, 2, b'h', b'2', 2, b'h', b'3'], // alpn
        &[0, 3, 0, 2, 0x01, 0xbb],                   // port 443
    ]
    .concat();
    assert_eq!(rec.rdata, expected);
}

// ---- error handling -------------------------------------------------------------

#[test]
fn parsing_continues_after_errors() {
    let errs = errors(concat!(
        "$TTL 60\n",
        "a A 1.2.3\n",
        "b AA x\n",
        "c A 192.0.2.1\n",
        "d 1x A 192.0.2.1\n",
        "e CH A 192.0.2.1\n",
    ));
    let got: Vec<(u32, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "bad A rdata: invalid IPv4 address \"1.2.3\""),
            (3, "unknown record type \"AA\""),
            (5, "bad TTL \"1x\""),
            (6, "record class CH not supported"),
        ]
    );
}

#[test]
fn max_errors_stops_collecting() {
    let mut o = opts();
    o.max_errors = 3;
    let text = "$TTL 1\n".to_string() + &"a AA x\n".repeat(10);
    assert_eq!(errors_with(&text, &o).len(), 3);
    assert_eq!(
        errors(&("$TTL 1\n".to_string() + &"a AA x\n".repeat(150))).len(),
        100
    );
}

#[test]
fn errors_in_multi_line_entries_point_at_the_entry_not_the_next_line() {
    let text = concat!(
        "$TTL 60\n",
        "@ SOA ns hostmaster (\n",
        "      1 2 3 4 )\n",
        "next A 192.0.2.1\n",
        "txt TXT ( \"a\"\n",
        "   \"b\" ) extra ( \"c\n",
        "next2 A 192.0.2.1\n",
        "mx MX (\n",
        "   10 )\n",
        "after A 192.0.2.2\n",
    );
    let errs = errors(text);
    let got: Vec<(u32, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (3, "bad SOA rdata: missing data (unexpected end of entry)"),
            (6, "unterminated quoted string"),
            (9, "bad MX rdata: missing data (unexpected end of entry)"),
        ]
    );
}

#[test]
fn unbalanced_parenthesis_is_reported_at_the_opening_line() {
    let errs = errors("$TTL 60\na A 192.0.2.1\nb TXT ( \"x\"\nc A 192.0.2.3\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].line, errs[0].message.as_str()),
        (3, "unbalanced parenthesis")
    );
}

#[test]
fn error_display_is_file_colon_line_colon_message() {
    let err = ZoneFileError {
        file: PathBuf::from("zones/example.com"),
        line: 12,
        message: "unknown record type \"AA\"".into(),
    };
    assert_eq!(
        err.to_string(),
        "zones/example.com:12: unknown record type \"AA\""
    );
}

// ---- a realistic zone ------------------------------------------------------------

#[test]
fn realistic_zone_with_include_and_generate() {
    let dir = TempDir::new();
    dir.write(
        "hosts.inc",
        "; hosts of the sub zone\n@ IN A 192.0.2.20\nwww IN A 192.0.2.21\n",
    );
    let top = dir.write(
        "example.com.zone",
        r#"; example.com -- test zone
$ORIGIN example.com.
$TTL 1h
@       IN  SOA ns1.example.com. hostmaster.example.com. (
                2024010101 ; serial
                1d         ; refresh
                2h         ; retry
                4w         ; expire
                1h )       ; negative caching TTL
        IN  NS  ns1
        IN  NS  ns2.example.net.
        IN  MX  10 mail
ns1     IN  A     192.0.2.1
        IN  AAAA  2001:db8::1
mail    300 IN A  192.0.2.2
www     IN  CNAME @
txt     IN  TXT "v=spf1 include:_spf.example.com; -all" "second; string"
_sip._tcp IN SRV 10 60 5060 sip
@       IN  CAA 0 issue "letsencrypt.org"
$INCLUDE hosts.inc sub
after   IN  A 192.0.2.9
$GENERATE 1-4 dyn-${0,2} IN A 198.51.100.$
"#,
    );
    let start = std::time::Instant::now();
    let zone = parse_file(&top, &opts()).unwrap();
    assert!(start.elapsed().as_secs() < 5);
    assert!(zone.warnings.is_empty(), "{:?}", zone.warnings);
    let summary: Vec<(String, String, u32)> = zone
        .records
        .iter()
        .map(|r| {
            (
                name_to_presentation(&r.owner),
                crate::rdata::rtype_to_presentation(r.rtype),
                r.ttl,
            )
        })
        .collect();
    let expect = |o: &str, t: &str, ttl: u32| (o.to_string(), t.to_string(), ttl);
    assert_eq!(
        summary,
        [
            expect("example.com.", "SOA", 3600),
            expect("example.com.", "NS", 3600),
            expect("example.com.", "NS", 3600),
            expect("example.com.", "MX", 3600),
            expect("ns1.example.com.", "A", 3600),
            expect("ns1.example.com.", "AAAA", 3600),
            expect("mail.example.com.", "A", 300),
            expect("www.example.com.", "CNAME", 3600),
            expect("txt.example.com.", "TXT", 3600),
            expect("_sip._tcp.example.com.", "SRV", 3600),
            expect("example.com.", "CAA", 3600),
            expect("sub.example.com.", "A", 3600),
            expect("www.sub.example.com.", "A", 3600),
            expect("after.example.com.", "A", 3600),
            expect("dyn-01.example.com.", "A", 3600),
            expect("dyn-02.example.com.", "A", 3600),
            expect("dyn-03.example.com.", "A", 3600),
            expect("dyn-04.example.com.", "A", 3600),
        ]
    );
    assert_eq!(
        present(6, &zone.records[0].rdata),
        "ns1.example.com. hostmaster.example.com. 2024010101 86400 7200 2419200 3600"
    );
    assert_eq!(zone.records[0].pos.line, 4);
    assert_eq!(zone.records[2].rdata, wire("ns2.example.net."));
    assert_eq!(
        present(16, &zone.records[8].rdata),
        "\"v=spf1 include:_spf.example.com; -all\" \"second; string\""
    );
    assert_eq!(zone.records[17].rdata, [198, 51, 100, 4]);
    assert!(zone.records.iter().all(|r| r.class == 1));
}

#[test]
fn malformed_input_never_panics() {
    let zone = concat!(
        "$ORIGIN example.com.\n$TTL 1h\n",
        "@ IN SOA ns1 hostmaster ( 1 1d 2h 4w 1h )\n",
        "  NS ns1\n",
        "txt TXT \"a;b\" \"c\\\"d\" \\065\n",
        "$GENERATE 1-3 h${0,2,n} A 10.0.0.$\n",
        "a TYPE65280 \\# 2 abcd\n",
        "c CSYNC 1 3 A NS\n",
        "s HTTPS 1 . alpn=\"h2\"\n",
        "k DNSKEY 256 3 8 AwEAAQ==\n",
    );
    // Every prefix cuts tokens, escapes, quotes and parentheses short.
    for (cut, _) in zone.char_indices() {
        let _ = parse_str(&zone[..cut], Path::new("t"), &opts());
    }
    // Deterministic pseudo-random bytes mixed into the text.
    let mut state: u32 = 0x1234_5678;
    let alphabet = b"$@\\\"();. \t\n0123456789aAxX{},-/#*";
    for _ in 0..2000 {
        let mut bytes = zone.as_bytes().to_vec();
        for _ in 0..8 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let pos = (state >> 8) as usize % bytes.len();
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes[pos] = alphabet[(state >> 8) as usize % alphabet.len()];
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str(&text, Path::new("t"), &opts());
    }
}

// ---- streaming API ----------------------------------------------------------

#[test]
fn parse_str_each_streams_the_same_records_as_parse_str() {
    let text = "$TTL 60\n@ SOA ns host 1 2 3 4 5\n  NS ns\nns A 192.0.2.1\n\
                $GENERATE 1-3 h$ AAAA ::$\nt TXT \"a b\" c\n";
    let mut seen = Vec::new();
    let summary = parse_str_each(text, Path::new("test.zone"), &opts(), &mut |rec| {
        seen.push(rec.to_record())
    })
    .unwrap();
    let zone = parse(text);
    assert_eq!(seen, zone.records);
    assert_eq!(seen.len(), 7);
    assert_eq!(summary.warnings, zone.warnings);
    // Nothing was read from disk.
    assert!(summary.files.is_empty());
}

#[test]
fn records_before_an_error_are_delivered_but_the_parse_fails() {
    let mut count = 0;
    let errs = parse_str_each(
        "$TTL 60\na A 192.0.2.1\nb A 192.0.2.300\nc A 192.0.2.3\n",
        Path::new("test.zone"),
        &opts(),
        &mut |_| count += 1,
    )
    .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 3);
    // Records on both sides of the bad one were handed out.
    assert_eq!(count, 2);
}

#[test]
fn record_positions_are_borrowed_with_file_and_line() {
    let mut got = Vec::new();
    parse_str_each(
        "$TTL 60\na A 192.0.2.1\n\nb A 192.0.2.2\n",
        Path::new("dir/x.zone"),
        &opts(),
        &mut |rec| got.push(rec.pos.to_string()),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(got, ["dir/x.zone:2", "dir/x.zone:4"]);
}

#[test]
fn files_lists_the_zone_file_and_every_include_once() {
    let dir = TempDir::new();
    dir.write("empty.inc", "; nothing but a comment\n");
    dir.write("hosts.inc", "h A 192.0.2.1\n$INCLUDE empty.inc\n");
    let top = dir.write(
        "main.zone",
        "$TTL 60\n$INCLUDE hosts.inc\n$INCLUDE empty.inc\n$INCLUDE hosts.inc\n",
    );
    let mut count = 0;
    let summary = parse_file_each(&top, &opts(), &mut |_| count += 1).unwrap();
    assert_eq!(count, 2);
    assert_eq!(
        summary.files,
        [
            top.clone(),
            dir.0.join("hosts.inc"),
            dir.0.join("empty.inc")
        ]
    );
    assert_eq!(parse_file(&top, &opts()).unwrap().files, summary.files);
}

// ---- fast rdata path ------------------------------------------------------------

/// A small deterministic generator, so failures can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 16) as usize % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// Random text of up to `max` characters from `alphabet`.
    fn text(&mut self, alphabet: &str, max: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let len = self.below(max + 1);
        (0..len).map(|_| chars[self.below(chars.len())]).collect()
    }
}

fn ipv4_text(rng: &mut Rng) -> String {
    if rng.chance(30) {
        return rng.text("0123456789.+ x", 17);
    }
    let parts = if rng.chance(85) { 4 } else { rng.below(7) };
    let octets: Vec<String> = (0..parts)
        .map(|_| match rng.below(25) {
            0 => format!("0{}", rng.below(300)),
            1 => format!("{}", rng.below(1000)),
            2 => String::new(),
            _ => format!("{}", rng.below(256)),
        })
        .collect();
    octets.join(".")
}

fn ipv6_text(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return rng.text("0123456789abcdefABCDEFg:.", 42);
    }
    let groups: Vec<String> = (0..8)
        .map(|_| {
            let value = if rng.chance(30) { 0 } else { rng.next() as u16 };
            let text = match rng.below(4) {
                0 => format!("{value:X}"),
                1 => format!("{value:04x}"),
                2 if rng.chance(20) => format!("{value:05x}"),
                _ => format!("{value:x}"),
            };
            text
        })
        .collect();
    let mut count = 8;
    if rng.chance(10) {
        count = rng.below(10);
    }
    let groups: Vec<String> = groups.into_iter().cycle().take(count).collect();
    if rng.chance(60) && !groups.is_empty() {
        // Compress a run (possibly empty, which is invalid) into `::`.
        let start = rng.below(groups.len());
        let len = rng.below(groups.len() - start + 1);
        let head = groups[..start].join(":");
        let tail = groups[start + len..].join(":");
        let mut text = format!("{head}::{tail}");
        if rng.chance(10) {
            text.push_str("::1");
        }
        if rng.chance(10) {
            text.push_str(".1.2.3");
        }
        return text;
    }
    let mut text = groups.join(":");
    if rng.chance(10) {
        text.push_str(":192.0.2.1");
    }
    text
}

fn name_text(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => rng
            .pick(&["@", ".", "", "..", "a..b", ".a", "*", "*.a"])
            .to_string(),
        1 => "x".repeat(60 + rng.below(8)),
        2 => {
            // Around the 255-octet limit, relative and absolute.
            let labels: Vec<String> = (0..4 + rng.below(2)).map(|_| "y".repeat(50)).collect();
            let dot = if rng.chance(50) { "." } else { "" };
            format!("{}{dot}", labels.join("."))
        }
        3 => rng.text("ab\\.0123 ü\u{7f}\t", 12),
        _ => {
            let labels: Vec<String> = (0..1 + rng.below(4))
                .map(|_| rng.text("abcXYZ-_09*/", 10))
                .collect();
            let dot = if rng.chance(30) { "." } else { "" };
            format!("{}{dot}", labels.join("."))
        }
    }
}

fn charstr_text(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "z".repeat(250 + rng.below(10)),
        1 => rng.text("ab\\\" ;ü0", 20),
        2 => "\\#".to_string(),
        _ => rng.text("abcdef ;=:-_ü", 20),
    }
}

fn rdata_case(rng: &mut Rng) -> (u16, Vec<(String, bool)>) {
    let rtype = [1u16, 28, 2, 5, 12, 15, 16, 99][rng.below(8)];
    let mut tokens = match rtype {
        1 => vec![ipv4_text(rng)],
        28 => vec![ipv6_text(rng)],
        2 | 5 | 12 => vec![name_text(rng)],
        15 => {
            let pref = match rng.below(8) {
                0 => rng.text("0123456789+-x", 7),
                1 => String::new(),
                _ => rng.below(70000).to_string(),
            };
            vec![pref, name_text(rng)]
        }
        _ => (0..1 + rng.below(4)).map(|_| charstr_text(rng)).collect(),
    };
    // Wrong token counts and the generic marker, now and then.
    match rng.below(20) {
        0 => {
            tokens.pop();
        }
        1 => tokens.push("extra".to_string()),
        2 => tokens.insert(0, "\\#".to_string()),
        _ => {}
    }
    let quoted = tokens.into_iter().map(|t| (t, rng.chance(15))).collect();
    (rtype, quoted)
}

/// Whatever the fast path accepts, `domain` (through the general path)
/// must accept with the same octets; and it must accept the usual forms,
/// or it would be no faster.
#[test]
fn fast_rdata_path_agrees_with_domain() {
    let origin = ORIGIN;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = [0usize; 100];
    let mut total = [0usize; 100];
    for _ in 0..200_000 {
        let (rtype, texts) = rdata_case(&mut rng);
        let tokens: Vec<Token<'_>> = texts
            .iter()
            .map(|(text, quoted)| Token {
                text: text.as_str().into(),
                quoted: *quoted,
                line: 1,
                space_before: true,
            })
            .collect();
        let mut fast_out = Vec::new();
        let fast = super::fast::parse(rtype, &tokens, origin, &mut fast_out);
        let mut slow_out = Vec::new();
        let slow = super::rdata::parse_rdata_general(rtype, &tokens, origin, &mut slow_out);
        total[usize::from(rtype)] += 1;
        if fast {
            accepted[usize::from(rtype)] += 1;
            assert_eq!(
                slow.map(|()| &slow_out),
                Ok(&fast_out),
                "type {rtype}, tokens {texts:?}"
            );
        }
        // And parse_rdata, whichever way it goes, gives domain's answer.
        let mut out = Vec::new();
        let res = super::rdata::parse_rdata(rtype, &tokens, origin, &mut out);
        let slow = super::rdata::parse_rdata_general(rtype, &tokens, origin, &mut slow_out);
        assert_eq!(res.is_ok(), slow.is_ok(), "type {rtype}, tokens {texts:?}");
        match res {
            Ok(()) => assert_eq!(out, slow_out, "type {rtype}, tokens {texts:?}"),
            Err(e) => assert_eq!(Err(e), slow),
        }
    }
    // The comparison above means little if the fast path declines
    // nearly everything.
    for rtype in [1, 28, 2, 5, 12, 15, 16, 99] {
        let (acc, all) = (accepted[rtype], total[rtype]);
        println!("type {rtype}: {acc} of {all} took the fast path");
        assert!(
            acc * 5 > all,
            "type {rtype}: only {acc} of {all} took the fast path"
        );
    }
}

#[test]
fn fast_rdata_path_takes_the_common_forms() {
    let cases: &[(u16, &[&str])] = &[
        (1, &["192.0.2.1"]),
        (1, &["0.0.0.0"]),
        (28, &["2001:db8::1"]),
        (28, &["::"]),
        (28, &["1:2:3:4:5:6:7:8"]),
        (28, &["FE80::a:B"]),
        (2, &["ns1"]),
        (5, &["target.example.net."]),
        (12, &["@"]),
        (15, &["10", "mail"]),
        (16, &["hello world", "x"]),
        (16, &[""]),
        (99, &["v=spf1 -all"]),
    ];
    for (rtype, texts) in cases {
        let tokens: Vec<Token<'_>> = texts
            .iter()
            .map(|&t| Token {
                text: t.into(),
                quoted: false,
                line: 1,
                space_before: true,
            })
            .collect();
        let mut out = Vec::new();
        assert!(
            super::fast::parse(*rtype, &tokens, ORIGIN, &mut out),
            "{rtype} {texts:?}"
        );
    }
}
