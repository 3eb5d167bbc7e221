//! Answering queries from the zone store (RFC 1034 §4.3.2, RFC 2308,
//! RFC 4592, RFC 6672, RFC 6891, RFC 8482).
//!
//! [`Answerer::answer`] turns one request into one response in a caller's
//! buffer. It allocates nothing and takes no lock: the zone table and each
//! zone's current version are read through `arc_swap` guards, so a reload
//! or transfer publishing a new version never blocks a query.

pub mod cookie;
mod lookup;
pub mod rrl;
mod stats;

pub use stats::QueryStats;

use crate::name::KeyBuf;
use crate::peers::SoaSightings;
use crate::serial::Serial;
use crate::tsig::{self, Keys, RequestAuth};
use crate::wire::{
    self, flag, opcode, option, parse_request, rcode, MessageWriter, ParseError, Request,
};
use crate::xfr::Transfers;
use crate::zone::{rtype, SharedZoneTable};
use std::net::SocketAddr;
use std::sync::Arc;

/// How a request arrived; decides the size limit of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Where a request came from and how it was authenticated: what NOTIFY
/// (and IXFR over UDP) need beyond the message.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    transport: Transport,
    peer: Option<SocketAddr>,
    /// The TSIG key the request was verified with.
    key: Option<&'a str>,
    /// Its COOKIE option judged (none with cookies off, or without the
    /// peer's address).
    cookie: Option<cookie::Judged>,
}

/// What the server does with a NOTIFY (RFC 1996) for a zone it serves.
pub trait NotifyListener: Send + Sync {
    /// A NOTIFY for the zone with apex `zone` (wire format) from `peer`,
    /// verified with TSIG `key` if signed, carrying `serial` (the SOA in
    /// its answer section) if any. Must not block: queue and return.
    fn notify(
        &self,
        zone: &[u8],
        peer: Option<SocketAddr>,
        key: Option<&str>,
        serial: Option<Serial>,
    ) -> NotifyVerdict;

    /// A NOTIFY(CSYNC) (RFC 9859) for the child `child` (wire format) of
    /// the zone with apex `parent`: a hint that the child published a new
    /// CSYNC, so its parental agent may scan it. Must not block.
    fn notify_csync(&self, parent: &[u8], child: &[u8], peer: Option<SocketAddr>) -> NotifyVerdict {
        let _ = (parent, child, peer);
        NotifyVerdict::Refused
    }
}

/// Where the query path reports what the replication doctor needs of a
/// peer beyond its SOA sightings (`peers::SoaSightings`).
pub trait PeerLog: Send + Sync {
    /// A signed query (opcode QUERY) from `peer` for a name in the zone
    /// with apex `zone` (wire format) failed TSIG with `error` (BADKEY,
    /// BADSIG, BADTIME…); `key`: the key name it presented. Only the
    /// signed path calls it (which allocates already); it must not block.
    fn tsig_failed(&self, zone: &[u8], peer: SocketAddr, error: &'static str, key: Option<&str>);
}

/// What the server does with an UPDATE (RFC 2136).
pub trait UpdateListener: Send + Sync {
    /// Takes the UPDATE `request` from `peer`. Must not block: the answer
    /// goes to `reply` once the change is durable, or refused.
    fn update(&self, request: &[u8], peer: SocketAddr, reply: Box<dyn FnOnce(Vec<u8>) + Send>);
}

/// The answer to a NOTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyVerdict {
    /// Accepted: NOERROR (RFC 1996 §4.7).
    Accepted,
    /// Not from a primary or an `allow_notify` rule: REFUSED.
    Refused,
    /// Not a zone we are secondary for: NOTAUTH.
    NotSecondary,
}

/// Settings of the query path.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// The EDNS UDP payload size we offer and the most we send
    /// (RFC 6891 §6.2.5; 1232 avoids IP fragmentation, DNS Flag Day 2020).
    pub edns_udp_max: u16,
    /// NSID (RFC 5001) sent to clients that ask for it.
    pub nsid: Option<Box<[u8]>>,
    /// DNS COOKIE (RFC 7873, RFC 9018) with this server secret; none: the
    /// COOKIE option is ignored like any unknown option.
    pub cookies: Option<cookie::Secret>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            edns_udp_max: 1232,
            nsid: None,
            cookies: None,
        }
    }
}

/// The lookups of a batch of UDP queries being fetched into the cache
/// ([`Answerer::warm`]), allocated once per worker. The versions they
/// read are held once per batch, not once per query: a reference count
/// changed by every query would be a cache line that all workers write.
pub struct WarmBatch {
    /// The distinct zone versions of the batch (mostly one).
    versions: Vec<Arc<crate::zone::ZoneVersion>>,
    /// Each lookup: its version in `versions`, its path.
    paths: Vec<(usize, crate::zone::index::PathPrefetch)>,
}

impl WarmBatch {
    /// Room for `queries` lookups without allocating.
    pub fn new(queries: usize) -> WarmBatch {
        WarmBatch {
            versions: Vec::with_capacity(queries),
            paths: Vec::with_capacity(queries),
        }
    }

    /// Fetches the next level of every lookup's path.
    pub fn step(&mut self) {
        for (at, path) in &mut self.paths {
            if let Some(version) = self.versions.get(*at) {
                version.prefetch_step(path);
            }
        }
    }

    /// Lets the versions go: an idle worker must not keep a replaced
    /// version in memory.
    pub fn clear(&mut self) {
        self.paths.clear();
        self.versions.clear();
    }
}

/// Answers queries; shared by all listener threads.
pub struct Answerer {
    zones: Arc<SharedZoneTable>,
    keys: Arc<Keys>,
    /// For incremental IXFR over UDP; none: IXFR over UDP gets our SOA.
    transfers: Option<Arc<Transfers>>,
    /// For NOTIFY in; none: NOTIFY gets NOTIMP.
    notify: Option<Arc<dyn NotifyListener>>,
    /// For UPDATE; none: UPDATE gets NOTIMP.
    updates: Option<Arc<dyn UpdateListener>>,
    config: QueryConfig,
    stats: Arc<QueryStats>,
    /// Response rate limiting of UDP answers; none when off.
    rrl: Option<rrl::Rrl>,
    /// When each peer last asked a zone's SOA (or IXFR over UDP); none:
    /// not kept.
    sightings: Option<Arc<SoaSightings>>,
    /// Where signed queries failing TSIG are reported; none: logged only.
    peer_log: Option<Arc<dyn PeerLog>>,
}

/// QCLASS `*` (RFC 1035 §3.2.5).
const CLASS_ANY: u16 = 255;

/// Largest response over UDP without EDNS (RFC 1035 §4.2.1).
const UDP_PLAIN_MAX: usize = 512;

impl Answerer {
    pub fn new(zones: Arc<SharedZoneTable>, config: QueryConfig, stats: Arc<QueryStats>) -> Self {
        Answerer {
            zones,
            keys: Arc::new(Keys::default()),
            transfers: None,
            notify: None,
            updates: None,
            config,
            stats,
            rrl: None,
            sightings: None,
            peer_log: None,
        }
    }

    /// Keeps when each peer asks a zone's SOA at its apex, or IXFR over
    /// UDP, in `sightings` (the server's one table).
    pub fn with_sightings(mut self, sightings: Arc<SoaSightings>) -> Self {
        self.sightings = Some(sightings);
        self
    }

    /// Reports signed queries that fail TSIG to `log`, by zone and peer.
    pub fn with_peer_log(mut self, log: Arc<dyn PeerLog>) -> Self {
        self.peer_log = Some(log);
        self
    }

    /// Limits the rate of UDP answers (`[rrl]`).
    pub fn with_rrl(mut self, rrl: rrl::Rrl) -> Self {
        self.rrl = Some(rrl);
        self
    }

