//! CSYNC decisions over scan results (`csync::decide::decide`, RFC 7477 /
//! RFC 9975 rules) for a delegation the parent zone holds
//! (`csync::delegation::read`), and an `Apply` carried out as the parental
//! agent does: the change (`delegation::change`) applied to the served
//! version (`ZoneVersion::apply`, as `edit::edit_zone_file` does to know
//! what the file must give), the zone file edited (`csync::edit::edit_text`)
//! and read back.
//!
//! Checks (besides never panicking):
//! - a server that failed means `Retry`;
//! - `Apply`/`Waiting`: the change is `delegation::change(current, to)` and
//!   not empty; `to` is the same child with the same DS, keeps at least one
//!   NS, has glue only for its own NS names inside the child, and an
//!   address for each of them; the serial is the CSYNC's and newer than
//!   the last processed; `Waiting` only without `immediate` and approval,
//!   `Apply` only with one of them;
//! - an `Apply` whose change the zone accepts is made in the file: the edit
//!   succeeds (the parent file is one record per line), the edited text
//!   loads to exactly the zone with the change applied (what
//!   `edit_zone_file` checks before it writes), and its delegation is the
//!   one decided (what the agent checks after the load).
//!
//! Input: byte 0: the child (index into `CHILDREN`); byte 1: memory (bit 0
//! a last serial, bit 1 an approved serial, from bytes 2..4); then one
//! server per chunk (see `server`).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zonesync::csync::decide::{decide, Decision, Memory, ServerData, ServerResult};
use zonesync::csync::delegation::{self, in_bailiwick, Delegation, RrsetData};
use zonesync::csync::edit::edit_text;
use zonesync::csync::scan::ScanError;
use zonesync::journal::{Changeset, Record};
use zonesync::loader::LoadOptions;
use zonesync::rdata::csync::Csync;
use zonesync::serial::Serial;
use zonesync::zone::ZoneVersion;
use zonesync_fuzz::{version_from_text, wire_name};

const PARENT: &str = "$ORIGIN example.\n$TTL 300\n\
    @ SOA ns hostmaster 1 3600 600 86400 300\n\
    @ NS ns\n\
    ns A 192.0.2.1\n\
    child 3600 NS ns1.child\n\
    child 3600 NS ns.other.net.\n\
    child DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000\n\
    ns1.child 3600 A 192.0.2.10\n\
    ns1.child 3600 AAAA 2001:db8::10\n\
    two 600 NS ns1.two\n\
    two 600 NS ns2.two\n\
    ns1.two 600 A 192.0.2.21\n\
    ns2.two 600 A 192.0.2.22\n\
    ext NS ns.other.net.\n";

const CHILDREN: [&str; 3] = ["child.example.", "two.example.", "ext.example."];

/// NS targets a server may name: inside each child, and outside.
const NS_NAMES: [&str; 8] = [
    "ns1.child.example.",
    "ns2.child.example.",
    "child.example.",
    "ns.other.net.",
    "ns1.two.example.",
    "ns2.two.example.",
    "ns3.two.example.",
    "ns.ext.example.",
];

const A: u16 = 1;
const NS: u16 = 2;
const AAAA: u16 = 28;
/// Types a CSYNC bitmap may name (bit i of the input's byte).
const TYPES: [u16; 6] = [NS, A, AAAA, 15, 16, 43];

struct Fixture {
    origin: Vec<u8>,
    version: ZoneVersion,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let origin = wire_name("example.");
        let version = version_from_text(&origin, PARENT).expect("the parent zone builds");
        Fixture { origin, version }
    })
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

fn address(rtype: u16, b: u8) -> Vec<u8> {
    if rtype == A {
        vec![192, 0, 2, b]
    } else {
        let mut v = vec![0x20, 0x01, 0x0d, 0xb8];
        v.extend([0; 11]);
        v.push(b);
        v
    }
}

