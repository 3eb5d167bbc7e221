//! The configuration file (TOML), checked completely before anything
//! starts: unknown keys are rejected and every error names the key.
//!
//! Relative paths are relative to the directory of the configuration file,
//! so a config and its zones can be moved together.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod locate;
pub mod reference;
mod structure;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, one per line as `FILE:LINE: key: problem`.
    #[error("{}", show_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One problem of a configuration file, with the line of the key (when
/// it is written in the file) and the text `key: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub text: String,
}

impl Problem {
    /// `FILE:LINE: key: problem`.
    pub fn show(&self, path: &Path) -> String {
        match self.line {
            Some(line) => format!("{}:{line}: {}", path.display(), self.text),
            None => format!("{}: {}", path.display(), self.text),
        }
    }
}

/// The line of the setting `at` (`zone[0].file`) in configuration text.
pub fn line_of(text: &str, at: &str) -> Option<usize> {
    locate::Source::parse(text).ok()?.line_of(at)
}

fn show_problems(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.show(path)).collect();
    lines.join("\n")
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
    #[error("server.control: {0} is not a loopback address, and the control interface has no authentication without a key: set server.control_key to a [[key]] (requests are then signed with it: zonesync ctl --key NAME), or listen on 127.0.0.1 or ::1")]
    ControlNotLoopback(std::net::SocketAddr),
    #[error("{at}: {text:?}: {problem}")]
    BadName {
        at: String,
        text: String,
        problem: NameError,
    },
    #[error("key[{index}]: give `secret` or `secret_file`, not both")]
    KeySecret { index: usize },
    #[error("key[{index}].secret_file: {problem}")]
    SecretFile { index: usize, problem: String },
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
    #[error("{at}: give `from`, `key`, `client_cert` or `cert` (`tls` says how, not who; `from = \"0.0.0.0/0\"` is anyone)")]
    EmptyTransferRule { at: String },
    /// The TLS listener's settings, or a transfer rule that needs them.
    #[error("{at}: {problem}")]
    Tls { at: String, problem: &'static str },
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

impl InvalidConfig {
    /// The key the problem is about, as a path into the file
    /// (`zone[2].allow_transfer[0]`), to find its line.
    pub fn at(&self) -> Option<String> {
        use InvalidConfig::*;
        let zone_key = |at: &ZoneAt, key: &str| match at {
            ZoneAt::Added(_) => None,
            at => Some(format!("{at}.{key}")),
        };
        match self {
            Syntax(_) => None,
            Monitor(_) => Some("monitor".into()),
            OutOfRange { at, .. } => Some((*at).into()),
            CookieSecret(_) => Some("server.cookie_secret".into()),
            ControlNotLoopback(_) => Some("server.control".into()),
            BadName { at, .. }
            | UnknownKey { at, .. }
            | EmptyRule { at }
            | EmptyTransferRule { at }
            | Tls { at, .. }
            | UnknownTemplate { at, .. }
            | TemplateRole { at, .. } => Some(at.clone()),
            KeySecret { index } | Key { index, .. } => Some(format!("key[{index}]")),
            SecretFile { index, .. } => Some(format!("key[{index}].secret_file")),
            DuplicateKey { index, .. } => Some(format!("key[{index}].name")),
            DuplicateZone { index, .. } => Some(format!("zone[{index}].name")),
            DuplicateTemplate { index, .. } => Some(format!("template[{index}].name")),
            ForRole { at, key, .. } => zone_key(at, key),
            Csync { at, .. } => zone_key(at, "csync"),
            UpdateRule { at, rule, .. } => zone_key(at, &format!("allow_update[{rule}]")),
        }
    }
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
    /// Response rate limiting of UDP answers; off unless `rate` is set.
    #[serde(default)]
    pub rrl: RrlConfig,
}

/// `[rrl]`: response rate limiting (`query::rrl`). Off by default, as in
/// Knot and BIND: the right rate depends on the traffic a server sees
/// (one large resolver farm behind a /24 asks far more than 200 a
/// second), and a wrong one drops real answers. Once `rate` is set, the
/// other settings default to what Knot and BIND recommend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RrlConfig {
    /// Answers per second per (class, client prefix, name); 0 = off.
    pub rate: u32,
    /// Every `slip`-th limited answer is sent with TC=1; 0 = none.
    pub slip: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Buckets in the table (rounded up to a power of two).
    pub table_size: usize,
    /// Client prefixes never limited.
    pub whitelist: Vec<crate::acl::Prefix>,
    /// Seconds between two log lines about limiting.
    pub log_interval: u64,
}

impl Default for RrlConfig {
    fn default() -> Self {
        RrlConfig {
            rate: 0,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 393_216,
            whitelist: Vec::new(),
            log_interval: 10,
        }
    }
}

impl RrlConfig {
    /// The limiter's settings, or `None` when rate limiting is off.
    pub fn settings(&self) -> Option<crate::query::rrl::RrlSettings> {
        (self.rate > 0).then(|| crate::query::rrl::RrlSettings {
            rate: self.rate,
            slip: self.slip,
            ipv4_prefix: self.ipv4_prefix,
            ipv6_prefix: self.ipv6_prefix,
            table_size: self.table_size,
            whitelist: self.whitelist.clone(),
            log_interval: self.log_interval,
        })
    }

    fn check(&self, out: &mut Vec<InvalidConfig>) {
        let range = |bad: bool, at, rule| bad.then_some(InvalidConfig::OutOfRange { at, rule });
        out.extend(
            [
                range(self.rate > 65_000, "rrl.rate", "must be at most 65000"),
                range(self.slip > 100, "rrl.slip", "must be 0 to 100"),
                range(self.ipv4_prefix > 32, "rrl.ipv4_prefix", "must be 0 to 32"),
                range(
                    self.ipv6_prefix > 128,
                    "rrl.ipv6_prefix",
                    "must be 0 to 128",
                ),
                range(
                    self.table_size == 0 || self.table_size > 1 << 26,
                    "rrl.table_size",
                    "must be 1 to 67108864",
                ),
                range(
                    self.log_interval == 0,
                    "rrl.log_interval",
                    "must be at least 1",
                ),
            ]
            .into_iter()
            .flatten(),
        );
    }
}

