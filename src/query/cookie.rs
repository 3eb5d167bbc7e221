//! DNS COOKIE (RFC 7873) with the interoperable server cookies of RFC
//! 9018: what a request's COOKIE option says, and the one an answer
//! carries.
//!
//! A server cookie is 16 octets: version 1, three reserved octets, a
//! 32-bit timestamp (seconds, serial arithmetic), and the first 8 octets
//! of SipHash-2-4 over client cookie | version | reserved | timestamp |
//! client address, keyed by a 128-bit secret (RFC 9018 §4.2, §4.4). Every
//! server of an anycast set given the same secret accepts the others'
//! cookies. Checking and making a cookie is a hash over at most 32 octets
//! on the stack: nothing is allocated or locked on the query path.
//!
//! zonesync does not require cookies: a query without a valid server
//! cookie is answered normally with a fresh one (RFC 7873 §5.2.3 choice 3,
//! §5.2.4), so BADCOOKIE is never sent. The verdict is counted, for
//! `/metrics` and, later, rate limiting that spares clients with a valid
//! cookie.

use std::net::IpAddr;
use std::path::Path;

/// Octets of the secret: SipHash's 128-bit key (RFC 9018 §4.4).
pub const SECRET_LEN: usize = 16;
/// Octets of a client cookie (RFC 7873 §4.1).
const CLIENT_LEN: usize = 8;
/// Octets of an RFC 9018 server cookie.
const SERVER_LEN: usize = 16;
/// The server cookie version of RFC 9018 §4.2.
const VERSION: u8 = 1;
/// RFC 9018 §4.3: a cookie older than an hour is no longer valid, and
/// one more than five minutes in the future neither (clocks of an anycast
/// set differ a little).
const LIFETIME: i64 = 3600;
const FUTURE_SKEW: i64 = 300;
/// RFC 9018 §4.3: a cookie older than half an hour is replaced by a fresh
/// one; a younger one is returned as it came (RFC 7873 §5.2.5 (a)).
const RENEW_AFTER: i64 = 1800;

/// The COOKIE option data of an answer: the client cookie and our
/// server cookie.
pub type Reply = [u8; CLIENT_LEN + SERVER_LEN];

/// What the COOKIE option of a request showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No COOKIE option.
    None,
    /// A client cookie alone (RFC 7873 §5.2.3): a first query, or a
    /// client that has not kept our cookie.
    ClientOnly,
    /// Our server cookie, for this client address and client cookie,
    /// within its lifetime (RFC 7873 §5.2.5).
    Valid,
    /// A server cookie we did not make, for another address or client
    /// cookie, too old, too new, or of another format (RFC 7873 §5.2.4).
    Invalid,
    /// A length RFC 7873 §5.2.2 forbids: FORMERR.
    Malformed,
}

impl Verdict {
    /// The verdicts counted per request (`Malformed` is counted as a
    /// malformed request instead).
    pub const COUNTED: [Verdict; 4] = [
        Verdict::None,
        Verdict::ClientOnly,
        Verdict::Valid,
        Verdict::Invalid,
    ];

    /// The label value in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::None => "none",
            Verdict::ClientOnly => "client-only",
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Malformed => "malformed",
        }
    }
}

/// A request's cookie judged: the verdict and, unless it is malformed or
/// absent, the option for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    pub verdict: Verdict,
    pub reply: Option<Reply>,
}

/// The server secret (SipHash key). Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why no secret could be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("not 32 hex digits (a 128-bit secret)")]
    BadHex,
    #[error("no random numbers from the system")]
    Random,
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not 32 hex digits (a 128-bit secret); remove it to have a new one made")]
    BadFile { path: std::path::PathBuf },
}

impl Secret {
    pub fn new(key: [u8; SECRET_LEN]) -> Secret {
        Secret(key)
    }

