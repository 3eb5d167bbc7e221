//! `[monitor]`: in the server's configuration (one process serves and
//! watches) or alone in a file for `zonesync monitor --config FILE`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What to watch and how.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// The dashboard, `/status`, `/metrics` (HTTP); none: no web side.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The history database; default `monitor.redb` in the server's
    /// `data_dir`, or beside the monitor's own configuration file.
    #[serde(default)]
    pub database: Option<PathBuf>,
    /// Days of history kept.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Seconds between checks of a zone whose servers agree.
    #[serde(default = "default_interval")]
    pub interval: u32,
    /// Milliseconds between checks while a change is spreading (a server
    /// behind the newest serial), for the propagation times.
    #[serde(default = "default_fast_interval_ms")]
    pub fast_interval_ms: u64,
    /// How long a server may be behind, lame or unreachable before an
    /// alert (seconds; 0: at once). A change spreading normally should
    /// not page anyone.
    #[serde(default = "default_alert_after")]
    pub alert_after: u32,
    /// How long a row's condition holds before the replication doctor
    /// says why (seconds): a default NOTIFY round takes 31 s, and a
    /// change spreading normally should not be diagnosed.
    #[serde(default = "default_heal_after")]
    pub heal_after: u32,
    /// Heal what a NOTIFY can heal (`not-notified`,
    /// `notify-unacknowledged`, `never-asked`): only a monitor inside the
    /// primary (`[monitor]` in `serve`) does.
    #[serde(default = "default_heal")]
    pub heal: bool,
    /// The most heal NOTIFYs to one server for one change, `heal_after`
    /// apart and doubling.
    #[serde(default = "default_heal_tries")]
    pub heal_tries: u32,
    /// zonesync secondaries the doctor may ask, through their control
    /// interface, to refresh or retransfer (`[[monitor.secondary]]`).
    #[serde(default, rename = "secondary")]
    pub secondaries: Vec<SecondarySpec>,
    /// The keys `[[monitor.secondary]] control_key` names, with their
    /// secrets: the configuration's `[[key]]` tables, read at load.
    #[serde(skip)]
    pub control_keys: Vec<ControlKey>,
    /// Alert when a secondary's EDNS EXPIRE left is below this (seconds).
    #[serde(default = "default_expire_warning")]
    pub expire_warning: u32,
    /// Per query, milliseconds (UDP tries 3 times).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// For discovery (the parent's servers, out-of-zone NS names);
    /// default: the first nameserver of /etc/resolv.conf.
    #[serde(default)]
    pub resolver: Option<SocketAddr>,
    #[serde(default, rename = "zone")]
    pub zones: Vec<WatchedZone>,
    /// Catalog zones (RFC 9432) whose every member is watched, without
    /// listing them: the catalog is transferred from `primary` every
    /// `interval`, and members come and go with it.
    #[serde(default, rename = "catalog")]
    pub catalogs: Vec<WatchedCatalog>,
    /// Where alerts go.
    #[serde(default)]
    pub alerts: AlertConfig,
}

/// One zone: its servers are discovered (parent delegation and apex NS,
/// every address) unless given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchedZone {
    pub name: String,
    /// `NAME=ADDR[:PORT]`, as `zonesync verify --ns`.
    #[serde(default)]
    pub ns: Vec<String>,
    /// The primary (possibly hidden) whose serial is the reference.
    #[serde(default)]
    pub primary: Option<SocketAddr>,
    /// Port of discovered addresses.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The primary's control interface (`server.control`): where a
    /// standalone monitor reads the zone's peer history (`/api/peers`).
    /// Inside `serve` the server's own history is read unless this is set.
    #[serde(default)]
    pub primary_control: Option<SocketAddr>,
    /// The `[[key]]` the primary's `server.control_key` names: requests
    /// to `primary_control` are signed with it.
    #[serde(default)]
    pub primary_control_key: Option<String>,
    /// RRsets compared between servers at the same serial, `OWNER/TYPE`
    /// as `zonesync verify --records` (`www/A`, `@/MX`): a difference
    /// makes the row `different`, and the doctor names it even when the
    /// server does not transfer the zone to us.
    #[serde(default)]
    pub records: Vec<String>,
}

impl WatchedZone {
    /// `records`, read, each owner checked as a name in the zone.
    pub fn record_specs(&self) -> Result<Vec<crate::verify::RecordSpec>, crate::verify::ArgError> {
        let zone = crate::verify::parse_zone(&self.name)?;
        self.records
            .iter()
            .map(|text| {
                let spec = crate::verify::RecordSpec::parse(text)?;
                spec.key(&zone)?;
                Ok(spec)
            })
            .collect()
    }
}

