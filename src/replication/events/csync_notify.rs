//! CsyncNotify: NOTIFY(CSYNC) (RFC 9859) to the zone's `notify_csync`
//! targets, planned when a published version's CSYNC is new or changed.
//! Several changes before it runs make one round.

use crate::replication::ZoneCore;

pub fn handle(zone: &ZoneCore) {
    crate::csync::notify::send_all(zone.name(), zone.zone.origin(), &zone.config.notify_csync);
}
