//! Access control lists: who may transfer a zone and who may send NOTIFY.
//! A rule names a source prefix, a TSIG key, or both; a transfer rule may
//! also require TLS and a client certificate (XoT, RFC 9103). A request
//! is allowed when any rule matches it. No rule: no access.

use crate::tls::SpkiPin;
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address prefix such as `127.0.0.0/8`, `::1` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// Why a text is not a [`Prefix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("{0:?} is not an address or prefix")]
    NotAnAddress(String),
    #[error("{text:?}: prefix length must be 0 to {max}")]
    BadLength { text: String, max: u8 },
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| PrefixError::NotAnAddress(s.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().ok().filter(|&l| l <= max).ok_or_else(|| {
                PrefixError::BadLength {
                    text: s.to_owned(),
                    max,
                }
            })?,
            None => max,
        };
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Prefix, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One rule: `{ from = "127.0.0.0/8", key = "xfr-key" }`, either part
/// optional but not both.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    pub from: Option<Prefix>,
    pub key: Option<String>,
}

/// One `allow_transfer` rule: an [`AclRule`]'s `from` and `key`, and
/// what the transport must prove (RFC 9103). Each part given must hold;
/// `cert` implies `client_cert`, which implies `tls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRule {
    pub from: Option<Prefix>,
    pub key: Option<String>,
    /// The request must come over the TLS listener (XoT).
    #[serde(default)]
    pub tls: bool,
    /// Over TLS with a client certificate that chains to
    /// `server.tls_client_ca` (mutual TLS, RFC 9103 §9.3.3).
    #[serde(default)]
    pub client_cert: bool,
    /// That certificate's key, by the SHA-256 of its SPKI.
    pub cert: Option<SpkiPin>,
}

impl TransferRule {
    pub fn needs_tls(&self) -> bool {
        self.tls || self.needs_client_cert()
    }

    pub fn needs_client_cert(&self) -> bool {
        self.client_cert || self.cert.is_some()
    }

    /// Whether the rule names who may transfer: an address, a key or a
    /// certificate (`tls` alone says how, not who).
    pub fn names_someone(&self) -> bool {
        self.from.is_some() || self.key.is_some() || self.needs_client_cert()
    }

    /// The first condition `req` fails, checked in the order of
    /// [`Denial`]; `None`: the rule allows it.
    fn denial(&self, req: &Requester<'_>) -> Option<Denial> {
        if self.from.is_some_and(|p| !p.contains(req.ip)) {
            return Some(Denial::Address);
        }
        if let Some(k) = &self.key {
            if !req.key.is_some_and(|used| used.eq_ignore_ascii_case(k)) {
                return Some(Denial::Key);
            }
        }
        let client = match req.transport {
            Transport::Tls { client } => client,
            Transport::Plain if self.needs_tls() => return Some(Denial::NotTls),
            Transport::Plain => return None,
        };
        match (self.needs_client_cert(), client, self.cert) {
            (true, None, _) => Some(Denial::NoClientCert),
            (_, Some(found), Some(pin)) if found != pin => Some(Denial::OtherCert),
            _ => None,
        }
    }
}

/// How a request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP or TCP.
    Plain,
    /// The TLS listener; `client`: the key of the certificate the client
    /// presented (verified against `server.tls_client_ca`), if any.
    Tls { client: Option<SpkiPin> },
}

impl Transport {
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Plain => "plain",
            Transport::Tls { .. } => "TLS",
        }
    }
}

/// Who asks for a transfer, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub ip: IpAddr,
    /// The TSIG key that signed the request (verified).
    pub key: Option<&'a str>,
    pub transport: Transport,
}

/// Why a transfer was refused: the condition of the rule that came
/// closest to allowing it (the later in this order, the closer). In JSON
/// (peer reports): `no-rule`, `address`, `key`, `not-tls`,
/// `no-client-cert`, `other-cert`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    thiserror::Error,
    serde::Serialize,
    Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Denial {
    #[error("no allow_transfer rule")]
    NoRule,
    #[error("the address is in no rule")]
    Address,
    #[error("not signed with a rule's TSIG key")]
    Key,
    #[error("not over TLS (the rule says tls = true)")]
    NotTls,
    #[error("no client certificate (the rule needs one signed by server.tls_client_ca)")]
    NoClientCert,
    #[error("the client certificate's key is not the one pinned by the rule's cert")]
    OtherCert,
}

/// The `allow_transfer` rules of a zone; empty denies everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferAcl {
    rules: Vec<TransferRule>,
}

impl TransferAcl {
    pub fn new(rules: Vec<TransferRule>) -> TransferAcl {
        TransferAcl { rules }
    }

    pub fn rules(&self) -> &[TransferRule] {
        &self.rules
    }

    /// Allowed when any rule allows it; else why the closest rule did not.
    pub fn check(&self, req: &Requester<'_>) -> Result<(), Denial> {
        let mut closest = Denial::NoRule;
        for rule in &self.rules {
            match rule.denial(req) {
                None => return Ok(()),
                Some(d) => closest = closest.max(d),
            }
        }
        Err(closest)
    }
}

