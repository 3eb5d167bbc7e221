//! Shared helpers for zonesync's integration tests.
//!
//! Use from a test file with `mod common;` and `use common::*;`.
//!
//! - [`TempDir`]: a scratch directory removed on drop (std only).
//! - [`Server`]: a `zonesync serve` process on a free loopback port, with
//!   its own configuration and zone files in a [`TempDir`], its stderr in a
//!   log file, killed and reaped on drop.
//! - Queries: [`build_query`] makes a query from [`QueryOpts`] byte by byte
//!   (so tests control every header bit and EDNS field); [`query_udp`] and
//!   [`query_tcp`] send it and parse the response with `hickory_proto`;
//!   [`raw_udp`], [`raw_tcp`] and [`TcpConn`] send hand-made bytes.
//! - Reading responses: [`describe`] (for failure messages), the `*_of`
//!   functions over raw header bytes, [`rcode`] with extended RCODEs.
//! - Peers (`peers.rs`): [`AuthServer`] runs zonesync, Knot, NSD or BIND
//!   serving zone files on a chosen loopback address; [`require_tool`],
//!   [`free_port_on`], [`SilentUdp`].
//! - Signing (`signing.rs`): [`ZoneKeys`] signs zones at test time with
//!   ldns or BIND tools; [`Delv`] validates answers with `delv`.
//! - Browser (`browser.rs`): [`Browser`] runs headless chromium under
//!   chromedriver (WebDriver, `fantoccini`) for page tests.
//! - Certificates (`pki.rs`): [`Pki`] makes CAs, server and client
//!   certificates (an expired one too) with `openssl` for TLS tests.
//!
//! Every socket has a timeout and every wait or retry is bounded, so a
//! broken server makes a test fail, never hang.

#![allow(dead_code)]

mod peers;
#[allow(unused_imports)]
pub use peers::*;
mod signing;
#[allow(unused_imports)]
pub use signing::*;
mod browser;
#[allow(unused_imports)]
pub use browser::*;
mod pki;
#[allow(unused_imports)]
pub use pki::*;
mod webhook;
#[allow(unused_imports)]
pub use webhook::*;

use hickory_proto::op::Message;
use hickory_proto::rr::{Record, RecordType};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The zonesync binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_zonesync");

/// How long one UDP or TCP exchange waits for an answer.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a UDP query is sent before giving up.
pub const UDP_TRIES: usize = 3;
/// How long [`raw_udp`] and [`raw_tcp`] wait for an answer that may
/// rightly never come.
pub const RAW_TIMEOUT: Duration = Duration::from_secs(1);
/// Default bound for a server to start answering.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Scratch directories

/// A fresh directory under the system temp dir, unique per process and
/// call, removed (with its contents) on drop. Set `ZONESYNC_TEST_KEEP=1` to
/// keep it for debugging.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/zonesync-test-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("zonesync-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` inside the directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes `contents` to `rel` (parent directories created) and returns
    /// the full path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        write_file(&self.path.join(rel), contents.as_ref())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ZONESYNC_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes a file, creating its parent directories; panics on failure.
pub fn write_file(path: &Path, contents: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path.to_owned()
}

/// Moves a file's modification time `secs` seconds ahead of now, so that a
/// rewrite is seen as a change even on file systems with coarse mtimes.
pub fn bump_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.set_modified(SystemTime::now() + Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("cannot set mtime of {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// Ports

/// A loopback port that is free for both UDP and TCP right now. Ports are
/// never handed out twice by one test process, so servers of tests running
/// in parallel cannot end up on one port (zonesync's UDP sockets use
/// SO_REUSEPORT, which would otherwise let two servers share it).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    for _ in 0..100 {
        let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(port) = udp.local_addr().map(|a| a.port()) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            continue;
        }
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free loopback port found for UDP and TCP in 100 tries");
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()))
}

// ---------------------------------------------------------------------------
// Running zonesync

/// A `Command` for the zonesync binary with a predictable environment
/// (no `RUST_LOG` from the caller, no colours in the log).
pub fn zonesync() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// `--allow-root` when the tests run as root (as CI does): `serve`
/// refuses root otherwise (see `privileges`).
pub fn allow_root() -> &'static [&'static str] {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        &["--allow-root"]
    } else {
        &[]
    }
}

