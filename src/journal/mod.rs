//! The durable change journal: the history of a zone as changesets, kept so
//! that a secondary can be sent only what changed (IXFR, RFC 1995) instead
//! of the whole zone.
//!
//! [`diff`] computes the changeset between two [`ZoneVersion`]s
//! (RFC 1995 §4: the old SOA, the records deleted, the new SOA, the records
//! added). [`Journal`] stores a chain of changesets in one file, each
//! appended durably before [`Journal::append`] returns, and answers
//! [`Journal::changes_since`]. The IXFR responder reads a [`JournalView`]
//! through a [`JournalReader`] instead, which never waits for the writer.
//!
//! # File format (version 1)
//!
//! All integers are big-endian.
//!
//! ```text
//! header   magic "ZSJOURNL" (8 octets) ‖ format version u32 (= 1)
//! frame*   payload length u32 ‖ CRC-32 (IEEE) of the payload u32 ‖ payload
//! payload  from_serial u32 ‖ to_serial u32 ‖ old_soa record ‖ new_soa record
//!          ‖ removed count u32 ‖ record* ‖ added count u32 ‖ record*
//! record   owner length u16 ‖ owner (wire format) ‖ type u16 ‖ TTL u32
//!          ‖ RDATA length u16 ‖ RDATA
//! ```
//!
//! Frames follow each other with nothing in between, oldest first, and form
//! a chain: each frame's `from_serial` is the previous frame's `to_serial`.
//! A frame is only ever appended at the end (one write, then fsync), so a
//! crash can leave at most a torn last frame; its length or checksum then
//! fails and [`Journal::open`] cuts the file back to the frame before it.
//! Everything else that changes the file (dropping the oldest changesets,
//! starting a new history) writes a complete new file beside it
//! (`<name>.tmp`), fsyncs it, renames it over the journal and fsyncs the
//! directory, so the journal is at every moment either the old or the new
//! file, never a mix.
//!
//! # Memory
//!
//! The changesets are kept in memory after [`Journal::open`], not just an
//! index of frame offsets: the limits ([`JournalLimits`]) bound them to a
//! few tens of MiB, and the IXFR responder can then answer without reading
//! and decoding the file on every request (a burst of secondaries asking
//! after a NOTIFY would otherwise all hit the disk).

mod codec;
mod diff;
mod file;
pub mod snapshot;
mod view;

pub use codec::EncodeError;
pub use diff::diff;
pub use file::{Journal, JournalLimits};
pub use view::{JournalReader, JournalView};

use crate::serial::Serial;
#[cfg(doc)]
use crate::zone::ZoneVersion;
use std::path::PathBuf;

/// One record, owner in lower-case uncompressed wire format.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Record {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// RFC 1995 §4: the difference between two versions of a zone.
///
/// The SOAs are not in `removed` or `added`: an IXFR response frames each
/// changeset with them (old SOA, deletions, new SOA, additions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changeset {
    pub from_serial: Serial,
    pub to_serial: Serial,
    pub old_soa: Record,
    pub new_soa: Record,
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

/// A journal that cannot be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("journal {}: not a zonesync journal (bad magic); refusing to overwrite it", path.display())]
    NotAJournal { path: PathBuf },
    #[error("journal {}: unsupported format version {version} (this build reads version {})", path.display(), codec::VERSION)]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("journal {}: cannot store changeset {from_serial} -> {to_serial}: {problem}", path.display())]
    Unencodable {
        path: PathBuf,
        from_serial: Serial,
        to_serial: Serial,
        problem: EncodeError,
    },
}
