//! When each peer last asked a zone's SOA (or IXFR over UDP), seen on the
//! query path: the doctor tells a secondary that never asks (`never-asked`)
//! from one that asks and does not transfer. The query path may neither
//! lock nor allocate, and the addresses are not known in advance (the
//! point is to see secondaries nobody listed), so this is a fixed table
//! of atomics, as `query::rrl` keeps its buckets.
//!
//! Each slot holds a tag (a keyed SipHash of the zone's key and the peer's
//! IP, with its low bit set so that 0 means empty) and the time of the
//! last sighting. The table is two-way: a pair lives in one of two
//! neighbouring slots, and a new pair takes the one seen longer ago. A
//! collision or a scan of many sources can evict a sighting, so a missing
//! one is never evidence on its own (the doctor never acts on it alone).

use crate::clock::UnixMs;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Slots in the server's table: 64 KiB, two ways of 2,048 sets.
pub const SLOTS: usize = 4096;

/// One slot: which pair, and when it was seen.
#[derive(Default)]
struct Slot {
    tag: AtomicU64,
    at: AtomicU64,
}

impl Slot {
    /// The slot's time if it holds `tag`: the tag is read on both sides
    /// of the time, so a time written for another pair meanwhile is not
    /// taken for this one's (a seqlock's read, with the tag as sequence).
    fn read(&self, tag: u64) -> Option<UnixMs> {
        if self.tag.load(Ordering::Acquire) != tag {
            return None;
        }
        let at = self.at.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.tag.load(Ordering::Relaxed) == tag).then_some(at)
    }

    /// Makes the slot `tag`'s, seen at `at`. Another pair's slot is first
    /// emptied, so that no reader sees the old pair with the new time.
    fn write(&self, tag: u64, at: UnixMs) {
        if self.tag.load(Ordering::Relaxed) == tag {
            self.at.fetch_max(at, Ordering::Relaxed);
            return;
        }
        self.tag.store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        self.at.store(at, Ordering::Relaxed);
        self.tag.store(tag, Ordering::Release);
    }

    /// When its pair was seen; 0 for an empty slot, so it goes first.
    fn age_key(&self) -> UnixMs {
        if self.tag.load(Ordering::Relaxed) == 0 {
            0
        } else {
            self.at.load(Ordering::Relaxed)
        }
    }
}

/// The server's SOA sightings, shared by every zone (`ZoneDeps`) and the
/// query path (`Answerer::with_sightings`).
pub struct SoaSightings {
    /// Sets of two slots (the two ways); their number a power of two.
    sets: Box<[[Slot; 2]]>,
    /// The SipHash key, drawn at start: sources cannot aim at a slot.
    keys: RandomState,
}

impl std::fmt::Debug for SoaSightings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoaSightings")
            .field("slots", &(self.sets.len() * 2))
            .finish_non_exhaustive()
    }
}

impl Default for SoaSightings {
    fn default() -> Self {
        SoaSightings::with_slots(SLOTS)
    }
}

impl SoaSightings {
    /// A table of `slots` (rounded up to a power of two, at least 2);
    /// the server's has [`SLOTS`], tests make small ones to force
    /// collisions.
    fn with_slots(slots: usize) -> SoaSightings {
        let sets = (slots / 2).clamp(1, 1 << 20).next_power_of_two();
        SoaSightings {
            sets: (0..sets).map(|_| <[Slot; 2]>::default()).collect(),
            keys: RandomState::new(),
        }
    }

    /// `ip` asked the SOA of the zone with lookup key `zone` at `now`.
    /// A hash, a few loads and stores: no lock, no allocation.
    pub fn see(&self, zone: &[u8], ip: IpAddr, now: UnixMs) {
        let Some((tag, [a, b])) = self.place(zone, ip) else {
            return;
        };
        let slot = if a.tag.load(Ordering::Relaxed) == tag {
            a
        } else if b.tag.load(Ordering::Relaxed) == tag {
            b
        } else if a.age_key() <= b.age_key() {
            a
        } else {
            b
        };
        slot.write(tag, now);
    }