/// `GET path` over HTTP/1.1 on `addr` (dashboards, control, metrics):
/// status and body; 0 and "" when nothing answers. The server closes
/// after one answer.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs a command to completion, killing it if it takes longer than
/// `timeout`; returns its output (`status` is that of the killed process
/// then, and the panic message of the caller should say so).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output, String> {
    let dir = TempDir::new("run");
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let status = match wait_timeout(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                strip_ansi(&std::fs::read_to_string(&err_path).unwrap_or_default())
            ));
        }
    };
    Ok(Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: strip_ansi(&std::fs::read_to_string(&err_path).unwrap_or_default()).into_bytes(),
    })
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Removes ANSI colour sequences (ESC `[` ... letter) from a log.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The SOA serial `addr` serves for `zone`: from an authoritative NOERROR
/// answer over UDP (up to `UDP_TRIES` tries of 500 ms), else `None`.
pub fn soa_serial_at(addr: SocketAddr, zone: &str) -> Option<u32> {
    let m = (0..UDP_TRIES).find_map(|_| {
        try_query_udp(
            addr,
            zone,
            RecordType::SOA,
            &QueryOpts::plain(),
            Duration::from_millis(500),
        )
        .ok()
    })?;
    if m.response_code() != hickory_proto::op::ResponseCode::NoError || !m.header().authoritative()
    {
        return None;
    }
    match m.answers().first().and_then(|a| a.data()) {
        Some(hickory_proto::rr::RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    }
}

/// Waits (bounded by `within`) until `addr` serves `zone` at `serial`;
/// returns how long that took. Panics, with what `addr` served and
/// `logs()`, when it does not.
pub fn wait_serial_at(
    addr: SocketAddr,
    zone: &str,
    serial: u32,
    within: Duration,
    logs: impl Fn() -> String,
) -> Duration {
    let t0 = Instant::now();
    let ok = wait_until(within, || soa_serial_at(addr, zone) == Some(serial));
    assert!(
        ok,
        "{zone} serial {serial} not served at {addr} within {within:?} (serving {:?})\n{}",
        soa_serial_at(addr, zone),
        logs()
    );
    t0.elapsed()
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes;
/// returns whether it did.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How [`Server::start_with`] starts the server.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Put a different (unused) address in the configuration's `listen`
    /// and the real one in `--listen`: the server must answer on the
    /// latter only. [`Server::config_addr`] is the former.
    pub listen_via_flag: bool,
    /// How long to wait for the first answer.
    pub ready_timeout: Duration,
    /// Name whose SOA is asked to see the server answering; by default the
    /// first `name = "..."` of the configuration, or the root.
    pub ready_name: Option<String>,
    /// More command-line arguments after `serve --config FILE`.
    pub extra_args: Vec<String>,
    /// Listen on this address instead of a free one picked at start (so
    /// that another server's config can name it first).
    pub addr: Option<SocketAddr>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            listen_via_flag: false,
            ready_timeout: READY_TIMEOUT,
            ready_name: None,
            extra_args: Vec::new(),
            addr: None,
        }
    }
}

/// A running `zonesync serve`.
///
/// The configuration is `config_body` with `listen = ["127.0.0.1:PORT"]`
/// added to its `[server]` table (which is created when absent), so the
/// body must not set `listen` itself. Zone files are written beside the
/// configuration, so `file = "NAME"` in a `[[zone]]` finds them. The
/// server's stderr goes to `server.log` in the same directory.
pub struct Server {
    child: Child,
    /// How it was started, for [`Server::restart`].
    opts: StartOptions,
    ready_name: String,
    addr: SocketAddr,
    config_addr: SocketAddr,
    log_path: PathBuf,
    config_path: PathBuf,
    // Last: removed after the process is gone.
    dir: TempDir,
}

impl Server {
    /// Starts a server; panics (with the log) if it does not answer an SOA
    /// query within [`READY_TIMEOUT`].
    pub fn start(config_body: &str, zones: &[(&str, &str)]) -> Server {
        Server::start_with(config_body, zones, &StartOptions::default())
    }

    /// [`Server::start`] with options.
    pub fn start_with(config_body: &str, zones: &[(&str, &str)], opts: &StartOptions) -> Server {
        match Server::try_start(config_body, zones, opts) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Server::start_with`], but returns the reason (with the log)
    /// instead of panicking. A start that fails because its port was taken
    /// in the meantime is retried on another port, three times at most.
    pub fn try_start(
        config_body: &str,
        zones: &[(&str, &str)],
        opts: &StartOptions,
    ) -> Result<Server, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let dir = TempDir::new("server");
            for (name, contents) in zones {
                dir.write(name, contents);
            }
            let addr = opts.addr.unwrap_or_else(free_addr);
            let config_addr = if opts.listen_via_flag {
                free_addr()
            } else {
                addr
            };
            let config_path = dir.write("zonesync.toml", with_listen(config_body, config_addr));
            let log_path = dir.join("server.log");
            let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
            let child = spawn_serve(&config_path, dir.path(), addr, opts, log)?;
            let ready_name = opts
                .ready_name
                .clone()
                .or_else(|| first_zone_name(config_body))
                .unwrap_or_else(|| ".".into());
            let mut server = Server {
                child,
                opts: opts.clone(),
                ready_name: ready_name.clone(),
                addr,
                config_addr,
                log_path,
                config_path,
                dir,
            };
            match server.wait_ready(&ready_name, opts.ready_timeout) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let log = server.log();
                    last = format!("{e}\n--- server log ---\n{log}");
                    if !log.contains("in use") {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// Stops the server (SIGKILL with `kill9`, else SIGTERM and a wait) and
    /// starts it again on the same address, configuration and directory;
    /// the log is appended to. Panics if it does not come back.
    pub fn restart(&mut self, kill9: bool) {
        if !self.is_running() {
            // Already stopped by the caller.
        } else if kill9 {
            let _ = self.child.kill();
            let _ = self.child.wait();
        } else {
            self.signal("TERM");
            assert!(
                self.wait_exit(Duration::from_secs(10)).is_some(),
                "zonesync did not stop on SIGTERM\n{}",
                self.log()
            );
        }
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .expect("server log");
        let mut last = String::new();
        // The port is ours, but the kernel may take a moment to free it.
        for _ in 0..20 {
            self.child = spawn_serve(
                &self.config_path,
                self.dir.path(),
                self.addr,
                &self.opts,
                log.try_clone().expect("log handle"),
            )
            .expect("restart");
            let name = self.ready_name.clone();
            match self.wait_ready(&name, self.opts.ready_timeout) {
                Ok(()) => return,
                Err(e) => last = e,
            }
            if !self.log().contains("in use") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("zonesync did not come back: {last}\n{}", self.log());
    }

    /// Waits until both UDP and TCP answer an SOA query for `name`.
    fn wait_ready(&mut self, name: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let query = build_query(name, RecordType::SOA, &QueryOpts::default());
        let mut udp_ok = false;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("zonesync exited before answering ({status})"));
            }
            if !udp_ok {
                udp_ok = udp_exchange_once(self.addr, &query, Duration::from_millis(200)).is_ok();
            }
            if udp_ok && tcp_exchange(self.addr, &query, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "zonesync did not answer an SOA query for {name} on {} within {timeout:?} \
                     (UDP answered: {udp_ok})",
                    self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address the server answers on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address written in the configuration (differs from
    /// [`addr`](Self::addr) only with `listen_via_flag`).
    pub fn config_addr(&self) -> SocketAddr {
        self.config_addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory holding the configuration, zone files and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Path of a zone file (or any file) beside the configuration.
    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Replaces a file beside the configuration and moves its mtime ahead,
    /// so that the next SIGHUP sees it as changed.
    pub fn rewrite(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.dir.write(rel, contents);
        bump_mtime(&path, 2);
        path
    }

    /// Everything the server wrote to stderr so far, without colours.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log_path).unwrap_or_default())
    }

    /// Waits until the log contains `needle`; returns whether it did.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// Sends a signal by name ("HUP", "TERM", ...) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill -{name}: {e}"));
        assert!(
            status.success(),
            "kill -{name} {} failed: {status}",
            self.pid()
        );
    }

    /// Waits for the process to exit; `None` if it is still running after
    /// `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, timeout)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- zonesync log ({}) ---\n{}", self.addr, self.log());
        }
    }
}

