//! The authenticated-denial chains: NSEC (RFC 4034 §4, RFC 4035 §2.3) and
//! NSEC3 (RFC 5155 §7.1). A broken chain makes validating resolvers
//! reject our negative answers (and, with NSEC3, positive wildcard ones),
//! so a zone whose signer left a gap or a stale record is reported.

use super::check::{Class, Sink, ZoneName};
use super::rdata::{self, Nsec, Nsec3, Nsec3Params, OPT_OUT};
use super::{type_name, Code, MAX_NSEC3_ITERATIONS};
use crate::name;
use crate::zone::rtype;
use std::collections::{BTreeMap, HashMap};

/// Checks whichever chains the zone has; a signed zone with neither is
/// reported.
pub(super) fn check(names: &[ZoneName<'_>], origin: &[u8], sink: &mut Sink) {
    let has = |t: u16| names.iter().any(|n| n.node.rrset(t).is_some());
    let params = apex_params(names);
    let (nsec, nsec3) = (has(rtype::NSEC), has(rtype::NSEC3) || !params.is_empty());
    if nsec {
        check_nsec(names, origin, sink);
    }
    if nsec3 {
        check_nsec3(names, origin, &params, sink);
    }
    if !nsec && !nsec3 {
        sink.add(Code::DenialMissing, origin, None, || {
            "the zone is signed but has neither NSEC nor NSEC3 records: negative answers cannot be validated".into()
        });
    }
}

/// Whether a name must be in the NSEC chain: every name holding
/// authoritative data, delegation points included (RFC 4035 §2.3).
fn needs_nsec(n: &ZoneName<'_>) -> bool {
    matches!(n.class, Class::Apex | Class::Auth | Class::Cut) && !n.node.is_empty_nonterminal()
}

fn check_nsec(names: &[ZoneName<'_>], origin: &[u8], sink: &mut Sink) {
    for n in names {
        let has = n.node.rrset(rtype::NSEC).is_some();
        if needs_nsec(n) && !has {
            sink.add(Code::NsecMissing, &n.owner, None, || {
                "no NSEC for this name: the NSEC chain has a gap here".into()
            });
        } else if has && n.class == Class::Glue {
            sink.add(Code::NsecExtra, &n.owner, Some(rtype::NSEC), || {
                "glue below a delegation has an NSEC; only authoritative names and delegation points belong in the chain".into()
            });
        }
    }
    let chain: Vec<&ZoneName<'_>> = names
        .iter()
        .filter(|n| n.node.rrset(rtype::NSEC).is_some())
        .collect();
    for (i, n) in chain.iter().enumerate() {
        // The last NSEC points back to the apex (RFC 4034 §4.1.1).
        let next = chain.get(i + 1).map_or(origin, |m| &m.owner[..]);
        check_one_nsec(n, next, sink);
    }
}

fn check_one_nsec(n: &ZoneName<'_>, expected_next: &[u8], sink: &mut Sink) {
    let Some(set) = n.node.rrset(rtype::NSEC) else {
        return;
    };
    let nsec = Some(rtype::NSEC);
    if set.len() > 1 {
        sink.add(Code::NsecChain, &n.owner, nsec, || {
            format!("{} NSEC records at one name; there must be one", set.len())
        });
    }
    let Some(record) = set.rdatas().next().and_then(Nsec::parse) else {
        sink.add(Code::NsecChain, &n.owner, nsec, || {
            "malformed NSEC RDATA".into()
        });
        return;
    };
    if !record.next.eq_ignore_ascii_case(expected_next) {
        sink.add(Code::NsecChain, &n.owner, nsec, || {
            format!(
                "next name is {}, but the next name with an NSEC in canonical order is {}",
                name::display(record.next),
                name::display(expected_next)
            )
        });
    }
    if matches!(n.class, Class::Apex | Class::Auth | Class::Cut) {
        let mut expected = n.authoritative_types();
        expected.extend([rtype::NSEC, rtype::RRSIG]);
        report_bitmap(&n.owner, rtype::NSEC, &record.types, expected, sink);
    }
}

/// Compares a bit map with the types expected at its name.
fn report_bitmap(owner: &[u8], t: u16, listed: &[u16], mut expected: Vec<u16>, sink: &mut Sink) {
    expected.sort_unstable();
    expected.dedup();
    let extra: Vec<String> = listed
        .iter()
        .filter(|x| !expected.contains(x))
        .map(|&x| type_name(x))
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|x| !listed.contains(x))
        .map(|&x| type_name(x))
        .collect();
    if extra.is_empty() && missing.is_empty() {
        return;
    }
    sink.add(Code::Bitmap, owner, Some(t), || {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "does not list {} (present at the name)",
                missing.join(" ")
            ));
        }
        if !extra.is_empty() {
            parts.push(format!("lists {} (not at the name)", extra.join(" ")));
        }
        format!(
            "the type bit map {}: resolvers would get wrong denials",
            parts.join(" and ")
        )
    });
}

