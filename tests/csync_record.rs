//! CSYNC (RFC 7477 §2) end to end: our record data against hickory-proto's
//! in both directions, CSYNC in zone files served over UDP and AXFR by the
//! real server (checked with hickory and `zonesync xfr`), `check-zone`
//! errors for malformed CSYNC entries, and `zonesync csync record`.

mod common;

use common::*;
use hickory_proto::rr::rdata::CSYNC;
use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, Restrict};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use zonesync::rdata::csync::Csync;
use zonesync::serial::Serial;

const NS: u16 = 2;
const A: u16 = 1;
const AAAA: u16 = 28;
const CAA: u16 = 257;
const PRIVATE: u16 = 65280;

/// Our wire form read by hickory: (serial, flags, types) or its error.
fn hickory_decode(wire: &[u8]) -> Result<(u32, u16, Vec<u16>), String> {
    let len = u16::try_from(wire.len()).expect("short rdata");
    let mut decoder = BinDecoder::new(wire);
    match RData::read(&mut decoder, RecordType::CSYNC, Restrict::new(len)) {
        Ok(RData::CSYNC(c)) => Ok(hickory_fields(&c, wire)),
        Ok(other) => Err(format!("hickory read a {:?}", other.record_type())),
        Err(e) => Err(e.to_string()),
    }
}

/// The fields of a hickory CSYNC; it has no serial accessor in 0.24, so
/// the serial is read from the wire it came from.
fn hickory_fields(c: &CSYNC, wire: &[u8]) -> (u32, u16, Vec<u16>) {
    let serial = u32::from_be_bytes(wire[..4].try_into().unwrap());
    let mut types: Vec<u16> = c.type_bit_maps().iter().map(|&t| u16::from(t)).collect();
    types.sort_unstable();
    (serial, c.flags(), types)
}

fn hickory_encode(c: &CSYNC) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    c.emit(&mut encoder).expect("hickory encodes CSYNC");
    bytes
}

fn ours(c: &Csync) -> Vec<u8> {
    let mut wire = Vec::new();
    c.to_wire(&mut wire);
    wire
}

fn type_lists() -> Vec<Vec<u16>> {
    vec![
        vec![NS, A, AAAA],
        vec![NS],
        vec![],
        vec![CAA],
        vec![PRIVATE],
        vec![AAAA, CAA, NS, PRIVATE, A, 65535],
    ]
}

/// For the flags hickory can express (the two RFC 7477 bits), both
/// libraries write the same octets, and each reads the other's.
#[test]
fn known_flags_and_types_agree_with_hickory_both_ways() {
    for flags in [0u16, 1, 2, 3] {
        for types in type_lists() {
            let what = format!("flags {flags}, types {types:?}");
            let mine = Csync::new(Serial(2024010101), flags, types.clone());
            let hickory = CSYNC::new(
                2024010101,
                flags & 1 != 0,
                flags & 2 != 0,
                types.iter().map(|&t| RecordType::from(t)).collect(),
            );
            let (my_wire, their_wire) = (ours(&mine), hickory_encode(&hickory));
            assert_eq!(
                my_wire, their_wire,
                "{what}: our wire form (left) differs from hickory's (right)"
            );

            let (serial, got_flags, got_types) = hickory_decode(&my_wire)
                .unwrap_or_else(|e| panic!("{what}: hickory rejects our rdata: {e}"));
            assert_eq!(
                (serial, got_flags, &got_types),
                (mine.serial.get(), mine.flags, &mine.types),
                "{what}: hickory's reading of ours"
            );

            let back = Csync::from_wire(&their_wire)
                .unwrap_or_else(|e| panic!("{what}: we reject hickory's rdata: {e}"));
            assert_eq!(back, mine, "{what}: our reading of hickory's");
            assert_eq!(back.immediate(), flags & 1 != 0, "{what}: immediate()");
            assert_eq!(back.soaminimum(), flags & 2 != 0, "{what}: soaminimum()");
            assert_eq!(back.unknown_flags(), 0, "{what}: unknown_flags()");
        }
    }
}

