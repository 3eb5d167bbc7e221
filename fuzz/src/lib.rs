//! Helpers shared by the fuzz targets: zones built from text with
//! zonesync's own parser and builder, answerers over them, and the checks
//! every answer must pass. Only zonesync's public API is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::base::name::ParsedName;
use domain::base::Message;
use domain::rdata::AllRecordData;
use zonesync::query::{Answerer, QueryConfig, QueryStats, Transport};
use zonesync::tsig::{Keys, TsigKey};
use zonesync::zone::{SharedZoneTable, Zone, ZoneBuilder, ZoneTable, ZoneVersion};
use zonesync::zonefile::{parse_str, ParseOptions, ParsedZone};

/// The repository's root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ has a parent")
        .to_path_buf()
}

/// A zone name in wire form, from presentation text.
pub fn wire_name(text: &str) -> Vec<u8> {
    zonesync::config::parse_zone_name(text).expect("a valid zone name")
}

/// Parse options for fuzzed text: `$INCLUDE` confined to a directory that
/// does not exist (a fuzzed file must not read the disk), and `$GENERATE`
/// kept small so that one input cannot take seconds.
pub fn fuzz_parse_options(origin: &[u8]) -> ParseOptions {
    let mut opts = ParseOptions::new(origin.to_vec());
    opts.include_root = Some(PathBuf::from("/nonexistent/zonesync-fuzz"));
    opts.max_generate = 256;
    opts.max_include_depth = 2;
    opts
}

/// The file name fuzzed text is parsed as (inside the missing directory).
pub fn fuzz_file_name() -> &'static Path {
    Path::new("/nonexistent/zonesync-fuzz/fuzz.zone")
}

/// Parses `text` as a zone file of `origin`.
pub fn parse_text(origin: &[u8], text: &str) -> Option<ParsedZone> {
    parse_str(text, fuzz_file_name(), &fuzz_parse_options(origin)).ok()
}

/// Builds a version of `origin` from parsed records; `None` when the
/// records do not make a valid zone.
pub fn build(origin: &[u8], parsed: &ParsedZone) -> Option<ZoneVersion> {
    let mut b = ZoneBuilder::new(origin).ok()?;
    for r in &parsed.records {
        b.add(&r.owner, r.rtype, r.ttl, &r.rdata, None);
    }
    b.finish().ok().map(|(v, _warnings)| v)
}

/// Zone-file text → version, `None` if it does not parse or build.
pub fn version_from_text(origin: &[u8], text: &str) -> Option<ZoneVersion> {
    build(origin, &parse_text(origin, text)?)
}

/// A zone file of the repository (path relative to its root), loaded as
/// the server would; panics if it does not load (a broken fixture).
pub fn load_fixture(relative: &str, origin: &str) -> ZoneVersion {
    let path = repo_root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let origin = wire_name(origin);
    let mut opts = ParseOptions::new(origin.clone());
    opts.allow_include_anywhere = true;
    let parsed =
        parse_str(&text, &path, &opts).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    build(&origin, &parsed).unwrap_or_else(|| panic!("{}: does not build", path.display()))
}

/// The TSIG key the answer and tsig targets know.
pub fn fuzz_key() -> TsigKey {
    // 32 octets of 0x5a, base64.
    TsigKey::from_config(
        "fuzz-key.",
        "hmac-sha256",
        "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=",
    )
    .expect("a valid key")
}

/// An answerer over `versions`, knowing [`fuzz_key`].
pub fn answerer(versions: Vec<ZoneVersion>, config: QueryConfig) -> Answerer {
    let zones: Vec<Arc<Zone>> = versions
        .into_iter()
        .map(|v| {
            let zone = Arc::new(Zone::new(v.origin()).expect("a valid origin"));
            zone.publish(Arc::new(v));
            zone
        })
        .collect();
    let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new(zones)));
    let keys = Keys::new([fuzz_key()]).expect("one key");
    Answerer::new(table, config, Arc::new(QueryStats::default())).with_keys(Arc::new(keys))
}

type Rdata<'a> = AllRecordData<&'a [u8], ParsedName<&'a [u8]>>;

/// Checks an answer to `request`:
/// - it is a DNS message `domain` reads: header, question, and every
///   record of every section with its RDATA parsed by type;
/// - QR is set, the ID is the request's;
/// - over UDP it is at most 512 octets without EDNS, at most 1232 with
///   (QueryConfig's default `edns_udp_max`);
/// - when zonesync's own parser accepted the request, the answer echoes
///   its question octet for octet (name in the client's case, type,
///   class).
pub fn check_answer(request: &[u8], response: &[u8], transport: Transport) {
    let msg = Message::from_octets(response)
        .unwrap_or_else(|e| panic!("answer is not a DNS message: {e}"));
    let header = msg.header();
    assert!(header.qr(), "answer without QR");
    if request.len() >= 2 {
        assert_eq!(
            header.id(),
            u16::from_be_bytes([request[0], request[1]]),
            "answer ID is not the request's"
        );
    }
    for q in msg.question() {
        q.unwrap_or_else(|e| panic!("answer's question does not parse: {e}"));
    }
    let mut section = Some(
        msg.answer()
            .unwrap_or_else(|e| panic!("answer section does not parse: {e}")),
    );
    let mut index = 0;
    while let Some(records) = section {
        for rr in records {
            let rr = rr.unwrap_or_else(|e| panic!("section {index}: record does not parse: {e}"));
            let rtype = rr.rtype();
            match rr.into_record::<Rdata<'_>>() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("section {index}: record of type {rtype} not read as its type"),
                Err(e) => panic!("section {index}: RDATA of type {rtype} does not parse: {e}"),
            }
        }
        section = records
            .next_section()
            .unwrap_or_else(|e| panic!("section {}: does not parse: {e}", index + 1));
        index += 1;
    }
    let parsed = zonesync::wire::parse_request(request);
    if transport == Transport::Udp {
        assert!(
            response.len() <= 1232,
            "UDP answer of {} octets",
            response.len()
        );
        if let Ok(req) = &parsed {
            if req.edns.is_none() {
                assert!(
                    response.len() <= 512,
                    "UDP answer of {} octets to a request without EDNS",
                    response.len()
                );
            }
        }
    }
    if let Ok(req) = parsed {
        let q = req.question;
        let qdcount = u16::from_be_bytes([response[4], response[5]]);
        assert_eq!(
            qdcount, 1,
            "answer to a readable request without its question"
        );
        let end = 12 + q.name.len();
        assert_eq!(
            response.get(12..end),
            Some(q.name),
            "question name not echoed as sent"
        );
        let mut tail = [0u8; 4];
        tail[..2].copy_from_slice(&q.qtype.to_be_bytes());
        tail[2..].copy_from_slice(&q.qclass.to_be_bytes());
        assert_eq!(
            response.get(end..end + 4),
            Some(&tail[..]),
            "question type/class not echoed"
        );
    }
}

/// A scratch file of this process for targets that decode files
/// (snapshots, journals): in /dev/shm when there is one, so fsyncs are
/// cheap; `name` tells the targets apart.
pub fn scratch_path(name: &str) -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("zonesync-fuzz-{name}-{}", std::process::id()))
}