/// Starts `zonesync serve` for [`Server`].
fn spawn_serve(
    config_path: &Path,
    dir: &Path,
    addr: SocketAddr,
    opts: &StartOptions,
    log: std::fs::File,
) -> Result<Child, String> {
    let mut cmd = zonesync();
    cmd.arg("serve").arg("--config").arg(config_path);
    cmd.args(allow_root());
    if opts.listen_via_flag {
        cmd.arg("--listen").arg(addr.to_string());
    }
    cmd.args(&opts.extra_args);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {BIN}: {e}"))
}

/// The configuration text with `listen` set in `[server]`: the line is
/// added after a line that is exactly `[server]` (blanks around it
/// allowed), or a `[server]` table is put first when there is none.
pub fn with_listen(body: &str, addr: SocketAddr) -> String {
    let line = format!("listen = [\"{addr}\"]\n");
    let mut out = String::new();
    let mut done = false;
    for l in body.lines() {
        out.push_str(l);
        out.push('\n');
        if !done && l.trim() == "[server]" {
            out.push_str(&line);
            done = true;
        }
    }
    if done {
        out
    } else {
        format!("[server]\n{line}\n{out}")
    }
}

/// The first `name = "..."` in a configuration text.
fn first_zone_name(config: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
    })
}

/// `origin` at `serial` with `n` hosts (`hostI A 192.0.2.x`): `n + 4`
/// records; REFRESH two hours away, so in a test only NOTIFY and `ctl`
/// start a secondary's refresh.
pub fn hosts_a_zone(origin: &str, serial: u32, n: usize) -> String {
    let hosts: String = (1..=n)
        .map(|i| format!("host{i} A 192.0.2.{}\n", i % 250 + 1))
        .collect();
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n\
         @ SOA ns1 hostmaster {serial} 7200 900 1209600 60\n\
         @ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n{hosts}"
    )
}

/// The records `server` sends for an AXFR of `zone` over TCP in clear
/// (its closing SOA included), as `zonesync xfr` prints them; panics
/// when the transfer fails.
pub fn axfr_record_count(server: SocketAddr, zone: &str) -> usize {
    let mut cmd = zonesync();
    cmd.args(["xfr", zone, "--server", &server.to_string()]);
    let out = run_with_timeout(cmd, Duration::from_secs(40)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "AXFR of {zone} from {server}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .count()
}

/// `zonesync check-config` and `zonesync serve` on a configuration file
/// that must be refused: both fail (bounded); returns what check-config
/// printed (stdout and stderr) and what serve logged.
pub fn refused_config(config: &Path) -> (String, String) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let limit = Duration::from_secs(40);
    let mut check = zonesync();
    check.arg("check-config").arg("--config").arg(config);
    let out = run_with_timeout(check, limit).unwrap_or_else(|e| panic!("{e}"));
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "check-config: {printed}");
    let mut serve = zonesync();
    serve
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(allow_root());
    let out = run_with_timeout(serve, limit).unwrap_or_else(|e| panic!("{e}"));
    let log = text(&out.stderr);
    assert!(!out.status.success(), "serve started: {log}");
    (printed, log)
}

