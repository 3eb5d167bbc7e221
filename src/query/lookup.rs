//! The lookup of RFC 1034 §4.3.2 over one zone version, writing the
//! answer as it goes.

use crate::name::{self, KeyBuf, MAX_NAME_LEN};
use crate::wire::{flag, rcode, Mark, MessageWriter, Owner, Section, WriteError};
use crate::zone::denial::{hashed_owner_key, Mode, Nsec3Param};
use crate::zone::{flags, rtype, Node, Rrset, ZoneVersion};

/// Longest CNAME/DNAME chain followed inside a zone before giving up, as
/// a guard against loops (the records so far are returned).
const MAX_CHAIN: usize = 16;
/// Names whose addresses go into the additional section, at most.
const MAX_ADDITIONAL: usize = 32;
/// NSEC/NSEC3 records of the denial proofs of one answer, at most (three
/// for an NSEC3 name error; a chain through wildcards adds one per step).
const MAX_PROOFS: usize = 8;

/// Where the search for a name ended.
enum Found<'v> {
    /// The name exists (perhaps as an empty non-terminal).
    Exact(&'v Node),
    /// The name does not exist; a wildcard at its closest encloser (with
    /// this many labels) does.
    Wildcard(&'v Node, usize),
    /// The name is at or below a delegation with this many labels.
    Referral(&'v Node, usize),
    /// The name is below a DNAME with this many labels.
    Dname(&'v Node, usize),
    /// The name does not exist and no wildcard matches; its closest
    /// encloser has this many labels.
    NxDomain(usize),
}

/// An NSEC3 owner name that holds nothing else: it does not exist as a
/// name (RFC 5155 §7.2.8).
fn is_hashed_owner_only(node: &Node) -> bool {
    node.rrset(rtype::NSEC3).is_some()
        && node
            .rrsets()
            .all(|r| matches!(r.rtype(), rtype::NSEC3 | rtype::RRSIG))
}

/// Searches for the name whose key is `key` (RFC 1034 §4.3.2 step 3).
fn find<'v>(zone: &'v ZoneVersion, key: &KeyBuf, qtype: u16) -> Found<'v> {
    let apex_depth = zone.origin_labels();
    let depth = key.labels();
    let mut closest = zone.apex();
    let mut closest_depth = apex_depth;
    let hashed_owners = zone.denial().has_nsec3();
    for d in apex_depth..=depth {
        let node = if d == apex_depth {
            zone.apex()
        } else {
            match zone.get(key.prefix(d)) {
                Some(node) if hashed_owners && is_hashed_owner_only(node) => break,
                Some(node) => node,
                None => break,
            }
        };
        closest = node;
        closest_depth = d;
        if d < depth {
            if node.has_flag(flags::CUT) {
                return Found::Referral(node, d);
            }
            if node.has_flag(flags::DNAME) {
                return Found::Dname(node, d);
            }
        } else if node.has_flag(flags::CUT) && qtype != rtype::DS {
            // RFC 4035 §3.1.4.1: DS is the parent's, answered here.
            return Found::Referral(node, d);
        }
    }
    if closest_depth == depth {
        return Found::Exact(closest);
    }
    // RFC 4592 §3.3.1: only the wildcard child of the closest encloser.
    let encloser = key.prefix(closest_depth);
    let mut wild = [0u8; name::MAX_KEY_LEN + 2];
    let Some(slot) = wild.get_mut(..encloser.len()) else {
        return Found::NxDomain(closest_depth);
    };
    slot.copy_from_slice(encloser);
    wild[encloser.len()] = b'*';
    wild[encloser.len() + 1] = 0;
    match zone.get(&wild[..encloser.len() + 2]) {
        Some(node) => Found::Wildcard(node, closest_depth),
        None => Found::NxDomain(closest_depth),
    }
}

/// The name being looked up: wire form as asked, and its key.
#[derive(Clone, Copy)]
struct Asked<'a> {
    name: &'a [u8],
    key: &'a KeyBuf,
}

/// What a node gave.
#[derive(Clone, Copy)]
enum Answered<'v> {
    /// Records; with a CNAME target to follow.
    Data(Option<&'v [u8]>),
    NoData,
}

