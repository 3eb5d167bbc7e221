//! Zone transfers in: AXFR (RFC 5936) and IXFR (RFC 1995), for the
//! command-line client (`zonesync xfr`, like `dig axfr` / `kdig axfr`) and
//! for secondary zones ([`super::incoming`]).
//!
//! One TCP connection (or TLS over it, XoT: `tls::client`) and one
//! query, optionally TSIG-signed; then each
//! response message is checked (id, RCODE, TSIG, question, size limits)
//! and its records are handed to a [`Sink`] as they arrive: `command::transfer`
//! prints them, so a zone is never held in memory; the transfer-in engine
//! collects them. [`Tracker`] decides from the order of the SOA records
//! when the transfer is complete and which form an IXFR answer took.
//!
//! Blocking std I/O: one transfer is one thread's work (a command, or a
//! secondary's refresh on tokio's blocking pool), and one deadline for the
//! whole transfer is simplest to keep on a blocking socket whose timeout is
//! set to the time left before every read and write.

use crate::serial::Serial;
use crate::tls::client::{tls_error_of, ClientTls, TlsStream};
use crate::tsig::{ClientSigner, TsigError, TsigKey};
use domain::base::iana::{Class, OptRcode, Rtype};
use domain::base::message::Message;
use domain::base::message_builder::{MessageBuilder, PushError};
use domain::base::name::{Name, ParsedName, ToName};
use domain::base::rdata::{ComposeRecordData, UnknownRecordData};
use domain::base::Ttl;
use domain::rdata::tsig::Tsig;
use domain::rdata::{AllRecordData, Soa};
use domain::tsig::ValidationError;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The port of a `--server` given as a bare address.
pub const DEFAULT_PORT: u16 = 53;

/// The longest timeout honoured; longer ones are cut to this, so that the
/// deadline can always be computed.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The UDP payload size our EDNS queries advertise (the DNS flag day 2020
/// value: fits any path MTU without fragmentation).
pub(crate) const EDNS_PAYLOAD: u16 = 1232;

#[derive(Debug, thiserror::Error)]
pub enum XfrError {
    #[error("server {text:?}: expected IP, IP:PORT or [IPv6]:PORT")]
    BadServer { text: String },
    // The text is not repeated: it holds the secret.
    #[error("--key: expected NAME:ALG:SECRET, ALG:NAME:SECRET or NAME:SECRET")]
    BadKeySyntax,
    #[error("--key: {0}")]
    BadKey(TsigError),
    #[error("zone name {name:?}: {reason}")]
    BadZone { name: String, reason: String },
    #[error("cannot build the query: {0}")]
    Query(String),
    #[error("cannot sign the query: {0}")]
    Sign(TsigError),
    // Not `source` fields: the text already includes them, and anyhow's
    // `{:#}` would print them twice.
    #[error("cannot connect to {addr}: {error}")]
    Connect { addr: SocketAddr, error: io::Error },
    /// The TLS handshake failed, or the server ended the session with an
    /// alert (a client certificate it refused shows after the handshake
    /// in TLS 1.3). `reason` says it in the command line's terms.
    #[error("TLS failed: {reason} ({progress})")]
    Tls { reason: String, progress: Progress },
    #[error("TCP error: {error} ({progress})")]
    Io {
        error: io::Error,
        progress: Progress,
    },
    #[error("the transfer did not complete within {} s ({progress})", timeout.as_secs_f64())]
    Timeout {
        timeout: Duration,
        progress: Progress,
    },
    #[error("the server closed the connection before the transfer was complete ({progress})")]
    Closed { progress: Progress },
    #[error("message {message} has length 0")]
    EmptyMessage { message: u64 },
    #[error("message {message} is malformed: {reason}")]
    Malformed { message: u64, reason: String },
    #[error("server answered {rcode}{detail}")]
    Rcode { rcode: String, detail: String },
    #[error("TSIG check of message {message} failed: {reason}")]
    Tsig { message: u64, reason: String },
    #[error("message {message}: {problem}")]
    Protocol {
        message: u64,
        problem: ProtocolError,
    },
    /// The [`Sink`] refused a record (e.g. one outside the zone).
    #[error("message {message}: {reason}")]
    Rejected { message: u64, reason: String },
    /// The stream went past the request's [`StreamLimits`].
    #[error("the transfer is larger than {limit} ({progress})")]
    TooLarge { limit: String, progress: Progress },
    #[error("cannot write the output: {0}")]
    Output(io::Error),
}

impl XfrError {
    /// The kind of failure, for logs, counters, status reports and the
    /// IXFR → AXFR fallback decision.
    pub fn class(&self) -> FailureClass {
        match self {
            XfrError::BadServer { .. }
            | XfrError::BadKeySyntax
            | XfrError::BadKey(_)
            | XfrError::BadZone { .. }
            | XfrError::Query(_)
            | XfrError::Sign(_)
            | XfrError::Output(_) => FailureClass::Local,
            XfrError::Connect { .. } => FailureClass::Connect,
            XfrError::Tls { .. } => FailureClass::Tls,
            XfrError::Io { .. } => FailureClass::Io,
            XfrError::Timeout { .. } => FailureClass::Timeout,
            XfrError::Closed { .. } => FailureClass::Closed,
            XfrError::EmptyMessage { .. } | XfrError::Malformed { .. } => FailureClass::Malformed,
            XfrError::Rcode { .. } => FailureClass::Rcode,
            XfrError::Tsig { .. } => FailureClass::Tsig,
            XfrError::Protocol { .. } => FailureClass::Protocol,
            XfrError::Rejected { .. } => FailureClass::Rejected,
            XfrError::TooLarge { .. } => FailureClass::TooLarge,
        }
    }
}

/// What kind of thing went wrong in an exchange with a primary. Its
/// `Display` is a short, stable name (`connect`, `tls`, `timeout`, `closed`, `io`,
/// `rcode`, `tsig`, `malformed`, `protocol`, `rejected`, `too-large`,
/// `local`) for logs and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// A problem on our side: arguments, building or signing the query,
    /// writing the output. Nothing (useful) was sent.
    Local,
    Connect,
    /// The TLS handshake or session (certificate, pin, alert).
    Tls,
    Io,
    Timeout,
    Closed,
    Malformed,
    Rcode,
    Tsig,
    Protocol,
    Rejected,
    /// Past the records or octets a transfer may bring.
    TooLarge,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Local => "local",
            FailureClass::Connect => "connect",
            FailureClass::Tls => "tls",
            FailureClass::Io => "io",
            FailureClass::Timeout => "timeout",
            FailureClass::Closed => "closed",
            FailureClass::Malformed => "malformed",
            FailureClass::Rcode => "rcode",
            FailureClass::Tsig => "tsig",
            FailureClass::Protocol => "protocol",
            FailureClass::Rejected => "rejected",
            FailureClass::TooLarge => "too-large",
        }
    }
}

