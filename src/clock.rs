//! The one clock every zone timer reads.
//!
//! Deadlines (refresh, retry, expire, NOTIFY retries, CSYNC scans) are
//! absolute wall-clock times in milliseconds since the Unix epoch
//! ([`UnixMs`]), because the ones that survive a restart are stored as
//! Unix times. They are read and waited for through [`Clock`] only: the
//! server uses [`SystemClock`], unit tests a [`ManualClock`] they move by
//! hand, so a refresh → retry → expire → recovery sequence runs in
//! microseconds of real time, the same way every time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type UnixMs = u64;

/// A future that completes when a clock reaches a time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where zones read and wait for the time.
pub trait Clock: Send + Sync + 'static {
    /// The wall-clock time now.
    fn now(&self) -> UnixMs;

    /// Completes once [`now`](Self::now) has reached `at` (at once when it
    /// has already); never, for `None`.
    fn sleep_until(&self, at: Option<UnixMs>) -> Sleep;

    /// Seconds since the Unix epoch (the unit of SOA timers and of the
    /// state files).
    fn now_unix(&self) -> u64 {
        self.now() / 1000
    }

    fn now_system(&self) -> SystemTime {
        to_system_time(self.now())
    }
}

/// The clock shared by a zone, its handlers and the server.
pub type SharedClock = Arc<dyn Clock>;

/// `at` as a `SystemTime`.
pub fn to_system_time(at: UnixMs) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(at)
}

/// A `SystemTime` as [`UnixMs`]; times before 1970 count as 0.
pub fn from_system_time(t: SystemTime) -> UnixMs {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// The longest a [`SystemClock`] sleep lasts before reading the wall clock
/// again: tokio's timers run on the monotonic clock, so a wall clock
/// stepped forward is noticed within this, and one stepped backwards only
/// delays a deadline (it is re-read on waking, never fired early).
const RECHECK: Duration = Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> UnixMs {
        from_system_time(SystemTime::now())
    }

    fn sleep_until(&self, at: Option<UnixMs>) -> Sleep {
        Box::pin(async move {
            let Some(at) = at else {
                return std::future::pending().await;
            };
            loop {
                let now = SystemClock.now();
                if now >= at {
                    return;
                }
                let wait = Duration::from_millis(at - now).min(RECHECK);
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// A clock that moves only when told to (tests). Clones share one time;
/// sleepers wake when [`advance`](Self::advance) or [`set`](Self::set)
/// reaches their time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<ManualTime>);

#[derive(Debug, Default)]
pub struct ManualTime {
    now: AtomicU64,
    moved: tokio::sync::Notify,
}

impl ManualClock {
    pub fn at(now: UnixMs) -> ManualClock {
        ManualClock(Arc::new(ManualTime {
            now: AtomicU64::new(now),
            moved: tokio::sync::Notify::new(),
        }))
    }

    /// This clock as the zones' [`SharedClock`] (still moved by `self`).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.now.fetch_add(by, Ordering::SeqCst);
        self.0.moved.notify_waiters();
    }

    pub fn set(&self, now: UnixMs) {
        self.0.now.store(now, Ordering::SeqCst);
        self.0.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMs {
        self.0.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at: Option<UnixMs>) -> Sleep {
        let clock = self.clone();
        Box::pin(async move {
            let Some(at) = at else {
                return std::future::pending().await;
            };
            loop {
                // Registered before the time is read, so an advance in
                // between is not missed.
                let moved = clock.0.moved.notified();
                if clock.now() >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::at(1_000);
        assert_eq!(c.now(), 1_000);
        c.advance(Duration::from_millis(1_500));
        assert_eq!(c.now(), 2_500);
        assert_eq!(c.now_unix(), 2);
        c.set(10);
        assert_eq!(c.now(), 10);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now_unix() > 1_577_836_800);
    }

    #[tokio::test]
    async fn manual_sleepers_wake_in_deadline_order() {
        let clock = ManualClock::at(0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for at in [3_000u64, 1_000, 2_000] {
            let sleep = clock.sleep_until(Some(at));
            let tx = tx.clone();
            tokio::spawn(async move {
                sleep.await;
                let _ = tx.send(at);
            });
        }
        tokio::task::yield_now().await;
        let mut woken = Vec::new();
        for _ in 0..3 {
            clock.advance(Duration::from_millis(1_000));
            // Each step wakes exactly the sleeper whose time came.
            let at = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a sleeper woke")
                .expect("channel open");
            woken.push(at);
            assert_eq!(at, clock.now());
        }
        assert_eq!(woken, [1_000, 2_000, 3_000]);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_manual_sleep_in_the_past_or_never() {
        let clock = ManualClock::at(5_000);
        tokio::time::timeout(Duration::from_secs(5), clock.sleep_until(Some(4_000)))
            .await
            .expect("a deadline already passed completes at once");
        let never = tokio::time::timeout(Duration::from_millis(50), clock.sleep_until(None));
        clock.advance(Duration::from_secs(3_600));
        assert!(never.await.is_err(), "None never completes");
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_until_the_time() {
        let at = SystemClock.now() + 30;
        tokio::time::timeout(Duration::from_secs(5), SystemClock.sleep_until(Some(at)))
            .await
            .expect("woke");
        assert!(SystemClock.now() >= at);
    }
}
