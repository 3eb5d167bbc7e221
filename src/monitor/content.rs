//! What differs between the primary and a `different` row
//! (docs/design/replication-doctor.md §3): the message of the doctor's
//! `different-content` names the RRsets with both values ("www.example.com.
//! A: primary has 192.0.2.1, 127.0.0.4 serves 192.0.2.99").
//!
//! Inside the primary the monitor has the version it serves
//! (`PrimarySide::served`). The row's zone is transferred (AXFR, unsigned,
//! bounded in time and size, on a blocking thread) and the two versions
//! are compared RRset by RRset; when the row does not transfer the zone to
//! us, the `[[monitor.zone]] records` it answered are compared instead.
//! Each row's result is kept for its serial ([`DiffCache`]): a row is
//! transferred once per serial, however long it stays different.

use crate::serial::Serial;
use crate::verify::probe::{rrset_of, RrsetKey, RrsetView};
use crate::xfr::incoming::{self, Limits, Payload, Primary};
use crate::zone::{rtype, Node, ZoneVersion};
use domain::base::iana::{Rcode, Rtype};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

/// RRsets named in one message; the rest are counted ("and 3 more").
pub const RRSETS_LISTED: usize = 5;

/// The longest a row's transfer may take (the zone's check waits for it).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(20);

/// Octets a transferred record may take on average before the transfer
/// is cut (the bound is on the whole stream).
const OCTETS_PER_RECORD: u64 = 512;

/// The transfer's bounds: a row's copy of the zone is about the size of
/// ours, so twice ours (and 10,000 records more, for small zones) is
/// plenty, and a server streaming without end is cut off.
pub fn transfer_limits(ours: &ZoneVersion) -> Limits {
    let max_records = ours.record_count().saturating_mul(2).saturating_add(10_000);
    Limits {
        max_records,
        max_bytes: (max_records as u64)
            .saturating_mul(OCTETS_PER_RECORD)
            .min(1 << 30),
        timeout: TRANSFER_TIMEOUT,
    }
}

/// The row's zone by AXFR, unsigned, as a version. Blocks: call it on a
/// blocking thread.
pub fn transfer(addr: SocketAddr, ours: &ZoneVersion) -> Result<ZoneVersion, String> {
    let origin = ours.origin();
    let fetched = incoming::fetch(
        &Primary::new(addr, None),
        origin,
        None,
        &transfer_limits(ours),
    )
    .map_err(|e| e.to_string())?;
    let Payload::Full { soa, records } = fetched.payload else {
        return Err("the AXFR was not answered with the whole zone".into());
    };
    crate::replication::secondary::build_full(origin, &soa, &records).map_err(|e| e.to_string())
}

/// The RRsets of a node by type, RRSIGs (kept beside each RRset in the
/// store) gathered as one RRSIG set, as a server answers them.
fn node_sets(node: &Node) -> BTreeMap<u16, (u32, Vec<&[u8]>)> {
    let mut sets: BTreeMap<u16, (u32, Vec<&[u8]>)> = BTreeMap::new();
    for set in node.rrsets() {
        let mut rdatas: Vec<&[u8]> = set.rdatas().collect();
        rdatas.sort_unstable();
        sets.insert(set.rtype(), (set.ttl(), rdatas));
        if let Some(sigs) = set.sigs() {
            let entry = sets.entry(rtype::RRSIG).or_insert((sigs.ttl, Vec::new()));
            entry.0 = entry.0.min(sigs.ttl);
            entry.1.extend(sigs.rdatas());
        }
    }
    if let Some((_, rdatas)) = sets.get_mut(&rtype::RRSIG) {
        rdatas.sort_unstable();
    }
    sets
}

fn view(sets: &BTreeMap<u16, (u32, Vec<&[u8]>)>, t: u16) -> RrsetView {
    match sets.get(&t) {
        Some((ttl, rdatas)) => rrset_of(Rtype::from_int(t), Some(*ttl), rdatas.iter().copied()),
        None => rrset_of(Rtype::from_int(t), None, []),
    }
}

fn nxdomain() -> RrsetView {
    RrsetView {
        rcode: Rcode::NXDOMAIN,
        ..rrset_of(Rtype::A, None, [])
    }
}

