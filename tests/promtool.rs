//! The metrics as Prometheus's own tools read them, from a zonesync
//! primary with `[monitor]` and a zonesync secondary on loopback, after
//! queries and a change that went out by NOTIFY and IXFR (so transfer,
//! NOTIFY and monitor families all have samples):
//!
//! - every `/metrics` text passes `promtool check metrics` (its linter:
//!   counters end in `_total`, base units in names, …) without a remark;
//! - the Grafana dashboard in `contrib/grafana/zonesync.json` uses only
//!   metrics that are really exported, and its PromQL parses
//!   (`promtool check rules`), so it cannot drift from the code.
//!
//! promtool comes from Debian's `prometheus` package, installed by
//! `scripts/install-test-deps.sh`; without it these tests fail, they do
//! not skip.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// How long promtool may take over one check.
const PROMTOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a change may take to reach the secondary and the monitor.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(15);

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/zonesync.json");

fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster {serial} 3600 600 1209600 300\n\
         @ NS ns1\nns1 A 192.0.2.53\nwww{serial} A 192.0.2.1\n"
    )
}

/// The primary: NOTIFY to the secondary, and a monitor watching both.
fn primary_config(
    primary: SocketAddr,
    secondary: SocketAddr,
    control: SocketAddr,
    monitor: SocketAddr,
) -> String {
    format!(
        "[server]\nudp_workers = 1\nnotify_delay_ms = 10\ncontrol = \"{control}\"\n{}\
         allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\nnotify = [\"{secondary}\"]\n\
         [monitor]\nlisten = \"{monitor}\"\ninterval = 1\nfast_interval_ms = 100\n\
         timeout_ms = 300\nresolver = \"127.0.0.1:9\"\n\
         [[monitor.zone]]\nname = \"example.com\"\nprimary = \"{primary}\"\n\
         ns = [\"ns1.example.com={primary}\", \"ns2.example.com={secondary}\"]\n",
        zone_entry("example.com", "example.com.zone")
    )
}

fn secondary_config(primary: SocketAddr, control: SocketAddr) -> String {
    format!(
        "[server]\nudp_workers = 1\ncontrol = \"{control}\"\n[[zone]]\nname = \"example.com\"\n\
         role = \"secondary\"\nprimaries = [{{ address = \"{primary}\" }}]\n"
    )
}

/// A primary with `[monitor]` and its secondary, both killed on drop.
struct Replication {
    primary: Server,
    secondary: Server,
    primary_control: SocketAddr,
    secondary_control: SocketAddr,
    monitor: SocketAddr,
}

impl Replication {
    /// Starts both servers, sends queries, publishes serial 2, and waits
    /// until the secondary serves it and the monitor sees the zone in sync.
    fn start() -> Replication {
        let secondary_addr = free_addr();
        let (primary_addr, primary_control, secondary_control, monitor) =
            (free_addr(), free_addr(), free_addr(), free_addr());
        let primary = Server::start_with(
            &primary_config(primary_addr, secondary_addr, primary_control, monitor),
            &[("example.com.zone", &zone(1))],
            &StartOptions {
                addr: Some(primary_addr),
                ..StartOptions::default()
            },
        );
        let secondary = Server::start_with(
            &secondary_config(primary_addr, secondary_control),
            &[],
            &StartOptions {
                addr: Some(secondary_addr),
                ..StartOptions::default()
            },
        );
        let r = Replication {
            primary,
            secondary,
            primary_control,
            secondary_control,
            monitor,
        };
        r.wait_serial(1);
        r.send_queries();
        r.primary.rewrite("example.com.zone", &zone(2));
        r.primary.signal("HUP");
        r.wait_serial(2);
        r
    }

    /// Answers of several RCODEs, over UDP and TCP.
    fn send_queries(&self) {
        let addr = self.primary.addr();
        for (name, want) in [
            ("www1.example.com", ResponseCode::NoError),
            ("nope.example.com", ResponseCode::NXDomain),
            ("www.example.org", ResponseCode::Refused),
        ] {
            let m = query_udp(addr, name, RecordType::A, &QueryOpts::plain());
            assert_eq!(m.response_code(), want, "{name} over UDP");
            let m = query_tcp(addr, name, RecordType::A, &QueryOpts::plain());
            assert_eq!(m.response_code(), want, "{name} over TCP");
        }
    }

    /// Waits until the secondary serves `serial` and the monitor reports
    /// the zone in sync at that serial.
    fn wait_serial(&self, serial: u32) {
        let secondary = self.secondary.addr();
        let in_sync = "zonesync_monitor_zone_in_sync{zone=\"example.com.\"} 1\n";
        let reference =
            format!("zonesync_monitor_reference_serial{{zone=\"example.com.\"}} {serial}\n");
        let mut last = String::new();
        let done = wait_until(PROPAGATION_TIMEOUT, || {
            if soa_serial_at(secondary, "example.com") != Some(serial) {
                return false;
            }
            last = http_get(self.monitor, "/metrics").unwrap_or_else(|e| e);
            last.contains(in_sync) && last.contains(&reference)
        });
        assert!(
            done,
            "serial {serial} did not reach the secondary and the monitor\n{last}\n\
             --- primary ---\n{}\n--- secondary ---\n{}",
            self.primary.log(),
            self.secondary.log()
        );
    }

