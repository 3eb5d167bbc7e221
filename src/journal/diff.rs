//! The changeset between two versions of a zone (RFC 1995 §4).

use super::{Changeset, Record};
use crate::zone::{rtype, Node, ZoneVersion};

/// Computes the changeset from `old` to `new` (RFC 1995 §4).
///
/// `removed` holds exactly the records that are in `old` and not in `new`,
/// `added` exactly those in `new` and not in `old`: an IXFR that deletes a
/// record that is absent or adds one that is present is rejected by some
/// secondaries (Knot), so nothing "to be safe" is sent. A record is owner,
/// type, TTL and RDATA, so an RRset whose TTL changed is removed and added
/// whole (RFC 2181 §5.2: an RRset has one TTL). RRSIGs, whether stored
/// beside the RRset they cover or as an RRSIG-only set, are records like
/// any other. The apex SOA is not in either list but in `old_soa` and
/// `new_soa`, the framing of an IXFR changeset.
///
/// When both versions index names alike (one derived from the other by
/// `apply` or `with_serial`, or built with the other's hasher, as a
/// reload is) the two indexes are walked side by side
/// ([`ZoneVersion::diff_nodes`]): what both share is skipped whole, so a
/// version against the one it was derived from costs the changed paths,
/// and two built apart one pass without lookups. Otherwise each name is
/// looked up in the other version. Either way nodes with the same packed
/// data ([`Node::same_content`]) are skipped without listing their
/// records. Empty non-terminals hold no records, so their appearing or
/// disappearing changes nothing here.
///
/// Both lists are sorted (by owner in wire format, then type, TTL, RDATA)
/// so that the same two versions always give the same changeset.
///
/// A version always has an SOA (checked when it is built); should one be
/// missing anyway, its SOA here is an SOA record with empty RDATA at the
/// origin, which a later step will reject rather than serve.
pub fn diff(old: &ZoneVersion, new: &ZoneVersion) -> Changeset {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut owner = Vec::new();
    let mut changed = |o: Option<&Node>, n: Option<&Node>| match (o, n) {
        (Some(o), Some(n)) if o.same_content(n) => {}
        (Some(o), Some(n)) => diff_node(o, n, &mut owner, &mut removed, &mut added),
        (Some(o), None) => {
            o.name_into(&mut owner);
            push_records(o, &owner, &mut removed);
        }
        (None, Some(n)) => {
            n.name_into(&mut owner);
            push_records(n, &owner, &mut added);
        }
        (None, None) => {}
    };
    if !old.diff_nodes(new, &mut changed) {
        for o in old.nodes_ahead() {
            changed(Some(o), new.get(o.key()));
        }
        for n in new.nodes() {
            // Nodes present in both were compared in the first pass.
            if old.get(n.key()).is_none() {
                changed(None, Some(n));
            }
        }
    }
    removed.sort_unstable();
    added.sort_unstable();
    Changeset {
        from_serial: old.serial(),
        to_serial: new.serial(),
        old_soa: soa_record(old),
        new_soa: soa_record(new),
        removed,
        added,
    }
}

/// The records of a node as (type, TTL, RDATA), sorted, without the SOA
/// (which the changeset carries separately).
fn node_records(node: &Node) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    for set in node.rrsets() {
        // The SOA itself travels as old_soa/new_soa; its RRSIGs do not.
        if set.rtype() != rtype::SOA {
            out.extend(set.rdatas().map(|r| (set.rtype(), set.ttl(), r)));
        }
        if let Some(sigs) = set.sigs() {
            out.extend(sigs.rdatas().map(|r| (rtype::RRSIG, sigs.ttl, r)));
        }
    }
    out.sort_unstable();
    out
}

fn to_record(owner: &[u8], (rtype, ttl, rdata): (u16, u32, &[u8])) -> Record {
    Record {
        owner: owner.to_vec(),
        rtype,
        ttl,
        rdata: rdata.to_vec(),
    }
}

