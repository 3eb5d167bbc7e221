//! Zone transfers over TLS (XoT, RFC 9103): zonesync's TLS listener
//! against kdig and `zonesync xfr --tls`, with certificates made here by
//! `openssl`: a CA, a server certificate for 127.0.0.1, client
//! certificates, an expired server certificate and a second, unrelated
//! CA. Everything on loopback; every wait bounded.

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

/// How long one command (openssl, kdig, `zonesync xfr`) may take.
const RUN_LIMIT: Duration = Duration::from_secs(40);
const LOG_WAIT: Duration = Duration::from_secs(10);
const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";

/// example.com at `serial` with `n` hosts (`n + 4` records).
fn zone(serial: u32, n: usize) -> String {
    hosts_a_zone("example.com", serial, n)
}

// ---------------------------------------------------------------------------
// The server

/// A zonesync serving example.com on plain UDP/TCP and on TLS.
struct XotServer {
    server: Server,
    tls: SocketAddr,
}

/// `server_extra`: more `[server]` lines; `zones`: the `[[zone]]` tables.
fn start(pki: &Pki, cert: &str, server_extra: &str, zones: &str) -> XotServer {
    let tls = free_addr();
    let config = format!(
        "[server]\nudp_workers = 1\ntls_listen = [\"{tls}\"]\ntls_certificate = \"{}\"\n\
         tls_key = \"{}\"\n{server_extra}\n{zones}\n[[key]]\nname = \"xfr-key\"\nsecret = \"{SECRET}\"\n",
        pki.path(&format!("{cert}.pem")),
        pki.path(&format!("{cert}.key")),
    );
    let files = [
        ("example.com.zone", zone(1, 20)),
        ("example.net.zone", hosts_a_zone("example.net", 1, 20)),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(f, z)| (*f, z.as_str())).collect();
    let server = Server::start(&config, &files);
    XotServer { server, tls }
}

