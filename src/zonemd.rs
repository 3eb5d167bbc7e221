//! ZONEMD (RFC 8976): a digest of the whole zone at its apex, so that a
//! secondary can prove that what it serves is exactly what the publisher
//! made, whoever transferred it on the way.
//!
//! The SIMPLE scheme (§3.3): every record of the zone in canonical form
//! (RFC 4034 §6.2, with RFC 6840 §5.1: NSEC's names keep their case) and
//! canonical order (by owner, then type, then RDATA), duplicates once,
//! hashed with SHA-384 or SHA-512. The apex ZONEMD RRset and the RRSIGs
//! covering it are left out (§3.3.1.1); everything else is in, glue and
//! occluded data included. RRSIGs form one RRset per owner, placed by
//! their type (46) like any other.
//!
//! `ZoneZonemd` (in `replication`) applies a zone's `zonemd` setting to
//! each new version before it is published.

use crate::dnssec::{self, rdata::Rrsig, signature};
use crate::journal::{Changeset, Record};
use crate::serial::Serial;
use crate::zone::{rtype, ZoneVersion};
use ring::digest;

/// The ZONEMD type code.
pub const ZONEMD: u16 = 63;
/// The SIMPLE scheme, the only one defined.
pub const SIMPLE: u8 = 1;
/// RFC 8976 §2.2.4: a digest shorter than this is malformed.
const MIN_DIGEST: usize = 12;

/// The hash algorithms of RFC 8976 §5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    Sha384,
    Sha512,
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        })
    }
}

impl HashAlg {
    pub fn code(self) -> u8 {
        match self {
            HashAlg::Sha384 => 1,
            HashAlg::Sha512 => 2,
        }
    }

    fn from_code(code: u8) -> Option<HashAlg> {
        match code {
            1 => Some(HashAlg::Sha384),
            2 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    fn ring(self) -> &'static digest::Algorithm {
        match self {
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        }
    }
}

/// A ZONEMD record's RDATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zonemd<'a> {
    pub serial: Serial,
    pub scheme: u8,
    pub hash: u8,
    pub digest: &'a [u8],
}

