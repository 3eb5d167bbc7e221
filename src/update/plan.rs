//! RFC 2136 §3.2–§3.6 over one zone version: the prerequisites checked,
//! the updates applied in order to a working copy of the RRsets they touch,
//! and the result turned into one changeset (the same kind a reload or an
//! IXFR produces), so it goes through the same journal, apply and publish.
//!
//! Choices where the RFC leaves room, as BIND and Knot do:
//! - a record added to an RRset gives the whole RRset its TTL;
//! - RRSIG, NSEC and NSEC3 records cannot be updated (REFUSED), and a
//!   signed zone refuses every UPDATE: zonesync serves presigned zones and
//!   does not sign, so the signer must make the change;
//! - an UPDATE that changes nothing (every record ignored or already
//!   there) is NOERROR and does not move the serial.

use super::message::{class, UpdateMessage, UpdateRr};
use crate::config::SerialPolicy;
use crate::dnssec::rdata::push_canonical;
use crate::journal::{Changeset, Record};
use crate::name;
use crate::serial::{self, Serial};
use crate::wire::rcode;
use crate::zone::{rtype, ZoneVersion};
use std::collections::{BTreeMap, BTreeSet};

/// An UPDATE refused or failed, with the RCODE to answer and why (logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", rcode::name(*.rcode))]
pub struct Failure {
    pub rcode: u16,
    pub reason: String,
}

impl Failure {
    pub fn new(rcode: u16, reason: impl Into<String>) -> Failure {
        Failure {
            rcode,
            reason: reason.into(),
        }
    }
}

/// Types no UPDATE may name in its update section.
fn is_meta(t: u16) -> bool {
    matches!(
        t,
        rtype::OPT
            | rtype::TKEY
            | rtype::TSIG
            | rtype::IXFR
            | rtype::AXFR
            | rtype::MAILA
            | rtype::MAILB
            | rtype::ANY
    )
}

/// Types only a signer writes.
fn is_signer_only(t: u16) -> bool {
    matches!(t, rtype::RRSIG | rtype::NSEC | rtype::NSEC3)
}

/// RFC 2136 §3.4.1: the update section checked before anything is
/// touched (FORMERR, NOTZONE), and the types a signer owns refused.
pub fn prescan(zone: &[u8], updates: &[UpdateRr]) -> Result<(), Failure> {
    for rr in updates {
        let what = || format!("{} {}", name::display(&rr.owner), type_text(rr.rtype));
        if !name::is_subdomain(&rr.owner, zone) {
            return Err(Failure::new(
                rcode::NOTZONE,
                format!("{} is outside the zone", what()),
            ));
        }
        let formerr = |why: &str| Err(Failure::new(rcode::FORMERR, format!("{}: {why}", what())));
        match rr.class {
            class::IN if is_meta(rr.rtype) => return formerr("a meta type cannot be added"),
            class::IN => {}
            class::ANY if rr.ttl != 0 || !rr.rdata.is_empty() => {
                return formerr("a deletion of an RRset has TTL 0 and no RDATA")
            }
            class::ANY if is_meta(rr.rtype) && rr.rtype != rtype::ANY => {
                return formerr("a meta type cannot be deleted")
            }
            class::ANY => {}
            class::NONE if rr.ttl != 0 => return formerr("a deletion of a record has TTL 0"),
            class::NONE if is_meta(rr.rtype) => return formerr("a meta type cannot be deleted"),
            class::NONE => {}
            other => return formerr(&format!("class {other} in the update section")),
        }
        if is_signer_only(rr.rtype) {
            return Err(Failure::new(
                rcode::REFUSED,
                format!("{}: only the zone's signer changes these", what()),
            ));
        }
    }
    Ok(())
}

/// Whether the zone is signed: then UPDATE is refused (see the module
/// documentation).
pub fn is_signed(version: &ZoneVersion) -> bool {
    let apex = version.apex();
    apex.rrset(rtype::DNSKEY).is_some()
        || apex.rrset(rtype::SOA).is_some_and(|s| s.sigs().is_some())
}