fn push_records(node: &Node, owner: &[u8], out: &mut Vec<Record>) {
    out.extend(node_records(node).into_iter().map(|r| to_record(owner, r)));
}

/// Merges the sorted records of one name in both versions.
fn diff_node(
    old: &Node,
    new: &Node,
    owner: &mut Vec<u8>,
    removed: &mut Vec<Record>,
    added: &mut Vec<Record>,
) {
    let (a, b) = (node_records(old), node_records(new));
    if a == b {
        // Only flags changed (say, the node moved below a new cut), or
        // only the SOA: nothing to send.
        return;
    }
    old.name_into(owner);
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                removed.push(to_record(owner, *x));
                i += 1;
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                added.push(to_record(owner, *y));
                j += 1;
            }
            (Some(x), None) => {
                removed.push(to_record(owner, *x));
                i += 1;
            }
            (None, None) => break,
        }
    }
}

fn soa_record(v: &ZoneVersion) -> Record {
    let soa = v.soa();
    Record {
        owner: v.origin().to_vec(),
        rtype: rtype::SOA,
        ttl: soa.map_or(0, |s| s.ttl()),
        rdata: soa
            .and_then(|s| s.rdatas().next())
            .map_or_else(Vec::new, <[u8]>::to_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::Serial;
    use crate::zone::ZoneBuilder;
    use std::collections::BTreeSet;

    use crate::name::test_wire as wire;

    fn soa(serial: u32) -> Vec<u8> {
        let mut r = wire("ns.example.");
        r.extend(wire("host.example."));
        for v in [serial, 2, 3, 4, 5] {
            r.extend(v.to_be_bytes());
        }
        r
    }

    fn rrsig(covered: u16, tag: u8) -> Vec<u8> {
        let mut r = covered.to_be_bytes().to_vec();
        r.extend_from_slice(b"rest of an RRSIG ");
        r.push(tag);
        r
    }

    /// (owner, type, TTL, RDATA)
    type Spec<'a> = (&'a str, u16, u32, Vec<u8>);

    fn zone(serial: u32, records: &[Spec<'_>]) -> ZoneVersion {
        zone_like(serial, records, None)
    }

    /// A zone indexed like `like` (as a reload is), or apart.
    fn zone_like(serial: u32, records: &[Spec<'_>], like: Option<&ZoneVersion>) -> ZoneVersion {
        let mut b = ZoneBuilder::new(&wire("example.")).unwrap();
        if let Some(like) = like {
            b.hash_like(like);
        }
        b.add(&wire("example."), rtype::SOA, 60, &soa(serial), None);
        b.add(&wire("example."), rtype::NS, 60, &wire("ns.example."), None);
        for (owner, t, ttl, rdata) in records {
            b.add(&wire(owner), *t, *ttl, rdata, None);
        }
        b.finish().unwrap().0
    }

    fn rec(owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) -> Record {
        Record {
            owner: wire(owner),
            rtype,
            ttl,
            rdata: rdata.to_vec(),
        }
    }

    /// Every record of a version, SOA included, read independently of
    /// `diff`'s own walk.
    fn all_records(v: &ZoneVersion) -> BTreeSet<Record> {
        let mut out = BTreeSet::new();
        for node in v.nodes() {
            let mut owner = Vec::new();
            node.name_into(&mut owner);
            for set in node.rrsets() {
                for r in set.rdatas() {
                    out.insert(rec_wire(&owner, set.rtype(), set.ttl(), r));
                }
                if let Some(s) = set.sigs() {
                    for r in s.rdatas() {
                        out.insert(rec_wire(&owner, rtype::RRSIG, s.ttl, r));
                    }
                }
            }
        }
        out
    }

    fn rec_wire(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Record {
        Record {
            owner: owner.to_vec(),
            rtype,
            ttl,
            rdata: rdata.to_vec(),
        }
    }

    #[test]
    fn added_and_removed_hold_exactly_the_changed_records() {
        let old = zone(
            1,
            &[
                ("www.example.", rtype::A, 300, vec![192, 0, 2, 1]),
                ("www.example.", rtype::A, 300, vec![192, 0, 2, 2]),
                ("gone.example.", rtype::TXT, 300, b"\x03bye".to_vec()),
                ("same.example.", rtype::A, 300, vec![192, 0, 2, 9]),
            ],
        );
        let new = zone(
            2,
            &[
                ("www.example.", rtype::A, 300, vec![192, 0, 2, 2]),
                ("www.example.", rtype::A, 300, vec![192, 0, 2, 3]),
                ("a.new.example.", rtype::TXT, 60, b"\x02hi".to_vec()),
                ("same.example.", rtype::A, 300, vec![192, 0, 2, 9]),
            ],
        );
        let c = diff(&old, &new);
        assert_eq!((c.from_serial, c.to_serial), (Serial(1), Serial(2)));
        assert_eq!(c.old_soa, rec("example.", rtype::SOA, 60, &soa(1)));
        assert_eq!(c.new_soa, rec("example.", rtype::SOA, 60, &soa(2)));
        assert_eq!(
            c.removed,
            vec![
                rec("www.example.", rtype::A, 300, &[192, 0, 2, 1]),
                rec("gone.example.", rtype::TXT, 300, b"\x03bye"),
            ]
        );
        // The empty non-terminal new.example. contributes nothing.
        assert_eq!(
            c.added,
            vec![
                rec("a.new.example.", rtype::TXT, 60, b"\x02hi"),
                rec("www.example.", rtype::A, 300, &[192, 0, 2, 3]),
            ]
        );
    }

    #[test]
    fn a_ttl_change_removes_and_adds_the_whole_rrset() {
        let a = |ttl| {
            vec![
                ("www.example.", rtype::A, ttl, vec![192, 0, 2, 1]),
                ("www.example.", rtype::A, ttl, vec![192, 0, 2, 2]),
            ]
        };
        let c = diff(&zone(1, &a(300)), &zone(2, &a(600)));
        let set = |ttl| {
            vec![
                rec("www.example.", rtype::A, ttl, &[192, 0, 2, 1]),
                rec("www.example.", rtype::A, ttl, &[192, 0, 2, 2]),
            ]
        };
        assert_eq!(c.removed, set(300));
        assert_eq!(c.added, set(600));
    }

    #[test]
    fn rrsig_changes_are_records_too() {
        let a = ("www.example.", rtype::A, 300, vec![192, 0, 2, 1]);
        let old = zone(
            1,
            &[
                a.clone(),
                ("www.example.", rtype::RRSIG, 300, rrsig(rtype::A, 1)),
                // An RRSIG-only set: it covers a type the name lacks.
                ("www.example.", rtype::RRSIG, 300, rrsig(rtype::MX, 1)),
                // A signature over the SOA is a record like any other.
                ("example.", rtype::RRSIG, 60, rrsig(rtype::SOA, 1)),
            ],
        );
        let new = zone(
            2,
            &[
                a,
                ("www.example.", rtype::RRSIG, 300, rrsig(rtype::A, 2)),
                ("www.example.", rtype::RRSIG, 300, rrsig(rtype::MX, 1)),
                ("example.", rtype::RRSIG, 60, rrsig(rtype::SOA, 2)),
            ],
        );
        let c = diff(&old, &new);
        assert_eq!(
            c.removed,
            vec![
                rec("www.example.", rtype::RRSIG, 300, &rrsig(rtype::A, 1)),
                rec("example.", rtype::RRSIG, 60, &rrsig(rtype::SOA, 1)),
            ]
        );
        assert_eq!(
            c.added,
            vec![
                rec("www.example.", rtype::RRSIG, 300, &rrsig(rtype::A, 2)),
                rec("example.", rtype::RRSIG, 60, &rrsig(rtype::SOA, 2)),
            ]
        );
    }

    #[test]
    fn identical_zones_give_empty_lists() {
        let records = [
            ("www.example.", rtype::A, 300, vec![192, 0, 2, 1]),
            ("www.example.", rtype::RRSIG, 300, rrsig(rtype::A, 1)),
        ];
        let (old, new) = (zone(5, &records), zone(5, &records));
        let c = diff(&old, &new);
        assert!(c.removed.is_empty() && c.added.is_empty(), "{c:?}");
        assert_eq!((c.from_serial, c.to_serial), (Serial(5), Serial(5)));
        // Only the SOA changed: still nothing in the lists.
        let c = diff(&old, &zone(6, &records));
        assert!(c.removed.is_empty() && c.added.is_empty(), "{c:?}");
        assert_eq!(c.new_soa.rdata, soa(6));
    }

    #[test]
    fn a_version_diffed_with_itself_skips_every_shared_node() {
        let v = zone(1, &[("www.example.", rtype::A, 300, vec![192, 0, 2, 1])]);
        let c = diff(&v, &v);
        assert!(c.removed.is_empty() && c.added.is_empty(), "{c:?}");
    }

    use crate::testing::Rng;

    fn random_zone(rng: &mut Rng) -> ZoneVersion {
        let (serial, records) = random_records(rng);
        zone(serial, &records)
    }

    fn random_records(rng: &mut Rng) -> (u32, Vec<Spec<'static>>) {
        const OWNERS: [&str; 6] = [
            "example.",
            "a.example.",
            "b.example.",
            "x.b.example.",
            "y.z.b.example.",
            "c.example.",
        ];
        const TYPES: [u16; 4] = [rtype::A, rtype::TXT, rtype::AAAA, rtype::RRSIG];
        let mut records = Vec::new();
        for _ in 0..rng.below(14) {
            let owner = OWNERS[rng.below(OWNERS.len())];
            let t = TYPES[rng.below(TYPES.len())];
            let ttl = [60, 300][rng.below(2)];
            let v = rng.below(3) as u8;
            let rdata = match t {
                rtype::A => vec![192, 0, 2, v],
                rtype::AAAA => vec![v; 16],
                rtype::TXT => vec![1, b'a' + v],
                // Covering A (often present) or MX (never present).
                _ => rrsig([rtype::A, rtype::MX][rng.below(2)], v),
            };
            records.push((owner, t, ttl, rdata));
        }
        (rng.below(1000) as u32, records)
    }

    #[test]
    fn zones_indexed_alike_diff_as_zones_indexed_apart() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for round in 0..500 {
            let old = random_zone(&mut rng);
            let (serial, records) = random_records(&mut rng);
            let apart = diff(&old, &zone(serial, &records));
            let alike = zone_like(serial, &records, Some(&old));
            let mut walked = 0;
            assert!(
                old.diff_nodes(&alike, &mut |_, _| walked += 1),
                "round {round}"
            );
            assert_eq!(diff(&old, &alike), apart, "round {round}");
        }
    }

    #[test]
    fn applying_the_diff_to_random_old_zones_gives_the_new_zone() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..500 {
            let (old, new) = (random_zone(&mut rng), random_zone(&mut rng));
            let c = diff(&old, &new);
            let mut set = all_records(&old);
            assert!(set.remove(&c.old_soa), "round {round}: old SOA absent");
            for r in &c.removed {
                assert!(set.remove(r), "round {round}: removes absent {r:?}");
            }
            for r in &c.added {
                assert!(set.insert(r.clone()), "round {round}: adds present {r:?}");
            }
            assert!(set.insert(c.new_soa.clone()), "round {round}");
            assert_eq!(set, all_records(&new), "round {round}: {c:?}");
        }
    }
}
