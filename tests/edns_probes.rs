//! The probes of the public EDNS compliance test (ISC's `genreport`, the
//! checks registries and "DNS flag day" sites run against authoritative
//! servers; RFC 8906 §8 lists the same queries as dig commands) against
//! the real binary, for a zone without DNSSEC and a signed one, and DNS
//! COOKIE (RFC 7873, RFC 9018) end to end.
//!
//! - [`probes`]: every probe, as the dig command of the published test
//!   set says it; [`check`] asserts what RFC 8906 expects of any answer:
//!   the RCODE (NOTIMP for an unknown opcode, BADVERS for EDNS version 1,
//!   else NOERROR), AA, RD and CD copied for a query and cleared for
//!   another opcode, TC, RA, Z and AD never set, an empty message after
//!   the header for an unknown opcode, the OPT record (present exactly
//!   when asked, version 0, no unknown EDNS flag, DO echoed, unknown
//!   options and ECS not echoed, NSID, EXPIRE and COOKIE when asked), the
//!   SOA (and with DO in the signed zone its RRSIG) in the answer, and
//!   no UDP answer larger than the client allows. All failures of a run
//!   are reported together.
//! - Cookies: a server cookie returned by the server is valid on the next
//!   query and comes back as it was; one made with another secret is not
//!   (and is replaced); two servers given the same `cookie_secret` accept
//!   each other's; a generated secret survives a restart; `cookies =
//!   false` ignores the option; a malformed COOKIE is FORMERR. Validity is
//!   read from `/metrics` (`zonesync_queries_cookie_total`). With dig
//!   installed, `dig +cookie` shows `(good)` on the second query.
//!
//! ldns (ldnsutils) signs the zone: a missing signer fails the test.

mod common;

use common::*;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const NSID: &str = "probe-ns";
/// The zone without DNSSEC, and the signed one (RSASHA256, so that its
/// DNSKEY RRset with signatures does not fit in 512 octets).
const PLAIN: &str = "example.com";
const SIGNED: &str = "signed.example";

const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const Z: u16 = 0x0040;
const AD: u16 = 0x0020;
const CD: u16 = 0x0010;
/// The DO bit and the unassigned EDNS flag `+ednsflags=0x0080` sets.
const DO: u16 = 0x8000;
const EDNS_FLAG_UNKNOWN: u16 = 0x0080;

const T_SOA: u16 = 6;
const T_RRSIG: u16 = 46;
const T_DNSKEY: u16 = 48;
const T_OPT: u16 = 41;

const O_NSID: u16 = 3;
const O_ECS: u16 = 8;
const O_EXPIRE: u16 = 9;
const O_COOKIE: u16 = 10;
const O_UNKNOWN: u16 = 100;
/// `+subnet=0.0.0.0/0`: family 1, source and scope prefix 0.
const ECS_ZERO: &[u8] = &[0, 1, 0, 0];
/// `+cookie=0102030405060708`.
const CLIENT_COOKIE: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8];

fn zone_text(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 3600\n\
         @ SOA ns1 hostmaster 2024010101 7200 900 1209600 300\n\
         @ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n"
    )
}

// ---------------------------------------------------------------------------
// The probes

/// One query of the test set.
#[derive(Clone, Debug)]
struct Probe {
    /// genreport's name for it.
    name: &'static str,
    /// The dig options of the published test set (`Z` is the zone).
    dig: &'static str,
    qtype: u16,
    /// Header flags set in the query (AA, TC, RD, RA, Z, AD, CD).
    flags: u16,
    opcode: u8,
    /// The header alone: no question.
    header_only: bool,
    edns: Option<EdnsProbe>,
    tcp: bool,
}

#[derive(Clone, Debug)]
struct EdnsProbe {
    version: u8,
    payload: u16,
    /// The OPT's flags (DO and whatever else the probe sets).
    flags: u16,
    options: Vec<(u16, Vec<u8>)>,
}

