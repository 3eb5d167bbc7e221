//! Dynamic updates (RFC 2136): an UPDATE read (`message`), judged against
//! the zone's `allow_update` rules (`policy`), its prerequisites checked
//! and its updates turned into one changeset over the served version
//! (`plan`), and the answer written (`response`). The change itself goes
//! through the zone's Update event (`replication::events::update`): the
//! same journal append, publish and NOTIFY as every other change.

pub mod intake;
pub mod message;
pub mod plan;
pub mod policy;
pub mod response;
pub mod txn;

#[cfg(test)]
pub(crate) mod testing;

pub use message::{MessageError, UpdateMessage, UpdateRr};
pub use plan::{changeset, Failure};
pub use policy::UpdatePolicy;
