//! A primary changed by UPDATE (RFC 2136), not only by its zone file.
//!
//! - **Update** event: the queued requests are applied in order to the
//!   served version, each as one changeset (`update::changeset`), under
//!   the zone's load lock (so never beside a load); each changeset is
//!   appended to the journal (fsync) before its version is published, and
//!   each request is answered once its change is durable.
//! - **Flush** event, `flush_delay` after the first change not yet in the
//!   file: the served version is written to the zone file (atomically),
//!   then the state file records that file as what was served. So the file
//!   stays the source of truth, and a restart serves the same data and
//!   serial.
//! - **Restart before a flush**: the zone file still matches the state
//!   file, and the journal continues from its serial: the changes are
//!   replayed from the journal on top of the file, and a flush is planned.
//! - **An operator's edit of the file while changes are not flushed**:
//!   neither side is lost. The reload is refused (the served changes would
//!   be dropped) and the flush is refused (the edit would be overwritten),
//!   each with a message saying so, until the operator decides:
//!   `ctl reload --force` serves the file and drops the unflushed changes
//!   (logged), or the file's edit is undone.

use super::events::Event;
use super::state::PublishedState;
use super::{ManagedZone, Publication};
use crate::journal::Changeset;
use crate::serial::Serial;
use crate::tsig::SignedRequest;
use crate::update::txn::Transaction;
use crate::update::{self, UpdateMessage};
use crate::wire::rcode;
use crate::zone::ZoneVersion;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Where an UPDATE's answer goes (a UDP socket or a TCP connection).
pub type UpdateReply = Box<dyn FnOnce(Vec<u8>) + Send>;

/// One UPDATE request waiting for the zone's Update event.
pub struct UpdateAsk {
    /// The request as received (its zone section is echoed).
    pub request: Vec<u8>,
    pub message: UpdateMessage,
    /// The verified TSIG of the request, which signs the answer.
    pub signer: Option<SignedRequest>,
    pub peer: SocketAddr,
    pub key: String,
    pub reply: UpdateReply,
}

impl UpdateAsk {
    fn answer(mut self, rcode: u16) {
        if let Some(out) = update::response::answer(&self.request, rcode, self.signer.as_mut()) {
            (self.reply)(out);
        }
    }
}

/// Why a control transaction request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnProblem {
    #[error("no transaction is open for the zone (zone-begin first)")]
    NotOpen,
    #[error("a transaction is already open for the zone (since serial {0}); commit or abort it")]
    AlreadyOpen(Serial),
    #[error("the zone is not loaded")]
    NotLoaded,
    #[error("the zone has no zone file to keep the change in")]
    NoFile,
    #[error("{0}")]
    Input(#[from] update::txn::TxnError),
    #[error("refused: {0}")]
    Refused(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// A committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnCommitted {
    /// None when it changed nothing.
    pub serials: Option<(Serial, Serial)>,
    pub diff: Vec<String>,
}

/// What a flush did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushOutcome {
    /// The file already holds the served version.
    UpToDate,
    /// The file now holds the version at this serial.
    Written(Serial),
    /// Not written; why.
    Refused(String),
}

impl ManagedZone {
    /// Queues an UPDATE and plans the Update event now.
    pub fn ask_update(&self, ask: UpdateAsk) {
        match self.update_asks.lock() {
            Ok(mut asks) => asks.push(ask),
            Err(_) => return ask.answer(rcode::SERVFAIL),
        }
        self.core
            .events
            .schedule(Event::Update, self.core.clock().now());
    }

    pub(crate) fn take_update_asks(&self) -> Vec<UpdateAsk> {
        self.update_asks
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }

