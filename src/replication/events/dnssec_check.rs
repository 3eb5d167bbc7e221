//! DnssecCheck: the DNSSEC checks (`dnssec_checks = "warn"`) of the newest
//! version a zone published, after it is served; only RRsets changed since
//! the last version checked are verified (see `replication::dnssec`).

use crate::replication::ZoneCore;

pub fn handle(zone: &ZoneCore) {
    zone.dnssec.check_waiting();
}
