//! The transfer-in engine of secondary zones (`zonesync::xfr::incoming`),
//! called as a library against real primaries: zonesync itself and Knot
//! DNS, unsigned and with TSIG.

mod common;

use common::*;
use std::time::Duration;
use zonesync::journal::{Changeset, Record};
use zonesync::serial::Serial;
use zonesync::tsig::TsigKey;
use zonesync::xfr::incoming::{fetch, query_soa, FetchError, Fetched, Limits, Payload, Primary};

const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
const WRONG_SECRET: &str = "AAAAwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";

const SOA_TIMEOUT: Duration = Duration::from_secs(3);

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(20),
        ..Limits::default()
    }
}

/// example.com at `serial` with hosts `first..=last`, written out (Knot
/// reads this file too).
fn zone(serial: u32, first: usize, last: usize) -> String {
    let hosts: String = (first..=last)
        .map(|i| format!("host{i} TXT \"host number {i}\"\n"))
        .collect();
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\n@ MX 10 mail\n\
         ns1 A 192.0.2.53\nmail A 192.0.2.25\nwww CNAME @\n\
         sub NS ns.sub\nns.sub A 192.0.2.100\n{hosts}"
    )
}

fn apex() -> Vec<u8> {
    wire_name("example.com")
}

/// A wire name, case kept.
fn name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn record(owner: &str, rtype: u16, rdata: Vec<u8>) -> Record {
    Record {
        owner: name(&owner.to_ascii_lowercase()),
        rtype,
        ttl: 3600,
        rdata,
    }
}

fn soa(serial: u32) -> Record {
    let mut rdata = name("ns1.example.com");
    rdata.extend(name("hostmaster.example.com"));
    for n in [serial, 7200, 1800, 1209600, 300] {
        rdata.extend(n.to_be_bytes());
    }
    record("example.com", 6, rdata)
}

fn host(i: usize) -> Record {
    let text = format!("host number {i}");
    let mut rdata = vec![text.len() as u8];
    rdata.extend(text.as_bytes());
    record(&format!("host{i}.example.com"), 16, rdata)
}

/// Every record of [`zone`] but the SOA, RDATA uncompressed, sorted.
fn zone_records(first: usize, last: usize) -> Vec<Record> {
    let mut mx = vec![0, 10];
    mx.extend(name("mail.example.com"));
    let mut records = vec![
        record("example.com", 2, name("ns1.example.com")),
        record("example.com", 2, name("ns2.example.net")),
        record("example.com", 15, mx),
        record("ns1.example.com", 1, vec![192, 0, 2, 53]),
        record("mail.example.com", 1, vec![192, 0, 2, 25]),
        record("www.example.com", 5, name("example.com")),
        record("sub.example.com", 2, name("ns.sub.example.com")),
        record("ns.sub.example.com", 1, vec![192, 0, 2, 100]),
    ];
    records.extend((first..=last).map(host));
    records.sort();
    records
}

/// Asserts a full zone of serial `serial` with exactly these records.
fn assert_full(fetched: &Fetched, serial: u32, expected: &[Record]) {
    let Payload::Full {
        soa: got_soa,
        records,
    } = &fetched.payload
    else {
        panic!("expected the whole zone, got {:?}", fetched.payload);
    };
    assert_eq!(got_soa, &soa(serial));
    assert_eq!(fetched.serial, Serial(serial));
    let mut records = records.clone();
    records.sort();
    let only_got: Vec<&Record> = records.iter().filter(|r| !expected.contains(r)).collect();
    let only_expected: Vec<&Record> = expected.iter().filter(|r| !records.contains(r)).collect();
    assert!(
        records == expected,
        "serial {serial}: only received: {only_got:?}\nonly expected: {only_expected:?}"
    );
    assert_eq!(fetched.records, expected.len() as u64 + 2);
    assert!(fetched.messages >= 1 && fetched.bytes > 0);
}

