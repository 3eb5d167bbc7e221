//! Response rate limiting (RRL), as in Knot's `rrl` module, NSD's `rrl-*`
//! and BIND's `rate-limit`: a flood of UDP queries with a forged source
//! address makes an authoritative server an amplifier aimed at that
//! address; RRL caps the answers one client network gets per second for
//! one kind of answer, and answers a share of the excess with TC=1
//! ("slip") so a real client behind the prefix falls back to TCP, which a
//! forger cannot.
//!
//! An answer is counted in a bucket keyed by (class of answer, client
//! prefix, name): the name is the query name for data and NODATA, the zone
//! cut for a referral, the zone's apex for a name error, the closest
//! encloser for a wildcard answer, and none for errors. So a flood of
//! random names under one zone (each a name error, or each the same
//! wildcard) shares one bucket, while ordinary traffic to many names does
//! not. Only UDP is limited: a TCP (or TLS) client has proved its address,
//! and so have a valid server cookie (RFC 7873) and a valid TSIG.
//!
//! The table is a fixed array of atomic words, one per bucket: the query
//! path hashes the key (SipHash with a key chosen at start, so buckets
//! cannot be aimed at), and counts in the bucket with one compare-and-swap.
//! Two keys meeting in one bucket reset each other's count; a table large
//! enough for the number of clients limited at once makes that rare.
//! Nothing is allocated and no lock is taken.

use crate::acl::Prefix;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// The settings of `[rrl]`.
#[derive(Debug, Clone)]
pub struct RrlSettings {
    /// Answers per second per bucket; beyond it answers are limited.
    pub rate: u32,
    /// Every `slip`-th limited answer is sent truncated (TC=1), the others
    /// dropped; 0 drops them all, 1 truncates them all.
    pub slip: u32,
    /// Client prefix lengths a bucket covers.
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Buckets in the table (rounded up to a power of two).
    pub table_size: usize,
    /// Clients never limited.
    pub whitelist: Vec<Prefix>,
    /// Seconds between two log lines about limiting.
    pub log_interval: u64,
}

/// What kind of answer a response is; each has its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Data for the name asked.
    Positive,
    /// The name exists, the type does not.
    NoData,
    /// The name does not exist (counted per zone).
    NxDomain,
    /// A delegation (counted per zone cut).
    Referral,
    /// Data made from a wildcard (counted per closest encloser).
    Wildcard,
    /// A data answer over 1024 octets: the amplifier's favourite.
    Large,
    /// REFUSED, SERVFAIL, FORMERR, NOTIMP and the like.
    Error,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::Positive,
        Class::NoData,
        Class::NxDomain,
        Class::Referral,
        Class::Wildcard,
        Class::Large,
        Class::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Positive => "positive",
            Class::NoData => "nodata",
            Class::NxDomain => "nxdomain",
            Class::Referral => "referral",
            Class::Wildcard => "wildcard",
            Class::Large => "large",
            Class::Error => "error",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send,
    /// Send it cut back to the question, with TC=1.
    Slip,
    Drop,
}

/// Responses over this many octets are [`Class::Large`], as in Knot.
pub const LARGE: usize = 1024;

/// The rate limiter shared by all UDP workers.
pub struct Rrl {
    rate: u64,
    slip: u64,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    whitelist: Box<[Prefix]>,
    /// Each bucket: tag (32 bits) | second (16 bits) | count (16 bits).
    buckets: Box<[AtomicU64]>,
    hash_keys: RandomState,
    start: Instant,
    /// Limited answers so far, for choosing the ones that slip.
    limited: AtomicU64,
    /// The second of the last log line, and what was limited since.
    logged_at: AtomicU64,
    unlogged: AtomicU64,
    log_interval: u64,
}

impl std::fmt::Debug for Rrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rrl")
            .field("rate", &self.rate)
            .field("slip", &self.slip)
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

/// The most a bucket counts to in one second (its 16 bits).
const COUNT_MAX: u64 = 0xffff;

impl Rrl {
    pub fn new(settings: &RrlSettings) -> Rrl {
        let size = settings.table_size.clamp(1, 1 << 26).next_power_of_two();
        Rrl {
            rate: u64::from(settings.rate).min(COUNT_MAX - 1),
            slip: u64::from(settings.slip),
            ipv4_prefix: settings.ipv4_prefix.min(32),
            ipv6_prefix: settings.ipv6_prefix.min(128),
            whitelist: settings.whitelist.clone().into_boxed_slice(),
            buckets: (0..size).map(|_| AtomicU64::new(0)).collect(),
            hash_keys: RandomState::new(),
            start: Instant::now(),
            limited: AtomicU64::new(0),
            // Far enough back that the first limited answer is logged.
            logged_at: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            log_interval: settings.log_interval.max(1),
        }
    }

    /// Counts an answer of `class` to `client` about the last `labels`
    /// labels of `qname` (wire form, as in the question) and says what to
    /// do with it.
    pub fn judge(&self, client: IpAddr, class: Class, qname: &[u8], labels: usize) -> Action {
        self.judge_at(client, class, qname, labels, self.start.elapsed().as_secs())
    }