    /// Every `/metrics` text, named for messages: the primary's and the
    /// secondary's control interfaces, and the monitor's dashboard (its
    /// own families, then the primary's).
    fn scrapes(&self) -> Vec<(&'static str, String)> {
        [
            ("primary control /metrics", self.primary_control),
            ("secondary control /metrics", self.secondary_control),
            ("monitor /metrics", self.monitor),
        ]
        .into_iter()
        .map(|(what, addr)| {
            let text = http_get(addr, "/metrics").unwrap_or_else(|e| panic!("{what}: {e}"));
            (what, text)
        })
        .collect()
    }
}

/// `GET path`: the body of a 200 answer.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    match common::http_get(addr, path) {
        (200, body) => Ok(body),
        (code, body) => Err(format!("GET {path} from {addr}: status {code}\n{body}")),
    }
}

/// Runs promtool with `args`, `input` on its stdin; its exit status and
/// everything it printed (stdout, then stderr). Bounded by
/// [`PROMTOOL_TIMEOUT`]; fails the test when promtool is not installed.
fn promtool(args: &[&str], input: &str) -> (ExitStatus, String) {
    let path = require_tool("promtool", "prometheus");
    let dir = TempDir::new("promtool");
    let open =
        |rel: &str| std::fs::File::create(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let stdin = std::fs::File::open(dir.write("stdin", input)).expect("promtool's input");
    let mut child = KillOnDrop(
        Command::new(&path)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::from(stdin))
            .stdout(open("stdout"))
            .stderr(open("stderr"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display())),
    );
    let status = wait_timeout(&mut child.0, PROMTOOL_TIMEOUT)
        .unwrap_or_else(|| panic!("promtool {args:?} did not finish within {PROMTOOL_TIMEOUT:?}"));
    let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap_or_default();
    (status, format!("{}{}", read("stdout"), read("stderr")))
}

/// Like [`promtool`], with a file `name` holding `contents` in its working
/// directory (for commands that read files, not stdin).
fn promtool_on_file(args: &[&str], name: &str, contents: &str) -> (ExitStatus, String) {
    let dir = TempDir::new("promtool-file");
    let file = dir.write(name, contents);
    let file = file.to_str().expect("a UTF-8 temp path");
    let mut all: Vec<&str> = args.to_vec();
    all.push(file);
    promtool(&all, "")
}

#[test]
fn promtool_lints_every_metrics_text_clean() {
    // promtool really lints what it reads: a text it must complain about.
    let bad = "# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n";
    let (status, output) = promtool(&["check", "metrics"], bad);
    assert!(
        !status.success() && output.contains("_total"),
        "promtool accepted a counter without _total: {status}\n{output}"
    );

    let r = Replication::start();
    for (what, text) in r.scrapes() {
        assert!(text.contains("# TYPE "), "{what} is empty:\n{text}");
        let (status, output) = promtool(&["check", "metrics"], &text);
        assert!(
            status.success() && output.trim().is_empty(),
            "promtool check metrics on the {what}: {status}\n{output}\n--- the text ---\n{text}"
        );
    }
}

#[test]
fn the_grafana_dashboard_uses_only_exported_metrics() {
    let dashboard = read_dashboard();
    check_import_shape(&dashboard);
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 10, "too few expressions found: {exprs:?}");

    // Every expression names a metric, and every metric is exported.
    let mut used = BTreeSet::new();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric found in {expr:?}");
        used.extend(names);
    }
    let r = Replication::start();
    let scrapes = r.scrapes();
    let exported: BTreeSet<String> = scrapes.iter().flat_map(|(_, t)| sampled(t)).collect();
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics no /metrics has a sample of: {missing:?}\n\
         exported: {exported:?}"
    );

    // Every expression is PromQL that Prometheus parses.
    let (status, output) = promtool_on_file(&["check", "rules"], "rules.yml", &rules(&exprs));
    assert!(
        status.success(),
        "promtool check rules on the dashboard's expressions: {status}\n{output}\n{}",
        rules(&exprs)
    );
}

fn read_dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// What a clean import needs: the datasource as an input every query
/// refers to, and panel ids that are unique.
fn check_import_shape(dashboard: &Value) {
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let mut ids = BTreeSet::new();
    for panel in all_panels(dashboard) {
        let title = &panel["title"];
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "panel id repeated: {title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!targets.is_empty(), "panel {title} has no query");
        for source in
            std::iter::once(&panel["datasource"]).chain(targets.iter().map(|t| &t["datasource"]))
        {
            assert_eq!(
                source["uid"], "${DS_PROMETHEUS}",
                "panel {title}: datasource not the input"
            );
        }
    }
}