/// An RRset's place: its owner's lookup key (canonical order) and type.
type Place = (Box<[u8]>, u16);

/// The differing RRsets found so far: the first [`RRSETS_LISTED`] in
/// canonical order, and how many in all.
#[derive(Default)]
struct Found {
    /// Ours, then theirs.
    listed: BTreeMap<Place, (RrsetView, RrsetView)>,
    total: usize,
}

impl Found {
    fn note(&mut self, key: &[u8], t: u16, ours: RrsetView, theirs: RrsetView) {
        self.total += 1;
        self.listed.insert((key.into(), t), (ours, theirs));
        if self.listed.len() > RRSETS_LISTED {
            self.listed.pop_last();
        }
    }

    /// Compares each type of one name in both.
    fn node(&mut self, key: &[u8], ours: Option<&Node>, theirs: Option<&Node>) {
        let (a, b) = (
            ours.map(node_sets).unwrap_or_default(),
            theirs.map(node_sets).unwrap_or_default(),
        );
        let types: BTreeSet<u16> = a.keys().chain(b.keys()).copied().collect();
        for t in types {
            if a.get(&t) == b.get(&t) {
                continue;
            }
            let (va, vb) = (view(&a, t), view(&b, t));
            // Equal once canonical (names in RDATA in another case).
            if va.same_as(&vb) {
                continue;
            }
            self.note(key, t, va, vb);
        }
    }

    /// "OWNER TYPE: primary has …, PEER serves …; …; and N more RRsets".
    fn text(&self, peer: IpAddr) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let mut owner = Vec::new();
        let mut parts: Vec<String> = self
            .listed
            .iter()
            .map(|((key, t), (ours, theirs))| {
                crate::name::name_from_key(key, &mut owner);
                format!(
                    "{} {}: primary has {}, {peer} serves {}",
                    crate::name::display(&owner),
                    crate::rdata::rtype_to_presentation(*t),
                    values(ours, theirs),
                    values(theirs, ours)
                )
            })
            .collect();
        let more = self.total.saturating_sub(self.listed.len());
        if more > 0 {
            parts.push(format!(
                "and {more} more RRset{}",
                if more == 1 { "" } else { "s" }
            ));
        }
        Some(parts.join("; "))
    }
}

/// One side's values: the RDATA, with the TTL only when the TTLs differ
/// (else the values say it all).
fn values(side: &RrsetView, other: &RrsetView) -> String {
    if side.rcode != Rcode::NOERROR {
        return side.rcode.to_string();
    }
    if side.text.is_empty() {
        return "nothing".into();
    }
    let text = side.text.join(", ");
    match (side.ttl, other.ttl) {
        (Some(a), Some(b)) if a != b => format!("TTL {a} {text}"),
        _ => text,
    }
}

/// What differs between the version we serve and the row's, RRset by
/// RRset (SOA and RRSIGs included); `None` when nothing does.
pub fn diff_versions(ours: &ZoneVersion, theirs: &ZoneVersion, peer: IpAddr) -> Option<String> {
    let mut found = Found::default();
    for o in ours.nodes() {
        match theirs.get(o.key()) {
            Some(t) if t.same(o) => {}
            t => found.node(o.key(), Some(o), t),
        }
    }
    for t in theirs.nodes() {
        if ours.get(t.key()).is_none() {
            found.node(t.key(), None, Some(t));
        }
    }
    found.text(peer)
}

/// What differs between the version we serve and the RRsets the row
/// answered (`[[monitor.zone]] records`, when it does not transfer the
/// zone to us); `None` when nothing does or nothing was asked.
pub fn diff_listed(
    ours: &ZoneVersion,
    answered: &[(RrsetKey, Option<RrsetView>)],
    peer: IpAddr,
) -> Option<String> {
    let mut found = Found::default();
    for (key, theirs) in answered {
        let Some(theirs) = theirs else { continue };
        let mut owner = key.owner.as_slice().to_vec();
        crate::name::make_lowercase(&mut owner);
        let Some(lookup) = crate::name::key_of(&owner) else {
            continue;
        };
        let t = key.rtype.to_int();
        let mine = match answering_node(ours, &owner) {
            Some(node) => view(&node_sets(node), t),
            None => nxdomain(),
        };
        if !mine.same_as(theirs) {
            found.note(&lookup, t, mine, theirs.clone());
        }
    }
    found.text(peer)
}

