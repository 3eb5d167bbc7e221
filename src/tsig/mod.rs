//! TSIG (RFC 8945): shared-secret signatures for zone transfers, NOTIFY and
//! (later) UPDATE.
//!
//! This is a thin layer over `domain::tsig`, which owns the MAC
//! computation, the request/response chaining of RFC 8945 §5.3 and the
//! multi-message rules of §5.3.1. What this module adds:
//!
//! - it works on complete messages as bytes, because our responses come
//!   from our own writer (`wire::MessageWriter`), not from `domain`'s
//!   builder (see `target.rs` for how a finished message is handed to
//!   `domain`'s signer);
//! - a key store looked up by name case-insensitively, built from the
//!   configuration;
//! - the exact error responses of RFC 8945 §5.2 (`domain` 0.12.3 reports a
//!   failed MAC check as TSIG error FORMERR instead of BADSIG, so the
//!   unsigned error answers are built here);
//! - key generation for `zonesync keygen`.
//!
//! Times are seconds since the Unix epoch; every operation that reads the
//! clock has an `_at` variant taking the time, so tests (and a caller with
//! its own clock) can choose it.

mod keygen;
mod target;
#[cfg(test)]
mod tests;

pub use keygen::keygen;

use domain::base::iana::{Class, Rcode, Rtype, TsigRcode};
use domain::base::message::Message;
use domain::base::message_builder::MessageBuilder;
use domain::base::name::ParsedName;
use domain::base::Ttl;
use domain::dep::octseq::array::Array;
use domain::rdata::tsig::{Time48, Tsig};
use domain::tsig::{ClientSequence, Key, KeyName, KeyStore, ServerSequence, ValidationError};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use target::Prefilled;

/// Fudge (seconds of allowed clock difference) put into the TSIG records we
/// create; 300 is the value RFC 8945 §10 recommends.
pub const FUDGE: u16 = 300;

#[derive(Debug, thiserror::Error)]
pub enum TsigError {
    #[error("unknown TSIG algorithm {0:?} (expected hmac-sha1, hmac-sha256, hmac-sha384 or hmac-sha512)")]
    UnknownAlgorithm(String),
    #[error("key name {name:?}: {reason}")]
    BadKeyName { name: String, reason: String },
    #[error("key {name:?}: secret is not valid base64")]
    BadSecret { name: String },
    #[error("key {name:?}: secret is empty")]
    EmptySecret { name: String },
    #[error("key {name:?} is configured twice")]
    DuplicateKey { name: String },
    #[error("message too short or malformed to sign")]
    Malformed,
    #[error("no room left in the message for the TSIG record")]
    NoSpace,
    #[error("TSIG check of the response failed: {0}")]
    Validation(#[from] ValidationError),
    #[error("cannot read random bytes: {0}")]
    Random(std::io::Error),
}

/// A TSIG algorithm (RFC 8945 §6). HMAC-MD5 and GSS-TSIG are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// The name used in TSIG records and in BIND/Knot configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The length of the algorithm's digest, in octets: the length of a
    /// full MAC and of the secrets `keygen` makes (RFC 8945 §6 asks for a
    /// key at least as long as the digest).
    pub fn digest_len(self) -> usize {
        self.to_domain().native_len()
    }

    fn to_domain(self) -> domain::tsig::Algorithm {
        match self {
            Algorithm::HmacSha1 => domain::tsig::Algorithm::Sha1,
            Algorithm::HmacSha256 => domain::tsig::Algorithm::Sha256,
            Algorithm::HmacSha384 => domain::tsig::Algorithm::Sha384,
            Algorithm::HmacSha512 => domain::tsig::Algorithm::Sha512,
        }
    }
}

impl FromStr for Algorithm {
    type Err = TsigError;