    /// The Update event's work: `asks` applied in order, journaled,
    /// published once, then answered.
    pub fn apply_updates(&self, asks: Vec<UpdateAsk>) {
        if asks.is_empty() {
            return;
        }
        let started = Instant::now();
        let Ok(memory) = self.loading.lock() else {
            return asks.into_iter().for_each(|a| a.answer(rcode::SERVFAIL));
        };
        let Some(served) = self.core.zone.snapshot() else {
            tracing::warn!(zone = self.name(), "UPDATE for a zone not loaded: SERVFAIL");
            return asks.into_iter().for_each(|a| a.answer(rcode::SERVFAIL));
        };
        let policy = self.core.config.serial_policy;
        let now = self.core.clock().now_unix();
        let mut current = served.clone();
        // Each change with the version it leads to and the request it
        // answers; requests that change nothing or fail are answered as
        // soon as the durable part is done.
        let mut changed: Vec<(Changeset, Arc<ZoneVersion>, UpdateAsk)> = Vec::new();
        let mut settled: Vec<(UpdateAsk, u16)> = Vec::new();
        for ask in asks {
            match update::changeset(&current, &ask.message, policy, now) {
                Err(failure) => {
                    tracing::info!(zone = self.name(), peer = %ask.peer, key = ask.key, "UPDATE refused: {failure}");
                    let code = failure.rcode;
                    settled.push((ask, code));
                }
                Ok(None) => {
                    tracing::info!(zone = self.name(), peer = %ask.peer, key = ask.key, "UPDATE changed nothing");
                    settled.push((ask, rcode::NOERROR));
                }
                Ok(Some(change)) => match current.apply(&change) {
                    Ok(next) => {
                        current = Arc::new(next);
                        changed.push((change, current.clone(), ask));
                    }
                    Err(e) => {
                        tracing::info!(zone = self.name(), peer = %ask.peer, key = ask.key, "UPDATE refused: the zone would break: {e}");
                        settled.push((ask, rcode::REFUSED));
                    }
                },
            }
        }
        // Only the last change is published, so only its version needs
        // the new ZONEMD (the versions between are never served).
        if let Some((change, version, _)) = changed.last_mut() {
            if let Err(why) = self.stamp(change, version) {
                tracing::error!(zone = self.name(), "UPDATE: {why}: SERVFAIL");
                settled.extend(changed.drain(..).map(|(_, _, ask)| (ask, rcode::SERVFAIL)));
            }
        }
        let file_serial = memory.published.map(|p| p.served_serial);
        let changes: Vec<&Changeset> = changed.iter().map(|(c, _, _)| c).collect();
        let durable = self.journal_changes(&changes, file_serial);
        let mut newest = None;
        for (i, (change, version, ask)) in changed.into_iter().enumerate() {
            if i < durable {
                tracing::info!(
                    zone = self.name(),
                    peer = %ask.peer,
                    key = ask.key,
                    from = %change.from_serial,
                    to = %change.to_serial,
                    removed = change.removed.len(),
                    added = change.added.len(),
                    "UPDATE applied"
                );
                newest = Some(version);
                settled.push((ask, rcode::NOERROR));
            } else {
                settled.push((ask, rcode::SERVFAIL));
            }
        }
        if let Some(version) = newest {
            let serial = version.serial();
            self.publish_dynamic(version, "UPDATE");
            tracing::debug!(
                zone = self.name(),
                serial = %serial,
                us = started.elapsed().as_micros() as u64,
                "UPDATE published"
            );
        }
        drop(memory);
        for (ask, code) in settled {
            ask.answer(code);
        }
    }

    /// With `zonemd_generate`: `version` (which `change` led to) gets its
    /// new ZONEMD, and `change` the ZONEMD's change folded in.
    fn stamp(
        &self,
        change: &mut Changeset,
        version: &mut Arc<ZoneVersion>,
    ) -> Result<(), super::zonemd::ZonemdRefused> {
        let from = format!("serial {}", version.serial());
        let Some(stamp) = self.core.zonemd.stamp_change(&from, version)? else {
            return Ok(());
        };
        let stamped = version
            .apply(&stamp)
            .map_err(|e| super::zonemd::ZonemdRefused::Stamp {
                from,
                why: e.to_string(),
            })?;
        *version = Arc::new(stamped);
        crate::zonemd::fold(change, stamp);
        Ok(())
    }

    /// Publishes a version made by a dynamic change (journaled already)
    /// and plans the flush of the zone file.
    fn publish_dynamic(&self, version: Arc<ZoneVersion>, source: &str) {
        self.core.publish(version, source, Publication::New);
        let delay_ms = u64::from(self.core.config.flush_delay).saturating_mul(1000);
        let at = self.core.clock().now().saturating_add(delay_ms);
        self.core.events.schedule(Event::Flush, at);
    }

    /// Appends the changes to the journal in order; how many are durable.
    /// Without a journal nothing can be made durable, so nothing is.
    fn journal_changes(&self, changed: &[&Changeset], file_serial: Option<Serial>) -> usize {
        if changed.is_empty() {
            return 0;
        }
        let Some(journal) = &self.core.journal else {
            tracing::error!(
                zone = self.name(),
                "UPDATE needs the zone's journal, which could not be opened: SERVFAIL"
            );
            return 0;
        };
        let Ok(mut journal) = journal.lock() else {
            return 0;
        };
        // Until flushed, these changes live only in the journal.
        journal.keep_from_serial(file_serial);
        // A burst queued meanwhile costs one fsync, not one each.
        match journal.append_all(changed) {
            Ok(()) => changed.len(),
            Err((durable, e)) => {
                tracing::error!(zone = self.name(), "UPDATE not applied: {e}");
                durable
            }
        }
    }

