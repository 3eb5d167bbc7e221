//! The journal file: opening (with recovery from a torn or damaged tail),
//! durable appends and atomic rewrites.

use super::codec::{self, Frame, HEADER_LEN};
use super::view::{JournalReader, JournalView};
use super::{Changeset, JournalError};
use crate::serial::Serial;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How much history a journal keeps. When an append would exceed either
/// limit, the oldest changesets are dropped until it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalLimits {
    /// Size of the file, header included (default 64 MiB).
    pub max_bytes: u64,
    /// Number of changesets (default 1000).
    pub max_changesets: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            max_bytes: 64 * 1024 * 1024,
            max_changesets: 1000,
        }
    }
}

/// One changeset and where its frame lies in the file, so that a rewrite
/// can copy the frames it keeps instead of encoding them again.
#[derive(Debug)]
struct Entry {
    change: Arc<Changeset>,
    offset: u64,
    len: u64,
}

/// Where a test makes a rewrite stop, as a crash would.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Crash {
    /// Half of the temporary file is written.
    InTempFile,
    /// The temporary file is complete and synced, not yet renamed.
    BeforeRename,
}

/// A zone's change history in one file, kept in memory as well (see the
/// module documentation for the format and why).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    limits: JournalLimits,
    entries: VecDeque<Entry>,
    /// Length of the file: the header and every good frame.
    size: u64,
    /// What readers see; replaced after every change of `entries`.
    reader: JournalReader,
    /// Changesets from this serial on are kept whatever the limits (see
    /// [`Journal::keep_from_serial`]).
    floor: Option<Serial>,
    /// Made by this open and not yet synced: its header and its entry in
    /// the directory are made durable with the first append (a journal
    /// that never gets one, as a secondary that only ever takes AXFR,
    /// costs no fsync; a catalog adding 1,000 members paid 2,000).
    unsynced: bool,
    #[cfg(test)]
    pub(super) crash: Option<Crash>,
}

use crate::durable::{sync_dir, temp_path};