    /// TSIG keys for signed queries.
    pub fn with_keys(mut self, keys: Arc<Keys>) -> Self {
        self.keys = keys;
        self
    }

    /// The transfer responder, for IXFR over UDP.
    pub fn with_transfers(mut self, transfers: Arc<Transfers>) -> Self {
        self.transfers = Some(transfers);
        self
    }

    /// Where NOTIFYs go.
    pub fn with_notify(mut self, listener: Arc<dyn NotifyListener>) -> Self {
        self.notify = Some(listener);
        self
    }

    /// Where UPDATEs go.
    pub fn with_updates(mut self, listener: Arc<dyn UpdateListener>) -> Self {
        self.updates = Some(listener);
        self
    }

    /// Whether `msg` is an UPDATE request to hand to
    /// [`update`](Self::update) rather than answer here: it waits for a
    /// disk, so it is answered later, from elsewhere.
    pub fn takes_update(&self, msg: &[u8]) -> bool {
        self.updates.is_some()
            && msg.len() >= 12
            && msg
                .get(2)
                .is_some_and(|b| b & 0x80 == 0 && (b >> 3) & 0x0f == opcode::UPDATE)
    }

    /// Starts bringing what an answer to `msg` will read into the cache:
    /// the lookup path of its name in the zone that serves it. Nothing
    /// when there is nothing to look up (not a query for a name we serve),
    /// or when `batch` is full. The UDP workers warm a whole batch before
    /// answering it.
    pub fn warm(&self, msg: &[u8], batch: &mut WarmBatch) {
        let Some(req) = parse_request(msg).ok() else {
            return;
        };
        let Some(qkey) = KeyBuf::new(req.question.name) else {
            return;
        };
        let table = self.zones.load();
        let Some(current) = table.find(&qkey).map(|zone| zone.current()) else {
            return;
        };
        let Some(version) = current.as_ref() else {
            return;
        };
        if batch.paths.len() == batch.paths.capacity() {
            return;
        }
        let at = match batch.versions.iter().position(|v| Arc::ptr_eq(v, version)) {
            Some(at) => at,
            None if batch.versions.len() < batch.versions.capacity() => {
                batch.versions.push(version.clone());
                batch.versions.len() - 1
            }
            None => return,
        };
        batch
            .paths
            .push((at, version.prefetch_start(qkey.as_slice())));
    }

    /// Hands an UPDATE request to the server; its answer goes to `reply`.
    pub fn update(&self, msg: &[u8], peer: SocketAddr, reply: Box<dyn FnOnce(Vec<u8>) + Send>) {
        if let Some(listener) = &self.updates {
            listener.update(msg, peer, reply);
        }
    }

    pub fn stats(&self) -> &QueryStats {
        &self.stats
    }

    /// Answers `msg` into `out` (which should hold 65535 octets); returns
    /// the response length, or `None` when the request is to be dropped.
    pub fn answer(&self, msg: &[u8], transport: Transport, out: &mut [u8]) -> Option<usize> {
        self.answer_from(msg, transport, None, out)
    }

    /// [`answer`](Self::answer) for a request from `peer`, which IXFR over
    /// UDP needs (the transfer ACL).
    pub fn answer_from(
        &self,
        msg: &[u8],
        transport: Transport,
        peer: Option<SocketAddr>,
        out: &mut [u8],
    ) -> Option<usize> {
        self.answer_parsed(msg, parse_request(msg), transport, peer, out)
    }

