//! Reloading a large zone file by parsing only the chunks that changed.
//!
//! After a full load of a file of at least [`MIN_BYTES`], the server keeps
//! a [`FileImage`]: the version the file gave (before any serial policy),
//! its content digest, the file's chunks with the parser state at each
//! (`zonefile::chunks`), and a copy of its text in `data_dir` (not in
//! memory: the copy is read back only by the next reload). A reload then
//! cuts the new text into chunks, finds each unchanged one again in the
//! copy, parses only the new chunks (records added) and the old chunks not
//! found again (records removed), and applies that changeset to the
//! image's version (`ZoneVersion::apply`, which keeps the builder's rules).
//! A one-record change to a 1,000,000-record file parses about 2 KiB
//! instead of 27 MB.
//!
//! The result must be exactly what a full load of the new file gives, or
//! the reload is done whole. It is done whole when: a changed chunk has
//! any error or warning, or an `$INCLUDE`; more than a quarter of the file
//! changed; the copy is missing or damaged (each chunk's CRC); the
//! changeset would make the builder warn (an RRset whose records'
//! TTLs differ, data at a delegation point that is not served, DNAME
//! anywhere in it); `apply` refuses it (a duplicate, a rule broken); the
//! counts do not add up. The full load then reports any problem with its
//! file and line. An image is only made from a load with no warning, one
//! file (no `$INCLUDE`), no duplicate record and no DNAME, so that the
//! records of the file and of the version are the same set.

use crate::journal::{Changeset, Record};
use crate::name;
use crate::zone::{node_digest, rtype, soa_serial, Node, ZoneVersion};
use crate::zonefile::chunks::{self, Chunking, ParseState};
use crate::zonefile::{ParseOptions, ZoneFileRecord};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Files smaller than this are always loaded whole: they load in a few
/// milliseconds anyway, and a copy of each of thousands of small zones
/// would double the files in `data_dir`.
pub const MIN_BYTES: usize = 64 * 1024;

/// What a reload of a zone file starts from (see the module
/// documentation).
pub struct FileImage {
    /// The zone file it describes.
    path: PathBuf,
    /// The version the file gave, before any serial policy.
    version: ZoneVersion,
    digest: u128,
    chunking: Chunking,
    /// The copy of the file's text.
    copy: PathBuf,
}

/// An image not yet in use: kept ([`Pending::keep`]) once its version is
/// served, so that a reload that is refused leaves the image of the file
/// still served. Its copy is written beside the one in use (never synced:
/// a copy damaged by a crash fails its CRCs and the next reload is
/// whole), and renamed over it when kept.
pub struct Pending {
    image: FileImage,
    text: Text,
}

/// The text of a pending image.
pub(super) enum Text {
    Held(Vec<u8>),
    /// Written already, to this file.
    Written(PathBuf),
}

impl Pending {
    /// An image of the file read as `text`, its version `version`.
    pub(super) fn new(
        path: &Path,
        version: &ZoneVersion,
        digest: u128,
        chunking: Chunking,
        copy: &Path,
        text: Text,
    ) -> Pending {
        Pending {
            image: FileImage {
                path: path.to_path_buf(),
                version: version.share(),
                digest,
                chunking,
                copy: copy.to_path_buf(),
            },
            text,
        }
    }

    /// Writes the copy and gives the image.
    pub fn keep(self) -> std::io::Result<FileImage> {
        let written = match self.text {
            Text::Held(bytes) => write_new(&self.image.copy, &bytes)?,
            Text::Written(path) => path,
        };
        std::fs::rename(&written, &self.image.copy)?;
        Ok(self.image)
    }
}

/// Writes `bytes` as the next copy; its path.
fn write_new(copy: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let next = copy.with_extension("text.next");
    std::fs::write(&next, bytes)?;
    Ok(next)
}

/// The text of an image made by a whole load: written at once, so that a
/// large file's text is not held beside the zone while it is built.
pub(super) fn written_text(copy: &Path, bytes: Vec<u8>) -> std::io::Result<Text> {
    write_new(copy, &bytes).map(Text::Written)
}

