//! DNSSEC validation of what a child zone's servers answer, for the
//! parental agent: RFC 7477 lets it act only when the CSYNC record and
//! every RRset it leads the parent to copy validate to Secure.
//!
//! The chain is short and fixed: the DS RRset the parent holds for the
//! child (its own data, so trusted as is) proves a zone key of the
//! child's DNSKEY RRset, whose RRSIG by that key proves the whole set
//! ([`TrustedKeys::from_ds`]); any zone key of the set then proves the
//! child's RRsets ([`TrustedKeys::validate`]) and the NSEC or NSEC3
//! records that deny a type ([`TrustedKeys::validate_nodata`]). Nothing
//! is looked up: the caller fetches, this module judges. Signatures are
//! built and checked with the load-time checks' code
//! (`dnssec::signature`), over RDATA made uncompressed by [`rrsets_in`].
//!
//! Stricter than a resolver on purpose, since a mistake changes a
//! delegation: wildcard-expanded answers and the SHA-1 signature
//! algorithms are refused, and every failure says why in words an
//! operator can act on.

use crate::dnssec::rdata::{self, Dnskey, Nsec, Nsec3, Rrsig};
use crate::dnssec::signature::{self, CanonicalRrset, Verdict, ZoneKey};
use crate::name;
use crate::serial::{self, Serial};
use crate::zone::denial::nsec3_hash;
use crate::zone::rtype;
use domain::base::iana::{Class, Rtype};
use domain::base::message::Section;
use domain::base::name::{ParsedName, ToName};
use domain::base::rdata::{ComposeRecordData, ParseAnyRecordData, RecordData};
use domain::base::wire::ParseError;
use domain::base::{Message, ParsedRecord};
use domain::dep::octseq::{Octets, Parser};
use domain::rdata::AllRecordData;
use std::fmt;

/// An RRset as it came off the wire: owner lower-case, uncompressed wire
/// format; RDATA uncompressed (names inside it decompressed, their case
/// as received); the RRSIG RDATAs covering it from the same section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRrset {
    pub owner: Vec<u8>,
    pub rtype: u16,
    /// The lowest TTL of its records (RFC 2181 §5.2 wants them equal).
    pub ttl: u32,
    pub rdatas: Vec<Vec<u8>>,
    pub rrsigs: Vec<Vec<u8>>,
}

/// One DS record, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DsId {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
}

impl fmt::Display for DsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key tag {}, algorithm {}, digest type {}",
            self.key_tag, self.algorithm, self.digest_type
        )
    }
}

/// Why data is not Secure. Names are in presentation form, times are Unix
/// seconds (shown as UTC).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Insecure {
    #[error("no DS at the parent (unsigned delegation)")]
    NoDs,
    #[error(
        "no DS with a supported algorithm and digest type ({}): the delegation \
         counts as unsigned (RFC 4035 §5.2)",
        ds_list(.ds)
    )]
    NoUsableDs { ds: Vec<DsId> },
    #[error("no DNSKEY matches a DS ({})", ds_list(.ds))]
    NoKeyForDs { ds: Vec<DsId> },
    #[error("{rtype} RRset at {owner} is not data of the zone {zone}")]
    OutOfZone {
        owner: String,
        rtype: Rtype,
        zone: String,
    },
    #[error("no RRSIG over {rtype} at {owner}")]
    NoRrsig { owner: String, rtype: Rtype },
    #[error(
        "no RRSIG over the DNSKEY RRset at {owner} by a key a DS matches (key tags {})",
        tag_list(.tags)
    )]
    NoRrsigByDsKey { owner: String, tags: Vec<u16> },
    #[error("RRSIG over {rtype} at {owner} (key tag {key_tag}) expired at {}", utc(*.at))]
    Expired {
        owner: String,
        rtype: Rtype,
        key_tag: u16,
        at: i64,
    },
    #[error("RRSIG over {rtype} at {owner} (key tag {key_tag}) is not valid before {}", utc(*.from))]
    NotYetValid {
        owner: String,
        rtype: Rtype,
        key_tag: u16,
        from: i64,
    },
    #[error(
        "RRSIG over {rtype} at {owner} (key tag {key_tag}, algorithm {algorithm}): \
         signature does not verify"
    )]
    Bogus {
        owner: String,
        rtype: Rtype,
        key_tag: u16,
        algorithm: u8,
    },
    #[error("RRSIG over {rtype} at {owner}: algorithm {algorithm} not supported")]
    UnsupportedAlgorithm {
        owner: String,
        rtype: Rtype,
        algorithm: u8,
    },
    #[error(
        "RRSIG over {rtype} at {owner}: no zone key with key tag {key_tag} and \
         algorithm {algorithm} in the DNSKEY RRset"
    )]
    UnknownKey {
        owner: String,
        rtype: Rtype,
        key_tag: u16,
        algorithm: u8,
    },
    #[error("the DNSKEY with key tag {key_tag} (algorithm {algorithm}) is malformed")]
    MalformedKey { key_tag: u16, algorithm: u8 },
    #[error("RRSIG over {rtype} at {owner} is signed by {signer}, not by the zone {zone}")]
    WrongSigner {
        owner: String,
        rtype: Rtype,
        signer: String,
        zone: String,
    },
    #[error(
        "RRSIG over {rtype} at {owner} has labels {labels} for an owner of \
         {owner_labels}: a wildcard expansion, not accepted for CSYNC data"
    )]
    WildcardExpansion {
        owner: String,
        rtype: Rtype,
        labels: u8,
        owner_labels: usize,
    },
    #[error("RRSIG over {rtype} at {owner} is malformed: {reason}")]
    MalformedRrsig {
        owner: String,
        rtype: Rtype,
        reason: String,
    },
    #[error("malformed {rtype} RDATA at {owner}")]
    MalformedRdata { owner: String, rtype: Rtype },
    #[error("no NSEC or NSEC3 record proves that {qname} has no {qtype}")]
    NoDenial { qname: String, qtype: Rtype },
    #[error("the {kind} at {owner} lists {listed}: it does not prove that {qname} has no {qtype}")]
    TypeListed {
        kind: &'static str,
        owner: String,
        listed: Rtype,
        qname: String,
        qtype: Rtype,
    },
    #[error(
        "the {kind} at {owner} is a delegation's (NS without SOA): it cannot deny \
         {qtype} (RFC 6840 §4.1)"
    )]
    DelegationDenial {
        kind: &'static str,
        owner: String,
        qtype: Rtype,
    },
    #[error("NSEC3 at {owner} cannot be used: {reason}")]
    UnusableNsec3 { owner: String, reason: String },
}