impl Journal {
    /// Makes an append durable: the data, and for a journal this open
    /// made, the whole file and its directory entry first.
    fn sync_appended(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_all()?;
            sync_dir(&self.path)?;
            self.unsynced = false;
            return Ok(());
        }
        self.file.sync_data()
    }

    /// Opens the journal at `path`, creating it when absent.
    ///
    /// A frame that is cut short (a torn write at a crash) or fails its
    /// checksum, or whose changeset does not continue the chain of the
    /// frames before it, is dropped with everything after it: the file is
    /// truncated back to the last good frame, and each such problem is
    /// described in the returned warnings. Dropped data is never returned
    /// as changes; a secondary that needed it gets an AXFR instead. A
    /// temporary file left by a rewrite that a crash interrupted is removed
    /// (the rename is the commit point, so it was never part of the
    /// journal). If the file holds more than `limits` allow, the oldest
    /// changesets are dropped.
    pub fn open(
        path: &Path,
        limits: JournalLimits,
    ) -> Result<(Journal, Vec<String>), JournalError> {
        Journal::open_keeping(path, limits, None)
    }

    /// [`Journal::open`], keeping the changesets from `floor` on whatever
    /// the limits (see [`Journal::keep_from_serial`]).
    pub fn open_keeping(
        path: &Path,
        limits: JournalLimits,
        floor: Option<Serial>,
    ) -> Result<(Journal, Vec<String>), JournalError> {
        let io_err = |what| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, what, source }
        };
        let mut warnings = Vec::new();
        let mut unsynced = false;
        let temp = temp_path(path);
        match fs::remove_file(&temp) {
            Ok(()) => warnings.push(format!(
                "{}: removed an unfinished rewrite left by a crash; the journal is as before it",
                temp.display()
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing the unfinished rewrite")(e)),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("opening"))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(io_err("reading"))?;
        let header = codec::header();
        if buf.len() < HEADER_LEN && header.starts_with(&buf) {
            // New, or its creation was cut short before the header was
            // complete: nothing can have been stored in it yet.
            if !buf.is_empty() {
                warnings.push(format!(
                    "{}: header cut short ({} octets); started the journal afresh",
                    path.display(),
                    buf.len()
                ));
            }
            file.write_all_at(&header, 0)
                .map_err(io_err("writing the header"))?;
            file.set_len(HEADER_LEN as u64)
                .map_err(io_err("truncating"))?;
            // Not synced here: a crash before the first append leaves the
            // header cut short or the file missing, both read as empty.
            unsynced = true;
            buf = header.to_vec();
        }
        if buf.get(..codec::MAGIC.len()) != Some(&codec::MAGIC[..]) {
            return Err(JournalError::NotAJournal {
                path: path.to_path_buf(),
            });
        }
        let version = buf
            .get(codec::MAGIC.len()..HEADER_LEN)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if version != Some(codec::VERSION) {
            return Err(JournalError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: version.unwrap_or(0),
            });
        }
        let (entries, good_end) = read_frames(path, &buf, &mut warnings);
        if good_end < buf.len() {
            file.set_len(good_end as u64)
                .map_err(io_err("truncating the bad tail"))?;
            file.sync_all().map_err(io_err("syncing"))?;
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            limits,
            entries,
            size: good_end as u64,
            reader: JournalReader::default(),
            floor,
            unsynced,
            #[cfg(test)]
            crash: None,
        };
        journal.publish_view();
        let keep_from = journal.first_kept(0, 0);
        if keep_from > 0 {
            warnings.push(format!(
                "{}: dropped the {keep_from} oldest changesets to fit the limits",
                path.display()
            ));
            journal.rewrite(keep_from, None)?;
        }
        Ok((journal, warnings))
    }

    /// Appends `change` durably: it is written and fsynced before this
    /// returns, so a change that was announced survives a crash.
    ///
    /// A changeset that does not start at the newest serial starts a new
    /// history (the zone was reloaded from a file that does not follow on,
    /// or transferred whole): the old changesets cannot lead to it, so
    /// they are dropped. When the limits would be exceeded, the oldest
    /// changesets are dropped; a changeset that alone exceeds `max_bytes`
    /// leaves the journal empty, so that secondaries fall back to AXFR.
    /// Both rewrite the file atomically (temporary file, fsync, rename,
    /// directory fsync). On error, the journal is as it was before, except
    /// when only the final directory fsync of a rewrite fails: the rewrite
    /// is then in force but may not survive a crash, as the error says.
    pub fn append(&mut self, change: &Changeset) -> Result<(), JournalError> {
        let frame = codec::encode_frame(change).map_err(|problem| JournalError::Unencodable {
            path: self.path.clone(),
            from_serial: change.from_serial,
            to_serial: change.to_serial,
            problem,
        })?;
        let continues = self
            .last_serial()
            .is_none_or(|last| last == change.from_serial);
        let keep_from = if continues {
            self.first_kept(1, frame.len() as u64)
        } else {
            self.entries.len()
        };
        let fits = self.limits.max_changesets > 0
            && HEADER_LEN as u64 + frame.len() as u64 <= self.limits.max_bytes;
        if !fits && self.floor.is_none() {
            return self.rewrite(self.entries.len(), None);
        }
        if keep_from > 0 {
            return self.rewrite(keep_from, Some((change, &frame)));
        }
        let offset = self.size;
        let written = self
            .file
            .write_all_at(&frame, offset)
            .and_then(|()| self.sync_appended());
        if let Err(source) = written {
            // Cut off what may have been written, so that the next append
            // does not land behind a torn frame (which open would drop,
            // with everything after it). If this fails too, the torn
            // frame is overwritten by the next append at `size` anyway.
            let _ = self.file.set_len(offset);
            return Err(JournalError::Io {
                path: self.path.clone(),
                what: "appending a changeset",
                source,
            });
        }
        self.size += frame.len() as u64;
        self.entries.push_back(Entry {
            change: Arc::new(change.clone()),
            offset,
            len: frame.len() as u64,
        });
        self.publish_view();
        Ok(())
    }

    /// Keeps the changesets from `serial` on whatever the limits (none:
    /// the limits alone decide): a primary's changes made by UPDATE that
    /// its zone file does not hold yet are the only record of them until
    /// the file is flushed, and a restart replays them from here.
    pub fn keep_from_serial(&mut self, serial: Option<Serial>) {
        self.floor = serial;
    }

    /// Appends `changes` in order, durably, with one write and one fsync
    /// when they continue the journal and fit its limits as they are (a
    /// burst of UPDATEs); otherwise one [`append`](Self::append) each. On
    /// error, the changes before index `i` of `Err((i, _))` are durable
    /// and the rest are not in the journal.
    pub fn append_all(&mut self, changes: &[&Changeset]) -> Result<(), (usize, JournalError)> {
        let frames: Option<Vec<Vec<u8>>> = changes
            .iter()
            .map(|c| codec::encode_frame(c).ok())
            .collect();
        let chained = changes
            .windows(2)
            .all(|w| w[0].to_serial == w[1].from_serial)
            && changes.first().is_some_and(|first| {
                self.last_serial()
                    .is_none_or(|last| last == first.from_serial)
            });
        let batch = match frames {
            Some(frames) if changes.len() > 1 && chained => {
                let total: u64 = frames.iter().map(|f| f.len() as u64).sum();
                let fits = self.limits.max_changesets > 0
                    && frames
                        .iter()
                        .all(|f| HEADER_LEN as u64 + f.len() as u64 <= self.limits.max_bytes);
                (fits && self.first_kept(changes.len(), total) == 0).then_some(frames)
            }
            _ => None,
        };
        let Some(frames) = batch else {
            for (i, change) in changes.iter().enumerate() {
                self.append(change).map_err(|e| (i, e))?;
            }
            return Ok(());
        };
        let offset = self.size;
        let written = self
            .file
            .write_all_at(&frames.concat(), offset)
            .and_then(|()| self.sync_appended());
        if let Err(source) = written {
            // As in `append`: nothing after `offset` is the journal.
            let _ = self.file.set_len(offset);
            return Err((
                0,
                JournalError::Io {
                    path: self.path.clone(),
                    what: "appending changesets",
                    source,
                },
            ));
        }
        for (change, frame) in changes.iter().zip(&frames) {
            self.entries.push_back(Entry {
                change: Arc::new((*change).clone()),
                offset: self.size,
                len: frame.len() as u64,
            });
            self.size += frame.len() as u64;
        }
        self.publish_view();
        Ok(())
    }

    /// A handle for readers (the IXFR responder, status and metrics) that
    /// never waits for this writer.
    pub fn reader(&self) -> JournalReader {
        self.reader.clone()
    }

    /// Shows readers the changesets as they are now (after they are
    /// durable). A copy of at most `max_changesets` pointers per change.
    fn publish_view(&self) {
        let changes = self.entries.iter().map(|e| e.change.clone()).collect();
        self.reader.publish(JournalView::new(changes, self.size));
    }

    /// The changesets leading from `serial` to the newest serial, oldest
    /// first; `None` when `serial` is not in the journal (the caller then
    /// sends the whole zone, RFC 1995 §2), `Some` of nothing when `serial`
    /// is the newest.
    ///
    /// Serials are matched exactly along the chain, not compared by
    /// RFC 1982 arithmetic. Should a serial occur twice in the chain (a
    /// zone set back to an older serial), the later occurrence is used:
    /// it gives the shorter list, and both lead to the same zone.
    pub fn changes_since(&self, serial: Serial) -> Option<Vec<Arc<Changeset>>> {
        if self.last_serial()? == serial {
            return Some(Vec::new());
        }
        let from = self
            .entries
            .iter()
            .rposition(|e| e.change.from_serial == serial)?;
        Some(
            self.entries
                .iter()
                .skip(from)
                .map(|e| e.change.clone())
                .collect(),
        )
    }

    /// Drops every changeset (atomically, like any rewrite): the zone
    /// starts a new history, e.g. when it changed while the server was
    /// stopped and the change cannot be computed.
    pub fn clear(&mut self) -> Result<(), JournalError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        self.rewrite(self.entries.len(), None)
    }

    /// The serial the oldest changeset starts from.
    pub fn first_serial(&self) -> Option<Serial> {
        self.entries.front().map(|e| e.change.from_serial)
    }

    /// The serial the newest changeset leads to.
    pub fn last_serial(&self) -> Option<Serial> {
        self.entries.back().map(|e| e.change.to_serial)
    }

    /// Number of changesets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Size of the file in octets, header included.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Index of the oldest changeset to keep so that the journal plus
    /// `more` changesets of `more_bytes` octets fit the limits.
    fn first_kept(&self, more: usize, more_bytes: u64) -> usize {
        let floor = self
            .floor
            .and_then(|s| self.entries.iter().rposition(|e| e.change.from_serial == s))
            .unwrap_or(usize::MAX);
        let mut from = 0;
        let mut size = self.size + more_bytes;
        while let Some(e) = self.entries.get(from) {
            if from >= floor
                || self.entries.len() - from + more <= self.limits.max_changesets
                    && size <= self.limits.max_bytes
            {
                break;
            }
            size -= e.len;
            from += 1;
        }
        from
    }

    /// Replaces the file with one holding the changesets from index
    /// `keep_from` on, then `new` if given. The new file is written beside
    /// the journal and renamed over it only once complete and synced, so a
    /// crash leaves either the old journal or the new one. In-memory state
    /// changes only once the rename is durable.
    fn rewrite(
        &mut self,
        keep_from: usize,
        new: Option<(&Changeset, &[u8])>,
    ) -> Result<(), JournalError> {
        let temp = temp_path(&self.path);
        let io_err = |what| {
            let path = temp.clone();
            move |source| JournalError::Io { path, what, source }
        };
        let copy_from = self.entries.get(keep_from).map_or(self.size, |e| e.offset);
        let copy_len = self.size - copy_from;
        let mut out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(io_err("creating the rewrite"))?;
        let mut contents = codec::header().to_vec();
        // The frames kept are copied as they are on disk; they were checked
        // when the journal was opened or written by this process.
        let mut src = &self.file;
        src.seek(SeekFrom::Start(copy_from))
            .and_then(|_| src.take(copy_len).read_to_end(&mut contents))
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                what: "reading frames to keep",
                source,
            })?;
        if let Some((_, frame)) = new {
            contents.extend_from_slice(frame);
        }
        #[cfg(test)]
        if self.crash == Some(Crash::InTempFile) {
            let half = contents.get(..contents.len() / 2).unwrap_or(&[]);
            out.write_all(half).map_err(io_err("writing the rewrite"))?;
            return Err(simulated_crash(&temp));
        }
        out.write_all(&contents)
            .map_err(io_err("writing the rewrite"))?;
        out.sync_all().map_err(io_err("syncing the rewrite"))?;
        #[cfg(test)]
        if self.crash == Some(Crash::BeforeRename) {
            return Err(simulated_crash(&temp));
        }
        fs::rename(&temp, &self.path).map_err(io_err("renaming the rewrite over the journal"))?;
        // From here the new file is the journal: memory must follow it even
        // if the directory sync below fails, or later appends would go to
        // the old, unlinked file. The temporary file's handle is now the
        // journal's.
        self.file = out;
        self.unsynced = false;
        self.entries.drain(..keep_from.min(self.entries.len()));
        let shift = copy_from - HEADER_LEN as u64;
        for e in &mut self.entries {
            e.offset -= shift;
        }
        self.size = contents.len() as u64;
        if let Some((change, frame)) = new {
            self.entries.push_back(Entry {
                change: Arc::new(change.clone()),
                offset: self.size - frame.len() as u64,
                len: frame.len() as u64,
            });
        }
        self.publish_view();
        sync_dir(&self.path).map_err(|source| JournalError::Io {
            path: self.path.clone(),
            what: "syncing the directory after the rewrite (the rewrite is in force but may not survive a crash)",
            source,
        })?;
        Ok(())
    }
}

