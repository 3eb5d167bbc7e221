//! A zone's full content on disk: what a secondary serves after a restart
//! without transferring (the journal then brings it from the snapshot's
//! serial to the last one applied).
//!
//! # Format (version 1, big-endian)
//!
//! ```text
//! magic "ZSSNAPSH" ‖ version u32 ‖ origin length u16 ‖ origin (wire)
//! ‖ serial u32 ‖ record count u64 ‖ record* ‖ CRC-32 of all before it u32
//! record: as in the journal (owner length u16 ‖ owner ‖ type u16 ‖ TTL u32
//!         ‖ RDATA length u16 ‖ RDATA)
//! ```
//!
//! Written to `<path>.tmp`, fsynced and renamed over the snapshot (see
//! `durable`), so a crash leaves the old snapshot or the new one; a
//! snapshot whose checksum fails is rejected whole, never half-loaded.

use super::codec::put_fields;
use super::Record;
use crate::durable::{self, FileError};
use crate::zone::{ZoneBuilder, ZoneVersion};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"ZSSNAPSH";
const VERSION: u32 = 1;

/// Writes `version` to `path` atomically and durably.
pub fn write(path: &Path, version: &ZoneVersion) -> Result<(), FileError> {
    let err = |e: std::io::Error| FileError::io(path)(e);
    let temp = durable::temp_path(path);
    let file = File::create(&temp).map_err(err)?;
    let mut out = Hashed {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
    };
    let origin = version.origin();
    out.write_all(MAGIC).map_err(err)?;
    out.write_all(&VERSION.to_be_bytes()).map_err(err)?;
    out.write_all(&(origin.len() as u16).to_be_bytes())
        .map_err(err)?;
    out.write_all(origin).map_err(err)?;
    out.write_all(&version.serial().get().to_be_bytes())
        .map_err(err)?;
    // Counted first, then written straight from the version: a list of
    // the zone's records would double a large zone's memory while it is
    // written (the moment a secondary has just built it).
    let mut count: u64 = 0;
    each_record(version, |_, _, _, _| {
        count += 1;
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    out.write_all(&count.to_be_bytes()).map_err(err)?;
    let mut buf = Vec::with_capacity(512);
    each_record(version, |owner, rtype, ttl, rdata| {
        buf.clear();
        put_fields(&mut buf, owner, rtype, ttl, rdata).map_err(FileError::format(path))?;
        out.write_all(&buf).map_err(err)
    })?;
    let crc = out.crc.clone().finalize();
    let mut file = out.inner.into_inner().map_err(|e| err(e.into_error()))?;
    file.write_all(&crc.to_be_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(err)?;
    durable::sync_dir(path).map_err(err)
}

/// Reads the snapshot at `path` for the zone `origin`: `Ok(None)` when
/// there is none.
///
/// The file is read through a buffer, each record going into the zone
/// builder as it comes, so a large zone is never held twice (file and
/// builder); the version is returned only once the checksum of the whole
/// file holds. A checksum that fails is the error whatever else does.
pub fn read(path: &Path, origin: &[u8]) -> Result<Option<ZoneVersion>, FileError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FileError::io(path)(e)),
    };
    let bad = |why: &str| FileError::format(path)(format!("{why}; ignoring the snapshot"));
    let len = file.metadata().map_err(FileError::io(path))?.len();
    let body_len = len.checked_sub(4).ok_or_else(|| bad("too short"))?;
    let mut body = Hashed {
        inner: BufReader::with_capacity(1 << 20, file).take(body_len),
        crc: crc32fast::Hasher::new(),
    };
    let parsed = parse(&mut body, origin);
    // Whatever the parse found, the checksum is checked over the whole
    // body first: damage is reported as damage.
    std::io::copy(&mut body, &mut std::io::sink()).map_err(FileError::io(path))?;
    let mut stored = [0u8; 4];
    body.inner
        .into_inner()
        .read_exact(&mut stored)
        .map_err(|_| bad("too short"))?;
    if body.crc.finalize() != u32::from_be_bytes(stored) {
        return Err(bad("checksum mismatch (damaged or cut short)"));
    }
    let builder = parsed.map_err(|why| bad(&why))?;
    match builder.finish() {
        Ok((version, _warnings)) => Ok(Some(version)),
        Err(errors) => Err(bad(&format!(
            "does not build a valid zone: {}",
            errors.first().map(|e| e.to_string()).unwrap_or_default()
        ))),
    }
}

