//! The orders DNSSEC denial of existence needs (RFC 4035 §3.1.3, RFC 5155
//! §7.2): the owners of NSEC records in canonical order and the owners of
//! NSEC3 records in hash order, so that the query path finds the record
//! that matches or covers a name with one search.
//!
//! Both are persistent B-trees (`imbl::OrdSet`) of the nodes themselves,
//! ordered by key: a change updates them in O(log n) and versions share
//! everything else. Keys sort in canonical order (see [`crate::name`]); the
//! NSEC3 owners are all children of the apex whose first label is the
//! base32hex hash, and base32hex keeps the order of the octets, so key
//! order is hash order there too. `get_prev` walks down the tree without
//! allocating: the query path stays allocation-free.
//!
//! The NSEC3 hash (RFC 5155 §5) is computed here too, on the stack.

use super::node::Node;
use super::rtype;
use crate::name::MAX_NAME_LEN;
use imbl::OrdSet;
use std::borrow::Borrow;
use std::cmp::Ordering;

/// A node ordered by its key.
#[derive(Clone, Debug)]
pub struct ByKey(pub Node);

impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}
impl Eq for ByKey {}
impl PartialOrd for ByKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key().cmp(other.0.key())
    }
}
impl Borrow<[u8]> for ByKey {
    fn borrow(&self) -> &[u8] {
        self.0.key()
    }
}

/// The NSEC3 parameters the server uses (RFC 5155 §4: from the apex's
/// NSEC3PARAM with flags 0 and a hash algorithm we know, SHA-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nsec3Param {
    pub iterations: u16,
    salt: [u8; 255],
    salt_len: u8,
}

impl Nsec3Param {
    /// From NSEC3PARAM RDATA: algorithm, flags, iterations, salt length,
    /// salt.
    pub fn from_rdata(rdata: &[u8]) -> Option<Nsec3Param> {
        let (&algorithm, rest) = rdata.split_first()?;
        let (&flags, rest) = rest.split_first()?;
        let iterations = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let (&salt_len, salt) = rest.get(2..)?.split_first()?;
        let salt = salt.get(..usize::from(salt_len))?;
        if algorithm != 1 || flags != 0 {
            return None;
        }
        let mut param = Nsec3Param {
            iterations,
            salt: [0; 255],
            salt_len,
        };
        param.salt.get_mut(..salt.len())?.copy_from_slice(salt);
        Some(param)
    }

    pub fn salt(&self) -> &[u8] {
        self.salt
            .get(..usize::from(self.salt_len))
            .unwrap_or_default()
    }

    /// The hash of a lower-case wire name under this parameter set.
    pub fn hash(&self, name: &[u8]) -> [u8; 20] {
        nsec3_hash(name, self.salt(), self.iterations)
    }
}

/// The NSEC3 hash of a lower-case wire name (RFC 5155 §5): SHA-1 over the
/// name and salt, then `iterations` more times over the digest and salt.
/// The one implementation, used by answers and by the load-time checks.
pub fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};
    let mut context = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    context.update(name);
    context.update(salt);
    let mut digest = [0u8; 20];
    digest.copy_from_slice(context.finish().as_ref());
    for _ in 0..iterations {
        let mut context = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        context.update(&digest);
        context.update(salt);
        digest.copy_from_slice(context.finish().as_ref());
    }
    digest
}

/// Length of the key of a hashed owner name: the apex key, 32 base32hex
/// characters, a terminator.
pub const HASHED_LABEL_LEN: usize = 32;

/// Writes the key of `hash`'s owner under the apex whose key is
/// `apex_key` into `out`; returns its length.
pub fn hashed_owner_key(
    apex_key: &[u8],
    hash: &[u8; 20],
    out: &mut [u8; 2 * MAX_NAME_LEN],
) -> Option<usize> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let end = apex_key.len() + HASHED_LABEL_LEN + 1;
    out.get_mut(..apex_key.len())?.copy_from_slice(apex_key);
    let label = out.get_mut(apex_key.len()..end - 1)?;
    // 20 octets = 160 bits = 32 characters of 5 bits.
    for (i, slot) in label.iter_mut().enumerate() {
        let bit = i * 5;
        let byte = bit / 8;
        let shift = bit % 8;
        let hi = u16::from(hash.get(byte).copied().unwrap_or(0)) << 8;
        let lo = u16::from(hash.get(byte + 1).copied().unwrap_or(0));
        let window = (hi | lo) >> (11 - shift);
        *slot = ALPHABET[usize::from(window & 31)];
    }
    *out.get_mut(end - 1)? = 0;
    Some(end)
}

