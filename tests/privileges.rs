//! Port 53 without root: started as root with `server.user`, the server
//! binds, then drops to the user (every thread); started as an
//! unprivileged user with CAP_NET_BIND_SERVICE (as the systemd unit does),
//! it binds port 53 itself, and without the capability it cannot. Root
//! without `server.user` is refused unless `--allow-root` says so.
//!
//! These need root to set up (chown, setpriv); CI runs as root. Run as
//! another user, they say so and check nothing.

mod common;

use common::*;
use hickory_proto::rr::RecordType;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 7 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n";
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Port 53 on a loopback address of its own (127.53.x.y), free for UDP
/// and TCP.
fn port_53(salt: u8) -> SocketAddr {
    for i in 0..50u8 {
        let ip = Ipv4Addr::new(127, 53, (std::process::id() % 200) as u8 + salt, 10 + i);
        let addr = SocketAddr::new(IpAddr::V4(ip), 53);
        let udp = std::net::UdpSocket::bind(addr);
        let tcp = std::net::TcpListener::bind(addr);
        if udp.is_ok() && tcp.is_ok() {
            return addr;
        }
    }
    panic!("no free port 53 on 127.53.0.0/16");
}

/// A directory the user `nobody` can read, with a data directory it owns.
fn setup(tag: &str, addr: SocketAddr, extra: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    dir.write("example.com.zone", ZONE);
    dir.write(
        "zonesync.toml",
        format!(
            "[server]\nlisten = [\"{addr}\"]\ndata_dir = \"data\"\n{extra}\n{}",
            zone_entry("example.com", "example.com.zone")
        ),
    );
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    std::os::unix::fs::chown(dir.join("data"), Some(NOBODY), Some(NOBODY)).expect("chown data");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(mut cmd: Command, dir: &TempDir) -> Running {
    let log = std::fs::File::create(dir.join("server.log")).expect("log");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    Running(cmd.spawn().expect("spawn zonesync"))
}

fn log(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// The real uid of every thread of `pid`.
fn thread_uids(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc tasks");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Real, effective, saved, filesystem: all must have changed.
            let ids: Vec<u32> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            ids.iter().all(|&id| id == ids[0]).then_some(ids[0])
        })
        .collect()
}

fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("metadata").uid()
}

#[test]
fn root_binds_port_53_then_drops_to_the_user() {
    if !is_root() {
        eprintln!("not root: nothing checked (CI runs as root)");
        return;
    }
    let addr = port_53(0);
    let dir = setup("priv-drop", addr, "user = \"nobody\"\ngroup = \"nogroup\"");
    let mut cmd = zonesync();
    cmd.args(["serve", "--config"])
        .arg(dir.join("zonesync.toml"));
    let server = spawn(cmd, &dir);
    let pid = server.0.id();
    assert!(
        wait_until(READY_TIMEOUT, || soa_serial_at(addr, "example.com")
            == Some(7)),
        "not answering on {addr}\n{}",
        log(&dir)
    );
    let uids = thread_uids(pid);
    assert!(uids.len() > 2, "threads: {uids:?}");
    assert!(
        uids.iter().all(|&u| u == NOBODY),
        "every thread must run as nobody: {uids:?}\n{}",
        log(&dir)
    );
    let l = log(&dir);
    assert!(l.contains("dropped root"), "{l}");
    // What the server wrote, it wrote as the user.
    let secret = dir.join("data/cookie_secret");
    assert!(
        wait_until(Duration::from_secs(5), || secret.exists()),
        "{}",
        log(&dir)
    );
    assert_eq!(owner(&secret), NOBODY);
    let m = query_tcp(addr, "example.com", RecordType::SOA, &QueryOpts::plain());
    assert_eq!(m.answers().len(), 1);
}

#[test]
fn a_user_with_cap_net_bind_service_binds_port_53_and_one_without_cannot() {
    if !is_root() {
        eprintln!("not root: nothing checked (CI runs as root)");
        return;
    }
    let as_nobody = |caps: bool, dir: &TempDir| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        if caps {
            cmd.args([
                "--inh-caps=+net_bind_service",
                "--ambient-caps=+net_bind_service",
            ]);
        }
        cmd.arg("--")
            .arg(env!("CARGO_BIN_EXE_zonesync"))
            .args(["serve", "--config"])
            .arg(dir.join("zonesync.toml"))
            .env_remove("RUST_LOG");
        cmd
    };
    let addr = port_53(100);
    let dir = setup("priv-cap", addr, "");
    let server = spawn(as_nobody(true, &dir), &dir);
    assert!(
        wait_until(READY_TIMEOUT, || soa_serial_at(addr, "example.com")
            == Some(7)),
        "not answering on {addr}\n{}",
        log(&dir)
    );
    let uids = thread_uids(server.0.id());
    assert!(uids.iter().all(|&u| u == NOBODY), "{uids:?}");
    drop(server);

    let dir = setup("priv-nocap", addr, "");
    let mut server = spawn(as_nobody(false, &dir), &dir);
    let status = wait_timeout(&mut server.0, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| !s.success()),
        "must fail: {status:?}"
    );
    let l = log(&dir);
    assert!(l.contains(&format!("binding UDP {addr}")), "{l}");
    assert!(l.contains("Permission denied"), "{l}");
}

#[test]
fn root_without_a_user_is_refused_unless_allow_root() {
    if !is_root() {
        eprintln!("not root: nothing checked (CI runs as root)");
        return;
    }
    let dir = TempDir::new("priv-root");
    dir.write("example.com.zone", ZONE);
    let config = dir.write(
        "zonesync.toml",
        format!(
            "[server]\nlisten = [\"{}\"]\n{}",
            free_addr(),
            zone_entry("example.com", "example.com.zone")
        ),
    );
    let mut cmd = zonesync();
    cmd.args(["serve", "--config"]).arg(&config);
    let out = run_with_timeout(cmd, Duration::from_secs(10)).expect("zonesync serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to run as root"), "{err}");
    assert!(err.contains("--allow-root"), "{err}");
    // Nothing was written before the refusal.
    assert!(
        !dir.join("data").exists(),
        "data_dir created before refusing"
    );
}
