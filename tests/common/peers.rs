//! Authoritative servers of every vendor serving zones from files, for
//! tests that need several real nameservers side by side (`zonesync
//! verify`): zonesync, Knot DNS (`knotd`), NSD and BIND 9 (`named`).
//!
//! - [`AuthServer`]: one server on a chosen address (`127.0.0.x:PORT` or
//!   `[::1]:PORT`), serving [`ZoneFile`]s, with AXFR open to loopback or
//!   refused ([`Transfers`]); started in the foreground in its own
//!   [`TempDir`] (configuration, zone files, pid/state files, log), ready
//!   when it answers every zone's SOA authoritatively, killed by its PID
//!   and reaped on drop (its configuration and log printed when the test
//!   is failing).
//! - [`require_tool`]: a peer program, or a panic saying how to install it
//!   (a missing peer fails the test, it never skips it).
//! - [`free_port_on`]: one port free on several loopback addresses.
//! - [`SilentUdp`]: an address that takes UDP queries and never answers.
//! - [`authoritative_serial`]: the SOA serial an address serves for a zone.
//! - [`named_conf`] and [`spawn_named`]: a BIND 9 `named` of a test's own
//!   (its files in its [`TempDir`], its output in [`PEER_LOG`] there).
//! - [`run_peer_tool`]: a peer's command-line tool, bounded, its output
//!   shown when it fails; [`show_peer_if_panicking`]: a peer's
//!   configuration and log printed when a test fails.
//!
//! Every wait is bounded ([`PEER_READY_TIMEOUT`]).

use super::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RData;
use std::net::{IpAddr, Ipv6Addr};

/// Bound for a peer to start answering its zones.
pub const PEER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Bound for one run of a peer's tool ([`run_peer_tool`]).
pub const PEER_TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// The file in a peer's directory that takes its stdout and stderr.
pub const PEER_LOG: &str = "server.log";

/// A program the tests need, from the usual Debian directories or `PATH`;
/// panics with the package to install when it is missing (CI installs
/// it; a silent skip would hide a gap).
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed (Debian package {package}); these tests need it as \
                 a peer: run scripts/install-test-deps.sh"
            )
        })
}

/// A child process killed (by its PID) and reaped on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that is free for UDP and TCP on every one of `ips` right now
/// (taken from [`free_port`], so never handed out twice by this process).
pub fn free_port_on(ips: &[IpAddr]) -> u16 {
    for _ in 0..50 {
        let port = free_port();
        let free = ips.iter().all(|ip| {
            let addr = SocketAddr::new(*ip, port);
            UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
        });
        if free {
            return port;
        }
    }
    panic!("no port free for UDP and TCP on all of {ips:?} in 50 tries");
}

/// `127.0.0.n`.
pub fn lo(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// `::1`.
pub fn lo6() -> IpAddr {
    IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// A UDP socket bound on an address that reads nothing and answers
/// nothing (a server that is down but whose host still takes packets);
/// nothing listens on TCP there. Closed on drop.
pub struct SilentUdp {
    pub addr: SocketAddr,
    _socket: UdpSocket,
}

impl SilentUdp {
    pub fn bind(addr: SocketAddr) -> SilentUdp {
        let socket =
            UdpSocket::bind(addr).unwrap_or_else(|e| panic!("cannot bind UDP {addr}: {e}"));
        SilentUdp {
            addr,
            _socket: socket,
        }
    }
}

/// The serial of the SOA `addr` answers for `zone` with NOERROR and AA
/// (one UDP try of `timeout`, then TCP when truncated); `None` for
/// anything else.
pub fn authoritative_serial(addr: SocketAddr, zone: &str, timeout: Duration) -> Option<u32> {
    let mut m = try_query_udp(addr, zone, RecordType::SOA, &QueryOpts::plain(), timeout).ok()?;
    if m.header().truncated() {
        let q = build_query(zone, RecordType::SOA, &QueryOpts::plain());
        let bytes = tcp_exchange(addr, &q, timeout).ok()?;
        m = Message::from_vec(&bytes).ok()?;
    }
    if m.response_code() != ResponseCode::NoError || !m.header().authoritative() {
        return None;
    }
    m.answers().iter().find_map(|r| match r.data() {
        Some(RData::SOA(soa)) => Some(soa.serial()),
        _ => None,
    })
}

/// Which server software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Zonesync,
    Knot,
    Nsd,
    Bind,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Zonesync => "zonesync",
            Vendor::Knot => "knot",
            Vendor::Nsd => "nsd",
            Vendor::Bind => "bind",
        }
    }
}