/// Compared with its stable name (`e.class() == "timeout"`).
impl PartialEq<&str> for FailureClass {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A response that breaks the rules of the transfer protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("not a response (QR bit clear)")]
    NotResponse,
    #[error("id {found} does not match the query's id {expected}")]
    WrongId { expected: u16, found: u16 },
    #[error("the question is {found}, not the one asked")]
    WrongQuestion { found: String },
    #[error("the first message holds no records")]
    EmptyFirst,
    #[error("the answer does not start with the zone's SOA record")]
    NoSoaFirst,
    #[error("the closing SOA has serial {closing}, the opening one {opening}")]
    SerialMismatch { opening: Serial, closing: Serial },
    #[error("an IXFR changeset starts at serial {found}, expected {expected}")]
    BrokenChain { expected: Serial, found: Serial },
    #[error("records follow the closing SOA")]
    AfterEnd,
    /// RFC 1995 §4: over UDP this means "ask over TCP"; over TCP it is no
    /// answer at all.
    #[error("the IXFR answer is the server's SOA alone, with serial {serial}, newer than ours")]
    SoaOnly { serial: Serial },
    #[error("the answer is not authoritative (AA bit clear)")]
    NotAuthoritative,
    #[error("the answer holds no SOA record of the zone")]
    NoSoa,
}

/// How far a transfer got, for errors and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub records: u64,
    pub messages: u64,
    /// Octets received, TCP length prefixes included.
    pub bytes: u64,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} so far",
            plural(self.records, "record"),
            plural(self.messages, "message")
        )
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

// ---------------------------------------------------------------------------
// The request

/// AXFR, or IXFR from the client's serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Axfr,
    Ixfr { serial: Serial },
}

/// How much one transfer may bring: beyond either, it fails with
/// [`XfrError::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Answer records, every SOA included.
    pub records: u64,
    /// Octets of the whole stream, TCP length prefixes included.
    pub bytes: u64,
}

impl Default for StreamLimits {
    /// No limit.
    fn default() -> Self {
        StreamLimits {
            records: u64::MAX,
            bytes: u64::MAX,
        }
    }
}

/// One transfer to run.
#[derive(Debug)]
pub struct Request {
    zone: Name<Vec<u8>>,
    kind: Kind,
    key: Option<TsigKey>,
    timeout: Duration,
    /// IXFR: the TTL and RDATA of our SOA for the authority section; without
    /// it, a stand-in SOA carrying only the serial.
    client_soa: Option<(u32, Vec<u8>)>,
    /// Whether the query asks for the EDNS EXPIRE option (RFC 7314).
    expire: bool,
    limits: StreamLimits,
    /// Over TLS (XoT, RFC 9103) rather than plain TCP.
    tls: Option<Arc<ClientTls>>,
}

impl Request {
    /// `zone` in presentation form, absolute with or without the final dot.
    /// `timeout` bounds the whole transfer, connecting included.
    pub fn new(
        zone: &str,
        kind: Kind,
        key: Option<TsigKey>,
        timeout: Duration,
    ) -> Result<Request, XfrError> {
        let zone = Name::<Vec<u8>>::from_str(zone).map_err(|e| XfrError::BadZone {
            name: zone.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Request::with_name(zone, kind, key, timeout))
    }

    /// [`Request::new`] with the zone in uncompressed wire format.
    pub fn from_wire(
        zone: &[u8],
        kind: Kind,
        key: Option<TsigKey>,
        timeout: Duration,
    ) -> Result<Request, XfrError> {
        let zone = Name::from_octets(zone.to_vec()).map_err(|e| XfrError::BadZone {
            name: String::from_utf8_lossy(zone).into_owned(),
            reason: e.to_string(),
        })?;
        Ok(Request::with_name(zone, kind, key, timeout))
    }

    fn with_name(zone: Name<Vec<u8>>, kind: Kind, key: Option<TsigKey>, timeout: Duration) -> Self {
        Request {
            zone,
            kind,
            key,
            timeout: timeout.min(MAX_TIMEOUT),
            client_soa: None,
            expire: false,
            limits: StreamLimits::default(),
            tls: None,
        }
    }

    /// IXFR: puts our SOA record as it is (TTL, uncompressed RDATA) in the
    /// query's authority section (RFC 1995 §3) instead of a stand-in. Its
    /// serial should be the one in [`Kind::Ixfr`], which is what the answer
    /// is checked against.
    pub fn with_client_soa(mut self, ttl: u32, rdata: &[u8]) -> Self {
        self.client_soa = Some((ttl, rdata.to_vec()));
        self
    }

    /// Adds an OPT record with an empty EDNS EXPIRE option (RFC 7314 §2)
    /// to the query; [`Summary::expire`] then holds what the server sent.
    pub fn with_expire(mut self) -> Self {
        self.expire = true;
        self
    }

    pub fn with_limits(mut self, limits: StreamLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs the transfer over TLS (XoT, RFC 9103) with this client
    /// configuration.
    pub fn with_tls(mut self, tls: Arc<ClientTls>) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn qtype(&self) -> Rtype {
        match self.kind {
            Kind::Axfr => Rtype::AXFR,
            Kind::Ixfr { .. } => Rtype::IXFR,
        }
    }

    /// The unsigned query; for IXFR with the client's SOA in the authority
    /// section (RFC 1995 §3), of which servers read only the serial.
    fn query(&self, id: u16) -> Result<Vec<u8>, XfrError> {
        let failed = |e: PushError| XfrError::Query(e.to_string());
        let authority = match self.kind {
            Kind::Axfr => None,
            Kind::Ixfr { serial } => Some(match &self.client_soa {
                Some((ttl, rdata)) => (*ttl, rdata.clone()),
                None => {
                    let root = Name::root_vec();
                    let soa = Soa::new(
                        root.clone(),
                        root,
                        domain::base::Serial(serial.get()),
                        Ttl::ZERO,
                        Ttl::ZERO,
                        Ttl::ZERO,
                        Ttl::ZERO,
                    );
                    let mut rdata = Vec::new();
                    soa.compose_rdata(&mut rdata)
                        .map_err(|_| XfrError::Query("cannot compose the SOA".into()))?;
                    (0, rdata)
                }
            }),
        };
        let authority = authority
            .as_ref()
            .map(|(ttl, rdata)| (*ttl, rdata.as_slice()));
        build_query(id, &self.zone, self.qtype(), authority, self.expire).map_err(failed)
    }
}

/// A query for `zone` and `qtype`, with an SOA (TTL, RDATA) in the
/// authority section when given, and an OPT record carrying an empty
/// EXPIRE option when `expire` is set.
pub(crate) fn build_query(
    id: u16,
    zone: &Name<Vec<u8>>,
    qtype: Rtype,
    authority_soa: Option<(u32, &[u8])>,
    expire: bool,
) -> Result<Vec<u8>, PushError> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    question.push((zone, qtype))?;
    let mut authority = question.authority();
    if let Some((ttl, rdata)) = authority_soa {
        let data =
            UnknownRecordData::from_octets(Rtype::SOA, rdata).map_err(|_| PushError::ShortBuf)?;
        authority.push((zone, Class::IN, Ttl::from_secs(ttl), data))?;
    }
    let mut additional = authority.additional();
    if expire {
        additional.opt(|opt| {
            opt.set_udp_payload_size(EDNS_PAYLOAD);
            opt.expire(None)
        })?;
    }
    Ok(additional.finish())
}

// ---------------------------------------------------------------------------
// Where the records go

/// One answer record as parsed from a response. Its names (the owner and
/// those in the RDATA) point into the message, compressed or not; composing
/// the data into a `Vec<u8>` writes them out in full.
pub type AnswerRecord<'a> =
    domain::base::Record<ParsedName<&'a [u8]>, AllRecordData<&'a [u8], ParsedName<&'a [u8]>>>;

/// What a transfer does with the records it receives.
pub trait Sink {
    /// Takes the next answer record, in the order received, after its
    /// message passed its checks and the [`Tracker`] accepted it as `item`.
    /// With TSIG, a message the server left unsigned is vouched for only by
    /// a later signed one (see `command::transfer`): a sink must not act on the
    /// records before the transfer has succeeded.
    fn record(&mut self, record: &AnswerRecord<'_>, item: Item) -> Result<(), SinkError>;
}

/// Why a [`Sink`] did not take a record.
#[derive(Debug)]
pub enum SinkError {
    /// Writing failed ([`XfrError::Output`]).
    Output(io::Error),
    /// The record is not acceptable ([`XfrError::Rejected`]).
    Rejected(String),
}

// ---------------------------------------------------------------------------
// Running a transfer

/// What a finished transfer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub progress: Progress,
    pub elapsed: Duration,
    /// The serial of the zone as the server has it now.
    pub serial: Serial,
    pub outcome: Outcome,
    /// The EDNS EXPIRE option of the first message (RFC 7314), when the
    /// query asked for it and the server sent a value.
    pub expire: Option<u32>,
}

impl fmt::Display for Summary {
    /// The closing comment line: `;; 17 records, 1 message, 3 ms, serial 5
    /// (AXFR)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            ";; {}, {}, {} ms, serial {} ({})",
            plural(self.progress.records, "record"),
            plural(self.progress.messages, "message"),
            self.elapsed.as_millis(),
            self.serial,
            self.outcome
        )
    }
}

