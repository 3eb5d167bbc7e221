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

/// Another secret for [`KEY`] (a secondary that has it wrong).
const OTHER_SECRET: &str = "c2VjcmV0IG9mIGFub3RoZXIgc2Vjb25kYXJ5IGtleSE=";

/// A primary of example.com with `server` in its `[server]`, `more` after
/// it (`[monitor]`, `[[key]]`…), `zone_keys` in its `[[zone]]`, listening
/// on every address of `listen` (the first is its `addr()`).
fn primary_on(
    listen: &[SocketAddr],
    server: &str,
    more: &str,
    zone_keys: &str,
    zone: &str,
) -> common::Server {
    let mut extra_args = Vec::new();
    for a in listen {
        extra_args.push("--listen".to_owned());
        extra_args.push(a.to_string());
    }
    common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\n{server}{more}{}{zone_keys}",
            common::zone_entry("example.com", "example.com.zone")
        ),
        &[("example.com.zone", zone)],
        &common::StartOptions {
            addr: listen.first().copied(),
            extra_args,
            ..common::StartOptions::default()
        },
    )
}

/// The `/status` row at `addr` once its diagnosis is `code` (an earlier
/// one may come first: the evidence grows as the change spreads).
fn row_with_code(
    dashboard: SocketAddr,
    addr: SocketAddr,
    code: &str,
    logs: impl Fn() -> String,
) -> serde_json::Value {
    let mut row = serde_json::Value::Null;
    let found = common::wait_until(Duration::from_secs(30), || {
        let (_, body) = common::http_get(dashboard, "/status");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        row = json["zones"][0]["servers"]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["addr"] == addr.to_string()).cloned())
            .unwrap_or_default();
        row["diagnosis"]["code"] == code
    });
    assert!(found, "{code} for {addr}: {row}\n{}", logs());
    row
}

