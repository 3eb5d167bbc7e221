//! What the parental agent keeps on disk per parent zone: per child, the
//! last CSYNC serial processed (so nothing is applied twice, across
//! restarts too), an operator's approval, a change waiting for one, and
//! the back-off; and the audit log of every decision.
//!
//! `data_dir/state/<zone>.csync.toml` is replaced atomically;
//! `data_dir/state/<zone>.csync-audit.log` is appended one JSON object per
//! line and synced, so the record of a change is on disk before the
//! change is reported done.

use crate::durable::{self, FileError};
use crate::serial::Serial;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state of one parent zone's children, keyed by the child's name
/// (lower case, with the final dot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentState {
    #[serde(default)]
    pub children: BTreeMap<String, ChildState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildState {
    /// The last CSYNC serial acted on (applied or found in sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_serial: Option<Serial>,
    /// The CSYNC serial an operator approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_serial: Option<Serial>,
    /// A change waiting for approval (`immediate` clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Scans in a row that could decide nothing (for the back-off).
    #[serde(default)]
    pub failures: u32,
    /// Unix seconds; 0 = at once.
    #[serde(default)]
    pub next_scan: u64,
    /// The last decision and why, for `csync pending` and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reason: Option<String>,
    #[serde(default)]
    pub last_scan: u64,
}

/// A change that waits for `zonesync csync approve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub serial: Serial,
    /// `- record` / `+ record` lines.
    pub changes: Vec<String>,
    /// Unix seconds when it was first seen.
    pub since: u64,
}

impl ParentState {
    /// Reads the state; a missing file is an empty state.
    pub fn read(path: &Path) -> Result<ParentState, FileError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(FileError::format(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ParentState::default()),
            Err(e) => Err(FileError::io(path)(e)),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let text = toml::to_string(self).map_err(FileError::format(path))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(FileError::io(dir))?;
        }
        durable::write_atomic(path, text.as_bytes()).map_err(FileError::io(path))
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub time: u64,
    pub parent: String,
    pub child: String,
    /// `applied`, `waiting`, `approved`, `rejected`, `retry`, `in-sync`,
    /// `failed` (the change could not be made), `insecure`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csync_serial: Option<Serial>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// The parent's serial after an applied change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_serial: Option<Serial>,
}

/// The append-only audit log of one parent zone.
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> AuditLog {
        AuditLog { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` and syncs it to disk.
    pub fn append(&self, entry: &AuditEntry) -> Result<(), FileError> {
        let mut line = serde_json::to_string(entry).map_err(FileError::format(&self.path))?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(FileError::io(&self.path))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(FileError::io(&self.path))
    }

    /// Every entry, oldest first; unreadable lines are skipped.
    pub fn read(&self) -> Vec<AuditEntry> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_audit_round_trip() {
        let dir = std::env::temp_dir().join(format!("zonesync-csync-state-{}", std::process::id()));
        let path = dir.join("example.csync.toml");
        assert_eq!(ParentState::read(&path).unwrap(), ParentState::default());
        let mut s = ParentState::default();
        s.children.insert(
            "child.example.".into(),
            ChildState {
                last_serial: Some(Serial(7)),
                pending: Some(Pending {
                    serial: Serial(8),
                    changes: vec!["+ child.example. 3600 IN NS ns2.child.example.".into()],
                    since: 1,
                }),
                failures: 2,
                next_scan: 99,
                ..ChildState::default()
            },
        );
        s.write(&path).unwrap();
        assert_eq!(ParentState::read(&path).unwrap(), s);
        let log = AuditLog::new(dir.join("example.csync-audit.log"));
        let e = AuditEntry {
            time: 1,
            parent: "example.".into(),
            child: "child.example.".into(),
            outcome: "applied".into(),
            csync_serial: Some(Serial(8)),
            reason: "r".into(),
            changes: vec!["+ x".into()],
            parent_serial: Some(Serial(3)),
        };
        log.append(&e).unwrap();
        log.append(&e).unwrap();
        assert_eq!(log.read(), vec![e.clone(), e]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