/// Every panel, those inside collapsed rows included.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        if let Some(inner) = panel["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// The PromQL of the dashboard: each panel query's `expr`, and the metric
/// selector of each `label_values(selector, label)` variable.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in all_panels(dashboard) {
        for target in panel["targets"].as_array().map_or(&[][..], Vec::as_slice) {
            if let Some(expr) = target["expr"].as_str() {
                out.push(expr.to_owned());
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str());
        if let Some(selector) = query.and_then(label_values_selector) {
            out.push(selector.to_owned());
        }
    }
    out
}

/// `label_values(SELECTOR, label)` → `SELECTOR`; None for other queries.
fn label_values_selector(query: &str) -> Option<&str> {
    let args = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    // The label is last and has no comma; the selector's own commas are
    // before it, inside braces.
    args.rsplit_once(',').map(|(selector, _)| selector.trim())
}

/// Names of the metrics with at least one sample in an exposition text.
fn sampled(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Words that are PromQL syntax, not metric names, where no parenthesis
/// follows (functions always have one; aggregations may have a grouping
/// first: `sum by (zone) (…)`).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
/// Keywords followed by a parenthesised list of label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression reads: identifiers outside
/// strings, label matchers (`{…}`), ranges (`[…]`) and grouping lists
/// (`by (…)`), that are not functions, keywords or Grafana variables.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_to(&chars, i, '}'),
            '[' => i = skip_to(&chars, i, ']'),
            '$' => i = skip_word(&chars, i + 1),
            c if c.is_ascii_digit() || c == '.' => i = skip_word(&chars, i),
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let end = skip_word(&chars, i);
                let word: String = chars[i..end].iter().collect();
                let next = chars[end..].iter().find(|c| !c.is_whitespace());
                i = end;
                if GROUPING.contains(&word.as_str()) {
                    if next == Some(&'(') {
                        let open = end + chars[end..].iter().position(|&c| c == '(').unwrap_or(0);
                        i = skip_to(&chars, open, ')');
                    }
                } else if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The index after the identifier (or number, or duration) at `i`.
fn skip_word(chars: &[char], mut i: usize) -> usize {
    while chars
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.'))
    {
        i += 1;
    }
    i
}

/// The index after the string literal opening at `i` (backslash escapes
/// inside, but not in backquoted raw strings).
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while let Some(&c) = chars.get(j) {
        if c == '\\' && quote != '`' {
            j += 2;
            continue;
        }
        j += 1;
        if c == quote {
            break;
        }
    }
    j
}

/// The index after the `close` matching the opening character at `i`,
/// strings inside skipped.
fn skip_to(chars: &[char], i: usize, close: char) -> usize {
    let mut j = i + 1;
    while let Some(&c) = chars.get(j) {
        match c {
            '"' | '\'' | '`' => j = skip_string(chars, j),
            c if c == close => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// A Prometheus rules file with every expression as a recording rule,
/// Grafana's variables replaced by values Prometheus accepts.
fn rules(exprs: &[String]) -> String {
    let unique: BTreeSet<&String> = exprs.iter().collect();
    let mut out = String::from("groups:\n  - name: grafana-dashboard\n    rules:\n");
    for (n, expr) in unique.into_iter().enumerate() {
        let expr = serde_json::to_string(&without_variables(expr)).expect("a JSON string");
        // A JSON string is a YAML double-quoted scalar.
        out.push_str(&format!(
            "      - record: dashboard:expr_{n}\n        expr: {expr}\n"
        ));
    }
    out
}

/// `expr` with Grafana's variables (`$name`, `${name}`, `${name:format}`)
/// replaced: intervals by a duration, the others (label matchers) by `.*`.
fn without_variables(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').unwrap_or(braced.len());
                let name = braced[..end].split(':').next().unwrap_or("");
                (name, braced.get(end + 1..).unwrap_or(""))
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out.push_str(if name.starts_with("__") { "5m" } else { ".*" });
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = |expr: &str| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"sum by (zone, server) (rate(zonesync_a_total{job=~"$job",zone=~"x{y}\"z"}[$__rate_interval]))"#
        ),
        ["zonesync_a_total"]
    );
    assert_eq!(
        names("count(b) / on (zone) group_left (role) c offset 5m > bool 0.5 and d"),
        ["b", "c", "d"]
    );
    assert_eq!(
        names("max without (server) (e) * 1e3 or ${var:regex}"),
        ["e"]
    );
    assert_eq!(
        label_values_selector(r#"label_values(f{job=~"$job",a="b"}, zone)"#),
        Some(r#"f{job=~"$job",a="b"}"#)
    );
    assert_eq!(label_values_selector("label_values(job)"), None);
    assert_eq!(
        without_variables(r#"rate(g{zone=~"$zone[.]?",j=~"${job:regex}"}[$__rate_interval])"#),
        r#"rate(g{zone=~".*[.]?",j=~".*"}[5m])"#
    );
}
