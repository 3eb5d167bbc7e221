//! Zone transfers in for secondary zones: the refresh check (an SOA query,
//! RFC 1034 §4.3.5) and the transfer itself, IXFR (RFC 1995) from our
//! serial with a fall-back to AXFR (RFC 5936), as records the zone store
//! takes ([`journal::Record`](crate::journal::Record)).
//!
//! Blocking: call it from a blocking thread (tokio's `spawn_blocking`).
//! Every wait is bounded: [`query_soa`] by its timeout, each of the (at
//! most two) transfers of [`fetch`] by [`Limits::timeout`].
//!
//! The transfer is the one of `zonesync xfr` ([`super::client`]): the same
//! stream reader, [`Tracker`](super::client::Tracker) and TSIG checks
//! (unsigned intermediate messages allowed as RFC 8945 §5.3.1 says, the
//! last one signed), with a [`Sink`] that converts and checks each record
//! instead of printing it:
//!
//! - the owner in lower-case uncompressed wire format, at or below the
//!   zone's apex ("out-of-zone record NAME" otherwise); the RDATA
//!   uncompressed, names in it written out in full and in the case sent;
//!   class IN only;
//! - an SOA only at the apex; an AXFR starts and ends with it (same
//!   serial); an IXFR's changesets start at our serial and chain, the last
//!   one ending at the server's serial (the tracker checks both);
//! - at most [`Limits::max_records`] records and [`Limits::max_bytes`]
//!   octets per transfer.
//!
//! Records are collected in memory: the caller builds a new zone version
//! from them (or applies the changesets) once the whole transfer has been
//! received and verified, never from a part of it.

use super::client::{
    self, AnswerRecord, Connection, FailureClass, Item, Kind, Outcome, Request, Sink, SinkError,
    StreamLimits, Summary, XfrError,
};
use crate::journal::{Changeset, Record};
use crate::serial::Serial;
use crate::tls::client::{tls_error_of, ClientTls};
use crate::tsig::{ClientSigner, TsigKey};
use crate::zone::{ZoneBuilder, ZoneVersion};
use domain::base::iana::{Class, OptRcode, Rtype};
use domain::base::message::Message;
use domain::base::name::{Name, ToLabelIter, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::rdata::AllRecordData;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SOA: u16 = crate::zone::rtype::SOA;

/// A primary to transfer from: its address, the TSIG key to sign with
/// (answers must then be signed with it too) and, for XoT (RFC 9103),
/// how to reach it over TLS: then the SOA query and every transfer go
/// over TLS, never in clear.
#[derive(Debug, Clone)]
pub struct Primary {
    pub addr: SocketAddr,
    pub key: Option<TsigKey>,
    pub tls: Option<Arc<ClientTls>>,
}

impl Primary {
    /// A primary reached over UDP and TCP.
    pub fn new(addr: SocketAddr, key: Option<TsigKey>) -> Primary {
        Primary {
            addr,
            key,
            tls: None,
        }
    }

    /// Reached over TLS only.
    pub fn with_tls(mut self, tls: Arc<ClientTls>) -> Primary {
        self.tls = Some(tls);
        self
    }
}

/// The address, and "over TLS" for a TLS primary (logs and status).
impl fmt::Display for Primary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tls {
            Some(_) => write!(f, "{} over TLS", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// Bounds of one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Answer records of one transfer, every SOA included.
    pub max_records: usize,
    /// Octets of one transfer's stream, TCP length prefixes included.
    pub max_bytes: u64,
    /// One transfer, connecting included. An IXFR that fails and the AXFR
    /// after it each get this much: [`fetch`] takes at most twice as long.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_records: 10_000_000,
            max_bytes: 1 << 30,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The primary's answer to the SOA query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaAnswer {
    pub serial: Serial,
    /// The zone's SOA record as the primary has it.
    pub soa: Record,
    /// The EDNS EXPIRE option (RFC 7314) of the answer, if the primary
    /// sent one.
    pub expire: Option<u32>,
}

/// A completed transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub payload: Payload,
    /// The primary's serial (that of the first SOA of the answer).
    pub serial: Serial,
    /// Messages, records and octets (TCP length prefixes included) of the
    /// transfer that brought the payload.
    pub messages: u64,
    pub records: u64,
    pub bytes: u64,
    /// The whole fetch, a failed IXFR included.
    pub elapsed: Duration,
    /// Why an IXFR was given up for an AXFR; `None` when the IXFR answered
    /// (in whatever form) or none was asked for.
    pub fallback: Option<String>,
    /// The EDNS EXPIRE option (RFC 7314) of the first message of the
    /// transfer that brought the payload, if the primary sent one.
    pub expire: Option<u32>,
}

/// What the primary sent.
#[derive(Debug, Clone)]
pub enum Payload {
    /// IXFR answered with the primary's SOA alone, not newer than ours
    /// (RFC 1982): nothing to do.
    UpToDate,
    /// The whole zone (AXFR, or an IXFR answered in AXFR form): its SOA and
    /// every other record, in the order received.
    Full { soa: Record, records: Vec<Record> },
    /// IXFR: the changesets from our serial to the primary's, in order.
    Incremental(Vec<Changeset>),
    /// The whole zone built as it arrived ([`fetch_zone`]): each record
    /// went into the zone builder's arena when it came, so no list of
    /// records the size of the zone is ever held beside it.
    Built(Result<Arc<ZoneVersion>, InvalidTransfer>),
}

// Built zones are not compared record by record here: two are equal when
// they are the same one (tests compare their records where it matters).
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match (self, other) {
            (Payload::UpToDate, Payload::UpToDate) => true,
            (
                Payload::Full { soa, records },
                Payload::Full {
                    soa: soa2,
                    records: records2,
                },
            ) => soa == soa2 && records == records2,
            (Payload::Incremental(a), Payload::Incremental(b)) => a == b,
            (Payload::Built(Ok(a)), Payload::Built(Ok(b))) => Arc::ptr_eq(a, b),
            (Payload::Built(Err(a)), Payload::Built(Err(b))) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Eq for Payload {}

/// Why a whole zone that arrived intact cannot be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvalidTransfer {
    /// Our own apex is no name (a configuration that passed its checks
    /// cannot give one).
    #[error("{0}")]
    Origin(crate::zone::BuildError),
    /// The zone checks failed; the first problem found is shown.
    #[error("the transferred zone is not valid: {}", first.as_ref().map(ToString::to_string).unwrap_or_default())]
    Zone {
        first: Option<crate::zone::BuildError>,
    },
}

/// A zone from an AXFR's records, checked like a zone file (also the
/// monitor's reading of a catalog).
pub fn build_full(
    origin: &[u8],
    soa: &Record,
    records: &[Record],
) -> Result<ZoneVersion, InvalidTransfer> {
    let mut b = ZoneBuilder::new(origin).map_err(InvalidTransfer::Origin)?;
    b.add(&soa.owner, soa.rtype, soa.ttl, &soa.rdata, None);
    for r in records {
        b.add(&r.owner, r.rtype, r.ttl, &r.rdata, None);
    }
    finish(b)
}

fn finish(builder: ZoneBuilder) -> Result<ZoneVersion, InvalidTransfer> {
    builder
        .finish()
        .map(|(v, _)| v)
        .map_err(|errors| InvalidTransfer::Zone {
            first: errors.into_iter().next(),
        })
}

/// Why a refresh or a transfer failed. Every variant names the primary;
/// the text is meant for logs and `ctl status`, e.g.
/// `127.0.0.1:5300: IXFR: server answered REFUSED; AXFR: TSIG check of
/// message 1 failed: BADSIG: ...`.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A problem on our side (the zone name or the key cannot be used):
    /// nothing was sent.
    #[error("{primary}: {reason}")]
    Local { primary: SocketAddr, reason: String },
    /// The SOA query failed: over UDP (the reason in the text) and then over
    /// TCP (whose failure gives the class), or over TLS alone (`tls`).
    #[error("{primary}: SOA query{}: {reason}", if *.tls { " over TLS" } else { "" })]
    Soa {
        primary: SocketAddr,
        class: FailureClass,
        reason: String,
        tls: bool,
    },
    /// The transfer failed: an AXFR, or an IXFR whose failure does not
    /// call for an AXFR. After a failed IXFR, `ixfr` is why it failed and
    /// `error` why the AXFR that followed failed.
    #[error("{primary}: {}{kind}: {error}", ixfr_note(.ixfr))]
    Transfer {
        primary: SocketAddr,
        /// "AXFR" or "IXFR".
        kind: &'static str,
        error: XfrError,
        ixfr: Option<Box<XfrError>>,
    },
    /// The transfer went past [`Limits::max_records`] or
    /// [`Limits::max_bytes`]. An IXFR that does so is not followed by an
    /// AXFR: the whole zone is rarely smaller, and the limit is there to
    /// bound what one primary can make us take.
    #[error("{primary}: {}{kind}: {error}", ixfr_note(.ixfr))]
    TooLarge {
        primary: SocketAddr,
        kind: &'static str,
        error: XfrError,
        ixfr: Option<Box<XfrError>>,
    },
}

