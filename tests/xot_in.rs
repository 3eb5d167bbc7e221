//! XoT in (RFC 9103): zonesync secondaries whose primaries are reached
//! over TLS (`primaries = [{ address, tls = { … } }]`), from zonesync
//! primaries whose transfer rules require TLS, so that nothing can come
//! in clear. AXFR, then NOTIFY (over UDP) and IXFR over TLS; a CA with a
//! server name, a pin, mutual TLS, the opportunistic profile; TLS
//! failures (wrong CA, wrong pin, an expired certificate, a client
//! certificate missing) transfer nothing, keep the old version and say
//! why in one line; a TLS primary is never asked in clear, a plain one
//! beside it is asked as it is configured; catalog members made from a
//! template with TLS primaries; TLS files that cannot be used are
//! configuration errors. Certificates from `common::Pki`; everything on
//! loopback; every wait bounded.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
/// A zone's transfer, a refresh's outcome in the log.
const WAIT: Duration = Duration::from_secs(15);

fn key_table() -> String {
    format!("\n[[key]]\nname = \"xfr-key\"\nsecret = \"{SECRET}\"\n")
}

/// A zonesync primary with a TLS listener (certificate `cert` of the
/// PKI): `zones` are (name, serial, rules), each from its own file, with
/// NOTIFY to `notify` when given. The plain listener is the server's
/// `addr()`, the TLS one is returned beside it.
fn primary(
    pki: &Pki,
    cert: &str,
    server_extra: &str,
    zones: &[(&str, u32, &str)],
    notify: Option<SocketAddr>,
) -> (Server, SocketAddr) {
    let tls = free_addr();
    let mut config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ntls_listen = [\"{tls}\"]\n\
         tls_certificate = \"{}\"\ntls_key = \"{}\"\n{server_extra}\n",
        pki.path(&format!("{cert}.pem")),
        pki.path(&format!("{cert}.key")),
    );
    let mut files = Vec::new();
    for (name, serial, rules) in zones {
        let file = format!("{name}.zone");
        config.push_str(&zone_entry(name, &file));
        config.push_str(&format!("allow_transfer = [{rules}]\n"));
        if let Some(to) = notify {
            config.push_str(&format!("notify = [\"{to}\"]\n"));
        }
        files.push((file, hosts_a_zone(name, *serial, 20)));
    }
    config.push_str(&key_table());
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, z)| (f.as_str(), z.as_str()))
        .collect();
    (Server::start(&config, &files), tls)
}

/// A secondary `[[zone]]` of `name` with these primaries (inline tables).
fn secondary_zone(name: &str, primaries: &[String]) -> String {
    format!(
        "\n[[zone]]\nname = \"{name}\"\nrole = \"secondary\"\nprimaries = [{}]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        primaries.join(", ")
    )
}

/// `{ address = "ADDR", tls = { TLS } }` (`tls` empty: a plain primary).
fn over(addr: SocketAddr, tls: &str) -> String {
    if tls.is_empty() {
        format!("{{ address = \"{addr}\" }}")
    } else {
        format!("{{ address = \"{addr}\", tls = {{ {tls} }} }}")
    }
}

/// A zonesync secondary on `addr` with `body` (`[[zone]]` tables and
/// more) and `server_extra` in `[server]`.
fn secondary(addr: SocketAddr, server_extra: &str, body: &str) -> Server {
    let config = format!(
        "[server]\nudp_workers = 1\n{server_extra}\n{body}{}",
        key_table()
    );
    let opts = StartOptions {
        addr: Some(addr),
        ..StartOptions::default()
    };
    Server::start_with(&config, &[], &opts)
}

fn rcode(addr: SocketAddr, zone: &str) -> ResponseCode {
    query_udp(addr, zone, RecordType::SOA, &QueryOpts::plain()).response_code()
}

/// Waits for a log line holding every needle; the line, or a panic with
/// the log.
fn log_line(s: &Server, needles: &[&str]) -> String {
    let find = || {
        s.log()
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
    };
    wait_until(WAIT, || find().is_some());
    find().unwrap_or_else(|| panic!("no log line with {needles:?}:\n{}", s.log()))
}

fn all_logs(servers: &[&Server]) -> String {
    let logs: Vec<String> = servers.iter().map(|s| s.log()).collect();
    logs.join("\n-----\n")
}

// ---------------------------------------------------------------------------