/// RFC 2136 §3.2: every prerequisite holds in `version`, or the RCODE of
/// the first that does not.
pub fn check_prerequisites(version: &ZoneVersion, prereqs: &[UpdateRr]) -> Result<(), Failure> {
    let zone = version.origin();
    // Value-dependent: the RRsets they describe, compared whole at the end.
    let mut expected: BTreeMap<(Vec<u8>, u16), BTreeSet<Vec<u8>>> = BTreeMap::new();
    for rr in prereqs {
        let what = || format!("{} {}", name::display(&rr.owner), type_text(rr.rtype));
        let fail = |rcode: u16, why: &str| Err(Failure::new(rcode, format!("{}: {why}", what())));
        if rr.ttl != 0 {
            return fail(rcode::FORMERR, "a prerequisite has TTL 0");
        }
        if !name::is_subdomain(&rr.owner, zone) {
            return fail(rcode::NOTZONE, "outside the zone");
        }
        let types = types_in(version, &rr.owner);
        match rr.class {
            class::ANY | class::NONE if !rr.rdata.is_empty() => {
                return fail(rcode::FORMERR, "this prerequisite has no RDATA")
            }
            class::ANY if rr.rtype == rtype::ANY => {
                if types.is_empty() {
                    return fail(rcode::NXDOMAIN, "name not in use");
                }
            }
            class::ANY => {
                if !types.contains(&rr.rtype) {
                    return fail(rcode::NXRRSET, "RRset does not exist");
                }
            }
            class::NONE if rr.rtype == rtype::ANY => {
                if !types.is_empty() {
                    return fail(rcode::YXDOMAIN, "name in use");
                }
            }
            class::NONE => {
                if types.contains(&rr.rtype) {
                    return fail(rcode::YXRRSET, "RRset exists");
                }
            }
            class::IN if is_meta(rr.rtype) => {
                return fail(rcode::FORMERR, "a meta type in a value prerequisite")
            }
            class::IN => {
                expected
                    .entry((rr.owner.clone(), rr.rtype))
                    .or_default()
                    .insert(canonical(rr.rtype, &rr.rdata));
            }
            other => return fail(rcode::FORMERR, &format!("class {other}")),
        }
    }
    for ((owner, t), want) in expected {
        let have: BTreeSet<Vec<u8>> = rrset_in(version, &owner, t)
            .map(|s| s.rdatas.iter().map(|r| canonical(t, r)).collect())
            .unwrap_or_default();
        if have != want {
            return Err(Failure::new(
                rcode::NXRRSET,
                format!(
                    "{} {}: RRset is not as the prerequisite says",
                    name::display(&owner),
                    type_text(t)
                ),
            ));
        }
    }
    Ok(())
}

/// The changeset that makes `version` what `message`'s updates ask for
/// (prerequisites checked first), `None` when they change nothing. The
/// serial is the one of an SOA the update sets, else `policy`'s next one
/// (`keep` counts as `increment`: an UPDATE always moves the serial, RFC
/// 2136 §3.6).
pub fn changeset(
    version: &ZoneVersion,
    message: &UpdateMessage,
    policy: SerialPolicy,
    now_unix: u64,
) -> Result<Option<Changeset>, Failure> {
    changeset_as(version, message, policy, now_unix, Mode::Rfc2136)
}

/// How records RFC 2136 says to ignore are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Ignored, as the RFC says (an UPDATE).
    Rfc2136,
    /// Refused, naming the record: an operator's transaction, where a
    /// silently dropped record would be a surprise.
    Strict,
}

/// [`changeset`] in `mode`.
pub fn changeset_as(
    version: &ZoneVersion,
    message: &UpdateMessage,
    policy: SerialPolicy,
    now_unix: u64,
    mode: Mode,
) -> Result<Option<Changeset>, Failure> {
    if is_signed(version) {
        return Err(Failure::new(
            rcode::REFUSED,
            "the zone is signed; zonesync does not sign, so its signer must make the change",
        ));
    }
    prescan(version.origin(), &message.updates)?;
    check_prerequisites(version, &message.prerequisites)?;
    let mut work = Working::new(version);
    for rr in &message.updates {
        if let Err(why) = work.update(rr) {
            if mode == Mode::Strict {
                return Err(Failure::new(
                    rcode::REFUSED,
                    format!(
                        "{} {}: {why}",
                        name::display(&rr.owner),
                        type_text(rr.rtype)
                    ),
                ));
            }
        }
    }
    Ok(work.into_changeset(policy, now_unix))
}

