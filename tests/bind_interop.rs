//! Interop with BIND 9 (`named`) as a secondary of zonesync, with TSIG:
//! named takes the zone by a signed AXFR, follows signed NOTIFYs by signed
//! IXFRs (chained), and gets nothing without the key.
//!
//! named is started in the foreground (`-g`, so it logs to stderr, which
//! goes to a file) with `-d 3`: at debug level 3 BIND 9.18 says which kind
//! of transfer it asked for and got ("requesting IXFR for serial N", "got
//! incremental response"); at the default level it does not. BIND is a
//! required test peer (scripts/install-test-deps.sh installs it): when
//! `named` is missing these tests fail, they do not skip.

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

const KEY: &str = "xfr-key";
const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
/// The first serial of the zone; changes go N+1, N+2.
const N: u32 = 2026112101;
/// Bound for named to start, to take the zone, or to follow a change.
const BIND_TIMEOUT: Duration = Duration::from_secs(15);

/// example.com at `serial` with hosts `first..=last` (as in tests/xfr.rs).
fn hosts_zone(serial: u32, first: usize, last: usize) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 7200 1800 1209600 300\n\
         @ NS ns1\n@ NS ns2.example.net.\nns1 A 192.0.2.53\n\
         sub NS ns.sub\nns.sub A 192.0.2.100\nwww CNAME @\n\
         $GENERATE {first}-{last} host$ TXT \"host number $ with some padding text\"\n"
    )
}

/// How named is set up.
struct BindOpts {
    /// Sign SOA queries and transfers with xfr-key (and accept NOTIFY
    /// signed with it).
    tsig: bool,
    /// `transfer-source`: the local address of named's SOA queries and
    /// transfers (so the primary's log can name it unambiguously).
    transfer_source: Option<&'static str>,
}

/// A BIND 9 secondary for example.com of `primary`, on 127.0.0.1:`port`,
/// in its own directory; killed on drop.
struct BindSecondary {
    // First: named is killed before its directory is removed.
    named: KillOnDrop,
    addr: SocketAddr,
    primary: SocketAddr,
    conf: String,
    dir: TempDir,
}

impl BindSecondary {
    fn start(port: u16, primary: SocketAddr, opts: &BindOpts) -> BindSecondary {
        let dir = TempDir::new("bind-secondary");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (key_stmt, key_ref, allow_notify) = if opts.tsig {
            (
                format!("key \"{KEY}\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n"),
                format!(" key \"{KEY}\""),
                format!("    allow-notify {{ key \"{KEY}\"; }};\n"),
            )
        } else {
            (String::new(), String::new(), String::new())
        };
        let source = opts
            .transfer_source
            .map(|a| format!("    transfer-source {a};\n"))
            .unwrap_or_default();
        let options =
            format!("    recursion no;\n    notify no;\n    dnssec-validation no;\n{source}");
        let rest = format!(
            "controls {{ }};\n\
             {key_stmt}\
             zone \"example.com\" {{\n\
             \x20   type secondary;\n\
             \x20   file \"example.com.db\";\n\
             \x20   primaries {{ {ip} port {pport}{key_ref}; }};\n\
             {allow_notify}\
             }};\n",
            ip = primary.ip(),
            pport = primary.port(),
        );
        let conf = named_conf(&dir, addr, &options, &rest);
        let child = spawn_named(&dir, &conf, &["-d", "3"]);
        let mut bind = BindSecondary {
            named: child,
            addr,
            primary,
            conf,
            dir,
        };
        bind.wait_running();
        bind
    }

