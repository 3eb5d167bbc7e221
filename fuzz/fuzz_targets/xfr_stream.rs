//! The transfer-in stream as a secondary reads it, message by message and
//! without a socket: `xfr::client::Session::message` (size limits, header,
//! RCODE, question, records, `Tracker`) feeding `xfr::incoming::Collector`
//! (conversion, zone and SOA checks), then `Session::finish` and
//! `Collector::into_payload` (the IXFR changesets checked again): the path
//! of `incoming::fetch`. What it yields is then applied as the secondary
//! does: `ZoneVersion::apply_all` over a base version of example.com
//! (serial 1000), or built whole with `ZoneBuilder`.
//!
//! Checks (besides never panicking):
//! - a payload has the form the answer was: up to date only for IXFR and
//!   not newer than ours; a full zone's SOA first, at the apex, with the
//!   server's serial, no apex SOA among its records, every owner in the
//!   zone and lower-case; IXFR changesets from our serial, chained, to the
//!   server's serial, framed by apex SOAs of those serials;
//! - no changeset that does not apply is applied: a reference model (the
//!   zone as a set of RRsets; removals exact, TTL included, then
//!   additions, RRSIGs grouped by covered type) says which changesets
//!   apply; when the model refuses one, `apply_all` must fail; when
//!   `apply_all` succeeds, its version holds exactly the model's records,
//!   has the server's serial, and `ZoneBuilder` builds the same records
//!   (a version the builder would refuse is never served).
//!
//! Input: byte 0: bit 0 IXFR (else AXFR); then a program, one operation
//! per byte (`op % 8`): 0 a record from a palette (next byte), 1 an apex
//! SOA with the next 4 bytes as serial, 2 an apex SOA of serial 1000 + (next
//! byte % 8), 3 the same with another SOA RDATA and TTL, 4 end of message
//! (next byte: header flags, see `Flags`), 5 a raw message (next byte: a
//! length, then that many bytes, sent as they are), 6 a record of a given
//! type at a palette owner with given RDATA (type: 2 bytes, length: 1
//! byte, then RDATA), 7 the connection closes.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use zonesync::journal::snapshot::all_records;
use zonesync::journal::{Changeset, Record};
use zonesync::serial::Serial;
use zonesync::xfr::client::{Kind, Request, Session, StreamLimits};
use zonesync::xfr::incoming::{Collector, Payload};
use zonesync::zone::{soa_field, soa_serial, ZoneBuilder, ZoneVersion};
use zonesync_fuzz::{version_from_text, wire_name};

const ID: u16 = 0x4242;
const BASE_SERIAL: u32 = 1000;
const SOA: u16 = 6;
const RRSIG: u16 = 46;

const BASE: &str = "$ORIGIN example.com.\n$TTL 300\n\
    @ SOA ns1 hostmaster 1000 7200 1800 1209600 300\n\
    @ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n\
    www A 192.0.2.80\nwww A 192.0.2.81\nmail MX 10 www\n\
    txt TXT \"hello\"\nalias CNAME www\nsub NS ns.sub\nns.sub A 192.0.2.9\n\
    a.b.c AAAA 2001:db8::1\n";

struct Fixture {
    zone: Vec<u8>,
    base: ZoneVersion,
    soa_ttl: u32,
    soa_rdata: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let zone = wire_name("example.com.");
        let base = version_from_text(&zone, BASE).expect("the base zone builds");
        let soa = base.soa().expect("an SOA");
        let soa_rdata = soa.rdatas().next().expect("one SOA").to_vec();
        Fixture {
            soa_ttl: soa.ttl(),
            soa_rdata,
            zone,
            base,
        }
    })
}

fn soa_rdata(mname: &str, serial: u32) -> Vec<u8> {
    let mut r = wire_name(mname);
    r.extend(wire_name("hostmaster.example.com."));
    for v in [serial, 7200, 1800, 1_209_600, 300] {
        r.extend(v.to_be_bytes());
    }
    r
}

/// A record to send: owner (uncompressed wire), type, class, TTL, RDATA
/// (names in it uncompressed; `name_at` is where a compressible name
/// starts, if any).
#[derive(Clone)]
struct Rr {
    owner: Vec<u8>,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: Vec<u8>,
    name_at: Option<usize>,
}