/// Flags RFC 7477 leaves undefined must survive us unchanged (a parental
/// agent must see them to refuse the record). hickory 0.24 keeps only two
/// booleans: it drops an undefined high bit and rejects an undefined low
/// one; the types still agree.
#[test]
fn unknown_flags_are_kept_by_us_and_lost_by_hickory() {
    for types in type_lists() {
        let mine = Csync::new(Serial(7), 0x8001, types.clone());
        let wire = ours(&mine);
        let back = Csync::from_wire(&wire).unwrap();
        assert_eq!(back.flags, 0x8001, "types {types:?}: our round trip");
        assert_eq!(back.unknown_flags(), 0x8000);
        assert!(back.immediate() && !back.soaminimum());

        let (serial, flags, got_types) = hickory_decode(&wire)
            .unwrap_or_else(|e| panic!("types {types:?}: hickory rejects flag 0x8000: {e}"));
        assert_eq!((serial, &got_types), (7, &mine.types), "types {types:?}");
        assert_eq!(
            flags, 0x0001,
            "hickory 0.24 drops bit 0x8000 (if this changed, hickory now keeps unknown flags)"
        );
    }
    let low = ours(&Csync::new(Serial(7), 0x0004, vec![NS]));
    assert_eq!(Csync::from_wire(&low).unwrap().unknown_flags(), 0x0004);
    assert!(
        hickory_decode(&low).is_err(),
        "hickory 0.24 rejects undefined flag 0x0004"
    );
}

// ---------------------------------------------------------------------------
// The server

const ZONE: &str = "example.com";

/// Every way of writing CSYNC in a zone file: mnemonics, `TYPEnnn` in the
/// type list and as the record type, parentheses over lines, and RFC 3597
/// generic data (one with a trailing zero octet, which RFC 4034 says not
/// to write but which is unambiguous, so it is loaded as written).
const ZONE_FILE: &str = "\
$ORIGIN example.com.
$TTL 3600
@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
@ CSYNC 2024010101 3 NS A AAAA
multi CSYNC 7 ( 0
    CAA TYPE65280 )
generic CSYNC \\# 9 00000042 0002 000140
padded CSYNC \\# 10 00000042 0001 00024000
typed TYPE62 4294967295 1 TYPE2
unknown 60 CSYNC 9 32768 NS
";

/// (owner, serial, flags as the wire has them, types) of each CSYNC above.
fn expected() -> Vec<(&'static str, u32, u16, Vec<u16>)> {
    vec![
        ("example.com.", 2024010101, 3, vec![A, NS, AAAA]),
        ("multi.example.com.", 7, 0, vec![CAA, PRIVATE]),
        ("generic.example.com.", 66, 2, vec![A]),
        ("padded.example.com.", 66, 1, vec![A]),
        ("typed.example.com.", 4294967295, 1, vec![NS]),
        ("unknown.example.com.", 9, 32768, vec![NS]),
    ]
}

fn start() -> Server {
    let config = format!(
        "[server]\nudp_workers = 1\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        zone_entry(ZONE, "example.com.zone")
    );
    Server::start(&config, &[("example.com.zone", ZONE_FILE)])
}

/// The raw RDATA of a CSYNC record hickory decoded, re-encoded.
fn rdata_of(record: &hickory_proto::rr::Record) -> Vec<u8> {
    match record.data() {
        Some(RData::CSYNC(c)) => hickory_encode(c),
        other => panic!("{} is not a CSYNC to hickory: {other:?}", record.name()),
    }
}