    /// Accepts the algorithm's name in any case, with or without the
    /// trailing dot of its domain-name form ("hmac-sha256.").
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bare = text.strip_suffix('.').unwrap_or(text);
        [
            Algorithm::HmacSha1,
            Algorithm::HmacSha256,
            Algorithm::HmacSha384,
            Algorithm::HmacSha512,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(bare))
        .ok_or_else(|| TsigError::UnknownAlgorithm(text.to_owned()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TSIG key as configured: name, algorithm and secret.
#[derive(Clone)]
pub struct TsigKey {
    /// The name as written in the configuration (RFC 8945 §4.2: the key's
    /// name is the owner of the TSIG record; compared case-insensitively).
    pub name: String,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    // Keeps the secret out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    /// Builds a key from configuration text: a domain name ("xfr-key" or
    /// "xfr-key.example."), an algorithm name and the base64 secret.
    pub fn from_config(
        name: &str,
        algorithm: &str,
        secret_base64: &str,
    ) -> Result<TsigKey, TsigError> {
        key_name(name)?;
        let algorithm = algorithm.parse()?;
        let secret: Vec<u8> =
            domain::utils::base64::decode(secret_base64.trim()).map_err(|_| {
                TsigError::BadSecret {
                    name: name.to_owned(),
                }
            })?;
        if secret.is_empty() {
            return Err(TsigError::EmptySecret {
                name: name.to_owned(),
            });
        }
        Ok(TsigKey {
            name: name.to_owned(),
            algorithm,
            secret,
        })
    }

    /// The secret in base64, as written in configuration files.
    pub fn secret_base64(&self) -> String {
        domain::utils::base64::encode_string(&self.secret)
    }

    /// This key as `domain` needs it: full-length MACs only, in both
    /// directions (RFC 8945 §5.2.4 lets local policy refuse truncation).
    fn to_domain(&self) -> Result<Key, TsigError> {
        let (_, name) = key_name(&self.name)?;
        if self.secret.is_empty() {
            return Err(TsigError::EmptySecret {
                name: self.name.clone(),
            });
        }
        Key::new(self.algorithm.to_domain(), &self.secret, name, None, None).map_err(|e| {
            // Unreachable with `None` lengths; reported rather than unwrapped.
            TsigError::BadKeyName {
                name: self.name.clone(),
                reason: e.to_string(),
            }
        })
    }
}

/// Checks a key name and returns its lower-case wire form (the store's
/// lookup key) and its `domain` form.
fn key_name(name: &str) -> Result<(Vec<u8>, KeyName), TsigError> {
    let bad = |reason: String| TsigError::BadKeyName {
        name: name.to_owned(),
        reason,
    };
    let wire = crate::config::parse_zone_name(name).map_err(|e| bad(e.to_string()))?;
    if wire.len() == 1 {
        return Err(bad("the root is not a key name".into()));
    }
    let octets = Array::<255>::try_from(wire.as_slice()).map_err(|_| bad("too long".into()))?;
    let name = KeyName::from_octets(octets).map_err(|e| bad(e.to_string()))?;
    Ok((wire, name))
}

/// One key of the store, with the name as configured for reports and ACLs.
struct Entry {
    /// Shared with what records the key (the peer history).
    name: Arc<str>,
    key: Key,
}

/// A shared handle on a stored key: what `domain`'s signers hold.
#[derive(Clone)]
struct KeyHandle(Arc<Entry>);

impl AsRef<Key> for KeyHandle {
    fn as_ref(&self) -> &Key {
        &self.0.key
    }
}

/// The server's keys, found by name (case-insensitively) and algorithm.
#[derive(Clone, Default)]
pub struct Keys {
    by_name: HashMap<Vec<u8>, KeyHandle>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.by_name.values().map(|h| &h.0.name))
            .finish()
    }
}

impl Keys {
    /// Builds the store; two keys whose names differ only in case are the
    /// same key name in DNS, so that is an error.
    pub fn new(keys: impl IntoIterator<Item = TsigKey>) -> Result<Keys, TsigError> {
        let mut by_name = HashMap::new();
        for key in keys {
            let (wire, _) = key_name(&key.name)?;
            let entry = Entry {
                key: key.to_domain()?,
                name: Arc::from(key.name),
            };
            if by_name.contains_key(&wire) {
                return Err(TsigError::DuplicateKey {
                    name: entry.name.to_string(),
                });
            }
            by_name.insert(wire, KeyHandle(Arc::new(entry)));
        }
        Ok(Keys { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// `domain`'s view of [`Keys`]; a private wrapper so that `KeyHandle`
/// stays private.
struct Store<'a>(&'a Keys);

impl KeyStore for Store<'_> {
    type Key = KeyHandle;

    /// A key matches only with its own algorithm: a known name used with
    /// another algorithm is BADKEY (RFC 8945 §5.2.1).
    fn get_key<N: domain::base::ToName>(
        &self,
        name: &N,
        algorithm: domain::tsig::Algorithm,
    ) -> Option<KeyHandle> {
        let mut wire = Vec::with_capacity(64);
        for label in name.iter_labels() {
            wire.push(u8::try_from(label.len()).ok()?);
            wire.extend(label.as_slice().iter().map(u8::to_ascii_lowercase));
        }
        let handle = self.0.by_name.get(&wire)?;
        (handle.0.key.algorithm() == algorithm).then(|| handle.clone())
    }
}

/// Seconds since the Unix epoch, as TSIG's 48-bit time. A clock before
/// 1970 reads as 0 (and fails every time check) rather than panicking.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `Time48::from_u64` panics above 48 bits; saturate instead.
fn time48(secs: u64) -> Time48 {
    Time48::from_u64(secs.min(0xFFFF_FFFF_FFFF))
}

/// The outcome of checking a request's TSIG (RFC 8945 §5.2).
pub enum RequestAuth {
    /// No TSIG record: the request is anonymous.
    Unsigned,
    /// Verified; sign every response with it.
    Signed(SignedRequest),
    /// The TSIG check failed; answer with [`TsigFailure::response`].
    Rejected(TsigFailure),
}

impl fmt::Debug for RequestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestAuth::Unsigned => f.write_str("Unsigned"),
            RequestAuth::Signed(s) => f.debug_tuple("Signed").field(&s.key_name()).finish(),
            RequestAuth::Rejected(e) => f.debug_tuple("Rejected").field(&e.rcode_name()).finish(),
        }
    }
}

