//! Expire (RFC 1035 §3.3.13): a secondary whose primaries stayed out of
//! reach for EXPIRE stops answering for the zone (SERVFAIL) until a
//! refresh succeeds. It has its own lane, so it fires even while a
//! transfer that stalls holds the data lane.

use super::Event;
use crate::replication::secondary::SecondaryZone;
use crate::replication::timing;

pub fn handle(zone: &SecondaryZone) {
    if zone.zone().snapshot().is_none() {
        return; // nothing served: nothing to withdraw
    }
    let expires_at = zone.timers().expires_at;
    let now = zone.clock().now_unix();
    if timing::is_expired(expires_at, now) {
        zone.expire();
    } else if expires_at != 0 {
        // A refresh moved the deadline later meanwhile.
        zone.events()
            .schedule(Event::Expire, expires_at.saturating_mul(1000));
    }
}
