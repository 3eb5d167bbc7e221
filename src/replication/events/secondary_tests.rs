//! The secondary's events driven by a virtual clock against a fake
//! primary: refresh → retry (doubling, clamped) → expire → SERVFAIL →
//! recovery, and the dispatcher's lanes (Expire while a transfer hangs, a
//! retransfer asked during a refresh runs after it). No test sleeps for
//! real: waits are bounded polls for the dispatcher's own threads.

use super::{step, Event};
use crate::clock::{Clock, ManualClock};
use crate::config::{ServerConfig, ZoneConfig};
use crate::journal::Record;
use crate::name::test_wire;
use crate::replication::secondary::{Request, SecondaryZone, Upstream};
use crate::replication::ZoneDeps;
use crate::serial::Serial;
use crate::xfr::incoming::{FetchError, Fetched, Limits, Payload, Primary, SoaAnswer};
use crate::zone::{rtype, Zone};
use crate::zonefile::{parse_str, ParseOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const T0: u64 = 1_800_000_000_000;
/// The fake zone's SOA timers.
const REFRESH: u64 = 3_600;
const RETRY: u64 = 600;
const EXPIRE: u64 = 86_400;
/// The server's `retry_max` in these tests.
const RETRY_MAX: u64 = 3_600;

/// A primary serving example.com at `serial`, reachable or not, whose
/// transfers can be held until released.
#[derive(Default)]
struct FakePrimary {
    serial: AtomicU32,
    down: AtomicBool,
    /// Answer an IXFR with the one changeset from the serial asked for.
    incremental: AtomicBool,
    hold: Mutex<bool>,
    released: Condvar,
    soa_queries: AtomicUsize,
    /// The serial each transfer asked to start from (None: AXFR).
    fetches: Mutex<Vec<Option<u32>>>,
}

impl FakePrimary {
    fn at(serial: u32) -> Arc<FakePrimary> {
        let p = FakePrimary::default();
        p.serial.store(serial, Ordering::SeqCst);
        Arc::new(p)
    }

    fn records(serial: u32) -> (Record, Vec<Record>) {
        let origin = test_wire("example.com");
        let text = format!(
            "$ORIGIN example.com.\n@ 300 SOA ns host {serial} {REFRESH} {RETRY} {EXPIRE} 300\n\
             @ 300 NS ns\nns 300 A 192.0.2.1\nwww 300 A 192.0.2.{serial}\n"
        );
        let parsed = parse_str(&text, Path::new("t"), &ParseOptions::new(origin))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut all: Vec<Record> = parsed
            .records
            .iter()
            .map(|r| Record {
                owner: r.owner.clone(),
                rtype: r.rtype,
                ttl: r.ttl,
                rdata: r.rdata.clone(),
            })
            .collect();
        let at = all.iter().position(|r| r.rtype == rtype::SOA).unwrap();
        let soa = all.remove(at);
        (soa, all)
    }

    fn refuse(&self, primary: &Primary) -> FetchError {
        FetchError::Local {
            primary: primary.addr,
            reason: "unreachable (test)".into(),
        }
    }

    fn hold_transfers(&self) {
        *self.hold.lock().unwrap() = true;
    }

    fn release_transfers(&self) {
        *self.hold.lock().unwrap() = false;
        self.released.notify_all();
    }

    fn fetches(&self) -> Vec<Option<u32>> {
        self.fetches.lock().unwrap().clone()
    }
}

impl Upstream for FakePrimary {
    fn query_soa(
        &self,
        primary: &Primary,
        _zone: &[u8],
        _timeout: Duration,
    ) -> Result<SoaAnswer, FetchError> {
        self.soa_queries.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(self.refuse(primary));
        }
        let serial = self.serial.load(Ordering::SeqCst);
        Ok(SoaAnswer {
            serial: Serial(serial),
            soa: FakePrimary::records(serial).0,
            expire: None,
        })
    }

    fn fetch(
        &self,
        primary: &Primary,
        _zone: &[u8],
        current: Option<(Serial, &Record)>,
        _limits: &Limits,
    ) -> Result<Fetched, FetchError> {
        self.fetches
            .lock()
            .unwrap()
            .push(current.map(|c| c.0.get()));
        // Held (bounded) while a test looks at what happens meanwhile.
        let held = self.hold.lock().unwrap();
        let _held = self
            .released
            .wait_timeout_while(held, Duration::from_secs(20), |h| *h)
            .unwrap();
        if self.down.load(Ordering::SeqCst) {
            return Err(self.refuse(primary));
        }
        let serial = self.serial.load(Ordering::SeqCst);
        let (soa, records) = FakePrimary::records(serial);
        let payload = match current {
            Some((from, _)) if self.incremental.load(Ordering::SeqCst) => {
                let (old_soa, old) = FakePrimary::records(from.get());
                let www = |r: &Vec<Record>| {
                    r.iter()
                        .filter(|r| r.rtype == rtype::A && r.owner.starts_with(b"\x03www"))
                        .cloned()
                        .collect::<Vec<_>>()
                };
                Payload::Incremental(vec![crate::journal::Changeset {
                    from_serial: from,
                    to_serial: Serial(serial),
                    old_soa,
                    new_soa: soa,
                    removed: www(&old),
                    added: www(&records),
                }])
            }
            _ => Payload::Full { soa, records },
        };
        Ok(Fetched {
            records: 4,
            payload,
            serial: Serial(serial),
            messages: 1,
            bytes: 0,
            elapsed: Duration::ZERO,
            fallback: None,
            expire: None,
        })
    }
}