/// Runs `request` against `server`, handing each record to `sink` as it
/// arrives: records of a message once the message has passed its checks
/// (see [`Sink`] for what that means with TSIG).
pub fn transfer_to(
    server: SocketAddr,
    request: &Request,
    sink: &mut impl Sink,
) -> Result<Summary, XfrError> {
    let started = Instant::now();
    let deadline = started + request.timeout;
    let (mut session, query) = Session::start(request, crate::wire::random_id())?;
    let mut conn =
        Connection::open(server, deadline).map_err(|e| session.connect_error(server, e))?;
    if let Some(tls) = &request.tls {
        conn = conn.start_tls(tls).map_err(|e| XfrError::Tls {
            reason: handshake_failure(tls, &e, request.timeout),
            progress: session.progress,
        })?;
    }
    conn.send(&query).map_err(|e| session.io_error(e))?;
    let mut buf = Vec::new();
    while session.outcome().is_none() {
        match conn.recv(&mut buf) {
            Ok(true) => session.message(&buf, sink)?,
            Ok(false) => return Err(session.closed()),
            Err(e) => return Err(session.io_error(e)),
        }
    }
    session.finish(started.elapsed())
}

/// The state of a transfer between messages: the query sent, and the
/// answer read message by message, without a socket. [`transfer_to`] runs
/// one over a connection; a caller with the messages in hand (a test, a
/// fuzz target) feeds them to [`Session::message`] the same way.
pub struct Session<'a> {
    request: &'a Request,
    id: u16,
    signer: Option<ClientSigner>,
    tracker: Tracker,
    progress: Progress,
    /// The EXPIRE option of the first message.
    expire: Option<u32>,
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("signed", &self.signer.is_some())
            .field("tracker", &self.tracker)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl<'a> Session<'a> {
    /// Starts a transfer of `request` with message ID `id`: the session
    /// that reads the answer, and the query to send (unframed; signed
    /// with the request's TSIG key, when it has one, and the answer must
    /// then be signed too).
    pub fn start(request: &'a Request, id: u16) -> Result<(Session<'a>, Vec<u8>), XfrError> {
        let mut query = request.query(id)?;
        let signer = match &request.key {
            Some(key) => Some(ClientSigner::sign_request(key, &mut query).map_err(XfrError::Sign)?),
            None => None,
        };
        let session = Session {
            request,
            id,
            signer,
            tracker: Tracker::new(request.kind),
            progress: Progress::default(),
            expire: None,
        };
        Ok((session, query))
    }

    /// The answer's form once it is complete: no more messages are read
    /// then.
    pub fn outcome(&self) -> Option<Outcome> {
        self.tracker.outcome()
    }

    /// Messages, records and octets read so far.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The summary of a complete answer (with TSIG: its last message
    /// signed); the error [`Session::closed`] gives when the answer is
    /// not complete.
    pub fn finish(self, elapsed: Duration) -> Result<Summary, XfrError> {
        let Some(outcome) = self.tracker.outcome() else {
            return Err(self.closed());
        };
        let progress = self.progress;
        if let Some(signer) = self.signer {
            signer
                .finish()
                .map_err(|e| tsig_failure(progress.messages, e))?;
        }
        Ok(Summary {
            progress,
            elapsed,
            serial: self.tracker.serial().unwrap_or_default(),
            outcome,
            expire: self.expire,
        })
    }

    fn connect_error(&self, server: SocketAddr, source: io::Error) -> XfrError {
        match source.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => self.io_error(source),
            _ => XfrError::Connect {
                addr: server,
                error: source,
            },
        }
    }

    fn io_error(&self, source: io::Error) -> XfrError {
        let progress = self.progress;
        if let Some(tls) = tls_error_of(&source) {
            return XfrError::Tls {
                reason: match &self.request.tls {
                    Some(client) => client.explain(tls),
                    None => crate::tls::client::explain(tls, Default::default()),
                },
                progress,
            };
        }
        match source.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => XfrError::Timeout {
                timeout: self.request.timeout,
                progress,
            },
            io::ErrorKind::UnexpectedEof => XfrError::Closed { progress },
            _ => XfrError::Io {
                error: source,
                progress,
            },
        }
    }

    /// The error of an answer that ended (the server closed the
    /// connection between two messages) before it was complete.
    pub fn closed(&self) -> XfrError {
        match self.tracker.lone_soa() {
            Some(serial) => self.protocol(ProtocolError::SoaOnly { serial }),
            None => XfrError::Closed {
                progress: self.progress,
            },
        }
    }

    /// Checks one response message (unframed) and hands its records to
    /// `sink`: the size limits, header (QR, our ID), RCODE, TSIG, the
    /// first message's question, each record's form and its place in the
    /// answer ([`Tracker`]). After an error the transfer is over.
    pub fn message(&mut self, bytes: &[u8], sink: &mut impl Sink) -> Result<(), XfrError> {
        self.progress.messages += 1;
        let n = self.progress.messages;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.progress.bytes = self.progress.bytes.saturating_add(len.saturating_add(2));
        if self.progress.bytes > self.request.limits.bytes {
            return Err(XfrError::TooLarge {
                limit: format!("the limit of {} octets", self.request.limits.bytes),
                progress: self.progress,
            });
        }
        if bytes.is_empty() {
            return Err(XfrError::EmptyMessage { message: n });
        }
        let message = Message::from_octets(bytes).map_err(|_| XfrError::Malformed {
            message: n,
            reason: "shorter than a DNS header".into(),
        })?;
        self.check_header(&message)?;
        let verified = match self.signer.as_mut() {
            Some(signer) => signer.verify_response(bytes),
            None => Ok(()),
        };
        // The RCODE first: error answers such as BADSIG are unsigned by
        // design (RFC 8945 §5.3.2), and the RCODE is what explains them.
        let rcode = message.opt_rcode();
        if rcode != OptRcode::NOERROR {
            return Err(rcode_error(&message, rcode));
        }
        verified.map_err(|e| tsig_failure(n, e))?;
        if n == 1 {
            self.check_question(&message)?;
            self.expire = expire_of(&message);
        }
        self.write_answers(&message, sink)?;
        self.tracker.end_of_message();
        Ok(())
    }

    fn protocol(&self, problem: ProtocolError) -> XfrError {
        XfrError::Protocol {
            message: self.progress.messages,
            problem,
        }
    }

    fn check_header(&self, message: &Message<&[u8]>) -> Result<(), XfrError> {
        check_header(message, self.id).map_err(|problem| self.protocol(problem))
    }

    /// The first message must answer our question if it repeats one (RFC
    /// 5936 §2.2.1); later ones may leave it out.
    fn check_question(&self, message: &Message<&[u8]>) -> Result<(), XfrError> {
        check_question(message, &self.request.zone, self.request.qtype())
            .map_err(|e| self.malformed(e))?
            .map_err(|problem| self.protocol(problem))
    }

    fn malformed(&self, error: impl fmt::Display) -> XfrError {
        XfrError::Malformed {
            message: self.progress.messages,
            reason: error.to_string(),
        }
    }

    /// Feeds the answer records to the tracker and the sink.
    fn write_answers(
        &mut self,
        message: &Message<&[u8]>,
        sink: &mut impl Sink,
    ) -> Result<(), XfrError> {
        let section = message.answer().map_err(|e| self.malformed(e))?;
        let mut any = false;
        for record in section {
            let record = record.map_err(|e| self.malformed(e))?;
            let record = record
                .to_record::<AllRecordData<_, ParsedName<_>>>()
                .map_err(|e| self.malformed(e))?
                .ok_or_else(|| self.malformed("a record of no known form"))?;
            // Only the zone's own SOA frames a transfer.
            let item = match record.data() {
                AllRecordData::Soa(soa) if record.owner().name_eq(&self.request.zone) => {
                    Item::Soa(Serial(soa.serial().into_int()))
                }
                _ => Item::Other,
            };
            self.tracker
                .record(item)
                .map_err(|problem| self.protocol(problem))?;
            self.progress.records += 1;
            if self.progress.records > self.request.limits.records {
                return Err(XfrError::TooLarge {
                    limit: format!("the limit of {} records", self.request.limits.records),
                    progress: self.progress,
                });
            }
            sink.record(&record, item).map_err(|e| match e {
                SinkError::Output(e) => XfrError::Output(e),
                SinkError::Rejected(reason) => XfrError::Rejected {
                    message: self.progress.messages,
                    reason,
                },
            })?;
            any = true;
        }
        if !any && self.progress.messages == 1 {
            return Err(self.protocol(ProtocolError::EmptyFirst));
        }
        Ok(())
    }
}

