//! The configuration file (TOML), checked completely before anything
//! starts: unknown keys are rejected and every error names the key.
//!
//! Relative paths are relative to the directory of the configuration file,
//! so a config and its zones can be moved together.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    // Not a `source`: the text includes it, and anyhow's `{:#}` would
    // print it twice.
    #[error("{path}: {problem}")]
    Invalid {
        path: PathBuf,
        problem: InvalidConfig,
    },
}

/// What is wrong with configuration text. `at` is where, as the TOML
/// keys spell it: `server.nsid`, `zone[2].allow_transfer[0]`.
///
/// Wrapped errors are not `source`s: the text already includes them, and
/// anyhow's `{:#}` would print them twice.
#[derive(Debug, thiserror::Error)]
pub enum InvalidConfig {
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error(transparent)]
    Syntax(#[from] toml::de::Error),
    #[error("monitor: {0}")]
    Monitor(crate::monitor::config::MonitorConfigError),
    /// A value outside what the setting allows.
    #[error("{at}: {rule}")]
    OutOfRange {
        at: &'static str,
        rule: &'static str,
    },
    #[error("server.cookie_secret: {0}")]
    CookieSecret(crate::query::cookie::SecretError),
    #[error("server.control: {0} is not a loopback address; the control interface has no authentication")]
    ControlNotLoopback(std::net::SocketAddr),
    #[error("{at}: {text:?}: {problem}")]
    BadName {
        at: String,
        text: String,
        problem: NameError,
    },
    #[error("key[{index}].name: key {name:?} is defined twice")]
    DuplicateKey { index: usize, name: String },
    #[error("zone[{index}].name: zone {name:?} is configured twice")]
    DuplicateZone { index: usize, name: String },
    /// A `[[key]]` TSIG cannot use (algorithm, secret).
    #[error("key[{index}]: {error}")]
    Key {
        index: usize,
        error: crate::tsig::TsigError,
    },
    /// A reference to a `[[key]]` that is not defined.
    #[error("{at}: no [[key]] named {name:?}")]
    UnknownKey { at: String, name: String },
    #[error("{at}: give `from`, `key` or both")]
    EmptyRule { at: String },
    /// A setting the zone's role needs is missing, or one it must not have
    /// is there; `problem` says which and what to do.
    #[error("{at}.{key}: {problem}")]
    ForRole {
        at: ZoneAt,
        key: &'static str,
        problem: &'static str,
    },
    #[error("{at}.csync.{problem}")]
    Csync {
        at: ZoneAt,
        problem: CsyncConfigError,
    },
    #[error("{at}.allow_update[{rule}].{problem}")]
    UpdateRule {
        at: ZoneAt,
        rule: usize,
        problem: crate::update::policy::PolicyError,
    },
    #[error("template[{index}].name: template {name:?} is defined twice")]
    DuplicateTemplate { index: usize, name: String },
    #[error("{at}: no [[template]] named {name:?}")]
    UnknownTemplate { at: String, name: String },
    #[error(
        "{at}: template {name:?} must have role = \"secondary\" (catalog members are transferred)"
    )]
    TemplateRole { at: String, name: String },
}

/// Which zone settings a problem is in: a `[[zone]]`, a `[[template]]`,
/// or a zone added at run time from a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneAt {
    Zone(usize),
    Template(usize),
    Added(String),
}

impl std::fmt::Display for ZoneAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZoneAt::Zone(i) => write!(f, "zone[{i}]"),
            ZoneAt::Template(i) => write!(f, "template[{i}]"),
            ZoneAt::Added(name) => write!(f, "zone {name:?}"),
        }
    }
}

/// What is wrong with a zone's `[zone.csync]`.
#[derive(Debug, thiserror::Error)]
pub enum CsyncConfigError {
    #[error("children[{index}]: {text:?}: {problem}")]
    BadChild {
        index: usize,
        text: String,
        problem: NameError,
    },
    #[error("children[{index}]: {text:?} is not below the zone")]
    NotBelow { index: usize, text: String },
    #[error("interval, retry: must be at least 1 second")]
    ZeroTimer,
    #[error("port: must not be 0")]
    ZeroPort,
}