/// NSEC3PARAM records at the apex, with their flags.
fn apex_params(names: &[ZoneName<'_>]) -> Vec<(Nsec3Params, u8)> {
    names
        .iter()
        .find(|n| n.class == Class::Apex)
        .and_then(|n| n.node.rrset(rtype::NSEC3PARAM))
        .map(|s| s.rdatas().filter_map(rdata::parse_nsec3param).collect())
        .unwrap_or_default()
}

/// One NSEC3 record of a chain.
struct Link<'a> {
    name: &'a ZoneName<'a>,
    hash: Vec<u8>,
    record: Nsec3,
    used: bool,
}

fn check_nsec3(
    names: &[ZoneName<'_>],
    origin: &[u8],
    params: &[(Nsec3Params, u8)],
    sink: &mut Sink,
) {
    let mut chains = collect_chains(names, origin, sink);
    report_param_mismatch(origin, params, &chains, sink);
    let strict = strict_names(names, origin);
    for (p, links) in chains.iter_mut() {
        if p.algorithm != 1 {
            sink.add(Code::NotChecked, origin, Some(rtype::NSEC3), || {
                format!("an NSEC3 chain uses {p}; only SHA-1 (1) is known: not checked")
            });
            continue;
        }
        report_iterations(origin, p, links.len(), sink);
        links.sort_by(|a, b| a.hash.cmp(&b.hash));
        check_closed(links, sink);
        check_coverage(names, &strict, p, links, sink);
        for l in links.iter().filter(|l| !l.used) {
            sink.add(Code::Nsec3Extra, &l.name.owner, Some(rtype::NSEC3), || {
                format!("this NSEC3 ({p}) matches no name of the zone (a name removed after signing?): it claims that name exists")
            });
        }
    }
}

/// The NSEC3 records grouped by their parameters; owners that are not a
/// hash label right below the apex are reported.
fn collect_chains<'a>(
    names: &'a [ZoneName<'a>],
    origin: &[u8],
    sink: &mut Sink,
) -> BTreeMap<Nsec3Params, Vec<Link<'a>>> {
    let mut chains: BTreeMap<Nsec3Params, Vec<Link<'a>>> = BTreeMap::new();
    let below_apex = name::label_count(origin) + 1;
    for n in names {
        let Some(set) = n.node.rrset(rtype::NSEC3) else {
            continue;
        };
        let hash = (name::label_count(&n.owner) == below_apex)
            .then(|| name::labels(&n.owner).next())
            .flatten()
            .and_then(rdata::decode_base32hex);
        let Some(hash) = hash else {
            sink.add(Code::Nsec3Extra, &n.owner, Some(rtype::NSEC3), || {
                "an NSEC3 owner must be a base32hex hash one label below the apex (RFC 5155 §3)"
                    .into()
            });
            continue;
        };
        for r in set.rdatas() {
            let Some(record) = Nsec3::parse(r) else {
                sink.add(Code::Nsec3Chain, &n.owner, Some(rtype::NSEC3), || {
                    "malformed NSEC3 RDATA".into()
                });
                continue;
            };
            chains.entry(record.params.clone()).or_default().push(Link {
                name: n,
                hash: hash.clone(),
                record,
                used: false,
            });
        }
    }
    chains
}

