//! The load-time checks of a presigned zone: one walk over the names in
//! canonical order, classifying each (authoritative, delegation point,
//! glue, occluded by a DNAME, NSEC3 owner), then the signatures of every
//! authoritative RRset (split over threads: verifying is the costly part)
//! and the NSEC/NSEC3 chains (`denial`).

use super::denial;
use super::rdata::Rrsig;
use super::signature::{self, CanonicalRrset, Verdict, ZoneKey};
use super::{algorithm_name, type_name, Code, Finding};
use crate::name;
use crate::zone::{flags, rtype, soa_field, Node, Rrset, ZoneVersion};
use domain::crypto::common::AlgorithmError;
use std::collections::{BTreeMap, BTreeSet};

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions<'a> {
    /// The time (Unix seconds) signature validity is judged against.
    pub now: u64,
    /// Verify every signature with its key. The rest of the checks cost
    /// little; this is most of the time on a large zone.
    pub verify_signatures: bool,
    /// Findings kept per code; the rest are only counted, so that a zone
    /// whose signer failed everywhere does not fill memory and logs.
    pub max_per_code: usize,
    /// Threads verifying signatures (at least 1).
    pub threads: usize,
    /// A version checked before (the one being served): RRsets with the
    /// same data and signatures there are not verified again, so a reload
    /// of a large zone verifies what changed. Everything else (presence,
    /// validity times, chains) is checked in full.
    pub checked_before: Option<&'a ZoneVersion>,
}

impl CheckOptions<'_> {
    /// Everything checked at `now`, on every core.
    pub fn new(now: u64) -> CheckOptions<'static> {
        CheckOptions {
            now,
            verify_signatures: true,
            max_per_code: 20,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            checked_before: None,
        }
    }
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Report {
    /// Whether the zone is signed (apex DNSKEY and RRSIGs); an unsigned
    /// zone is not checked and has no findings.
    pub signed: bool,
    /// The findings kept (at most `max_per_code` of each code), in the
    /// order of the walk.
    pub findings: Vec<Finding>,
    /// How many findings of each code there were in all.
    pub counts: BTreeMap<Code, usize>,
    /// Signatures verified with their key.
    pub verified: usize,
    /// Signatures not verified again: unchanged since `checked_before`.
    pub unchanged: usize,
}

impl Report {
    /// Findings of each code found but not kept.
    pub fn omitted(&self) -> impl Iterator<Item = (Code, usize)> + '_ {
        self.counts.iter().filter_map(|(&code, &n)| {
            let kept = self.findings.iter().filter(|f| f.code == code).count();
            (n > kept).then_some((code, n - kept))
        })
    }

    /// Findings that are problems (not notes), counting the omitted ones.
    pub fn problems(&self) -> usize {
        self.counts
            .iter()
            .filter(|(c, _)| !c.is_note())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Collects findings, keeping the first `max` of each code.
pub(super) struct Sink {
    max: usize,
    findings: Vec<Finding>,
    counts: BTreeMap<Code, usize>,
}

impl Sink {
    pub(super) fn new(max: usize) -> Sink {
        Sink {
            max,
            findings: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Records a finding; the message is only built when it is kept.
    pub(super) fn add(
        &mut self,
        code: Code,
        owner: &[u8],
        rtype: Option<u16>,
        message: impl FnOnce() -> String,
    ) {
        let n = self.counts.entry(code).or_insert(0);
        *n += 1;
        if *n <= self.max {
            self.findings.push(Finding {
                code,
                owner: owner.to_vec(),
                rtype,
                message: message(),
            });
        }
    }

    fn merge(&mut self, other: Sink) {
        for f in other.findings {
            let kept = self.findings.iter().filter(|g| g.code == f.code).count();
            if kept < self.max {
                self.findings.push(f);
            }
        }
        for (code, n) in other.counts {
            *self.counts.entry(code).or_insert(0) += n;
        }
    }
}

/// Where a name stands in the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Apex,
    /// Authoritative data (or an empty non-terminal).
    Auth,
    /// A delegation point: only DS and NSEC are authoritative here.
    Cut,
    /// Below a delegation: glue, never signed, never in a chain.
    Glue,
    /// Below a DNAME: not reachable by queries; signers differ on
    /// whether to sign or chain it, so it is not checked.
    Occluded,
    /// Holds only NSEC3 (and its RRSIG): part of the NSEC3 chain, not a
    /// name the chain covers.
    Nsec3Owner,
}

/// A node with its owner name and class, in canonical order.
pub(super) struct ZoneName<'v> {
    pub node: &'v Node,
    /// Lower-case wire format.
    pub owner: Vec<u8>,
    pub class: Class,
}

impl ZoneName<'_> {
    /// The RRsets that must be signed here (RFC 4035 §2.2): all at an
    /// authoritative name; DS and NSEC at a delegation point (RFC 4035
    /// §2.2: its NS and glue are not signed); none at glue. The RRSIGs
    /// themselves are never signed.
    pub(super) fn signed_rrsets(&self) -> impl Iterator<Item = Rrset<'_>> {
        let class = self.class;
        self.node.rrsets().filter(move |r| match class {
            Class::Apex | Class::Auth | Class::Nsec3Owner => r.rtype() != rtype::RRSIG,
            Class::Cut => matches!(r.rtype(), rtype::DS | rtype::NSEC),
            Class::Glue | Class::Occluded => false,
        })
    }

    /// The types the parent is authoritative for here, as an NSEC or
    /// NSEC3 bit map must list them (RFC 4035 §2.3): every type at an
    /// authoritative name, NS and DS at a delegation point. RRSIG and the
    /// chain's own type are the caller's to add.
    pub(super) fn authoritative_types(&self) -> Vec<u16> {
        self.node
            .rrsets()
            .map(|r| r.rtype())
            .filter(|&t| match self.class {
                Class::Cut => matches!(t, rtype::NS | rtype::DS | rtype::NSEC),
                _ => t != rtype::RRSIG,
            })
            .collect()
    }
}

