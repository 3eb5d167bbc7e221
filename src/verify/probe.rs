//! Asking one address about a zone: the SOA (with NSID, EXPIRE and
//! ZONEVERSION), the apex NS RRset, the RRsets to compare, and whether it
//! transfers the zone to anyone.

use crate::exchange::client::{edns_options, OPTION_EXPIRE, OPTION_NSID, OPTION_ZONEVERSION};
use crate::exchange::{Answer, Client, Query, QueryError, Transport};
use crate::serial::Serial;
use domain::base::iana::{Rcode, Rtype};
use domain::base::message::Message;
use domain::base::name::{Name, ParsedName, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::rdata::AllRecordData;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// An RRset to compare between servers: owner and type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RrsetKey {
    pub owner: Name<Vec<u8>>,
    pub rtype: Rtype,
}

impl std::fmt::Display for RrsetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", super::fqdn(&self.owner), self.rtype)
    }
}

/// What one server says about one RRset: comparable (canonical RDATA,
/// sorted) and printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrsetView {
    /// The RCODE when not NOERROR (NXDOMAIN and NODATA differ from data).
    pub rcode: Rcode,
    pub ttl: Option<u32>,
    /// Canonical RDATA (RFC 4034 §6.2), sorted, deduplicated.
    pub rdata: BTreeSet<Vec<u8>>,
    /// Presentation form of each record's RDATA, in `rdata`'s order.
    pub text: Vec<String>,
}

impl RrsetView {
    /// The RRset in one line: "NXDOMAIN", "no records" or the RDATA.
    pub fn describe(&self) -> String {
        if self.rcode != Rcode::NOERROR {
            return self.rcode.to_string();
        }
        if self.text.is_empty() {
            return "no records".into();
        }
        let ttl = self.ttl.map(|t| format!("TTL {t} ")).unwrap_or_default();
        format!("{ttl}{}", self.text.join(" | "))
    }

    /// Equal for comparison: RCODE, RDATA and TTL.
    pub fn same_as(&self, other: &RrsetView) -> bool {
        self.rcode == other.rcode && self.rdata == other.rdata && self.ttl == other.ttl
    }
}

/// RFC 9660's ZONEVERSION as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneVersion {
    pub labels: u8,
    pub kind: u8,
    pub data: Vec<u8>,
}

impl ZoneVersion {
    /// The serial, for type 0 (SOA-SERIAL).
    pub fn serial(&self) -> Option<Serial> {
        match (self.kind, <[u8; 4]>::try_from(self.data.as_slice())) {
            (0, Ok(bytes)) => Some(Serial(u32::from_be_bytes(bytes))),
            _ => None,
        }
    }
}

/// Why an address is no use for the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer.
    Unreachable(String),
    /// An answer, but not an authoritative one with the zone's SOA.
    Lame(String),
}

/// The SOA as one address serves it.
#[derive(Debug, Clone)]
pub struct SoaSeen {
    pub serial: Serial,
    /// The SOA RRset (one record) for comparison.
    pub soa: RrsetView,
    /// RRSIGs over the SOA (empty when the zone is not signed).
    pub rrsigs: RrsetView,
    pub rtt: Duration,
    pub transport: Transport,
    pub nsid: Option<Vec<u8>>,
    pub expire: Option<u32>,
    pub zoneversion: Option<ZoneVersion>,
}

/// Everything learnt from one address.
#[derive(Debug, Clone)]
pub struct Probe {
    pub addr: SocketAddr,
    pub result: Result<SoaSeen, Failure>,
    /// RCODE and AA of the SOA answer, when one came.
    pub rcode: Option<Rcode>,
    pub aa: Option<bool>,
    /// The apex NS names, when the address answered authoritatively.
    pub ns: Option<BTreeSet<String>>,
    /// The apex NS RRset as compared.
    pub ns_view: Option<RrsetView>,
    /// The `--records` RRsets, in order; `None` where the query failed.
    pub records: Vec<(RrsetKey, Option<RrsetView>)>,
    /// `None` when not checked or it could not be told.
    pub axfr_open: Option<bool>,
    pub axfr_error: Option<String>,
    /// The apex ZONEMD RRset (RFC 8976); `None` where the query failed.
    pub zonemd: Option<RrsetView>,
    /// Whether the zone this address transfers matches its ZONEMD: the
    /// digest verified, or the problem. Checked when AXFR is open to us
    /// and the zone has a ZONEMD.
    pub zonemd_transfer: Option<Result<String, String>>,
}