/// A TSIG key (RFC 8945), `[[key]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub name: String,
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// Base64, as `zonesync keygen` or BIND's tsig-keygen print it.
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the secret instead (relative to the configuration
    /// file), so the configuration can be readable by all and the secret
    /// by the server only; `load` reads it into `secret`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl KeyConfig {
    /// The secret, once `load` has read a `secret_file`.
    pub fn secret(&self) -> &str {
        self.secret.as_deref().unwrap_or("")
    }
}

fn default_algorithm() -> String {
    "hmac-sha256".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to answer on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// Addresses to answer on over TLS (DNS over TLS and XoT, RFC 9103),
    /// with `tls_certificate` and `tls_key`.
    pub tls_listen: Vec<SocketAddr>,
    /// The TLS listener's certificate chain (PEM, the server's first).
    pub tls_certificate: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) client certificates must chain to; without
    /// it, none is asked for (`allow_transfer` rules with `client_cert`
    /// or `cert` need it).
    pub tls_client_ca: Option<PathBuf>,
    /// Where state that outlives a restart is kept (journals, transferred
    /// zones, timers).
    pub data_dir: PathBuf,
    /// The user (and `group`, default the user's) to drop to once the
    /// listeners are bound; see `privileges`.
    pub user: Option<String>,
    pub group: Option<String>,
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
    /// Most TCP (and TLS) connections one client address (IPv6: one /64)
    /// may have open at once; more are closed at accept. 0: no cap.
    pub tcp_max_connections_per_client: usize,
    /// Seconds a TCP connection may stay idle between queries.
    pub tcp_idle_timeout: u64,
    /// Zone transfers (AXFR/IXFR out) served at once; more are refused.
    pub transfer_limit: usize,
    /// Zone transfers out served at once to one client address (IPv6:
    /// one /64); more are refused as over `transfer_limit`. 0: no cap.
    pub transfer_limit_per_client: usize,
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
    /// NOTIFY (and NOTIFY(CSYNC)) accepted per second from one source
    /// address (IPv6: one /64), in bursts of as many; more are REFUSED.
    /// 0: no cap.
    pub notify_in_rate: u32,
    /// Local HTTP control interface (`zonesync ctl`); none when unset.
    /// Without `control_key` it has no authentication, so it must be a
    /// loopback address.
    pub control: Option<SocketAddr>,
    /// A `[[key]]` every control request must be signed with
    /// (`control::auth`); with it, `control` may be any address.
    pub control_key: Option<String>,
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
                crate::tsig::TsigKey::from_config(&k.name, &k.algorithm, k.secret())
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
        crate::tsig::TsigKey::from_config(&k.name, &k.algorithm, k.secret()).ok()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: Vec::new(),
            tls_listen: Vec::new(),
            tls_certificate: None,
            tls_key: None,
            tls_client_ca: None,
            data_dir: PathBuf::from("data"),
            user: None,
            group: None,
            edns_udp_max: 1232,
            nsid: None,
            cookies: true,
            cookie_secret: None,
            udp_workers: 0,
            tcp_max_connections: 256,
            tcp_max_connections_per_client: 32,
            tcp_idle_timeout: 10,
            transfer_limit: 10,
            transfer_limit_per_client: 0,
            refresh_limit: 10,
            notify_delay_ms: 100,
            notify_retries: 5,
            notify_in_rate: 100,
            control: None,
            control_key: None,
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
    /// prefix), `key` (TSIG key name), `tls`, `client_cert`, `cert`
    /// (`acl::TransferRule`). Empty: nobody.
    #[serde(default)]
    pub allow_transfer: Vec<crate::acl::TransferRule>,
    /// Where `allow_transfer` is written, "FILE:LINE" (the zone's table
    /// when the key is not written: where it goes), for peer reports to
    /// point at; set by [`Config::load`], none for settings made in code.
    #[serde(skip)]
    pub allow_transfer_at: Option<String>,
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
    /// What a ZONEMD (RFC 8976) at the apex does to a new version (a
    /// load, a transfer in); see `replication::zonemd`.
    #[serde(default)]
    pub zonemd: ZonemdMode,
    /// A primary publishes a ZONEMD of this algorithm, made anew for
    /// every version (unsigned zones: a signed zone's ZONEMD must be
    /// signed, so its signer makes it).
    #[serde(default)]
    pub zonemd_generate: Option<crate::zonemd::HashAlg>,
}

/// `zonemd`: what a zone's ZONEMD means for a new version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZonemdMode {
    /// A ZONEMD must match (a version whose does not is not served: the
    /// old one stays, a transfer counts as failed); none is fine.
    #[default]
    Verify,
    /// As `verify`, and a version without a ZONEMD that can be checked is
    /// not served either.
    Require,
    /// ZONEMD records are data like any other.
    Off,
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

/// A primary of a secondary zone, `{ address = "ip:port", key = "name" }`,
/// with `tls = { … }` reached over TLS only (XoT, RFC 9103).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryConfig {
    pub address: SocketAddr,
    /// TSIG key to sign SOA queries and transfers with.
    pub key: Option<String>,
    /// SOA queries and transfers over TLS, the primary authenticated as
    /// this says; never in clear.
    #[serde(default)]
    pub tls: Option<PrimaryTlsConfig>,
}

/// `tls = { ca = "…", server_name = "…", pin = "…", cert = "…", cert_key =
/// "…", insecure = false }` of a primary: how it is authenticated (a CA,
/// a pinned key, both, or explicitly nothing) and our certificate for
/// mutual TLS. The files are read at start (`tls::client`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryTlsConfig {
    /// CA certificates (PEM) the primary's certificate must chain to.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The name its certificate must be valid for (with `ca`); default
    /// its address (an IP subjectAltName).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The SHA-256 of its certificate's SubjectPublicKeyInfo; with `ca`,
    /// both must hold.
    #[serde(default)]
    pub pin: Option<crate::tls::SpkiPin>,
    /// Our certificate chain and its key (PEM), for mutual TLS.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub cert_key: Option<PathBuf>,
    /// Encrypted but unauthenticated (RFC 9103's opportunistic TLS):
    /// never the default, never with `ca` or `pin`.
    #[serde(default)]
    pub insecure: bool,
}

impl PrimaryTlsConfig {
    /// What the transfer client takes.
    pub fn client_settings(&self) -> crate::tls::client::ClientTlsSettings {
        crate::tls::client::ClientTlsSettings {
            ca: self.ca.clone(),
            pin: self.pin,
            insecure: self.insecure,
            server_name: self.server_name.clone(),
            certificate: self.cert.clone().zip(self.cert_key.clone()),
            terms: crate::tls::client::Terms::CONFIG,
        }
    }

