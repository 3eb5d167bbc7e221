//! The replication demo (`examples/replication/run.sh`, issue 19) run as
//! an operator runs it: the script starts a zonesync primary with the
//! monitor's dashboard and two secondaries (the second one Knot DNS, or
//! zonesync with `DEMO_KNOT=0`) on free loopback ports and prints the
//! dashboard's URL and the command that makes a change; the test runs that
//! command, sees the new serial served by every secondary and shown by the
//! monitor's `/status` for every server, then sends the script SIGINT (as
//! Ctrl-C would) and checks that every process it started is gone and its
//! work directory removed.
//!
//! The script runs in its own process group, killed whole if the test
//! fails midway; `DEMO_TIMEOUT` makes it stop by itself should the test
//! process die without cleaning up.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ZONE: &str = "demo.example";
/// The zone file's serial (examples/replication/demo.example.zone).
const FIRST_SERIAL: u32 = 2026010100;
/// For the script to print the dashboard line: three servers, each given
/// 30 s by the script, and the dashboard.
const START_TIMEOUT: Duration = Duration::from_secs(100);
/// For a change to reach every secondary and the monitor.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);
/// For the script to stop after SIGINT (it gives its servers 10 s before
/// SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The script stops by itself after this long, should the test die.
const DEMO_TIMEOUT_S: u32 = 600;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/replication")
        .join(name)
}

/// The ports given to the script, each from [`free_port`].
struct Ports {
    primary: u16,
    secondary1: u16,
    secondary2: u16,
    control: u16,
    dashboard: u16,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// run.sh running in its own process group, its stdout read line by line
/// by a thread, its stderr in a file.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    /// The test's own directory: stderr, and the script's work directory.
    dir: TempDir,
    work: PathBuf,
    ports: Ports,
}