#[test]
fn a_secondary_transfers_over_tls_and_follows_notify_by_ixfr_over_tls() {
    let pki = Pki::new();
    let s_addr = free_addr();
    // TSIG and TLS both required: nothing is sent in clear to anyone.
    let (p, p_tls) = primary(
        &pki,
        "ns1",
        "",
        &[("example.com", 1, "{ key = \"xfr-key\", tls = true }")],
        Some(s_addr),
    );
    let tls = format!(
        "ca = \"{}\", server_name = \"ns1.example.com\"",
        pki.path("ca.pem")
    );
    let entry = format!("{{ address = \"{p_tls}\", key = \"xfr-key\", tls = {{ {tls} }} }}");
    let mut s = secondary(s_addr, "", &secondary_zone("example.com", &[entry]));
    wait_serial_at(s_addr, "example.com", 1, WAIT, || all_logs(&[&p, &s]));
    assert_eq!(axfr_record_count(s_addr, "example.com"), 24 + 1);
    log_line(&s, &[&format!("AXFR (none) -> 1 from {p_tls} over TLS")]);

    // A change: NOTIFY over UDP from the primary's address (another
    // port than the TLS one), then IXFR over TLS at once.
    p.rewrite("example.com.zone", &hosts_a_zone("example.com", 2, 21));
    let t0 = Instant::now();
    p.signal("HUP");
    wait_serial_at(s_addr, "example.com", 2, WAIT, || all_logs(&[&p, &s]));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "NOTIFY started the refresh: {:?}",
        t0.elapsed()
    );
    log_line(&s, &["NOTIFY received"]);
    log_line(
        &s,
        &[&format!("IXFR 1 -> 2 from {p_tls} over TLS"), "on NOTIFY"],
    );
    log_line(&p, &["IXFR (incremental) sent"]);
    assert_eq!(axfr_record_count(s_addr, "example.com"), 25 + 1);
    let p_log = p.log();
    assert!(
        !p_log.contains("reason=") && !p_log.contains("plain DNS over TCP"),
        "nothing was asked in clear or refused:\n{p_log}"
    );

    // The primary's key changes under the secondary's pin: the next
    // change is not taken, the old version stays served, one line says
    // which zone, which primary and why.
    let config = std::fs::read_to_string(s.config_path()).unwrap();
    let pinned = config.replace(&tls, &format!("pin = \"{}\"", pki.pin("server")));
    assert_ne!(pinned, config);
    std::fs::write(s.config_path(), pinned).unwrap();
    s.restart(false);
    assert_eq!(soa_serial_at(s_addr, "example.com"), Some(2), "restored");
    p.rewrite("example.com.zone", &hosts_a_zone("example.com", 3, 22));
    p.signal("HUP");
    // The IXFR the NOTIFY asks for first, then the round of SOA queries.
    log_line(
        &s,
        &[
            &format!("{p_tls}: IXFR: TLS failed: the server's key"),
            "is not the pinned one",
        ],
    );
    let line = log_line(&s, &["refresh failed", "example.com"]);
    assert!(
        line.contains(&format!(
            "{p_tls}: SOA query over TLS: TLS failed: the server's key"
        )) && line.contains("is not the pinned one"),
        "{line}"
    );
    assert_eq!(soa_serial_at(s_addr, "example.com"), Some(2), "kept");
}

