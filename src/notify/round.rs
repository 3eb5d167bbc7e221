//! One NOTIFY round: the state machine of [`Notifier::round`].

use super::{notify_message, ns_addresses, Notifier, NotifyTarget};
use crate::clock::{Clock, UnixMs};
use crate::name;
use crate::peers::{cut, NotifyOutcome, PeerEvent, PeerWhat, ZonePeers};
use crate::replication::timing::notify_try_timeout;
use crate::serial::Serial;
use crate::tsig::ClientSigner;
use crate::wire::{opcode, rcode};
use crate::zone::{Zone, ZoneVersion};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// One target's part of a round.
struct Pending {
    addr: SocketAddr,
    /// The name of the key it is signed with, shared by the events
    /// recorded for it.
    key: Option<Arc<str>>,
    /// The same message (and id) for every try (RFC 1996 §3.6 and how
    /// secondaries match retransmissions).
    message: Vec<u8>,
    signer: Option<ClientSigner>,
    tries: u32,
    next_try: UnixMs,
    done: bool,
}

impl Pending {
    fn id(&self) -> [u8; 2] {
        [
            self.message.first().copied().unwrap_or(0),
            self.message.get(1).copied().unwrap_or(0),
        ]
    }

    /// The key as the log lines show it.
    fn key_shown(&self) -> &str {
        self.key.as_deref().unwrap_or("none")
    }
}

/// Where a round's outcomes go: the zone's peer history, one event per
/// target when its part of the round ends.
struct Witness<'a> {
    peers: &'a ZonePeers,
    clock: &'a dyn Clock,
    serial: Serial,
    /// The round heals peers the doctor found behind.
    heal: bool,
}

impl Witness<'_> {
    fn saw(&self, addr: SocketAddr, key: Option<Arc<str>>, tries: u32, outcome: NotifyOutcome) {
        let what = PeerWhat::Notify {
            serial: self.serial,
            port: addr.port(),
            key,
            tries,
            outcome,
            heal: self.heal,
        };
        let at = self.clock.now();
        self.peers.record(addr.ip(), PeerEvent { at, what });
    }

    fn ended(&self, t: &Pending, outcome: NotifyOutcome) {
        self.saw(t.addr, t.key.clone(), t.tries, outcome);
    }
}

impl Notifier {
    /// NOTIFY for the version `zone` serves now, to every target: sent
    /// at once, then again after 1, 2, 4 … times `timeout` (so at 0, 1, 3,
    /// 7, 15, 31 s with the defaults) until the target answers or the
    /// tries run out: then it returns the serial it announced. `None`
    /// when it ended early because `superseded` says a newer round is
    /// planned (checked whenever `planned` fires, and at each try), or
    /// nothing is served. Each target's outcome goes to `peers`.
    pub async fn round(
        &self,
        zone: &Zone,
        clock: &dyn Clock,
        peers: &ZonePeers,
        superseded: impl Fn() -> bool,
        planned: &tokio::sync::Notify,
    ) -> Option<Serial> {
        let version = zone.snapshot()?;
        let targets = self.targets_for(&version);
        let witness = Witness {
            peers,
            clock,
            serial: version.serial(),
            heal: false,
        };
        self.round_to(zone, &version, targets, &witness, superseded, planned)
            .await
    }

    /// A round to `targets` alone, as [`round`](Self::round) but recorded
    /// as heals: the replication doctor's NOTIFY to peers it found behind
    /// (`replication::heal`). A target configured in `notify` is signed
    /// with its key.
    pub async fn heal_round(
        &self,
        zone: &Zone,
        to: &[SocketAddr],
        clock: &dyn Clock,
        peers: &ZonePeers,
        superseded: impl Fn() -> bool,
        planned: &tokio::sync::Notify,
    ) -> Option<Serial> {
        let version = zone.snapshot()?;
        let targets = to
            .iter()
            .map(|&addr| NotifyTarget {
                addr,
                key: self
                    .targets
                    .iter()
                    .find(|t| t.addr == addr)
                    .and_then(|t| t.key.clone()),
            })
            .collect();
        let witness = Witness {
            peers,
            clock,
            serial: version.serial(),
            heal: true,
        };
        self.round_to(zone, &version, targets, &witness, superseded, planned)
            .await
    }

