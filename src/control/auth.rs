//! The control key (`server.control_key`): requests signed with a
//! `[[key]]`'s secret, so that a control interface may listen beyond
//! loopback.
//!
//! A signed request carries
//! `Authorization: Zonesync-HMAC key="NAME", time="UNIX", mac="B64"`: the
//! HMAC, with the key's TSIG algorithm, of `METHOD SP TARGET SP TIME`
//! (`GET /peers?zone=example.com 1765000000.250000000`), TIME as written
//! in the header. The server takes it within [`WINDOW_S`] of its clock and
//! each MAC once. TIME is Unix seconds, with up to nine decimals: the
//! client sends nanoseconds, so two equal requests within one second
//! (`ctl status` twice) are two MACs, not a replay. The MAC proves who asks and
//! that the request line is theirs; the exchange is still plain HTTP, so
//! answers are not hidden from anyone on the path.

use crate::tsig::{Algorithm, TsigKey};
use ring::hmac;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `Authorization` scheme.
pub const SCHEME: &str = "Zonesync-HMAC";
/// How far a request's time may be from the server's, either way (as
/// TSIG's usual fudge).
pub const WINDOW_S: u64 = 300;
/// The MACs remembered against replay, at most.
pub const MACS_MAX: usize = 4096;

/// Why a request is not let in (401; the text is the answer's `error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this control interface needs requests signed with its control key: Authorization: {SCHEME} key=\"NAME\", time=\"UNIX\", mac=\"BASE64\" (zonesync ctl --key NAME)")]
    Missing,
    #[error("Authorization: {0} (expected {SCHEME} key=\"NAME\", time=\"UNIX\", mac=\"BASE64\")")]
    Malformed(&'static str),
    #[error("signed with key {0:?}, which is not this control interface's key")]
    WrongKey(String),
    #[error("the request's time {time} is {off} s from the server's clock (at most {WINDOW_S} s): check both clocks")]
    Skewed { time: u64, off: u64 },
    #[error("the MAC does not verify: another secret for this key, or the request was changed")]
    BadMac,
    #[error("this MAC was already used (a replayed request): sign each request anew")]
    Replayed,
}

/// The `Authorization` value of a request: `method` and `target` (path
/// and query, as sent) at `at` (written to the nanosecond).
pub fn sign(key: &TsigKey, method: &str, target: &str, at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let time = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
    let tag = hmac::sign(
        &ring_key(key),
        signed_text(method, target, &time).as_bytes(),
    );
    format!(
        "{SCHEME} key=\"{}\", time=\"{time}\", mac=\"{}\"",
        key.name,
        domain::utils::base64::encode_string(tag.as_ref())
    )
}

/// What the MAC covers.
fn signed_text(method: &str, target: &str, time: &str) -> String {
    format!("{method} {target} {time}")
}

fn ring_key(key: &TsigKey) -> hmac::Key {
    let algorithm = match key.algorithm {
        Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::HmacSha256 => hmac::HMAC_SHA256,
        Algorithm::HmacSha384 => hmac::HMAC_SHA384,
        Algorithm::HmacSha512 => hmac::HMAC_SHA512,
    };
    hmac::Key::new(algorithm, &key.secret)
}

/// The server's side: checks each request's header against the key.
pub struct Verifier {
    name: String,
    key: hmac::Key,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Verifier {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("name", &self.name)
            .finish()
    }
}

/// The MACs taken, by time: at most [`MACS_MAX`]. Whatever leaves the set
/// (too old, or pushed out by a newer one) raises `floor`, and a request
/// at or before `floor` is refused: so a MAC forgotten can never be taken
/// again, whatever the clock does.
#[derive(Default)]
struct Seen {
    macs: BTreeSet<(u64, Vec<u8>)>,
    floor: Option<u64>,
}

impl Seen {
    /// Takes `mac` at `time` once; false when it was taken before, or
    /// may have been.
    fn take(&mut self, time: u64, mac: &[u8], now: u64) -> bool {
        let oldest = now.saturating_sub(WINDOW_S);
        while let Some(first) = self.macs.first() {
            if first.0 >= oldest && self.macs.len() < MACS_MAX {
                break;
            }
            let time = first.0;
            self.macs.pop_first();
            self.floor = Some(self.floor.map_or(time, |f| f.max(time)));
        }
        if self.floor.is_some_and(|f| time <= f) {
            return false;
        }
        self.macs.insert((time, mac.to_vec()))
    }
}

impl Verifier {
    pub fn new(key: &TsigKey) -> Verifier {
        Verifier {
            name: key.name.clone(),
            key: ring_key(key),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The key's name as configured.
    pub fn key_name(&self) -> &str {
        &self.name
    }

    /// Lets in a request whose `Authorization` header is `header` (none:
    /// absent), for `method` and `target`, at `now` (Unix seconds).
    pub fn check(
        &self,
        header: Option<&[u8]>,
        method: &str,
        target: &str,
        now: u64,
    ) -> Result<(), AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let text = std::str::from_utf8(header).map_err(|_| AuthError::Malformed("not text"))?;
        let signed = Signed::parse(text)?;
        if !signed.key.eq_ignore_ascii_case(&self.name) {
            return Err(AuthError::WrongKey(crate::peers::cut(signed.key).into()));
        }
        let off = now.abs_diff(signed.time);
        if off > WINDOW_S {
            return Err(AuthError::Skewed {
                time: signed.time,
                off,
            });
        }
        let text = signed_text(method, target, signed.time_text);
        hmac::verify(&self.key, text.as_bytes(), &signed.mac).map_err(|_| AuthError::BadMac)?;
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.take(signed.time, &signed.mac, now) {
            Ok(())
        } else {
            Err(AuthError::Replayed)
        }
    }
}

/// The header's parts.
struct Signed<'a> {
    key: &'a str,
    /// TIME's whole seconds.
    time: u64,
    /// TIME as written: what the MAC covers.
    time_text: &'a str,
    mac: Vec<u8>,
}

impl<'a> Signed<'a> {
    fn parse(text: &'a str) -> Result<Signed<'a>, AuthError> {
        let (scheme, params) = text
            .trim()
            .split_once(' ')
            .ok_or(AuthError::Malformed("no parameters"))?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(AuthError::Malformed("another scheme"));
        }
        let (mut key, mut time, mut mac) = (None, None, None);
        for param in params.split(',') {
            let (name, value) = param
                .trim()
                .split_once('=')
                .ok_or(AuthError::Malformed("a parameter without ="))?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or(AuthError::Malformed("a value not in quotes"))?;
            let slot = match name.trim() {
                "key" => &mut key,
                "time" => &mut time,
                "mac" => &mut mac,
                _ => return Err(AuthError::Malformed("an unknown parameter")),
            };
            if slot.replace(value).is_some() {
                return Err(AuthError::Malformed("a parameter given twice"));
            }
        }
        let key = key.ok_or(AuthError::Malformed("no key"))?;
        let time_text = time.ok_or(AuthError::Malformed("no time"))?;
        let time = seconds(time_text).ok_or(AuthError::Malformed("time is not Unix seconds"))?;
        let mac = domain::utils::base64::decode(mac.ok_or(AuthError::Malformed("no mac"))?)
            .map_err(|_| AuthError::Malformed("mac is not base64"))?;
        Ok(Signed {
            key,
            time,
            time_text,
            mac,
        })
    }
}

/// The whole seconds of `SECONDS[.FRACTION]` (digits only, at most nine
/// decimals).
fn seconds(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    whole.parse().ok()
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
