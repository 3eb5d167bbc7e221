//! Interop with BIND 9.18 (`named`) over XoT (RFC 9103), both ways:
//!
//! - a BIND primary with a `tls` block, `listen-on … tls` and
//!   `allow-transfer port … transport tls`, and a zonesync secondary
//!   whose primary is that TLS port (`tls = { ca = … }`, strict);
//! - a zonesync primary with `tls_listen` whose transfer rule requires
//!   TLS, and a BIND secondary with `primaries { … port P tls NAME; }`,
//!   NAME a `tls` block with `ca-file` and `remote-hostname` (strict TLS,
//!   which BIND 9.18 has); beside it, a zone whose `tls` block names the
//!   wrong CA, which BIND must not transfer.
//!
//! Each side checks the serial and the record count the other serves,
//! then a change propagates (NOTIFY over UDP, IXFR over TLS).
//! Certificates from `common::Pki`; named in its own directory on
//! loopback (`common::named_conf`), killed by its PID; every wait bounded.

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// Bound for named to start, to take a zone, or to follow a change.
const BIND_TIMEOUT: Duration = Duration::from_secs(20);
const RUN_LIMIT: Duration = Duration::from_secs(40);

/// example.com at `serial` with `n` hosts (`n + 4` records).
fn zone(serial: u32, n: usize) -> String {
    hosts_a_zone("example.com", serial, n)
}

/// A named of the test's own on 127.0.0.1:`port` (and `tls_port` when
/// it listens on TLS): configuration and log in its directory, killed by
/// its PID on drop.
struct Named {
    // First: named is killed before its directory is removed.
    process: KillOnDrop,
    addr: SocketAddr,
    conf: String,
    dir: TempDir,
}

impl Named {
    /// `options`: lines of the options block; `rest`: after it.
    fn start(dir: TempDir, addr: SocketAddr, options: &str, rest: &str) -> Named {
        let conf = named_conf(&dir, addr, options, rest);
        let process = spawn_named(&dir, &conf, &["-d", "3"]);
        let named = Named {
            process,
            addr,
            conf,
            dir,
        };
        let running = wait_until(BIND_TIMEOUT, || {
            named.log().lines().any(|l| l.ends_with(" running"))
        });
        assert!(running, "named did not start:\n{}", named.log());
        named
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.process.0.id()
    }

    fn serial(&self, zone: &str) -> Option<u32> {
        authoritative_serial(self.addr, zone, Duration::from_millis(500))
    }

    fn wait_serial(&self, zone: &str, serial: u32) {
        let synced = wait_until(BIND_TIMEOUT, || self.serial(zone) == Some(serial));
        assert!(
            synced,
            "named never served {zone} at serial {serial} (serves {:?})\n{}",
            self.serial(zone),
            self.log()
        );
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        show_peer_if_panicking(&format!("named on {}", self.addr), &self.conf, || {
            self.log()
        });
    }
}