fn ds_list(ds: &[DsId]) -> String {
    if ds.is_empty() {
        return "none readable".into();
    }
    let items: Vec<String> = ds.iter().map(DsId::to_string).collect();
    items.join("; ")
}

fn tag_list(tags: &[u16]) -> String {
    let items: Vec<String> = tags.iter().map(u16::to_string).collect();
    items.join(", ")
}

/// A Unix time as `2026-01-01T00:00:00Z`.
fn utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = serial::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

impl Insecure {
    /// How much a failure tells about a signature that was meant to
    /// prove the RRset: when several RRSIGs fail, the most telling is
    /// reported (a bad signature by a known key beats a signature by a
    /// key we do not have, which may be a pre-published one's).
    fn weight(&self) -> u8 {
        match self {
            Insecure::Bogus { .. } | Insecure::MalformedKey { .. } => 6,
            Insecure::Expired { .. } | Insecure::NotYetValid { .. } => 5,
            Insecure::WildcardExpansion { .. } => 4,
            Insecure::WrongSigner { .. } => 3,
            Insecure::UnknownKey { .. } => 2,
            Insecure::UnsupportedAlgorithm { .. } => 1,
            _ => 0,
        }
    }
}

/// The signature algorithms we accept: RSA/SHA-256 and SHA-512, ECDSA
/// P-256 and P-384, Ed25519. RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7) are
/// left out as RFC 9905 §2 tells validator operators to; Ed448 (16) is
/// not in ring.
const SUPPORTED_ALGORITHMS: [u8; 5] = [8, 10, 13, 14, 15];

/// Most NSEC3 hash iterations we compute for a child: RFC 9276 §3.2 lets
/// validators refuse high counts, and this bounds the work a hostile
/// child can cause (RFC 9276 asks signers for 0).
const MAX_NSEC3_ITERATIONS: u16 = 150;

fn supported(algorithm: u8) -> bool {
    SUPPORTED_ALGORITHMS.contains(&algorithm)
}

/// DS digest types (RFC 4034 §5.1.4, RFC 4509, RFC 6605): 1 SHA-1,
/// 2 SHA-256, 4 SHA-384.
fn digest_algorithm(digest_type: u8) -> Option<&'static ring::digest::Algorithm> {
    match digest_type {
        1 => Some(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        2 => Some(&ring::digest::SHA256),
        4 => Some(&ring::digest::SHA384),
        _ => None,
    }
}

/// A DS record's RDATA (RFC 4034 §5.1).
struct Ds<'a> {
    id: DsId,
    digest: &'a [u8],
}

impl<'a> Ds<'a> {
    fn parse(rdata: &'a [u8]) -> Option<Ds<'a>> {
        let tag = rdata.get(..2)?;
        Some(Ds {
            id: DsId {
                key_tag: u16::from_be_bytes([*tag.first()?, *tag.get(1)?]),
                algorithm: *rdata.get(2)?,
                digest_type: *rdata.get(3)?,
            },
            digest: rdata.get(4..)?,
        })
    }

    fn usable(&self) -> bool {
        supported(self.id.algorithm) && digest_algorithm(self.id.digest_type).is_some()
    }

    /// Whether this DS is the digest of `dnskey` (its RDATA) at `owner`
    /// (lower-case): RFC 4034 §5.1.4.
    fn matches(&self, owner: &[u8], dnskey: &[u8], key: &Dnskey<'_>) -> bool {
        let Some(alg) = digest_algorithm(self.id.digest_type) else {
            return false;
        };
        if key.key_tag != self.id.key_tag || key.algorithm != self.id.algorithm {
            return false;
        }
        let mut ctx = ring::digest::Context::new(alg);
        ctx.update(owner);
        ctx.update(dnskey);
        ctx.finish().as_ref() == self.digest
    }
}

fn lower(name: &[u8]) -> Vec<u8> {
    let mut n = name.to_vec();
    name::make_lowercase(&mut n);
    n
}

fn show(t: u16) -> Rtype {
    Rtype::from_int(t)
}

/// The zone keys of a child zone, proven by the parent's DS set, and the
/// time their signatures are judged at.
pub struct TrustedKeys {
    zone: Vec<u8>,
    keys: Vec<ZoneKey>,
    now: u64,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<(u16, u8)> = self.keys.iter().map(|k| (k.tag, k.algorithm)).collect();
        f.debug_struct("TrustedKeys")
            .field("zone", &name::display(&self.zone))
            .field("keys", &tags)
            .field("now", &self.now)
            .finish()
    }
}

impl TrustedKeys {
    /// `zone`: the child apex, wire format. `ds`: the DS RDATAs the parent
    /// holds for it. `dnskey`: the DNSKEY RRset fetched from the child,
    /// with its RRSIGs. `now`: Unix seconds, kept for [`Self::validate`].
    ///
    /// Secure when a usable DS (supported algorithm, digest type 1, 2 or
    /// 4) matches a zone key of the set, and an RRSIG by such a key over
    /// the whole set verifies within its validity period. SHA-1 DS are
    /// ignored when SHA-256 ones of a supported algorithm exist (RFC 4509
    /// §3), so a forged SHA-1 match cannot stand in for them.
    pub fn from_ds(
        zone: &[u8],
        ds: &[Vec<u8>],
        dnskey: &WireRrset,
        now: u64,
    ) -> Result<TrustedKeys, Insecure> {
        let zone = lower(zone);
        if ds.is_empty() {
            return Err(Insecure::NoDs);
        }
        let all: Vec<Ds<'_>> = ds.iter().filter_map(|r| Ds::parse(r)).collect();
        let mut usable: Vec<&Ds<'_>> = all.iter().filter(|d| d.usable()).collect();
        if usable.is_empty() {
            return Err(Insecure::NoUsableDs {
                ds: all.iter().map(|d| d.id).collect(),
            });
        }
        if usable.iter().any(|d| d.id.digest_type == 2) {
            usable.retain(|d| d.id.digest_type != 1);
        }
        if dnskey.rtype != rtype::DNSKEY || !dnskey.owner.eq_ignore_ascii_case(&zone) {
            return Err(Insecure::OutOfZone {
                owner: name::display(&dnskey.owner),
                rtype: show(dnskey.rtype),
                zone: name::display(&zone),
            });
        }
        let mut anchors = Vec::new();
        for r in &dnskey.rdatas {
            let Some(k) = Dnskey::parse(r).filter(Dnskey::is_zone_key) else {
                continue;
            };
            if usable.iter().any(|d| d.matches(&zone, r, &k)) {
                anchors.push(ZoneKey::new(&k));
            }
        }
        if anchors.is_empty() {
            return Err(Insecure::NoKeyForDs {
                ds: usable.iter().map(|d| d.id).collect(),
            });
        }
        let by_anchor = dnskey
            .rrsigs
            .iter()
            .filter_map(|r| Rrsig::parse(r))
            .any(|s| {
                s.covered == rtype::DNSKEY
                    && anchors
                        .iter()
                        .any(|k| k.tag == s.key_tag && k.algorithm == s.algorithm)
            });
        if !by_anchor && covering(dnskey).next().is_some() {
            return Err(Insecure::NoRrsigByDsKey {
                owner: name::display(&zone),
                tags: anchors.iter().map(|k| k.tag).collect(),
            });
        }
        verify_rrset(&zone, &anchors, dnskey, now)?;
        let keys = signature::zone_keys(dnskey.rdatas.iter().map(Vec::as_slice));
        Ok(TrustedKeys { zone, keys, now })
    }