    /// When `ip` last asked the SOA of the zone with lookup key `zone`;
    /// `None` when never, or when the sighting was evicted.
    pub fn last(&self, zone: &[u8], ip: IpAddr) -> Option<UnixMs> {
        let (tag, [a, b]) = self.place(zone, ip)?;
        match (a.read(tag), b.read(tag)) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        }
    }

    /// The pair's tag and its set of two slots (always found: the
    /// number of sets is a power of two, so the mask keeps the index in
    /// range).
    fn place(&self, zone: &[u8], ip: IpAddr) -> Option<(u64, &[Slot; 2])> {
        let hash = self.hash(zone, ip);
        let set = (hash >> 32) as usize & self.sets.len().wrapping_sub(1);
        Some((hash | 1, self.sets.get(set)?))
    }

    fn hash(&self, zone: &[u8], ip: IpAddr) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write_usize(zone.len());
        h.write(zone);
        match super::fold(ip) {
            IpAddr::V4(v4) => {
                h.write_u8(4);
                h.write_u32(u32::from(v4));
            }
            IpAddr::V6(v6) => {
                h.write_u8(6);
                h.write_u128(u128::from(v6));
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const ZONE: &[u8] = b"com\0example\0";

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0xc000_0200 + n))
    }

    #[test]
    fn a_pair_never_seen_has_no_sighting() {
        let s = SoaSightings::default();
        assert_eq!(s.last(ZONE, ip(1)), None);
        s.see(ZONE, ip(1), 1000);
        assert_eq!(s.last(ZONE, ip(2)), None, "another address");
        assert_eq!(s.last(b"org\0example\0", ip(1)), None, "another zone");
    }

    #[test]
    fn the_last_sighting_is_kept_and_never_goes_back() {
        let s = SoaSightings::default();
        s.see(ZONE, ip(1), 1000);
        assert_eq!(s.last(ZONE, ip(1)), Some(1000));
        s.see(ZONE, ip(1), 5000);
        assert_eq!(s.last(ZONE, ip(1)), Some(5000));
        // Two threads' sightings may land out of order.
        s.see(ZONE, ip(1), 4000);
        assert_eq!(s.last(ZONE, ip(1)), Some(5000));
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_peer() {
        let s = SoaSightings::default();
        s.see(ZONE, "::ffff:192.0.2.1".parse().unwrap(), 1000);
        assert_eq!(s.last(ZONE, ip(1)), Some(1000));
    }

    #[test]
    fn two_pairs_share_a_set_of_two_slots() {
        // One set of two slots: every pair meets every other.
        let s = SoaSightings::with_slots(2);
        s.see(ZONE, ip(1), 1000);
        s.see(ZONE, ip(2), 2000);
        assert_eq!(s.last(ZONE, ip(1)), Some(1000), "two-way: both kept");
        assert_eq!(s.last(ZONE, ip(2)), Some(2000));
    }

    #[test]
    fn a_collision_evicts_the_pair_seen_longer_ago() {
        let s = SoaSightings::with_slots(2);
        s.see(ZONE, ip(1), 1000);
        s.see(ZONE, ip(2), 2000);
        // ip(1) asks again: now ip(2) is the older.
        s.see(ZONE, ip(1), 3000);
        s.see(ZONE, ip(3), 4000);
        assert_eq!(s.last(ZONE, ip(2)), None, "the older evicted");
        assert_eq!(s.last(ZONE, ip(1)), Some(3000), "the newer kept");
        assert_eq!(s.last(ZONE, ip(3)), Some(4000));
    }

    #[test]
    fn the_server_table_is_4096_slots() {
        let s = SoaSightings::default();
        assert_eq!(s.sets.len() * 2, SLOTS);
        // Many sources in a big table: nearly all kept.
        for n in 0..1000 {
            s.see(ZONE, ip(n), 1000 + u64::from(n));
        }
        let kept = (0..1000).filter(|&n| s.last(ZONE, ip(n)).is_some()).count();
        assert!(kept > 950, "{kept} of 1000 kept");
    }
}