    /// The serial the zone file holds when the served version has
    /// changes (UPDATE, transactions) it does not hold yet. Never waits: a
    /// load running now answers `None`.
    pub fn unflushed_since(&self) -> Option<Serial> {
        let served = self.core.zone.snapshot().map(|v| v.serial());
        let memory = self.loading.try_lock().ok()?;
        let published = memory.published?;
        unflushed(Some(&published), served).then_some(published.served_serial)
    }

    /// The serial served when the open transaction began, if one is open.
    pub fn transaction_since(&self) -> Option<Serial> {
        self.txn.try_lock().ok()?.as_ref().map(|t| t.began_at)
    }

    /// The Flush event's work: the served version written to the zone
    /// file, unless the file was edited since it was last read or written.
    pub fn flush(&self) -> FlushOutcome {
        // Three steps, so that writing a large zone never holds the load
        // lock (nor the data lane: Flush has a lane of its own), and UPDATE
        // goes on meanwhile: what to write, under the lock; the text
        // written beside the file, without it; the file replaced and the
        // state recorded, under the lock, if nothing changed meanwhile.
        let Some(file) = self.core.config.file.clone() else {
            return FlushOutcome::UpToDate;
        };
        let (version, published) = match self.flush_due(&file) {
            Ok(Some(due)) => due,
            Ok(None) => return FlushOutcome::UpToDate,
            Err(why) => return self.flush_refused(why),
        };
        let started = Instant::now();
        let header = format!(
            "Zone {}, serial {}: written by zonesync (changes made by UPDATE)",
            self.name(),
            version.serial()
        );
        let text = crate::zonefile::write::zone_text(&version, &header);
        let digest = version.content_digest();
        let staged = match crate::durable::stage(&file, text.as_bytes()) {
            Ok(s) => s,
            Err(e) => return self.flush_refused(format!("cannot write {}: {e}", file.display())),
        };
        drop(text);
        let Ok(mut memory) = self.loading.lock() else {
            return FlushOutcome::Refused("an earlier load panicked".into());
        };
        if memory.published != Some(published) {
            // A load meanwhile: what was staged may no longer be right.
            drop(memory);
            self.core
                .events
                .schedule(Event::Flush, self.core.clock().now());
            return FlushOutcome::UpToDate;
        }
        if crate::loader::files_changed(&memory.files) {
            return self.flush_refused(edited_message(&file, &published, &version, self.name()));
        }
        if let Err(e) = staged.commit() {
            return self.flush_refused(format!("cannot replace {}: {e}", file.display()));
        }
        let state = PublishedState {
            served_serial: version.serial(),
            file_serial: version.serial(),
            digest,
        };
        self.write_state(&state);
        // Changes made while the text was written are still only in the
        // journal.
        let served = self.core.zone.snapshot().map(|v| v.serial());
        let floor = (served != Some(version.serial())).then(|| version.serial());
        if let Some(mut journal) = self.core.journal.as_ref().and_then(|j| j.lock().ok()) {
            journal.keep_from_serial(floor);
        }
        memory.published = Some(state);
        memory.files = vec![(file.clone(), modified(&file))];
        drop(memory);
        if let Ok(mut status) = self.status.lock() {
            status.last_error = None;
        }
        tracing::info!(
            zone = self.name(),
            serial = %version.serial(),
            file = %file.display(),
            records = version.record_count(),
            ms = started.elapsed().as_millis() as u64,
            "zone file flushed"
        );
        FlushOutcome::Written(version.serial())
    }

    /// The version to write and the state it replaces, if the file is
    /// behind the served version; `Err` when the file was edited.
    fn flush_due(
        &self,
        file: &std::path::Path,
    ) -> Result<Option<(Arc<ZoneVersion>, PublishedState)>, String> {
        let Ok(memory) = self.loading.lock() else {
            return Err("an earlier load panicked".into());
        };
        let (Some(version), Some(published)) = (self.core.zone.snapshot(), memory.published) else {
            return Ok(None);
        };
        if !unflushed(Some(&published), Some(version.serial())) {
            return Ok(None);
        }
        if crate::loader::files_changed(&memory.files) {
            return Err(edited_message(file, &published, &version, self.name()));
        }
        Ok(Some((version, published)))
    }

