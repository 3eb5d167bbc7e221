//! A digest of a zone's content that ignores the SOA serial, so that the
//! server can tell after a restart whether a zone file still holds what it
//! served before (when a serial policy had moved the served serial away
//! from the file's, the two differ only there).
//!
//! The digest is a multiset hash: the sum (mod 2^128) of a hash of every
//! record, so it does not depend on the order in which the nodes are
//! visited (the index iterates in a per-process random order). It guards
//! against accidents, not adversaries: the input is the operator's own
//! zone file. The record hash is FNV-1a (64-bit, twice, with different
//! offsets) finished by a SplitMix64 mix, fixed across builds and
//! platforms because the digest is stored on disk.

use super::{rtype, Node, ZoneVersion};

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

struct Fnv2 {
    a: u64,
    b: u64,
}

impl Fnv2 {
    fn new() -> Self {
        Fnv2 {
            a: 0xcbf2_9ce4_8422_2325,
            b: 0x6c62_272e_07bb_0142,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        for &x in bytes {
            self.a = (self.a ^ u64::from(x)).wrapping_mul(FNV_PRIME);
            self.b = (self.b ^ u64::from(x)).wrapping_mul(FNV_PRIME);
        }
        // Length-delimit, so that ("ab", "c") and ("a", "bc") differ.
        self.a = (self.a ^ bytes.len() as u64).wrapping_mul(FNV_PRIME);
        self.b = (self.b ^ 0xff).wrapping_mul(FNV_PRIME);
    }

    fn finish(&self) -> u128 {
        (u128::from(mix(self.a)) << 64) | u128::from(mix(self.b ^ 0x9e37_79b9_7f4a_7c15))
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl ZoneVersion {
    /// The content digest (see the module documentation): equal for two
    /// versions with the same records, whatever their SOA serials.
    pub fn content_digest(&self) -> u128 {
        self.nodes_ahead()
            .fold(0u128, |sum, node| sum.wrapping_add(node_digest(node)))
    }
}

/// One node's share of the content digest: the sum of its records'
/// hashes, so that a digest moves by the difference of the nodes a change
/// touches (`loader::incremental`).
pub fn node_digest(node: &Node) -> u128 {
    let mut sum: u128 = 0;
    let mut add = |key: &[u8], t: u16, ttl: u32, rdata: &[u8]| {
        let mut h = Fnv2::new();
        h.write(key);
        h.write(&t.to_be_bytes());
        h.write(&ttl.to_be_bytes());
        h.write(rdata);
        sum = sum.wrapping_add(h.finish());
    };
    for set in node.rrsets() {
        for rdata in set.rdatas() {
            if set.rtype() == rtype::SOA {
                add(
                    node.key(),
                    set.rtype(),
                    set.ttl(),
                    &super::set_soa_serial(rdata, crate::serial::Serial(0)),
                );
            } else {
                add(node.key(), set.rtype(), set.ttl(), rdata);
            }
        }
        if let Some(sigs) = set.sigs() {
            for rdata in sigs.rdatas() {
                add(node.key(), rtype::RRSIG, sigs.ttl, rdata);
            }
        }
    }
    sum
}