/// A BIND secondary on [::1] whose `primaries` key is `key` (name,
/// secret) while the primary's `allow_transfer` wants xfr-key: its signed
/// SOA queries fail TSIG, it never serves the zone, and the doctor's
/// message (in `/status` and in the webhook alert) says why. Returns the
/// message.
fn bind_with_key_is_transfer_refused(key: (&str, &str)) -> String {
    use common::{free_port_on, lo, lo6, BindOptions, BindSecondary, Webhook};
    let port = free_port_on(&[lo(1), lo6()]);
    let listen = [SocketAddr::new(lo(1), port), SocketAddr::new(lo6(), port)];
    let bind_addr = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let dashboard = common::free_addr();
    let webhook = Webhook::start();
    let ns = [
        format!("ns1.example.com={}", listen[0]),
        format!("ns2.example.com={bind_addr}"),
    ];
    let more = format!(
        "{}[monitor.alerts]\nwebhook = \"http://{}/hook\"\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n",
        monitor_toml(dashboard, &ns),
        webhook.addr
    );
    let zone_keys = format!("allow_transfer = [{{ from = \"::1/128\", key = \"{KEY}\" }}]\n");
    let primary = primary_on(&listen, "", &more, &zone_keys, &zone_file(1));
    let bind = BindSecondary::start(
        bind_addr,
        listen[1],
        "example.com",
        &BindOptions {
            key: Some((key.0.to_owned(), key.1.to_owned())),
            transfer_source: Some(lo6()),
        },
    );
    let logs = || format!("{}\n--- named ---\n{}", primary.log(), bind.log());
    let row = row_with_code(dashboard, bind_addr, "transfer-refused", logs);
    let message = row["diagnosis"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The alert for the lame row carries the diagnosis, its message as
    // the detail.
    let mut alert = serde_json::Value::Null;
    let alerted = common::wait_until(Duration::from_secs(15), || {
        alert = webhook
            .received()
            .into_iter()
            .find(|a| {
                a["state"] == "alert"
                    && a["condition"] == "lame"
                    && a["server"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with(&format!("@{bind_addr}"))
            })
            .unwrap_or_default();
        !alert.is_null()
    });
    assert!(
        alerted,
        "an alert for {bind_addr}: {:?}\n{}",
        webhook.received(),
        logs()
    );
    assert_eq!(alert["diagnosis"]["code"], "transfer-refused", "{alert}");
    assert_eq!(alert["detail"], alert["diagnosis"]["message"], "{alert}");
    let detail = alert["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(key.0), "{alert}");
    // No heal loop: a refused transfer needs the operator, so nothing is
    // sent to it (two more heal_after periods pass first).
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        events(dashboard, "heal").is_empty(),
        "{:?}",
        events(dashboard, "heal")
    );
    let peer = peer_history(dashboard, "::1");
    assert!(peer["last_heal"].is_null(), "{peer}");
    message
}

#[test]
fn bind_with_a_wrong_secret_is_transfer_refused_naming_the_key() {
    let message = bind_with_key_is_transfer_refused((KEY, OTHER_SECRET));
    assert!(message.contains("BADSIG"), "{message}");
    assert!(
        message.contains(&format!("key \"{KEY}\" has another secret")),
        "{message}"
    );
}

#[test]
fn bind_with_a_wrong_key_name_is_transfer_refused_naming_both_keys() {
    let message = bind_with_key_is_transfer_refused(("other-key", SECRET));
    assert!(message.contains("BADKEY"), "{message}");
    assert!(message.contains("\"other-key\""), "{message}");
    assert!(message.contains(&format!("(we have: {KEY})")), "{message}");
}

/// A zonesync secondary on [::1] receives serial 21 whole, but the
/// primary (`zonemd = "off"`) published it with a ZONEMD of zero digest,
/// which the secondary (`zonemd = "verify"`) refuses: it keeps serving 20
/// after a complete transfer of 21. The doctor asks it through its
/// control (`[[monitor.secondary]]`) to retransfer, which cannot help,
/// and says `heal-failed` with what was tried.
#[test]
fn a_transfer_the_secondary_refuses_to_load_is_served_old_after_transfer() {
    use common::{free_port_on, lo, lo6};
    let port = free_port_on(&[lo(1), lo6()]);
    let listen = [SocketAddr::new(lo(1), port), SocketAddr::new(lo6(), port)];
    let secondary_addr = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let control = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={}", listen[0]),
        format!("ns2.example.com={secondary_addr}"),
    ];
    let zone_keys = format!(
        "allow_transfer = [{{ from = \"::1/128\" }}]\nnotify = [\"{secondary_addr}\"]\nzonemd = \"off\"\n"
    );
    let monitor = format!(
        "{}[[monitor.secondary]]\naddress = \"{secondary_addr}\"\ncontrol = \"{control}\"\n",
        monitor_toml(dashboard, &ns)
    );
    let primary = primary_on(
        &listen,
        "notify_delay_ms = 0\nnotify_retries = 1\n",
        &monitor,
        &zone_keys,
        &zone_file(20),
    );
    let secondary = common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n\
             [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\n\
             primaries = [{{ address = \"{}\" }}]\n",
            listen[1]
        ),
        &[],
        &common::StartOptions {
            addr: Some(secondary_addr),
            ..common::StartOptions::default()
        },
    );
    let logs = || format!("{}\n--- secondary ---\n{}", primary.log(), secondary.log());
    common::wait_serial_at(
        secondary_addr,
        "example.com",
        20,
        Duration::from_secs(10),
        logs,
    );
    let zero = "00".repeat(48);
    primary.rewrite(
        "example.com.zone",
        &format!("{}@ ZONEMD 21 1 1 {zero}\n", zone_file(21)),
    );
    primary.signal("HUP");
    common::wait_serial_at(listen[0], "example.com", 21, Duration::from_secs(10), logs);
    assert!(
        secondary.wait_for_log(
            "ZONEMD digest mismatch at serial 21",
            Duration::from_secs(10)
        ),
        "{}",
        logs()
    );
    let row = row_with_code(dashboard, secondary_addr, "served-old-after-transfer", logs);
    let message = row["diagnosis"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("of serial 21"), "{message}");
    assert!(message.contains("it serves 20"), "{message}");
    let failed = common::wait_until(Duration::from_secs(20), || {
        !events(dashboard, "heal-failed").is_empty()
    });
    assert!(failed, "{:?}\n{}", events(dashboard, "heal"), logs());
    let heals = events(dashboard, "heal");
    let asked = format!("served-old-after-transfer: retransfer via {control} asked");
    let queued = format!("retransfer via {control}: queued");
    assert!(
        heals.contains(&asked) && heals.contains(&queued),
        "{heals:?}"
    );
    assert!(
        !heals.iter().any(|h| h.contains("refresh via")),
        "a retransfer alone: {heals:?}"
    );
    let failed = events(dashboard, "heal-failed");
    assert!(
        failed[0].starts_with(&format!(
            "served-old-after-transfer: tried retransfer via {control} at "
        )) && failed[0].ends_with("(queued); still serving 20, not 21"),
        "{failed:?}"
    );
    assert!(
        secondary.wait_for_log("retransfer", Duration::from_secs(5)),
        "{}",
        logs()
    );
    assert_eq!(
        common::soa_serial_at(secondary_addr, "example.com"),
        Some(20)
    );
}

/// example.com with ns2 (127.0.0.2) in its NS set.
fn zone_with_ns2(serial: u32) -> String {
    format!("{}@ NS ns2\nns2 A 127.0.0.2\n", zone_file(serial))
}

/// A primary on 127.0.0.1 with `[monitor]` watching itself and a Knot
/// secondary on 127.0.0.2 (asking from there), `zone_keys` in its zone,
/// the Knot secondary at serial 1: (primary, knot, dashboard).
fn primary_and_knot(
    zone_keys: impl Fn(SocketAddr) -> String,
) -> (common::Server, common::KnotSecondary, SocketAddr) {
    use common::{free_port_on, lo, KnotOptions, KnotSecondary};
    let p = common::free_addr();
    let knot_addr = SocketAddr::new(lo(2), free_port_on(&[lo(2)]));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={knot_addr}"),
    ];
    let zone_keys = format!(
        "allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n{}",
        zone_keys(knot_addr)
    );
    let primary = primary_on(
        &[p],
        "notify_delay_ms = 0\nnotify_retries = 1\n",
        &monitor_toml(dashboard, &ns),
        &zone_keys,
        &zone_with_ns2(1),
    );
    let knot = KnotSecondary::start(
        knot_addr,
        p,
        "example.com",
        &KnotOptions { via: Some(lo(2)) },
    );
    common::wait_serial_at(knot_addr, "example.com", 1, Duration::from_secs(20), || {
        format!("{}\n--- knot ---\n{}", primary.log(), knot.log())
    });
    (primary, knot, dashboard)
}

/// Serial 2 loaded by the primary.
fn change_to_2(primary: &common::Server) {
    primary.rewrite("example.com.zone", &zone_with_ns2(2));
    primary.signal("HUP");
    common::wait_serial_at(
        primary.addr(),
        "example.com",
        2,
        Duration::from_secs(10),
        || primary.log(),
    );
}

/// The store's events of `kind` for example.com, oldest first.
fn events(dashboard: SocketAddr, kind: &str) -> Vec<String> {
    let (_, body) = common::http_get(dashboard, "/api/events?zone=example.com&limit=200");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let mut found: Vec<String> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    found.reverse();
    found
}

/// Waits (bounded) for the `healed` event, and for `addr` to serve 2.
fn wait_healed(dashboard: SocketAddr, addr: SocketAddr, logs: impl Fn() -> String) {
    let healed = common::wait_until(Duration::from_secs(30), || {
        !events(dashboard, "healed").is_empty()
    });
    assert!(
        healed,
        "no healed event: {:?}\n{}",
        events(dashboard, "heal"),
        logs()
    );
    common::wait_serial_at(addr, "example.com", 2, Duration::from_secs(5), logs);
}

/// `addr`'s entry in the primary's peer history (`/api/peers`).
fn peer_history(dashboard: SocketAddr, addr: &str) -> serde_json::Value {
    let (status, body) = common::http_get(dashboard, "/api/peers?zone=example.com");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    json["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["address"] == addr)
        .cloned()
        .unwrap_or_default()
}

/// Knot is in the zone's NS set but not in its `notify`: after a change
/// it would wait for its SOA REFRESH (3600 s). The doctor says
/// `not-notified`, sends it NOTIFY, and Knot catches up; the events tell
/// the heal, its acknowledgment and the catch-up time, the metrics count
/// them, and the primary's peer history keeps the heal NOTIFY apart.
#[test]
fn knot_in_the_ns_set_but_not_in_notify_is_not_notified_then_healed_by_notify() {
    let (primary, knot, dashboard) = primary_and_knot(|_| String::new());
    change_to_2(&primary);
    let k = knot.addr;
    let logs = || format!("{}\n--- knot ---\n{}", primary.log(), knot.log());
    wait_healed(dashboard, k, logs);
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses.iter().any(|d| d.starts_with("not-notified: ")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    assert!(
        heals
            .first()
            .is_some_and(|h| h.starts_with(&format!("not-notified: NOTIFY to {k} planned"))),
        "{heals:?}"
    );
    assert!(
        heals
            .iter()
            .any(|h| h.starts_with(&format!("NOTIFY to {k}, try 1 of 3: acknowledged"))),
        "{heals:?}\n{}",
        logs()
    );
    let healed = events(dashboard, "healed");
    assert_eq!(healed.len(), 1, "{healed:?}");
    assert!(
        healed[0].starts_with("healed by NOTIFY at ") && healed[0].ends_with(" ms later"),
        "{healed:?}"
    );
    assert!(events(dashboard, "heal-failed").is_empty());

    let peer = peer_history(dashboard, "127.0.0.2");
    assert_eq!(peer["last_heal"]["kind"], "notify", "{peer}");
    assert_eq!(peer["last_heal"]["heal"], true, "{peer}");
    assert!(
        peer["last_notify"].is_null(),
        "no NOTIFY for the change: {peer}"
    );
    assert_eq!(
        peer["last_transfer"]["outcome"]["result"], "served",
        "{peer}"
    );

    let (_, metrics) = common::http_get(dashboard, "/metrics");
    let server = format!("ns2.example.com.@{k}");
    for (action, result) in [
        ("notify", "asked"),
        ("notify", "acknowledged"),
        ("heal", "healed"),
    ] {
        let line = format!(
            "zonesync_monitor_heals_total{{zone=\"example.com.\",server=\"{server}\",action=\"{action}\",result=\"{result}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
}

/// Knot is stopped through the change's NOTIFY round (no answer, the
/// retries spent), then started: it serves the old serial from its
/// journal and would wait an hour. The doctor says our NOTIFY was never
/// answered, NOTIFYs it now that it answers, and it catches up.
#[test]
fn knot_stopped_through_the_notify_round_is_notify_unacknowledged_then_healed_once_back() {
    let (primary, mut knot, dashboard) =
        primary_and_knot(|knot| format!("notify = [\"{knot}\"]\n"));
    knot.stop();
    change_to_2(&primary);
    assert!(
        primary.wait_for_log("NOTIFY gave up", Duration::from_secs(15)),
        "{}",
        primary.log()
    );
    knot.start_again();
    let k = knot.addr;
    let logs = || format!("{}\n--- knot ---\n{}", primary.log(), knot.log());
    wait_healed(dashboard, k, logs);
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses
            .iter()
            .any(|d| d.starts_with("notify-unacknowledged: NOTIFY for serial 2 sent 2 times")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    assert!(
        heals
            .iter()
            .any(|h| h.starts_with("notify-unacknowledged: NOTIFY to ")),
        "{heals:?}"
    );
    assert!(
        heals.iter().any(
            |h| h.starts_with(&format!("NOTIFY to {k}, try ")) && h.ends_with(": acknowledged")
        ),
        "{heals:?}"
    );
}

/// Knot is notified and acknowledges, but its primary is an address where
/// nothing listens: it never asks us anything and serves nothing. The
/// doctor says `never-asked`, NOTIFYs it three times (each acknowledged,
/// none helping), then says `heal-failed` with what was tried, once, and
/// alerts; nothing more is sent.
#[test]
fn a_secondary_pointing_elsewhere_is_never_asked_and_heal_failed_after_its_tries() {
    use common::{free_port_on, lo, KnotOptions, KnotSecondary};
    let port = free_port_on(&[lo(1), lo(2), lo(9)]);
    let (p, k) = (SocketAddr::new(lo(1), port), SocketAddr::new(lo(2), port));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={k}"),
    ];
    let primary = primary_on(
        &[p],
        "notify_retries = 1\n",
        &monitor_toml(dashboard, &ns),
        &format!("allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{k}\"]\n"),
        &zone_with_ns2(1),
    );
    let knot = KnotSecondary::start(
        k,
        SocketAddr::new(lo(9), port),
        "example.com",
        &KnotOptions { via: Some(lo(2)) },
    );
    let logs = || format!("{}\n--- knot ---\n{}", primary.log(), knot.log());
    let failed = common::wait_until(Duration::from_secs(40), || {
        !events(dashboard, "heal-failed").is_empty()
    });
    assert!(
        failed,
        "no heal-failed: {:?}\n{}",
        events(dashboard, "heal"),
        logs()
    );
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses.iter().any(|d| d.starts_with("never-asked: ")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    for n in 1..=3 {
        let want = format!("NOTIFY to {k}, try {n} of 3: acknowledged");
        assert!(heals.contains(&want), "{want}: {heals:?}\n{}", logs());
    }
    assert!(
        !heals.iter().any(|h| h.contains("try 4")),
        "no more than heal_tries: {heals:?}"
    );
    let failed = events(dashboard, "heal-failed");
    assert_eq!(failed.len(), 1, "said once: {failed:?}");
    assert!(
        failed[0].starts_with("never-asked: tried NOTIFY ×3 (")
            && failed[0].ends_with("; still not serving the zone (serial 1)"),
        "{failed:?}"
    );
    let alerted = common::wait_until(Duration::from_secs(5), || {
        events(dashboard, "alert")
            .iter()
            .any(|a| a.starts_with("heal-failed"))
    });
    assert!(alerted, "{:?}", events(dashboard, "alert"));
    std::thread::sleep(Duration::from_secs(2));
    let peer = peer_history(dashboard, "127.0.0.2");
    let sent = peer["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "notify" && e["heal"] == true)
        .count();
    assert_eq!(sent, 3, "{peer}");
}

const CTL_KEY: &str = "ctl-key";
const NOTIFY_SECRET: &str = "Yl9EwiOEZBYmN3Q3NjBXZdDGv8Cc7IV+TrIcyqvNyVE=";

/// A zonesync secondary on [::1], its control keyed with ctl-key and named
/// in `[[monitor.secondary]]`, lacks the key the primary signs its NOTIFY
/// with, so it answers BADKEY. The doctor says `notify-refused`, asks it
/// through its control to refresh, and it catches up; the primary's peer
/// history has the refresh.
#[test]
fn notify_refused_then_healed_by_a_control_refresh() {
    use common::{free_port_on, lo, lo6};
    let port = free_port_on(&[lo(1), lo6()]);
    let (p, p6) = (SocketAddr::new(lo(1), port), SocketAddr::new(lo6(), port));
    let s = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let control = SocketAddr::new(lo6(), free_port_on(&[lo6()]));
    let dashboard = common::free_addr();
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={s}"),
    ];
    let keys = format!(
        "[[key]]\nname = \"notify-key\"\nsecret = \"{NOTIFY_SECRET}\"\n\
         [[key]]\nname = \"{CTL_KEY}\"\nsecret = \"{SECRET}\"\n"
    );
    let monitor = format!(
        "{}[[monitor.secondary]]\naddress = \"{s}\"\ncontrol = \"{control}\"\ncontrol_key = \"{CTL_KEY}\"\n{keys}",
        monitor_toml(dashboard, &ns)
    );
    let primary = primary_on(
        &[p, p6],
        "notify_retries = 1\n",
        &monitor,
        &format!(
            "allow_transfer = [{{ from = \"::1/128\" }}]\nnotify = [{{ addr = \"{s}\", key = \"notify-key\" }}]\n"
        ),
        &zone_file(1),
    );
    let secondary = common::Server::start_with(
        &format!(
            "[server]\nudp_workers = 1\ncontrol = \"{control}\"\ncontrol_key = \"{CTL_KEY}\"\n\
             [[key]]\nname = \"{CTL_KEY}\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\nname = \"example.com\"\nrole = \"secondary\"\nprimaries = [{{ address = \"{p6}\" }}]\n"
        ),
        &[],
        &common::StartOptions {
            addr: Some(s),
            ..common::StartOptions::default()
        },
    );
    let logs = || format!("{}\n--- secondary ---\n{}", primary.log(), secondary.log());
    common::wait_serial_at(s, "example.com", 1, Duration::from_secs(20), logs);
    primary.rewrite("example.com.zone", &zone_file(2));
    primary.signal("HUP");
    wait_healed(dashboard, s, logs);
    let diagnoses = events(dashboard, "diagnosis");
    assert!(
        diagnoses
            .iter()
            .any(|d| d.starts_with("notify-refused: ") && d.contains("notify-key")),
        "{diagnoses:?}"
    );
    let heals = events(dashboard, "heal");
    let asked = format!("notify-refused: refresh via {control} asked");
    let queued = format!("refresh via {control}: queued");
    assert!(
        heals.contains(&asked) && heals.contains(&queued),
        "{heals:?}"
    );
    let healed = events(dashboard, "healed");
    assert!(
        healed[0].starts_with(&format!("healed by refresh via {control} at ")),
        "{healed:?}"
    );
    let heal = peer_history(dashboard, "::1")["last_heal"].clone();
    assert_eq!(heal["kind"], "heal", "{heal}");
    assert_eq!(heal["action"], "refresh", "{heal}");
    assert_eq!(heal["result"], "queued", "{heal}");
}

/// The second primary does not transfer the zone to us: the doctor
/// compares the `records` it answered (www/A) with what we serve.
#[test]
fn a_second_primary_refusing_axfr_is_different_content_from_its_records() {
    let (p, dashboard) = (common::free_addr(), common::free_addr());
    let other = SocketAddr::from(([127, 0, 0, 4], common::free_port()));
    let ns = [
        format!("ns1.example.com={p}"),
        format!("ns2.example.com={other}"),
    ];
    let open = "{ from = \"127.0.0.0/8\" }";
    let monitor = monitor_toml_with(dashboard, &ns, "records = [\"www/A\"]\n");
    let ours = format!("{}www A 192.0.2.1\n", zone_file(5));
    let theirs = format!("{}www A 192.0.2.99\n", zone_file(5));
    let primary = primary_at(p, &monitor, open, &ours);
    let second = primary_at(other, "", "{ from = \"192.0.2.0/24\" }", &theirs);
    let logs = || format!("{}\n--- second ---\n{}", primary.log(), second.log());
    let row = row_with_code(dashboard, other, "different-content", logs);
    let message = row["diagnosis"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "www.example.com. A: primary has 192.0.2.1, 127.0.0.4 serves 192.0.2.99: "
        ),
        "{message}"
    );
    assert!(
        second.wait_for_log("transfer refused by allow_transfer", Duration::from_secs(5)),
        "{}",
        logs()
    );
}