fn ixfr_note(ixfr: &Option<Box<XfrError>>) -> String {
    match ixfr {
        Some(e) => format!("IXFR: {e}; "),
        None => String::new(),
    }
}

impl FetchError {
    /// The primary this is about.
    pub fn primary(&self) -> SocketAddr {
        match self {
            FetchError::Local { primary, .. }
            | FetchError::Soa { primary, .. }
            | FetchError::Transfer { primary, .. }
            | FetchError::TooLarge { primary, .. } => *primary,
        }
    }

    /// The kind of the (last) failure, for counters and status: see
    /// [`XfrError::class`]; `Local` for [`FetchError::Local`], `TooLarge`
    /// for [`FetchError::TooLarge`].
    pub fn class(&self) -> FailureClass {
        match self {
            FetchError::Local { .. } => FailureClass::Local,
            FetchError::Soa { class, .. } => *class,
            FetchError::Transfer { error, .. } => error.class(),
            FetchError::TooLarge { .. } => FailureClass::TooLarge,
        }
    }
}

// ---------------------------------------------------------------------------
// The transfer

/// Transfers `zone` (wire format) from `primary`: IXFR from `current` (our
/// serial and SOA record) when given, else AXFR.
///
/// An IXFR that fails for any reason but a local one or a limit (an error
/// RCODE, TSIG, a malformed, cut or out-of-zone stream, a broken changeset
/// chain or one not starting at our serial, the primary's SOA alone with a
/// newer serial, a transport error or timeout, the connection closed early)
/// is followed by an AXFR on a new connection, and [`Fetched::fallback`]
/// says why. When that fails too, the error holds both reasons.
pub fn fetch(
    primary: &Primary,
    zone: &[u8],
    current: Option<(Serial, &Record)>,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    fetch_as(primary, zone, current, limits, false)
}

/// [`fetch`] for a secondary that serves what it gets: a whole zone is
/// built as it arrives ([`Payload::Built`]) instead of being collected
/// first, so a large AXFR in holds the builder's compact copy of the
/// records and not also a list of them (and allocates nothing per
/// record). An IXFR's changesets are collected as by [`fetch`].
pub fn fetch_zone(
    primary: &Primary,
    zone: &[u8],
    current: Option<(Serial, &Record)>,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    fetch_as(primary, zone, current, limits, true)
}

fn fetch_as(
    primary: &Primary,
    zone: &[u8],
    current: Option<(Serial, &Record)>,
    limits: &Limits,
    build: bool,
) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let zone = zone.to_ascii_lowercase();
    let mut failed_ixfr = None;
    if let Some((serial, soa)) = current {
        match attempt(
            primary,
            &zone,
            Kind::Ixfr { serial },
            Some(soa),
            limits,
            build,
        ) {
            Ok((summary, payload)) => return Ok(fetched(summary, payload, None, started)),
            Err(error) if !after_ixfr_failure(IxfrFailure::Transfer(&error)) => {
                return Err(transfer_error(primary, "IXFR", error, None))
            }
            Err(error) => {
                tracing::debug!(primary = %primary.addr, zone = %crate::name::display(&zone), %error, "IXFR failed; trying AXFR");
                failed_ixfr = Some(error);
            }
        }
    }
    match attempt(primary, &zone, Kind::Axfr, None, limits, build) {
        Ok((summary, payload)) => {
            let fallback = failed_ixfr.map(|e| e.to_string());
            Ok(fetched(summary, payload, fallback, started))
        }
        Err(error) => Err(transfer_error(
            primary,
            "AXFR",
            error,
            failed_ixfr.map(Box::new),
        )),
    }
}

/// Why an IXFR did not bring the new version.
#[derive(Debug, Clone, Copy)]
pub enum IxfrFailure<'a> {
    /// The transfer failed (see [`XfrError`]).
    Transfer(&'a XfrError),
    /// It arrived whole, but its changesets do not apply exactly to our
    /// copy (or we have no copy to apply them to).
    DidNotApply,
}

/// The one rule of the IXFR → AXFR fallback: whether to ask the same
/// primary for the whole zone after `failure`. Yes for everything but our
/// own problems (an AXFR would fail the same way) and a transfer past the
/// size limits (the whole zone is rarely smaller, and the limits bound
/// what one primary can make us take), and TLS failures (the primary's
/// certificate or key, or its refusal of ours: the AXFR would meet them
/// again). Used by [`fetch`] for a failed transfer and by the secondary
/// for one that does not apply.
pub fn after_ixfr_failure(failure: IxfrFailure<'_>) -> bool {
    match failure {
        IxfrFailure::Transfer(error) => !matches!(
            error.class(),
            FailureClass::Local | FailureClass::TooLarge | FailureClass::Tls
        ),
        IxfrFailure::DidNotApply => true,
    }
}

fn transfer_error(
    primary: &Primary,
    kind: &'static str,
    error: XfrError,
    ixfr: Option<Box<XfrError>>,
) -> FetchError {
    let primary = primary.addr;
    match error.class() {
        FailureClass::Local if ixfr.is_none() => FetchError::Local {
            primary,
            reason: format!("{kind}: {error}"),
        },
        FailureClass::TooLarge => FetchError::TooLarge {
            primary,
            kind,
            error,
            ixfr,
        },
        _ => FetchError::Transfer {
            primary,
            kind,
            error,
            ixfr,
        },
    }
}

fn fetched(
    summary: Summary,
    payload: Payload,
    fallback: Option<String>,
    started: Instant,
) -> Fetched {
    Fetched {
        payload,
        serial: summary.serial,
        messages: summary.progress.messages,
        records: summary.progress.records,
        bytes: summary.progress.bytes,
        elapsed: started.elapsed(),
        fallback,
        expire: summary.expire,
    }
}

/// One transfer on its own connection.
fn attempt(
    primary: &Primary,
    zone: &[u8],
    kind: Kind,
    our_soa: Option<&Record>,
    limits: &Limits,
    build: bool,
) -> Result<(Summary, Payload), XfrError> {
    let mut request = Request::from_wire(zone, kind, primary.key.clone(), limits.timeout)?
        .with_expire()
        .with_limits(StreamLimits {
            records: u64::try_from(limits.max_records).unwrap_or(u64::MAX),
            bytes: limits.max_bytes,
        });
    if let Some(tls) = &primary.tls {
        request = request.with_tls(tls.clone());
    }
    if let (Kind::Ixfr { serial }, Some(soa)) = (kind, our_soa) {
        // Our SOA as it is (RFC 1995 §3), if it is the one of our serial.
        if soa.rtype == SOA && crate::zone::soa_serial(&soa.rdata) == Some(serial) {
            request = request.with_client_soa(soa.ttl, &soa.rdata);
        }
    }
    let mut collector = Collector::new(zone).building(build);
    let summary = client::transfer_to(primary.addr, &request, &mut collector)?;
    let payload = collector.into_payload(kind, &summary)?;
    Ok((summary, payload))
}

/// Why a transfer in is refused although the stream itself was sound
/// (its text is [`XfrError::Rejected`]'s reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Rejection {
    #[error("record {owner} {rtype} of class {class} (only IN is transferred)")]
    NotIn {
        owner: String,
        rtype: String,
        class: String,
    },
    #[error("label too long")]
    LongLabel,
    #[error("cannot compose the RDATA of {0}")]
    Uncomposable(String),
    #[error("RDATA of {0} too long")]
    LongRdata(String),
    #[error("out-of-zone record {0}")]
    OutOfZone(String),
    #[error("SOA record below the apex: {0}")]
    SoaBelowApex(String),
    #[error("the answer holds no SOA")]
    NoSoa,
    #[error("an incremental answer to an AXFR query")]
    IncrementalToAxfr,
    #[error("malformed SOA RDATA")]
    MalformedSoa,
    #[error("the IXFR answer does not end with the primary's SOA")]
    NoClosingSoa,
    #[error("records follow the closing SOA")]
    AfterClosingSoa,
    #[error("an IXFR changeset starts at serial {from}, expected {expected}")]
    BrokenChain { from: Serial, expected: Serial },
    #[error("an IXFR changeset without its new SOA")]
    NoNewSoa,
    #[error("an incremental answer whose second record is no SOA")]
    IncrementalAfterFull,
}

