//! The monitor's history: samples, events and propagations in an embedded
//! [redb](https://docs.rs/redb) database, so a restart keeps the history
//! and resumes each server's state.
//!
//! Layout (every key is a tuple, so the common queries are range scans):
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `samples` | (zone, time_ms, server) | [`SampleValue`] JSON |
//! | `latest` | (zone, server) | time_ms of that server's newest sample |
//! | `events` | (time_ms, seq) | [`Event`] JSON |
//! | `events_by_zone` | (zone, time_ms, seq) | () |
//! | `propagations` | (zone, serial) | [`Propagation`] JSON |
//! | `propagations_by_start` | (zone, started_ms, serial) | () |
//! | `meta` | name | u64 (`schema`, `next_event_seq`) |
//!
//! Values are serde_json bytes: simple to inspect, and robust across
//! versions (a field added later is an `Option` that old records simply
//! lack; unknown fields are ignored), which a fixed binary layout is not.
//!
//! Every call is one redb transaction and blocks (a write commits with an
//! fsync: redb's default durability, kept on purpose so a crash loses no
//! committed history). Async callers should use `spawn_blocking`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::serial::Serial;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

/// One observation of one server address of one zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The zone, e.g. `example.com.`.
    pub zone: String,
    /// The server address, e.g. `ns1.example.com.@127.0.0.1:53`.
    pub server: String,
    /// Unix time in milliseconds.
    pub time_ms: u64,
    pub serial: Option<Serial>,
    /// `ok`, `behind`, `ahead`, `lame`, `unreachable`, …
    pub status: String,
    pub rtt_ms: Option<f64>,
    pub expire_left: Option<u32>,
    pub detail: Option<String>,
}

/// A state change worth showing in the history (and alerting on).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub zone: String,
    pub time_ms: u64,
    /// `mismatch-began`, `mismatch-ended`, `lame`, `unreachable`, `diagnosis`,
    /// `expiring`, `recovered`, `change-seen`, `change-complete`.
    pub kind: String,
    pub server: Option<String>,
    pub detail: String,
}

/// One serial's propagation: when it started (the primary published it, or
/// the first server was seen with it), and when each server was first seen
/// serving it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Propagation {
    pub zone: String,
    pub serial: Serial,
    pub started_ms: u64,
    /// `published` or `first-seen`.
    pub origin: String,
    /// Server → unix ms when it was first seen serving `serial`.
    pub caught_up: BTreeMap<String, u64>,
    pub complete_ms: Option<u64>,
}

/// What a sample stores besides its key. Short field names because samples
/// are the bulk of the file (a check per server per interval, kept for the
/// whole retention); `None`s are left out for the same reason.
#[derive(Serialize, Deserialize)]
struct SampleValue {
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    serial: Option<u32>,
    #[serde(rename = "s")]
    status: String,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<f64>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    expire_left: Option<u32>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

const SAMPLES: TableDefinition<(&str, u64, &str), &[u8]> = TableDefinition::new("samples");
const LATEST: TableDefinition<(&str, &str), u64> = TableDefinition::new("latest");
const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");
const EVENTS_BY_ZONE: TableDefinition<(&str, u64, u64), ()> =
    TableDefinition::new("events_by_zone");
const PROPAGATIONS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("propagations");
const PROPAGATIONS_BY_START: TableDefinition<(&str, u64, u32), ()> =
    TableDefinition::new("propagations_by_start");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The layout above. Bumped on an incompatible change, so an older zonesync
/// refuses a newer file instead of misreading it.
const SCHEMA: u64 = 1;
const META_SCHEMA: &str = "schema";
/// Events are keyed by time and a sequence number, so two events in the same
/// millisecond both survive and keep their order.
const META_NEXT_EVENT_SEQ: &str = "next_event_seq";

/// redb's default read cache is 1 GiB; the monitor reads little (the
/// dashboard's recent windows), so a smaller bound keeps its memory modest.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A history database that cannot be opened, read or written. Every variant
/// names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the monitor database {}: {source}{hint}", path.display())]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
        /// What to do about it, when redb's own words are terse.
        hint: &'static str,
    },
    #[error("monitor database {}: {source}", path.display())]
    // Boxed: redb's errors are large, and these travel on every `Result`.
    Db {
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error("monitor database {}: unreadable {what} record: {source}", path.display())]
    Decode {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("monitor database {}: cannot encode {what}: {source}", path.display())]
    Encode {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error(
        "monitor database {}: schema version {found} was written by a newer zonesync \
         (this one knows version {SCHEMA})",
        path.display()
    )]
    Schema { path: PathBuf, found: u64 },
}

