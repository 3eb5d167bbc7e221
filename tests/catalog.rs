//! Catalog zones (RFC 9432) through the real binary: a zonesync secondary
//! consuming a catalog adds, removes, regroups and keeps its member zones;
//! the catalog comes from a zonesync primary (a zone file) or from Knot
//! (`catalog-role: generate`).

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn member(origin: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 3600\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n"
    )
}

/// The catalog zone file of `catz`: `version` then `entries` (zone-file
/// lines).
fn catalog(serial: u32, version: &str, entries: &str) -> String {
    catalog_in("catz", serial, version, entries)
}

/// A catalog zone file for the catalog `origin`.
fn catalog_in(origin: &str, serial: u32, version: &str, entries: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 0\n@ SOA invalid. invalid. {serial} 3600 600 86400 0\n@ NS invalid.\n\
         version TXT \"{version}\"\n{entries}"
    )
}

fn rcode(addr: SocketAddr, name: &str) -> ResponseCode {
    query_udp(addr, name, RecordType::SOA, &QueryOpts::plain()).response_code()
}

/// The first message of an AXFR of `zone` over TCP.
fn axfr_rcode(addr: SocketAddr, zone: &str) -> ResponseCode {
    let q = build_query(zone, RecordType::AXFR, &QueryOpts::plain());
    let bytes = tcp_exchange(addr, &q, Duration::from_secs(5)).expect("AXFR answer");
    parse(&bytes).response_code()
}

/// The consumer: catalog `catz` from `primary`, templates `mirror`
/// (the default; no transfers out) and `fast` (transfers out allowed).
fn consumer_config(primary: SocketAddr) -> String {
    let control = free_addr();
    format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\n\
         [[zone]]\nname = \"catz\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n\
         [zone.catalog]\nrole = \"consumer\"\ntemplates = [\"mirror\", \"fast\"]\n\n\
         [[template]]\nname = \"mirror\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n\n\
         [[template]]\nname = \"fast\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n"
    )
}