/// `[[monitor.catalog]]`: watch every member of a catalog zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchedCatalog {
    /// The catalog zone's name.
    pub name: String,
    /// Where the catalog is transferred from (AXFR, unsigned: allow it
    /// from the monitor's address), and each member's reference serial.
    pub primary: SocketAddr,
    /// The members' nameservers as NAME=ADDR[:PORT] (default: found as
    /// `zonesync verify` finds them).
    #[serde(default)]
    pub ns: Vec<String>,
    #[serde(default = "default_port")]
    pub port: u16,
}

/// Alert destinations; both may be set, or neither (the dashboard and the
/// event history still show everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// `http://HOST:PORT/PATH`: each alert and recovery is POSTed as JSON.
    #[serde(default)]
    pub webhook: Option<String>,
    /// A program and its arguments; each alert and recovery is written to
    /// its standard input as JSON (at most 10 s per run).
    #[serde(default)]
    pub command: Vec<String>,
}

fn default_retention_days() -> u32 {
    30
}
fn default_interval() -> u32 {
    60
}
fn default_fast_interval_ms() -> u64 {
    1000
}
fn default_alert_after() -> u32 {
    300
}
fn default_heal_after() -> u32 {
    60
}
fn default_heal() -> bool {
    true
}
fn default_heal_tries() -> u32 {
    3
}
fn default_expire_warning() -> u32 {
    86_400
}
fn default_timeout_ms() -> u64 {
    2000
}
fn default_port() -> u16 {
    53
}

/// A zonesync secondary the replication doctor may ask, through its
/// control interface, to refresh a zone it serves old (then to
/// retransfer it whole).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondarySpec {
    /// Its DNS address, as the zone's rows show it (`ns =` or found).
    /// Its peer history is read under this IP: it must ask the primary
    /// from it.
    pub address: SocketAddr,
    /// Its control interface (`server.control`).
    pub control: SocketAddr,
    /// The `[[key]]` its `server.control_key` names; none: it takes
    /// requests without a key (a loopback control).
    #[serde(default)]
    pub control_key: Option<String>,
}

/// A control key with its secret (a `[[key]]` of the configuration).
#[derive(Clone, PartialEq, Eq)]
pub struct ControlKey {
    pub name: String,
    pub algorithm: String,
    pub secret: String,
}

impl std::fmt::Debug for ControlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl ControlKey {
    /// The `[[key]]` tables, their secrets read (`secret_file` already
    /// read into `secret` by the caller).
    pub fn from_keys(keys: &[crate::config::KeyConfig]) -> Vec<ControlKey> {
        keys.iter()
            .map(|k| ControlKey {
                name: k.name.clone(),
                algorithm: k.algorithm.clone(),
                secret: k.secret().to_owned(),
            })
            .collect()
    }

    pub fn tsig(&self) -> Result<crate::tsig::TsigKey, String> {
        crate::tsig::TsigKey::from_config(&self.name, &self.algorithm, &self.secret)
            .map_err(|e| format!("key {}: {e}", self.name))
    }
}

/// A file with `[monitor]` (`zonesync monitor --config FILE`); other
/// tables are ignored, so a server's configuration works too. Its
/// `[[key]]` tables hold the control keys.
#[derive(Debug, Deserialize)]
struct MonitorFile {
    monitor: MonitorConfig,
    #[serde(default, rename = "key")]
    keys: Vec<crate::config::KeyConfig>,
}

/// What is wrong with `[monitor]`, whichever file it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorConfigError {
    #[error("no [[monitor.zone]] or [[monitor.catalog]] to watch")]
    NoZones,
    #[error("catalog[{index}].name: {error}")]
    CatalogName {
        index: usize,
        error: crate::verify::ArgError,
    },
    #[error("catalog[{index}].ns: {error}")]
    CatalogServer {
        index: usize,
        error: crate::verify::ArgError,
    },
    #[error("interval, fast_interval_ms and timeout_ms must be above 0")]
    ZeroInterval,
    #[error("retention_days must be at least 1")]
    ZeroRetention,
    #[error("zone[{index}].name: {error}")]
    ZoneName {
        index: usize,
        error: crate::verify::ArgError,
    },
    #[error("zone[{index}].ns: {error}")]
    Server {
        index: usize,
        error: crate::verify::ArgError,
    },
    #[error("zone[{index}].records: {error}")]
    Records {
        index: usize,
        error: crate::verify::ArgError,
    },
    #[error("alerts.webhook: {0}")]
    Webhook(super::alert::UrlError),
    #[error("secondary[{index}].control_key: no [[key]] named {name:?} in this configuration")]
    UnknownControlKey { index: usize, name: String },
    #[error("zone[{index}].primary_control_key: no [[key]] named {name:?} in this configuration")]
    UnknownPrimaryControlKey { index: usize, name: String },
    #[error("key {name:?}: {problem}")]
    ControlKey { name: String, problem: String },
}