impl Probe {
    fn plain(name: &'static str, dig: &'static str) -> Probe {
        Probe {
            name,
            dig,
            qtype: T_SOA,
            flags: 0,
            opcode: 0,
            header_only: false,
            edns: None,
            tcp: false,
        }
    }
    fn flags(mut self, flags: u16) -> Probe {
        self.flags |= flags;
        self
    }
    fn qtype(mut self, qtype: u16) -> Probe {
        self.qtype = qtype;
        self
    }
    fn header_only(mut self, opcode: u8) -> Probe {
        self.opcode = opcode;
        self.header_only = true;
        self
    }
    fn tcp(mut self) -> Probe {
        self.tcp = true;
        self
    }
    fn edns(mut self, version: u8) -> Probe {
        self.edns = Some(EdnsProbe {
            version,
            payload: 4096,
            flags: 0,
            options: Vec::new(),
        });
        self
    }
    fn edns_flags(mut self, flags: u16) -> Probe {
        if let Some(e) = &mut self.edns {
            e.flags |= flags;
        }
        self
    }
    fn payload(mut self, payload: u16) -> Probe {
        if let Some(e) = &mut self.edns {
            e.payload = payload;
        }
        self
    }
    fn option(mut self, code: u16, data: &[u8]) -> Probe {
        if let Some(e) = &mut self.edns {
            e.options.push((code, data.to_vec()));
        }
        self
    }

    fn asks(&self, code: u16) -> bool {
        self.edns
            .as_ref()
            .is_some_and(|e| e.options.iter().any(|(c, _)| *c == code))
    }

    fn dnssec_ok(&self) -> bool {
        self.edns.as_ref().is_some_and(|e| e.flags & DO != 0)
    }

    /// The query, with `id`, for `zone`.
    fn query(&self, id: u16, zone: &str) -> Vec<u8> {
        let flags = (u16::from(self.opcode) << 11) | self.flags;
        let qd = u16::from(!self.header_only);
        let ar = u16::from(self.edns.is_some());
        let mut m = header(id, flags, qd, 0, 0, ar);
        if !self.header_only {
            m.extend(wire_name(zone));
            m.extend(self.qtype.to_be_bytes());
            m.extend(1u16.to_be_bytes());
        }
        if let Some(e) = &self.edns {
            let mut rdata = Vec::new();
            for (code, data) in &e.options {
                rdata.extend(code.to_be_bytes());
                rdata.extend((data.len() as u16).to_be_bytes());
                rdata.extend(data);
            }
            let ttl = (u32::from(e.version) << 16) | u32::from(e.flags);
            m.extend([0, 0, 41]);
            m.extend(e.payload.to_be_bytes());
            m.extend(ttl.to_be_bytes());
            m.extend((rdata.len() as u16).to_be_bytes());
            m.extend(rdata);
        }
        m
    }
}