/// Checks the TSIG of a request, now. See [`check_request_at`].
pub fn check_request(keys: &Keys, request: &[u8]) -> RequestAuth {
    check_request_at(keys, request, now())
}

/// Checks the TSIG of a request (RFC 8945 §5.2) at time `now` (seconds
/// since the epoch).
///
/// Requests without a TSIG record cost no allocation (most queries carry
/// an OPT record, so the additional section is scanned, not copied). A
/// request whose additional section cannot be parsed is `Unsigned`: the
/// query parser answers it with FORMERR on its own.
pub fn check_request_at(keys: &Keys, request: &[u8], now: u64) -> RequestAuth {
    match find_tsig(request) {
        TsigPresence::None => return RequestAuth::Unsigned,
        TsigPresence::FollowedByOctets => {
            return RequestAuth::Rejected(TsigFailure {
                kind: FailureKind::FormErr,
                response: formerr_response(request),
                key: presented_key(request),
            })
        }
        TsigPresence::Present => {}
    }
    // `domain` strips the TSIG record in place, so it needs its own copy.
    let Ok(mut message) = Message::from_octets(request.to_vec()) else {
        return RequestAuth::Unsigned;
    };
    let now = time48(now);
    match ServerSequence::request(&Store(keys), &mut message, now) {
        Ok(None) => RequestAuth::Unsigned,
        Ok(Some(sequence)) => RequestAuth::Signed(SignedRequest {
            sequence: Box::new(sequence),
        }),
        Err(error) => RequestAuth::Rejected(TsigFailure::new(error, request)),
    }
}