/// The text of an image made by a reload by chunks, written when kept.
pub(super) fn held_text(bytes: Vec<u8>) -> Text {
    Text::Held(bytes)
}

/// A reload done by chunks.
pub(super) struct Reloaded {
    pub version: ZoneVersion,
    pub digest: u128,
    pub chunking: Chunking,
    /// Chunks parsed (new and old), of how many in the new file.
    pub parsed: usize,
    pub chunks: usize,
}

/// Why a reload is done whole instead; for the log.
#[derive(Debug)]
pub(super) struct Whole(pub String);

fn whole<T>(why: impl Into<String>) -> Result<T, Whole> {
    Err(Whole(why.into()))
}

/// Reloads `path`, whose new text is `bytes`, from `image`.
pub(super) fn reload(
    path: &Path,
    bytes: &[u8],
    opts: &ParseOptions,
    image: &FileImage,
) -> Result<Reloaded, Whole> {
    if image.path != path {
        return whole("the zone's file is another one");
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return whole("the file is not UTF-8");
    };
    let old_text = match std::fs::read(&image.copy) {
        Ok(t) if t.len() == image.chunking.text_len => t,
        Ok(_) => return whole("the copy of the previous file has another length"),
        Err(e) => return whole(format!("the copy of the previous file: {e}")),
    };
    let old = &image.chunking;
    let pieces = chunks::cut(bytes);
    let mut by_crc: HashMap<(u32, usize), Vec<usize>> = HashMap::with_capacity(old.pieces.len());
    for (j, p) in old.pieces.iter().enumerate() {
        by_crc.entry((p.crc, p.len)).or_default().push(j);
    }
    let budget = bytes.len() / 4;
    let mut spent = 0usize;
    let mut parsed = 0usize;
    let mut used = vec![false; old.pieces.len()];
    let mut state = ParseState::initial(opts);
    let mut states = Vec::with_capacity(pieces.len() + 1);
    let mut added: Vec<ZoneFileRecord> = Vec::new();
    for piece in &pieces {
        states.push(state.clone());
        let new_bytes = piece.bytes(bytes).unwrap_or_default();
        // Found again: the same bytes (so the same CRC, which checks the
        // copy), starting in the same state.
        let found = by_crc.get(&(piece.crc, piece.len)).and_then(|js| {
            js.iter().copied().find(|&j| {
                !used[j]
                    && old.states.get(j) == Some(&state)
                    && old.pieces[j].bytes(&old_text) == Some(new_bytes)
            })
        });
        if let Some(j) = found {
            used[j] = true;
            let Some(after) = old.state_after(j) else {
                return whole("chunk states missing");
            };
            state = after.clone();
            continue;
        }
        spent += piece.len;
        parsed += 1;
        if spent > budget {
            return whole("more than a quarter of the file changed");
        }
        let Some(chunk) = text.get(piece.offset..piece.offset + piece.len) else {
            return whole("a chunk outside the text");
        };
        state = chunks::parse_chunk(chunk, piece.line, &state, path, opts, &mut |r| {
            added.push(r.to_record())
        })
        .or_else(|_| whole("a changed part has a problem"))?;
    }
    states.push(state);
    let mut removed: Vec<ZoneFileRecord> = Vec::new();
    for (j, p) in old.pieces.iter().enumerate() {
        if used[j] {
            continue;
        }
        let Some(b) = p.bytes(&old_text) else {
            return whole("a chunk outside the copy");
        };
        if crc32fast::hash(b) != p.crc {
            return whole("the copy of the previous file is damaged");
        }
        spent += p.len;
        parsed += 1;
        if spent > budget {
            return whole("more than a quarter of the file changed");
        }
        let (Ok(chunk), Some(st)) = (std::str::from_utf8(b), old.states.get(j)) else {
            return whole("the copy of the previous file is damaged");
        };
        chunks::parse_chunk(chunk, p.line, st, path, opts, &mut |r| {
            removed.push(r.to_record())
        })
        .or_else(|_| whole("an old chunk does not parse again"))?;
    }
    let change = changeset(&image.version, removed, added)?;
    check_rules(&image.version, &change)?;
    let version = image
        .version
        .apply(&change)
        .or_else(|e| whole(format!("the change does not apply: {e}")))?;
    let expected =
        (image.version.record_count() + change.added.len()).checked_sub(change.removed.len());
    if expected != Some(version.record_count()) {
        return whole("the record counts do not add up");
    }
    let digest = moved_digest(image.digest, &image.version, &version, &change);
    let chunk_count = pieces.len();
    Ok(Reloaded {
        version,
        digest,
        chunking: Chunking {
            pieces,
            states,
            text_len: bytes.len(),
        },
        parsed,
        chunks: chunk_count,
    })
}

