//! Catalog consumers (RFC 9432 §5): each zone with `[zone.catalog] role =
//! "consumer"` is a secondary like any other; whenever a version of it is
//! published (and once at start), its member list is read
//! (`catalog::members`), compared with what it provisioned before
//! (`catalog::consumer::plan`), and the changes are made through
//! [`ServedZones`]: members added from the catalog's templates, removed
//! with their data, reset, or served again with another template.
//!
//! Each catalog keeps its members in `data_dir/state/<catalog>.catalog.toml`
//! (written atomically after each change), so a restart serves them at
//! once from their own copies, before the catalog itself is read again.

use super::zoneset::ServedZones;
use crate::catalog::consumer::{self, Change, Owner, Provisioned};
use crate::catalog::members;
use crate::catalog::producer::{self, ProducedMember};
use crate::config::{CatalogRole, Config, ZoneConfig};
use crate::durable::FileError;
use crate::replication::Managed;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// At most this many members are restored at once when a catalog adds
/// many.
const RESTORES_AT_ONCE: usize = 8;

/// Every consumed catalog, by apex (lower-case wire).
#[derive(Debug, Default, Clone)]
pub struct Consumed {
    catalogs: HashMap<Vec<u8>, CatalogState>,
}

#[derive(Debug, Clone)]
struct CatalogState {
    name: String,
    templates: Vec<String>,
    members: Vec<Provisioned>,
    path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    #[serde(default, rename = "member")]
    members: Vec<Provisioned>,
}

impl Consumed {
    /// The configured consumers and the members their state files list.
    pub fn read(config: &Config) -> Consumed {
        let mut out = Consumed::default();
        for zone in &config.zones {
            let Some(c) = zone
                .catalog
                .as_ref()
                .filter(|c| c.role == CatalogRole::Consumer)
            else {
                continue;
            };
            let Ok(origin) = crate::config::parse_zone_name(&zone.name) else {
                continue;
            };
            let path = config.server.data_dir.join("state").join(format!(
                "{}.catalog.toml",
                crate::replication::file_stem(&zone.name)
            ));
            let members = match read_state(&path) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(catalog = %zone.name, "{e}; its members are provisioned again from the catalog");
                    Vec::new()
                }
            };
            out.catalogs.insert(
                origin,
                CatalogState {
                    name: zone.name.clone(),
                    templates: c.templates.clone(),
                    members,
                    path,
                },
            );
        }
        out
    }

    /// The member zones to serve at start, made from their templates.
    /// A member whose name is configured meanwhile (or listed by two
    /// catalogs' files) is the configuration's: it leaves the catalog's
    /// list, so the catalog never removes, and never deletes the data of,
    /// a zone it does not serve. One whose template is gone is logged
    /// and left to the catalog's next reading.
    pub fn zones_at_start(&mut self, config: &Config, taken: &[ZoneConfig]) -> Vec<ZoneConfig> {
        let mut out: Vec<ZoneConfig> = Vec::new();
        for state in self.catalogs.values_mut() {
            let mut kept = Vec::with_capacity(state.members.len());
            for m in std::mem::take(&mut state.members) {
                let same = |z: &ZoneConfig| same_zone(&z.name, &m.zone);
                if taken.iter().any(same) || out.iter().any(same) {
                    tracing::warn!(catalog = %state.name, zone = %m.zone, "member already served otherwise; no longer the catalog's");
                    continue;
                }
                match config.zone_from_template(&m.zone, &m.template, None) {
                    Ok(zc) => out.push(zc),
                    Err(e) => {
                        tracing::error!(catalog = %state.name, zone = %m.zone, "member not served: {e}")
                    }
                }
                kept.push(m);
            }
            state.members = kept;
        }
        out
    }

    /// The apexes of the consumed catalogs.
    pub fn origins(&self) -> Vec<Vec<u8>> {
        self.catalogs.keys().cloned().collect()
    }

    /// Every member zone (lower-case wire) of every catalog: the catalog's
    /// apex and name, and the member as provisioned. Built once per use,
    /// so a catalog of 10,000 members is not searched 10,000 times.
    fn index(&self) -> HashMap<Vec<u8>, (Vec<u8>, String, Provisioned)> {
        let mut out = HashMap::new();
        for (origin, state) in &self.catalogs {
            for m in &state.members {
                if let Ok(wire) = crate::config::parse_zone_name(&m.zone) {
                    out.insert(wire, (origin.clone(), state.name.clone(), m.clone()));
                }
            }
        }
        out
    }
}

