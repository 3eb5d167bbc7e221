//! Access control lists: who may transfer a zone (and, later, who may
//! send NOTIFY). A rule names a source prefix, a TSIG key, or both; a
//! request is allowed when any rule matches it. No rule: no access.

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
}