/// The published test set: each query of genreport's default (`-D`)
/// run, in its order, by its name.
fn probes() -> Vec<Probe> {
    let p = Probe::plain;
    let mut v =
        vec![
        p("dns", "+noedns +noad +norec SOA Z"),
        p("aa", "+noedns +noad +norec +aaflag SOA Z").flags(AA),
        p("ad", "+noedns +ad +norec SOA Z").flags(AD),
        p("cd", "+noedns +noad +norec +cd SOA Z").flags(CD),
        p("ra", "+noedns +noad +norec +raflag SOA Z").flags(RA),
        p("rd", "+noedns +noad +rec SOA Z").flags(RD),
        p("tc", "+noedns +noad +norec +tcflag SOA Z").flags(TC),
        p("zflag", "+noedns +noad +norec +zflag SOA Z").flags(Z),
        p("opcode", "+noedns +noad +norec +header-only +opcode=15").header_only(15),
        p(
            "opcodeflg",
            "+noedns +header-only +opcode=15 +tcflag +rec +raflag +cd +ad +aaflag +zflag",
        )
        .header_only(15)
        .flags(AA | TC | RD | RA | Z | AD | CD),
        p("type666", "+noedns +noad +norec TYPE666 Z").qtype(666),
        p("tcp", "+noedns +noad +norec +tcp SOA Z").tcp(),
        p("edns", "+edns=0 +nocookie +noad +norec SOA Z").edns(0),
        p("edns1", "+edns=1 +noednsneg +nocookie +noad +norec SOA Z").edns(1),
        p(
            "edns@512",
            "+edns=0 +nocookie +noad +norec +dnssec +ignore +bufsize=512 DNSKEY Z",
        )
        .qtype(T_DNSKEY)
        .edns(0)
        .edns_flags(DO)
        .payload(512),
        p("ednsopt", "+edns=0 +nocookie +noad +norec +ednsopt=100 SOA Z")
            .edns(0)
            .option(O_UNKNOWN, &[]),
        p(
            "edns1opt",
            "+edns=1 +noednsneg +nocookie +noad +norec +ednsopt=100 SOA Z",
        )
        .edns(1)
        .option(O_UNKNOWN, &[]),
        p("do", "+edns=0 +nocookie +noad +norec +dnssec SOA Z")
            .edns(0)
            .edns_flags(DO),
        p("docd", "+edns=0 +nocookie +noad +norec +dnssec +cd SOA Z")
            .edns(0)
            .edns_flags(DO)
            .flags(CD),
        p(
            "edns1do",
            "+edns=1 +noednsneg +nocookie +noad +norec +dnssec SOA Z",
        )
        .edns(1)
        .edns_flags(DO),
        p(
            "edns1docd",
            "+edns=1 +noednsneg +nocookie +noad +norec +dnssec +cd SOA Z",
        )
        .edns(1)
        .edns_flags(DO)
        .flags(CD),
        p(
            "ednsflags",
            "+edns=0 +nocookie +noad +norec +ednsflags=0x0080 SOA Z",
        )
        .edns(0)
        .edns_flags(EDNS_FLAG_UNKNOWN),
        p(
            "optlist",
            "+edns=0 +noad +norec +nsid +subnet=0.0.0.0/0 +expire +cookie=0102030405060708 SOA Z",
        )
        .edns(0)
        .option(O_NSID, &[])
        .option(O_ECS, ECS_ZERO)
        .option(O_EXPIRE, &[])
        .option(O_COOKIE, CLIENT_COOKIE),
    ];
    // Each option of `optlist` alone, at EDNS 0 and 1.
    for (version, names) in [
        (
            0u8,
            [
                ("ednsnsid", "+edns=0 +nocookie +noad +norec +nsid SOA Z"),
                (
                    "ednssubnet",
                    "+edns=0 +nocookie +noad +norec +subnet=0.0.0.0/0 SOA Z",
                ),
                ("ednsexpire", "+edns=0 +nocookie +noad +norec +expire SOA Z"),
                (
                    "ednscookie",
                    "+edns=0 +noad +norec +cookie=0102030405060708 SOA Z",
                ),
            ],
        ),
        (
            1,
            [
                (
                    "edns1nsid",
                    "+edns=1 +noednsneg +nocookie +noad +norec +nsid SOA Z",
                ),
                (
                    "edns1subnet",
                    "+edns=1 +noednsneg +nocookie +noad +norec +subnet=0.0.0.0/0 SOA Z",
                ),
                (
                    "edns1expire",
                    "+edns=1 +noednsneg +nocookie +noad +norec +expire SOA Z",
                ),
                (
                    "edns1cookie",
                    "+edns=1 +noednsneg +noad +norec +cookie=0102030405060708 SOA Z",
                ),
            ],
        ),
    ] {
        let options: [(u16, &[u8]); 4] = [
            (O_NSID, &[]),
            (O_ECS, ECS_ZERO),
            (O_EXPIRE, &[]),
            (O_COOKIE, CLIENT_COOKIE),
        ];
        for ((name, dig), (code, data)) in names.into_iter().zip(options) {
            v.push(p(name, dig).edns(version).option(code, data));
        }
    }
    v.push(
        p("ednstcp", "+tcp +edns=0 +nocookie +noad +norec SOA Z")
            .edns(0)
            .tcp(),
    );
    // genreport's own ednstcp: a DNSKEY with DO and 512 octets over TCP,
    // where the size does not bind.
    v.push(
        p(
            "ednstcp-dnskey",
            "+tcp +edns=0 +nocookie +noad +norec +dnssec +bufsize=512 DNSKEY Z",
        )
        .qtype(T_DNSKEY)
        .edns(0)
        .edns_flags(DO)
        .payload(512)
        .tcp(),
    );
    v
}

// ---------------------------------------------------------------------------
// Reading answers

