//! The per-zone event table (as Knot's `events.c`): what a zone does over
//! time is one of a closed set of [`Event`]s with an absolute deadline,
//! and one dispatcher per zone decides what runs next.
//!
//! - [`EventTable::schedule`] keeps the earlier time when the event is
//!   already planned (a NOTIFY arriving before the refresh timer makes the
//!   refresh earlier, never later); [`EventTable::set`] replaces it (a
//!   successful refresh moves EXPIRE later); [`Events::replan`] is `set`
//!   for a handler planning its own next run, keeping a sooner plan made
//!   while it ran (a NOTIFY during a refresh).
//! - An event is taken out of the table when it starts; its handler plans
//!   the next one (a refresh plans the next refresh).
//! - Events run in *lanes*: at most one event per lane at a time. Events
//!   that change the zone's data (refresh, transfer, snapshot) share one
//!   lane, so they never race and a retransfer asked during a refresh runs
//!   after it; EXPIRE has its own, so a transfer that stalls cannot keep
//!   an expired copy served; so do the DNSSEC check (minutes of signature
//!   checks must not postpone a refresh) and NOTIFY(CSYNC). A due event
//!   whose lane is busy waits for it.
//! - Handlers are blocking functions, one file each; the dispatcher
//!   ([`run`]) runs them on tokio's blocking pool, and sleeps on the zone's
//!   [`Clock`](crate::clock::Clock), so tests drive it with a
//!   [`ManualClock`](crate::clock::ManualClock) or run due events inline
//!   with [`step`].
//!
//! # Adding an event
//!
//! Add a variant to [`Event`] (and to [`Event::ALL`], with its lane and
//! name), write `events/<name>.rs` with its handler, call it from the
//! zone's [`EventZone::handle`], and schedule it where it becomes due. If
//! its deadline must survive a restart, store it with the zone's other
//! timers and plan it from there when the dispatcher starts.

pub mod csync_notify;
pub mod dnssec_check;
pub mod expire;
pub mod flush;
pub mod heal_notify;
pub mod load;
pub mod refresh;
pub mod snapshot;
pub mod update;

#[cfg(test)]
mod heal_tests;
#[cfg(test)]
mod secondary_tests;

use super::ZoneCore;
use crate::clock::{SharedClock, UnixMs};
use std::sync::{Arc, Mutex};

/// What a zone can do, each at its own time. Declaration order breaks
/// ties between events due at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// A primary reads its zone file (SIGHUP, `ctl reload`).
    Load,
    /// A primary applies the UPDATE requests (RFC 2136) queued since the
    /// last run, in order, and answers each once its change is durable.
    Update,
    /// A secondary's copy reaches EXPIRE (RFC 1035 §3.3.13): it stops
    /// being served. Before Refresh, so it runs before a refresh due with
    /// it.
    Expire,
    /// A secondary asks its primaries for their SOA and transfers from the
    /// newest one ahead of it (REFRESH, RETRY, NOTIFY in, `ctl refresh`).
    Refresh,
    /// A secondary transfers the whole zone from its primaries, whatever
    /// the serials (`ctl retransfer`).
    Transfer,
    /// A secondary writes a full copy of the zone to disk, so the journal
    /// need not lead all the way from the last one.
    Snapshot,
    /// A primary changed by UPDATE writes the version it serves back to
    /// its zone file (`flush_delay` after the first change not yet in it).
    Flush,
    /// The DNSSEC checks of the newest version published (`warn`).
    DnssecCheck,
    /// NOTIFY(CSYNC) to the parent's agent: the zone published a new
    /// CSYNC (RFC 9859).
    CsyncNotify,
    /// The CSYNC parental agent of a primary scans the children that are
    /// due or that NOTIFY(CSYNC) named (RFC 7477, RFC 9859), and applies
    /// what they ask for through the zone file.
    CsyncScan,
    /// A round of NOTIFY to the zone's secondaries (RFC 1996), `delay`
    /// after a new version; a task rather than a blocking thread, since
    /// it mostly waits for answers.
    NotifyOut,
    /// NOTIFY to the peers the replication doctor found behind and asked
    /// to heal (`replication::heal`): one round to those due, then each
    /// plan's next try, with back-off, until its tries are spent. A task,
    /// in a lane of its own so that a long change round never holds it.
    HealNotify,
}

