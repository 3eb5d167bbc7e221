//! A catalog zone's member list as RFC 9432 §4 defines it, read from one
//! version of the catalog: `version` (must be "2"), the members
//! (`<unique-id>.zones` PTR), and their `group` and `coo` properties.
//!
//! What is wrong is reported member by member ([`Problem`]); only a
//! missing or unsupported `version` makes the whole catalog unusable
//! ([`CatalogError`]), and then the consumer keeps what it had.

use crate::name;
use crate::zone::{rtype, ZoneVersion};
use std::collections::BTreeMap;

/// One member zone of a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member zone's apex, lower-case wire format.
    pub zone: Vec<u8>,
    /// Its unique ID: the label below `zones` (lower case).
    pub id: Vec<u8>,
    /// Its `group` property values, in RDATA order.
    pub groups: Vec<String>,
    /// Its `coo` property: the catalog (wire, lower case) it moves to.
    pub coo: Option<Vec<u8>>,
}

/// A catalog's members, and the entries left out with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// By member zone (lower-case wire), so each zone is in it once.
    pub members: BTreeMap<Vec<u8>, Member>,
    pub problems: Vec<Problem>,
}

/// An entry of the catalog that is not used (RFC 9432 §4.2, §4.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{id}.zones: {count} PTR records (a member has exactly one); left out")]
    PtrCount { id: String, count: usize },
    #[error("{id}.zones: PTR data is not a domain name; left out")]
    BadPtr { id: String },
    #[error("{id}.zones: zone {zone} is already the member {first}; left out")]
    Duplicate {
        id: String,
        zone: String,
        first: String,
    },
    #[error("{id}.zones: the member is the catalog itself; left out")]
    Itself { id: String },
}

/// Why a catalog cannot be used at all (its members stay as they were).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("no version property (version TXT \"2\"): not a catalog zone")]
    NoVersion,
    #[error("version {0:?}: only catalog zones version \"2\" (RFC 9432) are supported")]
    Unsupported(String),
}

