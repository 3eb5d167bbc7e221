//! The HealNotify event driven by a virtual clock against a peer on
//! loopback that answers NOTIFY: tries at 0, s, 3 s; at most `heal_tries`;
//! a stop ends the plan; our own addresses are never healed.

use super::{step, Event, EventZone, HandlerFuture};
use crate::clock::ManualClock;
use crate::config::ZoneConfig;
use crate::notify::NotifySettings;
use crate::peers::{NotifyOutcome, PeerWhat};
use crate::replication::heal::{HealRefused, PLANS_MAX};
use crate::replication::{Publication, ZoneCore, ZoneDeps};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_800_000_000_000;

/// A zone with nothing but the heal event.
struct HealingZone {
    core: ZoneCore,
}

impl EventZone for HealingZone {
    fn core(&self) -> &ZoneCore {
        &self.core
    }

    fn handle(&self, _event: Event) {}

    fn handle_async(self: Arc<Self>, event: Event) -> Option<HandlerFuture> {
        (event == Event::HealNotify).then(|| {
            Box::pin(async move { super::heal_notify::handle(&self.core).await }) as HandlerFuture
        })
    }
}

fn zone(clock: &ManualClock, own: Vec<SocketAddr>) -> Arc<HealingZone> {
    let config: ZoneConfig = toml::from_str("name = \"example.com\"\nrole = \"primary\"").unwrap();
    let zone = Arc::new(crate::zone::Zone::new(&crate::name::test_wire("example.com")).unwrap());
    let deps = ZoneDeps::with_clock(clock.shared()).with_notify(NotifySettings {
        own,
        retries: 0,
        ..NotifySettings::default()
    });
    let core = ZoneCore::new(zone, config, None, None, deps);
    core.publish(
        Arc::new(crate::zone::test_version(
            "example.com",
            "$ORIGIN example.com.\n@ 300 SOA ns host 7 3600 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n",
        )),
        "t",
        Publication::Restored,
    );
    Arc::new(HealingZone { core })
}

