//! Dynamic UPDATE (RFC 2136): the message read (`update::UpdateMessage::
//! parse`), and when it is for example.com. (the shipped example zone),
//! prescanned (`update::plan::prescan`) and planned over the zone
//! (`update::changeset`, serial policy `increment`). A changeset planned
//! over a version that applies (`ZoneVersion::apply`, the zone rules'
//! last check) gives a version of the new, later serial.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zonesync::config::SerialPolicy;
use zonesync::update::{changeset, plan, UpdateMessage};
use zonesync::zone::ZoneVersion;
use zonesync_fuzz::load_fixture;

fn zone() -> &'static ZoneVersion {
    static Z: OnceLock<ZoneVersion> = OnceLock::new();
    Z.get_or_init(|| load_fixture("examples/zones/example.com.zone", "example.com."))
}

fuzz_target!(|data: &[u8]| {
    let Ok(message) = UpdateMessage::parse(data) else {
        return;
    };
    let version = zone();
    if message.zone != version.origin() {
        return;
    }
    if plan::prescan(&message.zone, &message.updates).is_err() {
        return;
    }
    let Ok(Some(change)) = changeset(version, &message, SerialPolicy::Increment, 1_780_000_000)
    else {
        return;
    };
    // `ZoneVersion::apply` is the last check of the zone's rules (the
    // server answers REFUSED when it refuses: replication::dynamic), so a
    // refusal here is by design; what applies must have the new serial.
    if let Ok(applied) = version.apply(&change) {
        assert_eq!(
            applied.serial(),
            change.to_serial,
            "applied version has another serial"
        );
        assert!(
            applied.serial().is_after(version.serial()),
            "UPDATE did not advance the serial"
        );
    }
});