/// Who may AXFR the zones of an [`AuthServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfers {
    /// Nobody (REFUSED).
    Refused,
    /// Anyone from 127.0.0.0/8 or ::1, without a key.
    Open,
}

/// A zone served from a master file: its name (with or without the final
/// dot) and the file's text.
#[derive(Debug, Clone)]
pub struct ZoneFile {
    pub name: String,
    pub text: String,
}

impl ZoneFile {
    pub fn new(name: &str, text: impl Into<String>) -> ZoneFile {
        ZoneFile {
            name: name.trim_end_matches('.').to_string(),
            text: text.into(),
        }
    }

    /// The file name it is written to in the server's directory.
    pub fn file_name(&self) -> String {
        format!("{}.zone", self.name)
    }
}

enum Running {
    /// `zonesync serve` (its own directory and log).
    Zonesync(Box<Server>),
    /// knotd, nsd or named.
    Process {
        child: KillOnDrop,
        conf: String,
        // Last: removed after the process is gone.
        dir: TempDir,
    },
}

/// An authoritative server of some vendor serving zone files on one
/// address (UDP and TCP). The NSID it sends is its vendor's name
/// ([`Vendor::name`]). Killed by its PID on drop.
pub struct AuthServer {
    pub vendor: Vendor,
    pub addr: SocketAddr,
    pub zones: Vec<ZoneFile>,
    running: Running,
}