/// Whether a zone is signed: a DNSKEY RRset and RRSIGs at the apex. A
/// zone that only publishes keys is not checked.
pub fn is_signed(version: &ZoneVersion) -> bool {
    let apex = version.apex();
    apex.rrset(rtype::DNSKEY).is_some()
        && apex
            .rrsets()
            .any(|r| r.sigs().is_some() || r.rtype() == rtype::RRSIG)
}

/// Checks a signed zone (see the module documentation); an unsigned zone
/// gets an empty report.
pub fn check_zone(version: &ZoneVersion, opts: &CheckOptions) -> Report {
    let apex = version.apex();
    let Some(dnskeys) = apex.rrset(rtype::DNSKEY).filter(|_| is_signed(version)) else {
        return Report::default();
    };
    let mut sink = Sink::new(opts.max_per_code);
    let origin = version.origin();
    let keys = signature::zone_keys(dnskeys.rdatas());
    report_keys(origin, &keys, &mut sink);
    let expire = version
        .soa()
        .and_then(|s| s.rdatas().next())
        .and_then(|r| soa_field(r, 3))
        .unwrap_or(0);
    let ctx = SigContext {
        origin,
        algorithms: keys.iter().map(|k| k.algorithm).collect(),
        keys,
        now: opts.now,
        expire,
        verify: opts.verify_signatures,
        before: opts.checked_before,
    };
    let names = classify(version);
    let tally = check_signatures_parallel(&names, &ctx, opts, &mut sink);
    denial::check(&names, origin, &mut sink);
    Report {
        signed: true,
        findings: sink.findings,
        counts: sink.counts,
        verified: tally.verified,
        unchanged: tally.unchanged,
    }
}

/// Findings about the apex keys themselves: none usable, malformed, or
/// of an algorithm we cannot verify.
fn report_keys(origin: &[u8], keys: &[ZoneKey], sink: &mut Sink) {
    let dnskey = Some(rtype::DNSKEY);
    if keys.is_empty() {
        sink.add(Code::DnskeyUnusable, origin, dnskey, || {
            "no zone key (flags 256 or 257, protocol 3) in the DNSKEY set: nothing can verify the zone's signatures".into()
        });
    }
    for k in keys {
        match &k.key {
            Ok(_) => {}
            Err(AlgorithmError::Unsupported) => sink.add(Code::NotChecked, origin, dnskey, || {
                format!(
                    "key {} uses {}, which zonesync cannot verify: its signatures are not checked",
                    k.tag,
                    algorithm_name(k.algorithm)
                )
            }),
            Err(_) => sink.add(Code::DnskeyUnusable, origin, dnskey, || {
                format!(
                    "key {}, {}: the public key is malformed; signatures made with it cannot verify",
                    k.tag,
                    algorithm_name(k.algorithm)
                )
            }),
        }
    }
}