/// At most one event of a lane runs at a time in one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Events that change or write the zone's data.
    Data,
    Expire,
    Dnssec,
    CsyncNotify,
    Notify,
    /// Writing a zone file back: long for a large zone, and never in the
    /// way of the changes it writes (`ManagedZone::flush` takes the load
    /// lock only to decide and to replace the file).
    Flush,
    /// The replication doctor's NOTIFYs.
    Heal,
}

const LANES: usize = 7;

impl Lane {
    fn index(self) -> usize {
        self as usize
    }
}

impl Event {
    pub const ALL: [Event; 12] = [
        Event::Load,
        Event::Update,
        Event::Expire,
        Event::Refresh,
        Event::Transfer,
        Event::Snapshot,
        Event::Flush,
        Event::DnssecCheck,
        Event::CsyncNotify,
        Event::CsyncScan,
        Event::NotifyOut,
        Event::HealNotify,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn lane(self) -> Lane {
        match self {
            Event::Load
            | Event::Update
            | Event::Refresh
            | Event::Transfer
            | Event::Snapshot
            | Event::CsyncScan => Lane::Data,
            Event::Flush => Lane::Flush,
            Event::Expire => Lane::Expire,
            Event::DnssecCheck => Lane::Dnssec,
            Event::CsyncNotify => Lane::CsyncNotify,
            Event::NotifyOut => Lane::Notify,
            Event::HealNotify => Lane::Heal,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Event::Load => "load",
            Event::Update => "update",
            Event::Flush => "flush",
            Event::Expire => "expire",
            Event::Refresh => "refresh",
            Event::Transfer => "transfer",
            Event::Snapshot => "snapshot",
            Event::DnssecCheck => "dnssec-check",
            Event::CsyncNotify => "csync-notify",
            Event::CsyncScan => "csync-scan",
            Event::NotifyOut => "notify",
            Event::HealNotify => "heal-notify",
        }
    }
}

/// The planned time of each event of one zone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventTable {
    at: [Option<UnixMs>; Event::ALL.len()],
}

impl EventTable {
    /// Plans `event` at `at`, or keeps an earlier plan. True when the
    /// table changed.
    pub fn schedule(&mut self, event: Event, at: UnixMs) -> bool {
        let slot = &mut self.at[event.index()];
        match *slot {
            Some(t) if t <= at => false,
            _ => {
                *slot = Some(at);
                true
            }
        }
    }

    /// Plans `event` at `at`, replacing any plan: the one way to move a
    /// deadline later.
    pub fn set(&mut self, event: Event, at: Option<UnixMs>) {
        self.at[event.index()] = at;
    }

    pub fn deadline(&self, event: Event) -> Option<UnixMs> {
        self.at[event.index()]
    }

    /// The earliest planned event (declaration order on a tie).
    pub fn next(&self) -> Option<(Event, UnixMs)> {
        Event::ALL
            .iter()
            .filter_map(|&e| Some((e, self.deadline(e)?)))
            .min_by_key(|&(e, t)| (t, e))
    }

    /// The earliest deadline among events whose lane is free.
    fn next_runnable(&self, busy: &[bool; LANES]) -> Option<UnixMs> {
        Event::ALL
            .iter()
            .filter(|e| !busy[e.lane().index()])
            .filter_map(|&e| self.deadline(e))
            .min()
    }

    /// Takes out the events due at `now` whose lane is free, earliest
    /// first, at most one per lane; marks their lanes busy.
    fn take_due(&mut self, now: UnixMs, busy: &mut [bool; LANES]) -> Vec<Event> {
        let mut due: Vec<(UnixMs, Event)> = Event::ALL
            .iter()
            .filter_map(|&e| Some((self.deadline(e)?, e)))
            .filter(|&(t, _)| t <= now)
            .collect();
        due.sort();
        let mut out = Vec::new();
        for (_, e) in due {
            let lane = e.lane().index();
            if !busy[lane] {
                busy[lane] = true;
                self.set(e, None);
                out.push(e);
            }
        }
        out
    }
}