/// The snapshot's header and records, from `body` (the file without its
/// checksum), into a builder.
fn parse(body: &mut impl Read, origin: &[u8]) -> Result<ZoneBuilder, String> {
    let cut = |_| "cut short".to_owned();
    let mut magic = [0u8; 8];
    body.read_exact(&mut magic).map_err(cut)?;
    if &magic != MAGIC || read_u32(body).map_err(cut)? != VERSION {
        return Err("not a zonesync snapshot of this format version".into());
    }
    let origin_len = read_u16(body).map_err(cut)?;
    let mut stored_origin = vec![0u8; usize::from(origin_len)];
    body.read_exact(&mut stored_origin).map_err(cut)?;
    if !stored_origin.eq_ignore_ascii_case(origin) {
        return Err("the snapshot is of another zone".into());
    }
    let _serial = read_u32(body).map_err(cut)?;
    let mut count = [0u8; 8];
    body.read_exact(&mut count).map_err(cut)?;
    let count = u64::from_be_bytes(count);
    let mut builder = ZoneBuilder::new(origin).map_err(|e| e.to_string())?;
    let (mut owner, mut rdata) = (Vec::new(), Vec::new());
    let short = |_| "a record is cut short".to_owned();
    for _ in 0..count {
        let owner_len = read_u16(body).map_err(short)?;
        owner.resize(usize::from(owner_len), 0);
        body.read_exact(&mut owner).map_err(short)?;
        let rtype = read_u16(body).map_err(short)?;
        let ttl = read_u32(body).map_err(short)?;
        let rdata_len = read_u16(body).map_err(short)?;
        rdata.resize(usize::from(rdata_len), 0);
        body.read_exact(&mut rdata).map_err(short)?;
        builder.add(&owner, rtype, ttl, &rdata, None);
    }
    let mut more = [0u8; 1];
    if body.read(&mut more).map_err(|e| e.to_string())? != 0 {
        return Err("data after the last record".into());
    }
    Ok(builder)
}

fn read_u16(r: &mut impl Read) -> std::io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// Every record of the version, the apex SOA first.
pub fn all_records(version: &ZoneVersion) -> Vec<Record> {
    let mut out = Vec::with_capacity(version.record_count());
    each_record(version, |owner, rtype, ttl, rdata| {
        out.push(Record {
            owner: owner.to_vec(),
            rtype,
            ttl,
            rdata: rdata.to_vec(),
        });
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    out
}

/// Calls `f` with each record of the version (owner, type, TTL, RDATA),
/// the apex SOA first, RRSIGs after the RRset they cover; stops at its
/// first error.
fn each_record<E>(
    version: &ZoneVersion,
    mut f: impl FnMut(&[u8], u16, u32, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut owner = Vec::new();
    for node in version.nodes_ahead() {
        node.name_into(&mut owner);
        for set in node.rrsets() {
            for rdata in set.rdatas() {
                f(&owner, set.rtype(), set.ttl(), rdata)?;
            }
            if let Some(sigs) = set.sigs() {
                for rdata in sigs.rdatas() {
                    f(&owner, crate::zone::rtype::RRSIG, sigs.ttl, rdata)?;
                }
            }
        }
    }
    Ok(())
}

/// A writer (or reader) that checksums what passes through it.
struct Hashed<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::Serial;

    fn version(text: &str) -> ZoneVersion {
        let origin = crate::config::parse_zone_name("example.com").unwrap();
        let dir = std::env::temp_dir().join(format!("zonesync-snap-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("z.zone");
        std::fs::write(&file, text).unwrap();
        let opts = crate::loader::LoadOptions {
            include_anywhere: false,
        };
        crate::loader::load_zone_file(&file, &origin, &opts)
            .unwrap()
            .version
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let v = version(
            "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 host 7 1 1 1 1\n@ NS ns1\nns1 A 192.0.2.1\n\
             sub NS ns.sub\nns.sub A 192.0.2.2\nwww CNAME @\nt TXT \"x\"\n",
        );
        let dir = std::env::temp_dir().join(format!("zonesync-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("example.com.snapshot");
        let origin = v.origin().to_vec();
        assert!(read(&path, &origin).unwrap().is_none());
        write(&path, &v).unwrap();
        let back = read(&path, &origin).unwrap().unwrap();
        let d = crate::journal::diff(&v, &back);
        assert!(d.removed.is_empty() && d.added.is_empty() && d.old_soa == d.new_soa);
        assert_eq!(back.serial(), Serial(7));
        // Another zone's name is refused.
        assert!(read(
            &path,
            &crate::config::parse_zone_name("example.net").unwrap()
        )
        .is_err());
        // A flipped octet or a cut tail is refused whole.
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(&path, &origin)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        bytes[mid] ^= 1;
        bytes.truncate(bytes.len() - 9);
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(&path, &origin).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
