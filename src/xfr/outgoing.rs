//! Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP and
//! TLS (XoT, RFC 9103: the same stream; `allow_transfer` may require TLS
//! and a client certificate).
//!
//! A transfer sends one immutable `ZoneVersion` snapshot, so it is
//! consistent even while the zone changes. Messages are packed up to 64 KiB
//! on a blocking thread and handed to the connection through a small
//! channel, so a large zone is streamed, never held as messages in memory,
//! and a slow client holds back only its own packer.
//!
//! IXFR (RFC 1995): a single SOA when the client is current (or ahead,
//! RFC 1982); the changesets from the client's serial to ours when the
//! journal has them and they are smaller than the zone; otherwise the whole
//! zone in AXFR form, which RFC 1995 §4 allows. Over UDP an incremental
//! answer is sent when it fits ([`Transfers::answer_ixfr_udp`]); otherwise
//! the query path answers with our SOA and the client retries over TCP.

use crate::acl::{Requester, TransferAcl, Transport};
use crate::journal::{Changeset, JournalReader, JournalView, Record};
use crate::name;
use crate::net::limit::{self, PerClient};
use crate::peers::{
    cut, FullReason, PeerEvent, PeerNews, PeerWhat, Sent, XfrOutcome, XfrRequest, ZonePeers,
};
use crate::serial::Serial;
use crate::tsig::{self, Keys, RequestAuth, SignedRequest};
use crate::wire::{flag, rcode, MessageWriter, NameTable, Owner, Request, Section, HEADER_LEN};
use crate::zone::{rtype, SharedZoneTable, Zone, ZoneVersion};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, Semaphore};

/// Everything the transfer path needs, shared by all connections.
pub struct Transfers {
    zones: Arc<SharedZoneTable>,
    /// Per zone, by the zone's lookup key; replaced whole when zones are
    /// added or removed at run time, read without locks.
    xfr: arc_swap::ArcSwap<XfrMap>,
    /// Serialises those replacements.
    edit: std::sync::Mutex<()>,
    keys: Keys,
    slots: Arc<Semaphore>,
    /// Transfers served at once per client (`transfer_limit_per_client`).
    per_client: Arc<PerClient>,
    /// Told of each transfer served (`ZoneDeps::peer_news`).
    news: Option<broadcast::Sender<PeerNews>>,
}

type XfrMap = HashMap<Box<[u8]>, Arc<XfrZone>>;

/// What the transfer path knows of one zone.
pub struct XfrZone {
    /// `allow_transfer`.
    pub acl: TransferAcl,
    /// The change history IXFR answers from (read without waiting for a
    /// load or transfer that is writing it); none: always the full zone.
    pub journal: Option<JournalReader>,
    pub counters: Arc<XfrCounters>,
    /// The zone's peer history: how each transfer ended, per client.
    pub peers: Option<Arc<ZonePeers>>,
}

/// Transfers of one zone sent since the start, by kind.
#[derive(Debug, Default)]
pub struct XfrCounters {
    pub axfr: AtomicU64,
    /// IXFR answered with changesets.
    pub ixfr_incremental: AtomicU64,
    /// IXFR answered with the whole zone.
    pub ixfr_full: AtomicU64,
    /// IXFR answered with our SOA alone (client current).
    pub ixfr_current: AtomicU64,
    pub refused: AtomicU64,
}

impl XfrCounters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A transfer request: which kind, and for IXFR the client's serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Axfr,
    Ixfr(Option<Serial>),
}

impl Kind {
    fn request(self) -> XfrRequest {
        match self {
            Kind::Axfr => XfrRequest::Axfr,
            Kind::Ixfr(asked) => XfrRequest::Ixfr { asked },
        }
    }
}

/// Who asked for a transfer and how, for the zone's peer history: each
/// way out of [`Transfers::serve`] records one outcome through it, so a
/// transfer is one event whatever its number of messages.
struct Ledger<'a> {
    peers: Option<Arc<ZonePeers>>,
    ip: IpAddr,
    request: XfrRequest,
    key: Option<Arc<str>>,
    via: Transport,
    /// The zone asked for, and who is told of a transfer served.
    zone: Option<Arc<Zone>>,
    news: Option<&'a broadcast::Sender<PeerNews>>,
}

impl Ledger<'_> {
    /// Records the outcome, then, for a transfer served, tells the news
    /// channel (after: whoever it wakes finds the transfer recorded).
    fn record(&self, outcome: XfrOutcome) {
        let served = matches!(outcome, XfrOutcome::Served { .. });
        self.remember(outcome);
        if served {
            self.tell();
        }
    }

    fn remember(&self, outcome: XfrOutcome) {
        let Some(peers) = &self.peers else {
            return;
        };
        let what = PeerWhat::Transfer {
            request: self.request,
            key: self.key.clone(),
            via: self.via,
            outcome,
        };
        peers.record(
            self.ip,
            PeerEvent {
                at: peers.now(),
                what,
            },
        );
    }

    /// Tells the news channel that the peer has the zone now. Without a
    /// listener (no monitor in this process) nothing is copied or sent.
    fn tell(&self) {
        let (Some(news), Some(zone)) = (self.news, &self.zone) else {
            return;
        };
        if news.receiver_count() == 0 {
            return;
        }
        // A listener gone meanwhile is not an error.
        let _ = news.send(PeerNews {
            origin: zone.origin().to_vec(),
            ip: crate::peers::fold(self.ip),
        });
    }
}

/// What went out on a transfer's stream.
struct Streamed {
    result: std::io::Result<()>,
    records: u64,
    /// Octets written, length prefixes and TSIG records included.
    bytes: u64,
    messages: u32,
    ms: u32,
}

impl Streamed {
    /// The outcome for the peer history: served, or aborted with the
    /// error and what had gone out by then.
    fn outcome(&self, serial: Serial, sent: Sent) -> XfrOutcome {
        match &self.result {
            Ok(()) => XfrOutcome::Served {
                serial,
                sent,
                records: self.records,
                bytes: self.bytes,
                messages: self.messages,
                ms: self.ms,
            },
            Err(e) => XfrOutcome::Aborted {
                error: cut(&e.to_string()),
                bytes: self.bytes,
            },
        }
    }
}

/// What a transfer sends.
enum Payload {
    Zone,
    /// These changesets of the journal as it was when the request came.
    Changes(Arc<JournalView>, Range<usize>),
}

