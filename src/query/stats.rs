//! Counters of the query path, read by the control interface and metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct QueryStats {
    /// Responses by RCODE (low 4 bits).
    by_rcode: [AtomicU64; 16],
    /// Requests answered with FORMERR because they could not be parsed.
    malformed: AtomicU64,
    /// Requests dropped without an answer (too short, or responses).
    dropped: AtomicU64,
    /// UDP responses sent with TC=1.
    truncated: AtomicU64,
}

impl QueryStats {
    pub fn count_rcode(&self, rcode: u16) {
        if let Some(c) = self.by_rcode.get(rcode as usize & 0x0f) {
            c.fetch_add(1, Relaxed);
        }
    }
    pub fn count_malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }
    pub fn count_dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }
    pub fn count_truncated(&self) {
        self.truncated.fetch_add(1, Relaxed);
    }
    pub fn rcode(&self, rcode: u16) -> u64 {
        self.by_rcode
            .get(rcode as usize)
            .map_or(0, |c| c.load(Relaxed))
    }
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
    pub fn truncated(&self) -> u64 {
        self.truncated.load(Relaxed)
    }
    pub fn total(&self) -> u64 {
        self.by_rcode.iter().map(|c| c.load(Relaxed)).sum::<u64>()
    }
}
