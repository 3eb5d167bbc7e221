//! What readers see of a journal: an immutable list of changesets,
//! replaced whole after each append or rewrite.
//!
//! The IXFR responder (TCP and UDP) reads the journal for every request,
//! while a load or transfer holds the journal's writer across an fsync.
//! Readers therefore never take the writer's lock: the writer publishes a
//! new [`JournalView`] through an `ArcSwap` after the change is durable
//! (and before the zone version it leads to is published), and a reader
//! loads the current one, like the query path loads a zone version.

use super::Changeset;
use crate::serial::Serial;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// The changesets of a journal at one moment, oldest first, and the size
/// of its file then.
#[derive(Debug, Default)]
pub struct JournalView {
    changes: Vec<Arc<Changeset>>,
    size: u64,
}

impl JournalView {
    pub(super) fn new(changes: Vec<Arc<Changeset>>, size: u64) -> JournalView {
        JournalView { changes, size }
    }

    /// The changesets leading from `serial` to the newest serial, oldest
    /// first, as [`Journal::changes_since`](super::Journal::changes_since)
    /// defines them, borrowed (no allocation).
    pub fn changes_since(&self, serial: Serial) -> Option<&[Arc<Changeset>]> {
        self.changes.get(self.index_of(serial)?..)
    }

    /// Where the changesets from `serial` start in [`changes`](Self::changes)
    /// (their number when `serial` is the newest).
    pub fn index_of(&self, serial: Serial) -> Option<usize> {
        if self.last_serial()? == serial {
            return Some(self.changes.len());
        }
        self.changes.iter().rposition(|c| c.from_serial == serial)
    }

    /// Every changeset, oldest first.
    pub fn changes(&self) -> &[Arc<Changeset>] {
        &self.changes
    }

    /// The serial the oldest changeset starts from.
    pub fn first_serial(&self) -> Option<Serial> {
        self.changes.first().map(|c| c.from_serial)
    }

    /// The serial the newest changeset leads to.
    pub fn last_serial(&self) -> Option<Serial> {
        self.changes.last().map(|c| c.to_serial)
    }

    /// Number of changesets.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Size of the file in octets, header included.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }
}

/// A reader's handle on a journal: cheap to clone, never blocks.
#[derive(Debug, Clone, Default)]
pub struct JournalReader(Arc<ArcSwap<JournalView>>);

impl JournalReader {
    /// The current view, for a short read (no reference count traffic in
    /// the common case).
    pub fn load(&self) -> arc_swap::Guard<Arc<JournalView>> {
        self.0.load()
    }

    /// The current view, to keep (a transfer streaming changesets).
    pub fn load_full(&self) -> Arc<JournalView> {
        self.0.load_full()
    }

    pub(super) fn publish(&self, view: JournalView) {
        self.0.store(Arc::new(view));
    }
}