#[test]
fn tls_failures_transfer_nothing_and_say_why_in_one_line() {
    let pki = Pki::new();
    let control = free_addr();
    let over_tls = "{ from = \"127.0.0.0/8\", tls = true }";
    let client_ca = format!("tls_client_ca = \"{}\"\n", pki.path("ca.pem"));
    let (a, a_tls) = primary(
        &pki,
        "server",
        &client_ca,
        &[
            ("wrong-ca.example", 1, over_tls),
            ("wrong-pin.example", 1, over_tls),
            ("no-cert.example", 1, "{ client_cert = true }"),
            ("with-cert.example", 1, "{ client_cert = true }"),
            ("insecure.example", 1, over_tls),
        ],
        None,
    );
    let (b, b_tls) = primary(
        &pki,
        "expired",
        "",
        &[("expired.example", 1, over_tls)],
        None,
    );
    let ca = format!("ca = \"{}\"", pki.path("ca.pem"));
    let zones = [
        (
            "wrong-ca.example",
            over(a_tls, &format!("ca = \"{}\"", pki.path("other-ca.pem"))),
        ),
        (
            "wrong-pin.example",
            over(a_tls, &format!("pin = \"{}\"", pki.pin("client"))),
        ),
        ("expired.example", over(b_tls, &ca)),
        ("no-cert.example", over(a_tls, &ca)),
        (
            "with-cert.example",
            over(
                a_tls,
                &format!(
                    "{ca}, cert = \"{}\", cert_key = \"{}\"",
                    pki.path("client.pem"),
                    pki.path("client.key")
                ),
            ),
        ),
        ("insecure.example", over(a_tls, "insecure = true")),
    ];
    let body: String = zones
        .iter()
        .map(|(name, p)| secondary_zone(name, std::slice::from_ref(p)))
        .collect();
    let s = secondary(free_addr(), &format!("control = \"{control}\"\n"), &body);
    let logs = || all_logs(&[&s, &a, &b]);

    // Mutual TLS and the opportunistic profile transfer.
    wait_serial_at(s.addr(), "with-cert.example", 1, WAIT, logs);
    wait_serial_at(s.addr(), "insecure.example", 1, WAIT, logs);
    assert_eq!(axfr_record_count(s.addr(), "insecure.example"), 25);

    // The others: one line each naming the zone, the primary and why.
    let failed = [
        (
            "wrong-ca.example",
            a_tls,
            "not signed by a CA of tls.ca (UnknownIssuer)",
        ),
        ("wrong-pin.example", a_tls, "is not the pinned one"),
        (
            "expired.example",
            b_tls,
            "the server's certificate has expired",
        ),
    ];
    for (zone, from, why) in failed {
        let line = log_line(&s, &["refresh failed", zone, why]);
        assert!(
            line.contains(&format!("{from}: SOA query over TLS: TLS failed: ")),
            "{line}"
        );
    }
    // Without the client certificate the handshake passes (a query needs
    // none) and the transfer is refused by the rule, which the primary
    // explains.
    let line = log_line(&s, &["refresh failed", "no-cert.example", "REFUSED"]);
    assert!(
        line.contains(&format!("{a_tls}: IXFR: ")) || line.contains(&format!("{a_tls}: AXFR: ")),
        "{line}"
    );
    log_line(&a, &["no-cert.example", "reason=no client certificate"]);
    log_line(&b, &["TLS handshake failed"]);

    for (zone, ..) in failed {
        assert_eq!(rcode(s.addr(), zone), ResponseCode::ServFail, "{zone}");
    }
    assert_eq!(rcode(s.addr(), "no-cert.example"), ResponseCode::ServFail);

    // Counted as failed refreshes.
    let (status, metrics) = http_get(control, "/metrics");
    assert_eq!(status, 200, "{metrics}");
    for zone in ["wrong-ca", "wrong-pin", "expired", "no-cert"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("zonesync_transfers_in_total{")
                    && l.contains(&format!("zone=\"{zone}.example"))
                    && l.contains("result=\"failed\"")
            })
            .unwrap_or_else(|| panic!("no failed counter of {zone}:\n{metrics}"));
        assert!(!line.ends_with(" 0"), "{line}");
    }
    // Nothing went in clear to the TLS ports.
    assert!(!a.log().contains("plain DNS over TCP"), "{}", a.log());
    assert!(!b.log().contains("plain DNS over TCP"), "{}", b.log());
}

#[test]
fn a_tls_primary_is_never_asked_in_clear_and_a_plain_one_is_asked_as_configured() {
    let pki = Pki::new();
    // P1 allows transfers in clear on its plain port and over TLS; the
    // secondary names its TLS port, with TLS. P2 is a plain primary.
    let open = "{ from = \"127.0.0.0/8\" }";
    let (p1, p1_tls) = primary(&pki, "server", "", &[("example.com", 5, open)], None);
    let (p2, _) = primary(&pki, "server", "", &[("example.com", 3, open)], None);
    let primaries = |pin: &str| {
        vec![
            over(p1_tls, &format!("pin = \"{pin}\"")),
            over(p2.addr(), ""),
        ]
    };

    // A secondary of both, P1 pinned to `pin`, once it serves `serial`.
    let secondary_of = |pin: &str, serial: u32| {
        let s = secondary(
            free_addr(),
            "",
            &secondary_zone("example.com", &primaries(pin)),
        );
        wait_serial_at(s.addr(), "example.com", serial, WAIT, || {
            all_logs(&[&s, &p1, &p2])
        });
        s
    };

    // Both work: the newest serial, from P1 over TLS; P2 asked in clear.
    let good = secondary_of(&pki.pin("server"), 5);
    log_line(
        &good,
        &[&format!("AXFR (none) -> 5 from {p1_tls} over TLS")],
    );
    log_line(&p1, &["AXFR", "sent"]);
    drop(good);

    // P1's key is not the pinned one: its SOA query fails over TLS, P2
    // (serial 3) is transferred from in clear, as configured; P1 is never
    // asked in clear, on any port.
    let p1_before = p1.log();
    let bad = secondary_of(&pki.pin("client"), 3);
    let line = log_line(&bad, &[&format!("AXFR (none) -> 3 from {} (", p2.addr())]);
    assert!(!line.contains("over TLS"), "{line}");
    log_line(
        &bad,
        &[
            &format!("{p1_tls}: SOA query over TLS: TLS failed"),
            "is not the pinned one",
        ],
    );
    assert!(
        wait_until(WAIT, || p1.log().len() > p1_before.len()
            && p1.log().contains("TLS handshake failed")),
        "{}",
        p1.log()
    );
    let p1_after = p1.log();
    let new = &p1_after[p1_before.len()..];
    assert!(
        !new.contains("plain DNS over TCP") && !new.contains(" sent"),
        "P1 got nothing in clear and sent nothing:\n{new}"
    );
    log_line(&p2, &["AXFR", "sent"]);
}

