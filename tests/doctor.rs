//! The replication doctor with real peers on loopback
//! (docs/design/replication-doctor.md §6): the monitor inside the
//! primary's `serve` says why a secondary does not serve the change.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

const KEY: &str = "xfr-key";
const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";

/// The zone at `serial`, its SOA naming `rname` (another publisher
/// writes another one), REFRESH long enough that nobody refreshes alone.
fn zone_file_by(serial: u32, rname: &str) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 {rname} {serial} 3600 600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.1\nwww TXT \"version {serial}\"\n"
    )
}

fn zone_file(serial: u32) -> String {
    zone_file_by(serial, "hostmaster")
}

/// A primary of example.com on `addr` with `more` in its configuration
/// and `allow` as its `allow_transfer`.
fn primary_at(addr: SocketAddr, more: &str, allow: &str, zone: &str) -> common::Server {
    common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n{more}{}allow_transfer = [{allow}]\n",
            common::zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", zone)],
        &common::StartOptions {
            addr: Some(addr),
            ..common::StartOptions::default()
        },
    )
}

/// `[monitor]` in the primary: every row diagnosed after one second.
fn monitor_toml(dashboard: SocketAddr, ns: &[String]) -> String {
    monitor_toml_with(dashboard, ns, "")
}

/// As [`monitor_toml`], with `zone_more` in its `[[monitor.zone]]`.
fn monitor_toml_with(dashboard: SocketAddr, ns: &[String], zone_more: &str) -> String {
    let ns: Vec<String> = ns.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "[monitor]\nlisten = \"{dashboard}\"\ninterval = 1\nfast_interval_ms = 100\ntimeout_ms = 300\n\
         alert_after = 1\nheal_after = 1\nresolver = \"127.0.0.1:9\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nns = [{}]\n{zone_more}",
        ns.join(", ")
    )
}

/// The `/status` row at `addr`, once it has a diagnosis.
fn diagnosed_row(
    dashboard: SocketAddr,
    addr: SocketAddr,
    logs: impl Fn() -> String,
) -> serde_json::Value {
    let mut row = serde_json::Value::Null;
    let found = common::wait_until(Duration::from_secs(20), || {
        let (status, body) = common::http_get(dashboard, "/status");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let servers = json["zones"][0]["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        row = servers
            .into_iter()
            .find(|s| s["addr"] == addr.to_string())
            .unwrap_or_default();
        status == 200 && !row["diagnosis"].is_null()
    });
    assert!(found, "a diagnosis for {addr}: {row}\n{}", logs());
    row
}

/// A zonesync secondary without the key `allow_transfer` wants: its AXFR
/// is refused, it never serves the zone, and the doctor names the key and
/// the line to look at; nothing would heal it.
#[test]
fn a_secondary_without_the_key_is_transfer_refused_naming_the_key() {
    let (p, s, dashboard) = (
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
    );
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={s}"),
    ];
    let more = format!(
        "{}[[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n",
        monitor_toml(dashboard, &ns)
    );
    let allow = format!("{{ from = \"127.0.0.0/8\", key = \"{KEY}\" }}");
    let primary = primary_at(p, &more, &allow, &zone_file(1));
    let secondary = common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n[[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
             primaries = [{{ address = \"{p}\" }}]\n"
        ),
        &[],
        &common::StartOptions {
            addr: Some(s),
            ..common::StartOptions::default()
        },
    );
    let logs = || format!("{}\n--- secondary ---\n{}", primary.log(), secondary.log());
    let row = diagnosed_row(dashboard, s, logs);
    let diagnosis = &row["diagnosis"];
    assert_eq!(diagnosis["code"], "transfer-refused", "{row}\n{}", logs());
    let message = diagnosis["message"].as_str().unwrap_or_default();
    assert!(message.contains("asked without a key"), "{message}");
    assert!(message.contains(KEY), "{message}");
    assert!(message.contains("give the secondary that key"), "{message}");
    assert!(diagnosis["since_ms"].as_u64() > Some(0), "{row}");
    // The primary's own row is never diagnosed.
    let (_, body) = common::http_get(dashboard, "/status");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let own = json["zones"][0]["servers"]
        .as_array()
        .and_then(|v| v.iter().find(|r| r["addr"] == p.to_string()).cloned())
        .unwrap_or_default();
    assert!(own["diagnosis"].is_null(), "{own}");
    // The event, and the counter.
    let (_, events) = common::http_get(dashboard, "/api/events?zone=example.com&limit=100");
    assert!(
        events.contains("\"diagnosis\"") && events.contains("transfer-refused: "),
        "{events}"
    );
    let (_, metrics) = common::http_get(dashboard, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("zonesync_monitor_diagnoses_total{")
                && l.contains("code=\"transfer-refused\"")),
        "{metrics}"
    );
}

/// A second primary on 127.0.0.4 loads the zone at the same serial with
/// another SOA and another www/A: the row is different, and the doctor
/// names each differing RRset with both values (from the zone it
/// transfers to us) and who to look for; nothing would heal it.
#[test]
fn a_second_primary_at_the_same_serial_is_different_content_with_the_rrset() {
    let (p, dashboard) = (common::free_addr(), common::free_addr());
    let other = SocketAddr::from(([127, 0, 0, 4], common::free_port()));
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={other}"),
    ];
    let open = "{ from = \"127.0.0.0/8\" }";
    let monitor = monitor_toml_with(dashboard, &ns, "records = [\"www/A\"]\n");
    let ours = format!("{}www A 192.0.2.1\n", zone_file(5));
    let theirs = format!("{}www A 192.0.2.99\n", zone_file_by(5, "someone-else"));
    let primary = primary_at(p, &monitor, open, &ours);
    let second = primary_at(other, "", open, &theirs);
    let logs = || format!("{}\n--- second ---\n{}", primary.log(), second.log());
    let row = diagnosed_row(dashboard, other, logs);
    let diagnosis = &row["diagnosis"];
    assert_eq!(diagnosis["code"], "different-content", "{row}\n{}", logs());
    let message = diagnosis["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("www.example.com. A: primary has 192.0.2.1, 127.0.0.4 serves 192.0.2.99"),
        "{message}"
    );
    assert!(
        message.contains("example.com. SOA: primary has "),
        "{message}"
    );
    assert!(message.contains("someone-else"), "{message}");
    assert!(
        message.contains("find who else loads this zone"),
        "{message}"
    );
}