/// An RRset's TTL and RDATA (as stored).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Set {
    ttl: u32,
    rdatas: Vec<Vec<u8>>,
}

fn rrset_in(version: &ZoneVersion, owner: &[u8], t: u16) -> Option<Set> {
    let key = name::key_of(owner)?;
    let set = version.get(&key)?.rrset(t)?;
    Some(Set {
        ttl: set.ttl(),
        rdatas: set.rdatas().map(<[u8]>::to_vec).collect(),
    })
}

fn types_in(version: &ZoneVersion, owner: &[u8]) -> BTreeSet<u16> {
    let Some(key) = name::key_of(owner) else {
        return BTreeSet::new();
    };
    version
        .get(&key)
        .map(|node| node.rrsets().map(|s| s.rtype()).collect())
        .unwrap_or_default()
}

fn canonical(t: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rdata.len());
    push_canonical(t, rdata, &mut out);
    out
}

fn type_text(t: u16) -> String {
    crate::rdata::rtype_to_presentation(t)
}

/// The RRsets the updates touched, as they are after each update so far
/// (RFC 2136 §3.4.2: each update sees the ones before it).
struct Working<'v> {
    version: &'v ZoneVersion,
    sets: BTreeMap<(Vec<u8>, u16), Set>,
}

impl<'v> Working<'v> {
    fn new(version: &'v ZoneVersion) -> Working<'v> {
        Working {
            version,
            sets: BTreeMap::new(),
        }
    }

    fn current(&self, owner: &[u8], t: u16) -> Set {
        match self.sets.get(&(owner.to_vec(), t)) {
            Some(s) => s.clone(),
            None => rrset_in(self.version, owner, t).unwrap_or_default(),
        }
    }

    fn put(&mut self, owner: &[u8], t: u16, set: Set) {
        self.sets.insert((owner.to_vec(), t), set);
    }

    /// The types with records at `owner` now.
    fn types_at(&self, owner: &[u8]) -> BTreeSet<u16> {
        let mut types = types_in(self.version, owner);
        for ((o, t), set) in self
            .sets
            .range((owner.to_vec(), 0)..=(owner.to_vec(), u16::MAX))
        {
            debug_assert_eq!(o, owner);
            if set.rdatas.is_empty() {
                types.remove(t);
            } else {
                types.insert(*t);
            }
        }
        types
    }

    fn is_apex(&self, owner: &[u8]) -> bool {
        owner == self.version.origin()
    }

    /// Applies one update; `Err` says why RFC 2136 has it ignored.
    fn update(&mut self, rr: &UpdateRr) -> Result<(), &'static str> {
        let apex = self.is_apex(&rr.owner);
        match (rr.class, rr.rtype) {
            (class::ANY, rtype::ANY) => {
                for t in self.types_at(&rr.owner) {
                    if !(apex && (t == rtype::SOA || t == rtype::NS)) {
                        self.put(&rr.owner, t, Set::default());
                    }
                }
                Ok(())
            }
            (class::ANY, t) => {
                if apex && (t == rtype::SOA || t == rtype::NS) {
                    return Err("the apex keeps its SOA and NS");
                }
                self.put(&rr.owner, t, Set::default());
                Ok(())
            }
            (class::NONE, rtype::SOA) => Err("the SOA cannot be deleted"),
            (class::NONE, t) => {
                let mut set = self.current(&rr.owner, t);
                let gone = canonical(t, &rr.rdata);
                set.rdatas.retain(|r| canonical(t, r) != gone);
                // The zone keeps at least one NS at its apex.
                if apex && t == rtype::NS && set.rdatas.is_empty() {
                    return Err("the apex keeps at least one NS");
                }
                self.put(&rr.owner, t, set);
                Ok(())
            }
            (_, rtype::SOA) => self.replace_soa(rr),
            (_, t) => self.add(rr, t),
        }
    }