/// The history database. `Send + Sync`: share it in an `Arc`; redb runs
/// reads concurrently and serialises writes.
pub struct Store {
    db: redb::Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the database at `path`, creating the file and its tables if
    /// needed. A file that is not a redb database (or is damaged beyond
    /// redb's repair, or is held open by another process) is an error that
    /// names it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            // redb 3 reads only the v3 format; creating new files in it
            // means a later move to redb 3 needs no upgrade step.
            .create_with_file_format_v3(true)
            .create(path)
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                hint: open_hint(&source),
                source: Box::new(source),
            })?;
        let store = Store {
            db,
            path: path.to_path_buf(),
        };
        store.init()?;
        Ok(store)
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables (so reads never meet a missing table) and checks
    /// or records the schema version.
    fn init(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
            let found = meta
                .get(META_SCHEMA)
                .map_err(|e| self.db_err(e))?
                .map(|v| v.value());
            match found {
                Some(found) if found > SCHEMA => {
                    return Err(StoreError::Schema {
                        path: self.path.clone(),
                        found,
                    })
                }
                Some(_) => {}
                None => {
                    meta.insert(META_SCHEMA, SCHEMA)
                        .map_err(|e| self.db_err(e))?;
                }
            }
            txn.open_table(SAMPLES).map_err(|e| self.db_err(e))?;
            txn.open_table(LATEST).map_err(|e| self.db_err(e))?;
            txn.open_table(EVENTS).map_err(|e| self.db_err(e))?;
            txn.open_table(EVENTS_BY_ZONE).map_err(|e| self.db_err(e))?;
            txn.open_table(PROPAGATIONS).map_err(|e| self.db_err(e))?;
            txn.open_table(PROPAGATIONS_BY_START)
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// Stores `samples` in one write transaction (one fsync for a whole
    /// check round).
    pub fn add_samples(&self, samples: &[Sample]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut table = txn.open_table(SAMPLES).map_err(|e| self.db_err(e))?;
            let mut latest = txn.open_table(LATEST).map_err(|e| self.db_err(e))?;
            for s in samples {
                let value = SampleValue {
                    serial: s.serial.map(Serial::get),
                    status: s.status.clone(),
                    rtt_ms: s.rtt_ms,
                    expire_left: s.expire_left,
                    detail: s.detail.clone(),
                };
                let bytes = self.encode("sample", &value)?;
                table
                    .insert(
                        (s.zone.as_str(), s.time_ms, s.server.as_str()),
                        bytes.as_slice(),
                    )
                    .map_err(|e| self.db_err(e))?;
                let key = (s.zone.as_str(), s.server.as_str());
                let newer = match latest.get(key).map_err(|e| self.db_err(e))? {
                    Some(t) => t.value() <= s.time_ms,
                    None => true,
                };
                if newer {
                    latest.insert(key, s.time_ms).map_err(|e| self.db_err(e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// The samples of `zone` with `since_ms <= time_ms <= until_ms`, all
    /// servers, in time order (servers in name order within a millisecond).
    pub fn samples(
        &self,
        zone: &str,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<Sample>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let table = txn.open_table(SAMPLES).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for item in table
            .range((zone, since_ms, "")..)
            .map_err(|e| self.db_err(e))?
        {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let (z, time_ms, server) = k.value();
            if z != zone || time_ms > until_ms {
                break;
            }
            out.push(self.sample(z, time_ms, server, v.value())?);
        }
        Ok(out)
    }

    /// The newest sample of each server of `zone` (in server order), for a
    /// restart to resume each server's state. A server that left the zone
    /// stays here until its samples are pruned.
    pub fn last_samples(&self, zone: &str) -> Result<Vec<Sample>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let latest = txn.open_table(LATEST).map_err(|e| self.db_err(e))?;
        let table = txn.open_table(SAMPLES).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for item in latest.range((zone, "")..).map_err(|e| self.db_err(e))? {
            let (k, t) = item.map_err(|e| self.db_err(e))?;
            let (z, server) = k.value();
            if z != zone {
                break;
            }
            let time_ms = t.value();
            // Both tables change in the same transactions, so the sample is
            // there; a missing one is skipped rather than failing the rest.
            if let Some(v) = table
                .get((zone, time_ms, server))
                .map_err(|e| self.db_err(e))?
            {
                out.push(self.sample(zone, time_ms, server, v.value())?);
            }
        }
        Ok(out)
    }

    /// Appends an event. Events of the same millisecond keep the order they
    /// were added in.
    pub fn add_event(&self, e: &Event) -> Result<(), StoreError> {
        let bytes = self.encode("event", e)?;
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
            let seq = meta
                .get(META_NEXT_EVENT_SEQ)
                .map_err(|e| self.db_err(e))?
                .map_or(0, |v| v.value());
            meta.insert(META_NEXT_EVENT_SEQ, seq.wrapping_add(1))
                .map_err(|e| self.db_err(e))?;
            let mut events = txn.open_table(EVENTS).map_err(|e| self.db_err(e))?;
            events
                .insert((e.time_ms, seq), bytes.as_slice())
                .map_err(|e| self.db_err(e))?;
            let mut by_zone = txn.open_table(EVENTS_BY_ZONE).map_err(|e| self.db_err(e))?;
            by_zone
                .insert((e.zone.as_str(), e.time_ms, seq), ())
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// At most `limit` events, newest first: of `zone`, or of all zones.
    pub fn events(&self, zone: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let events = txn.open_table(EVENTS).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        match zone {
            None => {
                for item in events.iter().map_err(|e| self.db_err(e))?.rev() {
                    let (_, v) = item.map_err(|e| self.db_err(e))?;
                    out.push(self.decode("event", v.value())?);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Some(zone) => {
                let by_zone = txn.open_table(EVENTS_BY_ZONE).map_err(|e| self.db_err(e))?;
                let range = by_zone
                    .range((zone, 0, 0)..=(zone, u64::MAX, u64::MAX))
                    .map_err(|e| self.db_err(e))?;
                for item in range.rev() {
                    let (k, _) = item.map_err(|e| self.db_err(e))?;
                    let (_, time_ms, seq) = k.value();
                    if let Some(v) = events.get((time_ms, seq)).map_err(|e| self.db_err(e))? {
                        out.push(self.decode("event", v.value())?);
                        if out.len() >= limit {
                            break;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Inserts or replaces the propagation of (`p.zone`, `p.serial`).
    pub fn put_propagation(&self, p: &Propagation) -> Result<(), StoreError> {
        let bytes = self.encode("propagation", p)?;
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut table = txn.open_table(PROPAGATIONS).map_err(|e| self.db_err(e))?;
            let mut by_start = txn
                .open_table(PROPAGATIONS_BY_START)
                .map_err(|e| self.db_err(e))?;
            let old = table
                .insert((p.zone.as_str(), p.serial.get()), bytes.as_slice())
                .map_err(|e| self.db_err(e))?
                // An unreadable old record only costs a stale index entry,
                // which listing skips and pruning removes.
                .and_then(|v| serde_json::from_slice::<Propagation>(v.value()).ok());
            if let Some(old) = old {
                if old.started_ms != p.started_ms {
                    by_start
                        .remove((p.zone.as_str(), old.started_ms, p.serial.get()))
                        .map_err(|e| self.db_err(e))?;
                }
            }
            by_start
                .insert((p.zone.as_str(), p.started_ms, p.serial.get()), ())
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// At most `limit` propagations of `zone`, newest `started_ms` first.
    pub fn propagations(&self, zone: &str, limit: usize) -> Result<Vec<Propagation>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let table = txn.open_table(PROPAGATIONS).map_err(|e| self.db_err(e))?;
        let by_start = txn
            .open_table(PROPAGATIONS_BY_START)
            .map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let range = by_start
            .range((zone, 0, 0)..=(zone, u64::MAX, u32::MAX))
            .map_err(|e| self.db_err(e))?;
        for item in range.rev() {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            let (_, started_ms, serial) = k.value();
            let Some(v) = table.get((zone, serial)).map_err(|e| self.db_err(e))? else {
                continue;
            };
            let p: Propagation = self.decode("propagation", v.value())?;
            // An index entry left behind by a replaced record is not news.
            if p.started_ms == started_ms {
                out.push(p);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Deletes the samples and events with `time_ms < older_than_ms` and the
    /// propagations with `started_ms < older_than_ms`, in one transaction.
    /// Returns how many of those records were removed (index entries are not
    /// counted).
    pub fn prune(&self, older_than_ms: u64) -> Result<usize, StoreError> {
        let cut = older_than_ms;
        let mut removed = 0usize;
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            // Samples: every zone with samples has `latest` entries (both
            // change together), so the zones come from that small table and
            // each zone's old samples are one range at its start.
            let mut latest = txn.open_table(LATEST).map_err(|e| self.db_err(e))?;
            let mut zones = BTreeSet::new();
            for item in latest.iter().map_err(|e| self.db_err(e))? {
                let (k, _) = item.map_err(|e| self.db_err(e))?;
                zones.insert(k.value().0.to_owned());
            }
            let mut samples = txn.open_table(SAMPLES).map_err(|e| self.db_err(e))?;
            for zone in &zones {
                let gone = samples
                    .extract_from_if((zone.as_str(), 0, "")..(zone.as_str(), cut, ""), |_, _| {
                        true
                    })
                    .map_err(|e| self.db_err(e))?;
                for item in gone {
                    item.map_err(|e| self.db_err(e))?;
                    removed += 1;
                }
            }
            latest
                .retain(|_, time_ms| time_ms >= cut)
                .map_err(|e| self.db_err(e))?;

            let mut events = txn.open_table(EVENTS).map_err(|e| self.db_err(e))?;
            let gone = events
                .extract_from_if((0, 0)..(cut, 0), |_, _| true)
                .map_err(|e| self.db_err(e))?;
            for item in gone {
                item.map_err(|e| self.db_err(e))?;
                removed += 1;
            }
            // Events are few (state changes only), so a scan of the index is
            // cheap and cannot leave an entry behind.
            let mut by_zone = txn.open_table(EVENTS_BY_ZONE).map_err(|e| self.db_err(e))?;
            by_zone
                .retain(|(_, time_ms, _), _| time_ms >= cut)
                .map_err(|e| self.db_err(e))?;

            // Propagations: one per serial change, so a scan is cheap too.
            let mut by_start = txn
                .open_table(PROPAGATIONS_BY_START)
                .map_err(|e| self.db_err(e))?;
            let mut old = Vec::new();
            for item in by_start.iter().map_err(|e| self.db_err(e))? {
                let (k, _) = item.map_err(|e| self.db_err(e))?;
                let (zone, started_ms, serial) = k.value();
                if started_ms < cut {
                    old.push((zone.to_owned(), started_ms, serial));
                }
            }
            let mut table = txn.open_table(PROPAGATIONS).map_err(|e| self.db_err(e))?;
            for (zone, started_ms, serial) in &old {
                by_start
                    .remove((zone.as_str(), *started_ms, *serial))
                    .map_err(|e| self.db_err(e))?;
                let record = table
                    .get((zone.as_str(), *serial))
                    .map_err(|e| self.db_err(e))?
                    .map(|v| serde_json::from_slice::<Propagation>(v.value()).ok());
                // Remove the record only if this index entry is its current
                // one (or it is unreadable): a stale entry must not take a
                // re-started propagation with it.
                let current = match record {
                    Some(Some(p)) => p.started_ms == *started_ms,
                    Some(None) => true,
                    None => false,
                };
                if current {
                    table
                        .remove((zone.as_str(), *serial))
                        .map_err(|e| self.db_err(e))?;
                    removed += 1;
                }
            }
        }
        txn.commit().map_err(|e| self.db_err(e))?;
        Ok(removed)
    }

    /// How many samples are stored (for tests and the dashboard's footer).
    pub fn sample_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let table = txn.open_table(SAMPLES).map_err(|e| self.db_err(e))?;
        table.len().map_err(|e| self.db_err(e))
    }

    fn sample(
        &self,
        zone: &str,
        time_ms: u64,
        server: &str,
        bytes: &[u8],
    ) -> Result<Sample, StoreError> {
        let v: SampleValue = self.decode("sample", bytes)?;
        Ok(Sample {
            zone: zone.to_owned(),
            server: server.to_owned(),
            time_ms,
            serial: v.serial.map(Serial),
            status: v.status,
            rtt_ms: v.rtt_ms,
            expire_left: v.expire_left,
            detail: v.detail,
        })
    }

    fn encode<T: Serialize>(&self, what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            path: self.path.clone(),
            what,
            source,
        })
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        what: &'static str,
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            what,
            source,
        })
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }
}

/// A hint for the open errors whose text alone leaves the reader guessing.
fn open_hint(e: &redb::DatabaseError) -> &'static str {
    use redb::{DatabaseError, StorageError};
    match e {
        DatabaseError::Storage(StorageError::Corrupted(_)) => {
            " (not a monitor database, or damaged: move it aside to start a new history)"
        }
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            " (not a monitor database, or damaged: move it aside to start a new history)"
        }
        DatabaseError::DatabaseAlreadyOpen => " (is another zonesync monitor using it?)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "zonesync-store-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn file(&self) -> PathBuf {
            self.0.join("monitor.redb")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sample(zone: &str, server: &str, time_ms: u64, serial: Option<u32>) -> Sample {
        Sample {
            zone: zone.into(),
            server: server.into(),
            time_ms,
            serial: serial.map(Serial),
            status: if serial.is_some() {
                "ok"
            } else {
                "unreachable"
            }
            .into(),
            rtt_ms: serial.map(|_| 1.25),
            expire_left: serial.map(|_| 604_800),
            detail: serial.is_none().then(|| "timed out".to_owned()),
        }
    }

    fn event(zone: &str, time_ms: u64, kind: &str) -> Event {
        Event {
            zone: zone.into(),
            time_ms,
            kind: kind.into(),
            server: Some("ns2.example.com.@192.0.2.2:53".into()),
            detail: format!("{kind} at {time_ms}"),
        }
    }

    fn propagation(zone: &str, serial: u32, started_ms: u64) -> Propagation {
        Propagation {
            zone: zone.into(),
            serial: Serial(serial),
            started_ms,
            origin: "published".into(),
            caught_up: BTreeMap::from([("ns1.example.com.@192.0.2.1:53".to_owned(), started_ms)]),
            complete_ms: None,
        }
    }

    const NS1: &str = "ns1.example.com.@192.0.2.1:53";
    const NS2: &str = "ns2.example.com.@192.0.2.2:53";

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Store>();
        check::<Arc<Store>>();
    }

    #[test]
    fn samples_round_trip_and_range() {
        let dir = TempDir::new("samples");
        let store = Store::open(&dir.file()).unwrap();
        let batch = vec![
            sample("example.com.", NS2, 2000, Some(7)),
            sample("example.com.", NS1, 1000, Some(7)),
            sample("example.com.", NS2, 1000, None),
            sample("example.net.", NS1, 1500, Some(1)),
            sample("example.com.", NS1, 3000, Some(8)),
        ];
        store.add_samples(&batch).unwrap();
        store.add_samples(&[]).unwrap();

        let all = store.samples("example.com.", 0, u64::MAX).unwrap();
        assert_eq!(
            all,
            vec![
                batch[1].clone(),
                batch[2].clone(),
                batch[0].clone(),
                batch[4].clone()
            ]
        );
        // Both ends are inclusive.
        let mid = store.samples("example.com.", 1000, 2000).unwrap();
        assert_eq!(mid.len(), 3);
        let mid = store.samples("example.com.", 1001, 2999).unwrap();
        assert_eq!(mid, vec![batch[0].clone()]);
        assert!(store
            .samples("example.com.", 3001, 9999)
            .unwrap()
            .is_empty());
        assert_eq!(
            store.samples("example.net.", 0, u64::MAX).unwrap(),
            vec![batch[3].clone()]
        );
        // A zone that is a prefix of another is still its own range.
        assert!(store.samples("example.co", 0, u64::MAX).unwrap().is_empty());
        assert!(store.samples("other.", 0, u64::MAX).unwrap().is_empty());
        assert_eq!(store.sample_count().unwrap(), 5);
    }

    #[test]
    fn last_samples_per_server() {
        let dir = TempDir::new("last");
        let store = Store::open(&dir.file()).unwrap();
        store
            .add_samples(&[
                sample("example.com.", NS1, 1000, Some(1)),
                sample("example.com.", NS2, 1000, Some(1)),
                sample("example.net.", NS1, 9000, Some(5)),
            ])
            .unwrap();
        store
            .add_samples(&[sample("example.com.", NS1, 2000, Some(2))])
            .unwrap();
        // An older sample arriving late does not replace the newest.
        store
            .add_samples(&[sample("example.com.", NS2, 500, None)])
            .unwrap();
        let last = store.last_samples("example.com.").unwrap();
        assert_eq!(
            last,
            vec![
                sample("example.com.", NS1, 2000, Some(2)),
                sample("example.com.", NS2, 1000, Some(1)),
            ]
        );
        assert_eq!(store.last_samples("example.net.").unwrap().len(), 1);
        assert!(store.last_samples("example.org.").unwrap().is_empty());
    }

    #[test]
    fn events_newest_first_with_limit() {
        let dir = TempDir::new("events");
        let store = Store::open(&dir.file()).unwrap();
        store
            .add_event(&event("example.com.", 100, "lame"))
            .unwrap();
        store
            .add_event(&event("example.net.", 200, "unreachable"))
            .unwrap();
        store
            .add_event(&event("example.com.", 300, "mismatch-began"))
            .unwrap();
        // Same millisecond: insertion order is kept.
        store
            .add_event(&event("example.com.", 300, "mismatch-ended"))
            .unwrap();

        let kinds = |v: Vec<Event>| v.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(store.events(None, 10).unwrap()),
            ["mismatch-ended", "mismatch-began", "unreachable", "lame"]
        );
        assert_eq!(
            kinds(store.events(None, 2).unwrap()),
            ["mismatch-ended", "mismatch-began"]
        );
        assert_eq!(
            kinds(store.events(Some("example.com."), 10).unwrap()),
            ["mismatch-ended", "mismatch-began", "lame"]
        );
        assert_eq!(
            kinds(store.events(Some("example.com."), 1).unwrap()),
            ["mismatch-ended"]
        );
        assert_eq!(
            store.events(Some("example.net."), 10).unwrap(),
            vec![event("example.net.", 200, "unreachable")]
        );
        assert!(store.events(Some("example.org."), 10).unwrap().is_empty());
        assert!(store.events(None, 0).unwrap().is_empty());
    }

    #[test]
    fn propagations_upsert_and_order() {
        let dir = TempDir::new("props");
        let store = Store::open(&dir.file()).unwrap();
        store
            .put_propagation(&propagation("example.com.", 10, 1000))
            .unwrap();
        store
            .put_propagation(&propagation("example.com.", 12, 3000))
            .unwrap();
        store
            .put_propagation(&propagation("example.com.", 11, 2000))
            .unwrap();
        store
            .put_propagation(&propagation("example.net.", 99, 5000))
            .unwrap();

        // Upsert: the same serial, now complete.
        let mut p = propagation("example.com.", 11, 2000);
        p.caught_up.insert(NS2.into(), 2600);
        p.complete_ms = Some(2600);
        store.put_propagation(&p).unwrap();

        let got = store.propagations("example.com.", 10).unwrap();
        assert_eq!(
            got.iter().map(|p| p.serial.get()).collect::<Vec<_>>(),
            [12, 11, 10]
        );
        assert_eq!(got[1], p);
        assert_eq!(store.propagations("example.com.", 1).unwrap().len(), 1);
        assert!(store.propagations("example.com.", 0).unwrap().is_empty());

        // Upsert with a new start time moves it in the order and leaves no
        // duplicate behind.
        let mut moved = propagation("example.com.", 10, 4000);
        moved.origin = "first-seen".into();
        store.put_propagation(&moved).unwrap();
        let got = store.propagations("example.com.", 10).unwrap();
        assert_eq!(
            got.iter().map(|p| p.serial.get()).collect::<Vec<_>>(),
            [10, 12, 11]
        );
        assert_eq!(got[0], moved);
        assert_eq!(store.propagations("example.net.", 10).unwrap().len(), 1);
    }

    #[test]
    fn prune_removes_only_older_records() {
        let dir = TempDir::new("prune");
        let store = Store::open(&dir.file()).unwrap();
        store
            .add_samples(&[
                sample("example.com.", NS1, 1000, Some(1)),
                sample("example.com.", NS2, 1000, Some(1)),
                sample("example.com.", NS1, 2000, Some(2)),
                sample("example.net.", NS1, 1500, Some(1)),
                sample("example.net.", NS1, 2500, Some(1)),
            ])
            .unwrap();
        store
            .add_event(&event("example.com.", 1000, "lame"))
            .unwrap();
        store
            .add_event(&event("example.com.", 2000, "recovered"))
            .unwrap();
        store
            .put_propagation(&propagation("example.com.", 1, 900))
            .unwrap();
        store
            .put_propagation(&propagation("example.com.", 2, 2000))
            .unwrap();

        // Cut at 2000: the samples at 1000 and 1500, one event, one
        // propagation go; records at exactly the cut stay.
        assert_eq!(store.prune(2000).unwrap(), 3 + 1 + 1);
        assert_eq!(
            store.samples("example.com.", 0, u64::MAX).unwrap(),
            vec![sample("example.com.", NS1, 2000, Some(2))]
        );
        assert_eq!(store.samples("example.net.", 0, u64::MAX).unwrap().len(), 1);
        // NS2's only sample is gone, so it no longer has a last sample.
        assert_eq!(
            store.last_samples("example.com.").unwrap(),
            vec![sample("example.com.", NS1, 2000, Some(2))]
        );
        assert_eq!(store.events(None, 10).unwrap().len(), 1);
        assert_eq!(store.events(Some("example.com."), 10).unwrap().len(), 1);
        assert_eq!(
            store
                .propagations("example.com.", 10)
                .unwrap()
                .iter()
                .map(|p| p.serial.get())
                .collect::<Vec<_>>(),
            [2]
        );
        // Nothing left to cut.
        assert_eq!(store.prune(2000).unwrap(), 0);
        assert_eq!(store.prune(u64::MAX).unwrap(), 2 + 1 + 1);
        assert_eq!(store.sample_count().unwrap(), 0);
        assert!(store.last_samples("example.net.").unwrap().is_empty());
    }

    #[test]
    fn reopen_keeps_history() {
        let dir = TempDir::new("reopen");
        {
            let store = Store::open(&dir.file()).unwrap();
            store
                .add_samples(&[sample("example.com.", NS1, 1000, Some(1))])
                .unwrap();
            store
                .add_event(&event("example.com.", 1000, "lame"))
                .unwrap();
            store
                .put_propagation(&propagation("example.com.", 1, 900))
                .unwrap();
        }
        let store = Store::open(&dir.file()).unwrap();
        assert_eq!(
            store.last_samples("example.com.").unwrap(),
            vec![sample("example.com.", NS1, 1000, Some(1))]
        );
        assert_eq!(store.events(None, 10).unwrap().len(), 1);
        assert_eq!(store.propagations("example.com.", 10).unwrap().len(), 1);
        // The event sequence carries on after a restart: a new event in the
        // same millisecond sorts after the old one.
        store
            .add_event(&event("example.com.", 1000, "recovered"))
            .unwrap();
        assert_eq!(store.events(None, 1).unwrap()[0].kind, "recovered");
    }

    #[test]
    fn second_open_of_the_same_file_is_a_clear_error() {
        let dir = TempDir::new("twice");
        let _store = Store::open(&dir.file()).unwrap();
        let err = Store::open(&dir.file()).unwrap_err().to_string();
        println!("{err}");
        assert!(err.contains(&dir.file().display().to_string()), "{err}");
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = TempDir::new("corrupt");
        let file = dir.file();
        let junk: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(&file, &junk).unwrap();
        let err = Store::open(&file).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        assert!(msg.starts_with("cannot open the monitor database"), "{msg}");
        assert!(msg.contains("not a monitor database"), "{msg}");
        println!("{msg}");
        // The file is left as it was, for someone to look at.
        assert_eq!(std::fs::read(&file).unwrap(), junk);

        // A missing directory names the file too.
        let missing = dir.0.join("no/such/dir/monitor.redb");
        let msg = Store::open(&missing).unwrap_err().to_string();
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
    }

    #[test]
    fn hundred_thousand_samples() {
        let dir = TempDir::new("bulk");
        let store = Store::open(&dir.file()).unwrap();
        let servers: Vec<String> = (0..10)
            .map(|i| format!("ns{i}.example.com.@192.0.2.{i}:53"))
            .collect();
        let start = Instant::now();
        for batch in 0..1000u64 {
            let samples: Vec<Sample> = (0..100u64)
                .map(|i| {
                    let zone = format!("zone{}.example.", i / 10);
                    let server = &servers[(i % 10) as usize];
                    sample(&zone, server, 1_700_000_000_000 + batch * 60_000, Some(1))
                })
                .collect();
            store.add_samples(&samples).unwrap();
        }
        let write = start.elapsed();
        let start = Instant::now();
        let one_zone = store.samples("zone3.example.", 0, u64::MAX).unwrap();
        let read = start.elapsed();
        assert_eq!(one_zone.len(), 10_000);
        assert_eq!(store.sample_count().unwrap(), 100_000);
        let size = std::fs::metadata(dir.file()).unwrap().len();
        println!(
            "100000 samples in 1000 batches: write {write:?}, read one zone (10000) {read:?}, \
             file {size} bytes ({} per sample)",
            size / 100_000
        );
        // Loose bounds: this is a sanity check, not a benchmark.
        assert!(write.as_secs() < 30, "writing took {write:?}");
        assert!(size < 100 * 1024 * 1024, "file is {size} bytes");
    }
}