/// Why a name as written in the configuration is not a domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty label")]
    EmptyLabel,
    #[error("label longer than 63 octets")]
    LabelTooLong,
    #[error("only letters, digits, '-' and '_' are allowed")]
    BadCharacter,
    #[error("name longer than 255 octets")]
    TooLong,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyConfig>,
    /// Zone settings without a zone, for zones added at run time (`ctl
    /// zone-add`, catalog members): `name` is the template's own name,
    /// and a primary's `file` may say `{zone}` for the zone's name.
    #[serde(default, rename = "template")]
    pub templates: Vec<ZoneConfig>,
    /// Watch nameservers from this process too (`zonesync monitor`'s
    /// settings); its database lives in `data_dir` unless set.
    #[serde(default)]
    pub monitor: Option<crate::monitor::config::MonitorConfig>,
}

/// A TSIG key (RFC 8945), `[[key]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub name: String,
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// Base64, as `zonesync keygen` or BIND's tsig-keygen print it.
    pub secret: String,
}

fn default_algorithm() -> String {
    "hmac-sha256".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to answer on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// Where state that outlives a restart is kept (journals, transferred
    /// zones, timers).
    pub data_dir: PathBuf,
    /// EDNS UDP payload size offered and the largest UDP response sent.
    pub edns_udp_max: u16,
    /// NSID (RFC 5001) to send when asked; none when unset.
    pub nsid: Option<String>,
    /// DNS COOKIE (RFC 7873, RFC 9018 server cookies) on requests that
    /// carry one; on by default, as in BIND.
    pub cookies: bool,
    /// The 128-bit server secret of DNS COOKIE, 32 hex digits; every
    /// server of an anycast set needs the same one. Unset: one is made at
    /// the first start and kept in `data_dir/cookie_secret`.
    pub cookie_secret: Option<String>,
    /// UDP sockets (and threads) per address; 0 = one per CPU core.
    pub udp_workers: usize,
    /// Most TCP connections open at once; more are closed at accept.
    pub tcp_max_connections: usize,
    /// Seconds a TCP connection may stay idle between queries.
    pub tcp_idle_timeout: u64,
    /// Zone transfers (AXFR/IXFR out) served at once; more are refused.
    pub transfer_limit: usize,
    /// Secondary zones refreshing (SOA check, transfer in) at once,
    /// server-wide (as BIND's `transfers-in`): a catalog adding thousands
    /// of members transfers them this many at a time. The default is a
    /// primary's default `transfer_limit`, so a zonesync primary never
    /// turns our transfers away.
    pub refresh_limit: usize,
    /// Milliseconds to wait after a change before sending NOTIFY, so that
    /// a burst of changes makes one round.
    pub notify_delay_ms: u64,
    /// NOTIFY sends per target beyond the first (timeouts 1 s, 2 s, 4 s…).
    pub notify_retries: u32,
    /// Local HTTP control interface (`zonesync ctl`); none when unset. It
    /// has no authentication of its own, so it must be a loopback address.
    pub control: Option<SocketAddr>,
    /// Most changesets kept in a zone's journal; the oldest are dropped.
    pub journal_max_changesets: usize,
    /// Most bytes a zone's journal file may hold; the oldest changesets are
    /// dropped to stay under it.
    pub journal_max_bytes: u64,
    /// Secondaries: the SOA REFRESH is clamped to [refresh_min,
    /// refresh_max] seconds, RETRY (and its back-off) to [retry_min,
    /// retry_max], EXPIRE to at least expire_min (Knot's defaults).
    pub refresh_min: u32,
    pub refresh_max: u32,
    pub retry_min: u32,
    pub retry_max: u32,
    pub expire_min: u32,
    /// Secondaries: seconds a whole transfer in may take.
    pub xfr_in_timeout: u64,
    /// Secondaries: most records and bytes a transfer in may bring.
    pub xfr_in_max_records: usize,
    pub xfr_in_max_bytes: u64,
}