/// The sink of a transfer in: converts, checks and keeps each record
/// (see the module documentation), and makes the [`Payload`] of the
/// complete answer. [`fetch`] runs one behind
/// [`Session`](super::client::Session) over the primary's connection; with
/// the messages in hand, a caller does the same without a socket:
/// `Session::start`, `Session::message` for each message until
/// `Session::outcome`, `Session::finish`, then [`Collector::into_payload`].
pub struct Collector {
    /// The apex, lower-case wire format.
    zone: Vec<u8>,
    /// The first record (the primary's SOA).
    first: Option<Record>,
    /// All the others, in order (unless they go to `builder`).
    rest: Vec<Record>,
    /// Build a whole zone as it arrives ([`fetch_zone`]).
    build: bool,
    /// The zone being built: started at the second record when that is
    /// no SOA (an AXFR, or an IXFR answered in AXFR form).
    builder: Option<Result<ZoneBuilder, crate::zone::BuildError>>,
    /// The closing SOA of the zone being built came.
    closed: bool,
    /// The record being converted, its buffers reused while building.
    scratch: Record,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("zone", &crate::name::display(&self.zone))
            .field("first", &self.first)
            .field("rest", &self.rest.len())
            .field("building", &self.builder.is_some())
            .finish()
    }
}

impl Collector {
    /// A collector for the zone `zone` (wire format, any case).
    pub fn new(zone: &[u8]) -> Collector {
        Collector {
            zone: zone.to_ascii_lowercase(),
            first: None,
            rest: Vec::new(),
            build: false,
            builder: None,
            closed: false,
            scratch: Record {
                owner: Vec::new(),
                rtype: 0,
                ttl: 0,
                rdata: Vec::new(),
            },
        }
    }

    /// With `build`, a whole zone is built as it arrives
    /// ([`Payload::Built`]).
    pub fn building(mut self, build: bool) -> Collector {
        self.build = build;
        self
    }

    /// Keeps a checked record: into the zone being built, or the list.
    fn keep(&mut self, record: Record) -> Result<(), Rejection> {
        if let Some(builder) = self.builder.as_mut() {
            if self.closed {
                return Err(Rejection::AfterClosingSoa);
            }
            // The tracker lets no SOA of the zone through but the first
            // and the closing one.
            if record.rtype == SOA {
                self.closed = true;
            } else if let Ok(b) = builder {
                b.add(&record.owner, record.rtype, record.ttl, &record.rdata, None);
            }
            self.scratch = record;
            return Ok(());
        }
        match &self.first {
            None => self.first = Some(record),
            Some(first) if self.build && self.rest.is_empty() && record.rtype != SOA => {
                let mut builder = ZoneBuilder::new(&self.zone);
                if let Ok(b) = builder.as_mut() {
                    b.add(&first.owner, first.rtype, first.ttl, &first.rdata, None);
                    b.add(&record.owner, record.rtype, record.ttl, &record.rdata, None);
                }
                self.builder = Some(builder);
                self.scratch = record;
            }
            Some(_) => self.rest.push(record),
        }
        Ok(())
    }

    /// The payload of a complete answer to a transfer of `kind` (what
    /// [`fetch`] returns): `summary` is the session's, whose tracker has
    /// checked the order of SOAs; an IXFR's changesets are checked again
    /// here, and any other answer is [`XfrError::Rejected`].
    pub fn into_payload(self, kind: Kind, summary: &Summary) -> Result<Payload, XfrError> {
        self.payload(kind, summary).map_err(|e| XfrError::Rejected {
            message: summary.progress.messages,
            reason: e.to_string(),
        })
    }

    fn payload(self, kind: Kind, summary: &Summary) -> Result<Payload, Rejection> {
        match summary.outcome {
            Outcome::UpToDate => Ok(Payload::UpToDate),
            Outcome::Axfr | Outcome::FullZone => {
                if let Some(builder) = self.builder {
                    let built = builder.map_err(InvalidTransfer::Origin).and_then(finish);
                    return Ok(Payload::Built(built.map(Arc::new)));
                }
                let mut records = self.rest;
                let soa = self.first.ok_or(Rejection::NoSoa)?;
                // The closing SOA.
                records.pop();
                if self.build {
                    let built = build_full(&self.zone, &soa, &records);
                    return Ok(Payload::Built(built.map(Arc::new)));
                }
                Ok(Payload::Full { soa, records })
            }
            Outcome::Incremental { .. } if self.builder.is_some() => {
                Err(Rejection::IncrementalAfterFull)
            }
            Outcome::Incremental { .. } => {
                let Kind::Ixfr { serial: ours } = kind else {
                    return Err(Rejection::IncrementalToAxfr);
                };
                changesets(self.rest, ours, summary.serial).map(Payload::Incremental)
            }
        }
    }
}

impl Sink for Collector {
    fn record(&mut self, record: &AnswerRecord<'_>, item: Item) -> Result<(), SinkError> {
        let rejected = |r: Rejection| SinkError::Rejected(r.to_string());
        let mut converted = std::mem::replace(
            &mut self.scratch,
            Record {
                owner: Vec::new(),
                rtype: 0,
                ttl: 0,
                rdata: Vec::new(),
            },
        );
        convert_into(record, &mut converted).map_err(rejected)?;
        let record = converted;
        if !in_zone(&record.owner, &self.zone) {
            return Err(rejected(Rejection::OutOfZone(crate::name::display(
                &record.owner,
            ))));
        }
        // The tracker counts the zone's SOA only (`Item::Soa`).
        if record.rtype == SOA && item == Item::Other {
            return Err(rejected(Rejection::SoaBelowApex(crate::name::display(
                &record.owner,
            ))));
        }
        self.keep(record).map_err(rejected)
    }
}

/// A parsed record as the zone store wants it: class IN, the owner in
/// lower-case uncompressed wire format, the RDATA uncompressed (names in it
/// in full, as sent).
fn convert(record: &AnswerRecord<'_>) -> Result<Record, Rejection> {
    let mut out = Record {
        owner: Vec::new(),
        rtype: 0,
        ttl: 0,
        rdata: Vec::new(),
    };
    convert_into(record, &mut out)?;
    Ok(out)
}

/// [`convert`] into `out`'s buffers.
fn convert_into(record: &AnswerRecord<'_>, out: &mut Record) -> Result<(), Rejection> {
    if record.class() != Class::IN {
        return Err(Rejection::NotIn {
            owner: format!("{}.", record.owner()),
            rtype: record.rtype().to_string(),
            class: record.class().to_string(),
        });
    }
    let owner = &mut out.owner;
    owner.clear();
    owner.reserve(usize::from(record.owner().compose_len()));
    for label in record.owner().iter_labels() {
        let len = u8::try_from(label.len()).map_err(|_| Rejection::LongLabel)?;
        owner.push(len);
        owner.extend(label.as_slice().iter().map(u8::to_ascii_lowercase));
    }
    let rdata = &mut out.rdata;
    rdata.clear();
    // A `Vec` target does not compress: names are written out in full.
    record
        .data()
        .compose_rdata(rdata)
        .map_err(|_| Rejection::Uncomposable(format!("{}.", record.owner())))?;
    if rdata.len() > usize::from(u16::MAX) {
        return Err(Rejection::LongRdata(format!("{}.", record.owner())));
    }
    out.rtype = record.rtype().to_int();
    out.ttl = record.ttl().as_secs();
    Ok(())
}

/// Whether `owner` is `zone` or below it (both lower-case wire format).
fn in_zone(owner: &[u8], zone: &[u8]) -> bool {
    let mut pos = 0;
    loop {
        if owner.get(pos..) == Some(zone) {
            return true;
        }
        match owner.get(pos) {
            Some(&len) if len > 0 => pos += 1 + usize::from(len),
            _ => return false,
        }
    }
}

/// The changesets of an incremental IXFR answer (RFC 1995 §4): `records`
/// is the answer after its first SOA; each changeset is the old SOA, the
/// records removed, the new SOA, the records added; the primary's SOA
/// closes the answer after the changeset that reaches its serial. The
/// tracker has checked this order; it is checked again here, so that no
/// payload is built from anything else.
fn changesets(
    records: Vec<Record>,
    ours: Serial,
    theirs: Serial,
) -> Result<Vec<Changeset>, Rejection> {
    let serial_of = |r: &Record| crate::zone::soa_serial(&r.rdata).ok_or(Rejection::MalformedSoa);
    let mut records = records.into_iter();
    let mut out: Vec<Changeset> = Vec::new();
    let mut next = records.next();
    loop {
        let Some(old_soa) = next.take().filter(|r| r.rtype == SOA) else {
            return Err(Rejection::NoClosingSoa);
        };
        let from = serial_of(&old_soa)?;
        let expected = out.last().map_or(ours, |c| c.to_serial);
        if out.last().is_some_and(|c| c.to_serial == theirs) {
            // The closing SOA.
            if from != theirs || records.next().is_some() {
                return Err(Rejection::AfterClosingSoa);
            }
            return Ok(out);
        }
        if from != expected {
            return Err(Rejection::BrokenChain { from, expected });
        }
        let mut removed = Vec::new();
        let new_soa = loop {
            match records.next() {
                Some(r) if r.rtype == SOA => break r,
                Some(r) => removed.push(r),
                None => return Err(Rejection::NoNewSoa),
            }
        };
        let to = serial_of(&new_soa)?;
        let mut added = Vec::new();
        next = loop {
            match records.next() {
                Some(r) if r.rtype == SOA => break Some(r),
                Some(r) => added.push(r),
                None => break None,
            }
        };
        out.push(Changeset {
            from_serial: from,
            to_serial: to,
            old_soa,
            new_soa,
            removed,
            added,
        });
    }
}