    fn flush_refused(&self, why: String) -> FlushOutcome {
        tracing::error!(zone = self.name(), "{why}");
        if let Ok(mut status) = self.status.lock() {
            status.last_error = Some(why.clone());
        }
        FlushOutcome::Refused(why)
    }

    /// At the first load after a start: `version` (the zone file, at the
    /// serial the state file records for it) with the changes the journal
    /// holds after it replayed, when there are any.
    pub(super) fn replay_unflushed(&self, version: ZoneVersion) -> ZoneVersion {
        let Some(journal) = &self.core.journal else {
            return version;
        };
        let chain = match journal.lock() {
            Ok(j) => j.changes_since(version.serial()),
            Err(_) => None,
        };
        let Some(chain) = chain.filter(|c| !c.is_empty()) else {
            // Nothing to replay: the limits alone decide again.
            if let Ok(mut j) = journal.lock() {
                j.keep_from_serial(None);
            }
            return version;
        };
        let changes: Vec<Changeset> = chain.iter().map(|c| (**c).clone()).collect();
        match version.apply_all(&changes) {
            Ok(replayed) => {
                tracing::info!(
                    zone = self.name(),
                    from = %version.serial(),
                    to = %replayed.serial(),
                    changes = changes.len(),
                    "replayed changes not yet in the zone file from the journal"
                );
                self.core
                    .events
                    .schedule(Event::Flush, self.core.clock().now());
                replayed
            }
            Err(e) => {
                tracing::error!(
                    zone = self.name(),
                    "the journal's changes after serial {} do not apply to the zone file ({e}); serving the file",
                    version.serial()
                );
                version
            }
        }
    }
}

impl ManagedZone {
    /// At the first load after a start, when the zone file was edited
    /// while the server was stopped: changes made by UPDATE after
    /// `file_serial` that never reached the file cannot be replayed on
    /// the edited file, and are dropped; said loudly.
    pub(super) fn warn_dropped_unflushed(&self, file_serial: Serial) {
        let Some(journal) = &self.core.journal else {
            return;
        };
        let dropped = match journal.lock() {
            Ok(mut j) => {
                j.keep_from_serial(None);
                j.changes_since(file_serial).map_or(0, |c| c.len())
            }
            Err(_) => 0,
        };
        if dropped > 0 {
            tracing::error!(
                zone = self.name(),
                "the zone file was edited while the server was stopped, and {dropped} change(s) made by UPDATE after serial {file_serial} had not been flushed to it: they are dropped, the edited file is served"
            );
        }
    }
}

impl ManagedZone {
    /// `zone-begin`: opens the zone's transaction; the serial served.
    pub fn txn_begin(&self) -> Result<Serial, TxnProblem> {
        if self.core.config.file.is_none() {
            return Err(TxnProblem::NoFile);
        }
        let serial = self
            .core
            .zone
            .snapshot()
            .map(|v| v.serial())
            .ok_or(TxnProblem::NotLoaded)?;
        let mut txn = self.txn.lock().map_err(|_| TxnProblem::NotLoaded)?;
        if let Some(open) = txn.as_ref() {
            return Err(TxnProblem::AlreadyOpen(open.began_at));
        }
        *txn = Some(Transaction::new(serial));
        Ok(serial)
    }

    /// `zone-abort`: drops the open transaction.
    pub fn txn_abort(&self) -> Result<(), TxnProblem> {
        let mut txn = self.txn.lock().map_err(|_| TxnProblem::NotOpen)?;
        txn.take().map(|_| ()).ok_or(TxnProblem::NotOpen)
    }

    /// Runs `f` on the open transaction and the version served.
    fn with_txn<T>(
        &self,
        f: impl FnOnce(&mut Transaction, &ZoneVersion) -> Result<T, TxnProblem>,
    ) -> Result<T, TxnProblem> {
        let version = self.core.zone.snapshot().ok_or(TxnProblem::NotLoaded)?;
        let mut txn = self.txn.lock().map_err(|_| TxnProblem::NotOpen)?;
        let open = txn.as_mut().ok_or(TxnProblem::NotOpen)?;
        f(open, &version)
    }

    /// `zone-set OWNER [TTL] TYPE RDATA`.
    pub fn txn_set(
        &self,
        owner: &str,
        ttl: Option<u32>,
        rtype: &str,
        rdata: &str,
    ) -> Result<(), TxnProblem> {
        self.with_txn(|t, v| Ok(t.set(v, owner, ttl, rtype, rdata)?))
    }