/// A `[[zone]]` table for a primary zone read from `file`.
pub fn zone_entry(name: &str, file: &str) -> String {
    format!("\n[[zone]]\nname = \"{name}\"\nfile = \"{file}\"\nrole = \"primary\"\n")
}

// ---------------------------------------------------------------------------
// Building queries

/// What goes into a query besides its name and type. `Default` is a plain
/// query: no EDNS, RD and CD clear, opcode QUERY, class IN, random id.
#[derive(Clone, Debug)]
pub struct QueryOpts {
    /// Message id; random when `None`.
    pub id: Option<u16>,
    /// Whether to add an OPT record (RFC 6891).
    pub edns: bool,
    /// EDNS UDP payload size (the OPT's CLASS).
    pub payload: u16,
    /// EDNS version (the OPT's TTL bits 16-23).
    pub edns_version: u8,
    /// The DO bit (RFC 3225).
    pub dnssec_ok: bool,
    /// Ask for the NSID (RFC 5001): an empty option 3.
    pub nsid: bool,
    /// More EDNS options, (code, data), after NSID.
    pub options: Vec<(u16, Vec<u8>)>,
    pub rd: bool,
    pub cd: bool,
    /// 4-bit opcode (0 = QUERY).
    pub opcode: u8,
    pub qclass: u16,
}

impl Default for QueryOpts {
    fn default() -> Self {
        QueryOpts {
            id: None,
            edns: false,
            payload: 1232,
            edns_version: 0,
            dnssec_ok: false,
            nsid: false,
            options: Vec::new(),
            rd: false,
            cd: false,
            opcode: 0,
            qclass: 1,
        }
    }
}

impl QueryOpts {
    /// A plain query (no EDNS).
    pub fn plain() -> Self {
        QueryOpts::default()
    }
    /// A query with EDNS and this UDP payload size.
    pub fn edns(payload: u16) -> Self {
        QueryOpts {
            edns: true,
            payload,
            ..QueryOpts::default()
        }
    }
    pub fn id(mut self, id: u16) -> Self {
        self.id = Some(id);
        self
    }
    /// Sets the DO bit (implies EDNS).
    pub fn dnssec_ok(mut self) -> Self {
        self.edns = true;
        self.dnssec_ok = true;
        self
    }
    /// Asks for the NSID (implies EDNS).
    pub fn nsid(mut self) -> Self {
        self.edns = true;
        self.nsid = true;
        self
    }
    /// Adds an EDNS option (implies EDNS).
    pub fn option(mut self, code: u16, data: &[u8]) -> Self {
        self.edns = true;
        self.options.push((code, data.to_vec()));
        self
    }
    /// Sets the EDNS version (implies EDNS).
    pub fn edns_version(mut self, version: u8) -> Self {
        self.edns = true;
        self.edns_version = version;
        self
    }
    pub fn rd(mut self) -> Self {
        self.rd = true;
        self
    }
    pub fn cd(mut self) -> Self {
        self.cd = true;
        self
    }
    pub fn opcode(mut self, opcode: u8) -> Self {
        self.opcode = opcode;
        self
    }
    pub fn qclass(mut self, qclass: u16) -> Self {
        self.qclass = qclass;
        self
    }
}

/// A new pseudo-random message id.
pub fn next_id() -> u16 {
    static STATE: AtomicU16 = AtomicU16::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = STATE.fetch_add(0x9e37, Ordering::Relaxed);
    (nanos as u16) ^ n ^ (std::process::id() as u16)
}

/// A presentation name ("www.example.com", trailing dot optional, "." for
/// the root) in uncompressed wire format, keeping its case. No escapes:
/// for odd labels build the bytes by hand.
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name.is_empty() {
        for label in name.split('.') {
            assert!(
                !label.is_empty() && label.len() <= 63,
                "bad label {label:?} in {name:?}"
            );
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    out
}

/// A DNS header (RFC 1035 §4.1.1) with these counts.
pub fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(12);
    for v in [id, flags, qd, an, ns, ar] {
        h.extend_from_slice(&v.to_be_bytes());
    }
    h
}

/// The flags word of a query made with `opts`.
pub fn query_flags(opts: &QueryOpts) -> u16 {
    let mut flags = (u16::from(opts.opcode) & 0x0f) << 11;
    if opts.rd {
        flags |= 0x0100;
    }
    if opts.cd {
        flags |= 0x0010;
    }
    flags
}

/// An OPT record (RFC 6891 §6.1.2) as `opts` asks for it.
pub fn opt_record(opts: &QueryOpts) -> Vec<u8> {
    let mut rdata = Vec::new();
    if opts.nsid {
        rdata.extend_from_slice(&[0, 3, 0, 0]);
    }
    for (code, data) in &opts.options {
        rdata.extend_from_slice(&code.to_be_bytes());
        rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
        rdata.extend_from_slice(data);
    }
    let ttl = (u32::from(opts.edns_version) << 16) | if opts.dnssec_ok { 0x8000 } else { 0 };
    let mut rr = vec![0, 0, 41];
    rr.extend_from_slice(&opts.payload.to_be_bytes());
    rr.extend_from_slice(&ttl.to_be_bytes());
    rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    rr.extend_from_slice(&rdata);
    rr
}