impl Config {
    /// The TSIG keys of `[[key]]` (already checked by `parse`).
    pub fn tsig_keys(&self) -> Result<crate::tsig::Keys, KeysError> {
        let keys = self
            .keys
            .iter()
            .enumerate()
            .map(|(index, k)| {
                crate::tsig::TsigKey::from_config(&k.name, &k.algorithm, &k.secret)
                    .map_err(|error| InvalidConfig::Key { index, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        crate::tsig::Keys::new(keys).map_err(KeysError::Store)
    }
}

/// Why the `[[key]]`s do not make a key store.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Key(#[from] InvalidConfig),
    #[error("key: {0}")]
    Store(crate::tsig::TsigError),
}

impl Config {
    /// The `[[key]]` of this name (case-insensitive), checked by `parse`.
    pub fn tsig_key(&self, name: &str) -> Option<crate::tsig::TsigKey> {
        let k = self
            .keys
            .iter()
            .find(|k| k.name.eq_ignore_ascii_case(name))?;
        crate::tsig::TsigKey::from_config(&k.name, &k.algorithm, &k.secret).ok()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: Vec::new(),
            data_dir: PathBuf::from("data"),
            edns_udp_max: 1232,
            nsid: None,
            cookies: true,
            cookie_secret: None,
            udp_workers: 0,
            tcp_max_connections: 256,
            tcp_idle_timeout: 10,
            transfer_limit: 10,
            refresh_limit: 10,
            notify_delay_ms: 100,
            notify_retries: 5,
            control: None,
            journal_max_changesets: 1000,
            journal_max_bytes: 64 * 1024 * 1024,
            refresh_min: 2,
            refresh_max: 86_400,
            retry_min: 2,
            retry_max: 86_400,
            expire_min: 3,
            xfr_in_timeout: 300,
            xfr_in_max_records: 20_000_000,
            xfr_in_max_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone's apex, e.g. "example.com".
    pub name: String,
    /// Its master file (primary). A secondary keeps its copy under
    /// `data_dir` and has no file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    pub role: Role,
    /// Where a secondary transfers the zone from, tried in order.
    #[serde(default)]
    pub primaries: Vec<PrimaryConfig>,
    /// Who may NOTIFY a secondary besides its primaries: rules of `from`
    /// and/or `key`.
    #[serde(default)]
    pub allow_notify: Vec<crate::acl::AclRule>,
    /// Let `$INCLUDE` read files outside the zone file's directory.
    #[serde(default)]
    pub include_anywhere: bool,
    /// Who may transfer the zone (AXFR/IXFR): rules of `from` (address
    /// prefix) and/or `key` (TSIG key name). Empty: nobody.
    #[serde(default)]
    pub allow_transfer: Vec<crate::acl::AclRule>,
    /// Where to send NOTIFY (RFC 1996) after the zone changes:
    /// `"addr:port"` or `{ addr = "addr:port", key = "name" }` to sign it.
    #[serde(default)]
    pub notify: Vec<NotifyTarget>,
    /// Also NOTIFY the addresses of the zone's NS records (those inside
    /// the zone, from their glue), on port 53, except our own listeners.
    #[serde(default)]
    pub notify_ns: bool,
    /// What to do when a reload changed the zone but not its serial.
    #[serde(default)]
    pub serial_policy: SerialPolicy,
    /// What DNSSEC problems of a signed zone do at load (`warn`, `error`,
    /// `off`); see `dnssec::check`.
    #[serde(default)]
    pub dnssec_checks: DnssecChecks,
    /// Verify every RRSIG with its key at load (the costly part of the
    /// checks); the other DNSSEC checks run either way.
    #[serde(default = "default_true")]
    pub dnssec_verify: bool,
    /// Act as the parental agent of this zone's delegations: follow the
    /// children's CSYNC records (RFC 7477, RFC 9975); see `csync`.
    #[serde(default)]
    pub csync: Option<CsyncConfig>,
    /// The child side: where to send NOTIFY(CSYNC) (RFC 9859; the parent's
    /// DSYNC target) when a load publishes a new CSYNC RRset.
    #[serde(default)]
    pub notify_csync: Vec<SocketAddr>,
    /// Who may change the zone by UPDATE (RFC 2136): rules of a TSIG
    /// `key`, optionally `from`, `names` (with `match`) and `types`; see
    /// `update::policy`. Empty: UPDATE is refused.
    #[serde(default)]
    pub allow_update: Vec<crate::update::policy::UpdateRuleConfig>,
    /// Seconds after a change by UPDATE before the served zone is written
    /// back to `file` (as Knot's `zonefile-sync`); changes meanwhile are
    /// in the journal, which a restart replays. The default batches a
    /// burst of updates into one write and keeps the write of a large
    /// zone away from the transfers the change starts; 0 writes at once.
    #[serde(default = "default_flush_delay")]
    pub flush_delay: u32,
    /// This zone is a catalog zone (RFC 9432); see `catalog`.
    #[serde(default)]
    pub catalog: Option<CatalogConfig>,
    /// The catalog (a zone with `catalog.role = "producer"`) that lists
    /// this zone, as Knot's `catalog-zone`.
    #[serde(default)]
    pub catalog_zone: Option<String>,
    /// Its `group` property there (RFC 9432 §4.4.2), as Knot's
    /// `catalog-group`.
    #[serde(default)]
    pub catalog_group: Option<String>,
}

/// `[zone.catalog]`: what the server does with a catalog zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    pub role: CatalogRole,
    /// Consumer: the `[[template]]`s members are made from. The first is
    /// the default; a member whose `group` property names another of
    /// these gets that one.
    #[serde(default)]
    pub templates: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogRole {
    /// Serve the zones the catalog lists (a secondary of the catalog).
    Consumer,
    /// Generate the catalog from the zones whose `catalog_zone` names it
    /// (a primary without a zone file).
    Producer,
}

fn default_flush_delay() -> u32 {
    5
}

fn default_true() -> bool {
    true
}

/// `[zone.csync]`: which delegations follow their child's CSYNC, and how
/// often the children are asked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsyncConfig {
    /// The children to follow (names below the zone); empty: every
    /// delegation of the zone (those without DS are skipped as insecure).
    #[serde(default)]
    pub children: Vec<String>,
    /// Seconds between scans of a child (NOTIFY(CSYNC) starts one at once).
    #[serde(default = "default_csync_interval")]
    pub interval: u32,
    /// First back-off in seconds after a scan that could decide nothing,
    /// doubled each time up to `interval`.
    #[serde(default = "default_csync_retry")]
    pub retry: u32,
    /// The port the children's nameservers are asked on.
    #[serde(default = "default_dns_port")]
    pub port: u16,
    /// A resolver for the addresses of nameserver names outside this
    /// zone; default: the first `nameserver` of /etc/resolv.conf.
    #[serde(default)]
    pub resolver: Option<SocketAddr>,
}

fn default_csync_interval() -> u32 {
    3600
}

fn default_csync_retry() -> u32 {
    60
}

fn default_dns_port() -> u16 {
    53
}

/// What the DNSSEC checks of a signed zone (RRSIGs, their validity, the
/// NSEC/NSEC3 chain) do when a zone file is loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnssecChecks {
    /// Log each problem as a warning; the zone is served.
    #[default]
    Warn,
    /// A zone with problems is not loaded (the old version stays served),
    /// as with any error in the zone file.
    Error,
    /// No checks.
    Off,
}

/// A primary of a secondary zone, `{ address = "ip:port", key = "name" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryConfig {
    pub address: SocketAddr,
    /// TSIG key to sign SOA queries and transfers with.
    pub key: Option<String>,
}

/// A NOTIFY target, with the TSIG key to sign with when given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum NotifyTarget {
    Addr(SocketAddr),
    Signed {
        addr: SocketAddr,
        key: Option<String>,
    },
}