/// The node whose RRsets answer `owner`: its own, or the wildcard at its
/// closest encloser (RFC 4592); `None`: the name does not exist.
fn answering_node<'a>(ours: &'a ZoneVersion, owner: &[u8]) -> Option<&'a Node> {
    let at = |name: &[u8]| crate::name::key_of(name).and_then(|k| ours.get(&k));
    if let Some(node) = at(owner) {
        return Some(node);
    }
    let below_apex = crate::name::label_count(owner).checked_sub(ours.origin_labels())?;
    for strip in 1..=below_apex {
        let encloser = crate::name::strip_labels(owner, strip);
        if at(encloser).is_some() {
            let mut wildcard = vec![1, b'*'];
            wildcard.extend_from_slice(encloser);
            return at(&wildcard);
        }
    }
    None
}

/// Each `different` row's diff for the serial it serves: a row is
/// transferred once per serial. Rows no longer different are forgotten
/// ([`DiffCache::keep`]), so the cache holds at most a zone's rows.
#[derive(Debug, Default)]
pub struct DiffCache {
    rows: Mutex<BTreeMap<SocketAddr, (Serial, Option<String>)>>,
}

impl DiffCache {
    /// The row's diff at `serial`, when it was made: `Some(None)` when
    /// nothing could be told.
    pub fn get(&self, addr: SocketAddr, serial: Serial) -> Option<Option<String>> {
        let rows = self.rows.lock().ok()?;
        rows.get(&addr)
            .filter(|(s, _)| *s == serial)
            .map(|(_, text)| text.clone())
    }