/// A query message in wire format.
pub fn build_query(name: &str, rtype: RecordType, opts: &QueryOpts) -> Vec<u8> {
    let id = opts.id.unwrap_or_else(next_id);
    let ar = u16::from(opts.edns);
    let mut msg = header(id, query_flags(opts), 1, 0, 0, ar);
    msg.extend_from_slice(&wire_name(name));
    msg.extend_from_slice(&u16::from(rtype).to_be_bytes());
    msg.extend_from_slice(&opts.qclass.to_be_bytes());
    if opts.edns {
        msg.extend_from_slice(&opt_record(opts));
    }
    msg
}

// ---------------------------------------------------------------------------
// Sending

/// A UDP socket on the loopback address of `peer`'s family.
fn udp_socket(peer: SocketAddr, timeout: Duration) -> std::io::Result<UdpSocket> {
    let socket = if peer.is_ipv6() {
        UdpSocket::bind((std::net::Ipv6Addr::LOCALHOST, 0))?
    } else {
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
    };
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    Ok(socket)
}

/// Sends `query` once over UDP and waits up to `timeout` for a datagram
/// with the same id (others are skipped).
pub fn udp_exchange_once(
    addr: SocketAddr,
    query: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let socket = udp_socket(addr, timeout).map_err(|e| format!("UDP socket: {e}"))?;
    socket
        .send_to(query, addr)
        .map_err(|e| format!("UDP send to {addr}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no UDP answer from {addr} within {timeout:?}"));
        }
        let _ = socket.set_read_timeout(Some(left));
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == addr => {
                if n >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
                    return Ok(buf[..n].to_vec());
                }
            }
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "no UDP answer from {addr} within {timeout:?} ({e})"
                ))
            }
        }
    }
}

/// Sends `query` over UDP, up to [`UDP_TRIES`] times, and returns the
/// response bytes.
pub fn exchange_udp(addr: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let mut last = String::new();
    for _ in 0..UDP_TRIES {
        match udp_exchange_once(addr, query, EXCHANGE_TIMEOUT) {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
    }
    Err(format!("{last} ({UDP_TRIES} tries)"))
}

/// Sends one framed query on a new TCP connection and reads one framed
/// response.
pub fn tcp_exchange(addr: SocketAddr, query: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let mut conn = TcpConn::connect_timeout(addr, timeout)?;
    conn.send(query)?;
    conn.recv()?
        .ok_or_else(|| format!("TCP connection to {addr} closed without an answer"))
}

/// [`tcp_exchange`] with [`EXCHANGE_TIMEOUT`], tried twice.
pub fn exchange_tcp(addr: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    tcp_exchange(addr, query, EXCHANGE_TIMEOUT)
        .or_else(|_| tcp_exchange(addr, query, EXCHANGE_TIMEOUT))
}

/// Parses a response, panicking with its bytes when `hickory_proto`
/// cannot read it.
pub fn parse(bytes: &[u8]) -> Message {
    Message::from_vec(bytes)
        .unwrap_or_else(|e| panic!("response does not parse ({e}): {}", hex(bytes)))
}

/// Queries over UDP; returns the response bytes and the parsed message.
/// Panics when no answer comes.
pub fn query_udp_wire(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
    opts: &QueryOpts,
) -> (Vec<u8>, Message) {
    let q = build_query(name, rtype, opts);
    let bytes = exchange_udp(addr, &q)
        .unwrap_or_else(|e| panic!("UDP query {name} {rtype} ({opts:?}): {e}"));
    let msg = parse(&bytes);
    (bytes, msg)
}

/// Queries over UDP and parses the response; panics when no answer comes.
pub fn query_udp(addr: SocketAddr, name: &str, rtype: RecordType, opts: &QueryOpts) -> Message {
    query_udp_wire(addr, name, rtype, opts).1
}

/// One UDP attempt with a given timeout; an error instead of a panic.
pub fn try_query_udp(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
    opts: &QueryOpts,
    timeout: Duration,
) -> Result<Message, String> {
    let q = build_query(name, rtype, opts);
    let bytes = udp_exchange_once(addr, &q, timeout)?;
    Message::from_vec(&bytes).map_err(|e| format!("unparseable response ({e}): {}", hex(&bytes)))
}

/// Queries over TCP; returns the response bytes and the parsed message.
pub fn query_tcp_wire(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
    opts: &QueryOpts,
) -> (Vec<u8>, Message) {
    let q = build_query(name, rtype, opts);
    let bytes = exchange_tcp(addr, &q)
        .unwrap_or_else(|e| panic!("TCP query {name} {rtype} ({opts:?}): {e}"));
    let msg = parse(&bytes);
    (bytes, msg)
}

/// Queries over TCP and parses the response; panics when no answer comes.
pub fn query_tcp(addr: SocketAddr, name: &str, rtype: RecordType, opts: &QueryOpts) -> Message {
    query_tcp_wire(addr, name, rtype, opts).1
}

/// Sends arbitrary bytes as one UDP datagram and returns the first
/// datagram that comes back within [`RAW_TIMEOUT`], if any. No retry and
/// no id check: for malformed messages that may rightly get no answer.
pub fn raw_udp(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    raw_udp_timeout(addr, bytes, RAW_TIMEOUT)
}

/// [`raw_udp`] with a chosen timeout.
pub fn raw_udp_timeout(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let socket = udp_socket(addr, timeout).ok()?;
    socket.send_to(bytes, addr).ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// Sends arbitrary bytes over a new TCP connection, framed with their
/// length, and returns one framed response, or `None` when the server
/// closes the connection or says nothing within [`RAW_TIMEOUT`].
pub fn raw_tcp(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut conn = TcpConn::connect_timeout(addr, RAW_TIMEOUT).ok()?;
    conn.set_timeout(RAW_TIMEOUT);
    conn.send(bytes).ok()?;
    conn.recv().ok().flatten()
}

/// A TCP connection speaking RFC 1035 §4.2.2 framing, for tests that need
/// several messages on one connection.
pub struct TcpConn {
    stream: TcpStream,
}

impl TcpConn {
    /// Wraps a stream connected by the caller (e.g. from a chosen source
    /// address).
    pub fn from_stream(stream: TcpStream) -> TcpConn {
        TcpConn { stream }
    }

    /// Connects with [`EXCHANGE_TIMEOUT`] on connect, reads and writes.
    pub fn connect(addr: SocketAddr) -> Result<TcpConn, String> {
        TcpConn::connect_timeout(addr, EXCHANGE_TIMEOUT)
    }

    pub fn connect_timeout(addr: SocketAddr, timeout: Duration) -> Result<TcpConn, String> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("TCP connect to {addr}: {e}"))?;
        let conn = TcpConn { stream };
        conn.set_timeout(timeout);
        let _ = conn.stream.set_nodelay(true);
        Ok(conn)
    }

    /// Read and write timeout from now on.
    pub fn set_timeout(&self, timeout: Duration) {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let _ = self.stream.set_write_timeout(Some(timeout));
    }

    /// Sends one message with its 2-octet length.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        self.send_raw(&framed)
    }

    /// Sends several messages, each framed, in a single write.
    pub fn send_pipelined(&mut self, msgs: &[&[u8]]) -> Result<(), String> {
        let mut all = Vec::new();
        for m in msgs {
            all.extend_from_slice(&(m.len() as u16).to_be_bytes());
            all.extend_from_slice(m);
        }
        self.send_raw(&all)
    }

    /// Sends bytes as they are (no framing).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("TCP write: {e}"))
    }

    /// Reads one framed message: `Ok(None)` when the server closed the
    /// connection cleanly before a new message began.
    pub fn recv(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut len = [0u8; 2];
        match self.stream.read(&mut len[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(format!("TCP read: {e}")),
        }
        self.stream
            .read_exact(&mut len[1..])
            .map_err(|e| format!("TCP read of length: {e}"))?;
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        self.stream
            .read_exact(&mut msg)
            .map_err(|e| format!("TCP read of {} octets: {e}", msg.len()))?;
        Ok(Some(msg))
    }

    /// Waits up to `timeout` for the server to close the connection;
    /// returns whether it did (EOF or reset). Data received meanwhile is
    /// discarded.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 512];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Reading responses

/// Header flag bits (RFC 1035 §4.1.1, RFC 4035 §3.1.6).
pub mod flag {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// RCODE values (RFC 1035 §4.1.1, RFC 6891 §9).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const BADVERS: u16 = 16;
}

/// The mnemonic of an RCODE.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}

/// The id of a raw message.
pub fn id_of(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// The flags word of a raw message.
pub fn flags_of(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[2], bytes[3]])
}