/// A response to our query `id`: QR set, the same id.
pub(crate) fn check_header(message: &Message<&[u8]>, id: u16) -> Result<(), ProtocolError> {
    let header = message.header();
    if !header.qr() {
        return Err(ProtocolError::NotResponse);
    }
    if header.id() != id {
        return Err(ProtocolError::WrongId {
            expected: id,
            found: header.id(),
        });
    }
    Ok(())
}

/// The message's question, if it has one, must be `zone` and `qtype`. The
/// outer error is a question that cannot be parsed.
pub(crate) fn check_question(
    message: &Message<&[u8]>,
    zone: &Name<Vec<u8>>,
    qtype: Rtype,
) -> Result<Result<(), ProtocolError>, domain::base::wire::ParseError> {
    let Some(question) = message.question().next() else {
        return Ok(Ok(()));
    };
    let question = question?;
    if question.qname().name_eq(zone) && question.qtype() == qtype {
        return Ok(Ok(()));
    }
    Ok(Err(ProtocolError::WrongQuestion {
        found: format!("{}. {}", question.qname(), question.qtype()),
    }))
}

/// The value of the message's EDNS EXPIRE option (RFC 7314), if any.
pub(crate) fn expire_of(message: &Message<&[u8]>) -> Option<u32> {
    message.opt()?.opt().expire()?.expire()
}

/// The error for a response with RCODE `rcode`, with the TSIG error when
/// the message carries a TSIG record (BADKEY, BADSIG, BADTIME ride in a
/// NOTAUTH answer, RFC 8945 §5.3.2).
pub(crate) fn rcode_error(message: &Message<&[u8]>, rcode: OptRcode) -> XfrError {
    let detail = tsig_error_of(message)
        .map(|e| format!(" (TSIG error {e})"))
        .unwrap_or_default();
    XfrError::Rcode {
        rcode: rcode.to_string(),
        detail,
    }
}

/// The error field of the message's TSIG record, unless it is NOERROR.
fn tsig_error_of(message: &Message<&[u8]>) -> Option<String> {
    let section = message.additional().ok()?;
    for record in section {
        let Ok(Some(tsig)) = record.ok()?.into_record::<Tsig<&[u8], ParsedName<&[u8]>>>() else {
            continue;
        };
        let error = tsig.data().error();
        if error != domain::base::iana::TsigRcode::NOERROR {
            // The bare mnemonic: its `Display` reads "BADSIG(16)".
            return Some(match error.to_mnemonic_str() {
                Some(name) => name.to_owned(),
                None => error.to_int().to_string(),
            });
        }
    }
    None
}

/// Names a failed TSIG check in the RFC's terms where there is one.
pub(crate) fn tsig_failure(message: u64, error: TsigError) -> XfrError {
    let reason = match error {
        TsigError::Validation(e) => match e {
            ValidationError::BadSig => "BADSIG: the MAC does not verify (wrong secret?)".into(),
            ValidationError::BadKey => "BADKEY: signed with another key or algorithm".into(),
            ValidationError::BadTime => {
                "BADTIME: signed outside the allowed time window (clock skew?)".into()
            }
            ValidationError::BadTrunc => "BADTRUNC: the MAC is truncated".into(),
            ValidationError::ServerUnsigned => "the answer is not signed".into(),
            ValidationError::TooManyUnsigned => {
                "unsigned messages at the end or more than 99 in a row (RFC 8945 §5.3.1)".into()
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    XfrError::Tsig { message, reason }
}

/// Why a TLS handshake with `tls` failed: a TLS error said plainly (in
/// the terms of its settings), or the connection lost under it.
pub(crate) fn handshake_failure(tls: &ClientTls, source: &io::Error, timeout: Duration) -> String {
    if let Some(error) = tls_error_of(source) {
        return tls.explain(error);
    }
    match source.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "no handshake within the timeout ({} s; not a TLS port?)",
            timeout.as_secs_f64()
        ),
        io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake (not a TLS port?)".into()
        }
        _ => format!("{source} during the handshake"),
    }
}

