//! One test per rule of [`super::decide`].

use super::*;
use crate::csync::validate::Insecure;
use crate::name::test_wire as wire;
use crate::rdata::csync::{IMMEDIATE, SOAMINIMUM};

fn set(ttl: u32, rdatas: &[&[u8]]) -> RrsetData {
    RrsetData {
        ttl,
        rdatas: rdatas.iter().map(|r| r.to_vec()).collect(),
    }
}

/// child.example. NS ns1.child.example. + ns.other.net., glue for ns1.
fn current() -> Delegation {
    Delegation {
        child: wire("child.example."),
        ns: [wire("ns1.child.example."), wire("ns.other.net.")].into(),
        ns_ttl: 3600,
        ds: vec![vec![0; 36]],
        glue: [(
            (wire("ns1.child.example."), rtype::A),
            set(3600, &[&[192, 0, 2, 1]]),
        )]
        .into(),
    }
}

fn csync(serial: u32, flags: u16, types: &[u16]) -> Csync {
    Csync {
        serial: Serial(serial),
        flags,
        types: types.to_vec(),
    }
}

/// A child that moved to ns1 + ns2 (inside), with A and AAAA for both
/// (ns2 has no AAAA, proven).
fn data(serial: u32, c: Csync) -> ServerData {
    let ns = set(
        86400,
        &[&wire("ns1.child.example."), &wire("ns2.child.example.")],
    );
    let mut addresses = BTreeMap::new();
    addresses.insert(
        (wire("ns1.child.example."), rtype::A),
        set(300, &[&[192, 0, 2, 1]]),
    );
    addresses.insert(
        (wire("ns1.child.example."), rtype::AAAA),
        set(
            300,
            &[&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
        ),
    );
    addresses.insert(
        (wire("ns2.child.example."), rtype::A),
        set(300, &[&[192, 0, 2, 2]]),
    );
    addresses.insert((wire("ns2.child.example."), rtype::AAAA), set(0, &[]));
    ServerData {
        serial: Serial(serial),
        csync: vec![c],
        ns: Some(ns),
        addresses,
    }
}

fn results(all: Vec<ServerData>) -> Vec<ServerResult> {
    all.into_iter()
        .enumerate()
        .map(|(i, d)| ServerResult {
            ns: wire("ns1.child.example."),
            addr: SocketAddr::from(([127, 0, 0, 1], 5300 + i as u16)),
            data: Ok(d),
        })
        .collect()
}

const ALL: [u16; 3] = [rtype::NS, rtype::A, rtype::AAAA];

fn both(serial: u32, c: Csync) -> Vec<ServerResult> {
    results(vec![data(serial, c.clone()), data(serial, c)])
}

#[test]
fn a_valid_csync_replaces_ns_and_glue() {
    let d = decide(
        &current(),
        &both(7, csync(7, IMMEDIATE | SOAMINIMUM, &ALL)),
        &Memory::default(),
    );
    let Decision::Apply { serial, change, to } = d else {
        panic!("{d:?}");
    };
    assert_eq!(serial, Serial(7));
    assert_eq!(
        change.lines(),
        [
            "- child.example. 3600 IN NS ns.other.net.",
            "- child.example. 3600 IN NS ns1.child.example.",
            "+ child.example. 3600 IN NS ns1.child.example.",
            "+ child.example. 3600 IN NS ns2.child.example.",
            "+ ns1.child.example. 3600 IN AAAA 2001:db8::1",
            "+ ns2.child.example. 3600 IN A 192.0.2.2",
        ],
        "the parent's TTLs are kept; ns1's A is unchanged; ns2 has no AAAA"
    );
    assert_eq!(to.ns.len(), 2);
}

#[test]
fn immediate_clear_waits_until_approved() {
    let r = both(7, csync(7, SOAMINIMUM, &ALL));
    let d = decide(&current(), &r, &Memory::default());
    assert!(
        matches!(
            d,
            Decision::Waiting {
                serial: Serial(7),
                ..
            }
        ),
        "{d:?}"
    );
    let approved = Memory {
        approved_serial: Some(Serial(7)),
        ..Memory::default()
    };
    let d = decide(&current(), &r, &approved);
    assert!(
        matches!(
            d,
            Decision::Apply {
                serial: Serial(7),
                ..
            }
        ),
        "{d:?}"
    );
    // An approval is for one serial.
    let old = Memory {
        approved_serial: Some(Serial(6)),
        ..Memory::default()
    };
    let d = decide(&current(), &both(7, csync(7, 0, &ALL)), &old);
    assert!(matches!(d, Decision::Waiting { .. }), "{d:?}");
}

#[test]
fn unknown_flags_and_types_are_not_processed() {
    let d = decide(
        &current(),
        &both(7, csync(7, IMMEDIATE | 0x0004, &ALL)),
        &Memory::default(),
    );
    assert!(
        matches!(&d, Decision::Rejected { reason, .. } if reason.contains("0x0004")),
        "{d:?}"
    );
    let d = decide(
        &current(),
        &both(7, csync(7, IMMEDIATE, &[rtype::NS, rtype::MX])),
        &Memory::default(),
    );
    assert!(
        matches!(&d, Decision::Rejected { reason, .. } if reason.contains("MX")),
        "{d:?}"
    );
}

#[test]
fn soaminimum_needs_every_server_at_the_csync_serial() {
    let c = csync(7, IMMEDIATE | SOAMINIMUM, &ALL);
    let r = results(vec![data(7, c.clone()), data(6, c.clone())]);
    let d = decide(&current(), &r, &Memory::default());
    assert!(
        matches!(&d, Decision::Retry { reason } if reason.contains("soaminimum") && reason.contains("serial 6")),
        "{d:?}"
    );
    // Without the flag the serial is not compared (RFC 7477 §2.1.1.2.2);
    // it is not about the SOA MINIMUM field or a delay either way.
    let c = csync(7, IMMEDIATE, &ALL);
    let r = results(vec![data(7, c.clone()), data(6, c)]);
    let d = decide(&current(), &r, &Memory::default());
    assert!(matches!(d, Decision::Apply { .. }), "{d:?}");
}

#[test]
fn disagreeing_or_failing_servers_change_nothing() {
    let c = csync(7, IMMEDIATE, &ALL);
    let mut other = data(7, c.clone());
    other.addresses.insert(
        (wire("ns2.child.example."), rtype::A),
        set(300, &[&[192, 0, 2, 99]]),
    );
    let d = decide(
        &current(),
        &results(vec![data(7, c.clone()), other]),
        &Memory::default(),
    );
    assert!(
        matches!(&d, Decision::Retry { reason } if reason.contains("disagree")),
        "{d:?}"
    );
    let mut r = both(7, c.clone());
    r[1].data = Err(ScanError::Insecure {
        what: "child.example. NS".into(),
        problem: Insecure::Bogus {
            owner: "child.example.".into(),
            rtype: domain::base::iana::Rtype::NS,
            key_tag: 1,
            algorithm: 13,
        },
    });
    let d = decide(&current(), &r, &Memory::default());
    assert!(
        matches!(&d, Decision::Retry { reason } if reason.contains("does not verify")),
        "{d:?}"
    );
    // TTLs may differ between servers.
    let mut ttl = data(7, c.clone());
    if let Some(ns) = ttl.ns.as_mut() {
        ns.ttl = 5;
    }
    let d = decide(
        &current(),
        &results(vec![data(7, c), ttl]),
        &Memory::default(),
    );
    assert!(matches!(d, Decision::Apply { .. }), "{d:?}");
}

#[test]
fn two_csync_records_are_ignored() {
    let mut d1 = data(7, csync(7, IMMEDIATE, &ALL));
    d1.csync.push(csync(8, IMMEDIATE, &ALL));
    let d = decide(
        &current(),
        &results(vec![d1.clone(), d1]),
        &Memory::default(),
    );
    assert!(
        matches!(&d, Decision::Rejected { reason, .. } if reason.contains("2 CSYNC")),
        "{d:?}"
    );
}

#[test]
fn a_serial_is_processed_once_and_a_match_is_in_sync() {
    let r = both(7, csync(7, IMMEDIATE, &ALL));
    let done = Memory {
        last_serial: Some(Serial(7)),
        ..Memory::default()
    };
    assert_eq!(
        decide(&current(), &r, &done),
        Decision::AlreadyProcessed { serial: Serial(7) }
    );
    let Decision::Apply { to, .. } = decide(&current(), &r, &Memory::default()) else {
        panic!()
    };
    assert_eq!(
        decide(&to, &r, &Memory::default()),
        Decision::InSync { serial: Serial(7) }
    );
}

#[test]
fn a_delegation_is_never_left_without_ns_or_lame() {
    let c = csync(7, IMMEDIATE, &ALL);
    let mut empty = data(7, c.clone());
    empty.ns = Some(set(300, &[]));
    let d = decide(&current(), &results(vec![empty]), &Memory::default());
    assert!(
        matches!(&d, Decision::Rejected { reason, .. } if reason.contains("without NS")),
        "{d:?}"
    );
    let mut lame = data(7, c);
    lame.addresses
        .insert((wire("ns2.child.example."), rtype::A), set(0, &[]));
    let d = decide(&current(), &results(vec![lame]), &Memory::default());
    assert!(
        matches!(&d, Decision::Rejected { reason, .. } if reason.contains("lame")),
        "{d:?}"
    );
}

#[test]
fn out_of_bailiwick_names_keep_the_parents_glue() {
    // Only A in the bitmap: NS stays the parent's, ns1's A is replaced,
    // ns.other.net. is outside the child and never touched.
    let mut d = data(7, csync(7, IMMEDIATE, &[rtype::A]));
    d.ns = None;
    d.addresses
        .retain(|(n, t), _| *t == rtype::A && *n == wire("ns1.child.example."));
    d.addresses.insert(
        (wire("ns1.child.example."), rtype::A),
        set(300, &[&[192, 0, 2, 50]]),
    );
    let Decision::Apply { change, .. } = decide(&current(), &results(vec![d]), &Memory::default())
    else {
        panic!()
    };
    assert_eq!(
        change.lines(),
        [
            "- ns1.child.example. 3600 IN A 192.0.2.1",
            "+ ns1.child.example. 3600 IN A 192.0.2.50",
        ]
    );
}

#[test]
fn no_csync_is_nothing_to_do() {
    let mut d = data(7, csync(7, IMMEDIATE, &ALL));
    d.csync.clear();
    assert_eq!(
        decide(&current(), &results(vec![d]), &Memory::default()),
        Decision::NoCsync
    );
}