    /// The child apex, lower-case wire format.
    pub fn zone(&self) -> &[u8] {
        &self.zone
    }

    /// Ok when an RRSIG over `rrset` by a zone key of the trusted DNSKEY
    /// set verifies, names the zone as signer, has a labels field equal
    /// to the owner's label count (no wildcard expansion), and is within
    /// its validity period (RFC 4035 §5.3).
    pub fn validate(&self, rrset: &WireRrset) -> Result<(), Insecure> {
        verify_rrset(&self.zone, &self.keys, rrset, self.now)
    }

    /// Ok when `authority` (the authority-section RRsets of a NODATA
    /// answer, with their RRSIGs) proves with validated NSEC or NSEC3
    /// records of this zone that `qname` exists and has neither `qtype`
    /// nor CNAME: an NSEC at `qname` (RFC 4035 §5.4) or an NSEC3 whose
    /// owner is the hash of `qname` (RFC 5155 §8.5), whose bit map lacks
    /// both. An empty non-terminal proven by a covering NSEC, and
    /// wildcard NODATA, are not accepted: neither can be a name whose
    /// addresses CSYNC asks for.
    pub fn validate_nodata(
        &self,
        qname: &[u8],
        qtype: u16,
        authority: &[WireRrset],
    ) -> Result<(), Insecure> {
        let qname = lower(qname);
        if !name::is_subdomain(&qname, &self.zone) {
            return Err(Insecure::OutOfZone {
                owner: name::display(&qname),
                rtype: show(qtype),
                zone: name::display(&self.zone),
            });
        }
        // The first failure of a record that would have proven it, if
        // none does: it says more than "no proof".
        let mut failure = None;
        for set in authority {
            let result = match set.rtype {
                rtype::NSEC if set.owner.eq_ignore_ascii_case(&qname) => {
                    self.nsec_denies(set, &qname, qtype)
                }
                rtype::NSEC3 => match self.nsec3_denies(set, &qname, qtype) {
                    Some(result) => result,
                    None => continue,
                },
                _ => continue,
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        Err(failure.unwrap_or_else(|| Insecure::NoDenial {
            qname: name::display(&qname),
            qtype: show(qtype),
        }))
    }

    fn nsec_denies(&self, set: &WireRrset, qname: &[u8], qtype: u16) -> Result<(), Insecure> {
        self.validate(set)?;
        let mut any = false;
        for r in &set.rdatas {
            let nsec = Nsec::parse(r).ok_or_else(|| Insecure::MalformedRdata {
                owner: name::display(&set.owner),
                rtype: show(rtype::NSEC),
            })?;
            bitmap_denies("NSEC", &set.owner, &nsec.types, qname, qtype)?;
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(Insecure::MalformedRdata {
                owner: name::display(&set.owner),
                rtype: show(rtype::NSEC),
            })
        }
    }

    /// `None` when `set` is not an NSEC3 of this zone matching `qname`.
    fn nsec3_denies(
        &self,
        set: &WireRrset,
        qname: &[u8],
        qtype: u16,
    ) -> Option<Result<(), Insecure>> {
        let parent = name::strip_labels(&set.owner, 1);
        if !parent.eq_ignore_ascii_case(&self.zone)
            || name::label_count(&set.owner) != name::label_count(&self.zone) + 1
        {
            return None;
        }
        let hash = rdata::decode_base32hex(name::labels(&set.owner).next()?)?;
        let unusable = |reason: String| Insecure::UnusableNsec3 {
            owner: name::display(&set.owner),
            reason,
        };
        let mut matched = None;
        for r in &set.rdatas {
            let Some(nsec3) = Nsec3::parse(r) else {
                return Some(Err(unusable("malformed RDATA".into())));
            };
            if nsec3.params.algorithm != 1 {
                return Some(Err(unusable(format!(
                    "hash algorithm {} not supported",
                    nsec3.params.algorithm
                ))));
            }
            if nsec3.params.iterations > MAX_NSEC3_ITERATIONS {
                return Some(Err(unusable(format!(
                    "{} iterations, more than the {MAX_NSEC3_ITERATIONS} accepted (RFC 9276 §3.2)",
                    nsec3.params.iterations
                ))));
            }
            let h = nsec3_hash(qname, &nsec3.params.salt, nsec3.params.iterations);
            if h.as_slice() == hash.as_slice() {
                matched = Some(nsec3);
                break;
            }
        }
        let nsec3 = matched?;
        Some(
            self.validate(set)
                .and_then(|()| bitmap_denies("NSEC3", &set.owner, &nsec3.types, qname, qtype)),
        )
    }
}

/// Whether a bit map at `owner` proves `qname` has no `qtype`: it lists
/// neither it nor CNAME, and is not a delegation's (whose bit map is the
/// parent's view, RFC 6840 §4.1) unless DS is asked for.
fn bitmap_denies(
    kind: &'static str,
    owner: &[u8],
    types: &[u16],
    qname: &[u8],
    qtype: u16,
) -> Result<(), Insecure> {
    for listed in [qtype, rtype::CNAME] {
        if types.contains(&listed) {
            return Err(Insecure::TypeListed {
                kind,
                owner: name::display(owner),
                listed: show(listed),
                qname: name::display(qname),
                qtype: show(qtype),
            });
        }
    }
    if types.contains(&rtype::NS) && !types.contains(&rtype::SOA) && qtype != rtype::DS {
        return Err(Insecure::DelegationDenial {
            kind,
            owner: name::display(owner),
            qtype: show(qtype),
        });
    }
    Ok(())
}

/// The RRSIGs of `set` that say they cover its type.
fn covering(set: &WireRrset) -> impl Iterator<Item = &[u8]> {
    set.rrsigs
        .iter()
        .map(Vec::as_slice)
        .filter(move |r| rdata::Rrsig::parse(r).is_none_or(|s| s.covered == set.rtype))
}

/// Ok when one RRSIG over `set` by one of `keys` proves it at `now`;
/// otherwise the most telling failure.
fn verify_rrset(zone: &[u8], keys: &[ZoneKey], set: &WireRrset, now: u64) -> Result<(), Insecure> {
    let owner = lower(&set.owner);
    let t = show(set.rtype);
    if !name::is_subdomain(&owner, zone) || name::wire_len(&owner) != Some(owner.len()) {
        return Err(Insecure::OutOfZone {
            owner: name::display(&owner),
            rtype: t,
            zone: name::display(zone),
        });
    }
    let mut canonical: Option<CanonicalRrset> = None;
    let mut data = Vec::new();
    let mut worst: Option<Insecure> = None;
    for r in covering(set) {
        let result = match Rrsig::parse(r) {
            None => Err(Insecure::MalformedRrsig {
                owner: name::display(&owner),
                rtype: t,
                reason: "truncated RDATA".into(),
            }),
            Some(sig) => {
                let canonical = canonical.get_or_insert_with(|| {
                    let mut c = CanonicalRrset::default();
                    c.fill(set.rtype, set.rdatas.iter().map(Vec::as_slice));
                    c
                });
                check_signature(
                    zone, keys, &owner, set.rtype, &sig, canonical, &mut data, now,
                )
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) => {
                if worst.as_ref().is_none_or(|w| e.weight() > w.weight()) {
                    worst = Some(e);
                }
            }
        }
    }
    Err(worst.unwrap_or_else(|| Insecure::NoRrsig {
        owner: name::display(&owner),
        rtype: t,
    }))
}

/// One RRSIG: RFC 4035 §5.3.1's checks, the validity period, then the
/// signature itself.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    zone: &[u8],
    keys: &[ZoneKey],
    owner: &[u8],
    rr_type: u16,
    sig: &Rrsig<'_>,
    canonical: &CanonicalRrset,
    data: &mut Vec<u8>,
    now: u64,
) -> Result<(), Insecure> {
    let at = || name::display(owner);
    let t = show(rr_type);
    if !sig.signer.eq_ignore_ascii_case(zone) {
        return Err(Insecure::WrongSigner {
            owner: at(),
            rtype: t,
            signer: name::display(sig.signer),
            zone: name::display(zone),
        });
    }
    let owner_labels = name::label_count(owner);
    // A wildcard owner's own RRSIG leaves out the `*` (RFC 4034 §3.1.3).
    let own_labels = match name::labels(owner).next() {
        Some(b"*") => owner_labels - 1,
        _ => owner_labels,
    };
    let labels = usize::from(sig.labels);
    if labels > owner_labels {
        return Err(Insecure::MalformedRrsig {
            owner: at(),
            rtype: t,
            reason: format!("labels {labels} above the owner's {owner_labels}"),
        });
    }
    if labels < own_labels {
        return Err(Insecure::WildcardExpansion {
            owner: at(),
            rtype: t,
            labels: sig.labels,
            owner_labels,
        });
    }
    if !supported(sig.algorithm) {
        return Err(Insecure::UnsupportedAlgorithm {
            owner: at(),
            rtype: t,
            algorithm: sig.algorithm,
        });
    }
    if !keys
        .iter()
        .any(|k| k.tag == sig.key_tag && k.algorithm == sig.algorithm)
    {
        return Err(Insecure::UnknownKey {
            owner: at(),
            rtype: t,
            key_tag: sig.key_tag,
            algorithm: sig.algorithm,
        });
    }
    // RFC 4034 §3.1.5: the times are serial numbers (RFC 1982) of the
    // Unix time modulo 2^32, so the truncation is the comparison's.
    let now32 = now as u32;
    let unix = |t: u32| now as i64 + i64::from(t.wrapping_sub(now32) as i32);
    let started = Serial(sig.inception) <= Serial(now32);
    let running = Serial(now32) <= Serial(sig.expiration);
    if !started {
        return Err(Insecure::NotYetValid {
            owner: at(),
            rtype: t,
            key_tag: sig.key_tag,
            from: unix(sig.inception),
        });
    }
    if !running {
        return Err(Insecure::Expired {
            owner: at(),
            rtype: t,
            key_tag: sig.key_tag,
            at: unix(sig.expiration),
        });
    }
    signature::signed_data(data, sig, owner, rr_type, canonical);
    match signature::verify(keys, sig, data) {
        Verdict::Valid => Ok(()),
        Verdict::Bogus => Err(Insecure::Bogus {
            owner: at(),
            rtype: t,
            key_tag: sig.key_tag,
            algorithm: sig.algorithm,
        }),
        Verdict::Unchecked => Err(Insecure::MalformedKey {
            key_tag: sig.key_tag,
            algorithm: sig.algorithm,
        }),
    }
}

/// The RRsets of one section of `message`, in the order they first
/// appear: records grouped by (owner lower-cased, type), class IN only,
/// each with the RRSIGs of the section that cover it (RRSIGs covering
/// nothing there are dropped). Names inside RDATA are decompressed, their
/// case kept; RDATA of types `domain` does not know is kept as received.
/// A record that cannot be read ends the section (what follows it cannot
/// be found).
pub fn rrsets_in(message: &Message<Vec<u8>>, section: Section) -> Vec<WireRrset> {
    let records = match section {
        Section::Answer => message.answer(),
        Section::Authority => message.authority(),
        Section::Additional => message.additional(),
    };
    let mut sets: Vec<WireRrset> = Vec::new();
    let mut sigs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let Ok(records) = records else {
        return sets;
    };
    for record in records {
        let Ok(record) = record else {
            break;
        };
        if record.class() != Class::IN {
            continue;
        }
        let mut owner = Vec::new();
        if record.owner().compose_canonical(&mut owner).is_err() {
            continue;
        }
        let Some(rdata) = uncompressed_rdata(&record) else {
            continue;
        };
        let t = record.rtype().to_int();
        if t == rtype::RRSIG {
            sigs.push((owner, rdata));
            continue;
        }
        let ttl = record.ttl().as_secs();
        match sets.iter_mut().find(|s| s.rtype == t && s.owner == owner) {
            Some(set) => {
                set.ttl = set.ttl.min(ttl);
                if !set.rdatas.contains(&rdata) {
                    set.rdatas.push(rdata);
                }
            }
            None => sets.push(WireRrset {
                owner,
                rtype: t,
                ttl,
                rdatas: vec![rdata],
                rrsigs: Vec::new(),
            }),
        }
    }
    for (owner, rdata) in sigs {
        let Some(covered) = Rrsig::parse(&rdata).map(|s| s.covered) else {
            continue;
        };
        if let Some(set) = sets
            .iter_mut()
            .find(|s| s.rtype == covered && s.owner == owner)
        {
            if !set.rrsigs.contains(&rdata) {
                set.rrsigs.push(rdata);
            }
        }
    }
    sets
}

/// The RDATA of `record` without compression: parsed by `domain` and
/// composed again (a `Vec` target never compresses), or, for data
/// `domain` cannot parse, the octets as received.
fn uncompressed_rdata(record: &ParsedRecord<'_, Vec<u8>>) -> Option<Vec<u8>> {
    if let Ok(parsed) = record.to_any_record::<AllRecordData<_, ParsedName<_>>>() {
        let mut out = Vec::new();
        if parsed.data().compose_rdata(&mut out).is_ok() {
            return Some(out);
        }
    }
    let raw = record.to_any_record::<Raw>().ok()?;
    Some(raw.into_data().0)
}

/// RDATA as received. `domain`'s `UnknownRecordData` does not parse any
/// type (names in RFC 1035 types may be compressed), which is exactly the
/// fallback wanted when `domain` cannot read those names either.
struct Raw(Vec<u8>, Rtype);

impl RecordData for Raw {
    fn rtype(&self) -> Rtype {
        self.1
    }
}

impl<'a, Octs: Octets + ?Sized> ParseAnyRecordData<'a, Octs> for Raw {
    fn parse_any_rdata(rtype: Rtype, parser: &mut Parser<'a, Octs>) -> Result<Self, ParseError> {
        let len = parser.remaining();
        let data = parser.parse_octets(len)?;
        Ok(Raw(data.as_ref().to_vec(), rtype))
    }
}

#[cfg(test)]
mod tests {
    //! Over zones signed by real signers (tests/fixtures/csync/, made as
    //! its README says, signatures valid 2025-01-01 to 2035-01-01), each
    //! tampered with in one way. The time is a parameter, so the fixtures
    //! never expire.