impl Transfers {
    /// `xfr` maps each zone apex (wire format) to its settings.
    pub fn new(
        zones: Arc<SharedZoneTable>,
        xfr: Vec<(Vec<u8>, XfrZone)>,
        keys: Keys,
        limit: usize,
    ) -> Transfers {
        let xfr = xfr
            .into_iter()
            .filter_map(|(origin, z)| Some((name::key_of(&origin)?, Arc::new(z))))
            .collect();
        Transfers {
            zones,
            xfr: arc_swap::ArcSwap::from_pointee(xfr),
            edit: std::sync::Mutex::new(()),
            keys,
            slots: Arc::new(Semaphore::new(limit.max(1))),
            per_client: PerClient::new(0),
            news: None,
        }
    }

    /// Tells `news` of every transfer served, once it ended (its last
    /// message written).
    pub fn with_peer_news(mut self, news: broadcast::Sender<PeerNews>) -> Transfers {
        self.news = Some(news);
        self
    }

    /// At most `max` transfers served at once to one client (IPv4
    /// address or IPv6 /64; 0: no cap).
    pub fn with_per_client_limit(mut self, max: usize) -> Transfers {
        self.per_client = PerClient::new(max);
        self
    }

    /// Adds (or replaces) the transfer settings of zones added at run
    /// time, by apex (wire format).
    pub fn add_zones(&self, zones: Vec<(Vec<u8>, XfrZone)>) {
        self.change(|map| {
            for (origin, z) in zones {
                if let Some(key) = name::key_of(&origin) {
                    map.insert(key, Arc::new(z));
                }
            }
        });
    }

    /// Forgets the zones with these apexes (wire format).
    pub fn remove_zones(&self, origins: &[Vec<u8>]) {
        self.change(|map| {
            for origin in origins {
                if let Some(key) = name::key_of(origin) {
                    map.remove(&key);
                }
            }
        });
    }

    fn change(&self, edit: impl FnOnce(&mut XfrMap)) {
        let _one_at_a_time = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = XfrMap::clone(&self.xfr.load());
        edit(&mut map);
        self.xfr.store(Arc::new(map));
    }

    /// Whether this request is one for [`serve`](Self::serve).
    pub fn is_transfer(req: &Request<'_>) -> bool {
        req.opcode() == crate::wire::opcode::QUERY
            && matches!(req.question.qtype, rtype::AXFR | rtype::IXFR)
    }

    /// Answers a transfer request on `stream` (TCP or TLS, as `transport`
    /// says): the zone, a single SOA, or an error response. Refusals are
    /// logged with peer, zone and reason; every outcome of a zone we
    /// serve goes to its peer history.
    pub async fn serve<W: AsyncWrite + Unpin + Send>(
        &self,
        req: &Request<'_>,
        peer: SocketAddr,
        transport: Transport,
        stream: &mut W,
    ) -> std::io::Result<()> {
        let q = req.question;
        let zone_name = name::display(q.name);
        let kind = if q.qtype == rtype::AXFR {
            Kind::Axfr
        } else {
            Kind::Ixfr(client_serial(req))
        };
        // Found before the TSIG check so that a rejected signature is
        // recorded in the zone's peer history too; what is answered, and
        // in which order the checks are made, is as before.
        let zone = self.zones.load().get(q.name).cloned();
        let xfr = zone.as_ref().and_then(|z| self.zone(z.origin()));
        let mut ledger = Ledger {
            peers: xfr.as_ref().and_then(|x| x.peers.clone()),
            ip: peer.ip(),
            request: kind.request(),
            key: None,
            via: transport,
            zone: zone.clone(),
            news: self.news.as_ref(),
        };
        // RFC 8945 §5.2: a TSIG that fails is answered as the RFC says
        // and nothing else is sent.
        let mut signer = match tsig::check_request(&self.keys, req.message) {
            RequestAuth::Unsigned => None,
            RequestAuth::Signed(s) => Some(s),
            RequestAuth::Rejected(failure) => {
                tracing::warn!(%peer, zone = %zone_name, error = failure.rcode_name(), "transfer refused: TSIG check failed");
                ledger.key = failure.key_name().map(|k| Arc::from(cut(k)));
                ledger.record(XfrOutcome::Tsig {
                    error: failure.rcode_name(),
                });
                return match failure.response() {
                    Some(r) => send(stream, r).await.map(drop),
                    None => Ok(()),
                };
            }
        };
        let key = signer.as_ref().map(SignedRequest::shared_key_name);
        ledger.key = key.clone();
        let key_shown = key.as_deref().unwrap_or("none");
        let refuse = |rc: u16| error_response(req, rc);
        let Some(zone) = zone else {
            tracing::info!(%peer, zone = %zone_name, "transfer refused: not a zone we serve");
            return answer(stream, refuse(rcode::NOTAUTH), &mut signer).await;
        };
        let Some(version) = zone.snapshot() else {
            tracing::info!(%peer, zone = %zone_name, "transfer refused: zone not loaded");
            ledger.record(XfrOutcome::NotLoaded);
            return answer(stream, refuse(rcode::SERVFAIL), &mut signer).await;
        };
        let Some(xfr) = xfr else {
            return answer(stream, refuse(rcode::REFUSED), &mut signer).await;
        };
        let requester = Requester {
            ip: peer.ip(),
            key: key.as_deref(),
            transport,
        };
        if let Err(reason) = xfr.acl.check(&requester) {
            XfrCounters::bump(&xfr.counters.refused);
            tracing::warn!(%peer, zone = %zone_name, key = key_shown, via = transport.name(), %reason, "transfer refused by allow_transfer");
            ledger.record(XfrOutcome::Refused(reason));
            return answer(stream, refuse(rcode::REFUSED), &mut signer).await;
        }
        let mut payload = Payload::Zone;
        let mut instead_of_ixfr = None;
        if let Kind::Ixfr(Some(client)) = kind {
            if !client.is_before(version.serial()) {
                XfrCounters::bump(&xfr.counters.ixfr_current);
                tracing::info!(%peer, zone = %zone_name, serial = %client, "IXFR: client is current");
                return current(stream, req, &version, &mut signer, &ledger).await;
            }
            match changes_for(xfr.journal.as_ref(), &version, client) {
                Ok((view, range)) => payload = Payload::Changes(view, range),
                Err(why) => instead_of_ixfr = Some(why),
            }
        }
        // Over a limit, SERVFAIL: the secondary tries again later (RETRY)
        // or another server; logged once per interval, counted in
        // /metrics.
        let Some(_client_slot) = self.per_client.try_acquire(peer.ip()) else {
            limit::TRANSFERS_PER_CLIENT.hit(Some(peer.ip()), Some(&zone_name));
            ledger.record(XfrOutcome::OverLimit("transfer_limit_per_client"));
            return answer(stream, refuse(rcode::SERVFAIL), &mut signer).await;
        };
        let Ok(_permit) = self.slots.clone().try_acquire_owned() else {
            limit::TRANSFERS.hit(Some(peer.ip()), Some(&zone_name));
            ledger.record(XfrOutcome::OverLimit("transfer_limit"));
            return answer(stream, refuse(rcode::SERVFAIL), &mut signer).await;
        };
        let (counter, sent) = tally(&xfr.counters, &payload, kind, instead_of_ixfr);
        let serial = version.serial();
        let streamed = self
            .stream(req, peer, stream, version, kind, payload, signer)
            .await;
        ledger.record(streamed.outcome(serial, sent));
        if streamed.result.is_ok() {
            XfrCounters::bump(counter);
        }
        streamed.result
    }