/// Where a request's TSIG record stands.
enum TsigPresence {
    /// No TSIG record (or an additional section that does not parse).
    None,
    /// A TSIG record; `domain` checks that it is the last record.
    Present,
    /// A TSIG record, then octets that belong to no section. The MAC covers
    /// only what precedes the TSIG record, so the tail would go
    /// unauthenticated (RFC 8945 §5.1 wants TSIG at the very end).
    /// `domain` 0.12.3 does not look past the counted records, so this is
    /// checked here. Found by the `tsig` fuzz target.
    FollowedByOctets,
}

/// Whether the additional section holds a TSIG record, anywhere (a TSIG
/// record not in last place is itself an error, RFC 8945 §5.1), and
/// whether the message ends with the last record.
fn find_tsig(request: &[u8]) -> TsigPresence {
    let Ok(message) = Message::from_octets(request) else {
        return TsigPresence::None;
    };
    if message.header_counts().arcount() == 0 {
        return TsigPresence::None;
    }
    let Ok(mut section) = message.additional() else {
        return TsigPresence::None;
    };
    let mut found = false;
    for record in section.by_ref() {
        match record {
            Ok(record) => found |= record.rtype() == Rtype::TSIG,
            Err(_) => return TsigPresence::None,
        }
    }
    match (found, section.pos() == request.len()) {
        (false, _) => TsigPresence::None,
        (true, true) => TsigPresence::Present,
        (true, false) => TsigPresence::FollowedByOctets,
    }
}

/// A plain FORMERR answer echoing the request's question, or `None` when
/// the request is too broken to answer.
fn formerr_response(request: &[u8]) -> Option<Vec<u8>> {
    let message = Message::from_octets(request).ok()?;
    let builder = MessageBuilder::new_vec()
        .start_answer(&message, Rcode::FORMERR)
        .ok()?;
    Some(builder.finish())
}

/// A request whose TSIG verified: the state that signs its response(s).
pub struct SignedRequest {
    // Boxed: the HMAC state is ~300 octets, which would make every
    // `RequestAuth` (mostly `Unsigned`) that large.
    sequence: Box<ServerSequence<KeyHandle>>,
}

impl SignedRequest {
    /// The name of the key that signed the request, as configured (for
    /// ACLs and logs).
    pub fn key_name(&self) -> &str {
        &self.sequence.wrapped_key().0.name
    }

    /// The same name, shared with the key store (no copy per request).
    pub fn shared_key_name(&self) -> Arc<str> {
        self.sequence.wrapped_key().0.name.clone()
    }

    /// Octets the TSIG record adds to a response: leave this much room when
    /// writing one under a size limit (UDP, 65535 on TCP).
    pub fn tsig_len(&self) -> usize {
        usize::from(self.sequence.key().compose_len())
    }

    /// Signs the next response to this request, now. See
    /// [`sign_response_at`](Self::sign_response_at).
    pub fn sign_response(&mut self, response: &mut Vec<u8>) -> Result<(), TsigError> {
        self.sign_response_at(response, now())
    }

    /// Appends a TSIG record to a complete response (without the TCP length
    /// prefix). Call it once per message for a multi-message answer (AXFR,
    /// IXFR): RFC 8945 §5.3.1 chains each MAC to the previous one, and we
    /// sign every message rather than the 99-message minimum §5.3.1 allows,
    /// as the RFC recommends. On error the response is left as it was.
    pub fn sign_response_at(&mut self, response: &mut Vec<u8>, now: u64) -> Result<(), TsigError> {
        // Checked before signing: a failed push would leave the sequence's
        // MAC chain advanced past a message never sent.
        if response.len() + self.tsig_len() > usize::from(u16::MAX) {
            return Err(TsigError::NoSpace);
        }
        let mut builder = match Prefilled::builder(std::mem::take(response)) {
            Ok(builder) => builder,
            Err(original) => {
                *response = original;
                return Err(TsigError::Malformed);
            }
        };
        let result = self
            .sequence
            .answer_with_fudge(&mut builder, time48(now), FUDGE);
        *response = builder.finish().into_vec();
        result.map_err(|_| TsigError::NoSpace)
    }
}