#[test]
fn a_consumer_follows_its_catalog_member_by_member() {
    let c_addr = free_addr();
    let zones = ["a.example", "b.example", "c.example"];
    let mut config = String::from("[server]\nudp_workers = 1\nnotify_delay_ms = 0\n");
    let mut files: Vec<(String, String)> = Vec::new();
    for name in std::iter::once("catz").chain(zones) {
        config.push_str(&format!(
            "\n[[zone]]\nname = \"{name}\"\nfile = \"{name}.zone\"\nrole = \"primary\"\n\
             allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{c_addr}\"]\n"
        ));
        let text = match name {
            "catz" => catalog(
                1,
                "2",
                "m1.zones PTR a.example.\nm2.zones PTR b.example.\ngroup.m2.zones TXT \"fast\"\n",
            ),
            _ => member(name, 1),
        };
        files.push((format!("{name}.zone"), text));
    }
    let files_ref: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let p = Server::start(&config, &files_ref);
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("catz".into()),
        ..StartOptions::default()
    };
    let mut c = Server::start_with(&consumer_config(p.addr()), &[], &opts);
    let c_log = c.dir().join("server.log");
    let logs = || {
        let consumer = std::fs::read_to_string(&c_log).unwrap_or_default();
        format!("--- consumer ---\n{consumer}\n--- primary ---\n{}", p.log())
    };

    // Members appear; their group picks the template.
    wait_serial_at(c.addr(), "a.example", 1, WAIT, logs);
    wait_serial_at(c.addr(), "b.example", 1, WAIT, logs);
    assert_eq!(rcode(c.addr(), "c.example"), ResponseCode::Refused);
    assert_eq!(
        axfr_rcode(c.addr(), "a.example"),
        ResponseCode::Refused,
        "mirror"
    );
    assert_eq!(
        axfr_rcode(c.addr(), "b.example"),
        ResponseCode::NoError,
        "fast"
    );

    // b leaves (its copy is deleted), c arrives, a moves to the group
    // "fast" (served again with that template, not transferred anew).
    let load = |text: String| {
        p.rewrite("catz.zone", &text);
        p.signal("HUP");
    };
    let b_copy = c.dir().join("data/zones/b.example.snapshot");
    assert!(b_copy.exists());
    load(catalog(
        2,
        "2",
        "m1.zones PTR a.example.\ngroup.m1.zones TXT \"fast\"\nm3.zones PTR c.example.\n",
    ));
    wait_serial_at(c.addr(), "c.example", 1, WAIT, logs);
    assert!(
        wait_until(WAIT, || rcode(c.addr(), "b.example")
            == ResponseCode::Refused),
        "{}",
        logs()
    );
    assert!(!b_copy.exists(), "the removed member's copy is deleted");
    assert!(
        wait_until(WAIT, || axfr_rcode(c.addr(), "a.example")
            == ResponseCode::NoError),
        "a.example regrouped: {}",
        logs()
    );
    let a_transfers = |log: &str| {
        log.lines()
            .filter(|l| l.contains("a.example") && l.contains("AXFR sent"))
            .count()
    };
    assert_eq!(
        a_transfers(&p.log()),
        1,
        "regrouping keeps the copy: {}",
        p.log()
    );

    // Bad entries are left out one by one; the valid members stay.
    load(catalog(
        3,
        "2",
        "m1.zones PTR a.example.\ngroup.m1.zones TXT \"fast\"\nm3.zones PTR c.example.\n\
         two.zones PTR x.example.\ntwo.zones PTR y.example.\ndup.zones PTR c.example.\n",
    ));
    assert!(
        c.wait_for_log("two.zones: 2 PTR records", WAIT),
        "{}",
        logs()
    );
    assert!(c.wait_for_log("is already the member", WAIT), "{}", logs());
    assert_eq!(soa_serial_at(c.addr(), "a.example"), Some(1));
    assert_eq!(soa_serial_at(c.addr(), "c.example"), Some(1));
    assert_eq!(rcode(c.addr(), "x.example"), ResponseCode::Refused);

    // A catalog of another version is not used at all: nothing is dropped.
    load(catalog(4, "1", "m1.zones PTR a.example.\n"));
    assert!(
        c.wait_for_log("only catalog zones version \"2\"", WAIT),
        "{}",
        logs()
    );
    assert_eq!(soa_serial_at(c.addr(), "c.example"), Some(1));

    // Members survive a kill -9, served from their copies at once.
    let before = a_transfers(&p.log());
    c.restart(true);
    assert_eq!(soa_serial_at(c.addr(), "a.example"), Some(1), "{}", logs());
    assert_eq!(soa_serial_at(c.addr(), "c.example"), Some(1), "{}", logs());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        a_transfers(&p.log()),
        before,
        "no new transfer after the restart"
    );

    // A member changes on the primary: NOTIFY reaches the member zone.
    p.rewrite("c.example.zone", &member("c.example", 2));
    p.signal("HUP");
    wait_serial_at(c.addr(), "c.example", 2, WAIT, logs);

    // A member is removed from its catalog, not by hand.
    let mut cmd = zonesync();
    cmd.args(["ctl", "--config"])
        .arg(c.config_path())
        .args(["zone-remove", "c.example"]);
    let o = run_with_timeout(cmd, Duration::from_secs(30)).expect("ctl");
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && text.contains("a member of catalog catz"),
        "{o:?}"
    );
    assert_eq!(soa_serial_at(c.addr(), "c.example"), Some(2));
}

