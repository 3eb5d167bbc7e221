//! Counters of the query path, read by the control interface and metrics.

use super::cookie::Verdict;
use super::rrl::{Action, Class};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Shards of the counters every answer moves. One counter written by all
/// workers would be a cache line passed from core to core on every
/// answer; each thread writes its own shard instead, and readers sum
/// them.
const SHARDS: usize = 16;

/// The counters every answer moves, a cache-line pair of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    /// Responses by RCODE (low 4 bits).
    by_rcode: [AtomicU64; 16],
    /// UDP responses sent with TC=1.
    truncated: AtomicU64,
    /// Requests by what their COOKIE option showed (RFC 7873), in the
    /// order of [`Verdict::COUNTED`]; none counted with cookies off.
    cookies: [AtomicU64; 4],
}

/// The shard of the calling thread: threads take shards in turn as
/// they first count.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

#[derive(Debug, Default)]
pub struct QueryStats {
    shards: [Shard; SHARDS],
    /// Requests answered with FORMERR because they could not be parsed.
    malformed: AtomicU64,
    /// Requests dropped without an answer (too short, or responses).
    dropped: AtomicU64,
    /// Answers to UPDATE (RFC 2136) by RCODE (low 4 bits).
    updates: [AtomicU64; 16],
    /// Answers limited by RRL, by class: [slipped, dropped].
    rrl: [[AtomicU64; 2]; Class::ALL.len()],
}

impl QueryStats {
    fn shard(&self) -> Option<&Shard> {
        self.shards.get(shard_index())
    }
    pub fn count_rcode(&self, rcode: u16) {
        if let Some(c) = self
            .shard()
            .and_then(|s| s.by_rcode.get(rcode as usize & 0x0f))
        {
            c.fetch_add(1, Relaxed);
        }
    }
    /// An answer to an UPDATE, by its RCODE.
    pub fn count_update(&self, rcode: u16) {
        if let Some(c) = self.updates.get(rcode as usize & 0x0f) {
            c.fetch_add(1, Relaxed);
        }
    }
    pub fn updates(&self, rcode: u16) -> u64 {
        self.updates
            .get(rcode as usize)
            .map_or(0, |c| c.load(Relaxed))
    }
    pub fn count_malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }
    pub fn count_dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }
    /// An answer response rate limiting did not send as it was.
    pub fn count_rrl(&self, class: Class, action: Action) {
        if let Some(c) = self.rrl_slot(class, action) {
            c.fetch_add(1, Relaxed);
        }
    }
    /// Answers of `class` limited with `action` (slipped or dropped).
    pub fn rrl(&self, class: Class, action: Action) -> u64 {
        self.rrl_slot(class, action).map_or(0, |c| c.load(Relaxed))
    }
    fn rrl_slot(&self, class: Class, action: Action) -> Option<&AtomicU64> {
        let by_action = self.rrl.get(class.index())?;
        match action {
            Action::Slip => by_action.first(),
            Action::Drop => by_action.get(1),
            Action::Send => None,
        }
    }
    pub fn count_truncated(&self) {
        if let Some(s) = self.shard() {
            s.truncated.fetch_add(1, Relaxed);
        }
    }
    /// A request's cookie verdict (a malformed one is counted by
    /// [`count_malformed`](Self::count_malformed) instead).
    pub fn count_cookie(&self, verdict: Verdict) {
        let slot = Self::cookie_slot(verdict);
        if let Some(c) = slot.and_then(|i| self.shard()?.cookies.get(i)) {
            c.fetch_add(1, Relaxed);
        }
    }
    pub fn cookies(&self, verdict: Verdict) -> u64 {
        let Some(i) = Self::cookie_slot(verdict) else {
            return 0;
        };
        self.shards
            .iter()
            .filter_map(|s| s.cookies.get(i))
            .map(|c| c.load(Relaxed))
            .sum()
    }
    fn cookie_slot(verdict: Verdict) -> Option<usize> {
        Verdict::COUNTED.iter().position(|v| *v == verdict)
    }
    pub fn rcode(&self, rcode: u16) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| s.by_rcode.get(rcode as usize))
            .map(|c| c.load(Relaxed))
            .sum()
    }
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
    pub fn truncated(&self) -> u64 {
        self.shards.iter().map(|s| s.truncated.load(Relaxed)).sum()
    }
    pub fn total(&self) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| s.by_rcode.iter())
            .map(|c| c.load(Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let stats = std::sync::Arc::new(QueryStats::default());
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|i| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        stats.count_rcode(i as u16 % 4);
                    }
                    stats.count_truncated();
                    stats.count_cookie(Verdict::Valid);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = (SHARDS + 3) as u64;
        assert_eq!(stats.total(), 100 * n);
        assert_eq!(stats.truncated(), n);
        assert_eq!(stats.cookies(Verdict::Valid), n);
        assert_eq!(stats.cookies(Verdict::None), 0);
        let by_rcode: Vec<u64> = (0..4).map(|r| stats.rcode(r)).collect();
        assert_eq!(by_rcode.iter().sum::<u64>(), 100 * n);
        assert_eq!(by_rcode[0], 100 * n.div_ceil(4));
    }
}