    /// The transfer settings of the zone with this apex (wire format),
    /// found without allocating (the key is built on the stack).
    fn zone(&self, origin: &[u8]) -> Option<Arc<XfrZone>> {
        self.xfr
            .load()
            .get(name::KeyBuf::new(origin)?.as_slice())
            .cloned()
    }

    /// Transfer counters of the zone with this apex (wire format).
    pub fn counters(&self, origin: &[u8]) -> Option<Arc<XfrCounters>> {
        self.zone(origin).map(|z| z.counters.clone())
    }

    /// IXFR over UDP (RFC 1995 §2): the changesets in one datagram of at
    /// most `limit` octets when the client may transfer the zone, the
    /// journal has them and they fit; `None` otherwise, and the query
    /// path then answers with our SOA (the client retries over TCP). A
    /// request whose TSIG fails also gets `None`: the query path answers
    /// it with the TSIG error.
    ///
    /// This is the query path: it takes no lock (the journal is read
    /// through its view) and, unsigned, allocates nothing (the answer is
    /// written straight into `out`).
    pub fn answer_ixfr_udp(
        &self,
        req: &Request<'_>,
        peer: SocketAddr,
        limit: usize,
        out: &mut [u8],
    ) -> Option<usize> {
        let client = client_serial(req)?;
        let mut signer = match tsig::check_request(&self.keys, req.message) {
            RequestAuth::Unsigned => None,
            RequestAuth::Signed(s) => Some(s),
            RequestAuth::Rejected(_) => return None,
        };
        let key = signer.as_ref().map(|s| s.key_name().to_owned());
        let version = self.zones.load().get(req.question.name)?.snapshot()?;
        let xfr = self.zone(version.origin())?;
        let requester = Requester {
            ip: peer.ip(),
            key: key.as_deref(),
            transport: Transport::Plain,
        };
        if xfr.acl.check(&requester).is_err() || !client.is_before(version.serial()) {
            return None;
        }
        let view = xfr.journal.as_ref()?.load();
        let changes = view
            .changes()
            .get(incremental(&view, &version, client).ok()?)?;
        let len = match signer.as_mut() {
            None => {
                let out = out.get_mut(..limit.min(out.len()))?;
                write_changes_udp(out, req, &version, changes)?
            }
            Some(s) => {
                let mut buf = vec![0u8; limit.saturating_sub(s.tsig_len())];
                let n = write_changes_udp(&mut buf, req, &version, changes)?;
                buf.truncate(n);
                s.sign_response(&mut buf).ok()?;
                out.get_mut(..buf.len())?.copy_from_slice(&buf);
                buf.len()
            }
        };
        XfrCounters::bump(&xfr.counters.ixfr_incremental);
        tracing::info!(%peer, zone = %name::display(version.origin()), from = %client, to = %version.serial(), "IXFR sent over UDP");
        Some(len)
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream<W: AsyncWrite + Unpin + Send>(
        &self,
        req: &Request<'_>,
        peer: SocketAddr,
        stream: &mut W,
        version: Arc<ZoneVersion>,
        kind: Kind,
        payload: Payload,
        mut signer: Option<SignedRequest>,
    ) -> Streamed {
        let started = Instant::now();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
        let id = req.id;
        let flags = flag::QR | flag::AA | (req.flags & 0x7800);
        let question = req
            .message
            .get(HEADER_LEN..req.question_end)
            .unwrap_or(&[])
            .to_vec();
        let serial = version.serial();
        // Room for the TSIG record each message gets (RFC 8945 §5.3.1).
        let reserve = signer.as_ref().map_or(0, |s| s.tsig_len());
        let incremental = matches!(payload, Payload::Changes(..));
        let packer = tokio::task::spawn_blocking(move || {
            let emit = |msg| tx.blocking_send(msg).is_ok();
            match payload {
                Payload::Zone => pack_zone(&version, id, flags, &question, reserve, emit),
                Payload::Changes(view, range) => {
                    let changes = view.changes().get(range).unwrap_or(&[]);
                    pack_changes(&version, changes, id, flags, &question, reserve, emit)
                }
            }
        });
        let mut messages = 0u32;
        let mut bytes = 0u64;
        let mut result = Ok(());
        while let Some(msg) = rx.recv().await {
            match send_signed(stream, msg, &mut signer).await {
                Ok(n) => bytes = bytes.saturating_add(n),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            messages = messages.saturating_add(1);
        }
        drop(rx);
        let records = packer.await.unwrap_or(0);
        let ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let what = match (kind, incremental) {
            (Kind::Axfr, _) => "AXFR",
            (Kind::Ixfr(_), true) => "IXFR (incremental)",
            (Kind::Ixfr(_), false) => "IXFR (full zone)",
        };
        match &result {
            Ok(()) => tracing::info!(
                %peer,
                zone = %name::display(req.question.name),
                %serial,
                records,
                messages,
                bytes,
                ms,
                "{what} sent"
            ),
            Err(e) => {
                tracing::warn!(%peer, zone = %name::display(req.question.name), error = %e, bytes, "{what} aborted")
            }
        }
        Streamed {
            result,
            records: u64::try_from(records).unwrap_or(u64::MAX),
            bytes,
            messages,
            ms,
        }
    }
}

/// The counter a transfer about to be streamed bumps once it is sent,
/// and what it sends, for the peer history.
fn tally<'c>(
    counters: &'c XfrCounters,
    payload: &Payload,
    kind: Kind,
    instead_of_ixfr: Option<FullReason>,
) -> (&'c AtomicU64, Sent) {
    match (payload, kind) {
        (Payload::Changes(_, range), _) => {
            let changesets = u32::try_from(range.len()).unwrap_or(u32::MAX);
            (&counters.ixfr_incremental, Sent::Incremental { changesets })
        }
        (Payload::Zone, Kind::Axfr) => {
            let instead_of_ixfr = None;
            (&counters.axfr, Sent::Full { instead_of_ixfr })
        }
        (Payload::Zone, Kind::Ixfr(_)) => (&counters.ixfr_full, Sent::Full { instead_of_ixfr }),
    }
}

/// The journal's view and where in it the changesets leading from
/// `client` to the version served are; or why the whole zone goes
/// instead.
fn changes_for(
    journal: Option<&JournalReader>,
    version: &ZoneVersion,
    client: Serial,
) -> Result<(Arc<JournalView>, Range<usize>), FullReason> {
    let view = journal.ok_or(FullReason::NoJournal)?.load_full();
    let range = incremental(&view, version, client)?;
    Ok((view, range))
}

/// Where in `journal` the changesets leading from `client` to exactly
/// the version served are, when it has them and they are smaller than
/// the zone (RFC 1995 §4 lets a server send the whole zone instead, and
/// then it is cheaper); else which of the two it is. The journal may
/// already hold a change that is not published yet (it is written
/// first); the chain is cut at the served serial. Allocates nothing (UDP
/// IXFR, on the query path, asks it too).
fn incremental(
    journal: &JournalView,
    version: &ZoneVersion,
    client: Serial,
) -> Result<Range<usize>, FullReason> {
    let missing = FullReason::HistoryMissing;
    let start = journal.index_of(client).ok_or(missing)?;
    let from_client = journal.changes().get(start..).ok_or(missing)?;
    let end = start
        + 1
        + from_client
            .iter()
            .position(|c| c.to_serial == version.serial())
            .ok_or(missing)?;
    let records: usize = journal
        .changes()
        .get(start..end)
        .ok_or(missing)?
        .iter()
        .map(|c| c.removed.len() + c.added.len() + 2)
        .sum();
    if records < version.record_count() {
        Ok(start..end)
    } else {
        Err(FullReason::ChangesLarger)
    }
}

/// An incremental answer in one message in `buf`: our SOA, the changes,
/// our SOA again (RFC 1995 §4); its length, or `None` when it does not fit.
fn write_changes_udp(
    buf: &mut [u8],
    req: &Request<'_>,
    version: &ZoneVersion,
    changes: &[Arc<Changeset>],
) -> Option<usize> {
    let mut w = new_message(buf, req);
    w.set_flags(w.flags() | flag::AA);
    w.start_section(Section::Answer);
    let soa = version.soa()?;
    let soa_rdata = soa.rdatas().next()?;
    let mut put = |owner: &[u8], t: u16, ttl: u32, rdata: &[u8]| {
        w.rrset(Owner::Name(owner), t, ttl, std::iter::once(rdata))
            .is_ok()
    };
    let mut fits = put(version.origin(), rtype::SOA, soa.ttl(), soa_rdata);
    for r in changes_records(changes) {
        fits = fits && put(&r.owner, r.rtype, r.ttl, &r.rdata);
    }
    fits = fits && put(version.origin(), rtype::SOA, soa.ttl(), soa_rdata);
    fits.then(|| w.finish())
}

/// The records of an incremental answer between the two copies of the new
/// SOA (RFC 1995 §4): for each changeset the old SOA, the records
/// removed, the new SOA, the records added.
fn changes_records(changes: &[Arc<Changeset>]) -> impl Iterator<Item = &Record> {
    changes.iter().flat_map(|c| {
        std::iter::once(&c.old_soa)
            .chain(c.removed.iter())
            .chain(std::iter::once(&c.new_soa))
            .chain(c.added.iter())
    })
}

/// The serial in the SOA of an IXFR request's authority section
/// (RFC 1995 §3). Its names may be compressed, so they are skipped, not
/// read.
fn client_serial(req: &Request<'_>) -> Option<Serial> {
    let msg = req.message;
    let count = |i: usize| {
        Some(u16::from_be_bytes([
            *msg.get(4 + 2 * i)?,
            *msg.get(5 + 2 * i)?,
        ]))
    };
    if count(2)? == 0 {
        return None;
    }
    let mut pos = req.question_end;
    for _ in 0..count(1)? {
        pos = skip_record(msg, pos)?;
    }
    pos = skip_name(msg, pos)?;
    let rr_type = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    if rr_type != rtype::SOA {
        return None;
    }
    let rdata_start = pos + 10;
    let at = skip_name(msg, skip_name(msg, rdata_start)?)?;
    serial_at(msg, at)
}

/// The serial of an SOA that is the first record of the answer section
/// (the hint a NOTIFY may carry, RFC 1996 §3.7).
pub fn answer_soa_serial(req: &Request<'_>) -> Option<Serial> {
    let msg = req.message;
    let count = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    if count == 0 {
        return None;
    }
    let pos = skip_name(msg, req.question_end)?;
    let rr_type = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    if rr_type != rtype::SOA {
        return None;
    }
    let at = skip_name(msg, skip_name(msg, pos + 10)?)?;
    serial_at(msg, at)
}

/// The SOA serial field at `at` of a message.
fn serial_at(msg: &[u8], at: usize) -> Option<Serial> {
    let b = msg.get(at..at.checked_add(4)?)?;
    Some(Serial(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
}

fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => pos += 1 + len as usize,
            0xc0..=0xff => return Some(pos + 2),
            _ => return None,
        }
    }
}