    /// Waits (bounded) for named's "running" line; panics with its log if
    /// it exits or does not get there.
    fn wait_running(&mut self) {
        let deadline = Instant::now() + BIND_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.named.0.try_wait() {
                panic!(
                    "named exited during start-up ({status})\n--- named.conf ---\n{}",
                    self.conf
                );
            }
            if self.log().lines().any(|l| l.ends_with(" running")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "named did not log \"running\" within {BIND_TIMEOUT:?}\n--- named.conf ---\n{}",
                self.conf
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }

    /// `transfer of 'example.com/IN' from 127.0.0.1#PORT:`, BIND's prefix
    /// for the lines of a transfer from our primary.
    fn xfer_prefix(&self) -> String {
        format!(
            "transfer of 'example.com/IN' from {}#{}:",
            self.primary.ip(),
            self.primary.port()
        )
    }

    fn query(&self, name: &str, rtype: RecordType) -> Result<Message, String> {
        try_query_udp(
            self.addr,
            name,
            rtype,
            &QueryOpts::plain(),
            Duration::from_millis(500),
        )
    }

    /// The serial named serves for example.com (authoritatively), if any.
    fn serial(&self) -> Option<u32> {
        let m = self.query("example.com", RecordType::SOA).ok()?;
        if m.response_code() != ResponseCode::NoError || !m.header().authoritative() {
            return None;
        }
        match m.answers().first().and_then(|a| a.data()) {
            Some(RData::SOA(soa)) => Some(soa.serial()),
            _ => None,
        }
    }

    /// Waits (bounded) until named serves `serial`.
    fn wait_serial(&self, serial: u32) {
        let synced = wait_until(BIND_TIMEOUT, || self.serial() == Some(serial));
        assert!(
            synced,
            "named never served serial {serial} within {BIND_TIMEOUT:?} (serves {:?})",
            self.serial()
        );
    }

    /// The lines of named's log from the end of the transfer before the
    /// one that completed at `serial` up to that one's "Transfer
    /// completed" line; `None` when no transfer completed at `serial`.
    fn transfer_lines(&self, serial: u32) -> Option<Vec<String>> {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let prefix = self.xfer_prefix();
        let done = |l: &str| l.contains(&prefix) && l.contains("Transfer completed:");
        let end = lines
            .iter()
            .position(|l| done(l) && l.ends_with(&format!("(serial {serial})")))?;
        let start = lines[..end]
            .iter()
            .rposition(|l| done(l))
            .map_or(0, |i| i + 1);
        Some(lines[start..=end].iter().map(|l| l.to_string()).collect())
    }

    /// The transfer that brought `serial` (see [`transfer_lines`]), after
    /// waiting (bounded) for it to be logged.
    fn transfer(&self, serial: u32) -> Vec<String> {
        let mut found = None;
        wait_until(Duration::from_secs(5), || {
            found = self.transfer_lines(serial);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "named logged no \"{} Transfer completed: ... (serial {serial})\"",
                self.xfer_prefix()
            )
        })
    }

    /// named-journalprint of the zone's journal (written by IXFR only).
    fn journal(&self) -> String {
        let tool = require_tool("named-journalprint", "bind9");
        let jnl = self.dir.join("example.com.db.jnl");
        assert!(
            jnl.exists(),
            "named wrote no journal {} (it writes one for IXFR, not AXFR)",
            jnl.display()
        );
        let mut cmd = Command::new(tool);
        cmd.arg(&jnl);
        run_peer_tool(cmd, String::new)
    }
}

impl Drop for BindSecondary {
    fn drop(&mut self) {
        let who = format!("named (secondary) on {}", self.addr);
        show_peer_if_panicking(&who, &self.conf, || self.log());
    }
}

/// Whether some line of `lines` contains every one of `needles`.
fn has_line(lines: &[String], needles: &[String]) -> bool {
    lines.iter().any(|l| needles.iter().all(|n| l.contains(n)))
}

