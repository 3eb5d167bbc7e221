//! A reload by chunks gives exactly what a whole load of the same file
//! gives: random files, random edits, each reload checked against a
//! whole load.

use super::*;
use crate::loader::{load_zone_file, load_zone_file_from, LoadHow, LoadOptions, Reload};

use crate::testing::Rng;

/// The TTL field of a name's records: the same for all of them, so
/// that a file has no RRset whose TTLs differ (which makes the builder
/// warn, and the file is then always loaded whole).
fn ttl_of(k: usize) -> &'static str {
    if k.is_multiple_of(5) {
        " 300"
    } else {
        ""
    }
}

/// One line of a zone file (records of a few kinds, comments, an owner
/// left out, a multi-line entry, a delegation with glue).
fn random_line(rng: &mut Rng, i: usize) -> String {
    let k = rng.below(4000);
    let (name, ttl) = (format!("h{k}"), ttl_of(k));
    match rng.below(12) {
        0 => format!("{name}{ttl} AAAA 2001:db8::{:x}", rng.below(65536)),
        1 => format!("{name}{ttl} TXT \"t{i} {}\"", rng.below(100)),
        2 => format!("{name}{ttl} MX 10 mail{i}"),
        3 => format!("; comment {i}"),
        4 => format!(
            "{name}{ttl} A 10.1.{}.{}\n {ttl} TXT \"same owner {i}\"",
            rng.below(256),
            rng.below(256)
        ),
        5 => format!("d{i} NS ns.d{i}\nns.d{i} A 192.0.2.{}", rng.below(256)),
        6 => format!("{name}{ttl} IN TXT ( \"multi\"\n  \"line {i}\" )"),
        _ => format!(
            "{name}{ttl} A 10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
    }
}

fn soa(serial: u32) -> String {
    format!(
        "@ 3600 SOA ns1 host (\n  {serial} 7200 1800\n  1209600 300 )\n@ NS ns1\nns1 A 192.0.2.1"
    )
}

fn random_zone(rng: &mut Rng, lines: usize) -> Vec<String> {
    let mut out = vec![
        "$ORIGIN example.".to_string(),
        "$TTL 3600".to_string(),
        soa(1),
    ];
    out.extend((0..lines).map(|i| random_line(rng, i)));
    out
}

/// A random edit; the serial moves with probability 3/4. Now and then a
/// directive that changes how the rest of the file reads.
fn edit(rng: &mut Rng, lines: &mut Vec<String>, round: usize) {
    for _ in 0..1 + rng.below(3) {
        let at = 3 + rng.below(lines.len() - 3);
        match rng.below(24) {
            0..=5 => {
                lines.remove(at);
            }
            6..=13 => lines.insert(at, random_line(rng, 100_000 + round * 10 + at)),
            14..=21 => lines[at] = random_line(rng, 200_000 + round * 10 + at),
            22 => lines.insert(at, format!("$TTL {}", [1200, 3600][rng.below(2)])),
            _ => lines.insert(at, "$ORIGIN sub.example.".to_string()),
        }
    }
    if rng.below(4) != 0 {
        lines[2] = soa(round as u32 + 2);
    }
}

fn text(lines: &[String]) -> String {
    let mut t = lines.join("\n");
    t.push('\n');
    t
}

fn origin() -> Vec<u8> {
    crate::name::test_wire("example.")
}

/// What a whole load of `path` gives (the version, its digest), or
/// its errors.
fn whole(path: &Path) -> Result<(ZoneVersion, u128), Vec<String>> {
    load_zone_file(path, &origin(), &LoadOptions::default())
        .map(|l| (l.version, l.digest))
        .map_err(|e| e.errors)
}

fn same(a: &ZoneVersion, b: &ZoneVersion) -> bool {
    let c = crate::journal::diff(a, b);
    c.removed.is_empty() && c.added.is_empty() && c.old_soa == c.new_soa
}

#[test]
fn reloads_by_chunks_give_what_whole_loads_give() {
    let dir = std::env::temp_dir().join(format!("zonesync-incremental-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, copy) = (dir.join("example.zone"), dir.join("example.text"));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut by_chunks, mut reloads) = (0, 0);
    let mut images = 0;
    for zone in 0..6 {
        let mut lines = random_zone(&mut rng, 3000);
        std::fs::write(&file, text(&lines)).unwrap();
        let reload = Reload {
            copy: Some(&copy),
            ..Reload::default()
        };
        let first = load_zone_file_from(&file, &origin(), &LoadOptions::default(), reload)
            .unwrap_or_else(|e| panic!("zone {zone}: {e}"));
        assert!(std::fs::metadata(&file).unwrap().len() as usize >= MIN_BYTES);
        let warnings = first.warnings.clone();
        let mut image = first.image.map(|p| p.keep().unwrap());
        assert!(image.is_some(), "zone {zone}: no image: {warnings:?}");
        for round in 0..12 {
            edit(&mut rng, &mut lines, round);
            std::fs::write(&file, text(&lines)).unwrap();
            let expect = whole(&file);
            images += usize::from(image.is_some());
            let reload = Reload {
                served: None,
                image: image.as_ref(),
                copy: Some(&copy),
            };
            let got = load_zone_file_from(&file, &origin(), &LoadOptions::default(), reload);
            reloads += 1;
            let at = format!("zone {zone} round {round}");
            match (got, expect) {
                (Ok(got), Ok((version, digest))) => {
                    if matches!(got.how, LoadHow::Chunks { .. }) {
                        by_chunks += 1;
                    }
                    assert!(same(&got.version, &version), "{at}: {:?}", got.how);
                    assert_eq!(got.version.serial(), version.serial(), "{at}");
                    assert_eq!(got.version.record_count(), version.record_count(), "{at}");
                    assert_eq!(got.digest, digest, "{at}: digest");
                    assert_eq!(got.digest, got.version.content_digest(), "{at}");
                    // As the server does: an image of this file, or none.
                    image = got.image.map(|p| p.keep().unwrap());
                }
                (Err(got), Err(expect)) => assert_eq!(got.errors, expect, "{at}"),
                (got, expect) => panic!(
                    "{at}: by chunks {:?}, whole {:?}",
                    got.map(|g| g.how).map_err(|e| e.errors),
                    expect.map(|e| e.1)
                ),
            }
        }
    }
    // Most edits are done by chunks (the rest: TTL mixes, $TTL moved
    // over many records, edits that put data beside a delegation).
    eprintln!("{by_chunks} of {reloads} reloads by chunks ({images} with an image)");
    assert!(
        by_chunks * 2 > reloads,
        "{by_chunks} of {reloads} by chunks ({images} with an image)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
