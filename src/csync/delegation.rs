//! A child's delegation as the parent zone holds it: the NS RRset at the
//! cut, the DS RRset, and the glue (A and AAAA) of the NS names inside
//! the child, and the change that turns one delegation into another.
//!
//! Names are lower-case uncompressed wire format throughout, so sets of
//! them compare as the DNS compares names.

use crate::journal::Record;
use crate::name;
use crate::zone::{rtype, ZoneVersion};
use std::collections::{BTreeMap, BTreeSet};

/// RDATA of one RRset, with its TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrsetData {
    pub ttl: u32,
    pub rdatas: BTreeSet<Vec<u8>>,
}

/// What the parent says about one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub child: Vec<u8>,
    pub ns: BTreeSet<Vec<u8>>,
    pub ns_ttl: u32,
    /// DS RDATA: the trust anchor CSYNC data is validated from.
    pub ds: Vec<Vec<u8>>,
    /// A and AAAA RRsets at the NS names inside the child (glue), keyed by
    /// (name, type).
    pub glue: BTreeMap<(Vec<u8>, u16), RrsetData>,
}

/// The lower-case copy of a wire name.
pub fn lower(name: &[u8]) -> Vec<u8> {
    let mut n = name.to_vec();
    name::make_lowercase(&mut n);
    n
}

/// Whether `ns` is inside the child (so its addresses are glue the child
/// itself publishes; RFC 7477 §3.2.2 copies only those).
pub fn in_bailiwick(ns: &[u8], child: &[u8]) -> bool {
    name::is_subdomain(ns, child)
}

/// The delegation points of a zone: every name with NS other than the
/// apex, in no particular order.
pub fn delegation_points(version: &ZoneVersion) -> Vec<Vec<u8>> {
    let apex = version.origin();
    let mut out = Vec::new();
    for node in version.nodes() {
        if node.rrset(rtype::NS).is_none() {
            continue;
        }
        let mut owner = Vec::new();
        node.name_into(&mut owner);
        if !owner.eq_ignore_ascii_case(apex) {
            out.push(owner);
        }
    }
    out.sort();
    out
}

/// RDATA and TTL of `owner`/`rtype` in `version`, if any.
pub fn rrset_at(version: &ZoneVersion, owner: &[u8], rtype: u16) -> Option<RrsetData> {
    let key = name::key_of(owner)?;
    let set = version.get(&key)?.rrset(rtype)?;
    let rdatas = set.rdatas().map(|r| canonical_rdata(rtype, r)).collect();
    Some(RrsetData {
        ttl: set.ttl(),
        rdatas,
    })
}

/// RDATA in the form compared and stored here: NS targets lower-cased
/// (RFC 4034 §6.2), others as they are.
pub fn canonical_rdata(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    if rtype == rtype::NS {
        lower(rdata)
    } else {
        rdata.to_vec()
    }
}

/// The delegation of `child` in `version`, `None` when the parent has no
/// NS RRset there (not a delegation).
pub fn read(version: &ZoneVersion, child: &[u8]) -> Option<Delegation> {
    let child = lower(child);
    let ns = rrset_at(version, &child, rtype::NS)?;
    let ds = rrset_at(version, &child, rtype::DS)
        .map(|d| d.rdatas.into_iter().collect())
        .unwrap_or_default();
    let mut glue = BTreeMap::new();
    for target in ns.rdatas.iter().filter(|t| in_bailiwick(t, &child)) {
        for t in [rtype::A, rtype::AAAA] {
            if let Some(set) = rrset_at(version, target, t) {
                glue.insert((target.clone(), t), set);
            }
        }
    }
    Some(Delegation {
        child,
        ns_ttl: ns.ttl,
        ns: ns.rdatas,
        ds,
        glue,
    })
}

/// The records that turn the delegation `from` into `to`: removed and
/// added, each with the TTL it has (removed) or will have (added).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// One line per record, `- owner TTL TYPE data` / `+ ...`, for the
    /// audit log and `csync scan`.
    pub fn lines(&self) -> Vec<String> {
        let removed = self.removed.iter().map(|r| format!("- {}", present(r)));
        let added = self.added.iter().map(|r| format!("+ {}", present(r)));
        removed.chain(added).collect()
    }
}

