//! Snapshot: a secondary writes the version it serves to disk (checksummed,
//! atomic), every `SNAPSHOT_EVERY` changesets applied by IXFR, so that a
//! restart need not replay a long journal and the journal can be trimmed
//! without losing the way back.

use crate::replication::secondary::SecondaryZone;

pub fn handle(zone: &SecondaryZone) {
    zone.write_snapshot();
}