/// `kill -HUP` named: it reloads its configuration and zone files.
fn reload(named: &Named) {
    let status = Command::new("kill")
        .args(["-HUP", &named.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The TLS block and options of a named serving TLS with the PKI's
/// `cert`.
fn tls_block(pki: &Pki, name: &str, cert: &str) -> String {
    format!(
        "tls {name} {{ key-file \"{}\"; cert-file \"{}\"; }};\n",
        pki.path(&format!("{cert}.key")),
        pki.path(&format!("{cert}.pem")),
    )
}

#[test]
fn a_zonesync_secondary_transfers_from_a_bind_primary_over_tls() {
    let pki = Pki::new();
    let s_addr = free_addr();
    let (plain, tls_port) = (free_port(), free_port());
    let b_addr = SocketAddr::from(([127, 0, 0, 1], plain));
    let b_tls = SocketAddr::from(([127, 0, 0, 1], tls_port));

    // BIND: transfers over TLS only; NOTIFY to the secondary over UDP.
    let dir = TempDir::new("bind-xot-primary");
    dir.write("example.com.zone", zone(1, 20));
    let options = format!(
        "    recursion no;\n    dnssec-validation no;\n    ixfr-from-differences yes;\n\
         \x20   listen-on port {tls_port} tls local-tls {{ 127.0.0.1; }};\n\
         \x20   allow-transfer port {tls_port} transport tls {{ any; }};\n\
         \x20   notify explicit;\n    also-notify {{ 127.0.0.1 port {}; }};\n",
        s_addr.port()
    );
    let rest = format!(
        "controls {{ }};\n{}zone \"example.com\" {{\n    type primary;\n    file \"example.com.zone\";\n}};\n",
        tls_block(&pki, "local-tls", "server")
    );
    let bind = Named::start(dir, b_addr, &options, &rest);
    assert_eq!(bind.serial("example.com"), Some(1));

    // zonesync: the primary is BIND's TLS port, authenticated by the CA
    // (as 127.0.0.1, the certificate's IP subjectAltName).
    let config = format!(
        "[server]\nudp_workers = 1\n\n[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
         primaries = [{{ address = \"{b_tls}\", tls = {{ ca = \"{}\" }} }}]\n\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n",
        pki.path("ca.pem")
    );
    let opts = StartOptions {
        addr: Some(s_addr),
        ..StartOptions::default()
    };
    let s = Server::start_with(&config, &[], &opts);
    wait_serial_at(s_addr, "example.com", 1, BIND_TIMEOUT, || {
        format!("{}\n--- named ---\n{}", s.log(), bind.log())
    });
    assert_eq!(axfr_record_count(s_addr, "example.com"), 24 + 1);
    assert!(
        s.wait_for_log(&format!("-> 1 from {b_tls} over TLS"), BIND_TIMEOUT),
        "{}",
        s.log()
    );
    // BIND refuses the same transfer in clear on its plain port: the
    // zone came over TLS.
    let mut clear = zonesync();
    clear.args(["xfr", "example.com", "--server", &b_addr.to_string()]);
    let out = run_with_timeout(clear, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success(), "BIND allows AXFR in clear");

    // A change: BIND reloads, NOTIFYs over UDP; the refresh asks over TLS.
    bind.dir.write("example.com.zone", zone(2, 22));
    reload(&bind);
    bind.wait_serial("example.com", 2);
    wait_serial_at(s_addr, "example.com", 2, BIND_TIMEOUT, || {
        format!("{}\n--- named ---\n{}", s.log(), bind.log())
    });
    assert!(
        s.wait_for_log("NOTIFY received", BIND_TIMEOUT),
        "{}",
        s.log()
    );
    assert!(
        s.wait_for_log(&format!("IXFR 1 -> 2 from {b_tls} over TLS"), BIND_TIMEOUT),
        "{}",
        s.log()
    );
    assert_eq!(axfr_record_count(s_addr, "example.com"), 26 + 1);
}

#[test]
fn a_bind_secondary_transfers_from_a_zonesync_primary_over_strict_tls() {
    let pki = Pki::new();
    let b_port = free_port();
    let b_addr = SocketAddr::from(([127, 0, 0, 1], b_port));
    let p_tls = free_addr();
    // zonesync: TLS required; certificate for ns1.example.com.
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ntls_listen = [\"{p_tls}\"]\n\
         tls_certificate = \"{}\"\ntls_key = \"{}\"\n{}\
         allow_transfer = [{{ from = \"127.0.0.0/8\", tls = true }}]\nnotify = [\"{b_addr}\"]\n{}\
         allow_transfer = [{{ from = \"127.0.0.0/8\", tls = true }}]\n",
        pki.path("ns1.pem"),
        pki.path("ns1.key"),
        zone_entry("example.com", "example.com.zone"),
        zone_entry("example.net", "example.net.zone"),
    );
    let net = hosts_a_zone("example.net", 1, 5);
    let p = Server::start(
        &config,
        &[
            ("example.com.zone", &zone(1, 20)),
            ("example.net.zone", &net),
        ],
    );

    // BIND: strict TLS to the primary (its CA, its name); example.net
    // with a CA that did not sign the primary's certificate.
    let dir = TempDir::new("bind-xot-secondary");
    let options = "    recursion no;\n    dnssec-validation no;\n    notify no;\n\
                   \x20   allow-transfer { 127.0.0.0/8; };\n";
    let secondary = |zone: &str, tls: &str| {
        format!(
            "zone \"{zone}\" {{\n    type secondary;\n    file \"{zone}.db\";\n    \
             primaries {{ {} port {} tls {tls}; }};\n}};\n",
            p_tls.ip(),
            p_tls.port()
        )
    };
    let rest = format!(
        "controls {{ }};\n\
         tls to-primary {{ ca-file \"{}\"; remote-hostname \"ns1.example.com\"; }};\n\
         tls wrong-ca {{ ca-file \"{}\"; remote-hostname \"ns1.example.com\"; }};\n{}{}",
        pki.path("ca.pem"),
        pki.path("other-ca.pem"),
        secondary("example.com", "to-primary"),
        secondary("example.net", "wrong-ca"),
    );
    let bind = Named::start(dir, b_addr, options, &rest);
    bind.wait_serial("example.com", 1);
    assert_eq!(axfr_record_count(b_addr, "example.com"), 24 + 1);

    // A change: NOTIFY, then BIND's refresh and IXFR over TLS.
    p.rewrite("example.com.zone", &zone(2, 21));
    p.signal("HUP");
    bind.wait_serial("example.com", 2);
    assert_eq!(axfr_record_count(b_addr, "example.com"), 25 + 1);
    assert!(
        p.wait_for_log("IXFR (incremental) sent", BIND_TIMEOUT),
        "{}",
        p.log()
    );

    // Nothing was asked in clear (the rules would have refused it), and
    // the zone behind the wrong CA never came.
    let log = p.log();
    assert!(!log.contains("reason=not over TLS"), "{log}");
    let refused = wait_until(BIND_TIMEOUT, || {
        bind.log().lines().any(|l| {
            l.contains("transfer of 'example.net/IN'")
                && l.contains("TLS peer certificate verification failed")
        })
    });
    assert!(refused, "BIND took the wrong CA:\n{}", bind.log());
    assert_eq!(bind.serial("example.net"), None, "{}", bind.log());
    assert!(!log.contains("zone=example.net. serial=1"), "{log}");
}
