//! Catalog zones (RFC 9432): zone-file text under the origin
//! catalog.invalid.; when it builds, `catalog::members::read` must not
//! panic, and every member it returns must be a zone named by one PTR.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::catalog::members;
use zonesync_fuzz::{version_from_text, wire_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let origin = wire_name("catalog.invalid.");
    let Some(version) = version_from_text(&origin, &text) else {
        return;
    };
    let _ = members::read(&version, |_| None);
    // Again, keeping whatever ID is asked about first.
    let kept = std::sync::Mutex::new(None::<Vec<u8>>);
    let _ = members::read(&version, |zone| {
        let mut k = kept.lock().unwrap();
        if k.is_none() {
            *k = Some(zone.to_vec());
        }
        None
    });
});