/// Why a request's TSIG was refused, with the response RFC 8945 §5.2
/// demands, built when the request was checked.
pub struct TsigFailure {
    kind: FailureKind,
    response: Option<Vec<u8>>,
    /// The owner of the request's TSIG record: the key it named.
    key: Option<Box<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// The TSIG record is misplaced, repeated or unreadable (§5.2).
    FormErr,
    /// Unknown key name or algorithm (§5.2.1).
    BadKey,
    /// The MAC does not verify (§5.2.2).
    BadSig,
    /// Signed outside the fudge window (§5.2.3).
    BadTime,
    /// The MAC is truncated below what we accept (§5.2.4).
    BadTrunc,
}

impl TsigFailure {
    fn new(error: domain::tsig::ServerError<KeyHandle>, request: &[u8]) -> TsigFailure {
        let tsig_error = error.error();
        // `domain` builds the BADTIME answer (it must be signed, which
        // needs the signing context only it holds) and the FORMERR one.
        let domain_response = |error: domain::tsig::ServerError<KeyHandle>| {
            let message = Message::from_octets(request).ok()?;
            let builder = error
                .build_message(&message, MessageBuilder::new_vec())
                .ok()?;
            Some(builder.finish())
        };
        let (kind, response) = if tsig_error == TsigRcode::BADTIME {
            (FailureKind::BadTime, domain_response(error))
        } else if tsig_error == TsigRcode::BADKEY {
            (
                FailureKind::BadKey,
                unsigned_error(request, TsigRcode::BADKEY),
            )
        } else if tsig_error == TsigRcode::BADTRUNC {
            (
                FailureKind::BadTrunc,
                unsigned_error(request, TsigRcode::BADTRUNC),
            )
        } else {
            // `domain` 0.12.3 reports a MAC that fails to verify as TSIG
            // error FORMERR in a NOTAUTH answer, and a malformed TSIG as a
            // plain FORMERR answer; the answer's RCODE tells them apart.
            let response = domain_response(error);
            let notauth = response
                .as_deref()
                .and_then(|r| Message::from_octets(r).ok())
                .is_some_and(|m| m.header().rcode() == Rcode::NOTAUTH);
            if notauth {
                (
                    FailureKind::BadSig,
                    unsigned_error(request, TsigRcode::BADSIG),
                )
            } else {
                (FailureKind::FormErr, response)
            }
        };
        TsigFailure {
            kind,
            response,
            key: presented_key(request),
        }
    }

    /// The whole error response to send (no TCP length prefix), or `None`
    /// when not even an error response could be built from the request:
    /// then send nothing.
    ///
    /// BADKEY, BADSIG and BADTRUNC answers are unsigned (RCODE NOTAUTH, the
    /// request's TSIG record echoed with an empty MAC and the error, RFC
    /// 8945 §5.3.2); the BADTIME answer is signed with the request's key
    /// and carries the server's time in Other Data (§5.2.3); a malformed
    /// TSIG gets a plain FORMERR (§5.2).
    pub fn response(&self) -> Option<&[u8]> {
        self.response.as_deref()
    }

    /// The key name the request's TSIG record presented (presentation
    /// format, without the final dot), whether or not we have such a key;
    /// `None` when the record could not be read.
    pub fn key_name(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The TSIG error's name, for logs and statistics.
    pub fn rcode_name(&self) -> &'static str {
        match self.kind {
            FailureKind::FormErr => "FORMERR",
            FailureKind::BadKey => "BADKEY",
            FailureKind::BadSig => "BADSIG",
            FailureKind::BadTime => "BADTIME",
            FailureKind::BadTrunc => "BADTRUNC",
        }
    }
}

impl fmt::Debug for TsigFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigFailure")
            .field("error", &self.rcode_name())
            .field("key", &self.key)
            .finish()
    }
}

/// The owner of the last TSIG record of a request's additional section:
/// the name of the key it was signed with.
fn presented_key(request: &[u8]) -> Option<Box<str>> {
    let message = Message::from_octets(request).ok()?;
    let mut owner = None;
    for record in message.additional().ok()? {
        let record = record.ok()?;
        if record.rtype() == Rtype::TSIG {
            owner = Some(record.owner().to_string());
        }
    }
    let owner = owner?;
    let bare = owner.strip_suffix('.').filter(|b| !b.is_empty());
    Some(bare.unwrap_or(&owner).into())
}