/// Every node with its owner and class, in canonical order (the order of
/// keys). Empty non-terminals are kept: NSEC3 covers them.
fn classify(version: &ZoneVersion) -> Vec<ZoneName<'_>> {
    let mut nodes: Vec<&Node> = version.nodes().collect();
    nodes.sort_unstable_by(|a, b| a.key().cmp(b.key()));
    let mut dname: Option<&[u8]> = None;
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        let key = node.key();
        if dname.is_some_and(|d| !(key.starts_with(d) && key.len() > d.len())) {
            dname = None;
        }
        let class = if node.has_flag(flags::APEX) {
            Class::Apex
        } else if node.has_flag(flags::BELOW_CUT) {
            Class::Glue
        } else if node.has_flag(flags::CUT) {
            Class::Cut
        } else if dname.is_some() {
            Class::Occluded
        } else if is_nsec3_owner(node) {
            Class::Nsec3Owner
        } else {
            Class::Auth
        };
        // A DNAME redirects the names below it (RFC 6672 §2.3); a DNAME
        // at the apex does too.
        if dname.is_none() && !matches!(class, Class::Glue) && node.has_flag(flags::DNAME) {
            dname = Some(key);
        }
        let mut owner = Vec::new();
        node.name_into(&mut owner);
        out.push(ZoneName { node, owner, class });
    }
    out
}

fn is_nsec3_owner(node: &Node) -> bool {
    node.rrset(rtype::NSEC3).is_some()
        && node
            .rrsets()
            .all(|r| matches!(r.rtype(), rtype::NSEC3 | rtype::RRSIG))
}

/// What the signature checks of every RRset share.
struct SigContext<'a> {
    origin: &'a [u8],
    keys: Vec<ZoneKey>,
    /// Algorithms of the apex zone keys: each must sign every RRset
    /// (RFC 4035 §2.2).
    algorithms: BTreeSet<u8>,
    now: u64,
    /// SOA EXPIRE, seconds.
    expire: u32,
    verify: bool,
    before: Option<&'a ZoneVersion>,
}

/// Signatures verified, and left alone because they did not change.
#[derive(Default, Clone, Copy)]
struct Tally {
    verified: usize,
    unchanged: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.verified += o.verified;
        self.unchanged += o.unchanged;
    }
}

/// Checks the signatures of all names, in `opts.threads` contiguous
/// slices so the findings keep canonical order.
fn check_signatures_parallel(
    names: &[ZoneName<'_>],
    ctx: &SigContext<'_>,
    opts: &CheckOptions<'_>,
    sink: &mut Sink,
) -> Tally {
    let threads = if ctx.verify { opts.threads.max(1) } else { 1 };
    let chunk = names.len().div_ceil(threads).max(1);
    let results: Vec<(Sink, Tally)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut local = Sink::new(opts.max_per_code);
                    let verified = check_signatures(part, ctx, &mut local);
                    (local, verified)
                })
            })
            .collect();
        handles
            .into_iter()
            // A panicking worker is a bug; its slice is then unchecked,
            // which the missing count does not hide: say so.
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    let mut s = Sink::new(1);
                    s.add(Code::NotChecked, ctx.origin, None, || {
                        "a signature check thread failed; part of the zone is unchecked".into()
                    });
                    (s, Tally::default())
                })
            })
            .collect()
    });
    let mut tally = Tally::default();
    for (local, t) in results {
        sink.merge(local);
        tally += t;
    }
    tally
}

/// Reusable buffers of one thread.
#[derive(Default)]
struct Scratch {
    rrset: CanonicalRrset,
    data: Vec<u8>,
}