#[derive(Clone, Copy)]
enum Nsec3Is {
    Matching,
    Covering,
}

/// The key of `*.ENCLOSER` from the encloser's key; its length.
fn wildcard_key(encloser: &[u8], out: &mut [u8; name::MAX_KEY_LEN + 2]) -> Option<usize> {
    let end = encloser.len() + 2;
    out.get_mut(..encloser.len())?.copy_from_slice(encloser);
    out.get_mut(encloser.len()..end)?.copy_from_slice(b"*\0");
    Some(end)
}

/// The wire name `*.ENCLOSER`; its length.
fn wildcard_name(encloser: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    let end = encloser.len() + 2;
    out.get_mut(..2)?.copy_from_slice(&[1, b'*']);
    out.get_mut(2..end)?.copy_from_slice(encloser);
    Some(end)
}

/// The names a CNAME/DNAME chain has passed through, as 64-bit hashes of
/// their lower-cased form: small enough to live on the stack of every
/// query. A collision could only end a chain early, never loop.
#[derive(Default)]
struct SeenNames {
    hashes: [u64; MAX_CHAIN],
    count: usize,
}

impl SeenNames {
    /// Adds `name`; false if it was there already (case-insensitive).
    fn insert(&mut self, name: &[u8]) -> bool {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for &b in name {
            h ^= b.to_ascii_lowercase() as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        if self.hashes[..self.count].contains(&h) || self.count == MAX_CHAIN {
            return false;
        }
        self.hashes[self.count] = h;
        self.count += 1;
        true
    }
}

/// State of one answer being written.
struct Answer<'v, 'w, 'b> {
    zone: &'v ZoneVersion,
    w: &'w mut MessageWriter<'b>,
    dnssec_ok: bool,
    /// Names whose A/AAAA belong in the additional section.
    additional: [&'v [u8]; MAX_ADDITIONAL],
    nadditional: usize,
    /// Whether the additional names are glue of a referral (then they
    /// must fit, RFC 9471) rather than optional data.
    glue: bool,
    /// Just after the question: where a truncated response is cut.
    start: Mark,
    /// How the zone denies existence, when the client wants DNSSEC.
    mode: Mode<'v>,
    /// NSEC or NSEC3 nodes to put in the authority section at the end:
    /// a CNAME chain may still add to the answer section after a proof is
    /// known.
    proofs: [Option<&'v Node>; MAX_PROOFS],
    nproofs: usize,
    /// What the answer is about, found by the first step of the chain.
    subject: Subject,
}

/// What response rate limiting (`query::rrl`) counts an answer against:
/// the ancestor of the query name with `labels` labels (the name itself,
/// the zone cut of a referral, the zone's apex for a name error, the
/// closest encloser of a wildcard that answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub labels: usize,
    pub wildcard: bool,
}

/// Resolves `qname`/`qtype` in `zone` and writes the answer into `w`,
/// whose header and question are already written. Returns what the answer
/// is about, for rate limiting.
pub fn resolve(
    zone: &ZoneVersion,
    qname: &[u8],
    qkey: &KeyBuf,
    qtype: u16,
    dnssec_ok: bool,
    w: &mut MessageWriter<'_>,
) -> Subject {
    let start = w.mark();
    let mut a = Answer {
        zone,
        w,
        dnssec_ok,
        additional: [&[]; MAX_ADDITIONAL],
        nadditional: 0,
        glue: false,
        start,
        mode: if dnssec_ok {
            zone.denial().mode()
        } else {
            Mode::None
        },
        proofs: [None; MAX_PROOFS],
        nproofs: 0,
        subject: Subject {
            labels: qkey.labels(),
            wildcard: false,
        },
    };
    a.w.set_flags(a.w.flags() | flag::AA);
    if a.run(qname, qkey, qtype).is_err() || a.write_proofs().is_err() {
        a.truncate();
        return a.subject;
    }
    if a.write_additional().is_err() && a.glue {
        a.truncate();
    }
    a.subject
}

impl<'v> Answer<'v, '_, '_> {
    /// The response does not fit: TC=1 and empty sections, so the client
    /// retries over TCP (RFC 1035 §4.2.1, RFC 2181 §9).
    fn truncate(&mut self) {
        self.w.rollback(self.start);
        let flags = self.w.flags() | flag::TC;
        self.w.set_flags(flags);
    }