/// example.com with these `allow_transfer` rules.
fn example_com(rules: &str) -> String {
    format!(
        "{}allow_transfer = [{rules}]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

/// Over TLS from loopback, or plain TCP with the key.
const TLS_OR_KEY: &str = "{ from = \"127.0.0.0/8\", tls = true }, { key = \"xfr-key\" }";

// ---------------------------------------------------------------------------
// Clients

/// `zonesync xfr example.com --server ADDR ARGS...`, bounded.
fn xfr(server: SocketAddr, args: &[&str]) -> Output {
    let mut cmd = zonesync();
    cmd.args(["xfr", "example.com", "--server", &server.to_string()])
        .args(args);
    run_with_timeout(cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The records printed by a run that must have succeeded.
fn transferred(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "zonesync xfr failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    records(&text(&out.stdout))
}

/// The error of a run that must have failed, with no record printed.
fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "zonesync xfr should fail:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        records(&text(&out.stdout)).is_empty(),
        "{}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// Record lines (not comments), blanks collapsed.
fn records(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// kdig over TLS, the server authenticated by `ca` as 127.0.0.1.
fn kdig_tls(server: SocketAddr, ca: &str, query: &[&str]) -> String {
    let kdig = which("kdig").expect("kdig (knot-dnsutils): scripts/install-test-deps.sh");
    let mut cmd = Command::new(kdig);
    cmd.arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .arg(format!("+tls-ca={ca}"))
        .arg("+tls-hostname=127.0.0.1")
        .args(query);
    let out = run_with_timeout(cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "kdig {query:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn kdig_and_zonesync_xfr_transfer_the_zone_over_tls_and_plain_tcp_is_refused() {
    let pki = Pki::new();
    let s = start(&pki, "server", "", &example_com(TLS_OR_KEY));
    let ca = pki.path("ca.pem");

    let plain = transferred(&xfr(
        s.server.addr(),
        &["--key", &format!("xfr-key:{SECRET}")],
    ));
    assert_eq!(plain.len(), 24 + 1, "the zone and its closing SOA");
    let ours = transferred(&xfr(s.tls, &["--tls", "--ca", &ca]));
    assert_eq!(ours, plain, "zonesync xfr --tls vs plain TCP");
    let kdig = records(&kdig_tls(s.tls, &ca, &["AXFR", "example.com"]));
    assert_eq!(kdig.len(), plain.len(), "kdig +tls:\n{kdig:#?}");
    assert!(
        kdig[0].contains("SOA") && kdig[0].contains(" 1 7200 "),
        "{kdig:?}"
    );
    // A plain query over TLS is answered as DNS over TLS.
    let soa = records(&kdig_tls(s.tls, &ca, &["SOA", "example.com", "+short"]));
    assert_eq!(soa.len(), 1, "{soa:?}");

    // `tls = true`: the same transfer over plain TCP, unsigned, is refused.
    let e = refused(&xfr(s.server.addr(), &[]));
    assert!(e.contains("server answered REFUSED"), "{e}");
    assert!(
        s.server.wait_for_log("reason=not over TLS", LOG_WAIT),
        "{}",
        s.server.log()
    );
}

#[test]
fn the_server_is_authenticated_by_its_ca_or_its_pin() {
    let pki = Pki::new();
    let s = start(&pki, "server", "", &example_com(TLS_OR_KEY));
    let pin = pki.pin("server");

    assert_eq!(
        transferred(&xfr(s.tls, &["--tls", "--pin", &pin])).len(),
        25
    );
    let both = ["--tls", "--pin", &pin, "--ca", &pki.path("ca.pem")];
    assert_eq!(transferred(&xfr(s.tls, &both)).len(), 25);

    let wrong_pin = pki.pin("client");
    let e = refused(&xfr(s.tls, &["--tls", "--pin", &wrong_pin]));
    assert!(e.contains("is not the pinned one"), "{e}");
    let e = refused(&xfr(s.tls, &["--tls", "--ca", &pki.path("other-ca.pem")]));
    assert!(e.contains("not signed by a CA of --ca"), "{e}");
    let named = [
        "--tls",
        "--ca",
        &pki.path("ca.pem"),
        "--server-name",
        "ns1.example.com",
    ];
    let e = refused(&xfr(s.tls, &named));
    assert!(e.contains("not valid for the name"), "{e}");

    // Strict by default: no way to authenticate the server, no transfer.
    let e = refused(&xfr(s.tls, &["--tls"]));
    assert!(
        e.contains("--ca FILE") && e.contains("--tls-insecure"),
        "{e}"
    );
    assert_eq!(
        transferred(&xfr(s.tls, &["--tls", "--tls-insecure"])).len(),
        25,
        "opportunistic when asked"
    );
    assert!(
        s.server.wait_for_log("TLS handshake failed", LOG_WAIT),
        "the refused handshakes are logged:\n{}",
        s.server.log()
    );
}

#[test]
fn an_expired_server_certificate_is_refused() {
    let pki = Pki::new();
    let s = start(&pki, "expired", "", &example_com(TLS_OR_KEY));
    let e = refused(&xfr(s.tls, &["--tls", "--ca", &pki.path("ca.pem")]));
    assert!(e.contains("certificate has expired"), "{e}");
    assert!(
        s.server.wait_for_log("TLS handshake failed", LOG_WAIT),
        "{}",
        s.server.log()
    );
}

#[test]
fn plain_dns_to_the_tls_port_transfers_nothing_and_is_logged() {
    let pki = Pki::new();
    let s = start(&pki, "server", "", &example_com(TLS_OR_KEY));
    let e = refused(&xfr(s.tls, &["--key", &format!("xfr-key:{SECRET}")]));
    assert!(e.contains("closed the connection"), "{e}");
    assert!(
        s.server
            .wait_for_log("plain DNS over TCP to the TLS port?", LOG_WAIT),
        "{}",
        s.server.log()
    );
    // RFC 9103 §7.1: a client offering ALPN without "dot" is refused
    // (kdig cannot offer another protocol; openssl can).
    let mut other_alpn = Command::new("openssl");
    other_alpn.args(["s_client", "-connect", &s.tls.to_string(), "-alpn", "xyz"]);
    let _ = run_with_timeout(other_alpn, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s.server
            .wait_for_log("ALPN protocols without \\\"dot\\\"", LOG_WAIT),
        "{}",
        s.server.log()
    );
    // And TLS to the plain port is no transfer either.
    let e = refused(&xfr(
        s.server.addr(),
        &["--tls", "--tls-insecure", "--timeout", "5"],
    ));
    assert!(e.contains("TLS failed"), "{e}");
}

#[test]
fn mutual_tls_rules_want_the_client_certificate() {
    let pki = Pki::new();
    let control = free_addr();
    let client_ca = format!(
        "tls_client_ca = \"{}\"\ncontrol = \"{control}\"\n",
        pki.path("ca.pem")
    );
    // example.com: the pinned client only; example.net: any client with a
    // certificate from the CA.
    let zones = format!(
        "{}\n{}allow_transfer = [{{ client_cert = true }}]\n",
        example_com(&format!("{{ cert = \"{}\" }}", pki.pin("client"))),
        zone_entry("example.net", "example.net.zone"),
    );
    let s = start(&pki, "server", &client_ca, &zones);
    let ca = pki.path("ca.pem");
    let with = |name: &str| {
        let (cert, key) = (
            pki.path(&format!("{name}.pem")),
            pki.path(&format!("{name}.key")),
        );
        vec![
            "--tls".to_owned(),
            "--ca".into(),
            ca.clone(),
            "--cert".into(),
            cert,
            "--cert-key".into(),
            key,
        ]
    };

    let e = refused(&xfr(s.tls, &["--tls", "--ca", &ca]));
    assert!(e.contains("server answered REFUSED"), "{e}");
    assert!(
        s.server
            .wait_for_log("reason=no client certificate", LOG_WAIT),
        "{}",
        s.server.log()
    );
    assert_eq!(transferred(&xfr(s.tls, &strs(&with("client")))).len(), 25);
    let e = refused(&xfr(s.tls, &strs(&with("client2"))));
    assert!(e.contains("server answered REFUSED"), "{e}");
    assert!(
        s.server.wait_for_log("not the one pinned", LOG_WAIT),
        "{}",
        s.server.log()
    );
    // A certificate of another CA fails the handshake itself.
    let e = refused(&xfr(s.tls, &strs(&with("stranger"))));
    assert!(e.contains("the server refused our certificate"), "{e}");
    assert!(
        s.server
            .wait_for_log("client certificate refused", LOG_WAIT),
        "{}",
        s.server.log()
    );

    // Refusals for TLS reasons are counted as any other.
    let (status, metrics) = http_get(control, "/metrics");
    assert_eq!(status, 200, "{metrics}");
    let refused = metrics
        .lines()
        .find(|l| {
            l.starts_with("zonesync_transfers_out_total{")
                && l.contains("zone=\"example.com")
                && l.contains("result=\"refused\"")
        })
        .unwrap_or_else(|| panic!("no refused counter:\n{metrics}"));
    assert!(
        refused.ends_with(" 2"),
        "no certificate, another one: {refused}"
    );

    // Any certificate of the CA for example.net.
    let mut net = zonesync();
    net.args(["xfr", "example.net", "--server", &s.tls.to_string()])
        .args(strs(&with("client2")));
    let out = run_with_timeout(net, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn ixfr_over_tls_sends_the_changeset_of_a_reload() {
    let pki = Pki::new();
    let s = start(&pki, "server", "", &example_com(TLS_OR_KEY));
    let ca = pki.path("ca.pem");
    s.server.rewrite("example.com.zone", &zone(2, 21));
    s.server.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(15), || {
            soa_serial_at(s.server.addr(), "example.com") == Some(2)
        }),
        "serial 2 not served:\n{}",
        s.server.log()
    );
    let out = xfr(s.tls, &["--tls", "--ca", &ca, "--ixfr", "1"]);
    let changes = transferred(&out);
    let summary = text(&out.stdout);
    assert!(
        summary.contains("IXFR: incremental, 1 changeset"),
        "{summary}"
    );
    // SOA 2, SOA 1, SOA 2, host21 added, SOA 2.
    assert_eq!(changes.len(), 5, "{changes:#?}");
    assert!(changes.iter().any(|r| r.starts_with("host21.example.com.")));
    let kdig = records(&kdig_tls(s.tls, &ca, &["IXFR=1", "example.com"]));
    assert_eq!(kdig.len(), changes.len(), "kdig +tls IXFR:\n{kdig:#?}");
}

#[test]
fn unusable_certificate_files_are_configuration_errors_naming_them() {
    let pki = Pki::new();
    let dir = TempDir::new("xot-config");
    dir.write("example.com.zone", zone(1, 1));
    let config = dir.write(
        "zonesync.toml",
        format!(
            "[server]\nlisten = [\"{}\"]\ntls_listen = [\"{}\"]\ntls_certificate = \"{}\"\n\
             tls_key = \"{}\"\n{}",
            free_addr(),
            free_addr(),
            pki.path("server.pem"),
            // A certificate where the key should be.
            pki.path("client.pem"),
            example_com("{ from = \"127.0.0.0/8\", tls = true }"),
        ),
    );
    let (all, log) = refused_config(&config);
    assert!(
        all.contains("server.tls_key") && all.contains("client.pem: no PRIVATE KEY"),
        "{all}"
    );
    assert!(log.contains("client.pem: no PRIVATE KEY"), "{log}");
}
