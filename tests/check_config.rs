//! `zonesync check-config --config FILE`: exit 0 and every zone listed for
//! a good configuration; exit 1 for each kind of problem, the message
//! naming the file and line, or the configuration key.

mod common;

use common::*;
use std::process::Output;
use std::time::Duration;

const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 7 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n";

fn check(dir: &TempDir, config: &str) -> Output {
    let path = dir.write("zonesync.toml", config);
    let mut cmd = zonesync();
    cmd.args(["check-config", "--config"]).arg(&path);
    run_with_timeout(cmd, Duration::from_secs(30)).expect("zonesync check-config")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn primary(name: &str, file: &str) -> String {
    zone_entry(name, file)
}

#[test]
fn a_good_configuration_lists_its_zones_and_passes() {
    let dir = TempDir::new("check-config-good");
    dir.write("example.com.zone", ZONE);
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:5300\"]\n{}\n[[zone]]\nname = \"example.net\"\nrole = \"secondary\"\nprimaries = [{{ address = \"127.0.0.1:5301\" }}]\n",
        primary("example.com", "example.com.zone")
    );
    let o = check(&dir, &config);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("zone example.com: ")
                && l.ends_with("loads, serial 7, 3 records")),
        "{t}"
    );
    assert!(t.contains("zone example.net: secondary"), "{t}");
    assert!(t.contains("OK:"), "{t}");
}

#[test]
fn each_kind_of_problem_is_named_and_fails() {
    let dir = TempDir::new("check-config-bad");
    dir.write("example.com.zone", ZONE);
    dir.write(
        "broken.zone",
        format!("{ZONE}www IN A 192.0.2.300\n").replace("example.com.", "broken.example."),
    );
    dir.write("not-a-dir", "x");
    // A ZONEMD made for serial 6 (ldns-signzone -Z -z 1:1), the SOA at 7.
    let stale = std::process::Command::new("ldns-signzone")
        .current_dir(dir.path())
        .args(["-Z", "-z", "1:1", "-o", "example.com.", "-f", "-"])
        .arg(dir.write("six.zone", ZONE.replace(" 7 3600", " 6 3600")))
        .output()
        .expect("ldns-signzone (ldnsutils)");
    assert!(
        stale.status.success(),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    dir.write(
        "stale-zonemd.zone",
        String::from_utf8_lossy(&stale.stdout)
            .replace(" 6 3600", " 7 3600")
            .replace("\t6\t3600", "\t7\t3600"),
    );
    let good = primary("example.com", "example.com.zone");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("[server]\nlisten = [\"127.0.0.1:5300\"]\nbogus = 1\n{good}"),
            vec!["zonesync.toml:3: server.bogus: unknown key"],
        ),
        (
            format!("{}\n", primary("broken.example", "broken.zone")),
            vec!["broken.zone:6", "zone[0].file"],
        ),
        (
            format!("{good}allow_transfer = [{{ from = \"127.0.0.0/40\" }}]\n"),
            vec![
                "zonesync.toml:6: zone[0].allow_transfer[0].from",
                "127.0.0.0/40",
            ],
        ),
        (
            format!("{good}{}", primary("example.com", "example.com.zone")),
            vec!["zonesync.toml:8: zone[1].name", "configured twice"],
        ),
        (
            format!("[server]\ndata_dir = \"not-a-dir\"\n{good}"),
            vec!["zonesync.toml:2: server.data_dir", "not a directory"],
        ),
        (
            format!("{good}[[zone.allow_update]]\nkey = \"nokey\"\n"),
            vec!["zonesync.toml:7: zone[0].allow_update[0].key", "nokey"],
        ),
        (
            format!("{}\n", primary("example.com", "missing.zone")),
            vec!["missing.zone", "zonesync.toml:4: zone[0].file"],
        ),
        (
            format!(
                "{}zonemd = \"require\"\n",
                primary("example.com", "example.com.zone")
            ),
            vec!["zonesync.toml:6: zone[0].zonemd: no ZONEMD that can be checked"],
        ),
        (
            primary("example.com", "stale-zonemd.zone"),
            vec!["zone[0].zonemd: ZONEMD serial 6 is not the SOA serial 7"],
        ),
        (
            format!("[[key]]\nname = \"xfr\"\nsecret_file = \"xfr.secret\"\n{good}"),
            vec![
                "zonesync.toml:3: key[0].secret_file: cannot read",
                "xfr.secret",
            ],
        ),
    ];
    for (config, needles) in cases {
        let o = check(&dir, &config);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{config}\n{t}");
        for n in needles {
            assert!(t.contains(n), "{n:?} in the output for:\n{config}\n{t}");
        }
    }
}

#[test]
fn every_problem_is_listed_each_with_file_line_and_key() {
    let dir = TempDir::new("check-config-all");
    dir.write("example.com.zone", ZONE);
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:5300\"]\nlisten_tcp = 1\n{}allow_transfer = [{{ from = \"10.0.0.0/99\" }}]\nnotify_nss = true\n{}",
        primary("example.com", "example.com.zone"),
        primary("example.com.", "example.com.zone"),
    );
    let o = check(&dir, &config);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{config}\n{t}");
    let problems: Vec<&str> = t.lines().filter(|l| l.contains("zonesync.toml:")).collect();
    assert!(
        problems[0]
            .contains("zonesync.toml:3: server.listen_tcp: unknown key; this table takes listen, ")
            && problems[0].contains(", data_dir, ")
            && problems[0].ends_with(", xfr_in_max_bytes"),
        "{t}"
    );
    assert!(
        problems
            .iter()
            .any(|l| l.contains("zonesync.toml:9: zone[0].allow_transfer[0].from")),
        "{t}"
    );
    assert!(
        problems
            .iter()
            .any(|l| l.contains("zonesync.toml:10: zone[0].notify_nss: unknown key")),
        "{t}"
    );
    assert!(t.contains("3 problem(s)"), "{t}");
}