    /// A request over TCP from `peer`, parsed once: a zone transfer is
    /// handed back for the caller to stream; anything else is answered
    /// into `out`.
    pub fn answer_tcp<'m>(&self, msg: &'m [u8], peer: SocketAddr, out: &mut [u8]) -> TcpAnswer<'m> {
        if self.takes_update(msg) {
            return TcpAnswer::Update;
        }
        let parsed = parse_request(msg);
        if let Ok(req) = &parsed {
            if crate::xfr::Transfers::is_transfer(req) {
                return TcpAnswer::Transfer(*req);
            }
        }
        match self.answer_parsed(msg, parsed, Transport::Tcp, Some(peer), out) {
            Some(n) => TcpAnswer::Answered(n),
            None => TcpAnswer::Dropped,
        }
    }

    fn answer_parsed(
        &self,
        msg: &[u8],
        parsed: Result<Request<'_>, ParseError>,
        transport: Transport,
        peer: Option<SocketAddr>,
        out: &mut [u8],
    ) -> Option<usize> {
        let req = match parsed {
            Ok(req) => req,
            Err(ParseError::Drop(reason)) => {
                self.stats.count_dropped();
                tracing::debug!(reason, "request dropped");
                return None;
            }
            Err(ParseError::FormErr {
                id,
                flags,
                reason,
                question_end,
            }) => {
                self.stats.count_malformed();
                tracing::debug!(reason, "malformed request: FORMERR");
                return Some(formerr(msg, id, flags, question_end, out));
            }
            Err(ParseError::NotImp { id, flags, opcode }) => {
                self.stats.count_rcode(rcode::NOTIMP);
                tracing::debug!(opcode, "opcode not implemented: NOTIMP");
                return Some(notimp(id, flags, out));
            }
        };
        let cookie = self.judge_cookie(&req, peer);
        let bad_option = req.edns.and_then(|e| e.bad_option);
        if transport == Transport::Udp
            && req.opcode() == opcode::QUERY
            && req.question.qtype == rtype::IXFR
        {
            // An ask, however it is answered (the changes, or our SOA).
            self.sight_ixfr(&req, peer);
        }
        let ixfr_udp = match (&self.transfers, peer) {
            (Some(t), Some(peer))
                if transport == Transport::Udp
                    && req.opcode() == opcode::QUERY
                    && req.question.qtype == rtype::IXFR
                    && bad_option.is_none()
                    && cookie.is_none_or(|c| c.verdict != cookie::Verdict::Malformed) =>
            {
                t.answer_ixfr_udp(&req, peer, self.udp_limit(&req), out)
            }
            _ => None,
        };
        let origin = Origin {
            transport,
            peer,
            key: None,
            cookie,
        };
        let len = if let Some(len) = ixfr_udp {
            len
        } else if req.tsig {
            self.respond_signed(&req, origin, out)?
        } else {
            let (len, source) = self.respond(&req, origin, out, 0);
            match (&self.rrl, peer) {
                (Some(rrl), Some(peer)) if transport == Transport::Udp => {
                    self.rate_limit(rrl, &req, origin, peer, source, out, len)?
                }
                _ => len,
            }
        };
        let flags = u16::from_be_bytes([out[2], out[3]]);
        self.stats.count_rcode(flags & 0x0f);
        if flags & flag::TC != 0 {
            self.stats.count_truncated();
        }
        Some(len)
    }

    /// The request's COOKIE option judged, and counted; none when cookies
    /// are off or the client's address is unknown (the cookie is bound to
    /// it).
    fn judge_cookie(&self, req: &Request<'_>, peer: Option<SocketAddr>) -> Option<cookie::Judged> {
        let secret = self.config.cookies.as_ref()?;
        let peer = peer?;
        let judged = match req.cookie() {
            Some(option) => secret.judge(option, peer.ip(), unix_time()),
            None => cookie::Judged {
                verdict: cookie::Verdict::None,
                reply: None,
            },
        };
        self.stats.count_cookie(judged.verdict);
        Some(judged)
    }

    /// A request with a TSIG record (RFC 8945 §5.2): verified, and the
    /// answer signed; a failed check gets the error answer the RFC asks
    /// for. Only signed requests take this path, and it allocates.
    fn respond_signed(
        &self,
        req: &Request<'_>,
        origin: Origin<'_>,
        out: &mut [u8],
    ) -> Option<usize> {
        match tsig::check_request(&self.keys, req.message) {
            RequestAuth::Unsigned => Some(self.respond(req, origin, out, 0).0),
            RequestAuth::Rejected(failure) => {
                tracing::info!(error = failure.rcode_name(), "TSIG check of a query failed");
                self.report_tsig_failure(req, origin.peer, &failure);
                let response = failure.response()?;
                // The error answer echoes the request's question and TSIG
                // record (RFC 8945 §5.3.2), and can outgrow what UDP may
                // carry (found by the `answer` fuzz target): then TC=1,
                // so the client asks again over TCP.
                if origin.transport == Transport::Udp && response.len() > self.udp_limit(req) {
                    let rcode = u16::from(*response.get(3)?) & 0x0f;
                    return Some(truncated(req, rcode, out));
                }
                let slot = out.get_mut(..response.len())?;
                slot.copy_from_slice(response);
                Some(response.len())
            }
            RequestAuth::Signed(mut signer) => {
                let key = signer.key_name().to_owned();
                let origin = Origin {
                    key: Some(&key),
                    ..origin
                };
                let (len, _) = self.respond(req, origin, out, signer.tsig_len());
                let mut signed = out.get(..len)?.to_vec();
                if let Err(e) = signer.sign_response(&mut signed) {
                    tracing::warn!(error = %e, "TSIG signing of an answer failed");
                    return None;
                }
                let slot = out.get_mut(..signed.len())?;
                slot.copy_from_slice(&signed);
                Some(signed.len())
            }
        }
    }

    /// Writes the response; `reserve` octets of the size limit are kept
    /// free (for a TSIG record). Returns its length, and the zone version
    /// it came from when it came from a zone we serve.
    fn respond(
        &self,
        req: &Request<'_>,
        origin: Origin<'_>,
        out: &mut [u8],
        reserve: usize,
    ) -> (usize, Option<Source>) {
        let limit = match origin.transport {
            Transport::Tcp => wire::MAX_MESSAGE,
            Transport::Udp => self.udp_limit(req),
        };
        let mut w = MessageWriter::new(
            out,
            limit.saturating_sub(reserve).max(wire::HEADER_LEN + 300),
        );
        w.header(req.id, response_flags(req.flags));
        let nsid = match (&self.config.nsid, req.edns) {
            (Some(nsid), Some(e)) if e.nsid => Some(&nsid[..]),
            _ => None,
        };
        // RFC 7314: EXPIRE for a zone we serve, when asked (in a message
        // whose question we understand).
        let expire = req
            .edns
            .filter(|e| e.expire && opcode::is_implemented(req.opcode()))
            .and_then(|_| self.expire_of(req.question.name));
        // RFC 9660: room for ZONEVERSION whenever it is asked; whether an
        // answer carries it is known only once `dispatch` has found the
        // zone. Answers without it (REFUSED, SERVFAIL, …) are header and
        // question only, so the 10 octets kept free never cost them data.
        let zoneversion_asked = req.edns.is_some_and(|e| e.zoneversion);
        // RFC 7873 §5.2.3-§5.2.5: every answer to a request with a
        // well-formed COOKIE carries the client cookie and a server cookie.
        let cookie = origin.cookie.and_then(|c| c.reply);
        let opt_len = 11
            + nsid.map_or(0, |n| 4 + n.len())
            + expire.map_or(0, |_| 8)
            + if zoneversion_asked {
                ZONEVERSION_LEN
            } else {
                0
            }
            + cookie.map_or(0, |c| 4 + c.len());
        if req.edns.is_some() {
            w.reserve(opt_len);
        }
        // The question always fits: it came in a message of at most 512
        // octets over UDP, or of any size over TCP.
        let source = if w
            .question(&req.message[wire::HEADER_LEN..req.question_end])
            .is_err()
        {
            w.set_rcode(rcode::FORMERR);
            None
        } else {
            self.dispatch(req, origin, &mut w)
        };
        let Some(edns) = req.edns else {
            return (w.finish(), source);
        };
        w.release(opt_len);
        let ext = if bad_version(req) {
            (rcode::BADVERS >> 4) as u8
        } else {
            0
        };
        let mut options: [(u16, &[u8]); 4] = [(0, &[]); 4];
        let mut n = 0;
        if let Some(id) = nsid {
            options[n] = (option::NSID, id);
            n += 1;
        }
        let expire_bytes = expire.unwrap_or(0).to_be_bytes();
        if expire.is_some() {
            options[n] = (option::EXPIRE, &expire_bytes);
            n += 1;
        }
        let zoneversion_bytes = source.map_or([0; 6], |s| s.zoneversion());
        if zoneversion_asked && source.is_some() {
            options[n] = (option::ZONEVERSION, &zoneversion_bytes);
            n += 1;
        }
        if let Some(c) = &cookie {
            options[n] = (option::COOKIE, c);
            n += 1;
        }
        let _ = w.opt(self.config.edns_udp_max, ext, edns.dnssec_ok, &options[..n]);
        (w.finish(), source)
    }

    /// Response rate limiting of an unsigned UDP answer of `len` octets in
    /// `out`: its length as it goes out (cut back to the question with
    /// TC=1 when it slips), or `None` to drop it. A client with a valid
    /// server cookie has proved its address and is not limited.
    #[allow(clippy::too_many_arguments)]
    fn rate_limit(
        &self,
        rrl: &rrl::Rrl,
        req: &Request<'_>,
        origin: Origin<'_>,
        peer: SocketAddr,
        source: Option<Source>,
        out: &mut [u8],
        len: usize,
    ) -> Option<usize> {
        if req.opcode() != opcode::QUERY
            || origin
                .cookie
                .is_some_and(|c| c.verdict == cookie::Verdict::Valid)
        {
            return Some(len);
        }
        let (class, labels) = classify(out.get(..len)?, source);
        match rrl.judge(peer.ip(), class, req.question.name, labels) {
            rrl::Action::Send => Some(len),
            rrl::Action::Drop => {
                self.stats.count_rrl(class, rrl::Action::Drop);
                None
            }
            rrl::Action::Slip => {
                self.stats.count_rrl(class, rrl::Action::Slip);
                Some(slip(out, req.question_end))
            }
        }
    }

    /// The EXPIRE value (RFC 7314 §4) for the zone at or above `qname`: a
    /// secondary's seconds left, a primary's SOA EXPIRE.
    fn expire_of(&self, qname: &[u8]) -> Option<u32> {
        let key = KeyBuf::new(qname)?;
        let table = self.zones.load();
        let zone = table.find(&key)?;
        let version = zone.current();
        let version = version.as_deref()?;
        match zone.expires_at() {
            0 => version
                .soa()
                .and_then(|s| s.rdatas().next())
                .and_then(|r| crate::zone::soa_field(r, 3)),
            at => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                Some(u32::try_from(at.saturating_sub(now)).unwrap_or(u32::MAX))
            }
        }
    }

    /// The largest UDP response to `req` (RFC 6891 §6.2.5).
    fn udp_limit(&self, req: &Request<'_>) -> usize {
        match req.edns {
            None => UDP_PLAIN_MAX,
            Some(e) => (e.udp_size.min(self.config.edns_udp_max) as usize).max(UDP_PLAIN_MAX),
        }
    }

    /// Writes the body of the response; returns the zone version the
    /// answer was generated from, when it came from a zone we serve.
    fn dispatch(
        &self,
        req: &Request<'_>,
        origin: Origin<'_>,
        w: &mut MessageWriter<'_>,
    ) -> Option<Source> {
        let transport = origin.transport;
        // RFC 8906 §3.1.4: an opcode we do not implement is NOTIMP, before
        // anything else of the request is judged (EDNS included).
        if !opcode::is_implemented(req.opcode()) {
            w.set_rcode(rcode::NOTIMP);
            return None;
        }
        if bad_version(req) {
            // RFC 6891 §6.1.3: BADVERS = 16, upper bits in the OPT.
            w.set_rcode(rcode::BADVERS & 0x0f);
            return None;
        }
        if let Some(e) = req.edns {
            let bad_cookie = origin
                .cookie
                .is_some_and(|c| c.verdict == cookie::Verdict::Malformed)
                .then_some("COOKIE of a length RFC 7873 §5.2.2 forbids");
            if let Some(reason) = e.bad_option.or(bad_cookie) {
                // RFC 6891 §7: a format error in the OPT record itself is
                // answered FORMERR with an OPT, so the client can tell it
                // from a server without EDNS.
                self.stats.count_malformed();
                tracing::debug!(reason, "malformed EDNS option: FORMERR");
                w.set_rcode(rcode::FORMERR);
                return None;
            }
        }
        if req.opcode() == opcode::NOTIFY {
            self.notify_in(req, origin, w);
            return None;
        }
        let q = req.question;
        // QCLASS * matches IN, the only class we serve (RFC 1035 §3.2.5).
        if q.qclass != wire::CLASS_IN && q.qclass != CLASS_ANY {
            w.set_rcode(rcode::REFUSED);
            return None;
        }
        match q.qtype {
            rtype::OPT | rtype::TSIG | rtype::TKEY => {
                w.set_rcode(rcode::FORMERR);
                return None;
            }
            rtype::MAILA | rtype::MAILB => {
                w.set_rcode(rcode::NOTIMP);
                return None;
            }
            // RFC 5936 §4.2: no AXFR over UDP (NOTIMP, as Knot answers).
            // Over TCP, transfers are served by `xfr` before this point.
            rtype::AXFR if transport == Transport::Udp => {
                w.set_rcode(rcode::NOTIMP);
                return None;
            }
            rtype::IXFR if transport == Transport::Udp => {
                self.ixfr_over_udp(req, w);
                return None;
            }
            rtype::AXFR | rtype::IXFR => {
                w.set_rcode(rcode::REFUSED);
                return None;
            }
            _ => {}
        }
        let Some(qkey) = KeyBuf::new(q.name) else {
            w.set_rcode(rcode::FORMERR);
            return None;
        };
        let table = self.zones.load();
        let Some(mut zone) = table.find(&qkey) else {
            w.set_rcode(rcode::REFUSED);
            return None;
        };
        if q.qtype == rtype::SOA && zone.key() == qkey.as_slice() {
            // Before the version is looked at: a secondary asking a zone
            // we cannot serve yet has still asked.
            self.sight(zone.key(), origin.peer);
        }
        // RFC 4035 §3.1.4.1: a DS query for the apex of a zone we serve is
        // answered from its parent, when we serve that too.
        if q.qtype == rtype::DS && qkey.labels() > 0 && zone.key() == qkey.as_slice() {
            if let Some(parent) = table.find_parent(&qkey) {
                zone = parent;
            }
        }
        let version = zone.current();
        let Some(version) = version.as_deref() else {
            // Never loaded, or a secondary past EXPIRE: no version to name.
            w.set_rcode(rcode::SERVFAIL);
            return None;
        };
        let dnssec_ok = req.edns.is_some_and(|e| e.dnssec_ok);
        let subject = lookup::resolve(version, q.name, &qkey, q.qtype, dnssec_ok, w);
        // RFC 9660 §3: the version of the zone the response was generated
        // from, read from the very version that answered (so it matches
        // the data even while a reload publishes a new one). That holds for
        // every answer `resolve` gives from this zone: data, NODATA,
        // NXDOMAIN, and referrals. A referral is generated from the parent
        // zone we are authoritative for (its NS and glue are that zone's
        // data), so it carries the parent's version; LABELCOUNT names the
        // parent's apex, so a client cannot take it for the child's. NSD
        // does the same. A DS query at a child apex answered from the
        // parent (above) likewise carries the parent's version.
        Some(Source {
            subject: Some(subject),
            ..Source::of(version)
        })
    }
}