// ---------------------------------------------------------------------------
// The connection

/// A TCP or TLS connection with RFC 1035 §4.2.2 framing, all I/O bound
/// by one deadline.
pub(crate) struct Connection {
    stream: Stream,
    deadline: Instant,
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.socket(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Connection {
    pub(crate) fn open(addr: SocketAddr, deadline: Instant) -> io::Result<Connection> {
        let sock = TcpStream::connect_timeout(&addr, time_left(deadline)?)?;
        // The query goes out in one write; waiting for more data is useless.
        let _ = sock.set_nodelay(true);
        Ok(Connection {
            stream: Stream::Tcp(sock),
            deadline,
        })
    }

    /// Runs the TLS handshake on the connection; its failures are I/O
    /// errors carrying the `rustls::Error` (`tls::client::tls_error_of`)
    /// when TLS itself failed.
    pub(crate) fn start_tls(self, tls: &ClientTls) -> io::Result<Connection> {
        let Stream::Tcp(sock) = self.stream else {
            return Ok(self);
        };
        let stream = Stream::Tls(Box::new(tls.connect(sock, self.deadline)?));
        Ok(Connection {
            stream,
            deadline: self.deadline,
        })
    }

    pub(crate) fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let len = u16::try_from(message.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
        let mut framed = Vec::with_capacity(message.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(message);
        self.stream
            .socket()
            .set_write_timeout(Some(time_left(self.deadline)?))?;
        self.stream.write_all(&framed)?;
        self.stream.flush()
    }

    /// Reads one message into `buf`; `Ok(false)` when the server closed
    /// the connection before a new message began.
    pub(crate) fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        let mut len = [0u8; 2];
        match self.fill(&mut len)? {
            0 => return Ok(false),
            2 => {}
            _ => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
        buf.clear();
        buf.resize(usize::from(u16::from_be_bytes(len)), 0);
        if self.fill(buf)? != buf.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(true)
    }

    /// Reads until `buf` is full or the stream ends; returns how much was
    /// read. The timeout is renewed before each read so that a server
    /// trickling octets cannot stretch the transfer past the deadline.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
            self.stream
                .socket()
                .set_read_timeout(Some(time_left(self.deadline)?))?;
            match self.stream.read(rest) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// The time until `deadline`, or a `TimedOut` error when none is left
/// (a zero socket timeout would mean "no timeout").
pub(crate) fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

// ---------------------------------------------------------------------------
// When a transfer is complete

/// What the tracker needs to know of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Soa(Serial),
    Other,
}

/// The form the answer took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The zone, for an AXFR query.
    Axfr,
    /// IXFR answered with the server's SOA alone: the client is current.
    UpToDate,
    /// IXFR answered with the whole zone (RFC 1995 §4 allows it).
    FullZone,
    /// IXFR answered with this many changesets.
    Incremental { changesets: u32 },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Axfr => f.write_str("AXFR"),
            Outcome::UpToDate => f.write_str("IXFR: up to date"),
            Outcome::FullZone => f.write_str("IXFR: full zone"),
            Outcome::Incremental { changesets } => write!(
                f,
                "IXFR: incremental, {}",
                plural(u64::from(*changesets), "changeset")
            ),
        }
    }
}

/// Follows the records of an answer and tells when it is complete.
///
/// AXFR (RFC 5936 §2.2): SOA, the zone, the same SOA again. IXFR (RFC
/// 1995 §4): the server's SOA first; if that is all, the client is up to
/// date; if an SOA follows it, changesets `old SOA, deletions, new SOA,
/// additions` come, chained by serial, and the answer ends with the
/// server's SOA after the changeset whose new SOA has the server's serial;
/// otherwise it is the whole zone in AXFR form.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// The client's serial for IXFR.
    ixfr_from: Option<Serial>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// IXFR: the server's SOA came; the next record or the end of the
    /// message decides the answer's form.
    Opened {
        serial: Serial,
    },
    /// AXFR form: waiting for the closing SOA.
    Full {
        serial: Serial,
    },
    /// Within a changeset's deletions.
    Deleting {
        serial: Serial,
        changesets: u32,
    },
    /// Within a changeset's additions, after its new SOA (serial `to`).
    Adding {
        serial: Serial,
        changesets: u32,
        to: Serial,
    },
    Done {
        serial: Serial,
        outcome: Outcome,
    },
}

impl Tracker {
    pub fn new(kind: Kind) -> Tracker {
        Tracker {
            ixfr_from: match kind {
                Kind::Axfr => None,
                Kind::Ixfr { serial } => Some(serial),
            },
            state: State::Start,
        }
    }