    async fn round_to(
        &self,
        zone: &Zone,
        version: &ZoneVersion,
        targets: Vec<NotifyTarget>,
        witness: &Witness<'_>,
        superseded: impl Fn() -> bool,
        planned: &tokio::sync::Notify,
    ) -> Option<Serial> {
        let clock = witness.clock;
        let serial = version.serial();
        let zone_name = name::display(zone.origin());
        let mut round = self.prepare(zone.origin(), version, targets, &zone_name, witness);
        let v4 = bind_if(&round, true).await;
        let v6 = bind_if(&round, false).await;
        let (mut buf4, mut buf6) = (vec![0u8; 4096], vec![0u8; 4096]);
        let tries = self.settings.retries + 1;
        // Ends when every target is done: each has a bounded number of
        // tries, and time moves on whatever datagrams come in.
        loop {
            let woken = planned.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if superseded() {
                tracing::debug!(zone = %zone_name, %serial, "zone changed again: NOTIFY round restarted");
                for t in round.iter().filter(|t| !t.done) {
                    witness.ended(t, NotifyOutcome::CutShort);
                }
                return None;
            }
            let now = clock.now();
            for t in round.iter_mut().filter(|t| !t.done) {
                // A wall clock stepped back must not hold a try back by
                // more than its own timeout.
                let longest = ms(notify_try_timeout(self.settings.timeout, t.tries.max(1)));
                t.next_try = t.next_try.min(now.saturating_add(longest));
                if t.next_try > now {
                    continue;
                }
                if t.tries >= tries {
                    t.done = true;
                    self.counters.failed.fetch_add(1, Relaxed);
                    tracing::warn!(zone = %zone_name, %serial, target = %t.addr, key = t.key_shown(), error = %format!("no answer after {tries} tries"), "NOTIFY gave up");
                    witness.ended(t, NotifyOutcome::NoAnswer);
                    continue;
                }
                let socket = if t.addr.is_ipv4() { &v4 } else { &v6 };
                let sent = match socket {
                    Ok(s) => s.send_to(&t.message, t.addr).await.map(|_| ()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                match sent {
                    Ok(()) => {
                        t.tries += 1;
                        self.counters.sent.fetch_add(1, Relaxed);
                        t.next_try = now
                            .saturating_add(ms(notify_try_timeout(self.settings.timeout, t.tries)));
                    }
                    Err(e) => {
                        t.done = true;
                        self.counters.failed.fetch_add(1, Relaxed);
                        tracing::warn!(zone = %zone_name, %serial, target = %t.addr, key = t.key_shown(), error = %e, "NOTIFY gave up");
                        witness.ended(t, NotifyOutcome::SendFailed(cut(&e.to_string())));
                    }
                }
            }
            let Some(next) = round.iter().filter(|t| !t.done).map(|t| t.next_try).min() else {
                return Some(serial);
            };
            let answer = tokio::select! {
                _ = clock.sleep_until(Some(next)) => None,
                _ = &mut woken => None,
                (n, from) = recv(v4.as_ref().ok(), &mut buf4) => Some((buf4.get(..n).unwrap_or(&[]), from)),
                (n, from) = recv(v6.as_ref().ok(), &mut buf6) => Some((buf6.get(..n).unwrap_or(&[]), from)),
            };
            if let Some((reply, from)) = answer {
                self.take_answer(&mut round, reply, from, &zone_name, witness);
            }
        }
    }

    /// A change's round goes to the configured targets, then with
    /// `notify_ns` to the zone's NS not among them.
    fn targets_for(&self, version: &ZoneVersion) -> Vec<NotifyTarget> {
        let mut targets = self.targets.clone();
        if self.settings.notify_ns {
            for addr in ns_addresses(version) {
                if !self.settings.own.contains(&addr) && !targets.iter().any(|t| t.addr == addr) {
                    targets.push(NotifyTarget { addr, key: None });
                }
            }
        }
        targets
    }

    /// Every target's part of a round for `version`: its message, signed
    /// when the target has a key. A target whose message cannot be signed
    /// is given up at once.
    fn prepare(
        &self,
        origin: &[u8],
        version: &ZoneVersion,
        targets: Vec<NotifyTarget>,
        zone_name: &str,
        witness: &Witness<'_>,
    ) -> Vec<Pending> {
        let soa = version
            .soa()
            .and_then(|s| Some((s.ttl(), s.rdatas().next()?.to_vec())));
        let serial = version.serial();
        let now = witness.clock.now();
        let mut round: Vec<Pending> = Vec::with_capacity(targets.len());
        for target in targets {
            let mut message = notify_message(crate::wire::random_id(), origin, soa.as_ref());
            let key: Option<Arc<str>> = target.key.as_ref().map(|k| Arc::from(k.name.as_str()));
            let signer = match &target.key {
                Some(k) => match ClientSigner::sign_request(k, &mut message) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let error = format!("TSIG signing failed: {e}");
                        self.counters.failed.fetch_add(1, Relaxed);
                        tracing::warn!(zone = %zone_name, %serial, target = %target.addr, key = key.as_deref().unwrap_or("none"), error = %error, "NOTIFY gave up");
                        witness.saw(target.addr, key, 0, NotifyOutcome::SendFailed(cut(&error)));
                        continue;
                    }
                },
                None => None,
            };
            round.push(Pending {
                addr: target.addr,
                key,
                message,
                signer,
                tries: 0,
                next_try: now,
                done: false,
            });
        }
        round
    }