    /// What is wrong with these settings as written (the files are read
    /// later), as (key, problem).
    fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        let authenticated = self.ca.is_some() || self.pin.is_some();
        if !authenticated && !self.insecure {
            out.push(("", "give `ca` (the CA file the primary's certificate must chain to) or `pin` (its key's SPKI SHA-256), or `insecure = true` for encryption without authentication"));
        }
        if authenticated && self.insecure {
            out.push((
                "insecure",
                "`insecure = true` authenticates nothing: remove it, or remove `ca` and `pin`",
            ));
        }
        if self.server_name.is_some() && self.ca.is_none() {
            out.push((
                "server_name",
                "only a certificate checked against `ca` is checked for a name: set `ca` too",
            ));
        }
        if let Some(name) = &self.server_name {
            if rustls_pki_types::ServerName::try_from(name.as_str()).is_err() {
                out.push(("server_name", "not a DNS name or IP address"));
            }
        }
        match (&self.cert, &self.cert_key) {
            (Some(_), None) => out.push((
                "cert_key",
                "`cert` needs its private key: set `cert_key` too",
            )),
            (None, Some(_)) => {
                out.push(("cert", "`cert_key` is the key of `cert`: set `cert` too"))
            }
            _ => {}
        }
        out
    }
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
    /// Reads and checks a configuration file; on failure, every problem
    /// found, each with its line.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        };
        let mut config = Config::from_text(&text).map_err(invalid)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        let source = locate::Source::parse(&text).ok();
        let unreadable = config.read_secret_files();
        if !unreadable.is_empty() {
            return Err(invalid(locate_all(source.as_ref(), unreadable)));
        }
        if let Some(source) = &source {
            config.locate_allow_transfer(path, source);
        }
        if let Some(m) = &mut config.monitor {
            m.control_keys = crate::monitor::config::ControlKey::from_keys(&config.keys);
        }
        Ok(config)
    }

    /// Notes in each zone and template where its `allow_transfer` is.
    fn locate_allow_transfer(&mut self, path: &Path, source: &locate::Source) {
        let tables = [("zone", &mut self.zones), ("template", &mut self.templates)];
        for (table, zones) in tables {
            for (i, zone) in zones.iter_mut().enumerate() {
                zone.allow_transfer_at = source
                    .line_of(&format!("{table}[{i}].allow_transfer"))
                    .map(|line| format!("{}:{line}", path.display()));
            }
        }
    }

    /// Parses and checks configuration text (paths stay as written): the
    /// configuration, or every problem found with its line.
    pub fn from_text(text: &str) -> Result<Config, Vec<Problem>> {
        let source = match locate::Source::parse(text) {
            Ok(s) => s,
            Err(e) => {
                let line = e.span().map(|s| locate::line_at(text, s.start));
                return Err(vec![Problem {
                    line,
                    text: e.message().to_owned(),
                }]);
            }
        };
        let mut problems: Vec<Problem> = source
            .unknown_keys()
            .into_iter()
            .map(|u| Problem {
                line: Some(u.line),
                text: u.to_string(),
            })
            .collect();
        match toml::from_str::<Config>(text) {
            Ok(config) => {
                problems.extend(locate_all(Some(&source), config.problems()));
                if problems.is_empty() {
                    return Ok(config);
                }
            }
            Err(e) => {
                // serde's first error, once unknown keys are out of the
                // way, names the line of the next kind of problem.
                let clean = source.without_unknown_keys();
                let first = match clean.as_deref().map(toml::from_str::<Config>) {
                    Some(Err(e)) => e,
                    Some(Ok(_)) => return Err(problems),
                    None => e,
                };
                problems.extend(structure::problems(text, &source, &first));
            }
        }
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }

    /// Parses and checks configuration text; paths stay as written. The
    /// first problem, without its line (for settings made in code).
    pub fn parse(text: &str) -> Result<Config, InvalidConfig> {
        let config: Config = toml::from_str(text)?;
        match config.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(config),
        }
    }

    /// Every problem of parsed settings, in the order of the file.
    pub fn problems(&self) -> Vec<InvalidConfig> {
        let mut out = Vec::new();
        self.rrl.check(&mut out);
        if let Some(m) = &self.monitor {
            if let Err(e) = m.check() {
                out.push(InvalidConfig::Monitor(e));
            }
            let names: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
            if let Err(e) = m.check_control_keys(&names) {
                out.push(InvalidConfig::Monitor(e));
            }
        }
        self.server.check(&mut out);
        out.extend(self.transfer_tls_problems());
        let key_names = self.check_keys(&mut out);
        if let Some(name) = &self.server.control_key {
            if !key_names.contains(&name.to_ascii_lowercase()) {
                out.push(InvalidConfig::UnknownKey {
                    at: "server.control_key".into(),
                    name: name.clone(),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let origin = check_zone(ZoneAt::Zone(i), zone, &key_names, false, &mut out);
            if origin.is_some_and(|o| !seen.insert(o)) {
                out.push(InvalidConfig::DuplicateZone {
                    index: i,
                    name: zone.name.clone(),
                });
            }
        }
        for (i, zone) in self.zones.iter().enumerate() {
            if let Some(catalog) = &zone.catalog {
                out.extend(self.check_catalog(i, zone, catalog).err());
            }
        }
        for (at, zone) in self.zone_settings() {
            out.extend(self.check_member(at, zone).err());
        }
        let mut templates = std::collections::HashSet::new();
        for (i, template) in self.templates.iter().enumerate() {
            if !templates.insert(template.name.to_ascii_lowercase()) {
                out.push(InvalidConfig::DuplicateTemplate {
                    index: i,
                    name: template.name.clone(),
                });
            }
            // The template's name stands in for the zone's in the checks
            // that need one (the names of `allow_update` rules are
            // checked again for each zone added).
            let probe = template.for_zone("template.invalid", None);
            check_zone(ZoneAt::Template(i), &probe, &key_names, true, &mut out);
        }
        out
    }

    /// Checks `[[key]]`; returns the names defined (lower case).
    fn check_keys(&self, out: &mut Vec<InvalidConfig>) -> std::collections::HashSet<String> {
        let mut names = std::collections::HashSet::new();
        for (index, key) in self.keys.iter().enumerate() {
            if let Err(problem) = parse_zone_name(&key.name) {
                out.push(InvalidConfig::BadName {
                    at: format!("key[{index}].name"),
                    text: key.name.clone(),
                    problem,
                });
            }
            if !names.insert(key.name.to_ascii_lowercase()) {
                out.push(InvalidConfig::DuplicateKey {
                    index,
                    name: key.name.clone(),
                });
            }
            match (&key.secret, &key.secret_file) {
                (Some(secret), None) => {
                    if let Err(error) =
                        crate::tsig::TsigKey::from_config(&key.name, &key.algorithm, secret)
                    {
                        out.push(InvalidConfig::Key { index, error });
                    }
                }
                // Read (and checked) by `load`, relative to the file.
                (None, Some(_)) => {}
                _ => out.push(InvalidConfig::KeySecret { index }),
            }
        }
        names
    }
}

impl ServerConfig {
    fn check(&self, out: &mut Vec<InvalidConfig>) {
        let range = |bad: bool, at, rule| bad.then_some(InvalidConfig::OutOfRange { at, rule });
        out.extend(
            [
                range(
                    self.edns_udp_max < 512,
                    "server.edns_udp_max",
                    "must be at least 512",
                ),
                range(
                    self.nsid
                        .as_ref()
                        .is_some_and(|n| n.is_empty() || n.len() > 255),
                    "server.nsid",
                    "must be 1 to 255 octets",
                ),
                range(
                    self.tcp_max_connections == 0,
                    "server.tcp_max_connections",
                    "must be at least 1",
                ),
                range(
                    self.refresh_limit == 0,
                    "server.refresh_limit",
                    "must be at least 1",
                ),
                range(
                    self.transfer_limit == 0,
                    "server.transfer_limit",
                    "must be at least 1",
                ),
                range(
                    self.refresh_min == 0 || self.refresh_min > self.refresh_max,
                    "server.refresh_min",
                    "must be at least 1 and at most refresh_max",
                ),
                range(
                    self.retry_min == 0 || self.retry_min > self.retry_max,
                    "server.retry_min",
                    "must be at least 1 and at most retry_max",
                ),
                range(
                    self.xfr_in_timeout == 0,
                    "server.xfr_in_timeout",
                    "must be at least 1",
                ),
                range(
                    self.journal_max_changesets == 0,
                    "server.journal_max_changesets",
                    "must be at least 1",
                ),
                range(
                    self.group.is_some() && self.user.is_none(),
                    "server.group",
                    "set `user` too (the group is dropped to with the user)",
                ),
            ]
            .into_iter()
            .flatten(),
        );
        if let Some(hex) = &self.cookie_secret {
            if let Err(e) = crate::query::cookie::Secret::from_hex(hex) {
                out.push(InvalidConfig::CookieSecret(e));
            }
        }
        if let Some(addr) = self.control {
            // A signed interface may listen anywhere: every request
            // proves the key.
            if !addr.ip().is_loopback() && self.control_key.is_none() {
                out.push(InvalidConfig::ControlNotLoopback(addr));
            }
        }
        out.extend(self.tls_problems());
    }

    /// The TLS listener needs its certificate and key, and they are
    /// nothing without it; its addresses are not the plain ones (both
    /// would bind TCP there). The files themselves are read at start
    /// (`tls::server::ServerTls`) and by `check-config`.
    fn tls_problems(&self) -> Vec<InvalidConfig> {
        let tls = |at: &str, problem| InvalidConfig::Tls {
            at: format!("server.{at}"),
            problem,
        };
        let listening = !self.tls_listen.is_empty();
        let mut out = Vec::new();
        if listening && self.tls_certificate.is_none() {
            out.push(tls(
                "tls_certificate",
                "the TLS listener needs its certificate (PEM)",
            ));
        }
        if listening && self.tls_key.is_none() {
            out.push(tls(
                "tls_key",
                "the TLS listener needs its private key (PEM)",
            ));
        }
        let files = [
            ("tls_certificate", self.tls_certificate.is_some()),
            ("tls_key", self.tls_key.is_some()),
            ("tls_client_ca", self.tls_client_ca.is_some()),
        ];
        for (at, set) in files {
            if set && !listening {
                out.push(tls(at, "only used by a TLS listener: set tls_listen too"));
            }
        }
        if self.tls_listen.iter().any(|a| self.listen.contains(a)) {
            out.push(tls(
                "tls_listen",
                "an address of `listen` too: TLS needs a port of its own (853)",
            ));
        }
        out
    }
}

impl Config {
    /// Every `[[zone]]`, then every `[[template]]`, with where it is.
    fn zone_settings(&self) -> impl Iterator<Item = (ZoneAt, &ZoneConfig)> {
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
        zones.chain(templates)
    }

    /// Every primary with `tls`, of zones and templates, with where it
    /// is (`zone[0].primaries[1]`).
    pub fn tls_primaries(&self) -> Vec<(String, &PrimaryConfig, &PrimaryTlsConfig)> {
        let mut out = Vec::new();
        for (at, zone) in self.zone_settings() {
            for (j, p) in zone.primaries.iter().enumerate() {
                if let Some(tls) = &p.tls {
                    out.push((format!("{at}.primaries[{j}]"), p, tls));
                }
            }
        }
        out
    }

    /// Transfer rules that need what the server does not have would
    /// never match: a mistake to say, not a zone nobody can transfer.
    fn transfer_tls_problems(&self) -> Vec<InvalidConfig> {
        let server = &self.server;
        let mut out = Vec::new();
        for (at, zone) in self.zone_settings() {
            for (j, rule) in zone.allow_transfer.iter().enumerate() {
                let at = format!("{at}.allow_transfer[{j}]");
                if rule.needs_tls() && server.tls_listen.is_empty() {
                    out.push(InvalidConfig::Tls {
                        at,
                        problem: "requires TLS, but there is no server.tls_listen",
                    });
                } else if rule.needs_client_cert() && server.tls_client_ca.is_none() {
                    out.push(InvalidConfig::Tls {
                        at,
                        problem: "requires a client certificate, but there is no server.tls_client_ca to verify one",
                    });
                }
            }
        }
        out
    }
}

/// Problems found after parsing, with the lines of their keys.
fn locate_all(source: Option<&locate::Source>, problems: Vec<InvalidConfig>) -> Vec<Problem> {
    problems
        .into_iter()
        .map(|p| Problem {
            line: p.at().and_then(|at| source.and_then(|s| s.line_of(&at))),
            text: p.to_string(),
        })
        .collect()
}
impl Config {
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
        let mut problems = Vec::new();
        check_zone(
            ZoneAt::Added(name.to_owned()),
            &zone,
            &key_names,
            false,
            &mut problems,
        );
        match problems.into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(zone),
        }
    }

    /// Reads each `[[key]]`'s `secret_file` into its `secret` and checks
    /// the key; returns what failed.
    fn read_secret_files(&mut self) -> Vec<InvalidConfig> {
        let mut out = Vec::new();
        for (index, key) in self.keys.iter_mut().enumerate() {
            let Some(path) = &key.secret_file else {
                continue;
            };
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let secret = text.trim().to_owned();
                    match crate::tsig::TsigKey::from_config(&key.name, &key.algorithm, &secret) {
                        Ok(_) => key.secret = Some(secret),
                        Err(error) => out.push(InvalidConfig::Key { index, error }),
                    }
                }
                Err(e) => out.push(InvalidConfig::SecretFile {
                    index,
                    problem: format!("cannot read {}: {e}", path.display()),
                }),
            }
        }
        out
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.server.data_dir = base.join(&self.server.data_dir);
        let server = &mut self.server;
        for file in [
            &mut server.tls_certificate,
            &mut server.tls_key,
            &mut server.tls_client_ca,
        ] {
            *file = file.as_ref().map(|f| base.join(f));
        }
        for key in &mut self.keys {
            key.secret_file = key.secret_file.as_ref().map(|f| base.join(f));
        }
        for zone in self.zones.iter_mut().chain(self.templates.iter_mut()) {
            zone.file = zone.file.as_ref().map(|f| base.join(f));
            for tls in zone.primaries.iter_mut().filter_map(|p| p.tls.as_mut()) {
                for file in [&mut tls.ca, &mut tls.cert, &mut tls.cert_key] {
                    *file = file.as_ref().map(|f| base.join(f));
                }
            }
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
/// may leave `file` to each zone added), adding every problem to `out`;
/// returns its apex (wire format) when the name is one.
fn check_zone(
    at: ZoneAt,
    zone: &ZoneConfig,
    key_names: &std::collections::HashSet<String>,
    template: bool,
    out: &mut Vec<InvalidConfig>,
) -> Option<Vec<u8>> {
    let unknown_key = |at: String, name: &str| {
        (!key_names.contains(&name.to_ascii_lowercase())).then(|| InvalidConfig::UnknownKey {
            at,
            name: name.to_owned(),
        })
    };
    let check_rule = |at: String, rule: &crate::acl::AclRule| match (&rule.from, &rule.key) {
        (None, None) => Some(InvalidConfig::EmptyRule { at }),
        (_, Some(k)) => unknown_key(format!("{at}.key"), k),
        _ => None,
    };
    for (j, target) in zone.notify.iter().enumerate() {
        if let Some(k) = target.key() {
            out.extend(unknown_key(format!("{at}.notify[{j}].key"), k));
        }
    }
    for (j, rule) in zone.allow_transfer.iter().enumerate() {
        let at = format!("{at}.allow_transfer[{j}]");
        match &rule.key {
            _ if !rule.names_someone() => out.push(InvalidConfig::EmptyTransferRule { at }),
            Some(k) => out.extend(unknown_key(format!("{at}.key"), k)),
            None => {}
        }
    }
    for (j, rule) in zone.allow_notify.iter().enumerate() {
        out.extend(check_rule(format!("{at}.allow_notify[{j}]"), rule));
    }
    for (j, p) in zone.primaries.iter().enumerate() {
        if let Some(k) = &p.key {
            out.extend(unknown_key(format!("{at}.primaries[{j}].key"), k));
        }
        for (key, problem) in p.tls.iter().flat_map(PrimaryTlsConfig::problems) {
            let dot = if key.is_empty() { "" } else { "." };
            out.push(InvalidConfig::Tls {
                at: format!("{at}.primaries[{j}].tls{dot}{key}"),
                problem,
            });
        }
    }
    for (j, rule) in zone.allow_update.iter().enumerate() {
        out.extend(unknown_key(
            format!("{at}.allow_update[{j}].key"),
            &rule.key,
        ));
    }
    let origin = match parse_zone_name(&zone.name) {
        Ok(origin) => origin,
        Err(problem) => {
            out.push(InvalidConfig::BadName {
                at: format!("{at}.name"),
                text: zone.name.clone(),
                problem,
            });
            return None;
        }
    };
    out.extend(
        role_problems(zone, template)
            .into_iter()
            .map(|(key, problem)| InvalidConfig::ForRole {
                at: at.clone(),
                key,
                problem,
            }),
    );
    if let (Role::Primary, Some(c), false) = (zone.role, &zone.csync, template) {
        if let Err(problem) = check_csync(c, &origin) {
            out.push(InvalidConfig::Csync {
                at: at.clone(),
                problem,
            });
        }
    }
    // A template's rules name no zone yet: checked for each zone added.
    if !template {
        if let Err((rule, problem)) =
            crate::update::policy::UpdatePolicy::new(&origin, &zone.allow_update)
        {
            out.push(InvalidConfig::UpdateRule {
                at: at.clone(),
                rule,
                problem,
            });
        }
    }
    Some(origin)
}

/// The settings a zone's role needs and those it must not have, as
/// (key, what to do).
fn role_problems(zone: &ZoneConfig, template: bool) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if template && zone.catalog.is_some() {
        out.push((
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
                out.push(("file", "a primary zone needs its zone file"));
            }
            if !zone.primaries.is_empty() {
                out.push(("primaries", "only for role = \"secondary\""));
            }
            if zone.csync.is_some() && template {
                out.push((
                    "csync",
                    "names the children of one zone; configure it in that [[zone]]",
                ));
            }
        }
        Role::Secondary => {
            if zone.primaries.is_empty() {
                out.push(("primaries", "a secondary zone needs at least one primary"));
            }
            if zone.file.is_some() {
                out.push((
                    "file",
                    "a secondary keeps its copy under data_dir; remove `file`",
                ));
            }
            if zone.csync.is_some() {
                out.push((
                    "csync",
                    "the parental agent changes the zone file, so only a primary can run it",
                ));
            }
            if zone.zonemd_generate.is_some() {
                out.push((
                    "zonemd_generate",
                    "a secondary serves the ZONEMD its primary made; generate it there",
                ));
            }
            if !zone.allow_update.is_empty() {
                out.push((
                    "allow_update",
                    "a secondary does not take UPDATE (it would have to forward it to its primary); configure it on the primary",
                ));
            }
        }
    }
    out
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

    /// A control interface beyond loopback needs `control_key`, and that
    /// names a `[[key]]`; on loopback it needs none.
    #[test]
    fn control_beyond_loopback_needs_a_control_key_that_exists() {
        let key = "[[key]]\nname = \"ctl-key\"\nsecret = \"9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=\"\n";
        let err = Config::parse("[server]\ncontrol = \"192.0.2.1:5380\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("server.control") && text.contains("192.0.2.1:5380"),
            "{text}"
        );
        assert!(text.contains("set server.control_key"), "{text}");
        let ok = Config::parse(&format!(
            "[server]\ncontrol = \"192.0.2.1:5380\"\ncontrol_key = \"CTL-key\"\n{key}"
        ))
        .unwrap();
        assert_eq!(ok.server.control_key.as_deref(), Some("CTL-key"));
        assert!(ok.tsig_key("CTL-key").is_some());
        let err = Config::parse(&format!(
            "[server]\ncontrol = \"127.0.0.1:5380\"\ncontrol_key = \"other-key\"\n{key}"
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("server.control_key") && text.contains("other-key"),
            "{text}"
        );
        let plain = Config::parse("[server]\ncontrol = \"[::1]:5380\"\n").unwrap();
        assert!(plain.server.control_key.is_none());
    }

    /// `[[monitor.secondary]] control_key` names a `[[key]]` of the same
    /// file, whose secret the monitor signs with.
    #[test]
    fn a_monitored_secondarys_control_key_must_exist() {
        let monitor = "[monitor]\n[[monitor.zone]]\nname = \"example.com\"\n\
                       [[monitor.secondary]]\naddress = \"[::1]:5301\"\ncontrol = \"[::1]:5381\"\n";
        let key = "[[key]]\nname = \"ctl-key\"\nsecret = \"9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=\"\n";
        let err = Config::parse(&format!("{monitor}control_key = \"nope\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("secondary[0].control_key") && text.contains("\"nope\""),
            "{text}"
        );
        let ok = Config::parse(&format!("{monitor}control_key = \"ctl-key\"\n{key}")).unwrap();
        let m = ok.monitor.unwrap();
        assert_eq!(m.secondaries[0].control_key.as_deref(), Some("ctl-key"));
        assert!(m.secondary_at("[::1]:5301".parse().unwrap()).is_some());
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
    fn tls_rules_need_the_tls_listener_and_a_client_ca() {
        let server = "[server]\ntls_listen = [\"127.0.0.1:853\"]\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\n";
        let z = "[[zone]]\nname = \"a\"\nfile = \"x\"\nrole = \"primary\"\n";
        let pin = "pRY1Rl+JAfnVFyfvE0vl2ceGbhT4tmwqKhEJLwBb5lE=";
        let problem = |text: &str| Config::parse(text).unwrap_err().to_string();
        let ok = Config::parse(&format!(
            "{server}{z}allow_transfer = [{{ from = \"127.0.0.0/8\", tls = true }}]\n"
        ))
        .unwrap();
        assert!(ok.zones[0].allow_transfer[0].needs_tls());
        let e = problem(&format!(
            "{z}allow_transfer = [{{ from = \"::1\", tls = true }}]\n"
        ));
        assert!(e.contains("no server.tls_listen"), "{e}");
        let e = problem(&format!(
            "{server}{z}allow_transfer = [{{ cert = \"{pin}\" }}]\n"
        ));
        assert!(
            e.contains("allow_transfer[0]: requires a client certificate"),
            "{e}"
        );
        let e = problem(&format!("{server}{z}allow_transfer = [{{ tls = true }}]\n"));
        assert!(e.contains("`tls` says how, not who"), "{e}");
        let e = problem(&format!(
            "{server}{z}allow_transfer = [{{ cert = \"short\" }}]\n"
        ));
        assert!(e.contains("SPKI pin"), "{e}");
        let e = problem("[server]\ntls_listen = [\"127.0.0.1:853\"]\n");
        assert!(
            e.contains("server.tls_certificate: the TLS listener needs"),
            "{e}"
        );
        let e = problem("[server]\ntls_client_ca = \"ca.pem\"\n");
        assert!(
            e.contains("server.tls_client_ca: only used by a TLS listener"),
            "{e}"
        );
        let e = problem("[server]\nlisten = [\"127.0.0.1:853\"]\ntls_listen = [\"127.0.0.1:853\"]\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\n");
        assert!(e.contains("a port of its own"), "{e}");
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

    /// The keys serde expects in a table, from its unknown-field error.
    fn accepted_keys(text: &str) -> Vec<String> {
        let err = toml::from_str::<Config>(text).unwrap_err();
        let message = err.message();
        let (_, expected) = message
            .split_once("expected")
            .unwrap_or_else(|| panic!("{message}"));
        let mut keys: Vec<String> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_reference_lists_exactly_the_keys_the_parser_takes() {
        let zone = "[[zone]]\nname = \"a\"\nrole = \"secondary\"\n";
        let monitor = "[monitor]\n";
        let cases = [
            ("", "bogus_key = 1\n".to_owned()),
            ("server", "[server]\nbogus_key = 1\n".to_owned()),
            ("key", "[[key]]\nname = \"k\"\nbogus_key = 1\n".to_owned()),
            ("zone", format!("{zone}bogus_key = 1\n")),
            (
                "zone.primaries",
                format!("{zone}primaries = [{{ address = \"127.0.0.1:1\", bogus_key = 1 }}]\n"),
            ),
            (
                "zone.primaries.tls",
                format!("{zone}primaries = [{{ address = \"127.0.0.1:1\", tls = {{ bogus_key = 1 }} }}]\n"),
            ),
            (
                "zone.allow_transfer",
                format!("{zone}allow_transfer = [{{ bogus_key = 1 }}]\n"),
            ),
            (
                "zone.allow_notify",
                format!("{zone}allow_notify = [{{ bogus_key = 1 }}]\n"),
            ),
            (
                "zone.allow_update",
                format!("{zone}[[zone.allow_update]]\nkey = \"k\"\nbogus_key = 1\n"),
            ),
            ("zone.csync", format!("{zone}[zone.csync]\nbogus_key = 1\n")),
            (
                "zone.catalog",
                format!("{zone}[zone.catalog]\nrole = \"consumer\"\nbogus_key = 1\n"),
            ),
            ("monitor", format!("{monitor}bogus_key = 1\n")),
            ("rrl", "[rrl]\nbogus_key = 1\n".to_owned()),
            (
                "monitor.zone",
                format!("{monitor}[[monitor.zone]]\nname = \"a\"\nbogus_key = 1\n"),
            ),
            (
                "monitor.catalog",
                format!("{monitor}[[monitor.catalog]]\nname = \"a\"\nprimary = \"127.0.0.1:1\"\nbogus_key = 1\n"),
            ),
            (
                "monitor.alerts",
                format!("{monitor}[monitor.alerts]\nbogus_key = 1\n"),
            ),
            (
                "monitor.secondary",
                format!("{monitor}[[monitor.secondary]]\naddress = \"127.0.0.1:1\"\ncontrol = \"127.0.0.1:2\"\nbogus_key = 1\n"),
            ),
        ];
        for (path, text) in &cases {
            let mut documented: Vec<String> = reference::table(path)
                .unwrap_or_else(|| panic!("no reference for {path:?}"))
                .keys
                .iter()
                .map(|k| k.name.to_owned())
                .collect();
            documented.sort();
            assert_eq!(documented, accepted_keys(text), "table {path:?}");
        }
        // Every table of the reference was compared, but `zone.notify`:
        // its entries are strings or tables (untagged), and serde names
        // no fields for those; both its keys must parse.
        let compared: Vec<&str> = cases.iter().map(|(p, _)| *p).collect();
        for t in reference::TABLES {
            assert!(
                compared.contains(&t.path) || t.path == "zone.notify",
                "table {:?} is not compared with the parser",
                t.path
            );
        }
        let notify = Config::parse(
            "[[key]]\nname = \"k\"\nsecret = \"c2VjcmV0\"\n[[zone]]\nname = \"a\"\nrole = \"primary\"\nfile = \"x\"\nnotify = [{ addr = \"127.0.0.1:1\", key = \"k\" }]\n",
        )
        .unwrap();
        assert_eq!(notify.zones[0].notify[0].key(), Some("k"));
    }

    #[test]
    fn docs_config_md_is_the_reference() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md");
        let expected = reference::markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == expected,
            "docs/config.md is not the reference: run UPDATE_DOCS=1 cargo test --lib config::"
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_line() {
        let text = "[server]\nlisten = []\nlistn = 1\n\n[[zone]]\nname = \"a\"\nrole = \"primary\"\nfile = \"a.zone\"\nallow_transfer = [{ from = \"10.0.0.0/40\" }]\n\n[[zone]]\nname = \"b\"\nrole = \"primary\"\nfile = \"b.zone\"\nnotify = [{ addr = \"127.0.0.1:1\", kee = \"k\" }]\n";
        let problems = Config::from_text(text).unwrap_err();
        let lines: Vec<(Option<usize>, &str)> =
            problems.iter().map(|p| (p.line, p.text.as_str())).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(lines[0].0, Some(3));
        assert!(
            lines[0].1.starts_with("server.listn: unknown key"),
            "{lines:#?}"
        );
        assert_eq!(lines[1].0, Some(9));
        assert!(lines[1].1.contains("zone[0].allow_transfer"), "{lines:#?}");
        assert_eq!(lines[2].0, Some(15));
        assert!(
            lines[2].1.starts_with("zone[1].notify[0].kee: unknown key"),
            "{lines:#?}"
        );

        // Without unknown keys, every problem of the values.
        let text = "[server]\nedns_udp_max = 100\n\n[[zone]]\nname = \"a\"\nrole = \"secondary\"\nfile = \"a.zone\"\n\n[[zone]]\nname = \"A.\"\nrole = \"primary\"\nfile = \"b.zone\"\nallow_transfer = [{ key = \"nokey\" }]\n";
        let problems = Config::from_text(text).unwrap_err();
        let shown: Vec<String> = problems
            .iter()
            .map(|p| p.show(Path::new("z.toml")))
            .collect();
        for needle in [
            "z.toml:2: server.edns_udp_max: must be at least 512",
            "z.toml:4: zone[0].primaries: a secondary zone needs at least one primary",
            "z.toml:7: zone[0].file: a secondary keeps its copy",
            "z.toml:10: zone[1].name: zone \"A.\" is configured twice",
            "z.toml:13: zone[1].allow_transfer[0].key: no [[key]] named \"nokey\"",
        ] {
            assert!(
                shown.iter().any(|s| s.starts_with(needle)),
                "{needle:?} in {shown:#?}"
            );
        }
        assert_eq!(shown.len(), 5, "{shown:#?}");
    }

    #[test]
    fn structure_problems_of_every_section_are_listed() {
        let text = "[server]\nlisten = \"127.0.0.1:53\"\n\n[[zone]]\nname = \"a\"\nrole = 3\n\n[[zone]]\nname = \"b\"\nrole = \"primary\"\nfile = \"b.zone\"\nbogus = true\n\n[[key]]\nsecret = \"c2VjcmV0\"\n";
        let problems = Config::from_text(text).unwrap_err();
        let shown: Vec<String> = problems
            .iter()
            .map(|p| p.show(Path::new("z.toml")))
            .collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(
            shown[0].starts_with("z.toml:2: server.listen: invalid type"),
            "{shown:#?}"
        );
        assert!(shown[1].starts_with("z.toml:4: zone[0]: "), "{shown:#?}");
        assert!(
            shown[2].starts_with("z.toml:12: zone[1].bogus: unknown key"),
            "{shown:#?}"
        );
        assert!(
            shown[3].starts_with("z.toml:14: key[0]: missing field `name`"),
            "{shown:#?}"
        );
    }

    #[test]
    fn a_key_takes_a_secret_or_a_secret_file() {
        let both = "[[key]]\nname = \"k\"\nsecret = \"c2VjcmV0\"\nsecret_file = \"k.secret\"\n";
        let err = Config::parse(both).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let neither = "[[key]]\nname = \"k\"\n";
        assert!(Config::parse(neither).is_err());
        let dir = std::env::temp_dir().join(format!("zonesync-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("z.toml");
        std::fs::write(
            &config,
            "[[key]]\nname = \"k\"\nsecret_file = \"k.secret\"\n",
        )
        .unwrap();
        let err = Config::load(&config).unwrap_err().to_string();
        assert!(
            err.contains("z.toml:3: key[0].secret_file: cannot read"),
            "{err}"
        );
        std::fs::write(dir.join("k.secret"), "c2VjcmV0\n").unwrap();
        let c = Config::load(&config).unwrap();
        assert_eq!(c.keys[0].secret(), "c2VjcmV0");
        assert!(c.tsig_key("k").is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_tls_primary_is_authenticated_unless_insecure_is_asked_for() {
        let pin = "pRY1Rl+JAfnVFyfvE0vl2ceGbhT4tmwqKhEJLwBb5lE=";
        let with = |tls: &str| {
            format!(
                "[[zone]]\nname = \"a\"\nrole = \"secondary\"\n\
                 primaries = [{{ address = \"127.0.0.1:853\", tls = {{ {tls} }} }}, {{ address = \"127.0.0.1:53\" }}]\n"
            )
        };
        let problem = |tls: &str| match Config::from_text(&with(tls)) {
            Ok(_) => panic!("{tls} accepted"),
            Err(problems) => problems
                .iter()
                .map(|p| p.text.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        };
        for good in [
            "ca = \"ca.pem\"".to_owned(),
            "ca = \"ca.pem\", server_name = \"ns1.example.com\"".into(),
            format!("pin = \"{pin}\""),
            format!("ca = \"ca.pem\", pin = \"{pin}\", cert = \"c.pem\", cert_key = \"c.key\""),
            "insecure = true".into(),
        ] {
            let c = Config::from_text(&with(&good)).unwrap_or_else(|e| panic!("{good}: {e:?}"));
            assert!(c.zones[0].primaries[0].tls.is_some(), "{good}");
            assert!(c.zones[0].primaries[1].tls.is_none(), "{good}");
        }
        let e = problem("");
        assert!(
            e.contains("zone[0].primaries[0].tls: give `ca`") && e.contains("insecure = true"),
            "{e}"
        );
        let e = problem(&format!("pin = \"{pin}\", insecure = true"));
        assert!(e.contains("primaries[0].tls.insecure: "), "{e}");
        let e = problem("insecure = true, server_name = \"ns1.example.com\"");
        assert!(
            e.contains("tls.server_name: only a certificate checked"),
            "{e}"
        );
        let e = problem("ca = \"ca.pem\", server_name = \"not a name!\"");
        assert!(e.contains("tls.server_name: not a DNS name"), "{e}");
        let e = problem("ca = \"ca.pem\", cert = \"c.pem\"");
        assert!(
            e.contains("tls.cert_key: `cert` needs its private key"),
            "{e}"
        );
        let e = problem("ca = \"ca.pem\", cert_key = \"c.key\"");
        assert!(e.contains("tls.cert: "), "{e}");
        let e = problem("pin = \"short\"");
        assert!(e.contains("SPKI pin"), "{e}");
        let e = problem("ca = \"ca.pem\", bogus = 1");
        assert!(e.contains("primaries[0].tls.bogus: unknown key"), "{e}");
        // Templates (catalog members, zones added at run time) too.
        let template = "[[template]]\nname = \"t\"\nrole = \"secondary\"\n\
                        primaries = [{ address = \"127.0.0.1:853\", tls = { server_name = \"x\" } }]\n";
        let e = Config::from_text(template).unwrap_err();
        assert!(
            e.iter()
                .any(|p| p.text.starts_with("template[0].primaries[0].tls: give")),
            "{e:?}"
        );
    }

    #[test]
    fn the_line_of_allow_transfer_is_kept_for_peer_reports() {
        let dir = std::env::temp_dir().join(format!("zonesync-allow-at-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("z.toml");
        std::fs::write(
            &config,
            "[[zone]]\nname = \"a\"\nrole = \"primary\"\nfile = \"a.zone\"\n\
             allow_transfer = [{ from = \"127.0.0.0/8\" }]\n\
             [[zone]]\nname = \"b\"\nrole = \"primary\"\nfile = \"b.zone\"\n\
             [[template]]\nname = \"t\"\nrole = \"primary\"\n\
             allow_transfer = [{ from = \"::1\" }]\n",
        )
        .unwrap();
        let c = Config::load(&config).unwrap();
        let at = |line: usize| Some(format!("{}:{line}", config.display()));
        assert_eq!(c.zones[0].allow_transfer_at, at(5));
        assert_eq!(
            c.zones[1].allow_transfer_at,
            at(6),
            "not written: its table"
        );
        assert_eq!(c.templates[0].allow_transfer_at, at(13));
        let member = c.templates[0].for_zone("m.example", None);
        assert_eq!(member.allow_transfer_at, at(13), "a zone from the template");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_files_of_primaries_are_relative_to_the_configuration() {
        let dir = std::env::temp_dir().join(format!("zonesync-primary-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("z.toml");
        let tls = "tls = { ca = \"tls/ca.pem\", cert = \"tls/c.pem\", cert_key = \"tls/c.key\" }";
        std::fs::write(
            &config,
            format!(
                "[[zone]]\nname = \"a\"\nrole = \"secondary\"\nprimaries = [{{ address = \"127.0.0.1:853\", {tls} }}]\n\
                 [[template]]\nname = \"t\"\nrole = \"secondary\"\nprimaries = [{{ address = \"127.0.0.1:853\", {tls} }}]\n"
            ),
        )
        .unwrap();
        let c = Config::load(&config).unwrap();
        for zone in [&c.zones[0], &c.templates[0]] {
            let tls = zone.primaries[0].tls.as_ref().unwrap();
            assert_eq!(tls.ca.as_deref(), Some(dir.join("tls/ca.pem").as_path()));
            assert_eq!(
                tls.cert_key.as_deref(),
                Some(dir.join("tls/c.key").as_path())
            );
        }
        let found: Vec<String> = c.tls_primaries().into_iter().map(|(at, ..)| at).collect();
        assert_eq!(found, ["zone[0].primaries[0]", "template[0].primaries[0]"]);
        let member = c.zone_from_template("member.example", "t", None).unwrap();
        assert_eq!(member.primaries, c.templates[0].primaries);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../examples/zonesync.toml");
        let c = Config::parse(text).unwrap();
        assert!(!c.zones.is_empty());
    }
}
