//! Flush: a primary changed by UPDATE writes the version it serves back
//! to its zone file (`ManagedZone::flush`), `flush_delay` after the first
//! change not yet in it. A refused flush (the file was edited meanwhile)
//! is planned again by the next UPDATE, or done by `ctl reload --force`
//! serving the file instead.

use crate::replication::ManagedZone;

pub fn handle(zone: &ManagedZone) {
    let _ = zone.flush();
}
