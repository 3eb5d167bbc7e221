//! The set of served zones, and the published version of each.

use super::ZoneVersion;
use crate::name::{self, KeyBuf};
use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// FNV-1a: the zone table is probed on every query with short keys; the
/// default SipHash costs more than the lookup itself, and the keys come
/// from our own configuration, not from the network, so flooding the
/// table with collisions is not a concern.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// One served zone: its name and the version being served right now.
/// `current` is `None` until the zone has loaded once (queries for it then
/// get SERVFAIL, as a zone that is configured but not loaded).
#[derive(Debug)]
pub struct Zone {
    origin: Box<[u8]>,
    key: Box<[u8]>,
    current: ArcSwapOption<ZoneVersion>,
    expires_at: std::sync::atomic::AtomicU64,
}

impl Zone {
    /// `origin` in wire format.
    pub fn new(origin: &[u8]) -> Option<Zone> {
        let mut origin = origin.to_vec();
        name::make_lowercase(&mut origin);
        let key = name::key_of(&origin)?;
        Some(Zone {
            origin: origin.into_boxed_slice(),
            key,
            current: ArcSwapOption::empty(),
            expires_at: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn origin(&self) -> &[u8] {
        &self.origin
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The version being served, for a query's whole lifetime.
    pub fn current(&self) -> Guard<Option<Arc<ZoneVersion>>> {
        self.current.load()
    }

    /// The version being served, as an owned handle (transfers, control).
    pub fn snapshot(&self) -> Option<Arc<ZoneVersion>> {
        self.current.load_full()
    }

    /// Makes `version` the served one in a single atomic step: a query sees
    /// either the old or the new version, never a mix.
    pub fn publish(&self, version: Arc<ZoneVersion>) {
        self.current.store(Some(version));
    }

    /// Stops serving the zone (a secondary past EXPIRE): queries get
    /// SERVFAIL until a version is published again.
    pub fn withdraw(&self) {
        self.current.store(None);
    }

    /// For EDNS EXPIRE (RFC 7314) answers: the Unix time a secondary copy
    /// expires, 0 for a primary (which answers its SOA EXPIRE).
    pub fn expires_at(&self) -> u64 {
        self.expires_at.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_expires_at(&self, unix: u64) {
        self.expires_at
            .store(unix, std::sync::atomic::Ordering::Relaxed);
    }
}

/// All served zones, found by the longest match of a query name.
#[derive(Debug, Default)]
pub struct ZoneTable {
    by_key: HashMap<Box<[u8]>, Arc<Zone>, BuildHasherDefault<Fnv>>,
    /// Bit `d` set when some zone has an apex with `d` labels, so the
    /// lookup only probes depths where a zone can be.
    depths: u128,
}

impl ZoneTable {
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>) -> ZoneTable {
        let mut table = ZoneTable::default();
        for zone in zones {
            let depth = name::label_count(&zone.origin);
            table.depths |= 1u128 << depth.min(127);
            table.by_key.insert(zone.key.clone(), zone);
        }
        table
    }

    /// A copy with `added` zones (replacing any with the same apex) and
    /// without the zones whose apex (wire format) is in `removed`: the
    /// zones served change at run time by replacing the table whole.
    pub fn changed(
        &self,
        added: impl IntoIterator<Item = Arc<Zone>>,
        removed: &[Vec<u8>],
    ) -> ZoneTable {
        let gone: std::collections::HashSet<Box<[u8]>> =
            removed.iter().filter_map(|o| name::key_of(o)).collect();
        let kept = self
            .by_key
            .values()
            .filter(|z| !gone.contains(&z.key))
            .cloned();
        ZoneTable::new(kept.chain(added))
    }

    /// The zone with the longest apex that `qname` is at or below.
    pub fn find(&self, qkey: &KeyBuf) -> Option<&Arc<Zone>> {
        (0..=qkey.labels())
            .rev()
            .filter(|d| self.depths & (1u128 << d) != 0)
            .find_map(|d| self.by_key.get(qkey.prefix(d)))
    }

    /// The zone that holds the delegation of the zone with apex `qkey`:
    /// the longest match strictly above it.
    pub fn find_parent(&self, qkey: &KeyBuf) -> Option<&Arc<Zone>> {
        (0..qkey.labels())
            .rev()
            .filter(|d| self.depths & (1u128 << d) != 0)
            .find_map(|d| self.by_key.get(qkey.prefix(d)))
    }

    /// The zone with exactly this apex (wire format). The key is built
    /// on the stack: IXFR over UDP and NOTIFY look zones up this way on
    /// the query path.
    pub fn get(&self, origin: &[u8]) -> Option<&Arc<Zone>> {
        self.by_key.get(KeyBuf::new(origin)?.as_slice())
    }

    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.by_key.values()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The table as the server holds it: replaced whole when the configured
/// zones change, read without locks by every query.
pub type SharedZoneTable = ArcSwap<ZoneTable>;