    /// From 32 hex digits (as in `server.cookie_secret`, or BIND's
    /// `cookie-secret` for SipHash).
    pub fn from_hex(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim().as_bytes();
        if text.len() != 2 * SECRET_LEN {
            return Err(SecretError::BadHex);
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or(SecretError::BadHex);
        let mut key = [0u8; SECRET_LEN];
        for (k, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
            if let [hi, lo] = pair {
                *k = (digit(*hi)? << 4 | digit(*lo)?) as u8;
            }
        }
        Ok(Secret(key))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A new random secret (the system's CSPRNG).
    pub fn generate() -> Result<Secret, SecretError> {
        use ring::rand::SecureRandom;
        let mut key = [0u8; SECRET_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SecretError::Random)?;
        Ok(Secret(key))
    }

    /// The secret kept in `path`, or a new one written there (atomically,
    /// readable by the owner only) when there is none: cookies handed out
    /// before a restart stay valid after it.
    pub fn load_or_create(path: &Path) -> Result<Secret, SecretError> {
        let io = |source| SecretError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Secret::from_hex(&text).map_err(|_| SecretError::BadFile {
                path: path.to_owned(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = Secret::generate()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let text = format!("{}\n", secret.to_hex());
                crate::durable::write_atomic_private(path, text.as_bytes()).map_err(io)?;
                Ok(secret)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Judges the data of a request's COOKIE option from `client` at
    /// `now` (seconds since 1970, mod 2^32), and makes the answer's.
    pub fn judge(&self, option: &[u8], client: IpAddr, now: u32) -> Judged {
        let (Some(client_cookie), server) = (
            option
                .get(..CLIENT_LEN)
                .and_then(|c| <[u8; CLIENT_LEN]>::try_from(c).ok()),
            option.get(CLIENT_LEN..).unwrap_or_default(),
        ) else {
            return MALFORMED;
        };
        // RFC 7873 §5.2.2: a client cookie alone, or with a server
        // cookie of 8 to 32 octets; anything else is malformed.
        let verdict = match server.len() {
            0 => Verdict::ClientOnly,
            8..=32 => self.check(&client_cookie, server, client, now),
            _ => return MALFORMED,
        };
        let reply = match verdict {
            Verdict::Valid if age(server, now).is_some_and(|a| (0..RENEW_AFTER).contains(&a)) => {
                let mut reply = [0u8; CLIENT_LEN + SERVER_LEN];
                reply[..CLIENT_LEN].copy_from_slice(&client_cookie);
                if let Some(s) = server.get(..SERVER_LEN) {
                    reply[CLIENT_LEN..].copy_from_slice(s);
                }
                reply
            }
            _ => self.fresh(&client_cookie, client, now),
        };
        Judged {
            verdict,
            reply: Some(reply),
        }
    }

    /// Whether `server` is a cookie we made for this client cookie and
    /// address, within its lifetime.
    fn check(&self, client_cookie: &[u8; 8], server: &[u8], client: IpAddr, now: u32) -> Verdict {
        let (Ok(server), Some(age)) = (<&[u8; SERVER_LEN]>::try_from(server), age(server, now))
        else {
            return Verdict::Invalid;
        };
        // Version, reserved octets and timestamp, hashed as they came.
        let mut head = [0u8; 8];
        head.copy_from_slice(&server[..8]);
        if head[0] != VERSION || !(-FUTURE_SKEW..=LIFETIME).contains(&age) {
            return Verdict::Invalid;
        }
        let hash = self.hash(client_cookie, &head, client);
        // Compared without an early exit, as MACs are.
        let diff = hash
            .iter()
            .zip(&server[8..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }

    /// A new server cookie stamped `now`, after the client cookie.
    fn fresh(&self, client_cookie: &[u8; 8], client: IpAddr, now: u32) -> Reply {
        let t = now.to_be_bytes();
        let head = [VERSION, 0, 0, 0, t[0], t[1], t[2], t[3]];
        let hash = self.hash(client_cookie, &head, client);
        let mut reply = [0u8; CLIENT_LEN + SERVER_LEN];
        reply[..8].copy_from_slice(client_cookie);
        reply[8..16].copy_from_slice(&head);
        reply[16..].copy_from_slice(&hash);
        reply
    }

    /// RFC 9018 §4.4: SipHash-2-4(client cookie | version | reserved |
    /// timestamp | client IP, secret), the IP as 4 or 16 octets.
    fn hash(&self, client_cookie: &[u8; 8], head: &[u8; 8], client: IpAddr) -> [u8; 8] {
        let mut input = [0u8; 32];
        input[..8].copy_from_slice(client_cookie);
        input[8..16].copy_from_slice(head);
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d;
        // it is the IPv4 address either way.
        let len = match client.to_canonical() {
            IpAddr::V4(a) => {
                input[16..20].copy_from_slice(&a.octets());
                20
            }
            IpAddr::V6(a) => {
                input[16..32].copy_from_slice(&a.octets());
                32
            }
        };
        let (k0, k1) = self.key();
        siphash24(k0, k1, input.get(..len).unwrap_or(&input)).to_le_bytes()
    }

    /// The key as SipHash reads it: two little-endian words.
    fn key(&self) -> (u64, u64) {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&self.0[..8]);
        k1.copy_from_slice(&self.0[8..]);
        (u64::from_le_bytes(k0), u64::from_le_bytes(k1))
    }
}

const MALFORMED: Judged = Judged {
    verdict: Verdict::Malformed,
    reply: None,
};

/// Seconds since the timestamp of an RFC 9018 server cookie (negative:
/// in the future), by serial arithmetic (RFC 1982), so that the 2106
/// wrap of 32-bit time changes nothing.
fn age(server: &[u8], now: u32) -> Option<i64> {
    let t = server.get(4..8)?;
    let stamp = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
    Some(i64::from(now.wrapping_sub(stamp) as i32))
}

/// SipHash-2-4 (Aumasson and Bernstein, 2012) of `data` under the key
/// (k0, k1): two compression rounds per 8-octet word, four at the end.
/// Written here because it is 30 lines, and `std`'s hasher is SipHash-1-3
/// without a promise to stay so.
fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let compress = |m: u64, v: &mut [u64; 4]| {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    };
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut m = [0u8; 8];
        m.copy_from_slice(word);
        compress(u64::from_le_bytes(m), &mut v);
    }
    // The last word: the remaining octets, and the length mod 256 in the
    // top octet.
    let mut last = [0u8; 8];
    let rest = words.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    compress(u64::from_le_bytes(last), &mut v);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn secret(text: &str) -> Secret {
        Secret::from_hex(text).unwrap()
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // The SipHash paper's appendix and its reference implementation:
        // key 00..0f, messages 00..0e and the empty one.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
    }

    /// RFC 9018 Appendix A: (secret, client address, request cookie,
    /// time, the answer's cookie).
    const APPENDIX_A: [(&str, &str, &str, u32, &str); 4] = [
        // A.1: learning a new server cookie.
        (
            "e5e973e5a6b2a43f48e7dc849e37bfcf",
            "198.51.100.100",
            "2464c4abcf10c957",
            1559731985,
            "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
        ),
        // A.2: the same client, 40 minutes later: renewed.
        (
            "e5e973e5a6b2a43f48e7dc849e37bfcf",
            "198.51.100.100",
            "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
            1559734385,
            "2464c4abcf10c957010000005cf7a871d4a564a1442aca77",
        ),
        // A.3: another client, whose cookie has reserved octets set (they
        // are hashed as they came), renewed when it is too old.
        (
            "e5e973e5a6b2a43f48e7dc849e37bfcf",
            "203.0.113.203",
            "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
            1559734700,
            "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e",
        ),
        // A.4: an IPv6 client after the secret was rolled over.
        (
            "445536bcd2513298075a5d379663c962",
            "2001:db8:220:1:59de:d0f4:8769:82b8",
            "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
            1559741961,
            "22681ab97d52c298010000005cf7c609a6bb79d16625507a",
        ),
    ];

    #[test]
    fn the_answers_are_those_of_rfc_9018_appendix_a() {
        for (key, addr, request, now, answer) in APPENDIX_A {
            let j = secret(key).judge(&hex(request), ip(addr), now);
            assert_eq!(
                j.reply.map(|r| r.to_vec()),
                Some(hex(answer)),
                "{addr} {request} at {now}"
            );
        }
    }

    #[test]
    fn appendix_a_cookies_are_judged() {
        let a = |i: usize| APPENDIX_A[i];
        let (key, addr, request, now, _) = a(0);
        assert_eq!(
            secret(key).judge(&hex(request), ip(addr), now).verdict,
            Verdict::ClientOnly
        );
        // A.2: 40 minutes old, valid (and renewed, above).
        let (key, addr, request, now, _) = a(1);
        assert_eq!(
            secret(key).judge(&hex(request), ip(addr), now).verdict,
            Verdict::Valid
        );
        // A.3's request was made 1 h 30 min before its answer: valid when
        // it was made (reserved octets hashed as they are), too old then.
        let (key, addr, request, now, _) = a(2);
        let made = 0x5cf7_8f71;
        assert_eq!(
            secret(key)
                .judge(&hex(request), ip(addr), made + 60)
                .verdict,
            Verdict::Valid
        );
        assert_eq!(
            secret(key).judge(&hex(request), ip(addr), now).verdict,
            Verdict::Invalid
        );
        // A.4: the old secret made it; the new one does not accept it.
        let (key, addr, request, now, _) = a(3);
        let old = secret("dd3bdf9344b678b185a6f5cb60fca715");
        assert_eq!(
            old.judge(&hex(request), ip(addr), now).verdict,
            Verdict::Valid
        );
        assert_eq!(
            secret(key).judge(&hex(request), ip(addr), now).verdict,
            Verdict::Invalid
        );
    }

    #[test]
    fn a_cookie_is_bound_to_the_client_cookie_and_address() {
        let s = Secret::generate().unwrap();
        let me = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let now = 1_700_000_000;
        let first = s.judge(&[7; 8], me, now).reply.unwrap();
        assert_eq!(s.judge(&first, me, now + 10).verdict, Verdict::Valid);
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(s.judge(&first, other, now + 10).verdict, Verdict::Invalid);
        let mut changed = first;
        changed[0] ^= 1;
        assert_eq!(s.judge(&changed, me, now + 10).verdict, Verdict::Invalid);
        // The same address reached over a dual-stack socket.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(s.judge(&first, mapped, now + 10).verdict, Verdict::Valid);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(s.judge(&first, v6, now + 10).verdict, Verdict::Invalid);
    }

    #[test]
    fn lifetime_and_renewal_follow_rfc_9018() {
        let s = Secret::generate().unwrap();
        let me = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let made = 1_700_000_000u32;
        let cookie = s.judge(&[1; 8], me, made).reply.unwrap();
        let at = |t: u32| s.judge(&cookie, me, t);
        // Younger than half an hour: valid and returned as it came.
        assert_eq!(at(made + 1799).verdict, Verdict::Valid);
        assert_eq!(at(made + 1799).reply, Some(cookie));
        // Older: valid up to an hour, with a fresh one in the answer.
        let renewed = at(made + 1800);
        assert_eq!(renewed.verdict, Verdict::Valid);
        assert_ne!(renewed.reply, Some(cookie));
        assert_eq!(
            s.judge(&renewed.reply.unwrap(), me, made + 1800).verdict,
            Verdict::Valid
        );
        assert_eq!(at(made + 3600).verdict, Verdict::Valid);
        assert_eq!(at(made + 3601).verdict, Verdict::Invalid);
        // From the future: five minutes of clock skew, no more.
        assert_eq!(at(made - 300).verdict, Verdict::Valid);
        assert_eq!(at(made - 301).verdict, Verdict::Invalid);
        // Serial arithmetic across the wrap of 32-bit time.
        let late = s.judge(&[1; 8], me, u32::MAX - 100).reply.unwrap();
        assert_eq!(s.judge(&late, me, 1000).verdict, Verdict::Valid);
    }

    #[test]
    fn lengths_follow_rfc_7873_section_5_2_2() {
        let s = Secret::generate().unwrap();
        let me = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for len in [0, 1, 7, 9, 15, 41, 64] {
            let j = s.judge(&vec![0; len], me, 0);
            assert_eq!(j, MALFORMED, "{len} octets");
        }
        assert_eq!(s.judge(&[0; 8], me, 0).verdict, Verdict::ClientOnly);
        // Server cookies of 8 to 32 octets are well formed; ours are 16,
        // version 1, so the others are invalid (and get a fresh one).
        for len in [16, 23, 25, 40] {
            let j = s.judge(&vec![0; len], me, 0);
            assert_eq!(j.verdict, Verdict::Invalid, "{len} octets");
            assert!(j.reply.is_some());
        }
        let mut version2 = s.judge(&[0; 8], me, 0).reply.unwrap();
        version2[8] = 2;
        assert_eq!(s.judge(&version2, me, 0).verdict, Verdict::Invalid);
    }

    #[test]
    fn secrets_read_hex_and_keep_it_out_of_debug() {
        let s = secret("E5E973E5A6B2A43F48E7DC849E37BFCF");
        assert_eq!(s.to_hex(), "e5e973e5a6b2a43f48e7dc849e37bfcf");
        assert_eq!(format!("{s:?}"), "Secret(..)");
        for bad in [
            "",
            "e5e9",
            "e5e973e5a6b2a43f48e7dc849e37bfcg",
            "e5e973e5a6b2a43f48e7dc849e37bfcf00",
        ] {
            assert!(Secret::from_hex(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_secret_file_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("zonesync-cookie-{}", std::process::id()));
        let path = dir.join("sub").join("cookie_secret");
        let first = Secret::load_or_create(&path).unwrap();
        let again = Secret::load_or_create(&path).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
        }
        std::fs::write(&path, "not hex\n").unwrap();
        let err = Secret::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("cookie_secret"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
