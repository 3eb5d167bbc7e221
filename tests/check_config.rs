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
    let good = primary("example.com", "example.com.zone");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("[server]\nlisten = [\"127.0.0.1:5300\"]\nbogus = 1\n{good}"),
            vec!["line 3", "bogus"],
        ),
        (
            format!("{}\n", primary("broken.example", "broken.zone")),
            vec!["broken.zone:6", "zone[0].file"],
        ),
        (
            format!("{good}allow_transfer = [{{ from = \"127.0.0.0/40\" }}]\n"),
            vec!["allow_transfer", "127.0.0.0/40"],
        ),
        (
            format!("{good}{}", primary("example.com", "example.com.zone")),
            vec!["configured twice"],
        ),
        (
            format!("[server]\ndata_dir = \"not-a-dir\"\n{good}"),
            vec!["server.data_dir", "not a directory"],
        ),
        (
            format!("{good}[[zone.allow_update]]\nkey = \"nokey\"\n"),
            vec!["allow_update[0].key", "nokey"],
        ),
        (
            format!("{}\n", primary("example.com", "missing.zone")),
            vec!["missing.zone", "zone[0].file"],
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
