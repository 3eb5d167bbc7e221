//! The timer rules of zones, as pure functions of the time and the
//! zone's numbers: when a secondary refreshes next (RFC 1034 §4.3.5,
//! RFC 1035 §3.3.13), when its copy expires (bounded by the primary's
//! EDNS EXPIRE, RFC 7314 §4), how RETRY backs off, how often NOTIFYs in
//! may start a refresh, when the CSYNC agent scans a child again, and how
//! long a NOTIFY waits for its answer.
//!
//! Nothing here reads a clock or draws a random number: the time and the
//! jitter are arguments, so every rule is tested exactly.

use crate::clock::UnixMs;
use crate::config::ServerConfig;
use crate::serial::Serial;
use std::time::Duration;

/// Limits on what a zone's SOA asks for (the server's `refresh_min` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub refresh_min: u32,
    pub refresh_max: u32,
    pub retry_min: u32,
    pub retry_max: u32,
    pub expire_min: u32,
}

impl Timing {
    pub fn from_config(c: &ServerConfig) -> Timing {
        Timing {
            refresh_min: c.refresh_min,
            refresh_max: c.refresh_max,
            retry_min: c.retry_min,
            retry_max: c.retry_max,
            expire_min: c.expire_min,
        }
    }
}

/// REFRESH, RETRY and EXPIRE of the SOA being served, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoaTimers {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

/// A draw in `0..1000` that decides how much earlier than its nominal
/// time a timer fires (at most 10%), so that many secondaries of one
/// primary do not all ask in the same second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jitter(u16);

impl Jitter {
    /// No jitter at all.
    pub const NONE: Jitter = Jitter(0);

    /// `draw` is reduced to `0..1000`.
    pub fn new(draw: u64) -> Jitter {
        Jitter((draw % 1000) as u16)
    }

    /// A draw from the process's random hasher keys, seeded with `seed`
    /// (the time is enough: it only spreads servers apart).
    pub fn random(seed: u64) -> Jitter {
        use std::hash::{BuildHasher, RandomState};
        Jitter::new(RandomState::new().hash_one(seed))
    }

    /// `secs` cut by up to 10%, never below one second.
    pub fn apply(self, secs: u32) -> u32 {
        let cut = u64::from(secs) * u64::from(self.0) / 10_000;
        secs.saturating_sub(u32::try_from(cut).unwrap_or(u32::MAX))
            .max(1)
    }
}

fn clamp(v: u32, min: u32, max: u32) -> u32 {
    v.clamp(min, max.max(min))
}

fn at_secs(now: UnixMs, secs: u64) -> UnixMs {
    now.saturating_add(secs.saturating_mul(1000))
}

/// The deadlines after a refresh that reached a primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterSuccess {
    /// Seconds to the next refresh (after clamping and jitter).
    pub refresh_secs: u32,
    pub next_refresh: UnixMs,
    pub expires_at: UnixMs,
}

/// After a successful refresh: REFRESH clamped to
/// `refresh_min..refresh_max` minus jitter; EXPIRE (at least
/// `expire_min`) from now, shortened to the primary's own remaining
/// EXPIRE when it sent one (RFC 7314 §4: a primary that is itself a
/// secondary passes on how long its copy stays good). A zone with no SOA
/// yet refreshes after `refresh_min` and expires after `expire_min`.
pub fn after_success(
    t: &Timing,
    soa: Option<SoaTimers>,
    expire_hint: Option<u32>,
    now: UnixMs,
    jitter: Jitter,
) -> AfterSuccess {
    let (refresh, expire) = soa.map_or((t.refresh_min, 0), |s| (s.refresh, s.expire));
    let refresh_secs = jitter.apply(clamp(refresh, t.refresh_min, t.refresh_max));
    let expire = u64::from(expire.max(t.expire_min));
    let expire = match expire_hint {
        Some(hint) => u64::from(hint.max(t.expire_min)).min(expire),
        None => expire,
    };
    AfterSuccess {
        refresh_secs,
        next_refresh: at_secs(now, u64::from(refresh_secs)),
        expires_at: at_secs(now, expire),
    }
}