/// One server's result: byte f (bit 0 failed, bit 1 the previous server's
/// data, bits 2..4 the SOA serial's distance to 100, bits 5..6 how many
/// CSYNC records); per CSYNC: serial distance, flags, types bitmap; an NS
/// bitmap over `NS_NAMES` (bit 7 clear: no NS fetched); then per NS name
/// inside the child and per type: 0 not fetched, 1 proven absent, else
/// an address.
fn server(data: &mut &[u8], child: &[u8], previous: Option<&ServerData>) -> Option<ServerResult> {
    let f = take(data, 1)?[0];
    let ns = wire_name(NS_NAMES[usize::from(f) % NS_NAMES.len()]);
    let addr: SocketAddr = SocketAddr::from(([192, 0, 2, f], 53));
    if f & 1 != 0 {
        return Some(ServerResult {
            ns,
            addr,
            data: Err(ScanError::NoSoa),
        });
    }
    if let (true, Some(p)) = (f & 2 != 0, previous) {
        return Some(ServerResult {
            ns,
            addr,
            data: Ok(p.clone()),
        });
    }
    let serial = Serial(100 + u32::from((f >> 2) & 7));
    let mut csync = Vec::new();
    for _ in 0..(f >> 5) & 3 {
        let c = take(data, 3)?;
        let types = (0..TYPES.len())
            .filter(|i| c[2] & (1 << i) != 0)
            .map(|i| TYPES[i])
            .collect();
        csync.push(Csync::new(
            Serial(100 + u32::from(c[0] % 8)),
            u16::from(c[1]),
            types,
        ));
    }
    let nsb = take(data, 1)?[0];
    let ns_set = (nsb & 0x80 != 0).then(|| RrsetData {
        ttl: 3600,
        rdatas: (0..7)
            .filter(|i| nsb & (1 << i) != 0)
            .map(|i| wire_name(NS_NAMES[i]))
            .collect(),
    });
    let mut addresses = BTreeMap::new();
    for n in NS_NAMES
        .iter()
        .map(|n| wire_name(n))
        .filter(|n| in_bailiwick(n, child))
    {
        for t in [A, AAAA] {
            let b = take(data, 1)?[0];
            match b % 4 {
                0 => {}
                1 => {
                    addresses.insert(
                        (n.clone(), t),
                        RrsetData {
                            ttl: 3600,
                            rdatas: BTreeSet::new(),
                        },
                    );
                }
                k => {
                    let mut rdatas = BTreeSet::from([address(t, b)]);
                    if k == 3 {
                        rdatas.insert(address(t, b ^ 0x40));
                    }
                    addresses.insert((n.clone(), t), RrsetData { ttl: 3600, rdatas });
                }
            }
        }
    }
    Some(ServerResult {
        ns,
        addr,
        data: Ok(ServerData {
            serial,
            csync,
            ns: ns_set,
            addresses,
        }),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let Some(head) = take(&mut data, 4) else {
        return;
    };
    let fx = fixture();
    let child = wire_name(CHILDREN[usize::from(head[0]) % CHILDREN.len()]);
    let current = delegation::read(&fx.version, &child).expect("a delegation");
    let memory = Memory {
        last_serial: (head[1] & 1 != 0).then(|| Serial(100 + u32::from(head[2] % 8))),
        approved_serial: (head[1] & 2 != 0).then(|| Serial(100 + u32::from(head[3] % 8))),
    };
    let mut results: Vec<ServerResult> = Vec::new();
    while results.len() < 6 {
        let previous = results.last().and_then(|r| r.data.as_ref().ok()).cloned();
        let Some(r) = server(&mut data, &current.child, previous.as_ref()) else {
            break;
        };
        results.push(r);
    }
    let decision = decide(&current, &results, &memory);
    if results.iter().any(|r| r.data.is_err()) {
        assert!(
            matches!(decision, Decision::Retry { .. }),
            "{decision:?} with a failed server"
        );
    }
    let (serial, change, to, apply) = match decision {
        Decision::Apply { serial, change, to } => (serial, change, to, true),
        Decision::Waiting { serial, change, to } => (serial, change, to, false),
        _ => return,
    };
    let first = results[0].data.as_ref().expect("all servers answered");
    let [csync] = first.csync.as_slice() else {
        panic!("a change from {} CSYNC records", first.csync.len())
    };
    assert_eq!(serial, csync.serial);
    if let Some(last) = memory.last_serial {
        assert!(
            serial.is_after(last),
            "serial {serial} acted on after {last}"
        );
    }
    let approved = memory.approved_serial == Some(serial);
    assert_eq!(
        apply,
        csync.immediate() || approved,
        "Apply/Waiting mixed up"
    );
    check_target(&current, &to);
    assert!(!change.is_empty(), "a change that changes nothing");
    assert_eq!(change, delegation::change(&current, &to));
    if apply {
        check_edit(fx, &change, &to);
    }
});

fn check_target(current: &Delegation, to: &Delegation) {
    assert_eq!(to.child, current.child);
    assert_eq!(to.ds, current.ds);
    assert!(!to.ns.is_empty(), "a delegation left without NS");
    for (owner, _) in to.glue.keys() {
        assert!(to.ns.contains(owner), "glue for a name that is no NS");
        assert!(in_bailiwick(owner, &to.child), "glue outside the child");
    }
    for ns in to.ns.iter().filter(|n| in_bailiwick(n, &to.child)) {
        assert!(
            [A, AAAA]
                .iter()
                .any(|&t| to.glue.contains_key(&(ns.clone(), t))),
            "an NS inside the child without glue: lame"
        );
    }
}

fn check_edit(fx: &Fixture, change: &delegation::Change, to: &Delegation) {
    let served = &fx.version;
    let soa = served.soa().expect("an SOA");
    let soa = Record {
        owner: fx.origin.clone(),
        rtype: 6,
        ttl: soa.ttl(),
        rdata: soa.rdatas().next().expect("one SOA").to_vec(),
    };
    let changeset = Changeset {
        from_serial: served.serial(),
        to_serial: served.serial(),
        old_soa: soa.clone(),
        new_soa: soa,
        removed: change.removed.clone(),
        added: change.added.clone(),
    };
    // A change the zone refuses is refused before the file is touched.
    let Ok(expected) = served.apply(&changeset) else {
        return;
    };
    let file = Path::new("/nonexistent/zonesync-fuzz/parent.zone");
    let edited = edit_text(
        PARENT,
        file,
        &fx.origin,
        &LoadOptions::default(),
        change,
        "fuzz",
    )
    .unwrap_or_else(|e| panic!("the edit of a change the zone accepts failed: {e}"));
    let Some(loaded) = version_from_text(&fx.origin, &edited) else {
        panic!("the edited file does not load:\n{edited}")
    };
    assert_eq!(
        loaded.content_digest(),
        expected.content_digest(),
        "the edited file is not the zone with the change:\n{edited}"
    );
    let now = delegation::read(&loaded, &to.child).expect("still a delegation");
    assert_eq!(now.ns, to.ns, "NS after the edit");
    assert_eq!(now.glue, to.glue, "glue after the edit");
}
