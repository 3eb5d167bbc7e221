//! Changing a delegation in the parent's zone file.
//!
//! A primary's zone file is its source of truth (ARCHITECTURE.md, "Loads,
//! the journal and restarts"), so a CSYNC change is made *in the file*
//! and then loaded like any edit: the journal, the serial, NOTIFY and the
//! secondaries' IXFR all follow from the one load path. The file is
//! edited, not regenerated, so the operator's layout and comments stay:
//! the lines of the records removed are dropped, the records added are
//! appended at the end under a comment, with absolute names and explicit
//! TTL and class, so no `$ORIGIN` or `$TTL` can change their meaning.
//!
//! Only edits that are certainly right are made. A removed record must be
//! on a line of the main file of its own (not in an `$INCLUDE`d file, not
//! spread over lines with parentheses, not one of a `$GENERATE`'s); a
//! line that inherits its owner from a removed line gets that owner
//! written out. Then the edited text is loaded and must give exactly the
//! zone served with the change applied (same records and TTLs, the SOA
//! serial aside), else nothing is written: the operator is told to make
//! the change by hand.

use super::delegation::{present, Change};
use crate::durable;
use crate::journal::Changeset;
use crate::loader::{self, LoadOptions};
use crate::name;
use crate::zone::{rtype, ZoneVersion};
use crate::zonefile::{parse_str_each, ParseOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Why the file was not edited. The file is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Io(String),
    #[error("{file}: {why}; make the change by hand")]
    Unsafe { file: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

/// Applies `change` to the zone file `file` (zone `origin`) whose content
/// is `served` (the version published, SOA serial aside): edits, checks
/// and atomically replaces the file. `note` becomes the comment above the
/// records added.
pub fn edit_zone_file(
    file: &Path,
    served: &ZoneVersion,
    opts: &LoadOptions,
    change: &Change,
    note: &str,
) -> Result<(), EditError> {
    let expected = expected_digest(served, change)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| EditError::Io(format!("{}: cannot read: {e}", file.display())))?;
    let edited = edit_text(&text, file, served.origin(), opts, change, note)?;
    let temp = durable::temp_path(file);
    std::fs::write(&temp, &edited)
        .map_err(|e| EditError::Io(format!("{}: cannot write: {e}", temp.display())))?;
    let checked = loader::load_zone_file(&temp, served.origin(), opts);
    let _ = std::fs::remove_file(&temp);
    let unsafe_edit = |why: String| EditError::Unsafe {
        file: file.display().to_string(),
        why,
    };
    match checked {
        Ok(loaded) if loaded.version.content_digest() == expected => {}
        Ok(_) => {
            return Err(unsafe_edit(
                "the edited file would not hold exactly the zone served with the change (was the file edited since it was loaded, or do records rely on an earlier line's TTL?)".into(),
            ))
        }
        Err(e) => {
            return Err(unsafe_edit(format!(
                "the edited file does not load: {}",
                e.errors.join("; ")
            )))
        }
    }
    durable::write_atomic(file, edited.as_bytes())
        .map_err(|e| EditError::Io(format!("{}: cannot replace: {e}", file.display())))
}

/// The content digest of `served` with `change` applied; also proves the
/// change is one the zone accepts (glue below the cut, no CNAME clash…).
fn expected_digest(served: &ZoneVersion, change: &Change) -> Result<u128, EditError> {
    let soa = served
        .soa()
        .and_then(|s| Some((s.ttl(), s.rdatas().next()?.to_vec())))
        .ok_or_else(|| EditError::Invalid("the zone has no SOA".into()))?;
    let soa = crate::journal::Record {
        owner: served.origin().to_vec(),
        rtype: rtype::SOA,
        ttl: soa.0,
        rdata: soa.1,
    };
    let changeset = Changeset {
        from_serial: served.serial(),
        to_serial: served.serial(),
        old_soa: soa.clone(),
        new_soa: soa,
        removed: change.removed.clone(),
        added: change.added.clone(),
    };
    let next = served
        .apply(&changeset)
        .map_err(|e| EditError::Invalid(format!("the change does not apply to the zone: {e}")))?;
    Ok(next.content_digest())
}

/// A record as compared here: lower-case owner, type, RDATA with NS
/// targets lower-cased.
type RecordKey = (Vec<u8>, u16, Vec<u8>);

fn key(owner: &[u8], t: u16, rdata: &[u8]) -> RecordKey {
    (
        super::delegation::lower(owner),
        t,
        super::delegation::canonical_rdata(t, rdata),
    )
}

/// The edited text (see the module documentation); `file` names the text
/// in positions and messages.
pub fn edit_text(
    text: &str,
    file: &Path,
    origin: &[u8],
    opts: &LoadOptions,
    change: &Change,
    note: &str,
) -> Result<String, EditError> {
    let unsafe_edit = |why: String| EditError::Unsafe {
        file: file.display().to_string(),
        why,
    };
    let wanted: BTreeSet<RecordKey> = change
        .removed
        .iter()
        .map(|r| key(&r.owner, r.rtype, &r.rdata))
        .collect();
    // Per line of the main file: records removed and kept there.
    let mut lines: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    let mut found: BTreeSet<RecordKey> = BTreeSet::new();
    let mut elsewhere: Option<String> = None;
    let mut parse_opts = ParseOptions::new(origin.to_vec());
    parse_opts.allow_include_anywhere = opts.include_anywhere;
    parse_str_each(text, file, &parse_opts, &mut |r| {
        let k = key(r.owner, r.rtype, r.rdata);
        let removed = wanted.contains(&k);
        if &*r.pos.file != file {
            if removed && elsewhere.is_none() {
                elsewhere = Some(r.pos.to_string());
            }
            return;
        }
        let entry = lines.entry(r.pos.line).or_default();
        if removed {
            entry.0 += 1;
            found.insert(k);
        } else {
            entry.1 += 1;
        }
    })
    .map_err(|errors| {
        let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
        unsafe_edit(format!("the zone file does not parse: {first}"))
    })?;
    if let Some(at) = elsewhere {
        return Err(unsafe_edit(format!(
            "a record to remove is at {at}, outside the main file"
        )));
    }
    if let Some(missing) = wanted.difference(&found).next() {
        return Err(unsafe_edit(format!(
            "the record {} {} to remove is not in the file (edited since it was loaded?)",
            name::display(&missing.0),
            missing.1
        )));
    }
    let mut removed_lines = BTreeSet::new();
    for (&line, &(removed, kept)) in &lines {
        match (removed, kept) {
            (0, _) => {}
            (_, 0) => {
                removed_lines.insert(line);
            }
            _ => {
                return Err(unsafe_edit(format!(
                    "line {line} holds records to remove and to keep (a $GENERATE?)"
                )))
            }
        }
    }
    let mut out = splice(text, &removed_lines).map_err(|e| unsafe_edit(e.to_string()))?;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !change.added.is_empty() {
        out.push_str(&format!("; {note}\n"));
        for r in &change.added {
            out.push_str(&present(r));
            out.push('\n');
        }
    }
    Ok(out)
}

/// `text` without the 1-based lines `remove`, each of which must be one
/// whole record; an owner a later line inherits from a removed line is
/// written out on that line.
/// Why lines cannot be taken out of a zone file's text safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum SpliceError {
    #[error("line {0} is a record written over several lines")]
    MultiLine(u32),
    #[error(
        "line {0} is a directive right after a removed line whose owner later lines may inherit"
    )]
    DirectiveInherits(u32),
}