impl NotifyTarget {
    pub fn addr(&self) -> SocketAddr {
        match self {
            NotifyTarget::Addr(a) | NotifyTarget::Signed { addr: a, .. } => *a,
        }
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            NotifyTarget::Addr(_) => None,
            NotifyTarget::Signed { key, .. } => key.as_deref(),
        }
    }
}

/// How the serial moves when a reload changed the zone's content but its
/// file kept the serial (e.g. an operator forgot to bump it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SerialPolicy {
    /// Refuse the reload (and log it): the file is the truth, serial too.
    #[default]
    Keep,
    /// Serial + 1 (RFC 1982).
    Increment,
    /// Seconds since 1970, or serial + 1 if that is not ahead.
    Unixtime,
    /// YYYYMMDDnn for today (UTC), or serial + 1 if that is not ahead.
    Dateserial,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|problem| ConfigError::Invalid {
            path: path.to_owned(),
            problem,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and checks configuration text; paths stay as written.
    pub fn parse(text: &str) -> Result<Config, InvalidConfig> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), InvalidConfig> {
        use InvalidConfig::OutOfRange;
        if let Some(m) = &self.monitor {
            m.check().map_err(InvalidConfig::Monitor)?;
        }
        if self.server.edns_udp_max < 512 {
            return Err(OutOfRange {
                at: "server.edns_udp_max",
                rule: "must be at least 512",
            });
        }
        if let Some(nsid) = &self.server.nsid {
            if nsid.is_empty() || nsid.len() > 255 {
                return Err(OutOfRange {
                    at: "server.nsid",
                    rule: "must be 1 to 255 octets",
                });
            }
        }
        if let Some(hex) = &self.server.cookie_secret {
            crate::query::cookie::Secret::from_hex(hex).map_err(InvalidConfig::CookieSecret)?;
        }
        if self.server.tcp_max_connections == 0 {
            return Err(OutOfRange {
                at: "server.tcp_max_connections",
                rule: "must be at least 1",
            });
        }
        if self.server.refresh_limit == 0 {
            return Err(OutOfRange {
                at: "server.refresh_limit",
                rule: "must be at least 1",
            });
        }
        if self.server.transfer_limit == 0 {
            return Err(OutOfRange {
                at: "server.transfer_limit",
                rule: "must be at least 1",
            });
        }
        let mut key_names = std::collections::HashSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            parse_zone_name(&key.name).map_err(|problem| InvalidConfig::BadName {
                at: format!("key[{i}].name"),
                text: key.name.clone(),
                problem,
            })?;
            if !key_names.insert(key.name.to_ascii_lowercase()) {
                return Err(InvalidConfig::DuplicateKey {
                    index: i,
                    name: key.name.clone(),
                });
            }
        }
        for (index, key) in self.keys.iter().enumerate() {
            crate::tsig::TsigKey::from_config(&key.name, &key.algorithm, &key.secret)
                .map_err(|error| InvalidConfig::Key { index, error })?;
        }
        if let Some(addr) = self.server.control {
            if !addr.ip().is_loopback() {
                return Err(InvalidConfig::ControlNotLoopback(addr));
            }
        }
        let srv = &self.server;
        if srv.refresh_min == 0 || srv.refresh_min > srv.refresh_max {
            return Err(OutOfRange {
                at: "server.refresh_min",
                rule: "must be at least 1 and at most refresh_max",
            });
        }
        if srv.retry_min == 0 || srv.retry_min > srv.retry_max {
            return Err(OutOfRange {
                at: "server.retry_min",
                rule: "must be at least 1 and at most retry_max",
            });
        }
        if srv.xfr_in_timeout == 0 {
            return Err(OutOfRange {
                at: "server.xfr_in_timeout",
                rule: "must be at least 1",
            });
        }
        if self.server.journal_max_changesets == 0 {
            return Err(OutOfRange {
                at: "server.journal_max_changesets",
                rule: "must be at least 1",
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let origin = check_zone(ZoneAt::Zone(i), zone, &key_names, false)?;
            if !seen.insert(origin) {
                return Err(InvalidConfig::DuplicateZone {
                    index: i,
                    name: zone.name.clone(),
                });
            }
        }
        for (i, zone) in self.zones.iter().enumerate() {
            if let Some(catalog) = &zone.catalog {
                self.check_catalog(i, zone, catalog)?;
            }
        }
        let zones = self
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| (ZoneAt::Zone(i), z));
        let templates = self
            .templates
            .iter()
            .enumerate()
            .map(|(i, z)| (ZoneAt::Template(i), z));
        for (at, zone) in zones.chain(templates) {
            self.check_member(at, zone)?;
        }
        let mut templates = std::collections::HashSet::new();
        for (i, template) in self.templates.iter().enumerate() {
            if !templates.insert(template.name.to_ascii_lowercase()) {
                return Err(InvalidConfig::DuplicateTemplate {
                    index: i,
                    name: template.name.clone(),
                });
            }
            // The template's name stands in for the zone's in the checks
            // that need one (the names of `allow_update` rules are
            // checked again for each zone added).
            let probe = template.for_zone("template.invalid", None);
            check_zone(ZoneAt::Template(i), &probe, &key_names, true)?;
        }
        Ok(())
    }

    /// `[zone.catalog]` of `zone[i]`: a consumer is a secondary whose
    /// templates exist and make secondaries.
    fn check_catalog(
        &self,
        i: usize,
        zone: &ZoneConfig,
        catalog: &CatalogConfig,
    ) -> Result<(), InvalidConfig> {
        let role = |key, problem| InvalidConfig::ForRole {
            at: ZoneAt::Zone(i),
            key,
            problem,
        };
        match catalog.role {
            CatalogRole::Consumer => {
                if zone.role != Role::Secondary {
                    return Err(role(
                        "catalog",
                        "a catalog consumer transfers the catalog: role = \"secondary\"",
                    ));
                }
                if catalog.templates.is_empty() {
                    return Err(role(
                        "catalog.templates",
                        "name at least one [[template]] (the first is the default)",
                    ));
                }
                for (j, name) in catalog.templates.iter().enumerate() {
                    let at = format!("zone[{i}].catalog.templates[{j}]");
                    match self.templates.iter().find(|t| t.name == *name) {
                        None => {
                            return Err(InvalidConfig::UnknownTemplate {
                                at,
                                name: name.clone(),
                            })
                        }
                        Some(t) if t.role != Role::Secondary => {
                            return Err(InvalidConfig::TemplateRole {
                                at,
                                name: name.clone(),
                            })
                        }
                        Some(_) => {}
                    }
                }
            }
            CatalogRole::Producer => {
                if zone.role != Role::Primary {
                    return Err(role(
                        "catalog",
                        "a catalog producer generates the catalog: role = \"primary\"",
                    ));
                }
                if zone.file.is_some() {
                    return Err(role(
                        "file",
                        "a produced catalog is generated under data_dir; remove `file`",
                    ));
                }
                if !catalog.templates.is_empty() {
                    return Err(role("catalog.templates", "only for role = \"consumer\""));
                }
            }
        }
        Ok(())
    }

    /// `catalog_zone` names a produced catalog; `catalog_group` needs it.
    fn check_member(&self, at: ZoneAt, zone: &ZoneConfig) -> Result<(), InvalidConfig> {
        let role = |key, problem| InvalidConfig::ForRole {
            at: at.clone(),
            key,
            problem,
        };
        match (&zone.catalog_zone, &zone.catalog_group) {
            (None, Some(_)) => Err(role(
                "catalog_group",
                "a group is a property in a catalog: set catalog_zone too",
            )),
            (Some(c), _) if !self.is_producer(c) => Err(role(
                "catalog_zone",
                "must name a [[zone]] with catalog.role = \"producer\"",
            )),
            (Some(_), _) if zone.catalog.is_some() => Err(role(
                "catalog_zone",
                "a catalog is not a member of a catalog",
            )),
            _ => Ok(()),
        }
    }

    /// Whether `name` is a zone with `catalog.role = "producer"`.
    pub fn is_producer(&self, name: &str) -> bool {
        let Ok(wire) = parse_zone_name(name) else {
            return false;
        };
        self.zones.iter().any(|z| {
            z.catalog
                .as_ref()
                .is_some_and(|c| c.role == CatalogRole::Producer)
                && parse_zone_name(&z.name).is_ok_and(|w| w == wire)
        })
    }

    /// The settings of a zone added at run time from the template named
    /// `template`: checked as a configured zone would be. `file`: a
    /// primary's zone file (else the template's, `{zone}` replaced).
    pub fn zone_from_template(
        &self,
        name: &str,
        template: &str,
        file: Option<PathBuf>,
    ) -> Result<ZoneConfig, InvalidConfig> {
        let found = self
            .templates
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(template))
            .ok_or_else(|| InvalidConfig::UnknownTemplate {
                at: format!("zone {name:?}"),
                name: template.to_owned(),
            })?;
        let zone = found.for_zone(name, file);
        let key_names = self
            .keys
            .iter()
            .map(|k| k.name.to_ascii_lowercase())
            .collect();
        check_zone(ZoneAt::Added(name.to_owned()), &zone, &key_names, false)?;
        Ok(zone)
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.server.data_dir = base.join(&self.server.data_dir);
        for zone in self.zones.iter_mut().chain(self.templates.iter_mut()) {
            zone.file = zone.file.as_ref().map(|f| base.join(f));
        }
        if let Some(m) = self.monitor.take() {
            self.monitor = Some(m.with_data_dir(&self.server.data_dir));
        }
    }
}