/// A list of rules; empty denies everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    rules: Vec<AclRule>,
}

impl Acl {
    pub fn new(rules: Vec<AclRule>) -> Acl {
        Acl { rules }
    }

    pub fn rules(&self) -> &[AclRule] {
        &self.rules
    }

    /// Whether a request from `peer`, signed with `key` (verified) or not,
    /// is allowed. A rule with a key matches only requests signed with
    /// that key; a rule without one matches signed and unsigned requests.
    pub fn allows(&self, peer: IpAddr, key: Option<&str>) -> bool {
        self.rules.iter().any(|r| {
            r.from.is_none_or(|p| p.contains(peer))
                && r.key
                    .as_deref()
                    .is_none_or(|k| key.is_some_and(|used| used.eq_ignore_ascii_case(k)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(from: Option<&str>, key: Option<&str>) -> AclRule {
        AclRule {
            from: from.map(|f| f.parse().unwrap()),
            key: key.map(str::to_owned),
        }
    }

    #[test]
    fn prefixes_match_by_length() {
        let p: Prefix = "127.0.0.0/8".parse().unwrap();
        assert!(p.contains("127.1.2.3".parse().unwrap()));
        assert!(!p.contains("128.0.0.1".parse().unwrap()));
        assert!(p.contains("::ffff:127.0.0.9".parse().unwrap()));
        let host: Prefix = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(!host.contains("::2".parse().unwrap()));
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("nonsense".parse::<Prefix>().is_err());
    }

    #[test]
    fn empty_acl_denies_and_rules_combine_address_and_key() {
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(!Acl::default().allows(ip, None));
        let acl = Acl::new(vec![
            rule(Some("127.0.0.1/32"), None),
            rule(Some("127.0.0.0/8"), Some("k")),
        ]);
        assert!(acl.allows("127.0.0.1".parse().unwrap(), None));
        assert!(!acl.allows(ip, None), "key rule needs the key");
        assert!(acl.allows(ip, Some("K")), "key names are case-insensitive");
        assert!(!acl.allows(ip, Some("other")));
        let key_only = Acl::new(vec![rule(None, Some("k"))]);
        assert!(key_only.allows("192.0.2.1".parse().unwrap(), Some("k")));
    }

    fn requester(transport: Transport, key: Option<&str>) -> Requester<'_> {
        Requester {
            ip: "127.0.0.1".parse().unwrap(),
            key,
            transport,
        }
    }

    #[test]
    fn transfer_rules_require_tls_and_certificates() {
        let pin: SpkiPin = "pRY1Rl+JAfnVFyfvE0vl2ceGbhT4tmwqKhEJLwBb5lE="
            .parse()
            .unwrap();
        let other: SpkiPin = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            .parse()
            .unwrap();
        let local = Some("127.0.0.0/8".parse().unwrap());
        let plain = Transport::Plain;
        let anonymous = Transport::Tls { client: None };
        let pinned = Transport::Tls { client: Some(pin) };
        let stranger = Transport::Tls {
            client: Some(other),
        };
        let tls = TransferAcl::new(vec![TransferRule {
            from: local,
            tls: true,
            ..TransferRule::default()
        }]);
        assert_eq!(tls.check(&requester(plain, None)), Err(Denial::NotTls));
        assert_eq!(tls.check(&requester(anonymous, None)), Ok(()));
        let mutual = TransferAcl::new(vec![TransferRule {
            client_cert: true,
            ..TransferRule::default()
        }]);
        assert_eq!(mutual.check(&requester(plain, None)), Err(Denial::NotTls));
        assert_eq!(
            mutual.check(&requester(anonymous, None)),
            Err(Denial::NoClientCert)
        );
        assert_eq!(mutual.check(&requester(stranger, None)), Ok(()));
        let exact = TransferAcl::new(vec![TransferRule {
            cert: Some(pin),
            key: Some("k".into()),
            ..TransferRule::default()
        }]);
        assert_eq!(exact.check(&requester(pinned, None)), Err(Denial::Key));
        assert_eq!(exact.check(&requester(pinned, Some("k"))), Ok(()));
        assert_eq!(
            exact.check(&requester(stranger, Some("k"))),
            Err(Denial::OtherCert)
        );
        assert_eq!(
            TransferAcl::default().check(&requester(pinned, None)),
            Err(Denial::NoRule)
        );
    }

    #[test]
    fn the_reason_given_is_that_of_the_closest_rule() {
        let acl = TransferAcl::new(vec![
            TransferRule {
                from: Some("192.0.2.0/24".parse().unwrap()),
                ..TransferRule::default()
            },
            TransferRule {
                from: Some("127.0.0.0/8".parse().unwrap()),
                tls: true,
                ..TransferRule::default()
            },
        ]);
        assert_eq!(
            acl.check(&requester(Transport::Plain, None)),
            Err(Denial::NotTls)
        );
        assert!(!TransferRule {
            tls: true,
            ..TransferRule::default()
        }
        .names_someone());
    }
}