    /// The answer's form once it is complete.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.state {
            State::Done { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// The server's serial: that of the first SOA.
    pub fn serial(&self) -> Option<Serial> {
        match self.state {
            State::Start => None,
            State::Opened { serial }
            | State::Full { serial }
            | State::Deleting { serial, .. }
            | State::Adding { serial, .. }
            | State::Done { serial, .. } => Some(serial),
        }
    }

    /// IXFR: the serial of the server's SOA when it is all the answer
    /// holds so far and is newer than ours (else the answer would be
    /// complete: the client is up to date).
    pub fn lone_soa(&self) -> Option<Serial> {
        match self.state {
            State::Opened { serial } => Some(serial),
            _ => None,
        }
    }

    /// Takes the next record of the answer.
    pub fn record(&mut self, item: Item) -> Result<(), ProtocolError> {
        self.state = match (self.state, item) {
            (State::Done { .. }, _) => return Err(ProtocolError::AfterEnd),
            (State::Start, Item::Other) => return Err(ProtocolError::NoSoaFirst),
            (State::Start, Item::Soa(serial)) => match self.ixfr_from {
                None => State::Full { serial },
                Some(_) => State::Opened { serial },
            },
            (State::Opened { serial }, Item::Other) | (State::Full { serial }, Item::Other) => {
                State::Full { serial }
            }
            (State::Opened { serial }, Item::Soa(next)) => self.first_changeset(serial, next)?,
            (State::Full { serial }, Item::Soa(closing)) => {
                if closing != serial {
                    return Err(ProtocolError::SerialMismatch {
                        opening: serial,
                        closing,
                    });
                }
                State::Done {
                    serial,
                    outcome: self.full_outcome(),
                }
            }
            (state @ State::Deleting { .. }, Item::Other)
            | (state @ State::Adding { .. }, Item::Other) => state,
            (State::Deleting { serial, changesets }, Item::Soa(to)) => State::Adding {
                serial,
                changesets,
                to,
            },
            (
                State::Adding {
                    serial,
                    changesets,
                    to,
                },
                Item::Soa(next),
            ) => Self::after_changeset(serial, changesets, to, next)?,
        };
        Ok(())
    }

    /// An IXFR answer that is the server's SOA alone, with a serial not
    /// newer than the client's (RFC 1982), means "up to date" (RFC 1995
    /// §4). It can only be so at the end of the first message; with a newer
    /// serial the answer must go on, whatever the message boundaries.
    pub fn end_of_message(&mut self) {
        if let (State::Opened { serial }, Some(from)) = (self.state, self.ixfr_from) {
            // Serials exactly 2^31 apart are incomparable: not newer.
            let newer = serial.is_after(from);
            if !newer {
                self.state = State::Done {
                    serial,
                    outcome: Outcome::UpToDate,
                };
            }
        }
    }

    fn full_outcome(&self) -> Outcome {
        match self.ixfr_from {
            None => Outcome::Axfr,
            Some(_) => Outcome::FullZone,
        }
    }

    /// IXFR, second record an SOA: the old SOA of the first changeset,
    /// which starts at the client's serial, or (with the server's serial)
    /// the close of a zone that is an SOA alone.
    fn first_changeset(&self, serial: Serial, next: Serial) -> Result<State, ProtocolError> {
        if next == serial {
            return Ok(State::Done {
                serial,
                outcome: Outcome::FullZone,
            });
        }
        match self.ixfr_from {
            Some(from) if from != next => Err(ProtocolError::BrokenChain {
                expected: from,
                found: next,
            }),
            _ => Ok(State::Deleting {
                serial,
                changesets: 1,
            }),
        }
    }

    /// An SOA after a changeset's additions: the next changeset's old SOA,
    /// which continues the chain, or the final SOA when the changeset
    /// reached the server's serial.
    fn after_changeset(
        serial: Serial,
        changesets: u32,
        to: Serial,
        next: Serial,
    ) -> Result<State, ProtocolError> {
        if next != to {
            return Err(ProtocolError::BrokenChain {
                expected: to,
                found: next,
            });
        }
        Ok(if to == serial {
            State::Done {
                serial,
                outcome: Outcome::Incremental { changesets },
            }
        } else {
            State::Deleting {
                serial,
                changesets: changesets.saturating_add(1),
            }
        })
    }
}

/// Scripted loopback servers for the tests of this module and of
/// [`super::incoming`].
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, UdpSocket};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    /// What the scripted server sends back over TCP for a query: octets to
    /// write, one chunk after the other (framing is the script's job).
    pub(crate) type Script = Box<dyn FnOnce(&[u8]) -> Vec<Vec<u8>> + Send>;

    /// What the scripted server answers a UDP query with (`None`: nothing).
    pub(crate) type UdpScript = Box<dyn FnOnce(&[u8]) -> Option<Vec<u8>> + Send>;

    /// How long a scripted server waits for a client before giving up.
    const WAIT: Duration = Duration::from_secs(10);

    /// A one-connection server on loopback: reads one framed query, sends
    /// the octets `script` makes of it, then holds the connection for
    /// `linger` and closes it.
    pub(crate) fn scripted(script: Script, linger: Duration) -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let handle = std::thread::spawn(move || serve_tcp(listener, vec![script], linger, queries));
        (addr, handle)
    }

    /// A server on one loopback port, TCP and UDP: the TCP scripts answer
    /// successive connections (one query each), the UDP scripts successive
    /// datagrams. Every query received is kept, in order, per transport.
    pub(crate) struct ScriptedServer {
        pub addr: SocketAddr,
        pub tcp_queries: Arc<Mutex<Vec<Vec<u8>>>>,
        pub udp_queries: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl ScriptedServer {
        pub(crate) fn start(tcp: Vec<Script>, udp: Vec<UdpScript>) -> ScriptedServer {
            // The UDP port of the TCP listener's number may be taken.
            for _ in 0..50 {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let Ok(socket) = UdpSocket::bind(addr) else {
                    continue;
                };
                let tcp_queries = Arc::new(Mutex::new(Vec::new()));
                let udp_queries = Arc::new(Mutex::new(Vec::new()));
                let kept = tcp_queries.clone();
                std::thread::spawn(move || serve_tcp(listener, tcp, Duration::ZERO, kept));
                let kept = udp_queries.clone();
                std::thread::spawn(move || serve_udp(socket, udp, kept));
                return ScriptedServer {
                    addr,
                    tcp_queries,
                    udp_queries,
                };
            }
            panic!("no port free for both TCP and UDP");
        }

        pub(crate) fn tcp_queries(&self) -> Vec<Vec<u8>> {
            self.tcp_queries.lock().unwrap().clone()
        }

        pub(crate) fn udp_queries(&self) -> Vec<Vec<u8>> {
            self.udp_queries.lock().unwrap().clone()
        }
    }

    fn serve_tcp(
        listener: TcpListener,
        scripts: Vec<Script>,
        linger: Duration,
        queries: Arc<Mutex<Vec<Vec<u8>>>>,
    ) {
        let deadline = Instant::now() + WAIT;
        let _ = listener.set_nonblocking(true);
        for script in scripts {
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).is_err() {
                continue;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            queries.lock().unwrap().push(query.clone());
            for chunk in script(&query) {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
            std::thread::sleep(linger);
        }
    }

    fn serve_udp(socket: UdpSocket, scripts: Vec<UdpScript>, queries: Arc<Mutex<Vec<Vec<u8>>>>) {
        let _ = socket.set_read_timeout(Some(WAIT));
        let mut buf = vec![0u8; 65535];
        for script in scripts {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                return;
            };
            let query = buf[..n].to_vec();
            queries.lock().unwrap().push(query.clone());
            if let Some(answer) = script(&query) {
                let _ = socket.send_to(&answer, peer);
            }
        }
    }

    /// A message with its TCP length prefix.
    pub(crate) fn framed(message: &[u8]) -> Vec<u8> {
        let mut out = (message.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(message);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsig::{check_request, Keys, RequestAuth};
    use crate::xfr::command::{transfer, Printer};

    const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb2YtenN5bmMtMDE=";
    use crate::xfr::client::testing::{framed, scripted, Script};
    use domain::base::iana::Rcode;
    use domain::rdata::A;

    // --- The tracker, on synthetic record sequences

    fn soa(serial: u32) -> Item {
        Item::Soa(Serial(serial))
    }
    const X: Item = Item::Other;

    /// Feeds `messages` (each a list of records) to a fresh tracker;
    /// returns the outcome (None if incomplete) or the first error.
    fn track(kind: Kind, messages: &[&[Item]]) -> Result<Option<Outcome>, ProtocolError> {
        let mut tracker = Tracker::new(kind);
        for message in messages {
            for item in *message {
                tracker.record(*item)?;
            }
            tracker.end_of_message();
        }
        Ok(tracker.outcome())
    }

    const IXFR_FROM_3: Kind = Kind::Ixfr { serial: Serial(3) };

    #[test]
    fn axfr_ends_at_the_second_soa_across_messages() {
        assert_eq!(
            track(Kind::Axfr, &[&[soa(5), X, X], &[X], &[X, soa(5)]]),
            Ok(Some(Outcome::Axfr))
        );
        assert_eq!(track(Kind::Axfr, &[&[soa(5), X], &[X]]), Ok(None));
    }

    #[test]
    fn axfr_of_a_lone_soa_in_its_own_message_is_not_yet_complete() {
        assert_eq!(track(Kind::Axfr, &[&[soa(5)]]), Ok(None));
        assert_eq!(
            track(Kind::Axfr, &[&[soa(5)], &[soa(5)]]),
            Ok(Some(Outcome::Axfr))
        );
    }

    #[test]
    fn answer_must_start_with_the_soa() {
        assert_eq!(
            track(Kind::Axfr, &[&[X, soa(5)]]),
            Err(ProtocolError::NoSoaFirst)
        );
        assert_eq!(track(IXFR_FROM_3, &[&[X]]), Err(ProtocolError::NoSoaFirst));
    }

    #[test]
    fn closing_soa_must_match_the_opening_one() {
        assert_eq!(
            track(Kind::Axfr, &[&[soa(5), X, soa(6)]]),
            Err(ProtocolError::SerialMismatch {
                opening: Serial(5),
                closing: Serial(6)
            })
        );
    }

    #[test]
    fn records_after_the_closing_soa_are_an_error() {
        assert_eq!(
            track(Kind::Axfr, &[&[soa(5), X, soa(5), X]]),
            Err(ProtocolError::AfterEnd)
        );
    }

    #[test]
    fn ixfr_answered_with_the_soa_alone_is_up_to_date() {
        let mut tracker = Tracker::new(IXFR_FROM_3);
        tracker.record(soa(3)).unwrap();
        assert_eq!(tracker.outcome(), None, "decided only at the message end");
        tracker.end_of_message();
        assert_eq!(tracker.outcome(), Some(Outcome::UpToDate));
        assert_eq!(tracker.serial(), Some(Serial(3)));
        // The client is ahead (RFC 1982, across the wrap too).
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(2)]]),
            Ok(Some(Outcome::UpToDate))
        );
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(u32::MAX)]]),
            Ok(Some(Outcome::UpToDate))
        );
    }

    #[test]
    fn ixfr_lone_newer_soa_in_the_first_message_is_not_the_end() {
        assert_eq!(track(IXFR_FROM_3, &[&[soa(4)]]), Ok(None));
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(4)], &[X, soa(4)]]),
            Ok(Some(Outcome::FullZone))
        );
    }

    #[test]
    fn ixfr_answered_with_the_whole_zone() {
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(7), X, X], &[X, soa(7)]]),
            Ok(Some(Outcome::FullZone))
        );
        // A zone that is its SOA alone.
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(7), soa(7)]]),
            Ok(Some(Outcome::FullZone))
        );
    }

    #[test]
    fn ixfr_one_changeset() {
        // SOA 5, [SOA 3, -x, SOA 5, +x], SOA 5
        let seq = [soa(5), soa(3), X, soa(5), X, soa(5)];
        assert_eq!(
            track(IXFR_FROM_3, &[&seq]),
            Ok(Some(Outcome::Incremental { changesets: 1 }))
        );
        // The same split across messages after every record.
        let split: Vec<&[Item]> = seq.iter().map(std::slice::from_ref).collect();
        assert_eq!(
            track(IXFR_FROM_3, &split),
            Ok(Some(Outcome::Incremental { changesets: 1 }))
        );
    }

    #[test]
    fn ixfr_several_changesets_some_empty() {
        let seq = [
            soa(9),
            soa(3),
            X,
            soa(4),
            X,
            X, // 3 → 4
            soa(4),
            soa(7), // 4 → 7, no changes but the SOA
            soa(7),
            X,
            soa(9),
            X, // 7 → 9
            soa(9),
        ];
        assert_eq!(
            track(IXFR_FROM_3, &[&seq]),
            Ok(Some(Outcome::Incremental { changesets: 3 }))
        );
        assert_eq!(track(IXFR_FROM_3, &[&seq[..12]]), Ok(None), "no final SOA");
    }

    #[test]
    fn ixfr_changesets_must_chain() {
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(9), soa(2), X, soa(9), soa(9)]]),
            Err(ProtocolError::BrokenChain {
                expected: Serial(3),
                found: Serial(2)
            })
        );
        assert_eq!(
            track(IXFR_FROM_3, &[&[soa(9), soa(3), soa(4), soa(5), soa(9)]]),
            Err(ProtocolError::BrokenChain {
                expected: Serial(4),
                found: Serial(5)
            })
        );
    }

    #[test]
    fn ixfr_serial_is_that_of_the_first_soa() {
        let mut tracker = Tracker::new(IXFR_FROM_3);
        assert_eq!(tracker.serial(), None);
        for item in [soa(9), soa(3), X, soa(9)] {
            tracker.record(item).unwrap();
            assert_eq!(tracker.serial(), Some(Serial(9)));
        }
    }

    #[test]
    fn ixfr_query_carries_the_client_soa_in_the_authority_section() {
        let request = Request::new(
            "example.com",
            Kind::Ixfr { serial: Serial(42) },
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        let query = request.query(7).unwrap();
        let message = Message::from_octets(query.as_slice()).unwrap();
        assert_eq!(message.header().id(), 7);
        let question = message.sole_question().unwrap();
        assert_eq!(question.qtype(), Rtype::IXFR);
        assert_eq!(question.qname().to_string(), "example.com");
        let soa = message
            .authority()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .to_record::<Soa<ParsedName<_>>>()
            .unwrap()
            .unwrap();
        assert_eq!(soa.data().serial(), domain::base::Serial(42));
        assert_eq!(soa.owner().to_string(), "example.com");
    }

    // --- Whole transfers against a scripted server

    fn name(text: &str) -> Name<Vec<u8>> {
        Name::from_str(text).unwrap()
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

    /// A response to `query` with `records` (None = SOA `serial`, Some(n) =
    /// an A record for host<n>), the question echoed.
    fn response(query: &[u8], rcode: Rcode, records: &[Option<u8>], serial: u32) -> Vec<u8> {
        let query = Message::from_octets(query).unwrap();
        let mut answer = MessageBuilder::new_vec()
            .start_answer(&query, rcode)
            .unwrap();
        for record in records {
            match record {
                None => answer
                    .push((name("example.com."), 3600, soa_data(serial)))
                    .unwrap(),
                Some(n) => answer
                    .push((
                        name(&format!("host{n}.example.com.")),
                        3600,
                        A::from_octets(192, 0, 2, *n),
                    ))
                    .unwrap(),
            }
        }
        answer.finish()
    }

    fn axfr_request(key: Option<TsigKey>, timeout: Duration) -> Request {
        Request::new("example.com.", Kind::Axfr, key, timeout).unwrap()
    }

    /// Runs `request` against a scripted server that closes the
    /// connection once it has sent everything.
    fn run(script: Script, request: &Request) -> (Result<Summary, XfrError>, String) {
        let (addr, server) = scripted(script, Duration::ZERO);
        let mut out = Vec::new();
        let result = transfer(addr, request, &mut out);
        drop(server);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn axfr_over_two_messages_prints_every_record() {
        let script: Script = Box::new(|q| {
            vec![
                framed(&response(q, Rcode::NOERROR, &[None, Some(1)], 5)),
                framed(&response(q, Rcode::NOERROR, &[Some(2), None], 5)),
            ]
        });
        let (result, out) = run(script, &axfr_request(None, Duration::from_secs(5)));
        let summary = result.unwrap();
        assert_eq!(
            (summary.progress.records, summary.progress.messages),
            (4, 2)
        );
        assert_eq!(summary.expire, None, "not asked for");
        assert_eq!(
            (summary.serial, summary.outcome),
            (Serial(5), Outcome::Axfr)
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(
            lines[0],
            "example.com.\t3600\tIN\tSOA\tns1.example.com. hostmaster.example.com. 5 7200 1800 1209600 300"
        );
        assert_eq!(lines[1], "host1.example.com.\t3600\tIN\tA\t192.0.2.1");
        assert!(summary
            .to_string()
            .starts_with(";; 4 records, 2 messages, "));
        assert!(summary.to_string().ends_with(" ms, serial 5 (AXFR)"));
    }

    /// Runs a transfer against a server sending `chunks` and returns its
    /// error text.
    fn failure(chunks: Vec<Vec<u8>>) -> String {
        let script: Script = Box::new(move |_| chunks);
        let request = axfr_request(None, Duration::from_secs(5));
        match run(script, &request).0 {
            Ok(summary) => panic!("expected an error, got {summary}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn zero_length_message_is_an_error() {
        assert_eq!(failure(vec![vec![0, 0]]), "message 1 has length 0");
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert!(failure(vec![framed(&[1, 2, 3])]).contains("malformed"));
        // A header claiming one answer record that is not there.
        let mut header = vec![0u8; 12];
        header[2] = 0x80;
        header[7] = 1;
        let e = failure(vec![framed(&header)]);
        assert!(e.contains("message 1"), "{e}");
        // Random octets after a plausible header, many times over.
        let request = axfr_request(None, Duration::from_secs(1));
        let mut seed = 0x2545_f491_u32;
        for _ in 0..200 {
            let mut bytes = header.clone();
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                bytes.push(seed as u8);
            }
            let (mut session, _query) = Session::start(&request, 0).unwrap();
            let _ = session.message(&bytes, &mut Printer(Vec::new()));
        }
    }

    #[test]
    fn connection_closed_early_is_an_error() {
        assert!(failure(vec![]).contains("closed the connection"));
        assert!(failure(vec![vec![0, 40, 1, 2]]).contains("closed the connection"));
    }

    #[test]
    fn silent_server_times_out_within_the_bound() {
        // Half a length prefix, then nothing for longer than the timeout.
        let script: Script = Box::new(|_| vec![vec![0]]);
        let request = axfr_request(None, Duration::from_millis(300));
        let (addr, _server) = scripted(script, Duration::from_secs(2));
        let started = Instant::now();
        let e = transfer(addr, &request, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, XfrError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("within 0.3 s"), "{e}");
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn error_rcode_is_named() {
        let script: Script = Box::new(|q| vec![framed(&response(q, Rcode::REFUSED, &[], 0))]);
        let (result, out) = run(script, &axfr_request(None, Duration::from_secs(5)));
        assert_eq!(result.unwrap_err().to_string(), "server answered REFUSED");
        assert!(out.is_empty());
    }

    #[test]
    fn answer_with_another_id_is_an_error() {
        let script: Script = Box::new(|q| {
            let mut r = response(q, Rcode::NOERROR, &[None, None], 1);
            r[0] ^= 0xff;
            vec![framed(&r)]
        });
        let (result, _) = run(script, &axfr_request(None, Duration::from_secs(5)));
        assert!(matches!(
            result,
            Err(XfrError::Protocol {
                problem: ProtocolError::WrongId { .. },
                ..
            })
        ));
    }

    fn key() -> TsigKey {
        TsigKey::from_config("xfr-key", "hmac-sha256", SECRET).unwrap()
    }

    /// A script that checks the query's TSIG with our server's code and
    /// signs the chosen messages of a three-message AXFR.
    fn signing_script(sign: [bool; 3]) -> Script {
        Box::new(move |q| {
            let keys = Keys::new([key()]).unwrap();
            let RequestAuth::Signed(mut signer) = check_request(&keys, q) else {
                panic!("the query is not signed with the key");
            };
            let parts: [&[Option<u8>]; 3] = [&[None, Some(1)], &[Some(2)], &[Some(3), None]];
            parts
                .iter()
                .zip(sign)
                .map(|(records, sign)| {
                    let mut r = response(q, Rcode::NOERROR, records, 8);
                    if sign {
                        signer.sign_response(&mut r).unwrap();
                    }
                    framed(&r)
                })
                .collect()
        })
    }

    #[test]
    fn signed_stream_verifies() {
        let request = axfr_request(Some(key()), Duration::from_secs(5));
        let (result, _) = run(signing_script([true, true, true]), &request);
        assert_eq!(result.unwrap().progress.records, 5);
    }

    #[test]
    fn stream_with_an_unsigned_first_or_last_message_fails() {
        let request = axfr_request(Some(key()), Duration::from_secs(5));
        let (result, out) = run(signing_script([false, true, true]), &request);
        let e = result.unwrap_err().to_string();
        assert!(e.contains("message 1") && e.contains("not signed"), "{e}");
        assert!(out.is_empty(), "nothing unverified is printed first");
        let (result, _) = run(signing_script([true, true, false]), &request);
        let e = result.unwrap_err().to_string();
        assert!(e.contains("message 3") && e.contains("unsigned"), "{e}");
    }

    #[test]
    fn stream_signed_with_another_secret_fails_as_badsig() {
        let other = TsigKey::from_config("xfr-key", "hmac-sha256", "b3RoZXItc2VjcmV0").unwrap();
        let request = axfr_request(Some(other), Duration::from_secs(5));
        // The server signs with its own secret: our signer cannot get its
        // MAC state from a query it could not verify, so it verifies a
        // copy of the query signed with the right key.
        let script: Script = Box::new(|q| {
            let message = Message::from_octets(q).unwrap();
            let mut copy = MessageBuilder::new_vec();
            copy.header_mut().set_id(message.header().id());
            let mut question = copy.question();
            question.push(message.sole_question().unwrap()).unwrap();
            let mut copy = question.finish();
            ClientSigner::sign_request(&key(), &mut copy).unwrap();
            let keys = Keys::new([key()]).unwrap();
            let RequestAuth::Signed(mut signer) = check_request(&keys, &copy) else {
                panic!("the copy does not verify");
            };
            let mut r = response(q, Rcode::NOERROR, &[None, None], 8);
            signer.sign_response(&mut r).unwrap();
            vec![framed(&r)]
        });
        let (result, _) = run(script, &request);
        let e = result.unwrap_err().to_string();
        assert!(e.contains("BADSIG"), "{e}");
    }
}