#[cfg(test)]
fn simulated_crash(temp: &Path) -> JournalError {
    JournalError::Io {
        path: temp.to_path_buf(),
        what: "simulated crash",
        source: io::Error::other("crash"),
    }
}

/// Reads the frames after the header, up to the first one that is torn,
/// corrupt or off the chain. Returns them and the end of the last good
/// one.
fn read_frames(path: &Path, buf: &[u8], warnings: &mut Vec<String>) -> (VecDeque<Entry>, usize) {
    let mut entries: VecDeque<Entry> = VecDeque::new();
    let mut at = HEADER_LEN;
    while let Some(rest) = buf.get(at..).filter(|r| !r.is_empty()) {
        let dropped = rest.len();
        let problem = match codec::read_frame(rest) {
            Frame::Good(change, len) => match entries.back() {
                Some(prev) if prev.change.to_serial != change.from_serial => format!(
                    "changeset {} -> {} does not follow serial {}",
                    change.from_serial, change.to_serial, prev.change.to_serial
                ),
                _ => {
                    entries.push_back(Entry {
                        change: Arc::new(change),
                        offset: at as u64,
                        len: len as u64,
                    });
                    at += len;
                    continue;
                }
            },
            Frame::Torn => "frame cut short (torn write)".to_string(),
            Frame::Corrupt(why) => why.to_string(),
        };
        warnings.push(format!(
            "{}: frame at offset {at}: {problem}; dropped it and everything after it ({dropped} octets)",
            path.display()
        ));
        break;
    }
    (entries, at)
}