// ---------------------------------------------------------------------------
// The SOA query

/// Asks `primary` for the SOA of `zone` (wire format), as a secondary's
/// refresh check does (RFC 1034 §4.3.5): over UDP first, then over TCP
/// when the UDP answer is truncated, fails or does not come. A TLS
/// primary is asked over TLS alone (RFC 9103 keeps the whole exchange
/// private; there is no UDP to fall back to, and no clear TCP). The query
/// carries an empty EDNS EXPIRE option (RFC 7314) and, with a key, a TSIG
/// record; the answer must then be signed with it. The answer must be
/// authoritative (AA) and hold the zone's SOA.
///
/// `timeout` bounds the whole query: UDP gets half of it, TCP the rest
/// (TLS all of it).
pub fn query_soa(
    primary: &Primary,
    zone: &[u8],
    timeout: Duration,
) -> Result<SoaAnswer, FetchError> {
    let timeout = timeout.min(client::MAX_TIMEOUT);
    let local = |reason: String| FetchError::Local {
        primary: primary.addr,
        reason,
    };
    let zone = Name::from_octets(zone.to_ascii_lowercase())
        .map_err(|e| local(format!("zone name: {e}")))?;
    let started = Instant::now();
    if primary.tls.is_some() {
        return soa_over_tcp(primary, &zone, started + timeout, timeout).map_err(|e| match e {
            SoaFailure::Local(reason) => local(reason),
            SoaFailure::Failed { class, reason } => FetchError::Soa {
                primary: primary.addr,
                class,
                reason,
                tls: true,
            },
        });
    }
    let udp = match soa_over_udp(primary, &zone, started + timeout / 2) {
        Ok(Some(answer)) => return Ok(answer),
        Ok(None) => "the UDP answer is truncated".to_owned(),
        Err(SoaFailure::Local(reason)) => return Err(local(reason)),
        Err(SoaFailure::Failed { reason, .. }) => format!("UDP: {reason}"),
    };
    match soa_over_tcp(primary, &zone, started + timeout, timeout) {
        Ok(answer) => Ok(answer),
        Err(SoaFailure::Local(reason)) => Err(local(reason)),
        Err(SoaFailure::Failed { class, reason }) => Err(FetchError::Soa {
            primary: primary.addr,
            class,
            reason: format!("{udp}; TCP: {reason}"),
            tls: false,
        }),
    }
}

/// Why one SOA query failed.
enum SoaFailure {
    /// Our side: the query cannot be built or signed.
    Local(String),
    Failed {
        class: FailureClass,
        reason: String,
    },
}

impl From<XfrError> for SoaFailure {
    fn from(error: XfrError) -> SoaFailure {
        match error.class() {
            FailureClass::Local => SoaFailure::Local(error.to_string()),
            class => SoaFailure::Failed {
                class,
                reason: error.to_string(),
            },
        }
    }
}

fn io_failure(class: FailureClass, error: io::Error) -> SoaFailure {
    SoaFailure::Failed {
        class,
        reason: error.to_string(),
    }
}

/// A signed (when there is a key) SOA query with a fresh id.
fn soa_query(
    primary: &Primary,
    zone: &Name<Vec<u8>>,
) -> Result<(u16, Vec<u8>, Option<ClientSigner>), SoaFailure> {
    let id = crate::wire::random_id();
    let mut query = client::build_query(id, zone, Rtype::SOA, None, true)
        .map_err(|e| SoaFailure::Local(format!("cannot build the SOA query: {e}")))?;
    let signer = match &primary.key {
        Some(key) => Some(
            ClientSigner::sign_request(key, &mut query)
                .map_err(|e| SoaFailure::Local(format!("cannot sign the SOA query: {e}")))?,
        ),
        None => None,
    };
    Ok((id, query, signer))
}

/// The SOA query over UDP: `Ok(None)` when the answer is truncated.
/// Datagrams that are not an answer to our query (another id, not a
/// response, unparsable) are ignored, so a stray or forged one does not end
/// the wait.
fn soa_over_udp(
    primary: &Primary,
    zone: &Name<Vec<u8>>,
    deadline: Instant,
) -> Result<Option<SoaAnswer>, SoaFailure> {
    // The exchange matches the answer to the query's id.
    let (_, query, mut signer) = soa_query(primary, zone)?;
    let bytes = crate::exchange::udp(primary.addr, &query, deadline).map_err(|e| match e {
        crate::exchange::ExchangeError::Timeout => SoaFailure::Failed {
            class: FailureClass::Timeout,
            reason: "no answer in time".into(),
        },
        crate::exchange::ExchangeError::Io(e) => io_failure(FailureClass::Io, e),
    })?;
    let message = Message::from_octets(&bytes[..]).map_err(|e| SoaFailure::Failed {
        class: FailureClass::Malformed,
        reason: format!("the answer cannot be parsed: {e}"),
    })?;
    if message.header().tc() {
        return Ok(None);
    }
    soa_answer(&bytes, zone, &mut signer).map(Some)
}

/// The SOA query over TCP (TLS for a TLS primary), on its own
/// connection.
fn soa_over_tcp(
    primary: &Primary,
    zone: &Name<Vec<u8>>,
    deadline: Instant,
    timeout: Duration,
) -> Result<SoaAnswer, SoaFailure> {
    let timed_out = || SoaFailure::Failed {
        class: FailureClass::Timeout,
        reason: format!(
            "no answer within the query's timeout of {} s",
            timeout.as_secs_f64()
        ),
    };
    let io = |e: io::Error| match (e.kind(), tls_error_of(&e), &primary.tls) {
        // An alert after the handshake: in TLS 1.3 a refused client
        // certificate shows here.
        (_, Some(error), Some(tls)) => SoaFailure::Failed {
            class: FailureClass::Tls,
            reason: format!("TLS failed: {}", tls.explain(error)),
        },
        (io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock, ..) => timed_out(),
        (io::ErrorKind::UnexpectedEof, ..) => SoaFailure::Failed {
            class: FailureClass::Closed,
            reason: "the server closed the connection in the middle of the answer".into(),
        },
        _ => io_failure(FailureClass::Io, e),
    };
    let (id, query, mut signer) = soa_query(primary, zone)?;
    let mut conn = Connection::open(primary.addr, deadline).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => timed_out(),
        _ => SoaFailure::Failed {
            class: FailureClass::Connect,
            reason: format!("cannot connect: {e}"),
        },
    })?;
    if let Some(tls) = &primary.tls {
        conn = conn.start_tls(tls).map_err(|e| SoaFailure::Failed {
            class: FailureClass::Tls,
            reason: format!(
                "TLS failed: {}",
                client::handshake_failure(tls, &e, timeout)
            ),
        })?;
    }
    conn.send(&query).map_err(io)?;
    let mut buf = Vec::new();
    if !conn.recv(&mut buf).map_err(io)? {
        return Err(SoaFailure::Failed {
            class: FailureClass::Closed,
            reason: "the server closed the connection without answering".into(),
        });
    }
    let message = Message::from_octets(buf.as_slice()).map_err(|_| malformed("too short"))?;
    client::check_header(&message, id).map_err(protocol)?;
    soa_answer(&buf, zone, &mut signer)
}

fn malformed(reason: impl fmt::Display) -> SoaFailure {
    SoaFailure::from(XfrError::Malformed {
        message: 1,
        reason: reason.to_string(),
    })
}

fn protocol(problem: client::ProtocolError) -> SoaFailure {
    SoaFailure::from(XfrError::Protocol {
        message: 1,
        problem,
    })
}

