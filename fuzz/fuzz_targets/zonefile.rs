//! Zone-file parsing (`zonefile::parse_str`) of arbitrary text under the
//! origin example.com.; when the records build a zone (`ZoneBuilder`), the
//! zone written back as a master file (`zonefile::write::zone_text`) must
//! parse and build again to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::journal::snapshot::all_records;
use zonesync::zonefile::write::zone_text;
use zonesync_fuzz::{build, parse_text, version_from_text, wire_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let origin = wire_name("example.com.");
    let Some(parsed) = parse_text(&origin, &text) else {
        return;
    };
    let Some(version) = build(&origin, &parsed) else {
        return;
    };
    let written = zone_text(&version, "; written back by the fuzz target\n");
    let again = version_from_text(&origin, &written)
        .unwrap_or_else(|| panic!("written zone does not load again:\n{written}"));
    let mut before = all_records(&version);
    let mut after = all_records(&again);
    before.sort();
    after.sort();
    assert_eq!(
        before, after,
        "written zone reads back differently:\n{written}"
    );
});
