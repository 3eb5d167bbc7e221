//! Snapshot decoding (`journal::snapshot::read`). The input is a snapshot
//! of example.com. after its origin: serial u32 ‖ record count u64 ‖
//! records; the target puts the magic, format version and origin before it
//! and the CRC-32 after it, so the fuzzer reaches the decoder instead of
//! the checksum. A snapshot that reads must write (`snapshot::write`) and
//! read back to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::journal::snapshot;
use zonesync_fuzz::{scratch_path, wire_name};

fuzz_target!(|data: &[u8]| {
    let origin = wire_name("example.com.");
    let mut file = Vec::with_capacity(data.len() + 32);
    file.extend_from_slice(b"ZSSNAPSH");
    file.extend_from_slice(&1u32.to_be_bytes());
    file.extend_from_slice(&(origin.len() as u16).to_be_bytes());
    file.extend_from_slice(&origin);
    file.extend_from_slice(data);
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_be_bytes());
    let path = scratch_path("snapshot");
    std::fs::write(&path, &file).expect("scratch file");
    let read = snapshot::read(&path, &origin);
    let Ok(Some(version)) = read else {
        return;
    };
    let again_path = scratch_path("snapshot-again");
    snapshot::write(&again_path, &version).expect("a snapshot that read must write");
    let again = snapshot::read(&again_path, &origin)
        .expect("a written snapshot must read")
        .expect("and be there");
    let mut a = snapshot::all_records(&version);
    let mut b = snapshot::all_records(&again);
    a.sort();
    b.sort();
    assert_eq!(a, b, "snapshot written and read back differs");
    assert_eq!(version.serial(), again.serial());
});