fn check_signatures(names: &[ZoneName<'_>], ctx: &SigContext<'_>, sink: &mut Sink) -> Tally {
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    for name in names {
        let before = ctx.before.and_then(|v| v.get(name.node.key()));
        for set in name.signed_rrsets() {
            let unchanged = before.is_some_and(|b| same_rrset(b, &set));
            tally += check_rrset(name, set, unchanged, ctx, &mut scratch, sink);
        }
        if matches!(name.class, Class::Apex | Class::Auth | Class::Cut) {
            report_orphan_sigs(name, sink);
        }
    }
    tally
}

/// Whether `node` has this RRset with the same TTL, data and signatures.
fn same_rrset(node: &Node, set: &Rrset<'_>) -> bool {
    node.rrset(set.rtype()).is_some_and(|b| {
        b.ttl() == set.ttl()
            && b.data() == set.data()
            && b.sigs().map(|s| (s.ttl, s.data)) == set.sigs().map(|s| (s.ttl, s.data))
    })
}

/// RRSIGs whose RRset is not there: the record was removed after
/// signing, or the signer and the zone disagree.
fn report_orphan_sigs(name: &ZoneName<'_>, sink: &mut Sink) {
    let Some(set) = name.node.rrset(rtype::RRSIG) else {
        return;
    };
    let covered: BTreeSet<u16> = set
        .rdatas()
        .filter_map(Rrsig::parse)
        .map(|s| s.covered)
        .collect();
    for t in covered {
        sink.add(Code::RrsigInvalid, &name.owner, Some(t), || {
            format!(
                "an RRSIG covers {} but the name has no such RRset (removed after signing?)",
                type_name(t)
            )
        });
    }
}

/// Checks the RRSIGs of one RRset; `unchanged`: it was verified in the
/// version checked before.
fn check_rrset(
    name: &ZoneName<'_>,
    set: Rrset<'_>,
    unchanged: bool,
    ctx: &SigContext<'_>,
    scratch: &mut Scratch,
    sink: &mut Sink,
) -> Tally {
    let mut seen = SigsSeen::default();
    if let Some(sigs) = set.sigs() {
        check_sig_ttl(&name.owner, &set, sigs.ttl, sink);
        for rdata in sigs.rdatas() {
            check_sig(name, &set, rdata, ctx, &mut seen, sink);
        }
    }
    report_missing(&name.owner, set.rtype(), &seen, ctx, sink);
    if !ctx.verify || seen.usable.is_empty() {
        return Tally::default();
    }
    if unchanged {
        return Tally {
            verified: 0,
            unchanged: seen.usable.len(),
        };
    }
    scratch.rrset.fill(set.rtype(), set.rdatas());
    let verified = seen
        .usable
        .iter()
        .filter_map(|&r| Rrsig::parse(r))
        .map(|sig| verify_one(&name.owner, set.rtype(), &sig, ctx, scratch, sink))
        .sum();
    Tally {
        verified,
        unchanged: 0,
    }
}

/// What the RRSIGs of one RRset gave.
#[derive(Default)]
struct SigsSeen<'a> {
    /// Algorithms with an RRSIG by an apex key.
    algorithms: BTreeSet<u8>,
    /// RRSIGs by keys that are not in the apex DNSKEY set.
    others: usize,
    /// The RRSIGs by apex keys, with sound fields: the ones to verify.
    usable: Vec<&'a [u8]>,
}

/// RFC 4034 §3: an RRSIG has the TTL of the RRset it covers.
fn check_sig_ttl(owner: &[u8], set: &Rrset<'_>, sig_ttl: u32, sink: &mut Sink) {
    if sig_ttl != set.ttl() {
        sink.add(Code::RrsigInvalid, owner, Some(set.rtype()), || {
            format!(
                "the RRSIG TTL {sig_ttl} differs from the RRset's TTL {} (RFC 4034 §3)",
                set.ttl()
            )
        });
    }
}

/// One RRSIG: by an apex key? sound fields? within its validity? Those
/// by apex keys with sound fields are kept in `seen` to verify.
fn check_sig<'a>(
    name: &ZoneName<'_>,
    set: &Rrset<'_>,
    rdata: &'a [u8],
    ctx: &SigContext<'_>,
    seen: &mut SigsSeen<'a>,
    sink: &mut Sink,
) {
    let Some(sig) = Rrsig::parse(rdata) else {
        sink.add(Code::RrsigInvalid, &name.owner, Some(set.rtype()), || {
            "malformed RRSIG RDATA".into()
        });
        return;
    };
    let by_apex_key = ctx
        .keys
        .iter()
        .any(|k| k.tag == sig.key_tag && k.algorithm == sig.algorithm);
    if !by_apex_key {
        seen.others += 1;
        return;
    }
    if check_fields(name, set, &sig, ctx, sink) {
        seen.algorithms.insert(sig.algorithm);
        check_times(&name.owner, set.rtype(), &sig, ctx, sink);
        seen.usable.push(rdata);
    }
}

