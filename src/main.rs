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
        Command::CheckZone {
            file,
            origin,
            include_anywhere,
        } => return check_zone(&file, &origin, include_anywhere),
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