impl ZoneConfig {
    /// These settings (a template's) for the zone `name`; `file`: its
    /// zone file, else the template's with `{zone}` replaced by the name
    /// (lower case, no final dot).
    pub fn for_zone(&self, name: &str, file: Option<PathBuf>) -> ZoneConfig {
        let stem = name.trim_end_matches('.').to_ascii_lowercase();
        let file = file.or_else(|| {
            let pattern = self.file.as_ref()?.to_str()?;
            Some(PathBuf::from(pattern.replace("{zone}", &stem)))
        });
        ZoneConfig {
            name: name.to_owned(),
            file,
            ..self.clone()
        }
    }
}

/// Checks one zone's settings (`template`: a template's, whose primary
/// may leave `file` to each zone added); returns its apex (wire format).
fn check_zone(
    at: ZoneAt,
    zone: &ZoneConfig,
    key_names: &std::collections::HashSet<String>,
    template: bool,
) -> Result<Vec<u8>, InvalidConfig> {
    use InvalidConfig::ForRole;
    let known_key = |at: String, name: &str| {
        if key_names.contains(&name.to_ascii_lowercase()) {
            Ok(())
        } else {
            Err(InvalidConfig::UnknownKey {
                at,
                name: name.to_owned(),
            })
        }
    };
    let check_rule = |at: String, rule: &crate::acl::AclRule| match (&rule.from, &rule.key) {
        (None, None) => Err(InvalidConfig::EmptyRule { at }),
        (_, Some(k)) => known_key(format!("{at}.key"), k),
        _ => Ok(()),
    };
    for (j, target) in zone.notify.iter().enumerate() {
        if let Some(k) = target.key() {
            known_key(format!("{at}.notify[{j}].key"), k)?;
        }
    }
    for (j, rule) in zone.allow_transfer.iter().enumerate() {
        check_rule(format!("{at}.allow_transfer[{j}]"), rule)?;
    }
    let origin = parse_zone_name(&zone.name).map_err(|problem| InvalidConfig::BadName {
        at: format!("{at}.name"),
        text: zone.name.clone(),
        problem,
    })?;
    let role = |key, problem| ForRole {
        at: at.clone(),
        key,
        problem,
    };
    if template && zone.catalog.is_some() {
        return Err(role(
            "catalog",
            "a catalog is one zone; configure it in that [[zone]]",
        ));
    }
    match zone.role {
        Role::Primary => {
            let produced = zone
                .catalog
                .as_ref()
                .is_some_and(|c| c.role == CatalogRole::Producer);
            if zone.file.is_none() && !template && !produced {
                return Err(role("file", "a primary zone needs its zone file"));
            }
            if !zone.primaries.is_empty() {
                return Err(role("primaries", "only for role = \"secondary\""));
            }
            if let Some(c) = &zone.csync {
                if template {
                    return Err(role(
                        "csync",
                        "names the children of one zone; configure it in that [[zone]]",
                    ));
                }
                check_csync(c, &origin).map_err(|problem| InvalidConfig::Csync {
                    at: at.clone(),
                    problem,
                })?;
            }
        }
        Role::Secondary => {
            if zone.primaries.is_empty() {
                return Err(role(
                    "primaries",
                    "a secondary zone needs at least one primary",
                ));
            }
            if zone.file.is_some() {
                return Err(role(
                    "file",
                    "a secondary keeps its copy under data_dir; remove `file`",
                ));
            }
            if zone.csync.is_some() {
                return Err(role(
                    "csync",
                    "the parental agent changes the zone file, so only a primary can run it",
                ));
            }
        }
    }
    for (j, p) in zone.primaries.iter().enumerate() {
        if let Some(k) = &p.key {
            known_key(format!("{at}.primaries[{j}].key"), k)?;
        }
    }
    for (j, rule) in zone.allow_update.iter().enumerate() {
        known_key(format!("{at}.allow_update[{j}].key"), &rule.key)?;
    }
    if !zone.allow_update.is_empty() && zone.role == Role::Secondary {
        return Err(role(
            "allow_update",
            "a secondary does not take UPDATE (it would have to forward it to its primary); configure it on the primary",
        ));
    }
    // A template's rules name no zone yet: checked for each zone added.
    if !template {
        crate::update::policy::UpdatePolicy::new(&origin, &zone.allow_update).map_err(
            |(rule, problem)| InvalidConfig::UpdateRule {
                at: at.clone(),
                rule,
                problem,
            },
        )?;
    }
    for (j, rule) in zone.allow_notify.iter().enumerate() {
        check_rule(format!("{at}.allow_notify[{j}]"), rule)?;
    }
    Ok(origin)
}