    /// An answer to one of the round's NOTIFYs (same source, id, QR set,
    /// opcode NOTIFY; signed and verified when ours was): that target is
    /// done, acknowledged whatever its RCODE (REFUSED too: the RCODE is
    /// logged and recorded). Anything else is ignored.
    fn take_answer(
        &self,
        round: &mut [Pending],
        reply: &[u8],
        from: SocketAddr,
        zone_name: &str,
        witness: &Witness<'_>,
    ) {
        let (Some(id), Some(&flags)) = (reply.get(..2), reply.get(2)) else {
            return;
        };
        if reply.len() < 12 || flags & 0x80 == 0 || (flags >> 3) & 0x0f != opcode::NOTIFY {
            return;
        }
        let Some(t) = round
            .iter_mut()
            .find(|t| !t.done && same_peer(t.addr, from) && t.id() == id)
        else {
            return;
        };
        t.done = true;
        let serial = witness.serial;
        if let Some(signer) = t.signer.as_mut() {
            // A signed NOTIFY's answer must be signed too (RFC 8945 §5.3);
            // an error (BADKEY…) will not go away by sending again.
            if let Err(e) = signer.verify_response(reply) {
                self.counters.failed.fetch_add(1, Relaxed);
                tracing::warn!(zone = %zone_name, %serial, target = %t.addr, key = t.key_shown(), error = %format!("TSIG of the answer: {e}"), "NOTIFY gave up");
                witness.ended(t, NotifyOutcome::TsigFailed(cut(&e.to_string())));
                return;
            }
        }
        let code = reply.get(3).map_or(0, |b| b & 0x0f);
        self.counters.acknowledged.fetch_add(1, Relaxed);
        tracing::info!(zone = %zone_name, %serial, target = %t.addr, key = t.key_shown(), tries = t.tries, rcode = rcode::name(u16::from(code)), "NOTIFY acknowledged");
        witness.ended(t, NotifyOutcome::Acknowledged { rcode: code });
    }
}