#[test]
fn csync_is_answered_over_udp_and_read_by_hickory() {
    let server = start();
    for (owner, serial, flags, types) in expected() {
        let msg = query_udp(server.addr(), owner, RecordType::CSYNC, &QueryOpts::plain());
        let answers = of_type(msg.answers(), RecordType::CSYNC);
        assert_eq!(answers.len(), 1, "{owner} CSYNC:\n{}", describe(&msg));
        let record = answers[0];
        assert!(
            msg.header().authoritative(),
            "{owner}: AA\n{}",
            describe(&msg)
        );
        let Some(RData::CSYNC(c)) = record.data() else {
            panic!("{owner}: not decoded as CSYNC\n{}", describe(&msg));
        };
        let wire = hickory_encode(c);
        let (got_serial, got_flags, got_types) = hickory_fields(c, &wire);
        // hickory keeps only the two defined flags (see above).
        assert_eq!(
            (got_serial, got_flags, got_types),
            (serial, flags & 3, types.clone()),
            "{owner}: hickory's reading\n{}",
            describe(&msg)
        );
        let want_ttl = if owner.starts_with("unknown") {
            60
        } else {
            3600
        };
        assert_eq!(record.ttl(), want_ttl, "{owner}: TTL");
    }
    // The RDATA as served, octet for octet, for the record whose flags
    // hickory cannot show.
    let bytes = exchange_udp(
        server.addr(),
        &build_query(
            "unknown.example.com",
            RecordType::CSYNC,
            &QueryOpts::plain(),
        ),
    )
    .expect("answer");
    let want = ours(&Csync::new(Serial(9), 32768, vec![NS]));
    assert!(
        bytes.windows(want.len()).any(|w| w == want),
        "the answer carries 9 32768 NS as {}: {}",
        hex(&want),
        hex(&bytes)
    );
}