/// Lines of `text` containing every one of `needles`.
fn count_lines(text: &str, needles: &[&str]) -> usize {
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

fn assert_answers(bind: &BindSecondary, host: &str, present: bool) {
    let name = format!("{host}.example.com");
    let m = bind
        .query(&name, RecordType::TXT)
        .unwrap_or_else(|e| panic!("named did not answer {name} TXT: {e}"));
    if present {
        assert!(
            m.response_code() == ResponseCode::NoError
                && m.header().authoritative()
                && m.answers().len() == 1,
            "named serves {name} TXT:\n{}",
            describe(&m)
        );
    } else {
        assert_eq!(
            m.response_code(),
            ResponseCode::NXDomain,
            "{name} was removed: named answers NXDOMAIN:\n{}",
            describe(&m)
        );
    }
}

/// One IXFR step: the zone file goes to `serial` (hosts `first..=last`),
/// SIGHUP, NOTIFY, and named follows by an incremental, signed IXFR.
fn ixfr_step(s: &Server, bind: &BindSecondary, serial: u32, first: usize, last: usize) {
    s.rewrite("example.com.zone", &hosts_zone(serial, first, last));
    s.signal("HUP");
    assert_followed_by_ixfr(s, bind, serial);
}

/// BIND serves `serial`, which it got by a signed NOTIFY and an
/// incremental, signed IXFR from the previous serial, as both logs show.
fn assert_followed_by_ixfr(s: &Server, bind: &BindSecondary, serial: u32) {
    let prev = serial - 1;
    bind.wait_serial(serial);

    // zonesync: a signed NOTIFY for this serial was acknowledged, and it
    // answered with an incremental IXFR (not the whole zone).
    let serial_field = format!("serial={serial}");
    assert!(
        wait_until(Duration::from_secs(5), || count_lines(
            &s.log(),
            &["IXFR (incremental) sent", &serial_field]
        ) == 1),
        "zonesync logged one \"IXFR (incremental) sent ... {serial_field}\""
    );
    assert!(
        count_lines(
            &s.log(),
            &["NOTIFY acknowledged", &serial_field, "key=\"xfr-key\""]
        ) >= 1,
        "zonesync logged \"NOTIFY acknowledged ... {serial_field} ... key=\"xfr-key\"\""
    );

    // named: the signed NOTIFY, an IXFR request from the previous serial,
    // an incremental answer, signed, applied.
    let lines = bind.transfer(serial);
    let block = lines.join("\n");
    let prefix = bind.xfer_prefix();
    let expected: [Vec<String>; 7] = [
        vec!["received notify for zone 'example.com': TSIG 'xfr-key'".into()],
        vec!["zone example.com/IN: notify from 127.0.0.1#".into()],
        vec![prefix.clone(), format!("requesting IXFR for serial {prev}")],
        vec![
            prefix.clone(),
            "connected using".into(),
            "TSIG xfr-key".into(),
        ],
        vec![prefix.clone(), "got incremental response".into()],
        vec![format!(
            "zone example.com/IN: transferred serial {serial}: TSIG 'xfr-key'"
        )],
        vec![prefix.clone(), "Transfer status: success".into()],
    ];
    for needles in &expected {
        assert!(
            has_line(&lines, needles),
            "named's log of the transfer to {serial} has no line with {needles:?}:\n{block}"
        );
    }
    assert!(
        !block.contains("nonincremental") && !block.contains("AXFR"),
        "named fell back to AXFR for {serial}:\n{block}"
    );
}

/// BIND follows each UPDATE made on zonesync (RFC 2136, signed with the
/// key an `allow_update` rule names) by a signed NOTIFY and an incremental
/// IXFR, as named's log shows.
#[test]
fn bind_secondary_follows_updates_by_ixfr() {
    let bind_port = free_port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 0\n\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}\
         allow_transfer = [{{ key = \"{KEY}\" }}]\n\
         notify = [{{ addr = \"127.0.0.1:{bind_port}\", key = \"{KEY}\" }}]\n\
         [[zone.allow_update]]\nkey = \"{KEY}\"\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &hosts_zone(N, 1, 10))]);
    let bind = BindSecondary::start(
        bind_port,
        s.addr(),
        &BindOpts {
            tsig: true,
            transfer_source: None,
        },
    );
    bind.wait_serial(N);
    for (i, serial) in [(1, N + 1), (2, N + 2)] {
        let (ok, out) = run_update_client(
            "nsupdate",
            &["-y", &format!("hmac-sha256:{KEY}:{SECRET}")],
            s.addr(),
            "example.com.",
            &format!("update add dyn{i}.example.com. 60 TXT dyn{i}"),
        );
        assert!(ok, "nsupdate failed: {out}\n{}", s.log());
        assert_followed_by_ixfr(&s, &bind, serial);
        assert_answers(&bind, &format!("dyn{i}"), true);
    }
}

/// BIND takes the zone by a TSIG-signed AXFR, then follows two changes,
/// each announced by a signed NOTIFY, by signed incremental IXFRs, which
/// it journals and serves.
#[test]
fn bind_secondary_transfers_with_tsig_then_follows_changes_by_ixfr() {
    let started = Instant::now();
    let bind_port = free_port();
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\n\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}\
         allow_transfer = [{{ key = \"{KEY}\" }}]\n\
         notify = [{{ addr = \"127.0.0.1:{bind_port}\", key = \"{KEY}\" }}]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &hosts_zone(N, 1, 10))]);
    let bind = BindSecondary::start(
        bind_port,
        s.addr(),
        &BindOpts {
            tsig: true,
            transfer_source: None,
        },
    );

    // The initial transfer: a signed AXFR.
    bind.wait_serial(N);
    let lines = bind.transfer(N);
    let block = lines.join("\n");
    let prefix = bind.xfer_prefix();
    let expected: [Vec<String>; 4] = [
        vec![
            prefix.clone(),
            "connected using".into(),
            "TSIG xfr-key".into(),
        ],
        vec!["requesting AXFR".into()],
        vec![format!(
            "zone example.com/IN: transferred serial {N}: TSIG 'xfr-key'"
        )],
        vec![prefix.clone(), "Transfer status: success".into()],
    ];
    for needles in &expected {
        assert!(
            has_line(&lines, needles),
            "named's log of the initial transfer has no line with {needles:?}:\n{block}"
        );
    }
    assert!(
        s.wait_for_log("AXFR sent", Duration::from_secs(5)),
        "zonesync logged \"AXFR sent\""
    );
    assert!(
        !s.log().contains("transfer refused"),
        "no request of named was refused"
    );
    assert_answers(&bind, "host1", true);
    assert_answers(&bind, "host11", false);
    let soa = bind.query("example.com", RecordType::SOA).expect("SOA");
    assert!(soa.header().authoritative(), "{}", describe(&soa));

    // N -> N+1: host1 goes, host11 comes.
    ixfr_step(&s, &bind, N + 1, 2, 11);
    assert_answers(&bind, "host11", true);
    assert_answers(&bind, "host1", false);
    assert_answers(&bind, "host2", true);

    // N+1 -> N+2: host2 goes, host12 comes.
    ixfr_step(&s, &bind, N + 2, 3, 12);
    assert_answers(&bind, "host12", true);
    assert_answers(&bind, "host2", false);
    assert_answers(&bind, "host11", true);

    // Both changesets, exactly, in named's journal.
    let journal = bind.journal();
    let ops: Vec<String> = journal
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            // op owner ttl class type [mname rname serial ...]
            let serial = if field(4) == "SOA" { field(7) } else { "" };
            format!("{} {} {serial}", field(0), field(1))
                .trim_end()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = [
        format!("del example.com. {N}"),
        "del host1.example.com.".into(),
        format!("add example.com. {}", N + 1),
        "add host11.example.com.".into(),
        format!("del example.com. {}", N + 1),
        "del host2.example.com.".into(),
        format!("add example.com. {}", N + 2),
        "add host12.example.com.".into(),
    ]
    .into();
    assert_eq!(
        ops, expected,
        "named's journal holds the two changesets, nothing else:\n{journal}"
    );
    // zonesync's view: one AXFR, two incremental IXFRs, nothing refused,
    // never the whole zone by IXFR.
    let log = s.log();
    assert_eq!(count_lines(&log, &["IXFR (incremental) sent"]), 2, "{log}");
    assert_eq!(count_lines(&log, &["IXFR (full zone) sent"]), 0, "{log}");
    assert!(!log.contains("transfer refused"), "{log}");
    assert!(!log.contains("NOTIFY gave up"), "{log}");
    println!("bind interop with TSIG: {:?}", started.elapsed());
}

/// Without the key, BIND's transfer is refused by zonesync's key-only ACL:
/// named never has the zone, and both sides log the refusal.
#[test]
fn bind_secondary_without_the_key_is_refused() {
    let started = Instant::now();
    let bind_port = free_port();
    // An unsigned NOTIFY makes named try again right away.
    let config = format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 20\n\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{}\
         allow_transfer = [{{ key = \"{KEY}\" }}]\n\
         notify = [\"127.0.0.1:{bind_port}\"]\n",
        zone_entry("example.com", "example.com.zone")
    );
    let s = Server::start(&config, &[("example.com.zone", &hosts_zone(N, 1, 10))]);
    // named's queries and transfers come from 127.0.0.2, so zonesync's
    // log names named and no one else.
    let bind = BindSecondary::start(
        bind_port,
        s.addr(),
        &BindOpts {
            tsig: false,
            transfer_source: Some("127.0.0.2"),
        },
    );
    let prefix = bind.xfer_prefix();
    let ours = |s: &Server, peer: &str| {
        count_lines(
            &s.log(),
            &["transfer refused by allow_transfer", peer, "key=\"none\""],
        )
    };
    let theirs = |bind: &BindSecondary| {
        count_lines(
            &bind.log(),
            &[&prefix, "failed while receiving responses: REFUSED"],
        )
    };
    let seen = wait_until(Duration::from_secs(10), || {
        ours(&s, "peer=127.0.0.2:") >= 1 && theirs(&bind) >= 1
    });
    assert!(
        seen,
        "within 10 s: zonesync logs \"transfer refused by allow_transfer peer=127.0.0.2:... \
         key=\"none\"\" ({}) and named \"{prefix} failed while receiving responses: REFUSED\" ({})",
        ours(&s, "peer=127.0.0.2:"),
        theirs(&bind)
    );
    // named retries from its alt-transfer-source (default `*`, so
    // 127.0.0.1) after a failure: every refusal zonesync logged is one
    // named logged, and no request had a key.
    let matched = wait_until(Duration::from_secs(5), || {
        ours(&s, "peer=127.0.0.") == theirs(&bind)
            && ours(&s, "") == count_lines(&s.log(), &["transfer refused"])
    });
    assert!(
        matched,
        "zonesync's refusals ({}, unsigned from 127.0.0.x: {}) are named's ({})",
        count_lines(&s.log(), &["transfer refused"]),
        ours(&s, "peer=127.0.0."),
        theirs(&bind)
    );
    assert!(
        count_lines(&bind.log(), &[&prefix, "Transfer status: REFUSED"]) >= 1,
        "named logs the transfer status REFUSED"
    );
    // The unsigned NOTIFY reaches named (from the primary's address, so
    // accepted) and makes it try again: refused again.
    assert!(
        s.wait_for_log("NOTIFY acknowledged", Duration::from_secs(5)),
        "named acknowledged the unsigned NOTIFY"
    );
    let refused_after_notify = || {
        let log = bind.log();
        let lines: Vec<&str> = log.lines().collect();
        lines
            .iter()
            .position(|l| l.contains("received notify for zone 'example.com'"))
            .is_some_and(|i| {
                lines[i..].iter().any(|l| {
                    l.contains(&prefix) && l.contains("failed while receiving responses: REFUSED")
                })
            })
    };
    assert!(
        wait_until(Duration::from_secs(5), refused_after_notify),
        "named tried again after the NOTIFY and was refused"
    );
    std::thread::sleep(Duration::from_millis(500));
    let m = bind
        .query("example.com", RecordType::SOA)
        .expect("named answers");
    assert_eq!(
        m.response_code(),
        ResponseCode::ServFail,
        "named has no zone to serve:\n{}",
        describe(&m)
    );
    let log = bind.log();
    assert!(
        !log.contains("transferred serial") && !log.contains("Transfer status: success"),
        "named never completed a transfer"
    );
    assert!(
        !bind.dir.join("example.com.db").exists(),
        "named wrote no zone file"
    );
    let zlog = s.log();
    assert!(
        !zlog.contains("AXFR sent") && !zlog.contains("IXFR (incremental) sent"),
        "zonesync sent nothing of the zone:\n{zlog}"
    );
    println!("bind interop without the key: {:?}", started.elapsed());
}