/// A record of a response: section (0 answer, 1 authority, 2
/// additional), owner (lower case, no final dot), type, TTL, RDATA.
#[derive(Debug)]
struct Rec {
    section: usize,
    owner: String,
    rtype: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

/// A name at `pos` (compression followed, bounded); the position after it.
fn read_name(m: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *m.get(pos).ok_or("name runs past the end")? as usize;
        match len {
            0 => {
                let name = labels.join(".");
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            1..=63 => {
                let label = m.get(pos + 1..pos + 1 + len).ok_or("label past the end")?;
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                pos += 1 + len;
            }
            0xc0..=0xff => {
                let low = *m.get(pos + 1).ok_or("pointer past the end")? as usize;
                end.get_or_insert(pos + 2);
                pos = ((len & 0x3f) << 8) | low;
            }
            _ => return Err(format!("bad label type {len:#x}")),
        }
    }
    Err("name with too many labels or a pointer loop".into())
}

/// Every record after the question; an error when the message cannot be
/// walked to its end.
fn records(m: &[u8]) -> Result<Vec<Rec>, String> {
    if m.len() < 12 {
        return Err("shorter than a header".into());
    }
    let [qd, an, ns, ar] = counts_of(m);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(m, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for (section, count) in [an, ns, ar].into_iter().enumerate() {
        for _ in 0..count {
            let (owner, p) = read_name(m, pos)?;
            let f = m.get(p..p + 10).ok_or("record header past the end")?;
            let rtype = u16::from_be_bytes([f[0], f[1]]);
            let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
            let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
            let rdata = m.get(p + 10..p + 10 + rdlen).ok_or("RDATA past the end")?;
            out.push(Rec {
                section,
                owner,
                rtype,
                ttl,
                rdata: rdata.to_vec(),
            });
            pos = p + 10 + rdlen;
        }
    }
    if pos != m.len() {
        return Err(format!("{} octets after the last record", m.len() - pos));
    }
    Ok(out)
}

/// The options of an OPT record's RDATA.
fn options_of(rdata: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut o = 0;
    while o + 4 <= rdata.len() {
        let code = u16::from_be_bytes([rdata[o], rdata[o + 1]]);
        let len = u16::from_be_bytes([rdata[o + 2], rdata[o + 3]]) as usize;
        out.push((code, rdata[o + 4..(o + 4 + len).min(rdata.len())].to_vec()));
        o += 4 + len;
    }
    out
}

/// The answer in dig's terms, for reports.
fn summary(m: &[u8]) -> String {
    let f = flags_of(m);
    let mut s = format!(
        "opcode {} rcode {} [{}] counts {:?}",
        (f >> 11) & 0xf,
        header_rcode_of(m),
        flags_text(f & !0x7800 & !0xf),
        counts_of(m)
    );
    if f & Z != 0 {
        s.push_str(" z");
    }
    match records(m) {
        Ok(recs) => {
            for r in recs {
                let _ = write!(s, "; {}:{} {}", r.section, r.owner, r.rtype);
                if r.rtype == T_OPT {
                    let _ = write!(s, " ttl={:#010x} {:?}", r.ttl, options_of(&r.rdata));
                }
            }
        }
        Err(e) => {
            let _ = write!(s, "; cannot walk: {e}");
        }
    }
    s
}

/// What RFC 8906 expects of `answer` to `probe` for `zone`; every
/// departure, as text.
fn check(probe: &Probe, zone: &str, signed: bool, id: u16, answer: &[u8]) -> Vec<String> {
    let mut bad = Vec::new();
    // Records `what` when `ok` does not hold.
    macro_rules! expect {
        ($ok:expr, $what:expr $(,)?) => {
            if !$ok {
                bad.push($what);
            }
        };
    }
    if answer.len() < 12 {
        return vec![format!("an answer shorter than a header: {}", hex(answer))];
    }
    let f = flags_of(answer);
    let implemented = probe.opcode == 0;
    let badvers = implemented && probe.edns.as_ref().is_some_and(|e| e.version > 0);
    let want_rcode = if !implemented {
        rcode::NOTIMP
    } else if badvers {
        rcode::BADVERS
    } else {
        rcode::NOERROR
    };
    let recs = match records(answer) {
        Ok(r) => r,
        Err(e) => {
            return vec![format!(
                "the answer cannot be walked ({e}): {}",
                hex(answer)
            )]
        }
    };
    let opt = recs.iter().find(|r| r.rtype == T_OPT);
    let ext = opt.map_or(0, |o| (o.ttl >> 24) as u16);
    let got_rcode = (ext << 4) | header_rcode_of(answer);

    expect!(
        id_of(answer) == id,
        format!("id {} (asked {id})", id_of(answer))
    );
    expect!(f & flag::QR != 0, "QR not set".into());
    expect!(
        (f >> 11) & 0xf == u16::from(probe.opcode),
        format!("opcode {} not echoed", (f >> 11) & 0xf),
    );
    expect!(
        got_rcode == want_rcode,
        format!(
            "RCODE {}, expected {}",
            rcode_name(got_rcode),
            rcode_name(want_rcode)
        ),
    );
    // RFC 8906 §3.1.3: AA on a query's authoritative answer, and only
    // there (not on NOTIMP or BADVERS).
    let want_aa = implemented && want_rcode == rcode::NOERROR;
    expect!((f & AA != 0) == want_aa, format!("AA {}", f & AA != 0));
    // RD and CD copied (RFC 1035 §4.1.1, RFC 4035 §3.1.6) by a query;
    // RFC 8906 §3.1.4 and genreport: cleared in NOTIMP to an opcode we
    // do not know.
    for (bit, name) in [(RD, "RD"), (CD, "CD")] {
        let want = implemented && probe.flags & bit != 0;
        expect!(
            (f & bit != 0) == want,
            format!("{name} {} (asked {})", f & bit != 0, probe.flags & bit != 0),
        );
    }
    // Never copied: RA (not a recursive server), Z (must be zero, RFC
    // 1035 §4.1.1), AD (we do not validate; RFC 6840 §5.7 lets AD be set
    // only on data the server checked).
    for (bit, name) in [(RA, "RA"), (Z, "Z"), (AD, "AD")] {
        expect!(f & bit == 0, format!("{name} set"));
    }
    let udp_limit = match &probe.edns {
        _ if probe.tcp => 65535,
        None => 512,
        Some(e) => usize::from(e.payload.max(512)),
    };
    expect!(
        answer.len() <= udp_limit,
        format!(
            "{} octets over UDP, more than the {udp_limit} allowed",
            answer.len()
        ),
    );
    // TC: never on TCP, nor for an answer that fits; the signed zone's
    // DNSKEY RRset with its RRSIG does not fit in 512 octets.
    let may_truncate = signed && !probe.tcp && probe.qtype == T_DNSKEY && udp_limit == 512;
    expect!(
        f & TC == 0 || may_truncate,
        "TC set on an answer that fits".into(),
    );
    if !implemented {
        // Nothing but the header is known for such an opcode.
        expect!(
            counts_of(answer) == [0; 4],
            format!("sections not empty: {:?}", counts_of(answer)),
        );
        return bad;
    }
    expect!(
        counts_of(answer)[0] == 1,
        format!("QDCOUNT {}", counts_of(answer)[0]),
    );
    let in_answer = |t: u16| {
        recs.iter()
            .filter(|r| r.section == 0 && r.rtype == t && r.owner == zone)
            .count()
    };
    if want_rcode == rcode::BADVERS {
        expect!(
            recs.iter().all(|r| r.section == 2),
            "records besides the OPT in a BADVERS answer".into(),
        );
    } else if probe.qtype == T_SOA {
        expect!(
            in_answer(T_SOA) == 1,
            "no SOA of the zone in the answer".into()
        );
    } else if probe.qtype == 666 {
        // NODATA: nothing in the answer, the SOA in the authority section.
        expect!(
            recs.iter().all(|r| r.section != 0),
            "records in a NODATA answer".into(),
        );
        expect!(
            recs.iter()
                .any(|r| r.section == 1 && r.rtype == T_SOA && r.owner == zone),
            "no SOA in the authority section of NODATA".into(),
        );
    } else if probe.qtype == T_DNSKEY && signed && f & TC == 0 {
        expect!(in_answer(T_DNSKEY) > 0, "no DNSKEY in the answer".into());
        expect!(
            in_answer(T_RRSIG) > 0,
            "no RRSIG over the DNSKEY with DO".into(),
        );
    }
    if want_rcode == rcode::NOERROR && probe.qtype == T_SOA {
        // RFC 3225 / RFC 4035 §3.1.1: RRSIGs with DO in a signed zone, and
        // never without DO.
        let want_sig = signed && probe.dnssec_ok();
        expect!(
            (in_answer(T_RRSIG) > 0) == want_sig,
            format!("RRSIG in the answer: {}", in_answer(T_RRSIG) > 0),
        );
    }
    if !probe.dnssec_ok() {
        expect!(
            recs.iter().all(|r| r.rtype != T_RRSIG),
            "RRSIG without DO".into(),
        );
    }
    // The OPT record (RFC 6891 §6.1.1, §7; RFC 8906 §3.2).
    let opts: Vec<&Rec> = recs.iter().filter(|r| r.rtype == T_OPT).collect();
    let Some(e) = &probe.edns else {
        expect!(
            opts.is_empty(),
            "an OPT in the answer to a query without".into()
        );
        return bad;
    };
    if opts.len() != 1 {
        bad.push(format!("{} OPT records, expected 1", opts.len()));
        return bad;
    }
    let o = opts[0];
    expect!(
        o.section == 2 && o.owner.is_empty(),
        "OPT not at the root in the additional section".into()
    );
    expect!(
        (o.ttl >> 16) & 0xff == 0,
        format!("OPT version {} (we speak 0)", (o.ttl >> 16) & 0xff),
    );
    let do_back = o.ttl & u32::from(DO) != 0;
    expect!(
        do_back == (e.flags & DO != 0),
        format!("DO {do_back} (asked {})", e.flags & DO != 0),
    );
    expect!(
        o.ttl & 0x7fff == 0,
        format!("unknown EDNS flags set: {:#06x}", o.ttl & 0x7fff),
    );
    let options = options_of(&o.rdata);
    let option = |code: u16| options.iter().find(|(c, _)| *c == code).map(|(_, d)| d);
    expect!(
        option(O_UNKNOWN).is_none(),
        "the unknown option 100 echoed".into()
    );
    expect!(
        option(O_ECS).is_none(),
        "ECS echoed (not implemented)".into()
    );
    match option(O_NSID) {
        Some(d) => expect!(
            probe.asks(O_NSID) && d == NSID.as_bytes(),
            format!("NSID {:?}", String::from_utf8_lossy(d)),
        ),
        None => expect!(!probe.asks(O_NSID), "no NSID, though asked".into()),
    }
    match option(O_EXPIRE) {
        Some(d) => expect!(
            probe.asks(O_EXPIRE) && d.len() == 4,
            format!("EXPIRE {d:?}"),
        ),
        None => expect!(
            !probe.asks(O_EXPIRE) || badvers,
            "no EXPIRE, though asked".into(),
        ),
    }
    match option(O_COOKIE) {
        // RFC 7873 §5.2.3: the client cookie and a server cookie of ours
        // (RFC 9018: 16 octets).
        Some(d) => expect!(
            probe.asks(O_COOKIE) && d.len() == 24 && d[..8] == *CLIENT_COOKIE && d[8] == 1,
            format!("COOKIE {}", hex(d)),
        ),
        None => expect!(!probe.asks(O_COOKIE), "no COOKIE, though asked".into()),
    }
    bad
}

/// Starts the server of the probes: both zones, NSID, the control
/// interface; returns it with its control address.
fn probe_server(extra: &str) -> (Server, SocketAddr, TempDir) {
    let keys_dir = TempDir::new("probe-keys");
    let keys = ZoneKeys::generate(keys_dir.path(), SIGNED, Signer::Ldns, "RSASHA256");
    let now = unix_now();
    let signed = keys.sign(
        &zone_text(SIGNED),
        Denial::Nsec,
        &Nsec3Params::default(),
        now - 3600,
        now + 30 * 86_400,
    );
    let control = free_addr();
    let config = format!(
        "[server]\nnsid = \"{NSID}\"\nudp_workers = 1\ncontrol = \"{control}\"\n{extra}{}{}",
        zone_entry(PLAIN, "plain.zone"),
        zone_entry(SIGNED, "signed.zone"),
    );
    let server = Server::start(
        &config,
        &[("plain.zone", &zone_text(PLAIN)), ("signed.zone", &signed)],
    );
    (server, control, keys_dir)
}

#[test]
fn every_probe_of_the_edns_compliance_test_is_answered_as_rfc_8906_expects() {
    let (server, _, _keys) = probe_server("");
    let mut failures = Vec::new();
    let mut asked = 0;
    for (zone, signed) in [(PLAIN, false), (SIGNED, true)] {
        for probe in probes() {
            // Over UDP, and over TCP too where the probe is not a TCP one
            // already (the answer must not depend on the transport).
            let transports: &[bool] = if probe.tcp { &[true] } else { &[false, true] };
            for &tcp in transports {
                let probe = Probe {
                    tcp,
                    ..probe.clone()
                };
                let id = next_id();
                let q = probe.query(id, zone);
                let answer = if tcp {
                    exchange_tcp(server.addr(), &q)
                } else {
                    exchange_udp(server.addr(), &q)
                };
                asked += 1;
                let how = format!(
                    "{} ({}) in {zone} over {}",
                    probe.name,
                    probe.dig.replace('Z', zone),
                    if tcp { "TCP" } else { "UDP" }
                );
                match answer {
                    Err(e) => failures.push(format!("{how}: no answer: {e}")),
                    Ok(a) => {
                        let bad = check(&probe, zone, signed, id, &a);
                        if !bad.is_empty() {
                            failures.push(format!(
                                "{how}: {}\n    got: {}",
                                bad.join("; "),
                                summary(&a)
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {asked} probes answered against RFC 8906:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Cookies

/// The value of `zonesync_queries_cookie_total{cookie="<verdict>"}`.
fn cookie_count(control: SocketAddr, verdict: &str) -> u64 {
    let mut s = TcpStream::connect_timeout(&control, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("control {control}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let needle = format!("zonesync_queries_cookie_total{{cookie=\"{verdict}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {needle:?} in /metrics:\n{text}"))
}

/// The verdict counters of a server, in the order none, client-only,
/// valid, invalid.
fn counts(control: SocketAddr) -> [u64; 4] {
    ["none", "client-only", "valid", "invalid"].map(|v| cookie_count(control, v))
}

/// An SOA query with a COOKIE option of `cookie`; the RCODE and the
/// answer's COOKIE data.
fn cookie_query(addr: SocketAddr, zone: &str, cookie: &[u8], tcp: bool) -> (u16, Option<Vec<u8>>) {
    let probe = Probe::plain("cookie", "").edns(0).option(O_COOKIE, cookie);
    let id = next_id();
    let q = probe.query(id, zone);
    let a = if tcp {
        exchange_tcp(addr, &q)
    } else {
        exchange_udp(addr, &q)
    }
    .unwrap_or_else(|e| panic!("cookie query to {addr}: {e}"));
    let recs = records(&a).unwrap_or_else(|e| panic!("{e}: {}", hex(&a)));
    let opt = recs.iter().find(|r| r.rtype == T_OPT);
    let ext = opt.map_or(0, |o| (o.ttl >> 24) as u16);
    let cookie = opt.and_then(|o| {
        options_of(&o.rdata)
            .into_iter()
            .find(|(c, _)| *c == O_COOKIE)
            .map(|(_, d)| d)
    });
    ((ext << 4) | header_rcode_of(&a), cookie)
}

/// A server of `PLAIN` with the control interface and `server` settings.
fn cookie_server(settings: &str) -> (Server, SocketAddr) {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n{settings}{}",
        zone_entry(PLAIN, "plain.zone")
    );
    let server = Server::start(&config, &[("plain.zone", &zone_text(PLAIN))]);
    (server, control)
}

const SECRET_A: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
const SECRET_B: &str = "445536bcd2513298075a5d379663c962";

#[test]
fn a_returned_server_cookie_is_valid_and_one_of_another_secret_is_not() {
    let (a, control) = cookie_server(&format!("cookie_secret = \"{SECRET_A}\"\n"));
    let (b, _) = cookie_server(&format!("cookie_secret = \"{SECRET_B}\"\n"));
    for tcp in [false, true] {
        let before = counts(control);
        // First contact: the client cookie alone (RFC 7873 §5.2.3).
        let (rc, first) = cookie_query(a.addr(), PLAIN, &[9; 8], tcp);
        assert_eq!(rc, rcode::NOERROR);
        let first = first.expect("a COOKIE in the answer");
        assert_eq!(first.len(), 24, "client cookie + RFC 9018 server cookie");
        assert_eq!(&first[..8], &[9; 8]);
        // The second query carries it: valid, and it comes back as it was
        // (younger than half an hour, RFC 9018 §4.3).
        let (rc, second) = cookie_query(a.addr(), PLAIN, &first, tcp);
        assert_eq!(rc, rcode::NOERROR);
        assert_eq!(second.as_ref(), Some(&first));
        // A cookie server B made for this client: invalid at A, answered
        // normally (no BADCOOKIE, we do not require cookies) with A's.
        let (_, foreign) = cookie_query(b.addr(), PLAIN, &[9; 8], tcp);
        let foreign = foreign.expect("B's cookie");
        assert_ne!(foreign, first, "another secret, another cookie");
        let (rc, replaced) = cookie_query(a.addr(), PLAIN, &foreign, tcp);
        assert_eq!(rc, rcode::NOERROR, "RFC 7873 §5.2.4: answered normally");
        let replaced = replaced.expect("a fresh cookie");
        assert_ne!(replaced, foreign);
        assert_eq!(&replaced[..8], &[9; 8]);
        // Without a cookie at all.
        let q = build_query(
            PLAIN,
            hickory_proto::rr::RecordType::SOA,
            &QueryOpts::edns(1232),
        );
        let _ = if tcp {
            exchange_tcp(a.addr(), &q)
        } else {
            exchange_udp(a.addr(), &q)
        };
        let after = counts(control);
        let delta: Vec<u64> = after.iter().zip(before).map(|(x, y)| x - y).collect();
        assert_eq!(
            delta,
            vec![1, 1, 1, 1],
            "none, client-only, valid, invalid (tcp: {tcp})"
        );
    }
    // RFC 7873 §5.2.2: a COOKIE of 9 to 15 octets, or over 40, is FORMERR.
    for len in [5, 12, 41] {
        let (rc, cookie) = cookie_query(a.addr(), PLAIN, &vec![1; len], false);
        assert_eq!(rc, rcode::FORMERR, "a COOKIE of {len} octets");
        assert_eq!(cookie, None);
    }
}

#[test]
fn servers_sharing_a_cookie_secret_accept_each_others_cookies() {
    let settings = format!("cookie_secret = \"{SECRET_A}\"\n");
    let (one, _) = cookie_server(&settings);
    let (two, control_two) = cookie_server(&settings);
    let (_, cookie) = cookie_query(one.addr(), PLAIN, &[5; 8], false);
    let cookie = cookie.expect("a cookie from the first server");
    let before = counts(control_two);
    let (rc, back) = cookie_query(two.addr(), PLAIN, &cookie, false);
    assert_eq!(rc, rcode::NOERROR);
    assert_eq!(back, Some(cookie), "the second server returns it as valid");
    assert_eq!(counts(control_two)[2], before[2] + 1, "counted valid");
}

#[test]
fn a_generated_secret_is_kept_across_restarts() {
    let (mut server, control) = cookie_server("");
    let path = server.dir().join("data").join("cookie_secret");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(text.trim().len(), 32, "32 hex digits: {text:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
    }
    let (_, cookie) = cookie_query(server.addr(), PLAIN, &[6; 8], false);
    let cookie = cookie.expect("a cookie");
    server.restart(false);
    let (_, back) = cookie_query(server.addr(), PLAIN, &cookie, true);
    assert_eq!(back, Some(cookie), "still valid after a restart");
    assert_eq!(counts(control)[2], 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn with_cookies_off_the_option_is_ignored() {
    let (server, control) = cookie_server("cookies = false\n");
    for cookie in [vec![1; 8], vec![1; 12]] {
        let (rc, back) = cookie_query(server.addr(), PLAIN, &cookie, false);
        assert_eq!(rc, rcode::NOERROR, "{} octets", cookie.len());
        assert_eq!(back, None);
    }
    assert_eq!(counts(control), [0; 4]);
    assert!(!server.dir().join("data").join("cookie_secret").exists());
}

/// `dig +cookie`: the first answer's cookie, sent back with
/// `+cookie=HEX`, is shown `(good)` and counted valid. (dig says `good`
/// when the client half matches what it sent, so the count is what tells
/// a valid server cookie from one made with another secret.)
#[test]
fn dig_shows_the_returned_cookie_good() {
    let Some(dig) = which("dig") else {
        eprintln!("dig (bind9-dnsutils) is not installed: skipping the dig check");
        return;
    };
    let (server, control) = cookie_server(&format!("cookie_secret = \"{SECRET_A}\"\n"));
    let run = |cookie: &str| -> String {
        let mut cmd = Command::new(&dig);
        cmd.args([
            &format!("@{}", server.addr().ip()),
            "-p",
            &server.addr().port().to_string(),
            "+tries=2",
            "+time=2",
            cookie,
            PLAIN,
            "SOA",
        ]);
        let out = run_with_timeout(cmd, Duration::from_secs(20)).expect("dig runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cookie_line = |out: &str| -> String {
        out.lines()
            .find(|l| l.starts_with("; COOKIE: "))
            .unwrap_or_else(|| panic!("no COOKIE in dig's output:\n{out}"))
            .to_string()
    };
    let first = run("+cookie");
    let line = cookie_line(&first);
    let hex_cookie = line
        .split_whitespace()
        .nth(2)
        .expect("the cookie")
        .to_string();
    assert_eq!(hex_cookie.len(), 48, "{line}");
    let before = counts(control);
    let second = run(&format!("+cookie={hex_cookie}"));
    let line2 = cookie_line(&second);
    assert!(line2.ends_with("(good)"), "{line2}");
    assert!(
        line2.contains(&hex_cookie),
        "returned as it was sent: {line2}"
    );
    let after = counts(control);
    assert_eq!(
        after[2],
        before[2] + 1,
        "the second query's cookie is valid"
    );
}
