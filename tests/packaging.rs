//! What an operator's machine gets: the systemd unit (accepted by
//! `systemd-analyze verify`, hardened, `Type=notify` with the server's
//! readiness really notified), the man pages (each renders with `man -l`
//! without warnings), the shell completions, and the Debian package
//! (`cargo deb` builds it; it holds the binary, the unit, the pages, the
//! example configuration).

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/systemd/zonesync.service"
);
const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 7 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n";

fn run(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (is it installed? scripts/install-test-deps.sh)"));
    out
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `zonesync man --out DIR`: the paths written.
fn man_pages(dir: &Path) -> Vec<PathBuf> {
    let out = run(zonesync().args(["man", "--out"]).arg(dir), "zonesync man");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

#[test]
fn the_unit_is_hardened_and_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(UNIT).expect("the unit file");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/zonesync serve --config /etc/zonesync/zonesync.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=zonesync",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=zonesync",
        "ReadWritePaths=/var/lib/zonesync",
        "Documentation=man:zonesync(8) man:zonesync.toml(5)",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "{line:?} missing from the unit"
        );
    }
    // As installed: the binary where ExecStart says, the pages where
    // Documentation= says (systemd-analyze checks both).
    let dir = TempDir::new("unit");
    let man8 = dir.join("man/man8");
    let man5 = dir.join("man/man5");
    for page in man_pages(&dir.join("pages")) {
        let section = if page.extension().is_some_and(|e| e == "5") {
            &man5
        } else {
            &man8
        };
        std::fs::create_dir_all(section).unwrap();
        std::fs::copy(&page, section.join(page.file_name().unwrap())).unwrap();
    }
    let unit_path = dir.write(
        "zonesync.service",
        unit.replace("/usr/bin/zonesync", env!("CARGO_BIN_EXE_zonesync")),
    );
    let out = run(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit_path)
            .env("MANPATH", dir.join("man")),
        "systemd-analyze",
    );
    let t = text(&out);
    assert!(out.status.success(), "systemd-analyze verify: {t}");
    assert!(
        !t.contains("zonesync.service"),
        "systemd-analyze has something to say about the unit: {t}"
    );
}

#[test]
fn readiness_and_stopping_are_notified_as_systemd_expects() {
    let dir = TempDir::new("sd-notify");
    dir.write("example.com.zone", ZONE);
    let addr = free_addr();
    let config = dir.write(
        "zonesync.toml",
        format!(
            "[server]\nlisten = [\"{addr}\"]\n{}",
            zone_entry("example.com", "example.com.zone")
        ),
    );
    let socket_path = dir.join("notify");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = zonesync()
        .args(["serve", "--config"])
        .arg(&config)
        .args(allow_root())
        .env("NOTIFY_SOCKET", &socket_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("zonesync serve");
    let guard = scopeguard(child.id());
    let mut buf = [0u8; 512];
    let started = Instant::now();
    let n = socket.recv(&mut buf).unwrap_or_else(|e| {
        panic!(
            "no READY=1 within {:?}: {e}\n{}",
            started.elapsed(),
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        )
    });
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready.contains(&format!("MAINPID={}", child.id())),
        "{ready:?}"
    );
    // Ready means serving: the zone answers at once, no retry needed.
    assert_eq!(soa_serial_at(addr, "example.com"), Some(7));

    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let n = socket.recv(&mut buf).expect("STOPPING=1 after SIGTERM");
    let stopping = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    drop(guard);
}

/// Kills the process on drop (a failed assertion must not leave it).
struct KillPid(u32);