#[test]
fn catalog_members_from_a_template_transfer_over_tls() {
    let pki = Pki::new();
    let c_addr = free_addr();
    let only_tls = "{ from = \"127.0.0.0/8\", tls = true }";
    let tls = free_addr();
    let mut config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 0\ntls_listen = [\"{tls}\"]\n\
         tls_certificate = \"{}\"\ntls_key = \"{}\"\n",
        pki.path("server.pem"),
        pki.path("server.key")
    );
    let catz = "$ORIGIN catz.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 86400 0\n@ NS invalid.\n\
                version TXT \"2\"\nm1.zones PTR a.example.\nm2.zones PTR b.example.\n";
    let mut files = vec![("catz.zone".to_owned(), catz.to_owned())];
    for name in ["catz", "a.example", "b.example"] {
        config.push_str(&format!(
            "{}allow_transfer = [{only_tls}]\nnotify = [\"{c_addr}\"]\n",
            zone_entry(name, &format!("{name}.zone"))
        ));
        if name != "catz" {
            files.push((format!("{name}.zone"), hosts_a_zone(name, 1, 5)));
        }
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, z)| (f.as_str(), z.as_str()))
        .collect();
    let p = Server::start(&config, &files);
    let primaries = over(tls, &format!("ca = \"{}\"", pki.path("ca.pem")));
    let consumer = format!(
        "[server]\nudp_workers = 1\n\n\
         [[zone]]\nname = \"catz\"\nrole = \"secondary\"\nprimaries = [{primaries}]\n\
         [zone.catalog]\nrole = \"consumer\"\ntemplates = [\"xot\"]\n\n\
         [[template]]\nname = \"xot\"\nrole = \"secondary\"\nprimaries = [{primaries}]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n"
    );
    let opts = StartOptions {
        addr: Some(c_addr),
        ready_name: Some("catz".into()),
        ..StartOptions::default()
    };
    let c = Server::start_with(&consumer, &[], &opts);
    for member in ["a.example", "b.example"] {
        wait_serial_at(c_addr, member, 1, WAIT, || all_logs(&[&c, &p]));
        log_line(
            &c,
            &[&format!("AXFR (none) -> 1 from {tls} over TLS"), member],
        );
        assert_eq!(axfr_record_count(c_addr, member), 9 + 1);
    }
    assert!(!p.log().contains("reason=not over TLS"), "{}", p.log());
}

#[test]
fn primary_tls_files_that_cannot_be_used_are_configuration_errors_naming_them() {
    let pki = Pki::new();
    let dir = TempDir::new("xot-in-config");
    let body = format!(
        "[server]\nlisten = [\"{}\"]\n\n\
         [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"127.0.0.1:853\", tls = {{ ca = \"absent.pem\" }} }}]\n\n\
         [[template]]\nname = \"t\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"127.0.0.1:853\", tls = {{ pin = \"{}\", cert = \"{}\", cert_key = \"{}\" }} }}]\n",
        free_addr(),
        pki.pin("server"),
        pki.path("client.pem"),
        // Not the key of client.pem.
        pki.path("client2.key"),
    );
    let (all, log) = refused_config(&dir.write("zonesync.toml", &body));
    assert!(
        all.contains("zonesync.toml:7: zone[0].primaries[0].tls.ca: ")
            && all.contains("absent.pem: cannot read"),
        "{all}"
    );
    assert!(
        all.contains("template[0].primaries[0].tls.cert_key: "),
        "{all}"
    );
    assert!(
        log.contains("zone[0].primaries[0].tls.ca: ") && log.contains("absent.pem: cannot read"),
        "{log}"
    );
}
