//! The comparison on made-up probes (the network side is tested against
//! real servers in tests/verify.rs).

use super::probe::{Failure, Probe, RrsetKey, RrsetView, SoaSeen};
use super::verdict::{judge, RowStatus, Severity};
use super::*;
use crate::exchange::Transport;
use crate::serial::Serial;
use domain::base::iana::{Rcode, Rtype};
use std::time::Duration;

pub(super) fn options() -> Options {
    Options {
        resolver: None,
        parent_ns: Vec::new(),
        port: 53,
        primary: None,
        max_lag: 0,
        records: Vec::new(),
        axfr_check: true,
        zonemd_checks: None,
    }
}

fn view(rdata: &[&[u8]]) -> RrsetView {
    RrsetView {
        rcode: Rcode::NOERROR,
        ttl: Some(300),
        rdata: rdata.iter().map(|r| r.to_vec()).collect(),
        text: rdata.iter().map(|r| format!("{r:?}")).collect(),
    }
}

pub(super) fn answering(addr: &str, serial: u32) -> Probe {
    Probe {
        addr: addr.parse().unwrap(),
        result: Ok(SoaSeen {
            serial: Serial(serial),
            soa: view(&[&serial.to_be_bytes()]),
            rrsigs: view(&[]),
            rtt: Duration::from_micros(300),
            transport: Transport::Udp,
            nsid: None,
            expire: None,
            zoneversion: None,
        }),
        rcode: Some(Rcode::NOERROR),
        aa: Some(true),
        ns: None,
        ns_view: None,
        records: Vec::new(),
        axfr_open: Some(false),
        axfr_error: None,
        zonemd: None,
        zonemd_transfer: None,
    }
}

pub(super) fn failing(addr: &str, failure: Failure) -> Probe {
    Probe {
        result: Err(failure),
        ..answering(addr, 0)
    }
}

pub(super) fn target(name: &str, addr: &str) -> Target {
    Target {
        name: name.into(),
        addr: addr.parse().unwrap(),
        sources: BTreeSet::from([Source::Explicit]),
    }
}

pub(super) fn zone() -> Name<Vec<u8>> {
    parse_zone("example.com").unwrap()
}

fn codes(report: &ZoneReport) -> Vec<&'static str> {
    report.verdicts.iter().map(|v| v.code).collect()
}

#[test]
fn all_at_one_serial_is_ok() {
    let report = judge(
        &zone(),
        &options(),
        vec![target("a.", "127.0.0.1:53"), target("b.", "127.0.0.2:53")],
        vec![answering("127.0.0.1:53", 7), answering("127.0.0.2:53", 7)],
        NsSets::default(),
        Vec::new(),
    );
    assert_eq!(report.status, Severity::Ok, "{:?}", report.verdicts);
    assert!(report
        .rows
        .iter()
        .all(|r| r.status == RowStatus::Ok && r.lag == Some(0)));
}

#[test]
fn behind_is_measured_across_the_serial_wrap() {
    // RFC 1982: 2 is ahead of 4294967295 by 3.
    let report = judge(
        &zone(),
        &options(),
        vec![target("a.", "127.0.0.1:53"), target("b.", "127.0.0.2:53")],
        vec![
            answering("127.0.0.1:53", 4_294_967_295),
            answering("127.0.0.2:53", 2),
        ],
        NsSets::default(),
        Vec::new(),
    );
    assert_eq!(report.reference.as_ref().unwrap().serial, Serial(2));
    assert_eq!(report.rows[0].lag, Some(3));
    assert_eq!(report.rows[0].status, RowStatus::Behind);
    assert_eq!(codes(&report), ["serial-behind"]);
    assert_eq!(report.status, Severity::Critical);
    // Within --max-lag: accepted.
    let lenient = Options {
        max_lag: 3,
        ..options()
    };
    let report = judge(
        &zone(),
        &lenient,
        vec![target("a.", "127.0.0.1:53"), target("b.", "127.0.0.2:53")],
        vec![
            answering("127.0.0.1:53", 4_294_967_295),
            answering("127.0.0.2:53", 2),
        ],
        NsSets::default(),
        Vec::new(),
    );
    assert_eq!(report.status, Severity::Ok);
}

/// One nameserver at serial 11 and `--primary 127.0.0.9:53` answering
/// as `primary` does.
fn judge_with_primary(primary: Probe) -> ZoneReport {
    let mut primary_target = target("primary", "127.0.0.9:53");
    primary_target.sources = BTreeSet::from([Source::Primary]);
    let options = Options {
        primary: Some("127.0.0.9:53".parse().unwrap()),
        ..options()
    };
    judge(
        &zone(),
        &options,
        vec![target("a.", "127.0.0.1:53"), primary_target],
        vec![answering("127.0.0.1:53", 11), primary],
        NsSets::default(),
        Vec::new(),
    )
}

#[test]
fn a_server_ahead_of_the_primary_is_a_warning() {
    let report = judge_with_primary(answering("127.0.0.9:53", 10));
    let reference = report.reference.as_ref().unwrap();
    assert_eq!(
        (reference.serial, reference.source),
        (Serial(10), "primary")
    );
    assert_eq!(report.rows[0].status, RowStatus::Ahead);
    assert_eq!(report.rows[0].lag, Some(-1));
    assert_eq!(codes(&report), ["serial-ahead"]);
    assert_eq!(report.status, Severity::Warning);
}