/// `[zone.csync]` of the zone `origin`: children below it, sane timers.
fn check_csync(c: &CsyncConfig, origin: &[u8]) -> Result<(), CsyncConfigError> {
    for (index, child) in c.children.iter().enumerate() {
        let wire = parse_zone_name(child).map_err(|problem| CsyncConfigError::BadChild {
            index,
            text: child.clone(),
            problem,
        })?;
        if wire.len() <= origin.len()
            || !crate::name::is_subdomain(&wire.to_ascii_lowercase(), &origin.to_ascii_lowercase())
        {
            return Err(CsyncConfigError::NotBelow {
                index,
                text: child.clone(),
            });
        }
    }
    if c.interval == 0 || c.retry == 0 {
        return Err(CsyncConfigError::ZeroTimer);
    }
    if c.port == 0 {
        return Err(CsyncConfigError::ZeroPort);
    }
    Ok(())
}

/// Parses a zone name as written in the config ("example.com" or
/// "example.com.") into lower-case wire format.
pub fn parse_zone_name(text: &str) -> Result<Vec<u8>, NameError> {
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut wire = Vec::with_capacity(text.len() + 2);
    if !text.is_empty() {
        for label in text.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > 63 {
                return Err(NameError::LabelTooLong);
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(NameError::BadCharacter);
            }
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    wire.push(0);
    if wire.len() > crate::name::MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = Config::parse("[server]\nlisten = []\nlistn = 1\n").unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn zone_needs_a_valid_name() {
        let err = Config::parse("[[zone]]\nname = \"a..b\"\nfile = \"x\"\nrole = \"primary\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("zone[0].name"), "{err}");
    }

    #[test]
    fn duplicate_zone_is_rejected() {
        let z = "[[zone]]\nname = \"Example.com\"\nfile = \"x\"\nrole = \"primary\"\n";
        let err =
            Config::parse(&format!("{z}{}", z.replace("Example.com", "example.com."))).unwrap_err();
        assert!(err.to_string().contains("configured twice"), "{err}");
    }

    #[test]
    fn transfer_rules_are_checked() {
        let z = "[[zone]]\nname = \"a\"\nfile = \"x\"\nrole = \"primary\"\n";
        let ok = Config::parse(&format!(
            "{z}allow_transfer = [{{ from = \"127.0.0.0/8\" }}]\n"
        ))
        .unwrap();
        assert!(ok.zones[0].allow_transfer[0].from.is_some());
        let err = Config::parse(&format!(
            "{z}allow_transfer = [{{ from = \"127.0.0.0/40\" }}]\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("prefix length"), "{err}");
        let err =
            Config::parse(&format!("{z}allow_transfer = [{{ key = \"nokey\" }}]\n")).unwrap_err();
        assert!(err.to_string().contains("no [[key]] named"), "{err}");
        let err = Config::parse(&format!("{z}allow_transfer = [{{}}]\n")).unwrap_err();
        assert!(err.to_string().contains("give `from`"), "{err}");
    }

    #[test]
    fn dnssec_checks_default_to_warn_and_take_three_values() {
        let z = "[[zone]]\nname = \"a\"\nfile = \"x\"\nrole = \"primary\"\n";
        let c = Config::parse(z).unwrap();
        assert_eq!(c.zones[0].dnssec_checks, DnssecChecks::Warn);
        assert!(c.zones[0].dnssec_verify);
        for (text, mode) in [
            ("warn", DnssecChecks::Warn),
            ("error", DnssecChecks::Error),
            ("off", DnssecChecks::Off),
        ] {
            let c = Config::parse(&format!(
                "{z}dnssec_checks = \"{text}\"\ndnssec_verify = false\n"
            ))
            .unwrap();
            assert_eq!(c.zones[0].dnssec_checks, mode);
            assert!(!c.zones[0].dnssec_verify);
        }
        let err = Config::parse(&format!("{z}dnssec_checks = \"strict\"\n")).unwrap_err();
        assert!(err.to_string().contains("dnssec_checks"), "{err}");
    }

    #[test]
    fn cookies_are_on_by_default_and_the_secret_is_checked() {
        let c = Config::parse("").unwrap();
        assert!(c.server.cookies);
        assert_eq!(c.server.cookie_secret, None);
        let c = Config::parse(
            "[server]\ncookies = false\ncookie_secret = \"e5e973e5a6b2a43f48e7dc849e37bfcf\"\n",
        )
        .unwrap();
        assert!(!c.server.cookies);
        let err = Config::parse("[server]\ncookie_secret = \"e5e9\"\n").unwrap_err();
        assert!(err.to_string().contains("server.cookie_secret"), "{err}");
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../examples/zonesync.toml");
        let c = Config::parse(text).unwrap();
        assert!(!c.zones.is_empty());
    }
}