/// The wait before trying again after `failures` failed refreshes in a
/// row (1 for the first): the SOA's RETRY (or `retry_min` without one),
/// doubled per failure after the first, clamped to
/// `retry_min..retry_max`, minus jitter.
pub fn retry_secs(t: &Timing, soa: Option<SoaTimers>, failures: u32, jitter: Jitter) -> u32 {
    let base = soa.map_or(t.retry_min, |s| s.retry);
    let doublings = failures.saturating_sub(1).min(16);
    let backoff = base.saturating_mul(1 << doublings);
    jitter.apply(clamp(backoff, t.retry_min, t.retry_max))
}

/// When the next refresh is due after `failures` failures in a row.
pub fn after_failure(
    t: &Timing,
    soa: Option<SoaTimers>,
    failures: u32,
    now: UnixMs,
    jitter: Jitter,
) -> (u32, UnixMs) {
    let secs = retry_secs(t, soa, failures, jitter);
    (secs, at_secs(now, u64::from(secs)))
}

/// Whether an expiring copy is past its deadline (both in one unit; 0:
/// no deadline).
pub fn is_expired(expires_at: UnixMs, now: UnixMs) -> bool {
    expires_at != 0 && expires_at <= now
}

/// The order in which primaries that answered the SOA query are tried:
/// the newest serial first (RFC 1982), ties in configuration order. Given
/// as `(index in the configuration, serial)`.
///
/// Sorting by RFC 1982 comparison directly is wrong: it is not a total
/// order (serials 2^31 apart are not comparable, and "after" goes round
/// the circle), which `sort_by` may answer with a panic. Instead each
/// serial is keyed by its distance behind the newest one, a plain `u32`.
pub fn transfer_order(answers: &mut [(usize, Serial)]) {
    let Some(newest) = Serial::newest(answers.iter().map(|a| a.1)) else {
        return;
    };
    answers.sort_by_key(|&(i, s)| (newest.get().wrapping_sub(s.get()), i));
}

/// When the CSYNC agent scans a child next, in Unix seconds: after a scan
/// that must be retried (`retry` or `failed`), RETRY doubled per failure
/// in a row but never later than the interval; otherwise one interval.
pub fn csync_next_scan(now: u64, failures: u32, retry: u32, interval: u32) -> u64 {
    if failures == 0 {
        return now + u64::from(interval);
    }
    let backoff = retry.saturating_mul(1 << failures.saturating_sub(1).min(20));
    now + u64::from(backoff.min(interval))
}

/// The shortest time between two refreshes NOTIFY asks for in one zone
/// while they find nothing new. A flood of NOTIFYs (a primary's bug, or
/// spoofed ones) makes at most one refresh a second, each one SOA query
/// per primary, and none is lost: a NOTIFY inside the interval joins the
/// refresh planned at its end. A refresh that brings a new version ends
/// the wait (`SecondaryZone::notify_news_taken`), so a primary changing
/// the zone often is followed at once.
pub const NOTIFY_REFRESH_INTERVAL_MS: UnixMs = 1_000;

/// When the refresh a NOTIFY at `now` asks for runs, given the time the
/// previous NOTIFY planned its refresh for (`last`): at once when that
/// was at least [`NOTIFY_REFRESH_INTERVAL_MS`] ago; at `last` when that
/// is still ahead (this NOTIFY joins it); else one interval after `last`.
pub fn notify_refresh_at(now: UnixMs, last: Option<UnixMs>) -> UnixMs {
    match last {
        None => now,
        Some(last) if now < last => last,
        Some(last) => now.max(last.saturating_add(NOTIFY_REFRESH_INTERVAL_MS)),
    }
}

