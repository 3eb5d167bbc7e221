//! Differential test: zonesync against Knot DNS on the same zones.
//!
//! Both servers load the fixtures of `tests/differential/` (copied into a
//! temporary directory), each on its own free port on 127.0.0.1. A corpus
//! of a few thousand queries, generated deterministically from every owner
//! name of the fixtures (the names themselves, names below and above them,
//! case-flipped names, hand-picked edge cases), is sent to both over UDP
//! and TCP, with and without EDNS, and the answers are compared: rcode
//! (extended included), header flags, question, and each section as a
//! multiset of RRs (owner lower-cased, type, class, TTL, RDATA). When both
//! set TC only the header and rcode are compared; of the OPT record only its
//! presence and version.
//!
//! Differences that zonesync makes on purpose are in [`ALLOWED`], each with
//! the RFC text that justifies it. Everything else fails the test with a
//! report.
//!
//! Run: `cargo test --test differential_knot -- --nocapture`.
//! Skipped (passes, with a message) when `knotd` is not installed.
//! Environment:
//! - `KNOTD=/path/to/knotd`: use that binary (an error if it is missing);
//! - `ZONESYNC_TEST_KEEP=1`: keep the temporary directories (configs, zone
//!   copies, both servers' logs; see `tests/common`);
//! - `DIFF_TRACE=substring`: print both answers to every query whose name
//!   contains the substring.
//!
//! On failure the report is also written to
//! `target/tmp/differential_knot_report.txt`. Queries are built byte by
//! byte (to send any name, class and type, e.g. a literal `*` label or
//! TYPE65280) and responses parsed with `hickory_proto::op::Message`.

mod common;

use common::{free_port, Server, TempDir};
use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The zones (origin, fixture file); both servers serve all of them.
const ZONES: &[(&str, &str)] = &[
    ("example.com.", "example.com.zone"),
    ("example.net.", "example.net.zone"),
    ("child.example.com.", "child.example.com.zone"),
];

/// Stop sending queries after this long (the corpus normally takes far less).
const QUERY_BUDGET: Duration = Duration::from_secs(45);
/// How long each server gets to start and load its zones.
const START_BUDGET: Duration = Duration::from_secs(15);
const UDP_TIMEOUT: Duration = Duration::from_millis(800);
/// A lost UDP query is sent again at most this many times.
const UDP_RETRIES: usize = 3;
const TCP_TIMEOUT: Duration = Duration::from_secs(3);
/// Detailed mismatches shown in the failure report.
const REPORT_MAX: usize = 50;

// ---------------------------------------------------------------------------
// Deliberate differences
// ---------------------------------------------------------------------------

/// A difference from Knot that zonesync makes on purpose. Allowances
/// apply to single aspects of a comparison (one flag, the rcode, one
/// section), so an allowed difference never hides another one in the same
/// response.
struct Allowance {
    /// Why, citing the RFC.
    reason: &'static str,
    /// Whether this aspect (as produced by [`compare`]) of this query's
    /// answers is covered.
    applies: fn(&Query, &Norm, &Norm, &str) -> bool,
}

/// Every entry says why zonesync is right per the RFCs. Nothing is here
/// only to make the test pass.
const ALLOWED: &[Allowance] = &[
    // Knot 3.2 clears CD in every response. RFC 4035 §3.1.6: "A
    // security-aware name server MUST copy the CD bit from a query into
    // the corresponding response." zonesync copies it (query/mod.rs).
    Allowance {
        reason: "CD copied from the query (RFC 4035 §3.1.6 MUST); Knot 3.2 clears it",
        applies: |q, ours, knot, aspect| {
            aspect == "flag cd:1/0" && q.cd && ours.flags & CD != 0 && knot.flags & CD == 0
        },
    },
    // Names in RDATA whose case differs: zonesync compresses names against
    // earlier ones case-insensitively (wire/writer.rs), so a name in RDATA
    // may take the case of the question (e.g. NS ns1.EXaMplE.cOm. for a
    // query EXaMplE.cOm.), where Knot writes it as in the zone. Names are
    // case-insensitive (RFC 1035 §2.3.3, RFC 4343 §2); RFC 3597 §3 requires
    // case preservation only for names "not subject to compression", and
    // §7 notes that case distinctions "are lost due to compression" in the
    // RFC 1035 types that allow it. Covered only when the section is
    // identical once the RDATA of those types is lower-cased.
    Allowance {
        reason: "case of compressed RDATA names (RFC 4343 §2, RFC 3597 §3, §7)",
        applies: |_, ours, knot, aspect| {
            let fold = |v: &[String]| {
                let mut v: Vec<String> = v.iter().map(|r| fold_rdata_name_case(r)).collect();
                v.sort();
                v
            };
            match aspect {
                "answer" => fold(&ours.answer) == fold(&knot.answer),
                "authority" => fold(&ours.authority) == fold(&knot.authority),
                "additional" => fold(&ours.additional) == fold(&knot.additional),
                _ => false,
            }
        },
    },
    // QTYPE=RRSIG at a node with several signed RRsets: Knot 3.2 answers
    // with the signatures of one RRset only (a minimal answer, like RFC 8482
    // for ANY); zonesync answers with every RRSIG RR at the name, which is
    // RFC 1034 §4.3.2 step 3.a: "copy all RRs which match QTYPE into the
    // answer section". Covered only when Knot's answer is a non-empty part
    // of ours and everything else we add is an RRSIG owned by the qname.
    Allowance {
        reason:
            "QTYPE=RRSIG: all RRSIGs at the name (RFC 1034 §4.3.2 3.a); Knot 3.2 gives one RRset's",
        applies: |q, ours, knot, aspect| {
            let qname = q.name.to_ascii_lowercase();
            aspect == "answer"
                && q.qtype == 46
                && !knot.answer.is_empty()
                && knot.answer.iter().all(|r| ours.answer.contains(r))
                && ours.answer.iter().all(|r| {
                    knot.answer.contains(r)
                        || (r.starts_with(&format!("{qname} "))
                            && r.split(' ').nth(3) == Some("RRSIG"))
                })
        },
    },
];