/// A secondary that answers every NOTIFY (same id, QR set, NOERROR) and
/// counts them; stops when dropped.
struct Peer {
    addr: SocketAddr,
    notifies: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Peer {
    fn start() -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let notifies = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s) = (notifies.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            // Bounded: the test drops the peer within seconds.
            for _ in 0..2_000 {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                n.fetch_add(1, Ordering::SeqCst);
                let mut answer = buf[..len.min(12)].to_vec();
                answer[2] |= 0x80;
                answer[3] &= 0xf0;
                answer[4..12].fill(0);
                let _ = socket.send_to(&answer, from);
            }
        });
        Peer {
            addr,
            notifies,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.notifies.load(Ordering::SeqCst)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_heal_notifies_at_once_then_after_s_and_3s_and_no_more_than_its_tries() {
    let clock = ManualClock::at(T0);
    let zone = zone(&clock, Vec::new());
    let peer = Peer::start();
    zone.core
        .heal_notify(peer.addr, 3, Duration::from_secs(1))
        .unwrap();
    assert_eq!(zone.events().deadline(Event::HealNotify), Some(T0));
    assert_eq!(step(&zone), vec![Event::HealNotify]);
    assert_eq!(peer.count(), 1);
    let plan = zone.core.heal_plan(peer.addr).unwrap();
    assert_eq!(
        (plan.tries, plan.last_ms, plan.next_ms),
        (1, Some(T0), Some(T0 + 1_000))
    );
    assert_eq!(zone.events().deadline(Event::HealNotify), Some(T0 + 1_000));

    let log = zone.core.peers.peer(peer.addr.ip()).unwrap();
    let heal = log
        .last_heal()
        .expect("the NOTIFY is in the history as a heal");
    assert!(matches!(
        heal.what,
        PeerWhat::Notify {
            heal: true,
            outcome: NotifyOutcome::Acknowledged { rcode: 0 },
            ..
        }
    ));
    assert!(log.last_notify().is_none(), "not the change's NOTIFY");

    assert!(step(&zone).is_empty(), "nothing before the next try");
    clock.advance(Duration::from_secs(1));
    assert_eq!(step(&zone), vec![Event::HealNotify]);
    assert_eq!(peer.count(), 2);
    assert_eq!(
        zone.core.heal_plan(peer.addr).unwrap().next_ms,
        Some(T0 + 3_000),
        "the gap doubles"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(step(&zone), vec![Event::HealNotify]);
    assert_eq!(peer.count(), 3);
    let plan = zone.core.heal_plan(peer.addr).unwrap();
    assert!(plan.spent() && plan.tries == 3, "{plan:?}");
    assert_eq!(zone.events().deadline(Event::HealNotify), None);
    clock.advance(Duration::from_secs(3_600));
    assert!(step(&zone).is_empty());
    assert_eq!(peer.count(), 3, "no fourth try");
    assert!(
        zone.core.heal_plan(peer.addr).is_some(),
        "a spent plan stays in view"
    );
    assert!(zone.core.heal_stop(peer.addr));
    assert!(zone.core.heal_plan(peer.addr).is_none());
}

#[test]
fn a_stop_ends_the_plan_and_a_new_ask_starts_over() {
    let clock = ManualClock::at(T0);
    let zone = zone(&clock, Vec::new());
    let peer = Peer::start();
    zone.core
        .heal_notify(peer.addr, 3, Duration::from_secs(1))
        .unwrap();
    step(&zone);
    assert!(zone.core.heal_stop(peer.addr), "caught up");
    assert!(!zone.core.heal_stop(peer.addr), "once");
    clock.advance(Duration::from_secs(10));
    step(&zone);
    assert_eq!(peer.count(), 1, "nothing more after the stop");

    zone.core
        .heal_notify(peer.addr, 2, Duration::from_secs(1))
        .unwrap();
    step(&zone);
    assert_eq!(peer.count(), 2);
    zone.core
        .heal_notify(peer.addr, 2, Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        zone.core.heal_plan(peer.addr).unwrap().tries,
        0,
        "a newer change starts over"
    );
}

#[test]
fn our_own_addresses_are_never_healed_and_the_plans_are_bounded() {
    let clock = ManualClock::at(T0);
    let own: SocketAddr = "127.0.0.1:5300".parse().unwrap();
    let zone = zone(&clock, vec![own, "0.0.0.0:5400".parse().unwrap()]);
    let spacing = Duration::from_secs(1);
    assert_eq!(
        zone.core.heal_notify(own, 3, spacing),
        Err(HealRefused::Own(own))
    );
    let wildcard: SocketAddr = "127.0.0.9:5400".parse().unwrap();
    assert_eq!(
        zone.core.heal_notify(wildcard, 3, spacing),
        Err(HealRefused::Own(wildcard)),
        "a wildcard listen address covers loopback at its port"
    );
    let other: SocketAddr = "127.0.0.9:5401".parse().unwrap();
    assert_eq!(
        zone.core.heal_notify(other, 0, spacing),
        Err(HealRefused::NoTries)
    );
    for i in 0..PLANS_MAX {
        let to = SocketAddr::from(([127, 0, 1, i as u8], 53));
        zone.core.heal_notify(to, 1, spacing).unwrap();
    }
    assert_eq!(
        zone.core.heal_notify(other, 1, spacing),
        Err(HealRefused::Full)
    );
    // Nobody listens there: each plan's single try is spent once its
    // round gives up (the clock moved past the answer's timeout), and a
    // spent plan makes room.
    let runner = {
        let zone = zone.clone();
        std::thread::spawn(move || step(&zone))
    };
    for _ in 0..500 {
        if runner.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(runner.join().unwrap(), vec![Event::HealNotify]);
    let first = SocketAddr::from(([127, 0, 1, 0], 53));
    assert!(zone.core.heal_plan(first).unwrap().spent());
    zone.core.heal_notify(other, 1, spacing).unwrap();
    assert_eq!(zone.core.heal_plan(other).unwrap().tries, 0);
    let log = zone.core.peers.peer(first.ip()).unwrap();
    assert!(matches!(
        log.last_heal().map(|e| &e.what),
        Some(PeerWhat::Notify {
            heal: true,
            outcome: NotifyOutcome::NoAnswer,
            ..
        })
    ));
}