impl Answerer {
    /// `peer` asked the SOA of the zone with lookup key `zone` now.
    fn sight(&self, zone: &[u8], peer: Option<SocketAddr>) {
        if let (Some(sightings), Some(peer)) = (&self.sightings, peer) {
            let now = crate::clock::from_system_time(std::time::SystemTime::now());
            sightings.see(zone, peer.ip(), now);
        }
    }

    /// An IXFR over UDP from `peer` for a zone we serve: a sighting.
    fn sight_ixfr(&self, req: &Request<'_>, peer: Option<SocketAddr>) {
        if self.sightings.is_none() || peer.is_none() {
            return;
        }
        let table = self.zones.load();
        if let Some(zone) = table.get(req.question.name) {
            self.sight(zone.key(), peer);
        }
    }

    /// A signed query that failed TSIG, to the peer log of the zone its
    /// name is in (a NOTIFY or an UPDATE is not a query of the zone).
    fn report_tsig_failure(
        &self,
        req: &Request<'_>,
        peer: Option<SocketAddr>,
        failure: &tsig::TsigFailure,
    ) {
        let (Some(log), Some(peer)) = (&self.peer_log, peer) else {
            return;
        };
        if req.opcode() != opcode::QUERY {
            return;
        }
        let Some(qkey) = KeyBuf::new(req.question.name) else {
            return;
        };
        let table = self.zones.load();
        if let Some(zone) = table.find(&qkey) {
            log.tsig_failed(
                zone.origin(),
                peer,
                failure.rcode_name(),
                failure.key_name(),
            );
        }
    }
}

/// The rate-limiting class of a response and the labels of the query name
/// it is counted against (`query::rrl`), from its header and what
/// answered it.
fn classify(response: &[u8], source: Option<Source>) -> (rrl::Class, usize) {
    use rrl::Class;
    let subject = source.and_then(|s| s.subject);
    let labels = subject.map_or(0, |s| s.labels);
    let (Some(flags), Some(ancount)) = (wire_u16(response, 2), wire_u16(response, 6)) else {
        return (Class::Error, 0);
    };
    let class = match flags & 0x0f {
        rcode::NOERROR if subject.is_none() => Class::Error,
        rcode::NOERROR if ancount == 0 && flags & flag::AA == 0 => Class::Referral,
        rcode::NOERROR if ancount == 0 => Class::NoData,
        rcode::NOERROR if subject.is_some_and(|s| s.wildcard) => Class::Wildcard,
        rcode::NOERROR if response.len() > rrl::LARGE => Class::Large,
        rcode::NOERROR => Class::Positive,
        rcode::NXDOMAIN => Class::NxDomain,
        _ => Class::Error,
    };
    (class, labels)
}

/// An answer of header and question only, with `rcode` and TC=1.
fn truncated(req: &Request<'_>, rcode: u16, out: &mut [u8]) -> usize {
    let mut w = MessageWriter::new(out, UDP_PLAIN_MAX);
    w.header(req.id, response_flags(req.flags) | flag::TC);
    // The question came in a UDP request, so it fits 512 octets.
    if let Some(question) = req.message.get(wire::HEADER_LEN..req.question_end) {
        let _ = w.question(question);
    }
    w.set_rcode(rcode);
    w.finish()
}

/// Cuts the response in `out` back to its header and question, with TC=1
/// and nothing else: the client asks again over TCP (a slipped answer of
/// response rate limiting). Returns its length.
fn slip(out: &mut [u8], question_end: usize) -> usize {
    if out.len() < wire::HEADER_LEN || question_end > out.len() {
        return 0;
    }
    out[2] |= (flag::TC >> 8) as u8;
    // No data is left to vouch for: AD and CD cleared; RA, RCODE kept.
    out[3] &= 0x8f;
    for count in &mut out[6..wire::HEADER_LEN] {
        *count = 0;
    }
    question_end
}

fn wire_u16(message: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *message.get(at)?,
        *message.get(at + 1)?,
    ]))
}

