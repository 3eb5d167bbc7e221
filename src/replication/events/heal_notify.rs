//! HealNotify: the replication doctor's NOTIFYs (`replication::heal`):
//! one round to every peer whose heal try is due, then the event planned
//! at the next try of any plan.

use crate::replication::ZoneCore;

pub async fn handle(zone: &ZoneCore) {
    zone.heal_round().await;
}