/// Reads the members of the catalog `version`. A zone named by two
/// unique IDs is the member of the one `keep` says (the ID it already
/// had, so a duplicate added later does not reset it), else of the
/// smaller ID.
pub fn read(
    catalog: &ZoneVersion,
    keep: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Result<Members, CatalogError> {
    let origin = catalog.origin();
    check_version(catalog)?;
    let zones_label: &[u8] = b"zones";
    let mut entries: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    let mut owner = Vec::new();
    for node in catalog.nodes() {
        owner.clear();
        node.name_into(&mut owner);
        let Some(rel) = relative_labels(&owner, origin) else {
            continue;
        };
        // <id>.zones, or <property>.<id>.zones
        let (property, id) = match rel.as_slice() {
            [id, zones] if zones.eq_ignore_ascii_case(zones_label) => (None, *id),
            [property, id, zones] if zones.eq_ignore_ascii_case(zones_label) => {
                (Some(*property), *id)
            }
            _ => continue,
        };
        let entry = entries.entry(id.to_ascii_lowercase()).or_default();
        match property {
            None => {
                if let Some(ptr) = node.rrset(rtype::PTR) {
                    entry.ptrs = ptr.rdatas().map(|r| r.to_vec()).collect();
                }
            }
            Some(p) if p.eq_ignore_ascii_case(b"group") => {
                if let Some(txt) = node.rrset(rtype::TXT) {
                    entry.groups = txt.rdatas().filter_map(txt_text).collect();
                }
            }
            Some(p) if p.eq_ignore_ascii_case(b"coo") => {
                if let Some(ptr) = node.rrset(rtype::PTR) {
                    entry.coo = ptr.rdatas().next().and_then(wire_name);
                }
            }
            // Unknown properties (and `serial` of the drafts, which RFC
            // 9432 does not have) are ignored (§4.4).
            Some(_) => {}
        }
    }
    let mut out = Members::default();
    // Each zone's candidate IDs, so a duplicate is decided by `keep`.
    let mut claims: BTreeMap<Vec<u8>, Vec<(Vec<u8>, Entry)>> = BTreeMap::new();
    for (id, entry) in entries {
        let shown = String::from_utf8_lossy(&id).into_owned();
        match entry.ptrs.len() {
            0 => continue, // properties without a member: nothing to serve
            1 => {}
            count => {
                out.problems.push(Problem::PtrCount { id: shown, count });
                continue;
            }
        }
        let Some(zone) = entry.ptrs.first().and_then(|p| wire_name(p)) else {
            out.problems.push(Problem::BadPtr { id: shown });
            continue;
        };
        if zone == origin {
            out.problems.push(Problem::Itself { id: shown });
            continue;
        }
        claims.entry(zone).or_default().push((id, entry));
    }
    for (zone, mut ids) in claims {
        let kept = keep(&zone)
            .and_then(|had| ids.iter().position(|(id, _)| *id == had))
            .unwrap_or(0);
        let (id, entry) = ids.swap_remove(kept);
        let first = String::from_utf8_lossy(&id).into_owned();
        for (other, _) in &ids {
            out.problems.push(Problem::Duplicate {
                id: String::from_utf8_lossy(other).into_owned(),
                zone: name::display(&zone).trim_end_matches('.').to_owned(),
                first: first.clone(),
            });
        }
        out.members.insert(
            zone.clone(),
            Member {
                zone,
                id,
                groups: entry.groups,
                coo: entry.coo,
            },
        );
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Entry {
    ptrs: Vec<Vec<u8>>,
    groups: Vec<String>,
    coo: Option<Vec<u8>>,
}

/// `version.<catalog>` TXT "2" (RFC 9432 §4.3.1).
fn check_version(catalog: &ZoneVersion) -> Result<(), CatalogError> {
    let mut owner = b"\x07version".to_vec();
    owner.extend_from_slice(catalog.origin());
    let key = name::key_of(&owner).ok_or(CatalogError::NoVersion)?;
    let txt = catalog
        .get(&key)
        .and_then(|n| n.rrset(rtype::TXT))
        .ok_or(CatalogError::NoVersion)?;
    let values: Vec<String> = txt.rdatas().filter_map(txt_text).collect();
    match values.as_slice() {
        [v] if v == "2" => Ok(()),
        [] => Err(CatalogError::NoVersion),
        _ => Err(CatalogError::Unsupported(values.join(" "))),
    }
}

/// The labels of `owner` below `origin`, leftmost first; none when it is
/// not below it.
fn relative_labels<'a>(owner: &'a [u8], origin: &[u8]) -> Option<Vec<&'a [u8]>> {
    if owner.len() <= origin.len() || !name::is_subdomain(owner, origin) {
        return None;
    }
    let all: Vec<&[u8]> = name::labels(owner).collect();
    let below = all.len().checked_sub(name::label_count(origin))?;
    Some(all.into_iter().take(below).collect())
}

/// A name in uncompressed wire format (RDATA of PTR), lower-cased; none
/// when malformed or followed by anything.
fn wire_name(rdata: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0usize;
    loop {
        let len = usize::from(*rdata.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    (at == rdata.len() && at <= 255).then(|| rdata.to_ascii_lowercase())
}

/// One TXT record's text: its strings joined (a group name is one string
/// in practice); none when not UTF-8 or malformed.
fn txt_text(rdata: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < rdata.len() {
        let len = usize::from(*rdata.get(at)?);
        out.extend_from_slice(rdata.get(at + 1..at + 1 + len)?);
        at += 1 + len;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::test_version;

    const HEAD: &str =
        "$ORIGIN catz.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 86400 0\n@ NS invalid.\n";

    fn members(body: &str) -> Result<Members, CatalogError> {
        read(&test_version("catz", &format!("{HEAD}{body}")), |_| None)
    }

    fn zone(m: &Members, name: &str) -> Option<Member> {
        m.members.get(&crate::name::test_wire(name)).cloned()
    }

    #[test]
    fn members_with_groups_and_coo_are_read() {
        let m = members(
            "version TXT \"2\"\nabc.zones PTR example.com.\ngroup.abc.zones TXT \"fast\"\n\
             def.zones PTR EXAMPLE.net.\ncoo.def.zones PTR other.catz.\nserial.def.zones TXT \"x\"\n",
        )
        .expect("a catalog");
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.members.len(), 2);
        let com = zone(&m, "example.com").expect("example.com");
        assert_eq!(com.id, b"abc");
        assert_eq!(com.groups, ["fast"]);
        assert_eq!(com.coo, None);
        let net = zone(&m, "example.net").expect("example.net, lower-cased");
        assert_eq!(net.coo, Some(crate::name::test_wire("other.catz")));
        assert!(net.groups.is_empty());
    }

    #[test]
    fn version_must_be_2() {
        assert_eq!(
            members("a.zones PTR example.com.\n"),
            Err(CatalogError::NoVersion)
        );
        assert_eq!(
            members("version TXT \"1\"\na.zones PTR example.com.\n"),
            Err(CatalogError::Unsupported("1".into()))
        );
    }

    #[test]
    fn bad_entries_are_left_out_one_by_one() {
        let m = members(
            "version TXT \"2\"\ngood.zones PTR example.com.\n\
             two.zones PTR a.example.\ntwo.zones PTR b.example.\n\
             dup.zones PTR example.com.\nself.zones PTR catz.\n\
             group.orphan.zones TXT \"x\"\nx.y.other PTR example.org.\n",
        )
        .expect("a catalog");
        assert_eq!(m.members.len(), 1, "{m:?}");
        assert_eq!(
            zone(&m, "example.com").map(|z| z.id),
            Some(b"dup".to_vec()),
            "the smaller ID"
        );
        let shown: Vec<String> = m.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            shown.iter().any(|p| p.contains("two.zones: 2 PTR")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|p| p.contains("good.zones: zone example.com is already the member dup")),
            "{shown:?}"
        );
        assert!(shown.iter().any(|p| p.contains("self.zones")), "{shown:?}");
        assert_eq!(shown.len(), 3, "{shown:?}");
    }

    #[test]
    fn a_duplicate_keeps_the_id_the_member_already_has() {
        let text = format!(
            "{HEAD}version TXT \"2\"\naaa.zones PTR example.com.\nzzz.zones PTR example.com.\n"
        );
        let v = test_version("catz", &text);
        let m = read(&v, |_| Some(b"zzz".to_vec())).expect("a catalog");
        assert_eq!(zone(&m, "example.com").map(|z| z.id), Some(b"zzz".to_vec()));
    }
}
