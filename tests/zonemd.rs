//! ZONEMD (RFC 8976) end to end: a primary generating it (loads and
//! control transactions), a zonesync secondary verifying it on every
//! transfer (AXFR and IXFR), ldns-verify-zone accepting what is served;
//! a mismatching ZONEMD keeps the old version served and names zone,
//! serial and digests; `require` without ZONEMD serves nothing; a zone
//! signed by ldns-signzone with ZONEMD verifies; a signed zone cannot
//! have it generated.

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";

fn zone(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\nwww A {www}\n\
         sub NS ns.sub\nns.sub A 192.0.2.53\n"
    )
}

/// `kdig ZONEMD` at the apex: (serial, scheme, hash, digest) of each.
fn zonemd_at(addr: SocketAddr) -> Vec<(u32, u8, u8, String)> {
    let out = Command::new("kdig")
        .args(["+short", "+retry=2", "+time=2", "-p"])
        .arg(addr.port().to_string())
        .arg(format!("@{}", addr.ip()))
        .args(["example.com.", "ZONEMD"])
        .output()
        .expect("kdig (knot-dnsutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                f.get(3..)?.concat().to_ascii_lowercase(),
            ))
        })
        .collect()
}

/// The zone as `addr` transfers it, checked by ldns-verify-zone -Z.
fn ldns_verifies_transfer(addr: SocketAddr, dir: &TempDir) -> String {
    let mut cmd = zonesync();
    cmd.args(["xfr", "example.com", "--server", &addr.to_string()]);
    let out = run_with_timeout(cmd, Duration::from_secs(30)).expect("zonesync xfr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The transfer's closing SOA is the opening one again.
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.starts_with(";;")).collect();
    lines.pop();
    let path = dir.write("transferred.zone", lines.join("\n") + "\n");
    let check = Command::new("ldns-verify-zone")
        .arg("-Z")
        .arg(&path)
        .output()
        .expect("ldns-verify-zone (ldnsutils)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "ldns-verify-zone: {said}\n{text}");
    said
}

fn secondary_config(primary: SocketAddr, extra: &str) -> String {
    format!(
        "[server]\nudp_workers = 1\n\n[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"{primary}\" }}]\nallow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n{extra}"
    )
}

fn ctl(control: SocketAddr, args: &[&str]) -> String {
    let mut cmd = zonesync();
    cmd.args(["ctl", "--control", &control.to_string()])
        .args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(30)).expect("zonesync ctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ctl {args:?}: {text}");
    text
}

#[test]
fn a_generated_zonemd_follows_every_change_and_secondaries_verify_it() {
    let dir = TempDir::new("zonemd-gen");
    let secondary_addr = free_addr();
    let control = free_addr();
    let primary = Server::start(
        &format!(
            "[server]\nudp_workers = 1\ncontrol = \"{control}\"\nnotify_delay_ms = 0\n{}\
             allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{secondary_addr}\"]\n\
             zonemd_generate = \"sha384\"\nflush_delay = 0\n\
             [[zone.allow_update]]\nkey = \"ddns\"\n\
             [[key]]\nname = \"ddns\"\nsecret = \"{SECRET}\"\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &zone(10, "192.0.2.10"))],
    );
    let first = zonemd_at(primary.addr());
    assert_eq!(first.len(), 1, "{first:?}\n{}", primary.log());
    assert_eq!((first[0].0, first[0].1, first[0].2), (10, 1, 1));
    assert_eq!(first[0].3.len(), 96);
    ldns_verifies_transfer(primary.addr(), &dir);

    let secondary = Server::start_with(
        &secondary_config(primary.addr(), "zonemd = \"require\"\n"),
        &[],
        &StartOptions {
            addr: Some(secondary_addr),
            ..StartOptions::default()
        },
    );
    wait_serial_at(
        secondary.addr(),
        "example.com",
        10,
        Duration::from_secs(10),
        || secondary.log(),
    );
    assert!(
        secondary.wait_for_log("ZONEMD verified", Duration::from_secs(5)),
        "{}",
        secondary.log()
    );
    assert_eq!(zonemd_at(secondary.addr()), first);

    // A transaction: the ZONEMD moves with the serial, and IXFR carries
    // it (the secondary verifies the result).
    ctl(control, &["zone-begin", "example.com"]);
    ctl(
        control,
        &["zone-set", "example.com", "mail", "300", "A", "192.0.2.25"],
    );
    ctl(control, &["zone-commit", "example.com"]);
    wait_serial_at(
        secondary.addr(),
        "example.com",
        11,
        Duration::from_secs(10),
        || format!("{}\n{}", primary.log(), secondary.log()),
    );
    let second = zonemd_at(primary.addr());
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].0, 11);
    assert_ne!(second[0].3, first[0].3);
    assert_eq!(zonemd_at(secondary.addr()), second);
    assert!(
        secondary.log().contains("IXFR 10 -> 11"),
        "{}",
        secondary.log()
    );
    ldns_verifies_transfer(secondary.addr(), &dir);

    // An UPDATE: the same.
    let (ok, said) = run_update_client(
        "nsupdate",
        &["-y", &format!("hmac-sha256:ddns:{SECRET}")],
        primary.addr(),
        "example.com.",
        "update add ftp.example.com. 300 A 192.0.2.21\nsend\n",
    );
    assert!(ok, "{said}\n{}", primary.log());
    wait_serial_at(
        secondary.addr(),
        "example.com",
        12,
        Duration::from_secs(10),
        || format!("{}\n{}", primary.log(), secondary.log()),
    );
    assert_eq!(zonemd_at(secondary.addr())[0].0, 12);
    assert_eq!(zonemd_at(primary.addr()), zonemd_at(secondary.addr()));

    // A reload of an edited file (after the flush wrote the changes):
    // stamped again.
    assert!(
        primary.wait_for_log("zone file flushed", Duration::from_secs(10)),
        "{}",
        primary.log()
    );
    primary.rewrite("example.com.zone", &zone(13, "192.0.2.13"));
    primary.signal("HUP");
    wait_serial_at(
        secondary.addr(),
        "example.com",
        13,
        Duration::from_secs(10),
        || format!("{}\n{}", primary.log(), secondary.log()),
    );
    assert_eq!(zonemd_at(secondary.addr())[0].0, 13);
    ldns_verifies_transfer(secondary.addr(), &dir);
}

