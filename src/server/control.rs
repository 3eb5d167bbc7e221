//! The control interface's view of the running server: `ctl` requests
//! (status, reload, refresh, retransfer, notify, CSYNC) mapped onto the
//! configured zones.

use super::metrics::server_metrics;
use crate::config;
use crate::control::{
    ChildReport, ControlError, ControlHandler, DynamicInfo, JournalStatus, NotifyQueued,
    PendingReport, PrimaryInfo, RefreshQueued, ReloadOutcome, SecondaryInfo, ServerStatus, TxnCall,
    TxnReport, ZoneChange, ZoneReload, ZoneStatus,
};
use crate::csync::agent::Mode as CsyncMode;
use crate::csync::agent::ParentAgent;
use crate::query::QueryStats;
use crate::replication::registry::Registry;
use crate::replication::secondary::{self, SecondaryZone};
use crate::replication::{LoadKind, Managed};
use crate::xfr::Transfers;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The control interface's view of the running server.
pub(super) struct ServerControl {
    pub(super) zones: Arc<Registry>,
    pub(super) served: Arc<super::zoneset::ServedZones>,
    pub(super) transfers: Arc<Transfers>,
    pub(super) stats: Arc<QueryStats>,
    pub(super) started: Instant,
}

fn unix(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

impl ServerControl {
    fn find(&self, name: &str) -> Result<Managed, ControlError> {
        self.zones
            .load()
            .find(name)
            .cloned()
            .ok_or_else(|| ControlError::UnknownZone(name.into()))
    }

    fn secondary(&self, name: &str) -> Result<Arc<SecondaryZone>, ControlError> {
        match self.find(name)? {
            Managed::Secondary(z) => Ok(z),
            Managed::Primary(_) => Err(ControlError::Refused(format!(
                "zone {name} is a primary: it has no primaries to refresh from"
            ))),
        }
    }

    /// `members`: the consumed catalog of each member zone (wire).
    fn zone_status(
        &self,
        z: &Managed,
        members: &std::collections::HashMap<Vec<u8>, String>,
    ) -> ZoneStatus {
        let version = z.zone().snapshot();
        let journal = z.journal_reader().map(|j| j.load()).map(|j| JournalStatus {
            first_serial: j.first_serial(),
            last_serial: j.last_serial(),
            changesets: j.len(),
            bytes: j.size_bytes(),
        });
        let transfers_out = self.transfers.counters(z.zone().origin()).map_or(0, |c| {
            [&c.axfr, &c.ixfr_incremental, &c.ixfr_full, &c.ixfr_current]
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .sum()
        });
        let dynamic = match z {
            Managed::Primary(p) => {
                let info = DynamicInfo {
                    file_serial: p.unflushed_since(),
                    transaction_since: p.transaction_since(),
                };
                (info.file_serial.is_some() || info.transaction_since.is_some()).then_some(info)
            }
            Managed::Secondary(_) => None,
        };
        let (role, loaded_at, last_error, secondary) = match z {
            Managed::Primary(p) => {
                let st = p.status();
                ("primary", st.loaded_at, st.last_error, None)
            }
            Managed::Secondary(sz) => {
                let st = sz.status();
                let info = SecondaryInfo {
                    primaries: st
                        .primaries
                        .iter()
                        .map(|p| PrimaryInfo {
                            address: p.addr.map(|a| a.to_string()).unwrap_or_default(),
                            tls: p.tls,
                            serial: p.serial,
                            last_contact_unix: unix(p.last_contact),
                            last_error: p.last_error.clone(),
                        })
                        .collect(),
                    last_refresh_unix: unix(st.last_refresh),
                    last_result: st.last_result.clone(),
                    next_refresh_unix: unix(st.next_refresh),
                    expires_at_unix: unix(st.expires_at),
                    expired: st.expired,
                };
                ("secondary", st.loaded_at, st.last_error, Some(info))
            }
        };
        ZoneStatus {
            name: z.name().to_owned(),
            role: role.into(),
            serial: version.as_ref().map(|v| v.serial()),
            records: version.as_ref().map(|v| v.record_count()),
            loaded_at_unix: unix(loaded_at),
            last_error,
            journal,
            notify_targets: z
                .config()
                .notify
                .iter()
                .map(|t| t.addr().to_string())
                .collect(),
            transfers_out,
            secondary,
            dynamic,
            catalog: members
                .get(z.zone().origin())
                .cloned()
                .or_else(|| z.config().catalog_zone.clone()),
        }
    }
}

fn reload_report(z: &Managed, force: bool) -> ZoneReload {
    let Managed::Primary(p) = z else {
        let serial = z.zone().snapshot().map(|v| v.serial());
        return ZoneReload {
            zone: z.name().to_owned(),
            outcome: ReloadOutcome::Refused,
            old_serial: serial,
            serial,
            message: Some(
                "a secondary zone has no file: use `ctl refresh` or `ctl retransfer`".into(),
            ),
        };
    };
    let o = p.load_and_wait(force);
    ZoneReload {
        zone: z.name().to_owned(),
        outcome: match o.kind {
            LoadKind::Loaded => ReloadOutcome::Loaded,
            LoadKind::Unchanged => ReloadOutcome::Unchanged,
            LoadKind::Refused => ReloadOutcome::Refused,
            LoadKind::Failed => ReloadOutcome::Failed,
        },
        old_serial: o.old_serial,
        serial: o.serial,
        message: o.message,
    }
}

impl ServerControl {
    /// The agents a CSYNC request is for: of `zone` when given, else the
    /// one following `child` (the closest parent), else all.
    fn csync_agents(
        &self,
        zone: Option<&str>,
        child: Option<&[u8]>,
    ) -> Result<Vec<Arc<ParentAgent>>, ControlError> {
        if let Some(zone) = zone {
            let origin = config::parse_zone_name(zone)
                .map_err(|e| ControlError::UnknownZone(format!("{zone}: {e}")))?;
            return match self.zones.load().agent(&origin) {
                Some(a) => Ok(vec![a.clone()]),
                None if self.find(zone).is_ok() => Err(ControlError::Refused(format!(
                    "zone {zone} has no [zone.csync]"
                ))),
                None => Err(ControlError::UnknownZone(zone.into())),
            };
        }
        let Some(child) = child else {
            return Ok(self.zones.load().agents().to_vec());
        };
        self.zones
            .load()
            .agents()
            .iter()
            .filter(|a| a.follows(child))
            .max_by_key(|a| a.origin().len())
            .map(|a| vec![a.clone()])
            .ok_or_else(|| {
                ControlError::Refused(format!(
                    "no CSYNC agent follows {}",
                    crate::name::display(child)
                ))
            })
    }
}

fn child_name(child: Option<&str>) -> Result<Option<Vec<u8>>, ControlError> {
    child
        .map(|c| {
            config::parse_zone_name(c)
                .map_err(|e| ControlError::Refused(format!("child {c:?}: {e}")))
        })
        .transpose()
}

impl ControlHandler for ServerControl {
    fn csync_scan<'a>(
        &'a self,
        zone: Option<&'a str>,
        child: Option<&'a str>,
        dry_run: bool,
    ) -> crate::control::Pending<'a, Vec<ChildReport>> {
        Box::pin(async move {
            let child = child_name(child)?;
            let agents = self.csync_agents(zone, child.as_deref())?;
            let mode = if dry_run {
                CsyncMode::DryRun
            } else {
                CsyncMode::Apply
            };
            let mut reports = Vec::new();
            for agent in agents {
                let mut r = agent
                    .scan(child.as_deref(), mode)
                    .await
                    .map_err(|e| ControlError::Refused(e.to_string()))?;
                reports.append(&mut r);
            }
            Ok(reports)
        })
    }

    fn csync_pending(&self) -> Vec<PendingReport> {
        self.zones
            .load()
            .agents()
            .iter()
            .flat_map(|a| a.pending())
            .collect()
    }

    fn csync_approve<'a>(&'a self, child: &'a str) -> crate::control::Pending<'a, ChildReport> {
        Box::pin(async move {
            let wire = child_name(Some(child))?.unwrap_or_default();
            let agents = self.csync_agents(None, Some(&wire))?;
            let agent = agents
                .first()
                .ok_or_else(|| ControlError::Refused(format!("no CSYNC agent follows {child}")))?;
            agent
                .approve(&wire)
                .await
                .map_err(|e| ControlError::Refused(e.to_string()))
        })
    }

    fn metrics(&self) -> String {
        server_metrics(&self.zones.load(), &self.transfers, &self.stats)
    }

    fn status(&self) -> ServerStatus {
        ServerStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: self.started.elapsed().as_secs(),
            zones: {
                let members = self.served.member_catalogs();
                self.zones
                    .load()
                    .iter()
                    .map(|z| self.zone_status(z, &members))
                    .collect()
            },
        }
    }

    /// One zone: always loaded (`force` also accepts a serial that went
    /// backwards). All zones: the primaries whose files changed, or all
    /// primaries with `force`, like SIGHUP.
    fn reload(&self, zone: Option<&str>, force: bool) -> Result<Vec<ZoneReload>, ControlError> {
        match zone {
            Some(name) => Ok(vec![reload_report(&self.find(name)?, force)]),
            None => Ok(self
                .zones
                .load()
                .iter()
                .filter_map(|z| match z {
                    Managed::Primary(p) if force || p.needs_reload() => {
                        Some(reload_report(z, force))
                    }
                    Managed::Primary(p) => {
                        let serial = p.zone().snapshot().map(|v| v.serial());
                        Some(ZoneReload {
                            zone: z.name().to_owned(),
                            outcome: ReloadOutcome::Unchanged,
                            old_serial: serial,
                            serial,
                            message: Some("files unchanged".into()),
                        })
                    }
                    Managed::Secondary(_) => None,
                })
                .collect()),
        }
    }

    fn notify(&self, zone: &str) -> Result<NotifyQueued, ControlError> {
        let z = self.find(zone)?;
        if !z.core().announce() {
            return Err(ControlError::Refused(format!(
                "zone {zone} has no NOTIFY targets (set notify or notify_ns)"
            )));
        }
        Ok(NotifyQueued {
            zone: z.name().to_owned(),
            targets: z.config().notify.len(),
        })
    }

    fn txn(&self, zone: &str, call: &TxnCall) -> Result<TxnReport, ControlError> {
        use crate::replication::dynamic::TxnProblem;
        let z = match self.find(zone)? {
            Managed::Primary(z) => z,
            Managed::Secondary(_) => {
                return Err(ControlError::Refused(format!(
                    "zone {zone} is a secondary: change it on its primary"
                )))
            }
        };
        let problem = |p: TxnProblem| match p {
            TxnProblem::Failed(_) => ControlError::Failed(p.to_string()),
            _ => ControlError::Refused(p.to_string()),
        };
        let mut report = TxnReport {
            zone: z.name().to_owned(),
            op: call.op().to_owned(),
            serial: None,
            from_serial: None,
            lines: Vec::new(),
        };
        match call {
            TxnCall::Begin => report.serial = Some(z.txn_begin().map_err(problem)?),
            TxnCall::Set {
                owner,
                ttl,
                rtype,
                rdata,
            } => z.txn_set(owner, *ttl, rtype, rdata).map_err(problem)?,
            TxnCall::Unset {
                owner,
                rtype,
                rdata,
            } => z
                .txn_unset(owner, rtype.as_deref(), rdata.as_deref())
                .map_err(problem)?,
            TxnCall::Diff => report.lines = z.txn_diff().map_err(problem)?,
            TxnCall::Get { owner, rtype } => {
                report.lines = z
                    .txn_get(owner.as_deref(), rtype.as_deref())
                    .map_err(problem)?
            }
            TxnCall::Commit => {
                let done = z.txn_commit().map_err(problem)?;
                report.from_serial = done.serials.map(|s| s.0);
                report.serial = done.serials.map(|s| s.1);
                report.lines = done.diff;
            }
            TxnCall::Abort => z.txn_abort().map_err(problem)?,
        }
        Ok(report)
    }

    fn zone_add<'a>(
        &'a self,
        zone: &'a str,
        template: &'a str,
        file: Option<&'a str>,
    ) -> crate::control::Pending<'a, ZoneChange> {
        Box::pin(
            self.served
                .add(zone, template, file.map(std::path::PathBuf::from)),
        )
    }

    fn zone_remove<'a>(&'a self, zone: &'a str) -> crate::control::Pending<'a, ZoneChange> {
        Box::pin(self.served.remove(zone))
    }

    fn peers(
        &self,
        zone: &str,
        with: &[std::net::IpAddr],
    ) -> Result<crate::control::PeerReport, ControlError> {
        Ok(self.find(zone)?.core().peer_report(with))
    }

    fn refresh(&self, zone: &str, retransfer: bool) -> Result<RefreshQueued, ControlError> {
        let z = self.secondary(zone)?;
        let event = if retransfer {
            secondary::Request::Retransfer
        } else {
            secondary::Request::Refresh
        };
        z.trigger(event);
        Ok(RefreshQueued {
            zone: z.name().to_owned(),
            retransfer,
        })
    }
}