/// `wire_name`, and a wildcard's first label.
fn owner_name(text: &str) -> Vec<u8> {
    match text.strip_prefix("*.") {
        Some(rest) => [&[1, b'*'][..], &wire_name(rest)].concat(),
        None => wire_name(text),
    }
}

fn rr(owner: &str, rtype: u16, ttl: u32, rdata: Vec<u8>, name_at: Option<usize>) -> Rr {
    Rr {
        owner: owner_name(owner),
        rtype,
        class: 1,
        ttl,
        rdata,
        name_at,
    }
}

const OWNERS: [&str; 8] = [
    "example.com.",
    "www.example.com.",
    "alias.example.com.",
    "sub.example.com.",
    "x.sub.example.com.",
    "new.example.com.",
    "txt.example.com.",
    "a.b.c.example.com.",
];

fn palette() -> &'static [Rr] {
    static P: OnceLock<Vec<Rr>> = OnceLock::new();
    P.get_or_init(|| {
        let a = |o: &str, last: u8| rr(o, 1, 300, vec![192, 0, 2, last], None);
        let name = |o: &str, t: u16, target: &str| rr(o, t, 300, wire_name(target), Some(0));
        let mut mx = vec![0, 10];
        mx.extend(wire_name("www.example.com."));
        let mut aaaa = vec![0x20, 0x01, 0x0d, 0xb8];
        aaaa.extend([0; 11]);
        aaaa.push(1);
        let mut ch = a("www.example.com.", 80);
        ch.class = 3;
        let mut upper = a("www.example.com.", 80);
        upper.owner = wire_name("WWW.Example.COM.");
        let mut rrsig = vec![0, 1, 13, 3];
        rrsig.extend([0; 14]);
        rrsig.extend(wire_name("example.com."));
        rrsig.extend([7; 8]);
        vec![
            a("www.example.com.", 80),
            a("www.example.com.", 81),
            a("www.example.com.", 82),
            a("new.example.com.", 7),
            name("alias.example.com.", 5, "www.example.com."),
            a("alias.example.com.", 5),
            name("example.com.", 2, "ns1.example.com."),
            name("example.com.", 2, "ns3.example.net."),
            name("sub.example.com.", 2, "ns.sub.example.com."),
            a("ns.sub.example.com.", 9),
            a("x.sub.example.com.", 10),
            rr("txt.example.com.", 16, 300, b"\x05hello".to_vec(), None),
            rr("txt.example.com.", 16, 300, b"\x03bye".to_vec(), None),
            rr("a.b.c.example.com.", 28, 300, aaaa, None),
            upper,
            a("www.example.net.", 1),
            rr(
                "www.example.com.",
                SOA,
                300,
                soa_rdata("ns1.example.com.", BASE_SERIAL),
                Some(0),
            ),
            ch,
            rr("www.example.com.", 1, 600, vec![192, 0, 2, 80], None),
            name("d.example.com.", 39, "example.net."),
            a("*.w.example.com.", 44),
            name("example.com.", 2, "ns2.example.com."),
            rr("mail.example.com.", 15, 300, mx, Some(2)),
            rr("www.example.com.", RRSIG, 300, rrsig, None),
            a("ns1.example.com.", 1),
            rr(
                "alias.example.com.",
                5,
                300,
                wire_name("mail.example.com."),
                Some(0),
            ),
        ]
    })
}

/// Header flags of a message (op 4's byte): bit 0 another ID, 1 QR clear,
/// 2 RCODE REFUSED, 3 no question, 4 the question of another type, 5
/// names compressed against the question's, 6 one answer record more
/// counted than sent, 7 the last octet cut.
#[derive(Clone, Copy, Default)]
struct Flags(u8);

fn name_out(out: &mut Vec<u8>, name: &[u8], zone: &[u8], compress: bool) {
    if compress
        && name.len() >= zone.len()
        && name[name.len() - zone.len()..].eq_ignore_ascii_case(zone)
    {
        out.extend(&name[..name.len() - zone.len()]);
        out.extend([0xC0, 0x0C]);
    } else {
        out.extend(name);
    }
}