    use super::*;
    use crate::name::test_wire as wire;
    use crate::zonefile::{parse_str_each, ParseOptions};
    use domain::base::message_builder::{MessageBuilder, StaticCompressor};
    use domain::base::Name;
    use std::path::Path;

    /// 2026-01-01T00:00:00Z.
    const NOW: u64 = 1_767_225_600;
    /// 2025-01-01T00:00:00Z and 2035-01-01T00:00:00Z: the fixtures'
    /// inception and expiration.
    const INCEPTION: u64 = 1_735_689_600;
    const EXPIRATION: u64 = 2_051_222_400;

    const ALL: [&str; 4] = ["alg13", "alg8-nsec3", "alg14", "alg15-nsec3"];

    struct Zone {
        /// (owner lower-case, type, TTL, RDATA)
        records: Vec<(Vec<u8>, u16, u32, Vec<u8>)>,
        ds: Vec<Vec<u8>>,
    }

    fn parse(file: &str) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/csync")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut opts = ParseOptions::new(wire("child.example."));
        opts.default_ttl = Some(3600);
        let mut out = Vec::new();
        parse_str_each(&text, &path, &opts, &mut |r| {
            out.push((lower(r.owner), r.rtype, r.ttl, r.rdata.to_vec()))
        })
        .unwrap();
        out
    }

