//! Verifying RRSIGs: the apex zone keys, the signed data of RFC 4034
//! §3.1.8.1 built from the store's RDATA, and `domain`'s ring-backed
//! public keys (RSA/SHA-1, RSA/SHA-256, RSA/SHA-512, ECDSA P-256 and
//! P-384, Ed25519).

use super::rdata::{self, Dnskey, Rrsig};
use crate::name;
use domain::base::iana::SecurityAlgorithm;
use domain::crypto::common::{AlgorithmError, PublicKey};

/// A zone key of the apex DNSKEY set, ready to verify with.
pub struct ZoneKey {
    pub tag: u16,
    pub algorithm: u8,
    /// `Err` when the key cannot verify anything: its algorithm is not
    /// supported (`Unsupported`) or its public key is malformed.
    pub key: Result<PublicKey, AlgorithmError>,
}

impl ZoneKey {
    pub fn new(k: &Dnskey<'_>) -> ZoneKey {
        let algorithm = SecurityAlgorithm::from_int(k.algorithm);
        let key = domain::rdata::Dnskey::new(k.flags, k.protocol, algorithm, k.public_key)
            .map_err(|_| AlgorithmError::InvalidData)
            .and_then(|d| PublicKey::from_dnskey(&d));
        ZoneKey {
            tag: k.key_tag,
            algorithm: k.algorithm,
            key,
        }
    }
}

/// The zone keys (RFC 4034 §2.1.1) among the apex DNSKEY RDATA (the
/// store's `Rdatas`, or RDATA read off the wire).
pub fn zone_keys<'r>(dnskeys: impl IntoIterator<Item = &'r [u8]>) -> Vec<ZoneKey> {
    dnskeys
        .into_iter()
        .filter_map(Dnskey::parse)
        .filter(Dnskey::is_zone_key)
        .map(|k| ZoneKey::new(&k))
        .collect()
}

/// An RRset in canonical form and order (RFC 4034 §6.3): each RDATA
/// canonical, sorted as octet strings, duplicates dropped. Built once per
/// RRset and shared by its signatures; the buffers are reused.
#[derive(Default)]
pub struct CanonicalRrset {
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl CanonicalRrset {
    /// `rdatas`: the store's `Rdatas`, or RDATA read off the wire
    /// (uncompressed).
    pub fn fill<'r>(&mut self, rr_type: u16, rdatas: impl IntoIterator<Item = &'r [u8]>) {
        self.buf.clear();
        self.ranges.clear();
        for r in rdatas {
            let start = self.buf.len();
            rdata::push_canonical(rr_type, r, &mut self.buf);
            self.ranges.push((start, self.buf.len()));
        }
        let buf = &self.buf;
        let at = |&(s, e): &(usize, usize)| buf.get(s..e).unwrap_or(&[]);
        self.ranges.sort_unstable_by(|a, b| at(a).cmp(at(b)));
        self.ranges.dedup_by(|a, b| at(a) == at(b));
    }

    pub fn rdatas(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges
            .iter()
            .map(|&(s, e)| self.buf.get(s..e).unwrap_or(&[]))
    }
}

/// Writes the data `sig` signs (RFC 4034 §3.1.8.1) into `out`: the RRSIG
/// RDATA without the signature (signer lower-case), then each record of
/// the RRset as owner, type, class IN, the original TTL and the canonical
/// RDATA. A labels field below the owner's label count means the RRSIG
/// was made for a wildcard, so the owner signed is `*` and the rightmost
/// `labels` labels (RFC 4035 §5.3.2).
pub fn signed_data(
    out: &mut Vec<u8>,
    sig: &Rrsig<'_>,
    owner: &[u8],
    rr_type: u16,
    rrset: &CanonicalRrset,
) {
    out.clear();
    out.extend_from_slice(sig.fixed);
    let signer_at = out.len();
    out.extend_from_slice(sig.signer);
    if let Some(signer) = out.get_mut(signer_at..) {
        name::make_lowercase(signer);
    }
    let owner_labels = name::label_count(owner);
    let labels = usize::from(sig.labels);
    let mut signed_owner = Vec::with_capacity(owner.len());
    if labels < owner_labels {
        signed_owner.extend_from_slice(b"\x01*");
        signed_owner.extend_from_slice(name::strip_labels(owner, owner_labels - labels));
    } else {
        signed_owner.extend_from_slice(owner);
    }
    for r in rrset.rdatas() {
        out.extend_from_slice(&signed_owner);
        out.extend_from_slice(&rr_type.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&sig.original_ttl.to_be_bytes());
        out.extend_from_slice(&(r.len() as u16).to_be_bytes());
        out.extend_from_slice(r);
    }
}

/// What verifying one signature gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A key with the RRSIG's tag and algorithm verifies it.
    Valid,
    /// Keys with its tag and algorithm exist, none verifies it.
    Bogus,
    /// Its key's algorithm is not supported here, or the key is malformed.
    Unchecked,
}

/// Verifies `data` against every usable key named by `sig` (key tags may
/// collide, RFC 4034 §5.3.1). The caller has checked that such keys exist.
pub fn verify(keys: &[ZoneKey], sig: &Rrsig<'_>, data: &[u8]) -> Verdict {
    let mut checked = false;
    for k in keys
        .iter()
        .filter(|k| k.tag == sig.key_tag && k.algorithm == sig.algorithm)
    {
        if let Ok(key) = &k.key {
            checked = true;
            if key.verify(data, sig.signature).is_ok() {
                return Verdict::Valid;
            }
        }
    }
    if checked {
        Verdict::Bogus
    } else {
        Verdict::Unchecked
    }
}