#[cfg(test)]
mod tests {
    /// The writer's answer, checked against what readers see.
    fn since(j: &Journal, serial: Serial) -> Option<Vec<Changeset>> {
        let owned = |v: &[Arc<Changeset>]| v.iter().map(|c| Changeset::clone(c)).collect();
        let written: Option<Vec<Changeset>> = j.changes_since(serial).map(|v| owned(&v));
        let view = j.reader().load_full();
        let read: Option<Vec<Changeset>> = view.changes_since(serial).map(owned);
        assert_eq!(written, read, "readers see another journal than the writer");
        assert_eq!(
            (
                view.len(),
                view.size_bytes(),
                view.first_serial(),
                view.last_serial()
            ),
            (j.len(), j.size_bytes(), j.first_serial(), j.last_serial())
        );
        written
    }

    use super::*;
    use crate::journal::Record;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory per test, removed when dropped.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "zonesync-journal-{}-{n}-{name}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn journal(&self) -> PathBuf {
            self.0.join("zone.jnl")
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn rec(rtype: u16, rdata: &[u8]) -> Record {
        Record {
            owner: b"\x03www\x07example\0".to_vec(),
            rtype,
            ttl: 300,
            rdata: rdata.to_vec(),
        }
    }

    fn cs(from: u32, to: u32) -> Changeset {
        Changeset {
            from_serial: Serial(from),
            to_serial: Serial(to),
            old_soa: rec(6, &from.to_be_bytes()),
            new_soa: rec(6, &to.to_be_bytes()),
            removed: vec![rec(1, &from.to_be_bytes())],
            added: vec![rec(1, &to.to_be_bytes()), rec(16, b"\x04text")],
        }
    }