    /// [`judge`](Self::judge) at `now`, seconds since the limiter started.
    pub fn judge_at(
        &self,
        client: IpAddr,
        class: Class,
        qname: &[u8],
        labels: usize,
        now: u64,
    ) -> Action {
        if self.whitelist.iter().any(|p| p.contains(client)) {
            return Action::Send;
        }
        let name = if class == Class::Error {
            &[][..]
        } else {
            name_suffix(qname, labels)
        };
        let hash = self.hash(client, class, name);
        let Some(bucket) = self.buckets.get(hash as usize & (self.buckets.len() - 1)) else {
            return Action::Send;
        };
        let tag = hash >> 32;
        let second = now & 0xffff;
        let mut old = bucket.load(Relaxed);
        let count = loop {
            let same = old >> 32 == tag && (old >> 16) & 0xffff == second;
            let count = if same { (old & COUNT_MAX) + 1 } else { 1 };
            let new = tag << 32 | second << 16 | count.min(COUNT_MAX);
            match bucket.compare_exchange_weak(old, new, Relaxed, Relaxed) {
                Ok(_) => break count,
                Err(current) => old = current,
            }
        };
        if count <= self.rate {
            return Action::Send;
        }
        if count == self.rate + 1 {
            self.log_limiting(client, class, name, now);
        }
        let nth = self.limited.fetch_add(1, Relaxed) + 1;
        if self.slip != 0 && nth.is_multiple_of(self.slip) {
            Action::Slip
        } else {
            Action::Drop
        }
    }

    fn hash(&self, client: IpAddr, class: Class, name: &[u8]) -> u64 {
        let mut h = self.hash_keys.build_hasher();
        h.write_u8(class as u8);
        match client {
            IpAddr::V4(ip) => {
                h.write_u8(4);
                h.write_u32(u32::from(ip) & mask32(self.ipv4_prefix));
            }
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                // A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d.
                Some(v4) => {
                    h.write_u8(4);
                    h.write_u32(u32::from(v4) & mask32(self.ipv4_prefix));
                }
                None => {
                    h.write_u8(6);
                    h.write_u128(u128::from(ip) & mask128(self.ipv6_prefix));
                }
            },
        }
        // Case-insensitive: a forger varying the case must not get new
        // buckets.
        for &b in name {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.finish()
    }

    /// One line when a bucket starts being limited, at most one per
    /// `log_interval`, with how many buckets started since the last line.
    fn log_limiting(&self, client: IpAddr, class: Class, name: &[u8], now: u64) {
        let last = self.logged_at.load(Relaxed);
        let due = last == 0 || now >= last.saturating_sub(1) + self.log_interval;
        // `logged_at` holds now + 1 so that 0 means "never".
        if !due
            || self
                .logged_at
                .compare_exchange(last, now + 1, Relaxed, Relaxed)
                .is_err()
        {
            self.unlogged.fetch_add(1, Relaxed);
            return;
        }
        let others = self.unlogged.swap(0, Relaxed);
        let prefix = match client {
            IpAddr::V4(_) => self.ipv4_prefix,
            IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some() => self.ipv4_prefix,
            IpAddr::V6(_) => self.ipv6_prefix,
        };
        tracing::warn!(
            client = %client,
            prefix,
            class = class.name(),
            name = %crate::name::display(&name_with_root(name)),
            rate = self.rate,
            others_since_last_line = others,
            "response rate limit reached: answers beyond the rate are dropped or slipped (TC=1)"
        );
    }
}

/// The last `labels` labels of a wire name, as wire octets (with the
/// root's zero octet); the whole name when it has fewer.
fn name_suffix(name: &[u8], labels: usize) -> &[u8] {
    let mut total = 0usize;
    let mut pos = 0usize;
    while let Some(&len) = name.get(pos) {
        if len == 0 || len > 63 {
            break;
        }
        total += 1;
        pos += 1 + usize::from(len);
    }
    let mut skip = total.saturating_sub(labels);
    let mut pos = 0usize;
    while skip > 0 {
        let Some(&len) = name.get(pos) else { break };
        pos += 1 + usize::from(len);
        skip -= 1;
    }
    name.get(pos..).unwrap_or(&[])
}