struct Setup {
    dir: PathBuf,
    clock: ManualClock,
    primary: Arc<FakePrimary>,
    zone: Arc<SecondaryZone>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.primary.release_transfers();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(name: &str) -> Setup {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "zonesync-events-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    secondary_in(dir, ManualClock::at(T0))
}

/// A secondary for example.com keeping its state in `dir`, on `clock`,
/// whose one primary is a fresh fake at serial 1.
fn secondary_in(dir: PathBuf, clock: ManualClock) -> Setup {
    let server = ServerConfig {
        data_dir: dir.clone(),
        retry_max: RETRY_MAX as u32,
        ..ServerConfig::default()
    };
    let config: ZoneConfig = toml::from_str(
        "name = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{ address = \"127.0.0.1:5300\" }]",
    )
    .unwrap();
    let primary = FakePrimary::at(1);
    let deps = ZoneDeps {
        clock: clock.shared(),
        upstream: primary.clone(),
        publishes: tokio::sync::broadcast::channel(16).0,
        refreshes: Arc::new(tokio::sync::Semaphore::new(16)),
        tls_clients: Arc::default(),
        sightings: Arc::default(),
        peer_news: tokio::sync::broadcast::channel(16).0,
        notify: crate::notify::NotifySettings::default(),
    };
    let addr: SocketAddr = "127.0.0.1:5300".parse().unwrap();
    let zone = Arc::new(SecondaryZone::new(
        Arc::new(Zone::new(&test_wire("example.com")).unwrap()),
        config,
        vec![Primary::new(addr, None)],
        &server,
        None,
        None,
        "example.com",
        deps,
    ));
    Setup {
        dir,
        clock,
        primary,
        zone,
    }
}

impl Setup {
    fn serial(&self) -> Option<u32> {
        self.zone.zone().snapshot().map(|v| v.serial().get())
    }

    fn deadline(&self, e: Event) -> Option<u64> {
        self.zone.events().deadline(e)
    }

    /// Moves the clock to `e`'s deadline and runs what is due.
    fn run_at(&self, e: Event) -> Vec<Event> {
        let at = self
            .deadline(e)
            .unwrap_or_else(|| panic!("{e:?} is planned"));
        self.clock.set(at.max(self.clock.now()));
        step(&self.zone)
    }