    /// `zone-unset OWNER [TYPE [RDATA]]`.
    pub fn txn_unset(
        &self,
        owner: &str,
        rtype: Option<&str>,
        rdata: Option<&str>,
    ) -> Result<(), TxnProblem> {
        self.with_txn(|t, v| Ok(t.unset(v, owner, rtype, rdata)?))
    }

    /// The open transaction's changeset over the version served.
    fn txn_preview(&self) -> Result<(Arc<ZoneVersion>, Option<Changeset>), TxnProblem> {
        let policy = self.core.config.serial_policy;
        let now = self.core.clock().now_unix();
        let version = self.core.zone.snapshot().ok_or(TxnProblem::NotLoaded)?;
        let change = self.with_txn(|t, v| {
            t.changeset(v, policy, now)
                .map_err(|f| TxnProblem::Refused(f.to_string()))
        })?;
        Ok((version, change))
    }

    /// `zone-diff`: what a commit would change now.
    pub fn txn_diff(&self) -> Result<Vec<String>, TxnProblem> {
        let (_, change) = self.txn_preview()?;
        Ok(change
            .as_ref()
            .map(update::txn::diff_lines)
            .unwrap_or_default())
    }

    /// `zone-get [OWNER [TYPE]]`: the zone's records, as the open
    /// transaction would leave them (as served without one).
    pub fn txn_get(
        &self,
        owner: Option<&str>,
        rtype: Option<&str>,
    ) -> Result<Vec<String>, TxnProblem> {
        let open = self.txn.lock().map(|t| t.is_some()).unwrap_or(false);
        let version = if open {
            let (version, change) = self.txn_preview()?;
            match change {
                Some(c) => Arc::new(
                    version
                        .apply(&c)
                        .map_err(|e| TxnProblem::Refused(e.to_string()))?,
                ),
                None => version,
            }
        } else {
            self.core.zone.snapshot().ok_or(TxnProblem::NotLoaded)?
        };
        Ok(update::txn::get_lines(&version, owner, rtype)?)
    }

    /// `zone-commit`: the transaction applied to the version served now,
    /// checked with the zone rules, journaled, published and closed. A
    /// refused commit leaves the transaction open and the zone as it was.
    pub fn txn_commit(&self) -> Result<TxnCommitted, TxnProblem> {
        let memory = self.loading.lock().map_err(|_| TxnProblem::NotLoaded)?;
        let (version, change) = self.txn_preview()?;
        let Some(change) = change else {
            let _ = self.txn_abort();
            return Ok(TxnCommitted {
                serials: None,
                diff: Vec::new(),
            });
        };
        let mut change = change;
        let next = version
            .apply(&change)
            .map_err(|e| TxnProblem::Refused(format!("the zone would break: {e}")))?;
        let mut next = Arc::new(next);
        self.stamp(&mut change, &mut next)
            .map_err(|e| TxnProblem::Refused(e.to_string()))?;
        let file_serial = memory.published.map(|p| p.served_serial);
        if self.journal_changes(&[&change], file_serial) != 1 {
            return Err(TxnProblem::Failed(
                "the change could not be journaled (see the log); nothing changed".into(),
            ));
        }
        let diff = update::txn::diff_lines(&change);
        tracing::info!(
            zone = self.name(),
            from = %change.from_serial,
            to = %change.to_serial,
            removed = change.removed.len(),
            added = change.added.len(),
            "transaction committed"
        );
        self.publish_dynamic(next, "zone-commit");
        drop(memory);
        let _ = self.txn_abort();
        Ok(TxnCommitted {
            serials: Some((change.from_serial, change.to_serial)),
            diff,
        })
    }
}

fn edited_message(
    file: &std::path::Path,
    published: &PublishedState,
    version: &ZoneVersion,
    zone: &str,
) -> String {
    format!(
        "{} was edited while changes made by UPDATE (serial {} to {}) are not in it: not overwritten. \
         Undo the edit (the next flush then writes the file), or run `zonesync ctl reload {zone} --force` \
         to serve the edited file and drop those changes",
        file.display(),
        published.served_serial,
        version.serial(),
    )
}

/// Whether `served` is ahead of what the zone file holds (`published`).
pub(super) fn unflushed(published: Option<&PublishedState>, served: Option<Serial>) -> bool {
    matches!((published, served), (Some(p), Some(s)) if p.served_serial != s)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