/// The unsigned NOTAUTH answer of RFC 8945 §5.3.2: the question echoed and
/// the request's TSIG record with an empty MAC and `error`. Built here
/// because `domain` 0.12.3 puts the wrong error code in it for BADSIG.
fn unsigned_error(request: &[u8], error: TsigRcode) -> Option<Vec<u8>> {
    let message = Message::from_octets(request).ok()?;
    let mut tsig = None;
    for record in message.additional().ok()? {
        if let Some(record) = record
            .ok()?
            .into_record::<Tsig<&[u8], ParsedName<&[u8]>>>()
            .ok()?
        {
            tsig = Some(record);
        }
    }
    let tsig = tsig?;
    let data = tsig.data();
    let empty: &[u8] = &[];
    let rdata = Tsig::new(
        *data.algorithm(),
        data.time_signed(),
        data.fudge(),
        empty,
        data.original_id(),
        error,
        empty,
    )
    .ok()?;
    let mut builder = MessageBuilder::new_vec()
        .start_answer(&message, Rcode::NOTAUTH)
        .ok()?
        .additional();
    builder
        .push((*tsig.owner(), Class::ANY, Ttl::ZERO, rdata))
        .ok()?;
    Some(builder.finish())
}

/// The client side (NOTIFY out, transfers in): signs a request and checks
/// the response or the stream of responses to it.
pub struct ClientSigner {
    sequence: ClientSequence<Key>,
}

impl fmt::Debug for ClientSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSigner")
            .field("key", &self.sequence.key().name())
            .finish()
    }
}

impl ClientSigner {
    /// Signs a request now. See [`sign_request_at`](Self::sign_request_at).
    pub fn sign_request(key: &TsigKey, request: &mut Vec<u8>) -> Result<ClientSigner, TsigError> {
        Self::sign_request_at(key, request, now())
    }

    /// Appends a TSIG record to a complete request (RFC 8945 §5.1). The
    /// request's ID must be final: it is part of what is signed. On error
    /// the request is left as it was.
    pub fn sign_request_at(
        key: &TsigKey,
        request: &mut Vec<u8>,
        now: u64,
    ) -> Result<ClientSigner, TsigError> {
        let key = key.to_domain()?;
        let mut builder = match Prefilled::builder(std::mem::take(request)) {
            Ok(builder) => builder,
            Err(original) => {
                *request = original;
                return Err(TsigError::Malformed);
            }
        };
        let result = ClientSequence::request_with_fudge(key, &mut builder, time48(now), FUDGE);
        *request = builder.finish().into_vec();
        let sequence = result.map_err(|_| TsigError::NoSpace)?;
        Ok(ClientSigner { sequence })
    }

    /// Checks the next response now. See
    /// [`verify_response_at`](Self::verify_response_at).
    pub fn verify_response(&mut self, response: &[u8]) -> Result<(), TsigError> {
        self.verify_response_at(response, now())
    }

    /// Checks the next response to the request (RFC 8945 §5.3): the first
    /// must be signed; later ones of a stream may go unsigned, up to 99 in
    /// a row (§5.3.1). The server's NOTAUTH errors come back as
    /// `Validation(ServerBadKey | ServerBadSig | ServerBadTime)`.
    pub fn verify_response_at(&mut self, response: &[u8], now: u64) -> Result<(), TsigError> {
        // `domain` strips the TSIG record in place, hence the copy.
        let mut message =
            Message::from_octets(response.to_vec()).map_err(|_| TsigError::Malformed)?;
        self.sequence.answer(&mut message, time48(now))?;
        Ok(())
    }

    /// Ends a stream: its last message must have been signed (§5.3.1).
    pub fn finish(self) -> Result<(), TsigError> {
        self.sequence.done()?;
        Ok(())
    }
}