/// A record as a changeset holds it: the owner in lower case.
fn record(r: ZoneFileRecord) -> Record {
    let mut owner = r.owner;
    name::make_lowercase(&mut owner);
    Record {
        owner,
        rtype: r.rtype,
        ttl: r.ttl,
        rdata: r.rdata,
    }
}

/// The changeset from the records of the old chunks parsed to those of
/// the new ones: records in both cancel out; the SOA frames it.
fn changeset(
    old: &ZoneVersion,
    removed: Vec<ZoneFileRecord>,
    added: Vec<ZoneFileRecord>,
) -> Result<Changeset, Whole> {
    let order = |a: &Record, b: &Record| {
        (&a.owner, a.rtype, &a.rdata, a.ttl).cmp(&(&b.owner, b.rtype, &b.rdata, b.ttl))
    };
    let mut gone: Vec<Record> = removed.into_iter().map(record).collect();
    let mut new: Vec<Record> = added.into_iter().map(record).collect();
    gone.sort_unstable_by(order);
    new.sort_unstable_by(order);
    for list in [&gone, &new] {
        let twice = list.windows(2).any(|w| {
            (&w[0].owner, w[0].rtype, &w[0].rdata) == (&w[1].owner, w[1].rtype, &w[1].rdata)
        });
        if twice {
            return whole("a record appears twice");
        }
    }
    // Cancel what both hold (merge of two sorted lists).
    let (mut r, mut a) = (Vec::new(), Vec::new());
    let (mut gi, mut ni) = (gone.into_iter().peekable(), new.into_iter().peekable());
    loop {
        match (gi.peek(), ni.peek()) {
            (Some(x), Some(y)) => match order(x, y) {
                std::cmp::Ordering::Equal => {
                    gi.next();
                    ni.next();
                }
                std::cmp::Ordering::Less => r.extend(gi.next()),
                std::cmp::Ordering::Greater => a.extend(ni.next()),
            },
            (Some(_), None) => r.extend(gi.next()),
            (None, Some(_)) => a.extend(ni.next()),
            (None, None) => break,
        }
    }
    let old_soa = soa_of(old).ok_or_else(|| Whole("the version has no SOA".into()))?;
    let take_soa = |list: &mut Vec<Record>| -> Vec<Record> {
        let (soa, rest): (Vec<Record>, Vec<Record>) = std::mem::take(list)
            .into_iter()
            .partition(|x| x.rtype == rtype::SOA);
        *list = rest;
        soa
    };
    let (gone_soa, new_soa) = (take_soa(&mut r), take_soa(&mut a));
    let new_soa = match (gone_soa.as_slice(), new_soa.as_slice()) {
        ([], []) => old_soa.clone(),
        ([g], [n]) if *g == old_soa && n.owner == old_soa.owner => n.clone(),
        _ => return whole("the SOA changed in a way only a full load reports"),
    };
    let Some(to_serial) = soa_serial(&new_soa.rdata) else {
        return whole("malformed SOA");
    };
    Ok(Changeset {
        from_serial: old.serial(),
        to_serial,
        old_soa,
        new_soa,
        removed: r,
        added: a,
    })
}

fn soa_of(v: &ZoneVersion) -> Option<Record> {
    let set = v.soa()?;
    let mut owner = v.origin().to_vec();
    name::make_lowercase(&mut owner);
    Some(Record {
        owner,
        rtype: rtype::SOA,
        ttl: set.ttl(),
        rdata: set.rdatas().next()?.to_vec(),
    })
}