/// knotd on `conf_path`, its output in `dir`/knot.log; killed on drop.
fn spawn_knotd(knotd: &std::path::Path, dir: &TempDir, conf_path: &std::path::Path) -> KillOnDrop {
    let log = std::fs::File::create(dir.join("knot.log")).expect("knot.log");
    KillOnDrop(
        Command::new(knotd)
            .arg("-c")
            .arg(conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("knotd"),
    )
}

/// Knot generating a catalog of its zones; a zonesync consumer follows it
/// as members are configured and removed in Knot.
#[test]
fn a_consumer_follows_a_catalog_generated_by_knot() {
    let knotd = require_tool("knotd", "knot");
    let knotc = require_tool("knotc", "knot");
    let dir = TempDir::new("knot-catalog");
    let knot_addr = free_addr();
    let c_addr = free_addr();
    for z in ["a.example", "b.example", "c.example"] {
        dir.write(&format!("{z}.zone"), member(z, 1));
    }
    let conf = |members: &[(&str, Option<&str>)]| {
        let d = dir.path().display();
        let mut zones = String::from(
            "  - domain: catz.\n    catalog-role: generate\n    serial-policy: unixtime\n\
             \x20   acl: [open]\n    notify: [consumer]\n",
        );
        for (z, group) in members {
            zones.push_str(&format!(
                "  - domain: {z}.\n    storage: \"{d}\"\n    file: {z}.zone\n    zonefile-sync: -1\n\
                 \x20   catalog-role: member\n    catalog-zone: catz.\n    acl: [open]\n    notify: [consumer]\n"
            ));
            if let Some(g) = group {
                zones.push_str(&format!("    catalog-group: {g}\n"));
            }
        }
        format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    background-workers: 1\n\
             log:\n  - target: stderr\n    any: info\n\
             control:\n    listen: \"{d}/knot.sock\"\n\
             database:\n    storage: \"{d}\"\n\
             remote:\n  - id: consumer\n    address: {c_ip}@{c_port}\n\
             acl:\n  - id: open\n    address: 127.0.0.0/8\n    action: transfer\n\
             zone:\n{zones}",
            ip = knot_addr.ip(),
            port = knot_addr.port(),
            c_ip = c_addr.ip(),
            c_port = c_addr.port(),
        )
    };
    let conf_path: PathBuf = dir.write(
        "knot.conf",
        conf(&[("a.example", None), ("b.example", Some("fast"))]),
    );
    let _knot = spawn_knotd(&knotd, &dir, &conf_path);
    let knot_log = || std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default();
    // Knot answers queries for a catalog over TCP only (so the
    // consumer's SOA check falls back to TCP).
    assert!(
        wait_until(WAIT, || knot_log().contains("[catz.] loaded")),
        "{}",
        knot_log()
    );
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("catz".into()),
        ..StartOptions::default()
    };
    let c = Server::start_with(&consumer_config(knot_addr), &[], &opts);
    let logs = || {
        format!(
            "--- zonesync ---\n{}\n--- knot ---\n{}",
            c.log(),
            knot_log()
        )
    };
    wait_serial_at(c.addr(), "a.example", 1, WAIT, logs);
    wait_serial_at(c.addr(), "b.example", 1, WAIT, logs);
    assert_eq!(
        axfr_rcode(c.addr(), "b.example"),
        ResponseCode::NoError,
        "group fast"
    );
    assert_eq!(
        axfr_rcode(c.addr(), "a.example"),
        ResponseCode::Refused,
        "default"
    );

    // Knot's configuration changes: b.example leaves, c.example joins.
    dir.write(
        "knot.conf",
        conf(&[("a.example", None), ("c.example", None)]),
    );
    let mut cmd = Command::new(&knotc);
    cmd.arg("-c").arg(&conf_path).arg("reload");
    run_peer_tool(cmd, logs);
    wait_serial_at(c.addr(), "c.example", 1, WAIT, logs);
    assert!(
        wait_until(WAIT, || rcode(c.addr(), "b.example")
            == ResponseCode::Refused),
        "{}",
        logs()
    );
    assert_eq!(soa_serial_at(c.addr(), "a.example"), Some(1));
}