    pub fn put(&self, addr: SocketAddr, serial: Serial, text: Option<String>) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.insert(addr, (serial, text));
        }
    }

    /// Forgets every row but these.
    pub fn keep(&self, addrs: &[SocketAddr]) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.retain(|a, _| addrs.contains(a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> ZoneVersion {
        crate::zone::test_version("example.com.", text)
    }

    fn zone(serial: u32, more: &str) -> String {
        format!(
            "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n\
             @ NS ns1\nns1 A 127.0.0.1\n{more}"
        )
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 4));

    #[test]
    fn one_rrset_named_with_both_values() {
        let ours = version(&zone(5, "www A 192.0.2.1\n"));
        let theirs = version(&zone(5, "www A 192.0.2.99\n"));
        assert_eq!(
            diff_versions(&ours, &theirs, PEER).as_deref(),
            Some("www.example.com. A: primary has 192.0.2.1, 127.0.0.4 serves 192.0.2.99")
        );
        assert_eq!(
            diff_versions(&ours, &version(&zone(5, "www A 192.0.2.1\n")), PEER),
            None
        );
    }

    #[test]
    fn missing_names_types_ttls_and_the_soa_are_differences() {
        let ours = version(&zone(5, "www A 192.0.2.1\nmail MX 10 mx\n"));
        let theirs = version(&zone(
            5,
            "www 60 A 192.0.2.1\nwww AAAA 2001:db8::1\nftp TXT \"x\"\n",
        ));
        let text = diff_versions(&ours, &theirs, PEER).unwrap_or_default();
        assert!(
            text.contains(
                "mail.example.com. MX: primary has 10 mx.example.com., 127.0.0.4 serves nothing"
            ),
            "{text}"
        );
        assert!(
            text.contains("www.example.com. A: primary has TTL 300 192.0.2.1, 127.0.0.4 serves TTL 60 192.0.2.1"),
            "{text}"
        );
        assert!(
            text.contains(
                "www.example.com. AAAA: primary has nothing, 127.0.0.4 serves 2001:db8::1"
            ),
            "{text}"
        );
        assert!(
            text.contains("ftp.example.com. TXT: primary has nothing"),
            "{text}"
        );
        let soa =
            diff_versions(&version(&zone(5, "")), &version(&zone(6, "")), PEER).unwrap_or_default();
        assert!(soa.starts_with("example.com. SOA: primary has "), "{soa}");
        assert!(soa.contains(" 5 3600") && soa.contains(" 6 3600"), "{soa}");
    }

    #[test]
    fn at_most_five_rrsets_then_a_count() {
        let ours = version(&zone(5, ""));
        let more: String = (0..8).map(|i| format!("h{i} A 192.0.2.{i}\n")).collect();
        let theirs = version(&zone(5, &more));
        let text = diff_versions(&ours, &theirs, PEER).unwrap_or_default();
        assert_eq!(
            text.matches(": primary has nothing").count(),
            RRSETS_LISTED,
            "{text}"
        );
        assert!(text.ends_with("; and 3 more RRsets"), "{text}");
        // Canonical order: the first five names.
        assert!(text.starts_with("h0.example.com. A"), "{text}");
        assert!(!text.contains("h7.example.com."), "{text}");
    }

    fn answered(
        owner: &str,
        t: Rtype,
        rcode: Rcode,
        values: &[&str],
    ) -> (RrsetKey, Option<RrsetView>) {
        let mut rdatas = Vec::new();
        for v in values {
            let a: std::net::Ipv4Addr = v.parse().expect("an IPv4 address");
            rdatas.push(a.octets().to_vec());
        }
        let view = RrsetView {
            rcode,
            ..rrset_of(t, Some(300), rdatas.iter().map(Vec::as_slice))
        };
        let owner = owner.parse().expect("a name");
        (RrsetKey { owner, rtype: t }, Some(view))
    }

    #[test]
    fn the_records_answered_are_compared_when_there_is_no_transfer() {
        let ours = version(&zone(5, "www A 192.0.2.1\n*.w A 192.0.2.7\n"));
        let same = answered("WWW.example.com.", Rtype::A, Rcode::NOERROR, &["192.0.2.1"]);
        let other = answered(
            "www.example.com.",
            Rtype::A,
            Rcode::NOERROR,
            &["192.0.2.99"],
        );
        let wildcard = answered("x.w.example.com.", Rtype::A, Rcode::NOERROR, &["192.0.2.7"]);
        let gone = answered("nope.example.com.", Rtype::A, Rcode::NXDOMAIN, &[]);
        let unanswered = (same.0.clone(), None);
        assert_eq!(
            diff_listed(
                &ours,
                &[same, wildcard.clone(), gone.clone(), unanswered],
                PEER
            ),
            None
        );
        assert_eq!(
            diff_listed(&ours, &[other, wildcard], PEER).as_deref(),
            Some("www.example.com. A: primary has 192.0.2.1, 127.0.0.4 serves 192.0.2.99")
        );
        let invented = answered(
            "nope.example.com.",
            Rtype::A,
            Rcode::NOERROR,
            &["192.0.2.5"],
        );
        assert_eq!(
            diff_listed(&ours, &[invented], PEER).as_deref(),
            Some("nope.example.com. A: primary has NXDOMAIN, 127.0.0.4 serves 192.0.2.5")
        );
    }

    #[test]
    fn the_cache_holds_one_serial_per_row_and_forgets_rows() {
        let cache = DiffCache::default();
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.2:53".parse().unwrap(),
            "127.0.0.3:53".parse().unwrap(),
        );
        assert_eq!(cache.get(a, Serial(5)), None);
        cache.put(a, Serial(5), Some("x".into()));
        cache.put(b, Serial(5), None);
        assert_eq!(cache.get(a, Serial(5)), Some(Some("x".into())));
        assert_eq!(cache.get(a, Serial(6)), None);
        assert_eq!(cache.get(b, Serial(5)), Some(None));
        cache.keep(&[b]);
        assert_eq!(cache.get(a, Serial(5)), None);
        assert_eq!(cache.get(b, Serial(5)), Some(None));
    }

    #[test]
    fn limits_grow_with_the_zone_and_stay_bounded() {
        let small = transfer_limits(&version(&zone(5, "")));
        assert!(small.max_records >= 10_000 && small.max_bytes <= 1 << 30);
        assert_eq!(small.timeout, TRANSFER_TIMEOUT);
    }
}