/// NOTIFYs for zones we do not serve, logged once per interval.
static NOTIFY_UNKNOWN_ZONE: crate::net::limit::LimitLog = crate::net::limit::LimitLog::new(
    "notify_unknown_zone",
    "NOTIFY for a zone we do not serve: NOTAUTH",
);

/// ZONEVERSION's share of the OPT RDATA: code and length, LABELCOUNT,
/// TYPE and a 4-octet SOA serial (RFC 9660 §2.1).
const ZONEVERSION_LEN: usize = 4 + 6;

/// The zone version an answer came from (for ZONEVERSION).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Source {
    /// Labels of the zone's apex, the root not counted (RFC 9660 §2.1).
    labels: u8,
    serial: Serial,
    /// What the answer was about, when a lookup made it.
    subject: Option<lookup::Subject>,
}

impl Source {
    fn of(version: &crate::zone::ZoneVersion) -> Source {
        Source {
            // A name has at most 127 labels.
            labels: version.origin_labels().min(u8::MAX as usize) as u8,
            serial: version.serial(),
            subject: None,
        }
    }

    /// The option data: LABELCOUNT, TYPE = SOA-SERIAL, VERSION.
    fn zoneversion(self) -> [u8; 6] {
        let s = self.serial.get().to_be_bytes();
        [
            self.labels,
            wire::zoneversion::SOA_SERIAL,
            s[0],
            s[1],
            s[2],
            s[3],
        ]
    }
}

impl Answerer {
    /// NOTIFY (RFC 1996 §3.7, §4.7): for a zone we serve, passed to the
    /// listener, which decides; the answer echoes the question with AA.
    fn notify_in(&self, req: &Request<'_>, origin: Origin<'_>, w: &mut MessageWriter<'_>) {
        let Some(listener) = &self.notify else {
            w.set_rcode(rcode::NOTIMP);
            return;
        };
        let q = req.question;
        if q.qtype == rtype::CSYNC {
            self.notify_csync_in(listener.as_ref(), q.name, origin, w);
            return;
        }
        if q.qtype != rtype::SOA {
            w.set_rcode(rcode::FORMERR);
            return;
        }
        let table = self.zones.load();
        let Some(zone) = table.get(q.name) else {
            // Per packet at debug only: a flood naming a zone we do not
            // serve makes one warning per interval, not a line each.
            tracing::debug!(peer = ?origin.peer, zone = %crate::name::display(q.name), "NOTIFY for a zone we do not serve: NOTAUTH");
            NOTIFY_UNKNOWN_ZONE.hit(
                origin.peer.map(|p| p.ip()),
                Some(&crate::name::display(q.name)),
            );
            w.set_rcode(rcode::NOTAUTH);
            return;
        };
        let serial = crate::xfr::answer_soa_serial(req);
        match listener.notify(zone.origin(), origin.peer, origin.key, serial) {
            NotifyVerdict::Accepted => w.set_flags(w.flags() | flag::AA),
            NotifyVerdict::Refused => w.set_rcode(rcode::REFUSED),
            NotifyVerdict::NotSecondary => w.set_rcode(rcode::NOTAUTH),
        }
    }

    /// NOTIFY(CSYNC) for a child of a zone we serve (RFC 9859): the
    /// parent's agent decides; REFUSED when there is none for it.
    fn notify_csync_in(
        &self,
        listener: &dyn NotifyListener,
        child: &[u8],
        origin: Origin<'_>,
        w: &mut MessageWriter<'_>,
    ) {
        let table = self.zones.load();
        let parent = crate::name::KeyBuf::new(child).and_then(|k| table.find_parent(&k).cloned());
        let Some(parent) = parent else {
            w.set_rcode(rcode::NOTAUTH);
            return;
        };
        match listener.notify_csync(parent.origin(), child, origin.peer) {
            NotifyVerdict::Accepted => w.set_flags(w.flags() | flag::AA),
            NotifyVerdict::Refused => w.set_rcode(rcode::REFUSED),
            NotifyVerdict::NotSecondary => w.set_rcode(rcode::NOTAUTH),
        }
    }

    /// IXFR over UDP (RFC 1995 §2) that was not answered incrementally
    /// (see `Transfers::answer_ixfr_udp`): our SOA alone tells the client
    /// to retry over TCP (or that it is current).
    /// An SOA is public data: no transfer ACL is needed for it.
    fn ixfr_over_udp(&self, req: &Request<'_>, w: &mut MessageWriter<'_>) {
        let table = self.zones.load();
        let Some(zone) = table.get(req.question.name) else {
            w.set_rcode(rcode::NOTAUTH);
            return;
        };
        let version = zone.current();
        let Some(version) = version.as_deref() else {
            w.set_rcode(rcode::SERVFAIL);
            return;
        };
        w.set_flags(w.flags() | flag::AA);
        if let Some(soa) = version.soa() {
            w.start_section(wire::Section::Answer);
            let owner = wire::Owner::Pointer(w.qname_offset());
            if w.rrset(owner, rtype::SOA, soa.ttl(), soa.rdatas()).is_err() {
                w.set_flags(w.flags() | flag::TC);
            }
        }
    }
}

/// The header flags of a response to a request with `flags`, RCODE 0:
/// QR, the opcode echoed (RFC 1035 §4.1.1), and for the opcodes we
/// implement RD copied (RFC 1035 §4.1.1) and CD too (RFC 4035 §3.1.6).
/// RD and CD mean something only in a query (and a NOTIFY, built like
/// one); to any other opcode RFC 8906 §3.1.4 expects NOTIMP, and the EDNS
/// compliance test that checks it counts RD or CD in that answer as a
/// fault, so there they are cleared. AA, TC, RA, Z and AD of a request
/// are never copied (RFC 1035 §4.1.1: Z must be zero; RFC 8906 §3.1.3).
fn response_flags(flags: u16) -> u16 {
    let copied = if opcode::is_implemented(wire::opcode_of(flags)) {
        0x7800 | flag::RD | flag::CD
    } else {
        0x7800
    };
    flag::QR | (flags & copied)
}

/// Seconds since 1970, mod 2^32 (RFC 9018 §4.2: the cookie's timestamp).
fn unix_time() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// An EDNS version we do not implement, in a request whose opcode we do
/// (RFC 6891 §6.1.3: BADVERS; an unknown opcode is NOTIMP first).
fn bad_version(req: &Request<'_>) -> bool {
    opcode::is_implemented(req.opcode()) && req.edns.is_some_and(|e| e.version > 0)
}

/// What a request over TCP calls for ([`Answerer::answer_tcp`]).
#[derive(Debug)]
pub enum TcpAnswer<'m> {
    /// A zone transfer, for `xfr::Transfers::serve` to stream.
    Transfer(Request<'m>),
    /// The response is in `out`, this long.
    Answered(usize),
    /// Nothing is sent back.
    Dropped,
    /// An UPDATE, for [`Answerer::update`]: its answer comes later.
    Update,
}

/// A FORMERR response: header (id, opcode, RD copied), and the question
/// when it could be read.
fn formerr(msg: &[u8], id: u16, flags: u16, question_end: Option<usize>, out: &mut [u8]) -> usize {
    let mut w = MessageWriter::new(out, wire::MAX_MESSAGE);
    w.header(id, response_flags(flags) | rcode::FORMERR);
    if let Some(end) = question_end {
        if let Some(q) = msg.get(wire::HEADER_LEN..end) {
            let _ = w.question(q);
        }
    }
    w.finish()
}