/// A zonesync primary producing `catz` from its configured zones and the
/// zones added with `ctl zone-add --template hosted`, NOTIFYing `notify`.
fn producer(notify: SocketAddr) -> (Server, SocketAddr) {
    let control = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 0\ncontrol = \"{control}\"\n\n\
         [[zone]]\nname = \"catz\"\nrole = \"primary\"\n[zone.catalog]\nrole = \"producer\"\n\
         [[zone]]\nname = \"a.example\"\nrole = \"primary\"\nfile = \"a.example.zone\"\n\
         catalog_zone = \"catz\"\ncatalog_group = \"fast\"\n\
         [[template]]\nname = \"hosted\"\nrole = \"primary\"\nfile = \"{{zone}}.zone\"\ncatalog_zone = \"catz\"\n"
    );
    // Every zone's transfer and NOTIFY settings (TOML: one table each).
    let config = config
        .replace(
            "role = \"primary\"\n",
            &format!(
                "role = \"primary\"\nallow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{notify}\"]\n"
            ),
        );
    let s = Server::start(
        &config,
        &[
            ("a.example.zone", &member("a.example", 1)),
            ("c.example.zone", &member("c.example", 3)),
        ],
    );
    assert!(
        s.wait_for_log("control interface listening", WAIT),
        "{}",
        s.log()
    );
    (s, control)
}

fn ctl(control: SocketAddr, args: &[&str]) -> std::process::Output {
    let mut cmd = zonesync();
    cmd.arg("ctl")
        .arg("--control")
        .arg(control.to_string())
        .args(args);
    run_with_timeout(cmd, Duration::from_secs(60)).expect("zonesync ctl")
}

#[test]
fn a_zonesync_producer_feeds_a_zonesync_consumer() {
    let c_addr = free_addr();
    let (p, p_ctl) = producer(c_addr);
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("catz".into()),
        ..StartOptions::default()
    };
    let c = Server::start_with(&consumer_config(p.addr()), &[], &opts);
    let logs = || {
        format!(
            "--- consumer ---\n{}\n--- producer ---\n{}",
            c.log(),
            p.log()
        )
    };
    wait_serial_at(c.addr(), "a.example", 1, WAIT, logs);
    assert_eq!(
        axfr_rcode(c.addr(), "a.example"),
        ResponseCode::NoError,
        "group fast"
    );
    let catz = soa_serial_at(p.addr(), "catz").expect("the catalog is served");

    // A zone added at run time joins the catalog: the catalog's serial
    // moves and the consumer serves the zone.
    let o = ctl(p_ctl, &["zone-add", "c.example", "--template", "hosted"]);
    assert!(o.status.success(), "{o:?}\n{}", logs());
    wait_serial_at(c.addr(), "c.example", 3, WAIT, logs);
    assert_eq!(soa_serial_at(p.addr(), "catz"), Some(catz + 1));
    assert_eq!(
        axfr_rcode(c.addr(), "c.example"),
        ResponseCode::Refused,
        "default template"
    );

    // Removed from the producer, removed from the consumer.
    let o = ctl(p_ctl, &["zone-remove", "c.example"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        wait_until(WAIT, || rcode(c.addr(), "c.example")
            == ResponseCode::Refused),
        "{}",
        logs()
    );
    assert_eq!(soa_serial_at(p.addr(), "catz"), Some(catz + 2));
    assert_eq!(soa_serial_at(c.addr(), "a.example"), Some(1));
}