/// RFC 9276: additional iterations cost resolvers and servers work and
/// buy nothing, and a salt buys nothing when re-salting is rare; above a
/// limit validators stop trusting the answers at all.
fn report_iterations(origin: &[u8], p: &Nsec3Params, links: usize, sink: &mut Sink) {
    let at = Some(rtype::NSEC3);
    if p.iterations > MAX_NSEC3_ITERATIONS {
        sink.add(Code::Nsec3Iterations, origin, at, || {
            format!(
                "{links} NSEC3 record(s) use {p}: more than {MAX_NSEC3_ITERATIONS} iterations, so validators treat this zone's denials as insecure or bogus (RFC 9276 §3.2); re-sign with 0 iterations"
            )
        });
    } else if p.iterations > 0 || !p.salt.is_empty() {
        sink.add(Code::Nsec3Parameters, origin, at, || {
            format!(
                "{links} NSEC3 record(s) use {p}; RFC 9276 §3.1 advises 0 additional iterations and no salt"
            )
        });
    }
}

/// NSEC3PARAM tells secondaries and signers which chain is complete
/// (RFC 5155 §4); it and the NSEC3 records must agree.
fn report_param_mismatch(
    origin: &[u8],
    params: &[(Nsec3Params, u8)],
    chains: &BTreeMap<Nsec3Params, Vec<Link<'_>>>,
    sink: &mut Sink,
) {
    let at = Some(rtype::NSEC3PARAM);
    let used: Vec<String> = chains.keys().map(|p| p.to_string()).collect();
    for (p, flags) in params {
        if *flags != 0 {
            sink.add(Code::Nsec3paramMismatch, origin, at, || {
                format!("NSEC3PARAM ({p}) has flags {flags}; servers ignore it (RFC 5155 §4.1.2)")
            });
        } else if !chains.contains_key(p) {
            sink.add(Code::Nsec3paramMismatch, origin, at, || {
                let have = if used.is_empty() {
                    "there are no NSEC3 records".to_string()
                } else {
                    format!("the NSEC3 records use {}", used.join("; "))
                };
                format!(
                    "NSEC3PARAM announces {p}, but no NSEC3 record uses these parameters ({have})"
                )
            });
        }
    }
    for (p, links) in chains {
        if !params.iter().any(|(q, f)| q == p && *f == 0) {
            sink.add(Code::Nsec3paramMismatch, origin, at, || {
                format!(
                    "{} NSEC3 record(s) use {p}, which no NSEC3PARAM at the apex announces",
                    links.len()
                )
            });
        }
    }
}