fn message(records: &[Rr], flags: Flags, qtype: u16, zone: &[u8]) -> Vec<u8> {
    let f = flags.0;
    let question = f & 8 == 0;
    let compress = question && f & 32 != 0;
    let mut out = Vec::new();
    out.extend(if f & 1 != 0 { ID ^ 1 } else { ID }.to_be_bytes());
    let mut b2 = 0x84u8; // QR, AA
    if f & 2 != 0 {
        b2 &= 0x7F;
    }
    out.push(b2);
    out.push(if f & 4 != 0 { 5 } else { 0 });
    out.extend(u16::from(question).to_be_bytes());
    let ancount = records.len() as u16 + u16::from(f & 64 != 0);
    out.extend(ancount.to_be_bytes());
    out.extend([0, 0, 0, 0]);
    if question {
        out.extend(zone);
        let q = if f & 16 != 0 { 1 } else { qtype };
        out.extend(q.to_be_bytes());
        out.extend(1u16.to_be_bytes());
    }
    for r in records {
        name_out(&mut out, &r.owner, zone, compress);
        out.extend(r.rtype.to_be_bytes());
        out.extend(r.class.to_be_bytes());
        out.extend(r.ttl.to_be_bytes());
        let mut rdata = Vec::new();
        match r.name_at {
            Some(at) if compress && at <= r.rdata.len() => {
                rdata.extend(&r.rdata[..at]);
                let rest = &r.rdata[at..];
                // The name runs to its root label.
                let mut end = 0;
                while end < rest.len() && rest[end] != 0 {
                    end += 1 + usize::from(rest[end]);
                }
                let end = (end + 1).min(rest.len());
                name_out(&mut rdata, &rest[..end], zone, true);
                rdata.extend(&rest[end..]);
            }
            _ => rdata.extend(&r.rdata),
        }
        out.extend((rdata.len() as u16).to_be_bytes());
        out.extend(rdata);
    }
    if f & 128 != 0 {
        out.pop();
    }
    out
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

fn messages(mut data: &[u8], qtype: u16, zone: &[u8]) -> Vec<Vec<u8>> {
    let fx = fixture();
    let mut out = Vec::new();
    let mut records: Vec<Rr> = Vec::new();
    let apex_soa = |serial: u32, other: bool| {
        let (mname, ttl) = if other {
            ("ns9.example.net.", 600)
        } else {
            ("ns1.example.com.", fx.soa_ttl)
        };
        rr("example.com.", SOA, ttl, soa_rdata(mname, serial), Some(0))
    };
    while let Some(op) = take(&mut data, 1) {
        match op[0] % 8 {
            0 => {
                let Some(i) = take(&mut data, 1) else { break };
                let p = palette();
                records.push(p[usize::from(i[0]) % p.len()].clone());
            }
            1 => {
                let Some(b) = take(&mut data, 4) else { break };
                records.push(apex_soa(
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    false,
                ));
            }
            2 | 3 => {
                let Some(b) = take(&mut data, 1) else { break };
                records.push(apex_soa(BASE_SERIAL + u32::from(b[0] % 8), op[0] % 8 == 3));
            }
            4 => {
                let Some(f) = take(&mut data, 1) else { break };
                out.push(message(&records, Flags(f[0]), qtype, zone));
                records.clear();
            }
            5 => {
                let Some(n) = take(&mut data, 1) else { break };
                let Some(raw) = take(&mut data, usize::from(n[0])) else {
                    break;
                };
                out.push(raw.to_vec());
            }
            6 => {
                let Some(h) = take(&mut data, 4) else { break };
                let Some(rdata) = take(&mut data, usize::from(h[3])) else {
                    break;
                };
                let owner = OWNERS[usize::from(h[2]) % OWNERS.len()];
                records.push(rr(
                    owner,
                    u16::from_be_bytes([h[0], h[1]]),
                    300,
                    rdata.to_vec(),
                    None,
                ));
            }
            _ => return out,
        }
    }
    if !records.is_empty() {
        out.push(message(&records, Flags::default(), qtype, zone));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, program)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let ours = Serial(BASE_SERIAL);
    let kind = if mode & 1 == 1 {
        Kind::Ixfr { serial: ours }
    } else {
        Kind::Axfr
    };
    let qtype = if mode & 1 == 1 { 251 } else { 252 };
    let mut request = Request::from_wire(&fx.zone, kind, None, Duration::from_secs(60))
        .expect("a valid zone")
        .with_expire()
        .with_limits(StreamLimits {
            records: 500,
            bytes: 64 * 1024,
        });
    if mode & 1 == 1 {
        request = request.with_client_soa(fx.soa_ttl, &fx.soa_rdata);
    }
    let Ok((mut session, _query)) = Session::start(&request, ID) else {
        panic!("cannot start a session")
    };
    let mut collector = Collector::new(&fx.zone);
    for m in messages(program, qtype, &fx.zone) {
        if session.outcome().is_some() {
            break;
        }
        if session.message(&m, &mut collector).is_err() {
            return;
        }
    }
    let Ok(summary) = session.finish(Duration::ZERO) else {
        return;
    };
    let Ok(payload) = collector.into_payload(kind, &summary) else {
        return;
    };
    let theirs = summary.serial;
    match payload {
        Payload::UpToDate => {
            assert!(mode & 1 == 1, "up to date for an AXFR");
            assert!(
                !theirs.is_after(ours),
                "up to date with a newer serial {theirs}"
            );
        }
        Payload::Full { soa, records } => check_full(&soa, &records, theirs),
        Payload::Incremental(changes) => {
            assert!(mode & 1 == 1, "changesets for an AXFR");
            check_chain(&changes, ours, theirs);
            check_apply(&fx.base, &changes, theirs);
        }
    }
});