    fn zone(name: &str) -> Zone {
        let ds = parse(&format!("{name}.ds"))
            .into_iter()
            .map(|(_, t, _, rdata)| {
                assert_eq!(t, rtype::DS);
                rdata
            })
            .collect();
        Zone {
            records: parse(&format!("{name}.zone")),
            ds,
        }
    }

    fn apex() -> Vec<u8> {
        wire("child.example.")
    }

    impl Zone {
        /// The RRset `owner`/`t` with the RRSIGs covering it.
        fn rrset(&self, owner: &str, t: u16) -> WireRrset {
            let owner = lower(&wire(owner));
            let at = |r: &&(Vec<u8>, u16, u32, Vec<u8>)| r.0 == owner;
            let rdatas: Vec<Vec<u8>> = self
                .records
                .iter()
                .filter(at)
                .filter(|r| r.1 == t)
                .map(|r| r.3.clone())
                .collect();
            assert!(!rdatas.is_empty(), "no {t} at {}", name::display(&owner));
            let rrsigs = self
                .records
                .iter()
                .filter(at)
                .filter(|r| r.1 == rtype::RRSIG && Rrsig::parse(&r.3).unwrap().covered == t)
                .map(|r| r.3.clone())
                .collect();
            WireRrset {
                owner,
                rtype: t,
                ttl: 3600,
                rdatas,
                rrsigs,
            }
        }

        fn dnskey(&self) -> WireRrset {
            self.rrset("child.example.", rtype::DNSKEY)
        }

        fn keys(&self) -> TrustedKeys {
            TrustedKeys::from_ds(&apex(), &self.ds, &self.dnskey(), NOW).unwrap()
        }

        /// The NSEC3 RRset whose owner is the hash of `name`.
        fn nsec3_of(&self, name: &str) -> WireRrset {
            let target = wire(name);
            let owner = self
                .records
                .iter()
                .filter(|r| r.1 == rtype::NSEC3)
                .find(|r| {
                    let p = Nsec3::parse(&r.3).unwrap().params;
                    let hash = nsec3_hash(&target, &p.salt, p.iterations);
                    name::labels(&r.0).next().unwrap() == rdata::base32hex(&hash).as_bytes()
                })
                .unwrap_or_else(|| panic!("no NSEC3 for {name}"))
                .0
                .clone();
            self.rrset(&name::display(&owner), rtype::NSEC3)
        }
    }