/// Whether `catalog` (wire) is one we consume.
fn consumes(catalogs: &std::sync::Mutex<Consumed>, catalog: &[u8]) -> bool {
    let consumed = catalogs.lock().unwrap_or_else(|p| p.into_inner());
    consumed.catalogs.contains_key(catalog)
}

fn same_zone(a: &str, b: &str) -> bool {
    match (
        crate::config::parse_zone_name(a),
        crate::config::parse_zone_name(b),
    ) {
        (Ok(a), Ok(b)) => a.eq_ignore_ascii_case(&b),
        _ => false,
    }
}

fn read_state(path: &std::path::Path) -> Result<Vec<Provisioned>, FileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io(path)(e)),
    };
    let file: StateFile = toml::from_str(&text).map_err(FileError::format(path))?;
    Ok(file.members)
}

fn write_state(path: &std::path::Path, members: &[Provisioned]) -> Result<(), FileError> {
    let file = StateFile {
        members: members.to_vec(),
    };
    let text = toml::to_string(&file).map_err(FileError::format(path))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(FileError::io(dir))?;
    }
    crate::durable::write_atomic(path, text.as_bytes()).map_err(FileError::io(path))
}

impl ServedZones {
    /// The catalog (name) whose member `zone` (wire) is.
    pub(super) fn catalog_of(&self, zone: &[u8]) -> Option<String> {
        self.member_catalogs().remove(&zone.to_ascii_lowercase())
    }

    /// The catalog (name) of every member zone (lower-case wire).
    pub(super) fn member_catalogs(&self) -> HashMap<Vec<u8>, String> {
        let consumed = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
        consumed
            .index()
            .into_iter()
            .map(|(zone, (_, name, _))| (zone, name))
            .collect()
    }