/// A zone's table, what is running, and the dispatcher's wake-up. Any
/// thread may schedule; only the dispatcher takes events out.
#[derive(Default)]
pub struct Events {
    inner: Mutex<Inner>,
    /// The dispatcher's wake-up.
    wake: tokio::sync::Notify,
    /// Every change of the plan, for a running handler that gives way to a
    /// newer plan of its own event (a NOTIFY round).
    planned: tokio::sync::Notify,
    /// Set when the zone is removed from the server: the dispatcher
    /// starts nothing more and returns once its running handlers end.
    retired: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Inner {
    table: EventTable,
    busy: [bool; LANES],
}

impl Events {
    /// Plans `event` at `at` (keeping an earlier plan) and wakes the
    /// dispatcher when that is sooner than it was. True when it was.
    pub fn schedule(&self, event: Event, at: UnixMs) -> bool {
        let sooner = self.with(|i| i.table.schedule(event, at));
        if sooner {
            self.wake.notify_one();
            self.planned.notify_waiters();
        }
        sooner
    }

    /// Plans `event` at `at` (none: not at all), replacing any plan.
    pub fn set(&self, event: Event, at: Option<UnixMs>) {
        self.with(|i| i.table.set(event, at));
        self.wake.notify_one();
        self.planned.notify_waiters();
    }

    /// Plans `event` at `at` once its handler has run, replacing the
    /// plan the handler found when it started (`before`), but keeping one
    /// made while it ran when that is sooner: a NOTIFY that came during a
    /// refresh is checked again once the refresh is done, not lost.
    pub fn replan(&self, event: Event, before: Option<UnixMs>, at: Option<UnixMs>) {
        self.with(|i| {
            let planned = i.table.deadline(event);
            let next = if planned == before {
                at
            } else {
                match (planned, at) {
                    (Some(p), Some(a)) => Some(p.min(a)),
                    (p, a) => p.or(a),
                }
            };
            i.table.set(event, next);
        });
        self.wake.notify_one();
        self.planned.notify_waiters();
    }

    /// Fires on every change of the plan.
    pub fn planned(&self) -> &tokio::sync::Notify {
        &self.planned
    }

    pub fn deadline(&self, event: Event) -> Option<UnixMs> {
        self.with(|i| i.table.deadline(event))
    }

    /// A copy of the table (status, tests).
    pub fn table(&self) -> EventTable {
        self.with(|i| i.table.clone())
    }

    /// Whether an event of `lane` is running.
    pub fn busy(&self, lane: Lane) -> bool {
        self.with(|i| i.busy[lane.index()])
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        match self.inner.lock() {
            Ok(mut i) => f(&mut i),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    fn take_due(&self, now: UnixMs) -> Vec<Event> {
        self.with(|i| {
            let Inner { table, busy } = i;
            table.take_due(now, busy)
        })
    }

    fn finished(&self, event: Event) {
        self.with(|i| i.busy[event.lane().index()] = false);
        self.wake.notify_one();
    }

    /// Stops the dispatcher (the zone is being removed): nothing due
    /// starts any more; [`run`] returns once the handlers running now
    /// have ended, so the zone's files can then be removed.
    pub fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
        self.planned.notify_waiters();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn any_busy(&self) -> bool {
        self.with(|i| i.busy.iter().any(|b| *b))
    }
}

/// A zone that has events: what every zone has (its table, its clock),
/// and one handler per event.
pub trait EventZone: Send + Sync + 'static {
    fn core(&self) -> &ZoneCore;

    fn name(&self) -> &str {
        self.core().name()
    }

    fn events(&self) -> &Events {
        &self.core().events
    }

    fn clock(&self) -> &SharedClock {
        self.core().clock()
    }

    /// Runs `event`'s handler (blocking).
    fn handle(&self, event: Event);
    /// `event`'s handler as a task, for events that mostly wait on the
    /// network; `None`: [`handle`](Self::handle) it on a blocking thread.
    fn handle_async(self: Arc<Self>, event: Event) -> Option<HandlerFuture>;
}

/// An event handler that runs as a task.
pub type HandlerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The zone's dispatcher: runs due events on the blocking pool and sleeps
/// until the next deadline of a free lane or a wake-up. Runs until the
/// process ends (what a handler leaves behind is durable at every step)
/// or the zone is [retired](Events::retire) and its handlers have ended.
pub async fn run<Z: EventZone>(zone: Arc<Z>) {
    loop {
        // Registered before the table is read, so a schedule() between
        // the read and the sleep still wakes us.
        let woken = zone.events().wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if zone.events().is_retired() {
            if !zone.events().any_busy() {
                tracing::debug!(zone = zone.name(), "dispatcher stopped");
                return;
            }
            woken.await;
            continue;
        }
        for event in zone.events().take_due(zone.clock().now()) {
            let z = zone.clone();
            if let Some(task) = zone.clone().handle_async(event) {
                tokio::spawn(async move {
                    tracing::debug!(zone = z.name(), event = event.name(), "event");
                    task.await;
                    z.events().finished(event);
                });
                continue;
            }
            let blocking = move || {
                // A panicking handler must not leave its lane busy.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tracing::debug!(zone = z.name(), event = event.name(), "event");
                    z.handle(event)
                }));
                if ran.is_err() {
                    tracing::error!(
                        zone = z.name(),
                        event = event.name(),
                        "event handler panicked"
                    );
                }
                z.events().finished(event);
            };
            if matches!(event, Event::Refresh | Event::Transfer) {
                // Server-wide, only so many refreshes at once (a catalog
                // adding thousands of members); the zone's data lane
                // stays busy while it waits, its Expire lane does not.
                let slots = zone.core().deps.refreshes.clone();
                tokio::spawn(async move {
                    let permit = slots.acquire_owned().await;
                    let _ = tokio::task::spawn_blocking(blocking).await;
                    drop(permit);
                });
            } else {
                tokio::task::spawn_blocking(blocking);
            }
        }
        let next = zone.events().with(|i| i.table.next_runnable(&i.busy));
        tokio::select! {
            _ = zone.clock().sleep_until(next) => {}
            _ = &mut woken => {}
        }
    }
}