    fn frame_len(c: &Changeset) -> u64 {
        codec::encode_frame(c).unwrap().len() as u64
    }

    fn open(path: &Path) -> (Journal, Vec<String>) {
        Journal::open(path, JournalLimits::default()).unwrap()
    }

    fn filled(path: &Path, limits: JournalLimits, serials: &[u32]) -> Journal {
        let (mut j, w) = Journal::open(path, limits).unwrap();
        assert!(w.is_empty(), "{w:?}");
        for pair in serials.windows(2) {
            j.append(&cs(pair[0], pair[1])).unwrap();
        }
        j
    }

    fn file_len(path: &Path) -> u64 {
        fs::metadata(path).unwrap().len()
    }

    #[test]
    fn appended_changesets_survive_reopening() {
        let dir = TempDir::new("roundtrip");
        let path = dir.journal();
        let j = filled(&path, JournalLimits::default(), &[1, 2, 3, 4]);
        let size = j.size_bytes();
        assert_eq!(size, file_len(&path));
        drop(j);
        let (j, warnings) = open(&path);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!((j.len(), j.size_bytes()), (3, size));
        assert_eq!(
            (j.first_serial(), j.last_serial()),
            (Some(Serial(1)), Some(Serial(4)))
        );
        assert_eq!(
            since(&j, Serial(1)),
            Some(vec![cs(1, 2), cs(2, 3), cs(3, 4)])
        );
    }

    #[test]
    fn changesets_from_the_floor_on_outlive_the_limits_until_it_is_lifted() {
        let dir = TempDir::new("floor");
        let limits = JournalLimits {
            max_bytes: u64::MAX,
            max_changesets: 2,
        };
        let mut j = filled(&dir.journal(), limits, &[1, 2, 3]);
        j.keep_from_serial(Some(Serial(2)));
        for (from, to) in [(3, 4), (4, 5)] {
            j.append(&cs(from, to)).unwrap();
        }
        assert_eq!(
            (j.first_serial(), j.len()),
            (Some(Serial(2)), 3),
            "2->3 onwards kept"
        );
        // Kept on disk too.
        let (reopened, _) = Journal::open_keeping(&dir.journal(), limits, Some(Serial(2))).unwrap();
        assert_eq!(
            (reopened.first_serial(), reopened.len()),
            (Some(Serial(2)), 3)
        );
        j.keep_from_serial(None);
        j.append(&cs(5, 6)).unwrap();
        assert_eq!(
            (j.first_serial(), j.len()),
            (Some(Serial(4)), 2),
            "the limits again"
        );
    }