/// Asks `addr` everything about `zone`. Never fails: what went wrong is
/// in the result.
pub async fn probe(
    client: &Client,
    addr: SocketAddr,
    zone: &Name<Vec<u8>>,
    records: &[RrsetKey],
    options: &super::Options,
) -> Probe {
    let axfr_check = options.axfr_check;
    let axfr = async {
        if !axfr_check {
            return (None, None);
        }
        match client.axfr_open(addr, zone).await {
            Ok(open) => (Some(open), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let rest = probe_soa_and_records(client, addr, zone, records);
    let ((axfr_open, axfr_error), mut probe) = tokio::join!(axfr, rest);
    probe.axfr_open = axfr_open;
    probe.axfr_error = axfr_error;
    let zonemd = probe.zonemd.as_ref().filter(|v| !v.rdata.is_empty());
    probe.zonemd_transfer = match (zonemd, &options.zonemd_checks) {
        (Some(_), _) if axfr_open == Some(true) => transferred_zonemd(addr, zone).await,
        (Some(served), Some(checks)) => checks.check(addr, zone, served).await,
        _ => None,
    };
    probe
}

/// ZONEMD checks by transfer already made, by address, zone and the
/// ZONEMD served: the monitor looks every second while a change spreads,
/// and transfers a zone once per new ZONEMD, not once per look.
#[derive(Debug, Default)]
pub struct ZonemdChecks {
    done: std::sync::Mutex<ZonemdCheckMap>,
}

type ZonemdCheckMap = std::collections::HashMap<
    (SocketAddr, Vec<u8>, BTreeSet<Vec<u8>>),
    Option<Result<String, String>>,
>;

/// Results kept before the map starts afresh (servers × zones × changes).
const ZONEMD_CHECKS_KEPT: usize = 10_000;

impl ZonemdChecks {
    async fn check(
        &self,
        addr: SocketAddr,
        zone: &Name<Vec<u8>>,
        served: &RrsetView,
    ) -> Option<Result<String, String>> {
        let key = (addr, zone.as_slice().to_vec(), served.rdata.clone());
        if let Some(known) = self.done.lock().ok()?.get(&key) {
            return known.clone();
        }
        let result = transferred_zonemd(addr, zone).await;
        if let Ok(mut done) = self.done.lock() {
            if done.len() >= ZONEMD_CHECKS_KEPT {
                done.clear();
            }
            done.insert(key, result.clone());
        }
        result
    }
}

/// Transfers the zone from `addr` and verifies its ZONEMD (blocking work
/// on the blocking pool): `Some(Ok(digest))`, `Some(Err(problem))`, or
/// `None` when the transfer itself failed (reported as the AXFR check's).
async fn transferred_zonemd(
    addr: SocketAddr,
    zone: &Name<Vec<u8>>,
) -> Option<Result<String, String>> {
    use crate::xfr::incoming::{self, Limits, Payload, Primary};
    use crate::zonemd::Verdict;
    let origin = zone.as_slice().to_ascii_lowercase();
    let verdict = tokio::task::spawn_blocking(move || {
        let from = Primary::new(addr, None);
        let fetched = incoming::fetch(&from, &origin, None, &Limits::default()).ok()?;
        let Payload::Full { soa, records } = fetched.payload else {
            return None;
        };
        let version = crate::replication::secondary::build_full(&origin, &soa, &records).ok()?;
        Some(crate::zonemd::verify(&version))
    })
    .await
    .ok()??;
    match verdict {
        Verdict::Verified { hash, digest } => Some(Ok(format!("{hash} {digest}"))),
        Verdict::Invalid(problem) => Some(Err(problem.to_string())),
        Verdict::Absent | Verdict::Unsupported => None,
    }
}

async fn probe_soa_and_records(
    client: &Client,
    addr: SocketAddr,
    zone: &Name<Vec<u8>>,
    records: &[RrsetKey],
) -> Probe {
    let mut probe = Probe {
        addr,
        result: Err(Failure::Unreachable(String::new())),
        rcode: None,
        aa: None,
        ns: None,
        ns_view: None,
        records: Vec::new(),
        axfr_open: None,
        axfr_error: None,
        zonemd: None,
        zonemd_transfer: None,
    };
    let query = Query {
        probe_options: true,
        ..Query::authoritative(zone, Rtype::SOA)
    };
    let answer = match client.query(addr, &query).await {
        Ok(answer) => answer,
        Err(e) => {
            probe.result = Err(Failure::Unreachable(e.to_string()));
            return probe;
        }
    };
    probe.rcode = Some(answer.message.header().rcode());
    probe.aa = Some(answer.message.header().aa());
    probe.result = soa_seen(&answer, zone);
    if probe.result.is_err() {
        return probe;
    }
    let apex_ns = RrsetKey {
        owner: zone.clone(),
        rtype: Rtype::NS,
    };
    if let Ok(view) = ask_rrset(client, addr, &apex_ns).await {
        probe.ns = Some(
            view.text
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .map(|t| if t.ends_with('.') { t } else { format!("{t}.") })
                .collect(),
        );
        probe.ns_view = Some(view);
    }
    let apex_zonemd = RrsetKey {
        owner: zone.clone(),
        rtype: Rtype::ZONEMD,
    };
    probe.zonemd = ask_rrset(client, addr, &apex_zonemd).await.ok();
    for key in records {
        let view = ask_rrset(client, addr, key).await.ok();
        probe.records.push((key.clone(), view));
    }
    probe
}

/// The zone's SOA out of an answer, or why the address is lame.
fn soa_seen(answer: &Answer, zone: &Name<Vec<u8>>) -> Result<SoaSeen, Failure> {
    let message = &answer.message;
    let header = message.header();
    if header.rcode() != Rcode::NOERROR {
        return Err(Failure::Lame(format!("answers {}", header.rcode())));
    }
    if !header.aa() {
        let referral = has_ns_in_authority(message);
        return Err(Failure::Lame(if referral {
            "answers with a referral, not authoritatively".into()
        } else {
            "answers without the AA bit".into()
        }));
    }
    let soa = rrset_in_answer(message, zone, Rtype::SOA);
    let serial = soa
        .rdata
        .iter()
        .next()
        .and_then(|rdata| crate::zone::soa_serial(rdata))
        .ok_or_else(|| Failure::Lame("authoritative answer without the zone's SOA".into()))?;
    let rrsigs = rrsigs_over(message, zone, Rtype::SOA);
    let mut nsid = None;
    let mut expire = None;
    let mut zoneversion = None;
    for (code, data) in edns_options(message) {
        match code {
            OPTION_NSID if !data.is_empty() => nsid = Some(data),
            OPTION_EXPIRE => {
                expire = <[u8; 4]>::try_from(data.as_slice())
                    .ok()
                    .map(u32::from_be_bytes)
            }
            OPTION_ZONEVERSION => {
                if let (Some(&labels), Some(&kind), Some(rest)) =
                    (data.first(), data.get(1), data.get(2..))
                {
                    zoneversion = Some(ZoneVersion {
                        labels,
                        kind,
                        data: rest.to_vec(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(SoaSeen {
        serial,
        soa,
        rrsigs,
        rtt: answer.rtt,
        transport: answer.transport,
        nsid,
        expire,
        zoneversion,
    })
}

fn has_ns_in_authority(message: &Message<Vec<u8>>) -> bool {
    message
        .authority()
        .map(|section| section.flatten().any(|r| r.rtype() == Rtype::NS))
        .unwrap_or(false)
}

/// One RRset asked of one address (RD clear). An answer that is not
/// authoritative is an error (the address is lame for it).
pub async fn ask_rrset(
    client: &Client,
    addr: SocketAddr,
    key: &RrsetKey,
) -> Result<RrsetView, QueryError> {
    let answer = client
        .query(addr, &Query::authoritative(&key.owner, key.rtype))
        .await?;
    let header = answer.message.header();
    if header.rcode() != Rcode::NOERROR && header.rcode() != Rcode::NXDOMAIN {
        return Err(QueryError::Malformed {
            reason: format!("answers {}", header.rcode()),
        });
    }
    if !header.aa() {
        return Err(QueryError::Malformed {
            reason: "not authoritative".into(),
        });
    }
    Ok(rrset_in_answer(&answer.message, &key.owner, key.rtype))
}

/// The records of `owner`/`rtype` in the answer section.
pub fn rrset_in_answer(
    message: &Message<Vec<u8>>,
    owner: &Name<Vec<u8>>,
    rtype: Rtype,
) -> RrsetView {
    let mut view = RrsetView {
        rcode: message.header().rcode(),
        ttl: None,
        rdata: BTreeSet::new(),
        text: Vec::new(),
    };
    let mut texts = std::collections::BTreeMap::new();
    if let Ok(section) = message.answer() {
        for record in section.flatten() {
            if record.rtype() != rtype || !record.owner().name_eq(owner) {
                continue;
            }
            let Ok(Some(record)) = record.to_record::<AllRecordData<_, ParsedName<_>>>() else {
                continue;
            };
            let mut canonical = Vec::new();
            if record
                .data()
                .compose_canonical_rdata(&mut canonical)
                .is_err()
            {
                continue;
            }
            view.ttl = Some(view.ttl.map_or(record.ttl().as_secs(), |t: u32| {
                t.min(record.ttl().as_secs())
            }));
            texts.insert(canonical, record.data().to_string());
        }
    }
    view.rdata = texts.keys().cloned().collect();
    view.text = texts.into_values().collect();
    view
}

/// An RRset from stored records (its type, TTL and each RDATA, names
/// uncompressed) in the form a server's answer is compared in
/// ([`rrset_in_answer`]): what the primary serves, beside what a server
/// answered. RDATA that does not read as its type is kept as it is and
/// shown in the generic form (RFC 3597).
pub fn rrset_of<'a>(
    rtype: Rtype,
    ttl: Option<u32>,
    rdatas: impl IntoIterator<Item = &'a [u8]>,
) -> RrsetView {
    use domain::base::rdata::ParseRecordData;
    let mut texts = std::collections::BTreeMap::new();
    for rdata in rdatas {
        let mut parser = domain::dep::octseq::Parser::from_ref(rdata);
        let parsed = AllRecordData::<&[u8], ParsedName<&[u8]>>::parse_rdata(rtype, &mut parser);
        let mut canonical = Vec::new();
        let text = match parsed {
            Ok(Some(data))
                if parser.remaining() == 0
                    && data.compose_canonical_rdata(&mut canonical).is_ok() =>
            {
                data.to_string()
            }
            _ => {
                canonical = rdata.to_vec();
                let hex: String = rdata.iter().map(|b| format!("{b:02x}")).collect();
                format!("\\# {} {hex}", rdata.len())
            }
        };
        texts.insert(canonical, text);
    }
    RrsetView {
        rcode: Rcode::NOERROR,
        ttl: ttl.filter(|_| !texts.is_empty()),
        rdata: texts.keys().cloned().collect(),
        text: texts.into_values().collect(),
    }
}

/// The RRSIGs over `owner`/`covered` in the answer section.
fn rrsigs_over(message: &Message<Vec<u8>>, owner: &Name<Vec<u8>>, covered: Rtype) -> RrsetView {
    let mut view = rrset_in_answer(message, owner, Rtype::RRSIG);
    let keep: Vec<bool> = view
        .rdata
        .iter()
        .map(|rdata| rdata.get(0..2) == Some(&covered.to_int().to_be_bytes()[..]))
        .collect();
    let mut flags = keep.iter();
    view.rdata
        .retain(|_| flags.next().copied().unwrap_or(false));
    let mut flags = keep.iter();
    view.text.retain(|_| flags.next().copied().unwrap_or(false));
    if view.rdata.is_empty() {
        view.ttl = None;
    }
    view
}

/// Any name's records of `rtype` from an answer, owners ignored (a
/// resolver's answer may come through a CNAME chain).
pub fn addresses_in(message: &Message<Vec<u8>>) -> Vec<std::net::IpAddr> {
    let mut found = Vec::new();
    let Ok(section) = message.answer() else {
        return found;
    };
    for record in section.flatten() {
        if let Ok(Some(record)) = record.to_record::<AllRecordData<_, ParsedName<_>>>() {
            match record.data() {
                AllRecordData::A(a) => found.push(a.addr().into()),
                AllRecordData::Aaaa(aaaa) => found.push(aaaa.addr().into()),
                _ => {}
            }
        }
    }
    found
}

/// Owner name as it would be compared: lower-case, absolute.
pub fn lower_fqdn<N: ToName>(name: &N) -> String {
    let mut text = name.to_name::<Vec<u8>>().to_string().to_ascii_lowercase();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}