/// The 4-bit RCODE in the header of a raw message.
pub fn header_rcode_of(bytes: &[u8]) -> u16 {
    flags_of(bytes) & 0x0f
}

/// The counts (QD, AN, NS, AR) of a raw message.
pub fn counts_of(bytes: &[u8]) -> [u16; 4] {
    let c = |i: usize| u16::from_be_bytes([bytes[4 + 2 * i], bytes[5 + 2 * i]]);
    [c(0), c(1), c(2), c(3)]
}

/// The full RCODE of a parsed response (with the EDNS extended bits).
pub fn rcode(msg: &Message) -> u16 {
    u16::from(msg.response_code())
}

/// The flags word of a parsed response (RCODE bits left out).
pub fn flags(msg: &Message) -> u16 {
    let h = msg.header();
    let mut f = 0;
    if h.message_type() == hickory_proto::op::MessageType::Response {
        f |= flag::QR;
    }
    for (on, bit) in [
        (h.authoritative(), flag::AA),
        (h.truncated(), flag::TC),
        (h.recursion_desired(), flag::RD),
        (h.recursion_available(), flag::RA),
        (h.authentic_data(), flag::AD),
        (h.checking_disabled(), flag::CD),
    ] {
        if on {
            f |= bit;
        }
    }
    f
}

/// Flags as text, e.g. "qr aa rd".
pub fn flags_text(flags: u16) -> String {
    let names = [
        (flag::QR, "qr"),
        (flag::AA, "aa"),
        (flag::TC, "tc"),
        (flag::RD, "rd"),
        (flag::RA, "ra"),
        (flag::AD, "ad"),
        (flag::CD, "cd"),
    ];
    let on: Vec<&str> = names
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    on.join(" ")
}

/// One record per line, as `name ttl class type rdata`.
pub fn records_text(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "  {} {} {} {} {}\n",
                r.name(),
                r.ttl(),
                r.dns_class(),
                type_text(r),
                rdata_text(r)
            )
        })
        .collect()
}

