//! Zones added and removed while the server runs (`zonesync ctl
//! zone-add --template T`, `zone-remove`), through the real binary: a
//! primary and a secondary made from `[[template]]`s, served at once,
//! NOTIFY and IXFR between them, kept across a kill -9, removed with
//! their files.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn zone(origin: &str, serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 3600\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 192.0.2.53\n{extra}"
    )
}

fn ctl(control: SocketAddr, args: &[&str]) -> Output {
    let mut cmd = zonesync();
    cmd.arg("ctl").arg("--control").arg(control.to_string());
    cmd.args(args);
    run_with_timeout(cmd, Duration::from_secs(60)).expect("zonesync ctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rcode(addr: SocketAddr, name: &str) -> ResponseCode {
    query_udp(addr, name, RecordType::SOA, &QueryOpts::plain()).response_code()
}

/// A primary whose configured zone is `example.com` and whose template
/// `hosted` makes primaries from `{zone}.zone`, NOTIFYing `secondary`.
fn primary(secondary: SocketAddr) -> (Server, SocketAddr) {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 0\ncontrol = \"{control}\"\n\
         {}\n[[template]]\nname = \"hosted\"\nrole = \"primary\"\nfile = \"{{zone}}.zone\"\n\
         serial_policy = \"increment\"\nnotify = [\"{secondary}\"]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(
        &config,
        &[
            ("example.com.zone", &zone("example.com", 1, "")),
            (
                "example.org.zone",
                &zone("example.org", 7, "www A 192.0.2.1\n"),
            ),
            ("broken.test.zone", "$ORIGIN broken.test.\n@ SOA ns1 (\n"),
        ],
    );
    assert!(
        s.wait_for_log("control interface listening", WAIT),
        "{}",
        s.log()
    );
    (s, control)
}

/// A secondary whose template `mirror` follows `primary`.
fn secondary(addr: SocketAddr, primary: SocketAddr) -> (Server, SocketAddr) {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\n\
         [[template]]\nname = \"mirror\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n"
    );
    let opts = StartOptions {
        addr: Some(addr),
        ready_name: Some(".".into()),
        ..StartOptions::default()
    };
    let s = Server::start_with(&config, &[], &opts);
    assert!(
        s.wait_for_log("control interface listening", WAIT),
        "{}",
        s.log()
    );
    (s, control)
}

#[test]
fn zones_added_at_run_time_are_served_replicated_kept_and_removed() {
    let s_addr = free_addr();
    let (p, p_ctl) = primary(s_addr);
    let (mut s, s_ctl) = secondary(s_addr, p.addr());

    // Not served before it is added.
    assert_eq!(rcode(p.addr(), "example.org"), ResponseCode::Refused);
    let o = ctl(p_ctl, &["zone-add", "example.org", "--template", "hosted"]);
    assert!(o.status.success(), "{}\n{}", text(&o), p.log());
    assert!(
        text(&o).contains("example.org: added (primary, serial 7)"),
        "{}",
        text(&o)
    );
    assert_eq!(soa_serial_at(p.addr(), "example.org"), Some(7));

    let o = ctl(s_ctl, &["zone-add", "example.org", "--template", "mirror"]);
    assert!(o.status.success(), "{}\n{}", text(&o), s.log());
    wait_serial_at(s.addr(), "example.org", 7, WAIT, || s.log());

    // A change on the primary reaches the secondary by NOTIFY and IXFR:
    // the added zones are in the NOTIFY routing and the transfer path.
    p.rewrite(
        "example.org.zone",
        &zone("example.org", 8, "www A 192.0.2.1\nnew A 192.0.2.2\n"),
    );
    let o = ctl(p_ctl, &["reload", "example.org"]);
    assert!(o.status.success(), "{}", text(&o));
    wait_serial_at(s.addr(), "example.org", 8, WAIT, || s.log());
    let incremental = |l: &&str| {
        l.contains("example.org")
            && (l.contains("IXFR (incremental) sent") || l.contains("IXFR sent over UDP"))
    };
    assert!(
        wait_until(WAIT, || p.log().lines().any(|l| incremental(&l))),
        "{}",
        p.log()
    );
    let status = text(&ctl(s_ctl, &["status"]));
    assert!(status.contains("example.org"), "{status}");

    // Kept across a kill -9 of both, without a new transfer.
    s.restart(true);
    wait_serial_at(s.addr(), "example.org", 8, WAIT, || s.log());
    let mut p = p;
    p.restart(true);
    wait_serial_at(p.addr(), "example.org", 8, WAIT, || p.log());

    // Refusals: taken names, configured zones, unknown templates, a zone
    // file that does not load (nothing is served or kept for it).
    let o = ctl(p_ctl, &["zone-add", "example.org", "--template", "hosted"]);
    assert!(
        !o.status.success() && text(&o).contains("already served"),
        "{}",
        text(&o)
    );
    let o = ctl(p_ctl, &["zone-remove", "example.com"]);
    assert!(
        !o.status.success() && text(&o).contains("configuration file"),
        "{}",
        text(&o)
    );
    let o = ctl(p_ctl, &["zone-add", "example.net", "--template", "nope"]);
    assert!(
        !o.status.success() && text(&o).contains("no [[template]] named"),
        "{}",
        text(&o)
    );
    let o = ctl(p_ctl, &["zone-add", "broken.test", "--template", "hosted"]);
    assert!(
        !o.status.success() && text(&o).contains("not added"),
        "{}",
        text(&o)
    );
    assert_eq!(rcode(p.addr(), "broken.test"), ResponseCode::Refused);
    let added = std::fs::read_to_string(p.dir().join("data/added-zones.toml")).unwrap_or_default();
    assert!(
        added.contains("example.org") && !added.contains("broken.test"),
        "{added}"
    );

    // Removed: no longer served, its copy and journal gone, and still
    // gone after a restart.
    let snapshot = s.dir().join("data/zones/example.org.snapshot");
    assert!(snapshot.exists(), "the secondary's copy");
    let o = ctl(s_ctl, &["zone-remove", "example.org"]);
    assert!(o.status.success(), "{}\n{}", text(&o), s.log());
    assert!(text(&o).contains("example.org: removed"), "{}", text(&o));
    assert_eq!(rcode(s.addr(), "example.org"), ResponseCode::Refused);
    assert!(!snapshot.exists(), "the copy is deleted");
    assert!(!s.dir().join("data/journal/example.org.journal").exists());
    s.restart(false);
    assert_eq!(rcode(s.addr(), "example.org"), ResponseCode::Refused);
    let o = ctl(s_ctl, &["zone-remove", "example.org"]);
    assert!(!o.status.success(), "{}", text(&o));

    let o = ctl(p_ctl, &["zone-remove", "example.org"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(rcode(p.addr(), "example.org"), ResponseCode::Refused);
    assert!(
        p.file("example.org.zone").exists(),
        "the operator's zone file stays"
    );
}