/// NOTIMP to an opcode we do not implement, in a message we could not
/// read as a query: the header alone, id and opcode echoed (RFC 8906
/// §3.1.4: only the header of such a message is known to us).
fn notimp(id: u16, flags: u16, out: &mut [u8]) -> usize {
    let mut w = MessageWriter::new(out, wire::MAX_MESSAGE);
    w.header(id, response_flags(flags) | rcode::NOTIMP);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::test_wire as wire_name;
    use crate::zone::{Zone, ZoneTable, ZoneVersion};

    const EXAMPLE_COM: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 host 2024010101 7200 900 1209600 60\n\
        @ NS ns1\n\
        ns1 A 192.0.2.1\n\
        www A 192.0.2.80\n\
        sub NS ns.sub\n\
        ns.sub A 192.0.2.53\n";
    const SUB: &str = "$ORIGIN sub.example.com.\n$TTL 300\n\
        @ SOA ns host 77 7200 900 1209600 60\n\
        @ NS ns\n\
        ns A 192.0.2.53\n";

    fn version(origin: &str, text: &str) -> Arc<ZoneVersion> {
        Arc::new(crate::zone::test_version(origin, text))
    }

    /// example.com (with the sub delegation), optionally sub.example.com,
    /// and example.org configured but never loaded (SERVFAIL).
    fn answerer(with_sub: bool) -> (Answerer, Arc<Zone>) {
        let com = Arc::new(Zone::new(&wire_name("example.com")).unwrap());
        com.publish(version("example.com", EXAMPLE_COM));
        let org = Arc::new(Zone::new(&wire_name("example.org")).unwrap());
        let mut zones = vec![com.clone(), org];
        if with_sub {
            let sub = Arc::new(Zone::new(&wire_name("sub.example.com")).unwrap());
            sub.publish(version("sub.example.com", SUB));
            zones.push(sub);
        }
        let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(zones)));
        let a = Answerer::new(
            table,
            QueryConfig::default(),
            Arc::new(QueryStats::default()),
        );
        (a, com)
    }

    /// A query with an OPT whose RDATA is `options` (none: no OPT).
    fn query(name: &str, qtype: u16, options: Option<&[u8]>) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(wire_name(name));
        m.extend(qtype.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        if let Some(options) = options {
            m[11] = 1;
            m.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
            m.extend((options.len() as u16).to_be_bytes());
            m.extend(options);
        }
        m
    }

    const ASK: &[u8] = &[0, 19, 0, 0];

    /// Replays the input the `answer` fuzz target crashed on: a request
    /// without EDNS whose long question and long TSIG key name made the
    /// TSIG error answer (which echoes both) 513 octets over UDP.
    #[test]
    fn fuzz_replay_a_tsig_error_answer_too_long_for_udp_is_truncated() {
        let request = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fuzz/answer-tsig-error-over-512.bin"
        ))
        .unwrap();
        let key = crate::tsig::TsigKey::from_config(
            "fuzz-key.",
            "hmac-sha256",
            "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=",
        )
        .unwrap();
        let (a, _) = answerer(false);
        let a = a.with_keys(Arc::new(Keys::new([key]).unwrap()));
        let parsed = parse_request(&request).unwrap();
        assert!(parsed.edns.is_none() && parsed.tsig);
        let mut out = vec![0u8; 65535];
        let n = a
            .answer_from(
                &request,
                Transport::Udp,
                "192.0.2.9:53".parse().ok(),
                &mut out,
            )
            .unwrap();
        assert!(n <= 512, "UDP answer of {n} octets");
        let flags = u16::from_be_bytes([out[2], out[3]]);
        assert_ne!(flags & flag::TC, 0);
        assert_eq!(flags & 0x0f, rcode::NOTAUTH);
        assert_eq!(
            &out[12..parsed.question_end],
            &request[12..parsed.question_end]
        );
        // Over TCP the whole error answer goes, its TSIG record echoed.
        let n = a
            .answer_from(
                &request,
                Transport::Tcp,
                "192.0.2.9:53".parse().ok(),
                &mut out,
            )
            .unwrap();
        assert!(n > 512);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]) & flag::TC, 0);
    }

    /// An OPT's options, (code, data), in order.
    type Options = Vec<(u16, Vec<u8>)>;

    /// (RCODE, the OPT's options if there is an OPT).
    fn answer(a: &Answerer, q: &[u8]) -> (u16, Option<Options>) {
        let mut out = vec![0u8; 65535];
        let len = a.answer(q, Transport::Udp, &mut out).expect("an answer");
        answer_slice(&out[..len])
    }

    /// [`answer`] of a response already made.
    fn answer_slice(m: &[u8]) -> (u16, Option<Options>) {
        let len = m.len();
        let rcode = u16::from(m[3] & 0x0f);
        let count = |i: usize| u16::from_be_bytes([m[4 + 2 * i], m[5 + 2 * i]]) as usize;
        let skip_name = |mut p: usize| loop {
            match m[p] {
                0 => return p + 1,
                l if l >= 0xc0 => return p + 2,
                l => p += 1 + l as usize,
            }
        };
        let mut p = skip_name(12) + 4;
        let mut opt = None;
        for _ in 0..count(1) + count(2) + count(3) {
            p = skip_name(p);
            let rtype = u16::from_be_bytes([m[p], m[p + 1]]);
            let rdlen = u16::from_be_bytes([m[p + 8], m[p + 9]]) as usize;
            let rdata = &m[p + 10..p + 10 + rdlen];
            p += 10 + rdlen;
            if rtype == rtype::OPT {
                let mut options = Vec::new();
                let mut o = 0;
                while o < rdata.len() {
                    let code = u16::from_be_bytes([rdata[o], rdata[o + 1]]);
                    let olen = u16::from_be_bytes([rdata[o + 2], rdata[o + 3]]) as usize;
                    options.push((code, rdata[o + 4..o + 4 + olen].to_vec()));
                    o += 4 + olen;
                }
                opt = Some(options);
            }
        }
        assert_eq!(p, len, "response walked to its end");
        (rcode, opt)
    }

    /// The option data we expect: LABELCOUNT, TYPE 0 (SOA-SERIAL), serial.
    fn zv(labels: u8, serial: u32) -> Vec<u8> {
        let mut d = vec![labels, 0];
        d.extend(serial.to_be_bytes());
        d
    }

    fn zoneversion(opt: &[(u16, Vec<u8>)]) -> Option<&[u8]> {
        opt.iter().find(|(c, _)| *c == 19).map(|(_, d)| &d[..])
    }

    #[test]
    fn zoneversion_names_the_apex_and_the_served_serial() {
        let (a, _) = answerer(false);
        for (name, qtype, want_rcode) in [
            ("www.example.com", rtype::A, rcode::NOERROR),
            ("example.com", rtype::SOA, rcode::NOERROR),
            ("www.example.com", rtype::MX, rcode::NOERROR),
            ("nothere.example.com", rtype::A, rcode::NXDOMAIN),
        ] {
            let (rc, opt) = answer(&a, &query(name, qtype, Some(ASK)));
            assert_eq!(rc, want_rcode, "{name} {qtype}");
            let opt = opt.expect("an OPT");
            // LABELCOUNT 2 (example.com), the SOA serial.
            assert_eq!(
                zoneversion(&opt),
                Some(&zv(2, 2024010101)[..]),
                "{name} {qtype}: {opt:?}"
            );
        }
    }

    #[test]
    fn zoneversion_follows_the_published_version() {
        let (a, com) = answerer(false);
        com.publish(version(
            "example.com",
            &EXAMPLE_COM.replace("2024010101", "7"),
        ));
        let (_, opt) = answer(&a, &query("www.example.com", rtype::A, Some(ASK)));
        assert_eq!(zoneversion(&opt.unwrap()), Some(&zv(2, 7)[..]));
    }

    #[test]
    fn a_referral_carries_the_parents_version() {
        let (a, _) = answerer(false);
        let (rc, opt) = answer(&a, &query("host.sub.example.com", rtype::A, Some(ASK)));
        assert_eq!(rc, rcode::NOERROR);
        assert_eq!(
            zoneversion(&opt.unwrap()),
            Some(&zv(2, 2024010101)[..]),
            "the referral is example.com's data"
        );
    }

    #[test]
    fn the_child_zone_when_served_gives_its_own_version() {
        let (a, _) = answerer(true);
        let (_, opt) = answer(&a, &query("ns.sub.example.com", rtype::A, Some(ASK)));
        assert_eq!(zoneversion(&opt.unwrap()), Some(&zv(3, 77)[..]));
        // RFC 4035 §3.1.4.1: DS at the child apex comes from the parent.
        let (_, opt) = answer(&a, &query("sub.example.com", rtype::DS, Some(ASK)));
        assert_eq!(
            zoneversion(&opt.unwrap()),
            Some(&zv(2, 2024010101)[..]),
            "DS at the child apex is answered from example.com"
        );
    }

    #[test]
    fn no_zoneversion_unless_asked() {
        let (a, _) = answerer(false);
        let (_, opt) = answer(&a, &query("www.example.com", rtype::A, Some(&[])));
        assert_eq!(opt, Some(vec![]), "EDNS without options: a bare OPT");
        let (_, opt) = answer(&a, &query("www.example.com", rtype::A, None));
        assert_eq!(opt, None, "no EDNS: no OPT");
    }

    #[test]
    fn no_zoneversion_without_a_served_version() {
        let (a, _) = answerer(false);
        for (name, want) in [
            ("www.example.net", rcode::REFUSED),
            ("www.example.org", rcode::SERVFAIL),
        ] {
            let (rc, opt) = answer(&a, &query(name, rtype::A, Some(ASK)));
            assert_eq!(rc, want, "{name}");
            assert_eq!(opt, Some(vec![]), "{name}: OPT without ZONEVERSION");
        }
    }

    #[test]
    fn non_empty_zoneversion_is_formerr_with_an_opt() {
        let (a, _) = answerer(false);
        let q = query(
            "www.example.com",
            rtype::A,
            Some(&[0, 19, 0, 6, 2, 0, 0, 0, 0, 1]),
        );
        let (rc, opt) = answer(&a, &q);
        assert_eq!(rc, rcode::FORMERR);
        assert_eq!(opt, Some(vec![]), "RFC 6891 §7: FORMERR with an OPT");
        assert_eq!(a.stats().malformed(), 1);
    }

    /// The response to `q` over UDP, as bytes.
    fn respond_raw(a: &Answerer, q: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 65535];
        let len = a.answer(q, Transport::Udp, &mut out).expect("an answer");
        out.truncate(len);
        out
    }

    #[test]
    fn header_only_unknown_opcode_is_notimp_with_its_header_alone() {
        let (a, _) = answerer(false);
        // `dig +header-only +opcode=15`, then with every flag set (AA, TC,
        // RD, RA, Z, AD, CD): RFC 8906 §3.1.4.
        for flags in [0u16, 0x07f0] {
            let f = (15 << 11) | flags;
            let mut q = vec![0xab, 0xcd];
            q.extend(f.to_be_bytes());
            q.extend([0; 8]);
            let r = respond_raw(&a, &q);
            assert_eq!(r.len(), wire::HEADER_LEN, "header alone: {r:02x?}");
            assert_eq!(&r[..2], &[0xab, 0xcd], "id echoed");
            let rf = u16::from_be_bytes([r[2], r[3]]);
            assert_eq!(
                rf,
                flag::QR | (15 << 11) | rcode::NOTIMP,
                "QR, opcode 15, NOTIMP, no other flag (asked {flags:#06x}): {rf:#06x}"
            );
        }
        assert_eq!(a.stats().rcode(rcode::NOTIMP), 2);
        assert_eq!(a.stats().malformed(), 0);
    }

    #[test]
    fn unknown_opcode_wins_over_the_edns_version() {
        let (a, _) = answerer(false);
        // Opcode 3 with a question and an OPT of version 1 and RD, CD set.
        let mut q = query("www.example.com", rtype::A, Some(&[]));
        q[2] = (3 << 3) | 0x01;
        q[3] = 0x10;
        let opt = q.len() - 11;
        q[opt + 6] = 1; // the OPT's version
        let r = respond_raw(&a, &q);
        let rf = u16::from_be_bytes([r[2], r[3]]);
        assert_eq!(rf, flag::QR | (3 << 11) | rcode::NOTIMP, "{rf:#06x}");
        let (rc, opt) = answer(&a, &q);
        assert_eq!(rc, rcode::NOTIMP);
        assert_eq!(opt, Some(vec![]), "question and a version 0 OPT echoed");
        let ext = r[r.len() - 11 + 5];
        assert_eq!(ext, 0, "no extended RCODE: NOTIMP, not BADVERS");
    }

    #[test]
    fn query_without_a_question_stays_formerr_with_rd_copied() {
        let (a, _) = answerer(false);
        let q = [0x12, 0x34, 0x01, 0x10, 0, 0, 0, 0, 0, 0, 0, 0];
        let r = respond_raw(&a, &q);
        assert_eq!(r.len(), wire::HEADER_LEN);
        let rf = u16::from_be_bytes([r[2], r[3]]);
        assert_eq!(rf, flag::QR | flag::RD | flag::CD | rcode::FORMERR);
        assert_eq!(a.stats().malformed(), 1);
    }

    /// example.com answered with cookies under a fixed secret.
    fn with_cookies() -> Answerer {
        let com = Arc::new(Zone::new(&wire_name("example.com")).unwrap());
        com.publish(version("example.com", EXAMPLE_COM));
        let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new([com])));
        let config = QueryConfig {
            cookies: Some(cookie::Secret::new([7; 16])),
            ..QueryConfig::default()
        };
        Answerer::new(table, config, Arc::new(QueryStats::default()))
    }

    const CLIENT: &str = "192.0.2.9:5353";

    /// (RCODE, the answer's COOKIE data) for `option` as the COOKIE data,
    /// from CLIENT over `transport`.
    fn cookie_exchange(
        a: &Answerer,
        option: &[u8],
        transport: Transport,
    ) -> (u16, Option<Vec<u8>>) {
        let mut opt = vec![0, 10];
        opt.extend((option.len() as u16).to_be_bytes());
        opt.extend(option);
        let q = query("www.example.com", rtype::A, Some(&opt));
        let mut out = vec![0u8; 65535];
        let len = a
            .answer_from(&q, transport, Some(CLIENT.parse().unwrap()), &mut out)
            .expect("an answer");
        out.truncate(len);
        let (rc, opt) = answer_slice(&out);
        let cookie = opt
            .expect("an OPT")
            .into_iter()
            .find(|(c, _)| *c == option::COOKIE)
            .map(|(_, d)| d);
        (rc, cookie)
    }

    #[test]
    fn a_client_cookie_gets_a_server_cookie_that_is_then_valid() {
        let a = with_cookies();
        for transport in [Transport::Udp, Transport::Tcp] {
            let (rc, first) = cookie_exchange(&a, &[1; 8], transport);
            assert_eq!(rc, rcode::NOERROR);
            let first = first.expect("a COOKIE in the answer");
            assert_eq!(
                first.len(),
                24,
                "client cookie and a 16-octet server cookie"
            );
            assert_eq!(&first[..8], &[1; 8], "the client cookie echoed");
            assert_eq!(first[8], 1, "RFC 9018 version 1");
            let (rc, second) = cookie_exchange(&a, &first, transport);
            assert_eq!(rc, rcode::NOERROR);
            assert_eq!(
                second,
                Some(first),
                "a young valid cookie comes back as it was"
            );
        }
        assert_eq!(a.stats().cookies(cookie::Verdict::ClientOnly), 2);
        assert_eq!(a.stats().cookies(cookie::Verdict::Valid), 2);
    }

    #[test]
    fn a_bad_server_cookie_is_answered_with_a_fresh_one() {
        let a = with_cookies();
        let mut bad = vec![2; 8];
        bad.extend([1, 0, 0, 0, 0x65, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9]);
        let (rc, reply) = cookie_exchange(&a, &bad, Transport::Udp);
        // RFC 7873 §5.2.4 and §5.2.3 (3): answered normally, no BADCOOKIE.
        assert_eq!(rc, rcode::NOERROR);
        let reply = reply.expect("a fresh cookie");
        assert_eq!(&reply[..8], &[2; 8]);
        assert_ne!(&reply[8..], &bad[8..]);
        assert_eq!(a.stats().cookies(cookie::Verdict::Invalid), 1);
        let (_, again) = cookie_exchange(&a, &reply, Transport::Udp);
        assert_eq!(again, Some(reply));
        assert_eq!(a.stats().cookies(cookie::Verdict::Valid), 1);
    }

    #[test]
    fn a_malformed_cookie_is_formerr_with_an_opt() {
        let a = with_cookies();
        for len in [0, 5, 12, 41] {
            let (rc, reply) = cookie_exchange(&a, &vec![3; len], Transport::Udp);
            assert_eq!(rc, rcode::FORMERR, "{len} octets (RFC 7873 §5.2.2)");
            assert_eq!(reply, None, "{len} octets: no cookie in the FORMERR");
        }
        assert_eq!(a.stats().malformed(), 4);
    }

    #[test]
    fn without_cookies_the_option_is_ignored() {
        let (a, _) = answerer(false);
        for option in [vec![1; 8], vec![3; 5]] {
            let (rc, reply) = cookie_exchange(&a, &option, Transport::Udp);
            assert_eq!(rc, rcode::NOERROR, "{option:?}");
            assert_eq!(reply, None);
        }
        assert_eq!(a.stats().cookies(cookie::Verdict::ClientOnly), 0);
    }

    #[test]
    fn badvers_and_notimp_answers_carry_the_cookie_too() {
        let a = with_cookies();
        let mut opt = vec![0, 10, 0, 8];
        opt.extend([4; 8]);
        for (opcode, version, want) in [(0u8, 1u8, 0u16), (3, 0, rcode::NOTIMP)] {
            let mut q = query("www.example.com", rtype::A, Some(&opt));
            q[2] = opcode << 3;
            let at = q.len() - 11 - opt.len();
            q[at + 6] = version;
            let mut out = vec![0u8; 65535];
            let len = a
                .answer_from(&q, Transport::Udp, Some(CLIENT.parse().unwrap()), &mut out)
                .unwrap();
            let (rc, options) = answer_slice(&out[..len]);
            assert_eq!(rc, want, "opcode {opcode}, EDNS version {version}");
            let cookie = options.unwrap().into_iter().find(|(c, _)| *c == 10);
            assert!(cookie.is_some_and(|(_, d)| d.len() == 24 && d[..8] == [4; 8]));
        }
    }

    #[test]
    fn zoneversion_sits_beside_nsid() {
        let com = Arc::new(Zone::new(&wire_name("example.com")).unwrap());
        com.publish(version("example.com", EXAMPLE_COM));
        let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new([com])));
        let config = QueryConfig {
            nsid: Some(b"ns-a".to_vec().into_boxed_slice()),
            ..QueryConfig::default()
        };
        let a = Answerer::new(table, config, Arc::new(QueryStats::default()));
        let (_, opt) = answer(
            &a,
            &query(
                "www.example.com",
                rtype::A,
                Some(&[0, 19, 0, 0, 0, 3, 0, 0]),
            ),
        );
        assert_eq!(
            opt.unwrap(),
            vec![
                (option::NSID, b"ns-a".to_vec()),
                (option::ZONEVERSION, zv(2, 2024010101)),
            ]
        );
    }

    /// One `tsig_failed` call: zone, peer, error, key.
    type Report = (Vec<u8>, SocketAddr, &'static str, Option<String>);

    /// What a [`PeerLog`] was told.
    #[derive(Default)]
    struct Reported(std::sync::Mutex<Vec<Report>>);

    impl PeerLog for Reported {
        fn tsig_failed(
            &self,
            zone: &[u8],
            peer: SocketAddr,
            error: &'static str,
            key: Option<&str>,
        ) {
            self.0
                .lock()
                .unwrap()
                .push((zone.to_vec(), peer, error, key.map(String::from)));
        }
    }

    #[test]
    fn an_soa_query_at_an_apex_from_a_known_peer_is_a_sighting() {
        let sightings = Arc::new(SoaSightings::default());
        let (a, com) = answerer(false);
        let a = a.with_sightings(sightings.clone());
        let mut out = vec![0u8; 65535];
        let ask = |name: &str, qtype: u16, peer: &str, transport| {
            let peer: SocketAddr = peer.parse().unwrap();
            let mut out = vec![0u8; 65535];
            a.answer_from(&query(name, qtype, None), transport, Some(peer), &mut out)
                .unwrap();
            peer.ip()
        };
        let udp = ask("example.com", rtype::SOA, "192.0.2.1:1000", Transport::Udp);
        let tcp = ask(
            "Example.COM",
            rtype::SOA,
            "[2001:db8::1]:1000",
            Transport::Tcp,
        );
        let below = ask(
            "www.example.com",
            rtype::SOA,
            "192.0.2.2:1000",
            Transport::Udp,
        );
        let other_type = ask("example.com", rtype::A, "192.0.2.3:1000", Transport::Udp);
        let delegated = ask(
            "sub.example.com",
            rtype::SOA,
            "192.0.2.4:1000",
            Transport::Udp,
        );
        // A zone configured and not loaded yet: asked all the same.
        let unloaded = ask("example.org", rtype::SOA, "192.0.2.5:1000", Transport::Udp);
        a.answer(
            &query("example.com", rtype::SOA, None),
            Transport::Udp,
            &mut out,
        )
        .unwrap();
        let org = KeyBuf::new(&wire_name("example.org")).unwrap();
        let seen = |zone: &[u8], ip| sightings.last(zone, ip).is_some();
        assert!(seen(com.key(), udp), "over UDP");
        assert!(seen(com.key(), tcp), "over TCP, any case");
        assert!(!seen(com.key(), below), "not the apex");
        assert!(!seen(com.key(), other_type), "not SOA");
        assert!(
            !seen(com.key(), delegated),
            "a delegation, not a zone we serve"
        );
        assert!(seen(org.as_slice(), unloaded), "a zone not loaded yet");
    }

    #[test]
    fn a_signed_query_failing_tsig_is_reported_with_its_zone_and_key() {
        let ours = crate::tsig::TsigKey::from_config(
            "xfr-key.",
            "hmac-sha256",
            "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=",
        )
        .unwrap();
        let theirs = crate::tsig::TsigKey::from_config(
            "other-key.",
            "hmac-sha256",
            "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=",
        )
        .unwrap();
        let reported = Arc::new(Reported::default());
        let (a, _) = answerer(false);
        let a = a
            .with_keys(Arc::new(Keys::new([ours]).unwrap()))
            .with_peer_log(reported.clone());
        let peer: SocketAddr = "192.0.2.9:4000".parse().unwrap();
        let mut out = vec![0u8; 65535];
        for name in ["www.example.com", "nowhere.example.net"] {
            let mut request = query(name, rtype::SOA, None);
            crate::tsig::ClientSigner::sign_request(&theirs, &mut request).unwrap();
            a.answer_from(&request, Transport::Udp, Some(peer), &mut out)
                .unwrap();
        }
        let reported = reported.0.lock().unwrap();
        assert_eq!(
            *reported,
            vec![(
                wire_name("example.com"),
                peer,
                "BADKEY",
                Some("other-key".to_string())
            )],
            "the zone the name is in, once: none for a name we do not serve"
        );
    }
}