/// A normalized RR with the RDATA lower-cased if its type is one whose
/// RDATA names may be compressed (RFC 3597 §4: the RFC 1035 types; not
/// SRV, RFC 2782, nor DNAME, RFC 6672 §2.5).
fn fold_rdata_name_case(rr: &str) -> String {
    let compressible = matches!(
        rr.split(' ').nth(3),
        Some("NS" | "CNAME" | "SOA" | "PTR" | "MX")
    );
    if compressible {
        rr.to_ascii_lowercase()
    } else {
        rr.to_string()
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn differential_against_knot() {
    let Some(knotd) = find_knotd() else {
        panic!("knotd (Knot DNS) is not installed: scripts/install-test-deps.sh installs it, or set KNOTD=/path/to/knotd");
    };
    let tmp = TempDir::new("differential-knot");
    let dir = tmp.path().to_path_buf();
    let zone_dir = dir.join("zones");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut zone_texts = Vec::new();
    for (origin, file) in ZONES {
        let text = std::fs::read_to_string(fixtures.join(file))
            .unwrap_or_else(|e| panic!("fixture {file}: {e}"));
        tmp.write(&format!("zones/{file}"), &text);
        zone_texts.push((*origin, text));
    }

    // Knot DNS, its files in `dir`.
    let knot_port = free_port();
    let knot_addr: SocketAddr = format!("127.0.0.1:{knot_port}").parse().unwrap();
    for d in ["knot-run", "knot-db"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    // zonefile-sync -1 and journal-content none: Knot never writes the
    // zone files or keeps state across runs; semantic-checks off: the
    // fixtures' fake DNSSEC records are served as they are.
    let mut knot_conf = format!(
        "server:\n    rundir: \"{run}\"\n    listen: 127.0.0.1@{knot_port}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n    identity: \"\"\n    version: \"\"\n    nsid: \"\"\n\
         database:\n    storage: \"{db}\"\n\
         log:\n  - target: stderr\n    any: warning\n\
         template:\n  - id: default\n    storage: \"{zones}\"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n\
         zone:\n",
        run = dir.join("knot-run").display(),
        db = dir.join("knot-db").display(),
        zones = zone_dir.display(),
    );
    for (origin, file) in ZONES {
        writeln!(knot_conf, "  - domain: {origin}\n    file: {file}").unwrap();
    }
    let knot_conf_path = tmp.write("knot.conf", &knot_conf);
    let mut knot = Proc::spawn(
        "knotd",
        Command::new(&knotd).arg("-c").arg(&knot_conf_path),
        &dir.join("knot.log"),
    );

    // zonesync, through the shared helper (its own directory, free port,
    // killed on drop).
    let mut ours_conf = String::from(
        "[server]\ndata_dir = \"zs-data\"\nedns_udp_max = 1232\nudp_workers = 1\ntcp_max_connections = 64\ntcp_idle_timeout = 5\n",
    );
    for (origin, file) in ZONES {
        write!(
            ours_conf,
            "\n[[zone]]\nname = \"{origin}\"\nfile = \"{file}\"\nrole = \"primary\"\n"
        )
        .unwrap();
    }
    let zone_files: Vec<(&str, &str)> = ZONES
        .iter()
        .zip(&zone_texts)
        .map(|((_, file), (_, text))| (*file, text.as_str()))
        .collect();
    let mut ours = Server::start(&ours_conf, &zone_files);

    let mut knot_client = Client::new(knot_addr);
    let mut ours_client = Client::new(ours.addr());
    wait_ready(&mut ours_client, &mut ours);
    wait_ready(&mut knot_client, &mut knot);

    // The corpus.
    let corpus = build_corpus(&zone_texts);
    assert!(corpus.len() >= 1000, "corpus too small: {}", corpus.len());

    // DIFF_TRACE=substring prints both answers of every query whose name
    // contains it.
    let trace = std::env::var("DIFF_TRACE")
        .ok()
        .map(|t| t.to_ascii_lowercase());
    let started = Instant::now();
    let mut mismatches: Vec<Mismatch> = Vec::new();
    let mut allowed: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut sent = 0usize;
    let (mut n_tcp, mut n_tc_both, mut n_silent) = (0usize, 0usize, 0usize);
    let mut rcodes: BTreeMap<String, usize> = BTreeMap::new();
    for (i, q) in corpus.iter().enumerate() {
        if started.elapsed() > QUERY_BUDGET {
            println!(
                "differential: time budget of {:?} used up after {i} of {} queries",
                QUERY_BUDGET,
                corpus.len()
            );
            break;
        }
        let id = (i as u16).wrapping_mul(7919).wrapping_add(1);
        let ours_res = ours_client.exchange(q, id);
        let knot_res = knot_client.exchange(q, id);
        sent += 1;
        n_tcp += q.tcp as usize;
        let (ours_n, knot_n) = (Norm::from_result(ours_res), Norm::from_result(knot_res));
        *rcodes
            .entry(if knot_n.error.is_some() {
                "none".into()
            } else {
                rcode_name(knot_n.rcode)
            })
            .or_default() += 1;
        if ours_n.silent() && knot_n.silent() {
            n_silent += 1;
        }
        if ours_n.flags & knot_n.flags & TC != 0 && !ours_n.silent() && !knot_n.silent() {
            n_tc_both += 1;
        }
        let mut diffs = compare(&ours_n, &knot_n);
        if trace
            .as_deref()
            .is_some_and(|t| q.name.to_ascii_lowercase().contains(t))
        {
            let mut out = format!("trace: {q}\n    differs: {diffs:?}\n    ours:\n");
            render(&ours_n, &knot_n, &mut out);
            out.push_str("    knot:\n");
            render(&knot_n, &ours_n, &mut out);
            println!("{out}");
        }
        diffs.retain(|aspect| {
            match ALLOWED
                .iter()
                .find(|a| (a.applies)(q, &ours_n, &knot_n, aspect))
            {
                Some(a) => {
                    *allowed.entry(a.reason).or_default() += 1;
                    false
                }
                None => true,
            }
        });
        if diffs.is_empty() {
            continue;
        }
        mismatches.push(Mismatch {
            query: q.clone(),
            ours: ours_n,
            knot: knot_n,
            diffs,
        });
    }
    let elapsed = started.elapsed();

    // Both servers must still be running: a crash is a failure of its own.
    let ours_alive = ours.is_running();
    let knot_alive = knot.alive();
    let ours_log = ours.log();
    drop(ours);
    drop(knot);

    println!(
        "differential: {sent} queries ({n_tcp} over TCP, {n_tc_both} truncated by both, {n_silent} unanswered by both) in {:.1}s, {} mismatches, {} allowed differences",
        elapsed.as_secs_f64(),
        mismatches.len(),
        allowed.values().sum::<usize>()
    );
    println!(
        "  Knot's rcodes: {}",
        rcodes
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (reason, n) in &allowed {
        println!("  allowed x{n}: {reason}");
    }
    assert!(
        ours_alive,
        "zonesync exited during the test; log:\n{ours_log}"
    );
    assert!(
        knot_alive,
        "knotd exited during the test; log:\n{}",
        read_log(&dir.join("knot.log"))
    );
    if !mismatches.is_empty() {
        let report = report(&mismatches, sent);
        // Also kept as a file for reading at leisure.
        let _ = std::fs::write(
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential_knot_report.txt"),
            &report,
        );
        panic!("{report}");
    }
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

const TC: u16 = 0x0200;
const AA: u16 = 0x0400;
const RD: u16 = 0x0100;
const CD: u16 = 0x0010;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edns {
    size: u16,
    dnssec_ok: bool,
    version: u8,
}

#[derive(Clone, Debug)]
struct Query {
    /// Absolute, in presentation form, with the case it is sent in.
    name: String,
    qtype: u16,
    qclass: u16,
    edns: Option<Edns>,
    rd: bool,
    cd: bool,
    tcp: bool,
}

impl Query {
    fn new(name: &str, qtype: u16) -> Query {
        Query {
            name: name.to_string(),
            qtype,
            qclass: 1,
            edns: None,
            rd: false,
            cd: false,
            tcp: false,
        }
    }

    fn wire(&self, id: u16) -> Vec<u8> {
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(&id.to_be_bytes());
        let flags = if self.rd { RD } else { 0 } | if self.cd { CD } else { 0 };
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(self.edns.is_some())]);
        for label in self
            .name
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
        {
            assert!(label.len() < 64, "label too long in {}", self.name);
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&self.qtype.to_be_bytes());
        m.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(e) = self.edns {
            m.push(0); // root
            m.extend_from_slice(&41u16.to_be_bytes());
            m.extend_from_slice(&e.size.to_be_bytes());
            m.push(0); // extended rcode
            m.push(e.version);
            m.extend_from_slice(&(if e.dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
            m.extend_from_slice(&0u16.to_be_bytes());
        }
        m
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.name)?;
        if self.qclass != 1 {
            write!(f, "{} ", class_name(self.qclass))?;
        }
        write!(
            f,
            "{} {}",
            type_name(self.qtype),
            if self.tcp { "tcp" } else { "udp" }
        )?;
        match self.edns {
            None => write!(f, " no-edns")?,
            Some(e) => {
                write!(f, " edns={}", e.size)?;
                if e.dnssec_ok {
                    write!(f, " +do")?;
                }
                if e.version != 0 {
                    write!(f, " version={}", e.version)?;
                }
            }
        }
        if self.rd {
            write!(f, " +rd")?;
        }
        if self.cd {
            write!(f, " +cd")?;
        }
        Ok(())
    }
}

fn type_name(t: u16) -> String {
    let s = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        39 => "DNAME",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        255 => "ANY",
        _ => return format!("TYPE{t}"),
    };
    s.to_string()
}

fn class_name(c: u16) -> String {
    match c {
        1 => "IN".into(),
        3 => "CH".into(),
        255 => "ANY".into(),
        _ => format!("CLASS{c}"),
    }
}

/// The query types asked: the common ones, DNSSEC ones, meta ANY, and
/// types nobody holds (99 = SPF, none in the zones; 65280 is held by one
/// name).
const QTYPES: &[u16] = &[
    1, 28, 2, 6, 5, 39, 15, 16, 33, 43, 255, 46, 99, 65280, 48, 12,
];

/// xorshift64*: deterministic, good enough to pick cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Owner names of a fixture, absolute and in the case written. The
/// fixtures write one record per line, owner first (`@`, relative or
/// absolute), so this needs no real zone-file parser.
fn owners(origin: &str, text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if line.starts_with(char::is_whitespace) || first.starts_with(';') || first.starts_with('$')
        {
            continue;
        }
        let name = if first == "@" {
            origin.to_string()
        } else if first.ends_with('.') {
            first.to_string()
        } else {
            format!("{first}.{origin}")
        };
        if !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    out
}

fn random_label(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
    let len = 1 + rng.below(12);
    (0..len)
        .map(|i| {
            let set = if i == 0 || i == len - 1 {
                &CHARS[..36]
            } else {
                CHARS
            };
            set[rng.below(set.len())] as char
        })
        .collect()
}

fn flip_case(name: &str, rng: &mut Rng) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() && rng.chance(50) {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn parent(name: &str) -> String {
    match name.split_once('.') {
        Some((_, rest)) if !rest.is_empty() => rest.to_string(),
        _ => ".".to_string(),
    }
}

/// Hand-picked names for the cases of RFC 1034 §4.3.2, RFC 4592, RFC 6672
/// that owners alone do not reach.
fn edge_names() -> Vec<String> {
    let mut v: Vec<String> = [
        // outside every zone: REFUSED
        ".",
        "com.",
        "net.",
        "example.org.",
        "www.example.org.",
        "xexample.com.",
        "example.com.example.org.",
        // wildcards (RFC 4592 §2.2.1, §3.3.1)
        "*.wild.example.com.",
        "*.sub.wild.example.com.",
        "*.example.com.",
        "x.wild.example.com.",
        "a.b.wild.example.com.",
        "x.*.wild.example.com.",
        "x.sub.wild.example.com.",
        "ent.wild.example.com.",
        "x.ent.wild.example.com.",
        "*.ent.wild.example.com.",
        "x.wild2.example.com.",
        "*.wild2.example.com.",
        "x.real.wild2.example.com.",
        "x.wcname.example.com.",
        "a.b.wchain.example.com.",
        "x.wcnx.example.com.",
        "x.wc.example.net.",
        "*.wc.example.net.",
        // empty non-terminals
        "c.example.com.",
        "b.c.example.com.",
        "x.b.c.example.com.",
        "ent.example.com.",
        "b.ent.example.com.",
        // DNAME (RFC 6672): to another zone, far below, in zone, to a cut
        "x.dn.example.com.",
        "www.dn.example.com.",
        "a.b.c.d.e.f.g.h.dn.example.com.",
        "host.dloc.example.com.",
        "alias.dloc.example.com.",
        "nothere.dloc.example.com.",
        "x.host.dloc.example.com.",
        "ns.dsub.example.com.",
        "x.y.dsub.example.com.",
        // delegations
        "host.sub.example.com.",
        "a.b.sub.example.com.",
        "x.sibling.example.com.",
        "x.ext.example.com.",
        "x.inz.example.com.",
        "x.child.example.com.",
        "grand.child.example.com.",
        "x.grand.child.example.com.",
        "ns.grand.child.example.com.",
        "x.bigdel.example.com.",
        "nothing.example.net.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // DNAME substitution length (RFC 6672 §2.2): dlong's target is 217
    // octets, so a 37-octet label fits (255) and a 38-octet one does not.
    for len in [30usize, 37, 38, 40, 60] {
        v.push(format!("{}.dlong.example.com.", "q".repeat(len)));
    }
    v.push(format!(
        "{}.{}.dlong.example.com.",
        "r".repeat(20),
        "s".repeat(20)
    ));
    v
}

fn random_edns(rng: &mut Rng) -> Option<Edns> {
    let size = match rng.below(50) {
        0..=14 => return None,
        15 => 100, // below 512: to be treated as 512 (RFC 6891 §6.2.5)
        16..=24 => 512,
        25..=39 => 1232,
        _ => 4096,
    };
    Some(Edns {
        size,
        dnssec_ok: rng.chance(50),
        version: if rng.chance(2) { 1 } else { 0 },
    })
}

fn randomize(mut q: Query, rng: &mut Rng) -> Query {
    q.edns = random_edns(rng);
    q.rd = rng.chance(50);
    q.cd = rng.chance(25);
    q.tcp = rng.chance(15);
    q
}

fn build_corpus(zones: &[(&str, String)]) -> Vec<Query> {
    let mut rng = Rng(0x5eed_d1ff_0000_0001);
    let mut corpus = Vec::new();
    let mut owner_names = Vec::new();
    for (origin, text) in zones {
        owner_names.extend(owners(origin, text));
    }
    // Every owner and edge name with every query type.
    let mut full: Vec<String> = owner_names.clone();
    full.extend(edge_names());
    for name in &full {
        for &t in QTYPES {
            corpus.push(randomize(Query::new(name, t), &mut rng));
        }
    }
    // Names derived from the owners, each with a few types.
    for name in &owner_names {
        let derived = [
            flip_case(name, &mut rng),
            format!("{}.{name}", random_label(&mut rng)),
            format!(
                "{}.{}.{name}",
                random_label(&mut rng),
                random_label(&mut rng)
            ),
            flip_case(&parent(name), &mut rng),
        ];
        for d in derived {
            for _ in 0..4 {
                let t = QTYPES[rng.below(QTYPES.len())];
                corpus.push(randomize(Query::new(&d, t), &mut rng));
            }
        }
    }
    // Large answers: each transport and size, DO on and off (RFC 1035
    // §4.2.1, RFC 6891 §7, RFC 7766).
    let large: &[(&str, u16)] = &[
        ("big.example.com.", 16),
        ("many.example.com.", 1),
        ("mid.example.com.", 16),
        ("bigdel.example.com.", 2),
        ("x.bigdel.example.com.", 1),
        ("bigmx.example.com.", 15),
        ("example.com.", 2),
        ("example.com.", 15),
        ("big.example.com.", 255),
        ("many.example.com.", 255),
        ("x.wild.example.com.", 15),
        ("mx.example.com.", 15),
    ];
    let transports: &[(bool, Option<u16>)] = &[
        (false, None),
        (false, Some(512)),
        (false, Some(1232)),
        (false, Some(4096)),
        (true, None),
        (true, Some(4096)),
    ];
    for &(name, t) in large {
        for &(tcp, size) in transports {
            for dnssec_ok in [false, true] {
                if size.is_none() && dnssec_ok {
                    continue;
                }
                let mut q = Query::new(name, t);
                q.tcp = tcp;
                q.edns = size.map(|size| Edns {
                    size,
                    dnssec_ok,
                    version: 0,
                });
                corpus.push(q);
            }
        }
    }
    // A few other classes (RFC 1035 §3.2.5 QCLASS, RFC 6895 §3.1).
    for name in [
        "example.com.",
        "www.example.com.",
        "nothere.example.com.",
        "example.org.",
    ] {
        for class in [3u16, 255, 4] {
            for t in [1u16, 6] {
                let mut q = Query::new(name, t);
                q.qclass = class;
                corpus.push(randomize(q, &mut rng));
            }
        }
    }
    corpus
}

// ---------------------------------------------------------------------------
// Talking to the servers
// ---------------------------------------------------------------------------

struct Client {
    addr: SocketAddr,
    udp: UdpSocket,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.connect(addr).unwrap();
        Client { addr, udp }
    }

    /// The response to `q`, or why there is none.
    fn exchange(&mut self, q: &Query, id: u16) -> Result<Vec<u8>, String> {
        let msg = q.wire(id);
        if q.tcp {
            self.tcp(&msg).or_else(|_| self.tcp(&msg))
        } else {
            self.udp(&msg, id)
        }
    }

    fn udp(&mut self, msg: &[u8], id: u16) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; 65535];
        for _ in 0..=UDP_RETRIES {
            self.udp.send(msg).map_err(|e| format!("send: {e}"))?;
            let deadline = Instant::now() + UDP_TIMEOUT;
            // Bounded: each pass waits for the socket, which has a timeout,
            // and the deadline ends the loop.
            for _ in 0..64 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.udp.set_read_timeout(Some(left)).unwrap();
                match self.udp.recv(&mut buf) {
                    Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                        return Ok(buf[..n].to_vec())
                    }
                    Ok(_) => continue, // a late answer to an earlier query
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
        }
        Err(format!("no UDP answer after {} tries", UDP_RETRIES + 1))
    }

    fn tcp(&mut self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let mut s = TcpStream::connect_timeout(&self.addr, TCP_TIMEOUT)
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(TCP_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TCP_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        s.write_all(&framed)
            .map_err(|e| format!("tcp write: {e}"))?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len)
            .map_err(|e| format!("tcp read length: {e}"))?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf)
            .map_err(|e| format!("tcp read: {e}"))?;
        Ok(buf)
    }
}

// ---------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------

/// A response reduced to what is compared.
#[derive(Debug, Clone, Default)]
struct Norm {
    /// Why there is no (parsable) response.
    error: Option<String>,
    /// The header's flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, and
    /// the low four bits of the rcode).
    flags: u16,
    /// The full rcode, with the OPT's upper bits.
    rcode: u16,
    question: Vec<String>,
    answer: Vec<String>,
    authority: Vec<String>,
    /// Without the OPT.
    additional: Vec<String>,
    /// The OPT's version, if there is an OPT.
    opt: Option<u8>,
    len: usize,
}

impl Norm {
    fn from_result(r: Result<Vec<u8>, String>) -> Norm {
        match r {
            Err(e) => Norm {
                error: Some(e),
                ..Norm::default()
            },
            Ok(bytes) => Norm::parse(&bytes),
        }
    }

    fn silent(&self) -> bool {
        self.error.is_some() && self.len == 0
    }

    fn parse(bytes: &[u8]) -> Norm {
        if bytes.len() < 12 {
            return Norm {
                error: Some(format!("response of {} octets", bytes.len())),
                len: bytes.len(),
                ..Norm::default()
            };
        }
        let flags = u16::from_be_bytes([bytes[2], bytes[3]]);
        let msg = match Message::from_vec(bytes) {
            Ok(m) => m,
            Err(e) => {
                return Norm {
                    error: Some(format!("unparsable response: {e}")),
                    flags,
                    rcode: flags & 0xf,
                    len: bytes.len(),
                    ..Norm::default()
                }
            }
        };
        let rr = |r: &hickory_proto::rr::Record| {
            let data = match r.data() {
                Some(RData::Unknown { code, rdata }) => {
                    unknown_rdata(u16::from(*code), rdata.anything())
                }
                Some(d) => d.to_string(),
                None => "<empty>".to_string(),
            };
            format!(
                "{} {} {} {} {}",
                r.name().to_lowercase(),
                r.ttl(),
                r.dns_class(),
                type_name(u16::from(r.record_type())),
                data
            )
        };
        let sorted = |rs: &[hickory_proto::rr::Record]| {
            let mut v: Vec<String> = rs.iter().map(rr).collect();
            v.sort();
            v
        };
        let edns = msg.extensions().as_ref();
        Norm {
            error: None,
            flags,
            rcode: (u16::from(edns.map_or(0, |e| e.rcode_high())) << 4) | (flags & 0xf),
            question: msg
                .queries()
                .iter()
                .map(|q| {
                    format!(
                        "{} {} {}",
                        q.name(),
                        class_name(u16::from(q.query_class())),
                        type_name(u16::from(q.query_type()))
                    )
                })
                .collect(),
            answer: sorted(msg.answers()),
            authority: sorted(msg.name_servers()),
            additional: sorted(msg.additionals()),
            opt: edns.map(|e| e.version()),
            len: bytes.len(),
        }
    }
}

/// RDATA of a type hickory-proto does not know (without its dnssec
/// feature: DNAME, DS, RRSIG, DNSKEY, ...): DNAME as its target name (never
/// compressed, RFC 6672 §2.5), others in the RFC 3597 generic form.
fn unknown_rdata(code: u16, data: &[u8]) -> String {
    if code == 39 {
        let mut name = String::new();
        let mut i = 0;
        while let Some(&len) = data.get(i) {
            if len == 0 {
                break;
            }
            let Some(label) = data.get(i + 1..i + 1 + len as usize) else {
                break;
            };
            name.push_str(&String::from_utf8_lossy(label));
            name.push('.');
            i += 1 + len as usize;
        }
        if i + 1 == data.len() {
            return if name.is_empty() { ".".into() } else { name };
        }
    }
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    if code == 46 && data.len() >= 2 {
        // Say which type an RRSIG covers, for the reader of the report.
        let covered = u16::from_be_bytes([data[0], data[1]]);
        return format!("({}) \\# {} {hex}", type_name(covered), data.len());
    }
    format!("\\# {} {hex}", data.len())
}

fn rcode_name(r: u16) -> String {
    match r {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        _ => format!("RCODE{r}"),
    }
}

fn flag_names(f: u16) -> String {
    let mut s = String::new();
    for (bit, name) in [
        (0x8000, "qr"),
        (AA, "aa"),
        (TC, "tc"),
        (RD, "rd"),
        (0x0080, "ra"),
        (0x0040, "z"),
        (0x0020, "ad"),
        (CD, "cd"),
    ] {
        if f & bit != 0 {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(name);
        }
    }
    let opcode = (f >> 11) & 0xf;
    if opcode != 0 {
        write!(s, " opcode={opcode}").unwrap();
    }
    s
}

/// The aspects in which two responses differ, each a short label usable as
/// a category ("rcode NOERROR/NXDOMAIN", "flag aa:1/0", "answer", ...;
/// values are ours/knot); empty = same.
fn compare(ours: &Norm, knot: &Norm) -> Vec<String> {
    let mut d = Vec::new();
    // No answer, or none that parses: compared as such, not further.
    if ours.error.is_some() || knot.error.is_some() {
        let state = |n: &Norm| match (&n.error, n.len) {
            (None, _) => "answered",
            (Some(_), 0) => "no answer",
            (Some(_), _) => "unparsable answer",
        };
        if state(ours) != state(knot) || (ours.len > 0 && ours.len != knot.len) {
            d.push(format!("response {}/{}", state(ours), state(knot)));
        }
        return d;
    }
    if ours.rcode != knot.rcode {
        d.push(format!(
            "rcode {}/{}",
            rcode_name(ours.rcode),
            rcode_name(knot.rcode)
        ));
    }
    let fdiff = (ours.flags ^ knot.flags) & !0xf;
    for (bit, name) in [
        (AA, "aa"),
        (TC, "tc"),
        (RD, "rd"),
        (CD, "cd"),
        (0x8000, "qr"),
        (0x0080, "ra"),
        (0x0020, "ad"),
        (0x0040, "z"),
        (0x7800, "opcode"),
    ] {
        if fdiff & bit != 0 {
            let (o, k) = (ours.flags & bit, knot.flags & bit);
            if bit == 0x7800 {
                d.push(format!("flag opcode:{}/{}", o >> 11, k >> 11));
            } else {
                d.push(format!(
                    "flag {name}:{}/{}",
                    u8::from(o != 0),
                    u8::from(k != 0)
                ));
            }
        }
    }
    if ours.flags & knot.flags & TC != 0 {
        return d;
    }
    if ours.question != knot.question {
        d.push("question".into());
    }
    for (name, a, b) in [
        ("answer", &ours.answer, &knot.answer),
        ("authority", &ours.authority, &knot.authority),
        ("additional", &ours.additional, &knot.additional),
    ] {
        if a != b {
            d.push(name.into());
        }
    }
    if ours.opt != knot.opt {
        d.push(format!("opt {:?}/{:?}", ours.opt, knot.opt));
    }
    d
}

struct Mismatch {
    query: Query,
    ours: Norm,
    knot: Norm,
    diffs: Vec<String>,
}

fn render(n: &Norm, other: &Norm, out: &mut String) {
    if let Some(e) = &n.error {
        writeln!(out, "      error: {e}").unwrap();
        if n.len == 0 {
            return;
        }
    }
    writeln!(
        out,
        "      {} [{}] opt={:?} {} octets",
        rcode_name(n.rcode),
        flag_names(n.flags),
        n.opt,
        n.len
    )
    .unwrap();
    if n.question != other.question {
        writeln!(out, "      question: {:?}", n.question).unwrap();
    }
    for (name, rs, others) in [
        ("an", &n.answer, &other.answer),
        ("ns", &n.authority, &other.authority),
        ("ar", &n.additional, &other.additional),
    ] {
        for r in rs {
            // Mark the records the other side does not have.
            let mark = if others.contains(r) { ' ' } else { '*' };
            writeln!(out, "      {name}{mark} {r}").unwrap();
        }
    }
}

/// A mismatch's category: the aspects that differ, the kind of query
/// type, and whether a side repeats an RR (a sign of a loop).
fn category(m: &Mismatch) -> String {
    let group = match m.query.qtype {
        255 | 46 | 43 | 2 => type_name(m.query.qtype),
        _ if m.query.qclass != 1 => format!("class {}", class_name(m.query.qclass)),
        _ => "other qtypes".to_string(),
    };
    let dup = |n: &Norm| {
        [&n.answer, &n.authority, &n.additional]
            .iter()
            .any(|v| v.windows(2).any(|w| w[0] == w[1]))
    };
    let mut key = format!("{} [{group}]", m.diffs.join("; "));
    if dup(&m.ours) {
        key.push_str(" [ours repeats RRs]");
    }
    if dup(&m.knot) {
        key.push_str(" [knot repeats RRs]");
    }
    key
}

fn report(mismatches: &[Mismatch], sent: usize) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "\ndifferential: {sent} queries, {} mismatches against Knot DNS",
        mismatches.len()
    )
    .unwrap();
    // Categories: the set of aspects that differ.
    let mut cats: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, m) in mismatches.iter().enumerate() {
        cats.entry(category(m)).or_default().push(i);
    }
    writeln!(
        out,
        "\n{} categories (count: differing aspects, ours/knot -- first query):",
        cats.len()
    )
    .unwrap();
    for (cat, idx) in &cats {
        writeln!(
            out,
            "  {:5}: {cat} -- {}",
            idx.len(),
            mismatches[idx[0]].query
        )
        .unwrap();
    }
    // One example of each category first, then others, up to REPORT_MAX.
    let mut shown: Vec<usize> = cats.values().map(|v| v[0]).collect();
    shown.sort();
    for i in 0..mismatches.len() {
        if shown.len() >= REPORT_MAX {
            break;
        }
        if !shown.contains(&i) {
            shown.push(i);
        }
    }
    shown.truncate(REPORT_MAX);
    writeln!(
        out,
        "\n{} of {} mismatches (records marked * are not in the other answer):",
        shown.len(),
        mismatches.len()
    )
    .unwrap();
    for &i in &shown {
        let m = &mismatches[i];
        writeln!(
            out,
            "\n  query: {}\n    differs: {}",
            m.query,
            m.diffs.join("; ")
        )
        .unwrap();
        writeln!(out, "    ours:").unwrap();
        render(&m.ours, &m.knot, &mut out);
        writeln!(out, "    knot:").unwrap();
        render(&m.knot, &m.ours, &mut out);
    }
    writeln!(
        out,
        "\ndifferential: {sent} queries, {} mismatches",
        mismatches.len()
    )
    .unwrap();
    out
}