    /// An SOA replaces the zone's only if it is at the apex and its
    /// serial is ahead (RFC 1982).
    fn replace_soa(&mut self, rr: &UpdateRr) -> Result<(), &'static str> {
        if !self.is_apex(&rr.owner) {
            return Err("an SOA belongs at the zone apex");
        }
        let current = self.current(&rr.owner, rtype::SOA);
        let old = current
            .rdatas
            .first()
            .and_then(|r| crate::zone::soa_field(r, 0));
        let new = crate::zone::soa_field(&rr.rdata, 0);
        match (old, new) {
            (Some(old), Some(new)) if Serial(new).is_after(Serial(old)) => {
                self.put(
                    &rr.owner,
                    rtype::SOA,
                    Set {
                        ttl: rr.ttl,
                        rdatas: vec![rr.rdata.clone()],
                    },
                );
                Ok(())
            }
            _ => Err("the SOA's serial is not after the zone's"),
        }
    }

    fn add(&mut self, rr: &UpdateRr, t: u16) -> Result<(), &'static str> {
        let others = self.types_at(&rr.owner);
        let has_cname = others.contains(&rtype::CNAME);
        let has_data = others
            .iter()
            .any(|&o| o != rtype::CNAME && !is_signer_only(o));
        // A CNAME and other data never share a name: the update is ignored
        // (RFC 2136 §3.4.2.2); a CNAME replaces a CNAME.
        if t == rtype::CNAME {
            if has_data {
                return Err("a CNAME cannot join other data at a name");
            }
            self.put(
                &rr.owner,
                t,
                Set {
                    ttl: rr.ttl,
                    rdatas: vec![rr.rdata.clone()],
                },
            );
            return Ok(());
        }
        if has_cname {
            return Err("the name has a CNAME, which cannot have other data");
        }
        let mut set = self.current(&rr.owner, t);
        let new = canonical(t, &rr.rdata);
        set.rdatas.retain(|r| canonical(t, r) != new);
        set.rdatas.push(rr.rdata.clone());
        set.ttl = rr.ttl;
        self.put(&rr.owner, t, set);
        Ok(())
    }

    fn into_changeset(self, policy: SerialPolicy, now_unix: u64) -> Option<Changeset> {
        let v = self.version;
        let origin = v.origin().to_vec();
        let old_soa = rrset_in(v, &origin, rtype::SOA)?;
        let old_rdata = old_soa.rdatas.first()?.clone();
        let old_serial = crate::zone::soa_serial(&old_rdata)?;
        let mut new_soa = old_soa.clone();
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        for ((owner, t), set) in self.sets {
            if owner == origin && t == rtype::SOA {
                new_soa = set;
                continue;
            }
            let before = rrset_in(v, &owner, t).unwrap_or_default();
            let record = |ttl: u32, rdata: &Vec<u8>| Record {
                owner: owner.clone(),
                rtype: t,
                ttl,
                rdata: rdata.clone(),
            };
            let ttl_moved = before.ttl != set.ttl && !before.rdatas.is_empty();
            for r in &before.rdatas {
                if ttl_moved || !set.rdatas.contains(r) {
                    removed.push(record(before.ttl, r));
                }
            }
            for r in &set.rdatas {
                if ttl_moved || !before.rdatas.contains(r) {
                    added.push(record(set.ttl, r));
                }
            }
        }
        let soa_set = new_soa != old_soa;
        if removed.is_empty() && added.is_empty() && !soa_set {
            return None;
        }
        let new_rdata = new_soa.rdatas.first()?.clone();
        let to_serial = if soa_set {
            crate::zone::soa_serial(&new_rdata)?
        } else {
            let policy = match policy {
                SerialPolicy::Keep => SerialPolicy::Increment,
                other => other,
            };
            serial::next(policy, old_serial, now_unix)?
        };
        let soa = |ttl: u32, rdata: Vec<u8>| Record {
            owner: origin.clone(),
            rtype: rtype::SOA,
            ttl,
            rdata,
        };
        Some(Changeset {
            from_serial: old_serial,
            to_serial,
            old_soa: soa(old_soa.ttl, old_rdata),
            new_soa: soa(
                new_soa.ttl,
                crate::zone::set_soa_serial(&new_rdata, to_serial),
            ),
            removed,
            added,
        })
    }
}

#[cfg(test)]
mod tests;