/// Each link's next hashed owner must be the following hash, the last
/// pointing back to the first (RFC 5155 §3.1.7).
fn check_closed(links: &[Link<'_>], sink: &mut Sink) {
    for (i, l) in links.iter().enumerate() {
        let Some(next) = links.get(i + 1).or(links.first()) else {
            continue;
        };
        if l.record.next_hash != next.hash {
            sink.add(Code::Nsec3Chain, &l.name.owner, Some(rtype::NSEC3), || {
                format!(
                    "next hashed owner is {}, but the next NSEC3 of the chain in hash order is {}",
                    rdata::base32hex(&l.record.next_hash),
                    rdata::base32hex(&next.hash)
                )
            });
        }
    }
}

/// Names that need an NSEC3 whatever the Opt-Out flags say: authoritative
/// names with data, secure delegations (with DS), and the empty
/// non-terminals above them (RFC 5155 §7.1). Insecure delegations and the
/// empty non-terminals leading only to them may be left out under an
/// Opt-Out NSEC3. Returned as owner names.
fn strict_names<'a>(
    names: &'a [ZoneName<'a>],
    origin: &[u8],
) -> std::collections::HashSet<&'a [u8]> {
    let ents: HashMap<&[u8], ()> = names
        .iter()
        .filter(|n| n.class == Class::Auth && n.node.is_empty_nonterminal())
        .map(|n| (&n.owner[..], ()))
        .collect();
    let mut strict = std::collections::HashSet::new();
    for n in names {
        let data = match n.class {
            Class::Apex | Class::Auth => !n.node.is_empty_nonterminal(),
            Class::Cut => n.node.rrset(rtype::DS).is_some(),
            _ => false,
        };
        if !data {
            continue;
        }
        strict.insert(&n.owner[..]);
        let mut up = &n.owner[..];
        while up.len() > origin.len() {
            up = name::strip_labels(up, 1);
            if let Some((k, _)) = ents.get_key_value(up) {
                strict.insert(*k);
            }
        }
    }
    strict
}

/// Every name the chain covers has its NSEC3, with the right bit map.
fn check_coverage(
    names: &[ZoneName<'_>],
    strict: &std::collections::HashSet<&[u8]>,
    p: &Nsec3Params,
    links: &mut [Link<'_>],
    sink: &mut Sink,
) {
    for n in names {
        if !matches!(n.class, Class::Apex | Class::Auth | Class::Cut) {
            continue;
        }
        let h = nsec3_hash(&n.owner, p);
        let at = links.partition_point(|l| l.hash.as_slice() < h.as_slice());
        match links.get_mut(at).filter(|l| l.hash == h) {
            Some(l) => {
                l.used = true;
                let mut expected = n.authoritative_types();
                if n.signed_rrsets().next().is_some() {
                    expected.push(rtype::RRSIG);
                }
                report_bitmap(&n.owner, rtype::NSEC3, &l.record.types, expected, sink);
            }
            None => {
                let covering = at.checked_sub(1).or(links.len().checked_sub(1));
                let opt_out = covering
                    .and_then(|i| links.get(i))
                    .is_some_and(|l| l.record.flags & OPT_OUT != 0);
                if strict.contains(&n.owner[..]) || !opt_out {
                    report_nsec3_missing(n, p, &h, strict.contains(&n.owner[..]), sink);
                }
            }
        }
    }
}

fn report_nsec3_missing(
    n: &ZoneName<'_>,
    p: &Nsec3Params,
    h: &[u8],
    strict: bool,
    sink: &mut Sink,
) {
    sink.add(Code::Nsec3Missing, &n.owner, None, || {
        let why = if strict {
            ""
        } else {
            " (an insecure delegation may lack one only under an NSEC3 with the Opt-Out flag)"
        };
        format!(
            "no NSEC3 for this name (hash {}, {p}){why}",
            rdata::base32hex(h)
        )
    });
}

/// The NSEC3 hash of an owner under `p` (the zone's one implementation).
pub(super) fn nsec3_hash(owner: &[u8], p: &Nsec3Params) -> [u8; 20] {
    crate::zone::denial::nsec3_hash(owner, &p.salt, p.iterations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::test_wire as wire;

    #[test]
    fn nsec3_hash_matches_rfc_5155_appendix_a() {
        let p = Nsec3Params {
            algorithm: 1,
            iterations: 12,
            salt: vec![0xaa, 0xbb, 0xcc, 0xdd],
        };
        assert_eq!(
            rdata::base32hex(&nsec3_hash(&wire("example."), &p)),
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"
        );
        assert_eq!(
            rdata::base32hex(&nsec3_hash(&wire("a.example."), &p)),
            "35mthgpgcu1qg68fab165klnsnk3dpvl"
        );
    }
}