impl AuthServer {
    /// Starts `vendor` on `addr`; panics (with its configuration and log)
    /// when it does not answer every zone's SOA authoritatively within
    /// [`PEER_READY_TIMEOUT`].
    pub fn start(vendor: Vendor, addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Self {
        assert!(!zones.is_empty(), "a server needs at least one zone");
        let running = match vendor {
            Vendor::Zonesync => start_zonesync(addr, zones, xfr, ""),
            Vendor::Knot => start_knot(addr, zones, xfr),
            Vendor::Nsd => start_nsd(addr, zones, xfr),
            Vendor::Bind => start_bind(addr, zones, xfr),
        };
        let mut server = AuthServer {
            vendor,
            addr,
            zones: zones.to_vec(),
            running,
        };
        server.wait_ready();
        server
    }

    pub fn zonesync(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Self {
        AuthServer::start(Vendor::Zonesync, addr, zones, xfr)
    }

    /// zonesync with more lines in its `[server]` table (e.g.
    /// `edns_udp_max = 512`).
    pub fn zonesync_with(
        addr: SocketAddr,
        zones: &[ZoneFile],
        xfr: Transfers,
        server_lines: &str,
    ) -> Self {
        let mut server = AuthServer {
            vendor: Vendor::Zonesync,
            addr,
            zones: zones.to_vec(),
            running: start_zonesync(addr, zones, xfr, server_lines),
        };
        server.wait_ready();
        server
    }

    pub fn knot(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Self {
        AuthServer::start(Vendor::Knot, addr, zones, xfr)
    }

    pub fn nsd(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Self {
        AuthServer::start(Vendor::Nsd, addr, zones, xfr)
    }

    pub fn bind(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Self {
        AuthServer::start(Vendor::Bind, addr, zones, xfr)
    }

    /// The PID of the server process.
    pub fn pid(&self) -> u32 {
        match &self.running {
            Running::Zonesync(s) => s.pid(),
            Running::Process { child, .. } => child.0.id(),
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        match &self.running {
            Running::Zonesync(s) => s.log(),
            Running::Process { dir, .. } => {
                std::fs::read_to_string(dir.join(PEER_LOG)).unwrap_or_default()
            }
        }
    }

    /// Its configuration file's text.
    pub fn conf(&self) -> String {
        match &self.running {
            Running::Zonesync(s) => std::fs::read_to_string(s.config_path()).unwrap_or_default(),
            Running::Process { conf, .. } => conf.clone(),
        }
    }

    /// The serial it serves for `zone` (authoritatively), if any.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        authoritative_serial(self.addr, zone, Duration::from_millis(500))
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        match &mut self.running {
            Running::Zonesync(s) => {
                if s.is_running() {
                    None
                } else {
                    s.wait_exit(Duration::ZERO)
                }
            }
            Running::Process { child, .. } => child.0.try_wait().ok().flatten(),
        }
    }

    /// Waits (bounded) until every zone's SOA is answered with NOERROR
    /// and AA over UDP and over TCP.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + PEER_READY_TIMEOUT;
        let names: Vec<String> = self.zones.iter().map(|z| z.name.clone()).collect();
        let mut pending = names.clone();
        loop {
            if let Some(status) = self.exited() {
                panic!(
                    "{} on {} exited during start-up ({status})",
                    self.vendor.name(),
                    self.addr
                );
            }
            pending.retain(|z| {
                authoritative_serial(self.addr, z, Duration::from_millis(300)).is_none()
            });
            if pending.is_empty() {
                let tcp_ok = names.iter().all(|z| {
                    let q = build_query(z, RecordType::SOA, &QueryOpts::plain());
                    tcp_exchange(self.addr, &q, Duration::from_millis(500)).is_ok()
                });
                if tcp_ok {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} on {} did not answer the SOA of {pending:?} authoritatively (UDP and TCP) \
                 within {PEER_READY_TIMEOUT:?}",
                self.vendor.name(),
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        if let Running::Process { conf, .. } = &self.running {
            let who = format!(
                "{} on {} (pid {})",
                self.vendor.name(),
                self.addr,
                self.pid()
            );
            show_peer_if_panicking(&who, conf, || self.log());
        }
        // The zonesync `Server` and `KillOnDrop` kill by PID as they drop.
    }
}

/// When the test is failing (this thread panics), prints a peer's
/// configuration and log to stderr; for the `Drop` of peers.
pub fn show_peer_if_panicking(who: &str, conf: &str, log: impl FnOnce() -> String) {
    if std::thread::panicking() {
        eprintln!(
            "--- {who}: configuration ---\n{conf}\n--- log ---\n{}",
            log()
        );
    }
}

/// Runs a peer's tool (bounded by [`PEER_TOOL_TIMEOUT`]) and returns its
/// stdout; panics with its exit status, its output and `context()` (a
/// log, a configuration) when it fails.
pub fn run_peer_tool(cmd: Command, context: impl FnOnce() -> String) -> String {
    let what = format!("{cmd:?}");
    let out = run_with_timeout(cmd, PEER_TOOL_TIMEOUT).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        context()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `zonesync serve` through [`Server`].
fn start_zonesync(
    addr: SocketAddr,
    zones: &[ZoneFile],
    xfr: Transfers,
    server_lines: &str,
) -> Running {
    let acl = match xfr {
        Transfers::Refused => "[]",
        Transfers::Open => "[{ from = \"127.0.0.0/8\" }, { from = \"::1/128\" }]",
    };
    let mut config = format!("[server]\nudp_workers = 1\nnsid = \"zonesync\"\n{server_lines}\n");
    for z in zones {
        config.push_str(&zone_entry(&z.name, &z.file_name()));
        config.push_str(&format!("allow_transfer = {acl}\n"));
    }
    let files: Vec<(String, &str)> = zones
        .iter()
        .map(|z| (z.file_name(), z.text.as_str()))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let opts = StartOptions {
        addr: Some(addr),
        ready_name: Some(zones[0].name.clone()),
        ready_timeout: PEER_READY_TIMEOUT,
        ..StartOptions::default()
    };
    Running::Zonesync(Box::new(Server::start_with(&config, &files, &opts)))
}

/// Spawns a server program in the foreground, its stdout and stderr going
/// to [`PEER_LOG`] in `dir`.
fn spawn_logged(program: &Path, args: &[&str], conf_path: &Path, dir: &TempDir) -> KillOnDrop {
    let log = std::fs::File::create(dir.join(PEER_LOG)).expect(PEER_LOG);
    let child = Command::new(program)
        .args(args)
        .arg(conf_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    KillOnDrop(child)
}

/// Runs a configuration checker (bounded); panics with its output.
fn check_conf(program: &Path, conf_path: &Path, conf: &str) {
    let mut cmd = Command::new(program);
    cmd.arg(conf_path);
    run_peer_tool(cmd, || {
        format!("the test's configuration is rejected:\n--- configuration ---\n{conf}")
    });
}

/// knotd in the foreground with a configuration in its directory.
fn start_knot(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Running {
    let knotd = require_tool("knotd", "knot");
    let dir = TempDir::new("knot");
    let d = dir.path().display().to_string();
    let (acl, zone_acl) = match xfr {
        Transfers::Refused => (String::new(), ""),
        Transfers::Open => (
            "acl:\n  - id: open\n    address: [127.0.0.0/8, ::1]\n    action: transfer\n"
                .to_string(),
            "    acl: [open]\n",
        ),
    };
    let mut zone_section = String::from("zone:\n");
    for z in zones {
        dir.write(&z.file_name(), &z.text);
        zone_section.push_str(&format!(
            "  - domain: {}\n    storage: \"{d}\"\n    file: {}\n    zonefile-sync: -1\n\
             \x20   journal-content: none\n{zone_acl}",
            z.name,
            z.file_name()
        ));
    }
    let conf = format!(
        "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    nsid: knot\n    \
         background-workers: 1\n    udp-workers: 1\n    tcp-workers: 1\n\
         log:\n  - target: stderr\n    any: info\n\
         control:\n    listen: \"{d}/knot.sock\"\n\
         database:\n    storage: \"{d}\"\n{acl}{zone_section}",
        ip = addr.ip(),
        port = addr.port(),
    );
    let conf_path = dir.write("knot.conf", &conf);
    let child = spawn_logged(&knotd, &["-c"], &conf_path, &dir);
    Running::Process { child, conf, dir }
}

/// nsd in the foreground (`-d`) with its pid, xfrd state and zone list
/// files in its directory, no privilege drop, no chroot, no database.
fn start_nsd(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Running {
    let nsd = require_tool("nsd", "nsd");
    let checkconf = require_tool("nsd-checkconf", "nsd");
    let dir = TempDir::new("nsd");
    let d = dir.path().display().to_string();
    let mut zone_section = String::new();
    for z in zones {
        let path = dir.write(&z.file_name(), &z.text);
        zone_section.push_str(&format!(
            "zone:\n    name: \"{}\"\n    zonefile: \"{}\"\n",
            z.name,
            path.display()
        ));
        if xfr == Transfers::Open {
            zone_section
                .push_str("    provide-xfr: 127.0.0.0/8 NOKEY\n    provide-xfr: ::1 NOKEY\n");
        }
    }
    let conf = format!(
        "server:\n    ip-address: {ip}@{port}\n    port: {port}\n    {family}\n\
         \x20   username: \"\"\n    chroot: \"\"\n    zonesdir: \"{d}\"\n\
         \x20   pidfile: \"{d}/nsd.pid\"\n    xfrdfile: \"{d}/xfrd.state\"\n\
         \x20   zonelistfile: \"{d}/zone.list\"\n    xfrdir: \"{d}\"\n    database: \"\"\n\
         \x20   server-count: 1\n    verbosity: 2\n    nsid: \"ascii_nsd\"\n\
         remote-control:\n    control-enable: no\n{zone_section}",
        ip = addr.ip(),
        port = addr.port(),
        family = if addr.is_ipv6() {
            "do-ip4: no"
        } else {
            "do-ip6: no"
        },
    );
    let conf_path = dir.write("nsd.conf", &conf);
    check_conf(&checkconf, &conf_path, &conf);
    let child = spawn_logged(&nsd, &["-d", "-c"], &conf_path, &dir);
    Running::Process { child, conf, dir }
}

/// named (BIND 9) serving `zones` as a primary ([`named_conf`],
/// [`spawn_named`]).
fn start_bind(addr: SocketAddr, zones: &[ZoneFile], xfr: Transfers) -> Running {
    let dir = TempDir::new("bind");
    let allow = match xfr {
        Transfers::Refused => "none;",
        Transfers::Open => "127.0.0.0/8; ::1;",
    };
    let mut zone_section = String::from("controls { };\n");
    for z in zones {
        dir.write(&z.file_name(), &z.text);
        zone_section.push_str(&format!(
            "zone \"{}\" {{\n    type primary;\n    file \"{}\";\n}};\n",
            z.name,
            z.file_name()
        ));
    }
    let options = format!(
        "    recursion no;\n    notify no;\n    dnssec-validation no;\n    \
         server-id \"bind\";\n    allow-transfer {{ {allow} }};\n"
    );
    let conf = named_conf(&dir, addr, &options, &zone_section);
    let child = spawn_named(&dir, &conf, &[]);
    Running::Process { child, conf, dir }
}

/// A named.conf for a named of its own on `addr` (127.0.0.1 or ::1: named
/// listens only on addresses configured on an interface, it matches
/// `listen-on` against them): an `options` block with its directory and
/// its pid, session key and managed keys files in `dir`, listening on
/// `addr` alone, then the lines `options`; after the block, `rest`
/// (controls, keys, zones).
pub fn named_conf(dir: &TempDir, addr: SocketAddr, options: &str, rest: &str) -> String {
    assert!(
        addr.ip() == lo(1) || addr.ip() == lo6(),
        "named listens only on interface addresses: use 127.0.0.1 or ::1, not {addr}"
    );
    let d = dir.path().display();
    let on = format!("port {} {{ {}; }}", addr.port(), addr.ip());
    let none = "{ none; }".to_string();
    let (v4, v6) = if addr.is_ipv6() {
        (none, on)
    } else {
        (on, none)
    };
    format!(
        "options {{\n    directory \"{d}\";\n    listen-on {v4};\n    listen-on-v6 {v6};\n    \
         pid-file \"{d}/named.pid\";\n    session-keyfile \"{d}/session.key\";\n    \
         managed-keys-directory \"{d}\";\n{options}}};\n{rest}"
    )
}

/// Writes `conf` to named.conf in `dir`, checks it with named-checkconf
/// and starts named on it in the foreground (`-g`, one worker, and
/// `args`), its output going to [`PEER_LOG`] in `dir`.
pub fn spawn_named(dir: &TempDir, conf: &str, args: &[&str]) -> KillOnDrop {
    let named = require_tool("named", "bind9");
    let checkconf = require_tool("named-checkconf", "bind9-utils");
    let conf_path = dir.write("named.conf", conf);
    check_conf(&checkconf, &conf_path, conf);
    let mut all = vec!["-g", "-n", "1"];
    all.extend(args);
    all.push("-c");
    spawn_logged(&named, &all, &conf_path, dir)
}

/// BIND 9 as a recursive resolver on 127.0.0.1 or ::1 that forwards the
/// queries for some zones to given servers (`forward only`) and knows
/// nothing else: a hermetic resolver for discovery tests. Killed by its
/// PID on drop.
pub struct BindResolver {
    pub addr: SocketAddr,
    child: KillOnDrop,
    conf: String,
    dir: TempDir,
}

impl BindResolver {
    /// Starts named on `addr` forwarding each (zone, server) of `forward`;
    /// ready when it resolves the SOA of the first zone.
    pub fn start(addr: SocketAddr, forward: &[(&str, SocketAddr)]) -> BindResolver {
        assert!(!forward.is_empty(), "a resolver needs a zone to forward");
        let dir = TempDir::new("bind-resolver");
        let mut zones = String::from("controls { };\n");
        for (zone, server) in forward {
            zones.push_str(&format!(
                "zone \"{}\" {{\n    type forward;\n    forward only;\n    \
                 forwarders {{ {} port {}; }};\n}};\n",
                zone.trim_end_matches('.'),
                server.ip(),
                server.port()
            ));
        }
        let options = "    recursion yes;\n    allow-recursion { any; };\n    \
                       dnssec-validation no;\n    notify no;\n    qname-minimization off;\n";
        let conf = named_conf(&dir, addr, options, &zones);
        let child = spawn_named(&dir, &conf, &[]);
        let mut resolver = BindResolver {
            addr,
            child,
            conf,
            dir,
        };
        let first = forward[0].0;
        let q = build_query(first, RecordType::SOA, &QueryOpts::plain().rd());
        let ready = wait_until(PEER_READY_TIMEOUT, || {
            if let Ok(Some(status)) = resolver.child.0.try_wait() {
                panic!("named (resolver) on {addr} exited during start-up ({status})");
            }
            udp_exchange_once(addr, &q, Duration::from_millis(300))
                .ok()
                .and_then(|r| Message::from_vec(&r).ok())
                .is_some_and(|m| {
                    m.response_code() == ResponseCode::NoError && !m.answers().is_empty()
                })
        });
        assert!(
            ready,
            "named (resolver) on {addr} did not resolve {first} SOA within \
             {PEER_READY_TIMEOUT:?}"
        );
        resolver
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }
}

impl Drop for BindResolver {
    fn drop(&mut self) {
        let who = format!("named (resolver) on {}", self.addr);
        show_peer_if_panicking(&who, &self.conf, || self.log());
    }
}

/// How a [`KnotSecondary`] is set up.
#[derive(Debug, Clone, Default)]
pub struct KnotOptions {
    /// `via` of its remote: the address it asks its primary from (SOA
    /// queries and transfers), so the primary can tell it apart.
    pub via: Option<IpAddr>,
}

/// Knot DNS (`knotd`) as a secondary of one zone, on an address of its
/// own (asking from `via` when given), accepting NOTIFY from loopback. It keeps its copy in its journal
/// and loads it from there (`journal-content: all`, `zonefile-load:
/// none`; no zone file is written) and its timers in its directory, so
/// [`stop`](KnotSecondary::stop) then [`start_again`](KnotSecondary::start_again)
/// serves the same serial without asking its primary before its SOA
/// REFRESH. Killed by its PID on drop.
pub struct KnotSecondary {
    // First: knotd is killed before its directory is removed.
    child: Option<KillOnDrop>,
    pub addr: SocketAddr,
    conf: String,
    conf_path: PathBuf,
    dir: TempDir,
}

impl KnotSecondary {
    pub fn start(
        addr: SocketAddr,
        primary: SocketAddr,
        zone: &str,
        opts: &KnotOptions,
    ) -> KnotSecondary {
        let knotd = require_tool("knotd", "knot");
        let dir = TempDir::new("knot-secondary");
        let d = dir.path().display().to_string();
        let via = opts
            .via
            .map(|ip| format!("    via: {ip}\n"))
            .unwrap_or_default();
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    \
             background-workers: 1\n    udp-workers: 1\n    tcp-workers: 1\n\
             log:\n  - target: stderr\n    any: info\n\
             control:\n    listen: \"{d}/knot.sock\"\n\
             database:\n    storage: \"{d}\"\n\
             remote:\n  - id: primary\n    address: {pip}@{pport}\n{via}\
             acl:\n  - id: notify\n    address: [127.0.0.0/8, ::1]\n    action: notify\n\
             zone:\n  - domain: {zone}\n    storage: \"{d}\"\n    master: primary\n    \
             acl: notify\n    zonefile-sync: -1\n    zonefile-load: none\n    \
             journal-content: all\n",
            ip = addr.ip(),
            port = addr.port(),
            pip = primary.ip(),
            pport = primary.port(),
        );
        let conf_path = dir.write("knot.conf", &conf);
        let child = spawn_logged(&knotd, &["-c"], &conf_path, &dir);
        KnotSecondary {
            child: Some(child),
            addr,
            conf,
            conf_path,
            dir,
        }
    }

    /// Stops knotd: SIGTERM by its PID, so it writes its timers (a kill
    /// -9 would lose them, and it would refresh at once when started
    /// again), then a bounded wait; killed if it does not exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + PEER_READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // `child` is dropped while unwinding: killed.
        panic!("knotd {pid} did not stop on SIGTERM within {PEER_READY_TIMEOUT:?}");
    }

    /// Starts knotd again on the same configuration and directory (its
    /// log is appended to).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "knotd is already running");
        let knotd = require_tool("knotd", "knot");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join(PEER_LOG))
            .expect(PEER_LOG);
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&self.conf_path)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start knotd: {e}"));
        self.child = Some(KillOnDrop(child));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }

    pub fn conf(&self) -> &str {
        &self.conf
    }
}

impl Drop for KnotSecondary {
    fn drop(&mut self) {
        show_peer_if_panicking("knotd (secondary)", &self.conf, || self.log());
    }
}

/// How a [`BindSecondary`] is set up.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// `primaries { … key "NAME"; }` with this key: (name, base64
    /// secret), hmac-sha256.
    pub key: Option<(String, String)>,
    /// `transfer-source` (or `transfer-source-v6`): the address of its SOA
    /// queries and transfers.
    pub transfer_source: Option<IpAddr>,
}

/// BIND 9 (`named`) as a secondary of one zone, on 127.0.0.1 or ::1 (the
/// addresses named can listen on), logging at debug level 3 (the kind of
/// each transfer). Killed by its PID on drop.
pub struct BindSecondary {
    // First: named is killed before its directory is removed.
    named: KillOnDrop,
    pub addr: SocketAddr,
    conf: String,
    dir: TempDir,
}

impl BindSecondary {
    /// Starts named and waits (bounded) for its "running" line.
    pub fn start(
        addr: SocketAddr,
        primary: SocketAddr,
        zone: &str,
        opts: &BindOptions,
    ) -> BindSecondary {
        let dir = TempDir::new("bind-secondary");
        let (key_stmt, key_ref) = match &opts.key {
            Some((name, secret)) => (
                format!("key \"{name}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n"),
                format!(" key \"{name}\""),
            ),
            None => (String::new(), String::new()),
        };
        let source = match opts.transfer_source {
            Some(IpAddr::V4(ip)) => format!("    transfer-source {ip};\n"),
            Some(IpAddr::V6(ip)) => format!("    transfer-source-v6 {ip};\n"),
            None => String::new(),
        };
        let options =
            format!("    recursion no;\n    notify no;\n    dnssec-validation no;\n{source}");
        let rest = format!(
            "controls {{ }};\n{key_stmt}\
             zone \"{zone}\" {{\n    type secondary;\n    file \"{zone}.db\";\n    \
             primaries {{ {ip} port {pport}{key_ref}; }};\n}};\n",
            ip = primary.ip(),
            pport = primary.port(),
        );
        let conf = named_conf(&dir, addr, &options, &rest);
        let named = spawn_named(&dir, &conf, &["-d", "3"]);
        let mut bind = BindSecondary {
            named,
            addr,
            conf,
            dir,
        };
        bind.wait_running();
        bind
    }

    fn wait_running(&mut self) {
        let deadline = Instant::now() + PEER_READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.named.0.try_wait() {
                panic!(
                    "named exited during start-up ({status})\n--- named.conf ---\n{}\n--- log ---\n{}",
                    self.conf,
                    self.log()
                );
            }
            if self.log().lines().any(|l| l.ends_with(" running")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "named did not log \"running\" within {PEER_READY_TIMEOUT:?}\n--- named.conf ---\n{}",
                self.conf
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(PEER_LOG)).unwrap_or_default()
    }
}

impl Drop for BindSecondary {
    fn drop(&mut self) {
        show_peer_if_panicking("named (secondary)", &self.conf, || self.log());
    }
}
