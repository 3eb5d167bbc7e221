//! The zones the server serves, as the set changes at run time: zones
//! added and removed with `zonesync ctl zone-add`/`zone-remove`, made from
//! a `[[template]]` and kept in `data_dir/added-zones.toml` so a restart
//! serves them again.
//!
//! Adding a zone makes it known everywhere a configured zone is (the
//! query path's zone table, the transfer settings, the registry that
//! NOTIFY, UPDATE, `ctl` and metrics read), loads or restores it and
//! starts its dispatcher. Removing one takes it out of those in the
//! reverse order, stops its dispatcher once its running events end, and
//! deletes what it kept under `data_dir` (never a primary's zone file).

use super::managed_zone;
use crate::config::Config;
use crate::control::{ControlError, ZoneChange};
use crate::durable::FileError;
use crate::replication::registry::Registry;
use crate::replication::{events, LoadKind, Managed, ZoneDeps};
use crate::xfr::Transfers;
use crate::zone::SharedZoneTable;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// Where the zones added at run time are kept, under `data_dir`.
pub const ADDED_ZONES_FILE: &str = "added-zones.toml";

/// One zone added at run time, as kept in [`ADDED_ZONES_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddedZone {
    pub name: String,
    pub template: String,
    /// A primary's zone file, when not the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddedFile {
    #[serde(default, rename = "zone")]
    zones: Vec<AddedZone>,
}

/// Reads the zones added at run time (none when the file is missing).
pub fn read_added(config: &Config) -> Result<Vec<AddedZone>, FileError> {
    let path = config.server.data_dir.join(ADDED_ZONES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io(&path)(e)),
    };
    let file: AddedFile = toml::from_str(&text).map_err(FileError::format(&path))?;
    Ok(file.zones)
}

fn write_added(config: &Config, zones: &[AddedZone]) -> Result<(), FileError> {
    let path = config.server.data_dir.join(ADDED_ZONES_FILE);
    let file = AddedFile {
        zones: zones.to_vec(),
    };
    let text = toml::to_string(&file).map_err(FileError::format(&path))?;
    crate::durable::write_atomic(&path, text.as_bytes()).map_err(FileError::io(&path))
}

/// Whether two zone names written by people are the same name.
fn same_name(a: &str, b: &str) -> bool {
    match (
        crate::config::parse_zone_name(a),
        crate::config::parse_zone_name(b),
    ) {
        (Ok(a), Ok(b)) => a.eq_ignore_ascii_case(&b),
        _ => false,
    }
}

/// What the start-up left running and read: each zone's dispatcher (by
/// apex), the zones added at run time before, the consumed catalogs.
pub struct AtStart {
    pub dispatchers: Vec<(Vec<u8>, JoinHandle<()>)>,
    pub added: Vec<AddedZone>,
    pub catalogs: super::catalogs::Consumed,
}

/// The served set of zones and what changes it.
pub struct ServedZones {
    pub(super) config: Arc<Config>,
    pub(super) deps: ZoneDeps,
    pub(super) registry: Arc<Registry>,
    table: Arc<SharedZoneTable>,
    transfers: Arc<Transfers>,
    /// Each zone's dispatcher, by apex key.
    dispatchers: Mutex<HashMap<Box<[u8]>, JoinHandle<()>>>,
    /// The zones added at run time (the only ones `zone-remove` takes).
    added: Mutex<Vec<AddedZone>>,
    /// The members of each consumed catalog (`super::catalogs`).
    pub(super) catalogs: Mutex<super::catalogs::Consumed>,
    /// One change of the set at a time.
    pub(super) changing: tokio::sync::Mutex<()>,
}