/// A response in a few lines, for failure messages.
pub fn describe(msg: &Message) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rcode={} flags=[{}] id={}",
        rcode_name(rcode(msg)),
        flags_text(flags(msg)),
        msg.id()
    );
    for q in msg.queries() {
        let _ = writeln!(
            s,
            "question: {} {} {}",
            q.name(),
            q.query_class(),
            q.query_type()
        );
    }
    for (title, records) in [
        ("answer", msg.answers()),
        ("authority", msg.name_servers()),
        ("additional", msg.additionals()),
    ] {
        let _ = writeln!(s, "{title}:");
        s.push_str(&records_text(records));
    }
    match msg.extensions() {
        Some(e) => {
            let _ = writeln!(
                s,
                "edns: payload={} version={} do={} options={:?}",
                e.max_payload(),
                e.version(),
                e.dnssec_ok(),
                e.options()
            );
        }
        None => s.push_str("edns: none\n"),
    }
    s
}

/// The records of `records` with this type.
pub fn of_type(records: &[Record], rtype: RecordType) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .collect()
}

/// DNAME (RFC 6672), which `hickory_proto` 0.24 knows only as a number.
pub const DNAME: RecordType = RecordType::Unknown(39);

/// A record's type as its mnemonic (DNAME included).
pub fn type_text(record: &Record) -> String {
    match record.record_type() {
        DNAME => "DNAME".into(),
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

/// An uncompressed wire name as text ("www.example.com."), `None` when the
/// bytes are not exactly one such name (e.g. compressed).
pub fn wire_name_text(bytes: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut pos = 0;
    loop {
        let len = *bytes.get(pos)? as usize;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = bytes.get(pos + 1..pos + 1 + len)?;
        out.push_str(&String::from_utf8_lossy(label));
        out.push('.');
        pos += 1 + len;
    }
    if pos + 1 != bytes.len() {
        return None;
    }
    Some(if out.is_empty() { ".".into() } else { out })
}

/// The rdata of a record as text. DNAME rdata (which `hickory_proto` keeps
/// as raw bytes) is shown as its target name, or as
/// `<not an uncompressed name: HEX>` (RFC 6672 §2.5 forbids compressing it).
pub fn rdata_text(record: &Record) -> String {
    match (record.record_type(), record.data()) {
        (DNAME, Some(hickory_proto::rr::RData::Unknown { rdata, .. })) => {
            let bytes = rdata.anything();
            wire_name_text(bytes)
                .unwrap_or_else(|| format!("<not an uncompressed name: {}>", hex(bytes)))
        }
        (_, Some(d)) => d.to_string(),
        (_, None) => String::new(),
    }
}

/// Bytes as hex, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An OPT record as found in a raw message (RFC 6891 §6.1.2-3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawOpt {
    /// The section it was found in: 0 answer, 1 authority, 2 additional.
    pub section: usize,
    pub owner_is_root: bool,
    pub payload: u16,
    pub ext_rcode: u8,
    pub version: u8,
    pub dnssec_ok: bool,
    pub options: Vec<(u16, Vec<u8>)>,
}

impl RawOpt {
    /// The data of the first option with this code.
    pub fn option(&self, code: u16) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, d)| &d[..])
    }
}

/// Skips a possibly compressed name at `pos`; returns the position after.
fn skip_name(bytes: &[u8], mut pos: usize) -> Result<(usize, bool), String> {
    let start = pos;
    loop {
        let len = *bytes.get(pos).ok_or("name runs past the end")?;
        match len {
            0 => return Ok((pos + 1, pos == start)),
            1..=63 => pos += 1 + len as usize,
            0xc0..=0xff => return Ok((pos + 2, false)),
            _ => return Err(format!("bad label type {len:#x} at {pos}")),
        }
    }
}

/// Every OPT record in a raw message, with where it was; an error when the
/// message cannot be walked.
pub fn raw_opts(bytes: &[u8]) -> Result<Vec<RawOpt>, String> {
    if bytes.len() < 12 {
        return Err("shorter than a header".into());
    }
    let [qd, an, ns, ar] = counts_of(bytes);
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(bytes, pos)?.0 + 4;
    }
    let mut found = Vec::new();
    for (section, count) in [an, ns, ar].into_iter().enumerate() {
        for _ in 0..count {
            let (p, root) = skip_name(bytes, pos)?;
            let field = |at: usize, n: usize| {
                bytes
                    .get(at..at + n)
                    .ok_or_else(|| "record runs past the end".to_string())
            };
            let rtype = u16::from_be_bytes(field(p, 2)?.try_into().unwrap());
            let class = u16::from_be_bytes(field(p + 2, 2)?.try_into().unwrap());
            let ttl = u32::from_be_bytes(field(p + 4, 4)?.try_into().unwrap());
            let rdlen = u16::from_be_bytes(field(p + 8, 2)?.try_into().unwrap()) as usize;
            let rdata = field(p + 10, rdlen)?;
            pos = p + 10 + rdlen;
            if rtype != 41 {
                continue;
            }
            let mut options = Vec::new();
            let mut o = 0;
            while o + 4 <= rdata.len() {
                let code = u16::from_be_bytes([rdata[o], rdata[o + 1]]);
                let len = u16::from_be_bytes([rdata[o + 2], rdata[o + 3]]) as usize;
                let data = rdata
                    .get(o + 4..o + 4 + len)
                    .ok_or("OPT option runs past its RDATA")?;
                options.push((code, data.to_vec()));
                o += 4 + len;
            }
            if o != rdata.len() {
                return Err("OPT RDATA has a partial option".into());
            }
            found.push(RawOpt {
                section,
                owner_is_root: root,
                payload: class,
                ext_rcode: (ttl >> 24) as u8,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & 0x8000 != 0,
                options,
            });
        }
    }
    if pos != bytes.len() {
        return Err(format!(
            "{} octets after the last record",
            bytes.len() - pos
        ));
    }
    Ok(found)
}

