//! The `zonesync` command.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use zonesync::config::{self, Config, DnssecChecks};
use zonesync::dnssec::CheckOptions;
use zonesync::loader::{self, LoadOptions};

#[derive(Parser)]
#[command(
    name = "zonesync",
    version,
    about = "Authoritative DNS server built around zone replication"
)]
struct Cli {
    /// Log filter, e.g. "info", "debug", "zonesync=debug" (or RUST_LOG).
    #[arg(
        long,
        visible_alias = "log-level",
        global = true,
        default_value = "info"
    )]
    log: String,
    /// Log lines as text (without timestamps under systemd, whose journal
    /// adds them) or as one JSON object each.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: zonesync::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch nameservers continuously ([monitor] in FILE): history,
    /// propagation times, dashboard, alerts, /metrics.
    Monitor {
        /// The monitor's configuration file (a `[monitor]` table).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Serve the zones of a configuration file.
    Serve {
        /// The configuration file; see zonesync.toml(5).
        #[arg(long, short)]
        config: PathBuf,
        /// Address to listen on (UDP and TCP); repeatable; replaces
        /// server.listen of the configuration.
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// Keep running as root when started as root without
        /// `server.user` (refused otherwise).
        #[arg(long)]
        allow_root: bool,
    },
    /// Print a new TSIG key in zonesync's `[[key]]` form and BIND's form.
    Keygen {
        /// The key's name, e.g. "xfr-key" or "primary-secondary.example.".
        name: String,
        /// hmac-sha256 (default), hmac-sha1, hmac-sha384 or hmac-sha512.
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: String,
    },
    /// Transfer a zone (AXFR, or IXFR with --ixfr) and print its records,
    /// like `dig axfr`.
    Xfr(XfrArgs),
    /// Check a zone file offline, like named-checkzone (exit 0 = OK).
    CheckZone(CheckZoneArgs),
    /// Check a whole configuration offline, like `knotc conf-check` or
    /// `named-checkconf -z`: its keys and values, every zone file with the
    /// zone's DNSSEC checks, the data directory; binds nothing (exit 0 = OK,
    /// 1 = problems, each naming its file and line or key).
    CheckConfig {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Talk to a running server's control interface (server.control).
    Ctl(CtlArgs),
    /// Ask every nameserver of a zone, at every address, for its SOA and
    /// show who is out of sync (docs/verify.md). Exit code: 0 OK,
    /// 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Verify(VerifyArgs),
    /// Child-to-parent delegation synchronisation (RFC 7477).
    #[command(subcommand)]
    Csync(CsyncCommand),
    /// Write the man pages: zonesync(8), one per subcommand, and
    /// zonesync.toml(5), the configuration reference.
    Man {
        /// The directory to write them into (created if need be).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish,
    /// elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    zonesync::memory::use_one_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let filter = std::env::var("RUST_LOG").unwrap_or(cli.log.clone());
    zonesync::logging::init(&filter, cli.log_format);
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            allow_root,
        } => serve(config, listen, allow_root),
        Command::Monitor { config } => monitor(&config),
        Command::Keygen { name, algorithm } => keygen(&name, &algorithm),
        Command::Xfr(args) => xfr(args),
        Command::CheckZone(args) => return check_zone(&args),
        Command::CheckConfig { config } => return check_config(&config),
        Command::Ctl(args) => return ctl(&args),
        Command::Verify(args) => return verify(args),
        Command::Csync(CsyncCommand::Record(args)) => return csync_record(&args),
        Command::Csync(command) => return csync_ctl(&command),
        Command::Man { out } => man(&out),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "zonesync",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonesync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: PathBuf, listen: Vec<SocketAddr>, allow_root: bool) -> anyhow::Result<()> {
    let mut config = Config::load(&path).context("configuration")?;
    if !listen.is_empty() {
        config.server.listen = listen;
    }
    zonesync::server::run(config, allow_root)
}

fn monitor(path: &std::path::Path) -> anyhow::Result<()> {
    let config = zonesync::monitor::config::MonitorConfig::load(path)
        .map_err(anyhow::Error::msg)
        .context("configuration")?;
    zonesync::monitor::watch::run(config).map_err(anyhow::Error::msg)
}

fn man(dir: &std::path::Path) -> anyhow::Result<()> {
    let pages = zonesync::manual::write_pages(Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    for page in pages {
        println!("{}", page.display());
    }
    Ok(())
}

fn keygen(name: &str, algorithm: &str) -> anyhow::Result<()> {
    let algorithm: zonesync::tsig::Algorithm = algorithm.parse()?;
    print!("{}", zonesync::tsig::keygen(name, algorithm)?);
    Ok(())
}

#[derive(clap::Args)]
struct CheckZoneArgs {
    file: PathBuf,
    /// The zone's apex.
    #[arg(long)]
    origin: String,
    /// Allow $INCLUDE of files outside the zone file's directory.
    #[arg(long)]
    include_anywhere: bool,
    /// DNSSEC problems of a signed zone are errors (exit 1), as with
    /// `dnssec_checks = "error"`; by default they are warnings.
    #[arg(long)]
    dnssec_errors: bool,
    /// Skip the DNSSEC checks.
    #[arg(long, conflicts_with = "dnssec_errors")]
    no_dnssec: bool,
    /// Do not verify signatures with their keys (the other DNSSEC checks
    /// still run), as with `dnssec_verify = false`.
    #[arg(long)]
    no_dnssec_verify: bool,
}

fn check_zone(args: &CheckZoneArgs) -> ExitCode {
    let wire = match config::parse_zone_name(&args.origin) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("zonesync: --origin {:?}: {e}", args.origin);
            return ExitCode::FAILURE;
        }
    };
    let opts = LoadOptions {
        include_anywhere: args.include_anywhere,
    };
    let zone = zonesync::name::display(&wire);
    let started = std::time::Instant::now();
    let result = loader::load_zone_file(&args.file, &wire, &opts).and_then(|loaded| {
        println!(
            "zone {zone}: parsed and built in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let started = std::time::Instant::now();
        let dnssec = loader::check_dnssec(
            &args.file.display().to_string(),
            &loaded.version,
            dnssec_mode(args),
            &CheckOptions {
                verify_signatures: !args.no_dnssec_verify,
                ..CheckOptions::new(unix_now())
            },
        )?;
        Ok((loaded, dnssec, started.elapsed()))
    });
    match result {
        Ok((loaded, dnssec, took)) => {
            for w in loaded.warnings.iter().chain(&dnssec.lines) {
                eprintln!("warning: {w}");
            }
            println!(
                "zone {zone}: loaded serial {} ({} records)",
                loaded.version.serial(),
                loaded.version.record_count()
            );
            if dnssec.signed {
                println!(
                    "zone {zone}: signed; {} signatures verified, {} DNSSEC problems ({:.1} s)",
                    dnssec.verified,
                    dnssec.problems,
                    took.as_secs_f64()
                );
            }
            if !zonemd_ok(&zone, &loaded.version) {
                return ExitCode::FAILURE;
            }
            println!("OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in &e.errors {
                eprintln!("error: {line}");
            }
            eprintln!("zone {zone}: not loaded due to errors");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(config::ConfigError::Invalid { path, problems }) => {
            for p in &problems {
                eprintln!("{}", p.show(&path));
            }
            eprintln!("{}: {} problem(s)", path.display(), problems.len());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let report = loader::check_config(&config, unix_now());
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for z in &report.zones {
        println!("{z}");
    }
    if report.errors.is_empty() {
        println!(
            "OK: {} ({} zones, {} keys)",
            path.display(),
            config.zones.len(),
            config.keys.len()
        );
        return ExitCode::SUCCESS;
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for e in &report.errors {
        let problem = config::Problem {
            line: e.at.as_deref().and_then(|at| config::line_of(&text, at)),
            text: e.text.clone(),
        };
        match &e.at {
            Some(_) => eprintln!("{}", problem.show(path)),
            // A zone file's problem names that file and line.
            None => eprintln!("{}", e.text),
        }
    }
    eprintln!("{}: {} problem(s)", path.display(), report.errors.len());
    ExitCode::FAILURE
}

/// Verifies the zone's ZONEMD, if it has one, as `serve` would with
/// `zonemd = "verify"`; says what came of it and how long it took.
fn zonemd_ok(zone: &str, version: &zonesync::zone::ZoneVersion) -> bool {
    use zonesync::zonemd::Verdict;
    let started = std::time::Instant::now();
    let verdict = zonesync::zonemd::verify(version);
    let took = started.elapsed().as_secs_f64();
    match verdict {
        Verdict::Absent => true,
        Verdict::Verified { hash, digest } => {
            println!("zone {zone}: ZONEMD verified ({hash} {digest}, {took:.2} s)");
            true
        }
        Verdict::Unsupported => {
            eprintln!(
                "warning: zone {zone}: ZONEMD of an unknown scheme or algorithm only: not checked"
            );
            true
        }
        Verdict::Invalid(problem) => {
            eprintln!("error: zone {zone}: {problem}");
            false
        }
    }
}

fn dnssec_mode(args: &CheckZoneArgs) -> DnssecChecks {
    if args.no_dnssec {
        DnssecChecks::Off
    } else if args.dnssec_errors {
        DnssecChecks::Error
    } else {
        DnssecChecks::Warn
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(clap::Args)]
struct XfrArgs {
    /// The zone, e.g. "example.com".
    zone: String,
    /// The server: IP:PORT, [IPv6]:PORT, or an IP alone for port 53 (853
    /// with --tls).
    #[arg(long, short)]
    server: String,
    /// Ask for the changes since this serial (IXFR, RFC 1995) instead of
    /// the whole zone.
    #[arg(long, value_name = "SERIAL")]
    ixfr: Option<u32>,
    /// TSIG key as NAME:ALG:SECRET (kdig's ALG:NAME:SECRET and NAME:SECRET
    /// for hmac-sha256 work too); the answer must then be signed with it.
    #[arg(long, short = 'y', value_name = "NAME:ALG:SECRET")]
    key: Option<String>,
    /// Seconds the whole transfer may take, connecting included.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    #[command(flatten)]
    tls: XfrTlsArgs,
}

/// `zonesync xfr` over TLS (XoT, RFC 9103).
#[derive(clap::Args)]
struct XfrTlsArgs {
    /// Transfer over TLS 1.3 with ALPN "dot" (XoT, RFC 9103); an address
    /// alone in --server then means port 853. The server must be
    /// authenticated by --ca or --pin (or, explicitly, --tls-insecure).
    #[arg(long)]
    tls: bool,
    /// CA certificates (PEM) the server's certificate must chain to; the
    /// certificate must be valid now and for --server-name.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Option<PathBuf>,
    /// The name the server's certificate must be valid for (with --ca);
    /// default: the server's IP address (an IP subjectAltName).
    #[arg(long, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
    /// The server's key: base64 of the SHA-256 of its certificate's
    /// SubjectPublicKeyInfo (RFC 7469, kdig's +tls-pin). Alone, it checks
    /// the key only, not the certificate's dates or names; with --ca, both.
    #[arg(long, value_name = "BASE64", requires = "tls")]
    pin: Option<String>,
    /// Our certificate chain (PEM), for a server that requires mutual TLS.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "cert_key"])]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    cert_key: Option<PathBuf>,
    /// Encrypt without authenticating the server (opportunistic TLS): it
    /// protects against eavesdroppers, not against an impostor.
    #[arg(long, requires = "tls", conflicts_with_all = ["ca", "pin"])]
    tls_insecure: bool,
}

impl XfrTlsArgs {
    /// The client configuration for `server`; `None` without `--tls`.
    fn client(
        &self,
        server: SocketAddr,
    ) -> anyhow::Result<Option<zonesync::tls::client::ClientTls>> {
        use zonesync::tls::client::{ClientTls, ClientTlsSettings};
        if !self.tls {
            return Ok(None);
        }
        let pin = self
            .pin
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("--pin")?;
        let settings = ClientTlsSettings {
            ca: self.ca.clone(),
            pin,
            insecure: self.tls_insecure,
            server_name: self.server_name.clone(),
            certificate: self.cert.clone().zip(self.cert_key.clone()),
            terms: zonesync::tls::client::Terms::COMMAND_LINE,
        };
        Ok(Some(ClientTls::new(&settings, server.ip())?))
    }
}

fn xfr(args: XfrArgs) -> anyhow::Result<()> {
    use std::io::Write;
    use zonesync::xfr::client::{self, Kind, Request};
    let port = if args.tls.tls {
        zonesync::xfr::command::TLS_PORT
    } else {
        zonesync::xfr::client::DEFAULT_PORT
    };
    let server = zonesync::xfr::command::parse_server_or(&args.server, port)?;
    let tls = args.tls.client(server)?;
    let key = args
        .key
        .as_deref()
        .map(zonesync::xfr::command::parse_key)
        .transpose()?;
    let kind = match args.ixfr {
        Some(serial) => Kind::Ixfr {
            serial: zonesync::serial::Serial(serial),
        },
        None => Kind::Axfr,
    };
    let timeout = std::time::Duration::from_secs(args.timeout);
    let mut request = Request::new(&args.zone, kind, key, timeout)?;
    if let Some(tls) = tls {
        request = request.with_tls(std::sync::Arc::new(tls));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = zonesync::xfr::command::transfer(server, &request, &mut out)
        .and_then(|summary| writeln!(out, "{summary}").map_err(client::XfrError::Output));
    // Flushed before an error is reported, so that the records and the
    // message come out in the order things happened.
    let flushed = out.flush();
    result.with_context(|| format!("transfer of {} from {server}", args.zone))?;
    flushed.context("writing to stdout")
}

#[derive(Subcommand)]
enum CsyncCommand {
    /// Print the CSYNC record (RFC 7477) to add at a zone's apex, with the
    /// SOA serial of its zone file. Exit code: 0 OK, 1 zone or
    /// configuration error, 2 bad arguments.
    Record(CsyncRecordArgs),
    /// Ask the running server's parental agent to scan a parent zone's
    /// children now (all, or --child) and show what it decided and why;
    /// with --dry-run nothing changes. Exit code 1 when a change failed.
    Scan {
        /// The parent zone (with [zone.csync] in the configuration).
        parent: String,
        /// Only this child.
        #[arg(long)]
        child: Option<String>,
        /// Say what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        server: ControlArgs,
    },
    /// The CSYNC changes waiting for approval (CSYNC with the immediate
    /// flag clear).
    Pending {
        #[command(flatten)]
        server: ControlArgs,
    },
    /// Approve the change waiting for a child and apply it (after a fresh
    /// scan: the child must still publish the same CSYNC serial).
    Approve {
        child: String,
        #[command(flatten)]
        server: ControlArgs,
    },
}

/// How `zonesync csync` reaches the running server.
#[derive(clap::Args)]
struct ControlArgs {
    /// Configuration file whose server.control to use.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The control address, e.g. 127.0.0.1:5380 (overrides --config).
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// Print the server's JSON answer as is.
    #[arg(long)]
    json: bool,
    /// Seconds a request may take (a scan asks every child's servers).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
}

fn csync_ctl(command: &CsyncCommand) -> ExitCode {
    use zonesync::control::{client::Call, report, Client};
    let (call, server) = match command {
        CsyncCommand::Record(_) => return ExitCode::from(2),
        CsyncCommand::Scan {
            parent,
            child,
            dry_run,
            server,
        } => (
            Call::CsyncScan {
                zone: Some(parent),
                child: child.as_deref(),
                dry_run: *dry_run,
            },
            server,
        ),
        CsyncCommand::Pending { server } => (Call::CsyncPending, server),
        CsyncCommand::Approve { child, server } => (Call::CsyncApprove { child }, server),
    };
    let run = || -> anyhow::Result<bool> {
        let addr = resolve_control(server.config.as_deref(), server.control)?;
        let client = Client::new(addr).with_timeout(std::time::Duration::from_secs(server.timeout));
        let out = report::ctl(&client, call, server.json, unix_now())?;
        print!("{}", out.text);
        Ok(out.ok)
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("zonesync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["zone_file", "config"])))]
struct CsyncRecordArgs {
    /// The zone, as named in the configuration (with --config).
    #[arg(requires = "config", conflicts_with = "zone_file")]
    zone: Option<String>,
    /// Configuration file to take the zone's file and name from.
    #[arg(long, short, requires = "zone", conflicts_with = "zone_file")]
    config: Option<PathBuf>,
    /// The zone file (with --origin).
    #[arg(long, value_name = "FILE", requires = "origin")]
    zone_file: Option<PathBuf>,
    /// The zone's apex (with --zone-file).
    #[arg(long, requires = "zone_file", conflicts_with = "config")]
    origin: Option<String>,
    /// Allow $INCLUDE of files outside the zone file's directory (with
    /// --zone-file; --config takes the zone's include_anywhere).
    #[arg(long, requires = "zone_file", conflicts_with = "config")]
    include_anywhere: bool,
    /// "immediate,soaminimum" (default), either one, "none", or a number.
    #[arg(long, value_name = "FLAGS", value_parser = zonesync::csync::record::parse_flags)]
    flags: Option<u16>,
    /// Record types to synchronise, e.g. "NS,A,AAAA" (default) or
    /// "NS,TYPE65280".
    #[arg(long, value_name = "TYPES", value_parser = parse_type_list)]
    types: Option<TypeList>,
    /// TTL of the record (seconds, or units like 1h); default: the zone's
    /// negative TTL, min(SOA TTL, SOA MINIMUM).
    #[arg(long, value_name = "TTL", value_parser = parse_ttl_arg)]
    ttl: Option<u32>,
}

/// `--types`, wrapped so that clap takes the list as one value.
#[derive(Clone)]
struct TypeList(Vec<u16>);

fn parse_type_list(text: &str) -> Result<TypeList, String> {
    zonesync::csync::record::parse_types(text)
        .map(TypeList)
        .map_err(|e| e.to_string())
}

fn parse_ttl_arg(text: &str) -> Result<u32, String> {
    zonesync::zonefile::parse_ttl(text).map_err(|_| {
        format!(
            "invalid TTL {text:?}: seconds up to {} or units like 1h30m",
            zonesync::zonefile::MAX_TTL
        )
    })
}

fn csync_record(args: &CsyncRecordArgs) -> ExitCode {
    use zonesync::csync::record::{self, RecordOptions, ZoneSource};
    const USAGE: u8 = 2;
    let source = match (&args.config, &args.zone, &args.zone_file, &args.origin) {
        (Some(path), Some(zone), _, _) => {
            let config = match Config::load(path) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            ZoneSource::from_config(&config, zone).map_err(|e| format!("{}: {e}", path.display()))
        }
        (_, _, Some(file), Some(origin)) => {
            ZoneSource::from_file(file.clone(), origin, args.include_anywhere)
                .map_err(|e| e.to_string())
        }
        // clap's groups and `requires` rule this out.
        _ => Err("give --zone-file FILE --origin NAME, or --config FILE ZONE".to_string()),
    };
    let source = match source {
        Ok(source) => source,
        Err(e) => {
            eprintln!("zonesync: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let defaults = RecordOptions::default();
    let opts = RecordOptions {
        flags: args.flags.unwrap_or(defaults.flags),
        types: args.types.clone().map_or(defaults.types, |t| t.0),
        ttl: args.ttl,
    };
    match record::record(&source, &opts) {
        Ok(found) => {
            for w in &found.warnings {
                eprintln!("warning: {w}");
            }
            println!("{found}");
            for note in record::notes(&found) {
                eprintln!("{note}");
            }
            eprintln!("{}", record::SERIAL_HINT);
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in &e.errors {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Args)]
struct CtlArgs {
    /// Configuration file whose server.control to use.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// The control address, e.g. 127.0.0.1:5380 (overrides --config).
    #[arg(long, global = true, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// Sign each request with this [[key]] of the --config file (the
    /// server's server.control_key).
    #[arg(long, global = true, value_name = "NAME", requires = "config")]
    key: Option<String>,
    /// Print the server's JSON answer as is.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds a request may take (a reload of big zones can be slow).
    #[arg(long, global = true, default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    #[command(subcommand)]
    call: CtlCall,
}

#[derive(Subcommand)]
enum CtlCall {
    /// The server's zones: serial, records, journal, last error.
    Status,
    /// Reload one zone's files, or every zone's; exits 1 if any failed or
    /// was refused.
    Reload {
        zone: Option<String>,
        /// Reload even if the files look unchanged, and publish a zone
        /// whose serial went backwards (refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Send NOTIFY for a zone to its targets now.
    Notify { zone: String },
    /// Check a secondary zone's primaries now and transfer if behind.
    Refresh { zone: String },
    /// Transfer a secondary zone whole (AXFR) now, whatever the serials.
    Retransfer { zone: String },
    /// Open a transaction on a primary zone (as knotc; one per zone).
    ZoneBegin { zone: String },
    /// In the open transaction, add a record: OWNER [TTL] TYPE RDATA…
    /// (OWNER relative to the zone, absolute with a final dot, or @).
    ZoneSet {
        zone: String,
        owner: String,
        /// [TTL] TYPE RDATA…
        #[arg(required = true, num_args = 2.., allow_hyphen_values = true)]
        record: Vec<String>,
    },
    /// In the open transaction, remove every record at OWNER, its RRset of
    /// TYPE, or one record: OWNER [TYPE [RDATA…]].
    ZoneUnset {
        zone: String,
        owner: String,
        rtype: Option<String>,
        #[arg(num_args = 0.., allow_hyphen_values = true)]
        rdata: Vec<String>,
    },
    /// What the open transaction would change now.
    ZoneDiff { zone: String },
    /// The zone's records (as the open transaction would leave them):
    /// all, at OWNER, or OWNER's of TYPE.
    ZoneGet {
        zone: String,
        owner: Option<String>,
        rtype: Option<String>,
    },
    /// Apply the open transaction (checked like a load; the serial moves).
    ZoneCommit { zone: String },
    /// Drop the open transaction.
    ZoneAbort { zone: String },
    /// Serve a new zone made from a [[template]] of the configuration,
    /// now and after restarts (no configuration edit, no restart).
    ZoneAdd {
        zone: String,
        /// The [[template]] whose settings the zone takes.
        #[arg(long)]
        template: String,
        /// A primary's zone file (default: the template's `file`, with
        /// {zone} replaced by the zone's name).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Stop serving a zone added with zone-add, and delete its journal,
    /// copy and state (never a primary's zone file).
    ZoneRemove { zone: String },
    /// What the server saw of a zone's peers: per peer the last NOTIFY
    /// and its answer, the last SOA query, the last transfer and the last
    /// refusal; with ADDR, that peer's recent events.
    Peers {
        zone: String,
        /// One peer's address (IPv4 or IPv6).
        addr: Option<std::net::IpAddr>,
    },
}

fn ctl(args: &CtlArgs) -> ExitCode {
    match ctl_run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("zonesync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Makes the call and prints the answer; false when a zone failed.
fn ctl_run(args: &CtlArgs) -> anyhow::Result<bool> {
    use zonesync::control::{client::Call, report};
    let client = ctl_client(args)?;
    let txn = txn_call(&args.call)?;
    let file_arg;
    let call = match &args.call {
        CtlCall::ZoneBegin { zone }
        | CtlCall::ZoneSet { zone, .. }
        | CtlCall::ZoneUnset { zone, .. }
        | CtlCall::ZoneDiff { zone }
        | CtlCall::ZoneGet { zone, .. }
        | CtlCall::ZoneCommit { zone }
        | CtlCall::ZoneAbort { zone } => match &txn {
            Some(call) => Call::Txn { zone, call },
            None => anyhow::bail!("not a transaction request"),
        },
        CtlCall::Status => Call::Status,
        CtlCall::Reload { zone, force } => Call::Reload {
            zone: zone.as_deref(),
            force: *force,
        },
        CtlCall::Notify { zone } => Call::Notify { zone },
        CtlCall::Refresh { zone } => Call::Refresh {
            zone,
            retransfer: false,
        },
        CtlCall::Retransfer { zone } => Call::Refresh {
            zone,
            retransfer: true,
        },
        CtlCall::ZoneAdd {
            zone,
            template,
            file,
        } => {
            // The server's working directory is not ours.
            file_arg = file
                .as_deref()
                .map(std::path::absolute)
                .transpose()
                .context("--file")?
                .map(|p| p.to_string_lossy().into_owned());
            Call::ZoneAdd {
                zone,
                template,
                file: file_arg.as_deref(),
            }
        }
        CtlCall::ZoneRemove { zone } => Call::ZoneRemove { zone },
        CtlCall::Peers { zone, addr } => Call::Peers {
            zone,
            with: addr.as_slice(),
        },
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let out = report::ctl(&client, call, args.json, now)?;
    print!("{}", out.text);
    Ok(out.ok)
}

/// The transaction request of a `zone-*` command; `[TTL] TYPE RDATA…`
/// split as knotc does (a first word of digits is the TTL).
fn txn_call(call: &CtlCall) -> anyhow::Result<Option<zonesync::control::TxnCall>> {
    use zonesync::control::TxnCall;
    Ok(Some(match call {
        CtlCall::ZoneBegin { .. } => TxnCall::Begin,
        CtlCall::ZoneSet { owner, record, .. } => {
            let (ttl, rest) = match record.split_first() {
                Some((first, rest)) if first.bytes().all(|b| b.is_ascii_digit()) => {
                    (Some(first.parse().context("TTL")?), rest)
                }
                _ => (None, record.as_slice()),
            };
            let Some((rtype, rdata)) = rest.split_first().filter(|(_, d)| !d.is_empty()) else {
                anyhow::bail!("zone-set ZONE OWNER [TTL] TYPE RDATA: give the type and the data");
            };
            TxnCall::Set {
                owner: owner.clone(),
                ttl,
                rtype: rtype.clone(),
                rdata: rdata.join(" "),
            }
        }
        CtlCall::ZoneUnset {
            owner,
            rtype,
            rdata,
            ..
        } => TxnCall::Unset {
            owner: owner.clone(),
            rtype: rtype.clone(),
            rdata: (!rdata.is_empty()).then(|| rdata.join(" ")),
        },
        CtlCall::ZoneDiff { .. } => TxnCall::Diff,
        CtlCall::ZoneGet { owner, rtype, .. } => TxnCall::Get {
            owner: owner.clone(),
            rtype: rtype.clone(),
        },
        CtlCall::ZoneCommit { .. } => TxnCall::Commit,
        CtlCall::ZoneAbort { .. } => TxnCall::Abort,
        _ => return Ok(None),
    }))
}

/// --control, or else the configuration's server.control.
/// The control client `args` ask for: its address, timeout, and with
/// `--key` the key it signs with.
fn ctl_client(args: &CtlArgs) -> anyhow::Result<zonesync::control::Client> {
    let addr = resolve_control(args.config.as_deref(), args.control)?;
    let client = zonesync::control::Client::new(addr)
        .with_timeout(std::time::Duration::from_secs(args.timeout));
    let Some(name) = &args.key else {
        return Ok(client);
    };
    let path = args
        .config
        .as_deref()
        .context("--key needs --config FILE")?;
    Ok(client.with_key(control_key(path, name)?))
}

/// The `[[key]]` `name` of the configuration at `path`, to sign control
/// requests with.
fn control_key(path: &std::path::Path, name: &str) -> anyhow::Result<zonesync::tsig::TsigKey> {
    let config = Config::load(path).context("configuration")?;
    config
        .tsig_key(name)
        .with_context(|| format!("--key {name:?}: {} has no such [[key]]", path.display()))
}

fn resolve_control(
    config: Option<&std::path::Path>,
    control: Option<SocketAddr>,
) -> anyhow::Result<SocketAddr> {
    if let Some(addr) = control {
        return Ok(addr);
    }
    let Some(path) = config else {
        anyhow::bail!("give --control ADDR or --config FILE");
    };
    let config = Config::load(path).context("configuration")?;
    config.server.control.with_context(|| {
        format!(
            "{}: server.control is not set (the control interface is off); give --control ADDR",
            path.display()
        )
    })
}

/// Bad arguments: clap's message; exit 3 (UNKNOWN) for `verify`, whose
/// exit codes are the Nagios ones, 2 otherwise.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = error.print();
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return ExitCode::SUCCESS;
    }
    let verify = std::env::args().nth(1).is_some_and(|a| a == "verify");
    ExitCode::from(if verify { 3 } else { 2 })
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The zone to check (or --zones).
    zone: Option<String>,
    /// Check every zone of FILE: one per line, optionally followed by
    /// NAME=ADDR[:PORT] servers for it; # comments.
    #[arg(long, value_name = "FILE")]
    zones: Option<PathBuf>,
    /// Check every member of this catalog zone (RFC 9432), transferred
    /// (AXFR) from --primary, which is also each member's reference.
    #[arg(long, value_name = "CATALOG", requires = "primary")]
    catalog: Option<String>,
    /// A nameserver to ask (repeatable); skips discovery.
    #[arg(long, value_name = "NAME=ADDR[:PORT]")]
    ns: Vec<String>,
    /// Recursive resolver for discovery (default: /etc/resolv.conf's first).
    #[arg(long, value_name = "ADDR[:PORT]")]
    resolver: Option<String>,
    /// A server of the parent zone (repeatable).
    #[arg(long = "parent-ns", value_name = "ADDR[:PORT]")]
    parent_ns: Vec<String>,
    /// Port of the addresses discovery finds, and of addresses given
    /// without one.
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// The primary: its serial is the reference.
    #[arg(long, value_name = "ADDR[:PORT]")]
    primary: Option<String>,
    /// Accepted serial difference.
    #[arg(long = "max-lag", default_value_t = 0, value_name = "N")]
    max_lag: u32,
    /// RRsets to compare between servers: OWNER/TYPE,... (OWNER relative
    /// to the zone unless it ends in a dot; @ for the apex).
    #[arg(long, value_delimiter = ',', value_name = "OWNER/TYPE")]
    records: Vec<String>,
    /// TCP only.
    #[arg(long)]
    tcp: bool,
    /// Milliseconds to wait for each try.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    timeout: u64,
    /// UDP tries after the first.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Do not check whether AXFR is open.
    #[arg(long = "no-axfr-check")]
    no_axfr_check: bool,
    /// Queries in flight at most.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// JSON output (schema zonesync-verify/1).
    #[arg(long, conflicts_with = "nagios")]
    json: bool,
    /// One Nagios/Icinga plugin line with performance data.
    #[arg(long)]
    nagios: bool,
    /// The primary's control interface (server.control): its peer
    /// history says why rows are behind, lame or different.
    #[arg(long = "primary-control", value_name = "ADDR:PORT")]
    primary_control: Option<SocketAddr>,
    /// Sign the --primary-control requests with this [[key]] of --config
    /// (the primary's server.control_key).
    #[arg(long = "control-key", value_name = "NAME", requires_all = ["config", "primary_control"])]
    control_key: Option<String>,
    /// The configuration file holding --control-key's [[key]].
    #[arg(long, value_name = "FILE", requires = "control_key")]
    config: Option<PathBuf>,
}

fn verify(args: VerifyArgs) -> ExitCode {
    use zonesync::verify::{self, report};
    let unknown = |e: String| {
        eprintln!("zonesync verify: {e}");
        ExitCode::from(3)
    };
    let (client, options, specs) = match verify_setup(&args) {
        Ok(setup) => setup,
        Err(e) => return unknown(e),
    };
    let control = match verify_control(&args) {
        Ok(control) => control,
        Err(e) => return unknown(format!("{e:#}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return unknown(format!("cannot start the runtime: {e}")),
    };
    let mut reports = runtime.block_on(verify::check_zones(client, options, specs));
    // Outside the runtime: the control client is blocking, with its own.
    drop(runtime);
    if let Some(client) = control {
        let now = zonesync::clock::from_system_time(std::time::SystemTime::now());
        verify::doctor::diagnose_reports(&mut reports, &client, now);
    }
    let status = report::overall(&reports);
    let text = if args.json {
        serde_json::to_string_pretty(&report::json(&reports)).unwrap_or_default() + "\n"
    } else if args.nagios {
        report::nagios(&reports) + "\n"
    } else {
        let mut text = reports
            .iter()
            .map(report::table)
            .collect::<Vec<_>>()
            .join("\n");
        if reports.len() > 1 {
            text.push('\n');
            text.push_str(&report::summary(&reports));
        }
        text
    };
    // A closed stdout (| head) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    ExitCode::from(status.exit_code())
}

/// The client of `--primary-control`, signing with `--control-key`.
fn verify_control(args: &VerifyArgs) -> anyhow::Result<Option<zonesync::control::Client>> {
    let Some(addr) = args.primary_control else {
        return Ok(None);
    };
    let client =
        zonesync::control::Client::new(addr).with_timeout(std::time::Duration::from_secs(10));
    Ok(Some(match (&args.control_key, &args.config) {
        (Some(name), Some(path)) => client.with_key(control_key(path, name)?),
        _ => client,
    }))
}

type VerifySetup = (
    std::sync::Arc<zonesync::exchange::Client>,
    std::sync::Arc<zonesync::verify::Options>,
    Vec<zonesync::verify::ZoneSpec>,
);

fn verify_setup(args: &VerifyArgs) -> Result<VerifySetup, String> {
    use zonesync::exchange::Client;
    use zonesync::verify::{self, Options, RecordSpec};
    let addr = |flag: &str, text: &str, port: u16| {
        verify::parse_addr(text, port).map_err(|e| format!("{flag} {text:?}: {e}"))
    };
    let ns = args
        .ns
        .iter()
        .map(|text| verify::parse_ns(text, args.port).map_err(|e| format!("--ns: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = match &args.resolver {
        Some(text) => Some(addr("--resolver", text, 53)?),
        None => verify::system_resolver(),
    };
    let parent_ns = args
        .parent_ns
        .iter()
        .map(|text| addr("--parent-ns", text, args.port))
        .collect::<Result<Vec<_>, _>>()?;
    let primary = args
        .primary
        .as_deref()
        .map(|text| addr("--primary", text, args.port))
        .transpose()?;
    let records = args
        .records
        .iter()
        .map(|text| RecordSpec::parse(text).map_err(|e| format!("--records {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut specs = Vec::new();
    if let Some(zone) = &args.zone {
        specs.push(verify::ZoneSpec {
            zone: verify::parse_zone(zone).map_err(|e| e.to_string())?,
            ns: ns.clone(),
        });
    }
    if let Some(path) = &args.zones {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--zones {}: {e}", path.display()))?;
        let listed = verify::parse_zones_file(&text, &ns, args.port)
            .map_err(|e| format!("--zones {}: {e}", path.display()))?;
        specs.extend(listed);
    }
    if let Some(catalog) = &args.catalog {
        let Some(from) = primary else {
            return Err("--catalog needs --primary (where the catalog is transferred from)".into());
        };
        let wire = zonesync::config::parse_zone_name(catalog)
            .map_err(|e| format!("--catalog {catalog:?}: {e}"))?;
        let members = zonesync::catalog::transfer::members_from(from, &wire)
            .map_err(|e| format!("--catalog {catalog}: {e}"))?;
        for member in members {
            let zone =
                verify::parse_zone(&zonesync::name::display(&member)).map_err(|e| e.to_string())?;
            specs.push(verify::ZoneSpec {
                zone,
                ns: ns.clone(),
            });
        }
    }
    if specs.is_empty() {
        return Err("give a zone, --zones FILE or --catalog NAME (a catalog with members)".into());
    }
    if args.timeout == 0 {
        return Err("--timeout must be at least 1 ms".into());
    }
    let client = Client::new(
        std::time::Duration::from_millis(args.timeout),
        args.retries,
        args.tcp,
        args.concurrency,
    );
    let options = Options {
        resolver,
        parent_ns,
        port: args.port,
        primary,
        max_lag: args.max_lag,
        records,
        axfr_check: !args.no_axfr_check,
        zonemd_checks: None,
    };
    Ok((client, std::sync::Arc::new(options), specs))
}