impl Drop for KillPid {
    fn drop(&mut self) {
        // SAFETY: signalling a pid of ours; harmless if it is gone.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

fn scopeguard(pid: u32) -> KillPid {
    KillPid(pid)
}

#[test]
fn every_man_page_renders_without_warnings() {
    let dir = TempDir::new("man");
    let pages = man_pages(dir.path());
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "zonesync.8",
        "zonesync-serve.8",
        "zonesync-check-config.8",
        "zonesync-ctl.8",
        "zonesync-verify.8",
        "zonesync-monitor.8",
        "zonesync.toml.5",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for page in &pages {
        let out = run(
            Command::new("man")
                .args(["--warnings", "-l"])
                .arg(page)
                .env("MANWIDTH", "80")
                .env("MAN_KEEP_FORMATTING", "0"),
            "man",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", page.display());
        assert!(stderr.trim().is_empty(), "{}: {stderr}", page.display());
        assert!(out.stdout.len() > 200, "{} is nearly empty", page.display());
    }
    let config = std::fs::read_to_string(dir.join("zonesync.toml.5")).unwrap();
    for key in [
        "edns_udp_max",
        "allow_transfer",
        "secret_file",
        "retention_days",
    ] {
        assert!(config.contains(key), "{key} in zonesync.toml(5)");
    }
}

#[test]
fn completions_are_scripts_the_shells_accept() {
    let out = run(zonesync().args(["completions", "bash"]), "zonesync");
    assert!(out.status.success(), "{}", text(&out));
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    for word in ["check-config", "serve", "--allow-root", "zone-begin"] {
        assert!(script.contains(word), "{word} in the bash completion");
    }
    let dir = TempDir::new("completions");
    let path = dir.write("zonesync.bash", &script);
    let check = run(Command::new("bash").arg("-n").arg(&path), "bash");
    assert!(check.status.success(), "bash -n: {}", text(&check));
    for shell in ["zsh", "fish"] {
        let out = run(zonesync().args(["completions", shell]), "zonesync");
        assert!(out.status.success() && out.stdout.len() > 500, "{shell}");
    }
}

#[test]
fn cargo_deb_packages_the_binary_the_unit_the_pages_and_a_valid_config() {
    // The binary these tests run, packaged as built (a debug build when
    // `cargo test` ran without --release).
    let bin = Path::new(env!("CARGO_BIN_EXE_zonesync"));
    let profile = match bin
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
    {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let dir = TempDir::new("deb");
    let out = run(
        Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-deb.sh"))
            .args(["--fast", "-o"])
            .arg(dir.join("out"))
            .env("NO_BUILD", "1")
            .env("PROFILE", profile),
        "scripts/build-deb.sh (needs cargo-deb)",
    );
    assert!(out.status.success(), "build-deb.sh: {}", text(&out));
    let deb = std::fs::read_dir(dir.join("out"))
        .expect("output directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");

    let listing = run(Command::new("dpkg").arg("-c").arg(&deb), "dpkg");
    assert!(listing.status.success(), "{}", text(&listing));
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    for expected in [
        "./usr/bin/zonesync",
        "./usr/lib/systemd/system/zonesync.service",
        "./usr/share/man/man8/zonesync.8.gz",
        "./usr/share/man/man8/zonesync-serve.8.gz",
        "./usr/share/man/man8/zonesync-check-config.8.gz",
        "./usr/share/man/man5/zonesync.toml.5.gz",
        "./usr/share/bash-completion/completions/zonesync",
        "./etc/zonesync/zonesync.toml",
        "./usr/share/doc/zonesync/config.md",
        "./usr/share/doc/zonesync/grafana/zonesync.json",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:#?}"
        );
    }
    let conffiles = run(
        Command::new("dpkg-deb")
            .args(["-I"])
            .arg(&deb)
            .arg("conffiles"),
        "dpkg-deb",
    );
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains("/etc/zonesync/zonesync.toml"),
        "{}",
        text(&conffiles)
    );
    let postinst = run(
        Command::new("dpkg-deb")
            .args(["-I"])
            .arg(&deb)
            .arg("postinst"),
        "dpkg-deb",
    );
    assert!(
        String::from_utf8_lossy(&postinst.stdout).contains("adduser --system --group"),
        "{}",
        text(&postinst)
    );

    // What it installs works: the binary runs, the pages render, the
    // example configuration passes the check.
    let root = dir.join("root");
    let x = run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        "dpkg-deb",
    );
    assert!(x.status.success(), "{}", text(&x));
    let installed = root.join("usr/bin/zonesync");
    let version = run(Command::new(&installed).arg("--version"), "zonesync");
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("zonesync "),
        "{}",
        text(&version)
    );
    let page = run(
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(root.join("usr/share/man/man5/zonesync.toml.5.gz"))
            .env("MANWIDTH", "80"),
        "man",
    );
    assert!(
        page.status.success() && page.stderr.is_empty(),
        "{}",
        text(&page)
    );
    let check = run(
        Command::new(&installed)
            .args(["check-config", "--config"])
            .arg(root.join("etc/zonesync/zonesync.toml")),
        "zonesync check-config",
    );
    assert!(check.status.success(), "{}", text(&check));
}