    fn flip_last(rdata: &mut [u8]) {
        *rdata.last_mut().unwrap() ^= 1;
    }

    #[test]
    fn every_algorithm_validates_to_secure() {
        for name in ALL {
            let z = zone(name);
            let keys = z.keys();
            for (owner, t) in [
                ("child.example.", rtype::SOA),
                ("child.example.", rtype::NS),
                ("child.example.", rtype::CSYNC),
                ("child.example.", rtype::DNSKEY),
                ("ns1.child.example.", rtype::A),
                ("ns1.child.example.", rtype::AAAA),
                ("ns2.child.example.", rtype::A),
                ("www.child.example.", rtype::A),
                // A wildcard's own RRset: its RRSIG leaves out the `*`.
                ("*.wild.child.example.", rtype::A),
            ] {
                assert_eq!(
                    keys.validate(&z.rrset(owner, t)),
                    Ok(()),
                    "{name} {owner} {t}"
                );
            }
        }
    }

    #[test]
    fn each_ds_digest_type_proves_the_key() {
        let z = zone("alg13");
        let types: Vec<u8> = z.ds.iter().map(|d| d[3]).collect();
        assert_eq!(types, [1, 2, 4]);
        for ds in &z.ds {
            let one = std::slice::from_ref(ds);
            TrustedKeys::from_ds(&apex(), one, &z.dnskey(), NOW).unwrap();
        }
        // Upper-case zone name, as a caller might hold it.
        TrustedKeys::from_ds(&wire("Child.EXAMPLE."), &z.ds, &z.dnskey(), NOW).unwrap();
    }

    #[test]
    fn a_sha1_ds_does_not_count_beside_a_sha256_one() {
        let z = zone("alg13");
        let (sha1, mut sha256, mut sha384) = (z.ds[0].clone(), z.ds[1].clone(), z.ds[2].clone());
        flip_last(&mut sha256);
        let err =
            TrustedKeys::from_ds(&apex(), &[sha1.clone(), sha256], &z.dnskey(), NOW).unwrap_err();
        let tag = u16::from_be_bytes([sha1[0], sha1[1]]);
        assert_eq!(
            err.to_string(),
            format!("no DNSKEY matches a DS (key tag {tag}, algorithm 13, digest type 2)")
        );
        // Beside SHA-384 alone (RFC 4509 speaks of SHA-256), it still counts.
        flip_last(&mut sha384);
        TrustedKeys::from_ds(&apex(), &[sha1, sha384], &z.dnskey(), NOW).unwrap();
    }