// ---------------------------------------------------------------------------
// Processes, ports, temporary directory
// ---------------------------------------------------------------------------

fn find_knotd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KNOTD") {
        // Asked for explicitly: not finding it is an error, not a skip.
        let p = PathBuf::from(p);
        assert!(p.is_file(), "KNOTD={} is not a file", p.display());
        return Some(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("knotd"))
        .find(|p| p.is_file())
}

/// A server process, stopped (SIGTERM, then SIGKILL) and reaped on drop,
/// also when the test panics.
struct Proc {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Proc {
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name,
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SIGTERM first so that Knot closes its databases cleanly.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

fn read_log(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A server process being watched: zonesync ([`Server`]) or Knot ([`Proc`]).
trait Watched {
    fn name(&self) -> &str;
    fn running(&mut self) -> bool;
    fn log_text(&self) -> String;
}

impl Watched for Server {
    fn name(&self) -> &str {
        "zonesync"
    }
    fn running(&mut self) -> bool {
        self.is_running()
    }
    fn log_text(&self) -> String {
        self.log()
    }
}

impl Watched for Proc {
    fn name(&self) -> &str {
        self.name
    }
    fn running(&mut self) -> bool {
        self.alive()
    }
    fn log_text(&self) -> String {
        read_log(&self.log)
    }
}

/// Waits until the server behind `client` answers an SOA query for every
/// zone authoritatively; panics with its log if it exits or takes longer
/// than [`START_BUDGET`].
fn wait_ready(client: &mut Client, server: &mut impl Watched) {
    let deadline = Instant::now() + START_BUDGET;
    // Bounded by the deadline and by the count (each pass takes 100 ms or more).
    for attempt in 0..1000u16 {
        let ready = ZONES.iter().all(|(origin, _)| {
            let msg = Query::new(origin, 6).wire(0xf000 | attempt);
            client.udp.send(&msg).is_ok() && {
                let mut buf = [0u8; 4096];
                client.udp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                // NOERROR with AA: the zone is loaded.
                matches!(client.udp.recv(&mut buf), Ok(n) if n >= 12 && buf[..2] == msg[..2] && buf[3] & 0xf == 0 && buf[2] & 0x04 != 0)
            }
        });
        if ready {
            return;
        }
        if !server.running() {
            panic!(
                "{} exited at start-up; log:\n{}",
                server.name(),
                server.log_text()
            );
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} did not answer within {START_BUDGET:?}; log:\n{}",
        server.name(),
        server.log_text()
    );
}