fn in_zone(owner: &[u8], zone: &[u8]) -> bool {
    owner.len() >= zone.len() && owner.ends_with(zone) && {
        // On a label boundary.
        let mut pos = 0;
        while pos < owner.len() - zone.len() {
            pos += 1 + usize::from(owner[pos]);
        }
        pos == owner.len() - zone.len()
    }
}

fn check_record(r: &Record) {
    let zone = &fixture().zone;
    assert!(in_zone(&r.owner, zone), "out-of-zone record {:?}", r.owner);
    assert!(
        !r.owner.iter().any(u8::is_ascii_uppercase),
        "owner not lower-case: {:?}",
        r.owner
    );
    assert!(r.rdata.len() <= 65535);
}

fn is_apex_soa(r: &Record) -> bool {
    r.rtype == SOA && r.owner == fixture().zone
}

fn check_full(soa: &Record, records: &[Record], theirs: Serial) {
    assert!(is_apex_soa(soa), "full zone without its apex SOA first");
    assert_eq!(
        soa_serial(&soa.rdata),
        Some(theirs),
        "full zone's SOA serial"
    );
    for r in records {
        check_record(r);
        assert!(!is_apex_soa(r), "an apex SOA among a full zone's records");
    }
    let mut b = ZoneBuilder::new(&fixture().zone).expect("a valid origin");
    b.add(&soa.owner, soa.rtype, soa.ttl, &soa.rdata, None);
    for r in records {
        b.add(&r.owner, r.rtype, r.ttl, &r.rdata, None);
    }
    if let Ok((v, _)) = b.finish() {
        assert_eq!(v.serial(), theirs, "the built zone's serial");
    }
}

fn check_chain(changes: &[Changeset], ours: Serial, theirs: Serial) {
    assert!(
        !changes.is_empty(),
        "an incremental answer without changesets"
    );
    let mut at = ours;
    for c in changes {
        assert_eq!(c.from_serial, at, "changeset chain broken");
        assert!(
            is_apex_soa(&c.old_soa) && is_apex_soa(&c.new_soa),
            "changeset framed by other records"
        );
        assert_eq!(soa_serial(&c.old_soa.rdata), Some(c.from_serial));
        assert_eq!(soa_serial(&c.new_soa.rdata), Some(c.to_serial));
        for r in c.removed.iter().chain(&c.added) {
            check_record(r);
            assert!(!is_apex_soa(r), "an apex SOA inside a changeset");
        }
        at = c.to_serial;
    }
    assert_eq!(
        at, theirs,
        "the changesets do not reach the server's serial"
    );
}

/// The zone as RRsets: (owner, type, covered type of RRSIGs) → (TTL, RDATA).
type Model = BTreeMap<(Vec<u8>, u16, u16), (u32, BTreeSet<Vec<u8>>)>;