/// A suffix made by [`name_suffix`] as a name to display (the error
/// class has none: the root).
fn name_with_root(name: &[u8]) -> Vec<u8> {
    if name.is_empty() {
        vec![0]
    } else {
        name.to_vec()
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: u32, slip: u32) -> RrlSettings {
        RrlSettings {
            rate,
            slip,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 1024,
            whitelist: vec!["192.0.2.128/25".parse().unwrap()],
            log_interval: 10,
        }
    }

    fn wire(text: &str) -> Vec<u8> {
        crate::config::parse_zone_name(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn actions(
        rrl: &Rrl,
        client: &str,
        class: Class,
        name: &str,
        labels: usize,
        n: usize,
        now: u64,
    ) -> Vec<Action> {
        let name = wire(name);
        (0..n)
            .map(|_| rrl.judge_at(ip(client), class, &name, labels, now))
            .collect()
    }

    #[test]
    fn answers_beyond_the_rate_are_limited_and_every_second_one_slips() {
        let rrl = Rrl::new(&settings(5, 2));
        let got = actions(
            &rrl,
            "198.51.100.7",
            Class::Positive,
            "www.example.com",
            3,
            9,
            1,
        );
        assert_eq!(&got[..5], &[Action::Send; 5]);
        assert_eq!(
            &got[5..],
            &[Action::Drop, Action::Slip, Action::Drop, Action::Slip]
        );
    }

    #[test]
    fn the_count_starts_again_each_second() {
        let rrl = Rrl::new(&settings(2, 0));
        assert_eq!(
            actions(&rrl, "198.51.100.7", Class::Positive, "a.example", 2, 3, 7),
            [Action::Send, Action::Send, Action::Drop]
        );
        assert_eq!(
            actions(&rrl, "198.51.100.7", Class::Positive, "a.example", 2, 2, 8),
            [Action::Send, Action::Send]
        );
    }

    #[test]
    fn the_bucket_covers_the_prefix_but_not_other_prefixes_names_or_classes() {
        let rrl = Rrl::new(&settings(1, 0));
        let name = "www.example.com";
        assert_eq!(
            actions(&rrl, "198.51.100.7", Class::Positive, name, 3, 1, 1),
            [Action::Send]
        );
        // Same /24: limited.
        assert_eq!(
            actions(&rrl, "198.51.100.200", Class::Positive, name, 3, 1, 1),
            [Action::Drop]
        );
        // Another /24, another name, another class: each its own bucket.
        assert_eq!(
            actions(&rrl, "198.51.101.7", Class::Positive, name, 3, 1, 1),
            [Action::Send]
        );
        assert_eq!(
            actions(
                &rrl,
                "198.51.100.7",
                Class::Positive,
                "ftp.example.com",
                3,
                1,
                1
            ),
            [Action::Send]
        );
        assert_eq!(
            actions(&rrl, "198.51.100.7", Class::NoData, name, 3, 1, 1),
            [Action::Send]
        );
        // IPv6 clients share a /56.
        assert_eq!(
            actions(&rrl, "2001:db8:0:1::1", Class::Positive, name, 3, 1, 1),
            [Action::Send]
        );
        assert_eq!(
            actions(&rrl, "2001:db8:0:ff::2", Class::Positive, name, 3, 1, 1),
            [Action::Drop]
        );
        assert_eq!(
            actions(&rrl, "2001:db8:0:100::1", Class::Positive, name, 3, 1, 1),
            [Action::Send]
        );
    }

    #[test]
    fn name_errors_under_one_zone_share_a_bucket_whatever_the_name_and_case() {
        let rrl = Rrl::new(&settings(2, 0));
        let client = "203.0.113.9";
        // Counted against the zone's two labels, example.com.
        assert_eq!(
            actions(&rrl, client, Class::NxDomain, "r1.example.com", 2, 1, 1),
            [Action::Send]
        );
        assert_eq!(
            actions(&rrl, client, Class::NxDomain, "R2.EXAMPLE.com", 2, 1, 1),
            [Action::Send]
        );
        assert_eq!(
            actions(&rrl, client, Class::NxDomain, "r3.x.Example.COM", 2, 1, 1),
            [Action::Drop]
        );
        assert_eq!(
            actions(&rrl, client, Class::NxDomain, "r1.example.net", 2, 1, 1),
            [Action::Send]
        );
    }

    #[test]
    fn whitelisted_clients_are_never_limited() {
        let rrl = Rrl::new(&settings(1, 0));
        let got = actions(&rrl, "192.0.2.200", Class::Error, "x.example", 2, 50, 1);
        assert!(got.iter().all(|a| *a == Action::Send));
        // The other half of that /24 is not on the list.
        let got = actions(&rrl, "192.0.2.1", Class::Error, "x.example", 2, 3, 1);
        assert_eq!(got, [Action::Send, Action::Drop, Action::Drop]);
    }

    #[test]
    fn ipv4_mapped_clients_count_as_their_ipv4_prefix() {
        let rrl = Rrl::new(&settings(1, 0));
        assert_eq!(
            actions(&rrl, "198.51.100.7", Class::Positive, "a.example", 2, 1, 1),
            [Action::Send]
        );
        assert_eq!(
            actions(
                &rrl,
                "::ffff:198.51.100.9",
                Class::Positive,
                "a.example",
                2,
                1,
                1
            ),
            [Action::Drop]
        );
    }

    #[test]
    fn name_suffix_keeps_the_last_labels() {
        let name = wire("a.b.example.com");
        assert_eq!(name_suffix(&name, 2), &wire("example.com")[..]);
        assert_eq!(name_suffix(&name, 4), &name[..]);
        assert_eq!(name_suffix(&name, 9), &name[..]);
        assert_eq!(name_suffix(&name, 0), &[0u8][..]);
        // Not a name: never panics.
        assert_eq!(name_suffix(&[5, b'a'], 0), &[] as &[u8]);
        assert_eq!(name_suffix(&[], 1), &[] as &[u8]);
    }
}