    #[test]
    fn a_ds_that_matches_no_key_is_an_error() {
        let z = zone("alg13");
        let other = zone("alg14").ds;
        let tag = u16::from_be_bytes([other[0][0], other[0][1]]);
        let err = TrustedKeys::from_ds(&apex(), &other, &z.dnskey(), NOW).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no DNSKEY matches a DS (key tag {tag}, algorithm 14, digest type 4)")
        );
        let mut wrong = z.ds[1].clone();
        flip_last(&mut wrong);
        let err = TrustedKeys::from_ds(&apex(), &[wrong], &z.dnskey(), NOW).unwrap_err();
        assert!(matches!(err, Insecure::NoKeyForDs { .. }), "{err}");
        // The DNSKEY RRset of another zone.
        let mut elsewhere = z.dnskey();
        elsewhere.owner = wire("other.example.");
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &elsewhere, NOW).unwrap_err();
        assert!(matches!(err, Insecure::OutOfZone { .. }), "{err}");
    }

    #[test]
    fn no_ds_or_no_usable_ds_is_an_unsigned_delegation() {
        let z = zone("alg13");
        let err = TrustedKeys::from_ds(&apex(), &[], &z.dnskey(), NOW).unwrap_err();
        assert_eq!(err.to_string(), "no DS at the parent (unsigned delegation)");

        let mut rsasha1 = z.ds[1].clone();
        rsasha1[2] = 5;
        let mut gost = z.ds[1].clone();
        gost[3] = 3;
        let err = TrustedKeys::from_ds(&apex(), &[rsasha1, gost], &z.dnskey(), NOW).unwrap_err();
        let tag = u16::from_be_bytes([z.ds[1][0], z.ds[1][1]]);
        assert_eq!(
            err.to_string(),
            format!(
                "no DS with a supported algorithm and digest type (key tag {tag}, algorithm 5, \
                 digest type 2; key tag {tag}, algorithm 13, digest type 3): the delegation \
                 counts as unsigned (RFC 4035 §5.2)"
            )
        );
    }

    #[test]
    fn a_flipped_signature_does_not_verify() {
        let z = zone("alg13");
        let keys = z.keys();
        let mut ns = z.rrset("child.example.", rtype::NS);
        flip_last(&mut ns.rrsigs[0]);
        let err = keys.validate(&ns).unwrap_err();
        assert!(matches!(err, Insecure::Bogus { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("RRSIG over NS at child.example. (key tag "),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("signature does not verify"),
            "{err}"
        );

        let mut dnskey = z.dnskey();
        flip_last(&mut dnskey.rrsigs[0]);
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, NOW).unwrap_err();
        assert!(matches!(err, Insecure::Bogus { .. }), "{err}");

        // A changed record: the signature no longer covers the set.
        let mut a = z.rrset("www.child.example.", rtype::A);
        a.rdatas[0] = vec![192, 0, 2, 81];
        assert!(matches!(keys.validate(&a), Err(Insecure::Bogus { .. })));
    }

    #[test]
    fn signatures_outside_their_validity_period_are_refused() {
        let z = zone("alg15-nsec3");
        let dnskey = z.dnskey();
        for now in [INCEPTION, EXPIRATION] {
            TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, now).unwrap();
        }
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, EXPIRATION + 1).unwrap_err();
        assert!(matches!(err, Insecure::Expired { .. }), "{err}");
        assert!(
            err.to_string().ends_with("expired at 2035-01-01T00:00:00Z"),
            "{err}"
        );
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, INCEPTION - 1).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is not valid before 2025-01-01T00:00:00Z"),
            "{err}"
        );

        // One RRSIG whose expiration says 2025-06-01 (checked before the
        // signature, which the change breaks).
        let keys = z.keys();
        let mut a = z.rrset("www.child.example.", rtype::A);
        a.rrsigs[0][8..12].copy_from_slice(&1_748_736_000u32.to_be_bytes());
        let err = keys.validate(&a).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "RRSIG over A at www.child.example. (key tag {}) expired at 2025-06-01T00:00:00Z",
                Rrsig::parse(&a.rrsigs[0]).unwrap().key_tag
            )
        );
    }

    #[test]
    fn an_rrset_without_its_rrsig_is_refused() {
        let z = zone("alg14");
        let keys = z.keys();
        let mut a = z.rrset("www.child.example.", rtype::A);
        a.rrsigs.clear();
        let err = keys.validate(&a).unwrap_err();
        assert_eq!(err.to_string(), "no RRSIG over A at www.child.example.");
        // RRSIGs over another type do not count.
        a.rrsigs = z.rrset("ns1.child.example.", rtype::AAAA).rrsigs;
        assert!(matches!(keys.validate(&a), Err(Insecure::NoRrsig { .. })));

        let mut dnskey = z.dnskey();
        dnskey.rrsigs.clear();
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, NOW).unwrap_err();
        assert_eq!(err.to_string(), "no RRSIG over DNSKEY at child.example.");
    }

    #[test]
    fn the_zsk_counts_because_the_dnskey_set_is_proven() {
        let z = zone("alg13");
        let keys = z.keys();
        let ds_tag = u16::from_be_bytes([z.ds[0][0], z.ds[0][1]]);
        let a = z.rrset("www.child.example.", rtype::A);
        assert_ne!(Rrsig::parse(&a.rrsigs[0]).unwrap().key_tag, ds_tag);
        assert_eq!(keys.validate(&a), Ok(()));

        // The DNSKEY RRset without the ZSK: its signature no longer covers
        // it, so nothing the ZSK signs can be trusted.
        let mut dnskey = z.dnskey();
        dnskey
            .rdatas
            .retain(|r| Dnskey::parse(r).unwrap().key_tag == ds_tag);
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, NOW).unwrap_err();
        assert!(matches!(err, Insecure::Bogus { .. }), "{err}");

        // A DNSKEY RRset signed only by the ZSK is not proven by the DS.
        let mut dnskey = z.dnskey();
        let mut zsk_sig = z.rrset("child.example.", rtype::SOA).rrsigs[0].clone();
        zsk_sig[..2].copy_from_slice(&rtype::DNSKEY.to_be_bytes());
        dnskey.rrsigs = vec![zsk_sig];
        let err = TrustedKeys::from_ds(&apex(), &z.ds, &dnskey, NOW).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "no RRSIG over the DNSKEY RRset at child.example. by a key a DS matches"
            ),
            "{err}"
        );

        // A signature by a key outside the DNSKEY set (another signing of
        // the same zone).
        let mut stranger = a.clone();
        stranger.rrsigs = zone("alg15-nsec3")
            .rrset("www.child.example.", rtype::A)
            .rrsigs;
        let err = keys.validate(&stranger).unwrap_err();
        assert!(matches!(err, Insecure::UnknownKey { .. }), "{err}");
        // With a good one beside it, the good one wins.
        stranger.rrsigs.extend(a.rrsigs.iter().cloned());
        assert_eq!(keys.validate(&stranger), Ok(()));
    }

    #[test]
    fn wildcard_expansions_and_other_signers_are_refused() {
        let z = zone("alg13");
        let keys = z.keys();
        let mut expanded = z.rrset("*.wild.child.example.", rtype::A);
        expanded.owner = wire("x.wild.child.example.");
        let err = keys.validate(&expanded).unwrap_err();
        assert_eq!(
            err.to_string(),
            "RRSIG over A at x.wild.child.example. has labels 3 for an owner of 4: a \
             wildcard expansion, not accepted for CSYNC data"
        );

        // The same signature claimed for another zone's data.
        let mut a = z.rrset("www.child.example.", rtype::A);
        a.owner = wire("www.other.example.");
        assert!(matches!(keys.validate(&a), Err(Insecure::OutOfZone { .. })));

        // A signer name other than the zone.
        let mut a = z.rrset("www.child.example.", rtype::A);
        // "Child": the zone still, case aside (the signed data has it
        // lower-cased).
        a.rrsigs[0][18 + 1] = b'C';
        assert_eq!(keys.validate(&a), Ok(()));
        a.rrsigs[0][18 + 1] = b'x';
        let err = keys.validate(&a).unwrap_err();
        assert!(matches!(err, Insecure::WrongSigner { .. }), "{err}");
    }

    #[test]
    fn nodata_proven_by_nsec() {
        for name in ["alg13", "alg14"] {
            let z = zone(name);
            let keys = z.keys();
            let soa = z.rrset("child.example.", rtype::SOA);
            let nsec = z.rrset("ns2.child.example.", rtype::NSEC);
            let qname = wire("NS2.child.example.");
            let authority = [soa.clone(), nsec.clone()];
            assert_eq!(
                keys.validate_nodata(&qname, rtype::AAAA, &authority),
                Ok(()),
                "{name}"
            );

            // The bit map lists the type.
            let err = keys
                .validate_nodata(&qname, rtype::A, &authority)
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "the NSEC at ns2.child.example. lists A: it does not prove that \
                 ns2.child.example. has no A"
            );

            // Unsigned NSEC.
            let mut unsigned = nsec.clone();
            unsigned.rrsigs.clear();
            let err = keys
                .validate_nodata(&qname, rtype::AAAA, &[soa.clone(), unsigned])
                .unwrap_err();
            assert_eq!(err.to_string(), "no RRSIG over NSEC at ns2.child.example.");

            // An NSEC at another name, or none.
            let other = z.rrset("www.child.example.", rtype::NSEC);
            for authority in [vec![soa.clone(), other], vec![soa.clone()]] {
                let err = keys
                    .validate_nodata(&qname, rtype::AAAA, &authority)
                    .unwrap_err();
                assert_eq!(
                    err.to_string(),
                    "no NSEC or NSEC3 record proves that ns2.child.example. has no AAAA"
                );
            }

            // A forged bit map.
            let mut forged = nsec.clone();
            let mut rdata = wire("*.wild.child.example.");
            rdata.extend([0, 1, 0x40]); // A only
            forged.rdatas = vec![rdata];
            let err = keys
                .validate_nodata(&qname, rtype::AAAA, &[forged])
                .unwrap_err();
            assert!(matches!(err, Insecure::Bogus { .. }), "{err}");
        }
    }

    #[test]
    fn nodata_proven_by_nsec3() {
        for name in ["alg8-nsec3", "alg15-nsec3"] {
            let z = zone(name);
            let keys = z.keys();
            let soa = z.rrset("child.example.", rtype::SOA);
            let nsec3 = z.nsec3_of("ns2.child.example.");
            let qname = wire("ns2.child.example.");
            let authority = [soa.clone(), z.nsec3_of("www.child.example."), nsec3.clone()];
            assert_eq!(
                keys.validate_nodata(&qname, rtype::AAAA, &authority),
                Ok(()),
                "{name}"
            );
            // An empty non-terminal has an NSEC3 with an empty bit map.
            let ent = [z.nsec3_of("wild.child.example.")];
            assert_eq!(
                keys.validate_nodata(&wire("wild.child.example."), rtype::A, &ent),
                Ok(()),
                "{name}"
            );

            let err = keys
                .validate_nodata(&qname, rtype::A, &authority)
                .unwrap_err();
            assert!(
                err.to_string().starts_with("the NSEC3 at ")
                    && err
                        .to_string()
                        .ends_with(" lists A: it does not prove that ns2.child.example. has no A"),
                "{err}"
            );

            let mut unsigned = nsec3.clone();
            unsigned.rrsigs.clear();
            let err = keys
                .validate_nodata(&qname, rtype::AAAA, &[unsigned])
                .unwrap_err();
            assert!(matches!(err, Insecure::NoRrsig { .. }), "{err}");

            // Only NSEC3 records of other names.
            let err = keys
                .validate_nodata(&qname, rtype::AAAA, &[z.nsec3_of("www.child.example.")])
                .unwrap_err();
            assert!(matches!(err, Insecure::NoDenial { .. }), "{err}");
        }
    }

    #[test]
    fn nsec3_with_too_many_iterations_is_not_hashed() {
        let z = zone("alg8-nsec3");
        let keys = z.keys();
        let mut nsec3 = z.nsec3_of("ns2.child.example.");
        nsec3.rdatas[0][2..4].copy_from_slice(&1000u16.to_be_bytes());
        let err = keys
            .validate_nodata(&wire("ns2.child.example."), rtype::AAAA, &[nsec3])
            .unwrap_err();
        assert!(
            err.to_string().ends_with(
                "cannot be used: 1000 iterations, more than the 150 accepted (RFC 9276 §3.2)"
            ),
            "{err}"
        );
    }

    /// The records of `sets` as `domain` values (owners upper-cased), and
    /// their size uncompressed.
    fn records(sets: &[WireRrset]) -> (Vec<Record<'_>>, usize) {
        let mut size = 0;
        let mut out = Vec::new();
        for set in sets {
            let owner = Name::from_octets(set.owner.to_ascii_uppercase()).unwrap();
            let rdatas = set.rdatas.iter().map(|r| (set.rtype, r));
            let rrsigs = set.rrsigs.iter().map(|r| (rtype::RRSIG, r));
            for (t, r) in rdatas.chain(rrsigs) {
                size += set.owner.len() + 10 + r.len();
                let mut parser = Parser::from_ref(r.as_slice());
                let data = AllRecordData::parse_any_rdata(Rtype::from_int(t), &mut parser).unwrap();
                out.push((owner.clone(), data));
            }
        }
        (out, size)
    }

    type Record<'a> = (Name<Vec<u8>>, AllRecordData<&'a [u8], ParsedName<&'a [u8]>>);

    /// A response holding `answer` and `authority`, with names compressed
    /// wherever `domain` compresses them (owners, NS, SOA); and the size
    /// it would have without compression.
    fn message(answer: &[WireRrset], authority: &[WireRrset]) -> (Vec<u8>, usize) {
        let (answer, answer_size) = records(answer);
        let (authority, authority_size) = records(authority);
        let mut b = MessageBuilder::from_target(StaticCompressor::new(Vec::new()))
            .unwrap()
            .answer();
        for (owner, data) in answer {
            b.push((owner, Class::IN, 3600, data)).unwrap();
        }
        let mut b = b.authority();
        for (owner, data) in authority {
            b.push((owner, Class::IN, 3600, data)).unwrap();
        }
        (b.finish().into_target(), 12 + answer_size + authority_size)
    }

    #[test]
    fn rrsets_from_a_compressed_message_validate() {
        let z = zone("alg13");
        let keys = z.keys();
        let ns = z.rrset("child.example.", rtype::NS);
        let soa = z.rrset("child.example.", rtype::SOA);
        let csync = z.rrset("child.example.", rtype::CSYNC);
        let nsec = z.rrset("ns2.child.example.", rtype::NSEC);
        let (octets, uncompressed) = message(&[ns.clone(), csync.clone()], &[soa.clone(), nsec]);
        assert!(octets.len() < uncompressed, "names were not compressed");
        let msg = Message::from_octets(octets).unwrap();

        let answer = rrsets_in(&msg, Section::Answer);
        assert_eq!(answer.len(), 2);
        assert_eq!(answer[1], csync);
        // The NS names are decompressed with the case the message has:
        // the suffix is the upper-cased owner the pointers lead to.
        let got = &answer[0];
        assert_eq!(
            (&got.owner, got.rtype, &got.rrsigs),
            (&ns.owner, ns.rtype, &ns.rrsigs)
        );
        assert_eq!(
            got.rdatas,
            [wire("ns1.CHILD.EXAMPLE."), wire("NS2.CHILD.EXAMPLE.")]
        );
        for set in &answer {
            assert_eq!(keys.validate(set), Ok(()));
        }
        let authority = rrsets_in(&msg, Section::Authority);
        assert_eq!(authority.len(), 2);
        assert!(authority[0].rdatas[0].eq_ignore_ascii_case(&soa.rdatas[0]));
        assert_eq!(keys.validate(&authority[0]), Ok(()));
        assert_eq!(
            keys.validate_nodata(&wire("ns2.child.example."), rtype::AAAA, &authority),
            Ok(())
        );
        assert!(rrsets_in(&msg, Section::Additional).is_empty());
    }
}