    /// Reads every consumed catalog now, then again whenever one is
    /// published (all of them when publications were missed). Runs until
    /// the server stops.
    pub async fn follow_catalogs(
        self: Arc<Self>,
        mut publishes: tokio::sync::broadcast::Receiver<crate::replication::Published>,
    ) {
        let origins = {
            let consumed = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
            consumed.origins()
        };
        if origins.is_empty() {
            return;
        }
        self.consume_all(origins.clone()).await;
        loop {
            match publishes.recv().await {
                Ok(p) => {
                    if let Some(origin) = origins.iter().find(|o| o.eq_ignore_ascii_case(&p.origin))
                    {
                        self.consume_all(vec![origin.clone()]).await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    self.consume_all(origins.clone()).await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Reads these catalogs, then those a `coo` in them newly points to
    /// (which may now take a member over), each at most once more.
    async fn consume_all(&self, first: Vec<Vec<u8>>) {
        let mut queue: std::collections::VecDeque<Vec<u8>> = first.into();
        let limit = {
            let consumed = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
            consumed.catalogs.len() * 2 + 1
        };
        let mut rounds = 0;
        while let Some(origin) = queue.pop_front() {
            rounds += 1;
            if rounds > limit {
                break;
            }
            for next in self.consume(&origin).await {
                if !queue.contains(&next) {
                    queue.push_back(next);
                }
            }
        }
    }

    /// Reads the catalog `origin` as served now and makes its changes.
    /// Returns the consumed catalogs its members newly name in `coo`.
    async fn consume(&self, origin: &[u8]) -> Vec<Vec<u8>> {
        let _one = self.changing.lock().await;
        let Some(Managed::Secondary(catalog)) = self.registry.load().get(origin).cloned() else {
            return Vec::new();
        };
        let Some(version) = catalog.zone().snapshot() else {
            return Vec::new(); // not transferred yet
        };
        let (state, index) = {
            let consumed = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
            let Some(state) = consumed.catalogs.get(origin).cloned() else {
                return Vec::new();
            };
            (state, consumed.index())
        };
        let had_id = |zone: &[u8]| {
            index
                .get(zone)
                .filter(|(catalog, _, _)| catalog == origin)
                .map(|(_, _, m)| m.id.as_bytes().to_vec())
        };
        let members = match members::read(&version, had_id) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(catalog = %state.name, serial = %version.serial(), "{e}; its members stay as they were");
                return Vec::new();
            }
        };
        for p in &members.problems {
            tracing::warn!(catalog = %state.name, serial = %version.serial(), "{p}");
        }
        let registry = self.registry.load();
        let owner = |zone: &[u8]| match index.get(zone) {
            Some((other, _, m)) => Owner::Catalog {
                catalog: other.clone(),
                coo: m
                    .coo
                    .as_deref()
                    .and_then(|c| crate::config::parse_zone_name(c).ok()),
                id: m.id.clone(),
            },
            None if registry.get(zone).is_some() => Owner::Operator,
            None => Owner::Nobody,
        };
        let plan = consumer::plan(origin, &members, &state.members, owner, &state.templates);
        drop(registry);
        for note in &plan.notes {
            tracing::info!(catalog = %state.name, "{note}");
        }
        if plan.changes.is_empty() && plan.provisioned == state.members {
            return Vec::new();
        }
        let newly_moving: Vec<Vec<u8>> = plan
            .provisioned
            .iter()
            .filter(|m| {
                m.coo.is_some()
                    && !state
                        .members
                        .iter()
                        .any(|had| had.zone == m.zone && had.coo == m.coo)
            })
            .filter_map(|m| crate::config::parse_zone_name(m.coo.as_deref()?).ok())
            .filter(|c| c.as_slice() != origin && consumes(&self.catalogs, c))
            .collect();
        self.carry_out(&state.name, &plan.changes).await;
        let mut consumed = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
        for change in &plan.changes {
            let (Change::Reset {
                member,
                from: Some(from),
            }
            | Change::Reconfigure {
                member,
                from: Some(from),
            }) = change
            else {
                continue;
            };
            if let Some(other) = consumed.catalogs.get_mut(from) {
                other.members.retain(|m| !same_zone(&m.zone, &member.zone));
                if let Err(e) = write_state(&other.path, &other.members) {
                    tracing::error!(catalog = %other.name, "{e}");
                }
            }
        }
        if let Some(mine) = consumed.catalogs.get_mut(origin) {
            mine.members = plan.provisioned.clone();
            if let Err(e) = write_state(&mine.path, &mine.members) {
                tracing::error!(catalog = %mine.name, "{e}");
            }
        }
        tracing::info!(catalog = %state.name, serial = %version.serial(), members = plan.provisioned.len(), changes = plan.changes.len(), "catalog applied");
        newly_moving
    }

    /// Removes, resets and reconfigures one by one, then adds the new
    /// members in one batch (served together, restored a few at a time,
    /// their dispatchers started).
    async fn carry_out(&self, catalog: &str, changes: &[Change]) {
        let mut to_add: Vec<&Provisioned> = Vec::new();
        // Members whose templates name a catalog we produce, which then
        // lists them (a consumer passing its zones on).
        let mut touched: Vec<ZoneConfig> = Vec::new();
        let mut leaving: Vec<(Managed, bool)> = Vec::new();
        let served = self.registry.load();
        for change in changes {
            let (member, keep) = match change {
                Change::Add(m) => {
                    to_add.push(m);
                    continue;
                }
                Change::Remove(m) => (m, None),
                Change::Reset { member, .. } => (member, Some(false)),
                Change::Reconfigure { member, .. } => (member, Some(true)),
            };
            if let Some(zone) = served.find(&member.zone) {
                touched.push(zone.config().clone());
                leaving.push((zone.clone(), keep == Some(true)));
            }
            match keep {
                None => tracing::info!(catalog, zone = %member.zone, "member removed"),
                Some(_) => to_add.push(member),
            }
        }
        drop(served);
        self.unserve_all(leaving).await;
        let mut zones = Vec::new();
        for m in to_add {
            let made = self
                .config
                .zone_from_template(&m.zone, &m.template, None)
                .map_err(|e| e.to_string())
                .and_then(|zc| {
                    super::managed_zone(&self.config, &zc, &self.deps).map_err(|e| format!("{e:#}"))
                });
            match made {
                Ok(z) => zones.push(z),
                Err(e) => tracing::error!(catalog, zone = %m.zone, "member not served: {e}"),
            }
        }
        touched.extend(zones.iter().map(|z| z.config().clone()));
        if !zones.is_empty() {
            self.serve_all(zones.clone());
            self.restore_and_start(catalog, &zones).await;
        }
        touched.retain(|z| z.catalog_zone.is_some());
        touched.sort_by_key(|z| z.catalog_zone.clone());
        touched.dedup_by_key(|z| z.catalog_zone.clone());
        for zone in &touched {
            self.membership_changed(zone);
        }
    }

    /// Restores new members a few at a time, then starts their
    /// dispatchers (whose first refreshes wait for `server.refresh_limit`).
    async fn restore_and_start(&self, catalog: &str, zones: &[Managed]) {
        let gate = Arc::new(tokio::sync::Semaphore::new(RESTORES_AT_ONCE));
        let mut restores = tokio::task::JoinSet::new();
        for zone in zones {
            let Ok(permit) = gate.clone().acquire_owned().await else {
                break;
            };
            let Managed::Secondary(z) = zone.clone() else {
                continue;
            };
            restores.spawn_blocking(move || {
                z.restore();
                drop(permit);
            });
        }
        while restores.join_next().await.is_some() {}
        for zone in zones {
            self.start(zone);
            tracing::info!(catalog, zone = zone.name(), "member added");
        }
    }
}

/// Where a produced catalog's zone file is generated, under `data_dir`.
pub(super) fn produced_path(config: &Config, catalog: &str) -> PathBuf {
    config
        .server
        .data_dir
        .join("catalogs")
        .join(format!("{}.zone", crate::replication::file_stem(catalog)))
}

/// A producer's settings as served: its generated file, and the serial
/// moved by `increment` on every change of membership (the file always
/// says serial 1; the served serial is the zone's own, kept in its state).
pub(super) fn as_produced(config: &Config, zone: &ZoneConfig) -> ZoneConfig {
    let produced = zone
        .catalog
        .as_ref()
        .is_some_and(|c| c.role == CatalogRole::Producer);
    if !produced {
        return zone.clone();
    }
    ZoneConfig {
        file: Some(produced_path(config, &zone.name)),
        serial_policy: crate::config::SerialPolicy::Increment,
        ..zone.clone()
    }
}

/// Writes the catalog `producer` listing the `zones` whose
/// `catalog_zone` names it.
pub(super) fn write_produced<'a>(
    config: &Config,
    producer: &str,
    zones: impl Iterator<Item = &'a ZoneConfig>,
) -> Result<(), FileError> {
    let members: Vec<ProducedMember> = zones
        .filter(|z| {
            z.catalog_zone
                .as_deref()
                .is_some_and(|c| same_zone(c, producer))
        })
        .map(|z| ProducedMember {
            zone: z.name.clone(),
            group: z.catalog_group.clone(),
        })
        .collect();
    let text = producer::zone_text(producer, crate::serial::Serial(1), &members);
    let path = produced_path(config, producer);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(FileError::io(dir))?;
    }
    crate::durable::write_atomic(&path, text.as_bytes()).map_err(FileError::io(&path))
}

impl ServedZones {
    /// After `zone` joined or left the served set: its catalog, if it has
    /// one we produce, is written again and loaded (the serial moves).
    pub(super) fn membership_changed(&self, zone: &ZoneConfig) {
        let Some(catalog) = zone.catalog_zone.as_deref() else {
            return;
        };
        let zones = self.registry.load();
        let Some(Managed::Primary(producer)) = zones.find(catalog).cloned() else {
            return;
        };
        let configs: Vec<ZoneConfig> = zones.iter().map(|z| z.config().clone()).collect();
        if let Err(e) = write_produced(&self.config, producer.name(), configs.iter()) {
            tracing::error!(catalog = producer.name(), "catalog not updated: {e}");
            return;
        }
        producer.ask_load(crate::replication::LoadAsk {
            force: false,
            if_changed: false,
            reply: None,
        });
    }
}
