//! Journal decoding (`journal::Journal::open` of a file). The input is a
//! flags octet then changeset payloads, each as length u16 ‖ payload; the
//! target writes the journal header and frames each payload with its
//! length and CRC-32, so the fuzzer reaches the changeset decoder and the
//! chain checks. Flags: bit 0 spoils the last frame's checksum, bit 1 cuts
//! the last frame short (a torn tail). Checks: open never panics; what it
//! keeps forms a chain (each changeset starts where the one before ended);
//! opening the file again (now truncated to the good frames) keeps the same
//! changesets and warns of nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::journal::{Journal, JournalLimits};
use zonesync_fuzz::scratch_path;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut file = Vec::with_capacity(data.len() + 64);
    file.extend_from_slice(b"ZSJOURNL");
    file.extend_from_slice(&1u32.to_be_bytes());
    let mut last_frame = file.len();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let payload = &rest[2..2 + len];
        rest = &rest[2 + len..];
        last_frame = file.len();
        file.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        file.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
        file.extend_from_slice(payload);
    }
    if flags & 1 != 0 && file.len() > last_frame + 8 {
        file[last_frame + 4] ^= 0x55;
    }
    if flags & 2 != 0 && file.len() > last_frame + 1 {
        file.truncate(file.len() - 1);
    }
    let path = scratch_path("journal");
    std::fs::write(&path, &file).expect("scratch file");
    let limits = JournalLimits::default();
    let Ok((journal, _warnings)) = Journal::open(&path, limits) else {
        return;
    };
    let kept = journal
        .first_serial()
        .and_then(|s| journal.changes_since(s));
    if let Some(changes) = &kept {
        for pair in changes.windows(2) {
            assert_eq!(
                pair[0].to_serial, pair[1].from_serial,
                "journal kept a broken chain"
            );
        }
        assert!(changes.len() <= journal.len());
        // Empty when the first serial comes back later in the chain (the
        // later occurrence is used): the journal then ends where it starts.
        let end = changes
            .last()
            .map(|c| c.to_serial)
            .or(journal.first_serial());
        assert_eq!(journal.last_serial(), end);
    }
    drop(journal);
    let (again, warnings) =
        Journal::open(&path, limits).expect("a journal that opened must open again");
    assert!(warnings.is_empty(), "second open warns: {warnings:?}");
    let kept_again = again.first_serial().and_then(|s| again.changes_since(s));
    assert_eq!(kept, kept_again, "second open keeps other changesets");
});