    #[test]
    fn a_burst_appended_at_once_reads_back_like_one_by_one() {
        let dir = TempDir::new("burst");
        let (mut j, _) = open(&dir.journal());
        let (a, b, c) = (cs(1, 2), cs(2, 3), cs(3, 4));
        j.append_all(&[&a, &b, &c]).unwrap();
        assert_eq!(
            (j.first_serial(), j.last_serial(), j.len()),
            (Some(Serial(1)), Some(Serial(4)), 3)
        );
        let (reopened, warnings) = open(&dir.journal());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(reopened.changes_since(Serial(1)).unwrap().len(), 3);
        assert_eq!(file_len(&dir.journal()), j.size_bytes());
        // Past the limits: one by one, the oldest dropped as usual.
        let limits = JournalLimits {
            max_bytes: u64::MAX,
            max_changesets: 2,
        };
        let other = TempDir::new("burst-small");
        let mut small = filled(&other.journal(), limits, &[1, 2, 3]);
        small.append_all(&[&cs(3, 4), &cs(4, 5)]).unwrap();
        assert_eq!((small.first_serial(), small.len()), (Some(Serial(3)), 2));
    }

    #[test]
    fn a_new_journal_is_an_empty_header() {
        let dir = TempDir::new("new");
        let (j, warnings) = open(&dir.journal());
        assert!(warnings.is_empty() && j.is_empty());
        assert_eq!((j.first_serial(), j.last_serial()), (None, None));
        assert_eq!(since(&j, Serial(1)), None);
        assert_eq!(file_len(&dir.journal()), HEADER_LEN as u64);
    }

    #[test]
    fn changes_since_follows_the_chain_from_the_given_serial() {
        let dir = TempDir::new("since");
        let j = filled(&dir.journal(), JournalLimits::default(), &[10, 20, 30, 40]);
        assert_eq!(
            since(&j, Serial(10)),
            Some(vec![cs(10, 20), cs(20, 30), cs(30, 40)])
        );
        assert_eq!(since(&j, Serial(20)), Some(vec![cs(20, 30), cs(30, 40)]));
        assert_eq!(since(&j, Serial(40)), Some(vec![]));
        assert_eq!(since(&j, Serial(25)), None);
        // Exact matches, not RFC 1982 order: an older serial is unknown.
        assert_eq!(since(&j, Serial(5)), None);
    }

    #[test]
    fn a_serial_seen_twice_uses_its_latest_place_in_the_chain() {
        let dir = TempDir::new("twice");
        let j = filled(&dir.journal(), JournalLimits::default(), &[1, 2, 1, 3]);
        assert_eq!(since(&j, Serial(1)), Some(vec![cs(1, 3)]));
        assert_eq!(since(&j, Serial(2)), Some(vec![cs(2, 1), cs(1, 3)]));
    }