/// How long try `attempt` (1 for the first) of a NOTIFY waits for its
/// answer: `first`, doubled after each try (RFC 1996 §3.6 leaves the
/// schedule to us; BIND and Knot double too).
pub fn notify_try_timeout(first: Duration, attempt: u32) -> Duration {
    first.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

/// The longest wait between two heal NOTIFYs to one peer.
pub const HEAL_RETRY_MAX_MS: u64 = 3_600_000;

/// When the replication doctor's next NOTIFY to a peer goes, `tries`
/// NOTIFYs in and the last sent at `last`: `spacing` (`heal_after`) after
/// the first, twice that after the second …, so at 0, s, 3 s, 7 s from the
/// first; never more than an hour after the one before.
pub fn heal_retry_at(last: UnixMs, spacing_ms: u64, tries: u32) -> UnixMs {
    let gap = spacing_ms
        .saturating_mul(1u64 << tries.saturating_sub(1).min(32))
        .min(HEAL_RETRY_MAX_MS);
    last.saturating_add(gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heal_notifies_back_off_by_doubling_and_at_most_an_hour_apart() {
        let mut at = NOW;
        let mut times = vec![];
        for tries in 1..=3 {
            at = heal_retry_at(at, 1_000, tries);
            times.push(at - NOW);
        }
        assert_eq!(times, [1_000, 3_000, 7_000], "s, 3 s, 7 s after the first");
        assert_eq!(heal_retry_at(NOW, 1_000_000, 2), NOW + 2_000_000);
        assert_eq!(heal_retry_at(NOW, 1_000_000, 3), NOW + HEAL_RETRY_MAX_MS);
        assert_eq!(
            heal_retry_at(NOW, 1_000, 90),
            NOW + HEAL_RETRY_MAX_MS,
            "no overflow"
        );
    }

    #[test]
    fn notify_refreshes_are_at_most_one_a_second_and_later_ones_join() {
        let i = NOTIFY_REFRESH_INTERVAL_MS;
        assert_eq!(notify_refresh_at(NOW, None), NOW, "the first: at once");
        assert_eq!(
            notify_refresh_at(NOW, Some(NOW)),
            NOW + i,
            "same instant: next slot"
        );
        assert_eq!(notify_refresh_at(NOW + 10, Some(NOW)), NOW + i);
        assert_eq!(
            notify_refresh_at(NOW + 10, Some(NOW + i)),
            NOW + i,
            "joins the planned one"
        );
        assert_eq!(
            notify_refresh_at(NOW + i + 1, Some(NOW)),
            NOW + i + 1,
            "an interval later: at once"
        );
        assert_eq!(notify_refresh_at(NOW + 60_000, Some(NOW)), NOW + 60_000);
    }

    const T: Timing = Timing {
        refresh_min: 60,
        refresh_max: 86_400,
        retry_min: 10,
        retry_max: 3_600,
        expire_min: 600,
    };
    const NOW: UnixMs = 1_800_000_000_000;
    const SOA: SoaTimers = SoaTimers {
        refresh: 3_600,
        retry: 300,
        expire: 604_800,
    };

    fn secs(at: UnixMs) -> u64 {
        (at - NOW) / 1000
    }

    #[test]
    fn refresh_follows_the_soa_within_the_limits() {
        let s = after_success(&T, Some(SOA), None, NOW, Jitter::NONE);
        assert_eq!((s.refresh_secs, secs(s.next_refresh)), (3_600, 3_600));
        assert_eq!(secs(s.expires_at), 604_800);
        let low = SoaTimers { refresh: 5, ..SOA };
        let s = after_success(&T, Some(low), None, NOW, Jitter::NONE);
        assert_eq!(s.refresh_secs, 60, "clamped up to refresh_min");
        let high = SoaTimers {
            refresh: 1_000_000,
            ..SOA
        };
        let s = after_success(&T, Some(high), None, NOW, Jitter::NONE);
        assert_eq!(s.refresh_secs, 86_400, "clamped down to refresh_max");
        let s = after_success(&T, None, None, NOW, Jitter::NONE);
        assert_eq!((s.refresh_secs, secs(s.expires_at)), (60, 600));
    }

    #[test]
    fn jitter_takes_at_most_ten_percent() {
        for draw in [0, 1, 499, 999, 1000, u64::MAX] {
            let j = Jitter::new(draw);
            let s = after_success(&T, Some(SOA), None, NOW, j);
            assert!(
                s.refresh_secs <= 3_600 && s.refresh_secs >= 3_240,
                "{draw}: {s:?}"
            );
        }
        assert_eq!(Jitter::new(999).apply(3_600), 3_241);
        assert_eq!(Jitter::new(999).apply(1), 1, "never below one second");
        assert_eq!(Jitter::new(500).apply(0), 1);
        for seed in 0..100 {
            let r = Jitter::random(seed).apply(10_000);
            assert!((9_000..=10_000).contains(&r));
        }
    }

    #[test]
    fn expire_is_at_least_expire_min_and_bounded_by_edns_expire() {
        let short = SoaTimers { expire: 30, ..SOA };
        let s = after_success(&T, Some(short), None, NOW, Jitter::NONE);
        assert_eq!(secs(s.expires_at), 600, "raised to expire_min");
        let s = after_success(&T, Some(SOA), Some(1_000), NOW, Jitter::NONE);
        assert_eq!(
            secs(s.expires_at),
            1_000,
            "the primary's EXPIRE left bounds ours"
        );
        let s = after_success(&T, Some(SOA), Some(5), NOW, Jitter::NONE);
        assert_eq!(secs(s.expires_at), 600, "but never below expire_min");
        let s = after_success(&T, Some(SOA), Some(10_000_000), NOW, Jitter::NONE);
        assert_eq!(
            secs(s.expires_at),
            604_800,
            "and never beyond our own EXPIRE"
        );
    }

    #[test]
    fn retry_doubles_per_failure_and_is_clamped() {
        let waits: Vec<u32> = (1..=6)
            .map(|f| retry_secs(&T, Some(SOA), f, Jitter::NONE))
            .collect();
        assert_eq!(waits, [300, 600, 1_200, 2_400, 3_600, 3_600]);
        let tiny = SoaTimers { retry: 1, ..SOA };
        assert_eq!(retry_secs(&T, Some(tiny), 1, Jitter::NONE), 10, "retry_min");
        assert_eq!(
            retry_secs(&T, None, 2, Jitter::NONE),
            20,
            "no SOA: retry_min"
        );
        assert_eq!(retry_secs(&T, Some(SOA), u32::MAX, Jitter::NONE), 3_600);
        let (s, at) = after_failure(&T, Some(SOA), 2, NOW, Jitter::NONE);
        assert_eq!((s, secs(at)), (600, 600));
        let j = retry_secs(&T, Some(SOA), 1, Jitter::new(999));
        assert!((270..300).contains(&j), "{j}");
    }

    #[test]
    fn limits_that_cross_keep_the_minimum() {
        let odd = Timing {
            retry_min: 100,
            retry_max: 50,
            ..T
        };
        assert_eq!(retry_secs(&odd, Some(SOA), 3, Jitter::NONE), 100);
    }

    #[test]
    fn expiry_is_at_the_deadline() {
        assert!(!is_expired(0, NOW), "0 is no deadline");
        assert!(!is_expired(NOW + 1, NOW));
        assert!(is_expired(NOW, NOW));
        assert!(is_expired(NOW - 1, NOW));
    }

    #[test]
    fn primaries_are_tried_newest_serial_first() {
        let mut a = vec![
            (0, Serial(5)),
            (1, Serial(7)),
            (2, Serial(7)),
            (3, Serial(6)),
        ];
        transfer_order(&mut a);
        assert_eq!(
            a,
            [
                (1, Serial(7)),
                (2, Serial(7)),
                (3, Serial(6)),
                (0, Serial(5))
            ]
        );
        let mut wrapped = vec![(0, Serial(u32::MAX)), (1, Serial(3))];
        transfer_order(&mut wrapped);
        assert_eq!(wrapped[0], (1, Serial(3)), "3 is after 2^32 - 1");
        // Serials all round the circle: any order, but no panic and every
        // primary kept.
        let mut circle: Vec<(usize, Serial)> = (0..64)
            .map(|i| (i, Serial((i as u32).wrapping_mul(0x0400_0000))))
            .collect();
        transfer_order(&mut circle);
        assert_eq!(circle.len(), 64);
        transfer_order(&mut []);
    }

    #[test]
    fn csync_backs_off_up_to_the_interval() {
        let now = 1_000;
        assert_eq!(csync_next_scan(now, 0, 60, 3_600), now + 3_600);
        let waits: Vec<u64> = (1..=8)
            .map(|f| csync_next_scan(now, f, 60, 3_600) - now)
            .collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1_920, 3_600, 3_600]);
        assert_eq!(csync_next_scan(now, u32::MAX, 60, 3_600) - now, 3_600);
    }

    #[test]
    fn notify_waits_double_per_try() {
        let first = Duration::from_secs(1);
        let mut sent_at = Vec::new();
        let mut t = Duration::ZERO;
        for attempt in 1..=6 {
            sent_at.push(t.as_secs());
            t += notify_try_timeout(first, attempt);
        }
        assert_eq!(sent_at, [0, 1, 3, 7, 15, 31]);
        assert_eq!(t.as_secs(), 63, "given up after the sixth try's wait");
    }
}