/// The single OPT record of a raw response; panics when there is none,
/// more than one, or it is not in the additional section.
pub fn the_opt(bytes: &[u8]) -> RawOpt {
    let opts =
        raw_opts(bytes).unwrap_or_else(|e| panic!("cannot walk response ({e}): {}", hex(bytes)));
    assert_eq!(
        opts.len(),
        1,
        "expected exactly one OPT record in the response (RFC 6891 §6.1.1), got {}: {opts:?}",
        opts.len()
    );
    let opt = opts.into_iter().next().unwrap();
    assert_eq!(
        opt.section, 2,
        "OPT must be in the additional section: {opt:?}"
    );
    assert!(
        opt.owner_is_root,
        "OPT owner must be the root (RFC 6891 §6.1.2): {opt:?}"
    );
    opt
}

// ---------------------------------------------------------------------------
// Knot DNS as a primary

/// Where Debian puts a program; `None` when it is not installed.
pub fn which(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Who may transfer from a [`KnotPrimary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnotAcl {
    /// Loopback, with or without the key.
    Open,
    /// Loopback, signed with the key only.
    KeyOnly,
}

/// knotd serving example.com from a zone file, with journal-backed IXFR
/// (a reload computes the difference to the zone file) and the TSIG key
/// `xfr-key` (hmac-sha256, `secret`). Killed on drop.
pub struct KnotPrimary {
    pub addr: SocketAddr,
    dir: TempDir,
    child: Child,
}

impl KnotPrimary {
    /// `None` when knotd is not installed.
    pub fn start(zone_text: &str, secret: &str, acl: KnotAcl) -> Option<KnotPrimary> {
        let knotd = which("knotd")?;
        let dir = TempDir::new("knot-primary");
        let port = free_port();
        dir.write("example.com.zone", zone_text);
        let (open_rule, acls) = match acl {
            KnotAcl::Open => (
                "  - id: open\n    address: 127.0.0.0/8\n    action: transfer\n",
                "[open, signed]",
            ),
            KnotAcl::KeyOnly => ("", "[signed]"),
        };
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: \"{d}\"\n\
             key:\n  - id: xfr-key\n    algorithm: hmac-sha256\n    secret: {secret}\n\
             acl:\n{open_rule}  - id: signed\n    address: 127.0.0.0/8\n    key: xfr-key\n    action: transfer\n\
             zone:\n  - domain: example.com\n    storage: \"{d}\"\n    file: example.com.zone\n\
             \x20   zonefile-load: difference\n    zonefile-sync: -1\n    journal-content: changes\n\
             \x20   acl: {acls}\n",
            d = dir.path().display(),
        );
        let conf_path = dir.write("knot.conf", conf);
        let log = std::fs::File::create(dir.join("knot.log")).expect("log");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("knotd");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Some(KnotPrimary { addr, dir, child })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knot.log")).unwrap_or_default()
    }

    /// Waits (bounded) for Knot to answer `serial` to an SOA query;
    /// panics with its log.
    pub fn wait_serial(&self, serial: u32) {
        wait_serial_at(
            self.addr,
            "example.com",
            serial,
            Duration::from_secs(15),
            || format!("--- knot log ---\n{}", self.log()),
        );
    }

    /// Replaces the zone file and has Knot reload it (SIGHUP).
    pub fn change_zone(&self, zone_text: &str, serial: u32) {
        let path = self.dir.write("example.com.zone", zone_text);
        bump_mtime(&path, 2);
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        self.wait_serial(serial);
    }
}

impl Drop for KnotPrimary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- knot log ---\n{}", self.log());
        }
    }
}

/// Runs an RFC 2136 client (`nsupdate` or `knsupdate`) with `args`,
/// addressed to `server` for `zone`, with `script` then `send` on stdin;
/// bounded in time. Returns whether it succeeded, and its output.
pub fn run_update_client(
    program: &str,
    args: &[&str],
    server: SocketAddr,
    zone: &str,
    script: &str,
) -> (bool, String) {
    use std::io::Write as _;
    let text = format!(
        "server {} {}\nzone {zone}\n{script}\nsend\n",
        server.ip(),
        server.port()
    );
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("update client output");
    (
        status.is_some_and(|s| s.success()),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Where the name (labels, or labels ending in a compression pointer) at
/// `pos` of a raw message ends; `None` when it runs past the message.
pub fn skip_wire_name(b: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *b.get(pos)?;
        if len == 0 {
            return Some(pos + 1);
        }
        if len & 0xC0 == 0xC0 {
            return Some(pos + 2);
        }
        pos += 1 + usize::from(len);
    }
    None
}
