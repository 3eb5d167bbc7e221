//! Update: a primary applies the UPDATE requests queued since the last
//! run (`ManagedZone::apply_updates`: in order, each journaled before it
//! is published, each answered once durable). Requests arriving meanwhile
//! wait for the next run, so a burst becomes one publication.

use crate::replication::ManagedZone;

pub fn handle(zone: &ManagedZone) {
    zone.apply_updates(zone.take_update_asks());
}