#[test]
fn axfr_carries_csync_and_zonesync_xfr_prints_it_in_presentation_form() {
    let server = start();

    // hickory over TCP: the whole zone fits in one message.
    let q = build_query(ZONE, RecordType::AXFR, &QueryOpts::plain());
    let bytes = tcp_exchange(server.addr(), &q, Duration::from_secs(5)).expect("AXFR answer");
    let msg = parse(&bytes);
    let csyncs = of_type(msg.answers(), RecordType::CSYNC);
    assert_eq!(csyncs.len(), expected().len(), "AXFR:\n{}", describe(&msg));
    for (owner, serial, flags, types) in expected() {
        let record = csyncs
            .iter()
            .find(|r| r.name().to_ascii() == owner)
            .unwrap_or_else(|| panic!("no CSYNC for {owner} in the AXFR:\n{}", describe(&msg)));
        let wire = rdata_of(record);
        let Some(RData::CSYNC(c)) = record.data() else {
            unreachable!()
        };
        assert_eq!(
            hickory_fields(c, &wire),
            (serial, flags & 3, types),
            "{owner} in the AXFR"
        );
    }

    // `zonesync xfr`: one line per record, CSYNC as serial, flags, types.
    let mut cmd = zonesync();
    cmd.args(["xfr", ZONE, "--server", &server.addr().to_string()]);
    let out = run_with_timeout(cmd, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "zonesync xfr: {}\n{text}",
        stderr(&out)
    );
    let lines: Vec<String> = text
        .lines()
        .filter(|l| l.contains("\tCSYNC\t"))
        .map(str::to_owned)
        .collect();
    let want = [
        "example.com.\t3600\tIN\tCSYNC\t2024010101 3 A NS AAAA",
        "multi.example.com.\t3600\tIN\tCSYNC\t7 0 CAA TYPE65280",
        "generic.example.com.\t3600\tIN\tCSYNC\t66 2 A",
        "padded.example.com.\t3600\tIN\tCSYNC\t66 1 A",
        "typed.example.com.\t3600\tIN\tCSYNC\t4294967295 1 NS",
        "unknown.example.com.\t60\tIN\tCSYNC\t9 32768 NS",
    ];
    for line in want {
        assert!(
            lines.iter().any(|l| l == line),
            "zonesync xfr prints {line:?}; its CSYNC lines:\n{}",
            lines.join("\n")
        );
    }
    // The zone has no type `domain` cannot print, so no `\#` form at all.
    assert!(
        !text.contains("\\#"),
        "no record printed in RFC 3597 form:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// check-zone

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run(args: &[&str], dir: &Path) -> Output {
    let mut cmd = zonesync();
    cmd.current_dir(dir).args(args);
    run_with_timeout(cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn check_zone_accepts_every_csync_form() {
    let dir = TempDir::new("csync-good");
    let file = dir.write("example.com.zone", ZONE_FILE);
    let out = run(
        &["check-zone", file.to_str().unwrap(), "--origin", ZONE],
        dir.path(),
    );
    assert!(
        out.status.success() && stdout(&out).contains("OK"),
        "check-zone: {}\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
}

/// Each malformed CSYNC entry is reported with the file and its line; all
/// of them are reported in one run.
#[test]
fn check_zone_names_file_and_line_of_malformed_csync() {
    let dir = TempDir::new("csync-bad");
    let body = "\
$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
@ CSYNC 1 0 BOGUS
a CSYNC 1 65536 A
b CSYNC 1
c CSYNC x 0 NS
d CSYNC \\# 8 00000042 0003 0000
e CSYNC \\# 9 00000042 0003 000240
f CSYNC \\# 12 00000042 0003 010140000140
g CSYNC ( 1 0
  NS
  TYPE65536 )
";
    let file = dir.write("bad.zone", body);
    let out = run(
        &["check-zone", file.to_str().unwrap(), "--origin", ZONE],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "check-zone: {}\n{err}",
        out.status
    );
    let cases: [(&[u32], &str); 8] = [
        (&[5], "unknown record type \"BOGUS\""),
        (&[6], "bad flags \"65536\""),
        (&[7], "missing flags"),
        (&[8], "bad SOA serial \"x\""),
        (&[9], "length 0"),
        (&[10], "truncated"),
        (&[11], "does not follow window 1"),
        // The entry's rdata starts on line 12; the bad type is on 14.
        (&[12, 14], "unknown record type \"TYPE65536\""),
    ];
    for (lines, fragment) in cases {
        let found = err.lines().any(|l| {
            l.starts_with("error: ")
                && l.contains("bad CSYNC rdata")
                && l.contains(fragment)
                && lines
                    .iter()
                    .any(|n| l.contains(&format!("{}:{n}:", file.display())))
        });
        assert!(
            found,
            "an error naming {}:{lines:?} with {fragment:?}; stderr:\n{err}",
            file.display()
        );
    }
}

// ---------------------------------------------------------------------------
// zonesync csync record

const CHILD: &str = "\
$TTL 3600
@ SOA ns1 hostmaster 2024050601 7200 3600 1209600 600
@ NS ns1
@ NS ns2.example.net.
ns1 A 192.0.2.1
";

const HINT: &str = "the serial must be the one the zone will be published with";

fn config_for(file: &str) -> String {
    format!("[server]\n{}", zone_entry("child.example", file))
}

#[test]
fn csync_record_prints_the_default_record_with_the_file_serial() {
    let dir = TempDir::new("csync-record");
    dir.write("child.zone", CHILD);
    let out = run(
        &[
            "csync",
            "record",
            "--zone-file",
            "child.zone",
            "--origin",
            "child.example",
        ],
        dir.path(),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Flags 3 (immediate, soaminimum), NS A AAAA, TTL = negative TTL.
    assert_eq!(
        text, "child.example. 600 IN CSYNC 2024050601 3 A NS AAAA\n",
        "stderr: {err}"
    );
    assert!(err.contains(HINT), "the serial hint on stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");

    // The line, added to the file, loads and is the record served.
    let mut with = CHILD.to_string();
    with.push_str(&text);
    dir.write("child.zone", with);
    let out = run(
        &["check-zone", "child.zone", "--origin", "child.example"],
        dir.path(),
    );
    assert!(out.status.success(), "check-zone: {}", stderr(&out));
    let again = run(
        &[
            "csync",
            "record",
            "--zone-file",
            "child.zone",
            "--origin",
            "child.example",
        ],
        dir.path(),
    );
    assert_eq!(stdout(&again), text);
    assert!(
        stderr(&again).contains("already has this record"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn csync_record_takes_the_zone_from_the_config() {
    let dir = TempDir::new("csync-record-config");
    dir.write("zones/child.zone", CHILD);
    dir.write("etc/zonesync.toml", config_for("../zones/child.zone"));
    // Paths in the config are relative to the config, not to the caller.
    let out = run(
        &[
            "csync",
            "record",
            "--config",
            "etc/zonesync.toml",
            "child.example.",
            "--flags",
            "none",
            "--types",
            "NS,CAA,TYPE65280",
            "--ttl",
            "1h",
        ],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        stdout(&out),
        "child.example. 3600 IN CSYNC 2024050601 0 NS CAA TYPE65280\n",
        "{err}"
    );
    assert!(err.contains(HINT), "{err}");
    assert!(err.contains("administrator approves"), "{err}");

    for (flags, want) in [
        ("immediate", "1"),
        ("soaminimum", "2"),
        ("SOAminimum,immediate", "3"),
    ] {
        let out = run(
            &[
                "csync",
                "record",
                "-c",
                "etc/zonesync.toml",
                "child.example",
                "--flags",
                flags,
            ],
            dir.path(),
        );
        assert_eq!(
            stdout(&out),
            format!("child.example. 600 IN CSYNC 2024050601 {want} A NS AAAA\n"),
            "--flags {flags}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn csync_record_zone_errors_exit_1_with_file_and_line() {
    let dir = TempDir::new("csync-record-bad");
    dir.write(
        "child.zone",
        format!("{CHILD}www A 192.0.2.300\n").as_bytes(),
    );
    dir.write("zonesync.toml", config_for("child.zone"));
    let by_file = [
        "csync",
        "record",
        "--zone-file",
        "child.zone",
        "--origin",
        "child.example",
    ];
    let by_config = [
        "csync",
        "record",
        "--config",
        "zonesync.toml",
        "child.example",
    ];
    for args in [&by_file[..], &by_config[..]] {
        let out = run(args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: no record printed");
        assert!(
            err.lines()
                .any(|l| l.starts_with("error: ") && l.contains("child.zone:6:")),
            "{args:?}: an error naming child.zone:6: {err}"
        );
    }
    // An unreadable configuration is an error of the files too.
    let out = run(
        &[
            "csync",
            "record",
            "--config",
            "missing.toml",
            "child.example",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn csync_record_usage_errors_exit_2() {
    let dir = TempDir::new("csync-record-usage");
    dir.write("child.zone", CHILD);
    dir.write("zonesync.toml", config_for("child.zone"));
    let cases: [(&[&str], &str); 9] = [
        (&[], "--zone-file"),
        (&["--zone-file", "child.zone"], "--origin"),
        (&["--config", "zonesync.toml"], "ZONE"),
        (
            &[
                "--config",
                "zonesync.toml",
                "child.example",
                "--zone-file",
                "child.zone",
            ],
            "cannot be used",
        ),
        (
            &["--config", "zonesync.toml", "other.example"],
            "not in the configuration",
        ),
        (
            &[
                "--zone-file",
                "child.zone",
                "--origin",
                "child.example",
                "--flags",
                "soon",
            ],
            "\"soon\"",
        ),
        (
            &[
                "--zone-file",
                "child.zone",
                "--origin",
                "child.example",
                "--types",
                "NS,BOGUS",
            ],
            "\"BOGUS\"",
        ),
        (
            &[
                "--zone-file",
                "child.zone",
                "--origin",
                "child.example",
                "--ttl",
                "forever",
            ],
            "forever",
        ),
        (
            &["--zone-file", "child.zone", "--origin", "a..b"],
            "--origin",
        ),
    ];
    for (extra, fragment) in cases {
        let mut args = vec!["csync", "record"];
        args.extend_from_slice(extra);
        let out = run(&args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: nothing on stdout");
        assert!(err.contains(fragment), "{args:?}: {fragment:?} in {err}");
    }
}