fn ms(d: std::time::Duration) -> UnixMs {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// IPv4-mapped addresses compare as IPv4.
fn same_peer(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |s: SocketAddr| match s {
        SocketAddr::V6(v6) => v6
            .ip()
            .to_ipv4_mapped()
            .map_or(s, |ip| SocketAddr::from((ip, v6.port()))),
        v4 => v4,
    };
    canon(a) == canon(b)
}

/// A socket of the family when some target needs one.
async fn bind_if(round: &[Pending], v4: bool) -> std::io::Result<UdpSocket> {
    if !round.iter().any(|t| t.addr.is_ipv4() == v4) {
        return Err(std::io::Error::other("no target of this address family"));
    }
    let local: SocketAddr = if v4 {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    UdpSocket::bind(local).await
}

/// A datagram from `socket`; never, without a socket or on an error (an
/// unconnected UDP socket is not told of a target that refuses: such a
/// target is tried again after its timeout like a silent one, so one that
/// is starting still gets it).
async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> (usize, SocketAddr) {
    match socket {
        Some(s) => match s.recv_from(buf).await {
            Ok(got) => got,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::name::test_wire;
    use crate::notify::NotifySettings;

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    const T0: UnixMs = 1_800_000_000_000;

    fn zone(serial: u32) -> Arc<Zone> {
        let text = format!("$ORIGIN example.com.\n@ 300 SOA ns host {serial} 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n");
        let zone = Arc::new(Zone::new(&test_wire("example.com")).unwrap());
        zone.publish(Arc::new(crate::zone::test_version("example.com", &text)));
        zone
    }

    struct Round {
        clock: ManualClock,
        target: tokio::net::UdpSocket,
        notifier: Arc<Notifier>,
        peers: Arc<ZonePeers>,
        superseded: Arc<AtomicBool>,
        planned: Arc<tokio::sync::Notify>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start() -> Round {
        let target = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = target.local_addr().unwrap();
        let notifier = Arc::new(Notifier::new(
            vec![NotifyTarget { addr, key: None }],
            NotifySettings::default(),
        ));
        let clock = ManualClock::at(T0);
        let superseded = Arc::new(AtomicBool::new(false));
        let planned = Arc::new(tokio::sync::Notify::new());
        let peers = Arc::new(ZonePeers::new(clock.shared()));
        let task = {
            let (n, c, h, s, p) = (
                notifier.clone(),
                clock.clone(),
                peers.clone(),
                superseded.clone(),
                planned.clone(),
            );
            tokio::spawn(async move {
                let z = zone(7);
                n.round(&z, &c, &h, || s.load(Ordering::SeqCst), &p).await;
            })
        };
        Round {
            clock,
            target,
            notifier,
            peers,
            superseded,
            planned,
            task,
        }
    }

    impl Round {
        /// The next NOTIFY the target gets (bounded wait), and its sender.
        async fn datagram(&self) -> (Vec<u8>, SocketAddr) {
            let mut buf = [0u8; 512];
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(5), self.target.recv_from(&mut buf))
                    .await
                    .expect("a NOTIFY came")
                    .unwrap();
            (buf[..n].to_vec(), from)
        }

        /// Nothing arrives for a little while of real time.
        async fn quiet(&self) {
            let mut buf = [0u8; 512];
            let got =
                tokio::time::timeout(Duration::from_millis(100), self.target.recv_from(&mut buf))
                    .await;
            assert!(got.is_err(), "no NOTIFY before its time");
        }

        /// What the zone's peer history says of the target's last NOTIFY.
        fn last_notify(&self) -> Option<PeerWhat> {
            let ip = self.target.local_addr().unwrap().ip();
            let log = self.peers.peer(ip)?;
            log.last_notify().map(|e| e.what.clone())
        }

        /// Waits (bounded) until `done` holds of the counters.
        async fn until(&self, done: impl Fn((u64, u64, u64)) -> bool) {
            tokio::time::timeout(Duration::from_secs(5), async {
                while !done(self.counts()) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("the round got there");
        }

        /// The event a round records for this target.
        fn notified(&self, tries: u32, outcome: NotifyOutcome) -> PeerWhat {
            PeerWhat::Notify {
                serial: Serial(7),
                port: self.target.local_addr().unwrap().port(),
                key: None,
                tries,
                outcome,
                heal: false,
            }
        }

        fn counts(&self) -> (u64, u64, u64) {
            let c = &self.notifier.counters;
            (c.sent(), c.acknowledged(), c.failed())
        }

        async fn finished(&mut self) {
            tokio::time::timeout(Duration::from_secs(5), &mut self.task)
                .await
                .expect("the round ended")
                .unwrap();
        }
    }

    #[tokio::test]
    async fn tries_go_out_at_0_1_3_7_15_31_seconds_then_the_round_gives_up() {
        let mut r = start().await;
        let mut at = Vec::new();
        let mut ids = Vec::new();
        for gap in [0u64, 1, 2, 4, 8, 16] {
            if gap > 0 {
                r.clock.advance(Duration::from_millis(gap * 1000 - 1));
                r.quiet().await;
                r.clock.advance(Duration::from_millis(1));
            }
            let (msg, _) = r.datagram().await;
            at.push((r.clock.now() - T0) / 1000);
            ids.push([msg[0], msg[1]]);
        }
        assert_eq!(at, [0, 1, 3, 7, 15, 31]);
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "one id for every try: {ids:?}"
        );
        r.clock.advance(Duration::from_secs(32));
        tokio::time::timeout(Duration::from_secs(5), async {
            while r.counts().2 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("given up");
        assert_eq!(
            r.counts(),
            (6, 0, 1),
            "six sent, none answered, one given up"
        );
        r.finished().await;
        assert_eq!(
            r.last_notify(),
            Some(r.notified(6, NotifyOutcome::NoAnswer)),
            "recorded in the peer history"
        );
    }

    #[tokio::test]
    async fn an_answer_ends_the_target_and_counts_it_acknowledged() {
        let mut r = start().await;
        let _ = r.datagram().await;
        r.clock.advance(Duration::from_secs(1));
        let (mut msg, from) = r.datagram().await;
        msg[2] |= 0x80; // QR: the answer, same id and opcode
        r.target.send_to(&msg, from).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while r.counts().1 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("acknowledged");
        assert_eq!(r.counts(), (2, 1, 0));
        r.clock.advance(Duration::from_secs(60));
        r.quiet().await;
        r.finished().await;
        assert_eq!(
            r.last_notify(),
            Some(r.notified(2, NotifyOutcome::Acknowledged { rcode: 0 }))
        );
    }

    #[tokio::test]
    async fn a_refused_answer_is_acknowledged_and_recorded_with_its_rcode() {
        let mut r = start().await;
        let (mut msg, from) = r.datagram().await;
        msg[2] |= 0x80;
        msg[3] = (msg[3] & 0xf0) | 5; // REFUSED
        r.target.send_to(&msg, from).await.unwrap();
        r.until(|c| c.1 == 1).await;
        assert_eq!(r.counts(), (1, 1, 0), "any answer counts as acknowledged");
        r.finished().await;
        assert_eq!(
            r.last_notify(),
            Some(r.notified(1, NotifyOutcome::Acknowledged { rcode: 5 }))
        );
        let log = r.peers.snapshot();
        assert_eq!(log.len(), 1, "one peer");
        assert_eq!(log[0].1.events().count(), 1, "one event for the round");
    }

    #[tokio::test]
    async fn a_newer_round_ends_this_one_without_counting_it() {
        let mut r = start().await;
        let _ = r.datagram().await;
        r.clock.advance(Duration::from_secs(1));
        let _ = r.datagram().await;
        r.superseded.store(true, Ordering::SeqCst);
        r.planned.notify_waiters();
        let counts = r.counts();
        r.finished().await;
        assert_eq!(counts, (2, 0, 0), "sent, neither acknowledged nor failed");
        assert_eq!(
            r.last_notify(),
            Some(r.notified(2, NotifyOutcome::CutShort))
        );
    }
}