fn skip_record(msg: &[u8], pos: usize) -> Option<usize> {
    let pos = skip_name(msg, pos)?;
    let rdlen = u16::from_be_bytes([*msg.get(pos + 8)?, *msg.get(pos + 9)?]) as usize;
    Some(pos + 10 + rdlen)
}

/// A single answer (an error, signed when the request was), sent.
async fn answer<W: AsyncWrite + Unpin>(
    stream: &mut W,
    msg: Vec<u8>,
    signer: &mut Option<SignedRequest>,
) -> std::io::Result<()> {
    send_signed(stream, msg, signer).await.map(drop)
}

/// RFC 1995 §2: the client is current: our SOA alone, sent and recorded
/// as served.
async fn current<W: AsyncWrite + Unpin>(
    stream: &mut W,
    req: &Request<'_>,
    version: &ZoneVersion,
    signer: &mut Option<SignedRequest>,
    ledger: &Ledger<'_>,
) -> std::io::Result<()> {
    let started = Instant::now();
    let sent = send_signed(stream, single_soa(req, version), signer).await;
    let streamed = Streamed {
        records: 1,
        bytes: sent.as_ref().map_or(0, |n| *n),
        messages: 1,
        ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        result: sent.map(drop),
    };
    ledger.record(streamed.outcome(version.serial(), Sent::Current));
    streamed.result
}