/// Checks an answer to our SOA query (its header already checked) and
/// takes the SOA out of it.
fn soa_answer(
    bytes: &[u8],
    zone: &Name<Vec<u8>>,
    signer: &mut Option<ClientSigner>,
) -> Result<SoaAnswer, SoaFailure> {
    let message = Message::from_octets(bytes).map_err(|_| malformed("too short"))?;
    let verified = match signer.as_mut() {
        Some(signer) => signer.verify_response(bytes),
        None => Ok(()),
    };
    // As for transfers: the RCODE explains an unsigned error answer.
    let rcode = message.opt_rcode();
    if rcode != OptRcode::NOERROR {
        return Err(client::rcode_error(&message, rcode).into());
    }
    verified.map_err(|e| client::tsig_failure(1, e))?;
    client::check_question(&message, zone, Rtype::SOA)
        .map_err(malformed)?
        .map_err(protocol)?;
    if !message.header().aa() {
        return Err(protocol(client::ProtocolError::NotAuthoritative));
    }
    let expire = client::expire_of(&message);
    for record in message.answer().map_err(malformed)? {
        let record = record.map_err(malformed)?;
        if record.rtype() != Rtype::SOA || !record.owner().name_eq(zone) {
            continue;
        }
        let Some(record) = record
            .to_record::<AllRecordData<_, _>>()
            .map_err(malformed)?
        else {
            continue;
        };
        let soa = convert(&record).map_err(malformed)?;
        let serial =
            crate::zone::soa_serial(&soa.rdata).ok_or_else(|| malformed("bad SOA RDATA"))?;
        return Ok(SoaAnswer {
            serial,
            soa,
            expire,
        });
    }
    Err(protocol(client::ProtocolError::NoSoa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsig::{check_request, Keys, RequestAuth};
    use crate::xfr::client::testing::{framed, Script, ScriptedServer, UdpScript};
    use domain::base::iana::Rcode;
    use domain::base::message_builder::{MessageBuilder, StaticCompressor};
    use domain::base::opt::Expire;
    use domain::base::rdata::UnknownRecordData;
    use domain::base::{ParsedName, Ttl};
    use domain::rdata::{Mx, Ns, Soa, A};
    use std::str::FromStr;

    // --- Records, answers and scripts

    fn name(text: &str) -> Name<Vec<u8>> {
        Name::from_str(text).unwrap()
    }

    /// Wire format, case kept.
    fn wire(text: &str) -> Vec<u8> {
        name(text).as_octets().clone()
    }

    fn zone() -> Vec<u8> {
        wire("example.com.")
    }

    /// A record of a scripted answer.
    #[derive(Debug, Clone, Copy)]
    enum R {
        /// The zone's SOA with this serial.
        Soa(u32),
        /// `owner A 192.0.2.n`.
        A(&'static str, u8),
        Ns(&'static str, &'static str),
        /// `owner MX 10 target`.
        Mx(&'static str, &'static str),
        /// `owner CH A 192.0.2.1`.
        Chaos(&'static str),
    }

    fn soa_data(serial: u32) -> Soa<Name<Vec<u8>>> {
        Soa::new(
            name("ns1.example.com."),
            name("hostmaster.example.com."),
            domain::base::Serial(serial),
            Ttl::from_secs(7200),
            Ttl::from_secs(1800),
            Ttl::from_secs(1209600),
            Ttl::from_secs(300),
        )
    }

    /// What a record of the script must become.
    fn expected(r: R) -> Record {
        let lower = |text: &str| wire(&text.to_ascii_lowercase());
        let (owner, rtype, rdata) = match r {
            R::Soa(serial) => {
                let mut rdata = wire("ns1.example.com.");
                rdata.extend(wire("hostmaster.example.com."));
                for n in [serial, 7200, 1800, 1209600, 300] {
                    rdata.extend(n.to_be_bytes());
                }
                (zone(), SOA, rdata)
            }
            R::A(owner, n) => (lower(owner), 1, vec![192, 0, 2, n]),
            R::Ns(owner, target) => (lower(owner), 2, wire(target)),
            R::Mx(owner, target) => {
                let mut rdata = vec![0, 10];
                rdata.extend(wire(target));
                (lower(owner), 15, rdata)
            }
            R::Chaos(_) => unreachable!("never accepted"),
        };
        Record {
            owner,
            rtype,
            ttl: 3600,
            rdata,
        }
    }

    fn soa(serial: u32) -> Record {
        expected(R::Soa(serial))
    }

    /// An answer to `query` holding `records`, names compressed, AA set,
    /// with an EXPIRE option when given.
    fn answer(query: &[u8], rcode: Rcode, records: &[R], expire: Option<u32>) -> Vec<u8> {
        let query = Message::from_octets(query).unwrap();
        let mut answer = MessageBuilder::from_target(StaticCompressor::new(Vec::new()))
            .unwrap()
            .start_answer(&query, rcode)
            .unwrap();
        answer.header_mut().set_aa(true);
        for r in records {
            match *r {
                R::Soa(serial) => answer.push((name("example.com."), 3600, soa_data(serial))),
                R::A(owner, n) => answer.push((name(owner), 3600, A::from_octets(192, 0, 2, n))),
                R::Ns(owner, target) => answer.push((name(owner), 3600, Ns::new(name(target)))),
                R::Mx(owner, target) => answer.push((name(owner), 3600, Mx::new(10, name(target)))),
                R::Chaos(owner) => {
                    answer.push((name(owner), Class::CH, 3600, A::from_octets(192, 0, 2, 1)))
                }
            }
            .unwrap();
        }
        let mut additional = answer.additional();
        if let Some(value) = expire {
            additional.opt(|opt| opt.expire(Some(value))).unwrap();
        }
        additional.finish().into_target()
    }

    /// Answers with one message per part, the first with `expire`.
    fn script(parts: Vec<Vec<R>>, expire: Option<u32>) -> Script {
        Box::new(move |q| {
            parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let expire = if i == 0 { expire } else { None };
                    framed(&answer(q, Rcode::NOERROR, part, expire))
                })
                .collect()
        })
    }

    fn rcode_script(rcode: Rcode) -> Script {
        Box::new(move |q| vec![framed(&answer(q, rcode, &[], None))])
    }

    /// A zone of five records as one AXFR answer in two messages.
    fn axfr_parts(serial: u32) -> Vec<Vec<R>> {
        vec![
            vec![
                R::Soa(serial),
                R::Ns("example.com.", "ns1.example.com."),
                R::A("ns1.example.com.", 53),
            ],
            vec![
                R::A("WWW.Example.COM.", 80),
                R::Mx("example.com.", "Mail.Example.NET."),
                R::Soa(serial),
            ],
        ]
    }

    fn axfr_payload(serial: u32) -> Payload {
        Payload::Full {
            soa: soa(serial),
            records: axfr_parts(serial)
                .concat()
                .into_iter()
                .filter(|r| !matches!(r, R::Soa(_)))
                .map(expected)
                .collect(),
        }
    }

    fn limits() -> Limits {
        Limits {
            timeout: Duration::from_secs(5),
            ..Limits::default()
        }
    }

    /// What `server` gives a secondary at serial 3 that asks for changes.
    fn fetch_from_3(server: &ScriptedServer) -> Fetched {
        fetch(
            &primary(server),
            &zone(),
            Some((Serial(3), &soa(3))),
            &limits(),
        )
        .unwrap()
    }

    fn primary(server: &ScriptedServer) -> Primary {
        Primary::new(server.addr, None)
    }

    fn tcp_only(scripts: Vec<Script>) -> ScriptedServer {
        ScriptedServer::start(scripts, Vec::new())
    }

    fn qtype_of(query: &[u8]) -> Rtype {
        Message::from_octets(query)
            .unwrap()
            .sole_question()
            .unwrap()
            .qtype()
    }

    /// Whether the query has an OPT record with an empty EXPIRE option.
    fn asks_expire(query: &[u8]) -> bool {
        let message = Message::from_octets(query).unwrap();
        message.opt().and_then(|opt| opt.opt().expire()) == Some(Expire::new(None))
    }

    // --- IXFR

    #[test]
    fn ixfr_incremental_answer_becomes_exact_changesets() {
        let first = vec![
            R::Soa(5),
            R::Soa(3),
            R::A("host1.example.com.", 1),
            R::Soa(4),
            R::A("Host2.Example.com.", 2),
        ];
        let second = vec![
            R::Soa(4),
            R::Ns("example.com.", "Ns2.Example.ORG."),
            R::Soa(5),
            R::Ns("example.com.", "ns3.example.com."),
            R::Mx("example.com.", "Mail.Other.NET."),
            R::Soa(5),
        ];
        let server = tcp_only(vec![script(vec![first, second], Some(86400))]);
        let fetched = fetch_from_3(&server);
        let changes = vec![
            Changeset {
                from_serial: Serial(3),
                to_serial: Serial(4),
                old_soa: soa(3),
                new_soa: soa(4),
                removed: vec![expected(R::A("host1.example.com.", 1))],
                added: vec![expected(R::A("host2.example.com.", 2))],
            },
            Changeset {
                from_serial: Serial(4),
                to_serial: Serial(5),
                old_soa: soa(4),
                new_soa: soa(5),
                removed: vec![expected(R::Ns("example.com.", "Ns2.Example.ORG."))],
                added: vec![
                    expected(R::Ns("example.com.", "ns3.example.com.")),
                    expected(R::Mx("example.com.", "Mail.Other.NET.")),
                ],
            },
        ];
        assert_eq!(fetched.payload, Payload::Incremental(changes));
        assert_eq!(
            (fetched.serial, fetched.messages, fetched.records),
            (Serial(5), 2, 11)
        );
        assert_eq!(fetched.fallback, None);
        assert_eq!(fetched.expire, Some(86400));
        assert!(fetched.bytes > 100);

        // The query: IXFR, our SOA as it is in the authority section, an
        // OPT record asking for EXPIRE.
        let queries = server.tcp_queries();
        assert_eq!(queries.len(), 1);
        let query = Message::from_octets(queries[0].as_slice()).unwrap();
        assert_eq!(qtype_of(&queries[0]), Rtype::IXFR);
        let authority: Vec<_> = query
            .authority()
            .unwrap()
            .map(|r| r.unwrap().into_record::<UnknownRecordData<&[u8]>>())
            .collect();
        assert_eq!(authority.len(), 1);
        let record = authority[0].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(record.rtype(), Rtype::SOA);
        assert_eq!(record.ttl().as_secs(), 3600);
        assert_eq!(record.data().data(), &soa(3).rdata.as_slice());
        assert!(asks_expire(&queries[0]));
    }

    #[test]
    fn ixfr_refused_falls_back_to_axfr() {
        let server = tcp_only(vec![
            rcode_script(Rcode::REFUSED),
            script(axfr_parts(7), None),
        ]);
        let fetched = fetch_from_3(&server);
        assert_eq!(fetched.payload, axfr_payload(7));
        assert_eq!(fetched.serial, Serial(7));
        assert_eq!(fetched.fallback.as_deref(), Some("server answered REFUSED"));
        let queries = server.tcp_queries();
        assert_eq!(queries.len(), 2);
        assert_eq!(qtype_of(&queries[0]), Rtype::IXFR);
        assert_eq!(qtype_of(&queries[1]), Rtype::AXFR);
        assert!(asks_expire(&queries[1]));
    }

    #[test]
    fn other_error_rcodes_fall_back_too() {
        for rcode in [
            Rcode::NOTIMP,
            Rcode::FORMERR,
            Rcode::SERVFAIL,
            Rcode::NOTAUTH,
        ] {
            let server = tcp_only(vec![rcode_script(rcode), script(axfr_parts(7), None)]);
            let fetched = fetch_from_3(&server);
            assert_eq!(fetched.payload, axfr_payload(7), "{rcode}");
            assert!(
                fetched
                    .fallback
                    .as_deref()
                    .unwrap()
                    .contains(&rcode.to_string()),
                "{rcode}: {:?}",
                fetched.fallback
            );
        }
    }

    #[test]
    fn ixfr_stream_cut_in_the_middle_falls_back() {
        let cut: Script = Box::new(|q| {
            let first = framed(&answer(q, Rcode::NOERROR, &[R::Soa(5), R::Soa(3)], None));
            let second = framed(&answer(q, Rcode::NOERROR, &[R::Soa(5), R::Soa(5)], None));
            vec![first, second[..second.len() / 2].to_vec()]
        });
        let server = tcp_only(vec![cut, script(axfr_parts(5), None)]);
        let fetched = fetch_from_3(&server);
        assert_eq!(fetched.payload, axfr_payload(5));
        let why = fetched.fallback.unwrap();
        assert!(why.contains("closed the connection"), "{why}");
    }

    #[test]
    fn broken_chains_fall_back() {
        // Changesets that do not start at our serial.
        let server = tcp_only(vec![
            script(vec![vec![R::Soa(5), R::Soa(2), R::Soa(5), R::Soa(5)]], None),
            script(axfr_parts(5), None),
        ]);
        let fetched = fetch_from_3(&server);
        assert_eq!(fetched.payload, axfr_payload(5));
        let why = fetched.fallback.unwrap();
        assert!(why.contains("starts at serial 2, expected 3"), "{why}");
        // A gap: 3 → 4, then 6 → 5.
        let server = tcp_only(vec![
            script(
                vec![vec![
                    R::Soa(5),
                    R::Soa(3),
                    R::Soa(4),
                    R::Soa(6),
                    R::Soa(5),
                    R::Soa(5),
                ]],
                None,
            ),
            script(axfr_parts(5), None),
        ]);
        let fetched = fetch_from_3(&server);
        let why = fetched.fallback.unwrap();
        assert!(why.contains("starts at serial 6, expected 4"), "{why}");
    }

    #[test]
    fn lone_soa_not_newer_is_up_to_date() {
        for serial in [2, 3, u32::MAX] {
            let server = tcp_only(vec![script(vec![vec![R::Soa(serial)]], None)]);
            let fetched = fetch_from_3(&server);
            assert_eq!(fetched.payload, Payload::UpToDate, "{serial}");
            assert_eq!((fetched.serial, fetched.fallback), (Serial(serial), None));
            assert_eq!(server.tcp_queries().len(), 1);
        }
    }

    #[test]
    fn lone_newer_soa_falls_back() {
        let server = tcp_only(vec![
            script(vec![vec![R::Soa(4)]], None),
            script(axfr_parts(4), None),
        ]);
        let fetched = fetch_from_3(&server);
        assert_eq!(fetched.payload, axfr_payload(4));
        let why = fetched.fallback.unwrap();
        assert!(why.contains("SOA alone, with serial 4"), "{why}");
    }

    #[test]
    fn axfr_style_answer_to_ixfr_is_full() {
        let server = tcp_only(vec![script(axfr_parts(9), None)]);
        let fetched = fetch_from_3(&server);
        assert_eq!(fetched.payload, axfr_payload(9));
        assert_eq!((fetched.serial, fetched.fallback), (Serial(9), None));
        assert_eq!(server.tcp_queries().len(), 1);
    }

    /// The records of a zone `fetch_zone` built, sorted (the builder
    /// orders them).
    fn built_records(payload: &Payload) -> Vec<Record> {
        let Payload::Built(Ok(version)) = payload else {
            panic!("a built zone: {payload:?}");
        };
        let mut records = crate::journal::snapshot::all_records(version);
        records.sort();
        records
    }

    /// [`axfr_payload`]'s records with its SOA, sorted.
    fn axfr_records(serial: u32) -> Vec<Record> {
        let Payload::Full { soa, mut records } = axfr_payload(serial) else {
            unreachable!()
        };
        records.push(soa);
        records.sort();
        records
    }

    /// `fetch_zone` builds a whole zone as it arrives: the same records as
    /// `fetch` collects (owners lower-cased, names in RDATA as sent), in
    /// an AXFR and in an IXFR answered in AXFR form; an incremental IXFR
    /// still gives changesets.
    #[test]
    fn fetch_zone_builds_the_whole_zone_as_it_arrives() {
        let server = tcp_only(vec![script(axfr_parts(7), None)]);
        let fetched = fetch_zone(&primary(&server), &zone(), None, &limits()).unwrap();
        assert_eq!(built_records(&fetched.payload), axfr_records(7));
        assert_eq!((fetched.serial, fetched.records), (Serial(7), 6));

        let server = tcp_only(vec![script(axfr_parts(9), None)]);
        let ours = soa(3);
        let fetched = fetch_zone(
            &primary(&server),
            &zone(),
            Some((Serial(3), &ours)),
            &limits(),
        )
        .unwrap();
        assert_eq!(built_records(&fetched.payload), axfr_records(9));

        let incremental = vec![vec![
            R::Soa(4),
            R::Soa(3),
            R::A("host1.example.com.", 1),
            R::Soa(4),
            R::A("Host2.Example.com.", 2),
            R::Soa(4),
        ]];
        let server = tcp_only(vec![script(incremental, None)]);
        let fetched = fetch_zone(
            &primary(&server),
            &zone(),
            Some((Serial(3), &ours)),
            &limits(),
        )
        .unwrap();
        assert!(
            matches!(&fetched.payload, Payload::Incremental(c) if c.len() == 1),
            "{:?}",
            fetched.payload
        );
    }

    /// The builder's checks hold for a zone built as it arrived and for
    /// one of its SOA alone (built from the list: the closing SOA comes
    /// second); records after the closing SOA are no zone at all.
    #[test]
    fn fetch_zone_checks_what_it_builds() {
        let not_valid = |parts: Vec<Vec<R>>| {
            let server = tcp_only(vec![script(parts, None)]);
            let fetched = fetch_zone(&primary(&server), &zone(), None, &limits()).unwrap();
            match fetched.payload {
                Payload::Built(Err(e)) => e.to_string(),
                other => panic!("{other:?}"),
            }
        };
        for parts in [
            vec![vec![R::Soa(2), R::Soa(2)]],
            vec![vec![R::Soa(2), R::A("www.example.com.", 1), R::Soa(2)]],
        ] {
            let error = not_valid(parts);
            assert!(
                error.starts_with("the transferred zone is not valid: ")
                    && error.contains("no NS records at the zone apex"),
                "{error}"
            );
        }
        let trailing = vec![vec![
            R::Soa(2),
            R::Ns("example.com.", "ns1.example.com."),
            R::Soa(2),
            R::A("www.example.com.", 1),
        ]];
        let server = tcp_only(vec![script(trailing, None)]);
        assert!(fetch_zone(&primary(&server), &zone(), None, &limits()).is_err());
    }

    #[test]
    fn out_of_zone_record_in_ixfr_falls_back_and_in_axfr_is_an_error() {
        let evil = vec![vec![R::Soa(7), R::A("evil.example.net.", 1), R::Soa(7)]];
        let server = tcp_only(vec![script(evil.clone(), None)]);
        let e = fetch(&primary(&server), &zone(), None, &limits()).unwrap_err();
        assert_eq!(e.class(), FailureClass::Rejected);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: AXFR: ", server.addr)),
            "{text}"
        );
        assert!(
            text.contains("out-of-zone record evil.example.net."),
            "{text}"
        );
        // A name that ends like the zone but is not below it.
        let server = tcp_only(vec![script(
            vec![vec![R::Soa(7), R::A("notexample.com.", 1), R::Soa(7)]],
            None,
        )]);
        let e = fetch(&primary(&server), &zone(), None, &limits()).unwrap_err();
        assert!(
            e.to_string().contains("out-of-zone record notexample.com."),
            "{e}"
        );
        // In an IXFR answer: the AXFR is asked for, and fails the same way.
        let server = tcp_only(vec![script(evil.clone(), None), script(evil, None)]);
        let ours = soa(3);
        let e = fetch(
            &primary(&server),
            &zone(),
            Some((Serial(3), &ours)),
            &limits(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("IXFR: message 1: out-of-zone")
                && text.contains("; AXFR: message 1: out-of-zone"),
            "{text}"
        );
    }

    #[test]
    fn records_of_another_class_are_rejected() {
        let server = tcp_only(vec![script(
            vec![vec![R::Soa(7), R::Chaos("txt.example.com."), R::Soa(7)]],
            None,
        )]);
        let e = fetch(&primary(&server), &zone(), None, &limits()).unwrap_err();
        assert_eq!(e.class(), FailureClass::Rejected);
        assert!(e.to_string().contains("of class CH"), "{e}");
    }

    #[test]
    fn too_many_records_or_octets_is_too_large() {
        let few = Limits {
            max_records: 4,
            ..limits()
        };
        let server = tcp_only(vec![script(axfr_parts(7), None)]);
        let e = fetch(&primary(&server), &zone(), None, &few).unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { .. }), "{e:?}");
        assert_eq!(e.class(), FailureClass::TooLarge);
        assert!(e.to_string().contains("the limit of 4 records"), "{e}");
        // Exactly at the limit is fine.
        let server = tcp_only(vec![script(axfr_parts(7), None)]);
        let six = Limits {
            max_records: 6,
            ..limits()
        };
        assert!(fetch(&primary(&server), &zone(), None, &six).is_ok());

        let small = Limits {
            max_bytes: 100,
            ..limits()
        };
        let server = tcp_only(vec![script(axfr_parts(7), None)]);
        let e = fetch(&primary(&server), &zone(), None, &small).unwrap_err();
        assert!(e.to_string().contains("the limit of 100 octets"), "{e}");

        // An IXFR over the limit is not followed by an AXFR.
        let server = tcp_only(vec![
            script(axfr_parts(7), None),
            script(axfr_parts(7), None),
        ]);
        let ours = soa(3);
        let e = fetch(&primary(&server), &zone(), Some((Serial(3), &ours)), &few).unwrap_err();
        assert!(
            matches!(
                e,
                FetchError::TooLarge {
                    kind: "IXFR",
                    ixfr: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(server.tcp_queries().len(), 1);
    }

    #[test]
    fn unreachable_primary_fails_both_within_the_timeouts() {
        // A port nobody listens on.
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let primary = Primary::new(addr, None);
        let ours = soa(3);
        let started = Instant::now();
        let e = fetch(&primary, &zone(), Some((Serial(3), &ours)), &limits()).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.class(), FailureClass::Connect);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{addr}: IXFR: cannot connect"))
                && text.contains("; AXFR: cannot connect"),
            "{text}"
        );
    }

    // --- TLS (XoT in)

    /// A loopback port where TCP answers anything with text that is not
    /// TLS and closes, and UDP takes datagrams: how many of each came.
    struct NotTls {
        addr: SocketAddr,
        connections: Arc<std::sync::atomic::AtomicUsize>,
        datagrams: Arc<std::sync::atomic::AtomicUsize>,
    }

    fn not_tls() -> NotTls {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        for _ in 0..50 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let Ok(socket) = std::net::UdpSocket::bind(addr) else {
                continue;
            };
            let connections = Arc::new(AtomicUsize::new(0));
            let datagrams = Arc::new(AtomicUsize::new(0));
            let (seen, until) = (
                connections.clone(),
                Instant::now() + Duration::from_secs(10),
            );
            listener.set_nonblocking(true).unwrap();
            std::thread::spawn(move || {
                while Instant::now() < until {
                    let Ok((mut stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = stream.read(&mut [0u8; 2048]);
                    let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
                }
            });
            let seen = datagrams.clone();
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            std::thread::spawn(move || {
                while socket.recv_from(&mut [0u8; 512]).is_ok() {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
            });
            return NotTls {
                addr,
                connections,
                datagrams,
            };
        }
        panic!("no port free for both TCP and UDP");
    }

    fn over_tls(addr: SocketAddr) -> Primary {
        let settings = crate::tls::client::ClientTlsSettings {
            insecure: true,
            terms: crate::tls::client::Terms::CONFIG,
            ..Default::default()
        };
        let tls = ClientTls::new(&settings, addr.ip()).unwrap();
        Primary::new(addr, None).with_tls(Arc::new(tls))
    }

    #[test]
    fn a_tls_primary_is_asked_its_soa_over_tls_alone() {
        use std::sync::atomic::Ordering;
        let server = not_tls();
        let primary = over_tls(server.addr);
        assert_eq!(primary.to_string(), format!("{} over TLS", server.addr));
        let e = query_soa(&primary, &zone(), Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.class(), FailureClass::Tls, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "{}: SOA query over TLS: TLS failed: the server does not speak TLS here",
                server.addr
            )),
            "{text}"
        );
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        // No UDP first, and no TCP in clear after.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(server.datagrams.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_tls_failure_is_not_followed_by_an_axfr() {
        use std::sync::atomic::Ordering;
        let server = not_tls();
        let ours = soa(3);
        let e = fetch(
            &over_tls(server.addr),
            &zone(),
            Some((Serial(3), &ours)),
            &limits(),
        )
        .unwrap_err();
        assert_eq!(e.class(), FailureClass::Tls, "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: IXFR: TLS failed: ", server.addr)),
            "{e}"
        );
        assert_eq!(server.connections.load(Ordering::SeqCst), 1, "{e}");
        assert!(!after_ixfr_failure(IxfrFailure::Transfer(&XfrError::Tls {
            reason: String::new(),
            progress: Default::default(),
        })));
    }

    // --- TSIG

    const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb2YtenN5bmMtMDE=";

    fn key() -> TsigKey {
        TsigKey::from_config("xfr-key", "hmac-sha256", SECRET).unwrap()
    }

    fn wrong_key() -> TsigKey {
        TsigKey::from_config("xfr-key", "hmac-sha256", "b3RoZXItc2VjcmV0").unwrap()
    }

    /// The server's signer for query `q`: with the right key, the real
    /// one; with the wrong key, one made from a copy of the query signed
    /// with that key (the real query does not verify with it).
    fn server_signer(q: &[u8], right: bool) -> crate::tsig::SignedRequest {
        let (key, query) = if right {
            (key(), q.to_vec())
        } else {
            let message = Message::from_octets(q).unwrap();
            let mut copy = MessageBuilder::new_vec();
            copy.header_mut().set_id(message.header().id());
            let mut question = copy.question();
            question.push(message.sole_question().unwrap()).unwrap();
            let mut copy = question.finish();
            ClientSigner::sign_request(&wrong_key(), &mut copy).unwrap();
            (wrong_key(), copy)
        };
        match check_request(&Keys::new([key]).unwrap(), &query) {
            RequestAuth::Signed(signer) => signer,
            other => panic!("the query does not verify: {other:?}"),
        }
    }

    /// Like [`script`], every message signed with the right or wrong key.
    fn signed_script(parts: Vec<Vec<R>>, right: bool) -> Script {
        Box::new(move |q| {
            let mut signer = server_signer(q, right);
            parts
                .iter()
                .map(|part| {
                    let mut r = answer(q, Rcode::NOERROR, part, None);
                    signer.sign_response(&mut r).unwrap();
                    framed(&r)
                })
                .collect()
        })
    }

    fn ixfr_parts() -> Vec<Vec<R>> {
        vec![vec![
            R::Soa(4),
            R::Soa(3),
            R::Soa(4),
            R::A("new.example.com.", 4),
            R::Soa(4),
        ]]
    }

    #[test]
    fn signed_ixfr_verifies() {
        let server = tcp_only(vec![signed_script(ixfr_parts(), true)]);
        let primary = Primary::new(server.addr, Some(key()));
        let ours = soa(3);
        let fetched = fetch(&primary, &zone(), Some((Serial(3), &ours)), &limits()).unwrap();
        assert!(matches!(fetched.payload, Payload::Incremental(ref c) if c.len() == 1));
        assert_eq!(fetched.fallback, None);
    }

    #[test]
    fn ixfr_with_a_wrong_tsig_falls_back_to_axfr() {
        let server = tcp_only(vec![
            signed_script(ixfr_parts(), false),
            signed_script(axfr_parts(4), true),
        ]);
        let primary = Primary::new(server.addr, Some(key()));
        let ours = soa(3);
        let fetched = fetch(&primary, &zone(), Some((Serial(3), &ours)), &limits()).unwrap();
        assert_eq!(fetched.payload, axfr_payload(4));
        let why = fetched.fallback.unwrap();
        assert!(why.contains("TSIG") && why.contains("BADSIG"), "{why}");
    }

    #[test]
    fn wrong_tsig_on_both_is_an_error_naming_both() {
        let server = tcp_only(vec![
            signed_script(ixfr_parts(), false),
            signed_script(axfr_parts(4), false),
        ]);
        let primary = Primary::new(server.addr, Some(key()));
        let ours = soa(3);
        let e = fetch(&primary, &zone(), Some((Serial(3), &ours)), &limits()).unwrap_err();
        assert_eq!(e.class(), FailureClass::Tsig);
        assert_eq!(e.primary(), server.addr);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "{}: IXFR: TSIG check of message 1 failed: BADSIG",
                server.addr
            )) && text.contains("; AXFR: TSIG check of message 1 failed: BADSIG"),
            "{text}"
        );
    }

    #[test]
    fn unsigned_answer_to_a_signed_query_is_refused() {
        let server = tcp_only(vec![script(axfr_parts(4), None)]);
        let primary = Primary::new(server.addr, Some(key()));
        let e = fetch(&primary, &zone(), None, &limits()).unwrap_err();
        assert_eq!(e.class(), FailureClass::Tsig);
        assert!(e.to_string().contains("not signed"), "{e}");
    }

    // --- The SOA query

    fn soa_answer_script(expire: Option<u32>) -> Script {
        Box::new(move |q| vec![framed(&answer(q, Rcode::NOERROR, &[R::Soa(7)], expire))])
    }

    #[test]
    fn soa_query_over_udp() {
        let udp: UdpScript = Box::new(|q| Some(answer(q, Rcode::NOERROR, &[R::Soa(7)], Some(600))));
        let server = ScriptedServer::start(Vec::new(), vec![udp]);
        let got = query_soa(&primary(&server), &zone(), Duration::from_secs(5)).unwrap();
        assert_eq!(
            got,
            SoaAnswer {
                serial: Serial(7),
                soa: soa(7),
                expire: Some(600)
            }
        );
        let queries = server.udp_queries();
        assert_eq!(queries.len(), 1);
        assert_eq!(qtype_of(&queries[0]), Rtype::SOA);
        assert!(asks_expire(&queries[0]));
        assert!(server.tcp_queries().is_empty());
    }

    #[test]
    fn truncated_udp_answer_is_asked_again_over_tcp() {
        let udp: UdpScript = Box::new(|q| {
            let mut r = answer(q, Rcode::NOERROR, &[], None);
            r[2] |= 0x02; // TC
            Some(r)
        });
        let server = ScriptedServer::start(vec![soa_answer_script(Some(1209600))], vec![udp]);
        let got = query_soa(&primary(&server), &zone(), Duration::from_secs(5)).unwrap();
        assert_eq!((got.serial, got.expire), (Serial(7), Some(1209600)));
        assert_eq!(got.soa, soa(7));
        assert_eq!(server.udp_queries().len(), 1);
        let tcp = server.tcp_queries();
        assert_eq!(tcp.len(), 1);
        assert!(asks_expire(&tcp[0]));
    }

    #[test]
    fn silent_udp_falls_back_to_tcp_within_the_timeout() {
        let udp: UdpScript = Box::new(|_| None);
        let server = ScriptedServer::start(vec![soa_answer_script(None)], vec![udp]);
        let started = Instant::now();
        let got = query_soa(&primary(&server), &zone(), Duration::from_millis(600)).unwrap();
        assert_eq!((got.serial, got.expire), (Serial(7), None));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn soa_query_failures_name_both_transports() {
        // Not authoritative over both.
        let not_aa = |q: &[u8]| {
            let mut r = answer(q, Rcode::NOERROR, &[R::Soa(7)], None);
            r[2] &= !0x04; // AA
            r
        };
        let udp: UdpScript = Box::new(move |q| Some(not_aa(q)));
        let tcp: Script = Box::new(move |q| vec![framed(&not_aa(q))]);
        let server = ScriptedServer::start(vec![tcp], vec![udp]);
        let e = query_soa(&primary(&server), &zone(), Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.class(), FailureClass::Protocol);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "{}: SOA query: UDP: message 1: the answer is not authoritative",
                server.addr
            )) && text.contains("; TCP: message 1: the answer is not authoritative"),
            "{text}"
        );
        // REFUSED, and an answer without the SOA.
        let udp: UdpScript = Box::new(|q| Some(answer(q, Rcode::REFUSED, &[], None)));
        let tcp: Script = Box::new(|q| {
            vec![framed(&answer(
                q,
                Rcode::NOERROR,
                &[R::A("example.com.", 1)],
                None,
            ))]
        });
        let server = ScriptedServer::start(vec![tcp], vec![udp]);
        let e = query_soa(&primary(&server), &zone(), Duration::from_secs(5)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("UDP: server answered REFUSED; TCP: message 1: the answer holds no SOA"),
            "{text}"
        );
    }

    #[test]
    fn signed_soa_query_verifies_the_answer() {
        let udp: UdpScript = Box::new(|q| {
            let mut signer = server_signer(q, true);
            let mut r = answer(q, Rcode::NOERROR, &[R::Soa(7)], Some(60));
            signer.sign_response(&mut r).unwrap();
            Some(r)
        });
        let server = ScriptedServer::start(Vec::new(), vec![udp]);
        let primary = Primary::new(server.addr, Some(key()));
        let got = query_soa(&primary, &zone(), Duration::from_secs(5)).unwrap();
        assert_eq!((got.serial, got.expire), (Serial(7), Some(60)));

        // Signed with another secret over both transports.
        let udp: UdpScript = Box::new(|q| {
            let mut signer = server_signer(q, false);
            let mut r = answer(q, Rcode::NOERROR, &[R::Soa(7)], None);
            signer.sign_response(&mut r).unwrap();
            Some(r)
        });
        let server =
            ScriptedServer::start(vec![signed_script(vec![vec![R::Soa(7)]], false)], vec![udp]);
        let primary = Primary::new(server.addr, Some(key()));
        let e = query_soa(&primary, &zone(), Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.class(), FailureClass::Tsig);
        assert!(e.to_string().contains("BADSIG"), "{e}");
    }

    // --- Pieces

    #[test]
    fn in_zone_follows_label_boundaries() {
        let z = zone();
        assert!(in_zone(&wire("example.com."), &z));
        assert!(in_zone(&wire("a.b.example.com."), &z));
        assert!(!in_zone(&wire("notexample.com."), &z));
        assert!(!in_zone(&wire("com."), &z));
        assert!(!in_zone(&wire("."), &z));
        assert!(!in_zone(&[7, b'e'], &z), "truncated input");
        assert!(in_zone(&wire("anything."), &wire(".")));
    }

    #[test]
    fn soa_serial_of_rdata() {
        use crate::zone::soa_serial;
        assert_eq!(soa_serial(&soa(77).rdata), Some(Serial(77)));
        assert_eq!(soa_serial(&soa(77).rdata[..20]), None);
        assert_eq!(
            soa_serial(&[0xc0, 12, 0, 0, 0, 0, 0, 0]),
            None,
            "compressed"
        );
    }

    #[test]
    fn compressed_names_in_rdata_come_out_in_full() {
        let query =
            client::build_query(1, &name("example.com."), Rtype::AXFR, None, false).unwrap();
        let msg = answer(
            &query,
            Rcode::NOERROR,
            &[R::Ns("example.com.", "ns1.example.com.")],
            None,
        );
        let message = Message::from_octets(msg.as_slice()).unwrap();
        let record = message
            .answer()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .to_record::<AllRecordData<_, ParsedName<_>>>()
            .unwrap()
            .unwrap();
        let AllRecordData::Ns(ns) = record.data() else {
            panic!("not NS");
        };
        assert!(ns.nsdname().is_compressed(), "the test needs a pointer");
        assert_eq!(
            convert(&record).unwrap(),
            expected(R::Ns("example.com.", "ns1.example.com."))
        );
    }
}