    #[test]
    fn a_torn_last_frame_is_dropped_and_cut_off_the_file() {
        let dir = TempDir::new("torn");
        let path = dir.journal();
        let j = filled(&path, JournalLimits::default(), &[1, 2, 3, 4]);
        let good = HEADER_LEN as u64 + frame_len(&cs(1, 2)) + frame_len(&cs(2, 3));
        let full = j.size_bytes();
        drop(j);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(full - 5)
            .unwrap();
        let (mut j, warnings) = open(&path);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("cut short"), "{warnings:?}");
        assert!(warnings[0].contains("zone.jnl"), "{warnings:?}");
        assert_eq!((j.len(), j.last_serial()), (2, Some(Serial(3))));
        assert_eq!(since(&j, Serial(3)), Some(vec![]));
        assert_eq!(since(&j, Serial(4)), None);
        assert_eq!(file_len(&path), good);
        // Appending goes on from the last good frame.
        j.append(&cs(3, 4)).unwrap();
        drop(j);
        let (j, warnings) = open(&path);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(since(&j, Serial(1)).map(|c| c.len()), Some(3));
    }

    #[test]
    fn a_damaged_middle_frame_is_dropped_with_everything_after_it() {
        let dir = TempDir::new("flipped");
        let path = dir.journal();
        drop(filled(&path, JournalLimits::default(), &[1, 2, 3, 4]));
        let first_end = HEADER_LEN as u64 + frame_len(&cs(1, 2));
        let mut bytes = fs::read(&path).unwrap();
        // A byte inside the second frame's payload.
        bytes[first_end as usize + 20] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let (j, warnings) = open(&path);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("checksum"), "{warnings:?}");
        assert!(
            warnings[0].contains(&format!("offset {first_end}")),
            "{warnings:?}"
        );
        assert_eq!(since(&j, Serial(1)), Some(vec![cs(1, 2)]));
        assert_eq!(since(&j, Serial(3)), None);
        assert_eq!(file_len(&path), first_end);
    }

    #[test]
    fn a_frame_that_breaks_the_chain_is_dropped_on_open() {
        let dir = TempDir::new("chain");
        let path = dir.journal();
        let mut bytes = codec::header().to_vec();
        bytes.extend(codec::encode_frame(&cs(1, 2)).unwrap());
        bytes.extend(codec::encode_frame(&cs(5, 6)).unwrap());
        fs::write(&path, &bytes).unwrap();
        let (j, warnings) = open(&path);
        assert!(
            warnings[0].contains("does not follow serial 2"),
            "{warnings:?}"
        );
        assert_eq!((j.len(), j.last_serial()), (1, Some(Serial(2))));
    }

    #[test]
    fn a_cut_short_header_starts_a_fresh_journal() {
        let dir = TempDir::new("header");
        let path = dir.journal();
        fs::write(&path, &codec::MAGIC[..5]).unwrap();
        let (j, warnings) = open(&path);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(j.is_empty());
        assert_eq!(file_len(&path), HEADER_LEN as u64);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_and_left_alone() {
        let dir = TempDir::new("foreign");
        let path = dir.journal();
        fs::write(&path, b"$ORIGIN example.\n").unwrap();
        let err = Journal::open(&path, JournalLimits::default()).unwrap_err();
        assert!(matches!(err, JournalError::NotAJournal { .. }), "{err}");
        assert!(err.to_string().contains("zone.jnl"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"$ORIGIN example.\n");
        let mut other_version = codec::MAGIC.to_vec();
        other_version.extend(9u32.to_be_bytes());
        fs::write(&path, &other_version).unwrap();
        let err = Journal::open(&path, JournalLimits::default()).unwrap_err();
        assert!(
            matches!(err, JournalError::UnsupportedVersion { version: 9, .. }),
            "{err}"
        );
    }

    #[test]
    fn the_changeset_limit_drops_the_oldest() {
        let dir = TempDir::new("count");
        let path = dir.journal();
        let limits = JournalLimits {
            max_changesets: 3,
            ..JournalLimits::default()
        };
        let j = filled(&path, limits, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            (j.len(), j.first_serial(), j.last_serial()),
            (3, Some(Serial(3)), Some(Serial(6)))
        );
        assert_eq!(since(&j, Serial(2)), None);
        assert_eq!(j.size_bytes(), file_len(&path));
        drop(j);
        let (j, warnings) = Journal::open(&path, limits).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            since(&j, Serial(3)),
            Some(vec![cs(3, 4), cs(4, 5), cs(5, 6)])
        );
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn the_byte_limit_drops_the_oldest() {
        let dir = TempDir::new("bytes");
        let path = dir.journal();
        let limits = JournalLimits {
            max_bytes: HEADER_LEN as u64 + 2 * frame_len(&cs(1, 2)),
            max_changesets: 1000,
        };
        let j = filled(&path, limits, &[1, 2, 3, 4, 5]);
        assert_eq!((j.len(), j.first_serial()), (2, Some(Serial(3))));
        assert!(j.size_bytes() <= limits.max_bytes);
        assert_eq!(j.size_bytes(), file_len(&path));
        assert_eq!(since(&j, Serial(3)), Some(vec![cs(3, 4), cs(4, 5)]));
    }

    #[test]
    fn opening_with_smaller_limits_drops_the_oldest() {
        let dir = TempDir::new("shrink");
        let path = dir.journal();
        drop(filled(&path, JournalLimits::default(), &[1, 2, 3, 4, 5]));
        let limits = JournalLimits {
            max_changesets: 2,
            ..JournalLimits::default()
        };
        let (j, warnings) = Journal::open(&path, limits).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(since(&j, Serial(3)), Some(vec![cs(3, 4), cs(4, 5)]));
        drop(j);
        let (j, warnings) = Journal::open(&path, limits).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(j.len(), 2);
    }

    #[test]
    fn a_changeset_larger_than_the_byte_limit_empties_the_journal() {
        let dir = TempDir::new("huge");
        let path = dir.journal();
        let limits = JournalLimits {
            max_bytes: HEADER_LEN as u64 + frame_len(&cs(1, 2)),
            max_changesets: 1000,
        };
        let mut j = filled(&path, limits, &[1, 2]);
        let mut big = cs(2, 3);
        big.added.push(rec(16, &[7; 200]));
        j.append(&big).unwrap();
        assert!(j.is_empty());
        assert_eq!(since(&j, Serial(2)), None);
        assert_eq!(file_len(&path), HEADER_LEN as u64);
    }

    #[test]
    fn a_gap_in_serials_starts_a_new_history() {
        let dir = TempDir::new("gap");
        let path = dir.journal();
        let mut j = filled(&path, JournalLimits::default(), &[1, 2, 3]);
        j.append(&cs(10, 11)).unwrap();
        assert_eq!(
            (j.len(), j.first_serial(), j.last_serial()),
            (1, Some(Serial(10)), Some(Serial(11)))
        );
        assert_eq!(since(&j, Serial(1)), None);
        assert_eq!(since(&j, Serial(3)), None);
        j.append(&cs(11, 12)).unwrap();
        drop(j);
        let (j, warnings) = open(&path);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(since(&j, Serial(10)), Some(vec![cs(10, 11), cs(11, 12)]));
        assert_eq!(j.size_bytes(), file_len(&path));
    }

    /// A rewrite interrupted at `crash` must leave the old journal in
    /// force, in memory and on disk, and be cleaned up on the next open.
    fn rewrite_interrupted(crash: Crash) {
        let dir = TempDir::new(&format!("{crash:?}"));
        let path = dir.journal();
        let limits = JournalLimits {
            max_changesets: 3,
            ..JournalLimits::default()
        };
        let mut j = filled(&path, limits, &[1, 2, 3, 4]);
        let before = fs::read(&path).unwrap();
        j.crash = Some(crash);
        // Both a dropped-oldest and a new-history rewrite.
        for change in [cs(4, 5), cs(9, 10)] {
            assert!(j.append(&change).is_err());
            assert!(temp_path(&path).exists());
            assert_eq!(fs::read(&path).unwrap(), before);
            assert_eq!(
                since(&j, Serial(1)),
                Some(vec![cs(1, 2), cs(2, 3), cs(3, 4)])
            );
        }
        drop(j);
        let (mut j, warnings) = Journal::open(&path, limits).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("unfinished rewrite"), "{warnings:?}");
        assert!(!temp_path(&path).exists());
        assert_eq!(
            since(&j, Serial(1)),
            Some(vec![cs(1, 2), cs(2, 3), cs(3, 4)])
        );
        // And the rewrite succeeds when it is not interrupted.
        j.append(&cs(4, 5)).unwrap();
        assert_eq!(
            since(&j, Serial(2)),
            Some(vec![cs(2, 3), cs(3, 4), cs(4, 5)])
        );
        drop(j);
        let (j, warnings) = Journal::open(&path, limits).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(since(&j, Serial(2)).map(|c| c.len()), Some(3));
    }

    #[test]
    fn a_reader_taken_before_changes_sees_them() {
        let dir = TempDir::new("reader");
        let path = dir.journal();
        let limits = JournalLimits {
            max_changesets: 2,
            ..JournalLimits::default()
        };
        let (mut j, _) = Journal::open(&path, limits).unwrap();
        let reader = j.reader();
        let before = reader.load_full();
        assert!(before.is_empty());
        j.append(&cs(1, 2)).unwrap();
        j.append(&cs(2, 3)).unwrap();
        j.append(&cs(3, 4)).unwrap(); // trims: a rewrite
        let now = reader.load();
        assert_eq!(now.changes_since(Serial(2)).map(<[_]>::len), Some(2));
        assert_eq!(now.changes_since(Serial(1)), None, "trimmed away");
        assert_eq!(now.changes_since(Serial(4)).map(<[_]>::len), Some(0));
        assert!(before.is_empty(), "a view once taken never changes");
        j.clear().unwrap();
        assert!(reader.load().is_empty());
        assert_eq!(reader.load().size_bytes(), HEADER_LEN as u64);
    }

    #[test]
    fn a_crash_while_writing_the_rewrite_keeps_the_old_journal() {
        rewrite_interrupted(Crash::InTempFile);
    }

    #[test]
    fn a_complete_rewrite_that_was_not_renamed_is_not_the_journal() {
        rewrite_interrupted(Crash::BeforeRename);
    }

    #[test]
    fn appends_after_a_rewrite_land_in_the_new_file() {
        let dir = TempDir::new("after-rewrite");
        let path = dir.journal();
        let mut j = filled(&path, JournalLimits::default(), &[1, 2, 3]);
        j.append(&cs(7, 8)).unwrap();
        j.append(&cs(8, 9)).unwrap();
        j.append(&cs(9, 10)).unwrap();
        assert_eq!(j.size_bytes(), file_len(&path));
        drop(j);
        let (j, warnings) = open(&path);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            since(&j, Serial(7)),
            Some(vec![cs(7, 8), cs(8, 9), cs(9, 10)])
        );
    }
}