impl ServedZones {
    pub fn new(
        config: Arc<Config>,
        deps: ZoneDeps,
        registry: Arc<Registry>,
        table: Arc<SharedZoneTable>,
        transfers: Arc<Transfers>,
        at_start: AtStart,
    ) -> ServedZones {
        let AtStart {
            dispatchers,
            added,
            catalogs,
        } = at_start;
        let dispatchers = dispatchers
            .into_iter()
            .filter_map(|(origin, h)| Some((crate::name::key_of(&origin)?, h)))
            .collect();
        ServedZones {
            config,
            deps,
            registry,
            table,
            transfers,
            dispatchers: Mutex::new(dispatchers),
            added: Mutex::new(added),
            catalogs: Mutex::new(catalogs),
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// Adds the zone `name` made from `template` (a primary's zone file:
    /// `file`, else the template's), serves it and keeps it across
    /// restarts. A primary whose file does not load is not added.
    pub async fn add(
        &self,
        name: &str,
        template: &str,
        file: Option<PathBuf>,
    ) -> Result<ZoneChange, ControlError> {
        let _one = self.changing.lock().await;
        let zc = self
            .config
            .zone_from_template(name, template, file.clone())
            .map_err(|e| ControlError::Refused(e.to_string()))?;
        if let Some(z) = self.registry.load().find(name) {
            return Err(ControlError::Refused(format!(
                "zone {} is already served",
                z.name()
            )));
        }
        let recorded = {
            let added = self.added.lock().unwrap_or_else(|p| p.into_inner());
            added.iter().any(|a| same_name(&a.name, name))
        };
        if recorded {
            return Err(ControlError::Refused(format!(
                "zone {name} is already added but not served (see the log at start); zone-remove it first"
            )));
        }
        let zone = managed_zone(&self.config, &zc, &self.deps)
            .map_err(|e| ControlError::Refused(format!("{e:#}")))?;
        self.serve(zone.clone());
        let ready = zone.clone();
        let loaded = tokio::task::spawn_blocking(move || match &ready {
            Managed::Primary(z) => Some(z.load(false)),
            Managed::Secondary(z) => {
                z.restore();
                None
            }
        })
        .await
        .map_err(|e| ControlError::Failed(format!("the load did not finish: {e}")))?;
        if let Some(outcome) = loaded {
            if matches!(outcome.kind, LoadKind::Failed | LoadKind::Refused) {
                self.unserve(&zone).await;
                return Err(ControlError::Refused(format!(
                    "zone {name} not added: {}",
                    outcome
                        .message
                        .unwrap_or_else(|| "its zone file does not load".into())
                )));
            }
        }
        let entry = AddedZone {
            name: zc.name.clone(),
            template: template.to_owned(),
            file,
        };
        let kept = {
            let mut added = self.added.lock().unwrap_or_else(|p| p.into_inner());
            added.push(entry);
            write_added(&self.config, &added).inspect_err(|_| {
                added.pop();
            })
        };
        if let Err(e) = kept {
            self.unserve(&zone).await;
            return Err(ControlError::Failed(format!("zone {name} not added: {e}")));
        }
        self.start(&zone);
        self.membership_changed(zone.config());
        tracing::info!(zone = zone.name(), template, "zone added");
        Ok(self.change(&zone, "added"))
    }

    /// Removes a zone added at run time: no longer served, its
    /// dispatcher stopped, its journal, copy and state deleted.
    pub async fn remove(&self, name: &str) -> Result<ZoneChange, ControlError> {
        let _one = self.changing.lock().await;
        let zone = self.registry.load().find(name).cloned();
        if let Some(catalog) = zone
            .as_ref()
            .and_then(|z| self.catalog_of(z.zone().origin()))
        {
            return Err(ControlError::Refused(format!(
                "zone {name} is a member of catalog {catalog}: remove it from the catalog"
            )));
        }
        let entry = {
            let mut added = self.added.lock().unwrap_or_else(|p| p.into_inner());
            match added.iter().position(|a| same_name(&a.name, name)) {
                Some(index) => {
                    let entry = added.remove(index);
                    if let Err(e) = write_added(&self.config, &added) {
                        added.insert(index, entry);
                        return Err(ControlError::Failed(format!(
                            "zone {name} not removed: {e}"
                        )));
                    }
                    Some(entry)
                }
                None => None,
            }
        };
        match (entry, zone) {
            (None, Some(zone)) => Err(ControlError::Refused(format!(
                "zone {} is in the configuration file: remove it there and restart",
                zone.name()
            ))),
            (None, None) => Err(ControlError::UnknownZone(name.into())),
            // Recorded but not served (its template is gone).
            (Some(entry), None) => Ok(ZoneChange {
                zone: entry.name,
                action: "removed".into(),
                role: "not served".into(),
                serial: None,
            }),
            (Some(_), Some(zone)) => {
                let change = self.change(&zone, "removed");
                self.unserve(&zone).await;
                self.membership_changed(zone.config());
                tracing::info!(zone = zone.name(), "zone removed");
                Ok(ZoneChange {
                    serial: None,
                    ..change
                })
            }
        }
    }

    /// Makes `zone` known to the query path, transfers and the registry
    /// (empty until it is loaded or restored: SERVFAIL meanwhile).
    fn serve(&self, zone: Managed) {
        self.serve_all(vec![zone]);
    }

    /// [`serve`](Self::serve) for many zones at once (a catalog's new
    /// members): each shared table is replaced once.
    pub(super) fn serve_all(&self, zones: Vec<Managed>) {
        self.transfers
            .add_zones(zones.iter().map(super::xfr_zone).collect());
        let served: Vec<_> = zones.iter().map(|z| z.zone().clone()).collect();
        self.table.rcu(|t| t.changed(served.iter().cloned(), &[]));
        self.registry.add(zones);
    }

    /// Starts the zone's dispatcher, with what its load or restore
    /// planned.
    pub(super) fn start(&self, zone: &Managed) {
        let handle = match zone.clone() {
            Managed::Primary(z) => {
                z.core().plan_owed_notify();
                tokio::spawn(events::run(z))
            }
            Managed::Secondary(z) => tokio::spawn(z.run()),
        };
        if let Some(key) = crate::name::key_of(zone.zone().origin()) {
            let mut all = self.dispatchers.lock().unwrap_or_else(|p| p.into_inner());
            all.insert(key, handle);
        }
    }

    /// Takes `zone` out of everything [`serve`](Self::serve) put it in,
    /// waits for its dispatcher to stop, and deletes its files.
    async fn unserve(&self, zone: &Managed) {
        self.unserve_keeping(zone, false).await
    }

    /// [`unserve`](Self::unserve); with `keep_files` the zone's data stays
    /// (it is served again at once with other settings).
    pub(super) async fn unserve_keeping(&self, zone: &Managed, keep_files: bool) {
        self.unserve_all(vec![(zone.clone(), keep_files)]).await
    }

    /// [`unserve_keeping`](Self::unserve_keeping) for many zones at once
    /// (a catalog dropping thousands of members): each shared table is
    /// replaced once, the files are deleted on a blocking thread.
    pub(super) async fn unserve_all(&self, zones: Vec<(Managed, bool)>) {
        if zones.is_empty() {
            return;
        }
        let origins: Vec<Vec<u8>> = zones
            .iter()
            .map(|(z, _)| z.zone().origin().to_vec())
            .collect();
        self.registry.remove(&origins);
        self.table.rcu(|t| t.changed([], &origins));
        self.transfers.remove_zones(&origins);
        for (zone, _) in &zones {
            zone.core().events.retire();
        }
        let handles: Vec<JoinHandle<()>> = {
            let mut all = self.dispatchers.lock().unwrap_or_else(|p| p.into_inner());
            origins
                .iter()
                .filter_map(|o| all.remove(&crate::name::key_of(o)?))
                .collect()
        };
        for handle in handles {
            let _ = handle.await;
        }
        let mut doomed = Vec::new();
        for (zone, keep_files) in &zones {
            zone.zone().withdraw();
            if !keep_files {
                let files = crate::replication::zone_files(&self.config.server, zone.name());
                doomed.extend(files.into_iter().map(|p| (zone.name().to_owned(), p)));
            }
        }
        let _ = tokio::task::spawn_blocking(move || {
            for (zone, path) in doomed {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(zone, "cannot remove {}: {e}", path.display()),
                }
            }
        })
        .await;
    }

    fn change(&self, zone: &Managed, action: &str) -> ZoneChange {
        ZoneChange {
            zone: zone.name().to_owned(),
            action: action.to_owned(),
            role: match zone {
                Managed::Primary(_) => "primary",
                Managed::Secondary(_) => "secondary",
            }
            .to_owned(),
            serial: zone.zone().snapshot().map(|v| v.serial()),
        }
    }
}
