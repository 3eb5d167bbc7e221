//! The `zonesync` command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use zonesync::config::{self, Config};
use zonesync::loader::{self, LoadOptions};

#[derive(Parser)]
#[command(
    name = "zonesync",
    version,
    about = "Authoritative DNS server built around zone replication"
)]
struct Cli {
    /// Log filter, e.g. "info", "debug", "zonesync=debug" (or RUST_LOG).
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the zones of a configuration file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
        /// Address to listen on (UDP and TCP); repeatable; replaces
        /// server.listen of the configuration.
        #[arg(long)]
        listen: Vec<SocketAddr>,
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
    CheckZone {
        file: PathBuf,
        /// The zone's apex.
        #[arg(long)]
        origin: String,
        /// Allow $INCLUDE of files outside the zone file's directory.
        #[arg(long)]
        include_anywhere: bool,
    },
    /// Talk to a running server's control interface (server.control).
    Ctl(CtlArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or(cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve { config, listen } => serve(config, listen),
        Command::Keygen { name, algorithm } => keygen(&name, &algorithm),
        Command::Xfr(args) => xfr(args),
        Command::CheckZone {
            file,
            origin,
            include_anywhere,
        } => return check_zone(&file, &origin, include_anywhere),
        Command::Ctl(args) => return ctl(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonesync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: PathBuf, listen: Vec<SocketAddr>) -> anyhow::Result<()> {
    let mut config = Config::load(&path).context("configuration")?;
    if !listen.is_empty() {
        config.server.listen = listen;
    }
    zonesync::server::run(config)
}

fn keygen(name: &str, algorithm: &str) -> anyhow::Result<()> {
    let algorithm: zonesync::tsig::Algorithm = algorithm.parse()?;
    print!("{}", zonesync::tsig::keygen(name, algorithm)?);
    Ok(())
}

fn check_zone(file: &std::path::Path, origin: &str, include_anywhere: bool) -> ExitCode {
    let wire = match config::parse_zone_name(origin) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("zonesync: --origin {origin:?}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match loader::load_zone_file(file, &wire, &LoadOptions { include_anywhere }) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "zone {}: loaded serial {} ({} records)\nOK",
                zonesync::name::display(&wire),
                loaded.version.serial(),
                loaded.version.record_count()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in &e.errors {
                eprintln!("error: {line}");
            }
            eprintln!(
                "zone {}: not loaded due to errors",
                zonesync::name::display(&wire)
            );
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Args)]
struct XfrArgs {
    /// The zone, e.g. "example.com".
    zone: String,
    /// The server: IP:PORT, [IPv6]:PORT, or an IP alone for port 53.
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
}

fn xfr(args: XfrArgs) -> anyhow::Result<()> {
    use std::io::Write;
    use zonesync::xfr::client::{self, Kind, Request};
    let server = client::parse_server(&args.server)?;
    let key = args.key.as_deref().map(client::parse_key).transpose()?;
    let kind = match args.ixfr {
        Some(serial) => Kind::Ixfr { serial },
        None => Kind::Axfr,
    };
    let timeout = std::time::Duration::from_secs(args.timeout);
    let request = Request::new(&args.zone, kind, key, timeout)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = client::transfer(server, &request, &mut out)
        .and_then(|summary| writeln!(out, "{summary}").map_err(client::XfrError::Output));
    // Flushed before an error is reported, so that the records and the
    // message come out in the order things happened.
    let flushed = out.flush();
    result.with_context(|| format!("transfer of {} from {server}", args.zone))?;
    flushed.context("writing to stdout")
}

#[derive(clap::Args)]
struct CtlArgs {
    /// Configuration file whose server.control to use.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// The control address, e.g. 127.0.0.1:5380 (overrides --config).
    #[arg(long, global = true, value_name = "ADDR")]
    control: Option<SocketAddr>,
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
    use zonesync::control::{client::Call, report, Client};
    let addr = control_addr(args)?;
    let client = Client::new(addr).with_timeout(std::time::Duration::from_secs(args.timeout));
    let call = match &args.call {
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
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let out = report::ctl(&client, call, args.json, now)?;
    print!("{}", out.text);
    Ok(out.ok)
}

/// --control, or else the configuration's server.control.
fn control_addr(args: &CtlArgs) -> anyhow::Result<SocketAddr> {
    if let Some(addr) = args.control {
        return Ok(addr);
    }
    let Some(path) = &args.config else {
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