/// The NS and glue RRsets that differ between `from` and `to` (DS is not
/// CSYNC's business), whole RRsets replaced.
pub fn change(from: &Delegation, to: &Delegation) -> Change {
    let mut c = Change::default();
    if from.ns != to.ns {
        let owner = &from.child;
        c.removed
            .extend(records(owner, rtype::NS, from.ns_ttl, &from.ns));
        c.added.extend(records(owner, rtype::NS, to.ns_ttl, &to.ns));
    }
    let keys: BTreeSet<&(Vec<u8>, u16)> = from.glue.keys().chain(to.glue.keys()).collect();
    for key in keys {
        let (old, new) = (from.glue.get(key), to.glue.get(key));
        if old == new {
            continue;
        }
        let (owner, t) = key;
        if let Some(old) = old {
            c.removed.extend(records(owner, *t, old.ttl, &old.rdatas));
        }
        if let Some(new) = new {
            c.added.extend(records(owner, *t, new.ttl, &new.rdatas));
        }
    }
    c
}

fn records<'a>(
    owner: &'a [u8],
    rtype: u16,
    ttl: u32,
    rdatas: &'a BTreeSet<Vec<u8>>,
) -> impl Iterator<Item = Record> + 'a {
    rdatas.iter().map(move |r| Record {
        owner: owner.to_vec(),
        rtype,
        ttl,
        rdata: r.clone(),
    })
}

/// A record in presentation form, absolute names, explicit TTL and
/// class: `owner TTL IN TYPE data` (NS, A and AAAA in their usual form,
/// DS and the rest as RFC 3597 generic data, which every parser reads
/// back; see [`zonefile::write`](crate::zonefile::write)).
pub fn present(r: &Record) -> String {
    crate::zonefile::write::record_text(&r.owner, r.ttl, r.rtype, &r.rdata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::test_wire as wire;
    use crate::zone::ZoneBuilder;
    use crate::zonefile::{parse_str_each, ParseOptions};

    fn version(text: &str) -> ZoneVersion {
        let origin = wire("example.");
        let mut b = ZoneBuilder::new(&origin).unwrap();
        let opts = ParseOptions::new(origin.clone());
        parse_str_each(text, std::path::Path::new("parent.zone"), &opts, &mut |r| {
            b.add(r.owner, r.rtype, r.ttl, r.rdata, None);
        })
        .unwrap();
        b.finish().unwrap().0
    }

    const PARENT: &str = "$ORIGIN example.\n$TTL 300\n\
        @ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n\
        Child 3600 NS NS1.child\nchild 3600 NS ns.other.net.\n\
        child DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000\n\
        ns1.child 3600 A 192.0.2.10\nns1.child 3600 AAAA 2001:db8::10\n\
        unsigned NS ns.unsigned\nns.unsigned A 192.0.2.20\n";

    #[test]
    fn reads_ns_ds_and_in_bailiwick_glue() {
        let v = version(PARENT);
        let d = read(&v, &wire("CHILD.example.")).unwrap();
        assert_eq!(d.child, wire("child.example."));
        assert_eq!(d.ns_ttl, 3600);
        let ns: Vec<String> = d.ns.iter().map(|n| name::display(n)).collect();
        assert_eq!(ns, ["ns.other.net.", "ns1.child.example."]);
        assert_eq!(d.ds.len(), 1);
        assert_eq!(d.glue.len(), 2, "{:?}", d.glue.keys());
        assert!(read(&v, &wire("www.example.")).is_none());
        let unsigned = read(&v, &wire("unsigned.example.")).unwrap();
        assert!(unsigned.ds.is_empty());
        assert_eq!(
            delegation_points(&v),
            vec![wire("child.example."), wire("unsigned.example.")]
        );
    }

    #[test]
    fn change_replaces_whole_rrsets_and_presents_them() {
        let v = version(PARENT);
        let from = read(&v, &wire("child.example.")).unwrap();
        let mut to = from.clone();
        to.ns.remove(&wire("ns.other.net."));
        to.ns.insert(wire("ns2.child.example."));
        to.glue.insert(
            (wire("ns2.child.example."), rtype::A),
            RrsetData {
                ttl: 3600,
                rdatas: [vec![192, 0, 2, 11]].into(),
            },
        );
        let c = change(&from, &to);
        assert_eq!(
            c.lines(),
            [
                "- child.example. 3600 IN NS ns.other.net.",
                "- child.example. 3600 IN NS ns1.child.example.",
                "+ child.example. 3600 IN NS ns1.child.example.",
                "+ child.example. 3600 IN NS ns2.child.example.",
                "+ ns2.child.example. 3600 IN A 192.0.2.11",
            ]
        );
        assert!(change(&from, &from).is_empty());
    }
}