/// Waits (bounded) until the primary answers the SOA query with `serial`.
fn wait_serial(primary: &Primary, serial: u32) -> bool {
    wait_until(Duration::from_secs(15), || {
        query_soa(primary, &apex(), SOA_TIMEOUT).is_ok_and(|a| a.serial == Serial(serial))
    })
}

fn key(secret: &str) -> TsigKey {
    TsigKey::from_config("xfr-key", "hmac-sha256", secret).expect("key")
}

// ---------------------------------------------------------------------------
// zonesync as the primary

fn zonesync_config(acl: &str) -> String {
    format!(
        "[server]\nudp_workers = 1\ndata_dir = \"data\"\n\n\
         [[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}\
         allow_transfer = {acl}\n",
        zone_entry("example.com", "example.com.zone")
    )
}

#[test]
fn zonesync_primary_axfr_then_ixfr_of_a_change() {
    let s = Server::start(
        &zonesync_config("[{ from = \"127.0.0.0/8\" }]"),
        &[("example.com.zone", &zone(1, 1, 10))],
    );
    let primary = Primary::new(s.addr(), None);
    let answer = query_soa(&primary, &apex(), SOA_TIMEOUT).expect("SOA query");
    assert_eq!((answer.serial, &answer.soa), (Serial(1), &soa(1)));

    let full = fetch(&primary, &apex(), None, &limits()).expect("AXFR");
    assert_full(&full, 1, &zone_records(1, 10));
    assert_eq!(full.fallback, None);

    // 1 -> 2: host1 goes, host11 comes.
    s.rewrite("example.com.zone", &zone(2, 2, 11));
    s.signal("HUP");
    assert!(wait_serial(&primary, 2), "no reload:\n{}", s.log());
    let ours = soa(1);
    let inc = fetch(&primary, &apex(), Some((Serial(1), &ours)), &limits()).expect("IXFR");
    assert_eq!(
        inc.payload,
        Payload::Incremental(vec![Changeset {
            from_serial: Serial(1),
            to_serial: Serial(2),
            old_soa: soa(1),
            new_soa: soa(2),
            removed: vec![host(1)],
            added: vec![host(11)],
        }])
    );
    assert_eq!((inc.serial, inc.fallback.as_deref()), (Serial(2), None));
    assert_eq!(
        inc.records, 6,
        "SOA 2, SOA 1, -host1, SOA 2, +host11, SOA 2"
    );

    // Current: the SOA alone.
    let ours = soa(2);
    let current = fetch(&primary, &apex(), Some((Serial(2), &ours)), &limits()).expect("IXFR");
    assert_eq!(
        (current.payload, current.serial),
        (Payload::UpToDate, Serial(2))
    );

    // A serial the journal does not have: the whole zone, in AXFR form,
    // as the answer to the IXFR itself.
    let ours = soa(0);
    let whole = fetch(&primary, &apex(), Some((Serial(0), &ours)), &limits()).expect("IXFR");
    assert_full(&whole, 2, &zone_records(2, 11));
    assert_eq!(whole.fallback, None);
}

#[test]
fn zonesync_primary_with_tsig() {
    let s = Server::start(
        &zonesync_config("[{ from = \"127.0.0.0/8\", key = \"xfr-key\" }]"),
        &[("example.com.zone", &zone(3, 1, 5))],
    );
    let signed = Primary::new(s.addr(), Some(key(SECRET)));
    let answer = query_soa(&signed, &apex(), SOA_TIMEOUT).expect("signed SOA query");
    assert_eq!(answer.serial, Serial(3));
    let full = fetch(&signed, &apex(), None, &limits()).expect("signed AXFR");
    assert_full(&full, 3, &zone_records(1, 5));

    // Without the key: refused, the IXFR and the AXFR after it.
    let unsigned = Primary::new(s.addr(), None);
    let ours = soa(1);
    let e = fetch(&unsigned, &apex(), Some((Serial(1), &ours)), &limits()).expect_err("refused");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: IXFR: server answered REFUSED; AXFR: server answered REFUSED",
            s.addr()
        )),
        "{text}"
    );
    assert_eq!(e.class(), "rcode");

    // A wrong secret: BADSIG.
    let wrong = Primary::new(s.addr(), Some(key(WRONG_SECRET)));
    let e = fetch(&wrong, &apex(), None, &limits()).expect_err("BADSIG");
    assert!(e.to_string().contains("BADSIG"), "{e}");
    let e = query_soa(&wrong, &apex(), SOA_TIMEOUT).expect_err("BADSIG");
    assert!(matches!(e, FetchError::Soa { .. }), "{e:?}");
    assert!(e.to_string().contains("BADSIG"), "{e}");
}