/// Why a monitor-only configuration file cannot be used. Every variant
/// names the file. (No `source` fields: the text includes them, and
/// anyhow's `{:#}` would print them twice.)
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Syntax {
        path: PathBuf,
        error: toml::de::Error,
    },
    #[error("{}: [monitor] {problem}", path.display())]
    Invalid {
        path: PathBuf,
        problem: MonitorConfigError,
    },
}

impl MonitorConfig {
    /// Reads a monitor-only configuration file; a relative `database` is
    /// relative to the file, as is the default one.
    pub fn load(path: &Path) -> Result<MonitorConfig, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
            path: path.to_owned(),
            error,
        })?;
        let file: MonitorFile = toml::from_str(&text).map_err(|error| LoadError::Syntax {
            path: path.to_owned(),
            error,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut config = file.monitor;
        config.database = Some(dir.join(config.database.take().unwrap_or("monitor.redb".into())));
        let invalid = |problem| LoadError::Invalid {
            path: path.to_owned(),
            problem,
        };
        config.check().map_err(invalid)?;
        let mut keys = file.keys;
        for key in &mut keys {
            if let Some(file) = &key.secret_file {
                let file = dir.join(file);
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    invalid(MonitorConfigError::ControlKey {
                        name: key.name.clone(),
                        problem: format!("cannot read {}: {e}", file.display()),
                    })
                })?;
                key.secret = Some(text.trim().to_owned());
            }
        }
        let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        config.check_control_keys(&names).map_err(invalid)?;
        config.control_keys = ControlKey::from_keys(&keys);
        Ok(config)
    }

    /// The database under `data_dir` unless set (absolute, or relative to
    /// `data_dir`).
    pub fn with_data_dir(mut self, data_dir: &Path) -> MonitorConfig {
        self.database = Some(data_dir.join(self.database.take().unwrap_or("monitor.redb".into())));
        self
    }

    /// Every `[[monitor.secondary]] control_key` and `[[monitor.zone]]
    /// primary_control_key` names one of `keys`.
    pub fn check_control_keys(&self, keys: &[&str]) -> Result<(), MonitorConfigError> {
        for (index, z) in self.zones.iter().enumerate() {
            if let Some(name) = z
                .primary_control_key
                .as_ref()
                .filter(|n| !keys.contains(&n.as_str()))
            {
                return Err(MonitorConfigError::UnknownPrimaryControlKey {
                    index,
                    name: name.clone(),
                });
            }
        }
        for (index, s) in self.secondaries.iter().enumerate() {
            if let Some(name) = s
                .control_key
                .as_ref()
                .filter(|n| !keys.contains(&n.as_str()))
            {
                return Err(MonitorConfigError::UnknownControlKey {
                    index,
                    name: name.clone(),
                });
            }
        }
        Ok(())
    }

    /// The `[[monitor.secondary]]` at a row's address.
    pub fn secondary_at(&self, address: SocketAddr) -> Option<&SecondarySpec> {
        self.secondaries.iter().find(|s| s.address == address)
    }

    /// The control key `name`, ready to sign with.
    pub fn control_key(&self, name: &str) -> Result<crate::tsig::TsigKey, String> {
        self.control_keys
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| format!("no [[key]] named {name:?}"))?
            .tsig()
    }

    /// What serde cannot check.
    pub fn check(&self) -> Result<(), MonitorConfigError> {
        if self.zones.is_empty() && self.catalogs.is_empty() {
            return Err(MonitorConfigError::NoZones);
        }
        if self.interval == 0 || self.fast_interval_ms == 0 || self.timeout_ms == 0 {
            return Err(MonitorConfigError::ZeroInterval);
        }
        if self.retention_days == 0 {
            return Err(MonitorConfigError::ZeroRetention);
        }
        for (index, z) in self.zones.iter().enumerate() {
            crate::verify::parse_zone(&z.name)
                .map_err(|error| MonitorConfigError::ZoneName { index, error })?;
            for ns in &z.ns {
                crate::verify::parse_ns(ns, z.port)
                    .map_err(|error| MonitorConfigError::Server { index, error })?;
            }
            z.record_specs()
                .map_err(|error| MonitorConfigError::Records { index, error })?;
        }
        for (index, c) in self.catalogs.iter().enumerate() {
            crate::verify::parse_zone(&c.name)
                .map_err(|error| MonitorConfigError::CatalogName { index, error })?;
            for ns in &c.ns {
                crate::verify::parse_ns(ns, c.port)
                    .map_err(|error| MonitorConfigError::CatalogServer { index, error })?;
            }
        }
        if let Some(url) = &self.alerts.webhook {
            super::alert::parse_http_url(url).map_err(MonitorConfigError::Webhook)?;
        }
        Ok(())
    }
}