/// Signs `msg` when the request was signed, then sends it; the octets
/// written.
async fn send_signed<W: AsyncWrite + Unpin>(
    stream: &mut W,
    mut msg: Vec<u8>,
    signer: &mut Option<SignedRequest>,
) -> std::io::Result<u64> {
    if let Some(s) = signer {
        s.sign_response(&mut msg)
            .map_err(|e| std::io::Error::other(format!("TSIG signing failed: {e}")))?;
    }
    send(stream, &msg).await
}

/// Writes one framed message, flushed (TLS holds records back until
/// then); the octets written, the length prefix included.
async fn send<W: AsyncWrite + Unpin>(stream: &mut W, msg: &[u8]) -> std::io::Result<u64> {
    let len = u16::try_from(msg.len()).map_err(|_| std::io::Error::other("message too long"))?;
    let mut framed = Vec::with_capacity(2 + msg.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await?;
    stream.flush().await?;
    Ok(u64::try_from(framed.len()).unwrap_or(u64::MAX))
}

fn new_message<'b>(buf: &'b mut [u8], req: &Request<'_>) -> MessageWriter<'b> {
    let mut w = MessageWriter::new(buf, crate::wire::MAX_MESSAGE);
    w.header(req.id, flag::QR | (req.flags & 0x7800));
    let _ = w.question(req.message.get(HEADER_LEN..req.question_end).unwrap_or(&[]));
    w
}

fn error_response(req: &Request<'_>, rc: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 512 + req.question_end];
    let mut w = new_message(&mut buf, req);
    w.set_rcode(rc);
    let n = w.finish();
    buf.truncate(n);
    buf
}

/// RFC 1995 §2: the client is up to date: our SOA alone.
fn single_soa(req: &Request<'_>, version: &ZoneVersion) -> Vec<u8> {
    let mut buf = vec![0u8; crate::wire::MAX_MESSAGE];
    let mut w = new_message(&mut buf, req);
    w.set_flags(w.flags() | flag::AA);
    if let Some(soa) = version.soa() {
        w.start_section(Section::Answer);
        let _ = w.rrset(
            Owner::Pointer(w.qname_offset()),
            rtype::SOA,
            soa.ttl(),
            soa.rdatas(),
        );
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

/// Packs the whole zone as AXFR messages (RFC 5936 §2.2): the SOA first
/// and last, every other record (RRSIGs and glue included) in between,
/// each message as full as 64 KiB allows, the question in the first.
/// `reserve` octets are left free in each message (for a TSIG record).
/// `emit` returns false when the receiver is gone. Returns the number of
/// records sent.
pub fn pack_zone(
    version: &ZoneVersion,
    id: u16,
    flags: u16,
    question: &[u8],
    reserve: usize,
    emit: impl FnMut(Vec<u8>) -> bool,
) -> usize {
    pack_between_soas(
        version,
        id,
        flags,
        question,
        reserve,
        emit,
        |packer, emit| {
            let mut owner = Vec::with_capacity(name::MAX_NAME_LEN);
            for node in version.nodes_ahead() {
                node.name_into(&mut owner);
                let apex = node.has_flag(crate::zone::flags::APEX);
                for rrset in node.rrsets() {
                    if !(apex && rrset.rtype() == rtype::SOA) {
                        for rdata in rrset.rdatas() {
                            if !packer.record(&owner, rrset.rtype(), rrset.ttl(), rdata, emit) {
                                return false;
                            }
                        }
                    }
                    for rdata in rrset.sigs().iter().flat_map(|s| s.rdatas()) {
                        let ttl = rrset.sigs().map_or(0, |s| s.ttl);
                        if !packer.record(&owner, rtype::RRSIG, ttl, rdata, emit) {
                            return false;
                        }
                    }
                }
            }
            true
        },
    )
}

/// Packs an incremental IXFR answer (RFC 1995 §4) like [`pack_zone`]:
/// our SOA, the changesets, our SOA again. Returns the records sent.
pub fn pack_changes(
    version: &ZoneVersion,
    changes: &[Arc<Changeset>],
    id: u16,
    flags: u16,
    question: &[u8],
    reserve: usize,
    emit: impl FnMut(Vec<u8>) -> bool,
) -> usize {
    pack_between_soas(
        version,
        id,
        flags,
        question,
        reserve,
        emit,
        |packer, emit| {
            changes_records(changes)
                .all(|r| packer.record(&r.owner, r.rtype, r.ttl, &r.rdata, emit))
        },
    )
}

/// Our SOA, what `body` packs (false: the receiver is gone), our SOA
/// again, in messages of up to 64 KiB less `reserve`. Returns the records
/// sent.
fn pack_between_soas<E: FnMut(Vec<u8>) -> bool>(
    version: &ZoneVersion,
    id: u16,
    flags: u16,
    question: &[u8],
    reserve: usize,
    mut emit: E,
    body: impl FnOnce(&mut Packer<'_, '_>, &mut E) -> bool,
) -> usize {
    let mut buf = vec![0u8; crate::wire::MAX_MESSAGE];
    let mut names = NameTable::default();
    let mut packer = Packer {
        w: MessageWriter::with_table(
            &mut buf,
            crate::wire::MAX_MESSAGE - reserve.min(1024),
            &mut names,
        ),
        id,
        flags,
        question: Some(question),
        started: false,
        records: 0,
        origin: version.origin(),
        apex_at: None,
        last_owner: Vec::with_capacity(name::MAX_NAME_LEN),
        last_at: None,
    };
    let Some((ttl, soa)) = version
        .soa()
        .and_then(|s| Some((s.ttl(), s.rdatas().next()?)))
    else {
        return 0;
    };
    let origin = version.origin();
    let ok = packer.record(origin, rtype::SOA, ttl, soa, &mut emit)
        && body(&mut packer, &mut emit)
        && packer.record(origin, rtype::SOA, ttl, soa, &mut emit);
    if ok {
        packer.flush(&mut emit);
    }
    packer.records
}

/// Fills one message at a time with one writer, reset for each message
/// (so names compress within a message).
struct Packer<'b, 'q> {
    w: MessageWriter<'b>,
    id: u16,
    flags: u16,
    /// The question, until the first message has taken it.
    question: Option<&'q [u8]>,
    started: bool,
    records: usize,
    /// The zone's apex, and where it is written in the current message.
    origin: &'q [u8],
    apex_at: Option<u16>,
    /// The last owner written out, and where: the next records of the
    /// same node point to it.
    last_owner: Vec<u8>,
    last_at: Option<u16>,
}

impl Packer<'_, '_> {
    /// Adds a record, sending the message first when it is full. False
    /// when the receiver is gone.
    fn record(
        &mut self,
        owner: &[u8],
        t: u16,
        ttl: u32,
        rdata: &[u8],
        emit: &mut impl FnMut(Vec<u8>) -> bool,
    ) -> bool {
        for attempt in 0..2 {
            if !self.started {
                self.start();
            }
            // Owners are compressed by hand, against the previous owner or
            // the apex: the writer's general table is small and searched
            // linearly, which costs more than the rest of a record.
            let at = self.w.len();
            let encoded = match (self.last_at, self.apex_at) {
                (Some(p), _) if self.last_owner == owner => Owner::Pointer(p),
                (_, Some(apex))
                    if owner.len() > self.origin.len()
                        && name::is_subdomain(owner, self.origin) =>
                {
                    Owner::Prefixed(&owner[..owner.len() - self.origin.len()], apex)
                }
                _ => Owner::Name(owner),
            };
            if self
                .w
                .rrset(encoded, t, ttl, std::iter::once(rdata))
                .is_ok()
            {
                self.records += 1;
                if !matches!(encoded, Owner::Pointer(_)) {
                    self.last_owner.clear();
                    self.last_owner.extend_from_slice(owner);
                    self.last_at = u16::try_from(at).ok().filter(|&a| a <= 0x3fff);
                }
                if self.apex_at.is_none() {
                    self.apex_at = self.w.find_name(self.origin);
                }
                return true;
            }
            if attempt == 0 && self.w.count(Section::Answer) > 0 {
                if !self.flush(emit) {
                    return false;
                }
            } else {
                break;
            }
        }
        tracing::error!(owner = %name::display(owner), rtype = t, "record too large for a transfer message; skipped");
        true
    }

    fn start(&mut self) {
        self.w.header(self.id, self.flags);
        self.apex_at = None;
        self.last_at = None;
        if let Some(q) = self.question.take() {
            if self.w.question(q).is_ok()
                && name::is_subdomain(q, self.origin)
                && name::wire_len(q) == Some(self.origin.len())
            {
                // The question's name is the apex (RFC 5936 §2.2.1).
                self.apex_at = Some(self.w.qname_offset());
            }
        }
        self.w.start_section(Section::Answer);
        self.started = true;
    }

    fn flush(&mut self, emit: &mut impl FnMut(Vec<u8>) -> bool) -> bool {
        if !self.started {
            return true;
        }
        self.started = false;
        let n = self.w.finish();
        emit(self.w.message()[..n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Journal, JournalLimits};
    use crate::name::test_wire as wire_name;
    use crate::zone::{Zone, ZoneTable};

    use std::sync::{mpsc as std_mpsc, Mutex};
    use std::time::Duration;

    fn version(serial: u32, www: &str) -> ZoneVersion {
        crate::zone::test_version(
            "example.com",
            &format!(
                "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 host {serial} 7200 900 1209600 60\n\
                 @ NS ns1\nns1 A 192.0.2.1\nwww A {www}\na A 192.0.2.2\nb A 192.0.2.3\n"
            ),
        )
    }

    /// An IXFR query for example.com from serial `client`.
    fn ixfr_query(client: u32) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.extend(wire_name("example.com"));
        m.extend(rtype::IXFR.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m.extend([0xc0, 12]);
        m.extend(rtype::SOA.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m.extend(0u32.to_be_bytes());
        m.extend(22u16.to_be_bytes());
        m.extend([0, 0]); // MNAME and RNAME: the root
        m.extend(client.to_be_bytes());
        m.extend([0u8; 16]);
        m
    }

    /// A primary of example.com serving `serving`, its journal (when
    /// kept) holding the changes from serial 1 on; transfers allowed from
    /// 127.0.0.0/8 and with xfr-key from anywhere.
    struct Primary {
        transfers: Transfers,
        peers: Arc<ZonePeers>,
        /// Its news of transfers served (nobody listens unless a test
        /// subscribes).
        news: broadcast::Sender<PeerNews>,
        /// Kept for the reader's sake, and its file removed at the end.
        journal: Option<(Journal, std::path::PathBuf)>,
    }

    impl Drop for Primary {
        fn drop(&mut self) {
            if let Some((_, dir)) = self.journal.take() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    const LOCAL: &str = "127.0.0.1:40000";
    const STRANGER: &str = "192.0.2.9:40000";

    fn xfr_key(secret: &str) -> crate::tsig::TsigKey {
        crate::tsig::TsigKey::from_config("xfr-key", "hmac-sha256", secret).unwrap()
    }

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyb2N0";

    fn www(serial: u32) -> String {
        format!("192.0.2.{}", 80 + serial)
    }

    fn primary(serving: Option<u32>, with_journal: bool) -> Primary {
        let zone = Arc::new(Zone::new(&wire_name("example.com")).unwrap());
        let mut journal = None;
        if let Some(serving) = serving {
            zone.publish(Arc::new(version(serving, &www(serving))));
        }
        if let (Some(serving), true) = (serving, with_journal) {
            let dir = std::env::temp_dir().join(format!(
                "zonesync-xfr-serve-{}-{}",
                std::process::id(),
                crate::wire::random_id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let (mut j, _) = Journal::open(&dir.join("j"), JournalLimits::default()).unwrap();
            for s in 1..serving {
                let change =
                    crate::journal::diff(&version(s, &www(s)), &version(s + 1, &www(s + 1)));
                j.append(&change).unwrap();
            }
            journal = Some((j, dir));
        }
        let peers = Arc::new(ZonePeers::new(Arc::new(crate::clock::SystemClock)));
        let rules = vec![
            crate::acl::TransferRule {
                from: Some("127.0.0.0/8".parse().unwrap()),
                ..Default::default()
            },
            crate::acl::TransferRule {
                key: Some("xfr-key".into()),
                ..Default::default()
            },
        ];
        let xfr = XfrZone {
            acl: TransferAcl::new(rules),
            journal: journal.as_ref().map(|(j, _)| j.reader()),
            counters: Arc::default(),
            peers: Some(peers.clone()),
        };
        let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(vec![zone])));
        let news = broadcast::channel(16).0;
        let transfers = Transfers::new(
            table,
            vec![(wire_name("example.com"), xfr)],
            Keys::new([xfr_key(SECRET)]).unwrap(),
            4,
        )
        .with_per_client_limit(1)
        .with_peer_news(news.clone());
        Primary {
            transfers,
            peers,
            news,
            journal,
        }
    }

    fn axfr_query() -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(wire_name("example.com"));
        m.extend(rtype::AXFR.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m
    }

    fn signed(mut query: Vec<u8>, key: &crate::tsig::TsigKey) -> Vec<u8> {
        crate::tsig::ClientSigner::sign_request(key, &mut query).unwrap();
        query
    }

    impl Primary {
        /// Asks `query` from `peer` over a stream; what came back.
        async fn ask(&self, query: &[u8], peer: &str) -> Vec<u8> {
            let req = crate::wire::parse_request(query).unwrap();
            let (mut ours, mut theirs) = tokio::io::duplex(1 << 20);
            let peer = peer.parse().unwrap();
            self.transfers
                .serve(&req, peer, Transport::Plain, &mut ours)
                .await
                .unwrap();
            drop(ours);
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut theirs, &mut got)
                .await
                .unwrap();
            got
        }

        /// The one event the history holds of `peer`: its request, key
        /// and outcome.
        fn only_transfer(&self, peer: &str) -> (XfrRequest, Option<Arc<str>>, XfrOutcome) {
            let ip = peer.parse::<SocketAddr>().unwrap().ip();
            let log = self.peers.peer(ip).expect("the peer is in the history");
            let events: Vec<&PeerEvent> = log.events().collect();
            assert_eq!(events.len(), 1, "one event per transfer: {events:?}");
            assert_eq!(log.last_transfer(), events.first().copied());
            match &events[0].what {
                PeerWhat::Transfer {
                    request,
                    key,
                    via,
                    outcome,
                } => {
                    assert_eq!(*via, Transport::Plain);
                    (*request, key.clone(), outcome.clone())
                }
                other => panic!("a transfer, not {other:?}"),
            }
        }
    }

    /// The RCODE of the first message of a framed stream.
    fn first_rcode(stream: &[u8]) -> u8 {
        stream[5] & 0x0f
    }

    #[tokio::test]
    async fn an_axfr_is_recorded_once_with_its_records_octets_and_messages() {
        let p = primary(Some(3), true);
        let got = p.ask(&axfr_query(), LOCAL).await;
        let (request, key, outcome) = p.only_transfer(LOCAL);
        assert_eq!((request, key), (XfrRequest::Axfr, None));
        match outcome {
            XfrOutcome::Served {
                serial,
                sent,
                records,
                bytes,
                messages,
                ..
            } => {
                assert_eq!(serial, Serial(3));
                assert_eq!(
                    sent,
                    Sent::Full {
                        instead_of_ixfr: None
                    }
                );
                assert_eq!(records, 7, "6 records, the SOA twice");
                assert_eq!(bytes, got.len() as u64, "every octet sent");
                assert_eq!(messages, 1);
            }
            other => panic!("served, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_ixfr_is_recorded_as_incremental_current_or_full_with_the_reason() {
        let cases = [
            (2, Sent::Incremental { changesets: 1 }),
            (3, Sent::Current),
            (
                1,
                Sent::Full {
                    instead_of_ixfr: Some(FullReason::ChangesLarger),
                },
            ),
            (
                0,
                Sent::Full {
                    instead_of_ixfr: Some(FullReason::HistoryMissing),
                },
            ),
        ];
        for (client, expected) in cases {
            let p = primary(Some(3), true);
            let got = p.ask(&ixfr_query(client), LOCAL).await;
            let (request, _, outcome) = p.only_transfer(LOCAL);
            assert_eq!(
                request,
                XfrRequest::Ixfr {
                    asked: Some(Serial(client))
                }
            );
            match outcome {
                XfrOutcome::Served {
                    serial,
                    sent,
                    bytes,
                    ..
                } => {
                    assert_eq!(serial, Serial(3));
                    assert_eq!(sent, expected, "IXFR from {client}");
                    assert_eq!(bytes, got.len() as u64);
                }
                other => panic!("IXFR from {client}: served, not {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_ixfr_of_a_zone_without_a_journal_is_recorded_as_full_for_that() {
        let p = primary(Some(3), false);
        p.ask(&ixfr_query(2), LOCAL).await;
        match p.only_transfer(LOCAL).2 {
            XfrOutcome::Served { sent, .. } => assert_eq!(
                sent,
                Sent::Full {
                    instead_of_ixfr: Some(FullReason::NoJournal)
                }
            ),
            other => panic!("served, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refusal_by_allow_transfer_is_recorded_with_its_reason() {
        let p = primary(Some(3), true);
        let got = p.ask(&axfr_query(), STRANGER).await;
        assert_eq!(first_rcode(&got), rcode::REFUSED as u8);
        let (_, key, outcome) = p.only_transfer(STRANGER);
        assert_eq!(key, None);
        // The rule with xfr-key came closest: it wants only the key.
        assert_eq!(outcome, XfrOutcome::Refused(crate::acl::Denial::Key));
        let log = p.peers.peer(STRANGER.parse::<SocketAddr>().unwrap().ip());
        assert!(
            log.is_some_and(|l| l.last_refusal().is_some()),
            "kept as the last refusal"
        );
    }

    #[tokio::test]
    async fn a_signed_transfer_is_recorded_with_its_key() {
        let p = primary(Some(3), true);
        let got = p
            .ask(&signed(axfr_query(), &xfr_key(SECRET)), STRANGER)
            .await;
        assert_eq!(first_rcode(&got), rcode::NOERROR as u8);
        let (_, key, outcome) = p.only_transfer(STRANGER);
        assert_eq!(key.as_deref(), Some("xfr-key"));
        assert!(matches!(outcome, XfrOutcome::Served { .. }), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_tsig_failure_is_recorded_with_its_error_and_the_key_presented() {
        let other = crate::tsig::TsigKey::from_config("other-key", "hmac-sha256", SECRET).unwrap();
        let cases = [
            (other, "BADKEY", "other-key"),
            (xfr_key("d3Jvbmc="), "BADSIG", "xfr-key"),
        ];
        for (key, error, name) in cases {
            let p = primary(Some(3), true);
            let got = p.ask(&signed(axfr_query(), &key), LOCAL).await;
            assert_eq!(first_rcode(&got), rcode::NOTAUTH as u8, "{error}");
            let (_, presented, outcome) = p.only_transfer(LOCAL);
            assert_eq!(presented.as_deref(), Some(name));
            assert_eq!(outcome, XfrOutcome::Tsig { error });
        }
    }

    #[tokio::test]
    async fn a_transfer_served_is_news_once_and_a_refusal_is_not() {
        let p = primary(Some(3), true);
        let mut news = p.news.subscribe();
        p.ask(&axfr_query(), LOCAL).await;
        let told = news.try_recv().expect("news of the AXFR served");
        assert_eq!(told.origin, wire_name("example.com"));
        assert_eq!(told.ip, LOCAL.parse::<SocketAddr>().unwrap().ip());
        assert!(news.try_recv().is_err(), "one piece of news per transfer");

        // An IXFR answered with our SOA alone: the peer has the zone.
        p.ask(&ixfr_query(3), "[::ffff:127.0.0.1]:40000").await;
        let told = news.try_recv().expect("news of the IXFR (current)");
        assert_eq!(told.ip, LOCAL.parse::<SocketAddr>().unwrap().ip(), "folded");

        for refused in [axfr_query(), signed(axfr_query(), &xfr_key("d3Jvbmc="))] {
            p.ask(&refused, STRANGER).await;
        }
        assert!(news.try_recv().is_err(), "no news of a refusal");
    }

    #[tokio::test]
    async fn a_transfer_of_a_zone_not_loaded_is_recorded() {
        let p = primary(None, false);
        let got = p.ask(&axfr_query(), LOCAL).await;
        assert_eq!(first_rcode(&got), rcode::SERVFAIL as u8);
        assert_eq!(p.only_transfer(LOCAL).2, XfrOutcome::NotLoaded);
    }

    #[tokio::test]
    async fn a_transfer_over_the_per_client_limit_is_recorded() {
        let p = primary(Some(3), true);
        let query = axfr_query();
        let req = crate::wire::parse_request(&query).unwrap();
        let peer: SocketAddr = LOCAL.parse().unwrap();
        // A client that does not read holds its one slot.
        let (mut slow, _unread) = tokio::io::duplex(16);
        let mut first = std::pin::pin!(p.transfers.serve(&req, peer, Transport::Plain, &mut slow));
        let held = tokio::time::timeout(Duration::from_millis(200), first.as_mut()).await;
        assert!(held.is_err(), "the first transfer is still sending");
        let got = p.ask(&query, LOCAL).await;
        assert_eq!(first_rcode(&got), rcode::SERVFAIL as u8);
        assert_eq!(
            p.only_transfer(LOCAL).2,
            XfrOutcome::OverLimit("transfer_limit_per_client")
        );
    }

    #[tokio::test]
    async fn a_transfer_cut_off_is_recorded_as_aborted() {
        let p = primary(Some(3), true);
        let query = axfr_query();
        let req = crate::wire::parse_request(&query).unwrap();
        let (mut ours, theirs) = tokio::io::duplex(1 << 16);
        drop(theirs);
        let peer: SocketAddr = LOCAL.parse().unwrap();
        let sent = p
            .transfers
            .serve(&req, peer, Transport::Plain, &mut ours)
            .await;
        assert!(sent.is_err(), "the stream was gone");
        match p.only_transfer(LOCAL).2 {
            XfrOutcome::Aborted { error, bytes } => {
                assert!(!error.is_empty());
                assert_eq!(bytes, 0);
            }
            other => panic!("aborted, not {other:?}"),
        }
    }

    #[test]
    fn a_udp_ixfr_is_answered_while_the_journal_writer_is_held() {
        let dir = std::env::temp_dir().join(format!("zonesync-xfr-udp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (v1, v2) = (version(1, "192.0.2.80"), version(2, "192.0.2.81"));
        let (mut journal, _) = Journal::open(&dir.join("j"), JournalLimits::default()).unwrap();
        journal.append(&crate::journal::diff(&v1, &v2)).unwrap();
        let reader = journal.reader();
        let journal = Arc::new(Mutex::new(journal));
        let zone = Arc::new(Zone::new(&wire_name("example.com")).unwrap());
        zone.publish(Arc::new(v2));
        let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(vec![zone])));
        let xfr = XfrZone {
            acl: TransferAcl::new(vec![crate::acl::TransferRule {
                from: Some("127.0.0.0/8".parse().unwrap()),
                ..Default::default()
            }]),
            journal: Some(reader),
            counters: Arc::default(),
            peers: None,
        };
        let transfers = Arc::new(Transfers::new(
            table,
            vec![(wire_name("example.com"), xfr)],
            Keys::default(),
            1,
        ));

        // A load holds the writer (as across an fsync) until told to stop.
        let (release, held) = std_mpsc::channel::<()>();
        let (locked, is_locked) = std_mpsc::channel::<()>();
        let writer = {
            let journal = journal.clone();
            std::thread::spawn(move || {
                let _guard = journal.lock().unwrap();
                locked.send(()).unwrap();
                let _ = held.recv_timeout(Duration::from_secs(30));
            })
        };
        is_locked.recv_timeout(Duration::from_secs(5)).unwrap();
        let (done, answered) = std_mpsc::channel();
        {
            let transfers = transfers.clone();
            std::thread::spawn(move || {
                let q = ixfr_query(1);
                let req = crate::wire::parse_request(&q).unwrap();
                let mut out = vec![0u8; 65_535];
                let peer: SocketAddr = "127.0.0.1:5353".parse().unwrap();
                let n = transfers.answer_ixfr_udp(&req, peer, 1232, &mut out);
                let _ = done.send(n.map(|n| out[..n].to_vec()));
            });
        }
        let answer = answered.recv_timeout(Duration::from_secs(5));
        release.send(()).unwrap();
        writer.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let answer = answer
            .expect("the UDP IXFR waited for the journal writer")
            .expect("an incremental answer");
        // SOA 2, SOA 1, www 80 removed, SOA 2, www 81 added, SOA 2.
        assert_eq!(&answer[..2], &[0xab, 0xcd]);
        assert_eq!(
            u16::from_be_bytes([answer[6], answer[7]]),
            6,
            "answer count"
        );
        assert_eq!(
            transfers
                .counters(&wire_name("example.com"))
                .unwrap()
                .ixfr_incremental
                .load(Ordering::Relaxed),
            1
        );
    }
}