/// Another vendor's `consumer` of the catalog [`producer`] makes: it
/// serves a.example, then c.example once it is added with `zone-add`, and
/// stops serving c.example once it is removed.
fn members_follow_the_producer(
    consumer: SocketAddr,
    p_ctl: SocketAddr,
    logs: impl Fn() -> String + Copy,
) {
    wait_serial_at(consumer, "a.example", 1, WAIT, logs);
    let o = ctl(p_ctl, &["zone-add", "c.example", "--template", "hosted"]);
    assert!(o.status.success(), "{o:?}");
    wait_serial_at(consumer, "c.example", 3, WAIT, logs);
    let o = ctl(p_ctl, &["zone-remove", "c.example"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        wait_until(WAIT, || rcode(consumer, "c.example")
            != ResponseCode::NoError),
        "{}",
        logs()
    );
    assert_eq!(soa_serial_at(consumer, "a.example"), Some(1));
}

/// Knot 3.2 consuming a catalog zonesync produces (`catalog-role:
/// interpret`, a template per group).
#[test]
fn knot_consumes_a_catalog_zonesync_produces() {
    let knotd = require_tool("knotd", "knot");
    let dir = TempDir::new("knot-consumer");
    let knot_addr = free_addr();
    let (p, p_ctl) = producer(knot_addr);
    let d = dir.path().display().to_string();
    let conf = format!(
        "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    background-workers: 1\n\
         log:\n  - target: stderr\n    any: info\n\
         control:\n    listen: \"{d}/knot.sock\"\n\
         database:\n    storage: \"{d}\"\n\
         remote:\n  - id: producer\n    address: {pip}@{pport}\n\
         acl:\n  - id: notify\n    address: 127.0.0.0/8\n    action: notify\n\
         template:\n  - id: default\n    storage: \"{d}\"\n\
         \x20 - id: mirror\n    storage: \"{d}\"\n    master: producer\n    acl: [notify]\n\
         \x20 - id: fast\n    storage: \"{d}\"\n    master: producer\n    acl: [notify]\n\
         zone:\n  - domain: catz.\n    master: producer\n    acl: [notify]\n\
         \x20   catalog-role: interpret\n    catalog-template: [mirror, fast]\n",
        ip = knot_addr.ip(),
        port = knot_addr.port(),
        pip = p.addr().ip(),
        pport = p.addr().port(),
    );
    let conf_path = dir.write("knot.conf", &conf);
    let _knot = spawn_knotd(&knotd, &dir, &conf_path);
    let logs = || {
        format!(
            "--- knot ---\n{}\n--- producer ---\n{}\n--- knot.conf ---\n{conf}",
            std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default(),
            p.log()
        )
    };
    members_follow_the_producer(knot_addr, p_ctl, logs);
}

/// BIND 9.18 consuming a catalog zonesync produces (`catalog-zones` with
/// `default-primaries`): members appear and leave. (BIND 9.18 does not
/// know the `group` property: it logs a.example's as an invalid record
/// and ignores it, as RFC 9432 §4.4 allows.)
#[test]
fn bind_consumes_a_catalog_zonesync_produces() {
    let dir = TempDir::new("bind-consumer");
    let port = free_port();
    let bind_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (p, p_ctl) = producer(bind_addr);
    let primary = format!("{} port {}", p.addr().ip(), p.addr().port());
    let options = format!(
        "    allow-new-zones yes;\n    notify no;\n    recursion no;\n    allow-notify {{ 127.0.0.0/8; }};\n\
         \x20   catalog-zones {{ zone \"catz\" default-primaries {{ {primary}; }} in-memory yes \
         min-update-interval 1; }};\n"
    );
    let rest = format!(
        "zone \"catz\" {{ type secondary; primaries {{ {primary}; }}; file \"catz.db\"; }};\n"
    );
    let conf = named_conf(&dir, bind_addr, &options, &rest);
    let _named = spawn_named(&dir, &conf, &["-d", "3"]);
    let logs = || {
        format!(
            "--- named ---\n{}\n--- producer ---\n{}",
            std::fs::read_to_string(dir.join(PEER_LOG)).unwrap_or_default(),
            p.log()
        )
    };
    members_follow_the_producer(bind_addr, p_ctl, logs);
}

/// A primary serving `catalogs` (name, file text) and `members` small
/// zones, NOTIFYing `notify`.
fn catalog_primary(catalogs: &[(&str, String)], members: &[String], notify: SocketAddr) -> Server {
    let mut config = String::from("[server]\nudp_workers = 1\nnotify_delay_ms = 0\n");
    let mut files: Vec<(String, String)> = Vec::new();
    for (name, text) in catalogs {
        files.push((format!("{name}.zone"), text.clone()));
    }
    for name in members {
        files.push((format!("{name}.zone"), member(name, 1)));
    }
    for (file, _) in &files {
        let name = file.trim_end_matches(".zone");
        config.push_str(&format!(
            "\n[[zone]]\nname = \"{name}\"\nfile = \"{file}\"\nrole = \"primary\"\n\
             allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{notify}\"]\n"
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    Server::start(&config, &refs)
}

/// Killed while it provisions 200 members (two transfers at a time), the
/// consumer comes back with every member either absent or complete, then
/// all of them.
#[test]
fn kill9_during_provisioning_leaves_members_absent_or_complete() {
    let c_addr = free_addr();
    let names: Vec<String> = (0..200).map(|i| format!("m{i}.example")).collect();
    let p = catalog_primary(&[("catz", catalog(1, "2", ""))], &names, c_addr);
    let config = consumer_config(p.addr())
        .replace("udp_workers = 1\n", "udp_workers = 1\nrefresh_limit = 2\n");
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("catz".into()),
        ..StartOptions::default()
    };
    let mut c = Server::start_with(&config, &[], &opts);
    let c_log = c.dir().join("server.log");
    let logs = || std::fs::read_to_string(&c_log).unwrap_or_default();
    wait_serial_at(c.addr(), "catz", 1, WAIT, logs);
    let entries: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("id{i}.zones PTR {n}.\n"))
        .collect();
    p.rewrite("catz.zone", &catalog(2, "2", &entries));
    p.signal("HUP");
    assert!(
        wait_until(WAIT, || soa_serial_at(c.addr(), "m0.example") == Some(1)
            || soa_serial_at(c.addr(), "m199.example") == Some(1)),
        "{}",
        logs()
    );
    c.restart(true);
    let complete = |name: &str| {
        let www = query_udp(
            c.addr(),
            &format!("www.{name}"),
            RecordType::A,
            &QueryOpts::plain(),
        );
        www.response_code() == ResponseCode::NoError && www.answers().len() == 1
    };
    let mut served = 0;
    for name in &names {
        match rcode(c.addr(), name) {
            ResponseCode::NoError => {
                assert_eq!(soa_serial_at(c.addr(), name), Some(1), "{name}");
                assert!(complete(name), "{name} is served incomplete\n{}", logs());
                served += 1;
            }
            ResponseCode::ServFail | ResponseCode::Refused => {}
            other => panic!("{name}: {other:?}\n{}", logs()),
        }
    }
    eprintln!("{served} of 200 members served right after the kill -9");
    for name in &names {
        wait_serial_at(c.addr(), name, 1, WAIT, logs);
        assert!(complete(name), "{name}");
    }
}

/// A member moves between two catalogs the consumer follows when the
/// first names the second in `coo` (RFC 9432 §4.4.1): same unique ID, so
/// its copy is kept; it then stays when the first catalog drops it.
#[test]
fn coo_moves_a_member_between_catalogs_keeping_its_copy() {
    let c_addr = free_addr();
    let p = catalog_primary(
        &[
            (
                "cat1",
                catalog_in("cat1", 1, "2", "x1.zones PTR x.example.\n"),
            ),
            ("cat2", catalog_in("cat2", 1, "2", "")),
        ],
        &["x.example".to_string()],
        c_addr,
    );
    let control = free_addr();
    let primary = p.addr();
    let config = format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\n\
         [[zone]]\nname = \"cat1\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n\
         [zone.catalog]\nrole = \"consumer\"\ntemplates = [\"mirror\"]\n\n\
         [[zone]]\nname = \"cat2\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n\
         [zone.catalog]\nrole = \"consumer\"\ntemplates = [\"mirror\"]\n\n\
         [[template]]\nname = \"mirror\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n"
    );
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("cat1".into()),
        ..StartOptions::default()
    };
    let c = Server::start_with(&config, &[], &opts);
    let logs = || {
        format!(
            "--- consumer ---\n{}\n--- primary ---\n{}",
            c.log(),
            p.log()
        )
    };
    wait_serial_at(c.addr(), "x.example", 1, WAIT, logs);
    let status = |c: &Server| {
        let mut cmd = zonesync();
        cmd.args(["ctl", "--json", "--config"])
            .arg(c.config_path())
            .arg("status");
        let o = run_with_timeout(cmd, Duration::from_secs(30)).expect("ctl status");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(
        status(&c).contains("\"catalog\":\"cat1\""),
        "{}",
        status(&c)
    );

    // cat2 lists it first, without coo in cat1: it stays cat1's.
    p.rewrite(
        "cat2.zone",
        &catalog_in("cat2", 2, "2", "x1.zones PTR x.example.\n"),
    );
    p.signal("HUP");
    assert!(
        c.wait_for_log("a member of catalog cat1", WAIT),
        "{}",
        logs()
    );
    // cat1 hands it over.
    p.rewrite(
        "cat1.zone",
        &catalog_in(
            "cat1",
            2,
            "2",
            "x1.zones PTR x.example.\ncoo.x1.zones PTR cat2.\n",
        ),
    );
    p.signal("HUP");
    wait_serial_at(c.addr(), "cat1", 2, WAIT, logs);
    // The consumer reads cat2 again once cat1 names it in coo.
    assert!(
        wait_until(WAIT, || status(&c).contains("\"catalog\":\"cat2\"")),
        "{}\n{}",
        status(&c),
        logs()
    );
    // cat1 drops it: it stays, cat2's.
    p.rewrite("cat1.zone", &catalog_in("cat1", 3, "2", ""));
    p.signal("HUP");
    wait_serial_at(c.addr(), "cat1", 3, WAIT, logs);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(soa_serial_at(c.addr(), "x.example"), Some(1), "{}", logs());
    let axfrs = p
        .log()
        .lines()
        .filter(|l| l.contains("x.example") && l.contains("AXFR sent"))
        .count();
    assert_eq!(axfrs, 1, "the copy was kept: {}", logs());
}

/// `zonesync verify --catalog`: every member of a catalog is checked,
/// without listing them.
#[test]
fn verify_checks_every_member_of_a_catalog() {
    let p = catalog_primary(
        &[(
            "catz",
            catalog(1, "2", "a1.zones PTR a.example.\nb1.zones PTR b.example.\n"),
        )],
        &["a.example".to_string(), "b.example".to_string()],
        free_addr(),
    );
    let pa = p.addr().to_string();
    let mut cmd = zonesync();
    cmd.args(["verify", "--catalog", "catz", "--primary", &pa, "--json"])
        .args(["--no-axfr-check", "--ns", &format!("ns1.example={pa}")]);
    let o = run_with_timeout(cmd, Duration::from_secs(60)).expect("verify");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}\n{}", p.log());
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let zones: Vec<String> = json["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .map(|z| format!("{} {}", z["zone"], z["status"]))
        .collect();
    assert_eq!(
        zones,
        ["\"a.example.\" \"OK\"", "\"b.example.\" \"OK\""],
        "{out}"
    );
}

/// A member that the operator then configures in the file is the
/// configuration's from the restart on: the catalog dropping it neither
/// stops it nor deletes its data.
#[test]
fn a_member_configured_later_is_never_removed_by_its_catalog() {
    let c_addr = free_addr();
    let p = catalog_primary(
        &[("catz", catalog(1, "2", "a1.zones PTR a.example.\n"))],
        &["a.example".to_string()],
        c_addr,
    );
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("catz".into()),
        ..StartOptions::default()
    };
    let body = consumer_config(p.addr());
    let mut c = Server::start_with(&body, &[], &opts);
    let c_log = c.dir().join("server.log");
    let logs = || std::fs::read_to_string(&c_log).unwrap_or_default();
    wait_serial_at(c.addr(), "a.example", 1, WAIT, logs);
    let configured = format!(
        "{body}\n[[zone]]\nname = \"a.example\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{}\" }}]\n",
        p.addr()
    );
    c.rewrite("zonesync.toml", &with_listen(&configured, c.addr()));
    c.restart(false);
    assert!(
        c.wait_for_log("no longer the catalog's", WAIT),
        "{}",
        logs()
    );
    p.rewrite("catz.zone", &catalog(2, "2", ""));
    p.signal("HUP");
    wait_serial_at(c.addr(), "catz", 2, WAIT, logs);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(soa_serial_at(c.addr(), "a.example"), Some(1), "{}", logs());
    assert!(c.dir().join("data/zones/a.example.snapshot").exists());
}