// ---------------------------------------------------------------------------
// Knot DNS as the primary

/// The Knot primary as `incoming` sees it, signing with `secret`.
fn knot_primary(knot: &KnotPrimary, secret: &str) -> Primary {
    Primary::new(knot.addr, Some(key(secret)))
}

#[test]
fn knot_primary_signed_axfr_and_ixfr_after_reloads() {
    let Some(knot) = KnotPrimary::start(&zone(10, 1, 20), SECRET, KnotAcl::KeyOnly) else {
        panic!("knotd is not installed: scripts/install-test-deps.sh installs it");
    };
    knot.wait_serial(10);
    let primary = knot_primary(&knot, SECRET);
    let answer = query_soa(&primary, &apex(), SOA_TIMEOUT).expect("SOA query");
    assert_eq!((answer.serial, &answer.soa), (Serial(10), &soa(10)));
    // RFC 7314 §3: a primary answers EXPIRE with its SOA EXPIRE.
    assert_eq!(answer.expire, Some(1209600));

    let full = fetch(&primary, &apex(), None, &limits()).expect("AXFR");
    assert_full(&full, 10, &zone_records(1, 20));
    assert_eq!(full.expire, Some(1209600));

    // Two reloads: host21 added, then www removed; Knot keeps both
    // changesets.
    knot.change_zone(&zone(11, 1, 21), 11);
    knot.change_zone(&zone(12, 1, 21).replace("www CNAME @\n", ""), 12);
    let ours = soa(10);
    let inc = fetch(&primary, &apex(), Some((Serial(10), &ours)), &limits()).expect("IXFR");
    assert_eq!(
        inc.payload,
        Payload::Incremental(vec![
            Changeset {
                from_serial: Serial(10),
                to_serial: Serial(11),
                old_soa: soa(10),
                new_soa: soa(11),
                removed: vec![],
                added: vec![host(21)],
            },
            Changeset {
                from_serial: Serial(11),
                to_serial: Serial(12),
                old_soa: soa(11),
                new_soa: soa(12),
                removed: vec![record("www.example.com", 5, name("example.com"))],
                added: vec![],
            },
        ]),
        "knot log:\n{}",
        knot.log()
    );
    assert_eq!((inc.serial, inc.fallback.as_deref()), (Serial(12), None));

    let ours = soa(12);
    let current = fetch(&primary, &apex(), Some((Serial(12), &ours)), &limits()).expect("IXFR");
    assert_eq!(current.payload, Payload::UpToDate);

    // The wrong secret: both the IXFR and the AXFR fail, and say so.
    let wrong = knot_primary(&knot, WRONG_SECRET);
    let ours = soa(11);
    let e = fetch(&wrong, &apex(), Some((Serial(11), &ours)), &limits()).expect_err("wrong key");
    let text = e.to_string();
    assert!(
        text.contains("IXFR: ") && text.contains("; AXFR: ") && text.contains("BADSIG"),
        "{text}"
    );
    let e = query_soa(&wrong, &apex(), SOA_TIMEOUT).expect_err("wrong key");
    assert!(e.to_string().contains("BADSIG"), "{e}");
}