/// The fields a signature over zone data must have; `false` if it
/// cannot count as a signature of this RRset at all.
fn check_fields(
    name: &ZoneName<'_>,
    set: &Rrset<'_>,
    sig: &Rrsig<'_>,
    ctx: &SigContext<'_>,
    sink: &mut Sink,
) -> bool {
    let (owner, t) = (&name.owner[..], set.rtype());
    if !sig.signer.eq_ignore_ascii_case(ctx.origin) {
        sink.add(Code::RrsigInvalid, owner, Some(t), || {
            format!(
                "RRSIG by key {}: the signer name {} is not the zone apex (RFC 4035 §5.3.1)",
                sig.key_tag,
                name::display(sig.signer)
            )
        });
        return false;
    }
    // RFC 4034 §3.1.3: the labels of the owner, a leading `*` not counted.
    let labels = name::label_count(owner);
    let wildcard = owner.starts_with(b"\x01*");
    let expected = if wildcard { labels - 1 } else { labels };
    if usize::from(sig.labels) != expected {
        sink.add(Code::RrsigInvalid, owner, Some(t), || {
            format!(
                "RRSIG by key {}: labels field {} but the owner has {expected} (RFC 4034 §3.1.3)",
                sig.key_tag, sig.labels
            )
        });
    }
    if sig.original_ttl != set.ttl() {
        sink.add(Code::RrsigInvalid, owner, Some(t), || {
            format!(
                "RRSIG by key {}: original TTL {} but the RRset's TTL is {} (changed after signing?)",
                sig.key_tag,
                sig.original_ttl,
                set.ttl()
            )
        });
    }
    true
}

/// Expired, not yet valid, or expiring before the SOA EXPIRE has passed.
/// Times are 32-bit serial numbers (RFC 4034 §3.1.5): compared as
/// offsets from now.
fn check_times(owner: &[u8], t: u16, sig: &Rrsig<'_>, ctx: &SigContext<'_>, sink: &mut Sink) {
    let now32 = ctx.now as u32;
    let left = i64::from(sig.expiration.wrapping_sub(now32) as i32);
    let since = i64::from(now32.wrapping_sub(sig.inception) as i32);
    let at = |offset: i64| format_time(ctx.now as i64 + offset);
    if left < 0 {
        sink.add(Code::RrsigExpired, owner, Some(t), || {
            format!(
                "RRSIG by key {} expired at {}: validating resolvers reject this RRset",
                sig.key_tag,
                at(left)
            )
        });
    } else if since < 0 {
        sink.add(Code::RrsigNotYetValid, owner, Some(t), || {
            format!(
                "RRSIG by key {} is not valid before {}: validating resolvers reject this RRset until then",
                sig.key_tag,
                at(-since)
            )
        });
    } else if left < i64::from(ctx.expire) {
        sink.add(Code::RrsigExpiresSoon, owner, Some(t), || {
            format!(
                "RRSIG by key {} expires at {}, before the SOA EXPIRE ({} s) has passed: a secondary cut off from its primary keeps serving the zone that long and would serve expired signatures",
                sig.key_tag,
                at(left),
                ctx.expire
            )
        });
    }
}

/// Verifies one signature; returns 1 if it was verified (good or bad).
fn verify_one(
    owner: &[u8],
    t: u16,
    sig: &Rrsig<'_>,
    ctx: &SigContext<'_>,
    scratch: &mut Scratch,
    sink: &mut Sink,
) -> usize {
    signature::signed_data(&mut scratch.data, sig, owner, t, &scratch.rrset);
    match signature::verify(&ctx.keys, sig, &scratch.data) {
        Verdict::Valid => 1,
        Verdict::Bogus => {
            sink.add(Code::RrsigBogus, owner, Some(t), || {
                format!(
                    "the RRSIG by key {}, {}, does not verify: the RRset or the signature was changed after signing",
                    sig.key_tag,
                    algorithm_name(sig.algorithm)
                )
            });
            1
        }
        // Reported once per key by `report_keys`.
        Verdict::Unchecked => 0,
    }
}

/// RFC 4035 §2.2: an RRSIG for each authoritative RRset by a key of each
/// algorithm of the apex DNSKEY set.
fn report_missing(
    owner: &[u8],
    t: u16,
    seen: &SigsSeen<'_>,
    ctx: &SigContext<'_>,
    sink: &mut Sink,
) {
    if ctx.keys.is_empty() {
        return; // reported once at the apex
    }
    if seen.algorithms.is_empty() {
        sink.add(Code::RrsigMissing, owner, Some(t), || {
            let mut m =
                "no RRSIG by a key of the apex DNSKEY set covers this RRset (added after signing?)"
                    .to_string();
            if seen.others > 0 {
                m.push_str(&format!(
                    "; {} RRSIG(s) by keys not in the DNSKEY set",
                    seen.others
                ));
            }
            m
        });
        return;
    }
    for &a in ctx.algorithms.difference(&seen.algorithms) {
        sink.add(Code::RrsigMissing, owner, Some(t), || {
            format!(
                "no RRSIG of {}, although the apex DNSKEY set has a key of it (RFC 4035 §2.2)",
                algorithm_name(a)
            )
        });
    }
}

/// A time as RRSIGs write it: YYYYMMDDHHmmSS, UTC.
pub(super) fn format_time(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = crate::serial::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