impl<'a> Zonemd<'a> {
    /// `None` when shorter than the fixed fields plus the shortest digest.
    pub fn parse(rdata: &'a [u8]) -> Option<Zonemd<'a>> {
        let serial = u32::from_be_bytes(rdata.get(..4)?.try_into().ok()?);
        let digest = rdata.get(6..)?;
        (digest.len() >= MIN_DIGEST).then_some(Zonemd {
            serial: Serial(serial),
            scheme: *rdata.get(4)?,
            hash: *rdata.get(5)?,
            digest,
        })
    }

    pub fn to_rdata(serial: Serial, alg: HashAlg, digest: &[u8]) -> Vec<u8> {
        let mut rdata = Vec::with_capacity(6 + digest.len());
        rdata.extend_from_slice(&serial.0.to_be_bytes());
        rdata.push(SIMPLE);
        rdata.push(alg.code());
        rdata.extend_from_slice(digest);
        rdata
    }
}

/// The SIMPLE-scheme digest of `version` (see the module documentation).
/// One pass over the nodes in canonical order; the buffers are reused, so
/// a record costs a copy into them and its share of the hash.
pub fn simple_digest(version: &ZoneVersion, alg: HashAlg) -> Vec<u8> {
    let mut ctx = digest::Context::new(alg.ring());
    let mut nodes: Vec<_> = version.nodes().collect();
    // Keys sort in canonical name order (the store's key is the name's
    // labels reversed, lower case).
    nodes.sort_unstable_by(|a, b| a.key().cmp(b.key()));
    let mut owner = Vec::new();
    let mut rr = Vec::new();
    let mut rrsets = Vec::new();
    let mut canonical = signature::CanonicalRrset::default();
    let mut sigs: Vec<(u32, Vec<u8>)> = Vec::new();
    for node in nodes {
        owner.clear();
        node.name_into(&mut owner);
        let apex = node.has_flag(crate::zone::flags::APEX);
        rrsets.clear();
        rrsets.extend(node.rrsets());
        rrsets.sort_unstable_by_key(|set| set.rtype());
        sigs.clear();
        for set in &rrsets {
            if let Some(s) = set.sigs() {
                let covers_zonemd =
                    |r: &[u8]| Rrsig::parse(r).is_some_and(|sig| sig.covered == ZONEMD);
                sigs.extend(
                    s.rdatas()
                        .filter(|r| !(apex && covers_zonemd(r)))
                        .map(|r| (s.ttl, r.to_vec())),
                );
            }
            if set.rtype() == rtype::RRSIG {
                sigs.extend(set.rdatas().map(|r| (set.ttl(), r.to_vec())));
            }
        }
        // RRSIG (46) takes its place among the types.
        let mut sigs_done = sigs.is_empty();
        for set in &rrsets {
            let t = set.rtype();
            if t > rtype::RRSIG && !sigs_done {
                hash_rrsigs(&mut ctx, &owner, &mut sigs, &mut rr);
                sigs_done = true;
            }
            if t == rtype::RRSIG || (apex && t == ZONEMD) {
                continue;
            }
            canonical.fill(t, set.rdatas());
            for rdata in canonical.rdatas() {
                hash_rr(&mut ctx, &mut rr, &owner, t, set.ttl(), rdata);
            }
        }
        if !sigs_done {
            hash_rrsigs(&mut ctx, &owner, &mut sigs, &mut rr);
        }
    }
    ctx.finish().as_ref().to_vec()
}

/// The owner's RRSIG RRset: every signature there, canonical, sorted.
fn hash_rrsigs(
    ctx: &mut digest::Context,
    owner: &[u8],
    sigs: &mut [(u32, Vec<u8>)],
    rr: &mut Vec<u8>,
) {
    let mut canon: Vec<(Vec<u8>, u32)> = sigs
        .iter()
        .map(|(ttl, r)| {
            let mut c = Vec::with_capacity(r.len());
            dnssec::rdata::push_canonical(rtype::RRSIG, r, &mut c);
            (c, *ttl)
        })
        .collect();
    canon.sort_unstable();
    canon.dedup_by(|a, b| a.0 == b.0);
    for (rdata, ttl) in &canon {
        hash_rr(ctx, rr, owner, rtype::RRSIG, *ttl, rdata);
    }
}

fn hash_rr(
    ctx: &mut digest::Context,
    rr: &mut Vec<u8>,
    owner: &[u8],
    t: u16,
    ttl: u32,
    rdata: &[u8],
) {
    rr.clear();
    rr.extend_from_slice(owner);
    rr.extend_from_slice(&t.to_be_bytes());
    rr.extend_from_slice(&1u16.to_be_bytes());
    rr.extend_from_slice(&ttl.to_be_bytes());
    rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    rr.extend_from_slice(rdata);
    ctx.update(rr);
}

/// What a version's apex ZONEMD says of it (RFC 8976 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No ZONEMD at the apex.
    Absent,
    /// A ZONEMD of a supported scheme and algorithm matches.
    Verified { hash: HashAlg, digest: String },
    /// ZONEMD records, none of a supported scheme and algorithm: nothing
    /// can be checked (§4 step 4: treated as no ZONEMD).
    Unsupported,
    /// Refusals, each with what the operator must look at.
    Invalid(Invalid),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("ZONEMD serial {zonemd} is not the SOA serial {soa}")]
    SerialMismatch { zonemd: Serial, soa: Serial },
    #[error("ZONEMD digest mismatch at serial {serial}: the record says {expected}, the zone's {hash} digest is {computed}")]
    Mismatch {
        serial: Serial,
        hash: HashAlg,
        expected: String,
        computed: String,
    },
    #[error("two ZONEMD records with scheme {scheme} and hash algorithm {hash} (RFC 8976 §2.4)")]
    Duplicate { scheme: u8, hash: u8 },
    #[error("malformed ZONEMD RDATA")]
    Malformed,
    #[error("the zone is signed, but its ZONEMD RRset has no signature that verifies with the apex DNSKEYs")]
    Unsigned,
}

/// Verifies the apex ZONEMD of `version` (every record of a supported
/// scheme and algorithm is checked; one match suffices, §4 step 6). In a
/// signed zone the ZONEMD RRset must carry a valid RRSIG (§4 step 2).
pub fn verify(version: &ZoneVersion) -> Verdict {
    let Some(set) = version.apex().rrset(ZONEMD) else {
        return Verdict::Absent;
    };
    let mut records = Vec::new();
    for rdata in set.rdatas() {
        match Zonemd::parse(rdata) {
            Some(z) => records.push(z),
            None => return Verdict::Invalid(Invalid::Malformed),
        }
    }
    for (i, a) in records.iter().enumerate() {
        if records[i + 1..]
            .iter()
            .any(|b| (a.scheme, a.hash) == (b.scheme, b.hash))
        {
            return Verdict::Invalid(Invalid::Duplicate {
                scheme: a.scheme,
                hash: a.hash,
            });
        }
    }
    if dnssec::is_signed(version) && !signed_validly(version) {
        return Verdict::Invalid(Invalid::Unsigned);
    }
    let soa = version.serial();
    let supported: Vec<(HashAlg, &Zonemd)> = records
        .iter()
        .filter(|z| z.scheme == SIMPLE)
        .filter_map(|z| Some((HashAlg::from_code(z.hash)?, z)))
        .collect();
    let Some(&(_, first)) = supported.first() else {
        return Verdict::Unsupported;
    };
    if first.serial != soa {
        return Verdict::Invalid(Invalid::SerialMismatch {
            zonemd: first.serial,
            soa,
        });
    }
    let mut mismatch = None;
    for (hash, z) in supported {
        let computed = simple_digest(version, hash);
        if computed == z.digest {
            return Verdict::Verified {
                hash,
                digest: hex(&computed),
            };
        }
        mismatch.get_or_insert(Invalid::Mismatch {
            serial: soa,
            hash,
            expected: hex(z.digest),
            computed: hex(&computed),
        });
    }
    Verdict::Invalid(mismatch.unwrap_or(Invalid::Malformed))
}