/// How the zone denies existence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    /// Not signed, or without a denial chain.
    None,
    Nsec,
    Nsec3(&'a Nsec3Param),
}

/// The ordered owners of a version's NSEC and NSEC3 records.
#[derive(Clone, Debug, Default)]
pub struct Denial {
    nsec: OrdSet<ByKey>,
    nsec3: OrdSet<ByKey>,
    param: Option<Nsec3Param>,
}

impl Denial {
    /// From every node of a version (any order).
    pub fn build<'a>(nodes: impl IntoIterator<Item = &'a Node>, apex: &Node) -> Denial {
        let mut denial = Denial::default();
        for node in nodes {
            denial.add(node);
        }
        denial.param = param_of(apex);
        denial
    }

    fn add(&mut self, node: &Node) {
        if node.rrset(rtype::NSEC).is_some() {
            self.nsec.insert(ByKey(node.clone()));
        }
        if node.rrset(rtype::NSEC3).is_some() {
            self.nsec3.insert(ByKey(node.clone()));
        }
    }

    /// Follows one node being replaced (`old` → `new`, same key), added
    /// (`old` None) or removed (`new` None). Every change of a node goes
    /// through here, so the sets never hold a stale node.
    pub fn replace(&mut self, old: Option<&Node>, new: Option<&Node>, is_apex: bool) {
        if let Some(old) = old {
            self.nsec.remove(old.key());
            self.nsec3.remove(old.key());
        }
        if let Some(new) = new {
            self.add(new);
            if is_apex {
                self.param = param_of(new);
            }
        }
    }

    /// NSEC3 when the apex has a usable NSEC3PARAM and there are NSEC3
    /// records; else NSEC when there are NSEC records.
    pub fn mode(&self) -> Mode<'_> {
        match &self.param {
            Some(param) if !self.nsec3.is_empty() => Mode::Nsec3(param),
            _ if !self.nsec.is_empty() => Mode::Nsec,
            _ => Mode::None,
        }
    }

    /// Whether there are NSEC3 records (their owners are then not names
    /// of the zone to the lookup).
    pub fn has_nsec3(&self) -> bool {
        !self.nsec3.is_empty()
    }

    /// The NSEC whose owner is `key` or, if none, the one that covers it
    /// (the greatest owner before it; the apex's NSEC is first, so there is
    /// one for every name in the zone).
    pub fn nsec_at_or_before(&self, key: &[u8]) -> Option<&Node> {
        self.nsec.get_prev(key).map(|n| &n.0)
    }

    /// The NSEC3 that covers hashed owner `key`: the greatest before it,
    /// or the last one (its next hashed owner wraps around to the first).
    pub fn nsec3_covering(&self, key: &[u8]) -> Option<&Node> {
        match self.nsec3.get_prev(key) {
            Some(n) if n.0.key() != key => Some(&n.0),
            Some(_) => None,
            None => self.nsec3.get_max().map(|n| &n.0),
        }
    }
}

fn param_of(apex: &Node) -> Option<Nsec3Param> {
    apex.rrset(rtype::NSEC3PARAM)?
        .rdatas()
        .find_map(Nsec3Param::from_rdata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hashes_as_rfc5155_appendix_a() {
        // RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
        let param = Nsec3Param::from_rdata(&[1, 0, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd]).unwrap();
        let apex_key = crate::name::key_of(&crate::name::test_wire("example")).unwrap();
        let mut out = [0u8; 2 * MAX_NAME_LEN];
        for (name, want) in [
            ("example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ai.example", "gjeqe526plbf1g8mklp59enfd789njgi"),
            ("x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s"),
        ] {
            let hash = param.hash(&crate::name::test_wire(name));
            let len = hashed_owner_key(&apex_key, &hash, &mut out).unwrap();
            let label = &out[apex_key.len()..len - 1];
            assert_eq!(std::str::from_utf8(label).unwrap(), want, "{name}");
            assert_eq!(out[len - 1], 0);
        }
        assert_eq!(param.salt(), from_hex("aabbccdd"));
    }

    #[test]
    fn nsec3param_with_flags_or_another_algorithm_is_not_used() {
        assert!(Nsec3Param::from_rdata(&[1, 1, 0, 0, 0]).is_none());
        assert!(Nsec3Param::from_rdata(&[2, 0, 0, 0, 0]).is_none());
        assert!(Nsec3Param::from_rdata(&[1, 0, 0, 0, 3, 1]).is_none());
        assert_eq!(
            Nsec3Param::from_rdata(&[1, 0, 0, 5, 0]).unwrap().iterations,
            5
        );
    }
}
