//! Counters of the query path, read by the control interface and metrics.

use super::cookie::Verdict;
use super::rrl::{Action, Class};
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
    /// Requests by what their COOKIE option showed (RFC 7873), in the
    /// order of [`Verdict::COUNTED`]; none counted with cookies off.
    cookies: [AtomicU64; 4],
    /// Answers to UPDATE (RFC 2136) by RCODE (low 4 bits).
    updates: [AtomicU64; 16],
    /// Answers limited by RRL, by class: [slipped, dropped].
    rrl: [[AtomicU64; 2]; Class::ALL.len()],
}

impl QueryStats {
    pub fn count_rcode(&self, rcode: u16) {
        if let Some(c) = self.by_rcode.get(rcode as usize & 0x0f) {
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
        self.truncated.fetch_add(1, Relaxed);
    }
    /// A request's cookie verdict (a malformed one is counted by
    /// [`count_malformed`](Self::count_malformed) instead).
    pub fn count_cookie(&self, verdict: Verdict) {
        if let Some(c) = Self::cookie_slot(verdict).and_then(|i| self.cookies.get(i)) {
            c.fetch_add(1, Relaxed);
        }
    }
    pub fn cookies(&self, verdict: Verdict) -> u64 {
        Self::cookie_slot(verdict)
            .and_then(|i| self.cookies.get(i))
            .map_or(0, |c| c.load(Relaxed))
    }
    fn cookie_slot(verdict: Verdict) -> Option<usize> {
        Verdict::COUNTED.iter().position(|v| *v == verdict)
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