    /// Follows the name through CNAME and DNAME records; `qkey` is the
    /// key of `qname`, already built to find the zone.
    fn run(&mut self, qname: &[u8], qkey: &KeyBuf, qtype: u16) -> Result<(), WriteError> {
        let mut cur = [0u8; MAX_NAME_LEN];
        let mut cur_len = qname.len().min(MAX_NAME_LEN);
        cur[..cur_len].copy_from_slice(&qname[..cur_len]);
        let mut first = true;
        let mut seen = SeenNames::default();
        for _ in 0..MAX_CHAIN {
            let name = &cur[..cur_len];
            // A name met before in this chain means a loop: what is in the
            // answer already is all of it (RFC 1034 §3.6.2, RFC 2181 §5).
            if !seen.insert(name) {
                return Ok(());
            }
            let computed;
            let key = if first {
                qkey
            } else {
                // A chain that leaves the zone ends here (RFC 1034 §4.3.2
                // 3.a).
                if !name::is_subdomain(name, self.zone.origin()) {
                    return Ok(());
                }
                match KeyBuf::new(name) {
                    Some(k) => {
                        computed = k;
                        &computed
                    }
                    None => return Ok(()),
                }
            };
            let owner = if first {
                Owner::Pointer(self.w.qname_offset())
            } else {
                Owner::Name(name)
            };
            let found = find(self.zone, key, qtype);
            if first {
                self.subject = match found {
                    Found::Wildcard(_, encloser) => Subject {
                        labels: encloser,
                        wildcard: true,
                    },
                    Found::Referral(_, depth) => Subject {
                        labels: depth,
                        wildcard: false,
                    },
                    Found::NxDomain(_) => Subject {
                        labels: self.zone.origin_labels(),
                        wildcard: false,
                    },
                    Found::Exact(_) | Found::Dname(..) => self.subject,
                };
            }
            let next: Option<&[u8]> = match found {
                Found::Exact(node) => {
                    self.at_node(node, owner, qtype, Asked { name, key }, None)?
                }
                Found::Wildcard(node, encloser) => {
                    self.at_node(node, owner, qtype, Asked { name, key }, Some(encloser))?
                }
                Found::Referral(cut, depth) => {
                    self.referral(cut, name::strip_labels(name, key.labels() - depth), first)?;
                    None
                }
                Found::Dname(node, depth) => {
                    let mut target = [0u8; MAX_NAME_LEN];
                    match self.dname(node, name, owner, key.labels() - depth, &mut target)? {
                        // A CNAME query is answered by the synthesized
                        // CNAME itself, as by a CNAME in the zone.
                        Some(_) if qtype == rtype::CNAME => return Ok(()),
                        Some(len) => {
                            cur[..len].copy_from_slice(&target[..len]);
                            cur_len = len;
                            first = false;
                            continue;
                        }
                        None => return Ok(()),
                    }
                }
                Found::NxDomain(encloser) => {
                    self.w.set_rcode(rcode::NXDOMAIN);
                    self.negative_soa()?;
                    self.deny_name(Asked { name, key }, encloser);
                    None
                }
            };
            match next {
                Some(target) => {
                    let len = target.len().min(MAX_NAME_LEN);
                    cur[..len].copy_from_slice(&target[..len]);
                    cur_len = len;
                    first = false;
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Answers at an existing node (or a wildcard standing in for the
    /// name). Returns a CNAME target to follow, if any.
    ///
    /// `wildcard` is the closest encloser's label count when `node` is the
    /// wildcard standing in for the name: with DNSSEC, the answer then
    /// carries the proof that the name itself does not exist.
    fn at_node(
        &mut self,
        node: &'v Node,
        owner: Owner<'_>,
        qtype: u16,
        asked: Asked<'_>,
        wildcard: Option<usize>,
    ) -> Result<Option<&'v [u8]>, WriteError> {
        let found = self.answer_at_node(node, owner, qtype)?;
        match (found, wildcard) {
            (Answered::Data(_), Some(encloser)) => self.prove_wildcard(asked, encloser),
            (Answered::NoData, Some(encloser)) => self.deny_type_at_wildcard(node, asked, encloser),
            (Answered::NoData, None) => self.deny_type(node, asked),
            (Answered::Data(_), None) => {}
        }
        Ok(match found {
            Answered::Data(next) => next,
            Answered::NoData => None,
        })
    }

    /// The data at a node, or its absence (NODATA). `Data` carries the
    /// CNAME target to follow, if any.
    fn answer_at_node(
        &mut self,
        node: &'v Node,
        owner: Owner<'_>,
        qtype: u16,
    ) -> Result<Answered<'v>, WriteError> {
        // RFC 1034 §4.3.2 3.a: the chain is followed only when the type
        // asked is not matched by the CNAME itself; ANY matches it, and
        // RRSIGs of the CNAME live at this owner (RFC 4035 §2.5).
        let follow = !matches!(qtype, rtype::CNAME | rtype::ANY | rtype::RRSIG);
        if node.has_flag(flags::CNAME) && follow {
            if let Some(cname) = node.rrset(rtype::CNAME) {
                self.put(Section::Answer, owner, cname, cname.ttl())?;
                return Ok(Answered::Data(cname.rdatas().next()));
            }
        }
        match qtype {
            rtype::ANY => {
                // RFC 8482 §4.1: one RRset is enough; the first in type
                // order that is not DNSSEC metadata.
                match node
                    .rrsets()
                    .find(|r| !matches!(r.rtype(), rtype::RRSIG | rtype::NSEC | rtype::NSEC3))
                {
                    Some(rrset) => {
                        self.put(Section::Answer, owner, rrset, rrset.ttl())?;
                        self.note_additional(rrset);
                    }
                    None => {
                        self.negative_soa()?;
                        return Ok(Answered::NoData);
                    }
                }
            }
            rtype::RRSIG => {
                let mut any = false;
                for rrset in node.rrsets() {
                    if let Some(sigs) = rrset.sigs() {
                        self.w.start_section(Section::Answer);
                        self.w.rrset(owner, rtype::RRSIG, sigs.ttl, sigs.rdatas())?;
                        any = true;
                    } else if rrset.rtype() == rtype::RRSIG {
                        self.w.start_section(Section::Answer);
                        self.w
                            .rrset(owner, rtype::RRSIG, rrset.ttl(), rrset.rdatas())?;
                        any = true;
                    }
                }
                if !any {
                    self.negative_soa()?;
                    return Ok(Answered::NoData);
                }
            }
            _ => match node.rrset(qtype) {
                Some(rrset) => {
                    self.put(Section::Answer, owner, rrset, rrset.ttl())?;
                    self.note_additional(rrset);
                }
                None => {
                    self.negative_soa()?;
                    return Ok(Answered::NoData);
                }
            },
        }
        Ok(Answered::Data(None))
    }

    /// A referral (RFC 1034 §4.3.2 3.b): NS of the cut in authority, not
    /// authoritative unless earlier answers in a chain were.
    fn referral(&mut self, cut: &'v Node, cut_name: &[u8], first: bool) -> Result<(), WriteError> {
        if first {
            let flags = self.w.flags() & !flag::AA;
            self.w.set_flags(flags);
        }
        let Some(ns) = cut.rrset(rtype::NS) else {
            return Ok(());
        };
        self.put(Section::Authority, Owner::Name(cut_name), ns, ns.ttl())?;
        match cut.rrset(rtype::DS).filter(|_| self.dnssec_ok) {
            Some(ds) => self.put(Section::Authority, Owner::Name(cut_name), ds, ds.ttl())?,
            // RFC 4035 §3.1.4, RFC 5155 §7.2.7: prove there is no DS.
            None => self.deny_ds_at_cut(cut, cut_name),
        }
        self.glue = true;
        self.note_additional(ns);
        Ok(())
    }

    /// DNAME substitution (RFC 6672 §3.2): the DNAME, then a CNAME from
    /// the query name to the substituted name, which is then followed.
    /// Returns the length of the new name written to `target`.
    fn dname(
        &mut self,
        node: &'v Node,
        name: &[u8],
        owner: Owner<'_>,
        below: usize,
        target: &mut [u8; MAX_NAME_LEN],
    ) -> Result<Option<usize>, WriteError> {
        let Some(dname) = node.rrset(rtype::DNAME) else {
            return Ok(None);
        };
        let Some(dname_target) = dname.rdatas().next() else {
            return Ok(None);
        };
        let dname_owner = name::strip_labels(name, below);
        self.put(
            Section::Answer,
            Owner::Name(dname_owner),
            dname,
            dname.ttl(),
        )?;
        let prefix_len = name.len() - dname_owner.len();
        let total = prefix_len + dname_target.len();
        if total > MAX_NAME_LEN {
            // RFC 6672 §2.2: the substituted name would be too long.
            self.w.set_rcode(rcode::YXDOMAIN);
            return Ok(None);
        }
        target[..prefix_len].copy_from_slice(&name[..prefix_len]);
        target[prefix_len..total].copy_from_slice(dname_target);
        self.w.start_section(Section::Answer);
        self.w.rrset(
            owner,
            rtype::CNAME,
            dname.ttl(),
            std::iter::once(&target[..total]),
        )?;
        Ok(Some(total))
    }

    /// NODATA and NXDOMAIN: the SOA in authority with the negative TTL
    /// (RFC 2308 §3, §5).
    fn negative_soa(&mut self) -> Result<(), WriteError> {
        let zone = self.zone;
        if let Some(soa) = zone.soa() {
            self.put(
                Section::Authority,
                Owner::Name(zone.origin()),
                soa,
                zone.negative_ttl(),
            )?;
        }
        Ok(())
    }

    /// Writes an RRset and, with DO, its signatures; all or nothing.
    fn put(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rrset: Rrset<'_>,
        ttl: u32,
    ) -> Result<(), WriteError> {
        self.w.start_section(section);
        let mark = self.w.mark();
        self.w.rrset(owner, rrset.rtype(), ttl, rrset.rdatas())?;
        if self.dnssec_ok {
            if let Some(sigs) = rrset.sigs() {
                if let Err(e) = self
                    .w
                    .rrset(owner, rtype::RRSIG, ttl.min(sigs.ttl), sigs.rdatas())
                {
                    self.w.rollback(mark);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// NXDOMAIN (RFC 4035 §3.1.3.2, RFC 5155 §7.2.2): the name does not
    /// exist, and neither does the wildcard at its closest encloser.
    fn deny_name(&mut self, asked: Asked<'_>, encloser: usize) {
        match self.mode {
            Mode::None => {}
            Mode::Nsec => {
                self.note_nsec_covering(asked.key.as_slice());
                let mut wild = [0u8; name::MAX_KEY_LEN + 2];
                if let Some(len) = wildcard_key(asked.key.prefix(encloser), &mut wild) {
                    self.note_nsec_covering(wild.get(..len).unwrap_or_default());
                }
            }
            Mode::Nsec3(param) => {
                self.nsec3_encloser_proof(param, asked, encloser, Nsec3Is::Covering)
            }
        }
    }

    /// NODATA at a name that exists (RFC 4035 §3.1.3.1, RFC 5155 §7.2.3):
    /// its NSEC (an empty non-terminal has none: the NSEC that covers it),
    /// or its NSEC3 (none for a name only opt-out left unhashed: the
    /// closest provable encloser proof, §7.2.4).
    fn deny_type(&mut self, node: &'v Node, asked: Asked<'_>) {
        match self.mode {
            Mode::None => {}
            Mode::Nsec if node.rrset(rtype::NSEC).is_some() => self.note_proof(node),
            Mode::Nsec => self.note_nsec_covering(asked.key.as_slice()),
            Mode::Nsec3(param) => {
                if !self.note_nsec3(param, asked.name, Nsec3Is::Matching) {
                    let parent = name::label_count(asked.name).saturating_sub(1);
                    self.closest_provable_encloser(param, asked.name, parent);
                }
            }
        }
    }

    /// A wildcard answer (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6): the name
    /// asked does not exist (with NSEC3: the next closer name is covered).
    fn prove_wildcard(&mut self, asked: Asked<'_>, encloser: usize) {
        match self.mode {
            Mode::None => {}
            Mode::Nsec => self.note_nsec_covering(asked.key.as_slice()),
            Mode::Nsec3(param) => {
                let labels = asked.key.labels();
                let next_closer = name::strip_labels(asked.name, labels - encloser - 1);
                self.note_nsec3(param, next_closer, Nsec3Is::Covering);
            }
        }
    }

    /// NODATA through a wildcard (RFC 4035 §3.1.3.4, RFC 5155 §7.2.5):
    /// the name does not exist and the wildcard lacks the type.
    fn deny_type_at_wildcard(&mut self, wildcard: &'v Node, asked: Asked<'_>, encloser: usize) {
        match self.mode {
            Mode::None => {}
            Mode::Nsec => {
                self.note_nsec_covering(asked.key.as_slice());
                if wildcard.rrset(rtype::NSEC).is_some() {
                    self.note_proof(wildcard);
                }
            }
            Mode::Nsec3(param) => {
                self.nsec3_encloser_proof(param, asked, encloser, Nsec3Is::Matching)
            }
        }
    }

    /// A referral to an unsigned child: the NSEC of the cut (NS, no DS),
    /// or its NSEC3, or with opt-out the closest provable encloser proof.
    fn deny_ds_at_cut(&mut self, cut: &'v Node, cut_name: &[u8]) {
        match self.mode {
            Mode::None => {}
            Mode::Nsec => {
                if cut.rrset(rtype::NSEC).is_some() {
                    self.note_proof(cut);
                }
            }
            Mode::Nsec3(param) => {
                if !self.note_nsec3(param, cut_name, Nsec3Is::Matching) {
                    let parent = name::label_count(cut_name).saturating_sub(1);
                    self.closest_provable_encloser(param, cut_name, parent);
                }
            }
        }
    }

    /// RFC 5155 §7.2.2 and §7.2.5: the NSEC3 matching the closest
    /// encloser, the one covering the next closer name, and the one for
    /// the wildcard at the encloser: covering it (name error) or matching
    /// it (wildcard NODATA).
    ///
    /// The closest encloser may be an empty non-terminal that opt-out left
    /// out of the chain (one that leads only to unsigned delegations): the
    /// proof is then of the closest provable encloser (§7.2.1), and the
    /// wildcard is the one at that encloser, which is the one a validator
    /// derives from the proof and checks (§8.4), as Knot answers.
    fn nsec3_encloser_proof(
        &mut self,
        param: &Nsec3Param,
        asked: Asked<'_>,
        encloser: usize,
        wildcard: Nsec3Is,
    ) {
        let labels = asked.key.labels();
        let Some(encloser) = self.closest_provable_encloser(param, asked.name, encloser) else {
            return;
        };
        let encloser_name = name::strip_labels(asked.name, labels - encloser);
        let mut wild = [0u8; MAX_NAME_LEN];
        if let Some(len) = wildcard_name(encloser_name, &mut wild) {
            self.note_nsec3(param, wild.get(..len).unwrap_or_default(), wildcard);
        }
    }

    /// RFC 5155 §7.2.1: the NSEC3 of the nearest ancestor of `name` with
    /// at most `depth` labels that has one, and the one covering the next
    /// closer name (with opt-out, this proves an unsigned delegation may
    /// lie there). Returns that closest provable encloser's label count.
    fn closest_provable_encloser(
        &mut self,
        param: &Nsec3Param,
        name: &[u8],
        depth: usize,
    ) -> Option<usize> {
        let labels = name::label_count(name);
        let apex_labels = self.zone.origin_labels();
        let deepest = depth.min(labels.checked_sub(1)?);
        for depth in (apex_labels..=deepest).rev() {
            let encloser = name::strip_labels(name, labels - depth);
            if self.note_nsec3(param, encloser, Nsec3Is::Matching) {
                let next_closer = name::strip_labels(name, labels - depth - 1);
                self.note_nsec3(param, next_closer, Nsec3Is::Covering);
                return Some(depth);
            }
        }
        None
    }

    fn note_nsec_covering(&mut self, key: &[u8]) {
        if let Some(node) = self.zone.denial().nsec_at_or_before(key) {
            self.note_proof(node);
        }
    }

    /// Notes the NSEC3 matching or covering `name`'s hash; false if there
    /// is none.
    fn note_nsec3(&mut self, param: &Nsec3Param, name: &[u8], how: Nsec3Is) -> bool {
        let mut lower = [0u8; MAX_NAME_LEN];
        let Some(slot) = lower.get_mut(..name.len()) else {
            return false;
        };
        slot.copy_from_slice(name);
        name::make_lowercase(slot);
        let hash = param.hash(slot);
        let mut key = [0u8; 2 * MAX_NAME_LEN];
        let zone = self.zone;
        let Some(len) = hashed_owner_key(zone.apex().key(), &hash, &mut key) else {
            return false;
        };
        let key = key.get(..len).unwrap_or_default();
        let found = match how {
            Nsec3Is::Matching => zone.nsec3_matching(key),
            Nsec3Is::Covering => zone.denial().nsec3_covering(key),
        };
        match found {
            Some(node) => {
                self.note_proof(node);
                true
            }
            None => false,
        }
    }

    fn note_proof(&mut self, node: &'v Node) {
        let known = self.proofs[..self.nproofs]
            .iter()
            .flatten()
            .any(|p| p.same(node));
        if !known && self.nproofs < MAX_PROOFS {
            self.proofs[self.nproofs] = Some(node);
            self.nproofs += 1;
        }
    }

    /// The noted NSEC/NSEC3 RRsets with their RRSIGs, in the authority
    /// section (after the SOA or the NS of a referral).
    fn write_proofs(&mut self) -> Result<(), WriteError> {
        let proof_type = match self.mode {
            Mode::None => return Ok(()),
            Mode::Nsec => rtype::NSEC,
            Mode::Nsec3(_) => rtype::NSEC3,
        };
        for i in 0..self.nproofs {
            let Some(node) = self.proofs[i] else { continue };
            let Some(rrset) = node.rrset(proof_type) else {
                continue;
            };
            let mut owner = [0u8; MAX_NAME_LEN];
            let Some(len) = name::name_from_key_into(node.key(), &mut owner) else {
                continue;
            };
            let owner = owner.get(..len).unwrap_or_default();
            self.put(Section::Authority, Owner::Name(owner), rrset, rrset.ttl())?;
        }
        Ok(())
    }

    /// Remembers the names an RRset points at whose addresses the client
    /// will want next: NS (RFC 1034 §3.6.2), MX (RFC 1035 §3.3.9) and SRV
    /// (RFC 2782) targets, as Knot and NSD do.
    fn note_additional(&mut self, rrset: Rrset<'v>) {
        let skip = match rrset.rtype() {
            rtype::NS => 0,
            rtype::MX => 2,
            rtype::SRV => 6,
            _ => return,
        };
        for rdata in rrset.rdatas() {
            if let Some(target) = rdata.get(skip..) {
                if self.nadditional < MAX_ADDITIONAL && name::wire_len(target).is_some() {
                    self.additional[self.nadditional] = target;
                    self.nadditional += 1;
                }
            }
        }
    }

    /// A and AAAA of the noted names that the zone holds.
    fn write_additional(&mut self) -> Result<(), WriteError> {
        let zone = self.zone;
        for i in 0..self.nadditional {
            let target = self.additional[i];
            if !name::is_subdomain(target, zone.origin()) {
                continue;
            }
            let Some(key) = KeyBuf::new(target) else {
                continue;
            };
            let Some(node) = zone.get(key.as_slice()) else {
                continue;
            };
            if node.has_flag(flags::BELOW_CUT) && !self.glue {
                continue;
            }
            for t in [rtype::A, rtype::AAAA] {
                if let Some(rrset) = node.rrset(t) {
                    self.put(Section::Additional, Owner::Name(target), rrset, rrset.ttl())?;
                }
            }
        }
        Ok(())
    }
}