fn key_of(r: &Record) -> Option<(Vec<u8>, u16, u16)> {
    let covered = if r.rtype == RRSIG {
        let c = r.rdata.get(..2)?;
        u16::from_be_bytes([c[0], c[1]])
    } else {
        0
    };
    Some((r.owner.to_ascii_lowercase(), r.rtype, covered))
}

fn model_of(v: &ZoneVersion) -> Model {
    let mut m = Model::new();
    for r in all_records(v) {
        let key = key_of(&r).expect("a stored RRSIG has its covered type");
        let e = m.entry(key).or_insert_with(|| (r.ttl, BTreeSet::new()));
        e.1.insert(r.rdata);
    }
    m
}

fn model_records(m: &Model) -> BTreeSet<Record> {
    let mut out = BTreeSet::new();
    for ((owner, rtype, _), (ttl, rdatas)) in m {
        for rdata in rdatas {
            out.insert(Record {
                owner: owner.clone(),
                rtype: *rtype,
                ttl: *ttl,
                rdata: rdata.clone(),
            });
        }
    }
    out
}

/// One changeset on the model; `None` where `ZoneVersion::apply` must
/// refuse it whatever the zone checks say.
fn model_apply(m: &mut Model, serial: &mut Serial, c: &Changeset) -> Option<()> {
    let zone = &fixture().zone;
    if c.from_serial != *serial {
        return None;
    }
    let soa_key = (zone.clone(), SOA, 0);
    let (ttl, soas) = m.get(&soa_key)?;
    if soas.len() != 1 || *ttl != c.old_soa.ttl || !soas.contains(&c.old_soa.rdata) {
        return None;
    }
    if !c.old_soa.owner.eq_ignore_ascii_case(zone) || !c.new_soa.owner.eq_ignore_ascii_case(zone) {
        return None;
    }
    if soa_field(&c.new_soa.rdata, 4).is_none() || soa_serial(&c.new_soa.rdata) != Some(c.to_serial)
    {
        return None;
    }
    m.insert(
        soa_key,
        (c.new_soa.ttl, BTreeSet::from([c.new_soa.rdata.clone()])),
    );
    for r in &c.removed {
        if r.rtype == SOA {
            return None;
        }
        let key = key_of(r)?;
        let e = m.get_mut(&key)?;
        if e.0 != r.ttl || !e.1.remove(&r.rdata) {
            return None;
        }
        if e.1.is_empty() {
            m.remove(&key);
        }
    }
    for r in &c.added {
        let t = r.rtype;
        if t == SOA || matches!(t, 41 | 249 | 250) || (251..=255).contains(&t) {
            return None;
        }
        let key = key_of(r)?;
        let e = m.entry(key).or_insert_with(|| (r.ttl, BTreeSet::new()));
        if !e.1.insert(r.rdata.clone()) {
            return None;
        }
    }
    *serial = c.to_serial;
    Some(())
}

fn check_apply(base: &ZoneVersion, changes: &[Changeset], theirs: Serial) {
    let mut model = model_of(base);
    let mut serial = base.serial();
    let model_ok = changes
        .iter()
        .all(|c| model_apply(&mut model, &mut serial, c).is_some());
    let applied = base.apply_all(changes);
    let Ok(version) = applied else {
        return;
    };
    assert!(model_ok, "apply_all took changesets the model refuses");
    assert_eq!(version.serial(), theirs, "applied to another serial");
    let got: BTreeSet<Record> = all_records(&version).into_iter().collect();
    let want = model_records(&model);
    assert_eq!(got, want, "the applied version is not the model's zone");
    let mut b = ZoneBuilder::new(&fixture().zone).expect("a valid origin");
    for r in &want {
        b.add(&r.owner, r.rtype, r.ttl, &r.rdata, None);
    }
    match b.finish() {
        Ok((built, _)) => {
            let built: BTreeSet<Record> = all_records(&built).into_iter().collect();
            assert_eq!(
                built, got,
                "the builder makes other records of the same zone"
            );
        }
        Err(e) => panic!(
            "apply_all made a version the builder refuses: {}",
            e.first().map(|e| e.to_string()).unwrap_or_default()
        ),
    }
}