/// Runs inline every event due at the clock's time, and those they make
/// due, until none is (tests: the clock does not move meanwhile; an event
/// run as a task is driven on a runtime of its own). Returns the events
/// run, in order.
pub fn step<Z: EventZone>(zone: &Arc<Z>) -> Vec<Event> {
    let mut ran = Vec::new();
    for _ in 0..1000 {
        let due = zone.events().take_due(zone.clock().now());
        if due.is_empty() {
            break;
        }
        for event in due {
            match zone.clone().handle_async(event) {
                Some(task) => {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        rt.block_on(task);
                    }
                }
                None => zone.handle(event),
            }
            zone.events().finished(event);
            ran.push(event);
        }
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduling_a_planned_event_keeps_the_earlier_time() {
        let mut t = EventTable::default();
        assert!(t.schedule(Event::Refresh, 5_000));
        assert!(!t.schedule(Event::Refresh, 9_000));
        assert_eq!(t.deadline(Event::Refresh), Some(5_000));
        assert!(t.schedule(Event::Refresh, 1_000));
        assert_eq!(t.deadline(Event::Refresh), Some(1_000));
        t.set(Event::Refresh, Some(9_000));
        assert_eq!(
            t.deadline(Event::Refresh),
            Some(9_000),
            "set moves it later"
        );
        t.set(Event::Refresh, None);
        assert_eq!(t.deadline(Event::Refresh), None);
    }

    #[test]
    fn next_is_the_earliest_deadline_and_expire_wins_a_tie() {
        let mut t = EventTable::default();
        assert_eq!(t.next(), None);
        t.schedule(Event::Snapshot, 7_000);
        t.schedule(Event::Refresh, 3_000);
        t.schedule(Event::Expire, 3_000);
        assert_eq!(t.next(), Some((Event::Expire, 3_000)));
    }

    #[test]
    fn due_events_run_one_per_lane_earliest_first() {
        let mut t = EventTable::default();
        t.schedule(Event::Transfer, 20);
        t.schedule(Event::Refresh, 10);
        t.schedule(Event::Expire, 30);
        t.schedule(Event::Snapshot, 100);
        let mut busy = [false; LANES];
        assert_eq!(
            t.take_due(50, &mut busy),
            vec![Event::Refresh, Event::Expire]
        );
        // The transfer waits for the refresh's lane, and so does the
        // snapshot's deadline.
        assert_eq!(t.deadline(Event::Transfer), Some(20));
        assert_eq!(t.next_runnable(&busy), None);
        assert!(t.take_due(50, &mut busy).is_empty());
        busy[Lane::Data.index()] = false;
        assert_eq!(t.next_runnable(&busy), Some(20));
        assert_eq!(t.take_due(50, &mut busy), vec![Event::Transfer]);
    }

    #[test]
    fn every_event_has_a_lane_and_a_distinct_name() {
        let names: std::collections::BTreeSet<_> = Event::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), Event::ALL.len());
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(e.lane().index() < LANES);
        }
    }
}