#[test]
fn an_unanswering_primary_falls_back_to_the_highest() {
    let report = judge_with_primary(failing(
        "127.0.0.9:53",
        Failure::Unreachable("no answer".into()),
    ));
    assert_eq!(report.reference.as_ref().unwrap().source, "highest");
    assert_eq!(codes(&report), ["unreachable", "primary-unreachable"]);
}

#[test]
fn same_serial_different_records_names_the_minority() {
    let key = RrsetKey {
        owner: parse_zone("www.example.com").unwrap(),
        rtype: Rtype::A,
    };
    let with_a = |addr: &str, a: &[u8]| {
        let mut probe = answering(addr, 5);
        probe.records = vec![(key.clone(), Some(view(&[a])))];
        probe
    };
    let report = judge(
        &zone(),
        &options(),
        vec![
            target("a.", "127.0.0.1:53"),
            target("b.", "127.0.0.2:53"),
            target("c.", "127.0.0.3:53"),
        ],
        vec![
            with_a("127.0.0.1:53", &[192, 0, 2, 1]),
            with_a("127.0.0.2:53", &[192, 0, 2, 9]),
            with_a("127.0.0.3:53", &[192, 0, 2, 1]),
        ],
        NsSets::default(),
        Vec::new(),
    );
    assert_eq!(codes(&report), ["content-mismatch"]);
    let statuses: Vec<RowStatus> = report.rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [RowStatus::Ok, RowStatus::Different, RowStatus::Ok]
    );
    let verdict = &report.verdicts[0];
    assert_eq!(verdict.servers, ["127.0.0.2:53".parse().unwrap()]);
    assert!(
        verdict.message.contains("www.example.com./A"),
        "{}",
        verdict.message
    );
}

#[test]
fn addresses_of_one_name_that_disagree() {
    let report = judge(
        &zone(),
        &options(),
        vec![
            target("ns1.example.com.", "127.0.0.1:53"),
            target("ns1.example.com.", "[::1]:53"),
        ],
        vec![answering("127.0.0.1:53", 5), answering("[::1]:53", 4)],
        NsSets::default(),
        Vec::new(),
    );
    assert_eq!(codes(&report), ["serial-behind", "address-mismatch"]);
    assert_eq!(report.verdicts[1].servers.len(), 2);
}

#[test]
fn lame_unreachable_ns_sets_axfr_and_discovery() {
    let mut open = answering("127.0.0.1:53", 5);
    open.axfr_open = Some(true);
    let ns = NsSets {
        parent: Some(BTreeSet::from(["a.".to_owned(), "old.".to_owned()])),
        child: Some(BTreeSet::from(["a.".to_owned(), "b.".to_owned()])),
    };
    let report = judge(
        &zone(),
        &options(),
        vec![
            target("a.", "127.0.0.1:53"),
            target("b.", "127.0.0.2:53"),
            target("c.", "127.0.0.3:53"),
        ],
        vec![
            open,
            failing("127.0.0.2:53", Failure::Lame("answers REFUSED".into())),
            failing("127.0.0.3:53", Failure::Unreachable("no answer".into())),
        ],
        ns,
        vec!["c.: no address".into()],
    );
    assert_eq!(
        codes(&report),
        [
            "lame",
            "unreachable",
            "ns-mismatch",
            "axfr-open",
            "discovery"
        ]
    );
    let ns_mismatch = &report.verdicts[2].message;
    assert!(
        ns_mismatch.contains("old.") && ns_mismatch.contains("b."),
        "{ns_mismatch}"
    );
    assert_eq!(report.rows[1].status, RowStatus::Lame);
    assert_eq!(report.rows[2].status, RowStatus::Unreachable);
    assert_eq!(report.status, Severity::Critical);
}

#[test]
fn no_servers_is_unknown() {
    let report = judge(
        &zone(),
        &options(),
        Vec::new(),
        Vec::new(),
        NsSets::default(),
        Vec::new(),
    );
    assert_eq!(report.status, Severity::Unknown);
    assert_eq!(report.status.exit_code(), 3);
}

#[test]
fn command_line_pieces_parse() {
    assert_eq!(
        parse_ns("NS1.Example.com=127.0.0.2:5300", 53).unwrap(),
        (
            "ns1.example.com.".to_owned(),
            "127.0.0.2:5300".parse().unwrap()
        )
    );
    assert_eq!(
        parse_ns("ns1=::1", 5300).unwrap().1,
        "[::1]:5300".parse().unwrap()
    );
    assert!(parse_ns("ns1", 53).is_err());
    assert!(parse_addr("localhost", 53).is_err());
    let spec = RecordSpec::parse("www/a").unwrap();
    assert_eq!(spec.rtype, Rtype::A);
    assert_eq!(
        spec.key(&zone()).unwrap().owner,
        parse_zone("www.example.com").unwrap()
    );
    let apex = RecordSpec::parse("@/MX").unwrap().key(&zone()).unwrap();
    assert_eq!(apex.owner, zone());
    assert!(RecordSpec::parse("www").is_err());
    assert!(RecordSpec::parse("www/NOPE").is_err());
    let zones = parse_zones_file(
        "# zones\nexample.com\nexample.net ns1=127.0.0.2:53 # comment\n\n",
        &[("d.".to_owned(), "127.0.0.9:53".parse().unwrap())],
        53,
    )
    .unwrap();
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].ns[0].0, "d.");
    assert_eq!(zones[1].ns[0].0, "ns1.");
    assert!(parse_zones_file("example.com bad", &[], 53)
        .unwrap_err()
        .to_string()
        .starts_with("line 1"));
}