/// The zone as ldns-signzone makes it with ZONEMD (unsigned: -Z).
fn ldns_zonemd(dir: &TempDir, text: &str) -> String {
    let input = dir.write("ldns-in.zone", text);
    let output = dir.join("ldns-out.zone");
    let out = Command::new("ldns-signzone")
        .args(["-Z", "-z", "1:1", "-o", "example.com.", "-f"])
        .arg(&output)
        .arg(&input)
        .output()
        .expect("ldns-signzone (ldnsutils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(output).unwrap()
}

#[test]
fn a_mismatching_zonemd_keeps_the_old_version_on_the_secondary_and_the_primary() {
    let dir = TempDir::new("zonemd-mismatch");
    // The "scripted primary": a zonesync that does not check ZONEMD and
    // serves what its file says, right or wrong.
    let good = ldns_zonemd(&dir, &zone(20, "192.0.2.20"));
    let secondary_addr = free_addr();
    let primary = Server::start(
        &format!(
            "[server]\nudp_workers = 1\nnotify_delay_ms = 0\n{}\
             allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{secondary_addr}\"]\nzonemd = \"off\"\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &good)],
    );
    let secondary = Server::start_with(
        &secondary_config(primary.addr(), ""),
        &[],
        &StartOptions {
            addr: Some(secondary_addr),
            ..StartOptions::default()
        },
    );
    wait_serial_at(
        secondary.addr(),
        "example.com",
        20,
        Duration::from_secs(10),
        || secondary.log(),
    );
    // Serial 21 with a ZONEMD computed for other data.
    let bad = ldns_zonemd(&dir, &zone(21, "192.0.2.21")).replace("192.0.2.21", "192.0.2.66");
    primary.rewrite("example.com.zone", &bad);
    primary.signal("HUP");
    wait_serial_at(
        primary.addr(),
        "example.com",
        21,
        Duration::from_secs(10),
        || primary.log(),
    );
    assert!(
        secondary.wait_for_log(
            "ZONEMD digest mismatch at serial 21",
            Duration::from_secs(10)
        ),
        "{}",
        secondary.log()
    );
    let log = secondary.log();
    let line = log
        .lines()
        .find(|l| l.contains("ZONEMD digest mismatch"))
        .unwrap();
    assert!(line.contains("example.com"), "{line}");
    assert!(line.contains("the record says "), "{line}");
    assert_eq!(soa_serial_at(secondary.addr(), "example.com"), Some(20));
    // Retried, still refused, still the old version.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(soa_serial_at(secondary.addr(), "example.com"), Some(20));

    // A primary that verifies keeps its old version too.
    let checking = Server::start(
        &format!(
            "[server]\nudp_workers = 1\n{}",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &good)],
    );
    checking.rewrite("example.com.zone", &bad);
    checking.signal("HUP");
    assert!(
        checking.wait_for_log(
            "ZONEMD digest mismatch at serial 21",
            Duration::from_secs(10)
        ),
        "{}",
        checking.log()
    );
    assert_eq!(soa_serial_at(checking.addr(), "example.com"), Some(20));
}

#[test]
fn require_serves_no_zone_without_zonemd_and_a_signed_ldns_zone_verifies() {
    let dir = TempDir::new("zonemd-require");
    let plain = zone(30, "192.0.2.30");
    let s = Server::start(
        &format!(
            "[server]\nudp_workers = 1\n{}zonemd = \"require\"\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &plain)],
    );
    assert!(
        s.wait_for_log("has no ZONEMD that can be checked", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert_eq!(soa_serial_at(s.addr(), "example.com"), None, "{}", s.log());
    drop(s);

    // ldns-signzone -z 1:1 with a key: signed, ZONEMD signed; loads.
    let key = Command::new("ldns-keygen")
        .current_dir(dir.path())
        .args(["-a", "ECDSAP256SHA256", "-k", "example.com."])
        .output()
        .expect("ldns-keygen");
    let key = String::from_utf8_lossy(&key.stdout).trim().to_owned();
    let input = dir.write("in.zone", &plain);
    let signed = dir.join("signed.zone");
    let out = Command::new("ldns-signzone")
        .current_dir(dir.path())
        .args(["-z", "1:1", "-o", "example.com.", "-f"])
        .arg(&signed)
        .arg(&input)
        .arg(&key)
        .output()
        .expect("ldns-signzone");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = std::fs::read_to_string(signed).unwrap();
    let s = Server::start(
        &format!(
            "[server]\nudp_workers = 1\n{}zonemd = \"require\"\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &signed)],
    );
    assert!(
        s.wait_for_log("ZONEMD verified", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert_eq!(zonemd_at(s.addr()).len(), 1);

    // Generating ZONEMD for that signed zone is refused.
    let g = Server::start(
        &format!(
            "[server]\nudp_workers = 1\n{}zonemd_generate = \"sha384\"\n",
            zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", &signed)],
    );
    assert!(
        g.wait_for_log("must be signed too", Duration::from_secs(5)),
        "{}",
        g.log()
    );
    assert_eq!(soa_serial_at(g.addr(), "example.com"), None);
}

#[test]
fn verify_shows_each_servers_zonemd_and_flags_the_odd_ones() {
    let dir = TempDir::new("zonemd-verify");
    let primary = |file: &str, extra: &str| {
        format!(
            "[server]\nudp_workers = 1\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n{extra}",
            zone_entry("example.com", file)
        )
    };
    // a: generates it; b: serves ldns's ZONEMD for the same data (the
    // same record), but its file was edited since; c: generates one for
    // other data at the same serial.
    let a = Server::start(
        &primary("a.zone", "zonemd_generate = \"sha384\"\n"),
        &[("a.zone", &zone(40, "192.0.2.40"))],
    );
    let edited = ldns_zonemd(&dir, &zone(40, "192.0.2.40")).replace("192.0.2.40", "192.0.2.66");
    let b = Server::start(
        &primary("b.zone", "zonemd = \"off\"\n"),
        &[("b.zone", &edited)],
    );
    let c = Server::start(
        &primary("c.zone", "zonemd_generate = \"sha384\"\n"),
        &[("c.zone", &zone(40, "192.0.2.77"))],
    );
    let mut cmd = zonesync();
    cmd.args(["verify", "example.com", "--json"]);
    for (name, s) in [("ns1", &a), ("ns2", &b), ("ns3", &c)] {
        cmd.args(["--ns", &format!("{name}.example.com={}", s.addr())]);
    }
    let out = run_with_timeout(cmd, Duration::from_secs(60)).expect("zonesync verify");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let zone = &json["zones"][0];
    let verdicts: Vec<(String, Vec<String>)> = zone["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["code"].as_str().unwrap().to_owned(),
                v["servers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let has = |code: &str, server: &Server| {
        verdicts
            .iter()
            .any(|(c, s)| c == code && s.contains(&server.addr().to_string()))
    };
    assert!(has("zonemd-mismatch", &c), "{verdicts:?}");
    assert!(has("zonemd-invalid", &b), "{verdicts:?}");
    assert!(!has("zonemd-invalid", &a), "{verdicts:?}");
    assert_eq!(out.status.code(), Some(2), "CRITICAL");
    for row in zone["servers"].as_array().unwrap() {
        let zonemd = row["zonemd"].as_array().expect("each server's ZONEMD");
        assert_eq!(zonemd.len(), 1, "{row}");
        assert!(zonemd[0].as_str().unwrap().starts_with("40 1 1 "), "{row}");
        assert!(row["zonemd_transfer"].is_object(), "{row}");
    }

    // The table shows the digests.
    let mut cmd = zonesync();
    cmd.args(["verify", "example.com"]);
    for (name, s) in [("ns1", &a), ("ns2", &b)] {
        cmd.args(["--ns", &format!("{name}.example.com={}", s.addr())]);
    }
    let out = run_with_timeout(cmd, Duration::from_secs(60)).expect("zonesync verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ZONEMD"), "{text}");
    assert!(text.contains("(transfer verified)"), "{text}");
    assert!(text.contains("(transfer MISMATCH)"), "{text}");
}

#[test]
fn check_zone_verifies_a_zonemd_and_fails_a_mismatch() {
    let dir = TempDir::new("zonemd-check-zone");
    let good = ldns_zonemd(&dir, &zone(50, "192.0.2.50"));
    let check = |text: &str| {
        let path = dir.write("checked.zone", text);
        let mut cmd = zonesync();
        cmd.args(["check-zone", "--origin", "example.com"])
            .arg(&path);
        let out = run_with_timeout(cmd, Duration::from_secs(30)).expect("check-zone");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), said)
    };
    let (code, said) = check(&good);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("ZONEMD verified (sha384 "), "{said}");
    let (code, said) = check(&good.replace("192.0.2.50", "192.0.2.51"));
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("error: zone example.com.: ZONEMD digest mismatch at serial 50"),
        "{said}"
    );
}

#[test]
fn the_monitor_shows_each_servers_zonemd_and_whether_its_zone_matches() {
    let dir = TempDir::new("zonemd-monitor");
    let primary = |file: &str, extra: &str| {
        format!(
            "[server]\nudp_workers = 1\n{}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n{extra}",
            zone_entry("example.com", file)
        )
    };
    let a = Server::start(
        &primary("a.zone", "zonemd_generate = \"sha384\"\n"),
        &[("a.zone", &zone(60, "192.0.2.60"))],
    );
    let edited = ldns_zonemd(&dir, &zone(60, "192.0.2.60")).replace("192.0.2.60", "192.0.2.66");
    let b = Server::start(
        &primary("b.zone", "zonemd = \"off\"\n"),
        &[("b.zone", &edited)],
    );
    let dashboard = free_addr();
    let config = dir.write(
        "monitor.toml",
        format!(
            "[monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nalert_after = 0\n\n\
             [[monitor.zone]]\nname = \"example.com\"\nns = [\"ns1.example.com={}\", \"ns2.example.com={}\"]\n",
            a.addr(),
            b.addr()
        ),
    );
    let log = dir.join("monitor.log");
    let mut cmd = zonesync();
    cmd.args(["monitor", "--config"]).arg(&config);
    cmd.stderr(std::fs::File::create(&log).expect("log"));
    let _monitor = KillOnDrop(cmd.spawn().expect("zonesync monitor"));
    let servers = || -> Vec<serde_json::Value> {
        let (code, body) = http_get(dashboard, "/status");
        if code != 200 {
            return Vec::new();
        }
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        status["zones"][0]["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let shown = |s: &serde_json::Value| s["zonemd"].as_str().unwrap_or("").to_owned();
    let done = wait_until(Duration::from_secs(20), || {
        let v = servers();
        v.len() == 2 && v.iter().all(|s| shown(s).contains("(the zone transferred"))
    });
    assert!(
        done,
        "{:#?}\n{}",
        servers(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let v = servers();
    let of = |addr: SocketAddr| {
        v.iter()
            .find(|s| s["addr"].as_str() == Some(&addr.to_string()))
            .cloned()
            .expect("a row per server")
    };
    let (row_a, row_b) = (of(a.addr()), of(b.addr()));
    assert!(shown(&row_a).starts_with("60 1 1 "), "{row_a}");
    assert!(
        shown(&row_a).ends_with("(the zone transferred matches it)"),
        "{row_a}"
    );
    assert!(
        shown(&row_b).contains("does NOT match: ZONEMD digest mismatch at serial 60"),
        "{row_b}"
    );
    assert_eq!(row_b["status"], "different", "{row_b}");
    assert_eq!(row_a["status"], "ok", "{row_a}");
    // Looked at every second, transferred once per ZONEMD.
    std::thread::sleep(Duration::from_secs(3));
    let sent = a.log().matches("AXFR sent").count();
    assert_eq!(sent, 1, "{}", a.log());
}