fn splice(text: &str, remove: &BTreeSet<u32>) -> Result<String, SpliceError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    // The owner of a removed line that the next record line inherits.
    let mut carried: Option<&str> = None;
    for (i, line) in lines.iter().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let body = strip_comment(line);
        if remove.contains(&number) {
            if body.contains('(') {
                return Err(SpliceError::MultiLine(number));
            }
            if let Some(owner) = explicit_owner(line) {
                carried = Some(owner);
            }
            continue;
        }
        if body.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        if let Some(owner) = carried.take() {
            if line.starts_with('$') {
                return Err(SpliceError::DirectiveInherits(number));
            }
            if line.starts_with([' ', '\t']) {
                out.push_str(owner);
            }
        }
        out.push_str(line);
    }
    Ok(out)
}

/// The owner written at the start of a record line, if it has one.
fn explicit_owner(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t']) || line.starts_with('$') {
        return None;
    }
    line.split([' ', '\t']).next().filter(|o| !o.is_empty())
}

/// The line up to its comment (`;` outside a quoted string).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line.trim_end_matches(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csync::delegation::{self, RrsetData};
    use crate::name::test_wire as wire;
    use std::path::PathBuf;

    const PARENT: &str = "$ORIGIN example.\n$TTL 300\n\
        @ SOA ns hostmaster 1 3600 600 86400 300 ; the apex\n@ NS ns\nns A 192.0.2.1\n\
        ; the child, signed\n\
        child 3600 NS ns1.child\n      3600 NS ns2.child\n      DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000\n\
        ns1.child 3600 A 192.0.2.10\nns2.child 3600 A 192.0.2.11\nwww A 192.0.2.80\n";

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn setup(text: &str) -> (Dir, PathBuf, ZoneVersion) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("zonesync-csync-edit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("example.zone");
        std::fs::write(&file, text).unwrap();
        let v = loader::load_zone_file(&file, &wire("example."), &LoadOptions::default())
            .unwrap()
            .version;
        (Dir(dir), file, v)
    }

    /// ns2 replaced by ns3 (with glue).
    fn ns2_to_ns3(v: &ZoneVersion) -> Change {
        let from = delegation::read(v, &wire("child.example.")).unwrap();
        let mut to = from.clone();
        to.ns.remove(&wire("ns2.child.example."));
        to.ns.insert(wire("ns3.child.example."));
        to.glue.remove(&(wire("ns2.child.example."), rtype::A));
        to.glue.insert(
            (wire("ns3.child.example."), rtype::A),
            RrsetData {
                ttl: 3600,
                rdatas: [vec![192, 0, 2, 12]].into(),
            },
        );
        delegation::change(&from, &to)
    }

    #[test]
    fn edits_lines_keeps_comments_and_carries_the_owner() {
        let (_dir, file, v) = setup(PARENT);
        let change = ns2_to_ns3(&v);
        edit_zone_file(&file, &v, &LoadOptions::default(), &change, "csync test").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("; the child, signed\n"), "{text}");
        assert!(text.contains("; the apex"), "{text}");
        // The NS lines were removed (the whole RRset is replaced); the DS
        // line inherited `child` from them.
        assert!(text.contains("child      DS 1 13 2"), "{text}");
        assert!(!text.contains("ns2.child 3600 A"), "{text}");
        assert!(
            text.ends_with(
                "; csync test\n\
             child.example. 3600 IN NS ns1.child.example.\n\
             child.example. 3600 IN NS ns3.child.example.\n\
             ns3.child.example. 3600 IN A 192.0.2.12\n"
            ),
            "{text}"
        );
        let after = loader::load_zone_file(&file, &wire("example."), &LoadOptions::default())
            .unwrap()
            .version;
        let d = delegation::read(&after, &wire("child.example.")).unwrap();
        assert!(d.ns.contains(&wire("ns3.child.example.")));
        assert_eq!(d.ds.len(), 1, "the DS stays");
    }

    #[test]
    fn refuses_multi_line_records_includes_and_stale_files() {
        let multi = PARENT.replace(
            "child 3600 NS ns1.child\n",
            "child 3600 NS (\n  ns1.child )\n",
        );
        let (_dir, file, v) = setup(&multi);
        let err =
            edit_zone_file(&file, &v, &LoadOptions::default(), &ns2_to_ns3(&v), "n").unwrap_err();
        assert!(err.to_string().contains("several lines"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), multi);

        let (dir, file, v) = setup(PARENT);
        let change = ns2_to_ns3(&v);
        // The operator edits the file after it was loaded.
        let edited = PARENT.replace("www A 192.0.2.80", "www A 192.0.2.81");
        std::fs::write(&file, &edited).unwrap();
        let err = edit_zone_file(&file, &v, &LoadOptions::default(), &change, "n").unwrap_err();
        assert!(err.to_string().contains("not hold exactly"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);

        let included = PARENT.replace("ns2.child 3600 A 192.0.2.11\n", "$INCLUDE glue.zone\n");
        std::fs::write(dir.0.join("glue.zone"), "ns2.child 3600 A 192.0.2.11\n").unwrap();
        std::fs::write(&file, &included).unwrap();
        let v = loader::load_zone_file(&file, &wire("example."), &LoadOptions::default())
            .unwrap()
            .version;
        let err =
            edit_zone_file(&file, &v, &LoadOptions::default(), &ns2_to_ns3(&v), "n").unwrap_err();
        assert!(err.to_string().contains("outside the main file"), "{err}");
    }

    #[test]
    fn comments_and_quotes() {
        assert_eq!(strip_comment("a TXT \"x;y\" ; c\n"), "a TXT \"x;y\" ");
        assert_eq!(strip_comment("a A 1.2.3.4\n"), "a A 1.2.3.4");
        assert_eq!(explicit_owner("child 3600 NS x\n"), Some("child"));
        assert_eq!(explicit_owner("  NS x\n"), None);
    }
}