/// The node of an owner name in a version.
fn node<'v>(v: &'v ZoneVersion, owner: &[u8]) -> Option<&'v Node> {
    let key = name::KeyBuf::new(owner)?;
    v.get(key.as_slice())
}

/// The type an RRSIG covers, or the record's own type.
fn covered(r: &Record) -> u16 {
    match (r.rtype, r.rdata.first(), r.rdata.get(1)) {
        (rtype::RRSIG, Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
        (t, ..) => t,
    }
}

/// Refuses (to a full load) what would make the builder warn, which
/// `apply` does not report the same way: a TTL that differs within an
/// RRset, data at a delegation point that is not served, and DNAME.
fn check_rules(old: &ZoneVersion, c: &Changeset) -> Result<(), Whole> {
    if c.removed
        .iter()
        .chain(&c.added)
        .any(|r| r.rtype == rtype::DNAME)
    {
        return whole("DNAME records changed");
    }
    // TTLs of the records added to each RRset (RRSIGs by type covered).
    let mut ttls: HashMap<(&[u8], u16, u16), u32> = HashMap::new();
    for r in &c.added {
        let key = (r.owner.as_slice(), r.rtype, covered(r));
        if *ttls.entry(key).or_insert(r.ttl) != r.ttl {
            return whole("records added to one RRset with different TTLs");
        }
    }
    for (&(owner, t, cov), &ttl) in &ttls {
        let Some(n) = node(old, owner) else { continue };
        if t == rtype::RRSIG {
            let sig_ttls = [
                n.rrset(cov).and_then(|s| s.sigs()).map(|s| s.ttl),
                n.rrset(rtype::RRSIG).map(|s| s.ttl()),
            ];
            if sig_ttls.iter().flatten().any(|&x| x != ttl) {
                return whole("RRSIGs added with another TTL than those present");
            }
            continue;
        }
        if let Some(set) = n.rrset(t) {
            let going = c
                .removed
                .iter()
                .filter(|r| r.owner == owner && r.rtype == t)
                .count();
            if set.len() > going && set.ttl() != ttl {
                return whole("a record added with another TTL than its RRset's");
            }
        }
    }
    // A delegation point serves only NS, DS, NSEC and glue addresses.
    let served = |t: u16| {
        matches!(
            t,
            rtype::NS | rtype::DS | rtype::NSEC | rtype::A | rtype::AAAA
        )
    };
    let apex = soa_of(old).map(|s| s.owner).unwrap_or_default();
    let owners: HashSet<&[u8]> = c.added.iter().map(|r| r.owner.as_slice()).collect();
    for owner in owners {
        if owner == apex.as_slice() {
            continue;
        }
        let mut types: Vec<u16> = c
            .added
            .iter()
            .filter(|r| r.owner == owner)
            .map(covered)
            .collect();
        if let Some(n) = node(old, owner) {
            types.extend(n.rrsets().map(|s| s.rtype()));
        }
        if types.contains(&rtype::NS) && !types.iter().all(|&t| served(t)) {
            return whole("data at a delegation point");
        }
    }
    Ok(())
}

/// The content digest of `new`, from `old`'s and the nodes the change
/// touched (the digest is a sum over nodes, see `zone::digest`).
fn moved_digest(digest: u128, old: &ZoneVersion, new: &ZoneVersion, c: &Changeset) -> u128 {
    let mut owners: Vec<&[u8]> = c
        .removed
        .iter()
        .chain(&c.added)
        .map(|r| r.owner.as_slice())
        .chain([c.new_soa.owner.as_slice()])
        .collect();
    owners.sort_unstable();
    owners.dedup();
    owners.into_iter().fold(digest, |d, owner| {
        let before = node(old, owner).map_or(0, node_digest);
        let after = node(new, owner).map_or(0, node_digest);
        d.wrapping_sub(before).wrapping_add(after)
    })
}

/// Where a zone's copy of its file is kept, beside its state file.
pub fn copy_path(state_file: &Path) -> PathBuf {
    state_file.with_extension("text")
}

#[cfg(test)]
#[path = "incremental_tests.rs"]
mod tests;