impl Demo {
    fn start(knot: bool) -> Demo {
        let dir = TempDir::new("demo");
        let work = dir.join("work");
        let ports = Ports {
            primary: free_port(),
            secondary1: free_port(),
            secondary2: free_port(),
            control: free_port(),
            dashboard: free_port(),
        };
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new("bash");
        cmd.arg(script("run.sh"))
            .env("ZONESYNC", BIN)
            .env("DEMO_DIR", &work)
            .env("PRIMARY_PORT", ports.primary.to_string())
            .env("SECONDARY1_PORT", ports.secondary1.to_string())
            .env("SECONDARY2_PORT", ports.secondary2.to_string())
            .env("CONTROL_PORT", ports.control.to_string())
            .env("DASHBOARD_PORT", ports.dashboard.to_string())
            .env("DEMO_KNOT", if knot { "1" } else { "0" })
            .env("DEMO_TIMEOUT", DEMO_TIMEOUT_S.to_string())
            .env("NO_COLOR", "1")
            .env_remove("KEEP")
            .env_remove("RUST_LOG")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0);
        // As from a terminal: SIGINT at its default. A test run started
        // in the background by a non-interactive shell inherits SIGINT
        // ignored, and a shell cannot trap a signal ignored at its start.
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start run.sh: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, lines) = mpsc::channel();
        // Ends when the script's stdout closes (it and its sleeps; the
        // servers write to their logs).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            lines,
            stdout: Vec::new(),
            dir,
            work,
            ports,
        }
    }

    /// Waits (bounded) for a stdout line starting with `prefix`; returns
    /// the rest of it. Panics with everything the demo wrote when the
    /// line does not come.
    fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        if let Some(line) = self.stdout.iter().find(|l| l.starts_with(prefix)) {
            return line[prefix.len()..].to_string();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let rest = line.strip_prefix(prefix).map(str::to_string);
                    self.stdout.push(line);
                    if let Some(rest) = rest {
                        return rest;
                    }
                }
                Err(e) => panic!(
                    "no line `{prefix}…` from run.sh within {timeout:?} ({e}; exit status {:?})\n{}",
                    self.child.try_wait(),
                    self.logs()
                ),
            }
        }
    }

    /// The started processes, from `$DEMO_DIR/pids` ("PID NAME" lines).
    fn pids(&self) -> Vec<(i32, String)> {
        let text = std::fs::read_to_string(self.work.join("pids"))
            .unwrap_or_else(|e| panic!("no pids file: {e}\n{}", self.logs()));
        text.lines()
            .map(|l| {
                let (pid, name) = l
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("bad pids line {l:?}"));
                let pid = pid
                    .parse()
                    .unwrap_or_else(|e| panic!("bad pid in {l:?}: {e}"));
                (pid, name.to_string())
            })
            .collect()
    }

    /// The script's output and every server's log (while the work
    /// directory exists).
    fn logs(&self) -> String {
        let mut out = format!(
            "--- run.sh stdout ---\n{}\n--- run.sh stderr ---\n{}\n",
            self.stdout.join("\n"),
            std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
        );
        for name in ["primary", "secondary1", "secondary2"] {
            let log = std::fs::read_to_string(self.work.join(name).join("log"))
                .unwrap_or_else(|e| format!("({e})"));
            out.push_str(&format!("--- {name} log ---\n{}\n", strip_ansi(&log)));
        }
        out
    }

    fn pgid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        if let Ok(None) = self.child.try_wait() {
            // As the test would have: SIGINT, so the script stops its servers.
            // SAFETY: kill(2) only sends a signal.
            unsafe {
                libc::kill(self.pgid(), libc::SIGINT);
            }
            let _ = wait_timeout(&mut self.child, STOP_TIMEOUT);
        }
        // Whatever is left in the script's group (the script itself if it
        // did not stop, servers it failed to stop).
        // SAFETY: kill(2) with a negative pid only sends a signal.
        unsafe {
            libc::kill(-self.pgid(), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `pid` is a running process (not gone, not a zombie).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// `GET path` on 127.0.0.1:`port`: status code and body (0 and "" when
/// nothing answers).
fn http_get(port: u16, path: &str) -> (u16, String) {
    common::http_get(local(port), path)
}

/// The monitor's view of the zone (`/status`), or `Null`.
fn zone_status(port: u16) -> Value {
    let (code, body) = http_get(port, "/status");
    if code != 200 {
        return Value::Null;
    }
    let status: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    status["zones"]
        .as_array()
        .and_then(|zones| {
            zones
                .iter()
                .find(|z| z["zone"].as_str() == Some("demo.example."))
        })
        .cloned()
        .unwrap_or(Value::Null)
}

/// Every server of the monitor's view at `serial`, and the reference too.
fn monitor_shows(zone: &Value, serial: u32, servers: usize) -> bool {
    let Some(list) = zone["servers"].as_array() else {
        return false;
    };
    zone["reference_serial"] == serial
        && list.len() == servers
        && list
            .iter()
            .all(|s| s["serial"] == serial && s["status"] == "ok")
}

fn demo_runs(knot: bool) {
    if knot {
        require_tool("knotd", "knot");
    }
    let mut demo = Demo::start(knot);
    let dashboard = demo.wait_line("Dashboard: ", START_TIMEOUT);
    assert_eq!(
        dashboard,
        format!("http://127.0.0.1:{}/", demo.ports.dashboard)
    );
    let change = demo.wait_line("Make a change: ", Duration::from_secs(5));
    let kind = demo.wait_line("  secondary2  ", Duration::from_secs(5));
    assert_eq!(
        kind.starts_with("Knot DNS"),
        knot,
        "the second secondary: {kind}"
    );
    demo.wait_line("Press Ctrl-C", Duration::from_secs(5));

    // Three servers, running, each serving the zone.
    let pids = demo.pids();
    let names: Vec<&str> = pids.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["primary", "secondary1", "secondary2"], "{pids:?}");
    for (pid, name) in &pids {
        assert!(running(*pid), "{name} (pid {pid}) is not running");
    }
    let servers = [
        demo.ports.primary,
        demo.ports.secondary1,
        demo.ports.secondary2,
    ];
    for port in servers {
        assert_eq!(
            soa_serial_at(local(port), ZONE),
            Some(FIRST_SERIAL),
            "127.0.0.1:{port}\n{}",
            demo.logs()
        );
    }
    let (code, page) = http_get(demo.ports.dashboard, "/");
    assert_eq!(code, 200, "the dashboard page");
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page}"
    );

    // The command it printed, as printed.
    assert!(
        change.contains(&format!("change.sh 127.0.0.1:{}", demo.ports.control)),
        "{change}"
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&change)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let out = run_with_timeout(cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`{change}` failed ({}):\n{text}{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        demo.logs()
    );
    let serial: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("new serial "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `new serial N` line from `{change}`:\n{text}"));
    assert_eq!(serial, FIRST_SERIAL + 1, "{text}");

    // Every server serves it, and the monitor shows it everywhere.
    for port in servers {
        wait_serial_at(local(port), ZONE, serial, PROPAGATION_TIMEOUT, || {
            demo.logs()
        });
    }
    let mut zone = Value::Null;
    assert!(
        wait_until(PROPAGATION_TIMEOUT, || {
            zone = zone_status(demo.ports.dashboard);
            monitor_shows(&zone, serial, servers.len())
        }),
        "the monitor does not show every server at {serial}: {zone:#}\n{}",
        demo.logs()
    );
    assert_eq!(
        zone["last_change"]["serial"], serial,
        "the change is the last one on the dashboard: {zone:#}"
    );

    // Ctrl-C: SIGINT to the script alone (not its group), so it is the
    // script that stops the servers.
    // SAFETY: kill(2) only sends a signal.
    let sent = unsafe { libc::kill(demo.pgid(), libc::SIGINT) };
    assert_eq!(sent, 0, "kill -INT {}", demo.pgid());
    let status = wait_timeout(&mut demo.child, STOP_TIMEOUT);
    let Some(status) = status else {
        panic!("run.sh still runs {STOP_TIMEOUT:?} after SIGINT");
    };
    assert_eq!(status.code(), Some(130), "run.sh's exit status on SIGINT");
    let left: Vec<&(i32, String)> = pids.iter().filter(|(pid, _)| running(*pid)).collect();
    assert!(
        left.is_empty(),
        "still running after run.sh stopped: {left:?}"
    );
    assert!(
        !demo.work.exists(),
        "the work directory {} is left",
        demo.work.display()
    );
    demo.wait_line("stopped: primary secondary1 secondary2", STOP_TIMEOUT);
}

/// The demo as shipped on a machine with Knot DNS: a zonesync primary,
/// a zonesync secondary and a Knot secondary.
#[test]
fn the_demo_runs_with_a_knot_secondary_and_stops_everything() {
    demo_runs(true);
}

/// The demo without Knot (`DEMO_KNOT=0`, as on a machine without knotd):
/// two zonesync secondaries.
#[test]
fn the_demo_runs_with_zonesync_secondaries_and_stops_everything() {
    demo_runs(false);
}