    /// Seconds from now to `e`'s deadline.
    fn in_secs(&self, e: Event) -> u64 {
        (self.deadline(e).expect("planned") - self.clock.now()) / 1000
    }
}

/// A wait on the dispatcher's threads, bounded in time.
async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn refresh_retry_expire_and_recovery_follow_the_soa_timers() {
    let s = setup("lifecycle");
    s.zone.trigger(Request::Refresh);
    assert_eq!(step(&s.zone), [Event::Refresh]);
    assert_eq!(s.serial(), Some(1), "the first refresh transfers the zone");
    assert_eq!(
        s.primary.fetches(),
        [None],
        "by AXFR: nothing to start from"
    );
    let refresh = s.in_secs(Event::Refresh);
    assert!(
        (REFRESH * 9 / 10..=REFRESH).contains(&refresh),
        "REFRESH less jitter: {refresh}"
    );
    assert_eq!(s.in_secs(Event::Expire), EXPIRE);
    let expire_at = s.deadline(Event::Expire).unwrap();

    // The primary goes away: RETRY, doubled per failure, clamped.
    s.primary.down.store(true, Ordering::SeqCst);
    let mut waits = Vec::new();
    while s.deadline(Event::Refresh).unwrap() < expire_at {
        assert_eq!(s.run_at(Event::Refresh), [Event::Refresh]);
        assert_eq!(
            s.serial(),
            Some(1),
            "a failed refresh changes nothing served"
        );
        waits.push(s.in_secs(Event::Refresh));
        assert!(waits.len() < 100, "bounded");
    }
    assert_eq!(
        s.zone.status().last_error.as_deref(),
        Some("no primary answered: 127.0.0.1:5300: unreachable (test)")
    );
    let nominal = [RETRY, 2 * RETRY, 4 * RETRY, RETRY_MAX, RETRY_MAX];
    for (wait, nominal) in waits.iter().zip(nominal) {
        assert!(
            (nominal * 9 / 10..=nominal).contains(wait),
            "retry waits {waits:?}, expected about {nominal:?}"
        );
    }
    assert_eq!(s.zone.timers().failures as usize, waits.len());
    assert_eq!(
        s.deadline(Event::Expire),
        Some(expire_at),
        "failures never move EXPIRE"
    );

    // EXPIRE comes first, before the refresh due after it.
    assert_eq!(s.run_at(Event::Expire), [Event::Expire]);
    assert_eq!(s.serial(), None, "expired: SERVFAIL");
    assert!(s.zone.status().expired);

    // The primary is back: the next refresh brings the zone back.
    s.primary.down.store(false, Ordering::SeqCst);
    s.primary.serial.store(2, Ordering::SeqCst);
    assert_eq!(s.run_at(Event::Refresh), [Event::Refresh]);
    assert_eq!(s.serial(), Some(2));
    assert!(!s.zone.status().expired);
    assert_eq!(s.zone.timers().failures, 0);
    assert_eq!(
        s.in_secs(Event::Expire),
        EXPIRE,
        "a good refresh moves EXPIRE later"
    );
}

#[test]
fn a_notify_with_a_newer_serial_transfers_without_asking_the_soa() {
    let s = setup("notified");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    let asked = s.primary.soa_queries.load(Ordering::SeqCst);
    s.primary.serial.store(2, Ordering::SeqCst);
    let from_primary: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    assert!(s.zone.notified(Some(from_primary), Some(Serial(2))));
    assert_eq!(step(&s.zone), [Event::Refresh]);
    assert_eq!(
        s.zone.zone().snapshot().map(|v| v.serial()),
        Some(Serial(2))
    );
    assert_eq!(
        s.primary.soa_queries.load(Ordering::SeqCst),
        asked,
        "no SOA query"
    );
    // A NOTIFY naming our serial, or from elsewhere, asks the SOA (the
    // second a second later: NOTIFYs finding nothing new start at most
    // one refresh a second).
    s.zone.notified(Some(from_primary), Some(Serial(2)));
    step(&s.zone);
    s.clock.advance(Duration::from_secs(1));
    let elsewhere: SocketAddr = "127.0.0.9:53".parse().unwrap();
    s.zone.notified(Some(elsewhere), Some(Serial(3)));
    step(&s.zone);
    assert_eq!(s.primary.soa_queries.load(Ordering::SeqCst), asked + 2);
    assert_eq!(s.primary.fetches().len(), 2, "no transfer when up to date");
}

#[test]
fn a_notify_flood_starts_one_refresh_a_second_and_none_is_lost() {
    let s = setup("flood");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    let asked = || s.primary.soa_queries.load(Ordering::SeqCst);
    let before = asked();
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    // A thousand NOTIFYs at one instant: one refresh now, one planned a
    // second later for those that came after it was planned.
    assert!(s.zone.notified(Some(from), None));
    assert_eq!(step(&s.zone), [Event::Refresh]);
    for _ in 0..999 {
        s.zone.notified(Some(from), None);
    }
    assert!(step(&s.zone).is_empty(), "nothing more this instant");
    assert_eq!(asked(), before + 1);
    assert_eq!(s.deadline(Event::Refresh), Some(s.clock.now() + 1_000));
    // 500 ms on, more join that plan.
    s.clock.advance(Duration::from_millis(500));
    for _ in 0..1000 {
        assert!(
            !s.zone.notified(Some(from), None),
            "joins the planned refresh"
        );
    }
    assert!(step(&s.zone).is_empty());
    s.clock.advance(Duration::from_millis(500));
    assert_eq!(step(&s.zone), [Event::Refresh]);
    assert_eq!(asked(), before + 2, "two SOA queries for 2000 NOTIFYs");
    assert!(
        s.deadline(Event::Refresh).unwrap() > s.clock.now() + 60_000,
        "then REFRESH again"
    );
    // A refresh that brings a new version ends the wait: the primary's
    // next change is followed at once.
    s.primary.serial.store(2, Ordering::SeqCst);
    s.zone.notified(Some(from), Some(Serial(2)));
    assert!(step(&s.zone).is_empty(), "within the second");
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(step(&s.zone), [Event::Refresh]);
    assert_eq!(s.serial(), Some(2));
    s.primary.serial.store(3, Ordering::SeqCst);
    assert!(s.zone.notified(Some(from), Some(Serial(3))));
    assert_eq!(step(&s.zone), [Event::Refresh], "at once");
    assert_eq!(s.serial(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_during_a_refresh_is_checked_again_once_it_is_done() {
    let s = setup("during");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    let dispatcher = tokio::spawn(s.zone.clone().run());
    s.primary.serial.store(2, Ordering::SeqCst);
    s.primary.hold_transfers();
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    s.zone.notified(Some(from), None);
    until("the refresh's transfer to start", || {
        s.primary.fetches().len() == 2
    })
    .await;
    // A NOTIFY after the refresh asked the SOA (say, for a serial 3 the
    // running transfer may not bring) is not lost when the running
    // refresh plans the next one.
    s.zone.notified(Some(from), None);
    let noted = s.deadline(Event::Refresh);
    assert!(noted.is_some());
    s.primary.release_transfers();
    until("serial 2 applied", || s.serial() == Some(2)).await;
    until("the lane to be free", || {
        !s.zone.events().busy(super::Lane::Data)
    })
    .await;
    assert_eq!(
        s.deadline(Event::Refresh),
        noted,
        "the refresh the NOTIFY asked for is still planned, not moved to REFRESH"
    );
    dispatcher.abort();
    s.primary.serial.store(3, Ordering::SeqCst);
    s.clock.set(noted.unwrap());
    assert_eq!(step(&s.zone), [Event::Refresh]);
    assert_eq!(s.serial(), Some(3));
}

#[test]
fn a_good_refresh_moves_expire_later_and_notify_makes_refresh_earlier() {
    let s = setup("later");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    let first_expire = s.deadline(Event::Expire).unwrap();
    s.clock.advance(Duration::from_secs(1_000));
    // A NOTIFY makes the refresh due now, not at REFRESH.
    assert!(s.zone.trigger(Request::Notify));
    assert_eq!(s.deadline(Event::Refresh), Some(s.clock.now()));
    assert!(!s.zone.trigger(Request::Notify), "already due: no change");
    assert_eq!(step(&s.zone), [Event::Refresh]);
    assert_eq!(s.primary.fetches().len(), 1, "up to date: no transfer");
    assert_eq!(s.deadline(Event::Expire), Some(first_expire + 1_000_000));
    // Timers are on disk as a restart finds them.
    let t = s.zone.timers();
    assert_eq!(t.expires_at * 1000, first_expire + 1_000_000);
    let text = std::fs::read_to_string(s.dir.join("state/example.com.secondary.toml")).unwrap();
    assert!(
        text.contains(&format!("expires_at = {}", t.expires_at)),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_fires_while_a_transfer_hangs() {
    let s = setup("hang");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    assert_eq!(s.serial(), Some(1));
    let expire_at = s.deadline(Event::Expire).unwrap();
    let dispatcher = tokio::spawn(s.zone.clone().run());

    // Serial 2 appears, and its transfer hangs.
    s.primary.serial.store(2, Ordering::SeqCst);
    s.primary.hold_transfers();
    s.zone.trigger(Request::Notify);
    until("the transfer to start", || s.primary.fetches().len() == 2).await;
    s.clock.set(expire_at);
    until("EXPIRE during the transfer", || s.serial().is_none()).await;
    assert!(s.zone.status().expired);

    // The transfer completes: serial 2 is served, EXPIRE planned anew.
    s.primary.release_transfers();
    until("the transfer to be applied", || s.serial() == Some(2)).await;
    until("EXPIRE planned again", || {
        s.deadline(Event::Expire) == Some(expire_at + EXPIRE * 1000)
    })
    .await;
    dispatcher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransfer_asked_during_a_refresh_runs_after_it() {
    let s = setup("retransfer");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    let dispatcher = tokio::spawn(s.zone.clone().run());
    s.primary.serial.store(2, Ordering::SeqCst);
    s.primary.hold_transfers();
    s.zone.trigger(Request::Notify);
    until("the refresh's transfer to start", || {
        s.primary.fetches().len() == 2
    })
    .await;
    s.zone.trigger(Request::Retransfer);
    assert!(s.zone.events().busy(super::Lane::Data));
    assert_eq!(
        s.deadline(Event::Transfer),
        Some(s.clock.now()),
        "planned, waiting for the lane"
    );
    // Not started while the refresh holds the lane.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.primary.fetches().len(), 2);
    s.primary.release_transfers();
    until("the retransfer", || s.primary.fetches().len() == 3).await;
    assert_eq!(
        s.primary.fetches(),
        [None, Some(1), None],
        "IXFR from 1 for the refresh, then AXFR for the retransfer"
    );
    until("the lane to be free", || {
        !s.zone.events().busy(super::Lane::Data)
    })
    .await;
    assert_eq!(s.serial(), Some(2));
    assert_eq!(s.deadline(Event::Transfer), None);
    dispatcher.abort();
}

#[test]
fn a_restart_keeps_the_refresh_time_and_expire() {
    let s = setup("restart");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    let next_refresh = s.zone.timers().next_refresh;
    assert!(next_refresh * 1000 > s.clock.now());
    // Rebuilt from what is on disk, the zone plans the same deadlines.
    let again = restarted(&s);
    again.zone.restore();
    assert_eq!(again.serial(), Some(1), "restored from the snapshot");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = tokio::spawn(again.zone.clone().run());
        until("the timers planned", || {
            again.deadline(Event::Expire).is_some()
        })
        .await;
        run.abort();
    });
    assert_eq!(again.deadline(Event::Refresh), Some(next_refresh * 1000));
    assert_eq!(
        again.primary.soa_queries.load(Ordering::SeqCst),
        0,
        "no refresh at restart"
    );
}

/// A second zone over the same data directory and clock (a restart).
fn restarted(s: &Setup) -> Setup {
    secondary_in(s.dir.clone(), s.clock.clone())
}

#[test]
fn a_snapshot_follows_every_64_changesets_applied_by_ixfr() {
    let s = setup("snapshot");
    s.zone.trigger(Request::Refresh);
    step(&s.zone);
    s.primary.incremental.store(true, Ordering::SeqCst);
    for serial in 2..=65u32 {
        s.primary.serial.store(serial, Ordering::SeqCst);
        s.zone.trigger(Request::Notify);
        let ran = step(&s.zone);
        assert_eq!(s.serial(), Some(serial), "IXFR to {serial}");
        if serial < 65 {
            assert_eq!(ran, [Event::Refresh], "no snapshot yet at {serial}");
            assert_eq!(s.zone.timers().since_snapshot, serial as usize - 1);
        } else {
            assert_eq!(ran, [Event::Refresh, Event::Snapshot], "the 64th changeset");
            assert_eq!(s.zone.timers().since_snapshot, 0);
        }
    }
    assert_eq!(s.primary.fetches().last(), Some(&Some(64)), "by IXFR");
    // A restart (without a journal here) serves the snapshot's serial.
    let again = restarted(&s);
    again.zone.restore();
    assert_eq!(again.serial(), Some(65));
}