/// Whether an RRSIG over the apex ZONEMD RRset verifies with a zone key.
fn signed_validly(version: &ZoneVersion) -> bool {
    let apex = version.apex();
    let (Some(set), Some(keys)) = (apex.rrset(ZONEMD), apex.rrset(rtype::DNSKEY)) else {
        return false;
    };
    let keys = signature::zone_keys(keys.rdatas());
    let mut canonical = signature::CanonicalRrset::default();
    canonical.fill(ZONEMD, set.rdatas());
    let mut data = Vec::new();
    let origin = version.origin();
    set.sigs().is_some_and(|sigs| {
        sigs.rdatas().filter_map(Rrsig::parse).any(|sig| {
            signature::signed_data(&mut data, &sig, origin, ZONEMD, &canonical);
            sig.covered == ZONEMD
                && signature::verify(&keys, &sig, &data) == signature::Verdict::Valid
        })
    })
}

/// The change that replaces `version`'s apex ZONEMD with one SIMPLE
/// record of `alg` for its current serial (what a primary generating
/// ZONEMD publishes); `None` when it has exactly that record already.
/// The serial stays: the change is folded into the one that made the
/// version (`fold`) or applied at a load.
pub fn stamp_change(version: &ZoneVersion, alg: HashAlg) -> Option<Changeset> {
    let origin = version.origin().to_vec();
    let record = |rtype, ttl, rdata: &[u8]| Record {
        owner: origin.clone(),
        rtype,
        ttl,
        rdata: rdata.to_vec(),
    };
    let (soa_ttl, soa_rdata) = version
        .soa()
        .and_then(|s| Some((s.ttl(), s.rdatas().next()?)))?;
    let removed: Vec<Record> = version
        .apex()
        .rrset(ZONEMD)
        .map(|set| set.rdatas().map(|r| record(ZONEMD, set.ttl(), r)).collect())
        .unwrap_or_default();
    let digest = simple_digest(version, alg);
    let rdata = Zonemd::to_rdata(version.serial(), alg, &digest);
    if removed.len() == 1 && removed.first().is_some_and(|r| r.rdata == rdata) {
        return None;
    }
    // The SOA's TTL, as RFC 8976 §3.1 suggests for the ZONEMD.
    Some(Changeset {
        from_serial: version.serial(),
        to_serial: version.serial(),
        old_soa: record(rtype::SOA, soa_ttl, soa_rdata),
        new_soa: record(rtype::SOA, soa_ttl, soa_rdata),
        removed,
        added: vec![record(ZONEMD, soa_ttl, &rdata)],
    })
}

/// `version` with its ZONEMD made anew (see `stamp_change`); `None` when
/// it already has it.
pub fn stamp(
    version: &ZoneVersion,
    alg: HashAlg,
) -> Result<Option<ZoneVersion>, crate::zone::ApplyError> {
    stamp_change(version, alg)
        .map(|change| version.apply(&change))
        .transpose()
}

/// Folds `stamp` (a `stamp_change` of the version `change` led to) into
/// `change`, so that the journal holds one changeset from the old version
/// to the stamped one: a ZONEMD record `change` added and `stamp` removes
/// is neither added nor removed.
pub fn fold(change: &mut Changeset, stamp: Changeset) {
    for r in stamp.removed {
        match change.added.iter().position(|a| *a == r) {
            Some(i) => {
                change.added.remove(i);
            }
            None => change.removed.push(r),
        }
    }
    for r in stamp.added {
        match change.removed.iter().position(|a| *a == r) {
            Some(i) => {
                change.removed.remove(i);
            }
            None => change.added.push(r),
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    dnssec::rdata::hex(bytes)
}

#[cfg(test)]
mod tests;
